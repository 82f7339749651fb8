//! `snaptree login PROFILE`: a consumer key for an OVH profile (docs/config.md, "Consumer key").

use std::time::{Duration, Instant};

use super::{Cli, EXIT_FAILED, EXIT_USAGE, Failure};
use crate::config::{Config, Paths, ProfileConfig};
use crate::engine::login::{OvhLogin, POLL, Polled};
use crate::model::ProviderKind;
use crate::{say, tell};

/// How long a login waits for the account owner's approval.
const WAIT: Duration = Duration::from_secs(15 * 60);

/// Request the key, print the URL and the key, and (unless `no_wait`) wait for approval.
pub async fn run(
    cli: &Cli,
    profile: &str,
    read_only: bool,
    order: bool,
    no_wait: bool,
) -> Result<(), Failure> {
    let paths = Paths::resolve(cli.config.as_deref());
    let config =
        Config::load(&paths.config).map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
    let cfg = match config.profiles.get(profile) {
        Some(p) => p.clone(),
        // With no profile configured, OVH_* and ovh.conf are the profile, as for other commands.
        None if config.profiles.is_empty() => ProfileConfig {
            kind: Some(ProviderKind::Ovh),
            ..ProfileConfig::default()
        },
        None => {
            let known: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
            return Err(Failure::new(
                EXIT_USAGE,
                format!(
                    "no profile named {profile} in {} (profiles: {})",
                    paths.config.display(),
                    known.join(", ")
                ),
            ));
        }
    };
    if cfg.kind != Some(ProviderKind::Ovh) {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "profile {profile} is not an OVH profile; snaptree login requests OVH consumer keys"
            ),
        ));
    }
    let read_only = read_only || cfg.read_only;
    if read_only && order {
        return Err(Failure::new(
            EXIT_USAGE,
            format!(
                "--order asks for rules that order (POST /order/*): not with a read-only profile or --read-only ({profile})"
            ),
        ));
    }
    let login = OvhLogin::for_profile(profile, &cfg, read_only, order)
        .map_err(|e| Failure::new(EXIT_USAGE, e))?;
    let requested = login
        .request()
        .await
        .map_err(|e| Failure::new(EXIT_FAILED, format!("profile {profile}: {e}")))?;
    tell!(
        "snaptree: profile {profile}: {} gave a consumer key that may {} ({} access rules).",
        login.base_url(),
        match (read_only, order) {
            (true, _) => "read VPSs and their snapshots, and change nothing",
            (false, false) =>
                "read VPSs, take, revert, rename, abort and delete their snapshots, and restore their backups",
            (false, true) =>
                "read VPSs, change their snapshots and backups, and order their options (orders are paid by the account, never by snaptree)",
        },
        login.rules()
    );
    tell!("Approve it as the account owner at:");
    tell!("  {}", requested.validation_url);
    say!("consumer_key = \"{}\"", requested.consumer_key.expose());
    if no_wait {
        tell!("snaptree: not waiting; the key works once approved.");
        return Ok(());
    }
    tell!(
        "snaptree: waiting for the approval (up to {} min; Ctrl-C stops waiting, the key still works once approved)…",
        WAIT.as_secs() / 60
    );
    let started = Instant::now();
    let approval = login
        .watch(&requested)
        .map_err(|e| Failure::new(EXIT_FAILED, format!("profile {profile}: {e}")))?;
    loop {
        tokio::time::sleep(POLL).await;
        match approval.poll().await {
            Ok(Polled::Approved) => {
                tell!(
                    "snaptree: approved. Put the consumer_key line above in profile {profile} (or export OVH_CONSUMER_KEY)."
                );
                return Ok(());
            }
            Ok(Polled::Waiting) => {}
            // A passing network fault: look again at the next poll.
            Ok(Polled::Passing(m)) => tracing::debug!("login poll: {m}"),
            Err(e) => {
                return Err(Failure::new(
                    EXIT_FAILED,
                    format!("profile {profile}: while waiting for the approval: {e}"),
                ));
            }
        }
        if started.elapsed() >= WAIT {
            return Err(Failure::new(
                EXIT_FAILED,
                format!(
                    "profile {profile}: the key was not approved within {} minutes; it works once approved at the URL above, or run snaptree login {profile} again",
                    WAIT.as_secs() / 60
                ),
            ));
        }
    }
}
