//! The TUI inside tmux, as an operator on a jump host runs it: `y` copies through OSC 52,
//! which tmux (with `set-clipboard on`) keeps as a paste buffer and passes on to the
//! terminal outside. Each test runs its own tmux server on a private socket.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::peers;

/// How long a step may take before the test fails with the screen.
const WAIT: Duration = Duration::from_secs(30);

/// A tmux server of the test's own, with `snaptree demo` in its only window.
struct Tmux {
    tmux: PathBuf,
    dir: tempfile::TempDir,
}

impl Tmux {
    fn start(cols: u16, rows: u16) -> Tmux {
        Tmux::with_command(
            cols,
            rows,
            &format!("{} demo", env!("CARGO_BIN_EXE_snaptree")),
        )
    }

    /// An interactive shell with job control (prompt `shell$ `), for Ctrl-Z and `fg`.
    fn shell(cols: u16, rows: u16) -> Tmux {
        Tmux::with_command(cols, rows, "env PS1='shell$ ' bash --norc --noprofile -i")
    }

    /// A format of the pane (e.g. `#{alternate_on}`).
    fn pane(&self, format: &str) -> String {
        text(&self.run(&["display-message", "-p", format]).stdout)
            .trim()
            .to_string()
    }

    fn with_command(cols: u16, rows: u16, command: &str) -> Tmux {
        let tmux = peers::tmux();
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("tmux.conf");
        std::fs::write(
            &conf,
            "set -g set-clipboard on\nset -g default-terminal tmux-256color\n",
        )
        .expect("tmux.conf written");
        let t = Tmux { tmux, dir };
        let state = t.dir.path().join("state");
        let config = t.dir.path().join("config");
        let out = t
            .cmd()
            .arg("-f")
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .arg("-e")
            .arg(format!("XDG_STATE_HOME={}", state.display()))
            .arg("-e")
            .arg(format!("XDG_CONFIG_HOME={}", config.display()))
            .args(["-e", "SNAPTREE_SIM_TASK_MS=300", "-e", "SNAPTREE_CONFIG="])
            .arg(command)
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            text(&out.stderr)
        );
        t
    }

    /// tmux on this test's socket.
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.tmux);
        c.arg("-S").arg(self.dir.path().join("socket"));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("tmux runs")
    }

    /// The visible pane as text.
    fn screen(&self) -> String {
        text(&self.run(&["capture-pane", "-p"]).stdout)
    }

    /// Type keys (tmux key names, e.g. `Enter`, or literal text with `-l`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys: {}", text(&out.stderr));
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < WAIT,
                "waited for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The newest paste buffer, once there is one.
    fn wait_buffer(&self) -> String {
        let start = Instant::now();
        loop {
            let out = self.run(&["show-buffer"]);
            if out.status.success() {
                return text(&out.stdout);
            }
            assert!(
                start.elapsed() < WAIT,
                "no paste buffer from OSC 52; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn y_copies_the_selected_id_into_a_tmux_buffer() {
    for (cols, rows) in [(120, 36), (80, 24)] {
        let t = Tmux::start(cols, rows);
        t.wait_for("the inventory", |s| s.contains("db-01"));
        assert!(
            !t.run(&["show-buffer"]).status.success(),
            "no buffer before y"
        );
        t.keys(&["-l", "/web-01"]);
        t.keys(&["Enter"]);
        t.wait_for("web-01's tree", |s| s.contains("Snapshots of web-01"));
        // The tree opens on the current snapshot, pre-release (snapshot-104).
        t.keys(&["y"]);
        assert_eq!(t.wait_buffer(), "snapshot-104", "at {cols}×{rows}");
        t.keys(&["q"]);
    }
}

/// Ctrl-Z (a key in raw mode) and `kill -TSTP` give the terminal back to the shell: its
/// prompt shows, off the alternate screen, with the cursor; `fg` takes it again, redrawn,
/// in raw mode (a key acts at once, nothing is echoed).
#[test]
fn ctrl_z_suspends_to_the_shell_and_fg_resumes() {
    for (cols, rows) in [(120, 36), (80, 24)] {
        let t = Tmux::shell(cols, rows);
        t.wait_for("the prompt", |s| s.contains("shell$"));
        t.keys(&["-l", &format!("{} demo", env!("CARGO_BIN_EXE_snaptree"))]);
        t.keys(&["Enter"]);
        t.wait_for("the inventory", |s| s.contains("db-01"));
        assert_eq!(t.pane("#{alternate_on}"), "1");
        for how in ["C-z", "kill -TSTP"] {
            if how == "C-z" {
                t.keys(&["C-z"]);
            } else {
                let shell = t.pane("#{pane_pid}");
                let out = Command::new("pgrep")
                    .args(["-P", &shell])
                    .output()
                    .expect("pgrep runs");
                let pid = text(&out.stdout).trim().to_string();
                assert!(!pid.is_empty(), "the TUI's pid");
                let st = Command::new("kill")
                    .args(["-TSTP", &pid])
                    .status()
                    .expect("kill");
                assert!(st.success());
            }
            let s = t.wait_for("the shell's prompt after the stop", |s| {
                s.lines().any(|l| l.trim_end().ends_with("shell$"))
            });
            assert!(s.contains("Stopped"), "{how}: {s}");
            assert_eq!(t.pane("#{alternate_on}"), "0", "{how}: {s}");
            assert_eq!(t.pane("#{cursor_flag}"), "1", "{how}: the cursor is shown");
            t.keys(&["-l", "fg"]);
            t.keys(&["Enter"]);
            t.wait_for("the TUI redrawn", |s| {
                s.contains("db-01") && s.contains("Inventory")
            });
            assert_eq!(t.pane("#{alternate_on}"), "1", "{how}");
            // Raw mode: ? opens the help without Enter.
            t.keys(&["?"]);
            t.wait_for("the help", |s| s.contains("Esc or ? closes"));
            t.keys(&["Escape"]);
            t.wait_for("the help closed", |s| !s.contains("Esc or ? closes"));
        }
        t.keys(&["q"]);
        t.wait_for("the shell again", |s| {
            s.lines().any(|l| l.trim_end().ends_with("shell$")) && !s.contains("db-01")
        });
    }
}

/// With `--mouse` the terminal reports clicks while the TUI owns it, and never after:
/// Ctrl-Z and quitting turn the reports off, `fg` on again. Without it, no reports are
/// asked. (A click itself is sent in `tui_pty`: tmux types a sequence key by key.)
#[test]
fn mouse_reports_are_on_only_while_the_tui_runs_with_mouse() {
    let bin = env!("CARGO_BIN_EXE_snaptree");
    let t = Tmux::shell(120, 36);
    t.wait_for("the prompt", |s| s.contains("shell$"));
    t.keys(&["-l", &format!("{bin} demo")]);
    t.keys(&["Enter"]);
    t.wait_for("the inventory", |s| s.contains("db-01"));
    assert_eq!(t.pane("#{mouse_any_flag}"), "0", "no reports unless asked");
    t.keys(&["q"]);
    t.wait_for("the shell again", |s| !s.contains("db-01"));

    t.keys(&["-l", &format!("{bin} --mouse demo")]);
    t.keys(&["Enter"]);
    t.wait_for("the inventory", |s| s.contains("db-02"));
    assert_eq!(t.pane("#{mouse_any_flag}"), "1", "reports asked");
    assert_eq!(t.pane("#{mouse_sgr_flag}"), "1", "in SGR form");
    t.keys(&["C-z"]);
    t.wait_for("the shell's prompt after the stop", |s| {
        s.lines().any(|l| l.trim_end().ends_with("shell$"))
    });
    assert_eq!(t.pane("#{mouse_any_flag}"), "0", "off while stopped");
    t.keys(&["-l", "fg"]);
    t.keys(&["Enter"]);
    t.wait_for("the TUI redrawn", |s| {
        s.contains("db-02") && s.contains("Inventory")
    });
    assert_eq!(t.pane("#{mouse_any_flag}"), "1", "on again after fg");
    t.keys(&["q"]);
    t.wait_for("the shell again", |s| {
        s.lines().any(|l| l.trim_end().ends_with("shell$")) && !s.contains("db-02")
    });
    assert_eq!(t.pane("#{mouse_any_flag}"), "0", "off after quitting");
}
