// A tiny assertion harness for the C++ binding tests. Each test file is a
// standalone program:
//
//     TEST(lock_guard) { pyth::Lock l; { std::lock_guard g(l); CHECK(l.locked()); } }
//     int main() { RUN(lock_guard); return report(); }
//
// Failed checks print file:line and are counted; the program exits nonzero
// if any failed. An exception escaping a test is a failure, not a crash. A
// watchdog alarm turns a deadlock into a failure instead of a hang.
#ifndef PYTH_CPP_TEST_CHECK_HPP
#define PYTH_CPP_TEST_CHECK_HPP

#include "pyth.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <errno.h>
#include <unistd.h>

namespace check {
inline std::atomic<int> checks{0};
inline std::atomic<int> failures{0};
inline const char* current = "";

// Counts live instances, to prove the binding destroys what it boxes.
struct Counted {
    static inline std::atomic<int> live{0};
    int value;
    explicit Counted(int v = 0) : value(v) { ++live; }
    Counted(const Counted& o) : value(o.value) { ++live; }
    Counted(Counted&& o) noexcept : value(o.value) { ++live; }
    Counted& operator=(const Counted&) = default;
    Counted& operator=(Counted&&) noexcept = default;
    ~Counted() { --live; }
};

inline double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline void on_alarm(int) {
    const char msg[] = "watchdog: test timed out (deadlock?)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

inline int report() {
    std::printf("%s: %d checks, %d failed\n", program_invocation_short_name, checks.load(), failures.load());
    return failures.load() ? 1 : 0;
}
}  // namespace check

#define FAIL_AT(...)                                                        \
    do {                                                                    \
        ++check::failures;                                                  \
        std::fprintf(stderr, "%s:%d: [%s] ", __FILE__, __LINE__, check::current); \
        std::fprintf(stderr, __VA_ARGS__);                                  \
        std::fputc('\n', stderr);                                           \
    } while (0)

#define CHECK(cond)                                                         \
    do {                                                                    \
        ++check::checks;                                                    \
        if (!(cond)) FAIL_AT("CHECK(%s) failed", #cond);                    \
    } while (0)

// Checks that `expr` throws exactly-or-derived `Exc`.
#define CHECK_THROWS(Exc, expr)                                             \
    do {                                                                    \
        ++check::checks;                                                    \
        bool caught_ = false;                                               \
        try {                                                               \
            (void)(expr);                                                   \
        } catch (const Exc&) {                                              \
            caught_ = true;                                                 \
        } catch (const std::exception& e_) {                                \
            FAIL_AT("%s threw another exception: %s", #expr, e_.what());   \
            caught_ = true;                                                 \
        } catch (...) {                                                     \
            FAIL_AT("%s threw a non-std exception", #expr);                 \
            caught_ = true;                                                 \
        }                                                                   \
        if (!caught_) FAIL_AT("%s did not throw %s", #expr, #Exc);          \
    } while (0)

#define TEST(name) static void name()

#define RUN(name)                                                           \
    do {                                                                    \
        check::current = #name;                                             \
        int before_ = check::failures.load();                               \
        try {                                                               \
            name();                                                         \
        } catch (const std::exception& e_) {                                \
            FAIL_AT("uncaught exception: %s", e_.what());                   \
        } catch (...) {                                                     \
            FAIL_AT("uncaught non-std exception");                          \
        }                                                                   \
        std::printf("%-32s %s\n", #name, check::failures.load() == before_ ? "ok" : "FAILED"); \
    } while (0)

// Arms the watchdog; call first in main.
#define WATCHDOG(seconds)                                                   \
    do {                                                                    \
        std::signal(SIGALRM, check::on_alarm);                              \
        alarm(seconds);                                                     \
    } while (0)

#endif
