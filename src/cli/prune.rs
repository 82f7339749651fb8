//! `snaptree prune`: delete many snapshots across machines by policy (docs/cleanup.md,
//! "Prune"). The selection and its order are `model::cleanup`'s; the confirmation is the
//! batch's `model::change` description; each step runs through the engine with its
//! re-check.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use serde_json::json;

use super::setup::Session;
use super::{
    Cli, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_USAGE, Failure, confirm,
    load_by_profile, tell_no_match,
};
use crate::config::ConfirmMode;
use crate::engine::{Event, Job, RunError, RunUpdate, Scheduler};
use crate::model::change::{self, Step};
use crate::model::cleanup::{Criteria, Plan, Protect, plan};
use crate::model::filter::Filter;
use crate::model::health::{format_age, human_size};
use crate::model::{Machine, TaskState, parse_duration};
use crate::{say, say_json, tell};

/// The command line's words for a policy.
pub struct Args<'a> {
    /// Only machines whose name, id, path or profile contains this, ignoring case (also
    /// `PROFILE/NAME`, `PROFILE/ID`, `PROFILE/PATH`).
    pub filter: Option<&'a str>,
    /// `--older-than AGE`.
    pub older_than: Option<&'a str>,
    /// `--name GLOB`, repeatable.
    pub names: &'a [String],
    /// `--expired`.
    pub expired: bool,
    /// `--keep-last N`.
    pub keep_last: Option<usize>,
    /// `--keep-daily N`, `--keep-weekly N`, `--keep-monthly N`.
    pub tiers: crate::model::retention::Tiers,
    /// `--include-protected`.
    pub include_protected: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--allow-low-space`: run a machine whose datastore lacks the room to merge.
    pub allow_low_space: bool,
}

/// What the run did, step by step.
#[derive(Default)]
struct Tally {
    done: usize,
    failed: usize,
    skipped: usize,
    freed: u64,
    /// Whether any selected snapshot had a size (a VPS's or a Proxmox guest's has none).
    sized: bool,
    running: usize,
    failures: Vec<String>,
}

impl Tally {
    /// The end of step `st`, which frees `size` when it succeeds.
    fn end(&mut self, st: &Step, result: Result<crate::model::TaskStatus, RunError>, size: u64) {
        let what = format!(
            "{}/{} {}",
            st.profile,
            st.machine,
            st.op.snapshot().unwrap_or_default()
        );
        match result {
            Ok(status) if status.state == TaskState::Success => {
                self.done += 1;
                self.freed += size;
            }
            Ok(status) => {
                self.failed += 1;
                self.failures.push(format!(
                    "{what}: {}: {}",
                    status.state.as_str(),
                    status.message.unwrap_or_else(|| "no reason given".into())
                ));
            }
            Err(RunError::Skipped(_)) => self.skipped += 1,
            Err(e) => {
                self.failed += 1;
                let kind = match e {
                    RunError::Refused(_) | RunError::Unrecorded(_) => "refused",
                    RunError::Unknown(_) => "outcome unknown",
                    _ => "failed",
                };
                self.failures.push(format!("{what}: {kind}: {e}"));
            }
        }
    }
}

/// The plan's criteria from the command line (refused when they select nothing sensible).
fn criteria(args: &Args<'_>) -> Result<Criteria, Failure> {
    let older_than = args
        .older_than
        .map(|a| {
            parse_duration(a)
                .map_err(|m| Failure::new(EXIT_USAGE, format!("--older-than {a}: {m}")))
        })
        .transpose()?;
    let criteria = Criteria {
        older_than,
        names: args.names.to_vec(),
        expired: args.expired,
        keep_last: args.keep_last,
        tiers: args.tiers,
        include_protected: args.include_protected,
    };
    criteria
        .check()
        .map_err(|m| Failure::new(EXIT_USAGE, format!("prune: {m}")))?;
    Ok(criteria)
}

/// The plan as one change, in the words its confirmation uses (`describe_batch`).
fn describe(
    s: &Session,
    shown: &[&Machine],
    p: &Plan,
    now: chrono::DateTime<chrono::Utc>,
    allow_low_space: bool,
) -> Result<change::Change, Failure> {
    let by_id: HashMap<(&str, &str), &Machine> = shown
        .iter()
        .map(|m| ((m.profile.as_str(), m.id.as_str()), *m))
        .collect();
    let items: Vec<(&Machine, Vec<String>)> = p
        .machines
        .iter()
        .filter_map(|mp| {
            let m = by_id.get(&(mp.profile.as_str(), mp.machine_id.as_str()))?;
            Some((*m, mp.snapshots.iter().map(|s| s.id.clone()).collect()))
        })
        .collect();
    let protect = crate::model::cleanup::Protect::new(&s.config.cleanup.protect);
    let ctx = change::Context {
        allow_low_space,
        now,
        type_to_confirm: s.confirm == ConfirmMode::TypeName,
        protect: &protect,
    };
    change::describe_batch(&items, ctx).map_err(|r| Failure::new(EXIT_USAGE, r.0))
}

/// Plan, show, confirm, run, summarise.
pub async fn run(cli: &Cli, s: &Session, args: &Args<'_>) -> Result<(), Failure> {
    let criteria = criteria(args)?;
    let (machines, errors) = load_by_profile(&s.engine).await;
    let rule = Filter::new(args.filter.unwrap_or(""));
    let shown: Vec<&Machine> = machines.iter().filter(|m| rule.matches(m)).collect();
    let now = chrono::Utc::now();
    let p = plan(
        &shown,
        &criteria,
        &Protect::new(&s.config.cleanup.protect),
        now,
    );
    let mut unreadable = 0;
    for why in shown.iter().filter_map(|m| m.unreadable_sentence()) {
        tell!("snaptree: {why}; its snapshots are not in the plan");
        unreadable += 1;
    }
    for (profile, e) in &errors {
        tell!("snaptree: profile {profile}: {e}; its machines are not in the plan");
    }
    tell_no_match(s, args.filter, shown.len(), &errors);
    if !cli.json {
        print_plan(&p, args.allow_low_space);
    }
    let unread = || {
        (!errors.is_empty() || unreadable > 0).then(|| {
            Failure::new(
                EXIT_FAILED,
                format!(
                    "prune: {} profile(s) or machine(s) could not be read",
                    errors.len() + unreadable
                ),
            )
        })
    };
    if p.machines.is_empty() || args.dry_run {
        if cli.json {
            say_json!(plan_json(&p, &errors));
        }
        return unread().map_or(Ok(()), Err);
    }
    for m in &p.machines {
        let op = crate::model::Operation::Delete {
            snapshot: String::new(),
            children: false,
        };
        s.engine
            .ensure_writable(&m.profile, &op)
            .map_err(|e| Failure::new(EXIT_REFUSED, e.to_string()))?;
    }
    let batch = describe(s, &shown, &p, now, args.allow_low_space)?;
    if !cli.yes {
        confirm(&batch)?;
    }
    let tally = Mutex::new(Tally {
        sized: p.size_bytes().is_some(),
        ..Tally::default()
    });
    // A machine short of room to merge is not run: its steps count as skipped, with why.
    if !args.allow_low_space {
        let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
        for m in &p.machines {
            if let Some(why) = m.short_of_room() {
                t.skipped += m.snapshots.len();
                t.failures
                    .push(format!("{}/{}: skipped: {why}", m.profile, m.machine));
            }
        }
    }
    // Ctrl-C stops the plan, never a task: one already started goes on on the server, and
    // the audit log holds its "sent"/"started" lines.
    tokio::select! {
        () = execute(s, &batch.steps, &p, &tally) => {}
        _ = tokio::signal::ctrl_c() => {
            let t = tally.lock().unwrap_or_else(|e| e.into_inner());
            tell!("");
            return Err(Failure::new(
                EXIT_INTERRUPTED,
                format!(
                    "prune interrupted after {} done, {} failed; the {} task(s) running go on on the server (snaptree does not cancel them), the rest were not started",
                    t.done, t.failed, t.running
                ),
            ));
        }
    }
    let t = tally.lock().unwrap_or_else(|e| e.into_inner());
    if cli.json {
        let mut v = plan_json(&p, &errors);
        v["result"] = json!({
            "done": t.done,
            "failed": t.failed,
            "skipped": t.skipped,
            "size_bytes_freed": t.sized.then_some(t.freed),
        });
        say_json!(v);
    }
    for f in &t.failures {
        tell!("  {f}");
    }
    tell!(
        "prune ended: {} done, {} failed, {} skipped; {}",
        t.done,
        t.failed,
        t.skipped,
        crate::model::cleanup::freed_words(t.sized.then_some(t.freed))
    );
    if t.failed + t.skipped > 0 {
        return Err(Failure::new(
            EXIT_FAILED,
            format!(
                "prune: {} of {} step(s) did not succeed",
                t.failed + t.skipped,
                p.snapshots()
            ),
        ));
    }
    unread().map_or(Ok(()), Err)
}

/// Run the steps through the engine's scheduler (`engine::scheduler`): one machine's in
/// order, machines in parallel up to `[cleanup] concurrency` per profile; a step that does
/// not succeed skips its machine's next ones. Dropped (Ctrl-C), it starts nothing more.
async fn execute(s: &Session, steps: &[Step], p: &Plan, tally: &Mutex<Tally>) {
    // Every selected snapshot: those of a machine skipped for room are counted already.
    let total = p.snapshots();
    let tty = std::io::stderr().is_terminal();
    // Looked up once per step: a plan can hold tens of thousands.
    let sizes: HashMap<(&str, &str, &str), u64> = p
        .machines
        .iter()
        .flat_map(|m| {
            m.snapshots.iter().map(move |x| {
                (
                    (m.profile.as_str(), m.machine_id.as_str(), x.id.as_str()),
                    x.size_bytes.unwrap_or(0),
                )
            })
        })
        .collect();
    let size_of = |st: &Step| {
        let id = st.op.snapshot().unwrap_or_default();
        sizes
            .get(&(st.profile.as_str(), st.machine_id.as_str(), id))
            .copied()
            .unwrap_or(0)
    };
    let progress = |t: &Tally| {
        let line = crate::model::cleanup::progress_line(
            t.done + t.failed + t.skipped,
            total,
            t.running,
            t.sized.then_some(t.freed),
        );
        let mut err = std::io::stderr();
        if tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
    };
    let (events, mut ended) = tokio::sync::mpsc::unbounded_channel();
    let mut scheduler = Scheduler::new(s.engine.clone(), events, false);
    // The steps in machine order (as planned); each one's request is its place.
    let mut left = 0usize;
    for (request, st) in (0u64..).zip(steps) {
        let Some(index) = s.engine.profile_index(&st.profile) else {
            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
            t.failed += 1;
            t.failures
                .push(format!("{}/{}: no such profile", st.profile, st.machine));
            continue;
        };
        scheduler.push(
            index,
            Job {
                request,
                machine_id: st.machine_id.clone(),
                op: st.op.clone(),
                expected: st.expected.clone(),
                plan: Some(0),
            },
        );
        left += 1;
    }
    let mut started = HashSet::new();
    while left > 0 {
        let Some(event) = ended.recv().await else {
            break;
        };
        let (request, result) = match event {
            Event::Task { request, update } => {
                if !matches!(update, RunUpdate::Queued) && started.insert(request) {
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    t.running += 1;
                }
                continue;
            }
            Event::TaskDone { request, result } => (request, result),
            _ => continue,
        };
        left -= 1;
        let Some(st) = usize::try_from(request).ok().and_then(|i| steps.get(i)) else {
            continue;
        };
        let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
        if started.remove(&request) {
            t.running -= 1;
        }
        t.end(st, result, size_of(st));
        progress(&t);
    }
    if tty {
        tell!("");
    }
}

/// The plan as a table on stdout: per machine, each snapshot with its reason; totals and
/// what was left out.
fn print_plan(p: &Plan, allow_low_space: bool) {
    for m in &p.machines {
        let sized = m.snapshots.iter().any(|s| s.size_bytes.is_some());
        let size: u64 = m.snapshots.iter().filter_map(|s| s.size_bytes).sum();
        say!(
            "{}/{} ({}): {} snapshot(s), {}",
            m.profile,
            m.machine,
            m.machine_id,
            m.snapshots.len(),
            crate::model::health::size_words(sized.then_some(size))
        );
        if let Some(r) = m.room.first() {
            let verdict = match (r.enough, allow_low_space) {
                (true, _) => "",
                (false, false) => " — this machine will be skipped (--allow-low-space runs it)",
                (false, true) => " — run anyway (--allow-low-space)",
            };
            say!("  room: {}{verdict}", r.sentence());
        }
        for s in &m.snapshots {
            say!(
                "  {:<14} {:<40} {:>5} {:>10}  {}",
                s.id,
                s.path,
                format_age(s.age),
                s.size_bytes.map(human_size).unwrap_or_else(|| "-".into()),
                s.reason
            );
        }
    }
    for x in &p.protected {
        say!("left out: {}/{} {}: {}", x.profile, x.machine, x.id, x.why);
    }
    let mut left = Vec::new();
    if !p.protected.is_empty() {
        left.push(format!(
            "{} protected (--include-protected to select them)",
            p.protected.len()
        ));
    }
    // Kept ones are counted by what kept them (one line each would drown the plan).
    let mut kept: Vec<(&str, usize)> = Vec::new();
    for k in &p.kept {
        let by = k.kept_by.unwrap_or("a keep");
        match kept.iter_mut().find(|(b, _)| *b == by) {
            Some((_, n)) => *n += 1,
            None => kept.push((by, 1)),
        }
    }
    for (by, n) in kept {
        left.push(format!("{n} kept by {by}"));
    }
    say!(
        "{} snapshot(s) on {} machine(s), {}{}",
        p.snapshots(),
        p.machines.len(),
        crate::model::health::size_words(p.size_bytes()),
        if left.is_empty() {
            String::new()
        } else {
            format!("; left out: {}", left.join(", "))
        }
    );
}

/// The JSON of a plan (docs/cleanup.md, "JSON"), with the profiles that could not be read
/// (`errors`).
fn plan_json(p: &Plan, errors: &[(String, String)]) -> serde_json::Value {
    let machines: Vec<serde_json::Value> = p
        .machines
        .iter()
        .map(|m| {
            json!({
                "profile": m.profile,
                "machine": m.machine,
                "machine_id": m.machine_id,
                "room": m.room.first(),
                "snapshots": m.snapshots.iter().map(|s| json!({
                    "id": s.id,
                    "path": s.path,
                    "created": s.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "size_bytes": s.size_bytes,
                    "reason": s.reason.to_string(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "plan": machines,
        "total": {
            "snapshots": p.snapshots(),
            "machines": p.machines.len(),
            "size_bytes": p.size_bytes(),
        },
        "left_out": p.protected.iter().chain(&p.kept).map(|x| json!({
            "profile": x.profile,
            "machine": x.machine,
            "machine_id": x.machine_id,
            "id": x.id,
            "name": x.name,
            "reason": x.why,
        })).collect::<Vec<_>>(),
        "errors": super::output::errors_json(errors),
    })
}
