/* pyth_barrier_*: Python's threading.Barrier. */
#include "harness.h"
#include <math.h>

enum { MAXC = 64 };

/* What the action saw, each time it ran. */
typedef struct {
    pyth_barrier_t *b;
    atomic_int runs;
    atomic_int concurrent;   /* > 1 would mean two actions at once */
    atomic_int overlap;
    size_t parties[MAXC], n_waiting[MAXC];
    bool broken[MAXC];
    pthread_t ran_in[MAXC];
} action_state;

static void action_fn(void *arg) {
    action_state *a = arg;
    if (atomic_fetch_add(&a->concurrent, 1) != 0) atomic_fetch_add(&a->overlap, 1);
    int i = atomic_load(&a->runs);
    if (i < MAXC) {
        a->parties[i] = pyth_barrier_parties(a->b);
        a->n_waiting[i] = pyth_barrier_n_waiting(a->b);
        a->broken[i] = pyth_barrier_broken(a->b);
        a->ran_in[i] = pthread_self();
    }
    atomic_fetch_sub(&a->concurrent, 1);
    atomic_fetch_add(&a->runs, 1);
}

typedef struct {
    pyth_barrier_t *b;
    int cycles;
    bool use_default;    /* pyth_barrier_wait instead of _wait_timeout */
    double timeout;
    action_state *act;   /* to record the action count seen after each wait */
    pthread_t self;
    atomic_int tid;
    atomic_int done;
    size_t idx[MAXC];
    pyth_status st[MAXC];
    int runs_after[MAXC];
    double elapsed;      /* of the first wait */
} worker;

static void *worker_fn(void *p) {
    worker *w = p;
    w->self = pthread_self();
    atomic_store(&w->tid, h_gettid());
    for (int c = 0; c < w->cycles && c < MAXC; c++) {
        w->idx[c] = (size_t)-1;
        double t0 = now_s();
        w->st[c] = w->use_default ? pyth_barrier_wait(w->b, &w->idx[c])
                                  : pyth_barrier_wait_timeout(w->b, w->timeout, &w->idx[c]);
        if (c == 0) w->elapsed = now_s() - t0;
        if (w->act) w->runs_after[c] = atomic_load(&w->act->runs);
    }
    atomic_store(&w->done, 1);
    return NULL;
}

static h_thread start_worker(worker *w, pyth_barrier_t *b, int cycles, bool use_default, double timeout, action_state *act) {
    memset(w, 0, sizeof *w);
    w->b = b;
    w->cycles = cycles;
    w->use_default = use_default;
    w->timeout = timeout;
    w->act = act;
    return spawn(worker_fn, w);
}

TEST(barrier_bad_parties) {
    CHECK(pyth_barrier_new(0, NULL, NULL, PYTH_FOREVER) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EVALUE);
    CHECK(*pyth_last_error() != 0);
    action_state a = {0};
    CHECK(pyth_barrier_new(0, action_fn, &a, 1.0) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EVALUE);
    CHECK_EQ(atomic_load(&a.runs), 0);
}

TEST(barrier_new_timeout_args) {
    CHECK(pyth_barrier_new(2, NULL, NULL, NAN) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EVALUE);
    CHECK(pyth_barrier_new(2, NULL, NULL, PYTH_TIMEOUT_MAX + 1.0) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EOVERFLOW);
    CHECK(pyth_barrier_new(2, NULL, NULL, INFINITY) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EOVERFLOW);
    pyth_barrier_t *b = pyth_barrier_new(2, NULL, NULL, PYTH_TIMEOUT_MAX);
    CHECK(b != NULL);
    CHECK_EQ(pyth_barrier_parties(b), 2);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
    /* A negative default timeout means "do not wait": a lone waiter breaks it at once. */
    b = pyth_barrier_new(2, NULL, NULL, -0.5);
    CHECK(b != NULL);
    double t0 = now_s();
    CHECK_STATUS(pyth_barrier_wait(b, NULL), PYTH_EBROKEN);
    CHECK(now_s() - t0 < h_slack());
    CHECK(pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
    /* ...but the last arrival never waits. */
    b = pyth_barrier_new(1, NULL, NULL, -0.5);
    CHECK_STATUS(pyth_barrier_wait(b, NULL), PYTH_OK);
    CHECK(!pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

TEST(barrier_one_party) {
    action_state a = {0};
    pyth_barrier_t *b = pyth_barrier_new(1, action_fn, &a, PYTH_FOREVER);
    a.b = b;
    CHECK(b != NULL);
    CHECK_EQ(pyth_barrier_parties(b), 1);
    CHECK_EQ(pyth_barrier_n_waiting(b), 0);
    CHECK(!pyth_barrier_broken(b));
    for (int i = 0; i < 5; i++) {
        size_t idx = 99;
        CHECK_STATUS(pyth_barrier_wait(b, &idx), PYTH_OK);
        CHECK_EQ(idx, 0);
        CHECK_EQ(atomic_load(&a.runs), i + 1);
        CHECK(pthread_equal(a.ran_in[i], pthread_self()));
        CHECK_EQ(a.parties[i], 1);
        CHECK_EQ(a.n_waiting[i], 1);  /* as Python: the arrivals of the cycle */
        CHECK(!a.broken[i]);
    }
    CHECK_STATUS(pyth_barrier_wait(b, NULL), PYTH_OK);
    CHECK_STATUS(pyth_barrier_wait_timeout(b, 0.0, NULL), PYTH_OK);
    CHECK_STATUS(pyth_barrier_wait_timeout(b, -3.0, NULL), PYTH_OK);
    CHECK_STATUS(pyth_barrier_wait_timeout(b, PYTH_TIMEOUT_MAX, NULL), PYTH_OK);
    CHECK_EQ(atomic_load(&a.runs), 9);
    CHECK_EQ(pyth_barrier_n_waiting(b), 0);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
    /* Without an action. */
    b = pyth_barrier_new(1, NULL, NULL, 0.0);
    size_t idx = 7;
    CHECK_STATUS(pyth_barrier_wait(b, &idx), PYTH_OK);
    CHECK_EQ(idx, 0);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
    CHECK_STATUS(pyth_barrier_free(NULL), PYTH_OK);
}

/* Several cycles: distinct indices per cycle, one action per cycle, run in
 * one of the waiting threads before any of them is released. */
TEST(barrier_cycles) {
    enum { P = 4, C = 30 };
    action_state a = {0};
    pyth_barrier_t *b = pyth_barrier_new(P, action_fn, &a, PYTH_FOREVER);
    a.b = b;
    worker w[P];
    h_thread t[P];
    for (int i = 0; i < P; i++) t[i] = start_worker(&w[i], b, C, i % 2 == 0, 120.0, &a);
    for (int i = 0; i < P; i++) join_within(t[i], 120);
    CHECK_EQ(atomic_load(&a.runs), C);
    CHECK_EQ(atomic_load(&a.overlap), 0);
    for (int c = 0; c < C; c++) {
        unsigned seen = 0;
        for (int i = 0; i < P; i++) {
            CHECK_EQ(w[i].st[c], PYTH_OK);
            CHECK(w[i].idx[c] < P);
            if (w[i].idx[c] < P) seen |= 1u << w[i].idx[c];
            /* The action of cycle c ran before this thread left cycle c, and
             * the one of cycle c+1 cannot have run yet. */
            CHECK_EQ(w[i].runs_after[c], c + 1);
        }
        CHECK_EQ(seen, (1u << P) - 1);
        CHECK_EQ(a.parties[c], P);
        CHECK_EQ(a.n_waiting[c], P);
        CHECK(!a.broken[c]);
        bool in_worker = false;
        for (int i = 0; i < P; i++) in_worker |= pthread_equal(a.ran_in[c], w[i].self);
        CHECK(in_worker);
    }
    CHECK_EQ(pyth_barrier_n_waiting(b), 0);
    CHECK(!pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

/* Arrivals one at a time: n_waiting counts them, indices follow arrival. */
TEST(barrier_n_waiting_and_arrival_index) {
    enum { P = 3 };
    action_state a = {0};
    pyth_barrier_t *b = pyth_barrier_new(P, action_fn, &a, PYTH_FOREVER);
    a.b = b;
    worker w[P - 1];
    h_thread t[P - 1];
    for (int i = 0; i < P - 1; i++) {
        t[i] = start_worker(&w[i], b, 1, true, 0, &a);
        CHECK(WAIT_UNTIL(pyth_barrier_n_waiting(b) == (size_t)i + 1, 60));
        CHECK_EQ(pyth_barrier_n_waiting(b), i + 1);
    }
    CHECK(STAYS_FALSE(atomic_load(&w[0].done) || atomic_load(&w[1].done), 0.05));
    CHECK_EQ(atomic_load(&a.runs), 0);
    size_t idx = 99;
    CHECK_STATUS(pyth_barrier_wait(b, &idx), PYTH_OK);
    CHECK_EQ(idx, P - 1);
    CHECK_EQ(pyth_barrier_n_waiting(b), 0);
    for (int i = 0; i < P - 1; i++) {
        join_within(t[i], 60);
        CHECK_EQ(w[i].st[0], PYTH_OK);
        CHECK_EQ(w[i].idx[0], i);
    }
    CHECK_EQ(atomic_load(&a.runs), 1);
    CHECK_EQ(a.n_waiting[0], P);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

/* The barrier's default timeout breaks it for every waiter. */
TEST(barrier_default_timeout_breaks) {
    const double to = 0.5;
    pyth_barrier_t *b = pyth_barrier_new(4, NULL, NULL, to);
    worker w[3];
    h_thread t[3];
    t[0] = start_worker(&w[0], b, 1, true, 0, NULL);
    CHECK(WAIT_UNTIL(pyth_barrier_n_waiting(b) >= 1, 60));
    /* The others wait without a limit of their own: only the break ends it. */
    t[1] = start_worker(&w[1], b, 1, false, PYTH_FOREVER, NULL);
    t[2] = start_worker(&w[2], b, 1, false, 120.0, NULL);
    /* Usually all three are inside when the first one's time runs out. */
    WAIT_UNTIL(pyth_barrier_n_waiting(b) == 3 || pyth_barrier_broken(b), 60);
    for (int i = 0; i < 3; i++) {
        join_within(t[i], 120);
        CHECK_EQ(w[i].st[0], PYTH_EBROKEN);
        CHECK(w[i].elapsed < to + h_slack());
    }
    CHECK(w[0].elapsed >= to);
    CHECK(pyth_barrier_broken(b));
    CHECK_EQ(pyth_barrier_n_waiting(b), 0);
    /* Broken: later waits fail at once, whatever their timeout. */
    double t0 = now_s();
    CHECK_STATUS(pyth_barrier_wait(b, NULL), PYTH_EBROKEN);
    CHECK_STATUS(pyth_barrier_wait_timeout(b, PYTH_FOREVER, NULL), PYTH_EBROKEN);
    CHECK(now_s() - t0 < h_slack());
    /* Reset makes it usable again (the default timeout still applies, so
     * the cycle uses explicit timeouts). */
    CHECK_STATUS(pyth_barrier_reset(b), PYTH_OK);
    CHECK(!pyth_barrier_broken(b));
    for (int i = 0; i < 3; i++) t[i] = start_worker(&w[i], b, 1, false, 120.0, NULL);
    size_t idx = 99;
    CHECK_STATUS(pyth_barrier_wait_timeout(b, 120.0, &idx), PYTH_OK);
    unsigned seen = idx < 4 ? 1u << idx : 0;
    for (int i = 0; i < 3; i++) {
        join_within(t[i], 120);
        CHECK_EQ(w[i].st[0], PYTH_OK);
        if (w[i].idx[0] < 4) seen |= 1u << w[i].idx[0];
    }
    CHECK_EQ(seen, 0xf);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

TEST(barrier_wait_timeout) {
    pyth_barrier_t *b = pyth_barrier_new(2, NULL, NULL, PYTH_FOREVER);
    /* Alone: times out within bounds and breaks it. */
    double t0 = now_s();
    CHECK_STATUS(pyth_barrier_wait_timeout(b, 0.2, NULL), PYTH_EBROKEN);
    double e = now_s() - t0;
    CHECK(e >= 0.2);
    CHECK(e < 0.2 + h_slack());
    CHECK(pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_reset(b), PYTH_OK);
    /* Zero and negative: do not wait (and so break it). */
    t0 = now_s();
    CHECK_STATUS(pyth_barrier_wait_timeout(b, 0.0, NULL), PYTH_EBROKEN);
    CHECK(pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_reset(b), PYTH_OK);
    CHECK_STATUS(pyth_barrier_wait_timeout(b, -0.5, NULL), PYTH_EBROKEN);
    CHECK(pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_reset(b), PYTH_OK);
    CHECK(now_s() - t0 < h_slack());
    /* Bad timeouts neither wait nor break it. */
    CHECK_STATUS(pyth_barrier_wait_timeout(b, NAN, NULL), PYTH_EVALUE);
    CHECK_STATUS(pyth_barrier_wait_timeout(b, PYTH_TIMEOUT_MAX + 1.0, NULL), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_barrier_wait_timeout(b, INFINITY, NULL), PYTH_EOVERFLOW);
    CHECK(!pyth_barrier_broken(b));
    CHECK_EQ(pyth_barrier_n_waiting(b), 0);
    /* A pair with the largest timeout and with none. */
    worker w;
    h_thread t = start_worker(&w, b, 1, false, PYTH_TIMEOUT_MAX, NULL);
    CHECK_STATUS(pyth_barrier_wait_timeout(b, PYTH_FOREVER, NULL), PYTH_OK);
    join_within(t, 60);
    CHECK_EQ(w.st[0], PYTH_OK);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);

    /* An explicit timeout overrides the default one. */
    b = pyth_barrier_new(2, NULL, NULL, 0.05);
    t = start_worker(&w, b, 1, false, 120.0, NULL);
    CHECK(WAIT_UNTIL(pyth_barrier_n_waiting(b) == 1, 60));
    CHECK(STAYS_FALSE(pyth_barrier_broken(b) || atomic_load(&w.done), 0.25));
    CHECK_STATUS(pyth_barrier_wait_timeout(b, 120.0, NULL), PYTH_OK);
    join_within(t, 60);
    CHECK_EQ(w.st[0], PYTH_OK);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

TEST(barrier_reset_releases_waiters) {
    enum { P = 3 };
    action_state a = {0};
    pyth_barrier_t *b = pyth_barrier_new(P, action_fn, &a, PYTH_FOREVER);
    a.b = b;
    worker w[P];
    h_thread t[P];
    for (int i = 0; i < P - 1; i++) t[i] = start_worker(&w[i], b, 1, true, 0, NULL);
    CHECK(WAIT_UNTIL(pyth_barrier_n_waiting(b) == P - 1, 60));
    CHECK_STATUS(pyth_barrier_reset(b), PYTH_OK);
    for (int i = 0; i < P - 1; i++) {
        join_within(t[i], 60);
        CHECK_EQ(w[i].st[0], PYTH_EBROKEN);
    }
    CHECK(!pyth_barrier_broken(b));
    CHECK_EQ(pyth_barrier_n_waiting(b), 0);
    CHECK_EQ(atomic_load(&a.runs), 0);
    /* Usable again: a full cycle with fresh indices. */
    for (int i = 0; i < P; i++) t[i] = start_worker(&w[i], b, 2, true, 0, NULL);
    unsigned seen[2] = {0, 0};
    for (int i = 0; i < P; i++) {
        join_within(t[i], 60);
        for (int c = 0; c < 2; c++) {
            CHECK_EQ(w[i].st[c], PYTH_OK);
            if (w[i].idx[c] < P) seen[c] |= 1u << w[i].idx[c];
        }
    }
    CHECK_EQ(seen[0], (1u << P) - 1);
    CHECK_EQ(seen[1], (1u << P) - 1);
    CHECK_EQ(atomic_load(&a.runs), 2);
    /* Reset of an idle barrier is harmless. */
    CHECK_STATUS(pyth_barrier_reset(b), PYTH_OK);
    CHECK(!pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

TEST(barrier_abort) {
    enum { P = 3 };
    pyth_barrier_t *b = pyth_barrier_new(P, NULL, NULL, PYTH_FOREVER);
    worker w[P];
    h_thread t[P];
    t[0] = start_worker(&w[0], b, 1, true, 0, NULL);
    CHECK(WAIT_UNTIL(pyth_barrier_n_waiting(b) == 1, 60));
    CHECK_STATUS(pyth_barrier_abort(b), PYTH_OK);
    join_within(t[0], 60);
    CHECK_EQ(w[0].st[0], PYTH_EBROKEN);
    CHECK(pyth_barrier_broken(b));
    CHECK_EQ(pyth_barrier_n_waiting(b), 0);
    /* Later waits fail at once, until reset. */
    double t0 = now_s();
    CHECK_STATUS(pyth_barrier_wait(b, NULL), PYTH_EBROKEN);
    CHECK_STATUS(pyth_barrier_wait_timeout(b, 60.0, NULL), PYTH_EBROKEN);
    CHECK(now_s() - t0 < h_slack());
    CHECK_STATUS(pyth_barrier_abort(b), PYTH_OK);   /* twice is fine */
    CHECK(pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_reset(b), PYTH_OK);
    CHECK(!pyth_barrier_broken(b));
    for (int i = 0; i < P; i++) t[i] = start_worker(&w[i], b, 1, true, 0, NULL);
    for (int i = 0; i < P; i++) {
        join_within(t[i], 60);
        CHECK_EQ(w[i].st[0], PYTH_OK);
    }
    /* Abort with nobody waiting. */
    CHECK_STATUS(pyth_barrier_abort(b), PYTH_OK);
    CHECK(pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_wait(b, NULL), PYTH_EBROKEN);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

TEST(barrier_free_while_waiting) {
    pyth_barrier_t *b = pyth_barrier_new(2, NULL, NULL, PYTH_FOREVER);
    worker w;
    h_thread t = start_worker(&w, b, 1, true, 0, NULL);
    if (WAIT_UNTIL(pyth_barrier_n_waiting(b) == 1, 60)) {
        CHECK_STATUS(pyth_barrier_free(b), PYTH_EBUSY);
        CHECK_STATUS(pyth_barrier_free(b), PYTH_EBUSY);
    } else {
        CHECK(!"worker never arrived");
    }
    /* Still valid. */
    CHECK_EQ(pyth_barrier_parties(b), 2);
    CHECK_EQ(pyth_barrier_n_waiting(b), 1);
    CHECK(!pyth_barrier_broken(b));
    CHECK_STATUS(pyth_barrier_wait(b, NULL), PYTH_OK);
    join_within(t, 60);
    CHECK_EQ(w.st[0], PYTH_OK);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);

    /* A broken barrier with nobody inside may be freed. */
    b = pyth_barrier_new(2, NULL, NULL, PYTH_FOREVER);
    CHECK_STATUS(pyth_barrier_abort(b), PYTH_OK);
    CHECK_STATUS(pyth_barrier_free(b), PYTH_OK);
}

TEST(barrier_bad_handles) {
    CHECK_STATUS(pyth_barrier_wait(NULL, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_barrier_wait_timeout(NULL, 1.0, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_barrier_reset(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_barrier_abort(NULL), PYTH_EINVAL);
    CHECK_EQ(pyth_barrier_parties(NULL), 0);
    CHECK_EQ(pyth_barrier_n_waiting(NULL), 0);
    CHECK(!pyth_barrier_broken(NULL));
    pyth_event_t *e = pyth_event_new();
    pyth_event_set(e);
    pyth_barrier_t *fake = (pyth_barrier_t *)e;
    size_t idx = 42;
    CHECK_STATUS(pyth_barrier_wait(fake, &idx), PYTH_EINVAL);
    CHECK_EQ(idx, 42);
    CHECK_STATUS(pyth_barrier_wait_timeout(fake, 0.0, &idx), PYTH_EINVAL);
    CHECK_STATUS(pyth_barrier_reset(fake), PYTH_EINVAL);
    CHECK_STATUS(pyth_barrier_abort(fake), PYTH_EINVAL);
    CHECK_EQ(pyth_barrier_parties(fake), 0);
    CHECK_EQ(pyth_barrier_n_waiting(fake), 0);
    CHECK(!pyth_barrier_broken(fake));
    CHECK_STATUS(pyth_barrier_free(fake), PYTH_EINVAL);
    CHECK(pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

int main(void) {
    RUN(barrier_bad_parties);
    RUN(barrier_new_timeout_args);
    RUN(barrier_one_party);
    RUN(barrier_cycles);
    RUN(barrier_n_waiting_and_arrival_index);
    RUN(barrier_default_timeout_breaks);
    RUN(barrier_wait_timeout);
    RUN(barrier_reset_releases_waiters);
    RUN(barrier_abort);
    RUN(barrier_free_while_waiting);
    RUN(barrier_bad_handles);
    return REPORT();
}
