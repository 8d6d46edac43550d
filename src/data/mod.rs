//! The data of a run, from files (or memory) to mini-batches on the training device:
//! `cifar` reads the binary layouts (CIFAR-10, CIFAR-100), `download` fetches and verifies the archive, `synthetic`
//! makes images in memory, this file holds the splits on the device (images kept as uint8 until
//! a batch is drawn: CIFAR-10 is 150 MB that way, not 600 MB), `augment` crops and flips, and
//! `batches` streams the mini-batches of a run. To add a data set in a CIFAR-like layout: a variant
//! of `config::DatasetKind`, a `cifar::Layout` and a `download::Archive`, joined in [`cifar_source`].

pub mod augment;
pub mod batches;
pub mod cifar;
pub mod download;
pub mod gather;
pub mod synthetic;

pub use batches::share;

use crate::config::{DataSettings, DatasetKind, Labels};
use anyhow::Result;
use cifar::{Format, RawSplit};
use download::{Archive, DownloadOptions};
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
    /// The number of classes: the labels are 0..classes, the model has as many outputs.
    pub classes: usize,
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
    pub fn from_raw(train: &RawSplit, test: &RawSplit, classes: usize, device: Device, source: String) -> Data {
        let (mean, std) = cifar::channel_stats(train);
        let (shift, scale) = normalization(mean, std, device);
        Data {
            train: Split::from_raw(train, PAD, device),
            test: Split::from_raw(test, 0, device),
            mean,
            std,
            classes,
            shift,
            scale,
            source,
        }
    }

    /// The data the settings ask for: CIFAR-layout files (located, or downloaded unless
    /// `no_download`), or synthetic images made from `seed`.
    pub fn load(settings: &DataSettings, seed: u64, device: Device, progress: bool) -> Result<Data> {
        let (train, test, source) = load_raw(settings, seed, progress)?;
        Ok(Data::from_raw(&train, &test, classes(settings), device, source))
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

/// The files to read and the archive they come from; None for data made in memory.
pub fn cifar_source(settings: &DataSettings) -> Option<(Format, &'static Archive)> {
    match (settings.dataset, settings.labels) {
        (DatasetKind::Synthetic, _) => None,
        (DatasetKind::Cifar10, _) => Some((Format::CIFAR10, &download::CIFAR10)),
        (DatasetKind::Cifar100, Labels::Fine) => Some((Format::CIFAR100_FINE, &download::CIFAR100)),
        (DatasetKind::Cifar100, Labels::Coarse) => Some((Format::CIFAR100_COARSE, &download::CIFAR100)),
    }
}

/// The number of classes the settings' data has (synthetic data: 10).
pub fn classes(settings: &DataSettings) -> usize {
    cifar_source(settings).map_or(cifar::NUM_CLASSES, |(format, _)| format.classes())
}

/// The raw splits and a description of where they came from.
pub fn load_raw(settings: &DataSettings, seed: u64, progress: bool) -> Result<(RawSplit, RawSplit, String)> {
    let Some((format, archive)) = cifar_source(settings) else {
        let (n_train, n_test) = (settings.synthetic_train, settings.synthetic_test);
        check_memory((n_train + n_test) as u64, &format!("--synthetic-train {n_train} --synthetic-test {n_test}"))?;
        let (train, test) = synthetic::synthetic(n_train, n_test, seed);
        return Ok((train, test, "synthetic".into()));
    };
    let opts = DownloadOptions::from_env(
        archive,
        settings.data_dir.clone(),
        settings.url.clone(),
        settings.md5.clone(),
        progress,
    )?;
    let dir = download::ensure(&opts, settings.no_download)?;
    let layout = format.layout;
    let bytes: u64 = cifar::train_files(&dir, layout)?
        .iter()
        .chain(std::iter::once(&dir.join(layout.test)))
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    check_memory(bytes / layout.record_bytes() as u64, &dir.display().to_string())?;
    let (train, test) = cifar::load_dir(&dir, format)?;
    let source = match settings.dataset {
        // Which of the two labels the run learns, in its logs and summary.
        DatasetKind::Cifar100 => format!("{} ({} labels)", dir.display(), settings.labels),
        _ => dir.display().to_string(),
    };
    Ok((train, test, source))
}

/// Bytes per image while a data set loads: its record, the tensor made from it, and the
/// training split's zero-padded copy.
const BYTES_PER_IMAGE: u64 = 2 * cifar::IMAGE_BYTES as u64 + 3 * 40 * 40;

/// Refuse, before allocating, a data set that cannot fit in the memory this machine has free
/// (an allocation failure would abort the process instead).
fn check_memory(images: u64, what: &str) -> Result<()> {
    let need = images.saturating_mul(BYTES_PER_IMAGE);
    let Some(free) = available_memory() else { return Ok(()) };
    if need > free {
        crate::usage!(
            "{what}: {images} images need about {:.1} GB of memory while loading; {:.1} GB is available",
            need as f64 / 1e9,
            free as f64 / 1e9
        );
    }
    Ok(())
}

/// `MemAvailable` of /proc/meminfo (Linux), in bytes.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_padded_uint8_on_the_device() {
        let raw = synthetic::synthetic(5, 1, 1).0;
        let data = Data::from_raw(&raw, &raw, 10, Device::Cpu, "synthetic".into());
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
