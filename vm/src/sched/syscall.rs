//! Blocking system calls (Go's `entersyscall` / `exitsyscall`).
//!
//! A native that must block its OS thread in the kernel (reading a file,
//! stdin or a pipe; writing one) runs the call through [`blocking`]. The
//! goroutine keeps its M for the duration of the call.
//!
//! Today `blocking` only runs the call: the P stays with the M while the
//! call blocks, so other goroutines of that P wait for it. The design that
//! replaces it is Go's: the P enters a syscall state, sysmon retakes a P
//! held in a syscall for longer than 20 µs and hands it to another M, and
//! on return the goroutine reacquires its P, or an idle one, or waits on
//! the global queue.

use crate::Ctx;

/// Runs the blocking call `f` for the running goroutine and returns its
/// result.
pub fn blocking<T>(cx: &mut Ctx, f: impl FnOnce() -> T) -> T {
    let _ = cx;
    f()
}
