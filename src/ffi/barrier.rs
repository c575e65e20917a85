//! `pyth_barrier_*`: Python's `threading.Barrier`.

use super::handle::{self, Kind};
use super::status::*;
use super::timeout::{parse, Negative};
use crate::error::{Error, ErrorKind, Result};
use crate::shared::try_box;
use crate::sync::{Barrier, BarrierAction};
use std::ffi::{c_int, c_void};
use std::time::Duration;

/// A barrier (Python's `threading.Barrier`). Opaque.
pub struct pyth_barrier_t {
    _private: [u8; 0],
}

/// Creates a barrier for `parties` threads. `action(action_arg)`, if not
/// NULL, runs in one of the threads each time they are all there, before
/// any is released; it may call `pyth_barrier_parties`, `_n_waiting` and
/// `_broken`. `timeout` is the default for `pyth_barrier_wait`
/// (`PYTH_FOREVER`: none). NULL with `PYTH_EVALUE` if `parties < 1` or
/// the timeout is NaN, `PYTH_EOVERFLOW` if it is too large.
#[no_mangle]
pub extern "C" fn pyth_barrier_new(
    parties: usize,
    action: Option<unsafe extern "C" fn(arg: *mut c_void)>,
    action_arg: *mut c_void,
    timeout: f64,
) -> *mut pyth_barrier_t {
    handle::new_raw(Kind::Barrier, || {
        let timeout = parse(timeout, Negative::NoBlock)?;
        let arg = action_arg as usize;
        // SAFETY: the caller's action with the caller's argument; C
        // promised the pair may be called from any thread.
        let action = match action {
            Some(f) => Some(try_box(move || {
                unsafe { f(arg as *mut c_void) };
                Ok(())
            })? as BarrierAction),
            None => None,
        };
        Barrier::new(parties, action, timeout)
    })
}

/// As `pyth_barrier_new`, with an action that can fail (Python: raise): a
/// nonzero return breaks the barrier; the thread that ran the action gets
/// `PYTH_EFAILED` (the code is in its `pyth_last_error()` message), the
/// others `PYTH_EBROKEN`.
#[no_mangle]
pub extern "C" fn pyth_barrier_new_ex(
    parties: usize,
    action: Option<unsafe extern "C" fn(arg: *mut c_void) -> c_int>,
    action_arg: *mut c_void,
    timeout: f64,
) -> *mut pyth_barrier_t {
    handle::new_raw(Kind::Barrier, || {
        let timeout = parse(timeout, Negative::NoBlock)?;
        let arg = action_arg as usize;
        let action = match action {
            // SAFETY: the caller's action with the caller's argument.
            Some(f) => Some(try_box(move || match unsafe { f(arg as *mut c_void) } {
                0 => Ok(()),
                code => Err(Error::with_message(
                    ErrorKind::Failed,
                    format!("barrier action failed with code {code}"),
                )),
            })? as BarrierAction),
            None => None,
        };
        Barrier::new(parties, action, timeout)
    })
}

fn wait(b: *mut pyth_barrier_t, timeout: Option<Option<Duration>>, index: *mut usize) -> Result<pyth_status> {
    // SAFETY: the C caller passes a handle from pyth_barrier_new.
    let b: &Barrier = unsafe { handle::get(b, Kind::Barrier)? };
    let i = match timeout {
        None => b.wait()?,
        Some(t) => b.wait_timeout(t)?,
    };
    if !index.is_null() {
        // SAFETY: a non-NULL index points to a size_t the caller owns.
        unsafe { index.write(i) };
    }
    Ok(PYTH_OK)
}

/// Waits, with the barrier's own timeout, until all parties are there.
/// Stores this thread's arrival index (0 to parties-1, distinct in each
/// cycle) in `*index` if `index` is not NULL. `PYTH_EBROKEN` if the barrier
/// is or becomes broken, is reset while waiting, or the wait times out
/// (which breaks it for everyone).
#[no_mangle]
pub unsafe extern "C" fn pyth_barrier_wait(b: *mut pyth_barrier_t, index: *mut usize) -> pyth_status {
    run(|| wait(b, None, index))
}

/// As `pyth_barrier_wait`, with `timeout` seconds instead of the barrier's
/// default (`PYTH_FOREVER`: no limit; negative: do not wait).
#[no_mangle]
pub unsafe extern "C" fn pyth_barrier_wait_timeout(
    b: *mut pyth_barrier_t,
    timeout: f64,
    index: *mut usize,
) -> pyth_status {
    run(|| wait(b, Some(parse(timeout, Negative::NoBlock)?), index))
}

/// Returns the barrier to its empty, unbroken state; threads waiting on it
/// get `PYTH_EBROKEN`.
#[no_mangle]
pub unsafe extern "C" fn pyth_barrier_reset(b: *mut pyth_barrier_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { handle::get::<Barrier, _>(b, Kind::Barrier)? }.reset();
        Ok(PYTH_OK)
    })
}

/// Breaks the barrier: current and future waits get `PYTH_EBROKEN` until
/// `pyth_barrier_reset`.
#[no_mangle]
pub unsafe extern "C" fn pyth_barrier_abort(b: *mut pyth_barrier_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { handle::get::<Barrier, _>(b, Kind::Barrier)? }.abort();
        Ok(PYTH_OK)
    })
}

/// The number of threads needed to pass; 0 for an invalid handle.
#[no_mangle]
pub unsafe extern "C" fn pyth_barrier_parties(b: *const pyth_barrier_t) -> usize {
    // SAFETY: as above.
    run_or(0, || {
        Ok(unsafe { handle::get::<Barrier, _>(b, Kind::Barrier)? }.parties())
    })
}

/// The number of threads waiting in the current cycle.
#[no_mangle]
pub unsafe extern "C" fn pyth_barrier_n_waiting(b: *const pyth_barrier_t) -> usize {
    // SAFETY: as above.
    run_or(0, || {
        Ok(unsafe { handle::get::<Barrier, _>(b, Kind::Barrier)? }.n_waiting())
    })
}

/// Whether the barrier is broken.
#[no_mangle]
pub unsafe extern "C" fn pyth_barrier_broken(b: *const pyth_barrier_t) -> bool {
    // SAFETY: as above.
    run_or(false, || {
        Ok(unsafe { handle::get::<Barrier, _>(b, Kind::Barrier)? }.broken())
    })
}

/// Frees the barrier. NULL is a no-op; `PYTH_EBUSY` while a thread waits on it.
#[no_mangle]
pub unsafe extern "C" fn pyth_barrier_free(b: *mut pyth_barrier_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::free(b, Kind::Barrier, "barrier", Barrier::has_waiters) })
}
