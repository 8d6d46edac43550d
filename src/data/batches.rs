//! The mini-batches of a run, as one stream shared by training, the range test and the
//! benchmark: `(data, seed, batch size, start step) → (step, epoch, images, labels)`.
//! Each epoch's plan (order, crop offsets, flips) is drawn from (seed, epoch) when the stream
//! enters it, so step s is the same batch whether the run started at 0 or resumed at s.
//!
//! In a distributed run every rank draws the same plan and takes its share of each global batch
//! ([`BatchStream::shard`]): the ranks together see exactly the images one process would.

use super::augment::{self, EpochPlan};
use super::Data;
use tch::Tensor;

/// One mini-batch (this rank's share of it): normalised float images and int64 labels on the
/// training device.
pub struct Batch {
    /// The global 0-based step.
    pub step: u64,
    pub epoch: u64,
    pub images: Tensor,
    pub labels: Tensor,
    /// Images in the whole batch, over all ranks (= `len()` for a process alone).
    pub global_len: usize,
}

impl Batch {
    /// A whole batch of given images and labels (step 0), as a process alone trains on it.
    pub fn whole(images: &Tensor, labels: &Tensor) -> Batch {
        let global_len = labels.size()[0] as usize;
        Batch { step: 0, epoch: 0, images: images.shallow_clone(), labels: labels.shallow_clone(), global_len }
    }

    /// Images in this share of the batch (the last batch of an epoch may be short).
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The part of `len` items that rank `rank` of `world` takes: contiguous, in rank order, sizes
/// differing by one at most (`len * r / world` to `len * (r + 1) / world`). Returns (offset, count).
/// Each rank's share of a batch, and of the test set it evaluates.
pub fn share(len: usize, rank: usize, world: usize) -> (usize, usize) {
    let start = len * rank / world;
    let end = len * (rank + 1) / world;
    (start, end - start)
}

/// An endless stream of augmented mini-batches from `start` on; take what you need.
pub struct BatchStream<'a> {
    data: &'a Data,
    seed: u64,
    batch_size: usize,
    steps_per_epoch: u64,
    next: u64,
    plan: Option<(u64, EpochPlan)>,
    /// (rank, world size): the share of each batch this stream yields.
    shard: (usize, usize),
}

impl<'a> BatchStream<'a> {
    pub fn new(data: &'a Data, seed: u64, batch_size: usize, start: u64) -> BatchStream<'a> {
        let steps_per_epoch = data.steps_per_epoch(batch_size);
        BatchStream { data, seed, batch_size, steps_per_epoch, next: start, plan: None, shard: (0, 1) }
    }

    /// Only rank `rank` of `world`'s share of every batch (see [`share`]).
    pub fn shard(self, rank: usize, world: usize) -> BatchStream<'a> {
        BatchStream { shard: (rank, world), ..self }
    }

    pub fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    /// The step of the next batch.
    pub fn position(&self) -> u64 {
        self.next
    }
}

impl Iterator for BatchStream<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let (step, epoch) = (self.next, self.next / self.steps_per_epoch);
        if self.plan.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let (data, device) = (self.data, self.data.train.images.device());
            let plan = EpochPlan::new(data.train.len, self.seed, epoch, true, data.pad, device);
            self.plan = Some((epoch, plan));
        }
        let (_, plan) = self.plan.as_ref().expect("drawn above");
        let (start, len) = plan.batch_range(step % self.steps_per_epoch, self.batch_size);
        let (offset, count) = share(len as usize, self.shard.0, self.shard.1);
        let (images, labels) = augment::batch_at(self.data, plan, start + offset as i64, count as i64);
        self.next += 1;
        Some(Batch { step, epoch, images, labels, global_len: len as usize })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::synthetic;
    use tch::Device;

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
    fn a_stream_started_mid_run_gives_the_same_batches() {
        let _rng = crate::rng_lock();
        let (train, test) = synthetic(50, 4, 3);
        let data = Data::from_raw(&train, &test, 10, Device::Cpu, "synthetic".into());
        let whole: Vec<Batch> = BatchStream::new(&data, 7, 16, 0).take(9).collect();
        // 50 images at batch 16: 4 steps per epoch, the last of 2 images.
        let steps: Vec<(u64, u64, usize)> = whole.iter().map(|b| (b.step, b.epoch, b.len())).collect();
        assert_eq!(steps[..5], [(0, 0, 16), (1, 0, 16), (2, 0, 16), (3, 0, 2), (4, 1, 16)]);
        let resumed: Vec<Batch> = BatchStream::new(&data, 7, 16, 6).take(3).collect();
        for (a, b) in whole[6..].iter().zip(&resumed) {
            assert_eq!((a.step, a.epoch), (b.step, b.epoch));
            assert!(a.images.equal(&b.images) && a.labels.equal(&b.labels), "step {}", a.step);
        }
        assert!(!whole[0].labels.equal(&whole[4].labels.narrow(0, 0, 16)), "epochs reshuffle");
    }

    #[test]
    fn the_shards_of_the_ranks_make_up_each_batch() {
        let _rng = crate::rng_lock();
        let (train, test) = synthetic(50, 4, 3);
        let data = Data::from_raw(&train, &test, 10, Device::Cpu, "synthetic".into());
        // Two epochs of 4 steps, the last of 2 images: with 3 ranks one gets nothing.
        let whole: Vec<Batch> = BatchStream::new(&data, 7, 16, 0).take(8).collect();
        for world in [2, 3] {
            let shards: Vec<Vec<Batch>> =
                (0..world).map(|r| BatchStream::new(&data, 7, 16, 0).shard(r, world).take(8).collect()).collect();
            for (i, batch) in whole.iter().enumerate() {
                let parts: Vec<&Batch> = shards.iter().map(|s| &s[i]).collect();
                assert!(parts.iter().all(|p| p.step == batch.step && p.global_len == batch.len()));
                let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
                assert_eq!(lens.iter().sum::<usize>(), batch.len(), "step {i}: {lens:?}");
                let images = Tensor::cat(&parts.iter().map(|p| p.images.shallow_clone()).collect::<Vec<_>>(), 0);
                let labels = Tensor::cat(&parts.iter().map(|p| p.labels.shallow_clone()).collect::<Vec<_>>(), 0);
                assert!(images.equal(&batch.images) && labels.equal(&batch.labels), "world {world} step {i}");
            }
        }
    }
}
