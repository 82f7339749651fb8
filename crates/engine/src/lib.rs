//! snaptree's engine, the only door to the back ends: profiles connected and logged in,
//! inventories read, every change re-checked, audited before it is sent, and run through
//! the one scheduler.

pub mod engine;

pub use snaptree_backends::{config, model, provider, safe};
