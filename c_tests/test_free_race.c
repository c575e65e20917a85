/* Freeing a primitive races with the thread it has just woken.
 *
 * API.md: "Freeing a primitive that a thread is blocked on is refused with
 * PYTH_EBUSY and the handle stays valid", and the library never touches
 * freed memory. Each round blocks one or two waiters (plain pthreads or
 * libpyth threads) on a fresh primitive, checks that freeing it is refused
 * while they sleep, wakes them from the main thread and at once calls
 * pyth_<x>_free in a loop: every call must be refused (the handle is then
 * still valid, so trying again is allowed) until one succeeds, within a
 * bounded time. A woken waiter makes no further call on the primitive, so
 * only the library decides when its memory may go; under valgrind a late
 * read or write by the woken thread is an error. Natively, a fresh object of
 * the same kind is allocated right after the free (it usually gets the same
 * address) and checked once the waiters are joined, so a late write shows
 * up as a corrupted new object.
 *
 * Some rounds also take back what the wake gave (the lock, the unit, the
 * item) before the woken thread runs: that thread then cannot leave its
 * call, so every free must be refused until it sleeps again.
 *
 * A failure that leaves a thread inside a call on freed memory cannot be
 * recovered from: it ends the process at once with the round's
 * description. So that it does not hide the other primitives' results,
 * each test runs in a child process of its own (forked before any libpyth
 * call, so the child starts from a clean library); the parent adds up the
 * children's checks and failures, and counts a child that crashed, hung
 * (watchdog) or exited with valgrind's error code as a failure.
 */
#include "harness.h"
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define ITEM(n) ((void *)(uintptr_t)(n))
#define NUM(p) ((uintptr_t)(p))
#define MAXK 2

/* ---- waiters -------------------------------------------------------------- */

typedef struct round round_t;
typedef struct waiter waiter;

struct waiter {
    pyth_status (*call)(waiter *w); /* the one blocking call, in its thread */
    void *h;                        /* the primitive (or future) */
    round_t *rd;
    double timeout;
    void *item;          /* queue: the item gotten, or the one to put; future: the result */
    size_t index;        /* barrier: the arrival index */
    pyth_status pre;     /* condition: the acquire before the wait */
    pyth_status post;    /* a release made by a waiter that passes the lock on */
    bool passer;         /* it made that release */
    pyth_status st;      /* the blocking call's status */
    bool use_pyth;       /* a libpyth thread, else a plain pthread */
    h_thread pt;
    pyth_thread_t *t;
    atomic_int tid;
    atomic_int done;     /* its calls have all returned */
};

struct round {
    long r;
    int k;                   /* waiters */
    const char *mode;        /* what the main thread does */
    atomic_int passed;       /* waiters whose blocking call has returned (for passers) */
    atomic_int passers_done; /* passers whose release has returned */
    waiter w[MAXK];
};

static void waiter_run(waiter *w) {
    atomic_store(&w->tid, h_gettid());
    w->st = w->call(w);
    if (w->passer) atomic_fetch_add(&w->rd->passers_done, 1);
    atomic_store(&w->done, 1);
}

static void *waiter_pthread(void *p) {
    waiter_run(p);
    return NULL;
}

static int waiter_pyth(void *p) {
    waiter_run(p);
    return 0;
}

/* Round r's setup: k waiters calling `call` on h; the thread kinds and the
 * timeout vary with r. */
static void round_init(round_t *rd, long r, int k, const char *mode, pyth_status (*call)(waiter *), void *h) {
    memset(rd, 0, sizeof *rd);
    rd->r = r;
    rd->k = k;
    rd->mode = mode;
    for (int i = 0; i < k; i++) {
        waiter *w = &rd->w[i];
        w->call = call;
        w->h = h;
        w->rd = rd;
        w->use_pyth = (((r >> 1) + i) & 1) != 0;
        w->timeout = (r >> 2) & 1 ? 60.0 : PYTH_FOREVER;
    }
}

static const char *describe(const round_t *rd) {
    static char buf[256];
    snprintf(buf, sizeof buf, "round %ld: %d waiter(s) [%s%s%s], timeout %s, mode \"%s\"", rd->r, rd->k,
             rd->w[0].use_pyth ? "pyth" : "pthread", rd->k > 1 ? ", " : "",
             rd->k > 1 ? (rd->w[1].use_pyth ? "pyth" : "pthread") : "",
             rd->w[0].timeout == PYTH_FOREVER ? "FOREVER" : "60s", rd->mode);
    return buf;
}

/* ---- one child process per test ------------------------------------------ */

static int done_count(round_t *rd);

/* The child's counts, for the parent. */
static struct counts {
    int checks, failures;
} *h_child;

static void publish(void) {
    h_child->checks = h_checks;
    h_child->failures = h_failures;
}

/* Ends the test's process: a thread may be left inside a call on freed
 * memory (or stuck forever), so neither joining it nor going on is safe. */
__attribute__((noreturn)) static void fatal(const round_t *rd, const char *why) {
    fprintf(stderr, "%s: [%s] FATAL in %s: %s\n", __FILE__, h_current, describe(rd), why);
    for (int i = 0; i < rd->k; i++) {
        bool done = atomic_load(&rd->w[i].done);
        fprintf(stderr, "    waiter %d (%s): %s%s\n", i, rd->w[i].use_pyth ? "pyth" : "pthread",
                done ? "returned " : "still inside its call", done ? pyth_strerror(rd->w[i].st) : "");
    }
    /* Let the waiters run on for a moment, so that valgrind can say where
     * they touch the freed memory. */
    WAIT_UNTIL(done_count((round_t *)rd) == rd->k, h_quick() ? 5.0 : 0.5);
    fprintf(stderr, "FAIL %s\n", h_current);
    h_failures++;
    publish();
    fflush(NULL);
    _exit(1);
}

/* Runs `fn` as RUN does, in a child process with a watchdog of its own. */
static void run_isolated(const char *name, void (*fn)(void)) {
    fflush(NULL);
    h_child->checks = h_child->failures = 0;
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        alarm(150);
        h_checks = h_failures = 0;
        h_current = name;
        fn();
        fprintf(stderr, "%s %s\n", h_failures ? "FAIL" : "ok  ", name);
        publish();
        fflush(NULL);
        exit(h_failures ? 1 : 0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    h_tests++;
    h_checks += h_child->checks + 1;
    h_failures += h_child->failures;
    int expected = h_child->failures ? 1 : 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != expected) {
        h_failures++;
        fprintf(stderr, "FAIL %s: its process %s %d%s\n", name, WIFEXITED(st) ? "exited with" : "was killed by signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
                WIFEXITED(st) && WEXITSTATUS(st) == 99   ? " (valgrind found errors)"
                : WIFEXITED(st) && WEXITSTATUS(st) == 124 ? " (watchdog: it hung)"
                                                           : "");
    }
}

#define RUN_ISOLATED(name) run_isolated(#name, name)

/* Waits until w sleeps in a futex wait (seen twice in a row), at most 30 s. */
static bool wait_parked(waiter *w) {
    if (!WAIT_UNTIL(atomic_load(&w->tid) != 0, 30)) return false;
    int tid = atomic_load(&w->tid);
    double end = now_s() + 30;
    int seen = 0;
    while (now_s() < end && !atomic_load(&w->done)) {
        if (!h_in_futex_wait(tid)) seen = 0;
        else if (++seen == 2) return true;
        sched_yield();
    }
    return false;
}

/* Starts the waiters one after the other, each once the previous sleeps. */
static void start_all(round_t *rd) {
    for (int i = 0; i < rd->k; i++) {
        waiter *w = &rd->w[i];
        if (w->use_pyth) {
            w->t = pyth_thread_new(waiter_pyth, w, NULL, 0);
            if (!w->t || pyth_thread_start(w->t) != PYTH_OK) fatal(rd, "cannot start a libpyth thread");
        } else {
            w->pt = spawn(waiter_pthread, w);
        }
        if (!wait_parked(w)) {
            char why[160];
            snprintf(why, sizeof why, "waiter %d never blocked (returned: %s, status %s)", i,
                     atomic_load(&w->done) ? "yes" : "no", pyth_strerror(w->st));
            fatal(rd, why);
        }
    }
}

static int done_count(round_t *rd) {
    int n = 0;
    for (int i = 0; i < rd->k; i++) n += atomic_load(&rd->w[i].done);
    return n;
}

static void wait_done(round_t *rd, int n) {
    if (!WAIT_UNTIL(done_count(rd) >= n, 60)) fatal(rd, "a woken waiter did not return within 60 s");
}

static void wait_passers(round_t *rd, int n) {
    if (!WAIT_UNTIL(atomic_load(&rd->passers_done) >= n, 60))
        fatal(rd, "a waiter did not pass the lock on within 60 s");
}

/* Joins the waiters, which must all return (the primitive is freed by now). */
static void join_all(round_t *rd) {
    for (int i = 0; i < rd->k; i++) {
        waiter *w = &rd->w[i];
        if (!WAIT_UNTIL(atomic_load(&w->done), 60))
            fatal(rd, "the primitive was freed (PYTH_OK) but a woken waiter has not returned 60 s later");
        if (w->use_pyth) {
            if (pyth_thread_join(w->t, 60) != PYTH_OK) fatal(rd, "pyth_thread_join of a returned waiter failed");
            pyth_thread_free(w->t);
        } else {
            join_within(w->pt, 60);
        }
    }
}

/* A status a waiter got (in its own thread, so CHECK_STATUS's check of
 * the last error does not apply here). */
#define CHECK_ST(got, expected)                                                \
    do {                                                                       \
        pyth_status h_g = (got), h_x = (expected);                             \
        h_checks++;                                                            \
        if (h_g != h_x) H_FAIL("%s is %s, expected %s", #got, pyth_strerror(h_g), pyth_strerror(h_x)); \
    } while (0)

/* ---- the free loop -------------------------------------------------------- */

typedef pyth_status (*free_fn)(void *h);
static pyth_status free_lock(void *h) { return pyth_lock_free(h); }
static pyth_status free_rlock(void *h) { return pyth_rlock_free(h); }
static pyth_status free_sem(void *h) { return pyth_semaphore_free(h); }
static pyth_status free_event(void *h) { return pyth_event_free(h); }
static pyth_status free_cond(void *h) { return pyth_cond_free(h); }
static pyth_status free_barrier(void *h) { return pyth_barrier_free(h); }
static pyth_status free_queue(void *h) { return pyth_queue_free(h); }
static pyth_status free_future(void *h) { return pyth_future_free(h); }

static double free_seconds(void) { return h_quick() ? 60.0 : 15.0; }

/* Frees h at once and again while refused: each call must give PYTH_OK or
 * PYTH_EBUSY (with its status and message set); a free that is not done
 * within free_seconds() means a woken thread never left its call. *busy
 * counts the refusals. Ends the test's process unless the free succeeded. */
static void free_retry(round_t *rd, free_fn fr, void *h, const char *what, long *busy) {
    double end = now_s() + free_seconds();
    long n = 0;
    for (;;) {
        pyth_status st = fr(h);
        if (st == PYTH_OK) break;
        if (st != PYTH_EBUSY) {
            char why[160];
            snprintf(why, sizeof why, "%s returned %s (\"%s\"), expected PYTH_EBUSY or PYTH_OK", what,
                     pyth_strerror(st), pyth_last_error());
            fatal(rd, why);
        }
        if (n == 0) {
            h_checks++;
            if (pyth_last_status() != PYTH_EBUSY || !*pyth_last_error())
                H_FAIL("%s: %s refused without setting last_status/last_error", describe(rd), what);
        }
        n++;
        if (n > 256) {
            if (now_s() > end) {
                char why[200];
                snprintf(why, sizeof why, "%s still refused (PYTH_EBUSY) %.0f s after the wake, %ld tries: a woken "
                         "waiter never left its call", what, free_seconds(), n);
                fatal(rd, why);
            }
            sched_yield();
        }
    }
    h_checks++;
    *busy += n;
}

/* The main thread has taken back what the wake gave (the lock, the unit,
 * the item) before the woken waiter could use it: that waiter cannot leave
 * its call until the main thread gives it again, so every free must be
 * refused, and no more than `may_return` waiters (those let through
 * before) may return meanwhile. Tries until every waiter still inside
 * sleeps again. */
static void refused_until_asleep(round_t *rd, int may_return, free_fn fr, void *h, const char *what) {
    double end = now_s() + 30;
    for (long n = 1;; n++) {
        pyth_status st = fr(h);
        h_checks++;
        if (st != PYTH_EBUSY) {
            char why[300];
            snprintf(why, sizeof why, "%s returned %s while a woken thread was still inside its blocking call "
                     "(the main thread had taken back what woke it, so it cannot have returned)",
                     what, pyth_strerror(st));
            if (st == PYTH_OK) fatal(rd, why);
            H_FAIL("%s: %s", describe(rd), why);
            return;
        }
        if (done_count(rd) > may_return) {
            H_FAIL("%s: a waiter returned while the main thread held what it waits for", describe(rd));
            return;
        }
        if (n >= 64 && (n & 15) == 0) {
            bool asleep = true;
            for (int i = 0; i < rd->k; i++)
                if (!atomic_load(&rd->w[i].done) && !h_in_futex_wait(atomic_load(&rd->w[i].tid))) asleep = false;
            if (asleep) return;
        }
        if (n >= 64) {
            if (now_s() > end) fatal(rd, "a woken waiter neither left its call nor slept again within 30 s");
            sched_yield();
        }
    }
}

/* Stops a test's round loop after its first failing round. */
#define ROUND_END(rd, before)                                                  \
    if (h_failures != (before)) {                                              \
        fprintf(stderr, "    (stopped after %s)\n", describe(rd));            \
        break;                                                                 \
    }

/* Rounds per test: fewer under valgrind, though not as few as ITERS gives
 * (a round is cheap, and rare interleavings need many). */
static long rounds(long n) { return h_quick() ? n / 5 : n; }

/* `rounds`: the rounds before the one that stopped the loop, if one did. */
static void summary(const char *what, long rounds, long busy, long took) {
    fprintf(stderr, "     %s: %ld rounds, %ld frees refused after a wake, %ld wakes taken back\n", what, rounds,
            busy, took);
}

/* ---- Lock ------------------------------------------------------------------ */

static pyth_status lock_call(waiter *w) { return pyth_lock_acquire(w->h, true, w->timeout); }

/* The main thread holds the lock; each of one or two waiters is let in by
 * a release (any thread may release a Lock; the main thread releases it
 * for the first waiter too, so that the second release comes soon after the
 * first and the parking lot is usually not yet due for a fair hand-off:
 * the woken thread then has to take the lock itself). With `take_back`,
 * the main thread takes the lock again right after the last release. */
static void lock_rounds(bool take_back) {
    long n = rounds(2000), busy = 0, took = 0;
    long r;
    for (r = 0; r < n; r++) {
        int before = h_failures;
        pyth_lock_t *l = pyth_lock_new();
        CHECK(l != NULL);
        round_t rd;
        round_init(&rd, r, 1 + (int)(r & 1), take_back ? "release, take back, release" : "release", lock_call, l);
        CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
        start_all(&rd);
        CHECK_STATUS(pyth_lock_free(l), PYTH_EBUSY);
        CHECK(pyth_lock_locked(l));
        if (rd.k == 2) {
            CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
            /* Locked again once the first waiter has it (handed over, or
             * taken); the second still sleeps. */
            if (!WAIT_UNTIL(pyth_lock_locked(l), 60)) fatal(&rd, "the woken waiter never took the lock");
            CHECK_STATUS(pyth_lock_free(l), PYTH_EBUSY);
        }
        CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
        if (take_back && pyth_lock_acquire(l, false, PYTH_FOREVER) == PYTH_OK) {
            took++;
            refused_until_asleep(&rd, rd.k - 1, free_lock, l, "pyth_lock_free");
            CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
        }
        free_retry(&rd, free_lock, l, "pyth_lock_free", &busy);
        pyth_lock_t *canary = pyth_lock_new();
        join_all(&rd);
        for (int i = 0; i < rd.k; i++) CHECK_ST(rd.w[i].st, PYTH_OK);
        /* A late write by a woken thread would have landed in the canary. */
        CHECK(!pyth_lock_locked(canary));
        CHECK_STATUS(pyth_lock_acquire(canary, false, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_lock_release(canary), PYTH_OK);
        CHECK_STATUS(pyth_lock_free(canary), PYTH_OK);
        ROUND_END(&rd, before);
    }
    summary(take_back ? "Lock, taken back" : "Lock", r, busy, took);
}

TEST(free_race_lock) { lock_rounds(false); }
TEST(free_race_lock_taken_back) { lock_rounds(true); }

/* ---- RLock ------------------------------------------------------------------ */

/* With two waiters, the first to get the lock passes it on (the other is
 * still blocked, so the lock cannot be freed meanwhile); the last keeps it
 * and makes no further call. */
static pyth_status rlock_call(waiter *w) {
    pyth_status st = pyth_rlock_acquire(w->h, true, w->timeout);
    if (st == PYTH_OK && atomic_fetch_add(&w->rd->passed, 1) < w->rd->k - 1) {
        w->passer = true;
        w->post = pyth_rlock_release(w->h);
    }
    return st;
}

typedef struct {
    pyth_rlock_t *r;
    bool owned;
    pyth_status rel;
} rlock_probe;

static void *rlock_probe_fn(void *p) {
    rlock_probe *pr = p;
    pr->owned = pyth_rlock_is_owned(pr->r);
    pr->rel = pyth_rlock_release(pr->r);
    return NULL;
}

/* The main thread holds the lock (two levels); one waiter, or two of which
 * the first passes the lock on. With `take_back`, the main thread takes the
 * lock again right after its release (one waiter) or right after the first
 * waiter's (two). */
static void rlock_rounds(bool take_back) {
    long n = rounds(2000), busy = 0, took = 0;
    long r;
    for (r = 0; r < n; r++) {
        int before = h_failures;
        int k = 1 + (int)(r & 1);
        pyth_rlock_t *l = pyth_rlock_new();
        CHECK(l != NULL);
        round_t rd;
        round_init(&rd, r, k,
                   k == 1   ? (take_back ? "release, take back, release" : "release")
                   : take_back ? "release, waiter passes it on, take back, release"
                               : "release, waiter passes it on",
                   rlock_call, l);
        CHECK_STATUS(pyth_rlock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_rlock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
        start_all(&rd);
        CHECK_STATUS(pyth_rlock_free(l), PYTH_EBUSY);
        CHECK(pyth_rlock_is_owned(l));
        CHECK_STATUS(pyth_rlock_release(l), PYTH_OK); /* one level left */
        CHECK_STATUS(pyth_rlock_free(l), PYTH_EBUSY);
        CHECK_STATUS(pyth_rlock_release(l), PYTH_OK);
        bool taken = false; /* the lock was taken back from a woken waiter */
        if (take_back && k == 1) {
            taken = pyth_rlock_acquire(l, false, PYTH_FOREVER) == PYTH_OK;
        } else if (take_back) {
            /* The first waiter passes the lock on at once, usually too soon
             * after its own wake-up for a fair hand-off: take it in between. */
            if (!WAIT_UNTIL(atomic_load(&rd.passed) >= 1, 60)) fatal(&rd, "no waiter got the lock");
            double end = now_s() + 60;
            while (atomic_load(&rd.passed) < 2 && now_s() < end) {
                if (pyth_rlock_acquire(l, false, PYTH_FOREVER) == PYTH_OK) {
                    wait_passers(&rd, 1);
                    taken = true;
                    break;
                }
            }
        }
        if (taken) {
            took++;
            refused_until_asleep(&rd, k - 1, free_rlock, l, "pyth_rlock_free");
            CHECK_STATUS(pyth_rlock_release(l), PYTH_OK);
        }
        /* With two, the first passes the lock on: free once its release has
         * returned (the second may still be waking). */
        if (k == 2) wait_passers(&rd, 1);
        free_retry(&rd, free_rlock, l, "pyth_rlock_free", &busy);
        pyth_rlock_t *canary = pyth_rlock_new();
        join_all(&rd);
        for (int i = 0; i < k; i++) {
            CHECK_ST(rd.w[i].st, PYTH_OK);
            if (rd.w[i].passer) CHECK_ST(rd.w[i].post, PYTH_OK);
        }
        CHECK_EQ(atomic_load(&rd.passed), k);
        /* A late write of the owner would make the canary owned by a thread
         * with the waiter's identifier, which a new thread often reuses. */
        rlock_probe pr = {.r = canary};
        join_within(spawn(rlock_probe_fn, &pr), 60);
        CHECK(!pr.owned);
        CHECK_EQ(pr.rel, PYTH_ERUNTIME);
        CHECK(!pyth_rlock_locked(canary));
        CHECK(!pyth_rlock_is_owned(canary));
        CHECK_STATUS(pyth_rlock_acquire(canary, false, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_rlock_release(canary), PYTH_OK);
        CHECK_STATUS(pyth_rlock_release(canary), PYTH_ERUNTIME);
        CHECK_STATUS(pyth_rlock_free(canary), PYTH_OK);
        ROUND_END(&rd, before);
    }
    summary(take_back ? "RLock, taken back" : "RLock", r, busy, took);
}

TEST(free_race_rlock) { rlock_rounds(false); }
TEST(free_race_rlock_taken_back) { rlock_rounds(true); }

/* ---- Semaphore, BoundedSemaphore ----------------------------------------------- */

static pyth_status sem_call(waiter *w) { return pyth_semaphore_acquire(w->h, true, w->timeout); }

/* Counter 0 with one or two waiters; each release(1) lets one through. With
 * two, some rounds release(2) at once (not a bounded one: its bound is 1). */
static void sem_rounds(bool bounded) {
    long n = rounds(2000), busy = 0, took = 0;
    long r;
    for (r = 0; r < n; r++) {
        int before = h_failures;
        int k = 1 + (int)(r & 1);
        int mode = (int)(r % 3); /* 0: release; 1: release, take back; 2: release(k) */
        if (bounded && mode == 2) mode = 0;
        pyth_semaphore_t *s = bounded ? pyth_bounded_semaphore_new(1) : pyth_semaphore_new(0);
        CHECK(s != NULL);
        if (bounded) CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_OK);
        round_t rd;
        round_init(&rd, r, k, mode == 1 ? "release, take back, release" : mode == 2 ? "release(k)" : "release",
                   sem_call, s);
        start_all(&rd);
        CHECK_STATUS(pyth_semaphore_free(s), PYTH_EBUSY);
        CHECK_EQ(pyth_semaphore_value(s), 0);
        if (mode == 2) {
            CHECK_STATUS(pyth_semaphore_release(s, (size_t)k), PYTH_OK);
        } else {
            for (int i = 0; i < k - 1; i++) {
                CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
                wait_done(&rd, i + 1);
                CHECK_STATUS(pyth_semaphore_free(s), PYTH_EBUSY);
            }
            CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
            if (mode == 1 && pyth_semaphore_acquire(s, false, PYTH_FOREVER) == PYTH_OK) {
                took++;
                refused_until_asleep(&rd, k - 1, free_sem, s, "pyth_semaphore_free");
                CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
            }
        }
        free_retry(&rd, free_sem, s, "pyth_semaphore_free", &busy);
        pyth_semaphore_t *canary = bounded ? pyth_bounded_semaphore_new(1) : pyth_semaphore_new(0);
        join_all(&rd);
        for (int i = 0; i < k; i++) CHECK_ST(rd.w[i].st, PYTH_OK);
        CHECK_EQ(pyth_semaphore_value(canary), bounded ? 1 : 0);
        if (bounded) CHECK_STATUS(pyth_semaphore_release(canary, 1), PYTH_EVALUE);
        else CHECK_STATUS(pyth_semaphore_acquire(canary, false, PYTH_FOREVER), PYTH_TIMEOUT);
        CHECK_STATUS(pyth_semaphore_free(canary), PYTH_OK);
        ROUND_END(&rd, before);
    }
    summary(bounded ? "BoundedSemaphore" : "Semaphore", r, busy, took);
}

TEST(free_race_semaphore) { sem_rounds(false); }
TEST(free_race_bounded_semaphore) { sem_rounds(true); }

/* ---- Event ---------------------------------------------------------------------- */

static pyth_status event_call(waiter *w) { return pyth_event_wait(w->h, w->timeout); }

TEST(free_race_event) {
    long n = rounds(2000), busy = 0;
    long r;
    for (r = 0; r < n; r++) {
        int before = h_failures;
        int k = 1 + (int)(r & 1);
        bool clear = r % 3 == 1;
        pyth_event_t *e = pyth_event_new();
        CHECK(e != NULL);
        round_t rd;
        round_init(&rd, r, k, clear ? "set, clear" : "set", event_call, e);
        start_all(&rd);
        CHECK_STATUS(pyth_event_free(e), PYTH_EBUSY);
        CHECK(!pyth_event_is_set(e));
        CHECK_STATUS(pyth_event_set(e), PYTH_OK);
        /* Cleared before the waiters run: they still report the set. */
        if (clear) CHECK_STATUS(pyth_event_clear(e), PYTH_OK);
        free_retry(&rd, free_event, e, "pyth_event_free", &busy);
        pyth_event_t *canary = pyth_event_new();
        join_all(&rd);
        for (int i = 0; i < k; i++) CHECK_ST(rd.w[i].st, PYTH_OK);
        CHECK(!pyth_event_is_set(canary));
        CHECK_STATUS(pyth_event_wait(canary, 0.0), PYTH_TIMEOUT);
        CHECK_STATUS(pyth_event_free(canary), PYTH_OK);
        ROUND_END(&rd, before);
    }
    summary("Event", r, busy, 0);
}

/* ---- Condition ------------------------------------------------------------------- */

/* Acquire, then wait. With two waiters, the first out of the wait releases
 * the lock (the other is still inside wait, so the condition cannot be
 * freed meanwhile); the last keeps the lock and makes no further call. */
static pyth_status cond_call(waiter *w) {
    w->pre = pyth_cond_acquire(w->h, true, PYTH_FOREVER);
    if (w->pre != PYTH_OK) return w->pre;
    pyth_status st = pyth_cond_wait(w->h, w->timeout);
    if (atomic_fetch_add(&w->rd->passed, 1) < w->rd->k - 1) {
        w->passer = true;
        w->post = pyth_cond_release(w->h);
    }
    return st;
}

/* A condition with its own RLock, or over a Lock. One or two waiters; the
 * first of two is woken by notify(1), the last by notify_all, after which
 * the main thread releases the lock (mode 0), tries to free while still
 * holding it (mode 1: the notified waiter still needs the lock), or
 * releases and takes the lock straight back (mode 2). */
static void cond_rounds(bool over_lock) {
    long n = rounds(2000), busy = 0, took = 0;
    long r;
    for (r = 0; r < n; r++) {
        int before = h_failures;
        int k = 1 + (int)(r & 1);
        int mode = (int)(r % 3);
        pyth_lock_t *l = over_lock ? pyth_lock_new() : NULL;
        pyth_cond_t *c = over_lock ? pyth_cond_new_with_lock(l) : pyth_cond_new();
        CHECK(c != NULL);
        round_t rd;
        round_init(&rd, r, k,
                   mode == 0   ? "notify_all, release"
                   : mode == 1 ? "notify_all, free while holding, release"
                               : "notify_all, release, take back, release",
                   cond_call, c);
        start_all(&rd);
        CHECK_STATUS(pyth_cond_free(c), PYTH_EBUSY);
        CHECK(!pyth_cond_locked(c));
        if (over_lock) CHECK_STATUS(pyth_lock_free(l), PYTH_EBUSY); /* the condition uses it */
        for (int i = 0; i < k - 1; i++) {
            CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
            CHECK_STATUS(pyth_cond_notify(c, 1), PYTH_OK);
            CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
            wait_passers(&rd, i + 1);
            CHECK_STATUS(pyth_cond_free(c), PYTH_EBUSY);
        }
        CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_cond_notify_all(c), PYTH_OK);
        if (mode == 1) CHECK_STATUS(pyth_cond_free(c), PYTH_EBUSY);
        CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
        if (mode == 2 && pyth_cond_acquire(c, false, PYTH_FOREVER) == PYTH_OK) {
            took++;
            refused_until_asleep(&rd, k - 1, free_cond, c, "pyth_cond_free");
            CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
        }
        free_retry(&rd, free_cond, c, "pyth_cond_free", &busy);
        pyth_cond_t *canary = pyth_cond_new();
        join_all(&rd);
        for (int i = 0; i < k; i++) {
            CHECK_ST(rd.w[i].pre, PYTH_OK);
            CHECK_ST(rd.w[i].st, PYTH_OK);
            if (rd.w[i].passer) CHECK_ST(rd.w[i].post, PYTH_OK);
        }
        CHECK(!pyth_cond_locked(canary));
        CHECK_STATUS(pyth_cond_acquire(canary, false, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_cond_wait(canary, 0.0), PYTH_TIMEOUT);
        CHECK_STATUS(pyth_cond_release(canary), PYTH_OK);
        CHECK_STATUS(pyth_cond_free(canary), PYTH_OK);
        if (over_lock) {
            /* The last waiter left holding it; no condition uses it now. */
            CHECK(pyth_lock_locked(l));
            CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
            CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
        }
        ROUND_END(&rd, before);
    }
    summary(over_lock ? "Condition over a Lock" : "Condition", r, busy, took);
}

TEST(free_race_cond_own_lock) { cond_rounds(false); }
TEST(free_race_cond_over_lock) { cond_rounds(true); }

/* wait_for between two waits: notified, the waiter reacquires the lock and
 * runs its predicate, which is still false, so it will wait on the
 * condition again. It is inside pyth_cond_wait_for all along, so freeing the
 * condition must be refused while the predicate runs. The predicate's
 * second call waits (bounded) until the main thread has tried; if that free
 * succeeded, the predicate returns true, so wait_for returns without
 * touching the freed condition and the failure is reported cleanly. */
typedef struct {
    atomic_int calls;
    atomic_int in_second; /* the second call is running */
    atomic_int verdict;   /* 1: the free was refused; 2: it succeeded */
} gate_pred;

static bool gated_predicate(void *arg) {
    gate_pred *p = arg;
    int n = atomic_fetch_add(&p->calls, 1) + 1;
    if (n == 1) return false;
    if (n == 2) {
        atomic_store(&p->in_second, 1);
        WAIT_UNTIL(atomic_load(&p->verdict) != 0, 60);
        return atomic_load(&p->verdict) == 2;
    }
    return true;
}

static gate_pred the_pred;

static pyth_status cond_wait_for_call(waiter *w) {
    w->pre = pyth_cond_acquire(w->h, true, PYTH_FOREVER);
    if (w->pre != PYTH_OK) return w->pre;
    return pyth_cond_wait_for(w->h, gated_predicate, &the_pred, w->timeout);
}

TEST(free_race_cond_wait_for_between_waits) {
    long n = rounds(300), busy = 0;
    long r;
    int failed = 0; /* rounds that failed: stop once both variants have */
    for (r = 0; r < n; r++) {
        int before = h_failures;
        bool over_lock = r & 1;
        memset(&the_pred, 0, sizeof the_pred);
        pyth_lock_t *l = over_lock ? pyth_lock_new() : NULL;
        pyth_cond_t *c = over_lock ? pyth_cond_new_with_lock(l) : pyth_cond_new();
        CHECK(c != NULL);
        round_t rd;
        round_init(&rd, r, 1, over_lock ? "wait_for, over a Lock" : "wait_for, own lock", cond_wait_for_call, c);
        rd.w[0].use_pyth = (r >> 1) & 1;
        start_all(&rd);
        CHECK_STATUS(pyth_cond_free(c), PYTH_EBUSY);
        CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_cond_notify_all(c), PYTH_OK);
        CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
        if (!WAIT_UNTIL(atomic_load(&the_pred.in_second), 60))
            fatal(&rd, "the notified waiter never ran its predicate");
        pyth_status st = pyth_cond_free(c);
        h_checks++;
        if (st != PYTH_EBUSY) {
            H_FAIL("%s: pyth_cond_free returned %s while a thread was inside pyth_cond_wait_for on it (notified, "
                   "running its predicate, which is false, so wait_for would wait on the condition again)",
                   describe(&rd), pyth_strerror(st));
        }
        atomic_store(&the_pred.verdict, st == PYTH_OK ? 2 : 1);
        if (st != PYTH_OK) {
            /* Back to sleep in the condition; now let it through for good. */
            if (!wait_parked(&rd.w[0])) fatal(&rd, "the waiter did not wait again after its false predicate");
            CHECK_STATUS(pyth_cond_free(c), PYTH_EBUSY);
            CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
            CHECK_STATUS(pyth_cond_notify_all(c), PYTH_OK);
            CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
            free_retry(&rd, free_cond, c, "pyth_cond_free", &busy);
        }
        join_all(&rd);
        CHECK_ST(rd.w[0].pre, PYTH_OK);
        CHECK_ST(rd.w[0].st, PYTH_OK);
        CHECK_EQ(atomic_load(&the_pred.calls), st == PYTH_OK ? 2 : 3);
        if (over_lock) {
            CHECK(pyth_lock_locked(l));
            CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
            CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
        }
        if (h_failures != before && ++failed == 2) {
            fprintf(stderr, "    (stopped after %s)\n", describe(&rd));
            break;
        }
    }
    summary("Condition.wait_for", r, busy, 0);
}

/* ---- Barrier ----------------------------------------------------------------------- */

static pyth_status barrier_call(waiter *w) {
    if (w->timeout == PYTH_FOREVER) return pyth_barrier_wait(w->h, &w->index);
    return pyth_barrier_wait_timeout(w->h, w->timeout, &w->index);
}

/* k waiters and the main thread as the last party (modes 0, 1), or the
 * main thread aborts (mode 2) or resets (mode 3) the barrier. */
TEST(free_race_barrier) {
    long n = rounds(2000), busy = 0;
    long r;
    for (r = 0; r < n; r++) {
        int before = h_failures;
        int k = 1 + (int)(r & 1);
        int mode = (int)((r >> 3) % 4);
        pyth_barrier_t *b = pyth_barrier_new((size_t)k + 1, NULL, NULL, PYTH_FOREVER);
        CHECK(b != NULL);
        round_t rd;
        round_init(&rd, r, k, mode < 2 ? "main is the last party" : mode == 2 ? "abort" : "reset", barrier_call, b);
        start_all(&rd);
        CHECK_EQ(pyth_barrier_n_waiting(b), k);
        CHECK_STATUS(pyth_barrier_free(b), PYTH_EBUSY);
        CHECK(!pyth_barrier_broken(b));
        size_t mine = 99;
        if (mode < 2) CHECK_STATUS(pyth_barrier_wait(b, &mine), PYTH_OK);
        else if (mode == 2) CHECK_STATUS(pyth_barrier_abort(b), PYTH_OK);
        else CHECK_STATUS(pyth_barrier_reset(b), PYTH_OK);
        free_retry(&rd, free_barrier, b, "pyth_barrier_free", &busy);
        pyth_barrier_t *canary = pyth_barrier_new(2, NULL, NULL, PYTH_FOREVER);
        join_all(&rd);
        if (mode < 2) {
            unsigned seen = 1u << (mine < 8 ? mine : 7);
            CHECK_EQ(mine, k);
            for (int i = 0; i < k; i++) {
                CHECK_ST(rd.w[i].st, PYTH_OK);
                CHECK(rd.w[i].index < (size_t)k);
                seen |= 1u << (rd.w[i].index < 8 ? rd.w[i].index : 7);
            }
            CHECK_EQ(seen, (1u << (k + 1)) - 1); /* indices 0..k, each once */
        } else {
            for (int i = 0; i < k; i++) CHECK_ST(rd.w[i].st, PYTH_EBROKEN);
        }
        CHECK_EQ(pyth_barrier_n_waiting(canary), 0);
        CHECK(!pyth_barrier_broken(canary));
        CHECK_EQ(pyth_barrier_parties(canary), 2);
        CHECK_STATUS(pyth_barrier_free(canary), PYTH_OK);
        ROUND_END(&rd, before);
    }
    summary("Barrier", r, busy, 0);
}

/* ---- Queue ------------------------------------------------------------------------- */

static int cmp_items(const void *a, const void *b, void *ctx) {
    (void)ctx;
    return (NUM(a) > NUM(b)) - (NUM(a) < NUM(b));
}

static pyth_status get_call(waiter *w) { return pyth_queue_get(w->h, &w->item, true, w->timeout); }
static pyth_status put_call(waiter *w) { return pyth_queue_put(w->h, w->item, true, w->timeout); }

/* Whether the waiters got exactly the items put (in any order). */
static void check_items(round_t *rd, const void *const *put, int np) {
    for (int i = 0; i < rd->k; i++) {
        CHECK_ST(rd->w[i].st, PYTH_OK);
        int found = 0;
        for (int j = 0; j < np; j++) found += rd->w[i].item == put[j];
        CHECK_EQ(found, 1);
    }
    if (rd->k == 2) CHECK(rd->w[0].item != rd->w[1].item);
}

/* FIFO, LIFO and priority queues. Modes: 0: getters, the main thread puts;
 * 1: the same, but the main thread takes the last item back at once and
 * puts it again once the getter sleeps; 2: putters blocked on a full
 * queue, the main thread gets; 3: getters, the main thread shuts the queue
 * down. */
TEST(free_race_queue) {
    static const char *const kinds[] = {"FIFO", "LIFO", "priority"};
    static const char *const modes[] = {"put", "put, take back, put", "get (putters blocked on a full queue)",
                                        "shutdown"};
    long n = rounds(2000), busy = 0, took = 0;
    long r;
    for (r = 0; r < n; r++) {
        int before = h_failures;
        int k = 1 + (int)(r & 1);
        int kind = (int)(r % 3);
        int mode = (int)((r / 6) % 4);
        size_t maxsize = mode == 2 ? 1 : 0;
        pyth_queue_t *q = kind == 0   ? pyth_queue_new(maxsize)
                          : kind == 1 ? pyth_lifo_queue_new(maxsize)
                                      : pyth_priority_queue_new(maxsize, cmp_items, NULL);
        CHECK(q != NULL);
        char label[96];
        snprintf(label, sizeof label, "%s queue, %s", kinds[kind], modes[mode]);
        round_t rd;
        round_init(&rd, r, k, label, mode == 2 ? put_call : get_call, q);
        const void *items[MAXK + 1] = {ITEM(0x100 + 2 * r), ITEM(0x101 + 2 * r), ITEM(0x10)};
        if (mode == 2) {
            CHECK_STATUS(pyth_queue_put(q, ITEM(0x10), false, PYTH_FOREVER), PYTH_OK);
            for (int i = 0; i < k; i++) rd.w[i].item = (void *)items[i];
        }
        start_all(&rd);
        CHECK_STATUS(pyth_queue_free(q), PYTH_EBUSY);
        CHECK_EQ(pyth_queue_qsize(q), mode == 2 ? 1 : 0);
        void *got[MAXK] = {NULL, NULL};
        if (mode == 3) {
            CHECK_STATUS(pyth_queue_shutdown(q, (r / 24) & 1), PYTH_OK);
        } else {
            for (int i = 0; i < k; i++) {
                if (mode == 2) CHECK_STATUS(pyth_queue_get(q, &got[i], false, PYTH_FOREVER), PYTH_OK);
                else CHECK_STATUS(pyth_queue_put(q, (void *)items[i], false, PYTH_FOREVER), PYTH_OK);
                if (i == k - 1) break;
                wait_done(&rd, i + 1);
                CHECK_STATUS(pyth_queue_free(q), PYTH_EBUSY);
            }
            void *back = NULL;
            if (mode == 1 && pyth_queue_get(q, &back, false, PYTH_FOREVER) == PYTH_OK) {
                took++;
                CHECK(back == items[k - 1]);
                refused_until_asleep(&rd, k - 1, free_queue, q, "pyth_queue_free");
                CHECK_STATUS(pyth_queue_put(q, back, false, PYTH_FOREVER), PYTH_OK);
            }
        }
        free_retry(&rd, free_queue, q, "pyth_queue_free", &busy);
        pyth_queue_t *canary = pyth_queue_new(0);
        join_all(&rd);
        if (mode == 3) {
            for (int i = 0; i < k; i++) CHECK_ST(rd.w[i].st, PYTH_ESHUTDOWN);
        } else if (mode == 2) {
            for (int i = 0; i < k; i++) CHECK_ST(rd.w[i].st, PYTH_OK);
            CHECK(got[0] == ITEM(0x10));
            if (k == 2) CHECK(got[1] == items[0] || got[1] == items[1]);
        } else {
            check_items(&rd, items, k);
        }
        CHECK_EQ(pyth_queue_qsize(canary), 0);
        void *v = NULL;
        CHECK_STATUS(pyth_queue_get(canary, &v, false, PYTH_FOREVER), PYTH_EMPTY);
        CHECK_STATUS(pyth_queue_free(canary), PYTH_OK);
        ROUND_END(&rd, before);
    }
    summary("Queue", r, busy, took);
}

/* SimpleQueue: getters, the main thread puts one item at a time (mode 0),
 * takes the last back at once and puts it again (mode 1), or puts all at
 * once (mode 2). */
TEST(free_race_simple_queue) {
    long n = rounds(2000), busy = 0, took = 0;
    long r;
    for (r = 0; r < n; r++) {
        int before = h_failures;
        int k = 1 + (int)(r & 1);
        int mode = (int)(r % 3);
        pyth_queue_t *q = pyth_simple_queue_new();
        CHECK(q != NULL);
        round_t rd;
        round_init(&rd, r, k, mode == 0 ? "put" : mode == 1 ? "put, take back, put" : "put all", get_call, q);
        const void *items[MAXK] = {ITEM(0x100 + 2 * r), ITEM(0x101 + 2 * r)};
        start_all(&rd);
        CHECK_STATUS(pyth_queue_free(q), PYTH_EBUSY);
        CHECK(pyth_queue_empty(q));
        if (mode == 2) {
            for (int i = 0; i < k; i++) CHECK_STATUS(pyth_queue_put(q, (void *)items[i], true, PYTH_FOREVER), PYTH_OK);
        } else {
            for (int i = 0; i < k - 1; i++) {
                CHECK_STATUS(pyth_queue_put(q, (void *)items[i], true, PYTH_FOREVER), PYTH_OK);
                wait_done(&rd, i + 1);
                CHECK_STATUS(pyth_queue_free(q), PYTH_EBUSY);
            }
            CHECK_STATUS(pyth_queue_put(q, (void *)items[k - 1], true, PYTH_FOREVER), PYTH_OK);
            void *back = NULL;
            if (mode == 1 && pyth_queue_get(q, &back, false, PYTH_FOREVER) == PYTH_OK) {
                took++;
                CHECK(back == items[k - 1]);
                refused_until_asleep(&rd, k - 1, free_queue, q, "pyth_queue_free");
                CHECK_STATUS(pyth_queue_put(q, back, true, PYTH_FOREVER), PYTH_OK);
            }
        }
        free_retry(&rd, free_queue, q, "pyth_queue_free", &busy);
        pyth_queue_t *canary = pyth_simple_queue_new();
        join_all(&rd);
        check_items(&rd, items, k);
        CHECK(pyth_queue_empty(canary));
        void *v = NULL;
        CHECK_STATUS(pyth_queue_get(canary, &v, false, PYTH_FOREVER), PYTH_EMPTY);
        CHECK_STATUS(pyth_queue_free(canary), PYTH_OK);
        ROUND_END(&rd, before);
    }
    summary("SimpleQueue", r, busy, took);
}

/* ---- Future -------------------------------------------------------------------------- */

/* A future is reference-counted: pyth_future_free is "safe at any point",
 * so it is never refused, and a thread blocked in pyth_future_result keeps
 * the future alive. The task waits for a gate the main thread opens. */
typedef struct {
    pyth_event_t *gate;
    void *value;
} gated_task_arg;

static int gated_task(void *arg, void **result) {
    gated_task_arg *g = arg;
    if (pyth_event_wait(g->gate, 60.0) != PYTH_OK) return 7;
    *result = g->value;
    return 0;
}

static pyth_status future_call(waiter *w) { return pyth_future_result(w->h, w->timeout, &w->item); }

TEST(free_race_future) {
    long n = rounds(2000), busy = 0;
    pyth_executor_t *ex = pyth_executor_new(1, "free_race", NULL, NULL);
    CHECK(ex != NULL);
    long r;
    for (r = 0; r < n; r++) {
        int before = h_failures;
        int k = 1 + (int)(r & 1);
        bool early = (r >> 3) & 1; /* free the future before the task completes */
        gated_task_arg g = {pyth_event_new(), ITEM(0x1000 + r)};
        CHECK(g.gate != NULL);
        pyth_future_t *f = pyth_executor_submit(ex, gated_task, &g);
        CHECK(f != NULL);
        round_t rd;
        round_init(&rd, r, k, early ? "free the future, complete the task" : "complete the task, free the future",
                   future_call, f);
        start_all(&rd);
        CHECK(!pyth_future_done(f));
        if (early) CHECK_STATUS(pyth_future_free(f), PYTH_OK);
        CHECK_STATUS(pyth_event_set(g.gate), PYTH_OK);
        if (!early) {
            long refused = 0;
            free_retry(&rd, free_future, f, "pyth_future_free", &refused);
            CHECK_EQ(refused, 0); /* never refused */
            busy += refused;
        }
        join_all(&rd);
        for (int i = 0; i < k; i++) {
            CHECK_ST(rd.w[i].st, PYTH_OK);
            CHECK(rd.w[i].item == g.value);
        }
        /* The task returned from its wait before it completed. */
        CHECK_STATUS(pyth_event_free(g.gate), PYTH_OK);
        ROUND_END(&rd, before);
    }
    CHECK_STATUS(pyth_executor_shutdown(ex, true, false), PYTH_OK);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    summary("Future", r, busy, 0);
}

int main(void) {
    h_child = mmap(NULL, sizeof *h_child, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (h_child == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    RUN_ISOLATED(free_race_lock);
    RUN_ISOLATED(free_race_lock_taken_back);
    RUN_ISOLATED(free_race_rlock);
    RUN_ISOLATED(free_race_rlock_taken_back);
    RUN_ISOLATED(free_race_semaphore);
    RUN_ISOLATED(free_race_bounded_semaphore);
    RUN_ISOLATED(free_race_event);
    RUN_ISOLATED(free_race_cond_own_lock);
    RUN_ISOLATED(free_race_cond_over_lock);
    RUN_ISOLATED(free_race_cond_wait_for_between_waits);
    RUN_ISOLATED(free_race_barrier);
    RUN_ISOLATED(free_race_queue);
    RUN_ISOLATED(free_race_simple_queue);
    RUN_ISOLATED(free_race_future);
    munmap(h_child, sizeof *h_child);
    return REPORT();
}
