//! `update`: keys and engine events in, state changes and effects out.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keymap::{Action, KEYMAP, action_for};
use super::state::{
    AppState, Dialog, DialogKind, Field, Level, MachineKey, Pane, ProfileStatus, Row, TaskView,
};
use crate::config::ConfirmMode;
use crate::engine::policy::ensure_writable;
use crate::engine::{Command, Event, RunError, RunUpdate};
use crate::model::health::format_age;
use crate::model::plan::deletion_order;
use crate::model::{ExpectedView, Machine, Operation, PowerState, ProviderKind, TaskState};

/// Something that happened.
#[derive(Clone, Debug)]
pub enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// The engine reported something.
    Engine(Event),
    /// Time passed (spinners, elapsed times).
    Tick(DateTime<Utc>),
    /// The terminal was resized.
    Resize(u16, u16),
}

/// What the app asks the outside world to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send a command to a profile's worker.
    Send(String, Command),
    /// Reload every profile.
    RefreshAll,
    /// Copy text to the clipboard (OSC 52).
    Copy(String),
}

/// Apply one message to the state.
pub fn update(s: &mut AppState, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(s, key),
        Msg::Engine(event) => {
            on_event(s, event);
            Vec::new()
        }
        Msg::Tick(now) => {
            s.now = now;
            s.spinner = s.spinner.wrapping_add(1);
            Vec::new()
        }
        Msg::Resize(w, h) => {
            s.size = (w, h);
            Vec::new()
        }
    }
}

/// Whether ticks change what is drawn (spinners, elapsed times).
pub fn animating(s: &AppState) -> bool {
    s.running_tasks() > 0
        || s.profiles
            .iter()
            .any(|p| p.status == ProfileStatus::Loading)
}

fn info(s: &mut AppState, text: impl Into<String>) {
    s.message = Some((Level::Info, text.into()));
}

fn refuse(s: &mut AppState, text: impl Into<String>) -> Vec<Effect> {
    s.message = Some((Level::Error, text.into()));
    Vec::new()
}

fn on_key(s: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    if key.kind == crossterm::event::KeyEventKind::Release {
        return Vec::new();
    }
    if s.dialog.is_some() {
        return dialog_key(s, key);
    }
    if s.help {
        if matches!(
            key.code,
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
        ) {
            s.help = false;
        }
        return Vec::new();
    }
    if s.palette.is_some() {
        return palette_key(s, key);
    }
    if s.filtering {
        filter_key(s, key);
        return Vec::new();
    }
    if key.code == KeyCode::Esc {
        if !s.filter.is_empty() {
            clear_filter(s);
        }
        s.message = None;
        return Vec::new();
    }
    match action_for(&key) {
        Some(a) => apply(s, a),
        None => Vec::new(),
    }
}

/// Clear the filter, keeping the selected machine selected.
fn clear_filter(s: &mut AppState) {
    s.filter.clear();
    s.rebuild_rows();
    s.rebuild_tree();
}

fn filter_key(s: &mut AppState, key: KeyEvent) {
    match key.code {
        KeyCode::Esc => {
            s.filtering = false;
            clear_filter(s);
            return;
        }
        KeyCode::Enter => s.filtering = false,
        KeyCode::Backspace => {
            s.filter.pop();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => s.filter.push(c),
        _ => return,
    }
    s.rebuild_rows();
    // The selected machine stays while it matches; otherwise land on the first match.
    if s.selected_machine().is_none()
        && let Some(p) = s.rows.iter().position(|r| matches!(r, Row::Machine(_)))
    {
        s.set_inv_cursor(p);
    }
    s.rebuild_tree();
}

/// Palette entries matching a query: every action by name.
pub fn palette_matches(query: &str) -> Vec<&'static super::keymap::Binding> {
    let q = query.to_lowercase();
    KEYMAP
        .iter()
        .filter(|b| b.action != Action::Palette)
        .filter(|b| q.split_whitespace().all(|w| b.name.contains(w)))
        .collect()
}

fn palette_key(s: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let Some(p) = s.palette.as_mut() else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Esc => s.palette = None,
        KeyCode::Up => p.selected = p.selected.saturating_sub(1),
        KeyCode::Down => p.selected += 1,
        KeyCode::Backspace => {
            p.query.pop();
            p.selected = 0;
        }
        KeyCode::Enter => {
            let hits = palette_matches(&p.query);
            let chosen = hits
                .get(p.selected.min(hits.len().saturating_sub(1)))
                .map(|b| b.action);
            s.palette = None;
            if let Some(a) = chosen {
                return apply(s, a);
            }
        }
        KeyCode::Char(c) => {
            p.query.push(c);
            p.selected = 0;
        }
        _ => {}
    }
    if let Some(p) = s.palette.as_mut() {
        let n = palette_matches(&p.query).len();
        p.selected = p.selected.min(n.saturating_sub(1));
    }
    Vec::new()
}

fn page(s: &AppState) -> usize {
    (s.size.1 as usize).saturating_sub(12).max(1)
}

fn move_cursor(selected: &mut usize, len: usize, action: Action, page: usize) {
    let last = len.saturating_sub(1);
    *selected = match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (*selected + 1).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        Action::PageUp => selected.saturating_sub(page),
        Action::PageDown => (*selected + page).min(last),
        _ => *selected,
    };
}

/// Run one action.
pub fn apply(s: &mut AppState, action: Action) -> Vec<Effect> {
    use Action::*;
    match action {
        Up | Down | Top | Bottom | PageUp | PageDown => {
            let page = page(s);
            match s.focus {
                Pane::Inventory => {
                    let mut at = s.inv.selected;
                    move_cursor(&mut at, s.rows.len(), action, page);
                    s.set_inv_cursor(at);
                    s.rebuild_tree();
                }
                Pane::Tree => {
                    let mut at = s.tree.selected;
                    move_cursor(&mut at, s.tree_rows.len(), action, page);
                    s.set_tree_cursor(at);
                }
                Pane::Tasks => {
                    move_cursor(&mut s.task_cursor.selected, s.tasks.len(), action, page)
                }
            }
            Vec::new()
        }
        Collapse | Expand => {
            toggle(s, action == Expand);
            Vec::new()
        }
        NextPane | PrevPane => {
            let order = [Pane::Inventory, Pane::Tree, Pane::Tasks];
            let i = order.iter().position(|p| *p == s.focus).unwrap_or(0);
            let step = if action == NextPane {
                1
            } else {
                order.len() - 1
            };
            s.focus = order[(i + step) % order.len()];
            Vec::new()
        }
        Filter => {
            s.filtering = true;
            s.focus = Pane::Inventory;
            Vec::new()
        }
        Palette => {
            s.palette = Some(super::state::Palette::default());
            Vec::new()
        }
        Help => {
            s.help = !s.help;
            Vec::new()
        }
        Refresh => {
            for p in &mut s.profiles {
                p.status = ProfileStatus::Loading;
            }
            info(s, REFRESHING);
            vec![Effect::RefreshAll]
        }
        Quit => {
            let running = s.running_tasks();
            if running == 0 {
                s.quit = true;
            } else {
                s.dialog = Some(Dialog {
                    title: "Quit?".into(),
                    kind: DialogKind::Quit,
                    lines: vec![format!(
                        "{running} task(s) still running. They go on on the server, but snaptree will stop following them."
                    )],
                    fields: Vec::new(),
                    focus: 0,
                    must_type: None,
                });
            }
            Vec::new()
        }
        Copy => copy(s),
        Mark => mark(s),
        CancelTask => cancel_task(s),
        DownloadLink => download_link(s),
        Take | Revert | RevertCurrent | Delete | DeleteAll | Consolidate | Rename | Replace => {
            open_change(s, action)
        }
    }
}

fn toggle(s: &mut AppState, expand: bool) {
    match s.focus {
        Pane::Inventory => {
            let row = if s.inv_shown {
                s.rows.get(s.inv.selected)
            } else {
                None
            };
            let key = match row {
                Some(Row::Profile(i)) => format!("p:{}", s.profiles[*i].name),
                Some(Row::Group(i, label)) => format!("g:{}:{label}", s.profiles[*i].name),
                Some(Row::Machine(_)) => {
                    if expand {
                        s.focus = Pane::Tree;
                    }
                    return;
                }
                None => return,
            };
            if expand {
                s.collapsed.remove(&key);
            } else {
                s.collapsed.insert(key);
            }
            s.rebuild_rows();
            s.rebuild_tree();
        }
        Pane::Tree => {
            if let Some(row) = s.selected_tree_row().cloned()
                && let (Some(id), true) = (row.snapshot, row.has_children)
            {
                if expand {
                    s.collapsed_snapshots.remove(&id);
                } else {
                    s.collapsed_snapshots.insert(id);
                }
                s.rebuild_tree();
            }
        }
        Pane::Tasks => {}
    }
}

fn copy(s: &mut AppState) -> Vec<Effect> {
    let text = match (s.focus, s.selected_snapshot(), s.selected_machine()) {
        (Pane::Tasks, _, _) => s
            .tasks
            .get(s.task_cursor.selected)
            .and_then(|t| t.task_id.clone()),
        (_, Some(id), _) => Some(id.to_string()),
        (_, None, Some(m)) => Some(m.id.clone()),
        _ => None,
    };
    match text {
        Some(t) => {
            info(s, format!("copied {t}"));
            vec![Effect::Copy(t)]
        }
        None => refuse(s, "nothing selected to copy"),
    }
}

fn mark(s: &mut AppState) -> Vec<Effect> {
    let (Some(m), Some(id)) = (s.selected_machine(), s.selected_snapshot()) else {
        return refuse(s, "select a snapshot in the tree to mark it");
    };
    let key = (m.profile.clone(), m.id.clone(), id.to_string());
    if !s.marks.remove(&key) {
        s.marks.insert(key);
    }
    let n = s.marks.len();
    info(
        s,
        format!("{n} snapshot(s) marked; d deletes them, Space unmarks"),
    );
    Vec::new()
}

fn cancel_task(s: &mut AppState) -> Vec<Effect> {
    let task = if s.focus == Pane::Tasks {
        s.tasks.get(s.task_cursor.selected)
    } else {
        s.tasks.iter().rev().find(|t| t.is_running())
    };
    let Some(t) = task.cloned() else {
        return refuse(s, "no task selected (Tab to the tasks pane)");
    };
    if !t.is_running() {
        return refuse(
            s,
            format!("{} on {} has already ended", t.operation, t.machine),
        );
    }
    let (Some(task_id), true) = (t.task_id.clone(), t.cancelable) else {
        return refuse(
            s,
            format!(
                "{} on {} cannot be cancelled at this stage",
                t.operation, t.machine
            ),
        );
    };
    let op = Operation::Cancel { task: task_id };
    if let Err(reason) = ensure_writable(s.read_only(&t.profile), &t.profile, &op) {
        return refuse(s, reason);
    }
    let key = (t.profile.clone(), t.machine_id.clone());
    send_run(s, &key, op, String::new())
}

fn download_link(s: &mut AppState) -> Vec<Effect> {
    let Some(m) = s.selected_machine() else {
        return refuse(s, "select a VPS first");
    };
    if !m.capabilities.download {
        return refuse(s, "snapshot download exists only for OVHcloud VPSs");
    }
    if m.snapshots.is_empty() {
        let name = m.name.clone();
        return refuse(s, format!("{name} has no snapshot to download"));
    }
    let (profile, machine_id) = (m.profile.clone(), m.id.clone());
    info(s, ASKING_LINK);
    vec![Effect::Send(profile, Command::Download { machine_id })]
}

fn check(label: &str, value: bool, disabled: Option<&str>) -> Field {
    Field::Check {
        label: label.into(),
        value: value && disabled.is_none(),
        disabled: disabled.map(String::from),
    }
}

fn text(label: &str, value: &str) -> Field {
    Field::Text {
        label: label.into(),
        value: value.into(),
    }
}

fn snapshot_label(m: &Machine, id: &str, now: DateTime<Utc>) -> String {
    match m.find(id) {
        Some(snap) => format!(
            "\"{}\" ({id}, taken {} ago)",
            snap.name,
            format_age(now - snap.created)
        ),
        None => id.to_string(),
    }
}

/// Open the dialog of a change, or refuse it with the reason.
fn open_change(s: &mut AppState, action: Action) -> Vec<Effect> {
    if action == Action::Delete && !s.marks.is_empty() {
        return open_batch(s);
    }
    let Some(m) = s.selected_machine().cloned() else {
        return refuse(s, "select a machine first");
    };
    let key: MachineKey = (m.profile.clone(), m.id.clone());
    let who = format!("{} ({})", m.name, m.profile);
    let vps = m.provider == ProviderKind::Ovh;
    let snap = s.selected_snapshot().map(String::from).or_else(|| {
        // A VPS has at most one snapshot: act on it from anywhere.
        vps.then(|| m.snapshots.first().map(|x| x.id.clone()))
            .flatten()
    });
    let probe = match action {
        Action::Take => Operation::Take {
            name: String::new(),
            description: String::new(),
            memory: false,
            quiesce: false,
        },
        Action::Revert => Operation::Revert {
            snapshot: String::new(),
            suppress_power_on: false,
        },
        Action::RevertCurrent => Operation::RevertCurrent {
            suppress_power_on: false,
        },
        Action::Delete => Operation::Delete {
            snapshot: String::new(),
            children: false,
        },
        Action::DeleteAll => Operation::DeleteAll,
        Action::Consolidate => Operation::Consolidate,
        Action::Rename => Operation::Rename {
            snapshot: String::new(),
            name: None,
            description: None,
        },
        _ => Operation::Replace {
            description: String::new(),
        },
    };
    // Read-only: no dialog for a change can be opened.
    if let Err(reason) = ensure_writable(s.read_only(&m.profile), &m.profile, &probe) {
        return refuse(s, reason);
    }
    if !m.loaded {
        return refuse(s, format!("{} is still loading", m.name));
    }
    let type_name =
        |s: &AppState| (s.settings.confirm == ConfirmMode::TypeName).then(|| m.name.clone());
    let now = s.now;
    let dialog = match action {
        Action::Take => {
            if vps && m.snapshot_option != Some(true) {
                let why = m.take_unavailable().unwrap_or_else(|| {
                    format!(
                        "{} has not said yet whether it has a snapshot option",
                        m.name
                    )
                });
                return refuse(s, why);
            }
            if vps && !m.snapshots.is_empty() {
                return open_replace(s, &m, key, true);
            }
            let fields = if vps {
                vec![text("Description", &default_name(now))]
            } else {
                vec![
                    text("Name", &default_name(now)),
                    text("Description", ""),
                    check("Include memory", false, m.memory_unavailable()),
                    check("Quiesce guest file systems", false, m.quiesce_unavailable()),
                ]
            };
            Dialog {
                title: format!("Take a snapshot of {}", m.name),
                kind: DialogKind::Take(key),
                lines: vec![if vps {
                    format!("A new snapshot of VPS {who}. A VPS keeps one snapshot.")
                } else {
                    match &m.current {
                        Some(c) => format!(
                            "A new snapshot of {who}, child of {}.",
                            snapshot_label(&m, c, now)
                        ),
                        None => format!("A new snapshot of {who}, at the root of its tree."),
                    }
                }],
                fields,
                focus: 0,
                must_type: None,
            }
        }
        Action::Revert | Action::RevertCurrent => {
            let target = if action == Action::Revert {
                snap.clone()
            } else {
                m.current.clone()
            };
            let Some(target) = target else {
                return refuse(
                    s,
                    if action == Action::Revert {
                        "select a snapshot in the tree to revert to".to_string()
                    } else {
                        format!("{} has no current snapshot", m.name)
                    },
                );
            };
            let node = m.find(&target).cloned();
            let mut lines = vec![format!(
                "Revert {who} to {}.",
                snapshot_label(&m, &target, now)
            )];
            if vps {
                lines
                    .push("The VPS's disk returns to the snapshot; changes since are lost.".into());
                lines.push(
                    "OVHcloud deletes the snapshot after a restore: it will be gone afterwards."
                        .into(),
                );
            } else {
                lines.push(
                    "Everything on the VM since that snapshot is lost: disks (and memory) return to it."
                        .into(),
                );
                let memory = node.as_ref().is_some_and(|n| n.memory);
                lines.push(if memory {
                    "Power state after revert: powered on (memory included), or suspended with suppress power-on.".into()
                } else {
                    "Power state after revert: powered off (the snapshot has no memory).".into()
                });
                if m.power_state == PowerState::PoweredOn {
                    lines.push("The VM is running now: its current state is discarded.".into());
                }
            }
            let must = type_name(s);
            let mut fields = Vec::new();
            if let Some(name) = &must {
                fields.push(text(&format!("Type {name} to confirm"), ""));
            }
            // Suppress power-on only means something for a snapshot with memory: a
            // disk-only revert leaves the VM off anyway.
            if m.capabilities.suppress_power_on && node.as_ref().is_some_and(|n| n.memory) {
                fields.push(check("Suppress power-on", false, None));
            }
            let op = if action == Action::Revert {
                Operation::Revert {
                    snapshot: target,
                    suppress_power_on: false,
                }
            } else {
                Operation::RevertCurrent {
                    suppress_power_on: false,
                }
            };
            Dialog {
                title: if action == Action::Revert {
                    format!("Revert {} to the selected snapshot", m.name)
                } else {
                    format!("Revert {} to its current snapshot", m.name)
                },
                kind: DialogKind::Confirm(key, op),
                lines,
                fields,
                focus: 0,
                must_type: must,
            }
        }
        Action::Delete => {
            let Some(target) = snap else {
                return refuse(s, "select a snapshot in the tree to delete");
            };
            let children = m.subtree_ids(&target).len().saturating_sub(1);
            let direct = m.find(&target).map_or(0, |n| n.children.len());
            let mut lines = vec![format!(
                "Delete snapshot {} of {who}.",
                snapshot_label(&m, &target, now)
            )];
            let mut fields = Vec::new();
            if children > 0 {
                lines.push(format!(
                    "Without children: its {direct} child snapshot(s) move up to its parent."
                ));
                lines.push(format!(
                    "With children: its {children} descendant snapshot(s) are deleted too."
                ));
                fields.push(check(
                    &format!("Also delete its {children} descendant(s)"),
                    false,
                    None,
                ));
            }
            lines.push(if vps {
                "The snapshot is gone for good.".into()
            } else {
                "Its data is merged into the disks (consolidated); this cannot be undone.".into()
            });
            Dialog {
                title: format!("Delete a snapshot of {}", m.name),
                kind: DialogKind::Confirm(
                    key,
                    Operation::Delete {
                        snapshot: target,
                        children: false,
                    },
                ),
                lines,
                fields,
                focus: 0,
                must_type: None,
            }
        }
        Action::DeleteAll => {
            let n = m.snapshot_count();
            if n == 0 {
                return refuse(s, format!("{} has no snapshots", m.name));
            }
            let must = type_name(s);
            let mut fields = Vec::new();
            if let Some(name) = &must {
                fields.push(text(&format!("Type {name} to confirm"), ""));
            }
            Dialog {
                title: format!("Delete all snapshots of {}", m.name),
                kind: DialogKind::Confirm(key, Operation::DeleteAll),
                lines: vec![
                    format!("Delete all {n} snapshot(s) of {who}."),
                    "The VM keeps its present state; every point to go back to is lost.".into(),
                    "This cannot be undone.".into(),
                ],
                fields,
                focus: 0,
                must_type: must,
            }
        }
        Action::Consolidate => {
            if !m.capabilities.consolidate {
                return refuse(s, "consolidation does not exist for VPSs");
            }
            Dialog {
                title: format!("Consolidate the disks of {}", m.name),
                kind: DialogKind::Confirm(key, Operation::Consolidate),
                lines: vec![
                    format!("Consolidate the disks of {who}."),
                    if m.consolidation_needed {
                        "vSphere flags this VM as needing consolidation.".into()
                    } else {
                        "vSphere does not flag this VM as needing it; it is harmless but may take a while.".into()
                    },
                    "The VM may be slow while delta disks are merged.".into(),
                ],
                fields: Vec::new(),
                focus: 0,
                must_type: None,
            }
        }
        Action::Rename => {
            let Some(target) = snap else {
                return refuse(s, "select a snapshot in the tree to rename");
            };
            let node = m.find(&target).cloned();
            let (name, desc) = node.map(|n| (n.name, n.description)).unwrap_or_default();
            Dialog {
                title: format!("Rename a snapshot of {}", m.name),
                kind: DialogKind::Rename(key, target.clone()),
                lines: vec![format!("Snapshot {}.", snapshot_label(&m, &target, now))],
                fields: if vps {
                    vec![text("Description", &desc)]
                } else {
                    vec![text("Name", &name), text("Description", &desc)]
                },
                focus: 0,
                must_type: None,
            }
        }
        _ => {
            if !vps {
                return refuse(s, "replace exists only for VPS snapshots");
            }
            if m.snapshots.is_empty() {
                return refuse(
                    s,
                    format!("{} has no snapshot to replace; t takes one", m.name),
                );
            }
            return open_replace(s, &m, key, false);
        }
    };
    s.dialog = Some(dialog);
    s.message = None;
    Vec::new()
}

fn open_replace(s: &mut AppState, m: &Machine, key: MachineKey, from_take: bool) -> Vec<Effect> {
    let existing = m
        .snapshots
        .first()
        .map(|x| x.id.clone())
        .unwrap_or_default();
    let mut lines = Vec::new();
    if from_take {
        lines.push(format!(
            "{} already has a snapshot and a VPS keeps only one. Replace it?",
            m.name
        ));
    }
    lines.push(format!(
        "Delete {}, wait for that, then take a new snapshot.",
        snapshot_label(m, &existing, s.now)
    ));
    lines.push("The old snapshot is gone for good.".into());
    s.dialog = Some(Dialog {
        title: format!("Replace the snapshot of {}", m.name),
        kind: DialogKind::Confirm(
            key,
            Operation::Replace {
                description: String::new(),
            },
        ),
        lines,
        fields: vec![text("Description", &default_name(s.now))],
        focus: 0,
        must_type: None,
    });
    s.message = None;
    Vec::new()
}

fn open_batch(s: &mut AppState) -> Vec<Effect> {
    let mut items = Vec::new();
    let mut lines = Vec::new();
    for (profile, id, snap) in &s.marks {
        let key = (profile.clone(), id.clone());
        let Some(m) = s.machine(&key) else { continue };
        let op = Operation::Delete {
            snapshot: snap.clone(),
            children: false,
        };
        if let Err(reason) = ensure_writable(s.read_only(profile), profile, &op) {
            return refuse(s, reason);
        }
        lines.push(format!(
            "{} ({profile}): {}",
            m.name,
            snapshot_label(m, snap, s.now)
        ));
        items.push((key, snap.clone()));
    }
    lines.insert(
        0,
        format!(
            "Delete {} marked snapshot(s); children move up to their parents:",
            items.len()
        ),
    );
    s.dialog = Some(Dialog {
        title: "Delete marked snapshots".into(),
        kind: DialogKind::Batch(items),
        lines,
        fields: Vec::new(),
        focus: 0,
        must_type: None,
    });
    Vec::new()
}

/// The default snapshot name: the local date-time.
pub fn default_name(now: DateTime<Utc>) -> String {
    now.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn dialog_key(s: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let Some(d) = s.dialog.as_mut() else {
        return Vec::new();
    };
    let on_text = matches!(d.fields.get(d.focus), Some(Field::Text { .. }));
    match key.code {
        KeyCode::Esc => {
            s.dialog = None;
            info(s, "cancelled; nothing changed");
        }
        KeyCode::Tab | KeyCode::Down if !d.fields.is_empty() => {
            d.focus = (d.focus + 1) % d.fields.len();
        }
        KeyCode::BackTab | KeyCode::Up if !d.fields.is_empty() => {
            d.focus = (d.focus + d.fields.len() - 1) % d.fields.len();
        }
        KeyCode::Enter => return confirm(s),
        KeyCode::Char('y') if matches!(d.kind, DialogKind::Link(_)) => {
            if let DialogKind::Link(url) = &d.kind {
                let url = url.clone();
                info(s, "download URL copied");
                return vec![Effect::Copy(url)];
            }
        }
        KeyCode::Char('y') if !on_text && d.must_type.is_none() => return confirm(s),
        KeyCode::Char(' ') if !on_text => {
            if let Some(Field::Check {
                value, disabled, ..
            }) = d.fields.get_mut(d.focus)
            {
                match disabled {
                    Some(reason) => {
                        let reason = reason.clone();
                        s.message = Some((Level::Error, reason));
                    }
                    None => *value = !*value,
                }
            }
        }
        KeyCode::Backspace => {
            if let Some(Field::Text { value, .. }) = d.fields.get_mut(d.focus) {
                value.pop();
            }
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            if let Some(Field::Text { value, .. }) = d.fields.get_mut(d.focus) {
                value.push(c);
            }
        }
        _ => {}
    }
    Vec::new()
}

fn field_text(d: &Dialog, label: &str) -> Option<String> {
    d.fields.iter().find_map(|f| match f {
        Field::Text { label: l, value } if l == label => Some(value.trim().to_string()),
        _ => None,
    })
}

fn field_check(d: &Dialog, prefix: &str) -> bool {
    d.fields
        .iter()
        .any(|f| matches!(f, Field::Check { label, value: true, .. } if label.starts_with(prefix)))
}

fn confirm(s: &mut AppState) -> Vec<Effect> {
    let Some(d) = s.dialog.clone() else {
        return Vec::new();
    };
    if let Some(name) = &d.must_type {
        let typed = d.fields.iter().find_map(|f| match f {
            Field::Text { label, value } if label.starts_with("Type ") => Some(value.clone()),
            _ => None,
        });
        if typed.as_deref() != Some(name.as_str()) {
            s.message = Some((
                Level::Error,
                format!("type {name} exactly to confirm, or Esc to cancel"),
            ));
            return Vec::new();
        }
    }
    s.dialog = None;
    match d.kind.clone() {
        DialogKind::Quit => {
            s.quit = true;
            Vec::new()
        }
        DialogKind::Link(_) => Vec::new(),
        DialogKind::Take(key) => {
            let vps = s
                .machine(&key)
                .is_some_and(|m| m.provider == ProviderKind::Ovh);
            let description = field_text(&d, "Description").unwrap_or_default();
            let name = if vps {
                description.clone()
            } else {
                field_text(&d, "Name").unwrap_or_default()
            };
            if name.is_empty() {
                s.dialog = Some(d);
                return refuse(s, "a snapshot needs a name");
            }
            let op = Operation::Take {
                name: name.clone(),
                description,
                memory: field_check(&d, "Include memory"),
                quiesce: field_check(&d, "Quiesce"),
            };
            send_run(s, &key, op, name)
        }
        DialogKind::Rename(key, snapshot) => {
            let vps = s
                .machine(&key)
                .is_some_and(|m| m.provider == ProviderKind::Ovh);
            let name = if vps { None } else { field_text(&d, "Name") };
            if name.as_deref() == Some("") {
                s.dialog = Some(d);
                return refuse(s, "a snapshot needs a name");
            }
            let op = Operation::Rename {
                snapshot,
                name,
                description: field_text(&d, "Description"),
            };
            let label = target_label(s, &key, &op);
            send_run(s, &key, op, label)
        }
        DialogKind::Confirm(key, mut op) => {
            match &mut op {
                Operation::Revert {
                    suppress_power_on, ..
                }
                | Operation::RevertCurrent { suppress_power_on } => {
                    *suppress_power_on = field_check(&d, "Suppress power-on");
                }
                Operation::Delete { children, .. } => *children = field_check(&d, "Also delete"),
                Operation::Replace { description } => {
                    *description = field_text(&d, "Description").unwrap_or_default();
                }
                _ => {}
            }
            let label = target_label(s, &key, &op);
            send_run(s, &key, op, label)
        }
        DialogKind::Batch(items) => {
            // Per machine, in the order that leaves every other marked snapshot in place
            // until its turn; the engine runs one machine's deletions one after another.
            let mut by_machine: Vec<(MachineKey, Vec<String>)> = Vec::new();
            for (key, snapshot) in items {
                match by_machine.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, snaps)) => snaps.push(snapshot),
                    None => by_machine.push((key, vec![snapshot])),
                }
            }
            s.marks.clear();
            let mut effects = Vec::new();
            for (key, snaps) in by_machine {
                let order = match s.machine(&key) {
                    Some(m) => deletion_order(m, &snaps),
                    None => snaps,
                };
                for snapshot in order {
                    let mark = (key.0.clone(), key.1.clone(), snapshot.clone());
                    let op = Operation::Delete {
                        snapshot,
                        children: false,
                    };
                    let label = target_label(s, &key, &op);
                    let request = s.next_request;
                    let sent = send_run(s, &key, op, label);
                    if !sent.is_empty() {
                        s.batch_marks.insert(request, mark);
                    }
                    effects.extend(sent);
                }
            }
            effects
        }
    }
}

fn target_label(s: &AppState, key: &MachineKey, op: &Operation) -> String {
    match (s.machine(key), op.snapshot()) {
        (Some(m), Some(id)) => m.find(id).map_or(id.to_string(), |n| n.name.clone()),
        _ => String::new(),
    }
}

/// Record a task row and ask the engine to run `op`.
fn send_run(s: &mut AppState, key: &MachineKey, op: Operation, target: String) -> Vec<Effect> {
    let Some(m) = s.machine(key).cloned() else {
        return refuse(s, "that machine is no longer in the inventory; refresh");
    };
    let expected = ExpectedView::of(&m, &op);
    let request = s.next_request;
    s.next_request += 1;
    s.tasks.push(TaskView {
        request,
        profile: key.0.clone(),
        machine_id: key.1.clone(),
        machine: m.name.clone(),
        operation: op.name().to_string(),
        target,
        task_id: None,
        state: None,
        progress: None,
        message: None,
        cancelable: false,
        started: s.now,
        ended: None,
    });
    s.task_cursor.selected = s.tasks.len() - 1;
    info(s, format!("{} on {}: started", op.name(), m.name));
    vec![Effect::Send(
        key.0.clone(),
        Command::Run {
            request,
            machine_id: key.1.clone(),
            op,
            expected,
        },
    )]
}

fn on_event(s: &mut AppState, event: Event) {
    match event {
        Event::Loading { profile } => set_status(s, &profile, ProfileStatus::Loading),
        Event::Inventory {
            profile,
            machines,
            complete,
        } => {
            s.set_machines(&profile, machines);
            if complete {
                set_status(s, &profile, ProfileStatus::Connected);
            }
        }
        Event::ProfileError {
            profile,
            message,
            retry_in,
        } => set_status(
            s,
            &profile,
            ProfileStatus::Error(format!("{message} (retrying in {}s)", retry_in.as_secs())),
        ),
        Event::MachineUpdated { machine } => s.update_machine(machine),
        Event::Task { request, update } => {
            if let Some(t) = s.tasks.iter_mut().find(|t| t.request == request) {
                match update {
                    RunUpdate::Started { task_id } => t.task_id = Some(task_id),
                    RunUpdate::Queued => t.state = Some(TaskState::Queued),
                    RunUpdate::Created { .. } => {}
                    RunUpdate::Progress(status) => {
                        t.state = Some(status.state);
                        t.progress = status.progress;
                        t.cancelable = status.cancelable;
                    }
                }
            }
        }
        Event::TaskDone { request, result } => {
            // A batch step that did not succeed stays marked, to be retried or unmarked.
            if let Some(mark) = s.batch_marks.remove(&request)
                && !matches!(&result, Ok(st) if st.state == TaskState::Success)
            {
                s.marks.insert(mark);
            }
            let now = s.now;
            let Some(t) = s.tasks.iter_mut().find(|t| t.request == request) else {
                return;
            };
            t.ended = Some(now);
            t.cancelable = false;
            let summary = format!("{} on {}", t.operation, t.machine);
            let (level, text) = match result {
                Ok(status) => {
                    t.state = Some(status.state);
                    t.progress = status.progress;
                    t.message = status.message.clone();
                    match status.state {
                        TaskState::Success => (Level::Info, format!("{summary}: done")),
                        TaskState::Cancelled => (Level::Error, format!("{summary}: cancelled")),
                        _ => (
                            Level::Error,
                            format!(
                                "{summary} failed: {}",
                                status.message.unwrap_or_else(|| "no reason given".into())
                            ),
                        ),
                    }
                }
                Err(RunError::Refused(m)) => {
                    t.message = Some(format!("refused: {m}"));
                    (Level::Error, format!("{summary} refused: {m}"))
                }
                Err(RunError::Failed(m)) => {
                    t.state = Some(TaskState::Error);
                    t.message = Some(m.clone());
                    (Level::Error, format!("{summary} failed: {m}"))
                }
            };
            s.message = Some((level, text));
        }
        Event::Download {
            profile,
            machine_id,
            result,
        } => {
            clear_message(s, ASKING_LINK);
            on_download(s, profile, machine_id, result);
        }
    }
}

/// A download link arrived: show it, or say why there is none.
fn on_download(
    s: &mut AppState,
    profile: String,
    machine_id: String,
    result: Result<crate::provider::DownloadLink, String>,
) {
    match result {
        Ok(link) => {
            let name = s
                .machine(&(profile, machine_id.clone()))
                .map_or(machine_id, |m| m.name.clone());
            s.dialog = Some(Dialog {
                title: format!("Download the snapshot of {name}"),
                kind: DialogKind::Link(link.url.clone()),
                lines: vec![
                    link.url,
                    format!(
                        "Size: {} · the link is temporary (about 24 h)",
                        human_size(link.size)
                    ),
                ],
                fields: Vec::new(),
                focus: 0,
                must_type: None,
            });
        }
        Err(e) => {
            s.message = Some((Level::Error, format!("no download link: {e}")));
        }
    }
}

/// The status line while a refresh runs; cleared when every profile has answered.
const REFRESHING: &str = "refreshing every profile…";
/// The status line while a download link is asked for; cleared by the answer.
const ASKING_LINK: &str = "asking OVHcloud for the download link…";

/// Clear the status line if it still says `text` (its work has ended).
fn clear_message(s: &mut AppState, text: &str) {
    if s.message.as_ref().is_some_and(|(_, m)| m == text) {
        s.message = None;
    }
}

fn set_status(s: &mut AppState, profile: &str, status: ProfileStatus) {
    if let Some(p) = s.profiles.iter_mut().find(|p| p.name == profile) {
        p.status = status;
    }
    if !s
        .profiles
        .iter()
        .any(|p| p.status == ProfileStatus::Loading)
    {
        clear_message(s, REFRESHING);
    }
}

/// Bytes as `1.5 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
