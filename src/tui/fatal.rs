//! The terminal put back when the process dies of a signal (an abort, a stack overflow, a
//! bad memory access) while the TUI owns it: no destructor or panic hook runs then, so a
//! signal handler writes the sequences that leave the alternate screen and show the cursor
//! (write(2)) and puts back the terminal's modes saved before raw mode (tcsetattr), both
//! async-signal-safe, then hands the signal on to what handled it before (Rust's own
//! stack-overflow report) or to the default action. Also: stopping for Ctrl-Z.
#![allow(unsafe_code)] // sigaction, tcgetattr/tcsetattr, write and raise are libc calls; each block says why it is sound.

use std::io::IsTerminal;
use std::os::fd::IntoRawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The signals that end the process without unwinding.
const FATAL: [libc::c_int; 3] = [libc::SIGABRT, libc::SIGSEGV, libc::SIGBUS];

/// Mouse reports of buttons and the wheel, in SGR form (`tui::mouse_reports`).
pub(super) const MOUSE_ON: &[u8] = b"\x1b[?1000h\x1b[?1006h";
/// No mouse reports.
pub(super) const MOUSE_OFF: &[u8] = b"\x1b[?1006l\x1b[?1000l";

/// Stop mouse reports (whether or not they were asked), leave the alternate screen, show
/// the cursor.
const RESTORE: &[u8] = b"\x1b[?1006l\x1b[?1000l\x1b[?1049l\x1b[?25h";

/// The terminal's modes before raw mode.
static SAVED: OnceLock<libc::termios> = OnceLock::new();
/// The terminal those modes belong to (crossterm's: stdin, or /dev/tty).
static FD: AtomicI32 = AtomicI32::new(-1);
/// The TUI owns the terminal now: a fatal signal restores it (once).
static ARMED: AtomicBool = AtomicBool::new(false);
/// What handled each of `FATAL` before us, to hand the signal on to.
static PREVIOUS: [OnceLock<libc::sigaction>; 3] =
    [OnceLock::new(), OnceLock::new(), OnceLock::new()];

/// Save the terminal's modes and install the handlers; call before raw mode. Once per
/// process: later calls do nothing.
pub fn install() {
    if SAVED.get().is_some() {
        return;
    }
    // crossterm puts stdin in raw mode when it is a terminal, else /dev/tty.
    let fd = if std::io::stdin().is_terminal() {
        0
    } else {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
        {
            Ok(f) => f.into_raw_fd(),
            Err(_) => return,
        }
    };
    // SAFETY: termios is plain data; tcgetattr fills it for an open descriptor and
    // reports failure by its return value.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &raw mut t) } != 0 {
        return;
    }
    FD.store(fd, Ordering::SeqCst);
    let _ = SAVED.set(t);
    for (i, sig) in FATAL.into_iter().enumerate() {
        // SAFETY: a zeroed sigaction is a valid value; the handler is an `extern "C"`
        // function of the SA_SIGINFO shape, and runs on the alternate signal stack Rust
        // sets up for each thread (a stack overflow leaves no room on the thread's own).
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = on_fatal as *const () as libc::sighandler_t;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        unsafe {
            libc::sigemptyset(&raw mut new.sa_mask);
            if libc::sigaction(sig, &raw const new, &raw mut old) == 0 {
                let _ = PREVIOUS[i].set(old);
            }
        }
    }
}

/// The TUI owns the terminal (raw mode, alternate screen) from now on, or no longer.
pub fn arm(owned: bool) {
    ARMED.store(owned, Ordering::SeqCst);
}

/// Stop the process as Ctrl-Z does (the shell's `fg` continues it, returning here).
/// SIGSTOP, not SIGTSTP: the TUI catches SIGTSTP itself to give the terminal back first.
pub fn stop() {
    // SAFETY: raise has no memory-safety preconditions.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
}

/// Put the terminal back: async-signal-safe calls only.
fn restore() {
    // SAFETY: write and tcsetattr are async-signal-safe; the buffer and the saved modes
    // are statics that live for the whole process.
    unsafe {
        libc::write(1, RESTORE.as_ptr().cast(), RESTORE.len());
        if let Some(t) = SAVED.get() {
            libc::tcsetattr(FD.load(Ordering::SeqCst), libc::TCSANOW, t);
        }
    }
}

extern "C" fn on_fatal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if ARMED.swap(false, Ordering::SeqCst) {
        restore();
    }
    let previous = FATAL
        .iter()
        .position(|s| *s == sig)
        .and_then(|i| PREVIOUS[i].get());
    match previous {
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            // SAFETY: the previous handler was installed with these flags for this signal;
            // calling it with the arguments the kernel gave us is what it expects.
            unsafe {
                if p.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(p.sa_sigaction);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(p.sa_sigaction);
                    f(sig);
                }
            }
        }
        _ => {
            // SAFETY: signal and raise are async-signal-safe. The default action ends the
            // process once this handler returns (the signal is blocked until then).
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
        }
    }
}
