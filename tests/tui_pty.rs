//! End to end: the real binary's TUI (`snaptree demo`) in a pseudo-terminal, driven by keys
//! and checked on the screen as a terminal emulator (vt100) shows it.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const ROWS: u16 = 30;
const COLS: u16 = 100;
const WAIT: Duration = Duration::from_secs(15);

struct Tui {
    parser: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Tui {
    fn start(state: &std::path::Path, config: &std::path::Path) -> Tui {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_snaptree"));
        cmd.arg("demo");
        cmd.env("SNAPTREE_SIM_TASK_MS", "300");
        cmd.env("XDG_STATE_HOME", state);
        cmd.env("XDG_CONFIG_HOME", config);
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("SNAPTREE_CONFIG");
        cmd.env_remove("NO_COLOR");
        let child = pair.slave.spawn_command(cmd).expect("spawn snaptree demo");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (p, r) = (parser.clone(), raw.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        p.lock().unwrap().process(&buf[..n]);
                        r.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                }
            }
        });
        Tui {
            parser,
            raw,
            writer,
            child,
            _master: pair.master,
        }
    }

    fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write keys");
        self.writer.flush().expect("flush keys");
        // Let each key batch be read as its own events.
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Poll the screen until `pred` holds; on timeout, fail showing the screen.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > WAIT {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        // Only when a test failed before quitting: do not leave the process behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

/// The line of the screen holding `needle`, and the one after it.
fn line_and_next<'a>(screen: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let lines: Vec<&str> = screen.lines().collect();
    let i = lines.iter().position(|l| l.contains(needle))?;
    Some((lines[i], lines.get(i + 1).copied().unwrap_or("")))
}

#[test]
fn take_revert_delete_delete_all_then_quit_restores_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = dir.path().join("config");
    let mut tui = Tui::start(&state, &config);

    // The inventory of both back ends.
    tui.wait_for("the inventory", |s| {
        s.contains("web-01") && s.contains("shop-front") && s.contains("blog")
    });

    // Filter to web-01; its tree opens on the current snapshot.
    tui.send("/web-01");
    tui.send("\r");
    tui.wait_for("web-01's tree", |s| {
        s.contains("Snapshots of web-01") && s.contains("pre-release") && !s.contains("web-02")
    });
    let before = tui.screen();
    let (line, next) = line_and_next(&before, "pre-release").unwrap();
    assert!(
        next.contains("You are here"),
        "You are here under pre-release:\n{line}\n{next}"
    );

    // Take with the default name (the local date-time); it becomes current.
    tui.send("t");
    tui.wait_text("Take a snapshot of web-01");
    tui.send("\r");
    let day = chrono::Local::now().format("%Y-%m-%d").to_string();
    let taken = format!("─ {day}");
    let s = tui.wait_for("the new snapshot with You are here under it", |s| {
        line_and_next(s, &taken).is_some_and(|(_, next)| next.contains("You are here"))
    });
    assert!(s.contains("pre-release"));

    // Revert to the root snapshot "base", confirming by typing the name.
    tui.send("\r"); // open the tree
    tui.send("g");
    tui.send("r");
    tui.wait_text("Revert web-01");
    tui.send("web-02");
    tui.send("\r");
    tui.wait_text("type web-01 exactly");
    tui.send("\x7f");
    tui.send("1");
    tui.send("\r");
    // "You are here" is now the last child of base (the only root): one level deep.
    tui.wait_for("You are here under base", |s| {
        s.contains("││  └─▶ You are here")
    });
    tui.wait_text("revert on web-01: done");

    // Delete a leaf: hotfix-test is the row above "You are here" at the bottom.
    tui.send("G");
    tui.send("k");
    tui.send("d");
    tui.wait_for("the delete dialog", |s| {
        s.contains("Delete a snapshot of web-01") && s.contains("hotfix-test")
    });
    tui.send("\r");
    tui.wait_for("hotfix-test gone", |s| {
        !s.contains("─ hotfix-test") && s.contains("delete on web-01: done")
    });

    // Delete all, typing the name.
    tui.send("D");
    tui.wait_text("Delete all snapshots of web-01");
    tui.send("web-01");
    tui.send("\r");
    tui.wait_text("no snapshots");

    // Quit: no task runs, so no question; the terminal is restored.
    tui.send("q");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = tui.child.try_wait().expect("wait") {
            break st;
        }
        assert!(start.elapsed() < WAIT, "snaptree did not exit after q");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    // Let the reader drain the last bytes.
    std::thread::sleep(Duration::from_millis(200));
    let raw = tui.raw.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&raw);
    let entered = text
        .rfind("\x1b[?1049h")
        .expect("entered the alternate screen");
    let left = text
        .rfind("\x1b[?1049l")
        .expect("left the alternate screen");
    assert!(left > entered, "the alternate screen was left last");
    let tail = &text[left + "\x1b[?1049l".len()..];
    assert!(
        !tail.contains("\x1b[?1049h") && tail.len() < 32,
        "after leaving the alternate screen only cursor restoration may follow: {tail:?}"
    );
    assert!(!tui.parser.lock().unwrap().screen().alternate_screen());

    // The audit log has a success line for each change.
    let audit = std::fs::read_to_string(state.join("snaptree").join("audit.log"))
        .expect("audit log written");
    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect();
    for op in ["take", "revert", "delete", "delete-all"] {
        let hit = records
            .iter()
            .find(|r| r["operation"] == op && r["machine"] == "vm-101" && r["profile"] == "pcc");
        let Some(r) = hit else {
            panic!("no audit line for {op}:\n{audit}")
        };
        assert_eq!(r["result"], "success", "{op}: {r}");
        assert!(r["task_id"].is_string(), "{op}: {r}");
        assert!(r["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
    }
    let revert = records.iter().find(|r| r["operation"] == "revert").unwrap();
    assert_eq!(revert["target"], "snapshot-101");
}

#[test]
fn esc_cancels_a_dialog_and_nothing_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = dir.path().join("config");
    let mut tui = Tui::start(&state, &config);
    tui.wait_for("the inventory", |s| {
        s.contains("web-01") && s.contains("blog")
    });
    tui.send("/db-01\r");
    tui.wait_text("Snapshots of db-01");
    tui.send("c");
    tui.wait_text("Consolidate the disks of db-01");
    tui.send("\x1b");
    tui.wait_text("cancelled; nothing changed");
    tui.send("q");
    let start = Instant::now();
    while tui.child.try_wait().expect("wait").is_none() {
        assert!(start.elapsed() < WAIT, "snaptree did not exit after q");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!state.join("snaptree").join("audit.log").exists());
}
