//! `Vm::goroutines` (the REPL's `:goroutines`): a snapshot of the live user
//! goroutines of an interactive VM, with their state, wait reason and the
//! function and line where they stand, taken while the scheduler runs.
//! Goroutines that have finished, and the collector's own goroutines, are
//! not listed.

use std::time::{Duration, Instant};

use skein_vm::sched::inspect::{GoroutineInfo, GoroutineState};

/// How long to wait for goroutines to reach their parking places: they
/// need microseconds, but a loaded two-core machine may delay them.
const SETTLE: Duration = Duration::from_secs(10);

/// Runs `src` as one REPL entry on `vm`.
fn entry(vm: &mut skein_vm::Vm, src: &str) {
    let program = skein_compiler::compile_repl(src).expect("compiles");
    vm.run(&program).expect("runs");
}

/// Polls `vm.goroutines()` until `done` holds (or the deadline passes);
/// returns the last snapshot.
fn settle(vm: &skein_vm::Vm, done: impl Fn(&[GoroutineInfo]) -> bool) -> Vec<GoroutineInfo> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let gs = vm.goroutines();
        if done(&gs) || Instant::now() > deadline {
            return gs;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A snapshot line without the id: `(state, reason, function, line)`.
fn shape(g: &GoroutineInfo) -> (GoroutineState, Option<&str>, Option<&str>, Option<u32>) {
    (g.state, g.wait_reason, g.function.as_deref(), g.line)
}

#[test]
fn lists_blocked_goroutines_with_their_place_and_drops_finished_ones() {
    let opts = skein::Options::new();
    let mut vm = skein::new_vm(&opts, Box::new(std::io::sink()), true);
    assert_eq!(vm.goroutines(), Vec::new());
    entry(
        &mut vm,
        "var ch = chan();\n\
         var done = chan();\n\
         fun receiver() {\n\
           var v = <-ch;\n\
           done <- v;\n\
         }\n\
         fun sleeper() { sleep(1000000); }\n\
         fun sender() { ch <- 1; }\n\
         go receiver(); go sleeper();",
    );
    let parked = |gs: &[GoroutineInfo]| {
        gs.len() == 2 && gs.iter().all(|g| g.state == GoroutineState::Waiting)
    };
    let gs = settle(&vm, parked);
    assert!(parked(&gs), "{gs:?}");
    assert!(gs[0].id < gs[1].id, "sorted by id: {gs:?}");
    assert_eq!(
        shape(&gs[0]),
        (
            GoroutineState::Waiting,
            Some("chan_recv"),
            Some("receiver()"),
            Some(4)
        )
    );
    assert_eq!(
        shape(&gs[1]),
        (
            GoroutineState::Waiting,
            Some("sleep"),
            Some("sleeper()"),
            Some(7)
        )
    );
    // The receiver gets its value, then blocks sending on `done`.
    entry(&mut vm, "go sender();");
    let moved = |gs: &[GoroutineInfo]| gs.iter().any(|g| g.wait_reason == Some("chan_send"));
    let gs = settle(&vm, moved);
    let receiver: Vec<_> = gs.iter().filter(|g| g.id == gs[0].id).map(shape).collect();
    assert_eq!(
        receiver,
        [(
            GoroutineState::Waiting,
            Some("chan_send"),
            Some("receiver()"),
            Some(5)
        )],
        "{gs:?}"
    );
    // Once it has delivered, it and the sender are gone.
    entry(&mut vm, "<-done;");
    let gs = settle(&vm, |gs| gs.len() == 1);
    assert_eq!(gs.len(), 1, "{gs:?}");
    assert_eq!(gs[0].function.as_deref(), Some("sleeper()"));
}

#[test]
fn a_goroutine_started_on_a_method_stands_in_the_method() {
    let opts = skein::Options::new();
    let mut vm = skein::new_vm(&opts, Box::new(std::io::sink()), true);
    // `go obj.m(ch)` calls a bound method, which blocks inside `m`.
    entry(
        &mut vm,
        "class Box {\n\
           wait(ch) {\n\
             return <-ch;\n\
           }\n\
         }\n\
         var ch = chan();\n\
         go Box().wait(ch);",
    );
    let gs = settle(&vm, |gs| {
        gs.len() == 1 && gs[0].state == GoroutineState::Waiting
    });
    assert_eq!(gs.len(), 1, "{gs:?}");
    assert_eq!(
        shape(&gs[0]),
        (
            GoroutineState::Waiting,
            Some("chan_recv"),
            Some("wait()"),
            Some(3)
        )
    );
}
