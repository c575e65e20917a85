//! libpyth: Python's threading model for C and every language with a C FFI.
//!
//! The crate has two layers. The safe core (`sync`, `thread`, ...) is plain
//! Rust: every type can be used from Rust with no `unsafe` at the call site.
//! The C boundary (`ffi`) wraps it in opaque handles, status codes and
//! `pyth_last_error()` messages, and is what `include/pyth.h` declares.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod error;
pub mod executor;
mod fork;
pub mod queue;
pub mod shared;
pub mod sync;
pub mod thread;

#[doc(hidden)]
pub mod ffi;

pub use error::{Error, ErrorKind, Result};
