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
