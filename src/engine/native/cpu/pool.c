#include "engine/native/cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util/clock.h"

/* How long an idle worker polls for the next job before it sleeps: long
 * enough to bridge the gap between two matrix products of one token, short
 * enough that a finished generation costs no CPU. */
#define SPIN_ITERS 20000

/* A job stalls when, after the caller has finished its share, it waits for a
 * worker longer than that share took (and more than STALL_MIN_NS): the worker
 * was preempted inside the job, typically because another process wants the
 * core, and the caller waits for the OS to run it again (milliseconds). After
 * a stall the caller runs the next 2^k jobs alone: k starts at SOLO_MIN_SHIFT,
 * grows by 2 with each further stall up to SOLO_MAX_SHIFT (about 67 tokens of
 * a 12-layer model), and drops by 2 after every CLEAN_RUN jobs that did not
 * stall. So a busy machine costs about what one thread would (a few stalls to
 * learn it, then one probe of the workers per 2^SOLO_MAX_SHIFT jobs), and a
 * quiet one loses 2^SOLO_MIN_SHIFT jobs' worth of parallelism per spurious
 * stall. While stalls are recent the workers do not spin after a job but
 * sleep at once: their polling would take the contested core from the other
 * process, and the OS would answer by moving the caller onto it. */
#define STALL_MIN_NS 20000
#define SOLO_MIN_SHIFT 4
#define SOLO_MAX_SHIFT 12
#define CLEAN_RUN 64

struct jn_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;   /* job number; bumped to publish a job */
    atomic_int closed; /* the current job takes no more threads */
    atomic_int active; /* threads inside a job's fn */
    atomic_int stop;
    atomic_int spin; /* SPIN_ITERS, or 0 while stalls are recent (see below) */
    jn_task_fn fn;
    void *ctx;
    /* caller-only state (no atomics needed) */
    int stalls;    /* k above; 0 = no recent stall */
    int clean;     /* jobs without a stall since k last changed */
    int solo_left; /* jobs the caller still runs alone */
};

struct worker_arg {
    struct jn_pool *p;
    int ith;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* A worker joins a job only while it is open, so the caller never waits for
 * a thread that the OS has not scheduled yet: it waits only for the threads
 * already inside fn. Jobs hand out work dynamically (atomic counters), so
 * any subset of threads completes them. */
static void *worker(void *arg)
{
    struct worker_arg *wa = arg;
    struct jn_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        int i = 0;
        const int spin = atomic_load_explicit(&p->spin, memory_order_relaxed);
        while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop) && i < spin) {
            cpu_relax();
            i++;
        }
        if (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = atomic_load(&p->gen);
        atomic_fetch_add(&p->active, 1);
        if (atomic_load(&p->gen) == seen && !atomic_load(&p->closed)) p->fn(p->ctx, ith, p->n);
        atomic_fetch_sub(&p->active, 1);
    }
}

enum joule_status jn_pool_create(int n_threads, struct jn_pool **out)
{
    *out = NULL;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 512) return joule_errorf(JOULE_ERR_INVALID_ARG, "%d threads", n_threads);
    struct jn_pool *p = calloc(1, sizeof *p);
    if (!p) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->closed, 1);
    atomic_init(&p->active, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->spin, SPIN_ITERS);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        jn_pool_free(p);
        return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->ith = i;
        }
        if (!wa || pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n = i; /* only the started ones are joined */
            jn_pool_free(p);
            return joule_errorf(JOULE_ERR_NOMEM, "cannot start worker thread %d", i);
        }
    }
    *out = p;
    return JOULE_OK;
}

void jn_pool_free(struct jn_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; p->threads && i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int jn_pool_size(const struct jn_pool *p)
{
    return p->n;
}

void jn_pool_run(struct jn_pool *p, jn_task_fn fn, void *ctx)
{
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    if (p->solo_left > 0) {
        p->solo_left--;
        fn(ctx, 0, p->n);
        return;
    }
    int64_t t0 = joule_now_ns();
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->closed, 0);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    /* No work is left to hand out: close the job, then wait for the threads
     * still inside it (poll, then yield the core, which one of them may need). */
    atomic_store(&p->closed, 1);
    int64_t t1 = joule_now_ns();
    int i = 0;
    while (atomic_load(&p->active) > 0) {
        if (++i < 4000)
            cpu_relax();
        else
            sched_yield();
    }
    int64_t waited = joule_now_ns() - t1;
    if (waited > STALL_MIN_NS && waited > t1 - t0) {
        p->stalls = p->stalls == 0 ? SOLO_MIN_SHIFT : p->stalls + 2;
        if (p->stalls > SOLO_MAX_SHIFT) p->stalls = SOLO_MAX_SHIFT;
        p->solo_left = 1 << p->stalls;
        p->clean = 0;
        atomic_store_explicit(&p->spin, 0, memory_order_relaxed);
    } else if (p->stalls > 0 && ++p->clean >= CLEAN_RUN) {
        p->stalls = p->stalls > SOLO_MIN_SHIFT ? p->stalls - 2 : 0;
        p->clean = 0;
        if (p->stalls == 0) atomic_store_explicit(&p->spin, SPIN_ITERS, memory_order_relaxed);
    }
}
