//! pyVmomi, the official Python client, against the vSphere simulator: it logs in with
//! `SmartConnect`, lists VMs through a container view, reads trees and runs every snapshot
//! operation of docs/operations.md (the script is `tests/python/vsim_pyvmomi.py`); this test then
//! checks the estate those operations changed. Fails, naming the install command, when
//! pyVmomi is missing.

use std::time::Duration;

use crate::common::demo_estate;

use snaptree::model::PowerState;
use snaptree::sim::vsphere::{VsphereSimOptions, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyvmomi_runs_every_snapshot_operation() {
    let python = crate::common::peers::python("pyVmomi, pyVim.connect");
    let fast = demo_estate(Duration::from_millis(300));
    let slow = demo_estate(Duration::from_secs(60));
    let fast_sim = serve(VsphereSimOptions::default(), fast.clone())
        .await
        .expect("fast simulator");
    let slow_sim = serve(VsphereSimOptions::default(), slow.clone())
        .await
        .expect("slow simulator");
    let pem = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(pem.path(), fast_sim.certificate_pem()).expect("certificate written");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/vsim_pyvmomi.py");
    let run = tokio::process::Command::new(python)
        .arg(script)
        .arg("127.0.0.1")
        .arg(fast_sim.addr().port().to_string())
        .arg(slow_sim.addr().port().to_string())
        .args(["demo", "demo"])
        .arg(pem.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the pyVmomi script finished in time")
        .expect("python3 ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pyVmomi script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\ncalls: {:?}",
        fast_sim.calls()
    );
    assert!(stdout.contains("pyvmomi ok"), "{stdout}");
    println!("{stdout}");

    // What the operations did, seen in the estate itself.
    let jump = fast.machine("pcc", "vm-303").unwrap();
    assert_eq!(jump.snapshot_count(), 1);
    let kept = &jump.snapshots[0];
    assert_eq!(
        (kept.name.as_str(), kept.description.as_str()),
        ("renamed", "new description")
    );
    assert_eq!(jump.current.as_deref(), Some(kept.id.as_str()));
    assert_eq!(jump.power_state, PowerState::PoweredOff);
    let web = fast.machine("pcc", "vm-101").unwrap();
    let ids: Vec<&str> = web.walk().iter().map(|(_, s)| s.id.as_str()).collect();
    assert_eq!(ids, ["snapshot-101", "snapshot-105", "snapshot-106"]);
    // web-02: everything removed, then one quiesced take through CreateSnapshotEx_Task (the
    // one with a time limit out of bounds made nothing).
    let web2 = fast.machine("pcc", "vm-102").unwrap();
    let names: Vec<(&str, bool)> = web2
        .walk()
        .iter()
        .map(|(_, s)| (s.name.as_str(), s.quiesced))
        .collect();
    assert_eq!(names, [("ex", true)]);
    assert!(!fast.machine("pcc", "vm-201").unwrap().consolidation_needed);
    let calls = fast_sim.calls();
    for method in [
        "RetrieveServiceContent",
        "Login",
        "CreateContainerView",
        "CreateSnapshot_Task",
        "CreateSnapshotEx_Task",
        "RevertToSnapshot_Task",
        "RevertToCurrentSnapshot_Task",
        "RenameSnapshot",
        "RemoveSnapshot_Task",
        "RemoveAllSnapshots_Task",
        "ConsolidateVMDisks_Task",
        "CreateFilter",
    ] {
        assert!(
            calls.iter().any(|c| c == method),
            "{method} not called: {calls:?}"
        );
    }
    assert!(slow_sim.calls().iter().any(|c| c == "CancelTask"));
    let monitoring = slow.machine("pcc", "vm-304").unwrap();
    assert_eq!(
        monitoring.snapshot_count(),
        1,
        "the cancelled take left no snapshot"
    );
}
