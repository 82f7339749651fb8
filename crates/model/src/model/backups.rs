//! A VPS's automated backup (OVHcloud): the daily backup the VPS snapshot guide points to,
//! kept as up to seven restore points beside the one snapshot (docs/backups.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::BackupOp;

/// What the API says of a VPS's automated backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backups {
    /// The `automatedBackup` option is subscribed; without it the rest is empty.
    pub subscribed: bool,
    /// The backup's state in the API's words (`enabled`, `disabled`).
    pub state: String,
    /// The daily time, UTC, as the API gives it (`22:00:00`), when set.
    pub schedule: Option<String>,
    /// Restore points, newest first.
    pub restore_points: Vec<RestorePoint>,
    /// Restore points mounted as files (a `file` restore), with their addresses.
    pub attached: Vec<Attached>,
}

/// Where a restore point is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestoreState {
    /// Kept, ready to restore.
    Available,
    /// Being restored now.
    Restoring,
    /// Restored (mounted, for a `file` restore).
    Restored,
}

impl RestoreState {
    /// Every state, as the API's `state` query names them.
    pub const ALL: [RestoreState; 3] = [
        RestoreState::Available,
        RestoreState::Restoring,
        RestoreState::Restored,
    ];

    /// The API's word (`available`, `restoring`, `restored`).
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreState::Available => "available",
            RestoreState::Restoring => "restoring",
            RestoreState::Restored => "restored",
        }
    }
}

/// One restore point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePoint {
    /// When the backup was made: its name in every call.
    pub time: DateTime<Utc>,
    /// Where it is.
    pub state: RestoreState,
}

/// A restore point mounted as files, and where to reach them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    /// The restore point.
    pub time: DateTime<Utc>,
    /// Its NFS address, when given. Foreign text: made safe where shown.
    pub nfs: Option<String>,
    /// Its SMB address, when given. Foreign text: made safe where shown.
    pub smb: Option<String>,
}

impl Backups {
    /// A VPS without the option.
    pub fn unsubscribed() -> Backups {
        Backups {
            subscribed: false,
            state: String::new(),
            schedule: None,
            restore_points: Vec::new(),
            attached: Vec::new(),
        }
    }

    /// The newest restore point's time.
    pub fn newest(&self) -> Option<DateTime<Utc>> {
        self.restore_points.iter().map(|p| p.time).max()
    }

    /// The daily time as the operator reads it: `22:00 UTC` (`HH:MM:SS` from the API, its
    /// seconds left out when zero).
    pub fn daily(&self) -> Option<String> {
        let s = self.schedule.as_deref()?.trim();
        let short = s.strip_suffix(":00").filter(|t| t.len() == 5).unwrap_or(s);
        Some(format!("{short} UTC"))
    }

    /// One line for the details pane and `backup ls`: "daily at 22:00 UTC · 7 restore
    /// points, newest 3h ago", with `age` the age of a time on the VPS's back end's clock.
    pub fn summary(&self, age: impl Fn(DateTime<Utc>) -> chrono::Duration) -> String {
        if !self.subscribed {
            return "not subscribed (the automatedBackup option)".into();
        }
        let mut parts = Vec::new();
        match self.daily() {
            Some(d) => parts.push(format!("daily at {d}")),
            None => parts.push("no daily time".into()),
        }
        if self.state != "enabled" && !self.state.is_empty() {
            parts.push(crate::safe::terminal(&self.state).into_owned());
        }
        let n = self.restore_points.len();
        parts.push(match self.newest() {
            Some(t) => format!(
                "{n} restore point(s), newest {} ago",
                super::health::format_age(age(t))
            ),
            None => "no restore point yet".into(),
        });
        if !self.attached.is_empty() {
            parts.push(format!("{} mounted", self.attached.len()));
        }
        parts.join(" · ")
    }
}

/// A restore point's name in an operation and the audit log: its time, RFC 3339 in UTC
/// (`2026-12-05T22:00:00Z`), as the API takes it back.
pub fn point_id(t: DateTime<Utc>) -> String {
    // A fraction of a second, when the API gave one, is kept: the point is named exactly.
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A restore point's time as the operator reads it (`2026-12-05 22:00 UTC`; the seconds
/// when they are not zero).
pub fn point_label(t: DateTime<Utc>) -> String {
    if t.timestamp() % 60 == 0 {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// The time a [`point_id`] names.
pub fn point_time(id: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(id)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time as written on a command line: RFC 3339 (`2026-12-05T22:00:00+00:00`, as
/// `backup ls --json` lists them) or `2026-12-05 22:00[:SS][ UTC]` as `backup ls` shows
/// them (UTC). With the minute alone, the whole minute.
fn written_time(text: &str) -> Option<(DateTime<Utc>, chrono::Duration)> {
    if let Some(t) = point_time(text) {
        return Some((t, chrono::Duration::seconds(1)));
    }
    let bare = text
        .trim()
        .trim_end_matches("UTC")
        .trim()
        .replacen('T', " ", 1);
    let naive = |fmt: &str| chrono::NaiveDateTime::parse_from_str(&bare, fmt).ok();
    if let Some(t) = naive("%Y-%m-%d %H:%M:%S") {
        return Some((t.and_utc(), chrono::Duration::seconds(1)));
    }
    naive("%Y-%m-%d %H:%M").map(|t| (t.and_utc(), chrono::Duration::minutes(1)))
}

/// The restore point `text` names among `times` (newest first or not): `latest`, or its
/// time as `backup ls` writes it; `what` says what they are in a refusal.
pub fn resolve_point(
    times: &[DateTime<Utc>],
    text: &str,
    what: &str,
) -> Result<DateTime<Utc>, String> {
    let listed = || {
        let mut sorted = times.to_vec();
        sorted.sort_by(|a, b| b.cmp(a));
        match sorted.len() {
            0 => format!("there is no {what}"),
            _ => format!(
                "the {what}s are: {}",
                sorted
                    .iter()
                    .map(|t| point_label(*t))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    if text.trim() == "latest" {
        return times.iter().max().copied().ok_or_else(listed);
    }
    let (from, span) = written_time(text).ok_or_else(|| {
        format!(
            "{text:?} is not a {what}'s time: write it as listed (2026-12-05 22:00 UTC, or RFC 3339), or latest"
        )
    })?;
    let hits: Vec<DateTime<Utc>> = times
        .iter()
        .copied()
        .filter(|t| *t >= from && *t < from + span)
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!("no {what} at {}; {}", point_label(from), listed())),
        _ => Err(format!(
            "{} {what}s fall in {}; write the seconds (RFC 3339, as backup ls --json lists them)",
            hits.len(),
            point_label(from)
        )),
    }
}

/// A daily time as written (`HH:MM` or `HH:MM:SS`, UTC), as the API takes it (`HH:MM:SS`).
pub fn parse_schedule(text: &str) -> Result<String, String> {
    let t = text.trim();
    chrono::NaiveTime::parse_from_str(t, "%H:%M:%S")
        .or_else(|_| chrono::NaiveTime::parse_from_str(t, "%H:%M"))
        .map(|t| t.format("%H:%M:%S").to_string())
        .map_err(|_| format!("{text:?} is not a time of day: write HH:MM (UTC), e.g. 03:30"))
}

/// The machine's automated backup, subscribed, or why there is none to change.
pub fn subscribed(m: &super::Machine) -> Result<&Backups, String> {
    let who = format!("{}/{}", m.profile, m.name);
    if m.provider != super::ProviderKind::Ovh {
        return Err(format!(
            "{who} is a {}: automated backups are an OVHcloud VPS's",
            m.provider.machine_label()
        ));
    }
    match m.backups.as_deref() {
        Some(b) if b.subscribed => Ok(b),
        Some(_) => Err(format!(
            "{who} has no automated backup: the automatedBackup option is not subscribed"
        )),
        // The details say it as "could not be read: why".
        None => Err(format!(
            "the automated backup of {who} {}",
            m.details
                .iter()
                .find(|(k, _)| k == "automated backups")
                .map_or_else(
                    || "could not be read".into(),
                    |(_, v)| crate::safe::terminal(v).into_owned()
                )
        )),
    }
}

impl Backups {
    /// The restore point at `t`.
    pub fn point(&self, t: DateTime<Utc>) -> Option<&RestorePoint> {
        self.restore_points.iter().find(|p| p.time == t)
    }

    /// The mounted restore point at `t`.
    pub fn mounted(&self, t: DateTime<Utc>) -> Option<&Attached> {
        self.attached.iter().find(|a| a.time == t)
    }
}

/// Why `op` cannot apply to `m`'s backup as it stands (said before anything is sent, and
/// again by the engine on the machine as just read).
pub fn refusal(m: &super::Machine, op: &BackupOp) -> Option<String> {
    let b = match subscribed(m) {
        Ok(b) => b,
        Err(why) => return Some(why),
    };
    let who = format!("{}/{}", m.profile, m.name);
    let point =
        |id: &str| point_time(id).ok_or_else(|| format!("{id:?} is not a restore point's time"));
    match op {
        BackupOp::Restore { point: id, .. } => match point(id) {
            Err(why) => Some(why),
            Ok(t) => match b.point(t).map(|p| p.state) {
                None => Some(format!(
                    "{who} has no restore point at {} (OVHcloud keeps the last seven)",
                    point_label(t)
                )),
                Some(RestoreState::Available) => None,
                Some(RestoreState::Restoring) => Some(format!(
                    "the restore point of {} on {who} is being restored now",
                    point_label(t)
                )),
                Some(RestoreState::Restored) => Some(format!(
                    "the restore point of {} on {who} is mounted; detach it first",
                    point_label(t)
                )),
            },
        },
        BackupOp::Detach { point: id } => match point(id) {
            Err(why) => Some(why),
            Ok(t) => b.mounted(t).is_none().then(|| {
                format!(
                    "the restore point of {} is not mounted on {who}",
                    point_label(t)
                )
            }),
        },
        BackupOp::Reschedule { schedule } => parse_schedule(schedule).err(),
    }
}

/// Why `fresh` (just re-read) no longer allows `op` as it was seen.
pub fn stale_reason(fresh: &super::Machine, op: &BackupOp) -> Option<String> {
    refusal(fresh, op).map(|why| format!("{why}; refresh and choose again"))
}

/// What `fresh` (read again after a lost answer) shows of `op`.
pub fn outcome(fresh: &super::Machine, op: &BackupOp) -> String {
    let Ok(b) = subscribed(fresh) else {
        return "its automated backup could not be read".into();
    };
    let state = |id: &str| {
        point_time(id).map(|t| match (b.point(t), b.mounted(t)) {
            (_, Some(_)) => format!("the restore point of {} is mounted", point_label(t)),
            (Some(p), None) => format!(
                "the restore point of {} is {}",
                point_label(t),
                p.state.as_str()
            ),
            (None, None) => format!("there is no restore point at {}", point_label(t)),
        })
    };
    match op {
        BackupOp::Restore { point, .. } | BackupOp::Detach { point } => {
            state(point).unwrap_or_default()
        }
        BackupOp::Reschedule { .. } => match b.daily() {
            Some(d) => format!("the daily backup is at {d}"),
            None => "the daily backup has no time".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, h, 0, 0).unwrap()
    }

    #[test]
    fn the_summary_says_the_daily_time_the_points_and_the_newest() {
        let b = Backups {
            subscribed: true,
            state: "enabled".into(),
            schedule: Some("22:00:00".into()),
            restore_points: vec![
                RestorePoint {
                    time: at(1),
                    state: RestoreState::Available,
                },
                RestorePoint {
                    time: at(2),
                    state: RestoreState::Restored,
                },
            ],
            attached: vec![Attached {
                time: at(2),
                nfs: Some("10.0.0.1:/backup".into()),
                smb: None,
            }],
        };
        let now = at(5);
        assert_eq!(
            b.summary(|t| now - t),
            "daily at 22:00 UTC · 2 restore point(s), newest 3h ago · 1 mounted"
        );
        assert_eq!(
            Backups::unsubscribed().summary(|t| now - t),
            "not subscribed (the automatedBackup option)"
        );
        let odd = Backups {
            schedule: Some("03:15:30".into()),
            state: "disabled".into(),
            restore_points: Vec::new(),
            ..b
        };
        assert_eq!(
            odd.summary(|t| now - t),
            "daily at 03:15:30 UTC · disabled · no restore point yet · 1 mounted"
        );
    }

    /// A VPS with `points` (newest first, one a day at 22:00) and the first `mounted` mounted.
    fn mail(points: usize, mounted: usize) -> crate::model::Machine {
        let mut m = crate::model::machine::tests::vm("ovh", "vps-1", "mail", Vec::new());
        m.provider = crate::model::ProviderKind::Ovh;
        m.capabilities = crate::model::Capabilities::vps();
        let times: Vec<DateTime<Utc>> = (0..points)
            .map(|d| at(22) - chrono::Duration::days(i64::try_from(d).unwrap_or(0)))
            .collect();
        m.backups = Some(Box::new(Backups {
            subscribed: true,
            state: "enabled".into(),
            schedule: Some("22:00:00".into()),
            restore_points: times
                .iter()
                .enumerate()
                .map(|(i, t)| RestorePoint {
                    time: *t,
                    state: if i < mounted {
                        RestoreState::Restored
                    } else {
                        RestoreState::Available
                    },
                })
                .collect(),
            attached: times
                .iter()
                .take(mounted)
                .map(|t| Attached {
                    time: *t,
                    nfs: Some("10.0.0.1:/b".into()),
                    smb: None,
                })
                .collect(),
        }));
        m
    }

    #[test]
    fn a_point_is_named_as_listed_or_latest_and_a_miss_lists_the_points() {
        let times = [at(22), at(22) - chrono::Duration::days(1)];
        let pick = |text: &str| resolve_point(&times, text, "restore point");
        assert_eq!(pick("latest"), Ok(at(22)));
        assert_eq!(pick("2026-12-05 22:00"), Ok(at(22)));
        assert_eq!(pick("2026-12-05 22:00 UTC"), Ok(at(22)));
        assert_eq!(pick("2026-12-04T22:00:00+00:00"), Ok(times[1]));
        assert_eq!(pick("2026-12-05T23:00:00+01:00"), Ok(at(22)), "any offset");
        assert_eq!(pick("2026-12-05 22:00:00"), Ok(at(22)));
        let miss = pick("2026-12-03 22:00").unwrap_err();
        assert!(
            miss.contains("no restore point at 2026-12-03 22:00 UTC")
                && miss.contains("2026-12-05 22:00 UTC, 2026-12-04 22:00 UTC"),
            "{miss}"
        );
        assert!(pick("yesterday").unwrap_err().contains("latest"));
        let none = resolve_point(&[], "latest", "mounted restore point").unwrap_err();
        assert_eq!(none, "there is no mounted restore point");
        // Two points in one minute: the seconds decide.
        let close = [at(22), at(22) + chrono::Duration::seconds(30)];
        let two = resolve_point(&close, "2026-12-05 22:00", "restore point").unwrap_err();
        assert!(two.contains("2 restore points fall in"), "{two}");
        assert_eq!(
            resolve_point(&close, "2026-12-05 22:00:30", "restore point"),
            Ok(close[1])
        );
    }

    #[test]
    fn a_daily_time_is_hh_mm_in_utc() {
        assert_eq!(parse_schedule("03:30"), Ok("03:30:00".into()));
        assert_eq!(parse_schedule(" 23:59:30 "), Ok("23:59:30".into()));
        for bad in ["25:00", "3pm", "", "12:60"] {
            assert!(parse_schedule(bad).unwrap_err().contains("HH:MM"), "{bad}");
        }
    }

    #[test]
    fn a_restore_needs_an_available_point_and_a_detach_a_mounted_one() {
        let m = mail(3, 1);
        let restore = |t: DateTime<Utc>, full| BackupOp::Restore {
            point: point_id(t),
            full,
        };
        let newest = at(22);
        let older = newest - chrono::Duration::days(1);
        assert_eq!(refusal(&m, &restore(older, true)), None);
        let mounted = refusal(&m, &restore(newest, false)).unwrap();
        assert!(mounted.contains("is mounted; detach it first"), "{mounted}");
        let gone = refusal(&m, &restore(at(1), true)).unwrap();
        assert!(
            gone.contains("has no restore point at 2026-12-05 01:00 UTC"),
            "{gone}"
        );
        let detach = |t| BackupOp::Detach { point: point_id(t) };
        assert_eq!(refusal(&m, &detach(newest)), None);
        assert!(
            refusal(&m, &detach(older))
                .unwrap()
                .contains("is not mounted")
        );
        let mut vm = m.clone();
        vm.provider = crate::model::ProviderKind::Vsphere;
        assert!(
            refusal(&vm, &detach(newest))
                .unwrap()
                .contains("vSphere VM")
        );
        let mut unread = m.clone();
        unread.backups = None;
        unread
            .details
            .push(("automated backups".into(), "could not be read: 500".into()));
        let why = refusal(&unread, &detach(newest)).unwrap();
        assert_eq!(
            why,
            "the automated backup of ovh/mail could not be read: 500"
        );
    }

    #[test]
    fn the_re_check_refuses_a_point_mounted_or_gone_since_it_was_seen() {
        use crate::model::{ExpectedView, Operation};
        let seen_on = mail(3, 0);
        let older = at(22) - chrono::Duration::days(1);
        let op = Operation::Backup(BackupOp::Restore {
            point: point_id(older),
            full: true,
        });
        let seen = ExpectedView::of(&seen_on, &op);
        assert_eq!(seen.stale_reason(&seen_on, &op), None);
        // Another client mounted it.
        let mut now = seen_on.clone();
        if let Some(b) = now.backups.as_deref_mut() {
            b.restore_points[1].state = RestoreState::Restored;
        }
        let why = seen.stale_reason(&now, &op).unwrap();
        assert!(
            why.contains("is mounted") && why.ends_with("refresh and choose again"),
            "{why}"
        );
        // Rotated out (OVHcloud keeps seven).
        let mut now = seen_on.clone();
        if let Some(b) = now.backups.as_deref_mut() {
            b.restore_points.remove(1);
        }
        assert!(
            seen.stale_reason(&now, &op)
                .unwrap()
                .contains("has no restore point")
        );
        // The server was replaced: the instance changed.
        let mut now = seen_on.clone();
        now.instance = Some("other".into());
        assert!(
            seen.stale_reason(&now, &op)
                .unwrap()
                .contains("another instance")
        );
    }

    #[test]
    fn a_full_restore_is_typed_like_a_revert_and_says_what_is_lost() {
        use crate::model::change::{Confirmation, Context, describe};
        let protect = crate::model::cleanup::Protect::new(&[]);
        let ctx = Context {
            now: at(23),
            type_to_confirm: true,
            protect: &protect,
            allow_low_space: false,
        };
        let m = mail(2, 0);
        let op = |full| {
            crate::model::Operation::Backup(BackupOp::Restore {
                point: point_id(at(22)),
                full,
            })
        };
        let full = describe(&m, op(true), ctx).unwrap();
        assert_eq!(full.confirmation, Confirmation::TypeName("mail".into()));
        assert!(
            full.lines
                .iter()
                .any(|l| l.contains("everything written since is lost"))
        );
        assert!(
            full.summary.contains("2026-12-05 22:00 UTC (1h ago)"),
            "{}",
            full.summary
        );
        assert_eq!(full.steps[0].target, "2026-12-05 22:00 UTC");
        let file = describe(&m, op(false), ctx).unwrap();
        assert_eq!(file.confirmation, Confirmation::YesNo);
        // The daily time is the form's answer.
        let mut c = describe(
            &m,
            crate::model::Operation::Backup(BackupOp::Reschedule {
                schedule: "22:00:00".into(),
            }),
            ctx,
        )
        .unwrap();
        c.fields[0].value = crate::model::change::Value::Text("4:05".into());
        let steps = c.answered().unwrap();
        assert_eq!(
            steps[0].op,
            crate::model::Operation::Backup(BackupOp::Reschedule {
                schedule: "04:05:00".into()
            })
        );
        c.fields[0].value = crate::model::change::Value::Text("later".into());
        assert!(c.answered().unwrap_err().0.starts_with("daily time:"));
    }
}
