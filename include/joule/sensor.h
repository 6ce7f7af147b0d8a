/* joule — energy and resource sensors, and a sampler that records them.
 *
 * A sensor set is opened from a list ("all", or "rapl,perf,nvml,procfs,netio,estimate")
 * and holds one *source* per measurable thing, named like "rapl:package-0", "rapl:dram",
 * "perf:energy-psys", "nvml:0", "netio:1", "estimate:cpu", "estimate:ram", "procfs".
 * Every source says whether it is available and, if not, exactly why (absent, permission
 * denied, no energy counter, ...). A source that is missing on this machine is
 * "unavailable", never an error: opening a set only fails on bad arguments.
 *
 * A sampler is a thread that reads every available source at a fixed interval (default
 * 100 ms = 10 Hz) with CLOCK_MONOTONIC timestamps (the clock of joule_now_ns() in
 * src/util/clock.h), and keeps all samples in memory. Energy is kept per source as a
 * cumulative figure in joules since the sampler started, with counter wraparound undone;
 * the energy of any interval [t0, t1] is the difference of the cumulative figures linearly
 * interpolated at t0 and t1 (joule_sampler_energy). That is what per-request attribution
 * uses: note t0/t1 with joule_now_ns() around the request, call joule_sampler_sample_now()
 * at the end if the request is short compared with the interval, then query.
 *
 * What "total" means: the CPU energy plus the GPU energy, without double counting.
 *   CPU: the RAPL package-N domains plus dram, else the perf energy-pkg plus energy-ram
 *   events, else perf energy-psys (whole platform), else the estimate (estimate:cpu +
 *   estimate:ram, flagged estimated). core/uncore (sub-domains of the package) are
 *   reported but never added. GPU: every nvml:N. The wattmeter (netio:N) measures the wall
 *   socket, which already contains everything else; it is reported beside the total, never
 *   added to it. Each source's `in_total` says whether it contributes.
 *
 * Thread safety: a sensor set is used by one thread (the sampler owns it while running).
 * The sampler functions may be called from any thread while the sampler runs.
 *
 * Maximum safe interval (RAPL, perf): the counters wrap at max_energy_range_uj (RAPL;
 * typically 262143328850 µJ ≈ 262 kJ) or at 2^32 energy units (perf reads a 64-bit
 * value that the kernel already extends). A wrap is undone as long as at most one wrap
 * happens between two samples, i.e. interval < range / peak power: 262 kJ / 400 W ≈ 650 s
 * for a typical package. Runs may wrap any number of times in total. joule_sampler_start
 * rejects an interval above 60 s. */
#ifndef JOULE_SENSOR_H
#define JOULE_SENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "joule/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum joule_sensor_kind {
    JOULE_SENSOR_KIND_RAPL = 0,     /* powercap sysfs: intel-rapl:*, intel-rapl-mmio:* */
    JOULE_SENSOR_KIND_PERF = 1,     /* perf_event power PMU: energy-pkg/cores/ram/gpu/psys */
    JOULE_SENSOR_KIND_NVML = 2,     /* NVIDIA GPU through NVML (dlopen) */
    JOULE_SENSOR_KIND_PROCFS = 3,   /* /proc: CPU %, process tree CPU % and RSS, RAM % */
    JOULE_SENSOR_KIND_NETIO = 4,    /* NETIO PowerBOX wattmeter output over HTTP JSON */
    JOULE_SENSOR_KIND_ESTIMATE = 5, /* model: TDP × CPU utilisation + RAM W/GB × GB used */
};

/* Why a source is (not) usable. */
enum joule_sensor_state {
    JOULE_SENSOR_OK = 0,            /* available and read at every sample */
    JOULE_SENSOR_ABSENT = 1,        /* the interface or device is not on this machine */
    JOULE_SENSOR_NO_PERMISSION = 2, /* present but not readable (e.g. energy_uj as non-root) */
    JOULE_SENSOR_NO_ENERGY = 3,     /* present but gives no energy or power figure */
    JOULE_SENSOR_ERROR = 4,         /* present but failed (bad data, unreachable, timeout) */
    JOULE_SENSOR_LOST = 5,          /* was available, then disappeared mid-run; energy up to
                                       the last good reading is kept */
    JOULE_SENSOR_NOT_NEEDED = 6,    /* the estimate, when a real CPU counter exists */
};
/* "ok", "absent", "permission denied", "no energy counter", "error", "lost", "not needed". */
const char *joule_sensor_state_str(enum joule_sensor_state s);

/* Options of a sensor set. Strings are copied by joule_sensor_set_open. */
struct joule_sensor_params {
    const char *sysfs_root;  /* NULL: $JOULE_SYSFS_ROOT, else "/sys" */
    const char *procfs_root; /* NULL: $JOULE_PROCFS_ROOT, else "/proc" */
    const char *nvml_lib;    /* NULL: $JOULE_NVML_LIB, else "libnvidia-ml.so.1" */
    /* NETIO PowerBOX: base URL ("http://192.168.1.10" or a full ".../netio.json");
     * NULL: $JOULE_NETIO_URL; with neither, the netio source is absent. */
    const char *netio_url;
    int netio_output;           /* output ID to record; 0 = every output (default 0) */
    const char *netio_user;     /* basic auth; NULL: $JOULE_NETIO_USER (none if unset) */
    const char *netio_password; /* NULL: $JOULE_NETIO_PASSWORD */
    int netio_timeout_ms;       /* per request (default 1000) */
    int netio_interval_ms;      /* poll period of the box (default 1000; the box refreshes ~1/s) */
    /* Estimate model (see src/sensors/estimate.c for the derivation of the defaults). */
    double cpu_tdp_w;    /* 0: $JOULE_CPU_TDP_W, else 85 W */
    double ram_w_per_gb; /* 0: $JOULE_RAM_W_PER_GB, else 0.3725 W/GB */
};
struct joule_sensor_params joule_sensor_default_params(void);

/* One source's static description; owned by the set. */
struct joule_sensor_info {
    const char *name;   /* "rapl:package-0", "perf:energy-psys", "nvml:0", "netio:1", ... */
    const char *detail; /* device or path ("NVIDIA H100 80GB HBM3", "/sys/.../intel-rapl:0") */
    enum joule_sensor_kind kind;
    enum joule_sensor_state state; /* at open; see joule_sampler_source_state for later */
    const char *reason;            /* precise text when state != OK ("" when OK) */
    int has_energy;                /* gives energy (a counter or integrated power) */
    int estimated;                 /* the figure is a model, not a measurement */
    int in_total;                  /* contributes to "total" (see the top of this file) */
    double max_power_w;            /* power limit / TDP when known, else 0 */
};

struct joule_sensor_set; /* opaque */

/* Open the sources named in `list`: a comma-separated list of kinds ("rapl", "perf",
 * "nvml", "procfs", "netio", "estimate") or "all". Without a URL, netio is listed as absent. params
 * may be NULL (defaults). Unknown names fail with JOULE_ERR_INVALID_ARG; missing hardware does not
 * fail. *out is owned by the caller. */
enum joule_status joule_sensor_set_open(const char *list, const struct joule_sensor_params *params,
                                        struct joule_sensor_set **out);
void joule_sensor_set_free(struct joule_sensor_set *set); /* NULL is fine */

size_t joule_sensor_set_count(const struct joule_sensor_set *set);
/* Pointer owned by the set, valid until joule_sensor_set_free. NULL when i is out of range. */
const struct joule_sensor_info *joule_sensor_set_info(const struct joule_sensor_set *set, size_t i);
/* Index of the source called `name`, or -1. */
int joule_sensor_set_find(const struct joule_sensor_set *set, const char *name);
/* 1 if any available source gives measured (not estimated) CPU energy. */
int joule_sensor_set_has_cpu_counter(const struct joule_sensor_set *set);

/* ---- samples ---------------------------------------------------------------------- */

/* One source's reading in one sample. Fields a source does not provide are NaN. */
struct joule_sensor_reading {
    double energy_j;         /* cumulative since the sampler started (wraps undone) */
    double power_w;          /* mean power since the previous sample */
    double util_percent;     /* GPU utilisation (nvml) */
    double mem_util_percent; /* GPU memory-controller utilisation (nvml) */
    double mem_used_bytes;   /* GPU memory used (nvml) */
    double mem_total_bytes;  /* GPU memory total (nvml) */
    double current_ma;       /* netio */
    double power_factor;     /* netio */
    int ok;                  /* 1 if this source was read successfully in this sample */
};

/* One sample. `src` has joule_sensor_set_count() entries, in set order. */
struct joule_sample {
    int64_t t_ns;            /* CLOCK_MONOTONIC */
    double cpu_percent;      /* system-wide busy time, 0..100 (all CPUs together); NaN first */
    double proc_cpu_percent; /* watched process tree, % of one core (may exceed 100) */
    int64_t proc_rss_bytes;  /* watched process tree, sum of VmRSS; 0 when none */
    double ram_percent;      /* (MemTotal − MemAvailable) / MemTotal × 100 */
    int64_t ram_used_bytes;  /* MemTotal − MemAvailable */
    int64_t ram_total_bytes;
    const struct joule_sensor_reading *src;
};

/* Called after each sample is stored, on the thread that took it (the sampler thread, or a
 * caller of joule_sampler_sample_now), without the sampler's lock held: it may call the
 * joule_sampler_* functions (not stop/free). Keep it short; copy what you need. */
typedef void (*joule_sample_fn)(void *user, const struct joule_sample *s);

struct joule_sampler_params {
    int64_t interval_ns;       /* default 100 000 000 (10 Hz); 1 ms .. 60 s */
    joule_sample_fn on_sample; /* optional */
    void *user;
    size_t max_samples; /* 0 = unbounded; else the oldest samples are dropped (energy stays
                           cumulative, queries before the oldest kept sample lose coverage) */
};
struct joule_sampler_params joule_sampler_default_params(void);

struct joule_sampler; /* opaque */

/* Start sampling `set` on a new thread. The first sample is taken before this returns.
 * The sampler borrows `set` until joule_sampler_free; do not use the set meanwhile except
 * through joule_sensor_set_info/count/find. *out is owned by the caller. */
enum joule_status joule_sampler_start(struct joule_sensor_set *set,
                                      const struct joule_sampler_params *params,
                                      struct joule_sampler **out);
/* Stop the thread after one last sample; samples stay queryable. Idempotent. */
void joule_sampler_stop(struct joule_sampler *s);
/* Stop if running and release everything. NULL is fine. */
void joule_sampler_free(struct joule_sampler *s);

/* Take a sample now (from the calling thread), e.g. at the end of a short request.
 * Returns its timestamp. Safe while the thread runs; after stop it does nothing and
 * returns the last sample's time. */
int64_t joule_sampler_sample_now(struct joule_sampler *s);

/* Follow the process tree rooted at `pid` (its threads' children, recursively) for the
 * proc_* fields; 0 stops following. */
void joule_sampler_watch_pid(struct joule_sampler *s, int pid);

/* Record a phase mark ("warmup", "request", "cooldown") at joule_now_ns(). `label` is
 * copied (at most 63 bytes kept). Returns the mark's timestamp. */
int64_t joule_sampler_mark(struct joule_sampler *s, const char *label);
size_t joule_sampler_mark_count(struct joule_sampler *s);
/* The i-th mark; *label points into the sampler (valid until free). */
enum joule_status joule_sampler_mark_get(struct joule_sampler *s, size_t i, int64_t *t_ns,
                                         const char **label);

/* Number of samples kept, and a copy of the i-th (0 = oldest kept). out->src points into the
 * sampler and stays valid until joule_sampler_free, or until max_samples drops that sample. */
size_t joule_sampler_count(struct joule_sampler *s);
enum joule_status joule_sampler_get(struct joule_sampler *s, size_t i, struct joule_sample *out);

/* The state of source i now (a source can become LOST mid-run) and its reason text
 * (copied into reason, NUL-terminated, when reason != NULL). */
enum joule_sensor_state joule_sampler_source_state(struct joule_sampler *s, size_t i, char *reason,
                                                   size_t reason_cap);

/* ---- energy over intervals -------------------------------------------------------- */

/* Energy of every source over [t0_ns, t1_ns] (CLOCK_MONOTONIC), from the cumulative
 * figures interpolated linearly between the neighbouring samples. An end outside the
 * sampled range is clamped to it, and `coverage` tells how much of the interval the
 * source's good samples span (1.0 = all of it). */
struct joule_sensor_energy {
    double energy_j;     /* gross energy in the interval; NaN if the source has no energy */
    double power_w;      /* energy_j / interval */
    double net_energy_j; /* energy_j − idle_power_w × interval (NaN without an idle baseline) */
    double coverage;     /* 0..1 */
};
/* `out` has joule_sensor_set_count() entries. Returns the total (see top) via *total_j
 * (may be NULL) and whether any part of the total is estimated via *estimated (may be NULL). */
enum joule_status joule_sampler_energy(struct joule_sampler *s, int64_t t0_ns, int64_t t1_ns,
                                       struct joule_sensor_energy *out, double *total_j,
                                       int *estimated);

/* Use [t0_ns, t1_ns] (e.g. an idle phase before a campaign) as the idle baseline: each
 * source's mean power there becomes its idle power, subtracted in net_energy_j. */
enum joule_status joule_sampler_set_idle(struct joule_sampler *s, int64_t t0_ns, int64_t t1_ns);
/* Idle power of source i from the baseline (NaN when none is set). */
double joule_sampler_idle_power(struct joule_sampler *s, size_t i);

/* ---- summaries -------------------------------------------------------------------- */

/* What `joule measure` reports. Statistics are over the samples in [t0_ns, t1_ns]. */
struct joule_measure_summary {
    double duration_s;
    double total_j;
    double total_net_j;                       /* NaN without an idle baseline */
    int estimated;                            /* any part of total_j comes from the estimate */
    double cpu_percent_mean, cpu_percent_max; /* system-wide */
    double proc_cpu_percent_mean, proc_cpu_percent_max; /* watched tree, % of one core */
    int64_t rss_max_bytes;                              /* watched tree */
    double ram_percent_mean, ram_percent_max;
    double gpu_util_mean, gpu_util_max;         /* over every GPU; NaN without one */
    double gpu_mem_util_mean, gpu_mem_util_max; /* NaN without a GPU */
    double gpu_mem_used_max_bytes;              /* summed over GPUs; NaN without one */
    size_t samples;
    double coverage; /* sampled span / duration, 0..1 */
};
/* Fill `sum` and `per_source` (joule_sensor_set_count() entries, may be NULL) for
 * [t0_ns, t1_ns]. */
enum joule_status joule_sampler_summarize(struct joule_sampler *s, int64_t t0_ns, int64_t t1_ns,
                                          struct joule_measure_summary *sum,
                                          struct joule_sensor_energy *per_source);

/* ---- earlier measurements ------------------------------------------------------------ */

/* A summary of a study-style log, for comparison with joule's own measurements.
 * EnergiBridge CSV: CPU_ENERGY (J) (cumulative; wraps and counter resets undone),
 * CPU_USAGE_N (%), USED_MEMORY/TOTAL_MEMORY (bytes), Time (ms since the epoch).
 * NETIO log (the study's wattmeter CSV): per output ID, Energy (Wh, cumulative),
 * Load (W, integrated by the trapezoid rule), Current (mA), PowerFactor. */
struct joule_log_summary {
    char source[32]; /* "energibridge:cpu" or "netio:<ID>" */
    double duration_s;
    double energy_j;         /* energibridge: counter difference; netio: ∫Load dt */
    double counter_energy_j; /* netio: Energy(last) − Energy(first) in J (1 Wh steps) */
    double power_mean_w, power_max_w;
    double cpu_percent_mean, cpu_percent_max; /* energibridge: mean over cores; NaN for netio */
    double ram_percent_mean, ram_percent_max; /* energibridge; NaN for netio */
    size_t samples;
};
/* Parse a log held in memory (`data`, `len`, need not be NUL-terminated). Writes at most
 * `cap` summaries (one per NETIO output; one for EnergiBridge) and the number written
 * via *n. JOULE_ERR_FORMAT with detail on malformed input. */
enum joule_status joule_log_parse_energibridge(const char *data, size_t len,
                                               struct joule_log_summary *out);
enum joule_status joule_log_parse_netio(const char *data, size_t len, struct joule_log_summary *out,
                                        size_t cap, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
