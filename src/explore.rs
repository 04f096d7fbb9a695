//! `skein explore`: run a program under many deterministic schedules,
//! tell its distinct outcomes apart, and shrink a failing schedule.
//!
//! Deterministic mode (`--sim SEED`) runs the real scheduler from one
//! thread, every choice drawn from the seed, so a seed is a schedule that
//! replays byte for byte. Under the `random` and `pct` strategies
//! (`skein_vm::sched::strategy`) the seed chooses every scheduling
//! decision Go allows: preemption at any safepoint, which runnable
//! goroutine runs next and where, and the order of timers due together.
//! Exploring is running the same program under many seeds and seeing
//! whether they all end the same way.
//!
//! # Steps
//!
//! 1. Compile the program once; every run loads the same plain-data
//!    `Program`.
//! 2. PCT needs the program's length in driver steps: one run of the first
//!    seed under PCT without change points measures it.
//! 3. `jobs` threads take seed indices in turn from a shared counter until
//!    `seeds` runs are done or the time limit has passed. Seed `first + i`
//!    runs under strategy `i mod n` of the `n` given (by default `random`
//!    and `pct` alternate). Each run makes a fresh VM in deterministic mode,
//!    its output in memory, and runs the program. A watchdog ends a run
//!    that takes longer than the timeout (`Runtime::quit`), which makes it
//!    an outcome of its own.
//! 4. A run's outcome is its exit status, the first line of its error
//!    output, and a hash of its whole standard output. Outcomes are
//!    counted per strategy, and each keeps the smallest seed that produced
//!    it: the run to replay (`skein --sim SEED --procs P --sim-strategy S
//!    FILE`).
//!
//! Shrinking (`--shrink SEED`) reruns one seed, keeps the decisions its
//! schedule made, and then, by delta debugging, zeroes groups of them (0
//! is the choice that perturbs least: keep running the same goroutine,
//! take a long chunk) while the outcome stays the same, halving the groups
//! when none can go. What is left replays with `--sim-schedule TOKEN`.
//!
//! Invariant: a seed's outcome is the same however many jobs run and in
//! whichever order they take seeds, because each run is deterministic and
//! shares nothing with the others.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use skein_vm::sched::strategy::Strategy;
use skein_vm::sched::strategy::{encode_schedule, PCT_DEPTH};

use crate::{Options, SharedBuffer, EXIT_RUNTIME};

/// Runs a program under many seeds (see the module docs). A builder:
/// `Explore::new(src).seeds(1000).procs(4).run()`.
#[derive(Clone, Debug)]
pub struct Explore {
    src: String,
    seeds: u64,
    first: u64,
    procs: usize,
    jobs: usize,
    timeout: Duration,
    time: Option<Duration>,
    strategies: Vec<Strategy>,
}

/// One distinct way the program ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The exit status the `skein` command would give.
    pub exit_code: i32,
    /// The first line of the error output (empty when there was none).
    pub stderr: String,
    /// A hash of the whole standard output.
    pub stdout_hash: u64,
    /// The last line of the standard output (to tell outcomes apart at a
    /// glance).
    pub stdout_tail: String,
    /// How many runs ended this way.
    pub count: u64,
    /// The smallest seed that did.
    pub seed: u64,
    /// The strategy that seed ran under.
    pub strategy: Strategy,
    /// Per strategy that found it: the strategy, its runs that ended this
    /// way, and its smallest seed that did.
    pub found_by: Vec<(Strategy, u64, u64)>,
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Outcomes {
    /// The runs made.
    pub runs: u64,
    /// The processors each ran with.
    pub procs: usize,
    /// The strategies the seeds took in turn (PCT's steps measured).
    pub strategies: Vec<Strategy>,
    /// The distinct outcomes, most frequent first (ties by smallest seed).
    pub outcomes: Vec<Outcome>,
    /// The wall time the exploration took.
    pub elapsed: Duration,
}

/// The key outcomes are told apart by.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Key {
    exit_code: i32,
    stderr: String,
    stdout_hash: u64,
}

/// One run's result.
struct Run {
    key: Key,
    /// The last line of its output.
    tail: String,
    /// The decisions its schedule made, and the driver's steps.
    schedule: (Vec<u32>, u64),
    /// Its text trace, when asked for.
    trace: Option<String>,
    /// A replay's last switches between goroutines, with source lines.
    switches: Vec<String>,
}

/// The error line of a run the watchdog ended.
pub const TIMED_OUT: &str = "explore: the run took longer than its timeout";

impl Explore {
    /// An exploration of `src` with the defaults: 1,000 seeds from 0, 2
    /// processors, one job per CPU, 10 s per run, `random` and `pct`
    /// alternating.
    pub fn new(src: impl Into<String>) -> Explore {
        Explore {
            src: src.into(),
            seeds: DEFAULT_SEEDS,
            first: 0,
            procs: DEFAULT_PROCS,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            timeout: DEFAULT_TIMEOUT,
            time: None,
            strategies: default_strategies(PCT_DEPTH),
        }
    }

    /// How many seeds to run.
    pub fn seeds(mut self, n: u64) -> Self {
        self.seeds = n;
        self
    }

    /// The first seed (the others follow it).
    pub fn first_seed(mut self, seed: u64) -> Self {
        self.first = seed;
        self
    }

    /// The processors every run has (`--procs`).
    pub fn procs(mut self, procs: usize) -> Self {
        self.procs = procs.max(1);
        self
    }

    /// How many runs go on at once.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// How long one run may take before it is ended (an outcome of its
    /// own).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs seeds until this much time has passed (and at most `seeds`
    /// of them).
    pub fn time(mut self, limit: Duration) -> Self {
        self.time = Some(limit);
        self
    }

    /// One strategy for every seed.
    pub fn strategy(self, strategy: Strategy) -> Self {
        self.strategies(vec![strategy])
    }

    /// Strategies the seeds take in turn (seed `first + i` runs under
    /// `strategies[i % len]`). A `pct` strategy with [`PCT_STEPS_MEASURED`]
    /// steps has them measured by a first run.
    pub fn strategies(mut self, strategies: Vec<Strategy>) -> Self {
        if !strategies.is_empty() {
            self.strategies = strategies;
        }
        self
    }

    /// Explores; `Err` holds the compile errors.
    pub fn run(&self) -> Result<Outcomes, String> {
        self.run_with_progress(&|_, _, _| {})
    }

    /// Explores, calling `progress(done, total, distinct)` now and then
    /// from the calling thread.
    pub fn run_with_progress(
        &self,
        progress: &dyn Fn(u64, u64, usize),
    ) -> Result<Outcomes, String> {
        let program = compile(&self.src)?;
        let started = Instant::now();
        let strategies = self.measured(&program, &self.strategies);
        let next = AtomicU64::new(0);
        let done = AtomicU64::new(0);
        // Per key: per strategy index, (count, smallest seed), and a tail.
        type Found = HashMap<Key, (Vec<(u64, u64)>, String)>;
        let found: Mutex<Found> = Mutex::new(HashMap::new());
        let stop_at = self.time.map(|t| started + t);
        let active = std::sync::atomic::AtomicUsize::new(self.jobs);
        std::thread::scope(|scope| {
            for _ in 0..self.jobs {
                scope.spawn(|| {
                    loop {
                        if stop_at.is_some_and(|t| Instant::now() >= t) {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= self.seeds {
                            break;
                        }
                        let seed = self.first.wrapping_add(i);
                        let which = (i % strategies.len() as u64) as usize;
                        let run = run_one(
                            &program,
                            &Setup {
                                seed,
                                procs: self.procs,
                                timeout: self.timeout,
                                strategy: strategies[which],
                                replay: None,
                                trace: false,
                            },
                        );
                        let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
                        let entry = f
                            .entry(run.key)
                            .or_insert_with(|| (vec![(0, u64::MAX); strategies.len()], run.tail));
                        let slot = &mut entry.0[which];
                        slot.0 += 1;
                        slot.1 = slot.1.min(seed);
                        drop(f);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    active.fetch_sub(1, Ordering::AcqRel);
                });
            }
            // Progress from this thread until every job has stopped.
            loop {
                let finished = active.load(Ordering::Acquire) == 0;
                let distinct = found.lock().unwrap_or_else(|p| p.into_inner()).len();
                progress(done.load(Ordering::Relaxed), self.seeds, distinct);
                if finished {
                    break;
                }
                std::thread::sleep(PROGRESS_EVERY);
            }
        });
        let found = found.into_inner().unwrap_or_else(|p| p.into_inner());
        let runs = done.load(Ordering::Relaxed);
        let mut outcomes: Vec<Outcome> = found
            .into_iter()
            .map(|(k, (per, tail))| {
                let found_by: Vec<(Strategy, u64, u64)> = per
                    .iter()
                    .zip(&strategies)
                    .filter(|((count, _), _)| *count > 0)
                    .map(|(&(count, seed), &s)| (s, count, seed))
                    .collect();
                let &(strategy, _, seed) = found_by
                    .iter()
                    .min_by_key(|f| f.2)
                    .expect("an outcome has a run");
                Outcome {
                    exit_code: k.exit_code,
                    stderr: k.stderr,
                    stdout_hash: k.stdout_hash,
                    stdout_tail: tail,
                    count: found_by.iter().map(|f| f.1).sum(),
                    seed,
                    strategy,
                    found_by,
                }
            })
            .collect();
        outcomes.sort_by(|a, b| b.count.cmp(&a.count).then(a.seed.cmp(&b.seed)));
        Ok(Outcomes {
            runs,
            procs: self.procs,
            strategies,
            outcomes,
            elapsed: started.elapsed(),
        })
    }

    /// The strategies, with PCT's step estimate measured where asked for:
    /// the steps of the first seed's run under PCT without change points.
    fn measured(
        &self,
        program: &skein_bytecode::Program,
        strategies: &[Strategy],
    ) -> Vec<Strategy> {
        let mut steps = None;
        strategies
            .iter()
            .map(|&s| match s {
                Strategy::Pct {
                    depth,
                    steps: PCT_STEPS_MEASURED,
                } => {
                    let k = *steps.get_or_insert_with(|| {
                        let run = run_one(
                            program,
                            &Setup {
                                seed: self.first,
                                procs: self.procs,
                                timeout: self.timeout,
                                strategy: Strategy::Pct { depth: 1, steps: 1 },
                                replay: None,
                                trace: false,
                            },
                        );
                        run.schedule.1.max(1)
                    });
                    Strategy::Pct { depth, steps: k }
                }
                s => s,
            })
            .collect()
    }

    /// Shrinks the schedule of `seed` under `strategy` (see the module
    /// docs); `Err` holds the compile errors, or says that `classic`
    /// cannot be shrunk.
    pub fn shrink(&self, seed: u64, strategy: Strategy) -> Result<Shrunk, String> {
        if strategy == Strategy::Classic {
            return Err(
                "explore: --shrink needs the random or pct strategy (classic records no decisions)"
                    .into(),
            );
        }
        let program = compile(&self.src)?;
        let strategy = self.measured(&program, &[strategy])[0];
        let setup = |replay: Option<Vec<u32>>, trace: bool| Setup {
            seed,
            procs: self.procs,
            timeout: self.timeout,
            strategy,
            replay,
            trace,
        };
        let first = run_one(&program, &setup(None, false));
        let target = first.key.clone();
        let before = first.schedule.0;
        let mut best = before.clone();
        let mut tries = 0u64;
        // Delta debugging over the non-zero decisions: zero a group; keep
        // the result (as the replay recorded it) if the outcome held.
        let mut groups = 2usize;
        loop {
            let nonzero: Vec<usize> = (0..best.len()).filter(|&i| best[i] != 0).collect();
            if nonzero.is_empty() || tries >= SHRINK_TRIES {
                break;
            }
            let groups_now = groups.min(nonzero.len());
            let size = nonzero.len().div_ceil(groups_now);
            let mut reduced = false;
            for chunk in nonzero.chunks(size) {
                if tries >= SHRINK_TRIES {
                    break;
                }
                let mut candidate = best.clone();
                for &i in chunk {
                    candidate[i] = 0;
                }
                tries += 1;
                let run = run_one(&program, &setup(Some(candidate), false));
                if run.key == target {
                    best = run.schedule.0;
                    reduced = true;
                    break;
                }
            }
            if reduced {
                groups = groups.saturating_sub(1).max(2);
            } else if groups_now >= nonzero.len() {
                break;
            } else {
                groups = (groups * 2).min(nonzero.len());
            }
        }
        // Trailing zeros are implied: cut them for the count too.
        let end = best.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
        best.truncate(end);
        let last = run_one(&program, &setup(Some(best.clone()), true));
        let replays = last.key == target;
        Ok(Shrunk {
            seed,
            procs: self.procs,
            strategy,
            exit_code: target.exit_code,
            stderr: target.stderr,
            stdout_tail: first.tail,
            before_decisions: before.len(),
            before_perturbations: before.iter().filter(|&&d| d != 0).count(),
            after_perturbations: best.iter().filter(|&&d| d != 0).count(),
            token: encode_schedule(&best),
            tries,
            replays,
            trace: last.trace.unwrap_or_default(),
            switches: last.switches,
        })
    }
}

/// A shrunk schedule (`Explore::shrink`).
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub seed: u64,
    pub procs: usize,
    pub strategy: Strategy,
    /// The outcome kept: exit status, first error line, last output line.
    pub exit_code: i32,
    pub stderr: String,
    pub stdout_tail: String,
    /// Decisions the seed's schedule made, and how many of them were not
    /// the least perturbing choice.
    pub before_decisions: usize,
    pub before_perturbations: usize,
    /// Perturbing decisions left in the shrunk schedule.
    pub after_perturbations: usize,
    /// The shrunk schedule, for `--sim-schedule`.
    pub token: String,
    /// Runs the shrinking made.
    pub tries: u64,
    /// Whether the shrunk schedule, replayed, ends the same way.
    pub replays: bool,
    /// The text trace of the shrunk schedule.
    pub trace: String,
    /// The shrunk schedule's last switches between goroutines, each with
    /// the source line the goroutine left behind had reached.
    pub switches: Vec<String>,
}

impl Shrunk {
    /// The command that replays the shrunk schedule of `file`.
    pub fn command(&self, file: &str) -> String {
        format!(
            "skein --sim {} --procs {} --sim-strategy {} --sim-schedule {} {file}",
            self.seed, self.procs, self.strategy, self.token
        )
    }

    /// The report `skein explore --shrink` prints: the counts, the
    /// command, and the goroutine events of the trace's last
    /// [`TRACE_TAIL`] scheduling steps.
    pub fn report(&self, file: &str) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "seed {} under {} at --procs {}: exit status {}{}",
            self.seed,
            self.strategy,
            self.procs,
            self.exit_code,
            if self.stderr.is_empty() {
                format!(", output ending {:?}", self.stdout_tail)
            } else {
                format!(", {}", self.stderr)
            }
        );
        let _ = writeln!(
            o,
            "schedule: {} decisions, {} perturbing; shrunk to {} perturbing in {} runs",
            self.before_decisions, self.before_perturbations, self.after_perturbations, self.tries
        );
        let _ = writeln!(
            o,
            "replay:   {}{}",
            self.command(file),
            if self.replays {
                ""
            } else {
                "  (did NOT reproduce)"
            }
        );
        let _ = writeln!(
            o,
            "\nhow the goroutines interleaved (the last {} switches):",
            self.switches.len()
        );
        for s in &self.switches {
            let _ = writeln!(o, "  {s}");
        }
        let events: Vec<&str> = self
            .trace
            .lines()
            .filter(|l| {
                [
                    "GoCreate",
                    "GoStart",
                    "GoPreempt",
                    "GoSched",
                    "GoPark",
                    "GoUnpark",
                    "GoEnd",
                ]
                .iter()
                .any(|k| l.split_whitespace().any(|w| w == *k))
            })
            .collect();
        let from = events.len().saturating_sub(TRACE_TAIL);
        let _ = writeln!(
            o,
            "\nthe goroutines' last {} scheduling events (skein trace text):",
            events.len() - from
        );
        for l in &events[from..] {
            let _ = writeln!(o, "  {l}");
        }
        o
    }
}

/// Scheduling events the shrink report shows.
pub const TRACE_TAIL: usize = 40;

/// Runs a shrink makes at most: a schedule of a few thousand decisions
/// shrinks in far fewer, and each run of a small program takes
/// milliseconds.
const SHRINK_TRIES: u64 = 2_000;

/// `pct` with this many steps means: measure them with a first run.
pub const PCT_STEPS_MEASURED: u64 = 0;

/// `random` and `pct` (depth `depth`, steps measured), in turn.
pub fn default_strategies(depth: u32) -> Vec<Strategy> {
    vec![
        Strategy::Random,
        Strategy::Pct {
            depth,
            steps: PCT_STEPS_MEASURED,
        },
    ]
}

/// Seeds run by default: enough that an outcome one run in a hundred has
/// shows up with near certainty.
pub const DEFAULT_SEEDS: u64 = 1000;
/// Processors by default: the smallest number at which goroutines run in
/// parallel.
pub const DEFAULT_PROCS: usize = 2;
/// A run's time limit by default: far above a test program's run, short
/// enough that a program stuck in a loop does not stall the exploration.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

fn compile(src: &str) -> Result<skein_bytecode::Program, String> {
    skein_compiler::compile(src).map_err(|diagnostics| {
        diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// How to make one run.
struct Setup {
    seed: u64,
    procs: usize,
    timeout: Duration,
    strategy: Strategy,
    replay: Option<Vec<u32>>,
    trace: bool,
}

/// Runs `program` once as `setup` says.
fn run_one(program: &skein_bytecode::Program, setup: &Setup) -> Run {
    let mut opts = Options::new();
    opts.sim_seed = Some(setup.seed);
    opts.procs = Some(setup.procs);
    opts.sim_strategy = setup.strategy;
    opts.sim_schedule = setup.replay.clone();
    opts.record_trace = setup.trace;
    let out = SharedBuffer::default();
    let mut vm = crate::new_vm(&opts, Box::new(out.clone()), false);
    let rt = Arc::clone(vm.runtime());
    // The watchdog: ends the run when it outlives the timeout.
    let finished = Arc::new((Mutex::new(false), Condvar::new()));
    let watch = {
        let finished = Arc::clone(&finished);
        let rt = Arc::clone(&rt);
        let timeout = setup.timeout;
        std::thread::spawn(move || {
            let (lock, cond) = &*finished;
            let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let (guard, wait) = cond
                .wait_timeout_while(guard, timeout, |done| !*done)
                .unwrap_or_else(|p| p.into_inner());
            if wait.timed_out() && !*guard {
                rt.quit(TIMED_OUT);
            }
        })
    };
    let result = vm.run(program);
    vm.flush();
    {
        let (lock, cond) = &*finished;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cond.notify_all();
    }
    let _ = watch.join();
    let schedule = rt.sim_schedule().unwrap_or_default();
    let switches = rt.sim_switches();
    let trace = setup.trace.then(|| {
        let mut text = Vec::new();
        let _ = vm.write_trace(skein_vm::trace::Format::Text, &mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    drop(vm);
    let stdout = out.take_string();
    let (exit_code, stderr) = match &result {
        Ok(()) => (0, String::new()),
        Err(e) if e.exit.is_some() => (e.exit.unwrap_or(0), String::new()),
        Err(e) => (
            EXIT_RUNTIME,
            e.message.lines().next().unwrap_or("").to_string(),
        ),
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    stdout.hash(&mut h);
    let tail = stdout.lines().last().unwrap_or("").to_string();
    Run {
        key: Key {
            exit_code,
            stderr,
            stdout_hash: h.finish(),
        },
        tail,
        schedule,
        trace,
        switches,
    }
}

impl Outcomes {
    /// The command that replays `out`'s first seed of the program at
    /// `file`.
    pub fn replay(&self, out: &Outcome, file: &str) -> String {
        let strategy = match out.strategy {
            Strategy::Classic => String::new(),
            s => format!(" --sim-strategy {s}"),
        };
        format!(
            "skein --sim {} --procs {}{strategy} {file}",
            out.seed, self.procs
        )
    }

    /// The outcome reached by the fewest runs (the rare one, usually the
    /// bug), if there are several.
    pub fn rarest(&self) -> Option<&Outcome> {
        if self.outcomes.len() < 2 {
            return None;
        }
        self.outcomes.last()
    }

    /// True when every run ended the same way.
    pub fn is_uniform(&self) -> bool {
        self.outcomes.len() <= 1
    }

    /// The outcome table `skein explore` prints, for the program at
    /// `file`.
    pub fn table(&self, file: &str) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} runs of {file} at --procs {} in {:.1} s: {} distinct outcome{}",
            self.runs,
            self.procs,
            self.elapsed.as_secs_f64(),
            self.outcomes.len(),
            if self.outcomes.len() == 1 { "" } else { "s" }
        );
        let names: Vec<String> = self.strategies.iter().map(|s| s.to_string()).collect();
        let _ = writeln!(o, "strategies: {}", names.join(", "));
        for (i, out) in self.outcomes.iter().enumerate() {
            let _ = writeln!(o);
            let share = out.count as f64 * 100.0 / self.runs.max(1) as f64;
            let _ = writeln!(
                o,
                "outcome {}: {} run{} ({share:.1}%)",
                i + 1,
                out.count,
                if out.count == 1 { "" } else { "s" }
            );
            let _ = writeln!(o, "  exit status:  {}", out.exit_code);
            if !out.stderr.is_empty() {
                let _ = writeln!(o, "  error:        {}", out.stderr);
            }
            let _ = writeln!(
                o,
                "  stdout:       {:016x}, ending {:?}",
                out.stdout_hash, out.stdout_tail
            );
            let _ = writeln!(o, "  first seed:   {}", out.seed);
            for (strategy, count, seed) in &out.found_by {
                let _ = writeln!(
                    o,
                    "  found by:     {strategy}: {count} run{}, first seed {seed}",
                    if *count == 1 { "" } else { "s" }
                );
            }
            let _ = writeln!(o, "  replay:       {}", self.replay(out, file));
        }
        o
    }
}

/// `skein explore`'s command line.
#[derive(clap::Parser, Debug)]
#[command(
    name = "skein explore",
    about = "Run a program under many deterministic schedules (--sim seeds) and list its distinct outcomes"
)]
struct ExploreCli {
    /// How many seeds to run.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SEEDS)]
    seeds: u64,
    /// Stop after this many seconds (and at most --seeds runs).
    #[arg(long, value_name = "SECS")]
    time: Option<f64>,
    /// The first seed; the others follow it.
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    first_seed: u64,
    /// Processors (Ps) of every run.
    #[arg(long, value_name = "P", default_value_t = DEFAULT_PROCS as u32,
          value_parser = clap::value_parser!(u32).range(1..=crate::options::MAX_PROCS as i64))]
    procs: u32,
    /// Runs at once (default: the CPU count).
    #[arg(long, value_name = "J")]
    jobs: Option<usize>,
    /// Seconds one run may take before it is ended.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT.as_secs_f64())]
    timeout: f64,
    /// Schedule strategies the seeds take in turn, comma-separated:
    /// random, pct, pct:DEPTH:STEPS or classic (default random,pct; PCT's
    /// steps are measured by a first run unless given).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_strategy)]
    strategy: Vec<Strategy>,
    /// PCT's depth (change points plus one) where --strategy names pct
    /// without one.
    #[arg(long, value_name = "D", default_value_t = PCT_DEPTH,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    depth: u32,
    /// Shrink this seed's schedule instead of exploring: print the
    /// shortest schedule found that ends the same way, as a
    /// --sim-schedule token, and its trace (first strategy of --strategy,
    /// default random).
    #[arg(long, value_name = "SEED")]
    shrink: Option<u64>,
    /// The program.
    file: std::path::PathBuf,
}

/// A `--strategy` entry: `pct` alone (and `pct:D`) keeps its steps to be
/// measured, and its depth to come from `--depth`.
fn parse_strategy(s: &str) -> Result<Strategy, String> {
    match s {
        "pct" => Ok(Strategy::Pct {
            depth: 0,
            steps: PCT_STEPS_MEASURED,
        }),
        _ if s.starts_with("pct:") && s.matches(':').count() == 1 => {
            match s.parse::<Strategy>()? {
                Strategy::Pct { depth, .. } => Ok(Strategy::Pct {
                    depth,
                    steps: PCT_STEPS_MEASURED,
                }),
                other => Ok(other),
            }
        }
        _ => s.parse(),
    }
}

/// Runs `skein explore ...` (`args` starts at `explore`) and answers the
/// exit status: 0 when every run ended the same way, 1 when they did not,
/// 64 for a bad command line, 65 when the program does not compile, 74
/// when it cannot be read.
pub fn main(args: Vec<std::ffi::OsString>) -> i32 {
    use clap::Parser;
    use std::io::{IsTerminal, Write};
    let mut words = vec![std::ffi::OsString::from("skein explore")];
    words.extend(args.into_iter().skip(1));
    let cli = match ExploreCli::try_parse_from(words) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { crate::EXIT_USAGE } else { 0 };
        }
    };
    let src = match crate::read_script(&cli.file) {
        Ok(src) => src,
        Err(message) => {
            eprintln!("{message}");
            return crate::EXIT_IO;
        }
    };
    let mut explore = Explore::new(src)
        .seeds(cli.seeds)
        .first_seed(cli.first_seed)
        .procs(cli.procs as usize)
        .timeout(Duration::from_secs_f64(cli.timeout.max(0.001)));
    if let Some(j) = cli.jobs {
        explore = explore.jobs(j);
    }
    if let Some(t) = cli.time {
        explore = explore.time(Duration::from_secs_f64(t.max(0.0)));
    }
    let strategies: Vec<Strategy> = cli
        .strategy
        .iter()
        .map(|&s| match s {
            Strategy::Pct { depth: 0, steps } => Strategy::Pct {
                depth: cli.depth,
                steps,
            },
            s => s,
        })
        .collect();
    let file = cli.file.display().to_string();
    if let Some(seed) = cli.shrink {
        let strategy = strategies.first().copied().unwrap_or(Strategy::Random);
        if strategy == Strategy::Classic {
            eprintln!("skein explore: --shrink needs --strategy random or pct (classic records no decisions)");
            return crate::EXIT_USAGE;
        }
        return match explore.shrink(seed, strategy) {
            Ok(shrunk) => {
                print!("{}", shrunk.report(&file));
                if shrunk.replays {
                    0
                } else {
                    1
                }
            }
            Err(diagnostics) => {
                eprintln!("{diagnostics}");
                crate::EXIT_COMPILE
            }
        };
    }
    explore = if strategies.is_empty() {
        explore.strategies(default_strategies(cli.depth))
    } else {
        explore.strategies(strategies)
    };
    let tty = std::io::stderr().is_terminal();
    let progress = |done: u64, total: u64, distinct: usize| {
        if !tty {
            return;
        }
        // A bar of 30 cells: wide enough to move visibly, narrow enough
        // for any terminal with the counts beside it.
        let cells = (done * 30 / total.max(1)) as usize;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rexplore [{}{}] {done}/{total} runs, {distinct} outcome{} ",
            "#".repeat(cells),
            ".".repeat(30 - cells.min(30)),
            if distinct == 1 { "" } else { "s" }
        );
        let _ = err.flush();
    };
    let outcomes = explore.run_with_progress(&progress);
    if tty {
        eprintln!();
    }
    match outcomes {
        Ok(found) => {
            print!("{}", found.table(&file));
            if found.is_uniform() {
                0
            } else {
                1
            }
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            crate::EXIT_COMPILE
        }
    }
}
