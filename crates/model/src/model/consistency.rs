//! Server data that contradicts itself: a machine whose snapshots share an id, or two
//! machines listed under one id, cannot be addressed safely (an id would name two things),
//! so such a machine is kept as unreadable, with the reason, and nothing acts on it.

use std::collections::HashSet;

use super::Machine;

impl Machine {
    /// Why this machine as read contradicts itself, if it does: snapshot ids must be
    /// unique in its tree (every operation and address names a snapshot by id).
    pub fn inconsistency(&self) -> Option<String> {
        let mut ids = HashSet::new();
        let twice: Vec<&str> = self
            .walk()
            .into_iter()
            .map(|(_, s)| s.id.as_str())
            .filter(|id| !ids.insert(*id))
            .collect();
        let mut twice: Vec<&str> = twice
            .into_iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        twice.sort_unstable();
        match twice.as_slice() {
            [] => None,
            [one] => Some(format!(
                "the server gives two of its snapshots the id {one}"
            )),
            many => Some(format!(
                "the server gives several of its snapshots the same id ({})",
                many.join(", ")
            )),
        }
    }

    /// This machine as it may be used: when it contradicts itself, kept unreadable.
    #[must_use]
    pub fn vetted(mut self) -> Machine {
        if let Some(why) = self.inconsistency() {
            self.set_unreadable(why);
        }
        self
    }
}

/// Mark every machine of `machines` whose id another of them also has (one listing of one
/// profile): an id that names two machines names neither safely.
pub fn refuse_duplicate_ids(machines: &mut [Machine]) {
    let mut seen = HashSet::new();
    let twice: HashSet<String> = machines
        .iter()
        .filter(|m| !seen.insert(m.id.as_str()))
        .map(|m| m.id.clone())
        .collect();
    for m in machines.iter_mut().filter(|m| twice.contains(&m.id)) {
        if m.unreadable.is_none() {
            m.set_unreadable(format!(
                "the server lists two machines with the id {}",
                m.id
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::tests::{snap, vm};

    #[test]
    fn a_snapshot_id_given_twice_makes_the_machine_unreadable() {
        let ok = vm(
            "pcc",
            "vm-1",
            "web",
            vec![snap("s1", "a", vec![snap("s2", "b", vec![])])],
        );
        assert_eq!(ok.inconsistency(), None);
        assert_eq!(ok.clone().vetted(), ok);
        let twice = vm(
            "pcc",
            "vm-1",
            "web",
            vec![snap("s1", "a", vec![snap("s1", "b", vec![])])],
        );
        let m = twice.vetted();
        assert_eq!(
            m.unreadable.as_deref(),
            Some("the server gives two of its snapshots the id s1")
        );
        assert!(m.snapshots.is_empty() && m.current.is_none());
        assert!(
            m.unreadable_sentence()
                .unwrap()
                .starts_with("pcc/web (vm-1) is unreadable: the server gives two")
        );
    }

    #[test]
    fn two_machines_with_one_id_are_both_unreadable() {
        let mut list = vec![
            vm("pcc", "vm-1", "web", vec![snap("s1", "a", vec![])]),
            vm("pcc", "vm-2", "db", vec![]),
            vm("pcc", "vm-1", "web-clone", vec![]),
        ];
        refuse_duplicate_ids(&mut list);
        assert!(
            list[0]
                .unreadable
                .as_deref()
                .unwrap()
                .contains("two machines with the id vm-1")
        );
        assert!(list[0].snapshots.is_empty());
        assert_eq!(list[1].unreadable, None);
        assert!(list[2].unreadable.is_some());
    }
}
