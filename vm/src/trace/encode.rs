//! The binary trace format and the per-P buffers that write it.
//!
//! Go's tracer keeps one buffer per P, encodes each event into it the moment
//! it happens, and hands a full buffer to a writer as one *batch*; nothing is
//! ordered or formatted while the program runs. Skein does the same, so a
//! traced run costs a bounded amount of memory whatever its length: at most
//! [`BATCH_BYTES`] (plus one event) per P, and what the [`Sink`] keeps.
//!
//! # The format (`.sktrace`)
//!
//! All integers are LEB128 varints; `zigzag` maps a signed number to an
//! unsigned one (0, -1, 1, -2, ... → 0, 1, 2, 3, ...).
//!
//! ```text
//! file   = "SKTRACE1" header chunk*
//! header = version(=1) ns_per_tick start_tick flags
//! chunk  = 0x01 id len bytes                  a string of the string table
//!        | 0x02 stream count len bytes        a batch: `count` events, `len` bytes
//!        | 0x03 ns ticks                      a real clock's rate: `ticks` took `ns`
//! event  = kind|argc<<5  zigzag(Δtick)  [zigzag(Δseq)]  g  arg*
//! arg    = key<<2|tag  value                  tag 0: unsigned, 1: zigzag signed,
//!                                             2: string id, 3: label string id
//! ```
//!
//! - `ns_per_tick` is 100 under `--sim` (each virtual tick models 100 ns)
//!   and 1 for a real clock. A real clock's ticks are CPU time-stamp counts
//!   since the trace started (`cputicks`); the clock chunk, written when the
//!   recording ends, says how long they were, and the reader turns them
//!   into nanoseconds.
//! - `start_tick` is the first tick the file holds every event from: 0, or
//!   where a flight recording was cut.
//! - `flags` bit 0: events carry `seq` (deterministic mode, where ticks
//!   tie); without it every event's `seq` is 0 and takes no byte.
//! - A batch holds the events of one *stream* in the order they happened: a
//!   P's number, or [`STREAM_OUTSIDE_P`] / [`STREAM_SYSMON`] for the two
//!   sources that belong to no P (whose events have no P).
//! - Within a batch, `tick` and `seq` are deltas from the previous event
//!   (from 0 for the first), and `g` is the G's id plus one (0: none).
//! - `key` and string values are ids into the string table. A string is
//!   defined before the first batch that uses it.
//!
//! A pingpong event takes about 7 bytes this way (`bench/RESULTS.md`).
//!
//! # Invariants
//!
//! - Only the thread that owns a P touches its [`Buffer`] (the P's local
//!   state), so `push` takes `&mut self` and no lock.
//! - Within a stream, events are in push order, and so in `(tick, seq)`
//!   order: a P's events are pushed by whichever thread holds the P, one at
//!   a time, and the clock is monotonic across threads.

use std::sync::atomic::{AtomicU64, Ordering};

use super::sink::Sink;
use super::{Arg, EventKind};

/// The first bytes of every binary trace.
pub const MAGIC: &[u8; 8] = b"SKTRACE1";
/// The format's version, written after the magic.
pub const VERSION: u64 = 1;
/// Chunk tag: a string of the string table.
pub const CHUNK_STRING: u8 = 0x01;
/// Chunk tag: a batch of events.
pub const CHUNK_BATCH: u8 = 0x02;
/// Chunk tag: the rate of a real clock's ticks.
pub const CHUNK_CLOCK: u8 = 0x03;
/// The stream of the outside P (events outside any P, driven by a thread
/// that holds the outside P's lock).
pub const STREAM_OUTSIDE_P: u32 = u32::MAX - 1;
/// The stream of events recorded without any P at all (sysmon).
pub const STREAM_SYSMON: u32 = u32::MAX;
/// A buffer is written out as a batch once it holds this many bytes: large
/// enough that writing costs one system call per some thousands of events,
/// small enough that 256 Ps stay within 16 MiB. (The flight recorder asks
/// for smaller batches: `Sink::batch_bytes`.)
pub const BATCH_BYTES: usize = 64 * 1024;
/// How many arguments an event may carry: `argc` has three bits.
pub const MAX_ARGS: usize = 7;

/// Argument tags (the low two bits of an argument's first varint).
pub(crate) const TAG_U: u64 = 0;
pub(crate) const TAG_I: u64 = 1;
pub(crate) const TAG_S: u64 = 2;
pub(crate) const TAG_LABEL: u64 = 3;

/// The source of event sequence numbers in deterministic mode. It starts at
/// 1 so that 0 marks an event that never got one (sysmon's, which sort
/// first among equal ticks).
static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

/// The next sequence number. Relaxed is enough: all read-modify-writes of one
/// atomic form a single total order that agrees with happens-before, so an
/// event that happened before another (on any thread) gets a smaller `seq`.
pub fn next_seq() -> u64 {
    NEXT_SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Entries in a buffer's string cache: a power of two, several times the
/// runtime's whole vocabulary of keys and reasons (about 60 words), so
/// that two words rarely share a slot (a miss takes the sink's lock).
const CACHE_SLOTS: usize = 512;

/// One stream's event buffer: events encoded as they happen, written to the
/// sink as a batch when full (see the module docs).
#[derive(Debug)]
pub struct Buffer {
    stream: u32,
    bytes: Vec<u8>,
    count: u64,
    last_tick: u64,
    last_seq: u64,
    /// Direct-mapped cache from a `&'static str`'s address and length to its
    /// string id in the sink's table, so a word is looked up under the
    /// sink's lock only the first time this buffer meets it. `generation`
    /// ties the cache to one recording (ids restart with every recording).
    cache: Box<[(usize, usize, u32)]>,
    generation: u64,
    /// The recording's events carry sequence numbers (its header says so).
    sequenced: bool,
    /// Write the batch out at this many bytes (`Sink::batch_bytes`).
    limit: usize,
}

impl Buffer {
    /// An empty buffer for `stream` (a P's number, [`STREAM_OUTSIDE_P`] or
    /// [`STREAM_SYSMON`]).
    pub fn new(stream: u32) -> Buffer {
        Buffer {
            stream,
            bytes: Vec::new(),
            count: 0,
            last_tick: 0,
            last_seq: 0,
            cache: vec![(0, 0, 0); CACHE_SLOTS].into_boxed_slice(),
            generation: u64::MAX,
            sequenced: true,
            limit: BATCH_BYTES,
        }
    }

    /// Encodes one event and writes the batch out when the buffer is full.
    /// `seq` is the event's tie-breaker (`next_seq()` in deterministic
    /// mode, 0 otherwise; see the module docs of `trace`).
    #[inline]
    pub fn push(
        &mut self,
        sink: &Sink,
        tick: u64,
        seq: u64,
        g: Option<u64>,
        kind: EventKind,
        args: &[(&'static str, Arg)],
    ) {
        let generation = sink.generation();
        if generation != self.generation {
            // A new recording: ids of the old one mean nothing to it.
            self.clear();
            self.cache.fill((0, 0, 0));
            self.generation = generation;
            self.sequenced = sink.sequenced();
            self.limit = sink.batch_bytes();
        }
        // One capacity check per event, then the bytes are written through
        // a cursor into the reserved space.
        self.bytes.reserve(MAX_EVENT_BYTES);
        let mut out = Cursor {
            // SAFETY: `len` is within the allocation (at its end).
            at: unsafe { self.bytes.as_mut_ptr().add(self.bytes.len()) },
            written: 0,
        };
        let argc = args.len().min(MAX_ARGS);
        // SAFETY: an event takes at most MAX_EVENT_BYTES, all reserved
        // above (this holds for every `out` call below).
        unsafe {
            out.byte(kind as u8 | (argc as u8) << 5);
            out.varint(zigzag(tick.wrapping_sub(self.last_tick) as i64));
            if self.sequenced {
                out.varint(zigzag(seq.wrapping_sub(self.last_seq) as i64));
            }
            out.varint(g.map_or(0, |g| g + 1));
        }
        for (key, value) in &args[..argc] {
            let key = u64::from(self.word(sink, key)) << 2;
            let (tag, v) = match value {
                Arg::U(v) => (TAG_U, *v),
                Arg::I(v) => (TAG_I, zigzag(*v)),
                Arg::S(s) => (TAG_S, u64::from(self.word(sink, s))),
                // Labels are program text (function names): not 'static,
                // so they skip the cache.
                Arg::Label(s) => (TAG_LABEL, u64::from(sink.intern(s))),
            };
            // SAFETY: as above.
            unsafe {
                out.varint(key | tag);
                out.varint(v);
            }
        }
        let new_len = self.bytes.len() + out.written;
        // SAFETY: the bytes up to `new_len` were written above, within the
        // reserved capacity.
        unsafe { self.bytes.set_len(new_len) };
        self.last_tick = tick;
        self.last_seq = seq;
        self.count += 1;
        if self.bytes.len() >= self.limit {
            self.flush(sink);
        }
    }

    /// Writes the events held so far to `sink` as one batch.
    pub fn flush(&mut self, sink: &Sink) {
        if self.count > 0 && self.generation == sink.generation() {
            sink.write_batch(
                self.generation,
                self.stream,
                self.count,
                &self.bytes,
                self.last_tick,
            );
        }
        self.clear();
    }

    /// Forgets the events held so far; the next event starts a batch.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
        self.last_tick = 0;
        self.last_seq = 0;
    }

    /// How many events the buffer holds (not yet written out).
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the buffer holds no events.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The string id of a word of the runtime's vocabulary.
    #[inline(always)]
    fn word(&mut self, sink: &Sink, s: &'static str) -> u32 {
        let addr = s.as_ptr() as usize;
        // Literals lie next to each other in the binary's read-only data:
        // the address's low bits tell them apart; folding in the bits
        // above the cache's nine index bits (512 slots) spreads literals
        // that lie a multiple of 512 bytes apart.
        let slot = (addr ^ (addr >> 9)) & (CACHE_SLOTS - 1);
        // SAFETY: `slot` is masked to the cache's length.
        let (a, len, id) = unsafe { *self.cache.get_unchecked(slot) };
        if a == addr && len == s.len() {
            return id;
        }
        self.word_miss(sink, s, slot)
    }

    /// A word not in the cache: its id from the sink, remembered.
    #[cold]
    #[inline(never)]
    fn word_miss(&mut self, sink: &Sink, s: &'static str, slot: usize) -> u32 {
        let id = sink.intern(s);
        self.cache[slot] = (s.as_ptr() as usize, s.len(), id);
        id
    }
}

/// The most bytes one event takes: its head, three varints of at most ten
/// bytes, and two varints per argument.
const MAX_EVENT_BYTES: usize = 1 + 3 * 10 + MAX_ARGS * 2 * 10;

/// A write position in a buffer's reserved space.
struct Cursor {
    at: *mut u8,
    written: usize,
}

impl Cursor {
    /// Writes one byte.
    ///
    /// # Safety
    /// The space after the cursor must hold one more byte.
    #[inline(always)]
    unsafe fn byte(&mut self, b: u8) {
        // SAFETY: the caller guarantees the space.
        unsafe {
            self.at.write(b);
            self.at = self.at.add(1);
        }
        self.written += 1;
    }

    /// Writes `v` as a LEB128 varint.
    ///
    /// # Safety
    /// The space after the cursor must hold ten more bytes.
    #[inline(always)]
    unsafe fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            // SAFETY: the caller guarantees the space.
            unsafe { self.byte(v as u8 | 0x80) };
            v >>= 7;
        }
        // SAFETY: as above.
        unsafe { self.byte(v as u8) };
    }
}

/// Appends `v` as a LEB128 varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Maps a signed number to an unsigned one, small magnitudes to small
/// numbers.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips() {
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn varints_are_leb128() {
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        put_varint(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
    }
}
