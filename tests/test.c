#include "test.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "joule/status.h"

int test_checks_failed;
int test_checks_passed;
const char *test_current = "";
static int g_skipped;

void test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s (%s:%d): ", test_current, file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    test_checks_failed++;
}

void test_pass(void)
{
    test_checks_passed++;
}

void test_skip(const char *reason)
{
    printf("SKIP %s: %s\n", test_current, reason);
    g_skipped++;
}

void test_run(const char *name, void (*fn)(void))
{
    int before = test_checks_failed;
    test_current = name;
    fn();
    printf("%s %s\n", test_checks_failed == before ? "ok  " : "FAIL", name);
    fflush(stdout);
}

int test_summary(void)
{
    if (g_skipped)
        printf("%d passed, %d failed, %d skipped\n", test_checks_passed, test_checks_failed,
               g_skipped);
    else
        printf("%d passed, %d failed\n", test_checks_passed, test_checks_failed);
    return test_checks_failed ? 1 : 0;
}

const char *test_fixture(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", JOULE_TEST_FIXTURES, rel);
    return buf;
}

static char g_tmpdir[256];
static pid_t g_tmpdir_owner;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) != 0) perror(path);
    return 0;
}

/* At exit: the temporary directory goes, unless a check failed (then it stays
 * for a look, and its path is printed). Forked children leave it alone. */
static void tmpdir_cleanup(void)
{
    if (!g_tmpdir[0] || getpid() != g_tmpdir_owner) return;
    if (test_checks_failed) {
        fprintf(stderr, "kept %s for inspection\n", g_tmpdir);
        return;
    }
    nftw(g_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_tmpdir(void)
{
    if (!g_tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/joule-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(g_tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
        g_tmpdir_owner = getpid();
        atexit(tmpdir_cleanup);
    }
    return g_tmpdir;
}

const char *test_joule_bin(void)
{
    const char *e = getenv("JOULE_BIN");
    return e && *e ? e : JOULE_BIN;
}
