/* Internals shared by the sensor backends, the set and the sampler. */
#ifndef JOULE_SENSORS_INTERNAL_H
#define JOULE_SENSORS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "joule/sensor.h"

/* How a backend reports energy in one read. */
enum sensor_energy_form {
    SENSOR_E_NONE = 0,       /* no energy (procfs) */
    SENSOR_E_COUNTER = 1,    /* raw counter `count` × `scale_j`, wrapping at `range` (0 = 2^64) */
    SENSOR_E_CUMULATIVE = 2, /* `cum_j`: cumulative joules kept by the backend (netio) */
    SENSOR_E_POWER_INST = 3, /* `power_w` instantaneous: integrated by the trapezoid rule */
    SENSOR_E_POWER_MEAN = 4, /* `power_w` is the mean since the previous read (estimate) */
};

/* One read of one source. Fields the source lacks stay NaN (set by sensor_raw_init). */
struct sensor_raw {
    enum sensor_energy_form form;
    uint64_t count;
    double scale_j;
    uint64_t range;
    double cum_j;
    double power_w;
    double util_percent, mem_util_percent, mem_used_bytes, mem_total_bytes;
    double current_ma, power_factor;
};
void sensor_raw_init(struct sensor_raw *r);

/* System figures available to every source at a sample (the estimate uses them). */
struct sensor_ctx {
    int64_t t_ns;
    double cpu_percent; /* NaN when unknown */
    int64_t ram_used_bytes, ram_total_bytes;
};

/* Where a source counts in the total (see joule/sensor.h). */
enum sensor_role {
    ROLE_NONE = 0,
    ROLE_CPU_PKG,  /* rapl package-N */
    ROLE_CPU_DRAM, /* rapl dram */
    ROLE_CPU_SUB,  /* rapl core/uncore: inside the package, never added */
    ROLE_CPU_PSYS, /* rapl psys */
    ROLE_PERF_PKG, /* perf energy-pkg */
    ROLE_PERF_RAM, /* perf energy-ram */
    ROLE_PERF_SUB, /* perf energy-cores/energy-gpu */
    ROLE_PERF_PSYS,
    ROLE_GPU,  /* nvml */
    ROLE_WALL, /* netio */
    ROLE_EST,  /* estimate */
    ROLE_DUP,  /* a second view of a domain already counted (rapl-mmio) */
};

struct sensor_source;
/* Read the source. Returns JOULE_SENSOR_OK and fills `raw`, or a failure state with the
 * reason written into `reason`. */
typedef enum joule_sensor_state (*sensor_read_fn)(struct sensor_source *src,
                                                  const struct sensor_ctx *ctx,
                                                  struct sensor_raw *raw, char *reason, size_t cap);

struct sensor_source {
    struct joule_sensor_info info;
    char name[64];
    char detail[1024];
    char reason[1024];
    enum sensor_role role;
    sensor_read_fn read;
    void (*close)(struct sensor_source *src);
    void *priv;                   /* backend data, freed by close */
    char path[512];               /* rapl: energy_uj path */
    int fd;                       /* perf: event fd; -1 otherwise */
    int index;                    /* nvml device index / netio output ID */
    struct joule_sensor_set *set; /* back pointer (refreshed after the array grows) */

    /* accumulator, owned by the sampler */
    int have_prev;
    enum sensor_energy_form prev_form;
    uint64_t prev_count;
    double prev_cum_j, prev_power_w;
    int64_t prev_t_ns;
    double energy_j;
    enum joule_sensor_state state_now;
    char reason_now[1024];
};

struct procfs_state;
struct netio_poller;
struct nvml_lib;

struct joule_sensor_set {
    struct sensor_source *src;
    size_t n, cap;
    struct joule_sensor_params params;
    char sysfs_root[256], procfs_root[256], nvml_lib[256], netio_url[512];
    char netio_user[128], netio_password[128];
    struct procfs_state *proc;
    struct nvml_lib *nvml;
    struct netio_poller *netio;
    int borrowed; /* a sampler holds it */
};

/* Append a source (zeroed, fd = -1, state OK) and return it (valid until the next add). */
struct sensor_source *sensor_set_add(struct joule_sensor_set *set, enum joule_sensor_kind kind,
                                     const char *name, enum sensor_role role);
/* Mark a source unavailable with a printf reason. */
void sensor_source_fail(struct sensor_source *src, enum joule_sensor_state st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Backends: each adds its sources (an unavailable one when the kind is absent). */
void sensor_rapl_probe(struct joule_sensor_set *set);
void sensor_perf_probe(struct joule_sensor_set *set);
void sensor_nvml_probe(struct joule_sensor_set *set);
void sensor_netio_probe(struct joule_sensor_set *set);
void sensor_estimate_probe(struct joule_sensor_set *set);
void sensor_procfs_probe(struct joule_sensor_set *set);
void sensor_nvml_unload(struct joule_sensor_set *set);
void sensor_netio_shutdown(struct joule_sensor_set *set);

/* snprintf that truncates silently (paths and messages built from configurable roots). */
int sensor_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- file access (open goes through a hook so tests can emulate a non-root reader) ---- */

/* Replaceable open(2) for sysfs/procfs files; NULL restores the default. */
typedef int (*sensor_open_fn)(const char *path, int flags);
void sensor_set_open_hook(sensor_open_fn fn);
/* Read a small file into buf (NUL-terminated). Returns bytes read, or -errno. */
long sensor_read_text(const char *path, char *buf, size_t cap);
/* Read one unsigned integer; 0 or -errno. */
int sensor_read_u64(const char *path, uint64_t *v);
/* Describe -errno for a reader as a state: EACCES/EPERM → NO_PERMISSION, ENOENT/ENODEV →
 * ABSENT (LOST when `was_ok`), else ERROR. */
enum joule_sensor_state sensor_errno_state(int neg_errno, int was_ok);

/* ---- procfs ------------------------------------------------------------------------ */

struct procfs_system {
    double cpu_percent; /* since the previous call; NaN on the first */
    int64_t ram_used_bytes, ram_total_bytes;
    double ram_percent;
};
struct procfs_state *procfs_open(const char *root);
void procfs_close(struct procfs_state *p);
/* 0 or -errno. */
int procfs_read_system(struct procfs_state *p, struct procfs_system *out);
/* Sum over the live process tree rooted at pid: CPU ticks (utime+stime+cutime+cstime)
 * and RSS bytes. Returns the number of processes found (0 when pid is gone). */
int procfs_read_tree(struct procfs_state *p, int pid, uint64_t *ticks, int64_t *rss_bytes);
long procfs_ticks_per_second(void);

/* ---- perf power PMU: counter access goes through these so tests can feed values ---- */

struct sensor_perf_ops {
    /* Open a counting event; returns an fd (>= 0) or -errno. */
    int (*open)(uint32_t type, uint64_t config, int cpu);
    /* Read the 64-bit count; 0 or -errno. */
    int (*read)(int fd, uint64_t *count);
    void (*close)(int fd);
};
/* NULL restores the perf_event_open(2) implementation. */
void sensor_perf_set_ops(const struct sensor_perf_ops *ops);

/* ---- NETIO ------------------------------------------------------------------------- */

struct netio_output {
    int id;
    double load_w, energy_wh, current_ma, power_factor;
    char name[64];
};
/* Parse the box's netio.json. JOULE_ERR_FORMAT with detail when it is not the expected
 * shape. Writes at most cap outputs; *n = number written. */
enum joule_status netio_parse_json(const char *data, size_t len, struct netio_output *out,
                                   size_t cap, size_t *n);
/* One GET of `url` (netio.json appended when the URL has no path) with basic auth and a
 * timeout; body parsed into outs. JOULE_ERR_TIMEOUT / JOULE_ERR_IO / JOULE_ERR_FORMAT /
 * JOULE_ERR_PERMISSION (401) with detail. */
enum joule_status netio_fetch(const char *url, const char *user, const char *password,
                              int timeout_ms, struct netio_output *outs, size_t cap, size_t *n);

/* ---- estimate model ------------------------------------------------------------------ */

/* Power of the estimate model: cpu_w = tdp × cpu%/100; ram_w = w_per_gb × used GB. */
double sensor_estimate_cpu_w(double tdp_w, double cpu_percent);
double sensor_estimate_ram_w(double w_per_gb, int64_t ram_used_bytes);

#endif
