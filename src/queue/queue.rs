//! `queue.Queue`, `queue.LifoQueue` and `queue.PriorityQueue`.

use crate::error::{Error, ErrorKind};
use crate::sync::park::SpinWait;
use crate::sync::Sleepers;
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Why a `put` or `get` did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// `queue.Empty`: nothing to get in time.
    Empty,
    /// `queue.Full`: no room in time.
    Full,
    /// `queue.ShutDown`.
    ShutDown,
    /// An invalid call (`ValueError`, ...).
    Error(Error),
}

impl From<Error> for QueueError {
    fn from(e: Error) -> Self {
        QueueError::Error(e)
    }
}

/// A comparator for priority queues: `Less` comes out first.
pub type Compare<T> = Box<dyn Fn(&T, &T) -> Ordering + Send + Sync>;

/// In which order items come out.
pub enum Order<T> {
    /// First in, first out (`queue.Queue`).
    Fifo,
    /// Last in, first out (`queue.LifoQueue`).
    Lifo,
    /// Lowest first by the comparator, ties in insertion order
    /// (`queue.PriorityQueue`).
    Priority(Compare<T>),
}

enum Items<T> {
    Fifo(VecDeque<T>),
    Lifo(Vec<T>),
    /// A binary min-heap of (item, insertion number).
    Heap(Vec<(T, u64)>, Compare<T>, u64),
}

impl<T> Items<T> {
    fn len(&self) -> usize {
        match self {
            Items::Fifo(q) => q.len(),
            Items::Lifo(v) => v.len(),
            Items::Heap(h, ..) => h.len(),
        }
    }

    /// Room for one more item, or `MemoryError` (a queue that grows until
    /// memory runs out fails the put instead of aborting the process).
    fn reserve_one(&mut self) -> Result<(), Error> {
        let grown = match self {
            Items::Fifo(q) => q.try_reserve(1),
            Items::Lifo(v) => v.try_reserve(1),
            Items::Heap(h, ..) => h.try_reserve(1),
        };
        grown.map_err(|_| crate::shared::NO_MEMORY)
    }

    fn push(&mut self, item: T) {
        match self {
            Items::Fifo(q) => q.push_back(item),
            Items::Lifo(v) => v.push(item),
            Items::Heap(h, cmp, seq) => {
                *seq += 1;
                h.push((item, *seq));
                let less = |a: &(T, u64), b: &(T, u64)| cmp(&a.0, &b.0).then(a.1.cmp(&b.1)) == Ordering::Less;
                let mut i = h.len() - 1;
                while i > 0 {
                    let parent = (i - 1) / 2;
                    if !less(&h[i], &h[parent]) {
                        break;
                    }
                    h.swap(i, parent);
                    i = parent;
                }
            }
        }
    }

    fn pop(&mut self) -> Option<T> {
        match self {
            Items::Fifo(q) => q.pop_front(),
            Items::Lifo(v) => v.pop(),
            Items::Heap(h, cmp, _) => {
                if h.is_empty() {
                    return None;
                }
                let last = h.len() - 1;
                h.swap(0, last);
                let top = h.pop().map(|(item, _)| item);
                let less = |a: &(T, u64), b: &(T, u64)| cmp(&a.0, &b.0).then(a.1.cmp(&b.1)) == Ordering::Less;
                let mut i = 0;
                loop {
                    let (l, r) = (2 * i + 1, 2 * i + 2);
                    let mut m = i;
                    if l < h.len() && less(&h[l], &h[m]) {
                        m = l;
                    }
                    if r < h.len() && less(&h[r], &h[m]) {
                        m = r;
                    }
                    if m == i {
                        break;
                    }
                    h.swap(i, m);
                    i = m;
                }
                top
            }
        }
    }
}

struct State<T> {
    items: Items<T>,
    unfinished: usize,
    shutdown: bool,
    /// Threads inside a blocking call, from before they first sleep until
    /// they hold the mutex again: while any is, the queue is in use.
    blocked: usize,
}

/// A multi-producer, multi-consumer queue, as Python's `queue.Queue`
/// (and `LifoQueue`, `PriorityQueue`, by [`Order`]).
///
/// One mutex guards the items; waiting goes through `Sleepers`, which
/// count their sleepers exactly, so a put or get wakes a thread only when
/// one sleeps and has not been woken yet.
pub struct Queue<T> {
    maxsize: usize,
    state: Mutex<State<T>>,
    /// The number of items, written under the mutex, for threads spinning
    /// before they sleep.
    len: AtomicUsize,
    not_empty: Sleepers,
    not_full: Sleepers,
    all_done: Sleepers,
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("qsize", &self.qsize())
            .finish()
    }
}

enum Wait {
    No,
    Forever,
    Until(Instant),
}

fn wait_of(block: bool, timeout: Option<Duration>) -> Wait {
    match (block, timeout) {
        (false, _) => Wait::No,
        (true, None) => Wait::Forever,
        (true, Some(d)) => Instant::now().checked_add(d).map_or(Wait::Forever, Wait::Until),
    }
}

impl<T> Queue<T> {
    /// A queue holding at most `maxsize` items (0: no limit).
    pub fn new(maxsize: usize, order: Order<T>) -> Self {
        let items = match order {
            Order::Fifo => Items::Fifo(VecDeque::new()),
            Order::Lifo => Items::Lifo(Vec::new()),
            Order::Priority(cmp) => Items::Heap(Vec::new(), cmp, 0),
        };
        Queue {
            maxsize,
            state: Mutex::new(State {
                items,
                unfinished: 0,
                shutdown: false,
                blocked: 0,
            }),
            len: AtomicUsize::new(0),
            not_empty: Sleepers::new(),
            not_full: Sleepers::new(),
            all_done: Sleepers::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps in `on` (releasing `st`) until woken or `wait` ends, then
    /// takes the mutex again. None if `wait` had already ended: the caller
    /// gives up. First it spins a little, with the mutex released, while
    /// `ready` (given the number of items) is false: when the other side
    /// is running on another CPU, that turns a sleep and a wake-up (tens of
    /// microseconds here) into a few hundred nanoseconds, and on a busy CPU
    /// the spin's yields let the other side run instead.
    fn sleep<'a>(
        &'a self,
        on: &Sleepers,
        mut st: MutexGuard<'a, State<T>>,
        wait: &Wait,
        ready: Option<fn(usize, usize) -> bool>,
    ) -> Option<MutexGuard<'a, State<T>>> {
        let deadline = match *wait {
            Wait::No => return None,
            Wait::Forever => None,
            Wait::Until(d) => {
                if Instant::now() >= d {
                    return None;
                }
                Some(d)
            }
        };
        st.blocked += 1;
        if let Some(ready) = ready {
            drop(st);
            let mut spin = SpinWait::new();
            // The deadline bounds the spin too: its yields may give the CPU
            // away for a whole time slice.
            let in_time = || deadline.is_none_or(|d| Instant::now() < d);
            while !ready(self.len.load(Relaxed), self.maxsize) && in_time() && spin.spin() {}
            st = self.lock();
            if ready(st.items.len(), self.maxsize) || st.shutdown {
                st.blocked -= 1;
                return Some(st);
            }
        }
        on.sleep(move || drop(st), deadline);
        let mut st = self.lock();
        st.blocked -= 1;
        Some(st)
    }

    /// Puts `item`, waiting for room if `block` (at most `timeout`,
    /// `None`: forever). Gives the item back with the reason on failure.
    pub fn put(&self, item: T, block: bool, timeout: Option<Duration>) -> Result<(), (T, QueueError)> {
        let wait = wait_of(block, timeout);
        let mut st = self.lock();
        loop {
            if st.shutdown {
                return Err((item, QueueError::ShutDown));
            }
            if self.maxsize == 0 || st.items.len() < self.maxsize {
                break;
            }
            st = match self.sleep(&self.not_full, st, &wait, Some(|len, max| len < max)) {
                Some(st) => st,
                None => return Err((item, QueueError::Full)),
            };
        }
        if let Err(e) = st.items.reserve_one() {
            // This put may have been woken for the room it found: pass the
            // wake-up on to another putter.
            self.not_full.wake_one();
            return Err((item, QueueError::Error(e)));
        }
        st.items.push(item);
        self.len.store(st.items.len(), Relaxed);
        st.unfinished += 1;
        self.not_empty.wake_one();
        Ok(())
    }

    /// Removes and returns an item, waiting for one if `block` (at most
    /// `timeout`, `None`: forever).
    pub fn get(&self, block: bool, timeout: Option<Duration>) -> Result<T, QueueError> {
        let wait = wait_of(block, timeout);
        let mut st = self.lock();
        loop {
            if let Some(item) = st.items.pop() {
                self.len.store(st.items.len(), Relaxed);
                self.not_full.wake_one();
                return Ok(item);
            }
            if st.shutdown {
                return Err(QueueError::ShutDown);
            }
            st = match self.sleep(&self.not_empty, st, &wait, Some(|len, _| len > 0)) {
                Some(st) => st,
                None => return Err(QueueError::Empty),
            };
        }
    }

    /// Marks one gotten item as processed. Fails with `ValueError`
    /// ("task_done() called too many times") if none is outstanding.
    pub fn task_done(&self) -> Result<(), Error> {
        let mut st = self.lock();
        if st.unfinished == 0 {
            return Err(Error::new(ErrorKind::Value, "task_done() called too many times"));
        }
        st.unfinished -= 1;
        if st.unfinished == 0 {
            self.all_done.wake_all();
        }
        Ok(())
    }

    /// Waits until every item put has been marked done.
    pub fn join(&self) {
        let mut st = self.lock();
        while st.unfinished > 0 {
            st = self
                .sleep(&self.all_done, st, &Wait::Forever, None)
                .expect("waits forever");
        }
    }

    /// The number of items.
    pub fn qsize(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether it holds no item.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether it is at `maxsize`.
    pub fn full(&self) -> bool {
        self.maxsize > 0 && self.qsize() >= self.maxsize
    }

    /// The capacity (0: unbounded).
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Whether a thread is blocked in it.
    pub fn has_waiters(&self) -> bool {
        self.lock().blocked > 0
    }

    /// Shuts the queue down (Python 3.13): `put` fails from now on and
    /// blocked callers wake with `ShutDown`; `get` drains what is left,
    /// unless `immediate`, which discards it (counting it done) so `get`
    /// fails at once and `join` returns. Returns the discarded items, for
    /// the caller to dispose of.
    pub fn shutdown(&self, immediate: bool) -> Vec<T> {
        let mut st = self.lock();
        st.shutdown = true;
        let mut dropped = Vec::new();
        if immediate {
            while let Some(item) = st.items.pop() {
                dropped.push(item);
                st.unfinished = st.unfinished.saturating_sub(1);
            }
            self.len.store(0, Relaxed);
        }
        self.all_done.wake_all();
        self.not_empty.wake_all();
        self.not_full.wake_all();
        drop(st);
        dropped
    }

    /// Whether `shutdown` was called.
    pub fn is_shutdown(&self) -> bool {
        self.lock().shutdown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn orders() {
        let q = Queue::new(0, Order::Fifo);
        let l = Queue::new(0, Order::Lifo);
        let p = Queue::new(
            0,
            Order::Priority(Box::new(|a: &(i32, i32), b: &(i32, i32)| a.0.cmp(&b.0))),
        );
        for i in 0..5 {
            q.put(i, true, None).unwrap();
            l.put(i, true, None).unwrap();
        }
        for (i, item) in [(3, 0), (1, 1), (3, 2), (1, 3), (2, 4)].into_iter().enumerate() {
            let _ = i;
            p.put(item, true, None).unwrap();
        }
        assert_eq!(
            (0..5).map(|_| q.get(false, None).unwrap()).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(
            (0..5).map(|_| l.get(false, None).unwrap()).collect::<Vec<_>>(),
            vec![4, 3, 2, 1, 0]
        );
        let out: Vec<_> = (0..5).map(|_| p.get(false, None).unwrap()).collect();
        assert_eq!(out, vec![(1, 1), (1, 3), (2, 4), (3, 0), (3, 2)]);
        assert_eq!(q.get(false, None), Err(QueueError::Empty));
    }

    #[test]
    fn bounded_and_timeouts() {
        let q = Queue::new(1, Order::Fifo);
        q.put(1, false, None).unwrap();
        assert!(q.full());
        assert_eq!(q.put(2, false, None).unwrap_err(), (2, QueueError::Full));
        let t = Instant::now();
        assert_eq!(
            q.put(2, true, Some(Duration::from_millis(30))).unwrap_err().1,
            QueueError::Full
        );
        assert!(t.elapsed() >= Duration::from_millis(30));
        assert_eq!(q.get(true, Some(Duration::from_millis(10))), Ok(1));
        assert_eq!(q.get(true, Some(Duration::from_millis(10))), Err(QueueError::Empty));
        q.task_done().unwrap();
        assert!(q.task_done().is_err());
    }

    #[test]
    fn every_item_once() {
        let q = Arc::new(Queue::new(16, Order::Fifo));
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || (0..10_000u64).for_each(|i| q.put(p * 1_000_000 + i, true, None).unwrap()))
            })
            .collect();
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(v) = q.get(true, None) {
                        got.push(v);
                        q.task_done().unwrap();
                    }
                    got
                })
            })
            .collect();
        producers.into_iter().for_each(|t| t.join().unwrap());
        q.join();
        q.shutdown(false);
        let mut all: Vec<u64> = consumers.into_iter().flat_map(|t| t.join().unwrap()).collect();
        all.sort();
        let mut expect: Vec<u64> = (0..4u64)
            .flat_map(|p| (0..10_000u64).map(move |i| p * 1_000_000 + i))
            .collect();
        expect.sort();
        assert_eq!(all, expect);
    }

    #[test]
    fn shutdown_wakes_and_drains() {
        let q = Arc::new(Queue::<i32>::new(0, Order::Fifo));
        let q2 = q.clone();
        let getter = std::thread::spawn(move || q2.get(true, None));
        while !q.has_waiters() {
            std::thread::yield_now();
        }
        q.shutdown(false);
        assert_eq!(getter.join().unwrap(), Err(QueueError::ShutDown));
        assert_eq!(q.put(1, true, None).unwrap_err().1, QueueError::ShutDown);
        let q = Queue::new(0, Order::Fifo);
        q.put(1, true, None).unwrap();
        q.put(2, true, None).unwrap();
        assert_eq!(q.shutdown(true), vec![1, 2]);
        assert_eq!(q.get(true, None), Err(QueueError::ShutDown));
        q.join();
    }
}
