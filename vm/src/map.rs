//! Skein maps: insertion-ordered hash maps with Skein key semantics.
//!
//! Keys (`docs/language.md`, "Maps"): `nil`, booleans, numbers and strings
//! compare by value; every other object by identity. Numbers hash by their value with `-0`
//! folded into `0` (they are `==`); a NaN key is never equal to itself, so it
//! can be inserted but never found again (as in Go).
//!
//! A map is guarded by a short per-map lock (lists and tables stay
//! lock-free for readers); values are `Slot`s so that every heap write goes through the barrier.
//! Iteration order is insertion order; deleting preserves the order of the
//! remaining entries.

use std::hash::{Hash, Hasher};

use indexmap::IndexMap;

use crate::object::as_string;
use crate::value::{Slot, Value};

/// A map key with Skein equality.
#[derive(Clone, Copy)]
pub struct Key(pub Value);

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        values_equal(self.0, other.0)
    }
}
impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let v = self.0;
        if v.is_number() {
            let n = v.as_number();
            let n = if n == 0.0 { 0.0 } else { n };
            state.write_u64(n.to_bits());
        } else if let Some(s) = as_string(v) {
            state.write_u64(s.hash());
        } else {
            state.write_u64(v.0);
        }
    }
}

/// Skein `==`: numbers by value, strings by content, everything else by
/// identity (bit equality).
#[inline]
pub fn values_equal(a: Value, b: Value) -> bool {
    if a.is_number() && b.is_number() {
        return a.as_number() == b.as_number();
    }
    if a == b {
        return true;
    }
    match (as_string(a), as_string(b)) {
        (Some(x), Some(y)) => x.len() == y.len() && x.bytes() == y.bytes(),
        _ => false,
    }
}

/// The map's contents.
#[derive(Default)]
pub struct MapTable {
    pub entries: IndexMap<Key, Slot, FxBuild>,
}

impl MapTable {
    pub fn get(&self, k: Value) -> Option<Value> {
        self.entries.get(&Key(k)).map(|s| s.get())
    }
    pub fn insert(&mut self, k: Value, v: Value) {
        match self.entries.get(&Key(k)) {
            Some(slot) => slot.set(v),
            None => {
                if crate::gc::barrier_enabled() {
                    crate::gc::write_barrier(Value::NIL, k);
                }
                self.entries.insert(Key(k), Slot::new(v));
                if crate::gc::barrier_enabled() {
                    crate::gc::write_barrier(Value::NIL, v);
                }
            }
        }
    }
    pub fn remove(&mut self, k: Value) -> Option<Value> {
        let (i, key, slot) = self.entries.shift_remove_full(&Key(k))?;
        // The entry leaves the heap without a slot write: shade what it
        // held, as the write barrier shades an overwritten value.
        crate::gc::shade(key.0);
        let v = slot.get();
        crate::gc::shade(v);
        if crate::gc::barrier_enabled() {
            self.shade_oblet_crossers(i);
        }
        Some(v)
    }

    /// After a delete at `i` shifted the later entries down by one: the
    /// entries that moved from the first index of a marker's oblet into
    /// the oblet before it (which may be scanned already) are shaded, so a
    /// map scanned in pieces misses none (`gc::mark::OBLET_LEN`).
    fn shade_oblet_crossers(&self, i: usize) {
        let n = crate::gc::mark::OBLET_LEN;
        // The entry now at `j - 1` was at `j`, a multiple of `n` above `i`.
        let first = (i / n + 1) * n;
        for j in (first..=self.entries.len()).step_by(n) {
            if let Some((key, slot)) = self.entries.get_index(j - 1) {
                crate::gc::shade(key.0);
                crate::gc::shade(slot.get());
            }
        }
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Approximate bytes owned (for heap accounting).
    pub fn bytes(&self) -> usize {
        self.entries.capacity() * 32
    }
}

/// A fixed, deterministic hasher (FxHash-style multiply-rotate): map
/// iteration is insertion ordered anyway, and nothing may depend on a random
/// seed (deterministic mode, `docs/runtime.md`).
#[derive(Default, Clone, Copy)]
pub struct FxBuild;

impl std::hash::BuildHasher for FxBuild {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

/// See [`FxBuild`].
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        // The multiply moves entropy only upwards: a key with many low zero
        // bits (an integral number's `f64` bits have up to 52) keeps them
        // all, and the table, which picks buckets by the low bits, would
        // put every such key in one probe sequence. Rotating brings the
        // well-mixed high bits down; 26 is rustc-hash's choice for 64 bits.
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, i: u64) {
        // The constant is the 64-bit golden-ratio multiplier used by FxHash.
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
