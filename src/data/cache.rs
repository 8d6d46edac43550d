//! An image folder decoded once into one packed uint8 file, which every later run memory-maps:
//! the training images sit in it already zero-padded for the random crop (3×(S+2p)×(S+2p) each),
//! the test images as they are (3×S×S), so that on the CPU both splits are views of the mapping
//! (nothing is copied, and a set larger than the memory still trains: the pages load as batches
//! touch them) and the usual device-resident pipeline runs on them unchanged. The file's trailer
//! records what it was built from (a fingerprint of every file's path, size and modification time,
//! the image size and the split), the classes, the labels and the training images' statistics; a
//! cache that no longer matches the folder is rebuilt. It is written beside its final name and
//! renamed into place when complete, so a cache is never half-written.
//!
//! Layout: `MAGIC`, zeros up to 4096, the training pixels, the test pixels, the labels (u16,
//! little-endian; training then test), the header as JSON, its length (u64, little-endian), `MAGIC`.

use super::decode::{self, Colour};
use super::folder::{self, Entry, Scan};
use super::stats::ChannelSums;
use super::{crop_pad, Data, Split};
use crate::config::{DataSettings, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE};
use crate::files;
use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};
use memmap2::{MmapMut, MmapOptions};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tch::Device;

const MAGIC: &[u8; 8] = b"CLRIMGS\0";
/// Changes whenever the layout or the decoding changes, so that old caches are rebuilt.
const VERSION: u32 = 1;
/// Where the pixels start (page-aligned).
const DATA_START: usize = 4096;
/// The default cache folder, inside the image folder.
pub const CACHE_FOLDER: &str = ".clr-cache";

/// What the cache holds besides the pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    version: u32,
    fingerprint: String,
    image_size: usize,
    pad: usize,
    classes: Vec<String>,
    train: Region,
    test: Region,
    mean: [f64; 3],
    std: [f64; 3],
    /// The files that could not be decoded and are left out.
    skipped: Vec<String>,
    held_out: String,
}

/// One split's images in the file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Region {
    count: usize,
    pixels: usize,
    labels: usize,
}

/// A cache file, mapped.
struct Mapped {
    header: Header,
    map: Arc<MmapMut>,
}

/// The settings' image folder as a run's data: through its cache, built first when it is missing
/// or stale.
pub fn load(settings: &DataSettings, device: Device, progress: bool) -> Result<Data> {
    let scan = folder::scan(&settings.data_dir, settings.valid_fraction)?;
    if scan.ignored > 0 {
        eprintln!("note: {} files in the class folders are not .png/.jpg/.jpeg images: left out", scan.ignored);
    }
    let path = cache_path(settings, &scan.dir);
    let fingerprint = fingerprint(&scan, settings.image_size);
    let mapped = match open(&path, &fingerprint)? {
        Some(mapped) => mapped,
        None => {
            build(&scan, settings, &path, &fingerprint, progress)?;
            open(&path, &fingerprint)?
                .with_context(|| format!("{}: the cache just built cannot be read", path.display()))?
        }
    };
    let skipped = &mapped.header.skipped;
    if let Some(first) = skipped.first() {
        if settings.strict {
            bail!("{first}: cannot be decoded (with {} other unreadable images; --strict)", skipped.len() - 1);
        }
        eprintln!(
            "note: {} unreadable images are left out (first: {first}); --strict makes that an error",
            skipped.len()
        );
    }
    to_data(&mapped, &scan.dir, &path, device)
}

/// The cache's path: `--cache-dir` (else DIR/.clr-cache), a name made of the folder's name and
/// path, the image size asked for and the held-out fraction.
fn cache_path(settings: &DataSettings, dir: &Path) -> PathBuf {
    let folder = settings.cache_dir.clone().unwrap_or_else(|| dir.join(CACHE_FOLDER));
    let canonical = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let id = format!("{:x}", Md5::digest(canonical.to_string_lossy().as_bytes()));
    let stem: String = canonical
        .file_name()
        .map(|n| n.to_string_lossy().chars().map(|c| if c.is_alphanumeric() || c == '-' { c } else { '_' }).collect())
        .unwrap_or_else(|| "images".into());
    let size = settings.image_size.map_or("auto".to_string(), |s| s.to_string());
    let split = settings.valid_fraction.map(|f| format!("-valid{f}")).unwrap_or_default();
    folder.join(format!("{stem}-{}-{size}{split}.clrcache", &id[..8]))
}

/// What the cache is built from, as hex: every file's split, class, path, size and modification
/// time, the classes, and the image size asked for.
fn fingerprint(scan: &Scan, image_size: Option<usize>) -> String {
    let mut md5 = Md5::new();
    md5.update(format!("v{VERSION} size {image_size:?} classes {:?}\n", scan.classes));
    for (split, entries) in [("train", &scan.train), ("test", &scan.test)] {
        for e in entries {
            let (secs, nanos) = e.modified;
            let path = e.path.strip_prefix(&scan.dir).unwrap_or(&e.path);
            md5.update(format!("{split} {} {} {} {secs}.{nanos:09}\n", e.class, path.display(), e.bytes));
        }
    }
    format!("{:x}", md5.finalize())
}

/// The cache at `path` when it is there, readable and built from these files; None (with a line
/// saying why, when there is one) when it must be built.
fn open(path: &Path, fingerprint: &str) -> Result<Option<Mapped>> {
    let Ok(mut file) = File::open(path) else { return Ok(None) };
    let header = match read_header(&mut file) {
        Ok(h) if h.version == VERSION && h.fingerprint == fingerprint => h,
        Ok(_) => {
            eprintln!("{}: the folder changed since this cache was built: rebuilding it", path.display());
            return Ok(None);
        }
        Err(e) => {
            eprintln!("{}: not a readable cache ({e:#}): rebuilding it", path.display());
            return Ok(None);
        }
    };
    // SAFETY: a private (copy-on-write) mapping of a file that clr only ever replaces by renaming
    // a new one over it, never rewrites in place: the pages mapped here do not change.
    let map =
        unsafe { MmapOptions::new().map_copy(&file) }.with_context(|| format!("cannot map {}", path.display()))?;
    Ok(Some(Mapped { header, map: Arc::new(map) }))
}

/// The JSON header from a cache file's trailer.
fn read_header(file: &mut File) -> Result<Header> {
    let len = file.metadata()?.len();
    anyhow::ensure!(len >= (DATA_START + 16) as u64, "too short");
    let mut trailer = [0u8; 16];
    file.seek(SeekFrom::Start(len - 16))?;
    file.read_exact(&mut trailer)?;
    anyhow::ensure!(&trailer[8..] == MAGIC, "no cache trailer");
    let json_len = u64::from_le_bytes(trailer[..8].try_into()?);
    anyhow::ensure!(json_len <= len - 16 - DATA_START as u64, "a header longer than the file");
    let mut json = vec![0u8; json_len as usize];
    file.seek(SeekFrom::Start(len - 16 - json_len))?;
    file.read_exact(&mut json)?;
    Ok(serde_json::from_slice(&json)?)
}

/// The labels of a region, each below `classes`; None when they are not inside the mapping.
fn labels(map: &[u8], region: Region, classes: usize) -> Option<Vec<i64>> {
    let bytes = map.get(region.labels..region.labels.checked_add(2 * region.count)?)?;
    let labels: Vec<i64> = bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as i64).collect();
    labels.iter().all(|&l| (l as usize) < classes).then_some(labels)
}

/// The mapped cache as the run's data (damage found here is an error that says to delete it).
fn to_data(mapped: &Mapped, dir: &Path, path: &Path, device: Device) -> Result<Data> {
    let h = &mapped.header;
    let (size, classes) = (h.image_size as i64, h.classes.len());
    let split = |region: Region, side: i64| {
        let labels = labels(&mapped.map, region, classes)?;
        Split::from_mapped(&mapped.map, region.pixels, side, &labels, device)
    };
    let pad = crop_pad(size);
    let splits = (h.pad as i64 == pad).then(|| Some((split(h.train, size + 2 * pad)?, split(h.test, size)?))).flatten();
    let Some(splits) = splits else {
        bail!("{}: the cache is damaged (its regions do not fit the file); delete it to rebuild it", path.display());
    };
    let source = format!(
        "image folder {} ({classes} classes, test split {}, {size}x{size} cached in {})",
        dir.display(),
        h.held_out,
        path.display()
    );
    let data = Data::from_splits(splits, (h.mean, h.std), classes, size, source);
    Ok(data.with_class_names(Some(h.classes.clone())))
}

/// The image size of a folder whose run does not give one: the images' own, when they all have
/// the same square size.
fn common_size(scan: &Scan) -> Result<usize> {
    let sizes: Vec<((u32, u32), &Path)> = scan
        .train
        .par_iter()
        .chain(scan.test.par_iter())
        .filter_map(|e| decode::dimensions(&e.path).ok().map(|d| (d, e.path.as_path())))
        .collect();
    let mut distinct: Vec<((u32, u32), &Path)> = Vec::new();
    for (dims, path) in sizes {
        if !distinct.iter().any(|(d, _)| *d == dims) {
            distinct.push((dims, path));
        }
    }
    let (valid, d) = (MIN_IMAGE_SIZE..=MAX_IMAGE_SIZE, scan.dir.display());
    match distinct.as_slice() {
        [] => bail!("{d}: none of the images can be read"),
        [((w, h), _)] if w == h && valid.contains(&(*w as usize)) => Ok(*w as usize),
        [((w, h), _)] => crate::usage!("--image-size: the images of {d} are {w}x{h}; pass --image-size S (S×S pixels)"),
        [((w1, h1), p1), ((w2, h2), p2), ..] => crate::usage!(
            "--image-size: the images of {d} differ in size ({} is {w1}x{h1}, {} is {w2}x{h2}, {} sizes in all); \
             pass --image-size S: each is resized so that its shorter side is S, then centre-cropped",
            p1.display(),
            p2.display(),
            distinct.len()
        ),
    }
}

/// The decoding of one split: which slots hold an image, their statistics, their colours, and
/// the files that failed (with why).
#[derive(Default)]
struct Decoded {
    ok: Vec<bool>,
    sums: ChannelSums,
    grey: usize,
    alpha: usize,
    failed: Vec<(PathBuf, String)>,
}

/// Decode `entries` in parallel into consecutive slots of `out`, each `side`×`side`×3 with the
/// image `pad` pixels in from the edges.
fn decode_split(
    entries: &[Entry],
    out: &mut [u8],
    side: usize,
    size: usize,
    pad: usize,
    bar: &indicatif::ProgressBar,
) -> Decoded {
    let slot = 3 * side * side;
    let results: Vec<Result<(Colour, ChannelSums), String>> = out
        .par_chunks_mut(slot)
        .zip(entries.par_iter())
        .map(|(slot, entry)| {
            let result = decode::open(&entry.path).map_err(|e| format!("{e:#}")).map(|image| {
                let colour = decode::colour_of(&image);
                let rgb = decode::fit(&image.to_rgb8(), size as u32);
                decode::write_planes(&rgb, slot, side, pad);
                let mut sums = ChannelSums::default();
                sums.add_rgb(rgb.as_raw());
                (colour, sums)
            });
            bar.inc(1);
            result
        })
        .collect();
    let mut decoded = Decoded::default();
    for (result, entry) in results.into_iter().zip(entries) {
        decoded.ok.push(result.is_ok());
        match result {
            Ok((colour, sums)) => {
                decoded.sums = decoded.sums.merge(sums);
                decoded.grey += (colour == Colour::Grey) as usize;
                decoded.alpha += (colour == Colour::Alpha) as usize;
            }
            Err(why) => decoded.failed.push((entry.path.clone(), why)),
        }
    }
    decoded
}

/// Move the slots that hold an image to the front, in order; returns how many there are.
fn compact(region: &mut [u8], ok: &[bool], slot: usize) -> usize {
    let mut kept = 0;
    for (i, _) in ok.iter().enumerate().filter(|(_, &ok)| ok) {
        if i != kept {
            region.copy_within(i * slot..(i + 1) * slot, kept * slot);
        }
        kept += 1;
    }
    kept
}

/// Decode the folder into a new cache at `path` (written beside it and renamed into place).
fn build(scan: &Scan, settings: &DataSettings, path: &Path, fingerprint: &str, progress: bool) -> Result<()> {
    let size = match settings.image_size {
        Some(s) => s,
        None => common_size(scan)?,
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(folder).with_context(|| {
        format!("cannot create the cache folder {}; pass --cache-dir to put the cache elsewhere", folder.display())
    })?;
    remove_stale_temps(path);
    let n = scan.train.len() + scan.test.len();
    eprintln!("decoding {n} images of {} at {size}x{size} into {}", scan.dir.display(), path.display());
    let started = Instant::now();
    let mut header = None;
    files::write_with(path, |tmp| {
        header = Some(write_cache(scan, size, fingerprint, tmp, settings.strict, progress)?);
        Ok(())
    })?;
    let h = header.expect("written");
    eprintln!(
        "cache built in {:.2} s: {} training and {} test images{}",
        started.elapsed().as_secs_f64(),
        h.train.count,
        h.test.count,
        if h.skipped.is_empty() { String::new() } else { format!(", {} unreadable images skipped", h.skipped.len()) }
    );
    Ok(())
}

/// Leftovers of builds that were killed (`.NAME.PID.tmp` of a process that is gone).
fn remove_stale_temps(path: &Path) {
    let (Some(folder), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return };
    let prefix = format!(".{name}.");
    for entry in fs::read_dir(folder).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(".tmp"));
        if pid.is_some_and(|pid| pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The whole cache file at `tmp`; returns its header.
fn write_cache(
    scan: &Scan,
    size: usize,
    fingerprint: &str,
    tmp: &Path,
    strict: bool,
    progress: bool,
) -> Result<Header> {
    let pad = crop_pad(size as i64) as usize;
    let (train_side, train_slot, test_slot) = (size + 2 * pad, 3 * (size + 2 * pad).pow(2), 3 * size * size);
    let test_at = DATA_START + scan.train.len() * train_slot;
    let end = test_at + scan.test.len() * test_slot;
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(tmp)?;
    file.set_len(end as u64).with_context(|| format!("cannot write {}", tmp.display()))?;
    // SAFETY: a file this process has just created under a private temporary name.
    let mut map = unsafe { MmapMut::map_mut(&file) }.with_context(|| format!("cannot map {}", tmp.display()))?;
    map[..MAGIC.len()].copy_from_slice(MAGIC);
    let bar = progress_bar(progress, (scan.train.len() + scan.test.len()) as u64);
    let (train_pixels, test_pixels) = map[DATA_START..end].split_at_mut(test_at - DATA_START);
    let train = decode_split(&scan.train, train_pixels, train_side, size, pad, &bar);
    let test = decode_split(&scan.test, test_pixels, size, size, 0, &bar);
    bar.finish_and_clear();
    let skipped = report_failures(&train, &test, strict)?;
    check_classes_kept(scan, &train)?;
    let (kept_train, kept_test) =
        (compact(train_pixels, &train.ok, train_slot), compact(test_pixels, &test.ok, test_slot));
    if kept_test == 0 {
        bail!("{}: none of the {} test images can be decoded", scan.dir.display(), scan.test.len());
    }
    map.flush().with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(map);
    let (grey, alpha) = (train.grey + test.grey, train.alpha + test.alpha);
    let converted: Vec<String> = [(grey, "grey"), (alpha, "RGBA")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if !converted.is_empty() {
        let what = converted.join(" and ");
        eprintln!("note: {what} images converted to RGB (grey replicated to 3 channels, alpha dropped)");
    }
    let (mean, std) = train.sums.finish();
    let label_bytes = 2 * kept_train;
    let header = Header {
        version: VERSION,
        fingerprint: fingerprint.to_string(),
        image_size: size,
        pad,
        classes: scan.classes.clone(),
        train: Region { count: kept_train, pixels: DATA_START, labels: end },
        test: Region { count: kept_test, pixels: test_at, labels: end + label_bytes },
        mean,
        std,
        skipped,
        held_out: scan.held_out.clone(),
    };
    append_trailer(file, end, &header, [(&scan.train, &train.ok), (&scan.test, &test.ok)])
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    Ok(header)
}

fn progress_bar(on: bool, total: u64) -> indicatif::ProgressBar {
    if !on {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("decoding {bar:40} {pos}/{len} images {per_sec} ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// One warning per file that could not be decoded and the paths to record; under `strict`, the
/// first of them is the error.
fn report_failures(train: &Decoded, test: &Decoded, strict: bool) -> Result<Vec<String>> {
    let failed: Vec<&(PathBuf, String)> = train.failed.iter().chain(&test.failed).collect();
    if let (true, Some((path, why))) = (strict, failed.first()) {
        bail!("{}: {why} (--strict: every image must decode; {} cannot)", path.display(), failed.len());
    }
    for (path, why) in &failed {
        eprintln!("warning: skipping {}: {why}", path.display());
    }
    if !failed.is_empty() {
        eprintln!("warning: {} unreadable images skipped (--strict makes this an error)", failed.len());
    }
    Ok(failed.iter().map(|(p, _)| p.display().to_string()).collect())
}

/// Every class keeps at least one training image.
fn check_classes_kept(scan: &Scan, train: &Decoded) -> Result<()> {
    for (class, name) in scan.classes.iter().enumerate() {
        let kept = scan.train.iter().zip(&train.ok).filter(|(e, &ok)| ok && e.class as usize == class).count();
        if kept == 0 {
            bail!("{}: class {name} has no training image that can be decoded", scan.dir.display());
        }
    }
    Ok(())
}

/// The labels of the kept images of each split, the header and its length, after the pixels.
fn append_trailer(file: File, end: usize, header: &Header, splits: [(&Vec<Entry>, &Vec<bool>); 2]) -> Result<()> {
    let mut out = BufWriter::new(file);
    out.seek(SeekFrom::Start(end as u64))?;
    for (entries, ok) in splits {
        for (entry, _) in entries.iter().zip(ok).filter(|(_, &ok)| ok) {
            out.write_all(&entry.class.to_le_bytes())?;
        }
    }
    let json = serde_json::to_vec(header)?;
    out.write_all(&json)?;
    out.write_all(&(json.len() as u64).to_le_bytes())?;
    out.write_all(MAGIC)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
