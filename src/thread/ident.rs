//! Thread identity: Python's `get_ident()` and `get_native_id()`.
//!
//! `get_ident` is the value of `pthread_self()`, as in CPython. It is read on
//! every RLock acquire, so it must cost a register read, not a call: on
//! x86_64 the thread pointer's first word is the thread's own `pthread_t`
//! (glibc and musl both lay the TCB out that way).

/// The calling thread's identifier (`pthread_self()`); never 0.
#[cfg(not(loom))]
#[inline(always)]
pub fn get_ident() -> u64 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let tp: u64;
        // SAFETY: fs:0 is the TCB self-pointer on x86_64 Linux; reading it
        // has no side effects.
        unsafe {
            core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
                options(nostack, readonly, preserves_flags, pure));
        }
        tp
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        // SAFETY: pthread_self has no preconditions.
        unsafe { libc::pthread_self() as u64 }
    }
}

/// Under loom every loom thread of a model runs on the one OS thread that
/// called `loom::model`, so the thread pointer cannot tell them apart: each
/// loom thread gets a number of its own instead (never 0, never reused).
#[cfg(loom)]
pub fn get_ident() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    loom::thread_local! {
        static IDENT: u64 = NEXT.fetch_add(1, Relaxed);
    }
    IDENT.with(|id| *id)
}

/// The kernel's id for the calling thread (`gettid()`).
pub fn get_native_id() -> u64 {
    // Not cached: a cached value would be wrong in a fork()ed child.
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u64 }
}
