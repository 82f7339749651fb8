//! Building a session: the demo estate behind its simulators, or the configured profiles.

use crate::{say, tell};
use std::sync::Arc;
use std::time::Duration;

use super::{Cli, Cmd, EXIT_FAILED, EXIT_USAGE, Failure};
use crate::config::{Config, ConfirmMode, Paths, ProfileConfig, UiConfig};
use crate::engine::audit::AuditLog;
use crate::engine::{Engine, Profile, connect};
use crate::model::{HealthThresholds, ProviderKind, parse_duration};
use crate::sim::Estate;
use crate::sim::ovh::{OvhSimHandle, OvhSimOptions};
use crate::sim::proxmox::{ProxmoxSimHandle, ProxmoxSimOptions};
use crate::sim::vsphere::{VsphereSimHandle, VsphereSimOptions};

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
    /// OVH API simulators kept alive for the demo.
    pub simulators: Vec<OvhSimHandle>,
    /// vSphere simulators kept alive for the demo.
    pub vsphere_simulators: Vec<VsphereSimHandle>,
    /// Proxmox VE simulators kept alive for the demo.
    pub proxmox_simulators: Vec<ProxmoxSimHandle>,
}

/// True when this command line runs on the demo estate.
pub fn is_demo(cli: &Cli) -> bool {
    cli.demo || matches!(cli.command, Some(Cmd::Demo))
}

/// True when this command line opens the TUI (no command, or `demo`).
pub fn runs_tui(cli: &Cli) -> bool {
    cli.command.is_none() || matches!(cli.command, Some(Cmd::Demo))
}

/// Build the session for a command line.
pub async fn session(cli: &Cli) -> Result<Session, Failure> {
    let mut paths = Paths::resolve(cli.config.as_deref());
    if is_demo(cli) {
        // `config check` and `info` say where the config would be, and that it is not used.
        paths.config_source = "not read: the demo";
    }
    let mut config = if is_demo(cli) {
        Config::default()
    } else {
        Config::load(&paths.config).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?
    };
    // No profile configured: govc's environment is a vSphere profile, as OVH_* is for OVH.
    if !is_demo(cli)
        && config.profiles.is_empty()
        && let Some(p) = crate::config::govc_profile(&|k| std::env::var(k).ok())
    {
        config.profiles.insert("govc".into(), p);
    }
    let ui = config.ui.clone();
    let poll = parse_duration(&ui.poll_interval)
        .ok()
        .and_then(|d| d.to_std().ok())
        .unwrap_or(Duration::from_secs(30));
    let (profiles, simulators, vsphere_simulators, proxmox_simulators) = if is_demo(cli) {
        demo_profiles(cli).await?
    } else {
        if let Some(wanted) = cli.profiles.first().filter(|_| config.profiles.is_empty()) {
            // `--profile NAME` on a first run: where a profile goes, not only "none".
            return Err(Failure::new(
                EXIT_USAGE,
                format!("no profile is named \"{wanted}\"; {}", no_profile(&paths)),
            ));
        }
        (
            configured_profiles(cli, &config)?,
            Vec::new(),
            Vec::new(),
            Vec::new(),
        )
    };
    let engine = Engine::new(
        profiles,
        cli.read_only,
        AuditLog::new(Some(paths.audit.clone())),
        poll,
    )
    .with_runs_per_profile(config.cleanup.concurrency);
    Ok(Session {
        engine: Arc::new(engine),
        thresholds: ui.thresholds(),
        confirm: ui.confirm,
        paths,
        ui,
        config,
        simulators,
        vsphere_simulators,
        proxmox_simulators,
    })
}

/// The demo profiles and the simulators they talk to.
type Demo = (
    Vec<Profile>,
    Vec<OvhSimHandle>,
    Vec<VsphereSimHandle>,
    Vec<ProxmoxSimHandle>,
);

/// The demo: one estate served by both simulators on loopback, reached through the real
/// providers, so everything the user sees goes through the client code.
async fn demo_profiles(cli: &Cli) -> Result<Demo, Failure> {
    let estate = Arc::new(Estate::demo());
    // Checked against every demo profile, not only the selected ones.
    let known: Vec<String> = estate.profiles().into_iter().map(|(n, _)| n).collect();
    check_profile_names(cli, &known)?;
    let mut profiles = Vec::new();
    let mut simulators = Vec::new();
    let mut vsphere_simulators = Vec::new();
    let mut proxmox_simulators = Vec::new();
    for (name, kind) in estate.profiles() {
        if !cli.profiles.is_empty() && !cli.profiles.contains(&name) {
            continue;
        }
        let cfg = match kind {
            ProviderKind::Vsphere => {
                let opts = VsphereSimOptions {
                    profile: Some(name.clone()),
                    ..VsphereSimOptions::default()
                };
                let sim = crate::sim::vsphere::serve(opts.clone(), estate.clone())
                    .await
                    .map_err(|e| {
                        Failure::new(
                            EXIT_FAILED,
                            format!("cannot start the vSphere simulator: {e}"),
                        )
                    })?;
                // Trust exactly the simulator's certificate, not any.
                let cfg = ProfileConfig {
                    kind: Some(ProviderKind::Vsphere),
                    url: Some(sim.url().to_string()),
                    username: Some(opts.username.clone()),
                    password: Some(opts.password.clone()),
                    thumbprint: Some(sim.thumbprint().to_string()),
                    ..ProfileConfig::default()
                };
                vsphere_simulators.push(sim);
                cfg
            }
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
                cfg
            }
            ProviderKind::Proxmox => {
                let opts = ProxmoxSimOptions {
                    profile: Some(name.clone()),
                    ..ProxmoxSimOptions::default()
                };
                let sim = crate::sim::proxmox::serve(opts.clone(), estate.clone())
                    .await
                    .map_err(|e| {
                        Failure::new(
                            EXIT_FAILED,
                            format!("cannot start the Proxmox simulator: {e}"),
                        )
                    })?;
                // Trust exactly the simulator's certificate, not any.
                let cfg = ProfileConfig {
                    kind: Some(ProviderKind::Proxmox),
                    url: Some(sim.url().to_string()),
                    token_id: Some(opts.token_id.clone()),
                    token_secret: Some(opts.token_secret.clone()),
                    thumbprint: Some(sim.thumbprint().to_string()),
                    ..ProfileConfig::default()
                };
                proxmox_simulators.push(sim);
                cfg
            }
        };
        // Each profile through its real client, on loopback (a vSphere one in VI/JSON, as
        // a vCenter 8.0U1+ is spoken to).
        let profile = connect::connected(&name, &cfg, runs_tui(cli), Duration::from_millis(500))
            .await
            .map_err(|e| Failure::new(EXIT_FAILED, format!("demo: {e}")))?;
        profiles.push(profile);
    }
    Ok((profiles, simulators, vsphere_simulators, proxmox_simulators))
}

fn check_profile_names(cli: &Cli, known: &[String]) -> Result<(), Failure> {
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

fn configured_profiles(cli: &Cli, config: &Config) -> Result<Vec<Profile>, Failure> {
    let known: Vec<String> = config.profiles.keys().cloned().collect();
    check_profile_names(cli, &known)?;
    config
        .profiles
        .iter()
        .filter(|(name, _)| cli.profiles.is_empty() || cli.profiles.contains(name))
        .map(|(name, p)| {
            connect::configured(name, p, runs_tui(cli)).map_err(|e| Failure::new(EXIT_USAGE, e))
        })
        .collect()
}

/// The sentence for a command that needs a profile when none is configured: where the
/// config goes and the other ways in.
pub fn no_profile(paths: &Paths) -> String {
    format!(
        "no profile is configured: write one in {} (`snaptree config init` writes a commented \
         template there; see \"Configuration\" in the README), \
         or set GOVC_URL for a vCenter, or run `snaptree login PROFILE` for an OVH consumer key; \
         `snaptree demo` shows snaptree on a simulated estate",
        paths.config.display()
    )
}

/// `config init`: the commented template (`config::TEMPLATE`) written where the config
/// file belongs, readable by its owner only (a profile holds secrets), in a directory made
/// for it (0700) when there is none. Never over an existing file, nor through a link
/// planted in its place: that is refused (exit 2) and says where the file is. Prints the
/// path on stdout.
pub fn config_init(cli: &Cli) -> Result<(), Failure> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let path = Paths::resolve(cli.config.as_deref()).config;
    let shown = path.display().to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                Failure::new(EXIT_FAILED, format!("cannot make {}: {e}", dir.display()))
            })?;
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| {
            // The file is ours (made just now): one cut short (a full disk) is removed, so
            // the next run does not find it "already there".
            f.write_all(crate::config::TEMPLATE.as_bytes())
                .and_then(|()| f.sync_all())
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(&path);
                })
        });
    match written {
        Ok(()) => {
            say!("{shown}");
            tell!(
                "snaptree: wrote a commented template to {shown}: uncomment a profile, fill it in, then run `snaptree config check`"
            );
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Failure::new(
            EXIT_USAGE,
            format!(
                "{shown} already exists; config init writes only a new file (edit that one, or move it away first)"
            ),
        )),
        Err(e) => Err(Failure::new(
            EXIT_FAILED,
            format!("cannot write {shown}: {e}"),
        )),
    }
}

/// `snaptree config check`: each profile's credentials and reachability, as text or (with
/// `--json`) one document: `{"config", "config_source", "profiles": [{"name", "kind",
/// "read_only", "ok", "checks": [{"name", "value"}], "warnings", "guest_check", "error"}],
/// "errors": [{"profile", "error"}]}`.
pub async fn config_check(s: &Session, as_json: bool) -> Result<(), Failure> {
    if s.engine.profiles().is_empty() {
        return Err(Failure::new(EXIT_USAGE, no_profile(&s.paths)));
    }
    if !as_json {
        say!(
            "config: {} ({})",
            s.paths.config.display(),
            s.paths.config_source
        );
    }
    let mut failed = Vec::new();
    let mut profiles = Vec::new();
    for p in s.engine.profiles() {
        if !as_json {
            say!(
                "[{}] {}{}",
                p.name,
                p.kind.as_str(),
                if p.read_only { " (read-only)" } else { "" }
            );
        }
        let mut warnings = Vec::new();
        if let Some(cfg) = s.config.profiles.get(&p.name)
            && cfg.password.is_some()
        {
            warnings.push(
                "the password is in the config file; prefer password_env or password_command",
            );
        }
        for w in &warnings {
            if !as_json {
                say!("  warning: {w}");
            }
        }
        let guest = p.guest.as_ref().map(|g| g.summary());
        if let Some(g) = guest.as_ref().filter(|_| !as_json) {
            say!("  {g}");
        }
        let (checks, error) = match p.check().await {
            Ok(lines) => (lines, None),
            Err(e) => {
                failed.push((p.name.clone(), e.to_string()));
                (Vec::new(), Some(e.to_string()))
            }
        };
        if !as_json {
            for (k, v) in &checks {
                say!("  {k}: {v}");
            }
            match &error {
                None => say!("  ok"),
                Some(e) => say!("  error: {e}"),
            }
        }
        profiles.push(serde_json::json!({
            "name": p.name,
            "kind": p.kind.as_str(),
            "read_only": p.read_only,
            "ok": error.is_none(),
            "checks": checks
                .iter()
                .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
                .collect::<Vec<_>>(),
            "warnings": warnings,
            "guest_check": guest,
            "error": error,
        }));
    }
    if as_json {
        crate::say_json!(serde_json::json!({
            "config": s.paths.config,
            "config_source": s.paths.config_source,
            "profiles": profiles,
            "errors": super::output::errors_json(&failed),
        }));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
        Err(Failure::new(
            EXIT_FAILED,
            format!("config check failed for profile(s): {}", names.join(", ")),
        ))
    }
}
