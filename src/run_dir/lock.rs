//! A run folder held by one clr at a time through an exclusive lock on `.clr.lock` (released by
//! the kernel however the holder ends), cleaned of temporary files that a killed writer left, and
//! never taken over by a new run while it holds another one.

use super::{NewRun, RunDir};
use crate::error::UsageError;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

const LOCK_FILE: &str = ".clr.lock";

/// The lock on a run folder, held while this value lives.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Create `dir` if needed and take its lock; another clr holding it is a usage error that
    /// says who. Temporary files found there belong to writers that died: they are removed.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(in_use(dir, &mut file).into()),
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
        // Who holds it, for the message of the next one who tries.
        let args: Vec<String> = std::env::args().collect();
        let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| {
            writeln!(file, "pid {}: {}", std::process::id(), args.join(" "))?;
            file.flush()
        });
        remove_stale_temporaries(dir);
        Ok(RunLock { _file: file })
    }

    /// The lock of `dir` for a new run: refused (and released) when the folder holds a run.
    pub fn new_run(dir: &RunDir, new: NewRun) -> Result<RunLock> {
        let lock = RunLock::acquire(dir.path())?;
        dir.check_holds_no_run(new)?;
        Ok(lock)
    }
}

/// The error for a folder another clr holds, saying who (as the holder wrote it).
fn in_use(dir: &Path, lock: &mut File) -> UsageError {
    let mut holder = String::new();
    let _ = lock.read_to_string(&mut holder);
    let holder = holder.trim();
    UsageError::new(format!(
        "{} is in use by another clr ({}); wait for it to end or choose another folder",
        dir.display(),
        if holder.is_empty() { "starting" } else { holder }
    ))
}

/// A usage error when another clr holds `dir` (nothing is created or locked here).
pub fn check_not_in_use(dir: &Path) -> Result<(), UsageError> {
    let Ok(mut file) = File::open(dir.join(LOCK_FILE)) else { return Ok(()) };
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => Err(in_use(dir, &mut file)),
        _ => Ok(()),
    }
}

/// `.NAME.PID.tmp` files (see `files::temp_path`): in a locked folder, nobody is writing them.
fn remove_stale_temporaries(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_next_is_told_who() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let lock = RunLock::acquire(&run).unwrap();
        let err = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(err.contains("in use by another clr") && err.contains(&format!("pid {}", std::process::id())), "{err}");
        assert!(check_not_in_use(&run).unwrap_err().to_string().contains("in use"));
        drop(lock);
        check_not_in_use(&run).unwrap();
        RunLock::acquire(&run).expect("released on drop");
    }

    #[test]
    fn stale_temporaries_go_and_other_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".checkpoint.pt.123.tmp"), b"half").unwrap();
        std::fs::write(dir.path().join("steps.csv"), b"step\n").unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert!(!dir.path().join(".checkpoint.pt.123.tmp").exists());
        assert!(dir.path().join("steps.csv").exists());
        drop(lock);
        let err = RunLock::new_run(&RunDir::new(dir.path()), NewRun::Training).unwrap_err().to_string();
        assert!(err.contains("already holds a run (steps.csv)") && err.contains("--resume"), "{err}");
        RunLock::acquire(dir.path()).expect("the refused new run released the lock");
    }
}
