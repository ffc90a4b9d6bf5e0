//! The command line: parse, dispatch to the library, write what it returns on stdout, and
//! turn an error into one line on stderr.

use clap::{Args, Parser, Subcommand};
use mlp_gpu::config::{ConfigError, TrainConfig};
use mlp_gpu::error::Error;
use mlp_gpu::model::Init;
use mlp_gpu::optim::OptimizerKind;
use mlp_gpu::output;
use mlp_gpu::run::{self, RunOptions};
use mlp_gpu::rundir::{self, RunDir, SavedConfig, Status};
use mlp_gpu::session::Session;
use mlp_gpu::sweep::{self, Grid, Shard};
use std::io::Write as _;
use std::path::{Path, PathBuf};
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
    Eval(EvalArgs),
    /// Time training epochs of the default network (Adam, lr 0.005).
    Bench(BenchArgs),
}

/// Where the data and the device come from, and how much is said: every command that
/// trains or scores.
#[derive(Args)]
struct Common {
    #[arg(long)]
    data: Option<PathBuf>,
    /// Adapter index or part of its name (see `mlp-gpu devices`).
    #[arg(long)]
    adapter: Option<String>,
    /// Only errors and results.
    #[arg(long)]
    quiet: bool,
}

/// How much of the data a run trains and evaluates on.
#[derive(Args)]
struct Subsets {
    /// Train on the first N images of the training part.
    #[arg(allow_negative_numbers = true, long)]
    subset: Option<usize>,
    /// Evaluate on the first N validation and test images.
    #[arg(allow_negative_numbers = true, long)]
    eval_subset: Option<usize>,
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
    #[command(flatten)]
    subsets: Subsets,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    settings: Settings,
    /// Output directory [runs/<UTC date-time>].
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
    #[command(flatten)]
    subsets: Subsets,
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value = "study")]
    out: PathBuf,
    /// Most runs trained together as one pack (see `sweep --pack-size`).
    #[arg(allow_negative_numbers = true, long, default_value_t = sweep::PACK_SIZE)]
    pack_size: usize,
}

#[derive(Args)]
struct EvalArgs {
    /// A run directory written by `train` (config.json + model.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Evaluate on the first N test images.
    #[arg(allow_negative_numbers = true, long)]
    eval_subset: Option<usize>,
    #[command(flatten)]
    common: Common,
    /// Print only JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchArgs {
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
    #[command(flatten)]
    common: Common,
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
}

impl Settings {
    /// `base` with the single-valued settings applied, and the lists as a grid.
    fn apply(&self, mut c: TrainConfig) -> (TrainConfig, Grid) {
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f.clone() { c.$f = v; })* };
        }
        set!(hidden, momentum, weight_decay, epochs, split_seed, val_size);
        c.subset = self.subsets.subset.or(c.subset);
        c.eval_subset = self.subsets.eval_subset.or(c.eval_subset);
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
}

impl Common {
    fn session(&self) -> Result<Session, Error> {
        Session::open(self.data.as_deref(), self.adapter.as_deref(), None)
    }
}

/// A saved config.json read for `flag`, the error saying what `flag` takes.
fn saved_config(flag: &'static str, dir: &Path, takes: &str) -> Result<SavedConfig, Error> {
    rundir::read_config(dir)
        .map_err(|e| ConfigError::new(flag, format!("{flag}: {e}; {takes}")).into())
}

impl TrainArgs {
    /// The run's settings: the defaults or a saved config.json, the flags over them,
    /// validated.
    fn config(&self) -> Result<TrainConfig, Error> {
        let base = match &self.config {
            Some(path) => {
                let saved: SavedConfig = rundir::read_json(path)
                    .map_err(|e| ConfigError::new("--config", format!("--config {e}")))?;
                saved.train
            }
            None => TrainConfig::default(),
        };
        let (base, grid) = self.settings.apply(base);
        if let Some((flag, n)) = grid.lists().into_iter().find(|(_, n)| *n > 1) {
            let message = format!("{flag}: train takes one value, not {n}; use `mlp-gpu sweep` to train lists of settings");
            return Err(ConfigError::new(flag, message).into());
        }
        let c = grid.configs(&base).remove(0);
        c.validate()?;
        Ok(c)
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
fn emit(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Stdout)
}

/// What a command ended with: success, or runs stopped by a signal (exit 128 + it).
enum Done {
    Ok,
    Interrupted,
}

/// The folder a new run gets without --out: runs/<UTC date and time>.
fn default_out() -> PathBuf {
    let now = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S");
    PathBuf::from("runs").join(now.to_string())
}

fn train(args: TrainArgs) -> Result<Done, Error> {
    let mut data = args.settings.common.data.clone();
    let (c, dir, resume) = match &args.resume {
        Some(dir) => {
            let takes = "give the directory of a run started by `mlp-gpu train`";
            let saved = saved_config("--resume", dir, takes)?;
            saved.train.validate()?;
            data = data.or(saved.data);
            (saved.train, dir.clone(), true)
        }
        None => {
            let out = args.out.clone().unwrap_or_else(default_out);
            rundir::refuse_existing(&out)?;
            (args.config()?, out, false)
        }
    };
    let common = &args.settings.common;
    let session = Session::open(data.as_deref(), common.adapter.as_deref(), None)?;
    let trainer = session.trainer(vec![c])?;
    rundir::prepare(&dir)?;
    let held = RunDir::claim(&dir)?;
    if resume {
        if let Some(s) = rundir::read_summary(&dir).filter(|s| s.status.finished()) {
            eprintln!(
                "{}: the run already finished ({})",
                dir.display(),
                s.status.name()
            );
            return emit(&output::summary(&s, &dir, args.json)).map(|()| Done::Ok);
        }
    }
    catch_ctrl_c();
    let o = RunOptions {
        quiet: common.quiet,
        headline: true,
        resume,
        stop: Some(&STOP),
    };
    let s = run::run_pack(&session, trainer, &[held], &o)?.remove(0);
    emit(&output::summary(&s, &dir, args.json))?;
    if s.status != Status::Interrupted {
        return Ok(Done::Ok);
    }
    eprintln!(
        "interrupted: {} keeps the checkpoint of epoch {}; continue with `mlp-gpu train --resume {}`",
        dir.display(),
        s.epochs_run,
        dir.display()
    );
    Ok(Done::Interrupted)
}

/// The runs' table (or JSON) on stdout, and what was left undone on stderr.
fn print_runs(outcome: &sweep::Outcome, as_json: bool) -> Result<Done, Error> {
    emit(&output::runs(outcome, as_json))?;
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

fn sweep(args: SweepArgs) -> Result<Done, Error> {
    let (base, grid) = args.settings.apply(TrainConfig::default());
    let mut configs = grid.configs(&base);
    if let Some(shard) = args.shard {
        configs = shard.take(configs);
    }
    for c in &configs {
        c.validate()?;
    }
    let common = &args.settings.common;
    let o = sweep::SweepOptions::new(common.quiet, Some(&STOP), args.pack_size)?;
    let session = common.session()?;
    catch_ctrl_c();
    let outcome = sweep::sweep(&session, &configs, &args.out, &o)?;
    print_runs(&outcome, args.json)
}

fn reproduce(a: ReproduceArgs) -> Result<Done, Error> {
    let mut base = TrainConfig::default();
    base.epochs = a.epochs.unwrap_or(base.epochs);
    base.batch_size = a.batch_size.unwrap_or(base.batch_size);
    base.subset = a.subsets.subset;
    base.eval_subset = a.subsets.eval_subset;
    base.validate()?;
    let o = sweep::SweepOptions::new(a.common.quiet, Some(&STOP), a.pack_size)?;
    let session = a.common.session()?;
    catch_ctrl_c();
    let outcome = mlp_gpu::study::reproduce(&session, &base, &a.seeds, &a.out, &o)?;
    let done = print_runs(&outcome, false)?;
    if matches!(done, Done::Ok) && outcome.busy.is_empty() {
        emit(&format!("report: {}\n", a.out.join("report.md").display()))?;
    }
    Ok(done)
}

fn devices() -> Result<Done, Error> {
    let list = mlp_gpu::gpu::context::adapters();
    if list.is_empty() {
        return Err(mlp_gpu::gpu::GpuError::NoAdapter.into());
    }
    emit(&output::devices(&list)).map(|()| Done::Ok)
}

/// `mlp-gpu check`: the adapter and driver, then a row per check; an error naming the
/// failed checks if any fails.
fn check(adapter: Option<&str>, as_json: bool) -> Result<Done, Error> {
    let ctx = mlp_gpu::gpu::Context::new(adapter)?;
    let rows = mlp_gpu::check::all(&ctx).map_err(|e| ctx.explain(e))?;
    emit(&output::checks(&ctx, &rows, as_json))?;
    let failed: Vec<&mlp_gpu::check::Row> = rows.iter().filter(|r| !r.pass).collect();
    if failed.is_empty() {
        eprintln!("{} checks passed on {}", rows.len(), ctx.adapter_name());
        return Ok(Done::Ok);
    }
    let mut names: Vec<&str> = failed.iter().map(|r| r.op.as_str()).collect();
    names.dedup();
    Err(Error::ChecksFailed {
        failed: failed.len(),
        total: rows.len(),
        adapter: ctx.adapter_name(),
        ops: names.join(", "),
    })
}

fn eval(a: EvalArgs) -> Result<Done, Error> {
    let takes = "--model takes a run directory made by `mlp-gpu train`";
    let saved = saved_config("--model", &a.model, takes)?;
    let c = TrainConfig {
        eval_subset: a.eval_subset.or(saved.train.eval_subset),
        ..saved.train.clone()
    };
    c.validate()?;
    let data = a.common.data.clone().or(saved.data);
    let e = mlp_gpu::evaluate::eval(&a.model, &c, data.as_deref(), a.common.adapter.as_deref())?;
    emit(&output::evaluation(&e, a.json)).map(|()| Done::Ok)
}

fn bench(a: BenchArgs) -> Result<Done, Error> {
    if a.matmul {
        let rows = mlp_gpu::bench::matmul_table(a.common.adapter.as_deref(), &a.batch_size)?;
        return emit(&output::matmul(&rows)).map(|()| Done::Ok);
    }
    let cases = mlp_gpu::bench::bench(&mlp_gpu::bench::BenchOptions {
        batch_sizes: &a.batch_size,
        epochs: a.epochs,
        subset: a.subset,
        data: a.common.data.as_deref(),
        adapter: a.common.adapter.as_deref(),
        variant: a.matmul_variant,
        profile: a.profile,
        pack_sizes: &a.pack_size,
        quiet: a.common.quiet,
    })?;
    emit(&output::bench(&cases, a.json)).map(|()| Done::Ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices => devices(),
        Command::Train(args) => train(args),
        Command::Sweep(args) => sweep(args),
        Command::Reproduce(args) => reproduce(args),
        Command::Report { dirs } => mlp_gpu::report::report(&dirs)
            .map_err(Error::from)
            .and_then(|path| emit(&format!("report: {}\n", path.display())))
            .map(|()| Done::Ok),
        Command::Check { adapter, json } => check(adapter.as_deref(), json),
        Command::Eval(args) => eval(args),
        Command::Bench(args) => bench(args),
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
