//! A provider over the in-memory simulated estate (the demo runs on it in process).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{DownloadLink, PartialInventory, ProgressSink, Provider, ProviderError, StartedTask};
use crate::model::{Machine, Operation, TaskStatus};
use crate::sim::Estate;

/// One profile of a simulated estate.
pub struct SimProvider {
    estate: Arc<Estate>,
    profile: String,
    seen: AtomicU64,
}

impl SimProvider {
    /// A provider for `profile` of `estate`.
    pub fn new(estate: Arc<Estate>, profile: &str) -> Self {
        let seen = AtomicU64::new(estate.version());
        SimProvider {
            estate,
            profile: profile.to_string(),
            seen,
        }
    }
}

#[async_trait]
impl Provider for SimProvider {
    async fn load_inventory(
        &self,
        _partial: PartialInventory<'_>,
    ) -> Result<Vec<Machine>, ProviderError> {
        let machines = self.estate.machines(&self.profile)?;
        Ok(machines.into_iter().map(Machine::within_depth).collect())
    }

    async fn load_machine(&self, id: &str) -> Result<Machine, ProviderError> {
        self.estate
            .machine(&self.profile, id)
            .map(Machine::within_depth)
    }

    async fn start(&self, machine_id: &str, op: &Operation) -> Result<StartedTask, ProviderError> {
        let id = self.estate.start(&self.profile, machine_id, op)?;
        let finished = matches!(op, Operation::Rename { .. } | Operation::Cancel { .. });
        Ok(StartedTask { id, finished })
    }

    async fn follow(
        &self,
        _machine_id: &str,
        task_id: &str,
        progress: ProgressSink<'_>,
    ) -> Result<TaskStatus, ProviderError> {
        let mut last: Option<TaskStatus> = None;
        loop {
            let status = self.estate.task(task_id)?;
            if last.as_ref() != Some(&status) {
                progress(&status);
            }
            if status.state.is_final() {
                return Ok(status);
            }
            last = Some(status);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn download_link(&self, machine_id: &str) -> Result<DownloadLink, ProviderError> {
        let m = self.estate.machine(&self.profile, machine_id)?;
        match m.snapshots.first() {
            Some(s) if m.snapshot_option.is_some() => Ok(DownloadLink {
                url: format!(
                    "https://snapshot-download.example.invalid/{}/{}.qcow2?token=demo",
                    m.id, s.id
                ),
                size: 10 * 1024 * 1024 * 1024,
            }),
            Some(_) => Err(ProviderError::Unsupported(
                "snapshot download exists only for OVHcloud VPSs".into(),
            )),
            None => Err(ProviderError::NotFound(format!(
                "{} has no snapshot",
                m.name
            ))),
        }
    }

    async fn wait_for_changes(&self) -> Result<Option<Vec<String>>, ProviderError> {
        loop {
            let since = self.seen.load(Ordering::Relaxed);
            let (version, ids) = self.estate.changes_since(&self.profile, since);
            self.seen.store(version, Ordering::Relaxed);
            if !ids.is_empty() {
                return Ok(Some(ids));
            }
            self.estate.wait_for_change().await;
        }
    }

    async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
        let machines = self.estate.machines(&self.profile)?;
        Ok(vec![
            (
                "server".into(),
                "snaptree simulated estate (in process)".into(),
            ),
            ("machines".into(), machines.len().to_string()),
        ])
    }
}
