//! A channel's wait queue (Go's `waitq` in `chan.go`): a FIFO of parked
//! waiters from which any one entry can also be removed in O(1), given the
//! handle its push returned.
//!
//! Why: a goroutine blocked in a `select` waits on one queue per case. The
//! first waker claims it (the generation CAS in [`super::chan`]) through one
//! of them; its entries on the other queues are stale from then on. Go's
//! `selectgo` unlinks each of them by pointer (`dequeueSudoG`); scanning
//! every queue for them instead costs the length of the queue, so waking n
//! selects that share a channel one by one costs O(n²) (Go's `chanlinear`
//! test).
//!
//! Layout: a queue is a slab of nodes (`Vec<Node<T>>`) holding a doubly
//! linked list with `u32` indices for links. A node is either *live* (it
//! holds an entry and sits on the list) or *free* (no entry; it sits on the
//! free list, linked through `next`). Pushing takes a free node, or grows
//! the slab; popping or removing an entry frees its node. The slab never
//! shrinks, so its capacity (`bytes`) only grows, which the channel's memory
//! accounting relies on.
//!
//! Steps:
//! 1. `push_back(x)`: take a node (free list first), store `x`, link it
//!    after the tail; return its [`WaitId`].
//! 2. `pop_front()`: unlink the head, free its node, return its entry.
//! 3. `remove_if(id, owns)`: if the node `id` is live and its entry passes
//!    `owns`, unlink it (patching its neighbours, or the head or tail), free
//!    it and return the entry; otherwise change nothing.
//!
//! A handle can outlive its entry: a waker may pop a stale entry, and its
//! node may then be reused by another push. That is why removal takes a
//! test: the caller names the entry it means (for a `select`, the goroutine,
//! the select's generation and the case), so a reused node is left alone.
//! Neither the handle nor the test gives access to any other entry.
//!
//! Invariants: the live nodes are exactly the nodes on the list, in push
//! order, and `len` counts them; every free node is on the free list; the
//! head's `prev` and the tail's `next` are `NONE`, and both ends are `NONE`
//! exactly when the list is empty; every operation is O(1) except the
//! slab's amortised growth and [`WaitQ::iter`].

/// "No node": the end of a list, or an empty queue's head and tail.
const NONE: u32 = u32::MAX;

/// Where an entry was pushed: the handle with which its owner may remove it
/// later ([`WaitQ::remove_if`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitId(u32);

/// One slot of the slab.
struct Node<T> {
    /// The entry; `None` for a free node.
    item: Option<T>,
    /// The previous live node (`NONE` at the head); unused when free.
    prev: u32,
    /// The next live node (`NONE` at the tail), or for a free node the next
    /// free node.
    next: u32,
}

/// A FIFO queue with O(1) removal by handle (see the module docs).
pub struct WaitQ<T> {
    nodes: Vec<Node<T>>,
    head: u32,
    tail: u32,
    /// The first free node (`NONE`: the slab is full).
    free: u32,
    len: usize,
}

impl<T> Default for WaitQ<T> {
    fn default() -> Self {
        WaitQ {
            nodes: Vec::new(),
            head: NONE,
            tail: NONE,
            free: NONE,
            len: 0,
        }
    }
}

impl<T> WaitQ<T> {
    /// An empty queue (no allocation until the first push).
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries on the queue.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the slab holds, as allocated (it never shrinks).
    pub fn bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node<T>>()
    }

    /// Appends `x` at the tail; the handle lets its owner remove it later.
    pub fn push_back(&mut self, x: T) -> WaitId {
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
        let tail = self.tail;
        let n = &mut self.nodes[i as usize];
        n.item = Some(x);
        n.prev = tail;
        n.next = NONE;
        match tail {
            NONE => self.head = i,
            t => self.nodes[t as usize].next = i,
        }
        self.tail = i;
        self.len += 1;
        WaitId(i)
    }

    /// Takes the entry at the head.
    pub fn pop_front(&mut self) -> Option<T> {
        match self.head {
            NONE => None,
            h => Some(self.unlink(h)),
        }
    }

    /// Removes the entry `id` names when it is still on the queue and
    /// `owns` accepts it (the caller's check that the node was not freed
    /// and reused by another push since); otherwise changes nothing.
    pub fn remove_if(&mut self, id: WaitId, owns: impl FnOnce(&T) -> bool) -> Option<T> {
        let n = self.nodes.get(id.0 as usize)?;
        match &n.item {
            Some(x) if owns(x) => Some(self.unlink(id.0)),
            _ => None,
        }
    }

    /// The entries from head to tail.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            let n = self.nodes.get(at as usize)?;
            at = n.next;
            n.item.as_ref()
        })
    }

    /// Unlinks the live node `i` (patching its neighbours, or the head and
    /// tail), puts it on the free list and returns its entry.
    fn unlink(&mut self, i: u32) -> T {
        let n = &mut self.nodes[i as usize];
        let item = n.item.take().expect("unlink of a free wait-queue node");
        let (prev, next) = (n.prev, n.next);
        n.prev = NONE;
        n.next = self.free;
        self.free = i;
        match prev {
            NONE => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NONE => self.tail = prev,
            x => self.nodes[x as usize].prev = prev,
        }
        self.len -= 1;
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the invariants of the module docs, walking the list both
    /// ways and the free list.
    fn check<T: PartialEq + std::fmt::Debug + Clone>(q: &WaitQ<T>, want: &[T]) {
        let fwd: Vec<T> = q.iter().cloned().collect();
        assert_eq!(fwd, want);
        assert_eq!(q.len(), want.len());
        let mut back = Vec::new();
        let mut at = q.tail;
        let mut after = NONE;
        while at != NONE {
            let n = &q.nodes[at as usize];
            assert_eq!(n.next, after, "broken next link");
            back.push(n.item.clone().expect("a free node on the list"));
            after = at;
            at = n.prev;
        }
        assert_eq!(after, q.head, "the head is not the first node");
        back.reverse();
        assert_eq!(back, want);
        let mut free = 0;
        let mut at = q.free;
        while at != NONE {
            assert!(q.nodes[at as usize].item.is_none(), "a live node is free");
            free += 1;
            at = q.nodes[at as usize].next;
        }
        assert_eq!(free + want.len(), q.nodes.len(), "a node is lost");
    }

    #[test]
    fn fifo_order() {
        let mut q = WaitQ::new();
        for i in 0..5 {
            q.push_back(i);
        }
        check(&q, &[0, 1, 2, 3, 4]);
        assert_eq!(q.pop_front(), Some(0));
        assert_eq!(q.pop_front(), Some(1));
        q.push_back(5);
        check(&q, &[2, 3, 4, 5]);
        while q.pop_front().is_some() {}
        check(&q, &[]);
        assert_eq!(q.nodes.len(), 5, "freed nodes are reused");
    }

    #[test]
    fn remove_middle_head_tail_and_only() {
        let mut q = WaitQ::new();
        let ids: Vec<WaitId> = (0..5).map(|i| q.push_back(i)).collect();
        assert_eq!(q.remove_if(ids[2], |_| true), Some(2));
        check(&q, &[0, 1, 3, 4]);
        assert_eq!(q.remove_if(ids[0], |_| true), Some(0));
        check(&q, &[1, 3, 4]);
        assert_eq!(q.remove_if(ids[4], |_| true), Some(4));
        check(&q, &[1, 3]);
        assert_eq!(q.remove_if(ids[1], |_| true), Some(1));
        assert_eq!(q.remove_if(ids[3], |_| true), Some(3));
        check(&q, &[]);
        q.push_back(7);
        check(&q, &[7]);
    }

    #[test]
    fn stale_handles_change_nothing() {
        let mut q = WaitQ::new();
        let a = q.push_back(1);
        assert_eq!(q.pop_front(), Some(1));
        // Freed: nothing to remove.
        assert_eq!(q.remove_if(a, |_| true), None);
        // Reused by another push: the owner test tells them apart.
        let b = q.push_back(2);
        assert_eq!(a, b);
        assert_eq!(q.remove_if(a, |&x| x == 1), None);
        check(&q, &[2]);
        assert_eq!(q.remove_if(b, |&x| x == 2), Some(2));
        check(&q, &[]);
        assert_eq!(q.remove_if(WaitId(40), |_| true), None);
    }

    /// Random pushes, pops and removals against a `VecDeque` model.
    #[test]
    fn matches_a_vecdeque() {
        use std::collections::VecDeque;
        let mut q = WaitQ::new();
        let mut model: VecDeque<(u32, WaitId)> = VecDeque::new();
        // A fixed xorshift seed: the test is deterministic.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..20_000u32 {
            match next() % 3 {
                0 => {
                    let id = q.push_back(step);
                    model.push_back((step, id));
                }
                1 => assert_eq!(q.pop_front(), model.pop_front().map(|(x, _)| x)),
                _ if !model.is_empty() => {
                    let k = (next() % model.len() as u64) as usize;
                    let (x, id) = model.remove(k).unwrap();
                    assert_eq!(q.remove_if(id, |&y| y == x), Some(x));
                }
                _ => {}
            }
            if step % 1000 == 0 {
                let want: Vec<u32> = model.iter().map(|&(x, _)| x).collect();
                check(&q, &want);
            }
        }
    }
}
