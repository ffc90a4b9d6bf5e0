//! The command line: parse, call the library, print results on stdout and one clear line
//! per error on stderr.

use clap::{Args, Parser, Subcommand};
use mlp_gpu::lock::RunDir;
use mlp_gpu::model::Init;
use mlp_gpu::optim::OptimizerKind;
use mlp_gpu::run::{self, RunOptions, SavedConfig, Session, Status, CLASS_NAMES};
use mlp_gpu::sweep::{self, Grid, Shard};
use mlp_gpu::train::TrainConfig;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

#[derive(Parser)]
#[command(
    name = "mlp-gpu",
    version,
    about = "Train fully-connected networks on Fashion-MNIST in WGSL compute shaders (Vulkan, Metal, DX12)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters and mark the default.
    Devices,
    /// Train a network and save it with its metrics (and a checkpoint after every epoch).
    Train(TrainArgs),
    /// Train every combination of list-valued settings, one run folder each; resumable.
    Sweep(SweepArgs),
    /// Rerun the whole Fashion-MNIST study of the report, then write its report.
    Reproduce(ReproduceArgs),
    /// Write report.md, figures/*.svg and results.csv from run folders, without training.
    Report {
        /// Folders of runs (a sweep's or reproduce's --out); shards are merged.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Check this adapter's kernels against the CPU reference: a row per check, exit 1 if any fails.
    Check {
        #[arg(long)]
        adapter: Option<String>,
        /// Print only JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Score a saved model on the test set.
    Eval {
        /// A run directory written by `train` (config.json + model.safetensors).
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        adapter: Option<String>,
        #[arg(allow_negative_numbers = true, long)]
        eval_subset: Option<usize>,
        /// Print only JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Time training epochs of the default network (Adam, lr 0.005).
    Bench {
        #[arg(
            allow_negative_numbers = true,
            long,
            value_delimiter = ',',
            default_value = "64,512"
        )]
        batch_size: Vec<usize>,
        /// Timed epochs per case, after one warm-up epoch.
        #[arg(allow_negative_numbers = true, long, default_value_t = 3)]
        epochs: usize,
        #[arg(allow_negative_numbers = true, long)]
        subset: Option<usize>,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        adapter: Option<String>,
        /// Print only JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Also GPU time per kernel over one epoch, from timestamp queries (packs of one).
        #[arg(long)]
        profile: bool,
        /// Runs trained together as one pack, per case (seeds 0, 1, ...), e.g. 1,4,16.
        #[arg(
            allow_negative_numbers = true,
            long,
            value_delimiter = ',',
            default_value = "1"
        )]
        pack_size: Vec<usize>,
        /// The matmul variant (default: the adapter's; `--matmul` compares them).
        #[arg(long, value_enum)]
        matmul_variant: Option<mlp_gpu::gpu::MatmulVariant>,
        /// Instead: GFLOP/s of each matmul product of a 784-input, 200-output layer at each
        /// batch size, for every variant.
        #[arg(long, conflicts_with_all = ["matmul_variant", "json", "profile", "data", "epochs", "subset"])]
        matmul: bool,
    },
}

/// The settings of a run. In `sweep` the list-valued ones take comma-separated lists.
#[derive(Args)]
struct Settings {
    /// Hidden layer sizes [200,200,200].
    #[arg(allow_negative_numbers = true, long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// [sgd]
    #[arg(long, value_enum, value_delimiter = ',')]
    optimizer: Vec<OptimizerKind>,
    /// Learning rate [0.05].
    #[arg(allow_negative_numbers = true, long, value_delimiter = ',')]
    lr: Vec<f32>,
    /// [0]
    #[arg(allow_negative_numbers = true, long)]
    momentum: Option<f32>,
    /// [0]
    #[arg(allow_negative_numbers = true, long)]
    weight_decay: Option<f32>,
    /// [10]
    #[arg(allow_negative_numbers = true, long)]
    epochs: Option<usize>,
    /// [512]
    #[arg(allow_negative_numbers = true, long, value_delimiter = ',')]
    batch_size: Vec<usize>,
    /// Drop probability after each hidden layer [0].
    #[arg(allow_negative_numbers = true, long, value_delimiter = ',')]
    dropout: Vec<f32>,
    /// [pytorch]
    #[arg(long, value_enum, value_delimiter = ',')]
    init: Vec<Init>,
    /// Batch normalisation after each hidden linear layer (bare: true; or =false,true).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_delimiter = ',')]
    batch_norm: Vec<bool>,
    /// Seed for initialisation, shuffling and dropout [0].
    #[arg(allow_negative_numbers = true, long, value_delimiter = ',')]
    seed: Vec<u64>,
    /// Seed of the train/validation split [1234].
    #[arg(allow_negative_numbers = true, long)]
    split_seed: Option<u64>,
    /// Training images held out for validation [10000].
    #[arg(allow_negative_numbers = true, long)]
    val_size: Option<usize>,
    /// Train on the first N images of the training part.
    #[arg(allow_negative_numbers = true, long)]
    subset: Option<usize>,
    /// Evaluate on the first N validation and test images.
    #[arg(allow_negative_numbers = true, long)]
    eval_subset: Option<usize>,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Adapter index or part of its name (see `mlp-gpu devices`).
    #[arg(long)]
    adapter: Option<String>,
    /// Only errors and results.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    settings: Settings,
    /// Output directory [runs/<timestamp>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rerun the settings of a saved config.json; flags given beside it override.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue an interrupted run in this directory from its last checkpoint.
    #[arg(long, conflicts_with_all = [
        "out", "config", "hidden", "optimizer", "lr", "momentum", "weight_decay", "epochs",
        "batch_size", "dropout", "init", "batch_norm", "seed", "split_seed", "val_size",
        "subset", "eval_subset",
    ])]
    resume: Option<PathBuf>,
    /// Print the summary as JSON only on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SweepArgs {
    #[command(flatten)]
    settings: Settings,
    /// Directory of the run folders; rerunning skips finished runs.
    #[arg(long)]
    out: PathBuf,
    /// Run only the I-th of N interleaved slices of the runs, e.g. 2/4.
    #[arg(long)]
    shard: Option<Shard>,
    /// Most runs trained together as one pack, in the same dispatches (runs that share
    /// --hidden, --batch-norm, --batch-size, epochs and split); 1 trains one at a time.
    #[arg(allow_negative_numbers = true, long, default_value_t = sweep::PACK_SIZE)]
    pack_size: usize,
    /// Print the runs' results as JSON only on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReproduceArgs {
    /// Seeds; each runs the whole study [0].
    #[arg(
        allow_negative_numbers = true,
        long,
        value_delimiter = ',',
        default_value = "0"
    )]
    seeds: Vec<u64>,
    /// [10]
    #[arg(allow_negative_numbers = true, long)]
    epochs: Option<usize>,
    /// [512]
    #[arg(allow_negative_numbers = true, long)]
    batch_size: Option<usize>,
    #[arg(allow_negative_numbers = true, long)]
    subset: Option<usize>,
    #[arg(allow_negative_numbers = true, long)]
    eval_subset: Option<usize>,
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long)]
    adapter: Option<String>,
    #[arg(long, default_value = "study")]
    out: PathBuf,
    /// Most runs trained together as one pack (see `sweep --pack-size`).
    #[arg(allow_negative_numbers = true, long, default_value_t = sweep::PACK_SIZE)]
    pack_size: usize,
    #[arg(long)]
    quiet: bool,
}

impl Settings {
    /// `base` with the single-valued settings applied, and the lists as a grid.
    fn apply(&self, mut c: TrainConfig) -> (TrainConfig, Grid) {
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f.clone() { c.$f = v; })* };
        }
        set!(hidden, momentum, weight_decay, epochs, split_seed, val_size);
        c.subset = self.subset.or(c.subset);
        c.eval_subset = self.eval_subset.or(c.eval_subset);
        let grid = Grid {
            optimizer: self.optimizer.clone(),
            lr: self.lr.clone(),
            dropout: self.dropout.clone(),
            init: self.init.clone(),
            batch_size: self.batch_size.clone(),
            seed: self.seed.clone(),
            batch_norm: self.batch_norm.clone(),
        };
        (c, grid)
    }

    fn session(&self) -> Result<Session, String> {
        Session::open(self.data.as_deref(), self.adapter.as_deref(), None)
    }
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig, String> {
        let base = match &self.config {
            Some(path) => {
                run::read_json::<SavedConfig>(path)
                    .map_err(|e| format!("--config {e}"))?
                    .train
            }
            None => TrainConfig::default(),
        };
        let (base, grid) = self.settings.apply(base);
        let lists = [
            ("--optimizer", grid.optimizer.len()),
            ("--lr", grid.lr.len()),
            ("--dropout", grid.dropout.len()),
            ("--init", grid.init.len()),
            ("--batch-size", grid.batch_size.len()),
            ("--seed", grid.seed.len()),
            ("--batch-norm", grid.batch_norm.len()),
        ];
        if let Some((flag, n)) = lists.iter().find(|(_, n)| *n > 1) {
            return Err(format!(
                "{flag}: train takes one value, not {n}; use `mlp-gpu sweep` to train lists of settings"
            ));
        }
        Ok(grid.configs(&base).remove(0))
    }
}

/// Ctrl-C asks runs to stop at the next step boundary; a second Ctrl-C exits at once.
static STOP: AtomicBool = AtomicBool::new(false);

/// The signal that stopped the runs: SIGINT (Ctrl-C), or SIGTERM or SIGHUP (what Slurm,
/// Kubernetes, `timeout` and a closed terminal send); the exit status is 128 + it.
static SIGNAL: AtomicI32 = AtomicI32::new(libc::SIGINT);

extern "C" fn on_terminate(signal: libc::c_int) {
    // only atomic stores: async-signal-safe
    SIGNAL.store(signal, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
}

/// Ctrl-C, SIGTERM and SIGHUP stop the runs at the next step boundary; a second Ctrl-C
/// quits at once.
fn catch_ctrl_c() {
    let handler = || {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next step boundary (Ctrl-C again to quit now)");
    };
    if let Err(e) = ctrlc::set_handler(handler) {
        eprintln!("warning: Ctrl-C will not stop runs cleanly: {e}");
    }
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let handler = on_terminate as extern "C" fn(libc::c_int);
        // SAFETY: the handler only stores to atomics, which is async-signal-safe.
        if unsafe { libc::signal(signal, handler as libc::sighandler_t) } == libc::SIG_ERR {
            eprintln!("warning: signal {signal} will not stop runs cleanly");
        }
    }
}

/// Writes results to stdout; a closed pipe or a full disk is an error, not a panic.
fn emit(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the results to stdout: {e}"))
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("plain data") + "\n"
}

/// What a command ended with: success, or runs stopped by Ctrl-C (exit status 130).
enum Done {
    Ok,
    Interrupted,
}

fn train(args: TrainArgs) -> Result<Done, String> {
    let mut data = args.settings.data.clone();
    let (c, dir, resume) = match &args.resume {
        Some(dir) => {
            let saved: SavedConfig = run::read_json(&dir.join("config.json")).map_err(|e| {
                format!("--resume: {e}; give the directory of a run started by `mlp-gpu train`")
            })?;
            data = data.or(saved.data);
            (saved.train, dir.clone(), true)
        }
        None => {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(timestamp()));
            run::refuse_existing(&out)?;
            (args.config()?, out, false)
        }
    };
    run::validate(&c)?;
    let session = Session::open(data.as_deref(), args.settings.adapter.as_deref(), None)?;
    session.check(&c)?;
    run::prepare_dir(&dir)?;
    let held = RunDir::claim(&dir).map_err(|e| e.to_string())?;
    if resume {
        if let Ok(s) = run::read_json::<run::Summary>(&dir.join(run::SUMMARY)) {
            if s.status.finished() {
                eprintln!(
                    "{}: the run already finished ({:?})",
                    dir.display(),
                    s.status
                );
                return print_summary(&s, &dir, args.json).map(|()| Done::Ok);
            }
        }
    }
    catch_ctrl_c();
    let o = RunOptions {
        quiet: args.settings.quiet,
        resume,
        stop: Some(&STOP),
    };
    let s = run::run(&session, &c, held, &o)?;
    print_summary(&s, &dir, args.json)?;
    Ok(match s.status {
        Status::Interrupted => {
            eprintln!(
                "interrupted: {} keeps the checkpoint of epoch {}; continue with `mlp-gpu train --resume {}`",
                dir.display(),
                s.epochs_run,
                dir.display()
            );
            Done::Interrupted
        }
        _ => Done::Ok,
    })
}

fn print_summary(s: &run::Summary, dir: &std::path::Path, as_json: bool) -> Result<(), String> {
    if as_json {
        return emit(&json(s));
    }
    let mut text = format!("status {:?}", s.status).to_lowercase();
    if let (Some(loss), Some(acc)) = (s.test_loss, s.test_accuracy) {
        let _ = writeln!(
            text,
            "  test loss {loss:.4}  test accuracy {}",
            percent(acc)
        );
        for (name, acc) in CLASS_NAMES.iter().zip(&s.per_class_test_accuracy) {
            let _ = writeln!(text, "  {name:<12} {}", percent(*acc));
        }
    } else {
        text.push('\n');
    }
    let _ = writeln!(text, "files in {}", dir.display());
    emit(&text)
}

/// One line per run on stdout (or a JSON array).
fn print_runs(outcome: &sweep::Outcome, as_json: bool) -> Result<Done, String> {
    if as_json {
        let rows: Vec<_> = outcome
            .runs
            .iter()
            .map(|(dir, s)| serde_json::json!({"dir": dir, "summary": s}))
            .chain(
                outcome
                    .busy
                    .iter()
                    .map(|dir| serde_json::json!({"dir": dir, "busy": true})),
            )
            .collect();
        emit(&json(&rows))?;
    } else {
        let mut text = String::from(
            "| run | status | epochs | test accuracy | mean epoch s |\n|---|---|---|---|---|\n",
        );
        for (dir, s) in &outcome.runs {
            let _ = writeln!(
                text,
                "| {} | {:?} | {} | {} | {:.3} |",
                dir.display(),
                s.status,
                s.epochs_run,
                s.test_accuracy.map_or("–".into(), percent),
                s.mean_epoch_seconds
            );
        }
        for dir in &outcome.busy {
            let _ = writeln!(text, "| {} | busy | – | – | – |", dir.display());
        }
        emit(&text)?;
    }
    if !outcome.busy.is_empty() {
        eprintln!(
            "{} runs skipped: another process holds them and trains them there; rerun the same command after it ends to see every result",
            outcome.busy.len()
        );
    }
    Ok(if outcome.interrupted {
        eprintln!("interrupted: rerun the same command to go on where it stopped");
        Done::Interrupted
    } else {
        Done::Ok
    })
}

fn sweep(args: SweepArgs) -> Result<Done, String> {
    let (base, grid) = args.settings.apply(TrainConfig::default());
    let mut configs = grid.configs(&base);
    if let Some(shard) = args.shard {
        configs = shard.take(configs);
    }
    for c in &configs {
        run::validate(c)?;
    }
    let o = sweep::SweepOptions::new(args.settings.quiet, Some(&STOP), args.pack_size)?;
    let session = args.settings.session()?;
    catch_ctrl_c();
    let outcome = sweep::sweep(&session, &configs, &args.out, &o)?;
    print_runs(&outcome, args.json)
}

fn reproduce(a: ReproduceArgs) -> Result<Done, String> {
    let mut base = TrainConfig::default();
    base.epochs = a.epochs.unwrap_or(base.epochs);
    base.batch_size = a.batch_size.unwrap_or(base.batch_size);
    base.subset = a.subset;
    base.eval_subset = a.eval_subset;
    run::validate(&base)?;
    let o = sweep::SweepOptions::new(a.quiet, Some(&STOP), a.pack_size)?;
    let session = Session::open(a.data.as_deref(), a.adapter.as_deref(), None)?;
    catch_ctrl_c();
    let outcome = mlp_gpu::study::reproduce(&session, &base, &a.seeds, &a.out, &o)?;
    let done = print_runs(&outcome, false)?;
    if matches!(done, Done::Ok) && outcome.busy.is_empty() {
        emit(&format!("report: {}\n", a.out.join("report.md").display()))?;
    }
    Ok(done)
}

fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // civil date from days since 1970 (Howard Hinnant's algorithm)
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn devices() -> Result<Done, String> {
    let list = mlp_gpu::gpu::context::adapters();
    if list.is_empty() {
        return Err(mlp_gpu::gpu::GpuError::NoAdapter.to_string());
    }
    let mut text = String::new();
    for (i, a) in list.iter().enumerate() {
        let info = a.get_info();
        let mark = if i == 0 { "  (default)" } else { "" };
        let _ = writeln!(
            text,
            "{i}: {:?}  {}  type {:?}  driver {} {}  matmul {}{mark}",
            info.backend,
            info.name,
            info.device_type,
            info.driver,
            info.driver_info,
            mlp_gpu::gpu::MatmulVariant::for_adapter(&info, a.features()).name()
        );
    }
    emit(&text).map(|()| Done::Ok)
}

/// `mlp-gpu check`: the adapter and driver, then a row per check; an error naming the
/// failed checks if any fails.
fn check(adapter: Option<&str>, as_json: bool) -> Result<Done, String> {
    let ctx = mlp_gpu::gpu::Context::new(adapter).map_err(|e| e.to_string())?;
    let rows = mlp_gpu::check::all(&ctx).map_err(|e| ctx.explain(e).to_string())?;
    let info = &ctx.info;
    let failed: Vec<&mlp_gpu::check::Row> = rows.iter().filter(|r| !r.pass).collect();
    let text = if as_json {
        json(&serde_json::json!({
            "adapter": info.name,
            "backend": format!("{:?}", info.backend),
            "driver": info.driver,
            "driver_info": info.driver_info,
            "checks": rows,
            "passed": failed.is_empty(),
        }))
    } else {
        let mut t = format!(
            "adapter {}, driver {} {}\n| op | variant | shape | max abs error | max rel error | tolerance | pass |\n|---|---|---|---|---|---|---|\n",
            ctx.adapter_name(),
            info.driver,
            info.driver_info
        );
        for r in &rows {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {:.2e} | {:.2e} | {} | {} |",
                r.op,
                r.variant,
                r.shape,
                r.max_abs_error,
                r.max_rel_error,
                r.tolerance,
                if r.pass { "pass" } else { "FAIL" }
            );
        }
        t
    };
    emit(&text)?;
    if failed.is_empty() {
        eprintln!("{} checks passed on {}", rows.len(), ctx.adapter_name());
        return Ok(Done::Ok);
    }
    let mut names: Vec<&str> = failed.iter().map(|r| r.op.as_str()).collect();
    names.dedup();
    Err(format!(
        "{} of {} checks failed on {}: {}; attach this output and `mlp-gpu devices` to a bug report",
        failed.len(),
        rows.len(),
        ctx.adapter_name(),
        names.join(", ")
    ))
}

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn eval(
    model: PathBuf,
    data: Option<PathBuf>,
    adapter: Option<String>,
    eval_subset: Option<usize>,
    as_json: bool,
) -> Result<Done, String> {
    let e = run::eval(&model, data.as_deref(), adapter.as_deref(), eval_subset)?;
    let text = if as_json {
        serde_json::json!({"test_accuracy": e.accuracy, "test_loss": e.loss, "per_class": e.per_class}).to_string() + "\n"
    } else {
        let mut t = format!(
            "test loss {:.4}  test accuracy {}\n",
            e.loss,
            percent(e.accuracy)
        );
        for (name, acc) in CLASS_NAMES.iter().zip(&e.per_class) {
            let _ = writeln!(t, "  {name:<12} {}", percent(*acc));
        }
        t
    };
    emit(&text).map(|()| Done::Ok)
}

fn matmul(adapter: Option<String>, batch_sizes: &[usize]) -> Result<Done, String> {
    let ctx = mlp_gpu::gpu::Context::new(adapter.as_deref()).map_err(|e| e.to_string())?;
    let mut text = String::from(
        "| shape | variant | forward GFLOP/s | backward data | backward weight |\n|---|---|---|---|---|\n",
    );
    for &rows in batch_sizes {
        let s = mlp_gpu::ops::LinearShape {
            rows,
            inputs: 784,
            outputs: 200,
        };
        for v in ctx.variants() {
            let [f, dx, dw] = mlp_gpu::bench::matmul_products(&ctx, v, s)?;
            let _ = writeln!(
                text,
                "| {rows}x784x200 | {} | {f:.2} | {dx:.2} | {dw:.2} |",
                v.name()
            );
        }
    }
    emit(&text).map(|()| Done::Ok)
}

fn bench(o: &mlp_gpu::bench::BenchOptions, as_json: bool) -> Result<Done, String> {
    let cases = mlp_gpu::bench::bench(o)?;
    if as_json {
        return emit(&json(&cases)).map(|()| Done::Ok);
    }
    let mut t = String::from("| adapter | batch | bn+dropout | pack | epoch s (median) | per member | samples/s | GFLOP/s | dispatches/step | submits/epoch | waits/epoch | encode s/epoch | GPU MB | matmul |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for c in &cases {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.2} | {:.0} | {} | {} | {:.3} | {:.1} | {} |",
            c.adapter,
            c.batch_size,
            c.batch_norm,
            c.pack_size,
            c.epoch_seconds_median,
            c.member_epoch_seconds_median,
            c.samples_per_second,
            c.gflops,
            c.dispatches_per_step,
            c.submits_per_epoch,
            c.host_waits_per_epoch,
            c.encode_seconds_per_epoch,
            c.peak_gpu_bytes as f64 / 1e6,
            c.matmul_variant
        );
    }
    for c in cases.iter().filter(|c| c.profile.is_some()) {
        let rows = c.profile.as_deref().unwrap_or_default();
        let bn = if c.batch_norm {
            ", batch norm + dropout 0.2"
        } else {
            ""
        };
        let _ = writeln!(
            t,
            "\nProfile, batch {}{bn}: kernels sum to {:.0}% of the epoch's wall time",
            c.batch_size,
            100.0 * c.profile_coverage.unwrap_or(0.0)
        );
        t.push_str(
            "| kernel | GPU s/epoch | share | GFLOP/s | dispatches |\n|---|---|---|---|---|\n",
        );
        for r in rows {
            let _ = writeln!(
                t,
                "| {} | {:.3} | {:.1}% | {:.2} | {} |",
                r.kernel,
                r.seconds,
                100.0 * r.share,
                r.gflops,
                r.dispatches
            );
        }
    }
    emit(&t).map(|()| Done::Ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices => devices(),
        Command::Train(args) => train(args),
        Command::Sweep(args) => sweep(args),
        Command::Reproduce(args) => reproduce(args),
        Command::Report { dirs } => mlp_gpu::report::report(&dirs)
            .and_then(|path| emit(&format!("report: {}\n", path.display())))
            .map(|()| Done::Ok),
        Command::Check { adapter, json } => check(adapter.as_deref(), json),
        Command::Eval {
            model,
            data,
            adapter,
            eval_subset,
            json,
        } => eval(model, data, adapter, eval_subset, json),
        Command::Bench {
            adapter,
            batch_size,
            matmul: true,
            ..
        } => matmul(adapter, &batch_size),
        Command::Bench {
            batch_size,
            epochs,
            subset,
            data,
            adapter,
            json,
            profile,
            pack_size,
            matmul_variant,
            ..
        } => bench(
            &mlp_gpu::bench::BenchOptions {
                batch_sizes: &batch_size,
                epochs,
                subset,
                data: data.as_deref(),
                adapter: adapter.as_deref(),
                variant: matmul_variant,
                profile,
                pack_sizes: &pack_size,
            },
            json,
        ),
    };
    match result {
        Ok(Done::Ok) => ExitCode::SUCCESS,
        Ok(Done::Interrupted) => ExitCode::from((128 + SIGNAL.load(Ordering::SeqCst)) as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
