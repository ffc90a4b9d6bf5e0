//! `mlp-gpu report`: tables, figures and results.csv from run directories alone, beside
//! the numbers of the report the study reproduces (../shared/SEED.md).

use crate::figures::{self, Panel, Series};
use crate::model::Init;
use crate::optim::OptimizerKind;
use crate::run::{self, SavedConfig, Status, Summary};
use crate::train::{EpochMetrics, TrainConfig};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The study's grid and the report's test accuracies (%) for it.
pub const OPTIMIZERS: [OptimizerKind; 3] = OptimizerKind::ALL;
pub const LEARNING_RATES: [f32; 4] = [0.1, 0.05, 0.01, 0.005];
const REPORT_TABLE: [[f64; 4]; 3] = [
    [86.39, 83.85, 79.04, 70.75],
    [19.67, 77.94, 87.35, 87.53],
    [10.40, 11.92, 81.05, 85.44],
];
const REPORT_BASELINE: f64 = 85.16;
pub const DROPOUTS: [f32; 4] = [0.1, 0.2, 0.3, 0.4];
const REPORT_BEST_DROPOUT: (f32, f64) = (0.2, 87.51);
const REPORT_KAIMING: f64 = 86.92;
const REPORT_BATCH_NORM: f64 = 87.57;
/// A run "failed to learn" when its final validation accuracy stays under this.
const LEARNED: f64 = 0.20;

/// One run directory's files.
#[derive(Clone, Debug)]
pub struct Record {
    pub dir: PathBuf,
    pub config: SavedConfig,
    pub summary: Summary,
    pub metrics: Vec<EpochMetrics>,
}

impl Record {
    fn train(&self) -> &TrainConfig {
        &self.config.train
    }
}

fn read_record(dir: &Path) -> Result<Option<Record>, String> {
    let summary_path = dir.join(run::SUMMARY);
    if !summary_path.exists() {
        return Ok(None);
    }
    let summary: Summary = run::read_json(&summary_path)?;
    let config: SavedConfig = run::read_json(&dir.join("config.json"))?;
    let metrics_path = dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&metrics_path).unwrap_or_default();
    let metrics = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| format!("{}: not written by mlp-gpu: {e}", metrics_path.display()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Record {
        dir: dir.to_path_buf(),
        config,
        summary,
        metrics,
    }))
}

/// The runs under each directory (a run directory itself, or a folder of them); the
/// second element counts runs without a finished summary.
pub fn collect(dirs: &[PathBuf]) -> Result<(Vec<Record>, usize), String> {
    let mut records = Vec::new();
    let mut unfinished = 0;
    for dir in dirs {
        if !dir.is_dir() {
            return Err(format!(
                "{}: not a directory; give the --out directory of a sweep or reproduce",
                dir.display()
            ));
        }
        let mut candidates = vec![dir.clone()];
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: cannot read: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        candidates.extend(subdirs);
        for d in candidates {
            if !d.join("config.json").exists() {
                continue;
            }
            match read_record(&d)? {
                Some(r) if r.summary.status.finished() => {
                    // The same run twice (copied folders, overlapping shards) counts once.
                    match records.iter().find(|o: &&Record| o.train() == r.train()) {
                        Some(first) => eprintln!(
                            "warning: {} repeats the run in {}; counted once",
                            r.dir.display(),
                            first.dir.display()
                        ),
                        None => records.push(r),
                    }
                }
                _ => unfinished += 1,
            }
        }
    }
    if records.is_empty() {
        return Err(format!(
            "no finished runs in {}; run `mlp-gpu sweep` or `mlp-gpu reproduce` first",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok((records, unfinished))
}

/// Runs that differ only in their seed.
#[derive(Clone, Debug)]
pub struct Group<'a> {
    pub config: TrainConfig,
    pub runs: Vec<&'a Record>,
}

pub fn groups(records: &[Record]) -> Vec<Group<'_>> {
    let mut map: BTreeMap<String, Group> = BTreeMap::new();
    for r in records {
        let mut key = r.train().clone();
        key.seed = 0;
        let name = serde_json::to_string(&key).expect("plain data");
        map.entry(name)
            .or_insert_with(|| Group {
                config: key,
                runs: Vec::new(),
            })
            .runs
            .push(r);
    }
    map.into_values().collect()
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

impl Group<'_> {
    fn values(&self, f: impl Fn(&Record) -> Option<f64>) -> Vec<f64> {
        self.runs.iter().filter_map(|r| f(r)).collect()
    }

    /// Test accuracy in %, "mean ± std" with several seeds.
    fn test_cell(&self) -> String {
        let v = self.values(|r| r.summary.test_accuracy.map(|a| 100.0 * a));
        let (m, s) = mean_std(&v);
        if v.len() > 1 {
            format!("{m:.2} ± {s:.2}")
        } else {
            format!("{m:.2}")
        }
    }

    pub fn final_val(&self) -> f64 {
        mean_std(&self.values(|r| Some(r.summary.val_accuracy))).0
    }

    fn epoch_seconds(&self) -> (f64, f64) {
        mean_std(&self.values(|r| Some(r.summary.mean_epoch_seconds)))
    }

    /// Per-epoch mean (and band with several seeds) of one metric.
    fn series(&self, label: String, f: impl Fn(&EpochMetrics) -> f64) -> Series {
        let epochs = self.runs.iter().map(|r| r.metrics.len()).max().unwrap_or(0);
        let (mut mean, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new());
        for e in 0..epochs {
            let v: Vec<f64> = self
                .runs
                .iter()
                .filter_map(|r| r.metrics.get(e).map(&f))
                .collect();
            let (m, s) = mean_std(&v);
            mean.push(m);
            lo.push(m - s);
            hi.push(m + s);
        }
        Series {
            label,
            mean,
            band: (self.runs.len() > 1).then_some((lo, hi)),
        }
    }

    fn val_series(&self, label: String) -> Series {
        self.series(label, |m| 100.0 * m.val_accuracy)
    }

    fn loss_series(&self, label: String) -> Series {
        self.series(label, |m| m.train_loss)
    }
}

/// A short name of a group's settings.
pub fn label(c: &TrainConfig) -> String {
    let mut s = format!("{} {}", name(c.optimizer), c.lr);
    if c.dropout > 0.0 {
        let _ = write!(s, ", dropout {}", c.dropout);
    }
    if c.init == Init::KaimingUniform {
        s.push_str(", Kaiming");
    }
    if c.batch_norm {
        s.push_str(", BN");
    }
    s
}

fn name(o: OptimizerKind) -> &'static str {
    match o {
        OptimizerKind::Sgd => "SGD",
        OptimizerKind::Adam => "Adam",
        OptimizerKind::Rmsprop => "RMSProp",
    }
}

/// The study's parts, picked out of any set of runs by their settings.
pub struct Study<'a> {
    pub groups: Vec<Group<'a>>,
}

impl<'a> Study<'a> {
    fn find(&self, f: impl Fn(&TrainConfig) -> bool) -> Option<&Group<'a>> {
        self.groups
            .iter()
            .filter(|g| f(&g.config))
            .max_by_key(|g| g.runs.len())
    }

    fn plain(c: &TrainConfig) -> bool {
        c.dropout == 0.0 && c.init == Init::Pytorch && !c.batch_norm
    }

    pub fn cell(&self, o: OptimizerKind, lr: f32) -> Option<&Group<'a>> {
        self.find(|c| Self::plain(c) && c.optimizer == o && c.lr == lr)
    }

    /// The grid cell with the highest final validation accuracy (mean over seeds).
    pub fn best_cell(&self) -> Option<&Group<'a>> {
        OPTIMIZERS
            .iter()
            .flat_map(|&o| {
                LEARNING_RATES
                    .iter()
                    .filter_map(move |&lr| self.cell(o, lr))
            })
            .max_by(|a, b| a.final_val().total_cmp(&b.final_val()))
    }

    fn with_best(&self, f: impl Fn(&TrainConfig) -> bool) -> Vec<&Group<'a>> {
        let Some(best) = self.best_cell() else {
            return Vec::new();
        };
        let (o, lr) = (best.config.optimizer, best.config.lr);
        self.groups
            .iter()
            .filter(|g| g.config.optimizer == o && g.config.lr == lr && f(&g.config))
            .collect()
    }

    /// The best cell with each dropout probability (0 first).
    pub fn dropout_runs(&self) -> Vec<&Group<'a>> {
        let mut v = self.with_best(|c| c.init == Init::Pytorch && !c.batch_norm);
        v.sort_by(|a, b| a.config.dropout.total_cmp(&b.config.dropout));
        v
    }

    /// The dropout run with the highest final validation accuracy (p > 0).
    pub fn best_dropout(&self) -> Option<&Group<'a>> {
        self.dropout_runs()
            .into_iter()
            .filter(|g| g.config.dropout > 0.0)
            .max_by(|a, b| a.final_val().total_cmp(&b.final_val()))
    }

    /// Kaiming-uniform runs of the best cell: (without, with) batch norm.
    pub fn kaiming(&self) -> (Vec<&Group<'a>>, Vec<&Group<'a>>) {
        let k = self.with_best(|c| c.init == Init::KaimingUniform);
        k.into_iter().partition(|g| !g.config.batch_norm)
    }
}

fn percent(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// Writes report.md, figures/*.svg and results.csv into the first directory; returns the
/// report's path.
pub fn report(dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let (records, unfinished) = collect(dirs)?;
    let out = &dirs[0];
    write_csv(&out.join("results.csv"), &records)?;
    let study = Study {
        groups: groups(&records),
    };
    let figures_dir = out.join("figures");
    let mut md = String::new();
    let adapters: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.summary.adapter.as_str()).collect();
    let seeds: std::collections::BTreeSet<u64> = records.iter().map(|r| r.train().seed).collect();
    let _ = writeln!(md, "# Fashion-MNIST study, reproduced by mlp-gpu\n");
    let _ = writeln!(
        md,
        "{} finished runs ({unfinished} unfinished, not shown), seeds {}, on {}. Test accuracy in %{}; the report's number in parentheses. Written by `mlp-gpu report` from the run folders; every run's numbers are in results.csv.\n",
        records.len(),
        seeds.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
        adapters.into_iter().collect::<Vec<_>>().join("; "),
        if seeds.len() > 1 { ", mean ± standard deviation over seeds (a spread the report did not measure)" } else { "" }
    );
    let figure = |md: &mut String, file: &str, caption: &str| {
        let _ = writeln!(md, "![{caption}](figures/{file})\n");
    };

    // Table 1 and figures 1-2.
    let _ = writeln!(md, "## Optimizers and learning rates (Table 1)\n");
    let _ = writeln!(
        md,
        "| optimizer | lr 0.1 | lr 0.05 | lr 0.01 | lr 0.005 |\n|---|---|---|---|---|"
    );
    let mut grid_series = Vec::new();
    for (o, report_row) in OPTIMIZERS.iter().zip(REPORT_TABLE) {
        let mut row = format!("| {} |", name(*o));
        for (lr, theirs) in LEARNING_RATES.iter().zip(report_row) {
            match study.cell(*o, *lr) {
                Some(g) => {
                    let _ = write!(row, " {} ({theirs:.2}) |", g.test_cell());
                    grid_series.push(g.val_series(label(&g.config)));
                }
                None => {
                    let _ = write!(row, " – ({theirs:.2}) |");
                }
            }
        }
        let _ = writeln!(md, "{row}");
    }
    let _ = writeln!(
        md,
        "\nThe report's baseline run (SGD, lr 0.05) scored {REPORT_BASELINE:.2}, a separate run from its table cell 83.85: the gap between the two is run-to-run noise the report did not measure."
    );
    if let Some(best) = study.best_cell() {
        let _ = writeln!(
            md,
            "The best cell by final validation accuracy: {} ({}% validation).\n",
            label(&best.config),
            percent(best.final_val())
        );
    }
    if let Some(base) = study.cell(OptimizerKind::Sgd, 0.05) {
        figures::curves(
            &figures_dir.join("1_baseline.svg"),
            "Baseline: SGD, lr 0.05",
            &[
                Panel {
                    y_label: "training loss",
                    series: vec![base.loss_series("SGD 0.05".into())],
                },
                Panel {
                    y_label: "validation accuracy (%)",
                    series: vec![base.val_series("SGD 0.05".into())],
                },
            ],
        )?;
        figure(
            &mut md,
            "1_baseline.svg",
            "Training loss and validation accuracy, SGD 0.05",
        );
    }
    if !grid_series.is_empty() {
        figures::curves(
            &figures_dir.join("2_grid.svg"),
            "Validation accuracy: optimizer x learning rate",
            &[Panel {
                y_label: "validation accuracy (%)",
                series: grid_series,
            }],
        )?;
        figure(
            &mut md,
            "2_grid.svg",
            "Validation accuracy per epoch for every optimizer and learning rate",
        );
    }

    // Dropout, figure 3.
    let dropout = study.dropout_runs();
    if dropout.iter().any(|g| g.config.dropout > 0.0) {
        let _ = writeln!(
            md,
            "## Dropout (with {})\n",
            label(&dropout[0].config).split(',').next().unwrap_or("")
        );
        let _ = writeln!(md, "| dropout p | test accuracy | report |\n|---|---|---|");
        for g in &dropout {
            let theirs = if g.config.dropout == REPORT_BEST_DROPOUT.0 {
                format!("{:.2} (its best p)", REPORT_BEST_DROPOUT.1)
            } else {
                "–".into()
            };
            let _ = writeln!(
                md,
                "| {} | {} | {theirs} |",
                g.config.dropout,
                g.test_cell()
            );
        }
        if let Some(b) = study.best_dropout() {
            let _ = writeln!(
                md,
                "\nBest p by final validation accuracy: {} (the report: {}).\n",
                b.config.dropout, REPORT_BEST_DROPOUT.0
            );
        }
        figures::curves(
            &figures_dir.join("3_dropout.svg"),
            "Validation accuracy per dropout probability",
            &[Panel {
                y_label: "validation accuracy (%)",
                series: dropout
                    .iter()
                    .map(|g| g.val_series(format!("p = {}", g.config.dropout)))
                    .collect(),
            }],
        )?;
        figure(
            &mut md,
            "3_dropout.svg",
            "Validation accuracy per epoch for each dropout probability",
        );
    }

    // Kaiming and batch norm, figure 4.
    let (kaiming, kaiming_bn) = study.kaiming();
    if !kaiming.is_empty() || !kaiming_bn.is_empty() {
        let _ = writeln!(md, "## Initialisation and batch normalisation\n");
        let _ = writeln!(md, "| setting | test accuracy | report |\n|---|---|---|");
        let mut loss = Vec::new();
        let mut val = Vec::new();
        for (groups, theirs) in [(&kaiming, REPORT_KAIMING), (&kaiming_bn, REPORT_BATCH_NORM)] {
            for g in groups.iter() {
                let l = label(&g.config);
                let _ = writeln!(md, "| {l} | {} | {theirs:.2} |", g.test_cell());
                loss.push(g.loss_series(l.clone()));
                val.push(g.val_series(l));
            }
        }
        figures::curves(
            &figures_dir.join("4_kaiming.svg"),
            "Kaiming-uniform initialisation",
            &[
                Panel {
                    y_label: "training loss",
                    series: loss,
                },
                Panel {
                    y_label: "validation accuracy (%)",
                    series: val,
                },
            ],
        )?;
        let _ = writeln!(md);
        figure(
            &mut md,
            "4_kaiming.svg",
            "Training loss and validation accuracy with Kaiming-uniform initialisation",
        );
    }

    // Epoch times, figure 5.
    let _ = writeln!(md, "## Epoch time\n");
    let _ = writeln!(
        md,
        "Training only, GPU work finished, mean over a run's epochs (and over seeds).\n"
    );
    let _ = writeln!(
        md,
        "| run | batch | mean epoch s | adapter |\n|---|---|---|---|"
    );
    let mut bars = Vec::new();
    for g in &study.groups {
        let (m, s) = g.epoch_seconds();
        let _ = writeln!(
            md,
            "| {} | {} | {m:.3} | {} |",
            label(&g.config),
            g.config.batch_size,
            g.runs[0].summary.adapter
        );
        bars.push((
            format!("{} (batch {})", label(&g.config), g.config.batch_size),
            m,
            s,
        ));
    }
    figures::bars(
        &figures_dir.join("5_epoch_time.svg"),
        "Mean epoch time per run",
        "seconds per epoch",
        &bars,
    )?;
    let _ = writeln!(md);
    figure(&mut md, "5_epoch_time.svg", "Mean epoch time per run");

    let _ = writeln!(md, "## Runs that diverged or failed to learn\n");
    let mut any = false;
    for r in &records {
        let why = if r.summary.status == Status::Diverged {
            "diverged (non-finite training loss)".to_string()
        } else if r.summary.val_accuracy < LEARNED {
            format!(
                "failed to learn (final validation accuracy {}%)",
                percent(r.summary.val_accuracy)
            )
        } else {
            continue;
        };
        any = true;
        let _ = writeln!(
            md,
            "- {}: {why}",
            r.dir.file_name().map_or_else(
                || r.dir.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        );
    }
    if !any {
        let _ = writeln!(md, "None.");
    }
    let path = out.join("report.md");
    crate::output::write_atomic(&path, md.as_bytes()).map_err(|e| e.to_string())?;
    Ok(path)
}

/// One row per run: settings and final numbers.
fn write_csv(path: &Path, records: &[Record]) -> Result<(), String> {
    let mut csv = String::from("run,optimizer,lr,batch_size,dropout,init,batch_norm,seed,hidden,epochs,status,epochs_run,test_accuracy,test_loss,val_accuracy,best_val_accuracy,best_epoch,mean_epoch_seconds,adapter\n");
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    for r in records {
        let (c, s) = (r.train(), &r.summary);
        let hidden: Vec<String> = c.hidden.iter().map(|h| h.to_string()).collect();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},\"{}\"",
            r.dir
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            c.optimizer.name(),
            c.lr,
            c.batch_size,
            c.dropout,
            c.init.name(),
            c.batch_norm,
            c.seed,
            hidden.join("-"),
            c.epochs,
            serde_json::to_value(s.status)
                .expect("plain")
                .as_str()
                .unwrap_or(""),
            s.epochs_run,
            opt(s.test_accuracy),
            opt(s.test_loss),
            s.val_accuracy,
            s.best_val_accuracy,
            s.best_epoch,
            s.mean_epoch_seconds,
            s.adapter.replace('"', "'")
        );
    }
    crate::output::write_atomic(path, csv.as_bytes()).map_err(|e| e.to_string())
}
