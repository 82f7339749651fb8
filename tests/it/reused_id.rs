//! A snapshot is its id, what the operator saw of it and the server that gave the id: the
//! real binary against `snaptree sim vsphere`, restarted while `rm` waits at its question.

use crate::common::output::{code, json, stderr, stdout};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

/// The simulator's process, ended when dropped (the test passes or not).
struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `snaptree sim vsphere` on `port`, with its user and password once it listens.
fn start_sim(port: u16, state: &std::path::Path) -> (Sim, String, String) {
    let mut sim = Sim(Command::new(env!("CARGO_BIN_EXE_snaptree"))
        .args(["sim", "vsphere", "--listen", &format!("127.0.0.1:{port}")])
        .env("SNAPTREE_SIM_TASK_MS", "50")
        .env("XDG_STATE_HOME", state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the vSphere simulator"));
    let mut out = BufReader::new(sim.0.stdout.take().unwrap());
    let mut credentials = None;
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).expect("the simulator prints") > 0,
            "the simulator ended before listening on port {port}"
        );
        if let Some(rest) = line.strip_prefix("user: ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            credentials = Some((words[0].to_string(), words[2].to_string()));
        }
        if line.starts_with("certificate: ") {
            break;
        }
    }
    let (user, password) = credentials.expect("the simulator names its user");
    (sim, user, password)
}

/// A port free now (the simulator is started on it twice).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The id of the snapshot named `name` in `tree --json` output, if there is one.
fn id_named(tree: &serde_json::Value, name: &str) -> Option<String> {
    fn find(nodes: &serde_json::Value, name: &str) -> Option<String> {
        nodes.as_array()?.iter().find_map(|n| {
            if n["name"] == name {
                n["id"].as_str().map(String::from)
            } else {
                find(&n["children"], name)
            }
        })
    }
    find(&tree["snapshots"], name)
}

#[test]
fn rm_answered_after_the_server_reused_the_id_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let port = free_port();
    let (sim, user, password) = start_sim(port, &state);
    let config = dir.path().join("snaptree.toml");
    // The certificate is made again at each start: the operator trusts any, as with a
    // lab server (the point here is the ids, not the certificate).
    std::fs::write(
        &config,
        format!(
            "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"https://127.0.0.1:{port}\"\n\
             username = \"{user}\"\npassword = \"{password}\"\ninsecure = true\n"
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let run = |args: &[&str]| -> Output {
        Command::new(env!("CARGO_BIN_EXE_snaptree"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("XDG_STATE_HOME", &state)
            .env_remove("SNAPTREE_CONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("run snaptree")
    };
    let tree = |what: &str| {
        let o = run(&["tree", "pcc/web-02", "--json"]);
        assert_eq!(code(&o), 0, "tree {what}: {}", stderr(&o));
        json(&o)
    };

    let took = run(&["take", "pcc/web-02", "--name", "operator-snap", "--yes"]);
    assert_eq!(code(&took), 0, "{}", stderr(&took));
    let ours = id_named(&tree("after our take"), "operator-snap").expect("operator-snap");

    // `rm` waits at its question in a terminal.
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 30,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("open a pty");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_snaptree"));
    cmd.args(["--config", &config, "rm", "pcc/web-02", "operator-snap"]);
    cmd.env("XDG_STATE_HOME", &state);
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("SNAPTREE_CONFIG");
    let mut child = pair.slave.spawn_command(cmd).expect("spawn snaptree rm");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("pty reader");
    let mut writer = pair.master.take_writer().expect("pty writer");
    let seen = Arc::new(Mutex::new(String::new()));
    let into = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let wait_for = |what: &str, pred: &dyn Fn(&str) -> bool| {
        let start = Instant::now();
        loop {
            let text = seen.lock().unwrap().clone();
            if pred(&text) {
                return text;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let asked = wait_for("the question", &|t| t.contains("[y/N]"));
    assert!(
        asked.contains(&format!("\"operator-snap\" ({ours})")),
        "{asked}"
    );

    // The server restarts (its ids start again) and another client takes a snapshot in
    // the same place: it gets the same id.
    drop(sim);
    let (_sim, _, _) = start_sim(port, &state);
    let theirs = run(&["take", "pcc/web-02", "--name", "someone-elses", "--yes"]);
    assert_eq!(code(&theirs), 0, "{}", stderr(&theirs));
    let before = tree("after their take");
    assert_eq!(
        id_named(&before, "someone-elses").as_deref(),
        Some(ours.as_str()),
        "the restarted server reuses the id: {before}"
    );

    writer.write_all(b"y\r").unwrap();
    writer.flush().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "rm did not end: {}",
            seen.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(200));
    let said = seen.lock().unwrap().clone();
    assert!(!status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "{ours} on pcc/web-02 is now named \"someone-elses\" (was \"operator-snap\")"
        )),
        "{said}"
    );
    assert!(said.contains("refresh and choose again"), "{said}");
    assert!(!said.contains("success"), "{said}");
    // Refused before anything was sent: the audit log has the refusal and no "sent".
    let audit = std::fs::read_to_string(state.join("snaptree").join("audit.log")).unwrap();
    let deletes: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"operation\":\"delete\""))
        .collect();
    assert_eq!(deletes.len(), 1, "{audit}");
    assert!(deletes[0].contains("\"result\":\"refused: "), "{audit}");
    let after = tree("after the refused rm");
    assert_eq!(
        id_named(&after, "someone-elses").as_deref(),
        Some(ours.as_str()),
        "their snapshot is still there: {after}"
    );
}

/// The vSphere simulator serving what a broken or hostile server would: two snapshots of
/// web-01 with one id, and web-02 under jump-host's moref.
async fn inconsistent_server() -> (
    Arc<snaptree::sim::Estate>,
    snaptree::sim::vsphere::VsphereSimHandle,
    snaptree::provider::vsphere::VsphereProvider,
    snaptree::model::Machine,
) {
    use snaptree::provider::Provider;
    use snaptree::provider::vsphere::{ConnectOptions, Transport};
    let (estate, sim) = crate::common::vsim::start(
        Duration::from_millis(50),
        snaptree::sim::vsphere::VsphereSimOptions::default(),
    )
    .await;
    let options = ConnectOptions {
        transport: Transport::Soap,
        ..ConnectOptions::default()
    };
    let p = crate::common::vsim::connect(&sim, "demo", "demo", options)
        .await
        .expect("login");
    let seen = p.load_machine("vm-101").await.expect("web-01");
    estate
        .modify("pcc", "vm-101", |m| {
            // before-upgrade (snapshot-102) answers as the root's id.
            m.snapshots[0].children[0].id = "snapshot-101".into();
        })
        .unwrap();
    estate
        .modify("pcc", "vm-102", |m| m.id = "vm-303".into())
        .unwrap();
    (estate, sim, p, seen)
}

/// A delete chosen before the server's answers went inconsistent is refused, nothing sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_on_a_machine_with_one_id_for_two_snapshots_is_refused() {
    use snaptree::engine::{Engine, Profile, RunError, audit::AuditLog};
    use snaptree::model::{ExpectedView, Operation, ProviderKind};
    let (estate, _sim, p, seen) = inconsistent_server().await;
    let engine = Engine::new(
        vec![Profile::new(
            "pcc",
            ProviderKind::Vsphere,
            false,
            Arc::new(p),
            None,
        )],
        false,
        AuditLog::new(None),
        Duration::from_secs(30),
    );
    let op = Operation::Delete {
        snapshot: "snapshot-101".into(),
        children: false,
    };
    let r = engine
        .run(
            "pcc",
            "vm-101",
            &op,
            &ExpectedView::of(&seen, &op),
            true,
            &|_| {},
        )
        .await;
    assert!(
        matches!(&r, Err(RunError::Refused(m))
            if m.contains("pcc/web-01 (vm-101) is unreadable: the server gives two of its snapshots the id snapshot-101")),
        "{r:?}"
    );
    let m = estate.machine("pcc", "vm-101").unwrap();
    assert_eq!(m.snapshot_count(), 6, "nothing deleted");
}

/// Such machines are listed as unreadable, with the reason and without snapshots; the
/// others as usual. A single read says the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inconsistent_machines_are_listed_unreadable_with_the_reason() {
    use snaptree::provider::Provider;
    let (_estate, _sim, p, _) = inconsistent_server().await;
    let listed = p.load_inventory(&|_| {}).await.expect("inventory");
    let web = listed.iter().find(|m| m.id == "vm-101").unwrap();
    assert_eq!(
        web.unreadable.as_deref(),
        Some("the server gives two of its snapshots the id snapshot-101")
    );
    assert!(web.snapshots.is_empty() && web.current.is_none());
    let twice: Vec<_> = listed.iter().filter(|m| m.id == "vm-303").collect();
    assert!(!twice.is_empty());
    for m in &twice {
        assert_eq!(
            m.unreadable.as_deref(),
            Some("the server lists two VMs with the id vm-303"),
            "{m:?}"
        );
    }
    let fine = listed.iter().filter(|m| m.unreadable.is_none()).count();
    assert_eq!(fine, listed.len() - 1 - twice.len(), "{listed:?}");
    let again = p.load_machine("vm-101").await.expect("web-01");
    assert!(again.unreadable.is_some(), "{again:?}");
}

/// The binary on such a server: `rm` of the id two snapshots share is refused, naming the
/// machine and why (one of the two was deleted), and `ls` lists it as a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_acts_on_no_inconsistent_machine_and_says_why() {
    let (estate, sim, _p, _) = inconsistent_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::vsim::binary_config(&sim, dir.path());
    let state = dir.path().join("state");
    let rm = crate::common::vsim::run_binary(
        &config,
        &state,
        &["rm", "pcc/web-01", "snapshot-101", "--yes"],
    )
    .await;
    let said = stderr(&rm);
    assert_eq!(code(&rm), 1, "{said}");
    assert!(
        said.contains(
            "pcc/web-01 (vm-101) is unreadable: the server gives two of its snapshots the id snapshot-101"
        ),
        "{said}"
    );
    assert_eq!(estate.machine("pcc", "vm-101").unwrap().snapshot_count(), 6);
    let ls = crate::common::vsim::run_binary(&config, &state, &["ls"]).await;
    assert_eq!(code(&ls), 1, "{}", stderr(&ls));
    assert!(stdout(&ls).contains("web-01"), "{}", stdout(&ls));
    assert!(
        stderr(&ls).contains(
            "pcc/web-02 (vm-303) is unreadable: the server lists two VMs with the id vm-303"
        ),
        "{}",
        stderr(&ls)
    );
}
