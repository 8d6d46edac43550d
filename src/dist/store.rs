//! A stand-alone TCPStore server (c10d's, through `csrc/dist.cpp`): what torchrun's agent hosts
//! for its workers, who then join with `GroupOptions::client_only_store`.

use anyhow::{anyhow, bail, Result};
use std::ffi::{c_char, c_int, c_longlong, c_void, CString};
use std::time::Duration;

use super::c10d::{message, millis};

extern "C" {
    fn clr_dist_store_server(
        addr: *const c_char,
        port: c_int,
        timeout_ms: c_longlong,
        out: *mut *mut c_void,
        port_out: *mut c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn clr_dist_store_server_free(server: *mut c_void);
}

/// A TCPStore server on its own, for ranks that join with `client_only_store` (as torchrun's
/// agent does for its workers). Stops when dropped.
pub struct StoreServer {
    ptr: *mut c_void,
    port: u16,
}

// SAFETY: the server runs on its own threads; the handle only frees it.
unsafe impl Send for StoreServer {}

impl StoreServer {
    /// Listen on `addr:port`; port 0 picks a free port (see `port`).
    pub fn bind(addr: &str, port: u16, timeout: Duration) -> Result<StoreServer> {
        let c_addr = CString::new(addr).map_err(|_| anyhow!("TCPStore: address contains a NUL byte"))?;
        let (mut ptr, mut bound) = (std::ptr::null_mut(), 0 as c_int);
        // SAFETY: as in ProcessGroup::new.
        let bound_or_err = crate::ffi::call(|err, len| unsafe {
            clr_dist_store_server(c_addr.as_ptr(), c_int::from(port), millis(timeout), &mut ptr, &mut bound, err, len)
        });
        if let Err((_, text)) = bound_or_err {
            bail!("TCPStore server on {addr}:{port}: {}", message(&text));
        }
        Ok(StoreServer { ptr, port: bound as u16 })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for StoreServer {
    fn drop(&mut self) {
        // SAFETY: ptr came from clr_dist_store_server and is freed once.
        unsafe { clr_dist_store_server_free(self.ptr) }
    }
}
