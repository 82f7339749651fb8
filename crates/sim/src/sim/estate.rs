//! The in-memory estate and the semantics of both back ends.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::model::backups::{self, RestoreState};
use crate::model::order::VpsOption;
use crate::model::{
    BackupOp, Machine, Operation, PowerState, ProviderKind, Snapshot, TaskState, TaskStatus,
};
use crate::provider::ProviderError;

use super::scenario::{self, Scenario};

/// vSphere's hard limit on chain depth.
pub const MAX_CHAIN: usize = 32;

/// Faults a test can inject into the next operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimFault {
    /// The next task started fails at its end with this message.
    FailNextTask(String),
}

struct SimTask {
    profile: String,
    machine_id: String,
    op: Operation,
    started: Instant,
    duration: Duration,
    state: TaskState,
    message: Option<String>,
    cancelable: bool,
    result: Option<String>,
}

/// An option order created (never paid: the option stays as it was).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOrder {
    /// Its id.
    pub order_id: i64,
    /// The profile and VPS it is for.
    pub profile: String,
    /// The VPS.
    pub machine_id: String,
    /// The option.
    pub option: VpsOption,
    /// The duration ordered.
    pub duration: String,
    /// Made through the cart route.
    pub cart: bool,
    /// Where it is paid.
    pub url: String,
    /// Its price with tax.
    pub with_tax: String,
}

/// What an option costs in the simulator: per duration, with and without tax.
pub fn price_list(option: VpsOption) -> Vec<(&'static str, &'static str, &'static str)> {
    match option {
        VpsOption::Snapshot => vec![("P1M", "3.59 €", "2.99 €"), ("P12M", "43.08 €", "35.88 €")],
        VpsOption::AutomatedBackup => {
            vec![("P1M", "7.19 €", "5.99 €"), ("P12M", "86.28 €", "71.88 €")]
        }
    }
}

/// The contracts an option's order carries in the simulator.
pub const CONTRACTS: [(&str, &str); 2] = [
    (
        "General terms of service",
        "https://sim.invalid/contracts/general.pdf",
    ),
    (
        "Specific terms: VPS options",
        "https://sim.invalid/contracts/vps-options.pdf",
    ),
];

/// The quotes of `option` for `m` as the order API gives them in the simulator: with the
/// contracts on the per-option route, without on the cart's.
pub fn quotes(m: &Machine, option: VpsOption) -> Vec<crate::model::order::Quote> {
    use crate::model::order::{Contract, Quote, Route};
    let cart = orders_through_cart(m);
    price_list(option)
        .into_iter()
        .map(|(duration, with_tax, without_tax)| Quote {
            duration: duration.into(),
            with_tax: with_tax.into(),
            without_tax: (!cart).then(|| without_tax.into()),
            contracts: if cart {
                Vec::new()
            } else {
                CONTRACTS
                    .iter()
                    .map(|(name, url)| Contract {
                        name: (*name).into(),
                        url: (*url).into(),
                    })
                    .collect()
            },
            route: if cart {
                Route::Cart {
                    plan_code: format!("vps-option-{}", option.api().to_ascii_lowercase()),
                    pricing_mode: "default".into(),
                }
            } else {
                Route::Legacy
            },
        })
        .collect()
}

/// Whether a VPS is of a range whose options are ordered through a cart (its model is named
/// by a year: `vps-2025-model1`); the older ranges use the per-option route.
pub fn orders_through_cart(m: &Machine) -> bool {
    m.details
        .iter()
        .any(|(k, v)| k == "model" && v.starts_with("vps-20"))
}

/// Who a task belongs to, what it does and what it produced (the wire simulators report it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDetail {
    /// Profile of the machine.
    pub profile: String,
    /// Machine the task runs on.
    pub machine_id: String,
    /// The operation.
    pub op: Operation,
    /// Its status now.
    pub status: TaskStatus,
    /// Id of the snapshot a finished take created.
    pub result: Option<String>,
}

struct Inner {
    profiles: Vec<(String, ProviderKind, Vec<Machine>)>,
    orders: Vec<SimOrder>,
    tasks: HashMap<String, SimTask>,
    next_id: u64,
    version: u64,
    changes: Vec<(u64, String, String)>,
    faults: Vec<SimFault>,
}

/// A whole simulated estate, shared by every profile's provider.
pub struct Estate {
    inner: Mutex<Inner>,
    task_duration: Duration,
    changed: tokio::sync::Notify,
}

impl Estate {
    /// Build an estate from a scenario text; ages relative to `now`. `task_duration`
    /// overrides the scenario's own.
    pub fn from_scenario(
        text: &str,
        now: DateTime<Utc>,
        task_duration: Option<Duration>,
    ) -> Result<Self, String> {
        let Scenario {
            task_seconds,
            profiles,
        } = scenario::parse(text, now)?;
        Ok(Estate {
            inner: Mutex::new(Inner {
                profiles,
                tasks: HashMap::new(),
                orders: Vec::new(),
                next_id: 1000,
                version: 0,
                changes: Vec::new(),
                faults: Vec::new(),
            }),
            task_duration: task_duration.unwrap_or(Duration::from_secs_f64(task_seconds)),
            changed: tokio::sync::Notify::new(),
        })
    }

    /// The demo estate (docs/cli.md, "Demo"). `SNAPTREE_SIM_TASK_MS` shortens tasks (tests use it).
    pub fn demo() -> Self {
        let ms = std::env::var("SNAPTREE_SIM_TASK_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis);
        // The embedded scenario is checked by a unit test, so this cannot fail.
        Self::from_scenario(scenario::DEMO, Utc::now(), ms)
            .unwrap_or_else(|e| panic!("the embedded demo scenario is invalid: {e}"))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.advance(Instant::now()) {
            self.changed.notify_waiters();
        }
        inner
    }

    /// Profile names and kinds.
    pub fn profiles(&self) -> Vec<(String, ProviderKind)> {
        self.lock()
            .profiles
            .iter()
            .map(|(n, k, _)| (n.clone(), *k))
            .collect()
    }

    /// Every machine of a profile.
    pub fn machines(&self, profile: &str) -> Result<Vec<Machine>, ProviderError> {
        let inner = self.lock();
        inner
            .profiles
            .iter()
            .find(|p| p.0 == profile)
            .map(|p| p.2.clone())
            .ok_or_else(|| ProviderError::NotFound(format!("profile {profile}")))
    }

    /// One machine.
    pub fn machine(&self, profile: &str, id: &str) -> Result<Machine, ProviderError> {
        let mut inner = self.lock();
        inner.machine_mut(profile, id).map(|m| m.clone())
    }

    /// Inject a fault.
    pub fn inject(&self, fault: SimFault) {
        self.lock().faults.push(fault);
    }

    /// Change a machine directly, as another client would (for tests and the wire simulators).
    pub fn modify(
        &self,
        profile: &str,
        id: &str,
        f: impl FnOnce(&mut Machine),
    ) -> Result<(), ProviderError> {
        let mut inner = self.lock();
        f(inner.machine_mut(profile, id)?);
        inner.touch(profile, id);
        drop(inner);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Start an operation; validation faults come back at once, like the real APIs.
    pub fn start(&self, profile: &str, id: &str, op: &Operation) -> Result<String, ProviderError> {
        let mut inner = self.lock();
        let machine = inner.machine_mut(profile, id)?.clone();
        if let Operation::Cancel { task } = op {
            let result = inner.cancel(task);
            drop(inner);
            self.changed.notify_waiters();
            return result.map(|_| task.clone());
        }
        if inner
            .tasks
            .values()
            .any(|t| t.profile == profile && t.machine_id == id && !t.state.is_final())
        {
            return Err(match machine.provider {
                ProviderKind::Ovh => ProviderError::Busy(format!(
                    "There is already 1 task(s) occuring on {id}"
                )),
                ProviderKind::Vsphere => ProviderError::Busy(
                    "The operation is not allowed in the current state: another task is in progress."
                        .into(),
                ),
                ProviderKind::Proxmox => ProviderError::Busy(format!(
                    "VM {id} is locked (snapshot)"
                )),
            });
        }
        validate(&machine, op)?;
        inner.next_id += 1;
        let task_id = match machine.provider {
            ProviderKind::Vsphere => format!("task-{}", inner.next_id),
            ProviderKind::Ovh => inner.next_id.to_string(),
            ProviderKind::Proxmox => upid(&machine, op, inner.next_id),
        };
        if let Operation::Rename { .. } = op {
            // RenameSnapshot / PUT snapshot are synchronous.
            let m = inner.machine_mut(profile, id)?;
            apply(m, op, 0).map_err(ProviderError::Backend)?;
            inner.touch(profile, id);
            drop(inner);
            self.changed.notify_waiters();
            return Ok(task_id);
        }
        backup_begun(inner.machine_mut(profile, id)?, op);
        let message = inner.faults.pop().map(|SimFault::FailNextTask(m)| m);
        inner.tasks.insert(
            task_id.clone(),
            SimTask {
                profile: profile.into(),
                machine_id: id.into(),
                op: op.clone(),
                started: Instant::now(),
                duration: self.task_duration,
                state: TaskState::Running,
                message,
                cancelable: !matches!(
                    op,
                    Operation::Revert { .. } | Operation::RevertCurrent { .. }
                ),
                result: None,
            },
        );
        Ok(task_id)
    }

    /// The status of a task.
    pub fn task(&self, task_id: &str) -> Result<TaskStatus, ProviderError> {
        let inner = self.lock();
        let t = inner
            .tasks
            .get(task_id)
            .ok_or_else(|| ProviderError::NotFound(format!("task {task_id}")))?;
        let progress = if t.state.is_final() {
            if t.state == TaskState::Success {
                Some(100)
            } else {
                None
            }
        } else {
            let p = t.started.elapsed().as_secs_f64() / t.duration.as_secs_f64().max(0.001);
            // Clamped to 0..=99 first, so the cast cannot truncate or lose a sign.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let percent = (p * 100.0).clamp(0.0, 99.0) as u8;
            Some(percent)
        };
        Ok(TaskStatus {
            id: task_id.into(),
            state: t.state,
            progress,
            message: if t.state == TaskState::Error {
                t.message.clone()
            } else {
                None
            },
            cancelable: t.cancelable && !t.state.is_final(),
        })
    }

    /// A task with its machine, operation and result.
    pub fn task_detail(&self, task_id: &str) -> Result<TaskDetail, ProviderError> {
        let status = self.task(task_id)?;
        let inner = self.lock();
        let t = inner
            .tasks
            .get(task_id)
            .ok_or_else(|| ProviderError::NotFound(format!("task {task_id}")))?;
        Ok(TaskDetail {
            profile: t.profile.clone(),
            machine_id: t.machine_id.clone(),
            op: t.op.clone(),
            status,
            result: t.result.clone(),
        })
    }

    /// Create an order of `option` for VPS `id` for `duration` (one of [`price_list`]'s),
    /// as the order API would: recorded, never paid, the option left as it is.
    pub fn order(
        &self,
        profile: &str,
        id: &str,
        option: VpsOption,
        duration: &str,
        cart: bool,
    ) -> Result<SimOrder, ProviderError> {
        let mut inner = self.lock();
        let m = inner.machine_mut(profile, id)?;
        if m.provider != ProviderKind::Ovh {
            return Err(ProviderError::NotFound(format!("service {id}")));
        }
        if option.subscribed(m) == Some(true) {
            return Err(ProviderError::InvalidState(format!(
                "The option {} is already subscribed on {id}",
                option.api()
            )));
        }
        let (_, with_tax, _) = price_list(option)
            .into_iter()
            .find(|(d, _, _)| *d == duration)
            .ok_or_else(|| ProviderError::InvalidState(format!("Invalid duration: {duration}")))?;
        inner.next_id += 1;
        let order_id = i64::try_from(inner.next_id).unwrap_or(i64::MAX) + 7_000_000;
        let order = SimOrder {
            order_id,
            profile: profile.into(),
            machine_id: id.into(),
            option,
            duration: duration.into(),
            cart,
            url: format!("https://sim.invalid/order/{order_id}/pay"),
            with_tax: with_tax.into(),
        };
        inner.orders.push(order.clone());
        Ok(order)
    }

    /// Every order created, oldest first.
    pub fn orders(&self) -> Vec<SimOrder> {
        self.lock().orders.clone()
    }

    /// Tasks not yet finished on a machine (for lists of tasks started elsewhere).
    pub fn running_tasks(&self, profile: &str, id: &str) -> Vec<(String, String)> {
        let inner = self.lock();
        inner
            .tasks
            .iter()
            .filter(|(_, t)| t.profile == profile && t.machine_id == id && !t.state.is_final())
            .map(|(k, t)| (k.clone(), t.op.name().to_string()))
            .collect()
    }

    /// Machines of `profile` changed after `since`, and the newest version.
    pub fn changes_since(&self, profile: &str, since: u64) -> (u64, Vec<String>) {
        let inner = self.lock();
        let mut ids: Vec<String> = inner
            .changes
            .iter()
            .filter(|(v, p, _)| *v > since && p == profile)
            .map(|(_, _, id)| id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        (inner.version, ids)
    }

    /// The current change version.
    pub fn version(&self) -> u64 {
        self.lock().version
    }

    /// Wait until something may have changed (a change, or a running task's next step).
    pub async fn wait_for_change(&self) {
        let notified = self.changed.notified();
        let busy = self
            .inner
            .lock()
            .map(|i| i.tasks.values().any(|t| !t.state.is_final()));
        let poll = if busy.unwrap_or(false) { 200 } else { 1000 };
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(Duration::from_millis(poll)) => {}
        }
    }
}

impl Inner {
    fn machine_mut(&mut self, profile: &str, id: &str) -> Result<&mut Machine, ProviderError> {
        self.profiles
            .iter_mut()
            .find(|p| p.0 == profile)
            .ok_or_else(|| ProviderError::NotFound(format!("profile {profile}")))?
            .2
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or_else(|| ProviderError::NotFound(format!("machine {id} on {profile}")))
    }

    fn touch(&mut self, profile: &str, id: &str) {
        self.version += 1;
        let v = self.version;
        self.changes.push((v, profile.into(), id.into()));
        if self.changes.len() > 4096 {
            self.changes.drain(..2048);
        }
    }

    fn cancel(&mut self, task_id: &str) -> Result<(), ProviderError> {
        let t = self
            .tasks
            .get_mut(task_id)
            .ok_or_else(|| ProviderError::NotFound(format!("task {task_id}")))?;
        if t.state.is_final() {
            return Err(ProviderError::InvalidState(format!(
                "task {task_id} has already finished"
            )));
        }
        if !t.cancelable {
            return Err(ProviderError::InvalidState(format!(
                "task {task_id} cannot be cancelled"
            )));
        }
        t.state = TaskState::Cancelled;
        t.message = Some("The task was canceled by a user.".into());
        let (p, m, op) = (t.profile.clone(), t.machine_id.clone(), t.op.clone());
        if let Ok(machine) = self.machine_mut(&p, &m) {
            backup_abandoned(machine, &op);
        }
        self.touch(&p, &m);
        Ok(())
    }

    /// Finish every task whose time has come. True if anything changed.
    fn advance(&mut self, now: Instant) -> bool {
        let due: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| !t.state.is_final() && now.duration_since(t.started) >= t.duration)
            .map(|(k, _)| k.clone())
            .collect();
        for task_id in &due {
            let Some(t) = self.tasks.get(task_id) else {
                continue;
            };
            let (profile, machine_id, op) = (t.profile.clone(), t.machine_id.clone(), t.op.clone());
            let injected = t.message.clone();
            self.next_id += 1;
            let serial = self.next_id;
            let mut created = None;
            let result = match injected {
                Some(m) => Err(m),
                None => match self.machine_mut(&profile, &machine_id) {
                    Ok(m) => {
                        let r = apply(m, &op, serial);
                        // A take makes the new snapshot current: that is the task's result.
                        if r.is_ok() && matches!(op, Operation::Take { .. }) {
                            created = m.current.clone();
                        }
                        r
                    }
                    Err(e) => Err(e.to_string()),
                },
            };
            if result.is_err()
                && let Ok(m) = self.machine_mut(&profile, &machine_id)
            {
                backup_abandoned(m, &op);
            }
            if let Some(t) = self.tasks.get_mut(task_id) {
                t.result = created;
                match result {
                    Ok(()) => t.state = TaskState::Success,
                    Err(m) => {
                        t.state = TaskState::Error;
                        t.message = Some(m);
                    }
                }
            }
            self.touch(&profile, &machine_id);
        }
        !due.is_empty()
    }
}

/// Faults the real APIs raise when a call is made, before any task exists.
fn validate(m: &Machine, op: &Operation) -> Result<(), ProviderError> {
    if m.provider == ProviderKind::Proxmox {
        return validate_proxmox(m, op);
    }
    let exists = |id: &str| {
        m.find(id)
            .map(|_| ())
            .ok_or_else(|| ProviderError::NotFound(format!("snapshot {id} on {}", m.id)))
    };
    match (m.provider, op) {
        (ProviderKind::Vsphere, Operation::Take { quiesce, .. }) => {
            let depth = m
                .current
                .as_deref()
                .and_then(|c| m.id_path(c))
                .map_or(0, |p| p.len());
            if depth >= MAX_CHAIN {
                return Err(ProviderError::InvalidState(
                    "TooManySnapshotLevels: the snapshot chain is already 32 levels deep".into(),
                ));
            }
            if *quiesce && m.power_state == PowerState::PoweredOn && !m.tools_running() {
                return Err(ProviderError::InvalidState(
                    "ToolsUnavailable: cannot quiesce because VMware Tools is not running".into(),
                ));
            }
            Ok(())
        }
        (ProviderKind::Vsphere, Operation::RevertCurrent { .. }) => match &m.current {
            Some(_) => Ok(()),
            None => Err(ProviderError::InvalidState(
                "the VM has no current snapshot to revert to".into(),
            )),
        },
        (ProviderKind::Vsphere, Operation::Replace { .. }) => Err(ProviderError::Unsupported(
            "replace exists only for VPS snapshots".into(),
        )),
        (_, Operation::Revert { snapshot, .. })
        | (_, Operation::Delete { snapshot, .. })
        | (_, Operation::Rename { snapshot, .. }) => exists(snapshot),
        (ProviderKind::Ovh, Operation::Take { .. }) => {
            if m.snapshot_option != Some(true) {
                Err(ProviderError::InvalidState(
                    "The snapshot option is not subscribed on this VPS".into(),
                ))
            } else if !m.snapshots.is_empty() {
                Err(ProviderError::InvalidState(
                    "A snapshot already exists for this VPS; delete it first".into(),
                ))
            } else {
                Ok(())
            }
        }
        (ProviderKind::Ovh, Operation::RevertCurrent { .. } | Operation::DeleteAll) => {
            if m.snapshots.is_empty() {
                Err(ProviderError::NotFound(format!(
                    "The requested object (snapshot) does not exist on {}",
                    m.id
                )))
            } else {
                Ok(())
            }
        }
        (ProviderKind::Ovh, Operation::Consolidate) => Err(ProviderError::Unsupported(
            "consolidation does not exist for VPSs".into(),
        )),
        (ProviderKind::Ovh, Operation::Backup(b)) => validate_backup(m, b),
        (ProviderKind::Vsphere, Operation::Backup(_)) => Err(ProviderError::Unsupported(
            "automated backups exist only for VPSs".into(),
        )),
        _ => Ok(()),
    }
}

/// Apply a finished operation to a machine, with the semantics of its back end.
fn apply(m: &mut Machine, op: &Operation, serial: u64) -> Result<(), String> {
    match op {
        Operation::Take {
            name,
            description,
            memory,
            quiesce,
            ..
        } => {
            let on = m.power_state == PowerState::PoweredOn;
            let node = Snapshot {
                id: match m.provider {
                    ProviderKind::Vsphere => format!("snapshot-{serial}"),
                    ProviderKind::Ovh => format!("{serial:08x}-5e1d-4c0a-8b7f-3d2c1b0a9f8e"),
                    // A Proxmox snapshot is named by its name.
                    ProviderKind::Proxmox => name.clone(),
                },
                name: name.clone(),
                description: description.clone(),
                created: Utc::now(),
                power_state: if *memory && on {
                    PowerState::PoweredOn
                } else {
                    PowerState::PoweredOff
                },
                memory: *memory && on,
                quiesced: *quiesce && on && m.tools_running(),
                size_bytes: match m.provider {
                    ProviderKind::Vsphere => Some((64 + (serial * 37) % 900) * 1024 * 1024),
                    // Neither API says a snapshot's size.
                    ProviderKind::Ovh | ProviderKind::Proxmox => None,
                },
                created_by: None,
                children: Vec::new(),
            };
            let id = node.id.clone();
            match m
                .current
                .clone()
                .filter(|_| m.provider != ProviderKind::Ovh)
            {
                Some(cur) => match find_mut(&mut m.snapshots, &cur) {
                    Some(parent) => parent.children.push(node),
                    None => m.snapshots.push(node),
                },
                None => m.snapshots.push(node),
            }
            m.current = Some(id);
            Ok(())
        }
        Operation::Revert {
            snapshot,
            suppress_power_on,
            start,
        } => revert(m, snapshot, *suppress_power_on, *start),
        Operation::RevertCurrent {
            suppress_power_on,
            start,
        } => {
            let cur = m.current.clone().ok_or("the VM has no current snapshot")?;
            revert(m, &cur, *suppress_power_on, *start)
        }
        Operation::Delete { snapshot, children } => {
            let path = m
                .id_path(snapshot)
                .ok_or_else(|| format!("snapshot {snapshot} no longer exists"))?;
            let parent = path.len().checked_sub(2).map(|i| path[i].clone());
            let removed_ids = m.subtree_ids(snapshot);
            let siblings = match &parent {
                Some(p) => {
                    &mut find_mut(&mut m.snapshots, p)
                        .ok_or("tree changed")?
                        .children
                }
                None => &mut m.snapshots,
            };
            let pos = siblings
                .iter()
                .position(|s| s.id == *snapshot)
                .ok_or("tree changed")?;
            let node = siblings.remove(pos);
            if !children {
                // Children move up to the removed snapshot's parent, in its place.
                for (i, child) in node.children.into_iter().enumerate() {
                    siblings.insert(pos + i, child);
                }
            }
            let current_gone = match &m.current {
                Some(c) if *children => removed_ids.contains(c),
                Some(c) => c == snapshot,
                None => false,
            };
            if current_gone {
                m.current = parent;
            }
            if m.provider == ProviderKind::Ovh {
                m.current = None;
            }
            Ok(())
        }
        Operation::DeleteAll => {
            m.snapshots.clear();
            m.current = None;
            consolidated(m);
            Ok(())
        }
        Operation::Consolidate => {
            consolidated(m);
            Ok(())
        }
        Operation::Rename {
            snapshot,
            name,
            description,
        } => {
            let ovh = m.provider == ProviderKind::Ovh;
            let node = find_mut(&mut m.snapshots, snapshot)
                .ok_or_else(|| format!("snapshot {snapshot} no longer exists"))?;
            if let Some(n) = name {
                node.name = n.clone();
            }
            if let Some(d) = description {
                node.description = d.clone();
                if ovh {
                    node.name = d.clone();
                }
            }
            Ok(())
        }
        Operation::Replace { .. } | Operation::Cancel { .. } => {
            Err(format!("{} is not a task of its own", op.name()))
        }
        Operation::Backup(b) => backup_done(m, b),
        Operation::Order(_) => Err("an order is not a task of a machine".into()),
    }
}

/// What the API refuses of an automated backup's call before any task exists.
fn validate_backup(m: &Machine, op: &BackupOp) -> Result<(), ProviderError> {
    let b = m
        .backups
        .as_deref()
        .filter(|b| b.subscribed)
        .ok_or_else(|| {
            ProviderError::InvalidState(format!(
                "The service {} does not have the automatedBackup option",
                m.id
            ))
        })?;
    let point = |id: &str| {
        backups::point_time(id)
            .ok_or_else(|| ProviderError::InvalidState(format!("Invalid restorePoint: {id}")))
    };
    match op {
        BackupOp::Restore { point: id, .. } => {
            let t = point(id)?;
            match b.point(t).map(|p| p.state) {
                None => Err(ProviderError::NotFound(format!(
                    "The requested object (restorePoint = {id}) does not exist"
                ))),
                Some(RestoreState::Available) => Ok(()),
                Some(_) => Err(ProviderError::InvalidState(
                    "This restore point is already restored or being restored".into(),
                )),
            }
        }
        BackupOp::Detach { point: id } => match b.mounted(point(id)?) {
            Some(_) => Ok(()),
            None => Err(ProviderError::InvalidState(format!(
                "No backup is attached for restorePoint {id}"
            ))),
        },
        BackupOp::Reschedule { schedule } => backups::parse_schedule(schedule)
            .map(|_| ())
            .map_err(|_| ProviderError::InvalidState(format!("Invalid schedule: {schedule}"))),
    }
}

/// An automated backup's task started: a restore point being restored says so.
fn backup_begun(m: &mut Machine, op: &Operation) {
    set_point(m, op, RestoreState::Restoring);
}

/// An automated backup's task that failed or was cancelled: its restore point is kept.
fn backup_abandoned(m: &mut Machine, op: &Operation) {
    set_point(m, op, RestoreState::Available);
}

fn set_point(m: &mut Machine, op: &Operation, state: RestoreState) {
    let Operation::Backup(BackupOp::Restore { point, .. }) = op else {
        return;
    };
    let t = backups::point_time(point);
    if let Some(b) = m.backups.as_deref_mut()
        && let Some(p) = b.restore_points.iter_mut().find(|p| Some(p.time) == t)
    {
        p.state = state;
    }
}

/// An automated backup's task ended: a full restore leaves its point available; a file
/// restore leaves it restored and mounted; a detach unmounts it; a reschedule moves the
/// daily time.
fn backup_done(m: &mut Machine, op: &BackupOp) -> Result<(), String> {
    let sn = m.id.clone();
    let b = m
        .backups
        .as_deref_mut()
        .ok_or("the automated backup option is gone")?;
    let time = |id: &str| backups::point_time(id).ok_or(format!("invalid restore point {id}"));
    match op {
        BackupOp::Restore { point, full } => {
            let t = time(point)?;
            let p = b
                .restore_points
                .iter_mut()
                .find(|p| p.time == t)
                .ok_or("the restore point no longer exists")?;
            if *full {
                p.state = RestoreState::Available;
            } else {
                p.state = RestoreState::Restored;
                b.attached.push(scenario::mounted(&sn, t));
            }
        }
        BackupOp::Detach { point } => {
            let t = time(point)?;
            b.attached.retain(|a| a.time != t);
            if let Some(p) = b.restore_points.iter_mut().find(|p| p.time == t) {
                p.state = RestoreState::Available;
            }
        }
        BackupOp::Reschedule { schedule } => {
            b.schedule = Some(backups::parse_schedule(schedule)?);
        }
    }
    Ok(())
}

/// Every delta merged (a consolidation, a delete-all): nothing left to consolidate, no
/// phantom delta left.
fn consolidated(m: &mut Machine) {
    m.consolidation_needed = false;
    if let Some(s) = m.storage.as_deref_mut() {
        s.phantom_deltas.clear();
    }
}

fn revert(
    m: &mut Machine,
    snapshot: &str,
    suppress_power_on: bool,
    start: bool,
) -> Result<(), String> {
    let node = m
        .find(snapshot)
        .ok_or_else(|| format!("snapshot {snapshot} no longer exists"))?
        .clone();
    match m.provider {
        ProviderKind::Vsphere => {
            m.current = Some(node.id.clone());
            m.power_state = match (node.memory, suppress_power_on) {
                (true, false) => PowerState::PoweredOn,
                (true, true) => PowerState::Suspended,
                (false, _) => PowerState::PoweredOff,
            };
        }
        ProviderKind::Ovh => {
            // A VPS restore consumes its snapshot.
            m.snapshots.clear();
            m.current = None;
        }
        ProviderKind::Proxmox => {
            // A rollback to a snapshot with RAM state leaves the guest running; without,
            // stopped unless asked to start.
            m.current = Some(node.id.clone());
            m.power_state = if node.memory || start {
                PowerState::PoweredOn
            } else {
                PowerState::PoweredOff
            };
        }
    }
    Ok(())
}

/// A Proxmox task id (UPID) for `op` on guest `m`: node, a process id, the start time,
/// the task's type (`qmsnapshot`, `vzrollback`, …), the guest and the token's user.
fn upid(m: &Machine, op: &Operation, serial: u64) -> String {
    let node = m.location.first().map_or("pve", String::as_str);
    let qemu = !is_container(m);
    let kind = match (op, qemu) {
        (Operation::Take { .. }, true) => "qmsnapshot",
        (Operation::Take { .. }, false) => "vzsnapshot",
        (Operation::Revert { .. } | Operation::RevertCurrent { .. }, true) => "qmrollback",
        (Operation::Revert { .. } | Operation::RevertCurrent { .. }, false) => "vzrollback",
        (_, true) => "qmdelsnapshot",
        (_, false) => "vzdelsnapshot",
    };
    format!(
        "UPID:{node}:{serial:08X}:{:08X}:{:08X}:{kind}:{}:demo@pve!snaptree:",
        serial * 7,
        Utc::now().timestamp(),
        m.id
    )
}

/// A Proxmox guest that is an LXC container (its details say `type = lxc`).
pub fn is_container(m: &Machine) -> bool {
    m.details.iter().any(|(k, v)| k == "type" && v == "lxc")
}

/// What Proxmox VE refuses before any task exists.
fn validate_proxmox(m: &Machine, op: &Operation) -> Result<(), ProviderError> {
    if let Some(id) = op.snapshot()
        && m.find(id).is_none()
    {
        return Err(ProviderError::NotFound(format!(
            "snapshot '{id}' does not exist"
        )));
    }
    match op {
        Operation::Take { name, memory, .. } => {
            if let Some(why) = crate::model::machine::proxmox_name_refusal(name) {
                return Err(ProviderError::InvalidState(format!(
                    "snapname: invalid format - {why}"
                )));
            }
            if m.find(name).is_some() {
                return Err(ProviderError::InvalidState(format!(
                    "snapshot name '{name}' already used"
                )));
            }
            if *memory && is_container(m) {
                return Err(ProviderError::InvalidState(
                    "vmstate: property is not defined in schema and the schema does not allow additional properties".into(),
                ));
            }
            Ok(())
        }
        Operation::Delete { children: true, .. } | Operation::DeleteAll => Err(
            ProviderError::Unsupported("Proxmox deletes one snapshot at a time".into()),
        ),
        Operation::Rename { name: Some(_), .. } => Err(ProviderError::Unsupported(
            "Proxmox cannot rename a snapshot".into(),
        )),
        Operation::Consolidate
        | Operation::Replace { .. }
        | Operation::Backup(_)
        | Operation::Order(_) => Err(ProviderError::Unsupported(format!(
            "{} does not exist on Proxmox VE",
            op.name()
        ))),
        Operation::RevertCurrent { .. } if m.current.is_none() => Err(ProviderError::InvalidState(
            "the guest has no current snapshot".into(),
        )),
        _ => Ok(()),
    }
}

fn find_mut<'a>(nodes: &'a mut [Snapshot], id: &str) -> Option<&'a mut Snapshot> {
    for n in nodes {
        if n.id == id {
            return Some(n);
        }
        if let Some(hit) = find_mut(&mut n.children, id) {
            return Some(hit);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estate() -> Estate {
        Estate::from_scenario(scenario::DEMO, Utc::now(), Some(Duration::ZERO)).unwrap()
    }

    #[allow(
        clippy::needless_pass_by_value,
        reason = "call sites build the operation inline"
    )]
    fn run(e: &Estate, p: &str, id: &str, op: Operation) -> TaskStatus {
        let t = e.start(p, id, &op).unwrap();
        e.task(&t).unwrap_or(TaskStatus {
            id: t,
            state: TaskState::Success,
            progress: None,
            message: None,
            cancelable: false,
        })
    }

    fn take(name: &str) -> Operation {
        Operation::Take {
            quiesce_timeout: None,
            name: name.into(),
            description: String::new(),
            memory: false,
            quiesce: false,
        }
    }

    #[test]
    fn take_adds_a_child_of_current_and_moves_current() {
        let e = estate();
        assert_eq!(
            run(&e, "pcc", "vm-101", take("new")).state,
            TaskState::Success
        );
        let m = e.machine("pcc", "vm-101").unwrap();
        let cur = m.current.clone().unwrap();
        assert_eq!(
            m.name_path(&cur).unwrap(),
            "base/before-upgrade/after-patch/pre-release/new"
        );
    }

    #[test]
    fn revert_moves_current_then_take_branches() {
        let e = estate();
        run(
            &e,
            "pcc",
            "vm-101",
            Operation::Revert {
                start: false,
                snapshot: "snapshot-102".into(),
                suppress_power_on: false,
            },
        );
        let m = e.machine("pcc", "vm-101").unwrap();
        assert_eq!(m.current.as_deref(), Some("snapshot-102"));
        assert_eq!(
            m.power_state,
            PowerState::PoweredOff,
            "no memory: VM left off"
        );
        run(&e, "pcc", "vm-101", take("branch"));
        let m = e.machine("pcc", "vm-101").unwrap();
        assert_eq!(m.find("snapshot-102").unwrap().children.len(), 2);
        // Memory snapshot powers on unless suppressed.
        run(
            &e,
            "pcc",
            "vm-101",
            Operation::Revert {
                start: false,
                snapshot: "snapshot-103".into(),
                suppress_power_on: true,
            },
        );
        assert_eq!(
            e.machine("pcc", "vm-101").unwrap().power_state,
            PowerState::Suspended
        );
    }

    #[test]
    fn delete_reparents_children_or_removes_subtree() {
        let e = estate();
        run(
            &e,
            "pcc",
            "vm-101",
            Operation::Delete {
                snapshot: "snapshot-102".into(),
                children: false,
            },
        );
        let m = e.machine("pcc", "vm-101").unwrap();
        assert!(m.find("snapshot-102").is_none());
        assert_eq!(m.name_path("snapshot-103").unwrap(), "base/after-patch");
        assert_eq!(m.snapshot_count(), 5);
        run(
            &e,
            "pcc",
            "vm-101",
            Operation::Delete {
                snapshot: "snapshot-103".into(),
                children: true,
            },
        );
        let m = e.machine("pcc", "vm-101").unwrap();
        assert!(m.find("snapshot-104").is_none());
        // The current snapshot was in the removed subtree: current moves to the parent.
        assert_eq!(m.current.as_deref(), Some("snapshot-101"));
        run(&e, "pcc", "vm-101", Operation::DeleteAll);
        let m = e.machine("pcc", "vm-101").unwrap();
        assert_eq!((m.snapshot_count(), m.current.clone()), (0, None));
    }

    #[test]
    fn consolidate_clears_the_flag_and_rename_is_synchronous() {
        let e = estate();
        run(&e, "pcc", "vm-201", Operation::Consolidate);
        assert!(!e.machine("pcc", "vm-201").unwrap().consolidation_needed);
        // The demo's jump-host runs on a phantom delta: consolidating merges it.
        let phantoms = |e: &Estate| {
            let m = e.machine("pcc", "vm-303").unwrap();
            m.storage.map_or(0, |s| s.phantom_deltas.len())
        };
        assert_eq!(phantoms(&e), 1);
        run(&e, "pcc", "vm-303", Operation::Consolidate);
        assert_eq!(phantoms(&e), 0);
        e.start(
            "pcc",
            "vm-201",
            &Operation::Rename {
                snapshot: "snapshot-121".into(),
                name: Some("renamed".into()),
                description: None,
            },
        )
        .unwrap();
        assert_eq!(
            e.machine("pcc", "vm-201")
                .unwrap()
                .find("snapshot-121")
                .unwrap()
                .name,
            "renamed"
        );
    }

    #[test]
    fn vps_rules() {
        let e = estate();
        let vps = "vps-1a2b3c4d.vps.ovh.net";
        let err = e.start("ovh", vps, &take("x")).unwrap_err();
        assert!(err.to_string().contains("already exists"));
        let err = e
            .start("ovh", "vps-9c0d1e2f.vps.ovh.net", &take("x"))
            .unwrap_err();
        assert!(err.to_string().contains("not subscribed"));
        run(
            &e,
            "ovh",
            vps,
            Operation::RevertCurrent {
                start: false,
                suppress_power_on: false,
            },
        );
        let m = e.machine("ovh", vps).unwrap();
        assert_eq!(m.snapshot_count(), 0, "a restore consumes the snapshot");
        run(&e, "ovh", vps, take("again"));
        assert_eq!(e.machine("ovh", vps).unwrap().snapshot_count(), 1);
        run(&e, "ovh", vps, Operation::DeleteAll);
        assert_eq!(e.machine("ovh", vps).unwrap().snapshot_count(), 0);
    }

    #[test]
    fn one_task_at_a_time_cancel_and_injected_failure() {
        let e = Estate::from_scenario(scenario::DEMO, Utc::now(), Some(Duration::from_secs(60)))
            .unwrap();
        let t = e.start("pcc", "vm-303", &take("a")).unwrap();
        assert!(matches!(
            e.start("pcc", "vm-303", &take("b")),
            Err(ProviderError::Busy(_))
        ));
        let st = e.task(&t).unwrap();
        assert_eq!(st.state, TaskState::Running);
        assert!(st.cancelable);
        e.start("pcc", "vm-303", &Operation::Cancel { task: t.clone() })
            .unwrap();
        assert_eq!(e.task(&t).unwrap().state, TaskState::Cancelled);
        assert_eq!(e.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);

        let e = estate();
        e.inject(SimFault::FailNextTask(
            "NoDiskSpace: datastore1 is full".into(),
        ));
        let st = run(&e, "pcc", "vm-303", take("a"));
        assert_eq!(st.state, TaskState::Error);
        assert_eq!(
            st.message.as_deref(),
            Some("NoDiskSpace: datastore1 is full")
        );
        assert_eq!(e.machine("pcc", "vm-303").unwrap().snapshot_count(), 0);
    }

    #[test]
    fn quiesce_without_tools_and_revert_current_without_snapshot_fail_up_front() {
        let e = estate();
        let q = Operation::Take {
            quiesce_timeout: None,
            name: "q".into(),
            description: String::new(),
            memory: false,
            quiesce: true,
        };
        assert!(
            e.start("pcc", "vm-301", &q)
                .unwrap_err()
                .to_string()
                .contains("VMware Tools")
        );
        let rc = Operation::RevertCurrent {
            start: false,
            suppress_power_on: false,
        };
        assert!(e.start("pcc", "vm-303", &rc).is_err());
    }
}
