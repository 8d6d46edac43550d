//! bf16 autocast on CUDA, through the C++ shim in `csrc/autocast.cpp` (tch's `autocast` leaves
//! CUDA's autocast dtype at float16 and warns at every call).

use std::os::raw::c_int;

extern "C" {
    fn clr_autocast_bf16_enter() -> c_int;
    fn clr_autocast_exit(previous: c_int);
    fn clr_autocast_is_bf16() -> c_int;
}

/// Run `f` with CUDA autocast on in bfloat16: matrix products and convolutions in bf16, batch
/// norm, reductions and the loss in fp32 (PyTorch's autocast policy). No effect on CPU tensors.
pub fn bf16<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: the shim only reads and sets libtorch's thread-local autocast state.
    let previous = unsafe { clr_autocast_bf16_enter() };
    let out = f();
    unsafe { clr_autocast_exit(previous) };
    out
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
    fn bf16_region_sets_and_restores_the_state() {
        assert!(!is_bf16());
        assert!(bf16(is_bf16));
        assert!(bf16(|| bf16(is_bf16) && is_bf16()), "nested regions");
        assert!(!is_bf16());
    }
}
