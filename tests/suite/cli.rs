//! End to end through the binary, on small IDX files made inside each test.

use crate::common::cli::*;
use std::path::Path;

#[test]
fn train_writes_files_eval_reproduces_and_config_reruns_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_dataset(&data, 1000, 300);
    let run1 = tmp.path().join("run1");
    let mut args = train_args(&data, &run1);
    args.extend(
        [
            "--optimizer",
            "adam",
            "--lr",
            "0.005",
            "--batch-norm",
            "--dropout",
            "0.2",
            "--json",
        ]
        .map(String::from),
    );
    let stdout = run_ok(bin().args(&args));
    let summary: serde_json::Value =
        serde_json::from_str(&stdout).expect("--json prints only JSON");

    for key in [
        "status",
        "test_accuracy",
        "test_loss",
        "val_accuracy",
        "best_val_accuracy",
        "best_epoch",
        "epochs_run",
        "mean_epoch_seconds",
        "adapter",
    ] {
        assert!(summary.get(key).is_some(), "summary.json has {key}");
    }
    assert_eq!(summary["status"], "completed");
    assert!(
        summary["test_accuracy"].as_f64().unwrap() > 0.5,
        "the toy data is learnable: {summary}"
    );
    let metrics = std::fs::read_to_string(run1.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    for line in metrics.lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in [
            "epoch",
            "train_loss",
            "val_loss",
            "val_accuracy",
            "epoch_seconds",
            "eval_seconds",
            "samples_per_second",
        ] {
            assert!(m.get(key).is_some(), "metrics has {key}");
        }
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run1.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["optimizer"], "adam");
    assert!(config.get("adapter").is_some() && config.get("version").is_some());

    // model.safetensors: PyTorch nn.Sequential names and shapes
    // (0 Linear, 1 BatchNorm1d, 2 ReLU, 3 Dropout, 4 Linear, ...)
    let bytes = std::fs::read(run1.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<(String, Vec<usize>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect();
    names.sort();
    let mut want: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, (inp, out)) in [(0, (784, 200)), (4, (200, 200)), (8, (200, 200))] {
        want.push((format!("{i}.weight"), vec![out, inp]));
        want.push((format!("{i}.bias"), vec![out]));
        let b = i + 1;
        for s in ["weight", "bias", "running_mean", "running_var"] {
            want.push((format!("{b}.{s}"), vec![out]));
        }
        want.push((format!("{b}.num_batches_tracked"), vec![]));
    }
    want.push(("12.weight".into(), vec![10, 200]));
    want.push(("12.bias".into(), vec![10]));
    want.sort();
    assert_eq!(names, want);
    assert_eq!(
        st.tensor("1.num_batches_tracked").unwrap().dtype(),
        safetensors::Dtype::I64
    );

    // eval --json reproduces the saved test accuracy
    let e = run_ok(bin().args([
        "eval",
        "--model",
        run1.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ]));
    let e: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e["test_accuracy"], summary["test_accuracy"]);
    assert_eq!(e["per_class"].as_array().unwrap().len(), 10);

    // a corrupt or mismatched model file is one clear line, not a panic
    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::copy(run1.join("config.json"), broken.join("config.json")).unwrap();
    let eval_broken = |what: &str, expect: &str| {
        let stderr = run_err(&[
            "eval",
            "--model",
            broken.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ]);
        assert!(
            stderr.contains("model.safetensors") && stderr.contains(expect),
            "{what}: {stderr}"
        );
    };
    eval_broken("missing", "cannot read");
    std::fs::write(broken.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    eval_broken("truncated", "not a valid safetensors file");
    std::fs::write(
        broken.join("model.safetensors"),
        b"definitely not safetensors",
    )
    .unwrap();
    eval_broken("not safetensors", "not a valid safetensors file");
    let mut other = config.clone();
    other["hidden"] = serde_json::json!([100, 200, 200]);
    std::fs::write(broken.join("config.json"), other.to_string()).unwrap();
    std::fs::write(broken.join("model.safetensors"), &bytes).unwrap();
    eval_broken("another network", "shape");

    // --config reruns the same settings, to the last bit
    let run2 = tmp.path().join("run2");
    let cfg = run1.join("config.json");
    run_ok(bin().args([
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--out",
        run2.to_str().unwrap(),
        "--quiet",
    ]));
    let strip = |p: &Path| -> Vec<(f64, f64, f64)> {
        std::fs::read_to_string(p.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let m: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    m["train_loss"].as_f64().unwrap(),
                    m["val_loss"].as_f64().unwrap(),
                    m["val_accuracy"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        strip(&run1),
        strip(&run2),
        "same seed, adapter and flags give identical metrics"
    );
    assert_eq!(
        std::fs::read(run2.join("model.safetensors")).unwrap(),
        bytes
    );
}

#[test]
fn malformed_data_files_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    write_dataset(&good, 100, 20);
    let images = "train-images-idx3-ubyte.gz";
    let labels = "train-labels-idx1-ubyte.gz";
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("empty", images, vec![], "too short"),
        (
            "not gzip, bad magic",
            images,
            b"hello world, not an idx file".to_vec(),
            "magic",
        ),
        (
            "truncated gzip",
            images,
            gz(&idx(0x803, &[100, 28, 28], &vec![0; 78400]))[..100].to_vec(),
            "gzip",
        ),
        (
            "wrong magic",
            images,
            gz(&idx(0x801, &[100, 28, 28], &vec![0; 78400])),
            "magic",
        ),
        (
            "wrong size",
            images,
            gz(&idx(0x803, &[100, 32, 32], &vec![0; 102400])),
            "28x28",
        ),
        (
            "claims more images",
            images,
            gz(&idx(0x803, &[200, 28, 28], &vec![0; 78400])),
            "header says 200",
        ),
        (
            "count mismatch",
            labels,
            gz(&idx(0x801, &[99], &[1; 99])),
            "99 labels for 100",
        ),
        (
            "one class",
            labels,
            gz(&idx(0x801, &[100], &[12; 100])),
            "every label is 12: a classifier needs at least two classes",
        ),
        (
            "bad crc",
            labels,
            bad_crc(&idx(0x801, &[100], &[1; 100])),
            "gzip",
        ),
        (
            "claims 4 billion images",
            images,
            gz(&idx(0x803, &[4_000_000_000, 28, 28], &[0; 784])),
            "more than the 1024 MiB",
        ),
        (
            "dimensions overflow",
            images,
            gz(&idx(0x803, &[u32::MAX; 3], &[0; 16])),
            "more than the 1024 MiB",
        ),
    ];
    for (what, file, bytes, expect) in cases {
        let dir = tmp.path().join(what.replace(' ', "_"));
        std::fs::create_dir(&dir).unwrap();
        for f in std::fs::read_dir(&good).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
        }
        std::fs::write(dir.join(file), bytes).unwrap();
        let stderr = run_err(&[
            "train",
            "--data",
            dir.to_str().unwrap(),
            "--val-size",
            "10",
            "--out",
            tmp.path().join("o").to_str().unwrap(),
        ]);
        assert!(
            stderr.contains(file) && stderr.contains(expect),
            "{what}: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{what}: one line: {stderr}"
        );
    }
    for missing in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let dir = tmp.path().join(format!("without-{missing}"));
        std::fs::create_dir(&dir).unwrap();
        for f in std::fs::read_dir(&good).unwrap() {
            let f = f.unwrap();
            if !f.file_name().to_string_lossy().starts_with(missing) {
                std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
            }
        }
        let stderr = run_err(&["train", "--data", dir.to_str().unwrap(), "--val-size", "10"]);
        assert!(
            stderr.contains(missing) && stderr.contains("No such file"),
            "{missing}: {stderr}"
        );
    }
    let stderr = run_err(&[
        "train",
        "--data",
        tmp.path().join("missing").to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("train-images-idx3-ubyte")
            && stderr.contains("apt-get install dataset-fashion-mnist"),
        "{stderr}"
    );
}

/// A gzip file whose CRC does not match its contents.
fn bad_crc(bytes: &[u8]) -> Vec<u8> {
    let mut g = gz(bytes);
    let crc = g.len() - 8;
    g[crc] ^= 0xff;
    g
}

#[test]
fn bad_flags_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write_dataset(tmp.path(), 300, 20);
    let data = tmp.path().to_str().unwrap();
    let out = tmp.path().join("never");
    let out_s = out.to_str().unwrap();
    for (args, expect) in [
        (vec!["train", "--lr", "nan"], "--lr"),
        (vec!["train", "--lr=-1"], "--lr"),
        (vec!["train", "--lr", "inf"], "--lr"),
        (vec!["train", "--lr", "0"], "--lr"),
        (vec!["train", "--dropout", "1"], "--dropout"),
        (vec!["train", "--dropout=-0.1"], "--dropout"),
        (vec!["train", "--batch-size", "0"], "--batch-size"),
        (vec!["train", "--batch-size=-5"], "--batch-size"),
        (vec!["train", "--epochs", "0"], "--epochs"),
        (vec!["train", "--hidden", "0"], "--hidden"),
        (vec!["train", "--hidden=-3"], "--hidden"),
        (vec!["train", "--optimizer", "lbfgs"], "lbfgs"),
        (vec!["train", "--init", "xavier"], "xavier"),
        (vec!["train", "--batch-norm=maybe"], "--batch-norm"),
        (vec!["train", "--lr", "0.1,0.2"], "mlp-gpu sweep"),
        (
            vec!["sweep", "--out", out_s, "--pack-size", "0"],
            "--pack-size",
        ),
        (
            vec!["reproduce", "--out", out_s, "--pack-size", "0"],
            "--pack-size",
        ),
        (
            vec!["train", "--data", data, "--val-size", "300"],
            "--val-size 300 leaves no training data",
        ),
        (
            vec![
                "train",
                "--data",
                data,
                "--val-size",
                "100",
                "--subset",
                "201",
            ],
            "--subset 201 is larger",
        ),
        (vec!["sweep", "--out", "x", "--shard", "3/2"], "--shard"),
        (vec!["sweep", "--out", "x", "--shard", "0/2"], "--shard"),
        (vec!["sweep", "--out", "x", "--shard", "half"], "--shard"),
        (vec!["sweep", "--out", "x", "--lr", "0.1,nan"], "--lr"),
        (vec!["report", "/nonexistent-dir"], "/nonexistent-dir"),
        (vec!["train", "--resume", "x", "--lr", "0.1"], "--resume"),
        (
            vec![
                "sweep",
                "--data",
                data,
                "--out",
                out_s,
                "--val-size",
                "100",
                "--hidden",
                "20000,20000",
                "--lr",
                "0.1,0.01",
                "--batch-size",
                "50",
            ],
            "max_storage_buffer_binding_size",
        ),
    ] {
        let mut a = args.clone();
        if a[0] == "train" {
            a.extend(["--out", out.to_str().unwrap()]);
        }
        let stderr = run_err(&a);
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        let error_lines = stderr.lines().filter(|l| l.starts_with("error")).count();
        assert_eq!(error_lines, 1, "{args:?}: one error line: {stderr}");
        assert!(!out.exists(), "{args:?} left files behind");
    }
}

/// `bench --json --epochs 1` on the dataset in `data` with `args`: its two cases (plain, and
/// batch norm with dropout).
/// bench's cases: plain, and batch norm with dropout, per pack size (`packs` of them).
fn bench_json(data: &std::path::Path, args: &[&str], packs: usize) -> Vec<serde_json::Value> {
    let mut cmd = bin();
    cmd.args(["bench", "--json", "--epochs", "1", "--data"])
        .arg(data)
        .args(args);
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&run_ok(&mut cmd)).expect("--json prints only JSON");
    assert_eq!(
        cases.len(),
        2 * packs,
        "plain, and batch norm with dropout, per pack size"
    );
    cases
}

#[test]
fn bench_json_emits_the_documented_keys() {
    let tmp = tempfile::tempdir().unwrap();
    // bench holds out the usual 10,000 validation images, so the set needs more than that
    write_dataset(tmp.path(), 12_100, 10);
    let cases = bench_json(tmp.path(), &["--subset", "2048", "--batch-size", "512"], 1);
    for c in &cases {
        for key in [
            "adapter",
            "batch_size",
            "batch_norm",
            "dropout",
            "epoch_seconds_median",
            "samples_per_second",
            "gflops",
            "dispatches_per_step",
            "pack_size",
            "member_epoch_seconds_median",
            "submits_per_epoch",
            "host_waits_per_epoch",
            "peak_gpu_bytes",
            "matmul_variant",
            "inputs",
            "hidden",
        ] {
            assert!(c.get(key).is_some(), "bench --json has {key}: {c}");
        }
        assert_eq!(c["hidden"], serde_json::json!([200, 200, 200]));
        assert_eq!(c["inputs"], 784);
        assert_eq!(c["host_waits_per_epoch"], 1);
        let limit = if c["batch_norm"].as_bool().unwrap() {
            28.0
        } else {
            16.0
        };
        assert!(c["dispatches_per_step"].as_f64().unwrap() <= limit, "{c}");
    }
}

/// `--pack-size 1,3`: each case as one run and as a pack of three, whose step dispatches as
/// many kernels as one run's and whose member epoch is a third of its epoch.
#[test]
fn bench_pack_sizes_time_packs_at_the_dispatches_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    write_dataset(tmp.path(), 10_600, 10);
    let args = [
        "--subset",
        "512",
        "--batch-size",
        "128",
        "--pack-size",
        "1,3",
    ];
    let cases = bench_json(tmp.path(), &args, 2);
    for pair in cases.chunks(2) {
        let (one, three) = (&pair[0], &pair[1]);
        assert_eq!(
            (one["pack_size"].as_u64(), three["pack_size"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(
            one["dispatches_per_step"], three["dispatches_per_step"],
            "{pair:?}"
        );
        let (epoch, member) = (
            three["epoch_seconds_median"].as_f64().unwrap(),
            three["member_epoch_seconds_median"].as_f64().unwrap(),
        );
        assert!((member - epoch / 3.0).abs() < 1e-9, "{three}");
        let bytes = |c: &serde_json::Value| c["peak_gpu_bytes"].as_u64().unwrap();
        assert!(
            bytes(three) > bytes(one),
            "a pack holds three networks: {pair:?}"
        );
    }
    let err = run_err(&["bench", "--pack-size", "0"]);
    assert!(err.contains("--pack-size"), "{err}");
}

/// `--hidden` times a list of networks and `--inputs` random data of that width: a case
/// per network, batch size and case, each with its shape, and GFLOP/s that follow it.
#[test]
fn bench_times_each_network_of_a_hidden_list_on_inputs_of_any_width() {
    let args = [
        "bench",
        "--json",
        "--epochs",
        "1",
        "--subset",
        "256",
        "--batch-size",
        "64",
        "--inputs",
        "12",
        "--hidden",
        "16:8,8",
    ];
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&run_ok(bin().args(args))).expect("--json prints only JSON");
    assert_eq!(cases.len(), 4, "two networks, plain and with batch norm");
    let shapes: Vec<&serde_json::Value> = cases.iter().map(|c| &c["hidden"]).collect();
    assert_eq!(
        shapes,
        [
            &serde_json::json!([16]),
            &serde_json::json!([16]),
            &serde_json::json!([8, 8]),
            &serde_json::json!([8, 8])
        ]
    );
    for c in &cases {
        assert_eq!(c["inputs"], 12, "{c}");
        let macs = if c["hidden"][0] == 16 {
            12 * 16 + 16 * 10
        } else {
            12 * 8 + 8 * 8 + 8 * 10
        };
        let flops = 6.0 * macs as f64 * 256.0 / c["epoch_seconds_median"].as_f64().unwrap();
        let gflops = c["gflops"].as_f64().unwrap();
        assert!(
            (gflops - flops / 1e9).abs() <= 1e-9 * gflops.max(1.0),
            "{c}"
        );
    }
    let err = run_err(&["bench", "--hidden", "200,0"]);
    assert!(err.contains("--hidden"), "{err}");
}

#[test]
fn bench_matmul_variant_overrides_the_adapters_choice() {
    let tmp = tempfile::tempdir().unwrap();
    write_dataset(tmp.path(), 10_600, 10);
    let cases = bench_json(
        tmp.path(),
        &[
            "--subset",
            "512",
            "--batch-size",
            "256",
            "--matmul-variant",
            "tile16",
        ],
        1,
    );
    for c in &cases {
        assert_eq!(c["matmul_variant"], "tile16", "{c}");
        assert!(c["epoch_seconds_median"].as_f64().unwrap() > 0.0, "{c}");
    }
}

#[test]
fn diverging_run_reports_diverged_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_dataset(&data, 600, 50);
    let out = tmp.path().join("run");
    let mut args = train_args(&data, &out);
    args.extend(["--lr", "1e30", "--json"].map(String::from));
    let o = bin().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "a diverged run is a result, not a failure: {stderr}"
    );
    assert!(stderr.contains("diverged"), "it warns: {stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&String::from_utf8(o.stdout).unwrap()).unwrap();
    assert_eq!(summary["status"], "diverged");
    assert_eq!(
        summary["epochs_run"], 1,
        "training stops at the first non-finite epoch"
    );
    assert!(out.join("model.safetensors").exists() && out.join("metrics.jsonl").exists());

    // NaN losses survive the JSON round trip: the report lists the run as diverged...
    run_ok(bin().args(["report", tmp.path().to_str().unwrap()]));
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(md.contains("run: diverged"), "{md}");
    // ...and a run killed after checkpointing its diverged epoch resumes as diverged.
    std::fs::remove_file(out.join("summary.json")).unwrap();
    let o = run_ok(bin().args(["train", "--json", "--resume", out.to_str().unwrap()]));
    let resumed: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(resumed["status"], "diverged");
    assert_eq!(resumed["epochs_run"], 1);
}

/// The defaults the help states are TrainConfig::default()'s, the one place they live.
#[test]
fn help_states_the_defaults_of_train_config() {
    let help = run_ok(bin().args(["train", "--help"]));
    let d = mlp_gpu::config::TrainConfig::default();
    let hidden: Vec<String> = d.hidden.iter().map(|h| h.to_string()).collect();
    let stated = [
        ("--hidden", hidden.join(",")),
        ("--optimizer", d.optimizer.name().to_string()),
        ("--lr", d.lr.to_string()),
        ("--momentum", d.momentum.to_string()),
        ("--weight-decay", d.weight_decay.to_string()),
        ("--epochs", d.epochs.to_string()),
        ("--batch-size", d.batch_size.to_string()),
        ("--dropout", d.dropout.to_string()),
        ("--init", d.init.name().to_string()),
        ("--seed", d.seed.to_string()),
        ("--split-seed", d.split_seed.to_string()),
        (
            "--val-size",
            "1/6: 10000 of Fashion-MNIST's 60000".to_string(),
        ),
    ];
    // the validation size the help states is ValSize::DEFAULT's, which holds out
    // TrainConfig's 10,000 of Fashion-MNIST's 60,000
    let default = mlp_gpu::data::ValSize::DEFAULT;
    assert_eq!(default, mlp_gpu::data::ValSize::Fraction(1.0 / 6.0));
    assert_eq!(default.rows(60_000), d.val_size);
    for (flag, value) in stated {
        // the flag's line, then its description up to the next flag
        let at = help
            .find(&format!("  {flag} "))
            .unwrap_or_else(|| panic!("{flag} in the help"));
        let text = &help[at..];
        let end = text[2..].find("\n      --").map_or(text.len(), |e| e + 2);
        assert!(
            text[..end].contains(&format!("[{value}]")),
            "{flag}'s help states [{value}]: {}",
            &text[..end]
        );
    }
}

/// A negative number for any numeric flag is read as that flag's value, and the error names
/// the flag (not "unexpected argument '-1'").
#[test]
fn negative_numbers_for_numeric_flags_name_the_flag() {
    let flags = [
        "--lr",
        "--momentum",
        "--weight-decay",
        "--dropout",
        "--epochs",
        "--batch-size",
        "--hidden",
        "--seed",
        "--split-seed",
        "--val-size",
        "--subset",
        "--eval-subset",
    ];
    for flag in flags {
        let err = run_err(&["train", flag, "-1"]);
        assert!(err.contains(flag), "{flag} -1: {err}");
        assert!(!err.contains("unexpected argument"), "{flag} -1: {err}");
    }
    for args in [
        ["sweep", "--out", "/nonexistent/x", "--pack-size", "-1"],
        ["reproduce", "--out", "/nonexistent/x", "--seeds", "-1"],
        ["bench", "--subset", "10", "--epochs", "-1"],
    ] {
        let err = run_err(&args);
        assert!(err.contains(args[3]), "{args:?}: {err}");
    }
}

/// Batch norm on a batch of one row (batch size 1, or an epoch's last batch) is refused
/// before any work, naming the flags, as PyTorch refuses it; nothing is written.
#[test]
fn batch_norm_with_a_one_row_batch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write_dataset(tmp.path(), 300, 20);
    let data = tmp.path().to_str().unwrap();
    let out = tmp.path().join("never");
    for extra in [
        vec!["--batch-size", "1"],
        vec!["--subset", "101", "--batch-size", "50"],
    ] {
        let mut args = vec!["train", "--data", data, "--out", out.to_str().unwrap()];
        args.extend(["--batch-norm", "--val-size", "100"]);
        args.extend(extra.iter().copied());
        let err = run_err(&args);
        assert!(
            err.contains("--batch-norm") && err.contains("--batch-size"),
            "{err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
        assert!(!out.exists(), "nothing written");
    }
}

/// `train --out DIR` onto a folder that holds a run is refused, offering --resume or a new
/// --out, and leaves every file in it as it was.
#[test]
fn train_onto_a_run_folder_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_dataset(&data, 600, 50);
    let out = tmp.path().join("run");
    run_ok(bin().args(train_args(&data, &out)));
    let files = || {
        let names = [
            "config.json",
            "metrics.jsonl",
            "model.safetensors",
            "summary.json",
        ];
        names.map(|f| std::fs::read(out.join(f)).unwrap())
    };
    let before = files();
    let args = train_args(&data, &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = run_err(&args);
    assert!(err.contains("--resume") && err.contains("--out"), "{err}");
    assert!(before == files(), "the run's files are unchanged");
}

/// `mlp-gpu check --json` on the test adapter (`MLP_GPU_TEST_ADAPTER`, which the GL pass of
/// `make test` sets to gl): the adapter and driver, every check passing with the documented
/// keys, linear products and training steps among them. Then with one kernel's output made
/// slightly wrong (MLP_GPU_FAULT=skew@linear_backward_weight): exit 1, one error line naming
/// that op, and its rows, only its rows, failing.
#[test]
fn check_passes_on_the_test_adapter_and_fails_naming_a_skewed_kernel() {
    let adapter = std::env::var("MLP_GPU_TEST_ADAPTER").ok();
    let mut args = vec!["check", "--json"];
    if let Some(a) = &adapter {
        args.extend(["--adapter", a]);
    }
    let report = |o: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).expect("--json: only JSON on stdout")
    };
    let o = bin().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let r = report(&o);
    for key in [
        "adapter",
        "backend",
        "driver",
        "driver_info",
        "checks",
        "passed",
    ] {
        assert!(r.get(key).is_some(), "{key}: {r}");
    }
    assert_eq!(r["passed"], true);
    let checks = r["checks"].as_array().unwrap();
    for row in checks {
        let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "max_abs_error",
                "max_rel_error",
                "mismatches",
                "op",
                "pass",
                "shape",
                "tolerance",
                "variant",
                "worst"
            ],
            "the documented keys, and the worst element and first mismatches"
        );
        assert_eq!(row["pass"], true, "{row}");
        assert_eq!(row["mismatches"], serde_json::json!([]), "{row}");
    }
    let ops: std::collections::BTreeSet<&str> = checks
        .iter()
        .map(|c| c["op"].as_str().unwrap().split(' ').next().unwrap())
        .collect();
    for op in [
        "linear_forward+relu+dropout",
        "linear_backward_data",
        "linear_backward_weight",
        "train",
    ] {
        assert!(ops.contains(op), "{op} in {ops:?}");
    }

    let o = bin()
        .env("MLP_GPU_FAULT", "skew@linear_backward_weight")
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_failed_for_its_own_reason(&stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("linear_backward_weight"), "{stderr}");
    let r = report(&o);
    assert_eq!(r["passed"], false);
    for row in r["checks"].as_array().unwrap() {
        let skewed = row["op"]
            .as_str()
            .unwrap()
            .starts_with("linear_backward_weight");
        assert_eq!(row["pass"], !skewed, "{row}");
        if skewed {
            // the worst element named with both values, and the first mismatches
            let worst = &row["worst"];
            let (got, want) = (
                worst["got"].as_f64().unwrap(),
                worst["want"].as_f64().unwrap(),
            );
            assert!(
                (got - want).abs() > worst["tolerance"].as_f64().unwrap(),
                "{row}"
            );
            assert!(!row["mismatches"].as_array().unwrap().is_empty(), "{row}");
        }
    }
}
