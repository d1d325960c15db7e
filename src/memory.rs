//! A global allocator for the Lambda functions: buffers of 1 MiB and more get their own mapping
//! with every page mapped at once; smaller ones come from the system allocator.
//!
//! A cold start fills several buffers of the model's size in turn (the download, the parsed
//! protobuf's weights, tract's tensor, its packed weights). From the system allocator each is a
//! fresh mapping whose pages fault in one at a time as they are first written, about 500 faults
//! per 2 MB; `MAP_POPULATE` maps them in the one `mmap` call instead (BENCHMARKS.md, issue 18:
//! 1.7 ms less CPU and 2 ms less to the first answer with the reference model, peak RSS within
//! 0.3 MiB: the buffers are written whole either way). Hand-written because it is a wrapper
//! of the system allocator, not another allocator: jemalloc or mimalloc would bring their own
//! footprint and code to a package measured in kilobytes.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: maas::memory::PopulatedLargeBuffers = maas::memory::PopulatedLargeBuffers;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations from this size up are mapped on their own, populated.
pub const LARGE: usize = 1 << 20;

/// mmap's alignment: any larger alignment goes to the system allocator.
const PAGE: usize = 4096;

/// The global allocator described in the module documentation.
pub struct PopulatedLargeBuffers;

fn mapped(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= PAGE
}

// SAFETY: every block is either the system allocator's (small or over-aligned layouts, freed by
// it) or a private anonymous mapping of exactly `layout.size()` bytes (freed by munmap); which one
// is decided by the layout alone, which the caller passes back unchanged on dealloc and realloc.
// Out of line: inlined into every allocation site of the program (fat LTO), the size check and
// the mmap path added 79 KB to bootstrap.zip (40 KB out of line); a call costs what the call to
// malloc did.
unsafe impl GlobalAlloc for PopulatedLargeBuffers {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !mapped(&layout) {
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched
        let block = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if block == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            block.cast()
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            // anonymous mappings are zeroed by the kernel
            unsafe { self.alloc(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if mapped(&layout) {
            // SAFETY: `block` is the mapping `alloc` made for this layout
            unsafe { libc::munmap(block.cast(), layout.size()) };
        } else {
            unsafe { System.dealloc(block, layout) }
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with this alignment is a valid layout
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (mapped(&layout), mapped(&new_layout)) {
            (false, false) => unsafe { System.realloc(block, layout, new_size) },
            // grown or shrunk in place or moved by the kernel, without copying; pages added at
            // the end fault in as they are written
            (true, true) => {
                // SAFETY: `block` is a mapping of `layout.size()` bytes made by `alloc`
                let moved = unsafe {
                    libc::mremap(block.cast(), layout.size(), new_size, libc::MREMAP_MAYMOVE)
                };
                if moved == libc::MAP_FAILED {
                    std::ptr::null_mut()
                } else {
                    moved.cast()
                }
            }
            // from one allocator to the other
            _ => {
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    // SAFETY: both blocks are live and at least this long; they do not overlap
                    unsafe {
                        std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_every_size_keep_their_bytes_through_realloc() {
        let allocator = PopulatedLargeBuffers;
        // small → large → larger → small, each step keeping the bytes written before it
        let sizes = [1000, LARGE + 10, 3 * LARGE, 4000, 64];
        let layout = Layout::from_size_align(sizes[0], 16).unwrap();
        unsafe {
            let mut block = allocator.alloc(layout);
            assert!(!block.is_null());
            for i in 0..sizes[0] {
                *block.add(i) = (i % 251) as u8;
            }
            let mut current = layout;
            for &size in &sizes[1..] {
                block = allocator.realloc(block, current, size);
                assert!(!block.is_null(), "realloc to {size} bytes failed");
                let kept = current.size().min(size).min(sizes[0]);
                for i in 0..kept {
                    assert_eq!(
                        *block.add(i),
                        (i % 251) as u8,
                        "byte {i} after realloc to {size}"
                    );
                }
                current = Layout::from_size_align(size, 16).unwrap();
            }
            allocator.dealloc(block, current);
        }
    }

    #[test]
    fn large_zeroed_blocks_are_zero_and_over_aligned_ones_are_aligned() {
        let allocator = PopulatedLargeBuffers;
        unsafe {
            let layout = Layout::from_size_align(2 * LARGE, 128).unwrap();
            let block = allocator.alloc_zeroed(layout);
            assert!(!block.is_null());
            assert_eq!(block as usize % 128, 0);
            assert!((0..layout.size()).step_by(4093).all(|i| *block.add(i) == 0));
            allocator.dealloc(block, layout);
            // an alignment mmap cannot promise goes to the system allocator
            let layout = Layout::from_size_align(LARGE, 2 * PAGE).unwrap();
            let block = allocator.alloc(layout);
            assert!(!block.is_null());
            assert_eq!(block as usize % (2 * PAGE), 0);
            allocator.dealloc(block, layout);
        }
    }
}
