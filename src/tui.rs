//! Terminal lifecycle and the event loop: keys, engine events and a tick in one
//! `select!`; redraw only when something changed; the terminal restored on quit, on panic
//! (ratatui's hook, installed after color-eyre's), on SIGINT/SIGTERM/SIGHUP, on a fatal
//! signal (`fatal`), and given back to the shell on Ctrl-Z or SIGTSTP until `fg`.

mod fatal;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::clipboard::CopyToClipboard;
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;

use crate::app::AppState;
use crate::app::update::{Effect, Msg, animating, update};
use crate::engine::Engine;

/// How the TUI ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The user quit.
    Quit,
    /// A signal ended it (its number): the process exits with 128 + that number.
    Signal(i32),
}

/// Run the TUI until the user quits or a signal ends it; the terminal is restored either way.
/// With `mouse`, the terminal reports clicks and the wheel while the TUI owns it.
pub async fn run(
    engine: Arc<Engine>,
    mut state: AppState,
    mouse: bool,
) -> color_eyre::Result<Ended> {
    fatal::install();
    let mut terminal = ratatui::init();
    // A panic gives the terminal back with its mouse reports off too (ratatui's hook, which
    // runs next, leaves raw mode and the alternate screen).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        mouse_reports(false);
        hook(info);
    }));
    fatal::arm(true);
    if mouse {
        mouse_reports(true);
    }
    if let Ok(size) = terminal.size() {
        state.size = (size.width, size.height);
    }
    let result = event_loop(&mut terminal, engine, state, mouse).await;
    fatal::arm(false);
    mouse_reports(false);
    ratatui::restore();
    result
}

/// Ask the terminal to report mouse buttons and the wheel (mode 1000, no motion: a moved
/// pointer sends nothing) in SGR form (1006, any column), or to stop. Stopping is sent on
/// every way out, asked or not: a shell must never receive mouse reports.
fn mouse_reports(on: bool) {
    let mut out = std::io::stdout();
    let _ = out.write_all(if on {
        fatal::MOUSE_ON
    } else {
        fatal::MOUSE_OFF
    });
    let _ = out.flush();
}

/// Give the terminal back to the shell and stop; on `fg`, take it again and redraw all.
fn suspend(
    terminal: &mut ratatui::DefaultTerminal,
    state: &mut AppState,
    mouse: bool,
) -> std::io::Result<()> {
    fatal::arm(false);
    mouse_reports(false);
    ratatui::restore();
    let _ = terminal.show_cursor();
    fatal::stop();
    // Continued (`fg`): raw mode and the alternate screen again, and a whole new frame
    // (the shell wrote over the screen, and the size may have changed).
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    fatal::arm(true);
    if mouse {
        mouse_reports(true);
    }
    // A resize clears the screen and forgets the last frame; `Terminal::clear` would ask
    // the terminal where its cursor is, an answer the key reader may take first.
    let size = terminal.size()?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))?;
    update(state, Msg::Resize(size.width, size.height));
    Ok(())
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    engine: Arc<Engine>,
    mut state: AppState,
    mouse: bool,
) -> color_eyre::Result<Ended> {
    // The first frame goes out before any back end answers.
    terminal.draw(|f| crate::ui::draw(f, &state))?;
    let (handle, mut events) = engine.spawn();
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut terminate = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hangup = signal(tokio::signal::unix::SignalKind::hangup())?;
    // Ctrl-C in raw mode is a key; SIGINT still comes from `kill -INT` and must not leave
    // the terminal raw, on the alternate screen, with the cursor hidden.
    let mut interrupt = signal(tokio::signal::unix::SignalKind::interrupt())?;
    // `kill -TSTP` (Ctrl-Z itself is a key in raw mode): give the terminal back first.
    let mut stop = signal(tokio::signal::unix::SignalKind::from_raw(libc::SIGTSTP))?;
    let mut minute = Utc::now().timestamp() / 60;
    // With no profile (the welcome) the engine has nothing to report: the screen stays.
    let mut engine_done = false;
    loop {
        let mut dirty = false;
        let mut effects = Vec::new();
        // Task start times and ages read the clock from the state.
        state.now = Utc::now();
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(key))) => {
                    effects = update(&mut state, Msg::Key(key));
                    dirty = true;
                }
                Some(Ok(TermEvent::Resize(w, h))) => {
                    update(&mut state, Msg::Resize(w, h));
                    dirty = true;
                }
                Some(Ok(TermEvent::Mouse(m))) => {
                    update(&mut state, Msg::Mouse(m));
                    dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            ev = events.recv(), if !engine_done => {
                let Some(ev) = ev else {
                    engine_done = true;
                    continue;
                };
                update(&mut state, Msg::Engine(ev));
                // Coalesce bursts of events into one frame.
                while let Ok(more) = events.try_recv() {
                    update(&mut state, Msg::Engine(more));
                }
                dirty = true;
            }
            _ = tick.tick() => {
                let now = Utc::now();
                if animating(&state) || now.timestamp() / 60 != minute {
                    minute = now.timestamp() / 60;
                    update(&mut state, Msg::Tick(now));
                    dirty = true;
                }
            }
            _ = terminate.recv() => return Ok(Ended::Signal(15)),
            _ = hangup.recv() => return Ok(Ended::Signal(1)),
            _ = interrupt.recv() => return Ok(Ended::Signal(2)),
            _ = stop.recv() => effects.push(Effect::Suspend),
        }
        for effect in effects {
            match effect {
                Effect::Send(profile, command) => handle.send(&profile, command),
                Effect::RefreshAll => handle.refresh_all(),
                Effect::Copy(text) => copy_osc52(&text),
                Effect::Suspend => {
                    suspend(terminal, &mut state, mouse)?;
                    dirty = true;
                }
            }
        }
        if state.quit {
            break;
        }
        if dirty {
            terminal.draw(|f| crate::ui::draw(f, &state))?;
        }
    }
    Ok(Ended::Quit)
}

fn signal(kind: tokio::signal::unix::SignalKind) -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
}

/// Copy through the terminal (OSC 52), which also works over SSH and, with
/// `set-clipboard on`, inside tmux.
fn copy_osc52(text: &str) {
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(out, CopyToClipboard::to_clipboard_from(text));
    let _ = out.flush();
}
