//! The audit log: one JSON line per change made through snaptree (SPEC §5).

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

/// One audit record.
#[derive(Debug, Serialize)]
pub struct AuditRecord<'a> {
    /// RFC 3339 UTC.
    pub time: String,
    /// OS user running snaptree.
    pub user: String,
    /// Profile.
    pub profile: &'a str,
    /// Machine id.
    pub machine: &'a str,
    /// Operation name.
    pub operation: &'a str,
    /// Target snapshot id, if any.
    pub target: Option<&'a str>,
    /// `success`, `error: …`, `cancelled`, `refused: …`.
    pub result: &'a str,
    /// Back-end task id, if one was started.
    pub task_id: Option<&'a str>,
}

/// Appends records to a file; `None` disables it (tests of the app).
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: Option<PathBuf>,
}

impl AuditLog {
    /// A log appending to `path`.
    pub fn new(path: Option<PathBuf>) -> Self {
        AuditLog { path }
    }

    /// Append one record; failures are logged, never fatal to the change itself.
    pub fn append(&self, record: &AuditRecord<'_>) {
        let Some(path) = &self.path else { return };
        let line = match serde_json::to_string(record) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("audit record not serialisable: {e}");
                return;
            }
        };
        let write = || -> std::io::Result<()> {
            let mut f = open_private(path)?;
            writeln!(f, "{line}")
        };
        if let Err(e) = write() {
            tracing::error!("cannot write the audit log {}: {e}", path.display());
        }
    }
}

/// Open `path` for appending, readable by its owner only: the file 0600 (tightened if it
/// was looser), its directory created 0700. The log and the audit log name machines,
/// snapshots and users; they are nobody else's to read.
pub fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let perms = f.metadata()?.permissions();
    if perms.mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

/// The OS user, for audit records; looked up once per process (a change writes several
/// lines, and the fallback runs `id -un`).
pub fn os_user() -> String {
    static USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    USER.get_or_init(lookup_user).clone()
}

fn lookup_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(|| {
            // Containers and cron jobs often run without USER set.
            let out = std::process::Command::new("id").arg("-un").output().ok()?;
            let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !name.is_empty()).then_some(name)
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/audit.log");
        let log = AuditLog::new(Some(path.clone()));
        for result in ["success", "refused: read-only"] {
            log.append(&AuditRecord {
                time: "2026-11-01T10:00:00Z".into(),
                user: "op".into(),
                profile: "lab",
                machine: "vm-1",
                operation: "delete",
                target: Some("snapshot-1"),
                result,
                task_id: Some("task-9"),
            });
        }
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["result"], "refused: read-only");
        assert_eq!(lines[0]["task_id"], "task-9");
    }

    #[test]
    fn the_audit_log_is_its_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/snaptree/audit.log");
        drop(open_private(&path).unwrap());
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // A file left readable by an older version is tightened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(open_private(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
    }
}
