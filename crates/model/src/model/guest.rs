//! The QEMU guest agent check of a VPS (OVHcloud's guide "Using the snapshot"): a VPS
//! snapshot is live, and consistent only with the agent running in the VPS. With a
//! profile's `guest_check = "ssh"` snapshot runs [`SCRIPT`] there through the operator's
//! own `ssh` (engine::guest); this module says what the script is, how its answer is
//! read, and what the answer means for a take. No I/O here.

use crate::model::{Machine, Operation, PowerState, ProviderKind};
use crate::safe;

/// The device the agent talks through.
pub const DEVICE: &str = "/dev/virtio-ports/org.qemu.guest_agent.0";

/// The snapshot guide's check, to run in a VPS by hand (`Y` copies it): a symbolic link
/// when the agent's device is there, "No such file or directory" when it is not.
pub const GUEST_AGENT_CHECK: &str = "file /dev/virtio-ports/org.qemu.guest_agent.0";

/// The first line of every answer of [`SCRIPT`]: anything else did not run it (a Windows
/// VPS, a forced command, a banner-only shell).
pub const MARK: &str = "snaptree-guest-check 1";

/// What runs in the VPS, read by `sh -s` from ssh's standard input, so the login shell
/// does not matter. It only reads: the guide's `file` test (`test -e` where `file` is not
/// installed), then the service's state from systemd (`LoadState` tells installed from
/// not, `is-active` running from not; `show -p` without `--value`, which systemd before
/// 230 lacks) or, without systemd, from `service` and the init script it finds.
pub const SCRIPT: &str = r#"d=/dev/virtio-ports/org.qemu.guest_agent.0
echo "snaptree-guest-check 1"
if command -v file >/dev/null 2>&1; then
  echo "file: $(file "$d" 2>&1)"
elif [ -e "$d" ]; then
  echo "file: $d: present"
else
  echo "file: $d: No such file or directory"
fi
if command -v systemctl >/dev/null 2>&1; then
  echo "loaded: $(systemctl show -p LoadState qemu-guest-agent 2>&1)"
  echo "active: $(systemctl is-active qemu-guest-agent 2>&1)"
elif command -v service >/dev/null 2>&1; then
  s=
  for n in qemu-guest-agent qemu-ga; do
    [ -z "$s" ] && [ -e "/etc/init.d/$n" ] && s=$n
  done
  if [ -z "$s" ]; then
    echo "loaded: not-found"
    echo "active: inactive"
  else
    echo "loaded: loaded"
    if service "$s" status >/dev/null 2>&1; then
      echo "active: active"
    else
      echo "active: inactive"
    fi
  fi
else
  echo "manager: none"
fi
"#;

/// What a change does about the guest agent first, the TUI's and the CLI's alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    /// Nothing: not a VPS take or replace, or its profile does not check.
    Nothing,
    /// Says [`NOT_NEEDED`]: the VPS is off, nothing runs to make consistent (its snapshot
    /// is cold), and its ssh would not answer.
    NotNeeded,
    /// Checks, says what it found, and asks once more unless the agent runs.
    Check,
}

/// What `op` on `m` does about the guest agent first, in a profile whose `guest_check`
/// is on (`checks`).
pub fn before(m: &Machine, op: &Operation, checks: bool) -> Before {
    let take = matches!(op, Operation::Take { .. } | Operation::Replace { .. });
    if !(take && checks && m.provider == ProviderKind::Ovh) {
        Before::Nothing
    } else if m.power_state == PowerState::PoweredOff {
        Before::NotNeeded
    } else {
        Before::Check
    }
}

/// The dialog's and the CLI's line for a VPS that is off.
pub const NOT_NEEDED: &str = "Guest agent: not needed, the VPS is off (a cold snapshot)";

/// The agent's state as the check found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestAgent {
    /// Asked; no answer yet.
    Checking,
    /// The service runs and the device is there.
    Running,
    /// Not installed (no service), or the device is missing.
    NotInstalled,
    /// Installed, not running: what the service manager said.
    Stopped(String),
    /// The check could not tell: why, one sentence.
    Unknown(String),
}

impl GuestAgent {
    /// The state in a few words: "running", "not installed", …
    pub fn short(&self) -> String {
        match self {
            GuestAgent::Checking => "checking…".into(),
            GuestAgent::Running => "running".into(),
            GuestAgent::NotInstalled => "not installed".into(),
            GuestAgent::Stopped(said) => format!("installed but stopped ({said})"),
            GuestAgent::Unknown(why) => format!("could not check: {why}"),
        }
    }

    /// The dialog's and the CLI's line, with what to do about it.
    pub fn line(&self) -> String {
        let what = self.short();
        match self {
            GuestAgent::Checking => "Guest agent: checking over ssh…".into(),
            GuestAgent::Running => "Guest agent: running (checked over ssh)".into(),
            GuestAgent::NotInstalled => {
                format!("Guest agent: {what}; install qemu-guest-agent in the VPS and start it")
            }
            GuestAgent::Stopped(_) => {
                format!("Guest agent: {what}; start it: systemctl start qemu-guest-agent")
            }
            GuestAgent::Unknown(_) => format!("Guest agent: {what}"),
        }
    }

    /// Why a take of `machine` should be asked once more: the agent is not known to run,
    /// so the snapshot would be crash-consistent only. None when it runs.
    pub fn take_warning(&self, machine: &str) -> Option<String> {
        match self {
            GuestAgent::Running => None,
            GuestAgent::Checking => Some(format!(
                "the guest agent check of {machine} has not answered yet"
            )),
            GuestAgent::NotInstalled => Some(format!(
                "the guest agent is not installed in {machine}: {CRASH_CONSISTENT}"
            )),
            GuestAgent::Stopped(said) => Some(format!(
                "the guest agent of {machine} is installed but stopped ({said}): {CRASH_CONSISTENT}"
            )),
            GuestAgent::Unknown(why) => Some(format!(
                "the guest agent of {machine} could not be checked ({why}): {CRASH_CONSISTENT}"
            )),
        }
    }
}

/// What a snapshot taken without the agent is.
const CRASH_CONSISTENT: &str = "the snapshot would be crash-consistent only";

/// The longest quote of the VPS's or ssh's words in a state.
const QUOTE: usize = 120;

/// `text` as one safe, short quote.
fn quoted(text: &str) -> String {
    safe::capped(&safe::terminal(text.trim()), QUOTE).into_owned()
}

/// The state [`SCRIPT`]'s answer (ssh's standard output, exit status 0) says.
pub fn read_answer(out: &str) -> GuestAgent {
    let mut lines = out.lines().map(str::trim_end);
    if !lines.any(|l| l == MARK) {
        let first = out.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return GuestAgent::Unknown(if first.is_empty() {
            "the VPS ran no POSIX shell (a Windows VPS: check Get-Service QEMU-GA there)".into()
        } else {
            format!(
                "the VPS did not run the check (it said \"{}\"; a Windows VPS: check Get-Service QEMU-GA there)",
                quoted(first)
            )
        });
    }
    let mut file = None;
    let mut loaded = None;
    let mut active = None;
    let mut manager = true;
    for l in lines {
        if let Some(v) = l.strip_prefix("file: ") {
            file = Some(v.to_string());
        } else if let Some(v) = l.strip_prefix("loaded: ") {
            let v = v.trim();
            loaded = Some(v.strip_prefix("LoadState=").unwrap_or(v).to_string());
        } else if let Some(v) = l.strip_prefix("active: ") {
            active = Some(v.trim().to_string());
        } else if l == "manager: none" {
            manager = false;
        }
    }
    if !manager {
        return GuestAgent::Unknown("the VPS has neither systemctl nor service".into());
    }
    let (Some(file), Some(loaded), Some(active)) = (file, loaded, active) else {
        return GuestAgent::Unknown("the check's answer was cut short".into());
    };
    let device = if file.contains("No such file")
        || file.contains("cannot open")
        || file.contains("broken symbolic link")
    {
        false
    } else if file.contains("symbolic link")
        || file.contains("character special")
        || file.ends_with(": present")
    {
        true
    } else {
        return GuestAgent::Unknown(format!("file said \"{}\"", quoted(&file)));
    };
    if loaded == "not-found" {
        return GuestAgent::NotInstalled;
    }
    match (active.as_str(), device) {
        ("active", true) => GuestAgent::Running,
        (said, true) if loaded == "loaded" => GuestAgent::Stopped(quoted(said)),
        (_, true) => GuestAgent::Unknown(format!(
            "systemd said the service is \"{}\"",
            quoted(&loaded)
        )),
        (_, false) => GuestAgent::Unknown(format!(
            "the agent is installed but {DEVICE} is missing (is the VPS's guest agent channel on?)"
        )),
    }
}

/// The state when ssh did not run the check: its exit code and what it wrote on stderr
/// ("Permission denied (publickey).", "Host key verification failed.").
pub fn ssh_failed(code: Option<i32>, stderr: &str) -> GuestAgent {
    let said = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"));
    GuestAgent::Unknown(match (said, code) {
        (Some(said), _) => format!("ssh: {}", quoted(said)),
        (None, Some(code)) => format!("ssh exited with {code}"),
        (None, None) => "ssh was stopped by a signal".into(),
    })
}

/// Whether `host` may be handed to ssh as its destination: a host name's characters
/// only, never an option (`-oProxyCommand=…`).
pub fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(file: &str, loaded: &str, active: &str) -> String {
        format!("{MARK}\nfile: {file}\nloaded: {loaded}\nactive: {active}\n")
    }

    const LINK: &str = "/dev/virtio-ports/org.qemu.guest_agent.0: symbolic link to ../vport2p1";
    const MISSING: &str = "/dev/virtio-ports/org.qemu.guest_agent.0: cannot open `/dev/virtio-ports/org.qemu.guest_agent.0' (No such file or directory)";

    #[test]
    fn each_answer_reads_as_its_state() {
        assert_eq!(
            read_answer(&answer(LINK, "loaded", "active")),
            GuestAgent::Running
        );
        assert_eq!(
            read_answer(&answer(LINK, "not-found", "inactive")),
            GuestAgent::NotInstalled
        );
        assert!(matches!(
            read_answer(&answer(MISSING, "loaded", "failed")),
            GuestAgent::Unknown(why) if why.contains("channel")
        ));
        // A link to nothing is no device.
        let dangling = format!("{DEVICE}: broken symbolic link to ../vport2p1");
        assert!(matches!(
            read_answer(&answer(&dangling, "loaded", "active")),
            GuestAgent::Unknown(why) if why.contains("channel")
        ));
        assert_eq!(
            read_answer(&answer(MISSING, "not-found", "inactive")),
            GuestAgent::NotInstalled
        );
        // `systemctl show -p LoadState` as systemd writes it.
        assert_eq!(
            read_answer(&answer(LINK, "LoadState=loaded", "inactive")),
            GuestAgent::Stopped("inactive".into())
        );
        assert_eq!(
            read_answer(&answer(LINK, "LoadState=not-found", "inactive")),
            GuestAgent::NotInstalled
        );
        assert_eq!(
            read_answer(&answer(LINK, "loaded", "inactive")),
            GuestAgent::Stopped("inactive".into())
        );
        // Without `file`, the script's own test.
        let present = format!("{DEVICE}: present");
        assert_eq!(
            read_answer(&answer(&present, "loaded", "active")),
            GuestAgent::Running
        );
        assert!(matches!(
            read_answer(&answer(MISSING, "loaded", "active")),
            GuestAgent::Unknown(_)
        ));
        assert_eq!(
            read_answer(&format!("{MARK}\nfile: {LINK}\nmanager: none\n")),
            GuestAgent::Unknown("the VPS has neither systemctl nor service".into())
        );
        assert_eq!(
            read_answer(&format!("{MARK}\nfile: {LINK}\n")),
            GuestAgent::Unknown("the check's answer was cut short".into())
        );
    }

    #[test]
    fn an_answer_that_is_not_the_scripts_is_quoted_safely() {
        let GuestAgent::Unknown(why) = read_answer("\x1b]0;owned\x07Microsoft Windows\r\n") else {
            panic!("not unknown");
        };
        assert!(why.contains("Windows"), "{why}");
        assert!(!why.contains('\x1b') && !why.contains('\x07'), "{why}");
        let GuestAgent::Stopped(said) = read_answer(&answer(LINK, "loaded", &"x".repeat(500)))
        else {
            panic!("not stopped");
        };
        assert!(said.len() < 200, "{said}");
    }

    #[test]
    fn ssh_failures_say_ssh_s_last_words() {
        assert_eq!(
            ssh_failed(Some(255), "Permission denied (publickey).\n"),
            GuestAgent::Unknown("ssh: Permission denied (publickey).".into())
        );
        assert_eq!(
            ssh_failed(Some(255), ""),
            GuestAgent::Unknown("ssh exited with 255".into())
        );
    }

    #[test]
    fn the_hand_check_and_the_script_test_the_one_device() {
        assert_eq!(GUEST_AGENT_CHECK, format!("file {DEVICE}"));
        assert!(SCRIPT.starts_with(&format!("d={DEVICE}\n")));
    }

    #[test]
    fn only_host_names_reach_ssh() {
        assert!(valid_host("vps-1a2b3c4d.vps.ovh.net"));
        assert!(!valid_host("-oProxyCommand=touch /tmp/x"));
        assert!(!valid_host("a b"));
        assert!(!valid_host(""));
    }

    #[test]
    fn only_a_vps_take_or_replace_in_a_checking_profile_is_checked() {
        let take = Operation::Take {
            quiesce_timeout: None,
            name: "t".into(),
            description: String::new(),
            memory: false,
            quiesce: false,
        };
        let replace = Operation::Replace {
            description: String::new(),
        };
        let mut vps = crate::model::machine::tests::vm("ovh", "vps-1", "blog", Vec::new());
        vps.provider = ProviderKind::Ovh;
        assert_eq!(before(&vps, &take, true), Before::Check);
        assert_eq!(before(&vps, &replace, true), Before::Check);
        assert_eq!(before(&vps, &take, false), Before::Nothing);
        assert_eq!(before(&vps, &Operation::DeleteAll, true), Before::Nothing);
        vps.power_state = PowerState::PoweredOff;
        assert_eq!(before(&vps, &take, true), Before::NotNeeded);
        let vm = crate::model::machine::tests::vm("pcc", "vm-1", "web", Vec::new());
        assert_eq!(before(&vm, &take, true), Before::Nothing);
    }

    #[test]
    fn a_take_is_asked_again_unless_the_agent_runs() {
        assert_eq!(GuestAgent::Running.take_warning("web"), None);
        for s in [
            GuestAgent::Checking,
            GuestAgent::NotInstalled,
            GuestAgent::Stopped("inactive".into()),
            GuestAgent::Unknown("ssh: timeout".into()),
        ] {
            assert!(s.take_warning("web").is_some_and(|w| w.contains("web")));
        }
    }
}
