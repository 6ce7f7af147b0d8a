/* The native engine's thread pool: fork-join semantics (every item done
 * exactly once, results visible when jn_pool_run returns, whatever subset of
 * threads joins) and the fallback to the caller alone after a job stalled on
 * a preempted worker. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "engine/native/cpu/pool.h"
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

/* A job in which the worker, once inside, stops for 200 ms (as if the OS had
 * given its core to another process) while the caller finishes at once. */
struct stall_job {
    atomic_int worker_in;
};

static void stall_fn(void *ctx, int ith, int nth)
{
    struct stall_job *j = ctx;
    (void)nth;
    if (ith != 0) {
        atomic_store(&j->worker_in, 1);
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        return;
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) { /* wait (up to 5 s) until the worker has joined */
        if (atomic_load(&j->worker_in)) return;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 5) return;
    }
}

static void test_stall_makes_the_caller_run_alone(void)
{
    struct jn_pool *p = NULL;
    CHECK_OK(jn_pool_create(2, &p));
    if (!p) return;
    struct stall_job s;
    atomic_init(&s.worker_in, 0);
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
