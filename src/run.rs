//! A pack of runs (`train` is a pack of one) from a trainer to its folders: resuming from
//! checkpoints, the epoch loop with its progress, each member's files, and the summaries of
//! members a fault or Ctrl-C stopped.

use crate::config::{describe, TrainConfig};
use crate::error::Error;
use crate::progress::Progress;
use crate::rundir::{
    self, checkpoint, model_file, EpochMetrics, RunDir, SavedConfig, Status, Summary,
};
use crate::session::Session;
use crate::train::{TrainError, Trainer};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// How far a call of `run_pack` takes its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// To their last epoch: completed.
    Complete,
    /// To this epoch (a halving rung), where they wait without a summary; completed if it
    /// is their last.
    Pause(usize),
    /// To this epoch, where they end `stopped` (a rung's losers).
    Stop(usize),
}

pub struct RunOptions<'a> {
    pub quiet: bool,
    pub goal: Goal,
    /// A run of `train`, not of a sweep: it says first what trains, on what and where (a
    /// sweep names its runs itself), and a fault names `train --resume` to go on (a sweep's
    /// run goes on when the sweep is rerun).
    pub alone: bool,
    /// Go on from the folders' checkpoints (where they have one) instead of starting over.
    pub resume: bool,
    /// Set by Ctrl-C: stop at the next step boundary.
    pub stop: Option<&'a AtomicBool>,
}

/// One run of a pack: its settings, folder, metrics so far, and its summary once it ended.
pub(crate) struct Member {
    pub c: TrainConfig,
    pub dir: PathBuf,
    pub metrics: Vec<EpochMetrics>,
    pub summary: Option<Summary>,
}

/// Trains the pack `trainer` holds into `dirs` (member i into dirs[i], held by this
/// process) as far as `o.goal` says, checkpointing every epoch; returns each member's
/// summary, None for a member paused at its goal. Each run's files are what it writes alone,
/// timings aside; a run that diverges ends there while the others go on. Ctrl-C gives every
/// unfinished member a summary with status `interrupted`; a fault writes status `failed`
/// and returns the error, naming what was kept.
pub fn run_pack<'a>(
    s: &Session,
    mut trainer: Trainer<'a>,
    dirs: &[RunDir],
    o: &RunOptions<'a>,
) -> Result<Vec<Option<Summary>>, Error> {
    trainer.set_stop(o.stop);
    let mut members = Vec::new();
    for (m, dir) in dirs.iter().enumerate() {
        let c = trainer.configs()[m].clone();
        let metrics = start(s, &mut trainer, m, &c, dir.path(), o.resume)?;
        members.push(Member {
            c,
            dir: dir.path().to_path_buf(),
            metrics,
            summary: None,
        });
    }
    assert!(
        members
            .iter()
            .all(|m| m.metrics.len() == members[0].metrics.len()),
        "the runs of a pack have finished the same epochs"
    );
    if o.alone && !o.quiet {
        say_start(s, &trainer, &members);
    }
    let epochs = Epochs {
        s,
        progress: Progress::new(o.quiet, trainer.members()),
        goal: o.goal,
    };
    let e = match epochs.run(&mut trainer, &mut members) {
        Ok(()) => return Ok(members.into_iter().map(|m| m.summary).collect()),
        Err(e) => e,
    };
    let (message, status) = match e {
        TrainError::Interrupted => (None, Status::Interrupted),
        TrainError::Gpu(e) => (Some(s.explain(e).to_string()), Status::Failed),
        TrainError::Folder(e) => (Some(e.to_string()), Status::Failed),
    };
    stopped(s, members, status, message, o.alone).map(|v| v.into_iter().map(Some).collect())
}

/// The line a pack starts with: what it trains, on what, from where.
fn say_start(s: &Session, t: &Trainer, members: &[Member]) {
    let from = match members[0].metrics.len() {
        0 => String::new(),
        e => format!(", resuming after epoch {e}"),
    };
    let c = &members[0].c;
    let info = s.info();
    let network = describe(c, info.inputs, info.classes.len());
    let what = match members.len() {
        1 => network,
        k => format!("a pack of {k} runs, {network}"),
    };
    eprintln!(
        "training {what} on {} rows ({} steps of {} per epoch), validating on {}, adapter {}{from}",
        t.train_len(),
        t.steps_per_epoch(),
        c.batch_size.min(t.train_len()),
        t.val_len(),
        s.adapter()
    );
}

/// Gives every member still running a summary with `status` (interrupted or failed, with
/// `message`); returns them all, or the first failure as an error (saying how to go on: as
/// `alone` says).
fn stopped(
    s: &Session,
    members: Vec<Member>,
    status: Status,
    message: Option<String>,
    alone: bool,
) -> Result<Vec<Summary>, Error> {
    let mut first_error = None;
    let mut summaries = Vec::new();
    for m in members {
        if let Some(done) = m.summary {
            summaries.push(done);
            continue;
        }
        let mut summary = Summary::new(status, &m.metrics, None, s.adapter());
        summary.error = message.clone();
        let written = rundir::write_json(&m.dir.join(rundir::SUMMARY), &summary);
        let failed = match &message {
            None => written.err().map(Error::from),
            Some(msg) => Some(Error::RunFailed {
                message: msg.clone(),
                kept: match m.metrics.len() {
                    0 => "no epoch had finished".to_string(),
                    n => format!(
                        "{} keeps the metrics and checkpoint of the {n} finished epochs",
                        m.dir.display()
                    ),
                },
                resume: match alone {
                    true => format!("continue with `mlp-gpu train --resume {}`", m.dir.display()),
                    false => "rerun the same command to go on from there".into(),
                },
            }),
        };
        first_error = first_error.or(failed);
        summaries.push(summary);
    }
    match first_error {
        None => Ok(summaries),
        Some(e) => Err(e),
    }
}

/// Prepares member `m`'s folder: its checkpoint loaded into the trainer when resuming (else,
/// unless it holds a run, its stale files removed) and its config.json; returns its finished
/// epochs' metrics.
fn start(
    s: &Session,
    t: &mut Trainer,
    m: usize,
    c: &TrainConfig,
    dir: &Path,
    resume: bool,
) -> Result<Vec<EpochMetrics>, Error> {
    let resumed = if resume {
        let (params, saved) = t.weight_sizes();
        checkpoint::load(&dir.join(rundir::CHECKPOINT), params, saved)?
    } else {
        None
    };
    let mut metrics = Vec::new();
    match resumed {
        Some(ck) => {
            t.restore(m, &(ck.params, ck.state), ck.steps_done);
            metrics = ck.metrics;
        }
        None => {
            // Checked again now the folder is held: another process may have started a run.
            if !resume {
                rundir::refuse_existing(dir)?;
            }
            for stale in [
                rundir::CHECKPOINT,
                rundir::MODEL,
                rundir::SUMMARY,
                rundir::METRICS,
            ] {
                let _ = std::fs::remove_file(dir.join(stale));
            }
        }
    }
    let saved = SavedConfig {
        train: c.clone(),
        adapter: s.adapter(),
        version: env!("CARGO_PKG_VERSION").into(),
        data: Some(s.data_dir.clone()),
        dataset: Some(s.record(t.normalization())),
    };
    let config_path = dir.join(rundir::CONFIG);
    if !(resume && config_path.exists()) {
        rundir::write_json(&config_path, &saved)?;
    }
    Ok(metrics)
}

/// The epoch loop of a pack.
struct Epochs<'a> {
    s: &'a Session,
    progress: Progress,
    goal: Goal,
}

impl Epochs<'_> {
    /// Trains the epochs after those in the members' metrics up to the goal, appending
    /// theirs, and ends each member as the goal says: diverged where its loss stops being
    /// finite, else completed at its last epoch, stopped at a Stop goal, or not at all (a
    /// Pause before the last epoch).
    fn run(&self, t: &mut Trainer, members: &mut [Member]) -> Result<(), TrainError> {
        // Killed after checkpointing a diverged epoch: that is still the result.
        let diverged = |m: &Member| m.metrics.last().is_some_and(|e| !e.train_loss.is_finite());
        self.finish(t, members, Status::Diverged, &diverged)?;
        let epochs = members[0].c.epochs;
        let (until, end) = match self.goal {
            Goal::Complete => (epochs, Some(Status::Completed)),
            Goal::Pause(e) if e >= epochs => (epochs, Some(Status::Completed)),
            Goal::Pause(e) => (e, None),
            Goal::Stop(e) => (e.min(epochs), Some(Status::Stopped)),
        };
        for epoch in members[0].metrics.len()..until {
            if members.iter().all(|m| m.summary.is_some()) {
                break;
            }
            self.epoch(t, members, epoch)?;
            self.finish(t, members, Status::Diverged, &diverged)?;
        }
        match end {
            Some(status) => self.finish(t, members, status, &|_| true),
            None => Ok(()),
        }
    }

    /// One epoch of the pack: its metrics and checkpoint into every running member's folder.
    fn epoch(
        &self,
        t: &mut Trainer,
        members: &mut [Member],
        epoch: usize,
    ) -> Result<(), TrainError> {
        let k = t.members();
        let bar = self.progress.bar(t, members, epoch);
        let t0 = Instant::now();
        let trained = t.train_epoch(epoch, bar.report());
        bar.finish();
        let losses = trained?.0;
        let pack_seconds = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let vals = t.evaluate(false)?;
        let eval_seconds = t1.elapsed().as_secs_f64();
        let saved = t.saved_weights()?;
        for (i, m) in members.iter_mut().enumerate() {
            if m.summary.is_some() {
                continue; // ended; its regions train on, unread
            }
            m.metrics.push(EpochMetrics {
                epoch: epoch + 1,
                train_loss: losses[i],
                val_loss: vals[i].loss,
                val_accuracy: vals[i].accuracy,
                epoch_seconds: pack_seconds / k as f64,
                eval_seconds: eval_seconds / k as f64,
                samples_per_second: (k * t.train_len()) as f64 / pack_seconds,
                pack_size: k,
                pack_epoch_seconds: Some(pack_seconds),
            });
            // metrics.jsonl first: killed between the two, the epoch is trained again and
            // both files agree after it.
            rundir::write_metrics(&m.dir, &m.metrics)?;
            let ck = checkpoint::Checkpoint {
                epochs_done: m.metrics.len(),
                steps_done: t.steps_done(),
                params: saved[i].0.clone(),
                state: saved[i].1.clone(),
                metrics: m.metrics.clone(),
            };
            checkpoint::save(&m.dir.join(rundir::CHECKPOINT), &ck)?;
            if !losses[i].is_finite() {
                eprintln!(
                    "warning: {}the training loss became {} in epoch {}: the run diverged; stopping it",
                    if k > 1 { format!("{}: ", m.dir.display()) } else { String::new() },
                    losses[i],
                    epoch + 1
                );
            }
        }
        self.progress.epoch_done(members, epoch, pack_seconds);
        Ok(())
    }

    /// Ends every running member that `ends` picks with `status`: the test evaluation,
    /// model.safetensors and summary.json.
    fn finish(
        &self,
        t: &mut Trainer,
        members: &mut [Member],
        status: Status,
        ends: &dyn Fn(&Member) -> bool,
    ) -> Result<(), TrainError> {
        if !members.iter().any(|m| m.summary.is_none() && ends(m)) {
            return Ok(());
        }
        let tests = t.evaluate(true)?;
        let saved = t.saved_weights()?;
        for (i, m) in members.iter_mut().enumerate() {
            if m.summary.is_some() || !ends(m) {
                continue;
            }
            let meta = model_file::metadata(&m.c, &self.s.record(t.normalization()));
            let bytes = t.model_file(i, &saved[i], meta);
            rundir::write_atomic(&m.dir.join(rundir::MODEL), &bytes)?;
            let summary = Summary::new(status, &m.metrics, Some(&tests[i]), self.s.adapter());
            rundir::write_json(&m.dir.join(rundir::SUMMARY), &summary)?;
            m.summary = Some(summary);
        }
        Ok(())
    }
}
