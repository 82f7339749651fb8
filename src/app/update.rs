//! `update`: keys and engine events in, state changes and effects out.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};

use super::keymap::{Action, action_for, palette_matches};
use super::layout;
use super::state::{
    AppState, BatchView, Dialog, DialogKind, Field, Fold, GuestSeen, LeftView, Level, MarkKey,
    Modal, NotRun, Pane, ProfileStatus, Row, TaskView,
};
use crate::config::ConfirmMode;
use crate::engine::policy::ensure_writable;
use crate::engine::{Command, Event, RunError, RunUpdate};
use crate::model::change::{self, Change, Context, Input, Value};
use crate::model::download;
use crate::model::flow;
use crate::model::guest::{self, GuestAgent};
use crate::model::health::format_age;
use crate::model::{Machine, MachineRef, Operation, TaskState};

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
    /// A mouse button or the wheel (only with `[ui] mouse` or `--mouse`).
    Mouse(crossterm::event::MouseEvent),
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
    /// Give the terminal back to the shell and stop (Ctrl-Z), until `fg`.
    Suspend,
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
            if now - s.inventory.worst_at() > chrono::Duration::hours(1) {
                s.refresh_warnings();
            }
            s.spinner = s.spinner.wrapping_add(1);
            Vec::new()
        }
        Msg::Resize(w, h) => {
            s.size = (w, h);
            Vec::new()
        }
        Msg::Mouse(m) => {
            on_mouse(s, m);
            Vec::new()
        }
    }
}

/// Rows the wheel moves a pane's cursor by, a notch at a time.
const WHEEL_ROWS: usize = 3;

/// A click focuses the pane under it and selects the row it fell on; the wheel moves the
/// cursor of the pane under it (focusing it), as lazygit does. Only selection and focus:
/// nothing the mouse does opens, confirms or changes anything, and while a dialog, the
/// help, the palette or the filter owns the keys the mouse does nothing at all.
fn on_mouse(s: &mut AppState, m: crossterm::event::MouseEvent) {
    use crossterm::event::{MouseButton, MouseEventKind};
    if super::state::too_small(s.size) || !matches!(s.modal, Modal::None) {
        return;
    }
    let screen = ratatui::layout::Rect::new(0, 0, s.size.0, s.size.1);
    let Some((pane, rect)) = layout::areas(screen, s).pane_at(s, m.column, m.row) else {
        return;
    };
    let action = match m.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            s.focus = pane;
            if let Some(row) = layout::row_at(s, pane, rect, m.row) {
                move_in(s, pane, |at, _| *at = row);
            }
            return;
        }
        MouseEventKind::ScrollDown => Action::Down,
        MouseEventKind::ScrollUp => Action::Up,
        _ => return,
    };
    s.focus = pane;
    for _ in 0..WHEEL_ROWS {
        move_selection(s, action);
    }
}

/// Whether ticks change what is drawn (spinners, elapsed times).
pub fn animating(s: &AppState) -> bool {
    s.tasks.running() > 0
        || s.inventory
            .profiles
            .iter()
            .any(|p| p.status == ProfileStatus::Loading)
}

pub(super) fn info(s: &mut AppState, text: impl Into<String>) {
    s.say(Level::Info, text);
}

pub(super) fn refuse(s: &mut AppState, text: impl Into<String>) -> Vec<Effect> {
    s.say(Level::Error, text);
    Vec::new()
}

fn on_key(s: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    if key.kind == crossterm::event::KeyEventKind::Release {
        return Vec::new();
    }
    // Below the minimum size the screen shows one sentence, not what a key would act on
    // (a dialog, the selection): only quitting and suspending act. The same on the welcome
    // (no profile): there is nothing else.
    if super::state::too_small(s.size) || s.welcome().is_some() {
        return match action_for(&key) {
            // With tasks running or waiting, the question is put (and answered once the
            // terminal is large enough to show it), never skipped.
            Some(Action::Quit) if s.tasks.running() > 0 => {
                if !matches!(s.dialog().map(|d| &d.kind), Some(DialogKind::Quit)) {
                    s.open_dialog(quit_dialog(s));
                }
                Vec::new()
            }
            Some(Action::Quit) => {
                s.quit = true;
                Vec::new()
            }
            Some(Action::Suspend) => vec![Effect::Suspend],
            _ => Vec::new(),
        };
    }
    match &s.modal {
        Modal::Dialog(_) => return dialog_key(s, key),
        Modal::Help => {
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
            ) {
                s.modal = Modal::None;
            }
            return Vec::new();
        }
        Modal::Palette(_) => return palette_key(s, key),
        Modal::Filter => {
            filter_key(s, key);
            return Vec::new();
        }
        Modal::None | Modal::Welcome(_) => {}
    }
    if key.code == KeyCode::Esc {
        if !s.nav.filter.is_empty() {
            clear_filter(s);
        }
        s.log.status = None;
        return Vec::new();
    }
    match action_for(&key) {
        Some(a) => apply(s, a),
        None => Vec::new(),
    }
}

/// Clear the filter, keeping the selected machine selected.
fn clear_filter(s: &mut AppState) {
    s.nav.filter.clear();
    s.rebuild_rows();
    s.rebuild_tree();
}

fn filter_key(s: &mut AppState, key: KeyEvent) {
    match key.code {
        KeyCode::Esc => {
            s.modal = Modal::None;
            clear_filter(s);
            return;
        }
        KeyCode::Enter => s.modal = Modal::None,
        _ => {
            let before = s.nav.filter.value().to_string();
            if !s.nav.filter.handle(&key) || s.nav.filter.value() == before {
                return;
            }
        }
    }
    s.rebuild_rows();
    // The selected machine (or snapshot) stays while it matches; otherwise land on the
    // first match.
    if s.left.view == LeftView::Snapshots {
        if s.left.list.selected().is_none() && !s.left.list.shown.is_empty() {
            s.set_list_cursor(0);
            return;
        }
    } else if s.selected_machine().is_none()
        && let Some(p) = s.nav.rows.iter().position(|r| matches!(r, Row::Machine(_)))
    {
        s.set_inv_cursor(p);
    }
    s.rebuild_tree();
}

fn palette_key(s: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let Modal::Palette(p) = &mut s.modal else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Esc => s.modal = Modal::None,
        KeyCode::Up => p.selected = p.selected.saturating_sub(1),
        KeyCode::Down => p.selected += 1,
        KeyCode::Enter if mark_where_words(p.query.value()).is_some() => {
            let words = mark_where_words(p.query.value())
                .unwrap_or_default()
                .to_string();
            s.modal = Modal::None;
            return mark_where(s, &words);
        }
        KeyCode::Enter => {
            let hits = palette_matches(p.query.value());
            let chosen = hits
                .get(p.selected.min(hits.len().saturating_sub(1)))
                .map(|b| b.action);
            s.modal = Modal::None;
            if let Some(a) = chosen {
                return apply(s, a);
            }
        }
        // The line edits as every text field does (Ctrl-U, Ctrl-W, Ctrl-A, …).
        _ => {
            let before = p.query.value().to_string();
            if p.query.handle(&key) && p.query.value() != before {
                p.selected = 0;
            }
        }
    }
    if let Modal::Palette(p) = &mut s.modal {
        let n = palette_matches(p.query.value()).len();
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

/// A move (`Up`, `Down`, `Top`, `Bottom`, `PageUp`, `PageDown`) in the focused pane.
fn move_selection(s: &mut AppState, action: Action) {
    let page = page(s);
    move_in(s, s.focus, |at, len| move_cursor(at, len, action, page));
}

/// Move the cursor of `pane` (or the Details' scroll) where `to` puts it, given its place
/// and the pane's length: the one way a key or a click selects. A new selection shows its
/// details from the top.
fn move_in(s: &mut AppState, pane: Pane, to: impl FnOnce(&mut usize, usize)) {
    match pane {
        Pane::Inventory if s.left.view == LeftView::Snapshots => {
            let mut at = s.left.list.cursor;
            to(&mut at, s.left.list.shown.len());
            s.set_list_cursor(at);
            s.tree.details_scroll = 0;
        }
        Pane::Inventory => {
            let mut at = s.nav.cursor.selected;
            to(&mut at, s.nav.rows.len());
            s.set_inv_cursor(at);
            s.rebuild_tree();
            s.tree.details_scroll = 0;
        }
        Pane::Details => {
            let most = usize::from(s.tree.details_most.get());
            let mut at = usize::from(s.tree.details_scroll);
            to(&mut at, most + 1);
            s.tree.details_scroll = u16::try_from(at).unwrap_or(u16::MAX);
        }
        Pane::Tree => {
            let mut at = s.tree.cursor.selected;
            to(&mut at, s.tree.rows.len());
            s.tree.set_cursor(at);
        }
        Pane::Tasks => {
            let n = s.tasks.all().len();
            to(&mut s.tasks.cursor.selected, n);
        }
    }
}

/// Run one action.
pub fn apply(s: &mut AppState, action: Action) -> Vec<Effect> {
    use Action::*;
    match action {
        Up | Down | Top | Bottom | PageUp | PageDown => {
            move_selection(s, action);
            Vec::new()
        }
        Collapse | Expand => {
            toggle(s, action == Expand);
            Vec::new()
        }
        NextPane | PrevPane => {
            // The Overview (a profile, a group or the estate selected) has nothing to
            // select: Tab passes it by.
            let overview = s.overview_scope().is_some();
            let order: &[Pane] = if overview {
                &[Pane::Inventory, Pane::Tasks]
            } else {
                &[Pane::Inventory, Pane::Tree, Pane::Details, Pane::Tasks]
            };
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
            s.modal = Modal::Filter;
            s.focus = Pane::Inventory;
            Vec::new()
        }
        Palette => {
            s.modal = Modal::Palette(super::state::Palette::default());
            Vec::new()
        }
        Help => {
            s.modal = if s.help_shown() {
                Modal::None
            } else {
                Modal::Help
            };
            Vec::new()
        }
        Refresh => {
            for p in &mut s.inventory.profiles {
                p.status = ProfileStatus::Loading;
            }
            info(s, REFRESHING);
            vec![Effect::RefreshAll]
        }
        Quit => {
            let running = s.tasks.running();
            if running == 0 {
                s.quit = true;
            } else {
                s.open_dialog(quit_dialog(s));
            }
            Vec::new()
        }
        Suspend => vec![Effect::Suspend],
        Copy => copy(s),
        CopyGuestCheck => copy_guest_check(s),
        GuestCheck => guest_check(s),
        Mark => mark(s),
        MarkAll => mark_all(s),
        UnmarkAll => unmark_all(s),
        SnapshotList => {
            let view = match s.left.view {
                LeftView::Inventory => LeftView::Snapshots,
                LeftView::Snapshots => LeftView::Inventory,
            };
            s.set_view(view);
            s.focus = Pane::Inventory;
            s.log.status = None;
            Vec::new()
        }
        Sort => sort_list(s),
        CancelTask => cancel_task(s),
        StopPlan => stop_plan(s),
        Log => {
            s.open_dialog(log_dialog(s));
            Vec::new()
        }
        DownloadLink => download_link(s),
        Backups => super::backups::open(s),
        OrderOption => super::order::ask(s),
        Take | Revert | RevertCurrent | Delete | DeleteAll | Consolidate | Rename | Replace
        | Pin => open_change(s, action),
    }
}

/// Quitting with tasks running or waiting: what goes on without snaptree, and what will
/// never start.
fn quit_dialog(s: &AppState) -> Dialog {
    let waiting: Vec<&TaskView> = s
        .tasks
        .all()
        .iter()
        .filter(|t| t.is_running() && t.state == Some(TaskState::Queued))
        .collect();
    let running = s.tasks.running() - waiting.len();
    let mut lines = Vec::new();
    if running > 0 {
        lines.push(format!(
            "{running} task(s) still running. They go on on the server, but snaptree will stop following them."
        ));
    }
    if !waiting.is_empty() {
        lines.push(format!(
            "{} operation(s) waiting for their turn will not start:",
            waiting.len()
        ));
        for t in waiting.iter().take(8) {
            lines.push(format!("  {} {} on {}", t.operation(), t.target, t.machine));
        }
        if waiting.len() > 8 {
            lines.push(format!("  … and {} more", waiting.len() - 8));
        }
    }
    Dialog::plain("Quit?", DialogKind::Quit, lines)
}

fn toggle(s: &mut AppState, expand: bool) {
    match s.focus {
        // A snapshot of the list: open goes to its place in the tree.
        Pane::Inventory if s.left.view == LeftView::Snapshots => {
            if expand && s.left.list.selected().is_some() {
                s.focus = Pane::Tree;
            }
        }
        Pane::Inventory => {
            let row = if s.nav.shown {
                s.nav.rows.get(s.nav.cursor.selected)
            } else {
                None
            };
            if expand
                && let Some(Row::Profile(i)) = row
                && matches!(s.inventory.profiles[*i].status, ProfileStatus::Error(..))
            {
                let i = *i;
                open_profile_error(s, i);
                return;
            }
            let key = match row.map(|r| (r, Fold::of(r, &s.inventory.profiles))) {
                Some((_, Some(fold))) => fold,
                Some((_, None)) => {
                    if expand {
                        s.focus = Pane::Tree;
                    } else if let Some(up) = s.nav.rows[..s.nav.cursor.selected]
                        .iter()
                        .rposition(|r| !matches!(r, Row::Machine(_)))
                    {
                        // On a machine, h goes to its group (or profile), as in a file tree.
                        s.set_inv_cursor(up);
                    }
                    return;
                }
                None => return,
            };
            if expand {
                s.nav.collapsed.remove(&key);
            } else {
                s.nav.collapsed.insert(key);
            }
            s.rebuild_rows();
            s.rebuild_tree();
        }
        Pane::Tree => {
            if let Some(row) = s.tree.selected_row().cloned()
                && let (Some(id), true) = (row.snapshot, row.has_children)
            {
                if expand {
                    s.tree.collapsed.remove(&id);
                } else {
                    s.tree.collapsed.insert(id);
                }
                s.rebuild_tree();
            }
        }
        // The details have nothing that folds.
        Pane::Details => {}
        Pane::Tasks => {
            if expand && let Some(t) = s.tasks.all().get(s.tasks.cursor.selected) {
                let request = t.request;
                let lines = task_lines(t, s.now);
                s.open_dialog(Dialog::plain(
                    format!("{} on {}", t.operation(), t.machine),
                    DialogKind::Task(request),
                    lines,
                ));
            }
        }
    }
}

/// Everything known of a task: what, where, its state, the server's words, its times.
fn task_lines(t: &TaskView, now: DateTime<Utc>) -> Vec<String> {
    let when = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let state = match (t.not_run, t.state) {
        (Some(NotRun::Refused), _) => "refused (nothing was sent)".to_string(),
        (Some(NotRun::Skipped), _) => "skipped (not started)".to_string(),
        (None, Some(st)) => st.as_str().to_string(),
        (None, None) => "being sent".to_string(),
    };
    let mut lines = vec![
        format!("Machine:   {} ({}, {})", t.machine, t.machine_id, t.profile),
        format!("Operation: {}", t.operation()),
    ];
    if !t.target.is_empty() {
        lines.push(format!("Snapshot:  {}", t.target));
    }
    lines.push(format!(
        "Task:      {}",
        t.task_id.as_deref().unwrap_or("(no server task yet)")
    ));
    lines.push(format!(
        "State:     {state}{}",
        t.progress.map(|p| format!(", {p}%")).unwrap_or_default()
    ));
    lines.push(format!("Started:   {}", when(t.started)));
    lines.push(match t.ended {
        Some(end) => format!(
            "Ended:     {} (after {})",
            when(end),
            format_age(end - t.started)
        ),
        None => format!("Running:   for {}", format_age(now - t.started)),
    });
    if let Some(m) = &t.message {
        lines.push(String::new());
        lines.push(m.clone());
    }
    lines
}

/// The message log, oldest first.
fn log_dialog(s: &AppState) -> Dialog {
    let mut lines: Vec<String> = s
        .log
        .lines()
        .iter()
        .map(|(at, level, text)| {
            format!(
                "{} {} {text}",
                at.with_timezone(&chrono::Local).format("%H:%M:%S"),
                if *level == Level::Error { "!" } else { " " }
            )
        })
        .collect();
    if lines.is_empty() {
        lines.push("no messages yet".into());
    }
    let mut d = Dialog::plain(
        format!("Messages ({})", s.log.lines().len()),
        DialogKind::Log,
        lines,
    );
    // Open on the newest.
    d.scroll = s.log.lines().len().saturating_sub(page(s));
    d
}

/// Why a guest agent action is refused on a VM.
const NOT_A_VPS: &str = "the guest agent check is for a VPS: select one (a VM has VMware Tools)";

/// The guest agent check of the snapshot guide, to run in the selected VPS.
fn copy_guest_check(s: &mut AppState) -> Vec<Effect> {
    match s.selected_machine() {
        Some(m) if m.provider == crate::model::ProviderKind::Ovh => {
            info(
                s,
                format!("copied {}: run it in the VPS", guest::GUEST_AGENT_CHECK),
            );
            vec![Effect::Copy(guest::GUEST_AGENT_CHECK.into())]
        }
        _ => refuse(s, NOT_A_VPS),
    }
}

/// Whether `m`'s profile checks its VPSs' guest agent over ssh.
fn checks_guest(s: &AppState, m: &Machine) -> bool {
    s.inventory
        .profiles
        .iter()
        .any(|p| p.name == m.profile && p.guest_check)
}

/// Ask for the guest agent check of `m`; its answer comes as `Event::GuestAgent`.
fn ask_guest(s: &mut AppState, m: &Machine) -> Effect {
    let request = s.tasks.new_request();
    let seen = GuestSeen {
        state: GuestAgent::Checking,
        asked: s.now,
        request,
    };
    s.inventory.guest.insert(m.machine_ref(), seen);
    Effect::Send(
        m.profile.clone(),
        Command::GuestCheck {
            request,
            machine_id: m.id.clone(),
        },
    )
}

/// `C`: check the selected VPS's guest agent now; the status line says what was found.
fn guest_check(s: &mut AppState) -> Vec<Effect> {
    let Some(m) = s.selected_machine().cloned() else {
        return refuse(s, "select a VPS first");
    };
    if m.provider != crate::model::ProviderKind::Ovh {
        return refuse(s, NOT_A_VPS);
    }
    if !checks_guest(s, &m) {
        return refuse(
            s,
            format!(
                "set guest_check = \"ssh\" in profile {} to check over ssh; Y copies the check to run by hand",
                m.profile
            ),
        );
    }
    info(s, format!("{}: checking the guest agent over ssh…", m.name));
    vec![ask_guest(s, &m)]
}

/// The guest agent check of a VPS answered: kept for its details, put in the open take
/// dialog (whose Enter asks again when the agent is not known to run), or said. An answer
/// to an older check than the machine's last is dropped: it is not what the dialog asked.
fn on_guest_agent(s: &mut AppState, request: u64, key: &MachineRef, state: GuestAgent) {
    let Some(seen) = s
        .inventory
        .guest
        .get_mut(key)
        .filter(|g| g.request == request)
    else {
        return;
    };
    let (short, line, running) = (state.short(), state.line(), state == GuestAgent::Running);
    seen.state = state;
    if let Some(d) = s.dialog_mut()
        && let Some((k, at)) = &d.guest
        && k == key
    {
        if let Some(l) = d.lines.get_mut(*at) {
            *l = line;
        }
        // What Enter warned about may have changed: it warns again if it must.
        d.asked = crate::model::flow::Asked::default();
        return;
    }
    if s.dialog().is_some() {
        // Another dialog's words stay in sight; the details show this answer.
        return;
    }
    let level = if running { Level::Info } else { Level::Error };
    let name = machine_name(s, key);
    s.say(level, format!("{name}: guest agent {short}"));
}

/// A machine's name, or its id when it is no longer listed.
fn machine_name(s: &AppState, key: &MachineRef) -> String {
    s.machine(key).map_or(key.id.clone(), |m| m.name.clone())
}

/// The error of the profile whose row is selected (or whose dialog is open), if it has one.
fn selected_profile_error(s: &AppState) -> Option<&str> {
    let i = match (
        s.dialog(),
        s.nav
            .rows
            .get(s.nav.cursor.selected)
            .filter(|_| s.nav.shown),
    ) {
        (
            Some(Dialog {
                kind: DialogKind::Profile(i),
                ..
            }),
            _,
        )
        | (None, Some(Row::Profile(i))) => *i,
        _ => return None,
    };
    match &s.inventory.profiles.get(i)?.status {
        ProfileStatus::Error(_, message, _) => Some(message),
        _ => None,
    }
}

fn copy(s: &mut AppState) -> Vec<Effect> {
    let text = match (s.focus, s.selected_snapshot(), s.selected_machine()) {
        (Pane::Tasks, _, _) => s
            .tasks
            .all()
            .get(s.tasks.cursor.selected)
            .and_then(|t| t.task_id.clone()),
        (_, Some(id), _) => Some(id.to_string()),
        (_, None, Some(m)) => Some(m.id.clone()),
        // A profile that could not be read: the pin line its error gives, or the error.
        _ => selected_profile_error(s).map(profile_copy_text),
    };
    match text {
        Some(t) => {
            info(s, format!("copied {t}"));
            vec![Effect::Copy(t)]
        }
        None => refuse(s, "nothing selected to copy"),
    }
}

/// The criteria of a palette query `mark where …`, if it is one.
pub fn mark_where_words(query: &str) -> Option<&str> {
    query.trim_start().strip_prefix("mark where")
}

/// Unmark every snapshot (`U`, or the palette's "unmark every snapshot").
fn unmark_all(s: &mut AppState) -> Vec<Effect> {
    let n = s.batch.marks.len();
    if n == 0 {
        return refuse(s, "nothing is marked");
    }
    s.batch.marks.clear();
    s.batch.left_out.clear();
    info(s, format!("unmarked {n} snapshot(s); nothing is marked"));
    Vec::new()
}

/// Mark what a policy selects among the shown machines (the inventory's filter applies),
/// as `prune` would: protected snapshots and a machine's `keep-last` newest left out. The
/// marks are replaced, as `prune` plans afresh: what is marked is what the policy selects.
fn mark_where(s: &mut AppState, words: &str) -> Vec<Effect> {
    let criteria = match crate::model::cleanup::parse_criteria(words).and_then(|c| {
        c.check()?;
        Ok(c)
    }) {
        Ok(c) => c,
        Err(why) => return refuse(s, format!("mark where: {why}")),
    };
    let shown = s.filtered_machines();
    let p = crate::model::cleanup::plan(&shown, &criteria, &s.settings.protect, s.now);
    let before = s.batch.marks.len();
    s.batch.marks.clear();
    s.batch.left_out.clear();
    for m in &p.machines {
        for x in &m.snapshots {
            let key = MarkKey::new(
                MachineRef::new(m.profile.clone(), m.machine_id.clone()),
                x.id.clone(),
            );
            s.batch.marks.insert(key, x.size_bytes);
        }
    }
    for x in &p.protected {
        let key = MarkKey::new(
            MachineRef::new(x.profile.clone(), x.machine_id.clone()),
            x.id.clone(),
        );
        if !s.batch.marks.contains(&key) {
            let line = left_out_line(&x.machine, &x.name, &x.id, &x.why);
            s.batch.left_out.insert(key, line);
        }
    }
    let mut left = String::new();
    if !p.protected.is_empty() {
        left.push_str(&format!("; {} protected left out", p.protected.len()));
    }
    if !p.kept.is_empty() {
        left.push_str(&format!("; {} kept", p.kept.len()));
    }
    let replaced = if before == 0 {
        String::new()
    } else {
        format!(" (replacing the {before} marked before)")
    };
    info(
        s,
        format!(
            "marked {} snapshot(s) on {} machine(s), {}{replaced}{left}; d deletes them, U unmarks all",
            p.snapshots(),
            p.machines.len(),
            crate::model::health::size_words(p.size_bytes())
        ),
    );
    Vec::new()
}

/// How the delete dialog of the marks names a protected snapshot a bulk mark left out.
fn left_out_line(machine: &str, name: &str, id: &str, why: &str) -> String {
    format!("  {machine}: \"{name}\" ({id}), {why}")
}

fn mark(s: &mut AppState) -> Vec<Effect> {
    let (Some(m), Some(id)) = (s.selected_machine(), s.selected_snapshot()) else {
        return refuse(s, "select a snapshot in the tree to mark it");
    };
    let size = m.find(id).and_then(|n| n.size_bytes);
    let key = MarkKey::new(m.machine_ref(), id.to_string());
    if !s.batch.marks.remove(&key) {
        // Marked by hand: no longer "left out".
        s.batch.left_out.remove(&key);
        s.batch.marks.insert(key, size);
    }
    // In the list, Space moves on, so a run of snapshots is marked key after key.
    if s.left.view == LeftView::Snapshots && s.focus == Pane::Inventory {
        let next = (s.left.list.cursor + 1).min(s.left.list.shown.len().saturating_sub(1));
        s.set_list_cursor(next);
    }
    let (n, bytes) = (s.batch.marks.len(), s.batch.marks.bytes());
    info(
        s,
        format!(
            "{n} snapshot(s) marked, {}; d deletes them, Space unmarks",
            crate::model::health::size_words(bytes)
        ),
    );
    Vec::new()
}

/// `A` in the snapshot list: mark every shown snapshot that is not protected (those are
/// left out, and the delete dialog says so); when all of them are marked already, unmark
/// them.
fn mark_all(s: &mut AppState) -> Vec<Effect> {
    if s.left.view != LeftView::Snapshots {
        return refuse(
            s,
            "A marks every snapshot the snapshot list shows: v opens it, / filters it",
        );
    }
    let mut markable: Vec<(MarkKey, Option<u64>)> = Vec::new();
    let mut protected: Vec<(MarkKey, String)> = Vec::new();
    for &i in &s.left.list.shown {
        let r = &s.left.list.rows[i];
        let m = &s.machines()[r.machine];
        let key = MarkKey::new(m.machine_ref(), r.id.clone());
        match m
            .find(&r.id)
            .and_then(|n| crate::model::cleanup::protection(n, &s.settings.protect).map(|w| (n, w)))
        {
            Some((n, why)) => protected.push((key, left_out_line(&m.name, &n.name, &n.id, &why))),
            None => markable.push((key, r.size)),
        }
    }
    if markable.is_empty() {
        return refuse(
            s,
            match protected.len() {
                0 => "no snapshot is shown to mark".to_string(),
                n => {
                    format!("the {n} snapshot(s) shown are all protected; Space marks one by hand")
                }
            },
        );
    }
    if markable.iter().all(|(k, _)| s.batch.marks.contains(k)) {
        let n = markable.len();
        for (k, _) in &markable {
            s.batch.marks.remove(k);
        }
        for (k, _) in &protected {
            s.batch.left_out.remove(k);
        }
        info(s, format!("unmarked the {n} snapshot(s) shown"));
        return Vec::new();
    }
    let n = markable.len();
    let bytes = markable
        .iter()
        .any(|(_, b)| b.is_some())
        .then(|| markable.iter().filter_map(|(_, b)| *b).sum::<u64>());
    for (k, size) in markable {
        s.batch.marks.insert(k, size);
    }
    let left = protected.len();
    for (k, line) in protected {
        if !s.batch.marks.contains(&k) {
            s.batch.left_out.insert(k, line);
        }
    }
    let left = if left > 0 {
        format!("; {left} protected left out")
    } else {
        String::new()
    };
    info(
        s,
        format!(
            "marked {n} shown, {}{left}; d deletes, A unmarks",
            crate::model::health::size_words(bytes)
        ),
    );
    Vec::new()
}

/// `s` in the snapshot list: the next sort key, the selection kept.
fn sort_list(s: &mut AppState) -> Vec<Effect> {
    if s.left.view != LeftView::Snapshots {
        return refuse(s, "s sorts the snapshot list: v opens it");
    }
    s.left.list.sort = s.left.list.sort.next();
    s.left.list.sort_rows();
    s.refilter_list();
    let label = s.left.list.sort.label();
    info(s, format!("sorted by {label}"));
    Vec::new()
}

fn cancel_task(s: &mut AppState) -> Vec<Effect> {
    let task = if s.focus == Pane::Tasks {
        s.tasks.all().get(s.tasks.cursor.selected)
    } else {
        s.tasks.all().iter().rev().find(|t| t.is_running())
    };
    let Some(t) = task.cloned() else {
        return refuse(s, "no task selected (Tab to the tasks pane)");
    };
    if !t.is_running() {
        return refuse(
            s,
            format!("{} on {} has already ended", t.operation(), t.machine),
        );
    }
    let (Some(task_id), true) = (t.task_id.clone(), t.cancelable) else {
        let why = cannot_cancel(s, &t);
        return refuse(s, why);
    };
    let op = Operation::Cancel { task: task_id };
    if let Err(reason) = ensure_writable(s.read_only(&t.profile), &t.profile, &op) {
        return refuse(s, reason);
    }
    let Some(m) = s.machine(&MachineRef::new(t.profile.clone(), t.machine_id.clone())) else {
        return refuse(s, "that machine is no longer in the inventory; refresh");
    };
    let step = change::Step::of(m, op);
    send_run(s, step, None)
}

/// Why task `t` cannot be cancelled now, with what can be done instead.
fn cannot_cancel(s: &AppState, t: &TaskView) -> String {
    let what = format!("{} on {}", t.operation(), t.machine);
    if t.task_id.is_none() {
        return match t.batch {
            Some(_) => format!("{what} has not started: X stops its plan's steps not started"),
            None => format!("{what} has not reached the server yet; nothing to cancel there"),
        };
    }
    let proxmox = s
        .machine(&MachineRef::new(t.profile.clone(), t.machine_id.clone()))
        .is_some_and(|m| m.provider == crate::model::ProviderKind::Proxmox);
    if proxmox {
        return format!(
            "{what} is not stopped: Proxmox stops only a snapshot being taken (a rollback or a delete stopped midway leaves the guest locked)"
        );
    }
    format!("{what} cannot be cancelled at this stage (the server does not offer it)")
}

/// Stop a running plan (the selected task's, or the newest): its steps not started do not
/// start, each profile's worker told; the steps running go on to their end. Nothing is
/// changed on a server, so nothing is asked.
fn stop_plan(s: &mut AppState) -> Vec<Effect> {
    let selected = (s.focus == Pane::Tasks)
        .then(|| {
            s.tasks
                .all()
                .get(s.tasks.cursor.selected)
                .and_then(|t| t.batch)
        })
        .flatten();
    let Some(plan) = selected
        .filter(|p| s.batch.batches.iter().any(|b| b.id == *p))
        .or_else(|| s.batch.batches.last().map(|b| b.id))
    else {
        return refuse(s, "no plan of deletes is running");
    };
    let waiting: Vec<&TaskView> = s
        .tasks
        .all()
        .iter()
        .filter(|t| t.batch == Some(plan) && t.ended.is_none())
        .collect();
    let running = waiting.iter().filter(|t| t.task_id.is_some()).count();
    let mut profiles: Vec<String> = waiting.iter().map(|t| t.profile.clone()).collect();
    profiles.sort();
    profiles.dedup();
    let what = s
        .batch
        .batches
        .iter()
        .find(|b| b.id == plan)
        .map_or("the plan", |b| b.what.as_str());
    let line = format!(
        "{what}: stopping; the {} step(s) waiting will not start, the {running} running go on to their end",
        waiting.len() - running
    );
    info(s, line);
    profiles
        .into_iter()
        .map(|p| Effect::Send(p, Command::StopPlan { plan }))
        .collect()
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

/// The context `model::change` describes a change in.
fn change_context(s: &AppState) -> Context<'_> {
    Context {
        allow_low_space: false,
        now: s.now,
        type_to_confirm: s.settings.confirm == ConfirmMode::TypeName,
        protect: &s.settings.protect,
    }
}

/// Open the dialog of a change, or refuse it with the reason.
fn open_change(s: &mut AppState, action: Action) -> Vec<Effect> {
    if action == Action::Delete && !s.batch.marks.is_empty() {
        return open_batch(s);
    }
    let Some(m) = s.selected_machine().cloned() else {
        return refuse(s, "select a machine first");
    };
    let snap = s.selected_snapshot().map(String::from).or_else(|| {
        // A one-snapshot machine: act on its snapshot from anywhere.
        m.capabilities
            .replace
            .then(|| m.snapshots.first().map(|x| x.id.clone()))
            .flatten()
    });
    let need_snapshot = |what: &str| format!("select a snapshot in the tree to {what}");
    let now = s.now;
    let op: Result<Operation, String> = match action {
        // A VPS keeps one snapshot: taking another means replacing it.
        Action::Take if m.capabilities.replace && !m.snapshots.is_empty() => {
            Ok(Operation::Replace {
                description: default_name(now),
            })
        }
        Action::Take => Ok(Operation::Take {
            quiesce_timeout: None,
            name: change::default_name_for(&m, now),
            description: if m.capabilities.replace {
                default_name(now)
            } else {
                String::new()
            },
            // The snapshot guides' advice: a running VM is quiesced rather than saved with its
            // memory, where its Tools run.
            memory: false,
            quiesce: m.quiesce_unavailable().is_none(),
        }),
        Action::Replace => Ok(Operation::Replace {
            description: default_name(now),
        }),
        Action::Revert => snap
            .map(|snapshot| Operation::Revert {
                start: false,
                snapshot,
                suppress_power_on: false,
            })
            .ok_or_else(|| need_snapshot("revert to")),
        Action::RevertCurrent => Ok(Operation::RevertCurrent {
            start: false,
            suppress_power_on: false,
        }),
        Action::Delete => snap
            .map(|snapshot| Operation::Delete {
                snapshot,
                children: false,
            })
            .ok_or_else(|| need_snapshot("delete")),
        Action::DeleteAll => Ok(Operation::DeleteAll),
        Action::Consolidate => Ok(Operation::Consolidate),
        Action::Rename => snap
            .map(|snapshot| Operation::Rename {
                snapshot,
                name: None,
                description: None,
            })
            .ok_or_else(|| need_snapshot("rename")),
        // The rename that adds or removes `[keep]`, in the rename dialog: the description
        // is shown as it will be written.
        Action::Pin => snap
            .as_deref()
            .and_then(|id| m.find(id))
            .map(|node| {
                let pinned = crate::model::cleanup::is_pinned(&node.description);
                crate::model::cleanup::pin_operation(node, !pinned)
            })
            .and_then(|op| op)
            .ok_or_else(|| need_snapshot("pin or unpin")),
        _ => return Vec::new(),
    };
    let from_take = action == Action::Take && matches!(op, Ok(Operation::Replace { .. }));
    open_operation(s, &m, op, from_take)
}

/// Open the dialog of `op` on `m` (or say why it cannot be asked for): read-only first,
/// then the change's own refusals; `from_take`, a take that became a replace says so.
pub(super) fn open_operation(
    s: &mut AppState,
    m: &Machine,
    op: Result<Operation, String>,
    from_take: bool,
) -> Vec<Effect> {
    // Read-only: no dialog for a change can be opened (said first, whatever else is wrong).
    let read_only = s.read_only(&m.profile);
    let op = match op {
        Ok(op) => op,
        Err(why) if !read_only => return refuse(s, why),
        Err(_) => {
            let reason = crate::engine::policy::read_only_reason(&m.profile);
            return refuse(s, format!("refused: {reason}"));
        }
    };
    let writable = |op: &Operation| ensure_writable(read_only, &m.profile, op);
    match flow::open(m, op, change_context(s), writable, checks_guest(s, m)) {
        Ok(flow::Opened {
            change: mut c,
            guest: before,
        }) => {
            if from_take {
                c.lines.insert(
                    0,
                    format!(
                        "{} already has a snapshot and a VPS keeps only one. Replace it?",
                        m.name
                    ),
                );
            }
            let mut d = Dialog::change(c);
            s.log.status = None;
            let mut effects = Vec::new();
            match before {
                guest::Before::Nothing => {}
                guest::Before::NotNeeded => d.lines.push(guest::NOT_NEEDED.into()),
                guest::Before::Check => {
                    d.guest = Some((m.machine_ref(), d.lines.len()));
                    d.lines.push(GuestAgent::Checking.line());
                    effects.push(ask_guest(s, m));
                }
            }
            s.open_dialog(d);
            effects
        }
        Err(why) => refuse(s, why.sentence()),
    }
}

/// The dialog of the marked snapshots: every one listed, the count typed to confirm.
fn open_batch(s: &mut AppState) -> Vec<Effect> {
    let read_only = s.batch.marks.iter().find_map(|mark| {
        let op = Operation::Delete {
            snapshot: mark.snapshot.clone(),
            children: false,
        };
        let profile = &mark.machine.profile;
        ensure_writable(s.read_only(profile), profile, &op).err()
    });
    if let Some(reason) = read_only {
        return refuse(s, reason);
    }
    let mut items: Vec<(&Machine, Vec<String>)> = Vec::new();
    for MarkKey {
        machine,
        snapshot: snap,
    } in s.batch.marks.iter()
    {
        let Some(m) = s.machine(machine) else {
            continue;
        };
        // Marks are in machine order: a machine's marks follow one another.
        match items
            .last_mut()
            .filter(|(x, _)| x.profile == m.profile && x.id == m.id)
        {
            Some((_, ids)) => ids.push(snap.clone()),
            None => items.push((m, vec![snap.clone()])),
        }
    }
    match change::describe_batch(&items, change_context(s)) {
        Ok(mut c) => {
            let left: Vec<&String> = s
                .batch
                .left_out
                .iter()
                .filter(|(k, _)| !s.batch.marks.contains(k))
                .map(|(_, line)| line)
                .collect();
            if !left.is_empty() {
                c.lines.push(format!(
                    "Left out, protected ({}): Space marks one by hand.",
                    left.len()
                ));
                c.lines.extend(left.iter().take(8).map(|l| (*l).clone()));
                if left.len() > 8 {
                    c.lines.push(format!("  … and {} more", left.len() - 8));
                }
            }
            s.open_dialog(Dialog::change(c));
            s.log.status = None;
            Vec::new()
        }
        Err(why) => refuse(s, why.0),
    }
}

pub use crate::model::change::default_name;

fn dialog_key(s: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let page = page(s);
    let Some(d) = s.dialog_mut() else {
        return Vec::new();
    };
    if let DialogKind::Backups { .. } = d.kind {
        return super::backups::key(s, key);
    }
    let on_text = matches!(d.fields.get(d.focus), Some(Field::Text { .. }));
    // A yes/no change (no typing asked) is confirmed by y too; the key that opened it
    // (t, r, d, …) never confirms.
    let y_confirms = !on_text && !d.needs_typing();
    match key.code {
        KeyCode::Esc => {
            let what = match &d.kind {
                DialogKind::Change(_) => "cancelled; nothing changed",
                _ => "",
            };
            s.close_dialog();
            if what.is_empty() {
                s.log.status = None;
            } else {
                info(s, what);
            }
        }
        // A long text (a plan of many snapshots) pages, also while a field is focused.
        KeyCode::PageDown => {
            d.scroll = (d.scroll + page).min(d.lines.len().saturating_sub(1));
        }
        KeyCode::PageUp => {
            d.scroll = d.scroll.saturating_sub(page);
        }
        KeyCode::Down | KeyCode::Char('j') if d.fields.is_empty() => {
            d.scroll = (d.scroll + 1).min(d.lines.len().saturating_sub(1));
        }
        KeyCode::Up | KeyCode::Char('k') if d.fields.is_empty() => {
            d.scroll = d.scroll.saturating_sub(1);
        }
        KeyCode::Char('y') if matches!(d.kind, DialogKind::Task(_)) => {
            if let DialogKind::Task(request) = d.kind
                && let Some(id) = s
                    .tasks
                    .all()
                    .iter()
                    .find(|t| t.request == request)
                    .and_then(|t| t.task_id.clone())
            {
                info(s, format!("copied {id}"));
                return vec![Effect::Copy(id)];
            }
        }
        KeyCode::Char('y') if matches!(d.kind, DialogKind::Profile(_)) => return copy(s),
        KeyCode::Tab | KeyCode::Down if !d.fields.is_empty() => {
            d.focus = (d.focus + 1) % d.fields.len();
        }
        KeyCode::BackTab | KeyCode::Up if !d.fields.is_empty() => {
            d.focus = (d.focus + d.fields.len() - 1) % d.fields.len();
        }
        KeyCode::Enter => return confirm(s),
        KeyCode::Char('y') if matches!(d.kind, DialogKind::Order(_)) => {
            if let DialogKind::Order(url) = &d.kind {
                let url = url.clone();
                info(s, "order URL copied");
                return vec![Effect::Copy(url)];
            }
        }
        KeyCode::Char('y') if matches!(d.kind, DialogKind::Link(_)) => {
            if let DialogKind::Link(url) = &d.kind {
                let url = url.clone();
                info(s, "download URL copied");
                return vec![Effect::Copy(url)];
            }
        }
        KeyCode::Char('c') if matches!(d.kind, DialogKind::Link(_)) => {
            if let DialogKind::Link(url) = &d.kind {
                let command = download::curl_command(url);
                info(s, "curl command copied");
                return vec![Effect::Copy(command)];
            }
        }
        KeyCode::Char('y') if y_confirms => return confirm(s),
        KeyCode::Char(' ') if !on_text => {
            if let Some(Field::Check {
                value, disabled, ..
            }) = d.fields.get_mut(d.focus)
            {
                match disabled {
                    Some(reason) => {
                        let reason = reason.clone();
                        refuse(s, reason);
                    }
                    None => {
                        *value = !*value;
                        follow_answers(d);
                    }
                }
            }
        }
        _ => {
            if let Some(Field::Text { editor, .. }) = d.fields.get_mut(d.focus)
                && editor.handle(&key)
            {
                // Editing the form after a warning: the warning no longer holds.
                d.asked = crate::model::flow::Asked::default();
            }
        }
    }
    Vec::new()
}

/// A change whose confirmation depends on an answer (a delete *with children*): the
/// dialog's form and the change follow it, the focus staying on the same field.
fn follow_answers(d: &mut Dialog) {
    let DialogKind::Change(c) = &d.kind else {
        return;
    };
    let mut c = answered(d, c);
    if !c.follow_answers() {
        return;
    }
    // A delete's words follow its *with children* answer (`Change::follow_answers`).
    if c.deletes.is_some() {
        d.lines.clone_from(&c.lines);
    }
    let focused = d.fields.get(d.focus).map(Field::input);
    let old = std::mem::take(&mut d.fields);
    d.fields = c
        .fields
        .iter()
        .map(|f| {
            old.iter()
                .find(|o| o.input() == f.input && f.input != Input::Typed)
                .cloned()
                .unwrap_or_else(|| Field::of(f))
        })
        .collect();
    d.focus = focused
        .and_then(|i| d.fields.iter().position(|f| f.input() == i))
        .unwrap_or(0);
    d.kind = DialogKind::Change(Box::new(c));
}

/// The change with the dialog's answers written into its form.
fn answered(d: &Dialog, c: &Change) -> Change {
    let mut c = c.clone();
    for (f, field) in c.fields.iter_mut().zip(&d.fields) {
        f.value = match field {
            Field::Text { editor, .. } => Value::Text(editor.value().to_string()),
            Field::Check {
                value, disabled, ..
            } => Value::Check {
                on: *value,
                disabled: disabled.clone(),
            },
        };
    }
    c
}

fn confirm(s: &mut AppState) -> Vec<Effect> {
    let Some(d) = s.dialog().cloned() else {
        return Vec::new();
    };
    let c = match &d.kind {
        DialogKind::Quit => {
            s.close_dialog();
            s.quit = true;
            return Vec::new();
        }
        DialogKind::Link(_)
        | DialogKind::Order(_)
        | DialogKind::Task(_)
        | DialogKind::Log
        | DialogKind::Profile(_)
        | DialogKind::Backups { .. } => {
            s.close_dialog();
            return Vec::new();
        }
        DialogKind::Change(c) => answered(&d, c),
    };
    if !c.typed_ok() {
        let want = c.confirmation_now().expected_text().unwrap_or_default();
        return refuse(
            s,
            format!("type {want} exactly to confirm, or Esc to cancel"),
        );
    }
    let steps = match c.answered() {
        Ok(steps) => steps,
        Err(why) => return refuse(s, why.0),
    };
    // The questions after the confirmation (`model::flow`), each put once: Enter again
    // answers the one shown.
    let (guest, name) = match &d.guest {
        Some((key, _)) => (
            s.inventory.guest.get(key).map(|g| &g.state),
            machine_name(s, key),
        ),
        None => (None, String::new()),
    };
    if let Some(question) = d.asked.next(&steps, guest, &name) {
        if let Some(d) = s.dialog_mut() {
            d.asked.yes(&question);
        }
        return refuse(s, question.again());
    }
    s.close_dialog();
    if !c.batch && steps.len() == 1 {
        return steps
            .into_iter()
            .flat_map(|step| send_run(s, step, None))
            .collect();
    }
    // A batch: one plan, per machine one step after another (the engine's queue), a
    // failed step stops that machine's later ones; what does not succeed stays marked.
    // A plan of one change (a delete with descendants made one snapshot per call) runs
    // the same, the marks left as they are.
    let plan = s.tasks.next_request();
    let skipped = if c.batch {
        // The marks that are no step stay marked, counted as skipped: a machine short of
        // room to merge (`model::change::describe_batch` said so in the dialog).
        let stepped: std::collections::HashSet<MarkKey> = steps
            .iter()
            .map(|st| {
                let key = MachineRef::new(st.profile.clone(), st.machine_id.clone());
                MarkKey::new(key, st.op.snapshot().unwrap_or_default())
            })
            .collect();
        for key in &stepped {
            s.batch.marks.remove(key);
        }
        s.batch.left_out.clear();
        s.batch.marks.len()
    } else {
        0
    };
    s.batch.batches.push(BatchView {
        id: plan,
        // Short: the status line's count must fit beside it at 80 columns.
        what: match steps.first() {
            Some(st) if !c.batch => format!("{} on {}", st.op.name(), st.machine),
            _ => "delete marked".into(),
        },
        total: steps.len() + skipped,
        skipped,
        ..BatchView::default()
    });
    let mut effects = Vec::new();
    for st in steps {
        let snapshot = st.op.snapshot().unwrap_or_default().to_string();
        let mark = MarkKey::new(
            MachineRef::new(st.profile.clone(), st.machine_id.clone()),
            snapshot.clone(),
        );
        // The size as shown when confirmed: what the summary counts as freed.
        let size = s
            .machine(&MachineRef::new(st.profile.clone(), st.machine_id.clone()))
            .and_then(|m| m.find(&snapshot))
            .and_then(|n| n.size_bytes);
        if size.is_some()
            && let Some(b) = s.batch.batches.last_mut()
        {
            b.sized = true;
        }
        let request = s.tasks.next_request();
        let sent = send_run(s, st, Some(plan));
        if !sent.is_empty() {
            s.batch.steps.insert(mark.clone(), request);
            s.batch.step_marks.insert(request, (mark, size));
        }
        effects.extend(sent);
    }
    let line = s.batch.batches.last().map(batch_line).unwrap_or_default();
    info(s, line);
    effects
}

/// Record a task row and ask the engine to run a step (with the view its dialog was
/// opened on).
fn send_run(s: &mut AppState, step: change::Step, plan: Option<u64>) -> Vec<Effect> {
    let key = MachineRef::new(step.profile.clone(), step.machine_id.clone());
    if s.machine(&key).is_none() {
        return refuse(s, "that machine is no longer in the inventory; refresh");
    }
    let request = s.tasks.new_request();
    s.tasks.push(TaskView {
        request,
        profile: step.profile.clone(),
        machine_id: step.machine_id.clone(),
        machine: step.machine.clone(),
        op: step.op.clone(),
        target: task_target(&step),
        task_id: None,
        state: None,
        progress: None,
        message: None,
        not_run: None,
        batch: plan,
        cancelable: false,
        started: s.now,
        ended: None,
    });
    if plan.is_none() {
        info(
            s,
            format!("{} on {}: started", step.op.name(), step.machine),
        );
    }
    vec![Effect::Send(
        step.profile,
        Command::Run {
            request,
            machine_id: step.machine_id,
            op: step.op,
            expected: step.expected,
            plan,
        },
    )]
}

/// What a task row names: the snapshot, and a rename's new name.
fn task_target(step: &change::Step) -> String {
    match &step.op {
        // The new name was typed: drawn safe like every name.
        Operation::Rename {
            name: Some(new), ..
        } if *new != step.target => {
            format!("{} → {}", step.target, crate::safe::terminal(new))
        }
        _ => step.target.clone(),
    }
}

fn on_event(s: &mut AppState, event: Event) {
    let task = match &event {
        Event::Task { request, .. } | Event::TaskDone { request, .. } => Some(*request),
        _ => None,
    };
    on_engine_event(s, event);
    // An open task dialog follows its task.
    if let (Some(request), Some(d)) = (task, s.dialog())
        && d.kind == DialogKind::Task(request)
        && let Some(t) = s.task(request)
    {
        let lines = task_lines(t, s.now);
        if let Some(d) = s.dialog_mut() {
            d.lines = lines;
        }
    }
}

/// Close an open change dialog when a machine it acts on no longer matches what the
/// dialog was opened on (the same rule as the engine's re-check, `ExpectedView`): what it
/// shows is not what Enter would act on. Said on the status line and kept in the log.
fn close_stale_dialog(s: &mut AppState) {
    let Some(Dialog {
        kind: DialogKind::Change(c),
        ..
    }) = s.dialog()
    else {
        return;
    };
    let reason = c.steps.iter().find_map(|step| {
        let key = MachineRef::new(step.profile.clone(), step.machine_id.clone());
        // A row still being filled in (a reload's first rows) says nothing yet.
        let m = s.machine(&key).filter(|m| m.loaded)?;
        step.expected.stale_reason(m, &step.op)
    });
    if let Some(reason) = reason {
        let title = c.title.clone();
        s.close_dialog();
        s.say(
            Level::Error,
            format!("{title}: closed, nothing changed: {reason}"),
        );
    }
}

fn on_engine_event(s: &mut AppState, event: Event) {
    match event {
        Event::Loading { profile } => set_status(s, &profile, ProfileStatus::Loading),
        Event::Inventory {
            profile,
            machines,
            complete,
            server,
        } => {
            s.set_machines(&profile, machines);
            if complete {
                if let Some(p) = s.inventory.profiles.iter_mut().find(|p| p.name == profile) {
                    p.server = server;
                }
                set_status(s, &profile, ProfileStatus::Connected);
            }
            close_stale_dialog(s);
        }
        Event::ProfileError {
            profile,
            trouble,
            message,
            retry_in,
        } => profile_error(s, &profile, trouble, &message, retry_in),
        Event::MachineUpdated { machine } => {
            s.update_machine(*machine);
            close_stale_dialog(s);
        }
        Event::Creators { profile, creators } => s.set_creators(&profile, &creators),
        Event::Task { request, update } => {
            let mut started = None;
            let mut note_line = None;
            if let Some(t) = s.task_mut(request) {
                match update {
                    // An order says where it is paid: kept with its row, said as news.
                    RunUpdate::Started { task_id, note } if matches!(t.op, Operation::Order(_)) => {
                        t.message = note.map(|n| crate::safe::terminal(&n).into_owned());
                        t.task_id = Some(task_id);
                    }
                    RunUpdate::Started { task_id, note } => {
                        note_line = note.map(|n| format!("{} on {}: {n}", t.op.name(), t.machine));
                        t.task_id = Some(task_id);
                        started = t.batch.map(|plan| {
                            (
                                plan,
                                MachineRef::new(t.profile.clone(), t.machine_id.clone()),
                            )
                        });
                    }
                    RunUpdate::Queued => t.state = Some(TaskState::Queued),
                    RunUpdate::Created { .. } => {}
                    RunUpdate::Progress(status) => {
                        t.state = Some(status.state);
                        t.progress = status.progress;
                        t.cancelable = status.cancelable;
                        // What the task says while it runs (a Proxmox task's last log
                        // line): foreign text, kept safe.
                        if !status.state.is_final() {
                            t.message = status
                                .message
                                .map(|m| crate::safe::terminal(&m).into_owned());
                        }
                    }
                }
            }
            if let Some(line) = note_line {
                s.say(Level::Error, line);
            }
            // A batch step running on the server: its machine counts as running.
            if let Some((plan, machine)) = started
                && let Some(b) = s.batch.batches.iter_mut().find(|b| b.id == plan)
            {
                b.running.insert(machine);
                let line = batch_line(b);
                s.log.status = Some((Level::Info, line));
            }
        }
        Event::TaskDone { request, result } => task_done(s, request, result),
        Event::Download { machine, result } => {
            clear_message(s, ASKING_LINK);
            on_download(s, &machine, result);
        }
        Event::GuestAgent {
            request,
            machine,
            state,
        } => on_guest_agent(s, request, &machine, state),
        Event::Quotes {
            request,
            machine,
            option,
            result,
        } => {
            // An order's dialog sends nothing before it is confirmed.
            let _sent_nothing = super::order::answered(s, request, &machine, option, result);
        }
    }
}

/// A task row's end, from the engine's result (the server's words drawn safe), and the
/// line that says it.
fn record_end(
    t: &mut TaskView,
    result: Result<crate::model::TaskStatus, RunError>,
    summary: &str,
    offer_retake: bool,
) -> (Level, String) {
    // The server's words are foreign text: drawn safe.
    let safe = |m: &str| crate::safe::terminal(m).into_owned();
    let result = match result {
        Ok(mut st) => {
            st.message = st.message.as_deref().map(safe);
            Ok(st)
        }
        Err(RunError::Refused(m)) => Err(RunError::Refused(safe(&m))),
        Err(RunError::Failed(m)) => Err(RunError::Failed(safe(&m))),
        Err(RunError::Skipped(m)) => Err(RunError::Skipped(safe(&m))),
        Err(RunError::Unknown(m)) => Err(RunError::Unknown(safe(&m))),
        Err(RunError::Unrecorded(m)) => Err(RunError::Unrecorded(safe(&m))),
    };
    match result {
        Ok(status) => {
            t.state = Some(status.state);
            t.progress = status.progress;
            // An order's words (where it is paid) stay when the server adds none.
            let said = t
                .message
                .take()
                .filter(|_| matches!(t.op, Operation::Order(_)));
            t.message = status.message.clone().or(said);
            match status.state {
                TaskState::Success if matches!(t.op, Operation::Order(_)) => (
                    Level::Info,
                    format!(
                        "{summary}: {}",
                        t.message.as_deref().unwrap_or("order created")
                    ),
                ),
                TaskState::Success if offer_retake => (
                    Level::Info,
                    format!("{summary}: done; snapshot used up, t takes a new one"),
                ),
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
        // Not sent because the audit log could not record it: a refusal like any other.
        Err(RunError::Refused(m) | RunError::Unrecorded(m)) => {
            t.not_run = Some(NotRun::Refused);
            t.message = Some(m.clone());
            (Level::Error, format!("{summary} refused: {m}"))
        }
        Err(RunError::Skipped(m)) => {
            t.not_run = Some(NotRun::Skipped);
            t.message = Some(m.clone());
            (Level::Error, format!("{summary} skipped: {m}"))
        }
        Err(RunError::Failed(m)) => {
            t.state = Some(TaskState::Error);
            t.message = Some(m.clone());
            (Level::Error, format!("{summary} failed: {m}"))
        }
        Err(RunError::Unknown(m)) => {
            t.state = Some(TaskState::Error);
            t.message = Some(format!("outcome unknown: {m}"));
            (
                Level::Error,
                format!("{summary}: the outcome is unknown: {m}"),
            )
        }
    }
}

/// A task ended: its row, its batch's count, the status line.
fn task_done(s: &mut AppState, request: u64, result: Result<crate::model::TaskStatus, RunError>) {
    let succeeded = matches!(&result, Ok(st) if st.state == TaskState::Success);
    // A batch step that did not succeed stays marked, to be retried or unmarked.
    let freed = match s.batch.step_marks.remove(&request) {
        Some((mark, size)) => {
            s.batch.steps.remove(&mark);
            if succeeded {
                size.unwrap_or(0)
            } else {
                s.batch.marks.insert(mark, size);
                0
            }
        }
        None => 0,
    };
    let now = s.now;
    // A restore that consumed the machine's one snapshot: a new one is offered.
    let offer_retake = s.task(request).is_some_and(|t| {
        matches!(
            t.op,
            Operation::Revert { .. } | Operation::RevertCurrent { .. }
        ) && s
            .machine(&MachineRef::new(t.profile.clone(), t.machine_id.clone()))
            .is_some_and(|m| change::retake_unavailable(m).is_none())
    });
    let Some(t) = s.task_mut(request) else {
        return;
    };
    let machine = MachineRef::new(t.profile.clone(), t.machine_id.clone());
    t.ended = Some(now);
    t.cancelable = false;
    let summary = format!("{} on {}", t.operation(), t.machine);
    let skipped = matches!(result, Err(RunError::Skipped(_)));
    let (level, text) = record_end(t, result, &summary, offer_retake);
    // An order created: where it is paid, in a dialog that copies it (unless one is open).
    let paid_at = t
        .message
        .as_deref()
        .filter(|_| succeeded && matches!(t.op, Operation::Order(_)))
        .and_then(crate::model::order::paid_at)
        .map(|url| {
            let id = t.task_id.clone().unwrap_or_default();
            (url.to_string(), format!("{summary}: order {id} created."))
        });
    let Some(plan) = t.batch else {
        s.say(level, text.clone());
        if let Some((url, created)) = paid_at
            && s.dialog().is_none()
        {
            s.open_dialog(Dialog::plain(
                "Order created",
                DialogKind::Order(url.clone()),
                vec![
                    created,
                    format!("Pay it at {url}"),
                    "snaptree pays nothing; the option is active only once OVHcloud has the payment, and the VPS says so then.".into(),
                ],
            ));
        }
        return;
    };
    let Some(i) = s.batch.batches.iter().position(|b| b.id == plan) else {
        return;
    };
    let b = &mut s.batch.batches[i];
    b.running.remove(&machine);
    if succeeded {
        b.done += 1;
        b.freed += freed;
    } else if skipped {
        b.skipped += 1;
    } else {
        b.failed += 1;
    }
    let b = b.clone();
    if level == Level::Error {
        // Each failure is in the log; the status line keeps the batch's count.
        s.remember(level, text);
    }
    if b.ended() < b.total {
        s.log.status = Some((Level::Info, batch_line(&b)));
    } else {
        s.batch.batches.remove(i);
        let mut line = format!(
            "{} ended: {} done, {} failed, {} skipped; {}",
            b.what,
            b.done,
            b.failed,
            b.skipped,
            crate::model::cleanup::freed_words(b.sized.then_some(b.freed))
        );
        if b.failed + b.skipped > 0 {
            line.push_str("; what did not succeed is marked (Enter on a task shows why)");
        }
        let level = if b.done == b.total {
            Level::Info
        } else {
            Level::Error
        };
        s.say(level, line);
    }
}

/// A batch's progress on the status line, as `prune` says it on stderr.
fn batch_line(b: &BatchView) -> String {
    let mut line = format!(
        "{}: {}",
        b.what,
        crate::model::cleanup::progress_line(
            b.ended(),
            b.total,
            b.running.len(),
            b.sized.then_some(b.freed)
        )
    );
    if b.failed + b.skipped > 0 {
        line.push_str(&format!(" · {} failed · {} skipped", b.failed, b.skipped));
    }
    line
}

/// A download link arrived: show it, or say why there is none.
fn on_download(
    s: &mut AppState,
    machine: &MachineRef,
    result: Result<crate::provider::DownloadLink, String>,
) {
    match result {
        Ok(link) => {
            let name = machine_name(s, machine);
            let shown = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
            let expiry = match download::expires(&link.url) {
                Some(t) => format!("expires {} (in {})", shown(t), format_age(t - s.now)),
                None => format!(
                    "expires about {} (links last about 24 h)",
                    shown(s.now + download::LINK_LIFETIME)
                ),
            };
            s.open_dialog(Dialog::plain(
                format!("Download the snapshot of {name}"),
                DialogKind::Link(link.url.clone()),
                vec![
                    link.url,
                    format!("Size: {} · {expiry}", human_size(link.size)),
                ],
            ));
        }
        Err(e) => {
            s.say(Level::Error, format!("no download link: {e}"));
        }
    }
}

/// The status line while a refresh runs; cleared when every profile has answered.
const REFRESHING: &str = "refreshing every profile…";
/// The status line while a download link is asked for; cleared by the answer.
const ASKING_LINK: &str = "asking OVHcloud for the download link…";

/// Clear the status line if it still says `text` (its work has ended).
fn clear_message(s: &mut AppState, text: &str) {
    if s.log.status.as_ref().is_some_and(|(_, m)| m == text) {
        s.log.status = None;
    }
}

/// A profile could not be read: its row says what kind of trouble, the message log keeps
/// the whole sentence (once, not at each retry), and Enter on the row shows it.
fn profile_error(
    s: &mut AppState,
    profile: &str,
    trouble: crate::engine::Trouble,
    message: &str,
    retry_in: std::time::Duration,
) {
    let message = crate::safe::terminal(message).into_owned();
    // Said in the log once: again only when the sentence changed since it last said this
    // profile's (a profile is reloaded, and fails, every few seconds).
    let head = format!("profile {profile}: ");
    let last = s
        .log
        .lines()
        .iter()
        .rev()
        .find_map(|(_, _, m)| m.strip_prefix(&head));
    if last != Some(message.as_str()) {
        s.remember(Level::Error, format!("{head}{message}"));
    }
    let status = ProfileStatus::Error(trouble, message, retry_in);
    set_status(s, profile, status);
}

/// The line to copy from a profile's error: the `thumbprint = "…"` to pin when it gives
/// one, else the whole sentence.
pub fn profile_copy_text(error: &str) -> String {
    let pin = error.find("thumbprint = \"").and_then(|at| {
        let rest = &error[at..];
        let open = rest.find('"')?;
        let close = rest[open + 1..].find('"')?;
        let value = &rest[open + 1..open + 1 + close];
        (!value.contains('…')).then(|| format!("thumbprint = \"{value}\""))
    });
    pin.unwrap_or_else(|| error.to_string())
}

/// The dialog with the whole sentence of profile `i`'s error.
fn open_profile_error(s: &mut AppState, i: usize) {
    let Some(p) = s.inventory.profiles.get(i) else {
        return;
    };
    let ProfileStatus::Error(trouble, message, retry) = &p.status else {
        return;
    };
    let mut lines = vec![
        format!(
            "Profile {} ({}): {}, tried again in {}s",
            p.name,
            p.kind.as_str(),
            trouble.label(),
            retry.as_secs()
        ),
        String::new(),
        message.clone(),
    ];
    let copy = profile_copy_text(message);
    if copy != *message {
        lines.push(String::new());
        lines.push(format!("y copies: {copy}"));
    }
    s.open_dialog(Dialog::plain(
        format!("Profile {}", p.name),
        DialogKind::Profile(i),
        lines,
    ));
}

fn set_status(s: &mut AppState, profile: &str, status: ProfileStatus) {
    if let Some(p) = s.inventory.profiles.iter_mut().find(|p| p.name == profile) {
        p.status = status;
    }
    if !s
        .inventory
        .profiles
        .iter()
        .any(|p| p.status == ProfileStatus::Loading)
    {
        clear_message(s, REFRESHING);
    }
}

pub use crate::model::health::human_size;
