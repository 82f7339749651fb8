//! The marked snapshots (batch delete): each with its size as shown when it was marked, so
//! the count and total size on the status line cost nothing per frame, however many.

use std::collections::BTreeMap;

use crate::model::MachineRef;

/// A snapshot by identity: its machine and its id (ordered by profile, machine, snapshot).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MarkKey {
    /// The machine.
    pub machine: MachineRef,
    /// The snapshot's id.
    pub snapshot: String,
}

impl MarkKey {
    /// Snapshot `snapshot` of machine `machine`.
    pub fn new(machine: MachineRef, snapshot: impl Into<String>) -> Self {
        MarkKey {
            machine,
            snapshot: snapshot.into(),
        }
    }
}

/// The marks, in profile, machine and snapshot order, and their total size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    set: BTreeMap<MarkKey, Option<u64>>,
    bytes: u64,
    /// How many marks have a known size (a VPS's or a Proxmox guest's snapshot has none).
    sized: usize,
}

impl Marks {
    /// Mark a snapshot of `size` bytes (`None`: the back end gave none); false if it was
    /// marked already.
    pub fn insert(&mut self, key: MarkKey, size: Option<u64>) -> bool {
        let old = self.set.insert(key, size);
        if let Some(old) = old {
            self.forget(old);
        }
        self.bytes += size.unwrap_or(0);
        self.sized += usize::from(size.is_some());
        old.is_none()
    }

    /// Unmark; false if it was not marked.
    pub fn remove(&mut self, key: &MarkKey) -> bool {
        match self.set.remove(key) {
            Some(size) => {
                self.forget(size);
                true
            }
            None => false,
        }
    }

    /// Take a mark's size out of the totals.
    fn forget(&mut self, size: Option<u64>) {
        self.bytes -= size.unwrap_or(0);
        self.sized -= usize::from(size.is_some());
    }

    /// Whether a snapshot is marked.
    pub fn contains(&self, key: &MarkKey) -> bool {
        self.set.contains_key(key)
    }

    /// Unmark everything.
    pub fn clear(&mut self) {
        self.set.clear();
        self.bytes = 0;
        self.sized = 0;
    }

    /// How many are marked.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Nothing is marked.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The marked snapshots, in order.
    pub fn iter(&self) -> impl Iterator<Item = &MarkKey> {
        self.set.keys()
    }

    /// Their total size, as shown when each was marked (`None`: none had a size).
    pub fn bytes(&self) -> Option<u64> {
        (self.sized > 0).then_some(self.bytes)
    }

    /// Keep only the marks on one machine whose snapshot id `keep` accepts (a live update
    /// of that machine): the others are not looked at.
    pub fn retain_machine(&mut self, profile: &str, machine_id: &str, keep: impl Fn(&str) -> bool) {
        let from = MarkKey::new(MachineRef::new(profile, machine_id), "");
        let gone: Vec<MarkKey> = self
            .set
            .range(from..)
            .take_while(|(k, _)| k.machine.profile == profile && k.machine.id == machine_id)
            .filter(|(k, _)| !keep(&k.snapshot))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> MarkKey {
        MarkKey::new(MachineRef::new("p", "vm"), s)
    }

    #[test]
    fn the_total_follows_every_change() {
        let mut m = Marks::default();
        assert!(m.insert(key("a"), Some(10)));
        assert!(m.insert(key("b"), Some(5)));
        assert!(!m.insert(key("a"), Some(7)), "a again: its size is updated");
        assert_eq!((m.len(), m.bytes()), (2, Some(12)));
        assert!(m.remove(&key("b")));
        assert!(!m.remove(&key("b")));
        assert_eq!(m.bytes(), Some(7));
        m.insert(key("c"), Some(3));
        m.retain_machine("p", "vm", |id| id != "a");
        assert_eq!((m.len(), m.bytes()), (1, Some(3)));
        m.insert(MarkKey::new(MachineRef::new("p", "vm2"), "a"), Some(1));
        m.insert(MarkKey::new(MachineRef::new("p", "vm"), "d"), Some(1));
        m.retain_machine("p", "vm", |id| id == "c");
        assert_eq!(m.len(), 2, "vm's d is gone, vm2's a is not looked at");
        assert_eq!(m.bytes(), Some(4));
        m.clear();
        assert!(m.is_empty());
        assert_eq!(m.bytes(), None);
    }

    #[test]
    fn marks_without_a_size_have_no_total_not_zero() {
        let mut m = Marks::default();
        m.insert(key("vps"), None);
        assert_eq!(m.bytes(), None, "not 0 B");
        m.insert(key("vm"), Some(4));
        assert_eq!(m.bytes(), Some(4), "what is known is counted");
        m.remove(&key("vm"));
        assert_eq!(m.bytes(), None);
        assert!(!m.insert(key("vps"), Some(2)), "sized now");
        assert_eq!(m.bytes(), Some(2));
    }
}
