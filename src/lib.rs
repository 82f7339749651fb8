//! snaptree: browse and operate VM snapshot trees on vSphere and OVHcloud VPS.

pub mod app;
pub mod cli;
pub mod config;
pub mod engine;
pub mod model;
pub mod provider;
pub mod safe;
pub mod sim;
pub mod tui;
pub mod ui;
