//! The native-function ABI.
//!
//! A native is a plain Rust function over a [`Ctx`] (the runtime, the P it
//! runs on, the running goroutine) and its argument slice. It may allocate
//! (allocation never collects; see `heap`) and must never block the OS
//! thread: a native that has to wait (a channel, `sleep`, `sync`, a
//! stop-the-world) registers the goroutine where its waker will find it and
//! returns [`Flow::Park`]; the scheduler parks the goroutine, and only then
//! releases the lock the native left held (Go's `gopark` contract).

pub use crate::sched::park::Flow;
use crate::value::Value;
use crate::Ctx;

/// A native function: `Ok(result)`, or how it ends otherwise.
pub type NativeFn = fn(&mut Ctx, &[Value]) -> Result<Value, Flow>;
