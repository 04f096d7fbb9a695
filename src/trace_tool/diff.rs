//! `skein trace diff A B`: where two traces first differ.
//!
//! Two runs of one program under `--sim` with the same seed give the same
//! trace event for event; with different seeds (or after a change to the
//! runtime) they part somewhere. This finds the first event at which they
//! part and shows it in context.
//!
//! Steps:
//! 1. Read A's events into memory (in time order).
//! 2. Walk B's events in time order beside them, keeping the last few
//!    events they share; stop at the first event that differs in tick, P,
//!    G, kind or arguments (the sequence number, which only orders ties,
//!    is not compared), or where one trace ends before the other.
//! 3. Print the shared context, then the next events of each side.

use std::collections::VecDeque;
use std::fmt::Write;
use std::io;

use skein_vm::trace::{Event, Reader};

/// How two traces compare.
pub struct Outcome {
    /// The report, ending in a newline.
    pub report: String,
    /// True when the traces hold the same events.
    pub same: bool,
}

/// Compares `a` and `b` (named `name_a`, `name_b` in the report), with
/// `context` events of context around the first difference.
pub fn diff(
    a: &mut Reader,
    name_a: &str,
    b: &mut Reader,
    name_b: &str,
    context: usize,
) -> io::Result<Outcome> {
    let left = a.events()?;
    let mut shared: VecDeque<&Event> = VecDeque::new();
    let mut i = 0usize;
    let mut first_b: Vec<Event> = Vec::new();
    b.for_each(&mut |e| {
        if !first_b.is_empty() {
            if first_b.len() <= context {
                first_b.push(e.clone());
            }
            return Ok(());
        }
        match left.get(i) {
            Some(l) if same_event(l, e) => {
                shared.push_back(l);
                if shared.len() > context {
                    shared.pop_front();
                }
                i += 1;
            }
            _ => first_b.push(e.clone()),
        }
        Ok(())
    })?;
    let mut report = String::new();
    if first_b.is_empty() && i == left.len() {
        let _ = writeln!(
            report,
            "{name_a} and {name_b} hold the same {} events.",
            left.len()
        );
        return Ok(Outcome { report, same: true });
    }
    let at = match (left.get(i), first_b.first()) {
        (Some(l), Some(r)) => format!("tick {}", l.tick.min(r.tick)),
        (Some(l), None) => format!("tick {} ({name_b} ends there)", l.tick),
        (None, Some(r)) => format!("tick {} ({name_a} ends there)", r.tick),
        (None, None) => unreachable!("handled above"),
    };
    let _ = writeln!(
        report,
        "{name_a} and {name_b} first diverge at {at}, after {i} shared events."
    );
    if !shared.is_empty() {
        let _ = writeln!(report, "\nshared:");
        for e in &shared {
            let _ = writeln!(report, "    {e}");
        }
    }
    let _ = writeln!(report, "\n{name_a}:");
    for e in left.iter().skip(i).take(context + 1) {
        let _ = writeln!(report, "  < {e}");
    }
    if i >= left.len() {
        let _ = writeln!(report, "  < (end of trace)");
    }
    let _ = writeln!(report, "\n{name_b}:");
    for e in &first_b {
        let _ = writeln!(report, "  > {e}");
    }
    if first_b.is_empty() {
        let _ = writeln!(report, "  > (end of trace)");
    }
    Ok(Outcome {
        report,
        same: false,
    })
}

/// Events are the same when everything but their sequence number is.
fn same_event(a: &Event, b: &Event) -> bool {
    a.tick == b.tick && a.p == b.p && a.g == b.g && a.kind == b.kind && a.args == b.args
}
