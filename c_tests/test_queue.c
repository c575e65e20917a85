/* pyth_queue_*: Python's queue.Queue, LifoQueue and PriorityQueue
 * (3.13 semantics, shutdown included). SimpleQueue: test_simple_queue.c. */
#include "harness.h"
#include <math.h>
#include <stdint.h>

#define ITEM(n) ((void *)(uintptr_t)(n))
#define NUM(p) ((uintptr_t)(p))

/* ---- a thread blocked in one queue call --------------------------------- */

enum { OP_GET, OP_PUT, OP_JOIN };

typedef struct {
    pyth_queue_t *q;
    int op;
    bool block;
    double timeout;
    void *item; /* put: what to put; get: what was gotten */
    atomic_int tid;
    atomic_int done;
    pyth_status st;
    pyth_status last_status; /* the thread's pyth_last_status() after the call */
    char msg[128];           /* and its pyth_last_error() */
    double elapsed;
} call_t;

static void *call_fn(void *p) {
    call_t *c = p;
    atomic_store(&c->tid, h_gettid());
    double t0 = now_s();
    switch (c->op) {
    case OP_GET: c->st = pyth_queue_get(c->q, &c->item, c->block, c->timeout); break;
    case OP_PUT: c->st = pyth_queue_put(c->q, c->item, c->block, c->timeout); break;
    case OP_JOIN: c->st = pyth_queue_join(c->q); break;
    }
    c->elapsed = now_s() - t0;
    c->last_status = pyth_last_status();
    snprintf(c->msg, sizeof c->msg, "%s", pyth_last_error());
    atomic_store(&c->done, 1);
    return NULL;
}

/* Starts `op` in a new thread and waits until it sleeps inside the call. */
static h_thread start_blocked(call_t *c, pyth_queue_t *q, int op, void *item, double timeout) {
    memset(c, 0, sizeof *c);
    c->q = q;
    c->op = op;
    c->block = true;
    c->timeout = timeout;
    c->item = item;
    h_thread t = spawn(call_fn, c);
    CHECK(WAIT_UNTIL(atomic_load(&c->tid) != 0, 30));
    CHECK(WAIT_BLOCKED(atomic_load(&c->tid), 30));
    CHECK(!atomic_load(&c->done));
    return t;
}

/* Orders integer items. */
static int cmp_items(const void *a, const void *b, void *ctx) {
    (void)ctx;
    return (NUM(a) > NUM(b)) - (NUM(a) < NUM(b));
}

/* ---- order ---------------------------------------------------------------- */

TEST(fifo_order) {
    pyth_queue_t *q = pyth_queue_new(0);
    CHECK(q != NULL);
    CHECK(pyth_queue_empty(q));
    CHECK(!pyth_queue_full(q));
    CHECK_EQ(pyth_queue_qsize(q), 0);
    for (uintptr_t i = 1; i <= 1000; i++) CHECK_STATUS(pyth_queue_put(q, ITEM(i), true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(pyth_queue_qsize(q), 1000);
    CHECK(!pyth_queue_empty(q));
    CHECK(!pyth_queue_full(q)); /* unbounded: never full */
    for (uintptr_t i = 1; i <= 1000; i++) {
        void *v = NULL;
        CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
        CHECK_EQ(NUM(v), i);
    }
    CHECK(pyth_queue_empty(q));
    /* NULL is an ordinary item. */
    void *v = ITEM(7);
    CHECK_STATUS(pyth_queue_put(q, NULL, false, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_OK);
    CHECK(v == NULL);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(lifo_order) {
    pyth_queue_t *q = pyth_lifo_queue_new(0);
    CHECK(q != NULL);
    for (uintptr_t i = 1; i <= 100; i++) CHECK_STATUS(pyth_queue_put(q, ITEM(i), true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(pyth_queue_qsize(q), 100);
    for (uintptr_t i = 100; i >= 51; i--) {
        void *v = NULL;
        CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
        CHECK_EQ(NUM(v), i);
    }
    /* Interleaved: the newest always comes out first. */
    CHECK_STATUS(pyth_queue_put(q, ITEM(500), true, PYTH_FOREVER), PYTH_OK);
    void *v = NULL;
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 500);
    for (uintptr_t i = 50; i >= 1; i--) {
        CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_OK);
        CHECK_EQ(NUM(v), i);
    }
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_EMPTY);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

typedef struct { int prio; int seq; } pitem;

static atomic_long cmp_calls;
static int ctx_token;
static atomic_int bad_ctx;

static int by_prio(const void *a, const void *b, void *ctx) {
    if (ctx != &ctx_token) atomic_fetch_add(&bad_ctx, 1);
    atomic_fetch_add(&cmp_calls, 1);
    const pitem *x = a, *y = b;
    return (x->prio > y->prio) - (x->prio < y->prio);
}

/* Returns huge magnitudes: only the sign may matter. */
static int by_prio_big(const void *a, const void *b, void *ctx) {
    (void)ctx;
    const pitem *x = a, *y = b;
    return x->prio < y->prio ? INT32_MIN : x->prio > y->prio ? INT32_MAX : 0;
}

static void check_priority_order(int (*cmp)(const void *, const void *, void *), int n) {
    pitem *items = calloc((size_t)n, sizeof *items);
    pyth_queue_t *q = pyth_priority_queue_new(0, cmp, &ctx_token);
    CHECK(q != NULL);
    unsigned seed = 12345;
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        items[i].prio = (int)((seed >> 16) % 10); /* many equal priorities */
        items[i].seq = i;
        CHECK_STATUS(pyth_queue_put(q, &items[i], true, PYTH_FOREVER), PYTH_OK);
    }
    CHECK_EQ(pyth_queue_qsize(q), n);
    const pitem *prev = NULL;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        void *v = NULL;
        CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_OK);
        const pitem *it = v;
        if (!it) { bad++; break; }
        if (prev && (it->prio < prev->prio || (it->prio == prev->prio && it->seq < prev->seq))) bad++;
        prev = it;
    }
    CHECK_EQ(bad, 0);
    CHECK(pyth_queue_empty(q));
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
    free(items);
}

TEST(priority_order) {
    /* The classic example: lowest first, equal priorities in insertion order. */
    pitem it[] = {{3, 0}, {1, 1}, {3, 2}, {1, 3}, {2, 4}, {0, 5}, {2, 6}};
    int want[] = {5, 1, 3, 4, 6, 0, 2};
    pyth_queue_t *q = pyth_priority_queue_new(0, by_prio, &ctx_token);
    CHECK(q != NULL);
    for (size_t i = 0; i < sizeof it / sizeof *it; i++)
        CHECK_STATUS(pyth_queue_put(q, &it[i], true, PYTH_FOREVER), PYTH_OK);
    for (size_t i = 0; i < sizeof it / sizeof *it; i++) {
        void *v = NULL;
        CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
        CHECK_EQ(((pitem *)v)->seq, want[i]);
    }
    CHECK(atomic_load(&cmp_calls) > 0);
    CHECK_EQ(atomic_load(&bad_ctx), 0); /* ctx reached the comparator */
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);

    check_priority_order(by_prio, (int)ITERS(5000));
    check_priority_order(by_prio_big, (int)ITERS(5000));
    CHECK_EQ(atomic_load(&bad_ctx), 0);

    /* Items interleaved with gets. */
    pitem a = {5, 0}, b = {1, 1}, c = {5, 2}, d = {0, 3};
    q = pyth_priority_queue_new(0, by_prio, &ctx_token);
    void *v = NULL;
    pyth_queue_put(q, &a, true, PYTH_FOREVER);
    pyth_queue_put(q, &b, true, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK(v == &b);
    pyth_queue_put(q, &c, true, PYTH_FOREVER);
    pyth_queue_put(q, &d, true, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK(v == &d);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK(v == &a);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK(v == &c);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(priority_null_cmp) {
    CHECK(pyth_priority_queue_new(0, NULL, NULL) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    CHECK(*pyth_last_error());
}

/* ---- bounds and timeouts --------------------------------------------------- */

static void check_bounded(pyth_queue_t *q) {
    CHECK_STATUS(pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER), PYTH_OK);
    CHECK(!pyth_queue_full(q));
    CHECK_STATUS(pyth_queue_put(q, ITEM(2), false, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_queue_full(q));
    CHECK_EQ(pyth_queue_qsize(q), 2);

    double t0 = now_s();
    CHECK_STATUS(pyth_queue_put(q, ITEM(3), false, PYTH_FOREVER), PYTH_FULL);
    CHECK_STATUS(pyth_queue_put(q, ITEM(3), false, 5.0), PYTH_FULL);   /* block false: at once */
    CHECK_STATUS(pyth_queue_put(q, ITEM(3), true, 0.0), PYTH_FULL);
    CHECK_STATUS(pyth_queue_put(q, ITEM(3), true, -0.0), PYTH_FULL);   /* -0.0 is not negative */
    CHECK(now_s() - t0 < h_slack());

    t0 = now_s();
    CHECK_STATUS(pyth_queue_put(q, ITEM(3), true, 0.15), PYTH_FULL);
    double el = now_s() - t0;
    CHECK(el >= 0.15 - 0.001);
    CHECK(el < 0.15 + h_slack());
    CHECK_EQ(pyth_queue_qsize(q), 2); /* nothing was added */
    CHECK(pyth_queue_full(q));

    void *v = NULL;
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_OK);
    CHECK(!pyth_queue_full(q));
    CHECK_STATUS(pyth_queue_put(q, ITEM(4), true, 0.15), PYTH_OK); /* room: no wait */
    CHECK(pyth_queue_full(q));
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_queue_empty(q));
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(maxsize_and_full) {
    check_bounded(pyth_queue_new(2));
    check_bounded(pyth_lifo_queue_new(2));
    check_bounded(pyth_priority_queue_new(2, cmp_items, NULL));

    pyth_queue_t *q = pyth_queue_new(1);
    CHECK_STATUS(pyth_queue_put(q, ITEM(1), false, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_queue_full(q));
    CHECK_STATUS(pyth_queue_put(q, ITEM(2), false, PYTH_FOREVER), PYTH_FULL);
    void *v = NULL;
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 1);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(empty_and_timed_get) {
    pyth_queue_t *qs[3] = {pyth_queue_new(0), pyth_lifo_queue_new(3), pyth_priority_queue_new(0, cmp_items, NULL)};
    for (int k = 0; k < 3; k++) {
        pyth_queue_t *q = qs[k];
        void *v = ITEM(99);
        double t0 = now_s();
        CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_EMPTY);
        CHECK_STATUS(pyth_queue_get(q, &v, false, 3.0), PYTH_EMPTY);
        CHECK_STATUS(pyth_queue_get(q, &v, true, 0.0), PYTH_EMPTY);
        CHECK_STATUS(pyth_queue_get(q, &v, true, -0.0), PYTH_EMPTY);
        CHECK(now_s() - t0 < h_slack());
        t0 = now_s();
        CHECK_STATUS(pyth_queue_get(q, &v, true, 0.15), PYTH_EMPTY);
        double el = now_s() - t0;
        CHECK(el >= 0.15 - 0.001);
        CHECK(el < 0.15 + h_slack());
        CHECK(pyth_queue_empty(q));
        CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
    }
}

TEST(bad_timeouts) {
    pyth_queue_t *q = pyth_queue_new(2);
    void *v = NULL;
    const double negatives[] = {-0.5, -2.0, -1e-9, -INFINITY, -PYTH_TIMEOUT_MAX};
    /* On an empty queue (would block) and a half-full one (would not). */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof negatives / sizeof *negatives; i++) {
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), true, negatives[i]), PYTH_EVALUE);
            CHECK_MSG("'timeout' must be a non-negative number");
            CHECK_STATUS(pyth_queue_get(q, &v, true, negatives[i]), PYTH_EVALUE);
            CHECK_MSG("'timeout' must be a non-negative number");
        }
        CHECK_STATUS(pyth_queue_put(q, ITEM(9), true, NAN), PYTH_EVALUE);
        CHECK_STATUS(pyth_queue_get(q, &v, true, NAN), PYTH_EVALUE);
        CHECK_STATUS(pyth_queue_put(q, ITEM(9), true, PYTH_TIMEOUT_MAX * 2), PYTH_EOVERFLOW);
        CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_TIMEOUT_MAX * 2), PYTH_EOVERFLOW);
        CHECK_STATUS(pyth_queue_put(q, ITEM(9), true, INFINITY), PYTH_EOVERFLOW);
        CHECK_STATUS(pyth_queue_get(q, &v, true, INFINITY), PYTH_EOVERFLOW);
        CHECK_EQ(pyth_queue_qsize(q), round); /* nothing moved */
        if (round == 0) CHECK_STATUS(pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER), PYTH_OK);
    }
    /* The largest timeout is accepted. */
    CHECK_STATUS(pyth_queue_put(q, ITEM(2), true, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_EQ(NUM(v), 1);
    /* NULL out-pointer. */
    CHECK_STATUS(pyth_queue_get(q, NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_get(q, NULL, false, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_EQ(pyth_queue_qsize(q), 1); /* the item was not lost */
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 2);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

/* The timeout is validated with block == false too (API.md: one parser
 * validates every timeout argument, whether or not the call would block;
 * Python's Queue ignores the timeout when block is false, the C API does
 * not), on a bounded queue that is empty, half full and full, and on an
 * unbounded one. Nothing moves. */
TEST(bad_timeouts_nonblocking) {
    pyth_queue_t *qs[4] = {pyth_queue_new(2), pyth_lifo_queue_new(2), pyth_priority_queue_new(2, cmp_items, NULL),
                           pyth_queue_new(0)};
    for (int k = 0; k < 4; k++) {
        pyth_queue_t *q = qs[k];
        int states = k < 3 ? 3 : 2; /* items in it: 0, 1 (and 2: full) */
        for (int fill = 0; fill < states; fill++) {
            void *v = ITEM(77);
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), false, -1.5), PYTH_EVALUE);
            CHECK_MSG("'timeout' must be a non-negative number");
            CHECK_STATUS(pyth_queue_get(q, &v, false, -1.5), PYTH_EVALUE);
            CHECK_MSG("'timeout' must be a non-negative number");
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), false, -INFINITY), PYTH_EVALUE);
            CHECK_MSG("'timeout' must be a non-negative number");
            CHECK_STATUS(pyth_queue_get(q, &v, false, -1e-9), PYTH_EVALUE);
            CHECK_MSG("'timeout' must be a non-negative number");
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), false, NAN), PYTH_EVALUE);
            CHECK_MSG("Invalid value NaN (not a number)");
            CHECK_STATUS(pyth_queue_get(q, &v, false, NAN), PYTH_EVALUE);
            CHECK_MSG("Invalid value NaN (not a number)");
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), false, PYTH_TIMEOUT_MAX * 2), PYTH_EOVERFLOW);
            CHECK_MSG("timeout value is too large");
            CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_TIMEOUT_MAX * 2), PYTH_EOVERFLOW);
            CHECK_MSG("timeout value is too large");
            CHECK_EQ(NUM(v), 77); /* the out-pointer was not written */
            CHECK_EQ(pyth_queue_qsize(q), fill);
            if (fill + 1 < states) CHECK_STATUS(pyth_queue_put(q, ITEM(fill + 1), false, PYTH_FOREVER), PYTH_OK);
        }
        /* A non-negative timeout with block == false is accepted and does
         * not make the call wait. */
        double t0 = now_s();
        if (k < 3) {
            CHECK(pyth_queue_full(q));
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), false, 5.0), PYTH_FULL);
        }
        void *v = NULL;
        for (int i = 0; i + 1 < states; i++) CHECK_STATUS(pyth_queue_get(q, &v, false, i ? 0.0 : 5.0), PYTH_OK);
        CHECK_STATUS(pyth_queue_get(q, &v, false, 5.0), PYTH_EMPTY);
        CHECK(now_s() - t0 < h_slack());
        CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
    }
}

/* ---- blocking calls woken by other threads ---------------------------------- */

TEST(blocking_get_woken_by_put) {
    pyth_queue_t *q = pyth_queue_new(0);
    for (int k = 0; k < 2; k++) {
        call_t c;
        h_thread t = start_blocked(&c, q, OP_GET, NULL, k == 0 ? PYTH_FOREVER : 60.0);
        CHECK(STAYS_FALSE(atomic_load(&c.done), 0.05));
        CHECK_STATUS(pyth_queue_put(q, ITEM(42 + k), true, PYTH_FOREVER), PYTH_OK);
        join_within(t, 30);
        CHECK_STATUS(c.st, PYTH_OK);
        CHECK_EQ(NUM(c.item), 42 + k);
        CHECK(c.elapsed < 60.0);
    }
    CHECK(pyth_queue_empty(q));
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(blocking_put_woken_by_get) {
    pyth_queue_t *q = pyth_queue_new(1);
    CHECK_STATUS(pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER), PYTH_OK);
    for (int k = 0; k < 2; k++) {
        call_t c;
        h_thread t = start_blocked(&c, q, OP_PUT, ITEM(2 + k), k == 0 ? PYTH_FOREVER : 60.0);
        CHECK(STAYS_FALSE(atomic_load(&c.done), 0.05));
        CHECK_EQ(pyth_queue_qsize(q), 1);
        void *v = NULL;
        CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
        CHECK_EQ(NUM(v), 1 + k);
        join_within(t, 30);
        CHECK_STATUS(c.st, PYTH_OK);
        CHECK(pyth_queue_full(q));
    }
    void *v = NULL;
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 3);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

/* ---- task_done and join ------------------------------------------------------ */

TEST(task_done_too_many) {
    pyth_queue_t *q = pyth_queue_new(0);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_EVALUE);
    CHECK_MSG("task_done() called too many times");
    CHECK_STATUS(pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_queue_put(q, ITEM(2), true, PYTH_FOREVER), PYTH_OK);
    void *v;
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_EVALUE);
    CHECK_MSG("task_done() called too many times");
    CHECK_STATUS(pyth_queue_join(q), PYTH_OK); /* nothing unfinished: at once */
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

typedef struct {
    pyth_queue_t *q;
    atomic_long processed;
    atomic_int errors;
} worker_ctx;

static void *join_worker(void *p) {
    worker_ctx *w = p;
    for (;;) {
        void *v = NULL;
        pyth_status st = pyth_queue_get(w->q, &v, true, PYTH_FOREVER);
        if (st == PYTH_ESHUTDOWN) return NULL;
        if (st != PYTH_OK) { atomic_fetch_add(&w->errors, 1); return NULL; }
        for (volatile int i = 0; i < 200; i++) {} /* some "work" */
        atomic_fetch_add(&w->processed, 1);      /* before task_done */
        if (pyth_queue_task_done(w->q) != PYTH_OK) atomic_fetch_add(&w->errors, 1);
    }
}

TEST(join_waits_for_every_task_done) {
    worker_ctx w = {.q = pyth_queue_new(0)};
    h_thread ts[2] = {spawn(join_worker, &w), spawn(join_worker, &w)};
    long total = 0;
    for (int round = 0; round < 20; round++) {
        long n = ITERS(2000);
        for (long i = 0; i < n; i++) pyth_queue_put(w.q, ITEM(i + 1), true, PYTH_FOREVER);
        total += n;
        CHECK_STATUS(pyth_queue_join(w.q), PYTH_OK);
        CHECK_EQ(atomic_load(&w.processed), total); /* all marked done */
        CHECK(pyth_queue_empty(w.q));
    }
    CHECK_STATUS(pyth_queue_shutdown(w.q, false), PYTH_OK);
    join_within(ts[0], 30);
    join_within(ts[1], 30);
    CHECK_EQ(atomic_load(&w.errors), 0);
    CHECK_STATUS(pyth_queue_free(w.q), PYTH_OK);
}

TEST(join_blocks_until_last_task_done) {
    pyth_queue_t *q = pyth_queue_new(0);
    for (int i = 0; i < 3; i++) pyth_queue_put(q, ITEM(i + 1), true, PYTH_FOREVER);
    void *v;
    for (int i = 0; i < 3; i++) CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_queue_empty(q));
    call_t c;
    h_thread t = start_blocked(&c, q, OP_JOIN, NULL, PYTH_FOREVER); /* empty but unfinished */
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK);
    CHECK(STAYS_FALSE(atomic_load(&c.done), 0.1));
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK);
    join_within(t, 30);
    CHECK_STATUS(c.st, PYTH_OK);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

/* ---- shutdown ------------------------------------------------------------------ */

TEST(shutdown_not_immediate) {
    /* A blocked putter wakes with ESHUTDOWN; items left can still be gotten. */
    pyth_queue_t *q = pyth_queue_new(2);
    pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER);
    pyth_queue_put(q, ITEM(2), true, PYTH_FOREVER);
    call_t p1, p2;
    h_thread t1 = start_blocked(&p1, q, OP_PUT, ITEM(3), PYTH_FOREVER);
    h_thread t2 = start_blocked(&p2, q, OP_PUT, ITEM(4), 60.0);
    CHECK_STATUS(pyth_queue_shutdown(q, false), PYTH_OK);
    join_within(t1, 30);
    join_within(t2, 30);
    CHECK_EQ(p1.st, PYTH_ESHUTDOWN);
    CHECK_EQ(p1.last_status, PYTH_ESHUTDOWN);
    CHECK(p1.msg[0] != 0);
    CHECK_EQ(p2.st, PYTH_ESHUTDOWN);
    CHECK(p2.elapsed < 30.0); /* woken, not timed out */

    CHECK_STATUS(pyth_queue_put(q, ITEM(5), true, PYTH_FOREVER), PYTH_ESHUTDOWN);
    CHECK_STATUS(pyth_queue_put(q, ITEM(5), false, PYTH_FOREVER), PYTH_ESHUTDOWN); /* even when full */
    CHECK_STATUS(pyth_queue_shutdown(q, false), PYTH_OK);                           /* twice is fine */
    CHECK_EQ(pyth_queue_qsize(q), 2);
    void *v = NULL;
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 1);
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 2);
    double t0 = now_s();
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_ESHUTDOWN); /* drained: at once */
    CHECK_STATUS(pyth_queue_get(q, &v, true, 10.0), PYTH_ESHUTDOWN);
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_ESHUTDOWN);
    CHECK(now_s() - t0 < h_slack());
    CHECK_STATUS(pyth_queue_put(q, ITEM(6), false, PYTH_FOREVER), PYTH_ESHUTDOWN);
    /* task_done and join still work. */
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_EVALUE);
    CHECK_STATUS(pyth_queue_join(q), PYTH_OK);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);

    /* Blocked getters wake with ESHUTDOWN. */
    q = pyth_lifo_queue_new(0);
    call_t g1, g2;
    t1 = start_blocked(&g1, q, OP_GET, NULL, PYTH_FOREVER);
    t2 = start_blocked(&g2, q, OP_GET, NULL, 60.0);
    CHECK_STATUS(pyth_queue_shutdown(q, false), PYTH_OK);
    join_within(t1, 30);
    join_within(t2, 30);
    CHECK_EQ(g1.st, PYTH_ESHUTDOWN);
    CHECK_EQ(g1.last_status, PYTH_ESHUTDOWN);
    CHECK_EQ(g2.st, PYTH_ESHUTDOWN);
    CHECK(g2.elapsed < 30.0);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(shutdown_immediate) {
    /* Discards the items (0xdead... are never dereferenced), get fails at once, join returns. */
    pyth_queue_t *q = pyth_queue_new(0);
    for (uintptr_t i = 0; i < 3; i++) pyth_queue_put(q, ITEM(0xdead0000 + i), true, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_shutdown(q, true), PYTH_OK);
    CHECK_EQ(pyth_queue_qsize(q), 0);
    CHECK(pyth_queue_empty(q));
    void *v = NULL;
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_ESHUTDOWN);
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_ESHUTDOWN);
    CHECK_STATUS(pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER), PYTH_ESHUTDOWN);
    CHECK_STATUS(pyth_queue_join(q), PYTH_OK);                      /* discarded items count as done */
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_EVALUE);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);

    /* A blocked join wakes; so do blocked putters. */
    q = pyth_queue_new(2);
    pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER);
    pyth_queue_put(q, ITEM(2), true, PYTH_FOREVER);
    call_t j, p;
    h_thread tj = start_blocked(&j, q, OP_JOIN, NULL, PYTH_FOREVER);
    h_thread tp = start_blocked(&p, q, OP_PUT, ITEM(3), PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_shutdown(q, true), PYTH_OK);
    join_within(tj, 30);
    join_within(tp, 30);
    CHECK_STATUS(j.st, PYTH_OK);
    CHECK_EQ(p.st, PYTH_ESHUTDOWN);
    CHECK_EQ(pyth_queue_qsize(q), 0);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);

    /* Blocked getters wake too. */
    q = pyth_priority_queue_new(0, cmp_items, NULL);
    call_t g;
    h_thread tg = start_blocked(&g, q, OP_GET, NULL, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_shutdown(q, true), PYTH_OK);
    join_within(tg, 30);
    CHECK_EQ(g.st, PYTH_ESHUTDOWN);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);

    /* An item gotten but not marked done still holds join (Python 3.13). */
    q = pyth_queue_new(0);
    pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER);
    pyth_queue_put(q, ITEM(2), true, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_queue_shutdown(q, true), PYTH_OK); /* discards item 2 */
    tj = start_blocked(&j, q, OP_JOIN, NULL, PYTH_FOREVER);
    CHECK(STAYS_FALSE(atomic_load(&j.done), 0.05));
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK);
    join_within(tj, 30);
    CHECK_STATUS(j.st, PYTH_OK);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_EVALUE);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

/* ---- free while in use ------------------------------------------------------------ */

TEST(free_busy) {
    pyth_queue_t *q = pyth_queue_new(1);
    call_t c;
    /* A blocked getter. */
    h_thread t = start_blocked(&c, q, OP_GET, NULL, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_free(q), PYTH_EBUSY);
    CHECK_EQ(pyth_queue_qsize(q), 0); /* still valid */
    CHECK_STATUS(pyth_queue_put(q, ITEM(5), true, PYTH_FOREVER), PYTH_OK);
    join_within(t, 30);
    CHECK_STATUS(c.st, PYTH_OK);
    CHECK_EQ(NUM(c.item), 5);
    /* A blocked putter. */
    CHECK_STATUS(pyth_queue_put(q, ITEM(6), true, PYTH_FOREVER), PYTH_OK);
    t = start_blocked(&c, q, OP_PUT, ITEM(7), PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_free(q), PYTH_EBUSY);
    void *v = NULL;
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 6);
    join_within(t, 30);
    CHECK_STATUS(c.st, PYTH_OK);
    /* A blocked join (item 7 and the earlier ones are unfinished). */
    t = start_blocked(&c, q, OP_JOIN, NULL, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_free(q), PYTH_EBUSY);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 7);
    for (int i = 0; i < 3; i++) CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK);
    join_within(t, 30);
    CHECK_STATUS(c.st, PYTH_OK);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK); /* nobody left */

    /* A queue that still holds items can be freed; the items are not touched. */
    q = pyth_queue_new(0);
    CHECK_STATUS(pyth_queue_put(q, ITEM(0xdeadbeef), true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_queue_put(q, ITEM(0xdeadbee0), true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
    CHECK_STATUS(pyth_queue_free(NULL), PYTH_OK);
}

/* ---- handles ------------------------------------------------------------------------ */

TEST(bad_handles) {
    void *v = NULL;
    CHECK_STATUS(pyth_queue_put(NULL, ITEM(1), true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_get(NULL, &v, false, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_task_done(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_join(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_shutdown(NULL, false), PYTH_EINVAL);
    CHECK_EQ(pyth_queue_qsize(NULL), 0);
    CHECK(!pyth_queue_empty(NULL));
    CHECK(!pyth_queue_full(NULL));

    /* Another kind of handle. */
    pyth_event_t *e = pyth_event_new();
    pyth_queue_t *bad = (pyth_queue_t *)e;
    CHECK_STATUS(pyth_queue_put(bad, ITEM(1), true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_get(bad, &v, false, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_task_done(bad), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_join(bad), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_shutdown(bad, true), PYTH_EINVAL);
    CHECK_EQ(pyth_queue_qsize(bad), 0);
    CHECK(!pyth_queue_full(bad));
    CHECK_STATUS(pyth_queue_free(bad), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_set(e), PYTH_OK); /* the event is intact */
    CHECK(pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);

    /* A queue is not an event either. */
    pyth_queue_t *q = pyth_queue_new(0);
    CHECK_STATUS(pyth_event_set((pyth_event_t *)q), PYTH_EINVAL);
    CHECK_STATUS(pyth_queue_put(q, ITEM(1), false, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(pyth_queue_qsize(q), 1);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

/* ---- signals ------------------------------------------------------------------------ */

/* Timed waits neither return early nor fail when signals interrupt them (EINTR). */
typedef struct { pyth_queue_t *q; int after; } late_put_t;
static void *put_after_signals(void *p) {
    late_put_t *l = p;
    WAIT_UNTIL(atomic_load(&sig_count) >= l->after, 60);
    pyth_queue_put(l->q, ITEM(99), true, PYTH_FOREVER);
    return NULL;
}

static void *task_done_after_signals(void *p) {
    late_put_t *l = p;
    WAIT_UNTIL(atomic_load(&sig_count) >= l->after, 60);
    pyth_queue_task_done(l->q);
    return NULL;
}

TEST(waits_survive_signals) {
    h_thread spam = spam_start();

    pyth_queue_t *q = pyth_queue_new(1);
    void *v = NULL;
    double t0 = now_s();
    CHECK_STATUS(pyth_queue_get(q, &v, true, 0.3), PYTH_EMPTY);
    double el = now_s() - t0;
    CHECK(el >= 0.3 - 0.001);
    CHECK(el < 0.3 + h_slack());
    int before = atomic_load(&sig_count);
    CHECK(before > 5);
    pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER);
    t0 = now_s();
    CHECK_STATUS(pyth_queue_put(q, ITEM(2), true, 0.3), PYTH_FULL);
    el = now_s() - t0;
    CHECK(el >= 0.3 - 0.001);
    CHECK(el < 0.3 + h_slack());
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 1);
    /* An unbounded wait returns only for the item, however many signals come. */
    late_put_t l = {q, atomic_load(&sig_count) + 20};
    h_thread t = spawn(put_after_signals, &l);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 99);
    CHECK(atomic_load(&sig_count) >= l.after);
    join_within(t, 30);
    /* The same for join: it returns only after the last task_done. */
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_OK); /* one of two */
    l.after = atomic_load(&sig_count) + 20;
    t = spawn(task_done_after_signals, &l);
    CHECK_STATUS(pyth_queue_join(q), PYTH_OK);
    CHECK(atomic_load(&sig_count) >= l.after);
    join_within(t, 30);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_EVALUE);
    spam_stop(spam);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

/* ---- many producers and consumers ---------------------------------------------------- */

#define NPROD 4
#define NCONS 4

typedef struct {
    pyth_queue_t *q;
    long per;              /* items per producer */
    atomic_uchar *seen;    /* times each item was delivered */
    atomic_uchar *put_ok;  /* whether its put succeeded */
    atomic_long delivered;
    atomic_int errors;
    atomic_int shut_producers;
    bool fifo;             /* check per-producer order at each consumer */
    bool task_done;
    atomic_int next_id;
} mpmc_t;

typedef struct { mpmc_t *m; int id; } mpmc_arg;

static void *mpmc_producer(void *p) {
    mpmc_arg *a = p;
    mpmc_t *m = a->m;
    for (long i = 0; i < m->per; i++) {
        long idx = a->id * m->per + i;
        pyth_status st = pyth_queue_put(m->q, ITEM(idx + 1), true, PYTH_FOREVER);
        if (st == PYTH_OK) {
            atomic_store(&m->put_ok[idx], 1);
        } else {
            if (st == PYTH_ESHUTDOWN) atomic_fetch_add(&m->shut_producers, 1);
            else atomic_fetch_add(&m->errors, 1);
            /* After a shutdown every later put fails too. */
            if (pyth_queue_put(m->q, ITEM(idx + 1), false, PYTH_FOREVER) != PYTH_ESHUTDOWN)
                atomic_fetch_add(&m->errors, 1);
            break;
        }
    }
    return NULL;
}

static void *mpmc_consumer(void *p) {
    mpmc_t *m = ((mpmc_arg *)p)->m;
    long last[NPROD];
    for (int i = 0; i < NPROD; i++) last[i] = -1;
    for (;;) {
        void *v = NULL;
        pyth_status st = pyth_queue_get(m->q, &v, true, PYTH_FOREVER);
        if (st == PYTH_ESHUTDOWN) break;
        if (st != PYTH_OK || v == NULL) { atomic_fetch_add(&m->errors, 1); break; }
        long idx = (long)NUM(v) - 1;
        if (idx < 0 || idx >= NPROD * m->per) { atomic_fetch_add(&m->errors, 1); continue; }
        atomic_fetch_add(&m->seen[idx], 1);
        long prod = idx / m->per, i = idx % m->per;
        if (m->fifo && i <= last[prod]) atomic_fetch_add(&m->errors, 1);
        last[prod] = i;
        atomic_fetch_add(&m->delivered, 1);
        if (m->task_done && pyth_queue_task_done(m->q) != PYTH_OK) atomic_fetch_add(&m->errors, 1);
    }
    return NULL;
}

static void mpmc_init(mpmc_t *m, pyth_queue_t *q, long per, bool fifo) {
    memset(m, 0, sizeof *m);
    m->q = q;
    m->per = per;
    m->fifo = fifo;
    m->task_done = true;
    m->seen = calloc((size_t)(NPROD * per), 1);
    m->put_ok = calloc((size_t)(NPROD * per), 1);
}

static void mpmc_start(mpmc_t *m, mpmc_arg *args, h_thread *prod, h_thread *cons) {
    for (int i = 0; i < NPROD + NCONS; i++) args[i] = (mpmc_arg){m, i < NPROD ? i : i - NPROD};
    for (int i = 0; i < NCONS; i++) cons[i] = spawn(mpmc_consumer, &args[NPROD + i]);
    for (int i = 0; i < NPROD; i++) prod[i] = spawn(mpmc_producer, &args[i]);
}

static void mpmc_every_item_once(pyth_queue_t *q, bool fifo, long per) {
    mpmc_t m;
    mpmc_arg args[NPROD + NCONS];
    h_thread prod[NPROD], cons[NCONS];
    mpmc_init(&m, q, per, fifo);
    mpmc_start(&m, args, prod, cons);
    /* Meanwhile: the size never exceeds maxsize (8). */
    long over = 0;
    double end = now_s() + 120;
    while (atomic_load(&m.delivered) < NPROD * per / 2 && now_s() < end) {
        if (pyth_queue_qsize(q) > 8) over++;
        sched_yield();
    }
    CHECK_EQ(over, 0);
    for (int i = 0; i < NPROD; i++) join_within(prod[i], 120);
    CHECK_STATUS(pyth_queue_join(q), PYTH_OK); /* every item got task_done */
    CHECK_EQ(atomic_load(&m.delivered), NPROD * per);
    CHECK_STATUS(pyth_queue_shutdown(q, false), PYTH_OK);
    for (int i = 0; i < NCONS; i++) join_within(cons[i], 30);
    CHECK_EQ(atomic_load(&m.errors), 0);
    long wrong = 0;
    for (long i = 0; i < NPROD * per; i++) wrong += m.seen[i] != 1 || m.put_ok[i] != 1;
    CHECK_EQ(wrong, 0);
    CHECK_EQ(atomic_load(&m.delivered), NPROD * per);
    CHECK(pyth_queue_empty(q));
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
    free(m.seen);
    free(m.put_ok);
}

TEST(producers_consumers_fifo) {
    mpmc_every_item_once(pyth_queue_new(8), true, ITERS(100000));
}

TEST(producers_consumers_lifo_and_priority) {
    mpmc_every_item_once(pyth_lifo_queue_new(8), false, ITERS(20000));
    mpmc_every_item_once(pyth_priority_queue_new(8, cmp_items, NULL), false, ITERS(20000));
}

static void shutdown_race(bool immediate) {
    long per = ITERS(100000);
    mpmc_t m;
    mpmc_arg args[NPROD + NCONS];
    h_thread prod[NPROD], cons[NCONS];
    pyth_queue_t *q = pyth_queue_new(4);
    mpmc_init(&m, q, per, true);
    mpmc_start(&m, args, prod, cons);
    CHECK(WAIT_UNTIL(atomic_load(&m.delivered) >= per / 10, 60));
    CHECK_STATUS(pyth_queue_shutdown(q, immediate), PYTH_OK);
    /* Everyone exits. */
    for (int i = 0; i < NPROD; i++) join_within(prod[i], 30);
    for (int i = 0; i < NCONS; i++) join_within(cons[i], 30);
    CHECK_EQ(atomic_load(&m.errors), 0);
    CHECK(atomic_load(&m.shut_producers) > 0); /* they were still producing */
    long dup = 0, ghost = 0, lost = 0, ok = 0;
    for (long i = 0; i < NPROD * per; i++) {
        dup += m.seen[i] > 1;
        ghost += m.seen[i] && !m.put_ok[i]; /* delivered but never put */
        lost += m.put_ok[i] && !m.seen[i];
        ok += m.put_ok[i];
    }
    CHECK_EQ(dup, 0);
    CHECK_EQ(ghost, 0);
    if (!immediate) CHECK_EQ(lost, 0); /* drained: every accepted item was delivered */
    else CHECK(lost <= 4);             /* at most what the queue held (maxsize) */
    CHECK_EQ(atomic_load(&m.delivered), ok - lost);
    CHECK(pyth_queue_empty(q));
    void *v;
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_ESHUTDOWN);
    /* Every delivered item was marked done and the rest discarded: join returns. */
    call_t j = {.q = q, .op = OP_JOIN};
    h_thread tj = spawn(call_fn, &j);
    join_within(tj, 30);
    CHECK_STATUS(j.st, PYTH_OK);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
    free(m.seen);
    free(m.put_ok);
}

TEST(shutdown_race_drain) { shutdown_race(false); }
TEST(shutdown_race_immediate) { shutdown_race(true); }

int main(void) {
    double t0 = now_s();
    RUN(fifo_order);
    RUN(lifo_order);
    RUN(priority_order);
    RUN(priority_null_cmp);
    RUN(maxsize_and_full);
    RUN(empty_and_timed_get);
    RUN(bad_timeouts);
    RUN(bad_timeouts_nonblocking);
    RUN(blocking_get_woken_by_put);
    RUN(blocking_put_woken_by_get);
    RUN(task_done_too_many);
    RUN(join_waits_for_every_task_done);
    RUN(join_blocks_until_last_task_done);
    RUN(shutdown_not_immediate);
    RUN(shutdown_immediate);
    RUN(free_busy);
    RUN(bad_handles);
    RUN(waits_survive_signals);
    RUN(producers_consumers_fifo);
    RUN(producers_consumers_lifo_and_priority);
    RUN(shutdown_race_drain);
    RUN(shutdown_race_immediate);
    fprintf(stderr, "%.2fs\n", now_s() - t0);
    return REPORT();
}
