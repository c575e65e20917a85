/* pyth_timer_*: Python's threading.Timer. */
#include "harness.h"
#include <math.h>

static double slack(void) { return getenv("PYTH_TEST_QUICK") ? 20.0 : 3.0; }

typedef struct {
    atomic_int runs;
    double at;                  /* now_s() when the function ran */
    pyth_thread_t *self;
    void *arg_seen;
    int ret;
} shot;

static int shot_fn(void *arg) {
    shot *s = arg;
    s->at = now_s();
    s->self = pyth_current_thread();
    s->arg_seen = arg;
    atomic_fetch_add(&s->runs, 1);
    return s->ret;
}

TEST(fires_after_interval) {
    double intervals[] = {0.2, 0.05};
    for (size_t k = 0; k < 2; k++) {
        double iv = intervals[k];
        shot s;
        memset(&s, 0, sizeof s);
        pyth_thread_t *t = pyth_timer_new(iv, shot_fn, &s);
        CHECK(t != NULL);
        CHECK(!pyth_thread_is_alive(t));
        double t0 = now_s();
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        CHECK(pyth_thread_is_alive(t));
        /* Not before the interval. */
        CHECK_STATUS(pyth_thread_join(t, iv / 2), PYTH_TIMEOUT);
        CHECK(atomic_load(&s.runs) == 0 || s.at - t0 >= iv);
        CHECK_STATUS(pyth_thread_join(t, iv + 60.0), PYTH_OK);
        CHECK_EQ(atomic_load(&s.runs), 1);
        CHECK(s.at - t0 >= iv);
        CHECK(s.at - t0 < iv + slack());
        /* It runs in the timer's own thread, with its argument. */
        CHECK(s.self == t);
        CHECK(s.arg_seen == &s);
        CHECK(!pyth_thread_is_alive(t));
        /* Cancelling after it fired changes nothing. */
        CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
        CHECK_EQ(atomic_load(&s.runs), 1);
        pyth_thread_free(t);
    }
}

TEST(cancel_before_firing) {
    /* Started, then cancelled: the function never runs and the timer ends
     * promptly (it does not sit out its interval). */
    shot s;
    memset(&s, 0, sizeof s);
    pyth_thread_t *t = pyth_timer_new(30.0, shot_fn, &s);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 0.05), PYTH_TIMEOUT);
    double t0 = now_s();
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(now_s() - t0 < slack());
    CHECK_EQ(atomic_load(&s.runs), 0);
    /* Cancelling twice is harmless. */
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
    CHECK_EQ(atomic_load(&s.runs), 0);
    pyth_thread_free(t);

    /* Cancelled right after start with a short interval: still never runs. */
    for (int i = 0; i < ITERS(100); i++) {
        memset(&s, 0, sizeof s);
        t = pyth_timer_new(0.01, shot_fn, &s);
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        CHECK_EQ(atomic_load(&s.runs), 0);
        pyth_thread_free(t);
    }

    /* Cancelled before start: starting it runs nothing and ends at once. */
    memset(&s, 0, sizeof s);
    t = pyth_timer_new(0.0, shot_fn, &s);
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&s.runs), 0);
    pyth_thread_free(t);
}

/* Cancel races with firing: the function runs at most once, and if cancel
 * came first it does not run. */
typedef struct {
    pyth_thread_t *timer;
    pyth_event_t *go;
    pyth_status st;
} canceller;

static int cancel_fn(void *arg) {
    canceller *c = arg;
    pyth_event_wait(c->go, 60.0);
    c->st = pyth_timer_cancel(c->timer);
    return 0;
}

TEST(cancel_from_another_thread) {
    for (int i = 0; i < ITERS(50); i++) {
        shot s;
        memset(&s, 0, sizeof s);
        pyth_thread_t *t = pyth_timer_new(0.0005 * (i % 4), shot_fn, &s);
        canceller c = {t, pyth_event_new(), 999};
        pyth_thread_t *ct = pyth_thread_new(cancel_fn, &c, NULL, 0);
        pyth_thread_start(ct);
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        pyth_event_set(c.go);
        CHECK_STATUS(pyth_thread_join(ct, 60.0), PYTH_OK);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        CHECK_EQ(c.st, PYTH_OK);
        CHECK(atomic_load(&s.runs) <= 1);
        pyth_thread_free(ct);
        pyth_thread_free(t);
        pyth_event_free(c.go);
    }
}

/* Cancelled from another thread while it sleeps through a long interval:
 * the function never runs, and the timer's thread ends at once. */
typedef struct {
    pyth_thread_t *timer;
    pyth_status st;
} cancel_call;

static void *cancel_pthread(void *arg) {
    cancel_call *c = arg;
    c->st = pyth_timer_cancel(c->timer);
    return NULL;
}

TEST(cancel_while_asleep_from_another_thread) {
    shot s;
    memset(&s, 0, sizeof s);
    pyth_thread_t *t = pyth_timer_new(30.0, shot_fn, &s);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK(WAIT_BLOCKED((pid_t)pyth_thread_native_id(t), 30));
    double t0 = now_s();
    cancel_call cc = {t, PYTH_EINVAL};
    join_within(spawn(cancel_pthread, &cc), 60);
    CHECK_EQ(cc.st, PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(now_s() - t0 < h_slack());
    CHECK_EQ(atomic_load(&s.runs), 0);
    pyth_thread_free(t);
}

TEST(forever_waits_until_cancelled) {
    shot s;
    memset(&s, 0, sizeof s);
    pyth_thread_t *t = pyth_timer_new(PYTH_FOREVER, shot_fn, &s);
    CHECK(t != NULL);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 0.2), PYTH_TIMEOUT);
    CHECK_EQ(atomic_load(&s.runs), 0);
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&s.runs), 0);
    pyth_thread_free(t);
}

TEST(negative_and_zero_interval_fire_at_once) {
    double ivs[] = {-1.0e6, -0.5, -2.0, 0.0};
    for (size_t k = 0; k < sizeof ivs / sizeof *ivs; k++) {
        shot s;
        memset(&s, 0, sizeof s);
        pyth_thread_t *t = pyth_timer_new(ivs[k], shot_fn, &s);
        CHECK(t != NULL);
        double t0 = now_s();
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        CHECK_EQ(atomic_load(&s.runs), 1);
        CHECK(s.at - t0 < slack());
        pyth_thread_free(t);
    }
}

TEST(invalid_interval) {
    shot s;
    CHECK(pyth_timer_new(NAN, shot_fn, &s) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EVALUE);
    CHECK(pyth_timer_new(PYTH_TIMEOUT_MAX * 2, shot_fn, &s) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EOVERFLOW);
    CHECK(pyth_timer_new(INFINITY, shot_fn, &s) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EOVERFLOW);
    /* The largest accepted value is accepted (and cancellable). */
    pyth_thread_t *t = pyth_timer_new(PYTH_TIMEOUT_MAX, shot_fn, &s);
    CHECK(t != NULL);
    memset(&s, 0, sizeof s);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&s.runs), 0);
    pyth_thread_free(t);
}

TEST(cancel_non_timer) {
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, NULL, 0);
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_EINVAL);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_EINVAL);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_EINVAL);
    pyth_thread_free(t);
    CHECK_STATUS(pyth_timer_cancel(pyth_main_thread()), PYTH_EINVAL);
    CHECK_STATUS(pyth_timer_cancel(NULL), PYTH_EINVAL);
    pyth_event_t *e = pyth_event_new();
    CHECK_STATUS(pyth_timer_cancel((pyth_thread_t *)e), PYTH_EINVAL);
    pyth_event_free(e);
}

TEST(timer_is_a_thread) {
    shot s;
    memset(&s, 0, sizeof s);
    pyth_thread_t *t = pyth_timer_new(0.0, shot_fn, &s);
    /* Named Thread-N, from the shared counter. */
    char buf[64], tail;
    long n = -1, m = -1;
    pyth_thread_name(t, buf, sizeof buf);
    CHECK(sscanf(buf, "Thread-%ld%c", &n, &tail) == 1);
    pyth_thread_t *u = pyth_thread_new(NULL, NULL, NULL, 0);
    pyth_thread_name(u, buf, sizeof buf);
    CHECK(sscanf(buf, "Thread-%ld", &m) == 1);
    CHECK_EQ(m, n + 1);
    pyth_thread_t *v = pyth_timer_new(1.0, shot_fn, &s);
    pyth_thread_name(v, buf, sizeof buf);
    CHECK(sscanf(buf, "Thread-%ld", &m) == 1);
    CHECK_EQ(m, n + 2);
    pyth_thread_free(u);
    pyth_thread_free(v);
    /* Thread operations apply: rename, daemon, identity, join rules. */
    CHECK_STATUS(pyth_thread_set_name(t, "ticker"), PYTH_OK);
    CHECK(!pyth_thread_daemon(t)); /* inherited from main */
    CHECK_STATUS(pyth_thread_set_daemon(t, true), PYTH_OK);
    CHECK_EQ(pyth_thread_ident(t), 0);
    CHECK_STATUS(pyth_thread_join(t, 1.0), PYTH_ERUNTIME);
    CHECK_MSG("cannot join thread before it is started");
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK(pyth_thread_ident(t) != 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_ERUNTIME);
    CHECK_MSG("threads can only be started once");
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(pyth_thread_daemon(t));
    CHECK(s.self == t);
    CHECK_EQ(pyth_thread_name(t, buf, sizeof buf), 6);
    CHECK(strcmp(buf, "ticker") == 0);
    pyth_thread_free(t);
}

/* A failing timer function goes to the excepthook, like a thread target. */
static atomic_int hook_calls, hook_code;
static pyth_thread_t *hook_thread;
static void hook(const pyth_excepthook_args *a, void *u) {
    (void)u;
    hook_thread = a->thread;
    atomic_store(&hook_code, a->code);
    atomic_fetch_add(&hook_calls, 1);
}

TEST(failing_function) {
    pyth_set_excepthook(hook, NULL);
    shot s;
    memset(&s, 0, sizeof s);
    s.ret = 9;
    pyth_thread_t *t = pyth_timer_new(0.0, shot_fn, &s);
    pyth_thread_start(t);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&hook_calls), 1);
    CHECK_EQ(atomic_load(&hook_code), 9);
    CHECK(hook_thread == t);
    pyth_thread_free(t);
    /* A cancelled failing timer reports nothing. */
    t = pyth_timer_new(30.0, shot_fn, &s);
    pyth_thread_start(t);
    pyth_timer_cancel(t);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&hook_calls), 1);
    pyth_thread_free(t);
    pyth_set_excepthook(NULL, NULL);
}

/* A NULL function is accepted, as a thread's NULL target is: the timer
 * waits its interval, runs nothing and reports nothing. (Python's
 * Timer(0, None) would raise TypeError in the timer thread; the C API
 * treats NULL like a thread's target=None.) */
TEST(null_function) {
    pyth_set_excepthook(hook, NULL);
    atomic_store(&hook_calls, 0);
    double ivs[] = {0.0, -0.5, 0.1};
    for (size_t k = 0; k < sizeof ivs / sizeof *ivs; k++) {
        pyth_thread_t *t = pyth_timer_new(ivs[k], NULL, NULL);
        CHECK(t != NULL);
        if (!t) continue;
        double t0 = now_s();
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        double el = now_s() - t0;
        CHECK(el >= ivs[k]);
        CHECK(el < (ivs[k] > 0 ? ivs[k] : 0) + slack());
        CHECK(!pyth_thread_is_alive(t));
        CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
        CHECK_STATUS(pyth_thread_free(t), PYTH_OK);
    }
    /* Cancellable like any timer. */
    pyth_thread_t *t = pyth_timer_new(30.0, NULL, NULL);
    CHECK(t != NULL);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_STATUS(pyth_thread_free(t), PYTH_OK);
    CHECK_EQ(atomic_load(&hook_calls), 0);
    pyth_set_excepthook(NULL, NULL);
}

/* A timer's daemon flag is inherited from the thread that creates it, as
 * for any thread (Python's Timer is a Thread with daemon=None): daemon in a
 * daemon libpyth thread and in a plain pthread (a dummy thread, which is a
 * daemon), not in the main thread. */
typedef struct {
    bool creator_daemon, timer_daemon, created;
    pyth_status start_st, join_st;
    shot s;
} timer_maker;

static void make_timer(timer_maker *m) {
    m->creator_daemon = pyth_thread_daemon(pyth_current_thread());
    pyth_thread_t *t = pyth_timer_new(0.0, shot_fn, &m->s);
    m->created = t != NULL;
    if (!t) return;
    m->timer_daemon = pyth_thread_daemon(t);
    m->start_st = pyth_thread_start(t);
    m->join_st = pyth_thread_join(t, 60.0);
    pyth_thread_free(t);
}

static int timer_maker_fn(void *arg) {
    make_timer(arg);
    return 0;
}

static void *timer_maker_pthread(void *arg) {
    make_timer(arg);
    return NULL;
}

static void check_made(timer_maker *m, bool daemon, const char *where) {
    h_checks++;
    if (!m->created || m->creator_daemon != daemon || m->timer_daemon != daemon)
        H_FAIL("timer created in %s: created %d, creator daemon %d, timer daemon %d (expected %d)", where, m->created,
               m->creator_daemon, m->timer_daemon, daemon);
    CHECK_EQ(m->start_st, PYTH_OK);
    CHECK_EQ(m->join_st, PYTH_OK);
    CHECK_EQ(atomic_load(&m->s.runs), 1);
}

/* Runs timer_maker_fn on a libpyth thread with the given daemon flag. */
static void make_on_pyth_thread(timer_maker *m, int daemon) {
    memset(m, 0, sizeof *m);
    pyth_thread_t *t = pyth_thread_new(timer_maker_fn, m, NULL, daemon);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    pyth_thread_free(t);
}

TEST(timer_daemon_inherited) {
    timer_maker m;
    make_on_pyth_thread(&m, 1);
    check_made(&m, true, "a daemon thread");
    make_on_pyth_thread(&m, 0);
    check_made(&m, false, "a non-daemon thread");
    /* A plain pthread: a dummy thread, a daemon. */
    memset(&m, 0, sizeof m);
    h_thread h = spawn(timer_maker_pthread, &m);
    join_within(h, 60);
    check_made(&m, true, "a plain pthread (dummy thread)");
    /* The main thread. */
    memset(&m, 0, sizeof m);
    make_timer(&m);
    check_made(&m, false, "the main thread");
}

/* Several timers at once: each fires once, no earlier than its own
 * interval (timers do not wait for each other). */
TEST(concurrent_timers) {
    double ivs[4] = {0.40, 0.10, 0.30, 0.20};
    shot s[4];
    pyth_thread_t *t[4];
    memset(s, 0, sizeof s);
    for (int i = 0; i < 4; i++) t[i] = pyth_timer_new(ivs[i], shot_fn, &s[i]);
    double t0 = now_s();
    for (int i = 0; i < 4; i++) CHECK_STATUS(pyth_thread_start(t[i]), PYTH_OK);
    for (int i = 0; i < 4; i++) {
        CHECK_STATUS(pyth_thread_join(t[i], 60.0), PYTH_OK);
        CHECK_EQ(atomic_load(&s[i].runs), 1);
        CHECK(s[i].at - t0 >= ivs[i]);
        CHECK(s[i].at - t0 < ivs[i] + slack());
        pyth_thread_free(t[i]);
    }
    /* All four ran in parallel: the whole took about the longest one. */
    CHECK(now_s() - t0 < 0.40 + slack());
}

int main(void) {
    RUN(fires_after_interval);
    RUN(cancel_before_firing);
    RUN(cancel_from_another_thread);
    RUN(cancel_while_asleep_from_another_thread);
    RUN(forever_waits_until_cancelled);
    RUN(negative_and_zero_interval_fire_at_once);
    RUN(invalid_interval);
    RUN(cancel_non_timer);
    RUN(timer_is_a_thread);
    RUN(failing_function);
    RUN(null_function);
    RUN(timer_daemon_inherited);
    RUN(concurrent_timers);
    return REPORT();
}
