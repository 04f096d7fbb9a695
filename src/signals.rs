//! SIGINT, SIGTERM and SIGQUIT for a script run by the `skein` command.
//!
//! A script's output is buffered (block-buffered when stdout is not a
//! terminal), so dying on the default action of a signal would throw away
//! what the program printed. Instead:
//! 1. [`install`] (called once by the command, before the script runs)
//!    starts a thread that waits for SIGINT and SIGTERM.
//! 2. The run registers its runtime with [`watch`].
//! 3. On SIGINT or SIGTERM the thread flushes the registered runtime's
//!    stdout and exits with 128 + the signal's number (130 for SIGINT, 143
//!    for SIGTERM), as a shell reports a process killed by it.
//! 4. On SIGQUIT (Ctrl-\\) the program is ended as a failing program is
//!    (`Runtime::quit`): its runtime error is `SIGQUIT: quit`, the flight
//!    recorder (`--trace-flight`) writes its trace, and the command exits
//!    with 131 (128 + 3). If the program has not ended after
//!    [`QUIT_WAIT`] (a goroutine blocked outside the runtime), the thread
//!    flushes stdout and exits with 131 itself; once the program has ended
//!    it leaves the exit to the main thread, which may still be writing
//!    the trace.
//!
//! The REPL does not install this: there Ctrl-C interrupts the entry that
//! runs (see `repl`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use skein_vm::Runtime;

/// SIGQUIT arrived (the command's exit status is then 131).
static QUIT: AtomicBool = AtomicBool::new(false);

/// How long SIGQUIT waits for the program to end before exiting anyway:
/// long enough for every M to reach a safepoint and the trace to be
/// written.
pub const QUIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The exit status after SIGQUIT.
pub const EXIT_QUIT: i32 = 128 + 3;

/// The run has ended (`execute` is writing its trace and output): a
/// SIGQUIT's fallback exit must not cut that short.
static ENDED: AtomicBool = AtomicBool::new(false);

/// Says that the run has ended; called by `execute` when the program
/// returns.
pub(crate) fn ended() {
    ENDED.store(true, Ordering::SeqCst);
}

/// True once SIGQUIT has arrived.
pub fn quit_requested() -> bool {
    QUIT.load(Ordering::SeqCst)
}

/// The runtime of the run in progress, if any.
static RUNNING: Mutex<Option<Weak<Runtime>>> = Mutex::new(None);

/// Starts the signal thread (see the module docs). An error (no signal
/// support) leaves the default actions in place.
pub fn install() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGQUIT,
    ]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let running = || {
                RUNNING
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .and_then(Weak::upgrade)
            };
            if sig == signal_hook::consts::SIGQUIT {
                QUIT.store(true, Ordering::SeqCst);
                if let Some(rt) = running() {
                    rt.quit("SIGQUIT: quit");
                }
                // The main thread ends the process; this is the fallback
                // for a program that does not end, and it waits while the
                // main thread writes the trace of one that did.
                std::thread::sleep(QUIT_WAIT);
                while ENDED.load(Ordering::SeqCst) {
                    std::thread::park();
                }
            }
            if let Some(rt) = running() {
                rt.flush_for_exit();
            }
            // The shell's convention for a process ended by a signal.
            std::process::exit(128 + sig);
        }
    });
}

/// Registers the runtime whose output a signal flushes.
pub(crate) fn watch(rt: &Arc<Runtime>) {
    *RUNNING.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(rt));
}
