//! Who took each snapshot (docs/report.md, "Columns": `created_by`): vCenter keeps it only
//! in its task history, so one task history collector per profile reads every successful
//! `VirtualMachine.createSnapshot` task since the oldest snapshot — a few calls per
//! profile, never one per snapshot — and each task's result names the snapshot it made.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use vim_rs::core::client::{Client, Error as VimError};
use vim_rs::mo::{TaskHistoryCollector, TaskManager};
use vim_rs::types::enums::{
    TaskFilterSpecRecursionOptionEnum, TaskFilterSpecTimeOptionEnum, TaskInfoStateEnum,
};
use vim_rs::types::structs::{
    ManagedObjectReference, TaskFilterSpec, TaskFilterSpecByEntity, TaskFilterSpecByTime, TaskInfo,
    TaskReasonUser,
};

/// Tasks read per call.
const PAGE: i32 = 1000;

/// The task of a snapshot taken: its `descriptionId`.
const CREATE_SNAPSHOT: &str = "VirtualMachine.createSnapshot";

/// Snapshot id → the user who took it, for the snapshots taken since `since` that the
/// server's history still has. A server without a task manager has none.
pub(super) async fn creators(
    client: &Arc<Client>,
    since: DateTime<Utc>,
) -> Result<HashMap<String, String>, VimError> {
    let content = client.service_content();
    let Some(manager) = content.task_manager.clone() else {
        return Ok(HashMap::new());
    };
    let filter = TaskFilterSpec {
        entity: Some(TaskFilterSpecByEntity {
            entity: content.root_folder.clone(),
            recursion: TaskFilterSpecRecursionOptionEnum::All,
        }),
        time: Some(TaskFilterSpecByTime {
            time_type: TaskFilterSpecTimeOptionEnum::QueuedTime,
            begin_time: Some(since.to_rfc3339_opts(SecondsFormat::Secs, true)),
            end_time: None,
        }),
        user_name: None,
        activation_id: None,
        state: Some(vec![TaskInfoStateEnum::Success]),
        alarm: None,
        scheduled_task: None,
        event_chain_id: None,
        tag: None,
        parent_task_key: None,
        root_task_key: None,
    };
    let collector = TaskManager::new(client.clone(), &manager.value)
        .create_collector_for_tasks(&filter)
        .await?;
    let collector = TaskHistoryCollector::new(client.clone(), &collector.value);
    let mut found = HashMap::new();
    let read = loop {
        match collector.read_next_tasks(PAGE).await {
            Ok(Some(page)) if !page.is_empty() => {
                found.extend(page.into_iter().filter_map(creator_of));
            }
            Ok(_) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // A collector left behind ends with the session anyway.
    if let Err(e) = collector.destroy_collector().await {
        tracing::debug!("destroying the task history collector: {e}");
    }
    read.map(|()| found)
}

/// The snapshot a successful take made and the user who asked for it.
fn creator_of(info: TaskInfo) -> Option<(String, String)> {
    if info.description_id != CREATE_SNAPSHOT {
        return None;
    }
    let user = info
        .reason
        .as_any_ref()
        .downcast_ref::<TaskReasonUser>()?
        .user_name
        .clone();
    let snapshot = info
        .result?
        .into_any()
        .downcast::<ManagedObjectReference>()
        .ok()?
        .value;
    Some((snapshot, user))
}
