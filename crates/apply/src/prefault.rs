//! Faulting a short-lived process's memory in on the machine's other core.
//!
//! The first write to a fresh page costs the process a fault, in which the kernel allocates,
//! charges and zeroes the page: about 2 us on the machines fwnet is measured on, a sixth of a
//! 10k-rule import's time (`docs/bench/2026-11-28a.md`). Import's memory grows with its input,
//! so most of it is known before the first line is parsed: the ranges its blocks will be
//! carved from (the start of the arena, `crate::arena`, for small blocks; the heap glibc grows
//! by [`grow_heap`] for large ones) are handed to a thread that asks the kernel to populate them
//! ([`populate`], `MADV_POPULATE_WRITE`, Linux 5.14) while the calling thread reads and parses.
//!
//! The kernel populates a range without writing to it, so the thread never touches memory the
//! caller has been given meanwhile (a page either of them faults first is simply there for the
//! other). Where the kernel lacks the call (`EINVAL` before 5.14) the thread stops and the
//! caller faults its pages as before.

use std::ops::Range;

/// At most this much is populated ahead, over all ranges: a larger need is faulted in as it
/// comes, so an input that makes little of its size (a file of comments) cannot make fwnet hold
/// more than this.
pub const MOST: usize = 256 << 20;

/// The thread populating; dropping it leaves the thread running: it ends with the process if
/// it has not ended before.
#[derive(Debug)]
pub struct Populating(std::thread::JoinHandle<bool>);

impl Populating {
    /// Waits for the thread: whether the kernel populated every range.
    pub fn join(self) -> bool {
        self.0.join().unwrap_or(false)
    }
}

/// Starts a thread populating `ranges` (at most [`MOST`] bytes in all, taken from each in
/// turn), each from its start, where the next blocks are carved, in steps small enough to stay
/// ahead of them. Each range should lie in a private writable mapping that stays mapped (the
/// arena, the heap with trimming off): anywhere else the kernel refuses or populates pages
/// nobody uses; no byte changes either way. `None` if there is nothing to populate or the
/// thread could not be started.
pub fn populate(ranges: impl IntoIterator<Item = Range<usize>>) -> Option<Populating> {
    const STEP: usize = 256 << 10;
    let mut left = MOST;
    let mut ranges: Vec<Range<usize>> = ranges
        .into_iter()
        .map(|r| {
            let r = r.start..r.end.min(r.start.saturating_add(left));
            left -= r.len();
            r
        })
        .filter(|r| !r.is_empty())
        .collect();
    if ranges.is_empty() {
        return None;
    }
    let work = move || {
        while !ranges.is_empty() {
            for r in &mut ranges {
                let len = STEP.min(r.len());
                // SAFETY: populating pages writes no byte; the caller names ranges of its own
                // mappings.
                let done = unsafe {
                    libc::madvise(r.start as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE)
                };
                if done != 0 {
                    return false;
                }
                r.start += len;
            }
            ranges.retain(|r| !r.is_empty());
        }
        true
    };
    std::thread::Builder::new()
        .name("prefault".into())
        .spawn(work)
        .ok()
        .map(Populating)
}

/// Grows glibc's heap by about `bytes` (at most [`MOST`]) and returns the new range, where the
/// calling thread's next large blocks are carved. Only the main thread allocates from the heap
/// glibc grows with `brk`, and only allocations made after this call use the range: call it
/// from the main thread, first thing. `None` when there is nothing to do (a small request,
/// another C library, a heap that did not grow).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn grow_heap(bytes: usize) -> Option<Range<usize>> {
    use std::hint::black_box;
    // The reservation is made of blocks of this size: glibc serves a request from the heap
    // only below its mmap threshold (32 MiB at most). Above the default threshold (128 KiB,
    // raised as large blocks are freed) buffers come from mmap, whose pages are new each time,
    // so the threshold is raised too.
    const PIECE: usize = 16 << 20;
    const PAGE: usize = 4096;
    let bytes = bytes.min(MOST);
    if bytes < PAGE {
        return None;
    }
    // SAFETY: mallopt and sbrk(0) change and read glibc's malloc settings and the program
    // break, nothing Rust owns; every block malloc returns here is freed at once, never read.
    let (start, end) = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 2 * PIECE as libc::c_int);
        // Keep the freed reservation in the heap instead of giving it back to the kernel.
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        let start = libc::sbrk(0) as usize;
        let mut blocks = Vec::with_capacity(bytes / PIECE + 1);
        let mut left = bytes;
        while left > 0 {
            let n = left.min(PIECE);
            // `black_box`: LLVM may remove a block freed unread, allocation and all.
            blocks.push(black_box(libc::malloc(n)));
            left -= n;
        }
        // Freed from the top down, they merge into the heap's free top.
        for block in blocks.into_iter().rev() {
            libc::free(block);
        }
        (start.next_multiple_of(PAGE), libc::sbrk(0) as usize)
    };
    (start < end).then_some(start..end)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn grow_heap(_bytes: usize) -> Option<Range<usize>> {
    None
}
