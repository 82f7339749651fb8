//! Operations on machines and snapshots.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The quiesce time limits vSphere accepts (`GuestQuiesceSpec.timeout`), in minutes.
pub const QUIESCE_MINUTES: std::ops::RangeInclusive<u16> = 5..=240;

/// A quiesce time limit as written (`10m`, `2h`, `90m`) in whole minutes within
/// [`QUIESCE_MINUTES`].
pub fn parse_quiesce_timeout(text: &str) -> Result<u16, String> {
    let d = super::parse_duration(text)?;
    let (min, max) = (QUIESCE_MINUTES.start(), QUIESCE_MINUTES.end());
    let bounds = || format!("a quiesce time limit is {min} to {max} minutes (vSphere's bounds)");
    if d.num_seconds() % 60 != 0 {
        return Err(format!("{text}: write whole minutes; {}", bounds()));
    }
    u16::try_from(d.num_minutes())
        .ok()
        .filter(|m| QUIESCE_MINUTES.contains(m))
        .ok_or_else(|| format!("{text}: {}", bounds()))
}

/// One change a user can ask for. Snapshot fields are ids, never names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// Take a snapshot (a child of the current one on vSphere).
    Take {
        /// Snapshot name.
        name: String,
        /// Description.
        description: String,
        /// Include memory.
        memory: bool,
        /// Quiesce guest file systems.
        quiesce: bool,
        /// vSphere: the longest the quiesce may take, in minutes (`QUIESCE_MINUTES`), asked
        /// through `CreateSnapshotEx_Task`; `None`: the server's own limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quiesce_timeout: Option<u16>,
    },
    /// VPS only: delete the existing snapshot, wait, then take a new one.
    Replace {
        /// Description of the new snapshot.
        description: String,
    },
    /// Revert to a snapshot.
    Revert {
        /// Snapshot id.
        snapshot: String,
        /// Leave the VM off even if the snapshot has memory.
        suppress_power_on: bool,
        /// Start the guest afterwards (Proxmox VE, a snapshot without RAM state).
        #[serde(default)]
        start: bool,
    },
    /// Revert to the current snapshot.
    RevertCurrent {
        /// Leave the VM off even if the snapshot has memory.
        suppress_power_on: bool,
        /// Start the guest afterwards (Proxmox VE, a snapshot without RAM state).
        #[serde(default)]
        start: bool,
    },
    /// Delete one snapshot, or its subtree.
    Delete {
        /// Snapshot id.
        snapshot: String,
        /// Remove the children too.
        children: bool,
    },
    /// Delete every snapshot of the machine.
    DeleteAll,
    /// Consolidate disks.
    Consolidate,
    /// Rename or describe a snapshot.
    Rename {
        /// Snapshot id.
        snapshot: String,
        /// New name, if changing.
        name: Option<String>,
        /// New description, if changing.
        description: Option<String>,
    },
    /// Cancel a running task.
    Cancel {
        /// Task id.
        task: String,
    },
    /// VPS: a change of its automated backup (docs/backups.md).
    Backup(BackupOp),
    /// VPS: order an option it lacks — an order created for the account to pay, never paid.
    Order(Box<super::order::OptionOrder>),
}

/// A change of a VPS's automated backup. A restore point is named by its time, written
/// by [`super::backups::point_id`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupOp {
    /// Restore a restore point: whole (`full`: the VPS's disk returns to it), or mounted
    /// as files beside the running VPS (`file`).
    Restore {
        /// The restore point.
        point: String,
        /// Whole; else mounted.
        full: bool,
    },
    /// Unmount a restore point a file restore mounted.
    Detach {
        /// The restore point.
        point: String,
    },
    /// Move the daily backup's time.
    Reschedule {
        /// `HH:MM:SS`, UTC.
        schedule: String,
    },
}

impl Operation {
    /// The operation's name as shown in tasks and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Take { .. } => "take",
            Operation::Replace { .. } => "replace",
            Operation::Revert { .. } => "revert",
            Operation::RevertCurrent { .. } => "revert-current",
            Operation::Delete {
                children: false, ..
            } => "delete",
            Operation::Delete { children: true, .. } => "delete-children",
            Operation::DeleteAll => "delete-all",
            Operation::Consolidate => "consolidate",
            Operation::Rename { .. } => "rename",
            Operation::Cancel { .. } => "cancel",
            Operation::Backup(BackupOp::Restore { full: true, .. }) => "backup-restore-full",
            Operation::Backup(BackupOp::Restore { full: false, .. }) => "backup-restore-file",
            Operation::Backup(BackupOp::Detach { .. }) => "backup-detach",
            Operation::Backup(BackupOp::Reschedule { .. }) => "backup-reschedule",
            Operation::Order(_) => "order-option",
        }
    }

    /// Destructive operations need confirmation and the stale-view re-check.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Operation::Replace { .. }
                | Operation::Revert { .. }
                | Operation::RevertCurrent { .. }
                | Operation::Delete { .. }
                | Operation::DeleteAll
                | Operation::Consolidate
                | Operation::Backup(BackupOp::Restore { full: true, .. })
                // Not lost data but money: confirmed, and re-checked (already subscribed).
                | Operation::Order(_)
        )
    }

    /// What the operation aims at, for the audit log and the re-check: a snapshot's id, or
    /// a restore point's time.
    pub fn target(&self) -> Option<&str> {
        match self {
            Operation::Backup(BackupOp::Restore { point, .. } | BackupOp::Detach { point }) => {
                Some(point)
            }
            Operation::Order(o) => Some(o.option.api()),
            _ => self.snapshot(),
        }
    }

    /// The snapshot this operation targets, if any.
    pub fn snapshot(&self) -> Option<&str> {
        match self {
            Operation::Revert { snapshot, .. }
            | Operation::Delete { snapshot, .. }
            | Operation::Rename { snapshot, .. } => Some(snapshot),
            _ => None,
        }
    }
}

/// One snapshot as the caller saw it: its id and what the operator read of it. An id
/// alone is not an identity: a server that was restarted or rebuilt hands the same ids to
/// other snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenSnapshot {
    /// Back-end id.
    pub id: String,
    /// Name, as shown.
    pub name: String,
    /// Creation time.
    pub created: DateTime<Utc>,
}

/// What the caller saw when it chose the target: re-checked before a destructive operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedView {
    /// Ids from the root to the target snapshot, as seen.
    pub target_path: Option<Vec<String>>,
    /// The current snapshot, as seen.
    pub current: Option<String>,
    /// Every snapshot id of the machine, as seen (sorted).
    pub snapshot_ids: Vec<String>,
    /// What identifies the snapshots relied on beyond their ids (boxed: a view travels in
    /// every run command).
    pub identity: Box<Identity>,
}

/// What a view saw of the snapshots an operation relies on, and of their server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// The snapshots the operation relies on, as seen: the path to its target (or to the
    /// current snapshot), target first, or every snapshot for one that deletes them all.
    pub seen: Vec<SeenSnapshot>,
    /// The server instance the machine was read from ([`super::Machine::instance`]).
    pub instance: Option<String>,
    /// The operator chose to delete though a datastore lacks the room to merge
    /// (`--allow-low-space`): the re-check does not refuse for it.
    pub low_space_allowed: bool,
    /// A step of a delete-all made one snapshot at a time: the machine must hold exactly
    /// `snapshot_ids` (those seen, less the plan's earlier steps'), so a snapshot taken
    /// meanwhile stops the plan instead of being left behind by "all".
    pub whole_set: bool,
}

/// The snapshots whose identity `op` on `machine` relies on: the path down to its target
/// (the current snapshot for a revert to it), or all of them for a delete-all or replace.
fn relied_on<'a>(machine: &'a super::Machine, op: &Operation) -> Vec<&'a super::Snapshot> {
    let target = match op {
        Operation::DeleteAll | Operation::Replace { .. } => {
            return machine.walk().into_iter().map(|(_, s)| s).collect();
        }
        Operation::RevertCurrent { .. } => machine.current.as_deref(),
        _ => op.snapshot(),
    };
    // The target first: a refusal names what the operator chose before what lies above it.
    target
        .and_then(|id| machine.id_path(id))
        .unwrap_or_default()
        .iter()
        .rev()
        .filter_map(|id| machine.find(id))
        .collect()
}

/// A snapshot named by its id in a sentence: `snapshot-17` as it is, `snapshot 42` for an
/// id that does not say what it is.
fn snapshot_label(id: &str) -> String {
    if id.starts_with("snapshot") {
        id.to_string()
    } else {
        format!("snapshot {id}")
    }
}

/// A name as the operator saw it: the TUI shows names made safe (`safe::terminal`, which
/// is idempotent), so a raw name and its shown form are the same name.
fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    crate::safe::terminal(name)
}

impl ExpectedView {
    /// Record what `machine` looks like now for `op`.
    pub fn of(machine: &super::Machine, op: &Operation) -> Self {
        let mut snapshot_ids: Vec<String> = machine
            .walk()
            .into_iter()
            .map(|(_, s)| s.id.clone())
            .collect();
        snapshot_ids.sort();
        let seen = relied_on(machine, op)
            .into_iter()
            .map(|s| SeenSnapshot {
                id: s.id.clone(),
                name: s.name.clone(),
                created: s.created,
            })
            .collect();
        ExpectedView {
            target_path: op.snapshot().and_then(|id| machine.id_path(id)),
            current: machine.current.clone(),
            snapshot_ids,
            identity: Box::new(Identity {
                whole_set: false,
                seen,
                instance: machine.instance.clone(),
                low_space_allowed: false,
            }),
        }
    }

    /// The snapshots `fresh` has that this view did not (what a take made, or another
    /// client), in tree order.
    pub fn new_snapshots(&self, fresh: &super::Machine) -> Vec<String> {
        fresh
            .walk()
            .into_iter()
            .map(|(_, s)| s.id.clone())
            .filter(|id| self.snapshot_ids.binary_search(id).is_err())
            .collect()
    }

    /// Why `fresh` (just re-read) no longer matches this view for `op`, if it does not.
    pub fn stale_reason(&self, fresh: &super::Machine, op: &Operation) -> Option<String> {
        if let Some(why) = fresh.unreadable_sentence() {
            return Some(why);
        }
        let who = format!("{}/{}", fresh.profile, fresh.name);
        if let Some(id) = op.snapshot() {
            match fresh.id_path(id) {
                None => {
                    return Some(format!(
                        "snapshot {id} no longer exists on {who}; refresh and choose again"
                    ));
                }
                Some(path) if Some(&path) != self.target_path.as_ref() => {
                    return Some(format!(
                        "snapshot {id} has moved in the tree of {who}; refresh and check it again"
                    ));
                }
                Some(_) => {}
            }
        }
        let by_op = match op {
            Operation::RevertCurrent { .. } if fresh.current != self.current => Some(format!(
                "the current snapshot of {who} changed since it was read; refresh and check it again"
            )),
            Operation::DeleteAll | Operation::Replace { .. } => self.set_changed(fresh, &who),
            Operation::Backup(b) => super::backups::stale_reason(fresh, b),
            Operation::Order(o) => super::order::refusal(fresh, o.option)
                .map(|why| format!("{why}; nothing was ordered")),
            _ if self.identity.whole_set => self.set_changed(fresh, &who),
            _ => None,
        };
        if by_op.is_some() {
            return by_op;
        }
        // The same ids in the same places may still be other snapshots: a snapshot is its
        // id, what the operator saw of it, and the server instance that gave the id.
        let changed = self.identity_changes(fresh, &who);
        if !changed.is_empty() {
            return Some(format!("{}; refresh and choose again", changed.join("; ")));
        }
        // The room to merge, on the datastores as just read (docs/safety.md).
        if !self.identity.low_space_allowed {
            return super::storage::shortage(&super::storage::room_of(fresh, op))
                .map(|why| format!("{who}: {why}"));
        }
        None
    }

    /// Why `fresh`'s snapshots are not the set this view holds, if they are not.
    fn set_changed(&self, fresh: &super::Machine, who: &str) -> Option<String> {
        let mut ids: Vec<String> = fresh
            .walk()
            .into_iter()
            .map(|(_, s)| s.id.clone())
            .collect();
        ids.sort();
        (ids != self.snapshot_ids).then(|| {
            format!(
                "the snapshots of {who} changed since they were read; refresh and check them again"
            )
        })
    }

    /// What differs between the snapshots this view relied on and the same ids in `fresh`,
    /// and whether `fresh` came from another server instance: one clause each.
    fn identity_changes(&self, fresh: &super::Machine, who: &str) -> Vec<String> {
        let mut changed = Vec::new();
        let Identity { seen, instance, .. } = &*self.identity;
        for s in seen {
            let label = snapshot_label(&s.id);
            let Some(now) = fresh.find(&s.id) else {
                changed.push(format!("{label} no longer exists on {who}"));
                continue;
            };
            let mut parts = Vec::new();
            if shown(&now.name) != shown(&s.name) {
                parts.push(format!(
                    "is now named \"{}\" (was \"{}\")",
                    shown(&now.name),
                    shown(&s.name)
                ));
            }
            if now.created != s.created {
                // To the second, unless only a fraction of it differs.
                let second = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
                let fraction = second(now.created) == second(s.created);
                let at = |t: DateTime<Utc>| {
                    if fraction {
                        t.format("%Y-%m-%d %H:%M:%S%.f UTC").to_string()
                    } else {
                        second(t)
                    }
                };
                parts.push(format!(
                    "was taken {} (was {})",
                    at(now.created),
                    at(s.created)
                ));
            }
            if !parts.is_empty() {
                changed.push(format!("{label} on {who} {}", parts.join(" and ")));
            }
        }
        if fresh.instance != *instance {
            let label = |i: &Option<String>| match i {
                Some(i) => shown(i).into_owned(),
                None => "none".to_string(),
            };
            changed.push(format!(
                "the server of {who} is another instance than the one read (instance {}, was {}): \
                 it was restarted or replaced, and its ids may name other snapshots",
                label(&fresh.instance),
                label(instance)
            ));
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiesce_time_limit_is_whole_minutes_within_vsphere_bounds() {
        assert_eq!(parse_quiesce_timeout("5m"), Ok(5));
        assert_eq!(parse_quiesce_timeout("90m"), Ok(90));
        assert_eq!(parse_quiesce_timeout("4h"), Ok(240));
        assert!(
            parse_quiesce_timeout("4m")
                .unwrap_err()
                .contains("5 to 240 minutes")
        );
        assert!(
            parse_quiesce_timeout("241m")
                .unwrap_err()
                .contains("5 to 240 minutes")
        );
        assert!(
            parse_quiesce_timeout("30d")
                .unwrap_err()
                .contains("5 to 240 minutes")
        );
        assert!(
            parse_quiesce_timeout("330s")
                .unwrap_err()
                .contains("whole minutes")
        );
        assert!(parse_quiesce_timeout("soon").is_err());
    }
    use crate::model::machine::tests::{snap, vm};

    #[test]
    fn the_re_check_refuses_a_delete_the_datastore_no_longer_has_room_for() {
        use crate::model::storage::{Datastore, Delta, Storage};
        let with_free = |free: u64| {
            let mut m = vm("lab", "vm-1", "web", vec![snap("s1", "a", vec![])]);
            m.storage = Some(Box::new(Storage {
                phantom_deltas: Vec::new(),
                deltas: vec![Delta {
                    snapshot: Some("s1".into()),
                    datastore: "ds1".into(),
                    bytes: 4 << 30,
                }],
                datastores: vec![Datastore {
                    name: "ds1".into(),
                    free_bytes: Some(free),
                    capacity_bytes: None,
                }],
            }));
            m
        };
        let op = Operation::Delete {
            snapshot: "s1".into(),
            children: false,
        };
        let mut seen = ExpectedView::of(&with_free(100 << 30), &op);
        assert_eq!(seen.stale_reason(&with_free(100 << 30), &op), None);
        let why = seen.stale_reason(&with_free(1 << 30), &op).unwrap();
        assert!(
            why.starts_with("lab/web: not enough room on datastore ds1"),
            "{why}"
        );
        seen.identity.low_space_allowed = true;
        assert_eq!(seen.stale_reason(&with_free(1 << 30), &op), None);
    }

    #[test]
    fn stale_view_detects_removed_moved_and_changed() {
        let m = vm(
            "lab",
            "vm-1",
            "web",
            vec![snap(
                "s1",
                "a",
                vec![snap("s2", "b", vec![snap("s3", "c", vec![])])],
            )],
        );
        let op = Operation::Delete {
            snapshot: "s3".into(),
            children: false,
        };
        let seen = ExpectedView::of(&m, &op);
        assert_eq!(seen.stale_reason(&m, &op), None);
        // s2 removed behind our back: s3 re-parented to s1 → moved.
        let moved = vm(
            "lab",
            "vm-1",
            "web",
            vec![snap("s1", "a", vec![snap("s3", "c", vec![])])],
        );
        assert!(seen.stale_reason(&moved, &op).unwrap().contains("moved"));
        let gone = vm("lab", "vm-1", "web", vec![snap("s1", "a", vec![])]);
        assert!(
            seen.stale_reason(&gone, &op)
                .unwrap()
                .contains("no longer exists")
        );
        // Delete-all refuses when a snapshot appeared.
        let all = ExpectedView::of(&gone, &Operation::DeleteAll);
        assert!(all.stale_reason(&m, &Operation::DeleteAll).is_some());
        assert!(all.stale_reason(&gone, &Operation::DeleteAll).is_none());
        // Revert-current refuses when the current snapshot moved.
        let mut cur = m.clone();
        cur.current = Some("s2".into());
        let rc = Operation::RevertCurrent {
            start: false,
            suppress_power_on: false,
        };
        let seen = ExpectedView::of(&cur, &rc);
        let mut now = cur.clone();
        now.current = Some("s1".into());
        assert!(seen.stale_reason(&now, &rc).is_some());
        assert!(seen.stale_reason(&cur, &rc).is_none());
    }

    /// The same ids in the same places, but other snapshots: the view is stale, and the
    /// reason says what changed.
    #[test]
    fn a_reused_id_is_not_the_snapshot_that_was_seen() {
        let seen_tree = vm(
            "pcc",
            "vm-102",
            "web-02",
            vec![snap(
                "snapshot-1",
                "base",
                vec![snap("snapshot-1002", "operator-snap", vec![])],
            )],
        );
        let op = Operation::Delete {
            snapshot: "snapshot-1002".into(),
            children: false,
        };
        let seen = ExpectedView::of(&seen_tree, &op);
        // Another client's snapshot now has the id, under the same parent.
        let renamed = vm(
            "pcc",
            "vm-102",
            "web-02",
            vec![snap(
                "snapshot-1",
                "base",
                vec![snap("snapshot-1002", "someone-elses", vec![])],
            )],
        );
        assert_eq!(
            seen.stale_reason(&renamed, &op).as_deref(),
            Some(
                "snapshot-1002 on pcc/web-02 is now named \"someone-elses\" (was \"operator-snap\"); \
                 refresh and choose again"
            )
        );
        // Same name, another creation time: another snapshot.
        let mut retaken = seen_tree.clone();
        retaken.snapshots[0].children[0].created += chrono::Duration::seconds(90);
        let why = seen.stale_reason(&retaken, &op).unwrap();
        assert_eq!(
            why,
            "snapshot-1002 on pcc/web-02 was taken 2026-11-01 10:01:30 UTC \
             (was 2026-11-01 10:00:00 UTC); refresh and choose again"
        );
        // A fraction of a second is said as such.
        let mut fraction = seen_tree.clone();
        fraction.snapshots[0].children[0].created += chrono::Duration::milliseconds(250);
        let why = seen.stale_reason(&fraction, &op).unwrap();
        assert!(
            why.contains("was taken 2026-11-01 10:00:00.250 UTC (was 2026-11-01 10:00:00 UTC)"),
            "{why}"
        );
        // An ancestor on the path counts too: it is what the operator saw above the target.
        let mut parent = seen_tree.clone();
        parent.snapshots[0].name = "other-base".into();
        let why = seen.stale_reason(&parent, &op).unwrap();
        assert!(
            why.contains("snapshot-1 on pcc/web-02 is now named \"other-base\""),
            "{why}"
        );
        // A snapshot elsewhere in the tree renamed does not matter to this delete.
        let mut elsewhere = seen_tree.clone();
        elsewhere.snapshots[0]
            .children
            .push(snap("snapshot-9", "x", vec![]));
        assert_eq!(seen.stale_reason(&elsewhere, &op), None);
        // Delete-all relies on every snapshot.
        let all = ExpectedView::of(&elsewhere, &Operation::DeleteAll);
        let mut nine = elsewhere.clone();
        nine.snapshots[0].children[1].name = "y".into();
        let why = all.stale_reason(&nine, &Operation::DeleteAll).unwrap();
        assert!(
            why.contains("snapshot-9 on pcc/web-02 is now named \"y\" (was \"x\")"),
            "{why}"
        );
        // A name shown made safe is the same name.
        let mut odd = seen_tree.clone();
        odd.snapshots[0].children[0].name = "a\nb".into();
        let shown_view = {
            let mut shown = odd.clone();
            shown.snapshots[0].children[0].name = "a\\nb".into();
            ExpectedView::of(&shown, &op)
        };
        assert_eq!(shown_view.stale_reason(&odd, &op), None);
    }

    /// Ids read from one server instance mean nothing on another.
    #[test]
    fn another_server_instance_is_refused() {
        let mut m = vm(
            "pcc",
            "vm-102",
            "web-02",
            vec![snap("snapshot-1002", "s", vec![])],
        );
        m.instance = Some("instance-a".into());
        let op = Operation::Delete {
            snapshot: "snapshot-1002".into(),
            children: false,
        };
        let seen = ExpectedView::of(&m, &op);
        assert_eq!(seen.stale_reason(&m, &op), None);
        let mut restarted = m.clone();
        restarted.instance = Some("instance-b".into());
        let why = seen.stale_reason(&restarted, &op).unwrap();
        assert!(
            why.contains("the server of pcc/web-02 is another instance than the one read (instance instance-b, was instance-a)"),
            "{why}"
        );
        // A take relies on no snapshot, but a view of it still names its instance.
        let take = Operation::Consolidate;
        let seen = ExpectedView::of(&m, &take);
        assert!(seen.stale_reason(&restarted, &take).is_some());
    }

    #[test]
    fn destructive_set() {
        assert!(Operation::DeleteAll.is_destructive());
        assert!(Operation::Consolidate.is_destructive());
        assert!(!Operation::Cancel { task: "t".into() }.is_destructive());
        assert!(
            !Operation::Take {
                quiesce_timeout: None,
                name: "n".into(),
                description: String::new(),
                memory: false,
                quiesce: false
            }
            .is_destructive()
        );
        assert_eq!(
            Operation::Delete {
                snapshot: "s".into(),
                children: true
            }
            .name(),
            "delete-children"
        );
    }
}
