//! The vSphere provider over VI/JSON, the protocol vCenter 8.0U1 and later speak and the one
//! the provider picks by default (`Transport::Auto`). These run against snaptree's own
//! vSphere simulator, because vcsim 0.24 has no VI/JSON: every call below goes through
//! vim_rs's JSON client, and the simulator answers VI/JSON as vCenter does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::take;

use snaptree::model::{Machine, Operation, TaskState, TaskStatus};
use snaptree::provider::vsphere::{ConnectOptions, Transport, VsphereProvider};
use snaptree::provider::{Provider, ProviderError};
use snaptree::sim::vsphere::{VsphereSimHandle, VsphereSimOptions, serve};
use snaptree::sim::{Estate, SimFault};

async fn setup(task: Duration) -> (Arc<Estate>, VsphereSimHandle, VsphereProvider) {
    setup_with(task, VsphereSimOptions::default()).await
}

async fn setup_with(
    task: Duration,
    opts: VsphereSimOptions,
) -> (Arc<Estate>, VsphereSimHandle, VsphereProvider) {
    let (estate, sim) = crate::common::vsim::start(task, opts).await;
    let provider = connect(&sim, "demo", "demo", Transport::Auto)
        .await
        .expect("login");
    (estate, sim, provider)
}

async fn connect(
    sim: &VsphereSimHandle,
    user: &str,
    password: &str,
    transport: Transport,
) -> Result<VsphereProvider, ProviderError> {
    let options = ConnectOptions {
        transport,
        ..ConnectOptions::default()
    };
    crate::common::vsim::connect(sim, user, password, options).await
}

async fn protocol(p: &VsphereProvider) -> String {
    p.check()
        .await
        .expect("check")
        .into_iter()
        .find(|(k, _)| k == "protocol")
        .map(|(_, v)| v)
        .expect("a protocol line")
}

/// Machines without the time of reading their sizes, which differs between two reads.
fn timeless(list: &[Machine]) -> Vec<Machine> {
    list.iter()
        .cloned()
        .map(|mut m| {
            m.details.retain(|(k, _)| k != "sizes as of");
            m
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_speaks_vi_json_and_reads_what_soap_reads() {
    let (_estate, sim, json) = setup(Duration::from_millis(200)).await;
    assert_eq!(protocol(&json).await, "VI/JSON");
    let soap = connect(&sim, "demo", "demo", Transport::Soap)
        .await
        .expect("login");
    assert_eq!(protocol(&soap).await, "SOAP");
    let none = |_| {};
    let over_json = json
        .load_inventory(&none)
        .await
        .expect("inventory over JSON");
    let over_soap = soap
        .load_inventory(&none)
        .await
        .expect("inventory over SOAP");
    assert_eq!(over_json.len(), 8);
    assert_eq!(timeless(&over_json), timeless(&over_soap));
    assert!(
        over_json
            .iter()
            .flat_map(|m| m.walk())
            .any(|(_, s)| s.size_bytes.unwrap_or(0) > 0),
        "sizes from layoutEx"
    );
    // The configured memory (`config.hardware.memoryMB`), over both.
    let memory = |name: &str| over_json.iter().find(|m| m.name == name).unwrap().memory_mb;
    assert_eq!(
        (memory("db-01"), memory("web-01")),
        (Some(65536), Some(4096))
    );
    for m in timeless(&over_json) {
        let alone = json.load_machine(&m.id).await.expect("one VM");
        assert_eq!(timeless(&[alone]), [m]);
    }
}

/// Start `op` and follow it to its end, returning the statuses seen and the last one.
async fn run(p: &VsphereProvider, vm: &str, op: &Operation) -> (Vec<TaskStatus>, TaskStatus) {
    let started = p
        .start(vm, op)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", op.name()));
    let seen = Mutex::new(Vec::new());
    let last = p
        .follow(vm, &started.id, &|s| seen.lock().unwrap().push(s.clone()))
        .await
        .expect("follow");
    (seen.into_inner().unwrap(), last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_revert_delete_rename_and_consolidate_over_json() {
    let (estate, sim, p) = setup(Duration::from_millis(300)).await;
    assert_eq!(protocol(&p).await, "VI/JSON");

    // Take, with the task followed through the property collector to success.
    let (seen, last) = run(&p, "vm-303", &take("json-1")).await;
    assert_eq!(last.state, TaskState::Success, "{last:?}");
    assert!(!seen.is_empty(), "progress reported");
    assert_eq!(seen.last().map(|s| s.state), Some(TaskState::Success));
    let m = p.load_machine("vm-303").await.expect("vm-303");
    assert_eq!(m.snapshots.len(), 1);
    let taken = &m.snapshots[0];
    assert_eq!(
        (taken.name.as_str(), taken.description.as_str()),
        ("json-1", "json-1 for the test")
    );
    assert_eq!(m.current.as_deref(), Some(taken.id.as_str()));
    assert_eq!(estate.machine("pcc", "vm-303").unwrap().snapshot_count(), 1);

    // Revert to a snapshot other than the current one.
    let revert = Operation::Revert {
        start: false,
        snapshot: "snapshot-102".into(),
        suppress_power_on: true,
    };
    let (_, last) = run(&p, "vm-101", &revert).await;
    assert_eq!(last.state, TaskState::Success, "{last:?}");
    let m = p.load_machine("vm-101").await.expect("vm-101");
    assert_eq!(m.current.as_deref(), Some("snapshot-102"));

    // Delete one snapshot, then rename another (synchronous).
    let delete = Operation::Delete {
        snapshot: "snapshot-106".into(),
        children: false,
    };
    let (_, last) = run(&p, "vm-101", &delete).await;
    assert_eq!(last.state, TaskState::Success, "{last:?}");
    let rename = Operation::Rename {
        snapshot: "snapshot-105".into(),
        name: Some("renamed over JSON".into()),
        description: Some("with a \"quote\" and é".into()),
    };
    let started = p.start("vm-101", &rename).await.expect("rename");
    assert!(started.finished, "RenameSnapshot is synchronous");
    let m = p.load_machine("vm-101").await.expect("vm-101");
    assert!(m.find("snapshot-106").is_none());
    let renamed = m.find("snapshot-105").expect("snapshot-105");
    assert_eq!(
        (renamed.name.as_str(), renamed.description.as_str()),
        ("renamed over JSON", "with a \"quote\" and é")
    );

    // Delete all, and consolidate.
    let (_, last) = run(&p, "vm-301", &Operation::DeleteAll).await;
    assert_eq!(last.state, TaskState::Success, "{last:?}");
    assert!(p.load_machine("vm-301").await.unwrap().snapshots.is_empty());
    assert_eq!(estate.machine("pcc", "vm-301").unwrap().snapshot_count(), 0);
    assert!(p.load_machine("vm-201").await.unwrap().consolidation_needed);
    let (_, last) = run(&p, "vm-201", &Operation::Consolidate).await;
    assert_eq!(last.state, TaskState::Success, "{last:?}");
    assert!(!p.load_machine("vm-201").await.unwrap().consolidation_needed);

    let calls = sim.calls();
    for method in [
        "CreateSnapshot_Task",
        "RevertToSnapshot_Task",
        "RemoveSnapshot_Task",
        "RenameSnapshot",
        "RemoveAllSnapshots_Task",
        "ConsolidateVMDisks_Task",
        "WaitForUpdatesEx",
    ] {
        assert!(calls.iter().any(|c| c == method), "{method}: {calls:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_task_in_progress_over_json() {
    let (estate, _sim, p) = setup(Duration::from_secs(60)).await;
    let started = p.start("vm-303", &take("long")).await.expect("take");
    // A second task while one runs is refused with the server's TaskInProgress.
    let err = p.start("vm-303", &take("second")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Busy(_)), "{err:?}");
    assert!(err.to_string().contains("in progress"), "{err}");
    p.start(
        "vm-303",
        &Operation::Cancel {
            task: started.id.clone(),
        },
    )
    .await
    .expect("cancel");
    let status = p
        .follow("vm-303", &started.id, &|_| {})
        .await
        .expect("follow");
    assert_eq!(status.state, TaskState::Cancelled);
    assert_eq!(estate.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_over_json_read_as_over_soap() {
    let (_estate, sim, p) = setup(Duration::from_millis(100)).await;
    // A wrong password: InvalidLogin, as the sentence snaptree gives for it.
    let err = connect(&sim, "demo", "wrong", Transport::Auto)
        .await
        .err()
        .expect("a wrong password is refused");
    assert!(matches!(err, ProviderError::Auth(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("refused the user name or password"),
        "{err}"
    );
    // A snapshot that does not exist: ManagedObjectNotFound.
    let revert = Operation::Revert {
        start: false,
        snapshot: "snapshot-999".into(),
        suppress_power_on: true,
    };
    let err = p.start("vm-101", &revert).await.unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)), "{err:?}");
    // Quiescing a powered-off VM: InvalidPowerState, with the server's words.
    let quiesce = Operation::Take {
        quiesce_timeout: None,
        name: "q".into(),
        description: String::new(),
        memory: false,
        quiesce: true,
    };
    let err = p.start("vm-202", &quiesce).await.unwrap_err();
    assert!(matches!(err, ProviderError::InvalidState(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("power state"), "{text}");
    assert!(
        text.contains("the server said: The attempted operation cannot be performed"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_expired_json_session_is_renewed_for_reads() {
    let opts = VsphereSimOptions {
        idle_timeout: Duration::from_millis(1500),
        ..VsphereSimOptions::default()
    };
    let (_estate, sim, p) = setup_with(Duration::from_millis(100), opts).await;
    let none = |_| {};
    let before = p.load_inventory(&none).await.expect("inventory");
    let logins = |sim: &VsphereSimHandle| sim.calls().iter().filter(|c| *c == "Login").count();
    assert_eq!(logins(&sim), 1);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let after = p
        .load_inventory(&none)
        .await
        .expect("inventory after expiry");
    assert_eq!(timeless(&before), timeless(&after));
    assert_eq!(logins(&sim), 2, "logged in again: {:?}", sim.calls());
    assert_eq!(protocol(&p).await, "VI/JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_falls_back_to_soap_when_the_server_has_no_vi_json() {
    let opts = VsphereSimOptions {
        vi_json: false,
        ..VsphereSimOptions::default()
    };
    let (_estate, _sim, p) = setup_with(Duration::from_millis(100), opts).await;
    assert_eq!(protocol(&p).await, "SOAP");
    let none = |_| {};
    assert_eq!(p.load_inventory(&none).await.expect("inventory").len(), 8);
}

/// Picking the transport costs one hello, not two: on a VI/JSON server the automatic
/// choice speaks VI/JSON at the release the one hello answered (each hello is a round trip
/// of every login); a server without VI/JSON (whose simulator records no hello) is spoken
/// to in SOAP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_automatic_transport_asks_one_hello() {
    for vi_json in [true, false] {
        let opts = VsphereSimOptions {
            vi_json,
            ..VsphereSimOptions::default()
        };
        let (_estate, sim, p) = setup_with(Duration::from_millis(100), opts).await;
        let hellos = sim.calls().iter().filter(|c| *c == "Hello").count();
        assert_eq!(
            hellos,
            usize::from(vi_json),
            "vi_json {vi_json}: {:?}",
            sim.calls()
        );
        let spoken = if vi_json { "VI/JSON" } else { "SOAP" };
        assert_eq!(protocol(&p).await, spoken);
        let none = |_| {};
        assert_eq!(p.load_inventory(&none).await.expect("inventory").len(), 8);
    }
}

/// A task's fault travels in `info.error` as a `LocalizedMethodFault` whose `fault` is an
/// `anyType`; over JSON it is read as over SOAP: the server's words, then the fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_reports_the_servers_words_and_the_fault_over_json() {
    let (estate, _sim, p) = setup(Duration::from_millis(100)).await;
    for (injected, kind, advice) in [
        (
            "NoDiskSpace: There is not enough space on datastore1 for the snapshot.",
            "NoDiskSpace",
            "free space on it",
        ),
        (
            "SnapshotLocked: The snapshot is locked by another operation.",
            "SnapshotLocked",
            "try again once it ends",
        ),
    ] {
        estate.inject(SimFault::FailNextTask(injected.into()));
        let (_, last) = run(&p, "vm-303", &take("fails")).await;
        assert_eq!(last.state, TaskState::Error, "{injected}");
        let message = last.message.unwrap_or_default();
        let server_text = injected.split_once(": ").map(|(_, t)| t).unwrap();
        assert!(
            message.starts_with(&format!("{server_text} ({kind}: ")),
            "{message}"
        );
        assert!(message.contains(advice), "{message}");
    }
    assert_eq!(estate.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_is_refused_with_the_privilege_named_over_json() {
    let opts = VsphereSimOptions {
        viewer: Some(("reader".into(), "reader-pw".into())),
        ..VsphereSimOptions::default()
    };
    let (estate, sim, _admin) = setup_with(Duration::from_millis(100), opts).await;
    let viewer = connect(&sim, "reader", "reader-pw", Transport::Json)
        .await
        .expect("login");
    assert_eq!(protocol(&viewer).await, "VI/JSON");
    let none = |_| {};
    assert_eq!(viewer.load_inventory(&none).await.expect("read").len(), 8);
    let err = viewer.start("vm-303", &take("no")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Permission(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("needs the privilege VirtualMachine.State.CreateSnapshot,"),
        "{err}"
    );
    assert_eq!(estate.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);
    // check() asks HasPrivilegeOnEntity over JSON and reads its array of booleans.
    let may_take = viewer
        .check()
        .await
        .expect("check")
        .into_iter()
        .find(|(k, _)| k == "may take snapshots")
        .map(|(_, v)| v)
        .expect("a may-take-snapshots line");
    assert!(may_take.starts_with("not everywhere"), "{may_take}");
    assert!(sim.calls().iter().any(|c| c == "HasPrivilegeOnEntity"));
}

/// The change feed (`WaitForUpdatesEx` on a collector of its own) over JSON: a change made
/// by another client wakes the watcher with the machine's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_over_json() {
    let (_estate, sim, watcher) = setup(Duration::from_millis(100)).await;
    let watcher = Arc::new(watcher);
    let other = connect(&sim, "demo", "demo", Transport::Json)
        .await
        .expect("login");
    let none = |_| {};
    watcher.load_inventory(&none).await.expect("inventory");
    for op in [take("from-elsewhere"), Operation::DeleteAll] {
        let w = watcher.clone();
        let waiting = tokio::spawn(async move { w.wait_for_changes().await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, last) = run(&other, "vm-303", &op).await;
        assert_eq!(last.state, TaskState::Success);
        let changed = tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .expect("an update within 30 s")
            .expect("join")
            .expect("wait_for_changes")
            .expect("vSphere has a change feed");
        assert!(changed.iter().any(|id| id == "vm-303"), "{changed:?}");
    }
}

/// Results in pages (`ContinueRetrievePropertiesEx` with the token) read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_results_are_read_whole_over_json() {
    let opts = VsphereSimOptions {
        max_page: 2,
        ..VsphereSimOptions::default()
    };
    let (_estate, sim, p) = setup_with(Duration::from_millis(100), opts).await;
    let soap = connect(&sim, "demo", "demo", Transport::Soap)
        .await
        .expect("login");
    let none = |_| {};
    let over_json = p.load_inventory(&none).await.expect("inventory");
    assert_eq!(over_json.len(), 8);
    assert_eq!(
        timeless(&over_json),
        timeless(&soap.load_inventory(&none).await.expect("inventory"))
    );
    assert!(
        sim.calls()
            .iter()
            .any(|c| c == "ContinueRetrievePropertiesEx"),
        "paged: {:?}",
        sim.calls()
    );
}

/// A change on an expired session is not retried (a change never is): it is refused with
/// the Auth sentence, snaptree logs in again, and the same change then goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_an_expired_json_session_is_refused_then_goes_through() {
    let opts = VsphereSimOptions {
        idle_timeout: Duration::from_millis(1000),
        ..VsphereSimOptions::default()
    };
    let (estate, _sim, p) = setup_with(Duration::from_millis(100), opts).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let err = p.start("vm-303", &take("late")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("did not start"), "{err}");
    assert_eq!(estate.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);
    let (_, last) = run(&p, "vm-303", &take("late")).await;
    assert_eq!(last.state, TaskState::Success);
    assert_eq!(estate.machine("pcc", "vm-303").unwrap().snapshot_count(), 1);
}

/// The wire itself, as a minimal VI/JSON client sees it: the release negotiated, the
/// service content readable before login, the session key in a header, typed values, an
/// empty 204 for a void method, faults as typed JSON objects with HTTP 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_as_a_minimal_client_sees_it() {
    use serde_json::{Value, json};
    let estate = Arc::new(Estate::demo());
    let sim = serve(VsphereSimOptions::default(), estate)
        .await
        .expect("simulator");
    let cert = reqwest::Certificate::from_pem(sim.certificate_pem().as_bytes()).expect("cert");
    let http = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
        .build()
        .expect("client");
    let base = format!("https://{}", sim.addr());
    let hello = |releases: Value| {
        http.post(format!("{base}/api/vcenter/system?action=hello"))
            .json(&json!({ "api_releases": releases }))
            .send()
    };
    let r: Value = hello(json!(["9.1.0.0", "8.0.3.0", "8.0.2.0"]))
        .await
        .expect("hello")
        .json()
        .await
        .expect("json");
    assert_eq!(r, json!({"api_release": "8.0.3.0"}));
    let r: Value = hello(json!(["7.0.3.0"]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({"api_release": ""}), "no common release");

    let sdk = format!("{base}/sdk/vim25/8.0.3.0");
    let content = http
        .get(format!("{sdk}/ServiceInstance/ServiceInstance/content"))
        .send()
        .await
        .expect("content");
    assert_eq!(content.status(), 200);
    let content: Value = content.json().await.unwrap();
    assert_eq!(content["_typeName"], "ServiceContent");
    assert_eq!(
        content["rootFolder"],
        json!({"_typeName": "ManagedObjectReference", "type": "Folder", "value": "group-d1"})
    );
    let unknown = http
        .get(format!(
            "{base}/sdk/vim25/6.0/ServiceInstance/ServiceInstance/content"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Without a session: NotAuthenticated, a typed fault with its message.
    let view_params = json!({
        "_typeName": "CreateContainerViewRequestType",
        "container": content["rootFolder"],
        "type": ["VirtualMachine"],
        "recursive": true
    });
    let refused = http
        .post(format!("{sdk}/ViewManager/ViewManager/CreateContainerView"))
        .json(&view_params)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 500);
    let fault: Value = refused.json().await.unwrap();
    assert_eq!(fault["_typeName"], "NotAuthenticated");
    assert_eq!(fault["faultstring"], "The session is not authenticated.");
    let bad = http
        .post(format!("{sdk}/SessionManager/SessionManager/Login"))
        .json(&json!({"_typeName": "LoginRequestType", "userName": "demo", "password": "no"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 500);
    assert!(bad.headers().get("vmware-api-session-id").is_none());
    assert_eq!(
        bad.json::<Value>().await.unwrap()["_typeName"],
        "InvalidLogin"
    );

    let login = http
        .post(format!("{sdk}/SessionManager/SessionManager/Login"))
        .json(&json!({"_typeName": "LoginRequestType", "userName": "demo", "password": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let key = login
        .headers()
        .get("vmware-api-session-id")
        .expect("the session key in a header")
        .to_str()
        .unwrap()
        .to_string();
    let user: Value = login.json().await.unwrap();
    assert_eq!(user["_typeName"], "UserSession");
    assert_eq!(user["key"], key.as_str());

    let view: Value = http
        .post(format!("{sdk}/ViewManager/ViewManager/CreateContainerView"))
        .header("vmware-api-session-id", &key)
        .json(&view_params)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["type"], "ContainerView");
    let vm =
        json!({"_typeName": "ManagedObjectReference", "type": "VirtualMachine", "value": "vm-101"});
    let spec = json!({
        "_typeName": "RetrievePropertiesExRequestType",
        "specSet": [{
            "_typeName": "PropertyFilterSpec",
            "propSet": [{"_typeName": "PropertySpec", "type": "VirtualMachine",
                         "pathSet": ["name", "runtime.powerState", "snapshot.rootSnapshotList"]}],
            "objectSet": [{"_typeName": "ObjectSpec", "obj": vm}]
        }],
        "options": {"_typeName": "RetrieveOptions"}
    });
    let result: Value = http
        .post(format!(
            "{sdk}/PropertyCollector/propertyCollector/RetrievePropertiesEx"
        ))
        .header("vmware-api-session-id", &key)
        .json(&spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result["_typeName"], "RetrieveResult");
    let object = &result["objects"][0];
    assert_eq!(object["obj"], vm);
    let prop = |name: &str| {
        object["propSet"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["val"].clone())
            .unwrap_or_else(|| panic!("{name} in {object}"))
    };
    assert_eq!(
        prop("name"),
        json!({"_typeName": "string", "_value": "web-01"})
    );
    assert_eq!(
        prop("runtime.powerState"),
        json!({"_typeName": "VirtualMachinePowerState", "_value": "poweredOn"})
    );
    let roots = prop("snapshot.rootSnapshotList");
    assert_eq!(roots["_typeName"], "ArrayOfVirtualMachineSnapshotTree");
    assert_eq!(
        roots["_value"][0]["_typeName"],
        "VirtualMachineSnapshotTree"
    );
    assert_eq!(roots["_value"][0]["snapshot"]["value"], "snapshot-101");

    // The root folder read as the real vCenter capture was: the same value types, and
    // `_typeName` first in every object of both answers.
    let capture = include_str!("../fixtures/vijson/retrieveResult.json");
    type_name_first_everywhere(capture).expect("the capture itself");
    let real: Value = serde_json::from_str(capture).unwrap();
    let real_props = real["objects"][0]["propSet"].as_array().unwrap().clone();
    let names = ["name", "childEntity", "childType", "overallStatus"];
    let root_spec = json!({
        "_typeName": "RetrievePropertiesExRequestType",
        "specSet": [{
            "_typeName": "PropertyFilterSpec",
            "propSet": [{"_typeName": "PropertySpec", "type": "Folder", "pathSet": names}],
            "objectSet": [{"_typeName": "ObjectSpec", "obj": content["rootFolder"]}]
        }],
        "options": {"_typeName": "RetrieveOptions"}
    });
    let text = http
        .post(format!(
            "{sdk}/PropertyCollector/propertyCollector/RetrievePropertiesEx"
        ))
        .header("vmware-api-session-id", &key)
        .json(&root_spec)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    type_name_first_everywhere(&text).unwrap_or_else(|e| panic!("{e} in {text}"));
    let ours: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ours["objects"][0]["obj"], real["objects"][0]["obj"]);
    for name in names {
        let type_of = |props: &[Value]| {
            props
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["val"]["_typeName"].clone())
        };
        let ours_props = ours["objects"][0]["propSet"].as_array().unwrap().clone();
        assert_eq!(
            type_of(&ours_props),
            type_of(&real_props),
            "{name}: the simulator's type against vCenter's"
        );
    }

    // A property read, and a void method answered 204 with no body.
    let name = http
        .get(format!("{sdk}/VirtualMachine/vm-101/name"))
        .header("vmware-api-session-id", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(name.json::<Value>().await.unwrap(), json!("web-01"));
    let view_id = view["value"].as_str().unwrap();
    let destroyed = http
        .post(format!("{sdk}/ContainerView/{view_id}/DestroyView"))
        .header("vmware-api-session-id", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(destroyed.status(), 204);
    assert!(destroyed.bytes().await.unwrap().is_empty());
    let gone = http
        .post(format!("{sdk}/ContainerView/{view_id}/DestroyView"))
        .header("vmware-api-session-id", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 500);
    assert_eq!(
        gone.json::<Value>().await.unwrap()["_typeName"],
        "ManagedObjectNotFound"
    );
}

/// Checks that every JSON object in `text` starts with `_typeName` (as vCenter writes them,
/// so a streaming reader learns the type first); empty objects pass.
fn type_name_first_everywhere(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => {
                let rest = text[i + 1..].trim_start();
                if !rest.starts_with("\"_typeName\"") && !rest.starts_with('}') {
                    let start: String = rest.chars().take(60).collect();
                    return Err(format!("an object without _typeName first: {{{start}"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Who took each snapshot (`created_by`) comes from the task history, over SOAP and
/// VI/JSON alike, in a few calls for the whole profile: the demo's creators within the
/// history's 30 days, none for older snapshots, and the user of a take run through the
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_took_each_snapshot_comes_from_the_task_history_in_a_few_calls() {
    let (estate, sim) =
        crate::common::vsim::start(Duration::from_millis(200), VsphereSimOptions::default()).await;
    for transport in [Transport::Soap, Transport::Json] {
        let p = connect(&sim, "demo", "demo", transport)
            .await
            .expect("login");
        let machines = p.load_inventory(&|_| {}).await.expect("inventory");
        let oldest = machines
            .iter()
            .filter_map(Machine::oldest_snapshot)
            .min()
            .unwrap();
        let before = sim.calls().len();
        let creators = p
            .snapshot_creators(oldest - chrono::Duration::minutes(1))
            .await
            .expect("the history");
        let calls: Vec<String> = sim.calls()[before..].to_vec();
        assert!(
            calls.len() <= 4,
            "{transport:?}: a few calls for the whole profile: {calls:?}"
        );
        assert!(
            calls.contains(&"CreateCollectorForTasks".to_string()),
            "{calls:?}"
        );
        assert!(calls.contains(&"DestroyCollector".to_string()), "{calls:?}");
        assert_eq!(
            creators.get("snapshot-102").map(String::as_str),
            Some("VSPHERE.LOCAL\\j.martin"),
            "{transport:?}: {creators:?}"
        );
        assert_eq!(
            creators.get("snapshot-142").map(String::as_str),
            Some("VSPHERE.LOCAL\\svc-veeam")
        );
        assert!(
            !creators.contains_key("snapshot-101"),
            "40 days old: the history no longer has it"
        );
        assert!(!creators.contains_key("snapshot-131"), "no creator known");
        // A window after every snapshot: nothing.
        let none = p
            .snapshot_creators(chrono::Utc::now() + chrono::Duration::hours(1))
            .await
            .expect("the history");
        assert!(none.is_empty(), "{none:?}");
    }
    // A take through the server: its user, over JSON.
    let p = connect(&sim, "demo", "demo", Transport::Json)
        .await
        .expect("login");
    let started = p
        .start("vm-102", &crate::common::take("by-the-test"))
        .await
        .expect("take");
    let done = p
        .follow("vm-102", &started.id, &|_| {})
        .await
        .expect("follow");
    assert_eq!(done.state, TaskState::Success);
    let new = estate
        .task_detail(&started.id)
        .unwrap()
        .result
        .expect("the new snapshot");
    let creators = p
        .snapshot_creators(chrono::Utc::now() - chrono::Duration::hours(1))
        .await
        .expect("the history");
    assert_eq!(
        creators.get(&new).map(String::as_str),
        Some("demo"),
        "{creators:?}"
    );
}
