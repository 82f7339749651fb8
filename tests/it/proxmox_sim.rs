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
use snaptree::sim::proxmox::{ProxmoxSimHandle, ProxmoxSimOptions, serve};

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
log = [l["t"] for l in p.nodes("pve1").tasks(upid).log.get()]
out.append("log %s %s" % ("saving VM state and RAM using storage 'local-lvm'" in log, log[-1]))
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

/// The demo's estate, its Proxmox cluster served (tasks of 300 ms) on a runtime of its own,
/// which must outlive the simulator.
fn cluster() -> (tokio::runtime::Runtime, Arc<Estate>, ProxmoxSimHandle) {
    cluster_of(Duration::from_millis(300))
}

/// [`cluster`] with tasks that take `tasks`.
fn cluster_of(tasks: Duration) -> (tokio::runtime::Runtime, Arc<Estate>, ProxmoxSimHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let estate = Arc::new(
        Estate::from_scenario(snaptree::sim::scenario::DEMO, Utc::now(), Some(tasks))
            .expect("the demo scenario"),
    );
    let sim = rt
        .block_on(serve(ProxmoxSimOptions::default(), estate.clone()))
        .expect("simulator");
    (rt, estate, sim)
}

#[test]
fn proxmoxer_drives_every_snapshot_operation_of_the_simulator() {
    let (_rt, estate, sim) = cluster();
    let lines = proxmoxer(SCRIPT, &["127.0.0.1", &sim.addr().port().to_string()]);
    assert_eq!(
        lines,
        [
            "guests 100:qemu:pve1,101:qemu:pve1,200:lxc:pve2,201:lxc:pve2",
            "upid qmsnapshot",
            "busy 500",
            "take OK",
            "log True TASK OK",
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
        "{lines:?}"
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

/// snaptree's own client against the simulator, through the real binary and a config file
/// (the token's secret from the environment, the certificate pinned): each change it makes
/// is what proxmoxer then reads; what Proxmox cannot do is refused before anything is sent.
#[test]
fn snaptree_changes_a_proxmox_cluster_and_proxmoxer_reads_the_result() {
    use crate::common::output::{code, json, one_sentence, stderr};
    let (_rt, estate, sim) = cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = cli(&sim, dir.path());
    let ok = |args: &[&str]| {
        let o = run("demo", args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        o
    };
    let listed = json(&ok(&["ls", "--json"]));
    let names: Vec<&str> = listed["machines"]
        .as_array()
        .expect("machines")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names.len(), 4, "{listed}");
    let checked = String::from_utf8_lossy(&ok(&["config", "check"]).stdout).to_string();
    assert!(checked.contains("Proxmox VE 8.2.4"), "{checked}");
    assert!(
        checked.contains("VM.Snapshot on /vms: allowed"),
        "{checked}"
    );

    let before = sim.requests().len();
    for (args, why) in [
        (&["take", "lab/dns", "-m"][..], "no RAM state"),
        (
            &["take", "lab/gitlab", "-n", "2nd try"][..],
            "starts with a letter",
        ),
        (
            &["rename", "lab/gitlab", "base", "-n", "x"][..],
            "cannot rename",
        ),
    ] {
        let line = one_sentence(&run("demo", args), 2);
        assert!(line.contains(why), "{args:?}: {line}");
    }
    assert!(
        sim.requests()[before..]
            .iter()
            .all(|r| r.starts_with("GET ")),
        "nothing but reads was sent: {:?}",
        &sim.requests()[before..]
    );
    let o = run("wrong", &["ls"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("API token was refused"),
        "{}",
        stderr(&o)
    );

    let taken = ok(&["take", "lab/gitlab", "-n", "cli_take", "-m"]);
    assert_eq!(String::from_utf8_lossy(&taken.stdout).trim(), "cli_take");
    ok(&["rename", "lab/gitlab", "cli_take", "-d", "from the cli"]);
    ok(&["revert", "lab/gitlab", "base", "--yes"]);
    ok(&["rm", "lab/gitlab", "pre_upgrade_16", "--yes"]);
    // base holds no RAM state: the rollback left gitlab stopped; to its current snapshot
    // again, started.
    assert_eq!(
        estate.machine("pve", "100").expect("gitlab").power_state,
        PowerState::PoweredOff
    );
    ok(&["revert", "lab/gitlab", "--start", "--yes"]);

    let script = r#"
import sys, warnings
warnings.filterwarnings("ignore")
from proxmoxer import ProxmoxAPI
p = ProxmoxAPI("127.0.0.1", port=int(sys.argv[1]), user="demo@pve", token_name="snaptree", token_value="demo", verify_ssl=False)
for s in p.nodes("pve1").qemu(100).snapshot.get():
    print(s["name"], s.get("parent", "-"), s.get("vmstate", "-"), s.get("description", ""))
print([g["status"] for g in p.cluster.resources.get(type="vm") if g["vmid"] == 100][0])
"#;
    let lines = proxmoxer(script, &[&sim.addr().port().to_string()]);
    assert_eq!(
        lines,
        [
            "base - 0 Debian 12, hardened",
            "pre_upgrade_17 base 0 Before GitLab 17.0",
            "cli_take pre_upgrade_17 1 from the cli",
            "current base - You are here!",
            "running",
        ],
        "{lines:?}"
    );
    let audit =
        std::fs::read_to_string(dir.path().join("state/snaptree/audit.log")).expect("audit log");
    for op in ["take", "rename", "revert", "delete", "revert-current"] {
        assert!(
            audit
                .lines()
                .any(|l| l.contains(&format!("\"operation\":\"{op}\""))
                    && l.contains("\"profile\":\"lab\"")
                    && l.contains("\"result\":\"success\"")),
            "{op}: {audit}"
        );
    }
}

/// snaptree's binary with a config file of one profile `lab` on `sim` (the secret from the
/// environment, as `secret` gives it; the certificate pinned), its state under `dir`.
fn cli(
    sim: &ProxmoxSimHandle,
    dir: &std::path::Path,
) -> impl Fn(&str, &[&str]) -> std::process::Output {
    let config = dir.join("snaptree.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.lab]\nkind = \"proxmox\"\nurl = \"{}\"\ntoken_id = \"demo@pve!snaptree\"\n\
             token_secret_env = \"PVE_TOKEN_SECRET\"\nthumbprint = \"{}\"\n",
            sim.url(),
            sim.thumbprint()
        ),
    )
    .expect("config");
    let d = dir.to_path_buf();
    move |secret: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_snaptree"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("HOME", &d)
            .env("XDG_STATE_HOME", d.join("state"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_CACHE_HOME", d.join("cache"))
            .env("PVE_TOKEN_SECRET", secret)
            .env_remove("SNAPTREE_CONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run snaptree")
    }
}

/// The snapshots of guest `vmid` on `node` as proxmoxer reads them: `name parent` each.
fn proxmoxer_snapshots(sim: &ProxmoxSimHandle, node: &str, kind: &str, vmid: u32) -> Vec<String> {
    let script = r#"
import sys, warnings
warnings.filterwarnings("ignore")
from proxmoxer import ProxmoxAPI
p = ProxmoxAPI("127.0.0.1", port=int(sys.argv[1]), user="demo@pve", token_name="snaptree", token_value="demo", verify_ssl=False)
for s in getattr(p.nodes(sys.argv[2]), sys.argv[3])(int(sys.argv[4])).snapshot.get():
    print(s["name"], s.get("parent", "-"))
"#;
    proxmoxer(
        script,
        &[
            &sim.addr().port().to_string(),
            node,
            kind,
            &vmid.to_string(),
        ],
    )
}

/// The lines proxmoxer's `script` prints, run with `args`; a script that fails fails the
/// test.
fn proxmoxer(script: &str, args: &[&str]) -> Vec<String> {
    crate::common::peers::run_python("proxmoxer", script, args)
        .lines()
        .map(String::from)
        .collect()
}

/// Proxmox deletes one snapshot per call: a snapshot with its descendants, or all of them,
/// is a plan of single deletes, deepest first, each waited for; one that fails stops the
/// rest. proxmoxer reads what is left.
#[test]
fn a_subtree_or_every_snapshot_of_a_proxmox_guest_goes_one_delete_at_a_time() {
    use crate::common::output::{code, json, one_sentence, stderr};
    let (_rt, estate, sim) = cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = cli(&sim, dir.path());
    let deletes = |from: usize| -> Vec<String> {
        sim.requests()[from..]
            .iter()
            .filter(|r| r.starts_with("DELETE "))
            .map(|r| r.rsplit('/').next().unwrap_or_default().to_string())
            .collect()
    };
    // The expired snapshot (a date alone in its marker) is prune's; Proxmox gives no sizes:
    // "size not known", null in JSON, never 0 B.
    let o = run("demo", &["prune", "lab/", "--expired", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let plan = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        plan.contains("lab/db-primary (101): 1 snapshot(s), size not known"),
        "{plan}"
    );
    assert!(!plan.contains("0 B"), "{plan}");
    let doc = json(&run(
        "demo",
        &["prune", "lab/", "--expired", "--dry-run", "--json"],
    ));
    assert_eq!(doc["total"]["snapshots"], 1, "{doc}");
    assert!(doc["total"]["size_bytes"].is_null(), "{doc}");

    // Not waited for, a plan cannot go on: refused before anything is sent.
    let before = sim.requests().len();
    let o = run(
        "demo",
        &[
            "rm",
            "lab/db-primary",
            "nightly",
            "--children",
            "--yes",
            "--no-wait",
        ],
    );
    assert!(
        one_sentence(&o, 2).contains("leave out --no-wait"),
        "{}",
        stderr(&o)
    );
    assert!(deletes(before).is_empty());

    // The first deletion fails: the two after it are not started.
    estate.inject(snaptree::sim::SimFault::FailNextTask("storage busy".into()));
    let before = sim.requests().len();
    let o = run(
        "demo",
        &[
            "rm",
            "lab/db-primary",
            "nightly",
            "--children",
            "--yes",
            "--json",
        ],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    assert_eq!(doc["plan"][0]["target"], "schema-v41", "{doc}");
    assert_eq!(doc["plan"][0]["state"], "error", "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("storage busy") && e.contains("2 later step(s)")),
        "{doc}"
    );
    assert!(stderr(&o).contains("storage busy"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the 2 later step(s) were not started"),
        "{}",
        stderr(&o)
    );
    assert_eq!(deletes(before), ["schema-v41"]);
    assert_eq!(proxmoxer_snapshots(&sim, "pve1", "qemu", 101).len(), 4);

    // Again: the children first, the snapshot chosen last; one JSON document.
    let before = sim.requests().len();
    let o = run(
        "demo",
        &[
            "rm",
            "lab/db-primary",
            "nightly",
            "--children",
            "--yes",
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(deletes(before), ["schema-v41", "schema-v42", "nightly"]);
    let doc = json(&o);
    assert_eq!(doc["steps"], 3, "{doc}");
    let states: Vec<&str> = doc["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .filter_map(|t| t["state"].as_str())
        .collect();
    assert_eq!(states, ["success"; 3], "{doc}");
    let targets: Vec<&str> = doc["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .filter_map(|t| t["target"].as_str())
        .collect();
    assert_eq!(targets, ["schema-v41", "schema-v42", "nightly"], "{doc}");
    assert!(
        stderr(&o).contains("step 3/3: delete nightly"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        proxmoxer_snapshots(&sim, "pve1", "qemu", 101),
        ["current -"]
    );

    // Every snapshot of gitlab, deepest first.
    let before = sim.requests().len();
    let o = run("demo", &["rm", "lab/gitlab", "--all", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        deletes(before),
        ["pre_upgrade_17", "pre_upgrade_16", "base"]
    );
    assert_eq!(
        proxmoxer_snapshots(&sim, "pve1", "qemu", 100),
        ["current -"]
    );

    // A leaf with --children, and all of a guest with one snapshot: a plan of one step,
    // said as a plan (the document does not depend on how many there are).
    let o = run("demo", &["rm", "lab/dns", "--all", "--yes", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["steps"], 1);
    let taken = run("demo", &["take", "lab/dns", "-n", "leaf"]);
    assert_eq!(code(&taken), 0, "{}", stderr(&taken));
    let o = run(
        "demo",
        &["rm", "lab/dns", "leaf", "--children", "--yes", "--json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["plan"][0]["target"], "leaf");
    assert_eq!(proxmoxer_snapshots(&sim, "pve2", "lxc", 200), ["current -"]);
    let audit =
        std::fs::read_to_string(dir.path().join("state/snaptree/audit.log")).expect("audit log");
    let deleted = audit
        .lines()
        .filter(|l| l.contains("\"operation\":\"delete\"") && l.contains("\"result\":\"success\""))
        .count();
    assert_eq!(deleted, 8, "{audit}");
}

/// A running task says what it is doing: its log's last line, read as it grows, is the
/// progress line (and a task that fails says the log's error at its end).
#[test]
fn a_proxmox_task_says_its_log_while_it_runs() {
    use crate::common::output::{code, stderr};
    let (_rt, _estate, sim) = cluster_of(Duration::from_secs(4));
    let dir = tempfile::tempdir().expect("tempdir");
    let run = cli(&sim, dir.path());
    let o = run("demo", &["take", "lab/gitlab", "-n", "logged", "-m"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.lines()
            .any(|l| l.starts_with("take lab/gitlab: running · ") && l.contains(" GiB in ")),
        "{err}"
    );
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.starts_with("GET ") && r.ends_with("/log")),
        "{:?}",
        sim.requests()
    );
}

/// Stopping a task (`DELETE …/tasks/{upid}`, the TUI's `x`): a snapshot being taken is
/// stoppable while it runs, and stopped it ends cancelled with nothing made; a rollback
/// or a delete is never offered nor sent (stopped midway it leaves the guest locked).
#[test]
fn a_snapshot_being_taken_on_proxmox_is_stopped_and_nothing_is_left() {
    use snaptree::model::{Operation, TaskState, TaskStatus};
    use snaptree::provider::Provider;
    use snaptree::provider::proxmox::ProxmoxProvider;
    let (rt, estate, sim) = cluster_of(Duration::from_secs(5));
    let config = snaptree::config::Config::parse(
        &format!(
            "[profiles.lab]\nkind = \"proxmox\"\nurl = \"{}\"\ntoken_id = \"demo@pve!snaptree\"\n\
             token_secret = \"demo\"\nthumbprint = \"{}\"\n",
            sim.url(),
            sim.thumbprint()
        ),
        std::path::Path::new("snaptree.toml"),
    )
    .expect("config");
    let cfg = &config.profiles["lab"];
    let p = ProxmoxProvider::from_profile("lab", cfg)
        .expect("provider")
        .with_poll_interval(Duration::from_millis(100));
    let stopped = rt.block_on(async {
        let take = Operation::Take {
            quiesce_timeout: None,
            name: "stopped_take".into(),
            description: String::new(),
            memory: true,
            quiesce: false,
        };
        let t = p.start("100", &take).await.expect("take");
        let seen = std::sync::Mutex::new(Vec::<TaskStatus>::new());
        let sink = |st: &TaskStatus| seen.lock().expect("seen").push(st.clone());
        let follow = p.follow("100", &t.id, &sink);
        let stop = async {
            // Stopped once the task said it may be.
            for _ in 0..50 {
                if seen.lock().expect("seen").iter().any(|st| st.cancelable) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            p.start("100", &Operation::Cancel { task: t.id.clone() })
                .await
                .expect("stop")
        };
        let (end, stopped) = tokio::join!(follow, stop);
        let end = end.expect("follow");
        assert!(stopped.finished);
        assert_eq!(end.state, TaskState::Cancelled, "{end:?}");
        assert!(
            end.message
                .as_deref()
                .is_some_and(|m| m.contains("received interrupt")),
            "{end:?}"
        );
        assert!(
            p.load_machine("100")
                .await
                .expect("gitlab")
                .find("stopped_take")
                .is_none()
        );

        // A delete is not stoppable: not offered, and refused before anything is sent.
        let d = p
            .start(
                "101",
                &Operation::Delete {
                    snapshot: "schema-v41".into(),
                    children: false,
                },
            )
            .await
            .expect("delete");
        let seen = std::sync::Mutex::new(Vec::<TaskStatus>::new());
        let sink = |st: &TaskStatus| seen.lock().expect("seen").push(st.clone());
        let before = sim.requests().len();
        let refused = p
            .start("101", &Operation::Cancel { task: d.id.clone() })
            .await;
        assert!(
            matches!(&refused, Err(e) if e.to_string().contains("leaves the guest locked")),
            "{refused:?}"
        );
        assert!(
            !sim.requests()[before..]
                .iter()
                .any(|r| r.starts_with("DELETE ")),
            "{:?}",
            &sim.requests()[before..]
        );
        let end = p.follow("101", &d.id, &sink).await.expect("follow");
        assert_eq!(end.state, TaskState::Success);
        assert!(seen.lock().expect("seen").iter().all(|st| !st.cancelable));
        t.id
    });
    assert!(
        estate
            .machine("pve", "101")
            .expect("db")
            .find("schema-v41")
            .is_none()
    );
    // proxmoxer reads the stopped task as Proxmox words it, and no snapshot left.
    let script = r#"
import sys, warnings
warnings.filterwarnings("ignore")
from proxmoxer import ProxmoxAPI
p = ProxmoxAPI("127.0.0.1", port=int(sys.argv[1]), user="demo@pve", token_name="snaptree", token_value="demo", verify_ssl=False)
st = p.nodes("pve1").tasks(sys.argv[2]).status.get()
log = [l["t"] for l in p.nodes("pve1").tasks(sys.argv[2]).log.get()]
print(st["status"], st["exitstatus"], "|", log[-1])
print(sorted(s["name"] for s in p.nodes("pve1").qemu(100).snapshot.get()))
"#;
    assert_eq!(
        proxmoxer(script, &[&sim.addr().port().to_string(), &stopped]),
        [
            "stopped received interrupt | TASK ERROR: received interrupt",
            "['base', 'current', 'pre_upgrade_16', 'pre_upgrade_17']",
        ]
    );
}

/// A certificate this machine does not trust is said as such, with the server's thumbprint
/// to pin (as for vSphere), and a pin that no longer matches says what the server presents
/// now: never "cannot reach the back end" alone.
#[test]
fn an_untrusted_proxmox_certificate_says_why_and_the_thumbprint_to_pin() {
    use crate::common::output::{code, stderr};
    let (_rt, _estate, sim) = cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("snaptree.toml");
    let ls = |tls: &str| {
        std::fs::write(
            &config,
            format!(
                "[profiles.pve]\nkind = \"proxmox\"\nurl = \"{}\"\ntoken_id = \"demo@pve!snaptree\"\n\
                 token_secret = \"demo\"\n{tls}",
                sim.url()
            ),
        )
        .expect("config");
        Command::new(env!("CARGO_BIN_EXE_snaptree"))
            .arg("--config")
            .arg(&config)
            .arg("ls")
            .env("HOME", dir.path())
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env_remove("SNAPTREE_CONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run snaptree")
    };
    let o = ls("");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "is not signed by a CA this machine trusts; to trust it, add thumbprint = \"{}\" to profile pve",
            sim.thumbprint()
        )),
        "{}",
        stderr(&o)
    );
    let o = ls(&format!("thumbprint = \"SHA256:{}\"\n", "00".repeat(32)));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "does not match the pinned thumbprint of profile pve; the server now presents {}",
            sim.thumbprint()
        )),
        "{}",
        stderr(&o)
    );
}

/// A Proxmox server that accepts and never answers: the profile's time limit ends the
/// listing at its first call, said as such, and the call is not made again.
#[test]
fn a_stalled_proxmox_server_is_said_once_within_the_time_limit() {
    use crate::common::output::{code, stderr};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(c);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("snaptree.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.pve]\nkind = \"proxmox\"\nurl = \"127.0.0.1:{port}\"\n\
             token_id = \"a@pve!t\"\ntoken_secret = \"x\"\ninsecure = true\ntimeout = \"1s\"\n"
        ),
    )
    .expect("config");
    let o = Command::new(env!("CARGO_BIN_EXE_snaptree"))
        .arg("--config")
        .arg(&config)
        .arg("ls")
        .env("HOME", dir.path())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env_remove("SNAPTREE_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run snaptree");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("GET /version: the server did not answer in time (timeout 1s)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "asked once"
    );
}
