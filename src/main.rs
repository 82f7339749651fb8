//! The `snaptree` binary: parse the command line, then the TUI or a command.

use snaptree::tell;
use std::process::ExitCode;

use clap::Parser;
use snaptree::app::{AppState, ProfileStatus, ProfileView, Settings};
use snaptree::cli::{self, Cli, Cmd, SimCmd};
use snaptree::config::{Paths, ThemeName};

fn main() -> ExitCode {
    let cli = Cli::parse();
    malloc_settings(cli::setup::runs_tui(&cli));
    // color-eyre first; ratatui::init() later wraps its hook to restore the terminal first.
    // Its colours only on a terminal that wants them: a panic read from a log or a pipe
    // must not hold escape codes.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && !cli.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let theme = if colours {
        color_eyre::config::Theme::dark()
    } else {
        color_eyre::config::Theme::new()
    };
    let _ = color_eyre::config::HookBuilder::default()
        .theme(theme)
        .install();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tell!("snaptree: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(cli));
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    // Exit codes are those of docs/cli.md ("Exit codes"); anything else is a plain failure.
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The log file; a write that fails (a full disk) is dropped, never reported on the
/// terminal the TUI owns.
struct LogFile(std::fs::File);

impl std::io::Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How glibc's allocator is set, before any thread but this one exists:
/// - one arena for every thread. glibc gives a thread that allocates while another does
///   an arena of its own, and each keeps what it frees: listing 13,500 VMs (a heap that
///   peaks at 10 MB) held 47 MB resident with an arena per thread, 45 MB with one.
///   snaptree's threads are few (the UI or the command, a session thread per vSphere
///   profile, two runtime workers) and seldom allocate at the same time.
/// - for the TUI, a fixed mmap threshold (128 KiB, glibc's first value). Left dynamic,
///   glibc raises it to the size of each large block freed, so after the first large answer
///   every later one is cut from the heap between the machines the TUI keeps, and its room
///   stays resident when freed: the TUI holding 13,500 VMs kept 43–44 MB of anonymous
///   memory, 30 MB with the threshold fixed. A command keeps glibc's default: each large
///   block then costs a fresh mapping, 2–3 % more CPU for `ls` of 3,000 VMs, for a few
///   megabytes the command gives back when it ends a second later.
#[allow(unsafe_code)]
fn malloc_settings(tui: bool) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets parameters of glibc's allocator, here before any thread
    // but this one exists; its answer (whether the value was taken) needs no action.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        if tui {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = tui;
}

fn init_logging(cli: &Cli) {
    let paths = Paths::resolve(cli.config.as_deref());
    // The log names machines and snapshots: its owner's alone (0600, in a 0700 directory),
    // and never written through a link planted in its place. When it cannot be opened so,
    // snaptree says why, before any TUI, and goes on without it: the log is for
    // diagnosis, the audit log (which refuses changes instead) is the record.
    let file = match snaptree::engine::audit::open_private(&paths.log) {
        Ok(file) => file,
        Err(e) => {
            tell!("snaptree: going on without a log: {e}");
            return;
        }
    };
    let level = match cli.verbose {
        0 => "snaptree=info",
        1 => "snaptree=debug",
        _ => "snaptree=trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::sync::Mutex::new(LogFile(file)))
        .with_ansi(false)
        .try_init();
}

async fn run(cli: Cli) -> i32 {
    // Under a file size limit (`ulimit -f`), a write past it fails with EFBIG instead of
    // killing the process: the audit log then refuses the change rather than die with it
    // half-recorded. Tokio's handler, once installed, stays for the life of the process.
    let xfsz = rustix::process::Signal::XFSZ.as_raw();
    let _ = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(xfsz));
    match &cli.command {
        Some(Cmd::Sim { command }) => return serve_simulator(command).await,
        Some(Cmd::Completions { shell }) => return cli::docs::completions(*shell),
        Some(Cmd::Man) => return cli::docs::man(),
        // Before a session: there is no config yet.
        Some(Cmd::Config {
            command: cli::ConfigCmd::Init,
        }) => {
            return match cli::setup::config_init(&cli) {
                Ok(()) => 0,
                Err(f) => {
                    tell!("snaptree: {}", f.message);
                    f.code
                }
            };
        }
        // Before a session: the profile has no consumer key yet.
        Some(Cmd::Login {
            profile,
            read_only,
            order,
            no_wait,
        }) => {
            return match cli::login::run(&cli, profile, *read_only, *order, *no_wait).await {
                Ok(()) => 0,
                Err(f) => {
                    tell!("snaptree: {}", f.message);
                    f.code
                }
            };
        }
        _ => {}
    }
    let session = match cli::session(&cli).await {
        Ok(s) => s,
        Err(f) => {
            let f = match &cli.command {
                Some(Cmd::Check { format, .. }) => {
                    cli::report::check_not_started(&cli, *format, &f.message)
                }
                _ => f,
            };
            if !f.message.is_empty() {
                tell!("snaptree: {}", f.message);
            }
            return f.code;
        }
    };
    let code = if cli::setup::runs_tui(&cli) {
        run_tui(&cli, &session).await
    } else {
        match cli::run(&cli, &session).await {
            Ok(()) => 0,
            // `check` says everything on stdout and has only its exit code left to give.
            Err(f) if f.message.is_empty() => f.code,
            Err(f) => {
                tell!("snaptree: {}", f.message);
                f.code
            }
        }
    };
    // Log out of every back end rather than leave sessions to time out on the server.
    session.engine.close().await;
    code
}

async fn run_tui(cli: &Cli, session: &cli::setup::Session) -> i32 {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        tell!("snaptree: the TUI needs a terminal; use a command such as `snaptree ls` in scripts");
        return cli::EXIT_USAGE;
    }
    let mono = cli.no_color
        || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || session.ui.theme == ThemeName::Mono;
    let settings = Settings {
        confirm: session.confirm,
        theme: if mono {
            ThemeName::Mono
        } else {
            ThemeName::Default
        },
        thresholds: session.thresholds.clone(),
        protect: snaptree::model::cleanup::Protect::new(&session.config.cleanup.protect),
    };
    let profiles = session
        .engine
        .profiles()
        .iter()
        .map(|p| {
            let configured = session.config.profiles.get(&p.name);
            ProfileView {
                name: p.name.clone(),
                kind: p.kind,
                read_only: p.read_only,
                guest_check: p.guest.is_some(),
                status: ProfileStatus::Loading,
                endpoint: configured.and_then(|c| c.shown_endpoint()),
                user: configured.and_then(|c| c.username.clone()),
                server: None,
            }
        })
        .collect();
    let mut state = AppState::new(profiles, settings, chrono::Utc::now());
    // Nothing configured (no file, no govc or OVH variables): the welcome says how to start.
    if session.engine.profiles().is_empty() {
        state.modal =
            snaptree::app::state::Modal::Welcome(session.paths.config.display().to_string());
    }
    let mouse = cli.mouse || session.ui.mouse;
    match snaptree::tui::run(session.engine.clone(), state, mouse).await {
        Ok(snaptree::tui::Ended::Quit) => 0,
        Ok(snaptree::tui::Ended::Signal(n)) => 128 + n,
        Err(e) => {
            tell!("snaptree: the terminal failed: {e}");
            1
        }
    }
}

/// A simulator's banner (URL, credentials), line by line. A server keeps serving when
/// whoever started it stops reading its output, so write errors are ignored here.
fn print_banner(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout();
    for line in text.lines() {
        let _ = writeln!(out, "{}", snaptree::safe::terminal(line));
    }
    let _ = out.flush();
}

async fn serve_simulator(command: &SimCmd) -> i32 {
    match command {
        SimCmd::Vsphere {
            listen,
            viewer,
            pad_listings_mb,
        } => {
            let opts = snaptree::sim::vsphere::VsphereSimOptions {
                listen: *listen,
                viewer: viewer.clone(),
                pad_listings: pad_listings_mb.saturating_mul(1024 * 1024),
                ..Default::default()
            };
            let estate = std::sync::Arc::new(snaptree::sim::Estate::demo());
            match snaptree::sim::vsphere::serve(opts, estate).await {
                Ok(handle) => {
                    print_banner(&handle.describe());
                    let _ = tokio::signal::ctrl_c().await;
                    0
                }
                Err(e) => {
                    tell!("snaptree: cannot serve the vSphere simulator on {listen}: {e}");
                    1
                }
            }
        }
        SimCmd::Proxmox {
            listen,
            token_id,
            token_secret,
        } => {
            let mut opts = snaptree::sim::proxmox::ProxmoxSimOptions {
                listen: *listen,
                ..Default::default()
            };
            if let Some(t) = token_id {
                opts.token_id = t.clone();
            }
            if let Some(s) = token_secret {
                opts.token_secret = s.clone();
            }
            let estate = std::sync::Arc::new(snaptree::sim::Estate::demo());
            match snaptree::sim::proxmox::serve(opts, estate).await {
                Ok(handle) => {
                    print_banner(&handle.describe());
                    let _ = tokio::signal::ctrl_c().await;
                    0
                }
                Err(e) => {
                    tell!("snaptree: cannot serve the Proxmox simulator on {listen}: {e}");
                    1
                }
            }
        }
        SimCmd::Ovh {
            listen,
            application_key,
            application_secret,
            consumer_key,
        } => {
            let mut opts = snaptree::sim::ovh::OvhSimOptions {
                listen: *listen,
                ..Default::default()
            };
            if let Some(k) = application_key {
                opts.application_key = k.clone();
            }
            if let Some(s) = application_secret {
                opts.application_secret = s.clone();
            }
            if let Some(c) = consumer_key {
                opts.consumer_key = c.clone();
            }
            let estate = std::sync::Arc::new(snaptree::sim::Estate::demo());
            match snaptree::sim::ovh::serve(opts, estate).await {
                Ok(handle) => {
                    print_banner(&handle.describe());
                    let _ = tokio::signal::ctrl_c().await;
                    0
                }
                Err(e) => {
                    tell!("snaptree: cannot serve the OVH simulator on {listen}: {e}");
                    1
                }
            }
        }
    }
}
