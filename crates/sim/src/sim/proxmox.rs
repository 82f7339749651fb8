//! The Proxmox VE simulator: the API's snapshot surface over HTTPS, on a profile of the
//! estate, as the API viewer's schema (`/api2/json`, answers wrapped in `{"data": …}`)
//! describes it — `version`, `cluster/resources`, each guest's `snapshot` list (the `current`
//! entry whose parent is where the guest stands), take, rollback, delete, the description
//! (`snapshot/{name}/config`), and tasks named by UPIDs (`nodes/{node}/tasks/{upid}/status`).
//! API tokens are checked (`Authorization: PVEAPIToken=USER@REALM!NAME=SECRET`). Bodies are
//! read as forms (what proxmoxer and pvesh send) or JSON. What it does not model:
//! docs/proxmox.md.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::Estate;
use super::estate::is_container;
use crate::model::{Machine, Operation, PowerState, ProviderKind, Snapshot, TaskState};
use crate::provider::ProviderError;

/// How to run the simulator.
#[derive(Clone, Debug)]
pub struct ProxmoxSimOptions {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// The estate profile to serve (default: the first Proxmox one).
    pub profile: Option<String>,
    /// The API token's id accepted (`USER@REALM!NAME`).
    pub token_id: String,
    /// Its secret.
    pub token_secret: String,
}

impl Default for ProxmoxSimOptions {
    fn default() -> Self {
        ProxmoxSimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            profile: None,
            token_id: "demo@pve!snaptree".into(),
            token_secret: "demo".into(),
        }
    }
}

struct State {
    opts: ProxmoxSimOptions,
    profile: String,
    estate: Arc<Estate>,
    /// Requests received, as `METHOD /path`.
    log: Mutex<Vec<String>>,
}

/// A running simulator; dropping it stops the server.
pub struct ProxmoxSimHandle {
    url: String,
    addr: SocketAddr,
    certificate_pem: String,
    thumbprint: String,
    state: Arc<State>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl ProxmoxSimHandle {
    /// The API's base, e.g. `https://127.0.0.1:8006`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's certificate (self-signed, made at start) in PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// SHA-256 of the certificate's DER, as `SHA256:` and lower-case hex.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// Requests received so far, as `METHOD /api2/json/…`.
    pub fn requests(&self) -> Vec<String> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What `snaptree sim proxmox` prints: the endpoint, the token (demo values) and the
    /// certificate's thumbprint.
    pub fn describe(&self) -> String {
        let o = &self.state.opts;
        format!(
            "Proxmox VE simulator serving profile {} at {}\n\
             API token: {}  secret: {}\n\
             certificate thumbprint: {}\n",
            self.state.profile, self.url, o.token_id, o.token_secret, self.thumbprint
        )
    }
}

impl Drop for ProxmoxSimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serve `opts.profile` (default: the first Proxmox profile) of `estate` until the handle
/// drops.
pub async fn serve(
    opts: ProxmoxSimOptions,
    estate: Arc<Estate>,
) -> std::io::Result<ProxmoxSimHandle> {
    let proxmox = |(_, k): &(String, ProviderKind)| *k == ProviderKind::Proxmox;
    let profile = match &opts.profile {
        Some(p) if estate.profiles().iter().any(|e| &e.0 == p && proxmox(e)) => p.clone(),
        Some(p) => {
            return Err(std::io::Error::other(format!(
                "no Proxmox profile {p} in the estate"
            )));
        }
        None => estate
            .profiles()
            .into_iter()
            .find(proxmox)
            .map(|(n, _)| n)
            .ok_or_else(|| std::io::Error::other("the estate has no Proxmox profile to serve"))?,
    };
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let tls = super::server::tls(addr, &[])?;
    let state = Arc::new(State {
        opts,
        profile,
        estate,
        log: Mutex::new(Vec::new()),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let st = state.clone();
    super::server::spawn(listener, Some(tls.acceptor), stopped, move |req, _| {
        let st = st.clone();
        async move { st.handle(req).await }
    });
    let (certificate_pem, thumbprint) = (tls.certificate_pem, tls.thumbprint);
    Ok(ProxmoxSimHandle {
        url: format!("https://{addr}"),
        addr,
        certificate_pem,
        thumbprint,
        state,
        stop,
    })
}

/// An API error: its status and message (PVE puts it in the reason and the body).
struct Fail(StatusCode, String);

impl From<ProviderError> for Fail {
    fn from(e: ProviderError) -> Fail {
        match e {
            ProviderError::NotFound(m) => Fail(StatusCode::INTERNAL_SERVER_ERROR, m),
            ProviderError::Busy(m) | ProviderError::InvalidState(m) => {
                Fail(StatusCode::INTERNAL_SERVER_ERROR, m)
            }
            ProviderError::Unsupported(m) => Fail(StatusCode::NOT_IMPLEMENTED, m),
            other => Fail(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

/// `%XX` and `+` decoded (a form's field).
fn form_decode(s: &str) -> String {
    decode(s, true)
}

/// `%XX` decoded, and `+` as a space in a form (`plus`), not in a path.
fn decode(s: &str, plus: bool) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'+', ..) if plus => out.push(b' '),
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 2;
            }
            (b, ..) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A body's fields: a form (`a=1&b=2`) or a JSON object.
fn fields(body: &[u8], json_body: bool) -> Result<Value, Fail> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    if json_body {
        return serde_json::from_slice(body)
            .map_err(|e| Fail(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")));
    }
    let text = String::from_utf8_lossy(body);
    let mut map = serde_json::Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.insert(form_decode(k), Value::String(form_decode(v)));
    }
    Ok(Value::Object(map))
}

/// A field as a boolean the API's way (`1`, `true`, `on`).
fn flag(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => matches!(s.as_str(), "1" | "true" | "on" | "yes"),
        _ => false,
    }
}

impl State {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{method} {path}"));
        let authorized = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| {
                h == format!(
                    "PVEAPIToken={}={}",
                    self.opts.token_id, self.opts.token_secret
                )
            });
        let json_body = req
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"));
        let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let result = if authorized {
            fields(&body, json_body).and_then(|f| self.route(&method, &path, &query, &f))
        } else {
            Err(Fail(
                StatusCode::UNAUTHORIZED,
                "authentication failure".into(),
            ))
        };
        let (status, value) = match result {
            Ok(data) => (StatusCode::OK, json!({ "data": data })),
            Err(Fail(status, message)) => (
                status,
                json!({ "data": null, "message": format!("{message}\n") }),
            ),
        };
        Response::builder()
            .status(status)
            .header(
                hyper::header::CONTENT_TYPE,
                "application/json;charset=UTF-8",
            )
            .body(Full::new(Bytes::from(value.to_string())))
            .map_err(std::io::Error::other)
    }

    fn guest(&self, node: &str, kind: &str, vmid: &str) -> Result<Machine, Fail> {
        let m = self
            .estate
            .machine(&self.profile, vmid)
            .map_err(|_| missing_guest(vmid))?;
        let actual = if is_container(&m) { "lxc" } else { "qemu" };
        if m.location.first().map(String::as_str) != Some(node) || actual != kind {
            return Err(missing_guest(vmid));
        }
        Ok(m)
    }

    fn start(&self, vmid: &str, op: &Operation) -> Result<Value, Fail> {
        Ok(json!(self.estate.start(&self.profile, vmid, op)?))
    }

    fn route(&self, method: &Method, path: &str, query: &str, f: &Value) -> Result<Value, Fail> {
        let rest = path.strip_prefix("/api2/json/").ok_or_else(|| {
            Fail(
                StatusCode::NOT_IMPLEMENTED,
                format!("Method '{method} {path}' not implemented"),
            )
        })?;
        // Each segment decoded, as the real server does (a UPID's colons come as %3A).
        let decoded: Vec<String> = rest
            .trim_end_matches('/')
            .split('/')
            .map(|s| decode(s, false))
            .collect();
        let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
        match (method.as_str(), segs.as_slice()) {
            ("GET", ["version"]) => {
                Ok(json!({"version": "8.2.4", "release": "8.2", "repoid": "snaptree-sim"}))
            }
            ("GET", ["nodes"]) => Ok(json!(
                self.nodes()?
                    .into_iter()
                    .map(|n| json!({"node": n, "status": "online", "type": "node"}))
                    .collect::<Vec<_>>()
            )),
            ("GET", ["cluster", "resources"]) => self.resources(query),
            ("GET", ["access", "permissions"]) => Ok(json!({
                "/vms": {"VM.Audit": 1, "VM.Snapshot": 1, "VM.Snapshot.Rollback": 1},
            })),
            ("GET", ["nodes", node, kind, vmid, "snapshot"]) => {
                let m = self.guest(node, kind, vmid)?;
                Ok(snapshot_list(&m))
            }
            ("POST", ["nodes", node, kind, vmid, "snapshot"]) => {
                let m = self.guest(node, kind, vmid)?;
                let name = f["snapname"].as_str().ok_or_else(|| {
                    Fail(
                        StatusCode::BAD_REQUEST,
                        "snapname: property is missing and it is not optional".into(),
                    )
                })?;
                if let Some(why) = crate::model::machine::proxmox_name_refusal(name) {
                    return Err(Fail(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "Parameter verification failed. (snapname: invalid format - {why})"
                        ),
                    ));
                }
                let memory = flag(&f["vmstate"]);
                if memory && is_container(&m) {
                    return Err(Fail(
                        StatusCode::BAD_REQUEST,
                        "vmstate: property is not defined in schema and the schema does not allow additional properties".into(),
                    ));
                }
                self.start(
                    vmid,
                    &Operation::Take {
                        name: name.to_string(),
                        description: f["description"].as_str().unwrap_or_default().to_string(),
                        memory: memory && m.power_state == PowerState::PoweredOn,
                        quiesce: false,
                        quiesce_timeout: None,
                    },
                )
            }
            ("GET", ["nodes", node, kind, vmid, "snapshot", name, "config"]) => {
                let m = self.guest(node, kind, vmid)?;
                let s = m.find(name).ok_or_else(|| missing_snapshot(name))?;
                Ok(
                    json!({"description": s.description, "snaptime": s.created.timestamp(), "vmstate": u8::from(s.memory)}),
                )
            }
            ("PUT", ["nodes", node, kind, vmid, "snapshot", name, "config"]) => {
                self.guest(node, kind, vmid)?;
                self.estate.start(
                    &self.profile,
                    vmid,
                    &Operation::Rename {
                        snapshot: (*name).to_string(),
                        name: None,
                        description: Some(
                            f["description"].as_str().unwrap_or_default().to_string(),
                        ),
                    },
                )?;
                Ok(Value::Null)
            }
            ("POST", ["nodes", node, kind, vmid, "snapshot", name, "rollback"]) => {
                self.guest(node, kind, vmid)?;
                self.start(
                    vmid,
                    &Operation::Revert {
                        snapshot: (*name).to_string(),
                        suppress_power_on: false,
                        start: flag(&f["start"]),
                    },
                )
            }
            ("DELETE", ["nodes", node, kind, vmid, "snapshot", name]) => {
                self.guest(node, kind, vmid)?;
                self.start(
                    vmid,
                    &Operation::Delete {
                        snapshot: (*name).to_string(),
                        children: false,
                    },
                )
            }
            ("GET", ["nodes", node, "tasks", upid, "status"]) => self.task(node, upid),
            ("GET", ["nodes", node, "tasks", upid, "log"]) => self.task_log(node, upid, query),
            ("DELETE", ["nodes", node, "tasks", upid]) => self.stop_task(node, upid),
            _ => Err(Fail(
                StatusCode::NOT_IMPLEMENTED,
                format!("Method '{method} /{rest}' not implemented"),
            )),
        }
    }

    fn nodes(&self) -> Result<Vec<String>, Fail> {
        let mut nodes: Vec<String> = self
            .estate
            .machines(&self.profile)?
            .iter()
            .filter_map(|m| m.location.first().cloned())
            .collect();
        nodes.sort();
        nodes.dedup();
        Ok(nodes)
    }

    /// `GET /cluster/resources[?type=vm]`: every guest (and, without `type=vm`, the nodes).
    fn resources(&self, query: &str) -> Result<Value, Fail> {
        let only_vms = query.split('&').any(|kv| kv == "type=vm");
        let mut out: Vec<Value> = self
            .estate
            .machines(&self.profile)?
            .iter()
            .map(|m| {
                let kind = if is_container(m) { "lxc" } else { "qemu" };
                json!({
                    "id": format!("{kind}/{}", m.id),
                    "type": kind,
                    "vmid": m.id.parse::<u64>().unwrap_or_default(),
                    "node": m.location.first(),
                    "name": m.name,
                    "status": if m.power_state == PowerState::PoweredOn { "running" } else { "stopped" },
                    "template": 0,
                })
            })
            .collect();
        if !only_vms {
            out.extend(self.nodes()?.into_iter().map(|n| {
                json!({"id": format!("node/{n}"), "type": "node", "node": n, "status": "online"})
            }));
        }
        Ok(json!(out))
    }

    /// The task `upid` of this profile on `node`, or the server's refusal.
    fn task_on(&self, node: &str, upid: &str) -> Result<super::TaskDetail, Fail> {
        let on_node = upid.split(':').nth(1) == Some(node);
        self.estate
            .task_detail(upid)
            .ok()
            .filter(|t| on_node && t.profile == self.profile)
            .ok_or_else(|| {
                Fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("no such task '{upid}'"),
                )
            })
    }

    /// `GET …/tasks/{upid}/log?start=N&limit=M`: the lines the task wrote so far, numbered
    /// from 1 (`{n, t}`), as a snapshot task writes them (`task_lines`).
    fn task_log(&self, node: &str, upid: &str, query: &str) -> Result<Value, Fail> {
        let t = self.task_on(node, upid)?;
        let m = self.estate.machine(&self.profile, &t.machine_id)?;
        let param = |name: &str, default: usize| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let (start, limit) = (param("start", 0), param("limit", 50));
        let lines = task_lines(&m, &t);
        Ok(json!(
            lines
                .iter()
                .enumerate()
                .skip(start)
                .take(limit)
                .map(|(i, l)| json!({"n": i + 1, "t": l}))
                .collect::<Vec<_>>()
        ))
    }

    /// `DELETE …/tasks/{upid}`: stop a task. A snapshot being taken stops and its worker
    /// deletes what it had made (the estate's cancel: the take is not applied); stopping a
    /// rollback or a delete midway (the guest left locked, a snapshot half done) is not
    /// modelled.
    fn stop_task(&self, node: &str, upid: &str) -> Result<Value, Fail> {
        let t = self.task_on(node, upid)?;
        if t.status.state.is_final() {
            return Ok(Value::Null);
        }
        if !matches!(t.op, Operation::Take { .. }) {
            return Err(Fail(
                StatusCode::NOT_IMPLEMENTED,
                "the simulator stops only a snapshot being taken".into(),
            ));
        }
        self.estate.start(
            &self.profile,
            &t.machine_id,
            &Operation::Cancel {
                task: upid.to_string(),
            },
        )?;
        Ok(Value::Null)
    }

    fn task(&self, node: &str, upid: &str) -> Result<Value, Fail> {
        let st = self.task_on(node, upid)?.status;
        let parts: Vec<&str> = upid.split(':').collect();
        let mut v = json!({
            "upid": upid,
            "node": node,
            "type": parts.get(5),
            "id": parts.get(6),
            "user": parts.get(7),
            "starttime": parts.get(4).and_then(|h| i64::from_str_radix(h, 16).ok()),
            "status": if st.state.is_final() { "stopped" } else { "running" },
        });
        if st.state.is_final() {
            v["exitstatus"] = json!(match st.state {
                TaskState::Success => "OK".to_string(),
                TaskState::Cancelled => "received interrupt".to_string(),
                _ => st.message.unwrap_or_else(|| "unknown error".into()),
            });
        }
        Ok(v)
    }
}

/// What a snapshot task of `m` has written to its log by now, in the words Proxmox VE's
/// workers use on LVM-thin storage (`local-lvm`): a RAM state's saving, second by second,
/// then the disks' snapshot; a delete's removed volumes; a rollback's. The end's line is
/// `TASK OK` or `TASK ERROR: …`. No percentage: a snapshot task on this storage gives none.
fn task_lines(m: &Machine, t: &super::TaskDetail) -> Vec<String> {
    let done = |p: u8| t.status.state.is_final() || t.status.progress.unwrap_or(0) >= p;
    let disk = format!("vm-{}-disk-0", m.id);
    let snapshotting = |name: &str| {
        let mut l = Vec::new();
        if !is_container(m) {
            l.push(format!("snapshotting 'drive-scsi0' (local-lvm:{disk})"));
        }
        l.push(format!("  Logical volume \"snap_{disk}_{name}\" created."));
        l
    };
    let mut lines = Vec::new();
    match &t.op {
        Operation::Take {
            name, memory: true, ..
        } => {
            let gib = m.memory_mb.unwrap_or(4096) as f64 / 1024.0;
            lines.push(format!(
                "  Logical volume \"vm-{}-state-{name}\" created.",
                m.id
            ));
            lines.push("saving VM state and RAM using storage 'local-lvm'".into());
            // Saving the RAM is the task's first 60 %, a line a second (one per 10 %).
            for step in 1..=6u8 {
                if done(step * 10) {
                    lines.push(format!(
                        "{:.2} GiB in {}s",
                        gib * f64::from(step) / 6.0,
                        step - 1
                    ));
                }
            }
            if done(60) {
                lines.push(format!(
                    "completed saving the VM state in 6s, saved {gib:.2} GiB"
                ));
            }
            if done(70) {
                lines.extend(snapshotting(name));
            }
        }
        Operation::Take { name, .. } if done(30) => lines.extend(snapshotting(name)),
        Operation::Delete { snapshot, .. } if done(50) => lines.push(format!(
            "  Logical volume \"snap_{disk}_{snapshot}\" successfully removed."
        )),
        Operation::Revert { .. } => {
            if done(30) {
                lines.push(format!("  Logical volume \"{disk}\" successfully removed."));
            }
            if done(60) {
                lines.push(format!("  Logical volume \"{disk}\" created."));
            }
        }
        _ => {}
    }
    match t.status.state {
        TaskState::Success => lines.push("TASK OK".into()),
        TaskState::Cancelled => lines.extend([
            "snapshot create failed: starting cleanup".to_string(),
            "TASK ERROR: received interrupt".to_string(),
        ]),
        TaskState::Error => lines.push(format!(
            "TASK ERROR: {}",
            t.status.message.as_deref().unwrap_or("unknown error")
        )),
        TaskState::Running | TaskState::Queued => {}
    }
    lines
}

fn missing_guest(vmid: &str) -> Fail {
    Fail(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("Configuration file 'nodes/…/{vmid}.conf' does not exist"),
    )
}

fn missing_snapshot(name: &str) -> Fail {
    Fail(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("snapshot '{name}' does not exist"),
    )
}

/// `GET …/snapshot`: each snapshot (`name`, `parent`, `snaptime`, `description`, and
/// `vmstate` for a QEMU VM), then `current`, whose parent is where the guest stands.
fn snapshot_list(m: &Machine) -> Value {
    fn walk(nodes: &[Snapshot], parent: Option<&str>, qemu: bool, out: &mut Vec<Value>) {
        for s in nodes {
            let mut v = json!({
                "name": s.id,
                "snaptime": s.created.timestamp(),
                "description": s.description,
            });
            if let Some(p) = parent {
                v["parent"] = json!(p);
            }
            if qemu {
                v["vmstate"] = json!(u8::from(s.memory));
            }
            out.push(v);
            walk(&s.children, Some(&s.id), qemu, out);
        }
    }
    let mut out = Vec::new();
    walk(&m.snapshots, None, !is_container(m), &mut out);
    let mut current = json!({
        "name": "current",
        "description": "You are here!",
        "running": u8::from(m.power_state == PowerState::PoweredOn),
    });
    if let Some(c) = &m.current {
        current["parent"] = json!(c);
    }
    out.push(current);
    json!(out)
}
