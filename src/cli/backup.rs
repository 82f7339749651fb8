//! `snaptree backup`: a VPS's automated backup (docs/backups.md) — its daily time and its
//! restore points, as the inventory read them; restore, detach and reschedule, each a
//! change through the one flow.

use serde_json::json;

use super::setup::Session;
use super::{BackupCmd, Cli, EXIT_USAGE, Failure, find_machine};
use crate::model::backups::{self, Backups};
use crate::model::{BackupOp, Machine, Operation, ProviderKind};
use crate::{say, say_json};

/// The machine's backups, or why it has none to show (exit 1 when they could not be read).
fn backups_of(m: &Machine) -> Result<&Backups, Failure> {
    backups::subscribed(m).map_err(|why| {
        let code = if m.provider == ProviderKind::Ovh && m.backups.is_none() {
            super::EXIT_FAILED
        } else {
            EXIT_USAGE
        };
        Failure::new(code, why)
    })
}

/// `backup restore --mode`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Mode {
    /// The whole VPS returns to the restore point.
    Full,
    /// The restore point is mounted as files beside the VPS.
    File,
}

/// `backup …`: list, or one change through the change's flow (`super::change`).
pub async fn run(cli: &Cli, s: &Session, command: &BackupCmd) -> Result<(), Failure> {
    let machine = match command {
        BackupCmd::Ls { machine }
        | BackupCmd::Restore { machine, .. }
        | BackupCmd::Detach { machine, .. }
        | BackupCmd::Schedule { machine, .. } => machine,
    };
    if let BackupCmd::Ls { .. } = command {
        return ls(cli, s, machine).await;
    }
    let m = find_machine(s, machine).await?;
    let b = backups_of(&m)?;
    let usage = |why: String| Failure::new(EXIT_USAGE, why);
    let op = match command {
        BackupCmd::Restore { point, mode, .. } => {
            let times: Vec<_> = b.restore_points.iter().map(|p| p.time).collect();
            let t = backups::resolve_point(&times, point, "restore point").map_err(usage)?;
            BackupOp::Restore {
                point: backups::point_id(t),
                full: matches!(mode, Mode::Full),
            }
        }
        BackupCmd::Detach { point, .. } => {
            let times: Vec<_> = b.attached.iter().map(|a| a.time).collect();
            let t =
                backups::resolve_point(&times, point, "mounted restore point").map_err(usage)?;
            BackupOp::Detach {
                point: backups::point_id(t),
            }
        }
        BackupCmd::Schedule { time, .. } => BackupOp::Reschedule {
            schedule: backups::parse_schedule(time).map_err(usage)?,
        },
        BackupCmd::Ls { .. } => return Ok(()),
    };
    super::change(cli, s, &m, Operation::Backup(op)).await
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `backup ls MACHINE`: the state, the daily time, each restore point (newest first) with
/// its state and age, and the mounted ones with their addresses.
async fn ls(cli: &Cli, s: &Session, machine: &str) -> Result<(), Failure> {
    let m = find_machine(s, machine).await?;
    let b = backups_of(&m)?;
    if cli.json {
        say_json!(json!({
            "state": b.state,
            "schedule": b.schedule,
            "restore_points": b.restore_points.iter().map(|p| json!({
                "time": rfc3339(p.time),
                "state": p.state.as_str(),
            })).collect::<Vec<_>>(),
            "attached": b.attached.iter().map(|a| json!({
                "time": rfc3339(a.time),
                "nfs": a.nfs,
                "smb": a.smb,
            })).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    let now = chrono::Utc::now();
    say!(
        "{}/{}: automated backup {}",
        m.profile,
        m.name,
        b.summary(|t| m.age_of(t, now))
    );
    for p in &b.restore_points {
        say!(
            "  {}  {:<9}  {} ago",
            backups::point_label(p.time),
            p.state.as_str(),
            crate::model::health::format_age(m.age_of(p.time, now))
        );
    }
    for a in &b.attached {
        say!(
            "  mounted {}: nfs {} · smb {}",
            backups::point_label(a.time),
            a.nfs.as_deref().unwrap_or("-"),
            a.smb.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
