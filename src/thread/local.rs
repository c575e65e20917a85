//! Thread-local data, as Python's `threading.local`, for word-sized values.
//!
//! Each `Local` owns an index; each thread that uses locals has a table of
//! slots, found through one initial-exec TLS word (see `tls`), so `get` is
//! a few loads with no lock, hash or call. Tables are split into chunks
//! that never move (chunk k holds `32 << k` slots), so there is no limit on
//! the number of locals and another thread can clear a slot safely while
//! its owner runs: each value is taken exactly once, by an atomic swap,
//! either by its thread (`set`, exit) or by `Local`'s drop.

use super::tls;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard};

/// Computes a thread's first value on its first `get`.
pub type Init = Box<dyn Fn() -> usize + Send + Sync>;
/// Destroys a value: at thread exit, on `set`, or when the local is freed.
pub type Dtor = Box<dyn Fn(usize) + Send + Sync>;

const BASE_SHIFT: u32 = 5;
const BASE: usize = 1 << BASE_SHIFT;
const CHUNKS: usize = 48;

#[derive(Default)]
struct Slot {
    value: AtomicUsize,
    inited: AtomicBool,
}

struct Table {
    /// Chunk 0 lives in the table itself: the first 32 locals, the usual
    /// case, are one dependent load away from the TLS word.
    first: [Slot; BASE],
    /// Chunks 1.. (chunk 0's entry is unused).
    chunks: [AtomicPtr<Slot>; CHUNKS],
}

/// (chunk, offset) of an index: chunk k covers `[BASE*(2^k - 1), BASE*(2^(k+1) - 1))`.
#[inline(always)]
fn split(index: usize) -> (usize, usize) {
    let i = index + BASE;
    let k = (usize::BITS - 1 - i.leading_zeros() - BASE_SHIFT) as usize;
    (k, i - (BASE << k))
}

fn chunk_len(k: usize) -> usize {
    BASE << k
}

impl Table {
    #[inline(always)]
    fn slot(&self, index: usize) -> Option<&Slot> {
        let (k, off) = split(index);
        self.slot_at(k, off)
    }

    /// The slot at a split index (see `split`: `k < CHUNKS`).
    #[inline(always)]
    fn slot_at(&self, k: usize, off: usize) -> Option<&Slot> {
        debug_assert!(k < CHUNKS && off < chunk_len(k));
        if k == 0 {
            // SAFETY: off < BASE for chunk 0.
            return Some(unsafe { self.first.get_unchecked(off) });
        }
        // SAFETY: split() yields k < CHUNKS for every index below 2^53.
        let chunk = unsafe { self.chunks.get_unchecked(k) }.load(Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: chunk k has chunk_len(k) > off slots and lives as long as
        // the table.
        Some(unsafe { &*chunk.add(off) })
    }

    fn slot_or_grow(&self, index: usize) -> &Slot {
        if let Some(s) = self.slot(index) {
            return s;
        }
        let (k, _) = split(index);
        let chunk: Box<[Slot]> = (0..chunk_len(k)).map(|_| Slot::default()).collect();
        // Only the owning thread grows its table; others only read chunks.
        self.chunks[k].store(Box::into_raw(chunk).cast(), Release);
        self.slot(index).expect("chunk just stored")
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for (k, c) in self.chunks.iter().enumerate().skip(1) {
            let p = c.load(Acquire);
            if !p.is_null() {
                // SAFETY: allocated in slot_or_grow as a boxed slice of this length.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, chunk_len(k))) });
            }
        }
    }
}

struct Meta {
    init: Option<Init>,
    dtor: Option<Dtor>,
}

#[derive(Clone, Copy, PartialEq)]
struct TablePtr(*const Table);
// SAFETY: tables are shared between threads only through atomics.
unsafe impl Send for TablePtr {}

struct Globals {
    metas: Vec<Option<Arc<Meta>>>,
    free: Vec<usize>,
    tables: Vec<TablePtr>,
}

static GLOBALS: Mutex<Globals> = Mutex::new(Globals {
    metas: Vec::new(),
    free: Vec::new(),
    tables: Vec::new(),
});

fn globals() -> MutexGuard<'static, Globals> {
    GLOBALS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A thread-local word, as Python's `threading.local` (one attribute).
pub struct Local {
    index: usize,
    /// `split(index)`, computed once.
    at: (usize, usize),
    /// All ones for a local in chunk 0, else 0: the fast paths AND it with
    /// the table address and test once for "no table or not chunk 0".
    chunk0_mask: usize,
    /// Whether `meta.dtor` is set, kept here so `set` without a dtor never
    /// follows the pointer to `meta`.
    has_dtor: bool,
    meta: Arc<Meta>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").field("index", &self.index).finish()
    }
}

impl Local {
    /// A new local. `init`, if given, computes each thread's value on its
    /// first `get`; `dtor`, if given, destroys each non-zero value.
    pub fn new(init: Option<Init>, dtor: Option<Dtor>) -> Local {
        let has_dtor = dtor.is_some();
        let meta = Arc::new(Meta { init, dtor });
        let mut g = globals();
        let index = match g.free.pop() {
            Some(i) => {
                g.metas[i] = Some(meta.clone());
                i
            }
            None => {
                g.metas.push(Some(meta.clone()));
                g.metas.len() - 1
            }
        };
        let at = split(index);
        Local {
            index,
            at,
            chunk0_mask: if at.0 == 0 { usize::MAX } else { 0 },
            has_dtor,
            meta,
        }
    }

    /// This thread's value: the one it set, else `init`'s result (run once
    /// per thread), else 0.
    #[inline]
    pub fn get(&self) -> usize {
        self.get_fast().unwrap_or_else(|| self.get_slow())
    }

    /// `get` when this thread's slot exists and was initialised: a TLS
    /// word, a chunk pointer and the slot, no call. Laid out so that the
    /// usual case, one of the first `BASE` locals, runs straight through.
    #[inline(always)]
    pub(crate) fn get_fast(&self) -> Option<usize> {
        let t = tls::locals() & self.chunk0_mask;
        if t == 0 {
            return self.get_fast_chunked(tls::locals());
        }
        // SAFETY: the word holds this thread's live table; off < BASE.
        let slot = unsafe { (*(t as *const Table)).first.get_unchecked(self.at.1) };
        let v = slot.value.load(Acquire);
        if v != 0 {
            return Some(v);
        }
        slot.inited.load(Relaxed).then_some(0)
    }

    #[cold]
    #[inline(never)]
    fn get_fast_chunked(&self, t: usize) -> Option<usize> {
        if t == 0 {
            return None;
        }
        // SAFETY: the word holds this thread's live table.
        let slot = unsafe { &*(t as *const Table) }.slot_at(self.at.0, self.at.1)?;
        let v = slot.value.load(Acquire);
        (v != 0 || slot.inited.load(Relaxed)).then_some(v)
    }

    /// `set` when this thread's slot exists; false: use `set`.
    #[inline(always)]
    pub(crate) fn set_fast(&self, value: usize) -> bool {
        let t = tls::locals() & self.chunk0_mask;
        if t == 0 {
            return false;
        }
        // SAFETY: the word holds this thread's live table; off < BASE.
        let slot = unsafe { (*(t as *const Table)).first.get_unchecked(self.at.1) };
        // A plain store, not a test: the line is being written anyway.
        slot.inited.store(true, Relaxed);
        self.store(slot, value);
        true
    }

    #[cold]
    fn get_slow(&self) -> usize {
        let slot = my_table().slot_or_grow(self.index);
        if slot.inited.swap(true, Relaxed) {
            return slot.value.load(Relaxed);
        }
        let v = self.meta.init.as_ref().map_or(0, |init| init());
        self.store(slot, v);
        v
    }

    /// Replaces this thread's value; the old one, if different and not 0,
    /// goes to `dtor`. Setting 0 clears it.
    pub fn set(&self, value: usize) {
        let slot = my_table().slot_or_grow(self.index);
        slot.inited.store(true, Relaxed);
        self.store(slot, value);
    }

    #[inline(always)]
    fn store(&self, slot: &Slot, value: usize) {
        // Only this thread writes its slot; another thread only takes the
        // value out when the local is freed, which may not race with a set
        // (the handle would be in use after free). A load and a store, not
        // a swap, keep set at pthread_setspecific's cost.
        if !self.has_dtor {
            slot.value.store(value, Release);
            return;
        }
        let old = slot.value.load(Relaxed);
        slot.value.store(value, Release);
        if old != 0 && old != value {
            self.destroy(old);
        }
    }

    #[cold]
    fn destroy(&self, old: usize) {
        if let Some(dtor) = &self.meta.dtor {
            dtor(old);
        }
    }
}

impl Drop for Local {
    /// Destroys every thread's value and frees the index.
    fn drop(&mut self) {
        let mut values = Vec::new();
        {
            let mut g = globals();
            for t in &g.tables {
                // SAFETY: registered tables are alive until unregistered,
                // which needs this lock.
                if let Some(slot) = unsafe { &*t.0 }.slot(self.index) {
                    slot.inited.store(false, Relaxed);
                    let v = slot.value.swap(0, AcqRel);
                    if v != 0 {
                        values.push(v);
                    }
                }
            }
            g.metas[self.index] = None;
            g.free.push(self.index);
        }
        if let Some(dtor) = &self.meta.dtor {
            values.into_iter().for_each(dtor);
        }
    }
}

/// The calling thread's table, created and registered on first use.
fn my_table() -> &'static Table {
    let t = tls::locals();
    if t != 0 {
        // SAFETY: the word holds this thread's live table.
        return unsafe { &*(t as *const Table) };
    }
    let table: &'static Table = Box::leak(Box::new(Table {
        first: std::array::from_fn(|_| Slot::default()),
        chunks: std::array::from_fn(|_| AtomicPtr::default()),
    }));
    globals().tables.push(TablePtr(table));
    tls::set_locals(table as *const Table as usize);
    // Any thread, libpyth's or not: clean up when its OS thread ends. (If
    // the guard is being destroyed right now, a dtor is using locals from
    // inside thread_exit, whose next round takes care of this table.)
    let _ = EXIT_GUARD.try_with(|g| {
        if let Ok(mut g) = g.try_borrow_mut() {
            g.get_or_insert_with(|| ExitGuard);
        }
    });
    table
}

struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        thread_exit();
    }
}

thread_local! {
    static EXIT_GUARD: RefCell<Option<ExitGuard>> = const { RefCell::new(None) };
}

/// Runs the destructors of the calling thread's values and frees its
/// table. libpyth threads call it before `join` can return; other threads
/// through a TLS destructor.
pub(crate) fn thread_exit() {
    // A dtor may use locals again, which gives the thread a new table; like
    // glibc with pthread keys, clean up again, a bounded number of rounds
    // (what the last round's dtors set is left, reachable by Local::drop).
    for _ in 0..4 {
        if !exit_round() {
            return;
        }
    }
}

/// Takes the calling thread's table apart and runs the dtors; false if it
/// had none.
fn exit_round() -> bool {
    let t = tls::locals();
    if t == 0 {
        return false;
    }
    let table = t as *const Table;
    let mut pending: Vec<(Arc<Meta>, usize)> = Vec::new();
    {
        let mut g = globals();
        g.tables.retain(|&p| p != TablePtr(table));
        // SAFETY: this thread's own live table.
        let tref = unsafe { &*table };
        for (index, meta) in g.metas.iter().enumerate() {
            let Some(meta) = meta else { continue };
            if let Some(slot) = tref.slot(index) {
                let v = slot.value.swap(0, AcqRel);
                if v != 0 {
                    pending.push((meta.clone(), v));
                }
            }
        }
    }
    tls::set_locals(0);
    // SAFETY: unregistered above, so no other thread can reach it.
    drop(unsafe { Box::from_raw(table.cast_mut()) });
    for (meta, v) in pending {
        if let Some(dtor) = &meta.dtor {
            dtor(v);
        }
    }
    true
}

pub(crate) fn before_fork() {
    crate::fork::hold(&GLOBALS);
}

/// In a forked child only the calling thread's table is still in use;
/// the others' values belonged to threads that do not exist here.
pub(crate) fn after_fork_child() {
    let mine = TablePtr(tls::locals() as *const Table);
    crate::fork::with_held(&GLOBALS, |g| g.tables.retain(|&t| t == mine));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_indices() {
        assert_eq!(split(0), (0, 0));
        assert_eq!(split(31), (0, 31));
        assert_eq!(split(32), (1, 0));
        assert_eq!(split(95), (1, 63));
        assert_eq!(split(96), (2, 0));
        for i in 0..10_000 {
            let (k, off) = split(i);
            assert!(off < chunk_len(k));
        }
    }

    #[test]
    fn per_thread_values_and_dtors() {
        static DESTROYED: AtomicUsize = AtomicUsize::new(0);
        let l = Arc::new(Local::new(
            Some(Box::new(|| 7)),
            Some(Box::new(|v| {
                DESTROYED.fetch_add(v, SeqCst);
            })),
        ));
        assert_eq!(l.get(), 7);
        l.set(5); // destroys 7
        assert_eq!(l.get(), 5);
        let l2 = l.clone();
        std::thread::spawn(move || {
            assert_eq!(l2.get(), 7);
            l2.set(100); // destroys 7; 100 destroyed at exit
        })
        .join()
        .unwrap();
        assert_eq!(DESTROYED.load(SeqCst), 114);
        let many: Vec<Local> = (0..1000).map(|_| Local::new(None, None)).collect();
        many.iter().enumerate().for_each(|(i, l)| l.set(i + 1));
        assert!(many.iter().enumerate().all(|(i, l)| l.get() == i + 1));
        drop(many);
        drop(Arc::try_unwrap(l).unwrap()); // destroys 5
        assert_eq!(DESTROYED.load(SeqCst), 119);
    }
}
