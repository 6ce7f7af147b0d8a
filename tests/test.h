/* Minimal test harness: one executable per module, run by ctest.
 *
 *   static void test_something(void) { CHECK_EQ_INT(a, b); CHECK_NEAR(x, y, 1e-6); }
 *   int main(void) { RUN(test_something); return test_summary(); }
 *
 * A failure prints the expression, both values and the location, and the test
 * goes on; test_summary() prints "N passed, N failed" and returns non-zero on failure.
 * A test may call test_skip(reason) to record a skipped check (e.g. no GPU). */
#ifndef JOULE_TEST_H
#define JOULE_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

extern int test_checks_failed;
extern int test_checks_passed;
extern const char *test_current;

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_pass(void);
void test_skip(const char *reason);
void test_run(const char *name, void (*fn)(void));
int test_summary(void);
/* Path of a fixture under tests/fixtures (static buffer, valid until the next call). */
const char *test_fixture(const char *rel);
/* A fresh temporary directory for this test process (created on first use;
 * removed with its contents at exit unless a check failed). */
const char *test_tmpdir(void);
/* Path of the built joule program. */
const char *test_joule_bin(void);

#define RUN(fn) test_run(#fn, fn)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond)                                                                                  \
            test_pass();                                                                           \
        else                                                                                       \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                     \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ == vb_)                                                                            \
            test_pass();                                                                           \
        else                                                                                       \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, va_, vb_);             \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (sa_ && sb_ && !strcmp(sa_, sb_))                                                       \
            test_pass();                                                                           \
        else                                                                                       \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                    \
                      sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                                 \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double da_ = (double)(a), db_ = (double)(b), dt_ = (double)(tol);                          \
        if (fabs(da_ - db_) <= dt_)                                                                \
            test_pass();                                                                           \
        else                                                                                       \
            test_fail(__FILE__, __LINE__, "%s ~= %s: %.17g vs %.17g (|diff| %.3g > %.3g)", #a, #b, \
                      da_, db_, fabs(da_ - db_), dt_);                                             \
    } while (0)

/* Relative-or-absolute closeness: |a-b| <= max(rel*|b|, abs). */
#define CHECK_CLOSE(a, b, rel, abs_)                                                               \
    do {                                                                                           \
        double da_ = (double)(a), db_ = (double)(b);                                               \
        double tl_ = fmax((double)(rel)*fabs(db_), (double)(abs_));                                \
        if (fabs(da_ - db_) <= tl_)                                                                \
            test_pass();                                                                           \
        else                                                                                       \
            test_fail(__FILE__, __LINE__, "%s ~= %s: %.17g vs %.17g (|diff| %.3g > %.3g)", #a, #b, \
                      da_, db_, fabs(da_ - db_), tl_);                                             \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        int st_ = (int)(expr);                                                                     \
        if (st_ == 0)                                                                              \
            test_pass();                                                                           \
        else                                                                                       \
            test_fail(__FILE__, __LINE__, "%s returned %d: %s", #expr, st_, joule_last_error());   \
    } while (0)

#endif
