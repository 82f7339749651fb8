//! The vSphere provider against snaptree's own vSphere simulator, for what vcsim lacks:
//! consolidate, rename, cancel, `consolidationNeeded`, non-zero snapshot sizes, a read-only
//! user refused with `NoPermission`, `HasPrivilegeOnEntity`, and task failures carrying
//! vim25 faults (vcsim 0.24 has no roles for such a user and fails no task on request).

use std::sync::Arc;
use std::time::Duration;

use snaptree::model::{Operation, TaskState};
use snaptree::provider::vsphere::{ConnectOptions, Transport, VsphereProvider};
use snaptree::provider::{Provider, ProviderError};
use snaptree::sim::vsphere::{VsphereSimHandle, VsphereSimOptions};
use snaptree::sim::{Estate, SimFault};

async fn setup(task: Duration) -> (Arc<Estate>, VsphereSimHandle, VsphereProvider) {
    setup_with(task, VsphereSimOptions::default()).await
}

async fn setup_with(
    task: Duration,
    opts: VsphereSimOptions,
) -> (Arc<Estate>, VsphereSimHandle, VsphereProvider) {
    let (estate, sim) = crate::common::vsim::start(task, opts).await;
    let provider = connect(&sim, "demo", "demo").await;
    (estate, sim, provider)
}

async fn connect(sim: &VsphereSimHandle, user: &str, password: &str) -> VsphereProvider {
    let options = ConnectOptions {
        transport: Transport::Soap,
        ..ConnectOptions::default()
    };
    crate::common::vsim::connect(sim, user, password, options)
        .await
        .expect("login")
}

fn take(quiesce: bool) -> Operation {
    Operation::Take {
        quiesce_timeout: None,
        name: "t".into(),
        description: String::new(),
        memory: false,
        quiesce,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_consolidation_and_rename() {
    let (estate, _sim, p) = setup(Duration::from_millis(200)).await;
    let none = |_| {};
    let inventory = p.load_inventory(&none).await.expect("inventory");
    assert_eq!(inventory.len(), 8);
    let web = inventory.iter().find(|m| m.id == "vm-101").expect("web-01");
    let base = web.find("snapshot-101").expect("base");
    assert_eq!(
        base.size_bytes,
        Some(18432 * 1024 * 1024),
        "size from layoutEx"
    );
    assert!(
        web.walk()
            .iter()
            .all(|(_, s)| s.size_bytes.unwrap_or(0) > 0)
    );
    // Sizes come from a second pass over the VMs with snapshots only; reading one VM reads
    // its layout in the same call. Both agree, and the capability flags (read one by one)
    // are the estate's.
    for m in &inventory {
        let alone = p.load_machine(&m.id).await.expect("one VM");
        let sizes = |m: &snaptree::model::Machine| {
            m.walk()
                .iter()
                .map(|(_, s)| (s.id.clone(), s.size_bytes))
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(m), sizes(&alone), "{}", m.id);
        // So do the phantom deltas, the deltas and the datastores' free space (the one VM
        // read reaches its datastores through `VirtualMachine.datastore`).
        assert_eq!(m.storage, alone.storage, "{}", m.id);
        let truth = estate.machine("pcc", &m.id).unwrap().capabilities;
        assert_eq!(
            (m.capabilities.memory, m.capabilities.quiesce),
            (truth.memory, truth.quiesce),
            "{}",
            m.id
        );
    }
    let db = inventory.iter().find(|m| m.id == "vm-201").expect("db-01");
    assert!(db.consolidation_needed);
    // jump-host runs on a delta no snapshot owns; monitoring's datastore is nearly full.
    let storage = |id: &str| {
        let m = inventory.iter().find(|m| m.id == id).expect(id);
        m.storage.as_deref().cloned().unwrap_or_default()
    };
    let jump = storage("vm-303");
    let files: Vec<&str> = jump
        .phantom_deltas
        .iter()
        .map(|p| p.file.as_str())
        .collect();
    assert_eq!(files, ["[datastore1] jump-host/jump-host-000001.vmdk"]);
    let monitoring = storage("vm-304");
    assert_eq!(monitoring.datastores.len(), 1);
    assert_eq!(monitoring.datastores[0].name, "rbx-ssd-02");
    assert_eq!(monitoring.datastores[0].free_bytes, Some(2 << 30));
    let owned: u64 = monitoring
        .deltas
        .iter()
        .filter(|d| d.snapshot.as_deref() == Some("snapshot-151"))
        .map(|d| d.bytes)
        .sum();
    assert!(
        owned > 2 << 30,
        "its delta is larger than the room left: {owned}"
    );
    assert!(storage("vm-202").phantom_deltas.is_empty());

    let started = p
        .start("vm-201", &Operation::Consolidate)
        .await
        .expect("consolidate");
    let status = p
        .follow("vm-201", &started.id, &|_| {})
        .await
        .expect("follow");
    assert_eq!(status.state, TaskState::Success);
    assert!(!p.load_machine("vm-201").await.unwrap().consolidation_needed);
    assert!(
        !estate
            .machine("pcc", "vm-201")
            .unwrap()
            .consolidation_needed
    );

    let rename = Operation::Rename {
        snapshot: "snapshot-105".into(),
        name: Some("upgrade-retry".into()),
        description: Some("second attempt".into()),
    };
    let started = p.start("vm-101", &rename).await.expect("rename");
    assert!(started.finished, "RenameSnapshot is synchronous");
    let m = p.load_machine("vm-101").await.unwrap();
    let node = m.find("snapshot-105").unwrap();
    assert_eq!(
        (node.name.as_str(), node.description.as_str()),
        ("upgrade-retry", "second attempt")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_running_task_and_see_a_failure_message() {
    let (estate, _sim, p) = setup(Duration::from_secs(60)).await;
    let take = Operation::Take {
        quiesce_timeout: None,
        name: "long".into(),
        description: String::new(),
        memory: false,
        quiesce: false,
    };
    let started = p.start("vm-303", &take).await.expect("take");
    let cancel = Operation::Cancel {
        task: started.id.clone(),
    };
    p.start("vm-303", &cancel).await.expect("cancel");
    let status = p
        .follow("vm-303", &started.id, &|_| {})
        .await
        .expect("follow");
    assert_eq!(status.state, TaskState::Cancelled);
    assert_eq!(estate.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);

    // A second task while one runs is refused with the server's TaskInProgress.
    let started = p.start("vm-303", &take).await.expect("take");
    let err = p.start("vm-303", &take).await.unwrap_err();
    assert!(err.to_string().contains("in progress"), "{err}");
    p.start(
        "vm-303",
        &Operation::Cancel {
            task: started.id.clone(),
        },
    )
    .await
    .expect("cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_is_refused_every_change_with_the_privilege_named() {
    let opts = VsphereSimOptions {
        viewer: Some(("reader".into(), "reader-pw".into())),
        ..VsphereSimOptions::default()
    };
    let (estate, sim, admin) = setup_with(Duration::from_secs(60), opts).await;
    let viewer = connect(&sim, "reader", "reader-pw").await;
    let none = |_| {};
    // Reading is allowed.
    assert_eq!(
        viewer.load_inventory(&none).await.expect("inventory").len(),
        8
    );
    let before = estate.machines("pcc").unwrap();
    let version = estate.version();

    // A task of the other user, for the viewer to try to cancel.
    let running = admin.start("vm-303", &take(false)).await.expect("take");
    let refused = [
        ("vm-303", take(false), "VirtualMachine.State.CreateSnapshot"),
        (
            "vm-101",
            Operation::Revert {
                start: false,
                snapshot: "snapshot-102".into(),
                suppress_power_on: true,
            },
            "VirtualMachine.State.RevertToSnapshot",
        ),
        (
            "vm-101",
            Operation::RevertCurrent {
                start: false,
                suppress_power_on: true,
            },
            "VirtualMachine.State.RevertToSnapshot",
        ),
        (
            "vm-101",
            Operation::Delete {
                snapshot: "snapshot-106".into(),
                children: false,
            },
            "VirtualMachine.State.RemoveSnapshot",
        ),
        (
            "vm-101",
            Operation::DeleteAll,
            "VirtualMachine.State.RemoveSnapshot",
        ),
        (
            "vm-201",
            Operation::Consolidate,
            "VirtualMachine.State.RemoveSnapshot",
        ),
        (
            "vm-101",
            Operation::Rename {
                snapshot: "snapshot-105".into(),
                name: Some("renamed".into()),
                description: None,
            },
            "VirtualMachine.State.RenameSnapshot",
        ),
        (
            "vm-303",
            Operation::Cancel {
                task: running.id.clone(),
            },
            "Global.CancelTask",
        ),
    ];
    for (vm, op, privilege) in &refused {
        let err = viewer.start(vm, op).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::Permission(_)),
            "{}: {err:?}",
            op.name()
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("needs the privilege {privilege},")),
            "{}: {text}",
            op.name()
        );
    }
    // Nothing changed, and the other user's task still runs until its owner cancels it.
    assert_eq!(estate.machines("pcc").unwrap(), before);
    assert_eq!(estate.version(), version, "no machine was touched");
    assert_eq!(estate.task(&running.id).unwrap().state, TaskState::Running);
    admin
        .start(
            "vm-303",
            &Operation::Cancel {
                task: running.id.clone(),
            },
        )
        .await
        .expect("the owner cancels");
    assert_eq!(
        estate.task(&running.id).unwrap().state,
        TaskState::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_tells_whether_the_user_may_take_snapshots() {
    let opts = VsphereSimOptions {
        viewer: Some(("reader".into(), "reader-pw".into())),
        ..VsphereSimOptions::default()
    };
    let (_estate, sim, admin) = setup_with(Duration::from_millis(200), opts).await;
    let viewer = connect(&sim, "reader", "reader-pw").await;
    let may_take = |lines: Vec<(String, String)>| {
        lines
            .into_iter()
            .find(|(k, _)| k == "may take snapshots")
            .map(|(_, v)| v)
            .expect("a may-take-snapshots line")
    };
    let yes = may_take(admin.check().await.expect("check"));
    assert!(
        yes.starts_with("yes") && yes.contains("VirtualMachine.State.CreateSnapshot"),
        "{yes}"
    );
    let no = may_take(viewer.check().await.expect("check"));
    assert!(
        no.starts_with("not everywhere") && no.contains("VirtualMachine.State.CreateSnapshot"),
        "{no}"
    );
    assert!(sim.calls().iter().any(|c| c == "HasPrivilegeOnEntity"));
}

/// Task failures as the user reads them: `follow` reports the server's localized message
/// and the fault's type (it does not turn a task's fault into snaptree's sentence when the
/// server gave a message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_reports_the_servers_words_and_the_fault() {
    let (estate, _sim, p) = setup(Duration::from_millis(100)).await;
    let cases = [
        (
            "NoDiskSpace: There is not enough space on datastore1 for the snapshot.",
            false,
            "NoDiskSpace",
            "free space on it",
        ),
        (
            "FilesystemQuiesceFault: An error occurred while quiescing the virtual machine.",
            true,
            "FilesystemQuiesceFault",
            "retry without quiesce",
        ),
        (
            "ApplicationQuiesceFault: The application in the guest could not be quiesced.",
            true,
            "ApplicationQuiesceFault",
            "retry without quiesce",
        ),
        (
            "TooManySnapshotLevels: Exceeded the maximum number of permitted snapshots.",
            false,
            "TooManySnapshotLevels",
            "32 levels is the maximum",
        ),
        (
            "SnapshotLocked: The snapshot is locked by another operation.",
            false,
            "SnapshotLocked",
            "try again once it ends",
        ),
    ];
    for (injected, quiesce, kind, advice) in cases {
        estate.inject(SimFault::FailNextTask(injected.into()));
        let started = p.start("vm-303", &take(quiesce)).await.expect("take");
        let status = p
            .follow("vm-303", &started.id, &|_| {})
            .await
            .expect("follow");
        assert_eq!(status.state, TaskState::Error, "{injected}");
        let message = status.message.unwrap_or_default();
        let server_text = injected
            .split_once(": ")
            .map(|(_, t)| t)
            .unwrap_or_default();
        assert!(
            message.starts_with(&format!("{server_text} ({kind}: ")),
            "{message}"
        );
        assert!(message.contains(advice), "{message}");
    }
    assert_eq!(estate.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiescing_a_powered_off_vm_is_refused_with_the_power_state() {
    let (estate, _sim, p) = setup(Duration::from_millis(100)).await;
    assert_eq!(
        estate.machine("pcc", "vm-202").unwrap().power_state,
        snaptree::model::PowerState::PoweredOff
    );
    let err = p.start("vm-202", &take(true)).await.unwrap_err();
    assert!(matches!(err, ProviderError::InvalidState(_)), "{err:?}");
    assert!(err.to_string().contains("power state"), "{err}");
    assert_eq!(estate.machine("pcc", "vm-202").unwrap().snapshot_count(), 0);
}

/// The real binary, once per command, against this simulator: every session it opens is
/// closed with `Logout` before the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_out_before_it_exits() {
    let (_estate, sim, _p) = setup(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = crate::common::vsim::binary_config(&sim, dir.path());
    for args in [&["ls", "--json"][..], &["tree", "pcc/web-01"][..]] {
        let before = sim.calls().len();
        let out = crate::common::vsim::run_binary(&config, &dir.path().join("state"), args).await;
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let calls = sim.calls()[before..].to_vec();
        let logins = calls.iter().filter(|c| *c == "Login").count();
        let logouts = calls.iter().filter(|c| *c == "Logout").count();
        assert_eq!((logins, logouts), (1, 1), "{args:?}: {calls:?}");
        assert_eq!(
            calls.last().map(String::as_str),
            Some("Logout"),
            "{calls:?}"
        );
    }
}

/// `snaptree take` against the simulator prints the id of the snapshot it made, alone on
/// stdout, and that snapshot exists on the server: `id=$(snaptree take …)` works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_the_id_of_the_snapshot_it_took() {
    let (estate, sim, _p) = setup(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = crate::common::vsim::binary_config(&sim, dir.path());
    let out = crate::common::vsim::run_binary(
        &config,
        &dir.path().join("state"),
        &["take", "pcc/web-01", "--name", "scripted"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let m = estate.machine("pcc", "vm-101").unwrap();
    let made = m
        .walk()
        .into_iter()
        .find(|(_, s)| s.name == "scripted")
        .map(|(_, s)| s.id.clone())
        .expect("the snapshot exists on the server");
    assert_eq!(stdout, format!("{made}\n"), "stderr: {stderr}");
}

/// A server that pages (this simulator capped at 3 objects a page, as a large vCenter caps
/// at its own size): the TUI's first load shows its first chunk of machines as soon as it
/// is read (here the 2 VMs without snapshots, a chunk of their own; the 6 with snapshots
/// are the next), each with its full path and sizes, before the load ends; later loads and
/// commands get only the complete answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_inventory_shows_its_first_chunk_before_the_end() {
    let opts = VsphereSimOptions {
        max_page: 3,
        ..VsphereSimOptions::default()
    };
    let (_estate, sim) = crate::common::vsim::start(Duration::from_millis(100), opts).await;
    let connect = |interactive: bool| {
        let options = ConnectOptions {
            transport: Transport::Soap,
            interactive,
        };
        let sim = &sim;
        async move {
            crate::common::vsim::connect(sim, "demo", "demo", options)
                .await
                .expect("login")
        }
    };
    let seen = std::sync::Mutex::new(Vec::<Vec<snaptree::model::Machine>>::new());
    let record = |so_far: Vec<snaptree::model::Machine>| seen.lock().unwrap().push(so_far);

    let tui = connect(true).await;
    let all = tui.load_inventory(&record).await.expect("inventory");
    assert_eq!(all.len(), 8);
    let pages: Vec<Vec<snaptree::model::Machine>> = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 8],
        "the first chunk, before the end"
    );
    for m in pages.last().unwrap() {
        let done = all
            .iter()
            .find(|d| d.id == m.id)
            .expect("in the final list");
        assert_eq!((&m.path, &m.location), (&done.path, &done.location));
        assert_eq!(m.snapshot_count(), done.snapshot_count(), "{}", m.id);
        // Each chunk comes with its sizes (its layouts are read before it is shown).
        let sizes = |m: &snaptree::model::Machine| {
            m.walk()
                .iter()
                .map(|(_, s)| s.size_bytes)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(m), sizes(done), "{}", m.id);
    }
    assert!(
        all.iter()
            .any(|m| m.walk().iter().any(|(_, s)| s.size_bytes.is_some()))
    );

    // A reload keeps the rows on screen until it is complete; a command never pages. (The
    // "sizes as of" detail is the time of each read: left out of the comparison.)
    let timeless = |list: Vec<snaptree::model::Machine>| {
        list.into_iter()
            .map(|mut m| {
                m.details.retain(|(k, _)| k != "sizes as of");
                m
            })
            .collect::<Vec<_>>()
    };
    let reloaded = tui.load_inventory(&record).await.expect("reload");
    assert_eq!(timeless(reloaded), timeless(all.clone()));
    let command = connect(false).await;
    let listed = command.load_inventory(&record).await.expect("command");
    assert_eq!(timeless(listed), timeless(all));
    assert!(seen.lock().unwrap().is_empty());
}

/// A vCenter that stops answering while a take is followed (as one stopped with SIGSTOP):
/// the binary ends within its time limits, says the outcome is unknown and naming the call
/// that got no answer, and its audit log holds the take's "started" line with the task id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_mid_follow_ends_the_take_unknown_and_audited() {
    use crate::common::proxy::{Fault, Proxy};
    let (estate, sim, _p) = setup(Duration::from_secs(6)).await;
    let proxy = Proxy::start(sim.addr());
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"https://{}/sdk\"\nusername = \"demo\"\n\
             password = \"demo\"\nthumbprint = \"{}\"\ntimeout = \"3s\"\n",
            proxy.addr(),
            sim.thumbprint()
        ),
    )
    .expect("config");
    let state = dir.path().join("state");
    let (cfg, st) = (config.clone(), state.clone());
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_snaptree"))
            .arg("--config")
            .arg(&cfg)
            .args(["take", "pcc/web-01", "--name", "mid-stall", "--yes"])
            .env("XDG_STATE_HOME", &st)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run snaptree")
    });
    // Stalled once the client holds the task (its "started" line is written after the
    // answer to the take arrives): a stall while that answer is on its way is another story.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let audit_path = state.join("snaptree").join("audit.log");
    while estate.running_tasks("pcc", "vm-101").is_empty()
        || !std::fs::read_to_string(&audit_path).is_ok_and(|a| a.contains("\"started\""))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the take never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.set(Fault::Stall);
    let started = std::time::Instant::now();
    let out = run.await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "ended only after {:?}: {err}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("did not answer in time"), "{err}");
    assert!(err.contains("the outcome is unknown"), "{err}");
    let audit = std::fs::read_to_string(state.join("snaptree").join("audit.log")).expect("audit");
    let started_line = audit
        .lines()
        .find(|l| l.contains("\"started\""))
        .unwrap_or_else(|| panic!("no started line: {audit}"));
    assert!(started_line.contains("task"), "{started_line}");
}

/// `pin` and `unpin` on vSphere are a RenameSnapshot of the description: the marker at the
/// end, the rest kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_and_unpin_rename_the_description_on_vsphere() {
    let (estate, sim, _p) = setup(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = crate::common::vsim::binary_config(&sim, dir.path());
    let description = |estate: &Estate| {
        estate
            .machine("pcc", "vm-101")
            .unwrap()
            .find("snapshot-102")
            .unwrap()
            .description
            .clone()
    };
    let before = description(&estate);
    let out = crate::common::vsim::run_binary(
        &config,
        &dir.path().join("state"),
        &["pin", "pcc/web-01", "snapshot-102"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(description(&estate), format!("{before} [keep]"));
    assert!(sim.calls().iter().any(|c| c == "RenameSnapshot"));
    let out = crate::common::vsim::run_binary(
        &config,
        &dir.path().join("state"),
        &["unpin", "pcc/web-01", "snapshot-102"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(description(&estate), before);
}

/// A prune of 3 deletions on each of 30 VMs, tasks of `SNAPTREE_PRUNE_TASK_MS` (default
/// 200 ms), `[cleanup] concurrency = 4`: every step is done, and the simulator (which, as
/// vCenter, refuses a second task on a busy VM) refused none, so no two tasks overlapped on
/// one machine. The wall time against the ideal schedule (⌈30/4⌉ × 3 tasks) is printed, not
/// asserted: `SNAPTREE_PRUNE_TASK_MS=1000 cargo test --test it -- prune_of_90 --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_of_90_deletions_on_30_vms_overlaps_nothing() {
    let task_ms: u64 = std::env::var("SNAPTREE_PRUNE_TASK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut scenario =
        String::from("task_seconds = 1.0\n[[profile]]\nname = \"pcc\"\nkind = \"vsphere\"\n");
    for i in 0..30 {
        scenario.push_str(&format!(
            "[[profile.machine]]\nid = \"vm-{i}\"\nname = \"batch-{i:02}\"\nfolder = \"/DC/vm/batch\"\ncurrent = \"snapshot-{i}-3\"\n"
        ));
        for n in 1..=3 {
            let parent = if n > 1 {
                format!("parent = \"snapshot-{i}-{}\"\n", n - 1)
            } else {
                String::new()
            };
            scenario.push_str(&format!(
                "[[profile.machine.snapshot]]\nid = \"snapshot-{i}-{n}\"\nname = \"old-{n}\"\n{parent}age = \"{}d\"\nsize_mb = 100\n",
                40 - n
            ));
        }
    }
    let estate = Arc::new(
        Estate::from_scenario(
            &scenario,
            chrono::Utc::now(),
            Some(Duration::from_millis(task_ms)),
        )
        .expect("scenario"),
    );
    let sim = snaptree::sim::vsphere::serve(VsphereSimOptions::default(), estate.clone())
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = crate::common::vsim::binary_config(&sim, dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[cleanup]\nconcurrency = 4\n");
    std::fs::write(&config, text).unwrap();
    let started = std::time::Instant::now();
    let out = crate::common::vsim::run_binary(
        &config,
        &dir.path().join("state"),
        &["prune", "--older-than", "1d", "--yes", "--json"],
    )
    .await;
    let wall = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["result"]["done"], 90, "{v}");
    assert_eq!(v["result"]["failed"], 0, "{err}");
    for i in 0..30 {
        assert_eq!(
            estate
                .machine("pcc", &format!("vm-{i}"))
                .unwrap()
                .snapshot_count(),
            0
        );
    }
    let ideal = Duration::from_millis(task_ms) * 3 * 30_u32.div_ceil(4);
    println!(
        "prune of 90 deletions: {:.1} s against an ideal {:.1} s ({:.2}×)",
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        wall.as_secs_f64() / ideal.as_secs_f64()
    );
}

/// A server that pages with tiny pages (one object each): a command's chunked read still
/// lists every machine, the same as a server with large pages, by following each token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_one_object_still_list_every_machine() {
    let command = ConnectOptions {
        transport: Transport::Soap,
        interactive: false,
    };
    // One estate behind both servers: the same machines, the same times.
    let estate = crate::common::demo_estate(Duration::from_millis(100));
    let tiny = snaptree::sim::vsphere::serve(
        VsphereSimOptions {
            max_page: 1,
            ..VsphereSimOptions::default()
        },
        estate.clone(),
    )
    .await
    .expect("simulator");
    let large = snaptree::sim::vsphere::serve(VsphereSimOptions::default(), estate)
        .await
        .expect("simulator");
    let timeless = |list: Vec<snaptree::model::Machine>| {
        list.into_iter()
            .map(|mut m| {
                m.details.retain(|(k, _)| k != "sizes as of");
                // Two servers: each is its own instance.
                m.instance = None;
                m
            })
            .collect::<Vec<_>>()
    };
    let mut listed = Vec::new();
    for sim in [&tiny, &large] {
        let p = crate::common::vsim::connect(sim, "demo", "demo", command.clone())
            .await
            .expect("login");
        listed.push(timeless(
            p.load_inventory(&|_| {}).await.expect("inventory"),
        ));
    }
    assert_eq!(listed[0].len(), 8);
    assert_eq!(listed[0], listed[1]);
    let continued = tiny
        .calls()
        .iter()
        .filter(|c| *c == "ContinueRetrievePropertiesEx")
        .count();
    assert!(
        continued >= 8,
        "one object per page: {continued} continuations"
    );
}

/// A server that sends an answer of 200 MB: `ls` fails with one sentence naming the bound
/// (`max_answer_mb`), having read no more than it, and says what to do; the same server's
/// other answers (the login) are read as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_larger_than_max_answer_mb_fails_the_listing_with_one_sentence() {
    // A SOAP-only server, then one that speaks VI/JSON (chosen by the client when offered).
    for vi_json in [false, true] {
        let (_estate, sim) = crate::common::vsim::start(
            Duration::from_millis(100),
            VsphereSimOptions {
                vi_json,
                pad_listings: 200 * 1024 * 1024,
                ..VsphereSimOptions::default()
            },
        )
        .await;
        let dir = tempfile::tempdir().expect("temp dir");
        let config = crate::common::vsim::binary_config(&sim, dir.path());
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("max_answer_mb = 16\n");
        std::fs::write(&config, text).unwrap();
        let out =
            crate::common::vsim::run_binary(&config, &dir.path().join("state"), &["ls"]).await;
        let line = crate::common::output::one_sentence(&out, 1);
        assert!(
            line.contains("larger than 16 MiB") && line.contains("max_answer_mb"),
            "vi_json {vi_json}: {line}"
        );
        assert!(
            sim.calls().iter().any(|c| c == "Login"),
            "the login's answers were read"
        );
    }
}

/// A session that ends in the middle of a listing (`each_machine`, which hands machines on
/// a chunk at a time): before any machine was handed on, the listing logs in again
/// and starts over, each machine once; after the first chunk was handed on, it fails with
/// one sentence rather than hand a machine on twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_ends_mid_listing_never_lists_a_machine_twice() {
    let mut scenario =
        String::from("task_seconds = 1.0\n[[profile]]\nname = \"pcc\"\nkind = \"vsphere\"\n");
    for i in 0..5000 {
        scenario.push_str(&format!(
            "[[profile.machine]]\nid = \"vm-{i}\"\nname = \"many-{i:04}\"\nfolder = \"/DC/vm/many\"\n"
        ));
    }
    let estate = Arc::new(
        Estate::from_scenario(
            &scenario,
            chrono::Utc::now(),
            Some(Duration::from_millis(100)),
        )
        .expect("scenario"),
    );
    let command = ConnectOptions {
        transport: Transport::Soap,
        interactive: false,
    };
    let listings = |sim: &VsphereSimHandle| {
        sim.calls()
            .iter()
            .filter(|c| *c == "RetrievePropertiesEx" || *c == "ContinueRetrievePropertiesEx")
            .count()
    };
    // A listing whose session lasts: how many listing calls the login and the listing make.
    let plain = snaptree::sim::vsphere::serve(VsphereSimOptions::default(), estate.clone())
        .await
        .expect("simulator");
    let p = crate::common::vsim::connect(&plain, "demo", "demo", command.clone())
        .await
        .expect("login");
    let at_login = listings(&plain);
    p.each_machine(&|_| {}).await.expect("listing");
    let total = listings(&plain);
    // The view's members, then chunks of a few hundred (too many VMs for one), paged.
    assert!(total - at_login >= 3, "{:?}", plain.calls());

    // Ended at the listing's second call (nothing handed on yet), then at its last one
    // (the first chunk handed on).
    for (after, whole) in [(at_login + 1, true), (total - 1, false)] {
        let sim = snaptree::sim::vsphere::serve(
            VsphereSimOptions {
                end_session_after_listings: after,
                ..VsphereSimOptions::default()
            },
            estate.clone(),
        )
        .await
        .expect("simulator");
        let p = crate::common::vsim::connect(&sim, "demo", "demo", command.clone())
            .await
            .expect("login");
        let seen = std::sync::Mutex::new(Vec::new());
        let result = p
            .each_machine(&|chunk| {
                seen.lock().unwrap().extend(chunk.into_iter().map(|m| m.id));
            })
            .await;
        let seen = seen.into_inner().unwrap();
        let unique: std::collections::HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "a machine handed on twice");
        if whole {
            result.expect("logged in again and listed");
            assert_eq!(seen.len(), 5000);
            assert_eq!(
                sim.calls().iter().filter(|c| *c == "Login").count(),
                2,
                "one new login"
            );
        } else {
            let e = result.expect_err("the session ended after the first chunk");
            assert!(matches!(e, ProviderError::Auth(_)), "{e:?}");
            assert!(e.to_string().contains("run it again"), "{e}");
            assert!(
                !seen.is_empty() && seen.len() < 5000,
                "the chunks before the last, once: {}",
                seen.len()
            );
        }
    }
}

/// A listing of 3,000 VMs, one in ten with a snapshot, on a server that pages as asked. A
/// command reads the estate's members (with the folders, and which VMs have snapshots),
/// then, the estate fitting the answer bound, three chunks at once, one a connection,
/// shared by weight: the 2,700 VMs without snapshots in two, and the 300 with, their
/// layouts in the same call, in one: four property reads in two round trips, no container
/// view (a fixed 500 a chunk took fourteen). The TUI's first load
/// reads a first chunk of 500 to show at once, then chunks of 768 KiB (436 VMs without
/// snapshots, then 134 with), three at a time: eleven. No page is continued, and every
/// machine is listed once, with its sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_of_three_thousand_vms_takes_four_property_reads_in_two_turns() {
    let mut scenario = String::from("[[profile]]\nname = \"pcc\"\nkind = \"vsphere\"\n");
    for i in 0..3000 {
        scenario.push_str(&format!(
            "[[profile.machine]]\nid = \"vm-{i}\"\nname = \"many-{i:04}\"\nfolder = \"/DC/vm/f{}\"\n",
            i % 7
        ));
        if i % 10 == 0 {
            scenario.push_str(&format!(
                "[[profile.machine.snapshot]]\nid = \"snapshot-{i}\"\nname = \"s\"\nage = \"1d\"\nsize_mb = 10\n"
            ));
        }
    }
    let estate = Arc::new(
        Estate::from_scenario(
            &scenario,
            chrono::Utc::now(),
            Some(Duration::from_millis(100)),
        )
        .expect("scenario"),
    );
    let sim = snaptree::sim::vsphere::serve(
        VsphereSimOptions {
            max_page: 100_000,
            ..VsphereSimOptions::default()
        },
        estate,
    )
    .await
    .expect("simulator");
    for (interactive, reads, sizes) in [
        (false, 4, vec![1350, 1350, 300]),
        (true, 11, vec![500, 1372, 2837]),
    ] {
        let options = ConnectOptions {
            transport: Transport::Soap,
            interactive,
        };
        let p = crate::common::vsim::connect(&sim, "demo", "demo", options)
            .await
            .expect("login");
        let before = sim.calls().len();
        let seen = std::sync::Mutex::new(Vec::new());
        let machines = if interactive {
            p.load_inventory(&|so_far| seen.lock().unwrap().push(so_far.len()))
                .await
                .expect("first load")
        } else {
            let chunks = std::sync::Mutex::new(Vec::new());
            p.each_machine(&|chunk| chunks.lock().unwrap().push(chunk))
                .await
                .expect("listing");
            let chunks = chunks.into_inner().unwrap();
            seen.lock().unwrap().extend(chunks.iter().map(Vec::len));
            chunks.into_iter().flatten().collect()
        };
        let calls = sim.calls()[before..].to_vec();
        let count = |name: &str| calls.iter().filter(|c| *c == name).count();
        assert_eq!(
            count("RetrievePropertiesEx"),
            reads,
            "interactive {interactive}: {calls:?}"
        );
        assert_eq!(count("ContinueRetrievePropertiesEx"), 0, "{calls:?}");
        // No container view for the listing (the TUI's change feed makes one).
        assert_eq!(
            (count("CreateContainerView"), count("DestroyView")),
            (usize::from(interactive), 0),
            "{calls:?}"
        );
        // Commands: each chunk as read; the TUI: the machines so far, when they double.
        assert_eq!(
            seen.into_inner().unwrap(),
            sizes,
            "interactive {interactive}"
        );
        let ids: std::collections::HashSet<&str> = machines.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids.len(), 3000, "each machine once");
        let sized = machines
            .iter()
            .filter(|m| m.walk().iter().any(|(_, s)| s.size_bytes.is_some()))
            .count();
        assert_eq!(sized, 300, "every snapshot with its size");
        assert!(machines.iter().all(|m| m.path.starts_with("/DC/vm/f")));
    }
}

/// A take with a quiesce time limit is `CreateSnapshotEx_Task` with a `GuestQuiesceSpec`,
/// over SOAP and VI/JSON alike: the simulator (as vSphere 6.5 and later) takes it, and
/// nothing is said about a fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiesce_time_limit_is_sent_with_create_snapshot_ex_over_both_protocols() {
    for transport in [Transport::Soap, Transport::Json] {
        let (estate, sim) =
            crate::common::vsim::start(Duration::from_millis(100), VsphereSimOptions::default())
                .await;
        let options = ConnectOptions {
            transport,
            ..ConnectOptions::default()
        };
        let p = crate::common::vsim::connect(&sim, "demo", "demo", options)
            .await
            .expect("login");
        let before = estate.machine("pcc", "vm-101").unwrap().snapshot_count();
        let op = Operation::Take {
            name: "t".into(),
            description: String::new(),
            memory: false,
            quiesce: true,
            quiesce_timeout: Some(15),
        };
        let task = p.start("vm-101", &op).await.expect("the take starts");
        assert_eq!(task.note, None, "{transport:?}");
        let status = p.follow("vm-101", &task.id, &|_| {}).await.expect("follow");
        assert_eq!(
            status.state,
            TaskState::Success,
            "{transport:?}: {status:?}"
        );
        let calls = sim.calls();
        assert!(
            calls.iter().any(|c| c == "CreateSnapshotEx_Task"),
            "{transport:?}: {calls:?}"
        );
        assert!(
            !calls.iter().any(|c| c == "CreateSnapshot_Task"),
            "{calls:?}"
        );
        assert_eq!(
            estate.machine("pcc", "vm-101").unwrap().snapshot_count(),
            before + 1
        );
    }
}
