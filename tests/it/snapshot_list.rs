//! The snapshot list (`v`, docs/cleanup.md, "The snapshot list") through `update`: every
//! snapshot of the shown machines, sorted, filtered, marked, deleted as one plan.

use crate::common::*;
use crossterm::event::KeyCode;
use snaptree::app::state::{LeftView, SortKey};
use snaptree::app::{AppState, Effect, Msg, update};
use snaptree::engine::{Command, Event, RunError, RunUpdate};
use snaptree::model::MachineRef;
use snaptree::model::{TaskState, TaskStatus};

fn said(s: &AppState) -> String {
    s.log.status.clone().map(|(_, m)| m).unwrap_or_default()
}

/// The shown rows' snapshot ids, in order.
fn shown(s: &AppState) -> Vec<String> {
    (0..s.left.list.shown.len())
        .map(|i| s.left.list.shown_row(i).unwrap().id.clone())
        .collect()
}

fn total_snapshots(s: &AppState) -> usize {
    s.machines().iter().map(|m| m.snapshot_count()).sum()
}

/// The list's selection: machine name and snapshot id.
fn selected(s: &AppState) -> Option<(String, String)> {
    let m = s.selected_machine()?;
    Some((m.name.clone(), s.selected_snapshot()?.to_string()))
}

#[test]
fn v_lists_every_snapshot_oldest_first_and_s_sorts_by_each_key_keeping_the_selection() {
    let mut s = state();
    // Not in the inventory: s and A say where they apply.
    key(&mut s, 's');
    assert!(said(&s).contains("v opens it"), "{}", said(&s));
    key(&mut s, 'A');
    assert!(said(&s).contains("v opens it"), "{}", said(&s));
    assert!(s.batch.marks.is_empty());

    key(&mut s, 'v');
    assert_eq!(s.left.view, LeftView::Snapshots);
    assert_eq!(s.left.list.shown.len(), total_snapshots(&s));
    assert_eq!(s.left.list.shown.len(), 23, "the demo's snapshots");
    let created: Vec<i64> = (0..s.left.list.shown.len())
        .map(|i| s.left.list.shown_row(i).unwrap().created)
        .collect();
    assert!(created.is_sorted(), "oldest first: {created:?}");
    assert_eq!(
        selected(&s),
        Some(("build-runner".into(), "snapshot-141".into())),
        "the oldest, 200 days"
    );
    key(&mut s, 'j');
    key(&mut s, 'j');
    assert_eq!(
        selected(&s),
        Some(("app-legacy".into(), "snapshot-132".into()))
    );
    // The tree and the details show that snapshot.
    assert_eq!(s.tree.of, Some(MachineRef::new("pcc", "vm-301")));
    assert_eq!(
        s.tree.selected_row().and_then(|r| r.snapshot.clone()),
        Some("snapshot-132".into())
    );

    key(&mut s, 's');
    assert_eq!(s.left.list.sort, SortKey::Size);
    assert!(said(&s).contains("sorted by size, largest first"));
    let sizes: Vec<Option<u64>> = (0..s.left.list.shown.len())
        .map(|i| s.left.list.shown_row(i).unwrap().size)
        .collect();
    let known = sizes.iter().take_while(|x| x.is_some()).count();
    assert!(known < sizes.len(), "the demo's VPS snapshots have no size");
    assert!(
        sizes[known..].iter().all(Option::is_none),
        "unknown sizes last: {sizes:?}"
    );
    assert!(
        sizes[..known].is_sorted_by(|a, b| a >= b),
        "largest first: {sizes:?}"
    );
    assert_eq!(selected(&s).unwrap().1, "snapshot-132", "still selected");
    key(&mut s, 's');
    assert_eq!(s.left.list.sort, SortKey::Machine);
    let machines: Vec<String> = (0..s.left.list.shown.len())
        .map(|i| {
            s.machines()[s.left.list.shown_row(i).unwrap().machine]
                .name
                .to_lowercase()
        })
        .collect();
    assert!(machines.is_sorted(), "by machine name: {machines:?}");
    key(&mut s, 's');
    assert_eq!(s.left.list.sort, SortKey::Name);
    let names: Vec<String> = (0..s.left.list.shown.len())
        .map(|i| {
            let r = s.left.list.shown_row(i).unwrap();
            s.machines()[r.machine]
                .find(&r.id)
                .unwrap()
                .name
                .to_lowercase()
        })
        .collect();
    assert!(names.is_sorted(), "{names:?}");
    assert_eq!(selected(&s).unwrap().1, "snapshot-132");
    key(&mut s, 's');
    assert_eq!(s.left.list.sort, SortKey::Age);

    // Back to the inventory: on the machine of the list's snapshot.
    key(&mut s, 'v');
    assert_eq!(s.left.view, LeftView::Inventory);
    assert_eq!(s.selected_machine().unwrap().name, "app-legacy");
    assert!(
        s.left.list.rows.is_empty(),
        "the rows are not kept meanwhile"
    );
}

#[test]
fn the_filter_matches_machines_and_snapshot_names_and_descriptions() {
    let mut s = state();
    key(&mut s, 'v');
    key(&mut s, '/');
    // Only in a description ("Before the nginx 1.26 upgrade").
    type_text(&mut s, "nginx");
    assert_eq!(shown(&s), ["snapshot-102"]);
    assert_eq!(
        selected(&s),
        Some(("web-01".into(), "snapshot-102".into())),
        "the only match is selected"
    );
    press(&mut s, KeyCode::Enter);
    // A machine's name: all of its snapshots.
    press(&mut s, KeyCode::Esc);
    assert_eq!(s.left.list.shown.len(), 23, "Esc clears the filter");
    assert_eq!(selected(&s).unwrap().1, "snapshot-102", "still selected");
    key(&mut s, '/');
    type_text(&mut s, "app-legacy");
    press(&mut s, KeyCode::Enter);
    assert_eq!(
        shown(&s),
        ["snapshot-131", "snapshot-132", "snapshot-133"],
        "app-legacy's, oldest first"
    );
    assert_eq!(
        selected(&s),
        Some(("app-legacy".into(), "snapshot-131".into())),
        "web-01's is not shown: the filter lands on the first match, as the inventory's does"
    );
    assert_eq!(s.left.list.shown_bytes, {
        let m = s
            .machines()
            .iter()
            .find(|m| m.name == "app-legacy")
            .unwrap();
        m.walk()
            .iter()
            .filter_map(|(_, n)| n.size_bytes)
            .sum::<u64>()
    });
}

#[test]
fn space_and_a_mark_what_is_shown_leaving_the_protected_out_and_d_runs_one_plan() {
    let mut s = state();
    key(&mut s, 'v');
    key(&mut s, '/');
    type_text(&mut s, "web-01");
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.left.list.shown.len(), 6);
    // A: every shown one but the pinned base.
    key(&mut s, 'A');
    assert_eq!(s.batch.marks.len(), 5);
    assert!(
        !s.batch.marks.iter().any(|k| k.snapshot == "snapshot-101"),
        "base is pinned"
    );
    assert!(said(&s).contains("1 protected left out"), "{}", said(&s));
    let web01 = s.machines().iter().find(|m| m.name == "web-01").unwrap();
    let bytes: u64 = web01
        .walk()
        .iter()
        .filter(|(_, n)| n.id != "snapshot-101")
        .filter_map(|(_, n)| n.size_bytes)
        .sum();
    assert_eq!(
        s.batch.marked_summary(),
        Some((5, Some(bytes))),
        "count and size marked"
    );
    // A again: all of them were marked, so they are unmarked.
    key(&mut s, 'A');
    assert!(s.batch.marks.is_empty(), "{}", said(&s));
    // d now: the plan, per machine, with what was left out.
    key(&mut s, 'A');
    key(&mut s, 'd');
    let d = s.dialog().cloned().expect("the plan dialog");
    let text = d.lines.join("\n");
    assert!(
        text.contains("Delete 5 marked snapshot(s) on 1 machine(s)"),
        "{text}"
    );
    assert!(text.contains("web-01 (pcc): 5 snapshot(s)"), "{text}");
    assert!(text.contains("Left out, protected (1)"), "{text}");
    assert!(text.contains("\"base\" (snapshot-101)"), "{text}");
    press(&mut s, KeyCode::Esc);
    key(&mut s, 'A');
    assert!(s.batch.marks.is_empty());
    assert!(
        s.batch.left_out.is_empty(),
        "unmarked: nothing is left out any more"
    );

    // Space marks and moves on; the first row, base, is pinned: marked by hand, knowingly.
    key(&mut s, 'g');
    assert_eq!(selected(&s).unwrap().1, "snapshot-101");
    key(&mut s, ' ');
    assert_eq!(s.batch.marks.len(), 1);
    assert_eq!(s.left.list.cursor, 1, "Space moved to the next row");
    assert_ne!(selected(&s).unwrap().1, "snapshot-101");
    key(&mut s, 'A');
    assert_eq!(
        s.batch.marks.len(),
        6,
        "the hand-marked base and the five others"
    );
    key(&mut s, 'd');
    let text = s.dialog().cloned().unwrap().lines.join("\n");
    assert!(
        text.contains("Protected: \"base\" (snapshot-101)"),
        "{text}"
    );
    assert!(
        !text.contains("Left out"),
        "marked by hand: not left out\n{text}"
    );
    type_text(&mut s, "6");
    let fx = press(&mut s, KeyCode::Enter);
    let sent: Vec<(u64, String)> = fx
        .iter()
        .map(|e| match e {
            Effect::Send(_, Command::Run { request, op, .. }) => {
                (*request, op.snapshot().unwrap().to_string())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sent.len(), 6);
    assert!(
        s.batch.marks.is_empty(),
        "the marks moved to the running steps"
    );
    assert_eq!(s.batch.steps.len(), 6, "the list shows each step's state");

    // The first starts: one machine running; then it fails and the rest are skipped.
    update(
        &mut s,
        Msg::Engine(Event::Task {
            request: sent[0].0,
            update: RunUpdate::Started {
                note: None,
                task_id: "task-1".into(),
            },
        }),
    );
    assert!(
        said(&s).contains("0 of 6 · 1 machine(s) running"),
        "{}",
        said(&s)
    );
    update(
        &mut s,
        Msg::Engine(Event::TaskDone {
            request: sent[0].0,
            result: Ok(TaskStatus {
                id: "task-1".into(),
                state: TaskState::Error,
                progress: None,
                message: Some("the file is locked".into()),
                cancelable: false,
            }),
        }),
    );
    assert!(said(&s).contains("0 machine(s) running"), "{}", said(&s));
    for (request, _) in &sent[1..] {
        update(
            &mut s,
            Msg::Engine(Event::TaskDone {
                request: *request,
                result: Err(RunError::Skipped("an earlier step failed".into())),
            }),
        );
    }
    assert!(
        said(&s).contains("0 done, 1 failed, 5 skipped"),
        "{}",
        said(&s)
    );
    assert_eq!(s.batch.marks.len(), 6, "what did not succeed stays marked");
    assert!(s.batch.steps.is_empty());
}

#[test]
fn a_live_update_that_removes_the_selected_snapshot_selects_nothing() {
    let mut s = state();
    key(&mut s, 'v');
    key(&mut s, '/');
    type_text(&mut s, "web-01");
    press(&mut s, KeyCode::Enter);
    key(&mut s, 'j');
    let (_, gone) = selected(&s).unwrap();
    let mut m = s
        .machines()
        .iter()
        .find(|m| m.name == "web-01")
        .unwrap()
        .clone();
    fn drop_node(nodes: &mut Vec<snaptree::model::Snapshot>, id: &str) {
        if let Some(i) = nodes.iter().position(|n| n.id == id) {
            let n = nodes.remove(i);
            nodes.extend(n.children);
            return;
        }
        for n in nodes {
            drop_node(&mut n.children, id);
        }
    }
    drop_node(&mut m.snapshots, &gone);
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(m),
        }),
    );
    assert_eq!(s.left.list.shown.len(), 5);
    assert!(!shown(&s).contains(&gone));
    assert_eq!(
        selected(&s),
        None,
        "gone: nothing selected, not a neighbour"
    );
    key(&mut s, 'k');
    assert!(selected(&s).is_some());
}

/// Who took a snapshot arrives after the inventory (the task history) and shows in the
/// details; a re-read of the machine keeps it.
#[test]
fn creators_from_the_history_show_in_the_details_and_survive_a_re_read() {
    let mut s = state();
    select_machine(&mut s, "web-02");
    let creators = std::collections::HashMap::from([(
        "snapshot-111".to_string(),
        "VSPHERE.LOCAL\\ops\u{1b}[2J".to_string(),
    )]);
    update(
        &mut s,
        Msg::Engine(Event::Creators {
            profile: "pcc".into(),
            creators,
        }),
    );
    let m = s.selected_machine().unwrap().clone();
    let user = m.find("snapshot-111").unwrap().created_by.clone();
    assert_eq!(
        user.as_deref(),
        Some("VSPHERE.LOCAL\\ops\\x1b[2J"),
        "drawn safe"
    );
    let mut reread = m.clone();
    reread.snapshots[0].created_by = None;
    update(
        &mut s,
        Msg::Engine(Event::MachineUpdated {
            machine: Box::new(reread),
        }),
    );
    let kept = s
        .selected_machine()
        .unwrap()
        .find("snapshot-111")
        .unwrap()
        .created_by
        .clone();
    assert_eq!(kept, user);
}
