//! Whole-file writes that never leave a half-written file in place of a good one: write a
//! temporary file beside the target, sync it, then rename it over the target.

use anyhow::{Context, Result};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary name used beside `path` (same folder, so the rename is atomic).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Run `write` on a temporary path beside `path`, sync it, then rename it into place. On error
/// (a full disk, say) the temporary file is removed and `path` is untouched.
pub fn write_with<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&Path) -> Result<()>,
{
    write_then(path, write, |tmp| rename(tmp, path))
}

/// `write_with`, where `install` moves the finished temporary file into place.
fn write_then<F, I>(path: &Path, write: F, install: I) -> Result<()>
where
    F: FnOnce(&Path) -> Result<()>,
    I: FnOnce(&Path) -> Result<()>,
{
    let tmp = temp_path(path);
    let result = write(&tmp).and_then(|()| sync(&tmp, path)).and_then(|()| install(&tmp));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Flush a finished file to the disk: a full disk may only say so here.
fn sync(tmp: &Path, path: &Path) -> Result<()> {
    File::open(tmp).and_then(|f| f.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).with_context(|| format!("cannot move {} into place", to.display()))
}

/// Atomically replace `path` with `bytes`.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |tmp| write_file(tmp, path, bytes))
}

/// Atomically replace `path` with `bytes`, keeping the file it replaces as `previous` (itself
/// replaced). A kill between the two renames leaves `previous` and no `path`: readers fall back.
pub fn write_bytes_keeping(path: &Path, previous: &Path, bytes: &[u8]) -> Result<()> {
    write_then(
        path,
        |tmp| write_file(tmp, path, bytes),
        |tmp| {
            if path.exists() {
                rename(path, previous)?;
            }
            rename(tmp, path)
        },
    )
}

/// Write `bytes` to `tmp`, the temporary file of `path` (errors name `path`).
fn write_file(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// A usage error unless the folder `path` goes in exists (checked before the work that makes it).
pub fn check_parent(path: &Path, flag: &str) -> Result<(), crate::error::UsageError> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if parent.is_dir() {
        Ok(())
    } else {
        Err(crate::error::UsageError::new(format!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            parent.display()
        )))
    }
}

/// Atomically replace `path` with pretty-printed JSON.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    write_bytes(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_keeps_the_previous_file_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let (path, prev) = (dir.path().join("f"), dir.path().join("f.prev"));
        write_bytes_keeping(&path, &prev, b"one").unwrap();
        assert!(!prev.exists(), "nothing to keep the first time");
        write_bytes_keeping(&path, &prev, b"two").unwrap();
        assert_eq!((fs::read(&path).unwrap(), fs::read(&prev).unwrap()), (b"two".to_vec(), b"one".to_vec()));
        write_bytes(&path, b"three").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
    }

    #[test]
    fn a_failed_write_leaves_the_target_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_bytes(&path, b"good").unwrap();
        let err = write_with(&path, |_| anyhow::bail!("disk full")).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read(&path).unwrap(), b"good");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
