//! A provider over the in-memory simulated estate (the demo runs on it in process).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::model::order::{Quote, Route, VpsOption};
use crate::model::{Machine, Operation, TaskStatus};
use crate::provider::{
    DownloadLink, PartialInventory, ProgressSink, Provider, ProviderError, StartedTask,
};
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

/// What the in-process estate says it is.
const SERVER: &str = "snaptree simulated estate (in process)";

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

    async fn quotes(
        &self,
        machine_id: &str,
        option: VpsOption,
    ) -> Result<Vec<Quote>, ProviderError> {
        let m = self.estate.machine(&self.profile, machine_id)?;
        Ok(crate::sim::estate::quotes(&m, option))
    }

    async fn start(&self, machine_id: &str, op: &Operation) -> Result<StartedTask, ProviderError> {
        if let Operation::Order(o) = op {
            let cart = o.quote().is_some_and(|q| q.route != Route::Legacy);
            let made = self
                .estate
                .order(&self.profile, machine_id, o.option, &o.duration, cart)?;
            let created = crate::provider::ovh::order::Created {
                order_id: made.order_id,
                url: made.url,
            };
            return Ok(StartedTask {
                note: Some(crate::provider::ovh::order::created_note(&created)),
                id: made.order_id.to_string(),
                finished: true,
            });
        }
        let id = self.estate.start(&self.profile, machine_id, op)?;
        let finished = matches!(op, Operation::Rename { .. } | Operation::Cancel { .. });
        Ok(StartedTask {
            note: None,
            id,
            finished,
        })
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

    async fn server(&self) -> Option<String> {
        Some(SERVER.into())
    }

    async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
        let machines = self.estate.machines(&self.profile)?;
        Ok(vec![
            ("server".into(), SERVER.into()),
            ("machines".into(), machines.len().to_string()),
        ])
    }
}

/// The lazy provider of the back ends, over a simulated one (a test of `provider::lazy`
/// here, where a provider to wrap exists).
#[cfg(test)]
mod lazy_tests {
    use super::*;
    use crate::model::Machine;
    use crate::provider::lazy::LazyProvider;
    use crate::sim::Estate;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn connects_on_first_use_and_again_after_a_failure() {
        let estate = Arc::new(Estate::demo());
        let attempts = Arc::new(AtomicUsize::new(0));
        let (e, a) = (estate.clone(), attempts.clone());
        let lazy = LazyProvider::new(Box::new(move || {
            let (e, a) = (e.clone(), a.clone());
            Box::pin(async move {
                // The first attempt finds the back end down.
                if a.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(ProviderError::Unreachable("connection refused".into()))
                } else {
                    Ok(Arc::new(SimProvider::new(e, "pcc")) as Arc<dyn Provider>)
                }
            })
        }));
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            0,
            "nothing before first use"
        );
        let none = |_: Vec<Machine>| {};
        assert!(matches!(
            lazy.load_inventory(&none).await,
            Err(ProviderError::Unreachable(_))
        ));
        assert_eq!(lazy.load_inventory(&none).await.unwrap().len(), 8);
        lazy.load_machine("vm-101").await.unwrap();
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            2,
            "the connection is reused"
        );
    }
}
