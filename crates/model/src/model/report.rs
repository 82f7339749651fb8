//! The snapshot report (docs/report.md, "Report"): one row per snapshot with its columns, and
//! the estate overview the TUI draws (totals and snapshot ages). Pure: the CLI writes the
//! rows as a table, CSV, JSON or Markdown, one at a time.

use chrono::{DateTime, Duration, Utc};

use super::cleanup::{self, Protect};
use super::{Machine, Snapshot};

/// The report's columns, in order, as CSV's header names them.
pub const COLUMNS: [&str; 24] = [
    "profile",
    "provider",
    "location",
    "machine",
    "machine_id",
    "power_state",
    "snapshot",
    "snapshot_id",
    "path",
    "description",
    "created",
    "age_days",
    "size_bytes",
    "memory",
    "quiesced",
    "current",
    "depth",
    "consolidation_needed",
    "created_by",
    "expires",
    "protected",
    "phantom_deltas",
    "backups",
    "newest_backup",
];

/// The columns a `report` table shows unless told otherwise: what tells snapshots apart and
/// what a cleanup looks at, in about 160 terminal columns (the others: `--columns`, `-o wide`).
pub const TABLE_COLUMNS: [&str; 11] = [
    "profile",
    "machine",
    "snapshot",
    "created",
    "age_days",
    "size_bytes",
    "memory",
    "quiesced",
    "current",
    "protected",
    "expires",
];

/// The indexes in [`COLUMNS`] of the columns `names` names, in their order; an unknown name
/// is refused with the sentence that lists the known ones.
pub fn column_indexes<S: AsRef<str>>(names: &[S]) -> Result<Vec<usize>, String> {
    names
        .iter()
        .map(|n| {
            let n = n.as_ref().trim();
            COLUMNS.iter().position(|c| *c == n).ok_or_else(|| {
                format!(
                    "no report column {n:?}; the columns are {}",
                    COLUMNS.join(", ")
                )
            })
        })
        .collect()
}

/// The index of the `size_bytes` column (a table shows it in human units).
pub const SIZE_COLUMN: usize = 12;

/// One value of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    /// Nothing (a machine without snapshots, or a value the back end does not give).
    Empty,
    /// Text (foreign: names, descriptions, paths).
    Text(std::borrow::Cow<'a, str>),
    /// A count or a size.
    Int(u64),
    /// Yes or no.
    Bool(bool),
    /// A time, UTC.
    Time(DateTime<Utc>),
}

/// A snapshot of a machine as the report shows it, `depth` counting from 1 at a root.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// The machine.
    pub machine: &'a Machine,
    /// The snapshot and its depth, or none (`--all`: a machine without snapshots).
    pub snapshot: Option<(&'a Snapshot, usize)>,
}

impl<'a> Row<'a> {
    /// The cells, in the order of `COLUMNS`.
    pub fn cells(&self, protect: &Protect, now: DateTime<Utc>) -> [Cell<'a>; 24] {
        let m = self.machine;
        let text = |s: &'a str| Cell::Text(s.into());
        let machine = [
            text(&m.profile),
            text(m.provider.as_str()),
            Cell::Text(m.location.join("/").into()),
            text(&m.name),
            text(&m.id),
            text(m.power_state.as_str()),
        ];
        let Some((s, depth)) = self.snapshot else {
            let mut cells: [Cell<'a>; 24] = std::array::from_fn(|_| Cell::Empty);
            for (i, c) in machine.into_iter().enumerate() {
                cells[i] = c;
            }
            cells[17] = Cell::Bool(m.consolidation_needed);
            cells[21] = phantoms(m);
            [cells[22], cells[23]] = backups(m);
            return cells;
        };
        let age = m.age_of(s.created, now).num_days().max(0);
        let created_by = s.created_by.as_deref().map_or(Cell::Empty, text);
        let [profile, provider, location, name, id, power] = machine;
        let [backup_count, newest_backup] = backups(m);
        [
            profile,
            provider,
            location,
            name,
            id,
            power,
            text(&s.name),
            text(&s.id),
            m.name_path(&s.id)
                .map_or(Cell::Empty, |p| Cell::Text(p.into())),
            text(&s.description),
            Cell::Time(s.created),
            Cell::Int(age.unsigned_abs()),
            s.size_bytes.map_or(Cell::Empty, Cell::Int),
            Cell::Bool(s.memory),
            Cell::Bool(s.quiesced),
            Cell::Bool(m.current.as_deref() == Some(s.id.as_str())),
            Cell::Int(depth as u64),
            Cell::Bool(m.consolidation_needed),
            created_by,
            cleanup::expires(&s.description).map_or(Cell::Empty, Cell::Time),
            Cell::Bool(cleanup::protection(s, protect).is_some()),
            phantoms(m),
            backup_count,
            newest_backup,
        ]
    }
}

/// The `backups` and `newest_backup` cells: a VPS's restore points and the newest one's
/// time (empty without the automated backup option, and on vSphere).
fn backups(m: &Machine) -> [Cell<'static>; 2] {
    match m.backups.as_deref().filter(|b| b.subscribed) {
        Some(b) => [
            Cell::Int(b.restore_points.len() as u64),
            b.newest().map_or(Cell::Empty, Cell::Time),
        ],
        None => [Cell::Empty, Cell::Empty],
    }
}

/// The `phantom_deltas` cell: the files of the delta disks no snapshot owns, `; ` between
/// them (empty where there are none or they were not read).
fn phantoms(m: &Machine) -> Cell<'_> {
    let files = super::storage::phantom_files(m);
    if files.is_empty() {
        Cell::Empty
    } else {
        Cell::Text(files.join("; ").into())
    }
}

/// Whether a machine runs on delta disks no snapshot owns.
pub fn has_phantoms(m: &Machine) -> bool {
    m.storage
        .as_ref()
        .is_some_and(|s| !s.phantom_deltas.is_empty())
}

/// Call `each` with every row of `machines`, in order: each snapshot depth first, and a
/// row for each machine without snapshots that runs on a phantom delta (a snapshot in
/// all but name), or with `all` for each machine without snapshots. Nothing is collected.
pub fn rows<'a>(machines: &'a [Machine], all: bool, mut each: impl FnMut(Row<'a>)) {
    for m in machines {
        if m.snapshots.is_empty() {
            if all || has_phantoms(m) {
                each(Row {
                    machine: m,
                    snapshot: None,
                });
            }
            continue;
        }
        for (depth, n) in m.walk() {
            each(Row {
                machine: m,
                snapshot: Some((n, depth)),
            });
        }
    }
}

/// The age groups of the overview's chart: each label and the age it ends at.
pub const AGE_GROUPS: [(&str, Option<i64>); 6] = [
    ("< 1 d", Some(1)),
    ("< 3 d", Some(3)),
    ("< 1 w", Some(7)),
    ("< 2 w", Some(14)),
    ("< 1 mo", Some(30)),
    ("older", None),
];

/// Totals of a part of the estate (a profile, a group, or all of it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overview {
    /// Machines.
    pub machines: usize,
    /// Snapshots.
    pub snapshots: usize,
    /// Their known size.
    pub size_bytes: u64,
    /// How many have a known size (a VPS's or a Proxmox guest's snapshot has none).
    pub sized: usize,
    /// The oldest snapshot's creation time.
    pub oldest: Option<DateTime<Utc>>,
    /// The oldest snapshot's age, each measured on its back end's clock.
    pub oldest_age: Option<Duration>,
    /// Machines that need their disks consolidated.
    pub consolidation: usize,
    /// Machines that run on a delta disk no snapshot owns.
    pub phantom: usize,
    /// Snapshots whose `[expires …]` has passed.
    pub expired: usize,
    /// Protected snapshots (pinned, or matching `[cleanup] protect`).
    pub protected: usize,
    /// Snapshots per age group (`AGE_GROUPS`).
    pub ages: [usize; 6],
}

/// The overview of `machines` at `now`.
pub fn overview<'a>(
    machines: impl IntoIterator<Item = &'a Machine>,
    protect: &Protect,
    now: DateTime<Utc>,
) -> Overview {
    let mut o = Overview::default();
    for m in machines {
        o.machines += 1;
        o.consolidation += usize::from(m.consolidation_needed);
        o.phantom += usize::from(has_phantoms(m));
        rows(std::slice::from_ref(m), false, |r| {
            let Some((s, _)) = r.snapshot else { return };
            o.snapshots += 1;
            o.size_bytes += s.size_bytes.unwrap_or(0);
            o.sized += usize::from(s.size_bytes.is_some());
            o.oldest = Some(o.oldest.map_or(s.created, |t| t.min(s.created)));
            o.expired +=
                usize::from(cleanup::expires(&s.description).is_some_and(|t| t <= m.now(now)));
            o.protected += usize::from(cleanup::protection(s, protect).is_some());
            let age = m.age_of(s.created, now);
            o.oldest_age = Some(o.oldest_age.map_or(age, |a| a.max(age)));
            let group = AGE_GROUPS
                .iter()
                .position(|(_, end)| end.is_none_or(|d| age < Duration::days(d)))
                .unwrap_or(AGE_GROUPS.len() - 1);
            o.ages[group] += 1;
        });
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::machine::tests::{snap, vm};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap()
    }

    fn estate() -> Vec<Machine> {
        let mut a = vm(
            "lab",
            "vm-1",
            "web",
            vec![snap("a", "base", vec![snap("b", "pre, \"x\"", vec![])])],
        );
        a.snapshots[0].created = now() - Duration::days(40);
        a.snapshots[0].description = "hardened [keep]".into();
        a.snapshots[0].size_bytes = Some(10);
        a.snapshots[0].children[0].created = now() - Duration::hours(5);
        a.snapshots[0].children[0].description = "[expires 2026-10-31T00:00:00Z]".into();
        a.snapshots[0].children[0].created_by = Some("VSPHERE.LOCAL\\ops".into());
        a.current = Some("b".into());
        a.consolidation_needed = true;
        let b = vm("lab", "vm-2", "empty", vec![]);
        vec![a, b]
    }

    #[test]
    fn a_row_per_snapshot_with_every_column_and_all_adds_empty_machines() {
        let ms = estate();
        let protect = Protect::new(&[]);
        let mut got = Vec::new();
        rows(&ms, false, |r| got.push(r.cells(&protect, now())));
        assert_eq!(got.len(), 2);
        let b = &got[1];
        assert_eq!(b[6], Cell::Text("pre, \"x\"".into()));
        assert_eq!(b[8], Cell::Text("base/pre, \"x\"".into()), "path");
        assert_eq!(b[11], Cell::Int(0), "5 hours: 0 days");
        assert_eq!(b[12], Cell::Empty, "size unknown");
        assert_eq!(b[15], Cell::Bool(true), "current");
        assert_eq!(b[16], Cell::Int(2), "depth");
        assert_eq!(b[17], Cell::Bool(true));
        assert_eq!(b[18], Cell::Text("VSPHERE.LOCAL\\ops".into()));
        assert_eq!(
            b[19],
            Cell::Time(Utc.with_ymd_and_hms(2026, 10, 31, 0, 0, 0).unwrap())
        );
        assert_eq!(b[20], Cell::Bool(false));
        let a = &got[0];
        assert_eq!(a[11], Cell::Int(40));
        assert_eq!(a[18], Cell::Empty, "no creator known");
        assert_eq!(a[20], Cell::Bool(true), "pinned");
        let mut all = Vec::new();
        rows(&ms, true, |r| all.push(r.cells(&protect, now())));
        assert_eq!(all.len(), 3);
        assert_eq!(all[2][3], Cell::Text("empty".into()));
        assert_eq!(all[2][6], Cell::Empty);
        assert_eq!(all[2][17], Cell::Bool(false));
    }

    #[test]
    fn the_overview_counts_and_groups_ages() {
        let ms = estate();
        let o = overview(&ms, &Protect::new(&[]), now());
        assert_eq!(
            o,
            Overview {
                phantom: 0,
                machines: 2,
                snapshots: 2,
                size_bytes: 10,
                sized: 1,
                oldest: Some(now() - Duration::days(40)),
                oldest_age: Some(Duration::days(40)),
                consolidation: 1,
                expired: 1,
                protected: 1,
                ages: [1, 0, 0, 0, 0, 1],
            }
        );
    }
}
