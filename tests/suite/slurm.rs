//! scripts/slurm-check.sh, run as it is: docs/slurm/sweep.sbatch (the example users copy)
//! as a 4-task array on a one-node Slurm brought up for the test, one task stopped mid-run
//! by `scancel --signal=TERM` and requeued; every run completes once and the report equals
//! the same sweep's unsharded. It needs root and the packages `scripts/deps.sh test` installs;
//! without them it fails, naming what is missing.

use std::path::Path;
use std::process::Command;

#[test]
fn sbatch_array_survives_sigterm_and_requeue_and_equals_the_sweep_unsharded() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-check.sh");
    let o = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_mlp-gpu"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "slurm-check.sh failed:\n{stderr}");
    let passed = stderr
        .lines()
        .find(|l| l.starts_with("slurm-check: passed"));
    assert!(passed.is_some(), "{stderr}");
    eprintln!("{}", passed.unwrap());
}
