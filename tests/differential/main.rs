//! Differential test: Skein against clox on random programs.
//!
//! clox, built from the reference C sources beside the repository, is the
//! oracle for everything Skein promises to do exactly as clox does:
//! output, compile errors with their recovery, runtime errors with the
//! lines of their stack traces, and exit codes.
//!
//! Algorithm:
//! 1. Build clox into the build directory (`oracle.rs`); without the
//!    sources, say that the oracle is absent and pass.
//! 2. For case `i` of each kind, derive a program seed from the run's seed.
//!    A *valid* case is a generated program (`gen.rs`); a *mutated* case is
//!    a generated program with one to three token edits (`mutate.rs`).
//! 3. Run both interpreters on it and compare (`compare.rs`), modulo the
//!    documented deviations, which are counted by name.
//! 4. For each difference (up to [`SHOWN`]), shrink the program
//!    (`minimize.rs`) and print the case seed, both outcomes and the
//!    shrunk program. The test fails if any difference remains.
//!
//! Knobs (environment variables):
//! - `SKEIN_DIFF_VALID`, `SKEIN_DIFF_MUTATED`: case counts (1,000 each by
//!   default, about half a minute on two cores).
//! - `SKEIN_DIFF_SEED`: the run's seed (default 1, so CI is repeatable).
//! - `SKEIN_DIFF_CASE`: rerun just one case, by the case seed a failure
//!   printed (`v…` valid or `m…` mutated).
//!
//! A longer run, as `docs/language.md` documents:
//! `SKEIN_DIFF_VALID=10000 SKEIN_DIFF_MUTATED=10000 SKEIN_DIFF_SEED=7
//! cargo test --release --test differential -- --nocapture`.

// The shared harness, for its record of one run (`Outcome`).
#[path = "../common/mod.rs"]
mod common;
mod compare;
mod gen;
mod minimize;
mod mutate;
mod oracle;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use compare::Verdict;
use oracle::Outcome;

/// Differences shrunk and printed in full; the rest are only counted.
const SHOWN: usize = 5;

/// Deadline of one run. Generated programs finish in milliseconds; a
/// mutated one may loop forever (a deleted increment), which both
/// interpreters then do.
const DEADLINE: Duration = Duration::from_secs(5);

/// Two workers: the build machines have two cores.
const WORKERS: usize = 2;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Valid,
    Mutated,
}

/// One program to compare: its kind and its own seed.
#[derive(Clone, Copy, Debug)]
struct Case {
    kind: Kind,
    seed: u64,
}

impl Case {
    fn name(&self) -> String {
        match self.kind {
            Kind::Valid => format!("v{}", self.seed),
            Kind::Mutated => format!("m{}", self.seed),
        }
    }

    fn parse(s: &str) -> Option<Case> {
        let (kind, n) = match s.split_at_checked(1)? {
            ("v", n) => (Kind::Valid, n),
            ("m", n) => (Kind::Mutated, n),
            _ => return None,
        };
        Some(Case {
            kind,
            seed: n.parse().ok()?,
        })
    }

    /// The program as pieces (each token with the whitespace after it).
    fn pieces(&self) -> Vec<String> {
        let tokens = gen::Gen::program(self.seed);
        let tokens = match self.kind {
            Kind::Valid => tokens,
            Kind::Mutated => mutate::mutate(&tokens, self.seed),
        };
        gen::render(&tokens, self.seed)
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

/// Mixes the run seed with a case index (splitmix64), so that the case
/// seeds of different runs do not overlap.
fn case_seed(run: u64, kind: u64, index: u64) -> u64 {
    let mut z = run
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(kind << 40)
        .wrapping_add(index);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) >> 1
}

struct Runner {
    clox: PathBuf,
    skein: PathBuf,
    dir: PathBuf,
}

impl Runner {
    fn outcomes(&self, file: &Path) -> (Outcome, Outcome) {
        (
            oracle::run(&self.clox, file, DEADLINE),
            oracle::run(&self.skein, file, DEADLINE),
        )
    }

    /// Runs the program made of `pieces` under both; `tag` names the
    /// scratch file.
    fn check(&self, pieces: &[String], tag: &str) -> (Verdict, Outcome, Outcome) {
        let file = self.dir.join(format!("{tag}.lox"));
        std::fs::write(&file, pieces.concat()).expect("writing a scratch program");
        let (clox, skein) = self.outcomes(&file);
        let tokens: Vec<&str> = pieces.iter().map(|p| gen::token_of(p)).collect();
        (compare::compare(&tokens, &clox, &skein), clox, skein)
    }

    /// Shrinks a differing case and describes it. A smaller program is
    /// kept only while it still differs with the same exit codes, so that
    /// a difference at run time is not traded for a compile error.
    fn report(&self, case: Case) -> String {
        let tag = format!("shrink-{}", case.name());
        let (_, clox, skein) = self.check(&case.pieces(), &tag);
        let codes = (clox.code, skein.code);
        let small = minimize::minimize(case.pieces(), |pieces| {
            let (verdict, clox, skein) = self.check(pieces, &tag);
            verdict == Verdict::Differs && (clox.code, skein.code) == codes
        });
        let (_, clox, skein) = self.check(&small, &tag);
        let source = small.concat();
        format!(
            "case {} (rerun with SKEIN_DIFF_CASE={}), shrunk to:\n{}\n\
             --- clox: exit {:?}\nstdout:\n{}stderr:\n{}\
             --- skein: exit {:?}\nstdout:\n{}stderr:\n{}",
            case.name(),
            case.name(),
            source.trim_end(),
            clox.code,
            clox.stdout,
            clox.stderr,
            skein.code,
            skein.stdout,
            skein.stderr,
        )
    }
}

#[test]
fn skein_agrees_with_clox() {
    let clox = match oracle::build_clox() {
        Ok(exe) => exe,
        Err(why) => {
            eprintln!("differential test skipped: {why}");
            return;
        }
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential");
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    let runner = Runner {
        clox,
        skein: PathBuf::from(env!("CARGO_BIN_EXE_skein")),
        dir,
    };

    let run_seed = env_num("SKEIN_DIFF_SEED", 1);
    let cases: Vec<Case> = match std::env::var("SKEIN_DIFF_CASE") {
        Ok(name) => vec![Case::parse(&name).expect("SKEIN_DIFF_CASE is v<seed> or m<seed>")],
        Err(_) => {
            let valid = env_num("SKEIN_DIFF_VALID", 1000);
            let mutated = env_num("SKEIN_DIFF_MUTATED", 1000);
            let v = (0..valid).map(|i| Case {
                kind: Kind::Valid,
                seed: case_seed(run_seed, 0, i),
            });
            let m = (0..mutated).map(|i| Case {
                kind: Kind::Mutated,
                seed: case_seed(run_seed, 1, i),
            });
            v.chain(m).collect()
        }
    };

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let differing: Mutex<Vec<Case>> = Mutex::new(Vec::new());
    let deviations: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (runner, cases, next) = (&runner, &cases, &next);
            let (differing, deviations) = (&differing, &deviations);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let (verdict, _, _) = runner.check(&case.pieces(), &format!("w{w}"));
                match verdict {
                    Verdict::Same => {}
                    Verdict::Deviation(why) => deviations.lock().unwrap().push(why),
                    Verdict::Differs => differing.lock().unwrap().push(*case),
                }
            });
        }
    });

    let differing = differing.into_inner().unwrap();
    let mut deviations = deviations.into_inner().unwrap();
    deviations.sort_unstable();
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for d in deviations {
        match counted.last_mut() {
            Some((name, n)) if *name == d => *n += 1,
            _ => counted.push((d, 1)),
        }
    }
    let count = |k: fn(&Kind) -> bool| cases.iter().filter(|c| k(&c.kind)).count();
    eprintln!(
        "differential: seed {run_seed}: {} valid and {} mutated programs in {:.1} s; \
         {} differ; documented deviations: {:?}",
        count(|k| matches!(k, Kind::Valid)),
        count(|k| matches!(k, Kind::Mutated)),
        started.elapsed().as_secs_f64(),
        differing.len(),
        counted,
    );
    if differing.is_empty() {
        return;
    }
    let mut shown = differing.clone();
    shown.sort_by_key(|c| matches!(c.kind, Kind::Mutated));
    let reports: Vec<String> = shown
        .iter()
        .take(SHOWN)
        .map(|&c| runner.report(c))
        .collect();
    panic!(
        "{} of {} programs behave differently under Skein and clox:\n\n{}",
        differing.len(),
        cases.len(),
        reports.join("\n\n")
    );
}
