/* Internal pieces of the bench module: prompts, probe (energy and resources),
 * sampler thread, HTTP client, server child process. */
#ifndef JOULE_BENCH_IMPL_H
#define JOULE_BENCH_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "joule/bench.h"

/* The absolute, symlink-free form of an existing path (else the path as given), in buf. */
const char *bench_abs_path(const char *path, char *buf, size_t cap);

/* FNV-1a 64 of a file's bytes (0 if unreadable). */
uint64_t bench_file_hash(const char *path);

/* ---- prompts ------------------------------------------------------------- */

struct bench_prompt {
    char task_id[128];
    char *text;   /* malloc'd */
    int n_tokens; /* -1 when the file does not say */
};
/* Read a JSONL file of {"prompt" | "new_prompt", "task_id"?, "n_tokens"?}
 * objects (blank lines skipped), at most `limit` of them (0 = all).
 * Errors name the file and line. Free with bench_prompts_free. */
enum joule_status bench_prompts_load(const char *path, int limit, struct bench_prompt **out,
                                     size_t *n);
/* The same over NUL-terminated `text` (modified: lines are cut in place). */
enum joule_status bench_prompts_parse(char *text, const char *path, int limit,
                                      struct bench_prompt **out, size_t *n);
void bench_prompts_free(struct bench_prompt *p, size_t n);

/* ---- meter: the sampler over the machine's sources ------------------------- */

/* The small interface between a run and the sensors module (sensor.h): start
 * sampling, follow the server process, stop, and hand over the energy sources
 * (those available with an energy figure) and readings in the results store's
 * shape. */
struct bench_meter;
/* `sensors`: the sensors module's list ("rapl,nvml", ...); "" = "all". */
enum joule_status bench_meter_start(const char *sensors, int interval_ms, struct bench_meter **out);
/* Report CPU % and RSS of the process tree rooted at `pid` as server_*. */
void bench_meter_watch_pid(struct bench_meter *m, pid_t pid);
/* Take a reading now (e.g. at a phase boundary). */
void bench_meter_sample_now(struct bench_meter *m);
/* Record a phase mark ("warmup", "work", ...) in the sampler's own log. */
void bench_meter_mark(struct bench_meter *m, const char *label);
/* Stop sampling (one last reading). */
void bench_meter_stop(struct bench_meter *m);
/* The energy sources (at most JOULE_BENCH_MAX_SOURCES). */
size_t bench_meter_sources(struct bench_meter *m, struct joule_bench_source *out);
/* After stop: every reading, phase = STARTUP (the caller assigns phases).
 * *out is malloc'd (caller frees). */
enum joule_status bench_meter_samples(struct bench_meter *m, struct joule_bench_sample **out,
                                      size_t *n);
void bench_meter_free(struct bench_meter *m);

/* Cumulative energy of source k at time t, linearly interpolated between the
 * readings around t (clamped to the first/last). NAN when unknown. */
double bench_energy_at(const struct joule_bench_sample *x, size_t n, size_t k, int64_t t_ns);

/* ---- HTTP client ----------------------------------------------------------- */

struct bench_client;
enum joule_status bench_client_init(const char *base_url, double timeout_s,
                                    struct bench_client **out);
void bench_client_free(struct bench_client *c);
/* 1 when GET /health answers 200 within `timeout_s`. */
int bench_client_health(struct bench_client *c, double timeout_s);
/* Send one prompt by `api` ("study" or "openai") and fill the request's
 * ok/http_status/error/tokens/timings/start/end/latency. */
void bench_client_complete(struct bench_client *c, const char *api, const char *model,
                           const char *engine, const struct bench_prompt *prompt, int max_length,
                           struct joule_bench_request *out);

/* ---- the server child ----------------------------------------------------- */

struct bench_child {
    pid_t pid;
    int exited;      /* reaped */
    int wait_status; /* from waitpid, when exited */
};
/* fork/exec `argv` in its own process group, stdout+stderr to `log_path`
 * (NULL: /dev/null), killed by the kernel if this process dies. */
enum joule_status bench_child_spawn(char *const argv[], const char *log_path,
                                    struct bench_child *c);
/* Non-blocking: 1 if the child has exited (reaps it). */
int bench_child_exited(struct bench_child *c);
/* SIGTERM to the group, SIGKILL after grace_s; reaps. */
void bench_child_stop(struct bench_child *c, double grace_s);
/* "exited with status 3" / "killed by signal 9 (Killed)". */
void bench_child_describe(const struct bench_child *c, char *buf, size_t cap);

/* A TCP port on 127.0.0.1 that was free a moment ago (base > 0: the first free
 * one from base up). 0 when none. */
int bench_free_port(int base);

#endif
