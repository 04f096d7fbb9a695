//! Channels and `select` (Go's `chan.go` and `select.go`).
//!
//! A channel is a heap object holding a lock, a FIFO buffer of `cap`
//! values, a closed flag, and two wait queues of *sudogs* (a parked G plus
//! the value it sends, or the slot it receives into, plus the `select`
//! case it stands for), kept in one [`WaitQueues`]: each queue is a FIFO
//! that can also unlink any one entry in O(1) given the handle its push
//! returned.
//!
//! Send (`ch <- v`), under the channel lock:
//! 1. closed: runtime error `Send on closed channel.`;
//! 2. a receiver waits: hand `v` straight to it and ready it;
//! 3. the buffer has room: append;
//! 4. otherwise queue a sudog and park (the lock is released after the park).
//!
//! Receive (`<-ch`) mirrors it: a waiting sender (take its value, or for a
//! buffered channel the buffer's head, refilling the tail from the sender),
//! else the buffer, else closed (`nil`, not ok), else park. `close` wakes
//! every waiter: receivers get `nil`/not-ok, senders fail.
//!
//! `select` (Go's `selectgo`):
//! 1. Lock every channel of the cases in address order (so two selects can
//!    never deadlock on each other).
//! 2. Poll the cases in a random order (seeded in deterministic mode):
//!    complete the first ready one, else take `default` if there is one.
//! 3. Otherwise start a new *generation* (the G's `sel_state`, even, above
//!    every earlier one), queue one sudog per case tagged with the
//!    generation and the case index, keep each push's handle in the G's
//!    [`SelectWait`] (in its `Exec`), and park; the unlock step
//!    ([`unlock_select`]) releases the locks once the G is `Waiting`.
//! 4. A waker pops the head of one of those queues. Because the G sits on
//!    several queues, waking it is a race: the waker must move the G's
//!    `sel_state` from the sudog's generation to generation|1 with a CAS
//!    ([`claim`]). The winner delivers the value and the case and readies
//!    the G; a loser drops the popped sudog (stale) and takes the next
//!    entry of the same queue ([`pop_claimed`]).
//! 5. The woken G, before its next instruction ([`select_cleanup`], from
//!    `Exec::resume`), unlinks each of its other sudogs by handle under
//!    that channel's lock, in O(1) each (Go's `dequeueSudoG` in pass 3). A
//!    sudog that a waker already dropped as stale is no longer on its
//!    queue, and its node may hold someone else's sudog by then; the
//!    handle's owner test (this G, this generation, this case) tells them
//!    apart, so the cleanup unlinks exactly its own sudogs and nothing
//!    else. Waking one of n selects that share a channel thus costs O(1),
//!    not a scan of the shared queue.
//!
//! A producer that refills a buffered channel in batches (`io.lines`'s
//! reader) does not park as a sender when the buffer is full, which would
//! wake it at the very next receive and make it run once per value: it
//! parks in [`wait_drained`] until a receive takes the buffer's last value,
//! then sends the next batch ([`send_many`]) under one lock.
//!
//! Invariants: a sudog is on a queue only while its G is parked on it, or
//! is a stale select entry that no CAS can claim (its G's generation has
//! been claimed or has moved on), until a waker pops it or its G's cleanup
//! unlinks it; a G is readied at most once per park; each queue keeps FIFO
//! order among its entries; when a woken select's cleanup is done, none of
//! its sudogs is on any queue; values a channel holds (buffer, queued
//! sends) are traced by the collector through the channel; a channel's
//! footprint (buffer and queue slabs, as allocated) never shrinks, and
//! every growth is charged as runtime memory.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::park::{Flow, Park, Resume, Unlock, WaitReason};
use super::waitq::{Side, WaitId, WaitQueues};
use super::{proc::ready, GRef};
use crate::object::Kind;
use crate::value::Value;
use crate::Ctx;

/// A parked goroutine on a channel's queue.
pub struct Sudog {
    pub g: GRef,
    /// The value a sender hands over.
    pub elem: Value,
    /// For a `select`: (its generation, the case index).
    pub sel: Option<(u64, i32)>,
}

/// A channel's mutable state.
#[derive(Default)]
pub struct ChanState {
    pub buf: VecDeque<Value>,
    pub closed: bool,
    /// The parked receivers and senders (`Side::Recv`, `Side::Send`).
    pub waitq: WaitQueues<Sudog>,
    /// A producer parked in [`wait_drained`], woken (with `true`) by the
    /// receive that empties the buffer, or by `close`.
    pub drain_waiter: Option<GRef>,
}

impl ChanState {
    /// Bytes the buffer and the wait queues hold, as allocated: charged to
    /// the channel object as they grow (they never shrink), so that
    /// `--max-heap` bounds buffered values and parked senders and
    /// receivers, and the sweep gives the bytes back with the channel.
    fn footprint(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<Value>() + self.waitq.bytes()
    }
}

/// Charges what a channel's state `st` grew by since it measured `before`
/// bytes (runtime memory: `--max-heap` bounds it; the sweep gives it back
/// with the channel, `Chan::charged`).
fn charge_growth(cx: &mut Ctx, st: &ChanState, before: usize) {
    let now = st.footprint();
    if now > before {
        cx.charge_memory(now - before);
    }
}

/// A channel object's body.
pub struct Chan {
    pub cap: usize,
    pub state: Mutex<ChanState>,
}

impl Chan {
    pub fn new(cap: usize) -> Chan {
        Chan {
            cap,
            state: Mutex::new(ChanState::default()),
        }
    }

    /// The runtime memory charged for this channel: its state's footprint
    /// (every growth was charged, and nothing shrinks). For the sweep,
    /// which gives it back when it frees the channel.
    pub(crate) fn charged(&self) -> usize {
        self.state.lock().footprint()
    }

    /// Buffered values (`len(ch)`).
    pub fn len(&self) -> usize {
        self.state.lock().buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many values a send could place now without waiting: the
    /// buffer's free slots plus the receivers waiting (an upper bound: a
    /// waiting `select` may already have been claimed elsewhere).
    pub fn room(&self) -> usize {
        let st = self.state.lock();
        self.cap.saturating_sub(st.buf.len()) + st.waitq.len(Side::Recv)
    }

    /// Calls `f` on every value the channel holds (for the collector).
    pub fn for_each_value(&self, mut f: impl FnMut(Value)) {
        let st = self.state.lock();
        for v in &st.buf {
            f(*v);
        }
        for s in st.waitq.iter(Side::Send) {
            f(s.elem);
        }
    }
}

/// The channel body of `v`, if it is one.
pub fn as_chan<'a>(v: Value) -> Option<&'a Chan> {
    if v.is_kind(Kind::Chan) {
        // SAFETY: the kind says the body is a `Chan`.
        Some(unsafe { crate::object::body::<Chan>(v) })
    } else {
        None
    }
}

/// Wins the right to wake `s`'s G (always, for a plain send/receive; by
/// CAS for a select).
fn claim(s: &Sudog) -> bool {
    match s.sel {
        None => true,
        Some((gen, _)) => {
            s.g.sel_state
                .compare_exchange(gen, gen | 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        }
    }
}

/// Pops the first claimable sudog of `q` (dropping stale select entries).
fn pop_claimed(q: &mut WaitQueues<Sudog>, side: Side) -> Option<Sudog> {
    while let Some(s) = q.pop_front(side) {
        if claim(&s) {
            return Some(s);
        }
    }
    None
}

fn case_of(s: &Sudog) -> i32 {
    s.sel.map_or(-1, |(_, c)| c)
}

/// Blocks the running G forever (a `nil` channel, `select {}`).
fn park_forever(reason: WaitReason) -> Flow {
    Flow::Park(Park::forever(reason))
}

fn me(cx: &Ctx) -> GRef {
    cx.g.expect("channel operations run in a goroutine")
}

/// `ch <- v`.
pub fn send(cx: &mut Ctx, chv: Value, v: Value) -> Result<(), Flow> {
    if chv.is_nil() {
        return Err(park_forever(WaitReason::ChanSend));
    }
    let Some(ch) = as_chan(chv) else {
        return Err("Can only send on a channel.".into());
    };
    let mut st = ch.state.lock();
    let before = st.footprint();
    match try_send(ch, &mut st, v)? {
        Sent::Handed(r) => {
            drop(st);
            ready(cx, r);
            return Ok(());
        }
        Sent::Buffered => {
            charge_growth(cx, &st, before);
            return Ok(());
        }
        Sent::No => {}
    }
    Err(park_sender(cx, st, v, before))
}

/// Queues the running goroutine as a sender of `v` on the locked channel
/// (whose footprint was `before` this operation) and parks it; the lock is
/// released once it is parked.
fn park_sender(
    cx: &mut Ctx,
    mut st: parking_lot::MutexGuard<'_, ChanState>,
    v: Value,
    before: usize,
) -> Flow {
    st.waitq.push_back(
        Side::Send,
        Sudog {
            g: me(cx),
            elem: v,
            sel: None,
        },
    );
    charge_growth(cx, &st, before);
    Flow::Park(Park {
        reason: WaitReason::ChanSend,
        unlock: Unlock::guard(st),
        resume: Resume::Sent,
    })
}

/// `<-ch`: the value and whether it came from a send (`false`: closed and
/// drained). When it must wait, parks with `resume`.
pub fn recv(cx: &mut Ctx, chv: Value, resume: Resume) -> Result<(Value, bool), Flow> {
    if chv.is_nil() {
        return Err(park_forever(WaitReason::ChanRecv));
    }
    let Some(ch) = as_chan(chv) else {
        return Err("Can only receive from a channel.".into());
    };
    let mut st = ch.state.lock();
    if let Some((v, ok, sender)) = try_recv(ch, &mut st) {
        drop(st);
        if let Some(s) = sender {
            ready(cx, s);
        }
        return Ok((v, ok));
    }
    let before = st.footprint();
    st.waitq.push_back(
        Side::Recv,
        Sudog {
            g: me(cx),
            elem: Value::NIL,
            sel: None,
        },
    );
    charge_growth(cx, &st, before);
    Err(Flow::Park(Park {
        reason: WaitReason::ChanRecv,
        unlock: Unlock::guard(st),
        resume,
    }))
}

/// Sends `vals` in order under one lock, for a producer that has many
/// values ready (`io.lines`'s reader): each goes to a waiting receiver or
/// into the buffer, until one would have to wait. Returns how many were
/// sent. When not even the first can go, the goroutine parks sending
/// `vals[0]` exactly as [`send`] does, and `vals[0]` counts as sent. A
/// closed channel is `Send on closed channel.`. Receivers are readied once
/// the lock is free, as everywhere in this module.
pub fn send_many(cx: &mut Ctx, chv: Value, vals: &[Value]) -> Result<usize, Flow> {
    let Some(ch) = as_chan(chv) else {
        return Err("Can only send on a channel.".into());
    };
    let mut st = ch.state.lock();
    let before = st.footprint();
    let mut woken = Vec::new();
    let mut sent = 0;
    let mut failed = None;
    for &v in vals {
        match try_send(ch, &mut st, v) {
            Ok(Sent::Handed(r)) => woken.push(r),
            Ok(Sent::Buffered) => {}
            Ok(Sent::No) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        sent += 1;
    }
    if sent == 0 && failed.is_none() {
        if let Some(&v) = vals.first() {
            return Err(park_sender(cx, st, v, before));
        }
    }
    charge_growth(cx, &st, before);
    drop(st);
    for g in woken {
        ready(cx, g);
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(sent),
    }
}

/// Parks the running goroutine until a receive takes the last value out
/// of `chv`'s buffer, or the channel is closed; returns at once when the
/// buffer is already empty or the channel closed. The call's result (when
/// it parked) is `true`. One producer may wait at a time (`io.lines`'s
/// reader, the only caller, owns its channel's sending side).
pub fn wait_drained(cx: &mut Ctx, chv: Value) -> Result<(), Flow> {
    let Some(ch) = as_chan(chv) else {
        return Err("Can only send on a channel.".into());
    };
    let mut st = ch.state.lock();
    if st.closed || st.buf.is_empty() {
        return Ok(());
    }
    st.drain_waiter = Some(me(cx));
    Err(Flow::Park(Park {
        reason: WaitReason::ChanSend,
        unlock: Unlock::guard(st),
        resume: Resume::Store(usize::MAX),
    }))
}

/// What a send that must not block did on a locked channel.
enum Sent {
    /// A parked receiver took the value: ready it once the lock is free.
    Handed(GRef),
    /// The value went into the buffer.
    Buffered,
    /// Neither: the sender would have to wait.
    No,
}

/// Sends `v` on the locked channel if that needs no waiting: to a parked
/// receiver (claimed and handed the value), else into the buffer. A closed
/// channel is `Send on closed channel.`.
fn try_send(ch: &Chan, st: &mut ChanState, v: Value) -> Result<Sent, Flow> {
    // Buffers are not slots: values entering or leaving one are shaded like
    // barrier writes (the channel may be black already).
    crate::gc::shade(v);
    if st.closed {
        return Err("Send on closed channel.".into());
    }
    if let Some(r) = pop_claimed(&mut st.waitq, Side::Recv) {
        r.g.deliver(v, true, case_of(&r));
        return Ok(Sent::Handed(r.g));
    }
    if st.buf.len() < ch.cap {
        st.buf.push_back(v);
        return Ok(Sent::Buffered);
    }
    Ok(Sent::No)
}

/// Receives from the locked channel if that needs no waiting: from a
/// parked sender (claimed; returned to be readied once the lock is free),
/// else the buffer (returning, to be readied, a producer waiting for the
/// buffer to drain when this takes the last value), else a closed
/// channel's `nil` (not ok). `None`: the receiver would have to wait.
fn try_recv(ch: &Chan, st: &mut ChanState) -> Option<(Value, bool, Option<GRef>)> {
    if let Some(s) = pop_claimed(&mut st.waitq, Side::Send) {
        let v = take_from_sender(ch, st, s.elem);
        crate::gc::shade(v);
        s.g.deliver(Value::NIL, true, case_of(&s));
        return Some((v, true, Some(s.g)));
    }
    if let Some(v) = st.buf.pop_front() {
        crate::gc::shade(v);
        let drained = match st.buf.is_empty() {
            true => st.drain_waiter.take(),
            false => None,
        };
        if let Some(w) = drained {
            w.deliver(Value::TRUE, true, -1);
        }
        return Some((v, true, drained));
    }
    if st.closed {
        return Some((Value::NIL, false, None));
    }
    None
}

/// The value a receiver gets when `elem`'s sender was waiting: unbuffered,
/// `elem` itself; buffered (so full), the buffer's head, with `elem`
/// appended to keep FIFO order.
fn take_from_sender(ch: &Chan, st: &mut ChanState, elem: Value) -> Value {
    if ch.cap == 0 {
        elem
    } else {
        let head = st.buf.pop_front().unwrap_or(Value::NIL);
        st.buf.push_back(elem);
        crate::gc::shade(head);
        crate::gc::shade(elem);
        head
    }
}

/// `close(ch)`.
pub fn close(cx: &mut Ctx, chv: Value) -> Result<(), Flow> {
    if chv.is_nil() {
        return Err("Close of closed channel.".into());
    }
    let Some(ch) = as_chan(chv) else {
        return Err("close() expects a channel.".into());
    };
    let woken: Vec<GRef> = {
        let mut st = ch.state.lock();
        if st.closed {
            return Err("Close of closed channel.".into());
        }
        st.closed = true;
        let mut w = Vec::new();
        while let Some(s) = pop_claimed(&mut st.waitq, Side::Recv) {
            s.g.deliver(Value::NIL, false, case_of(&s));
            w.push(s.g);
        }
        while let Some(s) = pop_claimed(&mut st.waitq, Side::Send) {
            s.g.deliver(Value::NIL, false, case_of(&s));
            w.push(s.g);
        }
        if let Some(g) = st.drain_waiter.take() {
            g.deliver(Value::TRUE, true, -1);
            w.push(g);
        }
        w
    };
    for g in woken {
        ready(cx, g);
    }
    Ok(())
}

/// A send that never blocks (a timer's `time.after` channel): dropped when
/// the channel is closed or full.
pub fn send_nonblocking(cx: &mut Ctx, chv: Value, v: Value) {
    let Some(ch) = as_chan(chv) else { return };
    let mut st = ch.state.lock();
    let before = st.footprint();
    // Closed or full: the value is dropped.
    match try_send(ch, &mut st, v) {
        Ok(Sent::Handed(r)) => {
            drop(st);
            ready(cx, r);
        }
        Ok(Sent::Buffered) => charge_growth(cx, &st, before),
        _ => {}
    }
}

/// One `select` case.
#[derive(Clone, Copy)]
pub struct Case {
    pub chan: Value,
    /// The value to send; `None` for a receive.
    pub send: Option<Value>,
}

/// Locked channel states of a select, in lock order.
struct Locked {
    chans: Vec<*const Chan>,
}

impl Locked {
    fn lock(cases: &[Case]) -> Locked {
        let mut chans: Vec<*const Chan> = cases
            .iter()
            .filter_map(|c| as_chan(c.chan).map(|ch| ch as *const Chan))
            .collect();
        chans.sort();
        chans.dedup();
        for &c in &chans {
            // SAFETY: the channels are live objects held in the select's
            // registers.
            std::mem::forget(unsafe { &*c }.state.lock());
        }
        Locked { chans }
    }

    /// The state of a locked channel.
    #[allow(clippy::mut_from_ref)]
    fn state(&self, ch: &Chan) -> &mut ChanState {
        // SAFETY: `ch` is one of `self.chans`, all locked by this select
        // (forgotten guards), so this thread has exclusive access.
        unsafe { &mut *ch.state.data_ptr() }
    }

    fn unlock(self) {
        unlock_all(&self.chans);
    }

    /// The park of a select that waits: its locks stay held until the G
    /// is `Waiting`, then [`unlock_select`] releases them. The lock set
    /// moves into a box that the unlock step frees.
    fn into_unlock(self) -> Unlock {
        let set = Box::into_raw(Box::new(self.chans));
        // SAFETY: `unlock_select` is called once with this pointer, which
        // owns the lock set; every channel in it is locked by this select
        // and kept alive by the parked G's registers until the park commits.
        unsafe { Unlock::new(unlock_select, set as *const ()) }
    }
}

/// The unlock step of a blocked `select`: releases every channel lock of
/// its lock set (a `Box<Vec<*const Chan>>`) and frees the set.
///
/// # Safety
/// `set` comes from `Locked::into_unlock` and is used once.
unsafe fn unlock_select(_: &mut Ctx, _: GRef, set: *const ()) {
    // SAFETY: the caller passes the box made by `into_unlock`, once.
    let set = unsafe { Box::from_raw(set as *mut Vec<*const Chan>) };
    unlock_all(&set);
}

/// Releases channel locks left held by forgotten guards.
fn unlock_all(chans: &[*const Chan]) {
    for &c in chans.iter().rev() {
        // SAFETY: each lock is held by a forgotten guard of this select.
        unsafe { (*c).state.force_unlock() };
    }
}

/// The sudogs a blocked `select` queued: its generation and, per case, the
/// handle of the case's sudog on its channel's queue (`None`: a `nil`
/// channel's case, which queues nothing). The select's goroutine keeps it
/// in its `Exec` while parked, so that once woken it unlinks each sudog
/// still queued by handle ([`select_cleanup`]). Reused from one select to
/// the next: after the first, a select allocates nothing here.
#[derive(Default)]
pub struct SelectWait {
    gen: u64,
    ids: Vec<Option<WaitId>>,
}

impl SelectWait {
    /// Bytes the handle vector holds, as allocated (part of the
    /// goroutine's footprint).
    pub(crate) fn bytes(&self) -> usize {
        self.ids.capacity() * std::mem::size_of::<Option<WaitId>>()
    }
}

/// `select`: the chosen case's index (`-1`: default), the received value
/// and whether it was sent (`false` from a closed channel; `true` for a
/// send case). When it must wait, queues one sudog per case, records their
/// handles in `wait` (the running goroutine's), and parks with
/// `Resume::Select { base }`.
pub fn select(
    cx: &mut Ctx,
    cases: &[Case],
    has_default: bool,
    base: usize,
    wait: &mut SelectWait,
) -> Result<(i64, Value, bool), Flow> {
    for c in cases {
        if !c.chan.is_nil() && as_chan(c.chan).is_none() {
            return Err(match c.send {
                Some(_) => "Can only send on a channel.".into(),
                None => "Can only receive from a channel.".into(),
            });
        }
    }
    let locked = Locked::lock(cases);
    // Poll order: a uniform random permutation (Fisher-Yates).
    let mut order: Vec<usize> = (0..cases.len()).collect();
    for i in (1..order.len()).rev() {
        let j = (cx.fastrand() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    for &i in &order {
        let c = cases[i];
        let Some(ch) = as_chan(c.chan) else { continue };
        let st = locked.state(ch);
        let before = st.footprint();
        let (v, ok, wake) = match c.send {
            Some(v) => match try_send(ch, st, v) {
                Err(e) => {
                    locked.unlock();
                    return Err(e);
                }
                Ok(Sent::Handed(r)) => (Value::NIL, true, Some(r)),
                Ok(Sent::Buffered) => {
                    charge_growth(cx, st, before);
                    (Value::NIL, true, None)
                }
                Ok(Sent::No) => continue,
            },
            None => match try_recv(ch, st) {
                Some((v, ok, sender)) => (v, ok, sender),
                None => continue,
            },
        };
        locked.unlock();
        if let Some(w) = wake {
            ready(cx, w);
        }
        return Ok((i as i64, v, ok));
    }
    if has_default {
        locked.unlock();
        return Ok((-1, Value::NIL, false));
    }
    if locked.chans.is_empty() {
        return Err(park_forever(WaitReason::Select));
    }
    let g = me(cx);
    // A new generation: even, above every earlier one (bit 0 is the
    // claimed flag).
    let gen = (g.sel_state.load(Ordering::Relaxed) | 1) + 1;
    g.sel_state.store(gen, Ordering::Release);
    wait.gen = gen;
    wait.ids.clear();
    for (i, c) in cases.iter().enumerate() {
        let Some(ch) = as_chan(c.chan) else {
            wait.ids.push(None);
            continue;
        };
        let st = locked.state(ch);
        let before = st.footprint();
        let s = Sudog {
            g,
            elem: c.send.unwrap_or(Value::NIL),
            sel: Some((gen, i as i32)),
        };
        let side = match c.send {
            Some(_) => Side::Send,
            None => Side::Recv,
        };
        let id = st.waitq.push_back(side, s);
        wait.ids.push(Some(id));
        charge_growth(cx, st, before);
    }
    Err(Flow::Park(Park {
        reason: WaitReason::Select,
        unlock: locked.into_unlock(),
        resume: Resume::Select { base },
    }))
}

/// After a blocked select was woken (or abandoned): unlinks the G's
/// sudogs that are still queued, each by its handle in `wait`, in O(1)
/// under its own channel's lock. `chans` are the channels of the select's
/// cases, in case order; `fired` is the case its waker claimed (`-1`:
/// none), whose sudog that waker already popped. A sudog a waker dropped
/// as stale is gone too, and its node may hold another sudog by now: the
/// owner test (this G, this generation, this case) leaves such a node
/// alone.
pub fn select_cleanup(
    g: GRef,
    wait: &mut SelectWait,
    chans: impl Iterator<Item = Value>,
    fired: i32,
) {
    let gen = wait.gen;
    for (i, (chv, id)) in chans.zip(wait.ids.drain(..)).enumerate() {
        let (Some(id), Some(ch)) = (id, as_chan(chv)) else {
            continue;
        };
        let case = i as i32;
        if case == fired {
            continue;
        }
        let mut st = ch.state.lock();
        st.waitq
            .remove_if(id, |s| s.g == g && s.sel == Some((gen, case)));
    }
}
