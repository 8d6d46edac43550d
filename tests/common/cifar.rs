//! Data sets in the CIFAR-10 and CIFAR-100 binary layouts, made by the tests: learnable images
//! (one random colour pattern per class plus noise), split over several `data_batch_N.bin` files
//! of any size and `test_batch.bin`, or in `train.bin` and `test.bin` with two label bytes per
//! record. Not CIFAR-10 or CIFAR-100: only their file layouts.

use clr::data::cifar::{encode_records, RawSplit, IMAGE_BYTES};
use std::path::Path;

/// Write `files` training files of `per_file` records and a test file of `test` records.
pub fn write_learnable(dir: &Path, files: usize, per_file: usize, test: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let (train, test_split) = clr::data::synthetic::synthetic(files * per_file, test, seed);
    for i in 0..files {
        let part = RawSplit {
            images: train.images[i * per_file * IMAGE_BYTES..(i + 1) * per_file * IMAGE_BYTES].to_vec(),
            labels: train.labels[i * per_file..(i + 1) * per_file].to_vec(),
            size: 32,
        };
        std::fs::write(dir.join(format!("data_batch_{}.bin", i + 1)), encode_records(&part)).unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), encode_records(&test_split)).unwrap();
}

/// The tests' usual training set in `dir`: 512 learnable images in two files, 200 test images
/// (16 steps per epoch at batch 32).
pub fn usual(dir: &Path) -> std::path::PathBuf {
    write_learnable(dir, 2, 256, 200, 11);
    dir.to_path_buf()
}

/// The same data as `(member path, bytes)` for an archive in the official layout.
pub fn learnable_members(files: usize, per_file: usize, test: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let tmp = tempfile::tempdir().unwrap();
    write_learnable(tmp.path(), files, per_file, test, seed);
    let mut names: Vec<String> = (1..=files).map(|i| format!("data_batch_{i}.bin")).collect();
    names.push("test_batch.bin".into());
    names
        .into_iter()
        .map(|n| (format!("cifar-10-batches-bin/{n}"), std::fs::read(tmp.path().join(&n)).unwrap()))
        .collect()
}

/// Fine classes of the data in the CIFAR-100 layout, and fine classes per coarse class.
pub const FINE: usize = 100;
pub const FINE_PER_COARSE: usize = 5;

/// `train.bin` and `test.bin` in the CIFAR-100 binary layout (coarse label byte, fine label
/// byte, 3072 pixel bytes), learnable with either label: each of the 100 fine classes has its own
/// colour pattern, fine class f belongs to super-class f / 5, and each super-class adds a
/// pattern of its own that its 5 fine classes share (as real super-classes share a look; without
/// it, 5 unrelated patterns per class are slow to learn). Not CIFAR-100: only its file layout.
pub fn learnable_100(train: usize, test: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let (mut train, mut test) = clr::data::synthetic::learnable(train, test, FINE, seed);
    let mut state = seed | 1;
    let mut byte = move || {
        // xorshift64: deterministic bytes without a rand dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 56) as u8
    };
    let coarse: Vec<Vec<u8>> = (0..FINE / FINE_PER_COARSE).map(|_| (0..3 * 64).map(|_| byte()).collect()).collect();
    for split in [&mut train, &mut test] {
        for (image, &fine) in split.images.chunks_exact_mut(IMAGE_BYTES).zip(&split.labels) {
            let pattern = &coarse[fine as usize / FINE_PER_COARSE];
            // Half the image, half its super-class's 8×8 pattern upsampled to 32×32.
            for (i, v) in image.iter_mut().enumerate() {
                let (c, y, x) = (i / 1024, i / 32 % 32, i % 32);
                *v = ((*v as u32 + pattern[c * 64 + (y / 4) * 8 + x / 4] as u32) / 2) as u8;
            }
        }
    }
    let encode = |split: &RawSplit| {
        let labels: Vec<[u8; 2]> = split.labels.iter().map(|&f| [f / FINE_PER_COARSE as u8, f]).collect();
        clr::data::cifar::encode(&labels, &split.images)
    };
    (encode(&train), encode(&test))
}

/// Write [`learnable_100`] into `dir` as `train.bin` and `test.bin`.
pub fn write_learnable_100(dir: &Path, train: usize, test: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let (train, test) = learnable_100(train, test, seed);
    std::fs::write(dir.join("train.bin"), train).unwrap();
    std::fs::write(dir.join("test.bin"), test).unwrap();
}

/// The same data as `(member path, bytes)` for an archive in the official layout
/// (`cifar-100-binary/…`, with the two label-name files).
pub fn learnable_100_members(train: usize, test: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let (train, test) = learnable_100(train, test, seed);
    let fine: String = (0..FINE).map(|f| format!("fine{f}\n")).collect();
    let coarse: String = (0..FINE / FINE_PER_COARSE).map(|c| format!("coarse{c}\n")).collect();
    vec![
        ("cifar-100-binary/coarse_label_names.txt".into(), coarse.into_bytes()),
        ("cifar-100-binary/fine_label_names.txt".into(), fine.into_bytes()),
        ("cifar-100-binary/test.bin".into(), test),
        ("cifar-100-binary/train.bin".into(), train),
    ]
}
