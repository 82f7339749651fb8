//! `snaptree check` (docs/report.md, "Check"): the estate's state by the monitoring-plugin
//! conventions — what is wrong, how badly, and the numbers behind it. Pure: the CLI prints
//! it as a plugin's output, Prometheus metrics or JSON.

use chrono::{DateTime, Duration, Utc};

use super::Machine;
use super::health::{format_age, human_size};

/// A check's state, in the plugin conventions' order of severity (UNKNOWN above WARNING:
/// what cannot be read may hide a CRITICAL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Nothing to report.
    Ok,
    /// Old snapshots, deep chains, disks to consolidate.
    Warning,
    /// A back end could not be read.
    Unknown,
    /// Snapshots older than the critical age.
    Critical,
}

impl State {
    /// As the first line says it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Unknown => "UNKNOWN",
            State::Critical => "CRITICAL",
        }
    }

    /// The plugin's exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Critical => 2,
            State::Unknown => 3,
        }
    }
}

/// The limits a check applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A snapshot older than this: WARNING.
    pub warn_age: Duration,
    /// A snapshot older than this: CRITICAL.
    pub crit_age: Duration,
    /// A chain deeper than this: WARNING.
    pub warn_depth: usize,
    /// A machine whose snapshots together take more than this (bytes): WARNING.
    pub warn_size: Option<u64>,
    /// The same: CRITICAL.
    pub crit_size: Option<u64>,
    /// A machine with more snapshots than this (the protected ones left out, as for the
    /// ages): WARNING.
    pub warn_count: Option<usize>,
    /// The same: CRITICAL.
    pub crit_count: Option<usize>,
    /// A VPS with the automated backup option whose newest restore point is older than
    /// this, or that has none: WARNING.
    pub warn_backup_age: Option<Duration>,
}

/// One thing wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// How bad.
    pub state: State,
    /// Profile.
    pub profile: String,
    /// Machine name (empty for a profile that could not be read).
    pub machine: String,
    /// Machine id.
    pub machine_id: String,
    /// The snapshot's name and id, when it is about one.
    pub snapshot: Option<(String, String)>,
    /// What is wrong, in words.
    pub what: String,
}

/// The result of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The worst state found.
    pub state: State,
    /// Machines read.
    pub machines: usize,
    /// Snapshots read.
    pub snapshots: usize,
    /// Their known size.
    pub size_bytes: u64,
    /// The oldest snapshot's age (of those checked for age: not the protected ones, unless
    /// they were included).
    pub oldest: Option<Duration>,
    /// Protected snapshots (pinned, or matching `[cleanup] protect`) left out of the age
    /// problems, and the oldest one's age: kept on purpose, they are not alerts.
    pub protected: usize,
    /// The oldest protected snapshot left out.
    pub protected_oldest: Option<Duration>,
    /// The deepest chain.
    pub max_depth: usize,
    /// The most bytes one machine's snapshots take together.
    pub max_size: u64,
    /// The most snapshots on one machine (counted as for `warn_count`).
    pub max_count: usize,
    /// Machines that need consolidation.
    pub consolidation: usize,
    /// Delta disks that no snapshot owns (phantom deltas), over every machine.
    pub phantom_deltas: usize,
    /// The age of the stalest newest restore point among the VPSs with the automated
    /// backup option (their newest one's age; `None`: no such VPS has one).
    pub backup_age: Option<Duration>,
    /// Profiles configured.
    pub profiles: usize,
    /// Profiles that could not be read.
    pub unreachable: usize,
    /// The FILTER the machines were selected by, if any.
    pub filter: Option<String>,
    /// What is wrong, worst first.
    pub problems: Vec<Problem>,
    /// The limits applied.
    pub limits: Limits,
}

impl Check {
    /// The first line's summary (after `SNAPTREE STATE - `).
    pub fn summary(&self) -> String {
        let count = |s: State| self.problems.iter().filter(|p| p.state == s).count();
        let mut parts = vec![format!(
            "{} snapshot(s) on {} machine(s)",
            self.snapshots, self.machines
        )];
        let (crit, warn) = (count(State::Critical), count(State::Warning));
        if crit > 0 {
            parts.push(format!("{crit} critical"));
        }
        if warn > 0 {
            parts.push(format!("{warn} warning(s)"));
        }
        if self.profiles == 0 {
            parts.push("no profile configured".to_string());
        } else if self.nothing_selected() {
            parts.push(match &self.filter {
                Some(f) => format!("no machine matches \"{f}\""),
                None => "no machine found".to_string(),
            });
        }
        if self.unreachable > 0 {
            parts.push(format!("{} profile(s) unreadable", self.unreachable));
        }
        if let Some(age) = self.oldest {
            parts.push(format!("oldest {}", format_age(age)));
        }
        if self.protected > 0 {
            parts.push(format!("{} protected left out", self.protected));
        }
        parts.join(", ")
    }

    /// True when profiles are configured and no machine was checked, though every profile
    /// was read or a FILTER selected among them (an unreadable profile says itself why).
    fn nothing_selected(&self) -> bool {
        self.profiles > 0 && self.machines == 0 && (self.filter.is_some() || self.unreachable == 0)
    }

    /// The performance data (`label=value[unit];warn;crit;min`), as plugins print it after
    /// `|`.
    pub fn perfdata(&self) -> String {
        let l = &self.limits;
        fn limit(v: Option<impl ToString>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        [
            format!("snapshots={};;;0", self.snapshots),
            format!(
                "oldest_age={}s;{};{};0",
                self.oldest.map_or(0, |a| a.num_seconds().max(0)),
                l.warn_age.num_seconds(),
                l.crit_age.num_seconds()
            ),
            format!("max_depth={};{};;0", self.max_depth, l.warn_depth),
            format!(
                "max_size={}B;{};{};0",
                self.max_size,
                limit(l.warn_size),
                limit(l.crit_size)
            ),
            format!(
                "max_count={};{};{};0",
                self.max_count,
                limit(l.warn_count),
                limit(l.crit_count)
            ),
            format!("consolidation_needed={};0;;0", self.consolidation),
            format!("phantom_deltas={};0;;0", self.phantom_deltas),
            format!(
                "backup_age={}s;{};;0",
                self.backup_age.map_or(0, |a| a.num_seconds().max(0)),
                limit(l.warn_backup_age.map(|a| a.num_seconds()))
            ),
            format!("size={}B;;;0", self.size_bytes),
            format!("profiles_unreachable={};;0;0", self.unreachable),
            format!("protected={};;;0", self.protected),
            format!(
                "protected_oldest_age={}s;;;0",
                self.protected_oldest.map_or(0, |a| a.num_seconds().max(0))
            ),
        ]
        .join(" ")
    }
}

/// Check `machines` (those of the profiles that were read that `filter` selected) against
/// `limits`; `unreachable` names each profile that could not be read and why; `profiles`
/// is how many are configured. A check of nothing must not say OK: no profile, or no
/// machine (none found, or none the filter selects), is UNKNOWN. With `protect`, the
/// snapshots it protects (pinned, or matching its globs: kept on purpose) are left out of
/// the age problems and counted apart; without (`--include-protected`), every snapshot is.
pub fn check(
    machines: &[Machine],
    unreachable: &[(String, String)],
    profiles: usize,
    filter: Option<&str>,
    limits: Limits,
    now: DateTime<Utc>,
    protect: Option<&super::cleanup::Protect>,
) -> Check {
    let mut c = Check {
        state: State::Ok,
        machines: machines.len(),
        snapshots: 0,
        size_bytes: 0,
        oldest: None,
        protected: 0,
        protected_oldest: None,
        max_depth: 0,
        max_size: 0,
        max_count: 0,
        consolidation: 0,
        phantom_deltas: 0,
        backup_age: None,
        profiles,
        unreachable: unreachable.len(),
        filter: filter.map(str::to_string),
        problems: Vec::new(),
        limits,
    };
    let nothing = |what: String| Problem {
        state: State::Unknown,
        profile: String::new(),
        machine: String::new(),
        machine_id: String::new(),
        snapshot: None,
        what,
    };
    if profiles == 0 {
        c.problems.push(nothing(
            "no profile is configured: nothing was checked; write one in the config file \
             (`snaptree info` prints its path), or try `snaptree demo`"
                .into(),
        ));
    } else if c.nothing_selected() {
        c.problems.push(nothing(match filter {
            Some(f) => format!(
                "{}: nothing was checked",
                super::filter::no_match(f, &[], unreachable.len())
            ),
            None => "no machine was found: nothing was checked (may the account see them?)".into(),
        }));
    }
    for (profile, why) in unreachable {
        c.problems.push(Problem {
            state: State::Unknown,
            profile: profile.clone(),
            machine: String::new(),
            machine_id: String::new(),
            snapshot: None,
            what: format!("profile {profile} could not be read: {why}"),
        });
    }
    for m in machines {
        let problem = |state, snapshot, what| Problem {
            state,
            profile: m.profile.clone(),
            machine: m.name.clone(),
            machine_id: m.id.clone(),
            snapshot,
            what,
        };
        if let Some(why) = m.unreadable_sentence() {
            // Its snapshots are unknown: the check cannot say OK about it.
            c.problems.push(problem(State::Unknown, None, why));
            continue;
        }
        // Every snapshot takes room, kept on purpose or not; only the unprotected count.
        let (mut size, mut count) = (0u64, 0usize);
        for (_, s) in m.walk() {
            c.snapshots += 1;
            c.size_bytes += s.size_bytes.unwrap_or(0);
            size += s.size_bytes.unwrap_or(0);
            let age = m.age_of(s.created, now);
            if protect.is_some_and(|p| super::cleanup::protection(s, p).is_some()) {
                c.protected += 1;
                c.protected_oldest = Some(c.protected_oldest.map_or(age, |o| o.max(age)));
                continue;
            }
            count += 1;
            c.oldest = Some(c.oldest.map_or(age, |o| o.max(age)));
            let state = if age > limits.crit_age {
                State::Critical
            } else if age > limits.warn_age {
                State::Warning
            } else {
                continue;
            };
            let limit = if state == State::Critical {
                limits.crit_age
            } else {
                limits.warn_age
            };
            c.problems.push(problem(
                state,
                Some((s.name.clone(), s.id.clone())),
                format!(
                    "{}/{}: snapshot \"{}\" ({}) is {} old (more than {})",
                    m.profile,
                    m.name,
                    s.name,
                    s.id,
                    format_age(age),
                    format_age(limit)
                ),
            ));
        }
        c.max_size = c.max_size.max(size);
        c.max_count = c.max_count.max(count);
        // The state a value over a limit is in, and that limit.
        let over = |value: u64, warn: Option<u64>, crit: Option<u64>| {
            let past = |l: &u64| value > *l;
            (crit.filter(past).map(|l| (State::Critical, l)))
                .or_else(|| warn.filter(past).map(|l| (State::Warning, l)))
        };
        if let Some((state, l)) = over(size, limits.warn_size, limits.crit_size) {
            c.problems.push(problem(
                state,
                None,
                format!(
                    "{}/{}: its snapshots take {} (more than {})",
                    m.profile,
                    m.name,
                    human_size(size),
                    human_size(l)
                ),
            ));
        }
        let counted = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        if let Some((state, l)) = over(
            counted(count),
            limits.warn_count.map(counted),
            limits.crit_count.map(counted),
        ) {
            c.problems.push(problem(
                state,
                None,
                format!(
                    "{}/{}: {count} snapshots (more than {l})",
                    m.profile, m.name
                ),
            ));
        }
        let depth = m.max_depth();
        c.max_depth = c.max_depth.max(depth);
        if depth > limits.warn_depth {
            c.problems.push(problem(
                State::Warning,
                None,
                format!(
                    "{}/{}: a chain of {depth} snapshots (more than {})",
                    m.profile, m.name, limits.warn_depth
                ),
            ));
        }
        if m.consolidation_needed {
            c.consolidation += 1;
            c.problems.push(problem(
                State::Warning,
                None,
                format!("{}/{}: its disks need consolidation", m.profile, m.name),
            ));
        }
        if let Some(b) = m.backups.as_deref().filter(|b| b.subscribed) {
            let newest = b.newest().map(|t| m.age_of(t, now));
            if let Some(age) = newest {
                c.backup_age = Some(c.backup_age.map_or(age, |a| a.max(age)));
            }
            if let Some(limit) = limits.warn_backup_age {
                let what = match newest {
                    None => Some("has the automated backup option but no restore point".into()),
                    Some(age) if age > limit => Some(format!(
                        "its newest restore point is {} old (more than {})",
                        format_age(age),
                        super::health::format_duration(limit)
                    )),
                    Some(_) => None,
                };
                if let Some(what) = what {
                    let what = format!("{}/{}: {what}", m.profile, m.name);
                    c.problems.push(problem(State::Warning, None, what));
                }
            }
        }
        for p in m.storage.iter().flat_map(|s| &s.phantom_deltas) {
            c.phantom_deltas += 1;
            c.problems.push(problem(
                State::Warning,
                None,
                format!(
                    "{}/{}: runs on {} (disk {}), a delta no snapshot owns: consolidate its disks",
                    m.profile, m.name, p.file, p.disk
                ),
            ));
        }
    }
    // Worst first; within a state, in the estate's order.
    c.problems.sort_by_key(|p| std::cmp::Reverse(p.state));
    c.state = c.problems.first().map_or(State::Ok, |p| p.state);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::tests::{snap, vm};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap()
    }

    fn limits() -> Limits {
        Limits {
            warn_backup_age: None,
            warn_age: Duration::days(3),
            crit_age: Duration::days(14),
            warn_depth: 2,
            warn_size: None,
            crit_size: None,
            warn_count: None,
            crit_count: None,
        }
    }

    /// Per machine, all its snapshots' sizes together against `--warn-size`/`--crit-size`,
    /// and how many it has (the protected ones left out) against `--warn-count`/
    /// `--crit-count`; the largest of each in the perfdata with its limits.
    #[test]
    fn a_machine_over_a_size_or_count_limit_is_a_problem() {
        let sized = |id: &str, name: &str, gib: u64, children| {
            let mut s = snap(id, name, children);
            s.size_bytes = Some(gib << 30);
            s.created = now() - Duration::hours(1);
            s
        };
        // 11 GiB in all (the protected one takes room too); 2 snapshots counted.
        let veeam = sized("c", "VEEAM BACKUP TEMPORARY SNAPSHOT", 2, vec![]);
        let tree = sized("a", "base", 6, vec![sized("b", "pre", 3, vec![veeam])]);
        let m = vm("lab", "vm-1", "web", vec![tree]);
        let protect = crate::model::cleanup::Protect::new(&["VEEAM*".into()]);
        let one = std::slice::from_ref(&m);
        // A chain of 3: no depth warning here.
        let base = Limits {
            warn_depth: 10,
            ..limits()
        };
        let run = |l: Limits| check(one, &[], 1, None, l, now(), Some(&protect));
        let c = run(Limits {
            warn_size: Some(10 << 30),
            crit_size: Some(20 << 30),
            warn_count: Some(1),
            crit_count: Some(5),
            ..base
        });
        assert_eq!(c.state, State::Warning);
        let what: Vec<&str> = c.problems.iter().map(|p| p.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "lab/web: its snapshots take 11.0 GiB (more than 10.0 GiB)",
                "lab/web: 2 snapshots (more than 1)"
            ]
        );
        let perf = c.perfdata();
        let size = format!(
            "max_size={}B;{};{};0",
            11u64 << 30,
            10u64 << 30,
            20u64 << 30
        );
        assert!(perf.contains(&size), "{perf}");
        assert!(perf.contains("max_count=2;1;5;0"), "{perf}");
        // At a limit is not over it.
        let c = run(Limits {
            crit_size: Some(11 << 30),
            warn_count: Some(2),
            ..base
        });
        assert_eq!(c.state, State::Ok, "{:?}", c.problems);
        let c = run(Limits {
            crit_size: Some((11 << 30) - 1),
            crit_count: Some(1),
            ..base
        });
        assert_eq!(c.state, State::Critical);
        assert_eq!(c.problems.len(), 2);
        // No limits: no problem, and the perfdata leaves the thresholds empty.
        let c = run(base);
        assert_eq!(c.state, State::Ok);
        assert!(c.perfdata().contains("max_count=2;;;0"), "{}", c.perfdata());
    }

    fn aged(days: i64) -> Machine {
        let mut m = vm("lab", "vm-1", "web", vec![snap("a", "base", vec![])]);
        m.snapshots[0].created = now() - Duration::days(days);
        m
    }

    /// A snapshot kept on purpose (pinned, or matching a protect glob) is no alert: left out
    /// of the age problems and the oldest age, counted apart (and in the perfdata); with
    /// `--include-protected` (no `protect`) it is checked as any other.
    #[test]
    fn protected_snapshots_are_counted_apart_not_alerted() {
        let mut pinned = aged(40);
        pinned.snapshots[0].description = "golden image [keep]".into();
        let mut veeam = aged(30);
        veeam.id = "vm-2".into();
        veeam.snapshots[0].name = "VEEAM BACKUP TEMPORARY SNAPSHOT".into();
        let mut plain = aged(5);
        plain.id = "vm-3".into();
        let estate = [pinned, veeam, plain];
        let protect =
            crate::model::cleanup::Protect::new(&["VEEAM BACKUP TEMPORARY SNAPSHOT*".into()]);
        let c = check(&estate, &[], 1, None, limits(), now(), Some(&protect));
        assert_eq!(c.state, State::Warning, "{:?}", c.problems);
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert_eq!(c.problems[0].machine_id, "vm-3");
        assert_eq!((c.snapshots, c.protected), (3, 2));
        assert_eq!(c.oldest, Some(Duration::days(5)));
        assert_eq!(c.protected_oldest, Some(Duration::days(40)));
        assert!(
            c.summary().ends_with("oldest 5d, 2 protected left out"),
            "{}",
            c.summary()
        );
        assert!(
            c.perfdata()
                .ends_with(" protected=2;;;0 protected_oldest_age=3456000s;;;0"),
            "{}",
            c.perfdata()
        );
        let all = check(&estate, &[], 1, None, limits(), now(), None);
        assert_eq!(all.state, State::Critical);
        assert_eq!((all.problems.len(), all.protected), (3, 0));
        assert_eq!(all.oldest, Some(Duration::days(40)));
    }

    #[test]
    fn each_state_and_its_exit_code() {
        let ok = check(&[aged(1)], &[], 1, None, limits(), now(), None);
        assert_eq!((ok.state, ok.state.exit_code()), (State::Ok, 0));
        assert!(ok.problems.is_empty());
        let warn = check(&[aged(5)], &[], 1, None, limits(), now(), None);
        assert_eq!((warn.state, warn.state.exit_code()), (State::Warning, 1));
        assert!(
            warn.problems[0].what.contains("is 5d old (more than 3d)"),
            "{:?}",
            warn.problems
        );
        let crit = check(&[aged(20), aged(5)], &[], 1, None, limits(), now(), None);
        assert_eq!((crit.state, crit.state.exit_code()), (State::Critical, 2));
        assert_eq!(crit.problems[0].state, State::Critical, "worst first");
        let down = [("vps".to_string(), "connection refused".to_string())];
        let unknown = check(&[aged(5)], &down, 1, None, limits(), now(), None);
        assert_eq!(
            (unknown.state, unknown.state.exit_code()),
            (State::Unknown, 3)
        );
        assert!(
            unknown.problems[0]
                .what
                .contains("profile vps could not be read")
        );
        // Unreadable with a critical snapshot elsewhere: critical stays, unknown is said.
        let both = check(&[aged(20)], &down, 1, None, limits(), now(), None);
        // Nothing configured: never OK.
        let nothing = check(&[], &[], 0, None, limits(), now(), None);
        assert_eq!(nothing.state, State::Unknown);
        assert!(
            nothing.problems[0]
                .what
                .contains("no profile is configured")
        );
        assert!(
            nothing.summary().contains("no profile configured"),
            "{}",
            nothing.summary()
        );
        assert!(
            !nothing.summary().contains("unreadable"),
            "{}",
            nothing.summary()
        );
        assert_eq!(both.state, State::Critical);
        assert!(
            both.summary().contains("1 profile(s) unreadable"),
            "{}",
            both.summary()
        );
    }

    #[test]
    fn a_vps_whose_newest_restore_point_is_too_old_or_missing_is_a_warning() {
        use crate::model::backups::{Backups, RestorePoint, RestoreState};
        let vps = |name: &str, newest: Option<i64>| {
            let mut m = vm("ovh", name, name, Vec::new());
            m.backups = Some(Box::new(Backups {
                subscribed: true,
                state: "enabled".into(),
                schedule: Some("22:00:00".into()),
                restore_points: newest
                    .map(|h| RestorePoint {
                        time: now() - Duration::hours(h),
                        state: RestoreState::Available,
                    })
                    .into_iter()
                    .collect(),
                attached: Vec::new(),
            }));
            m
        };
        let mut off = vps("off", None);
        off.backups = Some(Box::new(Backups::unsubscribed()));
        let machines = [
            vps("fresh", Some(5)),
            vps("stale", Some(50)),
            vps("none", None),
            off,
        ];
        let limits = Limits {
            warn_backup_age: Some(Duration::days(1)),
            ..limits()
        };
        let c = check(&machines, &[], 1, None, limits, now(), None);
        let what: Vec<&str> = c.problems.iter().map(|p| p.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "ovh/stale: its newest restore point is 2d old (more than 1d)",
                "ovh/none: has the automated backup option but no restore point",
            ]
        );
        assert_eq!(c.backup_age, Some(Duration::hours(50)));
        assert!(
            c.perfdata().contains(" backup_age=180000s;86400;;0 "),
            "{}",
            c.perfdata()
        );
        // Without the limit, nothing is said; the age is still measured.
        let c = check(&machines, &[], 1, None, self::limits(), now(), None);
        assert!(c.problems.is_empty());
        assert!(c.perfdata().contains(" backup_age=180000s;;;0 "));
    }

    #[test]
    fn a_phantom_delta_is_a_warning_naming_the_vm_and_its_file() {
        let mut m = vm("lab", "vm-1", "jump", Vec::new());
        let phantom = |file: &str| crate::model::storage::PhantomDelta {
            disk: 2000,
            file: file.into(),
        };
        m.storage = Some(Box::new(crate::model::storage::Storage {
            phantom_deltas: vec![
                phantom("[ds1] jump/jump-000001.vmdk"),
                phantom("[ds1] jump/jump_1-000001.vmdk"),
            ],
            ..Default::default()
        }));
        let c = check(&[m], &[], 1, None, limits(), now(), None);
        assert_eq!(c.state, State::Warning);
        assert_eq!(c.phantom_deltas, 2);
        assert_eq!(
            c.problems[0].what,
            "lab/jump: runs on [ds1] jump/jump-000001.vmdk (disk 2000), a delta no snapshot owns: consolidate its disks"
        );
        assert!(c.perfdata().contains(" phantom_deltas=2;0;;0 "));
    }

    #[test]
    fn depth_and_consolidation_warn_and_perfdata_carries_the_limits() {
        let mut m = vm(
            "lab",
            "vm-1",
            "web",
            vec![snap(
                "a",
                "a",
                vec![snap("b", "b", vec![snap("c", "c", vec![])])],
            )],
        );
        m.snapshots[0].created = now();
        m.snapshots[0].children[0].created = now();
        m.snapshots[0].children[0].children[0].created = now();
        m.consolidation_needed = true;
        let c = check(&[m], &[], 1, None, limits(), now(), None);
        assert_eq!(c.state, State::Warning);
        let what: Vec<&str> = c.problems.iter().map(|p| p.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "lab/web: a chain of 3 snapshots (more than 2)",
                "lab/web: its disks need consolidation"
            ]
        );
        assert_eq!(
            c.perfdata(),
            "snapshots=3;;;0 oldest_age=0s;259200;1209600;0 max_depth=3;2;;0 max_size=0B;;;0 max_count=3;;;0 consolidation_needed=1;0;;0 phantom_deltas=0;0;;0 backup_age=0s;;;0 size=0B;;;0 profiles_unreachable=0;;0;0 protected=0;;;0 protected_oldest_age=0s;;;0"
        );
    }

    #[test]
    fn a_check_of_no_machine_is_unknown_and_says_why() {
        let typo = check(&[], &[], 2, Some("pcc-typo"), limits(), now(), None);
        assert_eq!((typo.state, typo.state.exit_code()), (State::Unknown, 3));
        assert_eq!(
            typo.problems[0].what,
            "no machine matches \"pcc-typo\": nothing was checked"
        );
        assert!(
            typo.summary()
                .ends_with("on 0 machine(s), no machine matches \"pcc-typo\""),
            "{}",
            typo.summary()
        );
        let empty = check(&[], &[], 1, None, limits(), now(), None);
        assert_eq!(empty.state, State::Unknown);
        assert!(empty.problems[0].what.starts_with("no machine was found"));
        // An unreadable profile says itself why nothing was checked.
        let down = [("vps".to_string(), "connection refused".to_string())];
        let unread = check(&[], &down, 1, None, limits(), now(), None);
        assert_eq!(unread.problems.len(), 1, "{:?}", unread.problems);
        let unread = check(&[], &down, 2, Some("web"), limits(), now(), None);
        assert!(
            unread.problems.iter().any(|p| p.what
                == "no machine matches \"web\" among the profiles read (1 could not be read): nothing was checked"),
            "{:?}",
            unread.problems
        );
        // A filter that selects: the usual check.
        let fine = check(&[aged(1)], &[], 1, Some("web"), limits(), now(), None);
        assert_eq!(fine.state, State::Ok);
    }
}
