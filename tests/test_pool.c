/* The native engine's thread pool: fork-join semantics (every item done
 * exactly once, results visible when jn_pool_run returns, whatever subset of
 * threads joins) and the fallback to the caller alone after a job stalled on
 * a preempted worker. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "engine/native/cpu/pool.h"
#include "util/clock.h"
#include "test.h"

#define N_ITEMS 4096

struct count_job {
    atomic_int next;
    int hits[N_ITEMS]; /* each written by the one thread that claimed the item */
    int who[N_ITEMS];
};

static void count_fn(void *ctx, int ith, int nth)
{
    struct count_job *j = ctx;
    (void)nth;
    int i;
    while ((i = atomic_fetch_add(&j->next, 1)) < N_ITEMS) {
        j->hits[i]++;
        j->who[i] = ith;
    }
}

static void test_every_item_once(void)
{
    static struct count_job j;
    for (int n = 1; n <= 4; n++) {
        struct jn_pool *p = NULL;
        CHECK_OK(jn_pool_create(n, &p));
        if (!p) return;
        CHECK_EQ_INT(jn_pool_size(p), n);
        int bad = 0;
        for (int rep = 0; rep < 200; rep++) {
            memset(&j, 0, sizeof j);
            atomic_init(&j.next, 0);
            jn_pool_run(p, count_fn, &j);
            for (int i = 0; i < N_ITEMS; i++)
                bad += j.hits[i] != 1 || j.who[i] < 0 || j.who[i] >= n;
        }
        CHECK_EQ_INT(bad, 0);
        jn_pool_free(p);
    }
}

static void test_bad_sizes(void)
{
    struct jn_pool *p = NULL;
    CHECK_EQ_INT(jn_pool_create(100000, &p), JOULE_ERR_INVALID_ARG);
    CHECK(p == NULL);
    CHECK_OK(jn_pool_create(0, &p)); /* taken as 1 */
    if (p) CHECK_EQ_INT(jn_pool_size(p), 1);
    jn_pool_free(p);
    jn_pool_free(NULL);
}

/* A job in which the worker, once inside, stops (as if the OS had given its core to another
 * process) while the caller finishes at once: for 200 ms plus twice the time the worker took
 * to join, so that the caller's wait is longer than its own share however loaded the machine
 * running the test is. */
struct stall_job {
    atomic_int worker_in;
    _Atomic int64_t join_ns; /* set by the caller once it has seen the worker; -1 until then */
};

static void stall_fn(void *ctx, int ith, int nth)
{
    struct stall_job *j = ctx;
    (void)nth;
    int64_t start = joule_now_ns(), limit = 5000000000LL;
    if (ith != 0) {
        atomic_store(&j->worker_in, 1);
        while (atomic_load(&j->join_ns) < 0 && joule_now_ns() - start < limit)
            continue;
        int64_t ns = 200000000LL + 2 * atomic_load(&j->join_ns);
        struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
        nanosleep(&ts, NULL);
        return;
    }
    while (!atomic_load(&j->worker_in) && joule_now_ns() - start < limit)
        continue; /* wait (up to 5 s) until the worker has joined */
    atomic_store(&j->join_ns, joule_now_ns() - start);
}

static void test_stall_makes_the_caller_run_alone(void)
{
    struct jn_pool *p = NULL;
    CHECK_OK(jn_pool_create(2, &p));
    if (!p) return;
    struct stall_job s;
    atomic_init(&s.worker_in, 0);
    atomic_init(&s.join_ns, -1);
    jn_pool_run(p, stall_fn, &s);
    if (!atomic_load(&s.worker_in)) {
        test_skip("the worker thread never ran within 5 s");
        jn_pool_free(p);
        return;
    }
    /* the next job runs on the caller only, even though it has work for two */
    static struct count_job j;
    memset(&j, 0, sizeof j);
    atomic_init(&j.next, 0);
    jn_pool_run(p, count_fn, &j);
    int others = 0, bad = 0;
    for (int i = 0; i < N_ITEMS; i++) {
        others += j.who[i] != 0;
        bad += j.hits[i] != 1;
    }
    CHECK_EQ_INT(others, 0);
    CHECK_EQ_INT(bad, 0);
    /* and the pool still completes jobs correctly afterwards, whichever threads run them */
    for (int rep = 0; rep < 100; rep++) {
        memset(&j, 0, sizeof j);
        atomic_init(&j.next, 0);
        jn_pool_run(p, count_fn, &j);
        for (int i = 0; i < N_ITEMS; i++)
            bad += j.hits[i] != 1;
    }
    CHECK_EQ_INT(bad, 0);
    jn_pool_free(p);
}

int main(void)
{
    RUN(test_every_item_once);
    RUN(test_bad_sizes);
    RUN(test_stall_makes_the_caller_run_alone);
    return test_summary();
}
