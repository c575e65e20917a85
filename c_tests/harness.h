/*
 * A tiny test harness for the C tests. Each test file is one program:
 *
 *     TEST(lock_basics) { CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK); ... }
 *     int main(void) { RUN(lock_basics); return REPORT(); }
 *
 * Failed checks are counted and reported with file:line and the library's
 * last error; the program exits non-zero if any failed. A watchdog alarm
 * turns a deadlock into a failure instead of a hang. Iteration counts go
 * through ITERS(n), which shrinks them under valgrind (PYTH_TEST_QUICK).
 */
#ifndef PYTH_TEST_HARNESS_H
#define PYTH_TEST_HARNESS_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pyth.h"

static int h_checks, h_failures, h_tests;
static const char *h_current = "";

#define H_FAIL(...)                                                            \
    do {                                                                       \
        h_failures++;                                                          \
        fprintf(stderr, "%s:%d: [%s] ", __FILE__, __LINE__, h_current);        \
        fprintf(stderr, __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                   \
    } while (0)

#define CHECK(cond)                                                            \
    do {                                                                       \
        h_checks++;                                                            \
        if (!(cond)) H_FAIL("check failed: %s (last error: %s \"%s\")", #cond, \
                            pyth_strerror(pyth_last_status()), pyth_last_error()); \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long h_a = (long long)(a), h_b = (long long)(b);                  \
        h_checks++;                                                            \
        if (h_a != h_b) H_FAIL("%s == %lld, expected %s == %lld", #a, h_a, #b, h_b); \
    } while (0)

/* Checks a call's status and, for errors, that a message was set. */
#define CHECK_STATUS(call, expected)                                           \
    do {                                                                       \
        pyth_status h_s = (call), h_e = (expected);                            \
        h_checks++;                                                            \
        if (h_s != h_e)                                                        \
            H_FAIL("%s returned %s, expected %s (last error: \"%s\")", #call,  \
                   pyth_strerror(h_s), pyth_strerror(h_e), pyth_last_error()); \
        else if (h_e < 0 && (pyth_last_status() != h_e || !*pyth_last_error())) \
            H_FAIL("%s: last_status/last_error not set", #call);               \
    } while (0)

/* Checks that the last error message is exactly `msg`. */
#define CHECK_MSG(msg)                                                         \
    do {                                                                       \
        h_checks++;                                                            \
        if (strcmp(pyth_last_error(), (msg)) != 0)                             \
            H_FAIL("last error \"%s\", expected \"%s\"", pyth_last_error(), (msg)); \
    } while (0)

#define TEST(name) static void name(void)

#define RUN(name)                                                              \
    do {                                                                       \
        int h_before = h_failures;                                             \
        h_current = #name;                                                     \
        h_tests++;                                                             \
        name();                                                                \
        fprintf(stderr, "%s %s\n", h_failures == h_before ? "ok  " : "FAIL", #name); \
    } while (0)

static void h_watchdog(int sig) {
    (void)sig;
    static const char msg[] = "watchdog: test timed out (deadlock?)\n";
    if (write(2, msg, sizeof msg - 1) < 0) {}
    _exit(124);
}

__attribute__((constructor)) static void h_setup(void) {
    signal(SIGALRM, h_watchdog);
    const char *v = getenv("PYTH_TEST_TIMEOUT");
    alarm(v ? (unsigned)atoi(v) : 240);
}

#define REPORT() h_report(__FILE__)
static int h_report(const char *file) {
    printf("%s: %d tests, %d checks, %d failed\n", file, h_tests, h_checks, h_failures);
    return h_failures ? 1 : 0;
}

/* Smaller counts under valgrind. */
static inline long ITERS(long n) {
    return getenv("PYTH_TEST_QUICK") ? (n / 50 > 10 ? n / 50 : 10) : n;
}

/* Monotonic seconds. */
static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Caps the calling process's address space `margin` bytes above what it
 * maps now, so that allocations soon fail (for out-of-memory tests, in a
 * forked child). False if it could not. */
static inline bool h_limit_address_space(size_t margin) {
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return false;
    int got = fscanf(f, "%ld", &pages);
    fclose(f);
    if (got != 1) return false;
    rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + margin;
    struct rlimit rl = {limit, limit};
    return setrlimit(RLIMIT_AS, &rl) == 0;
}

/* Waits at most `seconds` for child `pid` and stores its wait status; a
 * child still running then is killed (and reaped), and the result is false. */
static inline bool h_wait_child(pid_t pid, double seconds, int *status) {
    double end = now_s() + seconds;
    struct timespec ms = {0, 1000000};
    pid_t got;
    while ((got = waitpid(pid, status, WNOHANG)) == 0 && now_s() < end) nanosleep(&ms, NULL);
    if (got != 0) return true;
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return false;
}

/* Plain pthreads for tests of the primitives (independent of pyth threads). */
typedef struct { pthread_t t; } h_thread;
static inline h_thread spawn(void *(*fn)(void *), void *arg) {
    h_thread t;
    if (pthread_create(&t.t, NULL, fn, arg) != 0) { perror("pthread_create"); exit(2); }
    return t;
}
/* Joins within `seconds`, or fails the whole program (a hang is a failure). */
static inline void join_within(h_thread t, double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)seconds;
    ts.tv_nsec += (long)((seconds - (time_t)seconds) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    int rc = pthread_timedjoin_np(t.t, NULL, &ts);
    if (rc != 0) {
        fprintf(stderr, "[%s] thread did not finish within %.1fs\n", h_current, seconds);
        _exit(3);
    }
}

/* Spins (yielding) until `cond` holds, at most `seconds`; returns whether it did. */
#define WAIT_UNTIL(cond, seconds)                                              \
    ({                                                                         \
        double h_end = now_s() + (seconds);                                    \
        while (!(cond) && now_s() < h_end) sched_yield();                      \
        (cond);                                                                \
    })

#include <sched.h>

/* ---- helpers for the primitive tests ------------------------------------ */

#include <stdbool.h>
#include <sys/syscall.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

/* Whether the program runs under valgrind (or in quick mode). */
static inline bool h_on_valgrind(void) {
#ifdef RUNNING_ON_VALGRIND
    return RUNNING_ON_VALGRIND != 0;
#else
    return false;
#endif
}
static inline bool h_quick(void) { return getenv("PYTH_TEST_QUICK") != NULL || h_on_valgrind(); }

/* A generous upper bound on scheduling delays, in seconds: added to a
 * timeout to bound how late a timed wait may return (2 noisy cores, and
 * valgrind is ~50x slower). */
static inline double h_slack(void) { return h_quick() ? 20.0 : 3.0; }

/* The calling thread's kernel id. */
static inline int h_gettid(void) { return (int)syscall(SYS_gettid); }

/* Whether thread `tid` of this process is asleep in a futex wait, which is
 * where a thread blocked in a libpyth call sleeps. Reads /proc: the
 * thread's state must be 'S' and, where /proc/.../syscall is readable, its
 * current system call futex. */
static inline bool h_in_futex_wait(int tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] != 'S') return false;
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    f = fopen(path, "r");
    if (!f) return true;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    if (n == 0) return true;
    return atoi(buf) == SYS_futex; /* "running" reads as 0 */
}

/* Waits until thread `tid` sleeps in a futex wait, at most `seconds`;
 * returns whether it does. `tid` must have been published (by the thread
 * itself, with h_gettid) before it made the blocking call. */
#define WAIT_BLOCKED(tid, seconds) WAIT_UNTIL(h_in_futex_wait(tid), seconds)

/* Checks that `cond` stays false for a short observation window (`seconds`):
 * for checking that something did NOT happen. */
#define STAYS_FALSE(cond, seconds)                                             \
    ({                                                                         \
        double h_end2 = now_s() + (seconds);                                   \
        struct timespec h_ms = {0, 1000000};                                   \
        while (!(cond) && now_s() < h_end2) nanosleep(&h_ms, NULL);            \
        !(cond);                                                               \
    })


/* Starts fn(arg) in a thread that records its kernel id in *tid and sets
 * *done when its call returns, and waits until that thread is asleep inside
 * the library (so "freed while blocked" checks really are). */
__attribute__((unused)) static h_thread spawn_blocked(void *(*fn)(void *), void *arg, atomic_int *tid,
                                                      atomic_int *done) {
    h_thread t = spawn(fn, arg);
    CHECK(WAIT_UNTIL(atomic_load(tid) != 0, 30));
    CHECK(WAIT_BLOCKED(atomic_load(tid), 30));
    CHECK(!atomic_load(done));
    return t;
}

/* ---- a thread timing one blocking call ------------------------------------ */

/* w->call(w) runs in its own thread: its status and duration are recorded,
 * `tid` is set when it starts and `done` when it returns. The union names
 * the primitive as each test file calls it. */
typedef struct h_waiter {
    pyth_status (*call)(struct h_waiter *w);
    union {
        pyth_lock_t *lock;
        pyth_semaphore_t *s;
        pyth_event_t *e;
    };
    bool blocking;
    double timeout;
    atomic_int *acquired; /* if set, counts the calls that returned PYTH_OK */
    atomic_int tid;
    atomic_int done;
    pyth_status st;
    double elapsed;
} h_waiter;

__attribute__((unused)) static void *h_waiter_fn(void *p) {
    h_waiter *w = p;
    atomic_store(&w->tid, h_gettid());
    double t0 = now_s();
    w->st = w->call(w);
    w->elapsed = now_s() - t0;
    if (w->st == PYTH_OK && w->acquired) atomic_fetch_add(w->acquired, 1);
    atomic_store(&w->done, 1);
    return NULL;
}

/* ---- signal storms: timed waits must survive EINTR ----------------------- */

/* SIGUSR1 sent to one thread every 2 ms, with a handler installed without
 * SA_RESTART so interrupted system calls see EINTR; sig_count counts them.
 *     h_thread spam = spam_start(); ... ; spam_stop(spam); */
__attribute__((unused)) static atomic_int sig_count, sig_stop;
__attribute__((unused)) static struct sigaction h_old_sa;
__attribute__((unused)) static pthread_t h_spam_target;

__attribute__((unused)) static void h_on_signal(int sig) {
    (void)sig;
    atomic_fetch_add(&sig_count, 1);
}

__attribute__((unused)) static void *h_signal_spammer(void *target) {
    pthread_t t = *(pthread_t *)target;
    struct timespec ms = {0, 2000000};
    while (!atomic_load(&sig_stop)) {
        pthread_kill(t, SIGUSR1);
        nanosleep(&ms, NULL);
    }
    return NULL;
}

/* Starts signalling the calling thread. */
__attribute__((unused)) static h_thread spam_start(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &h_old_sa);
    h_spam_target = pthread_self();
    atomic_store(&sig_stop, 0);
    atomic_store(&sig_count, 0);
    return spawn(h_signal_spammer, &h_spam_target);
}

__attribute__((unused)) static void spam_stop(h_thread spam) {
    atomic_store(&sig_stop, 1);
    join_within(spam, 30);
    sigaction(SIGUSR1, &h_old_sa, NULL);
}

#endif
