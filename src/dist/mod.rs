//! Data-parallel training on PyTorch's c10d: the launchers' environment (`env`), process groups
//! with their collectives (`c10d`; Gloo on the CPU, NCCL on CUDA), a stand-alone TCPStore server
//! (`store`), and what clr builds on them: a run's distributed context (`context`: the gradient
//! all-reduce and the other collectives), rank 0's values and failures sent to every rank
//! (`root`), the replicas kept identical (`replica`), joining a group for a run (`setup`) and
//! `--nproc-per-node`'s launcher (`launch`). Nothing here writes files or talks to the user: the
//! engine decides what rank 0 alone does.
//!
//! A run on N processes trains exactly as one process would on the same global batch, but for
//! batch-norm statistics, which each rank computes on its share (as PyTorch's DDP does); see the
//! README's "Several processes" section for the whole contract.

pub mod c10d;
pub mod context;
pub mod env;
pub mod launch;
mod reach;
pub mod replica;
mod root;
pub mod setup;
pub mod store;

pub use c10d::{Backend, GroupOptions, ProcessGroup};
pub use context::Dist;
pub use env::{DistEnv, Launcher};
pub use launch::Invocation;
pub use setup::{DistArgs, DistBackend};
pub use store::StoreServer;

use std::time::Duration;

impl DistEnv {
    /// The options to join the group this environment describes; NCCL uses the local rank's
    /// CUDA device.
    pub fn group_options(&self, backend: Backend, timeout: Duration) -> GroupOptions {
        GroupOptions {
            backend,
            master_addr: self.master_addr.clone(),
            master_port: self.master_port,
            rank: self.rank,
            world_size: self.world_size,
            client_only_store: self.use_agent_store,
            timeout,
            cuda_device: (backend == Backend::Nccl).then_some(self.local_rank),
        }
    }
}
