//! `pyth_semaphore_*`: Python's `threading.Semaphore` and `BoundedSemaphore`.

use super::handle::{self, Kind};
use super::status::*;
use super::timeout::{is_forever, parse_acquire, Negative};
use crate::sync::Semaphore;

/// A semaphore, plain or bounded (Python's `threading.Semaphore` and
/// `threading.BoundedSemaphore`). Opaque.
pub struct pyth_semaphore_t {
    _private: [u8; 0],
}

/// Creates a semaphore with counter `value`. NULL with `PYTH_EVALUE` if
/// `value` is negative ("semaphore initial value must be >= 0").
#[no_mangle]
pub extern "C" fn pyth_semaphore_new(value: i64) -> *mut pyth_semaphore_t {
    handle::new_raw(Kind::Semaphore, || Semaphore::new(value))
}

/// Creates a bounded semaphore: releasing it above `value` is
/// `PYTH_EVALUE`. NULL with `PYTH_EVALUE` if `value` is negative.
#[no_mangle]
pub extern "C" fn pyth_bounded_semaphore_new(value: i64) -> *mut pyth_semaphore_t {
    handle::new_raw(Kind::Semaphore, || Semaphore::bounded(value))
}

/// Decrements the counter, waiting while it is zero: at most `timeout`
/// seconds (`PYTH_FOREVER`: no limit; negative: do not wait) when
/// `blocking`, not at all otherwise (then `timeout` must be
/// `PYTH_FOREVER`). `PYTH_OK` if acquired, `PYTH_TIMEOUT` if not.
#[no_mangle]
pub unsafe extern "C" fn pyth_semaphore_acquire(s: *mut pyth_semaphore_t, blocking: bool, timeout: f64) -> pyth_status {
    // SAFETY: the C caller passes a handle from pyth_*semaphore_new.
    if let Some(sem) = unsafe { handle::peek::<Semaphore, _>(s, Kind::Semaphore) } {
        if is_forever(timeout) && sem.fast_acquire() {
            return PYTH_OK;
        }
    }
    // SAFETY: forwarded.
    unsafe { semaphore_acquire(s, blocking, timeout) }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn semaphore_acquire(s: *mut pyth_semaphore_t, blocking: bool, timeout: f64) -> pyth_status {
    run(|| {
        // SAFETY: the C caller passes a handle from pyth_*semaphore_new.
        let s: &Semaphore = unsafe { handle::get(s, Kind::Semaphore)? };
        let timeout = parse_acquire(
            blocking,
            timeout,
            Negative::NoBlock,
            "can't specify timeout for non-blocking acquire",
        )?;
        Ok(ok_or_timeout(s.acquire_timeout(timeout)))
    })
}

/// Adds `n` to the counter and wakes up to `n` waiters. Fails and changes
/// nothing: `PYTH_EVALUE` for `n < 1` or a bounded semaphore that would
/// exceed its initial value ("Semaphore released too many times"),
/// `PYTH_EOVERFLOW` if the counter would exceed `INT64_MAX`.
#[no_mangle]
pub unsafe extern "C" fn pyth_semaphore_release(s: *mut pyth_semaphore_t, n: usize) -> pyth_status {
    // SAFETY: the C caller passes a handle from pyth_*semaphore_new.
    if let Some(sem) = unsafe { handle::peek::<Semaphore, _>(s, Kind::Semaphore) } {
        if n == 1 && sem.fast_release() {
            return PYTH_OK;
        }
    }
    // SAFETY: forwarded.
    unsafe { semaphore_release(s, n) }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn semaphore_release(s: *mut pyth_semaphore_t, n: usize) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let s: &Semaphore = unsafe { handle::get(s, Kind::Semaphore)? };
        s.release(n as u64)?;
        Ok(PYTH_OK)
    })
}

/// The current counter (Python's private `_value`); 0 for a bad handle.
#[no_mangle]
pub unsafe extern "C" fn pyth_semaphore_value(s: *const pyth_semaphore_t) -> i64 {
    // SAFETY: as above.
    run_or(0, || {
        Ok(unsafe { handle::get::<Semaphore, _>(s, Kind::Semaphore)? }.value() as i64)
    })
}

/// Frees the semaphore. NULL is a no-op; `PYTH_EBUSY` while a thread is
/// blocked acquiring it.
#[no_mangle]
pub unsafe extern "C" fn pyth_semaphore_free(s: *mut pyth_semaphore_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::free(s, Kind::Semaphore, "semaphore", Semaphore::has_waiters) })
}
