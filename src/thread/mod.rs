//! Threads and the module-level functions of Python's `threading`.

mod ident;

pub use ident::{get_ident, get_native_id};
