//! Faulting a short-lived process's memory in on the machine's other core.
//!
//! The first write to a fresh page costs the process a fault, in which the kernel allocates,
//! charges and zeroes the page: about 2 us on the machines fwnet is measured on, a sixth of a
//! 10k-rule import's time (`docs/bench/2026-11-28a.md`). Import's memory grows with its input
//! (11 to 16 times the input's size on the bench inputs), so most of it is known before the
//! first line is parsed. [`reserve`] grows glibc's heap by that much at once and hands the new
//! range to a thread that asks the kernel to populate it (`MADV_POPULATE_WRITE`, Linux 5.14)
//! while the calling thread reads and parses: its allocations then land on pages that are
//! already there.
//!
//! The kernel populates a range without writing to it, so the thread never touches memory the
//! caller has been given meanwhile (a page either of them faults first is simply there for the
//! other). The thread is a bare kernel thread ([`spawn_populator`] says why). Where the kernel
//! lacks the call (`EINVAL` before 5.14) the thread stops and the caller faults its pages as
//! before; with another C library or on another architecture than x86_64, [`reserve`] does
//! nothing.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

/// At most this much is populated ahead: a larger need is faulted in as it comes, so an input
/// that makes little of its size (a file of comments) cannot make fwnet hold more than this.
pub const MOST: usize = 256 << 20;

/// The heap range being populated, and how the thread doing it is getting on. Dropping it
/// leaves the thread running: it ends with the process if it has not ended before.
#[derive(Debug)]
pub struct Reserved {
    pub range: Range<usize>,
    job: &'static Job,
}

impl Reserved {
    /// Waits for the thread: whether the kernel populated the whole range.
    pub fn join(self) -> bool {
        loop {
            match self.job.done.load(Ordering::Acquire) {
                RUNNING => std::thread::sleep(std::time::Duration::from_millis(1)),
                state => return state == POPULATED,
            }
        }
    }
}

/// What the populating thread reads and reports, at the bottom of its stack's mapping.
#[derive(Debug)]
struct Job {
    start: usize,
    end: usize,
    done: AtomicU32,
}

const RUNNING: u32 = 0;
const POPULATED: u32 = 1;
const REFUSED: u32 = 2;

/// Grows the heap by about `bytes` (at most [`MOST`]) and populates it on another thread.
/// Only the main thread allocates from the heap glibc grows with `brk`, and only allocations
/// made after this call use the range: call it from the main thread, first thing. `None` when
/// there is nothing to do (a small request, another C library, a heap that did not grow).
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
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
    let job = spawn_populator(start, end)?;
    Some(Reserved {
        range: start..end,
        job,
    })
}

/// Starts a kernel thread that populates [start, end), unknown to glibc. A `std::thread` would
/// do the same work, but once a process has a second thread glibc's malloc and free take a
/// lock on every call, for the rest of the process (at 10k rules glibc's allocator went from
/// 11.7% of import's samples to 16.7% with a `std::thread`; 13.0% with this one). So the
/// thread is made with `clone` directly: it shares the address space and the thread group,
/// blocks every signal, and runs nothing but raw `madvise` system calls (no libc, no
/// thread-local data: glibc never set any up for it). If `clone` fails, its 64 KiB stack
/// mapping stays unused.
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
fn spawn_populator(start: usize, end: usize) -> Option<&'static Job> {
    const STACK: usize = 64 << 10;
    // SAFETY: a fresh private mapping, never unmapped (the thread may still be running on it
    // when `reserve` returns; 64 KiB for the life of the process).
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    let job = base.cast::<Job>();
    // SAFETY: the mapping is page-aligned, writable and larger than a Job; nothing else
    // refers to it yet. It stays mapped, so the reference is good for the process's life.
    let job: &'static Job = unsafe {
        job.write(Job {
            start,
            end,
            done: AtomicU32::new(RUNNING),
        });
        &*job
    };
    let flags = libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM;
    // SAFETY: the new thread starts on the top of its own mapping (16-byte aligned), with
    // every signal blocked (a process-directed signal then goes to another thread: it has no
    // thread-local data a handler could use), runs `populate`, which makes raw system calls
    // and atomic stores only, and ends with `exit` for itself alone when it returns.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let tid = libc::clone(populate, base.cast::<u8>().add(STACK).cast(), flags, base);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        (tid > 0).then_some(job)
    }
}

/// The populating thread: from the bottom of the range, where the next allocations are carved,
/// in steps small enough to stay ahead of them from the start.
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
extern "C" fn populate(job: *mut libc::c_void) -> libc::c_int {
    const STEP: usize = 256 << 10;
    // SAFETY: `spawn_populator` passes its Job, which stays mapped.
    let job = unsafe { &*job.cast::<Job>() };
    let mut at = job.start;
    while at < job.end {
        let len = STEP.min(job.end - at);
        // SAFETY: [at, at + len) lies between two values of the program break, inside the
        // heap's mapping (trimming is off); populating it changes no byte.
        if unsafe { raw_madvise(at, len, libc::MADV_POPULATE_WRITE) } != 0 {
            job.done.store(REFUSED, Ordering::Release);
            return 0;
        }
        at += len;
    }
    job.done.store(POPULATED, Ordering::Release);
    0
}

/// `madvise` as a bare system call: libc's would set `errno`, which this thread shares with
/// the main thread (it has no thread-local storage of its own). Returns 0 or `-errno`.
#[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
unsafe fn raw_madvise(addr: usize, len: usize, advice: libc::c_int) -> isize {
    let ret: isize;
    // SAFETY: the x86_64 system call convention; madvise reads no memory of ours.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_madvise as isize => ret,
            in("rdi") addr,
            in("rsi") len,
            in("rdx") advice as isize,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64")))]
pub fn reserve(_bytes: usize) -> Option<Reserved> {
    None
}
