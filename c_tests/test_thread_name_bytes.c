/* Regression test (bug found by this test, fixed in f18287d).
 *
 * A thread name that is not valid UTF-8 is silently changed.
 *
 * API.md: pyth_thread_name() copies "the thread's name" like snprintf;
 * names are C strings (`const char *`). A C program naming a thread with
 * bytes in its own encoding (Latin-1 "caf\xe9", or any non-UTF-8 byte)
 * gets different bytes back, longer than what it set, and the OS thread
 * name gets the altered bytes too. (Python has no such names: a str is
 * always valid Unicode; pthread_setname_np and prctl keep bytes as given.)
 *
 * Cause (before the fix):
 * pyth_thread_new and pyth_thread_set_name store the name with
 * CStr::to_string_lossy(), which replaces each invalid byte by U+FFFD
 * ("\xef\xbf\xbd").
 *
 * Expected: the bytes round-trip ("caf\xe9", length 4), or the name is
 * refused with an error; never silently altered.
 * Before the fix: "caf\xef\xbf\xbd", length 6, both from pyth_thread_new
 * and from pyth_thread_set_name; the OS name is "caf\xef\xbf\xbd" as well.
 */
#include "harness.h"

static char os_name[32];
static int get_os_name(void *arg) {
    (void)arg;
    pthread_getname_np(pthread_self(), os_name, sizeof os_name);
    return 0;
}

TEST(non_utf8_name_round_trips) {
    const char *latin1 = "caf\xe9"; /* "café" in Latin-1 */
    pyth_thread_t *t = pyth_thread_new(get_os_name, NULL, latin1, 0);
    if (!t) {
        /* Refusing the name would be acceptable too. */
        CHECK_EQ(pyth_last_status(), PYTH_EVALUE);
        return;
    }
    char buf[32];
    CHECK_EQ(pyth_thread_name(t, buf, sizeof buf), 4);
    CHECK(strcmp(buf, latin1) == 0);
    CHECK_STATUS(pyth_thread_start(t), PYTH_OK);
    CHECK_STATUS(pyth_thread_join(t, 60.0), PYTH_OK);
    CHECK(strcmp(os_name, latin1) == 0);
    pyth_status st = pyth_thread_set_name(t, "a\xff");
    if (st == PYTH_OK) {
        CHECK_EQ(pyth_thread_name(t, buf, sizeof buf), 2);
        CHECK(strcmp(buf, "a\xff") == 0);
    } else {
        CHECK_EQ(st, PYTH_EVALUE);
    }
    pyth_thread_free(t);
}

int main(void) {
    RUN(non_utf8_name_round_trips);
    return REPORT();
}
