//! The command line: clap definitions and the non-interactive commands, which drive the
//! same engine as the TUI. Human tables or `--json`; progress on stderr; exit codes as in
//! docs/cli.md.

pub mod backup;
pub mod docs;
pub mod login;
pub mod option;
mod output;
pub mod prune;
pub mod report;
pub mod setup;

use crate::{say, say_json, tell};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::config::ConfirmMode;
use crate::engine::{Engine, RunError, RunUpdate};
use crate::model::change;
use crate::model::cleanup;
use crate::model::flow;
use crate::model::guest::{self, Before};
use crate::model::{
    ExpectedView, Machine, Operation, TaskState, resolve_machine, resolve_snapshot,
};
use setup::Session;

/// Exit code: the back end or the task failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: usage error, not found or ambiguous.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: refused (read-only, or confirmation missing).
pub const EXIT_REFUSED: i32 = 3;
/// Ended by Ctrl-C (128 + SIGINT), as a shell reports it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// A failure with its exit code and one sentence.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: i32,
    /// What failed and why.
    pub message: String,
}

impl Failure {
    /// A failure with this code.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

/// The heading of the options every command takes: under the command's own, in `--help`.
const GLOBAL: &str = "Global options";

/// `snaptree`: browse and operate VM snapshot trees.
#[derive(Debug, Parser)]
#[command(name = "snaptree", version, about, long_about = None)]
pub struct Cli {
    /// Config file (else $SNAPTREE_CONFIG, else the platform config dir).
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Only these profiles (repeatable; default: all).
    #[arg(long = "profile", global = true, help_heading = GLOBAL, value_name = "NAME")]
    pub profiles: Vec<String>,
    /// Refuse every change.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub read_only: bool,
    /// Use the embedded demo estate instead of the configured profiles.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub demo: bool,
    /// Machine-readable output.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// No colours (also NO_COLOR).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_color: bool,
    /// The TUI takes mouse clicks and the wheel (also `[ui] mouse = true`).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub mouse: bool,
    /// More detail in the log file.
    #[arg(short, long, global = true, help_heading = GLOBAL, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Confirm destructive commands without asking (needed without a terminal).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub yes: bool,
    /// Print the task id and return without waiting.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_wait: bool,
    /// What to do (no command: the TUI).
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// The limits of `snaptree check`.
#[derive(Debug, clap::Args)]
pub struct CheckLimits {
    /// A snapshot older than AGE is a warning (default: `[ui] age_warning`).
    #[arg(long, value_name = "AGE")]
    pub warn_age: Option<String>,
    /// A snapshot older than AGE is critical (default: `[ui] age_critical`).
    #[arg(long, value_name = "AGE")]
    pub crit_age: Option<String>,
    /// A chain deeper than N is a warning (default: `[ui] depth_warning`).
    #[arg(long, value_name = "N")]
    pub warn_depth: Option<usize>,
    /// A machine whose snapshots together take more than SIZE is a warning (`10GiB`,
    /// `500MiB`, `2TiB`, or bytes).
    #[arg(long, value_name = "SIZE")]
    pub warn_size: Option<String>,
    /// A machine whose snapshots together take more than SIZE is critical.
    #[arg(long, value_name = "SIZE")]
    pub crit_size: Option<String>,
    /// A machine with more than N snapshots is a warning (protected ones left out).
    #[arg(long, value_name = "N")]
    pub warn_count: Option<usize>,
    /// A machine with more than N snapshots is critical (protected ones left out).
    #[arg(long, value_name = "N")]
    pub crit_count: Option<usize>,
    /// A VPS with the automated backup option whose newest restore point is older than
    /// AGE (or that has none) is a warning.
    #[arg(long, value_name = "AGE")]
    pub warn_backup_age: Option<String>,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// The TUI on embedded simulators of both back ends (no account needed).
    #[command(
        after_help = "Examples:\n  snaptree demo\n  snaptree --demo ls          (any command, on the demo estate)"
    )]
    Demo,
    /// List machines.
    #[command(
        after_help = "Examples:\n  snaptree ls\n  snaptree ls pcc/web --json\n  snaptree ls /Paris-DC1/vm/prod"
    )]
    Ls {
        /// Only machines whose name, id, path or profile contains this, ignoring case (also
        /// `PROFILE/NAME`, `PROFILE/ID`, `PROFILE/PATH`).
        filter: Option<String>,
    },
    /// Show the snapshot tree of one machine.
    #[command(
        after_help = "Examples:\n  snaptree tree pcc/web-01\n  snaptree tree pcc/web-01 -D -d      (with dates and descriptions)\n  snaptree tree pcc/vm-101 --json"
    )]
    Tree {
        /// PROFILE/NAME or PROFILE/ID.
        machine: String,
        /// When each snapshot was taken (UTC).
        #[arg(short = 'D', long)]
        date: bool,
        /// Each snapshot's description, when it says more than its name.
        #[arg(short, long)]
        description: bool,
    },
    /// Take a snapshot.
    #[command(
        after_help = "Examples:\n  snaptree take pcc/web-01 -n before-upgrade -q --expires 7d\n  snaptree take pcc/db-01 -q --quiesce-timeout 15m\n  snaptree take ovh/blog -d 'before the migration' --yes"
    )]
    Take {
        /// PROFILE/NAME or PROFILE/ID.
        machine: String,
        /// Name (default: the local date-time).
        #[arg(short, long)]
        name: Option<String>,
        /// Description.
        #[arg(short, long)]
        description: Option<String>,
        /// Include memory (powered-on VMs).
        #[arg(short, long)]
        memory: bool,
        /// Quiesce guest file systems (needs VMware Tools running).
        #[arg(short, long)]
        quiesce: bool,
        /// With --quiesce: the longest the quiesce may take, 5m to 240m (vSphere 6.5 and
        /// later; an older server takes the snapshot with its own limit, and says so).
        #[arg(long, value_name = "DURATION")]
        quiesce_timeout: Option<String>,
        /// Mark it to expire after AGE (e.g. 7d): `[expires …]` in its description, which
        /// `prune --expired` selects once passed.
        #[arg(long, value_name = "AGE")]
        expires: Option<String>,
    },
    /// VPS: delete its snapshot, wait, then take a new one — one confirmed action.
    #[command(
        after_help = "Examples:\n  snaptree replace ovh/shop-front -d 'after the migration' --yes"
    )]
    Replace {
        /// PROFILE/NAME or PROFILE/ID.
        machine: String,
        /// Description of the new snapshot (default: the local date-time).
        #[arg(short, long)]
        description: Option<String>,
        /// Mark the new snapshot to expire after AGE (see `take --expires`).
        #[arg(long, value_name = "AGE")]
        expires: Option<String>,
    },
    /// Revert to a snapshot (no SNAPSHOT: to the current one).
    #[command(
        after_help = "Examples:\n  snaptree revert pcc/web-01 pre-release\n  snaptree revert pcc/web-01            (to the current snapshot)"
    )]
    Revert {
        /// PROFILE/NAME or PROFILE/ID.
        machine: String,
        /// Snapshot id, path of names, or unique name.
        snapshot: Option<String>,
        /// Leave the VM off even if the snapshot has memory.
        #[arg(long, conflicts_with = "start")]
        suppress_power_on: bool,
        /// Proxmox VE: start the guest after the rollback (a snapshot with RAM state comes
        /// back running anyway).
        #[arg(long)]
        start: bool,
        /// Then take a new snapshot (a VPS: its restore consumes the snapshot); the new
        /// snapshot's id is the output.
        #[arg(long)]
        retake: bool,
    },
    /// Delete one snapshot (with --children, its subtree), or all with --all.
    #[command(
        after_help = "Examples:\n  snaptree rm pcc/web-01 hotfix-test\n  snaptree rm pcc/web-01 snapshot-102 --children --yes\n  snaptree rm pcc/web-02 --all"
    )]
    Rm {
        /// PROFILE/NAME or PROFILE/ID.
        machine: String,
        /// Snapshot id, path of names, or unique name.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        snapshot: Option<String>,
        /// Delete its children too.
        #[arg(long)]
        children: bool,
        /// Delete every snapshot of the machine.
        #[arg(long)]
        all: bool,
        /// Delete even when a datastore lacks the room to merge the deltas (refused
        /// otherwise).
        #[arg(long)]
        allow_low_space: bool,
    },
    /// Consolidate disks.
    #[command(after_help = "Examples:\n  snaptree consolidate pcc/db-01")]
    Consolidate {
        /// PROFILE/NAME or PROFILE/ID.
        machine: String,
    },
    /// Rename or describe a snapshot.
    #[command(
        after_help = "Examples:\n  snaptree rename pcc/web-01 snapshot-102 -n before-2.4-upgrade\n  snaptree rename pcc/web-01 pre-release -d 'kept until the audit'"
    )]
    Rename {
        /// PROFILE/NAME or PROFILE/ID.
        machine: String,
        /// Snapshot id, path of names, or unique name.
        snapshot: String,
        /// New name.
        #[arg(short, long)]
        name: Option<String>,
        /// New description.
        #[arg(short, long)]
        description: Option<String>,
    },
    /// Protect a snapshot from every policy: `[keep]` added to its description.
    #[command(after_help = "Examples:\n  snaptree pin pcc/web-01 base")]
    Pin {
        /// PROFILE/NAME or PROFILE/ID.
        machine: String,
        /// Snapshot id, path of names, or unique name.
        snapshot: String,
    },
    /// Stop protecting a pinned snapshot: `[keep]` removed from its description.
    #[command(after_help = "Examples:\n  snaptree unpin pcc/web-01 base")]
    Unpin {
        /// PROFILE/NAME or PROFILE/ID.
        machine: String,
        /// Snapshot id, path of names, or unique name.
        snapshot: String,
    },
    /// Delete many snapshots across machines by policy: the plan, then (confirmed) the run.
    #[command(
        after_help = "Examples:\n  snaptree prune --older-than 30d --keep-last 1 --dry-run\n  snaptree prune pcc --expired --yes\n  snaptree prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --dry-run"
    )]
    Prune {
        /// Only machines whose name, id, path or profile contains this, ignoring case (also
        /// `PROFILE/NAME`, `PROFILE/ID`, `PROFILE/PATH`).
        filter: Option<String>,
        /// Snapshots created more than AGE ago (e.g. 14d, 72h).
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// Snapshots whose name matches this glob (`*`, `?`; repeatable: any match).
        #[arg(long = "name", value_name = "GLOB")]
        names: Vec<String>,
        /// Snapshots whose `[expires …]` marker has passed.
        #[arg(long)]
        expired: bool,
        /// Per machine, never select the N newest snapshots.
        #[arg(long, value_name = "N")]
        keep_last: Option<usize>,
        /// Per machine, keep the newest snapshot of each of the last N UTC days that have
        /// one (restic's `forget`); alone, the tiers select what none keeps.
        #[arg(long, value_name = "N")]
        keep_daily: Option<usize>,
        /// … of each of the last N ISO weeks.
        #[arg(long, value_name = "N")]
        keep_weekly: Option<usize>,
        /// … of each of the last N months.
        #[arg(long, value_name = "N")]
        keep_monthly: Option<usize>,
        /// Select protected snapshots too (pinned, or matching `[cleanup] protect`).
        #[arg(long)]
        include_protected: bool,
        /// Show the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run a machine even when a datastore lacks the room to merge its deltas (skipped
        /// otherwise).
        #[arg(long)]
        allow_low_space: bool,
    },
    /// Every snapshot of the estate, one row each: a table, CSV, JSON or Markdown.
    #[command(
        after_help = "Examples:\n  snaptree report\n  snaptree report -o wide\n  snaptree report --columns machine,snapshot,age_days,size_bytes,created_by\n  snaptree report --format csv > snapshots.csv\n  snaptree report pcc --all --format markdown"
    )]
    Report {
        /// Only machines whose name, id, path or profile contains this, ignoring case (also
        /// `PROFILE/NAME`, `PROFILE/ID`, `PROFILE/PATH`).
        filter: Option<String>,
        /// How to write the rows (`--json` is `--format json`).
        #[arg(long, value_enum, default_value = "table")]
        format: report::ReportFormat,
        /// Machines without snapshots too (a row with empty snapshot fields).
        #[arg(long)]
        all: bool,
        /// The columns to write, in order, comma-separated (table, CSV, Markdown; JSON has
        /// them all): profile, provider, location, machine, machine_id, power_state, snapshot,
        /// snapshot_id, path, description, created, age_days, size_bytes, memory, quiesced,
        /// current, depth, consolidation_needed, created_by, expires, protected, phantom_deltas,
        /// backups, newest_backup.
        #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
        columns: Vec<String>,
        /// `wide`: every column in the table (the default table fits about 160 columns).
        #[arg(short = 'o', long = "output", value_name = "wide", value_parser = ["wide"])]
        output: Option<String>,
    },
    /// Monitoring: the state line, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    #[command(
        after_help = "Examples:\n  snaptree check\n  snaptree check --warn-age 3d --crit-age 14d --format prometheus"
    )]
    Check {
        /// Only machines whose name, id, path or profile contains this, ignoring case (also
        /// `PROFILE/NAME`, `PROFILE/ID`, `PROFILE/PATH`).
        filter: Option<String>,
        /// The limits.
        #[command(flatten)]
        limits: CheckLimits,
        /// How to say the result (`--json` is `--format json`).
        #[arg(long, value_enum, default_value = "nagios")]
        format: report::CheckFormat,
        /// Check protected snapshots' ages too (pinned, or matching `[cleanup] protect`;
        /// by default they are kept on purpose, counted apart, and never an alert).
        #[arg(long)]
        include_protected: bool,
    },
    /// OVH: request a consumer key with exactly the access rules snaptree needs; prints the
    /// validation URL on stderr and `consumer_key = "…"` on stdout, then waits for approval.
    #[command(
        after_help = "Examples:\n  snaptree login ovh >> new-key.toml\n  snaptree login ovh --read-only"
    )]
    Login {
        /// The OVH profile (its endpoint and application key/secret are used).
        profile: String,
        /// Ask for read-only rules (GET /vps, GET /vps/*); also when the profile is read-only.
        #[arg(long, conflicts_with = "order")]
        read_only: bool,
        /// Also ask for the rules that order options (GET/POST /order/*, GET /me): for
        /// `snaptree option order`.
        #[arg(long)]
        order: bool,
        /// Print the key and the URL, and return without waiting for the approval.
        #[arg(long)]
        no_wait: bool,
    },
    /// A VPS's automated backup: its daily time and restore points; restore, detach,
    /// reschedule.
    #[command(
        after_help = "Examples:\n  snaptree backup ls ovh/mail\n  snaptree backup restore ovh/mail latest --mode file\n  snaptree backup schedule ovh/mail 03:30"
    )]
    Backup {
        /// What to do.
        #[command(subcommand)]
        command: BackupCmd,
    },
    /// A VPS's options: what ordering one would cost, and the order (never paid).
    #[command(
        after_help = "Examples:\n  snaptree option order ovh/blog automated-backup --dry-run\n  snaptree option order ovh/vps-9c0d1e2f.vps.ovh.net snapshot --duration P1M"
    )]
    Option {
        /// What to do.
        #[command(subcommand)]
        command: OptionCmd,
    },
    /// Configuration commands.
    Config {
        /// What to do.
        #[command(subcommand)]
        command: ConfigCmd,
    },
    /// Print every path in use.
    #[command(after_help = "Examples:\n  snaptree info")]
    Info,
    /// Print a shell completion script (e.g. `snaptree completions bash > ~/.local/share/bash-completion/completions/snaptree`).
    #[command(
        after_help = "Examples:\n  snaptree completions bash > ~/.local/share/bash-completion/completions/snaptree"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; e.g. `snaptree man | man -l -`).
    #[command(after_help = "Examples:\n  snaptree man | man -l -")]
    Man,
    /// Serve a simulator alone.
    Sim {
        /// Which one.
        #[command(subcommand)]
        command: SimCmd,
    },
}

/// `backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupCmd {
    /// The daily time, each restore point (newest first) with its state, and the mounted
    /// ones with their NFS and SMB addresses.
    Ls {
        /// PROFILE/NAME or PROFILE/ID of a VPS.
        machine: String,
    },
    /// Restore a restore point: `full`, the VPS's disk returns to it (everything since is
    /// lost; the VPS's name typed to confirm, or --yes); `file`, it is mounted beside the
    /// VPS, its files reachable over NFS and SMB.
    #[command(
        after_help = "Examples:\n  snaptree backup restore ovh/mail latest --mode file\n  snaptree backup restore ovh/mail '2026-12-04 22:00' --mode full"
    )]
    Restore {
        /// PROFILE/NAME or PROFILE/ID of a VPS.
        machine: String,
        /// The restore point's time as `backup ls` lists it (`2026-12-04 22:00`, or RFC
        /// 3339), or `latest`.
        point: String,
        /// `full` (the whole VPS) or `file` (mounted as files).
        #[arg(long, value_enum)]
        mode: backup::Mode,
    },
    /// Unmount a restore point a `file` restore mounted.
    #[command(after_help = "Examples:\n  snaptree backup detach ovh/mail latest")]
    Detach {
        /// PROFILE/NAME or PROFILE/ID of a VPS.
        machine: String,
        /// The mounted restore point's time, or `latest` (the newest mounted).
        point: String,
    },
    /// Move the daily backup to another time of day (UTC).
    #[command(after_help = "Examples:\n  snaptree backup schedule ovh/mail 03:30")]
    Schedule {
        /// PROFILE/NAME or PROFILE/ID of a VPS.
        machine: String,
        /// HH:MM (UTC).
        time: String,
    },
}

/// `option` subcommands.
#[derive(Debug, Subcommand)]
pub enum OptionCmd {
    /// Show what ordering OPTION for a VPS would cost for each duration, with its
    /// contracts; then create the order, confirmed by the VPS's name typed (or --yes). The
    /// order is for the account to pay: snaptree pays nothing, and the option is active
    /// only once OVHcloud has the payment.
    Order {
        /// PROFILE/NAME or PROFILE/ID of a VPS.
        machine: String,
        /// `snapshot` or `automated-backup`.
        #[arg(value_enum)]
        option: option::OptionArg,
        /// The duration to order, as the prices list it (`P1M`); needed when there are
        /// several.
        #[arg(long, value_name = "D")]
        duration: Option<String>,
        /// Show the prices and contracts; order nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Load the config, check each profile's credentials and reachability.
    Check,
    /// Write a commented template where the config file belongs (never over a file).
    Init,
}

/// `sim` subcommands.
#[derive(Debug, Subcommand)]
pub enum SimCmd {
    /// The Proxmox VE simulator (HTTPS, `/api2/json`; API token demo@pve!snaptree, secret
    /// demo): a two-node cluster with QEMU VMs and LXC containers.
    Proxmox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8006")]
        listen: std::net::SocketAddr,
        /// The API token id accepted (USER@REALM!NAME).
        #[arg(long)]
        token_id: Option<String>,
        /// The token's secret.
        #[arg(long)]
        token_secret: Option<String>,
    },
    /// The vSphere simulator (HTTPS, SOAP; login demo/demo).
    Vsphere {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
        /// A second account that may read but not change (every change is refused with
        /// NoPermission), as USER:PASS.
        #[arg(long, value_name = "USER:PASS", value_parser = parse_user_password)]
        viewer: Option<(String, String)>,
        /// A hostile server, for benchmarks: pad every listing answer with this many MiB
        /// of whitespace.
        #[arg(long, value_name = "MIB", default_value_t = 0)]
        pad_listings_mb: usize,
    },
    /// The OVH API simulator (HTTP).
    Ovh {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Application key accepted.
        #[arg(long)]
        application_key: Option<String>,
        /// Application secret accepted.
        #[arg(long)]
        application_secret: Option<String>,
        /// Consumer key accepted.
        #[arg(long)]
        consumer_key: Option<String>,
    },
}

/// `USER:PASS` split at the first colon; both parts non-empty.
fn parse_user_password(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok((user.to_string(), password.to_string()))
        }
        _ => Err("expected USER:PASS, e.g. reader:reader".to_string()),
    }
}

/// Each profile that could not be read, said as `profile NAME: why`.
fn profile_errors(errors: &[(String, String)]) -> Vec<String> {
    errors
        .iter()
        .map(|(name, e)| format!("profile {name}: {e}"))
        .collect()
}

/// Done when every profile and every machine listed was read; else a failure (exit 1)
/// naming each profile that was not, then each unreadable machine (its sentence).
fn all_read(errors: &[(String, String)], unreadable: Vec<String>) -> Result<(), Failure> {
    let mut problems = profile_errors(errors);
    problems.extend(unreadable);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(EXIT_FAILED, problems.join("; ")))
    }
}

/// When FILTER selected no machine (`matched` is how many it selected), say so on stderr:
/// what the command prints is empty because of the filter, which may be a typo.
fn tell_no_match(s: &Session, filter: Option<&str>, matched: usize, errors: &[(String, String)]) {
    if let Some(f) = filter.filter(|_| matched == 0) {
        let names: Vec<String> = s.engine.profiles().iter().map(|p| p.name.clone()).collect();
        tell!(
            "snaptree: {}",
            crate::model::filter::no_match(f, &names, errors.len())
        );
    }
}

/// True when the command reads or changes machines, so it has nothing to do without a
/// profile. `check` is left out: a monitoring check says UNKNOWN rather than fail.
fn needs_profile(cmd: &Cmd) -> bool {
    !matches!(
        cmd,
        Cmd::Check { .. }
            | Cmd::Info
            | Cmd::Demo
            | Cmd::Sim { .. }
            | Cmd::Completions { .. }
            | Cmd::Man
            | Cmd::Login { .. }
    )
}

/// Load every profile's inventory, all at once: the machines read, and each profile that
/// could not be read with why.
async fn load_by_profile(engine: &Engine) -> (Vec<Machine>, Vec<(String, String)>) {
    let loads = engine
        .profiles()
        .iter()
        .map(|p| async move { (p.name.clone(), p.load_inventory().await) });
    let mut machines = Vec::new();
    let mut errors = Vec::new();
    for (name, result) in futures::future::join_all(loads).await {
        match result {
            Ok(m) => machines.extend(m),
            Err(e) => errors.push((name, e.to_string())),
        }
    }
    (machines, errors)
}

/// Read every profile at once, chunk by chunk, keeping of each machine only what `keep`
/// makes of it (`None`: nothing), as it arrives: the machines themselves are dropped, so a
/// command that prints a line per machine holds lines, not an estate. The items come back
/// in `ls` order (profile in the config's order, path, name; ties in the back end's order),
/// with each profile that could not be read and why.
async fn read_each<T: Send>(
    engine: &Engine,
    keep: impl Fn(Machine) -> Option<T> + Sync,
) -> (Vec<T>, Vec<(String, String)>) {
    let keep = &keep;
    let reads = engine.profiles().iter().map(|p| async move {
        // Each item with its place: path, a NUL, name (one allocation, ordered as the pair).
        let kept: std::sync::Mutex<Vec<(Box<str>, T)>> = std::sync::Mutex::default();
        let each = |chunk: Vec<Machine>| {
            let mut kept = kept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for m in chunk {
                let place = format!("{}\0{}", m.path, m.name).into_boxed_str();
                if let Some(item) = keep(m) {
                    kept.push((place, item));
                }
            }
        };
        let read = p.each_machine(&each).await;
        let kept = kept
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (p.name.clone(), read, kept)
    });
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (name, read, mut kept) in futures::future::join_all(reads).await {
        if let Err(e) = read {
            errors.push((name, e.to_string()));
            continue;
        }
        kept.sort_by(|(a, _), (b, _)| a.cmp(b));
        items.extend(kept.into_iter().map(|(_, item)| item));
    }
    (items, errors)
}

/// Load the inventories and resolve one machine address.
async fn find_machine(s: &Session, address: &str) -> Result<Machine, Failure> {
    let (machines, by_profile) = load_by_profile(&s.engine).await;
    let names: Vec<String> = s.engine.profiles().iter().map(|p| p.name.clone()).collect();
    // Addressed to a profile that was read: failures elsewhere do not explain a miss.
    let read_ok = address.split_once('/').is_some_and(|(p, _)| {
        names.iter().any(|n| n == p) && !by_profile.iter().any(|(name, _)| name == p)
    });
    let errors = profile_errors(&by_profile);
    match resolve_machine(&machines, &names, address) {
        Ok(m) => match m.unreadable_sentence() {
            Some(why) => Err(Failure::new(EXIT_FAILED, why)),
            None => Ok(m.clone()),
        },
        // The machine may well exist: say why it could not be looked up.
        Err(_) if !errors.is_empty() && !read_ok => Err(Failure::new(
            EXIT_FAILED,
            format!("cannot look up \"{address}\": {}", errors.join("; ")),
        )),
        Err(e) => Err(Failure::new(EXIT_USAGE, e.to_string())),
    }
}

fn find_snapshot(m: &Machine, address: &str) -> Result<String, Failure> {
    resolve_snapshot(m, address).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))
}

/// Run a parsed command line (not the TUI).
pub async fn run(cli: &Cli, s: &Session) -> Result<(), Failure> {
    let Some(cmd) = &cli.command else {
        return Ok(());
    };
    // First run: a command with nothing to read says where a profile goes, not an empty
    // answer that looks like an empty estate.
    if needs_profile(cmd) && s.engine.profiles().is_empty() {
        return Err(Failure::new(EXIT_USAGE, setup::no_profile(&s.paths)));
    }
    match cmd {
        Cmd::Ls { filter } => ls(cli, s, filter.as_deref()).await,
        Cmd::Tree {
            machine,
            date,
            description,
        } => {
            let m = find_machine(s, machine).await?;
            if let Some(why) = m.unreadable_sentence() {
                return Err(Failure::new(EXIT_FAILED, why));
            }
            let columns = output::TreeColumns {
                date: *date,
                description: *description,
            };
            let protect = crate::model::cleanup::Protect::new(&s.config.cleanup.protect);
            output::print_tree(&m, cli.json, columns, &protect);
            Ok(())
        }
        Cmd::Take { machine, .. }
        | Cmd::Replace { machine, .. }
        | Cmd::Pin { machine, .. }
        | Cmd::Unpin { machine, .. }
        | Cmd::Revert { machine, .. }
        | Cmd::Rm { machine, .. }
        | Cmd::Consolidate { machine }
        | Cmd::Rename { machine, .. } => one_change(cli, s, cmd, machine).await,
        Cmd::Backup { command } => backup::run(cli, s, command).await,
        Cmd::Option {
            command:
                OptionCmd::Order {
                    machine,
                    option,
                    duration,
                    dry_run,
                },
        } => {
            option::order(
                cli,
                s,
                machine,
                (*option).into(),
                duration.as_deref(),
                *dry_run,
            )
            .await
        }
        Cmd::Config {
            command: ConfigCmd::Check,
        } => setup::config_check(s, cli.json).await,
        Cmd::Config {
            command: ConfigCmd::Init,
        } => setup::config_init(cli),
        Cmd::Info => {
            output::print_info(&s.paths, cli.json);
            Ok(())
        }
        Cmd::Prune {
            filter,
            older_than,
            names,
            expired,
            keep_last,
            keep_daily,
            keep_weekly,
            keep_monthly,
            include_protected,
            dry_run,
            allow_low_space,
        } => {
            let args = prune::Args {
                allow_low_space: *allow_low_space,
                filter: filter.as_deref(),
                older_than: older_than.as_deref(),
                names,
                expired: *expired,
                keep_last: *keep_last,
                tiers: crate::model::retention::Tiers {
                    daily: *keep_daily,
                    weekly: *keep_weekly,
                    monthly: *keep_monthly,
                },
                include_protected: *include_protected,
                dry_run: *dry_run,
            };
            prune::run(cli, s, &args).await
        }
        Cmd::Report {
            filter,
            format,
            all,
            columns,
            output,
        } => {
            let columns = report::Columns {
                named: columns.clone(),
                wide: output.is_some(),
            };
            report::report(cli, s, filter.as_deref(), *format, *all, &columns).await
        }
        Cmd::Check {
            filter,
            limits,
            format,
            include_protected,
        } => {
            report::check(
                cli,
                s,
                filter.as_deref(),
                limits,
                *format,
                *include_protected,
            )
            .await
        }
        Cmd::Demo | Cmd::Sim { .. } | Cmd::Completions { .. } | Cmd::Man | Cmd::Login { .. } => {
            Ok(())
        }
    }
}

/// `ls`: every machine the filter selects, a line (or a JSON object) each, read chunk by
/// chunk; each machine listed but not read is said after the listing (exit 1).
async fn ls(cli: &Cli, s: &Session, filter: Option<&str>) -> Result<(), Failure> {
    // Each machine listed but not read, said after the listing (exit 1, as for a
    // profile that could not be read).
    let filter_rule = crate::model::filter::Filter::new(filter.unwrap_or(""));
    let unreadable = std::sync::Mutex::new(Vec::new());
    let shown = |m: &Machine| {
        let shown = filter_rule.matches(m);
        if shown && let Some(why) = m.unreadable_sentence() {
            unreadable
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(why);
        }
        shown
    };
    let t = &s.thresholds;
    let now = chrono::Utc::now();
    let (matched, errors) = if cli.json {
        let (lines, errors) =
            read_each(&s.engine, |m| shown(&m).then(|| output::ls_json(&m, t))).await;
        output::print_ls_json(&lines, &errors);
        (lines.len(), errors)
    } else {
        let (rows, errors) =
            read_each(&s.engine, |m| shown(&m).then(|| output::ls_row(&m, t, now))).await;
        output::print_ls_table(&rows);
        (rows.len(), errors)
    };
    let mut unreadable = unreadable
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    unreadable.sort();
    tell_no_match(s, filter, matched, &errors);
    all_read(&errors, unreadable)
}

/// `take --quiesce-timeout`: whole minutes within vSphere's bounds, and only with `-q`.
fn quiesce_limit(text: Option<&str>, quiesce: bool) -> Result<Option<u16>, Failure> {
    let Some(text) = text else { return Ok(None) };
    if !quiesce {
        return Err(Failure::new(
            EXIT_USAGE,
            change::QUIESCE_TIMEOUT_NEEDS_QUIESCE,
        ));
    }
    crate::model::operation::parse_quiesce_timeout(text)
        .map(Some)
        .map_err(|m| Failure::new(EXIT_USAGE, format!("--quiesce-timeout {m}")))
}

/// A change of one machine (`take`, `replace`, `pin`, `unpin`, `revert`, `rm`,
/// `consolidate`, `rename`): the machine found at `machine`, the operation made from the
/// command line, then the change's flow (`change`).
async fn one_change(cli: &Cli, s: &Session, cmd: &Cmd, machine: &str) -> Result<(), Failure> {
    if let Cmd::Rename {
        name: None,
        description: None,
        ..
    } = cmd
    {
        return Err(Failure::new(
            EXIT_USAGE,
            "rename needs --name or --description",
        ));
    }
    let m = find_machine(s, machine).await?;
    match cmd {
        Cmd::Take {
            name,
            description,
            memory,
            quiesce,
            quiesce_timeout,
            expires,
            ..
        } => {
            let quiesce_timeout = quiesce_limit(quiesce_timeout.as_deref(), *quiesce)?;
            let name = name
                .clone()
                .unwrap_or_else(|| change::default_name_for(&m, chrono::Utc::now()));
            // A one-snapshot machine names its snapshot by the description.
            let description = description.clone().unwrap_or_else(|| {
                if m.capabilities.replace {
                    name.clone()
                } else {
                    String::new()
                }
            });
            let op = Operation::Take {
                description: expiring(&description, expires.as_deref(), &m)?,
                name,
                memory: *memory,
                quiesce: *quiesce,
                quiesce_timeout,
            };
            change(cli, s, &m, op).await
        }
        Cmd::Replace {
            description,
            expires,
            ..
        } => {
            let description = description
                .clone()
                .unwrap_or_else(|| change::default_name(chrono::Utc::now()));
            let op = Operation::Replace {
                description: expiring(&description, expires.as_deref(), &m)?,
            };
            change(cli, s, &m, op).await
        }
        Cmd::Pin { snapshot, .. } | Cmd::Unpin { snapshot, .. } => {
            let pin = matches!(cmd, Cmd::Pin { .. });
            let id = find_snapshot(&m, snapshot)?;
            let Some(node) = m.find(&id) else {
                return Ok(());
            };
            let Some(op) = cleanup::pin_operation(node, pin) else {
                say!(
                    "{}/{} snapshot {id} is {}",
                    m.profile,
                    m.name,
                    if pin { "already pinned" } else { "not pinned" }
                );
                return Ok(());
            };
            change(cli, s, &m, op).await
        }
        Cmd::Revert {
            snapshot,
            suppress_power_on,
            start,
            retake,
            ..
        } => {
            let power = (*suppress_power_on, *start);
            revert(cli, s, &m, snapshot.as_deref(), power, *retake).await
        }
        Cmd::Rm {
            snapshot,
            children,
            all,
            ..
        } => {
            let op = if *all {
                Operation::DeleteAll
            } else {
                let addr = snapshot.as_deref().unwrap_or_default();
                Operation::Delete {
                    snapshot: find_snapshot(&m, addr)?,
                    children: *children,
                }
            };
            change(cli, s, &m, op).await
        }
        Cmd::Consolidate { .. } => change(cli, s, &m, Operation::Consolidate).await,
        Cmd::Rename {
            snapshot,
            name,
            description,
            ..
        } => {
            let op = Operation::Rename {
                snapshot: find_snapshot(&m, snapshot)?,
                name: name.clone(),
                description: description.clone(),
            };
            change(cli, s, &m, op).await
        }
        _ => Ok(()),
    }
}

/// `revert`: to `snapshot` or the current one (the VM left off, a Proxmox guest started, as
/// asked); with `retake` (a VPS), then a new snapshot taken on the machine as read again.
async fn revert(
    cli: &Cli,
    s: &Session,
    m: &Machine,
    snapshot: Option<&str>,
    (suppress_power_on, start): (bool, bool),
    retake: bool,
) -> Result<(), Failure> {
    if retake {
        if let Some(why) = change::retake_unavailable(m) {
            return Err(Failure::new(EXIT_USAGE, format!("--retake: {why}")));
        }
        if cli.no_wait {
            return Err(Failure::new(
                EXIT_USAGE,
                "--retake waits for the restore to end: leave out --no-wait",
            ));
        }
    }
    let op = match snapshot {
        Some(addr) => Operation::Revert {
            snapshot: find_snapshot(m, addr)?,
            suppress_power_on,
            start,
        },
        None => Operation::RevertCurrent {
            suppress_power_on,
            start,
        },
    };
    change(cli, s, m, op).await?;
    if !retake {
        return Ok(());
    }
    // Re-read: the restore consumed the snapshot the new one replaces.
    let m = find_machine(s, &format!("{}/{}", m.profile, m.id)).await?;
    change(cli, s, &m, change::retake(chrono::Utc::now())).await
}

/// `description` with an `[expires …]` marker AGE from now on `m`'s back end's clock (the
/// clock prune reads it on), when asked.
fn expiring(description: &str, age: Option<&str>, m: &Machine) -> Result<String, Failure> {
    let Some(age) = age else {
        return Ok(description.to_string());
    };
    let at = cleanup::expiry_after(m.now(chrono::Utc::now()), age)
        .map_err(|m| Failure::new(EXIT_USAGE, format!("--expires {age}: {m}")))?;
    Ok(cleanup::with_expires(description, at))
}

/// The change's flow (`model::flow`): refused before anything is asked or sent when it
/// cannot apply (read-only: exit 3; anything else: exit 2), the guest agent checked where
/// the profile asks it, the confirmation of a destructive change in its own words, then
/// the questions left; `--yes` answers them all. Then the run.
async fn change(cli: &Cli, s: &Session, m: &Machine, op: Operation) -> Result<(), Failure> {
    let protect = cleanup::Protect::new(&s.config.cleanup.protect);
    // `rm --allow-low-space`: the only change that merges deltas.
    let allow_low_space = matches!(
        cli.command,
        Some(Cmd::Rm {
            allow_low_space: true,
            ..
        })
    );
    let ctx = change::Context {
        allow_low_space,
        now: chrono::Utc::now(),
        type_to_confirm: s.confirm == ConfirmMode::TypeName,
        protect: &protect,
    };
    let writable = |op: &Operation| {
        s.engine
            .ensure_writable(&m.profile, op)
            .map_err(|e| e.to_string())
    };
    let opened = flow::open(m, op, ctx, writable, s.engine.checks_guest(&m.profile)).map_err(
        |r| match r {
            flow::Refused::ReadOnly(why) => Failure::new(EXIT_REFUSED, why),
            flow::Refused::Cannot(why) => Failure::new(EXIT_USAGE, why.0),
        },
    )?;
    let described = opened.change;
    let Some(step) = described.steps.first().cloned() else {
        return Ok(());
    };
    let plan = described.one_by_one;
    if plan && cli.no_wait {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "{}: each deletion is waited for before the next: leave out --no-wait",
                described.summary
            ),
        ));
    }
    let guest = match opened.guest {
        Before::Nothing => None,
        Before::NotNeeded => {
            tell!("{}", guest::NOT_NEEDED);
            None
        }
        Before::Check => {
            let state = s.engine.guest_check(&m.profile, &m.id).await;
            tell!("{}", state.line());
            Some(state)
        }
    };
    if !cli.yes && step.op.is_destructive() {
        confirm(&described)?;
    }
    let machine = format!("{}/{}", m.profile, m.name);
    let mut asked = flow::Asked::default();
    while let Some(question) = asked.next(&described.steps, guest.as_ref(), &machine) {
        if cli.yes {
            tell!("{}", question.answered_by_yes(&machine));
        } else {
            confirm(&change::Change {
                summary: question.prompt(&described.summary, &machine),
                lines: Vec::new(),
                confirmation: change::Confirmation::YesNo,
                ..described.clone()
            })?;
        }
        asked.yes(&question);
    }
    if plan {
        return run_plan(cli, s, m, &described.steps).await;
    }
    execute(cli, s, m, step.op, &step.expected).await
}

/// A change made of single steps on one machine (a snapshot with its descendants, or all
/// of them, where the back end deletes one per call): one after another, each waited for;
/// one that does not succeed stops the rest. With `--json`, one document: each ended
/// step's task summary with its target, the number of steps, and the error if any.
async fn run_plan(
    cli: &Cli,
    s: &Session,
    m: &Machine,
    steps: &[change::Step],
) -> Result<(), Failure> {
    let total = steps.len();
    let mut summaries = Vec::new();
    let mut outcome = Ok(());
    for (i, st) in steps.iter().enumerate() {
        let target = st.op.snapshot().unwrap_or_default();
        tell!("step {}/{total}: {} {target}", i + 1, st.op.name());
        let ended = match follow(cli, s, m, st.op.clone(), &st.expected).await {
            Ok(f) => {
                if let Ok(status) = &f.result {
                    let mut summary = output::task_json(status, f.created.as_deref(), f.elapsed);
                    summary["target"] = serde_json::json!(target);
                    summaries.push(summary);
                }
                finished(cli, false, f)
            }
            Err(failure) => Err(failure),
        };
        if let Err(f) = ended {
            let left = total - i - 1;
            outcome = Err(match left {
                0 => f,
                _ => Failure::new(
                    f.code,
                    format!("{}; the {left} later step(s) were not started", f.message),
                ),
            });
            break;
        }
    }
    if cli.json {
        let mut doc = serde_json::json!({ "plan": summaries, "steps": total });
        if let Err(f) = &outcome {
            doc["error"] = serde_json::json!(f.message);
        }
        say_json!(doc);
    }
    outcome
}

/// The engine's run with progress on stderr, and its result as output and exit code.
async fn execute(
    cli: &Cli,
    s: &Session,
    m: &Machine,
    op: Operation,
    expected: &ExpectedView,
) -> Result<(), Failure> {
    let f = follow(cli, s, m, op, expected).await?;
    if let Some(note) = &f.ordered
        && !cli.json
    {
        say!("{note}");
    }
    finished(cli, cli.json, f)
}

/// A run followed to its end (or, with `--no-wait`, its start).
struct Followed {
    /// `NAME PROFILE/MACHINE`, what the lines about it start with.
    label: String,
    result: Result<crate::model::TaskStatus, RunError>,
    /// The snapshot a take made.
    created: Option<String>,
    elapsed: std::time::Duration,
    /// What an order says (where it is paid).
    ordered: Option<String>,
}

/// The engine's run with progress on stderr; Ctrl-C stops following it (exit 130).
async fn follow(
    cli: &Cli,
    s: &Session,
    m: &Machine,
    op: Operation,
    expected: &ExpectedView,
) -> Result<Followed, Failure> {
    let target = format!("{}/{}", m.profile, m.name);
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let last = std::sync::Mutex::new(String::new());
    let created: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let task: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let label = format!("{} {target}", op.name());
    // An order is no task: what it says (where it is paid) is the command's output.
    let ordered: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let is_order = matches!(op, Operation::Order(_));
    // A line rewritten in place must not wrap (a wrapped one leaves rows behind).
    let cols = crossterm::terminal::size().map_or(80, |(c, _)| usize::from(c));
    let report = |u: RunUpdate| {
        let u_key = match &u {
            RunUpdate::Progress(st) => Some((
                st.state.as_str(),
                st.progress.unwrap_or(0),
                st.message.clone().unwrap_or_default(),
            )),
            RunUpdate::Started { .. } | RunUpdate::Queued | RunUpdate::Created { .. } => None,
        };
        let line = match u {
            RunUpdate::Started { task_id, note } => {
                *task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task_id.clone());
                if is_order {
                    *ordered.lock().unwrap_or_else(|p| p.into_inner()) = note;
                    tell!("{label}: order {task_id} created");
                    return;
                }
                match note {
                    Some(note) => format!("{label}: task {task_id} started; {note}"),
                    None => format!("{label}: task {task_id} started"),
                }
            }
            RunUpdate::Queued => format!("{label}: queued behind another operation"),
            RunUpdate::Created { snapshot } => {
                *created.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot.clone());
                format!("{label}: snapshot {snapshot} created")
            }
            // What the task says while it runs (a Proxmox task's last log line), if it does.
            RunUpdate::Progress(st) => format!(
                "{label}: {}{}{} ({:.0}s)",
                st.state.as_str(),
                st.progress.map(|p| format!(" {p}%")).unwrap_or_default(),
                st.message
                    .filter(|_| !st.state.is_final())
                    .map(|m| format!(" · {m}"))
                    .unwrap_or_default(),
                started.elapsed().as_secs_f64()
            ),
        };
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        // Elapsed time alone is not news; in a log, progress is reported in 10% steps, and
        // each new thing the task says.
        let key = match &u_key {
            Some((state, p, said)) if !tty => format!("{state} {} {said}", p / 10),
            _ => line.split(" (").next().unwrap_or_default().to_string(),
        };
        if key != *last {
            let mut err = std::io::stderr();
            if tty {
                let safe = crate::safe::terminal(&line);
                let _ = write!(
                    err,
                    "\r\x1b[2K{}",
                    crate::safe::fit(&safe, cols.saturating_sub(1))
                );
            } else {
                let _ = writeln!(err, "{}", crate::safe::terminal(&line));
            }
            *last = key;
        }
    };
    let run = s
        .engine
        .run(&m.profile, &m.id, &op, expected, !cli.no_wait, &report);
    // Ctrl-C stops following, never the change: a sent request or a started task goes on
    // on the server, and the audit log already holds its "sent"/"started" lines.
    let result = tokio::select! {
        r = run => r,
        _ = tokio::signal::ctrl_c() => {
            if tty {
                tell!("");
            }
            let task = task.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Err(Failure::new(
                EXIT_INTERRUPTED,
                match task {
                    Some(id) => format!(
                        "{label}: interrupted; task {id} goes on on the server (snaptree does not cancel it)"
                    ),
                    None => format!(
                        "{label}: interrupted; the request may have reached the server: check with snaptree tree {target}"
                    ),
                },
            ));
        }
    };
    if tty {
        tell!("");
    }
    let created = created.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ordered = ordered.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(Followed {
        label,
        result,
        created,
        elapsed: started.elapsed(),
        ordered,
    })
}

/// A run's end as output and exit code: the task summary (and the id a script reads), or
/// the failure in one sentence.
fn finished(cli: &Cli, json: bool, f: Followed) -> Result<(), Failure> {
    let Followed {
        label,
        result,
        created,
        elapsed,
        ..
    } = f;
    match result {
        Ok(status) => {
            output::print_task(&label, &status, created.as_deref(), elapsed, json);
            // With --no-wait the task id is the command's output, for scripts; a take that
            // ended prints the new snapshot's id alone (`id=$(snaptree take web-01)`).
            if !json {
                if cli.no_wait {
                    say!("{}", status.id);
                } else if let Some(id) = &created {
                    say!("{id}");
                }
            }
            match status.state {
                TaskState::Success => Ok(()),
                TaskState::Running | TaskState::Queued if cli.no_wait => Ok(()),
                _ => Err(Failure::new(
                    EXIT_FAILED,
                    format!(
                        "{label} {}: {}",
                        if status.state == TaskState::Cancelled {
                            "was cancelled"
                        } else {
                            "failed"
                        },
                        status
                            .message
                            .unwrap_or_else(|| "the back end gave no reason".into())
                    ),
                )),
            }
        }
        Err(RunError::Refused(m) | RunError::Skipped(m)) => {
            Err(Failure::new(EXIT_REFUSED, format!("{label}: {m}")))
        }
        Err(RunError::Failed(m)) => Err(Failure::new(EXIT_FAILED, format!("{label} failed: {m}"))),
        // Refused, yet exit 1: snaptree's own failure (the audit log), not the operator's.
        Err(RunError::Unrecorded(m)) => Err(Failure::new(EXIT_FAILED, format!("{label}: {m}"))),
        // Not "failed": the change may have happened; the sentence says what a re-read showed.
        Err(RunError::Unknown(m)) => Err(Failure::new(
            EXIT_FAILED,
            format!("{label}: the outcome is unknown: {m}"),
        )),
    }
}

/// Ask on a terminal, in the words the TUI dialog uses; without one, refuse (exit 3):
/// `--yes` is required.
fn confirm(c: &change::Change) -> Result<(), Failure> {
    let what = &c.summary;
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            EXIT_REFUSED,
            format!("refusing to {what} without confirmation: no terminal to ask on; pass --yes"),
        ));
    }
    let mut prompt = format!("About to {}.\n", crate::safe::terminal(what));
    for line in &c.lines {
        prompt.push_str(&format!("  {}\n", crate::safe::terminal(line)));
    }
    let confirmation = match &c.confirmation {
        change::Confirmation::None => change::Confirmation::YesNo,
        other => other.clone(),
    };
    prompt.push_str(&format!("{}: ", confirmation.prompt()));
    let mut err = std::io::stderr();
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if confirmation.accepts(&answer) {
        Ok(())
    } else {
        Err(Failure::new(EXIT_REFUSED, "not confirmed; nothing changed"))
    }
}

/// Build the engine for this command line (demo or configured profiles).
pub async fn session(cli: &Cli) -> Result<Arc<Session>, Failure> {
    setup::session(cli).await.map(Arc::new)
}
