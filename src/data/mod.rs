//! The data of a run, from files (or memory) to mini-batches on the training device:
//! `cifar` reads the binary layouts (CIFAR-10, CIFAR-100), `download` fetches and verifies the archive, `synthetic`
//! makes images in memory, `idx` and `mnist` read (and `mnist_download` fetches) MNIST-format sets,
//! `folder` finds a folder's images, `decode` turns one file into pixels and `cache` decodes a
//! whole folder once into a memory-mapped file; this file holds the splits on the device (images
//! kept as uint8 until a batch is drawn: CIFAR-10 is 150 MB that way, not 600 MB), `stats` their
//! normalisation, `augment` crops and flips, and `batches` streams the mini-batches of a run. To
//! add a data set in a CIFAR-like layout: a variant of `config::DatasetKind`, a `cifar::Layout`
//! and a `download::Archive`, joined in [`cifar_source`].
//!
//! Every data set reaches the network as 3 channels of S×S pixels (`Data::image_size`; 32 unless
//! a folder, an MNIST-format set or synthetic data is asked for another).

pub mod augment;
pub mod batches;
pub mod cache;
pub mod cifar;
pub mod decode;
pub mod download;
pub mod folder;
pub mod gather;
pub mod idx;
pub mod mnist;
pub mod mnist_download;
pub mod stats;
pub mod synthetic;

pub use batches::share;

use crate::config::{DataSettings, DatasetKind, Labels};
use anyhow::{bail, Result};
use cifar::{Format, RawSplit};
use download::{Archive, DownloadOptions};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// Zero padding of the random crop of 32×32 images (4 pixels each side, as He et al.).
pub const PAD: i64 = 4;
/// Colour channels of every image the network sees (grey images are replicated to three).
pub const CHANNELS: i64 = 3;

/// The crop padding for S×S images: 4 pixels at 32, an eighth of the side in general (3 to 4
/// at 28, 8 at 64, 28 at 224), at least 1.
pub fn crop_pad(size: i64) -> i64 {
    ((size + 4) / 8).max(1)
}

/// One split on the device.
pub struct Split {
    /// N×3×S×S uint8 (the test split) or N×3×(S+2p)×(S+2p) uint8, zero-padded (the training
    /// split, padded once so that each batch is one gather; 40×40 for CIFAR).
    pub images: Tensor,
    pub labels: Tensor,
    pub len: usize,
    /// The memory-mapped cache the images are a view of (on the CPU), kept as long as they are.
    _mapped: Option<Arc<memmap2::MmapMut>>,
}

pub struct Data {
    pub train: Split,
    pub test: Split,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// The number of classes: the labels are 0..classes, the model has as many outputs.
    pub classes: usize,
    /// The side S of the images the network sees (3×S×S: see [`CHANNELS`]).
    pub image_size: i64,
    /// Zero padding of the training images for the random crop ([`crop_pad`] of the size).
    pub pad: i64,
    /// The classes' names in label order, when the data set has them (folders, MNIST-format sets).
    pub class_names: Option<Vec<String>>,
    /// `mean` and `1/std` as 1×3×1×1 float tensors on the device, made once: copying them to
    /// the device for every batch would synchronise it at every step.
    shift: Tensor,
    scale: Tensor,
    /// What the data is, for logs: the folder of the .bin files, or "synthetic".
    pub source: String,
}

impl Split {
    fn from_raw(raw: &RawSplit, pad: i64, device: Device) -> Split {
        let (n, s) = (raw.len() as i64, raw.size as i64);
        let images = Tensor::from_slice(&raw.images).view([n, CHANNELS, s, s]);
        let images = if pad > 0 { images.constant_pad_nd([pad, pad, pad, pad]) } else { images };
        let labels = Tensor::from_slice(&raw.labels).to_kind(Kind::Int64);
        Split { images: images.to_device(device), labels: labels.to_device(device), len: raw.len(), _mapped: None }
    }

    /// `labels.len()` images of 3×`side`×`side` bytes at `offset` in a mapped cache: a view of the
    /// mapping on the CPU (nothing is copied, the pages load as batches touch them), a copy on
    /// another device. None when the bytes are not all inside the mapping.
    fn from_mapped(
        map: &Arc<memmap2::MmapMut>,
        offset: usize,
        side: i64,
        labels: &[i64],
        device: Device,
    ) -> Option<Split> {
        let n = labels.len();
        let bytes = n.checked_mul((CHANNELS * side * side) as usize)?;
        if offset.checked_add(bytes)? > map.len() {
            return None;
        }
        // SAFETY: the range is inside the mapping (checked above), which `_mapped` keeps alive as
        // long as this split; the mapping is private (copy-on-write), so a write never reaches the file.
        let images = unsafe {
            Tensor::from_blob(
                map.as_ptr().add(offset),
                &[n as i64, CHANNELS, side, side],
                &[],
                Kind::Uint8,
                Device::Cpu,
            )
        };
        let labels = Tensor::from_slice(labels);
        Some(Split {
            images: images.to_device(device),
            labels: labels.to_device(device),
            len: n,
            _mapped: Some(Arc::clone(map)),
        })
    }
}

impl Data {
    pub fn from_raw(train: &RawSplit, test: &RawSplit, classes: usize, device: Device, source: String) -> Data {
        let pad = crop_pad(train.size as i64);
        let splits = (Split::from_raw(train, pad, device), Split::from_raw(test, 0, device));
        Data::from_splits(splits, cifar::channel_stats(train), classes, train.size as i64, source)
    }

    /// The data of a training split padded for [`crop_pad`]`(image_size)` and a test split, with
    /// the training images' statistics.
    pub fn from_splits(
        (train, test): (Split, Split),
        (mean, std): ([f64; 3], [f64; 3]),
        classes: usize,
        image_size: i64,
        source: String,
    ) -> Data {
        let (shift, scale) = normalization(mean, std, train.images.device());
        let pad = crop_pad(image_size);
        Data { train, test, mean, std, classes, image_size, pad, class_names: None, shift, scale, source }
    }

    /// The same data, its classes named.
    pub fn with_class_names(self, names: Option<Vec<String>>) -> Data {
        Data { class_names: names, ..self }
    }

    /// The data the settings ask for: CIFAR-layout or MNIST-format files (located, or
    /// downloaded unless `no_download`), an image folder (through its cache), or synthetic images
    /// made from `seed`.
    pub fn load(settings: &DataSettings, seed: u64, device: Device, progress: bool) -> Result<Data> {
        if settings.dataset == DatasetKind::Folder {
            return cache::load(settings, device, progress);
        }
        let (train, test, source) = load_raw(settings, seed, progress)?;
        let classes = classes(settings).unwrap_or(cifar::NUM_CLASSES);
        Ok(Data::from_raw(&train, &test, classes, device, source).with_class_names(class_names(settings)))
    }

    pub fn steps_per_epoch(&self, batch_size: usize) -> u64 {
        self.train.len.div_ceil(batch_size) as u64
    }

    /// What a batch larger than the training set means, for the user to read: one step per
    /// epoch, of every image (a run on a small data set with a preset's batch size).
    pub fn batch_note(&self, batch_size: usize) -> Option<String> {
        let n = self.train.len;
        (batch_size > n).then(|| {
            format!(
                "note: --batch-size {batch_size} is more than the {n} training images: one step per epoch, of all {n}"
            )
        })
    }

    /// Normalise uint8 images (N×3×S×S) into float with the training set's statistics.
    pub fn normalize(&self, images: &Tensor) -> Tensor {
        (images.to_kind(Kind::Float) - &self.shift) * &self.scale
    }

    /// Normalise with given statistics instead of this set's (`eval` uses the training run's).
    pub fn set_statistics(&mut self, mean: [f64; 3], std: [f64; 3]) {
        (self.shift, self.scale) = normalization(mean, std, self.train.images.device());
        (self.mean, self.std) = (mean, std);
    }
}

/// `mean` and `1/std` as 1×3×1×1 float tensors: `(images.float() - shift) * scale` normalises.
pub fn normalization(mean: [f64; 3], std: [f64; 3], device: Device) -> (Tensor, Tensor) {
    let shift = Tensor::from_slice(&mean).to_kind(Kind::Float).view([1, 3, 1, 1]).to_device(device);
    let scale = Tensor::from_slice(&std.map(|s| 1.0 / s)).to_kind(Kind::Float).view([1, 3, 1, 1]).to_device(device);
    (shift, scale)
}

/// The files to read and the archive they come from; None for the data sets that are not in a
/// CIFAR binary layout.
pub fn cifar_source(settings: &DataSettings) -> Option<(Format, &'static Archive)> {
    match (settings.dataset, settings.labels) {
        (DatasetKind::Cifar10, _) => Some((Format::CIFAR10, &download::CIFAR10)),
        (DatasetKind::Cifar100, Labels::Fine) => Some((Format::CIFAR100_FINE, &download::CIFAR100)),
        (DatasetKind::Cifar100, Labels::Coarse) => Some((Format::CIFAR100_COARSE, &download::CIFAR100)),
        (DatasetKind::Synthetic | DatasetKind::Folder | DatasetKind::Mnist | DatasetKind::FashionMnist, _) => None,
    }
}

/// The number of classes the settings' data has (synthetic data: 10); None for an image folder,
/// whose class folders say it once they are read.
pub fn classes(settings: &DataSettings) -> Option<usize> {
    match (cifar_source(settings), mnist::set_of(settings.dataset)) {
        (Some((format, _)), _) => Some(format.classes()),
        (None, Some(set)) => Some(set.class_names.len()),
        (None, None) => (settings.dataset != DatasetKind::Folder).then_some(cifar::NUM_CLASSES),
    }
}

/// The names of the classes of a data set that has fixed ones (MNIST-format sets).
pub fn class_names(settings: &DataSettings) -> Option<Vec<String>> {
    mnist::set_of(settings.dataset).map(|set| set.class_names.iter().map(|n| n.to_string()).collect())
}

/// The side of the images a data set gives the network (the folder's is known once it is read).
pub fn image_size(settings: &DataSettings) -> Option<usize> {
    match settings.dataset {
        DatasetKind::Folder => settings.image_size,
        _ => Some(settings.image_size.unwrap_or(32)),
    }
}

/// Whether loading the data may write files (a download, a folder's cache): in a distributed run,
/// rank 0 loads it first and the others then read what it wrote.
pub fn may_write(settings: &DataSettings) -> bool {
    match settings.dataset {
        DatasetKind::Folder => true,
        DatasetKind::Synthetic => false,
        _ => !settings.no_download,
    }
}

/// The raw splits and a description of where they came from (every data set but an image
/// folder, which is read through its cache: see [`cache::load`]).
pub fn load_raw(settings: &DataSettings, seed: u64, progress: bool) -> Result<(RawSplit, RawSplit, String)> {
    let size = settings.image_size.unwrap_or(32);
    match settings.dataset {
        DatasetKind::Synthetic => {
            let (n_train, n_test) = (settings.synthetic_train, settings.synthetic_test);
            let what = format!("--synthetic-train {n_train} --synthetic-test {n_test}");
            check_memory(n_train.saturating_add(n_test) as u64, size, &what)?;
            let (train, test) = synthetic::learnable_sized(n_train, n_test, cifar::NUM_CLASSES, size, seed);
            Ok((train, test, "synthetic".into()))
        }
        DatasetKind::Mnist | DatasetKind::FashionMnist => mnist::load(settings, size, progress),
        DatasetKind::Folder => bail!("an image folder is read through its cache (data::cache::load)"),
        DatasetKind::Cifar10 | DatasetKind::Cifar100 => load_cifar(settings, progress),
    }
}

/// The splits of a data set in a CIFAR binary layout, located or downloaded.
fn load_cifar(settings: &DataSettings, progress: bool) -> Result<(RawSplit, RawSplit, String)> {
    let Some((format, archive)) = cifar_source(settings) else {
        bail!("{} is not in a CIFAR layout", settings.dataset)
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
    check_memory(bytes / layout.record_bytes() as u64, 32, &dir.display().to_string())?;
    let (train, test) = cifar::load_dir(&dir, format)?;
    let source = match settings.dataset {
        // Which of the two labels the run learns, in its logs and summary.
        DatasetKind::Cifar100 => format!("{} ({} labels)", dir.display(), settings.labels),
        _ => dir.display().to_string(),
    };
    Ok((train, test, source))
}

/// Bytes per S×S image while a data set loads: its bytes as read, the tensor made from them, and
/// the training split's zero-padded copy.
fn bytes_per_image(size: usize) -> u64 {
    let (s, p) = (size as u64, crop_pad(size as i64) as u64);
    2 * 3 * s * s + 3 * (s + 2 * p) * (s + 2 * p)
}

/// Refuse, before allocating, a data set that cannot fit in the memory this machine has free
/// (an allocation failure would abort the process instead).
pub fn check_memory(images: u64, size: usize, what: &str) -> Result<()> {
    let need = images.saturating_mul(bytes_per_image(size));
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
        assert_eq!((data.image_size, data.pad, bytes_per_image(32)), (32, PAD, 2 * 3072 + 3 * 40 * 40));
    }

    #[test]
    fn other_sizes_pad_in_proportion() {
        assert_eq!([8, 16, 28, 32, 64, 224].map(crop_pad), [1, 2, 4, 4, 8, 28]);
        let (train, test) = synthetic::learnable_sized(4, 2, 10, 64, 1);
        let data = Data::from_raw(&train, &test, 10, Device::Cpu, "synthetic".into());
        assert_eq!((data.image_size, data.pad), (64, 8));
        assert_eq!(data.train.images.size(), [4, 3, 80, 80]);
        assert_eq!(data.test.images.size(), [2, 3, 64, 64]);
    }
}
