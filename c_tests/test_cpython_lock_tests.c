/*
 * Ports of CPython 3.11's Lib/test/lock_tests.py (run by test_threading.py
 * as LockTests, PyRLockTests/CRLockTests, ConditionAsRLockTests,
 * EventTests, ConditionTests, SemaphoreTests, BoundedSemaphoreTests and
 * BarrierTests), limited to the Python tests whose behaviour the other C
 * tests do not already pin (for at least one of the primitives it runs
 * on). Each test is named <PythonClass>_<python_test>; a test that runs
 * over several primitives labels its failures with the primitive.
 *
 * Differences from the Python originals:
 *  - no sleeps: "the threads are blocked now" is established by waiting
 *    until each thread sleeps in a futex wait (WAIT_BLOCKED) or by holding
 *    the condition's lock once the waiters have announced themselves;
 *  - every wait is bounded: a lost wake-up fails a check or the program
 *    (join_within) instead of hanging;
 *  - timeouts are shorter (0.2 s for Python's 0.5 s) and checked with an
 *    exact lower bound and a generous upper one (timeout + h_slack()).
 */
#include "harness.h"

enum { MAXN = 16 };
#define SYNC_S 30.0   /* bound on waiting for another thread's progress */
#define JOIN_S 60.0   /* bound on joining a thread */
#define TO 0.2        /* a timeout that is expected to expire */

/* ---- labels: which primitive a generic test is running on --------------- */

static char label_buf[160];

static void set_label(const char *test, const char *variant) {
    snprintf(label_buf, sizeof label_buf, "%s[%s]", test, variant);
    h_current = label_buf;
}

/* ---- Bunch: n threads running the same function ------------------------- */

typedef struct bunch bunch;
typedef void (*bunch_fn)(bunch *b, int i);
struct bunch_arg {
    bunch *b;
    int i;
};
struct bunch {
    bunch_fn fn;
    void *ctx;
    int n;
    atomic_int started, finished;
    atomic_int tid[MAXN];
    h_thread t[MAXN];
    struct bunch_arg arg[MAXN];
};

static void *bunch_task(void *p) {
    struct bunch_arg *a = p;
    bunch *b = a->b;
    atomic_store(&b->tid[a->i], h_gettid());
    atomic_fetch_add(&b->started, 1);
    b->fn(b, a->i);
    atomic_fetch_add(&b->finished, 1);
    return NULL;
}

/* Starts n threads running fn(b, i), i = 0..n-1, and waits until each has
 * started. */
static void bunch_start(bunch *b, int n, bunch_fn fn, void *ctx) {
    memset(b, 0, sizeof *b);
    b->fn = fn;
    b->ctx = ctx;
    b->n = n;
    for (int i = 0; i < n; i++) {
        b->arg[i].b = b;
        b->arg[i].i = i;
        b->t[i] = spawn(bunch_task, &b->arg[i]);
    }
    CHECK(WAIT_UNTIL(atomic_load(&b->started) == n, SYNC_S));
}

/* Waits until every thread of the bunch sleeps in a futex wait. */
static bool bunch_blocked(bunch *b) {
    for (int i = 0; i < b->n; i++)
        if (!WAIT_BLOCKED(atomic_load(&b->tid[i]), SYNC_S)) return false;
    return true;
}

static void bunch_join(bunch *b) {
    for (int i = 0; i < b->n; i++) join_within(b->t[i], JOIN_S);
    CHECK_EQ(atomic_load(&b->finished), b->n);
}

static void bunch_run(bunch *b, int n, bunch_fn fn, void *ctx) {
    bunch_start(b, n, fn, ctx);
    bunch_join(b);
}

static void pause_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* ---- the three lock types of BaseLockTests ------------------------------ */

/* Python runs BaseLockTests on Lock, RLock and Condition (as an RLock:
 * ConditionAsRLockTests); so does this file, through one interface. */
typedef enum { K_LOCK, K_RLOCK, K_COND, NKINDS } kind;
static const char *const kind_name[NKINDS] = {"Lock", "RLock", "Condition"};

typedef struct {
    kind k;
    void *h;
} anylock;

static anylock al_new(kind k) {
    anylock a = {k, NULL};
    switch (k) {
    case K_LOCK: a.h = pyth_lock_new(); break;
    case K_RLOCK: a.h = pyth_rlock_new(); break;
    default: a.h = pyth_cond_new(); break;
    }
    CHECK(a.h != NULL);
    return a;
}

static pyth_status al_acquire(const anylock *a, bool blocking, double timeout) {
    switch (a->k) {
    case K_LOCK: return pyth_lock_acquire(a->h, blocking, timeout);
    case K_RLOCK: return pyth_rlock_acquire(a->h, blocking, timeout);
    default: return pyth_cond_acquire(a->h, blocking, timeout);
    }
}

static pyth_status al_release(const anylock *a) {
    switch (a->k) {
    case K_LOCK: return pyth_lock_release(a->h);
    case K_RLOCK: return pyth_rlock_release(a->h);
    default: return pyth_cond_release(a->h);
    }
}

static bool al_locked(const anylock *a) {
    switch (a->k) {
    case K_LOCK: return pyth_lock_locked(a->h);
    case K_RLOCK: return pyth_rlock_locked(a->h);
    default: return pyth_cond_locked(a->h);
    }
}

/* Python's _is_owned() for the recursive kinds. A condition has no such
 * call in C; notify(0) succeeds exactly when the caller owns the lock. */
static bool al_is_owned(const anylock *a) {
    if (a->k == K_RLOCK) return pyth_rlock_is_owned(a->h);
    return pyth_cond_notify(a->h, 0) == PYTH_OK;
}

static pyth_status al_free(const anylock *a) {
    switch (a->k) {
    case K_LOCK: return pyth_lock_free(a->h);
    case K_RLOCK: return pyth_rlock_free(a->h);
    default: return pyth_cond_free(a->h);
    }
}

typedef struct {
    anylock *l;
    bool blocking;
    double timeout;
    pyth_status st[MAXN], rel[MAXN];
    double elapsed[MAXN];
} lock_ctx;

/* acquire(), then release() if it was acquired. */
static void acquire_release_fn(bunch *b, int i) {
    lock_ctx *c = b->ctx;
    c->st[i] = al_acquire(c->l, true, PYTH_FOREVER);
    c->rel[i] = c->st[i] == PYTH_OK ? al_release(c->l) : -100;
}

/* acquire(blocking, timeout), timed; the lock is kept if acquired. */
static void timed_acquire_fn(bunch *b, int i) {
    lock_ctx *c = b->ctx;
    double t0 = now_s();
    c->st[i] = al_acquire(c->l, c->blocking, c->timeout);
    c->elapsed[i] = now_s() - t0;
}

/* ---- BaseLockTests ------------------------------------------------------- */

/* test_acquire_destroy: a held lock can be destroyed. Already pinned for
 * Lock and RLock (lock_free_rules, rlock_free_rules); new for Condition. */
TEST(BaseLockTests_test_acquire_destroy) {
    for (int k = 0; k < NKINDS; k++) {
        set_label(__func__, kind_name[k]);
        anylock l = al_new(k);
        CHECK_STATUS(al_acquire(&l, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(al_free(&l), PYTH_OK);
    }
}

/* test_try_acquire: acquire(blocking=False) on a free lock succeeds. */
TEST(BaseLockTests_test_try_acquire) {
    for (int k = 0; k < NKINDS; k++) {
        set_label(__func__, kind_name[k]);
        anylock l = al_new(k);
        CHECK_STATUS(al_acquire(&l, false, PYTH_FOREVER), PYTH_OK);
        CHECK(al_locked(&l));
        CHECK_STATUS(al_release(&l), PYTH_OK);
        CHECK(!al_locked(&l));
        CHECK_STATUS(al_free(&l), PYTH_OK);
    }
}

/* test_try_acquire_contended: another thread's non-blocking acquire of a
 * held lock fails at once. */
TEST(BaseLockTests_test_try_acquire_contended) {
    for (int k = 0; k < NKINDS; k++) {
        set_label(__func__, kind_name[k]);
        anylock l = al_new(k);
        CHECK_STATUS(al_acquire(&l, true, PYTH_FOREVER), PYTH_OK);
        lock_ctx c = {.l = &l, .blocking = false, .timeout = PYTH_FOREVER};
        bunch b;
        bunch_run(&b, 1, timed_acquire_fn, &c);
        CHECK_EQ(c.st[0], PYTH_TIMEOUT);
        CHECK(c.elapsed[0] < h_slack());
        CHECK(al_locked(&l));
        CHECK_STATUS(al_release(&l), PYTH_OK);
        CHECK(!al_locked(&l));
        CHECK_STATUS(al_free(&l), PYTH_OK);
    }
}

/* test_acquire_contended: 5 threads block in acquire() on a held lock;
 * none gets through until the holder releases it, and then, each
 * releasing in turn, all do. */
TEST(BaseLockTests_test_acquire_contended) {
    enum { N = 5 };
    for (int k = 0; k < NKINDS; k++) {
        set_label(__func__, kind_name[k]);
        anylock l = al_new(k);
        CHECK_STATUS(al_acquire(&l, true, PYTH_FOREVER), PYTH_OK);
        lock_ctx c = {.l = &l};
        bunch b;
        bunch_start(&b, N, acquire_release_fn, &c);
        CHECK(bunch_blocked(&b));
        CHECK(STAYS_FALSE(atomic_load(&b.finished) > 0, 0.02));
        CHECK_EQ(atomic_load(&b.finished), 0);
        CHECK_STATUS(al_release(&l), PYTH_OK);
        bunch_join(&b);
        for (int i = 0; i < N; i++) {
            CHECK_EQ(c.st[i], PYTH_OK);
            CHECK_EQ(c.rel[i], PYTH_OK);
        }
        CHECK(!al_locked(&l));
        CHECK_STATUS(al_free(&l), PYTH_OK);
    }
}

/* test_with: after "with lock:" (acquire, then release, also on the error
 * path), another thread can acquire and release the lock. */
TEST(BaseLockTests_test_with) {
    for (int k = 0; k < NKINDS; k++) {
        set_label(__func__, kind_name[k]);
        anylock l = al_new(k);
        for (int round = 0; round < 2; round++) {
            CHECK_STATUS(al_acquire(&l, true, PYTH_FOREVER), PYTH_OK);
            CHECK(al_locked(&l));
            CHECK_STATUS(al_release(&l), PYTH_OK);
            lock_ctx c = {.l = &l};
            bunch b;
            bunch_run(&b, 1, acquire_release_fn, &c);
            CHECK_EQ(c.st[0], PYTH_OK);
            CHECK_EQ(c.rel[0], PYTH_OK);
            CHECK(!al_locked(&l));
        }
        CHECK_STATUS(al_free(&l), PYTH_OK);
    }
}

/* test_thread_leak: using a lock from 15 threads the library did not start
 * (Python: _thread.start_new_thread; here: plain pthreads) registers no
 * thread object: active_count and enumerate are unchanged while they run
 * and after they are gone. */
typedef struct {
    anylock *l;
    pyth_status st[MAXN], rel[MAXN];
    atomic_int used, go;
} leak_ctx;

static void leak_fn(bunch *b, int i) {
    leak_ctx *c = b->ctx;
    c->st[i] = al_acquire(c->l, true, PYTH_FOREVER);
    c->rel[i] = c->st[i] == PYTH_OK ? al_release(c->l) : -100;
    atomic_fetch_add(&c->used, 1);
    while (!atomic_load(&c->go)) pause_us(200);
}

TEST(BaseLockTests_test_thread_leak) {
    enum { N = 15 };
    for (int k = 0; k < NKINDS; k++) {
        set_label(__func__, kind_name[k]);
        anylock l = al_new(k);
        size_t base = pyth_active_count();
        CHECK_EQ(pyth_enumerate(NULL, 0), base);
        leak_ctx c = {.l = &l};
        bunch b;
        bunch_start(&b, N, leak_fn, &c);
        CHECK(WAIT_UNTIL(atomic_load(&c.used) == N, SYNC_S));
        CHECK_EQ(pyth_active_count(), base);
        CHECK_EQ(pyth_enumerate(NULL, 0), base);
        atomic_store(&c.go, 1);
        bunch_join(&b);
        for (int i = 0; i < N; i++) {
            CHECK_EQ(c.st[i], PYTH_OK);
            CHECK_EQ(c.rel[i], PYTH_OK);
        }
        CHECK_EQ(pyth_active_count(), base);
        CHECK_EQ(pyth_enumerate(NULL, 0), base);
        CHECK_STATUS(al_free(&l), PYTH_OK);
    }
}

/* test_timeout, with Python's exact argument values: a timeout with
 * blocking=False and timeout=-100 are ValueErrors, 1e100 and
 * TIMEOUT_MAX + 1 OverflowErrors, TIMEOUT_MAX is accepted; acquire(timeout=5)
 * of a free lock returns at once; another thread's timed acquire of the
 * held lock fails after the timeout. */
TEST(BaseLockTests_test_timeout) {
    for (int k = 0; k < NKINDS; k++) {
        set_label(__func__, kind_name[k]);
        anylock l = al_new(k);
        CHECK_STATUS(al_acquire(&l, false, 1.0), PYTH_EVALUE);
        CHECK_STATUS(al_acquire(&l, true, -100.0), PYTH_EVALUE);
        CHECK_STATUS(al_acquire(&l, true, 1e100), PYTH_EOVERFLOW);
        CHECK_STATUS(al_acquire(&l, true, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW);
        CHECK(!al_locked(&l));
        CHECK_STATUS(al_acquire(&l, true, PYTH_TIMEOUT_MAX), PYTH_OK);
        CHECK_STATUS(al_release(&l), PYTH_OK);
        double t0 = now_s();
        CHECK_STATUS(al_acquire(&l, true, 5.0), PYTH_OK);
        CHECK(now_s() - t0 < 5.0);
        /* Kept held, as in the Python test. */
        lock_ctx c = {.l = &l, .blocking = true, .timeout = TO};
        bunch b;
        bunch_run(&b, 1, timed_acquire_fn, &c);
        CHECK_EQ(c.st[0], PYTH_TIMEOUT);
        CHECK(c.elapsed[0] >= TO);
        CHECK(c.elapsed[0] < TO + h_slack());
        CHECK(al_locked(&l));
        CHECK_STATUS(al_release(&l), PYTH_OK);
        CHECK(!al_locked(&l));
        CHECK_STATUS(al_free(&l), PYTH_OK);
    }
}

/* ---- LockTests ----------------------------------------------------------- */

/* test_reacquire: a Lock is not reentrant: a thread that holds it blocks
 * acquiring it again, until another thread releases it. */
typedef struct {
    pyth_lock_t *l;
    atomic_int phase;
    pyth_status st1, st2;
} reacquire_ctx;

static void reacquire_fn(bunch *b, int i) {
    (void)i;
    reacquire_ctx *c = b->ctx;
    c->st1 = pyth_lock_acquire(c->l, true, PYTH_FOREVER);
    atomic_store(&c->phase, 1);
    c->st2 = pyth_lock_acquire(c->l, true, PYTH_FOREVER);
    atomic_store(&c->phase, 2);
}

TEST(LockTests_test_reacquire) {
    reacquire_ctx c = {.l = pyth_lock_new()};
    bunch b;
    bunch_start(&b, 1, reacquire_fn, &c);
    CHECK(WAIT_UNTIL(atomic_load(&c.phase) == 1, SYNC_S));
    CHECK(WAIT_BLOCKED(atomic_load(&b.tid[0]), SYNC_S));
    CHECK(STAYS_FALSE(atomic_load(&c.phase) == 2, 0.02));
    CHECK_EQ(c.st1, PYTH_OK);
    CHECK(pyth_lock_locked(c.l));
    CHECK_STATUS(pyth_lock_release(c.l), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&c.phase) == 2, SYNC_S));
    bunch_join(&b);
    CHECK_EQ(c.st2, PYTH_OK);
    CHECK(pyth_lock_locked(c.l));
    CHECK_STATUS(pyth_lock_release(c.l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(c.l), PYTH_OK);
}

/* ---- RLockTests (RLock and Condition) ------------------------------------ */

/* test_reacquire and test_release_unacquired: levels nest, and releasing
 * an RLock that is not held is a RuntimeError, before and after use.
 * Pinned for RLock by rlock_basics/rlock_recursion_levels; this adds the
 * Condition (ConditionAsRLockTests). */
TEST(RLockTests_test_release_unacquired) {
    for (int k = K_RLOCK; k <= K_COND; k++) {
        set_label(__func__, kind_name[k]);
        anylock l = al_new(k);
        CHECK_STATUS(al_release(&l), PYTH_ERUNTIME);
        CHECK_MSG("cannot release un-acquired lock");
        CHECK_STATUS(al_acquire(&l, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(al_acquire(&l, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(al_release(&l), PYTH_OK);
        CHECK_STATUS(al_acquire(&l, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(al_release(&l), PYTH_OK);
        CHECK(al_locked(&l));
        CHECK_STATUS(al_release(&l), PYTH_OK);
        CHECK(!al_locked(&l));
        CHECK_STATUS(al_release(&l), PYTH_ERUNTIME);
        CHECK_MSG("cannot release un-acquired lock");
        CHECK_STATUS(al_free(&l), PYTH_OK);
    }
}

/* test__is_owned: owned by the acquiring thread at every level, never by
 * another thread, no longer after the last release. For a Condition,
 * "owned" is probed with notify(0), which needs ownership. */
typedef struct {
    anylock *l;
    bool owned;
} owned_ctx;

static void owned_fn(bunch *b, int i) {
    (void)i;
    owned_ctx *c = b->ctx;
    c->owned = al_is_owned(c->l);
}

TEST(RLockTests_test__is_owned) {
    for (int k = K_RLOCK; k <= K_COND; k++) {
        set_label(__func__, kind_name[k]);
        anylock l = al_new(k);
        CHECK(!al_is_owned(&l));
        CHECK_STATUS(al_acquire(&l, true, PYTH_FOREVER), PYTH_OK);
        CHECK(al_is_owned(&l));
        CHECK_STATUS(al_acquire(&l, true, PYTH_FOREVER), PYTH_OK);
        CHECK(al_is_owned(&l));
        owned_ctx c = {.l = &l, .owned = true};
        bunch b;
        bunch_run(&b, 1, owned_fn, &c);
        CHECK(!c.owned);
        CHECK_STATUS(al_release(&l), PYTH_OK);
        CHECK(al_is_owned(&l));
        CHECK_STATUS(al_release(&l), PYTH_OK);
        CHECK(!al_is_owned(&l));
        CHECK_STATUS(al_free(&l), PYTH_OK);
    }
}

/* ---- EventTests ---------------------------------------------------------- */

typedef struct {
    pyth_event_t *e;
    double timeout;
    atomic_int n1;
    pyth_status r0[MAXN], r1[MAXN], r2[MAXN];
    double dt[MAXN];
} event_ctx;

/* wait() twice. */
static void event_twice_fn(bunch *b, int i) {
    event_ctx *c = b->ctx;
    c->r1[i] = pyth_event_wait(c->e, c->timeout);
    atomic_fetch_add(&c->n1, 1);
    c->r2[i] = pyth_event_wait(c->e, c->timeout);
}

/* _check_notify: 5 threads blocked in wait() are all released by one
 * set(), and their second wait() returns at once since the flag stays set. */
static void event_check_notify(pyth_event_t *e, double timeout) {
    enum { N = 5 };
    event_ctx c = {.e = e, .timeout = timeout};
    bunch b;
    bunch_start(&b, N, event_twice_fn, &c);
    CHECK(bunch_blocked(&b));
    CHECK(STAYS_FALSE(atomic_load(&c.n1) > 0, 0.02));
    CHECK_EQ(atomic_load(&c.n1), 0);
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);
    bunch_join(&b);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(c.r1[i], PYTH_OK);
        CHECK_EQ(c.r2[i], PYTH_OK);
    }
}

/* test_notify: _check_notify, then again after set() and clear(). The
 * second round waits with a long finite timeout (Python: both untimed), so
 * both wait paths are exercised. */
TEST(EventTests_test_notify) {
    pyth_event_t *e = pyth_event_new();
    event_check_notify(e, PYTH_FOREVER);
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);
    CHECK_STATUS(pyth_event_clear(e), PYTH_OK);
    CHECK(!pyth_event_is_set(e));
    event_check_notify(e, SYNC_S);
    CHECK(pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

/* wait(0), then a timed wait(TO). */
static void event_timeout_fn(bunch *b, int i) {
    event_ctx *c = b->ctx;
    c->r0[i] = pyth_event_wait(c->e, 0.0);
    double t0 = now_s();
    c->r1[i] = pyth_event_wait(c->e, TO);
    c->dt[i] = now_s() - t0;
}

/* test_timeout: 5 threads: wait(0) is false and wait(TO) times out after
 * TO while the event is clear; both are true at once once it is set. */
TEST(EventTests_test_timeout) {
    enum { N = 5 };
    pyth_event_t *e = pyth_event_new();
    event_ctx c = {.e = e};
    bunch b;
    bunch_run(&b, N, event_timeout_fn, &c);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(c.r0[i], PYTH_TIMEOUT);
        CHECK_EQ(c.r1[i], PYTH_TIMEOUT);
        CHECK(c.dt[i] >= TO);
        CHECK(c.dt[i] < TO + h_slack());
    }
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);
    memset(&c, 0, sizeof c);
    c.e = e;
    bunch_run(&b, N, event_timeout_fn, &c);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(c.r0[i], PYTH_OK);
        CHECK_EQ(c.r1[i], PYTH_OK);
        CHECK(c.dt[i] < h_slack());
    }
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

/* ---- ConditionTests ------------------------------------------------------ */

/* Acquires c's lock and returns true, holding it, once *field == value
 * (the field is written under the lock); false after SYNC_S. */
static bool hold_when(pyth_cond_t *c, const int *field, int value) {
    double end = now_s() + SYNC_S;
    while (now_s() < end) {
        if (pyth_cond_acquire(c, true, PYTH_FOREVER) != PYTH_OK) return false;
        if (*(const volatile int *)field == value) return true;
        pyth_cond_release(c);
        pause_us(100);
    }
    return false;
}

/* test_acquire: the default condition is reentrant; one built on a Lock
 * shares it: held through one handle, it cannot be taken through the other. */
TEST(ConditionTests_test_acquire) {
    pyth_cond_t *c = pyth_cond_new();
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(!pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);

    pyth_lock_t *l = pyth_lock_new();
    c = pyth_cond_new_with_lock(l);
    CHECK(c != NULL);
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_lock_acquire(l, false, PYTH_FOREVER), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK_STATUS(pyth_lock_acquire(l, false, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_acquire(c, false, PYTH_FOREVER), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    /* "with cond:" */
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_lock_acquire(l, false, PYTH_FOREVER), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(!pyth_lock_locked(l));
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

/* _check_notify. Every field but the atomics is under the condition's lock. */
typedef struct {
    pyth_cond_t *c;
    double timeout;
    int ready;       /* waiters that entered a wait since the last reset */
    int phase;
    int n1, n2;      /* results of the first and second waits, in order */
    pyth_status st1[MAXN], st2[MAXN];
    int ph1[MAXN], ph2[MAXN];
    atomic_int done1, done2;
    pyth_status acq[MAXN], rel[MAXN];
} notify_ctx;

static void cond_notify_fn(bunch *b, int i) {
    notify_ctx *x = b->ctx;
    pyth_status a1 = pyth_cond_acquire(x->c, true, PYTH_FOREVER);
    x->ready++;
    pyth_status st = pyth_cond_wait(x->c, x->timeout);
    x->st1[x->n1] = st;
    x->ph1[x->n1] = x->phase;
    x->n1++;
    atomic_fetch_add(&x->done1, 1);
    pyth_status r1 = pyth_cond_release(x->c);
    pyth_status a2 = pyth_cond_acquire(x->c, true, PYTH_FOREVER);
    x->ready++;
    st = pyth_cond_wait(x->c, x->timeout);
    x->st2[x->n2] = st;
    x->ph2[x->n2] = x->phase;
    x->n2++;
    atomic_fetch_add(&x->done2, 1);
    pyth_status r2 = pyth_cond_release(x->c);
    x->acq[i] = a1 != PYTH_OK ? a1 : a2;
    x->rel[i] = r1 != PYTH_OK ? r1 : r2;
}

/* Checks that results [from, to) of a wait list are (PYTH_OK, phase). */
static void check_results(const char *which, const pyth_status *st, const int *ph, int from, int to, int phase) {
    for (int i = from; i < to; i++) {
        h_checks++;
        if (st[i] != PYTH_OK || ph[i] != phase)
            H_FAIL("%s[%d] == (%s, phase %d), expected (PYTH_OK, phase %d)", which, i, pyth_strerror(st[i]), ph[i],
                   phase);
    }
}

static void cond_check_notify(pyth_cond_t *c, double timeout) {
    enum { N = 5, COUNT1 = 3 };
    static notify_ctx x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.timeout = timeout;
    bunch b;
    bunch_start(&b, N, cond_notify_fn, &x);
    /* All N inside their first wait (they announce it under the lock). */
    CHECK(hold_when(c, &x.ready, N));
    x.ready = 0;
    CHECK_EQ(x.n1, 0);
    /* notify(3): exactly three wake, and see phase 1. */
    CHECK_STATUS(pyth_cond_notify(c, COUNT1), PYTH_OK);
    x.phase = 1;
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&x.done1) == COUNT1, SYNC_S));
    CHECK(STAYS_FALSE(atomic_load(&x.done1) > COUNT1, 0.02));
    /* The three woken ones are back in (their second) wait. */
    CHECK(hold_when(c, &x.ready, COUNT1));
    CHECK_EQ(x.n1, COUNT1);
    check_results("results1", x.st1, x.ph1, 0, x.n1, 1);
    CHECK_EQ(x.n2, 0);
    /* notify(5) wakes the two still in their first wait and the three in
     * their second. */
    CHECK_STATUS(pyth_cond_notify(c, N), PYTH_OK);
    x.phase = 2;
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&x.done1) + atomic_load(&x.done2) == N + COUNT1, SYNC_S));
    /* All N are in their second wait. */
    CHECK(hold_when(c, &x.ready, N));
    CHECK_EQ(x.n1, N);
    check_results("results1", x.st1, x.ph1, 0, COUNT1, 1);
    check_results("results1", x.st1, x.ph1, COUNT1, N, 2);
    CHECK_EQ(x.n2, COUNT1);
    check_results("results2", x.st2, x.ph2, 0, COUNT1, 2);
    /* notify_all wakes the rest. */
    CHECK_STATUS(pyth_cond_notify_all(c), PYTH_OK);
    x.phase = 3;
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&x.done2) == N, SYNC_S));
    bunch_join(&b);
    CHECK_EQ(x.n1, N);
    CHECK_EQ(x.n2, N);
    check_results("results1", x.st1, x.ph1, 0, COUNT1, 1);
    check_results("results1", x.st1, x.ph1, COUNT1, N, 2);
    check_results("results2", x.st2, x.ph2, 0, COUNT1, 2);
    check_results("results2", x.st2, x.ph2, COUNT1, N, 3);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(x.acq[i], PYTH_OK);
        CHECK_EQ(x.rel[i], PYTH_OK);
    }
    CHECK(!pyth_cond_locked(c));
}

/* test_notify: _check_notify twice on the same condition (the second time
 * with a long finite timeout instead of none, so both wait paths run). */
TEST(ConditionTests_test_notify) {
    pyth_cond_t *c = pyth_cond_new();
    cond_check_notify(c, PYTH_FOREVER);
    cond_check_notify(c, SYNC_S);
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
}

typedef struct {
    pyth_cond_t *c;
    pyth_status acq[MAXN], st[MAXN], rel[MAXN];
    double dt[MAXN];
} cond_timeout_ctx;

static void cond_timeout_fn(bunch *b, int i) {
    cond_timeout_ctx *x = b->ctx;
    x->acq[i] = pyth_cond_acquire(x->c, true, PYTH_FOREVER);
    double t0 = now_s();
    x->st[i] = pyth_cond_wait(x->c, TO);
    x->dt[i] = now_s() - t0;
    x->rel[i] = pyth_cond_release(x->c);
}

/* test_timeout: 5 threads wait(TO) at once with nobody notifying: each
 * times out (no spurious wake-up) after at least TO. */
TEST(ConditionTests_test_timeout) {
    enum { N = 5 };
    cond_timeout_ctx x = {.c = pyth_cond_new()};
    bunch b;
    bunch_run(&b, N, cond_timeout_fn, &x);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(x.acq[i], PYTH_OK);
        CHECK_EQ(x.st[i], PYTH_TIMEOUT);
        CHECK_EQ(x.rel[i], PYTH_OK);
        CHECK(x.dt[i] >= TO);
        CHECK(x.dt[i] < TO + h_slack());
    }
    CHECK(!pyth_cond_locked(x.c));
    CHECK_STATUS(pyth_cond_free(x.c), PYTH_OK);
}

/* wait_for(lambda: state == 4) in one thread while the main thread
 * increments state and notifies; state and calls are under the lock. */
typedef struct {
    pyth_cond_t *c;
    double timeout;
    int state;
    int calls;
    atomic_int done;
    pyth_status acq, st, rel;
    int state_after;
    double dt;
} waitfor_ctx;

static bool state_is_4(void *p) {
    waitfor_ctx *x = p;
    x->calls++;
    return x->state == 4;
}

static void waitfor_fn(bunch *b, int i) {
    (void)i;
    waitfor_ctx *x = b->ctx;
    x->acq = pyth_cond_acquire(x->c, true, PYTH_FOREVER);
    double t0 = now_s();
    x->st = pyth_cond_wait_for(x->c, state_is_4, x, x->timeout);
    x->dt = now_s() - t0;
    x->state_after = x->state;
    x->rel = pyth_cond_release(x->c);
    atomic_store(&x->done, 1);
}

/* Holds the lock once the predicate has run `n` times (the waiter is then
 * inside wait: it runs the predicate under the lock and lets go of the lock
 * only in wait). False if the waiter is done first, or after SYNC_S. */
static bool hold_after_calls(waitfor_ctx *x, int n) {
    double end = now_s() + SYNC_S;
    while (now_s() < end) {
        pyth_cond_acquire(x->c, true, PYTH_FOREVER);
        if (*(volatile int *)&x->calls == n) return true;
        pyth_cond_release(x->c);
        if (atomic_load(&x->done)) return false;
        pause_us(100);
    }
    return false;
}

/* Increments state `times` times, each while the waiter waits, notifying
 * it each time; returns how many increments were made that way. */
static int bump_state(waitfor_ctx *x, int times) {
    int made = 0;
    for (int i = 0; i < times; i++) {
        if (!hold_after_calls(x, i + 1)) break;
        x->state++;
        CHECK_STATUS(pyth_cond_notify(x->c, 1), PYTH_OK);
        CHECK_STATUS(pyth_cond_release(x->c), PYTH_OK);
        made++;
    }
    return made;
}

/* test_waitfor: wait_for without a timeout returns true once the
 * predicate holds, after being re-evaluated on each notification. */
TEST(ConditionTests_test_waitfor) {
    waitfor_ctx x = {.c = pyth_cond_new(), .timeout = PYTH_FOREVER};
    bunch b;
    bunch_start(&b, 1, waitfor_fn, &x);
    CHECK_EQ(bump_state(&x, 4), 4);
    bunch_join(&b);
    CHECK_EQ(x.acq, PYTH_OK);
    CHECK_EQ(x.st, PYTH_OK);
    CHECK_EQ(x.state_after, 4);
    CHECK_EQ(x.rel, PYTH_OK);
    /* Once at first, then once per notification (no spurious wake-ups). */
    CHECK_EQ(x.calls, 5);
    CHECK_STATUS(pyth_cond_free(x.c), PYTH_OK);
}

/* test_waitfor_timeout: wait_for(predicate, timeout) whose predicate never
 * holds returns false after the timeout, although notifications woke it
 * meanwhile: the timeout bounds the whole call. */
TEST(ConditionTests_test_waitfor_timeout) {
    const double to = 0.3;
    waitfor_ctx x = {.c = pyth_cond_new(), .timeout = to};
    bunch b;
    bunch_start(&b, 1, waitfor_fn, &x);
    int made = bump_state(&x, 3);
    bunch_join(&b);
    if (made < 3 && !h_quick()) fprintf(stderr, "  (note: only %d of 3 notifications before the timeout)\n", made);
    CHECK_EQ(x.acq, PYTH_OK);
    CHECK_EQ(x.st, PYTH_TIMEOUT);
    CHECK_EQ(x.state_after, made);
    CHECK_EQ(x.rel, PYTH_OK);
    CHECK(x.calls >= made + 1);
    CHECK(x.dt >= to);
    CHECK(x.dt < to + h_slack());
    CHECK_STATUS(pyth_cond_free(x.c), PYTH_OK);
}

/* ---- BaseSemaphoreTests (Semaphore and BoundedSemaphore) ----------------- */

static const char *const sem_kind[2] = {"Semaphore", "BoundedSemaphore"};

static pyth_semaphore_t *sem_new(int bounded, int64_t value) {
    pyth_semaphore_t *s = bounded ? pyth_bounded_semaphore_new(value) : pyth_semaphore_new(value);
    CHECK(s != NULL);
    return s;
}

/* test_acquire_destroy: an acquired semaphore (default value 1) can be
 * destroyed. */
TEST(BaseSemaphoreTests_test_acquire_destroy) {
    for (int bounded = 0; bounded < 2; bounded++) {
        set_label(__func__, sem_kind[bounded]);
        pyth_semaphore_t *s = sem_new(bounded, 1);
        CHECK_STATUS(pyth_semaphore_acquire(s, true, PYTH_FOREVER), PYTH_OK);
        CHECK_EQ(pyth_semaphore_value(s), 0);
        CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    }
}

/* test_acquire_contended and test_multirelease: semaphore(7) with one unit
 * taken; 10 threads each acquire twice, recording the phase they got
 * their unit in. Phase 0: the 6 free units go; phase 1: 7 units released
 * (one by one, or with one release(7)) let exactly 7 more through;
 * phase 2: 6 more; the semaphore is then empty; a last release lets the
 * last acquire through. */
typedef struct {
    pyth_semaphore_t *s;
    atomic_int phase;
    atomic_int per_phase[4];
    atomic_int total;
    atomic_int failed;
} semc_ctx;

static void sem_contended_fn(bunch *b, int i) {
    (void)i;
    semc_ctx *x = b->ctx;
    for (int k = 0; k < 2; k++) {
        if (pyth_semaphore_acquire(x->s, true, PYTH_FOREVER) != PYTH_OK) atomic_fetch_add(&x->failed, 1);
        atomic_fetch_add(&x->per_phase[atomic_load(&x->phase)], 1);
        atomic_fetch_add(&x->total, 1);
    }
}

static void sem_release_units(pyth_semaphore_t *s, int units, bool multi) {
    if (multi) {
        CHECK_STATUS(pyth_semaphore_release(s, (size_t)units), PYTH_OK);
    } else {
        for (int i = 0; i < units; i++) CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
    }
}

static void sem_contended(int bounded, bool multi) {
    enum { N = 10, VALUE = 7 };
    semc_ctx x = {.s = sem_new(bounded, VALUE)};
    CHECK_STATUS(pyth_semaphore_acquire(x.s, true, PYTH_FOREVER), PYTH_OK);
    bunch b;
    bunch_start(&b, N, sem_contended_fn, &x);
    const int count[4] = {VALUE - 1, VALUE, VALUE - 1, 1};
    int expected = 0;
    for (int phase = 0; phase < 4; phase++) {
        if (phase > 0) {
            atomic_store(&x.phase, phase);
            sem_release_units(x.s, count[phase], multi);
        }
        expected += count[phase];
        CHECK(WAIT_UNTIL(atomic_load(&x.total) == expected, SYNC_S));
        if (phase < 3) {
            CHECK(STAYS_FALSE(atomic_load(&x.total) > expected, 0.02));
            /* The semaphore is still locked. */
            CHECK_STATUS(pyth_semaphore_acquire(x.s, false, PYTH_FOREVER), PYTH_TIMEOUT);
        }
        CHECK_EQ(atomic_load(&x.total), expected);
        for (int p = 0; p <= phase; p++) CHECK_EQ(atomic_load(&x.per_phase[p]), count[p]);
        CHECK_EQ(pyth_semaphore_value(x.s), 0);
    }
    bunch_join(&b);
    CHECK_EQ(atomic_load(&x.total), 2 * N);
    CHECK_EQ(atomic_load(&x.failed), 0);
    CHECK_EQ(pyth_semaphore_value(x.s), 0);
    CHECK_STATUS(pyth_semaphore_free(x.s), PYTH_OK);
}

TEST(BaseSemaphoreTests_test_acquire_contended) {
    for (int bounded = 0; bounded < 2; bounded++) {
        set_label(__func__, sem_kind[bounded]);
        sem_contended(bounded, false);
    }
}

TEST(BaseSemaphoreTests_test_multirelease) {
    for (int bounded = 0; bounded < 2; bounded++) {
        set_label(__func__, sem_kind[bounded]);
        sem_contended(bounded, true);
    }
}

/* test_try_acquire: semaphore(2): two non-blocking acquires succeed, the
 * third fails; after a release one succeeds again. */
TEST(BaseSemaphoreTests_test_try_acquire) {
    for (int bounded = 0; bounded < 2; bounded++) {
        set_label(__func__, sem_kind[bounded]);
        pyth_semaphore_t *s = sem_new(bounded, 2);
        CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_TIMEOUT);
        CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
        CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_OK);
        CHECK_EQ(pyth_semaphore_value(s), 0);
        CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    }
}

/* test_try_acquire_contended: semaphore(4) with one unit taken; 5 threads
 * each try twice: exactly 3 of the 10 tries succeed. */
typedef struct {
    pyth_semaphore_t *s;
    atomic_int ok, timeout, other;
} semtry_ctx;

static void sem_try_fn(bunch *b, int i) {
    (void)i;
    semtry_ctx *x = b->ctx;
    for (int k = 0; k < 2; k++) {
        pyth_status st = pyth_semaphore_acquire(x->s, false, PYTH_FOREVER);
        atomic_fetch_add(st == PYTH_OK ? &x->ok : st == PYTH_TIMEOUT ? &x->timeout : &x->other, 1);
    }
}

TEST(BaseSemaphoreTests_test_try_acquire_contended) {
    for (int bounded = 0; bounded < 2; bounded++) {
        set_label(__func__, sem_kind[bounded]);
        semtry_ctx x = {.s = sem_new(bounded, 4)};
        CHECK_STATUS(pyth_semaphore_acquire(x.s, true, PYTH_FOREVER), PYTH_OK);
        bunch b;
        bunch_run(&b, 5, sem_try_fn, &x);
        CHECK_EQ(atomic_load(&x.ok), 3);
        CHECK_EQ(atomic_load(&x.timeout), 7);
        CHECK_EQ(atomic_load(&x.other), 0);
        CHECK_EQ(pyth_semaphore_value(x.s), 0);
        CHECK_STATUS(pyth_semaphore_free(x.s), PYTH_OK);
    }
}

/* test_acquire_timeout: a timeout with blocking=False is a ValueError;
 * short timed acquires succeed while units are left, then fail; a timed
 * acquire of an empty semaphore fails after the timeout. */
TEST(BaseSemaphoreTests_test_acquire_timeout) {
    for (int bounded = 0; bounded < 2; bounded++) {
        set_label(__func__, sem_kind[bounded]);
        pyth_semaphore_t *s = sem_new(bounded, 2);
        CHECK_STATUS(pyth_semaphore_acquire(s, false, 1.0), PYTH_EVALUE);
        CHECK_EQ(pyth_semaphore_value(s), 2);
        CHECK_STATUS(pyth_semaphore_acquire(s, true, 0.005), PYTH_OK);
        CHECK_STATUS(pyth_semaphore_acquire(s, true, 0.005), PYTH_OK);
        double t0 = now_s();
        CHECK_STATUS(pyth_semaphore_acquire(s, true, 0.005), PYTH_TIMEOUT);
        CHECK(now_s() - t0 >= 0.005);
        CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
        CHECK_STATUS(pyth_semaphore_acquire(s, true, 0.005), PYTH_OK);
        t0 = now_s();
        CHECK_STATUS(pyth_semaphore_acquire(s, true, TO), PYTH_TIMEOUT);
        double dt = now_s() - t0;
        CHECK(dt >= TO);
        CHECK(dt < TO + h_slack());
        CHECK_EQ(pyth_semaphore_value(s), 0);
        CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    }
}

/* test_threading.ThreadTests.test_BoundedSemaphore_limit: for limits 1 to
 * 9, `limit` threads acquire a BoundedSemaphore(limit) and `limit` other
 * threads release it; one more release is then a ValueError. Run with
 * libpyth threads. */
typedef struct {
    pyth_semaphore_t *s;
    bool release;
    pyth_status st;
} bs_arg;

static int bs_target(void *p) {
    bs_arg *a = p;
    a->st = a->release ? pyth_semaphore_release(a->s, 1) : pyth_semaphore_acquire(a->s, true, PYTH_FOREVER);
    return 0;
}

TEST(ThreadTests_test_BoundedSemaphore_limit) {
    for (int limit = 1; limit < 10; limit++) {
        pyth_semaphore_t *s = pyth_bounded_semaphore_new(limit);
        for (int pass = 0; pass < 2; pass++) {
            bs_arg a[10];
            pyth_thread_t *t[10];
            for (int i = 0; i < limit; i++) {
                a[i] = (bs_arg){.s = s, .release = pass == 1, .st = -100};
                t[i] = pyth_thread_new(bs_target, &a[i], NULL, 0);
                CHECK(t[i] != NULL);
                CHECK_STATUS(pyth_thread_start(t[i]), PYTH_OK);
            }
            for (int i = 0; i < limit; i++) {
                CHECK_STATUS(pyth_thread_join(t[i], JOIN_S), PYTH_OK);
                CHECK_EQ(a[i].st, PYTH_OK);
                CHECK_STATUS(pyth_thread_free(t[i]), PYTH_OK);
            }
            CHECK_EQ(pyth_semaphore_value(s), pass == 0 ? 0 : limit);
        }
        CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_EVALUE);
        CHECK_MSG("Semaphore released too many times");
        CHECK_EQ(pyth_semaphore_value(s), limit);
        CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    }
}

/* ---- BarrierTests -------------------------------------------------------- */

enum { BN = 5 }; /* BarrierTests.N */

/* The Python tests' barrier has a default timeout of 2 s, a safety net:
 * here a long one, so that a slow machine does not break it. */
static double barrier_default_timeout(void) { return 10 * h_slack(); }

static long barrier_rounds(void) { return ITERS(50); }

typedef struct {
    pyth_barrier_t *b, *b2;
    atomic_int r1, r2, r3;
    atomic_int unexpected;   /* a status no branch expected */
    double late_dt;
    double dt[BN];
    pyth_status st[BN];
} bar_ctx;

static void bar_unexpected(bar_ctx *x, pyth_status st, const char *where) {
    atomic_fetch_add(&x->unexpected, 1);
    fprintf(stderr, "[%s] %s: %s\n", h_current, where, pyth_strerror(st));
}

/* Waits for the second time: OK -> r1, EBROKEN -> r2. */
static void bar_second_wait(bar_ctx *x) {
    pyth_status st = pyth_barrier_wait(x->b, NULL);
    if (st == PYTH_OK) atomic_fetch_add(&x->r1, 1);
    else if (st == PYTH_EBROKEN) atomic_fetch_add(&x->r2, 1);
    else bar_unexpected(x, st, "second wait");
}

/* test_abort: the thread that gets index N/2 aborts instead of waiting
 * again ("raises"); the other N-1 all get BrokenBarrierError from their
 * second wait, and the barrier stays broken. */
static void bar_abort_fn(bunch *b, int i) {
    (void)i;
    bar_ctx *x = b->ctx;
    size_t idx = 99;
    pyth_status st = pyth_barrier_wait(x->b, &idx);
    if (st != PYTH_OK) { bar_unexpected(x, st, "first wait"); return; }
    if (idx == BN / 2) {
        st = pyth_barrier_abort(x->b);
        if (st != PYTH_OK) bar_unexpected(x, st, "abort");
        return;
    }
    bar_second_wait(x);
}

TEST(BarrierTests_test_abort) {
    for (long round = 0; round < barrier_rounds() && !h_failures; round++) {
        bar_ctx x = {.b = pyth_barrier_new(BN, NULL, NULL, barrier_default_timeout())};
        bunch b;
        bunch_run(&b, BN, bar_abort_fn, &x);
        CHECK_EQ(atomic_load(&x.r1), 0);
        CHECK_EQ(atomic_load(&x.r2), BN - 1);
        CHECK_EQ(atomic_load(&x.unexpected), 0);
        CHECK(pyth_barrier_broken(x.b));
        CHECK_EQ(pyth_barrier_n_waiting(x.b), 0);
        CHECK_STATUS(pyth_barrier_free(x.b), PYTH_OK);
    }
}

/* test_reset: the thread that gets index N/2 waits until the N-1 others
 * are in their second wait and resets the barrier: they all get
 * BrokenBarrierError, and then all N (coming straight back, while the
 * others may still be leaving) pass the barrier together. */
static void bar_reset_fn(bunch *b, int i) {
    (void)i;
    bar_ctx *x = b->ctx;
    size_t idx = 99;
    pyth_status st = pyth_barrier_wait(x->b, &idx);
    if (st != PYTH_OK) { bar_unexpected(x, st, "first wait"); return; }
    if (idx == BN / 2) {
        if (!WAIT_UNTIL(pyth_barrier_n_waiting(x->b) >= BN - 1, SYNC_S)) bar_unexpected(x, PYTH_OK, "n_waiting");
        st = pyth_barrier_reset(x->b);
        if (st != PYTH_OK) bar_unexpected(x, st, "reset");
    } else {
        bar_second_wait(x);
    }
    st = pyth_barrier_wait(x->b, NULL);
    if (st == PYTH_OK) atomic_fetch_add(&x->r3, 1);
    else bar_unexpected(x, st, "wait after reset");
}

TEST(BarrierTests_test_reset) {
    for (long round = 0; round < barrier_rounds() && !h_failures; round++) {
        bar_ctx x = {.b = pyth_barrier_new(BN, NULL, NULL, barrier_default_timeout())};
        bunch b;
        bunch_run(&b, BN, bar_reset_fn, &x);
        CHECK_EQ(atomic_load(&x.r1), 0);
        CHECK_EQ(atomic_load(&x.r2), BN - 1);
        CHECK_EQ(atomic_load(&x.r3), BN);
        CHECK_EQ(atomic_load(&x.unexpected), 0);
        CHECK(!pyth_barrier_broken(x.b));
        CHECK_EQ(pyth_barrier_n_waiting(x.b), 0);
        CHECK_STATUS(pyth_barrier_free(x.b), PYTH_OK);
    }
}

/* test_abort_and_reset: as test_abort; then the threads meet at a second
 * barrier, the one that gets index N/2 there resets the first barrier, they
 * meet again, and all N pass the (repaired) first barrier. */
static void bar_abort_reset_fn(bunch *b, int i) {
    (void)i;
    bar_ctx *x = b->ctx;
    bar_abort_fn(b, i);
    size_t idx = 99;
    pyth_status st = pyth_barrier_wait(x->b2, &idx);
    if (st != PYTH_OK) { bar_unexpected(x, st, "barrier2 wait"); return; }
    if (idx == BN / 2) {
        st = pyth_barrier_reset(x->b);
        if (st != PYTH_OK) bar_unexpected(x, st, "reset");
    }
    st = pyth_barrier_wait(x->b2, NULL);
    if (st != PYTH_OK) { bar_unexpected(x, st, "barrier2 second wait"); return; }
    st = pyth_barrier_wait(x->b, NULL);
    if (st == PYTH_OK) atomic_fetch_add(&x->r3, 1);
    else bar_unexpected(x, st, "wait after reset");
}

TEST(BarrierTests_test_abort_and_reset) {
    for (long round = 0; round < barrier_rounds() && !h_failures; round++) {
        bar_ctx x = {.b = pyth_barrier_new(BN, NULL, NULL, barrier_default_timeout()),
                     .b2 = pyth_barrier_new(BN, NULL, NULL, barrier_default_timeout())};
        bunch b;
        bunch_run(&b, BN, bar_abort_reset_fn, &x);
        CHECK_EQ(atomic_load(&x.r1), 0);
        CHECK_EQ(atomic_load(&x.r2), BN - 1);
        CHECK_EQ(atomic_load(&x.r3), BN);
        CHECK_EQ(atomic_load(&x.unexpected), 0);
        CHECK(!pyth_barrier_broken(x.b));
        CHECK(!pyth_barrier_broken(x.b2));
        CHECK_STATUS(pyth_barrier_free(x.b), PYTH_OK);
        CHECK_STATUS(pyth_barrier_free(x.b2), PYTH_OK);
    }
}

/* test_timeout: after a first full pass, N-1 threads wait with an explicit
 * timeout much shorter than the barrier's default while the thread that
 * got index N/2 is late: the explicit timeout (not the default) expires and
 * breaks the barrier for all of them; the late thread, arriving once it is
 * broken, gets BrokenBarrierError at once. (Python makes the thread late
 * with a sleep; here it waits until the barrier is broken.) */
static void bar_timeout_fn(bunch *b, int i) {
    bar_ctx *x = b->ctx;
    size_t idx = 99;
    pyth_status st = pyth_barrier_wait(x->b, &idx);
    if (st != PYTH_OK) { bar_unexpected(x, st, "first wait"); return; }
    if (idx == BN / 2) {
        x->dt[i] = -1; /* the late one */
        if (!WAIT_UNTIL(pyth_barrier_broken(x->b), SYNC_S)) bar_unexpected(x, PYTH_OK, "never broken");
        double t0 = now_s();
        x->st[i] = pyth_barrier_wait_timeout(x->b, TO, NULL);
        x->late_dt = now_s() - t0;
        return;
    }
    double t0 = now_s();
    x->st[i] = pyth_barrier_wait_timeout(x->b, TO, NULL);
    x->dt[i] = now_s() - t0;
}

TEST(BarrierTests_test_timeout) {
    const double deflt = barrier_default_timeout();
    bar_ctx x = {.b = pyth_barrier_new(BN, NULL, NULL, deflt)};
    bunch b;
    bunch_run(&b, BN, bar_timeout_fn, &x);
    CHECK_EQ(atomic_load(&x.unexpected), 0);
    int late = 0;
    double longest = 0;
    for (int i = 0; i < BN; i++) {
        CHECK_EQ(x.st[i], PYTH_EBROKEN);
        if (x.dt[i] < 0) {
            late++;
            continue;
        }
        CHECK(x.dt[i] < TO + h_slack());
        CHECK(x.dt[i] < deflt);
        if (x.dt[i] > longest) longest = x.dt[i];
    }
    CHECK_EQ(late, 1);
    /* Whoever broke it by timing out waited at least TO. */
    CHECK(longest >= TO);
    CHECK(x.late_dt < h_slack());
    CHECK(pyth_barrier_broken(x.b));
    CHECK_EQ(pyth_barrier_n_waiting(x.b), 0);
    CHECK_STATUS(pyth_barrier_free(x.b), PYTH_OK);
}

int main(void) {
    double t0 = now_s();
    RUN(BaseLockTests_test_acquire_destroy);
    RUN(BaseLockTests_test_try_acquire);
    RUN(BaseLockTests_test_try_acquire_contended);
    RUN(BaseLockTests_test_acquire_contended);
    RUN(BaseLockTests_test_with);
    RUN(BaseLockTests_test_thread_leak);
    RUN(BaseLockTests_test_timeout);
    RUN(LockTests_test_reacquire);
    RUN(RLockTests_test_release_unacquired);
    RUN(RLockTests_test__is_owned);
    RUN(EventTests_test_notify);
    RUN(EventTests_test_timeout);
    RUN(ConditionTests_test_acquire);
    RUN(ConditionTests_test_notify);
    RUN(ConditionTests_test_timeout);
    RUN(ConditionTests_test_waitfor);
    RUN(ConditionTests_test_waitfor_timeout);
    RUN(BaseSemaphoreTests_test_acquire_destroy);
    RUN(BaseSemaphoreTests_test_acquire_contended);
    RUN(BaseSemaphoreTests_test_multirelease);
    RUN(BaseSemaphoreTests_test_try_acquire);
    RUN(BaseSemaphoreTests_test_try_acquire_contended);
    RUN(BaseSemaphoreTests_test_acquire_timeout);
    RUN(ThreadTests_test_BoundedSemaphore_limit);
    RUN(BarrierTests_test_abort);
    RUN(BarrierTests_test_reset);
    RUN(BarrierTests_test_abort_and_reset);
    RUN(BarrierTests_test_timeout);
    fprintf(stderr, "(%.2fs)\n", now_s() - t0);
    return REPORT();
}
