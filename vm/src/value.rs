//! Values: one NaN-boxed 64-bit word, and `Slot`, the only way to write one
//! into the heap.
//!
//! Encoding:
//! - A double is stored as its own bits. Every double the VM produces is either
//!   a non-NaN or a NaN whose quiet-NaN bits do not include all of [`QNAN`]
//!   (hardware default NaNs are `0x7ff8…`/`0xfff8…`); [`Value::number`]
//!   canonicalises any NaN that would collide.
//! - `nil`, `false`, `true` and the internal `UNDEF` marker (an undefined
//!   global) are `QNAN | tag` with the sign bit clear.
//! - An object pointer is `SIGN | QNAN | address` (48-bit address).
//!
//! Invariant: heap memory that holds a `Value` is a [`Slot`] (an `AtomicU64`
//! read and written with relaxed atomics), so a concurrent reader can never
//! see a torn value, and `Slot::set` is the single place where the write
//! barrier lives.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::object::{Header, Kind};

/// The quiet-NaN bits that mark a non-number.
pub const QNAN: u64 = 0x7ffc_0000_0000_0000;
/// The sign bit marks an object pointer (with `QNAN`).
pub const SIGN: u64 = 0x8000_0000_0000_0000;
const TAG_NIL: u64 = 1;
const TAG_FALSE: u64 = 2;
const TAG_TRUE: u64 = 3;
const TAG_UNDEF: u64 = 4;

/// A Skein value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Value(pub u64);

impl Value {
    pub const NIL: Value = Value(QNAN | TAG_NIL);
    pub const FALSE: Value = Value(QNAN | TAG_FALSE);
    pub const TRUE: Value = Value(QNAN | TAG_TRUE);
    /// Marks an undefined global slot. Never visible to Skein code.
    pub const UNDEF: Value = Value(QNAN | TAG_UNDEF);

    /// A number. NaNs that would collide with the boxing space are
    /// canonicalised.
    #[inline(always)]
    pub fn number(n: f64) -> Value {
        let bits = n.to_bits();
        if bits & QNAN == QNAN {
            Value(f64::NAN.to_bits())
        } else {
            Value(bits)
        }
    }

    /// A number known not to be a colliding NaN (the result of arithmetic on
    /// numbers).
    #[inline(always)]
    pub fn number_raw(n: f64) -> Value {
        Value(n.to_bits())
    }

    #[inline(always)]
    pub fn bool(b: bool) -> Value {
        if b {
            Value::TRUE
        } else {
            Value::FALSE
        }
    }

    /// The Boolean `!b` (clox's `<=` is `!(x > y)`).
    #[inline(always)]
    pub fn bool_not(b: bool) -> Value {
        Value::bool(!b)
    }

    /// An object reference.
    #[inline(always)]
    pub fn object(p: *const Header) -> Value {
        Value(SIGN | QNAN | p as u64)
    }

    #[inline(always)]
    pub fn is_number(self) -> bool {
        self.0 & QNAN != QNAN
    }
    #[inline(always)]
    pub fn as_number(self) -> f64 {
        f64::from_bits(self.0)
    }
    #[inline(always)]
    pub fn is_nil(self) -> bool {
        self == Value::NIL
    }
    #[inline(always)]
    pub fn is_bool(self) -> bool {
        self == Value::TRUE || self == Value::FALSE
    }
    /// Objects are exactly the words at or above `SIGN | QNAN`: every other
    /// encoding is below it (negative numbers and the hardware's default NaN
    /// `0xfff8…` included, and colliding NaNs are canonicalised), so one
    /// unsigned compare decides.
    #[inline(always)]
    pub fn is_obj(self) -> bool {
        self.0 >= SIGN | QNAN
    }
    /// The object pointer (only meaningful when `is_obj`): the word minus the
    /// tag, which for an object equals masking the tag off.
    #[inline(always)]
    pub fn as_obj(self) -> *mut Header {
        self.0.wrapping_sub(SIGN | QNAN) as *mut Header
    }
    /// `nil` and `false` are falsey; everything else is truthy.
    #[inline(always)]
    pub fn is_falsey(self) -> bool {
        self == Value::NIL || self == Value::FALSE
    }

    /// The object kind, if this is an object.
    #[inline(always)]
    pub fn kind(self) -> Option<Kind> {
        if self.is_obj() {
            // SAFETY: a value with the object tag always holds a pointer to a
            // live object header (the collector keeps every reachable object
            // alive, and values are only created from live objects).
            Some(unsafe { (*self.as_obj()).kind })
        } else {
            None
        }
    }

    /// True if this is an object of kind `k`.
    #[inline(always)]
    pub fn is_kind(self, k: Kind) -> bool {
        self.kind() == Some(k)
    }

    /// Number if this is an integral number that fits in `i64`.
    pub fn as_integer(self) -> Option<i64> {
        if !self.is_number() {
            return None;
        }
        let n = self.as_number();
        if n.fract() == 0.0 && n.abs() < 9.0e15 {
            Some(n as i64)
        } else {
            None
        }
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_number() {
            write!(f, "{}", self.as_number())
        } else if self.is_nil() {
            write!(f, "nil")
        } else if *self == Value::TRUE {
            write!(f, "true")
        } else if *self == Value::FALSE {
            write!(f, "false")
        } else if *self == Value::UNDEF {
            write!(f, "<undef>")
        } else {
            write!(f, "<obj {:p} {:?}>", self.as_obj(), self.kind())
        }
    }
}

/// A heap slot holding a `Value`. Reads are acquire loads and writes release
/// stores (plain moves on x86-64), so a thread that reads a pointer to a
/// freshly allocated object also sees the object's initialised body (a
/// concurrent marker included); `set` carries the write barrier.
#[repr(transparent)]
pub struct Slot(AtomicU64);

impl Slot {
    pub const fn new(v: Value) -> Slot {
        Slot(AtomicU64::new(v.0))
    }
    #[inline(always)]
    pub fn get(&self) -> Value {
        Value(self.0.load(Ordering::Acquire))
    }
    /// Stores `v`. This is the only way to write a heap slot, and the place
    /// where the collector's write barrier hooks in: while a concurrent mark
    /// phase runs, the old and the new value are shaded (`gc`).
    #[inline(always)]
    pub fn set(&self, v: Value) {
        if crate::gc::barrier_enabled() {
            crate::gc::write_barrier(self.get(), v);
        }
        self.0.store(v.0, Ordering::Release);
    }
    /// Stores nil, without the barrier, into a slot that has just left its
    /// object's readable part (a list slot past the new length after a
    /// pop). The value it held was shaded as it left; without the clear it
    /// would stay behind, and the barrier of the next write to the slot
    /// (a push) would shade it again, after a later cycle may have freed it.
    #[inline(always)]
    pub fn clear_dead(&self) {
        self.0.store(Value::NIL.0, Ordering::Release);
    }
}

impl Default for Slot {
    fn default() -> Self {
        Slot::new(Value::NIL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_one_word() {
        assert_eq!(std::mem::size_of::<Value>(), 8);
        assert_eq!(std::mem::size_of::<Slot>(), 8);
    }

    #[test]
    fn encodings_are_distinct() {
        for n in [0.0, -0.0, 1.5, f64::INFINITY, f64::NEG_INFINITY, f64::MAX] {
            let v = Value::number(n);
            assert!(v.is_number() && !v.is_obj());
            assert_eq!(v.as_number().to_bits(), n.to_bits());
        }
        let nan = Value::number(f64::NAN);
        assert!(nan.is_number() && nan.as_number().is_nan());
        let weird = Value::number(f64::from_bits(0x7fff_ffff_ffff_ffff));
        assert!(weird.is_number() && weird.as_number().is_nan());
        for v in [Value::NIL, Value::TRUE, Value::FALSE, Value::UNDEF] {
            assert!(!v.is_number() && !v.is_obj());
        }
        assert!(Value::NIL.is_falsey() && Value::FALSE.is_falsey());
        assert!(!Value::TRUE.is_falsey() && !Value::number(0.0).is_falsey());
    }
}
