//! The one scheduler of changes. The TUI's worker runs every change through it (a single
//! one or a batch of marked snapshots), `prune` its whole plan:
//! - per machine, one change after another, in the order asked (a second waits, and says
//!   it is queued);
//! - machines of a profile in parallel, at most `runs_per_profile` at once (`[cleanup]
//!   concurrency`);
//! - a plan's step that does not succeed skips that plan's later steps on its machine
//!   (audited as skipped), other machines go on;
//! - stopped ([`Scheduler::stop`], or one plan: [`Scheduler::stop_plan`]), nothing not yet
//!   started starts: each such step ends as not run, with nothing sent and nothing audited.
//!
//! A cancel acts on the task that holds the machine: it never waits behind it.
//! Progress and ends are [`Event::Task`] and [`Event::TaskDone`] on the events channel.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Semaphore, mpsc};

use super::{Engine, Event, RunError, RunUpdate, reload_machine};
use crate::model::{ExpectedView, Operation, TaskState};

/// A change to run on one machine of a profile.
#[derive(Clone, Debug)]
pub struct Job {
    /// The caller's number for it: its events carry it.
    pub request: u64,
    /// The machine's id.
    pub machine_id: String,
    /// The change.
    pub op: Operation,
    /// The view it was confirmed on (re-checked before it is sent).
    pub expected: ExpectedView,
    /// The plan it is a step of, if any.
    pub plan: Option<u64>,
}

/// Why a step stopped before it started ([`Scheduler::stop`]).
pub const STOPPED: &str = "stopped before it started";

/// See the module's text.
pub struct Scheduler {
    engine: Arc<Engine>,
    events: mpsc::UnboundedSender<Event>,
    /// Re-read each machine after its change (the TUI shows the tree as it now is).
    reread: bool,
    stopped: Arc<AtomicBool>,
    stopped_plans: Arc<std::sync::Mutex<HashSet<u64>>>,
    runs: HashMap<usize, Arc<Semaphore>>,
    queues: HashMap<(usize, String), MachineQueue>,
}

impl Scheduler {
    /// A scheduler for `engine`'s profiles, its events on `events`; with `reread`, each
    /// machine is read again after each change.
    pub fn new(engine: Arc<Engine>, events: mpsc::UnboundedSender<Event>, reread: bool) -> Self {
        Scheduler {
            engine,
            events,
            reread,
            stopped: Arc::new(AtomicBool::new(false)),
            stopped_plans: Arc::default(),
            runs: HashMap::new(),
            queues: HashMap::new(),
        }
    }

    /// Run `job` on a machine of the profile at `index`, in its turn.
    pub fn push(&mut self, index: usize, job: Job) {
        if matches!(job.op, Operation::Cancel { .. }) {
            let runner = self.runner(index);
            tokio::spawn(async move { runner.run(job).await });
            return;
        }
        let key = (index, job.machine_id.clone());
        if !self.queues.contains_key(&key) {
            let limit = self.engine.runs_per_profile;
            let runs = self
                .runs
                .entry(index)
                .or_insert_with(|| Arc::new(Semaphore::new(limit)))
                .clone();
            let queue = MachineQueue::start(self.runner(index), runs);
            self.queues.insert(key.clone(), queue);
        }
        if let Some(queue) = self.queues.get(&key) {
            queue.push(job);
        }
    }

    /// What a queue of the profile at `index` runs its jobs with.
    fn runner(&self, index: usize) -> Runner {
        Runner {
            engine: self.engine.clone(),
            index,
            events: self.events.clone(),
            reread: self.reread,
            stopped: self.stopped.clone(),
            stopped_plans: self.stopped_plans.clone(),
        }
    }

    /// Start nothing more: the steps waiting end as not run ([`STOPPED`]); those running
    /// go on to their end.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    /// Start no more step of `plan`: as [`stop`](Self::stop), for that plan alone.
    pub fn stop_plan(&self, plan: u64) {
        self.stopped_plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(plan);
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a machine's queue runs its jobs with.
struct Runner {
    engine: Arc<Engine>,
    index: usize,
    events: mpsc::UnboundedSender<Event>,
    reread: bool,
    stopped: Arc<AtomicBool>,
    stopped_plans: Arc<std::sync::Mutex<HashSet<u64>>>,
}

impl Runner {
    /// Whether `job` may no longer start (the scheduler or its plan stopped).
    fn held(&self, job: &Job) -> bool {
        self.stopped.load(Ordering::SeqCst)
            || job.plan.is_some_and(|plan| {
                self.stopped_plans
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .contains(&plan)
            })
    }

    /// Run one change to its end and report it (then re-read its machine, when asked);
    /// true when it succeeded.
    async fn run(&self, job: Job) -> bool {
        let p = &self.engine.profiles[self.index];
        let request = job.request;
        let report = |update| {
            let _ = self.events.send(Event::Task { request, update });
        };
        let result = self
            .engine
            .run(
                &p.name,
                &job.machine_id,
                &job.op,
                &job.expected,
                true,
                &report,
            )
            .await;
        let ok = matches!(&result, Ok(s) if s.state == TaskState::Success);
        let _ = self.events.send(Event::TaskDone { request, result });
        if self.reread {
            reload_machine(p, &job.machine_id, &self.events).await;
        }
        ok
    }

    fn not_run(&self, job: &Job, why: &str) {
        let _ = self.events.send(Event::TaskDone {
            request: job.request,
            result: Err(RunError::Skipped(why.into())),
        });
    }
}

/// The operations asked for one machine, run one after another by a task of its own.
struct MachineQueue {
    jobs: mpsc::UnboundedSender<Job>,
    /// Jobs sent and not yet ended: above zero, a new job waits (and says so).
    pending: Arc<AtomicUsize>,
    events: mpsc::UnboundedSender<Event>,
}

impl MachineQueue {
    fn start(runner: Runner, runs: Arc<Semaphore>) -> MachineQueue {
        let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
        let pending = Arc::new(AtomicUsize::new(0));
        let (left, events) = (pending.clone(), runner.events.clone());
        tokio::spawn(async move {
            // Plans with a step that did not succeed on this machine: their later steps
            // here are skipped (docs/cleanup.md, "Running it"), other machines go on.
            let mut failed_plans = HashSet::new();
            while let Some(job) = rx.recv().await {
                if runner.held(&job) {
                    runner.not_run(&job, STOPPED);
                } else if let Some(plan) = job.plan
                    && failed_plans.contains(&plan)
                {
                    runner.engine.skip(runner.index, &job.machine_id, &job.op);
                    runner.not_run(&job, "an earlier step on this machine did not succeed");
                } else {
                    // A closed semaphore cannot happen (it is never closed); run anyway.
                    let slot = runs.acquire().await.ok();
                    let plan = job.plan;
                    // Stopped while it waited for a slot: it does not start.
                    let ok = if runner.held(&job) {
                        runner.not_run(&job, STOPPED);
                        true
                    } else {
                        runner.run(job).await
                    };
                    drop(slot);
                    if !ok && let Some(plan) = plan {
                        failed_plans.insert(plan);
                    }
                }
                left.fetch_sub(1, Ordering::SeqCst);
            }
        });
        MachineQueue {
            jobs,
            pending,
            events,
        }
    }

    /// Queue a job; it says "queued" when another runs or waits before it.
    fn push(&self, job: Job) {
        let before = self.pending.fetch_add(1, Ordering::SeqCst);
        if before > 0 {
            let _ = self.events.send(Event::Task {
                request: job.request,
                update: RunUpdate::Queued,
            });
        }
        let request = job.request;
        if self.jobs.send(job).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            let _ = self.events.send(Event::TaskDone {
                request,
                result: Err(RunError::Failed("the engine is shutting down".into())),
            });
        }
    }
}
