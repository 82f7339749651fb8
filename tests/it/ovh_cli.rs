//! The CLI end to end against the OVH API simulator, with the server clock ten minutes
//! ahead: the real binary, a config file naming the simulator as the endpoint, every
//! operation and every error the user can meet. No secret ever reaches stdout or stderr.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;

use crate::common::output::{code, is_rfc3339_utc, json, one_sentence, stderr, stdout};
use snaptree::sim::Estate;
use snaptree::sim::ovh::{
    CredentialState, Malformed, OvhSimHandle, OvhSimOptions, SimConsumerKey, serve,
};

const SHOP: &str = "vps-1a2b3c4d.vps.ovh.net"; // option, one snapshot
const BLOG: &str = "vps-5e6f7a8b.vps.ovh.net"; // option, no snapshot
const BARE: &str = "vps-9c0d1e2f.vps.ovh.net"; // no snapshot option
const MAIL: &str = "vps-3a4b5c6d.vps.ovh.net"; // option, snapshot, powered off
const AHEAD: i64 = 600;

const AK: &str = "ak-cli-test";
const AS: &str = "as-cli-3f9c1e7b2d";
const CK: &str = "ck-cli-full-8a4e60d1";
const CK_READ_ONLY: &str = "ck-cli-read-only-5b7d";
const CK_EXPIRED: &str = "ck-cli-expired-2c9e";
const CK_PENDING: &str = "ck-cli-pending-71af";
/// Every secret the tests hand out or make up; none may be printed.
const SECRETS: &[&str] = &[
    AS,
    CK,
    CK_READ_ONLY,
    CK_EXPIRED,
    CK_PENDING,
    "as-wrong-6d1f0b",
    "ck-unknown-0e3a",
];

/// The simulator (on its own runtime), its estate and a scratch directory for one test.
struct Fixture {
    sim: OvhSimHandle,
    estate: Arc<Estate>,
    dir: tempfile::TempDir,
    // Last: the runtime outlives the simulator it serves.
    _rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_task(Duration::from_millis(400))
    }

    /// A fixture whose tasks take `task`.
    fn with_task(task: Duration) -> Fixture {
        Fixture::build(task, AHEAD)
    }

    /// A fixture whose server clock is `offset` seconds ahead of the local one (behind when
    /// negative).
    fn with_clock(offset: i64) -> Fixture {
        Fixture::build(Duration::from_millis(400), offset)
    }

    fn build(task: Duration, offset: i64) -> Fixture {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let estate = Arc::new(
            Estate::from_scenario(snaptree::sim::scenario::DEMO, Utc::now(), Some(task))
                .expect("demo scenario"),
        );
        let opts = OvhSimOptions {
            application_key: AK.into(),
            application_secret: AS.into(),
            consumer_key: CK.into(),
            clock_offset_secs: offset,
            extra_consumer_keys: vec![
                SimConsumerKey::read_only(CK_READ_ONLY),
                SimConsumerKey {
                    state: CredentialState::Expired,
                    ..SimConsumerKey::full(CK_EXPIRED)
                },
                SimConsumerKey {
                    state: CredentialState::PendingValidation,
                    ..SimConsumerKey::full(CK_PENDING)
                },
            ],
            ..OvhSimOptions::default()
        };
        let sim = rt.block_on(serve(opts, estate.clone())).expect("simulator");
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["cwd", "home", "config", "state", "data", "cache"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        let f = Fixture {
            sim,
            estate,
            dir,
            _rt: rt,
        };
        f.write_config("snaptree.toml", f.sim.base_url(), AS, CK, "");
        f
    }

    /// A config file with one `ovh` profile; returns its path.
    fn write_config(
        &self,
        name: &str,
        endpoint: &str,
        secret: &str,
        ck: &str,
        extra: &str,
    ) -> PathBuf {
        let path = self.dir.path().join(name);
        let text = format!(
            "[profiles.ovh]\nkind = \"ovh\"\nendpoint = \"{endpoint}\"\n\
             application_key = \"{AK}\"\napplication_secret = \"{secret}\"\n\
             consumer_key = \"{ck}\"\n{extra}"
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn command(&self, config: &Path, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(env!("CARGO_BIN_EXE_snaptree"));
        c.arg("--config")
            .arg(config)
            .args(args)
            .current_dir(d.join("cwd"))
            .env("HOME", d.join("home"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_CACHE_HOME", d.join("cache"))
            .env_remove("SNAPTREE_CONFIG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for var in [
            "OVH_ENDPOINT",
            "OVH_APPLICATION_KEY",
            "OVH_APPLICATION_SECRET",
            "OVH_CONSUMER_KEY",
            "OVH_CLIENT_ID",
            "OVH_CLIENT_SECRET",
        ] {
            c.env_remove(var);
        }
        c
    }

    /// Run the binary with this config; checks that no secret was printed.
    fn run_with(&self, config: &Path, args: &[&str]) -> Output {
        let o = self.command(config, args).output().expect("run snaptree");
        no_secret_in(&o);
        o
    }

    /// Run the binary with the fixture's own config (the full consumer key).
    fn run(&self, args: &[&str]) -> Output {
        self.run_with(&self.config(), args)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(&self.config(), args)
            .spawn()
            .expect("spawn snaptree")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("snaptree.toml")
    }

    /// Requests the simulator received with this method whose path ends with `suffix`.
    fn count(&self, method: &str, suffix: &str) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|(m, p)| m == method && p.ends_with(suffix))
            .count()
    }

    /// Requests that change something (anything but GET).
    fn changes(&self) -> Vec<(String, String)> {
        self.sim
            .requests()
            .into_iter()
            .filter(|(m, _)| m != "GET")
            .collect()
    }

    fn snapshots(&self, sn: &str) -> Vec<snaptree::model::Snapshot> {
        self.estate.machine("ovh", sn).expect("machine").snapshots
    }

    /// The log and the audit log: no secret there either.
    fn assert_no_secret_in_logs(&self) {
        let state = self.dir.path().join("state").join("snaptree");
        for file in ["snaptree.log", "audit.log"] {
            let text = std::fs::read_to_string(state.join(file)).unwrap_or_default();
            for s in SECRETS {
                assert!(!text.contains(s), "{file} shows a secret: {text}");
            }
        }
    }
}

fn no_secret_in(o: &Output) {
    let (out, err) = (stdout(o), stderr(o));
    for s in SECRETS {
        assert!(
            !out.contains(s) && !err.contains(s),
            "a secret was printed:\nstdout: {out}\nstderr: {err}"
        );
    }
}

/// The last line of stderr (a change prints its progress before the failure).
fn last_line(o: &Output, expected_code: i32) -> String {
    let err = stderr(o);
    assert_eq!(code(o), expected_code, "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(last.starts_with("snaptree: "), "{err}");
    last.to_string()
}

/// `(query id EU.ext-sim.<hex>.<n>)` as the simulator hands them out.
fn has_query_id(line: &str) -> bool {
    line.split("query id ").nth(1).is_some_and(|rest| {
        let id: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        let parts: Vec<&str> = id.split('.').collect();
        parts.len() == 4 && parts[0] == "EU" && parts[1] == "ext-sim"
    })
}

#[test]
fn ls_json_lists_the_four_vps_with_their_shapes() {
    let f = Fixture::new();
    let v = json(&f.run(&["ls", "--json"]));
    let machines = v["machines"].as_array().expect("machines is an array");
    assert_eq!(machines.len(), 4, "{v}");
    for m in machines {
        let ctx = m.to_string();
        assert_eq!(m["profile"], "ovh", "{ctx}");
        assert_eq!(m["provider"], "ovh", "{ctx}");
        for key in ["id", "name", "path", "power_state"] {
            assert!(m[key].is_string(), "{key}: {ctx}");
        }
        assert_eq!(m["consolidation_needed"], false, "{ctx}");
        assert!(m["warnings"].is_array(), "{ctx}");
        let count = m["snapshot_count"].as_u64().expect("snapshot_count");
        assert!(count <= 1, "a VPS has at most one snapshot: {ctx}");
        if count == 1 {
            assert!(m["current_snapshot"].is_string(), "{ctx}");
            assert!(is_rfc3339_utc(&m["oldest_snapshot"]), "{ctx}");
        } else {
            assert!(m["current_snapshot"].is_null(), "{ctx}");
            assert!(m["oldest_snapshot"].is_null(), "{ctx}");
        }
    }
    let by_id = |id: &str| {
        machines
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} listed: {v}"))
    };
    let shop = by_id(SHOP);
    assert_eq!(shop["name"], "shop-front");
    assert_eq!(shop["path"], format!("/os-gra7/{SHOP}"));
    assert_eq!(shop["power_state"], "poweredOn");
    assert_eq!(shop["snapshot_count"], 1);
    assert_eq!(
        shop["current_snapshot"],
        "8f3c2a10-5b7e-4d2a-9c1f-6e0b3a7d9e21"
    );
    let oldest = chrono::DateTime::parse_from_rfc3339(shop["oldest_snapshot"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    // The server's own timestamp, on its clock (ten minutes ahead).
    let age = Utc::now() + chrono::Duration::seconds(AHEAD) - oldest;
    assert!(
        (age - chrono::Duration::days(2)).num_seconds().abs() < 120,
        "two days old: {age}"
    );
    let blog = by_id(BLOG);
    assert_eq!(blog["name"], "blog");
    assert_eq!(blog["snapshot_count"], 0);
    let bare = by_id(BARE);
    assert_eq!(bare["name"], BARE, "no display name: the service name");
    assert_eq!(bare["snapshot_count"], 0);
    let mail = by_id(MAIL);
    assert_eq!(mail["name"], "mail");
    assert_eq!(mail["power_state"], "poweredOff");
    assert_eq!(mail["snapshot_count"], 1);

    // The human table lists the same four, and a filter narrows it.
    let o = f.run(&["ls"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 5, "a header and four rows: {out}");
    for name in ["shop-front", "blog", "mail", BARE] {
        assert!(out.contains(name), "{name}: {out}");
    }
    let v = json(&f.run(&["ls", "blog", "--json"]));
    assert_eq!(v["machines"].as_array().unwrap().len(), 1);
    assert!(f.changes().is_empty(), "listing changes nothing");
    f.assert_no_secret_in_logs();
}

#[test]
fn tree_json_of_each_kind_of_vps() {
    let f = Fixture::new();
    let v = json(&f.run(&["tree", "ovh/shop-front", "--json"]));
    assert_eq!(v["machine"]["profile"], "ovh");
    assert_eq!(v["machine"]["provider"], "ovh");
    assert_eq!(v["machine"]["id"], SHOP);
    assert_eq!(v["machine"]["name"], "shop-front");
    let snaps = v["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 1, "{v}");
    let s = &snaps[0];
    assert_eq!(s["id"], "8f3c2a10-5b7e-4d2a-9c1f-6e0b3a7d9e21");
    assert_eq!(s["name"], "pre-deploy");
    assert_eq!(s["description"], "pre-deploy");
    assert!(is_rfc3339_utc(&s["created"]), "{s}");
    assert_eq!(s["memory"], false);
    assert_eq!(s["quiesced"], false);
    assert!(s["size_bytes"].is_null(), "{s}");
    assert_eq!(s["children"], Value::Array(vec![]));
    assert_eq!(v["current"], s["id"]);

    for machine in ["ovh/blog", BARE] {
        let v = json(&f.run(&["tree", machine, "--json"]));
        assert_eq!(v["snapshots"], Value::Array(vec![]), "{machine}: {v}");
        assert!(v["current"].is_null(), "{machine}: {v}");
    }
    let v = json(&f.run(&["tree", MAIL, "--json"]));
    assert_eq!(v["machine"]["name"], "mail");
    assert_eq!(v["snapshots"][0]["name"], "before-migration");

    // Human form marks the current snapshot.
    let o = f.run(&["tree", "shop-front"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("ovh/shop-front ({SHOP})")), "{out}");
    assert!(out.contains("*pre-deploy"), "{out}");

    let line = one_sentence(&f.run(&["tree", "ovh/no-such-vps"]), 2);
    assert!(line.contains("no-such-vps"), "{line}");
    assert!(f.changes().is_empty());
}

#[test]
fn take_on_a_vps_without_snapshot_creates_one() {
    let f = Fixture::new();
    let o = f.run(&["take", "ovh/blog", "--description", "before upgrade"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("take ovh/blog: task "), "{err}");
    assert!(err.contains("success"), "{err}");
    let snaps = f.snapshots(BLOG);
    assert_eq!(snaps.len(), 1, "the estate has the snapshot");
    assert_eq!(snaps[0].description, "before upgrade");
    assert_eq!(
        stdout(&o),
        format!("{}\n", snaps[0].id),
        "the new id alone on stdout"
    );
    assert_eq!(f.count("POST", &format!("/vps/{BLOG}/createSnapshot")), 1);

    // Read back through the API.
    let v = json(&f.run(&["tree", "ovh/blog", "--json"]));
    assert_eq!(v["snapshots"][0]["description"], "before upgrade");
    assert_eq!(v["current"], snaps[0].id.as_str());

    // Without --description, the name stands for it; --json reports the task.
    let f = Fixture::new();
    let v = json(&f.run(&["take", "blog", "--name", "nightly", "--json"]));
    assert_eq!(v["state"], "success", "{v}");
    assert!(
        v["task"].as_str().is_some_and(|t| t.parse::<u64>().is_ok()),
        "{v}"
    );
    assert_eq!(f.snapshots(BLOG)[0].description, "nightly");
    f.assert_no_secret_in_logs();
}

#[test]
fn take_is_refused_where_a_snapshot_exists_or_the_option_is_missing() {
    let f = Fixture::new();
    // What the VPS cannot do is refused before anything is sent: a usage error, not a
    // back-end failure.
    let line = one_sentence(&f.run(&["take", "ovh/shop-front"]), 2);
    assert!(
        line.contains("shop-front already has a snapshot (\"pre-deploy\", taken "),
        "{line}"
    );
    assert!(
        line.contains("a VPS keeps only one: replace it (snaptree replace ovh/shop-front)"),
        "{line}"
    );
    assert_eq!(f.snapshots(SHOP)[0].description, "pre-deploy");
    assert_eq!(f.count("POST", "/createSnapshot"), 0, "nothing was sent");

    let line = one_sentence(&f.run(&["take", BARE]), 2);
    assert!(
        line.contains("has no snapshot option: order it (snaptree option order ovh/"),
        "{line}"
    );
    assert!(f.snapshots(BARE).is_empty());
    assert_eq!(f.count("POST", "/createSnapshot"), 0, "nothing was sent");

    // What a VPS snapshot cannot do is a usage error, before any call.
    for flag in ["--memory", "--quiesce"] {
        let line = one_sentence(&f.run(&["take", "ovh/blog", flag]), 2);
        assert!(
            line.contains(&format!("cannot take with {flag}: this back end does not")),
            "{line}"
        );
    }
    assert!(f.snapshots(BLOG).is_empty());
    assert!(
        f.changes().is_empty(),
        "nothing was posted: {:?}",
        f.changes()
    );
}

#[test]
fn rename_sets_the_description() {
    let f = Fixture::new();
    let o = f.run(&[
        "rename",
        "ovh/shop-front",
        "pre-deploy",
        "--description",
        "before the sale",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.snapshots(SHOP)[0].description, "before the sale");
    assert_eq!(f.count("PUT", &format!("/vps/{SHOP}/snapshot")), 1);
    // Addressed by id this time; the new description is its name now.
    let o = f.run(&[
        "rename",
        "shop-front",
        "8f3c2a10-5b7e-4d2a-9c1f-6e0b3a7d9e21",
        "--description",
        "sale",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&f.run(&["tree", "shop-front", "--json"]));
    assert_eq!(v["snapshots"][0]["name"], "sale");
    assert_eq!(v["snapshots"][0]["description"], "sale");

    let line = one_sentence(&f.run(&["rename", "shop-front", "sale"]), 2);
    assert!(line.contains("--description"), "{line}");
    assert_eq!(f.changes().len(), 2);
}

#[test]
fn revert_consumes_the_snapshot() {
    let f = Fixture::new();
    // Without a terminal and without --yes: refused, nothing sent.
    let line = one_sentence(&f.run(&["revert", "ovh/shop-front"]), 3);
    assert!(line.contains("--yes"), "{line}");
    assert!(f.changes().is_empty());

    let o = f.run(&["revert", "ovh/shop-front", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("success"), "{}", stderr(&o));
    assert!(
        f.snapshots(SHOP).is_empty(),
        "a restore consumes the snapshot"
    );
    assert_eq!(f.count("POST", &format!("/vps/{SHOP}/snapshot/revert")), 1);
    let v = json(&f.run(&["tree", "ovh/shop-front", "--json"]));
    assert_eq!(v["snapshots"], Value::Array(vec![]));
    assert!(v["current"].is_null());

    // Naming the snapshot works the same way.
    let o = f.run(&["revert", "ovh/mail", "before-migration", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(f.snapshots(MAIL).is_empty());

    // Nothing left to revert to.
    let line = one_sentence(&f.run(&["revert", "ovh/mail", "--yes"]), 2);
    assert!(line.contains("no current snapshot"), "{line}");
    assert_eq!(f.changes().len(), 2);
}

/// `revert --retake`: the restore consumes the VPS's snapshot, then a new one is taken, in
/// that order; python-ovh, the official client, reads the new snapshot from the API.
#[test]
fn revert_retake_restores_then_takes_a_new_snapshot_that_python_ovh_reads() {
    let f = Fixture::new();
    // Refused before anything is sent: not waiting, or on a machine that keeps a tree.
    let line = one_sentence(
        &f.run(&["revert", "ovh/shop-front", "--retake", "--no-wait", "--yes"]),
        2,
    );
    assert!(line.contains("--no-wait"), "{line}");
    assert!(f.changes().is_empty());

    let o = f.run(&["revert", "ovh/shop-front", "--retake", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let changes: Vec<String> = f
        .changes()
        .into_iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        changes,
        [
            format!("POST /1.0/vps/{SHOP}/snapshot/revert"),
            format!("POST /1.0/vps/{SHOP}/createSnapshot"),
        ],
        "the restore, then the new snapshot"
    );
    let taken = f.snapshots(SHOP);
    assert_eq!(taken.len(), 1, "a new snapshot after the restore");
    // Its id is the command's output, as `take` prints it.
    assert_eq!(stdout(&o).trim(), taken[0].id);

    let script = r#"
import sys, ovh, ovh.client
base, ak, secret, ck, sn = sys.argv[1:6]
ovh.client.ENDPOINTS["snaptree-sim"] = base
c = ovh.Client(endpoint="snaptree-sim", application_key=ak, application_secret=secret, consumer_key=ck)
print(c.get("/vps/" + sn + "/snapshot")["description"])
"#;
    let seen =
        crate::common::peers::run_python("ovh", script, &[f.sim.base_url(), AK, AS, CK, SHOP])
            .trim()
            .to_string();
    assert_eq!(seen, taken[0].description);
    assert!(
        seen.starts_with("20"),
        "a dated default description: {seen}"
    );
}

#[test]
fn rm_one_and_rm_all() {
    let f = Fixture::new();
    let line = one_sentence(&f.run(&["rm", "ovh/mail", "before-migration"]), 3);
    assert!(line.contains("--yes"), "{line}");
    assert!(f.changes().is_empty());

    let o = f.run(&["rm", "ovh/mail", "before-migration", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("success"), "{}", stderr(&o));
    assert!(f.snapshots(MAIL).is_empty());
    assert_eq!(f.count("DELETE", &format!("/vps/{MAIL}/snapshot")), 1);

    let o = f.run(&["rm", "ovh/shop-front", "--all", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(f.snapshots(SHOP).is_empty());
    assert_eq!(f.count("DELETE", &format!("/vps/{SHOP}/snapshot")), 1);

    let line = one_sentence(&f.run(&["rm", "ovh/blog", "--all", "--yes"]), 2);
    assert!(line.contains("has no snapshots"), "{line}");
    let line = one_sentence(&f.run(&["rm", "ovh/shop-front", "pre-deploy", "--yes"]), 2);
    assert!(line.contains("pre-deploy"), "{line}");
    assert_eq!(f.changes().len(), 2);
    f.assert_no_secret_in_logs();
}

#[test]
fn no_wait_prints_the_task_id_and_a_second_change_meets_the_running_task() {
    let f = Fixture::with_task(Duration::from_secs(60));
    let o = f.run(&["take", "ovh/blog", "--no-wait"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert!(id.parse::<u64>().is_ok(), "a numeric task id: {id:?}");
    assert!(
        stderr(&o).contains(&format!("take ovh/blog: task {id} started")),
        "{}",
        stderr(&o)
    );
    let running = f.estate.running_tasks("ovh", BLOG);
    assert_eq!(running, vec![(id.clone(), "take".to_string())]);

    // A second change on the same VPS: the API's own words, exit 1.
    let line = last_line(&f.run(&["take", "ovh/blog"]), 1);
    assert!(
        line.contains(&format!("There is already 1 task(s) occuring on {BLOG}")),
        "{line}"
    );
    assert!(has_query_id(&line), "{line}");
    assert_eq!(f.count("POST", &format!("/vps/{BLOG}/createSnapshot")), 2);

    // Same on a destructive change, through DELETE; --json --no-wait reports the task.
    let v = json(&f.run(&["revert", "ovh/mail", "--yes", "--no-wait", "--json"]));
    assert_eq!(v["state"], "running", "{v}");
    let line = last_line(&f.run(&["rm", "ovh/mail", "--all", "--yes"]), 1);
    assert!(
        line.contains("There is already 1 task(s) occuring"),
        "{line}"
    );
    assert_eq!(f.snapshots(MAIL).len(), 1, "the revert has not ended yet");
    assert_eq!(f.estate.running_tasks("ovh", MAIL).len(), 1);
}

#[test]
fn a_read_only_consumer_key_is_refused_the_post_by_name() {
    let f = Fixture::new();
    let cfg = f.write_config("ro.toml", f.sim.base_url(), AS, CK_READ_ONLY, "");
    let v = json(&f.run_with(&cfg, &["ls", "--json"]));
    assert_eq!(v["machines"].as_array().unwrap().len(), 4);

    let line = last_line(&f.run_with(&cfg, &["take", "ovh/blog"]), 1);
    assert!(
        line.contains(&format!(
            "the consumer key has no access rule allowing POST /vps/{BLOG}/createSnapshot"
        )),
        "{line}"
    );
    assert!(line.contains("This call has not been granted"), "{line}");
    assert!(has_query_id(&line), "{line}");
    assert!(f.snapshots(BLOG).is_empty());

    // config check shows which rules are missing, yet succeeds.
    let o = f.run_with(&cfg, &["config", "check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("rule GET /vps: allowed"), "{out}");
    assert!(
        out.contains("rule GET /vps/{serviceName}/snapshot: allowed"),
        "{out}"
    );
    for call in [
        "POST /vps/{serviceName}/createSnapshot",
        "POST /vps/{serviceName}/snapshot/revert",
        "PUT /vps/{serviceName}/snapshot",
        "DELETE /vps/{serviceName}/snapshot",
    ] {
        assert!(out.contains(&format!("rule {call}: not allowed")), "{out}");
    }
}

#[test]
fn credential_errors_are_one_sentence_without_the_secrets() {
    let f = Fixture::new();
    let url = f.sim.base_url().to_string();
    let cases = [
        (
            f.write_config("wrong-as.toml", &url, "as-wrong-6d1f0b", CK, ""),
            "check the application secret and the consumer key",
        ),
        (
            f.write_config("unknown-ck.toml", &url, AS, "ck-unknown-0e3a", ""),
            "the consumer key is not known to the API (This credential does not exist)",
        ),
        (
            f.write_config("expired-ck.toml", &url, AS, CK_EXPIRED, ""),
            "the consumer key has expired (This credential has expired); create and validate a new one",
        ),
        (
            f.write_config("pending-ck.toml", &url, AS, CK_PENDING, ""),
            "the consumer key is not valid: not validated yet",
        ),
    ];
    for (cfg, want) in &cases {
        // At trace level, so the log file is checked at its most talkative.
        let line = one_sentence(&f.run_with(cfg, &["-vv", "ls"]), 1);
        assert!(line.contains("authentication failed"), "{line}");
        assert!(line.contains(want), "{want}: {line}");
        assert!(has_query_id(&line), "{line}");

        let line = one_sentence(&f.run_with(cfg, &["take", "ovh/blog"]), 1);
        assert!(
            line.starts_with(
                "snaptree: cannot look up \"ovh/blog\": profile ovh: authentication failed"
            ),
            "{line}"
        );
        assert!(line.contains(want), "{want}: {line}");

        let o = f.run_with(cfg, &["config", "check"]);
        let line = one_sentence(&o, 1);
        assert!(
            line.contains("config check failed for profile(s): ovh"),
            "{line}"
        );
        assert!(stdout(&o).contains(want), "{}", stdout(&o));
    }
    assert!(f.changes().is_empty(), "{:?}", f.changes());
    assert!(f.snapshots(BLOG).is_empty());
    f.assert_no_secret_in_logs();
}

#[test]
fn a_5xx_on_a_get_is_retried_and_on_the_post_is_not() {
    let f = Fixture::new();
    let v = json(&f.run(&["ls", "--json"]));
    assert_eq!(v["machines"].as_array().unwrap().len(), 4);
    let clean = f.sim.requests().len();

    f.sim.faults().fail_next(2, 503);
    let v = json(&f.run(&["ls", "--json"]));
    assert_eq!(v["machines"].as_array().unwrap().len(), 4);
    assert_eq!(
        f.sim.requests().len(),
        2 * clean + 2,
        "the two failed GETs were sent again"
    );

    // A 503 on the POST itself: the GETs before it must pass, so the failure is queued
    // once they have all been answered, while the POST waits out the added latency.
    f.sim.faults().set_latency(Duration::from_millis(400));
    let before = f.sim.requests().len();
    let mut child = f.spawn(&["take", "ovh/blog"]);
    let option = format!("/vps/{BLOG}/option");
    let snapshot = format!("/vps/{BLOG}/snapshot");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reqs = f.sim.requests().split_off(before);
        let seen = |suffix: &str| {
            reqs.iter()
                .filter(|(m, p)| m == "GET" && p.ends_with(suffix))
                .count()
        };
        // Once for the listing, once more for the take's own check.
        if seen(&option) >= 2 && seen(&snapshot) >= 2 {
            assert!(reqs.iter().all(|(m, _)| m == "GET"), "{reqs:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the take never checked the VPS: {reqs:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    f.sim.faults().fail_next(1, 503);
    let o = wait(&mut child);
    no_secret_in(&o);
    let line = last_line(&o, 1);
    assert!(
        line.contains(&format!(
            "the API failed on POST /vps/{BLOG}/createSnapshot with HTTP 503"
        )),
        "{line}"
    );
    assert!(has_query_id(&line), "{line}");
    assert_eq!(
        f.count("POST", &format!("/vps/{BLOG}/createSnapshot")),
        1,
        "the POST was not retried"
    );
    assert!(f.snapshots(BLOG).is_empty());
    assert!(f.estate.running_tasks("ovh", BLOG).is_empty());
}

fn wait(child: &mut Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("snaptree did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = Vec::new();
    let mut err = Vec::new();
    use std::io::Read;
    if let Some(mut s) = child.stdout.take() {
        s.read_to_end(&mut out).expect("stdout");
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_end(&mut err).expect("stderr");
    }
    Output {
        status: child.wait().expect("status"),
        stdout: out,
        stderr: err,
    }
}

#[test]
fn an_endpoint_that_does_not_listen_cannot_be_reached() {
    let f = Fixture::new();
    let (_held, closed) = crate::common::closed_port();
    let cfg = f.write_config("down.toml", &format!("http://{closed}/1.0"), AS, CK, "");
    let line = one_sentence(&f.run_with(&cfg, &["ls", "--json"]), 1);
    assert!(line.contains("cannot reach the back end"), "{line}");
    assert!(line.contains("GET /auth/time got no answer"), "{line}");
    let line = one_sentence(&f.run_with(&cfg, &["take", "ovh/blog"]), 1);
    assert!(
        line.starts_with(
            "snaptree: cannot look up \"ovh/blog\": profile ovh: cannot reach the back end"
        ),
        "{line}"
    );
    let o = f.run_with(&cfg, &["config", "check"]);
    one_sentence(&o, 1);
    // With a second profile that is read: a miss there is a plain usage error.
    let both = f.dir.path().join("both.toml");
    let down = std::fs::read_to_string(&cfg).unwrap();
    let up = std::fs::read_to_string(f.config())
        .unwrap()
        .replace("[profiles.ovh]", "[profiles.up]");
    std::fs::write(&both, format!("{down}\n{up}")).unwrap();
    let listed = f.run_with(&both, &["ls", "--json"]);
    assert_eq!(code(&listed), 1, "one profile failed: {}", stderr(&listed));
    let v: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(v["machines"].as_array().unwrap().len(), 4, "{v}");
    let line = one_sentence(&f.run_with(&both, &["tree", "up/no-such-vps"]), 2);
    assert!(
        line.contains("no machine matches \"up/no-such-vps\""),
        "{line}"
    );
    let line = one_sentence(&f.run_with(&both, &["tree", "no-such-vps"]), 1);
    assert!(
        line.starts_with("snaptree: cannot look up \"no-such-vps\": profile ovh: cannot reach"),
        "{line}"
    );
    let v = json(&f.run_with(&both, &["tree", "up/blog", "--json"]));
    assert_eq!(v["machine"]["id"], BLOG);
    assert!(
        stdout(&o).contains("cannot reach the back end"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn config_check_reports_delta_credential_count_and_rules() {
    let f = Fixture::new();
    let o = f.run(&["config", "check"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let value = |key: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("{key}: {out}"))
            .to_string()
    };
    assert!(out.contains("[ovh] ovh"), "{out}");
    assert_eq!(value("endpoint"), f.sim.base_url());
    let delta: i64 = value("clock delta")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .expect("a number of seconds");
    assert!((delta - AHEAD).abs() <= 2, "{delta}: {out}");
    assert!(value("credential").starts_with("validated"), "{out}");
    assert_eq!(value("VPS count"), "4");
    let rules: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("rule "))
        .collect();
    assert_eq!(rules.len(), 10, "{out}");
    assert!(rules.iter().all(|l| l.ends_with(": allowed")), "{out}");
    assert!(out.lines().any(|l| l.trim() == "ok"), "{out}");
    assert!(f.changes().is_empty());
}

#[test]
fn read_only_refuses_changes_with_exit_3_and_sends_nothing() {
    let f = Fixture::new();
    let line = one_sentence(&f.run(&["--read-only", "take", "ovh/blog"]), 3);
    assert!(line.contains("read-only"), "{line}");
    let line = one_sentence(
        &f.run(&["--read-only", "rm", "ovh/shop-front", "--all", "--yes"]),
        3,
    );
    assert!(line.contains("read-only"), "{line}");
    let cfg = f.write_config(
        "ro-profile.toml",
        f.sim.base_url(),
        AS,
        CK,
        "read_only = true\n",
    );
    let line = one_sentence(&f.run_with(&cfg, &["revert", "ovh/mail", "--yes"]), 3);
    assert!(line.contains("profile ovh is read-only"), "{line}");
    assert!(f.changes().is_empty(), "{:?}", f.changes());
    assert!(f.snapshots(BLOG).is_empty());
    assert_eq!(f.snapshots(SHOP).len(), 1);
    assert_eq!(f.snapshots(MAIL).len(), 1);
}

#[test]
fn replace_deletes_then_takes_as_one_confirmed_action() {
    let f = Fixture::new();
    // Without a terminal it needs --yes, and nothing changes.
    let line = one_sentence(&f.run(&["replace", "ovh/shop-front"]), 3);
    assert!(line.contains("--yes"), "{line}");
    assert_eq!(f.snapshots(SHOP)[0].description, "pre-deploy");
    let o = f.run(&[
        "replace",
        "ovh/shop-front",
        "--description",
        "fresh",
        "--yes",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let snaps = f.snapshots(SHOP);
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].description, "fresh");
    assert_eq!(
        stdout(&o),
        format!("{}\n", snaps[0].id),
        "the new id alone on stdout"
    );
    assert_eq!(f.count("DELETE", &format!("/vps/{SHOP}/snapshot")), 1);
    assert_eq!(f.count("POST", &format!("/vps/{SHOP}/createSnapshot")), 1);
    // A VPS without a snapshot has nothing to replace; a VM is not a VPS.
    let line = one_sentence(&f.run(&["replace", "ovh/blog", "--yes"]), 2);
    assert!(line.contains("no snapshot to replace"), "{line}");
}

/// A snapshot described with terminal escapes, a newline and a bidi override (set over the
/// API by anyone with access) reaches the operator's terminal written out, never acted on:
/// in `tree`, in `ls`, in an error, and as valid JSON.
#[test]
fn hostile_names_are_written_out_never_sent_raw_to_the_terminal() {
    let f = Fixture::new();
    let hostile = "x\u{1b}]0;PWNED\u{7}\u{1b}[2J\nrm -rf\u{202e}gpj.exe";
    let o = f.run(&[
        "rename",
        "ovh/shop-front",
        "pre-deploy",
        "--description",
        hostile,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let raw =
        |text: &str| text.contains('\u{1b}') || text.contains('\u{202e}') || text.contains('\u{7}');
    let tree = f.run(&["tree", "ovh/shop-front"]);
    let out = stdout(&tree);
    assert!(!raw(&out), "{out:?}");
    assert!(
        out.contains("x\\x1b]0;PWNED\\x07\\x1b[2J\\nrm -rf\\u{202e}gpj.exe"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 3, "the name keeps to its line: {out}");
    // An error quoting the name (no snapshot by that address) is safe too.
    let err = f.run(&["rm", "ovh/shop-front", "nope", "--yes"]);
    assert!(!raw(&stderr(&err)), "{:?}", stderr(&err));
    // JSON stays the same value, with nothing raw in it.
    let j = f.run(&["tree", "ovh/shop-front", "--json"]);
    assert!(!raw(&stdout(&j)), "{:?}", stdout(&j));
    assert_eq!(json(&j)["snapshots"][0]["description"], hostile);
    let ls = f.run(&["ls", "--json"]);
    assert!(!raw(&stdout(&ls)));
}

/// A config whose `ovh` profile has no consumer key yet (what `snaptree login` starts from).
fn config_without_key(f: &Fixture, extra: &str) -> PathBuf {
    let path = f.dir.path().join("new.toml");
    let text = format!(
        "[profiles.ovh]\nkind = \"ovh\"\nendpoint = \"{}\"\napplication_key = \"{AK}\"\n\
         application_secret = \"{AS}\"\n{extra}",
        f.sim.base_url()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// The `consumer_key = "…"` line's key.
fn printed_key(line: &str) -> String {
    line.trim()
        .strip_prefix("consumer_key = \"")
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a consumer_key line: {line}"))
        .to_string()
}

/// Open a validation URL, as the account owner does in a browser.
fn approve(f: &Fixture, url: &str) {
    let status = f
        ._rt
        .block_on(async { reqwest::get(url).await.map(|r| r.status().as_u16()) })
        .expect("the validation URL answers");
    assert_eq!(status, 200, "{url}");
}

#[test]
fn login_requests_the_needed_rules_and_waits_for_the_approval() {
    use std::io::{BufRead, BufReader};
    let f = Fixture::new();
    let config = config_without_key(&f, "");
    // Without a key, other commands point at login.
    let o = f.run_with(&config, &["ls"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("snaptree login ovh"), "{}", stderr(&o));

    let mut child = f
        .command(&config, &["login", "ovh"])
        .spawn()
        .expect("spawn login");
    let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = err.next().expect("a validation URL").expect("stderr");
        if let Some(rest) = line.trim().strip_prefix("http://") {
            break format!("http://{rest}");
        }
    };
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let key = printed_key(&out.next().expect("the key line").expect("stdout"));

    // Exactly the rules snaptree needs, pending until approved: refused meanwhile.
    let requested = f
        .sim
        .consumer_keys()
        .into_iter()
        .find(|k| k.key == key)
        .expect("the simulator knows the key");
    assert_eq!(requested.state, CredentialState::PendingValidation);
    let rules: Vec<(&str, &str)> = requested
        .rules
        .iter()
        .map(|(m, p)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        rules,
        vec![
            ("GET", "/vps"),
            ("GET", "/vps/*"),
            ("POST", "/vps/*/createSnapshot"),
            ("POST", "/vps/*/snapshot/revert"),
            ("POST", "/vps/*/abortSnapshot"),
            ("PUT", "/vps/*/snapshot"),
            ("DELETE", "/vps/*/snapshot"),
            ("POST", "/vps/*/automatedBackup/restore"),
            ("POST", "/vps/*/automatedBackup/detachBackup"),
            ("POST", "/vps/*/automatedBackup/reschedule"),
        ]
    );
    let with_key = f.write_config("with-key.toml", f.sim.base_url(), AS, &key, "");
    let o = f.run_with(&with_key, &["ls"]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("not validated yet"), "{}", stderr(&o));

    approve(&f, &url);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "login did not see the approval");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    let rest: Vec<String> = err.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("approved")), "{rest:?}");
    let o = f.run_with(&with_key, &["ls"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(SHOP));
}

#[test]
fn login_read_only_without_waiting_gets_the_two_get_rules() {
    let f = Fixture::new();
    let config = config_without_key(&f, "");
    let o = f.run_with(&config, &["login", "ovh", "--read-only", "--no-wait"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let key = printed_key(stdout(&o).lines().next().expect("one line"));
    let url = stderr(&o)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("http://")
                .map(|r| format!("http://{r}"))
        })
        .expect("the validation URL on stderr");
    let requested = f
        .sim
        .consumer_keys()
        .into_iter()
        .find(|k| k.key == key)
        .expect("the key");
    assert_eq!(
        requested.rules,
        vec![
            ("GET".to_string(), "/vps".to_string()),
            ("GET".to_string(), "/vps/*".to_string())
        ]
    );
    approve(&f, &url);
    let with_key = f.write_config("ro.toml", f.sim.base_url(), AS, &key, "");
    assert_eq!(code(&f.run_with(&with_key, &["ls"])), 0);
    let o = f.run_with(&with_key, &["take", &format!("ovh/{BLOG}"), "--yes"]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("no access rule allowing POST"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn login_refuses_what_is_not_an_ovh_application() {
    let f = Fixture::new();
    let vsphere = f.dir.path().join("vsphere.toml");
    std::fs::write(
        &vsphere,
        "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"https://127.0.0.1:1\"\nusername = \"u\"\npassword = \"p\"\n",
    )
    .unwrap();
    let o = f.run_with(&vsphere, &["login", "pcc"]);
    assert!(one_sentence(&o, 2).contains("not an OVH profile"));
    let o = f.run_with(&vsphere, &["login", "nope"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("no profile named nope"),
        "{}",
        stderr(&o)
    );
    // A wrong application key is the API's refusal, said once.
    let bad = f.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[profiles.ovh]\nkind = \"ovh\"\nendpoint = \"{}\"\napplication_key = \"ak-wrong\"\napplication_secret = \"{AS}\"\n",
            f.sim.base_url()
        ),
    )
    .unwrap();
    let o = f.run_with(&bad, &["login", "ovh", "--no-wait"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("application key is not valid"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn a_change_the_api_made_then_answered_5xx_is_read_back_not_called_failed() {
    let f = Fixture::new();
    f.sim.faults().fail_after_next_changes(1, 500);
    let o = f.run(&["take", &format!("ovh/{BLOG}"), "--yes"]);
    no_secret_in(&o);
    let err = stderr(&o);
    // Sent once, never again; the server did the work; the sentence says so.
    assert_eq!(f.count("POST", &format!("/vps/{BLOG}/createSnapshot")), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.snapshots(BLOG).is_empty() {
        assert!(Instant::now() < deadline, "the simulator took no snapshot");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(err.contains("read the machine again"), "{err}");
    assert!(err.contains("the outcome is unknown"), "{err}");
    // Read back while the API's task still runs: the sentence names it.
    assert!(
        err.contains("the take went through") || err.contains("is running on it now"),
        "{err}"
    );
    assert!(!err.contains("failed:"), "{err}");
    assert_eq!(code(&o), 1);
}

/// A config for the fixture's simulator reached through a fault-injecting proxy.
fn through_proxy(f: &Fixture) -> (crate::common::proxy::Proxy, PathBuf) {
    let proxy = crate::common::proxy::Proxy::start(f.sim.addr());
    let endpoint = format!("http://{}/1.0", proxy.addr());
    let config = f.write_config("proxied.toml", &endpoint, AS, CK, "");
    (proxy, config)
}

#[test]
fn a_connection_lost_with_the_take_sent_is_read_back_not_resent() {
    use crate::common::proxy::Fault;
    let f = Fixture::new();
    let (proxy, config) = through_proxy(&f);
    proxy.set(Fault::LoseAnswerTo(b"/createSnapshot".to_vec()));
    let o = f.run_with(&config, &["take", &format!("ovh/{BLOG}"), "--yes"]);
    let err = stderr(&o);
    assert_eq!(proxy.lost(), 1, "{err}");
    assert_eq!(
        f.count("POST", &format!("/vps/{BLOG}/createSnapshot")),
        1,
        "sent once, never again"
    );
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("the outcome is unknown"), "{err}");
    assert!(
        err.contains("is running on it now") || err.contains("the take went through"),
        "{err}"
    );
}

#[test]
fn an_answer_cut_short_is_one_sentence_naming_the_call() {
    use crate::common::proxy::Fault;
    let f = Fixture::new();
    let (proxy, config) = through_proxy(&f);
    proxy.set(Fault::CutAnswerAfter(40));
    let started = Instant::now();
    let o = f.run_with(&config, &["ls"]);
    let err = stderr(&o);
    assert_ne!(code(&o), 0, "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    assert!(
        err.contains("GET /auth/time") || err.contains("GET /vps"),
        "{err}"
    );
    assert!(err.contains("no answer"), "{err}");
}

#[test]
fn pin_protects_a_vps_snapshot_from_prune_and_unpin_gives_it_back() {
    let f = Fixture::new();
    let id = f.snapshots(SHOP)[0].id.clone();
    let before = f.snapshots(SHOP)[0].description.clone();
    let o = f.run(&["pin", &format!("ovh/{SHOP}"), &id]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let pinned = f.snapshots(SHOP)[0].description.clone();
    assert_eq!(
        pinned,
        format!("{before} [keep]"),
        "the rest kept, the marker at the end"
    );
    let o = f.run(&["prune", "--name", "*", "--dry-run", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let planned: Vec<String> = v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["snapshots"].as_array().unwrap().clone())
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !planned.contains(&id),
        "a pinned snapshot is never selected: {v}"
    );
    // Pinning twice sends nothing.
    let puts = f.count("PUT", &format!("/vps/{SHOP}/snapshot"));
    let o = f.run(&["pin", &format!("ovh/{SHOP}"), &id]);
    assert!(stdout(&o).contains("already pinned"), "{}", stdout(&o));
    assert_eq!(f.count("PUT", &format!("/vps/{SHOP}/snapshot")), puts);
    let o = f.run(&["unpin", &format!("ovh/{SHOP}"), &id]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.snapshots(SHOP)[0].description, before);
}

#[test]
fn take_expires_writes_the_marker_that_prune_expired_reads() {
    let f = Fixture::new();
    let o = f.run(&[
        "take",
        &format!("ovh/{BLOG}"),
        "--description",
        "before the sale",
        "--expires",
        "3d",
        "--yes",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let d = f.snapshots(BLOG)[0].description.clone();
    let at = d
        .strip_prefix("before the sale [expires ")
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or_else(|| panic!("{d}"));
    let at = chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
    // Written on the server's clock (ten minutes ahead), the one prune reads it on.
    let ahead = at.with_timezone(&Utc) - (Utc::now() + chrono::Duration::seconds(AHEAD));
    assert!(
        ahead > chrono::Duration::hours(71) && ahead <= chrono::Duration::hours(72),
        "{d}"
    );
    // Not expired yet: `prune --expired` selects nothing.
    let o = f.run(&["prune", "--expired", "--dry-run", "--json"]);
    assert_eq!(json(&o)["total"]["snapshots"], 0);
}

/// A description with a comma, quotes, a newline, a pipe, an escape sequence and a bidi
/// override: in every report format it stays in its cell, and nothing raw reaches stdout.
#[test]
fn hostile_text_stays_in_its_cell_in_every_report_format_and_is_safe() {
    let f = Fixture::new();
    let hostile = "a, \"b\"\nc|d\u{1b}[2J\u{202e}e";
    let o = f.run(&[
        "rename",
        "ovh/shop-front",
        "pre-deploy",
        "--description",
        hostile,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let raw = |b: &[u8]| {
        let t = String::from_utf8_lossy(b);
        t.contains('\u{1b}') || t.contains('\u{202e}')
    };
    let csv = f.run(&["report", "--format", "csv"]);
    assert_eq!(code(&csv), 0, "{}", stderr(&csv));
    assert!(!raw(&csv.stdout), "{}", stdout(&csv));
    let read = crate::common::peers::read_as("csv", &csv.stdout);
    let header = read["header"].as_array().unwrap();
    let at = |name: &str| header.iter().position(|c| c == name).unwrap();
    let rows = read["rows"].as_array().unwrap();
    let ours = rows
        .iter()
        .find(|r| r[at("machine")] == "shop-front")
        .expect("shop-front's row");
    assert_eq!(
        ours[at("description")],
        "a, \"b\"\nc|d\\x1b[2J\\u{202e}e",
        "the newline kept in its cell, the controls written out"
    );
    assert_eq!(ours.as_array().unwrap().len(), header.len());
    let snapshots: usize = f
        .estate
        .machines("ovh")
        .unwrap()
        .iter()
        .map(|m| m.snapshot_count())
        .sum();
    assert_eq!(rows.len(), snapshots);
    let j = f.run(&["report", "--json"]);
    assert!(!raw(&j.stdout));
    let v: Value = serde_json::from_slice(&j.stdout).unwrap();
    let row = v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["machine"] == "shop-front")
        .unwrap();
    assert_eq!(row["description"], hostile, "JSON keeps the exact value");
    let md = f.run(&["report", "--format", "markdown"]);
    assert!(!raw(&md.stdout));
    let text = stdout(&md);
    assert_eq!(
        text.lines().count(),
        2 + snapshots,
        "one line per row:\n{text}"
    );
    let line = text.lines().find(|l| l.contains("shop-front")).unwrap();
    assert!(line.contains("c\\|d\\x1b[2J"), "{line}");
    let table = f.run(&["report"]);
    assert!(!raw(&table.stdout));
    assert_eq!(stdout(&table).lines().count(), 1 + snapshots);
    let prom = f.run(&["check", "--format", "prometheus"]);
    assert!(!raw(&prom.stdout));
    let families = crate::common::peers::read_as("prom", &prom.stdout);
    assert_eq!(
        families["snaptree_snapshot_age_seconds"]
            .as_array()
            .unwrap()
            .len(),
        snapshots
    );
}

/// A back end that cannot be read: `check` is UNKNOWN (exit 3) and names it; the metrics
/// say `snaptree_profile_up 0` and are still printed (exit 0).
#[test]
fn check_is_unknown_naming_a_profile_that_cannot_be_read() {
    let f = Fixture::new();
    let (_held, closed) = crate::common::closed_port();
    let cfg = f.write_config("down.toml", &format!("http://{closed}/1.0"), AS, CK, "");
    let o = f.run_with(&cfg, &["check"]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "SNAPTREE UNKNOWN - 0 snapshot(s) on 0 machine(s), 1 profile(s) unreadable"
        ),
        "{out}"
    );
    assert!(
        out.contains("UNKNOWN: profile ovh could not be read: cannot reach the back end"),
        "{out}"
    );
    let prom = f.run_with(&cfg, &["check", "--format", "prometheus"]);
    assert_eq!(code(&prom), 0);
    let families = crate::common::peers::read_as("prom", &prom.stdout);
    assert_eq!(
        families["snaptree_profile_up"][0]["labels"]["profile"],
        "ovh"
    );
    assert_eq!(families["snaptree_profile_up"][0]["value"], 0.0);
    let report = f.run_with(&cfg, &["report", "--format", "csv"]);
    assert_eq!(code(&report), 1, "the header printed, the failure said");
    assert!(
        stderr(&report).contains("profile ovh"),
        "{}",
        stderr(&report)
    );
}

/// `guest_check = "ssh"`: `take` and `replace` check the VPS's guest agent over ssh first
/// (a loopback sshd stands in for the VPS), say what they found, and ask once more when it
/// does not run: without a terminal that is a refusal, with `--yes` a warning.
#[test]
fn take_with_guest_check_says_what_ssh_found_and_asks_again_without_the_agent() {
    use crate::common::sshd::{Answer, Sshd};
    let f = Fixture::new();
    let server = Sshd::start(Answer::Missing);
    let extra = format!(
        "guest_check = \"ssh\"\nssh_config = \"{}\"\nssh_timeout = \"5s\"\n",
        server.client_config(true).display()
    );
    let config = f.write_config("guest.toml", f.sim.base_url(), AS, CK, &extra);

    let o = f.run_with(&config, &["take", "ovh/blog"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 3, "{err}\nsshd: {}", server.log());
    assert!(
        err.contains("Guest agent: not installed; install qemu-guest-agent"),
        "{err}"
    );
    assert!(
        err.contains("crash-consistent only") && err.contains("pass --yes"),
        "{err}"
    );
    assert!(f.changes().is_empty(), "nothing sent: {:?}", f.changes());

    let o = f.run_with(&config, &["take", "ovh/blog", "--yes"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(err.contains("taking it anyway (--yes)"), "{err}");
    assert_eq!(f.count("POST", &format!("{BLOG}/createSnapshot")), 1);

    // The agent runs: said, and nothing more asked.
    server.answer(Answer::Running);
    let o = f.run_with(&config, &["replace", "ovh/shop-front", "--yes"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(
        err.contains("Guest agent: running (checked over ssh)"),
        "{err}"
    );
    assert!(!err.contains("anyway"), "{err}");

    // A VPS that is off is not asked: its snapshot is cold.
    server.answer(Answer::Missing);
    let o = f.run_with(&config, &["replace", "ovh/mail", "--yes"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(
        err.contains("Guest agent: not needed, the VPS is off") && !err.contains("anyway"),
        "{err}"
    );

    // `config check` says how the agent is checked.
    let o = f.run_with(&config, &["config", "check"]);
    assert!(
        stdout(&o).contains("guest agent check: ssh, ssh -F "),
        "{}",
        stdout(&o)
    );

    // A setting on the wrong kind of profile is refused before anything runs.
    let bad = f.write_config(
        "bad.toml",
        f.sim.base_url(),
        AS,
        CK,
        "ssh_user = \"debian\"\n",
    );
    let line = one_sentence(&f.run_with(&bad, &["ls"]), 2);
    assert!(line.contains("need guest_check = \"ssh\""), "{line}");
}

#[test]
fn a_429_says_rate_limited_a_take_is_not_resent_and_a_long_wait_fails_at_once() {
    let f = Fixture::new();
    f.sim.faults().rate_limit_next_changes(1, "3");
    let o = f.run(&["take", "ovh/blog", "--description", "before upgrade"]);
    let line = last_line(&o, 1);
    assert!(
        line.contains("rate limited, not sent") && line.contains("try again in 3 s"),
        "{line}"
    );
    assert!(!line.contains("cannot reach"), "{line}");
    assert!(
        !line.contains("unknown"),
        "a refused change is known not made: {line}"
    );
    assert_eq!(
        f.count("POST", &format!("/vps/{BLOG}/createSnapshot")),
        1,
        "the POST was not retried"
    );
    assert!(f.snapshots(BLOG).is_empty());

    // A listing asked to wait a minute with a five-second timeout gives up at once.
    let config = f.write_config("short.toml", f.sim.base_url(), AS, CK, "timeout = \"5s\"\n");
    f.sim.faults().rate_limit_next(1, "60");
    let before = f.sim.requests().len();
    let o = f.run_with(&config, &["ls"]);
    let line = last_line(&o, 1);
    assert!(
        line.contains("rate limited") && line.contains("60 s"),
        "{line}"
    );
    // The first request (the clock's) is refused, and not tried again.
    let sent = &f.sim.requests()[before..];
    assert_eq!(sent.len(), 1, "no retry: {sent:?}");
}

#[test]
fn one_malformed_vps_is_listed_unreadable_and_hides_nothing_else() {
    let f = Fixture::new();
    f.sim.faults().malform(SHOP, Malformed::DateGarbage);
    f.sim.faults().malform(MAIL, Malformed::DescriptionNumber);
    f.sim.faults().malform(BLOG, Malformed::SnapshotNull);
    f.sim.faults().list_also("..");

    // The table: every VPS, the bad ones flagged, each reason named on stderr, exit 1.
    let o = f.run(&["ls"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(out.lines().count(), 6, "a header and five rows: {out}");
    let row = |id: &str| {
        out.lines()
            .find(|l| l.split_whitespace().any(|c| c == id))
            .unwrap_or_else(|| panic!("{id} listed: {out}"))
            .to_string()
    };
    assert!(!row(BARE).contains("unreadable"), "{out}");
    for id in [SHOP, MAIL, BLOG, ".."] {
        assert!(row(id).contains("unreadable"), "{id}: {out}");
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("ovh/{id}")) && l.contains("unreadable")),
            "{id}: {err}"
        );
    }
    assert!(err.contains("creationDate"), "{err}");
    assert!(err.contains("not a valid VPS service name"), "{err}");

    // JSON: the same machines, each bad one with its reason.
    let o = f.run(&["ls", "--json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON on stdout");
    let machines = v["machines"].as_array().expect("machines");
    assert_eq!(machines.len(), 5, "{v}");
    for m in machines {
        let unreadable = m["unreadable"].as_str();
        if m["id"] == BARE {
            assert!(m["unreadable"].is_null(), "{m}");
        } else {
            assert!(unreadable.is_some_and(|r| !r.is_empty()), "{m}");
            assert!(
                m["warnings"]
                    .as_array()
                    .is_some_and(|w| w.contains(&Value::from("unreadable"))),
                "{m}"
            );
        }
    }

    // The healthy VPS's tree reads as always; the bad one's names its reason.
    let o = f.run(&["tree", &format!("ovh/{BARE}")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(BARE), "{}", stdout(&o));
    let line = last_line(&f.run(&["tree", &format!("ovh/{SHOP}")]), 1);
    assert!(
        line.contains("unreadable") && line.contains("creationDate"),
        "{line}"
    );
    // A prune says which machines it could not plan for.
    let o = f.run(&["prune", "--older-than", "1d", "--dry-run"]);
    assert!(
        stderr(&o).contains(&format!("ovh/{SHOP} is unreadable")),
        "{}",
        stderr(&o)
    );
    // A report (`--all`: machines without snapshots too) lists it and says why its
    // snapshots are missing.
    let o = f.run(&["report", "--all"]);
    let line = last_line(&o, 1);
    assert!(
        line.contains(&format!("ovh/{SHOP} is unreadable")),
        "{line}"
    );
    assert!(stdout(&o).contains(SHOP), "{}", stdout(&o));
    // A check cannot call unread snapshots OK.
    let o = f.run(&["check"]);
    assert_eq!(code(&o), 3, "UNKNOWN: {}", stdout(&o));
    assert!(stdout(&o).starts_with("SNAPTREE UNKNOWN"), "{}", stdout(&o));
    assert!(
        f.sim.requests().iter().all(|(_, p)| !p.contains("/vps/..")),
        "the bad name was never put in a URL"
    );
}

#[test]
fn ages_are_measured_on_the_servers_clock() {
    // The server's clock a day behind: what it stamps now reads a day old on the local one.
    let f = Fixture::with_clock(-86_400);
    let o = f.run(&["take", "ovh/blog", "--description", "just-now"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let v = json(&f.run(&["ls", "--json"]));
    let blog = v["machines"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["id"] == BLOG))
        .unwrap_or_else(|| panic!("blog listed: {v}"))
        .clone();
    assert_eq!(blog["warnings"], serde_json::json!([]), "{blog}");
    let o = f.run(&["ls"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let row = out
        .lines()
        .find(|l| l.contains(BLOG))
        .unwrap_or_else(|| panic!("{out}"));
    let oldest = row.split_whitespace().nth(6).unwrap_or_default();
    assert!(
        oldest.ends_with('s') || oldest == "1m",
        "taken seconds ago, not a day: {row}"
    );

    // A prune of what is older than 12 h leaves it, and takes the two-day-old ones.
    let o = f.run(&["prune", "--older-than", "12h", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        !out.contains(BLOG),
        "the new snapshot is not selected: {out}"
    );
    assert!(out.contains(SHOP), "the two-day-old one is: {out}");

    // A check with a 12 h limit calls it OK.
    let o = f.run(&["check", "blog", "--warn-age", "6h", "--crit-age", "12h"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(stdout(&o).starts_with("SNAPTREE OK"), "{}", stdout(&o));
    let o = f.run(&["tree", "ovh/blog"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !stdout(&o).contains(" 24h") && !stdout(&o).contains(" 23h"),
        "{}",
        stdout(&o)
    );
}

/// The mail VPS's automated backup as the simulator holds it.
fn backups_of(f: &Fixture) -> snaptree::model::backups::Backups {
    *f.estate
        .machine("ovh", MAIL)
        .expect("machine")
        .backups
        .expect("backups")
}

/// The audit log's records, one JSON object a line.
fn audit(f: &Fixture) -> Vec<Value> {
    let path = f.dir.path().join("state/snaptree/audit.log");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an audit line is JSON"))
        .collect()
}

/// `backup restore|detach|schedule` against the simulator: a full restore is confirmed like
/// a revert (refused without a terminal unless --yes, read-only refuses all before sending),
/// a mounted point must be detached before it is restored, each change is a task followed
/// to its end and audited with the restore point it aimed at.
#[test]
fn backup_verbs_restore_mount_detach_and_reschedule_through_the_one_flow() {
    let f = Fixture::new();
    let before = backups_of(&f);
    let newest = before.restore_points[0].time;
    let older = before.restore_points[1].time;
    let label = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    // Refused before anything is sent: no terminal, read-only, a mounted point, a point
    // that does not exist, a VPS without the option, a bad time.
    let line = one_sentence(
        &f.run(&[
            "backup",
            "restore",
            "ovh/mail",
            &label(older),
            "--mode",
            "full",
        ]),
        3,
    );
    assert!(
        line.contains("--yes") && line.contains("changes since are lost"),
        "{line}"
    );
    let line = one_sentence(
        &f.run(&["--read-only", "backup", "schedule", "ovh/mail", "03:30"]),
        3,
    );
    assert!(line.contains("read-only"), "{line}");
    let line = one_sentence(
        &f.run(&[
            "backup", "restore", "ovh/mail", "latest", "--mode", "full", "--yes",
        ]),
        2,
    );
    assert!(line.contains("is mounted; detach it first"), "{line}");
    let line = one_sentence(
        &f.run(&[
            "backup",
            "restore",
            "ovh/mail",
            "2001-01-01 22:00",
            "--mode",
            "file",
        ]),
        2,
    );
    assert!(
        line.contains("no restore point at 2001-01-01 22:00 UTC"),
        "{line}"
    );
    assert!(
        line.contains(&label(newest)),
        "the points are listed: {line}"
    );
    let line = one_sentence(
        &f.run(&["backup", "restore", "ovh/blog", "latest", "--mode", "file"]),
        2,
    );
    assert!(
        line.contains("automatedBackup option is not subscribed"),
        "{line}"
    );
    let line = one_sentence(&f.run(&["backup", "schedule", "ovh/mail", "25:00"]), 2);
    assert!(line.contains("not a time of day"), "{line}");
    assert!(f.changes().is_empty(), "{:?}", f.changes());

    // Detach the mounted one, mount another, restore a third whole, move the daily time.
    let o = f.run(&["backup", "detach", "ovh/mail", "latest"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("backup-detach ovh/mail: task "),
        "{}",
        stderr(&o)
    );
    let b = backups_of(&f);
    assert!(b.attached.is_empty(), "{b:?}");
    assert_eq!(b.restore_points[0].state.as_str(), "available");
    let o = f.run(&[
        "backup",
        "restore",
        "ovh/mail",
        &label(older),
        "--mode",
        "file",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let b = backups_of(&f);
    assert_eq!(b.attached.len(), 1, "{b:?}");
    assert_eq!(b.attached[0].time, older);
    let o = f.run(&[
        "backup", "restore", "ovh/mail", "latest", "--mode", "full", "--yes",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("success"), "{}", stderr(&o));
    let b = backups_of(&f);
    assert_eq!(b.attached.len(), 1, "a full restore mounts nothing: {b:?}");
    assert_eq!(b.restore_points[0].state.as_str(), "available");
    let o = f.run(&["backup", "schedule", "ovh/mail", "03:30", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["state"], "success");
    assert_eq!(backups_of(&f).schedule.as_deref(), Some("03:30:00"));
    let v = json(&f.run(&["backup", "ls", "ovh/mail", "--json"]));
    assert_eq!(v["schedule"], "03:30:00");

    let calls: Vec<String> = f
        .changes()
        .into_iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        calls,
        [
            format!("POST /1.0/vps/{MAIL}/automatedBackup/detachBackup"),
            format!("POST /1.0/vps/{MAIL}/automatedBackup/restore"),
            format!("POST /1.0/vps/{MAIL}/automatedBackup/restore"),
            format!("POST /1.0/vps/{MAIL}/automatedBackup/reschedule"),
        ]
    );
    // Written ahead and audited with the restore point aimed at.
    let records = audit(&f);
    let ended: Vec<(String, String, String)> = records
        .iter()
        .filter(|r| r["result"] != "sent" && r["result"] != "started")
        .map(|r| {
            (
                r["operation"].as_str().unwrap_or_default().to_string(),
                r["target"].as_str().unwrap_or_default().to_string(),
                r["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let id = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        ended.contains(&("backup-detach".into(), id(newest), "success".into())),
        "{ended:?}"
    );
    assert!(
        ended.contains(&("backup-restore-file".into(), id(older), "success".into())),
        "{ended:?}"
    );
    assert!(
        ended.contains(&("backup-restore-full".into(), id(newest), "success".into())),
        "{ended:?}"
    );
    assert!(
        ended.contains(&("backup-reschedule".into(), String::new(), "success".into())),
        "{ended:?}"
    );
    assert_eq!(
        records.iter().filter(|r| r["result"] == "sent").count(),
        4,
        "each written ahead: {records:?}"
    );
}

/// python-ovh, the official client, drives the same routes on the simulator: its mount
/// and its new daily time are what snaptree reads, and snaptree's detach is what it reads.
#[test]
fn python_ovh_and_snaptree_see_each_others_backup_changes() {
    let f = Fixture::new();
    let older = backups_of(&f).restore_points[2].time;
    let script = r#"
import sys, time, ovh, ovh.client
base, ak, secret, ck, sn, point, step = sys.argv[1:8]
ovh.client.ENDPOINTS["snaptree-sim"] = base
c = ovh.Client(endpoint="snaptree-sim", application_key=ak, application_secret=secret, consumer_key=ck)
b = "/vps/" + sn + "/automatedBackup"
def wait(task):
    for _ in range(100):
        t = c.get("/vps/" + sn + "/tasks/" + str(task["id"]))
        if t["state"] in ("done", "error", "cancelled"):
            return t
        time.sleep(0.1)
    raise SystemExit("task did not end")
if step == "change":
    assert point in c.get(b + "/restorePoints", state="available"), point
    t = wait(c.post(b + "/restore", restorePoint=point, type="file"))
    assert t["state"] == "done" and t["type"] == "restoreVeeamBackup", t
    t = wait(c.post(b + "/reschedule", schedule="04:15:00"))
    assert t["state"] == "done" and t["type"] == "rescheduleAutoBackup", t
    try:
        c.post(b + "/restore", restorePoint=point, type="full")
        raise SystemExit("a mounted point was restored")
    except ovh.exceptions.APIError as e:
        print("refused:", e)
else:
    print(len(c.get(b + "/attachedBackup")), c.get(b)["schedule"])
"#;
    let py = |point: &str, step: &str| {
        crate::common::peers::run_python(
            "ovh",
            script,
            &[f.sim.base_url(), AK, AS, CK, MAIL, point, step],
        )
        .trim()
        .to_string()
    };
    let api_point = older.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let said = py(&api_point, "change");
    assert!(said.starts_with("refused:"), "{said}");
    let v = json(&f.run(&["backup", "ls", "ovh/mail", "--json"]));
    assert_eq!(v["schedule"], "04:15:00", "{v}");
    let mounted: Vec<&str> = v["attached"]
        .as_array()
        .expect("attached")
        .iter()
        .filter_map(|a| a["time"].as_str())
        .collect();
    let id = older.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(mounted.contains(&id.as_str()), "{v}");
    // snaptree detaches both; python-ovh reads none left.
    for point in [id.as_str(), "latest"] {
        let o = f.run(&["backup", "detach", "ovh/mail", point]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    assert_eq!(py("", "read"), "0 04:15:00");
}

/// Ordering an option on the per-option route (blog, an older range): the prices and
/// contracts, then one POST once confirmed; the order is visible to python-ovh, and the
/// option stays unsubscribed (nothing is paid, nothing claimed active).
#[test]
fn option_order_shows_prices_then_creates_an_order_python_ovh_sees_and_pays_nothing() {
    let f = Fixture::new();
    let posts = |f: &Fixture| f.changes().len();
    // Refused before anything is sent: read-only, an option it has, no terminal.
    let line = one_sentence(
        &f.run(&[
            "--read-only",
            "option",
            "order",
            "ovh/blog",
            "automated-backup",
        ]),
        3,
    );
    assert!(line.contains("read-only"), "{line}");
    assert_eq!(f.count("GET", "/order/vps/vps-5e6f7a8b.vps.ovh.net"), 0);
    let line = one_sentence(&f.run(&["option", "order", "ovh/mail", "snapshot"]), 2);
    assert!(line.contains("already has the snapshot option"), "{line}");
    let dry = f.run(&[
        "option",
        "order",
        "ovh/blog",
        "automated-backup",
        "--dry-run",
    ]);
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let text = stdout(&dry);
    assert!(text.contains("P1M  7.19 € (5.99 € without tax)"), "{text}");
    assert!(
        text.contains("contract: General terms of service https://"),
        "{text}"
    );
    let o = f.run(&["option", "order", "ovh/blog", "automated-backup"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--duration P1M, P12M"),
        "{}",
        stderr(&o)
    );
    let line = one_sentence(
        &f.run(&[
            "option",
            "order",
            "ovh/blog",
            "automated-backup",
            "--duration",
            "P12M",
        ]),
        3,
    );
    assert!(line.contains("--yes") && line.contains("86.28 €"), "{line}");
    assert_eq!(posts(&f), 0, "{:?}", f.changes());

    let o = f.run(&[
        "option",
        "order",
        "ovh/blog",
        "automated-backup",
        "--duration",
        "P12M",
        "--yes",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let calls: Vec<String> = f
        .changes()
        .into_iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        calls,
        [format!("POST /1.0/order/vps/{BLOG}/automatedBackup/P12M")]
    );
    let orders = f.estate.orders();
    assert_eq!(orders.len(), 1);
    assert!(stdout(&o).contains(&orders[0].url), "{}", stdout(&o));
    assert!(stdout(&o).contains("active only once OVHcloud has the payment"));
    // Not claimed active: the VPS still has no automated backup.
    let line = one_sentence(&f.run(&["backup", "ls", "ovh/blog"]), 2);
    assert!(line.contains("not subscribed"), "{line}");
    let audit = audit(&f);
    assert!(
        audit.iter().any(|r| r["operation"] == "order-option"
            && r["target"] == "automatedBackup"
            && r["result"] == "success"
            && r["task_id"].as_str() == Some(orders[0].order_id.to_string().as_str())),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|r| r["operation"] == "order-option" && r["result"] == "sent")
    );

    let script = r#"
import sys, ovh, ovh.client
base, ak, secret, ck, order = sys.argv[1:6]
ovh.client.ENDPOINTS["snaptree-sim"] = base
c = ovh.Client(endpoint="snaptree-sim", application_key=ak, application_secret=secret, consumer_key=ck)
assert int(order) in c.get("/me/order"), c.get("/me/order")
o = c.get("/me/order/" + order)
print(o["url"], o["priceWithTax"]["text"])
"#;
    assert_eq!(
        crate::common::peers::run_python(
            "ovh",
            script,
            &[
                f.sim.base_url(),
                AK,
                AS,
                CK,
                &orders[0].order_id.to_string(),
            ],
        )
        .trim(),
        format!("{} 86.28 €", orders[0].url)
    );
}

/// A VPS of the newer range is ordered through a cart: the catalogue's prices, then the
/// cart, its item, its assignment and its checkout, which must not pay (the simulator
/// refuses a checkout that would).
#[test]
fn option_order_of_a_newer_vps_goes_through_a_cart_that_never_pays() {
    let f = Fixture::new();
    let dry = f.run(&[
        "option",
        "order",
        &format!("ovh/{BARE}"),
        "snapshot",
        "--dry-run",
    ]);
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    assert!(stdout(&dry).contains("P1M  3.59 €"), "{}", stdout(&dry));
    assert_eq!(
        f.count("GET", &format!("/order/cartServiceOption/vps/{BARE}")),
        1
    );
    let o = f.run(&[
        "option",
        "order",
        &format!("ovh/{BARE}"),
        "snapshot",
        "--duration",
        "P1M",
        "--yes",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let calls: Vec<String> = f
        .changes()
        .into_iter()
        .map(|(m, p)| {
            let p = p.split("/sim-cart-").next().unwrap_or_default().to_string();
            format!("{m} {p}")
        })
        .collect();
    assert_eq!(
        calls,
        [
            "POST /1.0/order/cart".to_string(),
            format!("POST /1.0/order/cartServiceOption/vps/{BARE}"),
            "POST /1.0/order/cart".into(),
            "POST /1.0/order/cart".into(),
        ],
        "cart, item, assign, checkout"
    );
    let orders = f.estate.orders();
    assert_eq!(orders.len(), 1);
    assert!(orders[0].cart && orders[0].option.api() == "snapshot");
    assert!(stdout(&o).contains(&orders[0].url));
    // A key without the order rules: the prices cannot be read, and the hint says how.
    let cfg = f.write_config("ro.toml", f.sim.base_url(), AS, CK_READ_ONLY, "");
    let line = one_sentence(
        &f.run_with(
            &cfg,
            &[
                "option",
                "order",
                "ovh/blog",
                "automated-backup",
                "--dry-run",
            ],
        ),
        1,
    );
    assert!(line.contains("snaptree login ovh --order"), "{line}");
}
