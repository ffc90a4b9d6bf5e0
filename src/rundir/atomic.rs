//! Atomic writes: a reader sees the old file or the whole new one, never half of it.

use super::FolderError;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file beside it (created anew, so that a
/// link left in its place is never written through), fsynced, then renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FolderError> {
    let err = |source| FolderError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let result = (|| {
        if crate::fault::at("disk-full").is_some() {
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")?
                .write_all(bytes)?;
        }
        // a stale temporary file (a killed writer) or anything else by that name goes first
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// `value` as pretty JSON with a final newline, written atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), FolderError> {
    let mut text = serde_json::to_string_pretty(value).expect("plain data serialises");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}
