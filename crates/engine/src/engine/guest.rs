//! The guest agent check over ssh (`guest_check = "ssh"`): the operator's own `ssh`, its
//! configuration and agent, never a password of snaptree's; `BatchMode`, so it never
//! asks; a time limit, after which ssh is killed. What runs there and how its answer is
//! read is `model::guest`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{GuestCheckKind, ProfileConfig};
use crate::model::ProviderKind;
use crate::model::guest::{self, GuestAgent};

/// The most of ssh's output read: the script's answer is a few lines.
const MAX_OUTPUT: u64 = 64 * 1024;

/// How one profile checks its VPSs' guest agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshCheck {
    /// `ssh_user`: `ssh -l`.
    pub user: Option<String>,
    /// `ssh_config`: `ssh -F`.
    pub config: Option<PathBuf>,
    /// `ssh_timeout`: the whole check, connection included.
    pub timeout: Duration,
    /// The ssh program (`ssh` on the PATH).
    pub program: PathBuf,
}

/// `~/…` under `$HOME`, as ssh reads its own configuration's paths; other paths as given.
fn home_relative(path: &std::path::Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

impl SshCheck {
    /// The profile's check, None when `guest_check` is off, or why its settings are wrong.
    pub fn from_profile(name: &str, p: &ProfileConfig) -> Result<Option<SshCheck>, String> {
        let kind = p.kind.unwrap_or(ProviderKind::Vsphere);
        if p.guest_check == GuestCheckKind::Off {
            if p.ssh_user.is_some() || p.ssh_config.is_some() || p.ssh_timeout.is_some() {
                return Err(format!(
                    "profile {name}: ssh_user, ssh_config and ssh_timeout need guest_check = \"ssh\""
                ));
            }
            return Ok(None);
        }
        if kind != ProviderKind::Ovh {
            return Err(format!(
                "profile {name}: guest_check is for OVH VPS profiles (a VM's VMware Tools are read from vSphere)"
            ));
        }
        if let Some(user) = &p.ssh_user
            && !guest::valid_host(user)
        {
            return Err(format!(
                "profile {name}: ssh_user must be a plain user name (letters, digits, '.', '-', '_')"
            ));
        }
        let timeout = p.ssh_timeout(name)?;
        Ok(Some(SshCheck {
            user: p.ssh_user.clone(),
            config: p.ssh_config.as_deref().map(home_relative),
            timeout,
            program: PathBuf::from("ssh"),
        }))
    }

    /// The settings in one line, for `config check`.
    pub fn summary(&self) -> String {
        let mut line = "guest agent check: ssh".to_string();
        if let Some(user) = &self.user {
            line.push_str(&format!(" as {user}"));
        }
        if let Some(config) = &self.config {
            line.push_str(&format!(", ssh -F {}", config.display()));
        }
        line.push_str(&format!(", within {} s", self.timeout.as_secs_f64()));
        line
    }

    /// ssh's arguments for checking `host`: no password or passphrase asked, no terminal,
    /// no forwarding, the connection within the time limit; the script on stdin.
    pub fn args(&self, host: &str) -> Vec<OsString> {
        let connect = self.timeout.as_secs().max(1);
        let mut args: Vec<OsString> = vec![
            "-T".into(),
            "-a".into(),
            "-x".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            format!("ConnectTimeout={connect}").into(),
            "-o".into(),
            "ClearAllForwardings=yes".into(),
            // An unknown or changed host key fails the check, whatever the configuration
            // says (`accept-new`, `no`): the operator connects once themselves.
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            // No master connection left running after the check (`ControlPersist`).
            "-o".into(),
            "ControlMaster=no".into(),
        ];
        if let Some(config) = &self.config {
            args.push("-F".into());
            args.push(config.clone().into_os_string());
        }
        if let Some(user) = &self.user {
            args.push("-l".into());
            args.push(user.into());
        }
        args.extend(["--".into(), host.into(), "sh".into(), "-s".into()]);
        args
    }

    /// Run the check on the VPS `host` (its service name, which is its DNS name); never
    /// longer than the time limit.
    pub async fn run(&self, host: &str) -> GuestAgent {
        if !guest::valid_host(host) {
            return GuestAgent::Unknown(format!(
                "{} is not a host name ssh can be given",
                crate::safe::terminal(host)
            ));
        }
        match tokio::time::timeout(self.timeout, self.exchange(host)).await {
            Ok(state) => state,
            // Dropping the exchange kills ssh (kill_on_drop).
            Err(_) => GuestAgent::Unknown(format!(
                "no answer within {} s (ssh_timeout)",
                self.timeout.as_secs_f64()
            )),
        }
    }

    async fn exchange(&self, host: &str) -> GuestAgent {
        let spawned = tokio::process::Command::new(&self.program)
            .args(self.args(host))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return GuestAgent::Unknown("ssh is not installed on this machine".into());
            }
            Err(e) => return GuestAgent::Unknown(format!("ssh could not be started: {e}")),
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A VPS that closes early is reported by what ssh says, not by this write.
            let _ = stdin.write_all(guest::SCRIPT.as_bytes()).await;
        }
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let read_out = async {
            if let Some(s) = stdout {
                let _ = s.take(MAX_OUTPUT).read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(s) = stderr {
                let _ = s.take(MAX_OUTPUT).read_to_end(&mut err).await;
            }
        };
        tokio::join!(read_out, read_err);
        let status = match child.wait().await {
            Ok(status) => status,
            Err(e) => return GuestAgent::Unknown(format!("ssh could not be waited for: {e}")),
        };
        let out = String::from_utf8_lossy(&out);
        if status.success() {
            guest::read_answer(&out)
        } else if status.code() == Some(255) || !out.contains(guest::MARK) {
            guest::ssh_failed(status.code(), &String::from_utf8_lossy(&err))
        } else {
            // The script ran; a failing last command does not change what it printed.
            guest::read_answer(&out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ovh() -> ProfileConfig {
        ProfileConfig {
            kind: Some(ProviderKind::Ovh),
            guest_check: GuestCheckKind::Ssh,
            ..ProfileConfig::default()
        }
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            SshCheck::from_profile("p", &ProfileConfig::default()),
            Ok(None)
        );
        let on_vsphere = ProfileConfig {
            kind: Some(ProviderKind::Vsphere),
            ..ovh()
        };
        assert!(SshCheck::from_profile("p", &on_vsphere).is_err());
        let stray = ProfileConfig {
            kind: Some(ProviderKind::Ovh),
            ssh_user: Some("debian".into()),
            ..ProfileConfig::default()
        };
        assert!(SshCheck::from_profile("p", &stray).is_err());
        let bad_user = ProfileConfig {
            ssh_user: Some("-oProxyCommand=x".into()),
            ..ovh()
        };
        assert!(SshCheck::from_profile("p", &bad_user).is_err());
        let check = SshCheck::from_profile(
            "p",
            &ProfileConfig {
                ssh_user: Some("debian".into()),
                ssh_timeout: Some("3s".into()),
                ..ovh()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(check.timeout, Duration::from_secs(3));
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap();
        assert_eq!(
            home_relative(std::path::Path::new("~/.ssh/vps.conf")),
            home.join(".ssh/vps.conf")
        );
        assert_eq!(
            home_relative(std::path::Path::new("/etc/ssh/vps.conf")),
            PathBuf::from("/etc/ssh/vps.conf")
        );
        let args: Vec<String> = check
            .args("vps-1.vps.ovh.net")
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert!(args.contains(&"BatchMode=yes".to_string()));
        assert_eq!(
            &args[args.len() - 6..],
            ["-l", "debian", "--", "vps-1.vps.ovh.net", "sh", "-s"]
        );
    }
}
