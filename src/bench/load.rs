//! `bench --load`: how fast a data set is read into memory, and how much memory reading it
//! takes beyond the data itself. No GPU: the time and memory are the reader's alone.

use crate::data::{self, DataError, LoadOptions, Part};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Reads per measurement: the first also brings the files into the page cache.
const READS: usize = 3;

#[derive(Clone, Debug, Serialize)]
pub struct LoadBench {
    pub format: String,
    pub rows: usize,
    pub inputs: usize,
    pub dtype: data::Dtype,
    /// The files read, as stored (gzip compressed where they are).
    pub file_bytes: u64,
    /// The median of the reads.
    pub seconds: f64,
    pub megabytes_per_second: f64,
    /// The data set as held once read: both parts' values and labels.
    pub data_bytes: u64,
    /// How far the process's resident memory rose above where it stood before a read, at
    /// most over the reads (Linux: /proc/self/status; absent elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_over_data: Option<f64>,
}

/// Reads the data `o` names `READS` times, each timed and its memory peak measured.
pub fn load(o: &LoadOptions) -> Result<LoadBench, DataError> {
    let mut seconds = Vec::new();
    let mut peak: Option<u64> = None;
    let mut last = None;
    for _ in 0..READS {
        drop(last.take());
        let before = memory::reset_peak();
        let t0 = Instant::now();
        let read = data::load(o)?;
        seconds.push(t0.elapsed().as_secs_f64());
        if let (Some(before), Some(high)) = (before, memory::peak()) {
            peak = Some(peak.unwrap_or(0).max(high.saturating_sub(before)));
        }
        last = Some(read);
    }
    let (path, d) = last.expect("READS > 0");
    seconds.sort_by(f64::total_cmp);
    let median = seconds[READS / 2];
    let file_bytes = stored_bytes(&path) + o.test_data.as_deref().map_or(0, stored_bytes);
    let part_bytes = |p: &Part| (p.values.bytes() + 4 * p.labels.len()) as u64;
    let data_bytes = part_bytes(&d.train) + part_bytes(&d.test);
    Ok(LoadBench {
        format: d.info.format.name().into(),
        rows: d.train.len() + d.test.len(),
        inputs: d.info.inputs,
        dtype: d.info.dtype,
        file_bytes,
        seconds: median,
        megabytes_per_second: file_bytes as f64 / 1e6 / median,
        data_bytes,
        peak_bytes: peak,
        peak_over_data: peak.map(|p| p as f64 / data_bytes as f64),
    })
}

/// The bytes of file `path`, or of every file under directory `path`.
fn stored_bytes(path: &Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| stored_bytes(&e.path()))
            .sum(),
        Err(_) => std::fs::metadata(path).map_or(0, |m| m.len()),
    }
}

/// The process's resident memory, from Linux's /proc/self/status.
mod memory {
    /// A field of /proc/self/status in bytes (`VmRSS`, `VmHWM`).
    fn status(field: &str) -> Option<u64> {
        let text = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = text.lines().find(|l| l.starts_with(field))?;
        let kb: u64 = line[field.len() + 1..]
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    }

    /// Starts a new peak at the resident memory now (writing 5 to clear_refs resets the
    /// peak), and returns that memory; None where the peak cannot be reset.
    pub fn reset_peak() -> Option<u64> {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        status("VmRSS:")
    }

    /// The peak resident memory since the last reset.
    pub fn peak() -> Option<u64> {
        status("VmHWM:")
    }
}
