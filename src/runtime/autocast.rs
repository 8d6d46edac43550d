//! bf16 autocast on CUDA, through the C++ shim in `csrc/autocast.cpp` (tch's `autocast` leaves
//! CUDA's autocast dtype at float16 and warns at every call).

use std::os::raw::c_int;

extern "C" {
    fn clr_autocast_bf16_enter() -> c_int;
    fn clr_autocast_exit(previous: c_int);
    fn clr_autocast_is_bf16() -> c_int;
}

/// While it lives, CUDA autocast is on in bfloat16 on this thread: matrix products and
/// convolutions in bf16; batch norm's parameters and statistics, reductions and the loss in fp32
/// (PyTorch's autocast policy). Dropping it (also while unwinding from a panic) restores the
/// state it found. No effect on CPU tensors.
pub struct Bf16Autocast {
    previous: c_int,
}

impl Bf16Autocast {
    pub fn enter() -> Bf16Autocast {
        // SAFETY: the shim only reads and sets libtorch's thread-local autocast state.
        Bf16Autocast { previous: unsafe { clr_autocast_bf16_enter() } }
    }
}

impl Drop for Bf16Autocast {
    fn drop(&mut self) {
        // SAFETY: as in `enter`; restores what `enter` found.
        unsafe { clr_autocast_exit(self.previous) };
    }
}

/// Whether CUDA autocast is on in bfloat16 on this thread.
pub fn is_bf16() -> bool {
    // SAFETY: reads libtorch's thread-local autocast state.
    unsafe { clr_autocast_is_bf16() != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_sets_and_restores_the_state() {
        assert!(!is_bf16());
        {
            let _outer = Bf16Autocast::enter();
            assert!(is_bf16());
            {
                let _inner = Bf16Autocast::enter();
                assert!(is_bf16(), "nested regions");
            }
            assert!(is_bf16(), "leaving the inner region keeps the outer one");
        }
        assert!(!is_bf16());
    }

    #[test]
    fn a_panic_inside_the_region_restores_the_state() {
        let result = std::panic::catch_unwind(|| {
            let _guard = Bf16Autocast::enter();
            panic!("inside the region");
        });
        assert!(result.is_err());
        assert!(!is_bf16());
    }
}
