//! Status codes, the per-thread last error, and the one mapping from core
//! errors to codes.

use crate::error::{Error, ErrorKind, Result};
use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The result of every fallible libpyth call that is not a constructor:
/// `PYTH_OK` (0), a non-error outcome (> 0), or an error (< 0).
pub type pyth_status = c_int;

/// Done (Python: a normal return, or `True`).
pub const PYTH_OK: pyth_status = 0;
/// Not acquired, timed out, or would block (Python: `False`).
pub const PYTH_TIMEOUT: pyth_status = 1;
/// A non-blocking or timed `get` found nothing (`queue.Empty`).
pub const PYTH_EMPTY: pyth_status = 2;
/// A non-blocking or timed `put` found no room (`queue.Full`).
pub const PYTH_FULL: pyth_status = 3;
/// The call is not allowed in the object's state (`RuntimeError`).
pub const PYTH_ERUNTIME: pyth_status = -1;
/// An argument is out of its domain (`ValueError`).
pub const PYTH_EVALUE: pyth_status = -2;
/// A number is too large, such as a timeout above `PYTH_TIMEOUT_MAX` (`OverflowError`).
pub const PYTH_EOVERFLOW: pyth_status = -3;
/// The barrier is broken, was reset or aborted (`BrokenBarrierError`).
pub const PYTH_EBROKEN: pyth_status = -4;
/// Memory could not be allocated (`MemoryError`).
pub const PYTH_ENOMEM: pyth_status = -5;
/// A NULL or wrong-kind handle, a NULL required pointer, or an operation
/// this kind of object lacks (`TypeError`/`AttributeError`).
pub const PYTH_EINVAL: pyth_status = -6;
/// The object cannot be freed: a thread is blocked on it or another object
/// still uses it.
pub const PYTH_EBUSY: pyth_status = -7;
/// The queue or executor was shut down (`queue.ShutDown`).
pub const PYTH_ESHUTDOWN: pyth_status = -8;
/// The future was cancelled (`CancelledError`).
pub const PYTH_ECANCELLED: pyth_status = -9;
/// The future's callable reported failure (the exception it raised).
pub const PYTH_EFAILED: pyth_status = -10;

/// The status code for a core error kind: the only such mapping.
pub(crate) const fn code_of(kind: ErrorKind) -> pyth_status {
    match kind {
        ErrorKind::Runtime => PYTH_ERUNTIME,
        ErrorKind::Value => PYTH_EVALUE,
        ErrorKind::Overflow => PYTH_EOVERFLOW,
        ErrorKind::Broken => PYTH_EBROKEN,
        ErrorKind::NoMemory => PYTH_ENOMEM,
        ErrorKind::Invalid => PYTH_EINVAL,
        ErrorKind::Busy => PYTH_EBUSY,
        ErrorKind::Shutdown => PYTH_ESHUTDOWN,
        ErrorKind::Cancelled => PYTH_ECANCELLED,
        ErrorKind::Failed => PYTH_EFAILED,
    }
}

const MESSAGE_CAP: usize = 256;

// A fixed buffer, not a String: recording an error must not allocate, or a
// MemoryError could not be reported. Const-initialised with no destructor,
// so touching it never registers anything either.
thread_local! {
    static LAST_MESSAGE: UnsafeCell<[u8; MESSAGE_CAP]> = const { UnsafeCell::new([0; MESSAGE_CAP]) };
    static LAST_STATUS: Cell<pyth_status> = const { Cell::new(PYTH_OK) };
}

/// Records `error` as the calling thread's last error and returns its code.
#[cold]
#[inline(never)]
pub(crate) fn fail(error: &Error) -> pyth_status {
    let code = code_of(error.kind());
    let msg = error.message().as_bytes();
    let len = msg.len().min(MESSAGE_CAP - 1);
    LAST_MESSAGE.with(|buf| {
        // SAFETY: the buffer is this thread's own, and no reference to it is
        // alive here (pyth_last_error hands out a raw pointer only).
        let buf = unsafe { &mut *buf.get() };
        buf[..len].copy_from_slice(&msg[..len]);
        buf[len] = 0;
    });
    LAST_STATUS.with(|s| s.set(code));
    code
}

const PANIC: Error = Error::new(
    ErrorKind::Runtime,
    "internal error in libpyth (a bug: please report it)",
);

/// Runs the body of a status-returning C function: no panic escapes, and
/// an error is recorded for `pyth_last_error`.
#[inline(always)]
pub(crate) fn run(body: impl FnOnce() -> Result<pyth_status>) -> pyth_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => fail(&e),
        Err(_) => fail(&PANIC),
    }
}

/// Like `run`, for functions whose failure value is `fallback` (NULL,
/// false, 0) rather than a status.
#[inline(always)]
pub(crate) fn run_or<T>(fallback: T, body: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            fail(&e);
            fallback
        }
        Err(_) => {
            fail(&PANIC);
            fallback
        }
    }
}

/// `PYTH_OK` when true, `PYTH_TIMEOUT` when false.
#[inline(always)]
pub(crate) fn ok_or_timeout(done: bool) -> pyth_status {
    if done {
        PYTH_OK
    } else {
        PYTH_TIMEOUT
    }
}

/// The name of a status code, such as `"PYTH_EVALUE"`; `"PYTH_UNKNOWN"`
/// for a value that is not one. The string is static.
#[no_mangle]
pub extern "C" fn pyth_strerror(status: pyth_status) -> *const c_char {
    let s: &'static [u8] = match status {
        PYTH_OK => b"PYTH_OK\0",
        PYTH_TIMEOUT => b"PYTH_TIMEOUT\0",
        PYTH_EMPTY => b"PYTH_EMPTY\0",
        PYTH_FULL => b"PYTH_FULL\0",
        PYTH_ERUNTIME => b"PYTH_ERUNTIME\0",
        PYTH_EVALUE => b"PYTH_EVALUE\0",
        PYTH_EOVERFLOW => b"PYTH_EOVERFLOW\0",
        PYTH_EBROKEN => b"PYTH_EBROKEN\0",
        PYTH_ENOMEM => b"PYTH_ENOMEM\0",
        PYTH_EINVAL => b"PYTH_EINVAL\0",
        PYTH_EBUSY => b"PYTH_EBUSY\0",
        PYTH_ESHUTDOWN => b"PYTH_ESHUTDOWN\0",
        PYTH_ECANCELLED => b"PYTH_ECANCELLED\0",
        PYTH_EFAILED => b"PYTH_EFAILED\0",
        _ => b"PYTH_UNKNOWN\0",
    };
    s.as_ptr().cast()
}

/// The calling thread's message for its last failed call, worded like
/// Python's (for example `"release unlocked lock"`); `""` if no call has
/// failed on this thread. Valid until this thread's next failing call.
#[no_mangle]
pub extern "C" fn pyth_last_error() -> *const c_char {
    LAST_MESSAGE.with(|buf| buf.get().cast::<c_char>().cast_const())
}

/// The status code of the calling thread's last failed call (`PYTH_OK` if
/// none failed), so that a constructor's NULL can be told apart.
#[no_mangle]
pub extern "C" fn pyth_last_status() -> pyth_status {
    LAST_STATUS.with(|s| s.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// A panic under `run` or `run_or` is caught at the boundary and
    /// reported like any failure (it prints its message on the way).
    #[test]
    fn a_panic_becomes_a_runtime_error() {
        assert_eq!(run(|| panic!("deliberate")), PYTH_ERUNTIME);
        assert_eq!(pyth_last_status(), PYTH_ERUNTIME);
        // SAFETY: the calling thread's message, valid until its next failure.
        let msg = unsafe { CStr::from_ptr(pyth_last_error()) }.to_str().unwrap();
        assert!(msg.starts_with("internal error in libpyth"), "{msg}");
        assert_eq!(run(|| Ok(PYTH_TIMEOUT)), PYTH_TIMEOUT);
        assert_eq!(run_or(7usize, || panic!("deliberate")), 7);
        assert_eq!(pyth_last_status(), PYTH_ERUNTIME);
    }
}
