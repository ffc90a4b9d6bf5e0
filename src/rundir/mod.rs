//! A run folder: the name and format of every file in it, atomic writes, the lock, and
//! whether a folder holds a run. A run folder holds config.json (the settings and where they
//! ran), metrics.jsonl (one line per epoch), checkpoint.safetensors (after every epoch),
//! model.safetensors and summary.json, each written atomically, and run.lock.

pub mod atomic;
pub mod checkpoint;
pub mod lock;
pub mod model_file;

use crate::config::TrainConfig;
use crate::data::{DataInfo, DataRecord, Normalization};
use crate::train::Evaluation;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use atomic::{write_atomic, write_json};
pub use lock::{LockError, RunDir};

pub const CONFIG: &str = "config.json";
pub const METRICS: &str = "metrics.jsonl";
pub const CHECKPOINT: &str = "checkpoint.safetensors";
pub const MODEL: &str = "model.safetensors";
pub const SUMMARY: &str = "summary.json";
pub const LOCK: &str = "run.lock";

/// What can go wrong with a run folder's files, each naming the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a file written by mlp-gpu: {problem}", .path.display())]
    Foreign { path: PathBuf, problem: String },
    #[error("{}: cannot write: {source}; free some space or choose another --out directory", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A model or checkpoint that does not fit the run.
    #[error("{}: {problem}", .path.display())]
    Invalid { path: PathBuf, problem: String },
    #[error("--out {}: cannot create the directory: {source}; choose another path", .dir.display())]
    CannotCreate {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("--out {}: is not a directory; choose another path", .dir.display())]
    NotADirectory { dir: PathBuf },
    #[error("--out {0}: already holds a run; continue it with `mlp-gpu train --resume {0}`, or choose a new --out", .dir.display())]
    HoldsRun { dir: PathBuf },
    #[error("{}: holds a run with other settings than this sweep's; use another --out or delete it", .dir.display())]
    OtherRun { dir: PathBuf },
    #[error("{}: trained on the data in {}, not {}; use the same --data or another --out", .dir.display(), .theirs.display(), .ours.display())]
    OtherData {
        dir: PathBuf,
        theirs: PathBuf,
        ours: PathBuf,
    },
    #[error("{}: trained on data whose files have changed since ({theirs}, now {ours}); use the data it trained on, or another --out", .dir.display())]
    DataChanged {
        dir: PathBuf,
        theirs: String,
        ours: String,
    },
    #[error("{}: trained on this data read otherwise (its format, columns, classes or test set differ); give the data flags it trained with, or another --out", .dir.display())]
    DataReadOtherwise { dir: PathBuf },
    #[error("{}: an unfinished run from before mlp-gpu 0.2, which a sweep cannot pack with new runs; continue it with `mlp-gpu train --resume {}`, then rerun the sweep", .dir.display(), .dir.display())]
    Legacy { dir: PathBuf },
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl FolderError {
    pub fn invalid(path: &Path, problem: String) -> Self {
        FolderError::Invalid {
            path: path.to_path_buf(),
            problem,
        }
    }
}

/// config.json: the settings and where they ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedConfig {
    #[serde(flatten)]
    pub train: TrainConfig,
    pub adapter: String,
    pub version: String,
    /// The data the run trained on (`--data`); `--resume` reads the same.
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// What the data was and how its inputs were normalised. Absent in runs from before
    /// 0.2, which trained on Fashion-MNIST normalised by `Normalization::fashion_legacy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DataRecord>,
}

impl SavedConfig {
    /// What the run's data was: its record, or Fashion-MNIST as runs from before 0.2 had it.
    pub fn record(&self) -> DataRecord {
        self.dataset
            .clone()
            .unwrap_or_else(DataRecord::fashion_legacy)
    }

    /// The normalisation the run was trained with.
    pub fn normalization(&self) -> Normalization {
        self.record().normalize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Completed,
    /// The training loss became NaN or infinite; the run stopped there.
    Diverged,
    /// Stopped by Ctrl-C; the last checkpoint is kept.
    Interrupted,
    /// Stopped by a fault (device lost, out of memory, a file not written).
    Failed,
    /// Ended at a rung of a halving sweep, outranked (`--halving`): a result, with its
    /// metrics, checkpoint and model at that rung.
    Stopped,
}

impl Status {
    /// Completed, diverged and stopped runs are results; the others are unfinished.
    pub fn finished(self) -> bool {
        matches!(self, Status::Completed | Status::Diverged | Status::Stopped)
    }

    /// As summary.json writes it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Diverged => "diverged",
            Status::Interrupted => "interrupted",
            Status::Failed => "failed",
            Status::Stopped => "stopped",
        }
    }
}

fn one() -> usize {
    1
}

/// serde_json writes a non-finite float as null; read null back as NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One line of metrics.jsonl. A pack's members share its epochs' wall time: each records
/// the pack's size and time and its share of it, the time its run alone is worth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// NaN or infinite when the run diverged: JSON holds it as null.
    #[serde(deserialize_with = "null_as_nan")]
    pub train_loss: f64,
    #[serde(deserialize_with = "null_as_nan")]
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// This run's share of the epoch's training: the pack's wall time over its runs.
    pub epoch_seconds: f64,
    /// This run's share of the epoch's validation, likewise.
    pub eval_seconds: f64,
    /// Training images per second of the whole pack (of the run, alone).
    pub samples_per_second: f64,
    /// Runs trained in the same dispatches (1: alone). Absent before 0.1.1: 1.
    #[serde(default = "one")]
    pub pack_size: usize,
    /// The pack's wall time for the epoch's training. Absent before 0.1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_epoch_seconds: Option<f64>,
}

/// summary.json. The test fields are absent for runs that did not finish.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub val_accuracy: f64,
    pub best_val_accuracy: f64,
    pub best_epoch: usize,
    pub epochs_run: usize,
    /// The run's share of its epochs' training time, mean over epochs (`EpochMetrics`).
    pub mean_epoch_seconds: f64,
    /// Runs trained in the same dispatches (1: alone). Absent before 0.1.1: 1.
    #[serde(default = "one")]
    pub pack_size: usize,
    /// The pack's epoch wall time, mean over epochs. Absent before 0.1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_pack_epoch_seconds: Option<f64>,
    pub adapter: String,
    pub per_class_test_accuracy: Vec<f64>,
}

fn mean(v: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = v.len().max(1) as f64;
    v.sum::<f64>() / n
}

impl Summary {
    /// The summary of a run with these metrics, tested (if it finished) as `test` says.
    pub fn new(
        status: Status,
        metrics: &[EpochMetrics],
        test: Option<&Evaluation>,
        adapter: String,
    ) -> Self {
        let (best_epoch, best) = metrics
            .iter()
            .filter(|m| m.val_accuracy.is_finite())
            .max_by(|a, b| {
                a.val_accuracy
                    .total_cmp(&b.val_accuracy)
                    .then(b.epoch.cmp(&a.epoch))
            })
            .map(|m| (m.epoch, m.val_accuracy))
            .unwrap_or((0, 0.0));
        let pack_times: Option<Vec<f64>> = metrics.iter().map(|m| m.pack_epoch_seconds).collect();
        Summary {
            status,
            error: None,
            test_accuracy: test.map(|t| t.accuracy),
            test_loss: test.map(|t| t.loss),
            val_accuracy: metrics.last().map_or(0.0, |m| m.val_accuracy),
            best_val_accuracy: best,
            best_epoch,
            epochs_run: metrics.len(),
            mean_epoch_seconds: mean(metrics.iter().map(|m| m.epoch_seconds)),
            pack_size: metrics.last().map_or(1, |m| m.pack_size),
            mean_pack_epoch_seconds: pack_times
                .filter(|t| !t.is_empty())
                .map(|t| mean(t.into_iter())),
            adapter,
            per_class_test_accuracy: test.map(|t| t.per_class.clone()).unwrap_or_default(),
        }
    }
}

/// Reads a JSON file written by mlp-gpu, naming the file in the error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, FolderError> {
    let text = std::fs::read_to_string(path).map_err(|source| FolderError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| FolderError::Foreign {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// Creates `dir` if needed and checks that it is a directory.
pub fn prepare(dir: &Path) -> Result<(), FolderError> {
    std::fs::create_dir_all(dir).map_err(|source| FolderError::CannotCreate {
        dir: dir.to_path_buf(),
        source,
    })?;
    if !dir.is_dir() {
        return Err(FolderError::NotADirectory {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Whether `dir` holds a run (its config.json).
pub fn holds_run(dir: &Path) -> bool {
    dir.join(CONFIG).exists()
}

/// Refuses to start a new run in `dir` when it already holds one (`--out` onto a run).
pub fn refuse_existing(dir: &Path) -> Result<(), FolderError> {
    if holds_run(dir) {
        return Err(FolderError::HoldsRun {
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// The run's settings in `dir`.
pub fn read_config(dir: &Path) -> Result<SavedConfig, FolderError> {
    read_json(&dir.join(CONFIG))
}

/// The run's summary in `dir`, if it has one that reads.
pub fn read_summary(dir: &Path) -> Option<Summary> {
    read_json(&dir.join(SUMMARY)).ok()
}

/// metrics.jsonl of the run in `dir` (none if it has no such file).
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>, FolderError> {
    let path = dir.join(METRICS);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| FolderError::Foreign {
                path: path.clone(),
                problem: e.to_string(),
            })
        })
        .collect()
}

/// Writes metrics.jsonl of the run in `dir`, a line per epoch.
pub fn write_metrics(dir: &Path, metrics: &[EpochMetrics]) -> Result<(), FolderError> {
    let lines: String = metrics
        .iter()
        .map(|m| serde_json::to_string(m).expect("plain data") + "\n")
        .collect();
    write_atomic(&dir.join(METRICS), lines.as_bytes())
}

/// The epochs the checkpoint in `dir` has done (0 without one).
pub fn epochs_done(dir: &Path) -> usize {
    checkpoint::epochs_done(&dir.join(CHECKPOINT))
}

/// The data a process trains on: where it was read from and what it is.
#[derive(Clone, Copy, Debug)]
pub struct DataSeen<'a> {
    pub dir: &'a Path,
    pub info: &'a DataInfo,
}

impl SavedConfig {
    /// Refuses data other than the run's: another path, or files that changed.
    pub fn check_data(&self, dir: &Path, data: DataSeen) -> Result<(), FolderError> {
        if let Some(theirs) = self.data.as_ref().filter(|d| *d != data.dir) {
            return Err(FolderError::OtherData {
                dir: dir.to_path_buf(),
                theirs: theirs.clone(),
                ours: data.dir.to_path_buf(),
            });
        }
        let dir = dir.to_path_buf();
        match &self.dataset {
            Some(d) if d.info.fingerprint != data.info.fingerprint => {
                Err(FolderError::DataChanged {
                    dir,
                    theirs: d.info.fingerprint.clone(),
                    ours: data.info.fingerprint.clone(),
                })
            }
            Some(d) if d.info != *data.info => Err(FolderError::DataReadOtherwise { dir }),
            _ => Ok(()),
        }
    }
}

/// A finished run's summary, if `dir` holds one for exactly `c` on `data`; an error if
/// `dir` holds another run's settings or data.
pub fn finished_run(
    dir: &Path,
    c: &TrainConfig,
    data: DataSeen,
) -> Result<Option<Summary>, FolderError> {
    if !holds_run(dir) {
        return Ok(None);
    }
    let saved = read_config(dir)?;
    if saved.train != *c {
        return Err(FolderError::OtherRun {
            dir: dir.to_path_buf(),
        });
    }
    saved.check_data(dir, data)?;
    let finished = read_summary(dir).filter(|s| s.status.finished());
    if finished.is_none() && saved.dataset.is_none() && dir.join(CHECKPOINT).exists() {
        return Err(FolderError::Legacy {
            dir: dir.to_path_buf(),
        });
    }
    Ok(finished)
}
