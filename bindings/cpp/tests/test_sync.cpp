// The synchronization primitives through the C++ binding: standard lock
// guards over Lock/RLock, timed locking, Condition with lambdas, semaphores,
// Event, Barrier, and the error mapping.
#include "check.hpp"

#include <cmath>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using check::since;
using Clock = std::chrono::steady_clock;

struct Oops : std::runtime_error {
    Oops() : std::runtime_error("oops") {}
};

TEST(lock_with_std_guards) {
    pyth::Lock l;
    CHECK(!l.locked());
    {
        std::lock_guard<pyth::Lock> g(l);
        CHECK(l.locked());
        CHECK(!l.try_lock());  // not reentrant
    }
    CHECK(!l.locked());
    {
        std::unique_lock<pyth::Lock> g(l, std::defer_lock);
        CHECK(!g.owns_lock());
        g.lock();
        CHECK(l.locked());
        g.unlock();
        CHECK(!l.locked());
        CHECK(g.try_lock_for(10ms));
        CHECK(l.locked());
    }
    CHECK(!l.locked());
    {
        std::unique_lock<pyth::Lock> g(l, std::try_to_lock);
        CHECK(g.owns_lock());
        std::unique_lock<pyth::Lock> g2(l, std::try_to_lock);
        CHECK(!g2.owns_lock());
        std::unique_lock<pyth::Lock> g3(l, 20ms);  // timed constructor
        CHECK(!g3.owns_lock());
        std::unique_lock<pyth::Lock> g4(l, Clock::now() + 10ms);
        CHECK(!g4.owns_lock());
    }
    // A plain Lock may be released by another thread (Python semantics).
    l.lock();
    pyth::Thread t([&] { l.unlock(); });
    t.start();
    CHECK(t.join(10s));
    CHECK(!l.locked());
}

TEST(rlock_with_std_guards) {
    pyth::RLock r;
    {
        std::lock_guard<pyth::RLock> g1(r);
        std::lock_guard<pyth::RLock> g2(r);  // reentrant
        std::unique_lock<pyth::RLock> g3(r, std::try_to_lock);
        CHECK(g3.owns_lock());
        CHECK(r.is_owned());
        CHECK(r.locked());
        bool other_got = true, other_owned = true, other_locked = false;
        pyth::Thread t([&] {
            other_got = r.try_lock();
            other_owned = r.is_owned();
            other_locked = r.locked();
        });
        t.start();
        t.join();
        CHECK(!other_got);
        CHECK(!other_owned);
        CHECK(other_locked);
    }
    CHECK(!r.locked());
    CHECK(!r.is_owned());
}

TEST(scoped_lock_mixed) {
    pyth::Lock a, b;
    pyth::RLock r;
    std::atomic<int> total{0};
    std::vector<pyth::Thread> ts;
    const int per = 200;
    for (int i = 0; i < 4; ++i) {
        // Half the threads take the locks in the other order: std::lock's
        // try-and-back-off must avoid deadlock.
        ts.emplace_back([&, i] {
            for (int k = 0; k < per; ++k) {
                if (i % 2) {
                    std::scoped_lock g(a, r, b);
                    total.store(total.load() + 1);
                } else {
                    std::scoped_lock g(b, a, r);
                    total.store(total.load() + 1);
                }
            }
        });
    }
    for (auto& t : ts) t.start();
    for (auto& t : ts) CHECK(t.join(60s));
    CHECK(total.load() == 4 * per);
    CHECK(!a.locked() && !b.locked() && !r.locked());
}

TEST(try_lock_for_timing) {
    pyth::Lock l;
    l.lock();
    auto t0 = Clock::now();
    CHECK(!l.try_lock_for(100ms));
    double dt = since(t0);
    CHECK(dt >= 0.095);
    CHECK(dt < 5.0);

    t0 = Clock::now();
    CHECK(!l.try_lock_until(Clock::now() + 60ms));
    dt = since(t0);
    CHECK(dt >= 0.055 && dt < 5.0);

    t0 = Clock::now();
    CHECK(!l.try_lock_until(std::chrono::system_clock::now() + 40ms));
    CHECK(since(t0) >= 0.030);

    // Negative and past deadlines just try once.
    t0 = Clock::now();
    CHECK(!l.try_lock_for(-5ms));
    CHECK(!l.try_lock_until(Clock::now() - 1s));
    CHECK(since(t0) < 1.0);
    // A huge duration is accepted by the standard interface (it waits).
    pyth::Lock free_lock;
    CHECK(free_lock.try_lock_for(std::chrono::hours::max()));
    free_lock.unlock();

    // A waiter gets the lock promptly once it is released.
    pyth::Event about_to_wait;
    bool got = false;
    double waited = 0;
    pyth::Thread t([&] {
        about_to_wait.set();
        auto s = Clock::now();
        got = l.try_lock_for(30s);
        waited = since(s);
        if (got) l.unlock();
    });
    t.start();
    CHECK(about_to_wait.wait(10s));
    l.unlock();
    CHECK(t.join(30s));
    CHECK(got);
    CHECK(waited < 10.0);

    // RLock: timed out for a non-owner.
    pyth::RLock r;
    r.lock();
    bool rgot = true;
    double rdt = 0;
    pyth::Thread t2([&] {
        auto s = Clock::now();
        rgot = r.try_lock_for(80ms);
        rdt = since(s);
    });
    t2.start();
    t2.join();
    CHECK(!rgot);
    CHECK(rdt >= 0.075 && rdt < 5.0);
    r.unlock();
}

TEST(lock_errors) {
    pyth::Lock l;
    try {
        l.release();
        CHECK(!"release of an unlocked lock must throw");
    } catch (const pyth::runtime_error& e) {
        CHECK(e.status() == PYTH_ERUNTIME);
        CHECK(std::string(e.what()) == "release unlocked lock");
    }
    CHECK_THROWS(std::runtime_error, l.unlock());
    CHECK_THROWS(pyth::value_error, l.acquire(false, 1s));   // timeout with blocking=false
    CHECK_THROWS(std::invalid_argument, l.acquire(true, pyth::Timeout::seconds(-2.0)));
    CHECK_THROWS(pyth::value_error, l.acquire(true, pyth::Timeout::seconds(std::nan(""))));
    CHECK_THROWS(pyth::overflow_error, l.acquire(true, std::chrono::hours(24 * 365 * 1000)));
    CHECK_THROWS(std::overflow_error, l.acquire(true, pyth::Timeout::seconds(1e300)));
    CHECK(!l.locked());  // none of those acquired it
    // A negative chrono duration means "already expired", not an error.
    CHECK(l.acquire(true, -3s));
    l.release();

    pyth::RLock r;
    CHECK_THROWS(pyth::runtime_error, r.release());
    r.lock();
    bool threw = false;
    pyth::Thread t([&] {
        try {
            r.release();
        } catch (const pyth::runtime_error&) {
            threw = true;
        }
    });
    t.start();
    t.join();
    CHECK(threw);
    r.unlock();
}

TEST(condition_wait_for_lambda) {
    pyth::Condition c;
    int items = 0;
    bool ok = false;
    pyth::Thread consumer([&] {
        std::unique_lock<pyth::Condition> g(c);
        ok = c.wait_for([&] { return items >= 3; }, 30s);
        CHECK(c.locked());
    });
    consumer.start();
    for (int i = 0; i < 3; ++i) {
        std::lock_guard<pyth::Condition> g(c);
        ++items;
        c.notify();
    }
    CHECK(consumer.join(30s));
    CHECK(ok);

    // Times out when the predicate never holds, and returns its answer.
    std::unique_lock<pyth::Condition> g(c);
    int calls = 0;
    auto t0 = Clock::now();
    CHECK(!c.wait_for([&] { ++calls; return false; }, 50ms));
    CHECK(since(t0) >= 0.045);
    CHECK(calls >= 1);
    // Checked first, before any wait.
    t0 = Clock::now();
    CHECK(c.wait_for([] { return true; }));
    CHECK(since(t0) < 1.0);
    // A predicate that throws: rethrown here, with the lock still held.
    CHECK_THROWS(Oops, c.wait_for([]() -> bool { throw Oops(); }, 10s));
    CHECK(c.locked());
    // Optional durations: nullopt means forever.
    std::optional<std::chrono::milliseconds> none;
    CHECK(c.wait_for([] { return true; }, none));
    CHECK(!c.wait_for([] { return false; }, std::optional<std::chrono::milliseconds>(10ms)));
}

TEST(condition_wait_notify) {
    pyth::Condition c;
    // wait/notify without the lock: RuntimeError.
    CHECK_THROWS(pyth::runtime_error, c.wait(10ms));
    CHECK_THROWS(pyth::runtime_error, c.notify());
    CHECK_THROWS(pyth::runtime_error, c.notify_all());
    {
        std::unique_lock<pyth::Condition> g(c);
        auto t0 = Clock::now();
        CHECK(!c.wait(40ms));  // no notify: timed out
        CHECK(since(t0) >= 0.035);
    }
    // notify_all wakes every waiter; counted with a shared state.
    int waiting = 0, woken = 0;
    bool go = false;
    std::vector<pyth::Thread> ts;
    for (int i = 0; i < 3; ++i)
        ts.emplace_back([&] {
            std::unique_lock<pyth::Condition> g(c);
            ++waiting;
            c.notify_all();  // tell the main thread
            c.wait_for([&] { return go; });
            ++woken;
        });
    for (auto& t : ts) t.start();
    {
        std::unique_lock<pyth::Condition> g(c);
        CHECK(c.wait_for([&] { return waiting == 3; }, 30s));
        go = true;
        c.notify_all();
    }
    for (auto& t : ts) CHECK(t.join(30s));
    CHECK(woken == 3);
}

TEST(condition_notify_n_exact) {
    // Two conditions over one lock: `ready` reports progress, `cv` is the
    // one under test, so nothing else notifies it.
    pyth::Lock l;
    pyth::Condition ready(l), cv(l);
    int waiting = 0, woken = 0;
    std::vector<pyth::Thread> ts;
    for (int i = 0; i < 5; ++i)
        ts.emplace_back([&] {
            std::unique_lock<pyth::Lock> g(l);
            ++waiting;
            ready.notify();
            CHECK(cv.wait(30s));  // true only after a notify
            ++woken;
            ready.notify();
        });
    for (auto& t : ts) t.start();
    {
        std::unique_lock<pyth::Lock> g(l);
        CHECK(ready.wait_for([&] { return waiting == 5; }, 30s));  // all inside cv.wait
        cv.notify(2);
        CHECK(ready.wait_for([&] { return woken == 2; }, 30s));
        CHECK(!ready.wait_for([&] { return woken > 2; }, 50ms));  // exactly two
        cv.notify(0);  // does nothing
        CHECK(!ready.wait_for([&] { return woken > 2; }, 20ms));
        cv.notify_all();
        CHECK(ready.wait_for([&] { return woken == 5; }, 30s));
    }
    for (auto& t : ts) CHECK(t.join(30s));
}

TEST(condition_over_lock_and_rlock) {
    // Over a plain Lock.
    pyth::Lock l;
    {
        pyth::Condition c(l);
        bool flag = false, seen = false;
        pyth::Thread t([&] {
            std::unique_lock<pyth::Condition> g(c);
            seen = c.wait_for([&] { return flag; }, 30s);
        });
        t.start();
        {
            std::lock_guard<pyth::Lock> g(l);  // the same lock as the condition's
            flag = true;
            c.notify();
        }
        CHECK(t.join(30s));
        CHECK(seen);
        // The lock is in use by the condition: close() refuses (EBUSY) and
        // the lock stays usable.
        try {
            l.close();
            CHECK(!"close of a lock used by a condition must throw");
        } catch (const pyth::busy_error& e) {
            CHECK(e.status() == PYTH_EBUSY);
        }
        CHECK(l.try_lock());
        l.unlock();
    }
    l.close();  // the condition is gone: now it frees
    CHECK(l.native_handle() == nullptr);
    CHECK_THROWS(pyth::invalid_handle, l.acquire());

    // Over an RLock: wait releases every recursion level.
    pyth::RLock r;
    pyth::Condition c(r);
    r.lock();
    r.lock();
    bool other_got = false;
    pyth::Thread t([&] {
        std::lock_guard<pyth::RLock> g(r);  // only possible while main waits
        other_got = true;
        c.notify();
    });
    t.start();
    CHECK(c.wait_for([&] { return other_got; }, 30s));
    CHECK(r.is_owned());
    r.unlock();
    CHECK(r.is_owned());  // the second level was restored
    r.unlock();
    CHECK(!r.locked());
    CHECK(t.join(30s));
}

TEST(semaphores) {
    CHECK_THROWS(pyth::value_error, pyth::Semaphore(-1));
    CHECK_THROWS(pyth::value_error, pyth::BoundedSemaphore(-1));
    pyth::Semaphore zero(0);  // literal 0 is a count, not a handle
    CHECK(zero.value() == 0);
    pyth::Semaphore s(2);
    CHECK(s.acquire());
    CHECK(s.acquire(false));
    CHECK(!s.try_lock());
    CHECK(s.value() == 0);
    CHECK_THROWS(pyth::value_error, s.acquire(false, 1s));
    CHECK_THROWS(pyth::value_error, s.release(0));
    auto t0 = Clock::now();
    CHECK(!s.acquire(true, 50ms));
    CHECK(since(t0) >= 0.045);
    CHECK(!s.try_lock_for(10ms));
    // A release wakes a waiter.
    bool got = false;
    pyth::Thread t([&] { got = s.acquire(true, 30s); });
    t.start();
    s.release();
    CHECK(t.join(30s));
    CHECK(got);
    s.release(2);
    CHECK(s.value() == 2);
    {
        std::lock_guard<pyth::Semaphore> g(s);  // Python's `with sem:`
        CHECK(s.value() == 1);
    }
    CHECK(s.value() == 2);

    pyth::BoundedSemaphore b(1);
    try {
        b.release();
        CHECK(!"over-release must throw");
    } catch (const pyth::value_error& e) {
        CHECK(e.status() == PYTH_EVALUE);
        CHECK(std::string(e.what()) == "Semaphore released too many times");
    }
    CHECK(b.value() == 1);
    b.acquire();
    CHECK_THROWS(pyth::value_error, b.release(2));  // would exceed: nothing changes
    CHECK(b.value() == 0);
    b.release();
    CHECK(b.value() == 1);

    pyth::Semaphore big(std::numeric_limits<std::int64_t>::max());
    CHECK_THROWS(pyth::overflow_error, big.release());
    CHECK(big.value() == std::numeric_limits<std::int64_t>::max());
}

TEST(event) {
    pyth::Event e;
    CHECK(!e.is_set());
    auto t0 = Clock::now();
    CHECK(!e.wait(40ms));
    CHECK(since(t0) >= 0.035);
    CHECK(!e.wait(-1s));  // negative: do not wait
    std::atomic<int> woke{0};
    std::vector<pyth::Thread> ts;
    for (int i = 0; i < 3; ++i)
        ts.emplace_back([&] {
            if (e.wait(30s)) ++woke;
        });
    for (auto& t : ts) t.start();
    e.set();
    for (auto& t : ts) CHECK(t.join(30s));
    CHECK(woke == 3);
    CHECK(e.is_set());
    CHECK(e.wait());
    e.clear();
    CHECK(!e.is_set());
    CHECK(!e.wait(0s));
    CHECK_THROWS(pyth::overflow_error, e.wait(pyth::Timeout::seconds(1e12)));
}

TEST(barrier_with_action) {
    const int parties = 3, cycles = 5;
    std::atomic<int> actions{0};
    std::atomic<int> bad_waiting{0};
    pyth::Barrier* bp = nullptr;
    pyth::Barrier b(parties, [&] {
        ++actions;
        if (bp->n_waiting() != parties - 1 && bp->n_waiting() != parties) ++bad_waiting;
    });
    bp = &b;
    CHECK(b.parties() == parties);
    std::vector<std::vector<std::size_t>> idx(parties);
    std::vector<pyth::Thread> ts;
    for (int i = 0; i < parties; ++i)
        ts.emplace_back([&, i] {
            for (int c = 0; c < cycles; ++c) idx[i].push_back(b.wait(30s));
        });
    for (auto& t : ts) t.start();
    for (auto& t : ts) CHECK(t.join(60s));
    CHECK(actions == cycles);
    CHECK(bad_waiting == 0);
    for (int c = 0; c < cycles; ++c) {
        std::set<std::size_t> s;
        for (int i = 0; i < parties; ++i) s.insert(idx[i][c]);
        CHECK(s == (std::set<std::size_t>{0, 1, 2}));
    }
    CHECK(!b.broken());
    CHECK(b.n_waiting() == 0);
}

TEST(barrier_broken) {
    CHECK_THROWS(pyth::value_error, pyth::Barrier(0));
    // A timed-out wait breaks it for everyone.
    pyth::Barrier b(2);
    auto t0 = Clock::now();
    try {
        b.wait(30ms);
        CHECK(!"a lone wait must time out");
    } catch (const pyth::broken_barrier_error& e) {
        CHECK(e.status() == PYTH_EBROKEN);
    }
    CHECK(since(t0) >= 0.025);
    CHECK(b.broken());
    CHECK_THROWS(pyth::runtime_error, b.wait());  // BrokenBarrierError is a RuntimeError
    b.reset();
    CHECK(!b.broken());

    // abort() wakes a waiter with the error.
    bool broke = false;
    pyth::Thread t([&] {
        try {
            b.wait(30s);
        } catch (const pyth::broken_barrier_error&) {
            broke = true;
        }
    });
    t.start();
    // Abort only once the thread waits, so it is the wait that breaks.
    while (b.n_waiting() == 0 && t.is_alive()) std::this_thread::yield();
    b.abort();
    CHECK(t.join(30s));
    CHECK(broke);

    // The barrier's own default timeout.
    pyth::Barrier bt(2, {}, 20ms);
    CHECK_THROWS(pyth::broken_barrier_error, bt.wait());

    // An action that throws: rethrown in its thread, and the barrier breaks.
    pyth::Barrier ba(1, [] { throw Oops(); });
    CHECK_THROWS(Oops, ba.wait());
    CHECK(ba.broken());
    CHECK_THROWS(pyth::broken_barrier_error, ba.wait());

    // With two parties the other one gets broken_barrier_error, as in Python.
    pyth::Barrier bb(2, [] { throw Oops(); });
    std::atomic<int> oops{0}, broken2{0};
    auto party = [&] {
        try {
            bb.wait(30s);
        } catch (const Oops&) {
            oops++;
        } catch (const pyth::broken_barrier_error&) {
            broken2++;
        }
    };
    pyth::Thread other(party);
    other.start();
    party();
    CHECK(other.join(30s));
    CHECK(oops == 1);
    CHECK(broken2 == 1);
}

TEST(moved_from_and_close) {
    pyth::Lock a;
    pyth::Lock b(std::move(a));
    CHECK(a.native_handle() == nullptr);
    CHECK_THROWS(pyth::invalid_handle, a.acquire());
    CHECK(!a.locked());
    CHECK(b.try_lock());
    b.unlock();
    a = std::move(b);
    CHECK(a.try_lock());
    a.unlock();
    pyth::Event e;
    pyth::Event e2 = std::move(e);
    CHECK_THROWS(pyth::invalid_handle, e.set());
    e2.set();
    CHECK(e2.is_set());
    // close() of an idle primitive frees it at once.
    e2.close();
    CHECK_THROWS(pyth::invalid_handle, e2.wait(0s));
    pyth::Semaphore s(1);
    s.close();
    pyth::Condition c;
    c.close();
    pyth::Barrier br(2);
    br.close();
}

TEST(error_mapping) {
    // Every status maps to its exception type (PYTH_ENOMEM cannot be
    // provoked through the API, so it is checked here).
    auto throws_as = [](pyth_status st, auto tag) {
        using E = typename decltype(tag)::type;
        try {
            pyth::detail::throw_status(st);
        } catch (const E& e) {
            return dynamic_cast<const pyth::error&>(e).status() == st;
        } catch (...) {
        }
        return false;
    };
    struct memory_tag { using type = std::bad_alloc; };
    struct memory2_tag { using type = pyth::memory_error; };
    struct runtime_tag { using type = pyth::runtime_error; };
    struct value_tag { using type = std::invalid_argument; };
    struct overflow_tag { using type = std::overflow_error; };
    struct broken_tag { using type = pyth::broken_barrier_error; };
    struct inval_tag { using type = pyth::invalid_handle; };
    struct busy_tag { using type = pyth::busy_error; };
    struct shutdown_tag { using type = pyth::shutdown_error; };
    struct cancelled_tag { using type = pyth::cancelled_error; };
    struct failed_tag { using type = pyth::task_error; };
    struct timeout_tag { using type = pyth::timeout_error; };
    struct empty_tag { using type = pyth::empty; };
    struct full_tag { using type = pyth::full; };
    CHECK(throws_as(PYTH_ENOMEM, memory_tag{}));
    CHECK(throws_as(PYTH_ENOMEM, memory2_tag{}));
    CHECK(throws_as(PYTH_ERUNTIME, runtime_tag{}));
    CHECK(throws_as(PYTH_EVALUE, value_tag{}));
    CHECK(throws_as(PYTH_EOVERFLOW, overflow_tag{}));
    CHECK(throws_as(PYTH_EBROKEN, broken_tag{}));
    CHECK(throws_as(PYTH_EINVAL, inval_tag{}));
    CHECK(throws_as(PYTH_EBUSY, busy_tag{}));
    CHECK(throws_as(PYTH_ESHUTDOWN, shutdown_tag{}));
    CHECK(throws_as(PYTH_ECANCELLED, cancelled_tag{}));
    CHECK(throws_as(PYTH_EFAILED, failed_tag{}));
    CHECK(throws_as(PYTH_TIMEOUT, timeout_tag{}));
    CHECK(throws_as(PYTH_EMPTY, empty_tag{}));
    CHECK(throws_as(PYTH_FULL, full_tag{}));
    // The standard bases the contract promises.
    static_assert(std::is_base_of_v<std::runtime_error, pyth::runtime_error>);
    static_assert(std::is_base_of_v<std::invalid_argument, pyth::value_error>);
    static_assert(std::is_base_of_v<std::overflow_error, pyth::overflow_error>);
    static_assert(std::is_base_of_v<std::runtime_error, pyth::broken_barrier_error>);
    static_assert(std::is_base_of_v<std::bad_alloc, pyth::memory_error>);
    static_assert(std::is_base_of_v<std::invalid_argument, pyth::invalid_handle>);
    static_assert(std::is_base_of_v<std::runtime_error, pyth::busy_error>);
    static_assert(std::is_base_of_v<std::runtime_error, pyth::shutdown_error>);
    static_assert(std::is_base_of_v<std::runtime_error, pyth::cancelled_error>);
    static_assert(std::is_base_of_v<std::runtime_error, pyth::task_error>);
    // The message is the library's, captured at the failure.
    pyth::Lock l;
    try {
        l.release();
    } catch (const std::exception& e) {
        CHECK(std::string(e.what()) == pyth::last_error());
    }
}

// The types meet the standard requirements used by the guards above.
static_assert(!std::is_copy_constructible_v<pyth::Lock> && std::is_nothrow_move_constructible_v<pyth::Lock>);
static_assert(!std::is_copy_constructible_v<pyth::RLock> && std::is_nothrow_move_constructible_v<pyth::RLock>);
static_assert(!std::is_copy_assignable_v<pyth::Condition> && std::is_nothrow_move_assignable_v<pyth::Condition>);

int main() {
    WATCHDOG(240);
    RUN(lock_with_std_guards);
    RUN(rlock_with_std_guards);
    RUN(scoped_lock_mixed);
    RUN(try_lock_for_timing);
    RUN(lock_errors);
    RUN(condition_wait_for_lambda);
    RUN(condition_wait_notify);
    RUN(condition_notify_n_exact);
    RUN(condition_over_lock_and_rlock);
    RUN(semaphores);
    RUN(event);
    RUN(barrier_with_action);
    RUN(barrier_broken);
    RUN(moved_from_and_close);
    RUN(error_mapping);
    return check::report();
}
