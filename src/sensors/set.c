/* Sensor sets: the list of sources, their availability, and which of them make the total. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensors/sensors_internal.h"

const char *joule_sensor_state_str(enum joule_sensor_state s)
{
    switch (s) {
    case JOULE_SENSOR_OK:
        return "ok";
    case JOULE_SENSOR_ABSENT:
        return "absent";
    case JOULE_SENSOR_NO_PERMISSION:
        return "permission denied";
    case JOULE_SENSOR_NO_ENERGY:
        return "no energy counter";
    case JOULE_SENSOR_ERROR:
        return "error";
    case JOULE_SENSOR_LOST:
        return "lost";
    case JOULE_SENSOR_NOT_NEEDED:
        return "not needed";
    }
    return "unknown";
}

struct joule_sensor_params joule_sensor_default_params(void)
{
    struct joule_sensor_params p;
    memset(&p, 0, sizeof p);
    p.netio_timeout_ms = 1000;
    p.netio_interval_ms = 1000;
    return p;
}

void sensor_raw_init(struct sensor_raw *r)
{
    memset(r, 0, sizeof *r);
    r->form = SENSOR_E_NONE;
    r->cum_j = r->power_w = NAN;
    r->util_percent = r->mem_util_percent = r->mem_used_bytes = r->mem_total_bytes = NAN;
    r->current_ma = r->power_factor = NAN;
}

int sensor_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

/* ---- file access ----------------------------------------------------------------------- */

static int default_open(const char *path, int flags)
{
    return open(path, flags);
}
static sensor_open_fn g_open = default_open;

void sensor_set_open_hook(sensor_open_fn fn)
{
    g_open = fn ? fn : default_open;
}

long sensor_read_text(const char *path, char *buf, size_t cap)
{
    if (cap == 0) return -EINVAL;
    int fd = g_open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            return -e;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return (long)got;
}

int sensor_read_u64(const char *path, uint64_t *v)
{
    char buf[64];
    long n = sensor_read_text(path, buf, sizeof buf);
    if (n < 0) return (int)n;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (end == buf || errno || buf[0] == '-') return -EINVAL;
    while (*end == '\n' || *end == ' ')
        end++;
    if (*end) return -EINVAL;
    *v = x;
    return 0;
}

enum joule_sensor_state sensor_errno_state(int neg_errno, int was_ok)
{
    int e = -neg_errno;
    if (e == EACCES || e == EPERM) return JOULE_SENSOR_NO_PERMISSION;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
        return was_ok ? JOULE_SENSOR_LOST : JOULE_SENSOR_ABSENT;
    return was_ok && e != EINVAL ? JOULE_SENSOR_LOST : JOULE_SENSOR_ERROR;
}

/* ---- sources ----------------------------------------------------------------------------- */

struct sensor_source *sensor_set_add(struct joule_sensor_set *set, enum joule_sensor_kind kind,
                                     const char *name, enum sensor_role role)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        struct sensor_source *p = realloc(set->src, cap * sizeof *p);
        if (!p) return NULL;
        set->src = p;
        set->cap = cap;
        for (size_t i = 0; i < set->n; i++)
            set->src[i].set = set;
    }
    struct sensor_source *s = &set->src[set->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->info.kind = kind;
    s->info.state = JOULE_SENSOR_OK;
    s->role = role;
    s->fd = -1;
    s->set = set;
    return s;
}

void sensor_source_fail(struct sensor_source *src, enum joule_sensor_state st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(src->reason, sizeof src->reason, fmt, ap);
    va_end(ap);
    src->info.state = st;
}

/* Decide which sources add up to the total (see joule/sensor.h). */
static void choose_total(struct joule_sensor_set *set)
{
    int have[ROLE_DUP + 1] = {0};
    for (size_t i = 0; i < set->n; i++)
        if (set->src[i].info.state == JOULE_SENSOR_OK) have[set->src[i].role] = 1;
    enum sensor_role cpu[3] = {ROLE_NONE, ROLE_NONE, ROLE_NONE};
    if (have[ROLE_CPU_PKG]) {
        cpu[0] = ROLE_CPU_PKG;
        cpu[1] = ROLE_CPU_DRAM;
    } else if (have[ROLE_PERF_PKG]) {
        cpu[0] = ROLE_PERF_PKG;
        cpu[1] = ROLE_PERF_RAM;
    } else if (have[ROLE_CPU_PSYS]) {
        cpu[0] = ROLE_CPU_PSYS;
    } else if (have[ROLE_PERF_PSYS]) {
        cpu[0] = ROLE_PERF_PSYS;
    } else {
        cpu[0] = ROLE_EST;
    }
    for (size_t i = 0; i < set->n; i++) {
        struct sensor_source *s = &set->src[i];
        int in = s->role == ROLE_GPU;
        for (int k = 0; k < 3; k++)
            if (cpu[k] != ROLE_NONE && s->role == cpu[k]) in = 1;
        s->info.in_total = in && s->info.state == JOULE_SENSOR_OK && s->info.has_energy;
        if (s->role == ROLE_EST && cpu[0] != ROLE_EST && s->info.state == JOULE_SENSOR_OK)
            sensor_source_fail(s, JOULE_SENSOR_NOT_NEEDED,
                               "a measured CPU energy counter is available");
    }
}

static int list_has(const char *list, const char *word)
{
    size_t wl = strlen(word);
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && !strncmp(p, word, wl)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static void copy_param(char *dst, size_t cap, const char *given, const char *env, const char *def)
{
    const char *v = given;
    if (!v || !*v) v = env ? getenv(env) : NULL;
    if (!v || !*v) v = def;
    snprintf(dst, cap, "%s", v ? v : "");
}

enum joule_status joule_sensor_set_open(const char *list, const struct joule_sensor_params *params,
                                        struct joule_sensor_set **out)
{
    static const char *const known[] = {"all",    "rapl",  "perf",    "nvml",
                                        "procfs", "netio", "estimate"};
    if (!out) return joule_errorf(JOULE_ERR_INVALID_ARG, "sensor set: no output pointer");
    *out = NULL;
    if (!list || !*list) list = "all";
    /* validate the list */
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof *known; k++)
            if (strlen(known[k]) == l && !strncmp(p, known[k], l)) ok = 1;
        if (!ok)
            return joule_errorf(JOULE_ERR_INVALID_ARG,
                                "unknown sensor '%.*s' (known: all, rapl, perf, nvml, procfs, "
                                "netio, estimate)",
                                (int)l, p);
        if (!e) break;
        p = e + 1;
    }
    struct joule_sensor_set *set = calloc(1, sizeof *set);
    if (!set) return joule_errorf(JOULE_ERR_NOMEM, "sensor set");
    set->params = params ? *params : joule_sensor_default_params();
    struct joule_sensor_params *p = &set->params;
    copy_param(set->sysfs_root, sizeof set->sysfs_root, p->sysfs_root, "JOULE_SYSFS_ROOT", "/sys");
    copy_param(set->procfs_root, sizeof set->procfs_root, p->procfs_root, "JOULE_PROCFS_ROOT",
               "/proc");
    copy_param(set->nvml_lib, sizeof set->nvml_lib, p->nvml_lib, "JOULE_NVML_LIB",
               "libnvidia-ml.so.1");
    copy_param(set->netio_url, sizeof set->netio_url, p->netio_url, "JOULE_NETIO_URL", NULL);
    copy_param(set->netio_user, sizeof set->netio_user, p->netio_user, "JOULE_NETIO_USER", NULL);
    copy_param(set->netio_password, sizeof set->netio_password, p->netio_password,
               "JOULE_NETIO_PASSWORD", NULL);
    p->sysfs_root = set->sysfs_root;
    p->procfs_root = set->procfs_root;
    p->nvml_lib = set->nvml_lib;
    p->netio_url = set->netio_url;
    p->netio_user = set->netio_user;
    p->netio_password = set->netio_password;
    if (p->netio_timeout_ms <= 0) p->netio_timeout_ms = 1000;
    if (p->netio_interval_ms <= 0) p->netio_interval_ms = 1000;
    if (p->cpu_tdp_w <= 0) {
        const char *e = getenv("JOULE_CPU_TDP_W");
        p->cpu_tdp_w = e && atof(e) > 0 ? atof(e) : 85.0;
    }
    if (p->ram_w_per_gb <= 0) {
        const char *e = getenv("JOULE_RAM_W_PER_GB");
        p->ram_w_per_gb = e && atof(e) > 0 ? atof(e) : 0.3725;
    }

    int all = list_has(list, "all");
    sensor_procfs_probe(set); /* always: CPU % and RAM come from it */
    if (all || list_has(list, "rapl")) sensor_rapl_probe(set);
    if (all || list_has(list, "perf")) sensor_perf_probe(set);
    if (all || list_has(list, "nvml")) sensor_nvml_probe(set);
    if (all || list_has(list, "netio")) sensor_netio_probe(set); /* absent without a URL */
    /* the estimate is opened with "all" or on request; choose_total disables it when a real
     * CPU counter exists */
    if (all || list_has(list, "estimate")) sensor_estimate_probe(set);
    choose_total(set);
    for (size_t i = 0; i < set->n; i++) {
        struct sensor_source *s = &set->src[i];
        s->info.name = s->name;
        s->info.detail = s->detail;
        s->info.reason = s->reason;
        if (s->info.state == JOULE_SENSOR_OK) s->reason[0] = '\0';
        s->state_now = s->info.state;
        snprintf(s->reason_now, sizeof s->reason_now, "%s", s->reason);
    }
    *out = set;
    return JOULE_OK;
}

void joule_sensor_set_free(struct joule_sensor_set *set)
{
    if (!set) return;
    sensor_netio_shutdown(set);
    for (size_t i = 0; i < set->n; i++)
        if (set->src[i].close) set->src[i].close(&set->src[i]);
    sensor_nvml_unload(set);
    procfs_close(set->proc);
    free(set->src);
    free(set);
}

size_t joule_sensor_set_count(const struct joule_sensor_set *set)
{
    return set ? set->n : 0;
}

const struct joule_sensor_info *joule_sensor_set_info(const struct joule_sensor_set *set, size_t i)
{
    if (!set || i >= set->n) return NULL;
    return &set->src[i].info;
}

int joule_sensor_set_find(const struct joule_sensor_set *set, const char *name)
{
    if (!set || !name) return -1;
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->src[i].name, name)) return (int)i;
    return -1;
}

int joule_sensor_set_has_cpu_counter(const struct joule_sensor_set *set)
{
    if (!set) return 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct sensor_source *s = &set->src[i];
        if (s->info.state != JOULE_SENSOR_OK) continue;
        if (s->role == ROLE_CPU_PKG || s->role == ROLE_PERF_PKG || s->role == ROLE_CPU_PSYS ||
            s->role == ROLE_PERF_PSYS)
            return 1;
    }
    return 0;
}
