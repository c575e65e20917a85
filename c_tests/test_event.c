/* pyth_event_*: Python's threading.Event. */
#include "harness.h"
#include <math.h>

typedef h_waiter waiter;

static pyth_status wait_call(h_waiter *w) { return pyth_event_wait(w->e, w->timeout); }

/* Times pyth_event_wait in its own thread (see h_waiter). */
static void *waiter_fn(void *p) {
    ((waiter *)p)->call = wait_call;
    return h_waiter_fn(p);
}

static h_thread start_blocked(waiter *w, pyth_event_t *e, double timeout) {
    memset(w, 0, sizeof *w);
    w->e = e;
    w->timeout = timeout;
    return spawn_blocked(waiter_fn, w, &w->tid, &w->done);
}

TEST(event_basics) {
    pyth_event_t *e = pyth_event_new();
    CHECK(e != NULL);
    CHECK(!pyth_event_is_set(e));
    double t0 = now_s();
    CHECK_STATUS(pyth_event_wait(e, 0.0), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_event_wait(e, -0.5), PYTH_TIMEOUT);     /* negative: do not wait */
    CHECK_STATUS(pyth_event_wait(e, -INFINITY), PYTH_TIMEOUT);
    CHECK(now_s() - t0 < h_slack());
    CHECK_STATUS(pyth_event_clear(e), PYTH_OK);               /* clear when clear */
    CHECK(!pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);
    CHECK(pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);                 /* set when set */
    CHECK(pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_wait(e, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_event_wait(e, 0.0), PYTH_OK);
    CHECK_STATUS(pyth_event_wait(e, -0.5), PYTH_OK);
    CHECK_STATUS(pyth_event_wait(e, 10.0), PYTH_OK);
    CHECK_STATUS(pyth_event_wait(e, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK(pyth_event_is_set(e));                               /* wait does not consume */
    CHECK_STATUS(pyth_event_clear(e), PYTH_OK);
    CHECK(!pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_wait(e, 0.0), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
    CHECK_STATUS(pyth_event_free(NULL), PYTH_OK);
}

TEST(event_timeout_args) {
    pyth_event_t *e = pyth_event_new();
    for (int set = 0; set < 2; set++) {
        /* Validated whether or not the wait would block. */
        CHECK_STATUS(pyth_event_wait(e, NAN), PYTH_EVALUE);
        CHECK_STATUS(pyth_event_wait(e, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW);
        CHECK_STATUS(pyth_event_wait(e, INFINITY), PYTH_EOVERFLOW);
        CHECK_EQ(pyth_event_is_set(e), set);
        pyth_event_set(e);
    }
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

TEST(event_wait_timeout_is_bounded) {
    pyth_event_t *e = pyth_event_new();
    double t0 = now_s();
    CHECK_STATUS(pyth_event_wait(e, 0.2), PYTH_TIMEOUT);
    double el = now_s() - t0;
    CHECK(el >= 0.2);
    CHECK(el < 0.2 + h_slack());
    waiter w = {.e = e, .timeout = 0.2};
    h_thread t = spawn(waiter_fn, &w);
    join_within(t, 60);
    CHECK_EQ(w.st, PYTH_TIMEOUT);
    CHECK(w.elapsed >= 0.2);
    CHECK(w.elapsed < 0.2 + h_slack());
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

TEST(event_set_wakes_all) {
    enum { K = 5 };
    pyth_event_t *e = pyth_event_new();
    const double timeouts[K] = {PYTH_FOREVER, 120.0, PYTH_TIMEOUT_MAX, PYTH_FOREVER, 60.0};
    waiter w[K];
    h_thread t[K];
    for (int i = 0; i < K; i++) t[i] = start_blocked(&w[i], e, timeouts[i]);
    CHECK(STAYS_FALSE(({ int d = 0; for (int i = 0; i < K; i++) d += atomic_load(&w[i].done); d; }) > 0, 0.05));
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);
    for (int i = 0; i < K; i++) {
        join_within(t[i], 60);
        CHECK_EQ(w[i].st, PYTH_OK);
    }
    CHECK(pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

/* A waiter woken by set reports the flag as seen even if it was cleared
 * again before it ran. */
TEST(event_set_then_clear) {
    enum { K = 4 };
    pyth_event_t *e = pyth_event_new();
    for (int round = 0; round < 3; round++) {
        waiter w[K];
        h_thread t[K];
        for (int i = 0; i < K; i++) t[i] = start_blocked(&w[i], e, 60.0);
        CHECK_STATUS(pyth_event_set(e), PYTH_OK);
        CHECK_STATUS(pyth_event_clear(e), PYTH_OK);
        CHECK(!pyth_event_is_set(e));
        for (int i = 0; i < K; i++) {
            join_within(t[i], 90);
            CHECK_EQ(w[i].st, PYTH_OK);
            CHECK(w[i].elapsed < 60.0);
        }
    }
    /* After the clear, new waits block again. */
    CHECK_STATUS(pyth_event_wait(e, 0.05), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

TEST(event_free_while_waiting) {
    pyth_event_t *e = pyth_event_new();
    waiter w;
    h_thread t = start_blocked(&w, e, PYTH_FOREVER);
    if (h_in_futex_wait(atomic_load(&w.tid))) {
        CHECK_STATUS(pyth_event_free(e), PYTH_EBUSY);
        CHECK_STATUS(pyth_event_free(e), PYTH_EBUSY);
    }
    /* Still valid. */
    CHECK(!pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);
    join_within(t, 60);
    CHECK_EQ(w.st, PYTH_OK);
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);

    /* A waiter that timed out does not keep it busy. */
    e = pyth_event_new();
    w = (waiter){.e = e, .timeout = 0.05};
    t = spawn(waiter_fn, &w);
    join_within(t, 60);
    CHECK_EQ(w.st, PYTH_TIMEOUT);
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

TEST(event_bad_handles) {
    CHECK(!pyth_event_is_set(NULL));
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_set(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_clear(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_wait(NULL, PYTH_FOREVER), PYTH_EINVAL);
    pyth_semaphore_t *s = pyth_semaphore_new(3);
    pyth_event_t *fake = (pyth_event_t *)s;
    CHECK(!pyth_event_is_set(fake));
    CHECK_STATUS(pyth_event_set(fake), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_clear(fake), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_wait(fake, 0.0), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_free(fake), PYTH_EINVAL);
    CHECK_EQ(pyth_semaphore_value(s), 3);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
}

int main(void) {
    RUN(event_basics);
    RUN(event_timeout_args);
    RUN(event_wait_timeout_is_bounded);
    RUN(event_set_wakes_all);
    RUN(event_set_then_clear);
    RUN(event_free_while_waiting);
    RUN(event_bad_handles);
    return REPORT();
}
