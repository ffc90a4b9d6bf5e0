//! `mlp-gpu report`: report.md, figures/*.svg and results.csv from run folders alone. The
//! sections here know nothing of any data set or paper: the runs table, their validation
//! curves, the epoch times, the runs that diverged or failed to learn, and results.csv. Where
//! the runs are the Fashion-MNIST study's, `study::section` adds its comparison with the
//! paper.

use crate::config::{label, TrainConfig};
use crate::figures::{self, Panel, Series};
use crate::rundir::EpochMetrics;
use crate::rundir::{self, FolderError, SavedConfig, Status, Summary};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}: not a directory; give the --out directory of a sweep or reproduce", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: cannot read: {source}", .dir.display())]
    Unreadable {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("no finished runs in {0}; run `mlp-gpu sweep` or `mlp-gpu reproduce` first")]
    NoFinishedRuns(String),
    #[error("{}: the study's runs are missing", .0.display())]
    StudyMissing(PathBuf),
    #[error("drawing a figure: {0}")]
    Figure(String),
    #[error(transparent)]
    Folder(#[from] FolderError),
}

/// A run "failed to learn" when its final validation accuracy stays under this.
const LEARNED: f64 = 0.20;

/// One run folder's files.
#[derive(Clone, Debug)]
pub struct Record {
    pub dir: PathBuf,
    pub config: SavedConfig,
    pub summary: Summary,
    pub metrics: Vec<EpochMetrics>,
}

impl Record {
    pub fn train(&self) -> &TrainConfig {
        &self.config.train
    }

    /// Whether the run trained on Fashion-MNIST (all runs from before own data did).
    pub fn on_fashion_mnist(&self) -> bool {
        let d = &self.config.dataset;
        d.as_ref().is_none_or(|d| d.info.is_fashion_mnist())
    }

    /// The folder's own name.
    fn name(&self) -> String {
        self.dir.file_name().map_or_else(
            || self.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

fn read_record(dir: &Path) -> Result<Option<Record>, FolderError> {
    if !dir.join(rundir::SUMMARY).exists() {
        return Ok(None);
    }
    let summary: Summary = rundir::read_json(&dir.join(rundir::SUMMARY))?;
    Ok(Some(Record {
        dir: dir.to_path_buf(),
        config: rundir::read_config(dir)?,
        summary,
        metrics: rundir::read_metrics(dir)?,
    }))
}

/// The runs under each directory (a run directory itself, or a folder of them); the
/// second element counts runs without a finished summary.
pub fn collect(dirs: &[PathBuf]) -> Result<(Vec<Record>, usize), ReportError> {
    let mut records = Vec::new();
    let mut unfinished = 0;
    for dir in dirs {
        if !dir.is_dir() {
            return Err(ReportError::NotADirectory(dir.clone()));
        }
        let unreadable = |source| ReportError::Unreadable {
            dir: dir.clone(),
            source,
        };
        let mut candidates = vec![dir.clone()];
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(unreadable)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        candidates.extend(subdirs);
        for d in candidates.iter().filter(|d| rundir::holds_run(d)) {
            match read_record(d)? {
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
        let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(ReportError::NoFinishedRuns(names.join(", ")));
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
    pub fn test_cell(&self) -> String {
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

    /// The run's share of an epoch: mean and std over seeds.
    fn epoch_seconds(&self) -> (f64, f64) {
        mean_std(&self.values(|r| Some(r.summary.mean_epoch_seconds)))
    }

    /// The largest pack its runs trained in.
    fn pack_size(&self) -> usize {
        self.runs
            .iter()
            .map(|r| r.summary.pack_size)
            .max()
            .unwrap_or(1)
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
            color: None,
        }
    }

    pub fn val_series(&self, label: String) -> Series {
        self.series(label, |m| 100.0 * m.val_accuracy)
    }

    pub fn loss_series(&self, label: String) -> Series {
        self.series(label, |m| m.train_loss)
    }
}

pub(crate) fn percent(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// What every section writes into: report.md's text and the figures' folder.
pub struct Doc {
    pub md: String,
    pub figures: PathBuf,
}

impl Doc {
    /// Embeds figure `file` of the figures' folder.
    pub fn figure(&mut self, file: &str, caption: &str) {
        let _ = writeln!(self.md, "![{caption}](figures/{file})\n");
    }
}

/// Writes report.md, figures/*.svg and results.csv into the first directory; returns the
/// report's path.
pub fn report(dirs: &[PathBuf]) -> Result<PathBuf, ReportError> {
    let (records, unfinished) = collect(dirs)?;
    let out = &dirs[0];
    write_csv(&out.join("results.csv"), &records)?;
    let groups = groups(&records);
    // the study's comparison is with runs on Fashion-MNIST only
    let fashion: Vec<Group> = groups
        .iter()
        .filter(|g| g.runs.iter().all(|r| r.on_fashion_mnist()))
        .cloned()
        .collect();
    let study = crate::study::Study::of(&fashion);
    let mut doc = Doc {
        md: String::new(),
        figures: out.join("figures"),
    };
    intro(&mut doc, &records, unfinished, study.is_some());
    match &study {
        Some(s) => s.section(&mut doc)?,
        None => curves(&mut doc, &groups)?,
    }
    runs_table(&mut doc, &groups);
    halving_curves(&mut doc, &records)?;
    epoch_times(&mut doc, &groups)?;
    troubles(&mut doc, &records);
    let path = out.join("report.md");
    rundir::write_atomic(&path, doc.md.as_bytes())?;
    Ok(path)
}

/// The title and what the report holds.
fn intro(doc: &mut Doc, records: &[Record], unfinished: usize, study: bool) {
    let adapters: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.summary.adapter.as_str()).collect();
    let seeds: std::collections::BTreeSet<u64> = records.iter().map(|r| r.train().seed).collect();
    let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
    let several = seeds.len() > 1;
    let title = if study {
        "Fashion-MNIST study, reproduced by mlp-gpu"
    } else {
        "Runs, reported by mlp-gpu"
    };
    let spread = match (several, study) {
        (true, true) => ", mean ± standard deviation over seeds (a spread the report did not measure); the report's number in parentheses",
        (true, false) => ", mean ± standard deviation over seeds",
        (false, true) => "; the report's number in parentheses",
        (false, false) => "",
    };
    let _ = writeln!(doc.md, "# {title}\n");
    let _ = writeln!(
        doc.md,
        "{} finished runs ({unfinished} unfinished, not shown), seeds {}, on {}. Test accuracy in %{spread}. Written by `mlp-gpu report` from the run folders; every run's numbers are in results.csv.\n",
        records.len(),
        seeds.join(", "),
        adapters.into_iter().collect::<Vec<_>>().join("; "),
    );
}

/// Every group's settings and results, one row each; with the epoch its runs stopped at
/// where a halving sweep stopped them.
fn runs_table(doc: &mut Doc, groups: &[Group]) {
    let _ = writeln!(doc.md, "## Runs\n");
    let _ = writeln!(
        doc.md,
        "| run | hidden | batch | epochs | seeds | test accuracy | final val accuracy | stopped at epoch |\n|---|---|---|---|---|---|---|---|"
    );
    for g in groups {
        let hidden: Vec<String> = g.config.hidden.iter().map(|h| h.to_string()).collect();
        let stopped: Vec<String> = g
            .runs
            .iter()
            .filter(|r| r.summary.status == Status::Stopped)
            .map(|r| r.summary.epochs_run.to_string())
            .collect();
        let _ = writeln!(
            doc.md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            label(&g.config),
            hidden.join("-"),
            g.config.batch_size,
            g.config.epochs,
            g.runs.len(),
            g.test_cell(),
            percent(g.final_val()),
            if stopped.is_empty() {
                "–".to_string()
            } else {
                stopped.join(", ")
            }
        );
    }
    let _ = writeln!(doc.md);
}

/// With runs a halving sweep stopped: every run's validation accuracy per epoch, each line
/// ending where its run stopped.
fn halving_curves(doc: &mut Doc, records: &[Record]) -> Result<(), ReportError> {
    if !records.iter().any(|r| r.summary.status == Status::Stopped) {
        return Ok(());
    }
    let series = records
        .iter()
        .map(|r| Series {
            label: r.name(),
            mean: r.metrics.iter().map(|m| 100.0 * m.val_accuracy).collect(),
            band: None,
            color: None,
        })
        .collect();
    figures::curves(
        &doc.figures.join("halving.svg"),
        "Successive halving: validation accuracy of every run",
        &[Panel {
            y_label: "validation accuracy (%)",
            series,
        }],
    )?;
    doc.figure(
        "halving.svg",
        "Validation accuracy per epoch of every run, each line ending where its run stopped",
    );
    Ok(())
}

/// Validation accuracy per epoch of every group, one figure.
fn curves(doc: &mut Doc, groups: &[Group]) -> Result<(), ReportError> {
    let series = groups
        .iter()
        .map(|g| g.val_series(label(&g.config)))
        .collect();
    figures::curves(
        &doc.figures.join("curves.svg"),
        "Validation accuracy per epoch",
        &[Panel {
            y_label: "validation accuracy (%)",
            series,
        }],
    )?;
    doc.figure("curves.svg", "Validation accuracy per epoch of every run");
    Ok(())
}

/// Each group's epoch time, its run's share of its pack's, with the pack's size: a table
/// and figure 5.
fn epoch_times(doc: &mut Doc, groups: &[Group]) -> Result<(), ReportError> {
    let _ = writeln!(doc.md, "## Epoch time\n");
    let _ = writeln!(
        doc.md,
        "Training only, GPU work finished, mean over a run's epochs (and over seeds). Runs trained together as a pack share each epoch's wall time: a run's time is the pack's over its size.\n"
    );
    let _ = writeln!(
        doc.md,
        "| run | batch | epoch s per run | pack | adapter |\n|---|---|---|---|---|"
    );
    let mut bars = Vec::new();
    for g in groups {
        let (m, s) = g.epoch_seconds();
        let pack = g.pack_size();
        let _ = writeln!(
            doc.md,
            "| {} | {} | {m:.3} | {pack} | {} |",
            label(&g.config),
            g.config.batch_size,
            g.runs[0].summary.adapter
        );
        bars.push((
            format!(
                "{} (batch {}, pack {pack})",
                label(&g.config),
                g.config.batch_size
            ),
            m,
            s,
        ));
    }
    figures::bars(
        &doc.figures.join("5_epoch_time.svg"),
        "Mean epoch time per run",
        "seconds per epoch (a pack's run: its share)",
        &bars,
    )?;
    let _ = writeln!(doc.md);
    doc.figure("5_epoch_time.svg", "Mean epoch time per run");
    Ok(())
}

/// The runs that diverged or failed to learn.
fn troubles(doc: &mut Doc, records: &[Record]) {
    let _ = writeln!(doc.md, "## Runs that diverged or failed to learn\n");
    let mut any = false;
    for r in records {
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
        let _ = writeln!(doc.md, "- {}: {why}", r.name());
    }
    if !any {
        let _ = writeln!(doc.md, "None.");
    }
}

/// One row per run: settings and final numbers.
fn write_csv(path: &Path, records: &[Record]) -> Result<(), ReportError> {
    let mut csv = String::from("run,optimizer,lr,batch_size,dropout,init,batch_norm,seed,hidden,epochs,status,epochs_run,test_accuracy,test_loss,val_accuracy,best_val_accuracy,best_epoch,mean_epoch_seconds,adapter,pack_size\n");
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    for r in records {
        let (c, s) = (r.train(), &r.summary);
        let hidden: Vec<String> = c.hidden.iter().map(|h| h.to_string()).collect();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},\"{}\",{}",
            r.name(),
            c.optimizer.name(),
            c.lr,
            c.batch_size,
            c.dropout,
            c.init.name(),
            c.batch_norm,
            c.seed,
            hidden.join("-"),
            c.epochs,
            s.status.name(),
            s.epochs_run,
            opt(s.test_accuracy),
            opt(s.test_loss),
            s.val_accuracy,
            s.best_val_accuracy,
            s.best_epoch,
            s.mean_epoch_seconds,
            s.adapter.replace('"', "'"),
            s.pack_size
        );
    }
    rundir::write_atomic(path, csv.as_bytes())?;
    Ok(())
}
