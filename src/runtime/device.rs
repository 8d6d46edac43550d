//! `--device auto|cpu|cuda|cuda:N`, `--precision`, `--threads`, and libtorch set up for a run.

use crate::config::{DeviceSpec, Precision, RunSettings};
use crate::error::UsageError;
use anyhow::Result;
use tch::Device;

/// The libtorch device for a spec: `auto` picks CUDA when present. Asking for a GPU that is
/// not there is a usage error rather than a crash deep inside libtorch.
pub fn resolve(spec: DeviceSpec) -> Result<Device, UsageError> {
    match spec {
        DeviceSpec::Auto => Ok(Device::cuda_if_available()),
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

/// The device of a run, with libtorch set up for it: `--threads`, cuDNN's benchmark mode
/// (fixed input shapes: it picks the fastest convolution algorithms once), and the check that
/// bf16 has a GPU to run on.
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
        crate::usage!("--precision bf16 (precision) needs a CUDA device; this run is on the CPU");
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

/// A short name for logs and JSON: `cpu`, `cuda:0`.
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
