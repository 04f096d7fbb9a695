//! Heap objects: the header every object starts with, one body type per
//! kind, and the lock-free tables that back instances, classes, modules and
//! lists.
//!
//! Layout: every object is an `Obj<T>` (`#[repr(C)]`: a [`Header`] then the
//! body), allocated by the heap and never moved. A `Value` points at the
//! header; [`Header::kind`] says which body follows, and the typed accessors
//! (`as_string`, `as_list`, …) cast after checking the kind.
//!
//! Publishing rule: tables and list storage that can grow live in
//! a separately allocated *block*. Growing allocates a bigger block, copies,
//! and publishes it with one atomic pointer store; the old block goes on the
//! heap's retire list and is freed at a later stop-the-world pause (the
//! collector's, or `memstats`'s), when no mutator can still be reading it
//! (mutators hold block references only within one instruction, and
//! stop-the-world happens between instructions). Within a
//! block, entries are published before the length that makes them visible, so
//! readers (which bound every index by the block's length and capacity) stay
//! memory-safe under any race.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use parking_lot::Mutex;
use skein_bytecode::{Capture, FnKind, Instr};

use crate::map::MapTable;
use crate::native::NativeFn;
use crate::value::{Slot, Value};

/// Object kinds.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    Function,
    Closure,
    Cell,
    Class,
    Instance,
    BoundMethod,
    List,
    Map,
    Native,
    Module,
    /// A channel (`sched::chan`).
    Chan,
    /// The state behind a `sync.WaitGroup` or `sync.Mutex` (`sched::sema`).
    Sema,
    /// An opaque native resource ([`Handle`]): an open file, say.
    Handle,
}

/// The header every heap object starts with.
#[repr(C)]
pub struct Header {
    pub kind: Kind,
    /// Writer lock for structural changes (a list's push/pop, a table's
    /// insert): readers never take it; racing writers on one object take it
    /// so that a grow retires the old storage exactly once. Sits in what
    /// would be padding.
    pub lock: AtomicU8,
    /// The checkmark pass's separate mark (`gc::checkmark`); sits in what
    /// would be padding. (The collector's own mark bit is in the object's
    /// span, `heap::span`.)
    pub cmark: AtomicU8,
    /// Bytes charged to the heap for this object (its slot plus owned
    /// buffers).
    pub size: AtomicU32,
}

/// The header is one word: objects are 8-byte aligned slots of at least
/// 16 bytes (`heap::sizeclass::MIN_SIZE`).
const _: () = assert!(std::mem::size_of::<Header>() == 8);

/// Copies `items` to `dst`. List literals are mostly short (`[left,
/// right]`, a pair, a point), where calling `memcpy` costs more than the
/// copy: up to four values are stored here one by one, the first two and
/// the last two (overlapping for three or fewer); longer runs go to
/// `memcpy`.
///
/// # Safety
/// `dst` is writable for `items.len()` values and does not overlap
/// `items`.
#[inline(always)]
unsafe fn copy_values(items: &[Value], dst: *mut Value) {
    let n = items.len();
    // SAFETY: every write is at an index below `n`, which the caller
    // guarantees is in bounds.
    unsafe {
        match n {
            0 => {}
            1..=4 => {
                dst.write(items[0]);
                dst.add(n / 2).write(items[n / 2]);
                dst.add(n - 1).write(items[n - 1]);
                if n == 4 {
                    dst.add(1).write(items[1]);
                }
            }
            _ => std::ptr::copy_nonoverlapping(items.as_ptr(), dst, n),
        }
    }
}

/// Holds an object's writer lock (see [`Header::lock`]); released on drop.
pub struct ObjGuard<'a>(&'a AtomicU8);

/// Takes `v`'s writer lock. Holders never block or allocate from the VM heap
/// while holding it, so a short spin is enough.
pub fn lock_obj<'a>(v: Value) -> ObjGuard<'a> {
    // SAFETY: callers pass a live object.
    let h: &'a Header = unsafe { &*v.as_obj() };
    let mut spins = 0u32;
    while h
        .lock
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins += 1;
        // After a few dozen failed tries the holder is probably descheduled:
        // give the CPU away instead of burning it.
        if spins > 64 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    ObjGuard(&h.lock)
}

impl Drop for ObjGuard<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

/// An object: header followed by its body.
#[repr(C)]
pub struct Obj<T> {
    pub header: Header,
    pub body: T,
}

/// An immutable byte string (usually UTF-8) with its hash. The bytes follow
/// the length in the object's own allocation (`Mcache::string_parts`), so a
/// string is one allocation and one cache line for short text.
#[repr(C)]
pub struct Str {
    /// The hash, computed on first use (0 = not yet): most strings, such as
    /// intermediate concatenations, are never map keys, and hashing every
    /// new string would make building a long string quadratic.
    hash: AtomicU64,
    pub(crate) len: usize,
    data: [u8; 0],
}

impl Str {
    /// The fields of a string of `len` bytes, hash not yet computed (the
    /// bytes themselves are written by the allocator).
    pub(crate) fn new_header(len: usize) -> Str {
        Str {
            hash: AtomicU64::new(0),
            len,
            data: [],
        }
    }

    /// The string's bytes.
    #[inline(always)]
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `Mcache::string_parts` wrote `len` bytes right after the
        // header, in the same allocation, and strings are immutable.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr(), self.len) }
    }

    /// Byte length.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The content hash (computed once, then cached; racing threads compute
    /// and store the same value).
    #[inline]
    pub fn hash(&self) -> u64 {
        let h = self.hash.load(Ordering::Relaxed);
        if h != 0 {
            return h;
        }
        // Zero marks "not computed", so a real hash of zero becomes one.
        let h = hash_bytes(self.bytes()).max(1);
        self.hash.store(h, Ordering::Relaxed);
        h
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A loaded function prototype with VM-ready constants.
pub struct Function {
    pub name: Option<Value>,
    pub kind: FnKind,
    pub arity: u8,
    pub num_regs: u16,
    pub captures: Box<[Capture]>,
    pub code: Box<[Instr]>,
    pub lines: Box<[u32]>,
    /// Constants: numbers, interned strings, nested functions.
    pub consts: Box<[Value]>,
    /// One inline-cache hint per instruction (an index guess for a field or
    /// method table lookup; always validated, so races are harmless).
    pub caches: Box<[AtomicU32]>,
    /// A built-in written in Skein (`loader::load_hidden`): its frames are
    /// left out of stack traces, so a built-in looks like a native to the
    /// program, whatever language it is written in.
    pub hidden: bool,
    /// Where a class call enters this initializer (`Proto::construct_entry`;
    /// 0: at the start).
    pub construct_entry: u16,
}

/// A function plus its captured cells.
pub struct Closure {
    pub function: *const Obj<Function>,
    /// Cells, in upvalue order. Immutable after creation.
    pub upvals: Box<[Value]>,
}

/// A heap box for a captured variable.
pub struct Cell {
    pub value: Slot,
}

/// A class.
pub struct Class {
    pub name: Value,
    pub methods: Table,
    /// The `init` method, cached (nil when absent).
    pub init: Slot,
    /// Set once some instance of this class gets a field named like one of
    /// its methods. Until then `Invoke` can look up methods without first
    /// scanning the receiver's fields (a field would shadow the method).
    /// Methods are only added while the class declaration runs, before any
    /// instance can exist, so the flag never misses a shadowing field.
    pub shadowed: std::sync::atomic::AtomicBool,
    /// The most fields an instance of this class has had: new instances
    /// get that many entries in their inline table (`Mcache::alloc_instance`),
    /// so a class whose constructor sets its fields allocates one slot per
    /// instance and nothing else.
    pub field_hint: AtomicU32,
}

/// An instance of a class.
pub struct Instance {
    pub class: *const Obj<Class>,
    pub fields: Table,
}

impl Instance {
    /// Called before a field `name` is added: when the class has a method
    /// of that name, records that the field shadows it
    /// ([`Class::shadowed`]).
    #[inline(always)]
    pub fn note_new_field(&self, name: *const Header) {
        // SAFETY: an instance keeps its class alive.
        let class = unsafe { &(*self.class).body };
        if class.methods.find(name, 0).is_some() {
            class.shadowed.store(true, Ordering::Relaxed);
        }
    }
}

/// A method bound to its receiver.
pub struct BoundMethod {
    pub receiver: Value,
    pub method: Value,
}

/// A growable list.
pub struct List {
    pub block: AtomicPtr<ListBlock>,
}

/// A map with insertion order; guarded by a short per-map lock.
pub struct Map {
    pub table: Mutex<MapTable>,
}

/// A native (Rust) function.
pub struct Native {
    pub name: &'static str,
    /// Required argument count, or `None` for a variadic/optional native
    /// that checks its own arguments.
    pub arity: Option<u8>,
    pub f: NativeFn,
    /// A method of a native class: it receives its receiver as the first
    /// argument (not counted in `arity`).
    pub receiver: bool,
}

/// An opaque native resource: Rust state that holds no Skein values (the
/// collector has nothing to trace in it), dropped when the object is swept.
/// The state sits behind a lock, so a handle may be shared by goroutines;
/// its owner downcasts it to the type it stored (`Handle::with`).
pub struct Handle {
    pub data: Mutex<Box<dyn std::any::Any + Send>>,
}

impl Handle {
    /// A handle holding `data`.
    pub fn new<T: std::any::Any + Send>(data: T) -> Handle {
        Handle {
            data: Mutex::new(Box::new(data)),
        }
    }

    /// Runs `f` on the state, if it is a `T`.
    pub fn with<T: 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut d = self.data.lock();
        d.downcast_mut::<T>().map(f)
    }
}

/// A module: named read-only members.
pub struct Module {
    pub name: Value,
    pub members: Table,
}

// ---------------------------------------------------------------------------
// Tables: name -> value, lock-free reads.

/// A table from interned names to values (instance fields, class methods,
/// module members). Keys are interned strings compared by pointer.
pub struct Table {
    block: AtomicPtr<TableBlock>,
}

/// A table's storage: `len` published entries out of `cap`, in one
/// allocation (header, then the entries; a key sits beside its value, so a
/// lookup touches one cache line per probe).
#[repr(C)]
pub struct TableBlock {
    /// Published length (bounded by the capacity; 32 bits, see
    /// [`Capacity`]).
    len: AtomicU32,
    /// The capacity, and whether this is an instance's first block, which
    /// lives inside the instance object's slot (`Mcache::alloc_instance`)
    /// and is freed with it.
    cap: Capacity,
    entries: [Entry; 0],
}

/// A block's capacity and whether it is its object's inline first block,
/// in one 32-bit word (the flag is the top bit), so that a block's header
/// is one word: the 32-bit published length, then this. A two-element
/// list is then 40 bytes and an instance with four fields 96, where a
/// two-word header made them 48 and 112: the objects of allocation-heavy
/// programs (`bench/binary_trees.sk`, `bench/gc_latency.sk`) are mostly
/// these. 2^31 slots would need 16 GiB, beyond any heap this VM runs.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct Capacity(u32);

/// A block's header is one word (see [`Capacity`]).
const _: () =
    assert!(std::mem::size_of::<TableBlock>() == 8 && std::mem::size_of::<ListBlock>() == 8);

impl Capacity {
    /// The flag bit: set for an inline first block.
    const INLINE: u32 = 1 << 31;

    /// `cap` slots, `inline` or not; `what` names the container for the
    /// panic when `cap` does not fit.
    fn new(cap: usize, inline: bool, what: &str) -> Capacity {
        let c = u32::try_from(cap)
            .ok()
            .filter(|c| c & Self::INLINE == 0)
            .unwrap_or_else(|| panic!("{what} too large"));
        Capacity(if inline { c | Self::INLINE } else { c })
    }

    /// The number of slots.
    #[inline(always)]
    fn get(self) -> usize {
        (self.0 & !Self::INLINE) as usize
    }

    /// Whether the block is its object's inline first block.
    #[inline(always)]
    fn inline(self) -> bool {
        self.0 & Self::INLINE != 0
    }
}

/// One table entry: an interned name and its value.
#[repr(C)]
struct Entry {
    key: AtomicPtr<Header>,
    val: Slot,
}

impl TableBlock {
    fn layout(cap: usize) -> std::alloc::Layout {
        std::alloc::Layout::new::<TableBlock>()
            .extend(std::alloc::Layout::array::<Entry>(cap).expect("table too large"))
            .expect("table too large")
            .0
            .pad_to_align()
    }

    fn alloc(cap: usize) -> *mut TableBlock {
        let p = crate::raw::alloc(Self::size(cap)) as *mut TableBlock;
        // SAFETY: `p` is fresh and laid out as `layout(cap)`.
        unsafe { Self::init(p, cap, false) };
        p
    }

    /// The bytes of a block of `cap` entries.
    pub fn size(cap: usize) -> usize {
        Self::layout(cap).size()
    }

    /// Initialises an empty block of `cap` entries at `p`.
    ///
    /// # Safety
    /// `p` points to writable memory laid out as `layout(cap)`, not yet
    /// shared.
    pub unsafe fn init(p: *mut TableBlock, cap: usize, inline: bool) {
        // SAFETY: guaranteed by the caller; every field and entry is
        // initialised before the block is shared.
        unsafe {
            std::ptr::addr_of_mut!((*p).len).write(AtomicU32::new(0));
            std::ptr::addr_of_mut!((*p).cap).write(Capacity::new(cap, inline, "table"));
            let e = std::ptr::addr_of_mut!((*p).entries) as *mut Entry;
            for i in 0..cap {
                e.add(i).write(Entry {
                    key: AtomicPtr::new(std::ptr::null_mut()),
                    val: Slot::new(Value::NIL),
                });
            }
        }
    }

    /// # Safety
    /// `p` came from `alloc` or `init` and nothing uses it any more.
    unsafe fn free(p: *mut TableBlock) {
        // SAFETY: guaranteed by the caller; a separate block came from
        // `raw::alloc`. An inline block belongs to its instance and is
        // freed with it.
        unsafe {
            if !(*p).cap.inline() {
                crate::raw::free(p as *mut u8, Self::size((*p).cap.get()))
            }
        }
    }

    #[inline(always)]
    fn entries(&self) -> &[Entry] {
        // SAFETY: `alloc` initialised `cap` entries after the header.
        unsafe { std::slice::from_raw_parts(self.entries.as_ptr(), self.cap()) }
    }

    /// The number of entries the block has room for.
    #[inline(always)]
    fn cap(&self) -> usize {
        self.cap.get()
    }

    /// Bytes this block occupies (for heap accounting).
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<TableBlock>() + self.cap() * 16
    }

    /// The published length. Never more than `cap`: a writer publishes
    /// `len + 1` only after reading `len < cap` from this same block, so
    /// even racing writers cannot push it past the capacity.
    #[inline(always)]
    fn published(&self) -> usize {
        let len = self.len.load(Ordering::Acquire) as usize;
        debug_assert!(len <= self.cap());
        len
    }
}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

impl Table {
    /// A table whose first block is `block` (an inline block).
    pub fn with_block(block: *mut TableBlock) -> Table {
        Table {
            block: AtomicPtr::new(block),
        }
    }

    pub fn new() -> Table {
        Table {
            block: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    #[inline(always)]
    fn block(&self) -> Option<&TableBlock> {
        let p = self.block.load(Ordering::Acquire);
        // SAFETY: a non-null block pointer was published by `insert` from a
        // live `Box`; retired blocks are freed only at a stop-the-world
        // point, when no reference obtained here can still be in use.
        unsafe { p.as_ref() }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.block().map_or(0, |b| b.published())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finds `key`, trying the index `hint` first. Returns the entry index.
    #[inline(always)]
    pub fn find(&self, key: *const Header, hint: usize) -> Option<usize> {
        let b = self.block()?;
        let len = b.published();
        let e = &b.entries()[..len];
        if let Some(x) = e.get(hint) {
            if std::ptr::eq(x.key.load(Ordering::Relaxed), key) {
                return Some(hint);
            }
        }
        e.iter()
            .position(|x| std::ptr::eq(x.key.load(Ordering::Relaxed), key))
    }

    /// Finds `key` (trying the entry `hint` first) and returns its index and
    /// value, in one pass over the block.
    #[inline(always)]
    pub fn lookup(&self, key: *const Header, hint: usize) -> Option<(usize, Value)> {
        let b = self.block()?;
        let len = b.published();
        let e = b.entries.as_ptr();
        if hint < len {
            // SAFETY: `hint < len <= cap`, and `alloc` initialised `cap`
            // entries.
            let x = unsafe { &*e.add(hint) };
            if std::ptr::eq(x.key.load(Ordering::Relaxed), key) {
                return Some((hint, x.val.get()));
            }
        }
        for i in 0..len {
            // SAFETY: as above, `i < len <= cap`.
            let x = unsafe { &*e.add(i) };
            if std::ptr::eq(x.key.load(Ordering::Relaxed), key) {
                return Some((i, x.val.get()));
            }
        }
        None
    }

    /// Overwrites the value of an existing `key` (trying `hint` first) and
    /// returns its index; `None` when the key is absent.
    #[inline(always)]
    pub fn update(&self, key: *const Header, hint: usize, v: Value) -> Option<usize> {
        let b = self.block()?;
        let len = b.published();
        let e = b.entries.as_ptr();
        let mut at = None;
        if hint < len {
            // SAFETY: `hint < len <= cap` initialised entries.
            let x = unsafe { &*e.add(hint) };
            if std::ptr::eq(x.key.load(Ordering::Relaxed), key) {
                at = Some(hint);
            }
        }
        if at.is_none() {
            // SAFETY: `i < len <= cap` initialised entries.
            at = (0..len)
                .find(|&i| std::ptr::eq(unsafe { &*e.add(i) }.key.load(Ordering::Relaxed), key));
        }
        let i = at?;
        // SAFETY: `i < len <= cap`.
        unsafe { &*e.add(i) }.val.set(v);
        Some(i)
    }

    /// The value at entry `i` (as returned by `find`).
    #[inline(always)]
    pub fn value_at(&self, i: usize) -> Value {
        match self.block() {
            Some(b) if i < b.cap() => b.entries()[i].val.get(),
            _ => Value::NIL,
        }
    }

    /// Overwrites the value at entry `i`.
    #[inline(always)]
    pub fn set_at(&self, i: usize, v: Value) {
        if let Some(b) = self.block() {
            if i < b.cap() {
                b.entries()[i].val.set(v);
            }
        }
    }

    /// Looks `key` up.
    pub fn get(&self, key: *const Header) -> Option<Value> {
        self.find(key, 0).map(|i| self.value_at(i))
    }

    /// Sets `key` to `v` when that takes no new storage: the key is present
    /// (trying entry `hint` first), or the block has room for it. Returns
    /// the entry index; `None` when the table must grow ([`Table::insert`]).
    /// The caller holds the owner's writer lock.
    #[inline(always)]
    pub fn insert_in_place(&self, key: *const Header, hint: usize, v: Value) -> Option<usize> {
        if let Some(i) = self.find(key, hint) {
            self.set_at(i, v);
            return Some(i);
        }
        self.append_unshared(key, v)
    }

    /// Appends the entry `key: v` when the block has room, returning its
    /// index; `None` when the table must grow ([`Table::insert`]). The
    /// table does not hold `key`, and the caller is its only writer: it
    /// holds the owner's writer lock, or it made the owner and nothing else
    /// can reach it yet (an initializer's construction entry). Lock-free
    /// readers see the entry whole: the length is published last.
    #[inline(always)]
    pub fn append_unshared(&self, key: *const Header, v: Value) -> Option<usize> {
        let b = self.block()?;
        let len = b.published();
        if len >= b.cap() {
            return None;
        }
        debug_assert!(self.find(key, 0).is_none(), "a new key");
        let e = &b.entries()[len];
        e.val.set(v);
        e.key.store(key as *mut Header, Ordering::Relaxed);
        b.len.store(len as u32 + 1, Ordering::Release);
        Some(len)
    }

    /// Sets `key` to `v`, adding the entry if absent. Returns the entry index
    /// and, when the storage had to grow, the retired old block together with
    /// the change in bytes (the caller hands both to the heap). The caller
    /// holds the owner's writer lock.
    pub fn insert(&self, key: *const Header, v: Value) -> (usize, Option<Retired>, isize) {
        if let Some(i) = self.insert_in_place(key, 0, v) {
            return (i, None, 0);
        }
        let old = self.block.load(Ordering::Acquire);
        // SAFETY: see `block`.
        let old_ref = unsafe { old.as_ref() };
        let len = old_ref.map_or(0, |b| b.published());
        // Grow: 4 entries covers most objects; doubling keeps inserts
        // amortised O(1).
        let cap = if len == 0 { 4 } else { len * 2 };
        let np = TableBlock::alloc(cap);
        // SAFETY: `np` is a fresh block, not yet shared.
        let nb = unsafe { &*np };
        if let Some(b) = old_ref {
            for (n, o) in nb.entries().iter().zip(&b.entries()[..len]) {
                n.key
                    .store(o.key.load(Ordering::Relaxed), Ordering::Relaxed);
                n.val.set(o.val.get());
            }
        }
        nb.entries()[len].val.set(v);
        nb.entries()[len]
            .key
            .store(key as *mut Header, Ordering::Relaxed);
        nb.len.store(len as u32 + 1, Ordering::Relaxed);
        // An inline block stays part of its instance's slot (and charge).
        let delta = nb.bytes() as isize
            - old_ref.map_or(0, |b| {
                if b.cap.inline() {
                    0
                } else {
                    b.bytes() as isize
                }
            });
        self.block.store(np, Ordering::Release);
        let retired = if old.is_null() {
            None
        } else {
            Some(Retired::Table(old))
        };
        (len, retired, delta)
    }

    /// Calls `f` on every (key, value) entry, in insertion order.
    pub fn for_each(&self, mut f: impl FnMut(*const Header, Value)) {
        if let Some(b) = self.block() {
            let len = b.published();
            for e in &b.entries()[..len] {
                f(e.key.load(Ordering::Relaxed), e.val.get());
            }
        }
    }

    /// Bytes owned by this table.
    pub fn bytes(&self) -> usize {
        self.block().map_or(0, |b| b.bytes())
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let p = *self.block.get_mut();
        if !p.is_null() {
            // SAFETY: the table owns its current block; dropping the table
            // means no reader remains (the object is being freed by sweep).
            unsafe { TableBlock::free(p) };
        }
    }
}

// ---------------------------------------------------------------------------
// Lists.

/// A list's storage: a header followed, in the same allocation, by `cap`
/// slots (one allocation per block instead of two).
#[repr(C)]
pub struct ListBlock {
    /// Published length (32 bits, see [`Capacity`]).
    len: AtomicU32,
    /// The capacity, and whether this is the first block, which lives
    /// inside the list object's own allocation (see `Mcache::alloc_list`)
    /// and is freed with it.
    cap: Capacity,
    slots: [Slot; 0],
}

impl ListBlock {
    /// The bytes of a block with `cap` slots.
    pub fn size(cap: usize) -> usize {
        std::alloc::Layout::new::<ListBlock>()
            .extend(std::alloc::Layout::array::<Slot>(cap).expect("list too large"))
            .expect("list too large")
            .0
            .pad_to_align()
            .size()
    }

    /// Allocates a block of `cap` slots that holds `from`'s values, then
    /// nils, with length `from.len()`: a growing list's next block
    /// (`List::push`). Each slot is written once, and the copies take no
    /// write barrier. The block is not reachable yet, and once the list
    /// points to it, it holds only values the old block held: a mark that
    /// scans the list afterwards finds them here, one that scanned it
    /// before found them there (or the barrier shaded them as they were
    /// stored), and a scan of the old block's oblets in between reads the
    /// same values at the same indices.
    pub fn alloc_copy(cap: usize, from: &[Slot]) -> *mut ListBlock {
        assert!(from.len() <= cap, "a list block holds at most its capacity");
        let p = crate::raw::alloc(Self::size(cap)) as *mut ListBlock;
        // SAFETY: `p` is fresh, of `size(cap)` bytes, and not shared, and
        // `from` fits (asserted above).
        unsafe { Self::init_from(p, cap, from, false) };
        p
    }

    /// Initialises a block of `cap` nil slots with length 0 at `p`.
    ///
    /// # Safety
    /// `p` must point to writable memory of `size(cap)` bytes.
    pub unsafe fn init(p: *mut ListBlock, cap: usize, inline: bool) {
        // SAFETY: guaranteed by the caller.
        unsafe { Self::init_from(p, cap, &[], inline) }
    }

    /// Initialises a block of `cap` slots at `p` that holds `from`'s
    /// values, then nils, with length `from.len()`, writing each field
    /// and slot once.
    ///
    /// # Safety
    /// `p` must point to writable memory of `size(cap)` bytes, not yet
    /// shared, and `from.len() <= cap`.
    unsafe fn init_from(p: *mut ListBlock, cap: usize, from: &[Slot], inline: bool) {
        debug_assert!(from.len() <= cap);
        // SAFETY: guaranteed by the caller; every write is inside the
        // block's `size(cap)` bytes.
        unsafe {
            std::ptr::addr_of_mut!((*p).len).write(AtomicU32::new(from.len() as u32));
            std::ptr::addr_of_mut!((*p).cap).write(Capacity::new(cap, inline, "list"));
            let slots = std::ptr::addr_of_mut!((*p).slots) as *mut Slot;
            for (i, s) in from.iter().enumerate() {
                slots.add(i).write(Slot::new(s.get()));
            }
            for i in from.len()..cap {
                slots.add(i).write(Slot::new(Value::NIL));
            }
        }
    }

    /// Initialises a block of `n` nil slots with length `n` at `p`.
    ///
    /// # Safety
    /// `p` must point to writable memory of `size(n)` bytes.
    pub unsafe fn init_nils(p: *mut ListBlock, n: usize, inline: bool) {
        // SAFETY: guaranteed by the caller; `init` writes every field and
        // slot, and the block is not shared yet.
        unsafe {
            Self::init(p, n, inline);
            (*p).set_len(n);
        }
    }

    /// Initialises a block at `p` holding exactly `items` (length = capacity
    /// = `items.len()`), copying the values in directly: the block is not
    /// yet reachable, so no barrier applies.
    ///
    /// # Safety
    /// `p` must point to writable memory of `size(items.len())` bytes.
    pub unsafe fn init_with(p: *mut ListBlock, items: &[Value], inline: bool) {
        // SAFETY: guaranteed by the caller. `Slot` is a transparent wrapper
        // of `AtomicU64`, which has the layout of `u64`, as `Value` has.
        unsafe {
            std::ptr::addr_of_mut!((*p).len).write(AtomicU32::new(items.len() as u32));
            std::ptr::addr_of_mut!((*p).cap).write(Capacity::new(items.len(), inline, "list"));
            let slots = std::ptr::addr_of_mut!((*p).slots) as *mut Value;
            copy_values(items, slots);
        }
    }

    /// The capacity.
    #[inline(always)]
    pub fn cap(&self) -> usize {
        self.cap.get()
    }

    /// The published length (bounded by the capacity).
    #[inline(always)]
    pub fn len(&self) -> usize {
        (self.len.load(Ordering::Acquire) as usize).min(self.cap())
    }

    /// True when no element is published.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Publishes a new length.
    #[inline(always)]
    fn set_len(&self, n: usize) {
        self.len.store(n as u32, Ordering::Release);
    }

    /// Frees a block made by `alloc`.
    ///
    /// # Safety
    /// `p` came from `alloc` and nothing uses it any more.
    pub unsafe fn free(p: *mut ListBlock) {
        // SAFETY: guaranteed by the caller; a separate block came from
        // `raw::alloc`. An inline block belongs to its list object and is
        // freed with it.
        unsafe {
            if !(*p).cap.inline() {
                crate::raw::free(p as *mut u8, Self::size((*p).cap.get()))
            }
        }
    }

    /// The block's slots (all `cap` of them).
    #[inline(always)]
    pub fn slots(&self) -> &[Slot] {
        // SAFETY: `alloc` placed and initialised `cap` slots after the header.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), self.cap()) }
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of::<ListBlock>() + self.cap() * 8
    }
}

impl List {
    #[inline(always)]
    pub fn block(&self) -> &ListBlock {
        // SAFETY: a list always has a block (created in
        // `Mcache::alloc_list`); retired blocks are freed only at
        // stop-the-world points.
        unsafe { &*self.block.load(Ordering::Acquire) }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        let b = self.block();
        b.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> Option<Value> {
        let b = self.block();
        let len = b.len();
        if i < len {
            Some(b.slots()[i].get())
        } else {
            None
        }
    }

    /// Stores at `i` if in range; returns false otherwise.
    #[inline(always)]
    pub fn set(&self, i: usize, v: Value) -> bool {
        let b = self.block();
        let len = b.len();
        if i < len {
            b.slots()[i].set(v);
            true
        } else {
            false
        }
    }

    /// Appends; returns the retired block and byte delta when it grew.
    pub fn push(&self, v: Value) -> (Option<Retired>, isize) {
        let old = self.block.load(Ordering::Acquire);
        // SAFETY: see `block`.
        let b = unsafe { &*old };
        let len = b.len();
        if len < b.cap() {
            b.slots()[len].set(v);
            b.set_len(len + 1);
            return (None, 0);
        }
        // Doubling (minimum 4) keeps pushes amortised O(1).
        let cap = (len * 2).max(4);
        let np = ListBlock::alloc_copy(cap, &b.slots()[..len]);
        // SAFETY: `np` is a fresh block, not yet shared.
        let nb = unsafe { &*np };
        // Through the barrier: `v` is new to the list, which the mark may
        // have scanned already.
        nb.slots()[len].set(v);
        nb.set_len(len + 1);
        let delta = nb.bytes() as isize - b.bytes() as isize;
        self.block.store(np, Ordering::Release);
        (Some(Retired::List(old)), delta)
    }

    /// Removes and returns the last element.
    pub fn pop(&self) -> Option<Value> {
        let b = self.block();
        let len = b.len();
        if len == 0 {
            return None;
        }
        let v = b.slots()[len - 1].get();
        b.set_len(len - 1);
        // The value leaves the heap without a slot write: shade it like
        // the barrier shades an overwritten value.
        crate::gc::shade(v);
        b.slots()[len - 1].clear_dead();
        Some(v)
    }

    /// Calls `f` on each element (the collector's tracing path: no
    /// allocation).
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(Value)) {
        let b = self.block();
        let len = b.len();
        for s in &b.slots()[..len] {
            f(s.get());
        }
    }

    /// A snapshot of the elements.
    pub fn to_vec(&self) -> Vec<Value> {
        let b = self.block();
        let len = b.len();
        (0..len).map(|i| b.slots()[i].get()).collect()
    }

    pub fn bytes(&self) -> usize {
        self.block().bytes()
    }
}

impl Drop for List {
    fn drop(&mut self) {
        let p = *self.block.get_mut();
        // SAFETY: the list owns its current block; see `Table::drop`.
        unsafe { ListBlock::free(p) };
    }
}

/// Storage replaced by a grow, waiting to be freed at a stop-the-world point.
pub enum Retired {
    Table(*mut TableBlock),
    List(*mut ListBlock),
}

// SAFETY: a retired block is owned exclusively by the retire list; it is only
// freed (never read) by whichever thread drains the list.
unsafe impl Send for Retired {}

impl Retired {
    /// Frees the block.
    ///
    /// # Safety
    /// No mutator may still hold a reference into the block.
    pub unsafe fn free(self) {
        match self {
            // SAFETY: the caller guarantees exclusivity; table blocks come
            // from `TableBlock::alloc`.
            Retired::Table(p) => unsafe { TableBlock::free(p) },
            // SAFETY: as above; list blocks come from `ListBlock::alloc_copy`.
            Retired::List(p) => unsafe { ListBlock::free(p) },
        }
    }
}

// ---------------------------------------------------------------------------
// Typed access.

macro_rules! accessor {
    ($name:ident, $kind:ident, $ty:ty) => {
        /// Borrows the body, if `v` is an object of this kind.
        #[inline(always)]
        pub fn $name<'a>(v: Value) -> Option<&'a $ty> {
            if v.is_kind(Kind::$kind) {
                // SAFETY: the kind check guarantees the header is followed by
                // a body of this type (`Obj<T>` is `repr(C)`); the object is
                // alive while reachable, and the caller does not keep the
                // reference across a safepoint.
                Some(unsafe { &(*(v.as_obj() as *const Obj<$ty>)).body })
            } else {
                None
            }
        }
    };
}

accessor!(as_string, String, Str);
accessor!(as_function, Function, Function);
accessor!(as_closure, Closure, Closure);
accessor!(as_cell, Cell, Cell);
accessor!(as_class, Class, Class);
accessor!(as_instance, Instance, Instance);
accessor!(as_bound, BoundMethod, BoundMethod);
accessor!(as_list, List, List);
accessor!(as_map, Map, Map);
accessor!(as_native, Native, Native);
accessor!(as_module, Module, Module);
accessor!(as_handle, Handle, Handle);

/// Borrows the body of an object whose kind the caller has already checked.
///
/// # Safety
/// `v` must be an object of the kind whose body type is `T`.
#[inline(always)]
pub unsafe fn body<'a, T>(v: Value) -> &'a T {
    // SAFETY: guaranteed by the caller.
    unsafe { &(*(v.as_obj() as *const Obj<T>)).body }
}

/// The string's bytes as `str` (lossy for non-UTF-8 content).
pub fn str_text(s: &Str) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(s.bytes())
}

/// A fast deterministic string hash (determinism matters: nothing
/// observable may depend on a random hash seed, or deterministic mode
/// would not repeat). It consumes eight bytes per step with FxHash's
/// rotate-xor-multiply (the multiplier is the 64-bit golden-ratio constant
/// FxHash uses), then mixes in the length.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h: u64 = 0;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    (h.rotate_left(5) ^ bytes.len() as u64).wrapping_mul(K)
}

#[cfg(test)]
mod tests {
    use super::{copy_values, ListBlock};
    use crate::value::{Slot, Value};

    /// A grown list's block holds the old values at their indices, nil in
    /// every slot after them, and the old length; above the mapping
    /// threshold too.
    #[test]
    fn a_grown_block_holds_the_old_values_then_nils() {
        for (len, cap) in [(0, 4), (3, 4), (4, 8), (40_000, 80_000)] {
            let from: Vec<Slot> = (0..len)
                .map(|i| Slot::new(Value::number(i as f64)))
                .collect();
            let p = ListBlock::alloc_copy(cap, &from);
            // SAFETY: `alloc_copy` returned an initialised block.
            let b = unsafe { &*p };
            assert_eq!((b.len(), b.cap()), (len, cap));
            assert!(b.slots()[..len]
                .iter()
                .enumerate()
                .all(|(i, s)| s.get().as_number() == i as f64));
            assert!(
                b.slots()[len..].iter().all(|s| s.get().is_nil()),
                "{len}/{cap}"
            );
            // SAFETY: the block came from `alloc_copy` and is not shared.
            unsafe { ListBlock::free(p) };
        }
    }

    /// Every length, below and past the `memcpy` threshold, copies
    /// exactly its values in order and writes nothing after them.
    #[test]
    fn copy_values_copies_exactly_n_values() {
        for n in 0..=10usize {
            let items: Vec<Value> = (0..n).map(|i| Value::number(i as f64 + 1.0)).collect();
            let mut dst = vec![Value::NIL; n + 2];
            // SAFETY: `dst` holds `n` values and more, apart from `items`.
            unsafe { copy_values(&items, dst.as_mut_ptr()) };
            assert!(dst[..n] == items[..], "length {n}");
            assert!(
                dst[n..].iter().all(|v| v.is_nil()),
                "length {n}: past the end"
            );
        }
    }
}
