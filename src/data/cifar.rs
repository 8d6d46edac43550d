//! Reading files in the CIFAR-10 binary layout: records of 1 label byte (0–9) and 3072 pixel
//! bytes (1024 red, 1024 green, 1024 blue, each 32×32 row-major). Any number of records per
//! file; a size that is not a whole number of records, or a label outside 0–9, is an error that
//! names the file.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub const IMAGE_BYTES: usize = 3 * 32 * 32;
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
pub const NUM_CLASSES: usize = 10;
pub const TEST_FILE: &str = "test_batch.bin";

/// Images and labels of one split, still bytes: `images` is N×3×32×32 in record order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSplit {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl RawSplit {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Append the records of `bytes` (the contents of `path`, named in errors).
    fn extend_from_records(&mut self, bytes: &[u8], path: &Path) -> Result<()> {
        if !bytes.len().is_multiple_of(RECORD_BYTES) {
            bail!(
                "{}: {} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR records \
                 (1 label byte + 3072 pixel bytes); the file is truncated or not in the CIFAR-10 binary layout",
                path.display(),
                bytes.len()
            );
        }
        let n = bytes.len() / RECORD_BYTES;
        self.images.reserve(n * IMAGE_BYTES);
        self.labels.reserve(n);
        for (i, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
            let label = record[0];
            if label as usize >= NUM_CLASSES {
                bail!("{}: record {i} has label {label}, outside 0–9; not a CIFAR-10 binary file", path.display());
            }
            self.labels.push(label);
            self.images.extend_from_slice(&record[1..]);
        }
        Ok(())
    }
}

/// Read one file of records.
pub fn read_file(path: &Path) -> Result<RawSplit> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut split = RawSplit::default();
    split.extend_from_records(&bytes, path)?;
    Ok(split)
}

/// N in `data_batch_N.bin` (N: digits only); None for any other name.
pub fn data_batch_number(name: &str) -> Option<u64> {
    let number = name.strip_prefix("data_batch_")?.strip_suffix(".bin")?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// Every `data_batch_N.bin` in `dir`, in numeric order (data_batch_2 before data_batch_10).
pub fn train_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if let Some(n) = path.file_name().and_then(|n| n.to_str()).and_then(data_batch_number) {
            files.push((n, path));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// The training split (every data_batch_*.bin) and the test split (test_batch.bin) of `dir`.
pub fn load_dir(dir: &Path) -> Result<(RawSplit, RawSplit)> {
    let files = train_files(dir)?;
    if files.is_empty() {
        bail!("{}: no data_batch_*.bin file", dir.display());
    }
    let mut train = RawSplit::default();
    for path in &files {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        train.extend_from_records(&bytes, path)?;
    }
    let test_path = dir.join(TEST_FILE);
    if !test_path.exists() {
        bail!("{}: no {TEST_FILE}", dir.display());
    }
    let test = read_file(&test_path)?;
    if train.is_empty() {
        bail!("{}: the data_batch_*.bin files hold no record", dir.display());
    }
    if test.is_empty() {
        bail!("{}: holds no record", test_path.display());
    }
    Ok((train, test))
}

/// Serialise records in the CIFAR-10 binary layout (the inverse of [`read_file`]).
pub fn encode_records(split: &RawSplit) -> Vec<u8> {
    let mut out = Vec::with_capacity(split.len() * RECORD_BYTES);
    for (label, image) in split.labels.iter().zip(split.images.chunks_exact(IMAGE_BYTES)) {
        out.push(*label);
        out.extend_from_slice(image);
    }
    out
}

/// Per-channel mean and standard deviation of the pixel values (0–255), over a split.
pub fn channel_stats(split: &RawSplit) -> ([f64; 3], [f64; 3]) {
    let mut sum = [0u64; 3];
    let mut sum_sq = [0u64; 3];
    for image in split.images.chunks_exact(IMAGE_BYTES) {
        for (c, plane) in image.chunks_exact(1024).enumerate() {
            for &v in plane {
                sum[c] += v as u64;
                sum_sq[c] += (v as u64) * (v as u64);
            }
        }
    }
    let n = (split.len() * 1024) as f64;
    let mut mean = [0.0; 3];
    let mut std = [0.0; 3];
    for c in 0..3 {
        mean[c] = sum[c] as f64 / n;
        let var = (sum_sq[c] as f64 / n - mean[c] * mean[c]).max(0.0);
        // Sample std as torch.std; a floor keeps a constant channel from dividing by zero.
        std[c] = (var * n / (n - 1.0).max(1.0)).sqrt().max(1e-6);
    }
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(n: usize) -> RawSplit {
        RawSplit {
            images: (0..n * IMAGE_BYTES).map(|i| (i * 7 % 251) as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
        }
    }

    #[test]
    fn round_trips_any_number_of_records() {
        let dir = tempfile::tempdir().unwrap();
        for n in [1, 3, 17] {
            let s = split(n);
            let p = dir.path().join(format!("f{n}.bin"));
            std::fs::write(&p, encode_records(&s)).unwrap();
            assert_eq!(read_file(&p).unwrap(), s);
        }
    }

    #[test]
    fn bad_size_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data_batch_1.bin");
        let mut bytes = encode_records(&split(2));
        bytes.pop();
        std::fs::write(&p, bytes).unwrap();
        let err = read_file(&p).unwrap_err().to_string();
        assert!(err.contains("data_batch_1.bin") && err.contains("6145 bytes"), "{err}");
    }

    #[test]
    fn bad_label_names_the_file_and_record() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("test_batch.bin");
        let mut bytes = encode_records(&split(3));
        bytes[2 * RECORD_BYTES] = 10;
        std::fs::write(&p, bytes).unwrap();
        let err = read_file(&p).unwrap_err().to_string();
        assert!(err.contains("test_batch.bin") && err.contains("record 2") && err.contains("label 10"), "{err}");
    }

    #[test]
    fn train_files_in_numeric_order_and_loaded_together() {
        let dir = tempfile::tempdir().unwrap();
        for (i, n) in [(10, 1), (2, 2), (1, 3)] {
            std::fs::write(dir.path().join(format!("data_batch_{i}.bin")), encode_records(&split(n))).unwrap();
        }
        std::fs::write(dir.path().join(TEST_FILE), encode_records(&split(4))).unwrap();
        let names: Vec<_> = train_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["data_batch_1.bin", "data_batch_2.bin", "data_batch_10.bin"]);
        let (train, test) = load_dir(dir.path()).unwrap();
        assert_eq!((train.len(), test.len()), (6, 4));
    }

    #[test]
    fn empty_files_are_files_of_no_records() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data_batch_1.bin"), b"").unwrap();
        std::fs::write(dir.path().join("data_batch_2.bin"), encode_records(&split(2))).unwrap();
        std::fs::write(dir.path().join(TEST_FILE), encode_records(&split(1))).unwrap();
        assert_eq!(load_dir(dir.path()).unwrap().0.len(), 2);
        std::fs::write(dir.path().join(TEST_FILE), b"").unwrap();
        assert!(load_dir(dir.path()).unwrap_err().to_string().contains("holds no record"));
    }

    #[test]
    fn only_numbered_data_batches_count() {
        assert_eq!(data_batch_number("data_batch_1.bin"), Some(1));
        assert_eq!(data_batch_number("data_batch_10.bin"), Some(10));
        for bad in
            ["data_batch_.bin", "data_batch_x.bin", "data_batch_1.bin.part", "test_batch.bin", "data_batch_-1.bin"]
        {
            assert_eq!(data_batch_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_dir(dir.path()).unwrap_err().to_string().contains("no data_batch_*.bin"));
        std::fs::write(dir.path().join("data_batch_1.bin"), encode_records(&split(1))).unwrap();
        assert!(load_dir(dir.path()).unwrap_err().to_string().contains("no test_batch.bin"));
    }

    #[test]
    fn channel_stats_match_by_hand() {
        let mut s = RawSplit { images: vec![0; 2 * IMAGE_BYTES], labels: vec![0, 1] };
        // red all 10, green half 0 half 20, blue 255 in image 1 only
        for img in s.images.chunks_exact_mut(IMAGE_BYTES) {
            img[..1024].fill(10);
            img[1024..1536].fill(20);
        }
        s.images[IMAGE_BYTES + 2048..].fill(255);
        let (mean, std) = channel_stats(&s);
        assert!((mean[0] - 10.0).abs() < 1e-12 && std[0] == 1e-6);
        assert!((mean[1] - 10.0).abs() < 1e-12);
        let n = 2048.0f64;
        assert!((std[1] - (100.0 * n / (n - 1.0)).sqrt()).abs() < 1e-9);
        assert!((mean[2] - 127.5).abs() < 1e-12);
    }
}
