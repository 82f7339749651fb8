//! The Proxmox VE simulator against proxmoxer, the field's Python client, as the other
//! tool: every snapshot operation the API offers (take with and without RAM state,
//! describe, rollback, delete), its tasks followed by UPID, and the faults a careless client
//! meets (a bad name, a container's RAM state, a wrong token, a guest busy with a task).
//! The simulator is checked by a client it was not written with.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use snaptree::model::PowerState;
use snaptree::sim::Estate;
use snaptree::sim::proxmox::{ProxmoxSimOptions, serve};

const SCRIPT: &str = r#"
import sys, time, warnings
warnings.filterwarnings("ignore")
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException, AuthenticationError
host, port = sys.argv[1], int(sys.argv[2])
p = ProxmoxAPI(host, port=port, user="demo@pve", token_name="snaptree", token_value="demo", verify_ssl=False)
out = []
def wait(node, upid):
    for _ in range(200):
        st = p.nodes(node).tasks(upid).status.get()
        if st["status"] == "stopped":
            return st["exitstatus"]
        time.sleep(0.05)
    raise SystemExit("task did not end: " + upid)
def refused(call):
    try:
        call()
    except ResourceException as e:
        return e.status_code
    raise SystemExit("not refused")
vms = p.cluster.resources.get(type="vm")
out.append("guests " + ",".join(sorted("%s:%s:%s" % (v["vmid"], v["type"], v["node"]) for v in vms)))
gitlab = p.nodes("pve1").qemu(100)
upid = gitlab.snapshot.post(snapname="from_proxmoxer", description="made by proxmoxer", vmstate=1)
out.append("upid " + upid.split(":")[5])
# The guest is locked while its snapshot is taken.
out.append("busy %d" % refused(lambda: gitlab.snapshot.post(snapname="second")))
out.append("take " + wait("pve1", upid))
snaps = {s["name"]: s for s in gitlab.snapshot.get()}
out.append("current " + snaps["current"]["parent"])
out.append("vmstate %d parent %s" % (snaps["from_proxmoxer"]["vmstate"], snaps["from_proxmoxer"]["parent"]))
gitlab.snapshot("from_proxmoxer").config.put(description="described by proxmoxer")
out.append("config " + gitlab.snapshot("from_proxmoxer").config.get()["description"])
out.append("rollback " + wait("pve1", gitlab.snapshot("base").rollback.post()))
out.append("current " + {s["name"]: s for s in gitlab.snapshot.get()}["current"]["parent"])
out.append("delete " + wait("pve1", gitlab.snapshot("pre_upgrade_16").delete()))
snaps = {s["name"]: s for s in gitlab.snapshot.get()}
out.append("moved-up " + snaps["pre_upgrade_17"]["parent"])
out.append("bad-name %d" % refused(lambda: gitlab.snapshot.post(snapname="1st")))
dns = p.nodes("pve2").lxc(200)
out.append("lxc-vmstate %d" % refused(lambda: dns.snapshot.post(snapname="x", vmstate=1)))
out.append("wrong-node %d" % refused(lambda: p.nodes("pve2").qemu(100).snapshot.get()))
out.append("lxc " + wait("pve2", dns.snapshot.post(snapname="ct_snap")))
try:
    ProxmoxAPI(host, port=port, user="demo@pve", token_name="snaptree", token_value="wrong", verify_ssl=False).version.get()
    out.append("wrong-token accepted")
except (ResourceException, AuthenticationError) as e:
    out.append("wrong-token refused")
print("\n".join(out))
"#;

#[test]
fn proxmoxer_drives_every_snapshot_operation_of_the_simulator() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let estate = Arc::new(
        Estate::from_scenario(
            snaptree::sim::scenario::PROXMOX,
            Utc::now(),
            Some(Duration::from_millis(300)),
        )
        .expect("the Proxmox scenario"),
    );
    let sim = rt
        .block_on(serve(ProxmoxSimOptions::default(), estate.clone()))
        .expect("simulator");
    let out = Command::new(crate::common::peers::python("proxmoxer"))
        .args(["-c", SCRIPT, "127.0.0.1", &sim.addr().port().to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines,
        [
            "guests 100:qemu:pve1,101:qemu:pve1,200:lxc:pve2,201:lxc:pve2",
            "upid qmsnapshot",
            "busy 500",
            "take OK",
            "current from_proxmoxer",
            "vmstate 1 parent pre_upgrade_17",
            "config described by proxmoxer",
            "rollback OK",
            "current base",
            "delete OK",
            "moved-up base",
            "bad-name 400",
            "lxc-vmstate 400",
            "wrong-node 500",
            "lxc OK",
            "wrong-token refused",
        ],
        "{said}"
    );
    // The estate holds what proxmoxer did; base has no RAM state, so the VM is stopped
    // after its rollback.
    let gitlab = estate.machine("pve", "100").expect("gitlab");
    assert_eq!(gitlab.current.as_deref(), Some("base"));
    assert_eq!(gitlab.power_state, PowerState::PoweredOff);
    assert!(gitlab.find("pre_upgrade_16").is_none());
    let taken = gitlab.find("from_proxmoxer").expect("taken");
    assert!(taken.memory);
    assert_eq!(taken.description, "described by proxmoxer");
    let dns = estate.machine("pve", "200").expect("dns");
    assert!(dns.find("ct_snap").is_some_and(|s| !s.memory));
    assert!(
        sim.requests().iter().all(|r| r.contains(" /api2/json/")),
        "{:?}",
        sim.requests()
    );
}
