//! Back ends behind one trait. Wire types stay inside each provider; everything above sees
//! only `model` types and typed `ProviderError`s.

pub mod lazy;
pub mod ovh;
pub mod proxmox;
pub mod vsphere;

use async_trait::async_trait;

use crate::model::{Machine, Operation, TaskStatus};

/// Why a back-end call failed, in terms the UI can explain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Credentials refused or session expired.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The user lacks a privilege or access rule.
    #[error("permission denied: {0}")]
    Permission(String),
    /// The machine or snapshot does not exist (any more).
    #[error("not found: {0}")]
    NotFound(String),
    /// The machine is in a state that forbids the operation.
    #[error("{0}")]
    InvalidState(String),
    /// Another task is already running on the machine.
    #[error("another task is already in progress: {0}")]
    Busy(String),
    /// The back end does not implement this call or feature.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The network or the server failed.
    #[error("cannot reach the back end: {0}")]
    Unreachable(String),
    /// Any other error the back end reported, verbatim.
    #[error("{0}")]
    Backend(String),
}

/// A task started on the back end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedTask {
    /// Back-end task id (synchronous calls get a synthetic finished id).
    pub id: String,
    /// True when the call completed synchronously (e.g. RenameSnapshot).
    pub finished: bool,
    /// What the operator should know about how it was started (a take whose quiesce time
    /// limit the server could not apply).
    pub note: Option<String>,
}

/// A VPS snapshot download link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadLink {
    /// Temporary URL.
    pub url: String,
    /// Size in bytes.
    pub size: u64,
}

/// Called with partial inventories while a listing is still running.
pub type PartialInventory<'a> = &'a (dyn Fn(Vec<Machine>) + Send + Sync);

/// Called with each new status while a task is followed.
pub type ProgressSink<'a> = &'a (dyn Fn(&TaskStatus) + Send + Sync);

/// Follow a task whose status is read by `read` every `every` until it ends, reporting
/// each new status once. `read` is told whether the task was seen before: a back end that
/// forgets finished tasks (OVH) answers for one it saw running.
pub async fn poll_task<F, Fut>(
    every: std::time::Duration,
    progress: ProgressSink<'_>,
    mut read: F,
) -> Result<TaskStatus, ProviderError>
where
    F: FnMut(bool) -> Fut,
    Fut: std::future::Future<Output = Result<TaskStatus, ProviderError>>,
{
    let mut last: Option<TaskStatus> = None;
    loop {
        let status = read(last.is_some()).await?;
        if last.as_ref() != Some(&status) {
            progress(&status);
        }
        if status.state.is_final() {
            return Ok(status);
        }
        last = Some(status);
        tokio::time::sleep(every).await;
    }
}

/// A read made again while it fails for the network (`Unreachable`: no answer, or none in
/// time), up to `attempts` in all, `every` apart. Following a task is a read: one lost
/// answer is not the task's end, and a change must not be said "unknown" for it.
pub async fn read_again<F, Fut, T>(
    attempts: usize,
    every: std::time::Duration,
    mut read: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut left = attempts.max(1);
    loop {
        left -= 1;
        match read().await {
            Err(ProviderError::Unreachable(_)) if left > 0 => tokio::time::sleep(every).await,
            other => return other,
        }
    }
}

/// One back end: a vSphere endpoint, an OVH account, a Proxmox VE cluster, or the simulated
/// estate.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Load every machine with its snapshot tree. May report partial results first.
    async fn load_inventory(
        &self,
        partial: PartialInventory<'_>,
    ) -> Result<Vec<Machine>, ProviderError>;

    /// Every machine with its snapshot tree, handed to `each` a chunk at a time as it is
    /// read, for a command that keeps only what it prints: memory is bounded by a chunk,
    /// not by the estate. Each machine comes once. Back ends that read in one piece hand
    /// over one chunk. What only a change reads may be left out (vSphere: a VM without
    /// snapshots comes without its capability flags and configured memory, which then read
    /// as the defaults): a change finds its machine with `load_inventory`/`load_machine`.
    async fn each_machine(&self, each: PartialInventory<'_>) -> Result<(), ProviderError> {
        each(self.load_inventory(&|_| {}).await?);
        Ok(())
    }

    /// Re-read one machine with its tree (the stale-view check uses this).
    async fn load_machine(&self, id: &str) -> Result<Machine, ProviderError>;

    /// Start an operation on a machine. Never retried by anyone.
    async fn start(&self, machine_id: &str, op: &Operation) -> Result<StartedTask, ProviderError>;

    /// Follow a task to its end, reporting each change; no time budget.
    async fn follow(
        &self,
        machine_id: &str,
        task_id: &str,
        progress: ProgressSink<'_>,
    ) -> Result<TaskStatus, ProviderError>;

    /// What ordering `option` for VPS `machine_id` would cost, per duration allowed.
    async fn quotes(
        &self,
        machine_id: &str,
        option: crate::model::order::VpsOption,
    ) -> Result<Vec<crate::model::order::Quote>, ProviderError> {
        let _ = (machine_id, option);
        Err(ProviderError::Unsupported(
            "options are ordered for OVHcloud VPSs".into(),
        ))
    }

    /// A download link for a VPS snapshot.
    async fn download_link(&self, machine_id: &str) -> Result<DownloadLink, ProviderError> {
        let _ = machine_id;
        Err(ProviderError::Unsupported(
            "snapshot download exists only for OVHcloud VPSs".into(),
        ))
    }

    /// Wait until something changed on the back end (live updates). Returns the ids of
    /// machines that changed (none: anything may have changed, e.g. a session renewed after
    /// the server lost it, so everything is to be read again), or `None` when the provider
    /// has no change feed.
    async fn wait_for_changes(&self) -> Result<Option<Vec<String>>, ProviderError> {
        Ok(None)
    }

    /// Who took each snapshot, from the back end's task history since `since` (a few calls
    /// for the whole profile): snapshot id → user. Empty where the back end keeps none.
    async fn snapshot_creators(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<std::collections::HashMap<String, String>, ProviderError> {
        let _ = since;
        Ok(std::collections::HashMap::new())
    }

    /// Report what the back end is, for `config check`.
    async fn check(&self) -> Result<Vec<(String, String)>, ProviderError>;

    /// What the server says it is (its product and version, e.g. "VMware vCenter Server
    /// 8.0.3 build-24022515"), as read at the last login; `None` where the back end does
    /// not say or no login was made. Foreign text: made safe where shown.
    async fn server(&self) -> Option<String> {
        None
    }

    /// End the session with the back end (log out) before the program exits. Back ends
    /// without sessions have nothing to do.
    async fn close(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_lost_to_the_network_is_made_again_a_refusal_is_not() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let flaky = || async {
            match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 | 1 => Err(ProviderError::Unreachable("timeout".into())),
                _ => Ok(7),
            }
        };
        let every = std::time::Duration::from_millis(1);
        assert_eq!(read_again(3, every, flaky).await, Ok(7));
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        assert!(matches!(
            read_again(2, every, flaky).await,
            Err(ProviderError::Unreachable(_))
        ));
        // A server's answer (here a refusal) is not asked again.
        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let refused = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<u8, _>(ProviderError::Permission("no".into()))
        };
        assert!(read_again(5, every, refused).await.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
