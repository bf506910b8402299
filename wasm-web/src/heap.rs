//! The playground's heap: the standard library's allocator for wasm (dlmalloc), made to grow the
//! wasm memory in large steps.
//!
//! dlmalloc grows the memory by as little as 64 KiB at a time, and V8 takes about 0.2 ms for
//! each `memory.grow` whatever its size (Node 20: 4,800 grows of one page took 1.2 s, one grow of
//! the same 300 MiB 0.4 ms). Reading a 10,000-service cluster dump made thousands of them, a
//! tenth of the engine's time. So when an allocation has grown the memory, one block of half the
//! memory's size (1 to 64 MiB) is allocated and freed at once: dlmalloc grows the memory once for
//! it, and the freed block joins its free top chunk, which the next allocations are cut from.
//! Grows become few (doubling up to 64 MiB steps); at most one step, 64 MiB, is held unused.

#![expect(unsafe_code, reason = "a global allocator forwards raw pointers to the standard library's")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::arch::wasm32::memory_size;

/// dlmalloc, growing the memory in steps (see the module's documentation).
pub struct SteppedHeap;

const PAGE: usize = 64 * 1024;
const MIN_STEP: usize = 1 << 20;
const MAX_STEP: usize = 64 << 20;

impl SteppedHeap {
    /// If the memory has grown since it had `pages_before` pages, takes one growth step now.
    fn step_if_grown(pages_before: usize) {
        let pages = memory_size::<0>();
        if pages == pages_before {
            return;
        }
        let Ok(layout) = Layout::from_size_align((pages * PAGE / 2).clamp(MIN_STEP, MAX_STEP), 16) else {
            return;
        };
        // SAFETY: a layout of non-zero size; the block is freed with the layout it was allocated
        // with, and nothing reads or writes it.
        unsafe {
            let block = System.alloc(layout);
            if !block.is_null() {
                System.dealloc(block, layout);
            }
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments, so `System`'s guarantees
// hold; the extra block a step allocates is freed before the method returns.
unsafe impl GlobalAlloc for SteppedHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let before = memory_size::<0>();
        // SAFETY: the caller's layout (non-zero size, as `GlobalAlloc::alloc` requires).
        let ptr = unsafe { System.alloc(layout) };
        Self::step_if_grown(before);
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let before = memory_size::<0>();
        // SAFETY: as in `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        Self::step_if_grown(before);
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's block, allocated here (so by `System`) with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = memory_size::<0>();
        // SAFETY: the caller's block and layout, and its new size.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        Self::step_if_grown(before);
        new
    }
}

#[global_allocator]
static HEAP: SteppedHeap = SteppedHeap;
