//! Reading a trace back: the binary form (merged from its streams) and the
//! text form, as one stream of [`Event`]s in time order.
//!
//! # Binary
//!
//! 1. [`Reader::open`] walks the chunks once: it keeps the string table and,
//!    per stream, where each batch lies in the file (offset, length, count).
//!    Nothing else is kept, so reading costs memory in proportion to the
//!    number of batches, not events.
//! 2. [`Reader::for_each`] merges the streams: each stream decodes one batch
//!    at a time, and a heap picks the event with the smallest `(tick, seq,
//!    stream)` next. Streams are in `(tick, seq)` order already (`encode`),
//!    so this is the order a global stable sort by `(tick, seq)` of the
//!    streams concatenated in stream order would give (P0, P1, ..., the
//!    outside P, sysmon), which is the order the text form has always had.
//! 3. A flight recording's header names the first complete tick. A first
//!    pass finds the first `GCStart` at or after it; the events before are
//!    skipped, so the trace holds whole cycles only. (When no cycle starts
//!    in the complete part, it starts after the first `GCDone` there, or
//!    else at the complete part: no cycle is cut in half either way.)
//!
//! # Text
//!
//! One event a line, as `Event`'s `Display` writes it. Numbers that start
//! with `-` are signed; other numbers unsigned; anything else a word.
//!
//! Strings read from a trace become `&'static str` through [`intern`]: a
//! process-wide set that keeps each distinct word once (a trace's words are
//! the runtime's vocabulary and the program's function names).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::encode::{
    unzigzag, CHUNK_BATCH, CHUNK_CLOCK, CHUNK_STRING, MAGIC, MAX_ARGS, STREAM_OUTSIDE_P,
    STREAM_SYSMON, TAG_I, TAG_LABEL, TAG_S, TAG_U, VERSION,
};
use super::sink::ReadSeek;
use super::{Arg, Event, EventKind};

/// The same string for the same text, for the whole process.
pub fn intern(s: &str) -> &'static str {
    static SET: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = SET.get_or_init(Default::default).lock();
    if let Some(&w) = set.get(s) {
        return w;
    }
    let w: &'static str = Box::leak(s.into());
    set.insert(w);
    w
}

/// Where one batch lies.
#[derive(Clone, Copy)]
struct BatchPos {
    offset: u64,
    len: u64,
    count: u64,
}

/// One stream's batches, in file order.
struct StreamIndex {
    id: u32,
    batches: Vec<BatchPos>,
}

/// What a trace file says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Nanoseconds a tick stands for: 1 for a real clock, 100 under `--sim`.
    pub ns_per_tick: u64,
    /// The first complete tick (a flight recording's cut), or 0.
    pub start_tick: u64,
}

/// A trace in either readable form, optionally limited to a window of time.
pub struct Reader {
    source: Source,
    /// Only events from `.0` to `.1` nanoseconds after the trace's start.
    window: Option<(u64, u64)>,
    /// What a tick of a text trace stands for (a text trace does not say:
    /// 1 ns unless told, 100 for a `--sim` run's).
    text_ns_per_tick: u64,
}

enum Source {
    /// A binary trace, indexed.
    Binary(Box<BinaryReader>),
    /// A text trace (or events given directly), kept as its events.
    Events(Vec<Event>),
}

/// A binary trace: its header, strings and batch index (see the module docs).
pub struct BinaryReader {
    src: Box<dyn ReadSeek>,
    header: Header,
    strings: Vec<&'static str>,
    labels: Vec<Option<Arc<str>>>,
    streams: Vec<StreamIndex>,
    /// A real clock's rate: (nanoseconds, ticks); ticks are read as
    /// nanoseconds without it.
    rate: Option<(u64, u64)>,
    /// Events carry sequence numbers.
    sequenced: bool,
}

impl Reader {
    /// Reads a trace in the binary or the text form (told apart by the
    /// binary form's magic). A Chrome JSON trace is an export, not a
    /// recording, and is refused with a message that says so.
    pub fn open(mut src: Box<dyn ReadSeek>) -> io::Result<Reader> {
        let mut magic = [0u8; 8];
        let n = read_up_to(&mut src, &mut magic)?;
        src.seek(SeekFrom::Start(0))?;
        if n == 8 && &magic == MAGIC {
            return Ok(Reader {
                source: Source::Binary(Box::new(BinaryReader::open(src)?)),
                window: None,
                text_ns_per_tick: 1,
            });
        }
        if magic[..n].trim_ascii_start().first() == Some(&b'{') {
            return Err(invalid(
                "this is a Chrome trace-event file, which is an export; \
                 read the .sktrace or text trace it was made from",
            ));
        }
        let mut events = Vec::new();
        for (i, line) in io::BufReader::new(src).lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let e =
                parse_line(&line).map_err(|m| invalid(&format!("line {}: {m}: {line}", i + 1)))?;
            events.push(e);
        }
        Ok(Reader::from_events(events))
    }

    /// A reader of events already in memory, in time order (as a text
    /// trace is read).
    pub fn from_events(events: Vec<Event>) -> Reader {
        Reader {
            source: Source::Events(events),
            window: None,
            text_ns_per_tick: 1,
        }
    }

    /// Says what a tick of a text trace stands for (`skein trace
    /// --ns-per-tick`); a binary trace's header says it itself, so this
    /// changes nothing for one.
    pub fn set_text_ns_per_tick(&mut self, ns: u64) {
        self.text_ns_per_tick = ns.max(1);
    }

    /// Limits the trace to the events from `from` to `until` nanoseconds
    /// after its start (`skein trace convert --from/--until`).
    pub fn set_window(&mut self, from: u64, until: u64) {
        self.window = Some((from, until));
    }

    /// The trace's header (a text trace's clock is not recorded: it reads
    /// as `set_text_ns_per_tick` says, nanoseconds by default).
    pub fn header(&self) -> Header {
        match &self.source {
            Source::Binary(b) => b.header,
            Source::Events(_) => Header {
                ns_per_tick: self.text_ns_per_tick,
                start_tick: 0,
            },
        }
    }

    /// The test `for_each` applies: is an event inside the window (always
    /// true without one)?
    pub fn window_filter(&self) -> impl Fn(&Event) -> bool {
        let scale = self.header().ns_per_tick.max(1);
        let window = self.window;
        move |e| {
            window.is_none_or(|(from, until)| {
                let ns = e.tick.saturating_mul(scale);
                ns >= from && ns <= until
            })
        }
    }

    /// Calls `f` on every event in time order; can be called again.
    pub fn for_each(&mut self, f: &mut dyn FnMut(&Event) -> io::Result<()>) -> io::Result<()> {
        let inside = self.window_filter();
        let mut g = |e: &Event| if inside(e) { f(e) } else { Ok(()) };
        match &mut self.source {
            Source::Binary(b) => b.for_each(&mut g),
            Source::Events(events) => events.iter().try_for_each(g),
        }
    }

    /// Calls `f` on every event in time order, ignoring the window.
    pub fn for_each_unwindowed(
        &mut self,
        f: &mut dyn FnMut(&Event) -> io::Result<()>,
    ) -> io::Result<()> {
        let window = self.window.take();
        let result = self.for_each(f);
        self.window = window;
        result
    }

    /// Every event, in time order, in memory.
    pub fn events(&mut self) -> io::Result<Vec<Event>> {
        let mut all = Vec::new();
        self.for_each(&mut |e| {
            all.push(e.clone());
            Ok(())
        })?;
        Ok(all)
    }
}

impl BinaryReader {
    fn open(mut src: Box<dyn ReadSeek>) -> io::Result<BinaryReader> {
        let mut magic = [0u8; 8];
        src.read_exact(&mut magic)?;
        let mut r = io::BufReader::new(src);
        let version = read_varint(&mut r)?;
        if version != VERSION {
            return Err(invalid(&format!(
                "trace format version {version}; this skein reads version {VERSION}"
            )));
        }
        let header = Header {
            ns_per_tick: read_varint(&mut r)?.max(1),
            start_tick: read_varint(&mut r)?,
        };
        let sequenced = read_varint(&mut r)? & 1 == 1;
        let mut strings = Vec::new();
        let mut labels = Vec::new();
        let mut streams: Vec<StreamIndex> = Vec::new();
        let mut rate = None;
        let mut offset = r.stream_position()?;
        let size = r.seek(SeekFrom::End(0))?;
        r.seek(SeekFrom::Start(offset))?;
        loop {
            // A recording cut short (the process was killed while it
            // wrote) ends in a partial chunk: what came before is read.
            match Self::chunk(
                &mut r,
                size,
                &mut strings,
                &mut labels,
                &mut streams,
                &mut rate,
            ) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => {
                    return Err(invalid(&format!("at byte {offset}: {e}")));
                }
            }
            offset = r.stream_position()?;
        }
        // P streams by number, then the outside P, then sysmon.
        streams.sort_by_key(|s| s.id);
        let mut header = header;
        if let Some((ns, ticks)) = rate {
            header.start_tick = scale(header.start_tick, ns, ticks);
        }
        Ok(BinaryReader {
            src: r.into_inner(),
            header,
            strings,
            labels,
            streams,
            rate,
            sequenced,
        })
    }

    /// Reads one chunk; false at the end of the file. Every length is checked against what is left
    /// of the file (`size` bytes), so a damaged file is an error, never a
    /// huge allocation.
    fn chunk(
        r: &mut io::BufReader<Box<dyn ReadSeek>>,
        size: u64,
        strings: &mut Vec<&'static str>,
        labels: &mut Vec<Option<Arc<str>>>,
        streams: &mut Vec<StreamIndex>,
        rate: &mut Option<(u64, u64)>,
    ) -> io::Result<bool> {
        let mut tag = [0u8; 1];
        if read_up_to(r, &mut tag)? == 0 {
            return Ok(false);
        }
        let left = |r: &mut io::BufReader<Box<dyn ReadSeek>>, len: u64| -> io::Result<u64> {
            let at = r.stream_position()?;
            if len > size.saturating_sub(at) {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "a chunk runs past the end of the file",
                ));
            }
            Ok(at)
        };
        match tag[0] {
            CHUNK_STRING => {
                let id = read_varint(r)?;
                let len = read_varint(r)?;
                left(r, len)?;
                // Ids are handed out in order: a string is the next one,
                // or one already defined.
                if id > strings.len() as u64 {
                    return Err(invalid("a string's id skips ahead"));
                }
                let mut bytes = vec![0; len as usize];
                r.read_exact(&mut bytes)?;
                let s = String::from_utf8(bytes).map_err(|_| invalid("a string is not UTF-8"))?;
                let id = id as usize;
                if id == strings.len() {
                    strings.push("");
                    labels.push(None);
                }
                strings[id] = intern(&s);
                Ok(true)
            }
            CHUNK_CLOCK => {
                let ns = read_varint(r)?;
                let ticks = read_varint(r)?;
                *rate = (ticks > 0).then_some((ns, ticks));
                Ok(true)
            }
            CHUNK_BATCH => {
                let id = u32::try_from(read_varint(r)?).map_err(|_| invalid("a bad stream"))?;
                let count = read_varint(r)?;
                let len = read_varint(r)?;
                let at = left(r, len)?;
                // An event takes at least three bytes (kind, tick, G).
                if count > len / 3 {
                    return Err(invalid("a batch holds more events than bytes"));
                }
                r.seek(SeekFrom::Start(at + len))?;
                if count == 0 {
                    return Ok(true);
                }
                let pos = BatchPos {
                    offset: at,
                    len,
                    count,
                };
                match streams.iter_mut().find(|s| s.id == id) {
                    Some(s) => s.batches.push(pos),
                    None => streams.push(StreamIndex {
                        id,
                        batches: vec![pos],
                    }),
                }
                Ok(true)
            }
            t => Err(invalid(&format!(
                "unknown chunk {t:#04x}; the file is damaged"
            ))),
        }
    }

    fn for_each(&mut self, f: &mut dyn FnMut(&Event) -> io::Result<()>) -> io::Result<()> {
        if self.header.start_tick == 0 {
            return self.merge(f);
        }
        // A flight recording: find where its first whole cycle starts,
        // then skip what comes before.
        let mut trim = Trim::new(self.header.start_tick);
        self.merge(&mut |e| {
            trim.scan(e);
            Ok(())
        })?;
        let skip = trim.head();
        let mut seen = 0u64;
        self.merge(&mut |e| {
            seen += 1;
            if seen > skip {
                f(e)
            } else {
                Ok(())
            }
        })
    }

    /// Every event of every stream, merged in `(tick, seq, stream)` order.
    fn merge(&mut self, f: &mut dyn FnMut(&Event) -> io::Result<()>) -> io::Result<()> {
        let n = self.streams.len();
        let mut pending: Vec<VecDeque<Event>> = (0..n).map(|_| VecDeque::new()).collect();
        let mut next_batch = vec![0usize; n];
        let mut heap = BinaryHeap::new();
        for i in 0..n {
            if self.refill(i, &mut next_batch, &mut pending)? {
                let e = &pending[i][0];
                heap.push(Reverse((e.tick, e.seq, i)));
            }
        }
        while let Some(Reverse((_, _, i))) = heap.pop() {
            let e = pending[i]
                .pop_front()
                .expect("a stream in the heap has an event");
            f(&e)?;
            if pending[i].is_empty() && !self.refill(i, &mut next_batch, &mut pending)? {
                continue;
            }
            let e = &pending[i][0];
            heap.push(Reverse((e.tick, e.seq, i)));
        }
        Ok(())
    }

    /// Decodes stream `i`'s next batch into `pending[i]`; false when the
    /// stream is done.
    fn refill(
        &mut self,
        i: usize,
        next_batch: &mut [usize],
        pending: &mut [VecDeque<Event>],
    ) -> io::Result<bool> {
        let stream = &self.streams[i];
        let Some(&pos) = stream.batches.get(next_batch[i]) else {
            return Ok(false);
        };
        next_batch[i] += 1;
        let p = (stream.id != STREAM_OUTSIDE_P && stream.id != STREAM_SYSMON).then_some(stream.id);
        let mut bytes = vec![0; pos.len as usize];
        self.src.seek(SeekFrom::Start(pos.offset))?;
        self.src.read_exact(&mut bytes)?;
        let mut r = &bytes[..];
        let (mut tick, mut seq) = (0u64, 0u64);
        for _ in 0..pos.count {
            let head = read_byte(&mut r)?;
            let kind = EventKind::from_u8(head & 0x1f)
                .ok_or_else(|| invalid(&format!("unknown event kind {}", head & 0x1f)))?;
            let argc = usize::from(head >> 5).min(MAX_ARGS);
            tick = tick.wrapping_add(unzigzag(read_varint(&mut r)?) as u64);
            if self.sequenced {
                seq = seq.wrapping_add(unzigzag(read_varint(&mut r)?) as u64);
            }
            let g = read_varint(&mut r)?.checked_sub(1);
            let at = match self.rate {
                Some((ns, ticks)) => scale(tick, ns, ticks),
                None => tick,
            };
            let mut e = Event::new(at, p, g, kind);
            e.seq = seq;
            e.args.reserve(argc);
            for _ in 0..argc {
                let kt = read_varint(&mut r)?;
                let key = self.string(kt >> 2)?;
                let v = read_varint(&mut r)?;
                let value = match kt & 3 {
                    TAG_U => Arg::U(v),
                    TAG_I => Arg::I(unzigzag(v)),
                    TAG_S => Arg::S(self.string(v)?),
                    TAG_LABEL => Arg::Label(self.label(v)?),
                    _ => unreachable!("a tag has two bits"),
                };
                e.args.push((key, value));
            }
            pending[i].push_back(e);
        }
        Ok(!pending[i].is_empty())
    }

    fn string(&self, id: u64) -> io::Result<&'static str> {
        self.strings
            .get(id as usize)
            .copied()
            .ok_or_else(|| invalid(&format!("string {id} is not defined")))
    }

    fn label(&mut self, id: u64) -> io::Result<Arc<str>> {
        let s = self.string(id)?;
        let slot = &mut self.labels[id as usize];
        Ok(slot.get_or_insert_with(|| Arc::from(s)).clone())
    }
}

/// `tick × ns / ticks`, without overflow.
fn scale(tick: u64, ns: u64, ticks: u64) -> u64 {
    (u128::from(tick) * u128::from(ns) / u128::from(ticks.max(1))) as u64
}

/// Finds where a flight recording's complete part begins (module docs,
/// step 3), over one pass of the merged events.
struct Trim {
    start: u64,
    /// Events seen so far.
    seen: u64,
    /// How many events precede the first `GCStart` at or after `start`.
    first_start: Option<u64>,
    /// How many precede the first event after a `GCDone` at or after
    /// `start` (the fallback when no cycle starts later).
    after_done: Option<u64>,
    /// How many precede the first event at or after `start`.
    first_complete: Option<u64>,
    /// The previous event was a `GCDone` at or after `start`.
    done_just_seen: bool,
}

impl Trim {
    fn new(start: u64) -> Trim {
        Trim {
            start,
            seen: 0,
            first_start: None,
            after_done: None,
            first_complete: None,
            done_just_seen: false,
        }
    }

    fn scan(&mut self, e: &Event) {
        let n = self.seen;
        self.seen += 1;
        if e.tick < self.start {
            return;
        }
        self.first_complete.get_or_insert(n);
        if self.done_just_seen {
            self.after_done.get_or_insert(n);
            self.done_just_seen = false;
        }
        match e.kind {
            EventKind::GCStart => {
                self.first_start.get_or_insert(n);
            }
            EventKind::GCDone => self.done_just_seen = true,
            _ => {}
        }
    }

    /// How many events to skip: up to the first cycle that starts in the
    /// complete part, else to the end of the first cycle that ends in it,
    /// else to the complete part (no cycle touches it); everything when
    /// nothing is complete.
    fn head(&self) -> u64 {
        self.first_start
            .or(self.after_done)
            .or(self.first_complete)
            .unwrap_or(self.seen)
    }
}

/// Parses one line of the text form.
pub fn parse_line(line: &str) -> Result<Event, &'static str> {
    let mut words = line.split_ascii_whitespace();
    let tick = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or("expected a tick")?;
    let p = match words.next().ok_or("expected P")? {
        "P-" => None,
        w => Some(
            w.strip_prefix('P')
                .and_then(|n| n.parse().ok())
                .ok_or("expected P<n> or P-")?,
        ),
    };
    let g = match words.next().ok_or("expected G")? {
        "G-" => None,
        w => Some(
            w.strip_prefix('G')
                .and_then(|n| n.parse().ok())
                .ok_or("expected G<n> or G-")?,
        ),
    };
    let name = words.next().ok_or("expected an event name")?;
    let kind = EventKind::ALL
        .iter()
        .copied()
        .find(|k| k.name() == name)
        .ok_or("unknown event")?;
    let mut e = Event::new(tick, p, g, kind);
    for w in words {
        let (k, v) = w.split_once('=').ok_or("expected key=value")?;
        let value = if let Ok(u) = v.parse::<u64>() {
            Arg::U(u)
        } else if let Ok(i) = v.parse::<i64>() {
            Arg::I(i)
        } else {
            Arg::S(intern(v))
        };
        e.args.push((intern(k), value));
    }
    Ok(e)
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads as many bytes as are there, up to `buf.len()`.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_byte(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// Reads a LEB128 varint.
fn read_varint(r: &mut impl Read) -> io::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = read_byte(r)?;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(invalid("a number is longer than 64 bits"))
}
