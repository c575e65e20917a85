/* The common parts of the primitives' C API: status codes, pyth_strerror,
 * the per-thread last error, the timeout rules of every kind of call,
 * handle validation (NULL and wrong-kind handles) and PYTH_ENOMEM. */
#include "harness.h"
#include <limits.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* ---- status codes and names -------------------------------------------- */

TEST(status_values) {
    CHECK_EQ(PYTH_OK, 0);
    CHECK_EQ(PYTH_TIMEOUT, 1);
    CHECK_EQ(PYTH_EMPTY, 2);
    CHECK_EQ(PYTH_FULL, 3);
    CHECK_EQ(PYTH_ERUNTIME, -1);
    CHECK_EQ(PYTH_EVALUE, -2);
    CHECK_EQ(PYTH_EOVERFLOW, -3);
    CHECK_EQ(PYTH_EBROKEN, -4);
    CHECK_EQ(PYTH_ENOMEM, -5);
    CHECK_EQ(PYTH_EINVAL, -6);
    CHECK_EQ(PYTH_EBUSY, -7);
    CHECK_EQ(PYTH_ESHUTDOWN, -8);
    CHECK_EQ(PYTH_ECANCELLED, -9);
    CHECK_EQ(PYTH_EFAILED, -10);
    CHECK(PYTH_FOREVER == -1.0);
    CHECK(PYTH_TIMEOUT_MAX == 9223372036.0);
}

TEST(strerror_names) {
    static const struct { pyth_status s; const char *name; } codes[] = {
        {PYTH_OK, "PYTH_OK"},
        {PYTH_TIMEOUT, "PYTH_TIMEOUT"},
        {PYTH_EMPTY, "PYTH_EMPTY"},
        {PYTH_FULL, "PYTH_FULL"},
        {PYTH_ERUNTIME, "PYTH_ERUNTIME"},
        {PYTH_EVALUE, "PYTH_EVALUE"},
        {PYTH_EOVERFLOW, "PYTH_EOVERFLOW"},
        {PYTH_EBROKEN, "PYTH_EBROKEN"},
        {PYTH_ENOMEM, "PYTH_ENOMEM"},
        {PYTH_EINVAL, "PYTH_EINVAL"},
        {PYTH_EBUSY, "PYTH_EBUSY"},
        {PYTH_ESHUTDOWN, "PYTH_ESHUTDOWN"},
        {PYTH_ECANCELLED, "PYTH_ECANCELLED"},
        {PYTH_EFAILED, "PYTH_EFAILED"},
    };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        const char *n = pyth_strerror(codes[i].s);
        CHECK(n != NULL);
        if (n && strcmp(n, codes[i].name) != 0) H_FAIL("pyth_strerror(%d) = \"%s\", expected \"%s\"", codes[i].s, n, codes[i].name);
        h_checks++;
        CHECK(pyth_strerror(codes[i].s) == n); /* static */
    }
    const pyth_status unknown[] = {4, 5, -11, -12, 100, -100, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        const char *n = pyth_strerror(unknown[i]);
        CHECK(n != NULL && strcmp(n, "PYTH_UNKNOWN") == 0);
    }
    /* Naming a code is not a failing call. */
    CHECK_EQ(pyth_last_status(), PYTH_OK);
}

/* ---- the last error, per thread ----------------------------------------- */

typedef struct {
    pyth_status status_before;
    char msg_before[256];
    pyth_status st;
    pyth_status status_after;
    char msg_after[256];
} fresh_result;

static void *fresh_thread(void *p) {
    fresh_result *r = p;
    r->status_before = pyth_last_status();
    snprintf(r->msg_before, sizeof r->msg_before, "%s", pyth_last_error());
    pyth_semaphore_t *s = pyth_semaphore_new(-1);
    r->st = s ? PYTH_OK : pyth_last_status();
    r->status_after = pyth_last_status();
    snprintf(r->msg_after, sizeof r->msg_after, "%s", pyth_last_error());
    return NULL;
}

TEST(last_error_is_per_thread) {
    pyth_lock_t *l = pyth_lock_new();
    CHECK_STATUS(pyth_lock_release(l), PYTH_ERUNTIME);
    CHECK_MSG("release unlocked lock");
    /* A new thread starts clean, and its failure stays its own. */
    fresh_result r;
    memset(&r, 0, sizeof r);
    h_thread t = spawn(fresh_thread, &r);
    join_within(t, 30);
    CHECK_EQ(r.status_before, PYTH_OK);
    CHECK(strcmp(r.msg_before, "") == 0);
    CHECK_EQ(r.st, PYTH_EVALUE);
    CHECK_EQ(r.status_after, PYTH_EVALUE);
    CHECK(strcmp(r.msg_after, "semaphore initial value must be >= 0") == 0);
    CHECK_EQ(pyth_last_status(), PYTH_ERUNTIME);
    CHECK_MSG("release unlocked lock");
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

TEST(last_error_survives_success) {
    pyth_rlock_t *r = pyth_rlock_new();
    CHECK_STATUS(pyth_rlock_release(r), PYTH_ERUNTIME);
    const char *p = pyth_last_error();
    CHECK(strcmp(p, "cannot release un-acquired lock") == 0);
    /* Successful calls leave it alone; so do calls returning PYTH_TIMEOUT. */
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    pyth_event_t *e = pyth_event_new();
    CHECK_STATUS(pyth_event_wait(e, 0.0), PYTH_TIMEOUT);
    CHECK(pyth_rlock_locked(r) == false);
    CHECK_EQ(pyth_last_status(), PYTH_ERUNTIME);
    CHECK(strcmp(p, "cannot release un-acquired lock") == 0);
    CHECK_MSG("cannot release un-acquired lock");
    /* The next failure replaces it. */
    CHECK_STATUS(pyth_event_wait(e, NAN), PYTH_EVALUE);
    CHECK(strcmp(pyth_last_error(), "cannot release un-acquired lock") != 0);
    CHECK_STATUS(pyth_event_wait(e, 1e12), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

/* Two threads failing at the same time with different errors each see
 * only their own. */
typedef struct {
    int which;
    long n;
    atomic_int *go;
    long mismatches;
} racer;

static void *racer_fn(void *p) {
    racer *r = p;
    pyth_rlock_t *rl = pyth_rlock_new();
    pyth_semaphore_t *s = pyth_semaphore_new(0);
    while (!atomic_load(r->go)) sched_yield();
    for (long i = 0; i < r->n; i++) {
        if (r->which == 0) {
            if (pyth_rlock_release(rl) != PYTH_ERUNTIME || pyth_last_status() != PYTH_ERUNTIME ||
                strcmp(pyth_last_error(), "cannot release un-acquired lock") != 0)
                r->mismatches++;
        } else {
            if (pyth_semaphore_release(s, 0) != PYTH_EVALUE || pyth_last_status() != PYTH_EVALUE ||
                strcmp(pyth_last_error(), "n must be one or more") != 0)
                r->mismatches++;
        }
    }
    pyth_rlock_free(rl);
    pyth_semaphore_free(s);
    return NULL;
}

TEST(last_error_concurrent_threads) {
    atomic_int go = 0;
    racer r[2] = {{0, ITERS(100000), &go, 0}, {1, ITERS(100000), &go, 0}};
    h_thread t[2] = {spawn(racer_fn, &r[0]), spawn(racer_fn, &r[1])};
    atomic_store(&go, 1);
    join_within(t[0], 120);
    join_within(t[1], 120);
    CHECK_EQ(r[0].mismatches, 0);
    CHECK_EQ(r[1].mismatches, 0);
}

/* ---- the timeout rules, for every kind of call -------------------------- */

enum { K_LOCK, K_RLOCK, K_COND_ACQ, K_SEM, K_COND_WAIT, K_COND_WAIT_FOR, K_EVENT, K_BARRIER, NK };
static const char *const kname[NK] = {"lock_acquire", "rlock_acquire", "cond_acquire", "semaphore_acquire",
                                      "cond_wait", "cond_wait_for", "event_wait", "barrier_wait_timeout"};
/* Lock acquires reject negative timeouts; the others treat them as "do not block". */
static bool is_lock_kind(int k) { return k == K_LOCK || k == K_RLOCK || k == K_COND_ACQ; }
/* Calls with a `blocking` flag. */
static bool has_blocking(int k) { return k <= K_SEM; }

/* A thread that holds an RLock (or a condition's own RLock) until told to stop. */
typedef struct {
    pyth_rlock_t *r;
    pyth_cond_t *c;
    atomic_int holding, go;
} holder;

static void *holder_fn(void *p) {
    holder *h = p;
    if (h->r) pyth_rlock_acquire(h->r, true, PYTH_FOREVER);
    else pyth_cond_acquire(h->c, true, PYTH_FOREVER);
    atomic_store(&h->holding, 1);
    while (!atomic_load(&h->go)) sched_yield();
    if (h->r) pyth_rlock_release(h->r);
    else pyth_cond_release(h->c);
    return NULL;
}

typedef struct {
    int k;
    bool would_block;
    pyth_lock_t *l;
    pyth_rlock_t *r;
    pyth_cond_t *c;
    pyth_semaphore_t *s;
    pyth_event_t *e;
    pyth_barrier_t *b;
    bool pred;
    holder h;
    h_thread ht;
    bool has_holder;
} fixture;

static bool fx_pred(void *arg) { return *(bool *)arg; }

/* Sets up kind k so that its call would block or not. */
static void fx_setup(fixture *f, int k, bool would_block) {
    memset(f, 0, sizeof *f);
    f->k = k;
    f->would_block = would_block;
    switch (k) {
    case K_LOCK:
        f->l = pyth_lock_new();
        if (would_block) pyth_lock_acquire(f->l, true, PYTH_FOREVER); /* not reentrant */
        break;
    case K_RLOCK:
    case K_COND_ACQ:
        if (k == K_RLOCK) f->r = pyth_rlock_new();
        else f->c = pyth_cond_new();
        if (would_block) {
            f->h.r = f->r;
            f->h.c = f->c;
            f->ht = spawn(holder_fn, &f->h);
            f->has_holder = true;
            CHECK(WAIT_UNTIL(atomic_load(&f->h.holding), 30));
        }
        break;
    case K_SEM: f->s = pyth_semaphore_new(would_block ? 0 : 1); break;
    case K_COND_WAIT:
    case K_COND_WAIT_FOR:
        f->c = pyth_cond_new();
        pyth_cond_acquire(f->c, true, PYTH_FOREVER);
        f->pred = !would_block;
        break;
    case K_EVENT:
        f->e = pyth_event_new();
        if (!would_block) pyth_event_set(f->e);
        break;
    case K_BARRIER: f->b = pyth_barrier_new(would_block ? 2 : 1, NULL, NULL, PYTH_FOREVER); break;
    }
}

static pyth_status fx_call(fixture *f, bool blocking, double timeout) {
    switch (f->k) {
    case K_LOCK: return pyth_lock_acquire(f->l, blocking, timeout);
    case K_RLOCK: return pyth_rlock_acquire(f->r, blocking, timeout);
    case K_COND_ACQ: return pyth_cond_acquire(f->c, blocking, timeout);
    case K_SEM: return pyth_semaphore_acquire(f->s, blocking, timeout);
    case K_COND_WAIT: return pyth_cond_wait(f->c, timeout);
    case K_COND_WAIT_FOR: return pyth_cond_wait_for(f->c, fx_pred, &f->pred, timeout);
    case K_EVENT: return pyth_event_wait(f->e, timeout);
    case K_BARRIER: return pyth_barrier_wait_timeout(f->b, timeout, NULL);
    }
    return -100;
}

/* The status a call that is allowed to proceed (without blocking) returns. */
static pyth_status fx_proceeds(fixture *f) {
    if (!f->would_block) return PYTH_OK;
    return f->k == K_BARRIER ? PYTH_EBROKEN : PYTH_TIMEOUT;
}

/* Undoes the effect of a call that returned `st`. */
static void fx_undo(fixture *f, pyth_status st) {
    if (st == PYTH_OK) {
        switch (f->k) {
        case K_LOCK: pyth_lock_release(f->l); break;
        case K_RLOCK: pyth_rlock_release(f->r); break;
        case K_COND_ACQ: pyth_cond_release(f->c); break;
        case K_SEM: pyth_semaphore_release(f->s, 1); break;
        default: break;
        }
    }
    if (f->k == K_BARRIER) pyth_barrier_reset(f->b);
}

/* Checks that a refused call changed nothing. */
static void fx_unchanged(fixture *f, const char *what) {
    bool ok = true;
    switch (f->k) {
    case K_LOCK: ok = pyth_lock_locked(f->l) == f->would_block; break;
    case K_RLOCK: ok = pyth_rlock_locked(f->r) == f->would_block && !pyth_rlock_is_owned(f->r); break;
    case K_COND_ACQ: ok = pyth_cond_locked(f->c) == f->would_block && pyth_cond_release(f->c) == PYTH_ERUNTIME; break;
    case K_SEM: ok = pyth_semaphore_value(f->s) == (f->would_block ? 0 : 1); break;
    case K_COND_WAIT:
    case K_COND_WAIT_FOR: ok = pyth_cond_locked(f->c) && pyth_cond_notify(f->c, 0) == PYTH_OK; break;
    case K_EVENT: ok = pyth_event_is_set(f->e) == !f->would_block; break;
    case K_BARRIER: ok = !pyth_barrier_broken(f->b) && pyth_barrier_n_waiting(f->b) == 0; break;
    }
    h_checks++;
    if (!ok) H_FAIL("%s (%s): state changed by a refused call with %s", kname[f->k], f->would_block ? "would block" : "free", what);
}

static void fx_teardown(fixture *f) {
    if (f->has_holder) {
        atomic_store(&f->h.go, 1);
        join_within(f->ht, 30);
    }
    switch (f->k) {
    case K_LOCK:
        if (pyth_lock_locked(f->l)) pyth_lock_release(f->l);
        CHECK_STATUS(pyth_lock_free(f->l), PYTH_OK);
        break;
    case K_RLOCK: CHECK_STATUS(pyth_rlock_free(f->r), PYTH_OK); break;
    case K_COND_ACQ: CHECK_STATUS(pyth_cond_free(f->c), PYTH_OK); break;
    case K_SEM: CHECK_STATUS(pyth_semaphore_free(f->s), PYTH_OK); break;
    case K_COND_WAIT:
    case K_COND_WAIT_FOR:
        CHECK_STATUS(pyth_cond_release(f->c), PYTH_OK);
        CHECK_STATUS(pyth_cond_free(f->c), PYTH_OK);
        break;
    case K_EVENT: CHECK_STATUS(pyth_event_free(f->e), PYTH_OK); break;
    case K_BARRIER: CHECK_STATUS(pyth_barrier_free(f->b), PYTH_OK); break;
    }
}

#define EXPECT(call, expected, what)                                                     \
    do {                                                                                 \
        pyth_status got_ = (call), exp_ = (expected);                                    \
        h_checks++;                                                                      \
        if (got_ != exp_)                                                                \
            H_FAIL("%s (%s) with %s: %s, expected %s (\"%s\")", kname[f.k],              \
                   f.would_block ? "would block" : "free", what, pyth_strerror(got_),    \
                   pyth_strerror(exp_), pyth_last_error());                              \
        else if (exp_ < 0 && (pyth_last_status() != exp_ || !*pyth_last_error()))       \
            H_FAIL("%s with %s: last_status/last_error not set", kname[f.k], what);      \
    } while (0)

TEST(timeout_rules_every_call) {
    for (int k = 0; k < NK; k++) {
        /* A condition wait always blocks until notified or timed out. */
        for (int wb = k == K_COND_WAIT; wb < 2; wb++) {
            fixture f;
            double t0;
            pyth_status st;

            /* NaN: ValueError, whether or not the call would block. */
            fx_setup(&f, k, wb);
            t0 = now_s();
            EXPECT(fx_call(&f, true, NAN), PYTH_EVALUE, "NaN");
            CHECK_MSG("Invalid value NaN (not a number)");
            fx_unchanged(&f, "NaN");
            EXPECT(fx_call(&f, true, -NAN), PYTH_EVALUE, "-NaN");
            CHECK_MSG("Invalid value NaN (not a number)");
            if (has_blocking(k)) {
                EXPECT(fx_call(&f, false, NAN), PYTH_EVALUE, "NaN, blocking=false");
                CHECK_MSG("Invalid value NaN (not a number)");
            }
            fx_unchanged(&f, "NaN");

            /* Above PYTH_TIMEOUT_MAX: OverflowError. */
            EXPECT(fx_call(&f, true, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW, "TIMEOUT_MAX + 1");
            CHECK_MSG("timeout value is too large");
            EXPECT(fx_call(&f, true, PYTH_TIMEOUT_MAX * 4), PYTH_EOVERFLOW, "4 * TIMEOUT_MAX");
            CHECK_MSG("timeout value is too large");
            EXPECT(fx_call(&f, true, 1e300), PYTH_EOVERFLOW, "1e300");
            CHECK_MSG("timeout value is too large");
            EXPECT(fx_call(&f, true, INFINITY), PYTH_EOVERFLOW, "+inf");
            CHECK_MSG("timeout value is too large");
            fx_unchanged(&f, "an overflowing timeout");

            /* blocking=false with a timeout other than PYTH_FOREVER. */
            if (has_blocking(k)) {
                const double tos[] = {0.0, 0.5, -0.5, PYTH_TIMEOUT_MAX, PYTH_TIMEOUT_MAX + 1.0};
                for (int i = 0; i < 5; i++) EXPECT(fx_call(&f, false, tos[i]), PYTH_EVALUE, "blocking=false and a timeout");
                if (k == K_SEM) CHECK_MSG("can't specify timeout for non-blocking acquire");
                else CHECK_MSG("can't specify a timeout for a non-blocking call");
                fx_unchanged(&f, "blocking=false and a timeout");
            }

            /* Negative (not PYTH_FOREVER): ValueError for locks, "do not block" otherwise. */
            const double negs[] = {-0.5, -2.0, -1e300, -INFINITY, -1.0000001};
            for (int i = 0; i < 5; i++) {
                if (is_lock_kind(k)) {
                    EXPECT(fx_call(&f, true, negs[i]), PYTH_EVALUE, "a negative timeout");
                    CHECK_MSG("timeout value must be a non-negative number");
                    fx_unchanged(&f, "a negative timeout");
                } else {
                    st = fx_call(&f, true, negs[i]);
                    EXPECT(st, fx_proceeds(&f), "a negative timeout");
                    fx_undo(&f, st);
                }
            }
            /* None of the above blocked. */
            CHECK(now_s() - t0 < h_slack());

            /* PYTH_TIMEOUT_MAX itself is accepted; and PYTH_FOREVER. A call
             * that would block is given one to end it (or is skipped when
             * nothing but a notify could). */
            if (!wb) {
                st = fx_call(&f, true, PYTH_TIMEOUT_MAX);
                EXPECT(st, PYTH_OK, "TIMEOUT_MAX");
                fx_undo(&f, st);
                if (k != K_COND_WAIT) {
                    st = fx_call(&f, true, PYTH_FOREVER);
                    EXPECT(st, PYTH_OK, "PYTH_FOREVER");
                    fx_undo(&f, st);
                }
                if (has_blocking(k)) {
                    st = fx_call(&f, false, PYTH_FOREVER);
                    EXPECT(st, PYTH_OK, "blocking=false, PYTH_FOREVER");
                    fx_undo(&f, st);
                }
            } else {
                /* Zero: try once, do not block. */
                t0 = now_s();
                st = fx_call(&f, true, 0.0);
                EXPECT(st, fx_proceeds(&f), "zero");
                fx_undo(&f, st);
                if (has_blocking(k)) EXPECT(fx_call(&f, false, PYTH_FOREVER), PYTH_TIMEOUT, "blocking=false");
                CHECK(now_s() - t0 < h_slack());
            }
            fx_teardown(&f);
        }
    }
}

/* The barrier's default timeout goes through the same parser. */
TEST(timeout_rules_barrier_new) {
    const double ok[] = {PYTH_FOREVER, 0.0, 1.0, PYTH_TIMEOUT_MAX, -0.5, -INFINITY};
    for (int i = 0; i < 6; i++) {
        pyth_barrier_t *b = pyth_barrier_new(3, NULL, NULL, ok[i]);
        CHECK(b != NULL);
        CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
    }
    CHECK(pyth_barrier_new(3, NULL, NULL, NAN) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EVALUE);
    const double over[] = {PYTH_TIMEOUT_MAX + 1.0, 1e300, INFINITY};
    for (int i = 0; i < 3; i++) {
        CHECK(pyth_barrier_new(3, NULL, NULL, over[i]) == NULL);
        CHECK_EQ(pyth_last_status(), PYTH_EOVERFLOW);
        CHECK(*pyth_last_error() != 0);
    }
}

/* The same two messages from every other call that takes a timeout: one
 * parser (API.md), worded as Python's ("Invalid value NaN (not a number)",
 * ValueError; "timeout value is too large", OverflowError). Each call is
 * set up so that it would not block. */
static int tm_task(void *arg, void **result) {
    (void)arg;
    *result = NULL;
    return 0;
}

static void tm_done(pyth_future_t *f, void *arg) {
    (void)f;
    (*(int *)arg)++;
}

TEST(timeout_messages_other_calls) {
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, NULL, 0);
    pyth_thread_start(t);
    pyth_thread_join(t, 60.0);
    pyth_queue_t *q = pyth_queue_new(0), *sq = pyth_simple_queue_new();
    pyth_queue_put(q, (void *)1, true, PYTH_FOREVER);
    pyth_queue_put(sq, (void *)1, true, PYTH_FOREVER);
    pyth_executor_t *ex = pyth_executor_new(1, NULL, NULL, NULL);
    pyth_future_t *f = pyth_executor_submit(ex, tm_task, NULL);
    CHECK_STATUS(pyth_future_result(f, 60.0, NULL), PYTH_OK);
    pyth_future_t *fs[1] = {f};
    void *args[1] = {NULL}, *res[1];
    void *v;
    int calls = 0;
    const struct {
        double to;
        pyth_status st;
        const char *msg;
    } bad[] = {
        {NAN, PYTH_EVALUE, "Invalid value NaN (not a number)"},
        {-NAN, PYTH_EVALUE, "Invalid value NaN (not a number)"},
        {PYTH_TIMEOUT_MAX * 2, PYTH_EOVERFLOW, "timeout value is too large"},
        {INFINITY, PYTH_EOVERFLOW, "timeout value is too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double to = bad[i].to;
        CHECK_STATUS(pyth_thread_join(t, to), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK_STATUS(pyth_queue_put(q, (void *)2, true, to), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK_STATUS(pyth_queue_get(q, &v, true, to), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK_STATUS(pyth_queue_put(sq, (void *)2, true, to), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK_STATUS(pyth_queue_get(sq, &v, false, to), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK_STATUS(pyth_future_result(f, to, NULL), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK_STATUS(pyth_wait(fs, 1, to, PYTH_ALL_COMPLETED), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK_STATUS(pyth_executor_map(ex, tm_task, args, 1, to, res, NULL, NULL), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK_STATUS(pyth_as_completed(fs, 1, to, tm_done, &calls), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK(pyth_timer_new(to, NULL, NULL) == NULL);
        CHECK_EQ(pyth_last_status(), bad[i].st);
        CHECK_MSG(bad[i].msg);
        CHECK(pyth_barrier_new(2, NULL, NULL, to) == NULL);
        CHECK_EQ(pyth_last_status(), bad[i].st);
        CHECK_MSG(bad[i].msg);
    }
    CHECK_EQ(pyth_queue_qsize(q), 1);
    CHECK_EQ(pyth_queue_qsize(sq), 1);
    CHECK_EQ(calls, 0); /* as_completed refused before calling back */
    pyth_future_free(f);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    pyth_queue_free(q);
    pyth_queue_free(sq);
    pyth_thread_free(t);
}

/* Timed waits are not cut short by signals, and untimed ones do not return
 * because of them. */
static atomic_int sig_count;
static void on_sigusr1(int sig) {
    (void)sig;
    atomic_fetch_add(&sig_count, 1);
}

typedef struct {
    pthread_t target;
    atomic_int stop;
} signaler;

static void *signaler_fn(void *p) {
    signaler *s = p;
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&s->stop)) {
        pthread_kill(s->target, SIGUSR1);
        nanosleep(&ms, NULL);
    }
    return NULL;
}

typedef struct {
    pyth_event_t *e;
    pyth_cond_t *c;
    int waiting;  /* under the condition's lock */
    atomic_int done;
    pyth_status est, cst;
} forever_waiter;

static void *forever_event_fn(void *p) {
    forever_waiter *w = p;
    w->est = pyth_event_wait(w->e, PYTH_FOREVER);
    atomic_store(&w->done, 1);
    return NULL;
}

static void *forever_cond_fn(void *p) {
    forever_waiter *w = p;
    pyth_cond_acquire(w->c, true, PYTH_FOREVER);
    w->waiting = 1;
    w->cst = pyth_cond_wait(w->c, PYTH_FOREVER);
    atomic_store(&w->done, 1);
    pyth_cond_release(w->c);
    return NULL;
}

TEST(timeouts_survive_signals) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking system calls see EINTR */
    sigaction(SIGUSR1, &sa, &old);

    const double to = 0.3;
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_semaphore_t *s = pyth_semaphore_new(0);
    pyth_event_t *e = pyth_event_new();
    pyth_cond_t *c = pyth_cond_new();
    pyth_barrier_t *b = pyth_barrier_new(2, NULL, NULL, PYTH_FOREVER);
    pyth_lock_acquire(l, true, PYTH_FOREVER);
    holder h = {.r = r};
    h_thread ht = spawn(holder_fn, &h);
    CHECK(WAIT_UNTIL(atomic_load(&h.holding), 30));

    signaler sg = {.target = pthread_self()};
    atomic_store(&sig_count, 0);
    h_thread st = spawn(signaler_fn, &sg);
    for (int k = 0; k < 6; k++) {
        double t0 = now_s();
        pyth_status got = -100, want = PYTH_TIMEOUT;
        switch (k) {
        case 0: got = pyth_lock_acquire(l, true, to); break;
        case 1: got = pyth_rlock_acquire(r, true, to); break;
        case 2: got = pyth_semaphore_acquire(s, true, to); break;
        case 3: got = pyth_event_wait(e, to); break;
        case 4:
            pyth_cond_acquire(c, true, PYTH_FOREVER);
            got = pyth_cond_wait(c, to);
            pyth_cond_release(c);
            break;
        case 5: got = pyth_barrier_wait_timeout(b, to, NULL); want = PYTH_EBROKEN; break;
        }
        double el = now_s() - t0;
        h_checks++;
        if (got != want) H_FAIL("wait %d under signals returned %s", k, pyth_strerror(got));
        h_checks++;
        if (el < to || el > to + h_slack()) H_FAIL("wait %d under signals took %.3fs (timeout %.3fs)", k, el, to);
    }
    atomic_store(&sg.stop, 1);
    join_within(st, 30);
    CHECK(atomic_load(&sig_count) > 6);

    /* Untimed waits, bombarded with signals, return only when woken. */
    forever_waiter fw = {.e = e, .c = c};
    h_thread t1 = spawn(forever_event_fn, &fw);
    h_thread t2 = spawn(forever_cond_fn, &fw);
    signaler sg1 = {.target = t1.t}, sg2 = {.target = t2.t};
    h_thread s1 = spawn(signaler_fn, &sg1), s2 = spawn(signaler_fn, &sg2);
    /* The condition waiter is inside wait once we can hold the lock with waiting set. */
    bool in = false;
    double end = now_s() + 60;
    while (!in && now_s() < end) {
        pyth_cond_acquire(c, true, PYTH_FOREVER);
        in = fw.waiting;
        pyth_cond_release(c);
        if (!in) sched_yield();
    }
    CHECK(in);
    int before = atomic_load(&sig_count);
    CHECK(STAYS_FALSE(atomic_load(&fw.done), 0.3));
    CHECK(atomic_load(&sig_count) > before);
    /* Stop signalling before the targets can exit. */
    atomic_store(&sg1.stop, 1);
    atomic_store(&sg2.stop, 1);
    join_within(s1, 30);
    join_within(s2, 30);
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);
    pyth_cond_acquire(c, true, PYTH_FOREVER);
    CHECK_STATUS(pyth_cond_notify(c, 1), PYTH_OK);
    pyth_cond_release(c);
    join_within(t1, 60);
    join_within(t2, 60);
    CHECK_EQ(fw.est, PYTH_OK);
    CHECK_EQ(fw.cst, PYTH_OK);

    atomic_store(&h.go, 1);
    join_within(ht, 30);
    sigaction(SIGUSR1, &old, NULL);
    pyth_lock_release(l);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

/* ---- handle validation -------------------------------------------------- */

static bool true_pred(void *arg) {
    (void)arg;
    return true;
}

/* Makes the last error something other than PYTH_EINVAL. */
static void other_error(void) { pyth_semaphore_new(-1); }

#define CHECK_FALLBACK(expr, fallback)                                         \
    do {                                                                       \
        other_error();                                                         \
        CHECK((expr) == (fallback));                                           \
        CHECK_EQ(pyth_last_status(), PYTH_EINVAL);                             \
        CHECK(*pyth_last_error() != 0);                                        \
    } while (0)

TEST(null_handles) {
    size_t idx = 5;
    CHECK_STATUS(pyth_lock_acquire(NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_lock_acquire(NULL, false, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_lock_release(NULL), PYTH_EINVAL);
    CHECK_FALLBACK(pyth_lock_locked(NULL), false);
    CHECK_STATUS(pyth_rlock_acquire(NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_rlock_release(NULL), PYTH_EINVAL);
    CHECK_FALLBACK(pyth_rlock_locked(NULL), false);
    CHECK_FALLBACK(pyth_rlock_is_owned(NULL), false);
    CHECK_FALLBACK(pyth_cond_new_with_lock(NULL), NULL);
    CHECK_FALLBACK(pyth_cond_new_with_rlock(NULL), NULL);
    CHECK_STATUS(pyth_cond_acquire(NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_release(NULL), PYTH_EINVAL);
    CHECK_FALLBACK(pyth_cond_locked(NULL), false);
    CHECK_STATUS(pyth_cond_wait(NULL, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_wait_for(NULL, true_pred, NULL, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_notify(NULL, 1), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_notify_all(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_semaphore_acquire(NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_semaphore_release(NULL, 1), PYTH_EINVAL);
    CHECK_FALLBACK(pyth_semaphore_value(NULL), 0);
    CHECK_FALLBACK(pyth_event_is_set(NULL), false);
    CHECK_STATUS(pyth_event_set(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_clear(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_wait(NULL, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_barrier_wait(NULL, &idx), PYTH_EINVAL);
    CHECK_STATUS(pyth_barrier_wait_timeout(NULL, PYTH_FOREVER, &idx), PYTH_EINVAL);
    CHECK_EQ(idx, 5);
    CHECK_STATUS(pyth_barrier_reset(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_barrier_abort(NULL), PYTH_EINVAL);
    CHECK_FALLBACK(pyth_barrier_parties(NULL), 0);
    CHECK_FALLBACK(pyth_barrier_n_waiting(NULL), 0);
    CHECK_FALLBACK(pyth_barrier_broken(NULL), false);
    /* Freeing NULL is a no-op, for every kind. */
    CHECK_STATUS(pyth_lock_free(NULL), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(NULL), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(NULL), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_free(NULL), PYTH_OK);
    CHECK_STATUS(pyth_event_free(NULL), PYTH_OK);
    CHECK_STATUS(pyth_barrier_free(NULL), PYTH_OK);
    /* A NULL required callback. */
    pyth_cond_t *c = pyth_cond_new();
    CHECK_STATUS(pyth_cond_wait_for(c, NULL, NULL, 0.0), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
}

enum { H_LOCK, H_RLOCK, H_COND, H_SEM, H_EVENT, H_BARRIER, NH };
static const char *const hname[NH] = {"lock", "rlock", "cond", "semaphore", "event", "barrier"};

#define WRONG(kind, call, expected)                                            \
    for (int o = 0; o < NH; o++) {                                             \
        if (o == (kind)) continue;                                             \
        void *h = objs[o];                                                     \
        (void)h;                                                               \
        other_error();                                                         \
        long long got_ = (long long)(call);                                    \
        h_checks++;                                                            \
        if (got_ != (long long)(expected))                                     \
            H_FAIL("%s on a %s handle returned %lld, expected %lld", #call,    \
                   hname[o], got_, (long long)(expected));                     \
        else if (pyth_last_status() != PYTH_EINVAL || !*pyth_last_error())     \
            H_FAIL("%s on a %s handle: last error not PYTH_EINVAL", #call, hname[o]); \
    }

/* Every function given a handle of another kind (a cast pointer): PYTH_EINVAL,
 * or NULL/false/0, and the object is not touched. The objects are put in
 * states where a misread would show: held, set, broken, non-zero. */
TEST(wrong_kind_handles) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_cond_t *c = pyth_cond_new();
    pyth_semaphore_t *s = pyth_semaphore_new(5);
    pyth_event_t *e = pyth_event_new();
    pyth_barrier_t *b = pyth_barrier_new(3, NULL, NULL, PYTH_FOREVER);
    void *objs[NH] = {l, r, c, s, e, b};
    pyth_lock_acquire(l, true, PYTH_FOREVER);
    pyth_rlock_acquire(r, true, PYTH_FOREVER);
    pyth_cond_acquire(c, true, PYTH_FOREVER);
    pyth_event_set(e);
    pyth_barrier_abort(b);
    size_t idx = 77;

    WRONG(H_LOCK, pyth_lock_acquire(h, false, PYTH_FOREVER), PYTH_EINVAL);
    WRONG(H_LOCK, pyth_lock_acquire(h, true, 0.0), PYTH_EINVAL);
    WRONG(H_LOCK, pyth_lock_release(h), PYTH_EINVAL);
    WRONG(H_LOCK, pyth_lock_locked(h), false);
    WRONG(H_LOCK, pyth_cond_new_with_lock(h), NULL);
    WRONG(H_RLOCK, pyth_rlock_acquire(h, false, PYTH_FOREVER), PYTH_EINVAL);
    WRONG(H_RLOCK, pyth_rlock_release(h), PYTH_EINVAL);
    WRONG(H_RLOCK, pyth_rlock_locked(h), false);
    WRONG(H_RLOCK, pyth_rlock_is_owned(h), false);
    WRONG(H_RLOCK, pyth_cond_new_with_rlock(h), NULL);
    WRONG(H_COND, pyth_cond_acquire(h, false, PYTH_FOREVER), PYTH_EINVAL);
    WRONG(H_COND, pyth_cond_release(h), PYTH_EINVAL);
    WRONG(H_COND, pyth_cond_locked(h), false);
    WRONG(H_COND, pyth_cond_wait(h, 0.0), PYTH_EINVAL);
    WRONG(H_COND, pyth_cond_wait_for(h, true_pred, NULL, 0.0), PYTH_EINVAL);
    WRONG(H_COND, pyth_cond_notify(h, 1), PYTH_EINVAL);
    WRONG(H_COND, pyth_cond_notify_all(h), PYTH_EINVAL);
    WRONG(H_SEM, pyth_semaphore_acquire(h, false, PYTH_FOREVER), PYTH_EINVAL);
    WRONG(H_SEM, pyth_semaphore_release(h, 1), PYTH_EINVAL);
    WRONG(H_SEM, pyth_semaphore_value(h), 0);
    WRONG(H_EVENT, pyth_event_is_set(h), false);
    WRONG(H_EVENT, pyth_event_set(h), PYTH_EINVAL);
    WRONG(H_EVENT, pyth_event_clear(h), PYTH_EINVAL);
    WRONG(H_EVENT, pyth_event_wait(h, 0.0), PYTH_EINVAL);
    WRONG(H_BARRIER, pyth_barrier_wait(h, &idx), PYTH_EINVAL);
    WRONG(H_BARRIER, pyth_barrier_wait_timeout(h, 0.0, &idx), PYTH_EINVAL);
    WRONG(H_BARRIER, pyth_barrier_reset(h), PYTH_EINVAL);
    WRONG(H_BARRIER, pyth_barrier_abort(h), PYTH_EINVAL);
    WRONG(H_BARRIER, pyth_barrier_parties(h), 0);
    WRONG(H_BARRIER, pyth_barrier_n_waiting(h), 0);
    WRONG(H_BARRIER, pyth_barrier_broken(h), false);
    CHECK_EQ(idx, 77);
    /* Frees of the wrong kind are refused and free nothing. */
    WRONG(H_LOCK, pyth_lock_free(h), PYTH_EINVAL);
    WRONG(H_RLOCK, pyth_rlock_free(h), PYTH_EINVAL);
    WRONG(H_COND, pyth_cond_free(h), PYTH_EINVAL);
    WRONG(H_SEM, pyth_semaphore_free(h), PYTH_EINVAL);
    WRONG(H_EVENT, pyth_event_free(h), PYTH_EINVAL);
    WRONG(H_BARRIER, pyth_barrier_free(h), PYTH_EINVAL);

    /* Everything is as it was. */
    CHECK(pyth_lock_locked(l));
    CHECK(pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(!pyth_rlock_locked(r)); /* still one level */
    CHECK(pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(!pyth_cond_locked(c));
    CHECK_EQ(pyth_semaphore_value(s), 5);
    CHECK(pyth_event_is_set(e));
    CHECK(pyth_barrier_broken(b));
    CHECK_EQ(pyth_barrier_parties(b), 3);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

/* ---- PYTH_ENOMEM -------------------------------------------------------- */

enum { C_LOCK, C_RLOCK, C_COND, C_COND_LOCK, C_COND_RLOCK, C_SEM, C_BSEM, C_EVENT, C_BARRIER, C_BARRIER_ACTION, NC };
static const char *const cname[NC] = {"pyth_lock_new", "pyth_rlock_new", "pyth_cond_new",
                                      "pyth_cond_new_with_lock", "pyth_cond_new_with_rlock",
                                      "pyth_semaphore_new", "pyth_bounded_semaphore_new",
                                      "pyth_event_new", "pyth_barrier_new",
                                      "pyth_barrier_new (with an action)"};

/* Pointers that are not handles but are not NULL either: misaligned ones
 * (MAP_FAILED, small integers, a pointer into the middle of a live
 * handle) are refused by every fast path with PYTH_EINVAL, before any
 * memory behind them is read; a pointer into a live handle changes
 * nothing. The semaphore's count is chosen so that bytes 1-4 of its state
 * word spell the semaphore's kind tag: a check that only compares the tag
 * at p+8 would take s+9 for a semaphore. */
TEST(misaligned_handles) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_semaphore_t *s = pyth_semaphore_new(0x383CBA0200);
    pyth_event_t *e = pyth_event_new();
    pyth_local_t *loc = pyth_local_new(NULL, NULL, NULL);
    CHECK(l && r && s && e && loc);
    int value;
    CHECK_STATUS(pyth_local_set(loc, &value), PYTH_OK);
    void *bogus[] = {(void *)-1, (void *)1, (void *)7, (void *)(uintptr_t)0x1003};
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        void *p = bogus[i];
        CHECK_STATUS(pyth_lock_acquire(p, true, PYTH_FOREVER), PYTH_EINVAL);
        CHECK_STATUS(pyth_lock_release(p), PYTH_EINVAL);
        CHECK_STATUS(pyth_rlock_acquire(p, true, PYTH_FOREVER), PYTH_EINVAL);
        CHECK_STATUS(pyth_rlock_release(p), PYTH_EINVAL);
        CHECK_STATUS(pyth_semaphore_acquire(p, true, PYTH_FOREVER), PYTH_EINVAL);
        CHECK_STATUS(pyth_semaphore_release(p, 1), PYTH_EINVAL);
        CHECK(!pyth_event_is_set(p));
        CHECK_STATUS(pyth_event_set(p), PYTH_EINVAL);
        CHECK_STATUS(pyth_event_clear(p), PYTH_EINVAL);
        CHECK(pyth_local_get(p) == NULL);
        CHECK_STATUS(pyth_local_set(p, &value), PYTH_EINVAL);
    }
    for (int k = 1; k < 8; k++) {
        CHECK_STATUS(pyth_lock_acquire((void *)((char *)l + k), true, PYTH_FOREVER), PYTH_EINVAL);
        CHECK_STATUS(pyth_lock_release((void *)((char *)l + k)), PYTH_EINVAL);
        CHECK_STATUS(pyth_rlock_acquire((void *)((char *)r + k), true, PYTH_FOREVER), PYTH_EINVAL);
        CHECK_STATUS(pyth_rlock_release((void *)((char *)r + k)), PYTH_EINVAL);
        CHECK_STATUS(pyth_semaphore_acquire((void *)((char *)s + k), false, PYTH_FOREVER), PYTH_EINVAL);
        CHECK_STATUS(pyth_semaphore_release((void *)((char *)s + k), 1), PYTH_EINVAL);
        CHECK_STATUS(pyth_semaphore_release((void *)((char *)s + 8 + k), 1), PYTH_EINVAL);
        CHECK_STATUS(pyth_event_set((void *)((char *)e + k)), PYTH_EINVAL);
        CHECK(pyth_local_get((void *)((char *)loc + k)) == NULL);
        CHECK_STATUS(pyth_local_set((void *)((char *)loc + k), NULL), PYTH_EINVAL);
    }
    CHECK_EQ(pyth_semaphore_value(s), 0x383CBA0200);
    CHECK(!pyth_lock_locked(l));
    CHECK(!pyth_rlock_locked(r));
    CHECK(!pyth_event_is_set(e));
    CHECK(pyth_local_get(loc) == &value);
    CHECK_STATUS(pyth_local_free(loc), PYTH_OK);
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

static void noop_action(void *arg) { (void)arg; }

static void *oom_make(int which, pyth_lock_t *l, pyth_rlock_t *r) {
    switch (which) {
    case C_LOCK: return pyth_lock_new();
    case C_RLOCK: return pyth_rlock_new();
    case C_COND: return pyth_cond_new();
    case C_COND_LOCK: return pyth_cond_new_with_lock(l);
    case C_COND_RLOCK: return pyth_cond_new_with_rlock(r);
    case C_SEM: return pyth_semaphore_new(1);
    case C_BSEM: return pyth_bounded_semaphore_new(1);
    case C_EVENT: return pyth_event_new();
    case C_BARRIER: return pyth_barrier_new(2, NULL, NULL, PYTH_FOREVER);
    case C_BARRIER_ACTION: return pyth_barrier_new(2, noop_action, NULL, PYTH_FOREVER);
    }
    return NULL;
}

/* In a child: lowers the address-space limit a little above what is in use
 * and calls the constructor until it returns NULL; then takes whatever
 * memory is left with the smallest allocations and calls it once more.
 * Exit code 0: NULL with PYTH_ENOMEM both times; 1: NULL with another
 * status; 2: never NULL; 5: not NULL once memory was exhausted. */
static void oom_child(int which) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    if (!h_limit_address_space(16u << 20)) _exit(4);
    long i = 0;
    for (; i < 100000000L; i++) {
        if (!oom_make(which, l, r)) break;
    }
    if (i == 100000000L) _exit(2);
    if (pyth_last_status() != PYTH_ENOMEM || !*pyth_last_error()) _exit(1);
    for (size_t sz = 256; sz >= 1; sz /= 2)
        while (malloc(sz) != NULL) {}
    pyth_semaphore_new(-1); /* a different last error first */
    if (oom_make(which, l, r) != NULL) _exit(5);
    _exit(pyth_last_status() == PYTH_ENOMEM && *pyth_last_error() ? 0 : 1);
}

TEST(enomem_constructors) {
    if (h_on_valgrind()) {
        fprintf(stderr, "  (skipped under valgrind: its allocator cannot be starved with RLIMIT_AS)\n");
        return;
    }
    for (int which = 0; which < NC; which++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); CHECK(!"fork"); return; }
        if (pid == 0) oom_child(which);
        int status = 0;
        if (!h_wait_child(pid, 120, &status)) {
            H_FAIL("%s: the out-of-memory child did not finish", cname[which]);
            continue;
        }
        h_checks++;
        if (WIFSIGNALED(status))
            H_FAIL("%s: out of memory killed the process (signal %d) instead of returning NULL with PYTH_ENOMEM",
                   cname[which], WTERMSIG(status));
        else if (WEXITSTATUS(status) == 1)
            H_FAIL("%s: returned NULL with a status other than PYTH_ENOMEM", cname[which]);
        else if (WEXITSTATUS(status) == 2)
            H_FAIL("%s: never returned NULL under a 16 MiB address-space margin", cname[which]);
        else if (WEXITSTATUS(status) == 5)
            H_FAIL("%s: returned a handle with no memory left", cname[which]);
        else if (WEXITSTATUS(status) != 0)
            H_FAIL("%s: child setup failed (exit %d)", cname[which], WEXITSTATUS(status));
    }
}

int main(void) {
    RUN(status_values);
    RUN(strerror_names);
    RUN(last_error_is_per_thread);
    RUN(last_error_survives_success);
    RUN(last_error_concurrent_threads);
    RUN(timeout_rules_every_call);
    RUN(timeout_rules_barrier_new);
    RUN(timeout_messages_other_calls);
    RUN(timeouts_survive_signals);
    RUN(null_handles);
    RUN(wrong_kind_handles);
    RUN(misaligned_handles);
    RUN(enomem_constructors);
    return REPORT();
}
