//! Human tables and the `--json` shapes of docs/cli.md ("JSON documents").

use chrono::{DateTime, SecondsFormat, Utc};
use std::io::Write;

use serde_json::{Value, json};
use unicode_width::UnicodeWidthStr;

use crate::config::Paths;
use crate::model::cleanup::{self, Protect};
use crate::model::health::format_age;
use crate::model::{HealthThresholds, Machine, Snapshot, TaskStatus, machine_warnings};
use crate::{say, say_json, tell};

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One machine as in `ls --json`.
pub fn machine_json(m: &Machine, t: &HealthThresholds) -> Value {
    json!({
        "profile": m.profile,
        "provider": m.provider.as_str(),
        "id": m.id,
        "name": m.name,
        "path": m.path,
        "power_state": m.power_state.as_str(),
        "snapshot_count": m.snapshot_count(),
        "current_snapshot": m.current,
        "oldest_snapshot": m.oldest_snapshot().map(rfc3339),
        "consolidation_needed": m.consolidation_needed,
        "unreadable": m.unreadable,
        "warnings": machine_warnings(m, t, Utc::now()).iter().map(|w| w.as_str()).collect::<Vec<_>>(),
        "phantom_deltas": m.storage.iter().flat_map(|s| &s.phantom_deltas).collect::<Vec<_>>(),
    })
}

fn snapshot_json(s: &Snapshot) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "created": rfc3339(s.created),
        "power_state": s.power_state.as_str(),
        "memory": s.memory,
        "quiesced": s.quiesced,
        "size_bytes": s.size_bytes,
        "children": s.children.iter().map(snapshot_json).collect::<Vec<_>>(),
    })
}

/// One machine as `ls --json` lists it: a JSON object, with foreign text made safe.
pub fn ls_json(m: &Machine, t: &HealthThresholds) -> Box<str> {
    crate::safe::json(&machine_json(m, t).to_string()).into()
}

/// The `errors` of a `--json` document: each profile that could not be read, and why.
pub fn errors_json(errors: &[(String, String)]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|(profile, error)| json!({"profile": profile, "error": error}))
            .collect(),
    )
}

/// `snaptree ls --json`: the machines' objects (from [`ls_json`]) written one at a time,
/// the same bytes as one `{"machines":[…],"errors":[…]}` value.
pub fn print_ls_json(machines: &[Box<str>], errors: &[(String, String)]) {
    let out = std::io::stdout().lock();
    let mut out = std::io::BufWriter::new(out);
    // A closed pipe (`| head`) ends the output; nothing else can go wrong here.
    let _ = (|| -> std::io::Result<()> {
        out.write_all(b"{\"machines\":[")?;
        for (i, m) in machines.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(m.as_bytes())?;
        }
        out.write_all(b"],\"errors\":")?;
        out.write_all(crate::safe::json(&errors_json(errors).to_string()).as_bytes())?;
        out.write_all(b"}\n")?;
        out.flush()
    })();
}

/// One machine as a row of the `ls` table.
pub fn ls_row(m: &Machine, t: &HealthThresholds, now: DateTime<Utc>) -> [String; 8] {
    [
        m.profile.clone(),
        m.name.clone(),
        m.id.clone(),
        m.power_state.as_str().to_string(),
        m.snapshot_count().to_string(),
        m.current
            .as_deref()
            .and_then(|c| m.find(c))
            .map(|s| s.name.clone())
            .unwrap_or_else(|| "-".into()),
        m.oldest_snapshot()
            .map(|o| format_age(m.age_of(o, now)))
            .unwrap_or_else(|| "-".into()),
        machine_warnings(m, t, now)
            .iter()
            .map(|w| w.as_str())
            .collect::<Vec<_>>()
            .join(","),
    ]
}

/// `snaptree ls`: the rows (from [`ls_row`]) as an aligned table.
pub fn print_ls_table(rows: &[[String; 8]]) {
    let header = [
        "PROFILE", "NAME", "ID", "POWER", "SNAPS", "CURRENT", "OLDEST", "FLAGS",
    ];
    for line in table(&header, rows).lines() {
        say!("{line}");
    }
}

/// The one writer of the command line's aligned tables (`ls`, `report`): columns aligned
/// by display width (a wide character takes two cells), two spaces apart, no trailing
/// blanks. Every cell is made safe ([`crate::safe::terminal`]) before it is measured or
/// written, so a newline in a name is written out inside its cell and can neither break
/// a row nor forge one, and an escape sequence neither acts nor skews the widths.
pub struct Table {
    widths: Vec<usize>,
}

impl Table {
    /// A table whose columns are at least as wide as `header`'s.
    pub fn new(header: &[&str]) -> Table {
        Table {
            widths: header.iter().map(|h| safe_cell(h).width()).collect(),
        }
    }

    /// Widen the columns to hold this row.
    pub fn fit<S: AsRef<str>>(&mut self, row: &[S]) {
        for (w, c) in self.widths.iter_mut().zip(row) {
            *w = (*w).max(safe_cell(c.as_ref()).width());
        }
    }

    /// One row as a line, without its newline.
    pub fn line<S: AsRef<str>>(&self, row: &[S]) -> String {
        let mut text = String::new();
        for (i, (c, w)) in row.iter().zip(&self.widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let c = safe_cell(c.as_ref());
            text.push_str(&c);
            text.extend(std::iter::repeat_n(' ', w.saturating_sub(c.width())));
        }
        text.truncate(text.trim_end().len());
        text
    }
}

/// A cell as a terminal may show it, on one line.
fn safe_cell(text: &str) -> std::borrow::Cow<'_, str> {
    crate::safe::terminal(text)
}

/// The header and rows as a [`Table`]: one line per row after the header.
pub fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut t = Table::new(header);
    for r in rows {
        t.fit(r);
    }
    let mut out = t.line(header);
    out.push('\n');
    for r in rows {
        out.push_str(&t.line(r));
        out.push('\n');
    }
    out
}

/// `snaptree tree`.
pub fn print_tree(m: &Machine, as_json: bool, columns: TreeColumns, protect: &Protect) {
    if as_json {
        say_json!(json!({
            "machine": {"profile": m.profile, "provider": m.provider.as_str(), "id": m.id, "name": m.name},
            "current": m.current,
            "snapshots": m.snapshots.iter().map(snapshot_json).collect::<Vec<_>>(),
        }));
        return;
    }
    say!("{}/{} ({})", m.profile, m.name, m.id);
    let now = Utc::now();
    for row in crate::app::state::tree_rows(m, &Default::default()) {
        match row.snapshot.as_deref().and_then(|id| m.find(id)) {
            Some(s) => {
                let current = if m.current.as_deref() == Some(&s.id) {
                    "*"
                } else {
                    " "
                };
                say!(
                    "{}{current}{}",
                    row.prefix,
                    crate::safe::terminal(&tree_line(m, s, columns, protect, now))
                );
            }
            None => say!("{}▶ You are here", row.prefix),
        }
    }
}

/// What `tree` shows of each snapshot besides its name, id, age, size and flags (as govc's
/// `snapshot.tree -D -d`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TreeColumns {
    /// When it was taken (`-D`).
    pub date: bool,
    /// Its description (`-d`), when it says more than the name.
    pub description: bool,
}

/// One snapshot of `tree`: name, id, age, then what is known and set of size, date, memory,
/// quiesce, protection, expiry and description.
fn tree_line(
    m: &Machine,
    s: &Snapshot,
    columns: TreeColumns,
    protect: &Protect,
    now: DateTime<Utc>,
) -> String {
    let mut line = format!(
        "{}  {}  {}",
        s.name,
        s.id,
        format_age(m.age_of(s.created, now))
    );
    if let Some(bytes) = s.size_bytes {
        line.push_str(&format!("  {}", crate::model::health::human_size(bytes)));
    }
    if columns.date {
        line.push_str(&format!("  {}", s.created.format("%Y-%m-%d %H:%M UTC")));
    }
    for (set, word) in [(s.memory, "memory"), (s.quiesced, "quiesced")] {
        if set {
            line.push_str("  ");
            line.push_str(word);
        }
    }
    if cleanup::protection(s, protect).is_some() {
        line.push_str("  🔒");
    }
    if cleanup::expires(&s.description).is_some_and(|t| t <= now) {
        line.push_str("  expired");
    }
    if columns.description && !s.description.is_empty() && s.description != s.name {
        line.push_str(&format!("  \"{}\"", s.description));
    }
    line
}

/// A task's summary as JSON (docs/cli.md, "The task summary"); `snapshot` is the id a take
/// made, when known.
pub fn task_json(
    status: &TaskStatus,
    snapshot: Option<&str>,
    elapsed: std::time::Duration,
) -> serde_json::Value {
    let mut summary = json!({
        "task": status.id,
        "state": status.state.as_str(),
        "progress": status.progress,
        "message": status.message,
        "elapsed_seconds": elapsed.as_secs_f64(),
    });
    if let Some(id) = snapshot {
        summary["snapshot"] = json!(id);
    }
    summary
}

/// The end of a change command: the task summary of a change.
pub fn print_task(
    label: &str,
    status: &TaskStatus,
    snapshot: Option<&str>,
    elapsed: std::time::Duration,
    as_json: bool,
) {
    if as_json {
        say_json!(task_json(status, snapshot, elapsed));
    } else {
        tell!(
            "{label}: {} (task {}, {:.1}s)",
            status.state.as_str(),
            status.id,
            elapsed.as_secs_f64()
        );
    }
}

/// `snaptree info`.
pub fn print_info(p: &Paths, as_json: bool) {
    let exists = |path: &std::path::Path| {
        if path.exists() {
            ""
        } else {
            " (does not exist yet)"
        }
    };
    if as_json {
        say_json!(json!({
            "config": p.config, "config_source": p.config_source,
            "state_dir": p.state_dir, "log": p.log, "audit_log": p.audit,
        }));
        return;
    }
    say!(
        "config     {}{} [{}]",
        p.config.display(),
        exists(&p.config),
        p.config_source
    );
    say!(
        "state dir  {}{}",
        p.state_dir.display(),
        exists(&p.state_dir)
    );
    say!("log        {}{}", p.log.display(), exists(&p.log));
    say!("audit log  {}{}", p.audit.display(), exists(&p.audit));
}

#[cfg(test)]
mod tests {
    use super::table;

    /// A cell's newline, carriage return, tab or escape sequence is written out inside the
    /// cell: one line per row, aligned by what is shown.
    #[test]
    fn control_characters_stay_inside_their_cell() {
        let rows = [
            ["ok\nvc FAKE-VM vm-999".to_string(), "vm-1".to_string()],
            ["a\rb\tc\u{1b}[2J".to_string(), "vm-22".to_string()],
        ];
        let text = table(&["NAME", "ID"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME                   ID",
                "ok\\nvc FAKE-VM vm-999  vm-1",
                "a\\rb\\tc\\x1b[2J         vm-22"
            ]
        );
    }

    #[test]
    fn table_columns_align_by_display_width() {
        let rows = [
            ["数据库-01".to_string(), "vm-1".to_string()],
            ["café".to_string(), "vm-22".to_string()],
        ];
        let text = table(&["NAME", "ID"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            ["NAME       ID", "数据库-01  vm-1", "café       vm-22"]
        );
    }
}
