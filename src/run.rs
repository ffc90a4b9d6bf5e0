//! `mlp-gpu train` and `mlp-gpu eval`: a run from settings to files.

use crate::data::{self, Split, SplitSpec};
use crate::gpu::{Context, Kernels};
use crate::model::StateLayout;
use crate::output::{self, write_atomic, write_json};
use crate::train::{EpochMetrics, Evaluation, TrainConfig, Trainer};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub status: String,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub val_accuracy: f64,
    pub best_val_accuracy: f64,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub mean_epoch_seconds: f64,
    pub adapter: String,
    pub per_class_test_accuracy: Vec<f64>,
}

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
    let non_negative = |v: f32| v.is_finite() && v >= 0.0;
    if !non_negative(c.momentum) || !non_negative(c.weight_decay) {
        return Err("--momentum and --weight-decay must be finite and not negative".into());
    }
    if c.batch_size == 0 || c.epochs == 0 {
        return Err("--batch-size and --epochs must be at least 1".into());
    }
    if c.hidden.is_empty() || c.hidden.contains(&0) {
        return Err(
            "--hidden: give one or more positive layer sizes, e.g. --hidden 200,200,200".into(),
        );
    }
    if c.subset == Some(0) || c.eval_subset == Some(0) {
        return Err("--subset and --eval-subset must be at least 1".into());
    }
    Ok(())
}

pub fn load_split(c: &TrainConfig, data_dir: Option<&Path>) -> Result<Split, String> {
    let dir = data::find_dir(data_dir).map_err(|e| e.to_string())?;
    let train = data::load(&dir, "train").map_err(|e| e.to_string())?;
    let test = data::load(&dir, "t10k").map_err(|e| e.to_string())?;
    let s = SplitSpec {
        split_seed: c.split_seed,
        val_size: c.val_size,
        subset: c.subset,
        eval_subset: c.eval_subset,
    };
    let split = Split::new(train, test, s)?;
    if c.batch_size > split.train_idx.len() {
        return Err(format!(
            "--batch-size {} is larger than the training set ({} images); lower it",
            c.batch_size,
            split.train_idx.len()
        ));
    }
    Ok(split)
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

pub struct TrainOptions {
    pub out: PathBuf,
    pub data: Option<PathBuf>,
    pub adapter: Option<String>,
    pub quiet: bool,
}

/// Trains, evaluates and writes the run's files; returns the summary.
pub fn train(c: TrainConfig, o: &TrainOptions) -> Result<Summary, String> {
    validate(&c)?;
    let split = load_split(&c, o.data.as_deref())?;
    let ctx = Context::new(o.adapter.as_deref()).map_err(|e| e.to_string())?;
    let kernels = Kernels::new(&ctx).map_err(|e| e.to_string())?;
    let mut trainer = Trainer::new(&ctx, &kernels, c.clone(), &split).map_err(|e| e.to_string())?;
    let adapter = ctx.adapter_name();
    if !o.out.exists() {
        std::fs::create_dir_all(&o.out).map_err(|e| {
            format!(
                "--out {}: cannot create the directory: {e}",
                o.out.display()
            )
        })?;
    }
    if !o.out.is_dir() {
        return Err(format!(
            "--out {}: is not a directory; choose another path",
            o.out.display()
        ));
    }
    let saved = SavedConfig {
        train: c.clone(),
        adapter: adapter.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    write_json(&o.out.join("config.json"), &saved).map_err(|e| e.to_string())?;
    if !o.quiet {
        eprintln!(
            "training {} on {} images ({} steps of {} per epoch), validating on {}, adapter {adapter}",
            describe(&c),
            trainer.train_idx.len(),
            trainer.steps_per_epoch(),
            c.batch_size,
            trainer.val_idx.len()
        );
    }
    let mut metrics: Vec<EpochMetrics> = Vec::new();
    let mut status = "completed";
    let trainer_len = trainer.train_idx.len();
    for epoch in 0..c.epochs {
        let bar = progress(trainer.steps_per_epoch(), o.quiet);
        let t0 = Instant::now();
        let report = |steps: usize, loss: f64| {
            let samples = (steps * c.batch_size).min(trainer_len);
            bar.set_position(steps as u64);
            bar.set_message(format!(
                "{:.0} samples/s, loss {loss:.4}",
                samples as f64 / t0.elapsed().as_secs_f64()
            ));
        };
        let shown = (!bar.is_hidden()).then_some(&report as &dyn Fn(usize, f64));
        let (train_loss, _) = trainer
            .train_epoch(epoch, shown)
            .map_err(|e| e.to_string())?;
        let epoch_seconds = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let t1 = Instant::now();
        let val = trainer.evaluate(false).map_err(|e| e.to_string())?;
        let m = EpochMetrics {
            epoch: epoch + 1,
            train_loss,
            val_loss: val.loss,
            val_accuracy: val.accuracy,
            epoch_seconds,
            eval_seconds: t1.elapsed().as_secs_f64(),
            samples_per_second: trainer.train_idx.len() as f64 / epoch_seconds,
        };
        if !o.quiet {
            eprintln!(
                "epoch {:>3}  train loss {:.4}  val loss {:.4}  val acc {:.2}%  {:.2} s  {:.0} samples/s",
                m.epoch,
                m.train_loss,
                m.val_loss,
                100.0 * m.val_accuracy,
                m.epoch_seconds,
                m.samples_per_second
            );
        }
        metrics.push(m);
        let lines: String = metrics
            .iter()
            .map(|m| serde_json::to_string(m).expect("plain data") + "\n")
            .collect();
        write_atomic(&o.out.join("metrics.jsonl"), lines.as_bytes()).map_err(|e| e.to_string())?;
        if !train_loss.is_finite() {
            eprintln!("warning: the training loss became {train_loss} in epoch {}: the run diverged; stopping", epoch + 1);
            status = "diverged";
            break;
        }
    }
    let test = trainer.evaluate(true).map_err(|e| e.to_string())?;
    let params = trainer.net.read_params(&ctx).map_err(|e| e.to_string())?;
    let state = trainer.net.read_state(&ctx).map_err(|e| e.to_string())?;
    let bytes = output::model_bytes(
        &trainer.net.params,
        &trainer.net.state,
        c.dropout > 0.0,
        &params,
        &state,
        i64::from(trainer.steps_done),
    );
    write_atomic(&o.out.join("model.safetensors"), &bytes).map_err(|e| e.to_string())?;
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
    let summary = Summary {
        status: status.into(),
        test_accuracy: test.accuracy,
        test_loss: test.loss,
        val_accuracy: metrics.last().map_or(0.0, |m| m.val_accuracy),
        best_val_accuracy: best,
        best_epoch,
        epochs_run: metrics.len(),
        mean_epoch_seconds: metrics.iter().map(|m| m.epoch_seconds).sum::<f64>()
            / metrics.len().max(1) as f64,
        adapter,
        per_class_test_accuracy: test.per_class.clone(),
    };
    write_json(&o.out.join("summary.json"), &summary).map_err(|e| e.to_string())?;
    Ok(summary)
}

pub fn describe(c: &TrainConfig) -> String {
    let hidden: Vec<String> = c.hidden.iter().map(|h| h.to_string()).collect();
    format!(
        "784-{}-10 {} lr {}{}{}, init {:?}",
        hidden.join("-"),
        c.optimizer.name(),
        c.lr,
        if c.batch_norm { ", batch norm" } else { "" },
        if c.dropout > 0.0 {
            format!(", dropout {}", c.dropout)
        } else {
            String::new()
        },
        c.init
    )
}

/// Scores a saved model on the test set.
pub fn eval(
    dir: &Path,
    data: Option<&Path>,
    adapter: Option<&str>,
    eval_subset: Option<usize>,
) -> Result<Evaluation, String> {
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| {
        format!(
            "{}: cannot read: {e}; --model takes a run directory made by `mlp-gpu train`",
            config_path.display()
        )
    })?;
    let saved: SavedConfig = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a config.json written by mlp-gpu: {e}",
            config_path.display()
        )
    })?;
    let mut c = saved.train;
    c.eval_subset = eval_subset.or(c.eval_subset);
    validate(&c)?;
    let layout = crate::model::ParamLayout::new(&c.spec());
    let model_path = dir.join("model.safetensors");
    let state_layout = StateLayout::new(&layout, 1);
    let (params, state) = output::load_model(&model_path, &layout, &state_layout, c.dropout > 0.0)
        .map_err(|e| e.to_string())?;
    let split = load_split(&c, data)?;
    let ctx = Context::new(adapter).map_err(|e| e.to_string())?;
    let kernels = Kernels::new(&ctx).map_err(|e| e.to_string())?;
    let trainer = Trainer::new(&ctx, &kernels, c, &split).map_err(|e| e.to_string())?;
    let mut full_state = trainer.net.state.init(&trainer.net.params);
    full_state[..state_layout.slots].copy_from_slice(&state[..state_layout.slots]);
    trainer.net.write(&ctx, &params, &full_state);
    trainer.evaluate(true).map_err(|e| e.to_string())
}
