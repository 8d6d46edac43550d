//! MNIST-format sets (`--dataset mnist|fashion-mnist`): four IDX files, read natively (gzipped or
//! not, see `idx`). Their 28×28 grey images are zero-padded to 32×32, the input LeNet-5 was
//! designed for and the size every network of clr takes by default, or resized to
//! `--image-size S` with the filter an image folder uses. The one grey channel is replicated to
//! three: every network (and the PyTorch peer) has a 3-channel stem, so the same models run on
//! every data set, at the cost of 3× the uint8 memory (215 MB for Fashion-MNIST's 70,000 images).

use super::cifar::RawSplit;
use super::{decode, idx, mnist_download};
use crate::config::{DataSettings, DatasetKind};
use anyhow::Result;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The four files of a set, in this order everywhere (download, MD5 lists, messages).
pub const FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// An MNIST-format set: what it is called, where its files come from and what its classes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdxSet {
    /// `MNIST`, `Fashion-MNIST`: for messages.
    pub name: &'static str,
    pub dataset: DatasetKind,
    /// The folder `clr download` fills in `--data-dir`.
    pub folder: &'static str,
    /// The folder torchvision keeps the files in (`ROOT/FashionMNIST/raw`), also looked in.
    pub torchvision: &'static str,
    /// The official folder URL; each file is `URL` + its name + `.gz`.
    pub url: &'static str,
    /// MD5s of the four `.gz` files, in [`FILES`] order (from torchvision's datasets/mnist.py).
    pub md5: [&'static str; 4],
    pub url_env: &'static str,
    pub md5_env: &'static str,
    pub class_names: &'static [&'static str],
}

pub const MNIST: IdxSet = IdxSet {
    name: "MNIST",
    dataset: DatasetKind::Mnist,
    folder: "mnist",
    torchvision: "MNIST",
    // torchvision's mirror of yann.lecun.com/exdb/mnist (the same files, over https).
    url: "https://ossci-datasets.s3.amazonaws.com/mnist/",
    md5: [
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ],
    url_env: "CLR_MNIST_URL",
    md5_env: "CLR_MNIST_MD5",
    class_names: &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
};

pub const FASHION_MNIST: IdxSet = IdxSet {
    name: "Fashion-MNIST",
    dataset: DatasetKind::FashionMnist,
    folder: "fashion-mnist",
    torchvision: "FashionMNIST",
    url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    md5: [
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ],
    url_env: "CLR_FASHION_MNIST_URL",
    md5_env: "CLR_FASHION_MNIST_MD5",
    class_names: &[
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
};

/// The MNIST-format set of a `--dataset`, if it is one.
pub fn set_of(dataset: DatasetKind) -> Option<&'static IdxSet> {
    [&MNIST, &FASHION_MNIST].into_iter().find(|s| s.dataset == dataset)
}

/// The path of each of the four files in `dir` (gzipped or not), when all are there.
fn files_in(dir: &Path) -> Option<[PathBuf; 4]> {
    let find = |name: &str| [dir.join(name), dir.join(format!("{name}.gz"))].into_iter().find(|p| p.is_file());
    Some([find(FILES[0])?, find(FILES[1])?, find(FILES[2])?, find(FILES[3])?])
}

/// The folder that holds the four files: `data_dir` itself (Debian's
/// /usr/share/datasets/fashion-mnist, say), `data_dir/FOLDER` (where `clr download` puts them) or
/// torchvision's `data_dir/NAME/raw`.
pub fn locate(data_dir: &Path, set: &IdxSet) -> Option<(PathBuf, [PathBuf; 4])> {
    [data_dir.to_path_buf(), data_dir.join(set.folder), data_dir.join(set.torchvision).join("raw")]
        .into_iter()
        .find_map(|dir| files_in(&dir).map(|files| (dir, files)))
}

/// The training and test splits of the settings' MNIST-format set at `size`×`size` pixels, and a
/// description of where they came from. The files are located, or downloaded unless told not to.
pub fn load(settings: &DataSettings, size: usize, progress: bool) -> Result<(RawSplit, RawSplit, String)> {
    let Some(set) = set_of(settings.dataset) else { anyhow::bail!("{} is not an MNIST-format set", settings.dataset) };
    let files = mnist_download::ensure(settings, set, progress)?;
    let classes = set.class_names.len();
    let train = split(&files[0], &files[1], classes, size)?;
    let test = split(&files[2], &files[3], classes, size)?;
    let dir = files[0].parent().unwrap_or(Path::new(".")).display().to_string();
    Ok((train, test, format!("{} in {dir}", set.name)))
}

/// One split from an image file and a label file, which must hold as many of each.
fn split(images: &Path, labels: &Path, classes: usize, size: usize) -> Result<RawSplit> {
    let images_read = idx::read_images(images)?;
    let labels_read = idx::read_labels(labels, classes)?;
    if images_read.count != labels_read.len() {
        anyhow::bail!(
            "{} holds {} images but {} holds {} labels: the two files do not belong together",
            images.display(),
            images_read.count,
            labels.display(),
            labels_read.len()
        );
    }
    super::check_memory(images_read.count as u64, size, &images.display().to_string())?;
    Ok(RawSplit { images: to_planes(&images_read, size), labels: labels_read, size })
}

/// Each grey image as three identical planes of `size`×`size`: as it is when it already has that
/// size, zero-padded and centred when `size` is 32 (the default) and the image fits, resized
/// (shorter side to `size`, centre crop: as an image folder) otherwise.
pub fn to_planes(images: &idx::IdxImages, size: usize) -> Vec<u8> {
    let plane = size * size;
    let mut out = vec![0u8; images.count * 3 * plane];
    out.par_chunks_mut(3 * plane).enumerate().for_each(|(i, planes)| {
        let grey = grey_at(images, i, size);
        for channel in planes.chunks_exact_mut(plane) {
            channel.copy_from_slice(&grey);
        }
    });
    out
}

/// An image file as a network trained on an MNIST-format set saw its images: grey, then padded
/// or resized by the rule of [`to_planes`] (a 28×28 file is zero-padded to 32×32, not stretched).
/// `clr predict` uses it for such checkpoints.
pub fn file_planes(path: &Path, size: usize) -> Result<Vec<u8>> {
    use anyhow::Context;
    let grey = decode::open(path).with_context(|| format!("cannot decode {}", path.display()))?.to_luma8();
    let (cols, rows) = (grey.width() as usize, grey.height() as usize);
    Ok(to_planes(&idx::IdxImages { count: 1, rows, cols, pixels: grey.into_raw() }, size))
}

/// Image `i` as `size`×`size` grey bytes (see [`to_planes`]).
fn grey_at(images: &idx::IdxImages, i: usize, size: usize) -> Vec<u8> {
    let (rows, cols, pixels) = (images.rows, images.cols, images.image(i));
    if rows == size && cols == size {
        return pixels.to_vec();
    }
    if size == 32 && rows <= size && cols <= size {
        let (top, left) = ((size - rows) / 2, (size - cols) / 2);
        let mut out = vec![0u8; size * size];
        for (y, row) in pixels.chunks_exact(cols).enumerate() {
            out[(top + y) * size + left..][..cols].copy_from_slice(row);
        }
        return out;
    }
    let image = image::GrayImage::from_raw(cols as u32, rows as u32, pixels.to_vec()).expect("rows × cols bytes");
    decode::fit(&image, size as u32).into_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(count: usize, rows: usize, cols: usize) -> idx::IdxImages {
        let pixels = (0..count * rows * cols).map(|i| (i % 250 + 1) as u8).collect();
        idx::IdxImages { count, rows, cols, pixels }
    }

    #[test]
    fn pads_28_to_32_replicates_grey_and_resizes_other_sizes() {
        let set = images(2, 28, 28);
        let planes = to_planes(&set, 32);
        assert_eq!(planes.len(), 2 * 3 * 1024);
        let second = &planes[3 * 1024..];
        let (red, green, blue) = (&second[..1024], &second[1024..2048], &second[2048..]);
        assert!(red == green && green == blue, "grey replicated to three channels");
        assert_eq!(&red[2 * 32 + 2..2 * 32 + 30], &set.image(1)[..28], "first row, 2 pixels in");
        assert!(red[..64].iter().all(|&v| v == 0) && red[30 * 32..].iter().all(|&v| v == 0), "2 rows of zeros");
        assert_eq!((0..32).filter(|&y| red[y * 32] != 0 || red[y * 32 + 31] != 0).count(), 0, "zero columns");
        assert_eq!(to_planes(&set, 28)[..784], set.image(0)[..], "its own size: as it is");
        let big = to_planes(&set, 56);
        assert_eq!(big.len(), 2 * 3 * 56 * 56);
        let constant = idx::IdxImages { count: 1, rows: 28, cols: 28, pixels: vec![200; 784] };
        assert!(to_planes(&constant, 20).iter().all(|&v| v == 200), "resized, not padded");
    }

    /// A 28×28 grey PNG (and the same picture in RGB) becomes what the IDX path makes of the
    /// image: padded to 32, not stretched, so `clr predict` shows a network what it learned from.
    #[test]
    fn an_image_file_is_prepared_as_its_idx_image() {
        let dir = tempfile::tempdir().unwrap();
        let set = images(1, 28, 28);
        let grey = image::GrayImage::from_raw(28, 28, set.image(0).to_vec()).unwrap();
        let (png, rgb_png) = (dir.path().join("g.png"), dir.path().join("c.png"));
        grey.save(&png).unwrap();
        image::DynamicImage::ImageLuma8(grey).to_rgb8().save(&rgb_png).unwrap();
        for size in [32, 28, 20] {
            assert_eq!(file_planes(&png, size).unwrap(), to_planes(&set, size), "grey at {size}");
            assert_eq!(file_planes(&rgb_png, size).unwrap(), to_planes(&set, size), "rgb at {size}");
        }
        std::fs::write(dir.path().join("bad.png"), b"not a png").unwrap();
        let err = file_planes(&dir.path().join("bad.png"), 32).unwrap_err().to_string();
        assert!(err.contains("cannot decode") && err.contains("bad.png"), "{err}");
    }

    #[test]
    fn finds_the_files_in_any_of_three_places() {
        let dir = tempfile::tempdir().unwrap();
        assert!(locate(dir.path(), &FASHION_MNIST).is_none());
        for place in [dir.path().to_path_buf(), dir.path().join("fashion-mnist"), dir.path().join("FashionMNIST/raw")] {
            std::fs::create_dir_all(&place).unwrap();
            for (i, name) in FILES.iter().enumerate() {
                let name = if i % 2 == 0 { format!("{name}.gz") } else { name.to_string() };
                std::fs::write(place.join(name), b"x").unwrap();
            }
            let (found, files) = locate(dir.path(), &FASHION_MNIST).unwrap();
            assert_eq!(found, place);
            assert!(files[0].ends_with("train-images-idx3-ubyte.gz") && files[1].ends_with("train-labels-idx1-ubyte"));
            std::fs::remove_file(place.join("t10k-labels-idx1-ubyte")).unwrap();
            assert!(locate(dir.path(), &FASHION_MNIST).is_none(), "all four or none");
        }
        assert_eq!(set_of(DatasetKind::Mnist), Some(&MNIST));
        assert_eq!(set_of(DatasetKind::Cifar10), None);
    }
}
