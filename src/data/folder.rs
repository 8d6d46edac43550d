//! The files of an image folder (`--dataset folder`), the torchvision `ImageFolder` / fastai
//! convention: `DIR/train/CLASS/…` and `DIR/test/CLASS/…` (or `DIR/valid/CLASS/…`), or one set of
//! class folders (`DIR/CLASS/…`, or `DIR/train/CLASS/…` alone) split by `--valid-fraction`. Class
//! folders are sorted by name (label 0 is the first); their images (`.png`, `.jpg`, `.jpeg`, any
//! case, in subfolders too) are sorted by path; hidden files and folders (the cache's
//! `.clr-cache`) are left out. Nothing is decoded here: this is the list the cache is built from
//! and checked against.

use super::decode;
use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// One image file and what the cache checks it against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub class: u16,
    pub bytes: u64,
    /// Last modification, seconds and nanoseconds since 1970.
    pub modified: (u64, u32),
}

/// The two splits of a folder and its classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub dir: PathBuf,
    pub classes: Vec<String>,
    pub train: Vec<Entry>,
    pub test: Vec<Entry>,
    /// Where the test split comes from, for logs: `test/`, `valid/`, `20% of each class`.
    pub held_out: String,
    /// Files in class folders that are not images by their extension (left out).
    pub ignored: usize,
}

/// Part of the seed of the `--valid-fraction` draw: the split is the same on every run, so that
/// `clr eval` and a resumed run see the run's own test images.
const SPLIT_SEED: &[u8] = b"clr valid-fraction split 1";

/// Find the splits and classes of the image folder `dir`.
pub fn scan(dir: &Path, valid_fraction: Option<f64>) -> Result<Scan> {
    if !dir.is_dir() {
        crate::usage!(
            "--data-dir {}: no such folder (--dataset folder reads DIR/train/CLASS/*.png|jpg)",
            dir.display()
        );
    }
    let train = dir.join("train");
    let held = ["test", "valid"].into_iter().find(|h| dir.join(h).is_dir());
    let d = dir.display();
    match (train.is_dir(), held, valid_fraction) {
        (true, Some(h), None) => two_folders(dir, &train, h),
        (true, Some(h), Some(_)) => crate::usage!(
            "--valid-fraction: {d} has its own {h}/ split; drop --valid-fraction (or move {h}/ away to split train/)"
        ),
        (has_train, None, Some(f)) => one_folder(dir, if has_train { &train } else { dir }, f),
        (true, None, None) => crate::usage!(
            "--data-dir {d}: train/ has no test/ or valid/ beside it; pass --valid-fraction F to hold out a fraction \
             of each class"
        ),
        (false, Some(h), _) => crate::usage!("--data-dir {d}: has {h}/ but no train/ beside it"),
        (false, None, None) => crate::usage!(
            "--data-dir {d}: no train/ folder; put the images in {d}/train/CLASS/ and {d}/test/CLASS/, or pass \
             --valid-fraction F to split the class folders of {d}"
        ),
    }
}

/// `train/` and a held-out folder with the same classes.
fn two_folders(dir: &Path, train: &Path, held: &str) -> Result<Scan> {
    let classes = class_folders(train)?;
    let test_classes = class_folders(&dir.join(held))?;
    if classes != test_classes {
        let only =
            |a: &[String], b: &[String]| a.iter().filter(|c| !b.contains(c)).cloned().collect::<Vec<_>>().join(", ");
        bail!(
            "{}: the classes of train/ and {held}/ differ (only in train/: [{}]; only in {held}/: [{}]); both need \
             the same class folders",
            dir.display(),
            only(&classes, &test_classes),
            only(&test_classes, &classes)
        );
    }
    let (train_entries, ignored_train) = entries(train, &classes)?;
    let (test_entries, ignored_test) = entries(&dir.join(held), &classes)?;
    let (dir, held_out, ignored) = (dir.to_path_buf(), format!("{held}/"), ignored_train + ignored_test);
    Ok(Scan { dir, classes, train: train_entries, test: test_entries, held_out, ignored })
}

/// One set of class folders, `fraction` of each class held out by a seeded draw.
fn one_folder(dir: &Path, root: &Path, fraction: f64) -> Result<Scan> {
    let classes = class_folders(root)?;
    let (all, ignored) = entries(root, &classes)?;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in 0..classes.len() {
        let mut members: Vec<Entry> = all.iter().filter(|e| e.class as usize == class).cloned().collect();
        members.sort_by_cached_key(|e| draw(dir, &e.path));
        // At least one training image per class.
        let held = ((fraction * members.len() as f64).round() as usize).min(members.len() - 1);
        test.extend(members.drain(..held));
        train.extend(members);
    }
    if test.is_empty() {
        crate::usage!(
            "--valid-fraction {fraction}: holds out no image of {} ({} images in {} classes); raise it",
            root.display(),
            train.len(),
            classes.len()
        );
    }
    train.sort_by(|a, b| a.path.cmp(&b.path));
    test.sort_by(|a, b| a.path.cmp(&b.path));
    let held_out = format!("{}% of each class", fraction * 100.0);
    Ok(Scan { dir: dir.to_path_buf(), classes, train, test, held_out, ignored })
}

/// A file's place in the seeded draw: the MD5 of the seed and its path inside the folder.
fn draw(dir: &Path, path: &Path) -> [u8; 16] {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    Md5::new().chain_update(SPLIT_SEED).chain_update(rel.to_string_lossy().as_bytes()).finalize().into()
}

fn hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// The sorted names of the class folders in `root`.
fn class_folders(root: &Path) -> Result<Vec<String>> {
    let mut classes = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("cannot list {}", root.display()))? {
        let path = entry.with_context(|| format!("cannot list {}", root.display()))?.path();
        if path.is_dir() && !hidden(&path) {
            classes.push(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        }
    }
    classes.sort();
    if classes.is_empty() {
        bail!("{}: no class folders (the images go in {}/CLASS/)", root.display(), root.display());
    }
    if classes.len() > u16::MAX as usize {
        bail!("{}: {} class folders, more than the {} clr takes", root.display(), classes.len(), u16::MAX);
    }
    Ok(classes)
}

/// Every image file under each class folder of `root` (sorted), and how many other files there were.
fn entries(root: &Path, classes: &[String]) -> Result<(Vec<Entry>, usize)> {
    let (mut out, mut ignored) = (Vec::new(), 0);
    for (label, class) in classes.iter().enumerate() {
        let folder = root.join(class);
        let mut files = Vec::new();
        walk(&folder, &mut files)?;
        files.sort();
        let before = out.len();
        for path in files {
            if !decode::is_image_file(&path) {
                ignored += 1;
                continue;
            }
            let meta = std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let modified = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
            let modified = (modified.as_secs(), modified.subsec_nanos());
            out.push(Entry { path, class: label as u16, bytes: meta.len(), modified });
        }
        if out.len() == before {
            bail!(
                "{}: an empty class folder (no {} files); add images or remove it",
                folder.display(),
                decode::EXTENSIONS.map(|e| format!(".{e}")).join(", ")
            );
        }
    }
    Ok((out, ignored))
}

/// The files under `dir`, in its subfolders too; hidden ones left out.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        if hidden(&path) {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code;

    /// Empty files named like images (nothing is decoded here).
    fn touch(dir: &Path, files: &[&str]) {
        for f in files {
            let path = dir.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, f.as_bytes()).unwrap();
        }
    }

    fn names(entries: &[Entry], dir: &Path) -> Vec<String> {
        entries.iter().map(|e| e.path.strip_prefix(dir).unwrap().display().to_string()).collect()
    }

    #[test]
    fn train_and_test_or_valid_with_sorted_classes_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        touch(
            d,
            &["train/dog/b.PNG", "train/dog/a.jpg", "train/cat/x.jpeg", "train/cat/sub/y.png", "train/cat/notes.txt"],
        );
        touch(d, &["train/.hidden/z.png", "train/cat/.DS_Store.png", "valid/cat/1.png", "valid/dog/2.png"]);
        let scan = scan(d, None).unwrap();
        assert_eq!(scan.classes, ["cat", "dog"]);
        assert_eq!(
            names(&scan.train, d),
            ["train/cat/sub/y.png", "train/cat/x.jpeg", "train/dog/a.jpg", "train/dog/b.PNG"]
        );
        assert_eq!(scan.train.iter().map(|e| e.class).collect::<Vec<_>>(), [0, 0, 1, 1]);
        assert_eq!((scan.held_out.as_str(), scan.ignored, scan.test.len()), ("valid/", 1, 2));
        touch(d, &["test/cat/3.png", "test/dog/4.png"]);
        assert_eq!(super::scan(d, None).unwrap().held_out, "test/", "test/ before valid/");
        assert!(scan.train[0].bytes > 0 && scan.train[0].modified.0 > 0);
    }

    #[test]
    fn a_valid_fraction_holds_out_the_same_files_of_each_class_every_time() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let files: Vec<String> = (0..20).flat_map(|i| [format!("a/{i}.png"), format!("b/{i}.png")]).collect();
        touch(d, &files.iter().map(String::as_str).collect::<Vec<_>>());
        touch(d, &["c/only.png"]);
        let first = scan(d, Some(0.25)).unwrap();
        assert_eq!(first.classes, ["a", "b", "c"]);
        let per_class = |e: &[Entry], c| e.iter().filter(|e| e.class == c).count();
        assert_eq!([0, 1, 2].map(|c| per_class(&first.test, c)), [5, 5, 0], "a class of one keeps it for training");
        assert_eq!(first.train.len(), 31);
        assert_eq!(scan(d, Some(0.25)).unwrap(), first, "the same draw every time");
        assert_ne!(names(&first.test, d)[..5], (0..5).map(|i| format!("a/{i}.png")).collect::<Vec<_>>()[..], "a draw");
        // train/ alone splits the same way, its classes inside train/.
        let tmp2 = tempfile::tempdir().unwrap();
        touch(tmp2.path(), &["train/x/1.png", "train/x/2.png", "train/y/3.png", "train/y/4.png"]);
        let split = scan(tmp2.path(), Some(0.5)).unwrap();
        assert_eq!((split.classes.len(), split.train.len(), split.test.len()), (2, 2, 2));
        assert_eq!(split.held_out, "50% of each class");
        let e = scan(tmp2.path(), Some(0.01)).unwrap_err();
        assert_eq!(exit_code(&e), 2);
        assert!(e.to_string().contains("--valid-fraction 0.01: holds out no image"), "{e}");
    }

    #[test]
    fn bad_folders_are_clear_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let err = |f: Option<f64>| {
            let e = scan(d, f).unwrap_err();
            (exit_code(&e), format!("{e:#}"))
        };
        let (code, e) = err(None);
        assert!(code == 2 && e.contains("no train/ folder") && e.contains("--valid-fraction"), "{e}");
        touch(d, &["train/cat/1.png", "train/dog/2.png"]);
        let (code, e) = err(None);
        assert!(code == 2 && e.contains("no test/ or valid/"), "{e}");
        touch(d, &["test/cat/3.png", "test/bird/4.png", "test/dog/5.png"]);
        let (code, e) = err(None);
        assert!(
            code == 1 && e.contains("classes of train/ and test/ differ") && e.contains("only in test/: [bird]"),
            "{e}"
        );
        let (code, e) = err(Some(0.2));
        assert!(code == 2 && e.contains("has its own test/ split"), "{e}");
        std::fs::remove_dir_all(d.join("test/bird")).unwrap();
        std::fs::create_dir_all(d.join("train/empty")).unwrap();
        std::fs::create_dir_all(d.join("test/empty")).unwrap();
        touch(d, &["train/empty/readme.txt"]);
        let (code, e) = err(None);
        assert!(code == 1 && e.contains("train/empty: an empty class folder") && e.contains(".jpeg"), "{e}");
        let (_, e) = {
            let none = tempfile::tempdir().unwrap();
            let e = scan(&none.path().join("missing"), None).unwrap_err();
            (0, e.to_string())
        };
        assert!(e.contains("no such folder"), "{e}");
    }
}
