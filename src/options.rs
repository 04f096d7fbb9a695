//! Run options: what the command line and the environment can configure.
//!
//! An [`Options`] value is built in three layers, each overriding the last:
//!
//! 1. Defaults ([`Options::default`]): `SKEINGC` 100, no heap limit, no debug
//!    modes, text traces, the number of processors left to the runtime.
//! 2. The environment ([`Options::apply_env`]), read the way Go reads its own:
//!    - `SKEINGC=N|off` is `GOGC`: a percentage (`0` collects continuously,
//!      `off` disables the automatic trigger). A value that is neither a
//!      non-negative integer nor `off` is reported and ignored (Go silently
//!      falls back to 100; a warning catches typos sooner).
//!    - `SKEINDEBUG=name=val,...` is `GODEBUG`: `gctrace`, `gcstoptheworld`,
//!      `gccheckmark`, `greenteagc`, `gcstress` and `buggify`, each `0` or `1`
//!      (`gcstress` also takes `2`, see [`Options::gcstress`]; `buggify`
//!      acts under `--sim` only, see [`Options::buggify`]). Unknown names and bad
//!      values are reported with a warning and ignored, so a script that sets
//!      a setting a newer Skein knows still runs on an older one.
//!    - `SKEINMAXPROCS=N` is `GOMAXPROCS`: a positive integer, at most
//!      [`MAX_PROCS`] (a larger one is used as the maximum, with a
//!      warning).
//! 3. Command-line flags, applied by `main` after the environment, so a flag
//!    always wins over a variable.
//!
//! Environment parsing takes a lookup function rather than reading
//! `std::env` itself, so tests can feed it values without touching the
//! process environment, and returns its warnings as strings; the caller
//! decides where they go (the binary prints them to stderr as
//! `skein: warning: ...`).
//!
//! [`parse_size`] reads `--max-heap` values: a number (integral or decimal)
//! followed by an optional unit. Units are case-insensitive and binary:
//! `K`, `KB` and `KiB` all mean 1024 bytes, `M`/`MB`/`MiB` 1024², `G`/`GB`/
//! `GiB` 1024³, `T`/`TB`/`TiB` 1024⁴, and `B` or no unit means bytes. A
//! heap limit is a memory budget, so the binary reading is the useful one
//! (the JVM's `-Xmx` reads `64m` the same way).
//!
//! Invariant: every field of [`Options`] can be set from code, so embedders
//! and tests never need the environment or a command line.

pub use skein_vm::sched::MAX_PROCS;
use std::path::PathBuf;

/// The default `SKEINGC` percentage, Go's default `GOGC`: the heap may grow
/// to twice the live heap before the next cycle starts.
pub const DEFAULT_GC_PERCENT: u32 = 100;

/// How a recorded trace is written (`--trace-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TraceFormat {
    /// One event per line (`docs/runtime.md`), stable for snapshot tests.
    #[default]
    Text,
    /// Chrome trace-event JSON, viewable in Perfetto.
    Chrome,
    /// The compact binary recording (`.sktrace`), which `skein trace`
    /// reads; written as the program runs.
    Binary,
}

impl TraceFormat {
    /// The runtime's name for the format.
    pub fn vm(self) -> skein_vm::trace::Format {
        match self {
            TraceFormat::Text => skein_vm::trace::Format::Text,
            TraceFormat::Chrome => skein_vm::trace::Format::Chrome,
            TraceFormat::Binary => skein_vm::trace::Format::Binary,
        }
    }
}

/// Everything that configures one run of a Skein program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Number of processors (`--procs`, `SKEINMAXPROCS`); `None` leaves the
    /// choice to the runtime (the number of CPUs).
    pub procs: Option<usize>,
    /// Deterministic-mode seed (`--sim SEED`); `None` runs in real time.
    pub sim_seed: Option<u64>,
    /// How deterministic mode chooses its schedule (`--sim-strategy`:
    /// `classic`, `random`, `pct[:DEPTH[:STEPS]]`).
    pub sim_strategy: skein_vm::sched::strategy::Strategy,
    /// A recorded schedule to replay (`--sim-schedule TOKEN`, from
    /// `skein explore --shrink`).
    pub sim_schedule: Option<Vec<u32>>,
    /// Where to record an event trace (`--trace FILE`).
    pub trace: Option<PathBuf>,
    /// Record the text trace in memory and hand it back in
    /// [`Run::trace`](crate::Run::trace). Only the embedding API's
    /// [`run`](crate::run) reads it; the command line has no flag for it.
    pub record_trace: bool,
    /// The trace's format (`--trace-format`; by default binary for a
    /// `.sktrace` file, text otherwise).
    pub trace_format: TraceFormat,
    /// The flight recorder (`--trace-flight SIZE`): keep only the most
    /// recent SIZE bytes of the trace, and write them to the `--trace`
    /// file only when the program fails (a runtime error or deadlock),
    /// on SIGQUIT, or at `runtime.trace_snapshot(path)`.
    pub trace_flight: Option<usize>,
    /// Heap limit in bytes (`--max-heap`).
    pub max_heap: Option<usize>,
    /// GOGC-style percentage (`SKEINGC`); `None` is `off`.
    pub gc_percent: Option<u32>,
    /// Print one line per GC cycle to stderr (`--gctrace`,
    /// `SKEINDEBUG=gctrace=1`).
    pub gctrace: bool,
    /// Make every cycle stop-the-world (`SKEINDEBUG=gcstoptheworld=1`).
    pub gcstoptheworld: bool,
    /// Mark a span at a time (Green Tea, `SKEINDEBUG=greenteagc=1`) or an
    /// object at a time (`0`).
    pub greenteagc: bool,
    /// Verify the concurrent mark after each cycle
    /// (`SKEINDEBUG=gccheckmark=1`).
    pub gccheckmark: bool,
    /// The GC stress level (`SKEINDEBUG=gcstress=N`): `0` off; `1` every
    /// allocation asks for a concurrent cycle, which starts at the next
    /// allocation safepoint unless one is already under way; `2` every
    /// allocation safepoint runs a full stop-the-world collection (mark and
    /// sweep) and waits for it, as clox's stress mode collects at every
    /// allocation.
    pub gcstress: u8,
    /// `SKEINDEBUG=buggify=1`: under `--sim`, the schedule also chooses
    /// runtime faults (a collection started at any allocation safepoint,
    /// forced mark assists, a mark worker held back from its P, a worker's
    /// start hand-off delayed, the
    /// collector's coordinator preempted between its steps, the virtual
    /// clock jumped to the next timer); the schedule is `random` unless
    /// `--sim-strategy` names another.
    pub buggify: bool,
    /// Print the program's bytecode to stdout before running it
    /// (`--disasm`).
    pub disasm: bool,
    /// Flush stdout after every line (the `skein` command sets it when
    /// stdout is a terminal, as C stdio and Python do); otherwise stdout is
    /// block-buffered.
    pub line_buffered: bool,
    /// The run owns the process (the `skein` command): a failed write of
    /// the program's output ends the process (141 for a closed pipe, 74
    /// otherwise; `VmOptions::exit_on_output_error`).
    pub owns_process: bool,
    /// The program's arguments, the command-line words after the script
    /// (`os.args`; the REPL has none).
    pub args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            procs: None,
            sim_seed: None,
            sim_strategy: skein_vm::sched::strategy::Strategy::Classic,
            sim_schedule: None,
            trace: None,
            record_trace: false,
            trace_format: TraceFormat::Text,
            trace_flight: None,
            max_heap: None,
            gc_percent: Some(DEFAULT_GC_PERCENT),
            gctrace: false,
            gcstoptheworld: false,
            greenteagc: false,
            gccheckmark: false,
            gcstress: 0,
            buggify: false,
            line_buffered: false,
            owns_process: false,
            disasm: false,
            args: Vec::new(),
        }
    }
}

impl Options {
    /// The defaults; the same as [`Options::default`].
    pub fn new() -> Options {
        Options::default()
    }

    /// Options from the defaults and the process environment, plus the
    /// warnings the environment caused.
    pub fn from_env() -> (Options, Vec<String>) {
        let mut options = Options::new();
        let warnings = options.apply_env(|name| std::env::var(name).ok());
        (options, warnings)
    }

    /// Sets the number of processors.
    pub fn procs(mut self, procs: usize) -> Self {
        self.procs = Some(procs);
        self
    }

    /// Sets the deterministic-mode seed.
    pub fn sim_seed(mut self, seed: u64) -> Self {
        self.sim_seed = Some(seed);
        self
    }

    /// Records a trace to `path` in `format`.
    pub fn trace(mut self, path: impl Into<PathBuf>, format: TraceFormat) -> Self {
        self.trace = Some(path.into());
        self.trace_format = format;
        self
    }

    /// Turns the flight recorder on: the trace keeps the most recent
    /// `bytes` of events and is written only on failure (see
    /// [`Options::trace_flight`](Options#structfield.trace_flight)).
    pub fn trace_flight(mut self, bytes: usize) -> Self {
        self.trace_flight = Some(bytes);
        self
    }

    /// Records the text trace in memory for [`run`](crate::run) to return.
    pub fn record_trace(mut self, on: bool) -> Self {
        self.record_trace = on;
        self
    }

    /// Sets the heap limit in bytes.
    pub fn max_heap(mut self, bytes: usize) -> Self {
        self.max_heap = Some(bytes);
        self
    }

    /// Sets the GOGC-style percentage; `None` disables the automatic trigger.
    pub fn gc_percent(mut self, percent: Option<u32>) -> Self {
        self.gc_percent = percent;
        self
    }

    /// Turns the per-cycle GC trace on or off.
    pub fn gctrace(mut self, on: bool) -> Self {
        self.gctrace = on;
        self
    }

    /// Turns stop-the-world marking for every cycle on or off.
    pub fn gcstoptheworld(mut self, on: bool) -> Self {
        self.gcstoptheworld = on;
        self
    }

    /// Turns the after-each-cycle mark verification on or off.
    pub fn gccheckmark(mut self, on: bool) -> Self {
        self.gccheckmark = on;
        self
    }

    /// Sets how deterministic mode chooses its schedule.
    pub fn sim_strategy(mut self, strategy: skein_vm::sched::strategy::Strategy) -> Self {
        self.sim_strategy = strategy;
        self
    }

    /// Lets a deterministic schedule choose runtime faults too
    /// (`SKEINDEBUG=buggify=1`).
    pub fn buggify(mut self, on: bool) -> Self {
        self.buggify = on;
        self
    }

    /// Turns the stress mode on (level 1, a cycle requested at every
    /// allocation) or off.
    pub fn gcstress(mut self, on: bool) -> Self {
        self.gcstress = u8::from(on);
        self
    }

    /// Sets the stress level (see the `gcstress` field; above 2 is 2).
    pub fn gcstress_level(mut self, level: u8) -> Self {
        self.gcstress = level.min(2);
        self
    }

    /// Turns printing the disassembly before running on or off.
    pub fn disasm(mut self, on: bool) -> Self {
        self.disasm = on;
        self
    }

    /// Sets the program's arguments (`os.args`).
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Applies `SKEINGC`, `SKEINDEBUG` and `SKEINMAXPROCS` as read through
    /// `lookup`, returning one warning per value it ignored.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(value) = lookup("SKEINGC") {
            match parse_gc_percent(&value) {
                Ok(percent) => self.gc_percent = percent,
                Err(e) => warnings.push(e),
            }
        }
        if let Some(value) = lookup("SKEINDEBUG") {
            warnings.extend(self.apply_debug(&value));
        }
        if let Some(value) = lookup("SKEINMAXPROCS") {
            match value.trim().parse::<usize>() {
                Ok(n) if n > MAX_PROCS => {
                    warnings.push(format!(
                        "SKEINMAXPROCS={n} is above the supported maximum; using {MAX_PROCS}"
                    ));
                    self.procs = Some(MAX_PROCS);
                }
                Ok(n) if n > 0 => self.procs = Some(n),
                _ => warnings.push(format!(
                    "ignoring SKEINMAXPROCS={value:?}: expected a positive integer"
                )),
            }
        }
        warnings
    }

    /// Applies one `SKEINDEBUG` value (`name=val,...`), returning warnings
    /// for the settings it ignored.
    pub fn apply_debug(&mut self, value: &str) -> Vec<String> {
        let mut warnings = Vec::new();
        for setting in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, val)) = setting.split_once('=') else {
                warnings.push(format!(
                    "ignoring SKEINDEBUG setting {setting:?}: expected name=value"
                ));
                continue;
            };
            if name.trim() == "gcstress" && val.trim() == "2" {
                self.gcstress = 2;
                continue;
            }
            let on = match val.trim() {
                "0" => false,
                "1" => true,
                _ => {
                    warnings.push(format!(
                        "ignoring SKEINDEBUG setting {setting:?}: value must be 0 or 1"
                    ));
                    continue;
                }
            };
            match name.trim() {
                "gctrace" => self.gctrace = on,
                "gcstoptheworld" => self.gcstoptheworld = on,
                "greenteagc" => self.greenteagc = on,
                "gccheckmark" => self.gccheckmark = on,
                "gcstress" => self.gcstress = u8::from(on),
                "buggify" => self.buggify = on,
                other => warnings.push(format!("unknown SKEINDEBUG setting {other:?} ignored")),
            }
        }
        warnings
    }
}

/// Parses a `SKEINGC` value: a non-negative integer percentage, or `off`
/// (any case) for `None`.
pub fn parse_gc_percent(value: &str) -> Result<Option<u32>, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    v.parse::<u32>()
        .map(Some)
        .map_err(|_| format!("ignoring SKEINGC={value:?}: expected a non-negative integer or off"))
}

/// Parses a size such as `64MB`, `1G`, `512KiB`, `1.5g` or `1048576` into a
/// byte count. See the module docs for the units.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    if number.is_empty() {
        return Err(format!(
            "invalid size {text:?}: expected a number such as 64MB"
        ));
    }
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {unit:?} (use B, KB, MB, GB or TB)"
            ));
        }
    };
    let bytes = if number.contains('.') {
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid size {text:?}: bad number {number:?}"))?;
        let bytes = (value * (1u64 << shift) as f64).floor();
        // `usize::MAX as f64` rounds up to 2^64, so a product that reaches it
        // does not fit.
        if bytes >= usize::MAX as f64 {
            return Err(format!("invalid size {text:?}: too large"));
        }
        bytes as usize
    } else {
        let value: usize = number
            .parse()
            .map_err(|_| format!("invalid size {text:?}: too large"))?;
        value
            .checked_mul(1usize << shift)
            .ok_or_else(|| format!("invalid size {text:?}: too large"))?
    };
    if bytes == 0 {
        return Err(format!("invalid size {text:?}: must be at least one byte"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("64mb"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("512 k"), Ok(512 << 10));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
    }

    #[test]
    fn bad_sizes_are_rejected() {
        for bad in [
            "",
            "MB",
            "0",
            "-1",
            "12XB",
            "1.2.3M",
            "99999999999999999999999",
            "1e3",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse_size("16777216TB").is_err(), "overflow must be caught");
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_sets_gc_and_debug_knobs() {
        let mut o = Options::new();
        let w = o.apply_env(env(&[
            ("SKEINGC", "off"),
            ("SKEINDEBUG", "gcstress=1,gctrace=1"),
            ("SKEINMAXPROCS", "3"),
        ]));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(o.gc_percent, None);
        assert!(o.gcstress == 1 && o.gctrace && !o.gccheckmark);
        assert_eq!(o.procs, Some(3));

        let mut o = Options::new();
        assert!(o.apply_env(env(&[("SKEINDEBUG", "gcstress=2")])).is_empty());
        assert_eq!(o.gcstress, 2);

        let mut o = Options::new();
        assert!(o.apply_env(env(&[("SKEINGC", "250")])).is_empty());
        assert_eq!(o.gc_percent, Some(250));
    }

    #[test]
    fn bad_environment_values_warn_and_keep_defaults() {
        let mut o = Options::new();
        let w = o.apply_env(env(&[
            ("SKEINGC", "lots"),
            ("SKEINDEBUG", "gcstress=3,bogus=1,novalue,gccheckmark=1"),
            ("SKEINMAXPROCS", "0"),
        ]));
        assert_eq!(w.len(), 5, "{w:?}");
        assert!(w.iter().any(|m| m.contains("\"bogus\"")));
        assert_eq!(o.gc_percent, Some(DEFAULT_GC_PERCENT));
        assert!(o.gcstress == 0 && o.gccheckmark);
        assert_eq!(o.procs, None);
    }
}
