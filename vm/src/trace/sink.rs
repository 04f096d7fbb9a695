//! Where full trace buffers go: a file, memory, or the flight recorder's
//! ring.
//!
//! One [`Sink`] per runtime receives every batch the per-P buffers write out
//! (`encode`), and owns the recording's string table. A recording is
//! begun with [`Sink::begin`] and ended with [`Sink::end`], which hands back
//! a [`Recording`] that `reader` reads in any order it likes.
//!
//! # Destinations
//!
//! 1. **File**: batches and strings are appended to a file as they arrive,
//!    so the recording's memory is the per-P buffers and the file writer's
//!    few buffers, whatever the program's length. The writer collects
//!    bytes into 256 KiB buffers that a thread of its own writes out (it
//!    first cuts off what an old file at the path held), so the P that
//!    fills a batch pays for a copy, not for the system call. `--trace
//!    out.sktrace` writes the final file this way; `--trace out.txt` and
//!    `--trace-format chrome` spool to an unnamed temporary file and convert
//!    it when the program ends.
//! 2. **Memory**: the same bytes in a `Vec` (the embedding API's
//!    `record_trace`, meant for tests).
//! 3. **Flight** (`--trace-flight SIZE`, Go's `FlightRecorder`): batches are
//!    kept in a ring of at most SIZE bytes; when a new batch would exceed
//!    it, the oldest batches are dropped. The string table is kept whole
//!    (it is small: the runtime's vocabulary and the program's function
//!    names). [`Sink::flight_image`] builds a trace file from the ring.
//!
//! # The cut
//!
//! Dropping a P's oldest batch loses that P's events up to the batch's last
//! tick, while other Ps may still hold earlier ones. The ring remembers the
//! largest last tick of any dropped batch; only events after it are complete
//! on every P, so the image's header says the trace starts after it, and the
//! reader starts at the first whole GC cycle from there (`reader`).
//!
//! # Invariants
//!
//! - A real clock's rate (a clock chunk) follows every batch written to a
//!   file or memory, and ends the recording.
//! - A string is given to the destination before any batch that uses it:
//!   ids are handed out under the same lock that appends to the
//!   destination, and a buffer asks for an id before it encodes an event.
//! - `generation` changes whenever a recording begins or ends, so a buffer
//!   holding events of an old recording drops them rather than writing them
//!   with the wrong string ids.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use parking_lot::Mutex;

use super::encode::{
    put_varint, BATCH_BYTES, CHUNK_BATCH, CHUNK_CLOCK, CHUNK_STRING, KEYS, MAGIC, VERSION,
};

/// Where a recording goes.
#[derive(Debug)]
pub enum Destination {
    /// Write this file from its start (the final `.sktrace`, or a spool to
    /// convert). What it held is cut off by the writer thread, so a file
    /// opened with [`open_trace_file`] is emptied off the program's path.
    File(File),
    /// Keep the bytes in memory.
    Memory,
    /// Keep the most recent batches, at most this many bytes of them.
    Flight(usize),
}

/// Opens `path` for a recording, creating it, but leaves what it holds for
/// the writer thread to cut off ([`Destination::File`]). Emptying a large
/// old trace is the file system's work of freeing its blocks (tens of
/// milliseconds for a 30 MB trace on ext4), which the program need not
/// wait for.
pub fn open_trace_file(path: &std::path::Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The bytes of a finished recording, ready to read.
pub enum Recording {
    /// A file (rewound when read).
    File(File),
    /// Bytes in memory.
    Memory(Vec<u8>),
}

/// Something a [`Recording`] can be read through.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

impl Recording {
    /// The recording as a seekable stream, at its start.
    pub fn into_stream(self) -> io::Result<Box<dyn ReadSeek>> {
        match self {
            Recording::File(mut f) => {
                f.seek(SeekFrom::Start(0))?;
                Ok(Box::new(io::BufReader::new(f)))
            }
            Recording::Memory(v) => Ok(Box::new(Cursor::new(v))),
        }
    }
}

/// The runtime's trace sink (see the module docs).
pub struct Sink {
    generation: AtomicU64,
    /// The current recording's events carry sequence numbers.
    sequenced: std::sync::atomic::AtomicBool,
    /// `batch_bytes`.
    batch: std::sync::atomic::AtomicUsize,
    inner: Mutex<Inner>,
}

struct Inner {
    ids: HashMap<Box<str>, u32>,
    /// Every string, by id (the flight recorder writes them all again).
    table: Vec<Box<str>>,
    out: Out,
    ns_per_tick: u64,
    /// A real-clock recording: the CPU tick count and the time when it
    /// began, to measure how long a tick is.
    clock_base: Option<(u64, std::time::Instant)>,
}

enum Out {
    Off,
    File(FileWriter),
    Memory(Vec<u8>),
    Flight(Ring),
}

/// The flight recorder's batches, oldest first.
struct Ring {
    batches: VecDeque<RingBatch>,
    bytes: usize,
    limit: usize,
    /// The largest last tick of a dropped batch (see "The cut").
    cut: Option<u64>,
}

struct RingBatch {
    stream: u32,
    count: u64,
    bytes: Vec<u8>,
    last_tick: u64,
}

/// The size of the file writer's buffers: a few batches, so a system call
/// writes several of them.
const WRITER_BYTES: usize = 256 * 1024;

impl Default for Sink {
    fn default() -> Self {
        Sink::new()
    }
}

impl Sink {
    /// A sink that records nothing yet.
    pub fn new() -> Sink {
        Sink {
            generation: AtomicU64::new(0),
            sequenced: std::sync::atomic::AtomicBool::new(true),
            batch: std::sync::atomic::AtomicUsize::new(BATCH_BYTES),
            inner: Mutex::new(Inner {
                ids: HashMap::new(),
                table: Vec::new(),
                out: Out::Off,
                ns_per_tick: 1,
                clock_base: None,
            }),
        }
    }

    /// How many bytes a buffer collects before writing a batch: the
    /// default, or for the flight recorder a sixteenth of its size (at
    /// least 1 KiB), so that dropping the oldest batch drops little.
    pub fn batch_bytes(&self) -> usize {
        self.batch.load(Ordering::Acquire)
    }

    /// True when the current recording's events carry sequence numbers
    /// (a virtual clock's, whose ticks tie).
    pub fn sequenced(&self) -> bool {
        self.sequenced.load(Ordering::Acquire)
    }

    /// Which recording is current (see the module invariants).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Begins a recording into `dest`; `ns_per_tick` is 1 for a real clock
    /// and 100 under `--sim`. `real`: ticks are `cputicks()` counts from
    /// now, whose length the recording measures. A recording in progress is
    /// dropped.
    pub fn begin(&self, dest: Destination, ns_per_tick: u64, real: bool) {
        let mut s = self.inner.lock();
        // Bumped first, under the lock: a buffer of the old recording can
        // neither write a batch nor keep an id from here on.
        self.generation.fetch_add(1, Ordering::AcqRel);
        s.ids.clear();
        s.table.clear();
        s.ns_per_tick = ns_per_tick;
        s.clock_base = real.then(|| (super::cputicks(), std::time::Instant::now()));
        self.sequenced.store(!real, Ordering::Release);
        let batch = match &dest {
            Destination::Flight(limit) => (limit / 16).clamp(1024, BATCH_BYTES),
            _ => BATCH_BYTES,
        };
        self.batch.store(batch, Ordering::Release);
        s.out = match dest {
            Destination::File(f) => Out::File(FileWriter::new(f)),
            Destination::Memory => Out::Memory(Vec::new()),
            Destination::Flight(limit) => Out::Flight(Ring {
                batches: VecDeque::new(),
                bytes: 0,
                limit,
                cut: None,
            }),
        };
        let mut header = Vec::new();
        write_header(&mut header, ns_per_tick, 0, !real);
        s.append(&header);
        // The runtime's keys take the first ids, so that an event's keys
        // are constants (`encode::Key`).
        for (id, key) in KEYS.iter().enumerate() {
            let got = s.intern(key);
            debug_assert_eq!(got as usize, id, "the table starts empty");
        }
    }

    /// True when the recording in progress is a flight recording.
    pub fn is_flight(&self) -> bool {
        matches!(self.inner.lock().out, Out::Flight(_))
    }

    /// The id of string `s` in the current recording's table, defined in the
    /// destination the first time it is asked for.
    pub fn intern(&self, s: &str) -> u32 {
        self.inner.lock().intern(s)
    }

    /// Receives one buffer's events (see `encode::Buffer::flush`), encoded
    /// for recording `generation`: a batch of an earlier recording (its
    /// string ids mean nothing now) is dropped. The check is made under
    /// the lock `begin` holds, so no batch slips in as a recording starts.
    pub fn write_batch(&self, generation: u64, stream: u32, count: u64, bytes: &[u8], last: u64) {
        let mut inner = self.inner.lock();
        if generation != self.generation() {
            return;
        }
        if let Out::Flight(ring) = &mut inner.out {
            ring.bytes += bytes.len();
            ring.batches.push_back(RingBatch {
                stream,
                count,
                bytes: bytes.to_vec(),
                last_tick: last,
            });
            // Keep at least the newest batch, however small the ring.
            while ring.bytes > ring.limit && ring.batches.len() > 1 {
                let old = ring.batches.pop_front().expect("the ring holds batches");
                ring.bytes -= old.bytes.len();
                ring.cut = Some(ring.cut.map_or(old.last_tick, |c| c.max(old.last_tick)));
            }
            return;
        }
        let mut head = Vec::with_capacity(16);
        head.push(CHUNK_BATCH);
        put_varint(&mut head, u64::from(stream));
        put_varint(&mut head, count);
        put_varint(&mut head, bytes.len() as u64);
        inner.append(&head);
        inner.append(bytes);
        // The clock's rate so far after every batch (a dozen bytes per 64
        // KiB), so a recording cut short by a kill still reads in
        // nanoseconds.
        let clock = inner.clock_chunk();
        inner.append(&clock);
    }

    /// Pushes what the file writer holds to the file (the process is about
    /// to exit on a signal; the per-P buffers' events are lost).
    pub fn flush_output(&self) {
        if let Some(mut inner) = self
            .inner
            .try_lock_for(std::time::Duration::from_millis(100))
        {
            if let Out::File(w) = &mut inner.out {
                w.flush(std::time::Duration::from_millis(100));
            }
        }
    }

    /// A trace file of what the flight recorder holds now (its header
    /// starts the trace after the cut), or `None` when no flight recording
    /// is in progress.
    pub fn flight_image(&self) -> Option<Vec<u8>> {
        let inner = self.inner.lock();
        let Out::Flight(ring) = &inner.out else {
            return None;
        };
        let mut out = Vec::with_capacity(ring.bytes + 4096);
        // Ticks after the cut are complete; 0 means nothing was dropped.
        let start = ring.cut.map_or(0, |c| c + 1);
        write_header(
            &mut out,
            inner.ns_per_tick,
            start,
            inner.clock_base.is_none(),
        );
        out.extend_from_slice(&inner.clock_chunk());
        for (id, s) in inner.table.iter().enumerate() {
            write_string(&mut out, id as u32, s);
        }
        for b in &ring.batches {
            out.push(CHUNK_BATCH);
            put_varint(&mut out, u64::from(b.stream));
            put_varint(&mut out, b.count);
            put_varint(&mut out, b.bytes.len() as u64);
            out.extend_from_slice(&b.bytes);
        }
        Some(out)
    }

    /// Ends the recording and hands back its bytes (a flight recording's
    /// image), or the first error met while writing it. `None` when no
    /// recording was in progress.
    pub fn end(&self) -> Option<io::Result<Recording>> {
        let image = self.flight_image();
        let mut inner = self.inner.lock();
        let clock = inner.clock_chunk();
        inner.append(&clock);
        let out = std::mem::replace(&mut inner.out, Out::Off);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Some(match out {
            Out::Off => return None,
            Out::Flight(_) => Ok(Recording::Memory(image.unwrap_or_default())),
            Out::Memory(v) => Ok(Recording::Memory(v)),
            Out::File(w) => w.finish().map(Recording::File),
        })
    }
}

impl Inner {
    /// `Sink::intern`, with the lock held.
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.table.len() as u32;
        self.ids.insert(s.into(), id);
        self.table.push(s.into());
        let mut chunk = Vec::with_capacity(s.len() + 8);
        write_string(&mut chunk, id, s);
        if !matches!(self.out, Out::Flight(_)) {
            self.append(&chunk);
        }
        id
    }

    /// A clock chunk: how many nanoseconds the ticks since the recording
    /// began took (empty for a virtual clock).
    fn clock_chunk(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some((ticks, at)) = self.clock_base {
            out.push(CHUNK_CLOCK);
            put_varint(&mut out, at.elapsed().as_nanos() as u64);
            put_varint(&mut out, super::cputicks().saturating_sub(ticks));
        }
        out
    }

    /// Appends bytes to a file or memory destination (a file's first write
    /// error is reported when the recording ends).
    fn append(&mut self, bytes: &[u8]) {
        match &mut self.out {
            Out::File(w) => w.append(bytes),
            Out::Memory(v) => v.extend_from_slice(bytes),
            Out::Flight(_) | Out::Off => {}
        }
    }
}

/// The file header (see `encode`).
fn write_header(out: &mut Vec<u8>, ns_per_tick: u64, start_tick: u64, sequenced: bool) {
    out.extend_from_slice(MAGIC);
    put_varint(out, VERSION);
    put_varint(out, ns_per_tick);
    put_varint(out, start_tick);
    put_varint(out, u64::from(sequenced));
}

/// One string chunk.
fn write_string(out: &mut Vec<u8>, id: u32, s: &str) {
    out.push(CHUNK_STRING);
    put_varint(out, u64::from(id));
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// How many full buffers may wait for the writer thread: with
/// [`WRITER_BYTES`] each, a file recording holds at most a few MiB however
/// far the disk falls behind; beyond that a P that writes a batch waits.
const WRITER_QUEUE: usize = 8;

/// A file destination: bytes are collected into buffers of
/// [`WRITER_BYTES`], and a thread of its own writes each full buffer to the
/// file, so the P that fills a batch pays for a copy, not for the system
/// call and the file system's page allocation (Go's trace reader
/// goroutine). Buffers go back to the appender through `spare` once
/// written, so a long recording allocates no more of them.
struct FileWriter {
    pending: Vec<u8>,
    queue: Option<mpsc::SyncSender<Vec<u8>>>,
    spare: mpsc::Receiver<Vec<u8>>,
    /// Buffers sent and not yet come back.
    out: usize,
    /// Written buffers, empty, ready to collect bytes again.
    pool: Vec<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<io::Result<File>>>,
}

impl FileWriter {
    /// Starts the writer thread for `file`, which it empties first. If the
    /// thread cannot start, the recording's bytes are dropped and `finish`
    /// says why.
    fn new(mut file: File) -> FileWriter {
        let (queue, rx) = mpsc::sync_channel::<Vec<u8>>(WRITER_QUEUE);
        let (back, spare) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("skein-trace-writer".into())
            .spawn(move || {
                let mut error = file.set_len(0).err();
                for mut buf in rx {
                    if error.is_none() {
                        error = file.write_all(&buf).err();
                    }
                    buf.clear();
                    let _ = back.send(buf);
                }
                match error {
                    Some(e) => Err(e),
                    None => Ok(file),
                }
            })
            .ok();
        FileWriter {
            pending: Vec::with_capacity(WRITER_BYTES),
            queue: Some(queue),
            spare,
            out: 0,
            pool: Vec::new(),
            thread,
        }
    }

    /// Adds `bytes` to the file's stream; a full buffer goes to the thread
    /// (waiting while [`WRITER_QUEUE`] buffers wait already).
    fn append(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= WRITER_BYTES {
            self.send();
        }
    }

    /// Hands the pending buffer to the writer thread.
    fn send(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        while let Ok(b) = self.spare.try_recv() {
            self.out -= 1;
            self.pool.push(b);
        }
        let next = self
            .pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(WRITER_BYTES));
        let full = std::mem::replace(&mut self.pending, next);
        if let Some(q) = &self.queue {
            if q.send(full).is_ok() {
                self.out += 1;
            }
        }
    }

    /// Sends what is pending and waits, at most `limit`, until the writer
    /// thread has written everything.
    fn flush(&mut self, limit: std::time::Duration) {
        self.send();
        let until = std::time::Instant::now() + limit;
        while self.out > 0 {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match self.spare.recv_timeout(left) {
                Ok(b) => {
                    self.out -= 1;
                    self.pool.push(b);
                }
                Err(_) => return,
            }
        }
    }

    /// Writes what is pending, stops the thread and hands back the file,
    /// or the first write error.
    fn finish(mut self) -> io::Result<File> {
        self.send();
        self.queue = None;
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the trace writer thread panicked"))),
            None => Err(io::Error::other("could not start the trace writer thread")),
        }
    }
}
