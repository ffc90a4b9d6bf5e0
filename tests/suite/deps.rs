//! scripts/deps.sh, which `make test` and `make run` call first: run again on a machine it
//! has set up, it installs nothing, changes no apt source and prints nothing.

use std::path::Path;
use std::process::Command;

/// Every installed package with its version and state, and every apt source file's bytes.
fn system_state() -> (String, Vec<(String, Vec<u8>)>) {
    let o = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${Version} ${Status}\\n"])
        .output()
        .expect("dpkg-query runs: deps.sh is for Debian and Ubuntu");
    assert!(o.status.success());
    let mut sources: Vec<_> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| {
            d.map(|e| {
                let p = e.unwrap().path();
                (
                    p.display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                )
            })
            .collect()
        })
        .unwrap_or_default();
    sources.sort();
    (String::from_utf8(o.stdout).unwrap(), sources)
}

fn deps() -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/deps.sh");
    let o = Command::new("bash").arg(script).output().unwrap();
    assert!(
        o.status.success(),
        "deps.sh failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn deps_script_run_twice_installs_and_prints_nothing_the_second_time() {
    deps(); // on a new machine this one installs (make test has already run it)
    let before = system_state();
    let o = deps();
    assert!(
        o.stdout.is_empty() && o.stderr.is_empty(),
        "the second run is silent: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        system_state() == before,
        "the second run changed the system"
    );
}
