//! `pyth_event_*`: Python's `threading.Event`.

use super::handle::{self, Kind};
use super::status::*;
use super::timeout::{parse, Negative};
use crate::sync::Event;

/// An event flag (Python's `threading.Event`). Opaque.
pub struct pyth_event_t {
    _private: [u8; 0],
}

/// Creates an event whose flag is not set. NULL on failure (`PYTH_ENOMEM`).
#[no_mangle]
pub extern "C" fn pyth_event_new() -> *mut pyth_event_t {
    handle::new_raw(Kind::Event, || Ok(Event::new()))
}

/// Whether the flag is set; false for an invalid handle.
#[no_mangle]
pub unsafe extern "C" fn pyth_event_is_set(e: *const pyth_event_t) -> bool {
    // SAFETY: the C caller passes a handle from pyth_event_new.
    match unsafe { handle::peek::<Event, _>(e, Kind::Event) } {
        Some(e) => e.is_set(),
        // SAFETY: forwarded; reports the bad handle.
        None => run_or(false, || {
            unsafe { handle::get::<Event, _>(e, Kind::Event) }.map(|_| false)
        }),
    }
}

/// Sets the flag and wakes every waiting thread.
#[no_mangle]
pub unsafe extern "C" fn pyth_event_set(e: *mut pyth_event_t) -> pyth_status {
    // SAFETY: the C caller passes a handle from pyth_event_new.
    if let Some(ev) = unsafe { handle::peek::<Event, _>(e, Kind::Event) } {
        if ev.fast_set() {
            return PYTH_OK;
        }
    }
    // SAFETY: forwarded.
    unsafe { event_set(e) }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn event_set(e: *mut pyth_event_t) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        unsafe { handle::get::<Event, _>(e, Kind::Event)? }.set();
        Ok(PYTH_OK)
    })
}

/// Resets the flag.
#[no_mangle]
pub unsafe extern "C" fn pyth_event_clear(e: *mut pyth_event_t) -> pyth_status {
    // SAFETY: the C caller passes a handle from pyth_event_new.
    if let Some(ev) = unsafe { handle::peek::<Event, _>(e, Kind::Event) } {
        ev.clear();
        return PYTH_OK;
    }
    run(|| {
        // SAFETY: as above.
        unsafe { handle::get::<Event, _>(e, Kind::Event)? }.clear();
        Ok(PYTH_OK)
    })
}

/// Waits until the flag is set, at most `timeout` seconds (`PYTH_FOREVER`:
/// no limit; negative: do not wait). `PYTH_OK` if the flag was set (even if
/// cleared again since), `PYTH_TIMEOUT` if not.
#[no_mangle]
pub unsafe extern "C" fn pyth_event_wait(e: *mut pyth_event_t, timeout: f64) -> pyth_status {
    run(|| {
        // SAFETY: as above.
        let e: &Event = unsafe { handle::get(e, Kind::Event)? };
        let timeout = parse(timeout, Negative::NoBlock)?;
        Ok(ok_or_timeout(e.wait(timeout)))
    })
}

/// Frees the event. NULL is a no-op; `PYTH_EBUSY` while a thread waits on it.
#[no_mangle]
pub unsafe extern "C" fn pyth_event_free(e: *mut pyth_event_t) -> pyth_status {
    // SAFETY: as above.
    run(|| unsafe { handle::free(e, Kind::Event, "event", Event::has_waiters) })
}
