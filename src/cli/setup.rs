//! Building a session: the demo estate behind its simulators, or the configured profiles.

use std::sync::Arc;
use std::time::Duration;

use super::{Cli, Cmd, EXIT_FAILED, EXIT_USAGE, Failure};
use crate::config::{Config, ConfirmMode, Paths, ProfileConfig, UiConfig};
use crate::engine::audit::AuditLog;
use crate::engine::{Engine, Profile};
use crate::model::{HealthThresholds, ProviderKind, parse_duration};
use crate::provider::Provider;
use crate::provider::ovh::OvhProvider;
use crate::provider::sim::SimProvider;
use crate::sim::Estate;
use crate::sim::ovh::{OvhSimHandle, OvhSimOptions};

/// Everything a command or the TUI needs.
pub struct Session {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Paths in use.
    pub paths: Paths,
    /// The `[ui]` settings.
    pub ui: UiConfig,
    /// Health thresholds.
    pub thresholds: HealthThresholds,
    /// Confirmation style.
    pub confirm: ConfirmMode,
    /// The configuration as loaded.
    pub config: Config,
    /// Simulators kept alive for the demo.
    pub simulators: Vec<OvhSimHandle>,
}

/// True when this command line runs on the demo estate.
pub fn is_demo(cli: &Cli) -> bool {
    cli.demo || matches!(cli.command, Some(Cmd::Demo))
}

/// Build the session for a command line.
pub async fn session(cli: &Cli) -> Result<Session, Failure> {
    let paths = Paths::resolve(cli.config.as_deref());
    let config = if is_demo(cli) {
        Config::default()
    } else {
        Config::load(&paths.config).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?
    };
    let ui = config.ui.clone();
    let poll = parse_duration(&ui.poll_interval)
        .ok()
        .and_then(|d| d.to_std().ok())
        .unwrap_or(Duration::from_secs(30));
    let (profiles, simulators) = if is_demo(cli) {
        demo_profiles(cli).await?
    } else {
        (configured_profiles(cli, &config)?, Vec::new())
    };
    let engine = Engine::new(
        profiles,
        cli.read_only,
        AuditLog::new(Some(paths.audit.clone())),
        poll,
    );
    Ok(Session {
        engine: Arc::new(engine),
        thresholds: ui.thresholds(),
        confirm: ui.confirm,
        paths,
        ui,
        config,
        simulators,
    })
}

/// The demo: one estate; OVH through its API simulator on loopback, vSphere in process.
async fn demo_profiles(cli: &Cli) -> Result<(Vec<Profile>, Vec<OvhSimHandle>), Failure> {
    let estate = Arc::new(Estate::demo());
    // Checked against every demo profile, not only the selected ones.
    check_profile_names(cli, estate.profiles().into_iter().map(|(n, _)| n).collect())?;
    let mut profiles = Vec::new();
    let mut simulators = Vec::new();
    for (name, kind) in estate.profiles() {
        if !cli.profiles.is_empty() && !cli.profiles.contains(&name) {
            continue;
        }
        let provider: Arc<dyn Provider> = match kind {
            ProviderKind::Vsphere => Arc::new(SimProvider::new(estate.clone(), &name)),
            ProviderKind::Ovh => {
                let opts = OvhSimOptions {
                    profile: Some(name.clone()),
                    ..OvhSimOptions::default()
                };
                let sim = crate::sim::ovh::serve(opts.clone(), estate.clone())
                    .await
                    .map_err(|e| {
                        Failure::new(EXIT_FAILED, format!("cannot start the OVH simulator: {e}"))
                    })?;
                let cfg = ProfileConfig {
                    kind: Some(ProviderKind::Ovh),
                    endpoint: Some(sim.base_url().to_string()),
                    application_key: Some(opts.application_key.clone()),
                    application_secret: Some(opts.application_secret.clone()),
                    consumer_key: Some(opts.consumer_key.clone()),
                    ..ProfileConfig::default()
                };
                simulators.push(sim);
                let provider = OvhProvider::from_profile_with(
                    &name,
                    &cfg,
                    &crate::provider::ovh::credentials::Sources::default(),
                )
                .map_err(|e| Failure::new(EXIT_FAILED, e))?;
                Arc::new(provider.with_poll_interval(Duration::from_millis(500)))
            }
        };
        profiles.push(Profile {
            name,
            kind,
            read_only: false,
            provider,
        });
    }
    Ok((profiles, simulators))
}

fn check_profile_names(cli: &Cli, known: Vec<String>) -> Result<(), Failure> {
    for wanted in &cli.profiles {
        if !known.contains(wanted) {
            return Err(Failure::new(
                EXIT_USAGE,
                format!(
                    "no profile is named \"{wanted}\"; known profiles: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// A provider that cannot run, saying why in every call.
struct Unavailable(String);

#[async_trait::async_trait]
impl Provider for Unavailable {
    async fn load_inventory(
        &self,
        _partial: crate::provider::PartialInventory<'_>,
    ) -> Result<Vec<crate::model::Machine>, crate::provider::ProviderError> {
        Err(crate::provider::ProviderError::Unsupported(self.0.clone()))
    }
    async fn load_machine(
        &self,
        _id: &str,
    ) -> Result<crate::model::Machine, crate::provider::ProviderError> {
        Err(crate::provider::ProviderError::Unsupported(self.0.clone()))
    }
    async fn start(
        &self,
        _machine_id: &str,
        _op: &crate::model::Operation,
    ) -> Result<crate::provider::StartedTask, crate::provider::ProviderError> {
        Err(crate::provider::ProviderError::Unsupported(self.0.clone()))
    }
    async fn follow(
        &self,
        _machine_id: &str,
        _task_id: &str,
        _progress: crate::provider::ProgressSink<'_>,
    ) -> Result<crate::model::TaskStatus, crate::provider::ProviderError> {
        Err(crate::provider::ProviderError::Unsupported(self.0.clone()))
    }
    async fn check(&self) -> Result<Vec<(String, String)>, crate::provider::ProviderError> {
        Err(crate::provider::ProviderError::Unsupported(self.0.clone()))
    }
}

fn configured_profiles(cli: &Cli, config: &Config) -> Result<Vec<Profile>, Failure> {
    check_profile_names(cli, config.profiles.keys().cloned().collect())?;
    let mut out = Vec::new();
    for (name, p) in &config.profiles {
        if !cli.profiles.is_empty() && !cli.profiles.contains(name) {
            continue;
        }
        let kind = p.kind.unwrap_or(ProviderKind::Vsphere);
        let provider: Arc<dyn Provider> = match kind {
            ProviderKind::Ovh => match OvhProvider::from_profile(name, p) {
                Ok(provider) => Arc::new(provider),
                Err(e) => return Err(Failure::new(EXIT_USAGE, e)),
            },
            ProviderKind::Vsphere => Arc::new(Unavailable(
                "this build of snaptree has no vSphere back end yet".into(),
            )),
        };
        out.push(Profile {
            name: name.clone(),
            kind,
            read_only: p.read_only,
            provider,
        });
    }
    Ok(out)
}

/// `snaptree config check`: each profile's credentials and reachability.
pub async fn config_check(cli: &Cli, s: &Session) -> Result<(), Failure> {
    println!(
        "config: {} ({})",
        s.paths.config.display(),
        s.paths.config_source
    );
    if s.engine.profiles().is_empty() {
        println!("no profiles configured");
        return Ok(());
    }
    let mut failed = Vec::new();
    for p in s.engine.profiles() {
        println!(
            "[{}] {}{}",
            p.name,
            p.kind.as_str(),
            if p.read_only { " (read-only)" } else { "" }
        );
        if let Some(cfg) = s.config.profiles.get(&p.name)
            && cfg.password.is_some()
        {
            println!(
                "  warning: the password is in the config file; prefer password_env or password_command"
            );
        }
        match p.provider.check().await {
            Ok(lines) => {
                for (k, v) in lines {
                    println!("  {k}: {v}");
                }
                println!("  ok");
            }
            Err(e) => {
                println!("  error: {e}");
                failed.push(p.name.clone());
            }
        }
    }
    let _ = cli;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            EXIT_FAILED,
            format!("config check failed for profile(s): {}", failed.join(", ")),
        ))
    }
}
