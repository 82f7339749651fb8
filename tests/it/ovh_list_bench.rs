//! Listing benchmark (ignored by default; timings never assert): 200 VPSs behind 100 ms of
//! injected latency per request, at concurrency 1, 4, 8 and 16.
//!
//! Run: `cargo test --test it ovh_list_bench -- --ignored --nocapture`

use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use snaptree::config::Secret;
use snaptree::provider::Provider;
use snaptree::provider::ovh::{Auth, ClientOptions, Credentials, Endpoint, OvhProvider};
use snaptree::sim::Estate;
use snaptree::sim::ovh::{OvhSimOptions, serve};

const VPS: usize = 200;

fn scenario() -> String {
    let mut s = String::from("task_seconds = 1.0\n[[profile]]\nname = \"ovh\"\nkind = \"ovh\"\n");
    for i in 0..VPS {
        let _ = write!(
            s,
            "[[profile.machine]]\nid = \"vps-{i:08x}.vps.ovh.net\"\nname = \"vps-{i}\"\n\
             folder = \"os-gra{}\"\noption = {}\n",
            i % 11,
            i % 3 != 0
        );
        if i % 2 == 0 && i % 3 != 0 {
            let _ = write!(
                s,
                "[[profile.machine.snapshot]]\nid = \"snap-{i}\"\nname = \"s{i}\"\n\
                 description = \"s{i}\"\nage = \"{}d\"\n",
                1 + i % 20
            );
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: about two minutes; run with --ignored --nocapture"]
async fn list_200_vps_with_100ms_latency() {
    let estate = Arc::new(Estate::from_scenario(&scenario(), Utc::now(), None).expect("scenario"));
    let opts = OvhSimOptions {
        latency: Duration::from_millis(100),
        clock_offset_secs: 600,
        ..OvhSimOptions::default()
    };
    let sim = serve(opts.clone(), estate).await.expect("simulator");
    println!("listing {VPS} VPSs, 100 ms latency per request");
    println!("concurrency | total s | first partial ms | requests | calls/VPS | speed-up");
    let mut base = None;
    for concurrency in [1usize, 4, 8, 16] {
        let creds = Credentials {
            endpoint: Endpoint::parse(sim.base_url()).expect("endpoint"),
            auth: Auth::Signed {
                application_key: opts.application_key.clone(),
                application_secret: Secret::new(&opts.application_secret),
                consumer_key: Secret::new(&opts.consumer_key),
            },
        };
        let p = OvhProvider::new(
            "ovh",
            creds,
            ClientOptions {
                concurrency,
                ..ClientOptions::default()
            },
        )
        .expect("provider");
        let before = sim.requests().len();
        let started = Instant::now();
        let first: Mutex<Option<Duration>> = Mutex::new(None);
        let sink = |_| {
            let mut f = first.lock().unwrap();
            f.get_or_insert(started.elapsed());
        };
        let all = p.load_inventory(&sink).await.expect("inventory");
        let took = started.elapsed();
        assert_eq!(all.len(), VPS);
        assert!(all.iter().all(|m| m.loaded));
        let requests = sim.requests().len() - before;
        // Two calls are per listing, not per VPS: /auth/time and GET /vps.
        let per_vps = (requests - 2) as f64 / VPS as f64;
        let secs = took.as_secs_f64();
        let speedup = base.get_or_insert(secs).to_owned() / secs;
        println!(
            "{concurrency:>11} | {secs:>7.2} | {:>16} | {requests:>8} | {per_vps:>9.1} | {speedup:>7.1}x",
            first
                .lock()
                .unwrap()
                .map_or("-".into(), |d| d.as_millis().to_string()),
        );
    }
}
