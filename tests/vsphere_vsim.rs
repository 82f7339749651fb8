//! The vSphere provider against snaptree's own vSphere simulator, for what vcsim lacks:
//! consolidate, rename, cancel, `consolidationNeeded` and non-zero snapshot sizes.

use std::sync::Arc;
use std::time::Duration;

use snaptree::config::ProfileConfig;
use snaptree::model::{Operation, ProviderKind, TaskState};
use snaptree::provider::Provider;
use snaptree::provider::vsphere::{ConnectOptions, Transport, VsphereProvider};
use snaptree::sim::Estate;
use snaptree::sim::vsphere::{VsphereSimHandle, VsphereSimOptions, serve};

async fn setup(task: Duration) -> (Arc<Estate>, VsphereSimHandle, VsphereProvider) {
    let estate = Arc::new(
        Estate::from_scenario(
            snaptree::sim::scenario::DEMO,
            chrono::Utc::now(),
            Some(task),
        )
        .expect("demo scenario"),
    );
    let sim = serve(VsphereSimOptions::default(), estate.clone())
        .await
        .expect("simulator");
    let cfg = ProfileConfig {
        kind: Some(ProviderKind::Vsphere),
        url: Some(sim.url().to_string()),
        username: Some("demo".into()),
        password: Some("demo".into()),
        thumbprint: Some(sim.thumbprint().to_string()),
        ..ProfileConfig::default()
    };
    let provider = VsphereProvider::connect_with(
        "pcc",
        &cfg,
        &ConnectOptions {
            transport: Transport::Soap,
            ..ConnectOptions::default()
        },
    )
    .await
    .expect("login");
    (estate, sim, provider)
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
