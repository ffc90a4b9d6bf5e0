//! `mlp-gpu reproduce`: the report's whole study as three sweeps, each choosing its settings
//! from the results of the one before, then the report.

use crate::report::{self, Study, DROPOUTS, LEARNING_RATES, OPTIMIZERS};
use crate::run::Session;
use crate::sweep::{self, Grid, Outcome};
use crate::train::TrainConfig;
use std::path::Path;

/// Runs (or resumes) the study into `out` with `base` settings for every seed; returns
/// every run's outcome, and writes the report unless interrupted or another process holds
/// some of its runs.
pub fn reproduce(
    s: &Session,
    base: &TrainConfig,
    seeds: &[u64],
    out: &Path,
    opts: &sweep::SweepOptions,
) -> Result<Outcome, String> {
    let quiet = opts.quiet;
    let mut all = Outcome {
        runs: Vec::new(),
        interrupted: false,
        busy: Vec::new(),
    };
    let mut stage = |name: &str, grid: Grid| -> Result<bool, String> {
        let configs = grid.configs(base);
        if !quiet {
            eprintln!("{name}: {} runs", configs.len());
        }
        let o = sweep::sweep(s, &configs, out, opts)?;
        all.runs.extend(o.runs);
        all.interrupted |= o.interrupted;
        all.busy.extend(o.busy);
        // The next stage picks its settings from this one's results: all of them.
        Ok(!all.interrupted && all.busy.is_empty())
    };
    let seed = seeds.to_vec();
    let grid = Grid {
        optimizer: OPTIMIZERS.to_vec(),
        lr: LEARNING_RATES.to_vec(),
        seed: seed.clone(),
        ..Grid::default()
    };
    if !stage("optimizer x learning rate", grid)? {
        return Ok(all);
    }
    // Each later stage starts from the best settings so far, read back from the files.
    let best = |pick: &dyn Fn(&Study) -> Option<TrainConfig>| -> Result<TrainConfig, String> {
        let (records, _) = report::collect(&[out.to_path_buf()])?;
        let study = Study {
            groups: report::groups(&records),
        };
        pick(&study).ok_or_else(|| format!("{}: the study's runs are missing", out.display()))
    };
    let cell = best(&|st| st.best_cell().map(|g| g.config.clone()))?;
    let dropout = Grid {
        optimizer: vec![cell.optimizer],
        lr: vec![cell.lr],
        dropout: DROPOUTS.to_vec(),
        seed: seed.clone(),
        ..Grid::default()
    };
    if !stage("dropout with the best optimizer and learning rate", dropout)? {
        return Ok(all);
    }
    let p = best(&|st| st.best_dropout().map(|g| g.config.clone()))?.dropout;
    let kaiming = Grid {
        optimizer: vec![cell.optimizer],
        lr: vec![cell.lr],
        dropout: vec![p],
        init: vec![crate::model::Init::KaimingUniform],
        batch_norm: vec![false, true],
        seed,
        ..Grid::default()
    };
    if !stage(
        "Kaiming-uniform initialisation, without and with batch norm",
        kaiming,
    )? {
        return Ok(all);
    }
    let path = report::report(&[out.to_path_buf()])?;
    if !quiet {
        eprintln!("report written to {}", path.display());
    }
    Ok(all)
}
