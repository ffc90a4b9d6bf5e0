//! One process per run folder. `train`, `train --resume` and each run of a sweep hold an
//! advisory lock on `<run>/run.lock` (flock(2) on Linux and macOS, through std's
//! `File::try_lock`) for as long as they write in the folder. The kernel drops the lock when
//! the process ends, however it ends, so a killed run never leaves its folder blocked. The
//! file holds the holder's pid, for the message a second process prints; it stays after the
//! run, harmless.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

pub const LOCK: &str = "run.lock";

/// A run folder this process holds; the lock ends when this is dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}: in use by another mlp-gpu process{}; wait for it to end, or use another folder", .dir.display(), holder(*.pid))]
    Held { dir: PathBuf, pid: Option<u32> },
    #[error("{}: cannot lock {LOCK}: {source}", .dir.display())]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

fn holder(pid: Option<u32>) -> String {
    pid.map_or(String::new(), |p| format!(" (pid {p})"))
}

impl RunDir {
    /// Locks the existing folder `dir` for this process, or says who holds it, at once.
    pub fn claim(dir: &Path) -> Result<RunDir, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and(text.trim().parse().ok());
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    pid,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(io)?;
        Ok(RunDir {
            path: dir.to_path_buf(),
            _file: file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
