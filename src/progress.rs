//! What a pack shows while it trains, on stderr: on a terminal a bar over each epoch's steps,
//! and after each epoch one line (a run alone: its losses and accuracy; a pack: how many of
//! its runs train on, the best validation accuracy so far, its time and each run's share).
//! `--quiet` silences both.

use crate::config::label;
use crate::run::Member;
use crate::train::Trainer;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

pub(crate) struct Progress {
    quiet: bool,
    terminal: bool,
    /// Runs in the pack.
    pack: usize,
}

/// The bar of one epoch (hidden off a terminal or with --quiet), and what the trainer calls
/// as each chunk of steps finishes.
pub(crate) struct Bar {
    bar: ProgressBar,
    report: Option<Box<dyn Fn(usize, f64)>>,
}

impl Bar {
    pub fn report(&self) -> Option<&dyn Fn(usize, f64)> {
        self.report.as_deref()
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// (members still training, diverged, ended otherwise) after an epoch.
fn counts(members: &[Member]) -> (usize, usize, usize) {
    let diverged = |m: &Member| m.metrics.last().is_some_and(|e| !e.train_loss.is_finite());
    let d = members.iter().filter(|m| diverged(m)).count();
    let ended = members
        .iter()
        .filter(|m| m.summary.is_some() && !diverged(m))
        .count();
    (members.len() - d - ended, d, ended)
}

/// The best validation accuracy of `epoch` (1-based) among the members, and whose.
fn best(members: &[Member], epoch: usize) -> Option<(f64, String)> {
    members
        .iter()
        .filter_map(|m| {
            let e = m.metrics.get(epoch.checked_sub(1)?)?;
            e.val_accuracy
                .is_finite()
                .then(|| (e.val_accuracy, label(&m.c)))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// "12 runs: 11 training, 1 diverged; best val acc 85.20% (Adam 0.005)" after `epoch`.
fn pack_state(members: &[Member], epoch: usize) -> String {
    let (running, diverged, ended) = counts(members);
    let mut s = format!("{} runs: {running} training", members.len());
    if diverged > 0 {
        s.push_str(&format!(", {diverged} diverged"));
    }
    if ended > 0 {
        s.push_str(&format!(", {ended} ended"));
    }
    if let Some((acc, who)) = best(members, epoch) {
        s.push_str(&format!("; best val acc {:.2}% ({who})", 100.0 * acc));
    }
    s
}

impl Progress {
    pub fn new(quiet: bool, pack: usize) -> Self {
        Progress {
            quiet,
            terminal: std::io::stderr().is_terminal(),
            pack,
        }
    }

    /// The bar for epoch `epoch` (0-based) of `t`'s pack.
    pub fn bar(&self, t: &Trainer, members: &[Member], epoch: usize) -> Bar {
        if self.quiet || !self.terminal {
            return Bar {
                bar: ProgressBar::hidden(),
                report: None,
            };
        }
        let template = if self.pack == 1 {
            "  {pos}/{len} steps [{bar:30}] {msg} {elapsed}".to_string()
        } else {
            let epochs = members[0].c.epochs;
            format!(
                "  epoch {}/{epochs} {{pos}}/{{len}} steps [{{bar:30}}] {{msg}} {{elapsed}}",
                epoch + 1
            )
        };
        let bar = ProgressBar::new(t.steps_per_epoch() as u64);
        bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
        let state = (self.pack > 1).then(|| pack_state(members, epoch));
        let (n, batch, pack) = (t.train_len(), members[0].c.batch_size, self.pack);
        let shown = bar.clone();
        let t0 = Instant::now();
        let report = move |steps: usize, loss: f64| {
            let samples = pack * (steps * batch).min(n);
            let rate = samples as f64 / t0.elapsed().as_secs_f64();
            shown.set_position(steps as u64);
            shown.set_message(match &state {
                None => format!("{rate:.0} samples/s, loss {loss:.4}"),
                Some(s) => format!("{rate:.0} samples/s; {s}"),
            });
        };
        Bar {
            bar,
            report: Some(Box::new(report)),
        }
    }

    /// The line after epoch `epoch` (0-based) of the pack, which took `seconds`.
    pub fn epoch_done(&self, members: &[Member], epoch: usize, seconds: f64) {
        if self.quiet {
            return;
        }
        if self.pack == 1 {
            if let Some(e) = members[0].metrics.last() {
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
            return;
        }
        let epochs = members[0].c.epochs;
        eprintln!(
            "epoch {:>3}/{epochs}  {}  {seconds:.2} s ({:.2} s per run)",
            epoch + 1,
            pack_state(members, epoch + 1),
            seconds / self.pack as f64
        );
    }
}
