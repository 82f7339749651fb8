//! Drawing only: `draw(frame, &AppState)`. Never mutates state, never awaits.

mod dialogs;
mod panes;
pub mod theme;

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::AppState;
use crate::app::state::{LeftView, Modal};
use crate::config::ThemeName;
use theme::Theme;

/// The smallest usable terminal (the app's rule: below it only q acts).
pub use crate::app::state::MIN_SIZE;

/// Spinner frames: braille dots, so that no frame reads as a task's state glyph (`-` is
/// "cancelled" or "skipped", `·` "queued").
pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// The theme for these settings.
pub fn theme_for(s: &AppState) -> Theme {
    match s.settings.theme {
        ThemeName::Mono => Theme::mono(),
        ThemeName::Default => Theme::color(),
    }
}

/// Draw the whole screen.
pub fn draw(frame: &mut Frame, s: &AppState) {
    let area = frame.area();
    let theme = theme_for(s);
    if crate::app::state::too_small((area.width, area.height)) {
        let running = s.tasks.running();
        let asked = matches!(
            s.dialog().map(|d| &d.kind),
            Some(crate::app::state::DialogKind::Quit)
        );
        let text = format!(
            "snaptree needs a terminal of at least {}×{}; this one is {}×{}. {}",
            MIN_SIZE.0,
            MIN_SIZE.1,
            area.width,
            area.height,
            match (running, asked) {
                (0, _) => "Enlarge it, or press q to quit.".to_string(),
                (n, false) => format!(
                    "Enlarge it; {n} task(s) running or waiting, so q asks before quitting."
                ),
                (n, true) =>
                    format!("Enlarge it to answer: quit with {n} task(s) running or waiting?"),
            }
        );
        let y = area.height / 2;
        let rect = Rect::new(
            area.x,
            area.y + y.saturating_sub(1),
            area.width,
            area.height - y.saturating_sub(1),
        );
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            rect,
        );
        return;
    }
    if let Some(config) = s.welcome() {
        dialogs::welcome(frame, area, config, &theme);
        return;
    }
    let a = crate::app::layout::areas(area, s);
    match s.left.view {
        LeftView::Inventory => panes::inventory(frame, a.left, s, &theme),
        LeftView::Snapshots => panes::snapshot_list(frame, a.left, s, &theme),
    }
    match s.overview_scope() {
        Some(scope) => panes::overview(frame, a.right, s, &scope, &theme),
        None => {
            panes::tree(frame, a.tree, s, &theme);
            panes::details(frame, a.details, s, &theme);
        }
    }
    panes::tasks(frame, a.tasks, s, &theme);
    panes::status(frame, a.status, s, &theme);
    match &s.modal {
        Modal::Dialog(d) => dialogs::dialog(frame, area, d, s, &theme),
        Modal::Palette(p) => dialogs::palette(frame, area, p, &theme),
        Modal::Help => dialogs::help(frame, area, &theme),
        Modal::None | Modal::Filter | Modal::Welcome(_) => {}
    }
}

/// A rectangle of `w`×`h` centred in `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
