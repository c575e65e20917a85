//! `queue.SimpleQueue`: unbounded FIFO whose `put` never blocks.
//!
//! `put` takes no lock: it pushes onto an atomic list and, only if a
//! getter sleeps, wakes it with a raw futex call. So it can be called from
//! anywhere a C programmer would call it: any thread, a callback or a
//! destructor running inside another queue call (Python's reentrancy
//! promise). It does allocate one node with `malloc`.

use super::QueueError;
use crate::sync::{futex_wait, futex_wake};
use std::collections::VecDeque;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering::*};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct Node<T> {
    item: T,
    next: *mut Node<T>,
}

/// An unbounded FIFO queue, as Python's `queue.SimpleQueue`.
pub struct SimpleQueue<T> {
    /// Newest first; taken whole by a getter and reversed.
    incoming: AtomicPtr<Node<T>>,
    /// Oldest first; only getters touch it.
    outgoing: Mutex<VecDeque<T>>,
    len: AtomicUsize,
    /// Bumped by each put: the futex getters sleep on.
    seq: AtomicU32,
    sleepers: AtomicU32,
}

// SAFETY: items move between threads, nodes are owned by the list.
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

impl<T> SimpleQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        SimpleQueue {
            incoming: AtomicPtr::new(ptr::null_mut()),
            outgoing: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Appends `item`; never blocks.
    pub fn put(&self, item: T) {
        let node = Box::into_raw(Box::new(Node {
            item,
            next: ptr::null_mut(),
        }));
        // Counted before it is visible, so a getter's decrement can never
        // come first and wrap the count below zero.
        self.len.fetch_add(1, Relaxed);
        let mut head = self.incoming.load(Relaxed);
        loop {
            // SAFETY: node is ours until the CAS publishes it.
            unsafe { (*node).next = head };
            match self.incoming.compare_exchange_weak(head, node, SeqCst, Relaxed) {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        self.seq.fetch_add(1, SeqCst);
        if self.sleepers.load(SeqCst) > 0 {
            futex_wake(&self.seq, 1);
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.outgoing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves everything put so far to `out`, oldest first.
    fn refill(&self, out: &mut VecDeque<T>) {
        let mut p = self.incoming.swap(ptr::null_mut(), Acquire);
        let start = out.len();
        while !p.is_null() {
            // SAFETY: the swap gave this thread the whole list.
            let node = unsafe { Box::from_raw(p) };
            p = node.next;
            out.push_back(node.item);
        }
        out.make_contiguous()[start..].reverse();
    }

    fn try_get(&self) -> Option<T> {
        let mut out = self.lock();
        if out.is_empty() {
            self.refill(&mut out);
        }
        let item = out.pop_front();
        if item.is_some() {
            self.len.fetch_sub(1, Relaxed);
        }
        item
    }

    /// Removes and returns the oldest item, waiting for one if `block` (at
    /// most `timeout`, `None`: forever). `Empty` if none came in time.
    pub fn get(&self, block: bool, timeout: Option<Duration>) -> Result<T, QueueError> {
        let deadline = match (block, timeout) {
            (true, Some(d)) => Instant::now().checked_add(d),
            _ => None,
        };
        loop {
            let seen = self.seq.load(SeqCst);
            if let Some(item) = self.try_get() {
                return Ok(item);
            }
            if !block {
                return Err(QueueError::Empty);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(QueueError::Empty),
                },
                None => None,
            };
            self.sleepers.fetch_add(1, SeqCst);
            if self.incoming.load(SeqCst).is_null() {
                futex_wait(&self.seq, seen, left);
            }
            self.sleepers.fetch_sub(1, SeqCst);
        }
    }

    /// The number of items.
    pub fn qsize(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Whether it holds no item.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a thread is blocked in `get`.
    pub fn has_waiters(&self) -> bool {
        self.sleepers.load(SeqCst) > 0
    }
}

impl<T> Drop for SimpleQueue<T> {
    fn drop(&mut self) {
        let mut rest = VecDeque::new();
        self.refill(&mut rest);
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
}
