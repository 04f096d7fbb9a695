//! `skein explore`: run a program under many deterministic schedules and
//! tell its distinct outcomes apart.
//!
//! Deterministic mode (`--sim SEED`) runs the real scheduler from one
//! thread, every choice drawn from the seed, so a seed is a schedule that
//! replays byte for byte. Exploring is running the same program under many
//! seeds and seeing whether they all end the same way.
//!
//! # Steps
//!
//! 1. Compile the program once; every run loads the same plain-data
//!    `Program`.
//! 2. `jobs` threads take seeds in turn from a shared counter (`first`,
//!    `first + 1`, ...) until `seeds` runs are done or the time limit has
//!    passed. Each run makes a fresh VM in deterministic mode with that
//!    seed, its output in memory, and runs the program. A watchdog ends a
//!    run that takes longer than the timeout (`Runtime::quit`), which
//!    makes it an outcome of its own.
//! 3. A run's outcome is its exit status, the first line of its error
//!    output, and a hash of its whole standard output. Outcomes are
//!    counted, and each keeps the smallest seed that produced it: the run
//!    to replay (`skein --sim SEED --procs P FILE`).
//!
//! Invariant: a seed's outcome is the same however many jobs run and in
//! whichever order they take seeds, because each run is deterministic and
//! shares nothing with the others.
//!
//! What the seed chooses today is what deterministic mode chooses (time
//! slices, the interleaving of the Ps, `select`, work stealing,
//! `math.random`); finer schedule choices are future work, recorded in the
//! README.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

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
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Outcomes {
    /// The runs made.
    pub runs: u64,
    /// The processors each ran with.
    pub procs: usize,
    /// The distinct outcomes, most frequent first (ties by smallest seed).
    pub outcomes: Vec<Outcome>,
    /// The wall time the exploration took.
    pub elapsed: Duration,
}

/// The key outcomes are told apart by.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    exit_code: i32,
    stderr: String,
    stdout_hash: u64,
}

/// The error line of a run the watchdog ended.
pub const TIMED_OUT: &str = "explore: the run took longer than its timeout";

impl Explore {
    /// An exploration of `src` with the defaults: 1,000 seeds from 0, 2
    /// processors, one job per CPU, 10 s per run.
    pub fn new(src: impl Into<String>) -> Explore {
        Explore {
            src: src.into(),
            seeds: DEFAULT_SEEDS,
            first: 0,
            procs: DEFAULT_PROCS,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            timeout: DEFAULT_TIMEOUT,
            time: None,
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
        let program = skein_compiler::compile(&self.src).map_err(|diagnostics| {
            diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let started = Instant::now();
        let next = AtomicU64::new(0);
        let done = AtomicU64::new(0);
        let found: Mutex<HashMap<Key, (u64, u64, String)>> = Mutex::new(HashMap::new());
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
                        let (key, tail) = run_one(&program, seed, self.procs, self.timeout);
                        let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
                        let entry = f.entry(key).or_insert((0, seed, tail));
                        entry.0 += 1;
                        entry.1 = entry.1.min(seed);
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
            .map(|(k, (count, seed, tail))| Outcome {
                exit_code: k.exit_code,
                stderr: k.stderr,
                stdout_hash: k.stdout_hash,
                stdout_tail: tail,
                count,
                seed,
            })
            .collect();
        outcomes.sort_by(|a, b| b.count.cmp(&a.count).then(a.seed.cmp(&b.seed)));
        Ok(Outcomes {
            runs,
            procs: self.procs,
            outcomes,
            elapsed: started.elapsed(),
        })
    }
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

/// Runs `program` once under `seed` and returns its outcome key and the
/// last line of its output.
fn run_one(
    program: &skein_bytecode::Program,
    seed: u64,
    procs: usize,
    timeout: Duration,
) -> (Key, String) {
    let mut opts = Options::new();
    opts.sim_seed = Some(seed);
    opts.procs = Some(procs);
    let out = SharedBuffer::default();
    let mut vm = crate::new_vm(&opts, Box::new(out.clone()), false);
    let rt = Arc::clone(vm.runtime());
    // The watchdog: ends the run when it outlives the timeout.
    let finished = Arc::new((Mutex::new(false), Condvar::new()));
    let watch = {
        let finished = Arc::clone(&finished);
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
    (
        Key {
            exit_code,
            stderr,
            stdout_hash: h.finish(),
        },
        tail,
    )
}

impl Outcomes {
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
            let _ = writeln!(
                o,
                "  replay:       skein --sim {} --procs {} {file}",
                out.seed, self.procs
            );
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
    /// The program.
    file: std::path::PathBuf,
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
            print!("{}", found.table(&cli.file.display().to_string()));
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
