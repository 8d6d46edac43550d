//! Finding CIFAR-10 or CIFAR-100 on disk, or fetching it (`clr download`): stream the official binary
//! archive (resuming a partial download), verify its MD5, then extract only the expected members
//! into a temporary folder that is renamed into place, so a failure never leaves half-written data
//! where good data is expected. One [`Archive`] per data set says what to fetch and what it holds;
//! the logic is the same for both.

use super::cifar::{self, Layout};
use crate::files;
use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const CIFAR10_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
pub const CIFAR10_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
pub const URL_ENV: &str = "CLR_CIFAR10_URL";
pub const MD5_ENV: &str = "CLR_CIFAR10_MD5";
pub const ARCHIVE_NAME: &str = "cifar-10-binary.tar.gz";
pub const BATCH_DIR: &str = "cifar-10-batches-bin";
/// Written beside the extracted batches: where they came from and how big each file is.
pub const MARKER: &str = ".clr-source.json";

/// An official archive of a data set in a CIFAR binary layout: where it is, how to check it,
/// where it unpacks and which of its members are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Archive {
    /// The data set's files and records (its name is the one messages use).
    pub layout: &'static Layout,
    /// The `--dataset` value, for the commands that messages suggest.
    pub dataset: &'static str,
    pub url: &'static str,
    pub md5: &'static str,
    /// Size of the official archive, for the message that explains an install by hand.
    pub bytes: u64,
    /// The archive's file name in `--data-dir`.
    pub file: &'static str,
    /// The folder its members are in, and that it is extracted to in `--data-dir`.
    pub folder: &'static str,
    /// Members kept besides the data files (label names, readme).
    pub extras: &'static [&'static str],
    pub url_env: &'static str,
    pub md5_env: &'static str,
}

pub const CIFAR10: Archive = Archive {
    layout: &cifar::CIFAR10,
    dataset: "cifar10",
    url: CIFAR10_URL,
    md5: CIFAR10_MD5,
    bytes: 170_052_171,
    file: ARCHIVE_NAME,
    folder: BATCH_DIR,
    extras: &["batches.meta.txt", "readme.html"],
    url_env: URL_ENV,
    md5_env: MD5_ENV,
};

pub const CIFAR100: Archive = Archive {
    layout: &cifar::CIFAR100,
    dataset: "cifar100",
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    md5: "03b5dce01913d631647c71ecec9e9cb8",
    bytes: 168_513_733,
    file: "cifar-100-binary.tar.gz",
    folder: "cifar-100-binary",
    extras: &["coarse_label_names.txt", "fine_label_names.txt"],
    url_env: "CLR_CIFAR100_URL",
    md5_env: "CLR_CIFAR100_MD5",
};

impl Archive {
    fn name(&self) -> &'static str {
        self.layout.name
    }

    /// Where a download in progress is kept, so that a rerun resumes it.
    fn part(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(format!("{}.part", self.file))
    }

    /// The temporary folder an extraction writes into.
    fn partial_dir(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(format!(".{}.partial", self.folder))
    }

    /// Where a replaced extraction waits until the new one is in place.
    fn old_dir(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(format!(".{}.old", self.folder))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOptions {
    /// What to fetch (official URL and MD5, folder, members).
    pub archive: &'static Archive,
    pub url: String,
    /// Lower-case hex.
    pub md5: String,
    pub data_dir: PathBuf,
    pub progress: bool,
}

impl DownloadOptions {
    /// Each of url and md5: the flag, else its environment variable, else the official value.
    /// A URL that is not http(s) or an MD5 that is not 32 hex digits is a usage error.
    pub fn from_env(
        archive: &'static Archive,
        data_dir: impl Into<PathBuf>,
        url: Option<String>,
        md5: Option<String>,
        progress: bool,
    ) -> Result<Self> {
        resolve(archive, data_dir.into(), url, md5, progress, |name| std::env::var(name).ok())
    }
}

/// `from_env` with the environment passed in, so tests need not touch the process environment.
fn resolve(
    archive: &'static Archive,
    data_dir: PathBuf,
    url: Option<String>,
    md5: Option<String>,
    progress: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<DownloadOptions> {
    let (url, url_from) = pick(url, "--url", archive.url_env, archive.url, "the official URL", &env);
    let (md5, md5_from) = pick(md5, "--md5", archive.md5_env, archive.md5, "the official MD5", &env);
    let url = valid_url(&url, url_from)?;
    let md5 = valid_md5(&md5, md5_from)?;
    Ok(DownloadOptions { archive, url, md5, data_dir, progress })
}

/// The flag's value, else the environment variable's (when not blank), else the official one;
/// and which of the three it is, for messages.
pub fn pick(
    flag: Option<String>,
    flag_name: &'static str,
    var: &'static str,
    official: &str,
    official_name: &'static str,
    env: impl Fn(&str) -> Option<String>,
) -> (String, &'static str) {
    match (flag, env(var).filter(|v| !v.trim().is_empty())) {
        (Some(v), _) => (v, flag_name),
        (None, Some(v)) => (v, var),
        (None, None) => (official.to_string(), official_name),
    }
}

/// `url`, trimmed, when it is http(s); else a usage error naming where it came from.
pub fn valid_url(url: &str, from: &str) -> Result<String> {
    let url = url.trim().to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        crate::usage!("{from}: {url:?} is not an http:// or https:// URL");
    }
    Ok(url)
}

/// `md5` in lower case when it is 32 hex digits; else a usage error naming where it came from.
pub fn valid_md5(md5: &str, from: &str) -> Result<String> {
    let md5 = md5.trim().to_ascii_lowercase();
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        crate::usage!("{from}: {md5:?} is not an MD5 checksum (32 hex digits)");
    }
    Ok(md5)
}

/// What `download` did; both hold the folder with the `.bin` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Valid data was already on disk; nothing was fetched or written.
    AlreadyPresent(PathBuf),
    /// The archive was verified and extracted (fetched first, unless it was found at
    /// `<data_dir>/cifar-10-binary.tar.gz`, or `cifar-100-binary.tar.gz`).
    Downloaded(PathBuf),
}

impl Outcome {
    pub fn dir(&self) -> &Path {
        match self {
            Outcome::AlreadyPresent(dir) | Outcome::Downloaded(dir) => dir,
        }
    }
}

/// Provenance of an extraction, so a later call can tell complete data from damaged data.
#[derive(Debug, Serialize, Deserialize)]
struct Source {
    url: String,
    md5: String,
    files: BTreeMap<String, u64>,
}

/// The folder that holds the archive's data files (CIFAR-10: data_batch_*.bin + test_batch.bin,
/// CIFAR-100: train.bin + test.bin): data_dir itself or data_dir/FOLDER (cifar-10-batches-bin,
/// cifar-100-binary).
pub fn locate(data_dir: &Path, archive: &Archive) -> Option<PathBuf> {
    [data_dir.to_path_buf(), data_dir.join(archive.folder)].into_iter().find(|dir| holds_data(dir, archive.layout))
}

fn holds_data(dir: &Path, layout: &Layout) -> bool {
    let has_train_file = || {
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_str().is_some_and(|n| layout.train.key(n).is_some()) && e.path().is_file())
    };
    dir.join(layout.test).is_file() && has_train_file()
}

/// What training commands call: locate, else download unless no_download (then a usage error
/// saying how to get the data).
pub fn ensure(opts: &DownloadOptions, no_download: bool) -> Result<PathBuf> {
    // A folder that is there but cannot be read is not missing: say why, and download nothing.
    let a = opts.archive;
    for dir in [opts.data_dir.clone(), opts.data_dir.join(a.folder)] {
        if dir.exists() {
            fs::read_dir(&dir)
                .with_context(|| format!("--data-dir {}: cannot read {}", opts.data_dir.display(), dir.display()))?;
        }
    }
    if let Some(dir) = locate(&opts.data_dir, a) {
        return Ok(dir);
    }
    let d = opts.data_dir.display();
    if no_download {
        crate::usage!(
            "--data-dir {d}: no {} files ({}) in {d} or {d}/{}; run `clr download --data-dir {d} \
             --dataset {}` or drop --no-download",
            a.name(),
            a.layout.files_text(),
            a.folder,
            a.dataset
        );
    }
    eprintln!("{} not found in {d}; downloading it", a.name());
    Ok(download(opts)?.dir().to_path_buf())
}

/// Make the data set available under `opts.data_dir`: do nothing when valid data is there, else
/// verify and extract `<data_dir>/<archive file>` (fetched first when absent).
pub fn download(opts: &DownloadOptions) -> Result<Outcome> {
    if let Some(dir) = present(opts) {
        return Ok(Outcome::AlreadyPresent(dir));
    }
    let data_dir = &opts.data_dir;
    let md5_env = opts.archive.md5_env;
    fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let archive = data_dir.join(opts.archive.file);
    if archive.is_file() {
        // Put there by hand or kept from an earlier run: no network needed.
        eprintln!("verifying {}", archive.display());
        let actual = md5_file(&archive)?;
        if actual != opts.md5 {
            bail!(
                "{}: MD5 is {actual}, expected {}; delete it to download again, or pass its \
                 checksum with --md5 (or {md5_env}) if it is a repackaged archive",
                archive.display(),
                opts.md5
            );
        }
    } else {
        let part = opts.archive.part(data_dir);
        eprintln!("downloading {} to {}", opts.url, archive.display());
        fetch(&opts.remote(), &part)?;
        let actual = md5_file(&part)?;
        if actual != opts.md5 {
            let _ = fs::remove_file(&part);
            bail!(
                "checksum mismatch for {}: expected MD5 {}, got {actual}; the download was \
                 deleted. If this mirror serves a repackaged archive, pass its checksum with \
                 --md5 (or {md5_env})",
                opts.url,
                opts.md5
            );
        }
        fs::rename(&part, &archive).with_context(|| format!("cannot move {} into place", archive.display()))?;
    }
    extract(&archive, opts).map(Outcome::Downloaded)
}

/// The batch folder when it is valid: its marker matches the expected MD5 and file sizes, or it
/// has no marker but holds the batches (files placed by hand count as present).
fn present(opts: &DownloadOptions) -> Option<PathBuf> {
    let dir = opts.data_dir.join(opts.archive.folder);
    let marker = dir.join(MARKER);
    if !marker.exists() {
        return locate(&opts.data_dir, opts.archive);
    }
    let source: Source = serde_json::from_slice(&fs::read(&marker).ok()?).ok()?;
    let sizes_match = source
        .files
        .iter()
        .all(|(name, &size)| fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file() && m.len() == size));
    (source.md5.eq_ignore_ascii_case(&opts.md5) && sizes_match && holds_data(&dir, opts.archive.layout)).then_some(dir)
}

/// Hex MD5 of a whole file.
pub fn md5_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Md5::new();
    io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:x}", hasher.finalize()))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        // Statuses are checked here, so that 206 and 416 can steer a resume.
        .http_status_as_error(false)
        // A stalled connection becomes an "interrupted" error that a rerun resumes.
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("clr/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// One file to fetch, and what the messages about it say.
pub struct Remote {
    pub url: String,
    pub progress: bool,
    /// The variable that names a mirror (`CLR_CIFAR10_URL`), for the hint after an HTTP error.
    pub url_env: &'static str,
    /// How to install the data by hand, said when the server cannot be reached.
    pub by_hand: String,
}

impl DownloadOptions {
    /// The archive as a file to fetch.
    fn remote(&self) -> Remote {
        let a = self.archive;
        Remote {
            url: self.url.clone(),
            progress: self.progress,
            url_env: a.url_env,
            by_hand: format!(
                "to install {} by hand, fetch {} ({} bytes, MD5 {}) and put it at {}, or point --url (or {}) at a \
                 mirror",
                a.name(),
                a.url,
                a.bytes,
                a.md5,
                self.data_dir.join(a.file).display(),
                a.url_env
            ),
        }
    }
}

/// Stream `opts.url` into `part`, continuing an existing `part` with a Range request.
pub fn fetch(opts: &Remote, part: &Path) -> Result<()> {
    let agent = agent();
    let mut offset = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    // Two passes at most: a .part the server cannot continue is dropped once and fetched whole.
    for _ in 0..2 {
        // identity: the bytes on disk must be the archive itself, never a re-encoding of it.
        let mut request = agent.get(&opts.url).header("Accept-Encoding", "identity");
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
        }
        let response = request.call().map_err(|e| unreachable(opts, e))?;
        let (start, total) = response
            .headers()
            .get("Content-Range")
            .and_then(|v| v.to_str().ok())
            .map_or((None, None), parse_content_range);
        let length = response.body().content_length();
        match response.status().as_u16() {
            200 => return stream(opts, response, part, 0, length),
            206 if start == Some(offset) => {
                let total = total.or(length.map(|n| n + offset));
                return stream(opts, response, part, offset, total);
            }
            // The .part already holds the whole file (a run that stopped before verifying it).
            416 if offset > 0 && total == Some(offset) => return Ok(()),
            206 | 416 if offset > 0 => {
                fs::remove_file(part).with_context(|| format!("cannot remove {}", part.display()))?;
                offset = 0;
            }
            _ => bail!("{} answered HTTP {}; check --url (or {})", opts.url, response.status(), opts.url_env),
        }
    }
    bail!("{} answered range requests inconsistently", opts.url)
}

/// `bytes START-END/TOTAL` or `bytes */TOTAL` → (START, TOTAL).
fn parse_content_range(value: &str) -> (Option<u64>, Option<u64>) {
    let Some(rest) = value.trim().strip_prefix("bytes ") else {
        return (None, None);
    };
    let (range, total) = rest.split_once('/').unwrap_or((rest, "*"));
    let start = range.split_once('-').and_then(|(s, _)| s.trim().parse().ok());
    (start, total.trim().parse().ok())
}

/// A transport failure (DNS, refused connection, TLS): say how to install the data by hand.
fn unreachable(opts: &Remote, err: ureq::Error) -> anyhow::Error {
    anyhow::Error::new(err).context(format!("cannot download {}; {}", opts.url, opts.by_hand))
}

/// Write the response body to `part` from byte `offset` on (truncating when 0, appending else).
fn stream(
    opts: &Remote,
    response: ureq::http::Response<ureq::Body>,
    part: &Path,
    offset: u64,
    total: Option<u64>,
) -> Result<()> {
    let file = if offset == 0 { File::create(part) } else { OpenOptions::new().append(true).open(part) }
        .with_context(|| format!("cannot open {}", part.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let bar = progress_bar(opts.progress, total, offset);
    let mut done = offset;
    let pumped = pump(&mut response.into_body().into_reader(), &mut out, |n| {
        done += n;
        bar.set_position(done);
    });
    bar.finish_and_clear();
    // Keep every byte received, even after a read error, so that a rerun resumes from there.
    let written = out.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all());
    let interrupted = || {
        let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
        format!(
            "download of {} interrupted after {done}{of} bytes; run the same command again to \
             resume",
            opts.url
        )
    };
    match pumped {
        Err(Pump::Write(e)) => return Err(e).with_context(|| format!("cannot write {}", part.display())),
        Err(Pump::Read(e)) => return Err(e).with_context(interrupted),
        Ok(_) => {}
    }
    written.with_context(|| format!("cannot write {}", part.display()))?;
    if total.is_some_and(|t| done < t) {
        bail!(interrupted());
    }
    Ok(())
}

fn progress_bar(on: bool, total: Option<u64>, position: u64) -> ProgressBar {
    if !on {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(t) => (ProgressBar::new(t), "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"),
        None => (ProgressBar::new_spinner(), "{spinner} {bytes} {bytes_per_sec}"),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_position(position);
    // A resumed download starts part-way; the rate must count only this run's bytes.
    bar.reset_eta();
    bar
}

/// Which side of a copy failed: reading the source or writing the destination.
enum Pump {
    Read(io::Error),
    Write(io::Error),
}

/// Copy until end of input, calling `progress` with each chunk's length.
fn pump(from: &mut impl Read, to: &mut impl Write, mut progress: impl FnMut(u64)) -> Result<u64, Pump> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Pump::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(Pump::Write)?;
        copied += n as u64;
        progress(n as u64);
    }
}

/// Extract into a temporary folder, then rename it to `<data_dir>/<folder>`
/// (cifar-10-batches-bin, cifar-100-binary).
fn extract(archive: &Path, opts: &DownloadOptions) -> Result<PathBuf> {
    let partial = opts.archive.partial_dir(&opts.data_dir);
    remove_dir_if_present(&partial)?;
    fs::create_dir(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let unpacked = unpack(archive, opts.archive, &partial).and_then(|files| {
        let source = Source { url: opts.url.clone(), md5: opts.md5.clone(), files };
        files::write_json(&partial.join(MARKER), &source)
    });
    if let Err(e) = unpacked {
        let _ = fs::remove_dir_all(&partial);
        return Err(e);
    }
    let target = opts.data_dir.join(opts.archive.folder);
    replace_dir(&partial, &target, &opts.archive.old_dir(&opts.data_dir))?;
    Ok(target)
}

/// Write the expected members of the archive, flat, into `dest`; return their sizes.
fn unpack(archive: &Path, expected: &Archive, dest: &Path) -> Result<BTreeMap<String, u64>> {
    let corrupt = || {
        format!(
            "cannot extract {}: the archive is corrupt or truncated (delete it to fetch it again)",
            archive.display()
        )
    };
    let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let mut tar = tar::Archive::new(MultiGzDecoder::new(BufReader::new(file)));
    let mut files = BTreeMap::new();
    for entry in tar.entries().with_context(corrupt)? {
        let mut entry = entry.with_context(corrupt)?;
        let Some(name) = member_name(&entry.path_bytes(), expected) else {
            continue;
        };
        // Regular files only: links, devices and folders could point outside `dest`. One that
        // takes a data file's name is refused, not skipped: the data would lack that file.
        let data_file = expected.layout.train.key(&name).is_some() || name == expected.layout.test;
        if !entry.header().entry_type().is_file() && !data_file {
            continue;
        }
        if !entry.header().entry_type().is_file() {
            bail!(
                "cannot extract {}: its member {}/{name} is a {:?} entry, not a regular file",
                archive.display(),
                expected.folder,
                entry.header().entry_type()
            );
        }
        let path = dest.join(&name);
        let size = entry.size();
        let mut out = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let copied = match pump(&mut entry, &mut out, |_| {}) {
            Ok(n) => n,
            Err(Pump::Read(e)) => return Err(e).with_context(corrupt),
            Err(Pump::Write(e)) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
        };
        if copied != size {
            bail!(corrupt());
        }
        out.sync_all().with_context(|| format!("cannot write {}", path.display()))?;
        files.insert(name, size);
    }
    let layout = expected.layout;
    if !files.contains_key(layout.test) || !files.keys().any(|n| layout.train.key(n).is_some()) {
        bail!(
            "{} does not hold {} data: expected {} and {} in {}/",
            archive.display(),
            layout.name,
            layout.train.pattern(),
            layout.test,
            expected.folder
        );
    }
    if let Some(name) = missing_train_file(&files, layout) {
        bail!("{} lacks {}/{name}, but holds later training files", archive.display(), expected.folder);
    }
    Ok(files)
}

/// The first numbered training file missing before the last one present (`data_batch_1.bin`
/// when the archive holds 2 to 5): a member lost in packing, not a subset.
fn missing_train_file(files: &BTreeMap<String, u64>, layout: &Layout) -> Option<String> {
    let numbers: std::collections::BTreeSet<u64> = files.keys().filter_map(|n| layout.train.key(n)).collect();
    let cifar::TrainFiles::Numbered(prefix) = layout.train else { return None };
    (1..=numbers.last().copied().unwrap_or(0)).find(|n| !numbers.contains(n)).map(|n| format!("{prefix}{n}.bin"))
}

/// The file name of an expected member (`FOLDER/NAME`, optionally after `./`); `None` for
/// everything else, so absolute paths and `..` can never be written.
fn member_name(path: &[u8], archive: &Archive) -> Option<String> {
    let path = std::str::from_utf8(path).ok()?;
    let (dir, name) = path.strip_prefix("./").unwrap_or(path).split_once('/')?;
    let layout = archive.layout;
    let expected = layout.train.key(name).is_some() || name == layout.test || archive.extras.contains(&name);
    (dir == archive.folder && expected).then(|| name.to_string())
}

/// Put `new` at `target`; an existing `target` (damaged or from another archive) is moved to
/// `old` first and removed after, so `target` is never a mix of both.
fn replace_dir(new: &Path, target: &Path, old: &Path) -> Result<()> {
    let install = || fs::rename(new, target).with_context(|| format!("cannot move {} into place", target.display()));
    if fs::symlink_metadata(target).is_err() {
        return install();
    }
    remove_dir_if_present(old)?;
    fs::rename(target, old).with_context(|| format!("cannot move {} aside", target.display()))?;
    if let Err(e) = install() {
        let _ = fs::rename(old, target);
        return Err(e);
    }
    let _ = fs::remove_dir_all(old);
    Ok(())
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code;

    fn opts(dir: &Path) -> DownloadOptions {
        DownloadOptions {
            archive: &CIFAR10,
            url: "http://127.0.0.1:9/never-used".into(),
            md5: CIFAR10_MD5.into(),
            data_dir: dir.to_path_buf(),
            progress: false,
        }
    }

    /// A .tar.gz of (path, bytes) members.
    fn tar_gz(members: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (path, bytes) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, path, *bytes).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn md5_hex(bytes: &[u8]) -> String {
        format!("{:x}", Md5::digest(bytes))
    }

    #[test]
    fn flag_beats_env_beats_official() {
        let env = |name: &str| match name {
            URL_ENV => Some("https://mirror.example/c.tgz".to_string()),
            MD5_ENV => Some("ABCDEF0123456789ABCDEF0123456789".to_string()),
            _ => None,
        };
        let o = resolve(&CIFAR10, "d".into(), None, None, true, env).unwrap();
        assert_eq!(o.url, "https://mirror.example/c.tgz");
        assert_eq!(o.md5, "abcdef0123456789abcdef0123456789");
        let flag_md5 = Some("0".repeat(32));
        let o = resolve(&CIFAR10, "d".into(), Some("http://x/y".into()), flag_md5, true, env).unwrap();
        assert_eq!((o.url.as_str(), o.md5.as_str()), ("http://x/y", "0".repeat(32).as_str()));
        let o = resolve(&CIFAR10, "d".into(), None, None, false, |_| Some(" ".into())).unwrap();
        assert_eq!((o.url.as_str(), o.md5.as_str()), (CIFAR10_URL, CIFAR10_MD5));
        assert_eq!(o.data_dir, PathBuf::from("d"));
    }

    #[test]
    fn bad_md5_or_url_is_a_usage_error_naming_its_source() {
        let err = resolve(&CIFAR10, "d".into(), None, Some("xyz".into()), true, |_| None).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("--md5"), "{err}");
        let env = |n: &str| (n == MD5_ENV).then(|| "g".repeat(32));
        let err = resolve(&CIFAR10, "d".into(), None, None, true, env).unwrap_err();
        assert!(err.to_string().contains(MD5_ENV), "{err}");
        let err = resolve(&CIFAR10, "d".into(), Some("ftp://x".into()), None, true, |_| None).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("--url"), "{err}");
    }

    #[test]
    fn cifar100_reads_its_own_variables_and_official_values() {
        // CIFAR-10's variables never steer a CIFAR-100 download, and the other way round.
        let env = |name: &str| match name {
            "CLR_CIFAR100_URL" => Some("http://mirror/c100.tgz".to_string()),
            URL_ENV => Some("http://mirror/c10.tgz".to_string()),
            MD5_ENV => Some("1".repeat(32)),
            _ => None,
        };
        let o = resolve(&CIFAR100, "d".into(), None, None, true, env).unwrap();
        assert_eq!((o.url.as_str(), o.md5.as_str()), ("http://mirror/c100.tgz", "03b5dce01913d631647c71ecec9e9cb8"));
        assert_eq!(o.archive, &CIFAR100);
        let o = resolve(&CIFAR10, "d".into(), None, None, true, env).unwrap();
        assert_eq!((o.url.as_str(), o.md5.as_str()), ("http://mirror/c10.tgz", "1".repeat(32).as_str()));
        let o = resolve(&CIFAR100, "d".into(), None, None, true, |_| None).unwrap();
        assert_eq!(o.url, "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz");
        let bad = |n: &str| (n == "CLR_CIFAR100_MD5").then(|| "xyz".to_string());
        let err = resolve(&CIFAR100, "d".into(), None, None, true, bad).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("CLR_CIFAR100_MD5"), "{err}");
        assert_eq!(CIFAR100.part(Path::new("d")), Path::new("d/cifar-100-binary.tar.gz.part"));
        assert_eq!(CIFAR100.partial_dir(Path::new("d")), Path::new("d/.cifar-100-binary.partial"));
    }

    #[test]
    fn cifar100_members_and_folders() {
        let ok = |p: &str| member_name(p.as_bytes(), &CIFAR100);
        for name in ["train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt"] {
            assert_eq!(ok(&format!("cifar-100-binary/{name}")).as_deref(), Some(name));
            assert_eq!(ok(&format!("./cifar-100-binary/{name}")).as_deref(), Some(name));
        }
        for bad in [
            "cifar-100-binary/data_batch_1.bin",
            "cifar-100-binary/test_batch.bin",
            "cifar-10-batches-bin/train.bin",
            "cifar-100-binary/../train.bin",
            "/cifar-100-binary/train.bin",
            "train.bin",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
        assert_eq!(
            member_name(b"cifar-10-batches-bin/data_batch_1.bin", &CIFAR10).as_deref(),
            Some("data_batch_1.bin")
        );
        assert_eq!(member_name(b"cifar-100-binary/train.bin", &CIFAR10), None);

        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("cifar-100-binary");
        fs::create_dir(&nested).unwrap();
        fs::write(nested.join("test.bin"), b"x").unwrap();
        assert_eq!(locate(dir.path(), &CIFAR100), None, "test.bin alone is not enough");
        fs::write(nested.join("train.bin"), b"x").unwrap();
        assert_eq!(locate(dir.path(), &CIFAR100), Some(nested.clone()));
        assert_eq!(locate(&nested, &CIFAR100), Some(nested.clone()));
        assert_eq!(locate(dir.path(), &CIFAR10), None, "CIFAR-100 files are not CIFAR-10 batches");
        let err = ensure(&DownloadOptions { archive: &CIFAR100, ..opts(&dir.path().join("none")) }, true).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        for part in ["CIFAR-100", "train.bin and test.bin", "cifar-100-binary", "--dataset cifar100"] {
            assert!(err.to_string().contains(part), "{part} missing from: {err}");
        }
    }

    #[test]
    fn content_range_forms() {
        assert_eq!(parse_content_range("bytes 100-199/200"), (Some(100), Some(200)));
        assert_eq!(parse_content_range("bytes 5-9/*"), (Some(5), None));
        assert_eq!(parse_content_range("bytes */300"), (None, Some(300)));
        assert_eq!(parse_content_range("items 1-2/3"), (None, None));
    }

    #[test]
    fn only_expected_members_are_named() {
        let ok = |p: &str| member_name(p.as_bytes(), &CIFAR10);
        assert_eq!(ok("cifar-10-batches-bin/data_batch_1.bin").as_deref(), Some("data_batch_1.bin"));
        assert_eq!(ok("./cifar-10-batches-bin/test_batch.bin").as_deref(), Some("test_batch.bin"));
        assert_eq!(ok("cifar-10-batches-bin/readme.html").as_deref(), Some("readme.html"));
        for bad in [
            "/cifar-10-batches-bin/test_batch.bin",
            "cifar-10-batches-bin/../test_batch.bin",
            "../cifar-10-batches-bin/test_batch.bin",
            "cifar-10-batches-bin/sub/test_batch.bin",
            "cifar-10-batches-bin/data_batch_.bin",
            "cifar-10-batches-bin/data_batch_x.bin",
            "cifar-10-batches-bin/evil.sh",
            "test_batch.bin",
            "other/test_batch.bin",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }

    #[test]
    fn md5_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"").unwrap();
        assert_eq!(md5_file(&path).unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
        assert!(md5_file(&dir.path().join("missing")).unwrap_err().to_string().contains("missing"));
    }

    #[test]
    fn locate_finds_either_folder_shape() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(locate(dir.path(), &CIFAR10), None);
        let nested = dir.path().join(BATCH_DIR);
        fs::create_dir(&nested).unwrap();
        fs::write(nested.join("test_batch.bin"), b"x").unwrap();
        assert_eq!(locate(dir.path(), &CIFAR10), None, "test_batch.bin alone is not enough");
        fs::write(nested.join("data_batch_3.bin"), b"x").unwrap();
        assert_eq!(locate(dir.path(), &CIFAR10), Some(nested.clone()));
        assert_eq!(locate(&nested, &CIFAR10), Some(nested.clone()));
        fs::write(dir.path().join("test_batch.bin"), b"x").unwrap();
        fs::write(dir.path().join("data_batch_1.bin"), b"x").unwrap();
        assert_eq!(locate(dir.path(), &CIFAR10), Some(dir.path().to_path_buf()), "the folder itself first");
    }

    #[test]
    fn hand_placed_archive_is_extracted_without_network_and_marker_decides_presence() {
        let dir = tempfile::tempdir().unwrap();
        let archive = tar_gz(&[
            ("cifar-10-batches-bin/data_batch_1.bin", b"abc"),
            ("cifar-10-batches-bin/test_batch.bin", b"de"),
        ]);
        fs::write(dir.path().join(ARCHIVE_NAME), &archive).unwrap();
        let mut o = opts(dir.path());
        o.md5 = md5_hex(&archive);
        let batches = dir.path().join(BATCH_DIR);
        assert_eq!(download(&o).unwrap(), Outcome::Downloaded(batches.clone()));
        assert_eq!(fs::read(batches.join("data_batch_1.bin")).unwrap(), b"abc");
        assert_eq!(download(&o).unwrap(), Outcome::AlreadyPresent(batches.clone()));
        // A damaged file (size differs from the marker) is repaired from the kept archive.
        fs::write(batches.join("test_batch.bin"), b"d").unwrap();
        assert_eq!(download(&o).unwrap(), Outcome::Downloaded(batches.clone()));
        assert_eq!(fs::read(batches.join("test_batch.bin")).unwrap(), b"de");
        assert!(!CIFAR10.old_dir(dir.path()).exists() && !CIFAR10.partial_dir(dir.path()).exists());
        // Another expected checksum means another archive: the kept one no longer qualifies.
        o.md5 = "0".repeat(32);
        let err = format!("{:#}", download(&o).unwrap_err());
        assert!(err.contains(ARCHIVE_NAME) && err.contains(&md5_hex(&archive)), "{err}");
        assert!(dir.path().join(ARCHIVE_NAME).exists(), "a hand-placed archive is never deleted");
    }

    #[test]
    fn write_failure_names_the_file() {
        let full = Path::new("/dev/full"); // Linux: every write fails with "no space left"
        if !full.exists() {
            return;
        }
        let response = ureq::http::Response::new(ureq::Body::builder().data(vec![7u8; 1000]));
        let err = stream(&opts(Path::new(".")).remote(), response, full, 0, Some(1000)).unwrap_err();
        assert!(format!("{err:#}").contains("cannot write /dev/full"), "{err:#}");
    }

    #[test]
    fn ensure_without_download_is_a_usage_error_saying_how_to_get_data() {
        let dir = tempfile::tempdir().unwrap();
        let err = ensure(&opts(dir.path()), true).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("clr download --data-dir"), "{err}");
        fs::write(dir.path().join("test_batch.bin"), b"x").unwrap();
        fs::write(dir.path().join("data_batch_1.bin"), b"x").unwrap();
        assert_eq!(ensure(&opts(dir.path()), true).unwrap(), dir.path());
    }
}
