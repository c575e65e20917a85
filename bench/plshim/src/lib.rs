//! parking_lot behind `extern "C"`, for bench/bench.c only.
//!
//! Every object is a `Box` handed to C as an opaque pointer. Locks are used
//! through their raw interfaces so that C can lock in one call and unlock in
//! another, which is how libpyth is called; no guard outlives a call.

use lock_api::{RawMutex as _, RawReentrantMutex};
use parking_lot::{Condvar, Mutex, RawMutex, RawThreadId};
use std::mem::{forget, size_of};

type ReMutex = RawReentrantMutex<RawMutex, RawThreadId>;

// ---- mutex ------------------------------------------------------------------

// A Mutex<()> rather than a bare RawMutex: a condvar needs a guard over a
// Mutex to wait on.
#[no_mangle]
pub extern "C" fn plshim_mutex_new() -> *mut Mutex<()> {
    Box::into_raw(Box::new(Mutex::new(())))
}

/// # Safety
/// `m` comes from `plshim_mutex_new`.
#[no_mangle]
pub unsafe extern "C" fn plshim_mutex_lock(m: *mut Mutex<()>) {
    unsafe { (*m).raw().lock() }
}

/// # Safety
/// `m` comes from `plshim_mutex_new`.
#[no_mangle]
pub unsafe extern "C" fn plshim_mutex_try_lock(m: *mut Mutex<()>) -> bool {
    unsafe { (*m).raw().try_lock() }
}

/// # Safety
/// `m` is locked (by anyone: parking_lot's raw mutex is not owned).
#[no_mangle]
pub unsafe extern "C" fn plshim_mutex_unlock(m: *mut Mutex<()>) {
    unsafe { (*m).force_unlock() }
}

/// # Safety
/// `m` comes from `plshim_mutex_new` and is not used again.
#[no_mangle]
pub unsafe extern "C" fn plshim_mutex_free(m: *mut Mutex<()>) {
    drop(unsafe { Box::from_raw(m) })
}

// ---- diagnostic: a mutex behind a checked tag, as libpyth's handles are ----

/// A tag word and the lock word on one cache line, the tag read before every
/// lock and unlock: what libpyth's handle check does. Only to measure what
/// that read costs when the line bounces between two cores.
#[repr(C, align(64))]
pub struct Tagged {
    tag: std::sync::atomic::AtomicU32,
    lock: RawMutex,
}

const TAG: u32 = 0x7079_7401;

#[no_mangle]
pub extern "C" fn plshim_tagged_new() -> *mut Tagged {
    Box::into_raw(Box::new(Tagged {
        tag: TAG.into(),
        lock: RawMutex::INIT,
    }))
}

/// # Safety
/// `m` comes from `plshim_tagged_new`.
#[no_mangle]
pub unsafe extern "C" fn plshim_tagged_lock(m: *mut Tagged) {
    let m = unsafe { &*m };
    if m.tag.load(std::sync::atomic::Ordering::Relaxed) == TAG {
        m.lock.lock()
    }
}

/// # Safety
/// `m` is locked.
#[no_mangle]
pub unsafe extern "C" fn plshim_tagged_unlock(m: *mut Tagged) {
    let m = unsafe { &*m };
    if m.tag.load(std::sync::atomic::Ordering::Relaxed) == TAG {
        unsafe { m.lock.unlock() }
    }
}

/// # Safety
/// `m` comes from `plshim_tagged_new` and is not used again.
#[no_mangle]
pub unsafe extern "C" fn plshim_tagged_free(m: *mut Tagged) {
    drop(unsafe { Box::from_raw(m) })
}

// ---- reentrant mutex --------------------------------------------------------

#[no_mangle]
pub extern "C" fn plshim_remutex_new() -> *mut ReMutex {
    Box::into_raw(Box::new(ReMutex::INIT))
}

/// # Safety
/// `m` comes from `plshim_remutex_new`.
#[no_mangle]
pub unsafe extern "C" fn plshim_remutex_lock(m: *mut ReMutex) {
    unsafe { (*m).lock() }
}

/// # Safety
/// The calling thread holds `m`.
#[no_mangle]
pub unsafe extern "C" fn plshim_remutex_unlock(m: *mut ReMutex) {
    unsafe { (*m).unlock() }
}

/// # Safety
/// `m` comes from `plshim_remutex_new` and is not used again.
#[no_mangle]
pub unsafe extern "C" fn plshim_remutex_free(m: *mut ReMutex) {
    drop(unsafe { Box::from_raw(m) })
}

// ---- condvar ----------------------------------------------------------------

#[no_mangle]
pub extern "C" fn plshim_cond_new() -> *mut Condvar {
    Box::into_raw(Box::new(Condvar::new()))
}

/// # Safety
/// The calling thread holds `m`, locked with `plshim_mutex_lock`; it holds
/// it again on return.
#[no_mangle]
pub unsafe extern "C" fn plshim_cond_wait(c: *mut Condvar, m: *mut Mutex<()>) {
    // The guard stands for the lock C already holds; forgetting it leaves
    // the lock held for C's own unlock call.
    let mut guard = unsafe { (*m).make_guard_unchecked() };
    unsafe { (*c).wait(&mut guard) };
    forget(guard);
}

/// # Safety
/// `c` comes from `plshim_cond_new`.
#[no_mangle]
pub unsafe extern "C" fn plshim_cond_notify_one(c: *mut Condvar) {
    unsafe { (*c).notify_one() };
}

/// # Safety
/// `c` comes from `plshim_cond_new`.
#[no_mangle]
pub unsafe extern "C" fn plshim_cond_notify_all(c: *mut Condvar) {
    unsafe { (*c).notify_all() };
}

/// # Safety
/// `c` comes from `plshim_cond_new`, and no thread waits on it.
#[no_mangle]
pub unsafe extern "C" fn plshim_cond_free(c: *mut Condvar) {
    drop(unsafe { Box::from_raw(c) })
}

// ---- event: a flag under a mutex plus a condvar, as CPython builds one ------

pub struct Event {
    flag: Mutex<bool>,
    cond: Condvar,
}

#[no_mangle]
pub extern "C" fn plshim_event_new() -> *mut Event {
    Box::into_raw(Box::new(Event {
        flag: Mutex::new(false),
        cond: Condvar::new(),
    }))
}

/// # Safety
/// `e` comes from `plshim_event_new`.
#[no_mangle]
pub unsafe extern "C" fn plshim_event_set(e: *mut Event) {
    let e = unsafe { &*e };
    let mut flag = e.flag.lock();
    *flag = true;
    e.cond.notify_all();
}

/// # Safety
/// `e` comes from `plshim_event_new`.
#[no_mangle]
pub unsafe extern "C" fn plshim_event_clear(e: *mut Event) {
    *unsafe { &*e }.flag.lock() = false;
}

/// # Safety
/// `e` comes from `plshim_event_new`.
#[no_mangle]
pub unsafe extern "C" fn plshim_event_wait(e: *mut Event) {
    let e = unsafe { &*e };
    let mut flag = e.flag.lock();
    while !*flag {
        e.cond.wait(&mut flag);
    }
}

/// # Safety
/// `e` comes from `plshim_event_new`, and no thread waits on it.
#[no_mangle]
pub unsafe extern "C" fn plshim_event_free(e: *mut Event) {
    drop(unsafe { Box::from_raw(e) })
}

// ---- sizes, for the bytes-per-primitive table ---------------------------------

#[no_mangle]
pub extern "C" fn plshim_sizeof_mutex() -> usize {
    size_of::<Mutex<()>>()
}

#[no_mangle]
pub extern "C" fn plshim_sizeof_remutex() -> usize {
    size_of::<ReMutex>()
}

#[no_mangle]
pub extern "C" fn plshim_sizeof_cond() -> usize {
    size_of::<Condvar>()
}

#[no_mangle]
pub extern "C" fn plshim_sizeof_event() -> usize {
    size_of::<Event>()
}
