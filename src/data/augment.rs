//! Standard CIFAR augmentation, drawn per epoch and applied per batch with tensor operations on
//! the training device: a random S×S crop of the zero-padded image (32×32 with 4 pixels of
//! padding: 81 offsets; other sizes pad in proportion, see [`super::crop_pad`]) and a random
//! horizontal flip, as one gather from the padded uint8 training set.

use super::gather::Crop;
use super::Data;
use tch::{Device, Kind, Tensor};

/// The random choices of one epoch: the order of the images and each image's crop offset and
/// flip. A pure function of (seed, epoch), drawn on the CPU generator: the same plan on every
/// device, and a resumed run redraws exactly the plan of the epoch it stopped in.
pub struct EpochPlan {
    pub order: Tensor,
    pub dx: Tensor,
    pub dy: Tensor,
    pub flip: Tensor,
    pub len: usize,
}

impl EpochPlan {
    /// The plan of `epoch` for `len` images padded by `pad` pixels on each side.
    pub fn new(len: usize, seed: u64, epoch: u64, augment: bool, pad: i64, device: Device) -> EpochPlan {
        tch::manual_seed(epoch_seed(seed, epoch));
        let opts = (Kind::Int64, Device::Cpu);
        let n = len as i64;
        let order = Tensor::randperm(n, opts);
        let (dx, dy, flip) = if augment {
            let offsets = Tensor::randint(2 * pad + 1, [2, n], opts);
            let flip = Tensor::rand([n], (Kind::Float, Device::Cpu)).lt(0.5);
            (offsets.get(0), offsets.get(1), flip)
        } else {
            let centre = Tensor::full([n], pad, opts);
            (centre.shallow_clone(), centre, Tensor::zeros([n], (Kind::Bool, Device::Cpu)))
        };
        EpochPlan {
            order: order.to_device(device),
            dx: dx.to_device(device),
            dy: dy.to_device(device),
            flip: flip.to_device(device),
            len,
        }
    }

    /// Positions in the epoch of mini-batch `step` (the last one may be short).
    pub fn batch_range(&self, step: u64, batch_size: usize) -> (i64, i64) {
        let start = (step as usize * batch_size).min(self.len);
        let end = (start + batch_size).min(self.len);
        (start as i64, (end - start) as i64)
    }
}

/// A seed per (run seed, epoch), spread so that neighbouring epochs are unrelated.
fn epoch_seed(seed: u64, epoch: u64) -> i64 {
    let mut z = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 31;
    (z >> 1) as i64
}

/// Crop and flip images of a zero-padded uint8 set (N×3×(S+2p)×(S+2p), 40×40 for CIFAR): image
/// `index[b]` cropped S×S at (`dy[b]`, `dx[b]`), mirrored left–right where `flip[b]`. One gather;
/// returns B×3×S×S uint8.
pub fn crop_flip(padded: &Tensor, index: &Tensor, dx: &Tensor, dy: &Tensor, flip: &Tensor, size: i64) -> Tensor {
    let b = index.size()[0];
    let device = padded.device();
    let ar = Tensor::arange(size, (Kind::Int64, device));
    let rows = dy.unsqueeze(1) + &ar;
    let cols = dx.unsqueeze(1) + ar.where_self(&flip.logical_not().unsqueeze(1), &(size - 1 - &ar));
    let channels = Tensor::arange(3, (Kind::Int64, device));
    padded.index(&[
        Some(index.view([b, 1, 1, 1])),
        Some(channels.view([1, 3, 1, 1])),
        Some(rows.view([b, 1, size, 1])),
        Some(cols.view([b, 1, 1, size])),
    ])
}

/// Mini-batch `step` of an epoch: normalised float images (channels-last on the CPU) and int64
/// labels, on the device.
pub fn train_batch(data: &Data, plan: &EpochPlan, step: u64, batch_size: usize) -> (Tensor, Tensor) {
    let (start, len) = plan.batch_range(step, batch_size);
    batch_at(data, plan, start, len)
}

/// The `len` images at positions `start..` of the epoch's order (a batch, or a rank's share of
/// one), cropped, flipped and normalised, with their labels.
pub fn batch_at(data: &Data, plan: &EpochPlan, start: i64, len: i64) -> (Tensor, Tensor) {
    let index = plan.order.narrow(0, start, len);
    let dx = plan.dx.index_select(0, &index);
    let dy = plan.dy.index_select(0, &index);
    let flip = plan.flip.index_select(0, &index);
    let labels = data.train.labels.index_select(0, &index);
    if data.train.images.device() == Device::Cpu {
        // One pass straight into channels-last floats (`gather`); the checks it makes are ones
        // this plan always passes, and if it ever refused, the tensor version below computes
        // the same values.
        let crop = Crop { size: data.image_size, mean: data.mean, std: data.std };
        let gathered = super::gather::gather_normalize(&data.train.images, &index, &dx, &dy, &flip, crop);
        if let Ok(x) = gathered {
            return (x, labels);
        }
    }
    let images = crop_flip(&data.train.images, &index, &dx, &dy, &flip, data.image_size);
    (data.normalize(&images), labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::cifar::RawSplit;
    use crate::data::PAD;

    /// Images whose pixels say who they are: image i has value 1 + i in its left half and
    /// 101 + i in its right half (never 0, so the zero padding shows the crop offset).
    fn marked(n: usize) -> RawSplit {
        let mut images = Vec::new();
        for i in 0..n {
            for _c in 0..3 {
                for _y in 0..32 {
                    for x in 0..32 {
                        images.push(if x < 16 { 1 + i as u8 } else { 101 + i as u8 });
                    }
                }
            }
        }
        RawSplit { images, labels: (0..n).map(|i| (i % 10) as u8).collect(), size: 32 }
    }

    /// Read the crop offset, the flip and the image identity back from a cropped image.
    fn decode(img: &Tensor) -> (i64, i64, bool, i64) {
        let plane = img.get(0).to_kind(Kind::Int64);
        let row = plane.get(16);
        let col = plane.select(1, 16);
        let zero_left = (0..32).take_while(|&x| row.int64_value(&[x]) == 0).count() as i64;
        let zero_right = (0..32).rev().take_while(|&x| row.int64_value(&[x]) == 0).count() as i64;
        let zero_top = (0..32).take_while(|&y| col.int64_value(&[y]) == 0).count() as i64;
        let zero_bottom = (0..32).rev().take_while(|&y| col.int64_value(&[y]) == 0).count() as i64;
        let dy = if zero_top > 0 { PAD - zero_top } else { PAD + zero_bottom };
        let left = row.int64_value(&[zero_left]);
        let right = row.int64_value(&[31 - zero_right]);
        let flipped = left > right;
        let dx_unflipped = if zero_left > 0 { PAD - zero_left } else { PAD + zero_right };
        let dx = if flipped { 2 * PAD - dx_unflipped } else { dx_unflipped };
        (dx, dy, flipped, left.min(right) - 1)
    }

    #[test]
    fn crops_reach_all_81_offsets_about_half_flip_labels_follow() {
        let _rng = crate::rng_lock();
        let n = 100;
        let raw = marked(n);
        let data = Data::from_raw(&raw, &raw, 10, Device::Cpu, "test".into());
        let mut seen = std::collections::HashSet::new();
        let (mut flips, mut total) = (0, 0);
        for epoch in 0..20 {
            let plan = EpochPlan::new(n, 3, epoch, true, PAD, Device::Cpu);
            for step in 0..4 {
                let (start, len) = plan.batch_range(step, 25);
                let index = plan.order.narrow(0, start, len);
                let imgs = crop_flip(
                    &data.train.images,
                    &index,
                    &plan.dx.index_select(0, &index),
                    &plan.dy.index_select(0, &index),
                    &plan.flip.index_select(0, &index),
                    32,
                );
                let (_, labels) = train_batch(&data, &plan, step, 25);
                for b in 0..len {
                    let (dx, dy, flipped, who) = decode(&imgs.get(b));
                    let i = index.int64_value(&[b]);
                    assert_eq!(who, i, "the image is the one the plan named");
                    assert_eq!(labels.int64_value(&[b]), i % 10, "labels stay with their images");
                    assert_eq!(dx, plan.dx.int64_value(&[i]));
                    assert_eq!(dy, plan.dy.int64_value(&[i]));
                    assert_eq!(flipped, plan.flip.int64_value(&[i]) != 0);
                    seen.insert((dx, dy));
                    flips += flipped as usize;
                    total += 1;
                }
            }
        }
        assert_eq!(seen.len(), 81, "every offset from -4 to +4 in both directions");
        let share = flips as f64 / total as f64;
        assert!((0.45..0.55).contains(&share), "flip share {share}");
    }

    #[test]
    fn plans_are_a_function_of_seed_and_epoch() {
        let _rng = crate::rng_lock();
        let a = EpochPlan::new(50, 1, 2, true, PAD, Device::Cpu);
        let b = EpochPlan::new(50, 1, 2, true, PAD, Device::Cpu);
        let c = EpochPlan::new(50, 1, 3, true, PAD, Device::Cpu);
        assert!(a.order.equal(&b.order) && a.dx.equal(&b.dx) && a.flip.equal(&b.flip));
        assert!(!a.order.equal(&c.order));
        let sorted = a.order.sort(0, false).0;
        assert!(sorted.equal(&Tensor::arange(50, (Kind::Int64, Device::Cpu))), "a permutation");
        assert_eq!(a.batch_range(2, 20), (40, 10), "the last batch is short");
    }

    #[test]
    fn no_augment_is_the_centre_crop() {
        let _rng = crate::rng_lock();
        let raw = marked(4);
        let data = Data::from_raw(&raw, &raw, 10, Device::Cpu, "test".into());
        let plan = EpochPlan::new(4, 0, 0, false, PAD, Device::Cpu);
        let idx = plan.order.narrow(0, 0, 4);
        let out = crop_flip(
            &data.train.images,
            &idx,
            &plan.dx.index_select(0, &idx),
            &plan.dy.index_select(0, &idx),
            &plan.flip.index_select(0, &idx),
            32,
        );
        assert!(out.equal(&data.test.images.index_select(0, &idx)));
    }
}
