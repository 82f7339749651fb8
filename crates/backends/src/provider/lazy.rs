//! A provider that connects on first use and again after the connection is lost, so a
//! profile whose back end is down loads (and fails, and retries) on its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::{DownloadLink, PartialInventory, ProgressSink, Provider, ProviderError, StartedTask};
use crate::model::{Machine, Operation, TaskStatus};

/// Makes a connected provider.
pub type Connect = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Arc<dyn Provider>, ProviderError>> + Send>>
        + Send
        + Sync,
>;

/// Connects lazily; forgets the connection when the back end becomes unreachable.
pub struct LazyProvider {
    connect: Connect,
    live: Mutex<Option<Arc<dyn Provider>>>,
}

impl LazyProvider {
    /// A provider that calls `connect` when it first needs a connection.
    pub fn new(connect: Connect) -> Self {
        LazyProvider {
            connect,
            live: Mutex::new(None),
        }
    }

    async fn get(&self) -> Result<Arc<dyn Provider>, ProviderError> {
        let mut live = self.live.lock().await;
        if let Some(p) = live.as_ref() {
            return Ok(p.clone());
        }
        let p = (self.connect)().await?;
        *live = Some(p.clone());
        Ok(p)
    }

    /// Pass a result through, dropping the connection if the back end is gone.
    async fn watch<T>(&self, r: Result<T, ProviderError>) -> Result<T, ProviderError> {
        if let Err(ProviderError::Unreachable(_) | ProviderError::Auth(_)) = &r {
            *self.live.lock().await = None;
        }
        r
    }
}

#[async_trait]
impl Provider for LazyProvider {
    async fn load_inventory(
        &self,
        partial: PartialInventory<'_>,
    ) -> Result<Vec<Machine>, ProviderError> {
        let p = self.get().await?;
        let r = p.load_inventory(partial).await;
        self.watch(r).await
    }

    async fn each_machine(&self, each: PartialInventory<'_>) -> Result<(), ProviderError> {
        let p = self.get().await?;
        let r = p.each_machine(each).await;
        self.watch(r).await
    }

    async fn load_machine(&self, id: &str) -> Result<Machine, ProviderError> {
        let p = self.get().await?;
        let r = p.load_machine(id).await;
        self.watch(r).await
    }

    async fn start(&self, machine_id: &str, op: &Operation) -> Result<StartedTask, ProviderError> {
        let p = self.get().await?;
        let r = p.start(machine_id, op).await;
        self.watch(r).await
    }

    async fn follow(
        &self,
        machine_id: &str,
        task_id: &str,
        progress: ProgressSink<'_>,
    ) -> Result<TaskStatus, ProviderError> {
        let p = self.get().await?;
        let r = p.follow(machine_id, task_id, progress).await;
        self.watch(r).await
    }

    async fn download_link(&self, machine_id: &str) -> Result<DownloadLink, ProviderError> {
        let p = self.get().await?;
        let r = p.download_link(machine_id).await;
        self.watch(r).await
    }

    async fn close(&self) {
        // Only an existing connection is closed; one being made (the lock is held) is not
        // waited for: the program is exiting.
        let live = match self.live.try_lock() {
            Ok(mut live) => live.take(),
            Err(_) => None,
        };
        if let Some(p) = live {
            p.close().await;
        }
    }

    async fn wait_for_changes(&self) -> Result<Option<Vec<String>>, ProviderError> {
        let p = self.get().await?;
        let r = p.wait_for_changes().await;
        self.watch(r).await
    }

    async fn snapshot_creators(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<std::collections::HashMap<String, String>, ProviderError> {
        let p = self.get().await?;
        let r = p.snapshot_creators(since).await;
        self.watch(r).await
    }

    async fn server(&self) -> Option<String> {
        // Asked of the live connection only: the question never makes one.
        let live = self.live.lock().await.clone();
        live?.server().await
    }

    async fn check(&self) -> Result<Vec<(String, String)>, ProviderError> {
        let p = self.get().await?;
        let r = p.check().await;
        self.watch(r).await
    }
}
