//! `pyth_cond_*`: Python's `threading.Condition`.

use super::handle::{self, Kind, Shared};
use super::lock::{pyth_lock_t, LockLine, NONBLOCKING_TIMEOUT};
use super::rlock::pyth_rlock_t;
use super::status::*;
use super::timeout::{parse, parse_acquire, Negative, LOCK_NEGATIVE};
use crate::error::{Error, ErrorKind, Result};
use crate::sync::{Condition, ConditionLock, Internal, Lock, RLock};
use std::ffi::c_void;
use std::time::Duration;

/// A condition variable (Python's `threading.Condition`). Opaque.
pub struct pyth_cond_t {
    _private: [u8; 0],
}

/// The lock under a C condition: its own, or a borrowed handle, which the
/// condition keeps a reference to so that freeing it is refused.
pub(crate) enum CondLock {
    Own(RLock),
    Lock(Shared<LockLine>),
    RLock(Shared<RLock>),
}

macro_rules! forward {
    ($self:ident, $l:ident => $e:expr) => {
        match $self {
            CondLock::Own(own) => {
                let $l: &RLock = own;
                $e
            }
            CondLock::Lock(shared) => {
                let $l: &Lock = &shared.lock;
                $e
            }
            CondLock::RLock(shared) => {
                let $l: &RLock = shared;
                $e
            }
        }
    };
}

impl ConditionLock for CondLock {
    fn acquire_timeout(&self, timeout: Option<Duration>) -> bool {
        forward!(self, l => ConditionLock::acquire_timeout(l, timeout))
    }
    fn release(&self) -> Result<()> {
        forward!(self, l => ConditionLock::release(l))
    }
    fn locked(&self) -> bool {
        forward!(self, l => ConditionLock::locked(l))
    }
    fn is_owned(&self) -> bool {
        forward!(self, l => ConditionLock::is_owned(l))
    }
    fn release_save(&self) -> Result<usize> {
        forward!(self, l => ConditionLock::release_save(l))
    }
    fn acquire_restore(&self, saved: usize) {
        forward!(self, l => ConditionLock::acquire_restore(l, saved))
    }
    fn has_waiters(&self) -> bool {
        forward!(self, l => ConditionLock::has_waiters(l))
    }
    fn raw_lock(&self, i: Internal) -> Option<&Lock> {
        forward!(self, l => ConditionLock::raw_lock(l, i))
    }
    fn restore_handed(&self, saved: usize, i: Internal) {
        forward!(self, l => ConditionLock::restore_handed(l, saved, i))
    }
}

type Cond = Condition<CondLock>;

/// Creates a condition with a new RLock of its own (`Condition()`).
/// Returns NULL on failure (`PYTH_ENOMEM`).
#[no_mangle]
pub extern "C" fn pyth_cond_new() -> *mut pyth_cond_t {
    handle::new_raw(Kind::Cond, || Ok(Cond::with_lock(CondLock::Own(RLock::new()))))
}

/// Creates a condition over `lock` (`Condition(lock)`): "owned" means
/// "locked". The lock must outlive the condition; freeing it first is
/// refused with `PYTH_EBUSY`. NULL with `PYTH_EINVAL` for a bad handle.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_new_with_lock(lock: *mut pyth_lock_t) -> *mut pyth_cond_t {
    // SAFETY: the C caller passes a handle from pyth_lock_new.
    let lock = match run_or(None, || {
        Ok(Some(unsafe { handle::share::<LockLine, _>(lock, Kind::Lock)? }))
    }) {
        Some(l) => l,
        None => return std::ptr::null_mut(),
    };
    handle::new_raw(Kind::Cond, || Ok(Cond::with_lock(CondLock::Lock(lock))))
}

/// Creates a condition over `rlock`: "owned" means "owned by the caller",
/// and `wait` releases every recursion level and restores them.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_new_with_rlock(rlock: *mut pyth_rlock_t) -> *mut pyth_cond_t {
    // SAFETY: the C caller passes a handle from pyth_rlock_new.
    let rlock = match run_or(None, || {
        Ok(Some(unsafe { handle::share::<RLock, _>(rlock, Kind::RLock)? }))
    }) {
        Some(l) => l,
        None => return std::ptr::null_mut(),
    };
    handle::new_raw(Kind::Cond, || Ok(Cond::with_lock(CondLock::RLock(rlock))))
}

unsafe fn cond<'a>(c: *const pyth_cond_t) -> Result<&'a Cond> {
    // SAFETY: forwarded contract: c is NULL or a live handle.
    unsafe { handle::get(c, Kind::Cond) }
}

/// Acquires the underlying lock; as `pyth_lock_acquire`/`pyth_rlock_acquire`.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_acquire(c: *mut pyth_cond_t, blocking: bool, timeout: f64) -> pyth_status {
    run(|| {
        // SAFETY: the C caller passes a handle from pyth_cond_new*.
        let c = unsafe { cond(c)? };
        let timeout = parse_acquire(blocking, timeout, LOCK_NEGATIVE, NONBLOCKING_TIMEOUT)?;
        Ok(ok_or_timeout(c.acquire_timeout(timeout)))
    })
}

/// Releases the underlying lock.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_release(c: *mut pyth_cond_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { cond(c)? }.release()?;
        Ok(PYTH_OK)
    })
}

/// Whether the underlying lock is held by any thread.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_locked(c: *const pyth_cond_t) -> bool {
    // SAFETY: as above.
    run_or(false, || Ok(unsafe { cond(c)? }.locked()))
}

/// Releases the lock, waits until notified or `timeout` seconds pass
/// (`PYTH_FOREVER`: no limit; negative: do not block), and reacquires the
/// lock. `PYTH_OK` only after a notification (no spurious wake-ups),
/// `PYTH_TIMEOUT` otherwise; `PYTH_ERUNTIME` ("cannot wait on un-acquired
/// lock") if the caller does not own the lock.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_wait(c: *mut pyth_cond_t, timeout: f64) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let c = unsafe { cond(c)? };
        let timeout = parse(timeout, Negative::NoBlock).map_err(|e| c.check_owned().err().unwrap_or(e))?;
        Ok(ok_or_timeout(c.wait(timeout)?))
    })
}

/// Waits until `predicate(arg)` returns true, or `timeout` seconds pass.
/// The predicate runs with the lock held, first before any wait.
/// `PYTH_OK` if it returned true, `PYTH_TIMEOUT` if not; `PYTH_EINVAL`
/// for a NULL predicate.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_wait_for(
    c: *mut pyth_cond_t,
    predicate: Option<unsafe extern "C" fn(arg: *mut c_void) -> bool>,
    arg: *mut c_void,
    timeout: f64,
) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let c = unsafe { cond(c)? };
        let predicate = predicate.ok_or(Error::new(ErrorKind::Invalid, "predicate must not be NULL"))?;
        let timeout = parse(timeout, Negative::NoBlock)?;
        // SAFETY: the caller's predicate, with the caller's argument.
        Ok(ok_or_timeout(c.wait_for(|| unsafe { predicate(arg) }, timeout)?))
    })
}

/// Wakes exactly `min(n, waiters)` of the threads waiting at the time of
/// the call, oldest first; `n == 0` does nothing. `PYTH_ERUNTIME` ("cannot
/// notify on un-acquired lock") if the caller does not own the lock.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_notify(c: *mut pyth_cond_t, n: usize) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { cond(c)? }.notify(n)?;
        Ok(PYTH_OK)
    })
}

/// Wakes every waiting thread. `PYTH_ERUNTIME` if the caller does not own
/// the lock.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_notify_all(c: *mut pyth_cond_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { cond(c)? }.notify_all()?;
        Ok(PYTH_OK)
    })
}

/// Frees the condition (and its own RLock, if it made one). NULL is a
/// no-op; `PYTH_EBUSY` while a thread waits on it.
#[no_mangle]
pub unsafe extern "C" fn pyth_cond_free(c: *mut pyth_cond_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe {
        handle::free(c, Kind::Cond, "condition", |c: &Cond| {
            c.has_waiters() || matches!(c.lock(), CondLock::Own(l) if l.has_waiters())
        })
    })
}
