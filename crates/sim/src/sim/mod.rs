//! The simulated estate: profiles, machines and snapshot trees in memory with the real
//! semantics of both back ends, and tasks that take time and report progress. The demo and
//! the tests run on it; the wire simulators serve it.

pub mod estate;
pub mod ovh;
pub mod provider;
pub mod proxmox;
pub mod scenario;
mod server;
pub mod vsphere;

pub use estate::{Estate, SimFault, TaskDetail};
