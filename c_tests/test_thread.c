/* pyth_thread_*: Python's threading.Thread objects (new, start, join,
 * names, identity, daemon flag, reference counting, the OS thread name). */
#include "harness.h"
#include <math.h>
#include <sys/syscall.h>

/* Upper bound on scheduling delays: 2 noisy cores natively, valgrind ~50x. */
static double slack(void) { return getenv("PYTH_TEST_QUICK") ? 20.0 : 3.0; }

/* Bounded wait for an event that must be set (a hang would be a failure). */
#define WAIT_EV(e) CHECK_STATUS(pyth_event_wait((e), 60.0), PYTH_OK)

/* What a probe thread saw about itself. */
typedef struct {
    pyth_event_t *started;  /* set by the thread when it runs */
    pyth_event_t *go;       /* the thread waits for it (if not NULL) */
    pyth_event_t *finished; /* set by the thread as its last action */
    atomic_int runs;
    pyth_thread_t *self;    /* pyth_current_thread() inside */
    uint64_t ident, native, pself;
    long tid;
    bool daemon_inside;     /* pyth_thread_daemon(self) inside */
    char osname[32];
    char name_inside[64];
    pyth_status join_self;
    char join_self_msg[128];
    pyth_status go_status;
    int ret;                /* what the target returns */
} probe;

static void probe_init(probe *p, bool with_go) {
    memset(p, 0, sizeof *p);
    p->started = pyth_event_new();
    p->finished = pyth_event_new();
    p->go = with_go ? pyth_event_new() : NULL;
    p->join_self = 12345;
}

static void probe_fini(probe *p) {
    CHECK_STATUS(pyth_event_free(p->started), PYTH_OK);
    CHECK_STATUS(pyth_event_free(p->finished), PYTH_OK);
    CHECK_STATUS(pyth_event_free(p->go), PYTH_OK);
}

static int probe_fn(void *arg) {
    probe *p = arg;
    atomic_fetch_add(&p->runs, 1);
    p->self = pyth_current_thread();
    p->ident = pyth_get_ident();
    p->native = pyth_get_native_id();
    p->pself = (uint64_t)pthread_self();
    p->tid = syscall(SYS_gettid);
    p->daemon_inside = pyth_thread_daemon(p->self);
    pyth_thread_name(p->self, p->name_inside, sizeof p->name_inside);
    if (pthread_getname_np(pthread_self(), p->osname, sizeof p->osname) != 0) p->osname[0] = 0;
    p->join_self = pyth_thread_join(p->self, 1.0);
    snprintf(p->join_self_msg, sizeof p->join_self_msg, "%s", pyth_last_error());
    pyth_event_set(p->started);
    if (p->go) p->go_status = pyth_event_wait(p->go, 60.0);
    pyth_event_set(p->finished);
    return p->ret;
}

static const char *name_of(const pyth_thread_t *t, char *buf, size_t cap) {
    pyth_thread_name(t, buf, cap);
    return buf;
}

/* Parses "Thread-N"; returns N or -1. */
static long thread_number(const pyth_thread_t *t) {
    char buf[64], tail;
    long n;
    name_of(t, buf, sizeof buf);
    if (sscanf(buf, "Thread-%ld%c", &n, &tail) != 1) return -1;
    return n;
}

/* ---------------------------------------------------------------------- */

TEST(null_target_runs_nothing) {
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, NULL, PYTH_DAEMON_INHERIT);
    CHECK(t != NULL);
    CHECK(!pyth_thread_is_alive(t));
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(!pyth_thread_is_alive(t));
    CHECK(pyth_thread_ident(t) != 0);
    CHECK_STATUS(pyth_thread_free(t), PYTH_OK);
}

TEST(auto_names_increase) {
    pyth_thread_t *a = pyth_thread_new(NULL, NULL, NULL, 0);
    pyth_thread_t *b = pyth_thread_new(NULL, NULL, NULL, 0);
    pyth_thread_t *c = pyth_thread_new(NULL, NULL, NULL, 0);
    long na = thread_number(a), nb = thread_number(b), nc = thread_number(c);
    CHECK(na >= 1);
    CHECK_EQ(nb, na + 1);
    CHECK_EQ(nc, nb + 1);
    char buf[64];
    snprintf(buf, sizeof buf, "Thread-%ld", na);
    char got[64];
    CHECK(strcmp(name_of(a, got, sizeof got), buf) == 0);
    /* A custom name does not take a number; the next default one does. */
    pyth_thread_t *d = pyth_thread_new(NULL, NULL, "custom", 0);
    pyth_thread_t *e = pyth_thread_new(NULL, NULL, NULL, 0);
    CHECK(strcmp(name_of(d, got, sizeof got), "custom") == 0);
    CHECK(thread_number(e) > nc);
    /* The name survives start and end. */
    CHECK_STATUS(pyth_thread_start(a), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(a, 60.0), PYTH_OK);
    CHECK(strcmp(name_of(a, got, sizeof got), buf) == 0);
    pyth_thread_free(a);
    pyth_thread_free(b);
    pyth_thread_free(c);
    pyth_thread_free(d);
    pyth_thread_free(e);
}

TEST(name_snprintf_semantics) {
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, "worker-42", 0); /* 9 bytes */
    char buf[16];
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(pyth_thread_name(t, buf, sizeof buf), 9);
    CHECK(strcmp(buf, "worker-42") == 0);
    /* Exactly fits with its NUL. */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(pyth_thread_name(t, buf, 10), 9);
    CHECK(strcmp(buf, "worker-42") == 0);
    /* Truncated: cap - 1 bytes and a NUL, full length returned, rest untouched. */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(pyth_thread_name(t, buf, 9), 9);
    CHECK(strcmp(buf, "worker-4") == 0);
    CHECK_EQ(buf[9], 'x');
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(pyth_thread_name(t, buf, 4), 9);
    CHECK(strcmp(buf, "wor") == 0);
    CHECK_EQ(buf[4], 'x');
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(pyth_thread_name(t, buf, 1), 9);
    CHECK_EQ(buf[0], 0);
    CHECK_EQ(buf[1], 'x');
    /* cap 0 writes nothing; NULL buf only measures. */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(pyth_thread_name(t, buf, 0), 9);
    CHECK_EQ(buf[0], 'x');
    CHECK_EQ(pyth_thread_name(t, NULL, 0), 9);
    CHECK_EQ(pyth_thread_name(t, NULL, 100), 9);
    /* Empty name. */
    CHECK_STATUS(pyth_thread_set_name(t, ""), PYTH_OK);
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(pyth_thread_name(t, buf, sizeof buf), 0);
    CHECK_EQ(buf[0], 0);
    /* A long name (longer than the OS limit) is kept whole. */
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = 0;
    CHECK_STATUS(pyth_thread_set_name(t, longname), PYTH_OK);
    char big[400];
    CHECK_EQ(pyth_thread_name(t, big, sizeof big), 299);
    CHECK(strcmp(big, longname) == 0);
    /* Bad handle: 0, buffer untouched. */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(pyth_thread_name(NULL, buf, sizeof buf), 0);
    CHECK_EQ(buf[0], 'x');
    pyth_thread_free(t);
}

TEST(set_name) {
    probe p;
    probe_init(&p, true);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, "before", 0);
    char buf[64];
    CHECK_STATUS(pyth_thread_set_name(t, "renamed"), PYTH_OK);
    CHECK(strcmp(name_of(t, buf, sizeof buf), "renamed") == 0);
    CHECK_STATUS(pyth_thread_set_name(t, NULL), PYTH_EINVAL);
    CHECK(strcmp(name_of(t, buf, sizeof buf), "renamed") == 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    WAIT_EV(p.started);
    CHECK(strcmp(p.name_inside, "renamed") == 0);
    /* Renaming a running thread is allowed (Python allows it). */
    CHECK_STATUS(pyth_thread_set_name(t, "while-running"), PYTH_OK);
    CHECK(strcmp(name_of(t, buf, sizeof buf), "while-running") == 0);
    CHECK_STATUS(pyth_event_set(p.go), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_STATUS(pyth_thread_set_name(t, "after"), PYTH_OK);
    CHECK(strcmp(name_of(t, buf, sizeof buf), "after") == 0);
    CHECK_STATUS(pyth_thread_set_name(NULL, "x"), PYTH_EINVAL);
    pyth_thread_free(t);
    probe_fini(&p);
}

TEST(start_runs_target_once_with_arg) {
    probe p;
    probe_init(&p, false);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, NULL, 0);
    CHECK(t != NULL);
    /* Not started: nothing ran. */
    CHECK_EQ(atomic_load(&p.runs), 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&p.runs), 1);
    CHECK(pyth_event_is_set(p.finished));
    pyth_thread_free(t);
    probe_fini(&p);
}

TEST(start_twice) {
    probe p;
    probe_init(&p, true);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    /* While running. */
    CHECK_STATUS(pyth_thread_start(t), PYTH_ERUNTIME);
    CHECK_MSG("threads can only be started once");
    pyth_event_set(p.go);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    /* After it ended. */
    CHECK_STATUS(pyth_thread_start(t), PYTH_ERUNTIME);
    CHECK_MSG("threads can only be started once");
    CHECK_EQ(atomic_load(&p.runs), 1);
    CHECK(!pyth_thread_is_alive(t));
    pyth_thread_free(t);
    probe_fini(&p);
}

TEST(join_before_start) {
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, NULL, 0);
    CHECK_STATUS(pyth_thread_join(t, PYTH_FOREVER), PYTH_ERUNTIME);
    CHECK_MSG("cannot join thread before it is started");
    CHECK_STATUS(pyth_thread_join(t, 0.0), PYTH_ERUNTIME);
    CHECK_MSG("cannot join thread before it is started");
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    pyth_thread_free(t);
}

TEST(join_current_thread) {
    probe p;
    probe_init(&p, false);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(p.join_self, PYTH_ERUNTIME);
    CHECK(strcmp(p.join_self_msg, "cannot join current thread") == 0);
    pyth_thread_free(t);
    probe_fini(&p);
}

TEST(join_timeout) {
    probe p;
    probe_init(&p, true);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    WAIT_EV(p.started);
    double t0 = now_s();
    CHECK_STATUS(pyth_thread_join(t, 0.15), PYTH_TIMEOUT);
    double el = now_s() - t0;
    CHECK(el >= 0.15);
    CHECK(el < 0.15 + slack());
    CHECK(pyth_thread_is_alive(t));
    /* Zero and negative timeouts do not block. */
    t0 = now_s();
    CHECK_STATUS(pyth_thread_join(t, 0.0), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_thread_join(t, -0.5), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_thread_join(t, -1e9), PYTH_TIMEOUT);
    CHECK(now_s() - t0 < slack());
    /* The timeout parser: NaN and too large. */
    CHECK_STATUS(pyth_thread_join(t, NAN), PYTH_EVALUE);
    CHECK_STATUS(pyth_thread_join(t, PYTH_TIMEOUT_MAX * 2), PYTH_EOVERFLOW);
    CHECK_STATUS(pyth_thread_join(t, INFINITY), PYTH_EOVERFLOW);
    CHECK(pyth_thread_is_alive(t));
    CHECK(!pyth_event_is_set(p.finished));
    pyth_event_set(p.go);
    /* A long timeout returns as soon as the thread ends. */
    t0 = now_s();
    CHECK_STATUS(pyth_thread_join(t, 100.0), PYTH_OK);
    CHECK(now_s() - t0 < slack());
    CHECK(!pyth_thread_is_alive(t));
    CHECK(pyth_event_is_set(p.finished));
    /* Joining an ended thread again: at once, whatever the timeout. */
    CHECK_STATUS(pyth_thread_join(t, PYTH_FOREVER), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 0.0), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, -3.0), PYTH_OK);
    CHECK_EQ(p.go_status, PYTH_OK);
    pyth_thread_free(t);
    probe_fini(&p);
}

/* Joining a thread that has ended does not block, but its timeout is still
 * validated (API.md: one parser for every timeout, whether or not the call
 * would block). */
TEST(join_ended_thread_validates_timeout) {
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(!pyth_thread_is_alive(t));
    CHECK_STATUS(pyth_thread_join(t, NAN), PYTH_EVALUE);
    CHECK_MSG("Invalid value NaN (not a number)");
    CHECK_STATUS(pyth_thread_join(t, -NAN), PYTH_EVALUE);
    CHECK_MSG("Invalid value NaN (not a number)");
    CHECK_STATUS(pyth_thread_join(t, 2 * PYTH_TIMEOUT_MAX), PYTH_EOVERFLOW);
    CHECK_MSG("timeout value is too large");
    CHECK_STATUS(pyth_thread_join(t, INFINITY), PYTH_EOVERFLOW);
    CHECK_MSG("timeout value is too large");
    /* Valid ones, and the largest, return at once. */
    double t0 = now_s();
    CHECK_STATUS(pyth_thread_join(t, PYTH_TIMEOUT_MAX), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, -INFINITY), PYTH_OK);
    CHECK(now_s() - t0 < slack());
    pyth_thread_free(t);
}

/* A join that cannot be made fails for that before its timeout is looked
 * at, as Python's join raises RuntimeError first. */
static int join_self_nan(void *arg) {
    pyth_status *out = arg;
    out[0] = pyth_thread_join(pyth_current_thread(), NAN);
    out[1] = strcmp(pyth_last_error(), "cannot join current thread") == 0;
    return 0;
}

TEST(join_errors_before_timeout_errors) {
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, NULL, 0);
    CHECK_STATUS(pyth_thread_join(t, NAN), PYTH_ERUNTIME);
    CHECK_MSG("cannot join thread before it is started");
    CHECK_STATUS(pyth_thread_join(t, 2 * PYTH_TIMEOUT_MAX), PYTH_ERUNTIME);
    CHECK_MSG("cannot join thread before it is started");
    pyth_thread_free(t);
    pyth_status out[2] = {PYTH_OK, 0};
    t = pyth_thread_new(join_self_nan, out, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(out[0], PYTH_ERUNTIME);
    CHECK(out[1]);
    pyth_thread_free(t);
}

/* A join survives signals: the joining thread is sent SIGUSR1 every 2 ms
 * (no SA_RESTART) while it waits. A timed join on a live thread returns
 * PYTH_TIMEOUT no earlier than its timeout; an unbounded one returns
 * PYTH_OK only once the target has ended. */
typedef struct {
    pyth_event_t *go;  /* the target waits for it */
    atomic_int ended;  /* set by the target as its last action */
    pyth_status go_st;
} sig_target;

static int sig_target_fn(void *arg) {
    sig_target *s = arg;
    s->go_st = pyth_event_wait(s->go, 120.0);
    atomic_store(&s->ended, 1);
    return 0;
}

/* Sets `go` once the joining thread has been seen asleep in its join, has
 * stayed there for a while and has been signalled meanwhile. */
typedef struct {
    sig_target *st;
    int joiner_tid;
    atomic_int *joined;
    bool saw_blocked, stayed, signalled;
    atomic_int set;    /* go was set */
} go_setter;

static void *go_setter_fn(void *p) {
    go_setter *g = p;
    /* Not WAIT_BLOCKED: it tests again after seeing the thread asleep, and
     * a thread being signalled every 2 ms is often awake in its handler. */
    double end = now_s() + 60;
    while (!(g->saw_blocked = h_in_futex_wait(g->joiner_tid)) && now_s() < end) sched_yield();
    int before = atomic_load(&sig_count);
    g->stayed = STAYS_FALSE(atomic_load(g->joined), 0.3);
    g->signalled = atomic_load(&sig_count) > before;
    atomic_store(&g->set, 1);
    pyth_event_set(g->st->go);
    return NULL;
}

TEST(join_survives_signals) {
    sig_target s;
    memset(&s, 0, sizeof s);
    s.go = pyth_event_new();
    pyth_thread_t *t = pyth_thread_new(sig_target_fn, &s, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);

    h_thread spam = spam_start();
    const double to = 0.3;
    for (int i = 0; i < 2; i++) {
        int before = atomic_load(&sig_count);
        double t0 = now_s();
        pyth_status st = pyth_thread_join(t, to);
        double el = now_s() - t0;
        CHECK_EQ(st, PYTH_TIMEOUT);
        h_checks++;
        if (el < to || el > to + h_slack()) H_FAIL("join(%.1f) under signals took %.3fs", to, el);
        CHECK(atomic_load(&sig_count) > before);
        CHECK(pyth_thread_is_alive(t));
        CHECK(!atomic_load(&s.ended));
    }

    /* Unbounded: returns only after the target ended. */
    atomic_int joined = 0;
    go_setter g = {.st = &s, .joiner_tid = h_gettid(), .joined = &joined};
    h_thread gt = spawn(go_setter_fn, &g);
    pyth_status st = pyth_thread_join(t, PYTH_FOREVER);
    atomic_store(&joined, 1);
    bool ended_at_return = atomic_load(&s.ended);
    bool set_at_return = atomic_load(&g.set);
    spam_stop(spam);
    join_within(gt, 120);
    CHECK_EQ(st, PYTH_OK);
    CHECK(g.saw_blocked);
    CHECK(g.stayed);     /* did not return while the target still waited */
    CHECK(g.signalled);  /* and was signalled meanwhile */
    CHECK(set_at_return);
    CHECK(ended_at_return);
    CHECK(!pyth_thread_is_alive(t));
    CHECK_EQ(s.go_st, PYTH_OK);
    pyth_thread_free(t);
    pyth_event_free(s.go);
}

/* Several threads join the same thread, bounded and unbounded; all return
 * when it ends. */
typedef struct {
    pyth_thread_t *target;
    double timeout;
    pyth_status st;
} joiner;
static int joiner_fn(void *arg) {
    joiner *j = arg;
    j->st = pyth_thread_join(j->target, j->timeout);
    return 0;
}

TEST(many_joiners) {
    probe p;
    probe_init(&p, true);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    joiner j[4];
    pyth_thread_t *jt[4];
    for (int i = 0; i < 4; i++) {
        j[i].target = t;
        j[i].timeout = i % 2 ? PYTH_FOREVER : 60.0;
        j[i].st = 999;
        /* Daemons: a joiner stuck by a bug must not hold up the exit. */
        jt[i] = pyth_thread_new(joiner_fn, &j[i], NULL, 1);
        CHECK_STATUS(pyth_thread_start(jt[i]), PYTH_OK);
    }
    /* The joiners stay blocked while the target runs. */
    CHECK_STATUS(pyth_thread_join(jt[0], 0.05), PYTH_TIMEOUT);
    pyth_event_set(p.go);
    for (int i = 0; i < 4; i++) {
        CHECK_STATUS(pyth_thread_join(jt[i], 60.0), PYTH_OK);
        CHECK_EQ(j[i].st, PYTH_OK);
        pyth_thread_free(jt[i]);
    }
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    pyth_thread_free(t);
    probe_fini(&p);
}

/* A thread's pthread key destructors run after its target, as its OS thread
 * ends. A bounded join returns when the target is done without waiting for
 * them; an unbounded one waits for the OS thread to be gone. */
static pthread_key_t g_slow_key;
static pyth_event_t *g_in_key_dtor, *g_leave_key_dtor;
static atomic_int g_key_dtor_done;

static void slow_key_dtor(void *v) {
    (void)v;
    pyth_event_set(g_in_key_dtor);
    pyth_event_wait(g_leave_key_dtor, 60.0);
    atomic_store(&g_key_dtor_done, 1);
}

static int set_slow_key(void *arg) {
    (void)arg;
    return pthread_setspecific(g_slow_key, &g_slow_key);
}

TEST(join_and_os_thread_teardown) {
    CHECK_EQ(pthread_key_create(&g_slow_key, slow_key_dtor), 0);
    g_in_key_dtor = pyth_event_new();
    g_leave_key_dtor = pyth_event_new();
    atomic_store(&g_key_dtor_done, 0);
    pyth_thread_t *t = pyth_thread_new(set_slow_key, NULL, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    double t0 = now_s();
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(now_s() - t0 < slack());
    CHECK(!pyth_thread_is_alive(t));
    /* The OS thread is still in its key destructor. */
    CHECK_STATUS(pyth_event_wait(g_in_key_dtor, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&g_key_dtor_done), 0);
    pyth_event_set(g_leave_key_dtor);
    CHECK_STATUS(pyth_thread_join(t, PYTH_FOREVER), PYTH_OK);
    CHECK_EQ(atomic_load(&g_key_dtor_done), 1);
    pyth_thread_free(t);

    /* Freed while its OS thread is still ending: released all the same. */
    pyth_event_clear(g_in_key_dtor);
    pyth_event_clear(g_leave_key_dtor);
    atomic_store(&g_key_dtor_done, 0);
    t = pyth_thread_new(set_slow_key, NULL, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_STATUS(pyth_event_wait(g_in_key_dtor, 60.0), PYTH_OK);
    CHECK_STATUS(pyth_thread_free(t), PYTH_OK);
    pyth_event_set(g_leave_key_dtor);
    CHECK(WAIT_UNTIL(atomic_load(&g_key_dtor_done) == 1, 60));
    pyth_event_free(g_in_key_dtor);
    pyth_event_free(g_leave_key_dtor);
    pthread_key_delete(g_slow_key);
}

TEST(is_alive_lifecycle) {
    probe p;
    probe_init(&p, true);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, NULL, 0);
    CHECK(!pyth_thread_is_alive(t));
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    /* Alive as soon as start returns, before it ran anything. */
    CHECK(pyth_thread_is_alive(t));
    WAIT_EV(p.started);
    CHECK(pyth_thread_is_alive(t));
    pyth_event_set(p.go);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(!pyth_thread_is_alive(t));
    CHECK(!pyth_thread_is_alive(NULL));
    pyth_thread_free(t);
    probe_fini(&p);
}

TEST(ident_and_native_id) {
    probe p;
    probe_init(&p, true);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, NULL, 0);
    CHECK_EQ(pyth_thread_ident(t), 0);
    CHECK_EQ(pyth_thread_native_id(t), 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    /* Known as soon as start returns. */
    uint64_t id = pyth_thread_ident(t), nid = pyth_thread_native_id(t);
    CHECK(id != 0);
    CHECK(nid != 0);
    WAIT_EV(p.started);
    CHECK_EQ(id, p.ident);
    CHECK_EQ(id, p.pself);
    CHECK_EQ(nid, p.native);
    CHECK_EQ(nid, p.tid);
    CHECK(id != pyth_get_ident());
    CHECK(nid != pyth_get_native_id());
    CHECK(nid != (uint64_t)getpid());
    pyth_event_set(p.go);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    /* Kept after the thread ended (as Python). */
    CHECK_EQ(pyth_thread_ident(t), id);
    CHECK_EQ(pyth_thread_native_id(t), nid);
    CHECK_EQ(pyth_thread_ident(NULL), 0);
    CHECK_EQ(pyth_thread_native_id(NULL), 0);
    pyth_thread_free(t);
    probe_fini(&p);
}

TEST(current_thread_is_the_handle) {
    probe p;
    probe_init(&p, false);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(p.self == t);
    CHECK(pyth_current_thread() != t);
    pyth_thread_free(t);
    probe_fini(&p);
}

/* A thread that creates a child thread with the given daemon argument and
 * reports the child's flag. */
typedef struct {
    int child_daemon_arg;
    bool self_daemon, child_daemon, child_ran_daemon;
    pyth_status child_join;
    probe child;
} spawner;

static int spawner_fn(void *arg) {
    spawner *s = arg;
    s->self_daemon = pyth_thread_daemon(pyth_current_thread());
    pyth_thread_t *c = pyth_thread_new(probe_fn, &s->child, NULL, s->child_daemon_arg);
    if (!c) return 1;
    s->child_daemon = pyth_thread_daemon(c);
    pyth_thread_start(c);
    s->child_join = pyth_thread_join(c, 60.0);
    s->child_ran_daemon = s->child.daemon_inside;
    pyth_thread_free(c);
    return 0;
}

static void check_inherit(int parent_daemon, int child_arg, bool expected) {
    spawner s;
    memset(&s, 0, sizeof s);
    probe_init(&s.child, false);
    s.child_daemon_arg = child_arg;
    pyth_thread_t *t = pyth_thread_new(spawner_fn, &s, NULL, parent_daemon);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(s.self_daemon, parent_daemon == 1);
    CHECK_EQ(s.child_daemon, expected);
    CHECK_EQ(s.child_ran_daemon, expected);
    CHECK_EQ(s.child_join, PYTH_OK);
    pyth_thread_free(t);
    probe_fini(&s.child);
}

TEST(daemon_flag) {
    /* Explicit values. */
    pyth_thread_t *d = pyth_thread_new(NULL, NULL, NULL, 1);
    pyth_thread_t *n = pyth_thread_new(NULL, NULL, NULL, 0);
    CHECK(pyth_thread_daemon(d));
    CHECK(!pyth_thread_daemon(n));
    /* main is not a daemon, so its children inherit "not daemon". */
    CHECK(!pyth_thread_daemon(pyth_current_thread()));
    pyth_thread_t *i = pyth_thread_new(NULL, NULL, NULL, PYTH_DAEMON_INHERIT);
    CHECK(!pyth_thread_daemon(i));
    /* Changeable before start. */
    CHECK_STATUS(pyth_thread_set_daemon(i, true), PYTH_OK);
    CHECK(pyth_thread_daemon(i));
    CHECK_STATUS(pyth_thread_set_daemon(i, false), PYTH_OK);
    CHECK(!pyth_thread_daemon(i));
    CHECK_STATUS(pyth_thread_set_daemon(d, false), PYTH_OK);
    CHECK(!pyth_thread_daemon(d));
    CHECK_STATUS(pyth_thread_set_daemon(d, true), PYTH_OK);
    /* Not after start (running or ended); the flag stays. */
    probe p;
    probe_init(&p, true);
    pyth_thread_t *r = pyth_thread_new(probe_fn, &p, NULL, 1);
    CHECK_STATUS(pyth_thread_start(r), PYTH_OK);
    CHECK_STATUS(pyth_thread_set_daemon(r, false), PYTH_ERUNTIME);
    CHECK_MSG("cannot set daemon status of active thread");
    CHECK_STATUS(pyth_thread_set_daemon(r, true), PYTH_ERUNTIME);
    CHECK_MSG("cannot set daemon status of active thread");
    CHECK(pyth_thread_daemon(r));
    pyth_event_set(p.go);
    CHECK_STATUS(pyth_thread_join(r, 60.0), PYTH_OK);
    CHECK(p.daemon_inside);
    CHECK_STATUS(pyth_thread_set_daemon(r, false), PYTH_ERUNTIME);
    CHECK_MSG("cannot set daemon status of active thread");
    CHECK(pyth_thread_daemon(r));
    probe_fini(&p);
    CHECK_STATUS(pyth_thread_set_daemon(NULL, true), PYTH_EINVAL);
    CHECK(!pyth_thread_daemon(NULL));
    pyth_thread_free(d);
    pyth_thread_free(n);
    pyth_thread_free(i);
    pyth_thread_free(r);
}

TEST(daemon_inherited) {
    check_inherit(1, PYTH_DAEMON_INHERIT, true);  /* a daemon's child is a daemon */
    check_inherit(0, PYTH_DAEMON_INHERIT, false); /* a non-daemon's is not */
    check_inherit(1, 0, false);                   /* explicit wins */
    check_inherit(0, 1, true);
}

TEST(invalid_daemon_value) {
    int bad[] = {2, -2, 100, -100, INT32_MIN, INT32_MAX};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        pyth_thread_t *t = pyth_thread_new(NULL, NULL, "x", bad[k]);
        CHECK(t == NULL);
        CHECK_EQ(pyth_last_status(), PYTH_EVALUE);
        CHECK(*pyth_last_error() != 0);
    }
}

TEST(ref_and_free) {
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, "refd", 0);
    CHECK(pyth_thread_ref(t) == t);
    CHECK(pyth_thread_ref(t) == t);
    /* Three references: the object lives until the last goes. */
    CHECK_STATUS(pyth_thread_free(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_free(t), PYTH_OK);
    char buf[16];
    CHECK_EQ(pyth_thread_name(t, buf, sizeof buf), 4);
    CHECK(strcmp(buf, "refd") == 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_STATUS(pyth_thread_free(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_free(NULL), PYTH_OK);
    CHECK(pyth_thread_ref(NULL) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
}

/* The target outlives every C reference to its handle. */
typedef struct {
    pyth_event_t *go, *done, *freed_ok;
    char name[32];
    bool alive_inside;
    atomic_int ran;
} orphan;

static int orphan_fn(void *arg) {
    orphan *o = arg;
    if (pyth_event_wait(o->go, 60.0) != PYTH_OK) return 1;
    /* C's only reference is gone: our own handle still works. */
    pyth_thread_t *self = pyth_current_thread();
    pyth_thread_name(self, o->name, sizeof o->name);
    o->alive_inside = pyth_thread_is_alive(self);
    atomic_store(&o->ran, 1);
    pyth_event_set(o->done);
    return 0;
}

TEST(free_while_running) {
    size_t base = pyth_active_count();
    for (int round = 0; round < 3; round++) {
        orphan o;
        memset(&o, 0, sizeof o);
        o.go = pyth_event_new();
        o.done = pyth_event_new();
        pyth_thread_t *t = pyth_thread_new(orphan_fn, &o, "orphan", 0);
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        CHECK_STATUS(pyth_thread_free(t), PYTH_OK); /* the only reference */
        CHECK_STATUS(pyth_event_set(o.go), PYTH_OK);
        WAIT_EV(o.done);
        CHECK_EQ(atomic_load(&o.ran), 1);
        CHECK(strcmp(o.name, "orphan") == 0);
        CHECK(o.alive_inside);
        /* It leaves the registry on its own once its target returned; only
         * then may the events it used go. */
        CHECK(WAIT_UNTIL(pyth_active_count() == base, 60));
        pyth_event_free(o.go);
        pyth_event_free(o.done);
    }
    /* Free a never-started thread with one reference: no leak (valgrind). */
    pyth_thread_free(pyth_thread_new(NULL, NULL, NULL, 0));
}

TEST(os_thread_name) {
    struct { const char *name, *os; } cases[] = {
        {"short", "short"},
        {"exactly15bytes!", "exactly15bytes!"},
        {"sixteen-bytes-xx", "sixteen-bytes-x"},
        {"a-much-longer-thread-name", "a-much-longer-t"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        probe p;
        probe_init(&p, false);
        pyth_thread_t *t = pyth_thread_new(probe_fn, &p, cases[k].name, 0);
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        if (strcmp(p.osname, cases[k].os) != 0)
            H_FAIL("OS name of \"%s\" is \"%s\", expected \"%s\"", cases[k].name, p.osname, cases[k].os);
        h_checks++;
        pyth_thread_free(t);
        probe_fini(&p);
    }
    /* A default name, and a name changed before start. */
    probe p;
    probe_init(&p, true);
    pyth_thread_t *t = pyth_thread_new(probe_fn, &p, NULL, 0);
    char expect[64];
    name_of(t, expect, sizeof expect);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    WAIT_EV(p.started);
    CHECK(strcmp(p.osname, expect) == 0);
    /* Also visible from outside through /proc. */
    char path[64], comm[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%ld/comm", p.tid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
    }
    CHECK(strcmp(comm, expect) == 0);
    pyth_event_set(p.go);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    pyth_thread_free(t);
    probe_fini(&p);

    probe_init(&p, false);
    t = pyth_thread_new(probe_fn, &p, "first", 0);
    pyth_thread_set_name(t, "second-name");
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(strcmp(p.osname, "second-name") == 0);
    pyth_thread_free(t);
    probe_fini(&p);

    /* Multi-byte UTF-8 is cut at a character boundary: 8 x "é" is 16
     * bytes; the OS name keeps 7 whole characters (14 bytes). */
    probe_init(&p, false);
    t = pyth_thread_new(probe_fn, &p, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(strcmp(p.osname, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9") == 0);
    pyth_thread_free(t);
    probe_fini(&p);
}

TEST(bad_handles) {
    /* NULL. */
    CHECK_STATUS(pyth_thread_start(NULL), PYTH_EINVAL);
    CHECK_STATUS(pyth_thread_join(NULL, 1.0), PYTH_EINVAL);
    CHECK_STATUS(pyth_thread_set_name(NULL, "x"), PYTH_EINVAL);
    CHECK_STATUS(pyth_thread_set_daemon(NULL, false), PYTH_EINVAL);
    CHECK(!pyth_thread_is_alive(NULL));
    CHECK(!pyth_thread_daemon(NULL));
    CHECK_EQ(pyth_thread_name(NULL, NULL, 0), 0);
    CHECK_EQ(pyth_thread_ident(NULL), 0);
    CHECK_EQ(pyth_thread_native_id(NULL), 0);
    CHECK(pyth_thread_ref(NULL) == NULL);
    CHECK_STATUS(pyth_thread_free(NULL), PYTH_OK);
    /* A handle of another kind. */
    pyth_event_t *e = pyth_event_new();
    pyth_thread_t *w = (pyth_thread_t *)e;
    CHECK_STATUS(pyth_thread_start(w), PYTH_EINVAL);
    CHECK_STATUS(pyth_thread_join(w, 1.0), PYTH_EINVAL);
    CHECK_STATUS(pyth_thread_set_name(w, "x"), PYTH_EINVAL);
    CHECK_STATUS(pyth_thread_set_daemon(w, false), PYTH_EINVAL);
    CHECK_STATUS(pyth_thread_free(w), PYTH_EINVAL);
    CHECK(!pyth_thread_is_alive(w));
    CHECK(!pyth_thread_daemon(w));
    CHECK_EQ(pyth_thread_name(w, NULL, 0), 0);
    CHECK_EQ(pyth_thread_ident(w), 0);
    CHECK_EQ(pyth_thread_native_id(w), 0);
    CHECK(pyth_thread_ref(w) == NULL);
    /* The event is intact. */
    CHECK_STATUS(pyth_event_set(e), PYTH_OK);
    CHECK(pyth_event_is_set(e));
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
}

/* Threads report status codes and messages per thread: a failure in one
 * thread does not change another's last error. */
static int failing_calls_fn(void *arg) {
    int *ok = arg;
    pyth_status st = pyth_thread_join(pyth_current_thread(), 0);
    *ok = st == PYTH_ERUNTIME && pyth_last_status() == PYTH_ERUNTIME &&
          strcmp(pyth_last_error(), "cannot join current thread") == 0;
    return 0;
}

TEST(last_error_is_per_thread) {
    pyth_thread_t *u = pyth_thread_new(NULL, NULL, NULL, 0);
    CHECK_STATUS(pyth_thread_join(u, 1.0), PYTH_ERUNTIME);
    CHECK_MSG("cannot join thread before it is started");
    int ok = -1;
    pyth_thread_t *t = pyth_thread_new(failing_calls_fn, &ok, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(ok, 1);
    /* Ours is unchanged by the other thread's failure. */
    CHECK_EQ(pyth_last_status(), PYTH_ERUNTIME);
    CHECK_MSG("cannot join thread before it is started");
    pyth_thread_free(t);
    pyth_thread_free(u);
}

/* From its target's first instruction a thread is alive and is the current
 * thread: is_alive is true and joining itself is "cannot join current
 * thread" (Python sets _started in the new thread before run(), so the
 * target never sees itself as not started), even while pyth_thread_start
 * has not yet returned in the creating thread. Many short threads, to catch
 * the window between the new thread running and start returning. */
typedef struct {
    bool alive;
    pyth_status join_st;
    char msg[128];
} first_look;

static int first_look_fn(void *arg) {
    first_look *f = arg;
    pyth_thread_t *self = pyth_current_thread();
    f->alive = pyth_thread_is_alive(self);
    f->join_st = pyth_thread_join(self, 0.0);
    snprintf(f->msg, sizeof f->msg, "%s", pyth_last_error());
    return 0;
}

TEST(alive_and_current_from_first_instruction) {
    long n = h_quick() ? 50 : 3000, not_alive = 0, wrong_join = 0;
    char msg[200] = "";
    for (long i = 0; i < n; i++) {
        first_look f;
        memset(&f, 0, sizeof f);
        pyth_thread_t *t = pyth_thread_new(first_look_fn, &f, NULL, 0);
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        if (!f.alive) not_alive++;
        if (f.join_st != PYTH_ERUNTIME || strcmp(f.msg, "cannot join current thread") != 0) {
            if (!wrong_join) snprintf(msg, sizeof msg, "%s: \"%s\"", pyth_strerror(f.join_st), f.msg);
            wrong_join++;
        }
        pyth_thread_free(t);
    }
    h_checks += 2;
    if (not_alive)
        H_FAIL("LIBRARY BUG: in %ld of %ld threads, pyth_thread_is_alive(pyth_current_thread()) was false "
               "inside the thread's own target (started but start() had not returned yet)", not_alive, n);
    if (wrong_join)
        H_FAIL("LIBRARY BUG: in %ld of %ld threads, a thread joining itself from its target got %s, "
               "expected PYTH_ERUNTIME \"cannot join current thread\"", wrong_join, n, msg);
}

int main(void) {
    RUN(null_target_runs_nothing);
    RUN(auto_names_increase);
    RUN(name_snprintf_semantics);
    RUN(set_name);
    RUN(start_runs_target_once_with_arg);
    RUN(start_twice);
    RUN(join_before_start);
    RUN(join_current_thread);
    RUN(join_timeout);
    RUN(join_ended_thread_validates_timeout);
    RUN(join_errors_before_timeout_errors);
    RUN(join_survives_signals);
    RUN(many_joiners);
    RUN(join_and_os_thread_teardown);
    RUN(is_alive_lifecycle);
    RUN(ident_and_native_id);
    RUN(current_thread_is_the_handle);
    RUN(daemon_flag);
    RUN(daemon_inherited);
    RUN(invalid_daemon_value);
    RUN(ref_and_free);
    RUN(free_while_running);
    RUN(os_thread_name);
    RUN(bad_handles);
    RUN(last_error_is_per_thread);
    RUN(alive_and_current_from_first_instruction);
    return REPORT();
}
