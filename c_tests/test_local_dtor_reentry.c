/* Regression test (bug found by this test, fixed in f18287d).
 *
 * A thread-local value's dtor that uses another
 * local (pyth_local_set or pyth_local_get) while its thread exits corrupts
 * memory in a libpyth thread and fails in a plain pthread.
 *
 * API.md: "A value's dtor runs when its thread exits, before join on that
 * thread returns (any thread, including ones not started by the
 * library)". Nothing forbids a dtor from using libpyth; in Python a value's
 * __del__ may use other threading.local objects during thread teardown, and
 * a C pthread_key destructor may call pthread_setspecific (glibc re-runs
 * destructors for values set meanwhile).
 *
 * Cause (before the fix):
 * thread_exit() frees the thread's table and clears the TLS word,
 * then runs the dtors. A pyth_local_set/get in a dtor makes my_table()
 * build a new table and then run
 *     EXIT_GUARD.with(|g| g.borrow_mut().get_or_insert(ExitGuard))
 * get_or_insert(ExitGuard) builds the guard before looking: the thread
 * already has a guard, so the new one is dropped at once, and its Drop
 * calls thread_exit(), which frees the table just made. my_table() then
 * returns the freed table: use after free (valgrind: "Invalid read of size
 * 8 ... inside a block of size 384 free'd" in Table::slot_or_grow; natively
 * a SIGSEGV in Local::set). In a plain pthread the dtors run inside the
 * TLS destructor of EXIT_GUARD, so EXIT_GUARD.with panics ("cannot access a
 * Thread Local Storage value during or after destruction"): the call
 * returns PYTH_ERUNTIME, a Rust panic message goes to stderr, and the new
 * table stays registered forever.
 *
 * Expected: in both kinds of thread, the calls in the dtor return PYTH_OK
 * (get returns the init value), nothing crashes, and every value is
 * destroyed exactly once (at the latest when its local is freed).
 * Before the fix: libpyth thread: the child running it dies of SIGSEGV (or
 * memcheck reports an invalid read); pthread: PYTH_ERUNTIME and a panic
 * message.
 *
 * Each case runs in a child process so a crash is reported, not fatal.
 */
#include "harness.h"
#include <sys/wait.h>

static pyth_local_t *A, *B, *C;
static atomic_int b_destroyed, c_destroyed, c_inits;
static pyth_status set_in_dtor = 12345;
static void *get_in_dtor = NULL;
static int b_value, c_value;

static void b_dtor(void *v) {
    if (v == &b_value) atomic_fetch_add(&b_destroyed, 1);
}
static void c_dtor(void *v) {
    if (v == &c_value) atomic_fetch_add(&c_destroyed, 1);
}
static void *c_init(void *arg) {
    (void)arg;
    atomic_fetch_add(&c_inits, 1);
    return &c_value;
}
static void a_dtor(void *v) {
    (void)v;
    set_in_dtor = pyth_local_set(B, &b_value);
    get_in_dtor = pyth_local_get(C);
}

static int target(void *arg) {
    (void)arg;
    return pyth_local_set(A, &A) == PYTH_OK ? 0 : 1;
}
static void *pthread_target(void *arg) {
    target(arg);
    return NULL;
}

/* Runs in the child; the exit code says what went wrong. */
static int scenario(bool libpyth_thread) {
    A = pyth_local_new(NULL, NULL, a_dtor);
    B = pyth_local_new(NULL, NULL, b_dtor);
    C = pyth_local_new(c_init, NULL, c_dtor);
    if (libpyth_thread) {
        pyth_thread_t *t = pyth_thread_new(target, NULL, NULL, 0);
        pyth_thread_start(t);
        if (pyth_thread_join(t, 30.0) != PYTH_OK) return 10;
        pyth_thread_free(t);
    } else {
        h_thread h = spawn(pthread_target, NULL);
        join_within(h, 30);
    }
    if (set_in_dtor != PYTH_OK) return 11;
    if (get_in_dtor != &c_value) return 12;
    pyth_local_free(A);
    pyth_local_free(B);
    pyth_local_free(C);
    if (atomic_load(&b_destroyed) != 1) return 13;
    if (atomic_load(&c_inits) != 1 || atomic_load(&c_destroyed) != 1) return 14;
    return 0;
}

static const char *meaning(int code) {
    switch (code) {
    case 10: return "join did not return";
    case 11: return "pyth_local_set in the dtor failed";
    case 12: return "pyth_local_get in the dtor did not return the init value";
    case 13: return "B's value not destroyed exactly once";
    case 14: return "C's value not made and destroyed exactly once";
    default: return "?";
    }
}

static void run_case(bool libpyth_thread) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(scenario(libpyth_thread));
    int st = -1;
    double end = now_s() + 60;
    pid_t w = 0;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && now_s() < end) {
        struct timespec ms = {0, 5000000};
        nanosleep(&ms, NULL);
    }
    h_checks++;
    if (w != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        H_FAIL("the child hung");
    } else if (WIFSIGNALED(st)) {
        H_FAIL("the child died of signal %d", WTERMSIG(st));
    } else if (WEXITSTATUS(st) != 0) {
        H_FAIL("child exit %d: %s", WEXITSTATUS(st), meaning(WEXITSTATUS(st)));
    }
}

TEST(dtor_uses_locals_in_libpyth_thread) { run_case(true); }
TEST(dtor_uses_locals_in_plain_pthread) { run_case(false); }

int main(void) {
    RUN(dtor_uses_locals_in_libpyth_thread);
    RUN(dtor_uses_locals_in_plain_pthread);
    return REPORT();
}
