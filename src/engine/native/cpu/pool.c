#include "engine/native/cpu/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

/* How long an idle worker polls for the next job before it sleeps: long
 * enough to bridge the gap between two matrix products of one token, short
 * enough that a finished generation costs no CPU. */
#define SPIN_ITERS 20000

struct jn_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;
    atomic_int pending;
    atomic_int stop;
    jn_task_fn fn;
    void *ctx;
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

static void *worker(void *arg)
{
    struct worker_arg *wa = arg;
    struct jn_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        int i = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_acquire) && i < SPIN_ITERS) {
            cpu_relax();
            i++;
        }
        if (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        p->fn(p->ctx, ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
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
    atomic_init(&p->pending, 0);
    atomic_init(&p->stop, 0);
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
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    /* Wait for the workers: poll, then yield the core (a worker may be
     * waiting for it when the machine is oversubscribed). */
    int i = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++i < 2000)
            cpu_relax();
        else
            sched_yield();
    }
}
