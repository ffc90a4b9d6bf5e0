//! One process per run folder. `train`, `train --resume` and each run of a sweep hold an
//! advisory lock on `<run>/run.lock` (flock(2) on Linux and macOS, through std's
//! `File::try_lock`) for as long as they write in the folder. The kernel drops the lock when
//! the process ends, however it ends, so a killed run never leaves its folder blocked. The
//! file holds the holder's pid, for the message a second process prints; it stays after the
//! run, harmless.
//!
//! The lock file is opened without following a symbolic link and must be a regular file
//! with no other name (no hard link): the pid is written into it, and mlp-gpu writes nothing
//! into a file reachable from outside the folder.

use super::LOCK;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

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
    #[error("{}: not a regular file of this folder (a symbolic link, a hard link or another kind of file); mlp-gpu writes its pid there and will not write through it: remove it", .path.display())]
    NotRegular { path: PathBuf },
    #[error("{}: cannot lock {LOCK}: {source}", .dir.display())]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

fn holder(pid: Option<u32>) -> String {
    pid.map_or(String::new(), |p| format!(" (pid {p})"))
}

/// Opens (creating if needed) `path` for reading and writing without following a symbolic
/// link in its last component.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Whether `file` is a regular file with one name, so that writing it changes nothing
/// outside the folder.
fn only_here(file: &File) -> std::io::Result<bool> {
    let meta = file.metadata()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() != 1 {
            return Ok(false);
        }
    }
    Ok(meta.file_type().is_file())
}

impl RunDir {
    /// Locks the existing folder `dir` for this process, or says who holds it, at once.
    pub fn claim(dir: &Path) -> Result<RunDir, LockError> {
        let path = dir.join(LOCK);
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let not_regular = || LockError::NotRegular { path: path.clone() };
        let mut file = match open_no_follow(&path) {
            Ok(f) => f,
            // ELOOP: the name is a symbolic link (O_NOFOLLOW)
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(not_regular()),
            Err(e) => return Err(io(e)),
        };
        if !only_here(&file).map_err(io)? {
            return Err(not_regular());
        }
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
