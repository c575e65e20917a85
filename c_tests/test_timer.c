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

TEST(failing_function_and_null_function) {
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
    /* No function: nothing to run, not an error. */
    t = pyth_timer_new(0.0, NULL, NULL);
    if (t) {
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        pyth_thread_free(t);
    } else {
        CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    }
    CHECK_EQ(atomic_load(&hook_calls), 1);
    pyth_set_excepthook(NULL, NULL);
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
    RUN(forever_waits_until_cancelled);
    RUN(negative_and_zero_interval_fire_at_once);
    RUN(invalid_interval);
    RUN(cancel_non_timer);
    RUN(timer_is_a_thread);
    RUN(failing_function_and_null_function);
    RUN(concurrent_timers);
    return REPORT();
}
