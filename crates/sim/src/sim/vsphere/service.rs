//! The vim25 service: HTTP routes, sessions, method dispatch, tasks and the property
//! collector's state (views, filters, paging tokens, update versions).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};

use super::collector::{self, FilterSpec, Obj, Props, Source, is_a};
use super::inventory::{self, Inventory, ROOT_FOLDER};
use super::json;
use super::xml::{self, Element, Val};
use super::{Fault, VsphereSimOptions};
use crate::model::{Operation, PowerState, TaskState};
use crate::provider::ProviderError;
use crate::sim::Estate;

/// The API version served, and the older ones clients may ask for.
const API_VERSION: &str = "8.0.3.0";
const PRIOR_VERSIONS: &[&str] = &[
    "8.0.2.0", "8.0.1.0", "8.0.0.2", "8.0.0.1", "8.0.0.0", "7.0.3.0", "7.0.2.0", "7.0.1.0",
    "7.0.0.0", "6.7.3", "6.7", "6.5", "6.0",
];
/// The session cookie vCenter sets.
const COOKIE_NAME: &str = "vmware_soap_session";
/// The header VI/JSON carries the session key in, both ways.
const JSON_SESSION_HEADER: &str = "vmware-api-session-id";
/// Requests larger than this are refused (a SOAP call is a few kilobytes).
const MAX_BODY: usize = 4 << 20;
/// Longest a `WaitForUpdates` without a limit waits before answering empty.
const LONGEST_WAIT: Duration = Duration::from_secs(30 * 60);
/// What a read-only account holds (vCenter's Read-only role); it lacks every other privilege.
const READ_PRIVILEGES: &[&str] = &["System.Anonymous", "System.View", "System.Read"];

struct Session {
    user: String,
    /// Logged in as the viewer: may read, may not change.
    read_only: bool,
    login_time: DateTime<Utc>,
    last_active: Instant,
    last_active_utc: DateTime<Utc>,
    calls: i64,
    user_agent: String,
    ip: String,
}

struct View {
    session: String,
    container: String,
    types: Vec<String>,
    recursive: bool,
}

/// What one filter reported: each object with the fingerprints of its properties.
type Reported = Vec<(Obj, HashMap<String, String>)>;

#[derive(Default)]
struct Collector {
    filters: Vec<String>,
    version: u64,
    /// What each filter reported at `version`: objects with their property fingerprints.
    state: HashMap<String, Reported>,
    /// Counts waits begun: an older wait that sees a newer one ends with RequestCanceled.
    waits: u64,
}

struct Filter {
    collector: (String, String),
    spec: FilterSpec,
    partial: bool,
}

struct TaskRecord {
    queued: DateTime<Utc>,
    user: String,
    completed: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Tables {
    sessions: HashMap<String, Session>,
    views: HashMap<String, View>,
    /// Keyed by (session, collector id): the default collector is per session, as on vCenter.
    collectors: HashMap<(String, String), Collector>,
    filters: HashMap<String, Filter>,
    /// Paging tokens: owner session, page size asked, objects still to send.
    pages: HashMap<String, (String, usize, VecDeque<Val>)>,
    tasks: HashMap<String, TaskRecord>,
    /// Task history collectors: owner session, the tasks still to read.
    task_collectors: HashMap<String, (String, VecDeque<Val>)>,
    calls: Vec<String>,
    /// Listing calls (`RetrievePropertiesEx` and its continuations) answered so far.
    listings: usize,
}

/// Days of task history the simulator keeps, as vCenter keeps 30 by default: snapshots
/// taken before have no known creator.
pub(crate) const HISTORY_DAYS: i64 = 30;

/// The service behind the HTTPS listener.
pub(crate) struct Service {
    opts: VsphereSimOptions,
    profile: String,
    estate: Arc<Estate>,
    instance_uuid: String,
    tables: Mutex<Tables>,
    counter: AtomicU64,
}

/// One SOAP call.
struct Call {
    method: String,
    this: Obj,
    body: Element,
    session: Option<String>,
    user_agent: String,
    peer: SocketAddr,
}

/// What a method returns: its value (none for void) and a cookie to set.
type Outcome = Result<(Option<Val>, Option<String>), Fault>;

fn random_hex(n: usize, salt: u64) -> String {
    let mut out = String::new();
    let mut i = 0u64;
    while out.len() < n {
        let h = RandomState::new().hash_one((salt, i, Instant::now()));
        out.push_str(&format!("{h:016x}"));
        i += 1;
    }
    out.truncate(n);
    out
}

fn uuid(salt: u64) -> String {
    let h = random_hex(32, salt);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope \
         xmlns:soapenc=\"http://schemas.xmlsoap.org/soap/encoding/\" \
         xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<soapenv:Body>{body}</soapenv:Body>\n</soapenv:Envelope>"
    )
}

/// The request's `User-Agent`, or nothing.
fn user_agent(req: &Request<Incoming>) -> String {
    req.headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// A request body, up to `MAX_BODY`.
async fn read_body(req: Request<Incoming>) -> Result<Bytes, Fault> {
    Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| Fault::new("InvalidRequest", format!("cannot read the request: {e}")))
}

fn session_from_cookies<'a>(headers: impl Iterator<Item = &'a str>) -> Option<String> {
    // pyVmomi sends back the whole Set-Cookie line (with Path, HttpOnly…): take our pair.
    for header in headers {
        for part in header.split(';') {
            if let Some((k, v)) = part.trim().split_once('=')
                && k.trim() == COOKIE_NAME
            {
                return Some(v.trim().trim_matches('"').to_string());
            }
        }
    }
    None
}

/// A path segment with its `%XX` escapes undone.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn versions_xml() -> String {
    let prior: String = PRIOR_VERSIONS
        .iter()
        .map(|v| format!("<version>{v}</version>"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<namespaces version=\"1.0\">\n \
         <namespace>\n  <name>urn:vim25</name>\n  <version>{API_VERSION}</version>\n  \
         <priorVersions>{prior}</priorVersions>\n </namespace>\n</namespaces>\n"
    )
}

fn wsdl(host: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<definitions targetNamespace=\"urn:vim25Service\" \
         xmlns=\"http://schemas.xmlsoap.org/wsdl/\" xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\" \
         xmlns:interface=\"urn:vim25\">\n <import location=\"vim.wsdl\" namespace=\"urn:vim25\"/>\n \
         <service name=\"VimService\">\n  <port binding=\"interface:VimBinding\" name=\"VimPort\">\n   \
         <soap:address location=\"https://{host}/sdk\"/>\n  </port>\n </service>\n</definitions>\n"
    )
}

fn power_name(p: PowerState) -> &'static str {
    match p {
        PowerState::PoweredOn => "poweredOn",
        PowerState::Suspended => "suspended",
        _ => "poweredOff",
    }
}

fn task_names(op: &Operation) -> (&'static str, &'static str) {
    match op {
        Operation::Take {
            quiesce_timeout: Some(_),
            ..
        } => ("CreateSnapshotEx_Task", "VirtualMachine.createSnapshotEx"),
        Operation::Take { .. } => ("CreateSnapshot_Task", "VirtualMachine.createSnapshot"),
        Operation::Revert { .. } => ("RevertToSnapshot_Task", "vm.Snapshot.revert"),
        Operation::RevertCurrent { .. } => (
            "RevertToCurrentSnapshot_Task",
            "VirtualMachine.revertToCurrentSnapshot",
        ),
        Operation::Delete { .. } => ("RemoveSnapshot_Task", "vm.Snapshot.remove"),
        Operation::DeleteAll => (
            "RemoveAllSnapshots_Task",
            "VirtualMachine.removeAllSnapshots",
        ),
        Operation::Consolidate => ("ConsolidateVMDisks_Task", "VirtualMachine.consolidateDisks"),
        Operation::Rename { .. } => ("RenameSnapshot", "vm.Snapshot.rename"),
        Operation::Replace { .. }
        | Operation::Cancel { .. }
        | Operation::Backup(_)
        | Operation::Order(_) => ("", ""),
    }
}

/// The fault a failed task reports, from the estate's message (`Kind: text` when the
/// estate names a vim25 fault).
fn task_fault(message: &str) -> Fault {
    let (kind, text) = match message.split_once(": ") {
        Some((k, t)) => (k, t),
        None => ("", message),
    };
    match kind {
        "NoDiskSpace" => Fault::new("NoDiskSpace", text)
            .with("file", Val::str(""))
            .with("datastore", Val::str("datastore1")),
        "TooManySnapshotLevels" => Fault::new("TooManySnapshotLevels", text),
        "SnapshotLocked" => Fault::new("SnapshotLocked", text),
        "SnapshotDisabled" => Fault::new("SnapshotDisabled", text),
        "ApplicationQuiesceFault" => Fault::new("ApplicationQuiesceFault", text),
        "FilesystemQuiesceFault" => Fault::new("FilesystemQuiesceFault", text),
        "ToolsUnavailable" => Fault::new("ToolsUnavailable", text),
        _ => Fault::new("SystemError", message).with("reason", Val::str(message)),
    }
}

/// The world as one request sees it: the inventory now, and the objects read so far.
struct World<'a> {
    svc: &'a Service,
    inv: Inventory,
    now: DateTime<Utc>,
    session: Option<String>,
    cache: HashMap<Obj, Option<Val>>,
}

impl Source for World<'_> {
    fn object(&mut self, obj: &Obj) -> Option<Val> {
        if let Some(v) = self.cache.get(obj) {
            return v.clone();
        }
        let v = self.compute(obj);
        self.cache.insert(obj.clone(), v.clone());
        v
    }
}

impl World<'_> {
    fn compute(&self, (kind, id): &Obj) -> Option<Val> {
        let list = |items: Vec<Val>| Val::List("ManagedObjectReference", items);
        match kind.as_str() {
            "Folder" | "Datacenter" => self
                .inv
                .containers
                .get(id)
                .filter(|c| c.kind == kind)
                .map(|c| self.inv.container_val(c)),
            "VirtualMachine" => self
                .inv
                .vm(id)
                .map(|(m, folder)| self.inv.vm_val(m, folder, self.now)),
            "Datastore" => self.inv.datastore_val(id),
            "VirtualMachineSnapshot" => self
                .inv
                .vm_of_snapshot(id)
                .map(|m| inventory::snapshot_object_val(m, id)),
            "Task" => self.svc.task_val(id),
            "ContainerView" => {
                let t = self.svc.tables();
                let v = t.views.get(id)?;
                let members = self
                    .inv
                    .descendants(&v.container, v.recursive)
                    .into_iter()
                    .filter(|(k, _)| v.types.is_empty() || v.types.iter().any(|t| is_a(k, t)))
                    .map(|(k, i)| Val::mor(k, &i))
                    .collect();
                Some(Val::Obj(
                    "ContainerView",
                    vec![
                        (
                            "container",
                            Val::mor(
                                self.inv.kind_of(&v.container).unwrap_or("Folder"),
                                &v.container,
                            ),
                        ),
                        (
                            "type",
                            Val::List("string", v.types.iter().map(Val::str).collect()),
                        ),
                        ("recursive", Val::Bool(v.recursive)),
                        ("view", list(members)),
                    ],
                ))
            }
            "ServiceInstance" if id == "ServiceInstance" => Some(Val::Obj(
                "ServiceInstance",
                vec![
                    ("content", self.svc.service_content()),
                    ("serverClock", Val::Time(self.now)),
                ],
            )),
            "SessionManager" if id == "SessionManager" => {
                let current = self.session.as_ref().and_then(|k| self.svc.session_val(k));
                Some(Val::Obj(
                    "SessionManager",
                    vec![
                        ("currentSession", Val::opt(current)),
                        ("defaultLocale", Val::str("en")),
                        ("messageLocale", Val::str("en")),
                    ],
                ))
            }
            "PropertyCollector" => {
                let session = self.session.clone().unwrap_or_default();
                let t = self.svc.tables();
                let key = (session, id.clone());
                if id != "propertyCollector" && !t.collectors.contains_key(&key) {
                    return None;
                }
                let filters = t
                    .collectors
                    .get(&key)
                    .map(|c| {
                        c.filters
                            .iter()
                            .map(|f| Val::mor("PropertyFilter", f))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(Val::Obj(
                    "PropertyCollector",
                    vec![("filter", list(filters))],
                ))
            }
            "PropertyFilter" => {
                let t = self.svc.tables();
                t.filters.get(id).map(|f| {
                    Val::Obj(
                        "PropertyFilter",
                        vec![("partialUpdates", Val::Bool(f.partial))],
                    )
                })
            }
            "ViewManager" if id == "ViewManager" => {
                let session = self.session.clone().unwrap_or_default();
                let t = self.svc.tables();
                let views = t
                    .views
                    .iter()
                    .filter(|(_, v)| v.session == session)
                    .map(|(k, _)| Val::mor("ContainerView", k))
                    .collect();
                Some(Val::Obj("ViewManager", vec![("viewList", list(views))]))
            }
            "TaskManager" if id == "TaskManager" => {
                let t = self.svc.tables();
                let mut ids: Vec<&String> = t.tasks.keys().collect();
                ids.sort();
                Some(Val::Obj(
                    "TaskManager",
                    vec![(
                        "recentTask",
                        list(ids.into_iter().map(|i| Val::mor("Task", i)).collect()),
                    )],
                ))
            }
            _ => None,
        }
    }
}

impl Service {
    pub(crate) fn new(opts: VsphereSimOptions, profile: String, estate: Arc<Estate>) -> Self {
        Service {
            opts,
            profile,
            estate,
            instance_uuid: uuid(0),
            tables: Mutex::new(Tables::default()),
            counter: AtomicU64::new(1),
        }
    }

    pub(crate) fn profile(&self) -> &str {
        &self.profile
    }

    pub(crate) fn options(&self) -> &VsphereSimOptions {
        &self.opts
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.tables().calls.clone()
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    fn world(&self, session: Option<String>) -> Result<World<'_>, Fault> {
        let machines = self.estate.machines(&self.profile).map_err(|e| {
            Fault::new("SystemError", e.to_string()).with("reason", Val::str(e.to_string()))
        })?;
        Ok(World {
            svc: self,
            inv: Inventory::build(machines),
            now: Utc::now(),
            session,
            cache: HashMap::new(),
        })
    }

    fn service_content(&self) -> Val {
        let mor = |k: &str, id: &str| Val::mor(k, id);
        Val::Obj(
            "ServiceContent",
            vec![
                ("rootFolder", mor("Folder", ROOT_FOLDER)),
                (
                    "propertyCollector",
                    mor("PropertyCollector", "propertyCollector"),
                ),
                ("viewManager", mor("ViewManager", "ViewManager")),
                (
                    "about",
                    Val::Obj(
                        "AboutInfo",
                        vec![
                            ("name", Val::str("VMware vCenter Server")),
                            (
                                "fullName",
                                Val::str(
                                    "VMware vCenter Server 8.0.3 build-24022515 (snaptree simulator)",
                                ),
                            ),
                            ("vendor", Val::str("VMware, Inc.")),
                            ("version", Val::str("8.0.3")),
                            ("build", Val::str("24022515")),
                            ("localeVersion", Val::str("INTL")),
                            ("localeBuild", Val::str("000")),
                            ("osType", Val::str("linux-x64")),
                            ("productLineId", Val::str("vpx")),
                            ("apiType", Val::str("VirtualCenter")),
                            ("apiVersion", Val::str(API_VERSION)),
                            ("instanceUuid", Val::str(&self.instance_uuid)),
                            (
                                "licenseProductName",
                                Val::str("VMware VirtualCenter Server"),
                            ),
                            ("licenseProductVersion", Val::str("8.0")),
                        ],
                    ),
                ),
                ("sessionManager", mor("SessionManager", "SessionManager")),
                (
                    "authorizationManager",
                    mor("AuthorizationManager", "AuthorizationManager"),
                ),
                ("taskManager", mor("TaskManager", "TaskManager")),
            ],
        )
    }

    fn session_val(&self, key: &str) -> Option<Val> {
        let t = self.tables();
        let s = t.sessions.get(key)?;
        Some(Val::Obj(
            "UserSession",
            vec![
                ("key", Val::str(key)),
                ("userName", Val::str(&s.user)),
                ("fullName", Val::str(&s.user)),
                ("loginTime", Val::Time(s.login_time)),
                ("lastActiveTime", Val::Time(s.last_active_utc)),
                ("locale", Val::str("en")),
                ("messageLocale", Val::str("en")),
                ("extensionSession", Val::Bool(false)),
                ("ipAddress", Val::str(&s.ip)),
                ("userAgent", Val::str(&s.user_agent)),
                ("callCount", Val::Long(s.calls)),
            ],
        ))
    }

    /// `Task` properties from the estate's task and what this server recorded of it.
    fn task_val(&self, id: &str) -> Option<Val> {
        let d = self.estate.task_detail(id).ok()?;
        if d.profile != self.profile {
            return None;
        }
        let now = Utc::now();
        let (queued, user, completed) = {
            let mut t = self.tables();
            let user = self.opts.username.clone();
            let rec = t.tasks.entry(id.to_string()).or_insert(TaskRecord {
                queued: now,
                user,
                completed: None,
            });
            if d.status.state.is_final() && rec.completed.is_none() {
                rec.completed = Some(now);
            }
            (rec.queued, rec.user.clone(), rec.completed)
        };
        let (name, description_id) = task_names(&d.op);
        let entity_name = self
            .estate
            .machine(&self.profile, &d.machine_id)
            .map(|m| m.name)
            .unwrap_or_default();
        let st = &d.status;
        let state = match st.state {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Error | TaskState::Cancelled => "error",
        };
        // `error` is a LocalizedMethodFault, as vim25 defines it and pyVmomi requires.
        // vim_rs 0.7 models TaskInfo.error as a bare MethodFault and cannot read a whole
        // `info` that carries one; it reads `info.error` on its own path fine.
        let error = match st.state {
            TaskState::Cancelled => {
                Fault::new("RequestCanceled", "The task was canceled by a user.").localized()
            }
            TaskState::Error => {
                task_fault(st.message.as_deref().unwrap_or("The operation failed.")).localized()
            }
            _ => Val::Unset,
        };
        let result = match (&d.result, st.state) {
            (Some(snap), TaskState::Success) => {
                Val::Any(Box::new(Val::mor("VirtualMachineSnapshot", snap)))
            }
            _ => Val::Unset,
        };
        let info = Val::Obj(
            "TaskInfo",
            vec![
                ("key", Val::str(id)),
                ("task", Val::mor("Task", id)),
                ("name", Val::str(name)),
                ("descriptionId", Val::str(description_id)),
                ("entity", Val::mor("VirtualMachine", &d.machine_id)),
                ("entityName", Val::str(entity_name)),
                ("state", Val::Enum("TaskInfoState", state.into())),
                ("cancelled", Val::Bool(st.state == TaskState::Cancelled)),
                ("cancelable", Val::Bool(st.cancelable)),
                ("error", error),
                ("result", result),
                (
                    "progress",
                    Val::opt(st.progress.map(|p| Val::Int(i32::from(p)))),
                ),
                ("reason", user_reason(&user)),
                ("queueTime", Val::Time(queued)),
                ("startTime", Val::Time(queued)),
                ("completeTime", Val::opt(completed.map(Val::Time))),
                // Stable across reads: a changing value would wake every watcher of `info`.
                ("eventChainId", Val::Int(inventory::snapshot_number(id))),
            ],
        );
        Some(Val::Obj("Task", vec![("info", info)]))
    }

    /// Answer one HTTP request.
    pub(crate) async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let path = req.uri().path().to_string();
        let host = req
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string();
        let xml_reply = |status: StatusCode, body: String, cookie: Option<String>| {
            let mut b = Response::builder()
                .status(status)
                .header(CONTENT_TYPE, "text/xml; charset=utf-8");
            if let Some(c) = cookie {
                b = b.header(SET_COOKIE, c);
            }
            b.body(Full::new(Bytes::from(body)))
                .map_err(std::io::Error::other)
        };
        let json_reply = |status: StatusCode, body: String, session: Option<String>| {
            let mut b = Response::builder().status(status);
            if !body.is_empty() {
                b = b.header(CONTENT_TYPE, "application/json");
            }
            if let Some(key) = session {
                b = b.header(JSON_SESSION_HEADER, key);
            }
            b.body(Full::new(Bytes::from(body)))
                .map_err(std::io::Error::other)
        };
        match (req.method().clone(), path.as_str()) {
            (Method::GET, "/sdk/vimServiceVersions.xml") => {
                xml_reply(StatusCode::OK, versions_xml(), None)
            }
            (Method::GET, "/sdk/vimService.wsdl") => xml_reply(StatusCode::OK, wsdl(&host), None),
            (Method::POST, "/sdk" | "/sdk/") => {
                let session = session_from_cookies(
                    req.headers()
                        .get_all(COOKIE)
                        .iter()
                        .filter_map(|v| v.to_str().ok()),
                );
                let user_agent = user_agent(&req);
                let body = match read_body(req).await {
                    Ok(b) => b,
                    Err(f) => {
                        return xml_reply(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            envelope(&f.soap()),
                            None,
                        );
                    }
                };
                let text = String::from_utf8_lossy(&body);
                let listing = text.contains("RetrievePropertiesEx");
                let (status, mut body, cookie) = self.soap(&text, session, user_agent, peer).await;
                self.pad(listing, &mut body);
                xml_reply(status, body, cookie)
            }
            (Method::POST, "/api/vcenter/system") if self.opts.vi_json => {
                let hello = req
                    .uri()
                    .query()
                    .is_some_and(|q| q.split('&').any(|p| p == "action=hello"));
                if hello {
                    self.record("Hello");
                }
                let body = Limited::new(req.into_body(), MAX_BODY).collect().await;
                let answer = match body {
                    Ok(b) if hello => json::hello(&b.to_bytes()),
                    Ok(_) => Err("unknown action".to_string()),
                    Err(e) => Err(format!("cannot read the request: {e}")),
                };
                let (status, body) = match answer {
                    Ok(body) => (StatusCode::OK, body),
                    Err(e) => (
                        StatusCode::BAD_REQUEST,
                        serde_json::json!({ "error_type": "INVALID_ARGUMENT", "messages": [e] })
                            .to_string(),
                    ),
                };
                json_reply(status, body, None)
            }
            (method @ (Method::GET | Method::POST), p)
                if self.opts.vi_json && p.starts_with("/sdk/vim25/") =>
            {
                let session = req
                    .headers()
                    .get(JSON_SESSION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let user_agent = user_agent(&req);
                let body = match read_body(req).await {
                    Ok(b) => b,
                    Err(f) => {
                        return json_reply(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            json::fault(&f),
                            None,
                        );
                    }
                };
                let listing = path.ends_with("/RetrievePropertiesEx");
                let (status, mut body, session) = self
                    .vi_json(
                        method == Method::GET,
                        &path,
                        &body,
                        session,
                        user_agent,
                        peer,
                    )
                    .await;
                self.pad(listing, &mut body);
                json_reply(status, body, session)
            }
            _ => Response::builder()
                .status(StatusCode::NOT_FOUND)
                .header(CONTENT_TYPE, "text/plain")
                .body(Full::new(Bytes::from_static(b"not found\n")))
                .map_err(std::io::Error::other),
        }
    }

    /// A listing's answer padded as `pad_listings` says (whitespace after the document:
    /// valid XML and JSON, only larger).
    fn pad(&self, listing: bool, body: &mut String) {
        if listing && self.opts.pad_listings > 0 {
            body.push_str(&" ".repeat(self.opts.pad_listings));
        }
    }

    async fn soap(
        &self,
        text: &str,
        session: Option<String>,
        user_agent: String,
        peer: SocketAddr,
    ) -> (StatusCode, String, Option<String>) {
        let call = match xml::parse(text).and_then(|root| {
            let body = root
                .child("Body")
                .ok_or("no SOAP Body")?
                .children
                .first()
                .cloned()
                .ok_or("empty SOAP Body")?;
            let this = body
                .child("_this")
                .and_then(|t| t.moref())
                .ok_or("no _this in the request")?;
            Ok(Call {
                method: body.name.clone(),
                this,
                body,
                session,
                user_agent,
                peer,
            })
        }) {
            Ok(c) => c,
            Err(e) => {
                let f = Fault::new("InvalidRequest", format!("Invalid request: {e}"));
                return (StatusCode::INTERNAL_SERVER_ERROR, envelope(&f.soap()), None);
            }
        };
        self.record(&call.method);
        let method = call.method.clone();
        match self.dispatch(&call).await {
            Ok((value, cookie)) => {
                let mut inner = String::new();
                if let Some(v) = value {
                    // Fetch answers a property of any type: say which.
                    v.write(&mut inner, "returnval", method == "Fetch");
                }
                let body =
                    format!("<{method}Response xmlns=\"urn:vim25\">{inner}</{method}Response>");
                (StatusCode::OK, envelope(&body), cookie)
            }
            Err(f) => (StatusCode::INTERNAL_SERVER_ERROR, envelope(&f.soap()), None),
        }
    }

    /// One VI/JSON call: `GET …/{type}/{id}/{property}` reads a property, `POST
    /// …/{type}/{id}/{method}` calls a method with its parameters as a JSON object. Answers
    /// the status, the JSON body (empty for nothing) and, after a login, the session key.
    async fn vi_json(
        &self,
        get: bool,
        path: &str,
        body: &[u8],
        session: Option<String>,
        user_agent: String,
        peer: SocketAddr,
    ) -> (StatusCode, String, Option<String>) {
        let parts: Vec<String> = path
            .trim_start_matches("/sdk/vim25/")
            .split('/')
            .map(percent_decode)
            .collect();
        let not_found = |what: String| {
            let f = Fault::new("InvalidRequest", what);
            (StatusCode::NOT_FOUND, json::fault(&f), None)
        };
        let [release, kind, id, name] = parts.as_slice() else {
            return not_found(format!("no such resource: {path}"));
        };
        if !json::RELEASES.contains(&release.as_str()) {
            return not_found(format!("release {release} is not served"));
        }
        let this = (kind.clone(), id.clone());
        let call = if get {
            // A property read is the `Fetch` SOAP has; the service content is readable
            // before login, as `RetrieveServiceContent` is.
            let method =
                if kind == "ServiceInstance" && id == "ServiceInstance" && name == "content" {
                    "RetrieveServiceContent"
                } else {
                    "Fetch"
                };
            let mut body = Element {
                name: method.into(),
                ..Element::default()
            };
            body.children.push(Element {
                name: "prop".into(),
                text: name.clone(),
                ..Element::default()
            });
            Call {
                method: method.into(),
                this,
                body,
                session,
                user_agent,
                peer,
            }
        } else {
            match json::request(name, body) {
                Ok(body) => Call {
                    method: name.clone(),
                    this,
                    body,
                    session,
                    user_agent,
                    peer,
                },
                Err(e) => {
                    let f = Fault::new("InvalidRequest", format!("Invalid request: {e}"));
                    return (StatusCode::INTERNAL_SERVER_ERROR, json::fault(&f), None);
                }
            }
        };
        self.record(&call.method);
        match self.dispatch(&call).await {
            Ok((value, cookie)) => {
                let key = cookie.and_then(|c| session_from_cookies(std::iter::once(c.as_str())));
                // A null result is an empty body, never a literal `null` (as vCenter).
                match value {
                    Some(v) if !matches!(v, Val::Unset) => {
                        (StatusCode::OK, json::to_string(&v), key)
                    }
                    _ => (StatusCode::NO_CONTENT, String::new(), key),
                }
            }
            Err(f) => (StatusCode::INTERNAL_SERVER_ERROR, json::fault(&f), None),
        }
    }

    /// Remember a call's method (the most recent few thousand).
    fn record(&self, method: &str) {
        let mut t = self.tables();
        t.calls.push(method.to_string());
        // A demo left running keeps polling: remember only the recent calls.
        if t.calls.len() > 8192 {
            t.calls.drain(..4096);
        }
    }

    /// The caller's session, refreshed; `NotAuthenticated` when missing or idle too long.
    fn authenticate(&self, call: &Call) -> Result<String, Fault> {
        let not_authenticated = || {
            Fault::new("NotAuthenticated", "The session is not authenticated.")
                .with("object", Val::Mor(call.this.0.clone(), call.this.1.clone()))
                .with("privilegeId", Val::str("System.View"))
        };
        let key = call.session.clone().ok_or_else(not_authenticated)?;
        let mut t = self.tables();
        let expired = match t.sessions.get(&key) {
            None => return Err(not_authenticated()),
            Some(s) => s.last_active.elapsed() > self.opts.idle_timeout,
        };
        // `end_session_after_listings`: the listing call after that many is refused once,
        // its session gone, as a session that times out in the middle of a listing.
        let listing = matches!(
            call.method.as_str(),
            "RetrievePropertiesEx" | "ContinueRetrievePropertiesEx"
        );
        let ends_here = listing
            && self.opts.end_session_after_listings > 0
            && t.listings == self.opts.end_session_after_listings;
        if listing {
            t.listings += 1;
        }
        if expired || ends_here {
            t.sessions.remove(&key);
            return Err(not_authenticated());
        }
        if let Some(s) = t.sessions.get_mut(&key) {
            s.last_active = Instant::now();
            s.last_active_utc = Utc::now();
            s.calls += 1;
        }
        Ok(key)
    }

    fn method_not_found(call: &Call) -> Fault {
        Fault::new(
            "MethodNotFound",
            format!(
                "The method {} is not implemented by this server for {}",
                call.method, call.this.0
            ),
        )
        .with(
            "receiver",
            Val::Mor(call.this.0.clone(), call.this.1.clone()),
        )
        .with("method", Val::str(&call.method))
    }

    async fn dispatch(&self, call: &Call) -> Outcome {
        let this_kind = call.this.0.as_str();
        match (call.method.as_str(), this_kind) {
            ("RetrieveServiceContent", "ServiceInstance") => {
                return Ok((Some(self.service_content()), None));
            }
            ("Login", "SessionManager") => return self.login(call),
            ("CurrentTime", "ServiceInstance") if call.session.is_none() => {
                return Ok((Some(Val::Time(Utc::now())), None));
            }
            _ => {}
        }
        let session = self.authenticate(call)?;
        let b = &call.body;
        match (call.method.as_str(), this_kind) {
            ("CurrentTime", "ServiceInstance") => Ok((Some(Val::Time(Utc::now())), None)),
            ("Logout", "SessionManager") => {
                let mut t = self.tables();
                t.sessions.remove(&session);
                t.views.retain(|_, v| v.session != session);
                t.collectors.retain(|(s, _), _| *s != session);
                t.filters.retain(|_, f| f.collector.0 != session);
                t.pages.retain(|_, (s, _, _)| *s != session);
                Ok((None, None))
            }
            ("Fetch", _) => {
                let prop = b.child_text("prop").unwrap_or_default().to_string();
                let mut w = self.world(Some(session))?;
                let obj = w
                    .object(&call.this)
                    .ok_or_else(|| Fault::not_found_object(&call.this))?;
                match obj.path(&prop) {
                    Ok(v) => Ok((v.cloned(), None)),
                    Err(()) => Err(Fault::invalid_property(&prop)),
                }
            }
            ("CreateContainerView", "ViewManager") => self.create_view(call, session),
            ("DestroyView", "ContainerView") => {
                let mut t = self.tables();
                match t.views.remove(&call.this.1) {
                    Some(_) => Ok((None, None)),
                    None => Err(Fault::not_found_object(&call.this)),
                }
            }
            ("RetrieveProperties", "PropertyCollector") => {
                let mut all = Vec::new();
                let mut w = self.world(Some(session))?;
                for spec in b.children_named("specSet") {
                    let spec = FilterSpec::parse(spec)?;
                    all.extend(collector::contents(&mut w, &spec)?);
                }
                let items = all
                    .iter()
                    .map(|(o, p)| collector::object_content(o, p))
                    .collect();
                Ok((Some(Val::List("ObjectContent", items)), None))
            }
            ("RetrievePropertiesEx", "PropertyCollector") => self.retrieve_ex(call, session),
            ("ContinueRetrievePropertiesEx", "PropertyCollector") => {
                let token = b.child_text("token").unwrap_or_default().to_string();
                Ok((Some(self.next_page(&session, &token)?), None))
            }
            ("CancelRetrievePropertiesEx", "PropertyCollector") => {
                let token = b.child_text("token").unwrap_or_default();
                let mut t = self.tables();
                match t.pages.get(token) {
                    Some((s, _, _)) if *s == session => {
                        t.pages.remove(token);
                        Ok((None, None))
                    }
                    _ => Err(Fault::invalid_argument("token")),
                }
            }
            ("CreatePropertyCollector", "PropertyCollector") => {
                let id = format!("session[{session}]{}", uuid(self.next()));
                self.tables()
                    .collectors
                    .insert((session, id.clone()), Collector::default());
                Ok((Some(Val::mor("PropertyCollector", &id)), None))
            }
            ("DestroyPropertyCollector", "PropertyCollector") => {
                let mut t = self.tables();
                let key = (session, call.this.1.clone());
                match t.collectors.remove(&key) {
                    Some(c) => {
                        for f in c.filters {
                            t.filters.remove(&f);
                        }
                        Ok((None, None))
                    }
                    None if call.this.1 == "propertyCollector" => Ok((None, None)),
                    None => Err(Fault::not_found_object(&call.this)),
                }
            }
            ("CreateFilter", "PropertyCollector") => self.create_filter(call, &session),
            ("CancelWaitForUpdates", "PropertyCollector") => {
                let mut t = self.tables();
                if let Some(c) = t.collectors.get_mut(&(session, call.this.1.clone())) {
                    c.waits += 1;
                }
                Ok((None, None))
            }
            ("DestroyPropertyFilter", "PropertyFilter") => {
                let mut t = self.tables();
                match t.filters.remove(&call.this.1) {
                    Some(f) => {
                        if let Some(c) = t.collectors.get_mut(&f.collector) {
                            c.filters.retain(|x| *x != call.this.1);
                            c.state.remove(&call.this.1);
                        }
                        Ok((None, None))
                    }
                    None => Err(Fault::not_found_object(&call.this)),
                }
            }
            ("WaitForUpdatesEx", "PropertyCollector") => {
                let version = b.child_text("version").unwrap_or_default().to_string();
                let wait = b
                    .child("options")
                    .and_then(|o| o.child_text("maxWaitSeconds"))
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(Duration::from_secs);
                let v = self.wait_for_updates(call, session, version, wait).await?;
                Ok((v, None))
            }
            ("WaitForUpdates", "PropertyCollector") => {
                let version = b.child_text("version").unwrap_or_default().to_string();
                let v = self.wait_for_updates(call, session, version, None).await?;
                Ok((v, None))
            }
            ("CheckForUpdates", "PropertyCollector") => {
                let version = b.child_text("version").unwrap_or_default().to_string();
                let v = self
                    .wait_for_updates(call, session, version, Some(Duration::ZERO))
                    .await?;
                Ok((v, None))
            }
            ("HasPrivilegeOnEntity", "AuthorizationManager") => {
                self.has_privilege_on_entity(call, session)
            }
            // CreateSnapshotEx_Task (vSphere 6.5 and later) quiesces when it is given a
            // quiesce spec, whose timeout must be 5 to 240 minutes.
            (method @ ("CreateSnapshot_Task" | "CreateSnapshotEx_Task"), "VirtualMachine") => {
                let m = self.vm(&call.this)?;
                self.require(&session, &call.this, "VirtualMachine.State.CreateSnapshot")?;
                let name = b.child_text("name").unwrap_or_default().to_string();
                let (quiesce, quiesce_timeout) = if method == "CreateSnapshotEx_Task" {
                    let spec = b.child("quiesceSpec");
                    let timeout = spec.and_then(|s| s.child_text("timeout"));
                    let minutes = match timeout.map(str::parse::<u16>) {
                        None => None,
                        Some(Ok(t)) if (5..=240).contains(&t) => Some(t),
                        Some(_) => {
                            return Err(Fault::new(
                                "InvalidArgument",
                                "A specified parameter was not correct: quiesceSpec.timeout",
                            )
                            .with("invalidProperty", Val::str("quiesceSpec.timeout")));
                        }
                    };
                    (spec.is_some(), minutes)
                } else {
                    (b.child_bool("quiesce").unwrap_or(false), None)
                };
                if quiesce && m.power_state != PowerState::PoweredOn {
                    return Err(Fault::new(
                        "InvalidPowerState",
                        format!(
                            "The attempted operation cannot be performed in the current state ({}).",
                            power_name(m.power_state)
                        ),
                    )
                    .with("requestedState", Val::Enum("VirtualMachinePowerState", "poweredOn".into()))
                    .with(
                        "existingState",
                        Val::Enum("VirtualMachinePowerState", power_name(m.power_state).into()),
                    ));
                }
                let op = Operation::Take {
                    name,
                    description: b.child_text("description").unwrap_or_default().to_string(),
                    memory: b.child_bool("memory").unwrap_or(false),
                    quiesce,
                    quiesce_timeout,
                };
                self.start_task(&m.id, &op)
            }
            ("RevertToCurrentSnapshot_Task", "VirtualMachine") => {
                let m = self.vm(&call.this)?;
                self.require(
                    &session,
                    &call.this,
                    "VirtualMachine.State.RevertToSnapshot",
                )?;
                if m.current.is_none() {
                    return Err(Fault::new(
                        "NotFound",
                        "The virtual machine has no current snapshot.",
                    ));
                }
                let op = Operation::RevertCurrent {
                    start: false,
                    suppress_power_on: b.child_bool("suppressPowerOn").unwrap_or(false),
                };
                self.start_task(&m.id, &op)
            }
            ("RemoveAllSnapshots_Task", "VirtualMachine") => {
                let m = self.vm(&call.this)?;
                self.require(&session, &call.this, "VirtualMachine.State.RemoveSnapshot")?;
                self.start_task(&m.id, &Operation::DeleteAll)
            }
            ("ConsolidateVMDisks_Task", "VirtualMachine") => {
                let m = self.vm(&call.this)?;
                // The API reference lists RemoveSnapshot as the privilege consolidation needs.
                self.require(&session, &call.this, "VirtualMachine.State.RemoveSnapshot")?;
                self.start_task(&m.id, &Operation::Consolidate)
            }
            ("RevertToSnapshot_Task", "VirtualMachineSnapshot") => {
                let vm = self.vm_of_snapshot(&call.this)?;
                self.require(
                    &session,
                    &call.this,
                    "VirtualMachine.State.RevertToSnapshot",
                )?;
                let op = Operation::Revert {
                    start: false,
                    snapshot: call.this.1.clone(),
                    suppress_power_on: b.child_bool("suppressPowerOn").unwrap_or(false),
                };
                self.start_task(&vm, &op)
            }
            ("RemoveSnapshot_Task", "VirtualMachineSnapshot") => {
                let vm = self.vm_of_snapshot(&call.this)?;
                self.require(&session, &call.this, "VirtualMachine.State.RemoveSnapshot")?;
                let op = Operation::Delete {
                    snapshot: call.this.1.clone(),
                    children: b.child_bool("removeChildren").unwrap_or(false),
                };
                self.start_task(&vm, &op)
            }
            ("RenameSnapshot", "VirtualMachineSnapshot") => {
                let vm = self.vm_of_snapshot(&call.this)?;
                self.require(&session, &call.this, "VirtualMachine.State.RenameSnapshot")?;
                let op = Operation::Rename {
                    snapshot: call.this.1.clone(),
                    name: b.child("name").map(|e| e.text.clone()),
                    description: b.child("description").map(|e| e.text.clone()),
                };
                self.estate
                    .start(&self.profile, &vm, &op)
                    .map_err(|e| self.start_fault(&vm, e))?;
                Ok((None, None))
            }
            ("CreateCollectorForTasks", "TaskManager") => {
                let tasks = self.task_history(b.child("filter"));
                let id = format!("session[{session}]{}", uuid(self.next()));
                self.tables()
                    .task_collectors
                    .insert(id.clone(), (session, tasks.into()));
                Ok((Some(Val::mor("TaskHistoryCollector", &id)), None))
            }
            ("ReadNextTasks", "TaskHistoryCollector") => {
                let max = b
                    .child_text("maxCount")
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(10)
                    .clamp(1, 1000);
                let mut t = self.tables();
                let (owner, left) = t
                    .task_collectors
                    .get_mut(&call.this.1)
                    .ok_or_else(|| Fault::not_found_object(&call.this))?;
                if *owner != session {
                    return Err(Fault::not_found_object(&call.this));
                }
                let page: Vec<Val> = left.drain(..max.min(left.len())).collect();
                if page.is_empty() {
                    return Ok((None, None));
                }
                Ok((Some(Val::List("TaskInfo", page)), None))
            }
            ("DestroyCollector", "TaskHistoryCollector") => {
                match self.tables().task_collectors.remove(&call.this.1) {
                    Some(_) => Ok((None, None)),
                    None => Err(Fault::not_found_object(&call.this)),
                }
            }
            ("CancelTask", "Task") => {
                let d = self
                    .estate
                    .task_detail(&call.this.1)
                    .ok()
                    .filter(|d| d.profile == self.profile)
                    .ok_or_else(|| Fault::not_found_object(&call.this))?;
                // vCenter lets a user cancel a task whose action it may perform, or any task
                // with Global.CancelTask; a read-only user has neither.
                self.require(&session, &call.this, "Global.CancelTask")?;
                if d.status.state.is_final() {
                    return Err(Fault::new(
                        "InvalidState",
                        "The operation is not allowed in the current state: the task has already completed.",
                    ));
                }
                if !d.status.cancelable {
                    return Err(Fault::new("NotSupported", "The task cannot be cancelled."));
                }
                let op = Operation::Cancel {
                    task: call.this.1.clone(),
                };
                self.estate
                    .start(&self.profile, &d.machine_id, &op)
                    .map_err(|e| self.start_fault(&d.machine_id, e))?;
                Ok((None, None))
            }
            _ => Err(Self::method_not_found(call)),
        }
    }

    /// `NoPermission` for `privilege` on `obj` when the session may only read.
    fn require(&self, session: &str, obj: &Obj, privilege: &str) -> Result<(), Fault> {
        if self.read_only(session) {
            Err(Fault::no_permission(obj, privilege))
        } else {
            Ok(())
        }
    }

    fn read_only(&self, session: &str) -> bool {
        self.tables()
            .sessions
            .get(session)
            .is_some_and(|s| s.read_only)
    }

    /// `HasPrivilegeOnEntity(entity, sessionId, privId[])`: one boolean per privilege asked;
    /// all false for a session that does not exist, as vCenter answers.
    fn has_privilege_on_entity(&self, call: &Call, session: String) -> Outcome {
        let b = &call.body;
        let entity = b
            .child("entity")
            .and_then(|e| e.moref())
            .ok_or_else(|| Fault::invalid_argument("entity"))?;
        let w = self.world(Some(session))?;
        if w.inv.kind_of(&entity.1) != Some(entity.0.as_str()) {
            return Err(Fault::not_found_object(&entity));
        }
        let asked = b.child_text("sessionId").unwrap_or_default();
        let holder = {
            let t = self.tables();
            t.sessions.get(asked).map(|s| s.read_only)
        };
        let answers: Vec<Val> = b
            .children_named("privId")
            .map(|p| {
                let held = match holder {
                    None => false,
                    Some(false) => true,
                    Some(true) => READ_PRIVILEGES.contains(&p.text.trim()),
                };
                Val::Bool(held)
            })
            .collect();
        if answers.is_empty() {
            return Ok((None, None));
        }
        Ok((Some(Val::List("boolean", answers)), None))
    }

    fn login(&self, call: &Call) -> Outcome {
        let b = &call.body;
        let user = b.child_text("userName").unwrap_or_default();
        let password = b
            .child("password")
            .map(|p| p.text.as_str())
            .unwrap_or_default();
        let read_only = if user == self.opts.username && password == self.opts.password {
            false
        } else if self
            .opts
            .viewer
            .as_ref()
            .is_some_and(|(u, p)| user == u && password == p)
        {
            true
        } else {
            return Err(Fault::new(
                "InvalidLogin",
                "Cannot complete login due to an incorrect user name or password.",
            ));
        };
        let key = random_hex(40, self.next());
        let now = Utc::now();
        self.tables().sessions.insert(
            key.clone(),
            Session {
                user: user.to_string(),
                read_only,
                login_time: now,
                last_active: Instant::now(),
                last_active_utc: now,
                calls: 1,
                user_agent: call.user_agent.clone(),
                ip: call.peer.ip().to_string(),
            },
        );
        let cookie = format!("{COOKIE_NAME}=\"{key}\"; Path=/; HttpOnly; Secure;");
        Ok((self.session_val(&key), Some(cookie)))
    }

    fn create_view(&self, call: &Call, session: String) -> Outcome {
        let b = &call.body;
        let container = b
            .child("container")
            .and_then(|c| c.moref())
            .ok_or_else(|| Fault::invalid_argument("container"))?;
        let w = self.world(Some(session.clone()))?;
        match w.inv.kind_of(&container.1) {
            Some(k) if k == container.0 && k != "VirtualMachine" => {}
            _ => return Err(Fault::not_found_object(&container)),
        }
        let id = format!("session[{session}]{}", uuid(self.next()));
        self.tables().views.insert(
            id.clone(),
            View {
                session,
                container: container.1,
                types: b
                    .children_named("type")
                    .map(|t| t.text.trim().to_string())
                    .collect(),
                recursive: b.child_bool("recursive").unwrap_or(false),
            },
        );
        Ok((Some(Val::mor("ContainerView", &id)), None))
    }

    fn retrieve_ex(&self, call: &Call, session: String) -> Outcome {
        let b = &call.body;
        let mut w = self.world(Some(session.clone()))?;
        let mut all: Vec<Val> = Vec::new();
        for spec in b.children_named("specSet") {
            let spec = FilterSpec::parse(spec)?;
            for (o, p) in collector::contents(&mut w, &spec)? {
                all.push(collector::object_content(&o, &p));
            }
        }
        if all.is_empty() {
            // vCenter answers an empty result with no returnval at all.
            return Ok((None, None));
        }
        let asked = b
            .child("options")
            .and_then(|o| o.child_text("maxObjects"))
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(self.opts.max_page);
        let page = asked.min(self.opts.max_page.max(1));
        let mut rest: VecDeque<Val> = all.into();
        let first: Vec<Val> = rest.drain(..page.min(rest.len())).collect();
        let token = if rest.is_empty() {
            None
        } else {
            let token = format!("{}", self.next());
            self.tables()
                .pages
                .insert(token.clone(), (session, page, rest));
            Some(token)
        };
        Ok((Some(retrieve_result(token, first)), None))
    }

    fn next_page(&self, session: &str, token: &str) -> Result<Val, Fault> {
        let mut t = self.tables();
        let Some((owner, max, rest)) = t.pages.get_mut(token) else {
            return Err(Fault::invalid_argument("token"));
        };
        let max = *max;
        if owner != session {
            return Err(Fault::invalid_argument("token"));
        }
        let page: Vec<Val> = rest.drain(..max.min(rest.len())).collect();
        let next = if rest.is_empty() {
            t.pages.remove(token);
            None
        } else {
            Some(token.to_string())
        };
        Ok(retrieve_result(next, page))
    }

    fn create_filter(&self, call: &Call, session: &str) -> Outcome {
        let b = &call.body;
        let spec = FilterSpec::parse(
            b.child("spec")
                .ok_or_else(|| Fault::invalid_argument("spec"))?,
        )?;
        // Check the spec now, so a bad one fails here and not in WaitForUpdatesEx.
        let mut w = self.world(Some(session.to_string()))?;
        collector::contents(&mut w, &spec)?;
        let key = (session.to_string(), call.this.1.clone());
        let id = format!("session[{session}]{}", uuid(self.next()));
        let mut t = self.tables();
        if call.this.1 != "propertyCollector" && !t.collectors.contains_key(&key) {
            return Err(Fault::not_found_object(&call.this));
        }
        t.collectors
            .entry(key.clone())
            .or_default()
            .filters
            .push(id.clone());
        t.filters.insert(
            id.clone(),
            Filter {
                collector: key,
                spec,
                partial: b.child_bool("partialUpdates").unwrap_or(false),
            },
        );
        Ok((Some(Val::mor("PropertyFilter", &id)), None))
    }

    /// `WaitForUpdatesEx`: changes of the collector's filters since `version`, waiting up to
    /// `wait` (forever when `None`) for one; `None` when nothing changed in time.
    async fn wait_for_updates(
        &self,
        call: &Call,
        session: String,
        version: String,
        wait: Option<Duration>,
    ) -> Result<Option<Val>, Fault> {
        let key = (session.clone(), call.this.1.clone());
        let deadline = Instant::now() + wait.unwrap_or(LONGEST_WAIT);
        // One outstanding wait per collector, as on vCenter: a new one cancels the old.
        let mine = self.tables().collectors.get_mut(&key).map(|c| {
            c.waits += 1;
            c.waits
        });
        loop {
            let filters: Vec<(String, FilterSpec)> = {
                let t = self.tables();
                let Some(c) = t.collectors.get(&key) else {
                    if call.this.1 != "propertyCollector" {
                        return Err(Fault::not_found_object(&call.this));
                    }
                    // No filter was ever made on the default collector: nothing to report.
                    return Ok(version.is_empty().then(|| update_set("1", Vec::new())));
                };
                c.filters
                    .iter()
                    .filter_map(|f| t.filters.get(f).map(|x| (f.clone(), x.spec.clone())))
                    .collect()
            };
            let mut w = self.world(Some(session.clone()))?;
            let mut now_state: HashMap<String, Vec<(Obj, Props)>> = HashMap::new();
            for (id, spec) in &filters {
                // An object that went away (a finished task forgotten, a removed
                // snapshot) leaves the filter rather than failing the wait.
                let found = collector::contents(&mut w, spec).unwrap_or_default();
                now_state.insert(id.clone(), found);
            }
            let answer = {
                let mut t = self.tables();
                let Some(c) = t.collectors.get_mut(&key) else {
                    return Err(Fault::not_found_object(&call.this));
                };
                if mine.is_some_and(|m| m != c.waits) {
                    return Err(Fault::new(
                        "RequestCanceled",
                        "The request was canceled by a later call on the same collector.",
                    ));
                }
                let initial = version.is_empty();
                let mut filter_updates = Vec::new();
                let mut new_state = HashMap::new();
                for (id, _) in &filters {
                    let current = now_state.remove(id).unwrap_or_default();
                    let old = if initial {
                        Vec::new()
                    } else {
                        c.state.get(id).cloned().unwrap_or_default()
                    };
                    let (updates, fingerprints) = diff(&old, &current);
                    if !updates.is_empty() {
                        filter_updates.push(Val::Obj(
                            "PropertyFilterUpdate",
                            vec![
                                ("filter", Val::mor("PropertyFilter", id)),
                                ("objectSet", Val::List("ObjectUpdate", updates)),
                            ],
                        ));
                    }
                    new_state.insert(id.clone(), fingerprints);
                }
                if initial || !filter_updates.is_empty() {
                    c.version += 1;
                    c.state = new_state;
                    Some(Ok(Some(update_set(&c.version.to_string(), filter_updates))))
                } else {
                    None
                }
            };
            if let Some(a) = answer {
                return a;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let remaining = deadline - now;
            tokio::select! {
                _ = self.estate.wait_for_change() => {}
                _ = tokio::time::sleep(remaining) => {}
            }
        }
    }

    fn vm(&self, this: &Obj) -> Result<crate::model::Machine, Fault> {
        self.estate
            .machine(&self.profile, &this.1)
            .map_err(|_| Fault::not_found_object(this))
    }

    fn vm_of_snapshot(&self, this: &Obj) -> Result<String, Fault> {
        let machines = self
            .estate
            .machines(&self.profile)
            .map_err(|_| Fault::not_found_object(this))?;
        machines
            .into_iter()
            .find(|m| m.find(&this.1).is_some())
            .map(|m| m.id)
            .ok_or_else(|| Fault::not_found_object(this))
    }

    fn start_fault(&self, vm: &str, e: ProviderError) -> Fault {
        match e {
            ProviderError::Busy(_) => {
                let running = self.estate.running_tasks(&self.profile, vm);
                let mut f = Fault::new("TaskInProgress", "Another task is already in progress.");
                if let Some((task, _)) = running.first() {
                    f = f.with("task", Val::mor("Task", task));
                }
                f
            }
            ProviderError::InvalidState(m) => match m.split_once(": ") {
                Some(("TooManySnapshotLevels", text)) => Fault::new("TooManySnapshotLevels", text),
                Some(("ToolsUnavailable", text)) => Fault::new("ToolsUnavailable", text),
                _ => Fault::new(
                    "InvalidState",
                    format!("The operation is not allowed in the current state: {m}"),
                ),
            },
            ProviderError::NotFound(m) => Fault::new("NotFound", m),
            ProviderError::Unsupported(m) => Fault::new("NotSupported", m),
            other => Fault::new("SystemError", other.to_string())
                .with("reason", Val::str(other.to_string())),
        }
    }

    /// The task history a `TaskFilterSpec` selects, oldest first: the snapshots the
    /// estate says who took (within `HISTORY_DAYS`), and the takes run through this server.
    /// The filter's time window (`time.beginTime`, `time.endTime` on the queue time), an
    /// entity that is a VM, and `state` apply.
    fn task_history(&self, filter: Option<&super::xml::Element>) -> Vec<Val> {
        let time = |name: &str| {
            filter
                .and_then(|f| f.child("time"))
                .and_then(|t| t.child_text(name))
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let (begin, end) = (time("beginTime"), time("endTime"));
        let vm_only = filter
            .and_then(|f| f.child("entity"))
            .and_then(|e| e.child("entity"))
            .filter(|e| e.attr("type") == Some("VirtualMachine"))
            .map(|e| e.text.trim().to_string());
        let states: Vec<String> = filter
            .map(|f| {
                f.children_named("state")
                    .map(|s| s.text.trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let kept_since = Utc::now() - chrono::Duration::days(HISTORY_DAYS);
        let mut found: Vec<(DateTime<Utc>, Val)> = Vec::new();
        let machines = self.estate.machines(&self.profile).unwrap_or_default();
        let recorded: Vec<String> = self.tables().tasks.keys().cloned().collect();
        let from_here: std::collections::HashSet<String> = recorded
            .iter()
            .filter_map(|id| self.estate.task_detail(id).ok())
            .filter_map(|d| d.result)
            .collect();
        for m in &machines {
            for (_, snap) in m.walk() {
                let Some(user) = &snap.created_by else {
                    continue;
                };
                if snap.created < kept_since || from_here.contains(&snap.id) {
                    continue;
                }
                let queued = snap.created - chrono::Duration::seconds(2);
                let key = format!("history-{}", inventory::snapshot_number(&snap.id));
                let info = Val::Obj(
                    "TaskInfo",
                    vec![
                        ("key", Val::str(&key)),
                        ("task", Val::mor("Task", &key)),
                        ("name", Val::str("CreateSnapshot_Task")),
                        ("descriptionId", Val::str("VirtualMachine.createSnapshot")),
                        ("entity", Val::mor("VirtualMachine", &m.id)),
                        ("entityName", Val::str(&m.name)),
                        ("state", Val::Enum("TaskInfoState", "success".into())),
                        ("cancelled", Val::Bool(false)),
                        ("cancelable", Val::Bool(false)),
                        (
                            "result",
                            Val::Any(Box::new(Val::mor("VirtualMachineSnapshot", &snap.id))),
                        ),
                        ("reason", user_reason(user)),
                        ("queueTime", Val::Time(queued)),
                        ("startTime", Val::Time(queued)),
                        ("completeTime", Val::Time(snap.created)),
                        (
                            "eventChainId",
                            Val::Int(inventory::snapshot_number(&snap.id)),
                        ),
                    ],
                );
                found.push((queued, info));
            }
        }
        for id in recorded {
            let Some(info) = self
                .task_val(&id)
                .and_then(|t| t.path("info").ok().flatten().cloned())
            else {
                continue;
            };
            let queued = match info.path("queueTime") {
                Ok(Some(Val::Time(t))) => *t,
                _ => continue,
            };
            found.push((queued, info));
        }
        found.retain(|(queued, info)| {
            let text = |path| match info.path(path) {
                Ok(Some(Val::Str(s) | Val::Enum(_, s))) => s.clone(),
                Ok(Some(Val::Mor(_, id))) => id.clone(),
                _ => String::new(),
            };
            begin.is_none_or(|b| *queued >= b)
                && end.is_none_or(|e| *queued <= e)
                && vm_only.as_ref().is_none_or(|vm| text("entity") == *vm)
                && (states.is_empty() || states.contains(&text("state")))
        });
        found.sort_by_key(|(queued, _)| *queued);
        found.into_iter().map(|(_, info)| info).collect()
    }

    fn start_task(&self, vm: &str, op: &Operation) -> Outcome {
        let id = self
            .estate
            .start(&self.profile, vm, op)
            .map_err(|e| self.start_fault(vm, e))?;
        self.tables().tasks.insert(
            id.clone(),
            TaskRecord {
                queued: Utc::now(),
                user: self.opts.username.clone(),
                completed: None,
            },
        );
        Ok((Some(Val::mor("Task", &id)), None))
    }
}

/// A task's reason: the user who asked for it.
fn user_reason(user: &str) -> Val {
    Val::Any(Box::new(Val::Obj(
        "TaskReasonUser",
        vec![("userName", Val::str(user))],
    )))
}

fn retrieve_result(token: Option<String>, objects: Vec<Val>) -> Val {
    Val::Obj(
        "RetrieveResult",
        vec![
            ("token", Val::opt(token.map(Val::Str))),
            ("objects", Val::List("ObjectContent", objects)),
        ],
    )
}

fn update_set(version: &str, filter_set: Vec<Val>) -> Val {
    Val::Obj(
        "UpdateSet",
        vec![
            ("version", Val::str(version)),
            (
                "filterSet",
                if filter_set.is_empty() {
                    Val::Unset
                } else {
                    Val::List("PropertyFilterUpdate", filter_set)
                },
            ),
        ],
    )
}

/// Object updates from `old` to `current`, and the fingerprints to remember.
fn diff(old: &[(Obj, HashMap<String, String>)], current: &[(Obj, Props)]) -> (Vec<Val>, Reported) {
    let change = |name: &str, v: Option<&Val>| {
        Val::Obj(
            "PropertyChange",
            vec![
                ("name", Val::str(name)),
                ("op", Val::Enum("PropertyChangeOp", "assign".into())),
                ("val", Val::opt(v.map(|v| Val::Any(Box::new(v.clone()))))),
            ],
        )
    };
    let object_update = |kind: &str, obj: &Obj, changes: Vec<Val>| {
        Val::Obj(
            "ObjectUpdate",
            vec![
                ("kind", Val::Enum("ObjectUpdateKind", kind.into())),
                ("obj", Val::Mor(obj.0.clone(), obj.1.clone())),
                (
                    "changeSet",
                    if changes.is_empty() {
                        Val::Unset
                    } else {
                        Val::List("PropertyChange", changes)
                    },
                ),
            ],
        )
    };
    let mut updates = Vec::new();
    let mut fingerprints = Vec::new();
    for (obj, props) in current {
        let prints: HashMap<String, String> = props
            .iter()
            .map(|(n, v)| (n.clone(), v.fingerprint()))
            .collect();
        match old.iter().find(|(o, _)| o == obj) {
            None => {
                let changes = props.iter().map(|(n, v)| change(n, Some(v))).collect();
                updates.push(object_update("enter", obj, changes));
            }
            Some((_, before)) => {
                let mut changes: Vec<Val> = props
                    .iter()
                    .filter(|(n, _)| before.get(n) != prints.get(n))
                    .map(|(n, v)| change(n, Some(v)))
                    .collect();
                // A property that became unset is assigned no value.
                let mut gone: Vec<&String> =
                    before.keys().filter(|n| !prints.contains_key(*n)).collect();
                gone.sort();
                changes.extend(gone.into_iter().map(|n| change(n, None)));
                if !changes.is_empty() {
                    updates.push(object_update("modify", obj, changes));
                }
            }
        }
        fingerprints.push((obj.clone(), prints));
    }
    for (obj, _) in old {
        if !current.iter().any(|(o, _)| o == obj) {
            updates.push(object_update("leave", obj, Vec::new()));
        }
    }
    (updates, fingerprints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_session_from_a_cookie_or_a_whole_set_cookie_line() {
        let pyvmomi = r#"vmware_soap_session="abc123"; Path=/; HttpOnly; Secure;"#;
        assert_eq!(
            session_from_cookies([pyvmomi].into_iter()),
            Some("abc123".into())
        );
        assert_eq!(
            session_from_cookies(["other=1; vmware_soap_session=xyz"].into_iter()),
            Some("xyz".into())
        );
        assert_eq!(session_from_cookies(["other=1"].into_iter()), None);
    }

    #[test]
    fn task_failures_map_to_vim_faults() {
        let f = task_fault("NoDiskSpace: datastore1 is full");
        assert_eq!(f.kind, "NoDiskSpace");
        assert_eq!(f.message, "datastore1 is full");
        assert_eq!(task_fault("boom").kind, "SystemError");
    }
}
