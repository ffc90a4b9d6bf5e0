//! Helpers for tests that run the binary: toy IDX datasets made in the test, and runners
//! that check exit status and that nothing panicked.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mlp-gpu"))
}

pub fn idx(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(body);
    v
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A learnable toy dataset in `dir` (created if missing): class c lights up rows 2c and
/// 2c+1, plus noise.
pub fn write_dataset(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut seed = 1u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as u32
    };
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let labels: Vec<u8> = (0..n).map(|_| (next() % 10) as u8).collect();
        let mut pixels = vec![0u8; n * 784];
        for (i, &l) in labels.iter().enumerate() {
            for p in 0..784 {
                let row = p / 28;
                let lit = row / 2 == l as usize;
                pixels[i * 784 + p] = if lit { 200 } else { (next() % 60) as u8 };
            }
        }
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            gz(&idx(0x803, &[n as u32, 28, 28], &pixels)),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            gz(&idx(0x801, &[n as u32], &labels)),
        )
        .unwrap();
    }
}

pub fn run_ok(cmd: &mut Command) -> String {
    run_ok_both(cmd).0
}

/// stdout and stderr of a command that must succeed without panicking.
pub fn run_ok_both(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "command failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// `command --data DATA --out OUT rest...` as owned strings.
pub fn command_args(command: &str, data: &Path, out: &Path, rest: &[&str]) -> Vec<String> {
    let head = [
        command,
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    head.iter().chain(rest).map(|s| s.to_string()).collect()
}

pub fn train_args(data: &Path, out: &Path) -> Vec<String> {
    let rest = [
        "--val-size",
        "200",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--quiet",
    ];
    command_args("train", data, out, &rest)
}

pub fn run_err(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} should fail");
    assert_failed_for_its_own_reason(&stderr);
    stderr
}

/// A command meant to fail must not fail for want of a GPU adapter (CI has lavapipe: a
/// missing adapter is a broken set-up, not a passing error test) or by panicking.
pub fn assert_failed_for_its_own_reason(stderr: &str) {
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    assert!(
        !stderr.contains("no GPU adapter found"),
        "tests need a Vulkan adapter (mesa-vulkan-drivers): {stderr}"
    );
}

/// Every file under `dir` (relative path -> bytes).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Returns once `event` (something the test can observe: a file, what a file holds) has
/// happened, `child` still running; fails if it ends first or two minutes pass. It polls:
/// the outcome never hangs on how long it waits.
pub fn wait_for(child: &mut Child, what: &str, event: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !event() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never happened"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the process ended before {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
