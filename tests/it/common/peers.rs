//! The test peers: vcsim, the Python clients (python-ovh, pyVmomi) and tmux.
//!
//! `bash scripts/peers.sh` installs them (the README's test command, `bash scripts/test`,
//! runs it first). A test whose peer is missing fails with one sentence naming that
//! command; no test passes by skipping.

use std::path::PathBuf;
use std::process::Command;

/// The command that installs every peer.
pub const INSTALL: &str = "bash scripts/peers.sh";

/// Where the peers live: `$SNAPTREE_PEERS`, else `~/.cache/snaptree-peers`.
pub fn dir() -> PathBuf {
    match std::env::var_os("SNAPTREE_PEERS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/snaptree-peers"),
    }
}

/// The vcsim binary (`$SNAPTREE_VCSIM`, else the one the install script built).
pub fn vcsim() -> PathBuf {
    let bin = match std::env::var_os("SNAPTREE_VCSIM") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => dir().join("vcsim"),
    };
    assert!(
        bin.is_file(),
        "vcsim is not installed at {}: run `{INSTALL}` to build it",
        bin.display()
    );
    bin
}

/// A Python interpreter that imports `modules` (`$SNAPTREE_PYTHON`, else the install
/// script's virtual environment).
pub fn python(modules: &str) -> PathBuf {
    let python = match std::env::var_os("SNAPTREE_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => dir().join("venv/bin/python3"),
    };
    let imports = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        imports,
        "{} cannot import {modules}: run `{INSTALL}` to install the Python peers",
        python.display()
    );
    python
}

/// What Python `script`, run with `args` on an interpreter that imports `modules`, prints
/// on stdout; a script that fails fails the test, with what it said on stderr.
pub fn run_python(modules: &str, script: &str, args: &[&str]) -> String {
    let out = Command::new(python(modules))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tmux, from the system.
pub fn tmux() -> PathBuf {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "tmux is not installed: run `{INSTALL}` to install it"
    );
    PathBuf::from("tmux")
}

/// What an independent parser read in `text` (`tests/python/report_read.py`): `mode` is
/// `csv` (Python's csv module), `json` (Python's json, key order kept) or `prom`
/// (prometheus_client's text parser).
pub fn read_as(mode: &str, text: &[u8]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("out");
    std::fs::write(&file, text).expect("write the output");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/report_read.py");
    let o = Command::new(python("csv, json, prometheus_client"))
        .args([script, mode])
        .arg(&file)
        .output()
        .expect("run python");
    assert!(
        o.status.success(),
        "{mode} parser refused it: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(text)
    );
    serde_json::from_slice(&o.stdout).expect("the parser's JSON")
}
