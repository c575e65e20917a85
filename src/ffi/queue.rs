//! `pyth_queue_*`: Python's `queue` module.

use super::handle::{self, Kind};
use super::status::*;
use super::timeout::{parse, QUEUE_NEGATIVE};
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{Order, Queue, QueueError, SimpleQueue};
use crate::shared::NO_MEMORY;
use std::ffi::{c_int, c_void};
use std::time::Duration;

/// A queue: FIFO, LIFO, priority or simple (Python's `queue.Queue`,
/// `LifoQueue`, `PriorityQueue`, `SimpleQueue`) of `void *` items. Opaque.
pub struct pyth_queue_t {
    _private: [u8; 0],
}

pub(crate) enum AnyQueue {
    Std(Queue<usize>),
    Simple(SimpleQueue<usize>),
}

impl AnyQueue {
    fn std(&self, what: &'static str) -> Result<&Queue<usize>> {
        match self {
            AnyQueue::Std(q) => Ok(q),
            AnyQueue::Simple(_) => Err(Error::with_message(
                ErrorKind::Invalid,
                format!("'SimpleQueue' object has no attribute '{what}'"),
            )),
        }
    }
    fn has_waiters(&self) -> bool {
        match self {
            AnyQueue::Std(q) => q.has_waiters(),
            AnyQueue::Simple(q) => q.has_waiters(),
        }
    }
}

fn new_queue(make: impl FnOnce() -> Result<AnyQueue>) -> *mut pyth_queue_t {
    handle::new_raw(Kind::Queue, make)
}

/// Creates a FIFO queue holding at most `maxsize` items (0: no limit).
#[no_mangle]
pub extern "C" fn pyth_queue_new(maxsize: usize) -> *mut pyth_queue_t {
    new_queue(|| Ok(AnyQueue::Std(Queue::new(maxsize, Order::Fifo))))
}

/// Creates a LIFO queue (`queue.LifoQueue`).
#[no_mangle]
pub extern "C" fn pyth_lifo_queue_new(maxsize: usize) -> *mut pyth_queue_t {
    new_queue(|| Ok(AnyQueue::Std(Queue::new(maxsize, Order::Lifo))))
}

/// Creates a priority queue (`queue.PriorityQueue`): `get` returns the
/// item for which `cmp(a, b, ctx)` is lowest (negative: a first); items
/// that compare equal come out in insertion order. NULL with `PYTH_EINVAL`
/// for a NULL `cmp`.
#[no_mangle]
pub extern "C" fn pyth_priority_queue_new(
    maxsize: usize,
    cmp: Option<unsafe extern "C" fn(a: *const c_void, b: *const c_void, ctx: *mut c_void) -> c_int>,
    ctx: *mut c_void,
) -> *mut pyth_queue_t {
    new_queue(|| {
        let cmp = cmp.ok_or(Error::new(ErrorKind::Invalid, "cmp must not be NULL"))?;
        let ctx = ctx as usize;
        // SAFETY: the caller's comparator with the caller's context.
        let order = Order::Priority(Box::new(move |a: &usize, b: &usize| {
            unsafe { cmp(*a as *const c_void, *b as *const c_void, ctx as *mut c_void) }.cmp(&0)
        }));
        Ok(AnyQueue::Std(Queue::new(maxsize, order)))
    })
}

/// Creates a simple queue (`queue.SimpleQueue`): unbounded FIFO whose
/// `put` never blocks and takes none of the queue's locks (one
/// compare-and-swap claims a slot), so it may be called from any thread,
/// callback or destructor, including one running inside another call on the
/// same queue; it has no `task_done`, `join` or `shutdown`. Not
/// async-signal-safe: every 31st put allocates, and a put that wakes a
/// getter goes through the parking lot.
#[no_mangle]
pub extern "C" fn pyth_simple_queue_new() -> *mut pyth_queue_t {
    new_queue(|| Ok(AnyQueue::Simple(SimpleQueue::new())))
}

unsafe fn queue<'a>(q: *const pyth_queue_t) -> Result<&'a AnyQueue> {
    // SAFETY: forwarded contract: NULL or a live queue handle.
    unsafe { handle::get(q, Kind::Queue) }
}

fn status_of(e: QueueError) -> Result<pyth_status> {
    match e {
        QueueError::Empty => Ok(PYTH_EMPTY),
        QueueError::Full => Ok(PYTH_FULL),
        QueueError::ShutDown => Err(Error::new(ErrorKind::Shutdown, "queue is shut down")),
        QueueError::Error(e) => Err(e),
    }
}

fn queue_timeout(timeout: f64) -> Result<Option<Duration>> {
    parse(timeout, QUEUE_NEGATIVE)
}

/// Puts `item`. If the queue is full: with `block`, waits at most
/// `timeout` seconds (`PYTH_FOREVER`: no limit) for room, else gives
/// `PYTH_FULL` at once. `PYTH_ESHUTDOWN` after `shutdown`; `PYTH_EVALUE`
/// for a negative timeout other than `PYTH_FOREVER`.
#[no_mangle]
pub unsafe extern "C" fn pyth_queue_put(
    q: *mut pyth_queue_t,
    item: *mut c_void,
    block: bool,
    timeout: f64,
) -> pyth_status {
    run(|| {
        // SAFETY: the C caller passes a queue handle.
        let q = unsafe { queue(q)? };
        let timeout = queue_timeout(timeout)?;
        match q {
            AnyQueue::Simple(s) => s.try_put(item as usize).map(|()| PYTH_OK).map_err(|_| NO_MEMORY),
            AnyQueue::Std(s) => match s.put(item as usize, block, timeout) {
                Ok(()) => Ok(PYTH_OK),
                Err((_, e)) => status_of(e),
            },
        }
    })
}

/// Removes an item into `*item`. If the queue is empty: with `block`,
/// waits at most `timeout` seconds for one, else gives `PYTH_EMPTY` at
/// once. `PYTH_ESHUTDOWN` once shut down and empty (at once after an
/// immediate shutdown); `PYTH_EINVAL` for a NULL `item`.
#[no_mangle]
pub unsafe extern "C" fn pyth_queue_get(
    q: *mut pyth_queue_t,
    item: *mut *mut c_void,
    block: bool,
    timeout: f64,
) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let q = unsafe { queue(q)? };
        if item.is_null() {
            return Err(Error::new(ErrorKind::Invalid, "item must not be NULL"));
        }
        let timeout = queue_timeout(timeout)?;
        let got = match q {
            AnyQueue::Simple(s) => s.get(block, timeout),
            AnyQueue::Std(s) => s.get(block, timeout),
        };
        match got {
            Ok(v) => {
                // SAFETY: non-NULL out pointer from the caller.
                unsafe { item.write(v as *mut c_void) };
                Ok(PYTH_OK)
            }
            Err(e) => status_of(e),
        }
    })
}

/// Marks one item gotten earlier as processed. `PYTH_EVALUE`
/// ("task_done() called too many times"); `PYTH_EINVAL` on a SimpleQueue.
#[no_mangle]
pub unsafe extern "C" fn pyth_queue_task_done(q: *mut pyth_queue_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { queue(q)? }.std("task_done")?.task_done()?;
        Ok(PYTH_OK)
    })
}

/// Waits until every item put has been marked done (or an immediate
/// shutdown discarded it). `PYTH_EINVAL` on a SimpleQueue.
#[no_mangle]
pub unsafe extern "C" fn pyth_queue_join(q: *mut pyth_queue_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { queue(q)? }.std("join")?.join();
        Ok(PYTH_OK)
    })
}

/// The number of items (0 for a bad handle).
#[no_mangle]
pub unsafe extern "C" fn pyth_queue_qsize(q: *const pyth_queue_t) -> usize {
    // SAFETY: as above.
    run_or(0, || {
        Ok(match unsafe { queue(q)? } {
            AnyQueue::Std(s) => s.qsize(),
            AnyQueue::Simple(s) => s.qsize(),
        })
    })
}

/// Whether the queue holds no item.
#[no_mangle]
pub unsafe extern "C" fn pyth_queue_empty(q: *const pyth_queue_t) -> bool {
    // SAFETY: as above.
    run_or(false, || {
        Ok(match unsafe { queue(q)? } {
            AnyQueue::Std(s) => s.empty(),
            AnyQueue::Simple(s) => s.empty(),
        })
    })
}

/// Whether a bounded queue is at its `maxsize` (never for unbounded ones).
#[no_mangle]
pub unsafe extern "C" fn pyth_queue_full(q: *const pyth_queue_t) -> bool {
    // SAFETY: as above.
    run_or(false, || {
        Ok(match unsafe { queue(q)? } {
            AnyQueue::Std(s) => s.full(),
            AnyQueue::Simple(_) => false,
        })
    })
}

/// Shuts the queue down (Python 3.13): `put` fails with `PYTH_ESHUTDOWN`
/// from now on and blocked callers wake with it; `get` still drains the
/// items left, unless `immediate`, which discards them (without touching
/// what they point to) so `get` fails at once and `join` returns.
/// `PYTH_EINVAL` on a SimpleQueue.
#[no_mangle]
pub unsafe extern "C" fn pyth_queue_shutdown(q: *mut pyth_queue_t, immediate: bool) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { queue(q)? }.std("shutdown")?.shutdown(immediate);
        Ok(PYTH_OK)
    })
}

/// Frees the queue (not the items in it). NULL is a no-op; `PYTH_EBUSY`
/// while a thread is blocked in it.
#[no_mangle]
pub unsafe extern "C" fn pyth_queue_free(q: *mut pyth_queue_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::free(q, Kind::Queue, "queue", AnyQueue::has_waiters) })
}
