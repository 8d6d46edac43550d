//! The distributed context of one process: its rank, its group (none when it runs alone), and
//! the few collective operations the training loops need, each a no-op for a process alone so
//! that the loops have one path. Everything here is called by every rank in the same order.
//!
//! - [`share`]: rank r's contiguous part of a global batch (or of the test set);
//! - gradients and statistics: [`Dist::reduce_gradients`] (timed), [`Dist::all_reduce_sum`];
//! - agreement: [`Dist::from_root`] (rank 0's value, or its error, on every rank).

use super::c10d::{Backend, ProcessGroup};
use anyhow::{anyhow, bail, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

use crate::config::{DeviceSpec, RunSettings};
use crate::error::UsageError;

/// This process's place in a run: rank 0 of 1 without a group, or a member of a c10d group.
pub struct Dist {
    group: Option<ProcessGroup>,
    rank: usize,
    world_size: usize,
    /// The device collectives run on: the CPU for Gloo (CUDA tensors are staged through host
    /// memory), the rank's GPU for NCCL.
    comm_device: Device,
    /// The device this rank trains on (`--device auto`: the local rank's GPU).
    device: Option<DeviceSpec>,
    /// Where each rank writes a digest of its replica at the end (tests compare them).
    digest_dir: Option<PathBuf>,
    /// Milliseconds of every gradient all-reduce, for the run's report.
    reduce_ms: RefCell<Vec<f64>>,
}

/// The part of `len` items that rank `rank` of `world` takes: contiguous, in rank order, sizes
/// differing by one at most (`len * r / world` to `len * (r + 1) / world`). Returns (offset, count).
pub fn share(len: usize, rank: usize, world: usize) -> (usize, usize) {
    let start = len * rank / world;
    let end = len * (rank + 1) / world;
    (start, end - start)
}

/// Header codes of [`Dist::from_root`].
const SENT_OK: i64 = 0;
const SENT_ERROR: i64 = 1;
const SENT_USAGE_ERROR: i64 = 2;

impl Dist {
    /// A process alone: every collective is a no-op.
    pub fn single() -> Dist {
        Dist {
            group: None,
            rank: 0,
            world_size: 1,
            comm_device: Device::Cpu,
            device: None,
            digest_dir: None,
            reduce_ms: RefCell::default(),
        }
    }

    /// A member of `group` training on `device`, whose collectives run on `comm_device`.
    pub fn in_group(group: ProcessGroup, device: DeviceSpec, comm_device: Device) -> Dist {
        let (rank, world_size) = (group.rank(), group.world_size());
        Dist {
            group: Some(group),
            rank,
            world_size,
            comm_device,
            device: Some(device),
            digest_dir: None,
            reduce_ms: RefCell::default(),
        }
    }

    /// The run's settings as this rank applies them: on its own device.
    pub fn rank_settings(&self, run: &RunSettings) -> RunSettings {
        RunSettings { device: self.device.unwrap_or(run.device), ..run.clone() }
    }

    /// ", rank 0 of 2 (gloo)" for logs; nothing for a process alone.
    pub fn describe(&self) -> String {
        match &self.group {
            Some(g) => format!(", rank {} of {} ({})", self.rank, self.world_size, g.backend()),
            None => String::new(),
        }
    }

    /// Ask every rank to write a digest of its replica into `dir` at the end of the run.
    pub fn with_digest_dir(mut self, dir: Option<PathBuf>) -> Dist {
        self.digest_dir = dir;
        self
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Rank 0: the one that writes files and talks to the user.
    pub fn is_primary(&self) -> bool {
        self.rank == 0
    }

    /// Whether this process is in a group (even one of one rank, as under torchrun with one
    /// process): collectives then really run.
    pub fn is_distributed(&self) -> bool {
        self.group.is_some()
    }

    pub fn backend(&self) -> Option<Backend> {
        self.group.as_ref().map(ProcessGroup::backend)
    }

    pub fn digest_dir(&self) -> Option<&PathBuf> {
        self.digest_dir.as_ref()
    }

    /// This rank's part of `len` items.
    pub fn share(&self, len: usize) -> (usize, usize) {
        share(len, self.rank, self.world_size)
    }

    /// Sum `t` over the ranks, in place (a tensor on another device than the group's travels
    /// there and back).
    pub fn all_reduce_sum(&self, t: &mut Tensor) -> Result<()> {
        let Some(group) = &self.group else { return Ok(()) };
        self.on_comm_device(t, |x| group.all_reduce_sum(x))
    }

    /// Overwrite `t` with rank 0's value.
    pub fn broadcast(&self, t: &mut Tensor) -> Result<()> {
        let Some(group) = &self.group else { return Ok(()) };
        self.on_comm_device(t, |x| group.broadcast(x, 0))
    }

    /// `op` on `t` itself when it lives on the group's device, else on a copy there, copied back.
    /// A failure says what usually causes it.
    fn on_comm_device(&self, t: &mut Tensor, op: impl FnOnce(&mut Tensor) -> Result<()>) -> Result<()> {
        let hint = |e: anyhow::Error| {
            anyhow!("{e} (another rank exited or stopped answering within --dist-timeout; its own output says why)")
        };
        // Gloo's collectives run on host memory: CUDA tensors are staged through it here (as
        // Gloo's own CUDA path would), so that no build of libtorch's Gloo needs CUDA support.
        if t.device() == self.comm_device {
            return op(t).map_err(hint);
        }
        let mut moved = t.to_device(self.comm_device);
        op(&mut moved).map_err(hint)?;
        let _guard = tch::no_grad_guard();
        t.copy_(&moved);
        Ok(())
    }

    /// The step's gradient all-reduce: `grads` (this rank's mean over its `share` of the global
    /// batch) weighted by that share, then summed over the ranks: the global-batch mean, also
    /// when the shares are uneven. Timed for the run's report.
    pub fn reduce_gradients(&self, grads: &mut Tensor, share: f64) -> Result<()> {
        if self.group.is_none() {
            return Ok(());
        }
        if share != 1.0 {
            let _ = grads.g_mul_scalar_(share);
        }
        let start = Instant::now();
        self.all_reduce_sum(grads)?;
        self.reduce_ms.borrow_mut().push(start.elapsed().as_secs_f64() * 1e3);
        Ok(())
    }

    /// The gradient all-reduces so far: how many, and their median in milliseconds.
    pub fn gradient_reduce_ms(&self) -> Option<(usize, f64)> {
        let mut times = self.reduce_ms.borrow().clone();
        if times.is_empty() {
            return None;
        }
        times.sort_by(f64::total_cmp);
        Some((times.len(), times[times.len() / 2]))
    }

    /// Rank 0 computes `on_root` and sends the value (or its error) to every rank: all ranks
    /// then continue with the same value, or all fail (the others saying that rank 0 failed,
    /// with its message), instead of the others waiting in a collective rank 0 never reaches.
    pub fn from_root<T: Serialize + DeserializeOwned>(&self, on_root: impl FnOnce() -> Result<T>) -> Result<T> {
        if !self.is_primary() {
            return self.receive();
        }
        let value = on_root();
        self.publish(value.as_ref())?;
        value
    }

    /// Rank 0 does what only it does (take the run folder, write its first files) and tells the
    /// others whether it succeeded: its value on rank 0, None on the others; rank 0's failure is
    /// every rank's.
    pub fn on_root<T>(&self, on_root: impl FnOnce() -> Result<T>) -> Result<Option<T>> {
        if !self.is_primary() {
            self.receive::<()>()?;
            return Ok(None);
        }
        let value = on_root();
        self.publish(value.as_ref().map(|_| &()))?;
        value.map(Some)
    }

    /// The stop the ranks agree on, given this one's stop signal (see
    /// [`crate::runtime::signals::agree`]), adopted by this process.
    pub fn agreed_stop(&self, asked: Option<i32>) -> Result<Option<i32>> {
        use crate::runtime::signals;
        if self.group.is_none() {
            return Ok(asked);
        }
        let mut t = Tensor::from_slice(&[signals::flag(asked)]);
        self.all_reduce_sum(&mut t)?;
        Ok(signals::agree(t.double_value(&[0])))
    }

    /// Rank 0's side of [`Dist::from_root`]: send `value`, or the error in its place.
    pub fn publish<T: Serialize>(&self, value: Result<&T, &anyhow::Error>) -> Result<()> {
        if self.group.is_none() {
            return Ok(());
        }
        let (code, bytes) = match value {
            Ok(v) => (SENT_OK, serde_json::to_vec(v)?),
            Err(e) if crate::error::holds::<UsageError>(e) => (SENT_USAGE_ERROR, e.to_string().into_bytes()),
            Err(e) => (SENT_ERROR, format!("{e:#}").into_bytes()),
        };
        self.send_bytes(code, bytes)
    }

    /// The other ranks' side of [`Dist::from_root`]: rank 0's value, or its error (a usage
    /// error when it was one).
    pub fn receive<T: DeserializeOwned>(&self) -> Result<T> {
        let (code, bytes) = self.receive_bytes()?;
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match code {
            SENT_OK => Ok(serde_json::from_slice(&bytes)?),
            SENT_USAGE_ERROR => Err(UsageError::new(format!("rank 0 stopped the run: {}", text())).into()),
            _ => bail!("rank 0 stopped the run: {}", text()),
        }
    }

    fn send_bytes(&self, code: i64, bytes: Vec<u8>) -> Result<()> {
        let mut header = Tensor::from_slice(&[code, bytes.len() as i64]);
        self.broadcast(&mut header)?;
        if bytes.is_empty() {
            return Ok(());
        }
        let mut payload = Tensor::from_slice(&bytes);
        self.broadcast(&mut payload)
    }

    fn receive_bytes(&self) -> Result<(i64, Vec<u8>)> {
        if self.group.is_none() {
            bail!("receive: a process alone has no rank 0 to receive from");
        }
        let mut header = Tensor::zeros([2], (Kind::Int64, Device::Cpu));
        self.broadcast(&mut header)?;
        let header: Vec<i64> = Vec::try_from(&header)?;
        let len = usize::try_from(header[1]).map_err(|_| anyhow!("rank 0 sent a negative length"))?;
        if len == 0 {
            return Ok((header[0], Vec::new()));
        }
        let mut payload = Tensor::zeros([len as i64], (Kind::Uint8, Device::Cpu));
        self.broadcast(&mut payload)?;
        Ok((header[0], Vec::try_from(&payload)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_batch_in_order_and_differ_by_one_at_most() {
        for len in 0..40 {
            for world in 1..6 {
                let shares: Vec<(usize, usize)> = (0..world).map(|r| share(len, r, world)).collect();
                let mut next = 0;
                for &(offset, count) in &shares {
                    assert_eq!(offset, next, "len {len} world {world}: {shares:?}");
                    next += count;
                }
                assert_eq!(next, len);
                let counts: Vec<usize> = shares.iter().map(|s| s.1).collect();
                assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{counts:?}");
            }
        }
        // A short last batch of 5 over 2 ranks: 2 then 3; of 1: rank 0 gets none.
        assert_eq!((share(5, 0, 2), share(5, 1, 2)), ((0, 2), (2, 3)));
        assert_eq!((share(1, 0, 2), share(1, 1, 2)), ((0, 0), (0, 1)));
    }

    #[test]
    fn alone_every_collective_is_a_no_op() {
        let dist = Dist::single();
        let mut t = Tensor::from_slice(&[1.0f32, 2.0]);
        dist.all_reduce_sum(&mut t).unwrap();
        dist.broadcast(&mut t).unwrap();
        dist.reduce_gradients(&mut t, 0.5).unwrap();
        assert_eq!(Vec::<f32>::try_from(&t).unwrap(), [1.0, 2.0]);
        assert_eq!(dist.gradient_reduce_ms(), None);
        assert_eq!(dist.from_root(|| Ok(7u32)).unwrap(), 7);
        assert!((dist.rank(), dist.world_size(), dist.is_primary(), dist.is_distributed()) == (0, 1, true, false));
    }
}
