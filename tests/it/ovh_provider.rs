//! The OVH provider against the OVH API simulator on loopback, with the server clock ten
//! minutes ahead: every operation, and every error the client maps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::demo_estate;

use chrono::Utc;
use snaptree::config::{ProfileConfig, Secret};
use snaptree::model::{Machine, Operation, PowerState, TaskState, TaskStatus};
use snaptree::provider::ovh::sign::signature;
use snaptree::provider::ovh::{
    Auth, ClientOptions, Credentials, Endpoint, OvhProvider, RetryPolicy, Sources,
};
use snaptree::provider::{Provider, ProviderError};
use snaptree::sim::Estate;
use snaptree::sim::ovh::{
    CredentialState, Malformed, OvhSimHandle, OvhSimOptions, SimConsumerKey, serve,
};

const SHOP: &str = "vps-1a2b3c4d.vps.ovh.net"; // option, one snapshot
const BLOG: &str = "vps-5e6f7a8b.vps.ovh.net"; // option, no snapshot
const BARE: &str = "vps-9c0d1e2f.vps.ovh.net"; // no option
const MAIL: &str = "vps-3a4b5c6d.vps.ovh.net"; // option, snapshot, powered off
const AHEAD: i64 = 600;

fn sim_options() -> OvhSimOptions {
    OvhSimOptions {
        clock_offset_secs: AHEAD,
        extra_consumer_keys: vec![
            SimConsumerKey::read_only("ck-read-only"),
            SimConsumerKey {
                state: CredentialState::PendingValidation,
                ..SimConsumerKey::full("ck-pending")
            },
            SimConsumerKey {
                state: CredentialState::Expired,
                ..SimConsumerKey::full("ck-expired")
            },
        ],
        ..OvhSimOptions::default()
    }
}

fn quick() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(10),
        },
        timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

fn signed(sim: &OvhSimHandle, ak: &str, secret: &str, ck: &str) -> OvhProvider {
    let creds = Credentials {
        endpoint: Endpoint::parse(sim.base_url()).expect("endpoint"),
        auth: Auth::Signed {
            application_key: ak.into(),
            application_secret: Secret::new(secret),
            consumer_key: Secret::new(ck),
        },
    };
    OvhProvider::new("ovh", creds, quick())
        .expect("provider")
        .with_poll_interval(Duration::from_millis(20))
}

fn provider(sim: &OvhSimHandle) -> OvhProvider {
    let o = OvhSimOptions::default();
    signed(
        sim,
        &o.application_key,
        &o.application_secret,
        &o.consumer_key,
    )
}

async fn setup(task: Duration) -> (Arc<Estate>, OvhSimHandle, OvhProvider) {
    let e = demo_estate(task);
    let sim = serve(sim_options(), e.clone()).await.expect("simulator");
    let p = provider(&sim);
    (e, sim, p)
}

async fn follow(p: &OvhProvider, sn: &str, task: &str) -> (TaskStatus, Vec<TaskStatus>) {
    let seen = Mutex::new(Vec::new());
    let sink = |s: &TaskStatus| seen.lock().unwrap().push(s.clone());
    let end = tokio::time::timeout(Duration::from_secs(20), p.follow(sn, task, &sink))
        .await
        .expect("task finished in time")
        .expect("follow");
    (end, seen.into_inner().unwrap())
}

fn count(sim: &OvhSimHandle, method: &str, suffix: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|(m, p)| m == method && p.ends_with(suffix))
        .count()
}

#[tokio::test]
async fn inventory_reports_bare_rows_first_then_maps_every_vps() {
    let (_e, _sim, p) = setup(Duration::from_millis(300)).await;
    let partials: Mutex<Vec<Vec<Machine>>> = Mutex::new(Vec::new());
    let sink = |ms: Vec<Machine>| partials.lock().unwrap().push(ms);
    let all = p.load_inventory(&sink).await.expect("inventory");
    let partials = partials.into_inner().unwrap();
    let first = partials.first().expect("a partial inventory");
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|m| !m.loaded && m.name == m.id));

    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|m| m.loaded));
    let shop = all.iter().find(|m| m.id == SHOP).unwrap();
    assert_eq!(shop.name, "shop-front");
    assert_eq!(shop.location, vec!["os-gra7".to_string()]);
    assert_eq!(shop.snapshot_option, Some(true));
    assert_eq!(shop.snapshots.len(), 1);
    assert_eq!(shop.snapshots[0].name, "pre-deploy");
    assert_eq!(shop.current.as_deref(), Some(shop.snapshots[0].id.as_str()));
    assert!(
        shop.details
            .contains(&("model".into(), "vps-comfort-4-8-160".into()))
    );
    assert!(!shop.capabilities.tree && shop.capabilities.download);
    let bare = all.iter().find(|m| m.id == BARE).unwrap();
    assert_eq!(bare.snapshot_option, Some(false));
    assert_eq!(bare.name, BARE, "no display name: the service name");
    let mail = all.iter().find(|m| m.id == MAIL).unwrap();
    assert_eq!(mail.power_state, PowerState::PoweredOff);
}

#[tokio::test]
async fn take_rename_download_revert_delete_and_follow() {
    let (_e, sim, p) = setup(Duration::from_millis(300)).await;
    let take = Operation::Take {
        quiesce_timeout: None,
        name: "2026-11-22 06:00:00".into(),
        description: "before upgrade".into(),
        memory: false,
        quiesce: false,
    };
    let t = p.start(BLOG, &take).await.expect("take");
    assert!(!t.finished);
    let (end, seen) = follow(&p, BLOG, &t.id).await;
    assert_eq!(end.state, TaskState::Success);
    assert!(
        seen.iter()
            .any(|s| s.state == TaskState::Running && s.cancelable)
    );
    assert_eq!(seen.last(), Some(&end));
    let m = p.load_machine(BLOG).await.unwrap();
    assert_eq!(m.snapshots[0].description, "before upgrade");
    assert_eq!(m.snapshots[0].name, "before upgrade");
    let sid = m.snapshots[0].id.clone();

    let r = p
        .start(
            BLOG,
            &Operation::Rename {
                snapshot: sid.clone(),
                name: None,
                description: Some("renamed".into()),
            },
        )
        .await
        .expect("rename");
    assert!(r.finished, "PUT snapshot is synchronous");
    assert_eq!(
        p.load_machine(BLOG).await.unwrap().snapshots[0].name,
        "renamed"
    );

    let link = p.download_link(BLOG).await.expect("download");
    assert!(link.url.contains(&sid) && link.size > 0);

    let rev = p
        .start(
            BLOG,
            &Operation::Revert {
                start: false,
                snapshot: sid,
                suppress_power_on: false,
            },
        )
        .await
        .expect("revert");
    assert_eq!(follow(&p, BLOG, &rev.id).await.0.state, TaskState::Success);
    let m = p.load_machine(BLOG).await.unwrap();
    assert!(m.snapshots.is_empty(), "a restore consumes the snapshot");
    assert_eq!(m.current, None);
    assert!(matches!(
        p.download_link(BLOG).await,
        Err(ProviderError::NotFound(_))
    ));

    let del = p.start(MAIL, &Operation::DeleteAll).await.expect("delete");
    assert_eq!(follow(&p, MAIL, &del.id).await.0.state, TaskState::Success);
    assert!(p.load_machine(MAIL).await.unwrap().snapshots.is_empty());
    assert_eq!(count(&sim, "DELETE", "/snapshot"), 1);

    let unsupported = p.start(BLOG, &Operation::Consolidate).await;
    assert!(matches!(unsupported, Err(ProviderError::Unsupported(_))));
}

#[tokio::test]
async fn take_is_refused_up_front_without_option_or_with_a_snapshot() {
    let (_e, sim, p) = setup(Duration::from_millis(300)).await;
    let take = Operation::Take {
        quiesce_timeout: None,
        name: "x".into(),
        description: String::new(),
        memory: false,
        quiesce: false,
    };
    let e = p.start(SHOP, &take).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::InvalidState(m) if m.contains("replace")),
        "{e}"
    );
    let e = p.start(BARE, &take).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::InvalidState(m) if m.contains("no snapshot option")),
        "{e}"
    );
    assert_eq!(
        count(&sim, "POST", "/createSnapshot"),
        0,
        "nothing was posted"
    );
}

#[tokio::test]
async fn one_task_at_a_time_and_abort() {
    let (_e, _sim, p) = setup(Duration::from_secs(30)).await;
    let rev = p
        .start(
            MAIL,
            &Operation::RevertCurrent {
                start: false,
                suppress_power_on: false,
            },
        )
        .await
        .expect("revert");
    let e = p.start(MAIL, &Operation::DeleteAll).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Busy(m) if m.contains("There is already 1 task(s) occuring")),
        "{e}"
    );
    let m = p.load_machine(MAIL).await.unwrap();
    assert!(
        m.details
            .iter()
            .any(|(k, v)| k == "running tasks" && v.contains(&rev.id))
    );

    let take = Operation::Take {
        quiesce_timeout: None,
        name: "long".into(),
        description: String::new(),
        memory: false,
        quiesce: false,
    };
    let t = p.start(BLOG, &take).await.expect("take");
    let c = p
        .start(BLOG, &Operation::Cancel { task: t.id.clone() })
        .await
        .expect("abort");
    assert!(c.finished);
    let (end, _) = follow(&p, BLOG, &t.id).await;
    assert_eq!(end.state, TaskState::Cancelled);
    assert!(p.load_machine(BLOG).await.unwrap().snapshots.is_empty());
}

#[tokio::test]
async fn a_read_only_consumer_key_is_refused_the_post_by_name() {
    let (_e, sim, _p) = setup(Duration::from_millis(300)).await;
    let o = OvhSimOptions::default();
    let ro = signed(
        &sim,
        &o.application_key,
        &o.application_secret,
        "ck-read-only",
    );
    assert_eq!(ro.load_inventory(&|_| {}).await.unwrap().len(), 4);
    let e = ro
        .start(
            BLOG,
            &Operation::RevertCurrent {
                start: false,
                suppress_power_on: false,
            },
        )
        .await
        .unwrap_err();
    match &e {
        ProviderError::Permission(m) => {
            assert!(
                m.contains(&format!("POST /vps/{BLOG}/snapshot/revert")),
                "{m}"
            );
            assert!(m.contains("query id EU.ext-sim."), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let lines = ro.check().await.expect("check");
    let get = |k: &str| lines.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
    assert_eq!(get("rule GET /vps").as_deref(), Some("allowed"));
    assert_eq!(
        get("rule GET /vps/{serviceName}/snapshot").as_deref(),
        Some("allowed")
    );
    assert_eq!(
        get("rule POST /vps/{serviceName}/createSnapshot").as_deref(),
        Some("not allowed")
    );
}

#[tokio::test]
async fn credential_errors_are_named_and_secrets_stay_out() {
    let (_e, sim, _p) = setup(Duration::from_millis(300)).await;
    let o = OvhSimOptions::default();
    let cases = [
        (
            signed(
                &sim,
                &o.application_key,
                "wrong-secret-value",
                &o.consumer_key,
            ),
            "signature",
        ),
        (
            signed(
                &sim,
                &o.application_key,
                &o.application_secret,
                "ck-unknown",
            ),
            "not known",
        ),
        (
            signed(&sim, "ak-unknown", &o.application_secret, &o.consumer_key),
            "application key",
        ),
        (
            signed(
                &sim,
                &o.application_key,
                &o.application_secret,
                "ck-pending",
            ),
            "not validated",
        ),
        (
            signed(
                &sim,
                &o.application_key,
                &o.application_secret,
                "ck-expired",
            ),
            "has expired",
        ),
    ];
    for (p, want) in cases {
        let e = p.load_inventory(&|_| {}).await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, ProviderError::Auth(_)), "{text}");
        assert!(text.contains(want), "{want}: {text}");
        assert!(text.contains("query id"), "{text}");
        assert!(!text.contains("wrong-secret-value") && !text.contains(&o.application_secret));
    }
}

#[tokio::test]
async fn the_simulator_checks_time_and_headers_like_the_api() {
    let (_e, sim, _p) = setup(Duration::from_millis(300)).await;
    let o = OvhSimOptions::default();
    let http = reqwest::Client::new();
    let url = format!("{}/vps", sim.base_url());
    let now = Utc::now().timestamp();
    let send = |ts: i64| {
        let sig = signature(&o.application_secret, &o.consumer_key, "GET", &url, b"", ts);
        http.get(&url)
            .header("X-Ovh-Application", &o.application_key)
            .header("X-Ovh-Consumer", &o.consumer_key)
            .header("X-Ovh-Timestamp", ts.to_string())
            .header("X-Ovh-Signature", sig)
            .send()
    };
    // Local time without the delta: ten minutes behind the server.
    let r = send(now).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("x-ovh-queryid"));
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["errorCode"], "QUERY_TIME_OUT");
    // With the delta it passes.
    assert_eq!(send(now + AHEAD).await.unwrap().status(), 200);
    // No consumer key at all.
    let r = http
        .get(&url)
        .header("X-Ovh-Application", &o.application_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A consumer key but no signature.
    let r = http
        .get(&url)
        .header("X-Ovh-Application", &o.application_key)
        .header("X-Ovh-Consumer", &o.consumer_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["errorCode"], "INVALID_SIGNATURE");
    // No application key.
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["errorCode"], "INVALID_KEY");
    // /auth/time is unsigned and follows the server clock.
    let t: i64 = http
        .get(format!("{}/auth/time", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!((t - now - AHEAD).abs() <= 2);
}

#[tokio::test]
async fn gets_are_retried_and_changes_never_are() {
    let (_e, sim, p) = setup(Duration::from_millis(300)).await;
    p.check().await.expect("warm up the clock delta");
    sim.faults().fail_next(2, 503);
    p.load_machine(SHOP)
        .await
        .expect("GETs retried past two 503s");

    sim.faults().drop_next(1);
    p.load_machine(SHOP)
        .await
        .expect("GET retried past a dropped connection");

    // More failures than the retries of every GET of one machine read.
    sim.faults().fail_next(40, 500);
    let e = p.load_machine(SHOP).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Unreachable(m) if m.contains("HTTP 500")),
        "{e}"
    );
    sim.faults().clear();
    // Retries of the failed read still in flight must not take the next injected fault:
    // wait until the simulator has seen no request for longer than the longest backoff.
    let mut seen = sim.requests().len();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let now = sim.requests().len();
        if now == seen {
            break;
        }
        seen = now;
    }

    let before = count(&sim, "POST", "/snapshot/revert");
    sim.faults().fail_next(1, 503);
    let e = p
        .start(
            MAIL,
            &Operation::RevertCurrent {
                start: false,
                suppress_power_on: false,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Unreachable(m) if m.contains("HTTP 503")),
        "{e}"
    );
    assert_eq!(
        count(&sim, "POST", "/snapshot/revert"),
        before + 1,
        "POST not retried"
    );

    sim.faults().drop_next(1);
    let e = p.start(MAIL, &Operation::DeleteAll).await.unwrap_err();
    assert!(matches!(e, ProviderError::Unreachable(_)), "{e}");
    assert_eq!(count(&sim, "DELETE", "/snapshot"), 1, "DELETE not retried");
    assert!(p.load_machine(MAIL).await.unwrap().snapshots.len() == 1);
}

#[tokio::test]
async fn not_found_expired_service_and_unreachable() {
    let (_e, sim, p) = setup(Duration::from_millis(300)).await;
    let e = p
        .load_machine("vps-00000000.vps.ovh.net")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::NotFound(m) if m.contains("does not exist")),
        "{e}"
    );
    sim.faults().expire_service(SHOP);
    let e = p.load_machine(SHOP).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::InvalidState(m) if m.contains("expired")),
        "{e}"
    );

    let (_held, closed) = crate::common::closed_port();
    let creds = Credentials {
        endpoint: Endpoint::parse(&format!("http://{closed}/1.0")).unwrap(),
        auth: Auth::Signed {
            application_key: "a".into(),
            application_secret: Secret::new("b"),
            consumer_key: Secret::new("c"),
        },
    };
    let down = OvhProvider::new("ovh", creds, quick()).unwrap();
    let e = down.load_inventory(&|_| {}).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Unreachable(m) if m.contains("/auth/time")),
        "{e}"
    );
}

#[tokio::test]
async fn check_reports_delta_credential_and_count() {
    let (_e, sim, p) = setup(Duration::from_millis(300)).await;
    assert!(
        sim.describe()
            .contains("application_secret=snaptree-sim-as")
    );
    let lines = p.check().await.expect("check");
    let get = |k: &str| {
        lines
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let delta: i64 = get("clock delta")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((delta - AHEAD).abs() <= 2, "{delta}");
    assert!(get("credential").starts_with("validated"));
    assert_eq!(get("VPS count"), "4");
    assert!(
        lines
            .iter()
            .filter(|(k, _)| k.starts_with("rule "))
            .all(|(_, v)| v == "allowed")
    );
}

#[tokio::test]
async fn oauth2_service_account_from_a_profile() {
    let (_e, sim, _p) = setup(Duration::from_millis(300)).await;
    let cfg = ProfileConfig {
        endpoint: Some(sim.base_url().to_string()),
        client_id: Some("snaptree-sim-client".into()),
        client_secret: Some("snaptree-sim-cs".into()),
        concurrency: Some(2),
        requests_per_second: Some(200.0),
        ..ProfileConfig::default()
    };
    let p = OvhProvider::from_profile_with("ovh", &cfg, &Sources::default()).expect("profile");
    assert_eq!(p.load_inventory(&|_| {}).await.expect("bearer").len(), 4);
    let bad = ProfileConfig {
        client_secret: Some("not-it".into()),
        ..cfg
    };
    let p = OvhProvider::from_profile_with("ovh", &bad, &Sources::default()).unwrap();
    let e = p.load_inventory(&|_| {}).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Auth(m) if m.contains("snaptree-sim-client") && !m.contains("not-it")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_keeps_requests_in_flight_within_the_concurrency_setting() {
    let e = demo_estate(Duration::from_millis(300));
    let sim = serve(
        OvhSimOptions {
            latency: Duration::from_millis(20),
            ..sim_options()
        },
        e,
    )
    .await
    .expect("simulator");
    let o = OvhSimOptions::default();
    let cfg = ProfileConfig {
        endpoint: Some(sim.base_url().to_string()),
        application_key: Some(o.application_key.clone()),
        application_secret: Some(o.application_secret.clone()),
        consumer_key: Some(o.consumer_key.clone()),
        concurrency: Some(2),
        ..ProfileConfig::default()
    };
    let p = OvhProvider::from_profile_with("ovh", &cfg, &Sources::default()).expect("profile");
    assert_eq!(p.load_inventory(&|_| {}).await.unwrap().len(), 4);
    assert!(
        sim.max_in_flight() <= 2,
        "{} in flight",
        sim.max_in_flight()
    );
    assert!(
        OvhProvider::from_profile_with(
            "ovh",
            &ProfileConfig {
                concurrency: Some(0),
                ..cfg
            },
            &Sources::default()
        )
        .is_err()
    );
}

/// A provider whose calls may take `timeout` in all (the profile's `timeout`).
fn with_timeout(sim: &OvhSimHandle, timeout: Duration) -> OvhProvider {
    let o = OvhSimOptions::default();
    let creds = Credentials {
        endpoint: Endpoint::parse(sim.base_url()).expect("endpoint"),
        auth: Auth::Signed {
            application_key: o.application_key,
            application_secret: Secret::new(o.application_secret),
            consumer_key: Secret::new(o.consumer_key),
        },
    };
    OvhProvider::new("ovh", creds, ClientOptions { timeout, ..quick() }).expect("provider")
}

/// The arrival times of the requests with this method and path.
fn arrivals_of(sim: &OvhSimHandle, method: &str, path: &str) -> Vec<std::time::Instant> {
    sim.requests()
        .iter()
        .zip(sim.arrivals())
        .filter(|((m, p), _)| m == method && p.ends_with(path))
        .map(|(_, at)| at)
        .collect()
}

#[tokio::test]
async fn a_read_waits_as_long_as_retry_after_says() {
    let (_e, sim, p) = setup(Duration::from_millis(300)).await;
    p.check().await.expect("warm up the clock delta");
    sim.faults().rate_limit_next(1, "1");
    let names: Vec<String> = p.client().get("/vps").await.expect("read after the wait");
    assert_eq!(names.len(), 4);
    let at = arrivals_of(&sim, "GET", "/1.0/vps");
    // The check's own listing, the refused one, the retry.
    assert_eq!(at.len(), 3, "{:?}", sim.requests());
    let waited = at[2] - at[1];
    assert!(
        waited >= Duration::from_secs(1),
        "the retry came {waited:?} after the 429 with Retry-After: 1"
    );

    // The HTTP-date form, three seconds after the server's own clock (whole seconds on both
    // sides: at least one second of wait is left however slow the answer).
    let when = Utc::now() + chrono::Duration::seconds(AHEAD + 3);
    sim.faults()
        .rate_limit_next(1, &when.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    p.client()
        .get::<Vec<String>>("/vps")
        .await
        .expect("read after the date");
    let at = arrivals_of(&sim, "GET", "/1.0/vps");
    assert_eq!(at.len(), 5, "{:?}", sim.requests());
    let waited = at[4] - at[3];
    assert!(
        waited >= Duration::from_secs(1),
        "the retry came {waited:?} after a Retry-After three seconds ahead of the server clock"
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_timeout_fails_at_once_saying_rate_limited() {
    let (_e, sim, _) = setup(Duration::from_millis(300)).await;
    let p = with_timeout(&sim, Duration::from_secs(5));
    p.check().await.expect("warm up the clock delta");
    sim.faults().rate_limit_next(1, "60");
    let e = tokio::time::timeout(
        Duration::from_secs(30),
        p.client().get::<Vec<String>>("/vps"),
    )
    .await
    .expect("no sixty-second wait")
    .unwrap_err();
    let e = ProviderError::from(e);
    let text = e.to_string();
    assert!(
        text.contains("rate limited") && text.contains("60 s") && !text.contains("cannot reach"),
        "{text}"
    );
    assert_eq!(
        arrivals_of(&sim, "GET", "/1.0/vps").len(),
        2,
        "the check's listing and the refused one, no retry: {:?}",
        sim.requests()
    );
}

#[tokio::test]
async fn a_change_refused_for_the_rate_is_not_retried_and_says_not_sent() {
    let (e, sim, p) = setup(Duration::from_millis(300)).await;
    p.check().await.expect("warm up the clock delta");
    sim.faults().rate_limit_next_changes(1, "3");
    let take = Operation::Take {
        quiesce_timeout: None,
        name: "t".into(),
        description: "before upgrade".into(),
        memory: false,
        quiesce: false,
    };
    let err = p.start(BLOG, &take).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rate limited, not sent") && text.contains("try again in 3 s"),
        "{text}"
    );
    assert!(!matches!(err, ProviderError::Unreachable(_)), "{err:?}");
    assert_eq!(
        count(&sim, "POST", "/createSnapshot"),
        1,
        "POST not retried"
    );
    assert!(e.machine("ovh", BLOG).unwrap().snapshots.is_empty());
}

/// Service names no client may put in a URL path.
const BAD_NAMES: &[&str] = &["..", "a/b", "evil\u{7}name"];

/// Three VPSs answered malformed and three bad service names listed: only BARE is whole.
fn malform_all_but_bare(sim: &OvhSimHandle) {
    sim.faults().malform(SHOP, Malformed::DateGarbage);
    sim.faults().malform(MAIL, Malformed::DescriptionNumber);
    sim.faults().malform(BLOG, Malformed::SnapshotNull);
    for name in BAD_NAMES {
        sim.faults().list_also(name);
    }
}

#[tokio::test]
async fn a_malformed_vps_is_listed_unreadable_and_the_others_as_usual() {
    let (_e, sim, p) = setup(Duration::from_millis(300)).await;
    malform_all_but_bare(&sim);
    let all = p
        .load_inventory(&|_| {})
        .await
        .expect("the listing survives");
    assert_eq!(all.len(), 7, "{all:#?}");
    let by_id = |id: &str| all.iter().find(|m| m.id == id).expect(id);
    let bare = by_id(BARE);
    assert!(bare.loaded && bare.unreadable.is_none(), "{bare:?}");
    assert_eq!(bare.snapshot_option, Some(false));
    for (id, why) in [
        (SHOP, "creationDate"),
        (MAIL, "invalid type: integer"),
        (BLOG, "invalid type: null"),
        ("..", "not a valid VPS service name"),
        ("a/b", "not a valid VPS service name"),
        ("evil\u{7}name", "not a valid VPS service name"),
    ] {
        let m = by_id(id);
        let reason = m
            .unreadable
            .as_deref()
            .unwrap_or_else(|| panic!("{id}: {m:?}"));
        assert!(reason.contains(why), "{id}: {reason}");
        assert!(m.snapshots.is_empty(), "{id}");
    }
    // A bad name never reaches a URL, not even escaped.
    for (_, path) in sim.requests() {
        assert!(
            !path.contains("/vps/..") && !path.contains("a%2Fb") && !path.contains("/vps/a/b"),
            "{path}"
        );
        assert!(!path.contains("evil"), "{path}");
    }
    let sent = sim.requests().len();
    let e = p.load_machine("..").await.unwrap_err();
    assert!(
        e.to_string().contains("not a valid VPS service name"),
        "{e}"
    );
    let e = p.start("a/b", &Operation::DeleteAll).await.unwrap_err();
    assert!(
        e.to_string().contains("not a valid VPS service name"),
        "{e}"
    );
    assert_eq!(sim.requests().len(), sent, "nothing sent for a bad name");
    // The healthy one reads alone too.
    assert!(
        p.load_machine(BARE)
            .await
            .expect("bare")
            .unreadable
            .is_none()
    );
}

#[tokio::test]
async fn a_machine_carries_the_api_clock_so_ages_are_on_it() {
    let (_e, _sim, p) = setup(Duration::from_millis(300)).await;
    let shop = p.load_machine(SHOP).await.expect("shop");
    // Read to the second, in the second the request took.
    assert!(
        (shop.clock_offset_secs - AHEAD).abs() <= 2,
        "{}",
        shop.clock_offset_secs
    );
    let now = Utc::now();
    let age = shop.age_of(shop.snapshots[0].created, now);
    assert!(
        (age - chrono::Duration::days(2)).num_seconds().abs() < 120,
        "two days old on the API's clock, not two days and ten minutes: {age}"
    );
}

/// The demo's mail VPS has the automated backup option; a restore point the API answers
/// malformed leaves its backups unknown (said in its details), never the VPS unreadable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_restore_point_leaves_the_backups_unknown_and_the_vps_readable() {
    let (_e, sim, p) = setup(Duration::from_millis(300)).await;
    let mail = p.load_machine(MAIL).await.expect("mail");
    let b = mail.backups.as_deref().expect("backups read");
    assert!(b.subscribed);
    assert_eq!(b.restore_points.len(), 7);
    assert_eq!(b.schedule.as_deref(), Some("22:00:00"));
    let before = sim.requests().len();
    let blog = p.load_machine(BLOG).await.expect("blog");
    assert!(!blog.backups.as_deref().expect("read").subscribed);
    // Its option list said so: no call more for a VPS without the option.
    let asked: Vec<String> = sim.requests()[before..]
        .iter()
        .map(|(_, path)| path.clone())
        .collect();
    assert!(
        asked.iter().all(|p| !p.contains("automatedBackup")),
        "{asked:?}"
    );
    sim.faults()
        .malform(MAIL, snaptree::sim::ovh::Malformed::RestorePointGarbage);
    let mail = p.load_machine(MAIL).await.expect("still readable");
    assert!(mail.unreadable.is_none(), "{mail:?}");
    assert_eq!(mail.snapshots.len(), 1, "its snapshot as before");
    assert!(mail.backups.is_none());
    let said = mail
        .details
        .iter()
        .find(|(k, _)| k == "automated backups")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    assert!(said.contains("bad time \"garbage\""), "{said}");
}
