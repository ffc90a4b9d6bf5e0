//! The command line: parse, dispatch to the library, write what it returns on stdout, and
//! turn an error into one line on stderr.

use clap::{Args, Parser, Subcommand};
use mlp_gpu::config::{ConfigError, TrainConfig};
use mlp_gpu::data;
use mlp_gpu::data::{Format, LoadOptions, NormalizeMode, ValSize, TEST_SIZE};
use mlp_gpu::error::Error;
use mlp_gpu::halving::Halving;
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
    about = "Train fully-connected networks on your classification data (Fashion-MNIST by default) in WGSL compute shaders (Vulkan, Metal, DX12)"
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
    /// Predict the class of every row of INPUT with a trained model: CSV (or --json lines)
    /// with each class's probability.
    Predict(PredictArgs),
    /// Time training epochs of the default network (Adam, lr 0.005).
    Bench(BenchArgs),
}

/// The device, and how much is said: every command that trains or scores.
#[derive(Args)]
struct Common {
    /// Adapter index or part of its name (see `mlp-gpu devices`).
    #[arg(long)]
    adapter: Option<String>,
    /// Only errors and results.
    #[arg(long)]
    quiet: bool,
}

/// Where the data comes from and how to read it: every command that trains.
#[derive(Args)]
struct Source {
    /// The data: a directory of IDX files, a CSV table (.csv, .csv.gz, .tsv), a NumPy .npz
    /// or directory of .npy files, or a directory of PNG images by class [Fashion-MNIST].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Read --data as this format instead of telling it from the path.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// The test set, in the same format, when --data has none.
    #[arg(long)]
    test_data: Option<PathBuf>,
    /// Fraction of each class held out as the test set when the data has none [0.2].
    #[arg(allow_negative_numbers = true, long)]
    test_size: Option<f64>,
    /// A CSV's label column, by name or 0-based index [label, target, class or y; else the last].
    #[arg(long)]
    label_column: Option<String>,
    /// The classes, in the order the model's outputs take them (labels not among them are
    /// an error) [the training labels, sorted].
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<String>>,
}

impl Source {
    /// How to read the data, holding out a test set by `split_seed` if it needs one.
    fn load_options(&self, split_seed: u64) -> Result<LoadOptions, Error> {
        let test_size = self.test_size.unwrap_or(TEST_SIZE);
        if !(test_size > 0.0 && test_size < 1.0) {
            let message = format!("--test-size {test_size}: give a fraction in (0, 1), e.g. 0.2");
            return Err(ConfigError::new("--test-size", message).into());
        }
        Ok(LoadOptions {
            path: self.data.clone(),
            format: self.format,
            test_data: self.test_data.clone(),
            label_column: self.label_column.clone(),
            classes: self.classes.clone(),
            names: None,
            test_size,
            split_seed,
        })
    }

    fn session(&self, split_seed: u64, c: &Common) -> Result<Session, Error> {
        let o = self.load_options(split_seed)?;
        Session::open(&o, c.adapter.as_deref(), None)
    }
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
    /// Seed of the train/validation split (and of a held-out test set) [1234].
    #[arg(allow_negative_numbers = true, long)]
    split_seed: Option<u64>,
    /// Training rows held out for validation: a count, or a fraction of the training rows
    /// [1/6: 10000 of Fashion-MNIST's 60000].
    #[arg(allow_negative_numbers = true, long)]
    val_size: Option<ValSize>,
    /// How inputs are normalised, fitted on the training split [auto: scalar for 8-bit
    /// data, column for the rest].
    #[arg(long, value_enum)]
    normalize: Option<NormalizeMode>,
    #[command(flatten)]
    subsets: Subsets,
    #[command(flatten)]
    source: Source,
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
    /// Rerun the settings of a saved config.json, on the data its run trained on unless
    /// --data is given; flags given beside it override.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue an interrupted run in this directory from its last checkpoint.
    #[arg(long, conflicts_with_all = [
        "out", "config", "hidden", "optimizer", "lr", "momentum", "weight_decay", "epochs",
        "batch_size", "dropout", "init", "batch_norm", "seed", "split_seed", "val_size",
        "subset", "eval_subset", "normalize", "format", "test_data", "test_size",
        "label_column", "classes",
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
    #[command(flatten)]
    halving: HalvingArgs,
    /// Print the runs' results as JSON only on stdout.
    #[arg(long)]
    json: bool,
}

/// Successive halving: stop the sweep's worst runs early.
#[derive(Args)]
struct HalvingArgs {
    /// Train all runs to the first rung, keep the best 1/ETA by validation accuracy, train
    /// those to ETA times as many epochs, and so on; the others end `stopped`.
    #[arg(allow_negative_numbers = true, long, value_name = "ETA")]
    halving: Option<usize>,
    /// Epochs of the first rung (with --halving) [1].
    #[arg(
        allow_negative_numbers = true,
        long,
        value_name = "R",
        requires = "halving"
    )]
    first_rung: Option<usize>,
}

impl HalvingArgs {
    fn halving(&self) -> Result<Option<Halving>, Error> {
        match self.halving {
            None => Ok(None),
            Some(eta) => Ok(Some(Halving::new(eta, self.first_rung.unwrap_or(1))?)),
        }
    }
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
    /// Fashion-MNIST's IDX files [the first of $FASHION_MNIST_DIR, ./data/fashion-mnist,
    /// /usr/share/datasets/fashion-mnist].
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value = "study")]
    out: PathBuf,
    /// Most runs trained together as one pack (see `sweep --pack-size`).
    #[arg(allow_negative_numbers = true, long, default_value_t = sweep::PACK_SIZE)]
    pack_size: usize,
    /// The optimizer x learning-rate grid by successive halving (see `sweep --halving`).
    #[command(flatten)]
    halving: HalvingArgs,
}

#[derive(Args)]
struct EvalArgs {
    /// A run directory written by `train` (config.json + model.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Evaluate on the first N test rows.
    #[arg(allow_negative_numbers = true, long)]
    eval_subset: Option<usize>,
    /// The data to take the test set from [the data the run trained on].
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Print only JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PredictArgs {
    /// A run folder, or its model.safetensors alone.
    #[arg(long)]
    model: PathBuf,
    /// Rows to predict, in any format `train` reads, with or without labels: a CSV (`-`:
    /// standard input), an .npz (its x, else x_test), a folder of images (flat or by class).
    input: PathBuf,
    /// Read INPUT as this format instead of telling it from the path.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the predictions to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// One JSON object a line instead of CSV.
    #[arg(long)]
    json: bool,
    /// Only the K most probable classes of each row, with their probabilities.
    #[arg(allow_negative_numbers = true, long)]
    top_k: Option<usize>,
    #[command(flatten)]
    common: Common,
}

/// `bench --hidden`: networks' hidden layers, `:` between networks, `,` between layers.
#[derive(Clone, Debug)]
struct HiddenShapes(Vec<Vec<usize>>);

fn hidden_shapes(s: &str) -> Result<HiddenShapes, String> {
    let bad = || format!("'{s}' is not a list of layer sizes, e.g. 200,200,200:1024,1024");
    let shapes: Result<Vec<Vec<usize>>, String> = s
        .split(':')
        .map(|n| {
            let sizes: Result<Vec<usize>, _> = n.split(',').map(|x| x.trim().parse()).collect();
            sizes.map_err(|_| bad()).and_then(|v: Vec<usize>| {
                (!v.is_empty() && !v.contains(&0))
                    .then_some(v)
                    .ok_or_else(bad)
            })
        })
        .collect();
    shapes.map(HiddenShapes)
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
    /// Hidden layers of each network timed, e.g. 200,200,200:1024,1024:2048,2048
    /// [200,200,200].
    #[arg(long, default_value = "200,200,200", value_parser = hidden_shapes)]
    hidden: HiddenShapes,
    /// Time random 8-bit data of this many inputs (60,000 rows) instead of --data's.
    #[arg(allow_negative_numbers = true, long)]
    inputs: Option<usize>,
    #[command(flatten)]
    source: Source,
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
    /// The matmul variant (default: the adapter's; `--matmul` compares them, or times only
    /// this one).
    #[arg(long, value_enum)]
    matmul_variant: Option<mlp_gpu::gpu::MatmulVariant>,
    /// Instead: GFLOP/s of each matmul product of each network's first layer (--inputs,
    /// 784, to its first hidden size: 784x200 by default) at each batch size, for every
    /// variant.
    #[arg(long, conflicts_with_all = ["json", "profile", "data", "epochs", "subset"])]
    matmul: bool,
    /// Instead: time reading --data (and --test-data) into memory, three times, and the
    /// memory the reading takes beside the data's own size; no GPU.
    #[arg(long, conflicts_with_all = ["matmul", "profile", "epochs", "subset", "inputs", "pack_size", "hidden", "batch_size", "matmul_variant"])]
    load: bool,
}

impl Settings {
    /// `base` with the single-valued settings applied, and the lists as a grid. The
    /// validation size is --val-size's, else `base`'s if it came from a file, else the
    /// default, of `rows` training rows.
    fn apply(&self, mut c: TrainConfig, rows: usize, from_file: bool) -> (TrainConfig, Grid) {
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f.clone() { c.$f = v; })* };
        }
        set!(
            hidden,
            momentum,
            weight_decay,
            epochs,
            split_seed,
            normalize
        );
        match self.val_size {
            Some(v) => c.val_size = v.rows(rows),
            None if !from_file => c.val_size = ValSize::DEFAULT.rows(rows),
            None => {}
        }
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

impl Settings {
    /// The split seed the data is read with (a held-out test set is drawn by it).
    fn split_seed(&self, base: &TrainConfig) -> u64 {
        self.split_seed.unwrap_or(base.split_seed)
    }
}

/// A saved config.json read for `flag`, the error saying what `flag` takes.
fn saved_config(flag: &'static str, dir: &Path, takes: &str) -> Result<SavedConfig, Error> {
    rundir::read_config(dir)
        .map_err(|e| ConfigError::new(flag, format!("{flag}: {e}; {takes}")).into())
}

impl TrainArgs {
    /// The settings the run starts from (the defaults, or a saved config.json's), and the
    /// data a saved config.json says its run trained on, read as it read it, unless --data
    /// says otherwise.
    fn base(&self) -> Result<(TrainConfig, Option<LoadOptions>), Error> {
        let Some(path) = &self.config else {
            return Ok((TrainConfig::default(), None));
        };
        let saved: SavedConfig = rundir::read_json(path)
            .map_err(|e| ConfigError::new("--config", format!("--config {e}")))?;
        let data = match (&self.settings.source.data, &saved.data) {
            (None, Some(dir)) => Some(saved.record().load_options(dir.clone())),
            _ => None,
        };
        Ok((saved.train, data))
    }

    /// The run's settings: the base, the flags over them (`rows` training rows), validated.
    fn config(&self, base: TrainConfig, rows: usize) -> Result<TrainConfig, Error> {
        let (base, grid) = self.settings.apply(base, rows, self.config.is_some());
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
    let settings = &args.settings;
    let common = &settings.common;
    let (session, c, dir, resume, norm) = match &args.resume {
        Some(dir) => {
            let takes = "give the directory of a run started by `mlp-gpu train`";
            let saved = saved_config("--resume", dir, takes)?;
            // a finished run stays finished: said before any data is read or lock taken
            if let Some(s) = rundir::read_summary(dir).filter(|s| s.status.finished()) {
                eprintln!(
                    "{}: the run already finished ({})",
                    dir.display(),
                    s.status.name()
                );
                let classes = saved.record().info.classes;
                return emit(&output::summary(&s, dir, &classes, args.json)).map(|()| Done::Ok);
            }
            saved.train.validate()?;
            let data = data::find_dir(settings.source.data.as_deref().or(saved.data.as_deref()))?;
            let o = saved.record().load_options(data);
            let session = Session::open(&o, common.adapter.as_deref(), None)?;
            saved.check_data(dir, session.seen())?;
            let norm = saved.normalization();
            (session, saved.train, dir.clone(), true, Some(norm))
        }
        None => {
            let out = args.out.clone().unwrap_or_else(default_out);
            rundir::refuse_existing(&out)?;
            let (base, saved_data) = args.base()?;
            base.validate()?;
            let load = match saved_data {
                Some(o) => o,
                None => settings.source.load_options(settings.split_seed(&base))?,
            };
            let session = Session::open(&load, common.adapter.as_deref(), None)?;
            let c = args.config(base, session.train_rows())?;
            (session, c, out, false, None)
        }
    };
    let trainer = session.trainer(vec![c], norm)?;
    rundir::prepare(&dir)?;
    let held = RunDir::claim(&dir)?;
    catch_ctrl_c();
    let o = RunOptions {
        quiet: common.quiet,
        goal: run::Goal::Complete,
        alone: true,
        resume,
        stop: Some(&STOP),
    };
    let s = run::run_pack(&session, trainer, &[held], &o)?
        .remove(0)
        .expect("a run trained to its last epoch ends");
    emit(&output::summary(
        &s,
        &dir,
        &session.info().classes,
        args.json,
    ))?;
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

/// The data `s` trains on, as run folders record it.
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
    let settings = &args.settings;
    let (base, grid) = settings.apply(TrainConfig::default(), 0, false);
    let check = grid.configs(&base);
    for c in &check {
        c.validate()?;
    }
    let common = &settings.common;
    let mut o = sweep::SweepOptions::new(common.quiet, Some(&STOP), args.pack_size)?;
    o.halving = args.halving.halving()?;
    o.shard = args.shard.map(|s| (s.index, s.count));
    let session = settings.source.session(base.split_seed, common)?;
    let (base, grid) = settings.apply(TrainConfig::default(), session.train_rows(), false);
    let mut configs = grid.configs(&base);
    if let Some(shard) = args.shard {
        configs = shard.take(configs);
    }
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
    let mut o = sweep::SweepOptions::new(a.common.quiet, Some(&STOP), a.pack_size)?;
    o.halving = a.halving.halving()?;
    let load = LoadOptions {
        path: a.data.clone(),
        format: Some(Format::Idx),
        test_size: TEST_SIZE,
        ..LoadOptions::default()
    };
    let session = Session::open(&load, a.common.adapter.as_deref(), None)?;
    if !session.info().is_fashion_mnist() {
        let message = format!(
            "--data {}: holds other data than Fashion-MNIST; reproduce reruns the Fashion-MNIST study only (sweep and train take any data)",
            session.data_dir.display()
        );
        return Err(ConfigError::new("--data", message).into());
    }
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
    let adapter = a.common.adapter.as_deref();
    let model = mlp_gpu::evaluate::Model::load(&a.model)?;
    let e = mlp_gpu::evaluate::eval(&a.model, &model, a.data.as_deref(), a.eval_subset, adapter)?;
    emit(&output::evaluation(&e, &model.data.info.classes, a.json)).map(|()| Done::Ok)
}

fn predict(a: PredictArgs) -> Result<Done, Error> {
    if a.top_k == Some(0) {
        let message = "--top-k 0: give at least 1";
        return Err(ConfigError::new("--top-k", message).into());
    }
    let model = mlp_gpu::evaluate::Model::load(&a.model)?;
    let k = a.top_k.map(|k| k.min(model.data.info.classes.len()));
    let adapter = a.common.adapter.as_deref();
    let p = mlp_gpu::predict::predict(&model, &a.input, a.format, adapter)?;
    let text = output::predictions(&p, a.json, k);
    match &a.out {
        Some(path) => rundir::write_atomic(path, text.as_bytes())?,
        None => emit(&text)?,
    }
    if let Some(acc) = p.accuracy() {
        eprintln!("accuracy {:.2}% on {} labelled rows", 100.0 * acc, p.len());
    }
    Ok(Done::Ok)
}

/// The most inputs `bench --inputs` makes random data of: 60,000 rows of it are 1 GB.
const MAX_BENCH_INPUTS: usize = 16_384;

fn bench(a: BenchArgs) -> Result<Done, Error> {
    if let Some(n) = a.inputs.filter(|&n| n == 0 || n > MAX_BENCH_INPUTS) {
        let message = format!("--inputs {n}: give 1 to {MAX_BENCH_INPUTS} inputs");
        return Err(ConfigError::new("--inputs", message).into());
    }
    if a.matmul {
        // each network's first layer: --inputs (784) to its first hidden size
        let inputs = a.inputs.unwrap_or(784);
        let layers: Vec<(usize, usize)> = a.hidden.0.iter().map(|h| (inputs, h[0])).collect();
        let adapter = a.common.adapter.as_deref();
        let variant = a.matmul_variant;
        let rows = mlp_gpu::bench::matmul_table(adapter, variant, &a.batch_size, &layers)?;
        return emit(&output::matmul(&rows)).map(|()| Done::Ok);
    }
    let load = a.source.load_options(TrainConfig::default().split_seed)?;
    if a.load {
        let read = mlp_gpu::bench::load(&load)?;
        return emit(&output::load_bench(&read, a.json)).map(|()| Done::Ok);
    }

    let cases = mlp_gpu::bench::bench(&mlp_gpu::bench::BenchOptions {
        batch_sizes: &a.batch_size,
        shapes: &a.hidden.0,
        epochs: a.epochs,
        subset: a.subset,
        inputs: a.inputs,
        load: &load,
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
        Command::Predict(args) => predict(args),
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
