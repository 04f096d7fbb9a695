//! `skein trace summary`: the figures of a trace as stable text.
//!
//! Every figure comes from [`Model`](super::analysis::Model); times print
//! with an adaptive unit (ns, µs, ms, s) and three decimals, so a `--sim`
//! trace's summary is the same on every run and can be snapshot-tested.
//! Percentiles are nearest-rank: the p-th percentile of n sorted values is
//! the value at rank ⌈p·n/100⌉.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::analysis::{is_gc_pause, Model, WorkerMode};

/// The MMU windows the summary reports (1 ms, 10 ms, 100 ms).
pub const MMU_WINDOWS_NS: [u64; 3] = [1_000_000, 10_000_000, 100_000_000];

/// Go's goal for background mark workers: a quarter of the Ps' time
/// during the mark (`gcBackgroundUtilization`).
const WORKER_GOAL: f64 = 0.25;

/// The summary of `m`.
pub fn render(m: &Model) -> String {
    let mut out = String::new();
    let o = &mut out;
    let clock = if m.ns_per_tick == 1 {
        "real".to_string()
    } else {
        format!("virtual ({} ns per tick)", m.ns_per_tick)
    };
    let _ = writeln!(o, "clock: {clock}");
    let _ = writeln!(
        o,
        "duration: {}  events: {}  Ps: {}",
        dur(m.duration()),
        m.events,
        m.nprocs
    );

    // Cycles.
    let mut triggers: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &m.cycles {
        *triggers.entry(c.trigger.as_str()).or_default() += 1;
    }
    let by: Vec<String> = triggers.iter().map(|(t, n)| format!("{t} {n}")).collect();
    let _ = writeln!(o);
    if m.cycles.is_empty() {
        let _ = writeln!(o, "GC cycles: 0");
    } else {
        let _ = writeln!(o, "GC cycles: {} ({})", m.cycles.len(), by.join(", "));
    }
    let _ = writeln!(
        o,
        "GC CPU: {} of all Ps' time (pauses, assists and mark workers, as gctrace counts it)",
        pct(m.gc_cpu_share())
    );

    // Pauses.
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<28}{:>7}{:>12}{:>12}{:>12}{:>12}",
        "stop-the-world pauses", "count", "p50", "p99", "max", "total"
    );
    let gc: Vec<u64> = m
        .pauses
        .iter()
        .filter(|p| is_gc_pause(&p.reason))
        .map(|p| p.end - p.start)
        .collect();
    pause_line(o, "GC (all)", gc);
    let mut by_reason: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for p in &m.pauses {
        by_reason
            .entry(p.reason.as_str())
            .or_default()
            .push(p.end - p.start);
    }
    for (reason, v) in by_reason {
        pause_line(o, reason, v);
    }

    // Mark phase.
    let marks: Vec<u64> = m
        .cycles
        .iter()
        .filter_map(|c| Some(c.mark_end? - c.mark_start?))
        .collect();
    let mark_total: u64 = marks.iter().sum();
    let _ = writeln!(o);
    let mut sorted = marks.clone();
    sorted.sort_unstable();
    let _ = writeln!(
        o,
        "mark phase: {} cycles, p50 {}, max {}, total {}",
        sorted.len(),
        dur(percentile(&sorted, 50)),
        dur(sorted.last().copied().unwrap_or(0)),
        dur(mark_total)
    );

    // MMU.
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "minimum mutator utilization (pauses, assists, dedicated and fractional workers):"
    );
    for w in MMU_WINDOWS_NS {
        let whole = if w > m.duration() {
            " (the window is longer than the trace: over the whole trace)"
        } else {
            ""
        };
        let _ = writeln!(o, "  {:>8} window: {}{whole}", dur_short(w), pct(m.mmu(w)));
    }

    // Workers.
    let _ = writeln!(o);
    let p_time = mark_total as f64 * f64::from(m.nprocs.max(1));
    let share = |ns: u64| {
        if p_time == 0.0 {
            0.0
        } else {
            ns as f64 / p_time
        }
    };
    let _ = writeln!(
        o,
        "mark workers (share of the Ps' time during the mark; Go's goal for dedicated + fractional: {}):",
        pct(WORKER_GOAL)
    );
    for mode in [
        WorkerMode::Dedicated,
        WorkerMode::Fractional,
        WorkerMode::Idle,
    ] {
        let ns = m.worker_ns.get(&mode).copied().unwrap_or(0);
        let _ = writeln!(o, "  {:<24}{:>8}  {}", mode.name(), pct(share(ns)), dur(ns));
    }
    let background = m
        .worker_ns
        .get(&WorkerMode::Dedicated)
        .copied()
        .unwrap_or(0)
        + m.worker_ns
            .get(&WorkerMode::Fractional)
            .copied()
            .unwrap_or(0);
    let _ = writeln!(
        o,
        "  {:<24}{:>8}  {}",
        "dedicated + fractional",
        pct(share(background)),
        dur(background)
    );
    let all_work = m.worker_ns.values().sum::<u64>() + m.assist_ns;
    let assist_share = if all_work == 0 {
        0.0
    } else {
        m.assist_ns as f64 / all_work as f64
    };
    let _ = writeln!(
        o,
        "mark assists: {} of mark work ({} of {})",
        pct(assist_share),
        dur(m.assist_ns),
        dur(all_work)
    );

    // Goroutines.
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "goroutines: {} created, {} alive at most",
        m.goroutines_created, m.peak_alive
    );
    let mut lat = m.latencies.clone();
    lat.sort_unstable();
    let _ = writeln!(
        o,
        "scheduling latency (runnable to running): p50 {}, p99 {}, max {} ({} starts)",
        dur(percentile(&lat, 50)),
        dur(percentile(&lat, 99)),
        dur(lat.last().copied().unwrap_or(0)),
        lat.len()
    );
    let _ = writeln!(
        o,
        "system calls: {}, {} in total",
        m.syscalls,
        dur(m.syscall_ns)
    );
    out
}

/// One row of the pause table.
fn pause_line(o: &mut String, name: &str, mut v: Vec<u64>) {
    v.sort_unstable();
    let total: u64 = v.iter().sum();
    let _ = writeln!(
        o,
        "  {:<26}{:>7}{:>12}{:>12}{:>12}{:>12}",
        name,
        v.len(),
        dur(percentile(&v, 50)),
        dur(percentile(&v, 99)),
        dur(v.last().copied().unwrap_or(0)),
        dur(total)
    );
}

/// The nearest-rank percentile of sorted `v` (0 when empty).
pub fn percentile(v: &[u64], p: u64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = (p as usize * v.len()).div_ceil(100).max(1);
    v[rank.min(v.len()) - 1]
}

/// A duration with a unit and three decimals.
pub fn dur(ns: u64) -> String {
    let ns_f = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.3} µs", ns_f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.3} ms", ns_f / 1e6)
    } else {
        format!("{:.3} s", ns_f / 1e9)
    }
}

/// A round duration for window names: `1 ms`, `100 ms`.
fn dur_short(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{} s", ns / 1_000_000_000)
    } else if ns >= 1_000_000 {
        format!("{} ms", ns / 1_000_000)
    } else if ns >= 1_000 {
        format!("{} µs", ns / 1_000)
    } else {
        format!("{ns} ns")
    }
}

/// A share as a percentage with one decimal.
fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[1, 2, 3], 50), 2);
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(dur(999), "999 ns");
        assert_eq!(dur(1_500), "1.500 µs");
        assert_eq!(dur(2_345_678), "2.346 ms");
        assert_eq!(dur(3_000_000_000), "3.000 s");
    }
}
