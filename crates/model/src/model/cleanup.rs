//! Cleanup (docs/cleanup.md): markers in descriptions, protection, and the plan a policy selects.
//! Pure: the CLI's `prune` and the TUI's batch delete read the same answers.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use std::sync::Arc;

use super::{Machine, Snapshot};

/// The pin marker.
pub const KEEP: &str = "[keep]";

/// The expiry a description carries (`[expires 2026-12-04T10:00:00Z]` anywhere in it); the
/// latest one when several were written, so a marker never makes a snapshot expire sooner
/// than another marker says.
pub fn expires(description: &str) -> Option<DateTime<Utc>> {
    markers(description)
        .filter_map(|(_, inner)| inner.strip_prefix("expires "))
        .filter_map(|t| marker_time(t.trim()))
        .max()
}

/// An expiry marker's time: RFC 3339 (its `t` and `z` in either case), or a date alone
/// (`2026-12-04`, written by hand), that day's start in UTC.
fn marker_time(t: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(&t.to_ascii_uppercase()) {
        return Some(at.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// True when the description carries `[keep]` (any case), by snaptree or by hand.
pub fn is_pinned(description: &str) -> bool {
    markers(description).any(|(_, inner)| inner.eq_ignore_ascii_case("keep"))
}

/// The description with `[expires T]` at its end (replacing any expiry marker already in
/// it); the rest is kept byte for byte.
pub fn with_expires(description: &str, at: DateTime<Utc>) -> String {
    let kept = without(description, |inner| inner.starts_with("expires "));
    append(
        &kept,
        &format!(
            "[expires {}]",
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    )
}

/// When a snapshot taken at `now` with `--expires AGE` (or the dialog's *expires*) expires:
/// AGE is a duration longer than nothing (an expiry of nothing would make it expired as it
/// is taken, for the next `prune --expired`).
pub fn expiry_after(now: DateTime<Utc>, age: &str) -> Result<DateTime<Utc>, String> {
    let d = super::parse_duration(age)?;
    if d <= chrono::Duration::zero() {
        return Err(format!(
            "\"{age}\" would expire the snapshot as it is taken: give a duration longer than 0"
        ));
    }
    now.checked_add_signed(d)
        .ok_or_else(|| format!("\"{age}\" reaches past the calendar"))
}

/// The description pinned (`[keep]` appended unless already there) or unpinned (every
/// `[keep]` removed); the rest is kept byte for byte.
pub fn with_pin(description: &str, pinned: bool) -> String {
    if pinned {
        if is_pinned(description) {
            description.to_string()
        } else {
            append(description, KEEP)
        }
    } else {
        without(description, |inner| inner.eq_ignore_ascii_case("keep"))
    }
}

/// The rename that pins (`[keep]` added) or unpins (removed) `s`, or None when it already
/// is as asked. A VPS snapshot's name is its description, so both back ends take this.
pub fn pin_operation(s: &Snapshot, pin: bool) -> Option<super::Operation> {
    if is_pinned(&s.description) == pin {
        return None;
    }
    Some(super::Operation::Rename {
        snapshot: s.id.clone(),
        name: None,
        description: Some(with_pin(&s.description, pin)),
    })
}

/// Every `[…]` in `text`: its byte range and its inner text.
fn markers(text: &str) -> impl Iterator<Item = (std::ops::Range<usize>, &str)> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let start = from + text.get(from..)?.find('[')?;
        let end = start + text[start..].find(']')?;
        from = end + 1;
        Some((start..end + 1, &text[start + 1..end]))
    })
}

/// `text` without the markers whose inner text matches, each with one space before it
/// when it had one (so "a [keep]" becomes "a", and "a [keep] b" becomes "a b").
fn without(text: &str, drop: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, inner) in markers(text) {
        if !drop(inner) {
            continue;
        }
        let mut start = range.start;
        // The space before goes with the marker, unless a word follows it at once (`y
        // [keep]z` keeps `y z`, not `yz`).
        let word_after = text[range.end..]
            .chars()
            .next()
            .is_some_and(|c| !c.is_whitespace());
        if text[..start].ends_with(' ') && !word_after {
            start -= 1;
        } else if text[range.end..].starts_with(' ') && start == 0 {
            // A leading marker takes the space after it instead.
            out.push_str(&text[at..start]);
            at = range.end + 1;
            continue;
        }
        out.push_str(&text[at..start]);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// `marker` at the end of `text`, after one space when `text` has words already.
fn append(text: &str, marker: &str) -> String {
    if text.is_empty() || text.ends_with(char::is_whitespace) {
        format!("{text}{marker}")
    } else {
        format!("{text} {marker}")
    }
}

/// A shell-style glob (`*` any run, `?` one character), matched ignoring case: backup
/// tools' names are written in capitals by some and typed in lower case by people.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    Glob::new(pattern).matches(text)
}

/// A glob prepared once for many matches (a plan matches every snapshot of an estate).
#[derive(Clone, Debug)]
pub struct Glob {
    /// As written.
    pub pattern: String,
    lower: Vec<char>,
    ascii: Option<Vec<u8>>,
}

impl Glob {
    /// Prepare `pattern`.
    pub fn new(pattern: &str) -> Glob {
        let lower: Vec<char> = pattern.to_lowercase().chars().collect();
        let ascii = pattern
            .is_ascii()
            .then(|| pattern.bytes().map(|b| b.to_ascii_lowercase()).collect());
        Glob {
            pattern: pattern.to_string(),
            lower,
            ascii,
        }
    }

    /// True when `text` matches, ignoring case. ASCII text against an ASCII pattern is
    /// matched without allocating.
    pub fn matches(&self, text: &str) -> bool {
        match &self.ascii {
            Some(p) if text.is_ascii() => {
                wildcard(p, text.as_bytes(), |a, b| *a == b.to_ascii_lowercase())
            }
            _ => {
                let t: Vec<char> = text.to_lowercase().chars().collect();
                wildcard(&self.lower, &t, |a, b| *a == b)
            }
        }
    }
}

/// Wildcard matching with one backtrack point for the last `*` (linear in practice).
fn wildcard<P: Wild, T: Copy>(p: &[P], t: &[T], eq: impl Fn(&P, T) -> bool) -> bool {
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi].is_one() || (!p[pi].is_any() && eq(&p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi].is_any() {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(Wild::is_any)
}

/// The two wildcards, for bytes and for characters.
trait Wild {
    fn is_any(&self) -> bool;
    fn is_one(&self) -> bool;
}

impl Wild for u8 {
    fn is_any(&self) -> bool {
        *self == b'*'
    }
    fn is_one(&self) -> bool {
        *self == b'?'
    }
}

impl Wild for char {
    fn is_any(&self) -> bool {
        *self == '*'
    }
    fn is_one(&self) -> bool {
        *self == '?'
    }
}

/// The `[cleanup] protect` globs, prepared once (the TUI asks for every tree row it draws).
#[derive(Clone, Debug, Default)]
pub struct Protect {
    globs: Vec<Glob>,
}

impl Protect {
    /// Prepare the globs of `[cleanup] protect`.
    pub fn new(patterns: &[String]) -> Protect {
        Protect {
            globs: patterns.iter().map(|g| Glob::new(g)).collect(),
        }
    }
}

/// Why `s` is protected from every policy, if it is: pinned, or its name or description
/// matches one of the `[cleanup] protect` globs.
pub fn protection(s: &Snapshot, protect: &Protect) -> Option<String> {
    if is_pinned(&s.description) {
        return Some("pinned ([keep])".into());
    }
    protect
        .globs
        .iter()
        .find(|g| g.matches(&s.name) || g.matches(&s.description))
        .map(|g| format!("matches the protect glob \"{}\"", g.pattern))
}

/// What a policy selects (docs/cleanup.md, "Selection"): criteria combined with AND.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Criteria {
    /// Created before now minus this.
    pub older_than: Option<Duration>,
    /// Name globs; any match.
    pub names: Vec<String>,
    /// Only expired snapshots (`[expires T]` in the past).
    pub expired: bool,
    /// Per machine, the N newest are never selected.
    pub keep_last: Option<usize>,
    /// Per machine, the newest of each of the last N days, weeks, months are never
    /// selected (`retention`). Alone, they select what no tier keeps.
    pub tiers: super::retention::Tiers,
    /// Protected snapshots may be selected too.
    pub include_protected: bool,
}

impl Criteria {
    /// Refused unless it names what to select: `prune` with no criterion would be "delete
    /// everything".
    pub fn check(&self) -> Result<(), String> {
        if self.older_than.is_none() && self.names.is_empty() && !self.expired && !self.tiers.any()
        {
            Err("say what to delete: at least one of --older-than AGE, --name GLOB, --expired or a --keep-daily/--keep-weekly/--keep-monthly tier (a prune without one would select every snapshot)".into())
        } else {
            Ok(())
        }
    }

    /// True when `s` meets every criterion (nothing allocated: it runs on every snapshot).
    fn selects(&self, s: &Snapshot, names: &[(Glob, Arc<str>)], now: DateTime<Utc>) -> bool {
        self.older_than.is_none_or(|age| s.created < now - age)
            && (names.is_empty() || names.iter().any(|(g, _)| g.matches(&s.name)))
            && (!self.expired || expires(&s.description).is_some_and(|t| t <= now))
    }

    /// Why `s` is selected (only for the snapshots that are).
    /// `untiered`: the tiers as the reason names them (made once per plan), when used.
    fn reason(
        &self,
        s: &Snapshot,
        names: &[(Glob, Arc<str>)],
        untiered: Option<&Arc<str>>,
        now: DateTime<Utc>,
    ) -> Reason {
        Reason {
            age: self.older_than.map(|limit| (now - s.created, limit)),
            name: names
                .iter()
                .find(|(g, _)| g.matches(&s.name))
                .map(|(_, p)| p.clone()),
            expired: if self.expired {
                expires(&s.description)
            } else {
                None
            },
            untiered: untiered.cloned(),
        }
    }
}

/// Why a snapshot was selected: what each criterion saw. Written out only when shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// Its age, and the `--older-than` it is over.
    pub age: Option<(Duration, Duration)>,
    /// The `--name` glob it matches.
    pub name: Option<Arc<str>>,
    /// When its `[expires …]` marker passed.
    pub expired: Option<DateTime<Utc>>,
    /// The retention tiers, none of which keeps it.
    pub untiered: Option<Arc<str>>,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sep = "";
        if let Some((age, limit)) = self.age {
            write!(
                f,
                "{} old (over {})",
                super::health::format_age(age),
                super::health::format_age(limit)
            )?;
            sep = ", ";
        }
        if let Some(g) = &self.name {
            write!(f, "{sep}name matches \"{g}\"")?;
            sep = ", ";
        }
        if let Some(at) = self.expired {
            write!(
                f,
                "{sep}expired {}",
                at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )?;
            sep = ", ";
        }
        if let Some(tiers) = &self.untiered {
            write!(f, "{sep}no tier keeps it ({tiers})")?;
        }
        Ok(())
    }
}

/// The words of the palette's `mark where …` (the same criteria as `prune`):
/// `older-than 14d`, `name 'pre-*'` (repeatable), `expired`, `keep-last 2`, `keep-daily 7`,
/// `keep-weekly 4`, `keep-monthly 6`, `include-protected`, in any order.
pub fn parse_criteria(text: &str) -> Result<Criteria, String> {
    let mut words = text.split_whitespace();
    let mut c = Criteria::default();
    let unquote = |w: &str| w.trim_matches(|q| q == '\'' || q == '"').to_string();
    while let Some(w) = words.next() {
        let mut value = |what: &str| {
            words
                .next()
                .map(unquote)
                .ok_or_else(|| format!("{w} needs {what}"))
        };
        match w {
            "older-than" => {
                let age = value("an age, e.g. 14d")?;
                c.older_than = Some(super::parse_duration(&age)?);
            }
            "name" => c.names.push(value("a glob, e.g. 'pre-*'")?),
            "keep-last" | "keep-daily" | "keep-weekly" | "keep-monthly" => {
                let n = value("a number")?;
                let n = Some(n.parse().map_err(|_| format!("{w} {n}: not a number"))?);
                match w {
                    "keep-last" => c.keep_last = n,
                    "keep-daily" => c.tiers.daily = n,
                    "keep-weekly" => c.tiers.weekly = n,
                    _ => c.tiers.monthly = n,
                }
            }
            "expired" => c.expired = true,
            "include-protected" => c.include_protected = true,
            other => {
                return Err(format!(
                    "unknown criterion \"{other}\" (older-than AGE, name GLOB, expired, keep-last N, keep-daily N, keep-weekly N, keep-monthly N, include-protected)"
                ));
            }
        }
    }
    Ok(c)
}

/// One selected snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// Snapshot id.
    pub id: String,
    /// Name path from the root (`base/pre-upgrade`).
    pub path: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// How old it was when the plan was made, on its back end's clock.
    pub age: chrono::Duration,
    /// Size, when known.
    pub size_bytes: Option<u64>,
    /// Why it was selected.
    pub reason: Reason,
}

/// The selected snapshots of one machine, in the order they will be deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachinePlan {
    /// Profile.
    pub profile: String,
    /// Machine name.
    pub machine: String,
    /// Machine id.
    pub machine_id: String,
    /// Deepest first (as `model::plan::deletion_order` orders them): none is re-parented before its turn.
    pub snapshots: Vec<Selected>,
    /// The room merging them needs on each datastore against its free space, tightest
    /// first (`model::storage::room`); empty where nothing is known.
    pub room: Vec<super::storage::Room>,
}

impl MachinePlan {
    /// Why this machine must not run, if a datastore lacks the room to merge its deltas.
    pub fn short_of_room(&self) -> Option<String> {
        super::storage::shortage(&self.room)
    }
}

/// How far a cleanup run is, as `prune` and the TUI's batch delete say it:
/// "12 of 40 · 3 machine(s) running · 18.2 GiB freed" (`freed`: `None` where no snapshot
/// of the run had a size, as a VPS's or a Proxmox guest's).
pub fn progress_line(ended: usize, total: usize, running: usize, freed: Option<u64>) -> String {
    format!(
        "{ended} of {total} · {running} machine(s) running · {}",
        freed_words(freed)
    )
}

/// What a run freed, said: "18.2 GiB freed", or, where the back end gave no size, that it
/// is not known (never "0 B").
pub fn freed_words(freed: Option<u64>) -> String {
    match freed {
        Some(bytes) => format!("{} freed", super::health::human_size(bytes)),
        None => "space freed not known".into(),
    }
}

/// A snapshot a policy would have selected, left out: protected, or kept by `--keep-last`
/// or a retention tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    /// Profile.
    pub profile: String,
    /// Machine name.
    pub machine: String,
    /// Machine id.
    pub machine_id: String,
    /// Snapshot id.
    pub id: String,
    /// Snapshot name.
    pub name: String,
    /// Why it is left out.
    pub why: String,
    /// The flag that kept it (`--keep-last`, `--keep-daily`, …; several tiers: the
    /// first); none for a protected one.
    pub kept_by: Option<&'static str>,
}

/// What a policy selects across machines, and what it left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Machines with something selected, in the order given.
    pub machines: Vec<MachinePlan>,
    /// Snapshots that met the criteria but are protected (left out).
    pub protected: Vec<LeftOut>,
    /// Snapshots that met the criteria but are kept: among a machine's `keep_last`
    /// newest, or the newest of a period a retention tier keeps.
    pub kept: Vec<LeftOut>,
}

impl Plan {
    /// Snapshots selected.
    pub fn snapshots(&self) -> usize {
        self.machines.iter().map(|m| m.snapshots.len()).sum()
    }

    /// Bytes the selected snapshots own (those of unknown size count 0).
    pub fn size_bytes(&self) -> Option<u64> {
        let sizes = || {
            self.machines
                .iter()
                .flat_map(|m| &m.snapshots)
                .filter_map(|s| s.size_bytes)
        };
        // None where no selected snapshot has a size (a VPS's, a Proxmox guest's): not 0.
        sizes().next().map(|_| sizes().sum())
    }
}

/// The plan of `criteria` over `machines` at `now`, with `protect` the protect globs.
pub fn plan(
    machines: &[&Machine],
    criteria: &Criteria,
    protect: &Protect,
    now: DateTime<Utc>,
) -> Plan {
    let mut out = Plan::default();
    let names: Vec<(Glob, Arc<str>)> = criteria
        .names
        .iter()
        .map(|g| (Glob::new(g), Arc::from(g.as_str())))
        .collect();
    let untiered: Option<Arc<str>> = criteria
        .tiers
        .any()
        .then(|| Arc::from(criteria.tiers.describe().as_str()));
    let keep = criteria.keep_last.unwrap_or(0);
    let mut flat: Vec<Node<'_>> = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    for m in machines {
        // Ages and expiry markers are on the machine's back end's clock.
        let now = m.now(now);
        flat.clear();
        flatten(&m.snapshots, None, 0, &mut flat);
        // The retention tiers look at every snapshot of the machine, selected or not.
        let times: Vec<(DateTime<Utc>, &str)> = if criteria.tiers.any() {
            let times = flat
                .iter()
                .map(|n| (n.snapshot.created, n.snapshot.id.as_str()));
            times.collect()
        } else {
            Vec::new()
        };
        let tiered = criteria.tiers.keeps(&times);
        let left_out = |s: &Snapshot, why: String, kept_by| LeftOut {
            profile: m.profile.clone(),
            machine: m.name.clone(),
            machine_id: m.id.clone(),
            id: s.id.clone(),
            name: s.name.clone(),
            why,
            kept_by,
        };
        // Newest first, so keep-last is a prefix.
        order.clear();
        order.extend(0..flat.len());
        if keep > 0 {
            order.sort_by(|&a, &b| {
                let (a, b) = (flat[a].snapshot, flat[b].snapshot);
                b.created.cmp(&a.created).then(a.id.cmp(&b.id))
            });
        }
        let mut chosen: Vec<(usize, Reason)> = Vec::new();
        for (rank, &i) in order.iter().enumerate() {
            let s = flat[i].snapshot;
            if !criteria.selects(s, &names, now) {
                continue;
            }
            if rank < keep {
                let why = format!("kept by --keep-last {keep}");
                out.kept.push(left_out(s, why, Some("--keep-last")));
                continue;
            }
            if let Some(tiers) = tiered.get(i).filter(|t| !t.is_empty()) {
                let by: Vec<String> = tiers
                    .iter()
                    .map(|t| format!("{} (the newest of {})", t.flag(), t.period(s.created)))
                    .collect();
                let why = format!("kept by {}", by.join(", "));
                out.kept.push(left_out(s, why, Some(tiers[0].flag())));
                continue;
            }
            if !criteria.include_protected
                && let Some(why) = protection(s, protect)
            {
                out.protected.push(left_out(s, why, None));
                continue;
            }
            chosen.push((i, criteria.reason(s, &names, untiered.as_ref(), now)));
        }
        if chosen.is_empty() {
            continue;
        }
        // Deepest first (as `deletion_order`): none is re-parented before its turn; among
        // equals, newest first, then by id.
        chosen.sort_by(|a, b| {
            let (x, y) = (flat[a.0].snapshot, flat[b.0].snapshot);
            flat[b.0]
                .depth
                .cmp(&flat[a.0].depth)
                .then(y.created.cmp(&x.created))
                .then(x.id.cmp(&y.id))
        });
        let ids = chosen.iter().map(|(i, _)| flat[*i].snapshot.id.as_str());
        let room = super::storage::room(m, &ids.collect(), false);
        let snapshots = chosen
            .into_iter()
            .map(|(i, reason)| {
                let s = flat[i].snapshot;
                Selected {
                    id: s.id.clone(),
                    path: path_of(&flat, i),
                    created: s.created,
                    age: now - s.created,
                    size_bytes: s.size_bytes,
                    reason,
                }
            })
            .collect();
        out.machines.push(MachinePlan {
            profile: m.profile.clone(),
            machine: m.name.clone(),
            machine_id: m.id.clone(),
            snapshots,
            room,
        });
    }
    out
}

/// One snapshot of a machine's tree, flattened: its depth and its parent's index.
struct Node<'a> {
    snapshot: &'a Snapshot,
    parent: Option<usize>,
    depth: usize,
}

fn flatten<'a>(
    nodes: &'a [Snapshot],
    parent: Option<usize>,
    depth: usize,
    out: &mut Vec<Node<'a>>,
) {
    for n in nodes {
        out.push(Node {
            snapshot: n,
            parent,
            depth,
        });
        let me = out.len() - 1;
        flatten(&n.children, Some(me), depth + 1, out);
    }
}

/// The names from the root to `i`, joined by `/` (as `Machine::name_path`), in one
/// allocation.
fn path_of(flat: &[Node<'_>], i: usize) -> String {
    fn write(flat: &[Node<'_>], i: usize, out: &mut String) {
        if let Some(p) = flat[i].parent {
            write(flat, p, out);
            out.push('/');
        }
        out.push_str(&flat[i].snapshot.name);
    }
    let mut len = 0;
    let mut at = Some(i);
    while let Some(n) = at {
        len += flat[n].snapshot.name.len() + 1;
        at = flat[n].parent;
    }
    let mut out = String::with_capacity(len);
    write(flat, i, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::tests::{snap, vm};
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap()
    }

    #[test]
    fn markers_are_found_anywhere_and_written_at_the_end_keeping_the_rest() {
        let d = "nightly [expires 2026-11-20T10:00:00Z] by cron";
        assert_eq!(expires(d), Some(at(20)));
        assert_eq!(expires("no marker [expires soon]"), None);
        // By hand: a date alone is that day's start (UTC); RFC 3339's lower-case t and z.
        assert_eq!(
            expires("[expires 2026-11-20]"),
            Some(Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap())
        );
        assert_eq!(expires("[expires 2026-11-20t10:00:00z]"), Some(at(20)));
        assert_eq!(expires("[expires 2026-13-40]"), None);
        assert_eq!(
            expires("[expires 2026-11-20T10:00:00Z][expires 2026-11-25T10:00:00Z]"),
            Some(at(25)),
            "the latest of two"
        );
        assert!(is_pinned("keep me [KEEP] please"));
        assert!(!is_pinned("keep me"));
        // Written at the end, replacing an old expiry, the rest byte for byte.
        assert_eq!(
            with_expires("  two  spaces\tand tab", at(4)),
            "  two  spaces\tand tab [expires 2026-11-04T10:00:00Z]"
        );
        assert_eq!(
            with_expires(d, at(4)),
            "nightly by cron [expires 2026-11-04T10:00:00Z]"
        );
        assert_eq!(with_expires("", at(4)), "[expires 2026-11-04T10:00:00Z]");
        assert_eq!(with_pin("base", true), "base [keep]");
        // Removing a marker never glues the words around it.
        assert_eq!(with_pin("x [keep] y [KEEP]z", false), "x y z");
        assert_eq!(with_pin("base [keep]", true), "base [keep]");
        assert_eq!(with_pin("base [keep]", false), "base");
        assert_eq!(with_pin("a [keep] b", false), "a b");
        assert_eq!(with_pin("[keep] b", false), "b");
        assert_eq!(with_pin("[keep]", false), "");
        assert_eq!(with_pin("é [keep] ü [x]", false), "é ü [x]");
    }

    #[test]
    fn globs_match_like_a_shell_ignoring_case() {
        assert!(glob_match(
            "VEEAM BACKUP TEMPORARY SNAPSHOT*",
            "Veeam Backup Temporary Snapshot"
        ));
        assert!(glob_match("pre-*", "pre-upgrade"));
        assert!(glob_match("*-2026-??-*", "daily-2026-11-01"));
        assert!(!glob_match("pre-*", "post-upgrade"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a?", "a"));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
    }

    fn estate() -> Machine {
        // a (Nov 1) ─ b (Nov 10) ─ c (Nov 20, pinned); d (Nov 25, Veeam's)
        let mut a = snap("a", "base", vec![]);
        let mut b = snap("b", "pre-upgrade", vec![]);
        let mut c = snap("c", "pre-deploy", vec![]);
        let mut d = snap("d", "VEEAM BACKUP TEMPORARY SNAPSHOT", vec![]);
        a.created = at(1);
        b.created = at(10);
        c.created = at(20);
        c.description = "release [keep]".into();
        d.created = at(25);
        a.size_bytes = Some(100);
        b.size_bytes = Some(20);
        b.description = "[expires 2026-11-15T00:00:00Z]".into();
        b.children = vec![c];
        a.children = vec![b, d];
        vm("pcc", "vm-1", "web-01", vec![a])
    }

    fn veeam() -> Protect {
        Protect::new(&["VEEAM BACKUP TEMPORARY SNAPSHOT*".into()])
    }

    #[test]
    fn a_policy_selects_by_and_and_leaves_protected_and_kept_ones_out() {
        let m = estate();
        let now = at(30);
        let old = Criteria {
            older_than: Some(Duration::days(3)),
            ..Criteria::default()
        };
        let p = plan(&[&m], &old, &veeam(), now);
        let ids: Vec<&str> = p.machines[0]
            .snapshots
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        // c is pinned, d is Veeam's: both left out and said; b before its parent a.
        assert_eq!(ids, ["b", "a"]);
        assert_eq!(p.protected.len(), 2);
        assert_eq!((p.snapshots(), p.size_bytes()), (2, Some(120)));
        assert_eq!(p.machines[0].snapshots[1].path, "base");
        assert_eq!(p.machines[0].snapshots[0].path, "base/pre-upgrade");

        let names = Criteria {
            names: vec!["pre-*".into()],
            ..Criteria::default()
        };
        let p = plan(&[&m], &names, &veeam(), now);
        assert_eq!(p.snapshots(), 1, "pre-deploy is pinned");
        assert!(
            p.machines[0].snapshots[0]
                .reason
                .to_string()
                .contains("pre-*")
        );

        let expired = Criteria {
            expired: true,
            ..Criteria::default()
        };
        let p = plan(&[&m], &expired, &veeam(), now);
        assert_eq!(p.machines[0].snapshots[0].id, "b");
        assert!(
            plan(&[&m], &expired, &veeam(), at(12)).machines.is_empty(),
            "not yet"
        );

        // AND: old and named.
        let both = Criteria {
            older_than: Some(Duration::days(25)),
            names: vec!["pre-*".into()],
            ..Criteria::default()
        };
        assert!(plan(&[&m], &both, &veeam(), now).machines.is_empty());

        // keep-last 3: the three newest (d, c, b) are never selected.
        let keep = Criteria {
            older_than: Some(Duration::days(1)),
            keep_last: Some(3),
            ..Criteria::default()
        };
        let p = plan(&[&m], &keep, &veeam(), now);
        assert_eq!(p.snapshots(), 1);
        assert_eq!(p.kept.len(), 3);
        assert!(p.kept.iter().all(|k| k.why == "kept by --keep-last 3"));

        // --include-protected selects them too.
        let all = Criteria {
            older_than: Some(Duration::days(1)),
            include_protected: true,
            ..Criteria::default()
        };
        let p = plan(&[&m], &all, &veeam(), now);
        let ids: Vec<&str> = p.machines[0]
            .snapshots
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["c", "d", "b", "a"],
            "deepest first; among equals, newest first"
        );
    }

    /// Retention tiers alone select what no tier keeps; with another criterion they only
    /// keep. What they keep is left out with the tier and the period; a protected snapshot
    /// stays protected.
    #[test]
    fn tiers_alone_select_what_no_tier_keeps_and_otherwise_only_keep() {
        use crate::model::retention::Tiers;
        let m = estate();
        let now = at(30);
        let ids = |p: &Plan| -> Vec<String> {
            p.machines
                .iter()
                .flat_map(|m| m.snapshots.iter().map(|s| s.id.clone()))
                .collect()
        };
        let daily = |n| Criteria {
            tiers: Tiers {
                daily: Some(n),
                ..Tiers::default()
            },
            ..Criteria::default()
        };
        assert!(daily(1).check().is_ok(), "a tier alone is a criterion");
        let p = plan(&[&m], &daily(1), &veeam(), now);
        // d (Nov 25) is kept; c is pinned; a and b go.
        assert_eq!(ids(&p), ["b", "a"]);
        assert_eq!(p.kept.len(), 1);
        assert_eq!(p.kept[0].id, "d");
        assert_eq!(
            p.kept[0].why,
            "kept by --keep-daily (the newest of 2026-11-25)"
        );
        assert_eq!(p.protected.len(), 1);
        assert_eq!(
            p.machines[0].snapshots[0].reason.to_string(),
            "no tier keeps it (--keep-daily 1)"
        );
        let p = plan(&[&m], &daily(3), &veeam(), now);
        assert_eq!(
            ids(&p),
            ["a"],
            "d, c and b are each the newest of their day"
        );
        // With --older-than 12d: only a and b are old enough, and b is kept.
        let old = Criteria {
            older_than: Some(Duration::days(12)),
            ..daily(3)
        };
        let p = plan(&[&m], &old, &veeam(), now);
        assert_eq!(ids(&p), ["a"]);
        assert_eq!(
            p.machines[0].snapshots[0].reason.to_string(),
            "29d old (over 12d), no tier keeps it (--keep-daily 3)"
        );
        let monthly = Criteria {
            tiers: Tiers {
                monthly: Some(1),
                weekly: Some(1),
                ..Tiers::default()
            },
            ..Criteria::default()
        };
        let p = plan(&[&m], &monthly, &veeam(), now);
        assert_eq!(
            p.kept[0].why,
            "kept by --keep-weekly (the newest of 2026-W48), --keep-monthly (the newest of 2026-11)"
        );
        let words = parse_criteria("keep-daily 7 keep-weekly 4 keep-monthly 6").unwrap();
        assert_eq!(
            words.tiers,
            Tiers {
                daily: Some(7),
                weekly: Some(4),
                monthly: Some(6)
            }
        );
    }

    #[test]
    fn the_palette_words_are_the_prune_criteria() {
        let c = parse_criteria("older-than 14d name 'pre-*' keep-last 2 expired").unwrap();
        assert_eq!(c.older_than, Some(Duration::days(14)));
        assert_eq!(c.names, ["pre-*"]);
        assert_eq!(
            (c.keep_last, c.expired, c.include_protected),
            (Some(2), true, false)
        );
        assert!(
            parse_criteria("older-than")
                .unwrap_err()
                .contains("needs an age")
        );
        assert!(
            parse_criteria("bigger 3")
                .unwrap_err()
                .contains("unknown criterion")
        );
        assert!(parse_criteria("").unwrap().check().is_err());
        // The TUI's `mark where` reads ages with the one duration parser and its limit.
        assert!(
            parse_criteria("older-than 99999999999d")
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn a_policy_without_a_criterion_is_refused() {
        assert!(Criteria::default().check().is_err());
        let only_keep = Criteria {
            keep_last: Some(2),
            ..Criteria::default()
        };
        assert!(only_keep.check().is_err());
        assert!(
            Criteria {
                expired: true,
                ..Criteria::default()
            }
            .check()
            .is_ok()
        );
    }
}
