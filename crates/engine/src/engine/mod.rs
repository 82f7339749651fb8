//! The async back end: one worker per profile owning its provider, commands in and events
//! out; read-only enforcement, the stale-view re-check and the audit log. The CLI and the
//! TUI both run operations through `Engine::run`.

pub mod audit;
pub mod connect;
pub mod guest;
pub mod login;
pub mod policy;
pub mod scheduler;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::model::guest::GuestAgent;
use crate::model::{
    ExpectedView, Machine, MachineRef, Operation, ProviderKind, TaskState, TaskStatus,
};
use crate::provider::{DownloadLink, Provider, ProviderError};
use audit::{AuditLog, AuditRecord};
pub use scheduler::{Job, Scheduler};

/// Longest wait for the back ends to end their sessions when the program exits.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// One configured profile with its provider.
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// Back-end kind.
    pub kind: ProviderKind,
    /// Changes refused (profile setting or `--read-only`).
    pub read_only: bool,
    /// The provider: the engine's alone (reads go through the methods below, changes
    /// through `Engine::run` and the scheduler).
    provider: Arc<dyn Provider>,
    /// How its VPSs' guest agent is checked (`guest_check = "ssh"`), if at all.
    pub guest: Option<guest::SshCheck>,
}

impl Profile {
    /// A profile of `provider` (`connect` makes them from the configuration).
    pub fn new(
        name: impl Into<String>,
        kind: ProviderKind,
        read_only: bool,
        provider: Arc<dyn Provider>,
        guest: Option<guest::SshCheck>,
    ) -> Self {
        Profile {
            name: name.into(),
            kind,
            read_only,
            provider,
            guest,
        }
    }

    /// Every machine with its tree.
    pub async fn load_inventory(&self) -> Result<Vec<Machine>, ProviderError> {
        self.provider.load_inventory(&|_| {}).await
    }

    /// Every machine with its tree, handed to `each` a chunk at a time as it is read.
    pub async fn each_machine(
        &self,
        each: crate::provider::PartialInventory<'_>,
    ) -> Result<(), ProviderError> {
        self.provider.each_machine(each).await
    }

    /// Who took each snapshot, from the task history since `since`: snapshot id → user.
    pub async fn snapshot_creators(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<HashMap<String, String>, ProviderError> {
        self.provider.snapshot_creators(since).await
    }

    /// What the back end is, for `config check` (a login and a read).
    pub async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
        self.provider.check().await
    }
}

/// What kind of trouble keeps a profile from being read: what its row says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// The server could not be reached (network, TLS, time limit).
    Unreachable,
    /// The server refused the login (or the credentials could not be read).
    Login,
    /// The account may not read the inventory.
    Permission,
    /// Anything else: a profile whose credentials cannot be had (a `password_env` not
    /// set), a server error.
    Failed,
}

impl Trouble {
    /// The kind of `e`.
    pub fn of(e: &ProviderError) -> Trouble {
        match e {
            ProviderError::Unreachable(_) => Trouble::Unreachable,
            ProviderError::Auth(_) => Trouble::Login,
            ProviderError::Permission(_) => Trouble::Permission,
            _ => Trouble::Failed,
        }
    }

    /// Its word on the profile's row.
    pub fn label(self) -> &'static str {
        match self {
            Trouble::Unreachable => "unreachable",
            Trouble::Login => "login failed",
            Trouble::Permission => "no permission",
            Trouble::Failed => "cannot read",
        }
    }
}

/// Why `Engine::run` did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Refused before anything was sent (read-only, stale view, not applicable).
    #[error("{0}")]
    Refused(String),
    /// The back end refused the call or the task failed.
    #[error("{0}")]
    Failed(String),
    /// Not started: an earlier step of the same plan failed on this machine.
    #[error("{0}")]
    Skipped(String),
    /// Sent, then the answer was lost (connection, time limit, a 5xx): what the machine
    /// showed when read again, since the change may or may not have happened.
    #[error("{0}")]
    Unknown(String),
    /// Not sent: its "sent" record could not be written whole to the audit log and
    /// flushed to disk (a full disk, a file size limit, a refused state file).
    #[error("{0}")]
    Unrecorded(String),
}

/// Progress of one run, as reported to its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunUpdate {
    /// A back-end task exists.
    Started {
        /// Back-end task id.
        task_id: String,
        /// What the operator should know about how it started (`StartedTask::note`).
        note: Option<String>,
    },
    /// Task state changed.
    Progress(TaskStatus),
    /// Waiting for an earlier operation on the same machine to end.
    Queued,
    /// A take (or replace) ended and made this snapshot.
    Created {
        /// The new snapshot's id.
        snapshot: String,
    },
}

/// What one run carries through its steps.
struct RunContext<'a> {
    p: &'a Profile,
    /// What the caller saw: after a lost connection, the re-read is compared with it.
    expected: &'a ExpectedView,
    task_id: &'a mut Option<String>,
    on_update: &'a (dyn Fn(RunUpdate) + Send + Sync),
    wait: bool,
}

/// Commands a profile worker accepts.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Reload the whole inventory.
    Refresh,
    /// Run an operation (the request id lets the caller match events).
    Run {
        /// Caller's id for this request.
        request: u64,
        /// Machine id.
        machine_id: String,
        /// Operation, targeting ids.
        op: Operation,
        /// What the caller saw, for the stale-view check.
        expected: ExpectedView,
        /// The plan (batch) this is a step of: when a step of a plan does not succeed,
        /// that plan's later steps on the same machine are skipped, not run.
        plan: Option<u64>,
    },
    /// Fetch a VPS snapshot download link.
    Download {
        /// Machine id.
        machine_id: String,
    },
    /// Start no more step of this plan (those running go on to their end).
    StopPlan {
        /// The plan.
        plan: u64,
    },
    /// What ordering an option a VPS lacks would cost, per duration.
    Quotes {
        /// Caller's id for this request: its answer carries it.
        request: u64,
        /// The VPS.
        machine_id: String,
        /// The option.
        option: crate::model::order::VpsOption,
    },
    /// Check the QEMU guest agent of a VPS over ssh (the profile's `guest_check`).
    GuestCheck {
        /// Caller's id for this check: its answer carries it.
        request: u64,
        /// Machine id (a VPS's service name, its host name).
        machine_id: String,
    },
}

/// Events the workers emit.
#[derive(Clone, Debug)]
pub enum Event {
    /// A profile started (re)loading.
    Loading {
        /// Profile.
        profile: String,
    },
    /// The inventory of a profile (complete or partial).
    Inventory {
        /// Profile.
        profile: String,
        /// Machines.
        machines: Vec<Machine>,
        /// False while rows are still being filled in.
        complete: bool,
        /// What the server says it is (`Provider::server`), with the complete inventory.
        server: Option<String>,
    },
    /// A profile could not be loaded; retried after `retry_in`.
    ProfileError {
        /// Profile.
        profile: String,
        /// What kind of trouble (the profile's label).
        trouble: Trouble,
        /// One sentence.
        message: String,
        /// Next retry.
        retry_in: Duration,
    },
    /// One machine was re-read.
    MachineUpdated {
        /// The machine.
        machine: Box<Machine>,
    },
    /// Who took the profile's snapshots, from its task history (after its inventory).
    Creators {
        /// Profile.
        profile: String,
        /// Snapshot id → user.
        creators: HashMap<String, String>,
    },
    /// A request made progress.
    Task {
        /// The caller's request id.
        request: u64,
        /// What happened.
        update: RunUpdate,
    },
    /// A request ended.
    TaskDone {
        /// The caller's request id.
        request: u64,
        /// Final status, or why it failed or was refused.
        result: Result<TaskStatus, RunError>,
    },
    /// A download link, or why there is none.
    Download {
        /// The VPS.
        machine: MachineRef,
        /// The link.
        result: Result<DownloadLink, String>,
    },
    /// What ordering an option would cost, or why it could not be read.
    Quotes {
        /// The caller's request id.
        request: u64,
        /// The VPS.
        machine: MachineRef,
        /// The option.
        option: crate::model::order::VpsOption,
        /// The quotes, per duration.
        result: Result<Vec<crate::model::order::Quote>, String>,
    },
    /// What the guest agent check of a VPS found.
    GuestAgent {
        /// The caller's id of the check.
        request: u64,
        /// The VPS.
        machine: MachineRef,
        /// The agent's state.
        state: GuestAgent,
    },
}

/// Log an audit line that could not be written after its change was sent (or, for a
/// skipped step, when nothing is sent): the change is out of snaptree's hands by then.
fn logged(written: Result<(), audit::AuditError>) {
    if let Err(e) = written {
        tracing::error!("{e}");
    }
}

/// The engine: profiles, policy and audit.
pub struct Engine {
    profiles: Vec<Profile>,
    audit: AuditLog,
    poll_interval: Duration,
    /// Operations of one profile that may run at once (each on a different machine).
    runs_per_profile: usize,
}

impl Engine {
    /// An engine over `profiles`; `read_only` applies to all of them.
    pub fn new(
        mut profiles: Vec<Profile>,
        read_only: bool,
        audit: AuditLog,
        poll_interval: Duration,
    ) -> Self {
        for p in &mut profiles {
            p.read_only |= read_only;
        }
        Engine {
            profiles,
            audit,
            poll_interval,
            runs_per_profile: RUNS_PER_PROFILE,
        }
    }

    /// At most `n` operations of one profile at once, each on a different machine (the
    /// TUI's batch deletes: `[cleanup] concurrency`); at least one.
    #[must_use]
    pub fn with_runs_per_profile(mut self, n: usize) -> Self {
        self.runs_per_profile = n.max(1);
        self
    }

    /// End every profile's session with its back end (log out), all at once; a back end
    /// that does not answer within a few seconds is left to time the session out itself.
    pub async fn close(&self) {
        let all = futures::future::join_all(self.profiles.iter().map(|p| p.provider.close()));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, all).await;
    }

    /// The profiles.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Whether `profile` checks its VPSs' guest agent (`guest_check = "ssh"`).
    pub fn checks_guest(&self, profile: &str) -> bool {
        self.profiles
            .iter()
            .any(|p| p.name == profile && p.guest.is_some())
    }

    /// The guest agent check of the VPS `machine_id` of `profile`, within the profile's
    /// `ssh_timeout`. Nothing in the VPS is changed.
    pub async fn guest_check(&self, profile: &str, machine_id: &str) -> GuestAgent {
        match self.profiles.iter().find(|p| p.name == profile) {
            Some(Profile {
                guest: Some(check), ..
            }) => check.run(machine_id).await,
            _ => GuestAgent::Unknown(format!("profile {profile} has no guest_check = \"ssh\"")),
        }
    }

    /// What ordering `option` for the VPS `machine_id` of `profile` would cost, per
    /// duration: a read (allowed read-only; ordering itself is a change, `run`).
    pub async fn quotes(
        &self,
        profile: &str,
        machine_id: &str,
        option: crate::model::order::VpsOption,
    ) -> Result<Vec<crate::model::order::Quote>, String> {
        let p = self.profile(profile).map_err(|e| e.to_string())?;
        p.provider
            .quotes(machine_id, option)
            .await
            .map_err(|e| e.to_string())
    }

    /// The place of the profile named `name` among the engine's (what the scheduler is
    /// given), if there is one.
    pub fn profile_index(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }

    fn profile(&self, name: &str) -> Result<&Profile, RunError> {
        self.profiles
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| RunError::Refused(format!("no profile is named \"{name}\"")))
    }

    /// Whether `op` may run on `profile` (read-only policy), without running it.
    pub fn ensure_writable(&self, profile: &str, op: &Operation) -> Result<(), RunError> {
        let p = self.profile(profile)?;
        policy::ensure_writable(p.read_only, profile, op).map_err(RunError::Refused)
    }

    /// Run `op` on a machine: policy, stale-view check, start, follow to the end (unless
    /// `wait` is false), audit.
    pub async fn run(
        &self,
        profile: &str,
        machine_id: &str,
        op: &Operation,
        expected: &ExpectedView,
        wait: bool,
        on_update: &(dyn Fn(RunUpdate) + Send + Sync),
    ) -> Result<TaskStatus, RunError> {
        let p = self.profile(profile)?;
        let mut task_id: Option<String> = None;
        let ctx = RunContext {
            p,
            expected,
            task_id: &mut task_id,
            on_update,
            wait,
        };
        let result = self.run_checked(ctx, machine_id, op, expected).await;
        let created = match (&result, op) {
            (Ok(s), Operation::Take { .. } | Operation::Replace { .. })
                if s.state == TaskState::Success =>
            {
                self.created_snapshot(p, machine_id, expected).await
            }
            _ => None,
        };
        if let Some(id) = &created {
            on_update(RunUpdate::Created {
                snapshot: id.clone(),
            });
        }
        let outcome = match &result {
            Ok(s) if s.state == TaskState::Success => "success".to_string(),
            Ok(s) => format!(
                "{}{}",
                s.state.as_str(),
                s.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            Err(RunError::Refused(m) | RunError::Unrecorded(m)) => format!("refused: {m}"),
            Err(RunError::Failed(m)) => format!("error: {m}"),
            Err(RunError::Skipped(m)) => format!("skipped: {m}"),
            Err(RunError::Unknown(m)) => format!("unknown: {m}"),
        };
        let target = match op {
            Operation::Cancel { task } => Some(task.as_str()),
            _ => created.as_deref().or(op.target()),
        };
        logged(self.audit_line(
            profile,
            machine_id,
            op,
            target,
            &outcome,
            task_id.as_deref(),
        ));
        result
    }

    /// Append one audit line. A change writes one when its request is sent ("sent"), one
    /// when the server names its task ("started", with the task id) and one with the
    /// result: a run cut short (Ctrl-C, kill, a crash) leaves what it had done on record.
    /// Only "sent" gates anything (`start_and_follow`); the others come after the request
    /// left, when a failure can only be logged.
    fn audit_line(
        &self,
        profile: &str,
        machine_id: &str,
        op: &Operation,
        target: Option<&str>,
        result: &str,
        task_id: Option<&str>,
    ) -> Result<(), audit::AuditError> {
        self.audit.append(&AuditRecord {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            user: audit::os_user(),
            profile,
            machine: machine_id,
            operation: op.name(),
            target,
            result,
            task_id,
        })
    }

    /// Record a plan step that was skipped (an earlier one on its machine failed).
    fn skip(&self, index: usize, machine_id: &str, op: &Operation) {
        logged(self.audit_line(
            &self.profiles[index].name,
            machine_id,
            op,
            op.target(),
            "skipped: an earlier step on this machine did not succeed",
            None,
        ));
    }

    /// The snapshot a take made: the one id the machine has now that it did not have
    /// when the take was asked. None when that is not exactly one (another client took one
    /// at the same time) or the machine cannot be read: better no id than a wrong one.
    async fn created_snapshot(
        &self,
        p: &Profile,
        machine_id: &str,
        before: &ExpectedView,
    ) -> Option<String> {
        let fresh = p.provider.load_machine(machine_id).await.ok()?;
        match before.new_snapshots(&fresh).as_slice() {
            [id] => Some(id.clone()),
            _ => None,
        }
    }

    async fn run_checked(
        &self,
        mut ctx: RunContext<'_>,
        machine_id: &str,
        op: &Operation,
        expected: &ExpectedView,
    ) -> Result<TaskStatus, RunError> {
        let p = ctx.p;
        policy::ensure_writable(p.read_only, &p.name, op).map_err(RunError::Refused)?;
        let failed = |e: ProviderError| RunError::Failed(e.to_string());
        // A destructive change, and any change aimed at a snapshot or a restore point (a
        // rename of a reused id renames someone else's), runs only on what the caller saw.
        if op.is_destructive() || op.target().is_some() {
            let fresh = p.provider.load_machine(machine_id).await.map_err(failed)?;
            if let Some(reason) = expected.stale_reason(&fresh, op) {
                return Err(RunError::Refused(reason));
            }
            if let Operation::Replace { description } = op {
                return self.replace(ctx, &fresh, description).await;
            }
        }
        self.start_and_follow(&mut ctx, machine_id, op, (0, 100))
            .await
    }

    /// Replace a VPS snapshot: delete, wait for that task, then take — one action.
    async fn replace(
        &self,
        mut ctx: RunContext<'_>,
        machine: &Machine,
        description: &str,
    ) -> Result<TaskStatus, RunError> {
        if let Some(existing) = machine.snapshots.first() {
            let delete = Operation::Delete {
                snapshot: existing.id.clone(),
                children: false,
            };
            // The delete is always followed: the take must not start before it ends.
            let wait = std::mem::replace(&mut ctx.wait, true);
            let status = self
                .start_and_follow(&mut ctx, &machine.id, &delete, (0, 50))
                .await?;
            ctx.wait = wait;
            if status.state != TaskState::Success {
                return Ok(status);
            }
        }
        let take = Operation::Take {
            quiesce_timeout: None,
            name: description.to_string(),
            description: description.to_string(),
            memory: false,
            quiesce: false,
        };
        self.start_and_follow(&mut ctx, &machine.id, &take, (50, 100))
            .await
            .map_err(|e| match e {
                // Not a refusal of the whole replace: its delete went through.
                RunError::Unrecorded(m) if !machine.snapshots.is_empty() => {
                    RunError::Failed(format!("the old snapshot was deleted, but {m}"))
                }
                e => e,
            })
    }

    async fn start_and_follow(
        &self,
        ctx: &mut RunContext<'_>,
        machine_id: &str,
        op: &Operation,
        span: (u8, u8),
    ) -> Result<TaskStatus, RunError> {
        let (p, on_update) = (ctx.p, ctx.on_update);
        let failed = |e: ProviderError| RunError::Failed(e.to_string());
        // Written ahead: on record (whole, on disk) before the request leaves, or not sent.
        self.audit_line(&p.name, machine_id, op, op.target(), "sent", None)
            .map_err(|e| RunError::Unrecorded(format!("{} not sent: {e}", op.name())))?;
        let started = match p.provider.start(machine_id, op).await {
            Ok(started) => started,
            Err(e @ ProviderError::Unreachable(_)) => {
                return Err(self.after_lost(p, machine_id, op, ctx.expected, &e).await);
            }
            Err(e) => return Err(failed(e)),
        };
        *ctx.task_id = Some(started.id.clone());
        if !started.finished {
            logged(self.audit_line(
                &p.name,
                machine_id,
                op,
                op.target(),
                "started",
                Some(&started.id),
            ));
        }
        on_update(RunUpdate::Started {
            task_id: started.id.clone(),
            note: started.note.clone(),
        });
        if !started.finished && !ctx.wait {
            return Ok(TaskStatus {
                id: started.id,
                state: TaskState::Running,
                progress: None,
                message: None,
                cancelable: false,
            });
        }
        if started.finished {
            let status = TaskStatus {
                id: started.id,
                state: TaskState::Success,
                progress: Some(100),
                message: None,
                cancelable: false,
            };
            on_update(RunUpdate::Progress(status.clone()));
            return Ok(status);
        }
        let scale = move |mut s: TaskStatus| {
            s.progress = s.progress.map(|v| {
                let within = u16::from(v.min(100)) * u16::from(span.1 - span.0) / 100;
                span.0
                    .saturating_add(u8::try_from(within).unwrap_or(u8::MAX))
            });
            s
        };
        let report = |s: &TaskStatus| on_update(RunUpdate::Progress(scale(s.clone())));
        let status = match p.provider.follow(machine_id, &started.id, &report).await {
            Ok(status) => status,
            Err(e @ ProviderError::Unreachable(_)) => {
                return Err(self.after_lost(p, machine_id, op, ctx.expected, &e).await);
            }
            Err(e) => return Err(failed(e)),
        };
        Ok(scale(status))
    }

    /// The connection was lost with `op` sent: the outcome is unknown, so read the machine
    /// again and say what it shows (docs/safety.md, "No automatic retry of changes"), never
    /// "failed" for a change that happened.
    async fn after_lost(
        &self,
        p: &Profile,
        machine_id: &str,
        op: &Operation,
        before: &ExpectedView,
        lost: &ProviderError,
    ) -> RunError {
        let head = format!(
            "{lost}; the request may have reached the server, so snaptree read the machine again"
        );
        RunError::Unknown(match p.provider.load_machine(machine_id).await {
            Ok(fresh) => format!(
                "{head}: {}",
                crate::model::change::outcome(&fresh, op, before)
            ),
            Err(again) => format!("{head}, which failed too ({again}); check with snaptree tree"),
        })
    }

    /// Start one worker per profile; returns the command sender and the event receiver.
    pub fn spawn(self: Arc<Self>) -> (EngineHandle, mpsc::UnboundedReceiver<Event>) {
        let (events, rx) = mpsc::unbounded_channel();
        let mut senders = HashMap::new();
        for (index, p) in self.profiles.iter().enumerate() {
            let (tx, commands) = mpsc::unbounded_channel();
            senders.insert(p.name.clone(), tx);
            tokio::spawn(worker(self.clone(), index, commands, events.clone()));
        }
        (EngineHandle { senders }, rx)
    }
}

/// Sends commands to the profile workers.
#[derive(Clone)]
pub struct EngineHandle {
    senders: HashMap<String, mpsc::UnboundedSender<Command>>,
}

impl EngineHandle {
    /// Send a command to one profile's worker.
    pub fn send(&self, profile: &str, command: Command) {
        if let Some(tx) = self.senders.get(profile) {
            let _ = tx.send(command);
        }
    }

    /// Ask every profile to reload.
    pub fn refresh_all(&self) {
        for tx in self.senders.values() {
            let _ = tx.send(Command::Refresh);
        }
    }
}

enum Wake {
    Command(Command),
    Changed(Option<Vec<String>>),
    Lost(String),
}

/// The task that wakes a worker when its profile changed: the provider's feed, or a
/// poll every `poll` when it has none; a broken feed is said (`Wake::Lost`) and tried
/// again after 5 s.
fn watch_changes(
    provider: Arc<dyn Provider>,
    poll: Duration,
    wake_tx: mpsc::UnboundedSender<Wake>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match provider.wait_for_changes().await {
                // Anything may have changed (a renewed session): read it all again.
                Ok(Some(ids)) if ids.is_empty() => {
                    if wake_tx.send(Wake::Changed(None)).is_err() {
                        return;
                    }
                }
                Ok(Some(ids)) => {
                    if wake_tx.send(Wake::Changed(Some(ids))).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    tokio::time::sleep(poll).await;
                    if wake_tx.send(Wake::Changed(None)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // The feed broke: the profile is shown as unreachable and reloaded
                    // with backoff, which also reconnects.
                    if wake_tx.send(Wake::Lost(e.to_string())).is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    })
}

async fn worker(
    engine: Arc<Engine>,
    index: usize,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
) {
    let p = &engine.profiles[index];
    let (wake_tx, mut wake) = mpsc::unbounded_channel::<Wake>();
    // Changes come from the provider's feed, or from polling when it has none.
    let watcher = watch_changes(p.provider.clone(), engine.poll_interval, wake_tx.clone());
    let forward = tokio::spawn(async move {
        while let Some(c) = commands.recv().await {
            if wake_tx.send(Wake::Command(c)).is_err() {
                return;
            }
        }
    });
    // Every change of this profile goes through the one scheduler: per machine one after
    // another, machines in parallel up to `runs_per_profile`; each machine re-read after.
    let mut scheduler = Scheduler::new(engine.clone(), events.clone(), true);
    let mut backoff = Duration::from_secs(2);
    let mut loaded = load(&engine, index, &events).await;
    // When the next automatic reload is due (set once per failure, so other wake-ups
    // do not postpone it).
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let next = if let Err((trouble, message)) = &loaded {
            let due = *retry_at.get_or_insert_with(|| {
                let _ = events.send(Event::ProfileError {
                    profile: p.name.clone(),
                    trouble: *trouble,
                    message: message.clone(),
                    retry_in: backoff,
                });
                tokio::time::Instant::now() + backoff
            });
            tokio::select! {
                w = wake.recv() => w,
                _ = tokio::time::sleep_until(due) => Some(Wake::Command(Command::Refresh)),
            }
        } else {
            wake.recv().await
        };
        let Some(next) = next else { break };
        match next {
            Wake::Lost(message) => {
                if loaded.is_ok() {
                    tracing::warn!("profile {}: {message}", p.name);
                    loaded = Err((Trouble::Unreachable, message));
                    retry_at = None;
                }
            }
            Wake::Command(Command::Refresh) | Wake::Changed(None) => {
                loaded = load(&engine, index, &events).await;
                retry_at = None;
                backoff = if loaded.is_ok() {
                    Duration::from_secs(2)
                } else {
                    (backoff * 2).min(Duration::from_secs(60))
                };
            }
            Wake::Changed(Some(ids)) => {
                for id in ids {
                    reload_machine(p, &id, &events).await;
                }
            }
            Wake::Command(Command::Run {
                request,
                machine_id,
                op,
                expected,
                plan,
            }) => {
                scheduler.push(
                    index,
                    Job {
                        request,
                        machine_id,
                        op,
                        expected,
                        plan,
                    },
                );
            }
            Wake::Command(Command::StopPlan { plan }) => scheduler.stop_plan(plan),
            Wake::Command(Command::Download { machine_id }) => {
                let result = p
                    .provider
                    .download_link(&machine_id)
                    .await
                    .map_err(|e| e.to_string());
                let _ = events.send(Event::Download {
                    machine: MachineRef::new(p.name.clone(), machine_id),
                    result,
                });
            }
            Wake::Command(Command::Quotes {
                request,
                machine_id,
                option,
            }) => {
                let result = engine.quotes(&p.name, &machine_id, option).await;
                let _ = events.send(Event::Quotes {
                    request,
                    machine: MachineRef::new(p.name.clone(), machine_id),
                    option,
                    result,
                });
            }
            Wake::Command(Command::GuestCheck {
                request,
                machine_id,
            }) => {
                // On its own task: the check's time limit never holds up the worker.
                let (engine, profile, events) = (engine.clone(), p.name.clone(), events.clone());
                tokio::spawn(async move {
                    let state = engine.guest_check(&profile, &machine_id).await;
                    let _ = events.send(Event::GuestAgent {
                        request,
                        machine: MachineRef::new(profile, machine_id),
                        state,
                    });
                });
            }
        }
    }
    watcher.abort();
    forward.abort();
}

/// Operations of one profile that may run at once by default (each on a different
/// machine): `[cleanup] concurrency`'s default.
pub const RUNS_PER_PROFILE: usize = 4;

async fn load(
    engine: &Engine,
    index: usize,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<(), (Trouble, String)> {
    let p = &engine.profiles[index];
    let _ = events.send(Event::Loading {
        profile: p.name.clone(),
    });
    let partial = |machines: Vec<Machine>| {
        let _ = events.send(Event::Inventory {
            profile: p.name.clone(),
            machines,
            complete: false,
            server: None,
        });
    };
    match p.provider.load_inventory(&partial).await {
        Ok(machines) => {
            let since = crate::model::machine::history_start(&machines);
            let _ = events.send(Event::Inventory {
                profile: p.name.clone(),
                machines,
                complete: true,
                server: p.provider.server().await,
            });
            // Who took each snapshot, once the machines are on screen: the history is read
            // from just before the oldest snapshot.
            if let Some(since) = since {
                match p.provider.snapshot_creators(since).await {
                    Ok(creators) if !creators.is_empty() => {
                        let _ = events.send(Event::Creators {
                            profile: p.name.clone(),
                            creators,
                        });
                    }
                    Ok(_) => {}
                    Err(e) => tracing::info!("profile {}: no task history: {e}", p.name),
                }
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!("profile {}: {e}", p.name);
            Err((Trouble::of(&e), e.to_string()))
        }
    }
}

async fn reload_machine(p: &Profile, id: &str, events: &mpsc::UnboundedSender<Event>) {
    match p.provider.load_machine(id).await {
        Ok(machine) => {
            let _ = events.send(Event::MachineUpdated {
                machine: Box::new(machine),
            });
        }
        Err(e) => tracing::warn!("profile {}: cannot re-read {id}: {e}", p.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snaptree_sim::sim::Estate;
    use snaptree_sim::sim::provider::SimProvider;

    fn engine(read_only: bool, audit: Option<std::path::PathBuf>) -> (Engine, Arc<Estate>) {
        let estate = Arc::new(
            Estate::from_scenario(
                snaptree_sim::sim::scenario::DEMO,
                chrono::Utc::now(),
                Some(Duration::from_millis(50)),
            )
            .unwrap(),
        );
        let profiles = estate
            .profiles()
            .into_iter()
            .map(|(name, kind)| Profile {
                provider: Arc::new(SimProvider::new(estate.clone(), &name)),
                name,
                kind,
                read_only: false,
                guest: None,
            })
            .collect();
        (
            Engine::new(
                profiles,
                read_only,
                AuditLog::new(audit),
                Duration::from_secs(30),
            ),
            estate,
        )
    }

    /// The workers of a writable demo engine, once both profiles have loaded.
    async fn loaded_workers() -> (Arc<Estate>, EngineHandle, mpsc::UnboundedReceiver<Event>) {
        let (e, estate) = engine(false, None);
        let (handle, mut rx) = Arc::new(e).spawn();
        let mut complete = 0;
        while complete < 2 {
            if let Some(Event::Inventory { complete: true, .. }) = rx.recv().await {
                complete += 1;
            }
        }
        (estate, handle, rx)
    }

    fn seen(estate: &Estate, profile: &str, id: &str, op: &Operation) -> ExpectedView {
        ExpectedView::of(&estate.machine(profile, id).unwrap(), op)
    }

    #[tokio::test]
    async fn read_only_refuses_before_any_call_and_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.log");
        let (e, estate) = engine(true, Some(audit.clone()));
        let op = Operation::DeleteAll;
        let before = estate.machine("pcc", "vm-101").unwrap();
        let r = e
            .run(
                "pcc",
                "vm-101",
                &op,
                &seen(&estate, "pcc", "vm-101", &op),
                true,
                &|_| {},
            )
            .await;
        assert!(matches!(r, Err(RunError::Refused(m)) if m.contains("read-only")));
        assert_eq!(estate.machine("pcc", "vm-101").unwrap(), before);
        let log = std::fs::read_to_string(audit).unwrap();
        assert!(
            log.contains("\"result\":\"refused: delete-all refused"),
            "{log}"
        );
    }

    /// The "sent" record cannot be written (here a directory stands in the audit log's
    /// place): the change is refused and never reaches the back end.
    #[tokio::test]
    async fn a_change_the_audit_log_cannot_record_is_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.log");
        std::fs::create_dir(&audit).unwrap();
        let (e, estate) = engine(false, Some(audit));
        for op in [
            Operation::Take {
                quiesce_timeout: None,
                name: "t".into(),
                description: String::new(),
                memory: false,
                quiesce: false,
            },
            Operation::DeleteAll,
        ] {
            let before = estate.machine("pcc", "vm-101").unwrap();
            let r = e
                .run(
                    "pcc",
                    "vm-101",
                    &op,
                    &seen(&estate, "pcc", "vm-101", &op),
                    true,
                    &|_| {},
                )
                .await;
            assert!(
                matches!(&r, Err(RunError::Unrecorded(m)) if m.contains("not sent") && m.contains("audit log")),
                "{r:?}"
            );
            assert_eq!(estate.machine("pcc", "vm-101").unwrap(), before);
        }
    }

    /// A stopped scheduler starts nothing more: steps waiting end as not run, with
    /// nothing sent and nothing audited; a plan's failed step skips its machine's next.
    #[tokio::test]
    async fn the_scheduler_stopped_starts_nothing_and_a_failed_step_skips_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.log");
        let (e, estate) = engine(false, Some(audit.clone()));
        let e = Arc::new(e);
        let index = e.profile_index("pcc").unwrap();
        let delete = |snapshot: &str| Operation::Delete {
            snapshot: snapshot.into(),
            children: false,
        };
        let job = |request, op: Operation| Job {
            request,
            machine_id: "vm-101".into(),
            expected: seen(&estate, "pcc", "vm-101", &op),
            op,
            plan: Some(7),
        };
        let ends = |mut rx: mpsc::UnboundedReceiver<Event>, n: usize| async move {
            let mut ends = Vec::new();
            while ends.len() < n {
                if let Some(Event::TaskDone { request, result }) = rx.recv().await {
                    ends.push((request, result));
                }
            }
            ends
        };
        let before = estate.machine("pcc", "vm-101").unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut scheduler = Scheduler::new(e.clone(), tx, false);
        scheduler.push(index, job(1, delete("snapshot-103")));
        scheduler.push(index, job(2, delete("snapshot-104")));
        scheduler.stop();
        for (_, r) in ends(rx, 2).await {
            assert!(
                matches!(&r, Err(RunError::Skipped(m)) if m == scheduler::STOPPED),
                "{r:?}"
            );
        }
        assert_eq!(estate.machine("pcc", "vm-101").unwrap(), before);
        assert!(!audit.exists() || std::fs::read_to_string(&audit).unwrap().is_empty());
        // A step that fails (a snapshot that is not there) skips the plan's next on the
        // machine, audited as skipped.
        let (tx, rx) = mpsc::unbounded_channel();
        let mut scheduler = Scheduler::new(e.clone(), tx, false);
        let mut missing = job(3, delete("snapshot-103"));
        missing.op = delete("no-such-snapshot");
        scheduler.push(index, missing);
        scheduler.push(index, job(4, delete("snapshot-104")));
        let ended = ends(rx, 2).await;
        assert!(ended[0].1.is_err(), "{:?}", ended[0]);
        assert!(
            matches!(&ended[1], (4, Err(RunError::Skipped(m))) if m.contains("earlier step")),
            "{:?}",
            ended[1]
        );
        let log = std::fs::read_to_string(&audit).unwrap();
        assert!(log.contains("skipped: an earlier step"), "{log}");
        assert_eq!(estate.machine("pcc", "vm-101").unwrap(), before);
        // One plan stopped: its steps do not start, another plan's do.
        let (tx, rx) = mpsc::unbounded_channel();
        let mut scheduler = Scheduler::new(e.clone(), tx, false);
        scheduler.stop_plan(7);
        scheduler.push(index, job(5, delete("snapshot-104")));
        let mut other = job(6, delete("snapshot-104"));
        other.plan = Some(8);
        scheduler.push(index, other);
        let ends = ends(rx, 2).await;
        assert!(
            matches!(&ends[0], (5, Err(RunError::Skipped(m))) if m == scheduler::STOPPED),
            "{:?}",
            ends[0]
        );
        assert!(matches!(&ends[1], (6, Ok(_))), "{:?}", ends[1]);
    }

    #[tokio::test]
    async fn stale_view_refuses_a_snapshot_removed_behind_our_back() {
        let (e, estate) = engine(false, None);
        let op = Operation::Delete {
            snapshot: "snapshot-103".into(),
            children: false,
        };
        let view = seen(&estate, "pcc", "vm-101", &op);
        // Another client removes the parent: snapshot-103 moves up the tree.
        estate
            .modify("pcc", "vm-101", |m| {
                let base = &mut m.snapshots[0];
                let upgrade = base.children.remove(0);
                base.children.extend(upgrade.children);
            })
            .unwrap();
        let r = e.run("pcc", "vm-101", &op, &view, true, &|_| {}).await;
        assert!(
            matches!(&r, Err(RunError::Refused(m)) if m.contains("moved")),
            "{r:?}"
        );
        assert!(
            estate
                .machine("pcc", "vm-101")
                .unwrap()
                .find("snapshot-103")
                .is_some()
        );
    }

    /// Another client removes the snapshot the operator chose and takes one under another
    /// name that gets the same id, in the same place: the run is refused, nothing deleted.
    #[tokio::test]
    async fn a_reused_id_under_another_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.log");
        let (e, estate) = engine(false, Some(audit.clone()));
        let op = Operation::Delete {
            snapshot: "snapshot-103".into(),
            children: false,
        };
        let view = seen(&estate, "pcc", "vm-101", &op);
        let was = estate
            .machine("pcc", "vm-101")
            .unwrap()
            .find("snapshot-103")
            .unwrap()
            .name
            .clone();
        estate
            .modify("pcc", "vm-101", |m| {
                fn swap(nodes: &mut [crate::model::Snapshot]) {
                    for n in nodes {
                        if n.id == "snapshot-103" {
                            // Gone, and another snapshot made with the same id.
                            n.name = "someone-elses".into();
                            n.description = String::new();
                            n.created = chrono::Utc::now();
                        }
                        swap(&mut n.children);
                    }
                }
                swap(&mut m.snapshots);
            })
            .unwrap();
        let r = e.run("pcc", "vm-101", &op, &view, true, &|_| {}).await;
        let want =
            format!("snapshot-103 on pcc/web-01 is now named \"someone-elses\" (was \"{was}\")");
        assert!(
            matches!(&r, Err(RunError::Refused(m)) if m.starts_with(&want)),
            "{r:?}"
        );
        assert!(
            estate
                .machine("pcc", "vm-101")
                .unwrap()
                .find("snapshot-103")
                .is_some()
        );
        let log = std::fs::read_to_string(audit).unwrap();
        assert!(!log.contains("\"sent\""), "{log}");
        assert!(
            log.contains("refused: snapshot-103 on pcc/web-01 is now named"),
            "{log}"
        );
    }

    #[tokio::test]
    async fn runs_report_progress_and_replace_is_one_action() {
        let (e, estate) = engine(false, None);
        let vps = "vps-1a2b3c4d.vps.ovh.net";
        let op = Operation::Replace {
            description: "fresh".into(),
        };
        let updates = std::sync::Mutex::new(Vec::new());
        let status = e
            .run(
                "ovh",
                vps,
                &op,
                &seen(&estate, "ovh", vps, &op),
                true,
                &|u| updates.lock().unwrap().push(u),
            )
            .await
            .unwrap();
        assert_eq!(status.state, TaskState::Success);
        let m = estate.machine("ovh", vps).unwrap();
        assert_eq!(m.snapshot_count(), 1);
        assert_eq!(m.snapshots[0].description, "fresh");
        let started = updates
            .lock()
            .unwrap()
            .iter()
            .filter(|u| matches!(u, RunUpdate::Started { .. }))
            .count();
        assert_eq!(started, 2, "delete then take");
    }

    /// A replace whose delete went through but whose take cannot be recorded: not sent,
    /// and not called a refusal of the whole, since the old snapshot is gone.
    #[tokio::test]
    async fn a_replace_whose_take_cannot_be_recorded_says_the_delete_went_through() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.log");
        let (e, estate) = engine(false, Some(audit.clone()));
        let vps = "vps-1a2b3c4d.vps.ovh.net";
        let op = Operation::Replace {
            description: "fresh".into(),
        };
        let r = e
            .run(
                "ovh",
                vps,
                &op,
                &seen(&estate, "ovh", vps, &op),
                true,
                &|u| {
                    // Once the delete has started, the audit log can take nothing more.
                    if matches!(u, RunUpdate::Started { .. }) && audit.is_file() {
                        std::fs::remove_file(&audit).unwrap();
                        std::fs::create_dir(&audit).unwrap();
                    }
                },
            )
            .await;
        assert!(
            matches!(&r, Err(RunError::Failed(m)) if m.contains("deleted, but take not sent")),
            "{r:?}"
        );
        assert_eq!(estate.machine("ovh", vps).unwrap().snapshot_count(), 0);
    }

    #[tokio::test]
    async fn backend_refusal_is_a_failure_with_its_message() {
        let (e, _estate) = engine(false, None);
        let op = Operation::Take {
            quiesce_timeout: None,
            name: "x".into(),
            description: String::new(),
            memory: false,
            quiesce: false,
        };
        let r = e
            .run(
                "ovh",
                "vps-9c0d1e2f.vps.ovh.net",
                &op,
                &ExpectedView::default(),
                true,
                &|_| {},
            )
            .await;
        assert!(matches!(r, Err(RunError::Failed(m)) if m.contains("not subscribed")));
    }

    #[tokio::test]
    async fn workers_load_every_profile_and_follow_tasks() {
        let (estate, handle, mut rx) = loaded_workers().await;
        let op = Operation::Consolidate;
        handle.send(
            "pcc",
            Command::Run {
                request: 7,
                machine_id: "vm-201".into(),
                op: op.clone(),
                expected: seen(&estate, "pcc", "vm-201", &op),
                plan: None,
            },
        );
        loop {
            match rx.recv().await {
                Some(Event::TaskDone { request: 7, result }) => {
                    assert_eq!(result.unwrap().state, TaskState::Success);
                    break;
                }
                Some(_) => {}
                None => panic!("engine stopped"),
            }
        }
        assert!(
            !estate
                .machine("pcc", "vm-201")
                .unwrap()
                .consolidation_needed
        );
    }

    /// Three deletions on one machine, asked at once (a batch): they run one after another
    /// in the order asked, the later ones say they are queued, and none fails because
    /// another task is in progress on the machine.
    #[tokio::test]
    async fn operations_on_one_machine_wait_for_each_other() {
        let (estate, handle, mut rx) = loaded_workers().await;
        // Leaves and inner nodes of web-01, deepest first as a batch sends them.
        let ids = ["snapshot-106", "snapshot-104", "snapshot-105"];
        for (i, id) in ids.iter().enumerate() {
            let op = Operation::Delete {
                snapshot: (*id).into(),
                children: false,
            };
            handle.send(
                "pcc",
                Command::Run {
                    request: 10 + i as u64,
                    machine_id: "vm-101".into(),
                    op: op.clone(),
                    expected: seen(&estate, "pcc", "vm-101", &op),
                    plan: None,
                },
            );
        }
        let mut queued = Vec::new();
        let mut done = Vec::new();
        while done.len() < ids.len() {
            match rx.recv().await {
                Some(Event::Task {
                    request,
                    update: RunUpdate::Queued,
                }) => queued.push(request),
                Some(Event::TaskDone { request, result }) => {
                    let status = result.unwrap_or_else(|e| panic!("request {request}: {e:?}"));
                    assert_eq!(status.state, TaskState::Success, "request {request}");
                    done.push(request);
                }
                Some(_) => {}
                None => panic!("engine stopped"),
            }
        }
        assert_eq!(done, [10, 11, 12], "in the order asked");
        assert_eq!(queued, [11, 12]);
        let m = estate.machine("pcc", "vm-101").unwrap();
        for id in ids {
            assert!(m.find(id).is_none(), "{id} still there");
        }
    }

    /// A plan's step that fails stops that plan's later steps on the same machine (they
    /// are skipped, never sent); another machine's steps of the plan still run.
    #[tokio::test]
    async fn a_failed_plan_step_skips_the_rest_on_its_machine_only() {
        let (estate, handle, mut rx) = loaded_workers().await;
        let delete = |id: &str| Operation::Delete {
            snapshot: id.into(),
            children: false,
        };
        // 20: a snapshot that does not exist (refused by its stale-view check); 21: a real
        // one on the same machine; 22: one on another machine.
        let steps = [
            (20, "vm-101", delete("snapshot-999")),
            (21, "vm-101", delete("snapshot-106")),
            (22, "vm-201", delete("snapshot-121")),
        ];
        for (request, machine, op) in &steps {
            handle.send(
                "pcc",
                Command::Run {
                    request: *request,
                    machine_id: (*machine).into(),
                    op: op.clone(),
                    expected: seen(&estate, "pcc", machine, op),
                    plan: Some(1),
                },
            );
        }
        let mut results = std::collections::BTreeMap::new();
        while results.len() < steps.len() {
            match rx.recv().await {
                Some(Event::TaskDone { request, result }) => {
                    results.insert(request, result);
                }
                Some(_) => {}
                None => panic!("engine stopped"),
            }
        }
        assert!(
            matches!(results[&20], Err(RunError::Refused(_))),
            "{:?}",
            results[&20]
        );
        assert!(
            matches!(results[&21], Err(RunError::Skipped(_))),
            "{:?}",
            results[&21]
        );
        assert!(
            matches!(&results[&22], Ok(s) if s.state == TaskState::Success),
            "{:?}",
            results[&22]
        );
        assert!(
            estate
                .machine("pcc", "vm-101")
                .unwrap()
                .find("snapshot-106")
                .is_some()
        );
    }

    /// A change feed that once says "anything may have changed" (no ids: a session renewed
    /// after the server lost it), then waits for ever.
    struct RenewsOnce(SimProvider, std::sync::atomic::AtomicBool);

    #[async_trait::async_trait]
    impl Provider for RenewsOnce {
        async fn load_inventory(
            &self,
            partial: crate::provider::PartialInventory<'_>,
        ) -> Result<Vec<Machine>, ProviderError> {
            self.0.load_inventory(partial).await
        }
        async fn load_machine(&self, id: &str) -> Result<Machine, ProviderError> {
            self.0.load_machine(id).await
        }
        async fn start(
            &self,
            machine_id: &str,
            op: &Operation,
        ) -> Result<crate::provider::StartedTask, ProviderError> {
            self.0.start(machine_id, op).await
        }
        async fn follow(
            &self,
            machine_id: &str,
            task_id: &str,
            progress: crate::provider::ProgressSink<'_>,
        ) -> Result<TaskStatus, ProviderError> {
            self.0.follow(machine_id, task_id, progress).await
        }
        async fn wait_for_changes(&self) -> Result<Option<Vec<String>>, ProviderError> {
            if self.1.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Ok(Some(Vec::new()));
            }
            futures::future::pending().await
        }
        async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
            self.0.check().await
        }
    }

    /// A feed that says everything may have changed makes the worker read the whole
    /// profile again at once.
    #[tokio::test]
    async fn a_feed_without_ids_reloads_the_whole_profile() {
        let (_, estate) = engine(false, None);
        let provider = RenewsOnce(
            SimProvider::new(estate.clone(), "pcc"),
            std::sync::atomic::AtomicBool::new(true),
        );
        let e = Engine::new(
            vec![Profile {
                provider: Arc::new(provider),
                name: "pcc".into(),
                kind: crate::model::ProviderKind::Vsphere,
                read_only: false,
                guest: None,
            }],
            false,
            AuditLog::new(None),
            Duration::from_secs(3600),
        );
        let (_handle, mut rx) = Arc::new(e).spawn();
        let mut complete = 0;
        while complete < 2 {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Event::Inventory { complete: true, .. })) => complete += 1,
                Ok(Some(_)) => {}
                other => panic!("no second full load: {other:?}"),
            }
        }
    }

    /// The simulated estate behind a connection that is lost once a request has gone out:
    /// the server applies the change, the answer never arrives (a proxy killed mid-take).
    struct LosesAnswers(SimProvider);

    #[async_trait::async_trait]
    impl Provider for LosesAnswers {
        async fn load_inventory(
            &self,
            partial: crate::provider::PartialInventory<'_>,
        ) -> Result<Vec<Machine>, ProviderError> {
            self.0.load_inventory(partial).await
        }
        async fn load_machine(&self, id: &str) -> Result<Machine, ProviderError> {
            self.0.load_machine(id).await
        }
        async fn start(
            &self,
            machine_id: &str,
            op: &Operation,
        ) -> Result<crate::provider::StartedTask, ProviderError> {
            let started = self.0.start(machine_id, op).await?;
            // Let the change land, then lose the answer.
            let _ = self.0.follow(machine_id, &started.id, &|_| {}).await;
            Err(ProviderError::Unreachable(
                "the connection was reset while taking a snapshot".into(),
            ))
        }
        async fn follow(
            &self,
            machine_id: &str,
            task_id: &str,
            progress: crate::provider::ProgressSink<'_>,
        ) -> Result<TaskStatus, ProviderError> {
            self.0.follow(machine_id, task_id, progress).await
        }
        async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
            self.0.check().await
        }
    }

    /// A change whose answer is lost is not reported as merely failed: the machine is read
    /// again and the message says what happened.
    #[tokio::test]
    async fn a_lost_answer_is_followed_by_a_re_read_that_says_what_happened() {
        let (_, estate) = engine(false, None);
        let e = Engine::new(
            vec![Profile {
                provider: Arc::new(LosesAnswers(SimProvider::new(estate.clone(), "pcc"))),
                name: "pcc".into(),
                kind: crate::model::ProviderKind::Vsphere,
                read_only: false,
                guest: None,
            }],
            false,
            AuditLog::new(None),
            Duration::from_secs(30),
        );
        let op = Operation::Take {
            quiesce_timeout: None,
            name: "lost".into(),
            description: String::new(),
            memory: false,
            quiesce: false,
        };
        let expected = seen(&estate, "pcc", "vm-101", &op);
        let r = e.run("pcc", "vm-101", &op, &expected, true, &|_| {}).await;
        let Err(RunError::Unknown(m)) = r else {
            panic!("{r:?}")
        };
        assert!(m.contains("connection was reset"), "{m}");
        assert!(m.contains("\"lost\"") && m.contains("now exists"), "{m}");
        let delete = Operation::Delete {
            snapshot: "snapshot-106".into(),
            children: false,
        };
        let expected = seen(&estate, "pcc", "vm-101", &delete);
        let r = e
            .run("pcc", "vm-101", &delete, &expected, true, &|_| {})
            .await;
        assert!(
            matches!(&r, Err(RunError::Unknown(m)) if m.contains("no longer exists: the delete went through")),
            "{r:?}"
        );
    }
}
