//! snaptree's simulators: one simulated estate (`sim::Estate`) served by a vSphere API
//! server and an OVHcloud API server on loopback, and a provider over the estate in process
//! (`sim::provider`). Used by `snaptree demo`, `snaptree sim` and the tests; the product's
//! other layers do not depend on it.

pub mod sim;

pub use snaptree_backends::{config, model, provider, safe};
