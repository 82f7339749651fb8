//! The four panes and the status line. Each draws only the rows that are visible.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::SPINNER;
use super::theme::Theme;
use crate::app::keymap::{Action, KEYMAP};
use crate::app::layout::first_visible;
use crate::app::state::{Fold, Level, MarkKey, NotRun, Row, Scope, SortKey};
use crate::app::{AppState, Pane, ProfileStatus};
use crate::model::Snapshot;
use crate::model::cleanup;
use crate::model::health::format_age;
use crate::model::health::human_size;
use crate::model::{Machine, PowerState, ProviderKind, TaskState, Warning};

/// A pane's box; the focused one has a thick border, so it shows without colour too.
fn block<'a>(title: Line<'a>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            ratatui::widgets::BorderType::Thick
        } else {
            ratatui::widgets::BorderType::Plain
        })
        .title(title)
        .border_style(if focused {
            theme.border_focus
        } else {
            theme.border
        })
}

fn power_glyph(p: PowerState) -> &'static str {
    match p {
        PowerState::PoweredOn => "●",
        PowerState::PoweredOff => "○",
        PowerState::Suspended => "◐",
        PowerState::Unknown => "?",
    }
}

fn warning_mark(w: &[Warning], theme: &Theme) -> Span<'static> {
    match w.last() {
        Some(x) if x.is_critical() => Span::styled("!!", theme.critical),
        Some(_) => Span::styled("! ", theme.warning),
        None => Span::raw("  "),
    }
}

/// `text` in exactly `width` cells: padded, or cut with an ellipsis so a cut name is seen
/// to be cut (by display width: a wide character takes two cells).
fn pad(text: &str, width: usize) -> String {
    if width == 0 {
        return String::new();
    }
    let cut = crate::safe::fit(text, width);
    let used = cut.width();
    format!("{cut}{}", " ".repeat(width.saturating_sub(used)))
}

/// Profiles → folders or zones → machines.
pub fn inventory(frame: &mut Frame, area: Rect, s: &AppState, theme: &Theme) {
    let focused = s.focus == Pane::Inventory && s.dialog().is_none();
    let b = block(left_title(" Inventory ".into(), s, theme), focused, theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let height = inner.height as usize;
    let width = inner.width as usize;
    let start = first_visible(s.nav.cursor.selected, height, s.nav.rows.len());
    let mut lines = Vec::with_capacity(height);
    if s.nav.rows.is_empty() {
        lines.push(Line::styled(
            if s.nav.filter.is_empty() {
                "no profiles configured: see `snaptree info`, or try `snaptree demo`"
            } else {
                "no machine matches the filter (Esc clears it)"
            },
            theme.dim,
        ));
    }
    for (i, row) in s.nav.rows.iter().enumerate().skip(start).take(height) {
        let selected = s.nav.shown && i == s.nav.cursor.selected;
        let mut line = match row {
            Row::Profile(pi) => {
                let p = &s.inventory.profiles[*pi];
                let open = !s.nav.collapsed.contains(&Fold::Profile(p.name.clone()));
                let kind = match p.kind {
                    ProviderKind::Vsphere => "vSphere",
                    ProviderKind::Ovh => "OVHcloud",
                    ProviderKind::Proxmox => "Proxmox VE",
                };
                let (state, style) = match &p.status {
                    ProfileStatus::Loading => (
                        format!("{} loading", SPINNER[s.spinner % SPINNER.len()]),
                        theme.dim,
                    ),
                    ProfileStatus::Connected => ("connected".to_string(), theme.ok),
                    ProfileStatus::Error(trouble, ..) => {
                        (trouble.label().to_string(), theme.critical)
                    }
                };
                let mut spans = vec![
                    Span::styled(
                        format!("{} {} ", if open { "▾" } else { "▸" }, p.name),
                        theme.header,
                    ),
                    Span::styled(format!("{kind} "), theme.dim),
                    Span::styled(state, style),
                ];
                if p.read_only {
                    spans.push(Span::styled(" RO", theme.warning));
                }
                if let Some(w) = s.nav.hidden_worst.get(&i) {
                    spans.push(Span::raw(" "));
                    spans.push(warning_mark(&[*w], theme));
                }
                Line::from(spans)
            }
            Row::Group(pi, label) => {
                let fold = Fold::Group(s.inventory.profiles[*pi].name.clone(), label.clone());
                let open = !s.nav.collapsed.contains(&fold);
                let mut spans = vec![Span::styled(
                    format!("  {} {label}", if open { "▾" } else { "▸" }),
                    theme.header,
                )];
                if let Some(w) = s.nav.hidden_worst.get(&i) {
                    spans.push(Span::raw(" "));
                    spans.push(warning_mark(&[*w], theme));
                }
                Line::from(spans)
            }
            Row::Machine(mi) => machine_line(&s.machines()[*mi], s, width, theme),
        };
        if selected {
            line = selected_line(line, focused, theme);
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The style of the selected row: brighter in the focused pane.
/// The selected row of a pane: in the focused pane every part of it takes the selection's
/// colours (a dim age or flag on the selection's background was grey on blue); in another
/// pane it keeps its own colours and is marked without a background (grey on grey hid the
/// age and flags).
fn selected_line<'a>(line: Line<'a>, focused: bool, theme: &Theme) -> Line<'a> {
    if !focused {
        return line.style(theme.selected_unfocused);
    }
    let spans = line
        .spans
        .into_iter()
        .map(|span| {
            let style = span.style.patch(theme.selected);
            span.style(style)
        })
        .collect::<Vec<_>>();
    Line::from(spans).style(theme.selected)
}

/// A snapshot's age coloured by the age thresholds.
fn age_style(s: &AppState, age: chrono::Duration, theme: &Theme) -> Style {
    match s.settings.thresholds.age(age) {
        Some(Warning::AgeCritical) => theme.critical,
        Some(_) => theme.warning,
        None => theme.dim,
    }
}

/// The title of the left pane: its name, and the filter while one is typed or set.
fn left_title<'a>(name: String, s: &AppState, theme: &Theme) -> Line<'a> {
    let mut spans = vec![Span::styled(name, theme.header)];
    if s.filtering() || !s.nav.filter.is_empty() {
        spans.push(Span::raw("/"));
        spans.extend(super::dialogs::text_spans(
            &s.nav.filter,
            s.filtering(),
            theme,
        ));
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// The short flags of a snapshot-list row, in the order the header names them.
fn list_flags(m: &Machine, n: &crate::model::Snapshot, s: &AppState) -> Vec<(&'static str, bool)> {
    // (text, a warning)
    let mut flags = Vec::new();
    if m.current.as_deref() == Some(n.id.as_str()) {
        flags.push(("cur", false));
    }
    if n.memory {
        flags.push(("mem", false));
    }
    if n.quiesced {
        flags.push(("q", false));
    }
    if cleanup::expires(&n.description).is_some_and(|t| t <= s.now) {
        flags.push(("expired", true));
    }
    if cleanup::protection(n, &s.settings.protect).is_some() {
        flags.push(("🔒", true));
    }
    if m.consolidation_needed {
        flags.push(("consolidate", true));
    }
    flags
}

/// The flags cell of a row of the snapshot list, at most `flags_w` wide (cut with …), or
/// the state of the batch step on the snapshot instead.
fn list_flags_cell(
    s: &AppState,
    key: &MarkKey,
    m: &Machine,
    n: &Snapshot,
    flags_w: usize,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    // A batch step on it: its state instead of the flags.
    match s.batch.steps.get(key).and_then(|&req| s.task(req)) {
        Some(t) => out.push(Span::styled(
            match (t.state, t.progress) {
                (Some(TaskState::Queued) | None, _) => "queued".to_string(),
                (_, Some(p)) if flags_w >= 13 => format!("deleting {p}%"),
                (_, Some(p)) => format!("del {p}%"),
                _ => "deleting…".to_string(),
            },
            theme.text,
        )),
        None => {
            let mut used = 0;
            for (text, warn) in list_flags(m, n, s) {
                let w = text.width() + usize::from(used > 0);
                if used + w > flags_w {
                    out.push(Span::styled("…", theme.dim));
                    break;
                }
                if used > 0 {
                    out.push(Span::raw(" "));
                }
                out.push(Span::styled(
                    text,
                    if warn { theme.warning } else { theme.dim },
                ));
                used += w;
            }
        }
    }
    out
}

/// Every snapshot of the shown machines, one row each, in the list's order
/// (docs/cleanup.md, "The snapshot list").
pub fn snapshot_list(frame: &mut Frame, area: Rect, s: &AppState, theme: &Theme) {
    let focused = s.focus == Pane::Inventory && s.dialog().is_none();
    let l = &s.left.list;
    let title = left_title(
        format!(
            " All snapshots: {} · {} ",
            l.shown.len(),
            human_size(l.shown_bytes)
        ),
        s,
        theme,
    );
    let b = block(title, focused, theme).title_bottom(Line::styled(
        format!(" sorted by {} (s: next) ", l.sort.label()),
        theme.dim,
    ));
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let width = inner.width as usize;
    // mark, machine, snapshot, age, size, flags: the names share what the others leave.
    let (age_w, size_w) = (5, 9);
    let flags_w = if width >= 70 { 16 } else { 10 };
    let rest = width.saturating_sub(1 + 1 + age_w + 1 + size_w + 1 + flags_w + 1);
    let machine_w = rest / 2;
    let snap_w = rest - machine_w;
    let sorted = |key: SortKey, text: &str, w: usize, right: bool| {
        let text = if l.sort == key {
            // Ages and sizes go down the list from the largest; names go up from A.
            let down = matches!(key, SortKey::Age | SortKey::Size);
            format!("{text}{}", if down { "▼" } else { "▲" })
        } else {
            text.to_string()
        };
        let cell = if right {
            format!("{text:>w$}")
        } else {
            pad(&text, w)
        };
        Span::styled(
            cell,
            if l.sort == key {
                theme.header
            } else {
                theme.dim
            },
        )
    };
    let mut lines = vec![Line::from(vec![
        Span::raw(" "),
        sorted(SortKey::Machine, "machine", machine_w, false),
        Span::raw(" "),
        sorted(SortKey::Name, "snapshot", snap_w, false),
        Span::raw(" "),
        sorted(SortKey::Age, "age", age_w, true),
        Span::raw(" "),
        sorted(SortKey::Size, "size", size_w, true),
        Span::raw(" "),
        Span::styled("flags", theme.dim),
    ])];
    let height = (inner.height as usize).saturating_sub(1);
    if l.shown.is_empty() {
        lines.push(Line::styled(
            if s.nav.filter.is_empty() {
                "no snapshots on the machines shown"
            } else {
                "no snapshot matches the filter (Esc clears it)"
            },
            theme.dim,
        ));
    }
    let start = first_visible(l.cursor, height, l.shown.len());
    for i in start..(start + height).min(l.shown.len()) {
        let Some(r) = l.shown_row(i) else { break };
        let m = &s.machines()[r.machine];
        let Some(n) = m.find(&r.id) else { continue };
        let key = MarkKey::new(m.machine_ref(), r.id.clone());
        let marked = s.batch.marks.contains(&key);
        let age = m.age_of(n.created, s.now);
        let age_style = age_style(s, age, theme);
        let mut spans = vec![
            Span::styled(if marked { "×" } else { " " }, theme.warning),
            Span::raw(pad(&m.name, machine_w)),
            Span::raw(" "),
            Span::styled(
                pad(&n.name, snap_w),
                if m.current.as_deref() == Some(n.id.as_str()) {
                    theme.current
                } else {
                    theme.text
                },
            ),
            Span::raw(" "),
            Span::styled(format!("{:>age_w$}", format_age(age)), age_style),
            Span::raw(" "),
            Span::raw(format!(
                "{:>size_w$}",
                n.size_bytes.map(human_size).unwrap_or_else(|| "-".into())
            )),
            Span::raw(" "),
        ];
        spans.extend(list_flags_cell(s, &key, m, n, flags_w, theme));
        let mut line = Line::from(spans);
        if s.left.list.key_shown && i == l.cursor {
            line = selected_line(line, focused, theme);
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn machine_line(m: &Machine, s: &AppState, width: usize, theme: &Theme) -> Line<'static> {
    let warnings = s.warnings(m);
    let count = if m.loaded {
        format!("{:>3}", m.snapshot_count())
    } else {
        format!("  {}", SPINNER[s.spinner % SPINNER.len()])
    };
    let name_width = width.saturating_sub(4 + 2 + 4 + 3);
    Line::from(vec![
        Span::raw("    "),
        Span::raw(pad(&m.name, name_width)),
        Span::raw(format!(" {}", power_glyph(m.power_state))),
        Span::raw(count),
        Span::raw(" "),
        warning_mark(&warnings, theme),
    ])
}

/// The snapshot tree of the selected machine, with "You are here".
pub fn tree(frame: &mut Frame, area: Rect, s: &AppState, theme: &Theme) {
    let focused = s.focus == Pane::Tree && s.dialog().is_none();
    let m = s.selected_machine();
    let title = match m {
        Some(m) => format!(" Snapshots of {} ", m.name),
        None => " Snapshots ".to_string(),
    };
    let b = block(Line::styled(title, theme.header), focused, theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let Some(m) = m else {
        frame.render_widget(
            Paragraph::new(Line::styled("select a machine", theme.dim)),
            inner,
        );
        return;
    };
    let height = inner.height as usize;
    let start = first_visible(s.tree.cursor.selected, height, s.tree.rows.len());
    let mut lines = Vec::with_capacity(height);
    if m.snapshots.is_empty() {
        lines.push(Line::styled(
            match (m.provider, m.snapshot_option) {
                (ProviderKind::Ovh, Some(false)) => "no snapshot option on this VPS",
                _ => "no snapshots (t takes one)",
            },
            theme.dim,
        ));
        if crate::model::report::has_phantoms(m) {
            lines.push(Line::styled(
                "! yet it runs on a delta disk no snapshot owns (c consolidates)",
                theme.warning,
            ));
        }
    }
    for (i, row) in s.tree.rows.iter().enumerate().skip(start).take(height) {
        let selected = !s.tree.lost && i == s.tree.cursor.selected;
        let mut spans = vec![Span::styled(row.prefix.clone(), theme.dim)];
        match &row.snapshot {
            None => spans.push(Span::styled("▶ You are here", theme.here)),
            Some(id) => {
                if let Some(n) = m.find(id) {
                    let is_current = m.current.as_deref() == Some(id);
                    let collapsed = s.tree.collapsed.contains(id);
                    let marked = s
                        .batch
                        .marks
                        .contains(&MarkKey::new(m.machine_ref(), id.clone()));
                    // `×`, not `*`: in `snaptree tree`, `*` marks the current snapshot.
                    spans.push(Span::styled(if marked { "×" } else { " " }, theme.warning));
                    let mut tail = Vec::new();
                    if collapsed {
                        tail.push(Span::styled(" [+]", theme.dim));
                    }
                    let age = m.age_of(n.created, s.now);
                    let age_style = age_style(s, age, theme);
                    tail.push(Span::styled(format!("  {}", format_age(age)), age_style));
                    let mut flags = String::new();
                    if n.memory {
                        flags.push_str(" mem");
                    }
                    if n.quiesced {
                        flags.push_str(" q");
                    }
                    tail.push(Span::styled(flags, theme.dim));
                    if cleanup::expires(&n.description).is_some_and(|t| t <= s.now) {
                        tail.push(Span::styled(" expired", theme.warning));
                    }
                    if cleanup::protection(n, &s.settings.protect).is_some() {
                        tail.push(Span::styled(" 🔒", theme.warning));
                    }
                    // A name too long for the pane is cut with `…`: the age and the flags
                    // after it stay in sight.
                    let used: usize = spans.iter().chain(&tail).map(Span::width).sum();
                    let room = (inner.width as usize).saturating_sub(used).max(4);
                    let name = if n.name.width() > room {
                        pad(&n.name, room)
                    } else {
                        n.name.clone()
                    };
                    spans.push(Span::styled(
                        name,
                        if is_current {
                            theme.current
                        } else {
                            theme.text
                        },
                    ));
                    spans.extend(tail);
                }
            }
        }
        let mut line = Line::from(spans);
        if selected {
            line = selected_line(line, focused, theme);
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The cells a [`kv`] label takes (with its space).
const KV_LABEL: usize = 13;

fn kv(key: &str, value: impl Into<String>, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        // At least one space after the label, however long it is.
        Span::styled(format!("{key:<w$} ", w = KV_LABEL - 1), theme.dim),
        Span::raw(value.into()),
    ])
}

/// The Details lines of the selected snapshot `n` of `m`.
fn snapshot_lines<'a>(m: &Machine, n: &Snapshot, s: &AppState, theme: &Theme) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    // A snapshot named by its id (Proxmox VE's) is said once.
    let named = if n.name == n.id {
        n.name.clone()
    } else {
        format!("{} ({})", n.name, n.id)
    };
    lines.push(kv("snapshot", named, theme));
    if !n.description.is_empty() && n.description != n.name {
        lines.push(kv("description", n.description.clone(), theme));
    }
    if let Some(why) = cleanup::protection(n, &s.settings.protect) {
        lines.push(kv("protected", why, theme));
    }
    if let Some(t) = cleanup::expires(&n.description) {
        let when = t.format("%Y-%m-%d %H:%M UTC");
        lines.push(kv(
            "expires",
            if t <= s.now {
                format!("{when} (expired)")
            } else {
                when.to_string()
            },
            theme,
        ));
    }
    lines.push(kv(
        "taken",
        format!(
            "{} ({} ago)",
            n.created.format("%Y-%m-%d %H:%M UTC"),
            format_age(m.age_of(n.created, s.now))
        ),
        theme,
    ));
    let mut kind = Vec::new();
    if m.provider == ProviderKind::Vsphere {
        kind.push(if n.memory { "with memory" } else { "disk only" });
        if n.quiesced {
            kind.push("quiesced");
        }
    }
    if let Some(size) = n.size_bytes {
        lines.push(kv(
            "size",
            format!("{} · {}", human_size(size), kind.join(", ")),
            theme,
        ));
    } else if !kind.is_empty() {
        lines.push(kv("kind", kind.join(", "), theme));
    }
    if let Some(path) = m.name_path(&n.id) {
        lines.push(kv("path", path, theme));
    }
    lines
}

/// Facts about the selected machine and snapshot.
pub fn details(frame: &mut Frame, area: Rect, s: &AppState, theme: &Theme) {
    let focused = s.focus == Pane::Details && s.dialog().is_none();
    let b = block(Line::styled(" Details ", theme.header), focused, theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let Some(m) = s.selected_machine() else {
        let text = match s
            .nav
            .rows
            .get(s.nav.cursor.selected)
            .filter(|_| s.nav.shown)
        {
            _ if s.left.view == crate::app::state::LeftView::Snapshots => {
                "select a snapshot in the list".to_string()
            }
            Some(Row::Profile(i)) => match &s.inventory.profiles[*i].status {
                ProfileStatus::Error(_, e, retry) => format!(
                    "{e} (retrying in {}s)\n\nEnter shows it whole, y copies it",
                    retry.as_secs()
                ),
                ProfileStatus::Loading => "loading…".into(),
                ProfileStatus::Connected => format!(
                    "{} machines",
                    s.machines()
                        .iter()
                        .filter(|m| m.profile == s.inventory.profiles[*i].name)
                        .count()
                ),
            },
            _ => String::new(),
        };
        frame.render_widget(
            Paragraph::new(text).wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    };
    let mut lines = Vec::new();
    if let Some(n) = s.selected_snapshot().and_then(|id| m.find(id)) {
        lines.extend(snapshot_lines(m, n, s, theme));
    } else {
        let (id, path) = (m.id.clone(), m.path.clone());
        lines.push(kv("machine", format!("{} ({id})", m.name), theme));
        lines.push(kv("path", path, theme));
    }
    let mut state = m.power_state.label().to_string();
    if m.provider == ProviderKind::Vsphere {
        state.push_str(" · tools ");
        state.push_str(&crate::safe::terminal(m.tools.label()));
    }
    // Warnings first: they matter more than the facts below when space is short.
    for w in s.warnings(m) {
        let style = if w.is_critical() {
            theme.critical
        } else {
            theme.warning
        };
        let text = match (w, &m.unreadable) {
            // The reason quotes the server's answer: written out safely.
            (Warning::Unreadable, Some(why)) => {
                format!("! unreadable: {}", crate::safe::terminal(why))
            }
            _ => format!("! {}", w.explain(&s.settings.thresholds)),
        };
        lines.push(Line::styled(text, style));
        // Which disk, which file (foreign text, written out safely).
        if w == Warning::PhantomDelta {
            for p in m.storage.iter().flat_map(|st| &st.phantom_deltas) {
                let file = crate::safe::terminal(&p.file);
                let line = format!("  disk {}: {file}", p.disk);
                lines.push(Line::styled(line, style));
            }
        }
    }
    lines.push(kv("power", state, theme));
    lines.push(kv(
        "snapshots",
        format!("{} · depth {}", m.snapshot_count(), m.max_depth()),
        theme,
    ));
    // What the guest agent check found, before the back end's facts: it decides a take.
    if m.provider == ProviderKind::Ovh
        && s.inventory
            .profiles
            .iter()
            .any(|p| p.name == m.profile && p.guest_check)
    {
        let key = m.machine_ref();
        let found = match s.inventory.guest.get(&key) {
            Some(seen) => format!(
                "{} · asked {} (C checks again)",
                seen.state.short(),
                seen.asked.format("%H:%M UTC")
            ),
            None => "not checked yet (C checks over ssh)".into(),
        };
        lines.push(kv("guest agent", found, theme));
    }
    if let Some(b) = m.backups.as_deref() {
        let mut summary = b.summary(|t| m.age_of(t, s.now));
        if b.subscribed {
            summary.push_str(" (b restore points)");
        }
        lines.push(kv("backups", summary, theme));
    }
    for d in m.storage.iter().flat_map(|st| &st.datastores) {
        let space = match (d.free_bytes, d.capacity_bytes) {
            (Some(free), Some(cap)) => format!("{} free of {}", human_size(free), human_size(cap)),
            (Some(free), None) => format!("{} free", human_size(free)),
            _ => "free space not known".into(),
        };
        let name = crate::safe::terminal(&d.name);
        lines.push(kv("datastore", format!("{name}: {space}"), theme));
    }
    for (k, v) in &m.details {
        lines.push(kv(k, v.clone(), theme));
    }
    // Who took the snapshot (the task history), last: the warnings matter more.
    if let Some(user) = s
        .selected_snapshot()
        .and_then(|id| m.find(id))
        .and_then(|n| n.created_by.as_deref())
    {
        lines.push(kv("taken by", user, theme));
    }
    if m.provider == ProviderKind::Ovh {
        lines.push(Line::styled(
            format!(
                "Consistent snapshots need the QEMU guest agent in the VPS; check there: {} (Y copies it).",
                crate::model::guest::GUEST_AGENT_CHECK
            ),
            theme.dim,
        ));
    }
    let text = Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false });
    // Longer than the pane: it scrolls (Tab to it, then j/k), and its border says so.
    let rows = u16::try_from(text.line_count(inner.width)).unwrap_or(u16::MAX);
    let most = rows.saturating_sub(inner.height);
    s.tree.details_most.set(most);
    let scroll = s.tree.details_scroll.min(most);
    frame.render_widget(text.scroll((scroll, 0)), inner);
    if most > 0 && s.dialog().is_none() {
        let hint = match (scroll, scroll >= most) {
            (0, _) => " ↓ more ",
            (_, true) => " ↑ more ",
            _ => " ↑↓ more ",
        };
        let width = u16::try_from(hint.chars().count()).unwrap_or(0);
        if area.width > width + 2 {
            let at = Rect::new(area.right() - width - 1, area.bottom() - 1, width, 1);
            frame.render_widget(Span::styled(hint, theme.dim), at);
        }
    }
}

/// The overview of a profile, a group or the estate (no machine selected): totals, and a
/// chart of snapshot ages coloured by the age thresholds (marked `!`/`!!` too, for mono).
pub fn overview(frame: &mut Frame, area: Rect, s: &AppState, scope: &Scope, theme: &Theme) {
    use crate::model::report::AGE_GROUPS;
    use ratatui::widgets::{Bar, BarChart};
    let title = match scope {
        Scope::Estate => " Overview of the estate ".to_string(),
        Scope::Profile(i) => format!(" Overview of {} ", s.inventory.profiles[*i].name),
        Scope::Group(i, label) => {
            format!(" Overview of {} · {label} ", s.inventory.profiles[*i].name)
        }
    };
    let b = block(Line::styled(title, theme.header), false, theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let mut lines = Vec::new();
    if let Scope::Profile(i) = scope {
        // Which server, and as whom: what the operator checks before acting.
        // Each on its line, cut with "…" where the pane is narrow.
        let p = &s.inventory.profiles[*i];
        let width = usize::from(inner.width).saturating_sub(KV_LABEL);
        let fit = |v: &str| pad(&crate::safe::terminal(v), width);
        for (key, value) in [
            ("endpoint", &p.endpoint),
            ("user", &p.user),
            ("server", &p.server),
        ] {
            if let Some(v) = value {
                lines.push(kv(key, fit(v), theme));
            }
        }
        match &s.inventory.profiles[*i].status {
            ProfileStatus::Error(trouble, e, _) => {
                lines.push(Line::styled(
                    format!("{}: {e}", trouble.label()),
                    theme.critical,
                ));
                lines.push(Line::styled(
                    "Enter shows it whole · y copies it · M the message log",
                    theme.dim,
                ));
            }
            ProfileStatus::Loading => lines.push(Line::styled("loading…", theme.dim)),
            ProfileStatus::Connected => {}
        }
    }
    let o = s.overview(scope);
    let mut consolidate = if o.consolidation > 0 {
        format!(" · {} need consolidation", o.consolidation)
    } else {
        String::new()
    };
    if o.phantom > 0 {
        consolidate.push_str(&format!(" · {} on a phantom delta", o.phantom));
    }
    lines.push(kv(
        "machines",
        format!("{}{consolidate}", o.machines),
        theme,
    ));
    lines.push(kv(
        "snapshots",
        format!(
            "{} · {}",
            o.snapshots,
            // Snapshots none of which has a size: not "0 B".
            crate::model::health::size_words(
                (o.sized > 0 || o.snapshots == 0).then_some(o.size_bytes)
            )
        ),
        theme,
    ));
    if let (Some(t), Some(age)) = (o.oldest, o.oldest_age) {
        lines.push(kv(
            "oldest",
            format!("{} old, taken {}", format_age(age), t.format("%Y-%m-%d")),
            theme,
        ));
    }
    lines.push(kv(
        "cleanup",
        format!("{} expired · {} protected", o.expired, o.protected),
        theme,
    ));
    lines.push(Line::raw(""));
    lines.push(Line::styled("Snapshot ages", theme.header));
    let text_rows = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let [text, chart] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Length(text_rows),
        ratatui::layout::Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(lines), text);
    // A group is as bad as the youngest snapshot it holds.
    let t = &s.settings.thresholds;
    let mut start = chrono::Duration::zero();
    let bars: Vec<Bar> = AGE_GROUPS
        .iter()
        .zip(o.ages)
        .map(|((label, end), n)| {
            let (style, mark) = if start >= t.age_critical {
                (theme.critical, "!!")
            } else if start >= t.age_warning {
                (theme.warning, "!")
            } else {
                (theme.text, "")
            };
            if let Some(days) = end {
                start = chrono::Duration::days(*days);
            }
            // The mark in the label's fixed width, not after the count: every bar starts
            // in the same column.
            Bar::default()
                .value(n as u64)
                .label(Line::from(vec![
                    Span::raw(format!("{label:<6} ")),
                    Span::styled(format!("{mark:<2}"), style),
                ]))
                .text_value(format!("{n}"))
                .style(style)
                .value_style(style.add_modifier(ratatui::style::Modifier::REVERSED))
        })
        .collect();
    frame.render_widget(BarChart::horizontal(bars).bar_width(1).bar_gap(0), chart);
}

/// Running and recent tasks, newest last.
pub fn tasks(frame: &mut Frame, area: Rect, s: &AppState, theme: &Theme) {
    let focused = s.focus == Pane::Tasks && s.dialog().is_none();
    // Queued steps (a plan's, or behind another change on their machine) are waiting, not
    // running: said apart, as the quit question says them.
    let unended = s.tasks.running();
    let queued = s
        .tasks
        .all()
        .iter()
        .filter(|t| t.is_running() && t.state == Some(TaskState::Queued))
        .count();
    let title = match (unended - queued, queued) {
        (0, 0) => " Tasks ".to_string(),
        (running, 0) => format!(" Tasks ({running} running) "),
        (running, queued) => format!(" Tasks ({running} running, {queued} queued) "),
    };
    let b = block(Line::styled(title, theme.header), focused, theme);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let height = inner.height as usize;
    if s.tasks.all().is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no tasks yet", theme.dim)),
            inner,
        );
        return;
    }
    // Follow the newest tasks unless the user moved the cursor up.
    let start = crate::app::layout::first_task_visible(
        s.tasks.cursor.selected,
        height,
        s.tasks.all().len(),
    );
    let mut lines = Vec::new();
    for (i, t) in s.tasks.all().iter().enumerate().skip(start).take(height) {
        let end = t.ended.unwrap_or(s.now);
        let elapsed = format_age(end - t.started);
        let (glyph, style, state) = match (t.state, &t.message) {
            _ if t.not_run == Some(NotRun::Refused) => (
                "✗",
                theme.critical,
                format!("refused: {}", t.message.clone().unwrap_or_default()),
            ),
            _ if t.not_run == Some(NotRun::Skipped) => (
                "-",
                theme.warning,
                format!("skipped: {}", t.message.clone().unwrap_or_default()),
            ),
            (Some(TaskState::Success), _) => ("✓", theme.ok, "done".to_string()),
            (Some(TaskState::Error), m) => (
                "✗",
                theme.critical,
                format!("failed: {}", m.clone().unwrap_or_default()),
            ),
            (Some(TaskState::Cancelled), _) => ("-", theme.warning, "cancelled".to_string()),
            (Some(TaskState::Queued), _) => ("·", theme.dim, "queued".to_string()),
            (_, m) => {
                let mut state = match t.progress {
                    Some(p) => format!("{p:>3}%"),
                    None => "…".to_string(),
                };
                // What the task says it is doing, when it says (kept safe when it came).
                if let Some(m) = m {
                    state.push_str(&format!(" {m}"));
                }
                (SPINNER[s.spinner % SPINNER.len()], theme.text, state)
            }
        };
        let target = if t.target.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", t.target)
        };
        let mut line = Line::from(vec![
            Span::styled(format!("{glyph} "), style),
            Span::raw(format!("{} {}{target} ", t.operation(), t.machine)),
            Span::styled(format!("{elapsed} "), theme.dim),
            Span::styled(state, style),
        ]);
        if focused && i == s.tasks.cursor.selected {
            line = selected_line(line, true, theme);
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Profile states, read-only, the last message, the keys that apply.
pub fn status(frame: &mut Frame, area: Rect, s: &AppState, theme: &Theme) {
    let mut spans = Vec::new();
    if s.inventory.profiles.iter().any(|p| p.read_only) {
        spans.push(Span::styled(" READ-ONLY ", theme.badge));
        spans.push(Span::raw(" "));
    }
    // Marks act on snapshots that may be out of sight: always say how many.
    if let Some((n, bytes)) = s.batch.marked_summary() {
        spans.push(Span::styled(
            format!(" {n} marked · {} ", crate::model::health::size_words(bytes)),
            theme.badge,
        ));
        spans.push(Span::raw(" "));
    }
    for p in &s.inventory.profiles {
        let (glyph, style) = match p.status {
            ProfileStatus::Loading => (SPINNER[s.spinner % SPINNER.len()], theme.dim),
            ProfileStatus::Connected => ("●", theme.ok),
            ProfileStatus::Error(..) => ("✗", theme.critical),
        };
        spans.push(Span::styled(format!("{glyph}{} ", p.name), style));
    }
    // What is left of the line for the message or the key hints.
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let room = (area.width as usize).saturating_sub(used);
    match &s.log.status {
        Some((level, text)) => {
            // Longer than the line: cut with "…" at its edge (the message log, `M`, has
            // it whole), so a cut sentence never reads as a whole one.
            let shown = if text.width() > room {
                pad(text, room)
            } else {
                text.clone()
            };
            spans.push(Span::styled(
                shown,
                if *level == Level::Error {
                    theme.critical
                } else {
                    theme.text
                },
            ));
        }
        None => {
            // With every profile read-only, no key of a change is advertised.
            let all_read_only = !s.inventory.profiles.is_empty()
                && s.inventory.profiles.iter().all(|p| p.read_only);
            let mut hints: Vec<(bool, String)> = KEYMAP
                .iter()
                .filter(|b| b.hint && !(all_read_only && b.action.changes()))
                .map(|b| {
                    let hint = format!("{} {}", b.label, b.name.split(' ').next().unwrap_or(""));
                    (b.action == Action::Help, hint)
                })
                .collect();
            // In a narrow terminal, drop whole hints from the end, keeping `? help`.
            let join = |h: &[(bool, String)]| {
                h.iter()
                    .map(|(_, t)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" · ")
            };
            while join(&hints).width() > room {
                match hints.iter().rposition(|(help, _)| !help) {
                    Some(i) => {
                        hints.remove(i);
                    }
                    None => break,
                }
            }
            spans.push(Span::styled(join(&hints), theme.dim));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(Style::new()), area);
}

#[cfg(test)]
mod tests {
    use super::pad;

    #[test]
    fn a_cut_name_ends_with_an_ellipsis_and_fills_its_cells_exactly() {
        assert_eq!(pad("web-01", 8), "web-01  ");
        assert_eq!(pad("build-runner-with-a-long-name", 8), "build-r…");
        // Wide characters count two cells each.
        assert_eq!(pad("数据库服务器", 7), "数据库…");
        assert_eq!(pad("x", 0), "");
    }
}
