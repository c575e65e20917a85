//! Python's `queue` module: `Queue`, `LifoQueue`, `PriorityQueue` and
//! `SimpleQueue`.

mod queue;
mod simple;

pub use queue::{Order, Queue, QueueError};
pub use simple::SimpleQueue;
