//! SIGINT and SIGTERM for a script run by the `skein` command.
//!
//! A script's output is buffered (block-buffered when stdout is not a
//! terminal), so dying on the default action of a signal would throw away
//! what the program printed. Instead:
//! 1. [`install`] (called once by the command, before the script runs)
//!    starts a thread that waits for SIGINT and SIGTERM.
//! 2. The run registers its runtime with [`watch`].
//! 3. On a signal the thread flushes the registered runtime's stdout and
//!    exits with 128 + the signal's number (130 for SIGINT, 143 for
//!    SIGTERM), as a shell reports a process killed by it.
//!
//! The REPL does not install this: there Ctrl-C interrupts the entry that
//! runs (see `repl`).

use std::sync::{Arc, Mutex, Weak};

use skein_vm::Runtime;

/// The runtime of the run in progress, if any.
static RUNNING: Mutex<Option<Weak<Runtime>>> = Mutex::new(None);

/// Starts the signal thread (see the module docs). An error (no signal
/// support) leaves the default actions in place.
pub fn install() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let running = RUNNING
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .and_then(Weak::upgrade);
            if let Some(rt) = running {
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
