//! The OVHcloud VPS back end: the OVH API client (signing, endpoints, credentials, clock
//! delta, errors) and the VPS snapshot calls mapped onto `model` types.

pub mod client;
pub mod credentials;
/// The OVH endpoints (what the configuration accepts as `endpoint`).
pub use crate::config::endpoint;
pub mod login;
pub mod order;
pub mod sign;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

pub use client::{ApiError, ApiErrorKind, ClientOptions, OvhClient, RetryPolicy};
pub use credentials::{Auth, Credentials, Sources};
pub use endpoint::Endpoint;

use super::{DownloadLink, PartialInventory, ProgressSink, Provider, ProviderError, StartedTask};
use crate::config::ProfileConfig;
use crate::model::BackupOp;
use crate::model::backups::{self, Attached, Backups, RestorePoint, RestoreState};
use crate::model::{
    Capabilities, GuestTools, Machine, Operation, PowerState, ProviderKind, Snapshot, TaskState,
    TaskStatus,
};
use client::seg;

/// The access rules snaptree needs (the snapshot and the automated backup's changes),
/// checked by `check()`.
pub const SNAPSHOT_CALLS: &[(&str, &str)] = &[
    ("GET", "/vps"),
    ("GET", "/vps/{serviceName}/snapshot"),
    ("POST", "/vps/{serviceName}/createSnapshot"),
    ("POST", "/vps/{serviceName}/snapshot/revert"),
    ("POST", "/vps/{serviceName}/abortSnapshot"),
    ("PUT", "/vps/{serviceName}/snapshot"),
    ("DELETE", "/vps/{serviceName}/snapshot"),
    ("POST", "/vps/{serviceName}/automatedBackup/restore"),
    ("POST", "/vps/{serviceName}/automatedBackup/detachBackup"),
    ("POST", "/vps/{serviceName}/automatedBackup/reschedule"),
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireVps {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    model: Option<WireModel>,
    #[serde(default)]
    offer_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireModel {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

/// The options a VPS has subscribed, of those snaptree reads.
#[derive(Clone, Copy, Debug)]
struct Options {
    /// `snapshot`: a snapshot can be taken.
    snapshot: bool,
    /// `automatedBackup`: daily restore points.
    backups: bool,
}

#[derive(Debug, Deserialize)]
struct WireBackup {
    #[serde(default)]
    schedule: Option<String>,
    state: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAttached {
    restore_point: String,
    #[serde(default)]
    access: Option<WireAccess>,
}

#[derive(Debug, Deserialize)]
struct WireAccess {
    #[serde(default)]
    nfs: Option<String>,
    #[serde(default)]
    smb: Option<String>,
}

/// A time the API gives (RFC 3339), read from `path`'s answer.
fn api_time(text: &str, path: &str) -> Result<DateTime<Utc>, ProviderError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ProviderError::Backend(format!(
                "GET {path}: bad time {:?}: {e}",
                crate::safe::capped(text, 80)
            ))
        })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSnapshot {
    id: String,
    creation_date: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireTask {
    id: i64,
    #[serde(default)]
    progress: Option<i64>,
    state: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct WireDownload {
    url: String,
    size: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRule {
    method: String,
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCredential {
    #[serde(default)]
    credential_id: Option<i64>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
    #[serde(default)]
    rules: Vec<WireRule>,
}

/// Whether a service name may be put in a URL path: a host name as VPS names are (labels of
/// letters, digits, `-` and `_`, joined by single dots, at most 253 characters). Anything
/// else (`..`, `/`, a control character) is refused, never escaped and sent: a path that a
/// client or a proxy normalises would reach another resource.
pub fn valid_service_name(sn: &str) -> bool {
    !sn.is_empty()
        && sn.len() <= 253
        && sn.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The API path of a VPS, or the refusal of a service name that is not one.
fn vps_path(sn: &str) -> Result<String, ProviderError> {
    if valid_service_name(sn) {
        Ok(format!("/vps/{}", seg(sn)))
    } else {
        Err(ProviderError::InvalidState(format!(
            "{:?} is not a valid VPS service name; snaptree does not put it in a request",
            crate::safe::capped(sn, 80)
        )))
    }
}

/// One OVH account (one profile) as a `Provider`.
pub struct OvhProvider {
    profile: String,
    client: OvhClient,
    concurrency: usize,
    poll: Duration,
}

impl std::fmt::Debug for OvhProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvhProvider")
            .field("profile", &self.profile)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl OvhProvider {
    /// A provider for a configured profile; credentials missing from the profile come from
    /// `OVH_*` variables and `ovh.conf`, as the official clients read them.
    pub fn from_profile(name: &str, cfg: &ProfileConfig) -> Result<Self, String> {
        Self::from_profile_with(name, cfg, &Sources::system())
    }

    /// As `from_profile`, with the environment and `ovh.conf` files given explicitly.
    pub fn from_profile_with(
        name: &str,
        cfg: &ProfileConfig,
        sources: &Sources,
    ) -> Result<Self, String> {
        if let Some(kind) = cfg.kind
            && kind != ProviderKind::Ovh
        {
            return Err(format!(
                "profile {name} is of kind {}, not ovh",
                kind.as_str()
            ));
        }
        let creds = credentials::resolve(name, cfg, sources)?;
        if cfg.concurrency == Some(0) {
            return Err(format!("profile {name}: concurrency must be at least 1"));
        }
        if let Some(r) = cfg.requests_per_second
            && !(r > 0.0 && r.is_finite())
        {
            return Err(format!(
                "profile {name}: requests_per_second must be a positive number"
            ));
        }
        let opts = ClientOptions {
            concurrency: cfg.concurrency.unwrap_or(8),
            requests_per_second: cfg.requests_per_second,
            timeout: cfg.request_timeout(name)?,
            ..ClientOptions::default()
        };
        Self::new(name, creds, opts)
    }

    /// A provider from resolved credentials and client options.
    pub fn new(profile: &str, creds: Credentials, opts: ClientOptions) -> Result<Self, String> {
        let concurrency = opts.concurrency.max(1);
        Ok(OvhProvider {
            profile: profile.to_string(),
            client: OvhClient::new(creds, opts)?,
            concurrency,
            poll: Duration::from_secs(1),
        })
    }

    /// Change how often `follow` polls a task (1 s by default).
    #[must_use]
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// The underlying API client.
    pub fn client(&self) -> &OvhClient {
        &self.client
    }

    fn bare(&self, sn: &str) -> Machine {
        Machine {
            backups: None,
            storage: None,
            profile: self.profile.clone(),
            provider: ProviderKind::Ovh,
            id: sn.to_string(),
            name: sn.to_string(),
            location: Vec::new(),
            path: format!("/{sn}"),
            power_state: PowerState::Unknown,
            tools: GuestTools::NotReported,
            consolidation_needed: false,
            snapshot_option: None,
            snapshots: Vec::new(),
            current: None,
            capabilities: Capabilities::vps(),
            details: Vec::new(),
            loaded: false,
            running_tasks: Vec::new(),
            memory_mb: None,
            instance: None,
            unreadable: None,
            clock_offset_secs: 0,
        }
    }

    /// The options subscribed on a VPS (`GET /vps/{sn}/option` lists the subscribed ones:
    /// one call tells the snapshot option and the automated backup's) and its snapshot (404
    /// meaning none).
    async fn options_and_snapshot(
        &self,
        sn: &str,
    ) -> Result<(Options, Option<WireSnapshot>), ProviderError> {
        let base = vps_path(sn)?;
        let (opt_path, snap_path) = (format!("{base}/option"), format!("{base}/snapshot"));
        let (listed, snap) = futures::try_join!(
            self.client.get::<Vec<String>>(&opt_path),
            self.client.get_opt::<WireSnapshot>(&snap_path),
        )
        .map_err(ProviderError::from)?;
        let has = |name: &str| listed.iter().any(|o| o == name);
        let options = Options {
            snapshot: has("snapshot"),
            backups: has("automatedBackup"),
        };
        Ok((options, snap))
    }

    /// A VPS's automated backup, whose option is subscribed: the backup, its restore points
    /// in each state and the mounted ones, all at once.
    async fn backups(&self, sn: &str) -> Result<Backups, ProviderError> {
        let base = format!("{}/automatedBackup", vps_path(sn)?);
        let points = |state: RestoreState| {
            let path = format!("{base}/restorePoints?state={}", state.as_str());
            async move {
                let times = self.client.get::<Vec<String>>(&path).await?;
                times
                    .iter()
                    .map(|t| {
                        Ok(RestorePoint {
                            time: api_time(t, &path)?,
                            state,
                        })
                    })
                    .collect::<Result<Vec<_>, ProviderError>>()
            }
        };
        let attached_path = format!("{base}/attachedBackup");
        let (backup, available, restoring, restored, attached) = futures::try_join!(
            async { Ok::<_, ProviderError>(self.client.get::<WireBackup>(&base).await?) },
            points(RestoreState::Available),
            points(RestoreState::Restoring),
            points(RestoreState::Restored),
            async {
                Ok::<_, ProviderError>(self.client.get::<Vec<WireAttached>>(&attached_path).await?)
            },
        )?;
        let mut restore_points: Vec<RestorePoint> = [available, restoring, restored]
            .into_iter()
            .flatten()
            .collect();
        restore_points.sort_by_key(|p| std::cmp::Reverse(p.time));
        let attached = attached
            .iter()
            .map(|a| {
                Ok(Attached {
                    time: api_time(&a.restore_point, &attached_path)?,
                    nfs: a.access.as_ref().and_then(|x| x.nfs.clone()),
                    smb: a.access.as_ref().and_then(|x| x.smb.clone()),
                })
            })
            .collect::<Result<Vec<_>, ProviderError>>()?;
        Ok(Backups {
            subscribed: true,
            state: backup.state,
            schedule: backup.schedule,
            restore_points,
            attached,
        })
    }

    async fn read_machine(&self, sn: &str) -> Result<Machine, ProviderError> {
        let base = vps_path(sn)?;
        let tasks_path = format!("{base}/tasks?state=doing");
        let (vps, (options, snap), doing) = futures::try_join!(
            async { Ok(self.client.get::<WireVps>(&base).await?) },
            self.options_and_snapshot(sn),
            async { Ok(self.client.get::<Vec<i64>>(&tasks_path).await?) },
        )?;
        let option = options.snapshot;
        let mut m = self.bare(sn);
        // Read only where the option is: no call more for a VPS without it. Failing to
        // read it leaves it unknown (said in the details), not the VPS unreadable.
        let backups = if options.backups {
            Box::pin(self.backups(sn)).await
        } else {
            Ok(Backups::unsubscribed())
        };
        let backups_unread = match backups {
            Ok(b) => {
                m.backups = Some(Box::new(b));
                None
            }
            Err(e) => Some(format!("could not be read: {e}")),
        };
        // Snapshot times are stamped by the API's clock: ages are measured on it. Signed
        // calls have read it already; an OAuth2 profile reads it once here.
        m.clock_offset_secs = match self.client.clock_delta().await {
            Ok(delta) => delta,
            Err(e) => {
                tracing::debug!("OVH clock delta unknown, ages on the local clock: {e}");
                0
            }
        };
        m.name = vps
            .display_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| sn.to_string());
        let zone = vps.zone.clone().unwrap_or_default();
        if !zone.is_empty() {
            m.location = vec![zone.clone()];
            m.path = format!("/{zone}/{sn}");
        }
        m.power_state = match vps.state.as_deref() {
            Some("running" | "rescued" | "backuping" | "rebooting") => PowerState::PoweredOn,
            Some("stopped") => PowerState::PoweredOff,
            _ => PowerState::Unknown,
        };
        m.snapshot_option = Some(option);
        if let Some(s) = snap {
            let snapshot = map_snapshot(&s)
                .map_err(|e| ProviderError::Backend(format!("GET {base}/snapshot: {e}")))?;
            m.current = Some(snapshot.id.clone());
            m.snapshots = vec![snapshot];
        }
        let model = vps.model.as_ref();
        let facts = [
            ("model", model.and_then(|x| x.name.clone())),
            ("version", model.and_then(|x| x.version.clone())),
            ("offer", vps.offer_type.clone()),
            ("state", vps.state.clone()),
            ("zone", vps.zone.clone()),
            (
                "snapshot option",
                Some(
                    if option {
                        "subscribed"
                    } else {
                        "not subscribed"
                    }
                    .to_string(),
                ),
            ),
            (
                "running tasks",
                (!doing.is_empty()).then(|| {
                    doing
                        .iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
            ),
            ("automated backups", backups_unread),
        ];
        m.details = facts
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
        m.running_tasks = doing.iter().map(i64::to_string).collect();
        m.loaded = true;
        Ok(m)
    }

    async fn task(&self, sn: &str, task_id: &str) -> Result<WireTask, ApiError> {
        let base = vps_path(sn).map_err(|e| ApiError {
            method: "GET".into(),
            path: "/vps/…/tasks".into(),
            query_id: None,
            kind: Box::new(ApiErrorKind::Local(e.to_string())),
        })?;
        self.client
            .get(&format!("{base}/tasks/{}", seg(task_id)))
            .await
    }
}

/// The automated backup's call for `op` and its body, as the schema has them
/// (`vps.automatedBackup.{restore,detachBackup,reschedule}.post`); each answers a task.
fn backup_call(op: &BackupOp) -> Result<(&'static str, serde_json::Value), ProviderError> {
    let time = |point: &str| {
        backups::point_time(point)
            .map(backups::point_id)
            .ok_or_else(|| {
                ProviderError::InvalidState(format!("{point:?} is not a restore point's time"))
            })
    };
    Ok(match op {
        BackupOp::Restore { point, full } => (
            "restore",
            json!({"restorePoint": time(point)?, "type": if *full { "full" } else { "file" }}),
        ),
        BackupOp::Detach { point } => ("detachBackup", json!({"restorePoint": time(point)?})),
        BackupOp::Reschedule { schedule } => (
            "reschedule",
            json!({"schedule": backups::parse_schedule(schedule).map_err(ProviderError::InvalidState)?}),
        ),
    })
}

fn map_snapshot(s: &WireSnapshot) -> Result<Snapshot, String> {
    let created = DateTime::parse_from_rfc3339(&s.creation_date)
        .map_err(|e| {
            format!(
                "bad creationDate {:?}: {e}",
                crate::safe::capped(&s.creation_date, 80)
            )
        })?
        .with_timezone(&Utc);
    let description = s.description.clone().unwrap_or_default();
    let _ = &s.region;
    Ok(Snapshot {
        id: s.id.clone(),
        // A VPS snapshot has no name: its description stands for it.
        name: if description.is_empty() {
            s.id.clone()
        } else {
            description.clone()
        },
        description,
        created,
        power_state: PowerState::Unknown,
        memory: false,
        quiesced: false,
        size_bytes: None,
        created_by: None,
        children: Vec::new(),
    })
}

fn map_task(t: &WireTask) -> TaskStatus {
    let state = match t.state.as_str() {
        "doing" => TaskState::Running,
        "done" => TaskState::Success,
        "error" => TaskState::Error,
        "cancelled" => TaskState::Cancelled,
        // todo, waitingAck, paused, blocked: not running yet.
        _ => TaskState::Queued,
    };
    TaskStatus {
        id: t.id.to_string(),
        state,
        progress: t.progress.and_then(|p| u8::try_from(p.clamp(0, 100)).ok()),
        message: (state == TaskState::Error)
            .then(|| format!("the OVH task {} ({}) ended in error", t.id, t.kind)),
        // abortSnapshot stops a snapshot (or backup) in progress, nothing else.
        cancelable: t.kind == "createSnapshot" && !state.is_final(),
    }
}

/// Whether an access rule (`*` matches anything, `/` included) allows a call.
pub fn rule_allows(rule_method: &str, rule_path: &str, method: &str, path: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
        }
    }
    rule_method.eq_ignore_ascii_case(method) && glob(rule_path.as_bytes(), path.as_bytes())
}

#[async_trait]
impl Provider for OvhProvider {
    async fn load_inventory(
        &self,
        partial: PartialInventory<'_>,
    ) -> Result<Vec<Machine>, ProviderError> {
        let names: Vec<String> = self.client.get("/vps").await?;
        let mut rows: Vec<Machine> = names.iter().map(|sn| self.bare(sn)).collect();
        partial(rows.clone());
        let mut results = futures::stream::iter(names.into_iter().enumerate())
            .map(|(i, sn)| async move {
                let r = self.read_machine(&sn).await;
                (i, r)
            })
            .buffer_unordered(self.concurrency);
        let mut gone = Vec::new();
        let mut last = Instant::now();
        while let Some((i, r)) = results.next().await {
            match r {
                Ok(m) => rows[i] = m,
                // Terminated between the listing and the read: drop it.
                Err(ProviderError::NotFound(_)) => gone.push(i),
                // The account itself cannot be read: the whole listing fails.
                Err(e @ (ProviderError::Auth(_) | ProviderError::Unreachable(_))) => {
                    return Err(e);
                }
                // This one VPS's record is malformed, refused or not addressable: it is
                // listed with why, and the others as usual.
                Err(e) => {
                    rows[i].unreadable = Some(e.to_string());
                    rows[i].loaded = true;
                }
            }
            // Coalesce partial reports so 200 VPSs do not mean 200 full copies.
            if last.elapsed() >= Duration::from_millis(100) {
                last = Instant::now();
                partial(rows.clone());
            }
        }
        let mut rows: Vec<Machine> = rows
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !gone.contains(i))
            .map(|(_, m)| m)
            .collect();
        // A service name listed twice names two VPSs: neither is acted on.
        crate::model::consistency::refuse_duplicate_ids(&mut rows);
        Ok(rows)
    }

    async fn load_machine(&self, id: &str) -> Result<Machine, ProviderError> {
        self.read_machine(id).await
    }

    async fn start(&self, machine_id: &str, op: &Operation) -> Result<StartedTask, ProviderError> {
        let sn = machine_id;
        let base = vps_path(sn)?;
        let started = |t: WireTask| StartedTask {
            note: None,
            id: t.id.to_string(),
            finished: false,
        };
        match op {
            Operation::Take {
                name, description, ..
            } => {
                let (options, snap) = self.options_and_snapshot(sn).await?;
                if !options.snapshot {
                    return Err(ProviderError::InvalidState(format!(
                        "{sn} has no snapshot option; it can be ordered in the OVHcloud Manager"
                    )));
                }
                if let Some(s) = snap {
                    let what = s.description.unwrap_or_default();
                    return Err(ProviderError::InvalidState(format!(
                        "{sn} already has a snapshot ({}, taken {}); a VPS keeps only one: \
                         replace it instead (delete it, then take a new one)",
                        if what.is_empty() { &s.id } else { &what },
                        s.creation_date
                    )));
                }
                let text = if description.is_empty() {
                    name
                } else {
                    description
                };
                let body = json!({ "description": text });
                let t: WireTask = self
                    .client
                    .post(&format!("{base}/createSnapshot"), Some(&body))
                    .await?;
                Ok(started(t))
            }
            Operation::Revert { .. } | Operation::RevertCurrent { .. } => {
                let t: WireTask = self
                    .client
                    .post(&format!("{base}/snapshot/revert"), None)
                    .await?;
                Ok(started(t))
            }
            Operation::Delete { .. } | Operation::DeleteAll => {
                let path = format!("{base}/snapshot");
                let b = self.client.call(Method::DELETE, &path, None).await?;
                let t: WireTask = serde_json::from_slice(&b).map_err(|e| {
                    ProviderError::Backend(format!("DELETE {path} answered no task: {e}"))
                })?;
                Ok(started(t))
            }
            Operation::Rename {
                name, description, ..
            } => {
                let text = description
                    .clone()
                    .or_else(|| name.clone())
                    .unwrap_or_default();
                let body = json!({ "description": text });
                self.client
                    .call(Method::PUT, &format!("{base}/snapshot"), Some(&body))
                    .await?;
                Ok(StartedTask {
                    note: None,
                    id: format!("rename-{sn}"),
                    finished: true,
                })
            }
            Operation::Cancel { task } => {
                self.client
                    .call(Method::POST, &format!("{base}/abortSnapshot"), None)
                    .await?;
                Ok(StartedTask {
                    note: None,
                    id: task.clone(),
                    finished: true,
                })
            }
            Operation::Replace { .. } => Err(ProviderError::Unsupported(
                "replace is a delete followed by a take; run them in turn".into(),
            )),
            Operation::Consolidate => Err(ProviderError::Unsupported(
                "consolidation does not exist for VPSs".into(),
            )),
            Operation::Order(o) => {
                let made = order::create(&self.client, sn, o).await?;
                Ok(StartedTask {
                    note: Some(order::created_note(&made)),
                    id: made.order_id.to_string(),
                    finished: true,
                })
            }
            Operation::Backup(b) => {
                let (call, body) = backup_call(b)?;
                let t: WireTask = self
                    .client
                    .post(&format!("{base}/automatedBackup/{call}"), Some(&body))
                    .await?;
                Ok(started(t))
            }
        }
    }

    async fn follow(
        &self,
        machine_id: &str,
        task_id: &str,
        progress: ProgressSink<'_>,
    ) -> Result<TaskStatus, ProviderError> {
        super::poll_task(self.poll, progress, |seen| async move {
            match self.task(machine_id, task_id).await {
                Ok(t) => Ok(map_task(&t)),
                // The API forgets finished tasks after a while; one seen running and now
                // gone has ended, and its effect is read back by the next refresh.
                Err(e) if e.is_not_found() && seen => Ok(TaskStatus {
                    id: task_id.to_string(),
                    state: TaskState::Success,
                    progress: Some(100),
                    message: None,
                    cancelable: false,
                }),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn quotes(
        &self,
        machine_id: &str,
        option: crate::model::order::VpsOption,
    ) -> Result<Vec<crate::model::order::Quote>, ProviderError> {
        vps_path(machine_id)?;
        order::quotes(&self.client, machine_id, option).await
    }

    async fn download_link(&self, machine_id: &str) -> Result<DownloadLink, ProviderError> {
        let base = vps_path(machine_id)?;
        let d: WireDownload = self
            .client
            .get(&format!("{base}/snapshot/download"))
            .await?;
        Ok(DownloadLink {
            url: d.url,
            size: d.size,
        })
    }

    async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
        let mut out = vec![("endpoint".to_string(), self.client.base_url().to_string())];
        let delta = self.client.clock_delta().await?;
        out.push((
            "clock delta".into(),
            format!("{delta:+} s (server − local)"),
        ));
        if self.client.is_signed() {
            out.push(("authentication".into(), "application key".into()));
            let c: WireCredential = self.client.get("/auth/currentCredential").await?;
            out.push((
                "credential".into(),
                format!(
                    "{} (id {}), expires {}",
                    c.status.as_deref().unwrap_or("unknown"),
                    c.credential_id.map_or("?".into(), |i| i.to_string()),
                    c.expiration.as_deref().unwrap_or("never")
                ),
            ));
            for (method, path) in SNAPSHOT_CALLS {
                let probe = path.replace("{serviceName}", "vps-0.vps.ovh.net");
                let ok = c
                    .rules
                    .iter()
                    .any(|r| rule_allows(&r.method, &r.path, method, &probe));
                out.push((
                    format!("rule {method} {path}"),
                    if ok { "allowed" } else { "not allowed" }.into(),
                ));
            }
        } else {
            out.push(("authentication".into(), "OAuth2 service account".into()));
        }
        let names: Vec<String> = self.client.get("/vps").await?;
        out.push(("VPS count".into(), names.len().to_string()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_like_the_api() {
        assert!(rule_allows("GET", "/*", "GET", "/vps/x/snapshot"));
        assert!(rule_allows("GET", "/vps", "GET", "/vps"));
        assert!(!rule_allows("GET", "/vps", "GET", "/vps/x"));
        assert!(rule_allows(
            "POST",
            "/vps/*/createSnapshot",
            "POST",
            "/vps/a.b/createSnapshot"
        ));
        assert!(!rule_allows(
            "GET",
            "/vps/*",
            "POST",
            "/vps/a/createSnapshot"
        ));
    }

    #[test]
    fn only_host_names_are_service_names() {
        for ok in ["vps-1a2b3c4d.vps.ovh.net", "vps123456.ovh.net", "a_b-c"] {
            assert!(valid_service_name(ok), "{ok}");
        }
        for bad in [
            "", ".", "..", "a/b", "a..b", ".a", "a.", "a b", "a\u{7}b", "a%2Fb", "é",
        ] {
            assert!(!valid_service_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn tasks_and_snapshots_map() {
        let t = WireTask {
            id: 7,
            progress: Some(40),
            state: "doing".into(),
            kind: "createSnapshot".into(),
        };
        let s = map_task(&t);
        assert_eq!(
            (s.state, s.progress, s.cancelable),
            (TaskState::Running, Some(40), true)
        );
        let e = map_task(&WireTask {
            state: "error".into(),
            kind: "deleteSnapshot".into(),
            ..t
        });
        assert_eq!(e.state, TaskState::Error);
        assert!(e.message.unwrap().contains("deleteSnapshot"));
        let snap = map_snapshot(&WireSnapshot {
            id: "abc".into(),
            creation_date: "2024-05-01T10:00:00+02:00".into(),
            description: Some("pre-deploy".into()),
            region: None,
        })
        .unwrap();
        assert_eq!(snap.name, "pre-deploy");
        assert_eq!(snap.created.to_rfc3339(), "2024-05-01T08:00:00+00:00");
    }
}
