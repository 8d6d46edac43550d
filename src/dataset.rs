//! The data of a run on the training device: images kept as uint8 (CIFAR-10 is 150 MB that
//! way, not 600 MB) until a batch is drawn, labels as int64, and the per-channel mean/std of the
//! training set for normalisation.

use crate::cifar::{self, RawSplit, IMAGE_BYTES, NUM_CLASSES};
use crate::config::{Config, DatasetKind};
use crate::download::{self, DownloadOptions};
use anyhow::Result;
use tch::{Device, Kind, Tensor};

/// Zero padding of the random crop (4 pixels each side, as He et al.).
pub const PAD: i64 = 4;

/// One split on the device.
pub struct Split {
    /// N×3×32×32 uint8 (the test split) or N×3×40×40 uint8, zero-padded (the training split,
    /// padded once so that each batch is one gather).
    pub images: Tensor,
    pub labels: Tensor,
    pub len: usize,
}

pub struct Data {
    pub train: Split,
    pub test: Split,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// `mean` and `1/std` as 1×3×1×1 float tensors on the device, made once: copying them to
    /// the device for every batch would synchronise it at every step.
    shift: Tensor,
    scale: Tensor,
    /// What the data is, for logs: the folder of the .bin files, or "synthetic".
    pub source: String,
}

impl Split {
    fn from_raw(raw: &RawSplit, pad: i64, device: Device) -> Split {
        let n = raw.len() as i64;
        let images = Tensor::from_slice(&raw.images).view([n, 3, 32, 32]);
        let images = if pad > 0 { images.constant_pad_nd([pad, pad, pad, pad]) } else { images };
        let labels = Tensor::from_slice(&raw.labels).to_kind(Kind::Int64);
        Split { images: images.to_device(device), labels: labels.to_device(device), len: raw.len() }
    }
}

impl Data {
    pub fn from_raw(train: &RawSplit, test: &RawSplit, device: Device, source: String) -> Data {
        let (mean, std) = cifar::channel_stats(train);
        let (shift, scale) = normalization(mean, std, device);
        Data {
            train: Split::from_raw(train, PAD, device),
            test: Split::from_raw(test, 0, device),
            mean,
            std,
            shift,
            scale,
            source,
        }
    }

    /// The data a config asks for: CIFAR-layout files (located, or downloaded unless
    /// `no_download`), or synthetic images.
    pub fn load(config: &Config, device: Device, progress: bool) -> Result<Data> {
        let (train, test, source) = load_raw(config, progress)?;
        Ok(Data::from_raw(&train, &test, device, source))
    }

    pub fn steps_per_epoch(&self, batch_size: usize) -> u64 {
        self.train.len.div_ceil(batch_size) as u64
    }

    /// Normalise uint8 images (N×3×32×32) into float with the training set's statistics.
    pub fn normalize(&self, images: &Tensor) -> Tensor {
        (images.to_kind(Kind::Float) - &self.shift) * &self.scale
    }

    /// Normalise with given statistics instead of this set's (`eval` uses the training run's).
    pub fn set_statistics(&mut self, mean: [f64; 3], std: [f64; 3]) {
        (self.shift, self.scale) = normalization(mean, std, self.train.images.device());
        (self.mean, self.std) = (mean, std);
    }
}

fn normalization(mean: [f64; 3], std: [f64; 3], device: Device) -> (Tensor, Tensor) {
    let shift = Tensor::from_slice(&mean).to_kind(Kind::Float).view([1, 3, 1, 1]).to_device(device);
    let scale = Tensor::from_slice(&std.map(|s| 1.0 / s)).to_kind(Kind::Float).view([1, 3, 1, 1]).to_device(device);
    (shift, scale)
}

/// The raw splits and a description of where they came from.
pub fn load_raw(config: &Config, progress: bool) -> Result<(RawSplit, RawSplit, String)> {
    match config.dataset {
        DatasetKind::Synthetic => {
            let (train, test) = synthetic(config.synthetic_train, config.synthetic_test, config.seed);
            Ok((train, test, "synthetic".into()))
        }
        DatasetKind::Cifar10 => {
            let opts =
                DownloadOptions::from_env(config.data_dir.clone(), config.url.clone(), config.md5.clone(), progress)?;
            let dir = download::ensure(&opts, config.no_download)?;
            let (train, test) = cifar::load_dir(&dir)?;
            Ok((train, test, dir.display().to_string()))
        }
    }
}

/// CIFAR-shaped training and test images that a network can learn: each class has its own
/// random colour pattern (shared by both splits), and each image is that pattern plus noise of
/// the same size. Speed work and smoke tests only; never reported as CIFAR-10.
pub fn synthetic(n_train: usize, n_test: usize, seed: u64) -> (RawSplit, RawSplit) {
    let mut rng = SplitMix64(seed ^ 0x5EED_C1F4);
    // Coarse 8×8 patterns upsampled to 32×32, so that a random crop keeps the class visible.
    let templates: Vec<Vec<u8>> = (0..NUM_CLASSES).map(|_| (0..3 * 64).map(|_| rng.byte()).collect()).collect();
    let train = noisy_copies(&templates, n_train, &mut rng);
    let test = noisy_copies(&templates, n_test, &mut rng);
    (train, test)
}

fn noisy_copies(templates: &[Vec<u8>], n: usize, rng: &mut SplitMix64) -> RawSplit {
    let mut images = Vec::with_capacity(n * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label = (rng.next() % NUM_CLASSES as u64) as usize;
        labels.push(label as u8);
        let t = &templates[label];
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    let base = t[c * 64 + (y / 4) * 8 + x / 4] as u32;
                    let noise = rng.byte() as u32;
                    images.push(((base + noise) / 2) as u8);
                }
            }
        }
    }
    RawSplit { images, labels }
}

/// A small, fast, seedable generator (no crate needed for making test images).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_is_deterministic_and_uses_every_class() {
        let (a, t) = synthetic(200, 20, 7);
        assert_eq!((a.clone(), t.clone()), synthetic(200, 20, 7));
        assert_ne!(a, synthetic(200, 20, 8).0);
        assert_ne!(a.images[..20 * IMAGE_BYTES], t.images[..]);
        assert_eq!(a.images.len(), 200 * IMAGE_BYTES);
        for c in 0..10u8 {
            assert!(a.labels.contains(&c));
        }
    }

    #[test]
    fn splits_are_padded_uint8_on_the_device() {
        let raw = synthetic(5, 1, 1).0;
        let data = Data::from_raw(&raw, &raw, Device::Cpu, "synthetic".into());
        assert_eq!(data.train.images.size(), [5, 3, 40, 40]);
        assert_eq!(data.train.images.kind(), Kind::Uint8);
        assert_eq!(data.test.images.size(), [5, 3, 32, 32]);
        // The padding is zero, the inside is the image.
        assert_eq!(data.train.images.get(0).get(0).get(0).sum(Kind::Int64).int64_value(&[]), 0);
        assert!(data.train.images.get(0).narrow(1, 4, 32).narrow(2, 4, 32).equal(&data.test.images.get(0)));
        let x = data.normalize(&data.test.images);
        let m = x.mean_dim(&[0i64, 2, 3][..], false, Kind::Double);
        for c in 0..3 {
            assert!(m.double_value(&[c]).abs() < 1e-4);
        }
    }
}
