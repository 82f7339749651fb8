//! End to end: operator flows in the real binary's TUI (`snaptree demo`) in a pseudo-terminal,
//! each step checked on the screen as a terminal emulator (vt100) shows it.

use std::time::{Duration, Instant};

use crate::common::pty::{COLS, ROWS, Tui, WAIT};

/// The column where the tree label `name` starts on its line (its depth in the tree).
fn column_of(screen: &str, name: &str) -> Option<usize> {
    screen
        .lines()
        .find_map(|l| l.find(name).map(|i| l[..i].chars().count()))
}

#[test]
fn vsphere_take_delete_consolidate_rename_palette_help() {
    let mut tui = Tui::start(&[], 200);

    // Help lists the keys.
    tui.send("?");
    tui.wait_for("the help", |s| {
        s.contains("Keys") && s.contains("take snapshot") && s.contains("command palette")
    });
    tui.send("?");
    tui.wait_for("the help closed", |s| !s.contains("take snapshot"));

    // Filter: only the matching machines stay.
    tui.send("/db-0");
    tui.wait_for("the filter", |s| {
        s.contains("db-01") && s.contains("db-02") && !s.contains("web-01") && !s.contains("blog")
    });
    tui.send("\x1b");
    tui.wait_for("the filter cleared", |s| {
        s.contains("web-01") && s.contains("blog")
    });

    // Take on web-01 with memory and quiesce: quiesce is ticked already (Tools run).
    tui.open_machine("web-01");
    tui.send("t");
    tui.wait_text("Take a snapshot of web-01");
    tui.send("\x1b");
    tui.wait_text("cancelled; nothing changed");
    tui.send("t");
    tui.wait_for("quiesce ticked", |s| {
        s.contains("Take a snapshot of web-01") && s.contains("[x] Quiesce")
    });
    tui.send("\t\t");
    tui.send(" ");
    tui.wait_for("both boxes ticked", |s| s.matches("[x]").count() == 2);
    tui.send("\r");
    let day = chrono::Local::now().format("%Y-%m-%d").to_string();
    tui.wait_for("the new snapshot marked mem q", |s| {
        s.lines().any(|l| l.contains(&day) && l.contains("mem q"))
            && s.contains("take on web-01: done")
    });

    // db-02 is powered off: both options greyed with the reason.
    tui.send("\x1b");
    tui.open_machine("db-02");
    tui.send("t");
    tui.wait_text("Take a snapshot of db-02");
    tui.wait_for("the reasons", |s| {
        s.contains("memory needs the VM powered on")
            && s.contains("quiesce needs the VM powered on")
    });
    // Greyed: Space on either box ticks nothing.
    tui.send("\t\t");
    tui.send(" ");
    tui.send("\t");
    tui.send(" ");
    let s = tui.screen();
    assert!(!s.contains("[x]"), "a greyed option was ticked:\n{s}");
    tui.send("\x1b");
    tui.wait_text("cancelled; nothing changed");

    // Delete a middle snapshot: its child moves up to its parent.
    tui.send("\x1b");
    tui.open_machine("web-01");
    let s = tui.select_snapshot("snapshot-102");
    let base = column_of(&s, "base").expect("base in the tree");
    let after = column_of(&s, "after-patch").expect("after-patch in the tree");
    assert!(
        after > base + 3,
        "after-patch is two levels under base:\n{s}"
    );
    tui.send("d");
    tui.wait_for("the delete dialog", |s| {
        s.contains("Delete a snapshot of web-01") && s.contains("move up to its parent")
    });
    tui.send("\r");
    let s = tui.wait_for("snapshot-102 gone", |s| {
        s.contains("delete on web-01: done") && s.matches("─ before-upgrade").count() == 1
    });
    let base = column_of(&s, "base").unwrap();
    let after2 = column_of(&s, "after-patch").unwrap();
    assert!(
        after2 < after && after2 > base,
        "after-patch now directly under base:\n{s}"
    );
    tui.select_snapshot("snapshot-103");

    // Delete with children: snapshot-105 (before-upgrade) and hotfix-test go.
    tui.select_snapshot("snapshot-105");
    tui.send("d");
    tui.wait_text("Also delete its 1 descendant(s)");
    tui.send("\t");
    tui.send(" ");
    tui.wait_text("[x]");
    // Two snapshots go: Enter alone does not confirm, the count is typed.
    tui.wait_text("Type 2 (the number of snapshots) to confirm");
    tui.send("\r");
    tui.wait_text("type 2 exactly to confirm");
    tui.send("\x1b[Z");
    tui.send("2");
    tui.send("\r");
    tui.wait_for("the subtree gone", |s| {
        !s.contains("─ before-upgrade")
            && !s.contains("─ hotfix-test")
            && s.contains("─ after-patch")
    });

    // Rename pre-release.
    tui.select_snapshot("snapshot-104");
    tui.send("e");
    tui.wait_text("Rename a snapshot of web-01");
    for _ in 0.."pre-release".len() {
        tui.send("\x7f");
    }
    tui.send("release-4.2");
    tui.send("\r");
    tui.wait_for("the new name", |s| {
        s.contains("─ release-4.2") && !s.contains("─ pre-release")
    });

    // Consolidate db-01: the warning goes from its details.
    tui.send("\x1b");
    tui.open_machine("db-01");
    tui.wait_text("disks need consolidation");
    // The palette: "consolidate" then Enter opens the dialog.
    tui.send(":");
    tui.wait_text("Command palette");
    tui.send("consolidate");
    tui.wait_for("the palette filtered", |s| {
        s.contains("consolidate") && !s.contains("take snapshot")
    });
    tui.send("\r");
    tui.wait_text("Consolidate the disks of db-01");
    tui.send("\r");
    tui.wait_for("the warning gone", |s| {
        s.contains("consolidate on db-01: done") && !s.contains("disks need consolidation")
    });

    tui.quit();
}

#[test]
fn vps_replace_revert_take_download_link_delete() {
    let mut tui = Tui::start(&[], 200);
    let day = chrono::Local::now().format("%Y-%m-%d").to_string();

    // shop-front has a snapshot: t offers to replace it.
    tui.open_machine("shop-front");
    tui.wait_text("─ pre-deploy");
    tui.send("t");
    tui.wait_for("the replace dialog", |s| {
        s.contains("Replace the snapshot of shop-front") && s.contains("keeps only one")
    });
    tui.send("\r");
    tui.wait_for("the new snapshot in place of pre-deploy", |s| {
        !s.contains("─ pre-deploy")
            && s.lines().any(|l| l.contains("─ ") && l.contains(&day))
            && s.contains("on shop-front: done")
    });

    // Revert to it, typing the name: OVHcloud deletes it afterwards.
    tui.send("g");
    tui.send("r");
    tui.wait_text("Revert shop-front");
    tui.send("shop-front");
    tui.send("\r");
    tui.wait_for("no snapshots after the revert", |s| {
        s.contains("no snapshots") && s.contains("revert on shop-front: done")
    });

    // blog: take, show the download link and copy it, then delete.
    tui.send("\x1b");
    tui.open_machine("blog");
    tui.wait_text("no snapshots");
    tui.send("t");
    tui.wait_text("Take a snapshot of blog");
    tui.send("\r");
    tui.wait_for("blog's snapshot", |s| {
        s.contains("take on blog: done") && s.lines().any(|l| l.contains("─ ") && l.contains(&day))
    });
    assert!(!tui.raw_text().contains("\x1b]52;c;"), "nothing copied yet");
    tui.send("L");
    tui.wait_for("the download link dialog", |s| {
        s.contains("Download the snapshot of blog") && s.contains("expires 20")
    });
    tui.send("y");
    let start = Instant::now();
    while !tui.raw_text().contains("\x1b]52;c;") {
        assert!(
            start.elapsed() < WAIT,
            "no OSC 52 copy; the screen:\n{}",
            tui.screen()
        );
        std::thread::sleep(Duration::from_millis(40));
    }
    tui.send("\x1b");
    tui.wait_for("the dialog closed", |s| {
        !s.contains("Download the snapshot")
    });
    tui.send("g");
    tui.send("d");
    tui.wait_text("Delete a snapshot of blog");
    tui.send("\r");
    tui.wait_for("blog without snapshots", |s| {
        s.contains("no snapshots") && s.contains("delete on blog: done")
    });

    tui.quit();
}

#[test]
fn read_only_refuses_changes_and_a_small_terminal_is_told() {
    let mut tui = Tui::start(&["--read-only"], 200);
    tui.open_machine("web-01");
    tui.select_snapshot("snapshot-106");
    for (key, op) in [("t", "take"), ("d", "delete"), ("D", "delete-all")] {
        tui.send(key);
        let reason = format!("{op} refused: profile pcc is read-only");
        let s = tui.wait_text(&reason);
        assert!(
            !s.contains("Take a snapshot")
                && !s.contains("Delete a snapshot")
                && !s.contains("Delete all"),
            "no dialog after {key}:\n{s}"
        );
    }

    // Too small a terminal is told, and the panes come back.
    tui.resize(70, 20);
    tui.wait_for("the size message", |s| {
        s.contains("at least 80×24") && !s.contains("Snapshots of web-01")
    });
    tui.resize(COLS, ROWS);
    tui.wait_for("the panes again", |s| {
        s.contains("Snapshots of web-01") && s.contains("Tasks") && !s.contains("at least 80×24")
    });

    tui.quit();
}

#[test]
fn cancel_a_running_task_then_quit_while_one_runs() {
    let mut tui = Tui::start(&[], 20000);
    let taken = format!("─ {}", chrono::Local::now().format("%Y-%m-%d"));
    tui.open_machine("web-01");
    tui.send("t");
    tui.wait_text("Take a snapshot of web-01");
    tui.send("\r");
    tui.wait_for("the take running", |s| {
        s.contains("take web-01") && !s.contains("take on web-01: done")
    });
    // From the tree, Tab reaches the tasks pane.
    tui.send("\t");
    tui.send("x");
    tui.wait_for("the take cancelled", |s| {
        s.lines()
            .any(|l| l.contains("take web-01") && l.contains("cancelled"))
            && !s.contains(&taken)
    });

    // Quit while another take runs: asked first, Enter quits.
    tui.send("\t\t");
    tui.send("t");
    tui.wait_text("Take a snapshot of web-01");
    tui.send("\r");
    tui.wait_for("a second take running", |s| {
        s.matches("take web-01").count() == 2
    });
    tui.send("q");
    tui.wait_for("the quit question", |s| {
        s.contains("Quit?") && s.contains("1 task(s) still running")
    });
    tui.send("\r");
    let status = tui.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    let text = tui.raw_text();
    tui.assert_terminal_restored(&text);
}

/// The selection follows the machine, marks out of sight are counted, and a batch of two
/// deletions on one VM runs them one after the other (both succeed).
#[test]
fn the_selection_is_the_machine_and_a_batch_on_one_vm_runs_in_turn() {
    let mut tui = Tui::start(&[], 1500);
    tui.wait_for("the inventory", |s| {
        s.contains("web-01") && s.contains("blog")
    });

    // The filter edited back to empty keeps build-runner selected.
    tui.send("/build");
    tui.send("\r");
    tui.wait_text("Snapshots of build-runner");
    tui.send("/");
    tui.send("\x7f\x7f\x7f\x7f\x7f");
    tui.send("\r");
    tui.wait_for(
        "the whole inventory with build-runner still selected",
        |s| s.contains("web-01") && s.contains("blog") && s.contains("Snapshots of build-runner"),
    );

    // Two marks on web-01: hotfix-test and its parent before-upgrade (snapshot-105).
    tui.open_machine("web-01");
    tui.select_snapshot("snapshot-106");
    tui.send(" ");
    tui.select_snapshot("snapshot-105");
    tui.send(" ");
    tui.wait_text("2 marked · ");
    // Elsewhere, the marks are still counted, and the dialog names their machine.
    tui.send("\x1b");
    tui.open_machine("monitoring");
    let screen = tui.wait_text("Snapshots of monitoring");
    assert!(screen.contains("2 marked · "), "{screen}");
    tui.send("d");
    tui.wait_for("the batch dialog", |s| {
        s.contains("Delete marked snapshots") && s.contains("web-01")
    });
    // Enter alone does not confirm a batch: its count is typed.
    tui.send("\r");
    tui.wait_text("type 2 exactly to confirm");
    tui.send("2\r");
    tui.wait_for("the second deletion queued behind the first", |s| {
        s.contains("queued")
    });
    tui.wait_text("delete marked ended: 2 done, 0 failed, 0 skipped");
    let done = tui.wait_for("both deletions done", |s| {
        s.matches("✓ delete web-01").count() == 2
    });
    assert!(!done.contains("✗"), "a step failed:\n{done}");
    assert!(!done.contains("marked · "), "no mark is left:\n{done}");
}
