//! snaptree's configuration and its back ends: the vSphere client (SOAP and VI/JSON) and
//! the OVHcloud API client, behind the `provider::Provider` trait. Above the model; below
//! the engine, which is the only layer that holds a provider.

pub mod config;
pub mod provider;

pub use snaptree_model::{model, safe};
