//! Dialogs, the command palette and the help overlay.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::centered;
use super::theme::Theme;
use crate::app::AppState;
use crate::app::keymap::{KEYMAP, palette_matches};
use crate::app::state::{Dialog, DialogKind, Field, Palette, TextInput};

/// A count of rows or columns as a terminal coordinate, saturating at the largest.
fn to_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn boxed<'a>(title: &str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), theme.header))
        .border_style(theme.border_focus)
}

/// A text being edited: the character under the cursor shown reversed (a block at the end).
pub fn text_spans<'a>(editor: &TextInput, focused: bool, theme: &Theme) -> Vec<Span<'a>> {
    // What is typed may hold controls (pasted text): each part is drawn safe.
    let safe = |t: &str| crate::safe::terminal(t).into_owned();
    let style = if focused { theme.selected } else { theme.text };
    if !focused {
        return vec![Span::styled(safe(editor.value()), style)];
    }
    // A proposed value is drawn selected: typing replaces it.
    if editor.is_proposed() {
        return vec![
            Span::styled(
                safe(editor.value()),
                style.add_modifier(ratatui::style::Modifier::REVERSED),
            ),
            Span::styled(" ", style),
        ];
    }
    let chars: Vec<char> = editor.value().chars().collect();
    let at = editor.cursor().min(chars.len());
    let before = safe(&chars[..at].iter().collect::<String>());
    let under = chars
        .get(at)
        .map_or(" ".to_string(), |c| safe(&c.to_string()));
    let after = safe(
        &chars
            .get(at + 1..)
            .map(|c| c.iter().collect::<String>())
            .unwrap_or_default(),
    );
    vec![
        Span::styled(before, style),
        Span::styled(
            under,
            style.add_modifier(ratatui::style::Modifier::REVERSED),
        ),
        Span::styled(after, style),
    ]
}

/// One field of a dialog's form: a text with its cursor, or a choice (`[x]`, `[ ]`, `[-]`
/// when fixed, with why).
fn field_line<'a>(f: &'a Field, focused: bool, theme: &Theme) -> Line<'a> {
    let marker = if focused { "▸ " } else { "  " };
    match f {
        Field::Text { label, editor, .. } => {
            let mut spans = vec![
                Span::raw(marker),
                Span::styled(format!("{label}: "), theme.dim),
            ];
            spans.extend(text_spans(editor, focused, theme));
            Line::from(spans)
        }
        Field::Check {
            label,
            value,
            disabled,
            ..
        } => {
            // A fixed choice shows `[-]`, so it reads as fixed without colour too.
            let glyph = match (disabled.is_some(), *value) {
                (true, _) => "-",
                (false, true) => "x",
                (false, false) => " ",
            };
            let mut spans = vec![
                Span::raw(marker),
                Span::styled(
                    format!("[{glyph}] {label}"),
                    if disabled.is_some() {
                        theme.dim
                    } else if focused {
                        theme.selected
                    } else {
                        theme.text
                    },
                ),
            ];
            if let Some(reason) = disabled {
                spans.push(Span::styled(format!(" — {reason}"), theme.dim));
            }
            Line::from(spans)
        }
    }
}

/// A modal dialog.
pub fn dialog(frame: &mut Frame, area: Rect, d: &Dialog, s: &AppState, theme: &Theme) {
    let wide = matches!(
        d.kind,
        DialogKind::Task(_) | DialogKind::Log | DialogKind::Profile(_)
    );
    let width = if wide { 110 } else { 72 }.min(area.width.saturating_sub(4));
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let rows = |l: &str| {
        unicode_width::UnicodeWidthStr::width(l)
            .max(1)
            .div_ceil(inner_width)
    };
    // Long texts scroll: from `scroll`, as many lines as fit above the key line.
    // The room left once the form and the key line are drawn.
    let form = if d.fields.is_empty() {
        0
    } else {
        d.fields.len() + 1
    };
    let room = usize::from(area.height.saturating_sub(6))
        .saturating_sub(form)
        .max(1);
    let mut used = 0;
    let mut lines: Vec<Line> = Vec::new();
    let mut shown = 0;
    for l in d.lines.iter().skip(d.scroll) {
        used += rows(l);
        // One row is kept for the line that says more follow.
        if used + 1 > room && !lines.is_empty() {
            break;
        }
        lines.push(Line::raw(l.clone()));
        shown += 1;
    }
    let below = d.lines.len().saturating_sub(d.scroll + shown);
    if below > 0 || d.scroll > 0 {
        let mut more = Vec::new();
        if d.scroll > 0 {
            more.push(format!("{} line(s) above: PgUp", d.scroll));
        }
        if below > 0 {
            more.push(format!("… {below} more line(s): PgDn"));
        }
        lines.push(Line::styled(more.join(" · "), theme.dim));
    }
    if !d.fields.is_empty() {
        lines.push(Line::raw(""));
    }
    for (i, f) in d.fields.iter().enumerate() {
        let line = field_line(f, i == d.focus, theme);
        lines.push(line);
    }
    lines.push(Line::raw(""));
    let keys = match &d.kind {
        DialogKind::Link(_) => "y copy URL · c copy a curl command · Esc close".to_string(),
        DialogKind::Order(_) => "y copy the URL · Enter/Esc close".to_string(),
        DialogKind::Quit => "Enter quit · Esc stay".to_string(),
        DialogKind::Task(_) => "Enter/Esc close · y copy the task id · j/k scroll".to_string(),
        DialogKind::Log => "Enter/Esc close · j/k scroll".to_string(),
        DialogKind::Profile(_) => "Enter/Esc close · y copy · j/k scroll".to_string(),
        DialogKind::Backups { .. } => crate::app::backups::KEYS.to_string(),
        _ => {
            let mut k = vec!["Enter confirm", "Esc cancel"];
            if d.fields.len() > 1 {
                k.push("Tab next field");
            }
            if d.fields.iter().any(|f| matches!(f, Field::Check { .. })) {
                k.push("Space toggle");
            }
            k.join(" · ")
        }
    };
    lines.push(Line::styled(keys, theme.dim));
    // A refusal said while the dialog stays (a typed confirmation, a question, a choice
    // that cannot change, a change of a restore point refused) shows in it.
    if let Some((_, msg)) = &s.log.status
        && (d.needs_typing()
            || d.asked.any()
            || matches!(d.kind, DialogKind::Backups { .. })
            || d.fields.iter().any(|f| {
                matches!(
                    f,
                    Field::Check {
                        disabled: Some(_),
                        ..
                    }
                )
            }))
    {
        lines.push(Line::styled(msg.clone(), theme.warning));
    }
    // Saturating: a very long text (a server's error message) must not overflow the height.
    let height = lines
        .iter()
        .map(|l| to_u16(l.width().max(1).div_ceil(inner_width)))
        .fold(2u16, u16::saturating_add);
    let rect = centered(area, width, height.min(area.height));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(boxed(&d.title, theme)),
        rect,
    );
}

/// The command palette: every action by name.
pub fn palette(frame: &mut Frame, area: Rect, p: &Palette, theme: &Theme) {
    let hits = palette_matches(p.query.value());
    let examples = "older-than 14d · name 'pre-*' · expired · keep-last 2";
    let tiers = "keep-daily 7 · keep-weekly 4 · keep-monthly 6";
    let query = p.query.value().trim();
    let notes: Vec<Line> = if crate::app::update::mark_where_words(p.query.value()).is_some() {
        vec![
            Line::styled("Enter marks what these select, as prune would:", theme.dim),
            Line::styled(examples, theme.dim),
            Line::styled(tiers, theme.dim),
        ]
    } else if !query.is_empty() && "mark where".starts_with(query) {
        vec![Line::styled(
            "mark where older-than 14d · name 'pre-*' · expired",
            theme.dim,
        )]
    } else if hits.is_empty() {
        vec![Line::styled("no action matches", theme.dim)]
    } else {
        Vec::new()
    };
    let rect = centered(
        area,
        56,
        to_u16(hits.len() + notes.len().max(1))
            .saturating_add(3)
            .min(18),
    );
    let mut query_line = vec![Span::styled(": ", theme.header)];
    query_line.extend(text_spans(&p.query, true, theme));
    let mut lines = vec![Line::from(query_line)];
    let room = (rect.height.saturating_sub(3) as usize).saturating_sub(notes.len());
    let start = p.selected.saturating_sub(room.saturating_sub(1));
    for (i, b) in hits.iter().enumerate().skip(start).take(room) {
        let line = Line::from(vec![
            Span::raw(format!("{:<36}", b.name)),
            Span::styled(b.label, theme.dim),
        ]);
        lines.push(if i == p.selected {
            line.style(theme.selected)
        } else {
            line
        });
    }
    lines.extend(notes);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(boxed("Command palette", theme)),
        rect,
    );
}

/// The legend of the marks the panes draw, in the help.
const LEGEND: [&str; 2] = [
    "● on ○ off ◐ suspended · ! warning !! critical · 🔒 pinned · × marked",
    "q quiesced · mem with memory · expired · [+] folded · ▶ You are here",
];

/// Help, generated from the keymap.
pub fn help(frame: &mut Frame, area: Rect, theme: &Theme) {
    let half = KEYMAP.len().div_ceil(2);
    // Columns as wide as their longest entry, so no name runs into the next key.
    let keys = KEYMAP
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    let names = KEYMAP[..half]
        .iter()
        .map(|b| b.name.len())
        .max()
        .unwrap_or(0)
        + 2;
    let cell = |i: usize, last: bool| {
        KEYMAP
            .get(i)
            .map(|b| {
                if last {
                    format!("{:<keys$}{}", b.label, b.name)
                } else {
                    format!("{:<keys$}{:<names$}", b.label, b.name)
                }
            })
            .unwrap_or_default()
    };
    let mut lines: Vec<Line> = (0..half)
        .map(|i| Line::raw(format!("{}{}", cell(i, false), cell(i + half, true))))
        .collect();
    let width = lines.iter().map(Line::width).max().unwrap_or(0) + 2;
    // No blank line before the notes: at 80×24 every row counts, and the last one says
    // how to close.
    // Two short lines: one long line was cut off by the 76-column box.
    lines.push(Line::styled(
        "Dialogs: Enter confirms · Esc cancels · Tab moves · Space toggles",
        theme.dim,
    ));
    lines.push(Line::styled(
        "Text: ←/→ Home End, C-u C-w C-k erase · Enter on a task shows it in full",
        theme.dim,
    ));
    // What the marks on the rows mean: two lines where the screen has room; else the
    // first in the box's bottom border (at 80×24 every row is taken).
    let mut block = boxed("Keys · Esc or ? closes", theme);
    if usize::from(area.height) >= lines.len() + 4 {
        lines.push(Line::styled(LEGEND[0], theme.dim));
        lines.push(Line::styled(LEGEND[1], theme.dim));
    } else if usize::from(area.height) >= lines.len() + 3 {
        lines.push(Line::styled(LEGEND[0], theme.dim));
    } else {
        block = block.title_bottom(Line::styled(LEGEND[0], theme.dim));
    }
    let rect = centered(
        area,
        to_u16(width.max(68)),
        to_u16(lines.len()).saturating_add(2),
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

/// A profile template of each back end, side by side (docs/config.md): what the welcome shows.
const TEMPLATES: [(&str, &str); 6] = [
    ("[profiles.vcenter]", "[profiles.ovh]"),
    ("kind = \"vsphere\"", "kind = \"ovh\""),
    (
        "url = \"https://vcenter.example.com\"",
        "endpoint = \"ovh-eu\"",
    ),
    (
        "username = \"admin@vsphere.local\"",
        "application_key = \"…\"",
    ),
    (
        "password_env = \"VC_PASSWORD\"",
        "application_secret_env = \"OVH_SECRET\"",
    ),
    ("read_only = true", "read_only = true"),
];

/// The Proxmox VE profile's template (as `config init` writes it), with what its token
/// needs beside it.
const PROXMOX_TEMPLATE: [(&str, &str); 6] = [
    ("[profiles.pve]", "Proxmox VE: an API token with"),
    ("kind = \"proxmox\"", "VM.Snapshot on /vms (Datacenter →"),
    ("url = \"pve1.example.com\"", "Permissions → API Tokens)."),
    ("token_id = \"snaptree@pve!snaptree\"", ""),
    ("token_secret_env = \"PVE_TOKEN\"", ""),
    ("read_only = true", ""),
];

/// The first run, with no profile configured: where the config goes, a profile of each
/// kind, and the other ways to start. Fits 80×24.
pub fn welcome(frame: &mut Frame, area: Rect, config: &str, theme: &Theme) {
    let mut lines = vec![
        Line::styled(
            "No profile is configured yet. Add one to the config file:",
            theme.header,
        ),
        Line::raw(format!("  {}", crate::safe::terminal(config))),
        Line::raw(""),
    ];
    let side_by_side = |rows: &[(&str, &str)]| -> Vec<Line<'static>> {
        rows.iter()
            .map(|(left, right)| Line::styled(format!("{left:<38}{right}"), theme.text))
            .collect()
    };
    lines.extend(side_by_side(&TEMPLATES));
    lines.push(Line::raw(""));
    lines.extend(side_by_side(&PROXMOX_TEMPLATE));
    lines.extend([
        Line::raw(""),
        Line::raw("vSphere without a file: govc's variables GOVC_URL, GOVC_USERNAME,"),
        Line::raw("  GOVC_PASSWORD and GOVC_INSECURE=1 make a profile named govc."),
        Line::raw("OVHcloud: snaptree login ovh asks for the consumer key (OVH_* variables"),
        Line::raw("  and ovh.conf work too, as for the official clients)."),
        Line::from(vec![
            Span::raw("Try snaptree demo first (simulated); then snaptree config check. "),
            Span::styled("q quits.", theme.dim),
        ]),
    ]);
    let rect = centered(area, 80, to_u16(lines.len() + 2));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(boxed("Welcome to snaptree", theme))
            .wrap(Wrap { trim: false }),
        rect,
    );
}
