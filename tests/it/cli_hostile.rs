//! The real binary against snaptree's vSphere simulator holding what a careless colleague
//! or a hostile server can put there: a snapshot named like a path, names with control
//! characters, a chain thousands of levels deep. And durations too long for a calendar.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use chrono::Utc;
use snaptree::model::{PowerState, Snapshot};
use snaptree::sim::vsphere::VsphereSimOptions;

use crate::common::output::{code, stderr, stdout};
use crate::common::vsim::run_binary as run;

fn snapshot(id: &str, name: &str, children: Vec<Snapshot>) -> Snapshot {
    Snapshot {
        id: id.into(),
        name: name.into(),
        description: String::new(),
        created: Utc::now() - chrono::Duration::days(2),
        power_state: PowerState::PoweredOff,
        memory: false,
        quiesced: false,
        size_bytes: None,
        created_by: None,
        children,
    }
}

/// No byte a terminal acts on, but the newline that ends each line.
fn assert_no_control(what: &str, text: &str) {
    for line in text.lines() {
        assert!(
            !line.chars().any(|c| c.is_control()),
            "{what}: a control character reached the output: {line:?}"
        );
    }
}

/// `a` → `b` → a snapshot named `a/b`: the address `a/b` is both the path to `b` and the
/// third one's name. `rm` refuses it (exit 2) naming both ids, deletes nothing, and the id
/// addresses the one meant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_reads_as_a_path_is_ambiguous_and_its_id_addresses_it() {
    let (estate, sim) =
        crate::common::vsim::start(Duration::from_millis(100), VsphereSimOptions::default()).await;
    estate
        .modify("pcc", "vm-303", |m| {
            m.snapshots = vec![snapshot(
                "snapshot-9001",
                "a",
                vec![snapshot(
                    "snapshot-9002",
                    "b",
                    vec![snapshot("snapshot-9003", "a/b", vec![])],
                )],
            )];
            m.current = Some("snapshot-9003".into());
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, state) = (
        crate::common::vsim::binary_config(&sim, dir.path()),
        dir.path().join("state"),
    );
    let rm = run(&config, &state, &["rm", "pcc/jump-host", "a/b", "--yes"]).await;
    assert_eq!(code(&rm), 2, "{}", stderr(&rm));
    let err = stderr(&rm);
    assert!(err.contains("ambiguous"), "{err}");
    assert!(err.contains("snapshot-9002"), "the path's snapshot: {err}");
    assert!(err.contains("snapshot-9003"), "the name's snapshot: {err}");
    assert_eq!(
        estate.machine("pcc", "vm-303").unwrap().snapshot_count(),
        3,
        "nothing deleted"
    );
    let by_id = run(
        &config,
        &state,
        &["rm", "pcc/jump-host", "snapshot-9003", "--yes"],
    )
    .await;
    assert_eq!(code(&by_id), 0, "{}", stderr(&by_id));
    let left = estate.machine("pcc", "vm-303").unwrap();
    assert!(left.find("snapshot-9002").is_some(), "b is still there");
    assert!(left.find("snapshot-9003").is_none(), "a/b is gone");
}

/// Names with a newline, a carriage return, a tab and escape sequences: every table the
/// command line prints keeps one line per row, with those characters written out; CSV
/// quotes the cell instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_names_never_break_or_forge_a_tables_rows() {
    let (estate, sim) =
        crate::common::vsim::start(Duration::from_millis(100), VsphereSimOptions::default()).await;
    let forged = "ok\nvc FAKE-VM vm-999 poweredOn 0";
    let names = [
        forged,
        "cr\rFAKE",
        "tab\there",
        "esc\u{1b}]0;TITLE\u{7}\u{1b}[2Jx",
    ];
    estate
        .modify("pcc", "vm-303", |m| {
            let mut chain = Vec::new();
            for (i, name) in names.iter().enumerate().rev() {
                chain = vec![snapshot(&format!("snapshot-{}", 9101 + i), name, chain)];
            }
            m.snapshots = chain;
            // The current snapshot's name is a column of `ls`.
            m.current = Some("snapshot-9101".into());
            m.name = "jump\nvc FAKE-VM2 vm-998".into();
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, state) = (
        crate::common::vsim::binary_config(&sim, dir.path()),
        dir.path().join("state"),
    );
    let machines = estate.machines("pcc").unwrap().len();

    let ls = run(&config, &state, &["ls"]).await;
    assert_eq!(code(&ls), 0, "{}", stderr(&ls));
    let out = stdout(&ls);
    assert_no_control("ls", &out);
    assert_eq!(
        out.lines().count(),
        1 + machines,
        "one line per machine:\n{out}"
    );
    assert!(
        !out.lines().any(|l| l.starts_with("vc ")),
        "a forged row:\n{out}"
    );
    assert!(out.contains("ok\\nvc FAKE-VM"), "{out}");

    let tree = run(&config, &state, &["tree", "pcc/vm-303"]).await;
    assert_eq!(code(&tree), 0, "{}", stderr(&tree));
    assert_no_control("tree", &stdout(&tree));
    // The machine's line, four snapshots and "You are here".
    assert_eq!(stdout(&tree).lines().count(), 6, "{}", stdout(&tree));

    for format in ["table", "markdown"] {
        let report = run(&config, &state, &["report", "vm-303", "--format", format]).await;
        assert_eq!(code(&report), 0, "{}", stderr(&report));
        let out = stdout(&report);
        assert_no_control(format, &out);
        let header = if format == "markdown" { 2 } else { 1 };
        assert_eq!(
            out.lines().count(),
            header + names.len(),
            "{format}:\n{out}"
        );
    }

    let csv = run(&config, &state, &["report", "vm-303", "--format", "csv"]).await;
    assert_eq!(code(&csv), 0, "{}", stderr(&csv));
    let out = stdout(&csv);
    assert!(!out.contains('\u{1b}'), "{out:?}");
    // Records end with CRLF; a newline or a carriage return inside a cell is quoted.
    let records: Vec<&str> = out.split_terminator("\r\n").collect();
    assert_eq!(records.len(), 1 + names.len(), "{out:?}");
    assert!(
        out.contains("\"ok\nvc FAKE-VM vm-999 poweredOn 0\""),
        "{out:?}"
    );

    let prune = run(
        &config,
        &state,
        &["prune", "vm-303", "--older-than", "1d", "--dry-run"],
    )
    .await;
    assert_eq!(code(&prune), 0, "{}", stderr(&prune));
    assert_no_control("prune plan", &stdout(&prune));
    assert!(
        !stdout(&prune).lines().any(|l| l.starts_with("vc ")),
        "{}",
        stdout(&prune)
    );

    let check = run(&config, &state, &["check", "vm-303"]).await;
    assert_no_control("check", &stdout(&check));
}

/// A chain 30,000 levels deep (vSphere stops at 32): every command ends normally, names
/// the machine and why it cannot be read, and lists the others.
#[test]
fn a_chain_thousands_deep_is_refused_by_name_and_the_rest_is_listed() {
    // The simulator holds the chain in snaptree's own model, whose clones recurse: it gets
    // room for them here. The binary under test gets none.
    const STACK: usize = 512 << 20;
    let body = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_stack_size(STACK)
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(deep_chain())
    };
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(body)
        .expect("a thread")
        .join()
        .expect("the test body");
}

async fn deep_chain() {
    let (estate, sim) =
        crate::common::vsim::start(Duration::from_millis(100), VsphereSimOptions::default()).await;
    let chain = |vm: &str, depth: usize, first: usize| {
        estate
            .modify("pcc", vm, |m| {
                let mut chain = Vec::new();
                for i in (first..first + depth).rev() {
                    chain = vec![snapshot(&format!("snapshot-{i}"), "deep", chain)];
                }
                m.snapshots = chain;
                m.current = Some(format!("snapshot-{}", first + depth - 1));
            })
            .unwrap();
    };
    // Deeper than a default 2 MiB thread decodes and drops: the session thread has room.
    chain("vm-202", 30_000, 100_000);
    // At the limit, a tree is read and shown whole.
    chain("vm-303", snaptree::model::machine::MAX_DEPTH, 30_000);
    let dir = tempfile::tempdir().unwrap();
    let (config, state) = (
        crate::common::vsim::binary_config(&sim, dir.path()),
        dir.path().join("state"),
    );
    let machines = estate.machines("pcc").unwrap().len();
    let named = |o: &Output| {
        let err = stderr(o);
        assert!(
            err.contains("db-02") && err.contains("deep"),
            "names the machine and why: {err}"
        );
    };

    let ls = run(&config, &state, &["ls"]).await;
    assert_eq!(code(&ls), 1, "{}", stderr(&ls));
    named(&ls);
    assert_eq!(
        stdout(&ls).lines().count(),
        machines + 1,
        "the header and every machine, the deep one flagged:\n{}",
        stdout(&ls)
    );
    assert!(
        stdout(&ls)
            .lines()
            .any(|l| l.contains("db-02") && l.contains("unreadable")),
        "{}",
        stdout(&ls)
    );

    let json = run(&config, &state, &["ls", "--json"]).await;
    assert_eq!(code(&json), 1, "{}", stderr(&json));
    named(&json);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(v["machines"].as_array().unwrap().len(), machines);

    let tree = run(&config, &state, &["tree", "pcc/db-02"]).await;
    assert_eq!(code(&tree), 1, "{}", stderr(&tree));
    named(&tree);
    let tree_json = run(&config, &state, &["tree", "pcc/db-02", "--json"]).await;
    assert_eq!(code(&tree_json), 1, "{}", stderr(&tree_json));

    let limit = snaptree::model::machine::MAX_DEPTH;
    let tree = run(&config, &state, &["tree", "pcc/jump-host"]).await;
    assert_eq!(code(&tree), 0, "{}", stderr(&tree));
    // The machine's line, every snapshot and "You are here".
    assert_eq!(stdout(&tree).lines().count(), limit + 2);
    let tree_json = run(&config, &state, &["tree", "pcc/jump-host", "--json"]).await;
    assert_eq!(code(&tree_json), 0, "{}", stderr(&tree_json));

    let report = run(&config, &state, &["report"]).await;
    assert_eq!(code(&report), 1, "{}", stderr(&report));
    named(&report);
    assert!(stdout(&report).contains("web-01"), "{}", stdout(&report));

    let check = run(&config, &state, &["check", "db-02"]).await;
    assert_eq!(code(&check), 3, "UNKNOWN: {}", stdout(&check));
    assert!(stdout(&check).contains("db-02"), "{}", stdout(&check));
}

/// The binary on the demo estate, with its state and config in `dir`.
fn demo(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_snaptree"))
        .arg("--demo")
        .args(args)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("SNAPTREE_CONFIG")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run snaptree")
}

/// A usage error (exit 2) in one plain sentence naming the flag: no panic, no colour codes.
fn refused_as_too_long(o: &Output, flag: &str) {
    let err = stderr(o);
    assert_eq!(code(o), 2, "{flag}: {err}");
    assert!(!err.contains('\u{1b}'), "{flag}: colour codes: {err:?}");
    assert!(!err.contains("panicked"), "{flag}: {err}");
    assert!(err.contains(flag), "{flag}: {err}");
    assert!(err.contains("at most"), "{flag}: says the limit: {err}");
}

/// Durations beyond any calendar, on every flag and key that takes one.
#[test]
fn a_duration_too_long_is_a_usage_error_on_every_flag_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "99999999999d";
    let take = demo(
        dir.path(),
        &[
            "take",
            "pcc/web-01",
            "--name",
            "t",
            "--expires",
            huge,
            "--yes",
        ],
    );
    refused_as_too_long(&take, "--expires");
    let replace = demo(
        dir.path(),
        &["replace", "ovh/blog", "--expires", huge, "--yes"],
    );
    refused_as_too_long(&replace, "--expires");
    let prune = demo(dir.path(), &["prune", "--older-than", huge, "--dry-run"]);
    refused_as_too_long(&prune, "--older-than");
    for flag in ["--warn-age", "--crit-age"] {
        let check = demo(dir.path(), &["check", flag, huge]);
        refused_as_too_long(&check, flag);
    }
    // A number of weeks that overflows the count of seconds itself.
    let weeks = demo(
        dir.path(),
        &["prune", "--older-than", "99999999999999w", "--dry-run"],
    );
    refused_as_too_long(&weeks, "--older-than");
    for key in ["age_warning", "age_critical", "poll_interval"] {
        let config = dir.path().join(format!("{key}.toml"));
        std::fs::write(&config, format!("[ui]\n{key} = \"{huge}\"\n")).unwrap();
        let ls = std::process::Command::new(env!("CARGO_BIN_EXE_snaptree"))
            .args(["--config", config.to_str().unwrap(), "ls"])
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env_remove("NO_COLOR")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run snaptree");
        refused_as_too_long(&ls, key);
    }
}

/// An expiry of nothing would make a snapshot expired as it is taken, for the next
/// `prune --expired` to delete: refused as a usage error, nothing taken.
#[test]
fn an_expiry_of_zero_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for zero in ["0d", "0s", "0w"] {
        let take = demo(
            dir.path(),
            &[
                "take",
                "pcc/web-01",
                "--name",
                "t",
                "--expires",
                zero,
                "--yes",
            ],
        );
        let err = stderr(&take);
        assert_eq!(code(&take), 2, "{zero}: {err}");
        assert!(
            err.contains("--expires") && err.contains("longer than"),
            "{err}"
        );
    }
}
