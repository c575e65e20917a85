//! Nothing here: the benches are in benches/.
