/* pyth_simple_queue_new: Python's queue.SimpleQueue (unbounded FIFO whose
 * put never blocks; no task_done, join or shutdown). */
#include "harness.h"
#include <math.h>
#include <stdint.h>

#define ITEM(n) ((void *)(uintptr_t)(n))
#define NUM(p) ((uintptr_t)(p))

typedef struct {
    pyth_queue_t *q;
    double timeout;
    void *item;
    atomic_int tid;
    atomic_int done;
    pyth_status st;
    double elapsed;
} getter_t;

static void *getter_fn(void *p) {
    getter_t *g = p;
    atomic_store(&g->tid, h_gettid());
    double t0 = now_s();
    g->st = pyth_queue_get(g->q, &g->item, true, g->timeout);
    g->elapsed = now_s() - t0;
    atomic_store(&g->done, 1);
    return NULL;
}

static h_thread start_getter(getter_t *g, pyth_queue_t *q, double timeout) {
    memset(g, 0, sizeof *g);
    g->q = q;
    g->timeout = timeout;
    h_thread t = spawn(getter_fn, g);
    CHECK(WAIT_UNTIL(atomic_load(&g->tid) != 0, 30));
    CHECK(WAIT_BLOCKED(atomic_load(&g->tid), 30));
    CHECK(!atomic_load(&g->done));
    return t;
}

TEST(simple_fifo) {
    pyth_queue_t *q = pyth_simple_queue_new();
    CHECK(q != NULL);
    CHECK(pyth_queue_empty(q));
    CHECK(!pyth_queue_full(q));
    CHECK_EQ(pyth_queue_qsize(q), 0);
    for (uintptr_t i = 1; i <= 1000; i++) CHECK_STATUS(pyth_queue_put(q, ITEM(i), true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(pyth_queue_qsize(q), 1000);
    CHECK(!pyth_queue_empty(q));
    CHECK(!pyth_queue_full(q));
    long bad = 0;
    for (uintptr_t i = 1; i <= 500; i++) {
        void *v = NULL;
        if (pyth_queue_get(q, &v, false, PYTH_FOREVER) != PYTH_OK || NUM(v) != i) bad++;
    }
    /* Puts between gets keep their place behind the older items. */
    for (uintptr_t i = 1001; i <= 1500; i++) pyth_queue_put(q, ITEM(i), false, PYTH_FOREVER);
    for (uintptr_t i = 501; i <= 1500; i++) {
        void *v = NULL;
        if (pyth_queue_get(q, &v, true, PYTH_FOREVER) != PYTH_OK || NUM(v) != i) bad++;
    }
    CHECK_EQ(bad, 0);
    CHECK(pyth_queue_empty(q));
    CHECK_EQ(pyth_queue_qsize(q), 0);
    /* NULL is an ordinary item. */
    void *v = ITEM(3);
    CHECK_STATUS(pyth_queue_put(q, NULL, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK(v == NULL);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(put_never_blocks) {
    pyth_queue_t *q = pyth_simple_queue_new();
    long n = ITERS(1000000);
    long bad = 0;
    double t0 = now_s();
    for (long i = 1; i <= n; i++) {
        /* block and timeout are irrelevant: there is always room. */
        if (pyth_queue_put(q, ITEM(i), i % 2 == 0, i % 3 == 0 ? 0.0 : PYTH_FOREVER) != PYTH_OK) bad++;
    }
    CHECK_EQ(bad, 0);
    CHECK(now_s() - t0 < 10 * h_slack());
    CHECK_EQ(pyth_queue_qsize(q), n);
    CHECK(!pyth_queue_full(q));
    for (long i = 1; i <= n; i++) {
        void *v = NULL;
        if (pyth_queue_get(q, &v, false, PYTH_FOREVER) != PYTH_OK || (long)NUM(v) != i) bad++;
    }
    CHECK_EQ(bad, 0);
    CHECK(pyth_queue_empty(q));
    /* Freed with items inside: its own memory goes (valgrind), the items are not touched. */
    for (long i = 0; i < 1000; i++) pyth_queue_put(q, ITEM(0xdead0000 + i), true, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(simple_empty_and_timeouts) {
    pyth_queue_t *q = pyth_simple_queue_new();
    void *v = ITEM(5);
    double t0 = now_s();
    CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_FOREVER), PYTH_EMPTY);
    CHECK_STATUS(pyth_queue_get(q, &v, false, 3.0), PYTH_EMPTY);
    CHECK_STATUS(pyth_queue_get(q, &v, true, 0.0), PYTH_EMPTY);
    CHECK(now_s() - t0 < h_slack());
    t0 = now_s();
    CHECK_STATUS(pyth_queue_get(q, &v, true, 0.15), PYTH_EMPTY);
    double el = now_s() - t0;
    CHECK(el >= 0.15 - 0.001);
    CHECK(el < 0.15 + h_slack());

    CHECK_STATUS(pyth_queue_get(q, &v, true, -0.5), PYTH_EVALUE);
    CHECK_MSG("'timeout' must be a non-negative number");
    CHECK_STATUS(pyth_queue_get(q, &v, true, -INFINITY), PYTH_EVALUE);
    CHECK_STATUS(pyth_queue_get(q, &v, true, NAN), PYTH_EVALUE);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_queue_get(q, &v, true, INFINITY), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_queue_get(q, NULL, false, PYTH_FOREVER), PYTH_EINVAL);

    /* With an item there: still validated; the item stays. */
    pyth_queue_put(q, ITEM(8), true, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_get(q, &v, true, -0.5), PYTH_EVALUE);
    CHECK_STATUS(pyth_queue_get(q, &v, true, NAN), PYTH_EVALUE);
    CHECK_STATUS(pyth_queue_get(q, &v, true, 1e300), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_queue_get(q, NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_EQ(pyth_queue_qsize(q), 1);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_EQ(NUM(v), 8);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

/* put takes a timeout too, and every timeout goes through the one parser
 * (API.md), with block == false as well, whether or not the call could
 * ever block: a put on a SimpleQueue never does. (Python's SimpleQueue.put
 * ignores block and timeout; the C API validates them.) Nothing moves. */
TEST(simple_bad_timeouts_put_and_nonblocking) {
    pyth_queue_t *q = pyth_simple_queue_new();
    for (int fill = 0; fill < 2; fill++) {
        void *v = ITEM(77);
        for (int b = 0; b < 2; b++) {
            bool block = b == 1;
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), block, -1.5), PYTH_EVALUE);
            CHECK_MSG("'timeout' must be a non-negative number");
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), block, -INFINITY), PYTH_EVALUE);
            CHECK_MSG("'timeout' must be a non-negative number");
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), block, NAN), PYTH_EVALUE);
            CHECK_MSG("Invalid value NaN (not a number)");
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), block, PYTH_TIMEOUT_MAX * 2), PYTH_EOVERFLOW);
            CHECK_MSG("timeout value is too large");
            CHECK_STATUS(pyth_queue_put(q, ITEM(9), block, INFINITY), PYTH_EOVERFLOW);
            CHECK_MSG("timeout value is too large");
        }
        CHECK_STATUS(pyth_queue_get(q, &v, false, -1.5), PYTH_EVALUE);
        CHECK_MSG("'timeout' must be a non-negative number");
        CHECK_STATUS(pyth_queue_get(q, &v, false, NAN), PYTH_EVALUE);
        CHECK_MSG("Invalid value NaN (not a number)");
        CHECK_STATUS(pyth_queue_get(q, &v, false, PYTH_TIMEOUT_MAX * 2), PYTH_EOVERFLOW);
        CHECK_MSG("timeout value is too large");
        CHECK_EQ(NUM(v), 77);
        CHECK_EQ(pyth_queue_qsize(q), fill);
        if (fill == 0) CHECK_STATUS(pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER), PYTH_OK);
    }
    /* Valid timeouts on put are accepted (and never wait). */
    double t0 = now_s();
    CHECK_STATUS(pyth_queue_put(q, ITEM(2), false, 5.0), PYTH_OK);
    CHECK_STATUS(pyth_queue_put(q, ITEM(3), true, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_STATUS(pyth_queue_put(q, ITEM(4), true, 0.0), PYTH_OK);
    CHECK(now_s() - t0 < h_slack());
    void *v = NULL;
    for (uintptr_t i = 1; i <= 4; i++) {
        CHECK_STATUS(pyth_queue_get(q, &v, false, i % 2 ? 5.0 : PYTH_FOREVER), PYTH_OK);
        CHECK_EQ(NUM(v), i);
    }
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(simple_no_task_done_join_shutdown) {
    pyth_queue_t *q = pyth_simple_queue_new();
    pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_task_done(q), PYTH_EINVAL);
    CHECK_MSG("'SimpleQueue' object has no attribute 'task_done'");
    CHECK_STATUS(pyth_queue_join(q), PYTH_EINVAL);
    CHECK_MSG("'SimpleQueue' object has no attribute 'join'");
    CHECK_STATUS(pyth_queue_shutdown(q, false), PYTH_EINVAL);
    CHECK_MSG("'SimpleQueue' object has no attribute 'shutdown'");
    CHECK_STATUS(pyth_queue_shutdown(q, true), PYTH_EINVAL);
    /* Nothing changed. */
    CHECK_EQ(pyth_queue_qsize(q), 1);
    CHECK_STATUS(pyth_queue_put(q, ITEM(2), true, PYTH_FOREVER), PYTH_OK);
    void *v = NULL;
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 1);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 2);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(simple_blocking_get_woken_by_put) {
    pyth_queue_t *q = pyth_simple_queue_new();
    for (int k = 0; k < 2; k++) {
        getter_t g;
        h_thread t = start_getter(&g, q, k == 0 ? PYTH_FOREVER : 60.0);
        CHECK(STAYS_FALSE(atomic_load(&g.done), 0.05));
        CHECK_STATUS(pyth_queue_put(q, ITEM(10 + k), true, PYTH_FOREVER), PYTH_OK);
        join_within(t, 30);
        CHECK_STATUS(g.st, PYTH_OK);
        CHECK_EQ(NUM(g.item), 10 + k);
        CHECK(g.elapsed < 30);
    }
    /* Four sleeping getters, four puts: each gets exactly one item. */
    getter_t gs[4];
    h_thread ts[4];
    for (int i = 0; i < 4; i++) ts[i] = start_getter(&gs[i], q, PYTH_FOREVER);
    for (int i = 0; i < 4; i++) pyth_queue_put(q, ITEM(1u << i), true, PYTH_FOREVER);
    uintptr_t mask = 0;
    for (int i = 0; i < 4; i++) {
        join_within(ts[i], 30);
        CHECK_STATUS(gs[i].st, PYTH_OK);
        mask |= NUM(gs[i].item);
    }
    CHECK_EQ(mask, 0xf);
    CHECK(pyth_queue_empty(q));
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

TEST(simple_free_busy) {
    pyth_queue_t *q = pyth_simple_queue_new();
    getter_t g;
    h_thread t = start_getter(&g, q, PYTH_FOREVER);
    CHECK_STATUS(pyth_queue_free(q), PYTH_EBUSY);
    CHECK(pyth_queue_empty(q)); /* still valid */
    CHECK_STATUS(pyth_queue_put(q, ITEM(77), true, PYTH_FOREVER), PYTH_OK);
    join_within(t, 30);
    CHECK_STATUS(g.st, PYTH_OK);
    CHECK_EQ(NUM(g.item), 77);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
    CHECK_STATUS(pyth_queue_free(NULL), PYTH_OK);
}

/* put from a destructor: a thread-local value's dtor runs as its thread exits. */
static pyth_queue_t *dtor_q;
static void put_in_dtor(void *value) { pyth_queue_put(dtor_q, value, true, PYTH_FOREVER); }
static pyth_local_t *dtor_local;
static int set_local(void *arg) { return pyth_local_set(dtor_local, arg) == PYTH_OK ? 0 : 1; }

TEST(simple_put_from_destructor) {
    dtor_q = pyth_simple_queue_new();
    dtor_local = pyth_local_new(NULL, NULL, put_in_dtor);
    pyth_thread_t *t = pyth_thread_new(set_local, ITEM(1234), "dtor-putter", 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 30), PYTH_OK);
    void *v = NULL;
    CHECK_STATUS(pyth_queue_get(dtor_q, &v, true, 30), PYTH_OK);
    CHECK_EQ(NUM(v), 1234);
    pyth_thread_free(t);
    CHECK_STATUS(pyth_local_free(dtor_local), PYTH_OK);
    CHECK_STATUS(pyth_queue_free(dtor_q), PYTH_OK);
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

TEST(simple_waits_survive_signals) {
    h_thread spam = spam_start();
    pyth_queue_t *q = pyth_simple_queue_new();
    void *v = NULL;
    double t0 = now_s();
    CHECK_STATUS(pyth_queue_get(q, &v, true, 0.3), PYTH_EMPTY);
    double el = now_s() - t0;
    CHECK(el >= 0.3 - 0.001);
    CHECK(el < 0.3 + h_slack());
    CHECK(atomic_load(&sig_count) > 5);
    late_put_t l = {q, atomic_load(&sig_count) + 20};
    h_thread t = spawn(put_after_signals, &l);
    CHECK_STATUS(pyth_queue_get(q, &v, true, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(NUM(v), 99);
    CHECK(atomic_load(&sig_count) >= l.after);
    join_within(t, 30);
    l.after = atomic_load(&sig_count) + 20;
    t = spawn(put_after_signals, &l);
    CHECK_STATUS(pyth_queue_get(q, &v, true, 100), PYTH_OK); /* timed, woken by the put */
    CHECK_EQ(NUM(v), 99);
    CHECK(atomic_load(&sig_count) >= l.after);
    join_within(t, 30);
    spam_stop(spam);
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

/* ---- 4 producers x 4 consumers -------------------------------------------- */

#define NPROD 4
#define NCONS 4
#define STOP ITEM(UINTPTR_MAX)

static pyth_queue_t *mq;
static long per;
static atomic_uchar *seen;
static atomic_long delivered;
static atomic_int errors;

static void *producer(void *p) {
    long id = (long)NUM(p);
    for (long i = 0; i < per; i++)
        if (pyth_queue_put(mq, ITEM(id * per + i + 1), true, PYTH_FOREVER) != PYTH_OK) atomic_fetch_add(&errors, 1);
    return NULL;
}

static void *consumer(void *p) {
    (void)p;
    long last[NPROD] = {-1, -1, -1, -1};
    for (;;) {
        void *v = NULL;
        if (pyth_queue_get(mq, &v, true, PYTH_FOREVER) != PYTH_OK) { atomic_fetch_add(&errors, 1); return NULL; }
        if (v == STOP) return NULL;
        long idx = (long)NUM(v) - 1;
        if (idx < 0 || idx >= NPROD * per) { atomic_fetch_add(&errors, 1); continue; }
        atomic_fetch_add(&seen[idx], 1);
        long prod = idx / per, i = idx % per;
        if (i <= last[prod]) atomic_fetch_add(&errors, 1); /* FIFO per producer */
        last[prod] = i;
        atomic_fetch_add(&delivered, 1);
    }
}

TEST(simple_producers_consumers) {
    mq = pyth_simple_queue_new();
    per = ITERS(100000);
    seen = calloc((size_t)(NPROD * per), 1);
    h_thread prod[NPROD], cons[NCONS];
    for (int i = 0; i < NCONS; i++) cons[i] = spawn(consumer, NULL);
    for (int i = 0; i < NPROD; i++) prod[i] = spawn(producer, ITEM(i));
    for (int i = 0; i < NPROD; i++) join_within(prod[i], 120);
    for (int i = 0; i < NCONS; i++) pyth_queue_put(mq, STOP, true, PYTH_FOREVER);
    for (int i = 0; i < NCONS; i++) join_within(cons[i], 120);
    CHECK_EQ(atomic_load(&errors), 0);
    CHECK_EQ(atomic_load(&delivered), NPROD * per);
    long wrong = 0;
    for (long i = 0; i < NPROD * per; i++) wrong += seen[i] != 1;
    CHECK_EQ(wrong, 0);
    CHECK(pyth_queue_empty(mq));
    CHECK_STATUS(pyth_queue_free(mq), PYTH_OK);
    free(seen);
}

/* qsize() is approximate under concurrency, but it is a count: never more
 * than the items ever put (it once wrapped below zero to SIZE_MAX when a get
 * overtook the put that published the item). empty() likewise. */
static atomic_int q_stop;
static atomic_long q_puts, q_bad;

static void check_qsize(pyth_queue_t *q) {
    size_t s = pyth_queue_qsize(q);
    if ((long long)s > atomic_load(&q_puts) || s > (size_t)INT64_MAX) atomic_fetch_add(&q_bad, 1);
}

static void *qs_producer(void *q) {
    while (!atomic_load(&q_stop)) {
        atomic_fetch_add(&q_puts, 1); /* counted before the put */
        pyth_queue_put(q, ITEM(1), true, PYTH_FOREVER);
    }
    return NULL;
}

static void *qs_consumer(void *q) {
    void *v;
    while (!atomic_load(&q_stop))
        if (pyth_queue_get(q, &v, false, PYTH_FOREVER) == PYTH_OK) check_qsize(q);
    return NULL;
}

TEST(simple_qsize_is_a_count) {
    pyth_queue_t *q = pyth_simple_queue_new();
    h_thread p = spawn(qs_producer, q), c1 = spawn(qs_consumer, q), c2 = spawn(qs_consumer, q);
    double end = now_s() + (h_quick() ? 2 : 1.5);
    while (now_s() < end) check_qsize(q);
    atomic_store(&q_stop, 1);
    join_within(p, 30);
    join_within(c1, 30);
    join_within(c2, 30);
    CHECK_EQ(atomic_load(&q_bad), 0);
    void *v;
    while (pyth_queue_get(q, &v, false, PYTH_FOREVER) == PYTH_OK) {}
    CHECK_EQ(pyth_queue_qsize(q), 0);
    CHECK(pyth_queue_empty(q));
    CHECK_STATUS(pyth_queue_free(q), PYTH_OK);
}

int main(void) {
    double t0 = now_s();
    RUN(simple_fifo);
    RUN(put_never_blocks);
    RUN(simple_empty_and_timeouts);
    RUN(simple_bad_timeouts_put_and_nonblocking);
    RUN(simple_no_task_done_join_shutdown);
    RUN(simple_blocking_get_woken_by_put);
    RUN(simple_free_busy);
    RUN(simple_put_from_destructor);
    RUN(simple_waits_survive_signals);
    RUN(simple_producers_consumers);
    RUN(simple_qsize_is_a_count);
    fprintf(stderr, "%.2fs\n", now_s() - t0);
    return REPORT();
}
