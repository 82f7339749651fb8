//! What a VM's files say of its disks (vSphere's `layoutEx`) and of the datastores they are
//! on: delta disks no snapshot owns (phantom deltas), and whether a delete has room to merge
//! its deltas (docs/safety.md, "Room to consolidate").

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Machine, Operation};

/// A VM's disks and datastores as its files tell them; empty where the back end does not
/// say (a VPS) or the files were not read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    /// Delta disks the VM runs on that no snapshot in its tree owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phantom_deltas: Vec<PhantomDelta>,
    /// The delta disk data each snapshot owns, by datastore: what deleting it merges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<Delta>,
    /// The datastores the VM's files are on, with their free space when read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datastores: Vec<Datastore>,
}

impl Storage {
    /// Nothing known.
    pub fn is_empty(&self) -> bool {
        self.phantom_deltas.is_empty() && self.deltas.is_empty() && self.datastores.is_empty()
    }
}

/// A delta disk file in the chain a VM runs on that no snapshot owns: the VM writes to (or
/// reads through) a file that deleting snapshots will never merge. Consolidating its disks
/// merges it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhantomDelta {
    /// The virtual disk's device key (vSphere numbers the first disk 2000).
    pub disk: i32,
    /// The delta's descriptor file, as the server names it (`[ds1] vm/vm-000002.vmdk`).
    /// Foreign text: made safe where shown.
    pub file: String,
}

/// Delta disk bytes on one datastore, owned by a snapshot or by the running VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// The snapshot that owns them; `None` for the running delta written since the current
    /// snapshot.
    pub snapshot: Option<String>,
    /// The datastore's name.
    pub datastore: String,
    /// Their size.
    pub bytes: u64,
}

/// A datastore as read with the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Datastore {
    /// Its name (what a file's `[name]` prefix says).
    pub name: String,
    /// Free space (`summary.freeSpace`), when the server said.
    pub free_bytes: Option<u64>,
    /// Capacity (`summary.capacity`), when the server said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
}

/// The files of the phantom deltas `m` runs on (none where they were not read).
pub fn phantom_files(m: &Machine) -> Vec<&str> {
    m.storage
        .iter()
        .flat_map(|s| &s.phantom_deltas)
        .map(|p| p.file.as_str())
        .collect()
}

/// The datastore of a file named as vSphere names them (`[ds1] dir/file.vmdk` → `ds1`).
pub fn datastore_of(file: &str) -> Option<&str> {
    let rest = file.trim_start().strip_prefix('[')?;
    let end = rest.find(']')?;
    Some(&rest[..end])
}

/// What deleting some snapshots of a machine may need on one datastore, against its free
/// space: the `room` of a plan and of a delete's confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    /// The datastore's name.
    pub datastore: String,
    /// At most this many bytes merged onto it: the delta disks the deleted snapshots own.
    pub needed_bytes: u64,
    /// Its free space as read with the inventory.
    pub free_bytes: u64,
    /// `free_bytes` holds `needed_bytes`.
    pub enough: bool,
}

impl Room {
    /// One line for a plan, a dialog or a refusal: "datastore ds1: needs up to 12.0 GiB,
    /// 3.1 GiB free — not enough room".
    pub fn sentence(&self) -> String {
        use super::health::human_size;
        let verdict = if self.enough {
            "enough room"
        } else {
            "not enough room"
        };
        format!(
            "datastore {}: merging needs up to {}, {} free — {verdict}",
            self.datastore,
            human_size(self.needed_bytes),
            human_size(self.free_bytes)
        )
    }
}

/// The room deleting `deleted` (snapshot ids) of `m` needs, with the running delta merged
/// too when `running` (a delete-all): per datastore holding a merged delta whose free space
/// is known, the tightest first (least free after the merge). Empty when nothing is merged
/// or nothing is known (a VPS; a VM whose files were not read).
pub fn room(m: &Machine, deleted: &HashSet<&str>, running: bool) -> Vec<Room> {
    let Some(storage) = m.storage.as_deref() else {
        return Vec::new();
    };
    let mut needed: BTreeMap<&str, u64> = BTreeMap::new();
    for d in &storage.deltas {
        let merged = match &d.snapshot {
            Some(id) => deleted.contains(id.as_str()),
            None => running,
        };
        if merged {
            let n = needed.entry(d.datastore.as_str()).or_default();
            *n = n.saturating_add(d.bytes);
        }
    }
    let mut out: Vec<Room> = needed
        .into_iter()
        .filter(|(_, bytes)| *bytes > 0)
        .filter_map(|(name, needed_bytes)| {
            let free_bytes = storage
                .datastores
                .iter()
                .find(|d| d.name == name)
                .and_then(|d| d.free_bytes)?;
            Some(Room {
                datastore: name.to_string(),
                needed_bytes,
                free_bytes,
                enough: free_bytes >= needed_bytes,
            })
        })
        .collect();
    out.sort_by_key(|r| (r.enough, r.free_bytes.saturating_sub(r.needed_bytes)));
    out
}

/// The room an operation on `m` needs: a delete (with its subtree when it takes the
/// children) or a delete-all; empty for the others, which merge nothing.
pub fn room_of(m: &Machine, op: &Operation) -> Vec<Room> {
    match op {
        Operation::Delete { snapshot, children } => {
            let mut ids: HashSet<&str> = HashSet::new();
            if *children {
                if let Some(s) = m.find(snapshot) {
                    let mut stack = vec![s];
                    while let Some(n) = stack.pop() {
                        ids.insert(n.id.as_str());
                        stack.extend(n.children.iter());
                    }
                }
            } else {
                ids.insert(snapshot.as_str());
            }
            room(m, &ids, false)
        }
        Operation::DeleteAll => {
            let ids: HashSet<&str> = m.walk().into_iter().map(|(_, s)| s.id.as_str()).collect();
            room(m, &ids, true)
        }
        _ => Vec::new(),
    }
}

/// The first datastore short of room, as the sentence a refusal gives, with how to go on
/// anyway.
pub fn shortage(rooms: &[Room]) -> Option<String> {
    use super::health::human_size;
    rooms.iter().find(|r| !r.enough).map(|r| {
        format!(
            "not enough room on datastore {} to merge ({} free, up to {} needed): the merge \
             could fill it and stop its VMs; --allow-low-space runs it anyway",
            r.datastore,
            human_size(r.free_bytes),
            human_size(r.needed_bytes)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::fixtures::{snap, vm};

    /// A VM with the chain `ids[0] ─ ids[1] ─ …`, the last current.
    fn vm_with_chain(ids: &[&str]) -> Machine {
        let mut tree = Vec::new();
        for id in ids.iter().rev() {
            tree = vec![snap(id, id, tree)];
        }
        let mut m = vm("lab", "vm-1", "web", tree);
        m.current = ids.last().map(|s| (*s).to_string());
        m
    }

    fn storage(deltas: &[(Option<&str>, &str, u64)], free: &[(&str, u64)]) -> Storage {
        Storage {
            phantom_deltas: Vec::new(),
            deltas: deltas
                .iter()
                .map(|(s, ds, b)| Delta {
                    snapshot: s.map(String::from),
                    datastore: (*ds).into(),
                    bytes: *b,
                })
                .collect(),
            datastores: free
                .iter()
                .map(|(n, f)| Datastore {
                    name: (*n).into(),
                    free_bytes: Some(*f),
                    capacity_bytes: None,
                })
                .collect(),
        }
    }

    #[test]
    fn datastore_names_come_from_the_brackets() {
        assert_eq!(datastore_of("[ds1] vm/vm-000001.vmdk"), Some("ds1"));
        assert_eq!(datastore_of("[my store] a.vmdk"), Some("my store"));
        assert_eq!(datastore_of("vm.vmdk"), None);
        assert_eq!(datastore_of("[unclosed vm.vmdk"), None);
    }

    #[test]
    fn room_adds_the_deleted_deltas_per_datastore_tightest_first() {
        // A chain root -> mid -> leaf (current).
        let mut m = vm_with_chain(&["root", "mid", "leaf"]);
        m.storage = Some(Box::new(storage(
            &[
                (Some("root"), "big", 10 << 30),
                (Some("mid"), "big", 5 << 30),
                (Some("mid"), "small", 3 << 30),
                (Some("leaf"), "small", 1 << 30),
                (None, "small", 2 << 30),
            ],
            &[("big", 100 << 30), ("small", 2 << 30)],
        )));
        let ids: HashSet<&str> = ["mid"].into_iter().collect();
        let r = room(&m, &ids, false);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].datastore, "small");
        assert_eq!((r[0].needed_bytes, r[0].enough), (3 << 30, false));
        assert_eq!((r[1].needed_bytes, r[1].enough), (5 << 30, true));
        assert_eq!(
            shortage(&r).unwrap(),
            "not enough room on datastore small to merge (2.0 GiB free, up to 3.0 GiB needed): \
             the merge could fill it and stop its VMs; --allow-low-space runs it anyway"
        );
        // Deleting the leaf alone fits; a delete-all merges the running delta too.
        let leaf = room_of(
            &m,
            &Operation::Delete {
                snapshot: "leaf".into(),
                children: false,
            },
        );
        assert_eq!(leaf.len(), 1);
        assert!(leaf[0].enough);
        assert_eq!(shortage(&leaf), None);
        let all = room_of(&m, &Operation::DeleteAll);
        let small = all.iter().find(|r| r.datastore == "small").unwrap();
        assert_eq!(small.needed_bytes, 6 << 30);
        // A subtree delete from mid takes the leaf's delta too.
        let subtree = room_of(
            &m,
            &Operation::Delete {
                snapshot: "mid".into(),
                children: true,
            },
        );
        let small = subtree.iter().find(|r| r.datastore == "small").unwrap();
        assert_eq!(small.needed_bytes, 4 << 30);
    }

    #[test]
    fn nothing_is_said_where_nothing_is_known() {
        let mut m = vm_with_chain(&["a"]);
        let ids: HashSet<&str> = ["a"].into_iter().collect();
        assert!(room(&m, &ids, false).is_empty());
        // Deltas on a datastore whose free space was not read: no verdict.
        m.storage = Some(Box::new(storage(&[(Some("a"), "ds9", 1 << 30)], &[])));
        assert!(room(&m, &ids, false).is_empty());
    }
}
