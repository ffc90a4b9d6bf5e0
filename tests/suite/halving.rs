//! Successive halving (`sweep --halving`): the rung schedule and ranking, a halving sweep's
//! decisions and files against the same runs trained in full, a SIGKILL mid-rung and the
//! rerun, a rerun that changes nothing, a diverged run, and `reproduce --halving`.

use crate::common::cli::*;
use mlp_gpu::halving::{rank, Halving};
use mlp_gpu::rundir::EpochMetrics;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[test]
fn rungs_and_survivors_for_several_schedules() {
    let h = |eta, r| Halving::new(eta, r).unwrap();
    // (ETA, R, epochs) -> rungs before the last epoch
    for (eta, r, epochs, rungs) in [
        (3, 1, 10, vec![1, 3, 9]),
        (3, 1, 9, vec![1, 3]),
        (3, 1, 27, vec![1, 3, 9]),
        (2, 2, 10, vec![2, 4, 8]),
        (3, 4, 10, vec![4]),
        (4, 1, 5, vec![1, 4]),
        (3, 1, 1, vec![]),
        (2, 10, 10, vec![]),
    ] {
        assert_eq!(
            h(eta, r).rungs(epochs),
            rungs,
            "ETA {eta}, R {r}, {epochs} epochs"
        );
    }
    // ceil(n / ETA), and one where there are fewer runs than ETA
    for (n, eta, survivors) in [
        (12, 3, 4),
        (4, 3, 2),
        (2, 3, 1),
        (1, 3, 1),
        (7, 2, 4),
        (9, 3, 3),
    ] {
        assert_eq!(h(eta, 1).survivors(n), survivors, "{n} runs, ETA {eta}");
    }
    for (eta, r) in [(1, 1), (0, 1), (3, 0)] {
        assert!(Halving::new(eta, r).is_err(), "ETA {eta}, R {r}");
    }
}

fn epoch(acc: f64, loss: f64) -> EpochMetrics {
    EpochMetrics {
        epoch: 1,
        train_loss: 1.0,
        val_loss: loss,
        val_accuracy: acc,
        epoch_seconds: 1.0,
        eval_seconds: 0.1,
        samples_per_second: 1.0,
        pack_size: 1,
        pack_epoch_seconds: Some(1.0),
    }
}

/// Ties in validation accuracy go to the lower validation loss, then to the run's name.
#[test]
fn ties_break_by_validation_loss_then_by_name() {
    let (a, b, c, d) = (
        epoch(0.8, 0.5),
        epoch(0.8, 0.4),
        epoch(0.9, 0.9),
        epoch(0.8, 0.4),
    );
    let runs = vec![
        ("a".to_string(), &a),
        ("d".to_string(), &d),
        ("b".to_string(), &b),
        ("c".to_string(), &c),
    ];
    let order: Vec<String> = rank(&runs).into_iter().map(|r| r.run).collect();
    assert_eq!(order, ["c", "b", "d", "a"]);
}

/// 1,500 toy images in `tmp`/data.
fn toy(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    write_dataset(&data, 1500, 100);
    data
}

/// `sweep` of four runs (SGD and Adam at two rates) of `epochs` into `out`, with `extra`.
fn sweep_args(data: &Path, out: &Path, epochs: usize, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "sweep",
        "--optimizer",
        "sgd,adam",
        "--lr",
        "0.05,0.005",
        "--hidden",
        "32",
        "--val-size",
        "200",
        "--batch-size",
        "100",
        "--quiet",
    ]
    .map(String::from)
    .to_vec();
    a.extend(["--data".into(), data.display().to_string()]);
    a.extend(["--out".into(), out.display().to_string()]);
    a.extend(["--epochs".into(), epochs.to_string()]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every run's status and epochs run, by folder name.
fn statuses(out: &Path) -> BTreeMap<String, (String, u64)> {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("summary.json").exists())
        .map(|p| {
            let s = json(&p.join("summary.json"));
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let status = s["status"].as_str().unwrap().to_string();
            (name, (status, s["epochs_run"].as_u64().unwrap()))
        })
        .collect()
}

/// metrics.jsonl without its timings.
fn untimed_metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut m: Value = serde_json::from_str(l).unwrap();
            m.as_object_mut().unwrap().retain(|k, _| {
                !k.contains("seconds") && k != "samples_per_second" && k != "pack_size"
            });
            m
        })
        .collect()
}

/// Everything a run's folder holds but timings and its lock: metrics, summary, model and
/// checkpoint bytes.
fn untimed_files(run: &Path) -> Vec<String> {
    let mut out: Vec<String> = untimed_metrics(run).iter().map(Value::to_string).collect();
    let mut s = json(&run.join("summary.json"));
    s.as_object_mut()
        .unwrap()
        .retain(|k, _| !k.contains("seconds") && k != "pack_size");
    out.push(s.to_string());
    out.push(format!(
        "{:?}",
        std::fs::read(run.join("model.safetensors")).unwrap()
    ));
    let ck = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&ck).unwrap();
    for name in ["params", "state"] {
        out.push(format!("{:?}", file.tensor(name).unwrap().data()));
    }
    out
}

/// A halving sweep (ETA 2: rungs at epochs 1 and 2 of 4) ranks by validation accuracy as
/// recorded, stops the losers at their rungs with a model eval reads, trains the winner (in
/// packs that shrink at each rung) as the same run trained alone, byte for byte, and
/// reports the stops; a rerun changes nothing.
#[test]
fn a_halving_sweep_stops_losers_at_their_rungs_and_its_winner_equals_the_full_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy(tmp.path());
    let (full, halved) = (tmp.path().join("full"), tmp.path().join("halved"));
    run_ok(bin().args(sweep_args(&data, &full, 4, &["--pack-size", "1"])));
    run_ok(bin().args(sweep_args(&data, &halved, 4, &["--halving", "2"])));
    let got = statuses(&halved);
    let count = |status: &str, epochs: u64| {
        got.values()
            .filter(|v| **v == (status.to_string(), epochs))
            .count()
    };
    assert_eq!(
        (
            count("stopped", 1),
            count("stopped", 2),
            count("completed", 4)
        ),
        (2, 1, 1),
        "{got:?}"
    );
    let record = json(&halved.join("halving.json"));
    assert_eq!(
        (record["eta"].as_u64(), record["epochs"].as_u64()),
        (Some(2), Some(4))
    );
    for (rung, d) in record["rungs"].as_array().unwrap().iter().enumerate() {
        let e = d["epoch"].as_u64().unwrap() as usize;
        assert_eq!(e, rung + 1);
        // the ranking is the runs' validation accuracy at the rung, best first
        let accs: Vec<f64> = d["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let run = halved.join(r["run"].as_str().unwrap());
                let m = &untimed_metrics(&run)[e - 1];
                assert_eq!(m["val_accuracy"], r["val_accuracy"]);
                r["val_accuracy"].as_f64().unwrap()
            })
            .collect();
        assert!(accs.windows(2).all(|w| w[0] >= w[1]), "{d}");
        for run in d["stopped"].as_array().unwrap() {
            assert_eq!(got[run.as_str().unwrap()], ("stopped".into(), e as u64));
        }
    }
    for (run, (status, epochs)) in &got {
        let (h, f) = (halved.join(run), full.join(run));
        if status == "completed" {
            assert_eq!(
                untimed_files(&h),
                untimed_files(&f),
                "{run}: the winner is the run trained alone"
            );
        } else {
            // a stopped run's epochs are the full run's first ones
            let n = *epochs as usize;
            assert_eq!(untimed_metrics(&h)[..], untimed_metrics(&f)[..n], "{run}");
            let s = json(&h.join("summary.json"));
            let e = run_ok(bin().args(["eval", "--json", "--model"]).arg(&h));
            let e: Value = serde_json::from_str(&e).unwrap();
            assert_eq!(
                e["test_accuracy"], s["test_accuracy"],
                "{run}: eval reads it"
            );
        }
    }
    run_ok(bin().arg("report").arg(&halved));
    let md = std::fs::read_to_string(halved.join("report.md")).unwrap();
    assert!(
        md.contains("stopped at epoch") && md.contains("figures/halving.svg"),
        "{md}"
    );
    assert!(
        md.contains("| 1 |") && md.contains("| 2 |"),
        "the stops named: {md}"
    );
    std::fs::remove_file(halved.join("report.md")).unwrap();
    std::fs::remove_dir_all(halved.join("figures")).unwrap();
    std::fs::remove_file(halved.join("results.csv")).unwrap();
    let before = snapshot(&halved);
    run_ok(bin().args(sweep_args(&data, &halved, 4, &["--halving", "2"])));
    assert!(
        before == snapshot(&halved),
        "a rerun of a finished halving sweep changes nothing"
    );
}

/// SIGKILL in the middle of a rung (rungs at 1, 2, 4 and 8 of 12 epochs: rung 2 decided,
/// its survivor stalled at the start of epoch 4 by MLP_GPU_FAULT, so the kill lands there
/// however fast the adapter), then the same command: the same decisions and the same files
/// as a halving sweep never stopped.
#[test]
fn sigkill_mid_rung_and_the_rerun_equal_an_uninterrupted_halving_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy(tmp.path());
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    let extra = ["--halving", "2"];
    run_ok(bin().args(sweep_args(&data, &whole, 12, &extra)));
    let mut child = bin()
        .args(sweep_args(&data, &killed, 12, &extra))
        .env("MLP_GPU_FAULT", "stall@4")
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let record = killed.join("halving.json");
    wait_for(&mut child, "the rung at epoch 2", || {
        record.exists() && json(&record)["rungs"].as_array().unwrap().len() == 2
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        statuses(&killed).values().all(|s| s.0 != "completed"),
        "the kill came before the last rung: {:?}",
        statuses(&killed)
    );
    run_ok(bin().args(sweep_args(&data, &killed, 12, &extra)));
    assert_eq!(
        json(&killed.join("halving.json")),
        json(&whole.join("halving.json"))
    );
    assert_eq!(statuses(&killed), statuses(&whole));
    for run in statuses(&whole).keys() {
        let (k, w) = (killed.join(run), whole.join(run));
        assert_eq!(untimed_files(&k), untimed_files(&w), "{run}");
    }
}

/// A run that diverges is out at once: it ends `diverged`, is ranked at no rung, and the
/// rest of the sweep halves without it.
#[test]
fn a_diverged_run_is_out_of_the_halving_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy(tmp.path());
    let out = tmp.path().join("s");
    let mut args = sweep_args(&data, &out, 4, &["--halving", "2"]);
    let at = args.iter().position(|a| a == "0.05,0.005").unwrap();
    args[at] = "1e30,0.05,0.005".into();
    run_ok(bin().args(&args));
    let got = statuses(&out);
    let diverged: Vec<&String> = got
        .iter()
        .filter(|(_, v)| v.0 == "diverged")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(diverged.len(), 2, "SGD and Adam at 1e30: {got:?}");
    let record = json(&out.join("halving.json"));
    let first = &record["rungs"][0];
    assert_eq!(first["ranking"].as_array().unwrap().len(), 4, "{first}");
    for d in &diverged {
        assert!(
            !first.to_string().contains(d.as_str()),
            "{d} ranked: {first}"
        );
    }
}

/// With --shard I/N each shard halves its own runs, recorded in halving-I-of-N.json: two
/// shards of four runs keep one run each to the end.
#[test]
fn each_shard_halves_its_own_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy(tmp.path());
    let out = tmp.path().join("s");
    for shard in ["1/2", "2/2"] {
        run_ok(bin().args(sweep_args(
            &data,
            &out,
            4,
            &["--halving", "2", "--shard", shard],
        )));
    }
    assert!(!out.join("halving.json").exists());
    let mut all = Vec::new();
    for i in 1..=2 {
        let record = json(&out.join(format!("halving-{i}-of-2.json")));
        let runs: Vec<String> = record["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        assert_eq!(runs.len(), 2, "{record}");
        let got = statuses(&out);
        let ends: Vec<&(String, u64)> = runs.iter().map(|r| &got[r]).collect();
        assert!(
            ends.contains(&&("completed".to_string(), 4))
                && ends.contains(&&("stopped".to_string(), 1)),
            "shard {i}: {ends:?}"
        );
        all.extend(runs);
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "the shards partition the sweep: {all:?}");
}

/// A rerun into a halving sweep's folder must halve the same sweep: another schedule or
/// another grid is refused with a line naming halving.json, and the record is kept.
#[test]
fn a_rerun_with_another_schedule_or_grid_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy(tmp.path());
    let out = tmp.path().join("s");
    run_ok(bin().args(sweep_args(&data, &out, 2, &["--halving", "2"])));
    let record = std::fs::read(out.join("halving.json")).unwrap();
    let mut other_grid = sweep_args(&data, &out, 2, &["--halving", "2"]);
    let at = other_grid.iter().position(|a| a == "0.05,0.005").unwrap();
    other_grid[at] = "0.05,0.005,0.001".into();
    for (args, says) in [
        (
            sweep_args(&data, &out, 2, &["--halving", "3"]),
            "--halving 2",
        ),
        (other_grid, "another set of runs"),
    ] {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = run_err(&refs);
        assert!(err.contains("halving.json") && err.contains(says), "{err}");
        assert_eq!(std::fs::read(out.join("halving.json")).unwrap(), record);
    }
}

/// --halving 1 and 0, and --first-rung 0, are refused before any work.
#[test]
fn halving_below_two_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = toy(tmp.path());
    let out = tmp.path().join("never");
    for extra in [
        ["--halving", "1"],
        ["--halving", "0"],
        ["--first-rung", "0"],
    ] {
        let mut args = sweep_args(&data, &out, 4, &extra);
        if extra[0] == "--first-rung" {
            args.extend(["--halving".into(), "2".into()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = run_err(&refs);
        assert!(err.contains(extra[0]), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?}: nothing written");
    }
}

/// `reproduce --halving 3` halves the optimizer x learning-rate grid (on a Fashion-MNIST
/// subset), the later stages train in full, and the report names the rungs.
#[test]
fn reproduce_halves_the_grid_and_reports_the_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("study");
    let args = [
        "reproduce",
        "--epochs",
        "3",
        "--subset",
        "1000",
        "--eval-subset",
        "300",
        "--batch-size",
        "100",
        "--halving",
        "3",
        "--quiet",
        "--out",
    ];
    run_ok(bin().args(args).arg(&out));
    let got = statuses(&out);
    let count = |status: &str| got.values().filter(|v| v.0 == status).count();
    // the grid's 12 runs but those diverged are ranked at epoch 1; a third of them go on
    let ranked = 12 - count("diverged");
    assert_eq!(count("stopped"), ranked - ranked.div_ceil(3), "{got:?}");
    assert_eq!(got.len(), 12 + 4 + 2, "{got:?}");
    let later = got
        .iter()
        .filter(|(k, _)| k.contains("_p0.") || k.contains("kaiming"));
    for (run, (status, epochs)) in later {
        assert_eq!((status.as_str(), *epochs), ("completed", 3), "{run}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("Table 1") && md.contains("stopped at epoch"),
        "{md}"
    );
}
