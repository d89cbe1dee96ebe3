//! Faulting a short-lived process's memory in on the machine's other core.
//!
//! The first write to a fresh page costs the process a fault, in which the kernel allocates,
//! charges and zeroes the page: about 2 us on the machines fwnet is measured on, a sixth of a
//! 10k-rule import's time (`docs/bench/2026-11-28a.md`). Import's memory grows with its input
//! (11 to 16 times the input's size on the bench inputs), so most of it is known before the first
//! line is parsed. [`reserve`] grows glibc's heap by that much at once and hands the new range to
//! a thread that asks the kernel to populate it (`MADV_POPULATE_WRITE`, Linux 5.14) while the
//! calling thread reads and parses: its allocations then land on pages that are already there.
//!
//! The kernel populates a range without writing to it, so the thread never touches memory the
//! caller has been given meanwhile (a page either of them faults first is simply there for the
//! other). Where the kernel lacks the call (`EINVAL` before 5.14) the thread stops and the
//! caller faults its pages as before; with another C library [`reserve`] does nothing.

use std::ops::Range;
use std::thread::JoinHandle;

/// At most this much is populated ahead: a larger need is faulted in as it comes, so an input
/// that makes little of its size (a file of comments) cannot make fwnet hold more than this.
pub const MOST: usize = 256 << 20;

/// The heap range being populated, and the thread doing it. Dropping it leaves the thread
/// running: it ends with the process if it has not ended before.
#[derive(Debug)]
pub struct Reserved {
    pub range: Range<usize>,
    thread: JoinHandle<bool>,
}

impl Reserved {
    /// Waits for the thread: whether the kernel populated the whole range.
    pub fn join(self) -> bool {
        self.thread.join().unwrap_or(false)
    }
}

/// Grows the heap by about `bytes` (at most [`MOST`]) and populates it on another thread.
/// Only the main thread allocates from the heap glibc grows with `brk`, and only allocations
/// made after this call use the range: call it from the main thread, first thing. `None` when
/// there is nothing to do (a small request, another C library, a heap that did not grow).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn reserve(bytes: usize) -> Option<Reserved> {
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
    if end <= start {
        return None;
    }
    // From the bottom, where the next allocations are carved, in steps small enough to stay
    // ahead of them from the start.
    let populate = move || {
        const STEP: usize = 256 << 10;
        let mut at = start;
        while at < end {
            let len = STEP.min(end - at);
            // SAFETY: [at, at + len) lies between two values of the program break, inside the
            // heap's mapping (trimming is off); populating it changes no byte.
            let done =
                unsafe { libc::madvise(at as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) };
            if done != 0 {
                return false;
            }
            at += len;
        }
        true
    };
    let thread = std::thread::Builder::new()
        .name("prefault".into())
        .stack_size(64 << 10)
        .spawn(populate)
        .ok()?;
    Some(Reserved {
        range: start..end,
        thread,
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn reserve(_bytes: usize) -> Option<Reserved> {
    None
}
