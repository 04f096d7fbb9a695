//! The native-function ABI.
//!
//! A native is a plain Rust function over the VM and its argument slice. It
//! may allocate (allocation never collects; see `heap`) and must not block the
//! OS thread: blocking built-ins (channels, `sleep`) arrive with the scheduler
//! and will park the goroutine instead. A native that wants a collection
//! (`runtime.gc()`) calls `Vm::request_gc`; the interpreter collects at the
//! safepoint right after the call.

use crate::value::Value;
use crate::Vm;

/// A native function: `Ok(result)` or `Err(message)` for a runtime error.
pub type NativeFn = fn(&mut Vm, &[Value]) -> Result<Value, String>;
