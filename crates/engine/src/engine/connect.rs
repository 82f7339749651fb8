//! Profiles made from their configuration: the only place a back end's client is built.
//! The CLI and the TUI get an [`Engine`](super::Engine) of such profiles and reach the back
//! ends through it alone.

use std::sync::Arc;
use std::time::Duration;

use super::Profile;
use super::guest::SshCheck;
use crate::config::ProfileConfig;
use crate::model::ProviderKind;
use crate::provider::Provider;
use crate::provider::lazy::LazyProvider;
use crate::provider::ovh::OvhProvider;
use crate::provider::ovh::credentials::Sources;
use crate::provider::proxmox::ProxmoxProvider;
use crate::provider::vsphere::{ConnectOptions, VsphereProvider};

/// A configured profile, its vSphere server reached on first use (an unreachable vCenter
/// fails, and retries, on its own); an OVH profile's credentials are read now. `interactive`:
/// a session someone watches (the TUI). Errors are the sentence to show (a usage error).
pub fn configured(name: &str, cfg: &ProfileConfig, interactive: bool) -> Result<Profile, String> {
    let kind = cfg.kind.unwrap_or(ProviderKind::Vsphere);
    let guest = SshCheck::from_profile(name, cfg)?;
    let provider: Arc<dyn Provider> = match kind {
        ProviderKind::Proxmox => Arc::new(ProxmoxProvider::from_profile(name, cfg)?),
        ProviderKind::Ovh => Arc::new(OvhProvider::from_profile(name, cfg)?),
        ProviderKind::Vsphere => {
            let (name, cfg) = (name.to_string(), cfg.clone());
            let options = ConnectOptions {
                interactive,
                ..ConnectOptions::default()
            };
            Arc::new(LazyProvider::new(Box::new(move || {
                let (name, cfg, options) = (name.clone(), cfg.clone(), options.clone());
                Box::pin(async move {
                    VsphereProvider::connect_with(&name, &cfg, &options)
                        .await
                        .map(|p| Arc::new(p) as Arc<dyn Provider>)
                })
            })))
        }
    };
    Ok(Profile::new(name, kind, cfg.read_only, provider, guest))
}

/// A profile connected now, with only `cfg` as its credentials (no environment, no
/// `ovh.conf`): the demo's, whose servers are up. An OVH profile is polled every
/// `ovh_poll`, and a Proxmox profile's tasks too.
pub async fn connected(
    name: &str,
    cfg: &ProfileConfig,
    interactive: bool,
    ovh_poll: Duration,
) -> Result<Profile, String> {
    let kind = cfg.kind.unwrap_or(ProviderKind::Vsphere);
    let provider: Arc<dyn Provider> = match kind {
        ProviderKind::Vsphere => {
            let options = ConnectOptions {
                interactive,
                ..ConnectOptions::default()
            };
            let provider = VsphereProvider::connect_with(name, cfg, &options)
                .await
                .map_err(|e| e.to_string())?;
            Arc::new(provider)
        }
        ProviderKind::Ovh => {
            let provider = OvhProvider::from_profile_with(name, cfg, &Sources::default())?;
            Arc::new(provider.with_poll_interval(ovh_poll))
        }
        ProviderKind::Proxmox => {
            Arc::new(ProxmoxProvider::from_profile(name, cfg)?.with_poll_interval(ovh_poll))
        }
    };
    Ok(Profile::new(name, kind, cfg.read_only, provider, None))
}
