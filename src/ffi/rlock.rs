//! `pyth_rlock_*`: Python's `threading.RLock`.

use super::handle::{self, Kind};
use super::lock::NONBLOCKING_TIMEOUT;
use super::status::*;
use super::timeout::{is_forever, parse_acquire, LOCK_NEGATIVE, PYTH_FOREVER};
use crate::sync::{FastRelease, RLock};

/// A reentrant lock (Python's `threading.RLock`). Opaque.
pub struct pyth_rlock_t {
    _private: [u8; 0],
}

/// Creates an unowned reentrant lock. Returns NULL on failure (`PYTH_ENOMEM`).
#[no_mangle]
pub extern "C" fn pyth_rlock_new() -> *mut pyth_rlock_t {
    handle::new_raw(Kind::RLock, || Ok(RLock::new()))
}

/// Acquires the lock, or one more recursion level if the calling thread
/// already owns it. `blocking` and `timeout` as for `pyth_lock_acquire`.
#[no_mangle]
pub unsafe extern "C" fn pyth_rlock_acquire(rlock: *mut pyth_rlock_t, blocking: bool, timeout: f64) -> pyth_status {
    // SAFETY: the C caller passes a handle from pyth_rlock_new.
    if let Some(r) = unsafe { handle::peek::<RLock, _>(rlock, Kind::RLock) } {
        if is_forever(timeout) && r.fast_acquire() {
            return PYTH_OK;
        }
    }
    // SAFETY: forwarded.
    unsafe { rlock_acquire(rlock, blocking, timeout) }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn rlock_acquire(rlock: *mut pyth_rlock_t, blocking: bool, timeout: f64) -> pyth_status {
    run(|| {
        // SAFETY: the C caller passes a handle from pyth_rlock_new.
        let rlock: &RLock = unsafe { handle::get(rlock, Kind::RLock)? };
        if blocking && timeout == PYTH_FOREVER {
            rlock.acquire();
            return Ok(PYTH_OK);
        }
        let timeout = parse_acquire(blocking, timeout, LOCK_NEGATIVE, NONBLOCKING_TIMEOUT)?;
        Ok(ok_or_timeout(rlock.acquire_timeout(timeout)))
    })
}

/// Releases one recursion level; the last one unlocks. Only the owner may
/// release: `PYTH_ERUNTIME` ("cannot release un-acquired lock") otherwise.
#[no_mangle]
pub unsafe extern "C" fn pyth_rlock_release(rlock: *mut pyth_rlock_t) -> pyth_status {
    // SAFETY: the C caller passes a handle from pyth_rlock_new.
    if let Some(r) = unsafe { handle::peek::<RLock, _>(rlock, Kind::RLock) } {
        match r.fast_release() {
            FastRelease::Done => return PYTH_OK,
            FastRelease::Wake => return rlock_release_wake(r),
            FastRelease::NotOwner => {}
        }
    }
    // SAFETY: forwarded.
    unsafe { rlock_release(rlock) }
}

/// The end of a last release with a thread parked on the lock. Its own C
/// function, so that the fast path tail-calls it and needs no frame.
#[cold]
#[inline(never)]
extern "C" fn rlock_release_wake(rlock: &RLock) -> pyth_status {
    run(|| {
        rlock.release_wake();
        Ok(PYTH_OK)
    })
}

#[cold]
#[inline(never)]
unsafe extern "C" fn rlock_release(rlock: *mut pyth_rlock_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let rlock: &RLock = unsafe { handle::get(rlock, Kind::RLock)? };
        rlock.release()?;
        Ok(PYTH_OK)
    })
}

/// Whether any thread holds the lock (Python 3.14's `RLock.locked()`).
#[no_mangle]
pub unsafe extern "C" fn pyth_rlock_locked(rlock: *const pyth_rlock_t) -> bool {
    // SAFETY: as above.
    run_or(false, || {
        Ok(unsafe { handle::get::<RLock, _>(rlock, Kind::RLock)? }.locked())
    })
}

/// Whether the calling thread owns the lock (Python's `RLock._is_owned()`).
#[no_mangle]
pub unsafe extern "C" fn pyth_rlock_is_owned(rlock: *const pyth_rlock_t) -> bool {
    // SAFETY: as above.
    run_or(false, || {
        Ok(unsafe { handle::get::<RLock, _>(rlock, Kind::RLock)? }.is_owned())
    })
}

/// Frees the lock. NULL is a no-op. `PYTH_EBUSY` while a thread is blocked
/// acquiring it or a condition uses it.
#[no_mangle]
pub unsafe extern "C" fn pyth_rlock_free(rlock: *mut pyth_rlock_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::free(rlock, Kind::RLock, "rlock", RLock::has_waiters) })
}
