//! snaptree: browse and operate VM snapshot trees on vSphere, OVHcloud VPS and Proxmox VE.
//!
//! This crate is the application (the TUI and the CLI); the layers below are crates of
//! their own, re-exported here under the names the code uses: `model` and `safe`
//! (snaptree-model), `config` and `provider` (snaptree-backends), `engine`
//! (snaptree-engine) and `sim` (snaptree-sim).

pub mod app;
pub mod cli;
pub mod tui;
pub mod ui;

pub use snaptree_backends::{config, provider};
pub use snaptree_engine::engine;
pub use snaptree_model::{model, safe, say, say_json, tell};
pub use snaptree_sim::sim;
