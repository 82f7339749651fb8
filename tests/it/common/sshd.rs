//! A throwaway OpenSSH server on loopback standing in for a VPS, for the guest agent check:
//! Debian's `sshd` on a free port with its own host key, one client key, and fake `file`
//! and `systemctl` first on the session's PATH (sshd's `SetEnv`), answering as the test
//! says (`Sshd::answer`). The client side is an ssh configuration (`ssh_config`, passed
//! with `ssh -F`) that sends every host name to this server and knows its host key.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::peers::INSTALL;

/// What the fake guest answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// Device there, service loaded and active.
    Running,
    /// Device there, service loaded, inactive.
    Stopped,
    /// Device there, no such service.
    NotInstalled,
    /// No device, no service (a fresh image).
    Missing,
    /// `systemctl` takes far longer than any time limit.
    Slow,
    /// Not a shell that runs the check (a banner, then nothing).
    NotAShell,
}

impl Answer {
    fn word(self) -> &'static str {
        match self {
            Answer::Running => "running",
            Answer::Stopped => "stopped",
            Answer::NotInstalled => "notinstalled",
            Answer::Missing => "missing",
            Answer::Slow => "slow",
            Answer::NotAShell => "notashell",
        }
    }
}

/// The server; stopped when dropped.
pub struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// Debian's sshd, or a failure naming the install command.
fn sshd_binary() -> PathBuf {
    let bin = PathBuf::from("/usr/sbin/sshd");
    assert!(
        bin.is_file(),
        "sshd is not installed (Debian's openssh-server): run `{INSTALL}` to install it"
    );
    bin
}

fn keygen(path: &Path) {
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "snaptree-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs (openssh-client)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn user() -> String {
    let o = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

impl Sshd {
    /// Start a server answering `answer`.
    pub fn start(answer: Answer) -> Sshd {
        let sshd = sshd_binary();
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("id"));
        std::fs::copy(d.join("id.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let bin = d.join("bin");
        std::fs::create_dir(&bin).expect("mkdir bin");
        let state = d.join("answer");
        let at = state.display();
        executable(
            &bin.join("file"),
            &format!(
                "#!/bin/sh\ncase \"$(cat {at})\" in\n  missing) echo \"$1: cannot open \\`$1' (No such file or directory)\";;\n  *) echo \"$1: symbolic link to ../vport2p1\";;\nesac\n"
            ),
        );
        executable(
            &bin.join("systemctl"),
            &format!(
                "#!/bin/sh\na=$(cat {at})\n[ \"$a\" = slow ] && sleep 8\ncase \"$1\" in\n  show) case \"$a\" in notinstalled|missing) echo LoadState=not-found;; *) echo LoadState=loaded;; esac;;\n  is-active) case \"$a\" in running) echo active; exit 0;; *) echo inactive; exit 3;; esac;;\nesac\n"
            ),
        );
        // The session's `sh`: a banner-only shell for the Windows-like answer.
        executable(
            &bin.join("sh"),
            &format!(
                "#!/bin/bash\nif [ \"$(cat {at})\" = notashell ]; then cat >/dev/null; echo 'Microsoft Windows [Version 10.0.20348]'; exit 0; fi\nexec /bin/sh \"$@\"\n"
            ),
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
             SetEnv PATH={d}/bin:/usr/bin:/bin\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
        // Run as root, sshd wants its privilege separation directory.
        if user() == "root" {
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let known = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {known}"))
            .expect("known_hosts");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).expect("log"))
            .spawn()
            .expect("sshd starts");
        let s = Sshd { dir, child, port };
        s.answer(answer);
        s.wait_listening();
        s
    }

    fn wait_listening(&self) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What sshd logged (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// From now on the fake guest answers `answer`.
    pub fn answer(&self, answer: Answer) {
        std::fs::write(self.dir.path().join("answer"), answer.word()).expect("answer");
    }

    /// An ssh client configuration that sends every host here, as this test's user, with
    /// the test's key; `known` false leaves the server's host key unknown.
    pub fn client_config(&self, known: bool) -> PathBuf {
        let d = self.dir.path();
        let path = d.join(if known {
            "ssh_config"
        } else {
            "ssh_config_unknown"
        });
        let known_hosts = if known {
            d.join("known_hosts")
        } else {
            d.join("no_known_hosts")
        };
        let text = format!(
            "Host *\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}/id\n  \
             IdentitiesOnly yes\n  IdentityAgent none\n  UserKnownHostsFile {}\n  \
             GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  CheckHostIP no\n",
            self.port,
            user(),
            d.display(),
            known_hosts.display()
        );
        std::fs::write(&path, text).expect("ssh_config");
        path
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
