//! The snapshot list (`v`, SPEC §7): every snapshot of the shown machines in one flat
//! table, in one sort order (`s` goes to the next), filtered as the inventory is and by
//! snapshot names and descriptions too. The selection is a snapshot's identity, as
//! everywhere: sorting, filtering and live updates keep it, or select nothing.

use std::cmp::Ordering;

use super::marks::MarkKey;
use crate::model::{Machine, Snapshot};

/// The order of the snapshot list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Oldest first: what a cleanup looks at first.
    #[default]
    Age,
    /// Largest first (snapshots of unknown size last).
    Size,
    /// By machine as the inventory orders them, then oldest first.
    Machine,
    /// By snapshot name, then machine.
    Name,
}

impl SortKey {
    /// The key `s` goes to from this one.
    #[must_use]
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Age => SortKey::Size,
            SortKey::Size => SortKey::Machine,
            SortKey::Machine => SortKey::Name,
            SortKey::Name => SortKey::Age,
        }
    }

    /// How the header names it.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Age => "age, oldest first",
            SortKey::Size => "size, largest first",
            SortKey::Machine => "machine",
            SortKey::Name => "name",
        }
    }
}

/// One row: a snapshot of a machine, with what sorting and filtering read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRow {
    /// Index of its machine in the state's machines (their inventory order).
    pub machine: usize,
    /// Snapshot id.
    pub id: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Size, when the back end gave one.
    pub size: Option<u64>,
    /// Lower-case name, description and id, one per line: the name order (the name comes
    /// first) and the filter read it.
    pub text: String,
}

/// Append the rows of machine `index`.
pub fn rows_of(index: usize, m: &Machine, out: &mut Vec<ListRow>) {
    fn rec(index: usize, nodes: &[Snapshot], out: &mut Vec<ListRow>) {
        for n in nodes {
            out.push(ListRow {
                machine: index,
                id: n.id.clone(),
                created: n.created.timestamp(),
                size: n.size_bytes,
                text: format!("{}\n{}\n{}", n.name, n.description, n.id).to_lowercase(),
            });
            rec(index, &n.children, out);
        }
    }
    rec(index, &m.snapshots, out);
}

/// The order of two rows under `key`; ties broken so the order is total (no row moves when
/// the list is rebuilt with the same snapshots).
pub fn compare(key: SortKey, a: &ListRow, b: &ListRow) -> Ordering {
    let first = match key {
        SortKey::Age => a.created.cmp(&b.created).then(a.machine.cmp(&b.machine)),
        // Unknown sizes last: `None` is smaller than any `Some`, so reverse both.
        SortKey::Size => b
            .size
            .cmp(&a.size)
            .then(a.created.cmp(&b.created))
            .then(a.machine.cmp(&b.machine)),
        SortKey::Machine => a.machine.cmp(&b.machine).then(a.created.cmp(&b.created)),
        SortKey::Name => a
            .text
            .cmp(&b.text)
            .then(a.machine.cmp(&b.machine))
            .then(a.created.cmp(&b.created)),
    };
    first.then_with(|| a.id.cmp(&b.id))
}

/// The list's rows and what is shown of them.
#[derive(Clone, Debug, Default)]
pub struct SnapshotList {
    /// Every row, in the sort order.
    pub rows: Vec<ListRow>,
    /// The rows the filter lets through (indexes into `rows`), in order.
    pub shown: Vec<usize>,
    /// The known size of the shown rows, in all.
    pub shown_bytes: u64,
    /// The order.
    pub sort: SortKey,
    /// The cursor: an index into `shown`, derived from `key` whenever the rows change.
    pub cursor: usize,
    /// The selected snapshot: profile, machine id, snapshot id.
    pub key: Option<MarkKey>,
    /// `key` is shown; when it is not, nothing is selected.
    pub key_shown: bool,
}

impl SnapshotList {
    /// Rebuild every row from the machines, in the sort order.
    pub fn rebuild(&mut self, machines: &[Machine]) {
        let mut rows = Vec::with_capacity(self.rows.len());
        for (i, m) in machines.iter().enumerate() {
            rows_of(i, m, &mut rows);
        }
        self.rows = rows;
        self.sort_rows();
    }

    /// Sort the rows by the current key (the shown rows follow with `refilter`).
    pub fn sort_rows(&mut self) {
        let key = self.sort;
        self.rows.sort_unstable_by(|a, b| compare(key, a, b));
    }

    /// Replace the rows of machine `index` (a live update of one machine), each new row
    /// put in its place: the cost grows with the list once, not with a sort.
    pub fn replace_machine(&mut self, index: usize, m: &Machine) {
        self.rows.retain(|r| r.machine != index);
        let mut new = Vec::new();
        rows_of(index, m, &mut new);
        let key = self.sort;
        for row in new {
            let at = self
                .rows
                .partition_point(|r| compare(key, r, &row) == Ordering::Less);
            self.rows.insert(at, row);
        }
    }

    /// Recompute the shown rows: those for which `passes` holds; the cursor found again by
    /// its identity.
    pub fn refilter(&mut self, machines: &[Machine], passes: impl Fn(&ListRow) -> bool) {
        let mut bytes = 0;
        self.shown = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| passes(r))
            .map(|(i, r)| {
                bytes += r.size.unwrap_or(0);
                i
            })
            .collect();
        self.shown_bytes = bytes;
        self.place_cursor(machines);
    }

    /// Find the selected snapshot among the shown rows.
    fn place_cursor(&mut self, machines: &[Machine]) {
        let found = self.key.as_ref().and_then(|(p, mid, sid)| {
            self.shown.iter().position(|&i| {
                let r = &self.rows[i];
                r.id == *sid && {
                    let m = &machines[r.machine];
                    m.id == *mid && m.profile == *p
                }
            })
        });
        self.key_shown = found.is_some();
        self.cursor = found.unwrap_or(self.cursor.min(self.shown.len().saturating_sub(1)));
    }

    /// Put the cursor on shown row `index` (a user's move): that snapshot is now selected.
    pub fn set_cursor(&mut self, index: usize, machines: &[Machine]) {
        self.cursor = index.min(self.shown.len().saturating_sub(1));
        self.key = self.shown.get(self.cursor).map(|&i| {
            let r = &self.rows[i];
            let m = &machines[r.machine];
            (m.profile.clone(), m.id.clone(), r.id.clone())
        });
        self.key_shown = self.key.is_some();
    }

    /// The selected row, if it is shown.
    pub fn selected(&self) -> Option<&ListRow> {
        if !self.key_shown {
            return None;
        }
        self.shown.get(self.cursor).map(|&i| &self.rows[i])
    }

    /// The shown row at `index` (of `shown`).
    pub fn shown_row(&self, index: usize) -> Option<&ListRow> {
        self.shown.get(index).map(|&i| &self.rows[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::tests::{snap, vm};

    fn ids(l: &SnapshotList) -> Vec<&str> {
        l.shown.iter().map(|&i| l.rows[i].id.as_str()).collect()
    }

    fn machines() -> Vec<Machine> {
        let at =
            |days: i64| chrono::DateTime::from_timestamp(1_700_000_000 - days * 86_400, 0).unwrap();
        let mut a = vm(
            "p",
            "vm-1",
            "alpha",
            vec![snap("a1", "zeta", vec![snap("a2", "beta", vec![])])],
        );
        a.snapshots[0].created = at(10);
        a.snapshots[0].size_bytes = Some(5);
        a.snapshots[0].children[0].created = at(2);
        let mut b = vm("p", "vm-2", "bravo", vec![snap("b1", "alpha", vec![])]);
        b.snapshots[0].created = at(30);
        b.snapshots[0].size_bytes = Some(9);
        vec![a, b]
    }

    #[test]
    fn each_key_orders_the_rows_and_the_selection_stays() {
        let ms = machines();
        let mut l = SnapshotList::default();
        l.rebuild(&ms);
        l.refilter(&ms, |_| true);
        assert_eq!(ids(&l), ["b1", "a1", "a2"], "oldest first");
        l.set_cursor(1, &ms);
        let expect = [
            (SortKey::Size, ["b1", "a1", "a2"]),
            (SortKey::Machine, ["a1", "a2", "b1"]),
            (SortKey::Name, ["b1", "a2", "a1"]),
            (SortKey::Age, ["b1", "a1", "a2"]),
        ];
        for (key, order) in expect {
            l.sort = l.sort.next();
            assert_eq!(l.sort, key);
            l.sort_rows();
            l.refilter(&ms, |_| true);
            assert_eq!(ids(&l), order, "{key:?}");
            assert_eq!(l.selected().map(|r| r.id.as_str()), Some("a1"));
        }
    }

    #[test]
    fn a_filtered_out_selection_selects_nothing_and_comes_back() {
        let ms = machines();
        let mut l = SnapshotList::default();
        l.rebuild(&ms);
        l.refilter(&ms, |_| true);
        l.set_cursor(2, &ms);
        l.refilter(&ms, |r| r.text.contains("alpha"));
        assert_eq!(ids(&l), ["b1"]);
        assert_eq!(l.selected(), None, "a2 is not shown: nothing, not b1");
        assert_eq!(l.shown_bytes, 9);
        l.refilter(&ms, |_| true);
        assert_eq!(l.selected().map(|r| r.id.as_str()), Some("a2"));
    }

    #[test]
    fn a_machine_replaced_keeps_the_order() {
        let mut ms = machines();
        let mut l = SnapshotList::default();
        l.rebuild(&ms);
        ms[0].snapshots[0].children.clear();
        let mut extra = snap("a3", "new", vec![]);
        extra.created = chrono::DateTime::from_timestamp(1_700_000_000 - 20 * 86_400, 0).unwrap();
        ms[0].snapshots.push(extra);
        l.replace_machine(0, &ms[0]);
        l.refilter(&ms, |_| true);
        assert_eq!(ids(&l), ["b1", "a3", "a1"]);
        let mut fresh = SnapshotList::default();
        fresh.rebuild(&ms);
        assert_eq!(fresh.rows, l.rows, "as a rebuild would order them");
    }
}
