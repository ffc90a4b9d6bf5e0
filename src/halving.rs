//! Successive halving (Jamieson and Talwalkar 2016; the rungs of Hyperband and ASHA): a
//! sweep trains all its runs to a first rung of R epochs, keeps the best 1/ETA of them by
//! validation accuracy, trains those to R*ETA, and so on, then the last ones to `--epochs`.
//! The losers end `stopped` at their rung, a result with its model. Each rung's ranking is
//! recorded in the sweep folder before it is acted on, so a rerun continues the schedule and
//! never decides a rung again.

use crate::config::ConfigError;
use crate::rundir::{self, EpochMetrics, FolderError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `--halving ETA --first-rung R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halving {
    pub eta: usize,
    pub first_rung: usize,
}

impl Halving {
    /// Refuses an ETA under 2 and a first rung of 0, naming the flags.
    pub fn new(eta: usize, first_rung: usize) -> Result<Self, ConfigError> {
        if eta < 2 {
            let message =
                format!("--halving {eta}: give 2 or more (each rung keeps 1/ETA of the runs)");
            return Err(ConfigError::new("--halving", message));
        }
        if first_rung == 0 {
            let message = "--first-rung 0: give at least 1 epoch";
            return Err(ConfigError::new("--first-rung", message));
        }
        Ok(Halving { eta, first_rung })
    }

    /// The rungs before `epochs`: R, R*ETA, R*ETA^2, ... (the last stage trains the runs
    /// left to `epochs` itself).
    pub fn rungs(self, epochs: usize) -> Vec<usize> {
        let mut rungs = Vec::new();
        let mut r = self.first_rung;
        while r < epochs {
            rungs.push(r);
            r = r.saturating_mul(self.eta);
        }
        rungs
    }

    /// How many of `n` ranked runs go on from a rung: ceil(n / ETA), at least one.
    pub fn survivors(self, n: usize) -> usize {
        n.div_ceil(self.eta).max(1).min(n)
    }
}

/// A run's place in a rung's ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub run: String,
    pub val_accuracy: f64,
    pub val_loss: f64,
}

/// `runs` (name, that epoch's metrics) best first: by validation accuracy, then by
/// validation loss, then by name, so that the order is always the same.
pub fn rank(runs: &[(String, &EpochMetrics)]) -> Vec<Ranked> {
    let mut out: Vec<Ranked> = runs
        .iter()
        .map(|(run, m)| Ranked {
            run: run.clone(),
            val_accuracy: m.val_accuracy,
            val_loss: m.val_loss,
        })
        .collect();
    out.sort_by(|a, b| {
        b.val_accuracy
            .total_cmp(&a.val_accuracy)
            .then(a.val_loss.total_cmp(&b.val_loss))
            .then(a.run.cmp(&b.run))
    });
    out
}

/// One rung's decision: its ranking, and which runs went on and which stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub epoch: usize,
    pub ranking: Vec<Ranked>,
    pub survivors: Vec<String>,
    pub stopped: Vec<String>,
}

/// The sweep folder's record of a halving: its schedule, its runs, and every rung decided
/// so far (halving.json, or halving-I-of-N.json for shard I/N: each shard halves its own
/// runs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub eta: usize,
    pub first_rung: usize,
    pub epochs: usize,
    /// The runs the halving ranks, by folder name, sorted.
    pub runs: Vec<String>,
    pub rungs: Vec<Decision>,
}

/// The record's file in `out` for `shard` (index, count), if the sweep is one.
pub fn record_path(out: &Path, shard: Option<(usize, usize)>) -> PathBuf {
    match shard {
        Some((i, n)) => out.join(format!("halving-{i}-of-{n}.json")),
        None => out.join("halving.json"),
    }
}

impl Record {
    /// The record at `path`, or a new one for `runs`; an error if it records another
    /// schedule or other runs (a rerun must halve the same sweep).
    pub fn open(
        path: &Path,
        h: Halving,
        epochs: usize,
        mut runs: Vec<String>,
    ) -> Result<Record, FolderError> {
        runs.sort();
        let fresh = Record {
            eta: h.eta,
            first_rung: h.first_rung,
            epochs,
            runs,
            rungs: Vec::new(),
        };
        if !path.exists() {
            return Ok(fresh);
        }
        let r: Record = rundir::read_json(path)?;
        let problem = if (r.eta, r.first_rung, r.epochs) != (h.eta, h.first_rung, epochs) {
            format!(
                "records a halving with --halving {} --first-rung {} over {} epochs, not --halving {} --first-rung {} over {epochs}",
                r.eta, r.first_rung, r.epochs, h.eta, h.first_rung
            )
        } else if r.runs != fresh.runs {
            "records the halving of another set of runs than this sweep's".into()
        } else {
            return Ok(r);
        };
        Err(FolderError::invalid(
            path,
            format!("{problem}; rerun the sweep as it was, or use another --out"),
        ))
    }

    /// The decision taken at rung `epoch`, if it was.
    pub fn decided(&self, epoch: usize) -> Option<&Decision> {
        self.rungs.iter().find(|d| d.epoch == epoch)
    }

    /// Adds `d` and writes the record, before anything acts on it.
    pub fn decide(&mut self, path: &Path, d: Decision) -> Result<(), FolderError> {
        self.rungs.push(d);
        rundir::write_json(path, self)
    }
}
