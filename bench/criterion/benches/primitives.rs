//! The Rust core of pyth (no C boundary) beside std::sync and parking_lot.
//!
//! What matters is the ratio between the lines of one group, measured in the
//! same run; `make bench` also runs bench/bench.c, which measures the C ABI.

use criterion::measurement::WallTime;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkGroup, Criterion};
use pyth::sync::{Condition, Event, Lock, RLock, Semaphore};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_millis(500));
    g.sample_size(20);
    g
}

/// glibc and the Rust runtime both take cheaper paths while a process has
/// only ever had one thread; nothing real runs like that.
fn make_multithreaded() {
    std::thread::spawn(|| {}).join().unwrap();
}

fn uncontended_lock(c: &mut Criterion) {
    make_multithreaded();
    let mut g = group(c, "lock_uncontended");
    let l = Lock::new();
    g.bench_function("pyth::Lock", |b| {
        b.iter(|| {
            l.acquire();
            l.release().unwrap();
        })
    });
    let m = std::sync::Mutex::new(());
    g.bench_function("std::Mutex", |b| b.iter(|| drop(black_box(&m).lock().unwrap())));
    let m = parking_lot::Mutex::new(());
    g.bench_function("parking_lot::Mutex", |b| b.iter(|| drop(black_box(&m).lock())));
    g.finish();
}

fn rlock(c: &mut Criterion) {
    let mut g = group(c, "rlock_depth1");
    let r = RLock::new();
    g.bench_function("pyth::RLock", |b| {
        b.iter(|| {
            black_box(&r).acquire();
            r.release().unwrap();
        })
    });
    let m = parking_lot::ReentrantMutex::new(());
    g.bench_function("parking_lot::ReentrantMutex", |b| b.iter(|| drop(black_box(&m).lock())));
    g.finish();
}

/// The textbook semaphore for code that has only a mutex and a condvar.
struct CondvarSemaphore<M> {
    count: M,
    cv_std: std::sync::Condvar,
    cv_pl: parking_lot::Condvar,
}

fn semaphore(c: &mut Criterion) {
    let mut g = group(c, "semaphore_release_acquire");
    let s = Semaphore::new(0).unwrap();
    g.bench_function("pyth::Semaphore", |b| {
        b.iter(|| {
            black_box(&s).release(1).unwrap();
            s.acquire();
        })
    });
    let s = CondvarSemaphore {
        count: std::sync::Mutex::new(0u64),
        cv_std: Default::default(),
        cv_pl: Default::default(),
    };
    g.bench_function("std Mutex+Condvar semaphore", |b| {
        b.iter(|| {
            *s.count.lock().unwrap() += 1;
            s.cv_std.notify_one();
            let mut n = s.count.lock().unwrap();
            while *n == 0 {
                n = s.cv_std.wait(n).unwrap();
            }
            *n -= 1;
        })
    });
    let s = CondvarSemaphore {
        count: parking_lot::Mutex::new(0u64),
        cv_std: Default::default(),
        cv_pl: Default::default(),
    };
    g.bench_function("parking_lot Mutex+Condvar semaphore", |b| {
        b.iter(|| {
            *s.count.lock() += 1;
            s.cv_pl.notify_one();
            let mut n = s.count.lock();
            while *n == 0 {
                s.cv_pl.wait(&mut n);
            }
            *n -= 1;
        })
    });
    g.finish();
}

fn event_set_clear(c: &mut Criterion) {
    let mut g = group(c, "event_set_clear");
    let e = Event::new();
    g.bench_function("pyth::Event", |b| {
        b.iter(|| {
            black_box(&e).set();
            e.clear();
        })
    });
    // Events as CPython builds them: a flag under a lock, plus a condvar.
    let (flag, cv) = (std::sync::Mutex::new(false), std::sync::Condvar::new());
    g.bench_function("std Mutex+Condvar event", |b| {
        b.iter(|| {
            {
                let mut f = black_box(&flag).lock().unwrap();
                *f = true;
                cv.notify_all();
            }
            *flag.lock().unwrap() = false;
        })
    });
    let (flag, cv) = (parking_lot::Mutex::new(false), parking_lot::Condvar::new());
    g.bench_function("parking_lot Mutex+Condvar event", |b| {
        b.iter(|| {
            {
                let mut f = black_box(&flag).lock();
                *f = true;
                cv.notify_all();
            }
            *flag.lock() = false;
        })
    });
    g.finish();
}

/// Restricts the calling thread to one CPU and returns the mask it had.
fn pin_to(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: plain libc calls on zeroed cpu_set_t values owned here.
    unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut old);
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        old
    }
}

fn restore_affinity(old: &libc::cpu_set_t) {
    // SAFETY: as above.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), old) };
}

/// What a ping-pong needs from a mutex+condvar pair: the side whose turn it
/// is (0 or 1) waits for it, then passes the turn and wakes the other.
trait PingPong: Send + Sync + 'static {
    fn round(&self, side: u8);
}

struct PythCond(Condition<Arc<Lock>>, std::cell::UnsafeCell<u8>);
// SAFETY: the turn cell is touched only with the condition's lock held.
unsafe impl Sync for PythCond {}

impl PingPong for PythCond {
    fn round(&self, side: u8) {
        self.0.acquire_timeout(None);
        // SAFETY: the lock is held.
        while unsafe { *self.1.get() } != side {
            self.0.wait(None).unwrap();
        }
        unsafe { *self.1.get() = 1 - side };
        self.0.notify(1).unwrap();
        self.0.release().unwrap();
    }
}

struct StdCond(std::sync::Mutex<u8>, std::sync::Condvar);

impl PingPong for StdCond {
    fn round(&self, side: u8) {
        let mut turn = self.0.lock().unwrap();
        while *turn != side {
            turn = self.1.wait(turn).unwrap();
        }
        *turn = 1 - side;
        self.1.notify_one();
    }
}

struct PlCond(parking_lot::Mutex<u8>, parking_lot::Condvar);

impl PingPong for PlCond {
    fn round(&self, side: u8) {
        let mut turn = self.0.lock();
        while *turn != side {
            self.1.wait(&mut turn);
        }
        *turn = 1 - side;
        self.1.notify_one();
    }
}

/// Time per round trip with both threads on CPU 0, where a handoff is a
/// real sleep and wake-up (across the two vCPUs it would be bimodal). The
/// partner is started and met once before the clock starts.
fn pingpong<P: PingPong>(make: impl Fn() -> P) -> impl FnMut(u64) -> Duration {
    move |iters| {
        let old = pin_to(0);
        let p = Arc::new(make());
        let q = p.clone();
        let partner = std::thread::spawn(move || {
            pin_to(0);
            for _ in 0..=iters {
                q.round(1);
            }
        });
        p.round(0);
        let start = Instant::now();
        for _ in 0..iters {
            p.round(0);
        }
        let elapsed = start.elapsed();
        partner.join().unwrap();
        restore_affinity(&old);
        elapsed
    }
}

fn condvar_pingpong(c: &mut Criterion) {
    let mut g = group(c, "condvar_pingpong_one_cpu");
    g.bench_function("pyth::Condition(Lock)", |b| {
        b.iter_custom(pingpong(|| {
            PythCond(Condition::with_lock(Arc::new(Lock::new())), 0.into())
        }))
    });
    g.bench_function("std Mutex+Condvar", |b| {
        b.iter_custom(pingpong(|| {
            StdCond(std::sync::Mutex::new(0), std::sync::Condvar::new())
        }))
    });
    g.bench_function("parking_lot Mutex+Condvar", |b| {
        b.iter_custom(pingpong(|| {
            PlCond(parking_lot::Mutex::new(0), parking_lot::Condvar::new())
        }))
    });
    g.finish();
}

criterion_group!(
    primitives,
    uncontended_lock,
    rlock,
    semaphore,
    event_set_clear,
    condvar_pingpong
);
criterion_main!(primitives);
