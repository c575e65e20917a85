//! `pyth_lock_*`: Python's `threading.Lock`.

use super::handle::{self, Kind};
use super::status::*;
use super::timeout::{is_forever, parse_acquire, LOCK_NEGATIVE, PYTH_FOREVER};
use crate::sync::Lock;

/// A primitive lock (Python's `threading.Lock`). Opaque.
pub struct pyth_lock_t {
    _private: [u8; 0],
}

/// The lock's state on a cache line of its own, in a 128-byte block of its
/// own: the kind tag, read by every call, then never shares the line that
/// two contending threads' compare-and-swaps bounce between them, nor the
/// neighbouring line that CPUs prefetch in pairs with it (with only 64
/// bytes between them, contended throughput measured 4-5 % lower). This
/// makes a Lock handle 256 bytes; crossbeam's `CachePadded` pads to 128
/// bytes on x86_64 for the same reason.
#[repr(C, align(128))]
pub(crate) struct LockLine {
    pub(crate) lock: Lock,
}

impl LockLine {
    fn new() -> Self {
        LockLine { lock: Lock::new() }
    }
}

pub(crate) const NONBLOCKING_TIMEOUT: &str = "can't specify a timeout for a non-blocking call";

/// Creates an unlocked lock. Returns NULL on failure (`PYTH_ENOMEM`).
#[no_mangle]
pub extern "C" fn pyth_lock_new() -> *mut pyth_lock_t {
    handle::new_raw(Kind::Lock, || Ok(LockLine::new()))
}

/// Acquires the lock. With `blocking` true, waits at most `timeout` seconds
/// (`PYTH_FOREVER`: no limit); with `blocking` false, only tries, and
/// `timeout` must be `PYTH_FOREVER`.
///
/// Returns `PYTH_OK` if acquired, `PYTH_TIMEOUT` if not; `PYTH_EVALUE` for
/// a timeout with `blocking` false, a negative timeout other than
/// `PYTH_FOREVER`, or NaN; `PYTH_EOVERFLOW` above `PYTH_TIMEOUT_MAX`.
#[no_mangle]
pub unsafe extern "C" fn pyth_lock_acquire(lock: *mut pyth_lock_t, blocking: bool, timeout: f64) -> pyth_status {
    // SAFETY: the C caller passes a handle from pyth_lock_new.
    if let Some(l) = unsafe { handle::peek::<LockLine, _>(lock, Kind::Lock) }.map(|l| &l.lock) {
        // With PYTH_FOREVER, blocking or not, a free lock is simply taken.
        if is_forever(timeout) && l.fast_acquire() {
            return PYTH_OK;
        }
    }
    // SAFETY: forwarded.
    unsafe { lock_acquire(lock, blocking, timeout) }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn lock_acquire(lock: *mut pyth_lock_t, blocking: bool, timeout: f64) -> pyth_status {
    run(|| {
        // SAFETY: the C caller passes a handle from pyth_lock_new.
        let lock: &Lock = &unsafe { handle::get::<LockLine, _>(lock, Kind::Lock)? }.lock;
        if blocking && timeout == PYTH_FOREVER {
            // The fast path has just tried (a valid handle passed it).
            lock.acquire_slow(None);
            return Ok(PYTH_OK);
        }
        let timeout = parse_acquire(blocking, timeout, LOCK_NEGATIVE, NONBLOCKING_TIMEOUT)?;
        Ok(ok_or_timeout(lock.acquire_timeout(timeout)))
    })
}

/// Releases the lock; any thread may release it. `PYTH_ERUNTIME`
/// ("release unlocked lock") if it is not locked.
#[no_mangle]
pub unsafe extern "C" fn pyth_lock_release(lock: *mut pyth_lock_t) -> pyth_status {
    // SAFETY: the C caller passes a handle from pyth_lock_new.
    if let Some(l) = unsafe { handle::peek::<LockLine, _>(lock, Kind::Lock) }.map(|l| &l.lock) {
        if l.fast_release() {
            return PYTH_OK;
        }
    }
    // SAFETY: forwarded.
    unsafe { lock_release(lock) }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn lock_release(lock: *mut pyth_lock_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let lock: &Lock = &unsafe { handle::get::<LockLine, _>(lock, Kind::Lock)? }.lock;
        // The fast path has just tried (a valid handle passed it).
        lock.release_slow()?;
        Ok(PYTH_OK)
    })
}

/// Whether the lock is held; false for an invalid handle.
#[no_mangle]
pub unsafe extern "C" fn pyth_lock_locked(lock: *const pyth_lock_t) -> bool {
    // SAFETY: as above.
    run_or(false, || {
        Ok(unsafe { handle::get::<LockLine, _>(lock, Kind::Lock)? }.lock.locked())
    })
}

/// Frees the lock. NULL is a no-op. `PYTH_EBUSY` (and the lock stays
/// valid) while a thread is blocked acquiring it or a condition uses it;
/// a lock that is held but has no waiter may be freed.
#[no_mangle]
pub unsafe extern "C" fn pyth_lock_free(lock: *mut pyth_lock_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::free(lock, Kind::Lock, "lock", |l: &LockLine| l.lock.has_waiters()) })
}
