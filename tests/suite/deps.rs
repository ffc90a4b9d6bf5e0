//! scripts/deps.sh, which `make test` and `make run` call first. On this machine: run again
//! once it has set it up, it installs nothing, changes no apt source and prints nothing. On
//! fake systems (stand-ins for apt-get, dpkg-query and sudo, a root of their own): which
//! lavapipe it asks apt for on Debian 12, Ubuntu and newer Debian, the sources file it writes,
//! and what it leaves when the upgrade fails.

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

/// `bash scripts/deps.sh`, to be run.
fn deps_sh() -> Command {
    let mut c = Command::new("bash");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/deps.sh"));
    c
}

/// `deps.sh test`, as `make test` runs it: it must succeed.
fn deps() -> std::process::Output {
    let o = deps_sh().arg("test").output().unwrap();
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

/// A fake system for deps.sh: `os-release` under a root of its own (MLP_GPU_DEPS_ROOT), the
/// packages `installed` as dpkg-query reports them, and stand-ins for apt-get and sudo on
/// PATH that log every call and answer `indextargets` as a system with a Debian mirror
/// (after a cdrom source) would.
struct FakeSystem {
    root: tempfile::TempDir,
}

const MIRROR: &str = "http://mirror.invalid/debian/";

impl FakeSystem {
    fn new(os_release: &str, installed: &[(&str, String)]) -> FakeSystem {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        std::fs::create_dir_all(p.join("etc/apt/sources.list.d")).unwrap();
        std::fs::create_dir_all(p.join("bin")).unwrap();
        std::fs::write(p.join("etc/os-release"), os_release).unwrap();
        let list: String = installed
            .iter()
            .map(|(n, v)| format!("{n} {v}\n"))
            .collect();
        std::fs::write(p.join("installed"), list).unwrap();
        let stubs = [
            ("sudo", "exec \"$@\"".to_string()),
            (
                "dpkg-query",
                "for pkg; do :; done\nv=$(sed -n \"s/^$pkg //p\" \"$STUB/installed\")\n\
                 [ -n \"$v\" ] || exit 1\necho \"install ok installed $v\""
                    .to_string(),
            ),
            (
                "apt-get",
                format!(
                    "echo \"apt-get $*\" >>\"$STUB/log\"\ncase \"$1 $*\" in\n\
                     install*) exit \"${{STUB_INSTALL_RC:-0}}\" ;;\n\
                     *'Codename: bookworm-backports'*) [ -z \"${{STUB_HAS_BACKPORTS:-}}\" ] || echo {MIRROR} ;;\n\
                     *'Codename: bookworm'*) printf 'cdrom://[Debian]/\\n{MIRROR}\\n' ;;\nesac"
                ),
            ),
        ];
        for (name, body) in stubs {
            let path = p.join("bin").join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            let mut perms = std::fs::metadata(&path).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(&path, perms).unwrap();
        }
        FakeSystem { root }
    }

    /// Runs deps.sh against this system: (exit status, stderr, the apt-get calls).
    fn deps(&self, env: &[(&str, &str)]) -> (bool, String, String) {
        let p = self.root.path();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/deps.sh");
        let path = format!(
            "{}:{}",
            p.join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        let o = Command::new("bash")
            .arg(script)
            .env("PATH", path)
            .env("STUB", p)
            .env("MLP_GPU_DEPS_ROOT", p)
            .env_remove("MLP_GPU_SYSTEM_MESA")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(o.stdout.is_empty(), "deps.sh prints nothing on stdout");
        let log = std::fs::read_to_string(p.join("log")).unwrap_or_default();
        (
            o.status.success(),
            String::from_utf8(o.stderr).unwrap(),
            log,
        )
    }

    fn sources(&self) -> Option<String> {
        let f = "etc/apt/sources.list.d/mlp-gpu-backports.sources";
        std::fs::read_to_string(self.root.path().join(f)).ok()
    }
}

const DEBIAN12: &str = "ID=debian\nVERSION_CODENAME=bookworm\n";
const UBUNTU: &str = "ID=ubuntu\nVERSION_CODENAME=noble\n";
const MESA22: &str = "22.3.6-1+deb12u2";
const UPGRADE: &str =
    "install -y -qq --no-install-recommends mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports";

fn with_mesa(version: &str) -> [(&'static str, String); 4] {
    [
        ("mesa-vulkan-drivers", version.to_string()),
        ("vulkan-tools", "1.3.239.0+dfsg1-1".into()),
        ("dataset-fashion-mnist", "0.0~git20200523-1".into()),
        ("python3", "3.11.2-1+b1".into()),
    ]
}

#[test]
fn deps_on_debian12_with_mesa22_takes_lavapipe_from_backports_on_the_systems_mirror() {
    let s = FakeSystem::new(DEBIAN12, &with_mesa(MESA22));
    let (ok, stderr, log) = s.deps(&[]);
    assert!(ok, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(
            "installed mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports"
        ),
        "{stderr}"
    );
    assert!(log.contains(UPGRADE), "{log}");
    let sources = s.sources().expect("a sources file of its own");
    assert!(
        sources.contains(&format!("URIs: {MIRROR}\n")),
        "the system's http mirror, not its cdrom: {sources}"
    );
    assert!(
        sources.contains("Suites: bookworm-backports\n"),
        "{sources}"
    );
}

#[test]
fn deps_keeps_the_systems_mesa_when_told_or_current_or_not_debian12() {
    let cases = [
        (
            DEBIAN12,
            with_mesa(MESA22),
            vec![("MLP_GPU_SYSTEM_MESA", "1")],
        ),
        (DEBIAN12, with_mesa("25.0.7-2~bpo12+1"), vec![]),
        (UBUNTU, with_mesa("24.0.5-1ubuntu1"), vec![]),
        (
            "ID=debian\nVERSION_CODENAME=trixie\n",
            with_mesa("25.0.7-2"),
            vec![],
        ),
    ];
    for (os, installed, env) in cases {
        let s = FakeSystem::new(os, &installed);
        let (ok, stderr, log) = s.deps(&env);
        assert!(
            ok && stderr.is_empty() && log.is_empty(),
            "{os} {env:?}: {stderr} {log}"
        );
        assert_eq!(s.sources(), None);
    }
    // elsewhere a missing lavapipe is the distribution's
    let s = FakeSystem::new(UBUNTU, &with_mesa("")[1..]);
    let (ok, stderr, log) = s.deps(&[]);
    assert!(ok, "{stderr}");
    assert_eq!(stderr, "deps.sh: installed mesa-vulkan-drivers\n");
    assert!(!log.contains("backports"), "{log}");
    assert_eq!(s.sources(), None);
}

#[test]
fn deps_reuses_a_configured_backports_source_and_survives_a_failed_upgrade() {
    let s = FakeSystem::new(DEBIAN12, &with_mesa(MESA22));
    let (ok, stderr, log) = s.deps(&[("STUB_HAS_BACKPORTS", "1")]);
    assert!(ok && log.contains(UPGRADE), "{stderr} {log}");
    assert_eq!(s.sources(), None, "the system's backports source serves");
    // No network: the old driver stays, with one warning, and no sources file is left.
    let s = FakeSystem::new(DEBIAN12, &with_mesa(MESA22));
    let (ok, stderr, _) = s.deps(&[("STUB_INSTALL_RC", "100")]);
    assert!(ok, "{stderr}");
    assert!(stderr.ends_with(&format!("warning: keeping lavapipe {MESA22} (the backports one could not be installed; MLP_GPU_SYSTEM_MESA=1 stops trying)\n")), "{stderr}");
    assert_eq!(s.sources(), None, "nothing left that apt cannot fetch");
}
