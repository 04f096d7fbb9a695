//! The two interpreters under comparison: clox, built from its reference
//! C sources, and the `skein` binary under test.
//!
//! The oracle directory holds clox's sources in `c/` (and the Crafting
//! Interpreters test suite in `test/`). It is `$SKEIN_ORACLE` when set,
//! else `shared/oracle` in the directory that contains the clone, where CI
//! puts it. clox is compiled once per test run into the build directory
//! (`CARGO_TARGET_TMPDIR`), never into the repository, with the flags the
//! reference build uses (`cc -std=c99 -O2 -DNDEBUG -w`). When the sources
//! are not there, [`build_clox`] says so and the caller skips the
//! comparison.
//!
//! [`run`] starts a program with a deadline, drains stdout and stderr on
//! their own threads (keeping at most [`OUTPUT_CAP`] bytes of each, so a
//! mutated program that prints forever cannot fill memory) and kills it
//! when the deadline passes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use wait_timeout::ChildExt;

/// Bytes of each stream kept: far more than any generated program prints
/// in its bounded loops.
const OUTPUT_CAP: usize = 1 << 20;

/// What one run produced: the shared harness's record of a run.
pub use crate::common::Outcome;

/// Where clox's reference sources live (see the module docs).
pub fn clox_sources() -> PathBuf {
    let oracle = match std::env::var_os("SKEIN_ORACLE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("/"))
            .join("shared")
            .join("oracle"),
    };
    oracle.join("c")
}

/// Builds clox, or explains why it cannot be built.
pub fn build_clox() -> Result<PathBuf, String> {
    let src = clox_sources();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .map_err(|e| format!("the oracle is absent ({}: {e})", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "the oracle is absent (no C sources in {})",
            src.display()
        ));
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oracle");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let exe = dir.join("clox");
    let status = Command::new("cc")
        .args(["-std=c99", "-O2", "-DNDEBUG", "-w", "-o"])
        .arg(&exe)
        .args(&files)
        .status()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !status.success() {
        return Err(format!("cc failed to build clox ({status})"));
    }
    Ok(exe)
}

/// Runs `exe file` with the deadline `timeout`.
pub fn run(exe: &Path, file: &Path, timeout: Duration) -> Outcome {
    let mut command = Command::new(exe);
    command
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in ["SKEINGC", "SKEINDEBUG", "SKEINMAXPROCS"] {
        command.env_remove(name);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    let out = drain(child.stdout.take().expect("stdout is piped"));
    let err = drain(child.stderr.take().expect("stderr is piped"));
    let (code, timed_out) = match child.wait_timeout(timeout).expect("waiting for a child") {
        Some(status) => (status.code(), false),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            (None, true)
        }
    };
    Outcome {
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        code,
        timed_out,
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = OUTPUT_CAP.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}
