//! The snapshot list (`v`, docs/cleanup.md, "The snapshot list"): every snapshot of the
//! shown machines in one flat table, in one sort order (`s` goes to the next), filtered as
//! the inventory is and by snapshot names and descriptions too. The selection is a
//! snapshot's identity, as everywhere: sorting, filtering and live updates keep it, or
//! select nothing.

use std::cmp::Ordering;

use super::marks::MarkKey;
use crate::model::MachineRef;
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
            SortKey::Machine => "machine name",
            SortKey::Name => "name",
        }
    }
}

/// One row: a snapshot of a machine, with what sorting and filtering read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRow {
    /// Index of its machine in the state's machines (their inventory order).
    pub machine: usize,
    /// Its machine's place among the machines ordered by name (lower case, then profile and
    /// id): what the machine order sorts by.
    pub machine_rank: u32,
    /// Its place in its machine's tree, walked depth first: with `machine`, what breaks
    /// every tie, so the order is total.
    pub pos: u32,
    /// Snapshot id.
    pub id: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Size, when the back end gave one.
    pub size: Option<u64>,
    /// Lower-case name, description and id, one per line: the filter reads it, the name
    /// order its first `name_len` bytes.
    pub text: String,
    /// The length of the lower-case name at the start of `text`.
    pub name_len: usize,
    /// The first `NAME_PREFIX` bytes of the lower-case name as one number (zeros after a
    /// shorter name): the name order compares it without reading the text.
    pub name_key: u128,
}

impl ListRow {
    /// The lower-case name.
    pub fn name(&self) -> &str {
        &self.text[..self.name_len]
    }
}

/// The order of machines by name: lower case, then profile and id.
fn machine_order(m: &Machine) -> (String, &str, &str) {
    (m.name.to_lowercase(), m.profile.as_str(), m.id.as_str())
}

/// Each machine's place among `machines` ordered by name ([`machine_order`]).
fn machine_ranks(machines: &[Machine]) -> Vec<u32> {
    let mut by_name: Vec<usize> = (0..machines.len()).collect();
    by_name.sort_by_cached_key(|&i| machine_order(&machines[i]));
    let mut ranks = vec![0; machines.len()];
    for (rank, i) in by_name.into_iter().enumerate() {
        ranks[i] = u32::try_from(rank).unwrap_or(u32::MAX);
    }
    ranks
}

/// Append the rows of machine `index`, whose place by name is `rank`.
pub fn rows_of(index: usize, rank: u32, m: &Machine, out: &mut Vec<ListRow>) {
    fn rec(index: usize, rank: u32, nodes: &[Snapshot], pos: &mut u32, out: &mut Vec<ListRow>) {
        for n in nodes {
            let name = n.name.to_lowercase();
            let name_len = name.len();
            out.push(ListRow {
                machine: index,
                machine_rank: rank,
                pos: *pos,
                id: n.id.clone(),
                created: n.created.timestamp(),
                size: n.size_bytes,
                text: format!("{name}\n{}\n{}", n.description, n.id).to_lowercase(),
                name_len,
                name_key: name_key(&name),
            });
            *pos += 1;
            rec(index, rank, &n.children, pos, out);
        }
    }
    rec(index, rank, &m.snapshots, &mut 0, out);
}

/// The first `NAME_PREFIX` bytes of a (lower-case) name as a number, in the same order as
/// the names (zeros after a shorter one).
fn name_key(name: &str) -> u128 {
    let mut prefix = [0u8; NAME_PREFIX];
    let cut = name.len().min(NAME_PREFIX);
    prefix[..cut].copy_from_slice(&name.as_bytes()[..cut]);
    u128::from_be_bytes(prefix)
}

/// A time as an unsigned number in the same order.
fn biased(t: i64) -> u64 {
    t.cast_unsigned() ^ (1 << 63)
}

/// Bytes of a name compared at once: longer names that share them are ordered by a
/// second pass.
const NAME_PREFIX: usize = 16;

/// A size in the order "largest first, unknown last".
fn size_desc(r: &ListRow) -> u64 {
    r.size
        .map_or(u64::MAX, |b| u64::MAX - 1 - b.min(u64::MAX - 1))
}

/// The order of two rows under `key`. Total: ties are broken by the row's place in the
/// estate (its machine, then its place in the tree), so nothing moves when the list is
/// rebuilt from the same snapshots.
pub fn compare(key: SortKey, a: &ListRow, b: &ListRow) -> Ordering {
    let place = |r: &ListRow| (r.machine, r.pos);
    match key {
        SortKey::Age => a.created.cmp(&b.created),
        SortKey::Size => size_desc(a)
            .cmp(&size_desc(b))
            .then(a.created.cmp(&b.created)),
        SortKey::Machine => a
            .machine_rank
            .cmp(&b.machine_rank)
            .then(a.created.cmp(&b.created)),
        SortKey::Name => a
            .name_key
            .cmp(&b.name_key)
            .then_with(|| a.name().cmp(b.name())),
    }
    .then_with(|| place(a).cmp(&place(b)))
}

/// The indexes of `rows` in the order of `compare`. The rows are in their estate order
/// (machine, then place in its tree), so a row's index breaks ties as its place does, and
/// sorting compares integers only: each key is a number or two with the index.
pub fn order(rows: &[ListRow], key: SortKey) -> Vec<usize> {
    fn by<K: Ord + Copy>(rows: &[ListRow], k: impl Fn(&ListRow) -> K) -> Vec<(K, u32)> {
        let mut keys: Vec<(K, u32)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (k(r), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        keys.sort_unstable();
        keys
    }
    fn indexes<K>(keys: Vec<(K, u32)>) -> Vec<usize> {
        keys.into_iter().map(|(_, i)| i as usize).collect()
    }
    match key {
        SortKey::Age => indexes(by(rows, |r| biased(r.created))),
        SortKey::Size => indexes(by(rows, |r| (size_desc(r), biased(r.created)))),
        SortKey::Machine => indexes(by(rows, |r| (r.machine_rank, biased(r.created)))),
        SortKey::Name => {
            let mut keys = by(rows, |r| r.name_key);
            // Names longer than the prefix that share it: put each such run in order.
            let mut start = 0;
            while start < keys.len() {
                let first = keys[start].0;
                let len = keys[start..].iter().take_while(|k| k.0 == first).count();
                let run = &mut keys[start..start + len];
                if len > 1
                    && run
                        .iter()
                        .any(|k| rows[k.1 as usize].name_len >= NAME_PREFIX)
                {
                    run.sort_unstable_by(|a, b| {
                        compare(key, &rows[a.1 as usize], &rows[b.1 as usize])
                    });
                }
                start += len;
            }
            indexes(keys)
        }
    }
}

/// The list's rows and what is shown of them.
#[derive(Clone, Debug, Default)]
pub struct SnapshotList {
    /// Every row, in estate order: by machine, then depth first in its tree.
    pub rows: Vec<ListRow>,
    /// The indexes of `rows` in the sort order.
    pub order: Vec<usize>,
    /// The rows the filter lets through (indexes into `rows`), in the sort order.
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
        let ranks = machine_ranks(machines);
        for (i, m) in machines.iter().enumerate() {
            rows_of(i, ranks[i], m, &mut rows);
        }
        self.rows = rows;
        self.sort_rows();
    }

    /// Order the rows by the current key (the shown rows follow with `refilter`).
    pub fn sort_rows(&mut self) {
        self.order = order(&self.rows, self.sort);
    }

    /// Replace the rows of machine `index` of `machines` (a live update of one machine), each
    /// new row put in its place: the cost grows with the list once, not with a sort.
    pub fn replace_machine(&mut self, index: usize, m: &Machine, machines: &[Machine]) {
        let from = self.rows.partition_point(|r| r.machine < index);
        let to = self.rows.partition_point(|r| r.machine <= index);
        // Its place by name among the others (a rename moves it; the others keep theirs),
        // compared without making each name's lower case again: a live update is frequent.
        let lower = |m: &Machine| {
            m.name
                .chars()
                .flat_map(char::to_lowercase)
                .collect::<Vec<_>>()
        };
        let name = lower(m);
        let before = |other: &Machine| {
            other
                .name
                .chars()
                .flat_map(char::to_lowercase)
                .cmp(name.iter().copied())
                .then_with(|| (&other.profile, &other.id).cmp(&(&m.profile, &m.id)))
                .is_lt()
        };
        let rank = machines
            .iter()
            .enumerate()
            .filter(|&(i, other)| i != index && before(other))
            .count();
        let mut new = Vec::new();
        rows_of(index, u32::try_from(rank).unwrap_or(u32::MAX), m, &mut new);
        let added = new.len();
        self.rows.splice(from..to, new);
        let gone = to - from;
        self.order.retain(|&i| i < from || i >= to);
        for i in &mut self.order {
            if *i >= to {
                *i = *i - gone + added;
            }
        }
        let (key, rows) = (self.sort, &self.rows);
        for j in from..from + added {
            let at = self
                .order
                .partition_point(|&o| compare(key, &rows[o], &rows[j]) == Ordering::Less);
            self.order.insert(at, j);
        }
    }

    /// Recompute the shown rows: those for which `passes` holds; the cursor found again by
    /// its identity (`index_of` finds a machine's index by profile and id).
    pub fn refilter(
        &mut self,
        index_of: impl Fn(&MachineRef) -> Option<usize>,
        passes: impl Fn(&ListRow) -> bool,
    ) {
        // The rows are read in estate order (memory order), then the order kept.
        let mut bytes = 0;
        let pass: Vec<bool> = self
            .rows
            .iter()
            .map(|r| {
                let pass = passes(r);
                if pass {
                    bytes += r.size.unwrap_or(0);
                }
                pass
            })
            .collect();
        self.shown = self.order.iter().copied().filter(|&i| pass[i]).collect();
        self.shown_bytes = bytes;
        self.place_cursor(index_of);
    }

    /// Find the selected snapshot among the shown rows: its machine's index first, so the
    /// scan compares integers and reads an id only on that machine's rows.
    fn place_cursor(&mut self, index_of: impl Fn(&MachineRef) -> Option<usize>) {
        let found = self.key.as_ref().and_then(|key| {
            let machine = index_of(&key.machine)?;
            self.shown.iter().position(|&i| {
                let r = &self.rows[i];
                r.machine == machine && r.id == key.snapshot
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
            MarkKey::new(machines[r.machine].machine_ref(), r.id.clone())
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
    use crate::model::machine::fixtures::{snap, vm};

    fn ids(l: &SnapshotList) -> Vec<&str> {
        l.shown.iter().map(|&i| l.rows[i].id.as_str()).collect()
    }

    fn index_of(ms: &[Machine]) -> impl Fn(&MachineRef) -> Option<usize> + '_ {
        |r| {
            ms.iter()
                .position(|m| m.profile == r.profile && m.id == r.id)
        }
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
        l.refilter(index_of(&ms), |_| true);
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
            l.refilter(index_of(&ms), |_| true);
            assert_eq!(ids(&l), order, "{key:?}");
            assert_eq!(l.selected().map(|r| r.id.as_str()), Some("a1"));
        }
    }

    #[test]
    fn the_machine_order_is_by_machine_name_not_the_inventory_order() {
        let mut ms = machines();
        // vm-1 comes first in the inventory; by name, bravo comes before zulu.
        ms[0].name = "zulu".into();
        let mut l = SnapshotList {
            sort: SortKey::Machine,
            ..SnapshotList::default()
        };
        l.rebuild(&ms);
        l.refilter(index_of(&ms), |_| true);
        assert_eq!(ids(&l), ["b1", "a1", "a2"]);
        // A live update of one machine keeps its place by name.
        l.replace_machine(0, &ms[0], &ms);
        l.refilter(index_of(&ms), |_| true);
        assert_eq!(ids(&l), ["b1", "a1", "a2"]);
    }

    #[test]
    fn the_integer_sort_is_the_order_of_compare_for_every_key() {
        // Names that tie on their first 16 bytes, equal names, equal times, times before
        // 1970, unknown and equal sizes, several machines.
        let names = [
            "veeam backup temporary snapshot",
            "veeam backup temporary snap",
            "veeam backup temporarx",
            "base",
            "Base",
            "b",
            "",
            "pre-upgrade-2026-11-30",
            "pre-upgrade-2026-11-03",
        ];
        let mut rows = Vec::new();
        for i in 0..200usize {
            let name = names[i * 7 % names.len()].to_lowercase();
            rows.push(ListRow {
                machine: i % 13,
                machine_rank: u32::try_from((i % 13 * 5) % 13).unwrap(),
                pos: u32::try_from(i / 13).unwrap(),
                id: format!("s-{i}"),
                created: [-86_400, 0, 1_700_000_000][i % 3] + i64::try_from(i % 5).unwrap(),
                size: [None, Some(0), Some(7), Some(u64::MAX)][i % 4],
                text: format!("{name}\n\ns-{i}"),
                name_len: name.len(),
                name_key: name_key(&name),
            });
        }
        // In estate order, as the list keeps them.
        rows.sort_by_key(|r| (r.machine, r.pos));
        let sorted =
            |key| -> Vec<&ListRow> { order(&rows, key).iter().map(|&i| &rows[i]).collect() };
        for key in [SortKey::Age, SortKey::Size, SortKey::Machine, SortKey::Name] {
            let fast = sorted(key);
            let mut slow: Vec<&ListRow> = rows.iter().collect();
            slow.sort_by(|a, b| compare(key, a, b));
            assert_eq!(fast, slow, "{key:?}");
            assert!(
                fast.windows(2).all(|w| compare(key, w[0], w[1]).is_lt()),
                "{key:?}: total"
            );
        }
        let names: Vec<&str> = sorted(SortKey::Name).iter().map(|r| r.name()).collect();
        assert!(names.is_sorted(), "{names:?}");
        let by_size = sorted(SortKey::Size);
        assert_eq!(by_size[0].size, Some(u64::MAX));
        assert_eq!(by_size.last().unwrap().size, None, "unknown last");
    }

    #[test]
    fn a_filtered_out_selection_selects_nothing_and_comes_back() {
        let ms = machines();
        let mut l = SnapshotList::default();
        l.rebuild(&ms);
        l.refilter(index_of(&ms), |_| true);
        l.set_cursor(2, &ms);
        l.refilter(index_of(&ms), |r| r.text.contains("alpha"));
        assert_eq!(ids(&l), ["b1"]);
        assert_eq!(l.selected(), None, "a2 is not shown: nothing, not b1");
        assert_eq!(l.shown_bytes, 9);
        l.refilter(index_of(&ms), |_| true);
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
        l.replace_machine(0, &ms[0], &ms);
        l.refilter(index_of(&ms), |_| true);
        assert_eq!(ids(&l), ["b1", "a3", "a1"]);
        let mut fresh = SnapshotList::default();
        fresh.rebuild(&ms);
        assert_eq!(fresh.rows, l.rows, "as a rebuild would make them");
        assert_eq!(fresh.order, l.order, "and order them");
    }
}
