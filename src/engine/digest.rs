//! A test hook: with `CLR_DIST_DIGEST=DIR` in its environment, every rank of a run writes
//! `DIR/WHAT-rank-R.txt` at the end of it: the MD5 of its replica (parameters, batch-norm statistics
//! and momentum buffers, sorted by name, values as f32 in logical order) and its step count. Tests
//! compare the files of the ranks (identical replicas) and of runs on different numbers of
//! processes. Without the variable nothing is computed or written.

use super::Learner;
use anyhow::{Context, Result};
use md5::{Digest, Md5};
use std::path::PathBuf;
use std::sync::OnceLock;
use tch::{Device, Kind, Tensor};

/// The environment variable that asks for digests (read by the commands at start).
pub const VAR: &str = "CLR_DIST_DIGEST";

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Write digests into `dir` at the end of every run of this process (the first call wins).
pub fn request(dir: PathBuf) {
    let _ = DIR.set(dir);
}

/// This rank's digest of `learner` after `steps` steps of `what` (`train`, `range-test`), when
/// one was requested. Every rank calls it at the same point: the batch-norm statistics are
/// averaged over the ranks first, as for a checkpoint.
pub fn write(learner: &mut Learner, what: &str, steps: u64) -> Result<()> {
    let Some(dir) = DIR.get() else { return Ok(()) };
    learner.sync_statistics()?;
    let mut tensors: Vec<(String, Tensor)> = learner.variables().into_iter().collect();
    tensors.extend(learner.momentum_buffers().into_iter().map(|(k, v)| (format!("momentum.{k}"), v)));
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut md5 = Md5::new();
    let mut values = 0usize;
    for (name, t) in &tensors {
        let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous().reshape([-1]);
        let floats: Vec<f32> = Vec::try_from(&t)?;
        md5.update(name.as_bytes());
        for v in &floats {
            md5.update(v.to_le_bytes());
        }
        values += floats.len();
    }
    let (rank, world) = (learner.dist().rank(), learner.dist().world_size());
    let hex = format!("{:x}", md5.finalize());
    let text =
        format!("rank {rank} of {world}\nsteps {steps}\ntensors {}\nvalues {values}\nmd5 {hex}\n", tensors.len());
    let path = dir.join(format!("{what}-rank-{rank}.txt"));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, text))
        .with_context(|| format!("cannot write the replica digest {}", path.display()))
}
