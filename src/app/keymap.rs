//! The one keymap table: key dispatch, the help overlay and the command palette all read it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Every user intent that a key or the palette can trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// One page up.
    PageUp,
    /// One page down.
    PageDown,
    /// Collapse the selected node.
    Collapse,
    /// Expand or open the selected node.
    Expand,
    /// Next pane.
    NextPane,
    /// Previous pane.
    PrevPane,
    /// Start filtering.
    Filter,
    /// Open the command palette.
    Palette,
    /// Take a snapshot.
    Take,
    /// Revert to the selected snapshot.
    Revert,
    /// Revert to the current snapshot.
    RevertCurrent,
    /// Delete the selected (or marked) snapshot(s).
    Delete,
    /// Delete every snapshot of the machine.
    DeleteAll,
    /// Consolidate disks.
    Consolidate,
    /// Rename / edit description.
    Rename,
    /// Pin or unpin: `[keep]` in the description protects from every cleanup policy.
    Pin,
    /// Replace a VPS snapshot.
    Replace,
    /// Mark or unmark for batch delete.
    Mark,
    /// Mark every snapshot the snapshot list shows (protected ones left out).
    MarkAll,
    /// Unmark every snapshot.
    UnmarkAll,
    /// Switch the left pane between the inventory and the snapshot list.
    SnapshotList,
    /// The snapshot list's next sort key.
    Sort,
    /// Copy the selected id or download URL.
    Copy,
    /// Copy the guest agent check to run in a VPS.
    CopyGuestCheck,
    /// Check the selected VPS's guest agent over ssh (`guest_check = "ssh"`).
    GuestCheck,
    /// Show a VPS snapshot's download link.
    DownloadLink,
    /// A VPS's automated backup: its restore points, to restore, mount, detach, reschedule.
    Backups,
    /// Order the option a VPS lacks (snapshot, then automated backup): never paid here.
    OrderOption,
    /// Cancel the selected task.
    CancelTask,
    /// Stop a running plan (the marked deletes): its steps not started do not start.
    StopPlan,
    /// Show every status-line message so far.
    Log,
    /// Reload every profile.
    Refresh,
    /// Toggle help.
    Help,
    /// Quit.
    Quit,
    /// Suspend to the shell (Ctrl-Z); `fg` resumes.
    Suspend,
}

impl Action {
    /// Whether it asks for a change on a back end (refused on a read-only profile).
    pub fn changes(self) -> bool {
        matches!(
            self,
            Action::Take
                | Action::Revert
                | Action::RevertCurrent
                | Action::Delete
                | Action::DeleteAll
                | Action::Consolidate
                | Action::Rename
                | Action::Pin
                | Action::Replace
                | Action::OrderOption
        )
    }
}

/// A key chord.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// Key code.
    pub code: KeyCode,
    /// Required modifiers (Shift is ignored for characters).
    pub mods: KeyModifiers,
}

const fn k(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::NONE,
    }
}

const fn code(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

/// One line of the keymap.
#[derive(Debug)]
pub struct Binding {
    /// Keys that trigger it.
    pub keys: &'static [Key],
    /// Key labels for help.
    pub label: &'static str,
    /// The action.
    pub action: Action,
    /// Name in the palette and help.
    pub name: &'static str,
    /// Shown in the status line's key hints.
    pub hint: bool,
}

/// The keymap.
pub static KEYMAP: &[Binding] = &[
    Binding {
        keys: &[k('j'), code(KeyCode::Down)],
        label: "j/↓",
        action: Action::Down,
        name: "move down",
        hint: false,
    },
    Binding {
        keys: &[k('k'), code(KeyCode::Up)],
        label: "k/↑",
        action: Action::Up,
        name: "move up",
        hint: false,
    },
    Binding {
        keys: &[k('g'), code(KeyCode::Home)],
        label: "g",
        action: Action::Top,
        name: "go to top",
        hint: false,
    },
    Binding {
        keys: &[k('G'), code(KeyCode::End)],
        label: "G",
        action: Action::Bottom,
        name: "go to bottom",
        hint: false,
    },
    Binding {
        keys: &[code(KeyCode::PageUp)],
        label: "PgUp",
        action: Action::PageUp,
        name: "page up",
        hint: false,
    },
    Binding {
        keys: &[code(KeyCode::PageDown)],
        label: "PgDn",
        action: Action::PageDown,
        name: "page down",
        hint: false,
    },
    Binding {
        keys: &[k('h'), code(KeyCode::Left)],
        label: "h/←",
        action: Action::Collapse,
        name: "collapse / up to the group",
        hint: false,
    },
    Binding {
        keys: &[k('l'), code(KeyCode::Right), code(KeyCode::Enter)],
        label: "l/→/Enter",
        action: Action::Expand,
        name: "expand / open",
        hint: false,
    },
    Binding {
        keys: &[code(KeyCode::Tab)],
        label: "Tab",
        action: Action::NextPane,
        name: "next pane",
        hint: true,
    },
    Binding {
        keys: &[code(KeyCode::BackTab)],
        label: "S-Tab",
        action: Action::PrevPane,
        name: "previous pane",
        hint: false,
    },
    Binding {
        keys: &[k('/')],
        label: "/",
        action: Action::Filter,
        name: "filter",
        hint: true,
    },
    Binding {
        keys: &[k(':')],
        label: ":",
        action: Action::Palette,
        name: "command palette",
        hint: true,
    },
    Binding {
        keys: &[k('t')],
        label: "t",
        action: Action::Take,
        name: "take snapshot",
        hint: true,
    },
    Binding {
        keys: &[k('r')],
        label: "r",
        action: Action::Revert,
        name: "revert to selected snapshot",
        hint: true,
    },
    Binding {
        keys: &[k('u')],
        label: "u",
        action: Action::RevertCurrent,
        name: "revert to current snapshot",
        hint: false,
    },
    Binding {
        keys: &[k('d')],
        label: "d",
        action: Action::Delete,
        name: "delete snapshot (or marked)",
        hint: true,
    },
    Binding {
        keys: &[k('D')],
        label: "D",
        action: Action::DeleteAll,
        name: "delete all snapshots",
        hint: false,
    },
    Binding {
        keys: &[k('c')],
        label: "c",
        action: Action::Consolidate,
        name: "consolidate disks",
        hint: false,
    },
    Binding {
        keys: &[k('e')],
        label: "e",
        action: Action::Rename,
        name: "rename / edit description",
        hint: false,
    },
    Binding {
        keys: &[k('p')],
        label: "p",
        action: Action::Pin,
        name: "pin / unpin (no cleanup)",
        hint: false,
    },
    Binding {
        keys: &[k('R')],
        label: "R",
        action: Action::Replace,
        name: "replace VPS snapshot",
        hint: false,
    },
    Binding {
        keys: &[k(' ')],
        label: "Space",
        action: Action::Mark,
        name: "mark / unmark",
        hint: false,
    },
    Binding {
        keys: &[k('A')],
        label: "A",
        action: Action::MarkAll,
        name: "mark/unmark all shown (list)",
        hint: false,
    },
    Binding {
        keys: &[k('U')],
        label: "U",
        action: Action::UnmarkAll,
        name: "unmark every snapshot",
        hint: false,
    },
    Binding {
        keys: &[k('v')],
        label: "v",
        action: Action::SnapshotList,
        name: "list of all snapshots",
        hint: true,
    },
    Binding {
        keys: &[k('s')],
        label: "s",
        action: Action::Sort,
        name: "sort the list (next key)",
        hint: false,
    },
    Binding {
        keys: &[k('y')],
        label: "y",
        action: Action::Copy,
        name: "copy id (or download URL)",
        hint: false,
    },
    Binding {
        keys: &[k('Y')],
        label: "Y",
        action: Action::CopyGuestCheck,
        name: "copy VPS guest agent check",
        hint: false,
    },
    Binding {
        keys: &[k('C')],
        label: "C",
        action: Action::GuestCheck,
        name: "check VPS guest agent (ssh)",
        hint: false,
    },
    Binding {
        keys: &[k('L')],
        label: "L",
        action: Action::DownloadLink,
        name: "VPS snapshot download link",
        hint: false,
    },
    Binding {
        keys: &[k('b')],
        label: "b",
        action: Action::Backups,
        name: "VPS automated backups",
        hint: false,
    },
    Binding {
        keys: &[k('O')],
        label: "O",
        action: Action::OrderOption,
        name: "order a VPS's missing option",
        hint: false,
    },
    Binding {
        keys: &[k('x')],
        label: "x",
        action: Action::CancelTask,
        name: "cancel selected task",
        hint: false,
    },
    Binding {
        keys: &[k('X')],
        label: "X",
        action: Action::StopPlan,
        name: "stop a plan of deletes",
        hint: false,
    },
    Binding {
        keys: &[k('M')],
        label: "M",
        action: Action::Log,
        name: "message log",
        hint: false,
    },
    Binding {
        keys: &[ctrl('r'), code(KeyCode::F(5))],
        label: "C-r/F5",
        action: Action::Refresh,
        name: "refresh",
        hint: false,
    },
    Binding {
        keys: &[k('?')],
        label: "?",
        action: Action::Help,
        name: "help",
        hint: true,
    },
    Binding {
        keys: &[k('q'), ctrl('c')],
        label: "q/C-c",
        action: Action::Quit,
        name: "quit",
        hint: true,
    },
    Binding {
        keys: &[ctrl('z')],
        label: "C-z",
        action: Action::Suspend,
        name: "suspend (fg resumes)",
        hint: false,
    },
];

/// The action bound to a key event, if any.
pub fn action_for(event: &KeyEvent) -> Option<Action> {
    let mods = event.modifiers - KeyModifiers::SHIFT;
    KEYMAP
        .iter()
        .find(|b| {
            b.keys
                .iter()
                .any(|key| key.code == event.code && key.mods == mods)
        })
        .map(|b| b.action)
}

/// The binding of an action.
pub fn binding(action: Action) -> Option<&'static Binding> {
    KEYMAP.iter().find(|b| b.action == action)
}

/// Palette entries matching a query, best first: each word of it is found in the action's
/// name, whole or with letters between (`rvt` finds "revert"); an action whose name holds
/// each word whole comes before, then the tighter matches; ties keep the keymap's order.
pub fn palette_matches(query: &str) -> Vec<&'static Binding> {
    let q = query.to_lowercase();
    let mut hits: Vec<(usize, &'static Binding)> = KEYMAP
        .iter()
        .filter(|b| b.action != Action::Palette)
        .filter_map(|b| {
            q.split_whitespace()
                .map(|w| fuzzy_spread(w, b.name))
                .sum::<Option<usize>>()
                .map(|spread| (spread, b))
        })
        .collect();
    hits.sort_by_key(|(spread, _)| *spread);
    hits.into_iter().map(|(_, b)| b).collect()
}

/// How many letters `name` puts between the letters of `word` where it holds them in
/// order (0: `word` is in it whole), at its tightest; none when it does not hold them.
fn fuzzy_spread(word: &str, name: &str) -> Option<usize> {
    if name.contains(word) {
        return Some(0);
    }
    let name: Vec<char> = name.chars().collect();
    let word: Vec<char> = word.chars().collect();
    let first = *word.first()?;
    // From each place the first letter is, the letters after it as early as they come.
    (0..name.len())
        .filter(|&i| name[i] == first)
        .filter_map(|start| {
            let mut at = start;
            for c in &word[1..] {
                at += 1 + name.get(at + 1..)?.iter().position(|x| x == c)?;
            }
            Some(at + 1 - start - word.len())
        })
        .min()
        // A match at all ranks after any whole one.
        .map(|spread| spread + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn the_palette_finds_an_action_by_letters_in_order() {
        let names = |q: &str| {
            palette_matches(q)
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>()
        };
        let rvt = names("rvt");
        assert!(
            rvt.first().is_some_and(|n| n.starts_with("revert")),
            "{rvt:?}"
        );
        // A whole word ranks before letters spread out; no letters in order, no match.
        let del = names("delete");
        assert!(del.first().is_some_and(|n| n.contains("delete")), "{del:?}");
        assert!(names("zzqx").is_empty());
        assert_eq!(fuzzy_spread("rvt", "revert"), Some(1 + 3));
        assert_eq!(fuzzy_spread("rev", "revert"), Some(0));
        assert_eq!(fuzzy_spread("tr", "revert"), None);
    }

    #[test]
    fn keys_map_to_actions() {
        let cases = [
            (key(KeyCode::Char('j'), KeyModifiers::NONE), Action::Down),
            (key(KeyCode::Down, KeyModifiers::NONE), Action::Down),
            (key(KeyCode::Char('G'), KeyModifiers::SHIFT), Action::Bottom),
            (
                key(KeyCode::Char('D'), KeyModifiers::SHIFT),
                Action::DeleteAll,
            ),
            (
                key(KeyCode::Char('r'), KeyModifiers::CONTROL),
                Action::Refresh,
            ),
            (key(KeyCode::F(5), KeyModifiers::NONE), Action::Refresh),
            (key(KeyCode::Char('c'), KeyModifiers::CONTROL), Action::Quit),
            (
                key(KeyCode::Char('c'), KeyModifiers::NONE),
                Action::Consolidate,
            ),
            (key(KeyCode::BackTab, KeyModifiers::SHIFT), Action::PrevPane),
            (key(KeyCode::Char(' '), KeyModifiers::NONE), Action::Mark),
        ];
        for (event, action) in cases {
            assert_eq!(action_for(&event), Some(action), "{event:?}");
        }
        assert_eq!(
            action_for(&key(KeyCode::Char('z'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = Vec::new();
        for b in KEYMAP {
            for key in b.keys {
                assert!(!seen.contains(key), "{key:?} bound twice");
                seen.push(*key);
            }
        }
    }
}
