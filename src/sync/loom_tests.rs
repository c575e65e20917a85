//! Loom models of the primitives' state machines (`make loom-test`).
//!
//! Each test is a small program, two or three threads doing a couple of
//! operations, that loom runs under every interleaving (up to the
//! preemption bound) and every weak-memory outcome of the atomics, with
//! `park.rs`'s loom stand-in for the parking lot underneath. A lost
//! wake-up shows as a loom deadlock, a missing happens-before as a data
//! race on a `loom::cell::UnsafeCell`, and everything else as a failed
//! assertion.
//!
//! Lock, Semaphore and Condition models run twice: with the parking lot's
//! `be_fair` never set (release lets everyone race for the lock) and always
//! set (release hands the lock or the units straight to the woken thread).

use super::park::set_be_fair;
use super::{Barrier, Condition, ConditionLock, Event, Lock, RLock, Semaphore, Sleepers};
use crate::error::ErrorKind;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

/// A timeout long enough never to expire in a real run; under loom any
/// `Some` timeout may expire at any point (see `park.rs`).
const LONG: Option<Duration> = Some(Duration::from_secs(3600));

/// Runs `model` under loom, bounded to 2 preemptions unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(model);
}

/// Runs `model` once with `be_fair` always false and once always true.
fn check_fair_and_unfair(model: fn()) {
    for fair in [false, true] {
        check(move || {
            set_be_fair(fair);
            model();
        });
    }
}

/// A counter that only the holder of some lock may touch: loom reports a
/// data race if two threads touch it without a happens-before between them.
struct Guarded<L> {
    lock: L,
    count: UnsafeCell<usize>,
}

// SAFETY: `count` is only accessed with `lock` held, which is what the
// models check (loom's UnsafeCell reports any unsynchronised access).
unsafe impl<L: Sync> Sync for Guarded<L> {}

impl<L> Guarded<L> {
    fn new(lock: L) -> Arc<Self> {
        Arc::new(Guarded {
            lock,
            count: UnsafeCell::new(0),
        })
    }

    /// Must be called with the lock held.
    fn bump(&self) {
        // SAFETY: the caller holds the lock.
        self.count.with_mut(|c| unsafe { *c += 1 });
    }

    /// Must be called with the lock held or after every thread is joined.
    fn get(&self) -> usize {
        // SAFETY: as above.
        self.count.with(|c| unsafe { *c })
    }
}

fn spawn_n<T: Send + Sync + 'static>(n: usize, shared: &Arc<T>, f: fn(&T)) -> Vec<thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let shared = shared.clone();
            thread::spawn(move || f(&shared))
        })
        .collect()
}

fn join(threads: Vec<thread::JoinHandle<()>>) {
    threads.into_iter().for_each(|t| t.join().unwrap());
}

// ---- Lock ------------------------------------------------------------------

fn lock_bump(g: &Guarded<Lock>) {
    g.lock.acquire();
    assert!(g.lock.locked());
    g.bump();
    g.lock.release().unwrap();
}

/// `threads` threads (the model's own included) each take the lock once:
/// the critical sections never overlap (no data race on the counter), every
/// parked acquirer is woken by a release (no deadlock), and the lock ends
/// unlocked with nobody marked waiting.
fn lock_mutual_exclusion(threads: usize) {
    let g = Guarded::new(Lock::new());
    let others = spawn_n(threads - 1, &g, lock_bump);
    lock_bump(&g);
    join(others);
    assert_eq!(g.get(), threads);
    assert!(!g.lock.locked());
    assert!(!g.lock.has_waiters());
}

#[test]
fn loom_lock_mutual_exclusion_2() {
    check_fair_and_unfair(|| lock_mutual_exclusion(2));
}

#[test]
fn loom_lock_mutual_exclusion_3() {
    check_fair_and_unfair(|| lock_mutual_exclusion(3));
}

/// A timed acquire racing with the holder's release either gets the lock or
/// times out; either way no PARKED bit or waiter count is left behind and
/// the lock can be taken again at once.
#[test]
fn loom_lock_timed_acquire() {
    check_fair_and_unfair(|| {
        let g = Guarded::new(Lock::new());
        g.lock.acquire();
        let g2 = g.clone();
        let t = thread::spawn(move || {
            if g2.lock.acquire_timeout(LONG) {
                g2.bump();
                g2.lock.release().unwrap();
                true
            } else {
                false
            }
        });
        g.bump();
        g.lock.release().unwrap();
        let acquired = t.join().unwrap();
        assert_eq!(g.get(), 1 + acquired as usize);
        assert!(!g.lock.locked());
        assert!(!g.lock.has_waiters());
        assert!(g.lock.try_acquire());
    });
}

/// Releasing an unlocked lock is an error; of two threads racing to release
/// a lock held once, exactly one succeeds.
#[test]
fn loom_lock_release_unlocked_errors() {
    check(|| {
        let l = Arc::new(Lock::new());
        assert_eq!(l.release().unwrap_err().message(), "release unlocked lock");
        l.acquire();
        let l2 = l.clone();
        let t = thread::spawn(move || l2.release().is_ok());
        let mine = l.release().is_ok();
        let theirs = t.join().unwrap();
        assert!(mine != theirs, "exactly one release succeeds ({mine}, {theirs})");
        assert!(!l.locked());
        assert_eq!(l.release().unwrap_err().kind(), ErrorKind::Runtime);
    });
}

/// The same race with a thread parked on the lock, so that both releases
/// take the slow path: of three releases of a lock acquired twice (by this
/// thread, then by the waiter), exactly two succeed.
#[test]
fn loom_lock_racing_slow_releases() {
    check_fair_and_unfair(|| {
        let l = Arc::new(Lock::new());
        l.acquire();
        let waiter = {
            let l = l.clone();
            thread::spawn(move || {
                l.acquire();
                l.release().is_ok()
            })
        };
        let other = {
            let l = l.clone();
            thread::spawn(move || l.release().is_ok())
        };
        let mine = l.release().is_ok();
        let ok = [mine, other.join().unwrap(), waiter.join().unwrap()];
        assert_eq!(ok.iter().filter(|&&x| x).count(), 2, "{ok:?}");
        assert!(!l.locked());
    });
}

// ---- RLock -----------------------------------------------------------------

fn rlock_body(g: &Guarded<RLock>) {
    let r = &g.lock;
    // Never owned by this thread yet, whoever holds it now.
    assert!(!r.is_owned());
    assert_eq!(r.level(), 0);
    assert_eq!(r.release().unwrap_err().message(), "cannot release un-acquired lock");
    r.acquire();
    assert!(
        r.acquire_timeout(Some(Duration::ZERO)),
        "the owner re-acquires without blocking"
    );
    assert!(r.is_owned());
    assert_eq!(r.level(), 2);
    g.bump();
    r.release().unwrap();
    assert!(r.is_owned() && r.locked());
    assert_eq!(r.level(), 1);
    r.release().unwrap();
    assert!(!r.is_owned());
    assert_eq!(r.level(), 0);
    assert!(r.release().is_err());
}

/// Two threads each take an RLock recursively: recursion levels, ownership
/// (only the owner may release), mutual exclusion, and the lock ends free.
#[test]
fn loom_rlock_recursion_and_ownership() {
    check(|| {
        let g = Guarded::new(RLock::new());
        let other = spawn_n(1, &g, rlock_body);
        rlock_body(&g);
        join(other);
        assert_eq!(g.get(), 2);
        assert!(!g.lock.locked());
        assert!(!g.lock.has_waiters());
    });
}

/// The C boundary's fast paths, whose last release leaves the wake-up of a
/// parked thread to `release_wake`: with both threads going through them,
/// levels, exclusion, and the lock ends free with nobody left parked.
fn rlock_fast_body(g: &Guarded<RLock>) {
    use crate::sync::FastRelease;
    let r = &g.lock;
    if !r.fast_acquire() {
        r.acquire();
    }
    assert!(r.fast_acquire(), "the owner's recursive acquire needs no CAS");
    assert_eq!(r.level(), 2);
    g.bump();
    assert_eq!(r.fast_release(), FastRelease::Done);
    assert_eq!(r.level(), 1);
    match r.fast_release() {
        FastRelease::Done => {}
        FastRelease::Wake => r.release_wake(),
        FastRelease::NotOwner => panic!("the owner's release went to the full path"),
    }
    assert!(!r.is_owned());
    assert_eq!(r.fast_release(), FastRelease::NotOwner);
}

#[test]
fn loom_rlock_fast_paths_and_wake() {
    check(|| {
        let g = Guarded::new(RLock::new());
        let other = spawn_n(1, &g, rlock_fast_body);
        rlock_fast_body(&g);
        join(other);
        assert_eq!(g.get(), 2);
        assert!(!g.lock.locked());
        assert!(!g.lock.has_waiters());
        // The next owner starts at level 1.
        assert!(g.lock.try_acquire());
        assert_eq!(g.lock.level(), 1);
        g.lock.release().unwrap();
    });
}

// ---- Semaphore -------------------------------------------------------------

struct Sem {
    sem: Semaphore,
    inside: AtomicUsize,
}

fn sem_enter(s: &Sem) {
    s.sem.acquire();
    assert!(
        s.sem.value() <= 1,
        "counter {} is negative or over the bound",
        s.sem.value() as i64
    );
    assert_eq!(
        s.inside.fetch_add(1, SeqCst),
        0,
        "two threads inside a BoundedSemaphore(1)"
    );
    s.inside.fetch_sub(1, SeqCst);
    s.sem.release(1).unwrap();
    assert!(s.sem.value() <= 1, "counter {} is over the bound", s.sem.value());
}

/// A BoundedSemaphore(1) shared by two threads: never more than one holder,
/// the counter never negative nor over its bound, every waiter woken, and
/// a release past the bound is refused.
#[test]
fn loom_semaphore_bounded() {
    check_fair_and_unfair(|| {
        let s = Arc::new(Sem {
            sem: Semaphore::bounded(1).unwrap(),
            inside: AtomicUsize::new(0),
        });
        let other = spawn_n(1, &s, sem_enter);
        sem_enter(&s);
        join(other);
        assert_eq!(s.sem.value(), 1);
        assert!(!s.sem.has_waiters());
        assert_eq!(s.sem.release(1).unwrap_err().kind(), ErrorKind::Value);
        assert_eq!(s.sem.value(), 1);
    });
}

fn sem_enter_of_2(s: &Sem) {
    s.sem.acquire();
    assert!(
        s.sem.value() <= 1,
        "counter {} is negative or over the bound",
        s.sem.value() as i64
    );
    assert!(
        s.inside.fetch_add(1, SeqCst) < 2,
        "three threads inside a BoundedSemaphore(2)"
    );
    s.inside.fetch_sub(1, SeqCst);
    s.sem.release(1).unwrap();
    assert!(s.sem.value() <= 2, "counter {} is over the bound", s.sem.value());
}

/// A BoundedSemaphore(2) shared by three threads: at most two holders.
#[test]
fn loom_semaphore_bounded_two_of_three() {
    check_fair_and_unfair(|| {
        let s = Arc::new(Sem {
            sem: Semaphore::bounded(2).unwrap(),
            inside: AtomicUsize::new(0),
        });
        let others = spawn_n(2, &s, sem_enter_of_2);
        sem_enter_of_2(&s);
        join(others);
        assert_eq!(s.sem.value(), 2);
        assert!(!s.sem.has_waiters());
        assert_eq!(s.sem.release(1).unwrap_err().kind(), ErrorKind::Value);
    });
}

/// `acquirers` threads block on a Semaphore(0) and the model thread adds
/// units: with `batch` it releases them all at once (`release(n)` wakes up
/// to n), otherwise one at a time. Nobody stays asleep and every unit is
/// taken exactly once.
fn semaphore_release_wakes(acquirers: usize, batch: bool) {
    let s = Arc::new(Semaphore::new(0).unwrap());
    let threads = spawn_n(acquirers, &s, |s| s.acquire());
    if batch {
        s.release(acquirers as u64).unwrap();
    } else {
        for _ in 0..acquirers {
            s.release(1).unwrap();
        }
    }
    join(threads);
    assert_eq!(s.value(), 0);
    assert!(!s.has_waiters());
}

#[test]
fn loom_semaphore_release_wakes_waiter() {
    check_fair_and_unfair(|| semaphore_release_wakes(1, false));
}

#[test]
fn loom_semaphore_release_n_wakes_two() {
    check_fair_and_unfair(|| semaphore_release_wakes(2, true));
}

#[test]
fn loom_semaphore_two_releases_wake_two() {
    check_fair_and_unfair(|| semaphore_release_wakes(2, false));
}

/// A timed acquire racing with a release: it takes the unit or times out,
/// and the unit is then either gone or still there, never lost or doubled.
#[test]
fn loom_semaphore_timed_acquire() {
    check_fair_and_unfair(|| {
        let s = Arc::new(Semaphore::new(0).unwrap());
        let s2 = s.clone();
        let t = thread::spawn(move || s2.acquire_timeout(LONG));
        s.release(1).unwrap();
        let taken = t.join().unwrap();
        assert_eq!(s.value(), 1 - taken as u64);
        assert!(!s.has_waiters());
    });
}

// ---- Event -----------------------------------------------------------------

/// `waiters` threads wait on an Event the model thread sets: all of them
/// return true (a waiter that saw the flag unset is woken by `set`).
fn event_set_wakes(waiters: usize) {
    let e = Arc::new(Event::new());
    let threads = spawn_n(waiters, &e, |e| assert!(e.wait(None)));
    e.set();
    join(threads);
    assert!(e.is_set());
    assert!(!e.has_waiters());
}

#[test]
fn loom_event_set_wakes_waiter() {
    check(|| event_set_wakes(1));
}

#[test]
fn loom_event_set_wakes_two_waiters() {
    check(|| event_set_wakes(2));
}

/// A timed wait racing with `set`: if it reports false it timed out before
/// the flag was set; afterwards the flag is set and waits return at once.
#[test]
fn loom_event_timed_wait() {
    check(|| {
        let e = Arc::new(Event::new());
        let e2 = e.clone();
        let t = thread::spawn(move || e2.wait(LONG));
        e.set();
        t.join().unwrap();
        assert!(e.is_set());
        assert!(!e.has_waiters());
        assert!(e.wait(Some(Duration::ZERO)));
        e.clear();
        assert!(!e.wait(Some(Duration::ZERO)));
    });
}

// ---- Condition -------------------------------------------------------------
//
// These models put the lock behind a (std) `Arc`, so that it lives in an
// allocation of its own. With the lock embedded in the Condition, loom's
// layout makes the Condition's parking key (its address) equal the Lock's
// (the address of its `state`, at offset 0 of both under loom) and the two
// queues mix: see the `#[ignore]`d `loom_condition_embedded_*` models below.

/// A condition and the number of threads that have announced, under its
/// lock, that they are about to wait, and how many were woken.
struct Cond<L: ConditionLock> {
    cond: Condition<L>,
    waiting: AtomicUsize,
    woken: AtomicUsize,
}

impl<L: ConditionLock + 'static> Cond<L> {
    fn new(lock: L) -> Arc<Self> {
        Arc::new(Cond {
            cond: Condition::with_lock(lock),
            waiting: AtomicUsize::new(0),
            woken: AtomicUsize::new(0),
        })
    }

    /// Acquires the lock (`levels` times), announces itself and waits; the
    /// wait must report a notification and restore every level.
    fn wait(&self, levels: usize) {
        for _ in 0..levels {
            assert!(self.cond.acquire_timeout(None));
        }
        self.waiting.fetch_add(1, SeqCst);
        assert!(self.cond.wait(None).unwrap(), "a woken wait reports a notification");
        assert!(self.cond.lock().is_owned());
        self.woken.fetch_add(1, SeqCst);
        for _ in 0..levels {
            self.cond.release().unwrap();
        }
    }

    /// Takes the lock, yielding between tries, until `waiting` reaches `n`;
    /// returns with the lock held.
    fn acquire_when_waiting(&self, n: usize) {
        loop {
            assert!(self.cond.acquire_timeout(None));
            if self.waiting.load(SeqCst) >= n {
                return;
            }
            self.cond.release().unwrap();
            thread::yield_now();
        }
    }
}

fn arc_lock() -> std::sync::Arc<Lock> {
    std::sync::Arc::new(Lock::new())
}

fn arc_rlock() -> std::sync::Arc<RLock> {
    std::sync::Arc::new(RLock::new())
}

/// A waiter announces itself under the lock and waits; the notifier, once it
/// sees the announcement under the lock, notifies: the waiter is then
/// necessarily queued (the lock is released only after it is), so the
/// notification is not lost and `wait` returns true.
fn condition_notify_wakes<L: ConditionLock + 'static>(lock: fn() -> L, levels: usize) {
    let c = Cond::new(lock());
    let c2 = c.clone();
    let t = thread::spawn(move || c2.wait(levels));
    c.acquire_when_waiting(1);
    c.cond.notify(1).unwrap();
    c.cond.release().unwrap();
    t.join().unwrap();
    assert_eq!(c.woken.load(SeqCst), 1);
    assert!(!c.cond.has_waiters());
    assert!(!c.cond.locked());
}

#[test]
fn loom_condition_notify_wakes_waiter_lock() {
    check_fair_and_unfair(|| condition_notify_wakes(arc_lock, 1));
}

#[test]
fn loom_condition_notify_wakes_waiter_rlock() {
    check_fair_and_unfair(|| condition_notify_wakes(arc_rlock, 2));
}

/// Two waiters, `notify(1)`: exactly one wakes. The notifier waits until one
/// has come back, checks (under the lock) that the other has not, and only
/// then notifies again so the model can finish.
fn condition_notify_one_of_two<L: ConditionLock + 'static>(lock: fn() -> L) {
    let c = Cond::new(lock());
    let threads = spawn_n(2, &c, |c| c.wait(1));
    c.acquire_when_waiting(2);
    c.cond.notify(1).unwrap();
    c.cond.release().unwrap();
    loop {
        assert!(c.cond.acquire_timeout(None));
        let woken = c.woken.load(SeqCst);
        assert!(woken <= 1, "notify(1) woke {woken} threads");
        if woken == 1 {
            break;
        }
        c.cond.release().unwrap();
        thread::yield_now();
    }
    c.cond.notify(1).unwrap();
    c.cond.release().unwrap();
    join(threads);
    assert_eq!(c.woken.load(SeqCst), 2);
    assert!(!c.cond.has_waiters());
}

#[test]
fn loom_condition_notify_one_of_two() {
    check_fair_and_unfair(|| condition_notify_one_of_two(arc_lock));
}

/// A timed wait racing with a notify: it is notified or times out, and
/// either way it returns holding the lock with every RLock level restored.
fn condition_timed_wait<L: ConditionLock + 'static>(lock: fn() -> L) {
    let c = Cond::new(lock());
    let notified = Arc::new(AtomicBool::new(false));
    let (c2, n2) = (c.clone(), notified.clone());
    let t = thread::spawn(move || {
        assert!(c2.cond.acquire_timeout(None));
        assert!(c2.cond.acquire_timeout(None));
        c2.waiting.fetch_add(1, SeqCst);
        let ok = c2.cond.wait(LONG).unwrap();
        assert!(c2.cond.lock().is_owned());
        // Reports a notification only if there was one.
        assert!(!ok || n2.load(SeqCst), "wait reported a notification nobody sent");
        c2.cond.release().unwrap();
        c2.cond.release().unwrap();
        assert!(!c2.cond.lock().is_owned());
    });
    c.acquire_when_waiting(1);
    notified.store(true, SeqCst);
    c.cond.notify(1).unwrap();
    c.cond.release().unwrap();
    t.join().unwrap();
    assert!(!c.cond.has_waiters());
    assert!(!c.cond.locked());
}

#[test]
fn loom_condition_timed_wait() {
    check_fair_and_unfair(|| condition_timed_wait(arc_rlock));
}

/// A condition-variable user with a predicate: two notifiers each set the
/// flag and `notify(1)` under the lock, the waiter waits until it is set.
/// Whatever the order, the waiter must come back.
fn condition_predicate_two_notifiers<L: ConditionLock + 'static>(lock: fn() -> L) {
    let c = Cond::new(lock());
    let notifier = |c: &Cond<L>| {
        assert!(c.cond.acquire_timeout(None));
        c.waiting.store(1, SeqCst); // the predicate
        c.cond.notify(1).unwrap();
        c.cond.release().unwrap();
    };
    let threads = spawn_n(2, &c, notifier);
    assert!(c.cond.acquire_timeout(None));
    while c.waiting.load(SeqCst) == 0 {
        c.cond.wait(None).unwrap();
    }
    c.cond.release().unwrap();
    join(threads);
    assert!(!c.cond.has_waiters());
    assert!(!c.cond.locked());
}

#[test]
fn loom_condition_predicate_two_notifiers() {
    check_fair_and_unfair(|| condition_predicate_two_notifiers(arc_lock));
}

// Regression models: a condition whose lock is stored inside it. The
// condition used to park on its own address, which could equal the address
// of the embedded lock's state word; the two wait queues then mixed (a lock
// release woke a condition waiter, notify(1) woke two threads, and with the
// fair hand-off everybody slept). Conditions now park on the address of
// their own `waiters` counter. Found by these models under loom's layout.

#[test]
fn loom_condition_embedded_lock_notify_one_of_two() {
    check_fair_and_unfair(|| condition_notify_one_of_two(Lock::new));
}

#[test]
fn loom_condition_embedded_rlock_timed_wait() {
    check_fair_and_unfair(|| condition_timed_wait(RLock::new));
}

#[test]
fn loom_condition_embedded_lock_predicate_two_notifiers() {
    check_fair_and_unfair(|| condition_predicate_two_notifiers(Lock::new));
}

// ---- Barrier ---------------------------------------------------------------

/// Two parties, two cycles: each cycle both pass with indices 0 and 1, the
/// action runs once per cycle, and the barrier ends empty and unbroken.
#[test]
fn loom_barrier_two_parties() {
    check(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let action = Box::new(move || {
            r.fetch_add(1, SeqCst);
            Ok(())
        });
        let b = Arc::new(Barrier::new(2, Some(action), None).unwrap());
        let b2 = b.clone();
        let t = thread::spawn(move || [b2.wait().unwrap(), b2.wait().unwrap()]);
        let mine = [b.wait().unwrap(), b.wait().unwrap()];
        let theirs = t.join().unwrap();
        for cycle in 0..2 {
            let mut idx = [mine[cycle], theirs[cycle]];
            idx.sort();
            assert_eq!(idx, [0, 1], "cycle {cycle}");
        }
        assert_eq!(runs.load(SeqCst), 2);
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.broken());
        assert!(!b.has_waiters());
    });
}

/// One party's wait may time out: then both fail and the barrier is broken;
/// otherwise both pass with distinct indices.
#[test]
fn loom_barrier_timeout() {
    check(|| {
        let b = Arc::new(Barrier::new(2, None, None).unwrap());
        let b2 = b.clone();
        let t = thread::spawn(move || b2.wait_timeout(LONG).ok());
        let mine = b.wait().ok();
        let theirs = t.join().unwrap();
        match (mine, theirs) {
            (Some(a), Some(b)) => assert_eq!(a + b, 1, "indices {a} and {b}"),
            (None, None) => assert!(b.broken()),
            other => panic!("one party passed and the other did not: {other:?}"),
        }
        assert!(!b.has_waiters());
    });
}

// ---- Sleepers ---------------------------------------------------------------

/// A flag guarded by a mutex, waited for through `Sleepers` as the queues
/// and futures do: check under the mutex, sleep releasing it, wake with it
/// held.
struct Flag {
    set: loom::sync::Mutex<bool>,
    sleepers: Sleepers,
}

impl Flag {
    /// Waits for the flag; false if `timeout` (any `Some`: may expire at
    /// any point under loom) ran out first.
    fn wait(&self, timeout: Option<Duration>) -> bool {
        let mut set = self.set.lock().unwrap();
        while !*set {
            if !self
                .sleepers
                .sleep(move || drop(set), timeout.map(|d| std::time::Instant::now() + d))
            {
                return *self.set.lock().unwrap();
            }
            set = self.set.lock().unwrap();
        }
        true
    }

    fn raise(&self, all: bool) {
        let mut set = self.set.lock().unwrap();
        *set = true;
        if all {
            self.sleepers.wake_all();
        } else {
            self.sleepers.wake_one();
        }
        drop(set);
    }
}

/// Two waiters, one of them timed, and a wake_all: nobody sleeps forever
/// (a lost wake-up is a loom deadlock) and the count of sleepers ends at 0
/// however the timed one left.
#[test]
fn loom_sleepers_wake_all_and_timeouts() {
    check(|| {
        let f = Arc::new(Flag {
            set: loom::sync::Mutex::new(false),
            sleepers: Sleepers::new(),
        });
        let timed = {
            let f = f.clone();
            thread::spawn(move || f.wait(LONG))
        };
        let forever = {
            let f = f.clone();
            thread::spawn(move || f.wait(None))
        };
        f.raise(true);
        assert!(forever.join().unwrap());
        let _ = timed.join().unwrap();
        assert!(!f.sleepers.any_for_tests());
    });
}

/// Two waiters each take one item; two puts each add one and wake one
/// sleeper, whether the first woken waiter has run yet or not. Every
/// interleaving must end with both served (a lost wake-up is a loom
/// deadlock) and nobody counted as asleep.
#[test]
fn loom_sleepers_wake_one_each() {
    check(|| {
        let items = Arc::new((loom::sync::Mutex::new(0usize), Sleepers::new()));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let items = items.clone();
                thread::spawn(move || {
                    let (m, sleepers) = &*items;
                    let mut n = m.lock().unwrap();
                    while *n == 0 {
                        sleepers.sleep(move || drop(n), None);
                        n = m.lock().unwrap();
                    }
                    *n -= 1;
                })
            })
            .collect();
        for _ in 0..2 {
            let (m, sleepers) = &*items;
            let mut n = m.lock().unwrap();
            *n += 1;
            sleepers.wake_one();
            drop(n);
        }
        waiters.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*items.0.lock().unwrap(), 0);
        assert!(!items.1.any_for_tests());
    });
}
