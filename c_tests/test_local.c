/* pyth_local_*: Python's threading.local, one pointer per thread. */
#include "harness.h"

#define WAIT_EV(e) CHECK_STATUS(pyth_event_wait((e), 60.0), PYTH_OK)

/* A value: a heap block recording who made it. Its dtor checks it is
 * destroyed once and counts. */
#define VALUE_MAGIC 0x5a5a1234
typedef struct {
    int magic;
    int owner;            /* a small number chosen by the test */
    uint64_t made_by;     /* pyth_get_ident() of the thread that made it */
} value;

static atomic_int dtor_calls, dtor_bad;
static atomic_long dtor_owner_sum;

static value *mkvalue(int owner) {
    value *v = malloc(sizeof *v);
    v->magic = VALUE_MAGIC;
    v->owner = owner;
    v->made_by = pyth_get_ident();
    return v;
}

static void value_dtor(void *p) {
    value *v = p;
    if (!v || v->magic != VALUE_MAGIC) {
        atomic_fetch_add(&dtor_bad, 1);
        return;
    }
    v->magic = 0;
    atomic_fetch_add(&dtor_calls, 1);
    atomic_fetch_add(&dtor_owner_sum, v->owner);
    free(v);
}

static void reset_counts(void) {
    atomic_store(&dtor_calls, 0);
    atomic_store(&dtor_bad, 0);
    atomic_store(&dtor_owner_sum, 0);
}

/* init: counts calls per thread (through a local of its own) and total. */
typedef struct {
    atomic_int calls;
    atomic_int next_owner;
    void *arg_seen;
    int base;  /* owners are base + 0, base + 1, ... (default 1000) */
} init_state;

static void *value_init(void *arg) {
    init_state *s = arg;
    s->arg_seen = arg;
    atomic_fetch_add(&s->calls, 1);
    return mkvalue((s->base ? s->base : 1000) + atomic_fetch_add(&s->next_owner, 1));
}

/* ---------------------------------------------------------------------- */

TEST(get_without_init_is_null) {
    pyth_local_t *l = pyth_local_new(NULL, NULL, NULL);
    CHECK(l != NULL);
    CHECK(pyth_local_get(l) == NULL);
    CHECK(pyth_local_get(l) == NULL);
    int x;
    CHECK_STATUS(pyth_local_set(l, &x), PYTH_OK);
    CHECK(pyth_local_get(l) == &x);
    CHECK_STATUS(pyth_local_set(l, NULL), PYTH_OK);
    CHECK(pyth_local_get(l) == NULL);
    CHECK_STATUS(pyth_local_free(l), PYTH_OK);
}

TEST(set_replaces_and_destroys_old) {
    reset_counts();
    pyth_local_t *l = pyth_local_new(NULL, NULL, value_dtor);
    value *a = mkvalue(1), *b = mkvalue(2);
    CHECK_STATUS(pyth_local_set(l, a), PYTH_OK);
    CHECK(pyth_local_get(l) == a);
    CHECK_EQ(atomic_load(&dtor_calls), 0);
    /* The same value again: no dtor. */
    CHECK_STATUS(pyth_local_set(l, a), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 0);
    CHECK(pyth_local_get(l) == a);
    CHECK_EQ(a->magic, VALUE_MAGIC);
    /* Another value: the old one is destroyed, at once. */
    CHECK_STATUS(pyth_local_set(l, b), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 1);
    CHECK_EQ(atomic_load(&dtor_owner_sum), 1);
    CHECK(pyth_local_get(l) == b);
    /* NULL clears, destroying the value. */
    CHECK_STATUS(pyth_local_set(l, NULL), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 2);
    CHECK_EQ(atomic_load(&dtor_owner_sum), 3);
    CHECK(pyth_local_get(l) == NULL);
    /* Clearing an empty slot does nothing. */
    CHECK_STATUS(pyth_local_set(l, NULL), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 2);
    /* Free with no values: no dtor call. */
    CHECK_STATUS(pyth_local_free(l), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 2);
    CHECK_EQ(atomic_load(&dtor_bad), 0);
}

TEST(set_without_dtor) {
    pyth_local_t *l = pyth_local_new(NULL, NULL, NULL);
    int a, b;
    CHECK_STATUS(pyth_local_set(l, &a), PYTH_OK);
    CHECK_STATUS(pyth_local_set(l, &b), PYTH_OK);
    CHECK(pyth_local_get(l) == &b);
    CHECK_STATUS(pyth_local_free(l), PYTH_OK); /* no dtor: nothing to call */
}

/* Per-thread behaviour: each thread runs init once, sees its own value. */
typedef struct {
    pyth_local_t *l;
    init_state *is;
    pyth_event_t *go;
    value *first, *second, *third;
    int calls_after_first, calls_after_third;
    value *mine;
    value *after_set;
    int id;
} lworker;

static int lworker_fn(void *arg) {
    lworker *w = arg;
    w->first = pyth_local_get(w->l);
    w->second = pyth_local_get(w->l);
    if (w->go) pyth_event_wait(w->go, 60.0);
    w->third = pyth_local_get(w->l);
    /* Replace with its own value: destroys the init value. */
    w->mine = mkvalue(w->id);
    pyth_local_set(w->l, w->mine);
    w->after_set = pyth_local_get(w->l);
    return 0;
}

TEST(init_once_per_thread) {
    reset_counts();
    init_state is;
    memset(&is, 0, sizeof is);
    pyth_local_t *l = pyth_local_new(value_init, &is, value_dtor);
    /* Main: once, however many gets. */
    value *m = pyth_local_get(l);
    CHECK(m != NULL);
    CHECK(is.arg_seen == &is);
    CHECK_EQ(atomic_load(&is.calls), 1);
    CHECK(pyth_local_get(l) == m);
    CHECK(pyth_local_get(l) == m);
    CHECK_EQ(atomic_load(&is.calls), 1);
    CHECK_EQ(m->made_by, pyth_get_ident()); /* init ran in this thread */

    enum { N = 6 };
    lworker w[N];
    pyth_thread_t *t[N];
    pyth_event_t *go = pyth_event_new();
    for (int i = 0; i < N; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].l = l;
        w[i].is = &is;
        w[i].go = go;
        w[i].id = i + 1;
        t[i] = pyth_thread_new(lworker_fn, &w[i], NULL, 0);
        pyth_thread_start(t[i]);
    }
    /* While all are alive (each holds its init value). */
    CHECK(WAIT_UNTIL(atomic_load(&is.calls) == N + 1, 60));
    pyth_event_set(go);
    for (int i = 0; i < N; i++) CHECK_STATUS(pyth_thread_join(t[i], 60.0), PYTH_OK);
    CHECK_EQ(atomic_load(&is.calls), N + 1);
    for (int i = 0; i < N; i++) {
        CHECK(w[i].first != NULL);
        CHECK(w[i].first != m);
        CHECK(w[i].second == w[i].first);
        CHECK(w[i].third == w[i].first);
        CHECK(w[i].after_set == w[i].mine);
        for (int k = 0; k < i; k++) CHECK(w[i].first != w[k].first);
        pyth_thread_free(t[i]);
    }
    /* Each worker's init value (by set) and own value (at exit) destroyed. */
    CHECK_EQ(atomic_load(&dtor_calls), 2 * N);
    /* Main's value untouched by all that. */
    CHECK(pyth_local_get(l) == m);
    CHECK_EQ(m->magic, VALUE_MAGIC);
    CHECK_EQ(atomic_load(&is.calls), N + 1);
    CHECK_STATUS(pyth_local_free(l), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 2 * N + 1);
    CHECK_EQ(atomic_load(&dtor_bad), 0);
    pyth_event_free(go);
}

/* init returning NULL is still "done" for that thread. */
static atomic_int null_init_calls;
static void *null_init(void *arg) {
    (void)arg;
    atomic_fetch_add(&null_init_calls, 1);
    return NULL;
}

TEST(init_runs_once_even_if_null) {
    pyth_local_t *l = pyth_local_new(null_init, NULL, value_dtor);
    CHECK(pyth_local_get(l) == NULL);
    CHECK(pyth_local_get(l) == NULL);
    CHECK_EQ(atomic_load(&null_init_calls), 1);
    CHECK_STATUS(pyth_local_free(l), PYTH_OK);
}

/* The value set after init replaces it; clearing does not re-run init. */
TEST(clear_after_init_does_not_rerun_init) {
    reset_counts();
    init_state is;
    memset(&is, 0, sizeof is);
    pyth_local_t *l = pyth_local_new(value_init, &is, value_dtor);
    CHECK(pyth_local_get(l) != NULL);
    CHECK_STATUS(pyth_local_set(l, NULL), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 1);
    CHECK(pyth_local_get(l) == NULL);
    CHECK_EQ(atomic_load(&is.calls), 1);
    CHECK_STATUS(pyth_local_free(l), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 1);
}

/* The dtor runs at thread exit, before join returns. */
typedef struct {
    pyth_local_t *l[3];
    int owner;
    value *v[3];
} setter;

static int setter_fn(void *arg) {
    setter *s = arg;
    for (int k = 0; k < 3; k++) {
        if (!s->l[k]) continue;
        s->v[k] = mkvalue(s->owner + k);
        pyth_local_set(s->l[k], s->v[k]);
    }
    return 0;
}

TEST(dtor_at_thread_exit_before_join) {
    reset_counts();
    pyth_local_t *l1 = pyth_local_new(NULL, NULL, value_dtor);
    pyth_local_t *l2 = pyth_local_new(NULL, NULL, value_dtor);
    for (int round = 0; round < ITERS(200); round++) {
        setter s = {{l1, l2, NULL}, 10, {0}};
        int before = atomic_load(&dtor_calls);
        pyth_thread_t *t = pyth_thread_new(setter_fn, &s, NULL, 0);
        pyth_thread_start(t);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        /* Immediately after join: both values gone. */
        CHECK_EQ(atomic_load(&dtor_calls), before + 2);
        pyth_thread_free(t);
        if (h_failures) break;
    }
    CHECK_EQ(atomic_load(&dtor_owner_sum), (long)ITERS(200) * 21);
    /* The thread values do not leak into main. */
    CHECK(pyth_local_get(l1) == NULL);
    CHECK_STATUS(pyth_local_free(l1), PYTH_OK);
    CHECK_STATUS(pyth_local_free(l2), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 2 * ITERS(200));
    CHECK_EQ(atomic_load(&dtor_bad), 0);
}

/* Values from init are destroyed at exit too; several threads at once. */
TEST(dtor_at_exit_many_threads) {
    reset_counts();
    init_state is;
    memset(&is, 0, sizeof is);
    pyth_local_t *l = pyth_local_new(value_init, &is, value_dtor);
    enum { N = 16 };
    pyth_thread_t *t[N];
    lworker w[N];
    for (int i = 0; i < N; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].l = l;
        w[i].id = 1;
        t[i] = pyth_thread_new(lworker_fn, &w[i], NULL, 0);
        pyth_thread_start(t[i]);
    }
    for (int i = 0; i < N; i++) {
        CHECK_STATUS(pyth_thread_join(t[i], 60.0), PYTH_OK);
        pyth_thread_free(t[i]);
    }
    CHECK_EQ(atomic_load(&is.calls), N);
    CHECK_EQ(atomic_load(&dtor_calls), 2 * N);
    CHECK_STATUS(pyth_local_free(l), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 2 * N);
    CHECK_EQ(atomic_load(&dtor_bad), 0);
}

/* Plain pthreads, never known to the library as threads. */
static void *setter_pthread(void *arg) {
    setter_fn(arg);
    return NULL;
}

/* A pthread that also became a dummy thread. */
static void *setter_dummy_pthread(void *arg) {
    (void)pyth_current_thread();
    setter_fn(arg);
    return NULL;
}

TEST(dtor_at_exit_of_plain_pthreads) {
    reset_counts();
    pyth_local_t *l1 = pyth_local_new(NULL, NULL, value_dtor);
    pyth_local_t *l2 = pyth_local_new(NULL, NULL, value_dtor);
    for (int round = 0; round < ITERS(100); round++) {
        setter s = {{l1, l2, NULL}, 5, {0}};
        int before = atomic_load(&dtor_calls);
        h_thread h = spawn(round % 2 ? setter_dummy_pthread : setter_pthread, &s);
        join_within(h, 60);
        /* pthread_join returned: the values are gone already. */
        CHECK_EQ(atomic_load(&dtor_calls), before + 2);
        if (h_failures) break;
    }
    CHECK_STATUS(pyth_local_free(l1), PYTH_OK);
    CHECK_STATUS(pyth_local_free(l2), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 2 * ITERS(100));
    CHECK_EQ(atomic_load(&dtor_bad), 0);
}

/* pyth_local_free destroys every thread's value, live threads included. */
typedef struct {
    pyth_local_t *l;
    pyth_event_t *set_done, *go;
    atomic_int *ready;
    int owner;
    value *v;
} holder;

static int holder_fn(void *arg) {
    holder *h = arg;
    h->v = mkvalue(h->owner);
    pyth_local_set(h->l, h->v);
    atomic_fetch_add(h->ready, 1);
    /* The local is freed while we wait; we must not touch it after. */
    return pyth_event_wait(h->go, 60.0) == PYTH_OK ? 0 : 1;
}

static void *holder_pthread(void *arg) {
    holder_fn(arg);
    return NULL;
}

TEST(free_destroys_every_threads_value) {
    reset_counts();
    pyth_local_t *l = pyth_local_new(NULL, NULL, value_dtor);
    enum { N = 5, P = 3 };
    pyth_event_t *go = pyth_event_new();
    atomic_int ready = 0;
    holder h[N + P];
    pyth_thread_t *t[N];
    h_thread ph[P];
    long expect = 0;
    for (int i = 0; i < N + P; i++) {
        h[i].l = l;
        h[i].go = go;
        h[i].ready = &ready;
        h[i].owner = 100 * (i + 1);
        expect += h[i].owner;
        if (i < N) {
            t[i] = pyth_thread_new(holder_fn, &h[i], NULL, 0);
            pyth_thread_start(t[i]);
        } else {
            ph[i - N] = spawn(holder_pthread, &h[i]);
        }
    }
    CHECK(WAIT_UNTIL(atomic_load(&ready) == N + P, 60));
    value *mine = mkvalue(7);
    pyth_local_set(l, mine);
    expect += 7;
    CHECK_EQ(atomic_load(&dtor_calls), 0);
    CHECK_STATUS(pyth_local_free(l), PYTH_OK);
    /* Every value destroyed exactly once, while their threads still run. */
    CHECK_EQ(atomic_load(&dtor_calls), N + P + 1);
    CHECK_EQ(atomic_load(&dtor_owner_sum), expect);
    for (int i = 0; i < N; i++) CHECK(pyth_thread_is_alive(t[i]));
    /* The threads end: nothing is destroyed twice. */
    pyth_event_set(go);
    for (int i = 0; i < N; i++) {
        CHECK_STATUS(pyth_thread_join(t[i], 60.0), PYTH_OK);
        pyth_thread_free(t[i]);
    }
    for (int i = 0; i < P; i++) join_within(ph[i], 60);
    CHECK_EQ(atomic_load(&dtor_calls), N + P + 1);
    CHECK_EQ(atomic_load(&dtor_bad), 0);
    pyth_event_free(go);
}

/* Freed locals leave nothing behind for new ones (which may reuse their
 * storage): a new local starts empty, and its init runs, in every thread. */
typedef struct {
    pyth_local_t **l;
    pyth_event_t *phase2, *done1;
    int owner_before, owner_after;
} reuse_probe;

static int owner_of(void *p) { return p ? ((value *)p)->owner : -1; }

static int reuse_fn(void *arg) {
    reuse_probe *r = arg;
    r->owner_before = owner_of(pyth_local_get(*r->l)); /* the first local's init */
    pyth_event_set(r->done1);
    pyth_event_wait(r->phase2, 60.0);
    r->owner_after = owner_of(pyth_local_get(*r->l)); /* the second local's */
    return 0;
}

TEST(freed_local_leaves_nothing_behind) {
    reset_counts();
    init_state is1, is2;
    memset(&is1, 0, sizeof is1);
    memset(&is2, 0, sizeof is2);
    is1.base = 10000;
    is2.base = 20000;
    for (int round = 0; round < 20; round++) {
        pyth_local_t *l = pyth_local_new(value_init, &is1, value_dtor);
        reuse_probe r = {&l, pyth_event_new(), pyth_event_new(), 0, 0};
        pyth_thread_t *t = pyth_thread_new(reuse_fn, &r, NULL, 0);
        pyth_thread_start(t);
        WAIT_EV(r.done1);
        CHECK(r.owner_before >= 10000 && r.owner_before < 20000);
        CHECK(owner_of(pyth_local_get(l)) >= 10000);
        int calls1 = atomic_load(&is1.calls);
        CHECK_STATUS(pyth_local_free(l), PYTH_OK);
        /* A new local, possibly in the same place: empty everywhere. */
        pyth_local_t *n1 = pyth_local_new(NULL, NULL, value_dtor);
        CHECK(pyth_local_get(n1) == NULL);
        l = pyth_local_new(value_init, &is2, value_dtor);
        int calls2 = atomic_load(&is2.calls);
        CHECK(owner_of(pyth_local_get(l)) >= 20000);
        CHECK_EQ(atomic_load(&is2.calls), calls2 + 1);
        pyth_event_set(r.phase2);
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        /* The thread ran the new local's init (not the old one's again). */
        CHECK_EQ(atomic_load(&is2.calls), calls2 + 2);
        CHECK_EQ(atomic_load(&is1.calls), calls1);
        CHECK(r.owner_after >= 20000);
        pyth_thread_free(t);
        CHECK_STATUS(pyth_local_free(l), PYTH_OK);
        CHECK_STATUS(pyth_local_free(n1), PYTH_OK);
        pyth_event_free(r.phase2);
        pyth_event_free(r.done1);
        if (h_failures) break;
    }
    CHECK_EQ(atomic_load(&dtor_bad), 0);
    /* Every init value was destroyed (by free or at exit). */
    CHECK_EQ(atomic_load(&dtor_calls), atomic_load(&is1.calls) + atomic_load(&is2.calls));
}

/* Far more locals than pthread keys (PTHREAD_KEYS_MAX is 1024). */
enum { MANY = 5000 };

typedef struct {
    pyth_local_t **ls;
    int base;
    int bad;
    pyth_event_t *go;
    atomic_int *ready;
} many_probe;

static int many_fn(void *arg) {
    many_probe *m = arg;
    for (int i = 0; i < MANY; i++)
        if (pyth_local_set(m->ls[i], mkvalue(m->base + i)) != PYTH_OK) m->bad++;
    for (int i = 0; i < MANY; i++) {
        value *v = pyth_local_get(m->ls[i]);
        if (!v || v->owner != m->base + i) m->bad++;
    }
    atomic_fetch_add(m->ready, 1);
    pyth_event_wait(m->go, 60.0);
    /* Still ours after the other threads worked. */
    for (int i = 0; i < MANY; i++) {
        value *v = pyth_local_get(m->ls[i]);
        if (!v || v->owner != m->base + i) m->bad++;
    }
    return 0;
}

TEST(many_locals) {
    reset_counts();
    pyth_local_t **ls = calloc(MANY, sizeof *ls);
    for (int i = 0; i < MANY; i++) {
        ls[i] = pyth_local_new(NULL, NULL, value_dtor);
        CHECK(ls[i] != NULL);
        for (int k = 0; k < i && i < 64; k++) CHECK(ls[k] != ls[i]);
    }
    enum { T = 3 };
    many_probe mp[T];
    pyth_thread_t *t[T];
    pyth_event_t *go = pyth_event_new();
    atomic_int ready = 0;
    for (int k = 0; k < T; k++) {
        mp[k] = (many_probe){ls, (k + 1) * 100000, 0, go, &ready};
        t[k] = pyth_thread_new(many_fn, &mp[k], NULL, 0);
        pyth_thread_start(t[k]);
    }
    int bad = 0;
    for (int i = 0; i < MANY; i++) CHECK_STATUS(pyth_local_set(ls[i], mkvalue(i)), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&ready) == T, 60));
    for (int i = 0; i < MANY; i++) {
        value *v = pyth_local_get(ls[i]);
        if (!v || v->owner != i) bad++;
    }
    CHECK_EQ(bad, 0);
    /* Free every other local while the threads hold values in all. */
    for (int i = 0; i < MANY; i += 2) CHECK_STATUS(pyth_local_free(ls[i]), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), (T + 1) * (MANY / 2));
    /* Fresh locals in the freed places (the threads, blocked, will read
     * them after `go`). */
    for (int i = 0; i < MANY; i += 2) ls[i] = pyth_local_new(NULL, NULL, value_dtor);
    /* New locals are empty in main. */
    for (int i = 0; i < MANY; i += 2) {
        if (pyth_local_get(ls[i]) != NULL) bad++;
        pyth_local_set(ls[i], mkvalue(i));
    }
    CHECK_EQ(bad, 0);
    pyth_event_set(go);
    for (int k = 0; k < T; k++) {
        CHECK_STATUS(pyth_thread_join(t[k], 60.0), PYTH_OK);
        pyth_thread_free(t[k]);
    }
    /* The threads found the new (empty) even locals and failed those
     * checks: count them, they must be exactly the even half. */
    for (int k = 0; k < T; k++) CHECK_EQ(mp[k].bad, MANY / 2);
    for (int i = 0; i < MANY; i++) CHECK_STATUS(pyth_local_free(ls[i]), PYTH_OK);
    /* Every value made was destroyed once: T*MANY by the threads, MANY + MANY/2
     * in main. */
    CHECK_EQ(atomic_load(&dtor_calls), T * MANY + MANY + MANY / 2);
    CHECK_EQ(atomic_load(&dtor_bad), 0);
    free(ls);
    pyth_event_free(go);
}

/* Errors and bad handles. */
TEST(bad_handles) {
    CHECK(pyth_local_get(NULL) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    int x;
    CHECK_STATUS(pyth_local_set(NULL, &x), PYTH_EINVAL);
    CHECK_STATUS(pyth_local_free(NULL), PYTH_OK);
    pyth_event_t *e = pyth_event_new();
    pyth_local_t *w = (pyth_local_t *)e;
    CHECK(pyth_local_get(w) == NULL);
    CHECK_EQ(pyth_last_status(), PYTH_EINVAL);
    CHECK_STATUS(pyth_local_set(w, &x), PYTH_EINVAL);
    CHECK_STATUS(pyth_local_free(w), PYTH_EINVAL);
    CHECK_STATUS(pyth_event_free(e), PYTH_OK);
    /* And a local is not a thread. */
    pyth_local_t *l = pyth_local_new(NULL, NULL, NULL);
    CHECK_STATUS(pyth_thread_start((pyth_thread_t *)l), PYTH_EINVAL);
    CHECK_STATUS(pyth_local_free(l), PYTH_OK);
}

/* Locals do not interfere with each other, and values are per local. */
TEST(independent_locals) {
    pyth_local_t *a = pyth_local_new(NULL, NULL, NULL);
    pyth_local_t *b = pyth_local_new(NULL, NULL, NULL);
    int x, y;
    pyth_local_set(a, &x);
    CHECK(pyth_local_get(b) == NULL);
    pyth_local_set(b, &y);
    CHECK(pyth_local_get(a) == &x);
    CHECK(pyth_local_get(b) == &y);
    pyth_local_free(a);
    CHECK(pyth_local_get(b) == &y);
    pyth_local_free(b);
}

/* A dtor that sets its local again each time it runs at thread exit: the
 * clean-up stops after a bounded number of rounds (as glibc's does for
 * pthread keys), and the last value stays, owned by the local, until
 * pyth_local_free destroys it. The ended thread's stack and TLS block are
 * recycled for the next thread meanwhile; that thread's value must stay
 * its own, and the leftover must not be lost with the old block. */
static pyth_local_t *g_stubborn;
static uint64_t g_stubborn_main;
static atomic_int stubborn_resets;

static void stubborn_dtor(void *p) {
    value_dtor(p);
    if (pyth_get_ident() != g_stubborn_main) {
        atomic_fetch_add(&stubborn_resets, 1);
        pyth_local_set(g_stubborn, mkvalue(7));
    }
}

/* A C++ thread_local's destructor, in C: registered after the first set,
 * so it runs before libpyth's own TLS clean-up of the thread (they run
 * last registered first), and holds the thread there until the main
 * thread has counted what ran before join returned. */
extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso);
extern void *__dso_handle;
static pyth_event_t *g_late;

static void late_tls_dtor(void *arg) {
    (void)arg;
    pyth_event_wait(g_late, 60.0);
}

static int stubborn_fn(void *arg) {
    int rc = pyth_local_set(g_stubborn, mkvalue(7)) == PYTH_OK ? 0 : 1;
    if (arg != NULL) {
        __cxa_thread_atexit_impl(late_tls_dtor, NULL, &__dso_handle);
    }
    return rc;
}

static void *stubborn_pthread(void *arg) {
    stubborn_fn(arg);
    return NULL;
}

static void leftover_case(bool libpyth_thread) {
    reset_counts();
    atomic_store(&stubborn_resets, 0);
    g_stubborn_main = pyth_get_ident();
    g_stubborn = pyth_local_new(NULL, NULL, stubborn_dtor);
    if (libpyth_thread) {
        g_late = pyth_event_new();
        pyth_thread_t *t = pyth_thread_new(stubborn_fn, g_late, NULL, 0);
        CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
        /* A bounded join returns once the body and the locals' dtors are
         * done, while the OS thread still runs its TLS destructors. */
        CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
        int before = atomic_load(&stubborn_resets);
        CHECK(before >= 1 && before <= 8);
        CHECK_EQ(atomic_load(&dtor_calls), before);
        pyth_event_set(g_late);
        /* An unbounded join waits for the OS thread itself: no dtor of
         * this local ran after the first join returned. */
        CHECK_STATUS(pyth_thread_join(t, PYTH_FOREVER), PYTH_OK);
        CHECK_EQ(atomic_load(&stubborn_resets), before);
        pyth_thread_free(t);
        pyth_event_free(g_late);
    } else {
        join_within(spawn(stubborn_pthread, NULL), 60);
    }
    /* Every round destroyed one value and set another; one is left. */
    int rounds = atomic_load(&stubborn_resets);
    CHECK(rounds >= 1 && rounds <= 8);
    CHECK_EQ(atomic_load(&dtor_calls), rounds);

    /* The next thread, likely on the same stack, holds a value of its own
     * while the local is freed. */
    pyth_event_t *go = pyth_event_new();
    atomic_int ready = 0;
    holder h = {g_stubborn, NULL, go, &ready, 8, NULL};
    pyth_thread_t *t2 = pyth_thread_new(holder_fn, &h, NULL, 0);
    CHECK_STATUS(pyth_thread_start(t2), PYTH_OK);
    CHECK(WAIT_UNTIL(atomic_load(&ready) == 1, 60));
    CHECK_STATUS(pyth_local_free(g_stubborn), PYTH_OK);
    /* The leftover 7 and the holder's 8, each once. */
    CHECK_EQ(atomic_load(&dtor_calls), rounds + 2);
    CHECK_EQ(atomic_load(&dtor_owner_sum), 7L * (rounds + 1) + 8);
    CHECK_EQ(atomic_load(&dtor_bad), 0);
    pyth_event_set(go);
    CHECK_STATUS(pyth_thread_join(t2, 60.0), PYTH_OK);
    pyth_thread_free(t2);
    pyth_event_free(go);
    /* Freed: the holder's exit found nothing more to destroy. */
    CHECK_EQ(atomic_load(&dtor_calls), rounds + 2);
}

/* A plain pthread whose first use of locals comes from a pthread key's
 * destructor, after glibc has run the thread's other TLS destructors:
 * its value is still destroyed when that thread ends, not lost with its
 * TLS block when the next thread reuses the stack. */
static pyth_local_t *g_late_local;
static pthread_key_t g_user_key;

static void user_key_dtor(void *p) {
    (void)p;
    pyth_local_set(g_late_local, mkvalue(5));
}

static void *first_use_in_key_dtor(void *arg) {
    (void)arg;
    pthread_setspecific(g_user_key, (void *)1);
    return NULL;
}

TEST(first_use_from_a_key_dtor) {
    if (h_on_valgrind()) {
        /* The local's first use registers libpyth's TLS destructor with
         * glibc, which at that point never runs nor frees its 32-byte
         * record of it: glibc's leak, reported as ours. */
        fprintf(stderr, "  (skipped under valgrind: glibc leaks a TLS destructor registered this late)\n");
        return;
    }
    reset_counts();
    g_late_local = pyth_local_new(NULL, NULL, value_dtor);
    CHECK_EQ(pthread_key_create(&g_user_key, user_key_dtor), 0);
    for (int round = 1; round <= 3; round++) {
        join_within(spawn(first_use_in_key_dtor, NULL), 60);
        /* pthread_join returned: that thread's value is gone. */
        CHECK_EQ(atomic_load(&dtor_calls), round);
    }
    CHECK_STATUS(pyth_local_free(g_late_local), PYTH_OK);
    CHECK_EQ(atomic_load(&dtor_calls), 3);
    CHECK_EQ(atomic_load(&dtor_owner_sum), 15);
    CHECK_EQ(atomic_load(&dtor_bad), 0);
    pthread_key_delete(g_user_key);
}

TEST(exit_dtor_leftover_outlives_libpyth_thread) { leftover_case(true); }
TEST(exit_dtor_leftover_outlives_plain_pthread) { leftover_case(false); }

int main(void) {
    RUN(get_without_init_is_null);
    RUN(set_replaces_and_destroys_old);
    RUN(set_without_dtor);
    RUN(init_once_per_thread);
    RUN(init_runs_once_even_if_null);
    RUN(clear_after_init_does_not_rerun_init);
    RUN(dtor_at_thread_exit_before_join);
    RUN(dtor_at_exit_many_threads);
    RUN(dtor_at_exit_of_plain_pthreads);
    RUN(free_destroys_every_threads_value);
    RUN(freed_local_leaves_nothing_behind);
    RUN(many_locals);
    RUN(bad_handles);
    RUN(independent_locals);
    RUN(exit_dtor_leftover_outlives_libpyth_thread);
    RUN(exit_dtor_leftover_outlives_plain_pthread);
    RUN(first_use_from_a_key_dtor);
    return REPORT();
}
