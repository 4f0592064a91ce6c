//! The heap runner holds, counted by the global allocator, so that a playbook that keeps
//! allocating is stopped with an error well before the machine's memory is gone.
//!
//! Rhai bounds each value (string bytes, array and map items), not the sum over all of a
//! script's variables: a playbook of a few thousand `let`s, each a 16 MiB string, would take
//! gigabytes. The count is the sum of live allocations of the whole process, read at every
//! script operation (`engine::budget`).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Bytes allocated and not yet freed, when the binary counts them (`CountingAllocator` is its
/// global allocator); 0 otherwise, as in unit tests.
pub fn heap_in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

/// Wraps an allocator, counting the bytes it has handed out and not had back.
pub struct CountingAllocator<A>(pub A);

// SAFETY: every method forwards to the wrapped allocator with the caller's arguments unchanged;
// the counter is only arithmetic beside it.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc`'s contract.
        let ptr = unsafe { self.0.alloc(layout) };
        if !ptr.is_null() {
            IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc_zeroed`'s contract.
        let ptr = unsafe { self.0.alloc_zeroed(layout) };
        if !ptr.is_null() {
            IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { self.0.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        let new = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            IN_USE.fetch_add(new_size, Ordering::Relaxed);
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        new
    }
}
