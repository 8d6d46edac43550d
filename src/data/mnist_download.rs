//! Fetching an MNIST-format set (`clr download --dataset mnist|fashion-mnist`, or a training
//! command that finds no files): its four `.gz` files from the official folder URL (or a mirror:
//! `--url`, `CLR_MNIST_URL`, `CLR_FASHION_MNIST_URL`), each streamed into a `.part` file that a
//! rerun resumes, checked against its MD5 and only then renamed into `DATA_DIR/FOLDER/`: a file
//! there is always whole. The files stay gzipped; `idx` reads them as they are.

use super::download::{self, Outcome, Remote};
use super::mnist::{self, IdxSet, FILES};
use crate::config::DataSettings;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxDownload {
    pub set: &'static IdxSet,
    /// The folder URL, ending in `/`: each file is fetched from URL + its name + `.gz`.
    pub url: String,
    /// The lower-case MD5 of each `.gz` file, in [`FILES`] order.
    pub md5: [String; 4],
    pub data_dir: PathBuf,
    pub progress: bool,
}

impl IdxDownload {
    /// Each of url and md5: the flag, else its environment variable, else the official value.
    /// `--md5` holds the four checksums, comma-separated, in [`FILES`] order.
    pub fn from_env(
        set: &'static IdxSet,
        data_dir: PathBuf,
        url: Option<String>,
        md5: Option<String>,
        progress: bool,
    ) -> Result<IdxDownload> {
        resolve(set, data_dir, url, md5, progress, |name| std::env::var(name).ok())
    }

    /// The folder the files are downloaded into.
    pub fn dir(&self) -> PathBuf {
        self.data_dir.join(self.set.folder)
    }
}

/// `from_env` with the environment passed in.
fn resolve(
    set: &'static IdxSet,
    data_dir: PathBuf,
    url: Option<String>,
    md5: Option<String>,
    progress: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<IdxDownload> {
    let official_md5 = set.md5.join(",");
    let (url, url_from) = download::pick(url, "--url", set.url_env, set.url, "the official URL", &env);
    let (md5, md5_from) = download::pick(md5, "--md5", set.md5_env, &official_md5, "the official MD5", &env);
    let mut url = download::valid_url(&url, url_from)?;
    if !url.ends_with('/') {
        url.push('/');
    }
    let sums = md5.split(',').map(|m| download::valid_md5(m, md5_from)).collect::<Result<Vec<_>>>()?;
    let count = sums.len();
    let Ok(md5) = <[String; 4]>::try_from(sums) else {
        crate::usage!(
            "{md5_from}: {} needs 4 comma-separated MD5 checksums (of {}.gz, in that order), got {count}",
            set.name,
            FILES.join(".gz, ")
        );
    };
    Ok(IdxDownload { set, url, md5, data_dir, progress })
}

/// The four files of the settings' set: located, else downloaded unless `--no-download` (then a
/// usage error that says how to get them).
pub fn ensure(settings: &DataSettings, set: &'static IdxSet, progress: bool) -> Result<[PathBuf; 4]> {
    let data_dir = &settings.data_dir;
    if let Some((_, files)) = mnist::locate(data_dir, set) {
        return Ok(files);
    }
    let d = data_dir.display();
    if settings.no_download {
        crate::usage!(
            "--data-dir {d}: no {} files ({}, gzipped or not) in {d}, {d}/{} or {d}/{}/raw; run `clr download \
             --data-dir {d} --dataset {}` or drop --no-download",
            set.name,
            FILES.join(", "),
            set.folder,
            set.torchvision,
            set.dataset
        );
    }
    eprintln!("{} not found in {d}; downloading it", set.name);
    let opts = IdxDownload::from_env(set, data_dir.clone(), settings.url.clone(), settings.md5.clone(), progress)?;
    download(&opts)?;
    mnist::locate(data_dir, set).map(|(_, files)| files).context("the downloaded files are not where expected")
}

/// Make the set available under `opts.data_dir`: nothing to do when its four files are there,
/// else fetch each missing one into `DATA_DIR/FOLDER/`.
pub fn download(opts: &IdxDownload) -> Result<Outcome> {
    if let Some((dir, _)) = mnist::locate(&opts.data_dir, opts.set) {
        return Ok(Outcome::AlreadyPresent(dir));
    }
    let dir = opts.dir();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (i, name) in FILES.iter().enumerate() {
        if dir.join(name).is_file() || dir.join(format!("{name}.gz")).is_file() {
            continue;
        }
        fetch_one(opts, &format!("{name}.gz"), &opts.md5[i], &dir)?;
    }
    Ok(Outcome::Downloaded(dir))
}

/// Fetch one file into `dir` (resuming its `.part`), verify it, and rename it into place.
fn fetch_one(opts: &IdxDownload, file: &str, md5: &str, dir: &Path) -> Result<()> {
    let (target, part) = (dir.join(file), dir.join(format!("{file}.part")));
    let remote = Remote {
        url: format!("{}{file}", opts.url),
        progress: opts.progress,
        url_env: opts.set.url_env,
        by_hand: format!(
            "to install {} by hand, put its four files ({}.gz, from {}) in {}, or point --url (or {}) at a mirror",
            opts.set.name,
            FILES.join(".gz, "),
            opts.set.url,
            dir.display(),
            opts.set.url_env
        ),
    };
    eprintln!("downloading {} to {}", remote.url, target.display());
    download::fetch(&remote, &part)?;
    let actual = download::md5_file(&part)?;
    if actual != md5 {
        let _ = fs::remove_file(&part);
        bail!(
            "checksum mismatch for {}: expected MD5 {md5}, got {actual}; the download was deleted. If this mirror \
             serves other files, pass their 4 checksums with --md5 (or {})",
            remote.url,
            opts.set.md5_env
        );
    }
    fs::rename(&part, &target).with_context(|| format!("cannot move {} into place", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::mnist::{FASHION_MNIST, MNIST};
    use crate::error::exit_code;

    #[test]
    fn flag_beats_env_beats_official_and_each_set_reads_its_own_variables() {
        let env = |name: &str| match name {
            "CLR_MNIST_URL" => Some("http://mirror/mnist".to_string()),
            "CLR_FASHION_MNIST_MD5" => Some(["A".repeat(32), "b".repeat(32), "c".repeat(32), "d".repeat(32)].join(",")),
            _ => None,
        };
        let o = resolve(&MNIST, "d".into(), None, None, true, env).unwrap();
        assert_eq!(o.url, "http://mirror/mnist/", "a folder URL");
        assert_eq!(o.md5[0], "f68b3c2dcbeaaa9fbdd348bbdeb94873");
        let o = resolve(&FASHION_MNIST, "d".into(), None, None, true, env).unwrap();
        assert_eq!(o.url, "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/");
        assert_eq!((o.md5[0].as_str(), o.md5[3].as_str()), ("a".repeat(32).as_str(), "d".repeat(32).as_str()));
        let flags = Some(vec!["1".repeat(32); 4].join(", "));
        let o = resolve(&FASHION_MNIST, "d".into(), Some("https://x/y/".into()), flags, true, env).unwrap();
        assert_eq!((o.url.as_str(), o.md5[2].as_str()), ("https://x/y/", "1".repeat(32).as_str()));
        assert_eq!(o.dir(), Path::new("d/fashion-mnist"));
    }

    #[test]
    fn bad_values_are_usage_errors_naming_their_source() {
        let none = |_: &str| None;
        let err = resolve(&MNIST, "d".into(), None, Some("0".repeat(32)), true, none).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("--md5: MNIST needs 4 comma-separated MD5 checksums"), "{err}");
        let three_and_junk = Some(format!("{0},{0},{0},xyz", "0".repeat(32)));
        let err = resolve(&MNIST, "d".into(), None, three_and_junk, true, none).unwrap_err();
        assert!(err.to_string().contains("\"xyz\" is not an MD5"), "{err}");
        let env = |n: &str| (n == "CLR_MNIST_URL").then(|| "ftp://x".to_string());
        let err = resolve(&MNIST, "d".into(), None, None, true, env).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("CLR_MNIST_URL"), "{err}");
    }

    #[test]
    fn without_download_a_missing_set_says_how_to_get_it() {
        let dir = tempfile::tempdir().unwrap();
        let settings = DataSettings {
            data_dir: dir.path().to_path_buf(),
            no_download: true,
            dataset: crate::config::DatasetKind::FashionMnist,
            ..DataSettings::default()
        };
        let err = ensure(&settings, &FASHION_MNIST, false).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        for part in ["Fashion-MNIST", "train-images-idx3-ubyte", "--dataset fashion-mnist", "FashionMNIST/raw"] {
            assert!(err.to_string().contains(part), "{part} missing from: {err}");
        }
    }
}
