/* Process exit: the program's own exit-time code that was set up before
 * its threads runs after libpyth waited for the non-daemon threads.
 *
 * API.md: "At normal process exit (return from main, exit()), the library
 * waits for every non-daemon thread it started, as Python does at
 * interpreter exit". Python joins the non-daemon threads before anything
 * is torn down: atexit callbacks run after them. In C the closest
 * guarantee is that the wait comes before the exit-time code the program
 * set up before its threads: atexit handlers registered before the first
 * thread started, C++ static destructors and ELF destructors
 * (__attribute__((destructor))); otherwise a non-daemon thread would keep
 * using globals that are being destroyed under it.
 *
 * (A regression test: a working-tree change that registered libpyth's exit
 * handler from a load-time constructor made both run before the wait.)
 *
 * The scenario runs in a child forked before the parent uses libpyth.
 */
#include "harness.h"
#include <sys/wait.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

static int out_fd = -1;
static atomic_int worker_done;

static void report(const char *who) {
    char line[64];
    int n = snprintf(line, sizeof line, "%s: worker done=%d\n", who, atomic_load(&worker_done));
    if (write(out_fd, line, (size_t)n) < 0) {}
}

static void early_atexit(void) {
    if (out_fd >= 0) report("atexit");
}

__attribute__((destructor)) static void destructor(void) {
    if (out_fd >= 0) report("destructor");
}

static int worker(void *arg) {
    (void)arg;
    pyth_event_t *never = pyth_event_new();
    pyth_event_wait(never, 0.3);
    pyth_event_free(never);
    atomic_store(&worker_done, 1);
    return 0;
}

static void child(int fd) {
#ifdef RUNNING_ON_VALGRIND
    if (RUNNING_ON_VALGRIND) VALGRIND_CLO_CHANGE("--leak-check=no"); /* see test_process.c */
#endif
    out_fd = fd;
    atexit(early_atexit); /* before any thread starts */
    pyth_thread_t *t = pyth_thread_new(worker, NULL, "worker", 0);
    pyth_thread_start(t);
    pyth_thread_free(t);
    exit(0);
}

static char out[1024];

TEST(exit_time_code_runs_after_non_daemon_threads) {
    h_checks++;
    if (!strstr(out, "atexit: worker done=1")) H_FAIL("atexit handler ran before the worker finished:\n%s", out);
    h_checks++;
    if (!strstr(out, "destructor: worker done=1")) H_FAIL("destructor ran before the worker finished:\n%s", out);
}

int main(void) {
    /* The child first: nothing of libpyth's may run in the parent before. */
    int fds[2];
    if (pipe(fds) != 0) return 2;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child(fds[1]);
    }
    close(fds[1]);
    /* Bounded: the harness watchdog ends a hang; the child dies with us. */
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0) len += (size_t)n;
    out[len] = 0;
    int st = -1;
    double end = now_s() + 60;
    while (waitpid(pid, &st, WNOHANG) == 0 && now_s() < end) {
        struct timespec ms = {0, 2000000};
        nanosleep(&ms, NULL);
    }
    RUN(exit_time_code_runs_after_non_daemon_threads);
    h_checks++;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) H_FAIL("child status 0x%x", st);
    return REPORT();
}
