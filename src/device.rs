//! `--device auto|cpu|cuda|cuda:N` and `--threads`.

use crate::error::UsageError;
use anyhow::Result;
use tch::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Auto,
    Cpu,
    Cuda(usize),
}

pub fn parse_device(s: &str) -> Result<DeviceSpec> {
    let spec = match s {
        "auto" => DeviceSpec::Auto,
        "cpu" => DeviceSpec::Cpu,
        "cuda" => DeviceSpec::Cuda(0),
        _ => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => DeviceSpec::Cuda(n),
            None => {
                return Err(
                    UsageError::new(format!("--device (device) must be auto, cpu, cuda or cuda:N, got {s:?}")).into()
                )
            }
        },
    };
    Ok(spec)
}

/// The libtorch device for a spec: `auto` picks CUDA when present. Asking for a GPU that is
/// not there is a usage error rather than a crash deep inside libtorch.
pub fn resolve(s: &str) -> Result<Device> {
    match parse_device(s)? {
        DeviceSpec::Auto => Ok(Device::cuda_if_available()),
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(n) => {
            let count = tch::Cuda::device_count() as usize;
            if n >= count {
                return Err(UsageError::new(format!(
                    "--device {s}: {count} CUDA device(s) available (libtorch: {})",
                    if tch::Cuda::is_available() { "CUDA" } else { "CPU only" }
                ))
                .into());
            }
            Ok(Device::Cuda(n))
        }
    }
}

/// The device of a run, with libtorch set up for it: `--threads`, cuDNN's benchmark mode
/// (fixed input shapes: it picks the fastest convolution algorithms once), and for bf16 on a
/// CPU without bf16 instructions a warning that it will be slow (see `cpu_bf16`).
pub fn prepare(config: &crate::config::Config) -> Result<Device> {
    let device = resolve(&config.device)?;
    set_threads(config.threads);
    if config.precision == crate::config::Precision::Bf16 && device == Device::Cpu {
        crate::cpu_bf16::warn_if_emulated();
    }
    tch::Cuda::cudnn_set_benchmark(true);
    Ok(device)
}

/// A short name for logs and JSON: `cpu`, `cuda:0`.
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Apply `--threads` (intra-op threads for CPU work); libtorch's default otherwise.
pub fn set_threads(threads: Option<usize>) {
    if let Some(n) = threads {
        tch::set_num_threads(n as i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(parse_device("auto").unwrap(), DeviceSpec::Auto);
        assert_eq!(parse_device("cpu").unwrap(), DeviceSpec::Cpu);
        assert_eq!(parse_device("cuda").unwrap(), DeviceSpec::Cuda(0));
        assert_eq!(parse_device("cuda:3").unwrap(), DeviceSpec::Cuda(3));
        let err = parse_device("gpu").unwrap_err().to_string();
        assert_eq!(err, "--device (device) must be auto, cpu, cuda or cuda:N, got \"gpu\"");
    }
}
