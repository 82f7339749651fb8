//! vSphere (vCenter or ESXi) through the vim25 API, on the `vim_rs` crate: VI/JSON where the
//! server offers it (vCenter 8.0U1+), SOAP otherwise (older vCenters, ESXi, vcsim).
//!
//! One session per profile, kept alive and renewed on `NotAuthenticated`; reads are retried
//! once after a new login, changes never are. Inventories are read in one paged property
//! collector pass; tasks and live updates are watched through dedicated property collectors.

pub(crate) mod faults;
mod history;
mod inventory;
mod limit;
pub mod tls;

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::LocalBoxFuture;
use tokio::sync::{Mutex, mpsc, oneshot};
use vim_rs::core::client::{
    Client, ClientBuilder, Error as VimError, Transport as WireTransport, TransportMode, VimClient,
};
use vim_rs::mo::{
    AuthorizationManager, ContainerView, PropertyCollector, ServiceInstance, SessionManager, Task,
    ViewManager, VirtualMachine, VirtualMachineSnapshot,
};
use vim_rs::types::enums::{MoTypesEnum, ObjectUpdateKindEnum, TaskInfoStateEnum};
use vim_rs::types::struct_enum::StructType;
use vim_rs::types::structs::{
    LocalizedMethodFault, ManagedObjectReference, MethodFault, ObjectSpec, PropertyFilterSpec,
    PropertySpec, VirtualMachineGuestQuiesceSpec, WaitOptions,
};

use super::{PartialInventory, ProgressSink, Provider, ProviderError, StartedTask};
use crate::config::{ProfileConfig, Secret, resolve_secret};
use crate::model::{Machine, Operation, TaskState, TaskStatus};
use faults::{certificate_refusal, describe, is_certificate_error, is_not_authenticated};

/// The privilege needed to take snapshots, reported by `check`.
const SNAPSHOT_PRIVILEGE: &str = "VirtualMachine.State.CreateSnapshot";
/// How often an idle session is touched so the server does not expire it.
const KEEPALIVE: Duration = Duration::from_secs(240);
/// Longest single wait on the server for updates; the loop goes on after it.
const WAIT_SECONDS: i32 = 30;
/// Prefix of the ids of calls that finish synchronously (rename, cancel).
const SYNC_TASK: &str = "sync:";

/// Which wire protocol to speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// VI/JSON when the server offers it (vCenter 8.0U1+), SOAP otherwise.
    #[default]
    Auto,
    /// SOAP/XML only: ESXi, older vCenters, and vcsim (skips the JSON probe).
    Soap,
    /// VI/JSON only.
    Json,
}

/// Options of a connection beyond the profile.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Wire protocol.
    pub transport: Transport,
    /// A session someone watches (the TUI): the change feed is set up before each inventory
    /// read, and the first inventory is shown page by page. Commands that read once and exit
    /// leave both out: the feed's first answer is a second copy of the whole inventory, and
    /// pages need the folders read first. Without it, the feed is set up when changes are
    /// first waited for.
    pub interactive: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            transport: Transport::Auto,
            interactive: true,
        }
    }
}

/// A connected vSphere profile.
///
/// The vim_rs calls run on one thread of this provider with its own single-threaded runtime:
/// vim_rs's futures then never need proving `Send`, which over its thousands of generated,
/// recursive types costs the compiler many minutes. Callers exchange plain `model` values
/// with that thread through channels.
pub struct VsphereProvider {
    profile: String,
    jobs: mpsc::UnboundedSender<Job>,
    /// Whether the first inventory is shown page by page.
    interactive: bool,
    /// An inventory has been read whole once.
    loaded: std::sync::atomic::AtomicBool,
}

/// Work for the session thread: builds a (non-`Send`) future from the session.
type Job = Box<dyn FnOnce(Arc<Inner>) -> LocalBoxFuture<'static, ()> + Send>;

/// Everything needed to log in, as plain data that can move to the session thread.
struct Params {
    profile: String,
    host: String,
    username: String,
    password: Secret,
    policy: tls::TlsPolicy,
    /// Every call's time limit; the change feed's long wait stays below it.
    timeout: Duration,
    transport: Transport,
    interactive: bool,
    /// The bound of one answer, in MiB (`max_answer_mb`).
    max_answer_mb: u64,
}

struct Inner {
    profile: String,
    host: String,
    username: String,
    password: Secret,
    client: Arc<Client>,
    /// One new login at a time, however many calls saw the session expire.
    login_lock: Mutex<()>,
    /// The live-update collector, created on first use and again after a new login.
    watch: Mutex<Option<Watch>>,
    /// Whether inventory reads set up the live-update collector first.
    interactive: bool,
    /// `maxWaitSeconds` of WaitForUpdatesEx: the server answers within it, well inside the
    /// request time limit.
    wait_seconds: i32,
    /// Logged out: the session is over.
    closed: std::sync::atomic::AtomicBool,
    /// The tunnel bounding each answer (none under an operator's own proxy); it ends with
    /// the session.
    _tunnel: Option<limit::Tunnel>,
    /// What listing chunks are sized by: the bound of one answer (`max_answer_mb`) and
    /// whether the server answered the login as a near one.
    sizing: inventory::Sizing,
    /// The server instance (`about.instanceUuid`) as read at the last login: every machine
    /// read carries it, so a change chosen on one instance is refused on another (a
    /// restarted or rebuilt server hands the same ids to other snapshots).
    instance: std::sync::Mutex<Option<String>>,
}

/// The long wait of the change feed for a request limit of `timeout`: at most
/// `WAIT_SECONDS`, ten seconds below the limit (at least one second).
fn wait_seconds(timeout: Duration) -> i32 {
    let below = timeout.as_secs().saturating_sub(10).max(1);
    i32::try_from(below).unwrap_or(i32::MAX).min(WAIT_SECONDS)
}

struct Watch {
    collector: PropertyCollector,
    version: String,
}

/// `host[:port]` from a profile URL: `vc.example.com`, `https://vc:8443/sdk`, `https://u:p@h/sdk`.
pub fn server_address(url: &str) -> Result<String, ProviderError> {
    let url = url.trim();
    if url.starts_with("http://") {
        return Err(ProviderError::Backend(format!(
            "the vSphere URL \"{url}\" uses http; vSphere is reached over https"
        )));
    }
    // The same rule as at config load (a profile from govc's environment comes here unchecked).
    if let Some(problem) = crate::config::vsphere_url_problem(url) {
        return Err(ProviderError::Backend(format!("the vSphere URL {problem}")));
    }
    let rest = url.strip_prefix("https://").unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials in the URL are ignored: the profile's username and password are used.
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        return Err(ProviderError::Backend(format!(
            "the vSphere URL \"{url}\" names no host"
        )));
    }
    Ok(host.to_string())
}

impl VsphereProvider {
    /// Connect and log in to the profile `name` (VI/JSON when offered, else SOAP).
    pub async fn connect(name: &str, cfg: &ProfileConfig) -> Result<Self, ProviderError> {
        Self::connect_with(name, cfg, &ConnectOptions::default()).await
    }

    /// Connect with explicit options (e.g. SOAP only, for vcsim).
    pub async fn connect_with(
        name: &str,
        cfg: &ProfileConfig,
        options: &ConnectOptions,
    ) -> Result<Self, ProviderError> {
        let url = cfg.url.as_deref().ok_or_else(|| {
            ProviderError::Backend(format!("profile {name} (vsphere) needs a url"))
        })?;
        let host = server_address(url)?;
        let username = cfg
            .username
            .clone()
            .ok_or_else(|| ProviderError::Auth(format!("profile {name} has no username")))?;
        // A secret that cannot be had is the profile's configuration, not a refused login:
        // said once, without a second "profile NAME:" (the caller names the profile).
        let local = |e: crate::config::ConfigError| {
            ProviderError::Backend(match e {
                crate::config::ConfigError::Secret { message, .. } => message,
                other => other.to_string(),
            })
        };
        let password = resolve_secret(
            name,
            "password",
            cfg.password.as_deref(),
            cfg.password_env.as_deref(),
            cfg.password_command.as_deref(),
            cfg.request_timeout(name).map_err(ProviderError::Backend)?,
        )
        .map_err(local)?
        .ok_or_else(|| {
            ProviderError::Backend("it has no password, password_env or password_command".into())
        })?;
        let policy = tls::TlsPolicy::from_profile(
            cfg.insecure,
            cfg.thumbprint.as_deref(),
            cfg.ca_file.as_deref(),
        )?;
        let timeout = cfg.request_timeout(name).map_err(ProviderError::Backend)?;
        let params = Params {
            profile: name.to_string(),
            host,
            username,
            password,
            policy,
            timeout,
            transport: options.transport,
            interactive: options.interactive,
            max_answer_mb: cfg.max_answer_mb(name).map_err(ProviderError::Backend)?,
        };
        let (ready_tx, ready_rx) = oneshot::channel();
        let (jobs, jobs_rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name(format!("vsphere-{name}"))
            .stack_size(SESSION_STACK)
            .spawn(move || session_thread(params, ready_tx, jobs_rx))
            .map_err(|e| ProviderError::Backend(format!("cannot start a thread: {e}")))?;
        ready_rx.await.map_err(|_| stopped())??;
        Ok(VsphereProvider {
            profile: name.to_string(),
            jobs,
            interactive: options.interactive,
            loaded: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The profile name.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Run `f` on the session thread and wait for its answer.
    async fn call<T, F>(&self, f: F) -> Result<T, ProviderError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>) -> LocalBoxFuture<'static, T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |inner| {
            Box::pin(async move {
                let _ = tx.send(f(inner).await);
            })
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
    }
}

/// Wait for `result`, handing to `each` the machines that arrive on `rx` meanwhile, in
/// order, and those still in it when `result` is done.
async fn forwarding<T>(
    mut rx: mpsc::UnboundedReceiver<Vec<Machine>>,
    result: impl Future<Output = T>,
    each: PartialInventory<'_>,
) -> T {
    tokio::pin!(result);
    let done = loop {
        tokio::select! {
            biased;
            Some(machines) = rx.recv() => each(machines),
            done = &mut result => break done,
        }
    };
    while let Ok(machines) = rx.try_recv() {
        each(machines);
    }
    done
}

/// Objects per page of the change feed's initial state.
const WATCH_PAGE: i32 = 500;

fn stopped() -> ProviderError {
    ProviderError::Backend("the vSphere session has ended".into())
}

/// The stack of a profile's session thread. vim_rs decodes, and Rust drops, a VM's nested
/// snapshot tree (`childSnapshotList` in `childSnapshotList`…) one stack frame per level,
/// before snaptree can refuse a tree deeper than `model::machine::MAX_DEPTH`: a hostile
/// server's thousands of levels need room a default 2 MiB thread does not have. Reserved
/// address space; only the pages a deep answer touches are used.
const SESSION_STACK: usize = 256 << 20;

/// The session thread: log in, answer jobs concurrently, log out when the provider is gone.
fn session_thread(
    params: Params,
    ready: oneshot::Sender<Result<(), ProviderError>>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(ProviderError::Backend(format!(
                "cannot start the vSphere runtime: {e}"
            ))));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let inner = match Inner::login(params).await {
            Ok(inner) => Arc::new(inner),
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let keepalive = tokio::task::spawn_local(keep_alive(Arc::downgrade(&inner)));
        while let Some(job) = jobs.recv().await {
            tokio::task::spawn_local(job(inner.clone()));
        }
        // The provider was dropped: end the session instead of letting it time out.
        keepalive.abort();
        inner.close().await;
    });
}

/// Whether the operator sends HTTPS through a proxy of their own (`HTTPS_PROXY`,
/// `ALL_PROXY`, as reqwest reads them): the client then goes there, without the answer
/// bound's tunnel.
fn own_proxy() -> bool {
    ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// The transport `Transport::Auto` picks, found with one VI/JSON hello (`POST
/// /api/vcenter/system?action=hello`): VI/JSON at the API release it answers, else SOAP (an
/// older vCenter, vcsim, or no answer: the login then says what is wrong). vim_rs's own
/// automatic mode asks the hello and, on a VI/JSON server, asks it again to negotiate the
/// release: a round trip more on every login.
async fn transport_of(http: &reqwest_vim::Client, host: &str) -> (TransportMode, Option<String>) {
    let hello =
        serde_json::json!({ "api_releases": vim_rs::core::client::COMPATIBLE_API_RELEASES });
    let answer = http
        .post(format!("https://{host}/api/vcenter/system?action=hello"))
        .header("Content-Type", "application/json")
        .body(hello.to_string())
        .send()
        .await;
    let release = match answer {
        Ok(a) if a.status().is_success() => a
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("api_release")?.as_str().map(str::to_string))
            .filter(|r| !r.is_empty()),
        _ => None,
    };
    match release {
        Some(r) => (TransportMode::Json, Some(r)),
        None => (TransportMode::Soap, None),
    }
}

/// Turn a failed login into a sentence; an untrusted certificate is probed for its thumbprint
/// so the sentence can say exactly what to pin.
async fn login_error(
    e: VimError,
    profile: &str,
    host: &str,
    policy: &tls::TlsPolicy,
) -> ProviderError {
    if let VimError::MethodFault(f) = &e
        && f.type_ == Some(StructType::InvalidLogin)
    {
        return ProviderError::Auth(format!(
            "the server {host} refused the user name or password of profile {profile}"
        ));
    }
    if let VimError::ReqwestError(re) = &e
        && is_certificate_error(re)
    {
        let seen = tls::probe_thumbprint(host).await;
        let cause = certificate_refusal(re);
        return ProviderError::Unreachable(tls::refusal_sentence(
            cause.as_ref(),
            host,
            profile,
            seen.as_deref(),
            policy,
        ));
    }
    describe(&e, &format!("logging in to {host}"))
}

/// Touch the session every few minutes; log in again when it expired anyway.
async fn keep_alive(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(KEEPALIVE);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let si = ServiceInstance::new(inner.client.clone(), "ServiceInstance");
        match si.current_time().await {
            Ok(_) => {}
            Err(e) if is_not_authenticated(&e) => {
                if let Err(e) = inner.relogin().await {
                    tracing::warn!(profile = %inner.profile, "keep-alive login failed: {e}");
                }
            }
            Err(e) => tracing::debug!(profile = %inner.profile, "keep-alive failed: {e}"),
        }
    }
}

/// Log in on a client built without a session (its service content read).
async fn log_in(client: &Arc<Client>, user: &str, password: &str) -> Result<(), VimError> {
    let sm = client
        .service_content()
        .session_manager
        .clone()
        .ok_or_else(|| {
            VimError::ParseError("this server has no session manager to log in to".to_string())
        })?;
    let handle: Arc<dyn VimClient> = client.clone();
    SessionManager::new(handle, &sm.value)
        .login(user, password, None)
        .await
        .map(|_| ())
}

impl Inner {
    /// Log in with the profile's parameters.
    async fn login(params: Params) -> Result<Self, ProviderError> {
        // A call that gets no answer fails after the limit (a server that accepts and then
        // stalls hung `ls` for ever). WaitForUpdatesEx is told to answer well within it.
        let tunnel = match limit::target_of(&params.host) {
            Some(target) if !own_proxy() => Some(
                limit::Tunnel::start(target, params.max_answer_mb, params.timeout)
                    .await
                    .map_err(|e| {
                        ProviderError::Backend(format!("cannot start the answer bound: {e}"))
                    })?,
            ),
            _ => None,
        };
        let proxy = match &tunnel {
            Some(t) => Some(t.proxy().map_err(ProviderError::Backend)?),
            None => None,
        };
        let http = tls::http_client(&params.policy, params.timeout, proxy)?;
        // A listing keeps `inventory::IN_FLIGHT` requests in flight, so the login opens as
        // many connections, and each pays its TCP and TLS handshakes (two round trips to a
        // distant server) here, not on the listing's way: in automatic mode the hello and
        // the SOAP service content are asked at once, one on each of two; harmless reads
        // open the others, their answers dropped.
        let opened = if params.transport == Transport::Auto {
            2
        } else {
            1
        };
        for _ in opened..inventory::IN_FLIGHT {
            let other = http.clone();
            let versions = format!("https://{}/sdk/vimServiceVersions.xml", params.host);
            tokio::spawn(async move {
                if let Ok(answer) = other.get(versions).send().await {
                    let _ = answer.bytes().await;
                }
            });
        }
        let wait_seconds = wait_seconds(params.timeout);
        let build = async {
            let builder = |mode| {
                ClientBuilder::new(&params.host, http.clone())
                    .app_details(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
                    .transport(mode)
            };
            let with_login =
                |b: ClientBuilder| b.basic_authn(&params.username, params.password.expose());
            // With the client, how long the login call alone took where it is one call of
            // its own (one round trip): what tells a near server from a distant one.
            let unmeasured = |built: Result<Arc<Client>, VimError>| built.map(|c| (c, None));
            match params.transport {
                Transport::Soap => {
                    unmeasured(with_login(builder(TransportMode::Soap)).build().await)
                }
                Transport::Json => {
                    unmeasured(with_login(builder(TransportMode::Json)).build().await)
                }
                Transport::Auto => {
                    // The hello and the SOAP service content (which needs no session) at
                    // once: a SOAP-only server (an older vCenter, ESXi, vcsim) is logged in
                    // to a round trip sooner than after asking one, then the other.
                    let (hello, soap) = tokio::join!(
                        transport_of(&http, &params.host),
                        builder(TransportMode::Soap).build()
                    );
                    match hello {
                        (TransportMode::Json, Some(release)) => unmeasured(
                            with_login(builder(TransportMode::Json).api_release(&release))
                                .build()
                                .await,
                        ),
                        _ => {
                            let client = soap?;
                            let start = std::time::Instant::now();
                            log_in(&client, &params.username, params.password.expose()).await?;
                            Ok((client, Some(start.elapsed())))
                        }
                    }
                }
            }
        };
        // The limit is the login's, not each of its requests': finding the transport asks
        // twice (a VI/JSON hello, then SOAP), which took twice the limit on a stalled server.
        let (client, login_took) = match tokio::time::timeout(params.timeout, build).await {
            Ok(Ok(built)) => built,
            Err(_) => {
                return Err(ProviderError::Unreachable(format!(
                    "the server did not answer in time while logging in to {} (timeout {}s)",
                    params.host,
                    params.timeout.as_secs()
                )));
            }
            Ok(Err(e)) => {
                return Err(login_error(e, &params.profile, &params.host, &params.policy).await);
            }
        };
        let instance = client.service_content().about.instance_uuid.clone();
        Ok(Inner {
            instance: std::sync::Mutex::new(instance),
            profile: params.profile,
            host: params.host,
            username: params.username,
            password: params.password,
            client,
            login_lock: Mutex::new(()),
            watch: Mutex::new(None),
            interactive: params.interactive,
            wait_seconds,
            closed: std::sync::atomic::AtomicBool::new(false),
            _tunnel: tunnel,
            sizing: inventory::Sizing {
                answer_bytes: params.max_answer_mb.saturating_mul(1024 * 1024),
                near: login_took.is_some_and(|t| t <= inventory::NEAR),
            },
        })
    }

    /// Drop the update collector and log out, once.
    async fn close(&self) {
        if self.closed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        // A held lock means a long wait is running on the collector; logging out ends both.
        let watch = self.watch.try_lock().ok().and_then(|mut w| w.take());
        if let Some(w) = watch {
            let _ = w.collector.destroy_property_collector().await;
        }
        if let Err(e) = self.client.close().await {
            tracing::debug!(profile = %self.profile, "logout failed: {e}");
        }
    }

    fn client(&self) -> Arc<Client> {
        self.client.clone()
    }

    /// The server instance as read at the last login.
    fn instance(&self) -> Option<String> {
        self.instance
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Read the server instance again after a new login: the server that answers now may
    /// be another one than at the first login (restarted, rebuilt). Unknown when it cannot
    /// be read, which no view recorded matches.
    async fn reread_instance(&self) {
        let read = ServiceInstance::new(self.handle(), "ServiceInstance")
            .retrieve_service_content()
            .await;
        let now = match read {
            Ok(content) => content.about.instance_uuid,
            Err(e) => {
                tracing::warn!(profile = %self.profile, "cannot read the server instance after logging in again: {e}");
                None
            }
        };
        *self.instance.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    fn handle(&self) -> Arc<dyn VimClient> {
        self.client.clone()
    }

    /// Log in again on the same HTTP client (the new session replaces the old cookie/key).
    async fn relogin(&self) -> Result<(), ProviderError> {
        let _guard = self.login_lock.lock().await;
        let sm = self.client.service_content().session_manager.clone();
        let Some(sm) = sm else {
            return Err(ProviderError::Auth(format!(
                "the session of profile {} expired and this server has no session manager to log in again",
                self.profile
            )));
        };
        // Session-scoped objects (our update collector) died with the old session.
        self.watch.lock().await.take();
        let login = SessionManager::new(self.handle(), &sm.value)
            .login(&self.username, self.password.expose(), None)
            .await;
        if login.is_ok() {
            self.reread_instance().await;
        }
        login.map(|_| ()).map_err(|e| match &e {
                VimError::MethodFault(f) if f.type_ == Some(StructType::InvalidLogin) => {
                    ProviderError::Auth(format!(
                        "the session of profile {} expired and the server refused the password when logging in again",
                        self.profile
                    ))
                }
                _ => describe(&e, &format!("logging in again to {}", self.host)),
            })
    }

    /// Run a read; when the session has expired, log in again and run it once more.
    async fn read<T, F, Fut>(&self, doing: &str, f: F) -> Result<T, ProviderError>
    where
        F: Fn(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, VimError>>,
    {
        match f(self.client()).await {
            Ok(v) => Ok(v),
            Err(e) if self.session_gone(&e).await => {
                self.relogin().await?;
                f(self.client()).await.map_err(|e| describe(&e, doing))
            }
            Err(e) => Err(describe(&e, doing)),
        }
    }

    /// Whether `err` means this session is gone. A `NotAuthenticated` fault says so. An
    /// answer that does not parse may say so too: a server that lost its sessions (vcsim
    /// after a restart) answers a property read with HTTP 200 and `NotAuthenticated` in
    /// each object's `missingSet`, which does not deserialize; then a call that needs a
    /// session (`CurrentTime`) tells whether ours is still alive.
    async fn session_gone(&self, err: &VimError) -> bool {
        match err {
            _ if is_not_authenticated(err) => true,
            VimError::ParseError(_) => {
                let si = ServiceInstance::new(self.handle(), "ServiceInstance");
                matches!(si.current_time().await, Err(e) if is_not_authenticated(&e))
            }
            _ => false,
        }
    }

    /// Run a change once. An expired session is renewed but the change is not repeated.
    async fn change<T, Fut>(&self, doing: &str, fut: Fut) -> Result<T, ProviderError>
    where
        Fut: Future<Output = Result<T, VimError>>,
    {
        match fut.await {
            Ok(v) => Ok(v),
            Err(e) if is_not_authenticated(&e) => {
                self.relogin().await?;
                Err(ProviderError::Auth(format!(
                    "the session had expired, so {doing} did not start; snaptree logged in again — run it again"
                )))
            }
            // An answer that does not parse, from a server that no longer knows the
            // session: whether the change was made is not known, so the engine reads the
            // machine again (`Unreachable`) and says what it shows.
            Err(e) if self.session_gone(&e).await => {
                self.relogin().await?;
                Err(ProviderError::Unreachable(format!(
                    "the session ended while {doing} (the server may have restarted); snaptree logged in again"
                )))
            }
            Err(e) => Err(describe(&e, doing)),
        }
    }

    fn root_collector(&self) -> PropertyCollector {
        PropertyCollector::new(
            self.handle(),
            &self.client.service_content().property_collector.value,
        )
    }

    /// A container view of every VM, folder and datacenter under the root folder.
    async fn create_view(
        client: &Arc<Client>,
        kinds: &[&str],
    ) -> Result<ManagedObjectReference, VimError> {
        let content = client.service_content();
        let vm_ref = content
            .view_manager
            .clone()
            .ok_or_else(|| VimError::ParseError("this server has no view manager".to_string()))?;
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        ViewManager::new(client.clone(), &vm_ref.value)
            .create_container_view(&content.root_folder, Some(&kinds), true)
            .await
    }

    /// Every VM with its tree. With `partial`, the machines read so far are sent after each
    /// page that is not the last (a large vCenter answers in many pages); their sizes come
    /// only with the complete answer.
    async fn inventory(
        &self,
        partial: Option<mpsc::UnboundedSender<Vec<Machine>>>,
    ) -> Result<Vec<Machine>, ProviderError> {
        let doing = format!("listing the VMs of profile {}", self.profile);
        // Set up the change feed before reading, so no change made after this read is missed.
        // A held lock means a wait is running on an existing feed.
        if self.interactive
            && let Ok(mut guard) = self.watch.try_lock()
            && guard.is_none()
        {
            match self.new_watch().await {
                Ok(w) => *guard = Some(w),
                Err(e) => tracing::debug!(profile = %self.profile, "no change feed yet: {e}"),
            }
        }
        let profile = self.profile.as_str();
        let listed = self
            .read(&doing, |client| {
                let partial = partial.clone();
                // Read when the listing (re)starts: after a new login, the new instance.
                let instance = self.instance();
                let sizing = self.sizing;
                async move {
                    // The TUI's first load shows the first chunk, then the machines read so
                    // far each time they have doubled: a few copies in all, whatever the
                    // estate's size.
                    let mut all = Vec::new();
                    let mut show_at = 1;
                    let show_first = partial.is_some();
                    Self::chunks(
                        &client,
                        profile,
                        instance,
                        show_first,
                        inventory::Plain::Whole,
                        sizing,
                        &mut |chunk| {
                            all.extend(chunk);
                            if let Some(tx) = &partial
                                && all.len() >= show_at
                            {
                                let _ = tx.send(all.clone());
                                show_at = all.len() * 2;
                            }
                        },
                    )
                    .await
                    .map(|()| all)
                }
            })
            .await?;
        let mut machines: Vec<Machine> = listed;
        machines.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.id.cmp(&b.id)));
        Ok(machines)
    }

    /// Every VM of the inventory, read by chunks (memory bounded whatever the server's
    /// paging) and handed to `each` a chunk at a time.
    async fn chunks(
        client: &Arc<Client>,
        profile: &str,
        instance: Option<String>,
        show_first: bool,
        plain: inventory::Plain,
        sizing: inventory::Sizing,
        each: &mut dyn FnMut(Vec<Machine>),
    ) -> Result<(), VimError> {
        let root = client.service_content().root_folder.clone();
        let mut members = inventory::members(client, inventory::members_filter(&root)).await?;
        if members.vapps {
            // A vApp holds VMs (and vApps) that the inventory's links reach only through
            // it: such an estate is read again through a view, which holds them all.
            let kinds = ["VirtualMachine", "Folder", "Datacenter", "VirtualApp"];
            let view = Self::create_view(client, &kinds).await?;
            let read = inventory::members(client, inventory::view_members_filter(&view)).await;
            let _ = ContainerView::new(client.clone(), &view.value)
                .destroy_view()
                .await;
            // The view holds no datastores: those of the first call stand.
            let datastores = std::mem::take(&mut members.datastores);
            members = read?;
            members.datastores = datastores;
        }
        inventory::machines_by_chunks(
            client,
            members,
            show_first,
            plain,
            sizing,
            |row, places| {
                let mut m = inventory::machine(profile, row, places);
                m.instance.clone_from(&instance);
                m
            },
            each,
        )
        .await
    }

    /// Every VM with its tree, sent a chunk at a time on `tx` as it is read (commands that
    /// keep only what they print). Each machine is sent once: a session found expired
    /// before anything was sent is renewed and the listing starts again, but after that the
    /// listing fails (starting again would send machines twice).
    async fn each_machine(
        &self,
        tx: mpsc::UnboundedSender<Vec<Machine>>,
    ) -> Result<(), ProviderError> {
        let doing = format!("listing the VMs of profile {}", self.profile);
        let sent = std::cell::Cell::new(false);
        let list = |client: Arc<Client>| {
            let (tx, sent, profile) = (&tx, &sent, self.profile.as_str());
            let instance = self.instance();
            let sizing = self.sizing;
            async move {
                let plain = inventory::Plain::Printed;
                Self::chunks(
                    &client,
                    profile,
                    instance,
                    false,
                    plain,
                    sizing,
                    &mut |chunk| {
                        sent.set(true);
                        let _ = tx.send(chunk);
                    },
                )
                .await
            }
        };
        match list(self.client()).await {
            Ok(()) => Ok(()),
            Err(e) if self.session_gone(&e).await => {
                self.relogin().await?;
                if sent.get() {
                    return Err(ProviderError::Auth(format!(
                        "the session ended while {doing}; snaptree logged in again — run it again"
                    )));
                }
                list(self.client()).await.map_err(|e| describe(&e, &doing))
            }
            Err(e) => Err(describe(&e, &doing)),
        }
    }

    async fn machine(&self, id: &str) -> Result<Machine, ProviderError> {
        let doing = format!("reading VM {id} of profile {}", self.profile);
        let id_owned = id.to_string();
        let pass = self
            .read(&doing, |client| {
                let id = id_owned.clone();
                async move { inventory::retrieve(&client, inventory::one_vm_filter(&id)).await }
            })
            .await
            .map_err(|e| match e {
                ProviderError::NotFound(_) => not_found(id, &self.profile),
                other => other,
            })?;
        let mut rows = pass.vms.iter().filter(|r| r.id == id);
        let row = rows.next().ok_or_else(|| not_found(id, &self.profile))?;
        let mut m = inventory::machine(&self.profile, row, &pass.containers);
        inventory::attach_datastores(&mut m, &pass.datastores);
        m.instance = self.instance();
        // Asked for one VM, answered with two: which one is meant cannot be told.
        if rows.next().is_some() && m.unreadable.is_none() {
            m.set_unreadable(format!("the server answers for two VMs with the id {id}"));
        }
        Ok(m)
    }

    async fn start(&self, machine_id: &str, op: &Operation) -> Result<StartedTask, ProviderError> {
        let vm = VirtualMachine::new(self.handle(), machine_id);
        let snap = |id: &str| VirtualMachineSnapshot::new(self.handle(), id);
        let started = |task: ManagedObjectReference| StartedTask {
            id: task.value,
            finished: false,
            note: None,
        };
        match op {
            Operation::Take {
                name,
                description,
                memory,
                quiesce,
                quiesce_timeout,
            } => {
                let doing = format!("taking a snapshot of {machine_id}");
                let desc = (!description.is_empty()).then_some(description.as_str());
                let plain = || vm.create_snapshot_task(name, desc, *memory, *quiesce);
                let Some(minutes) = quiesce_timeout.filter(|_| *quiesce) else {
                    return self.change(&doing, plain()).await.map(started);
                };
                let spec = VirtualMachineGuestQuiesceSpec {
                    timeout: Some(i32::from(minutes)),
                };
                match vm
                    .create_snapshot_ex_task(name, desc, *memory, Some(&spec))
                    .await
                {
                    // A server before vSphere 6.5 (and vcsim 0.24) has no such method: it
                    // refused the call, nothing was made, so the plain take is sent, and
                    // the start says the limit was not applied.
                    Err(e) if faults::is_method_not_found(&e) => {
                        let task = self.change(&doing, plain()).await?;
                        Ok(StartedTask {
                            note: Some(format!(
                                "the quiesce time limit ({minutes} min) was not applied: this \
                                 server has no CreateSnapshotEx_Task (vSphere 6.5 or later), \
                                 so the snapshot is taken with the server's own limit"
                            )),
                            ..started(task)
                        })
                    }
                    r => self
                        .change(&doing, std::future::ready(r))
                        .await
                        .map(started),
                }
            }
            Operation::Revert {
                snapshot,
                suppress_power_on,
                ..
            } => {
                let doing = format!("reverting {machine_id} to snapshot {snapshot}");
                self.change(
                    &doing,
                    snap(snapshot).revert_to_snapshot_task(None, Some(*suppress_power_on)),
                )
                .await
                .map(started)
            }
            Operation::RevertCurrent {
                suppress_power_on, ..
            } => {
                let doing = format!("reverting {machine_id} to its current snapshot");
                self.change(
                    &doing,
                    vm.revert_to_current_snapshot_task(None, Some(*suppress_power_on)),
                )
                .await
                .map(started)
            }
            Operation::Delete { snapshot, children } => {
                let doing = if *children {
                    format!("deleting snapshot {snapshot} and its children on {machine_id}")
                } else {
                    format!("deleting snapshot {snapshot} on {machine_id}")
                };
                self.change(
                    &doing,
                    snap(snapshot).remove_snapshot_task(*children, Some(true)),
                )
                .await
                .map(started)
            }
            Operation::DeleteAll => {
                let doing = format!("deleting all snapshots of {machine_id}");
                self.change(&doing, vm.remove_all_snapshots_task(Some(true), None))
                    .await
                    .map(started)
            }
            Operation::Consolidate => {
                let doing = format!("consolidating the disks of {machine_id}");
                self.change(&doing, vm.consolidate_vm_disks_task())
                    .await
                    .map(started)
            }
            Operation::Rename {
                snapshot,
                name,
                description,
            } => {
                let doing = format!("renaming snapshot {snapshot} of {machine_id}");
                self.change(
                    &doing,
                    snap(snapshot).rename_snapshot(name.as_deref(), description.as_deref()),
                )
                .await?;
                Ok(StartedTask {
                    note: None,
                    id: format!("{SYNC_TASK}rename:{snapshot}"),
                    finished: true,
                })
            }
            Operation::Cancel { task } => {
                let doing = format!("cancelling task {task}");
                self.change(&doing, Task::new(self.handle(), task).cancel_task())
                    .await?;
                Ok(StartedTask {
                    note: None,
                    id: format!("{SYNC_TASK}cancel:{task}"),
                    finished: true,
                })
            }
            Operation::Replace { .. } => Err(ProviderError::Unsupported(
                "replace exists only for OVHcloud VPSs; on vSphere take a new snapshot".into(),
            )),
            Operation::Backup(_) | Operation::Order(_) => Err(ProviderError::Unsupported(
                "automated backups and option orders are an OVHcloud VPS's".into(),
            )),
        }
    }

    /// Follow a task to its end; following is a read, so after a new login it starts over.
    async fn follow(
        &self,
        task_id: &str,
        progress: ProgressSink<'_>,
    ) -> Result<TaskStatus, ProviderError> {
        if task_id.starts_with(SYNC_TASK) {
            let done = TaskStatus {
                id: task_id.to_string(),
                state: TaskState::Success,
                progress: Some(100),
                message: None,
                cancelable: false,
            };
            progress(&done);
            return Ok(done);
        }
        let doing = format!("following task {task_id}");
        match Self::watch_task(self.client(), task_id, progress, self.wait_seconds).await {
            Ok(s) => Ok(s),
            Err(e) if is_not_authenticated(&e) => {
                self.relogin().await?;
                Self::watch_task(self.client(), task_id, progress, self.wait_seconds)
                    .await
                    .map_err(|e| describe(&e, &doing))
            }
            Err(e) => Err(describe(&e, &doing)),
        }
    }

    /// Watch one task on a dedicated collector until it ends.
    async fn watch_task(
        client: Arc<Client>,
        task_id: &str,
        progress: ProgressSink<'_>,
        wait_seconds: i32,
    ) -> Result<TaskStatus, VimError> {
        let root = PropertyCollector::new(
            client.clone(),
            &client.service_content().property_collector.value,
        );
        let pc_ref = root.create_property_collector().await?;
        let pc = PropertyCollector::new(client.clone(), &pc_ref.value);
        let result = Self::watch_task_on(&pc, task_id, progress, wait_seconds).await;
        // A collector is a session object: remove it so long sessions do not pile them up.
        let _ = pc.destroy_property_collector().await;
        result
    }

    async fn watch_task_on(
        pc: &PropertyCollector,
        task_id: &str,
        progress: ProgressSink<'_>,
        wait_seconds: i32,
    ) -> Result<TaskStatus, VimError> {
        let filter = PropertyFilterSpec {
            prop_set: vec![PropertySpec {
                r#type: "Task".into(),
                all: Some(false),
                path_set: Some(
                    [
                        "info.state",
                        "info.progress",
                        "info.cancelable",
                        "info.error",
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                ),
            }],
            object_set: vec![ObjectSpec {
                obj: ManagedObjectReference {
                    r#type: MoTypesEnum::Task,
                    value: task_id.to_string(),
                },
                skip: Some(false),
                select_set: None,
            }],
            report_missing_objects_in_results: None,
        };
        pc.create_filter(&filter, true).await?;
        let options = WaitOptions {
            max_wait_seconds: Some(wait_seconds),
            max_object_updates: None,
        };
        let mut status = TaskStatus {
            id: task_id.to_string(),
            state: TaskState::Queued,
            progress: None,
            message: None,
            cancelable: false,
        };
        let mut last: Option<TaskStatus> = None;
        let mut version: Option<String> = None;
        loop {
            // No time budget: a long delete keeps being watched until the server says it ended.
            let Some(set) = pc
                .wait_for_updates_ex(version.as_deref(), Some(&options))
                .await?
            else {
                continue;
            };
            version = Some(set.version);
            for update in set.filter_set.into_iter().flatten() {
                for obj in update.object_set.into_iter().flatten() {
                    if obj.kind == ObjectUpdateKindEnum::Leave && !status.state.is_final() {
                        status.state = TaskState::Error;
                        status.message = Some(
                            "the server dropped the task before reporting its end; check the VM"
                                .into(),
                        );
                    }
                    for change in obj.change_set.into_iter().flatten() {
                        apply_task_change(&mut status, &change.name, change.val);
                    }
                }
            }
            if last.as_ref() != Some(&status) {
                progress(&status);
                last = Some(status.clone());
            }
            if status.state.is_final() {
                return Ok(status);
            }
        }
    }

    /// Create the live-update collector and read past the initial state.
    async fn new_watch(&self) -> Result<Watch, VimError> {
        let client = self.client();
        let pc_ref = self.root_collector().create_property_collector().await?;
        let collector = PropertyCollector::new(client.clone(), &pc_ref.value);
        let view = Self::create_view(&client, &["VirtualMachine"]).await?;
        collector
            .create_filter(&inventory::watch_filter(&view), true)
            .await?;
        // The first answer is the whole current state; only what changes after it matters.
        // Asked in pages of `WATCH_PAGE` objects, each dropped as read (a vCenter pages it;
        // a server that ignores the limit answers in one piece).
        let now = WaitOptions {
            max_wait_seconds: Some(0),
            max_object_updates: Some(WATCH_PAGE),
        };
        let mut version: Option<String> = None;
        while let Some(set) = collector
            .wait_for_updates_ex(version.as_deref(), Some(&now))
            .await?
        {
            version = Some(set.version);
            if set.truncated != Some(true) {
                break;
            }
        }
        Ok(Watch {
            collector,
            version: version.unwrap_or_default(),
        })
    }

    async fn changes(&self) -> Result<Vec<String>, ProviderError> {
        let doing = format!("watching profile {} for changes", self.profile);
        let options = WaitOptions {
            max_wait_seconds: Some(self.wait_seconds),
            max_object_updates: None,
        };
        loop {
            let mut guard = self.watch.lock().await;
            if guard.is_none() {
                match self.new_watch().await {
                    Ok(w) => *guard = Some(w),
                    // A new session: anything may have changed while it was gone (a
                    // restarted server lost ours), so everything is read again.
                    Err(e) if is_not_authenticated(&e) => {
                        drop(guard);
                        self.relogin().await?;
                        return Ok(Vec::new());
                    }
                    Err(e) => return Err(describe(&e, &doing)),
                }
            }
            let Some(watch) = guard.as_mut() else {
                continue;
            };
            let mut ids: Vec<String> = Vec::new();
            let mut truncated = true;
            while truncated {
                match watch
                    .collector
                    .wait_for_updates_ex(Some(&watch.version), Some(&options))
                    .await
                {
                    Ok(Some(set)) => {
                        watch.version = set.version;
                        truncated = set.truncated == Some(true);
                        for update in set.filter_set.into_iter().flatten() {
                            for obj in update.object_set.into_iter().flatten() {
                                if !ids.contains(&obj.obj.value) {
                                    ids.push(obj.obj.value);
                                }
                            }
                        }
                    }
                    Ok(None) => truncated = false,
                    Err(e) if is_not_authenticated(&e) => {
                        guard.take();
                        drop(guard);
                        self.relogin().await?;
                        return Ok(Vec::new());
                    }
                    Err(e) => {
                        // The collector may be gone (server restart): build a new one next time.
                        guard.take();
                        return Err(describe(&e, &doing));
                    }
                }
            }
            if !ids.is_empty() {
                return Ok(ids);
            }
        }
    }

    /// The server's product and version, as its service content said at the login.
    fn server(&self) -> Option<String> {
        let about = &self.client.service_content().about;
        Some(about.full_name.clone()).filter(|s| !s.trim().is_empty())
    }

    async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
        let about = &self.client.service_content().about;
        let transport = match VimClient::transport(&*self.client) {
            WireTransport::Json => "VI/JSON",
            WireTransport::Soap => "SOAP",
        };
        let mut out = vec![
            ("server".to_string(), about.full_name.clone()),
            ("api version".to_string(), about.api_version.clone()),
            ("protocol".to_string(), transport.to_string()),
        ];
        let doing = format!("counting the VMs of profile {}", self.profile);
        let count = self
            .read(&doing, |client| async move {
                let view = Self::create_view(&client, &["VirtualMachine"]).await?;
                let cv = ContainerView::new(client.clone(), &view.value);
                let vms = cv.view().await;
                let _ = cv.destroy_view().await;
                vms.map(|v| v.map(|v| v.len()).unwrap_or(0))
            })
            .await?;
        out.push(("machines".to_string(), count.to_string()));
        out.push((
            "may take snapshots".to_string(),
            self.may_take_snapshots().await,
        ));
        Ok(out)
    }

    /// Whether this session holds the snapshot privilege on the root folder, in words.
    async fn may_take_snapshots(&self) -> String {
        let content = self.client.service_content();
        let (Some(am), Some(sm)) = (&content.authorization_manager, &content.session_manager)
        else {
            return "unknown (the server has no authorization manager)".into();
        };
        let session = match SessionManager::new(self.handle(), &sm.value)
            .current_session()
            .await
        {
            Ok(Some(s)) => s,
            Ok(None) => return "unknown (no current session)".into(),
            Err(e) => return format!("unknown ({})", describe(&e, "reading the session")),
        };
        let privileges = [SNAPSHOT_PRIVILEGE.to_string()];
        match AuthorizationManager::new(self.handle(), &am.value)
            .has_privilege_on_entity(&content.root_folder, &session.key, Some(&privileges))
            .await
        {
            Ok(Some(v)) if v.first() == Some(&true) => {
                format!("yes ({SNAPSHOT_PRIVILEGE} on the root folder)")
            }
            Ok(_) => format!(
                "not everywhere (no {SNAPSHOT_PRIVILEGE} on the root folder; folders below may grant it)"
            ),
            Err(e) => format!("unknown ({})", describe(&e, "checking privileges")),
        }
    }
}

fn not_found(id: &str, profile: &str) -> ProviderError {
    ProviderError::NotFound(format!(
        "VM {id} does not exist on profile {profile} (any more)"
    ))
}

/// Fold one task property change into the status.
fn apply_task_change(
    status: &mut TaskStatus,
    name: &str,
    val: Option<vim_rs::types::vim_any::VimAny>,
) {
    fn take<T: 'static>(v: vim_rs::types::vim_any::VimAny) -> Option<T> {
        v.into_any().downcast::<T>().ok().map(|b| *b)
    }
    match name {
        "info.state" => {
            if let Some(state) = val.and_then(take::<TaskInfoStateEnum>) {
                let cancelled = status.state == TaskState::Cancelled;
                status.state = match state {
                    TaskInfoStateEnum::Queued => TaskState::Queued,
                    TaskInfoStateEnum::Running => TaskState::Running,
                    TaskInfoStateEnum::Success => TaskState::Success,
                    TaskInfoStateEnum::Error if cancelled => TaskState::Cancelled,
                    TaskInfoStateEnum::Error => TaskState::Error,
                    TaskInfoStateEnum::Other_(_) => status.state,
                };
                if status.state == TaskState::Success {
                    status.progress = Some(100);
                }
            }
        }
        "info.progress" => {
            status.progress = val
                .and_then(take::<i32>)
                .map(|p| u8::try_from(p.clamp(0, 100)).unwrap_or(100));
        }
        "info.cancelable" => status.cancelable = val.and_then(take::<bool>).unwrap_or(false),
        "info.error" => {
            let Some(val) = val else { return };
            let any = val.into_any();
            let (fault, localized) = match any.downcast::<LocalizedMethodFault>() {
                Ok(l) => (l.fault, l.localized_message),
                Err(any) => match any.downcast::<MethodFault>() {
                    Ok(f) => (*f, None),
                    Err(_) => return,
                },
            };
            if fault.type_ == Some(StructType::RequestCanceled) {
                status.state = TaskState::Cancelled;
                status.message = Some("the task was cancelled".into());
                return;
            }
            // The server's own words first, then the fault and what to do about it.
            status.message = Some(faults::task_failure(&fault, localized.as_deref()));
        }
        _ => {}
    }
}

#[async_trait]
impl Provider for VsphereProvider {
    async fn load_inventory(
        &self,
        partial: PartialInventory<'_>,
    ) -> Result<Vec<Machine>, ProviderError> {
        // Pages are shown as they come only on the first load: later reloads keep the rows
        // already on screen until the new list is complete.
        if !self.interactive || self.loaded.load(std::sync::atomic::Ordering::SeqCst) {
            return self
                .call(|inner| Box::pin(async move { inner.inventory(None).await }))
                .await?;
        }
        let (tx, rx) = mpsc::unbounded_channel::<Vec<Machine>>();
        let result =
            self.call(move |inner| Box::pin(async move { inner.inventory(Some(tx)).await }));
        let machines = forwarding(rx, result, partial).await??;
        self.loaded.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(machines)
    }

    async fn each_machine(&self, each: PartialInventory<'_>) -> Result<(), ProviderError> {
        let (tx, rx) = mpsc::unbounded_channel::<Vec<Machine>>();
        let result = self.call(move |inner| Box::pin(async move { inner.each_machine(tx).await }));
        forwarding(rx, result, each).await?
    }

    async fn snapshot_creators(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<std::collections::HashMap<String, String>, ProviderError> {
        self.call(move |inner| {
            Box::pin(async move {
                let doing = format!("reading the task history of profile {}", inner.profile);
                inner
                    .read(&doing, |client| async move {
                        history::creators(&client, since).await
                    })
                    .await
            })
        })
        .await?
    }

    async fn load_machine(&self, id: &str) -> Result<Machine, ProviderError> {
        let id = id.to_string();
        self.call(move |inner| Box::pin(async move { inner.machine(&id).await }))
            .await?
    }

    async fn start(&self, machine_id: &str, op: &Operation) -> Result<StartedTask, ProviderError> {
        let machine_id = machine_id.to_string();
        let op = op.clone();
        self.call(move |inner| Box::pin(async move { inner.start(&machine_id, &op).await }))
            .await?
    }

    async fn follow(
        &self,
        _machine_id: &str,
        task_id: &str,
        progress: ProgressSink<'_>,
    ) -> Result<TaskStatus, ProviderError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<TaskStatus>();
        let task_id = task_id.to_string();
        let result = self.call(move |inner| {
            Box::pin(async move {
                let report = move |s: &TaskStatus| {
                    let _ = tx.send(s.clone());
                };
                inner.follow(&task_id, &report).await
            })
        });
        tokio::pin!(result);
        // Relay progress from the session thread as it comes, then the rest after the end.
        loop {
            tokio::select! {
                Some(status) = rx.recv() => progress(&status),
                done = &mut result => {
                    while let Ok(status) = rx.try_recv() {
                        progress(&status);
                    }
                    return done?;
                }
            }
        }
    }

    async fn wait_for_changes(&self) -> Result<Option<Vec<String>>, ProviderError> {
        self.call(|inner| Box::pin(async move { inner.changes().await.map(Some) }))
            .await?
    }

    async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
        self.call(|inner| Box::pin(async move { inner.check().await }))
            .await?
    }

    async fn server(&self) -> Option<String> {
        self.call(|inner| Box::pin(async move { inner.server() }))
            .await
            .ok()
            .flatten()
    }

    /// Log out now (also done, without waiting, when the provider is dropped).
    async fn close(&self) {
        let _ = self
            .call(|inner| Box::pin(async move { inner.close().await }))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_feed_answers_well_within_the_request_limit() {
        assert_eq!(wait_seconds(Duration::from_secs(60)), 30);
        assert_eq!(wait_seconds(Duration::from_secs(25)), 15);
        assert_eq!(wait_seconds(Duration::from_secs(2)), 1);
    }
    use vim_rs::types::boxed_types::ValueElements;
    use vim_rs::types::vim_any::VimAny;

    fn status() -> TaskStatus {
        TaskStatus {
            id: "task-1".into(),
            state: TaskState::Queued,
            progress: None,
            message: None,
            cancelable: false,
        }
    }

    #[allow(clippy::unnecessary_wraps, reason = "shaped as the field it fills")]
    fn fault(kind: StructType, message: Option<&str>) -> Option<VimAny> {
        Some(VimAny::Object(Box::new(LocalizedMethodFault {
            fault: MethodFault {
                fault_cause: None,
                fault_message: None,
                type_: Some(kind),
                extra_fields_: Default::default(),
            },
            localized_message: message.map(String::from),
        })))
    }

    #[test]
    fn task_changes_fold_into_status() {
        let mut s = status();
        apply_task_change(
            &mut s,
            "info.state",
            Some(VimAny::Value(ValueElements::TaskInfoState(
                TaskInfoStateEnum::Running,
            ))),
        );
        apply_task_change(
            &mut s,
            "info.progress",
            Some(VimAny::Value(ValueElements::PrimitiveInt(40))),
        );
        apply_task_change(
            &mut s,
            "info.cancelable",
            Some(VimAny::Value(ValueElements::PrimitiveBoolean(true))),
        );
        assert_eq!(
            (s.state, s.progress, s.cancelable),
            (TaskState::Running, Some(40), true)
        );

        // A failure carries the server's own words.
        let mut failed = s.clone();
        apply_task_change(
            &mut failed,
            "info.state",
            Some(VimAny::Value(ValueElements::TaskInfoState(
                TaskInfoStateEnum::Error,
            ))),
        );
        apply_task_change(
            &mut failed,
            "info.error",
            fault(
                StructType::NoDiskSpace,
                Some("Insufficient disk space on datastore 'ds1'."),
            ),
        );
        assert_eq!(failed.state, TaskState::Error);
        let msg = failed.message.unwrap_or_default();
        assert!(msg.contains("ds1") && msg.contains("NoDiskSpace"), "{msg}");

        // Without a message, our sentence.
        let mut quiet = s.clone();
        apply_task_change(
            &mut quiet,
            "info.error",
            fault(StructType::TooManySnapshotLevels, None),
        );
        assert!(quiet.message.unwrap_or_default().contains("32"));

        // A cancelled task ends as cancelled, whatever order the changes come in.
        let mut cancelled = s;
        apply_task_change(
            &mut cancelled,
            "info.error",
            fault(StructType::RequestCanceled, None),
        );
        apply_task_change(
            &mut cancelled,
            "info.state",
            Some(VimAny::Value(ValueElements::TaskInfoState(
                TaskInfoStateEnum::Error,
            ))),
        );
        assert_eq!(cancelled.state, TaskState::Cancelled);
    }

    #[test]
    fn server_address_accepts_common_forms() {
        assert_eq!(server_address("vc.example.com").unwrap(), "vc.example.com");
        assert_eq!(
            server_address("https://vc.example.com:8443/sdk").unwrap(),
            "vc.example.com:8443"
        );
        assert_eq!(
            server_address("https://user:pass@127.0.0.1:4430/sdk").unwrap(),
            "127.0.0.1:4430"
        );
        assert_eq!(server_address("[::1]:443").unwrap(), "[::1]:443");
        assert!(server_address("http://vc").is_err());
        assert!(server_address("https:///sdk").is_err());
    }
}
