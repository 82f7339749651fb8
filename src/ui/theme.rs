//! Colours in one place, with a monochrome theme that still marks selection and warnings.

use ratatui::style::{Color, Modifier, Style};

/// Every style the UI uses.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    /// Plain text.
    pub text: Style,
    /// Secondary text.
    pub dim: Style,
    /// The selected row in the focused pane.
    pub selected: Style,
    /// The selected row in an unfocused pane.
    pub selected_unfocused: Style,
    /// Border of the focused pane.
    pub border_focus: Style,
    /// Border of other panes.
    pub border: Style,
    /// Headers (profiles, groups, titles).
    pub header: Style,
    /// Warnings.
    pub warning: Style,
    /// Critical warnings and errors.
    pub critical: Style,
    /// Success.
    pub ok: Style,
    /// The "You are here" node.
    pub here: Style,
    /// The current snapshot.
    pub current: Style,
    /// Read-only badge.
    pub badge: Style,
}

impl Theme {
    /// The colour theme.
    pub fn color() -> Self {
        Theme {
            text: Style::new(),
            dim: Style::new().fg(Color::DarkGray),
            selected: Style::new()
                .bg(Color::Blue)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
            selected_unfocused: Style::new().add_modifier(Modifier::UNDERLINED),
            border_focus: Style::new().fg(Color::Cyan),
            border: Style::new().fg(Color::DarkGray),
            header: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            warning: Style::new().fg(Color::Yellow),
            critical: Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ok: Style::new().fg(Color::Green),
            here: Style::new().fg(Color::Green).add_modifier(Modifier::BOLD),
            current: Style::new().add_modifier(Modifier::BOLD),
            badge: Style::new()
                .bg(Color::Red)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD),
        }
    }

    /// The monochrome theme: bold, reverse and underline only.
    pub fn mono() -> Self {
        Theme {
            text: Style::new(),
            dim: Style::new(),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            selected_unfocused: Style::new().add_modifier(Modifier::UNDERLINED),
            border_focus: Style::new().add_modifier(Modifier::BOLD),
            border: Style::new(),
            header: Style::new().add_modifier(Modifier::BOLD),
            warning: Style::new().add_modifier(Modifier::UNDERLINED),
            critical: Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            ok: Style::new(),
            here: Style::new().add_modifier(Modifier::BOLD),
            current: Style::new().add_modifier(Modifier::BOLD),
            badge: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        }
    }
}
