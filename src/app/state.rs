//! The TUI's state: plain data, derived rows rebuilt only when their inputs change.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::config::{ConfirmMode, ThemeName};
use crate::model::change::{Change, FormField, Input, Value};
use crate::model::filter::Filter;
use crate::model::guest::GuestAgent;
use crate::model::{
    HealthThresholds, Machine, MachineRef, ProviderKind, TaskState, Warning, machine_warnings,
};

pub use super::parts::{
    Batch, Inventory, InventoryView, LOG_LINES, Left, MessageLog, Modal, Tasks, TreeView,
};

pub use super::list::{SnapshotList, SortKey};

/// The smallest usable terminal: below it the screen is one sentence and only quitting
/// (and suspending) acts, since nothing else the keys would do can be seen.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// Whether a terminal of `size` (columns, rows) is below [`MIN_SIZE`].
pub fn too_small(size: (u16, u16)) -> bool {
    size.0 < MIN_SIZE.0 || size.1 < MIN_SIZE.1
}
pub use super::marks::{MarkKey, Marks};

/// What the left pane shows (`v` switches).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeftView {
    /// Profiles, folders and machines.
    #[default]
    Inventory,
    /// Every snapshot of the shown machines, flat (docs/cleanup.md, "The snapshot list").
    Snapshots,
}

/// A pane that can have focus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    /// The left pane: the inventory, or the snapshot list.
    Inventory,
    /// The selected machine's snapshot tree.
    Tree,
    /// The selected machine's or snapshot's details (they scroll).
    Details,
    /// Running and recent tasks.
    Tasks,
}

/// A profile's connection state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileStatus {
    /// Loading (first time or refresh).
    Loading,
    /// Loaded.
    Connected,
    /// Failed: the kind, the whole sentence, and when it is tried again.
    Error(crate::engine::Trouble, String, std::time::Duration),
}

/// A profile as shown.
#[derive(Clone, Debug)]
pub struct ProfileView {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: ProviderKind,
    /// Changes refused.
    pub read_only: bool,
    /// Its VPSs' guest agent is checked over ssh before a take (`guest_check = "ssh"`).
    pub guest_check: bool,
    /// State.
    pub status: ProfileStatus,
    /// Where it goes (`ProfileConfig::shown_endpoint`), when configured.
    pub endpoint: Option<String>,
    /// Who it logs in as, when configured.
    pub user: Option<String>,
    /// What the server said it is at the last complete load (`Provider::server`).
    pub server: Option<String>,
}

/// One inventory row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// A profile header.
    Profile(usize),
    /// A folder/datacenter/zone header: profile index, label.
    Group(usize, String),
    /// A machine (index into `machines`).
    Machine(usize),
}

/// One snapshot-tree row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeRow {
    /// Snapshot id, or `None` for the "You are here" node.
    pub snapshot: Option<String>,
    /// Indentation guide drawn before the label.
    pub prefix: String,
    /// Has children (collapsible).
    pub has_children: bool,
}

/// A scrollable list position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Selected row.
    pub selected: usize,
}

/// A text being edited: its value and cursor, with the usual editing keys (Left, Right,
/// Home, End, Ctrl-A/E, Ctrl-U, Ctrl-W, Ctrl-K, Delete, Alt-Backspace) by `tui-input`.
/// A proposed value (a take's name made of the date and time) is shown selected: the
/// first letter typed replaces it, Backspace or Delete empties it, a move keeps it to edit,
/// and Enter takes it as it is.
#[derive(Clone, Debug, Default)]
pub struct TextInput {
    input: tui_input::Input,
    proposed: bool,
}

impl TextInput {
    /// A field holding `value`, the cursor at its end.
    pub fn new(value: impl Into<String>) -> Self {
        TextInput {
            input: tui_input::Input::new(value.into()),
            proposed: false,
        }
    }

    /// A field proposing `value`: the first letter typed replaces it.
    pub fn proposing(value: impl Into<String>) -> Self {
        let value = value.into();
        TextInput {
            proposed: !value.is_empty(),
            input: tui_input::Input::new(value),
        }
    }

    /// The text.
    pub fn value(&self) -> &str {
        self.input.value()
    }

    /// Whether the value is still the one proposed, untouched (drawn selected).
    pub fn is_proposed(&self) -> bool {
        self.proposed
    }

    /// Nothing typed.
    pub fn is_empty(&self) -> bool {
        self.input.value().is_empty()
    }

    /// The cursor, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.input.cursor()
    }

    /// Empty it.
    pub fn clear(&mut self) {
        self.input.reset();
        self.proposed = false;
    }

    /// Apply an editing key; false when the key is not one (Enter, Esc, Tab, …).
    pub fn handle(&mut self, key: &crossterm::event::KeyEvent) -> bool {
        use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
        let mut key = *key;
        // Keys from a test or a terminal without the kitty protocol are presses.
        if key.kind != KeyEventKind::Release {
            key.kind = KeyEventKind::Press;
        }
        let Some(request) = tui_input::backend::crossterm::to_input_request(&Event::Key(key))
        else {
            return false;
        };
        if std::mem::take(&mut self.proposed) {
            let letter = matches!(key.code, KeyCode::Char(_))
                && !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
            if matches!(key.code, KeyCode::Backspace | KeyCode::Delete) {
                self.input.reset();
                return true;
            }
            if letter {
                self.input.reset();
            }
        }
        self.input.handle(request);
        true
    }
}

impl PartialEq for TextInput {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value() && self.cursor() == other.cursor()
    }
}

impl Eq for TextInput {}

impl std::fmt::Display for TextInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.value())
    }
}

/// A text field or a checkbox in a dialog; `input` says what it sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// Free text.
    Text {
        /// What it sets.
        input: Input,
        /// Label.
        label: String,
        /// Value and cursor.
        editor: TextInput,
    },
    /// A choice.
    Check {
        /// What it sets.
        input: Input,
        /// Label.
        label: String,
        /// Value.
        value: bool,
        /// Why it cannot be changed, if it cannot.
        disabled: Option<String>,
    },
}

impl Field {
    /// The dialog field of a change's form field.
    pub fn of(f: &FormField) -> Field {
        match &f.value {
            Value::Text(v) => Field::Text {
                input: f.input,
                label: f.label.clone(),
                editor: if f.proposed {
                    TextInput::proposing(v.clone())
                } else {
                    TextInput::new(v.clone())
                },
            },
            Value::Check { on, disabled } => Field::Check {
                input: f.input,
                label: f.label.clone(),
                value: *on,
                disabled: disabled.clone(),
            },
        }
    }

    /// What it sets.
    pub fn input(&self) -> Input {
        match self {
            Field::Text { input, .. } | Field::Check { input, .. } => *input,
        }
    }

    /// Its label.
    pub fn label(&self) -> &str {
        match self {
            Field::Text { label, .. } | Field::Check { label, .. } => label,
        }
    }
}

/// What a dialog does when confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialogKind {
    /// A change (one operation, or a batch of deletions), as `model::change` describes it;
    /// its steps carry the view the dialog was opened on.
    Change(Box<Change>),
    /// Quit while tasks run or wait.
    Quit,
    /// A download link to show and copy.
    Link(String),
    /// An option's order created: where it is paid, to copy.
    Order(String),
    /// A task's full text, by request.
    Task(u64),
    /// The message log.
    Log,
    /// Why a profile could not be read, whole (its index).
    Profile(usize),
    /// A VPS's automated backup: its restore points, one chosen.
    Backups {
        /// The VPS.
        machine: MachineRef,
        /// The restore point chosen (newest first).
        selected: usize,
    },
}

/// What the inventory cursor is on, by identity: kept across filtering, reloads, polls,
/// live updates and collapse, so the row under the cursor never silently becomes another.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RowKey {
    /// A profile header.
    Profile(String),
    /// A folder/datacenter/zone header: profile, label.
    Group(String, String),
    /// A machine.
    Machine(MachineRef),
}

/// A modal dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    /// Title.
    pub title: String,
    /// What it does.
    pub kind: DialogKind,
    /// Exactly what will happen.
    pub lines: Vec<String>,
    /// Inputs.
    pub fields: Vec<Field>,
    /// Focused input.
    pub focus: usize,
    /// The questions after the confirmation answered so far (Enter again answers the one
    /// shown): the change's flow (`model::flow`).
    pub asked: crate::model::flow::Asked,
    /// Lines scrolled off the top (long texts: a task's, the log).
    pub scroll: usize,
    /// The take of a VPS whose guest agent is checked: its machine and the line that says
    /// what the check found (updated when it answers).
    pub guest: Option<(MachineRef, usize)>,
}

impl Dialog {
    /// A dialog with only text and keys (quit, link, task).
    pub fn plain(title: impl Into<String>, kind: DialogKind, lines: Vec<String>) -> Dialog {
        Dialog {
            title: title.into(),
            kind,
            lines,
            fields: Vec::new(),
            focus: 0,
            asked: crate::model::flow::Asked::default(),
            scroll: 0,
            guest: None,
        }
    }

    /// The dialog of a change: its words, its form (a typed confirmation first).
    pub fn change(change: Change) -> Dialog {
        Dialog {
            title: change.title.clone(),
            lines: change.lines.clone(),
            fields: change.fields.iter().map(Field::of).collect(),
            focus: 0,
            asked: crate::model::flow::Asked::default(),
            scroll: 0,
            guest: None,
            kind: DialogKind::Change(Box::new(change)),
        }
    }

    /// A typed confirmation is asked for.
    pub fn needs_typing(&self) -> bool {
        self.fields.iter().any(|f| f.input() == Input::Typed)
    }
}

/// The last guest agent check of a VPS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestSeen {
    /// What it found (`Checking` until it answers).
    pub state: GuestAgent,
    /// When it was asked.
    pub asked: DateTime<Utc>,
    /// Its request id: an answer to an older check is not this one's.
    pub request: u64,
}

/// A task as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskView {
    /// Request id.
    pub request: u64,
    /// Profile.
    pub profile: String,
    /// Machine id.
    pub machine_id: String,
    /// Machine name.
    pub machine: String,
    /// The change (its name is `operation()`).
    pub op: crate::model::Operation,
    /// Target label (snapshot name or "").
    pub target: String,
    /// Back-end task id once known.
    pub task_id: Option<String>,
    /// State; `None` while being sent.
    pub state: Option<TaskState>,
    /// Percent.
    pub progress: Option<u8>,
    /// The server's words, or why it was refused or skipped.
    pub message: Option<String>,
    /// Ended without running on the server: refused (stale view, read-only) or skipped
    /// (an earlier step of its batch failed on the same machine).
    pub not_run: Option<NotRun>,
    /// The batch it is a step of.
    pub batch: Option<u64>,
    /// Cancel applies.
    pub cancelable: bool,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it ended.
    pub ended: Option<DateTime<Utc>>,
}

impl TaskView {
    /// The change's name, as the CLI and the audit log say it.
    pub fn operation(&self) -> &'static str {
        self.op.name()
    }

    /// Still running (or being sent).
    pub fn is_running(&self) -> bool {
        !self.state.is_some_and(|s| s.is_final()) && self.not_run.is_none()
    }
}

/// Why a task did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotRun {
    /// Refused before anything was sent.
    Refused,
    /// Not started: an earlier step on the same machine failed.
    Skipped,
}

/// A batch of deletions as one plan: its steps and how they ended so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchView {
    /// Its id (the plan id sent with each step).
    pub id: u64,
    /// What it does, for the status line: `delete marked`, or a single change's summary
    /// (a delete with descendants made one snapshot per call).
    pub what: String,
    /// Steps in all.
    pub total: usize,
    /// Steps that succeeded.
    pub done: usize,
    /// Steps that failed, were refused or cancelled.
    pub failed: usize,
    /// Steps not started because an earlier one on their machine failed.
    pub skipped: usize,
    /// Bytes the done steps freed (as the sizes were shown).
    pub freed: u64,
    /// Whether any step's size was known (a VPS's or a Proxmox guest's snapshot has none).
    pub sized: bool,
    /// Machines with a step running on the server now (one at a time on each).
    pub running: std::collections::BTreeSet<MachineRef>,
}

impl BatchView {
    /// Steps ended.
    pub fn ended(&self) -> usize {
        self.done + self.failed + self.skipped
    }
}

/// Severity of a status-line message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Information.
    Info,
    /// Something was refused or failed.
    Error,
}

/// Settings the app reads.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Confirmation style.
    pub confirm: ConfirmMode,
    /// Theme.
    pub theme: ThemeName,
    /// Health thresholds.
    pub thresholds: HealthThresholds,
    /// `[cleanup] protect` globs (a lock on the snapshots they protect).
    pub protect: crate::model::cleanup::Protect,
}

/// The palette's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Palette {
    /// Typed query, edited as every text field is.
    pub query: TextInput,
    /// Selected entry among the matches.
    pub selected: usize,
}

/// A row of the inventory that folds: a profile, or a group (a folder path) of a profile.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fold {
    /// The profile of this name.
    Profile(String),
    /// The group of this label in the profile of this name.
    Group(String, String),
}

impl Fold {
    /// The fold of inventory row `row`, if it folds.
    pub fn of(row: &Row, profiles: &[ProfileView]) -> Option<Fold> {
        match row {
            Row::Profile(i) => Some(Fold::Profile(profiles[*i].name.clone())),
            Row::Group(i, label) => Some(Fold::Group(profiles[*i].name.clone(), label.clone())),
            Row::Machine(_) => None,
        }
    }
}

/// The whole TUI state, in parts that keep their own rules (`parts`); `update` routes
/// keys and events to them, and the methods here keep them in step with each other.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Profiles and their machines, with what is derived from each machine.
    pub inventory: Inventory,
    /// The inventory pane: rows, cursor, folds and filter.
    pub nav: InventoryView,
    /// The selected machine's snapshot tree.
    pub tree: TreeView,
    /// What the left pane shows, and the snapshot list.
    pub left: Left,
    /// Marks and their batches.
    pub batch: Batch,
    /// Tasks and the task pane's cursor.
    pub tasks: Tasks,
    /// The status line and the message log.
    pub log: MessageLog,
    /// What owns the keys above the panes: a dialog, the help, the palette, the filter.
    pub modal: Modal,
    /// Focused pane.
    pub focus: Pane,
    /// Settings.
    pub settings: Settings,
    /// The clock, advanced by ticks (tests fix it).
    pub now: DateTime<Utc>,
    /// Spinner frame.
    pub spinner: usize,
    /// Terminal size (for paging).
    pub size: (u16, u16),
    /// Set when the app should exit.
    pub quit: bool,
    /// The option quotes asked for last (`O`): its request and VPS; an answer to another
    /// is dropped.
    pub quotes_asked: Option<(u64, MachineRef)>,
    /// The last overview drawn, with what it was computed from.
    overview_cache: std::cell::RefCell<Option<(OverviewKey, crate::model::report::Overview)>>,
}

/// What part of the estate the overview sums up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every machine shown.
    Estate,
    /// One profile's machines (index into `profiles`).
    Profile(usize),
    /// One group's machines: profile index and the group's label.
    Group(usize, String),
}

/// What an overview was computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct OverviewKey {
    scope: Scope,
    generation: u64,
    filter: String,
    minute: i64,
}

impl AppState {
    /// Say something on the status line; it is kept in the message log too.
    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        let text = self.remember(level, text);
        self.log.status = Some((level, text));
    }

    /// Keep a message in the log only (the status line says something else); the text as
    /// kept, made safe: messages quote servers.
    pub fn remember(&mut self, level: Level, text: impl Into<String>) -> String {
        self.log.keep(self.now, level, &text.into())
    }

    /// A fresh state for these profiles.
    pub fn new(profiles: Vec<ProfileView>, settings: Settings, now: DateTime<Utc>) -> Self {
        let mut s = AppState {
            inventory: Inventory::new(profiles, now),
            nav: InventoryView::default(),
            tree: TreeView::default(),
            left: Left::default(),
            batch: Batch::default(),
            tasks: Tasks::default(),
            log: MessageLog::default(),
            modal: Modal::None,
            focus: Pane::Inventory,
            settings,
            now,
            spinner: 0,
            size: (80, 24),
            quit: false,
            overview_cache: std::cell::RefCell::new(None),
            quotes_asked: None,
        };
        s.rebuild_rows();
        s.set_inv_cursor(0);
        s
    }

    /// Every machine, grouped by profile then location then name.
    pub fn machines(&self) -> &[Machine] {
        self.inventory.machines()
    }

    /// The open dialog.
    pub fn dialog(&self) -> Option<&Dialog> {
        match &self.modal {
            Modal::Dialog(d) => Some(d),
            _ => None,
        }
    }

    /// The open dialog, to change it.
    pub fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        match &mut self.modal {
            Modal::Dialog(d) => Some(d),
            _ => None,
        }
    }

    /// Open a dialog over whatever else held the keys.
    pub fn open_dialog(&mut self, d: Dialog) {
        self.modal = Modal::Dialog(Box::new(d));
    }

    /// Close the open dialog, if one is.
    pub fn close_dialog(&mut self) {
        if matches!(self.modal, Modal::Dialog(_)) {
            self.modal = Modal::None;
        }
    }

    /// The open dialog, closed.
    pub fn take_dialog(&mut self) -> Option<Dialog> {
        match std::mem::take(&mut self.modal) {
            Modal::Dialog(d) => Some(*d),
            other => {
                self.modal = other;
                None
            }
        }
    }

    /// The open palette.
    pub fn palette(&self) -> Option<&Palette> {
        match &self.modal {
            Modal::Palette(p) => Some(p),
            _ => None,
        }
    }

    /// Whether the help is shown.
    pub fn help_shown(&self) -> bool {
        matches!(self.modal, Modal::Help)
    }

    /// Whether keys type into the filter.
    pub fn filtering(&self) -> bool {
        matches!(self.modal, Modal::Filter)
    }

    /// The config file the welcome names, when no profile is configured.
    pub fn welcome(&self) -> Option<&str> {
        match &self.modal {
            Modal::Welcome(config) => Some(config),
            _ => None,
        }
    }

    /// The identity of an inventory row.
    pub fn row_key(&self, row: &Row) -> RowKey {
        let profiles = &self.inventory.profiles;
        match row {
            Row::Profile(i) => RowKey::Profile(profiles[*i].name.clone()),
            Row::Group(i, label) => RowKey::Group(profiles[*i].name.clone(), label.clone()),
            Row::Machine(i) => {
                let m = &self.machines()[*i];
                RowKey::Machine(m.machine_ref())
            }
        }
    }

    /// Put the inventory cursor on row `index` (a user's move): that row is now selected.
    pub fn set_inv_cursor(&mut self, index: usize) {
        self.nav.cursor.selected = index.min(self.nav.rows.len().saturating_sub(1));
        self.nav.key = self
            .nav
            .rows
            .get(self.nav.cursor.selected)
            .map(|r| self.row_key(r));
        self.nav.shown = self.nav.key.is_some();
    }

    /// After the rows changed: find the selected row again by its identity.
    fn place_inv_cursor(&mut self) {
        let found = self.nav.key.as_ref().and_then(|key| {
            self.nav.rows.iter().position(|r| match (r, key) {
                (Row::Machine(i), RowKey::Machine(MachineRef { profile: p, id })) => {
                    let m = &self.machines()[*i];
                    m.profile == *p && m.id == *id
                }
                (Row::Profile(_) | Row::Group(..), RowKey::Profile(_) | RowKey::Group(..)) => {
                    self.row_key(r) == *key
                }
                _ => false,
            })
        });
        self.nav.shown = found.is_some();
        self.nav.cursor.selected = found.unwrap_or(
            self.nav
                .cursor
                .selected
                .min(self.nav.rows.len().saturating_sub(1)),
        );
    }

    /// Profile index by name.
    pub fn profile_index(&self, name: &str) -> Option<usize> {
        self.inventory.profile_index(name)
    }

    /// Whether a profile is read-only.
    pub fn read_only(&self, profile: &str) -> bool {
        self.inventory.read_only(profile)
    }

    /// Replace one profile's machines (keeps the others and the selection).
    pub fn set_machines(&mut self, profile: &str, machines: Vec<Machine>) {
        let (t, now) = (&self.settings.thresholds, self.now);
        self.inventory.set_profile(
            profile,
            machines,
            |m| machine_warnings(m, t, now).last().copied(),
            now,
        );
        if self.left.view == LeftView::Snapshots {
            self.left.list.rebuild(self.inventory.machines());
        }
        self.rebuild_rows();
        self.rebuild_tree();
    }

    /// Recompute every machine's worst warning (ages are relative to `now`), then the rows.
    pub fn refresh_warnings(&mut self) {
        let (t, now) = (&self.settings.thresholds, self.now);
        self.inventory
            .rewarn(|m| machine_warnings(m, t, now).last().copied(), now);
        self.rebuild_rows();
    }

    /// Who took each snapshot of a profile (its task history): shown in the details.
    pub fn set_creators(
        &mut self,
        profile: &str,
        creators: &std::collections::HashMap<String, String>,
    ) {
        self.inventory.set_creators(profile, creators);
    }

    /// Replace one machine.
    pub fn update_machine(&mut self, machine: Machine) {
        let (t, now) = (&self.settings.thresholds, self.now);
        let worst = |m: &Machine| machine_warnings(m, t, now).last().copied();
        let i = match self.inventory.replace(machine, worst) {
            Ok(i) => {
                // A collapsed row shows the worst it hides: keep that true.
                if !self.nav.collapsed.is_empty() {
                    self.rebuild_rows();
                }
                i
            }
            Err(machine) => {
                let profile = machine.profile.clone();
                let mut all: Vec<Machine> = self
                    .machines()
                    .iter()
                    .filter(|m| m.profile == profile)
                    .cloned()
                    .collect();
                all.push(*machine);
                self.set_machines(&profile, all);
                return;
            }
        };
        // Marks on snapshots that no longer exist are dropped.
        let m = &self.inventory.machines()[i];
        self.batch
            .marks
            .retain_machine(&m.profile, &m.id, |snap| m.find(snap).is_some());
        if self.left.view == LeftView::Snapshots {
            self.left
                .list
                .replace_machine(i, m, self.inventory.machines());
            self.refilter_list();
        }
        self.rebuild_tree();
    }

    /// True when machine `i` passes the inventory's filter (`model::filter`'s rule).
    fn passes(&self, i: usize, filter: &Filter) -> bool {
        filter.is_empty() || filter.matches_text(self.inventory.search_text(i))
    }

    /// The machines the inventory's filter lets through (collapsed groups included).
    pub fn filtered_machines(&self) -> Vec<&Machine> {
        let filter = Filter::new(self.nav.filter.value());
        (0..self.machines().len())
            .filter(|&i| self.passes(i, &filter))
            .map(|i| &self.machines()[i])
            .collect()
    }

    /// Recompute the visible inventory rows from machines, filter and collapsed groups.
    pub fn rebuild_rows(&mut self) {
        let filter = Filter::new(self.nav.filter.value());
        let machines = self.inventory.machines();
        let mut rows = Vec::with_capacity(machines.len() + self.inventory.profiles.len());
        let mut hidden_worst: std::collections::HashMap<usize, Warning> =
            std::collections::HashMap::new();
        // The worst hidden warning so far under one row, merged when that row changes (a
        // hash per collapsed row, not per hidden machine).
        let mut pending: Option<(usize, Warning)> = None;
        let mut flush = |pending: &mut Option<(usize, Warning)>| {
            if let Some((row, w)) = pending.take() {
                let worst = hidden_worst.entry(row).or_insert(w);
                *worst = (*worst).max(w);
            }
        };
        let mut i = 0;
        for (pi, p) in self.inventory.profiles.iter().enumerate() {
            let start = rows.len();
            rows.push(Row::Profile(pi));
            let profile_open = !self.nav.collapsed.contains(&Fold::Profile(p.name.clone()));
            let mut any = false;
            // Machines are sorted by location: a group's machines are contiguous, and its
            // label is joined once, when it starts.
            let mut group: Option<&[String]> = None;
            let mut group_open = true;
            let mut group_row = start;
            while i < machines.len() && machines[i].profile == p.name {
                let m = &machines[i];
                if self.passes(i, &filter) {
                    any = true;
                    if group != Some(m.location.as_slice()) {
                        let label = m.location.join("/");
                        group_open = !self
                            .nav
                            .collapsed
                            .contains(&Fold::Group(p.name.clone(), label.clone()));
                        if profile_open {
                            group_row = rows.len();
                            rows.push(Row::Group(pi, label));
                        }
                        group = Some(&m.location);
                    }
                    if profile_open && group_open {
                        rows.push(Row::Machine(i));
                    } else if let Some(w) = self.inventory.worst(i) {
                        // Hidden under the profile row, or under its group's row.
                        let under = if profile_open { group_row } else { start };
                        match &mut pending {
                            Some((row, worst)) if *row == under => *worst = (*worst).max(w),
                            _ => {
                                flush(&mut pending);
                                pending = Some((under, w));
                            }
                        }
                    }
                }
                i += 1;
            }
            if !any && !filter.is_empty() {
                rows.truncate(start);
            }
        }
        flush(&mut pending);
        self.nav.rows = rows;
        self.nav.hidden_worst = hidden_worst;
        self.place_inv_cursor();
        self.refilter_list();
    }

    /// The snapshot list's shown rows after the filter or the rows changed: the snapshots
    /// of the machines the filter lets through, and those whose name, description or id
    /// it matches.
    pub fn refilter_list(&mut self) {
        if self.left.view != LeftView::Snapshots {
            return;
        }
        let filter = Filter::new(self.nav.filter.value());
        let inventory = &self.inventory;
        let index_of = |m: &MachineRef| inventory.index(m);
        self.left.list.refilter(index_of, |r| {
            filter.is_empty()
                || filter.matches_text(inventory.search_text(r.machine))
                || filter.matches_text(&r.text)
        });
    }

    /// Show the inventory or the snapshot list in the left pane, keeping the selection: the
    /// list opens on the snapshot selected in the tree, the inventory on the list's machine.
    pub fn set_view(&mut self, view: LeftView) {
        if view == self.left.view {
            return;
        }
        let tree_snapshot = self
            .selected_machine()
            .zip(self.selected_snapshot())
            .map(|(m, id)| MarkKey::new(m.machine_ref(), id.to_string()));
        let list_machine = self.selected_machine().map(|m| m.machine_ref());
        self.left.view = view;
        match view {
            LeftView::Snapshots => {
                self.left.list.rebuild(self.inventory.machines());
                if tree_snapshot.is_some() {
                    self.left.list.key = tree_snapshot;
                }
                self.refilter_list();
                if !self.left.list.key_shown {
                    self.left.list.set_cursor(0, self.inventory.machines());
                }
                self.rebuild_tree();
                self.show_list_snapshot_in_tree();
            }
            LeftView::Inventory => {
                // The rows are rebuilt when the list opens again: not kept meanwhile.
                self.left.list.rows = Vec::new();
                self.left.list.shown = Vec::new();
                if let Some(m) = list_machine {
                    self.select_machine(&m.profile, &m.id);
                }
                self.rebuild_tree();
            }
        }
    }

    /// Put the snapshot-list cursor on shown row `index` (a user's move); the tree shows
    /// that snapshot.
    pub fn set_list_cursor(&mut self, index: usize) {
        self.left.list.set_cursor(index, self.inventory.machines());
        self.rebuild_tree();
        self.show_list_snapshot_in_tree();
    }

    /// Put the tree cursor on the snapshot the list selects, if the tree shows it.
    fn show_list_snapshot_in_tree(&mut self) {
        let Some(id) = self.left.list.selected().map(|r| r.id.as_str()) else {
            return;
        };
        if let Some(p) = self
            .tree
            .rows
            .iter()
            .position(|r| r.snapshot.as_deref() == Some(id))
        {
            self.tree.cursor.selected = p;
            self.tree.lost = false;
        }
    }

    /// The machine under the inventory cursor.
    pub fn selected_machine(&self) -> Option<&Machine> {
        if self.left.view == LeftView::Snapshots {
            return self
                .left
                .list
                .selected()
                .and_then(|r| self.machines().get(r.machine));
        }
        match self.nav.selected_row() {
            Some(Row::Machine(i)) => self.machines().get(*i),
            _ => None,
        }
    }

    /// Move the inventory cursor to a machine if it is visible.
    pub fn select_machine(&mut self, profile: &str, id: &str) -> bool {
        let machines = self.inventory.machines();
        let pos = self.nav.rows.iter().position(|r| match r {
            Row::Machine(i) => machines[*i].profile == profile && machines[*i].id == id,
            _ => false,
        });
        if let Some(p) = pos {
            self.set_inv_cursor(p);
        }
        pos.is_some()
    }

    /// Recompute the tree rows of the selected machine; keeps the selected snapshot.
    pub fn rebuild_tree(&mut self) {
        let key = self.selected_machine().map(|m| m.machine_ref());
        let same = key == self.tree.of;
        let keep = if same {
            self.tree.selected_row().map(|r| r.snapshot.clone())
        } else {
            None
        };
        let rows = match self.selected_machine() {
            Some(m) => tree_rows(m, &self.tree.collapsed),
            None => Vec::new(),
        };
        let current = self.selected_machine().and_then(|m| m.current.clone());
        let tree = &mut self.tree;
        tree.rows = rows;
        tree.of = key;
        let was_lost = same && tree.lost;
        // The same machine keeps its snapshot; a new machine starts on the current one.
        let target = keep.unwrap_or(current);
        match tree.rows.iter().position(|r| r.snapshot == target) {
            Some(p) if !was_lost => {
                tree.cursor.selected = p;
                tree.lost = false;
            }
            // The selected snapshot is gone: select none rather than whatever is there now.
            _ if same => {
                tree.lost = true;
                tree.cursor.selected = tree.cursor.selected.min(tree.rows.len().saturating_sub(1));
            }
            _ => {
                tree.cursor.selected = 0;
                tree.lost = false;
            }
        }
    }

    /// The selected snapshot id of the shown tree.
    pub fn selected_snapshot(&self) -> Option<&str> {
        // The list's row, unless the user moved into the tree.
        if self.left.view == LeftView::Snapshots && self.focus != Pane::Tree {
            return self.left.list.selected().map(|r| r.id.as_str());
        }
        self.tree.selected_row().and_then(|r| r.snapshot.as_deref())
    }

    /// Warnings of a machine with the configured thresholds.
    pub fn warnings(&self, m: &Machine) -> Vec<Warning> {
        machine_warnings(m, &self.settings.thresholds, self.now)
    }

    /// A machine by key.
    pub fn machine(&self, key: &MachineRef) -> Option<&Machine> {
        self.inventory.machine(key)
    }

    /// What the overview sums up when no machine is selected in the inventory: the
    /// selected profile or group, or the whole estate; none when a machine (or, in the
    /// snapshot list, a snapshot) is what the right side shows.
    pub fn overview_scope(&self) -> Option<Scope> {
        if self.left.view == LeftView::Snapshots {
            return None;
        }
        match self.nav.selected_row() {
            Some(Row::Machine(_)) => None,
            Some(Row::Profile(i)) => Some(Scope::Profile(*i)),
            Some(Row::Group(i, label)) => Some(Scope::Group(*i, label.clone())),
            None => Some(Scope::Estate),
        }
    }

    /// The overview of the scope shown (the filter applies), computed once per change of
    /// the machines, the selection, the filter or the minute, not per frame.
    pub fn overview(&self, scope: &Scope) -> crate::model::report::Overview {
        let key = OverviewKey {
            scope: scope.clone(),
            generation: self.inventory.generation(),
            filter: self.nav.filter.value().to_string(),
            minute: self.now.timestamp() / 60,
        };
        if let Some((k, o)) = self.overview_cache.borrow().as_ref()
            && *k == key
        {
            return o.clone();
        }
        let filter = Filter::new(self.nav.filter.value());
        let profiles = &self.inventory.profiles;
        let in_scope = |m: &Machine| match scope {
            Scope::Estate => true,
            Scope::Profile(i) => profiles.get(*i).is_some_and(|p| p.name == m.profile),
            Scope::Group(i, label) => {
                profiles.get(*i).is_some_and(|p| p.name == m.profile)
                    && m.location.join("/") == *label
            }
        };
        let machines = self.machines();
        let shown = (0..machines.len())
            .filter(|&i| self.passes(i, &filter) && in_scope(&machines[i]))
            .map(|i| &machines[i]);
        let o = crate::model::report::overview(shown, &self.settings.protect, self.now);
        *self.overview_cache.borrow_mut() = Some((key, o.clone()));
        o
    }

    /// The task of a request (tasks are kept in request order).
    pub fn task(&self, request: u64) -> Option<&TaskView> {
        self.tasks.by_request(request)
    }

    /// The task of a request, to change it.
    pub fn task_mut(&mut self, request: u64) -> Option<&mut TaskView> {
        self.tasks.by_request_mut(request)
    }
}

/// Flatten a tree into rows, with "You are here" as the last child of the current snapshot.
pub fn tree_rows(m: &Machine, collapsed: &HashSet<String>) -> Vec<TreeRow> {
    // `here_follows`: "You are here" comes after these nodes, so none of them is the last.
    fn rec(
        nodes: &[crate::model::Snapshot],
        current: Option<&str>,
        here_follows: bool,
        guide: &str,
        collapsed: &HashSet<String>,
        out: &mut Vec<TreeRow>,
    ) {
        for (i, n) in nodes.iter().enumerate() {
            let last = i + 1 == nodes.len() && !here_follows;
            let here = current == Some(n.id.as_str());
            out.push(TreeRow {
                snapshot: Some(n.id.clone()),
                prefix: format!("{guide}{}", if last { "└─" } else { "├─" }),
                has_children: !n.children.is_empty() || here,
            });
            if collapsed.contains(&n.id) {
                continue;
            }
            let child_guide = format!("{guide}{}", if last { "  " } else { "│ " });
            rec(&n.children, current, here, &child_guide, collapsed, out);
            if here {
                out.push(TreeRow {
                    snapshot: None,
                    prefix: format!("{child_guide}└─"),
                    has_children: false,
                });
            }
        }
    }
    let mut out = Vec::new();
    rec(
        &m.snapshots,
        m.current.as_deref(),
        m.current.is_none(),
        "",
        collapsed,
        &mut out,
    );
    if m.current.is_none() {
        out.push(TreeRow {
            snapshot: None,
            prefix: "└─".into(),
            has_children: false,
        });
    }
    out
}
