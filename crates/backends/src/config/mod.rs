//! Configuration: TOML as docs/config.md describes it, defaults embedded from `assets/`,
//! secrets resolved from the environment or a command (never logged), paths from
//! `directories`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::Deserialize;

pub mod endpoint;

use crate::model::{HealthThresholds, ProviderKind, parse_duration};

/// The built-in defaults, embedded from `assets/default-config.toml`.
pub const DEFAULTS: &str = include_str!("../../assets/default-config.toml");

/// The config file `snaptree config init` writes, from `assets/config-template.toml`: a
/// profile of each back end and the common settings, all commented out.
pub const TEMPLATE: &str = include_str!("../../assets/config-template.toml");

static DEFAULT_TABLE: LazyLock<toml::Table> = LazyLock::new(|| {
    // The embedded file is checked by a unit test.
    toml::from_str(DEFAULTS).unwrap_or_else(|e| panic!("embedded defaults are invalid: {e}"))
});

/// The embedded default of `[ui].key`.
fn ui_default<T: serde::de::DeserializeOwned>(key: &str) -> T {
    section_default("ui", key)
}

fn section_default<T: serde::de::DeserializeOwned>(section: &str, key: &str) -> T {
    DEFAULT_TABLE
        .get(section)
        .and_then(|ui| ui.get(key))
        .cloned()
        .and_then(|v| v.try_into().ok())
        .unwrap_or_else(|| panic!("embedded default {section}.{key} is missing or invalid"))
}

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// One table per profile, by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// User-interface settings.
    #[serde(default)]
    pub ui: UiConfig,
    /// Cleanup settings (docs/config.md, `[cleanup]`).
    #[serde(default)]
    pub cleanup: CleanupConfig,
}

/// `[cleanup]`: what no policy selects, and how many machines a batch works on at once.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupConfig {
    /// Name or description globs no policy selects.
    #[serde(default = "d_protect")]
    pub protect: Vec<String>,
    /// Machines worked on at once per profile during a batch.
    #[serde(default = "d_cleanup_concurrency")]
    pub concurrency: usize,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        CleanupConfig {
            protect: d_protect(),
            concurrency: d_cleanup_concurrency(),
        }
    }
}

fn d_protect() -> Vec<String> {
    section_default("cleanup", "protect")
}
fn d_cleanup_concurrency() -> usize {
    section_default("cleanup", "concurrency")
}

/// How destructive actions are confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfirmMode {
    /// Revert and delete-all need the machine's name typed.
    TypeName,
    /// A plain yes/no.
    YesNo,
}

/// Colour theme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeName {
    /// Colours.
    Default,
    /// Monochrome: bold, reverse and underline only.
    Mono,
}

/// The `[ui]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiConfig {
    /// Confirmation style.
    #[serde(default = "d_confirm")]
    pub confirm: ConfirmMode,
    /// Theme.
    #[serde(default = "d_theme")]
    pub theme: ThemeName,
    /// Snapshots older than this are flagged.
    #[serde(default = "d_age_warning")]
    pub age_warning: String,
    /// Snapshots older than this are flagged as critical.
    #[serde(default = "d_age_critical")]
    pub age_critical: String,
    /// Chains deeper than this are flagged.
    #[serde(default = "d_depth_warning")]
    pub depth_warning: usize,
    /// OVH polling interval.
    #[serde(default = "d_poll_interval")]
    pub poll_interval: String,
    /// The TUI takes mouse clicks and the wheel (opt-in: with it on, the terminal's own
    /// selection needs Shift held).
    #[serde(default = "d_mouse")]
    pub mouse: bool,
}

fn d_confirm() -> ConfirmMode {
    ui_default("confirm")
}
fn d_theme() -> ThemeName {
    ui_default("theme")
}
fn d_age_warning() -> String {
    ui_default("age_warning")
}
fn d_age_critical() -> String {
    ui_default("age_critical")
}
fn d_depth_warning() -> usize {
    ui_default("depth_warning")
}
fn d_poll_interval() -> String {
    ui_default("poll_interval")
}
fn d_mouse() -> bool {
    ui_default("mouse")
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            confirm: d_confirm(),
            theme: d_theme(),
            age_warning: d_age_warning(),
            age_critical: d_age_critical(),
            depth_warning: d_depth_warning(),
            poll_interval: d_poll_interval(),
            mouse: d_mouse(),
        }
    }
}

impl UiConfig {
    /// Health thresholds (validated when the file is loaded).
    pub fn thresholds(&self) -> HealthThresholds {
        let d = HealthThresholds::default();
        HealthThresholds {
            age_warning: parse_duration(&self.age_warning).unwrap_or(d.age_warning),
            age_critical: parse_duration(&self.age_critical).unwrap_or(d.age_critical),
            depth_warning: self.depth_warning,
        }
    }
}

/// One profile: a vSphere endpoint or an OVH account.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// `vsphere`, `ovh` or `proxmox`.
    pub kind: Option<ProviderKind>,
    /// Refuse every change on this profile.
    #[serde(default)]
    pub read_only: bool,
    /// vSphere: host or URL.
    pub url: Option<String>,
    /// vSphere: user name.
    pub username: Option<String>,
    /// vSphere: password in the file (discouraged; `config check` warns).
    pub password: Option<String>,
    /// vSphere: environment variable holding the password.
    pub password_env: Option<String>,
    /// vSphere: command printing the password.
    pub password_command: Option<String>,
    /// Accept any certificate (lab only).
    #[serde(default)]
    pub insecure: bool,
    /// Pinned certificate: `SHA256:` followed by hex.
    pub thumbprint: Option<String>,
    /// An extra CA certificate file (PEM).
    pub ca_file: Option<PathBuf>,
    /// Proxmox VE: the API token's id, `USER@REALM!NAME`.
    pub token_id: Option<String>,
    /// Proxmox VE: the token's secret in the file (discouraged).
    pub token_secret: Option<String>,
    /// Proxmox VE: environment variable holding the token's secret.
    pub token_secret_env: Option<String>,
    /// Proxmox VE: command printing the token's secret.
    pub token_secret_command: Option<String>,
    /// OVH: endpoint alias or base URL.
    pub endpoint: Option<String>,
    /// OVH: application key.
    pub application_key: Option<String>,
    /// OVH: application secret in the file.
    pub application_secret: Option<String>,
    /// OVH: environment variable holding the application secret.
    pub application_secret_env: Option<String>,
    /// OVH: command printing the application secret.
    pub application_secret_command: Option<String>,
    /// OVH: consumer key.
    pub consumer_key: Option<String>,
    /// OVH: OAuth2 client id.
    pub client_id: Option<String>,
    /// OVH: OAuth2 client secret in the file.
    pub client_secret: Option<String>,
    /// OVH: environment variable holding the OAuth2 client secret.
    pub client_secret_env: Option<String>,
    /// OVH: command printing the OAuth2 client secret.
    pub client_secret_command: Option<String>,
    /// OVH: requests in flight at once (default 8).
    pub concurrency: Option<usize>,
    /// OVH: cap on requests per second.
    pub requests_per_second: Option<f64>,
    /// The time limit of one request, e.g. `60s` (the default) or `2m`.
    pub timeout: Option<String>,
    /// vSphere: the largest answer read, in MiB (default 64); a larger one fails the call.
    pub max_answer_mb: Option<u64>,
    /// OVH: check the QEMU guest agent in each VPS before a take: `ssh`, or `off` (the
    /// default).
    #[serde(default)]
    pub guest_check: GuestCheckKind,
    /// OVH, with `guest_check = "ssh"`: the user ssh logs in as (default: as the ssh
    /// configuration says).
    pub ssh_user: Option<String>,
    /// OVH, with `guest_check = "ssh"`: an ssh client configuration read instead of
    /// `~/.ssh/config` (`ssh -F`).
    pub ssh_config: Option<PathBuf>,
    /// OVH, with `guest_check = "ssh"`: the check's time limit, e.g. `10s` (the default).
    pub ssh_timeout: Option<String>,
}

/// How a VPS's guest agent is checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestCheckKind {
    /// Not checked: the dialog gives the check to run by hand.
    #[default]
    Off,
    /// Through the operator's own `ssh`, its configuration and agent.
    Ssh,
}

/// The default time limit of one request.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl ProfileConfig {
    /// Where the profile goes, as the operator may be shown it: a vSphere URL without any
    /// user or password written into it, or an OVHcloud endpoint's name.
    pub fn shown_endpoint(&self) -> Option<String> {
        if let Some(url) = self.url.as_deref() {
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            let scheme = if scheme.is_empty() {
                String::new()
            } else {
                format!("{scheme}://")
            };
            return Some(format!("{scheme}{host}{path}"));
        }
        self.endpoint.clone()
    }

    /// The profile's request time limit (`timeout`, default 60 s), or why it is not one.
    pub fn request_timeout(&self, name: &str) -> Result<std::time::Duration, String> {
        time_limit(name, "timeout", self.timeout.as_deref(), DEFAULT_TIMEOUT)
    }

    /// The bound of one vSphere answer in MiB (`max_answer_mb`, default 64), or why it is
    /// not one: at least 1, and on vSphere profiles only (OVH answers have their own).
    pub fn max_answer_mb(&self, name: &str) -> Result<u64, String> {
        match self.max_answer_mb {
            None => Ok(DEFAULT_MAX_ANSWER_MB),
            Some(_) if self.kind == Some(ProviderKind::Ovh) => Err(format!(
                "profile {name}: max_answer_mb is for vSphere profiles"
            )),
            Some(0) => Err(format!("profile {name}: max_answer_mb must be at least 1")),
            Some(mb) => Ok(mb),
        }
    }

    /// The guest agent check's time limit (`ssh_timeout`, default 10 s), or why it is not
    /// one.
    pub fn ssh_timeout(&self, name: &str) -> Result<std::time::Duration, String> {
        time_limit(
            name,
            "ssh_timeout",
            self.ssh_timeout.as_deref(),
            DEFAULT_SSH_TIMEOUT,
        )
    }
}

/// The default bound of one vSphere answer, in MiB: a chunk of 500 VMs with deep snapshot
/// chains is a few MiB.
pub const DEFAULT_MAX_ANSWER_MB: u64 = 64;

/// The default time limit of the guest agent check.
pub const DEFAULT_SSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A profile's time limit `key`: `text` read as a duration (not zero), or `default`.
fn time_limit(
    name: &str,
    key: &str,
    text: Option<&str>,
    default: std::time::Duration,
) -> Result<std::time::Duration, String> {
    match text {
        None => Ok(default),
        Some(text) => crate::model::parse_duration(text)
            .ok()
            .and_then(|d| d.to_std().ok())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!("profile {name}: {key} \"{text}\" is not a duration such as 60s or 2m")
            }),
    }
}

/// A configuration problem, naming the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong key or value.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Line, key and reason.
        message: String,
    },
    /// A secret could not be obtained.
    #[error("profile {profile}: {message}")]
    Secret {
        /// Profile.
        profile: String,
        /// Why (never the secret itself).
        message: String,
    },
}

/// A secret value: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(v: impl Into<String>) -> Self {
        Secret(v.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where snaptree reads and writes.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The config file in use (may not exist).
    pub config: PathBuf,
    /// Where the config path came from.
    pub config_source: &'static str,
    /// The state directory.
    pub state_dir: PathBuf,
    /// The log file.
    pub log: PathBuf,
    /// The audit log (JSON lines).
    pub audit: PathBuf,
}

impl Paths {
    /// Resolve paths: `--config`, then `$SNAPTREE_CONFIG`, then the platform config dir.
    pub fn resolve(config_flag: Option<&Path>) -> Self {
        let dirs = directories::ProjectDirs::from("", "", "snaptree");
        let (config, config_source) = match (config_flag, std::env::var_os("SNAPTREE_CONFIG")) {
            (Some(p), _) => (p.to_path_buf(), "--config"),
            (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), "$SNAPTREE_CONFIG"),
            _ => (
                dirs.as_ref()
                    .map(|d| d.config_dir().join("config.toml"))
                    .unwrap_or_else(|| PathBuf::from("snaptree.toml")),
                "platform config dir",
            ),
        };
        let state_dir = dirs
            .as_ref()
            .map(|d| {
                d.state_dir()
                    .unwrap_or_else(|| d.data_local_dir())
                    .to_path_buf()
            })
            .unwrap_or_else(|| std::env::temp_dir().join("snaptree"));
        Paths {
            log: state_dir.join("snaptree.log"),
            audit: state_dir.join("audit.log"),
            config,
            config_source,
            state_dir,
        }
    }
}

impl Config {
    /// Load `path`; a missing file gives the defaults (no profiles).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parse and validate a config text; errors name `path`, the line and the key.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let err = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let config: Config =
            toml::from_str(text).map_err(|e| err(describe_toml_error(text, &e)))?;
        for (key, value) in [
            ("age_warning", &config.ui.age_warning),
            ("age_critical", &config.ui.age_critical),
            ("poll_interval", &config.ui.poll_interval),
        ] {
            parse_duration(value)
                .map_err(|m| err(format!("{}key ui.{key}: {m}", line_of(text, key))))?;
        }
        if config.cleanup.concurrency == 0 {
            return Err(err(format!(
                "{}key cleanup.concurrency: must be at least 1",
                line_of(text, "concurrency")
            )));
        }
        for (name, p) in &config.profiles {
            let at = line_of(text, &format!("profiles.{name}"));
            let kind = p.kind.ok_or_else(|| {
                err(format!(
                    "{at}profile {name} needs kind = \"vsphere\", \"ovh\" or \"proxmox\""
                ))
            })?;
            if kind != ProviderKind::Ovh && p.url.is_none() {
                return Err(err(format!(
                    "{at}profile {name} ({}) needs a url",
                    kind.as_str()
                )));
            }
            if kind == ProviderKind::Proxmox && p.token_id.is_none() {
                return Err(err(format!(
                    "{at}profile {name} (proxmox) needs token_id = \"USER@REALM!NAME\" and its secret"
                )));
            }
            let key_at = |key: &str, value: &str| {
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with(key) && l.contains(value))
                    .map(|i| format!("line {}, ", i + 1))
                    .unwrap_or_default();
                format!("{line}key profiles.{name}.{key}: ")
            };
            if kind == ProviderKind::Vsphere
                && let Some(url) = &p.url
                && let Some(problem) = vsphere_url_problem(url)
            {
                return Err(err(format!("{}{problem}", key_at("url", url))));
            }
            // An endpoint typo fails here, with its line, not later as a bare sentence.
            if kind == ProviderKind::Ovh
                && let Some(e) = &p.endpoint
                && let Err(problem) = endpoint::Endpoint::parse(e)
            {
                return Err(err(format!("{}{problem}", key_at("endpoint", e))));
            }
            let own = |problem: String| {
                problem
                    .trim_start_matches(&format!("profile {name}: "))
                    .to_string()
            };
            if let (Some(t), Err(problem)) = (&p.timeout, p.request_timeout(name)) {
                return Err(err(format!("{}{}", key_at("timeout", t), own(problem))));
            }
            if let (Some(t), Err(problem)) = (&p.ssh_timeout, p.ssh_timeout(name)) {
                return Err(err(format!("{}{}", key_at("ssh_timeout", t), own(problem))));
            }
            if let (Some(mb), Err(problem)) = (&p.max_answer_mb, p.max_answer_mb(name)) {
                let at = key_at("max_answer_mb", &mb.to_string());
                return Err(err(format!("{at}{}", own(problem))));
            }
            let secrets = [&p.password, &p.password_env, &p.password_command]
                .iter()
                .filter(|s| s.is_some())
                .count();
            if secrets > 1 {
                return Err(err(format!(
                    "{at}profile {name}: use only one of password, password_env and password_command"
                )));
            }
            let token_secrets = [
                &p.token_secret,
                &p.token_secret_env,
                &p.token_secret_command,
            ]
            .iter()
            .filter(|s| s.is_some())
            .count();
            if token_secrets > 1 {
                return Err(err(format!(
                    "{at}profile {name}: use only one of token_secret, token_secret_env and token_secret_command"
                )));
            }
        }
        Ok(config)
    }
}

/// What is wrong with a vSphere `url`, if anything: it is `HOST`, `HOST:PORT` or
/// `https://HOST[:PORT][/sdk]`; another scheme (a typo such as `htps://` would otherwise be
/// looked up as a host), a path or a query (which would be silently ignored) is refused.
pub fn vsphere_url_problem(url: &str) -> Option<String> {
    let url = url.trim();
    let rest = match url.split_once("://") {
        Some(("https", rest)) => rest,
        Some((scheme, _)) => {
            return Some(format!(
                "\"{url}\" is not an https URL (\"{scheme}://\"); vSphere is reached as https://HOST"
            ));
        }
        None => url,
    };
    let (authority, tail) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.rsplit('@').next().is_none_or(str::is_empty) {
        return Some(format!("\"{url}\" names no host"));
    }
    if !matches!(tail, "" | "/" | "/sdk" | "/sdk/") {
        return Some(format!(
            "\"{url}\": only the host and port are used; remove \"{tail}\" (the SDK is always at /sdk)"
        ));
    }
    None
}

fn line_of(text: &str, needle: &str) -> String {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| format!("line {}: ", i + 1))
        .unwrap_or_default()
}

/// One line naming where and what: `line 3, key ui.theme: unknown variant …`.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let message = e.message().trim().to_string();
    let key = e.span().and_then(|s| {
        let snippet = text.get(s.clone())?.trim();
        (!snippet.is_empty() && snippet.len() < 60 && !snippet.contains('\n'))
            .then(|| snippet.to_string())
    });
    match (line, key) {
        (Some(l), Some(k)) => format!("line {l}, at `{k}`: {message}"),
        (Some(l), None) => format!("line {l}: {message}"),
        _ => message,
    }
}

/// The vSphere profile govc's environment describes, when `GOVC_URL` is set: the URL
/// (`host`, `host:port`, `https://user:pass@host/sdk`; its user and password are taken
/// out of it), `GOVC_USERNAME`, `GOVC_PASSWORD` (read from the environment when used),
/// `GOVC_INSECURE` (1/true) and `GOVC_TLS_CA_CERTS` (a CA file).
pub fn govc_profile(get: &dyn Fn(&str) -> Option<String>) -> Option<ProfileConfig> {
    let raw = get("GOVC_URL").filter(|v| !v.trim().is_empty())?;
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let (mut username, mut password) = (None, None);
    let url = match reqwest::Url::parse(&with_scheme) {
        Ok(mut u) => {
            let decode = |t: &str| url_decode(t);
            if !u.username().is_empty() {
                username = Some(decode(u.username()));
            }
            password = u.password().map(decode);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        // Left as given: connecting reports what is wrong with it.
        Err(_) => with_scheme,
    };
    let flag = |k: &str| {
        get(k)
            .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
    };
    let env_password = get("GOVC_PASSWORD").is_some();
    Some(ProfileConfig {
        kind: Some(ProviderKind::Vsphere),
        url: Some(url),
        username: get("GOVC_USERNAME").filter(|v| !v.is_empty()).or(username),
        // GOVC_PASSWORD wins over a password in the URL, as in govc.
        password: if env_password { None } else { password },
        password_env: env_password.then(|| "GOVC_PASSWORD".to_string()),
        insecure: flag("GOVC_INSECURE"),
        ca_file: get("GOVC_TLS_CA_CERTS")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        ..ProfileConfig::default()
    })
}

/// `%XX` escapes of a URL's user or password decoded.
fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Read a secret from (in order) the file value, an environment variable, or a command.
/// The command gets `limit` (the profile's `timeout`) to print it; one that takes longer is
/// killed, with everything it started, and the error says so.
pub fn resolve_secret(
    profile: &str,
    what: &str,
    plain: Option<&str>,
    env: Option<&str>,
    command: Option<&str>,
    limit: std::time::Duration,
) -> Result<Option<Secret>, ConfigError> {
    let fail = |message: String| ConfigError::Secret {
        profile: profile.into(),
        message,
    };
    if let Some(v) = plain {
        return Ok(Some(Secret::new(v)));
    }
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
            _ => Err(fail(format!(
                "the environment variable {var} (for the {what}) is not set"
            ))),
        };
    }
    if let Some(cmd) = command {
        let out = run_with_limit(cmd, limit)
            .map_err(|e| fail(format!("cannot run the {what} command: {e}")))?
            .ok_or_else(|| {
                fail(format!(
                    "the {what} command did not finish within {}s and was stopped; \
                     check it by running it yourself (the profile's timeout sets the limit)",
                    limit.as_secs()
                ))
            })?;
        if !out.status.success() {
            return Err(fail(format!(
                "the {what} command failed ({}); check it by running it yourself",
                out.status
            )));
        }
        let value = String::from_utf8_lossy(&out.stdout)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if value.is_empty() {
            return Err(fail(format!("the {what} command printed nothing")));
        }
        return Ok(Some(Secret::new(value)));
    }
    Ok(None)
}

/// Run `sh -c cmd` in a process group of its own; its output, or `None` when it did not
/// end within `limit` (the whole group is then killed, so nothing is left running).
fn run_with_limit(
    cmd: &str,
    limit: std::time::Duration,
) -> std::io::Result<Option<std::process::Output>> {
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()?;
    let started = std::time::Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            return child.wait_with_output().map(Some);
        }
        if started.elapsed() >= limit {
            let group = format!("-{}", child.id());
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(std::process::Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The working snapshots of Veeam, of vSphere's consolidation and of VMware
    /// Consolidated Backup are protected by default, under the names those tools give them.
    #[test]
    fn the_default_protect_covers_the_working_snapshots_of_backups_and_consolidation() {
        use crate::model::cleanup::{Protect, protection};
        use crate::model::machine::fixtures::snap;
        let protect = Protect::new(&Config::default().cleanup.protect);
        for name in [
            "VEEAM BACKUP TEMPORARY SNAPSHOT",
            "Consolidate Helper- 0",
            "Consolidate Helper- 12",
            "_VCB-BACKUP_",
        ] {
            assert!(
                protection(&snap("s", name, vec![]), &protect).is_some(),
                "{name}"
            );
        }
        for name in ["consolidated-before-upgrade", "VCB-BACKUP", "nightly"] {
            assert!(
                protection(&snap("s", name, vec![]), &protect).is_none(),
                "{name}"
            );
        }
    }

    /// The endpoint shown never carries a user or password written into the URL.
    #[test]
    fn the_shown_endpoint_has_no_credentials() {
        let with = |url: Option<&str>, endpoint: Option<&str>| ProfileConfig {
            url: url.map(str::to_string),
            endpoint: endpoint.map(str::to_string),
            ..ProfileConfig::default()
        };
        let shown = |p: ProfileConfig| p.shown_endpoint();
        assert_eq!(
            shown(with(
                Some("https://op%40lab:s3cr%3At@vc.lab:8443/sdk"),
                None
            ))
            .as_deref(),
            Some("https://vc.lab:8443/sdk")
        );
        assert_eq!(shown(with(Some("vc.lab"), None)).as_deref(), Some("vc.lab"));
        assert_eq!(shown(with(None, Some("ovh-eu"))).as_deref(), Some("ovh-eu"));
        assert_eq!(shown(with(None, None)), None);
    }

    /// The template `config init` writes reads as a config without profiles; with its
    /// profiles and settings uncommented, as one with a profile of each back end.
    #[test]
    fn the_template_reads_as_written_and_uncommented() {
        let path = Path::new("config.toml");
        let as_written = Config::parse(TEMPLATE, path).expect("the template as written");
        assert!(as_written.profiles.is_empty());
        let uncommented: Vec<&str> = TEMPLATE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.starts_with('[') || rest.contains(" = ") => rest,
                _ => l,
            })
            .collect();
        let uncommented = uncommented.join("\n");
        let c = Config::parse(&uncommented, path).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        let kinds: Vec<_> = c.profiles.values().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            vec![
                Some(ProviderKind::Ovh),
                Some(ProviderKind::Proxmox),
                Some(ProviderKind::Vsphere)
            ],
            "{uncommented}"
        );
        assert!(c.profiles.values().all(|p| p.read_only));
        assert_eq!(c.ui.confirm, ConfirmMode::TypeName);
    }

    #[test]
    fn a_proxmox_profile_needs_a_url_a_token_and_one_secret() {
        let path = Path::new("config.toml");
        let refused = |text: &str| Config::parse(text, path).unwrap_err().to_string();
        let e = refused("[profiles.pve]\nkind = \"proxmox\"\ntoken_id = \"a@pve!t\"\n");
        assert!(e.contains("profile pve (proxmox) needs a url"), "{e}");
        let e = refused("[profiles.pve]\nkind = \"proxmox\"\nurl = \"pve\"\n");
        assert!(e.contains("needs token_id"), "{e}");
        let e = refused(
            "[profiles.pve]\nkind = \"proxmox\"\nurl = \"pve\"\ntoken_id = \"a@pve!t\"\n\
             token_secret = \"x\"\ntoken_secret_env = \"X\"\n",
        );
        assert!(e.contains("use only one of token_secret"), "{e}");
        let ok = "[profiles.pve]\nkind = \"proxmox\"\nurl = \"pve\"\ntoken_id = \"a@pve!t\"\n";
        assert!(Config::parse(ok, path).is_ok());
    }

    #[test]
    fn answer_bounds_and_check_time_limits_are_refused_at_load_with_line_and_key() {
        let vsphere = "[profiles.pcc]\nkind = \"vsphere\"\nurl = \"https://vc.lab\"\n";
        let ovh = "[profiles.ovh]\nkind = \"ovh\"\n";
        for (text, says) in [
            (
                format!("{vsphere}max_answer_mb = 0\n"),
                "line 4, key profiles.pcc.max_answer_mb: max_answer_mb must be at least 1",
            ),
            (
                format!("{ovh}max_answer_mb = 8\n"),
                "key profiles.ovh.max_answer_mb: max_answer_mb is for vSphere profiles",
            ),
            (
                format!("{ovh}guest_check = \"ssh\"\nssh_timeout = \"soon\"\n"),
                "key profiles.ovh.ssh_timeout: ssh_timeout \"soon\" is not a duration",
            ),
            (
                format!("{ovh}guest_check = \"telnet\"\n"),
                "line 3, at `\"telnet\"`: unknown variant `telnet`, expected `off` or `ssh`",
            ),
        ] {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        let ok = parse(&format!("{vsphere}max_answer_mb = 128\n")).unwrap();
        assert_eq!(ok.profiles["pcc"].max_answer_mb("pcc"), Ok(128));
    }

    #[test]
    fn a_vsphere_url_typo_or_path_is_refused_at_load_with_line_and_key() {
        let profile = |url: &str| {
            format!("[profiles.pcc]\nkind = \"vsphere\"\nurl = \"{url}\"\nusername = \"u\"\n")
        };
        for (url, says) in [
            ("htps://vc.lab", "not an https URL"),
            ("https://vc.lab/ui/?x=1", "remove \"/ui/?x=1\""),
            ("https://", "names no host"),
        ] {
            let e = parse(&profile(url)).unwrap_err().to_string();
            assert!(
                e.contains("line 3, key profiles.pcc.url:") && e.contains(says),
                "{url}: {e}"
            );
        }
        for url in [
            "vc.lab",
            "vc.lab:8443",
            "https://vc.lab/sdk",
            "https://u:p@10.0.0.1/",
        ] {
            assert!(parse(&profile(url)).is_ok(), "{url}");
        }
        let e = parse(&format!("{}timeout = \"soon\"\n", profile("vc.lab")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 5, key profiles.pcc.timeout:"), "{e}");
    }

    #[test]
    fn an_ovh_endpoint_typo_is_refused_at_load_with_line_and_key() {
        let profile = |e: &str| format!("[profiles.vps]\nkind = \"ovh\"\n\nendpoint = \"{e}\"\n");
        for (endpoint, says) in [
            ("ovh-eux", "unknown OVH endpoint"),
            ("htps://eu.api.ovh.com/1.0", "must be an http(s) URL"),
            ("http://api.example.com/1.0", "plain http"),
        ] {
            let e = parse(&profile(endpoint)).unwrap_err().to_string();
            assert!(
                e.contains("line 4, key profiles.vps.endpoint:") && e.contains(says),
                "{endpoint}: {e}"
            );
            assert!(!e.contains("profile vps: profile vps"), "{e}");
        }
        assert!(parse(&profile("ovh-eu")).is_ok());
        assert!(parse(&profile("http://127.0.0.1:8080/1.0")).is_ok());
    }

    #[test]
    fn govc_environment_is_a_vsphere_profile() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_string())
            }
        };
        let get = env(&[
            ("GOVC_URL", "https://op%40lab:s3cr%3At@127.0.0.1:8989/sdk"),
            ("GOVC_INSECURE", "1"),
        ]);
        let p = govc_profile(&get).unwrap();
        assert_eq!(p.url.as_deref(), Some("https://127.0.0.1:8989/sdk"));
        assert_eq!(p.username.as_deref(), Some("op@lab"));
        assert_eq!(p.password.as_deref(), Some("s3cr:t"));
        assert!(p.insecure);
        let get = env(&[
            ("GOVC_URL", "vc.lab"),
            ("GOVC_USERNAME", "admin"),
            ("GOVC_PASSWORD", "x"),
            ("GOVC_TLS_CA_CERTS", "/etc/ca.pem"),
        ]);
        let p = govc_profile(&get).unwrap();
        assert_eq!(p.url.as_deref(), Some("https://vc.lab/"));
        assert_eq!(p.username.as_deref(), Some("admin"));
        assert_eq!(
            (p.password, p.password_env.as_deref()),
            (None, Some("GOVC_PASSWORD"))
        );
        assert_eq!(p.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert!(!p.insecure);
        assert!(govc_profile(&env(&[])).is_none());
    }

    #[test]
    fn a_secret_command_that_hangs_is_stopped_with_all_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("still-running");
        // The command starts a grandchild that would outlive a plain kill of `sh`.
        let cmd = format!("(sleep 3; touch {}) & sleep 30", marker.display());
        let e = resolve_secret(
            "p",
            "password",
            None,
            None,
            Some(&cmd),
            std::time::Duration::from_millis(300),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("did not finish within") && e.contains("stopped"),
            "{e}"
        );
        std::thread::sleep(std::time::Duration::from_millis(3500));
        assert!(
            !marker.exists(),
            "a process the command started was left running"
        );
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/home/op/.config/snaptree/config.toml"))
    }

    #[test]
    fn defaults_are_embedded() {
        let c = parse("").unwrap();
        assert_eq!(c.ui.confirm, ConfirmMode::TypeName);
        assert_eq!(c.ui.theme, ThemeName::Default);
        assert_eq!(c.ui.thresholds(), HealthThresholds::default());
        assert!(c.profiles.is_empty());
    }

    #[test]
    fn spec_example_parses_and_partial_ui_keeps_defaults() {
        let c = parse(
            r#"
[profiles.pcc-prod]
kind = "vsphere"
url = "https://pcc-11-22-33-44.ovh.com"
username = "admin"
password_command = "pass show pcc-prod"
insecure = false
read_only = true

[profiles.ovh]
kind = "ovh"
endpoint = "ovh-eu"

[ui]
theme = "mono"
depth_warning = 5
"#,
        )
        .unwrap();
        assert!(c.profiles["pcc-prod"].read_only);
        assert_eq!(c.profiles["ovh"].kind, Some(ProviderKind::Ovh));
        assert_eq!(c.ui.theme, ThemeName::Mono);
        assert_eq!(c.ui.depth_warning, 5);
        assert_eq!(c.ui.confirm, ConfirmMode::TypeName);
    }

    #[test]
    fn bad_files_name_file_line_and_key() {
        let e = parse("[ui]\nconfirm = \"maybe\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/home/op/.config/snaptree/config.toml"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("maybe"), "{e}");
        let e = parse("[profiles.x]\nkind = \"vsphere\"\nurll = \"h\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("urll"), "{e}");
        let e = parse("[ui]\nage_warning = \"3 days\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ui.age_warning") && e.contains("line 2"), "{e}");
        let e = parse("[profiles.x]\nurl = \"h\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs kind"), "{e}");
        let e = parse("[profiles.x]\nkind = \"vsphere\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a url"), "{e}");
        let e = parse("not toml at all [").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn secrets_from_env_and_command_never_debug_printed() {
        let s = resolve_secret(
            "p",
            "password",
            None,
            None,
            Some("printf 'hunter2\\n'"),
            DEFAULT_TIMEOUT,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let e = resolve_secret(
            "p",
            "password",
            None,
            Some("SNAPTREE_TEST_UNSET_VAR"),
            None,
            DEFAULT_TIMEOUT,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("SNAPTREE_TEST_UNSET_VAR") && e.contains("profile p"));
        let e = resolve_secret("p", "password", None, None, Some("exit 3"), DEFAULT_TIMEOUT)
            .unwrap_err();
        assert!(!e.to_string().contains("exit 3 hunter"));
        assert!(
            resolve_secret("p", "password", None, None, None, DEFAULT_TIMEOUT)
                .unwrap()
                .is_none()
        );
    }
}
