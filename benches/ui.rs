//! Frame and filter costs on a large estate: 30,000 machines, one with a 500-node tree.

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use snaptree::app::update::{Msg, update};
use snaptree::app::{AppState, Pane, ProfileStatus, ProfileView, Settings};
use snaptree::config::{ConfirmMode, ThemeName};
use snaptree::engine::Event;
use snaptree::model::{
    Capabilities, HealthThresholds, Machine, PowerState, ProviderKind, Snapshot,
};

fn snapshot(id: usize, children: Vec<Snapshot>) -> Snapshot {
    Snapshot {
        id: format!("snapshot-{id}"),
        name: format!("snap-{}", id % 37),
        description: String::new(),
        // Ages spread over three months, so age criteria select some and not others.
        created: Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
            - chrono::Duration::hours(i64::try_from(id % 2000).unwrap_or(0)),
        power_state: PowerState::PoweredOff,
        memory: false,
        quiesced: false,
        size_bytes: Some(1 << 30),
        created_by: None,
        children,
    }
}

/// A branched tree of `n` nodes: chains that fork every third level.
fn tree(n: usize) -> Vec<Snapshot> {
    fn rec(next: &mut usize, depth: usize, budget: usize) -> Snapshot {
        *next += 1;
        let id = *next;
        let mut kids = Vec::new();
        if *next < budget && depth < 30 {
            kids.push(rec(next, depth + 1, budget));
            if *next < budget && depth.is_multiple_of(3) {
                kids.push(rec(next, depth + 1, budget));
            }
        }
        snapshot(id, kids)
    }
    let mut next = 0;
    let mut roots = Vec::new();
    while next < n {
        roots.push(rec(&mut next, 0, n));
    }
    roots
}

fn estate(n: usize) -> Vec<Machine> {
    estate_with(n, |i| if i == 0 { tree(500) } else { tree(i % 4) })
}

fn estate_with(n: usize, snapshots: impl Fn(usize) -> Vec<Snapshot>) -> Vec<Machine> {
    (0..n)
        .map(|i| Machine {
            backups: None,
            storage: None,
            profile: "big".into(),
            provider: ProviderKind::Vsphere,
            id: format!("vm-{i}"),
            name: format!("host-{i:05}-{}", ["web", "db", "cache", "app"][i % 4]),
            location: vec![format!("DC{}", i % 3), format!("folder-{}", i % 40)],
            path: format!("/DC{}/vm/folder-{}/host-{i:05}", i % 3, i % 40),
            power_state: PowerState::PoweredOn,
            tools: snaptree::model::GuestTools::Running,
            consolidation_needed: i % 97 == 0,
            snapshot_option: None,
            snapshots: snapshots(i),
            current: Some("snapshot-3".into()),
            capabilities: Capabilities::vsphere(),
            details: Vec::new(),
            loaded: true,
            running_tasks: Vec::new(),
            memory_mb: None,
            instance: None,
            unreadable: None,
            clock_offset_secs: 0,
        })
        .collect()
}

/// Machines in the estate (the scale issue's 30,000).
const MACHINES: usize = 30_000;

fn state() -> AppState {
    let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut s = AppState::new(
        vec![ProfileView {
            name: "big".into(),
            kind: ProviderKind::Vsphere,
            read_only: false,
            guest_check: false,
            status: ProfileStatus::Connected,
            endpoint: None,
            user: None,
            server: None,
        }],
        Settings {
            confirm: ConfirmMode::TypeName,
            theme: ThemeName::Default,
            thresholds: HealthThresholds::default(),
            protect: snaptree::model::cleanup::Protect::new(
                &snaptree::config::CleanupConfig::default().protect,
            ),
        },
        now,
    );
    update(
        &mut s,
        Msg::Engine(Event::Inventory {
            profile: "big".into(),
            machines: estate(MACHINES),
            complete: true,
            server: None,
        }),
    );
    s.select_machine("big", "vm-0");
    s.rebuild_tree();
    s.focus = Pane::Tree;
    s
}

fn benches(c: &mut Criterion) {
    let mut s = state();
    assert!(
        s.tree.rows.len() > 500,
        "the selected tree has {} rows",
        s.tree.rows.len()
    );
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    c.bench_function("draw 30k machines + 500-node tree (160x48)", |b| {
        b.iter(|| {
            terminal.draw(|f| snaptree::ui::draw(f, &s)).unwrap();
        })
    });
    // Deep in the lists: the cost must not grow with the position.
    s.set_inv_cursor(s.nav.rows.len() - 1);
    s.rebuild_tree();
    s.select_machine("big", "vm-0");
    s.tree.set_cursor(s.tree.rows.len() - 1);
    c.bench_function("draw with the cursor at the end of both lists", |b| {
        b.iter(|| {
            terminal.draw(|f| snaptree::ui::draw(f, &s)).unwrap();
        })
    });
    let key = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    let mut base = state();
    update(&mut base, key('/'));
    update(&mut base, key('h'));
    c.bench_function("filter keystroke over 30k machines", |b| {
        b.iter_batched(
            || base.clone(),
            |mut st| {
                update(&mut st, key('7'));
                st
            },
            BatchSize::LargeInput,
        )
    });
    // A change made by another client: one machine re-read, then the frame that shows it.
    let base = state();
    let changed = {
        let mut m = base.machines()[base.machines().len() / 2].clone();
        m.snapshots.push(snapshot(9_999_999, Vec::new()));
        m
    };
    let mut frame = Terminal::new(TestBackend::new(160, 48)).unwrap();
    c.bench_function(
        "one machine changed elsewhere: update + frame, 30k machines",
        |b| {
            b.iter_batched(
                || (base.clone(), changed.clone()),
                |(mut st, m)| {
                    update(
                        &mut st,
                        Msg::Engine(Event::MachineUpdated {
                            machine: Box::new(m),
                        }),
                    );
                    frame.draw(|f| snaptree::ui::draw(f, &st)).unwrap();
                    st
                },
                BatchSize::LargeInput,
            )
        },
    );
    // The profile collapsed: every hidden machine's worst warning is gathered for its row.
    let mut collapsed = state();
    collapsed.focus = Pane::Inventory;
    collapsed.set_inv_cursor(0);
    update(&mut collapsed, key('h'));
    assert_eq!(collapsed.nav.rows.len(), 1, "the profile is collapsed");
    update(&mut collapsed, key('/'));
    c.bench_function(
        "filter keystroke over 30k machines, profile collapsed",
        |b| {
            b.iter_batched(
                || collapsed.clone(),
                |mut st| {
                    update(&mut st, key('h'));
                    st
                },
                BatchSize::LargeInput,
            )
        },
    );
}

/// The cleanup plan (docs/cleanup.md, "The plan") over 30,000 machines and 100,000 snapshots.
fn cleanup(c: &mut Criterion) {
    use snaptree::model::cleanup::{Criteria, plan};
    // 3 or 4 snapshots each (every third machine 4): 100,000 in all.
    let mut machines = estate_with(MACHINES, |i| tree(3 + usize::from(i % 3 == 0)));
    // Each machine's snapshots a few hours older than the last one's: ages over 3 months.
    fn age(nodes: &mut [Snapshot], by: chrono::Duration) {
        for n in nodes {
            n.created -= by;
            age(&mut n.children, by);
        }
    }
    for (i, m) in machines.iter_mut().enumerate() {
        age(
            &mut m.snapshots,
            chrono::Duration::hours(i64::try_from(i % 2000).unwrap_or(0)),
        );
    }
    let count: usize = machines.iter().map(Machine::snapshot_count).sum();
    assert_eq!(count, 100_000);
    let refs: Vec<&Machine> = machines.iter().collect();
    let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let protect =
        snaptree::model::cleanup::Protect::new(&["VEEAM BACKUP TEMPORARY SNAPSHOT*".to_string()]);
    let criteria = Criteria {
        older_than: Some(chrono::Duration::days(60)),
        names: vec!["snap-*".into()],
        keep_last: Some(1),
        ..Criteria::default()
    };
    let selected = plan(&refs, &criteria, &protect, now).snapshots();
    assert!(selected > 0 && selected < count, "{selected}");
    c.bench_function("cleanup plan over 30k machines, 100k snapshots", |b| {
        b.iter(|| plan(&refs, &criteria, &protect, now));
    });
}

/// The snapshot list (`v`) over 30,000 machines and 100,000 snapshots: opening it, each
/// sort key, a filter keystroke, a frame.
fn list(c: &mut Criterion) {
    use snaptree::app::state::SortKey;
    let key = |c: char| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    let mut s = state();
    update(
        &mut s,
        Msg::Engine(Event::Inventory {
            profile: "big".into(),
            machines: estate_with(MACHINES, |i| tree(3 + usize::from(i % 3 == 0))),
            complete: true,
            server: None,
        }),
    );
    s.focus = Pane::Inventory;
    c.bench_function("v: open the snapshot list of 100k snapshots", |b| {
        b.iter_batched(
            || s.clone(),
            |mut st| {
                update(&mut st, key('v'));
                st
            },
            BatchSize::LargeInput,
        )
    });
    update(&mut s, key('v'));
    assert_eq!(s.left.list.shown.len(), 100_000);
    for to in [SortKey::Size, SortKey::Machine, SortKey::Name, SortKey::Age] {
        let mut before = s.clone();
        while before.left.list.sort.next() != to {
            update(&mut before, key('s'));
        }
        c.bench_function(&format!("s: sort 100k rows by {to:?}"), |b| {
            b.iter_batched(
                || before.clone(),
                |mut st| {
                    update(&mut st, key('s'));
                    st
                },
                BatchSize::LargeInput,
            )
        });
    }
    let mut filtering = s.clone();
    update(&mut filtering, key('/'));
    update(&mut filtering, key('h'));
    c.bench_function("filter keystroke over the 100k-row list", |b| {
        b.iter_batched(
            || filtering.clone(),
            |mut st| {
                update(&mut st, key('7'));
                st
            },
            BatchSize::LargeInput,
        )
    });
    // A frame in the middle of the list, with marks.
    s.set_list_cursor(50_000);
    for i in 49_990..50_010 {
        s.set_list_cursor(i);
        update(&mut s, key(' '));
    }
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    c.bench_function("draw the 100k-row snapshot list (160x48)", |b| {
        b.iter(|| {
            terminal.draw(|f| snaptree::ui::draw(f, &s)).unwrap();
        })
    });
}

/// Run the benchmarks (criterion's command line).
fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    cleanup(&mut c);
    list(&mut c);
    c.final_summary();
}
