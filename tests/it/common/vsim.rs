//! snaptree's vSphere simulator on the demo estate, and the real provider logged in to it.

use std::sync::Arc;
use std::time::Duration;

use snaptree::config::ProfileConfig;
use snaptree::model::ProviderKind;
use snaptree::provider::ProviderError;
use snaptree::provider::vsphere::{ConnectOptions, VsphereProvider};
use snaptree::sim::Estate;
use snaptree::sim::vsphere::{VsphereSimHandle, VsphereSimOptions, serve};

/// The demo estate with tasks of `task`, served by a simulator with `opts`.
pub async fn start(task: Duration, opts: VsphereSimOptions) -> (Arc<Estate>, VsphereSimHandle) {
    let estate = super::demo_estate(task);
    let sim = serve(opts, estate.clone()).await.expect("simulator");
    (estate, sim)
}

/// Log in to `sim` as profile `pcc`, trusting exactly its certificate.
pub async fn connect(
    sim: &VsphereSimHandle,
    user: &str,
    password: &str,
    options: ConnectOptions,
) -> Result<VsphereProvider, ProviderError> {
    let cfg = ProfileConfig {
        kind: Some(ProviderKind::Vsphere),
        url: Some(sim.url().to_string()),
        username: Some(user.into()),
        password: Some(password.into()),
        thumbprint: Some(sim.thumbprint().to_string()),
        ..ProfileConfig::default()
    };
    VsphereProvider::connect_with("pcc", &cfg, &options).await
}

/// A config file in `dir` naming the simulator as profile `pcc`, for the real binary.
pub fn binary_config(sim: &VsphereSimHandle, dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"{}\"\nusername = \"demo\"\n\
             password = \"demo\"\nthumbprint = \"{}\"\n",
            sim.url(),
            sim.thumbprint()
        ),
    )
    .expect("config");
    config
}

/// The real binary with `config` and its state in `state`, run off the async runtime (the
/// simulator serves on it meanwhile).
pub async fn run_binary(
    config: &std::path::Path,
    state: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let (config, state) = (config.to_path_buf(), state.to_path_buf());
    let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_snaptree"))
            .arg("--config")
            .arg(&config)
            .args(&args)
            .env("XDG_STATE_HOME", &state)
            .env_remove("SNAPTREE_CONFIG")
            .env_remove("NO_COLOR")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run snaptree")
    })
    .await
    .expect("the binary's task")
}
