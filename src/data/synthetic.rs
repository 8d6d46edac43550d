//! CIFAR-shaped images made in memory, for smoke tests and speed work: learnable, seeded, and
//! never reported as CIFAR-10.

use super::cifar::{RawSplit, NUM_CLASSES};

/// CIFAR-shaped training and test images of 10 classes that a network can learn: each class has
/// its own random colour pattern (shared by both splits), and each image is that pattern plus
/// noise of the same size. Speed work and smoke tests only; never reported as CIFAR-10.
pub fn synthetic(n_train: usize, n_test: usize, seed: u64) -> (RawSplit, RawSplit) {
    learnable(n_train, n_test, NUM_CLASSES, seed)
}

/// [`synthetic`] with any number of classes (1–256): the tests' stand-in for data sets with
/// more classes (`--dataset synthetic` itself keeps 10).
pub fn learnable(n_train: usize, n_test: usize, classes: usize, seed: u64) -> (RawSplit, RawSplit) {
    learnable_sized(n_train, n_test, classes, 32, seed)
}

/// [`learnable`] images of `size`×`size` pixels (`--dataset synthetic --image-size S`).
pub fn learnable_sized(n_train: usize, n_test: usize, classes: usize, size: usize, seed: u64) -> (RawSplit, RawSplit) {
    assert!((1..=256).contains(&classes), "labels are bytes: 1 to 256 classes, not {classes}");
    let mut rng = SplitMix64(seed ^ 0x5EED_C1F4);
    // Coarse 8×8 patterns upsampled to the image size, so that a random crop keeps the class visible.
    let templates: Vec<Vec<u8>> = (0..classes).map(|_| (0..3 * 64).map(|_| rng.byte()).collect()).collect();
    let train = noisy_copies(&templates, n_train, size, &mut rng);
    let test = noisy_copies(&templates, n_test, size, &mut rng);
    (train, test)
}

fn noisy_copies(templates: &[Vec<u8>], n: usize, size: usize, rng: &mut SplitMix64) -> RawSplit {
    let mut images = Vec::with_capacity(n * 3 * size * size);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label = (rng.next() % templates.len() as u64) as usize;
        labels.push(label as u8);
        let t = &templates[label];
        for c in 0..3 {
            for y in 0..size {
                for x in 0..size {
                    let base = t[c * 64 + (y * 8 / size) * 8 + x * 8 / size] as u32;
                    let noise = rng.byte() as u32;
                    images.push(((base + noise) / 2) as u8);
                }
            }
        }
    }
    RawSplit { images, labels, size }
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
    use crate::data::cifar::IMAGE_BYTES;

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
        assert!(a.labels.iter().all(|&l| l < 10));
    }

    #[test]
    fn learnable_takes_any_number_of_classes_and_keeps_synthetic_as_it_was() {
        let (a, t) = learnable(200, 20, 10, 7);
        assert_eq!((a, t), synthetic(200, 20, 7), "--dataset synthetic is the 10-class case");
        let (a, _) = learnable(3000, 10, 100, 3);
        let mut seen = [false; 100];
        a.labels.iter().for_each(|&l| seen[l as usize] = true);
        assert!(seen.iter().all(|&s| s), "every one of 100 classes is drawn");
        let (big, _) = learnable_sized(3, 1, 10, 64, 7);
        assert_eq!((big.size, big.images.len()), (64, 3 * 3 * 64 * 64));
    }
}
