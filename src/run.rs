//! A run from settings to files (`train`, `train --resume`, each run of a sweep) and
//! `eval`. A run directory holds config.json, metrics.jsonl, checkpoint.safetensors (after
//! every epoch), model.safetensors and summary.json, each written atomically.

use crate::checkpoint::{self, Checkpoint};
use crate::data::{self, Fashion, Split, SplitSpec};
use crate::gpu::{Context, GpuError, Kernels, MatmulVariant};
use crate::lock::RunDir;
use crate::model::StateLayout;
use crate::output::{self, write_atomic, write_json};
use crate::train::{Dataset, EpochMetrics, Evaluation, TrainConfig, TrainError, Trainer};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

pub const CLASS_NAMES: [&str; 10] = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];

/// config.json: the settings and where they ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedConfig {
    #[serde(flatten)]
    pub train: TrainConfig,
    pub adapter: String,
    pub version: String,
    /// The data directory the run trained on; `--resume` reads the same one.
    #[serde(default)]
    pub data: Option<PathBuf>,
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
}

impl Status {
    /// Completed and diverged runs are results; the others are unfinished.
    pub fn finished(self) -> bool {
        matches!(self, Status::Completed | Status::Diverged)
    }
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
    pub mean_epoch_seconds: f64,
    pub adapter: String,
    pub per_class_test_accuracy: Vec<f64>,
}

impl Summary {
    fn new(
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
        Summary {
            status,
            error: None,
            test_accuracy: test.map(|t| t.accuracy),
            test_loss: test.map(|t| t.loss),
            val_accuracy: metrics.last().map_or(0.0, |m| m.val_accuracy),
            best_val_accuracy: best,
            best_epoch,
            epochs_run: metrics.len(),
            mean_epoch_seconds: metrics.iter().map(|m| m.epoch_seconds).sum::<f64>()
                / metrics.len().max(1) as f64,
            adapter,
            per_class_test_accuracy: test.map(|t| t.per_class.clone()).unwrap_or_default(),
        }
    }
}

/// Reads a JSON file written by mlp-gpu, naming the file in the error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a file written by mlp-gpu: {e}", path.display()))
}

/// Units per hidden layer above which sizes stop being a device question and overflow.
const MAX_HIDDEN: usize = 1 << 24;

/// Checks settings that clap cannot; each message names the flag and what to do.
pub fn validate(c: &TrainConfig) -> Result<(), String> {
    if !(c.lr.is_finite() && c.lr > 0.0) {
        return Err(format!(
            "--lr {}: the learning rate must be a positive finite number",
            c.lr
        ));
    }
    if !(0.0..1.0).contains(&c.dropout) {
        return Err(format!("--dropout {}: must be in [0, 1)", c.dropout));
    }
    for (flag, v) in [
        ("--momentum", c.momentum),
        ("--weight-decay", c.weight_decay),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!("{flag} {v}: must be finite and not negative"));
        }
    }
    if c.batch_size == 0 || c.epochs == 0 {
        return Err("--batch-size and --epochs must be at least 1".into());
    }
    if c.hidden.is_empty() || c.hidden.contains(&0) {
        return Err(
            "--hidden: give one or more positive layer sizes, e.g. --hidden 200,200,200".into(),
        );
    }
    if let Some(h) = c.hidden.iter().find(|&&h| h > MAX_HIDDEN) {
        return Err(format!(
            "--hidden {h}: layers of more than {MAX_HIDDEN} units cannot fit any device's buffer limits; use fewer units"
        ));
    }
    if c.subset == Some(0) || c.eval_subset == Some(0) {
        return Err("--subset and --eval-subset must be at least 1".into());
    }
    Ok(())
}

/// What every run of one process shares: the device, the compiled kernels and the dataset
/// on the GPU.
pub struct Session {
    pub ctx: Context,
    pub kernels: Kernels,
    pub data: Dataset,
    /// Where the images were read from.
    pub data_dir: PathBuf,
    train_len: usize,
    test_len: usize,
}

impl Session {
    /// Reads the data (first, so a bad file is reported before any GPU set-up), opens the
    /// adapter, compiles the kernels and uploads the images.
    /// `variant`: the matmul variant, if not the adapter's default.
    pub fn open(
        data_dir: Option<&Path>,
        adapter: Option<&str>,
        variant: Option<MatmulVariant>,
    ) -> Result<Session, String> {
        let dir = data::find_dir(data_dir).map_err(|e| e.to_string())?;
        let fashion = Fashion::load(&dir).map_err(|e| e.to_string())?;
        let mut ctx = Context::new(adapter).map_err(|e| e.to_string())?;
        ctx.variant = variant.unwrap_or(ctx.variant);
        let kernels = Kernels::new(&ctx).map_err(|e| e.to_string())?;
        let data = Dataset::upload(&ctx, &kernels, &fashion).map_err(|e| e.to_string())?;
        Ok(Session {
            ctx,
            kernels,
            data,
            data_dir: std::fs::canonicalize(&dir).unwrap_or(dir),
            train_len: fashion.train.len(),
            test_len: fashion.test.len(),
        })
    }

    pub fn adapter(&self) -> String {
        self.ctx.adapter_name()
    }

    pub fn split(&self, c: &TrainConfig) -> Result<Split, String> {
        let s = SplitSpec {
            split_seed: c.split_seed,
            val_size: c.val_size,
            subset: c.subset,
            eval_subset: c.eval_subset,
        };
        let split = Split::new(self.train_len, self.test_len, s)?;
        let n = split.train_idx.len();
        if c.batch_size > n {
            return Err(format!(
                "--batch-size {} is larger than the training set ({n} images); lower it",
                c.batch_size
            ));
        }
        // PyTorch refuses this too ("Expected more than 1 value per channel when training")
        if c.batch_norm && (c.batch_size == 1 || n % c.batch_size == 1) {
            return Err(format!(
                "--batch-norm with --batch-size {} leaves batches of one row ({n} training images): batch norm needs at least 2; change --batch-size (or --subset, --val-size)",
                c.batch_size
            ));
        }
        Ok(split)
    }

    /// Everything about `c` that can be refused before work starts: the split, and the
    /// network's buffers against the device's limits.
    pub fn check(&self, c: &TrainConfig) -> Result<(), String> {
        validate(c)?;
        self.fits(c, 1)
    }

    /// Whether a pack of `members` runs of `c`'s shape fits the device's limits.
    fn fits(&self, c: &TrainConfig, members: usize) -> Result<(), String> {
        let split = self.split(c)?;
        let slots = crate::train::loss_slots(&split, c.batch_size);
        let layout = crate::model::ParamLayout::new(&c.spec());
        crate::gpu::network::GpuNetwork::fits(&self.ctx, &layout, c.batch_size, slots, members)
            .map_err(|e| e.to_string())
    }

    /// The most runs of `c`'s shape, up to `cap`, whose pack fits the device's limits.
    pub fn pack_cap(&self, c: &TrainConfig, cap: usize) -> Result<usize, String> {
        self.split(c)?;
        let mut k = cap.max(1);
        while k > 1 && self.fits(c, k).is_err() {
            k /= 2;
        }
        Ok(k)
    }

    pub fn trainer(&self, c: &TrainConfig) -> Result<Trainer<'_>, String> {
        self.pack_trainer(vec![c.clone()])
    }

    /// A trainer of `configs` as one pack: they share their shape, batch norm, batch size
    /// and split (the first's).
    pub fn pack_trainer(&self, configs: Vec<TrainConfig>) -> Result<Trainer<'_>, String> {
        let split = self.split(&configs[0])?;
        let mut t = Trainer::new_pack(&self.ctx, &self.kernels, &self.data, configs, &split)
            .map_err(|e| self.gpu_error(e))?;
        t.faults = crate::fault::EpochFaults::from_env();
        Ok(t)
    }

    /// A GPU error as one line, naming device loss where that is what lies behind it.
    pub fn gpu_error(&self, e: GpuError) -> String {
        self.ctx.explain(e).to_string()
    }
}

fn progress(steps: usize, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("  {pos}/{len} steps [{bar:30}] {msg} {elapsed}")
            .expect("valid template"),
    );
    bar
}

/// Creates `dir` if needed and checks that it is a directory.
pub fn prepare_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "--out {}: cannot create the directory: {e}; choose another path",
            dir.display()
        )
    })?;
    if !dir.is_dir() {
        return Err(format!(
            "--out {}: is not a directory; choose another path",
            dir.display()
        ));
    }
    Ok(())
}

pub struct RunOptions<'a> {
    pub quiet: bool,
    /// Go on from the directory's checkpoint (if it has one) instead of starting over.
    pub resume: bool,
    /// Set by Ctrl-C: stop at the next step boundary.
    pub stop: Option<&'a AtomicBool>,
}

const CONFIG: &str = "config.json";
const METRICS: &str = "metrics.jsonl";
const CHECKPOINT: &str = "checkpoint.safetensors";
const MODEL: &str = "model.safetensors";
pub const SUMMARY: &str = "summary.json";

/// Trains `c` into `dir`, checkpointing every epoch, and writes the run's files. Ctrl-C
/// gives a summary with status `interrupted`; a fault writes status `failed` and returns
/// the error, naming what was kept.
pub fn run(s: &Session, c: &TrainConfig, dir: RunDir, o: &RunOptions) -> Result<Summary, String> {
    let runs = [(c.clone(), dir)];
    run_pack(s, &runs, o).map(|mut summaries| summaries.remove(0))
}

/// Refuses to start a new run in `dir` when it already holds one (`--out` onto a run).
pub fn refuse_existing(dir: &Path) -> Result<(), String> {
    if dir.join(CONFIG).exists() {
        return Err(format!(
            "--out {0}: already holds a run; continue it with `mlp-gpu train --resume {0}`, or choose a new --out",
            dir.display()
        ));
    }
    Ok(())
}

/// One run of a pack: its settings, folder, metrics so far, and its summary once it ended.
struct Member {
    c: TrainConfig,
    dir: PathBuf,
    metrics: Vec<EpochMetrics>,
    summary: Option<Summary>,
}

/// Trains `runs` (settings, folder held by this process) as one pack: they share shape,
/// batch norm, batch size and split, and (resuming) the epochs done. Each run's files are
/// what `run` writes for it alone; a run that diverges ends there while the others go on.
pub fn run_pack(
    s: &Session,
    runs: &[(TrainConfig, RunDir)],
    o: &RunOptions,
) -> Result<Vec<Summary>, String> {
    for (c, _) in runs {
        validate(c)?;
    }
    let mut trainer = s.pack_trainer(runs.iter().map(|r| r.0.clone()).collect())?;
    trainer.stop = o.stop;
    let mut members = Vec::new();
    for (m, (c, dir)) in runs.iter().enumerate() {
        let dir = dir.path();
        let metrics = start(s, &mut trainer, m, c, dir, o.resume)?;
        members.push(Member {
            c: c.clone(),
            dir: dir.to_path_buf(),
            metrics,
            summary: None,
        });
    }
    if members
        .iter()
        .any(|m| m.metrics.len() != members[0].metrics.len())
    {
        return Err("the runs of a pack must have finished the same epochs".into());
    }
    if !o.quiet {
        let from = match members[0].metrics.len() {
            0 => String::new(),
            e => format!(", resuming after epoch {e}"),
        };
        let c = &members[0].c;
        eprintln!(
            "training {} on {} images ({} steps of {} per epoch), validating on {}, adapter {}{from}",
            describe(c),
            trainer.train_idx.len(),
            trainer.steps_per_epoch(),
            c.batch_size,
            trainer.val_idx.len(),
            s.adapter()
        );
    }
    let epochs = Epochs { s, quiet: o.quiet };
    let e = match epochs.run(&mut trainer, &mut members) {
        Ok(()) => return Ok(members.into_iter().filter_map(|m| m.summary).collect()),
        Err(e) => e,
    };
    let (message, status) = match e {
        TrainError::Interrupted => (None, Status::Interrupted),
        TrainError::Gpu(e) => (Some(s.gpu_error(e)), Status::Failed),
        TrainError::Output(e) => (Some(e.to_string()), Status::Failed),
    };
    let mut first_error = None;
    let mut summaries = Vec::new();
    for m in members {
        if let Some(done) = m.summary {
            summaries.push(done);
            continue;
        }
        let mut summary = Summary::new(status, &m.metrics, None, s.adapter());
        summary.error = message.clone();
        let written = write_json(&m.dir.join(SUMMARY), &summary);
        let kept = match m.metrics.len() {
            0 => "no epoch had finished".to_string(),
            n => format!(
                "{} keeps the metrics and checkpoint of the {n} finished epochs",
                m.dir.display()
            ),
        };
        let failed = match &message {
            None => written.err().map(|e| e.to_string()),
            Some(msg) => Some(format!(
                "{msg}; {kept}; continue with `mlp-gpu train --resume {}`",
                m.dir.display()
            )),
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
) -> Result<Vec<EpochMetrics>, String> {
    let write_err = |e: output::OutputError| e.to_string();
    let resumed = if resume {
        let saved = t.net.state.saved().len();
        checkpoint::load(&dir.join(CHECKPOINT), t.net.params.len, saved).map_err(write_err)?
    } else {
        None
    };
    let mut metrics = Vec::new();
    match resumed {
        Some(ck) => {
            let mut state = t.net.state.init(&t.net.params);
            state[t.net.state.saved()].copy_from_slice(&ck.state);
            t.net.write(&s.ctx, m, &ck.params, &state);
            t.steps_done = ck.steps_done;
            metrics = ck.metrics;
        }
        None => {
            // Checked again now the folder is held: another process may have started a run.
            if !resume {
                refuse_existing(dir)?;
            }
            for stale in [CHECKPOINT, MODEL, SUMMARY, METRICS] {
                let _ = std::fs::remove_file(dir.join(stale));
            }
        }
    }
    let saved = SavedConfig {
        train: c.clone(),
        adapter: s.adapter(),
        version: env!("CARGO_PKG_VERSION").into(),
        data: Some(s.data_dir.clone()),
    };
    let config_path = dir.join(CONFIG);
    if !(resume && config_path.exists()) {
        write_json(&config_path, &saved).map_err(write_err)?;
    }
    Ok(metrics)
}

/// The epoch loop of a pack.
struct Epochs<'a> {
    s: &'a Session,
    quiet: bool,
}

impl Epochs<'_> {
    /// Trains the epochs after those in the members' metrics, appending theirs, and ends
    /// each member: diverged where its loss stops being finite, else completed.
    fn run(&self, t: &mut Trainer, members: &mut [Member]) -> Result<(), TrainError> {
        // Killed after checkpointing a diverged epoch: that is still the result.
        let diverged = |m: &Member| m.metrics.last().is_some_and(|e| !e.train_loss.is_finite());
        self.finish(t, members, Status::Diverged, &diverged)?;
        let epochs = members[0].c.epochs;
        for epoch in members[0].metrics.len()..epochs {
            if members.iter().all(|m| m.summary.is_some()) {
                break;
            }
            self.epoch(t, members, epoch)?;
            self.finish(t, members, Status::Diverged, &diverged)?;
        }
        self.finish(t, members, Status::Completed, &|_| true)
    }

    /// One epoch of the pack: its metrics and checkpoint into every running member's folder.
    fn epoch(
        &self,
        t: &mut Trainer,
        members: &mut [Member],
        epoch: usize,
    ) -> Result<(), TrainError> {
        let ctx = &self.s.ctx;
        let n = t.train_idx.len();
        let batch = members[0].c.batch_size;
        let bar = progress(t.steps_per_epoch(), self.quiet || members.len() > 1);
        let t0 = Instant::now();
        let report = |steps: usize, loss: f64| {
            let samples = (steps * batch).min(n);
            bar.set_position(steps as u64);
            bar.set_message(format!(
                "{:.0} samples/s, loss {loss:.4}",
                samples as f64 / t0.elapsed().as_secs_f64()
            ));
        };
        let shown = (!bar.is_hidden()).then_some(&report as &dyn Fn(usize, f64));
        let trained = t.train_epoch(epoch, shown);
        bar.finish_and_clear();
        let losses = trained?.0;
        let epoch_seconds = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let vals = t.evaluate(false)?;
        let eval_seconds = t1.elapsed().as_secs_f64();
        let saved = t.net.read_members(ctx)?;
        for (i, m) in members.iter_mut().enumerate() {
            if m.summary.is_some() {
                continue; // ended; its regions train on, unread
            }
            let e = EpochMetrics {
                epoch: epoch + 1,
                train_loss: losses[i],
                val_loss: vals[i].loss,
                val_accuracy: vals[i].accuracy,
                epoch_seconds,
                eval_seconds,
                samples_per_second: n as f64 / epoch_seconds,
            };
            if !self.quiet {
                eprintln!(
                    "epoch {:>3}  train loss {:.4}  val loss {:.4}  val acc {:.2}%  {:.2} s  {:.0} samples/s",
                    e.epoch,
                    e.train_loss,
                    e.val_loss,
                    100.0 * e.val_accuracy,
                    e.epoch_seconds,
                    e.samples_per_second
                );
            }
            m.metrics.push(e);
            // metrics.jsonl first: killed between the two, the epoch is trained again and
            // both files agree after it.
            let lines: String = m
                .metrics
                .iter()
                .map(|m| serde_json::to_string(m).expect("plain data") + "\n")
                .collect();
            write_atomic(&m.dir.join(METRICS), lines.as_bytes())?;
            let ck = Checkpoint {
                epochs_done: m.metrics.len(),
                steps_done: t.steps_done,
                params: saved[i].0.clone(),
                state: saved[i].1[t.net.state.saved()].to_vec(),
                metrics: m.metrics.clone(),
            };
            checkpoint::save(&m.dir.join(CHECKPOINT), &ck)?;
            if !losses[i].is_finite() {
                eprintln!(
                    "warning: the training loss became {} in epoch {}: the run diverged; stopping",
                    losses[i],
                    epoch + 1
                );
            }
        }
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
        let ctx = &self.s.ctx;
        let tests = t.evaluate(true)?;
        let saved = t.net.read_members(ctx)?;
        for (i, m) in members.iter_mut().enumerate() {
            if m.summary.is_some() || !ends(m) {
                continue;
            }
            let (params, state) = &saved[i];
            let bytes = output::model_bytes(
                &t.net.params,
                &t.net.state,
                m.c.dropout > 0.0,
                params,
                state,
                i64::from(t.steps_done),
            );
            write_atomic(&m.dir.join(MODEL), &bytes)?;
            let summary = Summary::new(status, &m.metrics, Some(&tests[i]), self.s.adapter());
            write_json(&m.dir.join(SUMMARY), &summary)?;
            m.summary = Some(summary);
        }
        Ok(())
    }
}

pub fn describe(c: &TrainConfig) -> String {
    let hidden: Vec<String> = c.hidden.iter().map(|h| h.to_string()).collect();
    format!(
        "784-{}-10 {} lr {}{}{}, init {}",
        hidden.join("-"),
        c.optimizer.name(),
        c.lr,
        if c.batch_norm { ", batch norm" } else { "" },
        if c.dropout > 0.0 {
            format!(", dropout {}", c.dropout)
        } else {
            String::new()
        },
        c.init.name()
    )
}

/// Scores a saved model on the test set.
pub fn eval(
    dir: &Path,
    data: Option<&Path>,
    adapter: Option<&str>,
    eval_subset: Option<usize>,
) -> Result<Evaluation, String> {
    let config_path = dir.join(CONFIG);
    let saved: SavedConfig = read_json(&config_path)
        .map_err(|e| format!("{e}; --model takes a run directory made by `mlp-gpu train`"))?;
    let mut c = saved.train;
    c.eval_subset = eval_subset.or(c.eval_subset);
    validate(&c)?;
    let layout = crate::model::ParamLayout::new(&c.spec());
    let state_layout = StateLayout::new(&layout, 1);
    let (params, state) =
        output::load_model(&dir.join(MODEL), &layout, &state_layout, c.dropout > 0.0)
            .map_err(|e| e.to_string())?;
    let data = data.map(Path::to_path_buf).or(saved.data);
    let s = Session::open(data.as_deref(), adapter, None)?;
    let trainer = s.trainer(&c)?;
    let mut full_state = trainer.net.state.init(&trainer.net.params);
    let saved = state_layout.saved();
    full_state[saved.clone()].copy_from_slice(&state[saved]);
    trainer.net.write(&s.ctx, 0, &params, &full_state);
    trainer
        .evaluate(true)
        .map(|mut e| e.swap_remove(0))
        .map_err(|e| s.gpu_error(e))
}
