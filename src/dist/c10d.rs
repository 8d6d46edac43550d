//! Safe wrappers over PyTorch's c10d through the C++ shim in `csrc/dist.cpp`: a process group
//! (TCPStore rendezvous, then Gloo on the CPU or NCCL on CUDA) and its collectives.
//!
//! Every collective waits for its result, and every failure is an error that names the
//! operation and the rank; a peer that is gone or stalled fails the collective within the
//! group's timeout instead of hanging.

use anyhow::{anyhow, bail, Result};
use std::ffi::{c_char, c_int, c_longlong, c_void, CString};
use std::fmt;
use std::time::Duration;
use tch::Tensor;

use crate::error::UsageError;

extern "C" {
    fn clr_dist_backends() -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn clr_dist_init(
        backend: c_int,
        master_addr: *const c_char,
        master_port: c_int,
        rank: c_int,
        world_size: c_int,
        client_only: c_int,
        timeout_ms: c_longlong,
        cuda_device: c_int,
        out: *mut *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn clr_dist_all_reduce_sum(
        group: *mut c_void,
        tensor: *mut torch_sys::C_tensor,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn clr_dist_broadcast(
        group: *mut c_void,
        tensor: *mut torch_sys::C_tensor,
        root: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn clr_dist_barrier(group: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
    fn clr_dist_free(group: *mut c_void);
}

/// The variable PyTorch's NCCL group reads in its constructor: without blocking wait a timed-out
/// collective is handled by NCCL's watchdog thread, which tears the whole process down; with it,
/// the wait throws and clr reports the error like any other.
const NCCL_BLOCKING_WAIT: &str = "TORCH_NCCL_BLOCKING_WAIT";

/// Set what c10d reads from the environment, unless the user set it: `main` calls this first,
/// before any thread starts, since changing the environment while another thread reads it is
/// undefined behaviour in C (the signal thread, libtorch's threads).
pub fn set_process_environment() {
    if std::env::var_os(NCCL_BLOCKING_WAIT).is_none() {
        std::env::set_var(NCCL_BLOCKING_WAIT, "1");
    }
}

/// The shim's code for a backend this build left out (csrc/dist.cpp).
const NOT_BUILT: c_int = 2;

/// The c10d backend: Gloo for CPU tensors, NCCL for CUDA tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Gloo,
    Nccl,
}

impl Backend {
    fn code(self) -> c_int {
        match self {
            Backend::Gloo => 0,
            Backend::Nccl => 1,
        }
    }

    /// Whether this build of clr has the backend (build.rs leaves out one whose headers are
    /// missing).
    pub fn is_built(self) -> bool {
        // SAFETY: reads a constant.
        unsafe { clr_dist_backends() & (1 << self.code()) != 0 }
    }

    /// What to install for a backend that this build left out.
    fn not_built(self) -> anyhow::Error {
        let rebuild = "then rebuild clr (touch build.rs && cargo build --release)";
        match self {
            Backend::Gloo => anyhow!(
                "this clr was built without the Gloo backend: install gloo's headers \
                 (apt-get install libgloo-dev; scripts/setup.sh does it), {rebuild}"
            ),
            Backend::Nccl => anyhow!(
                "this clr was built without the NCCL backend: it needs a CUDA build of torch 2.11 and \
                 nvidia-cuda-crt==13.0.* and nvidia-cuda-cccl==13.0.* in the same venv \
                 (scripts/setup.sh installs them), {rebuild}"
            ),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Gloo => "gloo",
            Backend::Nccl => "nccl",
        })
    }
}

/// How to join a process group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOptions {
    pub backend: Backend,
    /// Host of the TCPStore: rank 0's, or torchrun's agent's.
    pub master_addr: String,
    pub master_port: u16,
    pub rank: usize,
    pub world_size: usize,
    /// Someone else (torchrun's agent, `TORCHELASTIC_USE_AGENT_STORE=True`) hosts the store:
    /// rank 0 connects to it like the others instead of hosting it.
    pub client_only_store: bool,
    /// How long to wait for the store, for the other ranks to join, and for each collective.
    pub timeout: Duration,
    /// The CUDA device of this rank (NCCL only): usually the local rank.
    pub cuda_device: Option<usize>,
}

impl GroupOptions {
    /// Rank `rank` of `world_size` in a Gloo group whose store rank 0 hosts on 127.0.0.1:`port`,
    /// waiting at most a minute: one machine's group, as the tests use.
    pub fn gloo_loopback(rank: usize, world_size: usize, port: u16) -> GroupOptions {
        GroupOptions {
            backend: Backend::Gloo,
            master_addr: "127.0.0.1".into(),
            master_port: port,
            rank,
            world_size,
            client_only_store: false,
            timeout: Duration::from_secs(60),
            cuda_device: None,
        }
    }
}

/// One rank's membership of a c10d process group. Collectives must be called in the same order
/// on every rank.
pub struct ProcessGroup {
    ptr: *mut c_void,
    backend: Backend,
    rank: usize,
    world_size: usize,
}

// SAFETY: the group may move to another thread; it is not Sync, so collectives on it are never
// issued from two threads at once.
unsafe impl Send for ProcessGroup {}

impl ProcessGroup {
    /// Join the group: rendezvous through the TCPStore, then connect to every other rank. Fails
    /// within `timeout` when the store or a rank does not answer.
    pub fn new(opts: &GroupOptions) -> Result<ProcessGroup> {
        let GroupOptions { backend, ref master_addr, master_port, rank, world_size, .. } = *opts;
        if world_size == 0 || rank >= world_size {
            bail!("c10d: rank {rank} is out of range for a group of {world_size}");
        }
        if world_size > c_int::MAX as usize || opts.timeout.is_zero() {
            bail!("c10d: a group of {world_size} ranks with a timeout of {:?} is not possible", opts.timeout);
        }
        if !backend.is_built() {
            return Err(backend.not_built());
        }
        let cuda_device = match (backend, opts.cuda_device) {
            (Backend::Nccl, device) => nccl_device(device)? as c_int,
            (Backend::Gloo, _) => -1,
        };
        let addr = CString::new(master_addr.as_str()).map_err(|_| anyhow!("c10d: MASTER_ADDR contains a NUL byte"))?;
        let joining = || {
            format!("c10d: rank {rank} of {world_size} could not join the {backend} group through the store at {master_addr}:{master_port}")
        };
        if opts.client_only_store || rank > 0 {
            // Bounded by the timeout, unlike TCPStore's own connection (see reach.rs).
            super::reach::wait_until_listening(master_addr, master_port, opts.timeout)
                .map_err(|e| anyhow!("{}: {e}", joining()))?;
        }
        let mut ptr = std::ptr::null_mut();
        // SAFETY: the strings and buffers outlive the call; the shim catches every exception.
        let joined = crate::ffi::call(|err, len| unsafe {
            clr_dist_init(
                backend.code(),
                addr.as_ptr(),
                c_int::from(master_port),
                rank as c_int,
                world_size as c_int,
                c_int::from(opts.client_only_store),
                millis(opts.timeout),
                cuda_device,
                &mut ptr,
                err,
                len,
            )
        });
        match joined {
            Ok(()) => Ok(ProcessGroup { ptr, backend, rank, world_size }),
            Err((NOT_BUILT, _)) => Err(backend.not_built()),
            Err((_, text)) => Err(anyhow!("{}: {}", joining(), message(&text))),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Sum `tensor` over all ranks, in place; every rank ends with the same sum.
    pub fn all_reduce_sum(&self, tensor: &mut Tensor) -> Result<()> {
        let ptr = tensor.as_mut_ptr();
        // SAFETY: the group is live and the tensor pointer valid for the call.
        self.check("all-reduce", |err, len| unsafe { clr_dist_all_reduce_sum(self.ptr, ptr, err, len) })
    }

    /// Overwrite `tensor` on every rank with its value on rank `root`.
    pub fn broadcast(&self, tensor: &mut Tensor, root: usize) -> Result<()> {
        if root >= self.world_size {
            bail!("broadcast on rank {} of {}: root {root} is out of range", self.rank, self.world_size);
        }
        let ptr = tensor.as_mut_ptr();
        // SAFETY: as in all_reduce_sum.
        self.check("broadcast", |err, len| unsafe { clr_dist_broadcast(self.ptr, ptr, root as c_int, err, len) })
    }

    /// Wait until every rank has reached this point.
    pub fn barrier(&self) -> Result<()> {
        // SAFETY: the group is live.
        self.check("barrier", |err, len| unsafe { clr_dist_barrier(self.ptr, err, len) })
    }

    fn check(&self, op: &str, call: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
        crate::ffi::call(call).map_err(|(_, text)| {
            anyhow!("{op} failed on rank {} of {} ({}): {}", self.rank, self.world_size, self.backend, message(&text))
        })
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: ptr came from clr_dist_init and is freed once.
        unsafe { clr_dist_free(self.ptr) }
    }
}

/// NCCL's device: it must be given and exist. No CUDA at all is a usage error (the backend
/// was asked for on a machine that cannot run it).
fn nccl_device(device: Option<usize>) -> Result<usize> {
    let count = tch::Cuda::device_count().max(0) as usize;
    if count == 0 {
        return Err(UsageError::new(
            "the nccl backend needs CUDA, and no CUDA device is available (gloo runs on the CPU)",
        )
        .into());
    }
    match device {
        None => bail!("c10d: the nccl backend needs a CUDA device (usually LOCAL_RANK)"),
        Some(d) if d >= count => Err(UsageError::new(format!(
            "CUDA device {d} does not exist: this machine has {count} (cuda:0 to cuda:{})",
            count - 1
        ))
        .into()),
        Some(d) => Ok(d),
    }
}

pub(super) fn millis(d: Duration) -> c_longlong {
    d.as_millis().clamp(1, c_longlong::MAX as u128) as c_longlong
}

/// A c10d message as one line: c10d's sometimes span lines; the caller's error is one.
pub(super) fn message(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    strip_source_location(&text).to_string()
}

/// Gloo prefixes its messages with the C++ source line that threw (`[/pytorch/third_party/
/// gloo/gloo/transport/tcp/pair.cc:547] Connection closed by peer ...`): noise to a user.
fn strip_source_location(text: &str) -> &str {
    match text.strip_prefix('[').and_then(|rest| rest.split_once("] ")) {
        Some((location, message)) if location.contains(".cc:") || location.contains(".cpp:") => message,
        _ => text,
    }
}

#[cfg(test)]
#[path = "c10d_tests.rs"]
mod tests;
