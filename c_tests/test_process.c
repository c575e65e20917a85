/* Process life: what happens to libpyth threads at process exit (return
 * from main, exit() from main or from a thread) and in a fork()ed child;
 * and many threads. Children are bounded: a child that does not finish in
 * time is killed and counted as a failure. */
#include "harness.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

static double slack(void) { return getenv("PYTH_TEST_QUICK") ? 20.0 : 3.0; }
static const char *self_exe;


/* Forked children and valgrind: memory that only the parent's other
 * threads referenced (their stacks and TLS do not exist in the child) is
 * "definitely lost" in a child, as in any forked C program. So a child
 * turns memcheck's leak check off for itself (memory errors still count). */
static void child_started(void) {
#ifdef RUNNING_ON_VALGRIND
    if (RUNNING_ON_VALGRIND) VALGRIND_CLO_CHANGE("--leak-check=no");
#endif
}

static void child_end(int code) {
    fflush(NULL);
    _exit(code);
}

/* A destructor: runs during exit(), after main's atexit handlers. In a
 * child it reports that the exit sequence ran to its end. (Whether it runs
 * before or after libpyth's wait for non-daemon threads depends on when
 * libpyth registered its handler, so only its presence is checked.) */
static int child_exit_fd = -1;
__attribute__((destructor)) static void last_exit_handler(void) {
    if (child_exit_fd < 0) return;
    static const char m[] = "exit handlers done\n";
    if (write(child_exit_fd, m, sizeof m - 1) < 0) {}
}

/* ---- child processes ---------------------------------------------------- */

typedef struct {
    char out[8192];   /* what the child wrote to its pipe */
    int status;       /* waitpid status; -1 if it had to be killed */
    double elapsed;   /* seconds from fork to exit */
} child_result;

/* A line written with one write(2): lines from threads do not interleave. */
static void say(int fd, const char *s) {
    size_t n = strlen(s);
    if (write(fd, s, n) != (ssize_t)n) _exit(90);
}

/* Forks; the child runs body(fd, arg) with `fd` the write end of a pipe
 * whose read end the parent drains, and ends (child_end(0)) if body returns. The
 * parent waits at most `limit` seconds for EOF and the exit. */
static bool run_child(void (*body)(int fd, void *arg), void *arg, double limit, child_result *r) {
    memset(r, 0, sizeof *r);
    r->status = -1;
    int fds[2];
    if (pipe(fds) != 0) return false;
    fflush(NULL);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        child_started();
        close(fds[0]);
        body(fds[1], arg);
        child_end(0);
    }
    close(fds[1]);
    double end = t0 + limit;
    size_t len = 0;
    for (;;) {
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0) break;
        struct pollfd p = {fds[0], POLLIN, 0};
        int pr = poll(&p, 1, left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) break;
        ssize_t n = read(fds[0], r->out + len, sizeof r->out - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        if (len == sizeof r->out - 1) break;
    }
    r->out[len] = 0;
    close(fds[0]);
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            r->status = st;
            r->elapsed = now_s() - t0;
            return true;
        }
        if (now_s() > end) break;
        struct timespec ms = {0, 2000000};
        nanosleep(&ms, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "[%s] child did not finish within %.0fs; output so far:\n%s\n", h_current, limit, r->out);
    return false;
}

static bool exited_with(const child_result *r, int code) {
    return r->status != -1 && WIFEXITED(r->status) && WEXITSTATUS(r->status) == code;
}

#define CHECK_CHILD(r, code)                                                   \
    do {                                                                       \
        h_checks++;                                                            \
        if (!exited_with((r), (code)))                                         \
            H_FAIL("child status 0x%x (exit %d, signal %d), expected exit %d; output:\n%s", \
                   (r)->status, WIFEXITED((r)->status) ? WEXITSTATUS((r)->status) : -1, \
                   WIFSIGNALED((r)->status) ? WTERMSIG((r)->status) : 0, (code), (r)->out); \
    } while (0)

/* Position of `needle` in the output, or -1. */
static long pos_of(const child_result *r, const char *needle) {
    const char *p = strstr(r->out, needle);
    return p ? (long)(p - r->out) : -1;
}

/* ---- the exit scenarios (run in children) --------------------------------- */

/* A non-daemon worker: waits until main is leaving, then a little more (a
 * "sleep": a wait on an event nobody sets), then reports. */
typedef struct {
    int fd;
    pyth_event_t *leaving, *daemon_started, *untracked_started;
    double work;
} worker_arg;

/* Started by the worker while the process is already exiting: exit
 * waits for threads started during the wait too (Python's _shutdown). */
static int late_worker_fn(void *p) {
    worker_arg *w = p;
    pyth_event_t *never = pyth_event_new();
    pyth_event_wait(never, 0.1);
    pyth_event_free(never);
    say(w->fd, "late worker done\n");
    return 0;
}

static int worker_fn(void *p) {
    worker_arg *w = p;
    pyth_event_wait(w->leaving, 60.0);
    pyth_event_t *never = pyth_event_new();
    pyth_event_wait(never, w->work);
    pyth_event_free(never);
    say(w->fd, "worker done\n");
    pyth_thread_t *late = pyth_thread_new(late_worker_fn, w, NULL, PYTH_DAEMON_INHERIT);
    if (!late || pyth_thread_daemon(late) || pyth_thread_start(late) != PYTH_OK) say(w->fd, "late worker failed\n");
    pyth_thread_free(late);
    return 0;
}

/* A daemon blocked forever. */
static int forever_fn(void *p) {
    worker_arg *w = p;
    pyth_event_t *never = pyth_event_new();
    say(w->fd, "daemon blocked\n");
    pyth_event_set(w->daemon_started);
    pyth_event_wait(never, PYTH_FOREVER);
    say(w->fd, "daemon woke up\n");
    return 0;
}

/* A non-daemon timer: exit waits for it to fire. */
static int timer_fn(void *p) {
    worker_arg *w = p;
    say(w->fd, "timer fired\n");
    return 0;
}

/* A _thread.start_new_thread thread: never waited for. */
static int untracked_fn(void *p) {
    worker_arg *w = p;
    pyth_event_t *never = pyth_event_new();
    pyth_event_set(w->untracked_started);
    pyth_event_wait(never, PYTH_FOREVER);
    say(w->fd, "untracked woke up\n");
    return 0;
}

/* Starts a non-daemon worker (which starts another while the process
 * exits), a daemon blocked forever, an untracked thread blocked forever
 * and a non-daemon 0.3 s timer; returns once the blocked ones block. */
static worker_arg *start_worker_and_daemon(int fd, double work) {
    static worker_arg w;
    w.fd = fd;
    w.leaving = pyth_event_new();
    w.daemon_started = pyth_event_new();
    w.untracked_started = pyth_event_new();
    w.work = work;
    pyth_thread_t *wt = pyth_thread_new(worker_fn, &w, "worker", PYTH_DAEMON_INHERIT);
    pyth_thread_t *dt = pyth_thread_new(forever_fn, &w, "ticker", 1);
    pyth_thread_t *tm = pyth_timer_new(0.3, timer_fn, &w);
    if (!wt || !dt || !tm || pyth_thread_daemon(wt) || !pyth_thread_daemon(dt) || pyth_thread_daemon(tm)) _exit(80);
    if (pyth_thread_start(wt) != PYTH_OK || pyth_thread_start(dt) != PYTH_OK || pyth_thread_start(tm) != PYTH_OK)
        _exit(81);
    if (pyth_start_new_thread(untracked_fn, &w) == 0) _exit(82);
    if (pyth_event_wait(w.daemon_started, 60.0) != PYTH_OK) _exit(83);
    if (pyth_event_wait(w.untracked_started, 60.0) != PYTH_OK) _exit(84);
    /* The handles may go: the threads keep running. */
    pyth_thread_free(wt);
    pyth_thread_free(dt);
    pyth_thread_free(tm);
    return &w;
}

/* What every exit scenario must show: all non-daemon work (the worker,
 * the thread it started during exit, the timer) done before the exit
 * handlers finished, nothing from the abandoned threads, and no wait for
 * them. `leave` is what the leaving thread wrote before leaving. */
static void check_exit_output(const child_result *r, const char *leave, double work) {
    long a = pos_of(r, leave), b = pos_of(r, "worker done\n"), c = pos_of(r, "late worker done\n");
    long d = pos_of(r, "timer fired\n"), e = pos_of(r, "exit handlers done\n");
    CHECK(a >= 0);
    CHECK(b > a);
    CHECK(c > b);
    CHECK(d >= 0);
    CHECK(e >= 0);
    CHECK(pos_of(r, "daemon blocked\n") >= 0);
    CHECK(pos_of(r, "daemon woke up") < 0);
    CHECK(pos_of(r, "untracked woke up") < 0);
    CHECK(pos_of(r, "failed") < 0);
    /* The worker's time (and the timer's), not the blocked threads' forever. */
    CHECK(r->elapsed >= work + 0.1);
    CHECK(r->elapsed < work + 0.3 + 2 * slack());
    if (h_failures) fprintf(stderr, "child output:\n%s", r->out);
}

/* Re-executed program: main starts the threads and returns. */
static int child_main_returns(int fd) {
    child_exit_fd = fd;
    worker_arg *w = start_worker_and_daemon(fd, 0.2);
    say(fd, "main returns\n");
    pyth_event_set(w->leaving);
    return 0;
}

static void exec_return_from_main(int fd, void *arg) {
    (void)arg;
    char fdstr[16];
    snprintf(fdstr, sizeof fdstr, "%d", fd);
    execl(self_exe, self_exe, "--child-main-returns", fdstr, (char *)NULL);
    _exit(70);
}

TEST(return_from_main_waits_for_non_daemon_threads) {
    child_result r;
    CHECK(run_child(exec_return_from_main, NULL, 60 + slack(), &r));
    CHECK_CHILD(&r, 0);
    check_exit_output(&r, "main returns\n", 0.2);
}

/* exit() from main, in a forked child (whose forking thread is main). */
static void body_exit_from_main(int fd, void *arg) {
    (void)arg;
    child_exit_fd = fd;
    worker_arg *w = start_worker_and_daemon(fd, 0.2);
    say(fd, "main exits\n");
    pyth_event_set(w->leaving);
    exit(3);
}

TEST(exit_waits_for_non_daemon_threads) {
    child_result r;
    CHECK(run_child(body_exit_from_main, NULL, 60 + slack(), &r));
    CHECK_CHILD(&r, 3);
    check_exit_output(&r, "main exits\n", 0.2);
}

/* A non-daemon thread calls exit(): the process waits for the other
 * non-daemon threads, not for the exiting thread itself (nor for main,
 * which is blocked here). */
typedef struct {
    int fd;
    worker_arg *w;
} exiter_arg;

static int exiter_fn(void *p) {
    exiter_arg *e = p;
    say(e->fd, "thread exits\n");
    pyth_event_set(e->w->leaving);
    exit(5);
}

static void body_exit_from_thread(int fd, void *arg) {
    (void)arg;
    child_exit_fd = fd;
    worker_arg *w = start_worker_and_daemon(fd, 0.2);
    static exiter_arg e;
    e.fd = fd;
    e.w = w;
    pyth_thread_t *x = pyth_thread_new(exiter_fn, &e, "exiter", 0);
    pyth_thread_start(x);
    /* main blocks until the process ends. */
    pyth_event_t *never = pyth_event_new();
    pyth_event_wait(never, PYTH_FOREVER);
    child_end(82);
}

TEST(exit_from_a_thread) {
    child_result r;
    CHECK(run_child(body_exit_from_thread, NULL, 60 + slack(), &r));
    CHECK_CHILD(&r, 5);
    check_exit_output(&r, "thread exits\n", 0.2);
}

/* Only daemon (and untracked) threads alive, all blocked forever: exit
 * does not wait. Also a daemon Timer that never fires, and a cancelled
 * non-daemon Timer. */
static void body_only_daemons(int fd, void *arg) {
    (void)arg;
    child_exit_fd = fd;
    static worker_arg w;
    w.fd = fd;
    w.daemon_started = pyth_event_new();
    w.untracked_started = pyth_event_new();
    for (int i = 0; i < 4; i++) {
        pyth_thread_t *t = pyth_thread_new(forever_fn, &w, NULL, 1);
        pyth_thread_start(t);
        pyth_thread_free(t);
        if (pyth_event_wait(w.daemon_started, 60.0) != PYTH_OK) _exit(83);
        pyth_event_clear(w.daemon_started);
    }
    pyth_start_new_thread(untracked_fn, &w);
    if (pyth_event_wait(w.untracked_started, 60.0) != PYTH_OK) _exit(84);
    pyth_thread_t *dt = pyth_timer_new(PYTH_FOREVER, timer_fn, &w);
    pyth_thread_set_daemon(dt, true);
    pyth_thread_start(dt);
    pyth_thread_t *ct = pyth_timer_new(1000.0, timer_fn, &w);
    pyth_thread_start(ct);
    pyth_timer_cancel(ct);
    pyth_thread_free(dt);
    pyth_thread_free(ct);
    say(fd, "main exits\n");
    exit(0);
}

TEST(daemons_do_not_delay_exit) {
    child_result r;
    CHECK(run_child(body_only_daemons, NULL, 60 + slack(), &r));
    CHECK_CHILD(&r, 0);
    CHECK(pos_of(&r, "main exits\n") >= 0);
    CHECK(pos_of(&r, "exit handlers done\n") >= 0);
    CHECK(pos_of(&r, "woke up") < 0);
    CHECK(pos_of(&r, "timer fired") < 0);
    CHECK(r.elapsed < 2 * slack());
}

/* ---- fork() with live threads --------------------------------------------- */

/* The parent's threads are alive at fork(): blocked in a libpyth wait
 * (an Event) or outside libpyth (read() on a pipe). */
typedef struct {
    pyth_event_t *go;
    int rd, wr;
    atomic_int *ready;
} parked_arg;

static int parked_fn(void *p) {
    parked_arg *a = p;
    atomic_fetch_add(a->ready, 1);
    return pyth_event_wait(a->go, 60.0) == PYTH_OK ? 0 : 1;
}

static int reading_fn(void *p) {
    parked_arg *a = p;
    atomic_fetch_add(a->ready, 1);
    char c;
    ssize_t n;
    while ((n = read(a->rd, &c, 1)) < 0 && errno == EINTR) {}
    return n == 1 ? 0 : 1;
}

static void *parked_pthread(void *p) {
    (void)pyth_current_thread(); /* a dummy thread */
    parked_fn(p);
    return NULL;
}

/* What the child checks (shared by the fork-from-* scenarios). */
typedef struct {
    pyth_thread_t *old[4];      /* parent's threads, alive at fork */
    int n_old;
    pyth_thread_t *expect_main; /* the forking thread's object (if known) */
    pyth_local_t *local;
    void *local_value;
    const char *main_name;      /* expected name of main in the child */
} fork_expect;

static int child_thread_fn(void *p) {
    pyth_event_t **e = p;
    if (pyth_event_set(e[0]) != PYTH_OK) return 1;
    return pyth_event_wait(e[1], 60.0) == PYTH_OK ? 0 : 1;
}

/* Runs in the child; the harness counters there are the child's own. */
static void check_child_state(int fd, fork_expect *x) {
    h_failures = 0;
    pyth_thread_t *cur = pyth_current_thread();
    pyth_thread_t *main = pyth_main_thread();
    CHECK(cur == main);
    if (x->expect_main) CHECK(cur == x->expect_main);
    CHECK_EQ(pyth_active_count(), 1);
    pyth_thread_t *all[8] = {0};
    CHECK_EQ(pyth_enumerate(all, 8), 1);
    CHECK(all[0] == cur);
    pyth_thread_free(all[0]);
    CHECK(pyth_thread_is_alive(cur));
    CHECK_EQ(pyth_thread_ident(cur), (uint64_t)pthread_self());
    CHECK_EQ(pyth_thread_native_id(cur), (uint64_t)getpid());
    CHECK_EQ(pyth_get_native_id(), (uint64_t)getpid());
    if (x->main_name) {
        char buf[64];
        pyth_thread_name(cur, buf, sizeof buf);
        CHECK(strcmp(buf, x->main_name) == 0);
    }
    CHECK_STATUS(pyth_thread_join(cur, 1.0), PYTH_ERUNTIME);
    CHECK_MSG("cannot join current thread");
    /* The parent's other threads do not exist here. */
    for (int i = 0; i < x->n_old; i++) {
        CHECK(!pyth_thread_is_alive(x->old[i]));
        double t0 = now_s();
        CHECK_STATUS(pyth_thread_join(x->old[i], PYTH_FOREVER), PYTH_OK);
        CHECK_STATUS(pyth_thread_join(x->old[i], 0.0), PYTH_OK);
        CHECK(now_s() - t0 < slack());
    }
    /* Thread-local values of the forking thread survive. */
    if (x->local) CHECK(pyth_local_get(x->local) == x->local_value);
    /* New threads, locks, events work. */
    pyth_event_t *e[2] = {pyth_event_new(), pyth_event_new()};
    pyth_thread_t *t = pyth_thread_new(child_thread_fn, e, NULL, PYTH_DAEMON_INHERIT);
    CHECK(t != NULL);
    CHECK(!pyth_thread_daemon(t));
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_EQ(pyth_active_count(), 2);
    CHECK_STATUS(pyth_event_wait(e[0], 60.0), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 0.01), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_event_set(e[1]), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK_EQ(pyth_active_count(), 1);
    pyth_thread_free(t);
    pyth_event_free(e[0]);
    pyth_event_free(e[1]);
    pyth_lock_t *l = pyth_lock_new();
    CHECK_STATUS(pyth_lock_acquire(l, true, 1.0), PYTH_OK);
    CHECK_STATUS(pyth_lock_acquire(l, true, 0.01), PYTH_TIMEOUT);
    CHECK_STATUS(pyth_lock_release(l), PYTH_OK);
    pyth_lock_free(l);
    /* A local's values in new threads of the child. */
    if (x->local) {
        pyth_local_t *nl = pyth_local_new(NULL, NULL, NULL);
        CHECK(pyth_local_get(nl) == NULL);
        pyth_local_set(nl, &nl);
        CHECK(pyth_local_get(nl) == &nl);
        pyth_local_free(nl);
    }
    say(fd, h_failures ? "child checks FAILED\n" : "child checks passed\n");
    child_end(h_failures ? 1 : 0);
}

typedef struct {
    parked_arg pa;
    pyth_thread_t *t[4];
    h_thread dummy;
} live_set;

/* Four libpyth threads (three waiting on an Event, one in read()) and one
 * dummy thread waiting on the Event: all alive and blocked. */
static void start_live_set(live_set *s, atomic_int *ready) {
    int fds[2];
    if (pipe(fds) != 0) abort();
    s->pa.go = pyth_event_new();
    s->pa.rd = fds[0];
    s->pa.wr = fds[1];
    s->pa.ready = ready;
    for (int i = 0; i < 4; i++) {
        s->t[i] = pyth_thread_new(i == 3 ? reading_fn : parked_fn, &s->pa, NULL, 0);
        pyth_thread_start(s->t[i]);
    }
    s->dummy = spawn(parked_pthread, &s->pa);
    CHECK(WAIT_UNTIL(atomic_load(ready) == 5, 60));
}

static void stop_live_set(live_set *s) {
    pyth_event_set(s->pa.go);
    if (write(s->pa.wr, "x", 1) != 1) perror("write");
    for (int i = 0; i < 4; i++) {
        CHECK_STATUS(pyth_thread_join(s->t[i], 60.0), PYTH_OK);
        pyth_thread_free(s->t[i]);
    }
    join_within(s->dummy, 60);
    pyth_event_free(s->pa.go);
    close(s->pa.rd);
    close(s->pa.wr);
}

static void body_check(int fd, void *arg) { check_child_state(fd, arg); }

TEST(fork_from_main) {
    atomic_int ready = 0;
    live_set s;
    start_live_set(&s, &ready);
    size_t before = pyth_active_count();
    CHECK(before >= 6);
    pyth_local_t *l = pyth_local_new(NULL, NULL, NULL);
    static int marker;
    pyth_local_set(l, &marker);
    fork_expect x = {{s.t[0], s.t[1], s.t[2], s.t[3]}, 4, pyth_main_thread(), l, &marker, "MainThread"};
    child_result r;
    CHECK(run_child(body_check, &x, 60 + slack(), &r));
    CHECK_CHILD(&r, 0);
    CHECK(strstr(r.out, "child checks passed") != NULL);
    /* The parent is unaffected. */
    CHECK_EQ(pyth_active_count(), before);
    for (int i = 0; i < 4; i++) CHECK(pyth_thread_is_alive(s.t[i]));
    CHECK(pyth_local_get(l) == &marker);
    stop_live_set(&s);
    pyth_local_free(l);
}

/* fork() from a libpyth thread: in the child it is the main thread, and
 * the parent's main thread is gone. */
typedef struct {
    fork_expect x;
    child_result r;
    bool ran;
    pyth_local_t *l;
    atomic_int done;
} thread_fork;

static int forking_thread_fn(void *p) {
    thread_fork *f = p;
    static int marker2;
    pyth_local_set(f->l, &marker2);
    f->x.local = f->l;
    f->x.local_value = &marker2;
    f->x.expect_main = pyth_current_thread();
    f->ran = run_child(body_check, &f->x, 60 + slack(), &f->r);
    atomic_store(&f->done, 1);
    return 0;
}

TEST(fork_from_a_thread) {
    atomic_int ready = 0;
    live_set s;
    start_live_set(&s, &ready);
    thread_fork f;
    memset(&f, 0, sizeof f);
    f.l = pyth_local_new(NULL, NULL, NULL);
    f.x.old[0] = s.t[0];
    f.x.old[1] = s.t[3];
    /* A counted reference: a borrowed one would die with the registry's. */
    f.x.old[2] = pyth_thread_ref(pyth_main_thread());
    f.x.n_old = 3;
    f.x.main_name = "forker";
    pyth_thread_t *t = pyth_thread_new(forking_thread_fn, &f, "forker", 0);
    pyth_thread_start(t);
    /* main sleeps in pyth_thread_join while the thread forks. */
    CHECK_STATUS(pyth_thread_join(t, 120.0), PYTH_OK);
    CHECK(atomic_load(&f.done));
    CHECK(f.ran);
    CHECK_CHILD(&f.r, 0);
    CHECK(strstr(f.r.out, "child checks passed") != NULL);
    /* The parent's main thread is still main here. */
    CHECK(pyth_main_thread() == pyth_current_thread());
    CHECK(pyth_local_get(f.l) == NULL);
    pyth_thread_free(f.x.old[2]);
    pyth_thread_free(t);
    stop_live_set(&s);
    pyth_local_free(f.l);
}

/* fork() from a pthread the library has never seen: the child's only
 * thread becomes the main thread. */
typedef struct {
    fork_expect x;
    child_result r;
    bool ran;
} pthread_fork;

static void *forking_pthread(void *p) {
    pthread_fork *f = p;
    f->ran = run_child(body_check, &f->x, 60 + slack(), &f->r);
    return NULL;
}

TEST(fork_from_a_foreign_pthread) {
    atomic_int ready = 0;
    live_set s;
    start_live_set(&s, &ready);
    pthread_fork f;
    memset(&f, 0, sizeof f);
    f.x.old[0] = s.t[3];
    f.x.old[1] = pyth_thread_ref(pyth_main_thread());
    f.x.n_old = 2;
    f.x.main_name = "MainThread";
    h_thread h = spawn(forking_pthread, &f);
    join_within(h, 120);
    CHECK(f.ran);
    CHECK_CHILD(&f.r, 0);
    CHECK(strstr(f.r.out, "child checks passed") != NULL);
    pyth_thread_free(f.x.old[1]);
    stop_live_set(&s);
}

/* A forked child can itself rely on exit waiting for its threads. */
static void body_fork_then_exit(int fd, void *arg) {
    (void)arg;
    child_exit_fd = fd;
    worker_arg *w = start_worker_and_daemon(fd, 0.1);
    say(fd, "child exits\n");
    pyth_event_set(w->leaving);
    /* Not a return from body: run_child's _exit would skip atexit. */
    exit(0);
}

TEST(fork_child_exit_waits_too) {
    atomic_int ready = 0;
    live_set s;
    start_live_set(&s, &ready);
    child_result r;
    CHECK(run_child(body_fork_then_exit, NULL, 60 + slack(), &r));
    CHECK_CHILD(&r, 0);
    check_exit_output(&r, "child exits\n", 0.1);
    stop_live_set(&s);
}

/* ---- many threads --------------------------------------------------------- */

static atomic_long work_sum;
static int add_fn(void *p) {
    atomic_fetch_add(&work_sum, (long)(intptr_t)p);
    return 0;
}

/* fork() while threads are ending: every thread object the child inherits
 * either is still running (the child's copy is then marked ended) or has
 * ended; none may be caught between leaving the registry and being marked
 * done, which would make its join wait forever in the child. */
#define ENDING 8
static pyth_thread_t *g_ending[ENDING];

static int quick_fn(void *p) {
    (void)p;
    return 0;
}

static void join_ending_child(int fd, void *arg) {
    (void)arg;
    for (int k = 0; k < ENDING; k++) {
        /* Both ways of joining: an unbounded join must not wait for an OS
         * thread of the parent's (run_child's time limit catches a hang). */
        double timeout = k % 2 ? PYTH_FOREVER : 10.0;
        if (pyth_thread_join(g_ending[k], timeout) != PYTH_OK || pyth_thread_is_alive(g_ending[k])) {
            say(fd, "stuck\n");
            return;
        }
    }
    say(fd, "ok\n");
}

TEST(fork_while_threads_end) {
    long rounds = ITERS(40);
    for (long r = 0; r < rounds && !h_failures; r++) {
        for (int k = 0; k < ENDING; k++) {
            g_ending[k] = pyth_thread_new(quick_fn, NULL, NULL, PYTH_DAEMON_INHERIT);
            CHECK_STATUS(pyth_thread_start(g_ending[k]), PYTH_OK);
        }
        child_result cr;
        CHECK(run_child(join_ending_child, NULL, 60, &cr));
        CHECK(WIFEXITED(cr.status) && WEXITSTATUS(cr.status) == 0);
        CHECK(strcmp(cr.out, "ok\n") == 0);
        for (int k = 0; k < ENDING; k++) {
            CHECK_STATUS(pyth_thread_join(g_ending[k], 60.0), PYTH_OK);
            pyth_thread_free(g_ending[k]);
        }
    }
}

TEST(thousand_threads_started_and_joined) {
    size_t base = pyth_active_count();
    long n = ITERS(1000);
    atomic_store(&work_sum, 0);
    long expect = 0;
    /* In waves of 50 alive at once. */
    for (long i = 0; i < n; i += 50) {
        pyth_thread_t *t[50];
        long k, m = n - i < 50 ? n - i : 50;
        for (k = 0; k < m; k++) {
            t[k] = pyth_thread_new(add_fn, (void *)(intptr_t)(i + k), NULL, PYTH_DAEMON_INHERIT);
            expect += i + k;
            CHECK_STATUS(pyth_thread_start(t[k]), PYTH_OK);
        }
        for (k = 0; k < m; k++) {
            CHECK_STATUS(pyth_thread_join(t[k], 60.0), PYTH_OK);
            pyth_thread_free(t[k]);
        }
        if (h_failures) break;
    }
    CHECK_EQ(atomic_load(&work_sum), expect);
    CHECK_EQ(pyth_active_count(), base);
}

typedef struct {
    pyth_event_t *go;
    atomic_int *ready;
} gate;

static int gate_fn(void *p) {
    gate *g = p;
    atomic_fetch_add(g->ready, 1);
    return pyth_event_wait(g->go, 60.0) == PYTH_OK ? 0 : 1;
}

TEST(two_hundred_alive_at_once) {
    long n = getenv("PYTH_TEST_QUICK") ? 50 : 200;
    size_t base = pyth_active_count();
    atomic_int ready = 0;
    gate pa = {pyth_event_new(), &ready};
    pyth_thread_t **t = calloc((size_t)n, sizeof *t);
    for (long i = 0; i < n; i++) {
        t[i] = pyth_thread_new(gate_fn, &pa, NULL, 0);
        CHECK_STATUS(pyth_thread_start(t[i]), PYTH_OK);
    }
    CHECK(WAIT_UNTIL(atomic_load(&ready) == n, 60));
    CHECK_EQ(pyth_active_count(), base + (size_t)n);
    CHECK_EQ(pyth_enumerate(NULL, 0), base + (size_t)n);
    int alive = 0;
    for (long i = 0; i < n; i++) alive += pyth_thread_is_alive(t[i]);
    CHECK_EQ(alive, n);
    /* Distinct identities. */
    int dup = 0;
    for (long i = 0; i < n; i++)
        for (long k = 0; k < i; k++) dup += pyth_thread_ident(t[i]) == pyth_thread_ident(t[k]);
    CHECK_EQ(dup, 0);
    CHECK_STATUS(pyth_event_set(pa.go), PYTH_OK);
    for (long i = 0; i < n; i++) {
        CHECK_STATUS(pyth_thread_join(t[i], 60.0), PYTH_OK);
        pyth_thread_free(t[i]);
    }
    CHECK_EQ(pyth_active_count(), base);
    free(t);
    pyth_event_free(pa.go);
}

int main(int argc, char **argv) {
    static char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    self_exe = n > 0 ? (exe[n] = 0, exe) : argv[0];
    if (argc == 3 && strcmp(argv[1], "--child-main-returns") == 0)
        return child_main_returns(atoi(argv[2]));
    /* PYTH_TEST_ONLY=name runs one test (for debugging). */
    const char *only = getenv("PYTH_TEST_ONLY");
#define RUN_IF(name) do { if (!only || strcmp(only, #name) == 0) RUN(name); } while (0)
    RUN_IF(return_from_main_waits_for_non_daemon_threads);
    RUN_IF(exit_waits_for_non_daemon_threads);
    RUN_IF(exit_from_a_thread);
    RUN_IF(daemons_do_not_delay_exit);
    RUN_IF(fork_from_main);
    RUN_IF(fork_from_a_thread);
    RUN_IF(fork_from_a_foreign_pthread);
    RUN_IF(fork_child_exit_waits_too);
    RUN_IF(fork_while_threads_end);
    RUN_IF(thousand_threads_started_and_joined);
    RUN_IF(two_hundred_alive_at_once);
    return REPORT();
}
