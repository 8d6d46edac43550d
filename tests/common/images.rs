//! Image folders and IDX files made by the tests: learnable pictures (one colour pattern per class
//! plus noise, as `data::synthetic`) written as PNG and JPEG files in class folders, or as the four
//! gzipped IDX files of an MNIST-format set. Not MNIST or Fashion-MNIST: only their file format.

use clr::data::cifar::RawSplit;
use image::RgbImage;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Image `i` of a split as an RGB picture.
fn picture(split: &RawSplit, i: usize) -> RgbImage {
    let (s, plane) = (split.size as u32, split.size * split.size);
    let image = &split.images[i * 3 * plane..(i + 1) * 3 * plane];
    RgbImage::from_fn(s, s, |x, y| {
        let at = (y * s + x) as usize;
        image::Rgb([image[at], image[plane + at], image[2 * plane + at]])
    })
}

/// `DIR/train/CLASS/N.png` and `DIR/test/CLASS/N.png` (every third a `.jpg`): `train` and `test`
/// learnable `size`×`size` pictures of `classes.len()` classes. Returns the files of each split.
pub fn write_folder(
    dir: &Path,
    classes: &[&str],
    train: usize,
    test: usize,
    size: usize,
    seed: u64,
) -> [Vec<PathBuf>; 2] {
    let (train_split, test_split) = clr::data::synthetic::learnable_sized(train, test, classes.len(), size, seed);
    let mut written = [Vec::new(), Vec::new()];
    for (k, (name, split)) in [("train", &train_split), ("test", &test_split)].into_iter().enumerate() {
        for class in classes {
            std::fs::create_dir_all(dir.join(name).join(class)).unwrap();
        }
        for (i, &label) in split.labels.iter().enumerate() {
            let ext = if i % 3 == 2 { "jpg" } else { "png" };
            let path = dir.join(name).join(classes[label as usize]).join(format!("{i:04}.{ext}"));
            picture(split, i).save(&path).unwrap();
            written[k].push(path);
        }
    }
    written
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The four gzipped IDX files of an MNIST-format set of learnable 28×28 grey images (10
/// classes): `(file name, bytes)` in the order train images, train labels, test images, test labels.
pub fn idx_files(train: usize, test: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let (train_split, test_split) = clr::data::synthetic::learnable_sized(train, test, 10, 28, seed);
    let mut files = Vec::new();
    for (prefix, split) in [("train", &train_split), ("t10k", &test_split)] {
        let n = split.len();
        // The red plane as the grey image.
        let grey: Vec<u8> = split.images.chunks_exact(3 * 784).flat_map(|image| image[..784].to_vec()).collect();
        let images = clr::data::idx::encode(&[n, 28, 28], &grey);
        files.push((format!("{prefix}-images-idx3-ubyte.gz"), gzip(&images)));
        files.push((format!("{prefix}-labels-idx1-ubyte.gz"), gzip(&clr::data::idx::encode(&[n], &split.labels))));
    }
    files
}

/// Write [`idx_files`] into `dir`.
pub fn write_idx(dir: &Path, train: usize, test: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in idx_files(train, test, seed) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
