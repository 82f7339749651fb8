//! A VPS's automated backup (OVHcloud): the daily backup the VPS snapshot guide points to,
//! kept as up to seven restore points beside the one snapshot (docs/backups.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
}
