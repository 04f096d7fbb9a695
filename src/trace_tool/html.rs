//! `skein trace html`: one self-contained page with the trace's timeline.
//!
//! The page is `viewer.html` (inline CSS and script; no network) with the
//! model of the trace (`analysis`) embedded as JSON in its
//! `<script id="skein-data">` element. The JSON's shape is described at the
//! top of `viewer.html`: times in nanoseconds from the trace's start, one
//! row of segments per P, GC cycles and their phases, pauses, heap samples,
//! the MMU curve, the events of each segment, and the summary text.
//!
//! Steps:
//! 1. Build the model and the summary.
//! 2. If the rows hold more than [`MAX_SEGMENTS`] segments, merge
//!    neighbouring ones in each row until they fit (a merged segment is
//!    labelled with how many it stands for), so the page stays small and
//!    responsive whatever the trace's length.
//! 3. Sample the MMU curve at log-spaced windows from 1 µs to the trace's
//!    length.
//! 4. Serialize, escape every `<` as `\u003c` (so nothing in a string can
//!    end the script element early), and put it in place of the template's
//!    placeholder.

use serde_json::{json, Value};

use super::analysis::{Model, Segment};

/// The page template.
const TEMPLATE: &str = include_str!("viewer.html");
/// What the template's data element holds until it is filled.
const PLACEHOLDER: &str = "__SKEIN_TRACE_DATA__";
/// The most segments the page holds: enough for every slice of a
/// few-second trace, few enough that the browser draws a full view fast.
pub const MAX_SEGMENTS: usize = 200_000;
/// Points on the MMU curve: log-spaced windows from 1 µs to the trace's
/// length (six decades for a second-long trace), about eight a decade,
/// which draws a smooth curve.
const MMU_POINTS: usize = 48;

/// The page for `model`, titled `title`, with `summary` under it.
pub fn render(model: &Model, title: &str, summary: &str) -> String {
    let start = model.start;
    let rel = |t: u64| t.saturating_sub(start);
    let total: usize = model.rows.values().map(Vec::len).sum();
    let procs: Vec<Value> = model
        .rows
        .iter()
        .map(|(p, row)| {
            let quota = if total > MAX_SEGMENTS {
                (MAX_SEGMENTS * row.len() / total).max(1)
            } else {
                row.len()
            };
            let slices: Vec<Value> = coalesce(row, quota)
                .into_iter()
                .map(|(s, merged)| {
                    if merged > 1 {
                        json!([
                            rel(s.start),
                            rel(s.end),
                            s.activity.kind(),
                            format!("{merged} slices"),
                            -1
                        ])
                    } else {
                        let detail = s.detail.map_or(-1, |d| d as i64);
                        json!([
                            rel(s.start),
                            rel(s.end),
                            s.activity.kind(),
                            model.label(&s),
                            detail
                        ])
                    }
                })
                .collect();
            json!({"id": p, "name": format!("P{p}"), "slices": slices})
        })
        .collect();
    let gc: Vec<Value> = model
        .cycles
        .iter()
        .map(|c| {
            json!([
                rel(c.start),
                rel(c.end.unwrap_or(model.end)),
                c.n,
                c.trigger
            ])
        })
        .collect();
    let mut phases: Vec<Value> = model
        .cycles
        .iter()
        .filter_map(|c| Some(json!([rel(c.mark_start?), rel(c.mark_end?), "mark"])))
        .collect();
    phases.extend(
        model
            .sweeps
            .iter()
            .map(|&(s, e)| json!([rel(s), rel(e), "sweep"])),
    );
    let stw: Vec<Value> = model
        .pauses
        .iter()
        .map(|p| json!([rel(p.start), rel(p.end), p.reason]))
        .collect();
    let heap: Vec<Value> = model
        .heap
        .iter()
        .map(|&(t, live, goal)| json!([rel(t), live, goal]))
        .collect();
    let duration = model.duration();
    let mmu: Vec<Value> = mmu_windows(duration)
        .into_iter()
        .map(|w| json!([w, model.mmu(w)]))
        .collect();
    let data = json!({
        "title": title,
        "clock": if model.ns_per_tick == 1 { "real" } else { "virtual" },
        "ns_per_tick": model.ns_per_tick,
        "duration_ns": duration,
        "procs": procs,
        "gc": gc,
        "phases": phases,
        "stw": stw,
        "heap": heap,
        "mmu": mmu,
        "details": model.details,
        "summary": summary,
    });
    let json = data.to_string().replace('<', "\\u003c");
    TEMPLATE.replacen(PLACEHOLDER, &json, 1)
}

/// Log-spaced windows from 1 µs to `duration` (at least one window).
fn mmu_windows(duration: u64) -> Vec<u64> {
    let lo = 1_000f64;
    let hi = (duration as f64).max(lo);
    let mut out: Vec<u64> = (0..MMU_POINTS)
        .map(|i| (lo * (hi / lo).powf(i as f64 / (MMU_POINTS - 1) as f64)).round() as u64)
        .collect();
    out.dedup();
    out
}

/// The row's segments, merged into about `quota` pieces (at most twice
/// that): neighbours are joined while the joined piece spans at most the
/// row's length over `quota`. Each piece comes with how many segments it
/// stands for; a merged piece takes the activity that covers most of it
/// and spans the idle gaps between its segments (it is narrower than a
/// pixel at the page's full view, where that cannot be seen).
fn coalesce(row: &[Segment], quota: usize) -> Vec<(Segment, usize)> {
    if row.len() <= quota {
        return row.iter().cloned().map(|s| (s, 1)).collect();
    }
    let span = row.last().map_or(0, |s| s.end) - row.first().map_or(0, |s| s.start);
    let width = (span / quota as u64).max(1);
    let mut out: Vec<(Segment, usize)> = Vec::with_capacity(quota + 1);
    let mut busiest: Vec<(super::analysis::Activity, u64)> = Vec::new();
    for s in row {
        let joinable = out
            .last()
            .is_some_and(|(first, _)| s.end - first.start <= width);
        if joinable {
            let (piece, n) = out.last_mut().expect("checked");
            piece.end = s.end;
            piece.detail = None;
            *n += 1;
        } else {
            if let Some((piece, n)) = out.last_mut() {
                if *n > 1 {
                    piece.activity = main_activity(&busiest);
                }
            }
            busiest.clear();
            out.push((s.clone(), 1));
        }
        match busiest.iter_mut().find(|(a, _)| *a == s.activity) {
            Some((_, t)) => *t += s.end - s.start,
            None => busiest.push((s.activity, s.end - s.start)),
        }
    }
    if let Some((piece, n)) = out.last_mut() {
        if *n > 1 {
            piece.activity = main_activity(&busiest);
        }
    }
    out
}

/// The activity with the most time.
fn main_activity(times: &[(super::analysis::Activity, u64)]) -> super::analysis::Activity {
    times
        .iter()
        .max_by_key(|(_, t)| *t)
        .map_or(super::analysis::Activity::Goroutine, |(a, _)| *a)
}
