//! `--device auto|cpu|cuda|cuda:N`, `--precision`, `--threads`, and libtorch set up for a run.

use crate::config::{DeviceSpec, Precision, RunSettings};
use crate::error::UsageError;
use anyhow::Result;
use tch::Device;

/// The libtorch device for a spec: `auto` picks CUDA when present. Asking for a GPU that is
/// not there is a usage error rather than a crash deep inside libtorch.
pub fn resolve(spec: DeviceSpec) -> Result<Device, UsageError> {
    match spec {
        DeviceSpec::Auto => {
            let cuda = tch::Cuda::is_available();
            if let Some(warning) = auto_fallback_warning(cuda, &gpu_traces()) {
                eprintln!("{warning}");
            }
            Ok(if cuda { Device::Cuda(0) } else { Device::Cpu })
        }
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(n) => {
            let count = tch::Cuda::device_count() as usize;
            if n >= count {
                return Err(UsageError::new(format!(
                    "--device {spec}: {count} CUDA device(s) available (libtorch: {})",
                    if tch::Cuda::is_available() { "CUDA" } else { "CPU only" }
                )));
            }
            Ok(Device::Cuda(n))
        }
    }
}

/// Files an NVIDIA driver leaves when a GPU is there.
fn gpu_traces() -> Vec<std::path::PathBuf> {
    ["/dev/nvidia0", "/proc/driver/nvidia/version"]
        .iter()
        .map(std::path::PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

/// `--device auto` on the CPU although a GPU seems to be there: CUDA failed to start (an old
/// driver, say), and a run 100× slower than expected deserves a loud word.
pub fn auto_fallback_warning(cuda_available: bool, traces: &[std::path::PathBuf]) -> Option<String> {
    let trace = traces.first().filter(|_| !cuda_available)?;
    Some(format!(
        "warning: --device auto: a GPU seems present ({}) but libtorch cannot use CUDA (is the driver older than \
         CUDA 13 needs?); running on the CPU, much slower. Pass --device cpu to silence this, or fix the driver.",
        trace.display()
    ))
}

/// The device of a run, with libtorch set up for it: `--threads`, cuDNN's benchmark mode
/// (fixed input shapes: it picks the fastest convolution algorithms once), and for bf16 on a
/// CPU without bf16 instructions a warning that it will be slow (see `cpu_bf16`).
pub fn prepare(run: &RunSettings) -> Result<Device> {
    let device = resolve(run.device)?;
    if let Some(n) = run.threads {
        let cpus = std::thread::available_parallelism().map_or(n, |c| c.get());
        if n > cpus {
            eprintln!("warning: --threads {n} is more than the {cpus} CPUs here: libtorch's threads will wait on one another (much slower)");
        }
        tch::set_num_threads(n as i32);
    }
    if run.precision == Precision::Bf16 && device == Device::Cpu {
        crate::runtime::cpu_bf16::warn_if_emulated();
    }
    tch::Cuda::cudnn_set_benchmark(true);
    Ok(device)
}

/// Whether convolutions run channels-last on `device` (`channels_last`, or auto: on the CPU,
/// where oneDNN's NHWC kernels measured faster, and with bf16 on CUDA, as the PyTorch peer's
/// fast mode; fp32 on CUDA stays NCHW until measured).
pub fn channels_last_on(run: &RunSettings, device: Device) -> bool {
    run.channels_last.unwrap_or(match device {
        Device::Cpu => true,
        _ => run.precision == Precision::Bf16,
    })
}

extern "C" {
    fn clr_cuda_peak_allocated(device: std::os::raw::c_int) -> i64;
}

/// The CUDA caching allocator's peak allocation on device `index`, when CUDA is there.
pub fn cuda_peak_allocated(index: usize) -> Option<u64> {
    // SAFETY: the shim reads the allocator's statistics and catches every exception.
    let bytes = unsafe { clr_cuda_peak_allocated(index as std::os::raw::c_int) };
    u64::try_from(bytes).ok()
}

/// A short name for logs and JSON: `cpu`, `cuda:0`.
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_warns_only_when_a_gpu_is_there_but_cuda_is_not() {
        let traces = [std::path::PathBuf::from("/dev/nvidia0")];
        let warning = auto_fallback_warning(false, &traces).unwrap();
        assert!(warning.contains("/dev/nvidia0") && warning.contains("running on the CPU"), "{warning}");
        assert_eq!(auto_fallback_warning(true, &traces), None);
        assert_eq!(auto_fallback_warning(false, &[]), None);
    }

    #[test]
    fn no_cuda_peak_without_a_gpu() {
        if !tch::Cuda::is_available() {
            assert_eq!(cuda_peak_allocated(0), None);
        }
    }
}
