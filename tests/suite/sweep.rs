//! `sweep` and `report` end to end: folders, skipping, resuming, shards, SIGKILL, and the
//! report's tables and figures from hand-made result files.

use crate::common::cli::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A toy dataset of 600 training and 50 test images in `tmp`/data.
fn toy_data(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    std::fs::create_dir(&data).unwrap();
    write_dataset(&data, 600, 50);
    data
}

/// A tiny sweep of 4 runs: 2 optimizers x 2 learning rates.
fn sweep_args(data: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "sweep",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--optimizer",
        "sgd,adam",
        "--lr",
        "0.05,0.005",
        "--hidden",
        "32",
        "--val-size",
        "100",
        "--epochs",
        "2",
        "--batch-size",
        "50",
    ]
    .map(String::from)
    .to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

const RUNS: [&str; 4] = [
    "sgd_lr0.05_b50_p0_pytorch_nobn_s0",
    "sgd_lr0.005_b50_p0_pytorch_nobn_s0",
    "adam_lr0.05_b50_p0_pytorch_nobn_s0",
    "adam_lr0.005_b50_p0_pytorch_nobn_s0",
];
const FILES: [&str; 6] = [
    "run.lock",
    "config.json",
    "metrics.jsonl",
    "checkpoint.safetensors",
    "model.safetensors",
    "summary.json",
];

fn status(run: &Path) -> String {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    s["status"].as_str().unwrap().to_string()
}

#[test]
fn sweep_writes_every_run_skips_finished_ones_and_shards_partition_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_dataset(&data, 500, 100);
    let out = tmp.path().join("sweep");
    let stdout = run_ok(bin().args(sweep_args(&data, &out, &["--json"])));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("--json: only JSON");
    assert_eq!(rows.len(), 4);
    for run in RUNS {
        for f in FILES {
            assert!(out.join(run).join(f).exists(), "{run}/{f}");
        }
        assert_eq!(status(&out.join(run)), "completed");
    }
    let first = snapshot(&out);

    // Again: everything is skipped and nothing changes.
    let o = bin().args(sweep_args(&data, &out, &[])).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stderr.matches("skipped").count(), 4, "{stderr}");
    assert_eq!(snapshot(&out), first);

    // Without one summary.json, just that run runs again, to the same result.
    let again = out.join(RUNS[2]);
    std::fs::remove_file(again.join("summary.json")).unwrap();
    let o = bin().args(sweep_args(&data, &out, &[])).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stderr.matches("skipped").count(), 3, "{stderr}");
    let rerun = snapshot(&out);
    for (path, bytes) in &first {
        let from_rerun = path.starts_with(RUNS[2]);
        if !from_rerun {
            assert_eq!(&rerun[path], bytes, "{} unchanged", path.display());
        }
    }
    let model = PathBuf::from(RUNS[2]).join("model.safetensors");
    assert_eq!(
        rerun[&model], first[&model],
        "the rerun trains the same model"
    );

    // Shards 1/2 and 2/2 together hold exactly the whole sweep's runs and models.
    let sharded = tmp.path().join("sharded");
    for shard in ["1/2", "2/2"] {
        run_ok(bin().args(sweep_args(&data, &sharded, &["--shard", shard, "--quiet"])));
    }
    let models = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        RUNS.iter()
            .filter_map(|r| {
                std::fs::read(dir.join(r).join("model.safetensors"))
                    .ok()
                    .map(|b| (r.to_string(), b))
            })
            .collect()
    };
    assert_eq!(models(&sharded), models(&out));
    let one = tmp.path().join("one");
    run_ok(bin().args(sweep_args(&data, &one, &["--shard", "1/2", "--quiet"])));
    assert_eq!(models(&one).len(), 2, "a shard runs its half only");

    // The report merges the shards' folders.
    let stdout = run_ok(bin().args(["report", sharded.to_str().unwrap()]));
    assert!(stdout.contains("report.md"), "{stdout}");
    let csv = std::fs::read_to_string(sharded.join("results.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        5,
        "a header and one row per run: {csv}"
    );
}

/// Starts the 4-run sweep of `epochs` epochs on 1,500 toy images into `tmp`/sweep and
/// returns once `file` exists (the sweep still running), with the sweep's arguments. Its
/// stdout and stderr are piped (it writes a few lines: they never fill the pipe).
fn start_sweep(
    tmp: &Path,
    epochs: usize,
    file: &Path,
    extra: &[&str],
) -> (std::process::Child, Vec<String>) {
    let data = tmp.join("data");
    std::fs::create_dir(&data).unwrap();
    write_dataset(&data, 1500, 100);
    let mut args = sweep_args(&data, &tmp.join("sweep"), extra);
    let at = args.iter().position(|a| a == "--epochs").unwrap();
    args[at + 1] = epochs.to_string();
    let mut child = bin()
        .args(&args)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&mut child, &format!("{} appearing", file.display()), || {
        file.exists()
    });
    (child, args)
}

#[test]
fn sweep_killed_mid_run_completes_on_rerun_without_touching_finished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    // Kill it once the first run has finished and the second has recorded its first epoch:
    // an event, not a sleep, with 11 of run 2's epochs still to go however fast the
    // adapter is.
    let second = out.join(RUNS[1]).join("metrics.jsonl");
    let (mut child, args) = start_sweep(tmp.path(), 12, &second, &["--pack-size", "1"]);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let finished: BTreeMap<PathBuf, Vec<u8>> = snapshot(&out)
        .into_iter()
        .filter(|(p, _)| p.starts_with(RUNS[0]))
        .collect();
    assert_eq!(
        finished.len(),
        FILES.len(),
        "run 1 finished: {:?}",
        finished.keys()
    );
    assert!(
        !out.join(RUNS[1]).join("summary.json").exists(),
        "the kill came in the middle of run 2"
    );
    for (p, _) in snapshot(&out) {
        assert!(
            !p.to_string_lossy().ends_with(".tmp") || !p.starts_with(RUNS[0]),
            "{}",
            p.display()
        );
    }

    let o = bin().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = snapshot(&out);
    for run in RUNS {
        assert_eq!(status(&out.join(run)), "completed", "{run}");
    }
    for (p, bytes) in &finished {
        assert_eq!(&after[p], bytes, "{} untouched", p.display());
    }
    assert!(
        after.keys().all(|p| !p.to_string_lossy().ends_with(".tmp")),
        "no temporary files left: {:?}",
        after.keys()
    );
}

/// Two copies of one sweep at once (started twice, or a requeued job whose first copy still
/// runs) share its runs: each run is trained by one of them, once, its folder held by that
/// one alone, and equals the run trained by a sweep alone. The second starts while the
/// first trains run 1, so both find work.
#[test]
fn two_copies_of_one_sweep_train_each_run_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let run1 = out.join(RUNS[0]).join("metrics.jsonl");
    let (first, args) = start_sweep(tmp.path(), 12, &run1, &["--pack-size", "1"]);
    let second = bin()
        .args(&args)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut trained = Vec::new();
    for child in [first, second] {
        let pid = child.id();
        let o = child.wait_with_output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(o.status.success(), "{stderr}");
        let runs: BTreeSet<usize> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("  run "))
            .map(|l| l.split(':').next().unwrap().parse::<usize>().unwrap() - 1)
            .collect();
        for &r in &runs {
            let lock = std::fs::read_to_string(out.join(RUNS[r]).join("run.lock")).unwrap();
            assert_eq!(
                lock.trim(),
                pid.to_string(),
                "{}: held by its trainer alone",
                RUNS[r]
            );
        }
        let busy = stdout.matches("| busy |").count();
        assert!(
            busy == 0
                || stderr.contains(&format!("{busy} runs skipped: another process holds them")),
            "the summary says what was left to the other: {stdout}{stderr}"
        );
        trained.push((runs, busy));
    }
    let ((a, busy_a), (b, busy_b)) = (&trained[0], &trained[1]);
    assert!(a.is_disjoint(b), "no run trained twice: {a:?} {b:?}");
    assert_eq!(
        a.len() + b.len(),
        RUNS.len(),
        "every run trained: {a:?} {b:?}"
    );
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both found work: {a:?} {b:?}"
    );
    assert!(busy_a + busy_b > 0, "each left some to the other");
    let alone = tmp.path().join("alone");
    let mut alone_args = args.clone();
    let at = alone_args.iter().position(|a| a == "--out").unwrap();
    alone_args[at + 1] = alone.to_str().unwrap().into();
    run_ok(bin().args(&alone_args));
    for run in RUNS {
        assert_eq!(untimed(&out.join(run)), untimed(&alone.join(run)), "{run}");
    }
}

/// results.csv as `report` writes it for `dir`, without the timing column and the adapter
/// (every column from mean_epoch_seconds on; the adapter's name holds a comma).
fn untimed_results(dir: &Path) -> Vec<String> {
    run_ok(bin().arg("report").arg(dir));
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert!(
        csv.starts_with("run,")
            && csv.lines().next().unwrap().split(',').nth(17) == Some("mean_epoch_seconds")
    );
    csv.lines()
        .map(|l| l.split(',').take(17).collect::<Vec<_>>().join(","))
        .collect()
}

/// GNU parallel running the two shards of one sweep at once into one folder, as a user
/// spreads a sweep over a machine's GPUs: every run is trained once, equal to the sweep run
/// unsharded, and the report's results are the same.
#[test]
fn two_shards_at_once_under_gnu_parallel_equal_the_sweep_unsharded() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy_data(tmp.path());
    let (sharded, whole) = (tmp.path().join("sharded"), tmp.path().join("whole"));
    let mut shard = vec![
        "--will-cite".into(),
        "--halt".into(),
        "now,fail=1".into(),
        "-q".into(),
    ];
    shard.push(env!("CARGO_BIN_EXE_mlp-gpu").into());
    shard.extend(sweep_args(&data, &sharded, &["--quiet", "--shard", "{}/2"]));
    shard.extend([":::".into(), "1".into(), "2".into()]);
    let o = std::process::Command::new("parallel")
        .args(&shard)
        .output()
        .expect("GNU parallel runs (package parallel; make test installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    run_ok(bin().args(sweep_args(&data, &whole, &["--quiet"])));
    for run in RUNS {
        assert_eq!(
            untimed(&sharded.join(run)),
            untimed(&whole.join(run)),
            "{run}"
        );
    }
    assert_eq!(untimed_results(&sharded), untimed_results(&whole));
}

/// A hand-made run folder: settings, per-epoch validation accuracies, test accuracy.
fn fake_run(root: &Path, settings: (&str, f32, f32, &str, bool, u64), val: &[f64], test: f64) {
    let (optimizer, lr, dropout, init, bn, seed) = settings;
    let name = format!("{optimizer}_lr{lr}_p{dropout}_{init}_{bn}_s{seed}");
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "hidden": [200, 200, 200], "optimizer": optimizer, "lr": lr, "momentum": 0.0,
        "weight_decay": 0.0, "epochs": val.len(), "batch_size": 512, "dropout": dropout,
        "init": init, "batch_norm": bn, "seed": seed, "split_seed": 1234, "val_size": 10000,
        "subset": null, "eval_subset": null, "adapter": "test adapter", "version": "0.1.0"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let metrics: String = val
        .iter()
        .enumerate()
        .map(|(e, v)| {
            serde_json::json!({"epoch": e + 1, "train_loss": 1.0 / (e + 1) as f64, "val_loss": 0.5,
                "val_accuracy": v, "epoch_seconds": 2.0, "eval_seconds": 0.1, "samples_per_second": 25000.0})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(dir.join("metrics.jsonl"), metrics).unwrap();
    let summary = serde_json::json!({
        "status": "completed", "test_accuracy": test, "test_loss": 0.4,
        "val_accuracy": val.last().unwrap(), "best_val_accuracy": 0.9, "best_epoch": 1,
        "epochs_run": val.len(), "mean_epoch_seconds": 2.0, "adapter": "test adapter",
        "per_class_test_accuracy": vec![0.9; 10]
    });
    std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
}

/// The series of a figure: its coloured lines of width 2 (axes and ticks are black, 1 wide).
fn series_in(svg: &Path) -> usize {
    let text = std::fs::read_to_string(svg).unwrap();
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", svg.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| {
            n.has_tag_name("polyline")
                && n.attribute("stroke-width") == Some("2")
                && n.attribute("stroke") != Some("#000000")
        })
        .count()
}

#[test]
fn report_from_hand_made_files_has_the_cells_and_valid_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let lrs = [0.1f32, 0.05, 0.01, 0.005];
    for (i, opt) in ["sgd", "adam", "rmsprop"].iter().enumerate() {
        for (j, lr) in lrs.iter().enumerate() {
            for seed in [0, 1] {
                // RMSProp 0.005 is the best cell; seeds differ by 2 points of test accuracy.
                let v = 0.5 + 0.01 * (4 * i + j) as f64;
                let test = 0.6 + 0.01 * (4 * i + j) as f64 + 0.02 * seed as f64;
                fake_run(
                    root,
                    (opt, *lr, 0.0, "pytorch", false, seed),
                    &[v - 0.1, v],
                    test,
                );
            }
        }
    }
    for (k, p) in [0.1f32, 0.2, 0.3, 0.4].iter().enumerate() {
        fake_run(
            root,
            ("rmsprop", 0.005, *p, "pytorch", false, 0),
            &[0.7, 0.8 - 0.01 * k as f64],
            0.85,
        );
    }
    fake_run(
        root,
        ("rmsprop", 0.005, 0.1, "kaiming-uniform", false, 0),
        &[0.7, 0.8, 0.81],
        0.86,
    );
    fake_run(
        root,
        ("rmsprop", 0.005, 0.1, "kaiming-uniform", true, 0),
        &[0.7, 0.8, 0.82],
        0.87,
    );
    run_ok(bin().args(["report", root.to_str().unwrap()]));
    let md = std::fs::read_to_string(root.join("report.md")).unwrap();
    // SGD 0.1: test 0.60 and 0.62 -> 61.00 ± 1.41, beside the report's 86.39.
    assert!(
        md.contains("| SGD | 61.00 ± 1.41 (86.39) | 62.00 ± 1.41 (83.85) |"),
        "{md}"
    );
    assert!(md.contains("| RMSProp | 69.00 ± 1.41 (10.40) | 70.00 ± 1.41 (11.92) | 71.00 ± 1.41 (81.05) | 72.00 ± 1.41 (85.44) |"), "{md}");
    assert!(
        md.contains("best cell by final validation accuracy: RMSProp 0.005"),
        "{md}"
    );
    assert!(md.contains("| 0.2 | 85.00 | 87.51 (its best p) |"), "{md}");
    assert!(
        md.contains("Best p by final validation accuracy: 0.1"),
        "{md}"
    );
    assert!(
        md.contains("| RMSProp 0.005, dropout 0.1, Kaiming | 86.00 | 86.92 |"),
        "{md}"
    );
    assert!(
        md.contains("| RMSProp 0.005, dropout 0.1, Kaiming, BN | 87.00 | 87.57 |"),
        "{md}"
    );
    assert!(md.contains("85.16"), "the baseline is mentioned");
    let figures = root.join("figures");
    let expected = [
        ("1_baseline.svg", 2), // loss and accuracy of one run
        ("2_grid.svg", 12),
        ("3_dropout.svg", 5), // p = 0 and the four probabilities
        ("4_kaiming.svg", 4), // two runs, two panels
        ("5_epoch_time.svg", 0),
    ];
    for (file, series) in expected {
        assert!(
            md.contains(&format!("(figures/{file})")),
            "report.md embeds {file}"
        );
        assert_eq!(series_in(&figures.join(file)), series, "{file}");
    }
    let csv = std::fs::read_to_string(root.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 24 + 4 + 2);
    assert!(csv.starts_with("run,optimizer,lr,"));
    // folders written before runs recorded their pack: each trained alone
    assert!(
        md.contains("| SGD 0.1 | 512 | 2.000 | 1 | test adapter |"),
        "{md}"
    );
    grid_shades_each_optimizer(&figures.join("2_grid.svg"));
    key_clear_of_the_bars(&figures.join("5_epoch_time.svg"));
}

fn svg_attr(n: &roxmltree::Node, name: &str) -> f64 {
    n.attribute(name).unwrap().parse().unwrap()
}

/// Hue and lightness of "#RRGGBB".
fn hue_lightness(hex: &str) -> (f64, f64) {
    let c: Vec<f64> = (0..3)
        .map(|i| u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap() as f64 / 255.0)
        .collect();
    let (max, min) = (
        c.iter().cloned().fold(0.0, f64::max),
        c.iter().cloned().fold(1.0, f64::min),
    );
    let d = max - min;
    let h = if d == 0.0 {
        0.0
    } else if max == c[0] {
        ((c[1] - c[2]) / d).rem_euclid(6.0)
    } else if max == c[1] {
        (c[2] - c[0]) / d + 2.0
    } else {
        (c[0] - c[1]) / d + 4.0
    };
    (h / 6.0, (max + min) / 2.0)
}

/// The grid figure's 12 lines, in Table 1's order: one hue per optimizer, its learning rates
/// shades of it from dark (0.1) to light (0.005).
fn grid_shades_each_optimizer(svg: &Path) {
    let text = std::fs::read_to_string(svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let strokes: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
        .map(|n| n.attribute("stroke").unwrap())
        .filter(|s| *s != "#000000")
        .collect();
    assert_eq!(strokes.len(), 12, "{strokes:?}");
    let hl: Vec<(f64, f64)> = strokes.iter().map(|s| hue_lightness(s)).collect();
    for (o, rates) in hl.chunks(4).enumerate() {
        for w in rates.windows(2) {
            assert!(
                (w[0].0 - w[1].0).abs() < 0.02,
                "optimizer {o}: one hue: {strokes:?}"
            );
            assert!(
                w[0].1 < w[1].1,
                "optimizer {o}: darker to lighter: {strokes:?}"
            );
        }
    }
    for (a, b) in [(0, 4), (0, 8), (4, 8)] {
        let gap = (hl[a].0 - hl[b].0).abs();
        assert!(
            gap.min(1.0 - gap) > 0.1,
            "optimizers differ in hue: {strokes:?}"
        );
    }
}

/// The epoch-time figure's key lies below its bars: its swatch (the last rectangle of the
/// bars' colour) starts below where every bar ends.
fn key_clear_of_the_bars(svg: &Path) {
    let text = std::fs::read_to_string(svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let background = doc.descendants().find(|n| n.has_tag_name("rect")).unwrap();
    let mut rects: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && *n != background)
        .collect();
    assert!(rects.len() > 1, "bars and a key");
    let key = rects.pop().unwrap();
    for bar in &rects {
        let bottom = svg_attr(bar, "y") + svg_attr(bar, "height");
        assert!(bottom < svg_attr(&key, "y"), "a bar reaches the key");
    }
}

#[test]
fn ctrl_c_stops_a_sweep_and_rerunning_it_finishes_the_set() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let first = out.join(RUNS[0]).join("metrics.jsonl");
    let (mut child, args) = start_sweep(tmp.path(), 30, &first, &["--pack-size", "1"]);
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(status(&out.join(RUNS[0])), "interrupted");
    assert!(
        !out.join(RUNS[1]).exists(),
        "the sweep stopped at the interrupted run"
    );
    run_ok(bin().args(&args).arg("--quiet"));
    for run in RUNS {
        assert_eq!(status(&out.join(run)), "completed", "{run}");
    }
}

/// A run's files with the timings taken out: metrics.jsonl and summary.json without their
/// seconds and the size of the pack the run trained in (which is what differs between a
/// pack's runs and the same runs alone), checkpoint and model as they are.
fn untimed(run: &Path) -> Vec<String> {
    let json = |v: &mut serde_json::Value| {
        if let Some(o) = v.as_object_mut() {
            o.retain(|k, _| {
                !k.contains("seconds") && k != "samples_per_second" && k != "pack_size"
            });
        }
        v.to_string()
    };
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let mut out: Vec<String> = metrics
        .lines()
        .map(|l| json(&mut serde_json::from_str(l).unwrap()))
        .collect();
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    out.push(json(&mut serde_json::from_str(&summary).unwrap()));
    let model = std::fs::read(run.join("model.safetensors")).unwrap();
    out.push(format!("{model:?}"));
    let ck = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&ck).unwrap();
    for name in ["params", "state"] {
        out.push(format!("{:?}", file.tensor(name).unwrap().data()));
    }
    out
}

/// By default a sweep trains its runs as packs; each run's files are those of the same
/// sweep run one at a time (--pack-size 1), timings aside. Here the four runs form one pack,
/// and a pack of at most 3 splits them in two.
#[test]
fn packed_sweep_runs_equal_the_runs_trained_one_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy_data(tmp.path());
    let sweep = |out: &str, extra: &[&str]| {
        let (_, stderr) = run_ok_both(bin().args(sweep_args(&data, &tmp.path().join(out), extra)));
        (tmp.path().join(out), stderr)
    };
    let (alone, _) = sweep("alone", &["--pack-size", "1"]);
    let (packed, log) = sweep("packed", &[]);
    assert!(log.contains("4 runs as one pack"), "{log}");
    let (split, log) = sweep("split", &["--pack-size", "3"]);
    assert!(log.contains("3 runs as one pack"), "{log}");
    for run in RUNS {
        assert_eq!(status(&packed.join(run)), "completed");
        let want = untimed(&alone.join(run));
        assert_eq!(untimed(&packed.join(run)), want, "{run}");
        assert_eq!(untimed(&split.join(run)), want, "{run}");
    }
    // each run records its pack's size and time and its share of it
    for (dir, packs) in [
        (&alone, [1, 1, 1, 1]),
        (&packed, [4; 4]),
        (&split, [3, 3, 3, 1]),
    ] {
        for (run, pack) in RUNS.iter().zip(packs) {
            pack_timings_add_up(&dir.join(run), pack, 500);
        }
    }
}

/// Every epoch of `run` records pack size `pack`, the pack's time, this run's share of it,
/// and the pack's throughput over `images` training images per run; the summary the same.
fn pack_timings_add_up(run: &Path, pack: usize, images: usize) {
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
    let mut pack_times = Vec::new();
    for line in metrics.lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        let f = |k: &str| m[k].as_f64().unwrap_or_else(|| panic!("{k}: {m}"));
        assert_eq!(m["pack_size"], pack, "{}: {m}", run.display());
        let wall = f("pack_epoch_seconds");
        assert!(wall > 0.0, "{m}");
        assert!(close(f("epoch_seconds"), wall / pack as f64), "{m}");
        assert!(
            close(f("samples_per_second"), (pack * images) as f64 / wall),
            "{m}"
        );
        pack_times.push(wall);
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["pack_size"], pack, "{s}");
    let mean = pack_times.iter().sum::<f64>() / pack_times.len() as f64;
    assert!(
        close(s["mean_pack_epoch_seconds"].as_f64().unwrap(), mean),
        "{s}"
    );
    assert!(
        close(
            s["mean_epoch_seconds"].as_f64().unwrap(),
            mean / pack as f64
        ),
        "{s}"
    );
}

/// Off a terminal a pack says one line per epoch on stderr: how many of its runs train on,
/// the best validation accuracy, its time and each run's share; `--quiet` silences it.
#[test]
fn a_pack_says_a_line_per_epoch_and_quiet_silences_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy_data(tmp.path());
    let (_, log) = run_ok_both(bin().args(sweep_args(&data, &tmp.path().join("a"), &[])));
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with("epoch")).collect();
    assert_eq!(lines.len(), 2, "one line per epoch of the pack: {log}");
    for (e, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!(
                "epoch {:>3}/2  4 runs: 4 training; best val acc ",
                e + 1
            )) && line.contains(" s per run)"),
            "{line}"
        );
    }
    let quiet = sweep_args(&data, &tmp.path().join("b"), &["--quiet"]);
    let (_, log) = run_ok_both(bin().args(quiet));
    assert!(
        log.lines().all(|l| l.starts_with("notice:")),
        "--quiet says no progress: {log}"
    );
}

/// On a terminal (here a pseudo-terminal from script(1)) a pack draws its progress bar: the
/// epoch, the steps and the pack's state.
#[test]
fn a_pack_draws_a_progress_bar_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy_data(tmp.path());
    let args = sweep_args(&data, &tmp.path().join("a"), &[]);
    let mut line = String::from(env!("CARGO_BIN_EXE_mlp-gpu"));
    for a in &args {
        line.push_str(&format!(" '{a}'"));
    }
    let o = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .output()
        .expect("script(1) runs (bsdutils)");
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{screen}");
    assert!(
        screen.contains("epoch 1/2 ")
            && screen.contains(" steps [")
            && screen.contains("4 runs: 4 training"),
        "{screen}"
    );
}

/// Stops a packed sweep of the four runs with `signal` once the pack has finished an
/// epoch, checks what `stopped` expects of the runs' folders, reruns it, and holds every
/// run's files to the same runs trained one at a time without a stop, timings aside.
fn stopped_pack_resumes_to_the_runs_alone(signal: i32, stopped: impl Fn(&Path)) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let first = out.join(RUNS[0]).join("metrics.jsonl");
    let (mut child, args) = start_sweep(tmp.path(), 30, &first, &[]);
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    child.wait().unwrap();
    stopped(&out);
    let (_, log) = run_ok_both(bin().args(&args));
    // a kill between members' checkpoints leaves them at different epochs: separate packs
    assert!(log.contains("runs as one pack"), "{log}");
    let alone = tmp.path().join("alone");
    let mut one_at_a_time = args.clone();
    let at = args.iter().position(|a| a == "--out").unwrap();
    one_at_a_time[at + 1] = alone.to_str().unwrap().to_string();
    one_at_a_time.extend(["--pack-size", "1"].map(String::from));
    run_ok(bin().args(&one_at_a_time));
    for run in RUNS {
        assert_eq!(status(&out.join(run)), "completed", "{run}");
        assert_eq!(untimed(&out.join(run)), untimed(&alone.join(run)), "{run}");
    }
}

/// Ctrl-C in the middle of a pack: every member is interrupted at the same step boundary
/// and keeps its checkpoint of the same epoch; the rerun resumes them to their runs' ends.
#[test]
fn ctrl_c_mid_pack_interrupts_every_member_and_the_rerun_equals_the_runs_alone() {
    stopped_pack_resumes_to_the_runs_alone(libc::SIGINT, |out| {
        let epochs = |run: &str| {
            std::fs::read_to_string(out.join(run).join("metrics.jsonl"))
                .unwrap()
                .lines()
                .count()
        };
        for run in RUNS {
            assert_eq!(status(&out.join(run)), "interrupted", "{run}");
            assert_eq!(epochs(run), epochs(RUNS[0]), "{run}: the pack's epochs");
        }
    });
}

/// SIGKILL in the middle of a pack: no member has a summary; the rerun resumes them all
/// from their checkpoints (as separate packs if the kill fell between their checkpoints).
#[test]
fn sigkill_mid_pack_and_the_rerun_equals_the_runs_alone() {
    stopped_pack_resumes_to_the_runs_alone(libc::SIGKILL, |out| {
        for run in RUNS {
            assert!(!out.join(run).join("summary.json").exists(), "{run}");
        }
    });
}

/// `sweep` over `lists` (flag, values) on a 600-image set, then `extra`: (out, stderr).
fn small_sweep(tmp: &Path, out: &str, lists: &[(&str, &str)], extra: &[&str]) -> (PathBuf, String) {
    let data = tmp.join("data");
    if !data.exists() {
        std::fs::create_dir(&data).unwrap();
        write_dataset(&data, 600, 50);
    }
    let out = tmp.join(out);
    let mut cmd = bin();
    cmd.arg("sweep")
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out);
    cmd.args(["--hidden", "32", "--val-size", "100"]);
    for (flag, values) in lists {
        cmd.args([flag, values]);
    }
    let (_, stderr) = run_ok_both(cmd.args(extra));
    (out, stderr)
}

/// A member at a diverging learning rate ends `diverged` where its run alone would, and the
/// other member of its pack is unchanged by it: both equal their runs one at a time.
#[test]
fn a_diverging_member_ends_alone_and_leaves_its_pack_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let lists = [
        ("--optimizer", "sgd"),
        ("--lr", "1e30,0.05"),
        ("--batch-size", "50"),
        ("--epochs", "3"),
    ];
    let (alone, _) = small_sweep(tmp.path(), "alone", &lists, &["--pack-size", "1"]);
    let (packed, log) = small_sweep(tmp.path(), "packed", &lists, &[]);
    assert!(log.contains("2 runs as one pack"), "{log}");
    let wild = format!("sgd_lr{}_b50_p0_pytorch_nobn_s0", 1e30f32);
    let steady = "sgd_lr0.05_b50_p0_pytorch_nobn_s0".to_string();
    assert_eq!(status(&packed.join(&wild)), "diverged");
    assert_eq!(status(&packed.join(&steady)), "completed");
    for run in [wild, steady] {
        let (got, want) = (untimed(&packed.join(&run)), untimed(&alone.join(&run)));
        assert_eq!(got, want, "{run}");
    }
}

/// Two batch sizes by batch norm off and on make four groups, each a pack of its two
/// optimizers.
#[test]
fn runs_pack_by_batch_size_and_batch_norm() {
    let tmp = tempfile::tempdir().unwrap();
    let lists = [("--optimizer", "sgd,adam"), ("--batch-size", "25,50")];
    let extra = ["--batch-norm=false,true", "--epochs", "1"];
    let (_, log) = small_sweep(tmp.path(), "grid", &lists, &extra);
    assert_eq!(log.matches("2 runs as one pack").count(), 4, "{log}");
}
