/* pyth_rlock_*: Python's threading.RLock. */
#include "harness.h"
#include <math.h>

/* A helper thread that runs one request at a time against an RLock, so
 * that ownership by "another thread" can be tested step by step. */
enum { OP_NONE, OP_ACQUIRE, OP_TRY, OP_TIMED, OP_RELEASE, OP_LOCKED, OP_OWNED, OP_QUIT };
typedef struct {
    pyth_rlock_t *r;
    atomic_int op;      /* request; the helper sets it back to OP_NONE when done */
    atomic_int tid;
    double timeout;
    pyth_status st;
    bool flag;
    char msg[128];
} helper;

static void *helper_fn(void *p) {
    helper *h = p;
    atomic_store(&h->tid, h_gettid());
    for (;;) {
        int op;
        struct timespec pause = {0, 50000};
        while ((op = atomic_load(&h->op)) == OP_NONE) nanosleep(&pause, NULL);
        switch (op) {
        case OP_ACQUIRE: h->st = pyth_rlock_acquire(h->r, true, PYTH_FOREVER); break;
        case OP_TRY: h->st = pyth_rlock_acquire(h->r, false, PYTH_FOREVER); break;
        case OP_TIMED: h->st = pyth_rlock_acquire(h->r, true, h->timeout); break;
        case OP_RELEASE: h->st = pyth_rlock_release(h->r); break;
        case OP_LOCKED: h->flag = pyth_rlock_locked(h->r); break;
        case OP_OWNED: h->flag = pyth_rlock_is_owned(h->r); break;
        case OP_QUIT: return NULL;
        }
        snprintf(h->msg, sizeof h->msg, "%s", pyth_last_error());
        atomic_store(&h->op, OP_NONE);
    }
}

/* Runs `op` in the helper and waits for it. */
static void ask(helper *h, int op) {
    atomic_store(&h->op, op);
    if (!WAIT_UNTIL(atomic_load(&h->op) == OP_NONE, 60)) {
        fprintf(stderr, "[%s] helper did not answer\n", h_current);
        _exit(3);
    }
}

/* Starts `op` in the helper without waiting for it. */
static void ask_async(helper *h, int op) { atomic_store(&h->op, op); }

static h_thread start_helper(helper *h, pyth_rlock_t *r) {
    memset(h, 0, sizeof *h);
    h->r = r;
    h_thread t = spawn(helper_fn, h);
    CHECK(WAIT_UNTIL(atomic_load(&h->tid) != 0, 30));
    return t;
}

static void stop_helper(helper *h, h_thread t) {
    atomic_store(&h->op, OP_QUIT);
    join_within(t, 30);
}

TEST(rlock_basics) {
    pyth_rlock_t *r = pyth_rlock_new();
    CHECK(r != NULL);
    CHECK(!pyth_rlock_locked(r));
    CHECK(!pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_ERUNTIME);
    CHECK_MSG("cannot release un-acquired lock");
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_rlock_locked(r));
    CHECK(pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(!pyth_rlock_locked(r));
    CHECK(!pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_ERUNTIME);
    CHECK_MSG("cannot release un-acquired lock");
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(NULL), PYTH_OK);
}

TEST(rlock_recursion_levels) {
    pyth_rlock_t *r = pyth_rlock_new();
    helper h;
    h_thread t = start_helper(&h, r);
    /* Three levels, taken with each acquire form. */
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_rlock_acquire(r, false, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_rlock_acquire(r, true, 0.0), PYTH_OK);
    for (int level = 3; level >= 1; level--) {
        /* Another thread sees it locked, does not own it, cannot take or release it. */
        ask(&h, OP_LOCKED);
        CHECK(h.flag);
        ask(&h, OP_OWNED);
        CHECK(!h.flag);
        ask(&h, OP_TRY);
        CHECK_EQ(h.st, PYTH_TIMEOUT);
        h.timeout = 0.01;
        ask(&h, OP_TIMED);
        CHECK_EQ(h.st, PYTH_TIMEOUT);
        ask(&h, OP_RELEASE);
        CHECK_EQ(h.st, PYTH_ERUNTIME);
        CHECK(strcmp(h.msg, "cannot release un-acquired lock") == 0);
        CHECK(pyth_rlock_is_owned(r));
        CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    }
    CHECK(!pyth_rlock_locked(r));
    CHECK(!pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_ERUNTIME);
    CHECK_MSG("cannot release un-acquired lock");
    /* Now the other thread can take it, at two levels. */
    ask(&h, OP_TRY);
    CHECK_EQ(h.st, PYTH_OK);
    ask(&h, OP_ACQUIRE);
    CHECK_EQ(h.st, PYTH_OK);
    ask(&h, OP_OWNED);
    CHECK(h.flag);
    CHECK(pyth_rlock_locked(r)); /* locked: held by any thread */
    CHECK(!pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_rlock_acquire(r, false, PYTH_FOREVER), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_rlock_release(r), PYTH_ERUNTIME);
    CHECK_MSG("cannot release un-acquired lock");
    ask(&h, OP_RELEASE);
    CHECK_EQ(h.st, PYTH_OK);
    CHECK(pyth_rlock_locked(r));
    ask(&h, OP_RELEASE);
    CHECK_EQ(h.st, PYTH_OK);
    CHECK(!pyth_rlock_locked(r));
    ask(&h, OP_RELEASE);
    CHECK_EQ(h.st, PYTH_ERUNTIME);
    stop_helper(&h, t);

    /* Deep recursion. */
    const int deep = 10000;
    for (int i = 0; i < deep; i++)
        if (pyth_rlock_acquire(r, true, PYTH_FOREVER) != PYTH_OK) { CHECK(!"deep acquire"); break; }
    for (int i = 0; i < deep - 1; i++)
        if (pyth_rlock_release(r) != PYTH_OK) { CHECK(!"deep release"); break; }
    CHECK(pyth_rlock_locked(r));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(!pyth_rlock_locked(r));
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

/* A blocked acquirer gets the lock only when the last level is released. */
TEST(rlock_handoff_after_last_level) {
    pyth_rlock_t *r = pyth_rlock_new();
    helper h;
    h_thread t = start_helper(&h, r);
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    ask_async(&h, OP_ACQUIRE);
    CHECK(WAIT_BLOCKED(atomic_load(&h.tid), 30));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(STAYS_FALSE(atomic_load(&h.op) == OP_NONE, 0.1));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&h.op) == OP_NONE, 30));
    CHECK_EQ(h.st, PYTH_OK);
    CHECK(pyth_rlock_locked(r));
    CHECK(!pyth_rlock_is_owned(r));
    /* A timed acquire by us times out within bounds while they hold it. */
    double t0 = now_s();
    CHECK_STATUS(pyth_rlock_acquire(r, true, 0.2), PYTH_TIMEOUT);
    double e = now_s() - t0;
    CHECK(e >= 0.2);
    CHECK(e < 0.2 + h_slack());
    ask(&h, OP_RELEASE);
    CHECK_EQ(h.st, PYTH_OK);
    /* The largest timeout, satisfied by a release. */
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    h.timeout = PYTH_TIMEOUT_MAX;
    ask_async(&h, OP_TIMED);
    CHECK(WAIT_BLOCKED(atomic_load(&h.tid), 30));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&h.op) == OP_NONE, 30));
    CHECK_EQ(h.st, PYTH_OK);
    ask(&h, OP_RELEASE);
    CHECK_EQ(h.st, PYTH_OK);
    stop_helper(&h, t);
    CHECK(!pyth_rlock_locked(r));
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

TEST(rlock_timeout_args) {
    pyth_rlock_t *r = pyth_rlock_new();
    /* Validated whether free, owned (would not block) or not. */
    for (int owned = 0; owned < 2; owned++) {
        CHECK_STATUS(pyth_rlock_acquire(r, true, -0.5), PYTH_EVALUE);
        CHECK_MSG("timeout value must be a non-negative number");
        CHECK_STATUS(pyth_rlock_acquire(r, true, -INFINITY), PYTH_EVALUE);
        CHECK_STATUS(pyth_rlock_acquire(r, true, NAN), PYTH_EVALUE);
        CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW);
        CHECK_STATUS(pyth_rlock_acquire(r, true, INFINITY), PYTH_EOVERFLOW);
        CHECK_STATUS(pyth_rlock_acquire(r, false, 0.5), PYTH_EVALUE);
        CHECK_MSG("can't specify a timeout for a non-blocking call");
        CHECK_STATUS(pyth_rlock_acquire(r, false, 0.0), PYTH_EVALUE);
        CHECK_EQ(pyth_rlock_locked(r), owned);
        if (!owned) CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    }
    /* None of the failed calls added a level: one release unlocks. */
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(!pyth_rlock_locked(r));
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(!pyth_rlock_locked(r));
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

TEST(rlock_free_rules) {
    /* Held by us, nobody waiting: may be freed. */
    pyth_rlock_t *r = pyth_rlock_new();
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);

    /* A thread blocked on it: EBUSY, still valid. */
    r = pyth_rlock_new();
    helper h;
    h_thread t = start_helper(&h, r);
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    ask_async(&h, OP_ACQUIRE);
    if (WAIT_BLOCKED(atomic_load(&h.tid), 30)) {
        CHECK_STATUS(pyth_rlock_free(r), PYTH_EBUSY);
    } else {
        CHECK(!"helper never blocked");
    }
    CHECK(pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&h.op) == OP_NONE, 30));
    CHECK_EQ(h.st, PYTH_OK);
    ask(&h, OP_RELEASE);
    CHECK_EQ(h.st, PYTH_OK);
    stop_helper(&h, t);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);

    /* Used by a condition: EBUSY until the condition is freed. */
    r = pyth_rlock_new();
    pyth_cond_t *c = pyth_cond_new_with_rlock(r);
    CHECK(c != NULL);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_EBUSY);
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(!pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

/* Mutual exclusion with nesting. */
typedef struct {
    pyth_rlock_t *r;
    long n;
    long counter;
    atomic_int inside, overlap;
} excl;

static void *excl_fn(void *p) {
    excl *x = p;
    for (long i = 0; i < x->n; i++) {
        pyth_rlock_acquire(x->r, true, PYTH_FOREVER);
        pyth_rlock_acquire(x->r, true, PYTH_FOREVER);
        if (atomic_fetch_add(&x->inside, 1) != 0) atomic_fetch_add(&x->overlap, 1);
        long v = x->counter;
        pyth_rlock_release(x->r);
        x->counter = v + 1;  /* still held at level 1 */
        atomic_fetch_sub(&x->inside, 1);
        pyth_rlock_release(x->r);
    }
    return NULL;
}

TEST(rlock_mutual_exclusion) {
    excl x = {.r = pyth_rlock_new(), .n = ITERS(20000)};
    h_thread t[3];
    for (int i = 0; i < 3; i++) t[i] = spawn(excl_fn, &x);
    for (int i = 0; i < 3; i++) join_within(t[i], 120);
    CHECK_EQ(x.counter, 3 * x.n);
    CHECK_EQ(atomic_load(&x.overlap), 0);
    CHECK(!pyth_rlock_locked(x.r));
    CHECK_STATUS(pyth_rlock_free(x.r), PYTH_OK);
}

TEST(rlock_bad_handles) {
    CHECK_STATUS(pyth_rlock_acquire(NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_rlock_release(NULL), PYTH_EINVAL);
    CHECK(!pyth_rlock_locked(NULL));
    CHECK(!pyth_rlock_is_owned(NULL));
    pyth_lock_t *l = pyth_lock_new();
    CHECK_STATUS(pyth_lock_acquire(l, true, PYTH_FOREVER), PYTH_OK);
    pyth_rlock_t *fake = (pyth_rlock_t *)l;
    CHECK_STATUS(pyth_rlock_acquire(fake, false, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_rlock_release(fake), PYTH_EINVAL);
    CHECK(!pyth_rlock_locked(fake));
    CHECK(!pyth_rlock_is_owned(fake));
    CHECK_STATUS(pyth_rlock_free(fake), PYTH_EINVAL);
    CHECK(pyth_lock_locked(l));
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

int main(void) {
    RUN(rlock_basics);
    RUN(rlock_recursion_levels);
    RUN(rlock_handoff_after_last_level);
    RUN(rlock_timeout_args);
    RUN(rlock_free_rules);
    RUN(rlock_mutual_exclusion);
    RUN(rlock_bad_handles);
    return REPORT();
}
