//! The vSphere provider over VI/JSON, the protocol vCenter 8.0U1 and later speak and the one
//! the provider picks by default (`Transport::Auto`). These run against snaptree's own
//! vSphere simulator, because vcsim 0.24 has no VI/JSON: every call below goes through
//! vim_rs's JSON client, and the simulator answers VI/JSON as vCenter does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use snaptree::config::ProfileConfig;
use snaptree::model::{Machine, Operation, ProviderKind, TaskState, TaskStatus};
use snaptree::provider::vsphere::{ConnectOptions, Transport, VsphereProvider};
use snaptree::provider::{Provider, ProviderError};
use snaptree::sim::Estate;
use snaptree::sim::vsphere::{VsphereSimHandle, VsphereSimOptions, serve};

async fn setup(task: Duration) -> (Arc<Estate>, VsphereSimHandle, VsphereProvider) {
    setup_with(task, VsphereSimOptions::default()).await
}

async fn setup_with(
    task: Duration,
    opts: VsphereSimOptions,
) -> (Arc<Estate>, VsphereSimHandle, VsphereProvider) {
    let estate = Arc::new(
        Estate::from_scenario(
            snaptree::sim::scenario::DEMO,
            chrono::Utc::now(),
            Some(task),
        )
        .expect("demo scenario"),
    );
    let sim = serve(opts, estate.clone()).await.expect("simulator");
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
    let cfg = ProfileConfig {
        kind: Some(ProviderKind::Vsphere),
        url: Some(sim.url().to_string()),
        username: Some(user.into()),
        password: Some(password.into()),
        thumbprint: Some(sim.thumbprint().to_string()),
        ..ProfileConfig::default()
    };
    VsphereProvider::connect_with(
        "pcc",
        &cfg,
        &ConnectOptions {
            transport,
            ..ConnectOptions::default()
        },
    )
    .await
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

fn take(name: &str) -> Operation {
    Operation::Take {
        name: name.into(),
        description: format!("{name} over JSON"),
        memory: false,
        quiesce: false,
    }
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
        ("json-1", "json-1 over JSON")
    );
    assert_eq!(m.current.as_deref(), Some(taken.id.as_str()));
    assert_eq!(estate.machine("pcc", "vm-303").unwrap().snapshot_count(), 1);

    // Revert to a snapshot other than the current one.
    let revert = Operation::Revert {
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
        snapshot: "snapshot-999".into(),
        suppress_power_on: true,
    };
    let err = p.start("vm-101", &revert).await.unwrap_err();
    assert!(matches!(err, ProviderError::NotFound(_)), "{err:?}");
    // Quiescing a powered-off VM: InvalidPowerState, with the server's words.
    let quiesce = Operation::Take {
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
