//! The replicas of the model, one per rank, kept identical: rank 0's values broadcast at the
//! start and at a resume, batch-norm running statistics averaged before every evaluation and
//! checkpoint.

use super::context::Dist;
use anyhow::Result;
use tch::Tensor;

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
