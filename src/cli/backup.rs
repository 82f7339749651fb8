//! `snaptree backup`: a VPS's automated backup (docs/backups.md) — its daily time and its
//! restore points, as the inventory read them.

use serde_json::json;

use super::setup::Session;
use super::{Cli, EXIT_USAGE, Failure, find_machine};
use crate::model::backups::Backups;
use crate::model::{Machine, ProviderKind};
use crate::{say, say_json};

/// The machine's backups, or why it has none to show.
fn backups_of(m: &Machine) -> Result<&Backups, Failure> {
    let who = format!("{}/{}", m.profile, m.name);
    if m.provider != ProviderKind::Ovh {
        return Err(Failure::new(
            EXIT_USAGE,
            format!("{who} is a vSphere VM: automated backups are an OVHcloud VPS's"),
        ));
    }
    match m.backups.as_deref() {
        Some(b) if b.subscribed => Ok(b),
        Some(_) => Err(Failure::new(
            EXIT_USAGE,
            format!("{who} has no automated backup: the automatedBackup option is not subscribed"),
        )),
        None => Err(Failure::new(
            super::EXIT_FAILED,
            format!(
                "the automated backup of {who} could not be read{}",
                m.details
                    .iter()
                    .find(|(k, _)| k == "automated backups")
                    .map(|(_, v)| format!(": {v}"))
                    .unwrap_or_default()
            ),
        )),
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `backup ls MACHINE`: the state, the daily time, each restore point (newest first) with
/// its state and age, and the mounted ones with their addresses.
pub async fn ls(cli: &Cli, s: &Session, machine: &str) -> Result<(), Failure> {
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
            p_time(p.time),
            p.state.as_str(),
            crate::model::health::format_age(m.age_of(p.time, now))
        );
    }
    for a in &b.attached {
        say!(
            "  mounted {}: nfs {} · smb {}",
            p_time(a.time),
            a.nfs.as_deref().unwrap_or("-"),
            a.smb.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

fn p_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
