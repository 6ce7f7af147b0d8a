/* A persistent pthread pool: n-1 workers plus the calling thread. Workers
 * spin briefly after a job and then sleep on a condition variable, so an idle
 * engine burns no CPU. Jobs are fork-join: jn_pool_run returns when every
 * thread has finished fn. A caller that finds itself waiting for preempted
 * workers (a busy machine) runs the next jobs alone for a while, so that more
 * threads never make a job much slower than one thread would. */
#ifndef JOULE_ENGINE_NATIVE_CPU_POOL_H
#define JOULE_ENGINE_NATIVE_CPU_POOL_H

#include "joule/status.h"

struct jn_pool;

/* fn(ctx, ith, nth) runs on the caller (ith = 0) and on each worker that
 * joins the job before the caller has finished its own share; so fn must hand
 * out its work dynamically (e.g. an atomic counter) and may not assume that
 * every thread runs. ith is unique among the threads running a job. */
typedef void (*jn_task_fn)(void *ctx, int ith, int nth);

/* *out is owned by the caller (jn_pool_free). n_threads >= 1. */
enum joule_status jn_pool_create(int n_threads, struct jn_pool **out);
void jn_pool_free(struct jn_pool *p);
int jn_pool_size(const struct jn_pool *p);
void jn_pool_run(struct jn_pool *p, jn_task_fn fn, void *ctx);

#endif
