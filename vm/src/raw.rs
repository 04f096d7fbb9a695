//! Raw memory for list and table blocks that do not live in their object's
//! slot (a grown list's or instance's block, a class's method table, a
//! module's members; the objects themselves live in the span heap):
//! mimalloc's plain `mi_malloc`/`mi_free`, and for a block of
//! [`MAP_THRESHOLD`] bytes or more a mapping of its own.
//!
//! Why not `std::alloc`: the `mimalloc` crate's `GlobalAlloc` always takes
//! mimalloc's *aligned* entry point, which is several times slower than
//! `mi_malloc` for the small blocks the VM allocates by the thousand.
//! mimalloc guarantees 16-byte alignment for `mi_malloc`, and a mapping is
//! page-aligned: more than any object needs.
//!
//! Why large blocks are mapped: the collector frees a replaced block after
//! its pause, on the coordinator's thread, and mimalloc keeps a block
//! freed by a thread other than the one that allocated it on the
//! allocating thread's page until that thread calls into mimalloc for the
//! same size again, which for a block of megabytes it seldom does. The
//! blocks a list of a million elements left behind as it doubled (4, 2,
//! 1 MiB, ...) stayed resident: the program held 94 MB with 77 MB live
//! (`bench/burst.sk 0 1000000`). A mapping is unmapped by whichever
//! thread frees it. Its system calls and first-touch faults cost about
//! what copying the block into it does, so only large blocks take them.
//!
//! Invariant: memory from [`alloc`] is released only with [`free`], given
//! the size it was allocated with.

/// Blocks of at least this many bytes get a mapping of their own: 256 KiB,
/// where copying the block when its list grows costs tens of
/// microseconds, as much as mapping and faulting in its pages.
pub const MAP_THRESHOLD: usize = 256 << 10;

/// Allocates `size` bytes (at least 16-byte aligned), or aborts like the
/// standard allocator does when memory is exhausted.
#[inline]
pub fn alloc(size: usize) -> *mut u8 {
    let p = if size >= MAP_THRESHOLD {
        crate::heap::arena::map_anonymous(size).map_or(std::ptr::null_mut(), |p| p as *mut u8)
    } else {
        // SAFETY: `mi_malloc` has no preconditions; a zero size is valid.
        unsafe { libmimalloc_sys::mi_malloc(size) as *mut u8 }
    };
    if p.is_null() {
        let layout = std::alloc::Layout::from_size_align(size.max(1), 16)
            .unwrap_or(std::alloc::Layout::new::<u8>());
        std::alloc::handle_alloc_error(layout);
    }
    p
}

/// Releases memory from [`alloc`].
///
/// # Safety
/// `p` came from [`alloc`] with this `size` and is not used afterwards.
#[inline]
pub unsafe fn free(p: *mut u8, size: usize) {
    if size >= MAP_THRESHOLD {
        // SAFETY: guaranteed by the caller: `p` is a mapping of `size`
        // bytes that `alloc` made.
        unsafe { crate::heap::arena::unmap(p as usize, size) }
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { libmimalloc_sys::mi_free(p as *mut std::ffi::c_void) }
    }
}

/// mimalloc's options that Skein sets, by their place in the option
/// enumeration of the mimalloc that `libmimalloc-sys` builds (version 3,
/// for which the crate has no Rust constants).
mod mi_option {
    use libmimalloc_sys::mi_option_t;
    /// `mi_option_arena_eager_commit`.
    pub const ARENA_EAGER_COMMIT: mi_option_t = 4;
    /// `mi_option_purge_delay`.
    pub const PURGE_DELAY: mi_option_t = 15;
}

/// Sets mimalloc up for a garbage-collected runtime. It must run before
/// the process's first allocation (mimalloc reserves its first arena
/// then, with the options it has) and while the process has one thread
/// (mimalloc's option setter is not thread-safe): the `skein` binary runs
/// it as a process constructor.
///
/// 1. Arenas are committed on demand. By default mimalloc commits them
///    eagerly on Linux (where the kernel overcommits anyway), and memory
///    of an eagerly committed arena stayed resident after it was freed:
///    the list and table blocks of a burst of allocation stayed after the
///    collector freed them, and a program that prints one line had a
///    12 MB resident size instead of 5 MB. The price is first-touch page
///    faults of 4 KiB pages where the eager arena had huge pages: `spawn`,
///    whose goroutines live in mimalloc, runs about a fifth slower.
/// 2. Memory is purged (given back with `madvise`) as soon as a page of it
///    is free, rather than a second later: a later purge needs a thread
///    to call into mimalloc after the delay, which the threads of an idle
///    program do not, so a freed burst's blocks stayed resident in part,
///    by chance. The benchmarks show no cost (`bench/RESULTS.md`); the
///    collector frees retired blocks after its pauses, not in them
///    (`gc::coord::RetiredBlocks`), so the `madvise` calls this brings are
///    not in a pause.
pub fn configure_allocator() {
    // SAFETY: the caller runs this before any other thread exists.
    unsafe {
        libmimalloc_sys::mi_option_set(mi_option::ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(mi_option::PURGE_DELAY, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::{alloc, free, mi_option, MAP_THRESHOLD};

    #[test]
    fn blocks_on_either_side_of_the_threshold_hold_their_bytes() {
        for size in [16, MAP_THRESHOLD - 16, MAP_THRESHOLD, 3 * MAP_THRESHOLD + 8] {
            let p = alloc(size);
            assert_eq!(p as usize % 16, 0, "{size} bytes at {p:p}");
            // SAFETY: `p` holds `size` writable bytes until it is freed.
            unsafe {
                p.write_bytes(0x5a, size);
                assert_eq!(*p.add(size - 1), 0x5a);
                free(p, size);
            }
        }
    }

    #[test]
    fn the_option_numbers_name_the_options_meant() {
        // Each option's default in the mimalloc built here, unless the test
        // binary set it: arena_eager_commit defaults to 2 (eager where the
        // system overcommits), which no neighbouring option does, and
        // purge_delay to 1000 ms.
        // SAFETY: reading an option has no preconditions.
        let (eager, delay) = unsafe {
            (
                libmimalloc_sys::mi_option_get(mi_option::ARENA_EAGER_COMMIT),
                libmimalloc_sys::mi_option_get(mi_option::PURGE_DELAY),
            )
        };
        assert!(eager == 2 || eager == 0, "arena_eager_commit is {eager}");
        assert!(delay == 1000 || delay == 0, "purge_delay is {delay}");
    }
}
