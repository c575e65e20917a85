// Typed queues through the C++ binding: value round trips (move-only
// included), bounded/non-blocking behaviour, orderings, task tracking,
// shutdown, and proof that boxed items never leak.
#include "check.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using check::Counted;
using check::since;
using Clock = std::chrono::steady_clock;

TEST(string_round_trip) {
    pyth::Queue<std::string> q;
    CHECK(q.empty());
    std::string lvalue = "copied";
    q.put("literal");
    q.put(lvalue);
    q.put(std::string(1000, 'x'));
    CHECK(lvalue == "copied");  // put(const T&) copies
    CHECK(q.qsize() == 3);
    CHECK(!q.full());  // unbounded: never full
    CHECK(q.get() == "literal");
    CHECK(q.get(1s) == "copied");
    CHECK(q.get_nowait() == std::string(1000, 'x'));
    CHECK(q.empty());
    CHECK(!q.try_get().has_value());

    // Move-only items.
    pyth::Queue<std::unique_ptr<int>> mq;
    auto p = std::make_unique<int>(7);
    mq.put(std::move(p));
    CHECK(p == nullptr);
    mq.put(std::make_unique<int>(8));
    std::unique_ptr<int> a = mq.get();
    std::optional<std::unique_ptr<int>> b = mq.try_get();
    CHECK(a && *a == 7);
    CHECK(b && *b && **b == 8);
}

TEST(bounded_full_and_empty) {
    pyth::Queue<std::unique_ptr<int>> q(1);
    q.put(std::make_unique<int>(1));
    CHECK(q.full());
    // A failed put leaves a moved-in item with the caller.
    auto p = std::make_unique<int>(2);
    CHECK(!q.try_put(std::move(p)));
    CHECK(p && *p == 2);
    CHECK_THROWS(pyth::full, q.put_nowait(std::make_unique<int>(3)));
    auto t0 = Clock::now();
    try {
        q.put(std::move(p), 30ms);
        CHECK(!"a timed put on a full queue must throw");
    } catch (const pyth::full& e) {
        CHECK(e.status() == PYTH_FULL);
    }
    CHECK(since(t0) >= 0.025);
    CHECK(p && *p == 2);  // still ours
    t0 = Clock::now();
    CHECK(!q.try_put(std::move(p), 30ms));
    CHECK(since(t0) >= 0.025);
    CHECK(p != nullptr);

    CHECK(*q.get_nowait() == 1);
    CHECK(q.try_put(std::move(p)));
    CHECK(p == nullptr);
    CHECK(*q.get() == 2);

    CHECK_THROWS(pyth::empty, q.get_nowait());
    t0 = Clock::now();
    try {
        q.get(30ms);
        CHECK(!"a timed get on an empty queue must throw");
    } catch (const pyth::empty& e) {
        CHECK(e.status() == PYTH_EMPTY);
    }
    CHECK(since(t0) >= 0.025);
    t0 = Clock::now();
    CHECK(!q.try_get(30ms).has_value());
    CHECK(since(t0) >= 0.025);
    // Python: a negative timeout is a ValueError for queues.
    CHECK_THROWS(pyth::value_error, q.get(pyth::Timeout::seconds(-1.5)));
    CHECK_THROWS(pyth::value_error, q.put(std::make_unique<int>(0), pyth::Timeout::seconds(-0.5)));
    CHECK(q.empty());

    // A blocked put completes when a consumer makes room.
    pyth::Queue<int> small(1);
    small.put(1);
    pyth::Thread producer([&] { small.put(2, 30s); });
    producer.start();
    CHECK(small.get(30s) == 1);
    CHECK(small.get(30s) == 2);
    CHECK(producer.join(30s));
}

TEST(destructor_drains_items) {
    int base = Counted::live;
    {
        pyth::Queue<Counted> q;
        for (int i = 0; i < 5; ++i) q.put(Counted(i));
        CHECK(Counted::live == base + 5);
        CHECK(q.get().value == 0);
        CHECK(Counted::live == base + 4);
    }
    CHECK(Counted::live == base);
    {
        pyth::LifoQueue<Counted> l;
        pyth::SimpleQueue<Counted> s;
        auto by_value = [](const Counted& a, const Counted& b) { return a.value < b.value; };
        pyth::PriorityQueue<Counted, decltype(by_value)> p(0, by_value);
        for (int i = 0; i < 3; ++i) {
            l.put(Counted(i));
            s.put(Counted(i));
            p.put(Counted(3 - i));
        }
        CHECK(Counted::live == base + 9);
        // A moved queue keeps its items; the moved-from one owns none.
        pyth::Queue<Counted> q1;
        q1.put(Counted(1));
        pyth::Queue<Counted> q2(std::move(q1));
        CHECK(q2.qsize() == 1);
        CHECK_THROWS(pyth::invalid_handle, q1.put(Counted(9)));
        CHECK(Counted::live == base + 10);
        // close() drains too.
        l.close();
        CHECK(Counted::live == base + 7);
        CHECK_THROWS(pyth::invalid_handle, l.get_nowait());
    }
    CHECK(Counted::live == base);
}

TEST(priority_order) {
    pyth::PriorityQueue<int> pq;
    for (int v : {5, 1, 4, 2, 3}) pq.put(v);
    std::vector<int> got;
    while (auto v = pq.try_get()) got.push_back(*v);
    CHECK((got == std::vector<int>{1, 2, 3, 4, 5}));  // smallest first, like heapq

    pyth::PriorityQueue<int, std::greater<int>> maxq;
    for (int v : {5, 1, 4, 2, 3}) maxq.put(v);
    got.clear();
    while (auto v = maxq.try_get()) got.push_back(*v);
    CHECK((got == std::vector<int>{5, 4, 3, 2, 1}));

    // Equal priorities come out in insertion order.
    struct ByFirst {
        bool operator()(const std::pair<int, std::string>& a, const std::pair<int, std::string>& b) const {
            return a.first < b.first;
        }
    };
    pyth::PriorityQueue<std::pair<int, std::string>, ByFirst> stable;
    stable.put({2, "b1"});
    stable.put({1, "a1"});
    stable.put({2, "b2"});
    stable.put({1, "a2"});
    std::vector<std::string> names;
    while (auto v = stable.try_get()) names.push_back(v->second);
    CHECK((names == std::vector<std::string>{"a1", "a2", "b1", "b2"}));

    // A stateful comparator survives moving the queue.
    struct Mod {
        int m;
        bool operator()(int a, int b) const { return a % m < b % m; }
    };
    pyth::PriorityQueue<int, Mod> mq0(0, Mod{10});
    pyth::PriorityQueue<int, Mod> mq(std::move(mq0));
    for (int v : {19, 31, 25}) mq.put(v);
    CHECK(mq.get() == 31);
    CHECK(mq.get() == 25);
    CHECK(mq.get() == 19);

    // Bounded priority queue.
    pyth::PriorityQueue<int> bounded(2);
    bounded.put(3);
    bounded.put(1);
    CHECK(bounded.full());
    CHECK(!bounded.try_put(0));
    CHECK(bounded.get() == 1);
}

TEST(lifo_order) {
    pyth::LifoQueue<int> l;
    for (int i = 0; i < 4; ++i) l.put(i);
    std::vector<int> got;
    while (auto v = l.try_get()) got.push_back(*v);
    CHECK((got == std::vector<int>{3, 2, 1, 0}));
}

TEST(simple_queue) {
    pyth::SimpleQueue<std::string> s;
    CHECK(s.empty());
    s.put("one");
    s.put_nowait("two");  // never full
    CHECK(s.try_put(std::string("three")));
    CHECK(s.qsize() == 3);
    CHECK(s.get() == "one");
    CHECK(s.get_nowait() == "two");
    CHECK(*s.try_get() == "three");
    CHECK_THROWS(pyth::empty, s.get(10ms));
    // A SimpleQueue has no task_done/join/shutdown: the C++ type leaves them
    // out, and the C calls say AttributeError (PYTH_EINVAL).
    CHECK_THROWS(pyth::invalid_handle, pyth::detail::check(pyth_queue_task_done(s.native_handle())));
    CHECK(pyth_queue_shutdown(s.native_handle(), false) == PYTH_EINVAL);

    // Across threads, a blocked get is woken by a put.
    std::string got;
    pyth::Thread t([&] { got = s.get(30s); });
    t.start();
    s.put("hello");
    CHECK(t.join(30s));
    CHECK(got == "hello");
}

TEST(producers_consumers_task_done) {
    pyth::Queue<int> q(8);
    const int n = 300;
    std::atomic<long> sum{0};
    std::atomic<int> consumed{0}, shut_seen{0};
    std::vector<pyth::Thread> consumers;
    for (int i = 0; i < 3; ++i)
        consumers.emplace_back([&] {
            for (;;) {
                try {
                    int v = q.get();
                    sum += v;
                    ++consumed;
                    q.task_done();
                } catch (const pyth::shutdown_error&) {
                    ++shut_seen;
                    return;
                }
            }
        });
    for (auto& c : consumers) c.start();
    pyth::Thread producer([&] {
        for (int i = 1; i <= n; ++i) q.put(i);
    });
    producer.start();
    CHECK(producer.join(60s));
    q.join();  // every item was marked done
    CHECK(consumed == n);
    CHECK(sum == static_cast<long>(n) * (n + 1) / 2);
    q.shutdown();  // wakes the idle consumers
    for (auto& c : consumers) CHECK(c.join(30s));
    CHECK(shut_seen == 3);
    CHECK_THROWS(pyth::value_error, q.task_done());  // too many
}

TEST(shutdown) {
    pyth::Queue<int> q;
    q.put(1);
    q.put(2);
    q.shutdown();
    try {
        q.put(3);
        CHECK(!"put after shutdown must throw");
    } catch (const pyth::shutdown_error& e) {
        CHECK(e.status() == PYTH_ESHUTDOWN);
    }
    CHECK(q.get() == 1);  // what is left still drains
    CHECK(q.get_nowait() == 2);
    CHECK_THROWS(pyth::shutdown_error, q.get());  // then gets fail at once
    CHECK_THROWS(pyth::shutdown_error, q.try_get());

    // A blocked putter wakes with the error and keeps its item.
    pyth::Queue<std::unique_ptr<int>> full_q(1);
    full_q.put(std::make_unique<int>(1));
    bool kept = false, threw = false;
    pyth::Event about_to_put;
    pyth::Thread putter([&] {
        auto p = std::make_unique<int>(2);
        about_to_put.set();
        try {
            full_q.put(std::move(p), 30s);
        } catch (const pyth::shutdown_error&) {
            threw = true;
        }
        kept = p && *p == 2;
    });
    putter.start();
    CHECK(about_to_put.wait(30s));
    full_q.shutdown();
    CHECK(putter.join(30s));
    CHECK(threw);
    CHECK(kept);

    // Immediate shutdown destroys the items left and releases join().
    int base = Counted::live;
    pyth::Queue<Counted> cq;
    for (int i = 0; i < 4; ++i) cq.put(Counted(i));
    bool getter_threw = false;
    pyth::Thread getter([&] {
        try {
            // Either gets an item (then marks it done) or sees the shutdown.
            for (;;) {
                cq.get(30s);
                cq.task_done();
            }
        } catch (const pyth::shutdown_error&) {
            getter_threw = true;
        }
    });
    cq.shutdown(true);
    getter.start();
    CHECK(getter.join(30s));
    CHECK(getter_threw);
    CHECK(Counted::live == base);
    cq.join();  // returns: discarded items count as done
    CHECK(cq.empty());
}

int main() {
    WATCHDOG(240);
    RUN(string_round_trip);
    RUN(bounded_full_and_empty);
    RUN(destructor_drains_items);
    RUN(priority_order);
    RUN(lifo_order);
    RUN(simple_queue);
    RUN(producers_consumers_task_done);
    RUN(shutdown);
    return check::report();
}
