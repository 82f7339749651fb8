//! python-ovh, the official client, against the OVH API simulator: its signed requests are
//! accepted, a wrong secret is refused, and a snapshot is created and followed to its end.
//! Fails, naming the install command, when python-ovh is missing.

use std::time::Duration;

use snaptree::sim::ovh::{OvhSimOptions, serve};

const SCRIPT: &str = r#"
import sys, time
import ovh, ovh.client, ovh.exceptions

base, ak, secret, ck = sys.argv[1:5]
ovh.client.ENDPOINTS["snaptree-sim"] = base
c = ovh.Client(endpoint="snaptree-sim", application_key=ak,
               application_secret=secret, consumer_key=ck)
sn = "vps-5e6f7a8b.vps.ovh.net"
assert sn in c.get("/vps"), "listing"
assert c.get("/vps/" + sn)["displayName"] == "blog"
assert c.get("/vps/" + sn + "/option/snapshot")["state"] == "subscribed"
try:
    c.get("/vps/" + sn + "/snapshot")
    sys.exit("expected no snapshot")
except ovh.exceptions.ResourceNotFoundError:
    pass
task = c.post("/vps/" + sn + "/createSnapshot", description="from python-ovh")
states = []
for _ in range(400):
    task = c.get("/vps/%s/tasks/%d" % (sn, task["id"]))
    states.append(task["state"])
    if task["state"] in ("done", "error", "cancelled"):
        break
    time.sleep(0.05)
assert task["state"] == "done", task
assert task["type"] == "createSnapshot", task
assert c.get("/vps/" + sn + "/snapshot")["description"] == "from python-ovh"
# A query string is part of what is signed.
assert task["id"] in c.get("/vps/" + sn + "/tasks", state="done", type="createSnapshot")
c.put("/vps/" + sn + "/snapshot", description="edited")
assert c.get("/vps/" + sn + "/snapshot")["description"] == "edited"

# The automated backup, as the schema says: mail has it (7 restore points a day at 22:00,
# the newest mounted), blog does not.
mail = "vps-3a4b5c6d.vps.ovh.net"
assert "automatedBackup" in c.get("/vps/" + mail + "/option"), "option listed"
assert c.get("/vps/" + mail + "/option/automatedBackup")["state"] == "subscribed"
backup = c.get("/vps/" + mail + "/automatedBackup")
assert backup == {"schedule": "22:00:00", "state": "enabled"}, backup
available = c.get("/vps/" + mail + "/automatedBackup/restorePoints", state="available")
restored = c.get("/vps/" + mail + "/automatedBackup/restorePoints", state="restored")
assert (len(available), len(restored)) == (6, 1), (available, restored)
assert all(t.endswith("T22:00:00+00:00") for t in available + restored), available
assert restored[0] > max(available), "the newest is the mounted one"
attached = c.get("/vps/" + mail + "/automatedBackup/attachedBackup")
assert [a["restorePoint"] for a in attached] == restored, attached
assert attached[0]["access"]["nfs"].startswith("10.20.30.40:/backup/"), attached
try:
    c.get("/vps/" + mail + "/automatedBackup/restorePoints", state="lost")
    sys.exit("an unknown restore point state was accepted")
except ovh.exceptions.BadParametersError:
    pass
try:
    c.get("/vps/" + sn + "/automatedBackup")
    sys.exit("blog has no automated backup")
except ovh.exceptions.ResourceNotFoundError:
    pass

bad = ovh.Client(endpoint="snaptree-sim", application_key=ak,
                 application_secret="not-the-secret", consumer_key=ck)
try:
    bad.get("/vps")
    sys.exit("a wrong secret was accepted")
except ovh.exceptions.BadParametersError as e:
    assert "signature" in str(e).lower(), e
print("python-ovh ok; task states seen:", ",".join(dict.fromkeys(states)))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_ovh_signs_requests_the_simulator_accepts() {
    let python = crate::common::peers::python("ovh");
    let estate = crate::common::demo_estate(Duration::from_millis(500));
    let opts = OvhSimOptions {
        clock_offset_secs: 600,
        ..OvhSimOptions::default()
    };
    let sim = serve(opts.clone(), estate.clone())
        .await
        .expect("simulator");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .arg(sim.base_url())
            .arg(&opts.application_key)
            .arg(&opts.application_secret)
            .arg(&opts.consumer_key)
            .output(),
    )
    .await
    .expect("python-ovh finished in time")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "python-ovh failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("python-ovh ok"), "{stdout}");
    let m = estate
        .machine(sim.profile(), "vps-5e6f7a8b.vps.ovh.net")
        .expect("machine");
    assert_eq!(m.snapshots.len(), 1);
    assert_eq!(m.snapshots[0].description, "edited");
}
