//! The parts `AppState` is made of, each keeping its own rules: the inventory and what is
//! derived from its machines, the inventory's view, the tree's view, the marks and their
//! batches, the tasks, the message log, and the modal layer.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};

use super::list::SnapshotList;
use super::marks::{MarkKey, Marks};
use super::state::{
    BatchView, Cursor, Dialog, Fold, GuestSeen, LeftView, Level, Palette, ProfileView, Row, RowKey,
    TaskView, TextInput, TreeRow,
};
use crate::model::{Machine, MachineRef, Warning};

/// Every profile and its machines, with what is derived from each machine (its search
/// text, its worst warning, its place by key), rebuilt whenever the machines change: they
/// cannot drift apart, since only these methods change the machines.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    /// Profiles, in the configuration's order.
    pub profiles: Vec<ProfileView>,
    /// The last guest agent check of each VPS asked, and what it found.
    pub guest: HashMap<MachineRef, GuestSeen>,
    /// Every machine, grouped by profile then location then name.
    machines: Vec<Machine>,
    /// Each machine's `model::filter::haystack` (same order).
    search: Vec<String>,
    /// The worst warning of each machine (same order), as of `worst_at`: collapsed rows
    /// read it instead of re-deriving every hidden machine's warnings per keystroke.
    worst: Vec<Option<Warning>>,
    /// When `worst` was computed (ages move on: recomputed hourly by the tick).
    worst_at: DateTime<Utc>,
    /// Index of each machine by key: lookups by identity cost a hash, not a scan.
    by_key: HashMap<MachineRef, usize>,
    /// Counts every change to the machines: what is derived from them and cached (the
    /// overview) is recomputed when it moves.
    generation: u64,
}

impl Inventory {
    /// No machines yet, for these profiles.
    pub fn new(profiles: Vec<ProfileView>, now: DateTime<Utc>) -> Self {
        Inventory {
            profiles,
            worst_at: now,
            ..Inventory::default()
        }
    }

    /// Every machine, grouped by profile then location then name.
    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// A machine by key.
    pub fn machine(&self, key: &MachineRef) -> Option<&Machine> {
        self.index(key).and_then(|i| self.machines.get(i))
    }

    /// The place of a machine in [`Inventory::machines`], by key.
    pub fn index(&self, key: &MachineRef) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// What the filter reads of machine `i`.
    pub fn search_text(&self, i: usize) -> &str {
        &self.search[i]
    }

    /// The worst warning of machine `i`, as of [`Inventory::worst_at`].
    pub fn worst(&self, i: usize) -> Option<Warning> {
        self.worst.get(i).copied().flatten()
    }

    /// When the worst warnings were computed.
    pub fn worst_at(&self) -> DateTime<Utc> {
        self.worst_at
    }

    /// Moves with every change to the machines.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Profile index by name.
    pub fn profile_index(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }

    /// Whether a profile is read-only.
    pub fn read_only(&self, profile: &str) -> bool {
        self.profiles
            .iter()
            .find(|p| p.name == profile)
            .is_some_and(|p| p.read_only)
    }

    /// Replace one profile's machines (the others are kept), made safe to draw, in order;
    /// `worst` gives each machine's worst warning as of `now`.
    pub fn set_profile(
        &mut self,
        profile: &str,
        mut machines: Vec<Machine>,
        worst: impl Fn(&Machine) -> Option<Warning>,
        now: DateTime<Utc>,
    ) {
        self.generation += 1;
        machines.iter_mut().for_each(shown_safe);
        self.machines.retain(|m| m.profile != profile);
        self.machines.extend(machines);
        let names: Vec<&str> = self.profiles.iter().map(|p| p.name.as_str()).collect();
        let order = |m: &Machine| {
            (
                names
                    .iter()
                    .position(|n| *n == m.profile)
                    .unwrap_or(usize::MAX),
                m.location.join("/"),
                m.name.to_lowercase(),
                m.id.clone(),
            )
        };
        self.machines.sort_by_cached_key(order);
        self.search = self
            .machines
            .iter()
            .map(crate::model::filter::haystack)
            .collect();
        self.by_key = self
            .machines
            .iter()
            .enumerate()
            .map(|(i, m)| (m.machine_ref(), i))
            .collect();
        self.rewarn(worst, now);
    }

    /// Recompute every machine's worst warning as of `now`.
    pub fn rewarn(&mut self, worst: impl Fn(&Machine) -> Option<Warning>, now: DateTime<Utc>) {
        self.worst = self.machines.iter().map(worst).collect();
        self.worst_at = now;
    }

    /// Replace a known machine, made safe to draw, keeping the creators known of its
    /// snapshots (a re-read machine has none: the history is read with the whole
    /// inventory); its index, or the machine back when it is not known.
    pub fn replace(
        &mut self,
        mut machine: Machine,
        worst: impl Fn(&Machine) -> Option<Warning>,
    ) -> Result<usize, Box<Machine>> {
        let key = machine.machine_ref();
        let Some(i) = self.index(&key) else {
            return Err(Box::new(machine));
        };
        self.generation += 1;
        shown_safe(&mut machine);
        carry_creators(&self.machines[i], &mut machine.snapshots);
        self.worst[i] = worst(&machine);
        self.machines[i] = machine;
        Ok(i)
    }

    /// Who took each snapshot of a profile (its task history): shown in the details.
    pub fn set_creators(&mut self, profile: &str, creators: &HashMap<String, String>) {
        // Foreign text: drawn safe, as every name.
        let safe: HashMap<String, String> = creators
            .iter()
            .map(|(id, user)| (id.clone(), crate::safe::terminal(user).into_owned()))
            .collect();
        self.generation += 1;
        for m in self.machines.iter_mut().filter(|m| m.profile == profile) {
            m.fill_creators(&safe);
        }
    }
}

/// Make a machine's foreign text (names, descriptions, paths, details) safe to draw:
/// control characters, newlines and bidi controls written out (`safe::terminal`). Done once
/// as machines arrive, so the screen shows and the typed confirmation asks for the same
/// text. Ids are left as they are: operations address them.
fn shown_safe(m: &mut Machine) {
    fn fix(text: &mut String) {
        if let std::borrow::Cow::Owned(safe) = crate::safe::terminal(text) {
            *text = safe;
        }
    }
    fn tree(nodes: &mut [crate::model::Snapshot]) {
        for n in nodes {
            fix(&mut n.name);
            fix(&mut n.description);
            if let Some(user) = &mut n.created_by {
                fix(user);
            }
            tree(&mut n.children);
        }
    }
    fix(&mut m.name);
    fix(&mut m.path);
    m.location.iter_mut().for_each(fix);
    for (k, v) in &mut m.details {
        fix(k);
        fix(v);
    }
    tree(&mut m.snapshots);
}

/// Copy `old`'s known creators onto the same snapshots in `nodes`.
fn carry_creators(old: &Machine, nodes: &mut [crate::model::Snapshot]) {
    for n in nodes {
        if n.created_by.is_none() {
            n.created_by = old.find(&n.id).and_then(|o| o.created_by.clone());
        }
        carry_creators(old, &mut n.children);
    }
}

/// The inventory pane: its rows, its cursor and what it is on, folds and the filter.
#[derive(Clone, Debug, Default)]
pub struct InventoryView {
    /// Visible inventory rows.
    pub rows: Vec<Row>,
    /// For each collapsed profile or group row (by row index), the worst warning among
    /// the machines it hides: a collapsed group does not hide a problem.
    pub hidden_worst: HashMap<usize, Warning>,
    /// The cursor: the row index, derived from `key` whenever the rows change.
    pub cursor: Cursor,
    /// What the cursor is on.
    pub key: Option<RowKey>,
    /// `key` is on screen; when it is not (filtered out, reloading, gone), nothing is
    /// selected, and it is selected again if it comes back.
    pub shown: bool,
    /// Collapsed profiles and groups.
    pub collapsed: HashSet<Fold>,
    /// Filter text (typed while the modal layer is [`Modal::Filter`]).
    pub filter: TextInput,
}

impl InventoryView {
    /// The selected row, when it is on screen.
    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.cursor.selected).filter(|_| self.shown)
    }
}

/// The snapshot tree of the selected machine.
#[derive(Clone, Debug, Default)]
pub struct TreeView {
    /// Its rows.
    pub rows: Vec<TreeRow>,
    /// Its cursor.
    pub cursor: Cursor,
    /// The snapshot under the cursor vanished: no snapshot is selected until the cursor
    /// moves (never a neighbour).
    pub lost: bool,
    /// The machine whose tree is shown.
    pub of: Option<MachineRef>,
    /// Collapsed snapshots.
    pub collapsed: HashSet<String>,
    /// The Details pane's first row shown (it scrolls when focused); back to the top when the
    /// selection moves.
    pub details_scroll: u16,
    /// The most the Details pane can scroll, as last drawn (the drawing knows the wrapping).
    pub details_most: std::cell::Cell<u16>,
}

impl TreeView {
    /// Put the cursor on row `index` (a user's move).
    pub fn set_cursor(&mut self, index: usize) {
        self.cursor.selected = index.min(self.rows.len().saturating_sub(1));
        self.lost = false;
        self.details_scroll = 0;
    }

    /// The selected row.
    pub fn selected_row(&self) -> Option<&TreeRow> {
        if self.lost {
            return None;
        }
        self.rows.get(self.cursor.selected)
    }
}

/// What the left pane shows, and the snapshot list's rows.
#[derive(Clone, Debug, Default)]
pub struct Left {
    /// The inventory or the snapshot list (`v`).
    pub view: LeftView,
    /// The snapshot list's rows (kept only while it is shown).
    pub list: SnapshotList,
}

/// Marked snapshots and the batches that delete them.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Marked snapshots for batch delete.
    pub marks: Marks,
    /// Protected snapshots a bulk mark (`A`, `mark where`) left out, and why: the delete
    /// dialog of the marks says so.
    pub left_out: BTreeMap<MarkKey, String>,
    /// Marks of batch steps still running, by request, with the snapshot's size: put back
    /// if the step does not succeed.
    pub step_marks: HashMap<u64, (MarkKey, Option<u64>)>,
    /// The running batch step of each snapshot (the list shows its progress).
    pub steps: HashMap<MarkKey, u64>,
    /// Batches with steps still to end, oldest first.
    pub batches: Vec<BatchView>,
}

impl Batch {
    /// How many snapshots are marked and their known total size, when any is marked.
    pub fn marked_summary(&self) -> Option<(usize, Option<u64>)> {
        (!self.marks.is_empty()).then(|| (self.marks.len(), self.marks.bytes()))
    }
}

/// The tasks, in request order, and the task pane's cursor.
#[derive(Clone, Debug)]
pub struct Tasks {
    /// Tasks, oldest (lowest request) first.
    list: Vec<TaskView>,
    /// The task pane's cursor.
    pub cursor: Cursor,
    /// The next request id (tasks and batches).
    next_request: u64,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks {
            list: Vec::new(),
            cursor: Cursor::default(),
            next_request: 1,
        }
    }
}

impl Tasks {
    /// Every task, oldest first.
    pub fn all(&self) -> &[TaskView] {
        &self.list
    }

    /// The request id [`Tasks::new_request`] gives next.
    pub fn next_request(&self) -> u64 {
        self.next_request
    }

    /// A new request id: each is used once, in increasing order.
    pub fn new_request(&mut self) -> u64 {
        let r = self.next_request;
        self.next_request += 1;
        r
    }

    /// Add the task of a request newer than every other (request order is kept); the
    /// cursor moves onto it.
    pub fn push(&mut self, task: TaskView) {
        debug_assert!(self.list.last().is_none_or(|t| t.request < task.request));
        self.list.push(task);
        self.cursor.selected = self.list.len() - 1;
    }

    /// The task under the cursor.
    pub fn selected(&self) -> Option<&TaskView> {
        self.list.get(self.cursor.selected)
    }

    /// The task of a request.
    pub fn by_request(&self, request: u64) -> Option<&TaskView> {
        let i = self
            .list
            .binary_search_by_key(&request, |t| t.request)
            .ok()?;
        self.list.get(i)
    }

    /// The task of a request, to change it.
    pub fn by_request_mut(&mut self, request: u64) -> Option<&mut TaskView> {
        let i = self
            .list
            .binary_search_by_key(&request, |t| t.request)
            .ok()?;
        self.list.get_mut(i)
    }

    /// Tasks still running.
    pub fn running(&self) -> usize {
        self.list.iter().filter(|t| t.is_running()).count()
    }
}

/// Messages the log keeps (the oldest go first).
pub const LOG_LINES: usize = 500;

/// The status line's message and every message said, with its time (the `L` log).
#[derive(Clone, Debug, Default)]
pub struct MessageLog {
    /// The status line's message.
    pub status: Option<(Level, String)>,
    /// The last [`LOG_LINES`] messages, oldest first.
    lines: VecDeque<(DateTime<Utc>, Level, String)>,
}

impl MessageLog {
    /// Keep a message (made safe: messages quote servers), the oldest going when full;
    /// the text as kept.
    pub fn keep(&mut self, at: DateTime<Utc>, level: Level, text: &str) -> String {
        let text = crate::safe::terminal(text).into_owned();
        if self.lines.len() >= LOG_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back((at, level, text.clone()));
        text
    }

    /// The messages kept, oldest first.
    pub fn lines(&self) -> &VecDeque<(DateTime<Utc>, Level, String)> {
        &self.lines
    }
}

/// What owns the keys above the panes: one at a time.
#[derive(Clone, Debug, Default)]
pub enum Modal {
    /// Nothing: the keys go to the panes.
    #[default]
    None,
    /// No profile is configured: the welcome, with the config file it would read.
    Welcome(String),
    /// A dialog.
    Dialog(Box<Dialog>),
    /// The help overlay.
    Help,
    /// The command palette.
    Palette(Palette),
    /// Typing into the inventory's filter.
    Filter,
}
