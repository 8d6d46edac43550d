//! The distributed context of one process: its rank, its group (none when it runs alone), and
//! the few collective operations the training loops need, each a no-op for a process alone so
//! that the loops have one path. Everything here is called by every rank in the same order.
//!
//! - gradients and statistics: [`Dist::reduce_gradients`] (timed), [`Dist::all_reduce_sum`],
//!   [`Dist::broadcast`];
//! - agreement on rank 0's values and failures: `root.rs`.

use super::c10d::{Backend, ProcessGroup};
use anyhow::{anyhow, Result};
use std::cell::RefCell;
use std::time::Instant;
use tch::{Device, Tensor};

use crate::config::{DeviceSpec, RunSettings};

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
    /// Milliseconds of every gradient all-reduce, for the run's report.
    reduce_ms: RefCell<Vec<f64>>,
}

impl Dist {
    /// A process alone: every collective is a no-op.
    pub fn single() -> Dist {
        Dist {
            group: None,
            rank: 0,
            world_size: 1,
            comm_device: Device::Cpu,
            device: None,
            reduce_ms: RefCell::default(),
        }
    }

    /// A member of `group` training on `device`, whose collectives run on `comm_device`.
    pub fn in_group(group: ProcessGroup, device: DeviceSpec, comm_device: Device) -> Dist {
        let (rank, world_size) = (group.rank(), group.world_size());
        Dist { group: Some(group), rank, world_size, comm_device, device: Some(device), reduce_ms: RefCell::default() }
    }

    /// The run's settings as this rank applies them: on its own device.
    pub fn rank_settings(&self, run: &RunSettings) -> RunSettings {
        RunSettings { device: self.device.unwrap_or(run.device), ..run.clone() }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_every_collective_is_a_no_op() {
        let dist = Dist::single();
        let mut t = Tensor::from_slice(&[1.0f32, 2.0]);
        dist.all_reduce_sum(&mut t).unwrap();
        dist.broadcast(&mut t).unwrap();
        dist.reduce_gradients(&mut t, 0.5).unwrap();
        assert_eq!(Vec::<f32>::try_from(&t).unwrap(), [1.0, 2.0]);
        assert_eq!(dist.gradient_reduce_ms(), None);
        assert_eq!(dist.split_from_root(|| Ok(("mine", 8u32))).unwrap(), (Some("mine"), 8));
        assert_eq!(dist.on_root(|| Ok(7u32)).unwrap(), Some(7));
        assert!((dist.rank(), dist.world_size(), dist.is_primary(), dist.is_distributed()) == (0, 1, true, false));
    }
}
