//! The replicas of the model, one per rank, kept identical: rank 0's values broadcast at the
//! start and at a resume, batch-norm running statistics averaged before every evaluation and
//! checkpoint, and a digest of a replica for tests to compare across ranks.

use super::context::Dist;
use anyhow::{Context, Result};
use md5::{Digest, Md5};
use tch::{Device, Kind, Tensor};

/// Average `tensors` (floating point, e.g. running means and variances) over the ranks, in
/// place, with one all-reduce of their concatenation.
pub fn average(dist: &Dist, tensors: &[Tensor]) -> Result<()> {
    if !dist.is_distributed() || tensors.is_empty() {
        return Ok(());
    }
    let _guard = tch::no_grad_guard();
    let flat: Vec<Tensor> = tensors.iter().map(|t| t.reshape([-1])).collect();
    let mut flat = Tensor::cat(&flat, 0);
    dist.all_reduce_sum(&mut flat)?;
    let flat = flat / dist.world_size() as f64;
    let mut offset = 0;
    for t in tensors {
        let n = t.numel() as i64;
        let mut target = t.shallow_clone();
        target.copy_(&flat.narrow(0, offset, n).view_as(t));
        offset += n;
    }
    Ok(())
}

/// Overwrite each tensor with rank 0's, in place.
pub fn broadcast(dist: &Dist, tensors: &[Tensor]) -> Result<()> {
    let _guard = tch::no_grad_guard();
    for t in tensors {
        dist.broadcast(&mut t.shallow_clone())?;
    }
    Ok(())
}

/// Whether rank 0 holds something (momentum buffers, say), on every rank.
pub fn root_has(dist: &Dist, has: bool) -> Result<bool> {
    let mut flag = Tensor::from_slice(&[i64::from(has)]);
    dist.broadcast(&mut flag)?;
    Ok(flag.int64_value(&[0]) != 0)
}

/// Write `DIR/WHAT-rank-R.txt` with the MD5 of `tensors` (sorted by name, values as f32 in
/// logical order) and `steps`, when the run was asked to (`CLR_DIST_DIGEST=DIR`): ranks whose
/// replicas are identical write identical lines but the first.
pub fn write_digest(dist: &Dist, what: &str, steps: u64, mut tensors: Vec<(String, Tensor)>) -> Result<()> {
    let Some(dir) = dist.digest_dir() else { return Ok(()) };
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
    let hex = format!("{:x}", md5.finalize());
    let text = format!(
        "rank {} of {}\nsteps {steps}\ntensors {}\nvalues {values}\nmd5 {hex}\n",
        dist.rank(),
        dist.world_size(),
        tensors.len()
    );
    let path = dir.join(format!("{what}-rank-{}.txt", dist.rank()));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, text))
        .with_context(|| format!("cannot write the replica digest {}", path.display()))
}
