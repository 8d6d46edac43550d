//! bf16 autocast on the run's device (CPU or CUDA), through the C++ shim in `csrc/autocast.cpp`
//! (tch's `autocast` is CUDA only, leaves the dtype at float16 and warns at every call).
//!
//! The region is a guard: autocast is on from [`bf16`] until the guard is dropped, and the
//! previous state (on or off, and its dtype) comes back on drop, also when a panic unwinds
//! through the region. Autocast state is per thread in libtorch, so the guard is not `Send`.

use anyhow::{anyhow, Result};
use std::ffi::c_char;
use std::marker::PhantomData;
use std::os::raw::c_int;
use tch::Device;

extern "C" {
    fn clr_autocast_bf16_enter(device_type: c_int, previous: *mut c_int, err: *mut c_char, err_len: usize) -> c_int;
    fn clr_autocast_exit(device_type: c_int, previous: c_int, err: *mut c_char, err_len: usize) -> c_int;
    fn clr_autocast_is_bf16(device_type: c_int) -> c_int;
}

/// c10::DeviceType of a device, for the devices that have an autocast mode.
fn device_type(device: Device) -> Option<c_int> {
    match device {
        Device::Cpu => Some(0),
        Device::Cuda(_) => Some(1),
        Device::Mps => Some(13),
        Device::Vulkan => None,
    }
}

/// An autocast region in bfloat16; leaving it (dropping the guard) restores the state before.
#[must_use = "autocast is on only while the guard lives"]
pub struct Bf16Guard {
    /// None on a device without autocast: the guard then does nothing.
    device_type: Option<c_int>,
    previous: c_int,
    /// libtorch's autocast state is thread-local: the guard must end on the thread it began on.
    _thread_bound: PhantomData<*const ()>,
}

/// Turn autocast on for `device` in bfloat16 until the guard is dropped: convolutions and
/// matrix products run in bf16, batch-norm statistics, reductions and the loss stay in fp32
/// (PyTorch's autocast policy for that device). Regions nest.
pub fn bf16(device: Device) -> Result<Bf16Guard> {
    let device_type = device_type(device);
    let previous = match device_type {
        Some(d) => enter(d)?,
        None => 0,
    };
    Ok(Bf16Guard { device_type, previous, _thread_bound: PhantomData })
}

/// Enter a bf16 region for c10::DeviceType `device_type`: the state to restore, or libtorch's
/// refusal (a device type without autocast).
fn enter(device_type: c_int) -> Result<c_int> {
    let mut previous = 0;
    // SAFETY: the shim only reads and sets libtorch's thread-local autocast state, and catches
    // every exception (csrc/guarded.h).
    crate::ffi::call(|err, len| unsafe { clr_autocast_bf16_enter(device_type, &mut previous, err, len) })
        .map_err(|(_, message)| anyhow!("bf16 autocast: {message}"))?;
    Ok(previous)
}

impl Drop for Bf16Guard {
    fn drop(&mut self) {
        if let Some(d) = self.device_type {
            // SAFETY: restores the state that `bf16` read on this same thread.
            let left = crate::ffi::call(|err, len| unsafe { clr_autocast_exit(d, self.previous, err, len) });
            // Setting flags that `enter` set a moment ago does not fail; if it ever did, a panic
            // here could abort an unwinding thread: say it instead.
            if let Err((_, message)) = left {
                eprintln!("warning: leaving bf16 autocast: {message}");
            }
        }
    }
}

/// Whether autocast for `device` is on in bfloat16 on this thread.
pub fn is_bf16(device: Device) -> bool {
    // SAFETY: reads libtorch's thread-local autocast state.
    device_type(device).is_some_and(|d| unsafe { clr_autocast_is_bf16(d) != 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn the_guard_sets_the_state_and_restores_it_on_drop() {
        // Each test runs on its own thread, and the state is per thread: no lock needed.
        assert!(!is_bf16(Device::Cpu));
        {
            let _outer = bf16(Device::Cpu).unwrap();
            assert!(is_bf16(Device::Cpu));
            assert!(!is_bf16(Device::Cuda(0)), "only the device asked for");
            {
                let _inner = bf16(Device::Cpu).unwrap();
                assert!(is_bf16(Device::Cpu));
            }
            assert!(is_bf16(Device::Cpu), "leaving a nested region keeps the outer one on");
        }
        assert!(!is_bf16(Device::Cpu));
    }

    /// A device type libtorch has no autocast for (c10::DeviceType 3, OpenGL) makes it throw:
    /// the exception comes back as an error, not through `extern "C"` (undefined behaviour).
    #[test]
    fn libtorchs_refusal_is_an_error_not_a_crash() {
        let err = enter(3).unwrap_err().to_string();
        assert!(err.starts_with("bf16 autocast: ") && !err.contains("frame #"), "{err}");
        // SAFETY: the query catches every exception.
        assert_eq!(unsafe { clr_autocast_is_bf16(3) }, 0);
        assert!(!is_bf16(Device::Cpu), "the refusal changed nothing");
    }

    #[test]
    fn a_panic_inside_the_region_leaves_autocast_off() {
        let result = std::panic::catch_unwind(|| {
            let _guard = bf16(Device::Cpu).unwrap();
            assert!(is_bf16(Device::Cpu));
            panic!("inside the region");
        });
        assert!(result.is_err());
        assert!(!is_bf16(Device::Cpu), "the unwinding dropped the guard");
        // And the next region still works from a clean state.
        let _guard = bf16(Device::Cpu).unwrap();
        assert!(is_bf16(Device::Cpu));
    }

    #[test]
    fn cpu_convolutions_run_in_bf16_and_batch_norm_statistics_stay_fp32() {
        let _rng = crate::rng_lock();
        let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([4, 3, 3, 3], (Kind::Float, Device::Cpu));
        let plain = x.conv2d(&w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
        assert_eq!(plain.kind(), Kind::Float);
        let _guard = bf16(Device::Cpu).unwrap();
        let y = x.conv2d(&w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
        assert_eq!(y.kind(), Kind::BFloat16);
        let diff = (y.to_kind(Kind::Float) - &plain).abs().max().double_value(&[]);
        assert!(diff < 0.1 * plain.abs().max().double_value(&[]), "bf16 rounding only: {diff}");
        let running_mean = Tensor::zeros([4], (Kind::Float, Device::Cpu));
        let running_var = Tensor::ones([4], (Kind::Float, Device::Cpu));
        let _ = y.batch_norm(
            None::<Tensor>,
            None::<Tensor>,
            Some(running_mean.shallow_clone()),
            Some(running_var.shallow_clone()),
            true,
            0.1,
            1e-5,
            false,
        );
        assert_eq!(running_mean.kind(), Kind::Float);
        assert!(running_mean.abs().sum(Kind::Double).double_value(&[]) > 0.0, "statistics updated in fp32");
    }
}
