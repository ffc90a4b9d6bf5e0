//! `mlp-gpu sweep`: the cartesian product of settings, one run directory each, sharing one
//! session; resumable and splittable into shards.

use crate::config::{describe, ConfigError, PackShape, TrainConfig};
use crate::error::Error;
use crate::halving::{self, Decision, Halving, Record};
use crate::run::{self, Goal, RunOptions};
use crate::rundir::{self, DataSeen, LockError, RunDir, Status, Summary};
use crate::session::{Session, ShapePlan};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The lists a sweep crosses; each `None`/empty list keeps the base setting.
#[derive(Clone, Debug, Default)]
pub struct Grid {
    pub optimizer: Vec<crate::optim::OptimizerKind>,
    pub lr: Vec<f32>,
    pub dropout: Vec<f32>,
    pub init: Vec<crate::model::Init>,
    pub batch_size: Vec<usize>,
    pub seed: Vec<u64>,
    pub batch_norm: Vec<bool>,
}

impl Grid {
    /// Each list's flag and length.
    pub fn lists(&self) -> [(&'static str, usize); 7] {
        [
            ("--optimizer", self.optimizer.len()),
            ("--lr", self.lr.len()),
            ("--dropout", self.dropout.len()),
            ("--init", self.init.len()),
            ("--batch-size", self.batch_size.len()),
            ("--seed", self.seed.len()),
            ("--batch-norm", self.batch_norm.len()),
        ]
    }

    /// Every combination, in a fixed order (the last list varies fastest).
    pub fn configs(&self, base: &TrainConfig) -> Vec<TrainConfig> {
        fn cross<T: Clone>(
            out: Vec<TrainConfig>,
            values: &[T],
            set: impl Fn(&mut TrainConfig, T),
        ) -> Vec<TrainConfig> {
            if values.is_empty() {
                return out;
            }
            let mut crossed = Vec::with_capacity(out.len() * values.len());
            for c in out {
                for v in values {
                    let mut c = c.clone();
                    set(&mut c, v.clone());
                    crossed.push(c);
                }
            }
            crossed
        }
        let mut out = vec![base.clone()];
        out = cross(out, &self.optimizer, |c, v| c.optimizer = v);
        out = cross(out, &self.lr, |c, v| c.lr = v);
        out = cross(out, &self.batch_size, |c, v| c.batch_size = v);
        out = cross(out, &self.dropout, |c, v| c.dropout = v);
        out = cross(out, &self.init, |c, v| c.init = v);
        out = cross(out, &self.batch_norm, |c, v| c.batch_norm = v);
        cross(out, &self.seed, |c, v| c.seed = v)
    }
}

/// The folder name of a run: its swept settings, readable and unique within a sweep.
pub fn run_name(c: &TrainConfig) -> String {
    format!(
        "{}_lr{}_b{}_p{}_{}_{}_s{}",
        c.optimizer.name(),
        c.lr,
        c.batch_size,
        c.dropout,
        c.init.name(),
        if c.batch_norm { "bn" } else { "nobn" },
        c.seed
    )
}

/// `--shard I/N`: the I-th (1-based) of N interleaved slices of a sweep's runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not I/N with 1 <= I <= N, e.g. 1/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Interleaved, so each shard gets a similar mix of cheap and costly runs.
    pub fn take<T>(self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, t)| t)
            .collect()
    }
}

/// What a sweep did with each of its runs.
#[derive(Debug)]
pub struct Outcome {
    pub runs: Vec<(PathBuf, Summary)>,
    /// Ctrl-C stopped the sweep before every run was done.
    pub interrupted: bool,
    /// The folders of runs another process held, skipped (it trains them).
    pub busy: Vec<PathBuf>,
}

/// A sweep's run folder, tried just before its pack trains.
enum Claim {
    /// Held by this process, with the epochs its checkpoint has done.
    Held(RunDir, usize),
    /// Finished by another process since the sweep began.
    Finished(Summary),
    /// Held by another process.
    Busy(LockError),
}

/// Takes run folder `dir` for training `c`, unless another process holds it or has finished
/// it: looked at before (to leave a finished run's folder untouched) and once it is held.
fn claim(dir: &Path, c: &TrainConfig, data: DataSeen) -> Result<Claim, Error> {
    if let Some(summary) = rundir::finished_run(dir, c, data)? {
        return Ok(Claim::Finished(summary));
    }
    rundir::prepare(dir)?;
    let held = match RunDir::claim(dir) {
        Ok(held) => held,
        Err(e @ LockError::Held { .. }) => return Ok(Claim::Busy(e)),
        Err(e) => return Err(e.into()),
    };
    Ok(match rundir::finished_run(dir, c, data)? {
        Some(summary) => Claim::Finished(summary),
        None => Claim::Held(held, rundir::epochs_done(dir)),
    })
}

fn minutes(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}m{:02}s", s / 60, s % 60)
}

/// Runs a sweep packs together unless told otherwise (`--pack-size`).
pub const PACK_SIZE: usize = 16;

pub struct SweepOptions<'a> {
    pub quiet: bool,
    pub stop: Option<&'a AtomicBool>,
    /// Most runs trained as one pack (1: one at a time).
    pub pack_size: usize,
    /// Successive halving of the runs (`--halving`), if asked for.
    pub halving: Option<Halving>,
    /// Which shard of a sweep this is (index, count): each halves its own runs, with a
    /// record of its own.
    pub shard: Option<(usize, usize)>,
}

impl<'a> SweepOptions<'a> {
    /// Refuses a pack size of 0, naming the flag.
    pub fn new(
        quiet: bool,
        stop: Option<&'a AtomicBool>,
        pack_size: usize,
    ) -> Result<Self, ConfigError> {
        if pack_size == 0 {
            return Err(ConfigError::new(
                "--pack-size",
                "--pack-size 0: give at least 1 (1 trains the runs one at a time)",
            ));
        }
        Ok(SweepOptions {
            quiet,
            stop,
            pack_size,
            halving: None,
            shard: None,
        })
    }
}

/// The plan of `shape` among `plans`.
fn plan_of<'p>(plans: &'p [ShapePlan], shape: &PackShape) -> &'p ShapePlan {
    let plan = plans.iter().find(|p| p.shape == *shape);
    plan.expect("every shape of the sweep is planned")
}

/// The runs `todo` (indices into `configs`, with their epochs done) in packs of at most
/// their plan's cap that share their `PackShape` and epochs done, the largest group first,
/// each group in sweep order.
fn packs(
    configs: &[TrainConfig],
    todo: &[(usize, usize)],
    plans: &[ShapePlan],
    quiet: bool,
) -> Vec<Vec<usize>> {
    let mut groups: Vec<((PackShape, usize), Vec<usize>)> = Vec::new();
    for &(i, done) in todo {
        let key = (configs[i].pack_shape(), done);
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    let mut out = Vec::new();
    for ((shape, _), runs) in groups {
        let k = plan_of(plans, &shape).cap;
        if runs.len() > k && !quiet {
            eprintln!(
                "notice: {} runs that could train together go in packs of at most {k}",
                runs.len()
            );
        }
        out.extend(runs.chunks(k).map(<[usize]>::to_vec));
    }
    out
}

/// Runs every config not already finished under `out`, each in `out/<run_name>`, runs that
/// can train together as packs; an interrupted or failed run goes on from its checkpoint.
/// Runs another process holds are left to it.
pub fn sweep(
    s: &Session,
    configs: &[TrainConfig],
    out: &Path,
    o: &SweepOptions,
) -> Result<Outcome, Error> {
    // every shape's split and pack size, checked against the device before any work
    let mut plans: Vec<ShapePlan> = Vec::new();
    for shape in configs.iter().map(TrainConfig::pack_shape) {
        if !plans.iter().any(|p| p.shape == shape) {
            plans.push(s.plan(&shape, o.pack_size)?);
        }
    }
    let mut names: Vec<String> = configs.iter().map(run_name).collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::SameFolder(w[0].clone()));
    }
    rundir::prepare(out)?;
    let mut sw = Sweep {
        s,
        configs,
        dirs: configs.iter().map(|c| out.join(run_name(c))).collect(),
        o,
        started: Instant::now(),
        ran: 0,
        ran_seconds: 0.0,
        to_train: 0,
        results: Vec::new(),
        busy: Vec::new(),
    };
    let todo = sw.unfinished()?;
    let mut interrupted = match o.halving {
        None => sw.stage(&todo, Goal::Complete, &plans)?,
        Some(h) => sw.halve(h, out, &todo, &plans)?,
    };
    // Ctrl-C between packs, or during a run's last moments: the caller should stop.
    interrupted |= o.stop.is_some_and(|f| f.load(Ordering::Relaxed));
    let runs = sw
        .dirs
        .into_iter()
        .zip(sw.results)
        .filter_map(|(d, r)| r.map(|r| (d, r)))
        .collect();
    Ok(Outcome {
        runs,
        interrupted,
        busy: sw.busy,
    })
}

/// A sweep under way: its runs, their results so far, and what its progress lines need.
struct Sweep<'a> {
    s: &'a Session,
    configs: &'a [TrainConfig],
    dirs: Vec<PathBuf>,
    o: &'a SweepOptions<'a>,
    started: Instant,
    ran: usize,
    ran_seconds: f64,
    /// Runs left to train (finished runs are known up front, so the estimate counts only these).
    to_train: usize,
    results: Vec<Option<Summary>>,
    busy: Vec<PathBuf>,
}

impl Sweep<'_> {
    /// The data this sweep trains on, as run folders record it.
    fn label(&self, i: usize) -> String {
        let c = &self.configs[i];
        let info = self.s.info();
        let d = describe(c, info.inputs, info.classes.len());
        let (b, seed) = (c.batch_size, c.seed);
        let total = self.configs.len();
        format!("run {}/{total} {d}, batch {b}, seed {seed}", i + 1)
    }

    fn say(&self, line: String) {
        if !self.o.quiet {
            eprintln!("{line}");
        }
    }

    /// Records the finished runs; returns the others (index, epochs done).
    fn unfinished(&mut self) -> Result<Vec<(usize, usize)>, Error> {
        let mut todo = Vec::new();
        for (i, c) in self.configs.iter().enumerate() {
            let done = rundir::finished_run(&self.dirs[i], c, self.s.seen())?;
            match &done {
                Some(d) => self.say(format!(
                    "{}: already {:?}, skipped",
                    self.label(i),
                    d.status
                )),
                None => todo.push((i, rundir::epochs_done(&self.dirs[i]))),
            }
            self.results.push(done);
        }
        self.to_train = todo.len();
        Ok(todo)
    }

    /// Takes the folders of a planned pack, leaving runs another process holds or finished;
    /// returns what to train, in packs that share the epochs done (which another process may
    /// have changed since the plan).
    fn claim(&mut self, pack: &[usize]) -> Result<Vec<Vec<(usize, RunDir)>>, Error> {
        let mut held: Vec<(usize, RunDir, usize)> = Vec::new();
        for &i in pack {
            match claim(&self.dirs[i], &self.configs[i], self.s.seen())? {
                Claim::Held(dir, done) => held.push((i, dir, done)),
                Claim::Finished(summary) => {
                    self.say(format!(
                        "{}: {:?} by another process, skipped",
                        self.label(i),
                        summary.status
                    ));
                    self.results[i] = Some(summary);
                    self.to_train -= 1;
                }
                Claim::Busy(e) => {
                    self.say(format!("{}: skipped, {e}", self.label(i)));
                    self.busy.push(self.dirs[i].clone());
                    self.to_train -= 1;
                }
            }
        }
        held.sort_by_key(|h| h.2);
        let mut packs: Vec<Vec<(usize, RunDir)>> = Vec::new();
        let mut last = None;
        for (i, dir, done) in held {
            if last != Some(done) {
                packs.push(Vec::new());
                last = Some(done);
            }
            packs.last_mut().expect("pushed").push((i, dir));
        }
        Ok(packs)
    }

    /// Trains the runs `todo` (index, epochs done) as far as `goal`, in packs; true if it
    /// was interrupted.
    fn stage(
        &mut self,
        todo: &[(usize, usize)],
        goal: Goal,
        plans: &[ShapePlan],
    ) -> Result<bool, Error> {
        let stopped = || self.o.stop.is_some_and(|f| f.load(Ordering::Relaxed));
        for pack in packs(self.configs, todo, plans, self.o.quiet) {
            if stopped() {
                return Ok(true);
            }
            for held in self.claim(&pack)? {
                if self.train(held, plans, goal)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Trains the runs `todo` by successive halving `h`, rung by rung (`halving`); true if
    /// it was interrupted. Stops, with a line, where another process holds runs a rung
    /// needs.
    fn halve(
        &mut self,
        h: Halving,
        out: &Path,
        todo: &[(usize, usize)],
        plans: &[ShapePlan],
    ) -> Result<bool, Error> {
        let Some(first) = self.configs.first() else {
            return Ok(false); // a shard with no runs
        };
        let epochs = first.epochs;
        let path = halving::record_path(out, self.o.shard);
        let names = self.configs.iter().map(run_name).collect();
        let mut record = Record::open(&path, h, epochs, names)?;
        let mut alive: Vec<usize> = todo.iter().map(|t| t.0).collect();
        for rung in h.rungs(epochs) {
            let decision = match record.decided(rung) {
                Some(d) => d.clone(),
                None => {
                    if self.stage(&self.behind(&alive, rung), Goal::Pause(rung), plans)? {
                        return Ok(true);
                    }
                    if !self.busy.is_empty() {
                        self.say(format!(
                            "halving waits at epoch {rung}: another process holds runs it ranks"
                        ));
                        return Ok(false);
                    }
                    alive.retain(|&i| self.results[i].is_none());
                    let d = self.decide(h, &alive, rung)?;
                    record.decide(&path, d.clone())?;
                    d
                }
            };
            let out: Vec<usize> = alive
                .iter()
                .copied()
                .filter(|&i| decision.stopped.contains(&run_name(&self.configs[i])))
                .collect();
            let unstopped: Vec<usize> = out
                .iter()
                .copied()
                .filter(|&i| self.results[i].is_none())
                .collect();
            if self.stage(
                &self.behind(&unstopped, usize::MAX),
                Goal::Stop(rung),
                plans,
            )? {
                return Ok(true);
            }
            alive.retain(|i| !out.contains(i));
        }
        let last: Vec<usize> = alive
            .into_iter()
            .filter(|&i| self.results[i].is_none())
            .collect();
        self.stage(&self.behind(&last, usize::MAX), Goal::Complete, plans)
    }

    /// The runs of `runs` that have done fewer than `epochs` epochs, with their epochs done.
    fn behind(&self, runs: &[usize], epochs: usize) -> Vec<(usize, usize)> {
        runs.iter()
            .map(|&i| (i, rundir::epochs_done(&self.dirs[i])))
            .filter(|&(_, done)| done < epochs)
            .collect()
    }

    /// The ranking of `runs` at rung `epoch` (their validation accuracy there) and who goes
    /// on.
    fn decide(&self, h: Halving, runs: &[usize], epoch: usize) -> Result<Decision, Error> {
        let mut at = Vec::new();
        for &i in runs {
            let metrics = rundir::read_metrics(&self.dirs[i])?;
            let m = metrics.get(epoch - 1).cloned().ok_or_else(|| {
                let path = self.dirs[i].join(rundir::METRICS);
                rundir::FolderError::invalid(&path, format!("has no epoch {epoch} to rank"))
            })?;
            at.push((run_name(&self.configs[i]), m));
        }
        let refs: Vec<(String, &rundir::EpochMetrics)> =
            at.iter().map(|(n, m)| (n.clone(), m)).collect();
        let ranking = halving::rank(&refs);
        let k = h.survivors(ranking.len());
        let names = |r: &[halving::Ranked]| r.iter().map(|r| r.run.clone()).collect();
        let d = Decision {
            epoch,
            survivors: names(&ranking[..k]),
            stopped: names(&ranking[k..]),
            ranking,
        };
        self.say(format!(
            "rung at epoch {epoch}: {} of {} runs go on ({}), {} stop",
            d.survivors.len(),
            d.ranking.len(),
            d.survivors.join(", "),
            d.stopped.len()
        ));
        Ok(d)
    }

    /// Trains one pack of held runs as far as `goal`; true if it was interrupted.
    fn train(
        &mut self,
        pack: Vec<(usize, RunDir)>,
        plans: &[ShapePlan],
        goal: Goal,
    ) -> Result<bool, Error> {
        let members: Vec<usize> = pack.iter().map(|p| p.0).collect();
        let estimate = match self.ran {
            0 => String::new(),
            n => format!(
                ", about {} left",
                minutes(self.ran_seconds / n as f64 * self.to_train as f64)
            ),
        };
        let so_far = minutes(self.started.elapsed().as_secs_f64());
        let together = match members.len() {
            1 => String::new(),
            k => format!(", {k} runs as one pack"),
        };
        self.say(format!(
            "{} ({so_far} so far{estimate}{together})",
            self.label(members[0])
        ));
        for &i in &members[1..] {
            self.say(self.label(i));
        }
        let t0 = Instant::now();
        let configs: Vec<TrainConfig> = members.iter().map(|&i| self.configs[i].clone()).collect();
        let prepared = &plan_of(plans, &configs[0].pack_shape()).prepared;
        let trainer = self.s.trainer_on(prepared, configs)?;
        let dirs: Vec<RunDir> = pack.into_iter().map(|(_, dir)| dir).collect();
        let ro = RunOptions {
            quiet: self.o.quiet,
            goal,
            alone: false,
            resume: true,
            stop: self.o.stop,
        };
        let summaries = run::run_pack(self.s, trainer, &dirs, &ro)?;
        let ended = summaries.iter().filter(|s| s.is_some()).count();
        self.ran += ended;
        self.to_train -= ended;
        self.ran_seconds += t0.elapsed().as_secs_f64();
        let mut interrupted = false;
        for (&i, summary) in members.iter().zip(summaries) {
            let Some(summary) = summary else {
                let done = rundir::epochs_done(&self.dirs[i]);
                self.say(format!("  run {}: at epoch {done}, ranked next", i + 1));
                continue;
            };
            let acc = summary.test_accuracy.map_or(String::new(), |a| {
                format!(", test accuracy {:.2}%", 100.0 * a)
            });
            self.say(format!(
                "  run {}: {:?} after {} epochs{acc}, {}",
                i + 1,
                summary.status,
                summary.epochs_run,
                minutes(t0.elapsed().as_secs_f64())
            ));
            interrupted |= summary.status == Status::Interrupted;
            self.results[i] = Some(summary);
        }
        Ok(interrupted)
    }
}
