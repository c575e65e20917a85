//! Thread identity: Python's `get_ident()` and `get_native_id()`.
//!
//! `get_ident` is the value of `pthread_self()`, as in CPython. It is read on
//! every RLock acquire, so it must cost a register read, not a call: on
//! x86_64 the thread pointer's first word is the thread's own `pthread_t`
//! (glibc and musl both lay the TCB out that way).

/// The calling thread's identifier (`pthread_self()`); never 0.
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

/// The kernel's id for the calling thread (`gettid()`).
pub fn get_native_id() -> u64 {
    // Not cached: a cached value would be wrong in a fork()ed child.
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u64 }
}
