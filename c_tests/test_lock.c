/* pyth_lock_*: Python's threading.Lock. */
#include "harness.h"
#include <math.h>

/* A thread that acquires a lock (it does not release it: any thread may). */
typedef h_waiter waiter;

static pyth_status acquire_call(h_waiter *w) { return pyth_lock_acquire(w->lock, w->blocking, w->timeout); }

/* Times pyth_lock_acquire in its own thread (see h_waiter). */
static void *waiter_fn(void *p) {
    ((waiter *)p)->call = acquire_call;
    return h_waiter_fn(p);
}

/* Starts a waiter and waits until it sleeps inside pyth_lock_acquire. */
static h_thread start_blocked(waiter *w, pyth_lock_t *l, double timeout) {
    memset(w, 0, sizeof *w);
    w->lock = l;
    w->blocking = true;
    w->timeout = timeout;
    return spawn_blocked(waiter_fn, w, &w->tid, &w->done);
}

TEST(lock_basics) {
    pyth_lock_t *l = pyth_lock_new();
    CHECK(l != NULL);
    CHECK(!pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_lock_locked(l));
    /* Not reentrant: the owner cannot take it again. */
    CHECK_STATUS(pyth_lock_acquire(l, false, PYTH_FOREVER), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_lock_acquire(l, true, 0.0), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_lock_acquire(l, true, 0.01), PYTH_TIMEOUT);
    CHECK(pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK(!pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_release(l), PYTH_ERUNTIME);
    CHECK_MSG("release unlocked lock");
    CHECK(!pyth_lock_locked(l));
    /* Every acquire form works on a free lock. */
    CHECK_STATUS(pyth_lock_acquire(l, false, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_acquire(l, true, 0.0), PYTH_OK);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_acquire(l, true, 5.0), PYTH_OK);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(NULL), PYTH_OK);
}

TEST(lock_timeout_args) {
    pyth_lock_t *l = pyth_lock_new();
    /* A negative timeout other than PYTH_FOREVER is a ValueError for a lock,
     * whether or not the lock is free; it does not acquire. */
    CHECK_STATUS(pyth_lock_acquire(l, true, -0.5), PYTH_EVALUE);
    CHECK_MSG("timeout value must be a non-negative number");
    CHECK_STATUS(pyth_lock_acquire(l, true, -2.0), PYTH_EVALUE);
    CHECK_MSG("timeout value must be a non-negative number");
    CHECK_STATUS(pyth_lock_acquire(l, true, -INFINITY), PYTH_EVALUE);
    CHECK(!pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_acquire(l, true, NAN), PYTH_EVALUE);
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_lock_acquire(l, true, INFINITY), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_lock_acquire(l, true, 1e300), PYTH_EOVERFLOW);
    CHECK(!pyth_lock_locked(l));
    /* blocking=false with any timeout but PYTH_FOREVER. */
    CHECK_STATUS(pyth_lock_acquire(l, false, 1.0), PYTH_EVALUE);
    CHECK_MSG("can't specify a timeout for a non-blocking call");
    CHECK_STATUS(pyth_lock_acquire(l, false, 0.0), PYTH_EVALUE);
    CHECK_MSG("can't specify a timeout for a non-blocking call");
    CHECK_STATUS(pyth_lock_acquire(l, false, -2.0), PYTH_EVALUE);
    CHECK_STATUS(pyth_lock_acquire(l, false, PYTH_TIMEOUT_MAX + 1.0), PYTH_EVALUE);
    CHECK_STATUS(pyth_lock_acquire(l, false, NAN), PYTH_EVALUE);
    CHECK(!pyth_lock_locked(l));
    /* The same while it is held (the call would block): still validated. */
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_lock_acquire(l, true, -0.5), PYTH_EVALUE);
    CHECK_MSG("timeout value must be a non-negative number");
    CHECK_STATUS(pyth_lock_acquire(l, true, NAN), PYTH_EVALUE);
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_TIMEOUT_MAX * 2), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_lock_acquire(l, false, 0.5), PYTH_EVALUE);
    CHECK(pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    /* -0.0 is zero, not negative. */
    CHECK_STATUS(pyth_lock_acquire(l, true, -0.0), PYTH_OK);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

TEST(lock_timeout_is_bounded) {
    pyth_lock_t *l = pyth_lock_new();
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    const double to = 0.2;
    /* The owner itself times out (no reentrancy)... */
    double t0 = now_s();
    CHECK_STATUS(pyth_lock_acquire(l, true, to), PYTH_TIMEOUT);
    double e = now_s() - t0;
    CHECK(e >= to);
    CHECK(e < to + h_slack());
    /* ...and so does another thread. */
    waiter w = {.lock = l, .blocking = true, .timeout = to};
    h_thread t = spawn(waiter_fn, &w);
    join_within(t, 60);
    CHECK_EQ(w.st, PYTH_TIMEOUT);
    CHECK(w.elapsed >= to);
    CHECK(w.elapsed < to + h_slack());
    /* Non-blocking from another thread. */
    waiter w2 = {.lock = l, .blocking = false, .timeout = PYTH_FOREVER};
    t = spawn(waiter_fn, &w2);
    join_within(t, 60);
    CHECK_EQ(w2.st, PYTH_TIMEOUT);
    CHECK(pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

static pyth_lock_t *g_lock;

static void *release_fn(void *p) {
    pyth_status *st = p;
    *st = pyth_lock_release(g_lock);
    return NULL;
}

TEST(lock_released_by_another_thread) {
    g_lock = pyth_lock_new();
    CHECK_STATUS(pyth_lock_acquire(g_lock, true, PYTH_FOREVER), PYTH_OK);
    pyth_status st = -100;
    h_thread t = spawn(release_fn, &st);
    join_within(t, 30);
    CHECK_EQ(st, PYTH_OK);
    CHECK(!pyth_lock_locked(g_lock));
    /* And a second release, from another thread, is an error there. */
    st = -100;
    t = spawn(release_fn, &st);
    join_within(t, 30);
    CHECK_EQ(st, PYTH_ERUNTIME);
    CHECK_STATUS(pyth_lock_free(g_lock), PYTH_OK);
    g_lock = NULL;
}

TEST(lock_blocks_until_released) {
    pyth_lock_t *l = pyth_lock_new();
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    waiter w;
    h_thread t = start_blocked(&w, l, PYTH_FOREVER);
    CHECK(STAYS_FALSE(atomic_load(&w.done), 0.1));
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    join_within(t, 30);
    CHECK_EQ(w.st, PYTH_OK);
    /* The waiter took it over: locked, and it is released by us. */
    CHECK(pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);

    /* A long finite timeout (the largest accepted) that is satisfied. */
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    t = start_blocked(&w, l, PYTH_TIMEOUT_MAX);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    join_within(t, 30);
    CHECK_EQ(w.st, PYTH_OK);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);

    /* A waiter with a timeout acquires as soon as it is released. */
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    t = start_blocked(&w, l, 60.0);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    join_within(t, 30);
    CHECK_EQ(w.st, PYTH_OK);
    CHECK(w.elapsed < 60.0);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

/* Several blocked threads: each release lets exactly one through. */
TEST(lock_one_release_one_waiter) {
    enum { N = 3 };
    pyth_lock_t *l = pyth_lock_new();
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    waiter w[N];
    h_thread t[N];
    for (int i = 0; i < N; i++) t[i] = start_blocked(&w[i], l, 60.0);
    for (int k = 1; k <= N; k++) {
        CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
        CHECK(WAIT_UNTIL(({ int d = 0; for (int i = 0; i < N; i++) d += atomic_load(&w[i].done); d; }) == k, 30));
        CHECK(STAYS_FALSE(({ int d = 0; for (int i = 0; i < N; i++) d += atomic_load(&w[i].done); d; }) > k, 0.05));
        CHECK(pyth_lock_locked(l));
    }
    for (int i = 0; i < N; i++) {
        join_within(t[i], 30);
        CHECK_EQ(w[i].st, PYTH_OK);
    }
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

TEST(lock_free_rules) {
    /* Held, nobody waiting: may be freed. */
    pyth_lock_t *l = pyth_lock_new();
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);

    /* A thread blocked on it: EBUSY, and the lock stays valid. */
    l = pyth_lock_new();
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    waiter w;
    h_thread t = start_blocked(&w, l, PYTH_FOREVER);
    if (h_in_futex_wait(atomic_load(&w.tid))) {
        CHECK_STATUS(pyth_lock_free(l), PYTH_EBUSY);
        CHECK_STATUS(pyth_lock_free(l), PYTH_EBUSY);
    }
    CHECK(pyth_lock_locked(l));
    CHECK(!atomic_load(&w.done));
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    join_within(t, 30);
    CHECK_EQ(w.st, PYTH_OK);
    CHECK(pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);

    /* A waiter that timed out no longer counts. */
    l = pyth_lock_new();
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    w = (waiter){.lock = l, .blocking = true, .timeout = 0.05};
    t = spawn(waiter_fn, &w);
    join_within(t, 60);
    CHECK_EQ(w.st, PYTH_TIMEOUT);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

TEST(lock_free_used_by_condition) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_cond_t *c1 = pyth_cond_new_with_lock(l);
    pyth_cond_t *c2 = pyth_cond_new_with_lock(l);
    CHECK(c1 != NULL && c2 != NULL);
    CHECK_STATUS(pyth_lock_free(l), PYTH_EBUSY);
    /* Still valid and shared with the conditions. */
    CHECK_STATUS(pyth_cond_acquire(c1, true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_lock_locked(l));
    CHECK(pyth_cond_locked(c2));
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK(!pyth_cond_locked(c1));
    CHECK_STATUS(pyth_cond_free(c1), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_EBUSY);
    CHECK_STATUS(pyth_cond_free(c2), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

/* Mutual exclusion: a non-atomic counter under the lock loses nothing. */
typedef struct {
    pyth_lock_t *l;
    long n;
    long *counter;
    atomic_int inside;
    atomic_int overlap;
} excl;

static void *excl_fn(void *p) {
    excl *x = p;
    for (long i = 0; i < x->n; i++) {
        if (pyth_lock_acquire(x->l, true, PYTH_FOREVER) != PYTH_OK) { atomic_fetch_add(&x->overlap, 1000); return NULL; }
        if (atomic_fetch_add(&x->inside, 1) != 0) atomic_fetch_add(&x->overlap, 1);
        long v = *x->counter;
        *x->counter = v + 1;
        atomic_fetch_sub(&x->inside, 1);
        pyth_lock_release(x->l);
    }
    return NULL;
}

TEST(lock_mutual_exclusion) {
    long counter = 0;
    excl x = {.l = pyth_lock_new(), .n = ITERS(20000), .counter = &counter};
    h_thread t[3];
    for (int i = 0; i < 3; i++) t[i] = spawn(excl_fn, &x);
    for (int i = 0; i < 3; i++) join_within(t[i], 120);
    CHECK_EQ(counter, 3 * x.n);
    CHECK_EQ(atomic_load(&x.overlap), 0);
    CHECK(!pyth_lock_locked(x.l));
    CHECK_STATUS(pyth_lock_free(x.l), PYTH_OK);
}

TEST(lock_bad_handles) {
    CHECK_STATUS(pyth_lock_acquire(NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_lock_acquire(NULL, false, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_lock_release(NULL), PYTH_EINVAL);
    CHECK(!pyth_lock_locked(NULL));
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    pyth_event_t *e = pyth_event_new();
    pyth_lock_t *fake = (pyth_lock_t *)e;
    CHECK_STATUS(pyth_lock_acquire(fake, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_lock_release(fake), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);
    CHECK(!pyth_lock_locked(fake));
    CHECK_STATUS(pyth_lock_free(fake), PYTH_EINVAL);
    CHECK(pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

int main(void) {
    RUN(lock_basics);
    RUN(lock_timeout_args);
    RUN(lock_timeout_is_bounded);
    RUN(lock_released_by_another_thread);
    RUN(lock_blocks_until_released);
    RUN(lock_one_release_one_waiter);
    RUN(lock_free_rules);
    RUN(lock_free_used_by_condition);
    RUN(lock_mutual_exclusion);
    RUN(lock_bad_handles);
    return REPORT();
}
