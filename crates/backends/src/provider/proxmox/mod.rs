//! Proxmox VE: its REST API (`/api2/json`, answers in `{"data": …}`) with an API token
//! (`Authorization: PVEAPIToken=USER@REALM!NAME=SECRET`), over the same TLS policy as
//! vSphere (system roots and `ca_file`, a pinned `thumbprint`, or `insecure`). Guests are
//! QEMU VMs and LXC containers, found with `cluster/resources`; the machine id is the VMID,
//! a snapshot's id its name. Changes return a task's UPID, followed on its node
//! (docs/proxmox.md).

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use super::vsphere::tls::{TlsPolicy, http_client};
use super::{PartialInventory, ProgressSink, Provider, ProviderError, StartedTask};
use crate::config::{ProfileConfig, resolve_secret};
use crate::model::{
    Capabilities, Machine, Operation, PowerState, ProviderKind, Snapshot, TaskState, TaskStatus,
};

/// Guests read at once while listing.
const CONCURRENCY: usize = 8;

/// A guest as `cluster/resources?type=vm` gives it.
#[derive(Clone, Debug, Deserialize)]
struct WireGuest {
    #[serde(rename = "type")]
    kind: String,
    vmid: u64,
    node: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    template: Option<u8>,
}

/// One entry of `…/snapshot`.
#[derive(Debug, Deserialize)]
struct WireSnapshot {
    name: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    snaptime: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    vmstate: Option<Value>,
}

/// `…/tasks/{upid}/status`.
#[derive(Debug, Deserialize)]
struct WireTask {
    status: String,
    #[serde(default)]
    exitstatus: Option<String>,
}

/// One line of a task's log (`GET /nodes/{node}/tasks/{upid}/log`).
#[derive(Deserialize)]
struct WireLogLine {
    #[serde(default)]
    t: String,
}

/// How many times a task's status is asked for before a lost answer ends the follow.
const FOLLOW_ATTEMPTS: usize = 4;

/// The lines of a task's log asked for at once.
const LOG_LINES: usize = 500;

/// The longest log line shown as a running task's line.
const LOG_LINE_CHARS: usize = 120;

/// What a running task's log said so far: how many lines were read, the last one that says
/// something (the task's line while it runs), and the last percentage a line gave.
#[derive(Default)]
struct TaskLog {
    read: usize,
    last: Option<String>,
    percent: Option<u8>,
}

impl TaskLog {
    fn add(&mut self, lines: impl Iterator<Item = String>) {
        for line in lines {
            self.read += 1;
            let line = line.trim();
            // The end's own line is the task's state, said otherwise.
            if line.is_empty() || line.starts_with("TASK ") {
                continue;
            }
            if let Some(p) = percent(line) {
                self.percent = Some(p);
            }
            // A line is a progress line, not a document: a long one is cut, saying so.
            self.last = Some(crate::safe::capped(line, LOG_LINE_CHARS).into_owned());
        }
    }
}

/// The last percentage a log line gives (`Removing image: 45% complete...`), where it
/// gives one.
fn percent(line: &str) -> Option<u8> {
    line.match_indices('%').rev().find_map(|(at, _)| {
        let digits: String = line[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= 100 && digits.len() <= 3)
    })
}

/// A Proxmox VE cluster (or single node) reached with an API token.
pub struct ProxmoxProvider {
    profile: String,
    /// The TLS policy its client was built with (a refused certificate's sentence).
    policy: TlsPolicy,
    base: String,
    auth: String,
    client: reqwest_vim::Client,
    timeout: Duration,
    poll: Duration,
    server: Mutex<Option<String>>,
}

impl std::fmt::Debug for ProxmoxProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxmoxProvider")
            .field("profile", &self.profile)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The API's base from a profile's `url`: a host (port 8006), `host:port` or an https URL.
fn api_base(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let rest = match url.split_once("://") {
        Some(("https", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "url: {scheme}:// is not https; Proxmox VE is reached over https"
            ));
        }
        None => url,
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "url: {url:?} is not a host (user and password go in token_id and token_secret)"
        ));
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']');
    let host = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:8006")
    };
    Ok(format!("https://{host}/api2/json"))
}

/// The node a UPID names (`UPID:node:…`).
fn upid_node(upid: &str) -> Option<&str> {
    let mut parts = upid.split(':');
    (parts.next() == Some("UPID"))
        .then(|| parts.next())
        .flatten()
}

/// Whether the task a UPID names may be stopped: a snapshot being taken (`qmsnapshot`,
/// `vzsnapshot`), whose worker, interrupted, deletes the half-made snapshot again. A
/// rollback or a delete stopped midway leaves the guest locked with a snapshot half done:
/// never offered.
fn stoppable(upid: &str) -> bool {
    matches!(upid.split(':').nth(5), Some("qmsnapshot" | "vzsnapshot"))
}

/// The exit status of a worker stopped by a signal (a task stopped through the API).
const INTERRUPTED: &str = "received interrupt";

/// A path segment made safe to put in a URL (names, ids and UPIDs are plain).
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'!' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A form body: `k=v&…`, each part escaped.
fn form(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", seg(k), seg(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl ProxmoxProvider {
    /// The provider of profile `name`, or the sentence that says why its configuration
    /// cannot give one.
    pub fn from_profile(name: &str, cfg: &ProfileConfig) -> Result<Self, String> {
        let url = cfg
            .url
            .as_deref()
            .ok_or_else(|| format!("profile {name} (proxmox) needs a url"))?;
        let base = api_base(url).map_err(|e| format!("profile {name}: {e}"))?;
        let token_id = cfg.token_id.as_deref().ok_or_else(|| {
            format!("profile {name} (proxmox) needs token_id = \"USER@REALM!NAME\"")
        })?;
        if !token_id.contains('@') || !token_id.contains('!') {
            return Err(format!(
                "profile {name}: token_id {token_id:?} is not USER@REALM!NAME (as Datacenter > Permissions > API Tokens shows it)"
            ));
        }
        let timeout = cfg.request_timeout(name)?;
        let secret = resolve_secret(
            name,
            "token secret",
            cfg.token_secret.as_deref(),
            cfg.token_secret_env.as_deref(),
            cfg.token_secret_command.as_deref(),
            timeout,
        )
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("profile {name} has no token_secret, token_secret_env or token_secret_command")
        })?;
        let policy = TlsPolicy::from_profile(
            cfg.insecure,
            cfg.thumbprint.as_deref(),
            cfg.ca_file.as_deref(),
        )
        .map_err(|e| format!("profile {name}: {e}"))?;
        let client =
            http_client(&policy, timeout, None).map_err(|e| format!("profile {name}: {e}"))?;
        Ok(ProxmoxProvider {
            profile: name.to_string(),
            policy,
            base,
            auth: format!("PVEAPIToken={token_id}={}", secret.expose()),
            client,
            timeout,
            poll: Duration::from_secs(1),
            server: Mutex::new(None),
        })
    }

    /// How often a task's status is read while it is followed.
    #[must_use]
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// One call; a body as a form. Only GETs are retried (once, on a network fault; a
    /// server that did not answer in time is not asked again).
    async fn call(
        &self,
        method: reqwest_vim::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Value, ProviderError> {
        let what = format!("{method} {path}");
        let attempts = if method == reqwest_vim::Method::GET {
            2
        } else {
            1
        };
        let mut last = None;
        for _ in 0..attempts {
            let mut req = self
                .client
                .request(method.clone(), format!("{}{path}", self.base))
                .header("Authorization", &self.auth);
            if let Some(b) = &body {
                req = req
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(b.clone());
            }
            match req.send().await {
                Ok(resp) => return self.answer(&what, resp).await,
                Err(e) if e.is_timeout() => {
                    return Err(ProviderError::Unreachable(format!(
                        "{what}: the server did not answer in time (timeout {}s)",
                        self.timeout.as_secs()
                    )));
                }
                // An untrusted certificate: why, and the thumbprint the server presents,
                // as for vSphere (never asked again: it will not change by itself).
                Err(e) if super::vsphere::faults::is_certificate_error(&e) => {
                    return Err(self.certificate_refused(&e).await);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(ProviderError::Unreachable(format!(
            "{what}: {}",
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// The sentence for a certificate refused: its cause and the fix, with the thumbprint
    /// the server presents (probed without checks) where pinning it is a way out.
    async fn certificate_refused(&self, e: &reqwest_vim::Error) -> ProviderError {
        let host = self
            .base
            .strip_prefix("https://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or(&self.base);
        let seen = super::vsphere::tls::probe_thumbprint(host).await;
        let cause = super::vsphere::faults::certificate_refusal(e);
        ProviderError::Unreachable(super::vsphere::tls::refusal_sentence(
            cause.as_ref(),
            host,
            &self.profile,
            seen.as_deref(),
            &self.policy,
        ))
    }

    /// An answer's `data`, or its error in one sentence.
    async fn answer(
        &self,
        what: &str,
        resp: reqwest_vim::Response,
    ) -> Result<Value, ProviderError> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| {
            ProviderError::Unreachable(format!("{what}: the answer was cut short: {e}"))
        })?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(v.get("data").cloned().unwrap_or(Value::Null));
        }
        let message = v["message"]
            .as_str()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(String::from)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        Err(match status.as_u16() {
            401 => ProviderError::Auth(format!(
                "the API token was refused ({message}); check token_id and its secret"
            )),
            403 => ProviderError::Permission(format!("{what}: {message}")),
            _ if message.contains("is locked") => ProviderError::Busy(message),
            _ if message.contains("does not exist") => ProviderError::NotFound(message),
            _ => ProviderError::Backend(format!("{what}: {message}")),
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ProviderError> {
        let v = self.call(reqwest_vim::Method::GET, path, None).await?;
        serde_json::from_value(v).map_err(|e| {
            ProviderError::Backend(format!("GET {path} answered an unexpected shape: {e}"))
        })
    }

    async fn guests(&self) -> Result<Vec<WireGuest>, ProviderError> {
        let all: Vec<WireGuest> = self.get("/cluster/resources?type=vm").await?;
        // Templates cannot be snapshotted.
        Ok(all
            .into_iter()
            .filter(|g| matches!(g.kind.as_str(), "qemu" | "lxc") && g.template != Some(1))
            .collect())
    }

    async fn guest(&self, id: &str) -> Result<WireGuest, ProviderError> {
        self.guests()
            .await?
            .into_iter()
            .find(|g| g.vmid.to_string() == id)
            .ok_or_else(|| ProviderError::NotFound(format!("guest {id} on {}", self.profile)))
    }

    fn snapshot_path(g: &WireGuest) -> String {
        format!("/nodes/{}/{}/{}/snapshot", seg(&g.node), g.kind, g.vmid)
    }

    /// A guest with its snapshot tree; a tree that cannot be read leaves it unreadable,
    /// with why, not the profile.
    async fn read_guest(&self, g: &WireGuest) -> Machine {
        let mut m = bare(&self.profile, g);
        match self.get::<Vec<WireSnapshot>>(&Self::snapshot_path(g)).await {
            Ok(list) => {
                let (snapshots, current) = tree(list, g.kind == "qemu");
                m.snapshots = snapshots;
                m.current = current;
            }
            Err(e) => m.set_unreadable(format!(
                "{}/{}: its snapshots could not be read: {e}",
                self.profile, m.name
            )),
        }
        m.loaded = true;
        m
    }
}

/// A guest without its snapshots.
fn bare(profile: &str, g: &WireGuest) -> Machine {
    let name = g
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| g.vmid.to_string());
    Machine {
        backups: None,
        storage: None,
        profile: profile.to_string(),
        provider: ProviderKind::Proxmox,
        id: g.vmid.to_string(),
        path: format!("/{}/{name}", g.node),
        name,
        location: vec![g.node.clone()],
        power_state: match g.status.as_deref() {
            Some("running") => PowerState::PoweredOn,
            Some("stopped") => PowerState::PoweredOff,
            Some("paused" | "suspended") => PowerState::Suspended,
            _ => PowerState::Unknown,
        },
        tools: crate::model::GuestTools::NotReported,
        consolidation_needed: false,
        snapshot_option: None,
        snapshots: Vec::new(),
        current: None,
        capabilities: Capabilities::proxmox(g.kind == "qemu"),
        details: vec![
            ("type".into(), g.kind.clone()),
            ("node".into(), g.node.clone()),
            ("vmid".into(), g.vmid.to_string()),
        ],
        loaded: false,
        running_tasks: Vec::new(),
        memory_mb: None,
        instance: None,
        unreadable: None,
        clock_offset_secs: 0,
    }
}

/// The tree a snapshot list describes, and where the guest stands (the `current` entry's
/// parent). An entry whose parent is not in the list is a root.
fn tree(list: Vec<WireSnapshot>, qemu: bool) -> (Vec<Snapshot>, Option<String>) {
    let current = list
        .iter()
        .find(|s| s.name == "current")
        .and_then(|s| s.parent.clone());
    let entries: Vec<WireSnapshot> = list.into_iter().filter(|s| s.name != "current").collect();
    let names: std::collections::HashSet<String> = entries.iter().map(|s| s.name.clone()).collect();
    let node = |s: &WireSnapshot| Snapshot {
        id: s.name.clone(),
        name: s.name.clone(),
        description: s.description.clone().unwrap_or_default(),
        created: s
            .snaptime
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        power_state: PowerState::Unknown,
        memory: qemu
            && s.vmstate.as_ref().is_some_and(|v| {
                v.as_i64() == Some(1) || v.as_bool() == Some(true) || v.as_str() == Some("1")
            }),
        quiesced: false,
        size_bytes: None,
        created_by: None,
        children: Vec::new(),
    };
    // Children by parent ("" for the roots: no snapshot is named so); each list is taken
    // once, so a cycle cannot loop.
    let mut by_parent: std::collections::HashMap<String, Vec<&WireSnapshot>> =
        std::collections::HashMap::new();
    for s in &entries {
        let parent = s
            .parent
            .clone()
            .filter(|p| names.contains(p) && *p != s.name)
            .unwrap_or_default();
        by_parent.entry(parent).or_default().push(s);
    }
    fn build(
        parent: &str,
        by_parent: &mut std::collections::HashMap<String, Vec<&WireSnapshot>>,
        node: &dyn Fn(&WireSnapshot) -> Snapshot,
        depth: usize,
    ) -> Vec<Snapshot> {
        let Some(kids) = by_parent.remove(parent) else {
            return Vec::new();
        };
        kids.into_iter()
            .map(|k| {
                let mut n = node(k);
                if depth < crate::model::machine::MAX_DEPTH {
                    n.children = build(&k.name, by_parent, node, depth + 1);
                }
                n
            })
            .collect()
    }
    let mut roots = build("", &mut by_parent, &node, 0);
    // What no root reaches (parents in a cycle) is shown at the root, not lost.
    let mut left: Vec<&WireSnapshot> = by_parent.into_values().flatten().collect();
    left.sort_by(|a, b| a.name.cmp(&b.name));
    roots.extend(left.into_iter().map(node));
    roots.sort_by_key(|s| s.created);
    (roots, current)
}

#[async_trait]
impl Provider for ProxmoxProvider {
    async fn load_inventory(
        &self,
        partial: PartialInventory<'_>,
    ) -> Result<Vec<Machine>, ProviderError> {
        // The first call: a server that cannot be reached, or a refused token, ends the
        // listing here, not after a second call meets the same.
        match self.get::<Value>("/version").await {
            Ok(v) => {
                if let Some(version) = v["version"].as_str() {
                    *self.server.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(format!("Proxmox VE {version}"));
                }
            }
            Err(e @ (ProviderError::Unreachable(_) | ProviderError::Auth(_))) => return Err(e),
            Err(e) => tracing::debug!("Proxmox version not read: {e}"),
        }
        let guests = self.guests().await?;
        partial(guests.iter().map(|g| bare(&self.profile, g)).collect());
        let machines: Vec<Machine> = futures::stream::iter(guests)
            .map(|g| async move { self.read_guest(&g).await })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        Ok(machines)
    }

    async fn load_machine(&self, id: &str) -> Result<Machine, ProviderError> {
        let g = self.guest(id).await?;
        Ok(self.read_guest(&g).await)
    }

    async fn start(&self, machine_id: &str, op: &Operation) -> Result<StartedTask, ProviderError> {
        let g = self.guest(machine_id).await?;
        let base = Self::snapshot_path(&g);
        let task = |v: Value| -> Result<StartedTask, ProviderError> {
            let upid = v
                .as_str()
                .filter(|u| u.starts_with("UPID:"))
                .ok_or_else(|| {
                    ProviderError::Backend(format!("{base}: the answer names no task"))
                })?;
            Ok(StartedTask {
                id: upid.to_string(),
                finished: false,
                note: None,
            })
        };
        use reqwest_vim::Method;
        match op {
            Operation::Take {
                name,
                description,
                memory,
                ..
            } => {
                if let Some(why) = crate::model::machine::proxmox_name_refusal(name) {
                    return Err(ProviderError::InvalidState(why));
                }
                let mut fields = vec![
                    ("snapname", name.clone()),
                    ("description", description.clone()),
                ];
                if *memory && g.kind == "qemu" {
                    fields.push(("vmstate", "1".into()));
                }
                task(self.call(Method::POST, &base, Some(form(&fields))).await?)
            }
            Operation::Revert {
                snapshot, start, ..
            } => {
                let path = format!("{base}/{}/rollback", seg(snapshot));
                task(
                    self.call(Method::POST, &path, Some(rollback_form(*start)))
                        .await?,
                )
            }
            Operation::RevertCurrent { start, .. } => {
                let m = self.read_guest(&g).await;
                let current = m.current.ok_or_else(|| {
                    ProviderError::InvalidState("the guest has no current snapshot".into())
                })?;
                let path = format!("{base}/{}/rollback", seg(&current));
                task(
                    self.call(Method::POST, &path, Some(rollback_form(*start)))
                        .await?,
                )
            }
            Operation::Delete {
                snapshot,
                children: false,
            } => task(
                self.call(Method::DELETE, &format!("{base}/{}", seg(snapshot)), None)
                    .await?,
            ),
            Operation::Rename {
                snapshot,
                name: None,
                description: Some(d),
            } => {
                let path = format!("{base}/{}/config", seg(snapshot));
                self.call(
                    Method::PUT,
                    &path,
                    Some(form(&[("description", d.clone())])),
                )
                .await?;
                Ok(StartedTask {
                    id: format!("describe:{machine_id}:{snapshot}"),
                    finished: true,
                    note: None,
                })
            }
            Operation::Cancel { task } => {
                if !stoppable(task) {
                    return Err(ProviderError::Unsupported(format!(
                        "{task}: only a snapshot being taken is stopped; a rollback or a delete stopped midway leaves the guest locked"
                    )));
                }
                let node = upid_node(task)
                    .ok_or_else(|| ProviderError::Backend(format!("{task} is not a UPID")))?;
                let path = format!("/nodes/{}/tasks/{}", seg(node), seg(task));
                self.call(Method::DELETE, &path, None).await?;
                Ok(StartedTask {
                    id: format!("stop:{task}"),
                    finished: true,
                    note: None,
                })
            }
            other => Err(ProviderError::Unsupported(unsupported(other))),
        }
    }

    async fn follow(
        &self,
        _machine_id: &str,
        task_id: &str,
        progress: ProgressSink<'_>,
    ) -> Result<TaskStatus, ProviderError> {
        let node = upid_node(task_id)
            .ok_or_else(|| ProviderError::Backend(format!("{task_id} is not a UPID")))?;
        let path = format!("/nodes/{}/tasks/{}", seg(node), seg(task_id));
        let status = |state, message: Option<&str>| TaskStatus {
            id: task_id.into(),
            state,
            progress: (state == TaskState::Success).then_some(100),
            message: message.map(String::from),
            cancelable: state == TaskState::Running && stoppable(task_id),
        };
        let status_path = format!("{path}/status");
        // What the task's log said so far: its lines read, the last one, the last percentage.
        let said = std::sync::Mutex::new(TaskLog::default());
        super::poll_task(self.poll, progress, |_| async {
            // A status lost to the network is asked again (a few polls) before the run
            // gives up following it.
            let t: WireTask =
                super::read_again(FOLLOW_ATTEMPTS, self.poll, || self.get(&status_path)).await?;
            Ok(match (t.status.as_str(), t.exitstatus.as_deref()) {
                ("stopped", Some("OK")) => status(TaskState::Success, None),
                ("stopped", Some(INTERRUPTED)) => status(
                    TaskState::Cancelled,
                    Some("stopped (received interrupt); Proxmox deleted what it had made"),
                ),
                ("stopped", why) => status(
                    TaskState::Error,
                    Some(why.unwrap_or("the task stopped without saying why")),
                ),
                _ => {
                    // The log is news, not the task's state: one that cannot be read (a
                    // token without Sys.Audit on the node) leaves the line as it was.
                    let from = said.lock().unwrap_or_else(|p| p.into_inner()).read;
                    let lines: Result<Vec<WireLogLine>, _> = self
                        .get(&format!("{path}/log?start={from}&limit={LOG_LINES}"))
                        .await;
                    let mut log = said.lock().unwrap_or_else(|p| p.into_inner());
                    if let Ok(lines) = lines {
                        log.add(lines.into_iter().map(|l| l.t));
                    }
                    TaskStatus {
                        progress: log.percent,
                        message: log.last.clone(),
                        ..status(TaskState::Running, None)
                    }
                }
            })
        })
        .await
    }

    async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
        let mut out = vec![("url".to_string(), self.base.clone())];
        let v: Value = self.get("/version").await?;
        out.push((
            "version".into(),
            format!("Proxmox VE {}", v["version"].as_str().unwrap_or("?")),
        ));
        let perms: Value = self.get("/access/permissions?path=/vms").await?;
        let may = perms["/vms"]["VM.Snapshot"].as_i64() == Some(1);
        out.push((
            "VM.Snapshot on /vms".into(),
            if may { "allowed" } else { "not allowed" }.into(),
        ));
        out.push(("guests".into(), self.guests().await?.len().to_string()));
        Ok(out)
    }

    async fn server(&self) -> Option<String> {
        self.server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A rollback's body: `start=1` to start the guest afterwards.
fn rollback_form(start: bool) -> String {
    if start {
        form(&[("start", "1".into())])
    } else {
        String::new()
    }
}

/// Why `op` is not sent to Proxmox VE.
fn unsupported(op: &Operation) -> String {
    match op {
        Operation::Delete { children: true, .. } | Operation::DeleteAll => {
            "Proxmox deletes one snapshot per call: the change is a plan of single deletes, deepest first".into()
        }
        Operation::Rename { .. } => "Proxmox cannot rename a snapshot (its name is its id); its description can change".into(),
        _ => format!("{} does not exist on Proxmox VE", op.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_says_what_is_missing_or_wrong_in_one_sentence() {
        let cfg = |token_id: &str, secret: Option<&str>| ProfileConfig {
            kind: Some(ProviderKind::Proxmox),
            url: Some("pve.lab".into()),
            token_id: Some(token_id.into()),
            token_secret: secret.map(String::from),
            ..ProfileConfig::default()
        };
        let e = ProxmoxProvider::from_profile("pve", &cfg("root", Some("s"))).unwrap_err();
        assert!(e.contains("is not USER@REALM!NAME"), "{e}");
        let e = ProxmoxProvider::from_profile("pve", &cfg("root@pam!t", None)).unwrap_err();
        assert!(e.contains("has no token_secret"), "{e}");
        let p = ProxmoxProvider::from_profile("pve", &cfg("root@pam!t", Some("s3cr3t"))).unwrap();
        assert!(
            !format!("{p:?}").contains("s3cr3t"),
            "the secret is never shown"
        );
        let mut http = cfg("root@pam!t", Some("s"));
        http.url = Some("http://pve.lab".into());
        let e = ProxmoxProvider::from_profile("pve", &http).unwrap_err();
        assert!(e.contains("is not https"), "{e}");
    }

    #[test]
    fn a_task_log_gives_its_last_line_and_its_percentage_where_it_says_one() {
        let mut log = TaskLog::default();
        log.add(
            [
                "saving VM state and RAM using storage 'local-lvm'",
                "1.02 GiB in 1s",
                "",
            ]
            .map(String::from)
            .into_iter(),
        );
        assert_eq!(log.read, 3);
        assert_eq!(log.last.as_deref(), Some("1.02 GiB in 1s"));
        assert_eq!(log.percent, None);
        log.add(
            ["Removing image: 45% complete...", "TASK OK"]
                .map(String::from)
                .into_iter(),
        );
        assert_eq!(log.percent, Some(45));
        assert_eq!(log.last.as_deref(), Some("Removing image: 45% complete..."));
        log.add(std::iter::once("x".repeat(500)));
        assert!(
            log.last
                .as_deref()
                .is_some_and(|l| l.ends_with("… (380 more characters)")),
            "{:?}",
            log.last
        );
        assert_eq!(percent("100% done"), Some(100));
        assert_eq!(percent("a 1000% claim"), None);
        assert_eq!(percent("50 % apart"), None);
    }

    #[test]
    fn the_url_becomes_the_api_base() {
        assert_eq!(
            api_base("pve.example.com").unwrap(),
            "https://pve.example.com:8006/api2/json"
        );
        assert_eq!(
            api_base("https://10.0.0.5:443/").unwrap(),
            "https://10.0.0.5:443/api2/json"
        );
        assert!(api_base("http://pve").is_err());
        assert!(api_base("https://root:pw@pve").is_err());
    }

    #[test]
    fn a_snapshot_list_becomes_a_tree_and_where_the_guest_stands() {
        let entry = |name: &str, parent: Option<&str>, t: i64| WireSnapshot {
            name: name.into(),
            parent: parent.map(String::from),
            snaptime: Some(t),
            description: None,
            vmstate: Some(Value::from(1)),
        };
        let list = vec![
            entry("a", None, 1),
            entry("b", Some("a"), 2),
            entry("c", Some("a"), 3),
            // A parent that is not listed: a root, not lost.
            entry("d", Some("gone"), 4),
            // A self-parent: a root, no loop.
            entry("e", Some("e"), 5),
            // Two parents of each other: both shown, at the root.
            entry("f", Some("g"), 6),
            entry("g", Some("f"), 7),
            entry("current", Some("c"), 0),
        ];
        let (roots, current) = tree(list, false);
        assert_eq!(current.as_deref(), Some("c"));
        let names: Vec<&str> = roots.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "d", "e", "f", "g"]);
        assert_eq!(roots[0].children.len(), 2);
        assert!(!roots[0].memory, "a container has no RAM state");
        assert_eq!(
            upid_node("UPID:pve2:0001:0002:0003:qmsnapshot:100:u@pve!t:"),
            Some("pve2")
        );
        assert_eq!(upid_node("task-1"), None);
    }
}
