//! `pyth_local_*`: Python's `threading.local`, one pointer per thread.

use super::handle::{self, Kind};
use super::status::*;
use crate::thread::Local;
use std::ffi::c_void;

/// Thread-local data (Python's `threading.local`): one `void *` per thread.
/// Opaque.
pub struct pyth_local_t {
    _private: [u8; 0],
}

/// Creates a local. `init(init_arg)`, if not NULL, computes a thread's
/// value on its first `pyth_local_get`; `dtor`, if not NULL, destroys each
/// non-NULL value: when its thread exits (before `join` on it returns),
/// when `set` replaces it, or when the local is freed. There is no limit
/// on the number of locals.
#[no_mangle]
pub extern "C" fn pyth_local_new(
    init: Option<unsafe extern "C" fn(init_arg: *mut c_void) -> *mut c_void>,
    init_arg: *mut c_void,
    dtor: Option<unsafe extern "C" fn(value: *mut c_void)>,
) -> *mut pyth_local_t {
    handle::new_raw(Kind::Local, || {
        let arg = init_arg as usize;
        // SAFETY: the caller's functions; C promised they may run in any thread.
        let init = init.map(|f| Box::new(move || unsafe { f(arg as *mut c_void) } as usize) as crate::thread::Init);
        // SAFETY: as above.
        let dtor = dtor.map(|f| Box::new(move |v: usize| unsafe { f(v as *mut c_void) }) as crate::thread::Dtor);
        Ok(Local::new(init, dtor))
    })
}

/// The calling thread's value: the one it set, else `init`'s result (run
/// once for this thread), else NULL. NULL for a bad handle.
#[no_mangle]
pub unsafe extern "C" fn pyth_local_get(local: *mut pyth_local_t) -> *mut c_void {
    // SAFETY: the C caller passes a handle from pyth_local_new.
    if let Some(v) = unsafe { handle::peek::<Local, _>(local, Kind::Local) }.and_then(Local::get_fast) {
        return v as *mut c_void;
    }
    // SAFETY: forwarded.
    unsafe { local_get(local) }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn local_get(local: *mut pyth_local_t) -> *mut c_void {
    // SAFETY: forwarded.
    run_or(std::ptr::null_mut(), || {
        Ok(unsafe { handle::get::<Local, _>(local, Kind::Local)? }.get() as *mut c_void)
    })
}

/// Replaces the calling thread's value; the old one, if different and
/// not NULL, goes to `dtor`. `set(NULL)` clears it.
#[no_mangle]
pub unsafe extern "C" fn pyth_local_set(local: *mut pyth_local_t, value: *mut c_void) -> pyth_status {
    // SAFETY: the C caller passes a handle from pyth_local_new.
    if let Some(l) = unsafe { handle::peek::<Local, _>(local, Kind::Local) } {
        if l.set_fast(value as usize) {
            return PYTH_OK;
        }
    }
    // SAFETY: forwarded.
    unsafe { local_set(local, value) }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn local_set(local: *mut pyth_local_t, value: *mut c_void) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { handle::get::<Local, _>(local, Kind::Local)? }.set(value as usize);
        Ok(PYTH_OK)
    })
}

/// Frees the local, running `dtor` on every thread's value. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn pyth_local_free(local: *mut pyth_local_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::free(local, Kind::Local, "local", |_: &Local| false) })
}
