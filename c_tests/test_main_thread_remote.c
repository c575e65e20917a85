/* Regression test (bug found by this test, fixed in f18287d).
 *
 * When another thread is the first to ask for pyth_main_thread(), the
 * main thread's object has no ident, and the main thread can "join"
 * itself: it blocks instead of failing.
 *
 * API.md: pyth_main_thread() is "the process's initial thread";
 * pyth_thread_ident() is "0: not started" (main is started), and joining
 * the current thread is PYTH_ERUNTIME "cannot join current thread"
 * (Python: RuntimeError, never a wait).
 *
 * Cause (before the fix):
 * registry::main_thread() called from a non-initial thread builds
 * the object with Thread::adopt_remote(), which fills in only the native
 * id; the ident and the main thread's TLS "current" word stay unset until
 * the main thread itself calls pyth_current_thread(). So
 * pyth_thread_join(main, ...) from main does not recognize the current
 * thread and waits on an event that is only set when main ends: with
 * PYTH_FOREVER it deadlocks.
 *
 * Expected: ident == pthread_self() of main; join from main returns
 * PYTH_ERUNTIME "cannot join current thread" at once.
 * Before the fix: ident 0; join(main, 0.5) from main returns PYTH_TIMEOUT after
 * 0.5 s (and PYTH_FOREVER would block forever).
 *
 * This must run in a fresh process: nothing may touch libpyth before the
 * helper thread asks for the main thread.
 */
#include "harness.h"

static pyth_thread_t *seen_by_helper;
static uint64_t ident_seen_by_helper;

static void *helper(void *arg) {
    (void)arg;
    seen_by_helper = pyth_main_thread();
    ident_seen_by_helper = pyth_thread_ident(seen_by_helper);
    return NULL;
}

static pthread_t main_pthread;

TEST(main_thread_first_asked_by_another_thread) {
    /* Seen from the helper: the main thread is alive and has its ident. */
    CHECK(seen_by_helper != NULL);
    CHECK_EQ(ident_seen_by_helper, (uint64_t)main_pthread);
    /* Main itself, before calling pyth_current_thread(). */
    pyth_thread_t *m = pyth_main_thread();
    CHECK(m == seen_by_helper);
    CHECK(pyth_thread_is_alive(m));
    CHECK_EQ(pyth_thread_ident(m), (uint64_t)pthread_self());
    double t0 = now_s();
    CHECK_STATUS(pyth_thread_join(m, 0.5), PYTH_ERUNTIME);
    CHECK_MSG("cannot join current thread");
    CHECK(now_s() - t0 < 0.4);
    /* Once main has called pyth_current_thread(), all is well. */
    CHECK(pyth_current_thread() == m);
    CHECK_EQ(pyth_thread_ident(m), (uint64_t)pthread_self());
    CHECK_STATUS(pyth_thread_join(m, 0.5), PYTH_ERUNTIME);
    CHECK_MSG("cannot join current thread");
}

int main(void) {
    main_pthread = pthread_self();
    h_thread h = spawn(helper, NULL);
    join_within(h, 60);
    RUN(main_thread_first_asked_by_another_thread);
    return REPORT();
}
