//! Thread-local data, as Python's `threading.local`, for word-sized values.
//!
//! Each `Local` owns an index; each thread that uses locals has a table of
//! slots, found through an initial-exec TLS word (see `tls`). Tables are
//! split into chunks that never move (chunk k holds `32 << k` slots); chunk
//! 0 sits in the thread's TLS block itself, so `get` of one of the first 32
//! locals is a single TLS-relative load, with no lock, hash or call, and
//! there is still no limit on
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

/// The tag bit of the TLS `locals` word: the table's chunk 0 is the one in
/// this thread's TLS block.
const INLINE: usize = 1;

#[derive(Default)]
struct Slot {
    value: AtomicUsize,
    inited: AtomicBool,
}

/// A slot of any chunk.
#[derive(Clone, Copy)]
struct SlotRef<'a> {
    value: &'a AtomicUsize,
    inited: &'a AtomicBool,
}

impl<'a> From<&'a Slot> for SlotRef<'a> {
    fn from(s: &'a Slot) -> Self {
        SlotRef {
            value: &s.value,
            inited: &s.inited,
        }
    }
}

/// A thread's first `BASE` slots. It normally lives in the thread's TLS
/// block (see `tls`), so that `get` is one TLS-relative load of a value;
/// values and flags are apart so that the load is of a plain word. Value
/// `BASE` is never written: locals beyond chunk 0 read it, find 0, and take
/// the longer way.
#[repr(C)]
pub(crate) struct Chunk0 {
    values: [AtomicUsize; BASE + 1],
    inited: [AtomicBool; BASE],
}

impl Chunk0 {
    pub(crate) const fn new() -> Chunk0 {
        Chunk0 {
            values: [const { AtomicUsize::new(0) }; BASE + 1],
            inited: [const { AtomicBool::new(false) }; BASE],
        }
    }

    /// Slot `off` (< BASE).
    #[inline(always)]
    fn slot(&self, off: usize) -> SlotRef<'_> {
        debug_assert!(off < BASE);
        // SAFETY: off < BASE, and both arrays are at least that long.
        unsafe {
            SlotRef {
                value: self.values.get_unchecked(off),
                inited: self.inited.get_unchecked(off),
            }
        }
    }
}

struct Table {
    /// Chunk 0: the one in the thread's TLS block, or one on the heap for a
    /// thread that may outlive its TLS block while the table is still
    /// reachable (see `my_table`, `keep_on_heap`). Changed only under the
    /// globals lock, by the owning thread.
    first: AtomicPtr<Chunk0>,
    first_on_heap: AtomicBool,
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
    fn slot(&self, index: usize) -> Option<SlotRef<'_>> {
        let (k, off) = split(index);
        self.slot_at(k, off)
    }

    /// The slot at a split index (see `split`: `k < CHUNKS`).
    #[inline(always)]
    fn slot_at(&self, k: usize, off: usize) -> Option<SlotRef<'_>> {
        debug_assert!(k < CHUNKS && off < chunk_len(k));
        if k == 0 {
            // SAFETY: chunk 0 lives as long as the table is reachable.
            return Some(unsafe { &*self.first.load(Acquire) }.slot(off));
        }
        // SAFETY: split() yields k < CHUNKS for every index below 2^53.
        let chunk = unsafe { self.chunks.get_unchecked(k) }.load(Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: chunk k has chunk_len(k) > off slots and lives as long as
        // the table.
        Some(unsafe { &*chunk.add(off) }.into())
    }

    fn slot_or_grow(&self, index: usize) -> SlotRef<'_> {
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
        if self.first_on_heap.load(Relaxed) {
            // SAFETY: boxed by my_table or keep_on_heap, owned by the table.
            drop(unsafe { Box::from_raw(self.first.load(Relaxed)) });
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
    /// Byte offset of this local's value in chunk 0; for a local beyond
    /// chunk 0, of the value that is never written.
    tls_off: usize,
    /// `INLINE` for a local in chunk 0, else 0: `set` tests it against the
    /// TLS word once for "table present, chunk 0 in TLS, local in chunk 0".
    inline_bit: usize,
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
        let in_chunk0 = at.0 == 0;
        Local {
            index,
            at,
            tls_off: std::mem::offset_of!(Chunk0, values)
                + std::mem::size_of::<usize>() * if in_chunk0 { at.1 } else { BASE },
            inline_bit: if in_chunk0 { INLINE } else { 0 },
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

    /// `get` when this thread's slot exists and was initialised. A non-zero
    /// value in the TLS block's chunk 0 is the answer, with no further test:
    /// only a thread whose table uses that chunk writes it, and its exit
    /// clears it.
    #[inline(always)]
    pub(crate) fn get_fast(&self) -> Option<usize> {
        let v = tls::chunk0_word(self.tls_off);
        if v != 0 {
            return Some(v);
        }
        self.get_fast_table()
    }

    /// `get_fast` for a value of 0, a local beyond chunk 0, or a chunk 0 on
    /// the heap: through the table.
    #[cold]
    #[inline(never)]
    fn get_fast_table(&self) -> Option<usize> {
        let t = tls::locals() & !INLINE;
        if t == 0 {
            return None;
        }
        // SAFETY: the word holds this thread's live table.
        let slot = unsafe { &*(t as *const Table) }.slot_at(self.at.0, self.at.1)?;
        let v = slot.value.load(Acquire);
        (v != 0 || slot.inited.load(Relaxed)).then_some(v)
    }

    /// `set` when this thread's slot is in its TLS block; false: use `set`.
    #[inline(always)]
    pub(crate) fn set_fast(&self, value: usize) -> bool {
        let (w, chunk) = tls::locals_and_chunk0();
        if w & self.inline_bit == 0 {
            return false;
        }
        // SAFETY: the tag says the table uses this thread's TLS chunk.
        let slot = unsafe { &*chunk }.slot(self.at.1);
        // A plain store, not a test: the line is being written anyway.
        slot.inited.store(true, Relaxed);
        self.store(slot.value, value);
        true
    }

    #[cold]
    fn get_slow(&self) -> usize {
        let slot = my_table().slot_or_grow(self.index);
        if slot.inited.swap(true, Relaxed) {
            return slot.value.load(Relaxed);
        }
        let v = self.meta.init.as_ref().map_or(0, |init| init());
        self.store(slot.value, v);
        v
    }

    /// Replaces this thread's value; the old one, if different and not 0,
    /// goes to `dtor`. Setting 0 clears it.
    pub fn set(&self, value: usize) {
        let slot = my_table().slot_or_grow(self.index);
        slot.inited.store(true, Relaxed);
        self.store(slot.value, value);
    }

    #[inline(always)]
    fn store(&self, cell: &AtomicUsize, value: usize) {
        // Only this thread writes its slot; another thread only takes the
        // value out when the local is freed, which may not race with a set
        // (the handle would be in use after free). A load and a store, not
        // a swap, keep set at pthread_setspecific's cost.
        if !self.has_dtor {
            cell.store(value, Release);
            return;
        }
        let old = cell.load(Relaxed);
        cell.store(value, Release);
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
    let t = tls::locals() & !INLINE;
    if t != 0 {
        // SAFETY: the word holds this thread's live table.
        return unsafe { &*(t as *const Table) };
    }
    // Any thread, libpyth's or not: clean up when its OS thread ends. A
    // thread past that point (a TLS destructor using locals, including
    // thread_exit's own dtors) may lose its TLS block while its table is
    // still reachable, so its chunk 0 goes on the heap; thread_exit's next
    // round takes the table apart, or keeps it reachable by Local::drop.
    let guarded = EXIT_GUARD
        .try_with(|g| {
            g.try_borrow_mut()
                .map(|mut g| {
                    g.get_or_insert_with(|| ExitGuard);
                })
                .is_ok()
        })
        .unwrap_or(false);
    let first = if guarded {
        set_exit_key();
        tls::chunk0().cast_mut()
    } else {
        Box::into_raw(Box::new(Chunk0::new()))
    };
    let table: &'static Table = Box::leak(Box::new(Table {
        first: AtomicPtr::new(first),
        first_on_heap: AtomicBool::new(!guarded),
        chunks: std::array::from_fn(|_| AtomicPtr::default()),
    }));
    globals().tables.push(TablePtr(table));
    tls::set_locals(table as *const Table as usize | if guarded { INLINE } else { 0 });
    table
}

/// The guard's destructor runs only if the guard was made before glibc ran
/// the thread's TLS destructors: a thread whose first local comes from a
/// pthread key's destructor, after that point, would leave a table in its
/// TLS block. A pthread key set here takes the table apart then, since
/// glibc runs the destructors of keys set during that phase too (in up to
/// four passes; a first local in the fourth pass is still lost).
fn set_exit_key() {
    static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);
    extern "C" fn finish(_: *mut libc::c_void) {
        thread_exit();
    }
    if let Some(key) = tls::lazy_key(&KEY, finish) {
        // SAFETY: our key; any non-NULL value makes glibc call `finish`.
        unsafe { libc::pthread_setspecific(key, std::ptr::NonNull::<u8>::dangling().as_ptr().cast()) };
    }
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
    keep_on_heap();
}

/// What the last round's dtors set stays, for `Local::drop` to destroy, in
/// a table that no longer points into this thread's TLS block (which is
/// reused once the thread ends); a table made by the guard's own call has
/// its chunk 0 on the heap already (see `my_table`). The table leaves the
/// TLS word too, so later calls (the guard's, the exit key's) find nothing
/// to run: for a libpyth thread, which calls `thread_exit` before `join`
/// can return, no dtor of a value set by then runs after `join`.
fn keep_on_heap() {
    let w = tls::locals();
    if w & INLINE == 0 {
        tls::set_locals(0);
        return;
    }
    // SAFETY: the word holds this thread's live table.
    let table = unsafe { &*((w & !INLINE) as *const Table) };
    let heap = Box::new(Chunk0::new());
    {
        // Local::drop reads `first` and takes values under this lock.
        let _g = globals();
        // SAFETY: INLINE says chunk 0 is this thread's TLS chunk.
        let inline = unsafe { &*table.first.load(Relaxed) };
        for off in 0..BASE {
            // Values move (the TLS chunk must read 0 for the next thread's
            // get_fast); flags move too.
            let (from, to) = (inline.slot(off), heap.slot(off));
            to.value.store(from.value.swap(0, Relaxed), Relaxed);
            to.inited.store(from.inited.swap(false, Relaxed), Relaxed);
        }
        table.first.store(Box::into_raw(heap), Release);
        table.first_on_heap.store(true, Relaxed);
    }
    tls::set_locals(0);
}

/// Takes the calling thread's table apart and runs the dtors; false if it
/// had none.
fn exit_round() -> bool {
    let t = tls::locals() & !INLINE;
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
                // A later round may reuse the TLS chunk: leave it as new.
                slot.inited.store(false, Relaxed);
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
    let mine = TablePtr((tls::locals() & !INLINE) as *const Table);
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
