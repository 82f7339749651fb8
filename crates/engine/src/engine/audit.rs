//! The audit log: one JSON line per change made through snaptree (docs/safety.md, "Audit log").

use std::io::Write;
use std::path::{Path, PathBuf};

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

/// Why a record is not in the audit log: one sentence naming the file and the cause.
#[derive(Debug, thiserror::Error)]
#[error("the audit log {} cannot record it ({source})", path.display())]
pub struct AuditError {
    path: PathBuf,
    source: std::io::Error,
}

impl AuditLog {
    /// A log appending to `path`.
    pub fn new(path: Option<PathBuf>) -> Self {
        AuditLog { path }
    }

    /// Append one record and flush it to disk; `Ok` only when the whole line is durably
    /// written (docs/safety.md, "Audit log": a change is sent only once its "sent" record
    /// is). The line and its newline go in one write on a file opened for appending, under
    /// an exclusive lock, so records of several processes never interleave; a write cut
    /// short (a full disk, a file size limit) is taken back, and a line left cut by a
    /// process killed mid-write is ended first, so the next record always starts a line of
    /// its own.
    pub fn append(&self, record: &AuditRecord<'_>) -> Result<(), AuditError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let failed = |source: std::io::Error| AuditError {
            path: path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| failed(e.into()))?;
        line.push(b'\n');
        let file = open_private(path).map_err(failed)?;
        write_record(&file, line).map_err(failed)
    }
}

/// One record at the end of `file`, whole and on disk, or nothing.
fn write_record(mut file: &std::fs::File, mut line: Vec<u8>) -> std::io::Result<()> {
    use rustix::fs::{FlockOperation, flock};
    use std::os::unix::fs::FileExt;
    // Released when the file is closed, whatever happens below. A file system without
    // locks (an NFS home without lockd) still gets one append per record.
    match flock(file, FlockOperation::LockExclusive) {
        Ok(()) | Err(rustix::io::Errno::NOLCK | rustix::io::Errno::OPNOTSUPP) => {}
        Err(e) => return Err(e.into()),
    }
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.read_exact_at(&mut last, len - 1)?;
        if last[0] != b'\n' {
            line.insert(0, b'\n');
        }
    }
    let written = file.write_all(&line).and_then(|()| file.sync_data());
    if written.is_err() {
        // Take back whatever part of the line reached the file; it records nothing.
        let _ = file.set_len(len);
        let _ = file.sync_data();
    }
    written
}

/// Open `path` for appending, readable by its owner only, without following links: its
/// directory must be the user's own directory (created 0700 if missing) and the file the
/// user's own regular file with no other name (created 0600 if missing). Anything else
/// (a planted symbolic or hard link, another user's file) is refused, never written
/// through or changed. The log and the audit log name machines, snapshots and users;
/// they are nobody else's to read.
pub fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags, fstat, fsync, openat};
    use std::os::unix::fs::DirBuilderExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(refused(path, "is not a file name"));
    };
    if std::fs::symlink_metadata(dir).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let me = rustix::process::geteuid().as_raw();
    let dir_fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
            refused(dir, "is a symbolic link or not a directory")
        }
        e => e.into(),
    })?;
    if fstat(&dir_fd)?.st_uid != me {
        return Err(refused(dir, "belongs to another user"));
    }
    let flags = OFlags::RDWR | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    // Another snaptree may create the file between the two calls: then it is opened as
    // an existing one, once more.
    let mut tries = 0;
    let (fd, created) = loop {
        tries += 1;
        match openat(&dir_fd, name, flags, Mode::empty()) {
            Ok(fd) => break (fd, false),
            Err(rustix::io::Errno::NOENT) => {
                match openat(
                    &dir_fd,
                    name,
                    flags | OFlags::CREATE | OFlags::EXCL,
                    Mode::from_raw_mode(0o600),
                ) {
                    Ok(fd) => {
                        // The new name is on disk too, not only the bytes written later.
                        fsync(&dir_fd)?;
                        break (fd, true);
                    }
                    Err(rustix::io::Errno::EXIST) if tries < 2 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(rustix::io::Errno::LOOP) => return Err(refused(path, "is a symbolic link")),
            Err(e) => return Err(e.into()),
        }
    };
    let st = fstat(&fd)?;
    if !created {
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(refused(path, "is not a regular file"));
        }
        if st.st_uid != me {
            return Err(refused(path, "belongs to another user"));
        }
        if st.st_nlink != 1 {
            return Err(refused(path, "has other names (hard links)"));
        }
    }
    Ok(std::fs::File::from(fd))
}

/// A state file or directory snaptree will not use, and why.
fn refused(path: &Path, why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!("{} {why}; snaptree will not write there", path.display()),
    )
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
            })
            .unwrap();
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

    fn record(result: &str) -> AuditRecord<'_> {
        AuditRecord {
            time: "2026-11-01T10:00:00Z".into(),
            user: "op".into(),
            profile: "lab",
            machine: "vm-1",
            operation: "take",
            target: None,
            result,
            task_id: None,
        }
    }

    /// Many writers at once (the TUI's workers, several snaptree processes): each record
    /// is one line of its own, never two glued together or one cut by another.
    #[test]
    fn concurrent_appenders_write_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let (writers, each) = (8, 300);
        std::thread::scope(|s| {
            for w in 0..writers {
                let log = AuditLog::new(Some(path.clone()));
                s.spawn(move || {
                    let result = format!("writer {w} {}", "x".repeat(300));
                    for _ in 0..each {
                        log.append(&record(&result)).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for l in &lines {
            assert!(
                serde_json::from_str::<serde_json::Value>(l).is_ok(),
                "not one record: {l}"
            );
        }
        assert_eq!(lines.len(), writers * each);
    }

    /// A record cut short (a process killed mid-write, a full disk) is not glued to the
    /// next one: the next record starts on a line of its own.
    #[test]
    fn a_cut_record_is_not_glued_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "{\"time\":\"2026-11-01T1").unwrap();
        AuditLog::new(Some(path.clone()))
            .append(&record("sent"))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let last = text.lines().last().unwrap();
        let v: serde_json::Value = serde_json::from_str(last).unwrap();
        assert_eq!(v["result"], "sent");
        assert!(text.ends_with('\n'));
    }

    /// A link planted in the log's place, or as its directory, is refused: the file it
    /// points to is neither written nor chmod'ed.
    #[test]
    fn planted_links_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let path = state.join("audit.log");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let e = AuditLog::new(Some(path.clone()))
            .append(&record("sent"))
            .unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // A second name of another file (a hard link) is refused too.
        std::fs::remove_file(&path).unwrap();
        std::fs::hard_link(&victim, &path).unwrap();
        assert!(open_private(&path).is_err());
        std::fs::remove_file(&path).unwrap();
        // The directory itself a link.
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&state, &linked).unwrap();
        assert!(open_private(&linked.join("audit.log")).is_err());
        assert!(
            !path.exists(),
            "nothing created through the linked directory"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
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
        // A file snaptree did not create is used as it is, never chmod'ed.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        drop(open_private(&path).unwrap());
        assert_eq!(mode(&path), 0o640);
    }
}
