//! A channel's two wait queues (Go's `waitq` in `chan.go`, `recvq` and
//! `sendq`): FIFOs of parked waiters from which any one entry can also be
//! removed in O(1), given the handle its push returned.
//!
//! Why: a goroutine blocked in a `select` waits on one queue per case. The
//! first waker claims it (the generation CAS in [`super::chan`]) through one
//! of them; its entries on the other queues are stale from then on. Go's
//! `selectgo` unlinks each of them by pointer (`dequeueSudoG`); scanning
//! every queue for them instead costs the length of the queue, so waking n
//! selects that share a channel one by one costs O(n²) (Go's `chanlinear`
//! test).
//!
//! Layout: both queues of a channel share one slab of nodes
//! (`Vec<Node<T>>`), and each queue ([`Side`]) is a doubly linked list
//! through it with `u32` indices for links. A node is either *live* (it
//! holds an entry and sits on one list) or *free* (no entry; it sits on the
//! free list, linked through `next`). Pushing takes a free node, or grows
//! the slab; popping or removing an entry frees its node. The slab never
//! shrinks, so its capacity (`bytes`) only grows, which the channel's memory
//! accounting relies on.
//!
//! Steps:
//! 1. `push_back(side, x)`: take a node (free list first), store `x`, link
//!    it after that list's tail; return its [`WaitId`] (node and side).
//! 2. `pop_front(side)`: unlink that list's head, free its node, return its
//!    entry.
//! 3. `remove_if(id, owns)`: if the node `id` names is live and its entry
//!    passes `owns`, unlink it from `id`'s list (patching its neighbours, or
//!    that list's head or tail), free it and return the entry; otherwise
//!    change nothing.
//!
//! A handle can outlive its entry: a waker may pop a stale entry, and its
//! node may then be reused by another push, on either list. That is why
//! removal takes a test: the caller names the entry it means (for a
//! `select`, the goroutine, the select's generation and the case), so a
//! reused node is left alone. Neither the handle nor the test gives access
//! to any other entry.
//!
//! Invariants: the live nodes are exactly the nodes on the two lists, each
//! list in push order, and each list's `len` counts its nodes; every free
//! node is on the free list; a list's head has `prev == NONE` and its tail
//! `next == NONE`, and both ends are `NONE` exactly when the list is empty;
//! every operation is O(1) except the slab's amortised growth and
//! [`WaitQueues::iter`].

/// "No node": the end of a list, or an empty list's head and tail.
const NONE: u32 = u32::MAX;

/// Which of a channel's two queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Parked receivers (Go's `recvq`).
    Recv = 0,
    /// Parked senders (Go's `sendq`).
    Send = 1,
}

/// Where an entry was pushed (its node and its queue): the handle with
/// which its owner may remove it later ([`WaitQueues::remove_if`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitId {
    node: u32,
    side: Side,
}

/// One slot of the slab.
struct Node<T> {
    /// The entry; `None` for a free node.
    item: Option<T>,
    /// The previous live node of its list (`NONE` at the head); unused
    /// when free.
    prev: u32,
    /// The next live node of its list (`NONE` at the tail), or for a free
    /// node the next free node.
    next: u32,
}

/// One queue's ends and length.
#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    len: usize,
}

const EMPTY: List = List {
    head: NONE,
    tail: NONE,
    len: 0,
};

/// A channel's receive and send queues, FIFO with O(1) removal by handle
/// (see the module docs).
pub struct WaitQueues<T> {
    nodes: Vec<Node<T>>,
    /// Indexed by `Side`.
    lists: [List; 2],
    /// The first free node (`NONE`: every node is live).
    free: u32,
}

impl<T> Default for WaitQueues<T> {
    fn default() -> Self {
        WaitQueues {
            nodes: Vec::new(),
            lists: [EMPTY; 2],
            free: NONE,
        }
    }
}

impl<T> WaitQueues<T> {
    /// Two empty queues (no allocation until the first push).
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries on queue `side`.
    pub fn len(&self, side: Side) -> usize {
        self.lists[side as usize].len
    }

    pub fn is_empty(&self, side: Side) -> bool {
        self.len(side) == 0
    }

    /// Bytes the slab holds, as allocated (it never shrinks).
    pub fn bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node<T>>()
    }

    /// Appends `x` at the tail of queue `side`; the handle lets its owner
    /// remove it later.
    pub fn push_back(&mut self, side: Side, x: T) -> WaitId {
        let i = match self.free {
            NONE => {
                let i = self.nodes.len();
                // A node index must stay below `NONE`: four billion waiters
                // on one channel would have exhausted memory long before.
                assert!(i < NONE as usize, "too many waiters on one channel");
                self.nodes.push(Node {
                    item: None,
                    prev: NONE,
                    next: NONE,
                });
                i as u32
            }
            f => {
                self.free = self.nodes[f as usize].next;
                f
            }
        };
        let tail = self.lists[side as usize].tail;
        let n = &mut self.nodes[i as usize];
        n.item = Some(x);
        n.prev = tail;
        n.next = NONE;
        match tail {
            NONE => self.lists[side as usize].head = i,
            t => self.nodes[t as usize].next = i,
        }
        let l = &mut self.lists[side as usize];
        l.tail = i;
        l.len += 1;
        WaitId { node: i, side }
    }

    /// Takes the entry at the head of queue `side`.
    pub fn pop_front(&mut self, side: Side) -> Option<T> {
        match self.lists[side as usize].head {
            NONE => None,
            h => Some(self.unlink(h, side)),
        }
    }

    /// Removes the entry `id` names when it is still queued and `owns`
    /// accepts it (the caller's check that the node was not freed and
    /// reused by another push since); otherwise changes nothing.
    pub fn remove_if(&mut self, id: WaitId, owns: impl FnOnce(&T) -> bool) -> Option<T> {
        let n = self.nodes.get(id.node as usize)?;
        match &n.item {
            Some(x) if owns(x) => Some(self.unlink(id.node, id.side)),
            _ => None,
        }
    }

    /// The entries of queue `side`, from head to tail.
    pub fn iter(&self, side: Side) -> impl Iterator<Item = &T> + '_ {
        let mut at = self.lists[side as usize].head;
        std::iter::from_fn(move || {
            let n = self.nodes.get(at as usize)?;
            at = n.next;
            n.item.as_ref()
        })
    }

    /// Unlinks the live node `i` from queue `side` (patching its
    /// neighbours, or the list's head and tail), puts it on the free list
    /// and returns its entry.
    fn unlink(&mut self, i: u32, side: Side) -> T {
        let n = &mut self.nodes[i as usize];
        let item = n.item.take().expect("unlink of a free wait-queue node");
        let (prev, next) = (n.prev, n.next);
        n.prev = NONE;
        n.next = self.free;
        self.free = i;
        let l = &mut self.lists[side as usize];
        match prev {
            NONE => {
                assert_eq!(l.head, i, "a wait-queue entry unlinked from the wrong list");
                l.head = next;
            }
            p => self.nodes[p as usize].next = next,
        }
        let l = &mut self.lists[side as usize];
        match next {
            NONE => {
                assert_eq!(l.tail, i, "a wait-queue entry unlinked from the wrong list");
                l.tail = prev;
            }
            x => self.nodes[x as usize].prev = prev,
        }
        l.len -= 1;
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Side::{Recv, Send};

    /// Checks the invariants of the module docs: each list walked both
    /// ways, and the free list.
    fn check<T: PartialEq + std::fmt::Debug + Clone>(q: &WaitQueues<T>, recv: &[T], send: &[T]) {
        for (side, want) in [(Recv, recv), (Send, send)] {
            let fwd: Vec<T> = q.iter(side).cloned().collect();
            assert_eq!(fwd, want);
            assert_eq!(q.len(side), want.len());
            let mut back = Vec::new();
            let mut at = q.lists[side as usize].tail;
            let mut after = NONE;
            while at != NONE {
                let n = &q.nodes[at as usize];
                assert_eq!(n.next, after, "broken next link");
                back.push(n.item.clone().expect("a free node on a list"));
                after = at;
                at = n.prev;
            }
            assert_eq!(after, q.lists[side as usize].head, "the head is not first");
            back.reverse();
            assert_eq!(back, want);
        }
        let mut free = 0;
        let mut at = q.free;
        while at != NONE {
            assert!(q.nodes[at as usize].item.is_none(), "a live node is free");
            free += 1;
            at = q.nodes[at as usize].next;
        }
        assert_eq!(
            free + recv.len() + send.len(),
            q.nodes.len(),
            "a node is lost"
        );
    }

    #[test]
    fn fifo_order_per_side() {
        let mut q = WaitQueues::new();
        for i in 0..5 {
            q.push_back(if i % 2 == 0 { Recv } else { Send }, i);
        }
        check(&q, &[0, 2, 4], &[1, 3]);
        assert_eq!(q.pop_front(Recv), Some(0));
        assert_eq!(q.pop_front(Send), Some(1));
        q.push_back(Send, 5);
        check(&q, &[2, 4], &[3, 5]);
        while q.pop_front(Recv).is_some() {}
        while q.pop_front(Send).is_some() {}
        check(&q, &[], &[]);
        assert_eq!(q.nodes.len(), 5, "freed nodes are reused");
    }

    #[test]
    fn remove_middle_head_tail_and_only() {
        let mut q = WaitQueues::new();
        let ids: Vec<WaitId> = (0..5).map(|i| q.push_back(Recv, i)).collect();
        let s = q.push_back(Send, 9);
        assert_eq!(q.remove_if(ids[2], |_| true), Some(2));
        check(&q, &[0, 1, 3, 4], &[9]);
        assert_eq!(q.remove_if(ids[0], |_| true), Some(0));
        check(&q, &[1, 3, 4], &[9]);
        assert_eq!(q.remove_if(ids[4], |_| true), Some(4));
        check(&q, &[1, 3], &[9]);
        assert_eq!(q.remove_if(ids[1], |_| true), Some(1));
        assert_eq!(q.remove_if(ids[3], |_| true), Some(3));
        check(&q, &[], &[9]);
        assert_eq!(q.remove_if(s, |_| true), Some(9));
        check(&q, &[], &[]);
        q.push_back(Recv, 7);
        check(&q, &[7], &[]);
    }

    #[test]
    fn stale_handles_change_nothing() {
        let mut q = WaitQueues::new();
        let a = q.push_back(Recv, 1);
        assert_eq!(q.pop_front(Recv), Some(1));
        // Freed: nothing to remove.
        assert_eq!(q.remove_if(a, |_| true), None);
        // Reused by another push, here on the other list: the owner test
        // tells them apart.
        let b = q.push_back(Send, 2);
        assert_eq!(a.node, b.node);
        assert_eq!(q.remove_if(a, |&x| x == 1), None);
        check(&q, &[], &[2]);
        assert_eq!(q.remove_if(b, |&x| x == 2), Some(2));
        check(&q, &[], &[]);
        let far = WaitId {
            node: 40,
            side: Recv,
        };
        assert_eq!(q.remove_if(far, |_| true), None);
    }

    /// Random pushes, pops and removals on both sides against a pair of
    /// `VecDeque` models.
    #[test]
    fn matches_two_vecdeques() {
        use std::collections::VecDeque;
        let mut q = WaitQueues::new();
        let mut model: [VecDeque<(u32, WaitId)>; 2] = [VecDeque::new(), VecDeque::new()];
        // A fixed xorshift seed: the test is deterministic.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..40_000u32 {
            let side = if next() % 2 == 0 { Recv } else { Send };
            let m = &mut model[side as usize];
            match next() % 3 {
                0 => {
                    let id = q.push_back(side, step);
                    m.push_back((step, id));
                }
                1 => assert_eq!(q.pop_front(side), m.pop_front().map(|(x, _)| x)),
                _ if !m.is_empty() => {
                    let k = (next() % m.len() as u64) as usize;
                    let (x, id) = m.remove(k).unwrap();
                    assert_eq!(q.remove_if(id, |&y| y == x), Some(x));
                }
                _ => {}
            }
            if step % 1000 == 0 {
                let want = |s: usize| -> Vec<u32> { model[s].iter().map(|&(x, _)| x).collect() };
                check(&q, &want(0), &want(1));
            }
        }
    }
}
