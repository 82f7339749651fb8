//! `snaptree report` and `snaptree check` (docs/report.md): the estate's snapshots as rows (a
//! table, CSV, JSON or Markdown, written one row at a time), and as a monitoring check (a
//! plugin's output, Prometheus metrics or JSON).

use std::borrow::Cow;
use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use super::setup::Session;
use super::{Cli, Failure};
use crate::model::check::{self, Limits, State};
use crate::{say, say_json};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::model::cleanup::Protect;
use crate::model::filter::Filter;
use crate::model::health::human_size;
use crate::model::machine::history_start;
use crate::model::report::{self, COLUMNS, Cell, SIZE_COLUMN};
use crate::model::{Machine, parse_duration};

/// How `report` writes its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Aligned columns, readable dates and sizes.
    Table,
    /// RFC 4180, a header row; sizes in bytes.
    Csv,
    /// `{"snapshots": [{…}]}`.
    Json,
    /// A Markdown table.
    Markdown,
}

/// How `check` says its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// The monitoring-plugin conventions (Nagios, Icinga, Zabbix agents).
    Nagios,
    /// The Prometheus text exposition format (node_exporter's textfile collector).
    Prometheus,
    /// One JSON document.
    Json,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A closed pipe (`| head`) ends the output quietly; other write errors are a failure.
fn written(r: std::io::Result<()>) -> Result<(), Failure> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(
            super::EXIT_FAILED,
            format!("cannot write the output: {e}"),
        )),
        Ok(()) => Ok(()),
    }
}

/// The machines of every profile read (FILTER applied, in `ls` order; those without
/// snapshots only when `bare` or running on a phantom delta, each dropped as read otherwise), how many FILTER selected
/// (kept or not), and the profiles that could not be read with why.
async fn estate(
    s: &Session,
    filter: Option<&str>,
    bare: bool,
) -> (Vec<Machine>, usize, Vec<(String, String)>) {
    let rule = Filter::new(filter.unwrap_or(""));
    let matched = AtomicUsize::new(0);
    let (machines, errors) = super::read_each(&s.engine, |m| {
        if !rule.matches(&m) {
            return None;
        }
        matched.fetch_add(1, Ordering::Relaxed);
        // An unreadable machine is kept, to be named: its snapshots are unknown, not absent.
        // So is one running on a phantom delta: a snapshot in all but name.
        let kept = bare
            || !m.snapshots.is_empty()
            || m.unreadable.is_some()
            || crate::model::report::has_phantoms(&m);
        kept.then_some(m)
    })
    .await;
    (machines, matched.into_inner(), errors)
}

/// Fill each snapshot's `created_by` from its profile's task history: one history read per
/// profile, all at once, from just before its oldest snapshot. A history that cannot be
/// read leaves the creators empty (said in the log), as a history that no longer has them.
async fn with_creators(s: &Session, machines: &mut [Machine]) {
    let reads = s.engine.profiles().iter().filter_map(|p| {
        let since = history_start(machines.iter().filter(|m| m.profile == p.name))?;
        Some(async move { (p.name.clone(), p.snapshot_creators(since).await) })
    });
    for (profile, read) in futures::future::join_all(reads.collect::<Vec<_>>()).await {
        match read {
            Ok(creators) => {
                for m in machines.iter_mut().filter(|m| m.profile == profile) {
                    m.fill_creators(&creators);
                }
            }
            Err(e) => tracing::info!("profile {profile}: no task history: {e}"),
        }
    }
}

/// `snaptree report`.
pub async fn report(
    cli: &Cli,
    s: &Session,
    filter: Option<&str>,
    format: ReportFormat,
    all: bool,
    columns: &Columns,
) -> Result<(), Failure> {
    let format = if cli.json { ReportFormat::Json } else { format };
    let columns = columns.indexes(format)?;
    let (mut machines, matched, errors) = estate(s, filter, all).await;
    with_creators(s, &mut machines).await;
    let protect = Protect::new(&s.config.cleanup.protect);
    let now = Utc::now();
    let out = std::io::stdout().lock();
    let mut out = std::io::BufWriter::new(out);
    let what = Written {
        machines: &machines,
        all,
        errors: &errors,
        columns: &columns,
    };
    written(write_report(&mut out, &what, &protect, now, format))?;
    super::tell_no_match(s, filter, matched, &errors);
    let unreadable = machines
        .iter()
        .filter_map(Machine::unreadable_sentence)
        .collect();
    super::all_read(&errors, unreadable)
}

/// Writes one row's cells.
type WriteRow<'a> = dyn FnMut(&mut dyn Write, &[Cell]) -> std::io::Result<()> + 'a;

/// What a report writes: the machines (with `all`, those without snapshots get a row), and
/// the profiles that could not be read (JSON's `errors`).
pub struct Written<'a> {
    /// The machines, in `ls` order.
    pub machines: &'a [Machine],
    /// A row for a machine without snapshots too.
    pub all: bool,
    /// Each profile that could not be read, and why.
    pub errors: &'a [(String, String)],
    /// The columns written (indexes into `COLUMNS`), in order; JSON writes them all.
    pub columns: &'a [usize],
}

/// Which columns `report` writes: `--columns`, or every one (`-o wide`), or the format's own
/// (a table: `TABLE_COLUMNS`, about 160 terminal columns; CSV and Markdown: all).
#[derive(Clone, Debug, Default)]
pub struct Columns {
    /// `--columns a,b,c`.
    pub named: Vec<String>,
    /// `-o wide`: every column.
    pub wide: bool,
}

impl Columns {
    /// The indexes into `COLUMNS` written in `format`; an unknown name is a usage error.
    pub fn indexes(&self, format: ReportFormat) -> Result<Vec<usize>, Failure> {
        let every = || (0..COLUMNS.len()).collect();
        if !self.named.is_empty() {
            return report::column_indexes(&self.named)
                .map_err(|why| Failure::new(super::EXIT_USAGE, why));
        }
        Ok(match format {
            ReportFormat::Table if !self.wide => {
                report::column_indexes(&report::TABLE_COLUMNS).unwrap_or_else(|_| every())
            }
            _ => every(),
        })
    }
}

/// Write every row of the report in `format`.
pub fn write_report(
    out: &mut impl Write,
    what: &Written,
    protect: &Protect,
    now: DateTime<Utc>,
    format: ReportFormat,
) -> std::io::Result<()> {
    let (machines, all, cols) = (what.machines, what.all, what.columns);
    let names: Vec<&str> = cols.iter().map(|&i| COLUMNS[i]).collect();
    // Each row's cells to `f`, one row at a time; the first write error stops the rest.
    let each = |out: &mut dyn Write, f: &mut WriteRow| {
        let mut result = Ok(());
        report::rows(machines, all, |r| {
            if result.is_ok() {
                result = f(out, &r.cells(protect, now));
            }
        });
        result
    };
    match format {
        ReportFormat::Csv => {
            // RFC 4180: every line ends with CRLF, the header's too.
            write!(out, "{}\r\n", names.join(","))?;
            each(out, &mut |out, cells| {
                let line: Vec<Cow<str>> = cols.iter().map(|&i| csv_cell(&cells[i])).collect();
                write!(out, "{}\r\n", line.join(","))
            })?;
        }
        ReportFormat::Json => {
            out.write_all(b"{\"snapshots\":[")?;
            let mut first = true;
            each(out, &mut |out, cells| {
                if !first {
                    out.write_all(b",")?;
                }
                first = false;
                // Written key by key: the columns' order (a JSON map would sort them).
                let mut text = String::from("{");
                for (i, (name, cell)) in COLUMNS.iter().zip(cells).enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text.push_str(&format!("\"{name}\":{}", json_cell(cell)));
                }
                text.push('}');
                out.write_all(crate::safe::json(&text).as_bytes())
            })?;
            out.write_all(b"],\"errors\":")?;
            let errors = super::output::errors_json(what.errors).to_string();
            out.write_all(crate::safe::json(&errors).as_bytes())?;
            out.write_all(b"}\n")?;
        }
        ReportFormat::Markdown => {
            writeln!(out, "| {} |", names.join(" | "))?;
            writeln!(out, "|{}", "---|".repeat(names.len()))?;
            each(out, &mut |out, cells| {
                let line: Vec<Cow<str>> = cols.iter().map(|&i| markdown_cell(&cells[i])).collect();
                writeln!(out, "| {} |", line.join(" | "))
            })?;
        }
        ReportFormat::Table => {
            // Two passes over the rows: the widths first, then the lines.
            let mut table = super::output::Table::new(&names);
            report::rows(machines, all, |r| {
                let cells = r.cells(protect, now);
                let shown: Vec<Cow<str>> = cols.iter().map(|&i| table_cell(i, &cells[i])).collect();
                table.fit(&shown);
            });
            writeln!(out, "{}", table.line(&names))?;
            each(out, &mut |out, cells| {
                let shown: Vec<Cow<str>> = cols.iter().map(|&i| table_cell(i, &cells[i])).collect();
                writeln!(out, "{}", table.line(&shown))
            })?;
        }
    }
    out.flush()
}

/// A CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes
/// doubled; controls other than newlines and tabs written out (`\x1b`).
fn csv_cell<'a>(c: &'a Cell) -> Cow<'a, str> {
    match c {
        Cell::Text(t) => {
            let t = crate::safe::lines(t);
            if t.contains([',', '"', '\n', '\r']) || t.starts_with(' ') || t.ends_with(' ') {
                Cow::Owned(format!("\"{}\"", t.replace('"', "\"\"")))
            } else {
                t
            }
        }
        other => plain(other),
    }
}

/// A cell as plain text (sizes in bytes, times in RFC 3339).
fn plain<'a>(c: &'a Cell) -> Cow<'a, str> {
    match c {
        Cell::Empty => Cow::Borrowed(""),
        Cell::Text(t) => crate::safe::terminal(t),
        Cell::Int(n) => Cow::Owned(n.to_string()),
        Cell::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Cell::Time(t) => Cow::Owned(rfc3339(*t)),
    }
}

fn json_cell(c: &Cell) -> serde_json::Value {
    match c {
        Cell::Empty => serde_json::Value::Null,
        Cell::Text(t) => serde_json::Value::String(t.to_string()),
        Cell::Int(n) => serde_json::Value::from(*n),
        Cell::Bool(b) => serde_json::Value::Bool(*b),
        Cell::Time(t) => serde_json::Value::String(rfc3339(*t)),
    }
}

/// A Markdown table cell: on one line, `|` escaped, controls written out.
fn markdown_cell<'a>(c: &'a Cell) -> Cow<'a, str> {
    let text = plain(c);
    if text.contains('|') {
        Cow::Owned(text.replace('|', "\\|"))
    } else {
        text
    }
}

/// A table cell for a person: sizes in binary units, times to the minute.
fn table_cell<'a>(column: usize, c: &'a Cell) -> Cow<'a, str> {
    match c {
        Cell::Int(n) if column == SIZE_COLUMN => Cow::Owned(human_size(*n)),
        Cell::Time(t) => Cow::Owned(t.format("%Y-%m-%d %H:%M").to_string()),
        Cell::Empty if column == SIZE_COLUMN => Cow::Borrowed("-"),
        other => plain(other),
    }
}

/// `snaptree check`.
pub async fn check(
    cli: &Cli,
    s: &Session,
    filter: Option<&str>,
    given: &super::CheckLimits,
    format: CheckFormat,
    include_protected: bool,
) -> Result<(), Failure> {
    let format = if cli.json { CheckFormat::Json } else { format };
    let usage = |flag: &str, m: String| Failure::new(super::EXIT_USAGE, format!("{flag}: {m}"));
    let age = |flag: &str, text: Option<&str>, default| match text {
        None => Ok(default),
        Some(t) => parse_duration(t).map_err(|m| usage(&format!("{flag} {t}"), m)),
    };
    let size = |flag: &str, text: Option<&str>| {
        text.map(crate::model::health::parse_size)
            .transpose()
            .map_err(|m| usage(flag, m))
    };
    let limits = Limits {
        warn_age: age(
            "--warn-age",
            given.warn_age.as_deref(),
            s.thresholds.age_warning,
        )?,
        crit_age: age(
            "--crit-age",
            given.crit_age.as_deref(),
            s.thresholds.age_critical,
        )?,
        warn_depth: given.warn_depth.unwrap_or(s.thresholds.depth_warning),
        warn_size: size("--warn-size", given.warn_size.as_deref())?,
        crit_size: size("--crit-size", given.crit_size.as_deref())?,
        warn_count: given.warn_count,
        crit_count: given.crit_count,
        warn_backup_age: given
            .warn_backup_age
            .as_deref()
            .map(|t| parse_duration(t).map_err(|m| usage(&format!("--warn-backup-age {t}"), m)))
            .transpose()?,
    };
    let (machines, _, errors) = estate(s, filter, true).await;
    let now = Utc::now();
    let configured = s.engine.profiles().len();
    let protect = crate::model::cleanup::Protect::new(&s.config.cleanup.protect);
    let protect = (!include_protected).then_some(&protect);
    let result = check::check(&machines, &errors, configured, filter, limits, now, protect);
    let out = std::io::stdout().lock();
    let mut out = std::io::BufWriter::new(out);
    let profiles: Vec<&str> = s
        .engine
        .profiles()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    written(match format {
        CheckFormat::Nagios => write_nagios(&mut out, &result),
        CheckFormat::Json => write_check_json(&mut out, &result, &errors),
        CheckFormat::Prometheus => write_prometheus(&mut out, &machines, &profiles, &errors, now),
    })?;
    match format {
        // Metrics are data: printed, they are a success; the state is in them.
        CheckFormat::Prometheus => Ok(()),
        _ if result.state == State::Ok => Ok(()),
        _ => Err(Failure::new(result.state.exit_code(), "")),
    }
}

/// `snaptree check` when snaptree could not start (a configuration it cannot use): still a
/// monitoring answer, UNKNOWN with the reason in the asked format (exit 3), never an empty
/// stdout that a monitoring system would read as CRITICAL. Metrics print nothing, so a
/// textfile collector keeps no false reading; the reason is on stderr as usual.
pub fn check_not_started(cli: &Cli, format: CheckFormat, why: &str) -> Failure {
    let format = if cli.json { CheckFormat::Json } else { format };
    let summary = format!("snaptree could not start: {why}");
    let unknown = State::Unknown.exit_code();
    match format {
        CheckFormat::Nagios => {
            say!("SNAPTREE UNKNOWN - {}", crate::safe::terminal(&summary));
            Failure::new(unknown, "")
        }
        CheckFormat::Json => {
            let doc = serde_json::json!({
                "state": State::Unknown.as_str(),
                "exit_code": unknown,
                "summary": summary,
                "problems": [],
                "errors": [{"profile": null, "error": why}],
            });
            say_json!(doc);
            Failure::new(unknown, "")
        }
        CheckFormat::Prometheus => Failure::new(unknown, why),
    }
}

/// The plugin's output: the state line with perfdata, then one line per problem.
fn write_nagios(out: &mut impl Write, c: &check::Check) -> std::io::Result<()> {
    writeln!(
        out,
        "SNAPTREE {} - {} | {}",
        c.state.as_str(),
        crate::safe::terminal(&c.summary()),
        c.perfdata()
    )?;
    for p in &c.problems {
        writeln!(
            out,
            "{}: {}",
            p.state.as_str(),
            crate::safe::terminal(&p.what)
        )?;
    }
    out.flush()
}

fn write_check_json(
    out: &mut impl Write,
    c: &check::Check,
    errors: &[(String, String)],
) -> std::io::Result<()> {
    let problems: Vec<serde_json::Value> = c
        .problems
        .iter()
        .map(|p| {
            serde_json::json!({
                "state": p.state.as_str(),
                "profile": p.profile,
                "machine": p.machine,
                "machine_id": p.machine_id,
                "snapshot": p.snapshot.as_ref().map(|s| &s.0),
                "snapshot_id": p.snapshot.as_ref().map(|s| &s.1),
                "what": p.what,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "state": c.state.as_str(),
        "exit_code": c.state.exit_code(),
        "summary": c.summary(),
        "machines": c.machines,
        "snapshots": c.snapshots,
        "size_bytes": c.size_bytes,
        "oldest_age_seconds": c.oldest.map(|a| a.num_seconds()),
        "protected": c.protected,
        "protected_oldest_age_seconds": c.protected_oldest.map(|a| a.num_seconds()),
        "max_depth": c.max_depth,
        "max_size_bytes": c.max_size,
        "max_count": c.max_count,
        "consolidation_needed": c.consolidation,
        "phantom_deltas": c.phantom_deltas,
        "backup_age_seconds": c.backup_age.map(|a| a.num_seconds()),
        "profiles_unreachable": c.unreachable,
        "limits": {
            "warn_age_seconds": c.limits.warn_age.num_seconds(),
            "crit_age_seconds": c.limits.crit_age.num_seconds(),
            "warn_depth": c.limits.warn_depth,
            "warn_size_bytes": c.limits.warn_size,
            "crit_size_bytes": c.limits.crit_size,
            "warn_backup_age_seconds": c.limits.warn_backup_age.map(|a| a.num_seconds()),
            "warn_count": c.limits.warn_count,
            "crit_count": c.limits.crit_count,
        },
        "problems": problems,
        "errors": super::output::errors_json(errors),
    });
    writeln!(out, "{}", crate::safe::json(&doc.to_string()))?;
    out.flush()
}

/// A label value in the exposition format: `\`, `"` and newlines escaped, and what a
/// terminal would act on written out first.
fn label(value: &str) -> String {
    crate::safe::terminal(value)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One gauge of the Prometheus text format: its HELP and TYPE lines, then a sample per
/// (labels, value).
fn gauge(
    out: &mut impl Write,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) -> std::io::Result<()> {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} gauge")?;
    for (labels, value) in samples {
        writeln!(out, "{name}{{{labels}}} {value}")?;
    }
    Ok(())
}

/// The Prometheus text exposition format (docs/report.md, "Prometheus").
fn write_prometheus(
    out: &mut impl Write,
    machines: &[Machine],
    profiles: &[&str],
    errors: &[(String, String)],
    now: DateTime<Utc>,
) -> std::io::Result<()> {
    gauge(
        out,
        "snaptree_profile_up",
        "Whether the profile's back end could be read (1) or not (0).",
        profiles.iter().map(|p| {
            let up = !errors.iter().any(|(e, _)| e == p);
            (
                format!("profile=\"{}\"", label(p)),
                u8::from(up).to_string(),
            )
        }),
    )?;
    let machine_labels = |m: &Machine| {
        format!(
            "profile=\"{}\",machine=\"{}\",machine_id=\"{}\"",
            label(&m.profile),
            label(&m.name),
            label(&m.id)
        )
    };
    gauge(
        out,
        "snaptree_machine_snapshots",
        "Snapshots of the machine.",
        machines
            .iter()
            .map(|m| (machine_labels(m), m.snapshot_count().to_string())),
    )?;
    gauge(
        out,
        "snaptree_machine_consolidation_needed",
        "Whether the machine's disks need consolidation (1) or not (0).",
        machines.iter().map(|m| {
            let needed = u8::from(m.consolidation_needed);
            (machine_labels(m), needed.to_string())
        }),
    )?;
    gauge(
        out,
        "snaptree_machine_phantom_deltas",
        "Delta disks the machine runs on that no snapshot owns (consolidate its disks).",
        machines.iter().map(|m| {
            let n = m.storage.as_ref().map_or(0, |s| s.phantom_deltas.len());
            (machine_labels(m), n.to_string())
        }),
    )?;
    // A VPS with the automated backup option: its restore points, and its newest one's age.
    let backed_up = || {
        machines.iter().filter_map(|m| {
            let b = m.backups.as_deref().filter(|b| b.subscribed)?;
            Some((m, b))
        })
    };
    gauge(
        out,
        "snaptree_vps_restore_points",
        "Restore points of the VPS's automated backup.",
        backed_up().map(|(m, b)| (machine_labels(m), b.restore_points.len().to_string())),
    )?;
    gauge(
        out,
        "snaptree_vps_newest_restore_point_age_seconds",
        "Age of the newest restore point of the VPS's automated backup.",
        backed_up().filter_map(|(m, b)| {
            let age = m.age_of(b.newest()?, now).num_seconds().max(0);
            Some((machine_labels(m), age.to_string()))
        }),
    )?;
    let snapshot_labels = |m: &Machine, s: &crate::model::Snapshot| {
        format!(
            "{},snapshot=\"{}\",snapshot_id=\"{}\"",
            machine_labels(m),
            label(&s.name),
            label(&s.id)
        )
    };
    let snapshots = || {
        machines
            .iter()
            .flat_map(|m| m.walk().into_iter().map(move |(_, s)| (m, s)))
    };
    gauge(
        out,
        "snaptree_snapshot_age_seconds",
        "Seconds since the snapshot was taken.",
        snapshots().map(|(m, s)| {
            let age = m.age_of(s.created, now).num_seconds().max(0);
            (snapshot_labels(m, s), age.to_string())
        }),
    )?;
    gauge(
        out,
        "snaptree_snapshot_size_bytes",
        "Bytes the snapshot holds, where the back end says.",
        snapshots().filter_map(|(m, s)| Some((snapshot_labels(m, s), s.size_bytes?.to_string()))),
    )?;
    out.flush()
}
