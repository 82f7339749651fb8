//! The words of a VPS automated backup's changes (docs/backups.md): a full restore says
//! what is lost, as a revert does; a mount, a detach and a new daily time say what they do.

use super::{Confirmation, FormField, Input, Refusal, Said};
use crate::model::backups::{self, point_label, point_time};
use crate::model::health::format_age;
use crate::model::{BackupOp, Machine};

/// Describe `op` on `m`, or say why it cannot be asked for.
pub(super) fn describe(
    m: &Machine,
    op: &BackupOp,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Said, Refusal> {
    if let Some(why) = backups::refusal(m, op) {
        return Err(Refusal(why));
    }
    let who = format!("{}/{}", m.profile, m.name);
    // `refusal` has checked the point's time and the backup.
    let point = |id: &str| {
        point_time(id)
            .map(|t| format!("{} ({} ago)", point_label(t), format_age(m.age_of(t, now))))
            .unwrap_or_else(|| id.to_string())
    };
    let said = match op {
        BackupOp::Restore { point: id, full: true } => Said {
            title: format!("Restore {} from its automated backup", m.name),
            summary: format!(
                "restore {who} whole from the backup of {}; changes since are lost",
                point(id)
            ),
            lines: vec![
                format!("Restore {who} whole from the restore point of {}.", point(id)),
                "The VPS's disk returns to that backup: everything written since is lost.".into(),
                "The VPS is unreachable while its disk is restored.".into(),
            ],
            fields: Vec::new(),
            typed: true,
            confirmation: Confirmation::YesNo,
        },
        BackupOp::Restore { point: id, full: false } => Said {
            title: format!("Mount a backup of {}", m.name),
            summary: format!("mount the backup of {} on {who}", point(id)),
            lines: vec![
                format!("Mount the restore point of {} of {who}.", point(id)),
                "Its files become reachable over NFS and SMB at the addresses listed with it (b, snaptree backup ls); the VPS itself does not change.".into(),
                "Detach it when done: a mounted point cannot be restored whole.".into(),
            ],
            fields: Vec::new(),
            typed: false,
            confirmation: Confirmation::YesNo,
        },
        BackupOp::Detach { point: id } => {
            let at = point_time(id).and_then(|t| {
                m.backups
                    .as_deref()
                    .and_then(|b| b.mounted(t))
                    .and_then(|a| a.nfs.clone().or_else(|| a.smb.clone()))
            });
            Said {
                title: format!("Detach a backup of {}", m.name),
                summary: format!("detach the backup of {} from {who}", point(id)),
                lines: vec![
                    format!("Detach the mounted restore point of {} of {who}.", point(id)),
                    match at {
                        // Foreign text: written out.
                        Some(a) => format!(
                            "Its files are no longer reachable at {}; the restore point stays.",
                            crate::safe::terminal(&a)
                        ),
                        None => "Its files are no longer reachable; the restore point stays.".into(),
                    },
                ],
                fields: Vec::new(),
                typed: false,
                confirmation: Confirmation::YesNo,
            }
        }
        BackupOp::Reschedule { schedule } => {
            let was = m
                .backups
                .as_deref()
                .and_then(backups::Backups::daily)
                .unwrap_or_else(|| "no time".into());
            let short = schedule.strip_suffix(":00").unwrap_or(schedule);
            Said {
                title: format!("Move the daily backup of {}", m.name),
                summary: format!("move the daily backup of {who} to {short} UTC"),
                lines: vec![format!(
                    "The daily backup of {who} runs at {was}; from now on at the time below (UTC)."
                )],
                // Typing replaces the time shown.
                fields: vec![FormField::text_proposing(
                    Input::Schedule,
                    "Daily time (HH:MM, UTC)",
                    short,
                    short,
                )],
                typed: false,
                confirmation: Confirmation::None,
            }
        }
    };
    Ok(said)
}

/// The daily time the form's answer sets (`HH:MM:SS`), or why it is not one.
pub(super) fn answered_schedule(text: &str) -> Result<String, Refusal> {
    backups::parse_schedule(text).map_err(|m| Refusal(format!("daily time: {m}")))
}
