//! The CLI end to end on the demo estate (`--demo`), running the real binary.
//! Each process has a fresh estate; the audit log shows what was changed.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::output::{code, is_rfc3339_utc, json, one_sentence, stderr, stdout};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn config_home(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn audit(&self) -> Vec<Value> {
        let path = self.state().join("snaptree").join("audit.log");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    /// The audit lines that give a result (not the "sent"/"started" lines written ahead).
    fn results(&self) -> Vec<Value> {
        self.audit()
            .into_iter()
            .filter(|r| r["result"] != "sent" && r["result"] != "started")
            .collect()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_snaptree"))
            .args(args)
            .env("SNAPTREE_SIM_TASK_MS", "300")
            .env("XDG_STATE_HOME", self.state())
            .env("XDG_CONFIG_HOME", self.config_home())
            .env_remove("SNAPTREE_CONFIG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .output()
            .expect("run snaptree")
    }

    fn demo(&self, args: &[&str]) -> Output {
        let mut all = vec!["--demo"];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

#[test]
fn ls_json_has_every_key_with_its_type() {
    let env = Env::new();
    let v = json(&env.demo(&["ls", "--json"]));
    let machines = v["machines"].as_array().expect("machines is an array");
    assert_eq!(machines.len(), 16);
    for m in machines {
        let ctx = m.to_string();
        for key in ["profile", "id", "name", "path", "power_state"] {
            assert!(m[key].is_string(), "{key}: {ctx}");
        }
        assert!(
            ["vsphere", "ovh", "proxmox"].contains(&m["provider"].as_str().unwrap()),
            "{ctx}"
        );
        assert!(
            ["poweredOn", "poweredOff", "suspended", "unknown"]
                .contains(&m["power_state"].as_str().unwrap()),
            "{ctx}"
        );
        let count = m["snapshot_count"].as_u64().expect("snapshot_count");
        assert!(m["consolidation_needed"].is_boolean(), "{ctx}");
        assert!(
            m["warnings"]
                .as_array()
                .is_some_and(|w| w.iter().all(Value::is_string)),
            "{ctx}"
        );
        if count == 0 {
            assert!(m["current_snapshot"].is_null(), "{ctx}");
            assert!(m["oldest_snapshot"].is_null(), "{ctx}");
        } else {
            assert!(m["current_snapshot"].is_string(), "{ctx}");
            assert!(is_rfc3339_utc(&m["oldest_snapshot"]), "{ctx}");
        }
        if m["provider"] == "ovh" {
            assert!(count <= 1, "a VPS has at most one snapshot: {ctx}");
        }
    }
    let by_name = |n: &str| machines.iter().find(|m| m["name"] == n).unwrap().clone();
    let web = by_name("web-01");
    assert_eq!(web["id"], "vm-101");
    assert_eq!(web["profile"], "pcc");
    assert_eq!(web["snapshot_count"], 6);
    assert_eq!(web["current_snapshot"], "snapshot-104");
    assert_eq!(web["path"], "/Paris-DC1/vm/prod/web/web-01");
    assert_eq!(by_name("db-01")["consolidation_needed"], true);
    assert_eq!(by_name("db-02")["power_state"], "poweredOff");
    let no_option = by_name("vps-9c0d1e2f.vps.ovh.net");
    assert!(
        no_option["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("option")),
        "{no_option}"
    );
}

/// Check one node of `tree --json` and its subtree; returns the ids seen.
fn check_node(n: &Value, ids: &mut Vec<String>) {
    let ctx = n.to_string();
    for key in ["id", "name", "description", "power_state"] {
        assert!(n[key].is_string(), "{key}: {ctx}");
    }
    assert!(is_rfc3339_utc(&n["created"]), "{ctx}");
    assert!(
        n["memory"].is_boolean() && n["quiesced"].is_boolean(),
        "{ctx}"
    );
    assert!(
        n["size_bytes"].is_u64() || n["size_bytes"].is_null(),
        "{ctx}"
    );
    ids.push(n["id"].as_str().unwrap().to_string());
    for c in n["children"].as_array().expect("children is an array") {
        check_node(c, ids);
    }
}

#[test]
fn tree_json_is_nested_with_the_current_position() {
    let env = Env::new();
    let v = json(&env.demo(&["tree", "pcc/web-01", "--json"]));
    assert_eq!(v["machine"]["profile"], "pcc");
    assert_eq!(v["machine"]["provider"], "vsphere");
    assert_eq!(v["machine"]["id"], "vm-101");
    assert_eq!(v["machine"]["name"], "web-01");
    assert_eq!(v["current"], "snapshot-104");
    let roots = v["snapshots"].as_array().unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0]["name"], "base");
    let mut ids = Vec::new();
    for r in roots {
        check_node(r, &mut ids);
    }
    ids.sort();
    let want: Vec<String> = (101..=106).map(|i| format!("snapshot-{i}")).collect();
    assert_eq!(ids, want);
    // base has the two "before-upgrade" branches.
    let kids: Vec<&str> = roots[0]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["snapshot-102", "snapshot-105"]);
    let after_patch = &roots[0]["children"][0]["children"][0];
    assert_eq!(after_patch["id"], "snapshot-103");
    assert_eq!(after_patch["memory"], true);
    assert_eq!(after_patch["children"][0]["id"], "snapshot-104");
}

#[test]
fn tree_json_of_a_vps_has_zero_or_one_snapshot() {
    let env = Env::new();
    let v = json(&env.demo(&["tree", "shop-front", "--json"]));
    assert_eq!(v["machine"]["provider"], "ovh");
    let snaps = v["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 1);
    let mut ids = Vec::new();
    check_node(&snaps[0], &mut ids);
    assert_eq!(v["current"], snaps[0]["id"]);
    assert!(snaps[0]["children"].as_array().unwrap().is_empty());

    let v = json(&env.demo(&["tree", "ovh/blog", "--json"]));
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 0);
    assert!(v["current"].is_null());
}

#[test]
fn tree_marks_the_current_position() {
    let env = Env::new();
    let o = env.demo(&["tree", "pcc/web-01"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("pre-release"))
        .unwrap();
    assert!(lines[i + 1].contains("You are here"), "{out}");
}

#[test]
fn an_ambiguous_snapshot_name_lists_both_ids() {
    let env = Env::new();
    let o = env.demo(&["rm", "web-01", "before-upgrade", "--yes"]);
    let line = one_sentence(&o, 2);
    assert!(line.contains("ambiguous"), "{line}");
    assert!(
        line.contains("snapshot-102") && line.contains("snapshot-105"),
        "{line}"
    );
    // Both have the same path: each candidate says when it was taken and what it is for,
    // so there is something to choose by.
    assert!(line.contains("Second try at the upgrade"), "{line}");
    assert_eq!(line.matches(", taken ").count(), 2, "{line}");
    assert!(env.audit().is_empty(), "nothing was run");
}

#[test]
fn an_unknown_machine_or_profile_is_a_usage_error() {
    let env = Env::new();
    let line = one_sentence(&env.demo(&["tree", "no-such-vm"]), 2);
    assert!(line.contains("no-such-vm"), "{line}");
    let line = one_sentence(&env.demo(&["--profile", "nope", "ls"]), 2);
    assert!(line.contains("nope"), "{line}");
    // The known profiles are listed, so the user can correct the name.
    assert!(line.contains("pcc") && line.contains("ovh"), "{line}");
    let line = one_sentence(&env.demo(&["tree", "pcc/no-such-vm"]), 2);
    assert!(line.contains("no-such-vm"), "{line}");
}

#[test]
fn a_profile_selects_its_machines() {
    let env = Env::new();
    let v = json(&env.demo(&["--profile", "ovh", "ls", "--json"]));
    let machines = v["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 4);
    assert!(machines.iter().all(|m| m["profile"] == "ovh"));
}

/// Two profiles on one OVH API simulator: the same VPS name in both.
#[test]
fn an_ambiguous_machine_lists_the_candidates() {
    let env = Env::new();
    let mut sim = Command::new(env!("CARGO_BIN_EXE_snaptree"))
        .args(["sim", "ovh", "--listen", "127.0.0.1:0"])
        .env("XDG_STATE_HOME", env.state())
        .env("XDG_CONFIG_HOME", env.config_home())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the OVH simulator");
    let mut first = String::new();
    BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut first)
        .expect("the simulator prints its URL");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();
    let profile = |name: &str| {
        format!(
            "[profiles.{name}]\nkind = \"ovh\"\nendpoint = \"{url}\"\napplication_key = \"snaptree-sim-ak\"\napplication_secret = \"snaptree-sim-as\"\nconsumer_key = \"snaptree-sim-ck\"\n"
        )
    };
    let config = env.dir.path().join("two.toml");
    std::fs::write(&config, format!("{}{}", profile("eu"), profile("ca"))).unwrap();
    let config = config.to_str().unwrap();
    let ambiguous = env.run(&["--config", config, "tree", "shop-front"]);
    let qualified = env.run(&["--config", config, "tree", "eu/shop-front"]);
    let _ = sim.kill();
    let _ = sim.wait();
    let line = one_sentence(&ambiguous, 2);
    assert!(line.contains("ambiguous"), "{line}");
    assert!(line.contains("eu/") && line.contains("ca/"), "{line}");
    assert_eq!(code(&qualified), 0, "{}", stderr(&qualified));
    assert!(stdout(&qualified).contains("pre-deploy"));
}

#[test]
fn destructive_without_yes_and_without_a_terminal_is_refused() {
    let env = Env::new();
    for args in [
        &["rm", "web-01", "snapshot-106"][..],
        &["rm", "web-01", "--all"],
        &["revert", "web-01", "base"],
        &["consolidate", "db-01"],
    ] {
        let o = env.demo(args);
        let line = one_sentence(&o, 3);
        assert!(line.contains("--yes"), "{args:?}: {line}");
    }
    assert!(
        !env.audit().iter().any(|r| r["result"] == "success"),
        "{:?}",
        env.audit()
    );
}

#[test]
fn read_only_refuses_changes_with_exit_3() {
    let env = Env::new();
    for args in [
        &["--read-only", "take", "web-01"][..],
        &["--read-only", "rm", "web-01", "snapshot-106", "--yes"],
        &[
            "--read-only",
            "rename",
            "web-01",
            "snapshot-104",
            "--name",
            "x",
        ],
    ] {
        let line = one_sentence(&env.demo(args), 3);
        assert!(line.contains("read-only"), "{args:?}: {line}");
    }
    assert!(!env.audit().iter().any(|r| r["result"] == "success"));
    // Reading still works.
    assert_eq!(code(&env.demo(&["--read-only", "ls"])), 0);
}

/// A change that succeeds: exit 0, progress on stderr, an audit line.
fn assert_change(env: &Env, args: &[&str], operation: &str, machine: &str) {
    let o = env.demo(args);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{args:?}: {err}");
    // Progress goes to stderr; a take prints the new id alone (see take_prints_the_new_id).
    if operation != "take" {
        assert!(
            stdout(&o).is_empty(),
            "progress goes to stderr: {}",
            stdout(&o)
        );
    }
    assert!(err.contains("started") && err.contains("success"), "{err}");
    assert!(err.contains('%'), "progress percentages shown: {err}");
    let audit = env.audit();
    assert!(
        audit.iter().any(|r| r["operation"] == operation
            && r["machine"] == machine
            && r["result"] == "success"),
        "{args:?}: {audit:?}"
    );
}

/// govc's short flags: `take -n NAME -d TEXT -m -q`, `rename -n -d`, `replace -d`.
#[test]
fn take_rename_and_replace_take_govc_short_flags() {
    use clap::Parser as _;
    use snaptree::cli::{Cli, Cmd};
    let take = Cli::try_parse_from([
        "snaptree",
        "take",
        "pcc/web-01",
        "-n",
        "pre",
        "-d",
        "why",
        "-m",
        "-q",
    ])
    .expect("short flags");
    assert!(
        matches!(
            take.command,
            Some(Cmd::Take { ref name, ref description, memory: true, quiesce: true, .. })
                if name.as_deref() == Some("pre") && description.as_deref() == Some("why")
        ),
        "{take:?}"
    );
    let rename =
        Cli::try_parse_from(["snaptree", "rename", "web-01", "base", "-n", "a", "-d", "b"])
            .expect("short flags");
    assert!(
        matches!(
            rename.command,
            Some(Cmd::Rename { ref name, ref description, .. })
                if name.as_deref() == Some("a") && description.as_deref() == Some("b")
        ),
        "{rename:?}"
    );
    let replace = Cli::try_parse_from(["snaptree", "replace", "mail", "-d", "c"]).expect("-d");
    assert!(
        matches!(replace.command, Some(Cmd::Replace { ref description, .. }) if description.as_deref() == Some("c")),
        "{replace:?}"
    );
    let env = Env::new();
    assert_change(
        &env,
        &["take", "web-01", "-n", "short", "-m", "-q"],
        "take",
        "vm-101",
    );
}

#[test]
fn changes_succeed_with_progress_on_stderr() {
    let env = Env::new();
    assert_change(
        &env,
        &["take", "web-01", "--name", "cli-take"],
        "take",
        "vm-101",
    );
    assert_change(
        &env,
        &["take", "web-01", "--memory", "--quiesce"],
        "take",
        "vm-101",
    );
    assert_change(
        &env,
        &["revert", "web-01", "base", "--yes"],
        "revert",
        "vm-101",
    );
    assert_change(
        &env,
        &["revert", "web-01", "--yes"],
        "revert-current",
        "vm-101",
    );
    assert_change(
        &env,
        &[
            "rm",
            "web-01",
            "base/before-upgrade/after-patch",
            "--yes",
            "--children",
        ],
        "delete-children",
        "vm-101",
    );
    assert_change(
        &env,
        &["rm", "web-01", "snapshot-106", "--yes"],
        "delete",
        "vm-101",
    );
    assert_change(
        &env,
        &["rm", "web-01", "--all", "--yes"],
        "delete-all",
        "vm-101",
    );
    assert_change(
        &env,
        &["consolidate", "db-01", "--yes"],
        "consolidate",
        "vm-201",
    );
    assert_change(
        &env,
        &["rm", "shop-front", "--all", "--yes"],
        "delete-all",
        "vps-1a2b3c4d.vps.ovh.net",
    );
    let revert = env
        .results()
        .into_iter()
        .find(|r| r["operation"] == "revert")
        .unwrap();
    assert_eq!(revert["target"], "snapshot-101");
    let children = env
        .results()
        .into_iter()
        .find(|r| r["operation"] == "delete-children")
        .unwrap();
    assert_eq!(children["target"], "snapshot-103");
}

#[test]
fn rename_succeeds() {
    let env = Env::new();
    let o = env.demo(&[
        "rename",
        "web-01",
        "snapshot-104",
        "--name",
        "rc-4.2",
        "--description",
        "Release 4.2",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("success"));
    let audit = env.results();
    let r = audit.iter().find(|r| r["operation"] == "rename").unwrap();
    assert_eq!(r["target"], "snapshot-104");
    assert_eq!(r["result"], "success");
}

/// A rename to a name another snapshot of the tree has asks (terminal) or needs --yes.
#[test]
fn rename_to_a_name_the_tree_has_needs_yes() {
    let env = Env::new();
    let args = ["rename", "web-01", "snapshot-104", "--name", "hotfix-test"];
    let line = one_sentence(&env.demo(&args), 3);
    assert!(
        line.contains("already named \"hotfix-test\" (snapshot-106)") && line.contains("--yes"),
        "{line}"
    );
    assert!(
        env.audit().is_empty(),
        "nothing was sent: {:?}",
        env.audit()
    );
    let mut yes = args.to_vec();
    yes.push("--yes");
    let o = env.demo(&yes);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // --yes answers the question, and says it did: the log of a script shows why.
    assert!(
        stderr(&o)
            .contains("already named \"hotfix-test\" (snapshot-106); renaming anyway (--yes)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn no_wait_prints_the_task_id() {
    let env = Env::new();
    let o = env.demo(&["take", "web-01", "--no-wait"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert!(
        !id.is_empty() && !id.contains(' '),
        "a task id on stdout: {id:?}"
    );
    assert!(
        stderr(&o).contains(&format!("task {id} started")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_bad_config_names_file_line_and_key() {
    let env = Env::new();
    let path = env.dir.path().join("bad.toml");
    std::fs::write(&path, "[ui]\ntheme = \"mono\"\ncolour = \"blue\"\n").unwrap();
    let p = path.to_str().unwrap();
    let line = one_sentence(&env.run(&["--config", p, "ls"]), 2);
    assert!(line.contains(p), "{line}");
    assert!(line.contains("line 3"), "{line}");
    assert!(line.contains("colour"), "{line}");
}

#[test]
fn info_prints_every_path() {
    let env = Env::new();
    let o = env.run(&["info"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let state = env.state().join("snaptree");
    let config = env.config_home().join("snaptree").join("config.toml");
    assert!(out.contains(config.to_str().unwrap()), "{out}");
    assert!(
        out.contains(state.join("audit.log").to_str().unwrap()),
        "{out}"
    );
    assert!(
        out.contains(state.join("snaptree.log").to_str().unwrap()),
        "{out}"
    );

    let given = env.dir.path().join("elsewhere.toml");
    std::fs::write(&given, "").unwrap();
    let o = env.run(&["--config", given.to_str().unwrap(), "info"]);
    assert!(
        stdout(&o).contains(given.to_str().unwrap()),
        "{}",
        stdout(&o)
    );
}

#[test]
fn take_memory_on_a_powered_off_vm_says_why() {
    let env = Env::new();
    let line = one_sentence(&env.demo(&["take", "db-02", "--memory"]), 2);
    assert!(line.contains("powered on"), "{line}");
    let line = one_sentence(&env.demo(&["take", "app-legacy", "--quiesce"]), 2);
    assert!(line.contains("VMware Tools"), "{line}");
    assert!(env.audit().is_empty());
}

#[test]
fn consolidate_on_a_vps_is_refused_with_the_reason() {
    let env = Env::new();
    let line = one_sentence(&env.demo(&["consolidate", "shop-front", "--yes"]), 2);
    assert!(line.contains("VPS"), "{line}");
}

#[test]
fn a_closed_stdout_ends_quietly_without_a_backtrace() {
    let env = Env::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_snaptree"))
        .args(["--demo", "ls"])
        .env("XDG_STATE_HOME", env.state())
        .env("XDG_CONFIG_HOME", env.config_home())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run snaptree");
    // Close the reading end before anything is printed, as `| head` does once it has enough.
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    let err = stderr(&o);
    assert!(
        !err.contains("panicked") && !err.contains("BACKTRACE"),
        "{err}"
    );
    assert_eq!(code(&o), 0, "{err}");
}

#[test]
fn a_closed_stderr_during_a_change_does_not_abort() {
    let env = Env::new();
    // `take … 2>&1 | head -1`: the pipe closes after the first progress line.
    let script = r#"set -o pipefail; "$0" --demo take web-01 --name piped 2>&1 | head -n 1 >/dev/null; echo "${PIPESTATUS[0]}""#;
    let o = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_snaptree"))
        .env("SNAPTREE_SIM_TASK_MS", "600")
        .env("XDG_STATE_HOME", env.state())
        .env("XDG_CONFIG_HOME", env.config_home())
        .env_remove("SNAPTREE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let status = stdout(&o).trim().to_string();
    assert_eq!(
        status, "0",
        "snaptree's exit status with its output closed: {status}"
    );
    // The change itself went through and was audited: ahead, then with its result.
    let audit = env.audit();
    let results: Vec<&Value> = audit.iter().map(|r| &r["result"]).collect();
    assert_eq!(results, ["sent", "started", "success"], "{audit:?}");
    assert_eq!(audit[1]["task_id"], audit[2]["task_id"], "{audit:?}");
}

/// `sim vsphere --viewer`: the second account reads the estate, and its take is refused
/// with the privilege named.
#[test]
fn the_vsphere_simulators_viewer_reads_but_may_not_take() {
    let env = Env::new();
    let bad = env.run(&["sim", "vsphere", "--viewer", "no-colon"]);
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("USER:PASS"), "{}", stderr(&bad));

    /// The simulator's process, ended when the test ends, whether it passes or not.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut sim = Running(
        Command::new(env!("CARGO_BIN_EXE_snaptree"))
            .args(["sim", "vsphere", "--listen", "127.0.0.1:0"])
            .args(["--viewer", "reader:reader-pw"])
            .env("XDG_STATE_HOME", env.state())
            .env("XDG_CONFIG_HOME", env.config_home())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the vSphere simulator"),
    );
    let mut out = BufReader::new(sim.0.stdout.take().unwrap());
    let (mut host, mut thumbprint, mut viewer_line) = (None, None, None);
    while thumbprint.is_none() {
        let mut line = String::new();
        if out.read_line(&mut line).expect("the simulator prints") == 0 {
            break;
        }
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("https://")) {
            host = url.strip_suffix("/sdk").map(String::from);
        }
        if line.starts_with("read-only user:") {
            viewer_line = Some(line.clone());
        }
        if let Some(t) = line.strip_prefix("certificate: ") {
            thumbprint = Some(t.trim().to_string());
        }
    }
    let (host, thumbprint) = (host.expect("a URL"), thumbprint.expect("a thumbprint"));
    assert!(
        viewer_line.is_some_and(|l| l.contains("reader") && l.contains("reader-pw")),
        "the description names the viewer"
    );
    let config = env.dir.path().join("viewer.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"{host}\"\nusername = \"reader\"\n\
             password = \"reader-pw\"\nthumbprint = \"{thumbprint}\"\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let tree = env.run(&["--config", config, "tree", "pcc/web-01"]);
    let take = env.run(&[
        "--config",
        config,
        "take",
        "pcc/jump-host",
        "--name",
        "t",
        "--yes",
    ]);
    drop(sim);
    assert_eq!(code(&tree), 0, "{}", stderr(&tree));
    assert!(stdout(&tree).contains("hotfix-test"), "{}", stdout(&tree));
    let line = one_sentence(&take, 1);
    assert!(
        line.contains("needs the privilege VirtualMachine.State.CreateSnapshot"),
        "{line}"
    );
}

/// `tree` says each snapshot's size, protection and expiry; `-D` adds when it was taken and
/// `-d` its description, as govc's `snapshot.tree -D -d`.
#[test]
fn tree_shows_size_lock_and_expiry_and_dates_and_descriptions_on_request() {
    let env = Env::new();
    let o = env.demo(&["tree", "pcc/web-01"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plain = stdout(&o);
    let line = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.contains(&format!(" {name}  ")) || l.contains(&format!("*{name}  ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            .to_string()
    };
    assert!(line(&plain, "base").contains("GiB"), "{plain}");
    assert!(
        line(&plain, "base").contains('🔒'),
        "a pinned snapshot: {plain}"
    );
    assert!(line(&plain, "hotfix-test").contains("expired"), "{plain}");
    assert!(!plain.contains("UTC"), "no dates unless asked: {plain}");
    assert!(
        !plain.contains("nginx"),
        "no descriptions unless asked: {plain}"
    );

    let o = env.demo(&["tree", "pcc/web-01", "-D", "-d"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let full = stdout(&o);
    let base = line(&full, "base");
    assert!(base.contains(" UTC"), "{base}");
    assert!(base.contains("\"Clean install"), "{base}");
    // A description that only repeats the name is not said twice.
    assert_eq!(
        line(&full, "after-patch").matches("after-patch").count(),
        1,
        "{full}"
    );
}

/// `report`'s table fits 160 columns by default; `-o wide` has every column, `--columns`
/// chooses them (in every format but JSON), an unknown one is a usage error naming them all.
#[test]
fn the_report_table_fits_160_columns_and_columns_are_chosen() {
    let env = Env::new();
    let o = env.demo(&["report"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let table = stdout(&o);
    let widest = table.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 160, "{widest} columns wide:\n{table}");
    let header = table.lines().next().unwrap_or_default().to_string();
    for column in ["machine", "snapshot", "age_days", "size_bytes", "protected"] {
        assert!(header.contains(column), "{header}");
    }

    let o = env.demo(&["report", "-o", "wide"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let wide = stdout(&o);
    let header = wide.lines().next().unwrap_or_default();
    assert_eq!(header.split_whitespace().count(), 24, "{header}");

    let o = env.demo(&["report", "--columns", "machine,snapshot,created_by"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let chosen = stdout(&o);
    assert_eq!(
        chosen
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["machine", "snapshot", "created_by"]
    );

    let o = env.demo(&["report", "--format", "csv", "--columns", "snapshot,machine"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("snapshot,machine\r\n"),
        "{}",
        stdout(&o)
    );

    let o = env.demo(&["report", "--columns", "machine,bogus"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("\"bogus\""), "{}", stderr(&o));
    assert!(stderr(&o).contains("size_bytes"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "nothing written: {}", stdout(&o));
}

/// A command's `--help` lists its own options first, the global ones under their own heading,
/// then examples.
#[test]
fn help_puts_the_commands_options_first_then_the_global_ones_then_examples() {
    let env = Env::new();
    let o = env.run(&["take", "--help"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let help = stdout(&o);
    let at = |what: &str| {
        help.find(what)
            .unwrap_or_else(|| panic!("take --help lacks {what}:\n{help}"))
    };
    assert!(at("--name") < at("Global options:"), "{help}");
    assert!(at("--quiesce") < at("Global options:"), "{help}");
    assert!(at("Global options:") < at("--config"), "{help}");
    assert!(at("Global options:") < at("--yes"), "{help}");
    assert!(at("--config") < at("Examples:"), "{help}");
    for command in [
        "demo",
        "ls",
        "tree",
        "take",
        "replace",
        "revert",
        "rm",
        "consolidate",
        "rename",
        "pin",
        "unpin",
        "prune",
        "report",
        "check",
        "login",
        "info",
        "completions",
        "man",
    ] {
        let o = env.run(&[command, "--help"]);
        let help = stdout(&o);
        assert!(
            help.contains("Examples:\n  snaptree "),
            "{command} --help has no example:\n{help}"
        );
    }
}

#[test]
fn completions_and_the_manual_page_cover_every_command_without_a_config() {
    let env = Env::new();
    let commands = [
        "demo",
        "ls",
        "tree",
        "take",
        "revert",
        "rm",
        "consolidate",
        "rename",
    ];
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = env.run(&[
            "--config",
            "/nonexistent/snaptree.toml",
            "completions",
            shell,
        ]);
        assert_eq!(code(&o), 0, "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for c in commands {
            assert!(script.contains(c), "{shell} completion lacks {c}");
        }
    }
    // bash loads the script and registers the completion.
    let script = stdout(&env.run(&["completions", "bash"]));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("snaptree.bash");
    std::fs::write(&file, script).expect("script written");
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p snaptree", file.display()))
        .output()
        .expect("bash runs");
    assert!(
        stdout(&loaded).contains("-F _snaptree snaptree"),
        "{}",
        stderr(&loaded)
    );

    let o = env.run(&["man"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let page = stdout(&o);
    assert!(
        page.starts_with(".ie") || page.contains(".TH snaptree"),
        "{page}"
    );
    for c in commands {
        let section = format!(".SH \"SNAPTREE {}\"", c.to_uppercase());
        assert!(page.contains(&section), "the manual page lacks {section}");
    }
    assert!(
        page.contains("\\-\\-suppress\\-power\\-on"),
        "subcommand options are listed"
    );
    // What a reader of a manual looks for, beyond the options.
    for section in [
        ".SH DESCRIPTION",
        ".SH CONFIGURATION",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXIT STATUS",
        ".SH KEYS",
        ".SH EXAMPLES",
    ] {
        assert!(page.contains(section), "the manual page lacks {section}");
    }
    for word in [
        "SNAPTREE_CONFIG",
        "GOVC_URL",
        "NO_COLOR",
        "audit.log",
        "130",
    ] {
        assert!(page.contains(word), "the manual page never says {word}");
    }
    for b in snaptree::app::KEYMAP {
        assert!(
            page.contains(&format!("\n{}\n", b.name)),
            "KEYS lacks {} ({})",
            b.label,
            b.name
        );
    }

    let o = env.run(&["completions", "tcsh"]);
    assert_eq!(code(&o), 2, "an unknown shell is a usage error");
}

#[test]
fn take_prints_the_new_id_alone_and_the_audit_names_it() {
    let env = Env::new();
    for machine in ["web-01", "blog"] {
        let o = env.demo(&["take", machine, "--name", "scripted"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let id = stdout(&o);
        let id = id.strip_suffix('\n').expect("one line");
        assert!(
            !id.is_empty() && !id.contains(char::is_whitespace),
            "{id:?}"
        );
        // A new id: not one of the estate's before the take (each demo process starts from
        // the same estate; ovh_cli checks the id against the simulator's own state).
        let tree = json(&env.demo(&["--json", "tree", machine]));
        let text = tree["snapshots"].to_string();
        assert!(
            !text.contains(&format!("\"id\":\"{id}\"")),
            "{id} is not new: {text}"
        );
        let audit = env.audit();
        let last = audit.last().expect("an audit line");
        assert_eq!(last["operation"], "take");
        assert_eq!(last["target"], id, "{last}");
    }
    // With --json the task summary carries it.
    let summary = json(&env.demo(&["--json", "take", "web-01", "--name", "json"]));
    let id = summary["snapshot"].as_str().expect("a snapshot id");
    assert!(id.starts_with("snapshot-"), "{summary}");
    assert_eq!(summary["state"], "success");
}

/// Ctrl-C (SIGINT) while a change is followed: the task goes on on the server, snaptree
/// says so and exits 130 without cancelling it, and the audit log already holds the
/// change's "sent" and "started" lines (written ahead), the task id included.
#[test]
fn an_interrupted_change_leaves_its_audit_lines_and_is_not_cancelled() {
    let env = Env::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_snaptree"))
        .args(["--demo", "take", "web-01", "--name", "long"])
        .env("SNAPTREE_SIM_TASK_MS", "20000")
        .env("XDG_STATE_HOME", env.state())
        .env("XDG_CONFIG_HOME", env.config_home())
        .env_remove("SNAPTREE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run snaptree");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("started") {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "ended early: {seen}");
        seen.push_str(&line);
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("goes on on the server"), "{rest}");
    let audit = env.audit();
    let results: Vec<&Value> = audit.iter().map(|r| &r["result"]).collect();
    assert_eq!(results, ["sent", "started"], "{audit:?}");
    assert!(audit[1]["task_id"].is_string(), "{audit:?}");
}

#[test]
fn a_name_longer_than_the_back_end_takes_is_refused_with_the_limit() {
    let env = Env::new();
    let long = "n".repeat(81);
    let o = env.demo(&["take", "pcc/web-01", "--name", &long, "--yes"]);
    let said = one_sentence(&o, 2);
    assert!(said.contains("at most 80 characters"), "{said}");
    assert!(said.contains("81"), "{said}");
    assert!(env.results().is_empty(), "nothing was sent");
    let o = env.demo(&["take", "pcc/web-01", "--name", &"n".repeat(80), "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn prune_without_a_criterion_is_a_usage_error_never_delete_everything() {
    let env = Env::new();
    for args in [
        &["prune", "--yes"][..],
        &["prune", "--keep-last", "1", "--yes"][..],
    ] {
        let o = env.demo(args);
        assert!(one_sentence(&o, 2).contains("at least one of --older-than"));
    }
    assert!(env.results().is_empty());
}

#[test]
fn prune_dry_run_prints_the_plan_and_changes_nothing() {
    let env = Env::new();
    let o = env.demo(&["prune", "--older-than", "50d", "--dry-run", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["total"]["snapshots"], 4, "{v}");
    assert_eq!(v["total"]["machines"], 2, "{v}");
    for m in v["plan"].as_array().unwrap() {
        for key in ["profile", "machine", "machine_id"] {
            assert!(m[key].is_string(), "{key}: {m}");
        }
        for s in m["snapshots"].as_array().unwrap() {
            assert!(s["id"].is_string() && s["path"].is_string(), "{s}");
            assert!(is_rfc3339_utc(&s["created"]), "{s}");
            assert!(
                s["reason"].as_str().unwrap().contains("old (over 50d)"),
                "{s}"
            );
        }
    }
    assert!(v.get("result").is_none());
    assert!(env.results().is_empty(), "a dry run sends nothing");
    // The table names each snapshot and the totals.
    let o = env.demo(&["prune", "--older-than", "50d", "--dry-run"]);
    let out = stdout(&o);
    assert!(out.contains("pcc/app-legacy"), "{out}");
    assert!(out.contains("4 snapshot(s) on 2 machine(s)"), "{out}");
}

/// Retention tiers alone select what no tier keeps: on web-01 (six snapshots on six days,
/// `base` pinned) `--keep-daily 2` keeps the two newest days' and selects the rest but the
/// pinned one; the plan and `left_out` say which tier kept what, for which day.
#[test]
fn prune_with_retention_tiers_keeps_the_newest_of_each_period() {
    let env = Env::new();
    let o = env.demo(&[
        "prune",
        "web-01",
        "--keep-daily",
        "2",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["total"]["snapshots"], 3, "{v}");
    for s in v["plan"][0]["snapshots"].as_array().unwrap() {
        assert_eq!(s["reason"], "no tier keeps it (--keep-daily 2)", "{s}");
    }
    let left = v["left_out"].as_array().expect("left_out");
    let kept: Vec<&str> = left
        .iter()
        .filter(|x| {
            x["reason"]
                .as_str()
                .unwrap()
                .starts_with("kept by --keep-daily (the newest of ")
        })
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(kept.len(), 2, "{v}");
    assert!(
        left.iter()
            .any(|x| x["name"] == "base" && x["reason"] == "pinned ([keep])"),
        "{v}"
    );
    // With another criterion the tiers only keep; the table counts what each kept.
    let o = env.demo(&[
        "prune",
        "web-01",
        "--older-than",
        "1d",
        "--keep-weekly",
        "1",
        "--dry-run",
    ]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(out.contains("1 kept by --keep-weekly"), "{out}");
    assert!(env.results().is_empty(), "a dry run sends nothing");
}

#[test]
fn prune_runs_the_plan_after_confirmation_and_sums_it_up() {
    let env = Env::new();
    // Without a terminal and without --yes: refused.
    let o = env.demo(&["prune", "--older-than", "50d"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(env.results().is_empty());
    let o = env.demo(&["prune", "--older-than", "50d", "--yes", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["result"]["done"], 4, "{v}");
    assert_eq!(v["result"]["failed"], 0);
    assert!(
        stderr(&o).contains("prune ended: 4 done, 0 failed, 0 skipped"),
        "{}",
        stderr(&o)
    );
    let results = env.results();
    let deleted: Vec<&Value> = results
        .iter()
        .filter(|r| r["operation"] == "delete")
        .collect();
    assert_eq!(deleted.len(), 4, "every step audited");
    assert!(
        deleted.iter().all(|r| r["result"] == "success"),
        "{deleted:?}"
    );
}

#[test]
fn ctrl_c_during_prune_stops_the_plan_and_says_what_goes_on() {
    let env = Env::new();
    let child = Command::new(env!("CARGO_BIN_EXE_snaptree"))
        .args(["--demo", "prune", "--older-than", "50d", "--yes"])
        .env("SNAPTREE_SIM_TASK_MS", "5000")
        .env("XDG_STATE_HOME", env.state())
        .env("XDG_CONFIG_HOME", env.config_home())
        .env_remove("SNAPTREE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Once a step has started (its "started" line is in the audit log), interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !env.audit().iter().any(|r| r["result"] == "started") {
        assert!(std::time::Instant::now() < deadline, "no step started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let o = child.wait_with_output().expect("wait");
    assert_eq!(code(&o), 130, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("prune interrupted"), "{err}");
    assert!(err.contains("go on on the server"), "{err}");
}

/// The report's columns, as docs/report.md ("Columns") names and orders them.
const COLUMNS: [&str; 24] = [
    "profile",
    "provider",
    "location",
    "machine",
    "machine_id",
    "power_state",
    "snapshot",
    "snapshot_id",
    "path",
    "description",
    "created",
    "age_days",
    "size_bytes",
    "memory",
    "quiesced",
    "current",
    "depth",
    "consolidation_needed",
    "created_by",
    "expires",
    "protected",
    "phantom_deltas",
    "backups",
    "newest_backup",
];

/// Snapshots and machines without any, as `ls --json` counts them.
fn demo_counts(env: &Env) -> (usize, usize) {
    let ls = json(&env.demo(&["ls", "--json"]));
    let machines = ls["machines"].as_array().unwrap();
    let snapshots = machines
        .iter()
        .map(|m| m["snapshot_count"].as_u64().unwrap() as usize)
        .sum();
    let bare = machines.iter().filter(|m| m["snapshot_count"] == 0).count();
    (snapshots, bare)
}

#[test]
fn report_csv_reads_in_pythons_csv_with_the_exact_header_and_a_row_per_snapshot() {
    let env = Env::new();
    let (snapshots, bare) = demo_counts(&env);
    let o = env.demo(&["report", "--format", "csv"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let read = crate::common::peers::read_as("csv", &o.stdout);
    assert_eq!(read["header"], serde_json::json!(COLUMNS));
    let rows = read["rows"].as_array().unwrap();
    // And jump-host's: no snapshot, but a phantom delta.
    assert_eq!(rows.len(), snapshots + 1);
    let col = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
    let base = rows
        .iter()
        .find(|r| r[col("snapshot_id")] == "snapshot-101")
        .expect("web-01's base");
    assert_eq!(base[col("machine")], "web-01");
    assert_eq!(base[col("location")], "Paris-DC1/prod/web");
    assert_eq!(
        base[col("description")],
        "Clean install, hardened [keep]",
        "the comma stays in its cell"
    );
    assert_eq!(base[col("protected")], "true", "pinned");
    assert_eq!(base[col("depth")], "1");
    assert!(
        is_rfc3339_utc(&base[col("created")]),
        "{}",
        base[col("created")]
    );
    assert!(
        base[col("size_bytes")]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok(),
        "bytes"
    );
    // Who took it, from the vSphere task history; the 40-day-old base is beyond it.
    let by = |id: &str| {
        rows.iter()
            .find(|r| r[col("snapshot_id")] == id)
            .map(|r| r[col("created_by")].clone())
            .unwrap()
    };
    assert_eq!(by("snapshot-102"), "VSPHERE.LOCAL\\j.martin");
    assert_eq!(by("snapshot-101"), "", "older than the history's 30 days");
    let hotfix = rows
        .iter()
        .find(|r| r[col("snapshot_id")] == "snapshot-106")
        .unwrap();
    assert!(
        is_rfc3339_utc(&hotfix[col("expires")]),
        "{:?}",
        hotfix[col("expires")]
    );
    // VPS snapshots: no size, no creator.
    let vps = rows.iter().find(|r| r[col("provider")] == "ovh").unwrap();
    assert_eq!(vps[col("size_bytes")], "");
    assert_eq!(vps[col("created_by")], "");
    // --all: a row for each machine without snapshots, its snapshot fields empty.
    let all = env.demo(&["report", "--format", "csv", "--all"]);
    let read = crate::common::peers::read_as("csv", &all.stdout);
    let rows = read["rows"].as_array().unwrap();
    assert_eq!(rows.len(), snapshots + bare);
    let empty = rows.iter().find(|r| r[col("snapshot_id")] == "").unwrap();
    assert_eq!(empty[col("snapshot")], "");
    assert_eq!(empty[col("created")], "");
}

#[test]
fn report_json_and_markdown_have_the_columns_in_order_and_a_row_per_snapshot() {
    let env = Env::new();
    let (snapshots, _) = demo_counts(&env);
    let o = env.demo(&["report", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let keys = crate::common::peers::read_as("json", &o.stdout);
    let keys = keys["keys"].as_array().unwrap();
    // And a row for jump-host, which has no snapshot but runs on a phantom delta.
    assert_eq!(keys.len(), snapshots + 1);
    assert!(
        keys.iter().all(|k| *k == serde_json::json!(COLUMNS)),
        "{:?}",
        keys[0]
    );
    let v = json(&o);
    let first = &v["snapshots"][0];
    for (key, kind) in [
        ("age_days", "number"),
        ("memory", "bool"),
        ("depth", "number"),
        ("created", "string"),
        ("created_by", "string or null"),
        ("expires", "string or null"),
    ] {
        let ok = match kind {
            "number" => first[key].is_u64(),
            "bool" => first[key].is_boolean(),
            "string" => first[key].is_string(),
            _ => first[key].is_string() || first[key].is_null(),
        };
        assert!(ok, "{key} is not a {kind}: {first}");
    }
    let md = env.demo(&["report", "--format", "markdown"]);
    let text = stdout(&md);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 + snapshots + 1, "{text}");
    assert_eq!(lines[1], format!("|{}", "---|".repeat(24)));
    for l in &lines {
        // 24 cells: 25 pipes that are not escaped.
        let pipes = l.matches('|').count() - l.matches("\\|").count();
        assert_eq!(pipes, 25, "{l}");
    }
    // The table is for people: sizes in units, dates to the minute.
    let table = stdout(&env.demo(&["report", "-o", "wide"]));
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .starts_with("profile  provider  location"),
        "{table}"
    );
    assert!(table.contains("GiB"), "{table}");
    assert_eq!(table.lines().count(), 1 + snapshots + 1);
}

#[test]
fn check_says_each_state_with_its_exit_code_and_perfdata() {
    let env = Env::new();
    let o = env.demo(&["check"]);
    let out = stdout(&o);
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("SNAPTREE CRITICAL - "), "{first}");
    let (_, perf) = first.split_once(" | ").expect("perfdata after |");
    assert!(
        perf.contains("oldest_age=") && perf.contains("snapshots="),
        "{perf}"
    );
    assert_eq!(code(&o), 2, "{out}");
    assert!(
        out.contains("CRITICAL: pcc/build-runner: snapshot \"clean-install\""),
        "{out}"
    );
    let lax = crate::common::LAX_CHECK;
    let ok = env.demo(&[&["check", "web-02"][..], &lax[..]].concat());
    assert_eq!(code(&ok), 0, "{}", stdout(&ok));
    assert!(
        stdout(&ok).starts_with("SNAPTREE OK - 1 snapshot(s) on 1 machine(s)"),
        "{}",
        stdout(&ok)
    );
    // db-01 needs consolidation: a warning whatever the ages.
    let warn = env.demo(&[&["check", "db-01"][..], &lax[..]].concat());
    assert_eq!(code(&warn), 1, "{}", stdout(&warn));
    assert!(stdout(&warn).contains("WARNING: pcc/db-01: its disks need consolidation"));
    // web-01's chain of 4 is deeper than 3.
    let deep = env.demo(&[
        "check",
        "web-01",
        "--warn-age",
        "1000d",
        "--crit-age",
        "2000d",
    ]);
    assert_eq!(code(&deep), 1);
    assert!(
        stdout(&deep).contains("a chain of 4 snapshots (more than 3)"),
        "{}",
        stdout(&deep)
    );
    let jo = env.demo(&["check", "--format", "json"]);
    assert_eq!(code(&jo), 2, "the state's exit code in JSON too");
    let j: Value = serde_json::from_slice(&jo.stdout).unwrap();
    assert_eq!(j["state"], "CRITICAL");
    assert_eq!(j["exit_code"], 2);
    assert!(
        j["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["snapshot_id"] == "snapshot-141")
    );
    let bad = env.demo(&["check", "--warn-age", "soon"]);
    assert_eq!(code(&bad), 2, "a usage error");
}

/// A pinned snapshot is kept on purpose: `check` leaves it out of the age problems and
/// counts it apart (the summary and the perfdata say how many, the JSON too), unless
/// `--include-protected`. web-01's `base` (snapshot-101) is 40 days old and pinned.
#[test]
fn check_leaves_protected_snapshots_out_unless_asked() {
    let env = Env::new();
    let o = env.demo(&["check", "web-01"]);
    let out = stdout(&o);
    assert!(!out.contains("snapshot-101"), "{out}");
    let first = out.lines().next().unwrap();
    assert!(first.contains("1 protected left out"), "{first}");
    assert!(first.contains(" protected=1;;;0 "), "{first}");
    let j: Value =
        serde_json::from_slice(&env.demo(&["check", "web-01", "--json"]).stdout).unwrap();
    assert_eq!(j["protected"], 1);
    assert!(j["protected_oldest_age_seconds"].as_i64().unwrap() > 39 * 86_400);
    let all = env.demo(&["check", "web-01", "--include-protected"]);
    let out = stdout(&all);
    assert_eq!(code(&all), 2, "{out}");
    assert!(
        out.contains("CRITICAL: pcc/web-01: snapshot \"base\" (snapshot-101)"),
        "{out}"
    );
    assert!(
        out.lines().next().unwrap().contains(" protected=0;;;0 "),
        "{out}"
    );
}

#[test]
fn check_prometheus_reads_in_the_official_parser_with_an_age_for_every_snapshot() {
    let env = Env::new();
    let (snapshots, _) = demo_counts(&env);
    let o = env.demo(&["check", "--format", "prometheus"]);
    assert_eq!(code(&o), 0, "metrics printed: a success whatever the state");
    let families = crate::common::peers::read_as("prom", &o.stdout);
    let ages = families["snaptree_snapshot_age_seconds"]
        .as_array()
        .unwrap();
    assert_eq!(ages.len(), snapshots);
    let base = ages
        .iter()
        .find(|s| s["labels"]["snapshot_id"] == "snapshot-101")
        .unwrap();
    assert_eq!(base["labels"]["machine"], "web-01");
    assert_eq!(base["labels"]["profile"], "pcc");
    assert!(base["value"].as_f64().unwrap() > 39.0 * 86_400.0);
    let up = families["snaptree_profile_up"].as_array().unwrap();
    assert_eq!(up.len(), 3);
    assert!(up.iter().all(|s| s["value"] == 1.0));
    let consolidation = families["snaptree_machine_consolidation_needed"]
        .as_array()
        .unwrap();
    let db01 = consolidation
        .iter()
        .find(|s| s["labels"]["machine"] == "db-01")
        .unwrap();
    assert_eq!(db01["value"], 1.0);
    assert!(families["snaptree_machine_snapshots"].is_array());
    assert!(families["snaptree_snapshot_size_bytes"].is_array());
}

/// No profile configured: `check` checked nothing, so it says UNKNOWN (exit 3), not OK.
#[test]
fn check_with_no_profile_configured_is_unknown() {
    let env = Env::new();
    let missing = env.dir.path().join("none.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_snaptree"))
        .arg("--config")
        .arg(&missing)
        .arg("check")
        .env("XDG_STATE_HOME", env.state())
        .env("XDG_CONFIG_HOME", env.config_home())
        .env_remove("SNAPTREE_CONFIG")
        .env_remove("GOVC_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run snaptree");
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("SNAPTREE UNKNOWN - 0 snapshot(s) on 0 machine(s), no profile configured"),
        "{out}"
    );
    assert!(out.contains("UNKNOWN: no profile is configured"), "{out}");
}

/// `snaptree --demo ARGS` on a pseudo-terminal, answering `answer` to its question: the
/// exit code and everything it wrote.
fn demo_on_a_terminal(env: &Env, args: &[&str], answer: &str) -> (u32, String) {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::io::{Read, Write};
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("open a pty");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_snaptree"));
    cmd.arg("--demo");
    cmd.args(args);
    cmd.env("SNAPTREE_SIM_TASK_MS", "300");
    cmd.env("XDG_STATE_HOME", env.state());
    cmd.env("XDG_CONFIG_HOME", env.config_home());
    cmd.env_remove("SNAPTREE_CONFIG");
    let mut child = pair.slave.spawn_command(cmd).expect("spawn snaptree");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("pty reader");
    let mut writer = pair.master.take_writer().expect("pty writer");
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let o = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            o.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let start = std::time::Instant::now();
    while !(out.lock().unwrap().contains("to confirm") || out.lock().unwrap().contains("Proceed?"))
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "no question; it wrote: {}",
            out.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    writer
        .write_all(format!("{answer}\r").as_bytes())
        .expect("answer");
    let status = child.wait().expect("wait");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let text = out.lock().unwrap().clone();
    (status.exit_code(), text)
}

#[test]
fn a_subtree_delete_needs_the_count_typed_on_a_terminal_and_yes_without_one() {
    // before-upgrade (snapshot-102) and its 2 descendants: y is not enough.
    let env = Env::new();
    let args = ["rm", "web-01", "snapshot-102", "--children"];
    let (exit, text) = demo_on_a_terminal(&env, &args, "y");
    assert!(
        text.contains("Type 3 (the number of snapshots) to confirm"),
        "{text}"
    );
    assert_eq!(exit, 3, "{text}");
    assert!(env.results().is_empty(), "{:?}", env.audit());
    let (exit, text) = demo_on_a_terminal(&env, &args, "3");
    assert_eq!(exit, 0, "{text}");
    // A pinned snapshot alone (base, snapshot-101, `[keep]`): the machine's name is typed,
    // and the question says it is protected.
    let env = Env::new();
    let args = ["rm", "web-01", "snapshot-101"];
    let (exit, text) = demo_on_a_terminal(&env, &args, "y");
    assert!(text.contains("Type web-01 to confirm"), "{text}");
    assert!(text.contains("Protected"), "{text}");
    assert_eq!(exit, 3, "{text}");
    assert!(env.results().is_empty(), "{:?}", env.audit());
    // Without a terminal, --yes is the confirmation, as before.
    let env = Env::new();
    let o = env.demo(&["rm", "web-01", "snapshot-101", "--children", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        env.results()
            .iter()
            .filter(|r| r["result"] == "success")
            .count(),
        1,
        "{:?}",
        env.audit()
    );
}

/// MACHINE is also the inventory path `ls --json` prints, or a glob selecting one; a word
/// that selects several lists them (exit 2), nothing chosen.
#[test]
fn a_machine_is_addressed_by_its_inventory_path_or_a_glob() {
    let env = Env::new();
    let o = env.demo(&["tree", "/Paris-DC1/vm/prod/web/web-01"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("pcc/web-01 (vm-101)"),
        "{}",
        stdout(&o)
    );
    let o = env.demo(&["tree", "pcc/web-0?", "--json"]);
    let line = one_sentence(&o, 2);
    assert!(
        line.contains("ambiguous")
            && line.contains("pcc/vm-101 (pcc/web-01)")
            && line.contains("pcc/vm-102 (pcc/web-02)"),
        "{line}"
    );
    let line = one_sentence(&env.demo(&["tree", "web"]), 2);
    assert!(
        line.contains("did you mean: pcc/vm-101 (pcc/web-01), pcc/vm-102 (pcc/web-02)"),
        "{line}"
    );
    let o = env.demo(&["tree", "build-*"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// `--warn-size`/`--crit-size` against all of a machine's snapshots together, and
/// `--warn-count`/`--crit-count` against how many it has (web-01: six, its pinned `base`
/// left out): over a limit is a problem, at it is not; a size in decimal units is refused.
#[test]
fn check_limits_each_machine_by_size_and_count() {
    let env = Env::new();
    let lax = crate::common::LAX_CHECK;
    let run = |extra: &[&str]| env.demo(&[&["check", "web-01"][..], &lax[..], extra].concat());
    let j: Value = serde_json::from_slice(&run(&["--json"]).stdout).unwrap();
    assert_eq!(j["state"], "OK", "{j}");
    assert_eq!(j["max_count"], 5, "{j}");
    let size = j["max_size_bytes"].as_u64().expect("a size");
    assert!(size > 0, "{j}");
    assert_eq!(j["limits"]["warn_size_bytes"], Value::Null);

    let at = size.to_string();
    let under = (size - 1).to_string();
    let o = run(&["--warn-size", &under, "--crit-size", &at]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(
        out.contains("WARNING: pcc/web-01: its snapshots take "),
        "{out}"
    );
    let first = out.lines().next().unwrap();
    assert!(
        first.contains(&format!(" max_size={size}B;{under};{at};0 ")),
        "{first}"
    );
    let o = run(&["--crit-size", &under]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));

    let o = run(&["--warn-count", "4", "--crit-count", "5"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(
        out.contains("WARNING: pcc/web-01: 5 snapshots (more than 4)"),
        "{out}"
    );
    assert!(
        out.lines().next().unwrap().contains(" max_count=5;4;5;0 "),
        "{out}"
    );
    // With the protected ones, six.
    let o = run(&["--crit-count", "5", "--include-protected"]);
    assert!(stdout(&o).contains("CRITICAL: pcc/web-01: 6 snapshots (more than 5)"));

    let bad = run(&["--warn-size", "10GB"]);
    assert_eq!(code(&bad), 2, "a usage error");
    assert!(
        stderr(&bad).contains("a GB is not a GiB"),
        "{}",
        stderr(&bad)
    );
}

/// `take --quiesce-timeout`: with `-q`, whole minutes from 5 to 240 (vSphere's bounds),
/// else a usage error; the demo's vSphere (vSphere 8) takes it.
#[test]
fn take_with_a_quiesce_time_limit() {
    let env = Env::new();
    let o = env.demo(&["take", "pcc/web-01", "--quiesce-timeout", "10m", "--yes"]);
    assert!(one_sentence(&o, 2).contains("needs a quiesced snapshot"));
    let o = env.demo(&[
        "take",
        "pcc/web-01",
        "-q",
        "--quiesce-timeout",
        "3m",
        "--yes",
    ]);
    assert!(one_sentence(&o, 2).contains("5 to 240 minutes"));
    assert!(env.results().is_empty(), "nothing sent");
    let o = env.demo(&[
        "take",
        "pcc/web-01",
        "-q",
        "--quiesce-timeout",
        "15m",
        "-n",
        "q15",
        "--yes",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("not applied"), "{}", stderr(&o));
}

/// The demo's jump-host runs on a delta disk no snapshot owns (the vSphere simulator serves
/// its chain as vCenter does): `ls --json`, `check` and `report` name the file.
#[test]
fn a_phantom_delta_is_a_warning_that_names_its_file() {
    let env = Env::new();
    let file = "[datastore1] jump-host/jump-host-000001.vmdk";
    let v = json(&env.demo(&["ls", "--json"]));
    let machines = v["machines"].as_array().expect("machines");
    for m in machines {
        let phantom = m["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|w| w == "phantom_delta");
        assert_eq!(phantom, m["name"] == "jump-host", "{m}");
        let files = m["phantom_deltas"].as_array().expect("phantom_deltas");
        assert_eq!(files.is_empty(), m["name"] != "jump-host", "{m}");
    }
    let jump = machines.iter().find(|m| m["name"] == "jump-host").unwrap();
    assert_eq!(jump["phantom_deltas"][0]["file"], file);
    assert_eq!(jump["phantom_deltas"][0]["disk"], 2000);
    let check = env.demo(&["check"]);
    let out = stdout(&check);
    assert!(
        out.contains(&format!(
            "WARNING: pcc/jump-host: runs on {file} (disk 2000), a delta no snapshot owns: consolidate its disks"
        )),
        "{out}"
    );
    assert!(out.contains(" phantom_deltas=1;0;;0 "), "{out}");
    // The report lists it though it has no snapshot (a snapshot in all but name).
    let csv = stdout(&env.demo(&[
        "report",
        "--format",
        "csv",
        "--columns",
        "machine,snapshot,phantom_deltas",
    ]));
    assert!(
        csv.lines().any(|l| l == format!("jump-host,,{file}")),
        "{csv}"
    );
}

/// monitoring's datastore has 2 GiB free; merging its snapshot's delta may need ~3.9 GiB.
#[test]
fn a_delete_without_room_to_merge_is_refused_unless_allowed() {
    let env = Env::new();
    let args = ["rm", "pcc/monitoring", "before-grafana-11", "--yes"];
    let refused = env.demo(&args);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    let why = stderr(&refused);
    for words in [
        "pcc/monitoring",
        "datastore rbx-ssd-02",
        "2.0 GiB free",
        "not enough room",
        "--allow-low-space",
    ] {
        assert!(why.contains(words), "{words}: {why}");
    }
    assert!(env.audit().is_empty(), "nothing is sent: {:?}", env.audit());
    let all = env.demo(&["rm", "pcc/monitoring", "--all", "--yes"]);
    assert_eq!(code(&all), 2, "{}", stderr(&all));
    let mut allowed = args.to_vec();
    allowed.push("--allow-low-space");
    let ran = env.demo(&allowed);
    assert_eq!(code(&ran), 0, "{}", stderr(&ran));
    let results = env.results();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["result"], "success");
}

/// A plan's machine short of room is skipped with the reason; the others run.
#[test]
fn prune_skips_a_machine_without_room_and_gives_each_its_room() {
    let env = Env::new();
    let plan = json(&env.demo(&["prune", "--older-than", "1h", "--dry-run", "--json"]));
    let room = |name: &str| {
        plan["plan"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["machine"] == name)
            .map(|m| m["room"].clone())
            .unwrap()
    };
    let short = room("monitoring");
    assert_eq!(short["datastore"], "rbx-ssd-02");
    assert_eq!(short["enough"], false);
    assert_eq!(short["free_bytes"], 2u64 << 30);
    assert!(
        short["needed_bytes"].as_u64().unwrap() > 2u64 << 30,
        "{short}"
    );
    assert_eq!(room("web-02")["enough"], true);
    assert!(room("shop-front").is_null(), "a VPS merges nothing");
    let run = env.demo(&[
        "prune",
        "--name",
        "before-grafana-11",
        "--name",
        "hotfix-test",
        "--yes",
        "--json",
    ]);
    assert_eq!(code(&run), 1, "{}", stderr(&run));
    let v: Value = serde_json::from_str(&stdout(&run)).expect("prune --json");
    assert_eq!(v["result"]["done"], 1, "{v}");
    assert_eq!(v["result"]["skipped"], 1, "{v}");
    let err = stderr(&run);
    assert!(
        err.contains("pcc/monitoring: skipped: not enough room on datastore rbx-ssd-02"),
        "{err}"
    );
    assert!(err.contains("2 of 2 · "), "the skipped step counts: {err}");
    let results = env.results();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["machine"], "vm-101", "{results:?}");
}

/// The demo's mail VPS has the automated backup option: 7 restore points a day at 22:00
/// UTC, the newest mounted.
#[test]
fn backup_ls_lists_a_vps_restore_points_and_says_why_there_are_none() {
    let env = Env::new();
    let v = json(&env.demo(&["backup", "ls", "ovh/mail", "--json"]));
    assert_eq!(v["state"], "enabled");
    assert_eq!(v["schedule"], "22:00:00");
    let points = v["restore_points"].as_array().expect("restore_points");
    assert_eq!(points.len(), 7, "{v}");
    let times: Vec<&str> = points.iter().map(|p| p["time"].as_str().unwrap()).collect();
    assert!(times.iter().all(|t| t.ends_with("T22:00:00Z")), "{times:?}");
    assert!(
        times.windows(2).all(|w| w[0] > w[1]),
        "newest first: {times:?}"
    );
    assert_eq!(points[0]["state"], "restored");
    assert!(points[1..].iter().all(|p| p["state"] == "available"), "{v}");
    assert_eq!(v["attached"][0]["time"], points[0]["time"]);
    assert!(
        v["attached"][0]["nfs"]
            .as_str()
            .unwrap()
            .starts_with("10.20.30.40:/backup/vps-3a4b5c6d.vps.ovh.net/"),
        "{v}"
    );
    let text = stdout(&env.demo(&["backup", "ls", "ovh/mail"]));
    assert!(
        text.starts_with(
            "ovh/mail: automated backup daily at 22:00 UTC · 7 restore point(s), newest "
        ),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1 + 7 + 1, "{text}");
    let none = env.demo(&["backup", "ls", "ovh/blog"]);
    assert_eq!(code(&none), 2);
    assert!(stderr(&none).contains("the automatedBackup option is not subscribed"));
    let vm = env.demo(&["backup", "ls", "pcc/web-01"]);
    assert_eq!(code(&vm), 2);
    assert!(stderr(&vm).contains("automated backups are an OVHcloud VPS's"));
}

/// `check --warn-backup-age`: mail's newest restore point is from the last 22:00 UTC.
#[test]
fn check_warns_of_a_vps_whose_newest_restore_point_is_too_old() {
    let env = Env::new();
    let quiet = stdout(&env.demo(&["check", "ovh/mail", "--warn-backup-age", "2d"]));
    assert!(!quiet.contains("restore point"), "{quiet}");
    assert!(quiet.contains(" backup_age="), "{quiet}");
    let out = env.demo(&["check", "ovh/mail", "--warn-backup-age", "1s"]);
    let text = stdout(&out);
    assert!(
        text.contains("WARNING: ovh/mail: its newest restore point is "),
        "{text}"
    );
    // Prometheus: the restore points and the newest one's age, for the VPS with the option.
    let metrics = stdout(&env.demo(&["check", "--format", "prometheus"]));
    let points: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("snaptree_vps_restore_points{"))
        .collect();
    assert_eq!(points.len(), 1, "{metrics}");
    assert!(
        points[0].contains("machine=\"mail\"") && points[0].ends_with(" 7"),
        "{points:?}"
    );
    assert!(
        metrics.contains("snaptree_vps_newest_restore_point_age_seconds{"),
        "{metrics}"
    );
    // The report says how many restore points and the newest, on the VPS's rows.
    let csv = stdout(&env.demo(&[
        "report",
        "ovh/mail",
        "--format",
        "csv",
        "--columns",
        "machine,backups,newest_backup",
    ]));
    let row = csv.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with("mail,7,"), "{csv}");
    assert!(row.ends_with("T22:00:00Z"), "{csv}");
}
