//! The command line: parse, call the library, print results on stdout and one clear line
//! per error on stderr.

use clap::{Args, Parser, Subcommand};
use mlp_gpu::model::Init;
use mlp_gpu::optim::OptimizerKind;
use mlp_gpu::run::{self, SavedConfig, TrainOptions, CLASS_NAMES};
use mlp_gpu::train::TrainConfig;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Train a network and save it with its metrics.
    Train(TrainArgs),
    /// Score a saved model on the test set.
    Eval {
        /// A run directory written by `train` (config.json + model.safetensors).
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        adapter: Option<String>,
        #[arg(long)]
        eval_subset: Option<usize>,
        /// Print only JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Time training epochs of the default network (Adam, lr 0.005).
    Bench {
        #[arg(long, value_delimiter = ',', default_value = "64,512")]
        batch_size: Vec<usize>,
        /// Timed epochs per case, after one warm-up epoch.
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        #[arg(long)]
        subset: Option<usize>,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        adapter: Option<String>,
        /// Print only JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Also GPU time per kernel over one epoch, from timestamp queries.
        #[arg(long)]
        profile: bool,
        /// Instead: GFLOP/s of each matmul product at 512x784x200, for every variant.
        #[arg(long)]
        matmul: bool,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// Hidden layer sizes [200,200,200].
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// [sgd]
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// Learning rate [0.05].
    #[arg(long)]
    lr: Option<f32>,
    /// [0]
    #[arg(long)]
    momentum: Option<f32>,
    /// [0]
    #[arg(long)]
    weight_decay: Option<f32>,
    /// [10]
    #[arg(long)]
    epochs: Option<usize>,
    /// [512]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Drop probability after each hidden layer [0].
    #[arg(long)]
    dropout: Option<f32>,
    /// [pytorch]
    #[arg(long, value_enum)]
    init: Option<Init>,
    /// Batch normalisation after each hidden linear layer.
    #[arg(long)]
    batch_norm: bool,
    /// Seed for initialisation, shuffling and dropout [0].
    #[arg(long)]
    seed: Option<u64>,
    /// Seed of the train/validation split [1234].
    #[arg(long)]
    split_seed: Option<u64>,
    /// Training images held out for validation [10000].
    #[arg(long)]
    val_size: Option<usize>,
    /// Train on the first N images of the training part.
    #[arg(long)]
    subset: Option<usize>,
    /// Evaluate on the first N validation and test images.
    #[arg(long)]
    eval_subset: Option<usize>,
    #[arg(long)]
    data: Option<PathBuf>,
    /// Adapter index or part of its name (see `mlp-gpu devices`).
    #[arg(long)]
    adapter: Option<String>,
    /// Output directory [runs/<timestamp>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rerun the settings of a saved config.json; flags given beside it override.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Only errors and results.
    #[arg(long)]
    quiet: bool,
    /// Print the summary as JSON only on stdout.
    #[arg(long)]
    json: bool,
}

fn defaults() -> TrainConfig {
    TrainConfig {
        hidden: vec![200, 200, 200],
        optimizer: OptimizerKind::Sgd,
        lr: 0.05,
        momentum: 0.0,
        weight_decay: 0.0,
        epochs: 10,
        batch_size: 512,
        dropout: 0.0,
        init: Init::Pytorch,
        batch_norm: false,
        seed: 0,
        split_seed: 1234,
        val_size: 10_000,
        subset: None,
        eval_subset: None,
    }
}

impl TrainArgs {
    fn config(&self) -> Result<TrainConfig, String> {
        let mut c = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--config {}: cannot read: {e}", path.display()))?;
                serde_json::from_str::<SavedConfig>(&text)
                    .map_err(|e| {
                        format!(
                            "--config {}: not a config.json written by mlp-gpu: {e}",
                            path.display()
                        )
                    })?
                    .train
            }
            None => defaults(),
        };
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f.clone() { c.$f = v; })* };
        }
        set!(
            hidden,
            optimizer,
            lr,
            momentum,
            weight_decay,
            epochs,
            batch_size,
            dropout,
            init,
            seed,
            split_seed,
            val_size
        );
        c.batch_norm |= self.batch_norm;
        c.subset = self.subset.or(c.subset);
        c.eval_subset = self.eval_subset.or(c.eval_subset);
        Ok(c)
    }
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

fn devices() -> Result<(), String> {
    let list = mlp_gpu::gpu::context::adapters();
    if list.is_empty() {
        return Err(mlp_gpu::gpu::GpuError::NoAdapter.to_string());
    }
    for (i, a) in list.iter().enumerate() {
        let info = a.get_info();
        let mark = if i == 0 { "  (default)" } else { "" };
        println!(
            "{i}: {}  backend {:?}  type {:?}  driver {} {}{mark}",
            info.name, info.backend, info.device_type, info.driver, info.driver_info
        );
    }
    Ok(())
}

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices => devices(),
        Command::Train(args) => (|| {
            let c = args.config()?;
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs").join(timestamp()));
            let o = TrainOptions {
                out: out.clone(),
                data: args.data.clone(),
                adapter: args.adapter.clone(),
                quiet: args.quiet,
            };
            let s = run::train(c, &o)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&s).expect("plain data"));
            } else {
                println!(
                    "status {}  test loss {:.4}  test accuracy {}",
                    s.status,
                    s.test_loss,
                    percent(s.test_accuracy)
                );
                for (name, acc) in CLASS_NAMES.iter().zip(&s.per_class_test_accuracy) {
                    println!("  {name:<12} {}", percent(*acc));
                }
                println!("files in {}", out.display());
            }
            Ok(())
        })(),
        Command::Eval {
            model,
            data,
            adapter,
            eval_subset,
            json,
        } => (|| {
            let e = run::eval(&model, data.as_deref(), adapter.as_deref(), eval_subset)?;
            if json {
                let v = serde_json::json!({"test_accuracy": e.accuracy, "test_loss": e.loss, "per_class": e.per_class});
                println!("{v}");
            } else {
                println!(
                    "test loss {:.4}  test accuracy {}",
                    e.loss,
                    percent(e.accuracy)
                );
                for (name, acc) in CLASS_NAMES.iter().zip(&e.per_class) {
                    println!("  {name:<12} {}", percent(*acc));
                }
            }
            Ok(())
        })(),
        Command::Bench {
            adapter,
            matmul: true,
            ..
        } => (|| {
            let ctx = mlp_gpu::gpu::Context::new(adapter.as_deref()).map_err(|e| e.to_string())?;
            let s = mlp_gpu::ops::LinearShape {
                rows: 512,
                inputs: 784,
                outputs: 200,
            };
            println!("| variant | forward GFLOP/s | backward data | backward weight |");
            println!("|---|---|---|---|");
            for v in mlp_gpu::gpu::MatmulVariant::ALL {
                let [f, dx, dw] = mlp_gpu::bench::matmul_products(&ctx, v, s, 20)?;
                println!("| {} | {f:.2} | {dx:.2} | {dw:.2} |", v.name());
            }
            Ok(())
        })(),
        Command::Bench {
            batch_size,
            epochs,
            subset,
            data,
            adapter,
            json,
            profile,
            ..
        } => {
            (|| {
                let o = mlp_gpu::bench::BenchOptions {
                    batch_sizes: &batch_size,
                    epochs,
                    subset,
                    data: data.as_deref(),
                    adapter: adapter.as_deref(),
                    profile,
                };
                let cases = mlp_gpu::bench::bench(&o)?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&cases).expect("plain data")
                    );
                } else {
                    println!("| adapter | batch | bn+dropout | epoch s (median) | samples/s | GFLOP/s | dispatches/step | submits/epoch | waits/epoch | encode s/epoch | GPU MB | matmul |");
                    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
                    for c in &cases {
                        println!(
                        "| {} | {} | {} | {:.3} | {:.0} | {:.2} | {:.0} | {} | {} | {:.3} | {:.1} | {} |",
                        c.adapter,
                        c.batch_size,
                        c.batch_norm,
                        c.epoch_seconds_median,
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
                        println!("\nProfile, batch {}{bn}: kernels sum to {:.0}% of the epoch's wall time", c.batch_size, 100.0 * c.profile_coverage.unwrap_or(0.0));
                        println!("| kernel | GPU s/epoch | share | GFLOP/s | dispatches |");
                        println!("|---|---|---|---|---|");
                        for r in rows {
                            println!(
                                "| {} | {:.3} | {:.1}% | {:.2} | {} |",
                                r.kernel,
                                r.seconds,
                                100.0 * r.share,
                                r.gflops,
                                r.dispatches
                            );
                        }
                    }
                }
                Ok(())
            })()
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
