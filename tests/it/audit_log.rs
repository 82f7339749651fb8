//! The audit log as a trust boundary: a change is sent only once its "sent" record is on
//! disk, records never glue together, and nothing planted in the state directory is
//! followed. The real binary against the vSphere simulator in its own process, so what
//! was (not) sent can be read back afterwards.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::output::{code, json, one_sentence, stderr};
use crate::common::pty::Tui;

/// `snaptree sim vsphere` in its own process, ended when the test ends.
struct Sim {
    child: std::process::Child,
    config: PathBuf,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Env {
    dir: tempfile::TempDir,
    sim: Sim,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_snaptree"))
            .args(["sim", "vsphere", "--listen", "127.0.0.1:0"])
            .env("SNAPTREE_SIM_TASK_MS", "200")
            .env("XDG_STATE_HOME", dir.path().join("sim-state"))
            .env("XDG_CONFIG_HOME", dir.path().join("sim-config"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the vSphere simulator");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut host, mut thumbprint) = (None, None);
        while thumbprint.is_none() {
            let mut line = String::new();
            if out.read_line(&mut line).expect("the simulator prints") == 0 {
                break;
            }
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("https://")) {
                host = url.strip_suffix("/sdk").map(String::from);
            }
            if let Some(t) = line.strip_prefix("certificate: ") {
                thumbprint = Some(t.trim().to_string());
            }
        }
        let config = dir.path().join("sim.toml");
        std::fs::write(
            &config,
            format!(
                "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"{}\"\nusername = \"demo\"\n\
                 password = \"demo\"\nthumbprint = \"{}\"\n",
                host.expect("a URL"),
                thumbprint.expect("a thumbprint")
            ),
        )
        .unwrap();
        Env {
            dir,
            sim: Sim { child, config },
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn audit_path(&self) -> PathBuf {
        self.state().join("snaptree").join("audit.log")
    }

    /// The audit log's lines, each of which must be one JSON record.
    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_path())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not one record ({e}): {l}"))
            })
            .collect()
    }

    /// snaptree on the simulator's profile, run by `wrapper` (e.g. `prlimit`) if any.
    fn run_with(&self, wrapper: &[&str], args: &[&str]) -> Output {
        let binary = env!("CARGO_BIN_EXE_snaptree");
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        cmd.arg("--config")
            .arg(&self.sim.config)
            .args(args)
            .env("XDG_STATE_HOME", self.state())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env_remove("SNAPTREE_CONFIG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .output()
            .expect("run snaptree")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(&[], args)
    }

    /// The ids of a machine's snapshots, as the server has them now.
    fn snapshot_ids(&self, machine: &str) -> Vec<String> {
        let v = json(&self.run(&["tree", machine, "--json"]));
        let mut ids = Vec::new();
        let mut todo: Vec<&Value> = v["snapshots"].as_array().unwrap().iter().collect();
        while let Some(s) = todo.pop() {
            ids.push(s["id"].as_str().unwrap().to_string());
            todo.extend(s["children"].as_array().into_iter().flatten());
        }
        ids.sort();
        ids
    }
}

/// `prlimit` wrapping snaptree so that no file it writes may grow past `bytes`.
fn file_size_limit(bytes: u64) -> Vec<String> {
    vec!["prlimit".into(), format!("--fsize={bytes}"), "--".into()]
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A full file system (no byte may be added): `take` and `rm --yes` are refused with one
/// sentence, exit 1, and nothing reaches the server. Run once with SIGXFSZ ignored by the
/// parent (a write then fails with EFBIG, as on a full disk) and once as a plain process
/// (snaptree must not be killed by the signal).
#[test]
fn a_change_the_audit_log_cannot_record_is_not_sent() {
    let env = Env::new();
    let before = env.snapshot_ids("pcc/web-01");
    assert!(before.contains(&"snapshot-106".to_string()), "{before:?}");
    let limit = file_size_limit(0);
    let ignoring = ["bash", "-c", "trap '' XFSZ; exec \"$@\"", "bash"];
    let wrappers: [Vec<&str>; 2] = [
        ignoring.iter().copied().chain(as_strs(&limit)).collect(),
        as_strs(&limit),
    ];
    for wrapper in &wrappers {
        for args in [
            &["take", "pcc/web-01", "--name", "not-recorded"][..],
            &["rm", "pcc/web-01", "snapshot-106", "--yes"],
        ] {
            let o = env.run_with(wrapper, args);
            let line = one_sentence(&o, 1);
            assert!(
                line.contains("not sent") && line.contains("audit log"),
                "{wrapper:?} {args:?}: {line}"
            );
            assert_eq!(
                env.snapshot_ids("pcc/web-01"),
                before,
                "{wrapper:?} {args:?}: nothing may reach the server"
            );
        }
    }
    assert!(env.audit().is_empty(), "{:?}", env.audit());
}

/// A nearly full file system: the "sent" record does not fit whole. It is not left cut
/// for the next record to glue to, and the change is not sent.
#[test]
fn a_record_that_does_not_fit_leaves_no_cut_line() {
    let env = Env::new();
    let o = env.run(&["take", "pcc/web-01", "--name", "first"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let recorded = env.audit().len();
    let size = std::fs::metadata(env.audit_path()).unwrap().len();
    let before = env.snapshot_ids("pcc/web-01");

    let limit = file_size_limit(size + 40);
    let o = env.run_with(
        &as_strs(&limit),
        &["take", "pcc/web-01", "--name", "cut-short"],
    );
    let line = one_sentence(&o, 1);
    assert!(line.contains("not sent"), "{line}");
    assert_eq!(env.snapshot_ids("pcc/web-01"), before, "nothing was sent");
    assert_eq!(
        std::fs::metadata(env.audit_path()).unwrap().len(),
        size,
        "the cut record is taken back"
    );

    let o = env.run(&["take", "pcc/web-01", "--name", "second"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let audit = env.audit();
    let results: Vec<&Value> = audit[recorded..].iter().map(|r| &r["result"]).collect();
    assert_eq!(results, ["sent", "started", "success"], "{audit:?}");
}

/// Processes taking at once: every record is one whole line.
#[test]
fn processes_taking_at_once_write_whole_records() {
    let env = Env::new();
    let machines = [
        "web-01",
        "web-02",
        "db-02",
        "jump-host",
        "build-runner",
        "monitoring",
    ];
    std::thread::scope(|s| {
        for m in machines {
            let env = &env;
            s.spawn(move || {
                let o = env.run(&["take", &format!("pcc/{m}"), "--name", "together"]);
                assert_eq!(code(&o), 0, "{m}: {}", stderr(&o));
            });
        }
    });
    let audit = env.audit();
    assert_eq!(audit.len(), machines.len() * 3, "{audit:?}");
}

/// In the TUI, a take the audit log cannot record is refused on the status line and in
/// the message log, and the machine keeps its snapshots.
#[test]
fn the_tui_refuses_a_change_the_audit_log_cannot_record() {
    let mut tui = Tui::start(&[], 200);
    // Something that cannot be written in the audit log's place.
    let audit = tui.state_dir().join("snaptree").join("audit.log");
    std::fs::create_dir_all(&audit).unwrap();
    tui.open_machine("web-01");
    tui.send("t");
    tui.wait_text("Take a snapshot of web-01");
    tui.send("\r");
    tui.wait_for("the refusal on the status line", |s| {
        s.contains("take on web-01 refused") && s.contains("not sent")
    });
    let day = chrono::Local::now().format("%Y-%m-%d").to_string();
    assert!(
        !tui.screen()
            .lines()
            .any(|l| l.contains(&format!("─ {day}"))),
        "no snapshot was taken:\n{}",
        tui.screen()
    );
    tui.send("M");
    tui.wait_for("the refusal in the message log", |s| {
        s.contains("Messages") && s.contains("not sent")
    });
    assert!(Path::new(&audit).is_dir());
}

/// A link planted where the audit log or the log goes is never followed: the file it
/// points to is neither written nor chmod'ed; a change is refused (nothing sent), and a
/// command goes on without a log, saying so.
#[test]
fn planted_links_are_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let before = env.snapshot_ids("pcc/web-01");
    let victim = env.dir.path().join("victim");
    std::fs::write(&victim, "someone's file\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let untouched = |what: &str| {
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "someone's file\n",
            "{what}: written through the link"
        );
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{what}: chmod'ed through the link");
    };
    let dir = env.state().join("snaptree");
    std::fs::remove_file(dir.join("snaptree.log")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("snaptree.log")).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("audit.log")).unwrap();

    let o = env.run(&["take", "pcc/web-01", "--name", "through-a-link"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("going on without a log"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("not sent") && l.contains("symbolic link")),
        "{err}"
    );
    untouched("take");
    // The log's link only costs the log: reading goes on.
    std::fs::remove_file(dir.join("audit.log")).unwrap();
    assert_eq!(env.snapshot_ids("pcc/web-01"), before, "nothing was sent");
    untouched("tree");

    // A state directory that is a link is refused as well.
    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::rename(&dir, env.dir.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
    let o = env.run(&["take", "pcc/web-01", "--name", "through-a-link"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("not sent"), "{err}");
    assert!(
        std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "nothing written in the linked directory"
    );
    assert_eq!(env.snapshot_ids("pcc/web-01"), before, "nothing was sent");
}
