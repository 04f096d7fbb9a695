//! Skein's runtime: values, heap, collector and interpreter.
//!
//! Code map:
//! - [`value`]: the NaN-boxed `Value` and `Slot` (the only heap write path).
//! - [`object`]: object header, one body type per kind, lock-free tables.
//! - [`map`]: Skein maps (insertion ordered, Skein key equality).
//! - [`heap`]: allocation, accounting, interning, the pacer's inputs.
//! - [`gc`]: the collector (stop-the-world mark-sweep for now).
//! - [`interp`]: the dispatch loop, `run(g, budget) -> Outcome`, calls.
//! - [`loader`]: turns a compiled `Program` into function objects.
//! - [`print`]: how values print.
//! - [`native`]: the native-function ABI (the functions live in `stdlib`).
//! - [`raw`]: raw memory for objects (mimalloc's unaligned fast path).
//!
//! API boundary (used by the root crate and `stdlib`): [`Vm`], [`VmOptions`],
//! [`RuntimeError`], plus the object and value modules for natives.

pub mod gc;
pub mod heap;
pub mod interp;
pub mod loader;
pub mod map;
pub mod native;
pub mod object;
pub mod print;
pub mod raw;
pub mod value;

use std::collections::HashMap;
use std::io::Write;

pub use skein_bytecode as bytecode;

use object::*;
use value::{Slot, Value};

/// How a VM is configured.
pub struct VmOptions {
    /// Heap limit in bytes; beyond it allocation fails with `Out of memory.`
    pub max_heap: Option<usize>,
    /// GOGC-style percentage (`SKEINGC`); `None` disables the collector's
    /// automatic trigger.
    pub gc_percent: Option<u32>,
    /// `SKEINDEBUG=gcstress=1`: collect at every allocation safepoint.
    pub gcstress: bool,
    /// `SKEINDEBUG=gctrace=1` / `--gctrace`: one line per cycle on stderr,
    /// in Go's `gctrace` layout.
    pub gctrace: bool,
    /// Seed for `math.random` (deterministic mode passes its seed).
    pub seed: Option<u64>,
    /// Where `print` writes. The VM buffers it and flushes on exit, before
    /// any error message, and on [`Vm::flush`].
    pub stdout: Box<dyn Write + Send>,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            max_heap: None,
            gc_percent: Some(100),
            gcstress: false,
            gctrace: false,
            seed: None,
            stdout: Box::new(std::io::stdout()),
        }
    }
}

/// A runtime error: the message, then one trace line per frame, innermost
/// first (`[line N] in fname()` / `[line N] in script`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeError {
    pub message: String,
    pub trace: Vec<String>,
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        for line in &self.trace {
            write!(f, "\n{line}")?;
        }
        Ok(())
    }
}

/// Global variables: slots in fixed-size segments that never move, so a
/// slot's address is stable once the loader has bound a name to it.
pub struct Globals {
    segments: Vec<Box<[Slot]>>,
    names: Vec<String>,
    index: HashMap<String, usize>,
}

/// Slots per segment: one segment covers typical programs; segments keep
/// slot addresses stable as globals are added.
const GLOBAL_SEGMENT: usize = 1024;

impl Globals {
    fn new() -> Globals {
        Globals {
            segments: Vec::new(),
            names: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The slot index bound to `name`, creating an undefined slot if new.
    pub fn bind(&mut self, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let i = self.names.len();
        if i.is_multiple_of(GLOBAL_SEGMENT) {
            self.segments.push(
                (0..GLOBAL_SEGMENT)
                    .map(|_| Slot::new(Value::UNDEF))
                    .collect(),
            );
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    #[inline(always)]
    pub fn slot(&self, i: usize) -> &Slot {
        &self.segments[i / GLOBAL_SEGMENT][i % GLOBAL_SEGMENT]
    }

    /// `slot` without bounds checks, for the interpreter's `GetGlobal`.
    #[inline(always)]
    pub fn slot_fast(&self, i: usize) -> &Slot {
        debug_assert!(i < self.names.len());
        // SAFETY: the loader binds every global operand with `bind`, which
        // creates the segment holding index `i` before the code can run.
        unsafe {
            self.segments
                .get_unchecked(i / GLOBAL_SEGMENT)
                .get_unchecked(i % GLOBAL_SEGMENT)
        }
    }

    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The value of global `name`, if defined.
    pub fn get(&self, name: &str) -> Option<Value> {
        let i = *self.index.get(name)?;
        let v = self.slot(i).get();
        (v != Value::UNDEF).then_some(v)
    }

    fn for_each_value(&self, mut f: impl FnMut(Value)) {
        for i in 0..self.names.len() {
            f(self.slot(i).get());
        }
    }
}

/// A Skein virtual machine: globals, heap and the goroutines running on it.
pub struct Vm {
    pub heap: heap::Heap,
    pub globals: Globals,
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    /// The interned name `init`.
    pub init_name: Value,
    /// Interned one-byte strings, for string indexing and iteration.
    pub one_byte: Vec<Value>,
    /// State of `math.random`'s generator.
    pub rng: u64,
    /// Set (from any thread, e.g. a Ctrl-C handler) to stop the running
    /// program at its next time-slice boundary with `Interrupted.`.
    pub interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
    next_gid: u64,
}

impl Vm {
    /// Creates a VM with no globals. `skein_stdlib::install` adds the
    /// built-in functions and modules.
    pub fn new(options: VmOptions) -> Vm {
        let mut heap = heap::Heap::new(options.gc_percent, options.max_heap, options.gcstress);
        heap.gctrace = options.gctrace;
        let init_name = heap.intern(b"init");
        let one_byte = (0..=255u8).map(|b| heap.intern(&[b])).collect();
        Vm {
            heap,
            globals: Globals::new(),
            // 64 KiB: large enough that print-heavy programs make few write
            // calls, small enough to be irrelevant next to the heap.
            out: std::io::BufWriter::with_capacity(1 << 16, options.stdout),
            init_name,
            one_byte,
            // Any odd non-zero state works for xorshift; without a seed the
            // state is a fixed constant, so runs are reproducible.
            rng: options.seed.unwrap_or(0x2545_f491_4f6c_dd1d) | 1,
            interrupt: Default::default(),
            next_gid: 1,
        }
    }

    /// Loads and runs a program to completion. Globals persist across calls
    /// (the REPL runs each entry this way). Stdout is flushed before return.
    pub fn run(&mut self, program: &bytecode::Program) -> Result<(), RuntimeError> {
        let func = loader::load(self, &program.main);
        let closure = self.heap.alloc(
            Kind::Closure,
            Closure {
                function: func.as_obj() as *const Obj<Function>,
                upvals: Box::new([]),
            },
            0,
        );
        let id = self.next_gid;
        self.next_gid += 1;
        let mut g = interp::G::new(id, closure);
        let result = interp::run_to_completion(self, &mut g);
        self.flush();
        result.map(|_| ())
    }

    /// Defines (or redefines) a global.
    pub fn define_global(&mut self, name: &str, v: Value) {
        let i = self.globals.bind(name);
        self.globals.slot(i).set(v);
    }

    /// Names of all defined globals (for REPL completion), sorted.
    pub fn global_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .globals
            .names
            .iter()
            .filter(|n| self.globals.get(n).is_some())
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Member names of the module bound to global `module`, if it is one.
    pub fn module_members(&self, module: &str) -> Option<Vec<String>> {
        let m = as_module(self.globals.get(module)?)?;
        let mut names = Vec::new();
        m.members.for_each(|k, _| {
            if let Some(s) = as_string(Value::object(k)) {
                names.push(str_text(s).into_owned());
            }
        });
        names.sort();
        Some(names)
    }

    /// Runs a full collection with only the globals as roots (no goroutine is
    /// running: the REPL's `:gc`).
    pub fn collect(&mut self) {
        self.collect_with(&[]);
    }

    /// Runs a full collection; `gs` are the goroutines whose stacks are roots.
    pub(crate) fn collect_with(&mut self, gs: &[&interp::G]) {
        let globals = &self.globals;
        let extra = [self.init_name];
        gc::collect(&mut self.heap, |m| {
            globals.for_each_value(|v| m.mark(v));
            for v in extra {
                m.mark(v);
            }
            for g in gs {
                let top = g.top();
                for v in &g.stack[..top] {
                    m.mark(*v);
                }
                for fr in &g.frames {
                    m.mark(Value::object(fr.closure as *mut Header));
                }
            }
        });
    }

    /// `runtime.memstats()` as `key: value` lines (the REPL's `:gc`).
    pub fn memstats_text(&self) -> String {
        self.memstats()
            .into_iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect()
    }

    /// The statistics behind `runtime.memstats()`, in a fixed order.
    pub fn memstats(&self) -> Vec<(&'static str, f64)> {
        let h = &self.heap;
        let elapsed = h.started.elapsed().as_nanos().max(1) as f64;
        vec![
            ("heap_alloc", h.live_bytes as f64),
            ("heap_objects", h.objects as f64),
            (
                "heap_goal",
                if h.goal == usize::MAX {
                    0.0
                } else {
                    h.goal as f64
                },
            ),
            ("total_alloc", h.total_alloc as f64),
            ("num_gc", h.num_gc as f64),
            ("pause_total_ns", h.pause_total_ns as f64),
            ("last_pause_ns", h.last_pause_ns as f64),
            ("gc_cpu_fraction", h.gc_ns_total as f64 / elapsed),
        ]
    }

    /// Writes `v` and a newline to stdout (buffered).
    pub fn print(&mut self, v: Value) {
        let mut buf = Vec::new();
        print::write_value(v, &mut buf);
        buf.push(b'\n');
        let _ = self.out.write_all(&buf);
    }

    /// Flushes buffered stdout.
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    /// A new list holding `items`.
    pub fn new_list(&mut self, items: &[Value]) -> Value {
        self.heap.alloc_list(items)
    }

    /// A new empty map.
    pub fn new_map(&mut self) -> Value {
        self.heap.alloc(
            Kind::Map,
            Map {
                table: parking_lot::Mutex::new(map::MapTable::default()),
            },
            0,
        )
    }

    /// A new string (not interned).
    pub fn new_string(&mut self, bytes: &[u8]) -> Value {
        self.heap.string(bytes)
    }

    /// A native function object.
    pub fn new_native(
        &mut self,
        name: &'static str,
        arity: Option<u8>,
        f: native::NativeFn,
    ) -> Value {
        self.heap.alloc(Kind::Native, Native { name, arity, f }, 0)
    }

    /// A module object with the given members.
    pub fn new_module(&mut self, name: &str, members: &[(&str, Value)]) -> Value {
        let name_v = self.heap.intern(name.as_bytes());
        let m = self.heap.alloc(
            Kind::Module,
            Module {
                name: name_v,
                members: Table::new(),
            },
            0,
        );
        for (k, v) in members {
            let key = self.heap.intern(k.as_bytes());
            let (_, retired, delta) = as_module(m)
                .expect("module")
                .members
                .insert(key.as_obj(), *v);
            self.heap.retire(retired);
            self.heap.adjust(m, delta);
        }
        m
    }

    /// Appends to a list, with accounting.
    pub fn list_push(&mut self, list: Value, v: Value) {
        if let Some(l) = as_list(list) {
            let (retired, delta) = l.push(v);
            self.heap.retire(retired);
            self.heap.adjust(list, delta);
        }
    }

    /// Requests a collection at the next safepoint (`runtime.gc()`).
    pub fn request_gc(&mut self) {
        self.heap.forced = true;
        self.heap.gc_pending = true;
    }

    /// Sets the GC percentage, returning the previous one (-1 = off).
    pub fn set_gc_percent(&mut self, p: Option<u32>) -> Option<u32> {
        let old = self.heap.gc_percent;
        self.heap.gc_percent = p;
        let live = self.heap.live_bytes;
        self.heap.set_goal(live);
        old
    }

    /// Next value of `math.random`'s xorshift64* generator in [0, 1).
    pub fn random(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        // The xorshift64* output multiplier (Vigna, 2016).
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.flush();
    }
}
