//! Reading files in the CIFAR binary layouts. A record is its label bytes, then 3072 pixel bytes
//! (1024 red, 1024 green, 1024 blue, each 32×32 row-major): CIFAR-10 has one label byte (0–9),
//! CIFAR-100 two (the coarse label 0–19, then the fine label 0–99). A [`Layout`] describes a data
//! set's files and label bytes, a [`Format`] adds which label byte is the class. Any number of
//! records per file; a size that is not a whole number of records, or a label byte out of its
//! range, is an error that names the file.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// A CIFAR-10 record: one label byte and the pixels.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Classes of CIFAR-10 (and of `--dataset synthetic`).
pub const NUM_CLASSES: usize = 10;
pub const TEST_FILE: &str = "test_batch.bin";

/// The training files of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainFiles {
    /// `PREFIX1.bin`, `PREFIX2.bin`, …: any number of them, read in numeric order.
    Numbered(&'static str),
    /// One file.
    Single(&'static str),
}

impl TrainFiles {
    /// The place of `name` among the training files; None when it is not one.
    pub fn key(self, name: &str) -> Option<u64> {
        match self {
            TrainFiles::Numbered(prefix) => numbered(name, prefix),
            TrainFiles::Single(file) => (name == file).then_some(0),
        }
    }

    /// How errors name them: `data_batch_*.bin`, `train.bin`.
    pub fn pattern(self) -> String {
        match self {
            TrainFiles::Numbered(prefix) => format!("{prefix}*.bin"),
            TrainFiles::Single(file) => file.to_string(),
        }
    }
}

/// One label byte of a record: its name (for errors) and its number of classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelByte {
    pub name: &'static str,
    pub classes: usize,
}

/// A data set in a CIFAR binary layout: its files and the label bytes of its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// `CIFAR-10`, `CIFAR-100`: for messages.
    pub name: &'static str,
    pub train: TrainFiles,
    pub test: &'static str,
    /// The label bytes that open each record, in record order.
    pub labels: &'static [LabelByte],
}

pub const CIFAR10: Layout = Layout {
    name: "CIFAR-10",
    train: TrainFiles::Numbered("data_batch_"),
    test: TEST_FILE,
    labels: &[LabelByte { name: "label", classes: NUM_CLASSES }],
};

pub const CIFAR100: Layout = Layout {
    name: "CIFAR-100",
    train: TrainFiles::Single("train.bin"),
    test: "test.bin",
    labels: &[LabelByte { name: "coarse label", classes: 20 }, LabelByte { name: "fine label", classes: 100 }],
};

impl Layout {
    pub fn record_bytes(&self) -> usize {
        self.labels.len() + IMAGE_BYTES
    }

    /// `data_batch_*.bin and test_batch.bin`: what a folder of this data set holds.
    pub fn files_text(&self) -> String {
        format!("{} and {}", self.train.pattern(), self.test)
    }
}

/// The files to read and which of their label bytes is the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub layout: &'static Layout,
    /// Index into `layout.labels`.
    pub label: usize,
}

impl Format {
    pub const CIFAR10: Format = Format { layout: &CIFAR10, label: 0 };
    pub const CIFAR100_FINE: Format = Format { layout: &CIFAR100, label: 1 };
    pub const CIFAR100_COARSE: Format = Format { layout: &CIFAR100, label: 0 };

    /// The number of classes: the output size of the model.
    pub fn classes(&self) -> usize {
        self.layout.labels[self.label].classes
    }
}

/// Images and labels of one split, still bytes: `images` is N×3×S×S in record order (S = `size`:
/// 32 for the CIFAR layouts; an MNIST-format set or synthetic data may have another).
#[derive(Debug, Clone, PartialEq)]
pub struct RawSplit {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub size: usize,
}

impl Default for RawSplit {
    /// No images, of a CIFAR record's size.
    fn default() -> Self {
        RawSplit { images: Vec::new(), labels: Vec::new(), size: 32 }
    }
}

impl RawSplit {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Append the records of `bytes` (the contents of `path`, named in errors), keeping the
    /// label byte that `format` names. Every label byte is checked against its range, so that a
    /// file of another layout is caught rather than read as noise.
    fn extend_from_records(&mut self, bytes: &[u8], path: &Path, format: Format) -> Result<()> {
        let layout = format.layout;
        let (size, label_bytes) = (layout.record_bytes(), layout.labels.len());
        if !bytes.len().is_multiple_of(size) {
            bail!(
                "{}: {} bytes is not a whole number of {size}-byte {} records ({label_bytes} label \
                 byte{} + 3072 pixel bytes); the file is truncated or not in the {} binary layout",
                path.display(),
                bytes.len(),
                layout.name,
                if label_bytes == 1 { "" } else { "s" },
                layout.name
            );
        }
        let n = bytes.len() / size;
        self.images.reserve(n * IMAGE_BYTES);
        self.labels.reserve(n);
        for (i, record) in bytes.chunks_exact(size).enumerate() {
            for (byte, label) in record.iter().zip(layout.labels) {
                if *byte as usize >= label.classes {
                    bail!(
                        "{}: record {i} has {} {byte}, outside 0–{}; not a {} binary file",
                        path.display(),
                        label.name,
                        label.classes - 1,
                        layout.name
                    );
                }
            }
            self.labels.push(record[format.label]);
            self.images.extend_from_slice(&record[label_bytes..]);
        }
        Ok(())
    }
}

/// Read one file of records.
pub fn read_file(path: &Path, format: Format) -> Result<RawSplit> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut split = RawSplit::default();
    split.extend_from_records(&bytes, path, format)?;
    Ok(split)
}

/// N in `PREFIX<N>.bin` (N: digits only); None for any other name.
fn numbered(name: &str, prefix: &str) -> Option<u64> {
    let number = name.strip_prefix(prefix)?.strip_suffix(".bin")?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// Every training file of `layout` in `dir`, in order (data_batch_2 before data_batch_10).
pub fn train_files(dir: &Path, layout: &Layout) -> Result<Vec<PathBuf>> {
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if let Some(n) = path.file_name().and_then(|n| n.to_str()).and_then(|n| layout.train.key(n)) {
            files.push((n, path));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// The training split (every training file) and the test split of `dir`.
pub fn load_dir(dir: &Path, format: Format) -> Result<(RawSplit, RawSplit)> {
    let layout = format.layout;
    let pattern = layout.train.pattern();
    let files = train_files(dir, layout)?;
    if files.is_empty() {
        bail!("{}: no {pattern} file", dir.display());
    }
    let mut train = RawSplit::default();
    for path in &files {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        train.extend_from_records(&bytes, path, format)?;
    }
    let test_path = dir.join(layout.test);
    if !test_path.exists() {
        bail!("{}: no {}", dir.display(), layout.test);
    }
    let test = read_file(&test_path, format)?;
    if train.is_empty() {
        bail!("{}: the {pattern} files hold no record", dir.display());
    }
    if test.is_empty() {
        bail!("{}: holds no record", test_path.display());
    }
    Ok((train, test))
}

/// Serialise records in the CIFAR-10 binary layout (the inverse of [`read_file`]).
pub fn encode_records(split: &RawSplit) -> Vec<u8> {
    let labels: Vec<[u8; 1]> = split.labels.iter().map(|&l| [l]).collect();
    encode(&labels, &split.images)
}

/// Serialise records of any layout: `labels[i]` holds record i's label bytes, in record order.
pub fn encode<L: AsRef<[u8]>>(labels: &[L], images: &[u8]) -> Vec<u8> {
    let per_record = labels.first().map_or(0, |l| l.as_ref().len());
    let mut out = Vec::with_capacity(labels.len() * (per_record + IMAGE_BYTES));
    for (label, image) in labels.iter().zip(images.chunks_exact(IMAGE_BYTES)) {
        out.extend_from_slice(label.as_ref());
        out.extend_from_slice(image);
    }
    out
}

/// Per-channel mean and standard deviation of the pixel values (0–255), over a split.
pub fn channel_stats(split: &RawSplit) -> ([f64; 3], [f64; 3]) {
    super::stats::channel_stats(&split.images, split.size * split.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(n: usize) -> RawSplit {
        RawSplit {
            images: (0..n * IMAGE_BYTES).map(|i| (i * 7 % 251) as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
            size: 32,
        }
    }

    #[test]
    fn round_trips_any_number_of_records() {
        let dir = tempfile::tempdir().unwrap();
        for n in [1, 3, 17] {
            let s = split(n);
            let p = dir.path().join(format!("f{n}.bin"));
            std::fs::write(&p, encode_records(&s)).unwrap();
            assert_eq!(read_file(&p, Format::CIFAR10).unwrap(), s);
        }
    }

    #[test]
    fn bad_size_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data_batch_1.bin");
        let mut bytes = encode_records(&split(2));
        bytes.pop();
        std::fs::write(&p, bytes).unwrap();
        let err = read_file(&p, Format::CIFAR10).unwrap_err().to_string();
        assert!(err.contains("data_batch_1.bin") && err.contains("6145 bytes"), "{err}");
    }

    #[test]
    fn bad_label_names_the_file_and_record() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("test_batch.bin");
        let mut bytes = encode_records(&split(3));
        bytes[2 * RECORD_BYTES] = 10;
        std::fs::write(&p, bytes).unwrap();
        let err = read_file(&p, Format::CIFAR10).unwrap_err().to_string();
        assert!(err.contains("test_batch.bin") && err.contains("record 2") && err.contains("label 10"), "{err}");
    }

    #[test]
    fn train_files_in_numeric_order_and_loaded_together() {
        let dir = tempfile::tempdir().unwrap();
        for (i, n) in [(10, 1), (2, 2), (1, 3)] {
            std::fs::write(dir.path().join(format!("data_batch_{i}.bin")), encode_records(&split(n))).unwrap();
        }
        std::fs::write(dir.path().join(TEST_FILE), encode_records(&split(4))).unwrap();
        let names: Vec<_> = train_files(dir.path(), &CIFAR10)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["data_batch_1.bin", "data_batch_2.bin", "data_batch_10.bin"]);
        let (train, test) = load_dir(dir.path(), Format::CIFAR10).unwrap();
        assert_eq!((train.len(), test.len()), (6, 4));
    }

    #[test]
    fn empty_files_are_files_of_no_records() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data_batch_1.bin"), b"").unwrap();
        std::fs::write(dir.path().join("data_batch_2.bin"), encode_records(&split(2))).unwrap();
        std::fs::write(dir.path().join(TEST_FILE), encode_records(&split(1))).unwrap();
        assert_eq!(load_dir(dir.path(), Format::CIFAR10).unwrap().0.len(), 2);
        std::fs::write(dir.path().join(TEST_FILE), b"").unwrap();
        assert!(load_dir(dir.path(), Format::CIFAR10).unwrap_err().to_string().contains("holds no record"));
    }

    #[test]
    fn only_numbered_data_batches_count() {
        assert_eq!(CIFAR10.train.key("data_batch_1.bin"), Some(1));
        assert_eq!(CIFAR10.train.key("data_batch_10.bin"), Some(10));
        for bad in
            ["data_batch_.bin", "data_batch_x.bin", "data_batch_1.bin.part", "test_batch.bin", "data_batch_-1.bin"]
        {
            assert_eq!(CIFAR10.train.key(bad), None, "{bad}");
        }
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_dir(dir.path(), Format::CIFAR10).unwrap_err().to_string().contains("no data_batch_*.bin"));
        std::fs::write(dir.path().join("data_batch_1.bin"), encode_records(&split(1))).unwrap();
        assert!(load_dir(dir.path(), Format::CIFAR10).unwrap_err().to_string().contains("no test_batch.bin"));
    }

    /// `n` CIFAR-100 records: fine label `i % 100`, coarse label `i % 20`, distinct images.
    fn cifar100_records(n: usize) -> (Vec<[u8; 2]>, Vec<u8>) {
        let labels = (0..n).map(|i| [(i % 20) as u8, (i % 100) as u8]).collect();
        let images = (0..n * IMAGE_BYTES).map(|i| (i * 13 % 253) as u8).collect();
        (labels, images)
    }

    #[test]
    fn cifar100_records_give_either_label() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train.bin");
        let (labels, images) = cifar100_records(130);
        let bytes = encode(&labels, &images);
        assert_eq!(bytes.len(), 130 * 3074);
        std::fs::write(&p, &bytes).unwrap();
        let fine = read_file(&p, Format::CIFAR100_FINE).unwrap();
        let coarse = read_file(&p, Format::CIFAR100_COARSE).unwrap();
        assert_eq!(fine.labels, labels.iter().map(|l| l[1]).collect::<Vec<_>>());
        assert_eq!(coarse.labels, labels.iter().map(|l| l[0]).collect::<Vec<_>>());
        assert_eq!(fine.labels[45], 45, "the second byte is the fine label");
        assert_eq!(coarse.labels[45], 5, "the first byte is the coarse label");
        assert_eq!((fine.images.clone(), coarse.images), (images.clone(), images));
        assert_eq!((Format::CIFAR100_FINE.classes(), Format::CIFAR100_COARSE.classes()), (100, 20));
        assert_eq!((CIFAR100.record_bytes(), CIFAR10.record_bytes(), Format::CIFAR10.classes()), (3074, 3073, 10));
    }

    #[test]
    fn cifar100_bad_size_names_the_file_and_the_record_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("test.bin");
        let (labels, images) = cifar100_records(3);
        let mut bytes = encode(&labels, &images);
        bytes.pop();
        std::fs::write(&p, &bytes).unwrap();
        let err = read_file(&p, Format::CIFAR100_FINE).unwrap_err().to_string();
        for part in ["test.bin", "9221 bytes", "3074-byte", "2 label bytes", "CIFAR-100"] {
            assert!(err.contains(part), "{part} missing from: {err}");
        }
        // A CIFAR-10 file (3073-byte records) read as CIFAR-100 is caught by its size too.
        std::fs::write(&p, encode_records(&split(2))).unwrap();
        assert!(read_file(&p, Format::CIFAR100_COARSE).unwrap_err().to_string().contains("6146 bytes"));
    }

    #[test]
    fn cifar100_bad_labels_name_the_file_record_and_label() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train.bin");
        let (labels, images) = cifar100_records(4);
        for (byte, value, name, range) in [(0, 20u8, "coarse label 20", "0–19"), (1, 100, "fine label 100", "0–99")]
        {
            let mut bytes = encode(&labels, &images);
            bytes[3 * 3074 + byte] = value;
            std::fs::write(&p, &bytes).unwrap();
            // Either choice of label checks both bytes: a bad one means another layout.
            for format in [Format::CIFAR100_FINE, Format::CIFAR100_COARSE] {
                let err = read_file(&p, format).unwrap_err().to_string();
                for part in ["train.bin", "record 3", name, range, "CIFAR-100"] {
                    assert!(err.contains(part), "{part} missing from: {err}");
                }
            }
        }
        // Fine labels 20–99 are valid fine labels, not coarse ones: no confusion of the two bytes.
        let ok: Vec<[u8; 2]> = vec![[19, 99]];
        std::fs::write(&p, encode(&ok, &images[..IMAGE_BYTES])).unwrap();
        assert_eq!(read_file(&p, Format::CIFAR100_FINE).unwrap().labels, [99]);
    }

    #[test]
    fn cifar100_folder_is_train_bin_and_test_bin() {
        let dir = tempfile::tempdir().unwrap();
        let (labels, images) = cifar100_records(7);
        let err = load_dir(dir.path(), Format::CIFAR100_FINE).unwrap_err().to_string();
        assert!(err.contains("no train.bin"), "{err}");
        std::fs::write(dir.path().join("train.bin"), encode(&labels, &images)).unwrap();
        // CIFAR-10's names do not count.
        std::fs::write(dir.path().join("data_batch_1.bin"), encode_records(&split(2))).unwrap();
        let err = load_dir(dir.path(), Format::CIFAR100_FINE).unwrap_err().to_string();
        assert!(err.contains("no test.bin"), "{err}");
        std::fs::write(dir.path().join("test.bin"), encode(&labels[..2], &images)).unwrap();
        let (train, test) = load_dir(dir.path(), Format::CIFAR100_COARSE).unwrap();
        assert_eq!((train.len(), test.len()), (7, 2));
        assert_eq!(train.labels, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(CIFAR100.train.key("train.bin"), Some(0));
        assert_eq!(CIFAR100.train.key("train.bin.part"), None);
    }

    #[test]
    fn channel_stats_match_by_hand() {
        let mut s = RawSplit { images: vec![0; 2 * IMAGE_BYTES], labels: vec![0, 1], size: 32 };
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
