//! Handles: the one place that allocates, validates and frees the objects
//! C holds pointers to.
//!
//! A handle is a `crate::shared::Shared` block `{refs, kind, value}`. The
//! `kind` word is checked on every call, which catches NULL, a handle of
//! another kind, and (usually) a freed one, because freeing overwrites it.

use crate::error::{Error, ErrorKind, Result};
use crate::ffi::status::*;
pub use crate::shared::{Handle, Kind, Shared};

const BAD_HANDLE: Error = Error::new(ErrorKind::Invalid, "invalid or freed handle");
const NULL_HANDLE: Error = Error::new(ErrorKind::Invalid, "NULL handle");

/// Checks a pointer from C and borrows the value it designates.
///
/// # Safety
/// `p` must be NULL or a pointer libpyth returned and that was not freed
/// (a freed one is detected only while its memory is not reused).
#[inline(always)]
pub unsafe fn get<'a, T, P>(p: *const P, kind: Kind) -> Result<&'a T> {
    let h = p.cast::<Handle<T>>();
    if h.is_null() {
        return Err(NULL_HANDLE);
    }
    if h as usize & (std::mem::align_of::<Handle<T>>() - 1) != 0 {
        return Err(BAD_HANDLE);
    }
    // SAFETY: per the caller's contract the memory is a live handle of some
    // kind; every kind starts with the same two fields.
    if unsafe { Handle::kind_of(h) } != kind as u32 {
        return Err(BAD_HANDLE);
    }
    // SAFETY: the tag says this block holds a T.
    Ok(unsafe { Handle::value_of(h) })
}

/// The fast paths' check: the value behind `p` if it is a live handle of
/// `kind`, else `None` (the caller then takes its full path, which reports
/// the error). Inlined into every fast path: a NULL test, an alignment
/// test and one compare of the tag.
///
/// # Safety
/// As for [`get`].
#[inline(always)]
pub unsafe fn peek<'a, T, P>(p: *const P, kind: Kind) -> Option<&'a T> {
    let h = p.cast::<Handle<T>>();
    // Two tests, not one clever one: measured, they cost least. (The low
    // byte holds every alignment bit a handle has.)
    let misaligned = (h as usize as u8) & (std::mem::align_of::<Handle<T>>() - 1) as u8 != 0;
    if h.is_null() || misaligned {
        return None;
    }
    // SAFETY: not NULL and aligned; then as for `get`.
    if unsafe { Handle::kind_of(h) } != kind as u32 {
        return None;
    }
    // SAFETY: the tag says this block holds a T.
    Some(unsafe { Handle::value_of(h) })
}

/// Takes a new counted reference to the handle behind `p`.
///
/// # Safety
/// As for [`get`].
pub unsafe fn share<T, P>(p: *const P, kind: Kind) -> Result<Shared<T>> {
    // SAFETY: forwarded contract.
    unsafe { get::<T, P>(p, kind)? };
    // SAFETY: checked above; the new reference is counted.
    Ok(unsafe { Shared::clone_raw(p.cast::<Handle<T>>()) })
}

/// Frees C's reference to the handle behind `p`: NULL is a no-op; a handle
/// that `busy` says is in use, or that another object still references, is
/// refused with `PYTH_EBUSY` and stays valid.
///
/// # Safety
/// As for [`get`].
pub unsafe fn free<T, P>(p: *mut P, kind: Kind, what: &'static str, busy: impl Fn(&T) -> bool) -> Result<pyth_status> {
    if p.is_null() {
        return Ok(PYTH_OK);
    }
    // SAFETY: forwarded contract.
    let value = unsafe { get::<T, P>(p, kind)? };
    // SAFETY: checked above; C gives up its reference here.
    let shared = unsafe { Shared::from_raw(p.cast::<Handle<T>>()) };
    if busy(value) || shared.refs() > 1 {
        std::mem::forget(shared);
        return Err(Error::with_message(
            ErrorKind::Busy,
            format!("{what} is in use by another thread or object"),
        ));
    }
    drop(shared);
    Ok(PYTH_OK)
}

/// Frees one reference unconditionally (threads, futures: objects whose
/// life C shares with the library).
///
/// # Safety
/// As for [`get`].
pub unsafe fn release<T, P>(p: *mut P, kind: Kind) -> Result<pyth_status> {
    if p.is_null() {
        return Ok(PYTH_OK);
    }
    // SAFETY: forwarded contract.
    unsafe { get::<T, P>(p, kind)? };
    // SAFETY: checked above; C gives up its reference here.
    drop(unsafe { Shared::from_raw(p.cast::<Handle<T>>()) });
    Ok(PYTH_OK)
}

/// Allocates a handle for a constructor and gives it to C, or records the
/// error and returns NULL.
pub fn new_raw<T, P>(kind: Kind, make: impl FnOnce() -> Result<T>) -> *mut P {
    run_or(std::ptr::null_mut(), || Ok(Shared::new(kind, make()?)?.into_raw()))
}
