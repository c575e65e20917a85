//! Address-keyed parking: the one place where threads go to sleep.
//!
//! A thread parks in a FIFO queue keyed by an address (the primitive's state
//! word) and sleeps on a futex word of its own; another thread unparks it by
//! key. The queues live in a fixed table of buckets, each guarded by a tiny
//! futex lock; `validate`, `timed_out` and the unpark callbacks run with
//! that lock held, which is what lets a primitive decide "sleep or not" and
//! "who is left" atomically with the queue. The design is parking_lot's;
//! what this one adds is fork safety: `fork()` takes every bucket lock first
//! and the child starts with empty queues, so no lock held by a thread that
//! does not exist in the child can ever be waited for there.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

/// Passed from an unparker to the thread it wakes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct UnparkToken(pub usize);

/// Kept with a parked thread, for `unpark_filter`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ParkToken(pub usize);

pub(crate) const DEFAULT_UNPARK_TOKEN: UnparkToken = UnparkToken(0);
pub(crate) const DEFAULT_PARK_TOKEN: ParkToken = ParkToken(0);

/// How a park ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ParkResult {
    /// Woken by an unpark, with its token.
    Unparked(UnparkToken),
    /// `validate` said not to sleep.
    Invalid,
    /// The deadline passed first.
    TimedOut,
}

/// What an unpark found, told to its callback under the bucket lock.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct UnparkResult {
    pub(crate) unparked_threads: usize,
    /// Whether threads remain parked on the key.
    pub(crate) have_more_threads: bool,
    /// Time for a fair hand-off: set about every half millisecond per bucket
    /// when a thread is woken, so a primitive can give the resource straight
    /// to it instead of letting newcomers barge in forever.
    pub(crate) be_fair: bool,
}

/// `unpark_filter`'s decision for each parked thread of the key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FilterOp {
    Unpark,
    Skip,
    Stop,
}

const BUCKET_BITS: u32 = 9;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// A parked thread, on its own stack for as long as it is parked.
struct Waiter {
    /// Changed only by `unpark_requeue`, with both buckets locked.
    key: AtomicUsize,
    next: Cell<*const Waiter>,
    park_token: ParkToken,
    unpark_token: Cell<UnparkToken>,
    /// Under the bucket lock: still in the queue.
    queued: Cell<bool>,
    /// 1 while parked; the unparker stores 0 after its last touch of the
    /// other fields, and the waiter may not leave before it reads 0.
    futex: AtomicU32,
}

#[repr(align(64))]
struct Bucket {
    lock: AtomicU32,
    head: Cell<*const Waiter>,
    tail: Cell<*const Waiter>,
    next_fair: Cell<Option<Instant>>,
    seed: Cell<u32>,
}

// SAFETY: the cells are touched only with `lock` held.
unsafe impl Sync for Bucket {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Bucket = Bucket {
    lock: AtomicU32::new(0),
    head: Cell::new(ptr::null()),
    tail: Cell::new(ptr::null()),
    next_fair: Cell::new(None),
    seed: Cell::new(0),
};

static TABLE: [Bucket; BUCKETS] = [EMPTY; BUCKETS];

fn bucket(key: usize) -> &'static Bucket {
    // Fibonacci hashing: the top bits of key * 2^64/phi.
    let h = (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BUCKET_BITS);
    &TABLE[h as usize]
}

/// Sleeps while `*word == expected`, at most `timeout`; may return early
/// (signals, spurious wake-ups): callers loop.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let tsp = ts.as_ref().map_or(ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: a futex wait on a live word; EINTR and spurious returns are
    // handled by every caller's loop.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            tsp,
        )
    };
}

/// Wakes up to `n` threads sleeping on `word`.
pub(crate) fn futex_wake(word: *const AtomicU32, n: i32) {
    // SAFETY: waking is harmless even if the word's owner has just left:
    // at worst someone else sees a spurious wake-up, which futex users
    // must tolerate anyway.
    unsafe { libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, n) };
}

impl Bucket {
    #[inline]
    fn lock(&self) {
        if self.lock.compare_exchange_weak(0, 1, Acquire, Relaxed).is_err() {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        // Critical sections are a few dozen instructions: spin briefly.
        for _ in 0..64 {
            if self.lock.load(Relaxed) == 0 && self.lock.compare_exchange_weak(0, 1, Acquire, Relaxed).is_ok() {
                return;
            }
            std::hint::spin_loop();
        }
        while self.lock.swap(2, Acquire) != 0 {
            futex_wait(&self.lock, 2, None);
        }
    }

    #[inline]
    fn unlock(&self) {
        if self.lock.swap(0, Release) == 2 {
            futex_wake(&self.lock, 1);
        }
    }

    fn push(&self, w: &Waiter) {
        let p = w as *const Waiter;
        match self.tail.get() {
            t if t.is_null() => self.head.set(p),
            // SAFETY: queued waiters are alive (they wait for futex == 0).
            t => unsafe { &*t }.next.set(p),
        }
        self.tail.set(p);
        w.queued.set(true);
    }

    /// Removes `cur`, whose predecessor is `prev` (null: it is the head).
    fn unlink(&self, prev: *const Waiter, cur: &Waiter) {
        let next = cur.next.get();
        if prev.is_null() {
            self.head.set(next);
        } else {
            // SAFETY: queued waiters are alive.
            unsafe { &*prev }.next.set(next);
        }
        if self.tail.get() == cur as *const Waiter {
            self.tail.set(prev);
        }
        cur.next.set(ptr::null());
        cur.queued.set(false);
    }

    fn has_key_from(&self, mut p: *const Waiter, key: usize) -> bool {
        while !p.is_null() {
            // SAFETY: queued waiters are alive.
            let w = unsafe { &*p };
            if w.key.load(Relaxed) == key {
                return true;
            }
            p = w.next.get();
        }
        false
    }

    fn be_fair(&self) -> bool {
        let now = Instant::now();
        match self.next_fair.get() {
            Some(t) if now < t => false,
            _ => {
                // xorshift: a jittered half millisecond on average.
                let mut x = self.seed.get() | 1;
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                self.seed.set(x);
                self.next_fair
                    .set(Some(now + Duration::from_nanos(u64::from(x % 1_000_000))));
                true
            }
        }
    }
}

/// Wakes a chain of waiters already taken out of their queue (linked by
/// `next`), after the bucket lock is released.
fn wake_chain(mut p: *const Waiter) {
    while !p.is_null() {
        // SAFETY: the waiter stays until it reads futex == 0, below; read
        // everything needed from it first.
        let w = unsafe { &*p };
        p = w.next.get();
        let futex = &w.futex as *const AtomicU32;
        w.futex.store(0, Release);
        futex_wake(futex, 1);
    }
}

/// Parks the calling thread on `key`: with the bucket locked, `validate`
/// decides whether to sleep; once queued (and unlocked), `before_sleep`
/// runs; then the thread sleeps until unparked or `deadline`. On timeout
/// it leaves the queue and calls `timed_out(key, was_last_of_key)` under
/// the lock. Spurious wake-ups and signals never end a park early.
///
/// # Safety
/// `key` must be an address the caller owns, so that no other primitive
/// parks on it. The callbacks run under a bucket lock and must not park,
/// unpark or unwind (`before_sleep` may unpark).
pub(crate) unsafe fn park(
    key: usize,
    validate: impl FnOnce() -> bool,
    before_sleep: impl FnOnce(),
    timed_out: impl FnOnce(usize, bool),
    park_token: ParkToken,
    deadline: Option<Instant>,
) -> ParkResult {
    crate::fork::init();
    let w = Waiter {
        key: AtomicUsize::new(key),
        next: Cell::new(ptr::null()),
        park_token,
        unpark_token: Cell::new(DEFAULT_UNPARK_TOKEN),
        queued: Cell::new(false),
        futex: AtomicU32::new(1),
    };
    let b = bucket(key);
    b.lock();
    if !validate() {
        b.unlock();
        return ParkResult::Invalid;
    }
    b.push(&w);
    b.unlock();
    before_sleep();
    loop {
        if w.futex.load(Acquire) == 0 {
            return ParkResult::Unparked(w.unpark_token.get());
        }
        match deadline {
            None => futex_wait(&w.futex, 1, None),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    break;
                }
                futex_wait(&w.futex, 1, Some(d - now));
            }
        }
    }
    // The queue it is in now: requeueing may have moved it.
    let b = loop {
        let k = w.key.load(Relaxed);
        let b = bucket(k);
        b.lock();
        if w.key.load(Relaxed) == k {
            break b;
        }
        b.unlock();
    };
    let key = w.key.load(Relaxed);
    if !w.queued.get() {
        // An unparker took it out just as the deadline passed: that wake-up
        // wins. Wait for its last touch before the frame goes.
        b.unlock();
        while w.futex.load(Acquire) != 0 {
            futex_wait(&w.futex, 1, None);
        }
        return ParkResult::Unparked(w.unpark_token.get());
    }
    let mut prev = ptr::null();
    let mut p = b.head.get();
    while p != &w as *const Waiter {
        prev = p;
        // SAFETY: queued waiters are alive; w is in this queue.
        p = unsafe { &*p }.next.get();
    }
    b.unlink(prev, &w);
    let was_last = !b.has_key_from(b.head.get(), key);
    timed_out(key, was_last);
    b.unlock();
    ParkResult::TimedOut
}

/// Wakes the oldest thread parked on `key`. `callback` runs under the
/// bucket lock, told what was found, and chooses the woken thread's token.
///
/// # Safety
/// As for [`park`].
pub(crate) unsafe fn unpark_one(key: usize, callback: impl FnOnce(UnparkResult) -> UnparkToken) -> UnparkResult {
    let mut left = 1;
    // SAFETY: forwarded.
    unsafe {
        unpark_filter(
            key,
            |_| {
                if left == 0 {
                    return FilterOp::Stop;
                }
                left -= 1;
                FilterOp::Unpark
            },
            callback,
        )
    }
}

/// Wakes every thread parked on `key` with `token`; returns how many.
///
/// # Safety
/// As for [`park`].
pub(crate) unsafe fn unpark_all(key: usize, token: UnparkToken) -> usize {
    // SAFETY: forwarded.
    unsafe { unpark_filter(key, |_| FilterOp::Unpark, |_| token) }.unparked_threads
}

/// Goes through the threads parked on `key`, oldest first, asking `filter`
/// (with each one's park token) whether to wake it; then `callback`, under
/// the lock, chooses the token for all the woken ones.
///
/// # Safety
/// As for [`park`].
pub(crate) unsafe fn unpark_filter(
    key: usize,
    mut filter: impl FnMut(ParkToken) -> FilterOp,
    callback: impl FnOnce(UnparkResult) -> UnparkToken,
) -> UnparkResult {
    let b = bucket(key);
    b.lock();
    let (mut chain_head, mut chain_tail): (*const Waiter, *const Waiter) = (ptr::null(), ptr::null());
    let mut result = UnparkResult::default();
    let mut prev: *const Waiter = ptr::null();
    let mut p = b.head.get();
    while !p.is_null() {
        // SAFETY: queued waiters are alive.
        let w = unsafe { &*p };
        let next = w.next.get();
        if w.key.load(Relaxed) == key {
            match filter(w.park_token) {
                FilterOp::Unpark => {
                    b.unlink(prev, w);
                    if chain_tail.is_null() {
                        chain_head = p;
                    } else {
                        // SAFETY: chained waiters are alive until woken.
                        unsafe { &*chain_tail }.next.set(p);
                    }
                    chain_tail = p;
                    result.unparked_threads += 1;
                    p = next;
                    continue;
                }
                FilterOp::Skip => {}
                FilterOp::Stop => break,
            }
        }
        prev = p;
        p = next;
    }
    result.have_more_threads = b.has_key_from(b.head.get(), key);
    if result.unparked_threads > 0 {
        result.be_fair = b.be_fair();
    }
    let token = callback(result);
    let mut c = chain_head;
    while !c.is_null() {
        // SAFETY: chained waiters are alive until woken.
        let w = unsafe { &*c };
        w.unpark_token.set(token);
        c = w.next.get();
    }
    b.unlock();
    wake_chain(chain_head);
    result
}

/// Moves up to `n` threads parked on `from`, oldest first, to the end of
/// the queue of `to`, without waking them, if `validate` (run with both
/// buckets locked) agrees; returns how many moved, or `None` if it did not.
/// A condition uses it to hand notified waiters to its lock's release
/// instead of waking them to block on a lock that is still held.
///
/// # Safety
/// As for [`park`], for both keys.
#[cfg_attr(loom, allow(dead_code))] // loom's stand-in replaces it
pub(crate) unsafe fn unpark_requeue(
    from: usize,
    to: usize,
    n: usize,
    validate: impl FnOnce() -> bool,
) -> Option<usize> {
    let (bf, bt) = (bucket(from), bucket(to));
    let same = ptr::eq(bf, bt);
    // Two buckets are always locked in address order.
    if same {
        bf.lock();
    } else if (bf as *const Bucket) < (bt as *const Bucket) {
        bf.lock();
        bt.lock();
    } else {
        bt.lock();
        bf.lock();
    }
    let unlock = || {
        bf.unlock();
        if !same {
            bt.unlock();
        }
    };
    if !validate() {
        unlock();
        return None;
    }
    let mut moved = 0;
    let mut prev: *const Waiter = ptr::null();
    let mut p = bf.head.get();
    while !p.is_null() && moved < n {
        // SAFETY: queued waiters are alive.
        let w = unsafe { &*p };
        let next = w.next.get();
        if w.key.load(Relaxed) == from {
            bf.unlink(prev, w);
            w.key.store(to, Relaxed);
            bt.push(w);
            moved += 1;
        } else {
            prev = p;
        }
        p = next;
    }
    unlock();
    Some(moved)
}

/// Bounded spinning before parking: a few exponentially longer busy
/// loops, then a few yields, then give up and park.
#[derive(Default)]
#[cfg_attr(loom, allow(dead_code))] // loom's stand-in replaces it
pub(crate) struct SpinWait {
    counter: u32,
}

#[cfg_attr(loom, allow(dead_code))]
impl SpinWait {
    pub(crate) const fn new() -> Self {
        SpinWait { counter: 0 }
    }

    pub(crate) fn reset(&mut self) {
        self.counter = 0;
    }

    /// Spins once more; false when it is time to park instead.
    pub(crate) fn spin(&mut self) -> bool {
        self.spin_for(3, 7)
    }

    /// A shorter spin, for a lock: two rounds of pauses (6 in all), then
    /// two yields, then park. Each yield is a system call that, with
    /// nothing else to run, only keeps the lock's line bouncing between
    /// CPUs; parking sooner lets the holder run alone. Measured with
    /// `spin`'s ten rounds against this: two threads on two CPUs went from
    /// 20 to 35 M acquires/s, and 4 or 8 threads on two CPUs (where a yield
    /// may run a preempted holder) did not lose (see BENCHMARKS.md).
    pub(crate) fn spin_briefly(&mut self) -> bool {
        self.spin_for(2, 2)
    }

    /// Round k (from 1) of `pause_rounds` busy-waits 2^k pauses; then up to
    /// `yields` yields.
    #[inline]
    fn spin_for(&mut self, pause_rounds: u32, yields: u32) -> bool {
        if self.counter >= pause_rounds + yields {
            return false;
        }
        self.counter += 1;
        if self.counter <= pause_rounds {
            for _ in 0..(1 << self.counter) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        true
    }
}

/// `fork()` preparation: hold every bucket, so the child's copy of the table
/// is consistent.
pub(crate) fn before_fork() {
    TABLE.iter().for_each(Bucket::lock);
}

pub(crate) fn after_fork_parent() {
    TABLE.iter().for_each(Bucket::unlock);
}

/// In the child only the forking thread exists, and it is not parked:
/// every queue is empty and every lock free.
pub(crate) fn after_fork_child() {
    for b in &TABLE {
        b.head.set(ptr::null());
        b.tail.set(ptr::null());
        b.lock.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn fifo_filter_and_timeouts() {
        static KEY: AtomicUsize = AtomicUsize::new(0);
        let key = &KEY as *const AtomicUsize as usize;
        // A timeout with nobody to wake it.
        let t = Instant::now();
        let r = unsafe {
            park(
                key,
                || true,
                || {},
                |_, last| assert!(last),
                DEFAULT_PARK_TOKEN,
                Some(t + Duration::from_millis(20)),
            )
        };
        assert_eq!(r, ParkResult::TimedOut);
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert_eq!(
            unsafe { park(key, || false, || {}, |_, _| {}, DEFAULT_PARK_TOKEN, None) },
            ParkResult::Invalid
        );
        // Three parkers, woken in order with their own tokens.
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..3)
            .map(|i| {
                let order = order.clone();
                let t = std::thread::spawn(move || {
                    let r = unsafe { park(key, || true, || {}, |_, _| {}, ParkToken(i), None) };
                    order.lock().unwrap().push((i, r));
                });
                // Let each one queue before the next.
                while !unsafe { has_parked(key, 1 + i) } {
                    std::thread::yield_now();
                }
                t
            })
            .collect();
        let r = unsafe {
            unpark_filter(
                key,
                |t| if t.0 == 1 { FilterOp::Unpark } else { FilterOp::Skip },
                |_| UnparkToken(7),
            )
        };
        assert_eq!((r.unparked_threads, r.have_more_threads), (1, true));
        let r = unsafe { unpark_one(key, |_| UnparkToken(8)) };
        assert!(r.have_more_threads);
        assert_eq!(unsafe { unpark_all(key, UnparkToken(9)) }, 1);
        threads.into_iter().for_each(|t| t.join().unwrap());
        let mut got = order.lock().unwrap().clone();
        got.sort_by_key(|x| x.0);
        assert_eq!(
            got,
            vec![
                (0, ParkResult::Unparked(UnparkToken(8))),
                (1, ParkResult::Unparked(UnparkToken(7))),
                (2, ParkResult::Unparked(UnparkToken(9)))
            ]
        );
    }

    /// Whether at least `n` threads are parked on `key`.
    unsafe fn has_parked(key: usize, n: usize) -> bool {
        let b = bucket(key);
        b.lock();
        let mut count = 0;
        let mut p = b.head.get();
        while !p.is_null() {
            let w = unsafe { &*p };
            count += (w.key.load(Relaxed) == key) as usize;
            p = w.next.get();
        }
        b.unlock();
        count >= n
    }
}
