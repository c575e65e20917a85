//! The C boundary: opaque handles, status codes, timeouts and messages.
//!
//! Every exported function does the same four things and nothing else:
//! validate its handles (`handle`), parse its timeout (`timeout`), call the
//! safe core, and map the result to a status (`status`), all inside
//! `catch_unwind` so that no panic crosses into C.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

pub mod handle;
pub mod status;
pub mod timeout;

mod barrier;
mod cond;
mod event;
mod executor;
mod local;
mod lock;
mod queue;
mod rlock;
mod semaphore;
mod thread;

pub(crate) use thread::before_fork as fork_prepare;

pub use status::*;
pub use timeout::{PYTH_FOREVER, PYTH_TIMEOUT_MAX};
