//! The example from the README's "Testing GC traces of your own programs":
//! run a program in deterministic mode with a trace recorded in memory,
//! check a property of its GC events, and snapshot them.
//!
//! Steps: run with `skein::Runner` (`--procs 4 --sim 7`, trace on), check
//! the exit code and stdout, parse the trace, check that every cycle that
//! started also finished, then snapshot the GC-filtered trace with insta
//! (`tests/snapshots/gc_trace_example__*.snap`).

use skein::Runner;

#[test]
fn my_program_collects_in_whole_cycles() {
    let src = r#"
        runtime.setgcpercent(10);
        var keep = [];
        for (var i = 0; i < 20000; i = i + 1) {
          var garbage = [i, str(i)];
          if (i % 100 == 0) push(keep, garbage);
        }
        print len(keep);
    "#;
    let run = Runner::new(src).procs(4).sim(7).trace(true).run();
    assert_eq!(run.exit_code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "200\n");

    let trace = run.events().expect("the trace parses");
    let started = trace.iter().filter(|e| e.kind == "GCStart").count();
    let done = trace.iter().filter(|e| e.kind == "GCDone").count();
    assert!(started > 0, "the program should trigger a collection");
    assert_eq!(started, done, "every cycle that starts finishes");

    insta::assert_snapshot!(trace.filter_gc().to_text());
}
