//! The native-function ABI.
//!
//! A native is a plain Rust function over a [`Ctx`] (the runtime, the P it
//! runs on, the running goroutine) and its argument slice. It may allocate
//! (allocation never collects; see `heap`) and must never block the OS
//! thread: a native that has to wait (a channel, `sleep`, `sync`, a
//! stop-the-world) registers the goroutine where its waker will find it and
//! returns [`Flow::Park`]; the scheduler parks the goroutine, and only then
//! releases the lock the native left held (Go's `gopark` contract).

use crate::sched::Park;
use crate::value::Value;
use crate::Ctx;

/// How a native ends other than with a value.
pub enum Flow {
    /// A runtime error with this message.
    Error(String),
    /// Park the running goroutine (see [`Park`]).
    Park(Park),
    /// Yield the processor (`runtime.gosched()`); the call's result is nil.
    Gosched,
}

impl From<String> for Flow {
    fn from(s: String) -> Flow {
        Flow::Error(s)
    }
}

impl From<&str> for Flow {
    fn from(s: &str) -> Flow {
        Flow::Error(s.to_string())
    }
}

/// A native function: `Ok(result)`, or how it ends otherwise.
pub type NativeFn = fn(&mut Ctx, &[Value]) -> Result<Value, Flow>;
