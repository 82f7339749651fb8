//! Where each pane is on the screen and which of its rows are shown: one computation for
//! the drawing (`ui::draw`) and for the mouse (a click finds the row it fell on), so the
//! two cannot disagree.

use ratatui::layout::{Constraint, Layout, Position, Rect};

use super::state::{AppState, LeftView, Pane};

/// The panes' rectangles (borders included) on a screen of the TUI's minimum size or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    /// The inventory or the snapshot list.
    pub left: Rect,
    /// The tree and the details, or the overview: the right side as a whole.
    pub right: Rect,
    /// The snapshot tree (when no overview is shown).
    pub tree: Rect,
    /// The details (when no overview is shown).
    pub details: Rect,
    /// The tasks.
    pub tasks: Rect,
    /// The status line.
    pub status: Rect,
}

/// The panes of a screen of `area`.
pub fn areas(area: Rect, s: &AppState) -> Areas {
    let [main, tasks, status] = Layout::vertical([
        Constraint::Min(10),
        Constraint::Length(6),
        Constraint::Length(1),
    ])
    .areas(area);
    // The snapshot list is a table: it takes more of the width than the inventory.
    let left_share = match s.left.view {
        LeftView::Inventory => 40,
        LeftView::Snapshots => 70,
    };
    let [left, right] = Layout::horizontal([
        Constraint::Percentage(left_share),
        Constraint::Percentage(100 - left_share),
    ])
    .areas(main);
    let [tree, details] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(right);
    Areas {
        left,
        right,
        tree,
        details,
        tasks,
        status,
    }
}

impl Areas {
    /// The pane at a cell, with its rectangle: none on the status line, nor on the
    /// overview (it has nothing to select).
    pub fn pane_at(&self, s: &AppState, column: u16, row: u16) -> Option<(Pane, Rect)> {
        let at = Position::new(column, row);
        let overview = s.overview_scope().is_some();
        [
            (Pane::Inventory, self.left),
            (Pane::Tasks, self.tasks),
            (Pane::Tree, self.tree),
            (Pane::Details, self.details),
        ]
        .into_iter()
        .filter(|(p, _)| !overview || matches!(p, Pane::Inventory | Pane::Tasks))
        .find(|(_, r)| r.contains(at))
    }
}

/// The first row shown so that `selected` is visible, paging a screenful at a time; the
/// last page is a full screen too (ending on the last row), never a few rows and blanks.
pub fn first_visible(selected: usize, height: usize, len: usize) -> usize {
    let page = selected.checked_div(height).map_or(0, |page| page * height);
    page.min(len.saturating_sub(height))
}

/// The first task shown: the newest ones follow unless the cursor went up.
pub fn first_task_visible(selected: usize, height: usize, len: usize) -> usize {
    selected
        .saturating_sub(height.saturating_sub(1))
        .min(len.saturating_sub(height))
}

/// The row of `pane` drawn at screen line `y` of its rectangle `rect` (borders
/// included), if a row is drawn there.
pub fn row_at(s: &AppState, pane: Pane, rect: Rect, y: u16) -> Option<usize> {
    // Inside the borders; the snapshot list's first line is its header, and a tree without
    // snapshots says so on its first line.
    let list = pane == Pane::Inventory && s.left.view == LeftView::Snapshots;
    let notice = pane == Pane::Tree && s.selected_machine().is_some_and(|m| m.snapshots.is_empty());
    let header = u16::from(list || notice);
    let top = rect.y + 1 + header;
    let height = usize::from(rect.height.saturating_sub(2 + header));
    if y < top || usize::from(y - top) >= height {
        return None;
    }
    let paged = |selected: usize, len: usize| (first_visible(selected, height, len), len);
    let (start, len) = match pane {
        Pane::Inventory if list => paged(s.left.list.cursor, s.left.list.shown.len()),
        Pane::Inventory => paged(s.nav.cursor.selected, s.nav.rows.len()),
        Pane::Tree => paged(s.tree.cursor.selected, s.tree.rows.len()),
        Pane::Tasks => {
            let len = s.tasks.all().len();
            (
                first_task_visible(s.tasks.cursor.selected, height, len),
                len,
            )
        }
        Pane::Details => return None,
    };
    let row = start + usize::from(y - top);
    (row < len).then_some(row)
}
