//! Data sets in the CIFAR-10 binary layout, made by the tests: learnable images (one random
//! colour pattern per class plus noise), split over several `data_batch_N.bin` files of any
//! size, and `test_batch.bin`. Not CIFAR-10: only its file layout.

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
        };
        std::fs::write(dir.join(format!("data_batch_{}.bin", i + 1)), encode_records(&part)).unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), encode_records(&test_split)).unwrap();
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
