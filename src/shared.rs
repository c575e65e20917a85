//! `Shared<T>`: the reference-counted block behind every handle.
//!
//! Like an `Arc`, with two differences that C needs: the block starts with
//! a kind tag that the C boundary checks on every call, and allocation
//! failure is an error (`MemoryError`) instead of an abort. The core uses it
//! where one object must have one address for its whole life (a thread's
//! handle is the same pointer in `pyth_thread_new` and `current_thread`).

use crate::error::{Error, ErrorKind, Result};
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

impl<T> Handle<T> {
    /// Reads the kind tag.
    ///
    /// # Safety
    /// `h` must point to readable memory of at least a handle's header.
    #[inline(always)]
    pub unsafe fn kind_of(h: *const Self) -> u32 {
        // SAFETY: forwarded contract.
        unsafe { (*h).kind.load(Relaxed) }
    }

    /// Borrows the value.
    ///
    /// # Safety
    /// `h` must be a live handle holding a `T`.
    #[inline(always)]
    pub unsafe fn value_of<'a>(h: *const Self) -> &'a T {
        // SAFETY: forwarded contract.
        unsafe { &(*h).value }
    }
}

/// One counted reference to a handle.
pub struct Shared<T>(NonNull<Handle<T>>);

// SAFETY: a Shared is an Arc in all but name: the value is shared between
// threads, so it must be Send + Sync itself.
unsafe impl<T: Send + Sync> Send for Shared<T> {}
unsafe impl<T: Send + Sync> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Allocates a handle holding `value`.
    pub fn new(kind: Kind, value: T) -> Result<Self> {
        let layout = Layout::new::<Handle<T>>();
        // SAFETY: the layout has a non-zero size (it holds two words).
        let p = unsafe { alloc(layout) }.cast::<Handle<T>>();
        let p = NonNull::new(p).ok_or(NO_MEMORY)?;
        // SAFETY: p is freshly allocated for a Handle<T>.
        unsafe {
            p.as_ptr().write(Handle {
                refs: AtomicUsize::new(1),
                kind: AtomicU32::new(kind as u32),
                value,
            })
        };
        Ok(Shared(p))
    }

    /// Gives the reference to C.
    pub fn into_raw<P>(self) -> *mut P {
        let p = self.0.as_ptr().cast();
        std::mem::forget(self);
        p
    }

    /// Takes back a reference given away with `into_raw`.
    ///
    /// # Safety
    /// `p` must come from `into_raw` (or be a live handle whose reference
    /// the caller owns) and not be used through that reference again.
    pub unsafe fn from_raw(p: *const Handle<T>) -> Self {
        // SAFETY: non-null per the contract.
        Shared(unsafe { NonNull::new_unchecked(p.cast_mut()) })
    }

    /// A new counted reference to a live handle.
    ///
    /// # Safety
    /// `p` must be a live handle holding a `T`.
    pub unsafe fn clone_raw(p: *const Handle<T>) -> Self {
        // SAFETY: forwarded contract.
        unsafe { (*p).refs.fetch_add(1, Relaxed) };
        // SAFETY: non-null per the contract.
        Shared(unsafe { NonNull::new_unchecked(p.cast_mut()) })
    }

    /// The block's address, which is the C handle.
    pub fn as_ptr(&self) -> *const Handle<T> {
        self.0.as_ptr()
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

/// `Box::new` that reports allocation failure instead of aborting, for the
/// boxes a constructor makes before its handle.
pub fn try_box<T>(value: T) -> Result<Box<T>> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        return Ok(Box::new(value));
    }
    // SAFETY: non-zero size.
    let p = NonNull::new(unsafe { alloc(layout) }.cast::<T>()).ok_or(NO_MEMORY)?;
    // SAFETY: freshly allocated with T's layout, as Box expects.
    unsafe {
        p.as_ptr().write(value);
        Ok(Box::from_raw(p.as_ptr()))
    }
}

/// `MemoryError`, for an allocation that failed.
pub(crate) const NO_MEMORY: Error = Error::new(ErrorKind::NoMemory, "out of memory");
