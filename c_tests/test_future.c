/* pyth_future_*, pyth_wait, pyth_as_completed and pyth_executor_map:
 * Python's concurrent.futures.Future, wait(), as_completed() and
 * Executor.map() over a ThreadPoolExecutor. */
#include "harness.h"
#include <math.h>
#include <stdint.h>

#define ITEM(n) ((void *)(uintptr_t)(n))
#define NUM(p) ((uintptr_t)(p))

/* ---- tasks ----------------------------------------------------------------------- */

/* A task that waits for its own gate, then returns `value` or fails with `code`. */
typedef struct {
    pyth_event_t *gate; /* NULL: do not wait */
    uintptr_t value;
    int code;
    atomic_int started, finished;
    uint64_t ident; /* the thread that ran it */
} job_t;

static void job_init(job_t *j, uintptr_t value, int code, bool gated) {
    memset(j, 0, sizeof *j);
    j->value = value;
    j->code = code;
    j->gate = gated ? pyth_event_new() : NULL;
}

static void job_fini(job_t *j) {
    if (j->gate) CHECK_STATUS(pyth_event_free(j->gate), PYTH_OK);
}

static int run_job(void *arg, void **result) {
    job_t *j = arg;
    j->ident = pyth_get_ident();
    atomic_fetch_add(&j->started, 1);
    if (j->gate && pyth_event_wait(j->gate, 120) != PYTH_OK) return 99; /* bounded */
    atomic_fetch_add(&j->finished, 1);
    if (j->code) return j->code;
    *result = ITEM(j->value);
    return 0;
}

static void open_gate(job_t *j) { CHECK_STATUS(pyth_event_set(j->gate), PYTH_OK); }

static atomic_int ran;
static int count_run(void *arg, void **result) {
    (void)arg;
    atomic_fetch_add(&ran, 1);
    *result = NULL;
    return 0;
}

/* ---- result, error, states -------------------------------------------------------- */

TEST(result_timeout_then_ok) {
    pyth_executor_t *ex = pyth_executor_new(1, "res", NULL, NULL);
    job_t j;
    job_init(&j, 1234, 0, true);
    pyth_future_t *f = pyth_executor_submit(ex, run_job, &j);
    CHECK(WAIT_UNTIL(atomic_load(&j.started), 30));
    void *r = ITEM(1);
    double t0 = now_s();
    CHECK_STATUS(pyth_future_result(f, 0.15, &r), PYTH_TIMEOUT);
    double el = now_s() - t0;
    CHECK(el >= 0.15 - 0.001);
    CHECK(el < 0.15 + h_slack());
    t0 = now_s();
    CHECK_STATUS(pyth_future_result(f, 0.0, &r), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_future_result(f, -3.0, &r), PYTH_TIMEOUT); /* negative: do not wait */
    CHECK_STATUS(pyth_future_result(f, -INFINITY, &r), PYTH_TIMEOUT);
    CHECK(now_s() - t0 < h_slack());
    CHECK_STATUS(pyth_future_result(f, NAN, &r), PYTH_EVALUE);
    CHECK_STATUS(pyth_future_result(f, PYTH_TIMEOUT_MAX * 2, &r), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_future_result(f, INFINITY, &r), PYTH_EOVERFLOW);
    CHECK_EQ(NUM(r), 1); /* untouched */
    CHECK(pyth_future_running(f));
    open_gate(&j);
    CHECK_STATUS(pyth_future_result(f, PYTH_FOREVER, &r), PYTH_OK);
    CHECK_EQ(NUM(r), 1234);
    r = NULL;
    CHECK_STATUS(pyth_future_result(f, 0, &r), PYTH_OK); /* again: same value */
    CHECK_EQ(NUM(r), 1234);
    CHECK_STATUS(pyth_future_result(f, PYTH_TIMEOUT_MAX, NULL), PYTH_OK); /* NULL out: fine */
    CHECK_STATUS(pyth_future_result(f, NAN, &r), PYTH_EVALUE);           /* validated even when done */
    CHECK_EQ(pyth_future_error(f), 0);
    CHECK_STATUS(pyth_future_free(f), PYTH_OK);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    job_fini(&j);
}

static void *set_event_fn(void *e) {
    pyth_event_set(e);
    return NULL;
}

TEST(result_woken_from_other_thread) {
    /* A timed result() returns as soon as the task ends, long before its timeout. */
    pyth_executor_t *ex = pyth_executor_new(1, "res2", NULL, NULL);
    job_t j;
    job_init(&j, 5, 0, true);
    pyth_future_t *f = pyth_executor_submit(ex, run_job, &j);
    CHECK(WAIT_UNTIL(atomic_load(&j.started), 30));
    h_thread t = spawn(set_event_fn, j.gate); /* opens the gate */
    double t0 = now_s();
    void *r = NULL;
    CHECK_STATUS(pyth_future_result(f, 100, &r), PYTH_OK);
    CHECK(now_s() - t0 < 50);
    CHECK_EQ(NUM(r), 5);
    join_within(t, 30);
    pyth_future_free(f);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    job_fini(&j);
}

TEST(failing_task) {
    pyth_executor_t *ex = pyth_executor_new(2, "fail", NULL, NULL);
    int codes[] = {42, -1, 1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        job_t j;
        job_init(&j, 0, codes[i], false);
        pyth_future_t *f = pyth_executor_submit(ex, run_job, &j);
        void *r = ITEM(3);
        CHECK_STATUS(pyth_future_result(f, 60, &r), PYTH_EFAILED);
        CHECK_EQ(pyth_future_error(f), codes[i]);
        CHECK_EQ(NUM(r), 3);
        CHECK(pyth_future_done(f));
        CHECK(!pyth_future_running(f));
        CHECK(!pyth_future_cancelled(f));
        CHECK(!pyth_future_cancel(f));
        CHECK_STATUS(pyth_future_result(f, 0, NULL), PYTH_EFAILED); /* again */
        pyth_future_free(f);
        job_fini(&j);
    }
    /* A failure does not harm the worker. */
    job_t ok;
    job_init(&ok, 9, 0, false);
    pyth_future_t *f = pyth_executor_submit(ex, run_job, &ok);
    void *r = NULL;
    CHECK_STATUS(pyth_future_result(f, 60, &r), PYTH_OK);
    CHECK_EQ(NUM(r), 9);
    CHECK_EQ(pyth_future_error(f), 0);
    pyth_future_free(f);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

TEST(states_through_life) {
    pyth_executor_t *ex = pyth_executor_new(1, "life", NULL, NULL);
    job_t a, b;
    job_init(&a, 1, 0, true);
    job_init(&b, 2, 0, true);
    pyth_future_t *fa = pyth_executor_submit(ex, run_job, &a);
    pyth_future_t *fb = pyth_executor_submit(ex, run_job, &b);
    CHECK(WAIT_UNTIL(pyth_future_running(fa), 30));
    /* b is pending behind a. */
    CHECK(!pyth_future_running(fb));
    CHECK(!pyth_future_done(fb));
    CHECK(!pyth_future_cancelled(fb));
    CHECK_EQ(pyth_future_error(fb), 0);
    CHECK(!pyth_future_done(fa));
    open_gate(&a);
    CHECK(WAIT_UNTIL(pyth_future_running(fb), 30)); /* b runs */
    CHECK(pyth_future_done(fa));
    CHECK(!pyth_future_running(fa));
    CHECK(!pyth_future_done(fb));
    CHECK(!pyth_future_cancel(fb)); /* running: cannot cancel */
    CHECK(pyth_future_running(fb));
    CHECK(!pyth_future_cancelled(fb));
    open_gate(&b);
    CHECK_STATUS(pyth_future_result(fb, 60, NULL), PYTH_OK);
    CHECK(pyth_future_done(fb));
    CHECK(!pyth_future_running(fb));
    CHECK(!pyth_future_cancelled(fb));
    CHECK(!pyth_future_cancel(fb)); /* done: cannot cancel */
    CHECK(!pyth_future_cancelled(fb));
    pyth_future_free(fa);
    pyth_future_free(fb);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    job_fini(&a);
    job_fini(&b);
}

TEST(cancel_only_while_pending) {
    atomic_store(&ran, 0);
    pyth_executor_t *ex = pyth_executor_new(2, "cxl", NULL, NULL);
    job_t b[2];
    pyth_future_t *blockers[2], *fs[10];
    for (int i = 0; i < 2; i++) {
        job_init(&b[i], 0, 0, true);
        blockers[i] = pyth_executor_submit(ex, run_job, &b[i]);
    }
    CHECK(WAIT_UNTIL(atomic_load(&b[0].started) && atomic_load(&b[1].started), 30)); /* all workers busy */
    for (int i = 0; i < 10; i++) fs[i] = pyth_executor_submit(ex, count_run, NULL);
    for (int i = 0; i < 10; i++) {
        CHECK(pyth_future_cancel(fs[i]));
        CHECK(pyth_future_cancelled(fs[i]));
        CHECK(pyth_future_done(fs[i]));
        CHECK(!pyth_future_running(fs[i]));
        CHECK(pyth_future_cancel(fs[i])); /* again: still true */
        CHECK_STATUS(pyth_future_result(fs[i], 0, NULL), PYTH_ECANCELLED);
        CHECK_STATUS(pyth_future_result(fs[i], PYTH_FOREVER, NULL), PYTH_ECANCELLED);
        CHECK_EQ(pyth_future_error(fs[i]), 0);
    }
    CHECK(!pyth_future_cancel(blockers[0])); /* running */
    for (int i = 0; i < 2; i++) open_gate(&b[i]);
    for (int i = 0; i < 2; i++) CHECK_STATUS(pyth_future_result(blockers[i], 60, NULL), PYTH_OK);
    CHECK_STATUS(pyth_executor_shutdown(ex, true, false), PYTH_OK);
    CHECK_EQ(atomic_load(&ran), 0); /* cancelled tasks never ran */
    for (int i = 0; i < 10; i++) {
        CHECK(pyth_future_cancelled(fs[i]));
        pyth_future_free(fs[i]);
    }
    for (int i = 0; i < 2; i++) {
        pyth_future_free(blockers[i]);
        job_fini(&b[i]);
    }
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

/* ---- done callbacks ------------------------------------------------------------------ */

typedef struct {
    atomic_int calls;
    pyth_future_t *future; /* the handle the callback got */
    uint64_t ident;        /* where it ran */
    int order;             /* global sequence number of the first call */
    bool done_inside, cancelled_inside;
    pyth_status result_inside;
    int error_inside;
} cb_rec;

static atomic_int cb_seq;

static void record_cb(pyth_future_t *f, void *arg) {
    cb_rec *c = arg;
    if (atomic_fetch_add(&c->calls, 1) == 0) {
        c->future = f;
        c->ident = pyth_get_ident();
        c->order = atomic_fetch_add(&cb_seq, 1);
        c->done_inside = pyth_future_done(f);
        c->cancelled_inside = pyth_future_cancelled(f);
        c->result_inside = pyth_future_result(f, 0, NULL); /* the future is usable in its callback */
        c->error_inside = pyth_future_error(f);
    }
}

TEST(done_callbacks) {
    pyth_executor_t *ex = pyth_executor_new(1, "cb", NULL, NULL);

    /* Added while pending: run once, in order, in the worker, after the result is set. */
    job_t j;
    job_init(&j, 8, 0, true);
    pyth_future_t *f = pyth_executor_submit(ex, run_job, &j);
    cb_rec c1 = {0}, c2 = {0};
    CHECK_STATUS(pyth_future_add_done_callback(f, record_cb, &c1), PYTH_OK);
    CHECK_STATUS(pyth_future_add_done_callback(f, record_cb, &c2), PYTH_OK);
    CHECK_EQ(atomic_load(&c1.calls), 0);
    open_gate(&j);
    CHECK_STATUS(pyth_future_result(f, 60, NULL), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&c2.calls) == 1, 30));
    CHECK_EQ(atomic_load(&c1.calls), 1);
    CHECK(c1.order < c2.order);
    CHECK(c1.future == f);
    CHECK(c1.ident == j.ident && c1.ident != pyth_get_ident()); /* in the worker */
    CHECK(c1.done_inside && !c1.cancelled_inside);
    CHECK_EQ(c1.result_inside, PYTH_OK);

    /* Added when done: at once, in this thread. */
    cb_rec c3 = {0};
    CHECK_STATUS(pyth_future_add_done_callback(f, record_cb, &c3), PYTH_OK);
    CHECK_EQ(atomic_load(&c3.calls), 1);
    CHECK(c3.ident == pyth_get_ident());
    CHECK(c3.future == f);
    CHECK(STAYS_FALSE(atomic_load(&c1.calls) != 1 || atomic_load(&c2.calls) != 1, 0.05)); /* never again */
    pyth_future_free(f);
    job_fini(&j);

    /* A failing task's callbacks run too and see the failure. */
    job_init(&j, 0, 17, true);
    f = pyth_executor_submit(ex, run_job, &j);
    cb_rec c4 = {0};
    CHECK_STATUS(pyth_future_add_done_callback(f, record_cb, &c4), PYTH_OK);
    open_gate(&j);
    CHECK_STATUS(pyth_future_result(f, 60, NULL), PYTH_EFAILED);
    CHECK(WAIT_UNTIL(atomic_load(&c4.calls) == 1, 30));
    CHECK_EQ(c4.result_inside, PYTH_EFAILED);
    CHECK_EQ(c4.error_inside, 17);
    pyth_future_free(f);
    job_fini(&j);

    /* On cancel: in the cancelling thread, once. */
    job_t blk;
    job_init(&blk, 0, 0, true);
    pyth_future_t *fb = pyth_executor_submit(ex, run_job, &blk);
    CHECK(WAIT_UNTIL(atomic_load(&blk.started), 30));
    atomic_store(&ran, 0);
    f = pyth_executor_submit(ex, count_run, NULL);
    cb_rec c5 = {0};
    CHECK_STATUS(pyth_future_add_done_callback(f, record_cb, &c5), PYTH_OK);
    CHECK(pyth_future_cancel(f));
    CHECK_EQ(atomic_load(&c5.calls), 1);
    CHECK(c5.ident == pyth_get_ident());
    CHECK(c5.cancelled_inside && c5.done_inside);
    CHECK_EQ(c5.result_inside, PYTH_ECANCELLED);
    CHECK(pyth_future_cancel(f));
    open_gate(&blk);
    CHECK_STATUS(pyth_future_result(fb, 60, NULL), PYTH_OK);
    CHECK_STATUS(pyth_executor_shutdown(ex, true, false), PYTH_OK);
    CHECK_EQ(atomic_load(&c5.calls), 1);
    CHECK_EQ(atomic_load(&ran), 0);
    pyth_future_free(f);
    pyth_future_free(fb);
    job_fini(&blk);

    /* NULL callback. */
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    ex = pyth_executor_new(1, "cb2", NULL, NULL);
    f = pyth_executor_submit(ex, count_run, NULL);
    CHECK_STATUS(pyth_future_add_done_callback(f, NULL, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_future_result(f, 60, NULL), PYTH_OK);
    CHECK_STATUS(pyth_future_add_done_callback(f, NULL, NULL), PYTH_EINVAL);
    pyth_future_free(f);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

/* ---- freeing futures -------------------------------------------------------------------- */

TEST(free_future_any_time) {
    pyth_executor_t *ex = pyth_executor_new(1, "ff", NULL, NULL);
    job_t blk, during;
    job_init(&blk, 0, 0, true);
    job_init(&during, 0, 0, true);
    atomic_store(&ran, 0);
    pyth_future_t *fb = pyth_executor_submit(ex, run_job, &blk);
    CHECK(WAIT_UNTIL(atomic_load(&blk.started), 30));
    /* Before it runs. */
    pyth_future_t *f1 = pyth_executor_submit(ex, count_run, NULL);
    cb_rec c = {0};
    CHECK_STATUS(pyth_future_add_done_callback(f1, record_cb, &c), PYTH_OK);
    CHECK_STATUS(pyth_future_free(f1), PYTH_OK);
    /* While it runs. */
    pyth_future_t *f2 = pyth_executor_submit(ex, run_job, &during);
    open_gate(&blk);
    CHECK(WAIT_UNTIL(atomic_load(&during.started), 30));
    CHECK_STATUS(pyth_future_free(f2), PYTH_OK);
    open_gate(&during);
    CHECK_STATUS(pyth_future_result(fb, 60, NULL), PYTH_OK);
    CHECK_STATUS(pyth_executor_shutdown(ex, true, false), PYTH_OK);
    CHECK_EQ(atomic_load(&ran), 1);              /* the freed pending task still ran */
    CHECK_EQ(atomic_load(&during.finished), 1);  /* and the running one finished */
    CHECK_EQ(atomic_load(&c.calls), 1);          /* its callback still ran, with a live future */
    CHECK(c.done_inside);
    CHECK_EQ(c.result_inside, PYTH_OK);
    /* After it is done. */
    CHECK_STATUS(pyth_future_free(fb), PYTH_OK);
    CHECK_STATUS(pyth_future_free(NULL), PYTH_OK);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    job_fini(&blk);
    job_fini(&during);

    /* Many submit-and-forget futures, freed at random moments, under load. */
    atomic_store(&ran, 0);
    ex = pyth_executor_new(3, "ff2", NULL, NULL);
    long n = ITERS(5000);
    for (long i = 0; i < n; i++) {
        pyth_future_t *f = pyth_executor_submit(ex, count_run, NULL);
        if (i % 3 == 0) pyth_future_result(f, 60, NULL);
        pyth_future_free(f);
    }
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    CHECK_EQ(atomic_load(&ran), n);
}

typedef struct {
    pyth_future_t *f;
    atomic_int tid, done;
    pyth_status st;
    void *value;
} result_call;

static void *result_fn(void *p) {
    result_call *c = p;
    atomic_store(&c->tid, h_gettid());
    c->st = pyth_future_result(c->f, PYTH_FOREVER, &c->value);
    atomic_store(&c->done, 1);
    return NULL;
}

/* Frees the C reference from inside the callback: the fire-and-forget idiom. */
static atomic_int freed_in_cb;
static void free_in_cb(pyth_future_t *f, void *arg) {
    (void)arg;
    if (pyth_future_done(f) && pyth_future_free(f) == PYTH_OK) atomic_fetch_add(&freed_in_cb, 1);
}

TEST(free_future_while_others_use_it) {
    pyth_executor_t *ex = pyth_executor_new(2, "ffu", NULL, NULL);
    /* Another thread is blocked in result() when the handle is freed. */
    job_t j;
    job_init(&j, 31, 0, true);
    result_call c = {.f = pyth_executor_submit(ex, run_job, &j)};
    h_thread t = spawn(result_fn, &c);
    CHECK(WAIT_UNTIL(atomic_load(&c.tid) != 0, 30));
    CHECK(WAIT_BLOCKED(atomic_load(&c.tid), 30));
    CHECK_STATUS(pyth_future_free(c.f), PYTH_OK);
    CHECK(STAYS_FALSE(atomic_load(&c.done), 0.05));
    open_gate(&j);
    join_within(t, 30);
    CHECK_STATUS(c.st, PYTH_OK);
    CHECK_EQ(NUM(c.value), 31);
    job_fini(&j);

    /* Freed by its own done callback: in the worker, and at once in this thread. */
    atomic_store(&freed_in_cb, 0);
    long n = ITERS(2000);
    for (long i = 0; i < n; i++) {
        pyth_future_t *f = pyth_executor_submit(ex, count_run, NULL);
        CHECK_STATUS(pyth_future_add_done_callback(f, free_in_cb, NULL), PYTH_OK);
        /* f may be gone now: not touched again */
    }
    CHECK_STATUS(pyth_executor_shutdown(ex, true, false), PYTH_OK);
    CHECK_EQ(atomic_load(&freed_in_cb), n);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

/* ---- wait ---------------------------------------------------------------------------------- */

typedef struct {
    pyth_future_t **fs;
    size_t n;
    double timeout;
    int when;
    atomic_int done;
    pyth_status st;
} wait_call;

static void *wait_fn(void *p) {
    wait_call *w = p;
    w->st = pyth_wait(w->fs, w->n, w->timeout, w->when);
    atomic_store(&w->done, 1);
    return NULL;
}

TEST(wait_first_completed) {
    pyth_executor_t *ex = pyth_executor_new(3, "w1", NULL, NULL);
    job_t j[3];
    pyth_future_t *fs[3];
    for (int i = 0; i < 3; i++) {
        job_init(&j[i], (uintptr_t)i, 0, true);
        fs[i] = pyth_executor_submit(ex, run_job, &j[i]);
    }
    double t0 = now_s();
    CHECK_STATUS(pyth_wait(fs, 3, 0.15, PYTH_FIRST_COMPLETED), PYTH_TIMEOUT);
    double el = now_s() - t0;
    CHECK(el >= 0.15 - 0.001);
    CHECK(el < 0.15 + h_slack());
    CHECK_STATUS(pyth_wait(fs, 3, 0, PYTH_FIRST_COMPLETED), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_wait(fs, 3, -1.5, PYTH_FIRST_COMPLETED), PYTH_TIMEOUT); /* negative: no wait */
    for (int i = 0; i < 3; i++) CHECK(!pyth_future_done(fs[i]));

    /* Blocked in wait, woken by the first completion. */
    wait_call w = {.fs = fs, .n = 3, .timeout = PYTH_FOREVER, .when = PYTH_FIRST_COMPLETED};
    h_thread t = spawn(wait_fn, &w);
    CHECK(STAYS_FALSE(atomic_load(&w.done), 0.1));
    open_gate(&j[1]);
    join_within(t, 30);
    CHECK_STATUS(w.st, PYTH_OK);
    CHECK(pyth_future_done(fs[1]));
    CHECK(!pyth_future_done(fs[0]) && !pyth_future_done(fs[2]));
    /* Already met: at once. */
    CHECK_STATUS(pyth_wait(fs, 3, 0, PYTH_FIRST_COMPLETED), PYTH_OK);
    CHECK_STATUS(pyth_wait(fs + 1, 1, PYTH_FOREVER, PYTH_ALL_COMPLETED), PYTH_OK);
    /* A cancellation counts as completion. */
    job_t qj;
    job_init(&qj, 0, 0, false);
    job_t blk;
    job_init(&blk, 0, 0, true);
    pyth_future_t *fb = pyth_executor_submit(ex, run_job, &blk); /* the third worker */
    CHECK(WAIT_UNTIL(atomic_load(&blk.started), 30));
    pyth_future_t *fq = pyth_executor_submit(ex, run_job, &qj); /* queued */
    pyth_future_t *pair[2] = {fs[0], fq};
    CHECK_STATUS(pyth_wait(pair, 2, 0, PYTH_FIRST_COMPLETED), PYTH_TIMEOUT);
    CHECK(pyth_future_cancel(fq));
    CHECK_STATUS(pyth_wait(pair, 2, 0, PYTH_FIRST_COMPLETED), PYTH_OK);

    open_gate(&j[0]);
    open_gate(&j[2]);
    open_gate(&blk);
    CHECK_STATUS(pyth_wait(fs, 3, 60, PYTH_ALL_COMPLETED), PYTH_OK);
    for (int i = 0; i < 3; i++) {
        CHECK(pyth_future_done(fs[i]));
        pyth_future_free(fs[i]);
        job_fini(&j[i]);
    }
    CHECK_STATUS(pyth_future_result(fb, 60, NULL), PYTH_OK);
    pyth_future_free(fb);
    pyth_future_free(fq);
    job_fini(&blk);
    job_fini(&qj);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

TEST(wait_all_completed) {
    pyth_executor_t *ex = pyth_executor_new(3, "w3", NULL, NULL);
    job_t j[3];
    pyth_future_t *fs[3];
    for (int i = 0; i < 3; i++) {
        job_init(&j[i], (uintptr_t)i, i == 1 ? 5 : 0, true); /* a failure does not end the wait */
        fs[i] = pyth_executor_submit(ex, run_job, &j[i]);
    }
    open_gate(&j[0]);
    open_gate(&j[1]);
    CHECK_STATUS(pyth_future_result(fs[1], 60, NULL), PYTH_EFAILED);
    double t0 = now_s();
    CHECK_STATUS(pyth_wait(fs, 3, 0.15, PYTH_ALL_COMPLETED), PYTH_TIMEOUT);
    CHECK(now_s() - t0 >= 0.15 - 0.001);
    wait_call w = {.fs = fs, .n = 3, .timeout = PYTH_FOREVER, .when = PYTH_ALL_COMPLETED};
    h_thread t = spawn(wait_fn, &w);
    CHECK(STAYS_FALSE(atomic_load(&w.done), 0.1));
    open_gate(&j[2]);
    join_within(t, 30);
    CHECK_STATUS(w.st, PYTH_OK);
    for (int i = 0; i < 3; i++) {
        CHECK(pyth_future_done(fs[i]));
        pyth_future_free(fs[i]);
        job_fini(&j[i]);
    }
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

TEST(wait_first_exception) {
    pyth_executor_t *ex = pyth_executor_new(3, "w2", NULL, NULL);
    job_t j[3];
    pyth_future_t *fs[3];
    for (int i = 0; i < 3; i++) {
        job_init(&j[i], (uintptr_t)i, i == 1 ? 3 : 0, true); /* #1 fails */
        fs[i] = pyth_executor_submit(ex, run_job, &j[i]);
    }
    open_gate(&j[0]); /* a success is not enough */
    CHECK_STATUS(pyth_future_result(fs[0], 60, NULL), PYTH_OK);
    CHECK_STATUS(pyth_wait(fs, 3, 0.1, PYTH_FIRST_EXCEPTION), PYTH_TIMEOUT);
    wait_call w = {.fs = fs, .n = 3, .timeout = PYTH_FOREVER, .when = PYTH_FIRST_EXCEPTION};
    h_thread t = spawn(wait_fn, &w);
    CHECK(STAYS_FALSE(atomic_load(&w.done), 0.1));
    open_gate(&j[1]); /* the failure ends it */
    join_within(t, 30);
    CHECK_STATUS(w.st, PYTH_OK);
    CHECK(pyth_future_done(fs[1]));
    CHECK(!pyth_future_done(fs[2]));
    open_gate(&j[2]);
    CHECK_STATUS(pyth_wait(fs, 3, 60, PYTH_ALL_COMPLETED), PYTH_OK);
    for (int i = 0; i < 3; i++) {
        pyth_future_free(fs[i]);
        job_fini(&j[i]);
    }

    /* Without a failure it is ALL_COMPLETED; a cancellation is not a failure. */
    job_t blk;
    job_init(&blk, 0, 0, true);
    for (int i = 0; i < 2; i++) {
        job_init(&j[i], (uintptr_t)i, 0, true);
        fs[i] = pyth_executor_submit(ex, run_job, &j[i]);
    }
    pyth_future_t *fb = pyth_executor_submit(ex, run_job, &blk); /* the third worker */
    CHECK(WAIT_UNTIL(atomic_load(&blk.started) && atomic_load(&j[0].started) && atomic_load(&j[1].started), 30));
    job_t qj;
    job_init(&qj, 0, 0, false);
    fs[2] = pyth_executor_submit(ex, run_job, &qj); /* queued */
    CHECK(pyth_future_cancel(fs[2]));
    open_gate(&j[0]);
    CHECK_STATUS(pyth_future_result(fs[0], 60, NULL), PYTH_OK);
    CHECK_STATUS(pyth_wait(fs, 3, 0.1, PYTH_FIRST_EXCEPTION), PYTH_TIMEOUT);
    w = (wait_call){.fs = fs, .n = 3, .timeout = PYTH_FOREVER, .when = PYTH_FIRST_EXCEPTION};
    t = spawn(wait_fn, &w);
    CHECK(STAYS_FALSE(atomic_load(&w.done), 0.1));
    open_gate(&j[1]);
    join_within(t, 30);
    CHECK_STATUS(w.st, PYTH_OK);
    for (int i = 0; i < 3; i++) CHECK(pyth_future_done(fs[i]));
    open_gate(&blk);
    CHECK_STATUS(pyth_future_result(fb, 60, NULL), PYTH_OK);
    for (int i = 0; i < 2; i++) job_fini(&j[i]);
    for (int i = 0; i < 3; i++) pyth_future_free(fs[i]);
    pyth_future_free(fb);
    job_fini(&blk);
    job_fini(&qj);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

TEST(wait_bad_arguments) {
    pyth_executor_t *ex = pyth_executor_new(1, "wb", NULL, NULL);
    pyth_future_t *f = pyth_executor_submit(ex, count_run, NULL);
    CHECK_STATUS(pyth_future_result(f, 60, NULL), PYTH_OK);
    int bad_when[] = {0, 4, -1, 100};
    for (size_t i = 0; i < sizeof bad_when / sizeof *bad_when; i++) {
        CHECK_STATUS(pyth_wait(&f, 1, 0, bad_when[i]), PYTH_EVALUE);
        CHECK_STATUS(pyth_wait(NULL, 0, 0, bad_when[i]), PYTH_EVALUE);
    }
    /* No futures: every condition holds at once. */
    CHECK_STATUS(pyth_wait(NULL, 0, PYTH_FOREVER, PYTH_FIRST_COMPLETED), PYTH_OK);
    CHECK_STATUS(pyth_wait(NULL, 0, PYTH_FOREVER, PYTH_FIRST_EXCEPTION), PYTH_OK);
    CHECK_STATUS(pyth_wait(NULL, 0, PYTH_FOREVER, PYTH_ALL_COMPLETED), PYTH_OK);
    CHECK_STATUS(pyth_wait(NULL, 2, 0, PYTH_ALL_COMPLETED), PYTH_EINVAL);
    pyth_future_t *with_null[2] = {f, NULL};
    CHECK_STATUS(pyth_wait(with_null, 2, 0, PYTH_ALL_COMPLETED), PYTH_EINVAL);
    pyth_future_t *wrong[1] = {(pyth_future_t *)ex};
    CHECK_STATUS(pyth_wait(wrong, 1, 0, PYTH_ALL_COMPLETED), PYTH_EINVAL);
    CHECK_STATUS(pyth_wait(&f, 1, NAN, PYTH_ALL_COMPLETED), PYTH_EVALUE);
    CHECK_STATUS(pyth_wait(&f, 1, PYTH_TIMEOUT_MAX * 2, PYTH_ALL_COMPLETED), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_wait(&f, 1, PYTH_TIMEOUT_MAX, PYTH_ALL_COMPLETED), PYTH_OK);
    pyth_future_free(f);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

/* ---- as_completed -------------------------------------------------------------------------- */

typedef struct {
    pyth_future_t **fs;
    job_t *jobs;
    const int *order; /* the order in which to open the gates */
    int n, k;
    int got[16];
    uint64_t ident;
    int errors;
} chain_t;

static int index_of(chain_t *c, pyth_future_t *f) {
    for (int i = 0; i < c->n; i++)
        if (c->fs[i] == f) return i;
    return -1;
}

/* Records each completion and opens the next gate in the chosen order. */
static void chain_cb(pyth_future_t *f, void *arg) {
    chain_t *c = arg;
    if (pyth_get_ident() != c->ident || !pyth_future_done(f)) c->errors++;
    if (c->k < 16) c->got[c->k] = index_of(c, f);
    c->k++;
    if (c->k < c->n) pyth_event_set(c->jobs[c->order[c->k]].gate);
}

TEST(as_completed_order) {
    enum { N = 5 };
    static const int order[N] = {3, 0, 4, 2, 1};
    pyth_executor_t *ex = pyth_executor_new(N, "ac", NULL, NULL);
    job_t j[N];
    pyth_future_t *fs[N];
    for (int i = 0; i < N; i++) {
        job_init(&j[i], (uintptr_t)i, i == 4 ? 8 : 0, true); /* failures are yielded too */
        fs[i] = pyth_executor_submit(ex, run_job, &j[i]);
    }
    chain_t c = {.fs = fs, .jobs = j, .order = order, .n = N, .ident = pyth_get_ident()};
    pyth_event_set(j[order[0]].gate);
    CHECK_STATUS(pyth_as_completed(fs, N, 60, chain_cb, &c), PYTH_OK);
    CHECK_EQ(c.k, N);
    CHECK_EQ(c.errors, 0);
    for (int i = 0; i < N; i++) CHECK_EQ(c.got[i], order[i]);
    /* Done ones come out at once, each once. */
    c = (chain_t){.fs = fs, .jobs = j, .order = order, .n = N, .ident = pyth_get_ident()};
    CHECK_STATUS(pyth_as_completed(fs, N, 0, chain_cb, &c), PYTH_OK);
    CHECK_EQ(c.k, N);
    int mask = 0;
    for (int i = 0; i < N; i++) mask |= 1 << c.got[i];
    CHECK_EQ(mask, (1 << N) - 1);
    for (int i = 0; i < N; i++) {
        pyth_future_free(fs[i]);
        job_fini(&j[i]);
    }
    /* No futures. */
    CHECK_STATUS(pyth_as_completed(NULL, 0, PYTH_FOREVER, chain_cb, &c), PYTH_OK);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

typedef struct { int calls; pyth_future_t *last; } count_cb_t;
static void count_cb(pyth_future_t *f, void *arg) {
    count_cb_t *c = arg;
    c->calls++;
    c->last = f;
}

TEST(as_completed_timeout) {
    pyth_executor_t *ex = pyth_executor_new(3, "act", NULL, NULL);
    job_t j[3];
    pyth_future_t *fs[3];
    for (int i = 0; i < 3; i++) {
        job_init(&j[i], (uintptr_t)i, 0, true);
        fs[i] = pyth_executor_submit(ex, run_job, &j[i]);
    }
    open_gate(&j[0]);
    open_gate(&j[2]); /* #1 never completes in time */
    count_cb_t c = {0};
    double t0 = now_s();
    CHECK_STATUS(pyth_as_completed(fs, 3, 0.2, count_cb, &c), PYTH_TIMEOUT);
    double el = now_s() - t0;
    CHECK(el >= 0.2 - 0.001);
    CHECK(el < 0.2 + h_slack());
    CHECK_EQ(c.calls, 2);
    c.calls = 0;
    CHECK_STATUS(pyth_as_completed(fs + 1, 1, 0, count_cb, &c), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_as_completed(fs + 1, 1, -2.0 /* negative: do not wait */, count_cb, &c), PYTH_TIMEOUT);
    CHECK_EQ(c.calls, 0);
    CHECK_STATUS(pyth_as_completed(fs, 3, NAN, count_cb, &c), PYTH_EVALUE);
    CHECK_STATUS(pyth_as_completed(fs, 3, 1e300, count_cb, &c), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_as_completed(fs, 3, 1, NULL, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_as_completed(NULL, 3, 1, count_cb, &c), PYTH_EINVAL);
    CHECK_EQ(c.calls, 0);
    open_gate(&j[1]);
    CHECK_STATUS(pyth_as_completed(fs + 1, 1, PYTH_FOREVER, count_cb, &c), PYTH_OK);
    CHECK_EQ(c.calls, 1);
    CHECK(c.last == fs[1]);
    for (int i = 0; i < 3; i++) {
        pyth_future_free(fs[i]);
        job_fini(&j[i]);
    }
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

/* ---- signals ------------------------------------------------------------------------ */

/* Timed waits neither return early nor fail when signals interrupt them (EINTR). */

static void *open_after_signals(void *p) {
    job_t *j = p;
    WAIT_UNTIL(atomic_load(&sig_count) >= 20, 60);
    pyth_event_set(j->gate);
    return NULL;
}

TEST(waits_survive_signals) {
    pyth_executor_t *ex = pyth_executor_new(1, "sig", NULL, NULL);
    job_t j;
    job_init(&j, 6, 0, true);
    pyth_future_t *f = pyth_executor_submit(ex, run_job, &j);
    h_thread spam = spam_start();
    double t0 = now_s();
    CHECK_STATUS(pyth_future_result(f, 0.3, NULL), PYTH_TIMEOUT);
    double el = now_s() - t0;
    CHECK(el >= 0.3 - 0.001 && el < 0.3 + h_slack());
    t0 = now_s();
    CHECK_STATUS(pyth_wait(&f, 1, 0.3, PYTH_ALL_COMPLETED), PYTH_TIMEOUT);
    el = now_s() - t0;
    CHECK(el >= 0.3 - 0.001 && el < 0.3 + h_slack());
    count_cb_t c = {0};
    t0 = now_s();
    CHECK_STATUS(pyth_as_completed(&f, 1, 0.3, count_cb, &c), PYTH_TIMEOUT);
    el = now_s() - t0;
    CHECK(el >= 0.3 - 0.001 && el < 0.3 + h_slack());
    CHECK_EQ(c.calls, 0);
    CHECK(atomic_load(&sig_count) > 5);
    /* An unbounded wait returns only once the task is done. */
    atomic_store(&sig_count, 0);
    h_thread t = spawn(open_after_signals, &j);
    void *r = NULL;
    CHECK_STATUS(pyth_future_result(f, PYTH_FOREVER, &r), PYTH_OK);
    CHECK_EQ(NUM(r), 6);
    CHECK(atomic_load(&sig_count) >= 20);
    join_within(t, 30);
    spam_stop(spam);
    pyth_future_free(f);
    job_fini(&j);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

/* ---- map ----------------------------------------------------------------------------------- */

static pyth_event_t *map_gate;
static atomic_int map_ran;

/* Squares; 5 fails with 55; 3 waits for map_gate if set; slower for small args. */
static int map_fn(void *arg, void **result) {
    uintptr_t x = NUM(arg);
    atomic_fetch_add(&map_ran, 1);
    if (x == 3 && map_gate) pyth_event_wait(map_gate, 120);
    if (x < 4) for (volatile int i = 0; i < 20000 * (4 - (int)x); i++) {}
    if (x == 5) return 55;
    *result = ITEM(x * x);
    return 0;
}

TEST(map_results_in_order) {
    pyth_executor_t *ex = pyth_executor_new(4, "map", NULL, NULL);
    enum { N = 100 };
    void *args[N], *res[N];
    for (int i = 0; i < N; i++) args[i] = ITEM(i == 5 ? 1005 : i); /* no failure here */
    size_t completed = 99999;
    int err = -7;
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args, N, 60, res, &completed, &err), PYTH_OK);
    CHECK_EQ(completed, N);
    CHECK_EQ(err, -7); /* untouched */
    long bad = 0;
    for (int i = 0; i < N; i++) bad += NUM(res[i]) != NUM(args[i]) * NUM(args[i]);
    CHECK_EQ(bad, 0);
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args, N, PYTH_FOREVER, res, NULL, NULL), PYTH_OK);
    /* n == 0 */
    completed = 5;
    CHECK_STATUS(pyth_executor_map(ex, map_fn, NULL, 0, 0, NULL, &completed, NULL), PYTH_OK);
    CHECK_EQ(completed, 0);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

TEST(map_first_failure) {
    pyth_executor_t *ex = pyth_executor_new(4, "mapf", NULL, NULL);
    enum { N = 20 };
    void *args[N], *res[N];
    for (int i = 0; i < N; i++) { args[i] = ITEM(i); res[i] = ITEM(0xbad); }
    size_t completed = 99;
    int err = 0;
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args, N, 60, res, &completed, &err), PYTH_EFAILED);
    CHECK_EQ(err, 55);
    CHECK_EQ(completed, 5);
    for (int i = 0; i < 5; i++) CHECK_EQ(NUM(res[i]), i * i);
    /* The error pointer is optional. */
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args, N, 60, res, &completed, NULL), PYTH_EFAILED);
    CHECK_EQ(completed, 5);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);

    /* Tasks not yet started when the failure is seen are cancelled. */
    ex = pyth_executor_new(1, "mapc", NULL, NULL);
    map_gate = pyth_event_new();
    atomic_store(&map_ran, 0);
    void *args2[10];
    for (int i = 0; i < 10; i++) args2[i] = ITEM(i == 0 ? 5 : 3); /* fails, then waits at the gate */
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args2, 10, 60, res, &completed, &err), PYTH_EFAILED);
    CHECK_EQ(completed, 0);
    CHECK_EQ(err, 55);
    pyth_event_set(map_gate);
    CHECK_STATUS(pyth_executor_shutdown(ex, true, false), PYTH_OK);
    CHECK(atomic_load(&map_ran) <= 2); /* the failing one, and at most the one already started */
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    CHECK_STATUS(pyth_event_free(map_gate), PYTH_OK);
    map_gate = NULL;
}

TEST(map_timeout) {
    pyth_executor_t *ex = pyth_executor_new(2, "mapt", NULL, NULL);
    map_gate = pyth_event_new();
    enum { N = 8 };
    void *args[N], *res[N];
    for (int i = 0; i < N; i++) args[i] = ITEM(i == 5 ? 6 : i);
    size_t completed = 99;
    double t0 = now_s();
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args, N, 0.3, res, &completed, NULL), PYTH_TIMEOUT);
    double el = now_s() - t0;
    CHECK(el >= 0.3 - 0.001);
    CHECK(el < 0.3 + h_slack());
    CHECK_EQ(completed, 3); /* 0, 1, 2; then 3 waits at the gate */
    for (int i = 0; i < 3; i++) CHECK_EQ(NUM(res[i]), i * i);
    pyth_event_set(map_gate);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
    CHECK_STATUS(pyth_event_free(map_gate), PYTH_OK);
    map_gate = NULL;
}

TEST(map_bad_arguments) {
    pyth_executor_t *ex = pyth_executor_new(1, "mapb", NULL, NULL);
    void *args[1] = {ITEM(2)}, *res[1];
    CHECK_STATUS(pyth_executor_map(ex, NULL, args, 1, 1, res, NULL, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_executor_map(NULL, map_fn, args, 1, 1, res, NULL, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_executor_map(ex, map_fn, NULL, 1, 1, res, NULL, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args, 1, 1, NULL, NULL, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args, 1, NAN, res, NULL, NULL), PYTH_EVALUE);
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args, 1, 1, res, NULL, NULL), PYTH_OK);
    CHECK_EQ(NUM(res[0]), 4);
    CHECK_STATUS(pyth_executor_shutdown(ex, true, false), PYTH_OK);
    CHECK_STATUS(pyth_executor_map(ex, map_fn, args, 1, 1, res, NULL, NULL), PYTH_ESHUTDOWN);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);
}

/* ---- bad handles ----------------------------------------------------------------------------- */

TEST(future_bad_handles) {
    void *r;
    CHECK_STATUS(pyth_future_result(NULL, 0, &r), PYTH_EINVAL);
    CHECK(!pyth_future_cancel(NULL));
    CHECK(!pyth_future_done(NULL));
    CHECK(!pyth_future_running(NULL));
    CHECK(!pyth_future_cancelled(NULL));
    CHECK_EQ(pyth_future_error(NULL), 0);
    CHECK_STATUS(pyth_future_add_done_callback(NULL, count_cb, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_future_free(NULL), PYTH_OK);

    pyth_queue_t *q = pyth_queue_new(0);
    pyth_future_t *wrong = (pyth_future_t *)q;
    CHECK_STATUS(pyth_future_result(wrong, 0, &r), PYTH_EINVAL);
    CHECK(!pyth_future_cancel(wrong));
    CHECK(!pyth_future_done(wrong));
    CHECK(!pyth_future_running(wrong));
    CHECK(!pyth_future_cancelled(wrong));
    CHECK_EQ(pyth_future_error(wrong), 0);
    CHECK_STATUS(pyth_future_add_done_callback(wrong, count_cb, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_future_free(wrong), PYTH_EINVAL);
    CHECK_STATUS(pyth_as_completed(&wrong, 1, 0, count_cb, NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_put(q, NULL, false, PYTH_FOREVER), PYTH_OK); /* intact */
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

int main(void) {
    double t0 = now_s();
    RUN(result_timeout_then_ok);
    RUN(result_woken_from_other_thread);
    RUN(failing_task);
    RUN(states_through_life);
    RUN(cancel_only_while_pending);
    RUN(done_callbacks);
    RUN(free_future_any_time);
    RUN(free_future_while_others_use_it);
    RUN(wait_first_completed);
    RUN(wait_all_completed);
    RUN(wait_first_exception);
    RUN(wait_bad_arguments);
    RUN(as_completed_order);
    RUN(as_completed_timeout);
    RUN(waits_survive_signals);
    RUN(map_results_in_order);
    RUN(map_first_failure);
    RUN(map_timeout);
    RUN(map_bad_arguments);
    RUN(future_bad_handles);
    fprintf(stderr, "%.2fs\n", now_s() - t0);
    return REPORT();
}
