//! Faults: Ctrl-C, SIGTERM and --resume, device loss and out-of-memory (injected through
//! MLP_GPU_FAULT), a full disk, an --out that cannot be a directory, sizes no device holds,
//! and two processes that want one run folder.

use crate::common::cli::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStderr, Stdio};

fn args(data: &Path, out: &Path, epochs: usize) -> Vec<String> {
    let epochs = epochs.to_string();
    let rest = [
        "--hidden",
        "32",
        "--optimizer",
        "adam",
        "--lr",
        "0.005",
        "--dropout",
        "0.2",
        "--batch-norm",
        "--val-size",
        "100",
        "--batch-size",
        "50",
        "--epochs",
        &epochs,
    ];
    command_args("train", data, out, &rest)
}

fn dataset(tmp: &Path) -> std::path::PathBuf {
    let data = tmp.join("data");
    write_dataset(&data, 1500, 100);
    data
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// metrics.jsonl without the timings, which differ from run to run.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut m: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = m.as_object_mut().unwrap();
            let timings = [
                "epoch_seconds",
                "eval_seconds",
                "samples_per_second",
                "pack_epoch_seconds",
            ];
            for timing in timings {
                o.remove(timing);
            }
            m
        })
        .collect()
}

/// The uninterrupted run the others must end up identical to.
fn reference(tmp: &Path, data: &Path, epochs: usize) -> std::path::PathBuf {
    let dir = tmp.join("reference");
    run_ok(bin().args(args(data, &dir, epochs)).arg("--quiet"));
    dir
}

fn assert_same_run(a: &Path, b: &Path) {
    assert_eq!(metrics(a), metrics(b));
    assert_eq!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(b.join("model.safetensors")).unwrap(),
        "bit-identical model"
    );
    let (sa, sb) = (json(&a.join("summary.json")), json(&b.join("summary.json")));
    assert_eq!(sa["test_accuracy"], sb["test_accuracy"]);
    assert_eq!(sb["status"], "completed");
}

#[test]
fn ctrl_c_stops_at_a_step_boundary_and_resume_finishes_bit_identically() {
    stop_then_resume(libc::SIGINT);
}

/// SIGTERM (Slurm at its time limit, Kubernetes on eviction, `timeout`) and SIGHUP (a
/// closed terminal) stop a run as Ctrl-C does, with exit status 128 + the signal.
#[test]
fn sigterm_and_sighup_stop_like_ctrl_c_and_resume_finishes_bit_identically() {
    stop_then_resume(libc::SIGTERM);
    stop_then_resume(libc::SIGHUP);
}

/// `signal` after the first epoch: a clean stop (exit 128 + signal, summary `interrupted`,
/// the checkpoint kept, one line saying how to go on), then `--resume` equals a run never
/// stopped.
fn stop_then_resume(signal: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let epochs = 12;
    let whole = reference(tmp.path(), &data, epochs);
    let dir = tmp.path().join("interrupted");
    let (mut child, mut stderr, seen) = train_past_first_epoch(&args(&data, &dir, epochs));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + signal), "{seen}{rest}");
    assert_failed_for_its_own_reason(&rest);
    assert!(rest.contains("--resume"), "it says how to go on: {rest}");
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["status"], "interrupted");
    let done = summary["epochs_run"].as_u64().unwrap() as usize;
    assert!((1..epochs).contains(&done), "{summary}");
    assert!(dir.join("checkpoint.safetensors").exists());
    assert!(
        !dir.join("model.safetensors").exists(),
        "no final model yet"
    );
    assert_eq!(metrics(&dir).len(), done);

    let out = run_ok(bin().args(["train", "--resume", dir.to_str().unwrap(), "--json"]));
    let resumed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(resumed["epochs_run"].as_u64().unwrap() as usize, epochs);
    assert_same_run(&whole, &dir);
}

/// Starts `train` with arguments `a` and returns once it has finished its first epoch, with
/// its stderr and what it has said so far.
fn train_past_first_epoch(a: &[String]) -> (Child, BufReader<ChildStderr>, String) {
    let mut child = bin()
        .args(a)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "ended early: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("epoch   1") {
            break;
        }
    }
    (child, stderr, seen)
}

/// While a run trains, a second process that wants its folder (`train --resume`) fails at
/// once, naming the folder and the holder's pid; `train --out` onto it is refused too. Once
/// the holder is killed (SIGKILL: no clean-up at all) nothing blocks, and `--resume`
/// finishes the run as if it had never stopped.
#[test]
fn a_run_folder_in_use_refuses_a_second_process_until_its_holder_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let epochs = 12;
    let whole = reference(tmp.path(), &data, epochs);
    let dir = tmp.path().join("held");
    let (mut holder, _stderr, _) = train_past_first_epoch(&args(&data, &dir, epochs));
    let resume = ["train", "--resume", dir.to_str().unwrap()];
    let stderr = run_err(&resume);
    let holds = format!(
        "{}: in use by another mlp-gpu process (pid {})",
        dir.display(),
        holder.id()
    );
    assert!(stderr.contains(&holds), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{stderr}"
    );
    let again = args(&data, &dir, epochs);
    let stderr = run_err(&again.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(stderr.contains("already holds a run"), "{stderr}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    run_ok(bin().args(resume).arg("--quiet"));
    assert_same_run(&whole, &dir);
}

/// Two `train --out DIR` started at once (one job submitted twice): exactly one trains, the
/// other fails naming the folder, and the folder holds the survivor's run, equal to that run
/// made alone.
#[test]
fn two_trains_into_one_folder_at_once_one_trains_and_the_other_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let (epochs, dir) = (4, tmp.path().join("contested"));
    let with_seed = |out: &Path, seed: &str| {
        let mut a = args(&data, out, epochs);
        a.extend(["--seed".into(), seed.into(), "--quiet".into()]);
        a
    };
    let spawn = |seed: &str| {
        bin()
            .args(with_seed(&dir, seed))
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let children = [("1", spawn("1")), ("2", spawn("2"))];
    let mut survivors = Vec::new();
    for (seed, child) in children {
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).to_string();
        assert_failed_for_its_own_reason(&stderr);
        if o.status.success() {
            survivors.push(seed);
        } else {
            assert!(stderr.contains(&dir.display().to_string()), "{stderr}");
            assert_eq!(
                stderr.lines().filter(|l| l.starts_with("error")).count(),
                1,
                "{stderr}"
            );
        }
    }
    assert_eq!(survivors.len(), 1, "exactly one trains: {survivors:?}");
    let seed = survivors[0];
    assert_eq!(json(&dir.join("config.json"))["seed"].to_string(), seed);
    let alone = tmp.path().join("alone");
    run_ok(bin().args(with_seed(&alone, seed)));
    assert_same_run(&alone, &dir);
}

/// A `run.lock` that is a symbolic or hard link to a file outside the folder is refused
/// with one line naming it, and the file it points at is left as it was; a link left where
/// a result file's temporary copy goes is replaced, never written through.
#[test]
fn links_in_a_run_folder_are_never_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let victim = tmp.path().join("victim.txt");
    let precious = "the user's own words\n";
    let make_link = |dir: &Path, name: &str, hard: bool| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(&victim, precious).unwrap();
        if hard {
            std::fs::hard_link(&victim, dir.join(name)).unwrap();
        } else {
            std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
        }
    };
    for hard in [false, true] {
        let dir = tmp.path().join(format!("lock-hard-{hard}"));
        make_link(&dir, "run.lock", hard);
        let a = args(&data, &dir, 1);
        let stderr = run_err(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(
            errors[0].contains(&dir.join("run.lock").display().to_string())
                && errors[0].contains("not a regular file"),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), precious);
    }
    for hard in [false, true] {
        let dir = tmp.path().join(format!("tmp-hard-{hard}"));
        make_link(&dir, "config.json.tmp", hard);
        run_ok(bin().args(args(&data, &dir, 1)).arg("--quiet"));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), precious);
        assert!(json(&dir.join("config.json")).get("seed").is_some());
        assert!(!dir.join("config.json.tmp").exists());
    }
}

/// Runs `train` with a fault injected; returns stderr after checking it failed cleanly.
fn faulty(fault: &str, a: &[String]) -> String {
    let o = bin().env("MLP_GPU_FAULT", fault).args(a).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "{fault}: should fail");
    assert_failed_for_its_own_reason(&stderr);
    stderr
}

#[test]
fn device_loss_and_out_of_memory_keep_finished_epochs_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let epochs = 3;
    let whole = reference(tmp.path(), &data, epochs);
    for (fault, says) in [
        ("device-lost@2", "GPU device was lost"),
        ("oom@2", "out of memory"),
    ] {
        let dir = tmp.path().join(fault);
        let mut a = args(&data, &dir, epochs);
        a.push("--quiet".into());
        let stderr = faulty(fault, &a);
        let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(error.len(), 1, "{fault}: {stderr}");
        assert!(error[0].contains(says), "{fault}: {stderr}");
        assert!(
            error[0].contains("1 finished epochs") && error[0].contains("--resume"),
            "{stderr}"
        );
        let summary = json(&dir.join("summary.json"));
        assert_eq!(summary["status"], "failed", "{fault}");
        assert!(summary["error"].as_str().unwrap().contains(says));
        assert_eq!(metrics(&dir).len(), 1, "{fault}: epoch 1 is kept");
        run_ok(bin().args(["train", "--quiet", "--resume", dir.to_str().unwrap()]));
        assert_same_run(&whole, &dir);
    }
}

#[test]
fn unwritable_output_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    // --out under a regular file
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let a = args(&data, &file.join("run"), 1);
    let stderr = run_err(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        stderr.contains("--out") && stderr.contains("a-file/run"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    // every result file written to /dev/full
    let dir = tmp.path().join("full");
    let stderr = faulty("disk-full@0", &args(&data, &dir, 1));
    assert!(
        stderr.contains("config.json") && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert!(!dir.join("config.json").exists(), "no half-written file");
    // results to a full stdout
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut a = args(&data, &tmp.path().join("stdout"), 1);
    a.extend(["--json".into(), "--quiet".into()]);
    let o = bin().args(&a).stdout(full).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert_failed_for_its_own_reason(&stderr);
    assert!(
        stderr.contains("cannot write the results to stdout"),
        "{stderr}"
    );
}

#[test]
fn sizes_no_device_holds_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    // (hidden, batch, what the message names): a layer too wide for any device, weights
    // over the binding limit, and one batch of activations over it (1,400 x 24,800 floats).
    for (hidden, batch, says) in [
        ("2000000000", "50", "--hidden 2000000000"),
        ("20000,20000", "50", "the parameters needs"),
        ("12000", "1400", "the activations of one batch needs"),
    ] {
        let out = tmp.path().join("never");
        let mut a = args(&data, &out, 1);
        for (flag, value) in [("--hidden", hidden), ("--batch-size", batch)] {
            let at = a.iter().position(|x| x == flag).unwrap();
            a[at + 1] = value.into();
        }
        let stderr = run_err(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            stderr.contains(says) && stderr.contains("--hidden"),
            "{stderr}"
        );
        assert!(!out.exists(), "nothing was started");
    }
}

/// Kernels compiled with every access clamped into range (MLP_GPU_FAULT=clamp-bounds@0:
/// what wgpu does on Metal, through SPIR-V passthrough on Vulkan) train the same run bit for
/// bit: no kernel of a training step or an evaluation reads or writes outside its buffers.
#[test]
fn kernels_with_clamped_accesses_train_the_same_run_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let whole = reference(tmp.path(), &data, 2);
    let dir = tmp.path().join("clamped");
    let mut a = args(&data, &dir, 2);
    a.push("--quiet".into());
    run_ok(bin().env("MLP_GPU_FAULT", "clamp-bounds@0").args(&a));
    assert_same_run(&whole, &dir);
}
