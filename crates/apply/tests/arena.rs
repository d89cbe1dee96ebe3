//! The arena as the program's allocator, and memory populated ahead on another thread.
//!
//! A test of its own without the test harness (`harness = false` in Cargo.toml): the arena
//! serves only the thread that enabled it, once per process, and `prefault::grow_heap` works
//! only for the thread that allocates from glibc's main heap; the harness runs each test on a
//! thread of its own. So `main` runs the checks in order on the main thread and prints
//! libtest's lines, which `cargo xtask test` counts.

use fwnet_apply::arena::{self, Arena, LARGEST};
use fwnet_apply::prefault;
use std::hint::black_box;
use std::ops::Range;

#[global_allocator]
static ALLOC: Arena = Arena;

/// Minor page faults of the calling thread so far.
fn faults() -> i64 {
    // SAFETY: getrusage writes the struct it is given, nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let done = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(done, 0, "getrusage: {}", std::io::Error::last_os_error());
    usage.ru_minflt
}

fn taken() -> usize {
    arena::taken().expect("the main thread owns the arena")
}

/// Blocks of the arena's small sizes are carved from its mapping; large, over-aligned and
/// earlier blocks are the system allocator's.
fn blocks_come_from_the_arena_below_its_largest_size(mapping: &Range<usize>, earlier: usize) {
    #[repr(align(64))]
    struct Aligned([u8; 64]);
    let small = Box::new([1u8; 100]);
    let largest = vec![1u8; LARGEST];
    let large = vec![1u8; LARGEST + 1];
    let aligned = Box::new(Aligned([1; 64]));
    let at = |p: *const u8| p as usize;
    assert!(
        mapping.contains(&at(small.as_ptr())),
        "a 100-byte block is not the arena's"
    );
    assert!(
        mapping.contains(&at(largest.as_ptr())),
        "a {LARGEST}-byte block is not the arena's"
    );
    assert!(
        !mapping.contains(&at(large.as_ptr())),
        "a block larger than LARGEST is the arena's"
    );
    assert!(
        !mapping.contains(&at(aligned.0.as_ptr())),
        "a 64-aligned block is the arena's"
    );
    assert!(
        !mapping.contains(&earlier),
        "a block allocated before `enable` is the arena's"
    );
}

/// Random allocations, reallocations and frees of blocks of every size up to past LARGEST,
/// each filled with a byte of its own and checked before it is freed: no two live blocks
/// overlap and reallocation keeps a block's contents.
fn random_blocks_keep_their_contents() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut live: Vec<(u8, Vec<u8>)> = Vec::new();
    let check = |tag: u8, block: &[u8]| {
        assert!(
            block.iter().all(|&b| b == tag),
            "a block of tag {tag} was overwritten"
        );
    };
    for step in 0..200_000u32 {
        let r = next();
        let size = match r % 8 {
            0 => (r >> 8) as usize % (LARGEST + 2048) + 1,
            _ => (r >> 8) as usize % 700 + 1,
        };
        match (r >> 40) % 4 {
            0 | 1 if live.len() < 5000 => {
                let tag = step as u8;
                live.push((tag, vec![tag; size]));
            }
            2 if !live.is_empty() => {
                let i = (r >> 20) as usize % live.len();
                let (tag, block) = &mut live[i];
                check(*tag, block);
                if size > block.len() {
                    block.resize(size, *tag);
                } else {
                    block.truncate(size);
                    block.shrink_to_fit();
                }
                check(*tag, block);
            }
            _ if !live.is_empty() => {
                let i = (r >> 20) as usize % live.len();
                let (tag, block) = live.swap_remove(i);
                check(tag, &block);
            }
            _ => {}
        }
    }
    for (tag, block) in &live {
        check(*tag, block);
    }
}

/// Zeroed blocks are zero where the arena gives a freed block again, and large ones are left to
/// glibc's `calloc`, whose fresh pages are not written (a `malloc` and a fill would fault each).
fn zeroed_blocks_are_zero_and_large_ones_unwritten() {
    let dirty = black_box(Box::new([0xffu8; 100]));
    let at = dirty.as_ptr() as usize;
    drop(dirty);
    let zeroed = black_box(vec![0u8; 100]);
    assert_eq!(
        zeroed.as_ptr() as usize,
        at,
        "the freed block is given again"
    );
    assert!(
        zeroed.iter().all(|&b| b == 0),
        "a zeroed block holds old bytes"
    );
    const LARGE: usize = 64 << 20;
    let before = faults();
    let large = black_box(vec![0u8; LARGE]);
    let taken = faults() - before;
    assert!(
        taken < (LARGE / 4096) as i64 / 16,
        "a zeroed block of {} MiB took {taken} faults before it was written",
        LARGE >> 20
    );
    drop(large);
}

/// A page whose blocks are all freed serves blocks of another size: memory one phase frees
/// is used again by the next.
fn freed_pages_serve_other_sizes() {
    const BYTES: usize = 16 << 20;
    let start = taken();
    let first: Vec<Box<[u8; 448]>> = (0..BYTES / 448).map(|_| Box::new([1; 448])).collect();
    let after_first = taken();
    drop(black_box(first));
    let second: Vec<Box<[u8; 528]>> = (0..BYTES / 528).map(|_| Box::new([2; 528])).collect();
    let grew = taken() - after_first;
    assert!(
        grew < BYTES / 8,
        "16 MiB of 448-byte blocks took {} KiB of new pages, freed; 16 MiB of 528-byte blocks \
         then took {} KiB more",
        (after_first - start) >> 10,
        grew >> 10
    );
    drop(black_box(second));
}

/// Other threads allocate from the system allocator, and a block of the arena freed on
/// another thread is left alone.
fn other_threads_use_the_system_allocator(mapping: &Range<usize>) {
    let mine = Box::new([3u8; 64]);
    let theirs = std::thread::spawn(move || {
        let theirs = Box::new([4u8; 64]);
        assert!(
            arena::taken().is_none(),
            "another thread reads the arena's state"
        );
        drop(mine);
        theirs.as_ptr() as usize
    })
    .join()
    .expect("the other thread's checks");
    assert!(
        !mapping.contains(&theirs),
        "another thread's block is the arena's"
    );
}

/// Writing `bytes` in blocks of 1 KiB carved from the arena: the faults it took.
#[allow(clippy::vec_box, reason = "each box is a block of the arena")]
fn write_blocks(bytes: usize) -> (i64, Vec<Box<[u8; 1024]>>) {
    let before = faults();
    let blocks: Vec<Box<[u8; 1024]>> = (0..bytes / 1024).map(|_| Box::new([5; 1024])).collect();
    (faults() - before, black_box(blocks))
}

/// The arena's next pages, populated on the other thread, fault (almost) nothing when written;
/// the pages after them fault each. First of the checks, before any frees pages: those would be
/// taken before new ones.
fn populated_arena_pages_do_not_fault(mapping: &Range<usize>) {
    const AHEAD: usize = 32 << 20;
    const WRITE: usize = 8 << 20;
    const PAGES: i64 = (WRITE / 4096) as i64;
    let next = arena::fresh().expect("the main thread owns the arena");
    assert!(mapping.contains(&next));
    let populating =
        prefault::populate(std::iter::once(next..next + AHEAD)).expect("the thread starts");
    assert!(
        populating.join(),
        "the kernel did not populate the range: MADV_POPULATE_WRITE needs Linux 5.14 or later"
    );
    let (populated, blocks) = write_blocks(WRITE);
    assert!(
        populated < PAGES / 32,
        "writing {PAGES} populated pages took {populated} faults"
    );
    // The rest of the populated range, then pages nobody populated.
    let rest = write_blocks(AHEAD - WRITE).1;
    let (fresh, more) = write_blocks(WRITE);
    assert!(
        fresh > PAGES / 2,
        "writing {PAGES} fresh pages took only {fresh} faults"
    );
    drop((blocks, rest, more));
    println!(
        "arena: 32 MiB populated ahead; writing {} MiB in it: {populated} faults; {} MiB after \
         it: {fresh} faults",
        WRITE >> 20,
        WRITE >> 20
    );
}

/// The heap `grow_heap` adds, populated, serves the next large block without faults; a block
/// above glibc's mmap threshold, mapped afresh, faults every page.
fn populated_heap_serves_large_blocks() {
    const RESERVE: usize = 32 << 20;
    const WRITE: usize = 8 << 20;
    const PAGES: i64 = (WRITE / 4096) as i64;
    let write_fresh = |len: usize| {
        let before = faults();
        let mut v: Vec<u8> = Vec::with_capacity(len);
        let at = v.as_ptr() as usize;
        v.resize(len, 1);
        black_box(&v);
        (faults() - before, at)
    };
    let range = prefault::grow_heap(RESERVE).expect("the heap grows (glibc, main thread)");
    assert!(
        range.len() >= RESERVE - (1 << 20),
        "the heap grew by {} bytes, not about {RESERVE}",
        range.len()
    );
    let populating = prefault::populate(std::iter::once(range.clone())).expect("the thread starts");
    assert!(
        populating.join(),
        "the kernel did not populate the heap's range"
    );
    let (populated, at) = write_fresh(WRITE);
    // It may start in the heap's free top below the range (what was left before).
    assert!(
        range.contains(&(at + WRITE - 1)) && at + (1 << 20) > range.start,
        "a large block after grow_heap is carved from its range: {at:#x} + {WRITE:#x} is not \
         in {range:x?}"
    );
    assert!(
        populated < PAGES / 32,
        "writing {PAGES} populated pages took {populated} faults"
    );
    const FRESH: usize = 40 << 20;
    let (fresh, at) = write_fresh(FRESH);
    assert!(
        !range.contains(&at) && fresh > (FRESH / 4096) as i64 / 2,
        "a fresh block ({at:#x}) faulted only {fresh} of its {} pages",
        FRESH / 4096
    );
    println!(
        "heap: {} MiB grown and populated; writing {} MiB in it: {populated} faults; {} MiB \
         mapped afresh: {fresh} faults",
        range.len() >> 20,
        WRITE >> 20,
        FRESH >> 20
    );
}

fn main() {
    let earlier = Box::new(0u64);
    let mapping = arena::enable().expect("the arena is mapped");
    assert!(arena::enable().is_none(), "the arena is enabled twice");
    let earlier = &*earlier as *const u64 as usize;
    let tests: [(&str, &dyn Fn()); 7] = [
        ("populated_arena_pages_do_not_fault", &|| {
            populated_arena_pages_do_not_fault(&mapping)
        }),
        ("blocks_come_from_the_arena_below_its_largest_size", &|| {
            blocks_come_from_the_arena_below_its_largest_size(&mapping, earlier)
        }),
        (
            "random_blocks_keep_their_contents",
            &random_blocks_keep_their_contents,
        ),
        (
            "zeroed_blocks_are_zero_and_large_ones_unwritten",
            &zeroed_blocks_are_zero_and_large_ones_unwritten,
        ),
        (
            "freed_pages_serve_other_sizes",
            &freed_pages_serve_other_sizes,
        ),
        ("other_threads_use_the_system_allocator", &|| {
            other_threads_use_the_system_allocator(&mapping)
        }),
        (
            "populated_heap_serves_large_blocks",
            &populated_heap_serves_large_blocks,
        ),
    ];
    println!("\nrunning {} tests", tests.len());
    for (name, test) in &tests {
        test();
        println!("test {name} ... ok");
    }
    println!(
        "\ntest result: ok. {} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
        tests.len()
    );
}
