//! Arenas: the heap's memory from the operating system, and the page map
//! that finds an object's span.
//!
//! An arena is [`ARENA_SIZE`] bytes (or a multiple, for one huge object)
//! mapped with `mmap` at an address aligned to [`ARENA_SIZE`]. Its first
//! [`META_PAGES`] pages hold its page map: one span pointer per page of the
//! arena. So the span of an object at address `p` is one load at an address
//! computed from `p` alone (`span_of`): round `p` down to the arena's start,
//! index the map by `p`'s page. Pages the program never touches cost no
//! physical memory (Linux maps anonymous memory lazily), and free pages
//! are given back with `madvise(MADV_DONTNEED)` (`release`).
//!
//! Invariants: a span lies inside one arena; the page map entries of a span
//! in use point to it (for a huge object's span, the entries inside the
//! arena's first [`ARENA_SIZE`] bytes, which is where the object starts);
//! entries are written under the page heap's lock and read by anyone
//! holding a pointer to an object of the span.

use std::sync::atomic::{AtomicPtr, Ordering};

use super::sizeclass::PAGE_SIZE;
use super::span::Span;

/// Bits of an arena's size and alignment.
pub const ARENA_SHIFT: u32 = 26;
/// An arena: 64 MiB, as Go's on 64-bit Linux.
pub const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// Pages in one arena.
pub const ARENA_PAGES: usize = ARENA_SIZE / PAGE_SIZE;
/// Pages at the start of an arena holding its page map (8 bytes a page).
pub const META_PAGES: usize = ARENA_PAGES * std::mem::size_of::<usize>() / PAGE_SIZE;

/// The span containing the object at `p`.
///
/// # Safety
/// `p` is the address of an object allocated by a live heap (so its
/// arena is mapped and its page map entry set).
#[inline(always)]
pub unsafe fn span_of(p: usize) -> *mut Span {
    let base = p & !(ARENA_SIZE - 1);
    let page = (p - base) >> super::sizeclass::PAGE_SHIFT;
    // SAFETY: the page map sits at the arena's start, one entry per page;
    // the caller guarantees the arena is mapped.
    unsafe { (*(base as *const AtomicPtr<Span>).add(page)).load(Ordering::Acquire) }
}

/// The span of the object at `p` and the object's slot index in it.
///
/// # Safety
/// As for [`span_of`]; the span stays in use while the object is live,
/// which bounds the returned borrow's use.
#[inline(always)]
pub unsafe fn slot_of<'a>(p: *const crate::object::Header) -> (&'a Span, usize) {
    // SAFETY: guaranteed by the caller: the entry points to a span in use.
    let span = unsafe { &*span_of(p as usize) };
    (span, span.index(p as usize))
}

/// Points the page map entries of pages `first..first + n` of the arena at
/// `base` to `span` (null to clear them). Pages beyond the arena's first
/// [`ARENA_SIZE`] bytes (a huge object's) have no entries.
///
/// # Safety
/// `base` is a mapped arena's start, and the caller holds the page heap's
/// lock.
pub unsafe fn set_pages(base: usize, first: usize, n: usize, span: *mut Span) {
    let map = base as *const AtomicPtr<Span>;
    for page in first..(first + n).min(ARENA_PAGES) {
        // SAFETY: the map has `ARENA_PAGES` entries at the arena's start.
        unsafe { (*map.add(page)).store(span, Ordering::Release) };
    }
}

/// Maps `len` bytes of fresh memory, readable and writable, backed by
/// physical memory only where touched (page-aligned); `None` when the
/// system refuses. Release it with [`unmap`].
pub fn map_anonymous(len: usize) -> Option<usize> {
    // SAFETY: an anonymous private mapping with no fixed address has no
    // preconditions; the result is checked.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (p != libc::MAP_FAILED).then_some(p as usize)
}

/// Maps a fresh arena of `bytes` (a multiple of [`ARENA_SIZE`]) aligned to
/// [`ARENA_SIZE`]; `None` when the system refuses.
pub fn map(bytes: usize) -> Option<usize> {
    // Over-map by one arena, then trim both ends to the alignment.
    let len = bytes + ARENA_SIZE;
    let start = map_anonymous(len)?;
    let base = (start + ARENA_SIZE - 1) & !(ARENA_SIZE - 1);
    let end = start + len;
    // SAFETY: both trimmed ranges lie inside the mapping just made and are
    // not used.
    unsafe {
        if base > start {
            libc::munmap(start as *mut libc::c_void, base - start);
        }
        if end > base + bytes {
            libc::munmap((base + bytes) as *mut libc::c_void, end - (base + bytes));
        }
    }
    Some(base)
}

/// Unmaps an arena made by [`map`] (or memory from [`map_anonymous`]).
///
/// # Safety
/// Nothing in the range is used again.
pub unsafe fn unmap(base: usize, bytes: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::munmap(base as *mut libc::c_void, bytes) };
}

/// Gives the physical memory behind `bytes` at `addr` back to the system;
/// the range stays mapped and reads as zeros when touched again.
///
/// # Safety
/// The range is mapped (an arena's, or from [`map_anonymous`]),
/// page-aligned, and holds nothing that is used again.
pub unsafe fn release(addr: usize, bytes: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::madvise(addr as *mut libc::c_void, bytes, libc::MADV_DONTNEED) };
}
