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
    int in_total;  /* 1 when it is part of the machine total (CPU + GPU, no overlap) */
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

/* ---- campaigns ---------------------------------------------------------- */

#define JOULE_BENCH_MAX_LIST 32

/* Everything a campaign needs; the same settings from flags or a campaign
 * file (JSON with these member names, see README) give the same campaign. */
struct joule_bench_settings {
    char name[128];                          /* "campaign" */
    char models[JOULE_BENCH_MAX_LIST][1024]; /* model directories */
    int n_models;
    char engines[JOULE_BENCH_MAX_LIST][32]; /* "native" */
    int n_engines;
    char providers[JOULE_BENCH_MAX_LIST][32]; /* "cpu" */
    int n_providers;
    int reps;           /* 1 */
    double warmup_s;    /* 300 */
    double cooldown_s;  /* 300 */
    char prompts[1024]; /* JSONL: "prompt" or "new_prompt", optional "task_id", "n_tokens" */
    int limit;          /* 0 = every prompt */
    int max_length;     /* 128: prompt + new tokens, as the study (openai api: max_tokens =
                           max_length - the prompt's n_tokens) */
    char api[16];       /* "study" (POST /huggingface_models/{model}/{engine}) or "openai" */
    int concurrency;    /* 1: one request at a time, as the study */
    uint64_t seed;      /* run order shuffle; 1 */
    char sensors[256];  /* "" = every available source */
    int threads;        /* --threads of the server; 0 = its default */
    int interval_ms;    /* sampler period; 100 */
    /* Not part of the campaign's identity: */
    char db[1024];            /* "results.db" */
    int port_base;            /* 0 = a free ephemeral port per run */
    double startup_timeout_s; /* wait for /health; 600 */
    double request_timeout_s; /* per request; 600 */
    double stop_grace_s;      /* SIGTERM, then SIGKILL after this; 10 */
};
void joule_bench_default_settings(struct joule_bench_settings *s);

/* Split a comma-separated `list` into `dst` (rows of `width` bytes, at most
 * JOULE_BENCH_MAX_LIST); `what` names the flag in errors. */
enum joule_status joule_bench_parse_list(const char *list, const char *what, char *dst,
                                         size_t width, int *n);

/* Read a campaign file over *s (start from the defaults).  Any error names the
 * file and the field ("campaign.json: field 'reps': expected an integer >= 1"). */
enum joule_status joule_bench_settings_load(const char *path, struct joule_bench_settings *s);
/* The same from `len` bytes of text; `path` names the origin in errors and anchors relative
 * paths. */
enum joule_status joule_bench_settings_parse(const char *text, size_t len, const char *path,
                                             struct joule_bench_settings *s);

/* Check the settings for consistency (lists non-empty, numbers in range, the
 * prompts file readable, every model a directory). */
enum joule_status joule_bench_settings_check(const struct joule_bench_settings *s);

/* The canonical JSON of the settings that make a campaign (malloc'd, caller
 * frees); stored as campaigns.settings_json. */
char *joule_bench_settings_json(const struct joule_bench_settings *s);

/* What a campaign tells its caller as it goes (all optional; called from the
 * calling thread). */
struct joule_bench_progress {
    int run_index, n_runs; /* position among the runs this invocation does */
    const struct joule_bench_run_plan *run;
    enum joule_bench_phase phase;
    int requests_done, n_requests;
    double phase_elapsed_s, phase_total_s; /* total 0 when open-ended */
    double eta_s;                          /* time left for the whole invocation; < 0 unknown */
};
struct joule_bench_events {
    void *user;
    void (*on_progress)(void *user, const struct joule_bench_progress *p);
    void (*on_run_end)(void *user, const struct joule_bench_progress *p,
                       const struct joule_bench_run_result *r);
    void (*on_message)(void *user, const char *text); /* resume notes and the like */
};

struct joule_bench_summary {
    int64_t campaign_id;
    int resumed;          /* the campaign existed */
    int n_runs;           /* in the campaign */
    int n_skipped;        /* already done */
    int n_reset;          /* 'running' runs discarded and redone */
    int n_done, n_failed; /* by this invocation */
};

/* Run (or resume) the campaign described by *s.  Returns JOULE_OK when the
 * campaign was carried out, even if some runs failed (see the summary);
 * failure means nothing could be run (bad settings, database errors). */
enum joule_status joule_bench_campaign_run(const struct joule_bench_settings *s,
                                           const struct joule_bench_events *ev,
                                           struct joule_bench_summary *out);

/* Parameter count of the safetensors files of a model directory (BOOL tensors
 * excluded), or -1 when it has none or they cannot be read. */
int64_t joule_bench_model_params(const char *model_dir);
/* "small" (< 1e9), "medium" (< 2e9), "large"; "" for n < 0. Static string. */
const char *joule_bench_size_category(int64_t n_params);

/* The underlying sqlite3* (for tests and read-only queries); owned by the store. */
void *joule_bench_store_db(struct joule_bench_store *s);

#ifdef __cplusplus
}
#endif
#endif
