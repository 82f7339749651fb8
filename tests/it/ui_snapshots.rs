//! Whole-screen snapshots on ratatui's `TestBackend`, at a fixed clock.
//!
//! Text snapshots do not show styles, so the theme tests assert on cell modifiers and colours.

use crate::common::*;
use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use snaptree::app::state::Modal;
use snaptree::app::update::default_name;
use snaptree::app::{AppState, Msg, Pane, update};
use snaptree::config::ThemeName;
use snaptree::engine::{Event, RunUpdate};
use snaptree::model::MachineRef;
use snaptree::model::{TaskState, TaskStatus};
use snaptree::provider::DownloadLink;

const W: u16 = 120;
const H: u16 = 36;

fn render_buffer(s: &AppState, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal
        .draw(|f| snaptree::ui::draw(f, s))
        .expect("draw never fails on a test backend");
    terminal.backend().buffer().clone()
}

fn lines(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (0..area.height)
        .map(|y| {
            let mut line = String::new();
            for x in 0..area.width {
                line.push_str(buf[(x, y)].symbol());
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// The screen as text; the take dialog's default name (local time) is masked.
fn screen(s: &AppState, w: u16, h: u16) -> String {
    let text = lines(&render_buffer(s, w, h)).join("\n");
    text.replace(&default_name(now()), "YYYY-MM-DD HH:MM:SS")
}

fn web01() -> AppState {
    let mut s = state();
    select_machine(&mut s, "web-01");
    // Clear the filter: the selection stays on web-01.
    press(&mut s, KeyCode::Esc);
    s
}

/// Too small, with a task running: the screen says `q` asks first, then that the question
/// waits for room.
#[test]
fn too_small_with_a_task_running_says_q_asks_first() {
    let mut s = web01();
    key(&mut s, 't');
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.tasks.running(), 1);
    update(&mut s, Msg::Resize(70, 20));
    let text = screen(&s, 70, 20);
    assert!(text.contains("1 task(s) running or waiting"), "{text}");
    key(&mut s, 'q');
    let text = screen(&s, 70, 20);
    assert!(text.contains("Enlarge it to answer"), "{text}");
}

/// A plan's steps waiting their turn are queued, not running: the tasks pane says them
/// apart.
#[test]
fn the_tasks_pane_says_running_and_queued_apart() {
    let mut s = state();
    select_machine(&mut s, "gitlab");
    select_snapshot(&mut s, "base");
    key(&mut s, 'd');
    key(&mut s, ' ');
    press(&mut s, KeyCode::BackTab);
    for c in "3".chars() {
        key(&mut s, c);
    }
    press(&mut s, KeyCode::Enter);
    let requests: Vec<u64> = s.tasks.all().iter().map(|t| t.request).collect();
    assert_eq!(requests.len(), 3);
    for &request in &requests[1..] {
        update(
            &mut s,
            Msg::Engine(Event::Task {
                request,
                update: RunUpdate::Queued,
            }),
        );
    }
    let text = screen(&s, 120, 36);
    assert!(text.contains("Tasks (1 running, 2 queued)"), "{text}");
}

#[test]
fn inventory_on_start() {
    let s = state();
    let text = screen(&s, W, H);
    for name in ["web-01", "db-02", "shop-front", "vps-9c0d1e2f", "Paris-DC1"] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    insta::assert_snapshot!("inventory", text);
}

#[test]
fn deep_branched_tree_with_you_are_here() {
    let s = web01();
    let text = screen(&s, W, H);
    assert!(text.contains("You are here"), "{text}");
    // "You are here" sits one level under pre-release.
    let rows = lines(&render_buffer(&s, W, H));
    let pre = rows.iter().position(|l| l.contains("pre-release")).unwrap();
    assert!(rows[pre + 1].contains("You are here"), "{}", rows[pre + 1]);
    insta::assert_snapshot!("tree_web01", text);
}

#[test]
fn take_dialog() {
    let mut s = web01();
    key(&mut s, 't');
    let text = screen(&s, W, H);
    assert!(
        text.contains("YYYY-MM-DD HH:MM:SS"),
        "default name shown:\n{text}"
    );
    insta::assert_snapshot!("dialog_take", text);
}

#[test]
fn take_dialog_greyed_on_a_powered_off_vm() {
    let mut s = state();
    select_machine(&mut s, "db-02");
    key(&mut s, 't');
    let text = screen(&s, W, H);
    assert!(text.contains("powered on"), "reason shown:\n{text}");
    insta::assert_snapshot!("dialog_take_greyed_db02", text);
}

#[test]
fn revert_dialog_with_type_name() {
    let mut s = web01();
    select_snapshot(&mut s, "snapshot-102");
    key(&mut s, 'r');
    type_text(&mut s, "web-0");
    let text = screen(&s, W, H);
    assert!(text.contains("web-0"), "{text}");
    insta::assert_snapshot!("dialog_revert", text);
}

#[test]
fn delete_dialog_with_children_choice() {
    let mut s = web01();
    select_snapshot(&mut s, "snapshot-102");
    key(&mut s, 'd');
    let text = screen(&s, W, H);
    assert!(text.contains("descendant"), "{text}");
    insta::assert_snapshot!("dialog_delete_children", text);
}

#[test]
fn delete_all_dialog() {
    let mut s = web01();
    key(&mut s, 'D');
    insta::assert_snapshot!("dialog_delete_all", screen(&s, W, H));
}

#[test]
fn consolidate_dialog() {
    let mut s = state();
    select_machine(&mut s, "db-01");
    key(&mut s, 'c');
    insta::assert_snapshot!("dialog_consolidate", screen(&s, W, H));
}

#[test]
fn rename_dialog() {
    let mut s = web01();
    select_snapshot(&mut s, "snapshot-104");
    key(&mut s, 'e');
    let text = screen(&s, W, H);
    assert!(text.contains("Release 4.2 candidate"), "{text}");
    insta::assert_snapshot!("dialog_rename", text);
}

/// A VPS with the automated backup option: its daily time and restore points in the
/// details.
#[test]
fn vps_details_say_its_automated_backup() {
    let mut s = state();
    select_machine(&mut s, "mail");
    insta::assert_snapshot!("vps_backups", screen(&s, W, H));
}

/// `b` on a VPS with the automated backup: its restore points (the newest mounted, its
/// addresses under it); `j` chooses the next, `f` opens its full restore, typed like a
/// revert; `s` the daily time's form.
#[test]
fn backups_dialog_then_a_full_restore_and_the_daily_time() {
    let mut s = state();
    select_machine(&mut s, "mail");
    key(&mut s, 'b');
    insta::assert_snapshot!("dialog_backups", screen(&s, W, H));
    insta::assert_snapshot!("dialog_backups_80x24", screen(&s, 80, 24));
    // The newest is mounted: its full restore is refused, said in the list that stays.
    key(&mut s, 'f');
    let refused = screen(&s, 80, 24);
    assert!(
        refused.contains("Automated backup of mail") && refused.contains("detach it first"),
        "{refused}"
    );
    key(&mut s, 'j');
    key(&mut s, 'f');
    insta::assert_snapshot!("dialog_backup_restore_full", screen(&s, W, H));
    insta::assert_snapshot!("dialog_backup_restore_full_80x24", screen(&s, 80, 24));
    press(&mut s, KeyCode::Esc);
    key(&mut s, 'b');
    key(&mut s, 's');
    insta::assert_snapshot!("dialog_backup_schedule_80x24", screen(&s, 80, 24));
}

/// Every restore point mounted at 80×24: the list is longer than the dialog, and the chosen
/// point stays in sight as `j` goes down.
#[test]
fn the_chosen_restore_point_stays_in_sight_in_a_long_list_80x24() {
    let mut s = state();
    s.size = (80, 24);
    let mut machines: Vec<snaptree::model::Machine> = s
        .machines()
        .iter()
        .filter(|m| m.profile == "ovh")
        .cloned()
        .collect();
    for m in &mut machines {
        let sn = m.id.clone();
        if let Some(b) = m.backups.as_deref_mut().filter(|b| b.subscribed) {
            for p in &mut b.restore_points {
                p.state = snaptree::model::backups::RestoreState::Restored;
            }
            b.attached = b
                .restore_points
                .iter()
                .map(|p| snaptree::sim::scenario::mounted(&sn, p.time))
                .collect();
        }
    }
    update(
        &mut s,
        Msg::Engine(Event::Inventory {
            profile: "ovh".into(),
            machines,
            complete: true,
            server: None,
        }),
    );
    select_machine(&mut s, "mail");
    key(&mut s, 'b');
    for i in 0..6 {
        key(&mut s, 'j');
        let text = screen(&s, 80, 24);
        assert!(
            text.contains("│› "),
            "point {} out of sight:\n{text}",
            i + 1
        );
    }
    let text = screen(&s, 80, 24);
    assert!(text.contains("line(s) above"), "{text}");
    for _ in 0..6 {
        key(&mut s, 'k');
    }
    let text = screen(&s, 80, 24);
    assert!(text.contains("│› ") && text.contains("7 mounted"), "{text}");
}

/// `O` on a VPS without the snapshot option: its quotes asked, then the order's dialog —
/// every duration's price, the contracts, that nothing is paid, the name typed.
#[test]
fn order_dialog_of_a_missing_option() {
    let mut s = state();
    select_machine(&mut s, "vps-9c0d1e2f.vps.ovh.net");
    let fx = key(&mut s, 'O');
    let Some(snaptree::app::Effect::Send(
        profile,
        snaptree::engine::Command::Quotes {
            request,
            machine_id,
            option,
        },
    )) = fx.first().cloned()
    else {
        panic!("{fx:?}");
    };
    assert_eq!(option, snaptree::model::order::VpsOption::Snapshot);
    let estate = demo_estate(std::time::Duration::ZERO);
    let m = estate.machine(&profile, &machine_id).unwrap();
    let mut quotes = snaptree::sim::estate::quotes(&m, option);
    // The per-option route's contracts, to see them drawn.
    quotes[0].contracts = vec![snaptree::model::order::Contract {
        name: "Specific terms: VPS options".into(),
        url: "https://sim.invalid/contracts/vps-options.pdf".into(),
    }];
    update(
        &mut s,
        Msg::Engine(Event::Quotes {
            request,
            machine: MachineRef::new(profile, machine_id),
            option,
            result: Ok(quotes),
        }),
    );
    insta::assert_snapshot!("dialog_order_option", screen(&s, W, H));
    insta::assert_snapshot!("dialog_order_option_80x24", screen(&s, 80, 24));
}

/// A Proxmox VE guest beside the vSphere VMs and the VPSs: a QEMU VM's tree (RAM state
/// flagged, You are here) and details; a container's take, its RAM state greyed with why
/// and a name Proxmox takes proposed.
#[test]
fn a_proxmox_guest_and_a_containers_take() {
    let mut s = state();
    select_machine(&mut s, "gitlab");
    insta::assert_snapshot!("proxmox_gitlab", screen(&s, W, H));
    select_machine(&mut s, "dns");
    key(&mut s, 't');
    let text = screen(&s, 80, 24).replace(
        &snaptree::model::change::default_name_for(s.selected_machine().unwrap(), now()),
        "snap_YYYYMMDD_HHMMSS",
    );
    insta::assert_snapshot!("dialog_take_proxmox_container_80x24", text);
    // A rollback to a snapshot without RAM state offers to start the guest.
    press(&mut s, KeyCode::Esc);
    select_machine(&mut s, "gitlab");
    select_snapshot(&mut s, "base");
    key(&mut s, 'r');
    insta::assert_snapshot!("dialog_rollback_proxmox_80x24", screen(&s, 80, 24));
}

#[test]
fn replace_dialog_on_a_vps() {
    let mut s = state();
    select_machine(&mut s, "shop-front");
    key(&mut s, 't');
    insta::assert_snapshot!("dialog_replace_vps", screen(&s, W, H));
}

/// A VPS take with `guest_check = "ssh"` at 80×24: the check's answer in the dialog, and
/// Enter's second question on the status line; the details say when it was asked.
#[test]
fn vps_take_with_the_guest_agent_checked_80x24() {
    let mut s = state();
    for p in &mut s.inventory.profiles {
        p.guest_check = p.kind == snaptree::model::ProviderKind::Ovh;
    }
    select_machine(&mut s, "blog");
    let id = s.selected_machine().unwrap().id.clone();
    let details = screen(&s, 80, 24);
    assert!(details.contains("not checked yet"), "{details}");
    key(&mut s, 't');
    let request = s.inventory.guest[&snaptree::model::MachineRef::new("ovh", id.clone())].request;
    update(
        &mut s,
        Msg::Engine(Event::GuestAgent {
            request,
            machine: snaptree::model::MachineRef::new("ovh", id),
            state: snaptree::model::guest::GuestAgent::Stopped("inactive".into()),
        }),
    );
    press(&mut s, KeyCode::Enter);
    insta::assert_snapshot!("dialog_take_vps_guest_checked_80x24", screen(&s, 80, 24));
    press(&mut s, KeyCode::Esc);
    let details = screen(&s, 120, 36);
    assert!(
        details.contains("installed but stopped (inactive) · asked 10:00 UTC"),
        "{details}"
    );
}

#[test]
fn quit_dialog_while_a_task_runs() {
    let mut s = web01();
    key(&mut s, 't');
    press(&mut s, KeyCode::Enter);
    let request = s.tasks.all()[0].request;
    update(
        &mut s,
        Msg::Engine(Event::Task {
            request,
            update: RunUpdate::Progress(TaskStatus {
                id: "task-1001".into(),
                state: TaskState::Running,
                progress: Some(40),
                message: None,
                cancelable: true,
            }),
        }),
    );
    key(&mut s, 'q');
    let text = screen(&s, W, H);
    assert!(text.contains("40%"), "progress shown:\n{text}");
    insta::assert_snapshot!("dialog_quit", text);
}

#[test]
fn download_link_dialog() {
    let mut s = state();
    select_machine(&mut s, "shop-front");
    update(
        &mut s,
        Msg::Engine(Event::Download {
            machine: snaptree::model::MachineRef::new("ovh", "vps-1a2b3c4d.vps.ovh.net"),
            result: Ok(DownloadLink {
                url: "https://download.example.net/snap/8f3c2a10.qcow2?token=abc".into(),
                size: 3 * 1024 * 1024 * 1024 / 2,
            }),
        }),
    );
    let text = screen(&s, W, H);
    assert!(text.contains("1.5 GiB"), "{text}");
    insta::assert_snapshot!("dialog_download_link", text);
}

#[test]
fn help_overlay() {
    let mut s = state();
    key(&mut s, '?');
    let text = screen(&s, W, H);
    // Generated from the keymap: every action name is listed.
    for b in snaptree::app::KEYMAP {
        assert!(text.contains(b.name), "{} missing from help", b.name);
    }
    assert!(text.contains("Esc or ? closes"), "how to close:\n{text}");
    // The legend of the marks the panes draw, whole at 120×36, its first line at 80×24.
    assert!(text.contains("● on ○ off ◐ suspended"), "{text}");
    assert!(text.contains("q quiesced · mem with memory"), "{text}");
    insta::assert_snapshot!("help", text);
    let mut small = state();
    small.size = (80, 24);
    key(&mut small, '?');
    let text = screen(&small, 80, 24);
    assert!(text.contains("● on ○ off ◐ suspended"), "{text}");
    assert!(text.contains("Esc or ? closes"), "{text}");
    assert!(text.contains("Dialogs: Enter confirms"), "{text}");
    for b in snaptree::app::KEYMAP {
        assert!(
            text.contains(b.name),
            "{} missing from help at 80×24",
            b.name
        );
    }
}

#[test]
fn command_palette() {
    let mut s = web01();
    key(&mut s, ':');
    type_text(&mut s, "del");
    insta::assert_snapshot!("palette", screen(&s, W, H));
}

#[test]
fn read_only_status_line() {
    let mut s = state_with(true, ThemeName::Default);
    select_machine(&mut s, "web-01");
    press(&mut s, KeyCode::Esc);
    key(&mut s, 'D');
    let text = screen(&s, W, H);
    let status = text.lines().last().unwrap();
    assert!(status.contains("READ-ONLY"), "{status}");
    assert!(
        status.contains("read-only"),
        "the refusal is shown: {status}"
    );
    insta::assert_snapshot!("read_only", text);
}

/// With every profile read-only, the status line's hints do not advertise the keys of
/// changes (t take, r revert, d delete); the others stay.
#[test]
fn read_only_hints_leave_out_the_changes() {
    let s = state_with(true, ThemeName::Default);
    let status = lines(&render_buffer(&s, W, H)).last().unwrap().clone();
    assert!(
        status.contains("READ-ONLY") && status.contains("? help"),
        "{status}"
    );
    for change in ["t take", "r revert", "d delete"] {
        assert!(!status.contains(change), "{change} in {status}");
    }
    assert!(
        status.contains("v list") && status.contains("/ filter"),
        "{status}"
    );
    let s = state_with(false, ThemeName::Default);
    let status = lines(&render_buffer(&s, W, H)).last().unwrap().clone();
    assert!(
        status.contains("t take") && status.contains("d delete"),
        "{status}"
    );
}

#[test]
fn exactly_80x24() {
    let s = web01();
    let text = screen(&s, 80, 24);
    assert!(!text.contains("needs a terminal"));
    assert!(text.contains("You are here"), "{text}");
    // The key hints fit whole, and `? help` is always among them.
    let status = text.lines().last().unwrap();
    assert!(status.ends_with("? help"), "{status}");
    insta::assert_snapshot!("min_80x24", text);
}

#[test]
fn below_80x24_asks_for_a_larger_terminal() {
    let s = web01();
    for (w, h) in [(79, 24), (80, 23), (40, 10)] {
        let text = screen(&s, w, h);
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("at least 80×24"), "{w}x{h}:\n{text}");
        assert!(flat.contains(&format!("{w}×{h}")), "{w}x{h}:\n{text}");
        assert!(!text.contains("web-01"), "panes are not drawn at {w}x{h}");
    }
    insta::assert_snapshot!("too_small_79x24", screen(&s, 79, 24));
}

/// Cells on the row whose text contains `needle`, limited to the inventory pane (a
/// focused pane's thick border read as a plain one).
fn row_of(buf: &Buffer, needle: &str) -> u16 {
    lines(buf)
        .iter()
        .position(|l| l.replace('┃', "│").contains(needle))
        .unwrap_or_else(|| panic!("{needle} not on screen")) as u16
}

#[test]
fn mono_theme_marks_selection_and_warnings_without_colour() {
    let mut s = state_with(false, ThemeName::Mono);
    select_machine(&mut s, "web-01");
    press(&mut s, KeyCode::Esc);
    let buf = render_buffer(&s, W, H);
    for y in 0..H {
        for x in 0..W {
            let c = &buf[(x, y)];
            assert_eq!(c.fg, Color::Reset, "colour at {x},{y} in mono");
            assert_eq!(c.bg, Color::Reset, "colour at {x},{y} in mono");
        }
    }
    // The selected inventory row (web-01, focused pane) is reversed.
    let y = row_of(&buf, "│    web-01");
    let line = &lines(&buf)[y as usize];
    let x = line[..line.find("web-01").unwrap()].chars().count() as u16;
    assert!(
        buf[(x, y)].modifier.contains(Modifier::REVERSED),
        "selection not reversed: {:?}",
        buf[(x, y)]
    );
    // Another machine's row is not.
    let y2 = row_of(&buf, "│    db-02");
    let line2 = &lines(&buf)[y2 as usize];
    let x2 = line2[..line2.find("db-02").unwrap()].chars().count() as u16;
    assert!(!buf[(x2, y2)].modifier.contains(Modifier::REVERSED));
    // A critical warning (web-01's 40-day-old snapshot) is marked without colour.
    // Off the selection (build-runner, 200 days old), so only the warning style applies.
    let y3 = row_of(&buf, "│    build-runner");
    let marks: Vec<Modifier> = (0..W / 2)
        .filter(|&x| buf[(x, y3)].symbol() == "!")
        .map(|x| buf[(x, y3)].modifier)
        .collect();
    assert_eq!(marks.len(), 2, "a critical mark is two '!'");
    assert!(
        marks
            .iter()
            .all(|m| m.contains(Modifier::BOLD | Modifier::UNDERLINED)),
        "critical mark not bold+underlined in mono: {marks:?}"
    );
}

#[test]
fn colour_theme_uses_colour_for_the_selection() {
    let s = web01();
    let buf = render_buffer(&s, W, H);
    let y = row_of(&buf, "│    web-01");
    let line = &lines(&buf)[y as usize];
    let x = line[..line.find("web-01").unwrap()].chars().count() as u16;
    assert_ne!(buf[(x, y)].bg, Color::Reset, "selection has a background");
}

#[test]
fn marks_out_of_sight_are_counted_on_the_status_line() {
    let mut s = state();
    select_machine(&mut s, "web-02");
    select_snapshot(&mut s, "snapshot-111");
    key(&mut s, ' ');
    select_machine(&mut s, "monitoring");
    press(&mut s, KeyCode::Esc);
    for (w, h) in [(W, H), (80, 24)] {
        let text = screen(&s, w, h);
        let status = text.lines().last().unwrap();
        assert!(status.contains("1 marked · "), "at {w}×{h}: {status}");
    }
    // The dialog that acts on the marks names the machine they are on.
    key(&mut s, 'd');
    let text = screen(&s, W, H);
    assert!(text.contains("web-02"), "{text}");
}

#[test]
fn details_keep_long_labels_apart_from_their_values_and_say_tools_once() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    let mut m = s
        .machine(&MachineRef::new("pcc", "vm-101"))
        .unwrap()
        .clone();
    m.details = vec![("snapshot option".into(), "subscribed".into())];
    m.tools = snaptree::model::GuestTools::Starting;
    s.update_machine(m);
    let text = screen(&s, W, H);
    assert!(text.contains("snapshot option subscribed"), "{text}");
    // The tools' state is a typed field, said once, in the back end's words.
    assert_eq!(text.matches("tools").count(), 1, "{text}");
    assert!(text.contains("tools starting"), "{text}");
}

/// Details longer than their pane scroll: Tab reaches the pane, j/G scroll it, its border
/// says there is more, and moving the selection brings it back to the top.
#[test]
fn the_details_pane_scrolls_when_focused() {
    let mut s = state();
    s.size = (80, 24);
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-101");
    let before = screen(&s, 80, 24);
    assert!(
        before.contains("↓ more"),
        "long details say there is more:\n{before}"
    );
    while s.focus != Pane::Details {
        press(&mut s, KeyCode::Tab);
    }
    key(&mut s, 'G');
    let after = screen(&s, 80, 24);
    assert!(after.contains("↑ more"), "{after}");
    assert_ne!(before, after, "the details moved");
    assert!(s.tree.details_scroll > 0);
    key(&mut s, 'g');
    assert_eq!(s.tree.details_scroll, 0);
    key(&mut s, 'G');
    // Back in the tree, a move of the selection shows the new snapshot's details from the top.
    press(&mut s, KeyCode::BackTab);
    key(&mut s, 'j');
    assert_eq!(s.tree.details_scroll, 0);
}

/// A profile's overview says which server it reaches and as whom.
#[test]
fn a_profiles_overview_names_its_endpoint_and_user() {
    for (w, h) in [(W, H), (80, 24)] {
        let mut s = state();
        s.inventory.profiles[0].endpoint = Some("https://vc.lab.example/sdk".into());
        s.inventory.profiles[0].user = Some("ops@vsphere.local".into());
        s.set_inv_cursor(0);
        let text = screen(&s, w, h);
        assert!(text.contains("Overview of pcc"), "{w}x{h}:\n{text}");
        assert!(
            text.contains("endpoint     https://vc.lab.example/sdk"),
            "{w}x{h}:\n{text}"
        );
        assert!(
            text.contains("user         ops@vsphere.local"),
            "{w}x{h}:\n{text}"
        );
    }
}

/// A snapshot name longer than the tree pane is cut with `…`; its age and flags stay in sight.
#[test]
fn a_long_snapshot_name_is_cut_with_an_ellipsis_and_keeps_its_age_and_flags() {
    fn rename(nodes: &mut [snaptree::model::Snapshot], id: &str, name: &str) {
        for n in nodes {
            if n.id == id {
                n.name = name.to_string();
            }
            rename(&mut n.children, id, name);
        }
    }
    let long = "before-the-quarterly-upgrade-of-the-payment-gateway-and-its-database-schema";
    for (w, h) in [(W, H), (80, 24)] {
        let mut s = state();
        select_machine(&mut s, "web-01");
        let mut m = s
            .machine(&MachineRef::new("pcc", "vm-101"))
            .unwrap()
            .clone();
        let quiesced = m
            .walk()
            .into_iter()
            .map(|(_, n)| n)
            .find(|n| n.quiesced && !n.memory)
            .map(|n| n.id.clone())
            .expect("web-01 has a quiesced snapshot");
        rename(&mut m.snapshots, &quiesced, long);
        s.update_machine(m);
        let text = screen(&s, w, h);
        let row = text
            .lines()
            .find(|l| l.contains("before-the-quarterly"))
            .unwrap_or_else(|| panic!("no row of the long name:\n{text}"));
        assert!(
            row.contains('…'),
            "{w}x{h}: not cut with an ellipsis: {row}"
        );
        assert!(!row.contains(long), "{w}x{h}: {row}");
        assert!(row.contains(" q"), "{w}x{h}: the flag is gone: {row}");
        assert!(
            row.contains("d ") || row.contains("d│") || row.contains("d q"),
            "{w}x{h}: the age is gone: {row}"
        );
    }
}

#[test]
fn a_marked_snapshot_is_shown_with_a_cross_not_the_current_star() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-106");
    key(&mut s, ' ');
    let text = screen(&s, W, H);
    assert!(text.contains("×hotfix-test"), "{text}");
    assert!(!text.contains("*hotfix-test"), "{text}");
}

/// `G` at 80×24: the inventory's last page is a full screen ending on the last machine,
/// not a few rows above blanks.
#[test]
fn the_last_page_of_the_inventory_is_full() {
    let mut s = state();
    s.size = (80, 24);
    key(&mut s, 'G');
    let text = screen(&s, 80, 24);
    let lines: Vec<&str> = text.lines().collect();
    let bottom = lines
        .iter()
        .position(|l| l.starts_with(['└', '┗']))
        .expect("the inventory's bottom border");
    assert!(lines[bottom - 1].contains("dns"), "{text}");
    let inventory = |l: &str| l.chars().skip(1).take(28).collect::<String>();
    assert!(
        lines[1..bottom]
            .iter()
            .all(|l| !inventory(l).trim().is_empty()),
        "no blank rows in the inventory:\n{text}"
    );
}

/// Foreign text with terminal escapes, a newline and a bidi override is drawn written out:
/// nothing of it reaches the terminal as a control.
#[test]
fn hostile_names_are_drawn_written_out() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    let mut m = s.selected_machine().cloned().unwrap();
    m.snapshots[0].name = "base\u{1b}]0;PWNED\u{7}\u{1b}[2J\nx\u{202e}gpj".into();
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(m),
        }),
    );
    let text = screen(&s, W, H);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains("base\\x1b]0;PWNED"), "{text}");
}

/// A server's datastore and file names with terminal escapes reach the dialog's room line,
/// the details and the status line's refusal written out.
#[test]
fn hostile_datastore_and_file_names_are_drawn_written_out() {
    use snaptree::model::storage::{Datastore, Delta, PhantomDelta, Storage};
    let hostile = "ds\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{202e}";
    let mut s = state();
    select_machine(&mut s, "monitoring");
    let mut m = s.selected_machine().cloned().unwrap();
    let storage = |free: u64| Storage {
        phantom_deltas: vec![PhantomDelta {
            disk: 2000,
            file: format!("[{hostile}] monitoring/monitoring-000009.vmdk"),
        }],
        deltas: vec![Delta {
            snapshot: Some("snapshot-151".into()),
            datastore: hostile.into(),
            bytes: 1 << 30,
        }],
        datastores: vec![Datastore {
            name: hostile.into(),
            free_bytes: Some(free),
            capacity_bytes: None,
        }],
    };
    let show = |s: &mut AppState, m: &snaptree::model::Machine| {
        update(
            s,
            Msg::Engine(Event::MachineUpdated {
                machine: Box::new(m.clone()),
            }),
        );
    };
    let clean = |text: &str| {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{7}'),
            "{text:?}"
        );
    };
    // Room enough: the dialog says the room, and the details the file and the datastore.
    m.storage = Some(Box::new(storage(100 << 30)));
    show(&mut s, &m);
    clean(&screen(&s, W, H));
    press(&mut s, KeyCode::Tab);
    key(&mut s, 'd');
    let text = screen(&s, W, H);
    assert!(text.contains("Room to merge"), "{text}");
    clean(&text);
    press(&mut s, KeyCode::Esc);
    // Short of room: the refusal on the status line.
    m.storage = Some(Box::new(storage(1 << 20)));
    show(&mut s, &m);
    key(&mut s, 'd');
    let text = screen(&s, W, H);
    assert!(text.contains("not enough room"), "{text}");
    clean(&text);
}

/// A server's NFS and SMB addresses with terminal escapes reach the restore points' list and
/// the detach dialog written out.
#[test]
fn hostile_backup_addresses_are_drawn_written_out() {
    let hostile = "10.0.0.1:/b\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{202e}";
    let mut s = state();
    select_machine(&mut s, "mail");
    let mut m = s.selected_machine().cloned().unwrap();
    if let Some(b) = m.backups.as_deref_mut() {
        b.attached[0].nfs = Some(hostile.into());
        b.attached[0].smb = Some(hostile.into());
    }
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(m),
        }),
    );
    for keys in ["b", "d"] {
        for c in keys.chars() {
            key(&mut s, c);
        }
        let text = screen(&s, W, H);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(text.contains("10.0.0.1:/b\\x1b]0;PWNED"), "{keys}: {text}");
    }
}

/// The snapshot list (`v`): every snapshot, oldest first, the sort key in the header and
/// the bottom border; after `A`, the marks and their size on the status line.
#[test]
fn snapshot_list_marked_120x36() {
    let mut s = state();
    key(&mut s, 'v');
    key(&mut s, 'A');
    insta::assert_snapshot!("snapshot_list_marked", screen(&s, W, H));
}

/// The list at 80×24, sorted by size (the VPS snapshots, of unknown size, last).
#[test]
fn snapshot_list_by_size_80x24() {
    let mut s = state();
    key(&mut s, 'v');
    key(&mut s, 's');
    insta::assert_snapshot!("snapshot_list_by_size_80x24", screen(&s, 80, 24));
}

/// The plan dialog of the marked snapshots at 80×24: per machine, what does not fit is
/// said, PgDn pages to the protected ones left out.
#[test]
fn snapshot_list_plan_dialog_80x24() {
    let mut s = state();
    update(&mut s, Msg::Resize(80, 24));
    key(&mut s, 'v');
    key(&mut s, 'A');
    key(&mut s, 'd');
    let first = screen(&s, 80, 24);
    assert!(first.contains("more line(s): PgDn"), "{first}");
    press(&mut s, KeyCode::PageDown);
    insta::assert_snapshot!("snapshot_list_plan_80x24", screen(&s, 80, 24));
}

/// A profile selected: the right side is the overview, totals and the age chart.
#[test]
fn overview_of_a_profile_120x36() {
    let s = state();
    let text = screen(&s, W, H);
    assert!(text.contains("Overview of pcc"), "{text}");
    insta::assert_snapshot!("overview_pcc", text);
    // The same in mono: the same text (the marks carry what colour says).
    let mono = state_with(false, ThemeName::Mono);
    assert_eq!(screen(&mono, W, H), text);
    // Every bar of the age chart starts in one column, marked or not (a `!` after the
    // count pushed the marked ones right).
    let starts: Vec<usize> = text
        .lines()
        .filter(|l| l.contains("< 1 d") || l.contains("< 1 w") || l.contains("older"))
        .filter_map(|l| l.chars().position(|c| c == '█'))
        .collect();
    assert_eq!(starts.len(), 3, "{text}");
    assert!(
        starts.windows(2).all(|w| w[0] == w[1]),
        "{starts:?}\n{text}"
    );
}

/// A group selected, at 80×24 in mono: no colour anywhere, and the chart's old groups
/// marked `!!` in the critical style (bold, underlined).
#[test]
fn overview_of_a_profile_and_a_group_80x24_mono() {
    let mut s = state_with(false, ThemeName::Mono);
    let buf = render_buffer(&s, 80, 24);
    for y in 0..24 {
        for x in 0..80 {
            assert_eq!(buf[(x, y)].fg, Color::Reset, "colour at {x},{y} in mono");
        }
    }
    let y = row_of(&buf, "older");
    let marks: Vec<Modifier> = (40..80)
        .filter(|&x| buf[(x, y)].symbol() == "!")
        .map(|x| buf[(x, y)].modifier)
        .collect();
    assert_eq!(marks.len(), 2, "{:?}", lines(&buf)[y as usize]);
    assert!(
        marks
            .iter()
            .all(|m| m.contains(Modifier::BOLD | Modifier::UNDERLINED)),
        "{marks:?}"
    );
    insta::assert_snapshot!("overview_pcc_mono_80x24", lines(&buf).join("\n"));
    key(&mut s, 'j');
    insta::assert_snapshot!("overview_group_80x24", screen(&s, 80, 24));
}

/// The first run, with nothing configured.
fn welcome_state() -> AppState {
    let mut s = AppState::new(Vec::new(), settings(ThemeName::Default), now());
    s.modal = Modal::Welcome("/home/op/.config/snaptree/config.toml".into());
    s
}

#[test]
fn the_welcome_fits_80x24_and_says_how_to_start() {
    let s = welcome_state();
    for (w, h) in [(80, 24), (120, 36)] {
        let text = screen(&s, w, h);
        for needle in [
            "/home/op/.config/snaptree/config.toml",
            "kind = \"vsphere\"",
            "kind = \"ovh\"",
            "kind = \"proxmox\"",
            "token_id = ",
            "snaptree demo",
            "GOVC_URL",
            "GOVC_USERNAME",
            "GOVC_PASSWORD",
            "GOVC_INSECURE",
            "snaptree login",
            "q quits",
        ] {
            assert!(
                text.contains(needle),
                "{needle} missing at {w}x{h}:\n{text}"
            );
        }
    }
    insta::assert_snapshot!("welcome_80x24", screen(&s, 80, 24));
    insta::assert_snapshot!("welcome_120x36", screen(&s, 120, 36));
    // Smaller, it asks for a larger terminal like every other screen.
    assert!(screen(&s, 60, 15).contains("at least 80×24"));
}

#[test]
fn an_unreadable_vps_says_why_in_the_details_and_refuses_a_take() {
    let mut s = state();
    select_machine(&mut s, "shop-front");
    let mut m = s.selected_machine().expect("shop-front").clone();
    m.snapshots.clear();
    m.current = None;
    m.unreadable = Some("GET /vps/x/snapshot answered something unexpected: null".into());
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(m),
        }),
    );
    let text = screen(&s, W, H);
    assert!(
        text.contains("! unreadable: GET /vps/x/snapshot answered"),
        "{text}"
    );
    key(&mut s, 't');
    assert!(s.dialog().is_none(), "no take dialog on an unreadable VPS");
    let text = screen(&s, W, H);
    assert!(text.contains("is unreadable"), "{text}");
}

/// A message longer than the status line ends with "…" at the line's edge (the message
/// log, `M`, has it whole), at 80 and at 120 columns; a short one is shown as it is.
#[test]
fn a_long_message_is_cut_with_an_ellipsis() {
    let mut s = state();
    let long = format!("the server said: {}end", "x".repeat(200));
    s.say(snaptree::app::state::Level::Info, long.clone());
    for w in [80, 120] {
        let screen = lines(&render_buffer(&s, w, 24));
        let last = screen.last().unwrap();
        assert!(last.ends_with('…'), "{w}: {last}");
        assert!(last.contains("the server said: xxx"), "{w}: {last}");
        assert_eq!(last.chars().count(), usize::from(w), "{w}: {last}");
    }
    s.say(snaptree::app::state::Level::Info, "short and whole");
    let screen = lines(&render_buffer(&s, 80, 24));
    assert!(screen.last().unwrap().ends_with("short and whole"));
}

/// The focused pane shows without colour (a thick border), its selected row reads in one
/// contrast (no dim text on the selection's background), and an unfocused pane's selected
/// row keeps its own colours with no grey background (age and flags stay visible).
#[test]
fn focus_and_selection_read_in_colour_and_without() {
    for theme in [ThemeName::Default, ThemeName::Mono] {
        let mut s = state_with(false, theme);
        select_machine(&mut s, "web-01");
        press(&mut s, KeyCode::Esc);
        let text = screen(&s, W, H);
        assert!(
            text.contains("┏ Inventory"),
            "{theme:?}: the focused pane:\n{text}"
        );
        // Tab: the focus moves, the thick border with it.
        press(&mut s, KeyCode::Tab);
        let text = screen(&s, W, H);
        assert!(!text.contains("┏ Inventory"), "{theme:?}:\n{text}");
        assert!(
            text.contains('┏'),
            "{theme:?}: some pane is focused:\n{text}"
        );
    }
    // Colour: the focused selected row has no dim cell on its background.
    let s = web01();
    let buf = render_buffer(&s, W, H);
    let y = row_of(&buf, "│    web-01");
    for x in 1..30 {
        let c = &buf[(x, y)];
        assert!(
            c.fg != Color::DarkGray,
            "grey on the selection at {x}: {c:?}"
        );
    }
    // Unfocused (after Tab): the inventory's selected row has no grey background.
    let mut s = web01();
    press(&mut s, KeyCode::Tab);
    let buf = render_buffer(&s, W, H);
    let y = row_of(&buf, "│    web-01");
    for x in 1..30 {
        assert_ne!(buf[(x, y)].bg, Color::DarkGray, "grey on grey at {x}");
    }
    assert!(
        (1..30).any(|x| buf[(x, y)].modifier.contains(Modifier::UNDERLINED)),
        "the unfocused selection is still marked"
    );
}

/// A left click at the first cell (inside the borders) where `text` is drawn on the screen
/// of `s` at `w`×`h`, as the terminal reports it with `[ui] mouse` on.
fn click_on(s: &mut AppState, w: u16, h: u16, text: &str, after_column: u16) {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    s.size = (w, h);
    let rows = lines(&render_buffer(s, w, h));
    let (y, x) = rows
        .iter()
        .enumerate()
        .find_map(|(y, l)| {
            let from = l
                .char_indices()
                .nth(usize::from(after_column))
                .map_or(l.len(), |(i, _)| i);
            l[from..]
                .find(text)
                .map(|x| (y, l[..from + x].chars().count()))
        })
        .unwrap_or_else(|| panic!("{text:?} is not on the screen:\n{}", rows.join("\n")));
    update(
        s,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: u16::try_from(x).unwrap(),
            row: u16::try_from(y).unwrap(),
            modifiers: KeyModifiers::NONE,
        }),
    );
}

fn wheel(s: &mut AppState, column: u16, row: u16, down: bool) {
    use crossterm::event::{KeyModifiers, MouseEvent, MouseEventKind};
    let kind = if down {
        MouseEventKind::ScrollDown
    } else {
        MouseEventKind::ScrollUp
    };
    update(
        s,
        Msg::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        }),
    );
}

/// With the mouse on, a click selects the row it falls on, in the pane it falls in, and
/// focuses that pane; the wheel moves the cursor of the pane under it. At both sizes, and
/// in the snapshot list (whose first line is its header).
#[test]
fn a_click_selects_the_row_under_it_and_the_wheel_moves_the_cursor() {
    for (w, h) in [(W, H), (80, 24)] {
        let mut s = state();
        click_on(&mut s, w, h, "web-02", 0);
        assert_eq!(s.focus, Pane::Inventory, "at {w}×{h}");
        assert_eq!(
            s.selected_machine().map(|m| m.name.as_str()),
            Some("web-02")
        );
        click_on(&mut s, w, h, "web-01", 0);
        assert_eq!(
            s.selected_machine().map(|m| m.name.as_str()),
            Some("web-01")
        );
        // The tree is on the right: a click on a snapshot selects it and focuses the tree.
        let left = s.size.0 * 2 / 5;
        click_on(&mut s, w, h, "before-up", left);
        assert_eq!(s.focus, Pane::Tree, "at {w}×{h}");
        let n = s
            .selected_machine()
            .unwrap()
            .find(s.selected_snapshot().unwrap());
        assert_eq!(n.map(|n| n.name.as_str()), Some("before-upgrade"));
        // The wheel over the inventory moves its cursor and gives it the focus.
        let before = s.nav.cursor.selected;
        wheel(&mut s, 2, 3, true);
        assert_eq!(s.focus, Pane::Inventory);
        assert_eq!(s.nav.cursor.selected, before + 3, "at {w}×{h}");
        wheel(&mut s, 2, 3, false);
        assert_eq!(s.nav.cursor.selected, before);
        // The snapshot list: a click under its header selects that snapshot (app-legacy's
        // base, the second oldest).
        key(&mut s, 'v');
        // From the top: the list opens on the selected snapshot, lower down.
        key(&mut s, 'g');
        click_on(&mut s, w, h, "app-legacy", 0);
        let m = s.selected_machine().unwrap();
        assert_eq!(m.name, "app-legacy", "at {w}×{h}");
        let n = m.find(s.selected_snapshot().unwrap());
        assert_eq!(n.map(|n| n.name.as_str()), Some("base"), "at {w}×{h}");
    }
}

/// The mouse never answers for the keyboard: with a dialog open a click does nothing (the
/// dialog stays, the selection too), and a click on a pane's border selects no row.
#[test]
fn a_click_does_nothing_while_a_dialog_is_open() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, 't');
    assert!(s.dialog().is_some());
    click_on(&mut s, W, H, "pcc vSphere", 0);
    assert!(s.dialog().is_some(), "the dialog stays");
    assert_eq!(
        s.selected_machine().map(|m| m.name.as_str()),
        Some("web-01")
    );
    press(&mut s, KeyCode::Esc);
    // The inventory's top border (line 0): focus, but no row chosen.
    let selected = s.nav.cursor.selected;
    click_on(&mut s, W, H, "Inventory", 0);
    assert_eq!(s.nav.cursor.selected, selected);
}
