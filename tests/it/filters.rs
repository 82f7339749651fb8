//! FILTER, one rule everywhere (a machine's name, id, path, profile, or its address under
//! the profile), what a command says when its filter matches nothing, the first run with
//! nothing configured, and the `errors` every `--json` document carries. The real binary,
//! on the demo, on the OVH API simulator, and on a profile whose endpoint does not listen.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use chrono::Utc;
use crossterm::event::KeyCode;
use serde_json::Value;

use crate::common::output::{code, json, one_sentence, stderr, stdout};
use crate::common::{key, press, state, type_text};
use snaptree::app::state::Row;
use snaptree::sim::Estate;
use snaptree::sim::ovh::{OvhSimHandle, OvhSimOptions, serve};

/// A scratch directory for one test: config, state, home and working directory.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["cwd", "home", "config", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        Env { dir }
    }

    /// The binary with nothing of the caller's environment that could configure a profile.
    fn command(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut c = Command::new(env!("CARGO_BIN_EXE_snaptree"));
        c.args(args)
            .current_dir(d.join("cwd"))
            .env("HOME", d.join("home"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_STATE_HOME", d.join("state"))
            .env("SNAPTREE_SIM_TASK_MS", "300")
            .stdin(Stdio::null());
        for var in [
            "SNAPTREE_CONFIG",
            "NO_COLOR",
            "GOVC_URL",
            "GOVC_USERNAME",
            "GOVC_PASSWORD",
            "OVH_ENDPOINT",
            "OVH_APPLICATION_KEY",
            "OVH_APPLICATION_SECRET",
            "OVH_CONSUMER_KEY",
        ] {
            c.env_remove(var);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run snaptree")
    }

    fn demo(&self, args: &[&str]) -> Output {
        self.run(&[&["--demo"][..], args].concat())
    }

    /// Run with this config file.
    fn with(&self, config: &Path, args: &[&str]) -> Output {
        let config = config.to_str().expect("a UTF-8 path");
        self.run(&[&["--config", config][..], args].concat())
    }

    /// Write a config file; returns its path.
    fn config(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }
}

/// The OVH API simulator on its own runtime, serving one scenario's OVH profile.
struct OvhSim {
    sim: OvhSimHandle,
    // Last: the runtime outlives the simulator it serves.
    _rt: tokio::runtime::Runtime,
}

impl OvhSim {
    fn start(scenario: &str) -> OvhSim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let estate = Arc::new(Estate::from_scenario(scenario, Utc::now(), None).expect("scenario"));
        let sim = rt
            .block_on(serve(OvhSimOptions::default(), estate))
            .expect("simulator");
        OvhSim { sim, _rt: rt }
    }
}

/// An OVH profile named `name` at `endpoint`, with the simulator's credentials.
fn ovh_profile(name: &str, endpoint: &str) -> String {
    let o = OvhSimOptions::default();
    format!(
        "[profiles.{name}]\nkind = \"ovh\"\nendpoint = \"{endpoint}\"\n\
         application_key = \"{}\"\napplication_secret = \"{}\"\nconsumer_key = \"{}\"\n\n",
        o.application_key, o.application_secret, o.consumer_key
    )
}

/// The machines' names in an `ls --json` document.
fn names(v: &Value) -> Vec<String> {
    v["machines"]
        .as_array()
        .expect("machines")
        .iter()
        .map(|m| m["name"].as_str().expect("a name").to_string())
        .collect()
}

/// The profiles of the machines in an `ls --json` document.
fn profiles_of(v: &Value, list: &str, key: &str) -> BTreeSet<String> {
    v[list]
        .as_array()
        .expect(list)
        .iter()
        .map(|m| m[key].as_str().expect("a profile").to_string())
        .collect()
}

use crate::common::LAX_CHECK as LAX;

#[test]
fn a_filter_selects_a_profile_and_addresses_under_it_in_ls() {
    let env = Env::new();
    let pcc = json(&env.demo(&["ls", "pcc", "--json"]));
    assert_eq!(names(&pcc).len(), 8, "{pcc}");
    assert_eq!(
        profiles_of(&pcc, "machines", "profile"),
        ["pcc".to_string()].into()
    );
    let ovh = json(&env.demo(&["ls", "OVH", "--json"]));
    assert_eq!(names(&ovh).len(), 4, "{ovh}");
    assert_eq!(
        names(&json(&env.demo(&["ls", "pcc/web-0", "--json"]))),
        ["web-01", "web-02"]
    );
    assert_eq!(
        names(&json(&env.demo(&["ls", "pcc/vm-10", "--json"]))),
        ["web-01", "web-02"]
    );
    assert_eq!(
        names(&json(&env.demo(&[
            "ls",
            "pcc/Paris-DC1/vm/prod/db",
            "--json"
        ]))),
        ["db-01", "db-02"]
    );
    assert_eq!(
        names(&json(&env.demo(&["ls", "ovh/os-gra7", "--json"]))).len(),
        2
    );
}

/// The README's own examples: `prune pcc --older-than 30d` and `report pcc --all`.
#[test]
fn prune_and_report_select_by_profile_name() {
    let env = Env::new();
    let plan = json(&env.demo(&["prune", "pcc", "--older-than", "30d", "--dry-run", "--json"]));
    assert!(
        plan["total"]["snapshots"].as_u64().unwrap() >= 3,
        "the 40, 120 and 200 days old snapshots of pcc: {plan}"
    );
    assert_eq!(
        profiles_of(&plan, "plan", "profile"),
        ["pcc".to_string()].into()
    );
    let report = json(&env.demo(&["report", "pcc", "--all", "--format", "json"]));
    let machines: BTreeSet<&str> = report["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["machine"].as_str().unwrap())
        .collect();
    assert_eq!(
        machines.len(),
        8,
        "every pcc machine, with or without snapshots: {report}"
    );
    assert_eq!(
        profiles_of(&report, "snapshots", "profile"),
        ["pcc".to_string()].into()
    );
}

/// `check pcc` checks pcc; a typo checks nothing, and says so: UNKNOWN, never OK.
#[test]
fn check_of_a_profile_checks_it_and_a_filter_that_matches_nothing_is_unknown() {
    let env = Env::new();
    let pcc = env.demo(&[&["check", "pcc"][..], &LAX[..]].concat());
    let out = stdout(&pcc);
    assert!(out.contains(" on 8 machine(s)"), "{out}");
    assert_eq!(code(&pcc), 1, "db-01 needs consolidation: {out}");
    let typo = env.demo(&[&["check", "pcc-typo"][..], &LAX[..]].concat());
    let out = stdout(&typo);
    assert_eq!(code(&typo), 3, "{out}");
    assert!(
        out.starts_with(
            "SNAPTREE UNKNOWN - 0 snapshot(s) on 0 machine(s), no machine matches \"pcc-typo\""
        ),
        "{out}"
    );
    assert!(
        out.contains("\nUNKNOWN: no machine matches \"pcc-typo\""),
        "{out}"
    );
    let j = env.demo(&["check", "pcc-typo", "--format", "json"]);
    assert_eq!(code(&j), 3);
    let v: Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["state"], "UNKNOWN");
    assert_eq!(v["machines"], 0);
}

/// `ls`, `report` and `prune` whose filter matches nothing: what they print is empty, and
/// stderr says why (exit 0: an empty selection is an answer, not a failure).
#[test]
fn ls_report_and_prune_say_when_their_filter_matches_nothing() {
    let env = Env::new();
    for args in [
        &["ls", "no-such"][..],
        &["ls", "no-such", "--json"],
        &["report", "no-such"],
        &["report", "no-such", "--all", "--format", "csv"],
        &["prune", "no-such", "--older-than", "1d", "--dry-run"],
        &["prune", "no-such", "--older-than", "1d", "--json"],
    ] {
        let o = env.demo(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("snaptree: no machine matches \"no-such\""),
            "{args:?}: {err}"
        );
        assert!(err.contains("pcc, ovh"), "the profiles, for a typo: {err}");
    }
    // A filter that matches: nothing said.
    let o = env.demo(&["ls", "web"]);
    assert_eq!(stderr(&o), "");
}

/// A profile that is read and holds no machine: a check of nothing is not OK.
#[test]
fn a_check_of_an_estate_without_machines_is_unknown() {
    let sim = OvhSim::start("[[profile]]\nname = \"ovh\"\nkind = \"ovh\"\n");
    let env = Env::new();
    let cfg = env.config("empty.toml", &ovh_profile("ovh", sim.sim.base_url()));
    let o = env.with(&cfg, &["check"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 3, "{out}{}", stderr(&o));
    assert!(
        out.starts_with("SNAPTREE UNKNOWN - 0 snapshot(s) on 0 machine(s), no machine found"),
        "{out}"
    );
    assert!(out.contains("\nUNKNOWN: no machine was found"), "{out}");
}

/// `config init` writes the commented template where the config belongs (its directory
/// made 0700, the file 0600), prints the path, and says what to do next; with the file
/// there it writes nothing and says where it is (exit 2), nor through a link planted in
/// its place.
#[test]
fn config_init_writes_the_template_once_and_never_over_a_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let path = env
        .dir
        .path()
        .join("config")
        .join("snaptree")
        .join("config.toml");
    let o = env.run(&["config", "init"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).trim_end(), path.to_str().unwrap());
    assert!(
        stderr(&o).contains("snaptree config check"),
        "{}",
        stderr(&o)
    );
    let written = std::fs::read_to_string(&path).expect("written");
    assert_eq!(written, snaptree::config::TEMPLATE);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    // All commented out: still no profile, and the file reads.
    let o = env.run(&["ls"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no profile is configured"),
        "{}",
        stderr(&o)
    );

    std::fs::write(&path, "# mine\n").unwrap();
    let o = env.run(&["config", "init"]);
    let line = one_sentence(&o, 2);
    assert!(
        line.contains("already exists") && line.contains(path.to_str().unwrap()),
        "{line}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");

    // A file system that takes nothing (`prlimit --fsize=0`): the write fails, it says so
    // (exit 1), and no empty file is left to be found "already there" the next time.
    let full = env.dir.path().join("full.toml");
    let c = env.command(&["--config", full.to_str().unwrap(), "config", "init"]);
    let program = c.get_program().to_owned();
    let args: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
    let o = Command::new("prlimit")
        .arg("--fsize=0")
        .arg("--")
        .arg(program)
        .args(args)
        .envs(
            c.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .current_dir(env.dir.path().join("cwd"))
        .stdin(Stdio::null())
        .output()
        .expect("run snaptree under prlimit");
    let line = one_sentence(&o, 1);
    assert!(line.contains("cannot write"), "{line}");
    assert!(!full.exists(), "no empty file left");

    let planted = env.dir.path().join("planted.toml");
    let target = env.dir.path().join("elsewhere.toml");
    std::os::unix::fs::symlink(&target, &planted).unwrap();
    let o = env.with(&planted, &["config", "init"]);
    let line = one_sentence(&o, 2);
    assert!(line.contains("already exists"), "{line}");
    assert!(!target.exists(), "nothing written through the link");
}

/// First run: no config file, no govc or OVH variables. A command that needs a profile
/// says where the config goes and what else to try, exit 2; `check` stays a monitoring
/// check (UNKNOWN, 3) and says the same.
#[test]
fn with_no_profile_configured_commands_say_where_the_config_goes_and_exit_2() {
    let env = Env::new();
    let missing = env
        .dir
        .path()
        .join("config")
        .join("snaptree")
        .join("config.toml");
    for args in [
        &["ls"][..],
        &["ls", "--json"],
        &["report"],
        &["prune", "--older-than", "1d", "--dry-run"],
        &["tree", "web-01"],
        &["take", "web-01"],
        &["config", "check"],
        &["--profile", "pcc", "ls"],
    ] {
        let o = env.run(args);
        let line = one_sentence(&o, 2);
        assert_eq!(stdout(&o), "", "{args:?}: nothing on stdout");
        for part in [
            "no profile is configured",
            missing.to_str().unwrap(),
            "`snaptree config init`",
            "snaptree demo",
            "snaptree login",
            "README",
        ] {
            assert!(line.contains(part), "{args:?}: {part} in {line}");
        }
    }
    let o = env.run(&["check"]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.starts_with("SNAPTREE UNKNOWN - "), "{out}");
    assert!(out.contains("snaptree demo"), "{out}");
}

/// A profile whose endpoint does not listen, beside one that is read: every `--json`
/// document names it in `errors`, and stderr still says it.
#[test]
fn json_documents_carry_the_errors_of_an_unreachable_profile() {
    let sim = OvhSim::start(snaptree::sim::scenario::DEMO);
    let env = Env::new();
    let (_held, closed) = crate::common::closed_port();
    let cfg = env.config(
        "two.toml",
        &format!(
            "{}{}",
            ovh_profile("up", sim.sim.base_url()),
            ovh_profile("down", &format!("http://{closed}/1.0"))
        ),
    );
    let the_error = |v: &Value, args: &[&str]| {
        let errors = v["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{args:?}: {v}"));
        assert_eq!(errors.len(), 1, "{args:?}: {v}");
        assert_eq!(errors[0]["profile"], "down", "{args:?}: {v}");
        let e = errors[0]["error"].as_str().unwrap();
        assert!(e.contains("cannot reach the back end"), "{args:?}: {e}");
    };
    for args in [
        &["ls", "--json"][..],
        &["report", "--json"],
        &["report", "--format", "json", "--all"],
        &["prune", "--older-than", "1d", "--dry-run", "--json"],
        // Lax limits: the unreadable profile's UNKNOWN is the worst state.
        &[
            "check",
            "--json",
            "--warn-age",
            "1000d",
            "--crit-age",
            "2000d",
        ],
        &["config", "check", "--json"],
    ] {
        let o = env.with(&cfg, args);
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)));
        the_error(&v, args);
        let want = if args[0] == "check" { 3 } else { 1 };
        assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
        if args[0] != "check" {
            assert!(stderr(&o).contains("down"), "{args:?}: {}", stderr(&o));
        }
    }
    let ls = json_any(&env.with(&cfg, &["ls", "--json"]));
    assert_eq!(names(&ls).len(), 4, "the readable profile's machines: {ls}");
    let checked = json_any(&env.with(&cfg, &["config", "check", "--json"]));
    let profiles = checked["profiles"].as_array().expect("profiles");
    assert_eq!(profiles.len(), 2, "{checked}");
    let up = profiles.iter().find(|p| p["name"] == "up").unwrap();
    assert_eq!(up["kind"], "ovh");
    assert_eq!(up["ok"], true);
    assert!(up["error"].is_null(), "{up}");
    assert!(
        up["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "clock delta"),
        "{up}"
    );
    let down = profiles.iter().find(|p| p["name"] == "down").unwrap();
    assert_eq!(down["ok"], false);
    assert!(
        down["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach the back end"),
        "{down}"
    );
}

/// Standard output as one JSON document, whatever the exit code.
fn json_any(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// On the demo every profile is read: `errors` is there, and empty.
#[test]
fn json_documents_of_the_demo_have_an_empty_errors_list() {
    let env = Env::new();
    for args in [
        &["ls", "--json"][..],
        &["report", "--json"],
        &["prune", "--older-than", "1d", "--dry-run", "--json"],
        &["config", "check", "--json"],
    ] {
        let v = json(&env.demo(args));
        assert_eq!(v["errors"], Value::Array(Vec::new()), "{args:?}: {v}");
    }
    let o = env.demo(&["check", "--json"]);
    let v = json_any(&o);
    assert_eq!(v["errors"], Value::Array(Vec::new()), "{v}");
    let checked = json(&env.demo(&["config", "check", "--json"]));
    // The demo reads no config file, and says so rather than name one it did not read.
    assert_eq!(checked["config_source"], "not read: the demo", "{checked}");
    let profiles = checked["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 3);
    assert!(profiles.iter().all(|p| p["ok"] == true), "{checked}");
    let pcc = profiles.iter().find(|p| p["name"] == "pcc").unwrap();
    assert_eq!(pcc["kind"], "vsphere");
    assert!(
        pcc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "api version"),
        "{pcc}"
    );
}

/// The TUI's `/` is the same rule: a profile's name and an address under it filter too.
#[test]
fn the_tui_filter_matches_profile_addresses_as_the_commands_do() {
    let visible = |s: &snaptree::app::AppState| -> Vec<String> {
        s.nav
            .rows
            .iter()
            .filter_map(|r| match r {
                Row::Machine(i) => Some(s.machines()[*i].name.clone()),
                _ => None,
            })
            .collect()
    };
    let mut s = state();
    key(&mut s, '/');
    type_text(&mut s, "pcc/web-0");
    assert_eq!(visible(&s), ["web-01", "web-02"]);
    press(&mut s, KeyCode::Esc);
    key(&mut s, '/');
    type_text(&mut s, "ovh/os-gra7");
    assert_eq!(visible(&s).len(), 2);
}

/// A configuration snaptree cannot start on (a VPS profile without its consumer key, a bad
/// key) is a monitoring answer too: `check` says UNKNOWN with the reason (exit 3), in its
/// format, never an empty stdout with exit 2 (which a monitoring system reads as CRITICAL).
#[test]
fn a_check_on_a_configuration_that_cannot_start_is_unknown_and_says_why() {
    let env = Env::new();
    let config = env.config(
        "broken.toml",
        "[profiles.ovh]\nkind = \"ovh\"\nendpoint = \"ovh-eu\"\n\
         application_key = \"k\"\napplication_secret = \"s\"\n",
    );
    let plain = env.with(&config, &["check"]);
    assert_eq!(code(&plain), 3, "{}{}", stdout(&plain), stderr(&plain));
    let line = stdout(&plain);
    assert!(
        line.starts_with("SNAPTREE UNKNOWN - ") && line.contains("consumer_key is missing"),
        "{line}"
    );
    let doc = env.with(&config, &["check", "--json"]);
    assert_eq!(code(&doc), 3, "{}", stderr(&doc));
    let v: Value = serde_json::from_str(&stdout(&doc)).expect("one JSON document");
    assert_eq!(v["state"], "UNKNOWN", "{v}");
    assert!(
        v["errors"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("consumer_key is missing")),
        "{v}"
    );
    // Metrics: nothing a textfile collector would take for a reading.
    let prom = env.with(&config, &["check", "--format", "prometheus"]);
    assert_eq!(code(&prom), 3, "{}", stderr(&prom));
    assert!(stdout(&prom).is_empty(), "{}", stdout(&prom));
    assert!(stderr(&prom).contains("consumer_key is missing"));
}
