//! The native-function ABI.
//!
//! A native is a plain Rust function over a [`Ctx`] (the runtime, the P it
//! runs on, the running goroutine) and its argument slice. It may allocate
//! (allocation never collects; see `heap`) and must never block the OS
//! thread: a native that has to wait (a channel, `sleep`, `sync`, a
//! stop-the-world) registers the goroutine where its waker will find it and
//! returns [`Flow::Park`] with the lock guarding that wait list still held;
//! the scheduler parks the goroutine, and only then runs the park's unlock
//! step, which releases that lock (Go's `gopark` contract; see
//! `sched::park`, where [`Flow`] is defined).

pub use crate::sched::park::Flow;
use crate::value::Value;
use crate::Ctx;

/// A native function: `Ok(result)`, or how it ends otherwise.
pub type NativeFn = fn(&mut Ctx, &[Value]) -> Result<Value, Flow>;
