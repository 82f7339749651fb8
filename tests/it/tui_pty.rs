//! End to end: the real binary's TUI (`snaptree demo`) in a pseudo-terminal, driven by keys
//! and checked on the screen as a terminal emulator (vt100) shows it.

use std::time::{Duration, Instant};

use crate::common::pty::{Tui, WAIT};

/// The line of the screen holding `needle`, and the one after it.
fn line_and_next<'a>(screen: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let lines: Vec<&str> = screen.lines().collect();
    let i = lines.iter().position(|l| l.contains(needle))?;
    Some((lines[i], lines.get(i + 1).copied().unwrap_or("")))
}

#[test]
fn take_revert_delete_delete_all_then_quit_restores_the_terminal() {
    let mut tui = Tui::start(&[], 300);
    let state = tui.state_dir();

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
        // The tree pane is focused: its border is the thick one.
        s.contains("│┃  └─▶ You are here")
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
    tui.assert_terminal_restored(&text);

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
            .rev()
            .find(|r| r["operation"] == op && r["machine"] == "vm-101" && r["profile"] == "pcc");
        let Some(r) = hit else {
            panic!("no audit line for {op}:\n{audit}")
        };
        assert_eq!(r["result"], "success", "{op}: {r}");
        assert!(r["task_id"].is_string(), "{op}: {r}");
        assert!(r["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
    }
    let revert = records
        .iter()
        .rev()
        .find(|r| r["operation"] == "revert")
        .unwrap();
    assert_eq!(revert["target"], "snapshot-101");
}

#[test]
fn esc_cancels_a_dialog_and_nothing_is_audited() {
    let mut tui = Tui::start(&[], 300);
    let state = tui.state_dir();
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

/// `kill -INT`, `-TERM` or `-HUP` on the TUI: the terminal is restored (raw mode off, the
/// alternate screen left, the cursor shown) and the exit code says which signal (128 + n).
#[test]
fn a_signal_restores_the_terminal_and_exits_non_zero() {
    for (signal, number) in [("-INT", 2), ("-TERM", 15), ("-HUP", 1)] {
        let mut tui = Tui::start(&[], 200);
        let pid = tui.child.process_id().expect("pid");
        let killed = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = tui.wait_exit();
        assert_eq!(status.exit_code(), 128 + number, "{signal}: {status:?}");
        let text = tui.raw_text();
        tui.assert_terminal_restored(&text);
        assert!(
            text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l"),
            "{signal}: cursor shown"
        );
    }
}

/// The cleanup flow of the snapshot list in the real binary: list, sort, filter, mark all,
/// delete as one plan, the summary; the pinned snapshot stays, every step is audited.
#[test]
fn the_snapshot_list_sorts_filters_marks_all_and_deletes_them_as_one_plan() {
    let mut tui = Tui::start(&[], 300);
    let state = tui.state_dir();
    tui.wait_for("the inventory", |s| {
        s.contains("web-01") && s.contains("shop-front") && s.contains("blog")
    });
    tui.send("v");
    tui.wait_text("All snapshots: 23");
    tui.wait_text("sorted by age, oldest first");
    tui.send("s");
    tui.wait_text("sorted by size, largest first");
    tui.send("/web-01\r");
    tui.wait_text("All snapshots: 6");
    tui.send("A");
    let s = tui.wait_text("5 marked");
    assert!(s.contains("1 protected left out"), "{s}");
    tui.send("d");
    let s = tui.wait_text("Delete marked snapshots");
    assert!(s.contains("web-01 (pcc): 5 snapshot(s)"), "{s}");
    tui.send("5\r");
    let s = tui.wait_for("the summary", |s| s.contains("delete marked ended"));
    assert!(s.contains("5 done, 0 failed, 0 skipped"), "{s}");
    let s = tui.wait_text("All snapshots: 1");
    assert!(s.contains("base"), "the pinned base stays:\n{s}");
    assert!(!s.contains("marked ·"), "nothing stays marked:\n{s}");
    tui.quit();
    let audit = std::fs::read_to_string(state.join("snaptree").join("audit.log"))
        .expect("audit log written");
    let done = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON lines"))
        .filter(|r| r["operation"] == "delete" && r["machine"] == "vm-101")
        .filter(|r| r["result"] == "success")
        .count();
    assert_eq!(done, 5, "{audit}");
}

/// An abort (`kill -ABRT`, as a stack overflow ends in) while the TUI owns the terminal:
/// no destructor runs, yet the alternate screen is left, the cursor shown and the
/// terminal's modes put back (canonical, echo), and the process still dies of the signal.
#[test]
fn an_abort_restores_the_terminal() {
    let mut tui = Tui::start(&[], 200);
    let raw = tui.tty_modes();
    assert!(raw.contains("-icanon") && raw.contains("-echo "), "{raw}");
    let pid = tui.child.process_id().expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-ABRT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tui.wait_exit();
    assert!(!status.success(), "{status:?}");
    let text = tui.raw_text();
    tui.assert_terminal_restored(&text);
    assert!(
        text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l"),
        "cursor shown"
    );
    let modes = tui.tty_modes();
    assert!(
        !modes.contains("-icanon") && !modes.contains("-echo "),
        "cooked again: {modes}"
    );
}

/// The first run, nothing configured: the welcome stays (it used to draw one frame and
/// exit 0), says where the config goes, and q quits.
#[test]
fn with_nothing_configured_the_welcome_stays_until_q() {
    let mut tui = Tui::launch(&[], 200);
    let config = tui
        .state_dir()
        .parent()
        .expect("the test's directory")
        .join("config")
        .join("snaptree")
        .join("config.toml");
    let s = tui.wait_text("Welcome to snaptree");
    assert!(s.contains("snaptree demo"), "{s}");
    let flat: String = s.split_whitespace().collect();
    let path: String = config.display().to_string().split_whitespace().collect();
    assert!(flat.contains(&path), "{} missing:\n{s}", config.display());
    // Still there a while later, and keys other than q do nothing.
    std::thread::sleep(Duration::from_millis(1500));
    tui.send("j");
    tui.send(":");
    assert!(tui.child.try_wait().expect("wait").is_none(), "it exited");
    tui.wait_text("Welcome to snaptree");
    tui.quit();
    let text = tui.raw_text();
    tui.assert_terminal_restored(&text);
}

/// Mouse reports asked (`--mouse`): buttons and the wheel in SGR form, and the last word
/// on them is "off", however the TUI ends.
fn assert_mouse_asked_then_stopped(raw: &str) {
    let on = raw
        .rfind("\x1b[?1000h\x1b[?1006h")
        .expect("mouse reports asked");
    let off = raw
        .rfind("\x1b[?1006l\x1b[?1000l")
        .expect("mouse reports stopped");
    assert!(off > on, "stopped after they were asked");
    assert!(!raw.contains("\x1b[?1003h"), "no reports of mere motion");
}

/// With `--mouse`, a click as a terminal sends it (SGR form) selects the machine under it
/// and opens its tree; quitting or a signal stops the reports before the shell has the
/// terminal back.
#[test]
fn a_click_selects_the_machine_under_it_and_every_exit_stops_mouse_reports() {
    let mut tui = Tui::start(&["--mouse"], 300);
    let s = tui.screen();
    let (y, x) = s
        .lines()
        .enumerate()
        .find_map(|(y, l)| l.find("db-02").map(|x| (y, l[..x].chars().count())))
        .expect("db-02 on the screen");
    let at = format!("{};{}", x + 1, y + 1);
    tui.send(&format!("\x1b[<0;{at}M\x1b[<0;{at}m"));
    tui.wait_text("Snapshots of db-02");
    tui.quit();
    let raw = tui.raw_text();
    tui.assert_terminal_restored(&raw);
    assert_mouse_asked_then_stopped(&raw);

    let mut tui = Tui::start(&["--mouse"], 300);
    let pid = tui.child.process_id().expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert_eq!(tui.wait_exit().exit_code(), 128 + 15);
    assert_mouse_asked_then_stopped(&tui.raw_text());
}

/// `q`, the exit awaited, then the audit log the run wrote.
fn quit_then_audit(tui: &mut Tui, state: &std::path::Path) -> String {
    tui.quit();
    std::fs::read_to_string(state.join("snaptree").join("audit.log")).expect("audit log written")
}

/// The demo's mail VPS in the TUI: `b` lists its restore points; from there a detach, a
/// mount, a full restore typed like a revert and a new daily time, each confirmed in its
/// own dialog, run, refreshed and audited.
#[test]
fn a_vps_backup_is_detached_mounted_restored_and_rescheduled_from_its_dialog() {
    let mut tui = Tui::start(&[], 300);
    let state = tui.state_dir();
    tui.wait_for("the inventory", |s| {
        s.contains("mail") && s.contains("blog")
    });
    tui.send("/mail\r");
    tui.wait_text("Snapshots of mail");

    // The newest restore point is mounted: detach it.
    tui.send("b");
    tui.wait_for("the restore points", |s| {
        s.contains("Automated backup of mail") && s.contains("› ") && s.contains("mounted")
    });
    tui.send("d");
    tui.wait_text("Detach a backup of mail");
    // The key that opened it does not confirm.
    tui.send("d");
    tui.send("\r");
    tui.wait_text("backup-detach on mail: done");

    // Mount the one before it.
    tui.send("b");
    tui.wait_text("Automated backup of mail");
    tui.send("j");
    tui.send("m");
    tui.wait_text("Mount a backup of mail");
    tui.send("y");
    tui.wait_text("backup-restore-file on mail: done");

    // Restore the newest whole: the name typed, as for a revert.
    tui.send("b");
    tui.wait_text("Automated backup of mail");
    tui.send("f");
    tui.wait_text("everything written since is");
    tui.send("\r");
    tui.wait_text("type mail exactly");
    tui.send("mail\r");
    tui.wait_text("backup-restore-full on mail: done");

    // Move the daily time; the details say the new one once read again.
    tui.send("b");
    tui.wait_text("Automated backup of mail");
    tui.send("s");
    tui.wait_text("Daily time (HH:MM, UTC)");
    tui.send("03:30\r");
    tui.wait_text("backup-reschedule on mail: done");
    tui.wait_text("daily at 03:30 UTC");

    let audit = quit_then_audit(&mut tui, &state);
    for op in [
        "backup-detach",
        "backup-restore-file",
        "backup-restore-full",
        "backup-reschedule",
    ] {
        assert!(
            audit
                .lines()
                .any(|l| l.contains(&format!("\"operation\":\"{op}\""))
                    && l.contains("\"result\":\"success\"")),
            "no success line for {op}:\n{audit}"
        );
    }
}

/// `O` on the demo's VPS without the snapshot option: its prices asked, the order's dialog,
/// the VPS's name typed; the order is created (never paid), its URL said, and the VPS
/// still says it has no snapshot option.
#[test]
fn a_missing_option_is_ordered_from_the_vps_and_nothing_is_claimed_active() {
    let mut tui = Tui::start(&[], 300);
    let state = tui.state_dir();
    tui.wait_for("the inventory", |s| {
        s.contains("mail") && s.contains("blog")
    });
    tui.send("/vps-9c0d\r");
    tui.wait_text("no snapshot option on this VPS");
    tui.send("O");
    tui.wait_for("the order's dialog", |s| {
        s.contains("Order the snapshot option") && s.contains("P12M") && s.contains("3.59 €")
    });
    // The key that opened it does not confirm; the name must be typed.
    tui.send("O");
    tui.send("\r");
    tui.wait_text("exactly to confirm");
    tui.send("\x7f");
    tui.send("vps-9c0d1e2f.vps.ovh.net\r");
    tui.wait_for("where the order is paid", |s| {
        s.contains("Order created") && s.contains("Pay it at https://sim.invalid/order/")
    });
    tui.send("\x1b");
    tui.wait_for("the VPS as it is", |s| {
        !s.contains("Order created") && s.contains("no snapshot option on this VPS")
    });
    let audit = quit_then_audit(&mut tui, &state);
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"operation\":\"order-option\"")
                && l.contains("\"result\":\"success\"")),
        "{audit}"
    );
}
