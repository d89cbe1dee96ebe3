//! `prefault::reserve` on the main thread: the range it reserves is populated, the next
//! allocation is carved from it, and writing that allocation faults (almost) no page.
//!
//! A test of its own without the test harness (`harness = false` in Cargo.toml): the harness
//! runs each test on a thread of its own, which allocates from an arena of its own rather than
//! the heap `brk` grows, where `reserve` works. It prints libtest's summary line, which
//! `cargo xtask test` counts.

use std::hint::black_box;

/// Minor page faults of the calling thread so far.
fn faults() -> i64 {
    // SAFETY: getrusage writes the struct it is given, nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(done, 0, "getrusage: {}", std::io::Error::last_os_error());
    usage.ru_minflt
}

/// Faults taken writing every byte of a new vector of `len` bytes, and its address.
fn write_fresh(len: usize) -> (i64, usize) {
    let before = faults();
    let mut v: Vec<u8> = Vec::with_capacity(len);
    let at = v.as_ptr() as usize;
    v.resize(len, 1);
    black_box(&v);
    (faults() - before, at)
}

fn main() {
    const RESERVE: usize = 32 << 20;
    const WRITE: usize = 8 << 20;
    const PAGES: i64 = (WRITE / 4096) as i64;

    let reserved = fwnet_apply::prefault::reserve(RESERVE)
        .expect("reserve grows the heap and starts its thread (glibc, main thread)");
    let range = reserved.range.clone();
    assert!(
        range.len() >= RESERVE - (1 << 20),
        "the heap grew by {} bytes, not about {RESERVE}",
        range.len()
    );
    assert!(
        reserved.join(),
        "the kernel did not populate the range: MADV_POPULATE_WRITE needs Linux 5.14 or later"
    );

    let (populated, at) = write_fresh(WRITE);
    // It may start in the heap's free top below the range (what was left before reserve).
    assert!(
        range.contains(&(at + WRITE - 1)) && at + (1 << 20) > range.start,
        "an allocation after reserve is carved from the range: {at:#x} + {WRITE:#x} is not in \
         {range:x?}"
    );
    assert!(
        populated < PAGES / 32,
        "writing {PAGES} populated pages took {populated} faults"
    );

    // The control: the same kind of write to memory nobody populated (a block above the
    // mmap threshold, mapped afresh) faults every page, so the count above means something.
    const FRESH: usize = 40 << 20;
    let (fresh, at) = write_fresh(FRESH);
    assert!(
        !range.contains(&at) && fresh > (FRESH / 4096) as i64 / 2,
        "a fresh block ({at:#x}) faulted only {fresh} of its {} pages",
        FRESH / 4096
    );
    println!(
        "prefault: {} MiB reserved and populated; writing {} MiB in it: {populated} faults; \
         {} MiB mapped afresh: {fresh} faults",
        range.len() >> 20,
        WRITE >> 20,
        FRESH >> 20
    );
    println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}
