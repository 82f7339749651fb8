//! Task status as reported by a back end.

use serde::{Deserialize, Serialize};

/// Where a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting to start.
    Queued,
    /// In progress.
    Running,
    /// Finished well.
    Success,
    /// Failed.
    Error,
    /// Cancelled before finishing.
    Cancelled,
}

impl TaskState {
    /// True once the task will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Error | TaskState::Cancelled
        )
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Error => "error",
            TaskState::Cancelled => "cancelled",
        }
    }
}

/// A snapshot of a task's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// Back-end task id.
    pub id: String,
    /// State.
    pub state: TaskState,
    /// Percentage, when the back end gives one.
    pub progress: Option<u8>,
    /// The back end's error text when it failed.
    pub message: Option<String>,
    /// Whether `CancelTask`/abort applies now.
    pub cancelable: bool,
}
