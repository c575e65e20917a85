/* The module functions of Python's threading: active_count, enumerate,
 * current_thread (and dummy threads), main_thread, get_ident,
 * get_native_id, stack_size, _thread.start_new_thread, excepthook,
 * settrace and setprofile. */
#include "harness.h"
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static double slack(void) { return getenv("PYTH_TEST_QUICK") ? 20.0 : 3.0; }

#define WAIT_EV(e) CHECK_STATUS(pyth_event_wait((e), 60.0), PYTH_OK)

static const char *name_of(const pyth_thread_t *t, char *buf, size_t cap) {
    pyth_thread_name(t, buf, cap);
    return buf;
}

/* Whether `t` is among the alive threads; checks the count too. */
static bool enumerated(const pyth_thread_t *t) {
    size_t n = pyth_enumerate(NULL, 0);
    pyth_thread_t **all = calloc(n + 8, sizeof *all);
    size_t m = pyth_enumerate(all, n + 8);
    bool found = false;
    for (size_t i = 0; i < m && i < n + 8; i++) {
        if (all[i] == t) found = true;
        pyth_thread_free(all[i]);
    }
    free(all);
    return found;
}

/* A thread that waits for `go`. */
typedef struct {
    pyth_event_t *go;
    atomic_int *ready;
    uint64_t ident, pself, native, tid;
} blocker;

static int blocker_fn(void *arg) {
    blocker *b = arg;
    b->ident = pyth_get_ident();
    b->pself = (uint64_t)pthread_self();
    b->native = pyth_get_native_id();
    b->tid = (uint64_t)syscall(SYS_gettid);
    atomic_fetch_add(b->ready, 1);
    return pyth_event_wait(b->go, 60.0) == PYTH_OK ? 0 : 1;
}

/* ---- active_count, enumerate ------------------------------------------ */

TEST(active_count_and_enumerate) {
    enum { N = 8 };
    size_t base = pyth_active_count();
    CHECK(base >= 1); /* main at least */
    CHECK_EQ(pyth_enumerate(NULL, 0), base);
    pyth_event_t *go = pyth_event_new();
    atomic_int ready = 0;
    blocker b[N];
    pyth_thread_t *t[N];
    for (int i = 0; i < N; i++) {
        b[i].go = go;
        b[i].ready = &ready;
        t[i] = pyth_thread_new(blocker_fn, &b[i], NULL, 0);
        /* Created but not started: not counted. */
        CHECK_EQ(pyth_active_count(), base + i);
        CHECK_STATUS(pyth_thread_start(t[i]), PYTH_OK);
        /* Counted as soon as start returns. */
        CHECK_EQ(pyth_active_count(), base + i + 1);
    }
    CHECK(WAIT_UNTIL(atomic_load(&ready) == N, 60));
    CHECK_EQ(pyth_active_count(), base + N);

    /* snprintf-like: the count, whatever the capacity. */
    CHECK_EQ(pyth_enumerate(NULL, 0), base + N);
    CHECK_EQ(pyth_enumerate(NULL, 5), base + N);
    pyth_thread_t *small[4] = {0};
    pyth_thread_t *sentinel = (pyth_thread_t *)(uintptr_t)0x1234;
    small[3] = sentinel;
    CHECK_EQ(pyth_enumerate(small, 3), base + N);
    for (int i = 0; i < 3; i++) {
        CHECK(small[i] != NULL);
        CHECK(pyth_thread_is_alive(small[i]));
    }
    CHECK(small[3] == sentinel);
    CHECK(small[0] != small[1] && small[1] != small[2] && small[0] != small[2]);
    for (int i = 0; i < 3; i++) CHECK_STATUS(pyth_thread_free(small[i]), PYTH_OK);

    /* Full list: every started thread once, main too, each a new reference. */
    size_t cap = base + N + 4;
    pyth_thread_t **all = calloc(cap, sizeof *all);
    CHECK_EQ(pyth_enumerate(all, cap), base + N);
    for (int i = 0; i < N; i++) {
        int seen = 0;
        for (size_t k = 0; k < base + N; k++) seen += all[k] == t[i];
        CHECK_EQ(seen, 1);
    }
    int mains = 0;
    for (size_t k = 0; k < base + N; k++) mains += all[k] == pyth_main_thread();
    CHECK_EQ(mains, 1);
    CHECK(all[base + N] == NULL);
    /* Our references keep the objects usable after the threads end. */
    pyth_event_set(go);
    for (int i = 0; i < N; i++) {
        CHECK_STATUS(pyth_thread_join(t[i], 60.0), PYTH_OK);
        CHECK_STATUS(pyth_thread_free(t[i]), PYTH_OK);
    }
    CHECK_EQ(pyth_active_count(), base);
    CHECK_EQ(pyth_enumerate(NULL, 0), base);
    for (size_t k = 0; k < base + N; k++) {
        char buf[32];
        CHECK(pyth_thread_name(all[k], buf, sizeof buf) > 0);
        CHECK_STATUS(pyth_thread_free(all[k]), PYTH_OK);
    }
    free(all);
    pyth_event_free(go);
}

/* enumerate while threads start and end: every reference it hands out
 * stays usable until freed (valgrind checks the memory side). */
static atomic_int churn_stop;
static int nothing_fn(void *arg) {
    (void)arg;
    return 0;
}
static int churn_fn(void *arg) {
    (void)arg;
    while (!atomic_load(&churn_stop)) {
        pyth_thread_t *t = pyth_thread_new(nothing_fn, NULL, NULL, 0);
        if (!t || pyth_thread_start(t) != PYTH_OK || pyth_thread_join(t, 60.0) != PYTH_OK) return 1;
        pyth_thread_free(t);
    }
    return 0;
}

TEST(enumerate_while_threads_come_and_go) {
    size_t base = pyth_active_count();
    atomic_store(&churn_stop, 0);
    pyth_thread_t *c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = pyth_thread_new(churn_fn, NULL, "churn", 0);
        pyth_thread_start(c[i]);
    }
    int bad = 0;
    for (long round = 0; round < ITERS(2000); round++) {
        pyth_thread_t *all[16];
        size_t n = pyth_enumerate(all, 16);
        size_t m = n < 16 ? n : 16;
        if (n < base + 2 || n > base + 4) bad++;
        for (size_t k = 0; k < m; k++) {
            char buf[32];
            if (pyth_thread_name(all[k], buf, sizeof buf) == 0) bad++;
            (void)pyth_thread_is_alive(all[k]);
            if (pyth_thread_free(all[k]) != PYTH_OK) bad++;
        }
    }
    CHECK_EQ(bad, 0);
    atomic_store(&churn_stop, 1);
    for (int i = 0; i < 2; i++) {
        CHECK_STATUS(pyth_thread_join(c[i], 60.0), PYTH_OK);
        pyth_thread_free(c[i]);
    }
    CHECK_EQ(pyth_active_count(), base);
}

/* ---- main_thread ------------------------------------------------------ */

typedef struct {
    pyth_thread_t *main_seen, *current_seen;
    pyth_status join_main;
    bool main_alive;
} main_probe;

static int main_probe_fn(void *arg) {
    main_probe *m = arg;
    m->main_seen = pyth_main_thread();
    m->current_seen = pyth_current_thread();
    m->main_alive = pyth_thread_is_alive(m->main_seen);
    m->join_main = pyth_thread_join(m->main_seen, 0.05);
    return 0;
}

static void *main_probe_pthread(void *arg) {
    main_probe_fn(arg);
    return NULL;
}

TEST(main_thread) {
    pyth_thread_t *m = pyth_main_thread();
    CHECK(m != NULL);
    CHECK(m == pyth_main_thread());
    CHECK(m == pyth_current_thread());
    char buf[32];
    CHECK_EQ(pyth_thread_name(m, buf, sizeof buf), 10);
    CHECK(strcmp(buf, "MainThread") == 0);
    CHECK(pyth_thread_is_alive(m));
    CHECK(!pyth_thread_daemon(m));
    CHECK_EQ(pyth_thread_ident(m), (uint64_t)pthread_self());
    CHECK_EQ(pyth_thread_ident(m), pyth_get_ident());
    CHECK_EQ(pyth_thread_native_id(m), (uint64_t)getpid());
    CHECK(enumerated(m));
    /* Cannot join itself, with or without a timeout. */
    CHECK_STATUS(pyth_thread_join(m, PYTH_FOREVER), PYTH_ERUNTIME);
    CHECK_MSG("cannot join current thread");
    CHECK_STATUS(pyth_thread_join(m, 0.5), PYTH_ERUNTIME);
    CHECK_MSG("cannot join current thread");
    /* Started long ago. */
    CHECK_STATUS(pyth_thread_start(m), PYTH_ERUNTIME);
    CHECK_MSG("threads can only be started once");
    CHECK_STATUS(pyth_thread_set_daemon(m, true), PYTH_ERUNTIME);
    CHECK_MSG("cannot set daemon status of active thread");

    /* The same object from a libpyth thread ... */
    main_probe p = {0};
    pyth_thread_t *t = pyth_thread_new(main_probe_fn, &p, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(p.main_seen == m);
    CHECK(p.current_seen == t);
    CHECK(p.main_alive);
    /* main is alive: joining it from another thread times out. */
    CHECK_EQ(p.join_main, PYTH_TIMEOUT);
    pyth_thread_free(t);
    /* ... and from a plain pthread. */
    main_probe q = {0};
    h_thread h = spawn(main_probe_pthread, &q);
    join_within(h, 60);
    CHECK(q.main_seen == m);
    CHECK(q.current_seen != m);
    CHECK_EQ(q.join_main, PYTH_TIMEOUT);
}

/* ---- dummy threads ---------------------------------------------------- */

typedef struct {
    pyth_thread_t *dummy, *dummy_again, *ref;
    char name[64];
    bool alive, daemon, in_enum;
    size_t count_inside;
    pyth_status join_st, start_st, set_daemon_st;
    char join_msg[128];
    uint64_t ident, native;
    bool child_daemon, child_inherit_daemon, child_ok;
    pyth_event_t *hold;   /* the pthread waits for it before exiting */
    pyth_event_t *inside; /* set when the checks above are done */
} dummy_probe;

static void *dummy_pthread(void *arg) {
    dummy_probe *d = arg;
    d->dummy = pyth_current_thread();
    d->dummy_again = pyth_current_thread();
    d->ref = pyth_thread_ref(d->dummy);
    pyth_thread_name(d->dummy, d->name, sizeof d->name);
    d->alive = pyth_thread_is_alive(d->dummy);
    d->daemon = pyth_thread_daemon(d->dummy);
    d->in_enum = enumerated(d->dummy);
    d->count_inside = pyth_active_count();
    d->join_st = pyth_thread_join(d->dummy, 0.1);
    snprintf(d->join_msg, sizeof d->join_msg, "%s", pyth_last_error());
    d->start_st = pyth_thread_start(d->dummy);
    d->set_daemon_st = pyth_thread_set_daemon(d->dummy, false);
    d->ident = pyth_thread_ident(d->dummy);
    d->native = pyth_thread_native_id(d->dummy);
    /* A thread created here inherits "daemon" by default. */
    pyth_thread_t *c = pyth_thread_new(NULL, NULL, NULL, PYTH_DAEMON_INHERIT);
    pyth_thread_t *c0 = pyth_thread_new(NULL, NULL, NULL, 0);
    d->child_inherit_daemon = c && pyth_thread_daemon(c);
    d->child_daemon = c0 && pyth_thread_daemon(c0);
    d->child_ok = c && pyth_thread_start(c) == PYTH_OK && pyth_thread_join(c, 60.0) == PYTH_OK;
    pyth_thread_free(c);
    pyth_thread_free(c0);
    pyth_event_set(d->inside);
    pyth_event_wait(d->hold, 60.0);
    return NULL;
}

TEST(dummy_thread) {
    size_t base = pyth_active_count();
    dummy_probe d;
    memset(&d, 0, sizeof d);
    d.hold = pyth_event_new();
    d.inside = pyth_event_new();
    h_thread h = spawn(dummy_pthread, &d);
    WAIT_EV(d.inside);
    CHECK(d.dummy != NULL);
    CHECK(d.dummy == d.dummy_again);
    CHECK(d.ref == d.dummy);
    char tail;
    long n;
    CHECK(sscanf(d.name, "Dummy-%ld%c", &n, &tail) == 1);
    CHECK(n >= 1);
    CHECK(d.alive);
    CHECK(d.daemon);
    CHECK(d.in_enum);
    CHECK_EQ(d.count_inside, base + 1);
    CHECK_EQ(d.join_st, PYTH_ERUNTIME);
    if (strcmp(d.join_msg, "cannot join a dummy thread") != 0)
        H_FAIL("joining itself, a dummy thread said \"%s\", expected \"cannot join a dummy thread\"", d.join_msg);
    h_checks++;
    CHECK_EQ(d.start_st, PYTH_ERUNTIME);
    CHECK_EQ(d.set_daemon_st, PYTH_ERUNTIME);
    CHECK_EQ(d.ident, (uint64_t)h.t);
    CHECK(d.native != 0 && d.native != (uint64_t)getpid());
    CHECK(d.child_inherit_daemon);
    CHECK(!d.child_daemon);
    CHECK(d.child_ok);
    /* Seen from main too, while its OS thread lives. */
    CHECK_EQ(pyth_active_count(), base + 1);
    CHECK(enumerated(d.dummy));
    CHECK(pyth_thread_is_alive(d.dummy));
    CHECK_STATUS(pyth_thread_join(d.dummy, 0.05), PYTH_ERUNTIME);
    CHECK_MSG("cannot join a dummy thread");
    CHECK_STATUS(pyth_thread_join(d.dummy, PYTH_FOREVER), PYTH_ERUNTIME);
    CHECK_MSG("cannot join a dummy thread");
    CHECK_STATUS(pyth_thread_join(d.dummy, 0.0), PYTH_ERUNTIME);
    CHECK_MSG("cannot join a dummy thread");
    CHECK(pyth_current_thread() != d.dummy);
    /* Its OS thread ends: it leaves enumerate and active_count. */
    pyth_event_set(d.hold);
    join_within(h, 60);
    CHECK(WAIT_UNTIL(pyth_active_count() == base, 60));
    CHECK(!enumerated(d.ref));
    CHECK(WAIT_UNTIL(!pyth_thread_is_alive(d.ref), 60));
    CHECK_STATUS(pyth_thread_free(d.ref), PYTH_OK);
    pyth_event_free(d.hold);
    pyth_event_free(d.inside);
}

/* Dummy numbers share the Thread-N counter and increase. */
static void *dummy_name_pthread(void *arg) {
    pyth_thread_name(pyth_current_thread(), arg, 64);
    return NULL;
}

TEST(dummy_names_increase) {
    char a[64] = "", b[64] = "";
    h_thread h = spawn(dummy_name_pthread, a);
    join_within(h, 60);
    h = spawn(dummy_name_pthread, b);
    join_within(h, 60);
    long na = -1, nb = -1;
    CHECK(sscanf(a, "Dummy-%ld", &na) == 1);
    CHECK(sscanf(b, "Dummy-%ld", &nb) == 1);
    CHECK_EQ(nb, na + 1);
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, NULL, 0);
    char c[64];
    long nc = -1;
    CHECK(sscanf(name_of(t, c, sizeof c), "Thread-%ld", &nc) == 1);
    CHECK_EQ(nc, nb + 1);
    pyth_thread_free(t);
}

/* Many short pthreads that ask for current_thread leave no trace. */
static void *touch_pthread(void *arg) {
    (void)arg;
    return pyth_current_thread();
}

TEST(dummies_do_not_accumulate) {
    size_t base = pyth_active_count();
    long n = ITERS(500);
    for (long i = 0; i < n; i++) {
        h_thread h = spawn(touch_pthread, NULL);
        join_within(h, 60);
    }
    CHECK(WAIT_UNTIL(pyth_active_count() == base, 60));
}

/* ---- get_ident, get_native_id ----------------------------------------- */

TEST(ident_functions) {
    CHECK_EQ(pyth_get_ident(), (uint64_t)pthread_self());
    CHECK(pyth_get_ident() != 0);
    CHECK_EQ(pyth_get_native_id(), (uint64_t)syscall(SYS_gettid));
    CHECK_EQ(pyth_get_native_id(), (uint64_t)getpid()); /* main */
    enum { N = 6 };
    pyth_event_t *go = pyth_event_new();
    atomic_int ready = 0;
    blocker b[N];
    pyth_thread_t *t[N];
    for (int i = 0; i < N; i++) {
        b[i].go = go;
        b[i].ready = &ready;
        t[i] = pyth_thread_new(blocker_fn, &b[i], NULL, 0);
        pyth_thread_start(t[i]);
    }
    /* All alive at once: distinct idents and native ids. */
    CHECK(WAIT_UNTIL(atomic_load(&ready) == N, 60));
    for (int i = 0; i < N; i++) {
        CHECK(b[i].ident != 0);
        CHECK_EQ(b[i].ident, b[i].pself);
        CHECK_EQ(b[i].native, b[i].tid);
        CHECK_EQ(b[i].ident, pyth_thread_ident(t[i]));
        CHECK_EQ(b[i].native, pyth_thread_native_id(t[i]));
        CHECK(b[i].ident != pyth_get_ident());
        for (int k = 0; k < i; k++) {
            CHECK(b[i].ident != b[k].ident);
            CHECK(b[i].native != b[k].native);
        }
    }
    pyth_event_set(go);
    for (int i = 0; i < N; i++) {
        CHECK_STATUS(pyth_thread_join(t[i], 60.0), PYTH_OK);
        pyth_thread_free(t[i]);
    }
    pyth_event_free(go);
}

/* ---- stack_size --------------------------------------------------------- */

typedef struct {
    size_t stack;
    int rc;
} stack_probe;

static int stack_probe_fn(void *arg) {
    stack_probe *s = arg;
    pthread_attr_t a;
    s->rc = pthread_getattr_np(pthread_self(), &a);
    if (s->rc == 0) {
        pthread_attr_getstacksize(&a, &s->stack);
        pthread_attr_destroy(&a);
    }
    /* Use a little of it. */
    volatile char buf[4096];
    memset((char *)buf, 1, sizeof buf);
    return buf[100] != 1;
}

static size_t stack_of_new_thread(void) {
    stack_probe s = {0, -1};
    pyth_thread_t *t = pyth_thread_new(stack_probe_fn, &s, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    pyth_thread_free(t);
    CHECK_EQ(s.rc, 0);
    return s.stack;
}

TEST(stack_size) {
    CHECK_EQ(pyth_get_stack_size(), 0);
    size_t prev = 777;
    CHECK_STATUS(pyth_stack_size(0, &prev), PYTH_OK);
    CHECK_EQ(prev, 0);
    size_t dflt = stack_of_new_thread();
    CHECK(dflt > 0);

    /* Too small: ValueError, nothing changes, *previous untouched. */
    prev = 777;
    CHECK_STATUS(pyth_stack_size(100, &prev), PYTH_EVALUE);
    CHECK_MSG("size not valid: 100 bytes");
    CHECK_EQ(prev, 777);
    CHECK_STATUS(pyth_stack_size(32767, &prev), PYTH_EVALUE);
    CHECK_MSG("size not valid: 32767 bytes");
    CHECK_STATUS(pyth_stack_size(1, NULL), PYTH_EVALUE);
    CHECK_MSG("size not valid: 1 bytes");
    CHECK_EQ(pyth_get_stack_size(), 0);

    /* The minimum is accepted, and threads still run with it. */
    CHECK_STATUS(pyth_stack_size(32768, &prev), PYTH_OK);
    CHECK_EQ(prev, 0);
    CHECK_EQ(pyth_get_stack_size(), 32768);
    size_t min_stack = stack_of_new_thread();
    CHECK(min_stack >= 32768);

    /* A distinctive size, applied to threads started afterwards. */
    size_t want = 3 << 18; /* 768 KiB */
    CHECK_STATUS(pyth_stack_size(want, &prev), PYTH_OK);
    CHECK_EQ(prev, 32768);
    CHECK_EQ(pyth_get_stack_size(), want);
    size_t got = stack_of_new_thread();
    CHECK(got >= want);
    CHECK(got < dflt || dflt <= want);
    CHECK(got != dflt);

    /* A thread created before the change but started after gets the new size. */
    stack_probe s = {0, -1};
    pyth_thread_t *t = pyth_thread_new(stack_probe_fn, &s, NULL, 0);
    size_t want2 = 1 << 20;
    CHECK_STATUS(pyth_stack_size(want2, NULL), PYTH_OK);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    pyth_thread_free(t);
    CHECK(s.stack >= want2);

    /* A size the OS cannot give: accepted (as Python, the platform takes
     * it), but starting a thread fails with "can't start new thread"; the
     * thread stays unstarted and may be started later. */
    size_t base = pyth_active_count();
    CHECK_STATUS(pyth_stack_size((size_t)1 << 60, &prev), PYTH_OK);
    CHECK_EQ(prev, want2);
    s.rc = -1;
    t = pyth_thread_new(stack_probe_fn, &s, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_ERUNTIME);
    CHECK_MSG("can't start new thread");
    CHECK(!pyth_thread_is_alive(t));
    CHECK_EQ(pyth_thread_ident(t), 0);
    CHECK_EQ(pyth_active_count(), base);
    CHECK_STATUS(pyth_thread_join(t, 1.0), PYTH_ERUNTIME);
    CHECK_MSG("cannot join thread before it is started");
    CHECK_EQ(pyth_start_new_thread(stack_probe_fn, &s), 0);
    CHECK_EQ(pyth_last_status(), PYTH_ERUNTIME);
    CHECK_STATUS(pyth_stack_size(want2, NULL), PYTH_OK);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(s.rc, 0);
    pyth_thread_free(t);

    /* Back to the default. */
    CHECK_STATUS(pyth_stack_size(0, &prev), PYTH_OK);
    CHECK_EQ(prev, want2);
    CHECK_EQ(pyth_get_stack_size(), 0);
    CHECK_EQ(stack_of_new_thread(), dflt);
}

/* ---- start_new_thread --------------------------------------------------- */

typedef struct {
    pyth_event_t *ran, *go;
    uint64_t ident;
    atomic_int calls;
    void *arg_seen;
    bool ask_current;
    pyth_thread_t *current;
    bool current_daemon;
    char current_name[64];
    atomic_int finished; /* its last access to this struct */
} raw_probe;

static int raw_fn(void *arg) {
    raw_probe *r = arg;
    atomic_fetch_add(&r->calls, 1);
    r->arg_seen = arg;
    r->ident = pyth_get_ident();
    if (r->ask_current) {
        r->current = pyth_current_thread();
        r->current_daemon = pyth_thread_daemon(r->current);
        pyth_thread_name(r->current, r->current_name, sizeof r->current_name);
    }
    pyth_event_set(r->ran);
    pyth_event_wait(r->go, 60.0);
    atomic_store(&r->finished, 1);
    return 0;
}

TEST(start_new_thread) {
    size_t base = pyth_active_count();
    raw_probe r;
    memset(&r, 0, sizeof r);
    r.ran = pyth_event_new();
    r.go = pyth_event_new();
    uint64_t id = pyth_start_new_thread(raw_fn, &r);
    CHECK(id != 0);
    WAIT_EV(r.ran);
    CHECK_EQ(atomic_load(&r.calls), 1);
    CHECK(r.arg_seen == &r);
    CHECK_EQ(r.ident, id);
    CHECK(id != pyth_get_ident());
    /* Not tracked: not counted while it runs. */
    CHECK_EQ(pyth_active_count(), base);
    pyth_event_set(r.go);

    /* One that asks for current_thread becomes a (daemon) dummy, counted
     * until its OS thread ends. */
    raw_probe q;
    memset(&q, 0, sizeof q);
    q.ran = pyth_event_new();
    q.go = pyth_event_new();
    q.ask_current = true;
    uint64_t qid = pyth_start_new_thread(raw_fn, &q);
    CHECK(qid != 0);
    WAIT_EV(q.ran);
    CHECK_EQ(q.ident, qid);
    CHECK(q.current != NULL);
    CHECK(q.current_daemon);
    CHECK(strncmp(q.current_name, "Dummy-", 6) == 0);
    CHECK_EQ(pyth_active_count(), base + 1);
    CHECK_EQ(pyth_thread_ident(q.current), qid);
    pyth_event_set(q.go);
    CHECK(WAIT_UNTIL(pyth_active_count() == base, 60));

    /* Errors. */
    CHECK_EQ(pyth_start_new_thread(NULL, &r), 0);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    CHECK(*pyth_last_error() != 0);
    /* Untracked threads cannot be joined: wait for their last access. */
    CHECK(WAIT_UNTIL(atomic_load(&r.finished) && atomic_load(&q.finished), 60));
    pyth_event_free(r.ran);
    pyth_event_free(r.go);
    pyth_event_free(q.ran);
    pyth_event_free(q.go);
}

/* ---- excepthook ---------------------------------------------------------- */

typedef struct {
    atomic_int calls;
    pyth_thread_t *thread;
    bool current_is_thread;
    bool alive_in_hook;
    int code;
    void *user;
    char name[64];
} hook_log;

static void my_excepthook(const pyth_excepthook_args *a, void *user) {
    hook_log *h = user;
    atomic_fetch_add(&h->calls, 1);
    h->thread = a->thread;
    h->code = a->code;
    h->user = user;
    h->current_is_thread = pyth_current_thread() == a->thread;
    h->alive_in_hook = pyth_thread_is_alive(a->thread);
    pyth_thread_name(a->thread, h->name, sizeof h->name);
}

static int return_arg_fn(void *arg) { return (int)(intptr_t)arg; }

TEST(excepthook) {
    void *u = (void *)1;
    CHECK(pyth_get_excepthook(&u) == NULL); /* the default */
    hook_log h;
    memset(&h, 0, sizeof h);
    pyth_set_excepthook(my_excepthook, &h);
    u = NULL;
    CHECK(pyth_get_excepthook(&u) == my_excepthook);
    CHECK(u == &h);
    CHECK(pyth_get_excepthook(NULL) == my_excepthook);

    int codes[] = {42, -1, 1, 255, -100000};
    for (size_t k = 0; k < sizeof codes / sizeof *codes; k++) {
        memset(&h, 0, sizeof h);
        pyth_thread_t *t = pyth_thread_new(return_arg_fn, (void *)(intptr_t)codes[k], "failing", 0);
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        /* Called once, in the failing thread, before join returned. */
        CHECK_EQ(atomic_load(&h.calls), 1);
        CHECK(h.thread == t);
        CHECK(h.current_is_thread);
        CHECK(h.alive_in_hook);
        CHECK_EQ(h.code, codes[k]);
        CHECK(h.user == &h);
        CHECK(strcmp(h.name, "failing") == 0);
        pyth_thread_free(t);
    }
    /* A zero return is a normal end: no call. */
    memset(&h, 0, sizeof h);
    pyth_thread_t *t = pyth_thread_new(return_arg_fn, (void *)0, NULL, 0);
    pyth_thread_start(t);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&h.calls), 0);
    pyth_thread_free(t);

    /* NULL restores the default. */
    pyth_set_excepthook(NULL, &h);
    CHECK(pyth_get_excepthook(NULL) == NULL);
    pyth_default_excepthook(NULL); /* no crash */
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
}

/* The default hook's text, from a child process whose stderr is a pipe. */
static void chained_hook(const pyth_excepthook_args *a, void *user) {
    (void)user;
    fprintf(stderr, "[custom before]\n");
    pyth_default_excepthook(a);
}

static int run_child_capture(void (*body)(void), char *out, size_t cap, int *status) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        body();
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    double end = now_s() + 60 + slack();
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0 || poll(&p, 1, left) <= 0) break;
        ssize_t r = read(fds[0], out + len, cap - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
        if (len == cap - 1) break;
    }
    out[len] = 0;
    close(fds[0]);
    *status = -1;
    while (now_s() < end) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid) return 0;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return -1;
}

static void default_hook_child(void) {
    pyth_set_excepthook(NULL, NULL);
    pyth_thread_t *t = pyth_thread_new(return_arg_fn, (void *)7, "Failer", 0);
    pyth_thread_start(t);
    pyth_thread_join(t, 60.0);
    pyth_thread_free(t);
    pyth_set_excepthook(chained_hook, NULL);
    t = pyth_thread_new(return_arg_fn, (void *)-3, "Second", 0);
    pyth_thread_start(t);
    pyth_thread_join(t, 60.0);
    pyth_thread_free(t);
    pyth_set_excepthook(NULL, NULL);
    fprintf(stderr, "[child end]\n");
}

TEST(default_excepthook_output) {
    char out[4096];
    int status;
    CHECK_EQ(run_child_capture(default_hook_child, out, sizeof out, &status), 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const char *a = strstr(out, "Exception in thread Failer:");
    CHECK(a != NULL);
    /* The code follows the header (before the next report). */
    const char *b = strstr(out, "[custom before]\nException in thread Second:");
    CHECK(b != NULL);
    if (a && b) {
        char first[1024];
        size_t n = (size_t)(b - a) < sizeof first - 1 ? (size_t)(b - a) : sizeof first - 1;
        memcpy(first, a, n);
        first[n] = 0;
        CHECK(strstr(first, "7") != NULL);
        CHECK(strstr(b, "-3") != NULL);
    }
    CHECK(strstr(out, "[child end]") != NULL);
    if (h_failures) fprintf(stderr, "child stderr was:\n%s\n", out);
}

/* ---- settrace, setprofile --------------------------------------------- */

static atomic_int seq;
typedef struct {
    int trace_at, profile_at, target_at;
    pyth_thread_t *trace_thread, *profile_thread, *target_thread;
    void *trace_user, *profile_user;
    bool trace_current_ok;
} hook_order;

/* Hooks do not get the target's arg: they find the record by thread. */
static struct { pyth_thread_t *t; hook_order *o; } orders[8];
static int n_orders;
static pyth_lock_t *orders_lock;

static hook_order *order_of(pyth_thread_t *t) {
    hook_order *o = NULL;
    pyth_lock_acquire(orders_lock, true, PYTH_FOREVER);
    for (int i = 0; i < n_orders; i++)
        if (orders[i].t == t) o = orders[i].o;
    pyth_lock_release(orders_lock);
    return o;
}

static void trace_hook(pyth_thread_t *t, void *user) {
    hook_order *o = order_of(t);
    if (!o) return;
    o->trace_at = atomic_fetch_add(&seq, 1) + 1;
    o->trace_thread = t;
    o->trace_user = user;
    o->trace_current_ok = pyth_current_thread() == t;
}

static void profile_hook(pyth_thread_t *t, void *user) {
    hook_order *o = order_of(t);
    if (!o) return;
    o->profile_at = atomic_fetch_add(&seq, 1) + 1;
    o->profile_thread = t;
    o->profile_user = user;
}

static int order_target(void *arg) {
    hook_order *o = arg;
    o->target_at = atomic_fetch_add(&seq, 1) + 1;
    o->target_thread = pyth_current_thread();
    return 0;
}

static pyth_thread_t *start_ordered(hook_order *o) {
    memset(o, 0, sizeof *o);
    pyth_thread_t *t = pyth_thread_new(order_target, o, NULL, 0);
    pyth_lock_acquire(orders_lock, true, PYTH_FOREVER);
    orders[n_orders].t = t;
    orders[n_orders].o = o;
    n_orders++;
    pyth_lock_release(orders_lock);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    return t;
}

TEST(trace_and_profile_hooks) {
    orders_lock = pyth_lock_new();
    int tu, pu;
    void *u = &tu;
    CHECK(pyth_gettrace(&u) == NULL);
    CHECK(pyth_getprofile(NULL) == NULL);
    pyth_settrace(trace_hook, &tu);
    pyth_setprofile(profile_hook, &pu);
    u = NULL;
    CHECK(pyth_gettrace(&u) == trace_hook);
    CHECK(u == &tu);
    u = NULL;
    CHECK(pyth_getprofile(&u) == profile_hook);
    CHECK(u == &pu);

    /* Every new thread: trace, then profile, then its target. */
    hook_order o[3];
    pyth_thread_t *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = start_ordered(&o[i]);
        CHECK(o[i].trace_at > 0);
        CHECK(o[i].profile_at == o[i].trace_at + 1);
        CHECK(o[i].target_at == o[i].profile_at + 1);
        CHECK(o[i].trace_thread == t[i]);
        CHECK(o[i].profile_thread == t[i]);
        CHECK(o[i].target_thread == t[i]);
        CHECK(o[i].trace_current_ok);
        CHECK(o[i].trace_user == &tu);
        CHECK(o[i].profile_user == &pu);
    }

    /* Only one of them. */
    pyth_settrace(NULL, NULL);
    CHECK(pyth_gettrace(NULL) == NULL);
    u = &tu;
    CHECK(pyth_gettrace(&u) == NULL);
    hook_order p;
    pyth_thread_t *tp = start_ordered(&p);
    CHECK_EQ(p.trace_at, 0);
    CHECK(p.profile_at > 0);
    CHECK(p.target_at == p.profile_at + 1);

    /* None. */
    pyth_setprofile(NULL, NULL);
    CHECK(pyth_getprofile(NULL) == NULL);
    hook_order n;
    pyth_thread_t *tn = start_ordered(&n);
    CHECK_EQ(n.trace_at, 0);
    CHECK_EQ(n.profile_at, 0);
    CHECK(n.target_at > 0);

    /* Trace alone, with a NULL user. */
    pyth_settrace(trace_hook, NULL);
    hook_order q;
    pyth_thread_t *tq = start_ordered(&q);
    CHECK(q.trace_at > 0);
    CHECK(q.trace_user == NULL);
    CHECK_EQ(q.profile_at, 0);
    CHECK(q.target_at == q.trace_at + 1);
    pyth_settrace(NULL, NULL);

    for (int i = 0; i < 3; i++) pyth_thread_free(t[i]);
    pyth_thread_free(tp);
    pyth_thread_free(tn);
    pyth_thread_free(tq);
    pyth_lock_free(orders_lock);
}

/* A hook applies to threads started after it was set, even if created before. */
static atomic_int late_calls;
static void count_hook(pyth_thread_t *t, void *user) {
    (void)t;
    (void)user;
    atomic_fetch_add(&late_calls, 1);
}

TEST(hooks_apply_at_start) {
    pyth_thread_t *t = pyth_thread_new(NULL, NULL, NULL, 0);
    pyth_settrace(count_hook, NULL);
    pyth_setprofile(count_hook, NULL);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&late_calls), 2);
    pyth_settrace(NULL, NULL);
    pyth_setprofile(NULL, NULL);
    pyth_thread_free(t);
    t = pyth_thread_new(NULL, NULL, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&late_calls), 2);
    pyth_thread_free(t);
}

/* The trace and profile hooks run in every thread the library starts as a
 * threading.Thread: a Timer's thread and an executor's workers too (both
 * are Threads in Python). _thread.start_new_thread does not run them (as in
 * Python, whose settrace is threading's, not _thread's). */
static atomic_int tr_calls, pr_calls;
static pyth_thread_t *tr_seen[8];
static uint64_t tr_ident[8];
static void tr_hook(pyth_thread_t *t, void *user) {
    (void)user;
    int i = atomic_fetch_add(&tr_calls, 1);
    if (i < 8) {
        tr_seen[i] = t;
        tr_ident[i] = pyth_get_ident();
    }
}
static void pr_hook(pyth_thread_t *t, void *user) {
    (void)t;
    (void)user;
    atomic_fetch_add(&pr_calls, 1);
}

typedef struct {
    pyth_thread_t *self;
    uint64_t ident;
    int trace_calls_inside; /* tr_calls when the body ran */
    pyth_event_t *done;
    atomic_int finished; /* start_new_thread: its last access to this struct */
} hooked_body;

static int hooked_fn(void *arg) {
    hooked_body *b = arg;
    b->ident = pyth_get_ident();
    b->trace_calls_inside = atomic_load(&tr_calls);
    if (b->done) {
        /* start_new_thread: no current_thread (it would make a dummy). */
        pyth_event_set(b->done);
        atomic_store(&b->finished, 1);
    } else {
        b->self = pyth_current_thread();
    }
    return 0;
}

static int hooked_task(void *arg, void **result) {
    hooked_body *b = arg;
    b->self = pyth_current_thread();
    b->ident = pyth_get_ident();
    b->trace_calls_inside = atomic_load(&tr_calls);
    *result = b;
    return 0;
}

static void reset_hook_counts(void) {
    atomic_store(&tr_calls, 0);
    atomic_store(&pr_calls, 0);
    memset(tr_seen, 0, sizeof tr_seen);
    memset(tr_ident, 0, sizeof tr_ident);
}

TEST(hooks_run_in_timer_and_worker_threads) {
    pyth_settrace(tr_hook, NULL);
    pyth_setprofile(pr_hook, NULL);

    /* A timer: the hooks run once, in its thread, before its function. */
    reset_hook_counts();
    hooked_body tb;
    memset(&tb, 0, sizeof tb);
    pyth_thread_t *t = pyth_timer_new(0.0, hooked_fn, &tb);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&tr_calls), 1);
    CHECK_EQ(atomic_load(&pr_calls), 1);
    CHECK(tr_seen[0] == t);
    CHECK_EQ(tr_ident[0], pyth_thread_ident(t));
    CHECK(tb.self == t);
    CHECK_EQ(tb.trace_calls_inside, 1);
    pyth_thread_free(t);
    /* A cancelled timer's thread still starts, so the hooks still run. */
    reset_hook_counts();
    t = pyth_timer_new(30.0, hooked_fn, &tb);
    CHECK_STATUS(pyth_timer_cancel(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&tr_calls), 1);
    CHECK_EQ(atomic_load(&pr_calls), 1);
    CHECK(tr_seen[0] == t);
    pyth_thread_free(t);

    /* An executor with one worker: the hooks run once, in the worker,
     * before the task. */
    reset_hook_counts();
    hooked_body eb[3];
    memset(eb, 0, sizeof eb);
    pyth_executor_t *ex = pyth_executor_new(1, "traced", NULL, NULL);
    CHECK(ex != NULL);
    for (int i = 0; i < 3; i++) {
        pyth_future_t *f = pyth_executor_submit(ex, hooked_task, &eb[i]);
        CHECK(f != NULL);
        void *res = NULL;
        CHECK_STATUS(pyth_future_result(f, 60.0, &res), PYTH_OK);
        CHECK(res == &eb[i]);
        pyth_future_free(f);
    }
    CHECK_STATUS(pyth_executor_shutdown(ex, true, false), PYTH_OK);
    CHECK_EQ(atomic_load(&tr_calls), 1);
    CHECK_EQ(atomic_load(&pr_calls), 1);
    CHECK(tr_seen[0] != NULL && tr_seen[0] == eb[0].self);
    CHECK_EQ(tr_ident[0], eb[0].ident);
    CHECK_EQ(eb[0].trace_calls_inside, 1);
    CHECK(eb[1].self == eb[0].self && eb[2].self == eb[0].self);
    char name[64] = "";
    if (eb[0].self) pyth_thread_name(eb[0].self, name, sizeof name);
    CHECK(strcmp(name, "traced_0") == 0);
    CHECK_STATUS(pyth_executor_free(ex), PYTH_OK);

    /* _thread.start_new_thread: no hooks. */
    reset_hook_counts();
    hooked_body sb;
    memset(&sb, 0, sizeof sb);
    sb.trace_calls_inside = -1;
    sb.done = pyth_event_new();
    uint64_t id = pyth_start_new_thread(hooked_fn, &sb);
    CHECK(id != 0);
    CHECK_STATUS(pyth_event_wait(sb.done, 60.0), PYTH_OK);
    CHECK_EQ(sb.ident, id);
    CHECK_EQ(sb.trace_calls_inside, 0);
    CHECK_EQ(atomic_load(&tr_calls), 0);
    CHECK_EQ(atomic_load(&pr_calls), 0);
    /* A libpyth thread started afterwards still runs them: the hooks were set. */
    t = pyth_thread_new(NULL, NULL, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&tr_calls), 1);
    CHECK(tr_seen[0] == t);
    pyth_thread_free(t);

    pyth_settrace(NULL, NULL);
    pyth_setprofile(NULL, NULL);
    /* The start_new_thread thread may still be in pyth_event_set: the
     * event goes once it is done with it. */
    CHECK(WAIT_UNTIL(atomic_load(&sb.finished), 60));
    CHECK_STATUS(pyth_event_free(sb.done), PYTH_OK);
}

int main(void) {
    RUN(active_count_and_enumerate);
    RUN(enumerate_while_threads_come_and_go);
    RUN(main_thread);
    RUN(dummy_thread);
    RUN(dummy_names_increase);
    RUN(dummies_do_not_accumulate);
    RUN(ident_functions);
    RUN(stack_size);
    RUN(start_new_thread);
    RUN(excepthook);
    RUN(default_excepthook_output);
    RUN(trace_and_profile_hooks);
    RUN(hooks_apply_at_start);
    RUN(hooks_run_in_timer_and_worker_threads);
    return REPORT();
}
