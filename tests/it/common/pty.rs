//! The real binary's TUI in a pseudo-terminal (`portable-pty` + `vt100`), for end-to-end tests.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

pub const ROWS: u16 = 30;
pub const COLS: u16 = 100;
pub const WAIT: Duration = Duration::from_secs(15);

/// The real `snaptree demo` in a pseudo-terminal, seen through a vt100 emulator.
pub struct Tui {
    /// The emulated screen.
    pub parser: Arc<Mutex<vt100::Parser>>,
    /// Every byte the program wrote.
    pub raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    /// The program.
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    master: Box<dyn portable_pty::MasterPty + Send>,
    _dir: tempfile::TempDir,
}

impl Tui {
    /// `snaptree [args] demo` with its own XDG directories and simulated task duration.
    pub fn start(args: &[&str], task_ms: u32) -> Tui {
        let mut all = args.to_vec();
        all.push("demo");
        let tui = Tui::launch(&all, task_ms);
        tui.wait_for("the inventory", |s| {
            s.contains("web-01") && s.contains("shop-front") && s.contains("blog")
        });
        tui
    }

    /// `snaptree [args]` with its own, empty XDG directories and no govc variables; returns
    /// at once.
    pub fn launch(args: &[&str], task_ms: u32) -> Tui {
        let dir = tempfile::tempdir().expect("tempdir");
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
        cmd.args(args);
        cmd.env("SNAPTREE_SIM_TASK_MS", task_ms.to_string());
        cmd.env_remove("GOVC_URL");
        cmd.env("XDG_STATE_HOME", dir.path().join("state"));
        cmd.env("XDG_CONFIG_HOME", dir.path().join("config"));
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
            master: pair.master,
            _dir: dir,
        }
    }

    /// Its state directory (`XDG_STATE_HOME`): the log and the audit log are under it.
    pub fn state_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("state")
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    pub fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write keys");
        self.writer.flush().expect("flush keys");
        // Let each key batch be read as its own events.
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Poll the screen until `pred` holds; on timeout, fail showing the screen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > WAIT {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    pub fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }

    /// Filter the inventory down to one machine and open its tree.
    pub fn open_machine(&mut self, name: &str) {
        self.send("/");
        self.send(name);
        self.send("\r");
        let title = format!("Snapshots of {name}");
        self.wait_text(&title);
        self.send("\r");
    }

    /// Move the tree cursor from the top to the snapshot whose details show `id`.
    pub fn select_snapshot(&mut self, id: &str) -> String {
        let shown = format!("({id})");
        self.send("g");
        for _ in 0..16 {
            let s = self.screen();
            if s.contains(&shown) {
                return s;
            }
            self.send("j");
        }
        self.wait_text(&shown)
    }

    /// After exit: the alternate screen was left last, and only cursor restoration
    /// followed it in `text` (what the program wrote).
    pub fn assert_terminal_restored(&self, text: &str) {
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
        assert!(!self.parser.lock().unwrap().screen().alternate_screen());
    }

    /// The raw bytes written so far, as text.
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned()
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.parser
            .lock()
            .unwrap()
            .screen_mut()
            .set_size(rows, cols);
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize the pty");
    }

    /// The terminal's modes as `stty -a` prints them (`-icanon -echo` in raw mode).
    pub fn tty_modes(&self) -> String {
        let tty = self.master.tty_name().expect("the pty's name");
        let out = std::process::Command::new("stty")
            .arg("-a")
            .arg("-F")
            .arg(&tty)
            .output()
            .expect("stty runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait for the process to exit; its status.
    pub fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                // Let the reader drain the last bytes.
                std::thread::sleep(Duration::from_millis(200));
                return st;
            }
            assert!(start.elapsed() < WAIT, "snaptree did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn quit(&mut self) {
        self.send("q");
        let status = self.wait_exit();
        assert!(status.success(), "exit status {status:?}");
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
