//! Provider-neutral domain types: machines, snapshot trees, operations, tasks and health.
//! Pure data and pure functions; no I/O.

pub mod address;
pub mod backups;
pub mod change;
pub mod check;
pub mod cleanup;
pub mod consistency;
pub mod download;
pub mod filter;
pub mod flow;
pub mod guest;
pub mod health;
pub mod machine;
pub mod operation;
pub mod order;
pub mod plan;
pub mod report;
pub mod retention;
pub mod storage;
pub mod task;

pub use address::{AddressError, Candidate, resolve_machine, resolve_snapshot};
pub use health::{HealthThresholds, Warning, machine_warnings, parse_duration};
pub use machine::{
    Capabilities, GuestTools, Machine, MachineRef, PowerState, ProviderKind, Snapshot,
};
pub use operation::{BackupOp, ExpectedView, Operation};
pub use task::{TaskState, TaskStatus};
