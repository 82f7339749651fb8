//! The app's `update` for every action, on the demo estate at a fixed clock.

use crate::common::*;
use crossterm::event::KeyCode;
use snaptree::app::keymap::palette_matches;
use snaptree::app::state::{Dialog, DialogKind, Field, Level, Row, TaskView};
use snaptree::app::{AppState, Effect, Msg, Pane, update};
use snaptree::config::ThemeName;
use snaptree::engine::Command;
use snaptree::engine::{Event, RunUpdate};
use snaptree::model::MachineRef;
use snaptree::model::guest::GuestAgent;
use snaptree::model::{Operation, TaskState, TaskStatus};

/// The one `Run` effect of a confirmed dialog: (profile, machine id, operation).
fn run_of(fx: &[Effect]) -> (String, String, Operation, Command) {
    assert_eq!(fx.len(), 1, "expected one effect, got {fx:?}");
    match &fx[0] {
        Effect::Send(profile, spec @ Command::Run { machine_id, op, .. }) => (
            profile.clone(),
            machine_id.clone(),
            op.clone(),
            spec.clone(),
        ),
        other => panic!("expected a Run effect, got {other:?}"),
    }
}

fn visible_machines(s: &AppState) -> Vec<String> {
    s.nav
        .rows
        .iter()
        .filter_map(|r| match r {
            Row::Machine(i) => Some(s.machines()[*i].name.clone()),
            _ => None,
        })
        .collect()
}

fn error_message(s: &AppState) -> String {
    match &s.log.status {
        Some((Level::Error, m)) => m.clone(),
        other => panic!("expected an error message, got {other:?}"),
    }
}

fn text_field(s: &AppState, label: &str) -> String {
    let d = s.dialog().expect("dialog");
    d.fields
        .iter()
        .find_map(|f| match f {
            Field::Text {
                label: l, editor, ..
            } if l == label => Some(editor.value().to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no text field {label} in {:?}", d.fields))
}

/// What must be typed to confirm the open change, if anything.
fn must_type(d: &Dialog) -> Option<String> {
    match &d.kind {
        DialogKind::Change(c) => c.confirmation.expected_text(),
        _ => None,
    }
}

/// The open change's operations.
fn change_ops(d: &Dialog) -> Vec<Operation> {
    match &d.kind {
        DialogKind::Change(c) => c.steps.iter().map(|st| st.op.clone()).collect(),
        other => panic!("not a change: {other:?}"),
    }
}

fn check_field(s: &AppState, prefix: &str) -> (bool, Option<String>) {
    let d = s.dialog().expect("dialog");
    d.fields
        .iter()
        .find_map(|f| match f {
            Field::Check {
                label,
                value,
                disabled,
                ..
            } if label.starts_with(prefix) => Some((*value, disabled.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no check {prefix} in {:?}", d.fields))
}

#[test]
fn inventory_loads_every_machine_grouped_by_profile() {
    let s = state();
    assert_eq!(s.machines().len(), 16);
    assert!(matches!(s.nav.rows[0], Row::Profile(0)));
    assert_eq!(visible_machines(&s).len(), 16);
    assert!(
        s.nav
            .rows
            .iter()
            .any(|r| matches!(r, Row::Group(_, l) if l.contains("Paris-DC1")))
    );
}

#[test]
fn moving_in_the_inventory_follows_with_the_tree() {
    let mut s = state();
    assert_eq!(s.nav.cursor.selected, 0);
    key(&mut s, 'k');
    assert_eq!(s.nav.cursor.selected, 0, "k at the top stays");
    key(&mut s, 'j');
    key(&mut s, 'j');
    assert_eq!(s.nav.cursor.selected, 2);
    let m = s
        .selected_machine()
        .expect("row 2 is the first machine")
        .clone();
    assert_eq!(s.tree.of, Some(m.machine_ref()));
    press(&mut s, KeyCode::Down);
    assert_eq!(s.nav.cursor.selected, 3);
    press(&mut s, KeyCode::Up);
    assert_eq!(s.nav.cursor.selected, 2);
    key(&mut s, 'G');
    assert_eq!(s.nav.cursor.selected, s.nav.rows.len() - 1);
    assert_eq!(
        s.selected_machine().map(|m| m.profile.as_str()),
        Some("pve")
    );
    key(&mut s, 'g');
    assert_eq!(s.nav.cursor.selected, 0);
    press(&mut s, KeyCode::PageDown);
    let page = s.nav.cursor.selected;
    assert!(page > 1, "a page moves more than one row");
    press(&mut s, KeyCode::PageUp);
    assert_eq!(s.nav.cursor.selected, 0);
}

#[test]
fn a_new_machine_opens_its_tree_on_the_current_snapshot() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    assert_eq!(s.selected_snapshot(), Some("snapshot-104"));
    // "You are here" is the row right under the current snapshot.
    let here = s
        .tree
        .rows
        .iter()
        .position(|r| r.snapshot.is_none())
        .unwrap();
    assert_eq!(
        s.tree.rows[here - 1].snapshot.as_deref(),
        Some("snapshot-104")
    );
    assert_eq!(s.tree.rows.len(), 7);
}

#[test]
fn collapse_and_expand_in_inventory_and_tree() {
    let mut s = state();
    // Row 0 is the pcc profile: collapse hides its machines.
    key(&mut s, 'h');
    let names = visible_machines(&s);
    assert!(!names.contains(&"web-01".to_string()), "{names:?}");
    assert!(names.contains(&"shop-front".to_string()));
    key(&mut s, 'l');
    assert_eq!(visible_machines(&s).len(), 16);

    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-102");
    let before = s.tree.rows.len();
    key(&mut s, 'h');
    assert_eq!(s.selected_snapshot(), Some("snapshot-102"));
    assert_eq!(
        s.tree.rows.len(),
        before - 3,
        "103, 104 and You are here hidden"
    );
    assert!(
        !s.tree
            .rows
            .iter()
            .any(|r| r.snapshot.as_deref() == Some("snapshot-103"))
    );
    press(&mut s, KeyCode::Right);
    assert_eq!(s.tree.rows.len(), before);
}

#[test]
fn enter_on_a_machine_opens_its_tree() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    assert_eq!(s.focus, Pane::Inventory);
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.focus, Pane::Tree);
}

#[test]
fn tab_cycles_the_panes_both_ways() {
    let mut s = state();
    // On a machine: its tree is a pane to go to (on a profile the Overview is passed by).
    select_machine(&mut s, "web-01");
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.focus, Pane::Inventory);
    press(&mut s, KeyCode::Tab);
    assert_eq!(s.focus, Pane::Tree);
    press(&mut s, KeyCode::Tab);
    assert_eq!(s.focus, Pane::Details);
    press(&mut s, KeyCode::Tab);
    assert_eq!(s.focus, Pane::Tasks);
    press(&mut s, KeyCode::Tab);
    assert_eq!(s.focus, Pane::Inventory);
    press(&mut s, KeyCode::BackTab);
    assert_eq!(s.focus, Pane::Tasks);
}

#[test]
fn filter_is_incremental_and_esc_clears_it() {
    let mut s = state();
    key(&mut s, '/');
    assert!(s.filtering());
    type_text(&mut s, "web-0");
    assert_eq!(visible_machines(&s), ["web-01", "web-02"]);
    assert_eq!(s.selected_machine().unwrap().name, "web-01");
    key(&mut s, '2');
    assert_eq!(visible_machines(&s), ["web-02"]);
    press(&mut s, KeyCode::Backspace);
    assert_eq!(visible_machines(&s).len(), 2);
    // Keys go to the filter, not to actions.
    assert!(s.dialog().is_none());
    press(&mut s, KeyCode::Esc);
    assert!(!s.filtering());
    assert!(s.nav.filter.is_empty());
    assert_eq!(visible_machines(&s).len(), 16);
}

#[test]
fn esc_after_a_filter_clears_it_too() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    assert!(!s.filtering());
    assert_eq!(visible_machines(&s), ["web-01"]);
    press(&mut s, KeyCode::Esc);
    assert!(s.nav.filter.is_empty());
    assert_eq!(visible_machines(&s).len(), 16);
}

#[test]
fn clearing_the_filter_keeps_the_selected_machine() {
    let mut s = state();
    select_machine(&mut s, "web-02");
    press(&mut s, KeyCode::Esc);
    assert_eq!(visible_machines(&s).len(), 16);
    assert_eq!(
        s.selected_machine().map(|m| m.name.as_str()),
        Some("web-02")
    );
    assert_eq!(s.tree.of, Some(MachineRef::new("pcc", "vm-102")));
    // Esc while typing the filter, too.
    key(&mut s, '/');
    type_text(&mut s, "shop");
    assert_eq!(
        s.selected_machine().map(|m| m.name.as_str()),
        Some("shop-front")
    );
    press(&mut s, KeyCode::Esc);
    assert_eq!(visible_machines(&s).len(), 16);
    assert_eq!(
        s.selected_machine().map(|m| m.name.as_str()),
        Some("shop-front")
    );
}

#[test]
fn filter_matching_nothing_shows_no_machine() {
    let mut s = state();
    key(&mut s, '/');
    type_text(&mut s, "no-such-vm");
    assert!(visible_machines(&s).is_empty());
    assert!(s.selected_machine().is_none());
}

#[test]
fn palette_lists_actions_by_name_and_runs_one() {
    let names: Vec<&str> = palette_matches("delete").iter().map(|b| b.name).collect();
    assert!(names.len() >= 2, "{names:?}");
    // Names that hold the word whole come first (then letters spread out, fuzzy).
    assert!(names[..2].iter().all(|n| n.contains("delete")), "{names:?}");

    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, ':');
    assert!(s.palette().is_some());
    type_text(&mut s, "take");
    let fx = press(&mut s, KeyCode::Enter);
    assert!(fx.is_empty());
    assert!(s.palette().is_none());
    let d = s.dialog().expect("the palette opened the take dialog");
    assert!(matches!(change_ops(d)[..], [Operation::Take { .. }]));

    // Esc closes the palette without running anything.
    let mut s = state();
    key(&mut s, ':');
    type_text(&mut s, "help");
    press(&mut s, KeyCode::Esc);
    assert!(s.palette().is_none() && !s.help_shown());
}

/// The palette's line edits as the dialogs' fields do, and finds an action by letters in
/// order ("tk": take).
#[test]
fn the_palette_line_edits_as_fields_do_and_matches_letters_in_order() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, ':');
    type_text(&mut s, "rubbish words");
    ctrl(&mut s, 'w');
    assert_eq!(s.palette().unwrap().query.value(), "rubbish ");
    ctrl(&mut s, 'u');
    assert_eq!(s.palette().unwrap().query.value(), "");
    // Ctrl-A goes to the start; it inserts nothing.
    type_text(&mut s, "k");
    ctrl(&mut s, 'a');
    type_text(&mut s, "t");
    assert_eq!(s.palette().unwrap().query.value(), "tk");
    press(&mut s, KeyCode::Enter);
    let d = s.dialog().expect("tk found take");
    assert!(matches!(change_ops(d)[..], [Operation::Take { .. }]));
}

#[test]
fn help_toggles_with_question_mark_and_closes_with_esc() {
    let mut s = state();
    key(&mut s, '?');
    assert!(s.help_shown());
    // Keys do nothing else while help is open.
    key(&mut s, 't');
    assert!(s.dialog().is_none());
    press(&mut s, KeyCode::Esc);
    assert!(!s.help_shown());
}

#[test]
fn take_dialog_defaults_and_run() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    assert!(key(&mut s, 't').is_empty());
    let d = s.dialog().cloned().expect("take dialog");
    assert!(matches!(change_ops(&d)[..], [Operation::Take { .. }]));
    let DialogKind::Change(c) = &d.kind else {
        panic!()
    };
    assert_eq!(
        (c.steps[0].profile.as_str(), c.steps[0].machine_id.as_str()),
        ("pcc", "vm-101")
    );
    assert!(d.lines[0].contains("pre-release"), "{:?}", d.lines);
    let name = text_field(&s, "Name");
    // The default name is the local date-time of the clock: YYYY-MM-DD HH:MM:SS.
    let local = now()
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert_eq!(name, local);
    assert_eq!(text_field(&s, "Description"), "");
    // Tools run: quiesce is chosen and memory is not (the snapshot guides' advice), and the
    // dialog says why and how large a memory file would be.
    assert_eq!(check_field(&s, "Include memory"), (false, None));
    assert_eq!(check_field(&s, "Quiesce"), (true, None));
    let d = s.dialog().unwrap();
    assert!(
        d.lines.iter().any(|l| l.contains("quiesce rather than")),
        "{:?}",
        d.lines
    );
    assert!(
        d.lines.iter().any(|l| l.contains("4.0 GiB memory file")),
        "{:?}",
        d.lines
    );

    // Replace the name, tick memory, confirm.
    for _ in 0..name.len() {
        press(&mut s, KeyCode::Backspace);
    }
    type_text(&mut s, "before-deploy");
    press(&mut s, KeyCode::Tab);
    press(&mut s, KeyCode::Tab);
    key(&mut s, ' ');
    assert_eq!(check_field(&s, "Include memory"), (true, None));
    let (profile, machine, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!((profile.as_str(), machine.as_str()), ("pcc", "vm-101"));
    assert_eq!(
        op,
        Operation::Take {
            quiesce_timeout: None,
            name: "before-deploy".into(),
            description: String::new(),
            memory: true,
            quiesce: true,
        }
    );
    assert!(s.dialog().is_none());
    assert_eq!(s.tasks.all().len(), 1);
    assert!(s.tasks.all()[0].is_running());
}

/// The take dialog's quiesce time limit: whole minutes from 5 to 240, sent with the take;
/// out of bounds, or without quiesce, the dialog stays and says why.
#[test]
fn take_with_a_quiesce_time_limit() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, 't');
    let limit = "Quiesce time limit (5m–240m; empty: the server's)";
    assert_eq!(text_field(&s, limit), "");
    // Name, Description, Include memory, Quiesce, then the limit.
    for _ in 0..4 {
        press(&mut s, KeyCode::Tab);
    }
    type_text(&mut s, "3m");
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(s.dialog().is_some(), "the dialog stays");
    assert!(
        error_message(&s).contains("5 to 240 minutes"),
        "{}",
        error_message(&s)
    );
    press(&mut s, KeyCode::Backspace);
    press(&mut s, KeyCode::Backspace);
    type_text(&mut s, "15m");
    assert_eq!(text_field(&s, limit), "15m");
    // Without quiesce the limit means nothing: refused.
    press(&mut s, KeyCode::BackTab);
    key(&mut s, ' ');
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(
        error_message(&s).contains("needs a quiesced snapshot"),
        "{}",
        error_message(&s)
    );
    key(&mut s, ' ');
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    let Operation::Take {
        quiesce,
        quiesce_timeout,
        ..
    } = op
    else {
        panic!("a take: {op:?}")
    };
    assert_eq!((quiesce, quiesce_timeout), (true, Some(15)));
}

#[test]
fn take_with_an_empty_name_is_refused_and_the_dialog_stays() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, 't');
    let len = text_field(&s, "Name").len();
    for _ in 0..len {
        press(&mut s, KeyCode::Backspace);
    }
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(s.dialog().is_some());
    assert!(error_message(&s).contains("name"));
    press(&mut s, KeyCode::Esc);
    assert!(s.dialog().is_none());
    assert!(s.tasks.all().is_empty());
}

#[test]
fn take_on_a_powered_off_vm_greys_memory_and_quiesce_with_the_reason() {
    let mut s = state();
    select_machine(&mut s, "db-02");
    key(&mut s, 't');
    let (mem, why_mem) = check_field(&s, "Include memory");
    let (q, why_q) = check_field(&s, "Quiesce");
    assert!(!mem && !q);
    assert!(why_mem.unwrap().contains("powered on"));
    assert!(why_q.unwrap().contains("powered on"));
    // Space on a greyed choice says why and changes nothing.
    press(&mut s, KeyCode::Tab);
    press(&mut s, KeyCode::Tab);
    key(&mut s, ' ');
    assert!(!check_field(&s, "Include memory").0);
    assert!(error_message(&s).contains("powered on"));
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert!(matches!(
        op,
        Operation::Take {
            memory: false,
            quiesce: false,
            ..
        }
    ));
}

#[test]
fn take_on_a_vm_without_tools_greys_quiesce_only() {
    let mut s = state();
    select_machine(&mut s, "app-legacy");
    key(&mut s, 't');
    assert_eq!(check_field(&s, "Include memory"), (false, None));
    let (_, why) = check_field(&s, "Quiesce");
    assert_eq!(why.as_deref(), Some("quiesce needs VMware Tools running"));
}

#[test]
fn revert_needs_the_machine_name_typed_then_runs_on_the_selected_id() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-102");
    assert!(key(&mut s, 'r').is_empty());
    let d = s.dialog().cloned().expect("revert dialog");
    assert_eq!(must_type(&d).as_deref(), Some("web-01"));
    let all = d.lines.join("\n");
    assert!(
        all.contains("before-upgrade") && all.contains("snapshot-102"),
        "{all}"
    );
    assert!(all.contains("lost"), "{all}");
    assert!(all.contains("powered off"), "no memory in 102: {all}");
    // Nothing typed: refused, dialog stays.
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(s.dialog().is_some());
    // 'y' does not bypass the typed confirmation (it is typed into the field).
    assert!(key(&mut s, 'y').is_empty());
    assert!(s.dialog().is_some());
    press(&mut s, KeyCode::Backspace);
    // A wrong name: refused.
    type_text(&mut s, "web-02");
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(s.dialog().is_some());
    assert!(error_message(&s).contains("web-01"));
    assert!(s.tasks.all().is_empty());
    for _ in 0.."web-02".len() {
        press(&mut s, KeyCode::Backspace);
    }
    type_text(&mut s, "web-01");
    let (profile, machine, op, spec) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!((profile.as_str(), machine.as_str()), ("pcc", "vm-101"));
    assert_eq!(
        op,
        Operation::Revert {
            start: false,
            snapshot: "snapshot-102".into(),
            suppress_power_on: false,
        }
    );
    let Command::Run { expected, .. } = spec else {
        unreachable!()
    };
    assert_eq!(
        expected.target_path,
        Some(vec!["snapshot-101".to_string(), "snapshot-102".to_string()])
    );
    assert_eq!(expected.current.as_deref(), Some("snapshot-104"));
    assert!(s.dialog().is_none());
}

#[test]
fn revert_to_current_targets_the_current_snapshot() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-106");
    key(&mut s, 'u');
    let d = s.dialog().cloned().expect("revert dialog");
    assert!(d.lines[0].contains("pre-release"), "{:?}", d.lines);
    type_text(&mut s, "web-01");
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(
        op,
        Operation::RevertCurrent {
            start: false,
            suppress_power_on: false
        }
    );
}

#[test]
fn revert_of_a_vps_says_the_snapshot_goes_away() {
    let mut s = state();
    select_machine(&mut s, "shop-front");
    key(&mut s, 'r');
    let d = s.dialog().cloned().expect("revert dialog");
    assert!(
        d.lines
            .join(" ")
            .contains("deletes the snapshot after a restore")
    );
}

/// A VPS's restore consumes its snapshot: when it has succeeded, the status line offers a
/// new one, one key away (`t`, on that machine).
#[test]
fn after_a_vps_restore_t_takes_a_new_snapshot() {
    let mut s = state();
    select_machine(&mut s, "shop-front");
    key(&mut s, 'r');
    type_text(&mut s, "shop-front");
    let (_, machine, op, spec) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(op.name(), "revert");
    let Command::Run { request, .. } = spec else {
        unreachable!()
    };
    update(
        &mut s,
        Msg::Engine(Event::TaskDone {
            request,
            result: Ok(TaskStatus {
                id: "task-9".into(),
                state: TaskState::Success,
                progress: Some(100),
                message: None,
                cancelable: false,
            }),
        }),
    );
    let said = error_or_info(&s);
    assert!(
        said.contains("snapshot used up") && said.contains("t takes a new one"),
        "{said}"
    );
    // The machine re-read without its snapshot: `t` is a take, not a replace.
    let mut m = machines_of(&s, "ovh")
        .into_iter()
        .find(|m| m.id == machine)
        .unwrap();
    m.snapshots.clear();
    m.current = None;
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(m),
        }),
    );
    key(&mut s, 't');
    let d = s.dialog().expect("take dialog");
    assert_eq!(d.title, "Take a snapshot of shop-front");
}

/// The snapshot guide's check for the QEMU guest agent: said in a VPS's take dialog, and
/// `Y` copies the command to run in the VPS; a VM has VMware Tools, not this agent.
#[test]
fn a_vps_take_says_how_to_check_the_guest_agent_and_y_copies_the_check() {
    let check = "file /dev/virtio-ports/org.qemu.guest_agent.0";
    let mut s = state();
    select_machine(&mut s, "blog");
    key(&mut s, 't');
    let d = s.dialog().expect("take dialog");
    assert!(
        d.lines
            .iter()
            .any(|l| l.contains("QEMU guest agent") && l.contains(check)),
        "{:?}",
        d.lines
    );
    press(&mut s, KeyCode::Esc);
    assert_eq!(key(&mut s, 'Y'), vec![Effect::Copy(check.into())]);
    assert!(
        error_or_info(&s).contains("run it in the VPS"),
        "{:?}",
        s.log.status
    );
    select_machine(&mut s, "web-01");
    assert!(key(&mut s, 'Y').is_empty());
    assert!(error_message(&s).contains("VPS"), "{:?}", s.log.status);
}

#[test]
fn revert_without_a_snapshot_selected_is_refused() {
    let mut s = state();
    select_machine(&mut s, "db-02");
    key(&mut s, 'r');
    assert!(s.dialog().is_none());
    assert!(error_message(&s).contains("select a snapshot"));
    key(&mut s, 'u');
    assert!(s.dialog().is_none());
    assert!(error_message(&s).contains("no current snapshot"));
}

#[test]
fn delete_offers_children_as_a_distinct_choice() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-102");
    key(&mut s, 'd');
    let d = s.dialog().cloned().expect("delete dialog");
    assert!(must_type(&d).is_none());
    assert_eq!(
        check_field(&s, "Also delete its 2 descendant"),
        (false, None)
    );
    assert!(d.lines.join("\n").contains("1 child"), "{:?}", d.lines);
    // Without children.
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(
        op,
        Operation::Delete {
            snapshot: "snapshot-102".into(),
            children: false
        }
    );
    // With children: tick the choice; three snapshots go, so the count is typed (not d,
    // not y).
    key(&mut s, 'd');
    key(&mut s, ' ');
    assert!(key(&mut s, 'd').is_empty());
    assert!(key(&mut s, 'y').is_empty());
    assert!(s.dialog().is_some());
    press(&mut s, KeyCode::BackTab);
    type_text(&mut s, "3");
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(
        op,
        Operation::Delete {
            snapshot: "snapshot-102".into(),
            children: true
        }
    );
}

#[test]
fn delete_of_a_leaf_has_no_children_choice() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-106");
    key(&mut s, 'd');
    assert!(s.dialog().unwrap().fields.is_empty());
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(
        op,
        Operation::Delete {
            snapshot: "snapshot-106".into(),
            children: false
        }
    );
}

#[test]
fn delete_on_you_are_here_is_refused() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    press(&mut s, KeyCode::Tab);
    let here = s
        .tree
        .rows
        .iter()
        .position(|r| r.snapshot.is_none())
        .unwrap();
    key(&mut s, 'g');
    for _ in 0..here {
        key(&mut s, 'j');
    }
    assert_eq!(s.selected_snapshot(), None);
    key(&mut s, 'd');
    assert!(s.dialog().is_none());
    assert!(error_message(&s).contains("select a snapshot"));
}

#[test]
fn delete_all_needs_the_name_and_is_refused_without_snapshots() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, 'D');
    let d = s.dialog().cloned().expect("delete-all dialog");
    assert_eq!(must_type(&d).as_deref(), Some("web-01"));
    assert!(
        d.lines.iter().any(|l| l.contains("all 6 snapshot")),
        "{:?}",
        d.lines
    );
    // The pinned root is among them, and said so.
    assert!(
        d.lines[0].starts_with("Protected: \"base\" (snapshot-101)"),
        "{:?}",
        d.lines
    );
    type_text(&mut s, "web-0");
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    key(&mut s, '1');
    let (_, machine, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(machine, "vm-101");
    assert_eq!(op, Operation::DeleteAll);

    let mut s = state();
    select_machine(&mut s, "db-02");
    key(&mut s, 'D');
    assert!(s.dialog().is_none());
    assert!(error_message(&s).contains("no snapshots"));
}

#[test]
fn consolidate_runs_on_a_vm_and_is_refused_on_a_vps() {
    let mut s = state();
    select_machine(&mut s, "db-01");
    key(&mut s, 'c');
    let d = s.dialog().cloned().expect("consolidate dialog");
    assert!(d.lines.join(" ").contains("needing consolidation"));
    let (_, machine, op, _) = run_of(&key(&mut s, 'y'));
    assert_eq!((machine.as_str(), op), ("vm-201", Operation::Consolidate));

    let mut s = state();
    select_machine(&mut s, "shop-front");
    key(&mut s, 'c');
    assert!(s.dialog().is_none());
    assert!(error_message(&s).contains("VPS"));
}

#[test]
fn take_on_a_vps_with_a_snapshot_offers_replace() {
    let mut s = state();
    select_machine(&mut s, "shop-front");
    key(&mut s, 't');
    let d = s.dialog().cloned().expect("replace dialog");
    assert!(d.title.contains("Replace"), "{}", d.title);
    assert!(
        d.lines[0].contains("already has a snapshot"),
        "{:?}",
        d.lines
    );
    assert!(d.lines.join(" ").contains("pre-deploy"));
    press(&mut s, KeyCode::Esc);
    // R opens the same replace, without the "already has" line.
    key(&mut s, 'R');
    let d = s.dialog().cloned().expect("replace dialog");
    assert!(!d.lines[0].contains("already has"));
    let desc = text_field(&s, "Description");
    let (profile, machine, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(
        (profile.as_str(), machine.as_str()),
        ("ovh", "vps-1a2b3c4d.vps.ovh.net")
    );
    assert_eq!(op, Operation::Replace { description: desc });
}

#[test]
fn take_on_a_vps_without_a_snapshot_takes_with_a_description() {
    let mut s = state();
    select_machine(&mut s, "blog");
    key(&mut s, 't');
    let d = s.dialog().cloned().expect("take dialog");
    assert!(matches!(change_ops(&d)[..], [Operation::Take { .. }]));
    // A VPS snapshot has a description (and its expiry) only: no memory or quiesce choices.
    assert_eq!(d.fields.len(), 2);
    assert!(matches!(&d.fields[1], Field::Text { label, .. } if label.starts_with("Expires in")));
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    let Operation::Take {
        memory, quiesce, ..
    } = op
    else {
        panic!("{op:?}")
    };
    assert!(!memory && !quiesce);
}

#[test]
fn take_on_a_vps_without_the_option_is_refused_with_the_reason() {
    let mut s = state();
    select_machine(&mut s, "vps-9c0d1e2f.vps.ovh.net");
    key(&mut s, 't');
    assert!(s.dialog().is_none());
    assert!(error_message(&s).contains("no snapshot option"));
    key(&mut s, 'R');
    assert!(s.dialog().is_none());
}

#[test]
fn rename_edits_name_and_description() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-104");
    key(&mut s, 'e');
    assert_eq!(text_field(&s, "Name"), "pre-release");
    assert_eq!(text_field(&s, "Description"), "Release 4.2 candidate");
    for _ in 0.."pre-release".len() {
        press(&mut s, KeyCode::Backspace);
    }
    type_text(&mut s, "rc-4.2");
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(
        op,
        Operation::Rename {
            snapshot: "snapshot-104".into(),
            name: Some("rc-4.2".into()),
            description: Some("Release 4.2 candidate".into()),
        }
    );
    // The task row names the old name and the new one.
    assert_eq!(s.tasks.all()[0].target, "pre-release → rc-4.2");
}

#[test]
fn marks_across_machines_then_one_batch_delete() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-106");
    key(&mut s, ' ');
    press(&mut s, KeyCode::Tab);
    press(&mut s, KeyCode::Tab);
    select_machine(&mut s, "web-02");
    select_snapshot(&mut s, "snapshot-111");
    key(&mut s, ' ');
    assert_eq!(s.batch.marks.len(), 2);
    // Space again unmarks, and once more marks.
    key(&mut s, ' ');
    assert_eq!(s.batch.marks.len(), 1);
    key(&mut s, ' ');
    key(&mut s, 'd');
    let d = s.dialog().cloned().expect("batch dialog");
    assert_eq!(change_ops(&d).len(), 2);
    // A batch is confirmed by typing its count.
    assert_eq!(must_type(&d).as_deref(), Some("2"));
    type_text(&mut s, "2");
    let fx = press(&mut s, KeyCode::Enter);
    let mut ops: Vec<(String, Operation)> = fx
        .iter()
        .map(|e| match e {
            Effect::Send(_, Command::Run { machine_id, op, .. }) => {
                (machine_id.clone(), op.clone())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    ops.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ops,
        vec![
            (
                "vm-101".to_string(),
                Operation::Delete {
                    snapshot: "snapshot-106".into(),
                    children: false
                }
            ),
            (
                "vm-102".to_string(),
                Operation::Delete {
                    snapshot: "snapshot-111".into(),
                    children: false
                }
            ),
        ]
    );
    assert!(s.batch.marks.is_empty());
    assert_eq!(s.tasks.all().len(), 2);
}

#[test]
fn copy_gives_the_selected_id() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    assert_eq!(key(&mut s, 'y'), vec![Effect::Copy("snapshot-104".into())]);
    select_machine(&mut s, "db-02");
    // No snapshot: the machine's id.
    assert_eq!(key(&mut s, 'y'), vec![Effect::Copy("vm-202".into())]);
}

fn start_task(s: &mut AppState) -> u64 {
    select_machine(s, "web-01");
    key(s, 't');
    let fx = press(s, KeyCode::Enter);
    let (_, _, _, spec) = run_of(&fx);
    let Command::Run { request, .. } = spec else {
        unreachable!()
    };
    request
}

fn progress(s: &mut AppState, request: u64, state: TaskState, cancelable: bool) {
    update(
        s,
        Msg::Engine(Event::Task {
            request,
            update: RunUpdate::Progress(TaskStatus {
                id: "task-7".into(),
                state,
                progress: Some(40),
                message: None,
                cancelable,
            }),
        }),
    );
}

#[test]
fn cancel_a_running_cancelable_task() {
    let mut s = state();
    let request = start_task(&mut s);
    // Not yet started on the back end: nothing to cancel.
    key(&mut s, 'x');
    assert!(error_message(&s).contains("nothing to cancel there"));
    update(
        &mut s,
        Msg::Engine(Event::Task {
            request,
            update: RunUpdate::Started {
                note: None,
                task_id: "task-7".into(),
            },
        }),
    );
    progress(&mut s, request, TaskState::Running, true);
    while s.focus != Pane::Tasks {
        press(&mut s, KeyCode::Tab);
    }
    let (profile, machine, op, _) = run_of(&key(&mut s, 'x'));
    assert_eq!((profile.as_str(), machine.as_str()), ("pcc", "vm-101"));
    assert_eq!(
        op,
        Operation::Cancel {
            task: "task-7".into()
        }
    );
}

#[test]
fn cancel_an_ended_task_is_refused() {
    let mut s = state();
    let request = start_task(&mut s);
    update(
        &mut s,
        Msg::Engine(Event::TaskDone {
            request,
            result: Ok(TaskStatus {
                id: "task-7".into(),
                state: TaskState::Success,
                progress: Some(100),
                message: None,
                cancelable: false,
            }),
        }),
    );
    assert!(!s.tasks.all()[0].is_running());
    while s.focus != Pane::Tasks {
        press(&mut s, KeyCode::Tab);
    }
    assert!(key(&mut s, 'x').is_empty());
    assert!(error_message(&s).contains("already ended"));
}

#[test]
fn quit_asks_only_when_tasks_run() {
    let mut s = state();
    key(&mut s, 'q');
    assert!(s.quit);

    let mut s = state();
    let request = start_task(&mut s);
    progress(&mut s, request, TaskState::Running, false);
    key(&mut s, 'q');
    assert!(!s.quit);
    let d = s.dialog().cloned().expect("quit dialog");
    assert_eq!(d.kind, DialogKind::Quit);
    assert!(d.lines[0].contains("1 task"));
    press(&mut s, KeyCode::Esc);
    assert!(!s.quit && s.dialog().is_none());
    key(&mut s, 'q');
    press(&mut s, KeyCode::Enter);
    assert!(s.quit);
}

#[test]
fn esc_in_a_dialog_changes_nothing() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, 'D');
    assert!(press(&mut s, KeyCode::Esc).is_empty());
    assert!(s.dialog().is_none());
    assert!(s.tasks.all().is_empty());
}

#[test]
fn task_failure_shows_the_back_end_text() {
    let mut s = state();
    let request = start_task(&mut s);
    update(
        &mut s,
        Msg::Engine(Event::TaskDone {
            request,
            result: Ok(TaskStatus {
                id: "task-7".into(),
                state: TaskState::Error,
                progress: None,
                message: Some("insufficient disk space on datastore1".into()),
                cancelable: false,
            }),
        }),
    );
    assert!(error_message(&s).contains("insufficient disk space on datastore1"));
    assert_eq!(s.tasks.running(), 0);
}

/// Every change key, on a VM and a VPS, in read-only mode: refused, no dialog, no effect.
#[test]
fn read_only_refuses_every_change_without_opening_a_dialog() {
    let cases: &[(&str, Option<&str>)] = &[
        ("web-01", Some("snapshot-102")),
        ("db-01", None),
        ("shop-front", None),
        ("blog", None),
    ];
    for (machine, snapshot) in cases {
        for k in ['t', 'r', 'u', 'd', 'D', 'c', 'e', 'R'] {
            let mut s = state_with(true, ThemeName::Default);
            select_machine(&mut s, machine);
            if let Some(id) = snapshot {
                select_snapshot(&mut s, id);
            }
            let fx = key(&mut s, k);
            assert!(fx.is_empty(), "{machine} {k}: {fx:?}");
            assert!(
                s.dialog().is_none(),
                "{machine} {k} opened {:?}",
                s.dialog()
            );
            let m = error_message(&s);
            assert!(m.contains("read-only"), "{machine} {k}: {m}");
        }
    }
}

/// A read-only profile shows a VPS's restore points, and refuses each change from them
/// before a dialog opens; a VPS without the option, or a VM, says why there is no list.
#[test]
fn the_backups_list_opens_read_only_and_its_changes_are_refused() {
    for k in ['f', 'm', 'd', 's'] {
        let mut s = state_with(true, ThemeName::Default);
        select_machine(&mut s, "mail");
        key(&mut s, 'b');
        assert!(
            matches!(
                s.dialog().map(|d| &d.kind),
                Some(DialogKind::Backups { selected: 0, .. })
            ),
            "{:?}",
            s.dialog()
        );
        assert!(key(&mut s, k).is_empty());
        // The list stays, the refusal said in it.
        assert_eq!(
            s.dialog().map(|d| d.title.as_str()),
            Some("Automated backup of mail")
        );
        assert!(error_message(&s).contains("read-only"), "{k}");
    }
    let mut s = state_with(false, ThemeName::Default);
    select_machine(&mut s, "blog");
    key(&mut s, 'b');
    assert!(s.dialog().is_none());
    assert!(error_message(&s).contains("automatedBackup option is not subscribed"));
    select_machine(&mut s, "web-01");
    key(&mut s, 'b');
    assert!(error_message(&s).contains("vSphere VM"));
    // Writable: j/k choose within the points; a mounted point cannot be restored whole.
    select_machine(&mut s, "mail");
    key(&mut s, 'b');
    for _ in 0..20 {
        key(&mut s, 'j');
    }
    assert!(matches!(
        s.dialog().map(|d| &d.kind),
        Some(DialogKind::Backups { selected: 6, .. })
    ));
    key(&mut s, 'g');
    for _ in 0..20 {
        key(&mut s, 'k');
    }
    key(&mut s, 'f');
    assert_eq!(
        s.dialog().map(|d| d.title.as_str()),
        Some("Automated backup of mail")
    );
    assert!(error_message(&s).contains("is mounted; detach it first"));
}

/// `O`: read-only refuses before asking anything; a VPS with both options, or a VM, says
/// why; an answer to an older request, or one that comes while a dialog is open, opens
/// nothing.
#[test]
fn ordering_an_option_is_refused_read_only_and_a_late_answer_opens_nothing() {
    let mut s = state_with(true, ThemeName::Default);
    select_machine(&mut s, "vps-9c0d1e2f.vps.ovh.net");
    assert!(key(&mut s, 'O').is_empty());
    assert!(error_message(&s).contains("read-only"));
    let mut s = state_with(false, ThemeName::Default);
    select_machine(&mut s, "mail");
    assert!(key(&mut s, 'O').is_empty());
    assert!(error_message(&s).contains("has the snapshot and the automated backup options"));
    select_machine(&mut s, "web-01");
    assert!(key(&mut s, 'O').is_empty());
    assert!(error_message(&s).contains("vSphere VM"));
    // blog lacks the automated backup: asked; a second O asks again, the first answer is
    // dropped.
    select_machine(&mut s, "blog");
    let ask = |s: &mut AppState| match key(s, 'O').as_slice() {
        [
            Effect::Send(
                _,
                Command::Quotes {
                    request, option, ..
                },
            ),
        ] => (*request, *option),
        other => panic!("{other:?}"),
    };
    let (first, option) = ask(&mut s);
    assert_eq!(option.api(), "automatedBackup");
    let (second, _) = ask(&mut s);
    let blog = s.selected_machine().unwrap().clone();
    let answer = |request| {
        Msg::Engine(Event::Quotes {
            request,
            machine: blog.machine_ref(),
            option,
            result: Ok(snaptree::sim::estate::quotes(&blog, option)),
        })
    };
    update(&mut s, answer(first));
    assert!(s.dialog().is_none(), "{:?}", s.dialog());
    update(&mut s, answer(second));
    let d = s.dialog().expect("the order's dialog");
    assert_eq!(d.title, "Order the automated backup option for blog");
    assert!(d.needs_typing());
}

#[test]
fn read_only_refuses_the_palette_batch_delete_and_cancel() {
    let mut s = state_with(true, ThemeName::Default);
    select_machine(&mut s, "web-01");
    key(&mut s, ':');
    type_text(&mut s, "delete all");
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(s.dialog().is_none());
    assert!(error_message(&s).contains("read-only"));

    // Marking is only a selection; deleting the marks is refused.
    select_snapshot(&mut s, "snapshot-106");
    key(&mut s, ' ');
    assert_eq!(s.batch.marks.len(), 1);
    assert!(key(&mut s, 'd').is_empty());
    assert!(s.dialog().is_none());
    assert!(error_message(&s).contains("read-only"));

    // A task seen running (e.g. started elsewhere) cannot be cancelled from here.
    s.tasks.push(TaskView {
        request: 1,
        profile: "pcc".into(),
        machine_id: "vm-101".into(),
        machine: "web-01".into(),
        op: Operation::Take {
            quiesce_timeout: None,
            name: "t".into(),
            description: String::new(),
            memory: false,
            quiesce: false,
        },
        target: String::new(),
        task_id: Some("task-9".into()),
        state: Some(TaskState::Running),
        progress: None,
        message: None,
        not_run: None,
        batch: None,
        cancelable: true,
        started: now(),
        ended: None,
    });
    while s.focus != Pane::Tasks {
        press(&mut s, KeyCode::Tab);
    }
    assert!(key(&mut s, 'x').is_empty());
    assert!(error_message(&s).contains("read-only"));
}

#[test]
fn read_only_still_browses_and_copies() {
    let mut s = state_with(true, ThemeName::Default);
    select_machine(&mut s, "web-01");
    assert_eq!(key(&mut s, 'y'), vec![Effect::Copy("snapshot-104".into())]);
    key(&mut s, '?');
    assert!(s.help_shown());
}

#[test]
fn an_inventory_refresh_keeps_the_selection() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    press(&mut s, KeyCode::Esc);
    let fx = update(
        &mut s,
        Msg::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('r'),
            crossterm::event::KeyModifiers::CONTROL,
        )),
    );
    assert_eq!(fx, vec![Effect::RefreshAll]);
    let again = state();
    for p in ["pcc", "ovh"] {
        let machines: Vec<_> = again
            .machines()
            .iter()
            .filter(|m| m.profile == p)
            .cloned()
            .collect();
        inventory(&mut s, p, machines, true);
    }
    assert_eq!(
        s.selected_machine().map(|m| m.name.as_str()),
        Some("web-01")
    );
}

#[test]
fn you_are_here_after_children_keeps_the_tree_guides_right() {
    let mut s = state();
    let mut machines: Vec<_> = s
        .machines()
        .iter()
        .filter(|m| m.profile == "pcc")
        .cloned()
        .collect();
    for m in &mut machines {
        if m.id == "vm-101" {
            m.current = Some("snapshot-101".into());
        }
    }
    inventory(&mut s, "pcc", machines, true);
    select_machine(&mut s, "web-01");
    let rows: Vec<(Option<&str>, &str)> = s
        .tree
        .rows
        .iter()
        .map(|r| (r.snapshot.as_deref(), r.prefix.as_str()))
        .collect();
    // base's children are 102, 105, then "You are here": only the last is drawn with └─.
    assert_eq!(
        rows,
        vec![
            (Some("snapshot-101"), "└─"),
            (Some("snapshot-102"), "  ├─"),
            (Some("snapshot-103"), "  │ └─"),
            (Some("snapshot-104"), "  │   └─"),
            (Some("snapshot-105"), "  ├─"),
            (Some("snapshot-106"), "  │ └─"),
            (None, "  └─"),
        ]
    );
}

/// The selected machine's name, if a machine is selected.
fn selected_name(s: &AppState) -> Option<String> {
    s.selected_machine().map(|m| m.name.clone())
}

/// One profile's machines as the engine reports them again (a poll or a refresh).
fn reload(s: &mut AppState, profile: &str, machines: Vec<snaptree::model::Machine>) {
    update(
        s,
        Msg::Engine(Event::Loading {
            profile: profile.into(),
        }),
    );
    update(
        s,
        Msg::Engine(Event::Inventory {
            profile: profile.into(),
            machines,
            complete: true,
            server: None,
        }),
    );
}

fn machines_of(s: &AppState, profile: &str) -> Vec<snaptree::model::Machine> {
    s.machines()
        .iter()
        .filter(|m| m.profile == profile)
        .cloned()
        .collect()
}

#[test]
fn editing_the_filter_back_to_empty_keeps_the_selected_machine() {
    let mut s = state();
    select_machine(&mut s, "build-runner");
    key(&mut s, '/');
    while !s.nav.filter.is_empty() {
        press(&mut s, KeyCode::Backspace);
        assert_eq!(
            selected_name(&s).as_deref(),
            Some("build-runner"),
            "filter {:?}",
            s.nav.filter
        );
    }
    press(&mut s, KeyCode::Enter);
    assert_eq!(selected_name(&s).as_deref(), Some("build-runner"));
}

#[test]
fn a_poll_or_a_reload_with_a_filter_set_keeps_the_selected_machine() {
    let mut s = state();
    select_machine(&mut s, "blog");
    for profile in ["ovh", "pcc"] {
        let again = machines_of(&s, profile);
        // A listing first reports bare rows, then the whole list; in between the
        // profile may have no rows at all.
        inventory(&mut s, profile, Vec::new(), false);
        reload(&mut s, profile, again);
        assert_eq!(
            selected_name(&s).as_deref(),
            Some("blog"),
            "after {profile}"
        );
    }
}

#[test]
fn a_machine_that_vanishes_selects_nothing_not_a_neighbour() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    press(&mut s, KeyCode::Esc);
    let others: Vec<_> = machines_of(&s, "pcc")
        .into_iter()
        .filter(|m| m.name != "web-01")
        .collect();
    reload(&mut s, "pcc", others);
    assert_eq!(selected_name(&s), None, "a neighbour was selected");
    assert!(s.tree.rows.is_empty() || s.tree.of.is_none());
    // The cursor moves again from where the machine was.
    key(&mut s, 'j');
    assert!(s.selected_machine().is_some() || s.nav.rows.get(s.nav.cursor.selected).is_some());
}

#[test]
fn a_snapshot_that_vanishes_selects_no_snapshot() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-106");
    let mut m = s.selected_machine().unwrap().clone();
    // Another client deleted hotfix-test (snapshot-106), a leaf.
    fn remove(nodes: &mut Vec<snaptree::model::Snapshot>, id: &str) {
        nodes.retain(|n| n.id != id);
        for n in nodes {
            remove(&mut n.children, id);
        }
    }
    remove(&mut m.snapshots, "snapshot-106");
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(m),
        }),
    );
    assert_eq!(s.selected_snapshot(), None, "a neighbour was selected");
    assert!(key(&mut s, 'd').is_empty());
    assert!(s.dialog().is_none(), "d acted on another snapshot");
}

#[test]
fn esc_with_a_collapsed_group_keeps_the_cursor_on_that_group() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, 'k');
    let group = s.nav.rows.get(s.nav.cursor.selected).cloned();
    assert!(matches!(group, Some(Row::Group(..))), "{group:?}");
    key(&mut s, 'h');
    press(&mut s, KeyCode::Esc);
    assert!(s.nav.filter.is_empty());
    assert_eq!(
        s.nav.rows.get(s.nav.cursor.selected).cloned(),
        group,
        "Esc moved the cursor"
    );
    key(&mut s, 'l');
    key(&mut s, 'j');
    assert_eq!(selected_name(&s).as_deref(), Some("web-01"));
}

/// A task's end: success, or an error the server gave ("locked").
fn task_ended(ok: bool) -> TaskStatus {
    TaskStatus {
        id: "t".into(),
        state: if ok {
            TaskState::Success
        } else {
            TaskState::Error
        },
        progress: None,
        message: (!ok).then(|| "locked".to_string()),
        cancelable: false,
    }
}

#[test]
fn a_batch_on_one_machine_goes_deepest_first_and_failed_steps_stay_marked() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    // base/before-upgrade (102) and its child after-patch (103), then hotfix-test (106).
    for id in ["snapshot-102", "snapshot-103", "snapshot-106"] {
        select_snapshot(&mut s, id);
        key(&mut s, ' ');
    }
    key(&mut s, 'd');
    type_text(&mut s, "3");
    let fx = press(&mut s, KeyCode::Enter);
    let sent: Vec<(u64, String)> = fx
        .iter()
        .map(|e| match e {
            Effect::Send(
                _,
                Command::Run {
                    request,
                    op: Operation::Delete { snapshot, .. },
                    ..
                },
            ) => (*request, snapshot.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    let order: Vec<&str> = sent.iter().map(|(_, id)| id.as_str()).collect();
    // after-patch before its parent, so it is never re-parented onto a snapshot about to go.
    assert_eq!(order, ["snapshot-103", "snapshot-106", "snapshot-102"]);
    assert!(s.batch.marks.is_empty(), "marks move to the running steps");
    let done = |ok: bool| Ok(task_ended(ok));
    for (i, (request, _)) in sent.iter().enumerate() {
        update(
            &mut s,
            Msg::Engine(Event::TaskDone {
                request: *request,
                result: done(i != 1),
            }),
        );
    }
    let left: Vec<&str> = s.batch.marks.iter().map(|k| k.snapshot.as_str()).collect();
    assert_eq!(left, ["snapshot-106"], "the failed step stays marked");
}

/// Proxmox deletes one snapshot per call: a delete with descendants is a plan of single
/// deletes, deepest first, the snapshot chosen last; it runs as the marks' batches do (a
/// failure stops the rest), with its own words.
#[test]
fn a_proxmox_delete_with_descendants_runs_as_a_plan_of_single_deletes() {
    let mut s = state();
    select_machine(&mut s, "gitlab");
    select_snapshot(&mut s, "base");
    key(&mut s, 'd');
    // Not greyed: Proxmox runs it one snapshot at a time.
    assert_eq!(
        check_field(&s, "Also delete its 2 descendant"),
        (false, None)
    );
    key(&mut s, ' ');
    let d = s.dialog().cloned().expect("delete dialog");
    assert!(
        d.lines.join("\n").contains("one at a time, deepest first"),
        "{:?}",
        d.lines
    );
    press(&mut s, KeyCode::BackTab);
    type_text(&mut s, "3");
    let fx = press(&mut s, KeyCode::Enter);
    let sent: Vec<(u64, String, Option<u64>)> = fx
        .iter()
        .map(|e| match e {
            Effect::Send(
                _,
                Command::Run {
                    request,
                    op:
                        Operation::Delete {
                            snapshot,
                            children: false,
                        },
                    plan,
                    ..
                },
            ) => (*request, snapshot.clone(), *plan),
            other => panic!("{other:?}"),
        })
        .collect();
    let order: Vec<&str> = sent.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(order, ["pre_upgrade_17", "pre_upgrade_16", "base"]);
    let plan = sent[0].2.expect("one plan");
    assert!(sent.iter().all(|(_, _, p)| *p == Some(plan)));
    let status = s.log.status.clone().expect("status").1;
    assert!(status.starts_with("delete on gitlab: 0 of 3"), "{status}");
    // A step not started is not cancelled (X stops the plan); a Proxmox delete running is
    // not stopped, with why.
    key(&mut s, 'x');
    let said = error_message(&s);
    assert!(said.contains("has not started: X stops"), "{said}");
    update(
        &mut s,
        Msg::Engine(Event::Task {
            request: sent[0].0,
            update: RunUpdate::Started {
                task_id: "UPID:pve1:1:2:3:qmdelsnapshot:100:demo@pve!snaptree:".into(),
                note: None,
            },
        }),
    );
    progress(&mut s, sent[0].0, TaskState::Running, false);
    s.focus = Pane::Tasks;
    s.tasks.cursor.selected = 0;
    key(&mut s, 'x');
    let said = error_message(&s);
    assert!(
        said.contains("Proxmox stops only a snapshot being taken"),
        "{said}"
    );
    let results = [
        Ok(task_ended(true)),
        Ok(task_ended(false)),
        Err(snaptree::engine::RunError::Skipped(
            "an earlier step failed".into(),
        )),
    ];
    for ((request, _, _), result) in sent.iter().zip(results) {
        update(
            &mut s,
            Msg::Engine(Event::TaskDone {
                request: *request,
                result,
            }),
        );
    }
    let status = s.log.status.clone().expect("status").1;
    assert!(
        status.starts_with("delete on gitlab ended: 1 done, 1 failed, 1 skipped"),
        "{status}"
    );
    // Proxmox gives no sizes: nothing is said freed that was not counted.
    assert!(status.contains("; space freed not known;"), "{status}");
}

/// Snapshots without a size (a Proxmox guest's) marked: never "0 B" on the status line,
/// in the message or in the delete dialog.
#[test]
fn marks_without_sizes_say_so_not_zero_bytes() {
    let mut s = state();
    select_machine(&mut s, "gitlab");
    select_snapshot(&mut s, "base");
    key(&mut s, ' ');
    let said = s.log.status.clone().expect("status").1;
    assert!(
        said.contains("1 snapshot(s) marked, size not known"),
        "{said}"
    );
    assert_eq!(s.batch.marked_summary(), Some((1, None)));
    key(&mut s, 'd');
    let d = s.dialog().cloned().expect("the marks' dialog");
    assert!(
        d.lines
            .iter()
            .any(|l| l.contains("1 machine(s), sizes not known;")),
        "{:?}",
        d.lines
    );
    assert!(!d.lines.join("\n").contains("0 B"), "{:?}", d.lines);
}

#[test]
fn a_queued_operation_says_so() {
    let mut s = state();
    let request = start_task(&mut s);
    update(
        &mut s,
        Msg::Engine(Event::Task {
            request,
            update: RunUpdate::Queued,
        }),
    );
    let t = s.tasks.all().iter().find(|t| t.request == request).unwrap();
    assert_eq!(t.state, Some(TaskState::Queued));
    assert!(
        t.is_running(),
        "a queued operation counts as running (quit asks)"
    );
}

#[test]
fn progress_messages_clear_when_their_work_ends() {
    let mut s = state();
    update(
        &mut s,
        Msg::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char('r'),
            crossterm::event::KeyModifiers::CONTROL,
        )),
    );
    assert!(error_or_info(&s).contains("refreshing"));
    for p in ["pcc", "ovh", "pve"] {
        let again = machines_of(&s, p);
        reload(&mut s, p, again);
    }
    assert!(
        !error_or_info(&s).contains("refreshing"),
        "{:?}",
        s.log.status
    );

    select_machine(&mut s, "shop-front");
    key(&mut s, 'L');
    assert!(
        error_or_info(&s).contains("download link"),
        "{:?}",
        s.log.status
    );
    update(
        &mut s,
        Msg::Engine(Event::Download {
            machine: snaptree::model::MachineRef::new("ovh", "vps-1a2b3c4d.vps.ovh.net"),
            result: Ok(snaptree::provider::DownloadLink {
                url: "https://example.invalid/snap".into(),
                size: 1024,
            }),
        }),
    );
    assert!(!error_or_info(&s).contains("asking"), "{:?}", s.log.status);
    assert!(s.dialog().is_some());
}

/// The download dialog says when the link expires and copies the URL (`y`) or a ready
/// `curl` command (`c`).
#[test]
fn the_download_link_says_when_it_expires_and_c_copies_a_curl_command() {
    let mut s = state();
    select_machine(&mut s, "shop-front");
    let link = |s: &mut AppState, url: &str| {
        update(
            s,
            Msg::Engine(Event::Download {
                machine: snaptree::model::MachineRef::new("ovh", "vps-1a2b3c4d.vps.ovh.net"),
                result: Ok(snaptree::provider::DownloadLink {
                    url: url.into(),
                    size: 1024,
                }),
            }),
        );
    };
    link(&mut s, "https://example.invalid/snap");
    // A link without its expiry in it: the API's usual lifetime, from when it came.
    let lines = &s.dialog().unwrap().lines;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("expires about 2026-11-02 10:00 UTC")),
        "{lines:?}"
    );
    press(&mut s, KeyCode::Esc);

    // A temporary URL says when it expires; `y` copies it, `c` a curl command for it.
    let url = format!(
        "https://storage.example.invalid/v1/AUTH_a/snapshots/snapshot-42.qcow2?temp_url_sig=f00&temp_url_expires={}",
        (now() + chrono::Duration::hours(23)).timestamp()
    );
    link(&mut s, &url);
    let lines = &s.dialog().unwrap().lines;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("expires 2026-11-02 09:00 UTC (in 23h)")),
        "{lines:?}"
    );
    assert_eq!(key(&mut s, 'y'), vec![Effect::Copy(url.clone())]);
    assert_eq!(
        key(&mut s, 'c'),
        vec![Effect::Copy(format!(
            "curl -fL -o snapshot-42.qcow2 '{url}'"
        ))]
    );
    assert!(
        error_or_info(&s).contains("curl command copied"),
        "{:?}",
        s.log.status
    );
}

fn error_or_info(s: &AppState) -> String {
    s.log
        .status
        .as_ref()
        .map(|(_, m)| m.clone())
        .unwrap_or_default()
}

#[test]
fn revert_dialogs_say_which_revert_and_offer_suppress_only_with_memory() {
    let has_suppress = |s: &AppState| {
        s.dialog()
            .unwrap()
            .fields
            .iter()
            .any(|f| matches!(f, Field::Check { label, .. } if label == "Suppress power-on"))
    };
    let mut s = state();
    select_machine(&mut s, "web-01");
    // after-patch (snapshot-103) has memory; base (snapshot-101) is disk only.
    select_snapshot(&mut s, "snapshot-103");
    key(&mut s, 'r');
    let selected = s.dialog().cloned().expect("revert dialog").title;
    assert!(
        has_suppress(&s),
        "a memory snapshot offers suppress power-on"
    );
    press(&mut s, KeyCode::Esc);
    select_snapshot(&mut s, "snapshot-101");
    key(&mut s, 'r');
    assert!(
        !has_suppress(&s),
        "a disk-only revert leaves the VM off anyway"
    );
    press(&mut s, KeyCode::Esc);
    key(&mut s, 'u');
    let current = s.dialog().cloned().expect("revert-current dialog").title;
    assert_ne!(selected, current, "r and u dialogs must not look alike");
    assert!(current.contains("current"), "{current}");
}

fn status_text(s: &AppState) -> String {
    s.log.status.clone().map(|(_, m)| m).unwrap_or_default()
}

fn ctrl(s: &mut AppState, c: char) -> Vec<Effect> {
    update(
        s,
        Msg::Key(crossterm::event::KeyEvent::new(
            KeyCode::Char(c),
            crossterm::event::KeyModifiers::CONTROL,
        )),
    )
}

/// The view a destructive change is checked against is the one its dialog was opened on:
/// a live update that arrives while the dialog is open does not change it.
#[test]
fn the_stale_view_baseline_is_taken_when_the_dialog_opens() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-102");
    key(&mut s, 'r');
    let seen = s
        .machine(&MachineRef::new("pcc", "vm-101"))
        .cloned()
        .unwrap();
    // Another client takes a snapshot while the dialog is open.
    let mut changed = seen.clone();
    let new = snaptree::model::Snapshot {
        id: "snapshot-999".into(),
        name: "elsewhere".into(),
        children: Vec::new(),
        ..changed.snapshots[0].clone()
    };
    changed.snapshots[0].children.push(new);
    changed.current = Some("snapshot-999".into());
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(changed),
        }),
    );
    type_text(&mut s, "web-01");
    let (_, _, op, cmd) = run_of(&press(&mut s, KeyCode::Enter));
    let Command::Run { expected, .. } = cmd else {
        panic!()
    };
    assert_eq!(expected, snaptree::model::ExpectedView::of(&seen, &op));
    assert!(!expected.snapshot_ids.contains(&"snapshot-999".to_string()));
}

/// A live update that makes an open dialog's target another snapshot (its id now names
/// one taken by someone else) closes the dialog, says why, and sends nothing.
#[test]
fn an_open_dialog_whose_snapshot_changed_identity_is_closed() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-103");
    key(&mut s, 'd');
    assert!(s.dialog().is_some());
    let mut changed = s
        .machine(&MachineRef::new("pcc", "vm-101"))
        .cloned()
        .unwrap();
    let was = changed.find("snapshot-103").unwrap().name.clone();
    fn rename(nodes: &mut [snaptree::model::Snapshot]) {
        for n in nodes {
            if n.id == "snapshot-103" {
                n.name = "someone-elses".into();
            }
            rename(&mut n.children);
        }
    }
    rename(&mut changed.snapshots);
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(changed),
        }),
    );
    assert!(s.dialog().is_none(), "{:?}", s.dialog());
    let said = error_message(&s);
    assert!(
        said.contains(&format!(
            "snapshot-103 on pcc/web-01 is now named \"someone-elses\" (was \"{was}\")"
        )),
        "{said}"
    );
    assert!(said.contains("nothing changed"), "{said}");
    assert_eq!(s.log.lines().back().map(|l| l.2.clone()), Some(said));
    // Enter has nothing left to confirm.
    assert!(press(&mut s, KeyCode::Enter).is_empty());
}

/// A whole inventory that arrives with a snapshot more closes an open delete-all: it
/// would delete one the operator did not see.
#[test]
fn an_open_delete_all_is_closed_by_an_inventory_with_another_snapshot() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, 'D');
    assert!(
        matches!(s.dialog().map(change_ops), Some(ops) if ops == vec![Operation::DeleteAll]),
        "{:?}",
        s.dialog()
    );
    let mut machines: Vec<_> = s
        .machines()
        .iter()
        .filter(|m| m.profile == "pcc")
        .cloned()
        .collect();
    let web = machines.iter_mut().find(|m| m.id == "vm-101").unwrap();
    let new = snaptree::model::Snapshot {
        id: "snapshot-999".into(),
        name: "late".into(),
        children: Vec::new(),
        ..web.snapshots[0].clone()
    };
    web.snapshots[0].children.push(new);
    inventory(&mut s, "pcc", machines, true);
    assert!(s.dialog().is_none(), "{:?}", s.dialog());
    let said = error_message(&s);
    assert!(
        said.contains("the snapshots of pcc/web-01 changed"),
        "{said}"
    );
}

/// A reload's first rows (a VPS not read yet: no snapshots, still loading) do not close a
/// dialog: only what has been read is compared.
#[test]
fn a_reload_in_progress_leaves_an_open_dialog_alone() {
    let mut s = state();
    select_machine(&mut s, "shop-front");
    key(&mut s, 'r');
    assert!(s.dialog().is_some());
    let mut machines: Vec<_> = s
        .machines()
        .iter()
        .filter(|m| m.profile == "ovh")
        .cloned()
        .collect();
    for m in &mut machines {
        m.loaded = false;
        m.snapshots.clear();
        m.current = None;
    }
    inventory(&mut s, "ovh", machines, false);
    assert!(s.dialog().is_some(), "{:?}", s.log.status);
}

/// Text fields edit like a shell line: Home, Left, Ctrl-U, Ctrl-W, End.
#[test]
fn text_fields_have_the_usual_editing_keys() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, 't');
    // Ctrl-U empties the name, then a word is typed and one erased with Ctrl-W.
    ctrl(&mut s, 'u');
    type_text(&mut s, "before upgrade");
    ctrl(&mut s, 'w');
    assert_eq!(text_field(&s, "Name"), "before ");
    // Home then a character goes in front; End then one goes at the end.
    press(&mut s, KeyCode::Home);
    key(&mut s, '_');
    press(&mut s, KeyCode::End);
    type_text(&mut s, "x");
    press(&mut s, KeyCode::Left);
    press(&mut s, KeyCode::Backspace);
    assert_eq!(text_field(&s, "Name"), "_beforex");
    // The filter edits the same way.
    press(&mut s, KeyCode::Esc);
    key(&mut s, '/');
    type_text(&mut s, "web-01");
    ctrl(&mut s, 'u');
    assert!(s.nav.filter.is_empty());
    type_text(&mut s, "blg");
    press(&mut s, KeyCode::Left);
    key(&mut s, 'o');
    assert_eq!(s.nav.filter.value(), "blog");
    assert_eq!(visible_machines(&s), ["blog"]);
}

/// The name a take proposes (the date and time) is replaced by what is typed, kept by
/// Enter, and edited after a move (as lazygit's and k9s's prompts do).
#[test]
fn typing_replaces_the_proposed_take_name() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    key(&mut s, 't');
    let proposed = text_field(&s, "Name");
    assert!(!proposed.is_empty());
    type_text(&mut s, "pre-upgrade");
    assert_eq!(text_field(&s, "Name"), "pre-upgrade");
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert!(matches!(op, Operation::Take { name, .. } if name == "pre-upgrade"));
    // Enter keeps the proposal.
    key(&mut s, 't');
    let proposed = text_field(&s, "Name");
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert!(matches!(op, Operation::Take { name, .. } if name == proposed));
    // A move first: the proposal is kept to edit.
    key(&mut s, 't');
    let proposed = text_field(&s, "Name");
    press(&mut s, KeyCode::End);
    type_text(&mut s, " pre");
    assert_eq!(text_field(&s, "Name"), format!("{proposed} pre"));
    // Backspace on the proposal empties it; the description was never proposed.
    press(&mut s, KeyCode::Esc);
    key(&mut s, 't');
    press(&mut s, KeyCode::Backspace);
    assert_eq!(text_field(&s, "Name"), "");
}

/// Renaming to a name another snapshot of the tree has asks first: Enter again goes on.
#[test]
fn a_rename_to_a_name_the_tree_has_asks_again() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-104");
    key(&mut s, 'e');
    ctrl(&mut s, 'u');
    type_text(&mut s, "hotfix-test");
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    let m = error_message(&s);
    assert!(
        m.contains("already named \"hotfix-test\" (snapshot-106)"),
        "{m}"
    );
    assert!(s.dialog().is_some(), "the dialog stays open");
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert!(matches!(op, Operation::Rename { name: Some(n), .. } if n == "hotfix-test"));
}

/// Mark two snapshots of web-01 and one of db-01 (a batch over two machines).
fn mark_three_on_two_machines(s: &mut AppState) {
    select_machine(s, "web-01");
    for id in ["snapshot-103", "snapshot-106"] {
        select_snapshot(s, id);
        key(s, ' ');
    }
    select_machine(s, "db-01");
    let db_snap = s.tree.rows.iter().find_map(|r| r.snapshot.clone()).unwrap();
    select_snapshot(s, &db_snap);
    key(s, ' ');
}

/// A batch is one plan: progress "N of M", skipped steps counted, a summary at the end,
/// and everything that did not succeed stays marked.
#[test]
fn a_batch_reports_progress_and_a_summary_and_keeps_what_did_not_succeed_marked() {
    let mut s = state();
    mark_three_on_two_machines(&mut s);
    key(&mut s, 'd');
    let d = s.dialog().cloned().unwrap();
    assert!(
        d.lines[0].contains("3 marked snapshot(s) on 2 machine(s)"),
        "{:?}",
        d.lines
    );
    type_text(&mut s, "3");
    let fx = press(&mut s, KeyCode::Enter);
    let sent: Vec<(u64, Option<u64>)> = fx
        .iter()
        .map(|e| match e {
            Effect::Send(_, Command::Run { request, plan, .. }) => (*request, *plan),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sent.len(), 3);
    let plan = sent[0].1.expect("a plan id");
    assert!(sent.iter().all(|(_, p)| *p == Some(plan)), "one plan");
    assert!(status_text(&s).contains("0 of 3"), "{}", status_text(&s));
    let failed = Err(snaptree::engine::RunError::Failed("locked".into()));
    let skipped = Err(snaptree::engine::RunError::Skipped("earlier".into()));
    let ok = Ok(TaskStatus {
        id: "t".into(),
        state: TaskState::Success,
        progress: None,
        message: None,
        cancelable: false,
    });
    for (i, result) in [failed, skipped, ok].into_iter().enumerate() {
        update(
            &mut s,
            Msg::Engine(Event::TaskDone {
                request: sent[i].0,
                result,
            }),
        );
        if i == 0 {
            assert!(status_text(&s).contains("1 of 3"), "{}", status_text(&s));
        }
    }
    let end = status_text(&s);
    assert!(end.contains("1 done, 1 failed, 1 skipped"), "{end}");
    assert_eq!(
        s.batch.marks.len(),
        2,
        "the failed and the skipped step stay marked"
    );
    let skipped_row = s
        .tasks
        .all()
        .iter()
        .find(|t| t.request == sent[1].0)
        .unwrap();
    assert_eq!(
        skipped_row.not_run,
        Some(snaptree::app::state::NotRun::Skipped)
    );
    assert!(!skipped_row.is_running());
}

/// Quitting with an operation waiting its turn names it: it will never start.
#[test]
fn quitting_with_queued_operations_says_which_will_not_start() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    let first = key(&mut s, 't');
    assert!(first.is_empty());
    press(&mut s, KeyCode::Enter);
    key(&mut s, 't');
    ctrl(&mut s, 'u');
    type_text(&mut s, "second");
    let (_, _, _, cmd) = run_of(&press(&mut s, KeyCode::Enter));
    let Command::Run { request, .. } = cmd else {
        panic!()
    };
    update(
        &mut s,
        Msg::Engine(Event::Task {
            request,
            update: RunUpdate::Queued,
        }),
    );
    key(&mut s, 'q');
    assert!(!s.quit);
    let d = s.dialog().cloned().expect("quit asks");
    let text = d.lines.join("\n");
    assert!(text.contains("1 task(s) still running"), "{text}");
    assert!(text.contains("1 operation(s) waiting"), "{text}");
    assert!(text.contains("take second on web-01"), "{text}");
    press(&mut s, KeyCode::Enter);
    assert!(s.quit);
}

/// A collapsed profile or group still shows the worst warning of what it hides.
#[test]
fn a_collapsed_group_shows_the_worst_warning_it_hides() {
    let mut s = state();
    let worst = |s: &AppState| s.nav.hidden_worst.get(&0).copied();
    assert_eq!(worst(&s), None, "nothing hidden while open");
    // Row 0 is the pcc profile; its VMs include old and deep chains.
    key(&mut s, 'h');
    assert_eq!(worst(&s), Some(snaptree::model::Warning::AgeCritical));
    key(&mut s, 'l');
    assert!(s.nav.hidden_worst.is_empty());
}

/// Enter on a task shows all of it: the server's words, its id and its times; the message
/// log keeps every status-line message.
#[test]
fn enter_on_a_task_shows_its_full_text_and_m_shows_the_log() {
    let mut s = state();
    let request = start_task(&mut s);
    let long = format!("the server said: {}", "a long reason ".repeat(20));
    update(
        &mut s,
        Msg::Engine(Event::TaskDone {
            request,
            result: Err(snaptree::engine::RunError::Failed(long.clone())),
        }),
    );
    while s.focus != Pane::Tasks {
        press(&mut s, KeyCode::Tab);
    }
    press(&mut s, KeyCode::Enter);
    let d = s.dialog().cloned().expect("the task's dialog");
    assert_eq!(d.kind, DialogKind::Task(request));
    let text = d.lines.join("\n");
    assert!(text.contains(&long), "{text}");
    assert!(
        text.contains("Started:") && text.contains("Ended:"),
        "{text}"
    );
    assert!(text.contains("web-01 (vm-101, pcc)"), "{text}");
    press(&mut s, KeyCode::Esc);
    assert!(s.dialog().is_none());
    key(&mut s, 'M');
    let d = s.dialog().cloned().expect("the log");
    assert_eq!(d.kind, DialogKind::Log);
    let log = d.lines.join("\n");
    assert!(log.contains("take on web-01: started"), "{log}");
    assert!(log.contains(&long), "{log}");
}

/// A name typed (or pasted) with a bidi override is shown written out on its task row.
#[test]
fn a_typed_name_is_shown_safe_on_its_task_row() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-104");
    key(&mut s, 'e');
    ctrl(&mut s, 'u');
    type_text(&mut s, "evil\u{202e}exe.txt");
    run_of(&press(&mut s, KeyCode::Enter));
    let t = s.tasks.all().last().unwrap();
    assert!(!t.target.contains('\u{202e}'), "{:?}", t.target);
    assert!(t.target.ends_with("evil\\u{202e}exe.txt"), "{:?}", t.target);
}

#[test]
fn a_pinned_snapshot_is_said_protected_on_delete_and_p_unpins_it() {
    let mut s = state();
    let mut m = s
        .machines()
        .iter()
        .find(|m| m.name == "web-01")
        .cloned()
        .expect("web-01");
    fn pin(nodes: &mut [snaptree::model::Snapshot]) {
        for n in nodes {
            if n.id == "snapshot-104" {
                n.description = "release build [keep]".into();
            }
            pin(&mut n.children);
        }
    }
    pin(&mut m.snapshots);
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(m),
        }),
    );
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-104");
    key(&mut s, 'd');
    let d = s.dialog().cloned().expect("delete dialog");
    assert!(
        d.lines
            .iter()
            .any(|l| l.contains("Protected") && l.contains("pinned")),
        "{:?}",
        d.lines
    );
    press(&mut s, KeyCode::Esc);
    key(&mut s, 'p');
    let d = s.dialog().cloned().expect("the pin dialog");
    assert_eq!(d.title, "Unpin a snapshot of web-01");
    assert!(d.lines[0].contains("[keep] is removed"), "{:?}", d.lines);
    assert_eq!(
        change_ops(&d),
        [Operation::Rename {
            snapshot: "snapshot-104".into(),
            name: None,
            description: Some("release build".into()),
        }]
    );
}

#[test]
fn mark_where_in_the_palette_marks_what_prune_would_select() {
    let mut s = state();
    key(&mut s, ':');
    type_text(&mut s, "mark where older-than 50d");
    press(&mut s, KeyCode::Enter);
    // app-legacy's three and build-runner's clean-install; Veeam's temporary one is new.
    let marked: Vec<&str> = s.batch.marks.iter().map(|k| k.snapshot.as_str()).collect();
    assert_eq!(
        marked,
        [
            "snapshot-131",
            "snapshot-132",
            "snapshot-133",
            "snapshot-141"
        ]
    );
    let (_, said) = s.log.status.clone().expect("a message");
    assert!(
        said.contains("marked 4 snapshot(s) on 2 machine(s)"),
        "{said}"
    );
    // The pinned base of web-01 is left out, and said.
    s.batch.marks.clear();
    key(&mut s, ':');
    type_text(&mut s, "mark where name base");
    press(&mut s, KeyCode::Enter);
    let (_, said) = s.log.status.clone().expect("a message");
    assert!(said.contains("1 protected left out"), "{said}");
    assert!(!s.batch.marks.iter().any(|k| k.snapshot == "snapshot-101"));
    // No criterion: refused, nothing marked.
    s.batch.marks.clear();
    key(&mut s, ':');
    type_text(&mut s, "mark where keep-last 1");
    press(&mut s, KeyCode::Enter);
    assert!(s.batch.marks.is_empty());
    let (_, said) = s.log.status.clone().expect("a message");
    assert!(said.contains("at least one of"), "{said}");
}

/// `mark where` replaces the marks (a hand-marked snapshot the policy does not select is
/// no longer marked, and the message says how many were replaced), and `U` (also in the
/// palette, "unmark every snapshot") unmarks everything.
#[test]
fn mark_where_replaces_the_marks_and_u_unmarks_all() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-104");
    key(&mut s, ' ');
    assert_eq!(s.batch.marks.len(), 1);
    // The whole estate shown again (the filter that found web-01 cleared).
    while s.focus != snaptree::app::Pane::Inventory {
        press(&mut s, KeyCode::Tab);
    }
    press(&mut s, KeyCode::Esc);
    assert!(s.nav.filter.is_empty());
    key(&mut s, ':');
    type_text(&mut s, "mark where older-than 50d");
    press(&mut s, KeyCode::Enter);
    let marked: Vec<&str> = s.batch.marks.iter().map(|k| k.snapshot.as_str()).collect();
    assert!(!marked.contains(&"snapshot-104"), "{marked:?}");
    assert_eq!(marked.len(), 4, "{marked:?}");
    let (_, said) = s.log.status.clone().expect("a message");
    assert!(said.contains("replacing the 1 marked before"), "{said}");

    key(&mut s, 'U');
    assert!(s.batch.marks.is_empty());
    let (_, said) = s.log.status.clone().expect("a message");
    assert!(said.contains("unmarked 4 snapshot(s)"), "{said}");
    key(&mut s, 'U');
    let (_, said) = s.log.status.clone().expect("a message");
    assert!(said.contains("nothing is marked"), "{said}");

    // From the palette too.
    key(&mut s, ':');
    type_text(&mut s, "mark where older-than 50d");
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.batch.marks.len(), 4);
    key(&mut s, ':');
    type_text(&mut s, "unmark every");
    press(&mut s, KeyCode::Enter);
    assert!(
        s.batch.marks.is_empty(),
        "the palette's unmark every snapshot"
    );
}

/// The demo state with the VPS profile checking its guest agent over ssh.
fn state_checking_guests() -> AppState {
    let mut s = state();
    for p in &mut s.inventory.profiles {
        p.guest_check = p.kind == snaptree::model::ProviderKind::Ovh;
    }
    s
}

/// The answer to the last check asked of `machine_id`.
fn guest_answer(s: &mut AppState, machine_id: &str, state: GuestAgent) -> Vec<Effect> {
    let request = s.inventory.guest[&MachineRef::new("ovh", machine_id)].request;
    answer_to(s, request, machine_id, state)
}

fn answer_to(s: &mut AppState, request: u64, machine_id: &str, state: GuestAgent) -> Vec<Effect> {
    update(
        s,
        Msg::Engine(Event::GuestAgent {
            request,
            machine: snaptree::model::MachineRef::new("ovh", machine_id),
            state,
        }),
    )
}

/// The request id of the one guest check in `fx`.
fn check_asked(fx: &[Effect], machine: &str) -> u64 {
    match fx {
        [
            Effect::Send(
                profile,
                Command::GuestCheck {
                    request,
                    machine_id,
                },
            ),
        ] if profile == "ovh" && machine_id == machine => *request,
        other => panic!("expected one guest check of {machine}, got {other:?}"),
    }
}

#[test]
fn with_guest_check_a_vps_take_checks_the_agent_and_asks_again_unless_it_runs() {
    let mut s = state_checking_guests();
    select_machine(&mut s, "blog");
    let id = s.selected_machine().unwrap().id.clone();
    // The dialog opens and the check is asked, without waiting for it.
    check_asked(&key(&mut s, 't'), &id);
    let lines = s.dialog().expect("take dialog").lines.clone();
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Guest agent: checking over ssh…")
    );
    // Enter before the answer: asked again, nothing sent.
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(s.dialog().is_some());
    assert!(
        error_message(&s).contains("has not answered yet; Enter again"),
        "{:?}",
        s.log.status
    );
    // The answer arrives: the line says so, and Enter warns again about what it found.
    assert!(guest_answer(&mut s, &id, GuestAgent::NotInstalled).is_empty());
    let d = s.dialog().expect("still open");
    assert!(
        d.lines
            .last()
            .is_some_and(|l| l.starts_with("Guest agent: not installed; install qemu-guest-agent")),
        "{:?}",
        d.lines
    );
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(
        error_message(&s).contains("crash-consistent only; Enter again to take it anyway"),
        "{:?}",
        s.log.status
    );
    // Enter once more takes it.
    let (profile, machine, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!((profile.as_str(), machine.as_str()), ("ovh", id.as_str()));
    assert!(matches!(op, Operation::Take { .. }), "{op:?}");
    assert!(s.dialog().is_none());

    // When the agent runs, Enter takes it at once.
    let fx = key(&mut s, 't');
    assert_eq!(fx.len(), 1);
    guest_answer(&mut s, &id, GuestAgent::Running);
    assert_eq!(
        s.dialog().unwrap().lines.last().map(String::as_str),
        Some("Guest agent: running (checked over ssh)")
    );
    run_of(&press(&mut s, KeyCode::Enter));
}

#[test]
fn without_guest_check_a_take_asks_nothing_more() {
    let mut s = state();
    select_machine(&mut s, "blog");
    assert!(key(&mut s, 't').is_empty());
    let d = s.dialog().unwrap();
    assert!(!d.lines.iter().any(|l| l.starts_with("Guest agent:")));
    run_of(&press(&mut s, KeyCode::Enter));
}

#[test]
fn capital_c_checks_the_guest_agent_on_demand_and_says_what_it_found() {
    // Without the setting: refused, with what to set.
    let mut s = state();
    select_machine(&mut s, "blog");
    assert!(key(&mut s, 'C').is_empty());
    assert!(
        error_message(&s).contains("guest_check = \"ssh\""),
        "{:?}",
        s.log.status
    );
    let mut s = state_checking_guests();
    select_machine(&mut s, "web-01");
    assert!(key(&mut s, 'C').is_empty());
    assert!(error_message(&s).contains("VPS"), "{:?}", s.log.status);
    select_machine(&mut s, "blog");
    let id = s.selected_machine().unwrap().id.clone();
    check_asked(&key(&mut s, 'C'), &id);
    guest_answer(&mut s, &id, GuestAgent::Stopped("inactive".into()));
    assert_eq!(
        error_message(&s),
        "blog: guest agent installed but stopped (inactive)"
    );
    assert_eq!(
        s.inventory
            .guest
            .get(&MachineRef::new("ovh", id))
            .map(|g| g.state.clone()),
        Some(GuestAgent::Stopped("inactive".into()))
    );
    // The palette finds it.
    assert!(
        palette_matches("guest agent")
            .iter()
            .any(|b| b.label == "C")
    );
}

#[test]
fn a_vps_that_is_off_is_not_checked_its_snapshot_is_cold() {
    let mut s = state_checking_guests();
    select_machine(&mut s, "mail");
    assert_eq!(
        s.selected_machine().unwrap().power_state,
        snaptree::model::PowerState::PoweredOff
    );
    assert!(key(&mut s, 't').is_empty(), "no check asked");
    let d = s.dialog().expect("replace dialog");
    assert!(
        d.lines
            .iter()
            .any(|l| l == "Guest agent: not needed, the VPS is off (a cold snapshot)"),
        "{:?}",
        d.lines
    );
    assert!(d.guest.is_none());
}

/// An answer to an older check (`C`, or a dialog closed before it answered) is not the open
/// dialog's: it neither fills the line nor spares the second question. While a dialog is
/// open, another VPS's answer leaves the status line's words alone.
#[test]
fn an_older_checks_answer_does_not_answer_the_open_take() {
    let mut s = state_checking_guests();
    select_machine(&mut s, "shop-front");
    let shop = s.selected_machine().unwrap().id.clone();
    let shop_check = check_asked(&key(&mut s, 'C'), &shop);
    select_machine(&mut s, "blog");
    let id = s.selected_machine().unwrap().id.clone();
    let first = check_asked(&key(&mut s, 'C'), &id);
    let second = check_asked(&key(&mut s, 't'), &id);
    assert_ne!(first, second);
    answer_to(&mut s, first, &id, GuestAgent::Running);
    let d = s.dialog().expect("take dialog");
    assert_eq!(
        d.lines.last().map(String::as_str),
        Some("Guest agent: checking over ssh…")
    );
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    let warned = error_message(&s);
    assert!(warned.contains("has not answered yet"), "{warned}");
    // Another VPS's answer meanwhile: the warning stays in sight.
    answer_to(&mut s, shop_check, &shop, GuestAgent::Running);
    assert_eq!(error_message(&s), warned);
    answer_to(&mut s, second, &id, GuestAgent::NotInstalled);
    assert!(
        s.dialog()
            .unwrap()
            .lines
            .last()
            .is_some_and(|l| l.starts_with("Guest agent: not installed")),
    );
}

#[test]
fn below_the_minimum_size_only_q_acts() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-104");
    update(&mut s, Msg::Resize(60, 15));
    // Nothing the screen does not show can be opened, typed into or confirmed.
    for c in ['d', 't', 'D', 'r', ' ', '/', ':', '?', 'v', 'e', 'p'] {
        assert!(key(&mut s, c).is_empty(), "{c} acted");
        press(&mut s, KeyCode::Enter);
        assert!(s.dialog().is_none() && s.palette().is_none() && !s.help_shown() && !s.filtering());
    }
    assert!(s.batch.marks.is_empty());
    assert!(s.tasks.all().is_empty());
    // A dialog opened at a usable size is not answered once the screen shrinks.
    update(&mut s, Msg::Resize(120, 36));
    key(&mut s, 'd');
    assert!(s.dialog().is_some());
    update(&mut s, Msg::Resize(79, 24));
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(key(&mut s, 'y').is_empty());
    assert!(s.dialog().is_some() && s.tasks.all().is_empty());
    update(&mut s, Msg::Resize(80, 24));
    press(&mut s, KeyCode::Esc);
    assert!(s.dialog().is_none());
    // q still quits.
    update(&mut s, Msg::Resize(60, 15));
    key(&mut s, 'q');
    assert!(s.quit);
}

/// Too small to show the question, `q` with a task running does not quit unasked: the
/// question waits for a terminal large enough, and the screen says so.
#[test]
fn below_the_minimum_size_q_with_tasks_running_asks_once_there_is_room() {
    let mut s = state();
    let request = start_task(&mut s);
    progress(&mut s, request, TaskState::Running, false);
    update(&mut s, Msg::Resize(70, 20));
    key(&mut s, 'q');
    assert!(!s.quit, "quit with a task running, unasked");
    // Neither another q nor Enter answers a question not shown.
    key(&mut s, 'q');
    press(&mut s, KeyCode::Enter);
    assert!(!s.quit);
    update(&mut s, Msg::Resize(120, 36));
    assert_eq!(s.dialog().map(|d| d.kind.clone()), Some(DialogKind::Quit));
    press(&mut s, KeyCode::Enter);
    assert!(s.quit);
}

/// web-01 with snapshot `id` pinned (`[keep]` in its description).
fn pin_on_web01(s: &mut AppState, id: &str) {
    let mut m = s
        .machines()
        .iter()
        .find(|m| m.name == "web-01")
        .cloned()
        .expect("web-01");
    fn pin(nodes: &mut [snaptree::model::Snapshot], id: &str) {
        for n in nodes {
            if n.id == id {
                n.description = format!("{} [keep]", n.description);
            }
            pin(&mut n.children, id);
        }
    }
    pin(&mut m.snapshots, id);
    update(
        s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(m),
        }),
    );
}

#[test]
fn a_subtree_delete_of_a_pinned_root_needs_the_count_typed() {
    let mut s = state();
    select_machine(&mut s, "web-01");
    // base (snapshot-101) is pinned in the demo and has 5 descendants.
    select_snapshot(&mut s, "snapshot-101");
    key(&mut s, 'd');
    let d = s.dialog().cloned().expect("delete dialog");
    // Alone, the pinned snapshot is one protected delete: the machine's name is typed.
    assert_eq!(must_type(&d).as_deref(), Some("web-01"));
    assert!(
        d.lines
            .iter()
            .any(|l| l.contains("Protected") && l.contains("\"base\"")),
        "{:?}",
        d.lines
    );
    // d, Space, Enter deletes nothing: Space types into the confirmation, Enter refuses.
    key(&mut s, ' ');
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(s.dialog().is_some());
    // Tick "also delete its 5 descendants": six snapshots, one of them protected.
    press(&mut s, KeyCode::Tab);
    key(&mut s, ' ');
    let d = s.dialog().cloned().expect("delete dialog");
    assert_eq!(must_type(&d).as_deref(), Some("6"));
    // The words follow the answer too: no "move up" for descendants that are deleted.
    let said = d.lines.join("\n");
    assert!(
        said.contains("5 descendant snapshot(s) are deleted with it"),
        "{said}"
    );
    assert!(!said.contains("move up"), "{said}");
    assert!(
        d.fields
            .iter()
            .any(|f| matches!(f, Field::Text { label, .. } if label.contains("Type 6"))),
        "{:?}",
        d.fields
    );
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    assert!(key(&mut s, 'y').is_empty());
    press(&mut s, KeyCode::BackTab);
    // What was typed for the name does not count for the number.
    press(&mut s, KeyCode::Backspace);
    type_text(&mut s, "web-01");
    assert!(press(&mut s, KeyCode::Enter).is_empty());
    for _ in 0..6 {
        press(&mut s, KeyCode::Backspace);
    }
    type_text(&mut s, "6");
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(
        op,
        Operation::Delete {
            snapshot: "snapshot-101".into(),
            children: true
        }
    );
}

#[test]
fn a_subtree_delete_says_which_descendants_are_protected() {
    let mut s = state();
    pin_on_web01(&mut s, "snapshot-104");
    select_machine(&mut s, "web-01");
    select_snapshot(&mut s, "snapshot-102");
    key(&mut s, 'd');
    let d = s.dialog().cloned().expect("delete dialog");
    // Alone, before-upgrade is not protected: yes or no.
    assert!(must_type(&d).is_none());
    assert!(
        d.lines.iter().any(|l| l.contains("pre-release")
            && l.contains("snapshot-104")
            && l.contains("pinned")),
        "{:?}",
        d.lines
    );
    key(&mut s, ' ');
    assert_eq!(must_type(s.dialog().expect("dialog")).as_deref(), Some("3"));
    // The focus stays on the choice: unticked again, back to yes or no, and Enter deletes
    // the one snapshot.
    key(&mut s, ' ');
    assert!(must_type(s.dialog().expect("dialog")).is_none());
    let (_, _, op, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(
        op,
        Operation::Delete {
            snapshot: "snapshot-102".into(),
            children: false
        }
    );
}

/// A profile that cannot be read: its row says what kind of trouble (a missing password
/// is not "unreachable"), the message log keeps the whole sentence once, Enter on the row
/// shows it whole, and `y` copies the pin line it gives.
#[test]
fn a_profile_error_is_readable_whole_and_its_pin_line_copyable() {
    let mut s = state();
    let pin = "SHA256:a95d23b565eea989145346593f2e6653990ab92ae769df67249fe1aa0d32497f";
    let message = format!(
        "cannot reach the back end: the certificate of 127.0.0.1:1 is not trusted: it is self-signed; to trust exactly this one, set thumbprint = \"{pin}\" in profile pcc"
    );
    for _ in 0..2 {
        // Each retry starts with a reload.
        update(
            &mut s,
            Msg::Engine(Event::Loading {
                profile: "pcc".into(),
            }),
        );
        update(
            &mut s,
            Msg::Engine(Event::ProfileError {
                profile: "pcc".into(),
                trouble: snaptree::engine::Trouble::Unreachable,
                message: message.clone(),
                retry_in: std::time::Duration::from_secs(4),
            }),
        );
    }
    let logged: Vec<_> = s
        .log
        .lines()
        .iter()
        .filter(|(_, _, m)| m.contains("not trusted"))
        .collect();
    assert_eq!(
        logged.len(),
        1,
        "once, not at each retry: {:?}",
        s.log.lines()
    );
    assert!(
        logged[0].2.ends_with("in profile pcc"),
        "whole: {}",
        logged[0].2
    );
    // The profile's row is the first; Enter shows the sentence whole.
    while s.nav.cursor.selected > 0 {
        press(&mut s, KeyCode::Up);
    }
    assert!(matches!(s.nav.rows[s.nav.cursor.selected], Row::Profile(0)));
    press(&mut s, KeyCode::Enter);
    let d = s.dialog().expect("a dialog with the whole sentence");
    assert!(matches!(d.kind, DialogKind::Profile(0)));
    assert!(
        d.lines.iter().any(|l| l.contains(&message)),
        "{:?}",
        d.lines
    );
    let fx = key(&mut s, 'y');
    assert_eq!(fx, [Effect::Copy(format!("thumbprint = \"{pin}\""))]);
    press(&mut s, KeyCode::Esc);
    // On the row too; a password that cannot be had is not "unreachable".
    assert_eq!(
        key(&mut s, 'y'),
        [Effect::Copy(format!("thumbprint = \"{pin}\""))]
    );
    update(
        &mut s,
        Msg::Engine(Event::ProfileError {
            profile: "pcc".into(),
            trouble: snaptree::engine::Trouble::Failed,
            message: "the environment variable PCC_PASSWORD (for the password) is not set".into(),
            retry_in: std::time::Duration::from_secs(8),
        }),
    );
    assert!(matches!(
        &s.inventory.profiles[0].status,
        snaptree::app::state::ProfileStatus::Error(snaptree::engine::Trouble::Failed, m, _) if m.contains("PCC_PASSWORD")
    ));
    assert_eq!(snaptree::engine::Trouble::Failed.label(), "cannot read");
    assert_eq!(snaptree::engine::Trouble::Login.label(), "login failed");
}

/// `h` on a machine goes up to its group, as in a file tree; on the group it folds it.
#[test]
fn h_on_a_machine_goes_to_its_group() {
    let mut s = state();
    select_machine(&mut s, "web-02");
    let at = s.nav.cursor.selected;
    key(&mut s, 'h');
    assert!(s.nav.cursor.selected < at);
    assert!(
        matches!(&s.nav.rows[s.nav.cursor.selected], Row::Group(_, l) if l.ends_with("web")),
        "{:?}",
        s.nav.rows[s.nav.cursor.selected]
    );
    key(&mut s, 'h');
    assert!(!visible_machines(&s).contains(&"web-02".to_string()));
}

/// `X` stops a running batch as a whole: each profile it runs on is told, the steps
/// not started end as skipped and stay marked, nothing is asked (nothing changes).
#[test]
fn x_stops_the_marked_deletes_as_a_whole() {
    let mut s = state();
    assert!(key(&mut s, 'X').is_empty());
    assert!(error_message(&s).contains("no plan of deletes is running"));
    mark_three_on_two_machines(&mut s);
    key(&mut s, 'd');
    type_text(&mut s, "3");
    let sent: Vec<(u64, Option<u64>)> = press(&mut s, KeyCode::Enter)
        .iter()
        .filter_map(|e| match e {
            Effect::Send(_, Command::Run { request, plan, .. }) => Some((*request, *plan)),
            _ => None,
        })
        .collect();
    let plan = sent[0].1.unwrap();
    let fx = key(&mut s, 'X');
    assert!(s.dialog().is_none(), "nothing to confirm");
    let mut told: Vec<&str> = fx
        .iter()
        .map(|e| match e {
            Effect::Send(p, Command::StopPlan { plan: p2 }) if *p2 == plan => p.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    told.sort_unstable();
    assert_eq!(told, ["pcc"], "each profile of the plan, once");
    assert!(status_text(&s).contains("stopping"), "{}", status_text(&s));
    for (request, _) in &sent {
        update(
            &mut s,
            Msg::Engine(Event::TaskDone {
                request: *request,
                result: Err(snaptree::engine::RunError::Skipped(
                    snaptree::engine::scheduler::STOPPED.into(),
                )),
            }),
        );
    }
    assert!(
        status_text(&s).contains("0 done, 0 failed, 3 skipped"),
        "{}",
        status_text(&s)
    );
    assert_eq!(s.batch.marks.len(), 3, "what did not run stays marked");
}

/// With a profile or a group selected the right pane is the Overview, which has nothing
/// to select: Tab goes from the inventory to the tasks, and back.
#[test]
fn tab_passes_the_overview_by() {
    let mut s = state();
    assert!(s.overview_scope().is_some(), "the first row is a profile");
    assert_eq!(s.focus, Pane::Inventory);
    press(&mut s, KeyCode::Tab);
    assert_eq!(s.focus, Pane::Tasks);
    press(&mut s, KeyCode::BackTab);
    assert_eq!(s.focus, Pane::Inventory);
    // On a machine, Tab goes to its tree.
    select_machine(&mut s, "web-01");
    press(&mut s, KeyCode::Esc);
    press(&mut s, KeyCode::Tab);
    assert_eq!(s.focus, Pane::Tree);
}

/// The engine's inventory of `profile`, whole (`complete`) or a first part.
fn inventory(
    s: &mut AppState,
    profile: impl Into<String>,
    machines: Vec<snaptree::model::Machine>,
    complete: bool,
) -> Vec<Effect> {
    update(
        s,
        Msg::Engine(Event::Inventory {
            profile: profile.into(),
            machines,
            complete,
            server: None,
        }),
    )
}

/// The demo's monitoring VM is on a nearly full datastore (2 GiB free); its snapshot's
/// delta is given 4 GiB, as the vSphere client reads it from the layout.
fn short_of_room() -> AppState {
    use snaptree::model::storage::Delta;
    let mut s = state();
    let estate = snaptree::sim::Estate::from_scenario(snaptree::sim::scenario::DEMO, now(), None)
        .expect("demo");
    let mut machines = estate.machines("pcc").expect("pcc");
    let m = machines
        .iter_mut()
        .find(|m| m.name == "monitoring")
        .expect("monitoring");
    m.storage.as_mut().expect("its storage").deltas.push(Delta {
        snapshot: Some("snapshot-151".into()),
        datastore: "rbx-ssd-02".into(),
        bytes: 4 << 30,
    });
    inventory(&mut s, "pcc", machines, true);
    s
}

#[test]
fn a_delete_short_of_room_is_refused_and_a_batch_skips_its_machine_keeping_the_mark() {
    let mut s = short_of_room();
    select_machine(&mut s, "monitoring");
    select_snapshot(&mut s, "snapshot-151");
    assert!(key(&mut s, 'd').is_empty());
    assert!(s.dialog().is_none());
    let why = error_message(&s);
    assert!(
        why.contains("not enough room on datastore rbx-ssd-02"),
        "{why}"
    );
    assert!(key(&mut s, 'D').is_empty(), "delete-all too");
    // Marked with web-02's snapshot: the batch runs web-02's, says monitoring's is skipped.
    key(&mut s, ' ');
    press(&mut s, KeyCode::Tab);
    press(&mut s, KeyCode::Tab);
    select_machine(&mut s, "web-02");
    select_snapshot(&mut s, "snapshot-111");
    key(&mut s, ' ');
    key(&mut s, 'd');
    let d = s.dialog().cloned().expect("batch dialog");
    assert_eq!(change_ops(&d).len(), 1);
    let said = match &d.kind {
        DialogKind::Change(c) => c.lines.join("\n"),
        other => panic!("not a change: {other:?}"),
    };
    assert!(
        said.contains("monitoring (pcc): 1 snapshot(s), skipped"),
        "{said}"
    );
    assert!(
        said.contains("  skipped: not enough room on datastore rbx-ssd-02"),
        "{said}"
    );
    assert_eq!(must_type(&d).as_deref(), Some("1"));
    type_text(&mut s, "1");
    let (_, machine, _, _) = run_of(&press(&mut s, KeyCode::Enter));
    assert_eq!(machine, "vm-102");
    // Monitoring's stays marked, counted as skipped.
    let kept: Vec<&str> = s.batch.marks.iter().map(|k| k.snapshot.as_str()).collect();
    assert_eq!(kept, ["snapshot-151"]);
    let b = s.batch.batches.last().expect("the batch");
    assert_eq!((b.total, b.skipped), (2, 1));
}
