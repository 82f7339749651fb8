//! The automated backup dialog of a VPS (`b`): its restore points, newest first, one chosen;
//! from it a full restore, a mount, a detach or a new daily time, each opened as its change's
//! own dialog (`model::change`), confirmed there.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};

use super::state::{AppState, Dialog, DialogKind};
use super::update::{Effect, open_operation, refuse};
use crate::model::backups::{self, RestoreState};
use crate::model::health::format_age;
use crate::model::{BackupOp, Machine, MachineRef, Operation};

/// The keys the dialog takes, as its last line says them.
pub const KEYS: &str = "j/k · f restore whole · m mount · d detach · s daily time · Esc close";

/// Open the selected VPS's automated backup, or say why there is none to show.
pub fn open(s: &mut AppState) -> Vec<Effect> {
    let Some(m) = s.selected_machine() else {
        return refuse(s, "select a VPS first");
    };
    if let Err(why) = backups::subscribed(m) {
        return refuse(s, why);
    }
    let d = dialog(m, 0, s.now);
    s.log.status = None;
    s.open_dialog(d);
    Vec::new()
}

/// The dialog of `m`'s backup with the point at `selected` chosen.
fn dialog(m: &Machine, selected: usize, now: DateTime<Utc>) -> Dialog {
    Dialog::plain(
        format!("Automated backup of {}", m.name),
        DialogKind::Backups {
            machine: m.machine_ref(),
            selected,
        },
        lines(m, selected, now),
    )
}

/// The summary, then one line per restore point (the chosen one marked), a mounted one's
/// addresses under it.
pub fn lines(m: &Machine, selected: usize, now: DateTime<Utc>) -> Vec<String> {
    let Ok(b) = backups::subscribed(m) else {
        return Vec::new();
    };
    let mut lines = vec![b.summary(|t| m.age_of(t, now)), String::new()];
    if b.restore_points.is_empty() {
        lines.push("No restore point yet: the first comes at the next daily time.".into());
    }
    for (i, p) in b.restore_points.iter().enumerate() {
        let state = match (p.state, b.mounted(p.time)) {
            (_, Some(_)) => "mounted",
            (RestoreState::Available, None) => "available",
            (RestoreState::Restoring, None) => "restoring",
            (RestoreState::Restored, None) => "restored",
        };
        lines.push(format!(
            "{} {}  {state:<9}  {} ago",
            if i == selected { "›" } else { " " },
            backups::point_label(p.time),
            format_age(m.age_of(p.time, now)),
        ));
        if let Some(a) = b.mounted(p.time) {
            for (kind, at) in [("nfs", &a.nfs), ("smb", &a.smb)] {
                if let Some(at) = at {
                    lines.push(format!("      {kind} {}", crate::safe::terminal(at)));
                }
            }
        }
    }
    lines
}

/// A key in the dialog: move, open a change of the chosen point, or close.
pub fn key(s: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let Some(DialogKind::Backups { machine, selected }) = s.dialog().map(|d| d.kind.clone()) else {
        return Vec::new();
    };
    let Some(m) = s.machine(&machine).cloned() else {
        s.close_dialog();
        return refuse(s, "that VPS is no longer in the inventory; refresh");
    };
    let points: Vec<DateTime<Utc>> = m
        .backups
        .as_deref()
        .map(|b| b.restore_points.iter().map(|p| p.time).collect())
        .unwrap_or_default();
    let moved = |to: usize| to.min(points.len().saturating_sub(1));
    let point = points.get(selected).copied();
    let op = |make: fn(String) -> BackupOp| -> Result<Operation, String> {
        point
            .map(|t| Operation::Backup(make(backups::point_id(t))))
            .ok_or_else(|| format!("{} has no restore point yet", m.name))
    };
    let change = match key.code {
        KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => {
            s.close_dialog();
            s.log.status = None;
            return Vec::new();
        }
        KeyCode::Down | KeyCode::Char('j') => {
            reopen(s, &m, &machine, moved(selected + 1));
            return Vec::new();
        }
        KeyCode::Up | KeyCode::Char('k') => {
            reopen(s, &m, &machine, selected.saturating_sub(1));
            return Vec::new();
        }
        KeyCode::Char('f') => op(|point| BackupOp::Restore { point, full: true }),
        KeyCode::Char('m') => op(|point| BackupOp::Restore { point, full: false }),
        KeyCode::Char('d') => op(|point| BackupOp::Detach { point }),
        KeyCode::Char('s') => Ok(Operation::Backup(BackupOp::Reschedule {
            schedule: m
                .backups
                .as_deref()
                .and_then(|b| b.schedule.clone())
                .unwrap_or_default(),
        })),
        _ => return Vec::new(),
    };
    // The change's own dialog takes the place of the list: its words, its confirmation.
    open_operation(s, &m, change, false)
}

/// The dialog again with another point chosen (and what the inventory holds now).
fn reopen(s: &mut AppState, m: &Machine, key: &MachineRef, selected: usize) {
    let text = lines(m, selected, s.now);
    // The chosen line stays in sight: the dialog shows about the terminal's height less
    // its frame, the key line and the panes' borders.
    let room = usize::from(s.size.1).saturating_sub(10).max(1);
    let at = text.iter().position(|l| l.starts_with('›')).unwrap_or(0);
    if let Some(d) = s.dialog_mut() {
        d.kind = DialogKind::Backups {
            machine: key.clone(),
            selected,
        };
        d.lines = text;
        if selected == 0 {
            // The first point: the summary above it too.
            d.scroll = 0;
        } else if at < d.scroll {
            d.scroll = at;
        } else if at >= d.scroll + room {
            d.scroll = at + 1 - room;
        }
    }
}
