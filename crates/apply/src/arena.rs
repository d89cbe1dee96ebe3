//! An allocator for the main thread of a short-lived process, and a helper it lends a lane to,
//! in front of the system's.
//!
//! Import allocates and frees some 17 blocks per rule (syntax trees, expressions, JSON text),
//! most of them small. glibc's malloc and free cost about 100 instructions each for that
//! pattern (its per-thread cache holds 7 blocks per size, so most frees go to the arena
//! proper): 15% of a 10k-rule import's instructions. [`Arena`] serves the thread that called
//! [`enable`] from one large private mapping instead: 48 instructions an allocation and 35 a
//! free on average at 10k rules, the calls passed on to glibc included (37 and 20 before the
//! lanes below, whose choice of state each call now makes).
//!
//! The mapping is cut into pages of [`PAGE`] bytes, each holding blocks of one size class: a
//! block is taken from its page's free list or carved from the page's unused end, and a freed
//! block goes back on its page's list. A page whose blocks are all free again goes to a pool
//! that any class takes pages from, so memory one phase frees (the syntax tree, freed rule by
//! rule as it is translated) serves the next one's blocks whatever their sizes.
//!
//! `fwnet import` and `fwnet apply` enable it; the other commands allocate from the system's.
//!
//! The arena has two lanes, each with a state of its own (its classes' pages with room, its
//! empty pages); both cut new pages from the same supply, the mapping's next unused page, so
//! that the memory populated ahead serves whichever lane needs it first. The thread that called
//! [`enable`] holds both and allocates from the first. It can [`lend`] the second to one helper
//! thread at a time, which [`borrow`]s it and allocates from it until it drops the
//! [`Borrowed`] guard; [`reclaim`] takes it back. The parser's helper thread is such a thread:
//! with its blocks from glibc instead, the parse took 7-10% longer (best of 50 runs on a
//! 10k-rule file and on a 50k-address blocklist, `docs/bench/2026-11-28c.md`). The thread holding
//! both lanes frees blocks into the lane they came from and, when the first lane has no free
//! block or page of a class left, takes them from the second before cutting a new page: the
//! syntax tree the helper built serves the blocks translation makes after it. A page stays in
//! the lane it was cut for (a table of a byte a page says which); only the thread holding a
//! lane touches its pages' headers.
//!
//! Every thread holding no lane, every block allocated before [`enable`], over-aligned blocks
//! and blocks larger than [`LARGEST`] go to the system allocator; so does everything once a
//! lane is used up. Pages are never given back to the kernel (import and apply end once their
//! work is done); a block freed by a thread not holding its lane is left unused.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

/// The mapping's size (256 MiB on 32-bit targets). Address space only: the kernel gives a page
/// when it is first written, and `MAP_NORESERVE` keeps the mapping out of the commit charge
/// where overcommit allows.
pub const MAPPING: usize = if usize::BITS >= 64 {
    (4u64 << 30) as usize
} else {
    256 << 20
};

/// Lanes, each with a state of its own (module doc).
pub const LANES: usize = 2;

/// `HOLDS` of a thread holding every lane.
const ALL: u8 = (1 << LANES) - 1;

/// `HOLDS` of the lane that is lent: the second.
const LENDABLE: u8 = 1 << 1;

/// Pages of blocks of one class; the mapping is aligned to it, so a block's page is its address
/// rounded down.
pub const PAGE: usize = 64 << 10;

/// Larger blocks go to the system allocator (few: chains' rule lists, buffers, the input's
/// text), which merges their freed space for blocks of any size.
pub const LARGEST: usize = 4 << 10;

/// Blocks are multiples of this, aligned to it: what `malloc` guarantees on 64-bit targets.
const GRAIN: usize = 16;

/// Up to this size the classes are GRAIN apart; above it, four per doubling (a block wastes at
/// most a fifth of its size).
const FINE: usize = 1024;

/// Classes: FINE / GRAIN fine ones, then four per doubling from FINE to LARGEST.
const CLASSES: usize =
    FINE / GRAIN + 4 * (LARGEST.trailing_zeros() - FINE.trailing_zeros()) as usize;

/// A page's header, at its start; its blocks follow.
#[repr(C)]
struct Page {
    /// The first free block (its first word the next one's address), 0 for none.
    free: usize,
    /// The page's unused end: where the next block never used yet starts.
    unused: usize,
    /// Blocks given out and not freed.
    live: usize,
    class: usize,
    /// The lane whose page it is, as in `LANE_OF`.
    lane: u8,
    /// In its class's list of pages with free blocks (`partial`).
    listed: bool,
    prev: usize,
    next: usize,
}

/// The first block's offset in its page.
const HEADER: usize = std::mem::size_of::<Page>().next_multiple_of(GRAIN);

/// The global allocator: the system's until [`enable`] is called. Its state is one static: the
/// program has one arena, whichever value of this type it installs.
pub struct Arena;

/// A lane's state, touched only by the thread holding the lane.
struct State {
    /// The lane's number, written in `LANE_OF` for each page it cuts.
    lane: u8,
    /// Pages whose blocks are all free, linked by `next`.
    empty: usize,
    /// Each class's page blocks are taken from, 0 for none.
    current: [usize; CLASSES],
    /// Each class's other pages that have free blocks, linked both ways.
    partial: [usize; CLASSES],
    /// The first lane's only: for a thread holding every lane, the lane it takes each class's
    /// blocks from, the last that had room.
    via: [u8; CLASSES],
}

/// A lane's state, behind a cell only the thread holding the lane touches.
struct Shared(UnsafeCell<State>);

// SAFETY: a lane's state is read and written only by the one thread whose `HOLDS` has the
// lane's bit. The first lane's holder is set once (`ENABLED` guards it) before its first arena
// allocation; the second lane passes from one thread to another only through `SECOND`, whose
// release and acquire order every access of the last holder before those of the next.
unsafe impl Sync for Shared {}

static STATES: [Shared; LANES] = [
    Shared(UnsafeCell::new(State::new(0))),
    Shared(UnsafeCell::new(State::new(1))),
];

/// The mapping's first page never cut yet, for every lane.
static FRESH: AtomicUsize = AtomicUsize::new(0);

/// Each page's lane, set when the page is cut (before any of its blocks exists, so the thread
/// that frees a block has seen it).
static LANE_OF: [AtomicU8; MAPPING / PAGE] = [const { AtomicU8::new(0) }; MAPPING / PAGE];

/// Who holds the second lane: the thread that enabled the arena (`HOME`), nobody while it is
/// lent (`LENT`) or given back (`RETURNED`), or a helper (`BORROWED`).
static SECOND: AtomicU8 = AtomicU8::new(HOME);
const HOME: u8 = 0;
const LENT: u8 = 1;
const BORROWED: u8 = 2;
const RETURNED: u8 = 3;

/// The mapping, set once; other threads read it to tell an arena block from a system one.
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The lanes this thread holds, a bit each; it allocates from the first. Constant-
    /// initialised and without a destructor: reading it never allocates and works while the
    /// thread is being torn down.
    static HOLDS: Cell<u8> = const { Cell::new(0) };
}

/// How much of the mapping has been cut into pages so far, by every lane (pages whose blocks
/// were all freed again included): what the arena holds at most. `None` on a thread holding
/// no lane.
pub fn taken() -> Option<usize> {
    (holds() != 0).then(|| FRESH.load(Ordering::Relaxed) - START.load(Ordering::Relaxed))
}

/// The mapping's next page never cut: where memory is worth populating ahead
/// (`prefault::populate`). `None` on a thread holding no lane.
pub fn fresh() -> Option<usize> {
    (holds() != 0).then(|| FRESH.load(Ordering::Relaxed))
}

/// The lane whose page holds `block`, a block of the arena the caller holds (for tests).
pub fn lane_of(block: *const u8) -> Option<usize> {
    let start = START.load(Ordering::Relaxed);
    let at = block as usize;
    owned(block.cast_mut())
        .then(|| usize::from(LANE_OF[(at - start) / PAGE].load(Ordering::Relaxed)))
}

/// Lane `lane`'s state.
///
/// # Safety
/// Only the thread holding the lane may call it, and hold one reference at a time; `lane` is
/// below [`LANES`] (a thread holds only such lanes).
#[inline]
#[allow(
    clippy::mut_from_ref,
    reason = "the holder's state, one reference at a time"
)]
unsafe fn state(lane: usize) -> &'static mut State {
    // SAFETY: the caller holds the lane, and is the only thread that touches its state; the
    // lane exists. Unchecked: the allocator's hot paths index by it (0.8 M instructions of a
    // 10k-rule import with the check).
    unsafe { &mut *STATES.get_unchecked(lane).0.get() }
}

/// Maps the arena and gives the calling thread both lanes; returns the mapping, whose start
/// pages are cut from first (for `prefault::populate`). `None` if the arena was
/// enabled before or the kernel refused the mapping: the system allocator then serves
/// everything, as before. Only a program whose global allocator is an [`Arena`] allocates from
/// it.
pub fn enable() -> Option<Range<usize>> {
    if ENABLED.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: a fresh anonymous private mapping, owned by the arena for the process's life.
    // One page more than the arena's, for aligning it to a page.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            MAPPING + PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    let start = (base as usize).next_multiple_of(PAGE);
    START.store(start, Ordering::Release);
    END.store(start + MAPPING, Ordering::Release);
    FRESH.store(start, Ordering::Release);
    HOLDS.with(|h| h.set(ALL));
    Some(start..start + MAPPING)
}

/// Lends the second lane: the calling thread, which must hold both, allocates from the first
/// only and leaves blocks of the second it frees unused, until it [`reclaim`]s it. False, and
/// nothing lent, on any other thread.
pub fn lend() -> bool {
    if holds() != ALL {
        return false;
    }
    HOLDS.with(|h| h.set(ALL & !LENDABLE));
    SECOND.store(LENT, Ordering::Release);
    true
}

/// The second lane for the calling thread, if it holds no lane and the lane is lent: it
/// allocates from it until the guard is dropped. `None` otherwise: the thread allocates from
/// the system allocator, as any thread without a lane.
pub fn borrow() -> Option<Borrowed> {
    if holds() != 0 {
        return None;
    }
    SECOND
        .compare_exchange(LENT, BORROWED, Ordering::Acquire, Ordering::Relaxed)
        .ok()?;
    HOLDS.with(|h| h.set(LENDABLE));
    Some(Borrowed(PhantomData))
}

/// The second lane, borrowed by the thread that made it; given back when dropped, on that
/// thread (the guard is neither `Send` nor `Sync`).
#[derive(Debug)]
pub struct Borrowed(PhantomData<*const ()>);

impl Drop for Borrowed {
    fn drop(&mut self) {
        HOLDS.with(|h| h.set(0));
        SECOND.store(RETURNED, Ordering::Release);
    }
}

/// Takes the lent second lane back, on the thread that lent it: once the borrower has given it
/// back, or if nobody borrowed it. False while it is borrowed (wait for the borrowing thread to
/// end first) or if this thread did not lend it.
pub fn reclaim() -> bool {
    if holds() != ALL & !LENDABLE {
        return false;
    }
    let back = [RETURNED, LENT].into_iter().any(|from| {
        SECOND
            .compare_exchange(from, HOME, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    });
    if back {
        HOLDS.with(|h| h.set(ALL));
    }
    back
}

/// The class of a block of `size` bytes (at least 1, at most LARGEST) and the class's size.
#[inline]
fn class(size: usize) -> (usize, usize) {
    if size <= FINE {
        let n = size.div_ceil(GRAIN).max(1);
        (n - 1, n * GRAIN)
    } else {
        // Four classes per doubling: (4 + q) << shift for q in 0..4, covering (FINE, LARGEST].
        let bits = usize::BITS - (size - 1).leading_zeros(); // size <= 1 << bits
        let shift = bits - 3;
        let q = (size - 1) >> shift; // 4..=7
        let rounded = (q + 1) << shift;
        let doubling = (bits - 1 - FINE.trailing_zeros()) as usize;
        (FINE / GRAIN + 4 * doubling + (q - 4), rounded)
    }
}

#[inline]
fn owned(ptr: *mut u8) -> bool {
    let p = ptr as usize;
    p >= START.load(Ordering::Relaxed) && p < END.load(Ordering::Relaxed)
}

#[inline]
fn holds() -> u8 {
    HOLDS.with(Cell::get)
}

/// Cuts the mapping's next page never used, `None` when none is left.
fn cut() -> Option<usize> {
    let end = END.load(Ordering::Relaxed);
    FRESH
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |at| {
            (PAGE <= end - at).then_some(at + PAGE)
        })
        .ok()
}

/// The page a block of the arena lies in.
///
/// # Safety
/// `block` must lie in a page of the arena: a block it gave out, or the page's own address.
#[inline]
unsafe fn page_of<'a>(block: usize) -> &'a mut Page {
    // SAFETY: every arena block lies in a page whose header is at the page's start.
    unsafe { &mut *((block & !(PAGE - 1)) as *mut Page) }
}

impl State {
    const fn new(lane: u8) -> State {
        State {
            lane,
            empty: 0,
            current: [0; CLASSES],
            partial: [0; CLASSES],
            via: [0; CLASSES],
        }
    }

    /// A block of class `c` and `size` bytes from the class's current page, `None` if it has
    /// no room.
    #[inline]
    fn take(&mut self, c: usize, size: usize) -> Option<*mut u8> {
        let at = self.current[c];
        if at == 0 {
            return None;
        }
        // SAFETY: `current` holds pages of the arena, initialised by `refill`.
        let page = unsafe { page_of(at) };
        if page.free != 0 {
            let block = page.free;
            // SAFETY: a free block of the page, its first word the next one's address.
            page.free = unsafe { *(block as *const usize) };
            page.live += 1;
            return Some(block as *mut u8);
        }
        if size <= at + PAGE - page.unused {
            let block = page.unused;
            page.unused += size;
            page.live += 1;
            return Some(block as *mut u8);
        }
        None
    }

    /// A block of class `c` and `size` bytes from the lane's pages with room, and if `fresh`,
    /// from a page never used; `None` when there is none.
    #[inline]
    fn take_or_refill(&mut self, c: usize, size: usize, fresh: bool) -> Option<*mut u8> {
        loop {
            if let Some(block) = self.take(c, size) {
                return Some(block);
            }
            self.refill(c, fresh)?;
        }
    }

    /// Makes another page class `c`'s current one (the current one is used up): one of the
    /// class's with free blocks, an empty one, or, if `fresh`, one never used.
    #[cold]
    fn refill(&mut self, c: usize, fresh: bool) -> Option<usize> {
        let at = if self.partial[c] != 0 {
            let at = self.partial[c];
            self.unlist(c, at);
            at
        } else {
            let at = if self.empty != 0 {
                let at = self.empty;
                // SAFETY: pages on the empty list are the arena's, with a header.
                self.empty = unsafe { (*(at as *const Page)).next };
                at
            } else if let Some(at) = fresh.then(cut).flatten() {
                let page = (at - START.load(Ordering::Relaxed)) / PAGE;
                LANE_OF[page].store(self.lane, Ordering::Relaxed);
                at
            } else {
                return None;
            };
            // SAFETY: a page of the arena nobody uses: its header is written afresh.
            unsafe {
                (at as *mut Page).write(Page {
                    free: 0,
                    unused: at + HEADER,
                    live: 0,
                    class: c,
                    lane: self.lane,
                    listed: false,
                    prev: 0,
                    next: 0,
                });
            }
            at
        };
        self.current[c] = at;
        Some(at)
    }

    /// Gives a block back to its page, which joins its class's list if it had no free block
    /// and the empty pages if it has no block in use.
    #[inline]
    fn give(&mut self, block: usize) {
        // SAFETY: `block` came from `take`, so it lies in a page of the arena.
        let page = unsafe { page_of(block) };
        // SAFETY: the block is at least a word long and nobody uses it any more.
        unsafe { *(block as *mut usize) = page.free };
        page.free = block;
        page.live -= 1;
        let at = block & !(PAGE - 1);
        let c = page.class;
        if at == self.current[c] {
            return;
        }
        if page.live == 0 {
            if page.listed {
                self.unlist(c, at);
            }
            // SAFETY: the same page, not referred to by any list any more.
            unsafe { page_of(at).next = self.empty };
            self.empty = at;
        } else if !page.listed {
            page.listed = true;
            page.prev = 0;
            page.next = self.partial[c];
            if page.next != 0 {
                // SAFETY: listed pages are the arena's, with a header.
                unsafe { page_of(page.next).prev = at };
            }
            self.partial[c] = at;
        }
    }

    /// Takes page `at` off class `c`'s list of pages with free blocks.
    fn unlist(&mut self, c: usize, at: usize) {
        // SAFETY: `at` and its neighbours on the list are pages of the arena, with headers.
        unsafe {
            let page = page_of(at);
            let (prev, next) = (page.prev, page.next);
            page.listed = false;
            if prev == 0 {
                self.partial[c] = next;
            } else {
                page_of(prev).next = next;
            }
            if next != 0 {
                page_of(next).prev = prev;
            }
        }
    }
}

/// A block of the arena for `layout`, if the calling thread holds a lane, the block is small
/// and not over-aligned, and the lane has room.
#[inline(always)]
fn carve(layout: Layout) -> Option<*mut u8> {
    if layout.size() > LARGEST || layout.align() > GRAIN {
        return None;
    }
    let holds = holds();
    if holds == 0 {
        return None;
    }
    let (c, size) = class(layout.size());
    let first = if holds == ALL {
        // SAFETY: this thread holds every lane.
        usize::from(unsafe { state(0) }.via[c])
    } else {
        holds.trailing_zeros() as usize
    };
    // SAFETY: this thread holds the lane.
    let state = unsafe { state(first) };
    match state.take(c, size) {
        Some(block) => Some(block),
        None => carve_further(holds, first, c, size),
    }
}

/// [`carve`] when the current page of the class in lane `first` is full: that lane's other
/// pages with room, then those of the other lanes the thread holds, then a page never used, in
/// lane `first`. A thread holding every lane takes the class from the lane that had room next
/// time: the blocks the helper thread freed into the second are then taken one after the
/// other, not each after a look at the first (25 M instructions in a 100k-rule import).
#[cold]
fn carve_further(holds: u8, first: usize, c: usize, size: usize) -> Option<*mut u8> {
    // SAFETY: this thread holds lane `first`.
    if let Some(block) = unsafe { state(first) }.take_or_refill(c, size, false) {
        return Some(block);
    }
    for lane in (0..LANES).filter(|&lane| lane != first && holds & 1 << lane != 0) {
        // SAFETY: this thread holds the lane.
        if let Some(block) = unsafe { state(lane) }.take_or_refill(c, size, false) {
            if holds == ALL {
                // SAFETY: this thread holds every lane; no other reference to a state is held.
                unsafe { state(0) }.via[c] = lane as u8;
            }
            return Some(block);
        }
    }
    // SAFETY: as above.
    unsafe { state(first) }.take_or_refill(c, size, true)
}

unsafe impl GlobalAlloc for Arena {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match carve(layout) {
            Some(block) => block,
            // SAFETY: the caller's layout, passed on.
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if let Some(block) = carve(layout) {
            // SAFETY: the block is at least `layout.size()` bytes long, and the caller's.
            unsafe { block.write_bytes(0, layout.size()) };
            return block;
        }
        // SAFETY: the caller's layout, passed on: glibc's `calloc`, which leaves pages fresh
        // from the kernel unwritten.
        unsafe { System.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !owned(ptr) {
            // SAFETY: a block the system allocator gave, with its layout.
            return unsafe { System.dealloc(ptr, layout) };
        }
        let holds = holds();
        if holds == ALL {
            // SAFETY: this thread holds every lane, so every page's header is its own to read
            // and the block's lane its own to give to.
            unsafe {
                let lane = page_of(ptr as usize).lane;
                state(usize::from(lane)).give(ptr as usize);
            }
        } else if holds != 0 {
            // The table, not the header: the page may be another thread's.
            let page = (ptr as usize - START.load(Ordering::Relaxed)) / PAGE;
            let lane = usize::from(LANE_OF[page].load(Ordering::Relaxed));
            if holds & 1 << lane != 0 {
                // SAFETY: this thread holds the block's lane; the block is the arena's.
                unsafe { state(lane).give(ptr as usize) };
            }
        }
        // Freed by a thread not holding its lane: left unused.
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !owned(ptr) {
            // SAFETY: a block the system allocator gave, with its layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if new_size <= LARGEST && class(new_size).0 == class(layout.size()).0 {
            return ptr;
        }
        // SAFETY: a new block of the new size and the same alignment; the old one is copied
        // up to the smaller size and freed.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_hold_their_sizes_and_follow_each_other() {
        // (class, class size) of the size before; the first class is 0.
        let mut last = (usize::MAX, 0);
        for size in 1..=LARGEST {
            let (c, s) = class(size);
            assert!(s >= size && s % GRAIN == 0, "size {size}: class size {s}");
            assert!(c < CLASSES, "size {size}: class {c} of {CLASSES}");
            if size > FINE {
                assert!(
                    s - size < s / 5 + 1,
                    "size {size}: class size {s} wastes too much"
                );
            }
            // Sizes in one class share its size; the next class is larger.
            if c == last.0 {
                assert_eq!(s, last.1, "size {size}");
            } else {
                assert_eq!(
                    c,
                    last.0.wrapping_add(1),
                    "size {size}: class {c} after {}",
                    last.0
                );
                assert!(s > last.1);
            }
            last = (c, s);
        }
        assert_eq!(last.0, CLASSES - 1);
    }
}
