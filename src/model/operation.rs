//! Operations on machines and snapshots.

use serde::{Deserialize, Serialize};

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
    },
    /// Revert to the current snapshot.
    RevertCurrent {
        /// Leave the VM off even if the snapshot has memory.
        suppress_power_on: bool,
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
        )
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

/// What the caller saw when it chose the target: re-checked before a destructive operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedView {
    /// Ids from the root to the target snapshot, as seen.
    pub target_path: Option<Vec<String>>,
    /// The current snapshot, as seen.
    pub current: Option<String>,
    /// Every snapshot id of the machine, as seen (sorted).
    pub snapshot_ids: Vec<String>,
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
        ExpectedView {
            target_path: op.snapshot().and_then(|id| machine.id_path(id)),
            current: machine.current.clone(),
            snapshot_ids,
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
        match op {
            Operation::RevertCurrent { .. } if fresh.current != self.current => Some(format!(
                "the current snapshot of {who} changed since it was read; refresh and check it again"
            )),
            Operation::DeleteAll | Operation::Replace { .. } => {
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
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::tests::{snap, vm};

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
            suppress_power_on: false,
        };
        let seen = ExpectedView::of(&cur, &rc);
        let mut now = cur.clone();
        now.current = Some("s1".into());
        assert!(seen.stale_reason(&now, &rc).is_some());
        assert!(seen.stale_reason(&cur, &rc).is_none());
    }

    #[test]
    fn destructive_set() {
        assert!(Operation::DeleteAll.is_destructive());
        assert!(Operation::Consolidate.is_destructive());
        assert!(!Operation::Cancel { task: "t".into() }.is_destructive());
        assert!(
            !Operation::Take {
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
