//! `snaptree option order`: what ordering the snapshot or automated backup option of a VPS
//! would cost, per duration, with its contracts; then, confirmed by the VPS's name typed,
//! the order — created for the account to pay, never paid (docs/backups.md, "Ordering an
//! option").

use serde_json::json;

use super::setup::Session;
use super::{Cli, EXIT_FAILED, EXIT_USAGE, Failure, find_machine};
use crate::model::order::{self, OptionOrder, Quote, Route, VpsOption};
use crate::model::{Machine, Operation};
use crate::{say, say_json};

/// `option order`'s OPTION.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OptionArg {
    /// The snapshot option (one snapshot).
    Snapshot,
    /// The automated backup (daily restore points).
    AutomatedBackup,
}

impl From<OptionArg> for VpsOption {
    fn from(o: OptionArg) -> VpsOption {
        match o {
            OptionArg::Snapshot => VpsOption::Snapshot,
            OptionArg::AutomatedBackup => VpsOption::AutomatedBackup,
        }
    }
}

fn quote_json(q: &Quote) -> serde_json::Value {
    json!({
        "duration": q.duration,
        "with_tax": q.with_tax,
        "without_tax": q.without_tax,
        "contracts": q.contracts.iter().map(|c| json!({"name": c.name, "url": c.url})).collect::<Vec<_>>(),
        "route": match &q.route {
            Route::Legacy => "option",
            Route::Cart { .. } => "cart",
        },
    })
}

/// The quotes, written: one line per duration, then the contracts.
fn print_quotes(m: &Machine, option: VpsOption, quotes: &[Quote]) {
    say!(
        "{}/{}: {} can be ordered for:",
        m.profile,
        m.name,
        option.label()
    );
    for q in quotes {
        say!("  {}", order::quote_line(q));
    }
    let mut contracts: Vec<(&str, &str)> = quotes
        .iter()
        .flat_map(|q| {
            q.contracts
                .iter()
                .map(|c| (c.name.as_str(), c.url.as_str()))
        })
        .collect();
    contracts.sort_unstable();
    contracts.dedup();
    for (name, url) in &contracts {
        say!("  contract: {name} {url}");
    }
    if contracts.is_empty() {
        say!("  contracts: shown with the order, where it is paid");
    }
}

/// `option order MACHINE OPTION [--duration D] [--dry-run]`.
pub async fn order(
    cli: &Cli,
    s: &Session,
    machine: &str,
    option: VpsOption,
    duration: Option<&str>,
    dry_run: bool,
) -> Result<(), Failure> {
    let m = find_machine(s, machine).await?;
    if let Some(why) = order::refusal(&m, option) {
        return Err(Failure::new(EXIT_USAGE, why));
    }
    let ordering = |quotes: Vec<Quote>, duration: String| {
        Operation::Order(Box::new(OptionOrder {
            option,
            quotes,
            duration,
        }))
    };
    // Read-only: refused before anything is asked of the order API (a dry run only reads).
    if !dry_run {
        s.engine
            .ensure_writable(&m.profile, &ordering(Vec::new(), String::new()))
            .map_err(|e| Failure::new(super::EXIT_REFUSED, e.to_string()))?;
    }
    let quotes = s
        .engine
        .quotes(&m.profile, &m.id, option)
        .await
        .map_err(|e| {
            Failure::new(
                EXIT_FAILED,
                format!(
                    "{}/{}: what {} costs could not be read: {e} (the consumer key needs the order rules: snaptree login {} --order)",
                    m.profile,
                    m.name,
                    option.label(),
                    m.profile
                ),
            )
        })?;
    if quotes.is_empty() {
        return Err(Failure::new(
            EXIT_FAILED,
            format!(
                "{}/{}: OVHcloud offers no duration for {}",
                m.profile,
                m.name,
                option.label()
            ),
        ));
    }
    if dry_run {
        if cli.json {
            say_json!(json!({
                "machine": format!("{}/{}", m.profile, m.name),
                "option": option.api(),
                "quotes": quotes.iter().map(quote_json).collect::<Vec<_>>(),
            }));
        } else {
            print_quotes(&m, option, &quotes);
        }
        return Ok(());
    }
    let durations = || {
        quotes
            .iter()
            .map(|q| q.duration.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let duration = match (duration, quotes.as_slice()) {
        (Some(d), _) => d.to_string(),
        (None, [one]) => one.duration.clone(),
        (None, _) => {
            print_quotes(&m, option, &quotes);
            return Err(Failure::new(
                EXIT_USAGE,
                format!("choose a duration: --duration {}", durations()),
            ));
        }
    };
    if !quotes.iter().any(|q| q.duration == duration) {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "--duration {duration}: OVHcloud offers {} for {}",
                durations(),
                option.label()
            ),
        ));
    }
    super::change(cli, s, &m, ordering(quotes, duration)).await
}
