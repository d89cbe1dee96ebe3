//! An allocator for the main thread of a short-lived process, in front of the system's.
//!
//! Import allocates and frees some 17 blocks per rule (syntax trees, expressions, JSON text),
//! most of them small. glibc's malloc and free cost about 100 instructions each for that
//! pattern (its per-thread cache holds 7 blocks per size, so most frees go to the arena
//! proper): 15% of a 10k-rule import's instructions. [`Arena`] serves the thread that called
//! [`enable`] from one large private mapping instead: 37 instructions an allocation and 20 a
//! free on average at 10k rules, the calls passed on to glibc included (measured before the
//! arena had a second lane for the parser's helper thread, since gone).
//!
//! The mapping is cut into pages of [`PAGE`] bytes, each holding blocks of one size class: a
//! block is taken from its page's free list or carved from the page's unused end, and a freed
//! block goes back on its page's list. A page whose blocks are all free again goes to a pool
//! that any class takes pages from, so memory one phase frees (the syntax tree, freed rule by
//! rule as it is translated) serves the next one's blocks whatever their sizes.
//!
//! `fwnet import` and `fwnet apply` enable it; the other commands allocate from the system's.
//!
//! Every thread but the one that called [`enable`], every block allocated before it,
//! over-aligned blocks and blocks larger than [`LARGEST`] go to the system allocator; so does
//! everything once the mapping is used up. Pages are never given back to the kernel (import and
//! apply end once their work is done); an arena block freed by another thread is left unused.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, UnsafeCell};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The mapping's size (256 MiB on 32-bit targets). Address space only: the kernel gives a page
/// when it is first written, and `MAP_NORESERVE` keeps the mapping out of the commit charge
/// where overcommit allows.
pub const MAPPING: usize = if usize::BITS >= 64 {
    (4u64 << 30) as usize
} else {
    256 << 20
};

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

/// The arena's state, touched only by the thread that enabled it.
struct State {
    /// Pages whose blocks are all free, linked by `next`.
    empty: usize,
    /// Each class's page blocks are taken from, 0 for none.
    current: [usize; CLASSES],
    /// Each class's other pages that have free blocks, linked both ways.
    partial: [usize; CLASSES],
}

/// The state, behind a cell only the owning thread touches.
struct Shared(UnsafeCell<State>);

// SAFETY: the state is read and written only by the thread whose `OWNER` is set: the one that
// called [`enable`], set once (`ENABLED` guards it) before its first arena allocation.
unsafe impl Sync for Shared {}

static STATE: Shared = Shared(UnsafeCell::new(State::new()));

/// The mapping's first page never cut yet.
static FRESH: AtomicUsize = AtomicUsize::new(0);

/// The mapping, set once; other threads read it to tell an arena block from a system one.
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this thread enabled the arena and allocates from it. Constant-initialised and
    /// without a destructor: reading it never allocates and works while the thread is being
    /// torn down.
    static OWNER: Cell<bool> = const { Cell::new(false) };
}

/// How much of the mapping has been cut into pages so far (pages whose blocks were all freed
/// again included): what the arena holds at most. `None` on a thread other than the owner.
pub fn taken() -> Option<usize> {
    owner().then(|| FRESH.load(Ordering::Relaxed) - START.load(Ordering::Relaxed))
}

/// The mapping's next page never cut: where memory is worth populating ahead
/// (`prefault::populate`). `None` on a thread other than the owner.
pub fn fresh() -> Option<usize> {
    owner().then(|| FRESH.load(Ordering::Relaxed))
}

/// The arena's state.
///
/// # Safety
/// Only the owning thread may call it, and hold one reference at a time.
#[inline]
#[allow(
    clippy::mut_from_ref,
    reason = "the owner's state, one reference at a time"
)]
unsafe fn state() -> &'static mut State {
    // SAFETY: the caller is the owner, the only thread that touches the state.
    unsafe { &mut *STATE.0.get() }
}

/// Maps the arena and makes the calling thread its owner; returns the mapping, whose start
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
    OWNER.with(|o| o.set(true));
    Some(start..start + MAPPING)
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
fn owner() -> bool {
    OWNER.with(Cell::get)
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
    const fn new() -> State {
        State {
            empty: 0,
            current: [0; CLASSES],
            partial: [0; CLASSES],
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

    /// Makes another page class `c`'s current one (the current one is used up): one of the
    /// class's with free blocks, an empty one, or one never used; `None` when there is none.
    #[cold]
    fn refill(&mut self, c: usize) -> Option<usize> {
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
            } else {
                cut()?
            };
            // SAFETY: a page of the arena nobody uses: its header is written afresh.
            unsafe {
                (at as *mut Page).write(Page {
                    free: 0,
                    unused: at + HEADER,
                    live: 0,
                    class: c,
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

/// A block of the arena for `layout`, if the calling thread is the owner, the block is small
/// and not over-aligned, and the mapping has room.
#[inline(always)]
fn carve(layout: Layout) -> Option<*mut u8> {
    if layout.size() > LARGEST || layout.align() > GRAIN || !owner() {
        return None;
    }
    let (c, size) = class(layout.size());
    // SAFETY: this thread is the owner.
    let state = unsafe { state() };
    match state.take(c, size) {
        Some(block) => Some(block),
        None => carve_further(state, c, size),
    }
}

/// [`carve`] when the class's current page is full: another page with room, an empty one, or
/// one never used.
#[cold]
fn carve_further(state: &mut State, c: usize, size: usize) -> Option<*mut u8> {
    loop {
        state.refill(c)?;
        if let Some(block) = state.take(c, size) {
            return Some(block);
        }
    }
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
        if owner() {
            // SAFETY: this thread is the owner; the block is the arena's.
            unsafe { state() }.give(ptr as usize);
        }
        // Freed by another thread: left unused.
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
