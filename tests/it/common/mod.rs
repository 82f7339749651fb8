//! Shared helpers: the demo estate (at a fixed clock for the app and UI tests), keys, the
//! peers, the binary's output.

pub mod output;
pub mod peers;
pub mod proxy;
pub mod pty;
pub mod sshd;
pub mod vsim;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use snaptree::app::{AppState, Effect, Msg, ProfileStatus, ProfileView, Settings, update};
use snaptree::config::{ConfirmMode, ThemeName};
use snaptree::engine::Event;
use snaptree::model::{HealthThresholds, Operation, ProviderKind};
use snaptree::sim::Estate;
use snaptree::sim::scenario::DEMO;

/// The fixed clock of every app and UI test.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap()
}

/// The demo estate at the current time, its tasks taking `task`, for the simulators.
pub fn demo_estate(task: Duration) -> Arc<Estate> {
    Arc::new(Estate::from_scenario(DEMO, Utc::now(), Some(task)).expect("demo scenario"))
}

/// A loopback address where nothing listens, held for as long as the socket lives: bound
/// but never listening, so a connection is refused and no other test's server can take the
/// port meanwhile (a port freed after a bind could be reused by one: the tests share a
/// process).
pub fn closed_port() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bound");
    let addr = socket.local_addr().expect("its address");
    (socket, addr)
}

/// A plain take (no memory, no quiesce) named `name`, described "`name` for the test".
pub fn take(name: &str) -> Operation {
    Operation::Take {
        quiesce_timeout: None,
        name: name.into(),
        description: format!("{name} for the test"),
        memory: false,
        quiesce: false,
    }
}

/// Settings with type-name confirmation.
pub fn settings(theme: ThemeName) -> Settings {
    Settings {
        confirm: ConfirmMode::TypeName,
        theme,
        thresholds: HealthThresholds::default(),
        protect: snaptree::model::cleanup::Protect::new(
            &snaptree::config::CleanupConfig::default().protect,
        ),
    }
}

/// The demo estate loaded into a fresh app state, as the engine would report it.
pub fn state_with(read_only: bool, theme: ThemeName) -> AppState {
    let estate = Estate::from_scenario(DEMO, now(), None).expect("demo scenario");
    let profiles: Vec<(String, ProviderKind)> = estate.profiles();
    let views = profiles
        .iter()
        .map(|(name, kind)| ProfileView {
            name: name.clone(),
            kind: *kind,
            read_only,
            guest_check: false,
            status: ProfileStatus::Loading,
            endpoint: None,
            user: None,
            server: None,
        })
        .collect();
    let mut s = AppState::new(views, settings(theme), now());
    for (name, _) in &profiles {
        let machines = estate.machines(name).expect("machines");
        let fx = update(
            &mut s,
            Msg::Engine(Event::Inventory {
                profile: name.clone(),
                machines,
                complete: true,
                // What the demo's in-process estate says it is.
                server: Some("snaptree simulated estate (in process)".into()),
            }),
        );
        assert!(fx.is_empty());
    }
    s
}

/// `check` limits no demo snapshot reaches: only what a test looks for is a problem.
pub const LAX_CHECK: [&str; 6] = [
    "--warn-age",
    "1000d",
    "--crit-age",
    "2000d",
    "--warn-depth",
    "10",
];

/// A writable demo state with the colour theme.
pub fn state() -> AppState {
    state_with(false, ThemeName::Default)
}

/// Press a key.
pub fn press(s: &mut AppState, code: KeyCode) -> Vec<Effect> {
    update(s, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// Press a character key.
pub fn key(s: &mut AppState, c: char) -> Vec<Effect> {
    press(s, KeyCode::Char(c))
}

/// Type text, one key per character; returns every effect.
pub fn type_text(s: &mut AppState, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| key(s, c)).collect()
}

/// Select a machine by filtering on its name (`/name` Enter).
pub fn select_machine(s: &mut AppState, name: &str) {
    if !s.nav.filter.is_empty() {
        press(s, KeyCode::Esc);
    }
    assert!(key(s, '/').is_empty());
    type_text(s, name);
    press(s, KeyCode::Enter);
    let m = s.selected_machine().expect("a machine is selected");
    assert_eq!(m.name, name, "filter did not land on {name}");
}

/// Focus the tree and move the cursor to a snapshot with j (from the top).
pub fn select_snapshot(s: &mut AppState, id: &str) {
    while s.focus != snaptree::app::Pane::Tree {
        press(s, KeyCode::Tab);
    }
    key(s, 'g');
    for _ in 0..s.tree.rows.len() {
        if s.selected_snapshot() == Some(id) {
            return;
        }
        key(s, 'j');
    }
    assert_eq!(
        s.selected_snapshot(),
        Some(id),
        "snapshot {id} not in the tree"
    );
}
