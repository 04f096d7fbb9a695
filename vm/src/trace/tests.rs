//! Unit tests of the trace: the text form, the binary round trip and its
//! merge order, the Chrome form.

use std::collections::BTreeMap;

use super::chrome::{write_json_str, write_ns};
use super::*;

fn text(events: &[Event]) -> String {
    let mut out = Vec::new();
    write_text(&mut Reader::from_events(events.to_vec()), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn chrome(events: &[Event]) -> serde_json::Value {
    chrome_from(&mut Reader::from_events(events.to_vec()))
}

fn chrome_from(reader: &mut Reader) -> serde_json::Value {
    let mut out = Vec::new();
    chrome::write(reader, &mut out).unwrap();
    let s = String::from_utf8(out).unwrap();
    serde_json::from_str(&s).unwrap_or_else(|err| panic!("invalid JSON ({err}):\n{s}"))
}

/// Records `streams` (each a list of events pushed in order into one
/// stream's buffer, `None` for the outside P) through a memory sink with
/// small batches, and reads the recording back.
fn record(pushes: &[(Option<u32>, Event)]) -> Reader {
    let sink = Sink::new();
    sink.begin(Destination::Memory, 1, false);
    let mut buffers: BTreeMap<u32, Buffer> = BTreeMap::new();
    for (p, e) in pushes {
        let stream = p.unwrap_or(encode::STREAM_OUTSIDE_P);
        let b = buffers.entry(stream).or_insert_with(|| Buffer::new(stream));
        b.push(&sink, e.tick, encode::next_seq(), e.g, e.kind, &e.args);
        // Batches of two events, so merging crosses batch boundaries.
        if b.len() == 2 {
            b.flush(&sink);
        }
    }
    for b in buffers.values_mut() {
        b.flush(&sink);
    }
    let Some(Ok(Recording::Memory(bytes))) = sink.end() else {
        panic!("a memory recording")
    };
    Reader::open(Box::new(std::io::Cursor::new(bytes))).unwrap()
}

fn trace_events(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["traceEvents"].as_array().unwrap()
}

/// Checks that on every tid each `E` closes an open `B` and that nothing
/// stays open; returns the (tid, name) of every `B` in order.
fn check_balanced(v: &serde_json::Value) -> Vec<(u64, String)> {
    let mut stacks: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut begins = Vec::new();
    for ev in trace_events(v) {
        if ev["ph"] == "C" {
            // Counters belong to the process, not to a thread.
            assert!(ev["args"]["value"].is_number(), "{ev}");
            continue;
        }
        let tid = ev["tid"].as_u64().unwrap();
        match ev["ph"].as_str().unwrap() {
            "B" => {
                let name = ev["name"].as_str().unwrap().to_string();
                stacks.entry(tid).or_default().push(name.clone());
                begins.push((tid, name));
            }
            "E" => {
                let top = stacks.get_mut(&tid).and_then(Vec::pop);
                let top = top.unwrap_or_else(|| panic!("E without B on tid {tid}"));
                assert_eq!(ev["name"].as_str().unwrap(), top, "E closes wrong slice");
            }
            "i" => assert_eq!(ev["s"], "t"),
            "M" | "s" | "f" => {}
            ph => panic!("unexpected phase {ph}"),
        }
    }
    for (tid, stack) in stacks {
        assert!(stack.is_empty(), "unclosed slices on tid {tid}: {stack:?}");
    }
    begins
}

#[test]
fn text_form_with_and_without_p_and_g() {
    let events = vec![
        Event::new(1200, Some(0), Some(1), EventKind::GoCreate)
            .arg("g", 2u64)
            .arg("kind", "user"),
        Event::new(1300, None, None, EventKind::STWStart).arg("reason", "sweep_termination"),
        Event::new(1400, Some(3), None, EventKind::ProcStart),
        Event::new(1500, None, Some(7), EventKind::GoPark).arg("reason", "sleep"),
        Event::new(1600, Some(1), Some(2), EventKind::HeapGoal)
            .arg("goal", 4_194_304usize)
            .arg("delta", -5i64)
            .arg("procs", 4u32)
            .arg("next", true),
    ];
    assert_eq!(
        text(&events),
        "1200 P0 G1 GoCreate g=2 kind=user\n\
         1300 P- G- STWStart reason=sweep_termination\n\
         1400 P3 G- ProcStart\n\
         1500 P- G7 GoPark reason=sleep\n\
         1600 P1 G2 HeapGoal goal=4194304 delta=-5 procs=4 next=1\n"
    );
}

#[test]
fn kind_names_are_variant_names() {
    for kind in EventKind::ALL {
        assert_eq!(kind.name(), format!("{kind:?}"));
    }
}

#[test]
fn binary_round_trips_every_kind_and_argument() {
    let events: Vec<Event> = EventKind::ALL
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            Event::new(10 * i as u64, Some(0), Some(i as u64), k)
                .arg("u", u64::MAX - i as u64)
                .arg("i", -(i as i64) - 1)
                .arg("reason", "sleep")
                .arg("fn", Arg::Label("worker()".into()))
        })
        .collect();
    let pushes: Vec<_> = events.iter().map(|e| (Some(0), e.clone())).collect();
    let got = record(&pushes).events().unwrap();
    assert_eq!(got.len(), events.len());
    for (g, e) in got.iter().zip(&events) {
        assert_eq!((g.tick, g.p, g.g, g.kind), (e.tick, e.p, e.g, e.kind));
        assert_eq!(g.args, e.args);
    }
}

#[test]
fn merge_orders_by_tick_then_seq_across_streams() {
    // Pushed in this order; ticks tie at 10 and at 20.
    let pushes = [
        (
            Some(1),
            Event::new(10, Some(1), None, EventKind::ProcStart).arg("i", 0u64),
        ),
        (
            Some(0),
            Event::new(10, Some(0), None, EventKind::ProcStart).arg("i", 1u64),
        ),
        (
            None,
            Event::new(5, None, None, EventKind::GCStart).arg("i", 2u64),
        ),
        (
            Some(0),
            Event::new(20, Some(0), Some(1), EventKind::GoStart).arg("i", 3u64),
        ),
        (
            None,
            Event::new(20, None, None, EventKind::STWStart).arg("i", 4u64),
        ),
        (
            Some(1),
            Event::new(20, Some(1), Some(2), EventKind::GoStart).arg("i", 5u64),
        ),
        (
            Some(1),
            Event::new(30, Some(1), Some(2), EventKind::GoEnd).arg("i", 6u64),
        ),
        (
            Some(0),
            Event::new(30, Some(0), Some(1), EventKind::GoEnd).arg("i", 7u64),
        ),
    ];
    let merged = record(&pushes).events().unwrap();
    let order: Vec<u64> = merged.iter().map(|e| e.num("i").unwrap()).collect();
    assert_eq!(order, [2, 0, 1, 3, 4, 5, 6, 7]);
    assert!(merged.iter().all(|e| e.seq > 0));
    // The outside P's events have no P.
    assert_eq!(merged[0].p, None);
}

#[test]
fn sysmon_events_come_first_among_equal_ticks() {
    let sink = Sink::new();
    sink.begin(Destination::Memory, 100, false);
    let mut p0 = Buffer::new(0);
    let mut sysmon = Buffer::new(encode::STREAM_SYSMON);
    p0.push(
        &sink,
        7,
        encode::next_seq(),
        None,
        EventKind::GCSweepStart,
        &[] as &[(Key, Arg)],
    );
    sysmon.push(&sink, 7, 0, None, EventKind::ProcSteal, &[("p", Arg::U(1))]);
    p0.flush(&sink);
    sysmon.flush(&sink);
    let Some(Ok(rec)) = sink.end() else { panic!() };
    let mut r = Reader::open(rec.into_stream().unwrap()).unwrap();
    assert_eq!(r.header().ns_per_tick, 100);
    let kinds: Vec<EventKind> = r.events().unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::ProcSteal, EventKind::GCSweepStart]);
}

#[test]
fn a_new_recording_drops_a_buffer_of_the_old_one() {
    let sink = Sink::new();
    sink.begin(Destination::Memory, 1, false);
    let mut b = Buffer::new(0);
    b.push(
        &sink,
        1,
        0,
        None,
        EventKind::GoStart,
        &[("reason", Arg::S("old"))],
    );
    sink.begin(Destination::Memory, 1, false);
    b.push(
        &sink,
        2,
        0,
        None,
        EventKind::GoEnd,
        &[("reason", Arg::S("new"))],
    );
    b.flush(&sink);
    let Some(Ok(rec)) = sink.end() else { panic!() };
    let events = Reader::open(rec.into_stream().unwrap())
        .unwrap()
        .events()
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].word("reason"), Some("new"));
}

#[test]
fn flight_recorder_keeps_the_newest_batches_and_starts_at_a_whole_cycle() {
    let sink = Sink::new();
    // Room for a few batches of this size only.
    sink.begin(Destination::Flight(600), 1, false);
    let mut b = Buffer::new(0);
    let mut tick = 0;
    for n in 1..=40u64 {
        for kind in [EventKind::GCStart, EventKind::GoStart, EventKind::GCDone] {
            tick += 10;
            b.push(&sink, tick, 0, Some(1), kind, &[("n", Arg::U(n))]);
        }
        b.flush(&sink);
    }
    tick += 10;
    b.push(
        &sink,
        tick,
        0,
        Some(1),
        EventKind::GCStart,
        &[("n", Arg::U(41))],
    );
    tick += 10;
    b.push(
        &sink,
        tick,
        0,
        Some(1),
        EventKind::GoStart,
        &[("n", Arg::U(41))],
    );
    b.flush(&sink);
    let image = sink.flight_image().unwrap();
    let mut r = Reader::open(Box::new(std::io::Cursor::new(image))).unwrap();
    assert!(r.header().start_tick > 0, "batches were dropped");
    let events = r.events().unwrap();
    assert!(events.len() < 40 * 3, "only the newest batches are kept");
    assert_eq!(events[0].kind, EventKind::GCStart, "starts at a cycle");
    assert_eq!(events.last().unwrap().tick, tick, "ends at the last event");
}

#[test]
fn text_form_reads_back() {
    let events = vec![
        Event::new(1200, Some(0), Some(1), EventKind::GoCreate)
            .arg("g", 2u64)
            .arg("kind", "user"),
        Event::new(1600, None, Some(2), EventKind::HeapGoal).arg("delta", -5i64),
    ];
    let t = text(&events);
    let mut r = Reader::open(Box::new(std::io::Cursor::new(t.clone().into_bytes()))).unwrap();
    assert_eq!(text(&r.events().unwrap()), t);
}

#[test]
fn text_form_leaves_out_labels_and_extended_events() {
    let events = vec![
        Event::new(1, Some(0), Some(1), EventKind::GoCreate)
            .arg("g", 2u64)
            .arg("kind", "user")
            .arg("fn", Arg::Label("worker()".into())),
        Event::new(2, Some(0), Some(1), EventKind::HeapAlloc).arg("live", 4096u64),
    ];
    assert_eq!(text(&events), "1 P0 G1 GoCreate g=2 kind=user\n");
}

#[test]
fn a_chrome_file_is_refused_as_input() {
    let err = Reader::open(Box::new(std::io::Cursor::new(
        b"{\"traceEvents\":[]}".to_vec(),
    )))
    .err()
    .unwrap();
    assert!(err.to_string().contains("Chrome"), "{err}");
}

#[test]
fn chrome_is_valid_json_with_balanced_slices() {
    let mut events = vec![
        Event::new(0, None, None, EventKind::GCStart)
            .arg("n", 1u64)
            .arg("trigger", "heap"),
        Event::new(100, Some(0), Some(1), EventKind::STWStart).arg("reason", "sweep_termination"),
        Event::new(200, Some(0), Some(1), EventKind::STWDone).arg("reason", "sweep_termination"),
        Event::new(1200, Some(0), Some(1), EventKind::GoCreate)
            .arg("g", 2u64)
            .arg("kind", "user"),
        Event::new(1300, Some(0), Some(5), EventKind::GoStart),
        Event::new(1300, Some(0), Some(5), EventKind::GCMarkWorkerStart)
            .arg("g", 5u64)
            .arg("mode", "dedicated"),
        Event::new(1400, Some(0), Some(5), EventKind::GCMarkWorkerStop)
            .arg("g", 5u64)
            .arg("mode", "dedicated"),
        Event::new(1500, Some(0), Some(5), EventKind::GoPark).arg("reason", "gc_worker_idle"),
        // A mark worker still open when its G is preempted.
        Event::new(1600, Some(1), Some(6), EventKind::GoStart),
        Event::new(1700, Some(1), Some(6), EventKind::GCMarkWorkerStart).arg("mode", "idle"),
        Event::new(1800, Some(1), Some(6), EventKind::GoPreempt),
        Event::new(1900, Some(1), Some(6), EventKind::GCMarkWorkerStop).arg("mode", "idle"),
        // A G that starts without the previous one ending.
        Event::new(2000, Some(1), Some(2), EventKind::GoStart),
        Event::new(2100, Some(1), Some(3), EventKind::GoStart),
        Event::new(2200, None, None, EventKind::STWDone).arg("reason", "trace_start"),
        Event::new(2300, Some(0), None, EventKind::GCDone)
            .arg("n", 1u64)
            .arg("live", 1024u64),
        // Left open at the end of the trace.
        Event::new(2400, Some(2), Some(9), EventKind::GoStart),
        Event::new(2500, None, None, EventKind::STWStart).arg("reason", "trace_stop"),
        Event::new(2600, None, None, EventKind::GCStart).arg("n", 2u64),
    ];
    let v = chrome(&std::mem::take(&mut events));
    assert_eq!(v["displayTimeUnit"], "ns");
    let begins = check_balanced(&v);
    let names: Vec<(u64, &str)> = begins.iter().map(|(t, n)| (*t, n.as_str())).collect();
    assert_eq!(
        names,
        vec![
            (1001, "GC 1"),
            (1000, "STW sweep_termination"),
            (1001, "mark"),
            (0, "G5"),
            (0, "mark worker (dedicated)"),
            (1, "G6"),
            (1, "mark worker (idle)"),
            (1, "G2"),
            (1, "G3"),
            (2, "G9"),
            (1000, "STW trace_stop"),
            (1001, "GC 2"),
        ]
    );

    let evs = trace_events(&v);
    let thread_names: Vec<(u64, &str)> = evs
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        thread_names,
        vec![
            (0, "P0"),
            (1, "P1"),
            (2, "P2"),
            (1000, "runtime"),
            (1001, "GC")
        ]
    );
    // Instants carry their arguments; unmatched closers become instants.
    let create = evs.iter().find(|e| e["name"] == "GoCreate").unwrap();
    assert_eq!(create["ph"], "i");
    assert_eq!(create["ts"].as_f64(), Some(1.2));
    assert_eq!(create["args"]["g"], 2);
    assert_eq!(create["args"]["kind"], "user");
    assert_eq!(create["args"]["G"], 1);
    let stray_stop = evs
        .iter()
        .find(|e| e["name"] == "GCMarkWorkerStop")
        .unwrap();
    assert_eq!(stray_stop["ph"], "i");
    let stray_done = evs.iter().find(|e| e["name"] == "STWDone").unwrap();
    assert_eq!(stray_done["args"]["reason"], "trace_start");
    // Slices left open close at the last tick.
    let last = evs.last().unwrap();
    assert_eq!(
        (last["ph"].as_str(), last["ts"].as_f64()),
        (Some("E"), Some(2.6))
    );
}

#[test]
fn chrome_empty_trace_is_valid() {
    let v = chrome(&[]);
    check_balanced(&v);
}

#[test]
fn chrome_moves_runtime_tids_above_many_procs() {
    let v = chrome(&[Event::new(1, Some(1500), None, EventKind::ProcStart)]);
    let tids: Vec<u64> = trace_events(&v)
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["tid"].as_u64().unwrap())
        .collect();
    assert_eq!(tids, vec![1500, 1501, 1502]);
}

#[test]
fn json_strings_are_escaped() {
    let nasty = "q\"b\\n\nr\rt\tbs\u{8}ff\u{c}nul\u{0}esc\u{1b}é→";
    let mut out = Vec::new();
    write_json_str(&mut out, nasty).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(!s.bytes().any(|b| b < 0x20), "raw control byte in {s:?}");
    let back: String = serde_json::from_str(&s).unwrap();
    assert_eq!(back, nasty);

    // The same strings used as keys, values and names in a whole trace.
    let v = chrome(&[
        Event::new(0, Some(0), Some(1), EventKind::GoPark).arg(nasty, nasty),
        Event::new(1, None, None, EventKind::STWStart).arg("reason", nasty),
    ]);
    check_balanced(&v);
    let park = trace_events(&v)
        .iter()
        .find(|e| e["name"] == "GoPark")
        .unwrap();
    assert_eq!(park["args"][nasty], nasty);
    let stw = trace_events(&v).iter().find(|e| e["ph"] == "B").unwrap();
    assert_eq!(stw["name"].as_str().unwrap(), format!("STW {nasty}"));
}

#[test]
fn ts_is_exact_microseconds() {
    let cases = [
        (0, "0"),
        (5, "0.005"),
        (50, "0.05"),
        (500, "0.5"),
        (1000, "1"),
        (1200, "1.2"),
        (1230, "1.23"),
        (1234, "1.234"),
        (u64::MAX, "18446744073709551.615"),
    ];
    for (tick, want) in cases {
        let mut out = Vec::new();
        write_ns(&mut out, tick).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}

#[test]
fn format_parse_and_dispatch() {
    assert_eq!(Format::parse("text"), Some(Format::Text));
    assert_eq!(Format::parse("chrome"), Some(Format::Chrome));
    assert_eq!(Format::parse("binary"), Some(Format::Binary));
    assert_eq!(Format::parse("json"), None);
    let events = vec![Event::new(3, None, None, EventKind::GCSweepDone)];
    let mut out = Vec::new();
    write(&mut Reader::from_events(events), Format::Text, &mut out).unwrap();
    assert_eq!(out, b"3 P- G- GCSweepDone\n");
}

#[test]
fn the_text_writer_prints_each_event_as_its_display_does() {
    let mut with_args = Event::new(u64::MAX, Some(u32::MAX), Some(0), EventKind::GoPark);
    with_args.args = vec![
        ("reason", Arg::S("chan_recv")),
        ("fn", Arg::Label("worker".into())),
        ("n", Arg::U(0)),
        ("delta", Arg::I(i64::MIN)),
        ("up", Arg::I(42)),
        ("live", Arg::U(1234567890)),
    ];
    let events = vec![
        Event::new(0, None, None, EventKind::GCSweepDone),
        Event::new(10, Some(1), Some(7), EventKind::GoStart),
        with_args,
    ];
    let want: String = events.iter().map(|e| format!("{e}\n")).collect();
    let mut out = Vec::new();
    write_text(&mut Reader::from_events(events), &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), want);
    assert!(want.contains(" delta=-9223372036854775808 "), "{want}");
    assert!(
        !want.contains("worker"),
        "labels are not in the text form: {want}"
    );
}

/// A small real recording's bytes, for the damage tests.
fn sample_recording() -> Vec<u8> {
    let sink = Sink::new();
    sink.begin(Destination::Memory, 1, true);
    let mut p0 = Buffer::new(0);
    let mut p1 = Buffer::new(1);
    for i in 0..40u64 {
        let b = if i % 3 == 0 { &mut p1 } else { &mut p0 };
        b.push(
            &sink,
            i * 7,
            0,
            Some(i % 5),
            EventKind::GoPark,
            &[("reason", Arg::S("chan_recv")), ("n", Arg::U(i))],
        );
        if i % 10 == 9 {
            b.flush(&sink);
        }
    }
    p0.flush(&sink);
    p1.flush(&sink);
    let Some(Ok(Recording::Memory(bytes))) = sink.end() else {
        panic!("a memory recording")
    };
    bytes
}

fn read_all(bytes: Vec<u8>) -> std::io::Result<Vec<Event>> {
    Reader::open(Box::new(std::io::Cursor::new(bytes)))?.events()
}

#[test]
fn a_cut_recording_reads_up_to_the_cut() {
    let bytes = sample_recording();
    let whole = read_all(bytes.clone()).unwrap();
    assert_eq!(whole.len(), 40);
    let mut last = 0;
    for cut in 8..bytes.len() {
        // Never a panic; the events of the whole batches before the cut.
        // (Their times may differ a little: the clock's rate is the one
        // measured after the last batch read, not at the recording's end.)
        let same =
            |a: &Event, b: &Event| (a.p, a.g, a.kind, &a.args) == (b.p, b.g, b.kind, &b.args);
        if let Ok(events) = read_all(bytes[..cut].to_vec()) {
            assert!(events.len() >= last || events.is_empty());
            assert!(events.iter().all(|e| whole.iter().any(|w| same(e, w))));
            last = last.max(events.len());
        }
    }
    assert_eq!(last, 40);
}

#[test]
fn a_damaged_recording_is_an_error_not_a_crash() {
    let bytes = sample_recording();
    for at in 8..bytes.len() {
        for value in [0x00, 0x7f, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[at] = value;
            // Any answer but a panic, a hang or a huge allocation will do.
            let _ = read_all(damaged);
        }
    }
    // Lengths far past the end of the file.
    let mut huge = bytes[..8].to_vec();
    huge.extend([1, 1, 0, 0]); // version 1, 1 ns a tick, start 0, flags 0
    huge.extend([0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]); // a 4 GiB string
    assert!(read_all(huge.clone()).unwrap().is_empty(), "a cut string");
    let mut batch = huge[..12].to_vec();
    batch.extend([
        0x02, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ]);
    assert!(read_all(batch).unwrap().is_empty(), "a cut batch");
    let mut kind = huge[..12].to_vec();
    kind.extend([0x02, 0x00, 0x01, 0x03, 0x1f, 0x00, 0x00]); // kind 31
    assert!(read_all(kind).is_err(), "an unknown event kind");
}

#[test]
fn a_flight_recording_without_cycles_keeps_its_complete_part() {
    let sink = Sink::new();
    sink.begin(Destination::Flight(600), 1, false);
    let mut b = Buffer::new(0);
    for tick in 0..400u64 {
        b.push(
            &sink,
            tick,
            encode::next_seq(),
            Some(1),
            EventKind::GoSched,
            &[] as &[(Key, Arg)],
        );
        if tick % 20 == 19 {
            b.flush(&sink);
        }
    }
    let image = sink.flight_image().unwrap();
    let mut r = Reader::open(Box::new(std::io::Cursor::new(image))).unwrap();
    let start = r.header().start_tick;
    assert!(start > 0);
    let events = r.events().unwrap();
    assert!(!events.is_empty());
    assert_eq!(events[0].tick, start, "from the first complete tick");
    assert_eq!(events.last().unwrap().tick, 399);
}

#[test]
fn chrome_sweep_slice_opens_at_the_cycle_end() {
    let events = vec![
        Event::new(0, Some(0), Some(9), EventKind::GCStart).arg("n", 1u64),
        Event::new(1, Some(0), Some(9), EventKind::STWStart).arg("reason", "mark_termination"),
        Event::new(1, Some(0), Some(9), EventKind::GCSweepStart),
        Event::new(2, Some(0), Some(9), EventKind::STWDone).arg("reason", "mark_termination"),
        Event::new(2, Some(0), Some(9), EventKind::GCDone).arg("n", 1u64),
        Event::new(50, Some(1), Some(8), EventKind::GCSweepDone),
    ];
    let v = chrome(&events);
    let begins = check_balanced(&v);
    assert!(begins.contains(&(1001, "sweep".to_string())), "{begins:?}");
    let sweep_end = trace_events(&v)
        .iter()
        .find(|e| e["ph"] == "E" && e["name"] == "sweep")
        .unwrap();
    assert_eq!(sweep_end["ts"].as_f64(), Some(0.05));
}
