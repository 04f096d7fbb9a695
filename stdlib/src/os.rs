//! The `os` module: the program's arguments, its environment, and exiting.
//!
//! - `os.args`: a list of the command-line words after the script
//!   (`skein prog.sk a b` gives `["a", "b"]`; the REPL's list is empty).
//!   It is made once, when the stdlib is installed, from
//!   `Runtime::args` (plumbed from the command line through
//!   `skein::Options::args` and `VmOptions::args`).
//! - `os.env(name)`: the environment variable's value, or `nil` when it is
//!   not set (a value that is not valid UTF-8 keeps its bytes).
//! - `os.exit(status)`: flushes stdout and ends the whole program, every
//!   goroutine included, with that exit status (0 to 255), printing
//!   nothing. It returns `Flow::Exit`, which ends the goroutine like a
//!   runtime error that carries a status and is never printed
//!   (`RuntimeError::exit`); `skein::execute` answers the status. In the
//!   REPL it ends the session with that status.

use skein_vm::native::Flow;
use skein_vm::object::as_string;
use skein_vm::value::Value;
use skein_vm::Ctx;

use crate::R;

/// The module's functions.
pub(crate) const FUNCTIONS: &[(&str, Option<u8>, skein_vm::native::NativeFn)] =
    &[("env", Some(1), env), ("exit", Some(1), exit)];

/// `os.args`: a new list of the program's arguments.
pub(crate) fn args(vm: &mut Ctx) -> Value {
    let rt = vm.rt;
    let items: Vec<Value> = rt
        .args()
        .iter()
        .map(|a| vm.new_string(a.as_bytes()))
        .collect();
    vm.new_list(&items)
}

fn env(vm: &mut Ctx, a: &[Value]) -> R {
    let Some(name) = as_string(a[0]) else {
        return Err("env() expects a string.".into());
    };
    let name = name.bytes();
    // Such a name cannot be set, and the standard library may panic on it.
    if name.is_empty() || name.contains(&b'=') || name.contains(&0) {
        return Ok(Value::NIL);
    }
    Ok(match std::env::var_os(crate::os_str(name)) {
        Some(v) => vm.new_string(v.as_encoded_bytes()),
        None => Value::NIL,
    })
}

fn exit(vm: &mut Ctx, a: &[Value]) -> R {
    // A process's exit status is one byte.
    match a[0].as_integer() {
        Some(status @ 0..=255) => {
            vm.rt.flush();
            Err(Flow::Exit(status as i32))
        }
        _ => Err("exit() expects an integer from 0 to 255.".into()),
    }
}
