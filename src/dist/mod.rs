//! Data-parallel plumbing on PyTorch's c10d: the launchers' environment (`env`), process groups
//! with their collectives (`c10d`; Gloo on the CPU, NCCL on CUDA) and a stand-alone TCPStore
//! server (`store`).

pub mod c10d;
pub mod env;
mod reach;
pub mod store;

pub use c10d::{Backend, GroupOptions, ProcessGroup};
pub use env::{DistEnv, Launcher};
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
