//! `queue.SimpleQueue`: unbounded FIFO whose `put` never blocks.
//!
//! `put` takes no lock of the queue's: it claims a slot with one
//! compare-and-swap and, only if that ends a getter's sleep, wakes it
//! through the parking lot (whose bucket locks never run user code). So it
//! can be called from anywhere a C programmer would call it: any thread, a
//! callback or a destructor running inside another queue call (Python's
//! reentrancy promise). It allocates, with `malloc`, one block of slots per
//! `BLOCK_CAP` items.
//!
//! The items live in a linked list of blocks of slots. The tail index says
//! which slot the next put takes; the head index, moved by one getter at a
//! time under the getters' mutex, which slot the next get reads. Each lap
//! of `LAP` positions has one position more than a block has slots: a tail
//! standing on it means "the next block is being linked, wait". A slot is
//! claimed before it is written, so a getter that reaches a claimed slot
//! waits the few instructions until its `ready` flag is set.

use super::QueueError;
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::*};
use crate::sync::park::{self as plc, FilterOp, ParkResult, ParkToken, SpinWait, UnparkResult, UnparkToken};
#[cfg(loom)]
use loom::{
    cell::UnsafeCell,
    sync::{Mutex, MutexGuard},
    thread::yield_now,
};
use std::mem::MaybeUninit;
use std::ptr;
use std::time::{Duration, Instant};
#[cfg(not(loom))]
use std::{
    cell::UnsafeCell,
    sync::{Mutex, MutexGuard},
    thread::yield_now,
};

/// Slots per block (two under loom, so that its models cross blocks).
const BLOCK_CAP: usize = if cfg!(loom) { 2 } else { 31 };
/// Positions per block: the slots and the "being linked" position.
const LAP: usize = BLOCK_CAP + 1;
/// Indices are positions shifted left by one; the low bit is `ARMED`.
const SHIFT: u32 = 1;
/// On the tail index: the queue is empty and getters sleep, and no put
/// has woken one since they did. The put that clears it wakes a getter.
const ARMED: usize = 1;

/// Tokens of a woken getter: whether others still sleep. If they do, the
/// woken one sees to it that they are not forgotten (see `discharge`).
const LAST: UnparkToken = UnparkToken(0);
const MORE: UnparkToken = UnparkToken(1);

/// What a getter parks with. A put wakes only threads parked with it, so a
/// wake that comes after the queue was freed (a put wakes after its item
/// is ready, when a getter may already have taken it and freed the queue)
/// cannot reach a thread of another kind of primitive that parks at the
/// same address now; at worst it wakes another queue's getter, which looks
/// and sleeps again.
const GETTER: ParkToken = ParkToken(0x5351_4745);

struct Slot<T> {
    item: UnsafeCell<MaybeUninit<T>>,
    ready: AtomicBool,
}

struct Block<T> {
    slots: [Slot<T>; BLOCK_CAP],
    next: AtomicPtr<Block<T>>,
}

impl<T> Block<T> {
    /// A new block, or `None` if memory ran out.
    fn new() -> Option<Box<Self>> {
        crate::shared::try_box(Block {
            slots: std::array::from_fn(|_| Slot {
                item: UnsafeCell::new(MaybeUninit::uninit()),
                ready: AtomicBool::new(false),
            }),
            next: AtomicPtr::new(ptr::null_mut()),
        })
        .ok()
    }
}

/// The number of slots before a position.
fn slots_before(position: usize) -> usize {
    position / LAP * BLOCK_CAP + (position % LAP).min(BLOCK_CAP)
}

/// What the putting threads write, on its own cache line.
#[repr(align(64))]
struct TailSide<T> {
    index: AtomicUsize,
    /// The block the tail position is in.
    block: AtomicPtr<Block<T>>,
}

/// The block the head is in; only the getter holding the mutex uses it.
struct HeadBlock<T>(*mut Block<T>);

/// What the getting threads write, on its own cache line.
#[repr(align(64))]
struct HeadSide<T> {
    block: Mutex<HeadBlock<T>>,
    /// Written under the mutex; read by anyone (sizes, getters about to
    /// sleep).
    index: AtomicUsize,
    /// Threads inside a blocking `get` that found the queue empty.
    blocked: AtomicUsize,
}

/// An unbounded FIFO queue, as Python's `queue.SimpleQueue`.
///
/// A put is one compare-and-swap and two stores, plus a wake-up only when
/// it ends a getter's sleep: the sleepers' flag is a bit of the tail index,
/// so the put that clears it is the one that wakes, once. After its item
/// is ready a put touches nothing of the queue (a getter may free the queue
/// as soon as it has the item): its wake-up goes by address to getters
/// only.
pub struct SimpleQueue<T> {
    tail: TailSide<T>,
    head: HeadSide<T>,
}

// SAFETY: items move between threads; the blocks are owned by the queue,
// the head block only touched under the getters' mutex.
unsafe impl<T: Send> Send for SimpleQueue<T> {}
unsafe impl<T: Send> Sync for SimpleQueue<T> {}

impl<T> Default for SimpleQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleQueue").field("qsize", &self.qsize()).finish()
    }
}

/// Wakes one getter asleep on `key`, telling it whether others still
/// sleep. Touches nothing but the parking lot, and only threads parked as
/// getters (see `GETTER`).
fn wake_getter(key: usize) {
    let mut left = 1;
    let filter = |t: ParkToken| match (t == GETTER, left) {
        (false, _) => FilterOp::Skip,
        (true, 0) => FilterOp::Stop,
        (true, _) => {
            left = 0;
            FilterOp::Unpark
        }
    };
    // A thread of another kind parked at this address would count as
    // "more"; that only makes the woken getter look once more.
    let token = |r: UnparkResult| if r.have_more_threads { MORE } else { LAST };
    // SAFETY: the key is a queue's tail index address; the filter wakes
    // only getters and the callback only chooses the token.
    unsafe { plc::unpark_filter(key, filter, token) };
}

/// Allocation failed where the caller cannot report it: abort, as `Box`.
#[cold]
fn out_of_memory<T>() -> ! {
    std::alloc::handle_alloc_error(std::alloc::Layout::new::<Block<T>>())
}

/// Waits for another thread that is a few instructions from done.
fn snooze(spin: &mut SpinWait) {
    if !spin.spin() {
        yield_now();
    }
}

/// Writes a claimed slot's item.
///
/// # Safety
/// The slot is claimed by the caller and not yet `ready`.
unsafe fn write_item<T>(cell: &UnsafeCell<MaybeUninit<T>>, item: T) {
    #[cfg(not(loom))]
    // SAFETY: forwarded.
    unsafe {
        (*cell.get()).write(item);
    }
    #[cfg(loom)]
    // SAFETY: forwarded.
    cell.with_mut(|p| unsafe {
        (*p).write(item);
    });
}

/// Moves a `ready` slot's item out.
///
/// # Safety
/// The slot is `ready` (seen with Acquire) and read only this once.
unsafe fn read_item<T>(cell: &UnsafeCell<MaybeUninit<T>>) -> T {
    #[cfg(not(loom))]
    // SAFETY: forwarded.
    return unsafe { (*cell.get()).assume_init_read() };
    #[cfg(loom)]
    // SAFETY: forwarded.
    cell.with(|p| unsafe { (*p).assume_init_read() })
}

impl<T> SimpleQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        let first = Box::into_raw(Block::new().unwrap_or_else(|| out_of_memory::<T>()));
        SimpleQueue {
            tail: TailSide {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(first),
            },
            head: HeadSide {
                block: Mutex::new(HeadBlock(first)),
                index: AtomicUsize::new(0),
                blocked: AtomicUsize::new(0),
            },
        }
    }

    /// The address getters sleep on.
    fn key(&self) -> usize {
        &self.tail.index as *const AtomicUsize as usize
    }

    /// Appends `item`; never blocks (it may wait the few stores another
    /// put needs to link a new block). Out of memory, it aborts, as `Box`
    /// does; see `try_put`.
    pub fn put(&self, item: T) {
        if self.try_put(item).is_err() {
            out_of_memory::<T>()
        }
    }

    /// `put`, or the item back if the block it needed could not be
    /// allocated (the queue is unchanged then).
    pub fn try_put(&self, item: T) -> Result<(), T> {
        let key = self.key();
        let mut spin = SpinWait::new();
        let mut next: Option<Box<Block<T>>> = None;
        let mut tail = self.tail.index.load(Acquire);
        loop {
            let position = tail >> SHIFT;
            let offset = position % LAP;
            if offset == BLOCK_CAP {
                // Another put is linking the next block.
                snooze(&mut spin);
                tail = self.tail.index.load(Acquire);
                continue;
            }
            // Loaded after the index: if the claim below succeeds, the
            // index had not moved, so this is its block.
            let block = self.tail.block.load(Acquire);
            if offset + 1 == BLOCK_CAP && next.is_none() {
                // Allocated before the last slot is claimed, so that the
                // others wait only for a few stores.
                match Block::new() {
                    Some(b) => next = Some(b),
                    // Nothing claimed yet: the queue is as it was.
                    None => return Err(item),
                }
            }
            // The claim clears ARMED: this put is the one that wakes.
            match self
                .tail
                .index
                .compare_exchange_weak(tail, (position + 1) << SHIFT, SeqCst, Acquire)
            {
                Ok(_) => {
                    // SAFETY: the block holds the claimed slot and lives
                    // until a getter has read that slot.
                    let block = unsafe { &*block };
                    if offset + 1 == BLOCK_CAP {
                        let next = Box::into_raw(next.take().expect("allocated above"));
                        self.tail.block.store(next, Release);
                        self.tail.index.store((position + 2) << SHIFT, Release);
                        block.next.store(next, Release);
                    }
                    let slot = &block.slots[offset];
                    // SAFETY: the slot is ours alone until `ready` is set.
                    unsafe { write_item(&slot.item, item) };
                    // The last touch of the queue: from here on a getter may
                    // take the item and free it.
                    slot.ready.store(true, Release);
                    // Woken after the item is ready, so that the getter does
                    // not run only to wait for it (on one CPU that costs two
                    // more context switches); only the key is used.
                    if tail & ARMED != 0 {
                        wake_getter(key);
                    }
                    return Ok(());
                }
                Err(t) => tail = t,
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HeadBlock<T>> {
        self.head.block.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the oldest item, if any; also says whether items are left.
    /// An item claimed by a put that has not written it yet is waited for,
    /// until `deadline` (a put that returned must be seen by a later get,
    /// and FIFO order forbids skipping it).
    fn take(&self, deadline: Option<Instant>) -> (Option<T>, bool) {
        let mut head_block = self.lock();
        let head = self.head.index.load(Relaxed);
        let position = head >> SHIFT;
        if position == self.tail.index.load(Acquire) >> SHIFT {
            return (None, false);
        }
        let offset = position % LAP;
        // SAFETY: the head block lives until the getter holding the mutex
        // moves past it.
        let block = unsafe { &*head_block.0 };
        let slot = &block.slots[offset];
        let mut spin = SpinWait::new();
        while !slot.ready.load(Acquire) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return (None, true);
            }
            snooze(&mut spin);
        }
        // SAFETY: ready: written, and read only here, once.
        let item = unsafe { read_item(&slot.item) };
        let mut next_position = position + 1;
        if offset + 1 == BLOCK_CAP {
            // The put that claimed this slot linked the next block before
            // it set `ready`.
            let next = block.next.load(Acquire);
            // SAFETY: every slot of the block has been read and no put
            // touches it any more.
            drop(unsafe { Box::from_raw(head_block.0) });
            head_block.0 = next;
            next_position += 1;
        }
        self.head.index.store(next_position << SHIFT, Release);
        let more = next_position != self.tail.index.load(Acquire) >> SHIFT;
        (Some(item), more)
    }

    /// Marks the tail "getters asleep" if the queue is empty; true if it
    /// is, so that a getter may sleep until a put wakes it.
    fn arm(&self) -> bool {
        loop {
            let tail = self.tail.index.load(SeqCst);
            // Read after the tail: the head never passes the tail, so if
            // they meet the queue was empty when the tail was read.
            if self.head.index.load(SeqCst) >> SHIFT != tail >> SHIFT {
                return false;
            }
            if tail & ARMED != 0
                || self
                    .tail
                    .index
                    .compare_exchange(tail, tail | ARMED, SeqCst, SeqCst)
                    .is_ok()
            {
                return true;
            }
        }
    }

    /// Run by a getter woken with `MORE`: the put that woke it cleared the
    /// flag, so the other sleepers would miss the next put. If items are
    /// left, wake the next sleeper (who inherits this duty); else arm the
    /// tail again for them.
    fn discharge(&self, more: bool) {
        if more || !self.arm() {
            wake_getter(self.key());
        }
    }

    /// Removes and returns the oldest item, waiting for one if `block` (at
    /// most `timeout`, `None`: forever). `Empty` if none came in time.
    pub fn get(&self, block: bool, timeout: Option<Duration>) -> Result<T, QueueError> {
        let deadline = match (block, timeout) {
            (true, Some(d)) => Instant::now().checked_add(d),
            _ => None,
        };
        if let (Some(item), _) = self.take(deadline) {
            return Ok(item);
        }
        if !block {
            return Err(QueueError::Empty);
        }
        self.head.blocked.fetch_add(1, Relaxed);
        let got = loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Err(QueueError::Empty);
            }
            let validate = || self.arm();
            // SAFETY: the key is our own tail index's address; `arm` takes
            // no lock and cannot unwind.
            let r = unsafe { plc::park(self.key(), validate, || {}, |_, _| {}, GETTER, deadline) };
            // After a time-out too: a put that came just before still counts.
            let (item, more) = self.take(deadline);
            if r == ParkResult::Unparked(MORE) {
                self.discharge(more);
            }
            if let Some(item) = item {
                break Ok(item);
            }
            if r == ParkResult::TimedOut {
                break Err(QueueError::Empty);
            }
        };
        self.head.blocked.fetch_sub(1, Release);
        got
    }

    /// The number of items.
    pub fn qsize(&self) -> usize {
        let head = self.head.index.load(Acquire) >> SHIFT;
        let tail = self.tail.index.load(Acquire) >> SHIFT;
        slots_before(tail).saturating_sub(slots_before(head))
    }

    /// Whether it holds no item.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a thread is blocked in `get`.
    pub fn has_waiters(&self) -> bool {
        self.head.blocked.load(Acquire) > 0
    }
}

impl<T> Drop for SimpleQueue<T> {
    fn drop(&mut self) {
        while let (Some(_), _) = self.take(None) {}
        // SAFETY: nothing else can reach the queue; the head block is the
        // last one, its slots all read or never written.
        drop(unsafe { Box::from_raw(self.lock().0) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn fifo_and_timeouts() {
        let q = SimpleQueue::new();
        assert_eq!(q.get(false, None), Err(QueueError::Empty));
        let t = Instant::now();
        assert_eq!(q.get(true, Some(Duration::from_millis(20))), Err(QueueError::Empty));
        assert!(t.elapsed() >= Duration::from_millis(20));
        for i in 0..10 {
            q.put(i);
        }
        assert_eq!(q.qsize(), 10);
        q.put(10);
        assert_eq!(
            (0..11).map(|_| q.get(false, None).unwrap()).collect::<Vec<_>>(),
            (0..11).collect::<Vec<_>>()
        );
    }

    #[test]
    fn producers_consumers() {
        let q = Arc::new(SimpleQueue::new());
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut sum = 0u64;
                    loop {
                        match q.get(true, Some(Duration::from_secs(10))).unwrap() {
                            u64::MAX => return sum,
                            v => sum += v,
                        }
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || (1..=50_000u64).for_each(|i| q.put(i)))
            })
            .collect();
        producers.into_iter().for_each(|t| t.join().unwrap());
        q.put(u64::MAX);
        q.put(u64::MAX);
        let total: u64 = consumers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 2 * 50_000 * 50_001 / 2);
    }

    #[test]
    fn crosses_blocks_in_order_and_counts() {
        let q = SimpleQueue::new();
        for round in 0..3 {
            for i in 0..(5 * BLOCK_CAP + 3) {
                q.put(i);
                assert_eq!(q.qsize(), i + 1, "round {round}");
            }
            for i in 0..(5 * BLOCK_CAP + 3) {
                assert_eq!(q.get(false, None), Ok(i));
                assert_eq!(q.qsize(), 5 * BLOCK_CAP + 2 - i);
            }
            assert!(q.empty());
            assert_eq!(q.get(false, None), Err(QueueError::Empty));
        }
    }

    #[test]
    fn drop_releases_every_item_once() {
        let item = Arc::new(());
        {
            let q = SimpleQueue::new();
            for _ in 0..(2 * BLOCK_CAP + 7) {
                q.put(item.clone());
            }
            for _ in 0..BLOCK_CAP {
                drop(q.get(false, None).unwrap());
            }
            assert_eq!(Arc::strong_count(&item), 1 + BLOCK_CAP + 7);
        }
        assert_eq!(Arc::strong_count(&item), 1);
    }

    /// Sleeping getters must all be served even though only the first put
    /// finds the "getters asleep" flag: the woken ones pass the duty on.
    #[test]
    fn every_sleeping_getter_is_served() {
        for round in 0..50 {
            let q = Arc::new(SimpleQueue::new());
            let getters: Vec<_> = (0..4)
                .map(|_| {
                    let q = q.clone();
                    std::thread::spawn(move || q.get(true, Some(Duration::from_secs(10))))
                })
                .collect();
            if round % 2 == 1 {
                // This time all four are in `get` before anything is put.
                let start = Instant::now();
                while q.head.blocked.load(SeqCst) < 4 {
                    assert!(start.elapsed() < Duration::from_secs(10), "getters never blocked");
                    std::thread::yield_now();
                }
            }
            let putters: Vec<_> = (0..4)
                .map(|i| {
                    let q = q.clone();
                    std::thread::spawn(move || q.put(i))
                })
                .collect();
            putters.into_iter().for_each(|t| t.join().unwrap());
            let mut got: Vec<i32> = getters.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
            got.sort();
            assert_eq!(got, vec![0, 1, 2, 3], "round {round}");
        }
    }

    #[test]
    fn many_producers_and_consumers_exactly_once() {
        const PER: u64 = 100_000;
        let q = Arc::new(SimpleQueue::new());
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    loop {
                        match q.get(true, Some(Duration::from_secs(10))).unwrap() {
                            u64::MAX => return seen,
                            v => seen.push(v),
                        }
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || (0..PER).for_each(|i| q.put(p * PER + i)))
            })
            .collect();
        producers.into_iter().for_each(|t| t.join().unwrap());
        (0..4).for_each(|_| q.put(u64::MAX));
        let mut all = Vec::new();
        for c in consumers {
            let seen = c.join().unwrap();
            // One producer's items come out in its order to each consumer.
            for p in 0..4 {
                let mine: Vec<_> = seen.iter().filter(|v| **v / PER == p).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]));
            }
            all.extend(seen);
        }
        all.sort();
        assert_eq!(all, (0..4 * PER).collect::<Vec<_>>());
        assert!(q.empty());
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! Loom models of the put/get protocol (`make loom-test`): the
    //! "getters asleep" bit, the duty a woken getter inherits, and blocks
    //! (two slots each under loom) linked while puts race. A lost wake-up
    //! is a loom deadlock; a missing happens-before between a put's write
    //! and a get's read is a loom data race.

    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn check(model: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        builder.check(model);
    }

    /// Two getters that may both be asleep, two puts: both are served,
    /// though only the first put can find the bit set.
    #[test]
    fn loom_simple_queue_every_sleeper_is_served() {
        check(|| {
            let q = Arc::new(SimpleQueue::new());
            let getters: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    thread::spawn(move || q.get(true, None).unwrap())
                })
                .collect();
            q.put(1usize);
            q.put(2);
            let mut got: Vec<usize> = getters.into_iter().map(|t| t.join().unwrap()).collect();
            got.sort();
            assert_eq!(got, [1, 2]);
            assert!(q.empty());
        });
    }

    /// Two puts race for the last slot of a block and the next block's
    /// first, while a getter waits for all three items.
    #[test]
    fn loom_simple_queue_racing_puts_cross_a_block() {
        check(|| {
            let q = Arc::new(SimpleQueue::new());
            q.put(0usize);
            let putters: Vec<_> = (1..3)
                .map(|i| {
                    let q = q.clone();
                    thread::spawn(move || q.put(i))
                })
                .collect();
            let mut got: Vec<usize> = (0..3).map(|_| q.get(true, None).unwrap()).collect();
            putters.into_iter().for_each(|t| t.join().unwrap());
            assert_eq!(got[0], 0);
            got.sort();
            assert_eq!(got, [0, 1, 2]);
            assert!(q.empty());
        });
    }

    /// A getter with a timeout may give up at any point: the item is then
    /// still there, never lost or taken twice.
    #[test]
    fn loom_simple_queue_timed_get() {
        check(|| {
            let q = Arc::new(SimpleQueue::new());
            let getter = {
                let q = q.clone();
                thread::spawn(move || q.get(true, Some(Duration::from_secs(3600))))
            };
            q.put(7usize);
            match getter.join().unwrap() {
                Ok(v) => {
                    assert_eq!(v, 7);
                    assert!(q.empty());
                }
                Err(QueueError::Empty) => assert_eq!(q.get(false, None), Ok(7)),
                Err(e) => panic!("{e:?}"),
            }
        });
    }
}
