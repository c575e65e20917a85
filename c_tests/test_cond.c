/* pyth_cond_*: Python's threading.Condition. */
#include "harness.h"
#include <math.h>

enum { MAXW = 8 };

/* State shared by the waiters of one condition; the plain fields are only
 * touched with the condition's lock held. */
typedef struct {
    pyth_cond_t *c;
    int waiting;       /* waiters that are about to wait (incremented under the lock) */
    int order[MAXW];   /* ids in the order they came back from wait */
    int norder;
    atomic_int woken;
} shared;

typedef struct {
    shared *sh;
    int id;
    double timeout;
    atomic_int tid;
    atomic_int done;
    pyth_status acq, st, rel;
    bool owned_after;  /* could notify (i.e. owned the lock) after wait returned */
    double elapsed;
} waiter;

static void *waiter_fn(void *p) {
    waiter *w = p;
    shared *sh = w->sh;
    atomic_store(&w->tid, h_gettid());
    w->acq = pyth_cond_acquire(sh->c, true, PYTH_FOREVER);
    sh->waiting++;
    double t0 = now_s();
    w->st = pyth_cond_wait(sh->c, w->timeout);
    w->elapsed = now_s() - t0;
    w->owned_after = pyth_cond_notify(sh->c, 0) == PYTH_OK;
    if (sh->norder < MAXW) sh->order[sh->norder++] = w->id;
    atomic_fetch_add(&sh->woken, 1);
    atomic_store(&w->done, 1);
    w->rel = pyth_cond_release(sh->c);
    return NULL;
}

static h_thread start_waiter(waiter *w, shared *sh, int id, double timeout) {
    memset(w, 0, sizeof *w);
    w->sh = sh;
    w->id = id;
    w->timeout = timeout;
    return spawn(waiter_fn, w);
}

/* Acquires the condition's lock and returns true with it held once `k`
 * waiters have announced themselves: holding the lock then proves they are
 * all inside pyth_cond_wait (the announcement is made under the lock, which
 * only wait releases). */
static bool hold_when_waiting(shared *sh, int k) {
    double end = now_s() + 60;
    while (now_s() < end) {
        if (pyth_cond_acquire(sh->c, true, PYTH_FOREVER) != PYTH_OK) return false;
        if (sh->waiting == k) return true;
        pyth_cond_release(sh->c);
        sched_yield();
    }
    return false;
}

static int read_order(shared *sh, int i) {
    pyth_cond_acquire(sh->c, true, PYTH_FOREVER);
    int v = i < sh->norder ? sh->order[i] : -1;
    pyth_cond_release(sh->c);
    return v;
}

static void join_waiter(h_thread t, waiter *w, pyth_status expected) {
    join_within(t, 60);
    CHECK_EQ(w->acq, PYTH_OK);
    CHECK_EQ(w->st, expected);
    CHECK(w->owned_after);
    CHECK_EQ(w->rel, PYTH_OK);
}

TEST(cond_basics) {
    pyth_cond_t *c = pyth_cond_new();
    CHECK(c != NULL);
    CHECK(!pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_cond_locked(c));
    /* Its own lock is an RLock: reentrant. */
    CHECK_STATUS(pyth_cond_acquire(c, false, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_acquire(c, true, 0.0), PYTH_OK);
    CHECK_STATUS(pyth_cond_notify(c, 1), PYTH_OK);      /* nobody waits: fine */
    CHECK_STATUS(pyth_cond_notify(c, 0), PYTH_OK);
    CHECK_STATUS(pyth_cond_notify_all(c), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(!pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_release(c), PYTH_ERUNTIME);
    CHECK_MSG("cannot release un-acquired lock");
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(NULL), PYTH_OK);
}

TEST(cond_acquire_args) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_cond_t *cs[3] = {pyth_cond_new(), pyth_cond_new_with_lock(l), pyth_cond_new_with_rlock(r)};
    for (int i = 0; i < 3; i++) {
        pyth_cond_t *c = cs[i];
        CHECK(c != NULL);
        CHECK_STATUS(pyth_cond_acquire(c, false, 1.0), PYTH_EVALUE);
        CHECK_MSG("can't specify a timeout for a non-blocking call");
        CHECK_STATUS(pyth_cond_acquire(c, false, 0.0), PYTH_EVALUE);
        CHECK_STATUS(pyth_cond_acquire(c, true, -0.5), PYTH_EVALUE);
        CHECK_MSG("timeout value must be a non-negative number");
        CHECK_STATUS(pyth_cond_acquire(c, true, NAN), PYTH_EVALUE);
        CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW);
        CHECK(!pyth_cond_locked(c));
        CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_TIMEOUT_MAX), PYTH_OK);
        CHECK(pyth_cond_locked(c));
        /* Held: still validated. */
        CHECK_STATUS(pyth_cond_acquire(c, true, NAN), PYTH_EVALUE);
        CHECK_STATUS(pyth_cond_acquire(c, false, 2.0), PYTH_EVALUE);
        CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
        CHECK(!pyth_cond_locked(c));
        CHECK(pyth_cond_release(c) == PYTH_ERUNTIME);
    }
    /* The plain lock is not reentrant, and says so the Lock way. */
    CHECK_STATUS(pyth_cond_release(cs[1]), PYTH_ERUNTIME);
    CHECK_MSG("release unlocked lock");
    CHECK_STATUS(pyth_cond_acquire(cs[1], true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_lock_locked(l));
    CHECK_STATUS(pyth_cond_acquire(cs[1], false, PYTH_FOREVER), PYTH_TIMEOUT);
    double t0 = now_s();
    CHECK_STATUS(pyth_cond_acquire(cs[1], true, 0.1), PYTH_TIMEOUT);
    CHECK(now_s() - t0 >= 0.1);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    CHECK(!pyth_cond_locked(cs[1]));
    /* The RLock-based one shares the RLock's levels. */
    CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_cond_locked(cs[2]));
    CHECK_STATUS(pyth_cond_acquire(cs[2], true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(cs[2]), PYTH_OK);
    CHECK(pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_rlock_release(r), PYTH_OK);
    CHECK(!pyth_cond_locked(cs[2]));
    for (int i = 0; i < 3; i++) CHECK_STATUS(pyth_cond_free(cs[i]), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

/* A thread that holds a lock until told to let go. */
typedef struct {
    pyth_cond_t *c;
    atomic_int holding, go;
} holder;

static void *holder_fn(void *p) {
    holder *h = p;
    pyth_cond_acquire(h->c, true, PYTH_FOREVER);
    atomic_store(&h->holding, 1);
    while (!atomic_load(&h->go)) sched_yield();
    pyth_cond_release(h->c);
    return NULL;
}

TEST(cond_wait_notify_need_the_lock) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_cond_t *cs[2] = {pyth_cond_new(), pyth_cond_new_with_lock(l)};
    for (int i = 0; i < 2; i++) {
        pyth_cond_t *c = cs[i];
        double t0 = now_s();
        CHECK_STATUS(pyth_cond_wait(c, PYTH_FOREVER), PYTH_ERUNTIME);
        CHECK_MSG("cannot wait on un-acquired lock");
        CHECK_STATUS(pyth_cond_wait(c, 0.0), PYTH_ERUNTIME);
        CHECK_MSG("cannot wait on un-acquired lock");
        CHECK_STATUS(pyth_cond_wait(c, 5.0), PYTH_ERUNTIME);
        CHECK_STATUS(pyth_cond_wait(c, -3.0), PYTH_ERUNTIME);
        /* Before the timeout is looked at, as Python's wait. */
        CHECK_STATUS(pyth_cond_wait(c, NAN), PYTH_ERUNTIME);
        CHECK_MSG("cannot wait on un-acquired lock");
        CHECK_STATUS(pyth_cond_wait(c, 2 * PYTH_TIMEOUT_MAX), PYTH_ERUNTIME);
        CHECK_MSG("cannot wait on un-acquired lock");
        CHECK(now_s() - t0 < h_slack());
        CHECK_STATUS(pyth_cond_notify(c, 1), PYTH_ERUNTIME);
        CHECK_MSG("cannot notify on un-acquired lock");
        CHECK_STATUS(pyth_cond_notify(c, 0), PYTH_ERUNTIME);
        CHECK_MSG("cannot notify on un-acquired lock");
        CHECK_STATUS(pyth_cond_notify_all(c), PYTH_ERUNTIME);
        CHECK_MSG("cannot notify on un-acquired lock");
        CHECK(!pyth_cond_locked(c));
    }
    /* Held by another thread. For the RLock-based condition that is not
     * "owned" by us; for the Lock-based one "owned" means "locked". */
    for (int i = 0; i < 2; i++) {
        holder h = {.c = cs[i]};
        h_thread t = spawn(holder_fn, &h);
        CHECK(WAIT_UNTIL(atomic_load(&h.holding), 30));
        CHECK(pyth_cond_locked(cs[i]));
        if (i == 0) {
            CHECK_STATUS(pyth_cond_notify(cs[i], 1), PYTH_ERUNTIME);
            CHECK_MSG("cannot notify on un-acquired lock");
            CHECK_STATUS(pyth_cond_notify_all(cs[i]), PYTH_ERUNTIME);
            CHECK_STATUS(pyth_cond_wait(cs[i], 0.0), PYTH_ERUNTIME);
            CHECK_MSG("cannot wait on un-acquired lock");
            CHECK_STATUS(pyth_cond_release(cs[i]), PYTH_ERUNTIME);
            CHECK_MSG("cannot release un-acquired lock");
        } else {
            CHECK_STATUS(pyth_cond_notify(cs[i], 1), PYTH_OK);
            CHECK_STATUS(pyth_cond_notify_all(cs[i]), PYTH_OK);
        }
        atomic_store(&h.go, 1);
        join_within(t, 30);
        CHECK(!pyth_cond_locked(cs[i]));
    }
    CHECK_STATUS(pyth_cond_free(cs[0]), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(cs[1]), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

TEST(cond_wait_timeout) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_cond_t *cs[2] = {pyth_cond_new(), pyth_cond_new_with_lock(l)};
    for (int i = 0; i < 2; i++) {
        pyth_cond_t *c = cs[i];
        CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
        const double to = 0.2;
        double t0 = now_s();
        CHECK_STATUS(pyth_cond_wait(c, to), PYTH_TIMEOUT);
        double e = now_s() - t0;
        CHECK(e >= to);
        CHECK(e < to + h_slack());
        /* The lock is held again afterwards. */
        CHECK(pyth_cond_locked(c));
        CHECK_STATUS(pyth_cond_notify(c, 0), PYTH_OK);
        /* Zero and negative timeouts do not block. */
        t0 = now_s();
        CHECK_STATUS(pyth_cond_wait(c, 0.0), PYTH_TIMEOUT);
        CHECK_STATUS(pyth_cond_wait(c, -0.5), PYTH_TIMEOUT);
        CHECK_STATUS(pyth_cond_wait(c, -INFINITY), PYTH_TIMEOUT);
        CHECK(now_s() - t0 < h_slack());
        CHECK(pyth_cond_locked(c));
        /* Bad timeouts are refused without waiting or releasing. */
        CHECK_STATUS(pyth_cond_wait(c, NAN), PYTH_EVALUE);
        CHECK_STATUS(pyth_cond_wait(c, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW);
        CHECK_STATUS(pyth_cond_wait(c, INFINITY), PYTH_EOVERFLOW);
        CHECK(pyth_cond_locked(c));
        CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
        CHECK(!pyth_cond_locked(c));
        CHECK_STATUS(pyth_cond_release(c), PYTH_ERUNTIME);
    }
    /* An RLock-based wait at depth 2 that times out keeps depth 2. */
    CHECK_STATUS(pyth_cond_acquire(cs[0], true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_acquire(cs[0], true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_wait(cs[0], 0.05), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_cond_release(cs[0]), PYTH_OK);
    CHECK(pyth_cond_locked(cs[0]));
    CHECK_STATUS(pyth_cond_release(cs[0]), PYTH_OK);
    CHECK(!pyth_cond_locked(cs[0]));
    CHECK_STATUS(pyth_cond_free(cs[0]), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(cs[1]), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

/* A timed waiter in another thread also times out within bounds. */
TEST(cond_wait_timeout_other_thread) {
    shared sh = {.c = pyth_cond_new()};
    waiter w;
    h_thread t = start_waiter(&w, &sh, 0, 0.25);
    join_waiter(t, &w, PYTH_TIMEOUT);
    CHECK(w.elapsed >= 0.25);
    CHECK(w.elapsed < 0.25 + h_slack());
    CHECK_STATUS(pyth_cond_free(sh.c), PYTH_OK);
}

/* ---- wait_for ----------------------------------------------------------- */

typedef struct {
    pyth_cond_t *c;
    int calls;          /* under the lock, when it is held */
    atomic_int raw_calls;
    int flag;
    bool result;        /* for the constant predicates */
    atomic_int unowned; /* calls made without the lock */
} pred_state;

static bool const_pred(void *p) {
    pred_state *s = p;
    atomic_fetch_add(&s->raw_calls, 1);
    return s->result;
}

static bool flag_pred(void *p) {
    pred_state *s = p;
    atomic_fetch_add(&s->raw_calls, 1);
    if (pyth_cond_notify(s->c, 0) != PYTH_OK) atomic_fetch_add(&s->unowned, 1);
    s->calls++;
    return s->flag != 0;
}

TEST(cond_wait_for_true_predicate_without_lock) {
    pyth_cond_t *c = pyth_cond_new();
    pred_state s = {.c = c, .result = true};
    const double timeouts[] = {PYTH_FOREVER, 0.0, 5.0, -0.5};
    for (int i = 0; i < 4; i++) {
        atomic_store(&s.raw_calls, 0);
        double t0 = now_s();
        CHECK_STATUS(pyth_cond_wait_for(c, const_pred, &s, timeouts[i]), PYTH_OK);
        CHECK(now_s() - t0 < h_slack());
        CHECK_EQ(atomic_load(&s.raw_calls), 1);
        CHECK(!pyth_cond_locked(c));
    }
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
}

/* Python's wait_for calls wait() when the predicate is false, and wait()
 * without the lock is a RuntimeError, whatever the timeout. (Zero and
 * negative timeouts: see pending_cond.c.) */
TEST(cond_wait_for_false_predicate_without_lock) {
    pyth_cond_t *c = pyth_cond_new();
    pred_state s = {.c = c, .result = false};
    double t0 = now_s();
    CHECK_STATUS(pyth_cond_wait_for(c, const_pred, &s, PYTH_FOREVER), PYTH_ERUNTIME);
    CHECK_MSG("cannot wait on un-acquired lock");
    CHECK_STATUS(pyth_cond_wait_for(c, const_pred, &s, 5.0), PYTH_ERUNTIME);
    CHECK_MSG("cannot wait on un-acquired lock");
    CHECK(now_s() - t0 < h_slack());
    CHECK(!pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
}

TEST(cond_wait_for_null_predicate) {
    pyth_cond_t *c = pyth_cond_new();
    CHECK_STATUS(pyth_cond_wait_for(c, NULL, NULL, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_wait_for(c, NULL, NULL, 0.1), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_wait_for(c, NULL, NULL, PYTH_FOREVER), PYTH_EINVAL);
    CHECK(pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
}

TEST(cond_wait_for_timeout) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_cond_t *cs[2] = {pyth_cond_new(), pyth_cond_new_with_lock(l)};
    for (int i = 0; i < 2; i++) {
        pred_state s = {.c = cs[i]};
        CHECK_STATUS(pyth_cond_acquire(cs[i], true, PYTH_FOREVER), PYTH_OK);
        double t0 = now_s();
        CHECK_STATUS(pyth_cond_wait_for(cs[i], flag_pred, &s, 0.2), PYTH_TIMEOUT);
        double e = now_s() - t0;
        CHECK(e >= 0.2);
        CHECK(e < 0.2 + h_slack());
        CHECK(s.calls >= 1);
        CHECK_EQ(atomic_load(&s.unowned), 0);
        /* No wait at all for zero and negative timeouts. */
        t0 = now_s();
        CHECK_STATUS(pyth_cond_wait_for(cs[i], flag_pred, &s, 0.0), PYTH_TIMEOUT);
        CHECK_STATUS(pyth_cond_wait_for(cs[i], flag_pred, &s, -1.5), PYTH_TIMEOUT);
        CHECK(now_s() - t0 < h_slack());
        /* True predicate with the lock. */
        s.flag = 1;
        CHECK_STATUS(pyth_cond_wait_for(cs[i], flag_pred, &s, 0.0), PYTH_OK);
        CHECK_STATUS(pyth_cond_wait_for(cs[i], flag_pred, &s, PYTH_FOREVER), PYTH_OK);
        /* Bad timeouts, even with a true predicate (nothing to wait for). */
        CHECK_STATUS(pyth_cond_wait_for(cs[i], flag_pred, &s, NAN), PYTH_EVALUE);
        CHECK_STATUS(pyth_cond_wait_for(cs[i], flag_pred, &s, PYTH_TIMEOUT_MAX + 1.0), PYTH_EOVERFLOW);
        CHECK_STATUS(pyth_cond_wait_for(cs[i], flag_pred, &s, PYTH_TIMEOUT_MAX), PYTH_OK);
        CHECK(pyth_cond_locked(cs[i]));
        CHECK_STATUS(pyth_cond_release(cs[i]), PYTH_OK);
        CHECK(!pyth_cond_locked(cs[i]));
    }
    CHECK_STATUS(pyth_cond_free(cs[0]), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(cs[1]), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

typedef struct {
    pred_state *s;
    double timeout;
    pyth_status st, rel;
} wf_arg;

static void *wait_for_fn(void *p) {
    wf_arg *a = p;
    pyth_cond_acquire(a->s->c, true, PYTH_FOREVER);
    a->st = pyth_cond_wait_for(a->s->c, flag_pred, a->s, a->timeout);
    a->rel = pyth_cond_release(a->s->c);
    return NULL;
}

/* Holds the lock once the predicate has been called `n` times: the waiter
 * is then inside wait (it calls the predicate under the lock and, when it
 * is false, waits, which is the only place it lets go of the lock). */
static bool hold_after_calls(pred_state *s, int n) {
    double end = now_s() + 60;
    while (now_s() < end) {
        pyth_cond_acquire(s->c, true, PYTH_FOREVER);
        if (s->calls == n) return true;
        pyth_cond_release(s->c);
        sched_yield();
    }
    return false;
}

TEST(cond_wait_for_notified) {
    pred_state s = {.c = pyth_cond_new()};
    wf_arg a = {.s = &s, .timeout = PYTH_FOREVER};
    h_thread t = spawn(wait_for_fn, &a);
    CHECK(hold_after_calls(&s, 1));
    /* A notification with the predicate still false: it waits again. */
    CHECK_STATUS(pyth_cond_notify(s.c, 1), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(s.c), PYTH_OK);
    CHECK(hold_after_calls(&s, 2));
    s.flag = 1;
    CHECK_STATUS(pyth_cond_notify_all(s.c), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(s.c), PYTH_OK);
    join_within(t, 60);
    CHECK_EQ(a.st, PYTH_OK);
    CHECK_EQ(a.rel, PYTH_OK);
    CHECK_EQ(s.calls, 3);
    CHECK_EQ(atomic_load(&s.unowned), 0);

    /* Same with a finite timeout that is not reached. */
    s.flag = 0;
    s.calls = 0;
    a.timeout = 60.0;
    t = spawn(wait_for_fn, &a);
    CHECK(hold_after_calls(&s, 1));
    s.flag = 1;
    CHECK_STATUS(pyth_cond_notify(s.c, 1), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(s.c), PYTH_OK);
    join_within(t, 60);
    CHECK_EQ(a.st, PYTH_OK);
    CHECK_EQ(s.calls, 2);
    CHECK_STATUS(pyth_cond_free(s.c), PYTH_OK);
}

/* ---- notify ------------------------------------------------------------- */

static int woken(shared *sh) { return atomic_load(&sh->woken); }

static void notify_exactly_n(pyth_cond_t *c) {
    enum { K = 5 };
    shared sh = {.c = c};
    waiter w[K];
    h_thread t[K];
    for (int i = 0; i < K; i++) t[i] = start_waiter(&w[i], &sh, i, 120.0);
    CHECK(hold_when_waiting(&sh, K));
    CHECK_STATUS(pyth_cond_notify(c, 2), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(WAIT_UNTIL(woken(&sh) == 2, 60));
    CHECK(STAYS_FALSE(woken(&sh) > 2, 0.25));
    /* notify(0) wakes nobody. */
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_notify(c, 0), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(STAYS_FALSE(woken(&sh) > 2, 0.15));
    /* notify(1) wakes one more. */
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_notify(c, 1), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    CHECK(WAIT_UNTIL(woken(&sh) == 3, 60));
    CHECK(STAYS_FALSE(woken(&sh) > 3, 0.15));
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_notify_all(c), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    for (int i = 0; i < K; i++) join_waiter(t[i], &w[i], PYTH_OK);
    CHECK_EQ(woken(&sh), K);
}

TEST(cond_notify_wakes_exactly_n) {
    pyth_cond_t *c0 = pyth_cond_new();
    notify_exactly_n(c0);
    CHECK_STATUS(pyth_cond_free(c0), PYTH_OK);
    pyth_lock_t *l = pyth_lock_new();
    pyth_cond_t *c = pyth_cond_new_with_lock(l);
    notify_exactly_n(c);
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_cond_t *c2 = pyth_cond_new_with_rlock(r);
    notify_exactly_n(c2);
    /* notify_exactly_n cannot free what it was given; do it here. */
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(c2), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

TEST(cond_notify_more_than_waiters) {
    enum { K = 3 };
    shared sh = {.c = pyth_cond_new()};
    waiter w[K];
    h_thread t[K];
    for (int i = 0; i < K; i++) t[i] = start_waiter(&w[i], &sh, i, 120.0);
    CHECK(hold_when_waiting(&sh, K));
    CHECK_STATUS(pyth_cond_notify(sh.c, 10), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
    for (int i = 0; i < K; i++) join_waiter(t[i], &w[i], PYTH_OK);
    /* SIZE_MAX too. */
    sh.waiting = 0;
    for (int i = 0; i < K; i++) t[i] = start_waiter(&w[i], &sh, i, 120.0);
    CHECK(hold_when_waiting(&sh, K));
    CHECK_STATUS(pyth_cond_notify(sh.c, SIZE_MAX), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
    for (int i = 0; i < K; i++) join_waiter(t[i], &w[i], PYTH_OK);
    CHECK_EQ(woken(&sh), 2 * K);
    /* Surplus from notify(n) is not kept for later waiters. */
    sh.waiting = 0;
    t[0] = start_waiter(&w[0], &sh, 0, 120.0);
    CHECK(hold_when_waiting(&sh, 1));
    CHECK_STATUS(pyth_cond_notify(sh.c, 3), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
    join_waiter(t[0], &w[0], PYTH_OK);
    t[1] = start_waiter(&w[1], &sh, 1, 120.0);
    CHECK(hold_when_waiting(&sh, 2));
    CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
    CHECK(STAYS_FALSE(atomic_load(&w[1].done), 0.2));
    CHECK_STATUS(pyth_cond_acquire(sh.c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_notify(sh.c, 1), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
    join_waiter(t[1], &w[1], PYTH_OK);
    /* A notification with nobody waiting is not remembered. */
    CHECK_STATUS(pyth_cond_acquire(sh.c, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_notify_all(sh.c), PYTH_OK);
    CHECK_STATUS(pyth_cond_notify(sh.c, 5), PYTH_OK);
    CHECK_STATUS(pyth_cond_wait(sh.c, 0.05), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(sh.c), PYTH_OK);
}

/* Waiters queued one at a time, in a known order, are woken oldest first. */
TEST(cond_notify_oldest_first) {
    enum { K = 5 };
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_cond_t *cs[3] = {pyth_cond_new(), pyth_cond_new_with_lock(l), pyth_cond_new_with_rlock(r)};
    for (int v = 0; v < 3; v++) {
        shared sh = {.c = cs[v]};
        waiter w[K];
        h_thread t[K];
        for (int i = 0; i < K; i++) {
            t[i] = start_waiter(&w[i], &sh, i, 120.0);
            CHECK(hold_when_waiting(&sh, i + 1));
            CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
        }
        for (int j = 0; j < K; j++) {
            CHECK_STATUS(pyth_cond_acquire(sh.c, true, PYTH_FOREVER), PYTH_OK);
            CHECK_STATUS(pyth_cond_notify(sh.c, 1), PYTH_OK);
            CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
            CHECK(WAIT_UNTIL(woken(&sh) == j + 1, 60));
            CHECK_EQ(read_order(&sh, j), j);
        }
        for (int i = 0; i < K; i++) join_waiter(t[i], &w[i], PYTH_OK);

        /* notify(2) wakes the two oldest. */
        sh.waiting = 0;
        sh.norder = 0;
        atomic_store(&sh.woken, 0);
        for (int i = 0; i < K; i++) {
            t[i] = start_waiter(&w[i], &sh, i, 120.0);
            CHECK(hold_when_waiting(&sh, i + 1));
            CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
        }
        CHECK_STATUS(pyth_cond_acquire(sh.c, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_cond_notify(sh.c, 2), PYTH_OK);
        CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
        CHECK(WAIT_UNTIL(woken(&sh) == 2, 60));
        CHECK(STAYS_FALSE(woken(&sh) > 2, 0.1));
        CHECK(!atomic_load(&w[2].done) && !atomic_load(&w[3].done) && !atomic_load(&w[4].done));
        CHECK(atomic_load(&w[0].done) && atomic_load(&w[1].done));
        CHECK_STATUS(pyth_cond_acquire(sh.c, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_cond_notify(sh.c, 2), PYTH_OK);
        CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
        CHECK(WAIT_UNTIL(woken(&sh) == 4, 60));
        CHECK(atomic_load(&w[2].done) && atomic_load(&w[3].done) && !atomic_load(&w[4].done));
        CHECK_STATUS(pyth_cond_acquire(sh.c, true, PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_cond_notify_all(sh.c), PYTH_OK);
        CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
        for (int i = 0; i < K; i++) join_waiter(t[i], &w[i], PYTH_OK);
        CHECK_STATUS(pyth_cond_free(sh.c), PYTH_OK);
    }
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

/* A notify wakes only threads waiting at the time of the call: the
 * notifier that then waits itself (without releasing the lock in between)
 * is not woken by its own notification, and the waiter it meant is. On
 * each kind of condition, with notify(1) and notify_all. */
static void notify_then_wait(pyth_cond_t *c, bool all) {
    enum { K = 2 };
    int k = all ? K : 1;
    shared sh = {.c = c};
    waiter w[K];
    h_thread t[K];
    for (int i = 0; i < k; i++) {
        t[i] = start_waiter(&w[i], &sh, i, 120.0);
        CHECK(hold_when_waiting(&sh, i + 1));
        if (i + 1 < k) CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    }
    /* The lock is held here, with every waiter inside wait. */
    CHECK_STATUS(all ? pyth_cond_notify_all(c) : pyth_cond_notify(c, 1), PYTH_OK);
    const double to = 0.3;
    double t0 = now_s();
    pyth_status st = pyth_cond_wait(c, to);
    double el = now_s() - t0;
    h_checks++;
    if (st != PYTH_TIMEOUT)
        H_FAIL("%s, then wait(%.1f) in the notifier: %s, expected PYTH_TIMEOUT (woken by its own notification)",
               all ? "notify_all" : "notify(1)", to, pyth_strerror(st));
    CHECK(el >= to);
    CHECK(el < to + h_slack());
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    /* The waiters it meant were woken (normally during our wait). */
    CHECK(WAIT_UNTIL(woken(&sh) == k, 60));
    for (int i = 0; i < k; i++) join_waiter(t[i], &w[i], PYTH_OK);
}

TEST(cond_notify_wakes_only_current_waiters) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_cond_t *cs[3] = {pyth_cond_new(), pyth_cond_new_with_lock(l), pyth_cond_new_with_rlock(r)};
    for (int v = 0; v < 3; v++) {
        notify_then_wait(cs[v], false);
        notify_then_wait(cs[v], true);
        CHECK_STATUS(pyth_cond_free(cs[v]), PYTH_OK);
    }
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

/* ---- the lock under a wait ---------------------------------------------- */

typedef struct {
    pyth_cond_t *c;
    pyth_rlock_t *r;  /* NULL: use the condition's own lock */
    pyth_status acq, notify, rel;
    bool owned;
} intruder;

/* Takes the lock while the main thread waits at depth 3, and notifies it. */
static void *intruder_fn(void *p) {
    intruder *in = p;
    in->acq = in->r ? pyth_rlock_acquire(in->r, true, 30.0) : pyth_cond_acquire(in->c, true, 30.0);
    if (in->acq != PYTH_OK) return NULL;
    in->owned = in->r ? pyth_rlock_is_owned(in->r) : true;
    in->notify = pyth_cond_notify(in->c, 1);
    in->rel = in->r ? pyth_rlock_release(in->r) : pyth_cond_release(in->c);
    return NULL;
}

TEST(cond_rlock_depth_3) {
    for (int v = 0; v < 2; v++) {
        pyth_rlock_t *r = v ? pyth_rlock_new() : NULL;
        pyth_cond_t *c = v ? pyth_cond_new_with_rlock(r) : pyth_cond_new();
        CHECK(c != NULL);
        if (v) {
            CHECK_STATUS(pyth_rlock_acquire(r, true, PYTH_FOREVER), PYTH_OK);
            CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
            CHECK_STATUS(pyth_rlock_acquire(r, false, PYTH_FOREVER), PYTH_OK);
        } else {
            for (int i = 0; i < 3; i++) CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
        }
        intruder in = {.c = c, .r = r};
        h_thread t = spawn(intruder_fn, &in);
        /* Only a wait that releases all three levels lets the intruder in,
         * and only its notification ends the wait. */
        CHECK_STATUS(pyth_cond_wait(c, 60.0), PYTH_OK);
        join_within(t, 60);
        CHECK_EQ(in.acq, PYTH_OK);
        CHECK(in.owned);
        CHECK_EQ(in.notify, PYTH_OK);
        CHECK_EQ(in.rel, PYTH_OK);
        /* Depth 3 again. */
        if (v) CHECK(pyth_rlock_is_owned(r));
        for (int i = 0; i < 2; i++) {
            CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
            CHECK(pyth_cond_locked(c));
            CHECK_STATUS(pyth_cond_notify(c, 0), PYTH_OK); /* still owned */
        }
        CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
        CHECK(!pyth_cond_locked(c));
        CHECK_STATUS(pyth_cond_release(c), PYTH_ERUNTIME);
        CHECK_MSG("cannot release un-acquired lock");
        CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
        CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
    }
}

typedef struct {
    pyth_cond_t *c;
    pyth_lock_t *l;
    atomic_int waiting;
    pyth_status acq, st, rel;
    bool locked_after;
} lock_waiter;

static void *lock_waiter_fn(void *p) {
    lock_waiter *w = p;
    w->acq = pyth_cond_acquire(w->c, true, PYTH_FOREVER);
    atomic_store(&w->waiting, 1);
    w->st = pyth_cond_wait(w->c, 60.0);
    w->locked_after = pyth_lock_locked(w->l);
    w->rel = pyth_lock_release(w->l);
    return NULL;
}

/* A condition on a plain Lock: wait releases it, so the plain lock can be
 * taken through its own handle meanwhile, and retakes it. */
TEST(cond_on_plain_lock) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_cond_t *c = pyth_cond_new_with_lock(l);
    lock_waiter w = {.c = c, .l = l};
    h_thread t = spawn(lock_waiter_fn, &w);
    CHECK(WAIT_UNTIL(atomic_load(&w.waiting), 30));
    /* Once we get the lock, the waiter is inside wait. */
    CHECK_STATUS(pyth_lock_acquire(l, true, 60.0), PYTH_OK);
    CHECK(pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_notify(c, 1), PYTH_OK);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    join_within(t, 60);
    CHECK_EQ(w.acq, PYTH_OK);
    CHECK_EQ(w.st, PYTH_OK);
    CHECK(w.locked_after);
    CHECK_EQ(w.rel, PYTH_OK);
    CHECK(!pyth_lock_locked(l));
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

/* The largest timeout is accepted for a wait that is then notified. */
TEST(cond_wait_timeout_max) {
    shared sh = {.c = pyth_cond_new()};
    waiter w;
    h_thread t = start_waiter(&w, &sh, 0, PYTH_TIMEOUT_MAX);
    CHECK(hold_when_waiting(&sh, 1));
    CHECK_STATUS(pyth_cond_notify(sh.c, 1), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
    join_waiter(t, &w, PYTH_OK);
    /* And PYTH_FOREVER. */
    sh.waiting = 0;
    t = start_waiter(&w, &sh, 0, PYTH_FOREVER);
    CHECK(hold_when_waiting(&sh, 1));
    CHECK_STATUS(pyth_cond_notify_all(sh.c), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
    join_waiter(t, &w, PYTH_OK);
    CHECK_STATUS(pyth_cond_free(sh.c), PYTH_OK);
}

/* ---- free --------------------------------------------------------------- */

TEST(cond_free_while_waiting) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_cond_t *cs[2] = {pyth_cond_new(), pyth_cond_new_with_lock(l)};
    for (int v = 0; v < 2; v++) {
        shared sh = {.c = cs[v]};
        waiter w;
        h_thread t = start_waiter(&w, &sh, 0, 120.0);
        bool in = hold_when_waiting(&sh, 1);
        CHECK(in);
        if (in) {
            /* Both with and without the lock held by the caller. */
            CHECK_STATUS(pyth_cond_free(sh.c), PYTH_EBUSY);
            CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
            CHECK_STATUS(pyth_cond_free(sh.c), PYTH_EBUSY);
            CHECK(!atomic_load(&w.done));
            /* Still valid: notify it. Notified but not yet back (it needs
             * the lock we hold), it is still inside wait: still busy. */
            CHECK_STATUS(pyth_cond_acquire(sh.c, true, PYTH_FOREVER), PYTH_OK);
            CHECK_STATUS(pyth_cond_notify(sh.c, 1), PYTH_OK);
            CHECK_STATUS(pyth_cond_free(sh.c), PYTH_EBUSY);
            if (v == 1) CHECK_STATUS(pyth_lock_free(l), PYTH_EBUSY);
            CHECK_STATUS(pyth_cond_release(sh.c), PYTH_OK);
        }
        join_waiter(t, &w, PYTH_OK);
        CHECK_STATUS(pyth_cond_free(sh.c), PYTH_OK);
    }
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
}

typedef struct {
    pyth_cond_t *c;
    atomic_int tid;
    pyth_status acq, rel;
} acquirer;

static void *acquirer_fn(void *p) {
    acquirer *a = p;
    atomic_store(&a->tid, h_gettid());
    a->acq = pyth_cond_acquire(a->c, true, PYTH_FOREVER);
    a->rel = pyth_cond_release(a->c);
    return NULL;
}

/* A thread blocked in pyth_cond_acquire on a condition with its own lock. */
TEST(cond_free_while_acquiring_own_lock) {
    pyth_cond_t *c = pyth_cond_new();
    CHECK_STATUS(pyth_cond_acquire(c, true, PYTH_FOREVER), PYTH_OK);
    acquirer a = {.c = c};
    h_thread t = spawn(acquirer_fn, &a);
    CHECK(WAIT_UNTIL(atomic_load(&a.tid) != 0, 30));
    if (WAIT_BLOCKED(atomic_load(&a.tid), 30)) {
        CHECK_STATUS(pyth_cond_free(c), PYTH_EBUSY);
    } else {
        CHECK(!"acquirer never blocked");
    }
    CHECK(pyth_cond_locked(c));
    CHECK_STATUS(pyth_cond_release(c), PYTH_OK);
    join_within(t, 60);
    CHECK_EQ(a.acq, PYTH_OK);
    CHECK_EQ(a.rel, PYTH_OK);
    CHECK_STATUS(pyth_cond_free(c), PYTH_OK);
}

/* A lock used by a condition cannot be freed before the condition. */
TEST(cond_borrowed_lock_outlives_condition) {
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_cond_t *cl = pyth_cond_new_with_lock(l);
    pyth_cond_t *cr = pyth_cond_new_with_rlock(r);
    CHECK_STATUS(pyth_lock_free(l), PYTH_EBUSY);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_EBUSY);
    /* Both still work through the conditions. */
    CHECK_STATUS(pyth_cond_acquire(cl, true, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_cond_acquire(cr, true, PYTH_FOREVER), PYTH_OK);
    CHECK(pyth_lock_locked(l));
    CHECK(pyth_rlock_is_owned(r));
    CHECK_STATUS(pyth_cond_release(cl), PYTH_OK);
    CHECK_STATUS(pyth_cond_release(cr), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(cl), PYTH_OK);
    CHECK_STATUS(pyth_cond_free(cr), PYTH_OK);
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
}

TEST(cond_bad_handles) {
    CHECK(pyth_cond_new_with_lock(NULL) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    CHECK(pyth_cond_new_with_rlock(NULL) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    pyth_lock_t *l = pyth_lock_new();
    pyth_rlock_t *r = pyth_rlock_new();
    pyth_semaphore_t *s = pyth_semaphore_new(1);
    CHECK(pyth_cond_new_with_lock((pyth_lock_t *)r) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    CHECK(pyth_cond_new_with_rlock((pyth_rlock_t *)l) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    CHECK(pyth_cond_new_with_lock((pyth_lock_t *)s) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    /* The failed constructors took no reference. */
    CHECK_STATUS(pyth_lock_free(l), PYTH_OK);
    CHECK_STATUS(pyth_rlock_free(r), PYTH_OK);
    pyth_cond_t *fake = (pyth_cond_t *)s;
    CHECK_STATUS(pyth_cond_acquire(fake, false, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_release(fake), PYTH_EINVAL);
    CHECK(!pyth_cond_locked(fake));
    CHECK_STATUS(pyth_cond_wait(fake, 0.0), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_wait_for(fake, const_pred, &(pred_state){.result = true}, 0.0), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_notify(fake, 1), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_notify_all(fake), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_free(fake), PYTH_EINVAL);
    CHECK_EQ(pyth_semaphore_value(s), 1);
    CHECK_STATUS(pyth_semaphore_free(s), PYTH_OK);
    CHECK_STATUS(pyth_cond_acquire(NULL, true, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_wait(NULL, PYTH_FOREVER), PYTH_EINVAL);
    CHECK_STATUS(pyth_cond_wait_for(NULL, const_pred, &(pred_state){.result = true}, PYTH_FOREVER), PYTH_EINVAL);
}

int main(void) {
    RUN(cond_basics);
    RUN(cond_acquire_args);
    RUN(cond_wait_notify_need_the_lock);
    RUN(cond_wait_timeout);
    RUN(cond_wait_timeout_other_thread);
    RUN(cond_wait_for_true_predicate_without_lock);
    RUN(cond_wait_for_false_predicate_without_lock);
    RUN(cond_wait_for_null_predicate);
    RUN(cond_wait_for_timeout);
    RUN(cond_wait_for_notified);
    RUN(cond_notify_wakes_exactly_n);
    RUN(cond_notify_more_than_waiters);
    RUN(cond_notify_oldest_first);
    RUN(cond_notify_wakes_only_current_waiters);
    RUN(cond_rlock_depth_3);
    RUN(cond_on_plain_lock);
    RUN(cond_wait_timeout_max);
    RUN(cond_free_while_waiting);
    RUN(cond_free_while_acquiring_own_lock);
    RUN(cond_borrowed_lock_outlives_condition);
    RUN(cond_bad_handles);
    return REPORT();
}
