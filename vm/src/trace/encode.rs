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
//!   defined before the first batch that uses it. The table of every
//!   recording begins with the runtime's argument keys ([`KEYS`], ids 0 to
//!   11), so the runtime's events encode their keys as constants ([`Key`]);
//!   a reader needs no knowledge of that, as the strings are in the file.
//!
//! A pingpong event takes about 5 bytes this way (`bench/RESULTS.md`).
//!
//! # Cost
//!
//! Tracing `bench/pingpong.sk` records six events per round trip, so the
//! encoder is written for the instructions it costs: [`Buffer::push`] and
//! `Ctx::trace` are inlined into each call site, where the event's kind,
//! its argument count, its keys and the kinds of its values are constants;
//! one- and two-byte varints are written without a loop; there is always
//! room for one more event; a sequence number is taken only in
//! deterministic mode ([`Buffer::record`]); a `GoStart` at the tick of the
//! event before it is three bytes stored ([`Buffer::push_again`]); a new
//! recording and a full batch are out of line.
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

/// The keys the runtime's events use, in the order of their string ids:
/// every recording's string table begins with them (`Sink::begin`), so a
/// [`Key`]'s id is known when the program is compiled and an event's key
/// costs no lookup.
pub const KEYS: [&str; 12] = [
    "g", "next", "reason", "n", "fn", "p", "kind", "mode", "m", "trigger", "live", "goal",
];

/// An argument key of the runtime's own events: an index into [`KEYS`],
/// checked when the program is compiled (`Key::new` of a word not in
/// `KEYS` does not compile where it is a constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key(u8);

impl Key {
    /// The key `name`, which must be one of [`KEYS`].
    pub const fn new(name: &str) -> Key {
        let mut i = 0;
        while i < KEYS.len() {
            if str_eq(KEYS[i], name) {
                return Key(i as u8);
            }
            i += 1;
        }
        panic!("not a key of the runtime's events (encode::KEYS)");
    }

    /// The key's text.
    pub fn name(self) -> &'static str {
        KEYS[usize::from(self.0)]
    }

    /// `g=`: a goroutine's id.
    pub const G: Key = Key::new("g");
    /// `next=`: a readied goroutine went to `runnext`.
    pub const NEXT: Key = Key::new("next");
    /// `reason=`: why (a park, a stop, a stop-the-world).
    pub const REASON: Key = Key::new("reason");
    /// `n=`: a count, or a cycle's number.
    pub const N: Key = Key::new("n");
    /// `fn=`: a function's name (a label).
    pub const FN: Key = Key::new("fn");
    /// `p=`: a P's number.
    pub const P: Key = Key::new("p");
    /// `kind=`: a goroutine's kind.
    pub const KIND: Key = Key::new("kind");
    /// `mode=`: a mark worker's mode.
    pub const MODE: Key = Key::new("mode");
    /// `m=`: an M's number.
    pub const M: Key = Key::new("m");
    /// `trigger=`: what started a cycle.
    pub const TRIGGER: Key = Key::new("trigger");
    /// `live=`: live heap bytes.
    pub const LIVE: Key = Key::new("live");
    /// `goal=`: the heap goal in bytes.
    pub const GOAL: Key = Key::new("goal");
}

/// `a == b`, usable in constants.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// What an event's argument key can be: one of the runtime's [`Key`]s
/// (its id is a constant) or any `'static` word (looked up in the
/// buffer's cache; events read back from a file carry those).
pub trait EventKey: Copy {
    /// The key's string id in the buffer's recording.
    fn id(self, buffer: &mut Buffer, sink: &Sink) -> u32;
}

impl EventKey for Key {
    #[inline(always)]
    fn id(self, _: &mut Buffer, _: &Sink) -> u32 {
        u32::from(self.0)
    }
}

impl EventKey for &'static str {
    #[inline(always)]
    fn id(self, buffer: &mut Buffer, sink: &Sink) -> u32 {
        buffer.word(sink, self)
    }
}

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
    /// The tick of the latest event pushed (kept across batches; the
    /// tick of `push_again`'s event when it starts a batch).
    latest: u64,
    /// Where the running code stood when the latest event was recorded,
    /// as its recorder described it ([`Buffer::mark_latest`]); 0 when it
    /// did not.
    latest_mark: u64,
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
            latest: 0,
            latest_mark: 0,
            cache: vec![(0, 0, 0); CACHE_SLOTS].into_boxed_slice(),
            generation: u64::MAX,
            sequenced: true,
            limit: BATCH_BYTES,
        }
    }

    /// Encodes one event and writes the batch out when the buffer is full.
    /// `seq` is the event's tie-breaker (`next_seq()` in deterministic
    /// mode, 0 otherwise; see the module docs of `trace`).
    ///
    /// This runs for every event of a traced program (three per channel
    /// hand-off in `bench/pingpong.sk`), so the common case is kept short:
    /// one comparison for the recording (space for an event is always
    /// there), then the bytes are stored through a raw cursor; a new
    /// recording and a full batch are out of line.
    #[inline(always)]
    pub fn push<K: EventKey>(
        &mut self,
        sink: &Sink,
        tick: u64,
        seq: u64,
        g: Option<u64>,
        kind: EventKind,
        args: &[(K, Arg)],
    ) {
        self.record(sink, tick, || seq, g, kind, args);
    }

    /// [`Buffer::push`], with the sequence number asked of `seq` only when
    /// the recording keeps them (deterministic mode), so that a real-clock
    /// event pays for neither the counter nor a test of the mode.
    #[inline(always)]
    pub fn record<K: EventKey>(
        &mut self,
        sink: &Sink,
        tick: u64,
        seq: impl FnOnce() -> u64,
        g: Option<u64>,
        kind: EventKind,
        args: &[(K, Arg)],
    ) {
        if sink.generation() != self.generation {
            self.restart(sink);
        }
        // No check for space: `restart` made room for `limit` bytes and
        // one more event, and a buffer that reaches `limit` is written out
        // at once (below).
        debug_assert!(self.bytes.capacity() - self.bytes.len() >= MAX_EVENT_BYTES);
        let argc = args.len().min(MAX_ARGS);
        // SAFETY: `len` is within the allocation (at its end), and an event
        // takes at most MAX_EVENT_BYTES, all reserved above: every write
        // through `out` below stays inside the allocation.
        let mut out = Cursor(unsafe { self.bytes.as_mut_ptr().add(self.bytes.len()) });
        let start = out.0;
        // SAFETY: as above, for each write.
        unsafe {
            out.byte(kind as u8 | (argc as u8) << 5);
            out.varint(zigzag(tick.wrapping_sub(self.last_tick) as i64));
            if self.sequenced {
                let seq = seq();
                out.varint(zigzag(seq.wrapping_sub(self.last_seq) as i64));
                self.last_seq = seq;
            }
            out.varint(g.map_or(0, |g| g + 1));
        }
        for (key, value) in &args[..argc] {
            let key = u64::from(key.id(self, sink)) << 2;
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
        // SAFETY: `out` moved forward from `start` within the allocation,
        // and the bytes in between were written above.
        unsafe {
            let written = out.0.offset_from(start) as usize;
            self.bytes.set_len(self.bytes.len() + written);
        }
        self.last_tick = tick;
        self.latest = tick;
        self.latest_mark = 0;
        self.count += 1;
        if self.bytes.len() >= self.limit {
            self.flush(sink);
        }
    }

    /// Records an event without arguments at the tick of the latest one,
    /// for a real clock (`GoStart` of a direct hand-off, which happens at
    /// the instant the previous goroutine stopped). Within a batch of a
    /// real-clock recording that is the head byte, a zero tick delta and
    /// `g`; anything else goes the general way.
    #[inline(always)]
    pub fn push_again(&mut self, sink: &Sink, g: Option<u64>, kind: EventKind) {
        if self.count == 0 || self.sequenced || sink.generation() != self.generation {
            return self.push::<Key>(sink, self.latest, 0, g, kind, &[]);
        }
        // SAFETY: as in `record`: the buffer's end is within the
        // allocation, with room for an event, which is more than the
        // three to twelve bytes written here.
        unsafe {
            let mut out = Cursor(self.bytes.as_mut_ptr().add(self.bytes.len()));
            let start = out.0;
            out.byte(kind as u8);
            out.byte(0);
            out.varint(g.map_or(0, |g| g + 1));
            let written = out.0.offset_from(start) as usize;
            self.bytes.set_len(self.bytes.len() + written);
        }
        self.latest_mark = 0;
        self.count += 1;
        if self.bytes.len() >= self.limit {
            self.flush(sink);
        }
    }

    /// Notes where the running code stood when the latest event was
    /// recorded: `mark` is an opaque non-zero position (the scheduler's
    /// chunk and budget, `proc::ready_here`). The next event recorded
    /// forgets it.
    #[inline(always)]
    pub fn mark_latest(&mut self, mark: u64) {
        self.latest_mark = mark;
    }

    /// The latest event's tick and mark, when it was marked, in a
    /// real-clock recording (`proc::park_commit`).
    #[inline(always)]
    pub fn latest_marked(&self) -> Option<(u64, u64)> {
        (self.latest_mark != 0 && !self.sequenced).then_some((self.latest, self.latest_mark))
    }

    /// The first event of a new recording: the ids of the old one mean
    /// nothing to it, and its batch size and sequencing may differ.
    #[cold]
    #[inline(never)]
    fn restart(&mut self, sink: &Sink) {
        self.clear();
        self.latest = 0;
        self.latest_mark = 0;
        self.cache.fill((0, 0, 0));
        self.generation = sink.generation();
        self.sequenced = sink.sequenced();
        self.limit = sink.batch_bytes();
        // Room for a whole batch and the event that ends it, so that
        // `push` never checks for space.
        self.bytes.reserve(self.limit + MAX_EVENT_BYTES);
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
struct Cursor(*mut u8);

impl Cursor {
    /// Writes one byte.
    ///
    /// # Safety
    /// The space after the cursor must hold one more byte.
    #[inline(always)]
    unsafe fn byte(&mut self, b: u8) {
        // SAFETY: the caller guarantees the space.
        unsafe {
            self.0.write(b);
            self.0 = self.0.add(1);
        }
    }

    /// Writes `v` as a LEB128 varint. Most values an event holds (tick
    /// deltas, ids, string ids) take one or two bytes, so those are
    /// written without a loop.
    ///
    /// # Safety
    /// The space after the cursor must hold ten more bytes.
    #[inline(always)]
    unsafe fn varint(&mut self, v: u64) {
        // SAFETY: the caller guarantees the space, for every branch.
        unsafe {
            if v < 0x80 {
                self.byte(v as u8);
            } else if v < 0x4000 {
                self.0.write(v as u8 | 0x80);
                self.0.add(1).write((v >> 7) as u8);
                self.0 = self.0.add(2);
            } else {
                self.0 = varint_long(self.0, v);
            }
        }
    }
}

/// Writes `v` (at least three bytes' worth) as a LEB128 varint at `at`;
/// returns the position after it.
///
/// # Safety
/// `at` must have ten bytes of space after it.
#[inline(never)]
unsafe fn varint_long(mut at: *mut u8, mut v: u64) -> *mut u8 {
    while v >= 0x80 {
        // SAFETY: the caller guarantees the space.
        unsafe {
            at.write(v as u8 | 0x80);
            at = at.add(1);
        }
        v >>= 7;
    }
    // SAFETY: as above.
    unsafe {
        at.write(v as u8);
        at.add(1)
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
