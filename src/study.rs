//! The Fashion-MNIST study of the report mlp-gpu reproduces (../shared/SEED.md): its grid,
//! the paper's numbers, the rules that pick each stage's settings from the last one's
//! results, `mlp-gpu reproduce` (three sweeps, then the report), and the report's section
//! that sets the runs beside the paper.

use crate::config::{label, TrainConfig};
use crate::error::Error;
use crate::figures::{self, Panel, Series};
use crate::model::Init;
use crate::optim::OptimizerKind;
use crate::report::{self, percent, Doc, Group, ReportError};
use crate::rundir::Status;
use crate::session::Session;
use crate::sweep::{self, Grid, Outcome};
use std::fmt::Write as _;
use std::path::Path;

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

/// The study's parts, picked out of any set of runs by their settings.
pub struct Study<'g, 'a> {
    groups: &'g [Group<'a>],
}

/// Whether `c` is on the study's network, without the later stages' changes.
fn plain(c: &TrainConfig) -> bool {
    c.hidden == TrainConfig::default().hidden
        && c.dropout == 0.0
        && c.init == Init::Pytorch
        && !c.batch_norm
}

/// The grid's colours: one hue per optimizer, its learning rates from dark to light.
fn grid_color(o: OptimizerKind, lr_index: usize) -> (u8, u8, u8) {
    let hue = match o {
        OptimizerKind::Sgd => 0.60,
        OptimizerKind::Adam => 0.02,
        OptimizerKind::Rmsprop => 0.36,
    };
    let lightness = 0.25 + 0.13 * lr_index as f64;
    figures::hsl(hue, 0.75, lightness)
}

impl<'g, 'a> Study<'g, 'a> {
    /// The study in `groups`, if they hold a cell of its grid.
    pub fn of(groups: &'g [Group<'a>]) -> Option<Self> {
        let s = Study { groups };
        let any = OPTIMIZERS
            .iter()
            .any(|&o| LEARNING_RATES.iter().any(|&lr| s.cell(o, lr).is_some()));
        any.then_some(s)
    }

    fn find(&self, f: impl Fn(&TrainConfig) -> bool) -> Option<&'g Group<'a>> {
        self.groups
            .iter()
            .filter(|g| f(&g.config))
            .max_by_key(|g| g.runs.len())
    }

    pub fn cell(&self, o: OptimizerKind, lr: f32) -> Option<&'g Group<'a>> {
        self.find(|c| plain(c) && c.optimizer == o && c.lr == lr)
    }

    /// The grid cell with the highest final validation accuracy (mean over seeds), among
    /// the cells no halving stopped if there are any.
    pub fn best_cell(&self) -> Option<&'g Group<'a>> {
        let cells: Vec<&Group> = OPTIMIZERS
            .iter()
            .flat_map(|&o| {
                LEARNING_RATES
                    .iter()
                    .filter_map(move |&lr| self.cell(o, lr))
            })
            .collect();
        let ran_out = |g: &&Group| g.runs.iter().all(|r| r.summary.status != Status::Stopped);
        let full: Vec<&Group> = cells.iter().copied().filter(ran_out).collect();
        let pool = if full.is_empty() { cells } else { full };
        pool.into_iter()
            .max_by(|a, b| a.final_val().total_cmp(&b.final_val()))
    }

    fn with_best(&self, f: impl Fn(&TrainConfig) -> bool) -> Vec<&'g Group<'a>> {
        let Some(best) = self.best_cell() else {
            return Vec::new();
        };
        let (o, lr, hidden) = (best.config.optimizer, best.config.lr, &best.config.hidden);
        self.groups
            .iter()
            .filter(|g| {
                let c = &g.config;
                c.optimizer == o && c.lr == lr && &c.hidden == hidden && f(c)
            })
            .collect()
    }

    /// The best cell with each dropout probability (0 first).
    pub fn dropout_runs(&self) -> Vec<&'g Group<'a>> {
        let mut v = self.with_best(|c| c.init == Init::Pytorch && !c.batch_norm);
        v.sort_by(|a, b| a.config.dropout.total_cmp(&b.config.dropout));
        v
    }

    /// The dropout run with the highest final validation accuracy (p > 0).
    pub fn best_dropout(&self) -> Option<&'g Group<'a>> {
        self.dropout_runs()
            .into_iter()
            .filter(|g| g.config.dropout > 0.0)
            .max_by(|a, b| a.final_val().total_cmp(&b.final_val()))
    }

    /// Kaiming-uniform runs of the best cell: (without, with) batch norm.
    pub fn kaiming(&self) -> (Vec<&'g Group<'a>>, Vec<&'g Group<'a>>) {
        let k = self.with_best(|c| c.init == Init::KaimingUniform);
        k.into_iter().partition(|g| !g.config.batch_norm)
    }

    /// The study's part of report.md: Table 1 and figures 1 to 4 beside the paper.
    pub fn section(&self, doc: &mut Doc) -> Result<(), ReportError> {
        self.grid(doc)?;
        self.dropout(doc)?;
        self.initialisation(doc)
    }

    /// Table 1 and figures 1-2.
    fn grid(&self, doc: &mut Doc) -> Result<(), ReportError> {
        let _ = writeln!(doc.md, "## Optimizers and learning rates (Table 1)\n");
        let _ = writeln!(
            doc.md,
            "| optimizer | lr 0.1 | lr 0.05 | lr 0.01 | lr 0.005 |\n|---|---|---|---|---|"
        );
        let mut grid_series = Vec::new();
        for (o, report_row) in OPTIMIZERS.iter().zip(REPORT_TABLE) {
            let mut row = format!("| {} |", o.title());
            for (j, (lr, theirs)) in LEARNING_RATES.iter().zip(report_row).enumerate() {
                match self.cell(*o, *lr) {
                    Some(g) => {
                        let _ = write!(row, " {} ({theirs:.2}) |", g.test_cell());
                        let series = g.val_series(label(&g.config));
                        grid_series.push(Series {
                            color: Some(grid_color(*o, j)),
                            ..series
                        });
                    }
                    None => {
                        let _ = write!(row, " – ({theirs:.2}) |");
                    }
                }
            }
            let _ = writeln!(doc.md, "{row}");
        }
        let _ = writeln!(
            doc.md,
            "\nThe report's baseline run (SGD, lr 0.05) scored {REPORT_BASELINE:.2}, a separate run from its table cell 83.85: the gap between the two is run-to-run noise the report did not measure."
        );
        if let Some(best) = self.best_cell() {
            let _ = writeln!(
                doc.md,
                "The best cell by final validation accuracy: {} ({}% validation).\n",
                label(&best.config),
                percent(best.final_val())
            );
        }
        if let Some(base) = self.cell(OptimizerKind::Sgd, 0.05) {
            figures::curves(
                &doc.figures.join("1_baseline.svg"),
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
            doc.figure(
                "1_baseline.svg",
                "Training loss and validation accuracy, SGD 0.05",
            );
        }
        if !grid_series.is_empty() {
            figures::curves(
                &doc.figures.join("2_grid.svg"),
                "Validation accuracy: optimizer x learning rate",
                &[Panel {
                    y_label: "validation accuracy (%)",
                    series: grid_series,
                }],
            )?;
            doc.figure(
                "2_grid.svg",
                "Validation accuracy per epoch for every optimizer and learning rate",
            );
        }
        Ok(())
    }

    /// The dropout table and figure 3.
    fn dropout(&self, doc: &mut Doc) -> Result<(), ReportError> {
        let dropout = self.dropout_runs();
        if !dropout.iter().any(|g| g.config.dropout > 0.0) {
            return Ok(());
        }
        let _ = writeln!(
            doc.md,
            "## Dropout (with {})\n",
            label(&dropout[0].config).split(',').next().unwrap_or("")
        );
        let _ = writeln!(
            doc.md,
            "| dropout p | test accuracy | report |\n|---|---|---|"
        );
        for g in &dropout {
            let theirs = if g.config.dropout == REPORT_BEST_DROPOUT.0 {
                format!("{:.2} (its best p)", REPORT_BEST_DROPOUT.1)
            } else {
                "–".into()
            };
            let _ = writeln!(
                doc.md,
                "| {} | {} | {theirs} |",
                g.config.dropout,
                g.test_cell()
            );
        }
        if let Some(b) = self.best_dropout() {
            let _ = writeln!(
                doc.md,
                "\nBest p by final validation accuracy: {} (the report: {}).\n",
                b.config.dropout, REPORT_BEST_DROPOUT.0
            );
        }
        figures::curves(
            &doc.figures.join("3_dropout.svg"),
            "Validation accuracy per dropout probability",
            &[Panel {
                y_label: "validation accuracy (%)",
                series: dropout
                    .iter()
                    .map(|g| g.val_series(format!("p = {}", g.config.dropout)))
                    .collect(),
            }],
        )?;
        doc.figure(
            "3_dropout.svg",
            "Validation accuracy per epoch for each dropout probability",
        );
        Ok(())
    }

    /// Kaiming-uniform initialisation without and with batch norm: table and figure 4.
    fn initialisation(&self, doc: &mut Doc) -> Result<(), ReportError> {
        let (kaiming, kaiming_bn) = self.kaiming();
        if kaiming.is_empty() && kaiming_bn.is_empty() {
            return Ok(());
        }
        let _ = writeln!(doc.md, "## Initialisation and batch normalisation\n");
        let _ = writeln!(
            doc.md,
            "| setting | test accuracy | report |\n|---|---|---|"
        );
        let mut loss = Vec::new();
        let mut val = Vec::new();
        for (groups, theirs) in [(&kaiming, REPORT_KAIMING), (&kaiming_bn, REPORT_BATCH_NORM)] {
            for g in groups.iter() {
                let l = label(&g.config);
                let _ = writeln!(doc.md, "| {l} | {} | {theirs:.2} |", g.test_cell());
                loss.push(g.loss_series(l.clone()));
                val.push(g.val_series(l));
            }
        }
        figures::curves(
            &doc.figures.join("4_kaiming.svg"),
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
        let _ = writeln!(doc.md);
        doc.figure(
            "4_kaiming.svg",
            "Training loss and validation accuracy with Kaiming-uniform initialisation",
        );
        Ok(())
    }
}

/// Runs (or resumes) the study into `out` with `base` settings for every seed; returns
/// every run's outcome, and writes the report unless interrupted or another process holds
/// some of its runs.
pub fn reproduce(
    s: &Session,
    base: &TrainConfig,
    seeds: &[u64],
    out: &Path,
    opts: &sweep::SweepOptions,
) -> Result<Outcome, Error> {
    let quiet = opts.quiet;
    let mut all = Outcome {
        runs: Vec::new(),
        interrupted: false,
        busy: Vec::new(),
    };
    // only the grid is halved (`--halving`); the later stages train every run
    let mut stage = |name: &str, grid: Grid, halving: bool| -> Result<bool, Error> {
        let configs = grid.configs(base);
        if !quiet {
            eprintln!("{name}: {} runs", configs.len());
        }
        let opts = sweep::SweepOptions {
            halving: opts.halving.filter(|_| halving),
            ..*opts
        };
        let o = sweep::sweep(s, &configs, out, &opts)?;
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
    if !stage("optimizer x learning rate", grid, true)? {
        return Ok(all);
    }
    // Each later stage starts from the best settings so far, read back from the files.
    let best = |pick: &dyn Fn(&Study) -> Option<TrainConfig>| -> Result<TrainConfig, Error> {
        let (records, _) = report::collect(&[out.to_path_buf()])?;
        let groups = report::groups(&records);
        let missing = || ReportError::StudyMissing(out.to_path_buf());
        let study = Study::of(&groups).ok_or_else(missing)?;
        Ok(pick(&study).ok_or_else(missing)?)
    };
    let cell = best(&|st| st.best_cell().map(|g| g.config.clone()))?;
    let dropout = Grid {
        optimizer: vec![cell.optimizer],
        lr: vec![cell.lr],
        dropout: DROPOUTS.to_vec(),
        seed: seed.clone(),
        ..Grid::default()
    };
    if !stage(
        "dropout with the best optimizer and learning rate",
        dropout,
        false,
    )? {
        return Ok(all);
    }
    let p = best(&|st| st.best_dropout().map(|g| g.config.clone()))?.dropout;
    let kaiming = Grid {
        optimizer: vec![cell.optimizer],
        lr: vec![cell.lr],
        dropout: vec![p],
        init: vec![Init::KaimingUniform],
        batch_norm: vec![false, true],
        seed,
        ..Grid::default()
    };
    if !stage(
        "Kaiming-uniform initialisation, without and with batch norm",
        kaiming,
        false,
    )? {
        return Ok(all);
    }
    let path = report::report(&[out.to_path_buf()])?;
    if !quiet {
        eprintln!("report written to {}", path.display());
    }
    Ok(all)
}
