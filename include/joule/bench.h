/* joule — measurement campaigns and their results store.
 *
 * A campaign runs every (model × engine × provider × repetition) serving
 * configuration in a seeded shuffled order: each run starts `joule serve` as a
 * child process, idles for a warm-up, sends the prompts over HTTP, idles for a
 * cool-down and stops the server, while a sampler records energy and
 * resources.  Everything goes to an SQLite database whose schema is
 * documented in docs/results-schema.md (JOULE_BENCH_SCHEMA_VERSION).
 *
 * Atomicity: a run is marked 'running' in its own transaction before it
 * starts, and its samples, requests, energy and final numbers are written in
 * one transaction that also marks it 'done' (or 'failed').  A campaign killed
 * at any moment therefore leaves at most one 'running' run, which the next
 * invocation discards and redoes. */
#ifndef JOULE_BENCH_H
#define JOULE_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define JOULE_BENCH_SCHEMA_VERSION 1

/* ---- results store ------------------------------------------------------ */

struct joule_bench_store; /* opaque: one SQLite connection */

/* Open (creating if needed) the results database at `path`, in WAL mode with
 * foreign keys on, and create or check the schema.  JOULE_ERR_FORMAT when the
 * file holds another schema version.  *out is owned by the caller. */
enum joule_status joule_bench_store_open(const char *path, struct joule_bench_store **out);
void joule_bench_store_close(struct joule_bench_store *s);

/* Description of the machine a campaign runs on. */
struct joule_bench_machine {
    char hostname[128];
    char cpu_model[256];
    int cpu_cores;    /* online logical CPUs */
    double ram_mb;    /* MemTotal */
    char kernel[256]; /* uname -srm */
    char gpus[1024];  /* "NVIDIA H100 80GB HBM3; ..." or "" when none found */
};
/* Fill *m from /proc (JOULE_PROCFS_ROOT honoured) and uname(). Never fails:
 * what cannot be read stays empty / 0. */
void joule_bench_machine_describe(struct joule_bench_machine *m);

/* The row of one run as planned. */
struct joule_bench_run_plan {
    int64_t id; /* set by the store */
    int order_index;
    char model[256]; /* base name of the model directory */
    char model_path[1024];
    int64_t model_params; /* -1 when unknown */
    char size_category[16];
    char engine[32];
    char provider[32];
    int repetition;  /* 1-based */
    char status[16]; /* "pending", "running", "done", "failed" */
    int attempts;
};

/* Find the campaign whose canonical settings text equals `settings_json`
 * (that is what makes a rerun resume it), or create it with its machine
 * description and the given planned runs (all 'pending'), in one transaction.
 * *created tells which happened.  The plans' ids are not filled; use
 * joule_bench_store_list_runs. */
enum joule_status joule_bench_store_campaign(struct joule_bench_store *s, const char *name,
                                             const char *settings_json,
                                             const struct joule_bench_machine *machine,
                                             const struct joule_bench_run_plan *plans,
                                             size_t n_plans, int64_t *campaign_id, int *created);

/* Discard runs left 'running' by an interrupted invocation: their child rows
 * are deleted and they go back to 'pending'.  *n_reset (may be NULL) counts them. */
enum joule_status joule_bench_store_reset_interrupted(struct joule_bench_store *s,
                                                      int64_t campaign_id, int *n_reset);

/* All runs of a campaign in run order.  *out is malloc'd (caller frees). */
enum joule_status joule_bench_store_list_runs(struct joule_bench_store *s, int64_t campaign_id,
                                              struct joule_bench_run_plan **out, size_t *n);

/* Mark a run 'running' (attempts + 1) in its own committed transaction. */
enum joule_status joule_bench_store_mark_running(struct joule_bench_store *s, int64_t run_id);

/* ---- what a finished run writes -------------------------------------- */

enum joule_bench_phase {
    JOULE_BENCH_PHASE_STARTUP = 0, /* server started, waiting for /health */
    JOULE_BENCH_PHASE_WARMUP,
    JOULE_BENCH_PHASE_WORK, /* requests */
    JOULE_BENCH_PHASE_COOLDOWN,
    JOULE_BENCH_PHASE_SHUTDOWN,
    JOULE_BENCH_PHASE_COUNT
};
/* "startup", "warmup", "work", "cooldown", "shutdown". */
const char *joule_bench_phase_name(enum joule_bench_phase p);

#define JOULE_BENCH_MAX_SOURCES 32

/* One energy source of a run (e.g. "rapl:package-0", "nvml:0", "estimate:cpu"). */
struct joule_bench_source {
    char name[64];
    int estimated; /* 1 when the number is a model, not a counter */
};

/* One sampler reading. energy_j/power_w are indexed like the run's sources;
 * energy is cumulative since the sampler started; NAN where unknown. */
struct joule_bench_sample {
    int64_t t_ns; /* CLOCK_MONOTONIC */
    enum joule_bench_phase phase;
    double cpu_pct;          /* system CPU utilisation, 0..100 */
    double ram_pct;          /* system RAM used, 0..100 */
    double server_cpu_pct;   /* the server process, 100 = one core */
    double server_rss_mb;    /* the server process */
    double gpu_util_pct;     /* mean over GPUs; NAN without GPU */
    double gpu_mem_util_pct; /* mean over GPUs; NAN without GPU */
    double gpu_mem_used_mb;  /* sum over GPUs; NAN without GPU */
    double energy_j[JOULE_BENCH_MAX_SOURCES];
    double power_w[JOULE_BENCH_MAX_SOURCES];
};

struct joule_bench_request {
    int idx; /* position in the prompts file, 0-based */
    char task_id[128];
    int ok;                   /* 1 when the server answered 2xx with a parseable body */
    int http_status;          /* 0 when no HTTP answer */
    char error[256];          /* "" when ok */
    int prompt_tokens;        /* -1 unknown */
    int completion_tokens;    /* -1 unknown */
    int64_t start_ns, end_ns; /* CLOCK_MONOTONIC */
    double latency_ms;
    double queue_ms, prompt_ms, decode_ms;        /* server-reported; NAN when absent */
    double energy_j[JOULE_BENCH_MAX_SOURCES];     /* gross, from the samples */
    double net_energy_j[JOULE_BENCH_MAX_SOURCES]; /* minus idle power × latency */
};

struct joule_bench_phase_times {
    int64_t start_wall_ns, end_wall_ns; /* 0 = not reached */
    int64_t start_mono_ns, end_mono_ns;
};

struct joule_bench_run_energy {
    double gross_j; /* over the work phase */
    double idle_w;  /* baseline power, see docs/results-schema.md */
    double net_j;   /* gross_j - idle_w × work seconds */
};

struct joule_bench_run_result {
    int64_t run_id;
    int failed;       /* 1: status 'failed' */
    char error[1024]; /* why it failed ("" when done) */
    int server_port;
    int server_pid;
    struct joule_bench_phase_times warmup, work, cooldown;
    int64_t idle_start_mono_ns, idle_end_mono_ns; /* the baseline window */
    double execution_s;                           /* work phase duration */
    double cpu_pct_mean, ram_pct_mean, server_cpu_pct_mean, server_rss_mb_max;
    double gpu_util_pct_mean, gpu_mem_util_pct_mean, gpu_mem_used_mb_mean, gpu_mem_used_mb_max;
    int requests_ok, requests_failed;
    int64_t prompt_tokens, completion_tokens; /* sums over the known ones */
    size_t n_sources;
    struct joule_bench_source sources[JOULE_BENCH_MAX_SOURCES];
    struct joule_bench_run_energy energy[JOULE_BENCH_MAX_SOURCES];
    const struct joule_bench_sample *samples; /* borrowed */
    size_t n_samples;
    const struct joule_bench_request *requests; /* borrowed */
    size_t n_requests;
};

/* Write the run's samples, requests, energy and numbers and set its status
 * ('done', or 'failed' with the error) in one transaction. */
enum joule_status joule_bench_store_finish_run(struct joule_bench_store *s,
                                               const struct joule_bench_run_result *r);

/* Write every table of the database as <dir>/<table>.csv (header row, RFC 4180
 * quoting, NULL as an empty field).  `dir` is created if needed.  *n_tables
 * (may be NULL) receives the number of files written. */
enum joule_status joule_bench_store_export_csv(struct joule_bench_store *s, const char *dir,
                                               int *n_tables);

/* The underlying sqlite3* (for tests and read-only queries); owned by the store. */
void *joule_bench_store_db(struct joule_bench_store *s);

#ifdef __cplusplus
}
#endif
#endif
