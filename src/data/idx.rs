//! The IDX file format of MNIST and its relatives (LeCun et al.): a 4-byte magic number (two zero
//! bytes, a type byte, 0x08 for unsigned bytes, and the number of dimensions), then each
//! dimension as a big-endian u32, then the values in row-major order. Image files have 3
//! dimensions (N, rows, columns), label files 1 (N). Files may be gzipped (told by their first
//! two bytes, not their name). Sizes that disagree with the header, a wrong magic number or a
//! label out of range are errors that name the file.

use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::Path;

/// The type byte of unsigned bytes, the only one MNIST-format sets use.
const UBYTE: u8 = 0x08;

/// The images of an IDX image file: `count` images of `rows`×`cols` bytes, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Image `i`'s `rows * cols` bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// The whole content of `path`, gunzipped when it is gzipped.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .with_context(|| format!("{}: the gzip stream is corrupt or truncated", path.display()))?;
    Ok(out)
}

/// The dimensions of an IDX file of unsigned bytes with `dims` dimensions, and where its values start.
fn header(bytes: &[u8], dims: u8, what: &str, path: &Path) -> Result<(Vec<usize>, usize)> {
    let magic = bytes.get(..4).map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    let expected = u32::from_be_bytes([0, 0, UBYTE, dims]);
    if magic != Some(expected) {
        let found = magic.map_or("less than 4 bytes".to_string(), |m| format!("magic number {m:#010x}"));
        bail!("{}: not an IDX {what} file ({found}, expected {expected:#010x})", path.display());
    }
    let start = 4 + 4 * dims as usize;
    let Some(head) = bytes.get(4..start) else {
        bail!("{}: truncated IDX header ({} bytes)", path.display(), bytes.len());
    };
    let sizes = head.chunks_exact(4).map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize).collect();
    Ok((sizes, start))
}

/// The values after the header, which must be exactly `count` of them.
fn values<'a>(bytes: &'a [u8], start: usize, count: usize, path: &Path) -> Result<&'a [u8]> {
    let body = &bytes[start..];
    if body.len() != count {
        bail!(
            "{}: the IDX header promises {count} values, the file holds {}; the file is truncated or damaged",
            path.display(),
            body.len()
        );
    }
    Ok(body)
}

/// Read an IDX image file (N×rows×cols unsigned bytes).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    let bytes = read_bytes(path)?;
    let (dims, start) = header(&bytes, 3, "image", path)?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        bail!("{}: images of {rows}x{cols} pixels", path.display());
    }
    let total = count.checked_mul(rows * cols).with_context(|| format!("{}: impossible IDX sizes", path.display()))?;
    let pixels = values(&bytes, start, total, path)?.to_vec();
    Ok(IdxImages { count, rows, cols, pixels })
}

/// Read an IDX label file (N unsigned bytes), each below `classes`.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<u8>> {
    let bytes = read_bytes(path)?;
    let (dims, start) = header(&bytes, 1, "label", path)?;
    let labels = values(&bytes, start, dims[0], path)?;
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
        bail!("{}: label {i} is {l}, outside 0–{}", path.display(), classes - 1);
    }
    Ok(labels.to_vec())
}

/// The bytes of an IDX file of unsigned bytes with the given dimensions (the tests' files, and
/// the inverse of the readers).
pub fn encode(dims: &[usize], values: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(values);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn reads_images_and_labels_gzipped_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..3 * 4 * 5).map(|i| i as u8).collect();
        let images = encode(&[3, 4, 5], &pixels);
        for (name, bytes) in [("plain", images.clone()), ("named-plain.gz", gzip(&images))] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let read = read_images(&path).unwrap();
            assert_eq!((read.count, read.rows, read.cols), (3, 4, 5));
            assert_eq!(read.image(1), &pixels[20..40]);
        }
        let path = dir.path().join("labels");
        std::fs::write(&path, gzip(&encode(&[4], &[0, 9, 3, 1]))).unwrap();
        assert_eq!(read_labels(&path, 10).unwrap(), [0, 9, 3, 1]);
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-images-idx3-ubyte");
        let err = |bytes: Vec<u8>, labels: bool| {
            std::fs::write(&path, bytes).unwrap();
            let e = if labels { read_labels(&path, 10).unwrap_err() } else { read_images(&path).unwrap_err() };
            format!("{e:#}")
        };
        let mut truncated = encode(&[2, 3, 3], &[1; 18]);
        truncated.pop();
        let e = err(truncated, false);
        assert!(e.contains("train-images-idx3-ubyte") && e.contains("promises 18 values") && e.contains("17"), "{e}");
        let e = err(encode(&[3], &[1, 2, 3]), false);
        assert!(e.contains("not an IDX image file") && e.contains("0x00000801"), "{e}");
        let e = err(encode(&[2, 2, 2], &[0; 8]), true);
        assert!(e.contains("not an IDX label file"), "{e}");
        let e = err(encode(&[3], &[1, 10, 2]), true);
        assert!(e.contains("label 1 is 10, outside 0–9"), "{e}");
        assert!(err(b"\x00\x00".to_vec(), false).contains("less than 4 bytes"));
        assert!(err(vec![0, 0, 8, 3, 0, 0], false).contains("truncated IDX header"));
        let e = err(gzip(&encode(&[1], &[1]))[..10].to_vec(), true);
        assert!(e.contains("gzip stream is corrupt"), "{e}");
    }
}
