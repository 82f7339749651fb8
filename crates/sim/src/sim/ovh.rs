//! The OVH API simulator: one OVH profile of an `Estate` served over plain HTTP on loopback
//! with the routes, models, status codes and request signing of the real API (the VPS
//! snapshot surface plus `/auth/time`, `/auth/currentCredential`, `/auth/credential` with
//! pending keys and their validation URL, and an OAuth2 token route).

mod order;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::prelude::{BASE64_STANDARD, Engine as _};
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::Estate;
use crate::model::{BackupOp, Machine, Operation, PowerState, ProviderKind, TaskState};
use crate::provider::ProviderError;
use crate::provider::ovh::rule_allows;
use crate::provider::ovh::sign::{signature, signatures_equal};

/// The API version prefix every route lives under, as on the real endpoints.
pub const BASE_PATH: &str = "/1.0";

/// 32 hex digits no one can guess from the time alone (a simulator's keys, not crypto).
fn random_hex(counter: &AtomicU64, what: &str) -> String {
    use sha2::{Digest, Sha256};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = counter.load(Ordering::SeqCst);
    let digest = Sha256::digest(format!("{what}:{nanos}:{n}:{}", std::process::id()));
    hex::encode(&digest[..16])
}

/// Where a requested consumer key is approved (the login page of the real API).
const VALIDATION_PATH: &str = "/auth/validate";

/// What a consumer key is in the simulator's eyes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialState {
    /// Validated: calls are accepted (within its rules).
    Validated,
    /// Requested but never validated by the account owner.
    PendingValidation,
    /// Past its expiration.
    Expired,
}

/// A consumer key with its access rules (`(method, path pattern)`, `*` as wildcard).
#[derive(Clone, Debug)]
pub struct SimConsumerKey {
    /// The key.
    pub key: String,
    /// Access rules.
    pub rules: Vec<(String, String)>,
    /// Validation state.
    pub state: CredentialState,
}

impl SimConsumerKey {
    /// A validated key allowed every call.
    pub fn full(key: &str) -> Self {
        let rules = ["GET", "POST", "PUT", "DELETE"]
            .iter()
            .map(|m| (m.to_string(), "/*".to_string()))
            .collect();
        SimConsumerKey {
            key: key.into(),
            rules,
            state: CredentialState::Validated,
        }
    }

    /// A validated key allowed only `GET /vps` and `GET /vps/*` (read-only use).
    pub fn read_only(key: &str) -> Self {
        SimConsumerKey {
            key: key.into(),
            rules: vec![
                ("GET".into(), "/vps".into()),
                ("GET".into(), "/vps/*".into()),
            ],
            state: CredentialState::Validated,
        }
    }
}

/// How to run the simulator.
#[derive(Clone, Debug)]
pub struct OvhSimOptions {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Estate profile to serve; default: the first profile whose kind is ovh.
    pub profile: Option<String>,
    /// The application key accepted.
    pub application_key: String,
    /// Its application secret.
    pub application_secret: String,
    /// A validated consumer key allowed every call.
    pub consumer_key: String,
    /// More consumer keys (limited rules, pending, expired).
    pub extra_consumer_keys: Vec<SimConsumerKey>,
    /// OAuth2 service accounts accepted: `(client_id, client_secret)`.
    pub oauth_clients: Vec<(String, String)>,
    /// Seconds the server clock is ahead of the local clock (negative: behind).
    pub clock_offset_secs: i64,
    /// How far a request timestamp may be from the server clock.
    pub max_clock_skew_secs: i64,
    /// Latency added to every answer.
    pub latency: Duration,
}

impl Default for OvhSimOptions {
    fn default() -> Self {
        OvhSimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            profile: None,
            application_key: "snaptree-sim-ak".into(),
            application_secret: "snaptree-sim-as".into(),
            consumer_key: "snaptree-sim-ck".into(),
            extra_consumer_keys: Vec::new(),
            oauth_clients: vec![("snaptree-sim-client".into(), "snaptree-sim-cs".into())],
            clock_offset_secs: 0,
            max_clock_skew_secs: 180,
            latency: Duration::ZERO,
        }
    }
}

/// A record the simulator answers malformed, as a broken or hostile API could.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// `GET /vps/{serviceName}/snapshot` answers `null`.
    SnapshotNull,
    /// The snapshot's `description` is the number `12345`.
    DescriptionNumber,
    /// The snapshot's `creationDate` is `"garbage"`.
    DateGarbage,
    /// One restore point of the automated backup is `"garbage"` (the snapshot is sound).
    RestorePointGarbage,
}

/// Faults a test injects while the simulator runs.
#[derive(Debug, Default)]
pub struct SimFaults {
    fail: Mutex<VecDeque<u16>>,
    fail_after_change: Mutex<VecDeque<u16>>,
    drop: AtomicUsize,
    latency_ms: AtomicU64,
    expired: Mutex<Vec<String>>,
    /// VPSs whose records are answered malformed.
    malformed: Mutex<HashMap<String, Malformed>>,
    /// Service names `GET /vps` lists besides the estate's.
    listed_also: Mutex<Vec<String>>,
    /// `Retry-After` values of the next 429 answers to any request.
    rate_limited: Mutex<VecDeque<String>>,
    /// `Retry-After` values of the next 429 answers to a change (POST, PUT, DELETE).
    rate_limited_changes: Mutex<VecDeque<String>>,
}

impl SimFaults {
    /// The next `n` requests get `status` (a 5xx) with an API error body.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut q = self.fail.lock().unwrap_or_else(|p| p.into_inner());
        q.extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` changes (POST, PUT, DELETE) are carried out, then answered `status` (a
    /// 5xx) as an API that failed after doing the work: the outcome the client cannot know.
    pub fn fail_after_next_changes(&self, n: usize, status: u16) {
        let mut q = self
            .fail_after_change
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        q.extend(std::iter::repeat_n(status, n));
    }

    /// From now on this VPS's snapshot record is answered malformed (`how`).
    pub fn malform(&self, service_name: &str, how: Malformed) {
        self.malformed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(service_name.into(), how);
    }

    /// From now on `GET /vps` also lists `service_name` (`..`, `a/b`, a control character:
    /// names no client should put in a URL path).
    pub fn list_also(&self, service_name: &str) {
        self.listed_also
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(service_name.into());
    }

    /// The next `n` requests are refused with 429 and `Retry-After: retry_after` (seconds
    /// or an HTTP date), as the API does when a client exceeds its request rate.
    pub fn rate_limit_next(&self, n: usize, retry_after: &str) {
        let mut q = self.rate_limited.lock().unwrap_or_else(|p| p.into_inner());
        q.extend(std::iter::repeat_n(retry_after.to_string(), n));
    }

    /// The next `n` changes (POST, PUT, DELETE) are refused with 429 and `Retry-After:
    /// retry_after` without being carried out; reads pass.
    pub fn rate_limit_next_changes(&self, n: usize, retry_after: &str) {
        let mut q = self
            .rate_limited_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        q.extend(std::iter::repeat_n(retry_after.to_string(), n));
    }

    /// Forget pending injected failures and drops.
    pub fn clear(&self) {
        self.fail.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.rate_limited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.rate_limited_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.fail_after_change
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.drop.store(0, Ordering::SeqCst);
    }

    /// The next `n` requests have their connection closed without an answer.
    pub fn drop_next(&self, n: usize) {
        self.drop.fetch_add(n, Ordering::SeqCst);
    }

    /// Extra latency on every answer from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(
            u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Every call on this VPS answers 460 (service expired) from now on.
    pub fn expire_service(&self, service_name: &str) {
        self.expired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(service_name.into());
    }
}

struct TaskInfo {
    service: String,
    kind: &'static str,
    date: String,
}

struct State {
    opts: OvhSimOptions,
    profile: String,
    estate: Arc<Estate>,
    keys: Mutex<Vec<SimConsumerKey>>,
    /// Validation tokens of requested keys: token → consumer key.
    pending: Mutex<HashMap<String, String>>,
    faults: SimFaults,
    tasks: Mutex<HashMap<String, TaskInfo>>,
    carts: order::Carts,
    tokens: Mutex<HashMap<String, Instant>>,
    log: Mutex<Vec<(String, String)>>,
    /// When each request of `log` arrived, in the same order.
    arrivals: Mutex<Vec<Instant>>,
    queries: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts a request in flight for as long as it lives.
struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    fn enter(state: &'a State) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running simulator; dropping it stops the server.
pub struct OvhSimHandle {
    base_url: String,
    addr: SocketAddr,
    state: Arc<State>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl OvhSimHandle {
    /// Base URL to configure as the endpoint, e.g. `http://127.0.0.1:40123/1.0`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The estate profile served.
    pub fn profile(&self) -> &str {
        &self.state.profile
    }

    /// Fault injection.
    pub fn faults(&self) -> &SimFaults {
        &self.state.faults
    }

    /// Every request received so far: `(method, path with query)`.
    pub fn consumer_keys(&self) -> Vec<SimConsumerKey> {
        self.state
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Method and path (with query) of every request received, in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// When each request of [`requests`](Self::requests) arrived, as the server saw it, in
    /// the same order.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What `snaptree sim ovh` prints: the base URL and the credentials it accepts (demo
    /// values, not secrets), as an `ovh.conf` section and as environment variables.
    pub fn describe(&self) -> String {
        let o = &self.state.opts;
        let mut out = format!(
            "OVH API simulator serving profile {} at {}\n\n\
             ; ovh.conf\n[default]\nendpoint={}\n\n[{}]\napplication_key={}\n\
             application_secret={}\nconsumer_key={}\n\n\
             OVH_ENDPOINT={} OVH_APPLICATION_KEY={} OVH_APPLICATION_SECRET={} OVH_CONSUMER_KEY={}\n",
            self.state.profile,
            self.base_url,
            self.base_url,
            self.base_url,
            o.application_key,
            o.application_secret,
            o.consumer_key,
            self.base_url,
            o.application_key,
            o.application_secret,
            o.consumer_key,
        );
        for (id, secret) in &o.oauth_clients {
            out.push_str(&format!(
                "OAuth2 service account: client_id={id} client_secret={secret}\n"
            ));
        }
        out.push_str(
            "new consumer keys: POST /auth/credential (snaptree login PROFILE); opening the \
             validation URL approves one\n",
        );
        if o.clock_offset_secs != 0 {
            out.push_str(&format!(
                "server clock offset: {:+} s\n",
                o.clock_offset_secs
            ));
        }
        out
    }

    /// The most requests ever handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Stop the server now (also done on drop).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for OvhSimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serve `opts.profile` (default: the first OVH profile) of `estate` until the handle drops.
pub async fn serve(opts: OvhSimOptions, estate: Arc<Estate>) -> std::io::Result<OvhSimHandle> {
    let profile = match &opts.profile {
        Some(p) => p.clone(),
        None => estate
            .profiles()
            .into_iter()
            .find(|(_, k)| *k == ProviderKind::Ovh)
            .map(|(n, _)| n)
            .ok_or_else(|| std::io::Error::other("the estate has no OVH profile to serve"))?,
    };
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let mut keys = vec![SimConsumerKey::full(&opts.consumer_key)];
    keys.extend(opts.extra_consumer_keys.iter().cloned());
    let state = Arc::new(State {
        opts,
        profile,
        estate,
        keys: Mutex::new(keys),
        pending: Mutex::new(HashMap::new()),
        faults: SimFaults::default(),
        tasks: Mutex::new(HashMap::new()),
        carts: Mutex::new(HashMap::new()),
        tokens: Mutex::new(HashMap::new()),
        log: Mutex::new(Vec::new()),
        arrivals: Mutex::new(Vec::new()),
        queries: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let st = state.clone();
    super::server::spawn(listener, None, stopped, move |req, _| {
        let st = st.clone();
        async move { st.handle(req).await }
    });
    Ok(OvhSimHandle {
        base_url: format!("http://{addr}{BASE_PATH}"),
        addr,
        state,
        stop,
    })
}

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn error_body(status: u16, code: Option<&str>, message: &str) -> Value {
    let class = match status {
        400 => "Client::BadRequest",
        401 => "Client::Unauthorized",
        403 => "Client::Forbidden",
        404 => "Client::NotFound",
        405 => "Client::MethodNotAllowed",
        409 => "Client::Conflict",
        429 => "Client::TooManyRequests",
        460 => "Client::Gone",
        _ => "Server::InternalServerError",
    };
    let mut v = json!({ "class": class, "message": message });
    if let Some(c) = code {
        v["errorCode"] = json!(c);
        v["httpCode"] = json!(format!(
            "{status} {}",
            StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
        ));
    }
    v
}

/// An API error answer, before the query id is attached.
struct Fail(u16, Option<&'static str>, String);

impl Fail {
    fn new(status: u16, code: Option<&'static str>, message: impl Into<String>) -> Fail {
        Fail(status, code, message.into())
    }

    fn not_found(what: &str) -> Fail {
        Fail::new(
            404,
            None,
            format!("The requested object ({what}) does not exist"),
        )
    }
}

impl From<ProviderError> for Fail {
    fn from(e: ProviderError) -> Fail {
        match e {
            ProviderError::NotFound(m) => Fail::new(404, None, m),
            ProviderError::Busy(m) => Fail::new(409, None, m),
            ProviderError::InvalidState(m) | ProviderError::Unsupported(m) => {
                Fail::new(400, None, m)
            }
            other => Fail::new(500, None, other.to_string()),
        }
    }
}

fn task_kind(op_name: &str) -> &'static str {
    match op_name {
        "take" => "createSnapshot",
        "revert" | "revert-current" => "revertSnapshot",
        "backup-restore-full" => "restoreVm",
        "backup-restore-file" => "restoreVeeamBackup",
        "backup-detach" => "removeVeeamBackup",
        "backup-reschedule" => "rescheduleAutoBackup",
        _ => "deleteSnapshot",
    }
}

fn task_state(s: TaskState) -> &'static str {
    match s {
        TaskState::Queued => "todo",
        TaskState::Running => "doing",
        TaskState::Success => "done",
        TaskState::Error => "error",
        TaskState::Cancelled => "cancelled",
    }
}

impl State {
    /// The server's clock: the local one moved by `clock_offset_secs`.
    fn server_now(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.opts.clock_offset_secs)
    }

    /// The server's `Date` header, on its own clock (hyper would write the local one).
    fn date(&self) -> String {
        self.server_now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    }

    fn reply(&self, qid: &str, status: u16, body: &Value) -> Answer {
        let text = body.to_string();
        Response::builder()
            .status(status)
            .header(hyper::header::DATE, self.date())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header("X-Ovh-Queryid", qid)
            .body(Full::new(Bytes::from(text)))
            .map_err(std::io::Error::other)
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Answer {
        let _counted = InFlight::enter(&self);
        let n = self.queries.fetch_add(1, Ordering::SeqCst);
        let qid = format!("EU.ext-sim.{:08x}.{n:06}", unix_now());
        let latency = self.opts.latency
            + Duration::from_millis(self.faults.latency_ms.load(Ordering::SeqCst));
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        let method = parts.method.as_str().to_string();
        let target = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        {
            // Both under one lock order, so the two lists stay in step.
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.push((method.clone(), target.clone()));
            self.arrivals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Instant::now());
        }
        if self
            .faults
            .drop
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| d.checked_sub(1))
            .is_ok()
        {
            // An error from the service makes hyper close the connection unanswered.
            return Err(std::io::Error::other("injected dropped connection"));
        }
        let failed = self
            .faults
            .fail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        if let Some(status) = failed {
            return self.reply(
                &qid,
                status,
                &error_body(status, None, "Internal server error (injected)"),
            );
        }
        let limited = self
            .faults
            .rate_limited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .or_else(|| {
                (method != "GET")
                    .then(|| {
                        self.faults
                            .rate_limited_changes
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .pop_front()
                    })
                    .flatten()
            });
        if let Some(retry_after) = limited {
            let body = error_body(429, None, "Too many requests (injected)");
            return Response::builder()
                .status(429)
                .header(hyper::header::DATE, self.date())
                .header(CONTENT_TYPE, "application/json; charset=utf-8")
                .header("X-Ovh-Queryid", &qid)
                .header("Retry-After", retry_after)
                .body(Full::new(Bytes::from(body.to_string())))
                .map_err(std::io::Error::other);
        }
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let host = header(HOST.as_str()).unwrap_or_default();
        let result = if parts.uri.path() == "/auth/oauth2/token" && method == "POST" {
            self.token(header("authorization").as_deref(), &body)
        } else if parts.uri.path() == format!("{BASE_PATH}/auth/credential") && method == "POST" {
            self.request_credential(&host, header("x-ovh-application").as_deref(), &body)
        } else if parts.uri.path() == VALIDATION_PATH && method == "GET" {
            self.validate(parts.uri.query())
        } else {
            match parts.uri.path().strip_prefix(BASE_PATH) {
                Some(api_path) => {
                    let full = format!("http://{host}{target}");
                    match self.authenticate(&method, api_path, &full, &body, &header) {
                        Ok(key) => {
                            self.route(&method, api_path, parts.uri.query(), &body, key.as_ref())
                        }
                        Err(f) => Err(f),
                    }
                }
                None => Err(Fail::new(404, None, "Got an invalid (or empty) URL")),
            }
        };
        if method != "GET"
            && result.is_ok()
            && let Some(status) = self
                .faults
                .fail_after_change
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
        {
            return self.reply(
                &qid,
                status,
                &error_body(
                    status,
                    None,
                    "Internal server error (injected after the change)",
                ),
            );
        }
        match result {
            Ok(v) => self.reply(&qid, 200, &v),
            Err(Fail(status, code, message)) => {
                self.reply(&qid, status, &error_body(status, code, &message))
            }
        }
    }

    /// The checks the API makes before any route: key, credential, time, signature, rules.
    /// Returns the consumer key used, if any.
    fn authenticate(
        &self,
        method: &str,
        api_path: &str,
        full_url: &str,
        body: &[u8],
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SimConsumerKey>, Fail> {
        if api_path == "/auth/time" && method == "GET" {
            return Ok(None);
        }
        if let Some(auth) = header("authorization") {
            let token = auth.strip_prefix("Bearer ").unwrap_or_default();
            let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            return match tokens.get(token) {
                Some(until) if *until > Instant::now() => Ok(None),
                Some(_) => Err(Fail::new(401, None, "The access token has expired")),
                None => Err(Fail::new(401, None, "The access token is invalid")),
            };
        }
        match header("x-ovh-application") {
            Some(ak) if ak == self.opts.application_key => {}
            _ => {
                return Err(Fail::new(
                    403,
                    Some("INVALID_KEY"),
                    "Invalid application key",
                ));
            }
        }
        let Some(ck) = header("x-ovh-consumer") else {
            return Err(Fail::new(401, None, "You must login first"));
        };
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let Some(key) = keys.iter().find(|k| k.key == ck) else {
            return Err(Fail::new(
                403,
                Some("INVALID_CREDENTIAL"),
                "This credential does not exist",
            ));
        };
        let (Some(ts), Some(sig)) = (header("x-ovh-timestamp"), header("x-ovh-signature")) else {
            return Err(Fail::new(
                400,
                Some("INVALID_SIGNATURE"),
                "Invalid signature",
            ));
        };
        let now = unix_now() + self.opts.clock_offset_secs;
        match ts.trim().parse::<i64>() {
            Ok(t) if (t - now).abs() <= self.opts.max_clock_skew_secs => {
                let want = signature(
                    &self.opts.application_secret,
                    &key.key,
                    method,
                    full_url,
                    body,
                    t,
                );
                if !signatures_equal(&want, sig.trim()) {
                    return Err(Fail::new(
                        400,
                        Some("INVALID_SIGNATURE"),
                        "Invalid signature",
                    ));
                }
            }
            _ => return Err(Fail::new(400, Some("QUERY_TIME_OUT"), "Query out of time")),
        }
        match key.state {
            CredentialState::Validated => {}
            CredentialState::PendingValidation => {
                return Err(Fail::new(
                    403,
                    Some("NOT_CREDENTIAL"),
                    "This credential is not valid",
                ));
            }
            CredentialState::Expired => {
                return Err(Fail::new(
                    403,
                    Some("INVALID_CREDENTIAL"),
                    "This credential has expired",
                ));
            }
        }
        // /auth/currentCredential is allowed to any valid key, whatever its rules.
        if api_path != "/auth/currentCredential"
            && !key
                .rules
                .iter()
                .any(|(m, p)| rule_allows(m, p, method, api_path))
        {
            return Err(Fail::new(
                403,
                Some("NOT_GRANTED_CALL"),
                "This call has not been granted",
            ));
        }
        Ok(Some(key.clone()))
    }

    /// `POST /auth/credential`: a new consumer key with the rules asked for, pending until
    /// its validation URL is opened. Unsigned: only the application key is checked.
    fn request_credential(
        &self,
        host: &str,
        application_key: Option<&str>,
        body: &[u8],
    ) -> Result<Value, Fail> {
        if application_key != Some(self.opts.application_key.as_str()) {
            return Err(Fail::new(
                403,
                Some("INVALID_KEY"),
                "Invalid application key",
            ));
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| Fail::new(400, None, format!("Invalid JSON body: {e}")))?;
        let rules: Option<Vec<(String, String)>> = v["accessRules"].as_array().map(|rules| {
            rules
                .iter()
                .filter_map(|r| {
                    let method = r["method"].as_str()?;
                    let path = r["path"].as_str()?;
                    (["GET", "POST", "PUT", "DELETE"].contains(&method) && path.starts_with('/'))
                        .then(|| (method.to_string(), path.to_string()))
                })
                .collect()
        });
        let rules = match rules {
            Some(r)
                if !r.is_empty() && Some(r.len()) == v["accessRules"].as_array().map(Vec::len) =>
            {
                r
            }
            _ => {
                return Err(Fail::new(
                    400,
                    None,
                    "Invalid body: accessRules must be a non-empty list of {method, path}",
                ));
            }
        };
        let key = random_hex(&self.queries, "key");
        let token = random_hex(&self.queries, "token");
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(SimConsumerKey {
                key: key.clone(),
                rules,
                state: CredentialState::PendingValidation,
            });
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), key.clone());
        Ok(json!({
            "state": "pendingValidation",
            "consumerKey": key,
            "validationUrl": format!("http://{host}{VALIDATION_PATH}?credentialToken={token}"),
        }))
    }

    /// The validation URL opened: the account owner approves the key (the simulator's stand-in
    /// for the login page of the real API).
    fn validate(&self, query: Option<&str>) -> Result<Value, Fail> {
        let token = query
            .unwrap_or_default()
            .split('&')
            .find_map(|kv| kv.strip_prefix("credentialToken="))
            .unwrap_or_default();
        let key = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token)
            .ok_or_else(|| Fail::new(404, None, "This credential token does not exist"))?;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = keys.iter_mut().find(|k| k.key == key) {
            k.state = CredentialState::Validated;
        }
        Ok(json!({"state": "validated"}))
    }

    /// OAuth2 client-credentials grant: Basic auth or form fields.
    fn token(&self, authorization: Option<&str>, body: &[u8]) -> Result<Value, Fail> {
        let form: HashMap<String, String> = String::from_utf8_lossy(body)
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace("%20", " ")))
            .collect();
        let basic = authorization
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| BASE64_STANDARD.decode(b.trim()).ok())
            .and_then(|raw| {
                let s = String::from_utf8(raw).ok()?;
                let (id, secret) = s.split_once(':')?;
                Some((id.to_string(), secret.to_string()))
            });
        let (id, secret) = basic
            .or_else(|| {
                Some((
                    form.get("client_id")?.clone(),
                    form.get("client_secret")?.clone(),
                ))
            })
            .ok_or_else(|| Fail::new(401, None, "invalid_client"))?;
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Err(Fail::new(400, None, "unsupported_grant_type"));
        }
        if !self
            .opts
            .oauth_clients
            .iter()
            .any(|(i, s)| *i == id && *s == secret)
        {
            return Err(Fail::new(401, None, "invalid_client"));
        }
        let n = self.queries.load(Ordering::SeqCst);
        let token = format!("sim-token-{n:08x}-{:x}", unix_now());
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), Instant::now() + Duration::from_secs(3600));
        Ok(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "all",
        }))
    }

    fn machine(&self, sn: &str) -> Result<Machine, Fail> {
        self.estate
            .machine(&self.profile, sn)
            .map_err(|_| Fail::not_found(&format!("serviceName = {sn}")))
    }

    fn start(&self, sn: &str, op: &Operation) -> Result<Value, Fail> {
        let id = self.estate.start(&self.profile, sn, op)?;
        let date = self
            .server_now()
            .to_rfc3339_opts(SecondsFormat::Secs, false);
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).insert(
            id.clone(),
            TaskInfo {
                service: sn.into(),
                kind: task_kind(op.name()),
                date,
            },
        );
        self.task_json(sn, &id)
    }

    fn task_json(&self, sn: &str, id: &str) -> Result<Value, Fail> {
        let (kind, date) = {
            let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            match tasks.get(id) {
                Some(t) if t.service == sn => (t.kind, t.date.clone()),
                Some(_) => return Err(Fail::not_found(&format!("id = {id}"))),
                None => {
                    // Started by another client of the estate: known while it runs.
                    let running = self.estate.running_tasks(&self.profile, sn);
                    let (_, op) = running
                        .iter()
                        .find(|(t, _)| t == id)
                        .ok_or_else(|| Fail::not_found(&format!("id = {id}")))?;
                    (
                        task_kind(op),
                        self.server_now()
                            .to_rfc3339_opts(SecondsFormat::Secs, false),
                    )
                }
            }
        };
        let st = self
            .estate
            .task(id)
            .map_err(|_| Fail::not_found(&format!("id = {id}")))?;
        let numeric: i64 = id
            .parse()
            .map_err(|_| Fail::new(500, None, format!("task id {id} is not numeric")))?;
        Ok(json!({
            "id": numeric,
            "date": date,
            "progress": st.progress.unwrap_or(0),
            "state": task_state(st.state),
            "type": kind,
        }))
    }

    fn task_ids(&self, sn: &str, query: Option<&str>) -> Value {
        let q: HashMap<&str, &str> = query
            .unwrap_or_default()
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let mut ids: Vec<String> = self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, t)| t.service == sn)
            .map(|(k, _)| k.clone())
            .collect();
        for (id, _) in self.estate.running_tasks(&self.profile, sn) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut out: Vec<i64> = Vec::new();
        for id in ids {
            let Ok(t) = self.task_json(sn, &id) else {
                continue;
            };
            let keep = q.get("state").is_none_or(|s| t["state"] == *s)
                && q.get("type").is_none_or(|s| t["type"] == *s);
            if keep && let Some(n) = t["id"].as_i64() {
                out.push(n);
            }
        }
        out.sort_unstable();
        json!(out)
    }

    fn route(
        &self,
        method: &str,
        api_path: &str,
        query: Option<&str>,
        body: &[u8],
        key: Option<&SimConsumerKey>,
    ) -> Result<Value, Fail> {
        let segs: Vec<&str> = api_path.trim_matches('/').split('/').collect();
        let parsed_body = || -> Result<Value, Fail> {
            if body.is_empty() {
                return Ok(json!({}));
            }
            serde_json::from_slice(body)
                .map_err(|e| Fail::new(400, None, format!("Invalid JSON body: {e}")))
        };
        if let ["vps", sn, ..] = segs.as_slice() {
            let expired = self
                .faults
                .expired
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if expired.iter().any(|e| e == sn) {
                return Err(Fail::new(460, None, "This service is expired"));
            }
        }
        match (method, segs.as_slice()) {
            ("GET", ["auth", "time"]) => Ok(json!(unix_now() + self.opts.clock_offset_secs)),
            ("GET", ["auth", "currentCredential"]) => {
                let rules: Vec<Value> = key
                    .map(|k| {
                        k.rules
                            .iter()
                            .map(|(m, p)| json!({"method": m, "path": p}))
                            .collect()
                    })
                    .unwrap_or_else(|| vec![json!({"method": "GET", "path": "/*"})]);
                Ok(json!({
                    "credentialId": 4242,
                    "applicationId": 101,
                    "status": "validated",
                    "rules": rules,
                    "creation": "2026-01-01T00:00:00+00:00",
                    "expiration": null,
                    "lastUse": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, false),
                    "ovhSupport": false,
                    "allowedIPs": null,
                }))
            }
            ("GET", ["vps"]) => {
                let mut ids: Vec<String> = self
                    .estate
                    .machines(&self.profile)?
                    .into_iter()
                    .map(|m| m.id)
                    .collect();
                ids.extend(
                    self.faults
                        .listed_also
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .cloned(),
                );
                Ok(json!(ids))
            }
            ("GET", ["vps", sn]) => Ok(vps_json(&self.machine(sn)?)),
            ("GET", ["vps", sn, "option"]) => {
                let m = self.machine(sn)?;
                let mut options = Vec::new();
                if m.snapshot_option == Some(true) {
                    options.push("snapshot");
                }
                if backups_of(&m).is_some() {
                    options.push("automatedBackup");
                }
                Ok(json!(options))
            }
            ("GET", ["vps", sn, "option", option]) => {
                let m = self.machine(sn)?;
                let subscribed = match *option {
                    "snapshot" => m.snapshot_option == Some(true),
                    "automatedBackup" => backups_of(&m).is_some(),
                    _ => false,
                };
                if subscribed {
                    Ok(json!({"option": option, "state": "subscribed"}))
                } else {
                    Err(Fail::not_found(&format!("option = {option}")))
                }
            }
            ("GET", ["vps", sn, "automatedBackup", rest @ ..]) => {
                let m = self.machine(sn)?;
                let b = backups_of(&m).ok_or_else(|| {
                    Fail::new(
                        404,
                        None,
                        format!("The service {sn} does not have the automatedBackup option"),
                    )
                })?;
                let mut v = automated_backup(b, rest, query)?;
                let garbage = self
                    .faults
                    .malformed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(*sn)
                    == Some(&Malformed::RestorePointGarbage);
                if garbage
                    && rest == ["restorePoints"]
                    && let Some(first) = v.as_array_mut().and_then(|a| a.first_mut())
                {
                    *first = json!("garbage");
                }
                Ok(v)
            }
            ("POST", ["vps", sn, "automatedBackup", call]) => {
                self.machine(sn)?;
                let op = backup_post(call, &parsed_body()?)?;
                self.start(sn, &Operation::Backup(op))
            }
            ("GET", ["vps", sn, "snapshot"]) => {
                let m = self.machine(sn)?;
                let malformed = self
                    .faults
                    .malformed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(*sn)
                    .copied();
                if malformed == Some(Malformed::SnapshotNull) {
                    return Ok(Value::Null);
                }
                let s = m
                    .snapshots
                    .first()
                    .ok_or_else(|| Fail::not_found("snapshot"))?;
                // Stamped by the server's clock, as the API's are: ahead or behind as it is.
                let created = s.created + chrono::Duration::seconds(self.opts.clock_offset_secs);
                let mut v = json!({
                    "id": s.id,
                    "creationDate": created.to_rfc3339_opts(SecondsFormat::Secs, false),
                    "description": s.description,
                    "region": m.location.first(),
                });
                match malformed {
                    Some(Malformed::DescriptionNumber) => v["description"] = json!(12345),
                    Some(Malformed::DateGarbage) => v["creationDate"] = json!("garbage"),
                    _ => {}
                }
                Ok(v)
            }
            ("PUT", ["vps", sn, "snapshot"]) => {
                let m = self.machine(sn)?;
                let s = m
                    .snapshots
                    .first()
                    .ok_or_else(|| Fail::not_found("snapshot"))?;
                let b = parsed_body()?;
                let description = b["description"]
                    .as_str()
                    .ok_or_else(|| Fail::new(400, None, "Missing parameter: description"))?;
                self.estate.start(
                    &self.profile,
                    sn,
                    &Operation::Rename {
                        snapshot: s.id.clone(),
                        name: None,
                        description: Some(description.into()),
                    },
                )?;
                Ok(Value::Null)
            }
            ("DELETE", ["vps", sn, "snapshot"]) => {
                let m = self.machine(sn)?;
                let s = m
                    .snapshots
                    .first()
                    .ok_or_else(|| Fail::not_found("snapshot"))?;
                self.start(
                    sn,
                    &Operation::Delete {
                        snapshot: s.id.clone(),
                        children: false,
                    },
                )
            }
            ("POST", ["vps", sn, "createSnapshot"]) => {
                self.machine(sn)?;
                let b = parsed_body()?;
                let description = b["description"].as_str().unwrap_or_default().to_string();
                self.start(
                    sn,
                    &Operation::Take {
                        quiesce_timeout: None,
                        name: description.clone(),
                        description,
                        memory: false,
                        quiesce: false,
                    },
                )
            }
            ("POST", ["vps", sn, "snapshot", "revert"]) => {
                let m = self.machine(sn)?;
                if m.snapshots.is_empty() {
                    return Err(Fail::not_found("snapshot"));
                }
                self.start(
                    sn,
                    &Operation::RevertCurrent {
                        start: false,
                        suppress_power_on: false,
                    },
                )
            }
            ("POST", ["vps", sn, "abortSnapshot"]) => {
                self.machine(sn)?;
                let running = self.estate.running_tasks(&self.profile, sn);
                let (task, _) = running.iter().find(|(_, op)| op == "take").ok_or_else(|| {
                    Fail::new(400, None, "There is no snapshot in progress on this VPS")
                })?;
                self.estate
                    .start(&self.profile, sn, &Operation::Cancel { task: task.clone() })?;
                Ok(Value::Null)
            }
            ("GET", ["vps", sn, "snapshot", "download"]) => {
                let m = self.machine(sn)?;
                let s = m
                    .snapshots
                    .first()
                    .ok_or_else(|| Fail::not_found("snapshot"))?;
                Ok(json!({
                    "url": format!(
                        "https://storage.sim.invalid/v1/AUTH_sim/snapshots/{}/{}.qcow2?temp_url_expires={}",
                        sn, s.id, unix_now() + 86_400
                    ),
                    "size": 10_737_418_240u64,
                }))
            }
            ("GET", ["vps", sn, "tasks"]) => {
                self.machine(sn)?;
                Ok(self.task_ids(sn, query))
            }
            ("GET", ["vps", sn, "tasks", id]) => {
                self.machine(sn)?;
                self.task_json(sn, id)
            }
            (_, ["order" | "me", ..]) => self
                .order_route(method, &segs, &parsed_body)
                .unwrap_or_else(|| Err(Fail::new(404, None, "Got an invalid (or empty) URL"))),
            (_, ["vps", ..] | ["auth", ..]) => Err(Fail::new(
                405,
                None,
                format!("The method {method} is not allowed on {api_path}"),
            )),
            _ => Err(Fail::new(404, None, "Got an invalid (or empty) URL")),
        }
    }
}

/// `vps.VPSWithIAM` for a machine.
/// A VPS's automated backup, when its option is subscribed.
fn backups_of(m: &Machine) -> Option<&crate::model::backups::Backups> {
    m.backups.as_deref().filter(|b| b.subscribed)
}

/// The API's time format (`2026-12-05T22:00:00+00:00`).
fn api_time(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `POST /vps/{sn}/automatedBackup/{call}` read as the schema says: `restore`
/// `{restorePoint, type}`, `detachBackup` `{restorePoint}`, `reschedule` `{schedule}`.
fn backup_post(call: &str, body: &Value) -> Result<BackupOp, Fail> {
    let field = |name: &str| {
        body[name]
            .as_str()
            .ok_or_else(|| Fail::new(400, None, format!("Missing parameter: {name}")))
    };
    let point = || {
        let text = field("restorePoint")?;
        crate::model::backups::point_time(text)
            .map(crate::model::backups::point_id)
            .ok_or_else(|| Fail::new(400, None, format!("Invalid value for restorePoint: {text}")))
    };
    match call {
        "restore" => {
            let full = match field("type")? {
                "full" => true,
                "file" => false,
                other => {
                    return Err(Fail::new(
                        400,
                        None,
                        format!("Invalid value for type: {other} (file, full)"),
                    ));
                }
            };
            Ok(BackupOp::Restore {
                point: point()?,
                full,
            })
        }
        "detachBackup" => Ok(BackupOp::Detach { point: point()? }),
        "reschedule" => {
            let schedule = field("schedule")?;
            chrono::NaiveTime::parse_from_str(schedule, "%H:%M:%S").map_err(|_| {
                Fail::new(400, None, format!("Invalid value for schedule: {schedule}"))
            })?;
            Ok(BackupOp::Reschedule {
                schedule: schedule.to_string(),
            })
        }
        _ => Err(Fail::not_found(&format!("automatedBackup/{call}"))),
    }
}

/// `GET /vps/{sn}/automatedBackup[/rest]` as the schema says.
fn automated_backup(
    b: &crate::model::backups::Backups,
    rest: &[&str],
    query: Option<&str>,
) -> Result<Value, Fail> {
    match rest {
        [] => Ok(json!({"schedule": b.schedule, "state": b.state})),
        ["restorePoints"] => {
            let state = query
                .unwrap_or_default()
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "state")
                .map(|(_, v)| v);
            let known = crate::model::backups::RestoreState::ALL
                .iter()
                .any(|s| Some(s.as_str()) == state);
            if state.is_some() && !known {
                return Err(Fail::new(
                    400,
                    None,
                    format!("Invalid value for state: {}", state.unwrap_or_default()),
                ));
            }
            let times: Vec<String> = b
                .restore_points
                .iter()
                .filter(|p| state.is_none_or(|s| p.state.as_str() == s))
                .map(|p| api_time(p.time))
                .collect();
            Ok(json!(times))
        }
        ["attachedBackup"] => Ok(json!(
            b.attached
                .iter()
                .map(|a| json!({
                    "restorePoint": api_time(a.time),
                    "access": {"nfs": a.nfs, "smb": a.smb, "additionalDisk": null},
                }))
                .collect::<Vec<_>>()
        )),
        _ => Err(Fail::not_found(&format!(
            "automatedBackup/{}",
            rest.join("/")
        ))),
    }
}

fn vps_json(m: &Machine) -> Value {
    let detail = |k: &str| {
        m.details
            .iter()
            .find(|(dk, _)| dk == k)
            .map(|(_, v)| v.clone())
    };
    let state = detail("state").unwrap_or_else(|| {
        match m.power_state {
            PowerState::PoweredOff => "stopped",
            _ => "running",
        }
        .to_string()
    });
    let model = detail("model").unwrap_or_else(|| "vps-starter-1-2-20".into());
    let zone = m.location.first().cloned().unwrap_or_default();
    json!({
        "name": m.id,
        "displayName": m.name,
        "state": state,
        "zone": zone,
        "cluster": "cluster-sim",
        "keymap": null,
        "memoryLimit": 2048,
        "monitoringIpBlocks": [],
        "netbootMode": "local",
        "offerType": "ssd",
        "slaMonitoring": false,
        "vcore": 1,
        "iam": {
            "id": format!("00000000-0000-4000-8000-{:012x}", m.id.len()),
            "urn": format!("urn:v1:eu:resource:vps:{}", m.id),
            "displayName": m.name,
        },
        "model": {
            "name": model,
            "offer": "VPS",
            "version": "2019v1",
            "vcore": 1,
            "memory": 2048,
            "disk": 20,
            "maximumAdditionnalIp": 16,
            "datacenter": [],
            "availableOptions": ["snapshot", "automatedBackup", "additionalDisk"],
        },
    })
}
