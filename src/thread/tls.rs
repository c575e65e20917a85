//! Two words of thread-local storage that cost a register-relative load.
//!
//! Rust's `thread_local!` in a shared library uses the general-dynamic TLS
//! model, a call to `__tls_get_addr` on every access (~2.7 ns here). The
//! hot paths `current_thread()` and `local_get()` cannot afford that, so on
//! x86_64 Linux the words live in an initial-exec TLS block defined in
//! assembly: one load of the block's offset from the GOT, one `fs:`-relative
//! access. (Initial-exec TLS in a dlopen()ed library uses glibc's static TLS
//! surplus, which has room for far more than these 16 bytes.)

#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
mod imp {
    std::arch::global_asm!(
        ".section .tbss,\"awT\",@nobits",
        ".globl __pyth_tls_words",
        ".hidden __pyth_tls_words",
        ".type __pyth_tls_words, @object",
        ".size __pyth_tls_words, 16",
        ".p2align 3",
        "__pyth_tls_words:",
        ".zero 16",
        ".text",
    );

    macro_rules! word {
        ($get:ident, $set:ident, $off:literal) => {
            #[inline(always)]
            pub(crate) fn $get() -> usize {
                let v: usize;
                // SAFETY: reads this thread's own TLS word.
                unsafe {
                    std::arch::asm!(
                        "mov {v}, qword ptr [rip + __pyth_tls_words@GOTTPOFF]",
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
                        "mov {t}, qword ptr [rip + __pyth_tls_words@GOTTPOFF]",
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
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(loom))))]
mod imp {
    use std::cell::Cell;

    thread_local! {
        static CURRENT: Cell<usize> = const { Cell::new(0) };
        static LOCALS: Cell<usize> = const { Cell::new(0) };
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
}

/// The words: `current` is the `*const Handle` of the calling libpyth
/// thread (0 if none yet); `locals` is its thread-local value table.
pub(crate) use imp::{current, locals, set_current, set_locals};
