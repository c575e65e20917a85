//! Handles: the one place that allocates, validates and frees the objects
//! C holds pointers to.
//!
//! A handle is a reference-counted block `{refs, kind, value}`. The `kind`
//! word is checked on every call, which catches NULL, a handle of another
//! kind, and (usually) a freed one, because freeing overwrites it. The
//! block is allocated with the fallible allocator so that running out of
//! memory is a `PYTH_ENOMEM`, not an abort.

use crate::error::{Error, ErrorKind, Result};
use crate::ffi::status::*;
use std::alloc::{alloc, dealloc, Layout};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicUsize, Ordering::*};

/// The kind tag of each handle type. The values are arbitrary but unlikely
/// to appear by accident in memory that is not a handle.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum Kind {
    Lock = 0x7079_7401,
    RLock = 0x7079_7402,
    Cond = 0x7079_7403,
    Semaphore = 0x7079_7404,
    Event = 0x7079_7405,
    Barrier = 0x7079_7406,
    Thread = 0x7079_7407,
    Local = 0x7079_7408,
    Queue = 0x7079_7409,
    Executor = 0x7079_740a,
    Future = 0x7079_740b,
}

/// Written over the tag just before a handle's memory is released.
const FREED: u32 = 0xdead_f4ee;

#[repr(C)]
pub struct Handle<T> {
    refs: AtomicUsize,
    kind: AtomicU32,
    value: T,
}

/// One counted reference to a handle.
pub struct Shared<T>(NonNull<Handle<T>>);

// SAFETY: a Shared is an Arc in all but name: the value is shared between
// threads, so it must be Send + Sync itself.
unsafe impl<T: Send + Sync> Send for Shared<T> {}
unsafe impl<T: Send + Sync> Sync for Shared<T> {}

const NO_MEMORY: Error = Error::new(ErrorKind::NoMemory, "out of memory");
const BAD_HANDLE: Error = Error::new(ErrorKind::Invalid, "invalid or freed handle");
const NULL_HANDLE: Error = Error::new(ErrorKind::Invalid, "NULL handle");

impl<T> Shared<T> {
    /// Allocates a handle holding `value`.
    pub fn new(kind: Kind, value: T) -> Result<Self> {
        let layout = Layout::new::<Handle<T>>();
        // SAFETY: the layout has a non-zero size (it holds two words).
        let p = unsafe { alloc(layout) }.cast::<Handle<T>>();
        let p = NonNull::new(p).ok_or(NO_MEMORY)?;
        // SAFETY: p is freshly allocated for a Handle<T>.
        unsafe { p.as_ptr().write(Handle { refs: AtomicUsize::new(1), kind: AtomicU32::new(kind as u32), value }) };
        Ok(Shared(p))
    }

    /// Gives the reference to C.
    pub fn into_raw<P>(self) -> *mut P {
        let p = self.0.as_ptr().cast();
        std::mem::forget(self);
        p
    }

    /// The number of references.
    pub fn refs(&self) -> usize {
        // SAFETY: self holds a reference, so the block is alive.
        unsafe { self.0.as_ref() }.refs.load(Acquire)
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        // SAFETY: self holds a reference, so the block is alive.
        unsafe { self.0.as_ref() }.refs.fetch_add(1, Relaxed);
        Shared(self.0)
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: self holds a reference until this point.
        let h = unsafe { self.0.as_ref() };
        if h.refs.fetch_sub(1, Release) != 1 {
            return;
        }
        fence(Acquire);
        h.kind.store(FREED, Relaxed);
        // SAFETY: this was the last reference; nobody else can reach the
        // block (C promised not to use its pointer after free).
        unsafe {
            std::ptr::drop_in_place(&mut (*self.0.as_ptr()).value);
            dealloc(self.0.as_ptr().cast(), Layout::new::<Handle<T>>());
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: self holds a reference, so the block is alive.
        unsafe { &self.0.as_ref().value }
    }
}

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
    if unsafe { (*h).kind.load(Relaxed) } != kind as u32 {
        return Err(BAD_HANDLE);
    }
    // SAFETY: the tag says this block holds a T.
    Ok(unsafe { &(*h).value })
}

/// Takes a new counted reference to the handle behind `p`.
///
/// # Safety
/// As for [`get`].
pub unsafe fn share<T, P>(p: *const P, kind: Kind) -> Result<Shared<T>> {
    // SAFETY: forwarded contract.
    unsafe { get::<T, P>(p, kind)? };
    let s = Shared(NonNull::new(p.cast_mut().cast::<Handle<T>>()).ok_or(NULL_HANDLE)?);
    let extra = s.clone();
    std::mem::forget(s);
    Ok(extra)
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
    let shared = Shared(NonNull::new(p.cast::<Handle<T>>()).ok_or(NULL_HANDLE)?);
    if busy(value) || shared.refs() > 1 {
        std::mem::forget(shared);
        return Err(Error::with_message(ErrorKind::Busy, format!("{what} is in use by another thread or object")));
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
    drop(Shared(NonNull::new(p.cast::<Handle<T>>()).ok_or(NULL_HANDLE)?));
    Ok(PYTH_OK)
}

/// Allocates a handle for a constructor and gives it to C, or records the
/// error and returns NULL.
pub fn new_raw<T, P>(kind: Kind, make: impl FnOnce() -> Result<T>) -> *mut P {
    run_or(std::ptr::null_mut(), || Ok(Shared::new(kind, make()?)?.into_raw()))
}
