//! The calling thread's TLS block: two words and the first locals' slots,
//! each a register-relative load away.
//!
//! Rust's `thread_local!` in a shared library uses the general-dynamic TLS
//! model, a call to `__tls_get_addr` on every access (~2.7 ns here). The
//! hot paths `current_thread()` and `local_get()` cannot afford that, so on
//! x86_64 Linux the block is an initial-exec TLS object defined in
//! assembly: one load of its offset from the GOT, one `fs:`-relative
//! access. (Initial-exec TLS in a dlopen()ed library uses glibc's static TLS
//! surplus, about 1.5 KiB; this block takes 312 bytes of it.)

use super::local::Chunk0;

/// Byte offset of the chunk in the block, after the two words.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
const CHUNK0_AT: usize = 16;

#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
mod imp {
    use super::{Chunk0, CHUNK0_AT};

    std::arch::global_asm!(
        ".section .tbss,\"awT\",@nobits",
        ".globl __pyth_tls",
        ".hidden __pyth_tls",
        ".type __pyth_tls, @object",
        ".size __pyth_tls, {size}",
        ".p2align 3",
        "__pyth_tls:",
        ".zero {size}",
        ".text",
        size = const CHUNK0_AT + std::mem::size_of::<Chunk0>(),
    );

    macro_rules! word {
        ($get:ident, $set:ident, $off:literal) => {
            #[inline(always)]
            pub(crate) fn $get() -> usize {
                let v: usize;
                // SAFETY: reads this thread's own TLS word.
                unsafe {
                    std::arch::asm!(
                        "mov {v}, qword ptr [rip + __pyth_tls@GOTTPOFF]",
                        concat!("mov {v}, qword ptr fs:[{v} + ", $off, "]"),
                        v = out(reg) v,
                        options(nostack, readonly, preserves_flags),
                    );
                }
                v
            }

            #[inline(always)]
            pub(crate) fn $set(value: usize) {
                // SAFETY: writes this thread's own TLS word.
                unsafe {
                    std::arch::asm!(
                        "mov {t}, qword ptr [rip + __pyth_tls@GOTTPOFF]",
                        concat!("mov qword ptr fs:[{t} + ", $off, "], {v}"),
                        t = out(reg) _,
                        v = in(reg) value,
                        options(nostack, preserves_flags),
                    );
                }
            }
        };
    }

    word!(current, set_current, "0");
    word!(locals, set_locals, "8");

    /// The word at byte `off` of this thread's chunk 0, read as an acquire
    /// load (a plain `mov` on x86_64): the whole of a local's fast get.
    #[inline(always)]
    pub(crate) fn chunk0_word(off: usize) -> usize {
        let v: usize;
        // SAFETY: `off` is inside the chunk (Local keeps it so).
        unsafe {
            std::arch::asm!(
                "mov {v}, qword ptr [rip + __pyth_tls@GOTTPOFF]",
                "mov {v}, qword ptr fs:[{v} + {o} + {at}]",
                v = out(reg) v,
                o = in(reg) off,
                at = const CHUNK0_AT,
                options(nostack, readonly, preserves_flags),
            );
        }
        v
    }

    /// `locals()` and `chunk0()` with one load of the block's offset.
    #[inline(always)]
    pub(crate) fn locals_and_chunk0() -> (usize, *const Chunk0) {
        let (w, p): (usize, usize);
        // SAFETY: reads this thread's own TLS word and the thread pointer.
        unsafe {
            std::arch::asm!(
                "mov {t}, qword ptr [rip + __pyth_tls@GOTTPOFF]",
                "mov {w}, qword ptr fs:[{t} + 8]",
                "mov {p}, qword ptr fs:[0]",
                "add {p}, {t}",
                t = out(reg) _,
                w = out(reg) w,
                p = out(reg) p,
                options(nostack, readonly),
            );
        }
        (w, (p + CHUNK0_AT) as *const Chunk0)
    }

    /// The address of this thread's chunk 0, valid until the thread ends.
    #[inline(always)]
    pub(crate) fn chunk0() -> *const Chunk0 {
        let p: usize;
        // SAFETY: computes an address; reads only the thread pointer.
        unsafe {
            std::arch::asm!(
                "mov {p}, qword ptr fs:[0]",
                "add {p}, qword ptr [rip + __pyth_tls@GOTTPOFF]",
                p = out(reg) p,
                options(nostack, readonly),
            );
        }
        (p + CHUNK0_AT) as *const Chunk0
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(loom))))]
mod imp {
    use super::Chunk0;
    use std::cell::Cell;

    thread_local! {
        static CURRENT: Cell<usize> = const { Cell::new(0) };
        static LOCALS: Cell<usize> = const { Cell::new(0) };
        static CHUNK0: Chunk0 = const { Chunk0::new() };
    }

    pub(crate) fn current() -> usize {
        CURRENT.with(Cell::get)
    }
    pub(crate) fn set_current(v: usize) {
        CURRENT.with(|c| c.set(v))
    }
    pub(crate) fn locals() -> usize {
        LOCALS.with(Cell::get)
    }
    pub(crate) fn set_locals(v: usize) {
        LOCALS.with(|c| c.set(v))
    }
    pub(crate) fn chunk0() -> *const Chunk0 {
        CHUNK0.with(|c| c as *const Chunk0)
    }
    pub(crate) fn locals_and_chunk0() -> (usize, *const Chunk0) {
        (locals(), chunk0())
    }
    pub(crate) fn chunk0_word(off: usize) -> usize {
        // SAFETY: `off` is the byte offset of an aligned word in the chunk.
        unsafe { &*chunk0().cast::<u8>().add(off).cast::<std::sync::atomic::AtomicUsize>() }
            .load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The block: `current` is the `*const Handle` of the calling libpyth
/// thread (0 if none yet); `locals` is its local-value table, tagged (see
/// `local`); `chunk0` holds the slots of the first locals.
pub(crate) use imp::{chunk0, chunk0_word, current, locals, locals_and_chunk0, set_current, set_locals};

/// A pthread key with destructor `dtor`, made on first use and kept in
/// `slot` (which starts as `usize::MAX`); `None` if the process is out of
/// keys. Made without a lock, so a `fork()` can never catch it half made.
pub(crate) fn lazy_key(
    slot: &std::sync::atomic::AtomicUsize,
    dtor: unsafe extern "C" fn(*mut libc::c_void),
) -> Option<libc::pthread_key_t> {
    use std::sync::atomic::Ordering::{AcqRel, Acquire};
    let k = slot.load(Acquire);
    if k != usize::MAX {
        return Some(k as libc::pthread_key_t);
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain call; the destructor cannot unwind (extern "C").
    if unsafe { libc::pthread_key_create(&mut key, Some(dtor)) } != 0 {
        return None;
    }
    match slot.compare_exchange(usize::MAX, key as usize, AcqRel, Acquire) {
        Ok(_) => Some(key),
        Err(winner) => {
            // SAFETY: our own key, never used.
            unsafe { libc::pthread_key_delete(key) };
            Some(winner as libc::pthread_key_t)
        }
    }
}
