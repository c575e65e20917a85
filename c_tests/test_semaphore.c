/* pyth_semaphore_* and pyth_bounded_semaphore_new: Python's
 * threading.Semaphore and threading.BoundedSemaphore. */
#include "harness.h"
#include <math.h>

typedef h_waiter waiter;

static pyth_status acquire_call(h_waiter *w) { return pyth_semaphore_acquire(w->s, true, w->timeout); }

/* Times pyth_semaphore_acquire in its own thread (see h_waiter). */
static void *waiter_fn(void *p) {
    ((waiter *)p)->call = acquire_call;
    return h_waiter_fn(p);
}

static h_thread start_blocked(waiter *w, pyth_semaphore_t *s, double timeout, atomic_int *acquired) {
    memset(w, 0, sizeof *w);
    w->s = s;
    w->timeout = timeout;
    w->acquired = acquired;
    return spawn_blocked(waiter_fn, w, &w->tid, &w->done);
}

TEST(sem_basics) {
    pyth_semaphore_t *s = pyth_semaphore_new(2);
    CHECK(s != NULL);
    CHECK_EQ(pyth_semaphore_value(s), 2);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), 1);
    CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), 0);
    CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, 0.0), PYTH_TIMEOUT);
    /* A negative timeout (not PYTH_FOREVER) means "do not block". */
    double t0 = now_s();
    CHECK_STATUS(pyth_semaphore_acquire(s, true, -0.5), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, -INFINITY), PYTH_TIMEOUT);
    CHECK(now_s() - t0 < h_slack());
    CHECK_EQ(pyth_semaphore_value(s), 0);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), 1);
    CHECK_STATUS(pyth_semaphore_release(s, 5), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), 6);
    /* Not bounded: above the initial value is fine. */
    CHECK_STATUS(pyth_semaphore_acquire(s, true, -0.5), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, 0.0), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, 1.0), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), 2);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_free(NULL), PYTH_OK);

    /* Zero is a valid initial value. */
    s = pyth_semaphore_new(0);
    CHECK(s != NULL);
    CHECK_EQ(pyth_semaphore_value(s), 0);
    CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    s = pyth_bounded_semaphore_new(0);
    CHECK(s != NULL);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_EVALUE);
    CHECK_MSG("Semaphore released too many times");
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

TEST(sem_negative_initial_value) {
    const int64_t bad[] = {-1, -2, INT64_MIN};
    for (int i = 0; i < 3; i++) {
        CHECK(pyth_semaphore_new(bad[i]) == NULL);
        CHECK_EQ(pyth_last_status(), PYTH_EVALUE);
        CHECK_MSG("semaphore initial value must be >= 0");
        pyth_semaphore_release(NULL, 1); /* another error in between */
        CHECK(pyth_bounded_semaphore_new(bad[i]) == NULL);
        CHECK_EQ(pyth_last_status(), PYTH_EVALUE);
        CHECK_MSG("semaphore initial value must be >= 0");
    }
    pyth_semaphore_t *s = pyth_semaphore_new(INT64_MAX);
    CHECK(s != NULL);
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

TEST(sem_release_zero) {
    pyth_semaphore_t *ss[2] = {pyth_semaphore_new(1), pyth_bounded_semaphore_new(3)};
    for (int i = 0; i < 2; i++) {
        int64_t v = pyth_semaphore_value(ss[i]);
        CHECK_STATUS(pyth_semaphore_release(ss[i], 0), PYTH_EVALUE);
        CHECK_MSG("n must be one or more");
        CHECK_EQ(pyth_semaphore_value(ss[i]), v);
        CHECK_STATUS(pyth_semaphore_free(ss[i]), PYTH_OK);
    }
}

TEST(sem_bounded_over_release) {
    pyth_semaphore_t *s = pyth_bounded_semaphore_new(2);
    CHECK(s != NULL);
    CHECK_EQ(pyth_semaphore_value(s), 2);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_EVALUE);
    CHECK_MSG("Semaphore released too many times");
    CHECK_EQ(pyth_semaphore_value(s), 2);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), 1);
    /* Would reach 3: refused as a whole, nothing changes. */
    CHECK_STATUS(pyth_semaphore_release(s, 2), PYTH_EVALUE);
    CHECK_MSG("Semaphore released too many times");
    CHECK_EQ(pyth_semaphore_value(s), 1);
    CHECK_STATUS(pyth_semaphore_release(s, SIZE_MAX), PYTH_EVALUE);
    CHECK_MSG("Semaphore released too many times");
    CHECK_STATUS(pyth_semaphore_release(s, (size_t)INT64_MAX + 1), PYTH_EVALUE);
    CHECK_EQ(pyth_semaphore_value(s), 1);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), 2);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_release(s, 2), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), 2);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);

    /* A bounded semaphore at INT64_MAX: the bound, not the overflow, speaks. */
    s = pyth_bounded_semaphore_new(INT64_MAX);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_EVALUE);
    CHECK_MSG("Semaphore released too many times");
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX);
    CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

TEST(sem_overflow) {
    pyth_semaphore_t *s = pyth_semaphore_new(INT64_MAX);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_EOVERFLOW);
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX);
    CHECK_STATUS(pyth_semaphore_release(s, SIZE_MAX), PYTH_EOVERFLOW);
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);

    s = pyth_semaphore_new(INT64_MAX - 5);
    CHECK_STATUS(pyth_semaphore_release(s, 6), PYTH_EOVERFLOW);
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX - 5);
    CHECK_STATUS(pyth_semaphore_release(s, 5), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_EOVERFLOW);
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX);
    CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX - 1);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);

    /* n itself above INT64_MAX, from zero. */
    s = pyth_semaphore_new(0);
    CHECK_STATUS(pyth_semaphore_release(s, (size_t)INT64_MAX + 1), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_semaphore_release(s, SIZE_MAX), PYTH_EOVERFLOW);
    CHECK_EQ(pyth_semaphore_value(s), 0);
    CHECK_STATUS(pyth_semaphore_release(s, (size_t)INT64_MAX), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), INT64_MAX);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

TEST(sem_timeout_args) {
    pyth_semaphore_t *s = pyth_semaphore_new(1);
    /* blocking=false with a timeout: refused, nothing taken. */
    CHECK_STATUS(pyth_semaphore_acquire(s, false, 1.0), PYTH_EVALUE);
    CHECK_MSG("can't specify timeout for non-blocking acquire");
    CHECK_STATUS(pyth_semaphore_acquire(s, false, 0.0), PYTH_EVALUE);
    CHECK_MSG("can't specify timeout for non-blocking acquire");
    CHECK_STATUS(pyth_semaphore_acquire(s, false, -0.5), PYTH_EVALUE);
    CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_TIMEOUT_MAX), PYTH_EVALUE);
    CHECK_EQ(pyth_semaphore_value(s), 1);
    /* Validated though the acquire would not block. */
    CHECK_STATUS(pyth_semaphore_acquire(s, true, NAN), PYTH_EVALUE);
    CHECK_STATUS(pyth_semaphore_acquire(s, false, NAN), PYTH_EVALUE);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, INFINITY), PYTH_EOVERFLOW);
    CHECK_EQ(pyth_semaphore_value(s), 1);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(s), 0);
    /* And when it would block. */
    CHECK_STATUS(pyth_semaphore_acquire(s, true, NAN), PYTH_EVALUE);
    CHECK_STATUS(pyth_semaphore_acquire(s, true, 1e300), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_semaphore_acquire(s, false, 3.0), PYTH_EVALUE);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

TEST(sem_timeout_is_bounded) {
    pyth_semaphore_t *s = pyth_semaphore_new(0);
    double t0 = now_s();
    CHECK_STATUS(pyth_semaphore_acquire(s, true, 0.2), PYTH_TIMEOUT);
    double e = now_s() - t0;
    CHECK(e >= 0.2);
    CHECK(e < 0.2 + h_slack());
    waiter w = {.s = s, .timeout = 0.2};
    h_thread t = spawn(waiter_fn, &w);
    join_within(t, 60);
    CHECK_EQ(w.st, PYTH_TIMEOUT);
    CHECK(w.elapsed >= 0.2);
    CHECK(w.elapsed < 0.2 + h_slack());
    CHECK_EQ(pyth_semaphore_value(s), 0);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

TEST(sem_blocks_until_release) {
    pyth_semaphore_t *s = pyth_semaphore_new(0);
    const double timeouts[] = {PYTH_FOREVER, 60.0, PYTH_TIMEOUT_MAX};
    for (int i = 0; i < 3; i++) {
        waiter w;
        h_thread t = start_blocked(&w, s, timeouts[i], NULL);
        CHECK(STAYS_FALSE(atomic_load(&w.done), 0.05));
        CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
        join_within(t, 60);
        CHECK_EQ(w.st, PYTH_OK);
        CHECK_EQ(pyth_semaphore_value(s), 0);
    }
    /* Bounded too, after its units were taken. */
    pyth_semaphore_t *b = pyth_bounded_semaphore_new(1);
    CHECK_STATUS(pyth_semaphore_acquire(b, true, PYTH_FOREVER), PYTH_OK);
    waiter w;
    h_thread t = start_blocked(&w, b, PYTH_FOREVER, NULL);
    CHECK_STATUS(pyth_semaphore_release(b, 1), PYTH_OK);
    join_within(t, 60);
    CHECK_EQ(w.st, PYTH_OK);
    CHECK_EQ(pyth_semaphore_value(b), 0);
    CHECK_STATUS(pyth_semaphore_release(b, 1), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_release(b, 1), PYTH_EVALUE);
    CHECK_EQ(pyth_semaphore_value(b), 1);
    CHECK_STATUS(pyth_semaphore_free(b), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

/* release(n) wakes n waiters: exactly n get a unit. */
TEST(sem_release_n_wakes_n) {
    enum { K = 4 };
    pyth_semaphore_t *s = pyth_semaphore_new(0);
    atomic_int acquired = 0;
    waiter w[K];
    h_thread t[K];
    for (int i = 0; i < K; i++) t[i] = start_blocked(&w[i], s, 120.0, &acquired);
    CHECK_STATUS(pyth_semaphore_release(s, 3), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&acquired) == 3, 60));
    CHECK(STAYS_FALSE(atomic_load(&acquired) > 3, 0.2));
    CHECK_EQ(pyth_semaphore_value(s), 0);
    CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
    for (int i = 0; i < K; i++) {
        join_within(t[i], 60);
        CHECK_EQ(w[i].st, PYTH_OK);
    }
    CHECK_EQ(atomic_load(&acquired), K);
    CHECK_EQ(pyth_semaphore_value(s), 0);

    /* More units than waiters: all wake, the rest stays in the counter. */
    atomic_store(&acquired, 0);
    for (int i = 0; i < 2; i++) t[i] = start_blocked(&w[i], s, 120.0, &acquired);
    CHECK_STATUS(pyth_semaphore_release(s, 5), PYTH_OK);
    for (int i = 0; i < 2; i++) {
        join_within(t[i], 60);
        CHECK_EQ(w[i].st, PYTH_OK);
    }
    CHECK_EQ(pyth_semaphore_value(s), 3);

    /* A bounded one, all units out, released in one call. */
    pyth_semaphore_t *b = pyth_bounded_semaphore_new(K);
    for (int i = 0; i < K; i++) CHECK_STATUS(pyth_semaphore_acquire(b, false, PYTH_FOREVER), PYTH_OK);
    atomic_store(&acquired, 0);
    for (int i = 0; i < K; i++) t[i] = start_blocked(&w[i], b, 120.0, &acquired);
    CHECK_STATUS(pyth_semaphore_release(b, K), PYTH_OK);
    for (int i = 0; i < K; i++) {
        join_within(t[i], 60);
        CHECK_EQ(w[i].st, PYTH_OK);
    }
    CHECK_EQ(pyth_semaphore_value(b), 0);
    CHECK_STATUS(pyth_semaphore_release(b, K + 1), PYTH_EVALUE);
    CHECK_EQ(pyth_semaphore_value(b), 0);
    CHECK_STATUS(pyth_semaphore_release(b, K), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_free(b), PYTH_OK);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

TEST(sem_free_while_blocked) {
    for (int bounded = 0; bounded < 2; bounded++) {
        pyth_semaphore_t *s = bounded ? pyth_bounded_semaphore_new(1) : pyth_semaphore_new(0);
        if (bounded) CHECK_STATUS(pyth_semaphore_acquire(s, false, PYTH_FOREVER), PYTH_OK);
        waiter w;
        h_thread t = start_blocked(&w, s, PYTH_FOREVER, NULL);
        if (h_in_futex_wait(atomic_load(&w.tid))) {
            CHECK_STATUS(pyth_semaphore_free(s), PYTH_EBUSY);
        }
        CHECK_EQ(pyth_semaphore_value(s), 0);
        CHECK_STATUS(pyth_semaphore_release(s, 1), PYTH_OK);
        join_within(t, 60);
        CHECK_EQ(w.st, PYTH_OK);
        CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    }
    /* A waiter that gave up does not keep it busy. */
    pyth_semaphore_t *s = pyth_semaphore_new(0);
    waiter w = {.s = s, .timeout = 0.05};
    h_thread t = spawn(waiter_fn, &w);
    join_within(t, 60);
    CHECK_EQ(w.st, PYTH_TIMEOUT);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

TEST(sem_bad_handles) {
    CHECK_STATUS(pyth_semaphore_acquire(NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_semaphore_release(NULL, 1), PYTH_EINVAL);
    CHECK_EQ(pyth_semaphore_value(NULL), 0);
    pyth_barrier_t *b = pyth_barrier_new(2, NULL, NULL, PYTH_FOREVER);
    pyth_semaphore_t *fake = (pyth_semaphore_t *)b;
    CHECK_STATUS(pyth_semaphore_acquire(fake, false, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_semaphore_release(fake, 1), PYTH_EINVAL);
    CHECK_EQ(pyth_semaphore_value(fake), 0);
    CHECK_STATUS(pyth_semaphore_free(fake), PYTH_EINVAL);
    CHECK_EQ(pyth_barrier_parties(b), 2);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

int main(void) {
    RUN(sem_basics);
    RUN(sem_negative_initial_value);
    RUN(sem_release_zero);
    RUN(sem_bounded_over_release);
    RUN(sem_overflow);
    RUN(sem_timeout_args);
    RUN(sem_timeout_is_bounded);
    RUN(sem_blocks_until_release);
    RUN(sem_release_n_wakes_n);
    RUN(sem_free_while_blocked);
    RUN(sem_bad_handles);
    return REPORT();
}
