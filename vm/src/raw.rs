//! Raw memory for list and table blocks that do not live in their object's
//! slot (a grown list's or instance's block, a class's method table, a
//! module's members; the objects themselves live in the span heap):
//! mimalloc's plain `mi_malloc`/`mi_free`.
//!
//! Why not `std::alloc`: the `mimalloc` crate's `GlobalAlloc` always takes
//! mimalloc's *aligned* entry point, which is several times slower than
//! `mi_malloc` for the small blocks the VM allocates by the thousand, and
//! `dealloc` needs the layout back, which `mi_free` does not. mimalloc
//! guarantees 16-byte alignment for `mi_malloc`, more than any object needs.
//!
//! Invariant: memory from [`alloc`] is released only with [`free`].

/// Allocates `size` bytes (at least 16-byte aligned), or aborts like the
/// standard allocator does when memory is exhausted.
#[inline]
pub fn alloc(size: usize) -> *mut u8 {
    // SAFETY: `mi_malloc` has no preconditions; a zero size is valid.
    let p = unsafe { libmimalloc_sys::mi_malloc(size) } as *mut u8;
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
/// `p` came from [`alloc`] and is not used afterwards.
#[inline]
pub unsafe fn free(p: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { libmimalloc_sys::mi_free(p as *mut std::ffi::c_void) }
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
    use super::mi_option;

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
