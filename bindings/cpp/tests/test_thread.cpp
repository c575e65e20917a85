// Threads, timers, thread-local data, the excepthook and the module
// functions through the C++ binding.
#include "check.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using check::Counted;
using check::since;
using Clock = std::chrono::steady_clock;

TEST(thread_lambda_by_reference) {
    int value = 0;
    pyth::Thread t([&] { value = 42; });
    CHECK(!t.is_alive());
    CHECK(t.ident() == 0);
    CHECK(t.native_id() == 0);
    t.start();
    CHECK(t.join(30s));
    CHECK(value == 42);
    CHECK(!t.is_alive());
    CHECK(t.ident() != 0);
    CHECK(t.native_id() != 0);
    CHECK(t.native_id() != pyth::get_native_id());
}

static void add_into(int a, int b, int& out) { out = a + b; }

struct Acc {
    int total = 0;
    void add(int n) { total += n; }
};

TEST(thread_with_arguments) {
    int out = 0;
    std::string seen;
    pyth::Thread t(
        [&seen](int a, std::string s, std::unique_ptr<int> p, int& o) {
            o = a + *p;
            seen = s;
        },
        1, std::string("text"), std::make_unique<int>(41), std::ref(out));
    t.start();
    t.join();
    CHECK(out == 42);
    CHECK(seen == "text");

    int sum = 0;
    pyth::Thread t2(add_into, 20, 22, std::ref(sum));  // a plain function
    t2.start();
    t2.join();
    CHECK(sum == 42);

    Acc acc;
    pyth::Thread t3(&Acc::add, &acc, 7);  // a member function, std::invoke style
    t3.start();
    t3.join();
    CHECK(acc.total == 7);

    // The arguments are copied: later changes are not seen.
    std::string s = "before";
    std::string got;
    pyth::Thread t4([&got](const std::string& x) { got = x; }, s);
    s = "after";
    t4.start();
    t4.join();
    CHECK(got == "before");
}

TEST(names_daemon_identity) {
    pyth::Event inside;
    pyth::Event release;
    bool is_current = false, idents_match = false, current_name_ok = false, main_differs = false;
    pyth::Thread* self = nullptr;
    pyth::Thread t(pyth::ThreadOptions{"worker-1", true}, [&] {
        pyth::Thread me = pyth::current_thread();
        is_current = self->is_current() && me == *self;
        idents_match = pyth::get_ident() == self->ident() && pyth::get_native_id() == self->native_id();
        current_name_ok = me.name() == "worker-1";
        main_differs = pyth::main_thread() != me;
        inside.set();
        release.wait(30s);
    });
    self = &t;
    CHECK(t.name() == "worker-1");
    CHECK(t.daemon());
    t.set_daemon(false);
    CHECK(!t.daemon());
    t.set_daemon(true);
    t.start();
    CHECK(inside.wait(30s));
    CHECK(t.is_alive());
    CHECK_THROWS(pyth::runtime_error, t.set_daemon(false));  // once started
    t.set_name("renamed");
    CHECK(t.name() == "renamed");
    std::string long_name(200, 'n');
    t.set_name(long_name);
    CHECK(t.name() == long_name);
    release.set();
    CHECK(t.join(30s));
    CHECK(is_current);
    CHECK(idents_match);
    CHECK(current_name_ok);
    CHECK(main_differs);
    CHECK(!t.is_current());

    // Default names and the inherited daemon flag.
    pyth::Thread d([] {});
    CHECK(d.name().rfind("Thread-", 0) == 0);
    CHECK(!d.daemon());  // the main thread is not a daemon
    pyth::Thread m = pyth::current_thread();
    CHECK(m == pyth::main_thread());
    CHECK(m.name() == "MainThread");
    CHECK(m.ident() == pyth::get_ident());
    CHECK(m.is_alive());
}

TEST(thread_errors) {
    pyth::Event go;
    pyth::Thread t([&] { go.wait(30s); });
    CHECK_THROWS(pyth::runtime_error, t.join());  // not started
    t.start();
    CHECK_THROWS(pyth::runtime_error, t.start());  // twice
    auto t0 = Clock::now();
    CHECK(!t.join(30ms));  // still alive: false, no exception
    CHECK(since(t0) >= 0.025);
    CHECK(t.is_alive());
    CHECK(!t.join(0s));
    go.set();
    CHECK(t.join(30s));
    CHECK(t.join());  // joining an ended thread again is fine

    bool self_join_threw = false;
    pyth::Thread* sp = nullptr;
    pyth::Thread s([&] {
        try {
            sp->join();
        } catch (const pyth::runtime_error& e) {
            self_join_threw = std::string(e.what()) == "cannot join current thread";
        }
    });
    sp = &s;
    s.start();
    s.join();
    CHECK(self_join_threw);
    CHECK_THROWS(pyth::runtime_error, pyth::main_thread().join(0s));  // the caller itself

    pyth::Thread empty;
    CHECK(!empty);
    CHECK_THROWS(pyth::invalid_handle, empty.start());
    CHECK(!empty.is_alive());
    pyth::Thread moved([] {});
    pyth::Thread to(std::move(moved));
    CHECK(!moved && to);
    CHECK_THROWS(pyth::invalid_handle, moved.join());
    to.start();
    to.join();
}

struct HookRecord {
    std::atomic<int> calls{0};
    std::atomic<int> code{0};
    std::atomic<pyth_thread_t*> thread{nullptr};
};

static void c_hook(const pyth_excepthook_args* args, void* user) {
    auto* rec = static_cast<HookRecord*>(user);
    rec->code = args->code;
    rec->thread = args->thread;
    ++rec->calls;
}

TEST(thread_exception_reaches_c_excepthook) {
    HookRecord rec;
    pyth_set_excepthook(&c_hook, &rec);
    pyth::Thread t([] { throw std::runtime_error("boom"); });
    t.start();
    CHECK(t.join(30s));  // the process survives the exception
    CHECK(rec.calls == 1);
    CHECK(rec.code == pyth::exception_code);
    CHECK(rec.thread == t.native_handle());

    // task_error chooses the code; a non-standard exception is caught too.
    pyth::Thread t2([] { throw pyth::task_error(42); });
    t2.start();
    t2.join();
    CHECK(rec.calls == 2);
    CHECK(rec.code == 42);
    pyth::Thread t3([] { throw 7; });
    t3.start();
    t3.join();
    CHECK(rec.calls == 3);
    CHECK(rec.code == pyth::exception_code);
    // A thread that returns normally does not call the hook.
    pyth::Thread ok([] {});
    ok.start();
    ok.join();
    CHECK(rec.calls == 3);
    pyth_set_excepthook(nullptr, nullptr);
}

TEST(thread_exception_reaches_cxx_excepthook) {
    std::mutex m;
    std::string what, name;
    int code = 0, calls = 0;
    bool same_thread = false;
    pyth::set_excepthook([&](const pyth::ExceptHookArgs& a) {
        std::lock_guard<std::mutex> g(m);
        ++calls;
        code = a.code;
        name = a.thread.name();
        same_thread = a.thread.is_current();  // called in the failing thread
        try {
            if (a.exception) std::rethrow_exception(a.exception);
        } catch (const std::exception& e) {
            what = e.what();
        }
    });
    pyth::Thread t(pyth::ThreadOptions{"failing", std::nullopt}, [] { throw std::logic_error("bad logic"); });
    t.start();
    t.join();
    {
        std::lock_guard<std::mutex> g(m);
        CHECK(calls == 1);
        CHECK(code == pyth::exception_code);
        CHECK(what == "bad logic");
        CHECK(name == "failing");
        CHECK(same_thread);
    }
    // A hook that throws is contained.
    pyth::set_excepthook([](const pyth::ExceptHookArgs&) { throw std::runtime_error("hook failed"); });
    pyth::Thread t2([] { throw 1; });
    t2.start();
    CHECK(t2.join(30s));
    pyth::set_excepthook({});
    CHECK(pyth_get_excepthook(nullptr) == nullptr);
}

TEST(thread_object_outlived_by_thread) {
    int base = Counted::live;
    pyth::Event gate;
    pyth::Thread ref;
    std::atomic<bool> ran{false};
    {
        pyth::Thread t([c = Counted(1), &gate, &ran] {
            gate.wait(30s);
            ran = c.value == 1;
        });
        t.start();
        ref = pyth::Thread::from_handle(t.native_handle());
    }  // destroyed while running: the thread keeps going (Python semantics)
    CHECK(ref.is_alive());
    CHECK(Counted::live == base + 1);  // the callable is still alive
    gate.set();
    CHECK(ref.join(30s));
    CHECK(ran);
    CHECK(Counted::live == base);  // freed by the thread when it returned

    // Never started: the callable goes with the object.
    { pyth::Thread t([c = Counted(2)] {}); }
    CHECK(Counted::live == base);
    // Finished before the object goes.
    {
        pyth::Thread t([c = Counted(3)] {});
        t.start();
        t.join();
    }
    CHECK(Counted::live == base);
}

TEST(timer_cancel_and_fire) {
    int base = Counted::live;
    std::atomic<bool> fired{false};
    {
        pyth::Timer t(30s, [c = Counted(1), &fired] { fired = true; });
        t.start();
        CHECK(t.is_alive());
        t.cancel();
        CHECK(t.join(30s));  // ends promptly once cancelled
        CHECK(!fired);
    }
    CHECK(Counted::live == base);

    // Cancelled, then destroyed without an explicit join.
    {
        pyth::Timer t(pyth::forever, [c = Counted(2), &fired] { fired = true; });
        t.start();
        t.cancel();
    }
    CHECK(!fired);
    CHECK(Counted::live == base);

    // Cancelled before start: never fires.
    {
        pyth::Timer t(0s, [&fired] { fired = true; });
        t.cancel();
        t.start();
        t.join();
        CHECK(!fired);
    }

    // Fires after its interval, with arguments.
    int got = 0;
    auto t0 = Clock::now();
    pyth::Timer f(30ms, [&got](int a, int b) { got = a * b; }, 6, 7);
    f.start();
    CHECK(f.join(30s));
    CHECK(got == 42);
    CHECK(since(t0) >= 0.025);

    // Destroyed while pending but not cancelled: it still fires (Python).
    pyth::Event done;
    pyth::Thread ref;
    {
        pyth::Timer t(10ms, [c = Counted(3), &done] { done.set(); });
        t.start();
        ref = pyth::Thread::from_handle(t.native_handle());
    }
    CHECK(done.wait(30s));
    CHECK(ref.join(30s));
    CHECK(Counted::live == base);

    // A timer is a thread: join/is_alive/name work, cancel is C-only on it.
    pyth::Thread plain([] {});
    CHECK(pyth_timer_cancel(plain.native_handle()) == PYTH_EINVAL);
}

TEST(thread_local_values) {
    int base = Counted::live;
    pyth::ThreadLocal<std::string> tl([] { return std::string("fresh"); });
    CHECK(*tl == "fresh");
    tl.set("main");
    std::string in_thread_first, in_thread_after;
    pyth::Thread t([&] {
        in_thread_first = *tl;
        tl.set("thread");
        in_thread_after = *tl;
        tl->append("!");
    });
    t.start();
    t.join();
    CHECK(in_thread_first == "fresh");
    CHECK(in_thread_after == "thread");
    CHECK(*tl == "main");
    CHECK(tl->size() == 4);

    // A thread's value is destroyed when it exits, before join returns.
    {
        pyth::ThreadLocal<Counted> counted;
        CHECK(counted.get() == nullptr);
        CHECK(!counted.has_value());
        CHECK_THROWS(std::out_of_range, *counted);
        int during = 0;
        pyth::Thread w([&] {
            counted.emplace(5);
            during = Counted::live;
            CHECK(counted->value == 5);
        });
        w.start();
        w.join();
        CHECK(during == base + 1);
        CHECK(Counted::live == base);
        // Replacing destroys the old value; reset clears.
        counted.emplace(1);
        counted.set(Counted(2));
        CHECK(Counted::live == base + 1);
        CHECK(counted->value == 2);
        counted.reset();
        CHECK(Counted::live == base);
        CHECK(counted.get() == nullptr);
        counted.emplace(3);
    }  // the local goes: this thread's value is destroyed with it
    CHECK(Counted::live == base);

    // An init that throws: the exception reaches get(), and the next get()
    // tries again.
    int attempts = 0;
    pyth::ThreadLocal<int> flaky([&attempts]() -> int {
        if (++attempts == 1) throw std::runtime_error("first init fails");
        return 99;
    });
    CHECK_THROWS(std::runtime_error, flaky.get());
    CHECK(*flaky == 99);
    CHECK(attempts == 2);

    pyth::ThreadLocal<int> moved_from;
    pyth::ThreadLocal<int> owner(std::move(moved_from));
    owner.set(1);
    CHECK_THROWS(pyth::invalid_handle, moved_from.get());
}

TEST(module_functions) {
    std::size_t before = pyth::active_count();
    CHECK(before >= 1);
    pyth::Event started, release;
    pyth::Thread t(pyth::ThreadOptions{"enumerated", std::nullopt}, [&] {
        started.set();
        release.wait(30s);
    });
    t.start();
    CHECK(started.wait(30s));
    CHECK(pyth::active_count() == before + 1);
    std::vector<pyth::Thread> all = pyth::enumerate();
    CHECK(all.size() == before + 1);
    bool found_t = false, found_main = false;
    for (auto& x : all) {
        if (x == t) found_t = x.name() == "enumerated";
        if (x == pyth::main_thread()) found_main = true;
    }
    CHECK(found_t);
    CHECK(found_main);
    release.set();
    t.join();
    CHECK(pyth::active_count() == before);

    CHECK_THROWS(pyth::value_error, pyth::stack_size(1000));
    std::size_t prev = pyth::stack_size(1 << 20);
    CHECK(pyth::stack_size() == (1u << 20));
    pyth::Thread big([] {});
    big.start();
    big.join();
    pyth::stack_size(prev);
    CHECK(pyth::stack_size() == prev);

    // A thread the library did not start gets a dummy thread object.
    std::string dummy_name;
    bool dummy_daemon = false, join_threw = false;
    std::thread foreign([&] {
        pyth::Thread me = pyth::current_thread();
        dummy_name = me.name();
        dummy_daemon = me.daemon();
        try {
            me.join(0s);
        } catch (const pyth::runtime_error&) {
            join_threw = true;
        }
    });
    foreign.join();
    CHECK(dummy_name.rfind("Dummy-", 0) == 0);
    CHECK(dummy_daemon);
    CHECK(join_threw);
}

TEST(many_threads_counter) {
    pyth::Lock l;
    long total = 0;
    std::vector<pyth::Thread> ts;
    for (int i = 0; i < 16; ++i)
        ts.emplace_back([&] {
            for (int k = 0; k < 1000; ++k) {
                std::lock_guard<pyth::Lock> g(l);
                ++total;
            }
        });
    for (auto& t : ts) t.start();
    for (auto& t : ts) CHECK(t.join(60s));
    CHECK(total == 16000);
}

// The callable's ownership handshake between a Thread object and its
// running target, raced many times: the object goes right after start(),
// or a timer is cancelled just as it fires.
TEST(ownership_races) {
    int base = Counted::live;
    const int n = 300;
    std::atomic<int> ran{0};
    std::vector<pyth::Thread> refs;
    refs.reserve(n);
    for (int i = 0; i < n; ++i) {
        pyth::Thread t([c = Counted(i), &ran] { ran += c.value >= 0; });
        t.start();
        refs.push_back(pyth::Thread::from_handle(t.native_handle()));
    }  // each object dies while its thread may still run
    for (auto& r : refs) CHECK(r.join(30s));
    CHECK(ran == n);
    CHECK(Counted::live == base);

    std::atomic<int> fired{0};
    for (int i = 0; i < n; ++i) {
        pyth::Timer t(0s, [c = Counted(i), &fired] { fired += c.value >= 0; });
        t.start();
        t.cancel();  // may or may not beat the firing
    }
    CHECK(fired <= n);
    CHECK(Counted::live == base);
}

int main() {
    WATCHDOG(240);
    RUN(thread_lambda_by_reference);
    RUN(thread_with_arguments);
    RUN(names_daemon_identity);
    RUN(thread_errors);
    RUN(thread_exception_reaches_c_excepthook);
    RUN(thread_exception_reaches_cxx_excepthook);
    RUN(thread_object_outlived_by_thread);
    RUN(timer_cancel_and_fire);
    RUN(thread_local_values);
    RUN(module_functions);
    RUN(many_threads_counter);
    RUN(ownership_races);
    return check::report();
}
