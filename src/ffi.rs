//! The calling convention of clr's C++ shims (`csrc/guarded.h`): an export that can fail runs its
//! body inside a catch-all, returns [`OK`] or an error code, and writes its reason, one line, into
//! a buffer the caller passes; no C++ exception ever reaches Rust.

use std::ffi::{c_char, c_int, CStr};

/// What a shim returns when it succeeded.
pub const OK: c_int = 0;
/// Room for a message (c10d's can name long host lists; longer ones are cut).
pub const ERR_LEN: usize = 2048;

/// Call a shim export `f(err, err_len)`: Ok when it returned [`OK`], else its code and message.
pub fn call(f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<(), (c_int, String)> {
    let mut err = [0 as c_char; ERR_LEN];
    match f(err.as_mut_ptr(), ERR_LEN) {
        OK => Ok(()),
        code => {
            // SAFETY: the shim NUL-terminates within the buffer, which starts zeroed (so a shim
            // that wrote nothing leaves an empty string).
            let text = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
            Err((code, text))
        }
    }
}
