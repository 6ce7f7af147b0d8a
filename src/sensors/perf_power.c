/* The perf_event power PMU: <sysfs>/bus/event_source/devices/power.
 *
 * `type` holds the PMU's perf type number; events/energy-{pkg,cores,ram,gpu,psys} hold
 * "event=0xNN", with energy-X.scale (joules per count, e.g. 2.3283064365386962890625e-10)
 * and energy-X.unit ("Joules"). The counters are system-wide, opened on the first CPU of
 * each package listed in `cpumask`. The kernel keeps a 64-bit count (it folds the 32-bit
 * hardware wraps itself), so no wraparound handling is needed. Opening needs
 * CAP_PERFMON/root or kernel.perf_event_paranoid <= 0.
 *
 * The counter access goes through struct sensor_perf_ops so tests can feed values. */
#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sensors/sensors_internal.h"
#include "util/clock.h"

#define PERF_ZERO_WAIT_NS 50000000LL

static int sys_open(uint32_t type, uint64_t config, int cpu)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = type;
    attr.config = config;
    long fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, 0UL);
    return fd < 0 ? -errno : (int)fd;
}

static int sys_read(int fd, uint64_t *count)
{
    ssize_t r = read(fd, count, sizeof *count);
    if (r < 0) return -errno;
    return r == (ssize_t)sizeof *count ? 0 : -EIO;
}

static void sys_close(int fd)
{
    close(fd);
}

static const struct sensor_perf_ops sys_ops = {sys_open, sys_read, sys_close};
static const struct sensor_perf_ops *g_ops = &sys_ops;

void sensor_perf_set_ops(const struct sensor_perf_ops *ops)
{
    g_ops = ops ? ops : &sys_ops;
}

struct perf_priv {
    double scale;
    const struct sensor_perf_ops *ops; /* the ops that opened fd */
};

static enum joule_sensor_state perf_read(struct sensor_source *src, const struct sensor_ctx *ctx,
                                         struct sensor_raw *raw, char *reason, size_t cap)
{
    (void)ctx;
    struct perf_priv *p = src->priv;
    uint64_t c;
    int rc = p->ops->read(src->fd, &c);
    if (rc < 0) {
        sensor_fmt(reason, cap, "reading perf event %s: %s", src->name, strerror(-rc));
        return sensor_errno_state(rc, 1);
    }
    raw->form = SENSOR_E_COUNTER;
    raw->count = c;
    raw->scale_j = p->scale;
    raw->range = 0;
    return JOULE_SENSOR_OK;
}

static void perf_close(struct sensor_source *src)
{
    struct perf_priv *p = src->priv;
    if (p && src->fd >= 0) p->ops->close(src->fd);
    src->fd = -1;
    free(p);
    src->priv = NULL;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* First CPU of every range in a cpulist ("0", "0,24", "0-3,8"). */
static int parse_cpumask(const char *s, int *cpus, int cap)
{
    int n = 0;
    while (*s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0) break;
        cpus[n++] = (int)v;
        s = end;
        if (*s == '-') {
            strtol(s + 1, &end, 10);
            s = end;
        }
        if (*s != ',') break;
        s++;
    }
    return n;
}

static enum sensor_role role_of(const char *ev)
{
    if (!strcmp(ev, "energy-pkg")) return ROLE_PERF_PKG;
    if (!strcmp(ev, "energy-ram")) return ROLE_PERF_RAM;
    if (!strcmp(ev, "energy-psys")) return ROLE_PERF_PSYS;
    return ROLE_PERF_SUB;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void add_event(struct joule_sensor_set *set, const char *dir, uint32_t type, const char *ev,
                      const int *cpus, int ncpu)
{
    char path[600], buf[128];
    sensor_fmt(path, sizeof path, "%s/events/%s", dir, ev);
    long n = sensor_read_text(path, buf, sizeof buf);
    const char *cfg = n > 0 ? strstr(buf, "event=") : NULL;
    uint64_t config = cfg ? strtoull(cfg + 6, NULL, 0) : 0;
    double scale = 1.0;
    sensor_fmt(path, sizeof path, "%s/events/%s.scale", dir, ev);
    if (sensor_read_text(path, buf, sizeof buf) > 0) scale = strtod(buf, NULL);
    char unit[32] = "Joules";
    sensor_fmt(path, sizeof path, "%s/events/%s.unit", dir, ev);
    if (sensor_read_text(path, unit, sizeof unit) > 0) trim(unit);
    for (int c = 0; c < ncpu; c++) {
        char name[64];
        if (c == 0)
            sensor_fmt(name, sizeof name, "perf:%s", ev);
        else
            sensor_fmt(name, sizeof name, "perf:%s@cpu%d", ev, cpus[c]);
        struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_PERF, name, role_of(ev));
        if (!s) return;
        sensor_fmt(s->detail, sizeof s->detail, "%s/events/%s (type %u, event 0x%llx, cpu %d)", dir,
                   ev, type, (unsigned long long)config, cpus[c]);
        s->info.has_energy = 1;
        s->read = perf_read;
        s->close = perf_close;
        if (!cfg) {
            sensor_source_fail(s, JOULE_SENSOR_ERROR, "%s/events/%s has no event= term", dir, ev);
            continue;
        }
        if (strcmp(unit, "Joules") || !(scale > 0)) {
            sensor_source_fail(s, JOULE_SENSOR_ERROR, "%s: unit '%s' scale %g not understood", ev,
                               unit, scale);
            continue;
        }
        struct perf_priv *p = calloc(1, sizeof *p);
        if (!p) continue;
        p->scale = scale;
        p->ops = g_ops;
        s->priv = p;
        int fd = g_ops->open(type, config, cpus[c]);
        if (fd < 0) {
            if (fd == -EACCES || fd == -EPERM)
                sensor_source_fail(s, JOULE_SENSOR_NO_PERMISSION,
                                   "perf_event_open(%s): %s (needs root or CAP_PERFMON, or "
                                   "kernel.perf_event_paranoid <= 0)",
                                   ev, strerror(-fd));
            else
                sensor_source_fail(s, JOULE_SENSOR_ERROR, "perf_event_open(%s): %s", ev,
                                   strerror(-fd));
            continue;
        }
        s->fd = fd;
        uint64_t v;
        int rc = g_ops->read(fd, &v);
        if (rc == 0 && v == 0) {
            /* a real energy counter has counted since boot; give it one more chance */
            joule_sleep_ns(PERF_ZERO_WAIT_NS);
            rc = g_ops->read(fd, &v);
        }
        if (rc < 0)
            sensor_source_fail(s, JOULE_SENSOR_ERROR, "reading %s: %s", ev, strerror(-rc));
        else if (v == 0)
            sensor_source_fail(s, JOULE_SENSOR_NO_ENERGY,
                               "%s opens but counts nothing (0 after %d ms): the event is "
                               "exposed without a hardware counter behind it, as in some "
                               "virtual machines",
                               ev, (int)(PERF_ZERO_WAIT_NS / 1000000));
    }
}

void sensor_perf_probe(struct joule_sensor_set *set)
{
    char dir[512], path[600], buf[256];
    sensor_fmt(dir, sizeof dir, "%s/bus/event_source/devices/power", set->sysfs_root);
    sensor_fmt(path, sizeof path, "%s/type", dir);
    uint64_t type;
    int rc = sensor_read_u64(path, &type);
    if (rc < 0) {
        struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_PERF, "perf", ROLE_NONE);
        if (s)
            sensor_source_fail(s, rc == -ENOENT ? JOULE_SENSOR_ABSENT : sensor_errno_state(rc, 0),
                               "no power PMU: %s: %s", path, strerror(-rc));
        return;
    }
    int cpus[64], ncpu = 0;
    sensor_fmt(path, sizeof path, "%s/cpumask", dir);
    if (sensor_read_text(path, buf, sizeof buf) > 0) ncpu = parse_cpumask(buf, cpus, 64);
    if (ncpu == 0) {
        cpus[0] = 0;
        ncpu = 1;
    }
    sensor_fmt(path, sizeof path, "%s/events", dir);
    DIR *d = opendir(path);
    char *evs[64];
    size_t n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < 64) {
            if (strncmp(e->d_name, "energy-", 7) || strchr(e->d_name, '.')) continue;
            evs[n] = strdup(e->d_name);
            if (evs[n]) n++;
        }
        closedir(d);
    }
    if (n == 0) {
        struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_PERF, "perf", ROLE_NONE);
        if (s)
            sensor_source_fail(s, JOULE_SENSOR_NO_ENERGY,
                               "power PMU at %s lists no energy-* events", dir);
        return;
    }
    qsort(evs, n, sizeof *evs, cmp_str);
    for (size_t i = 0; i < n; i++) {
        add_event(set, dir, (uint32_t)type, evs[i], cpus, ncpu);
        free(evs[i]);
    }
}
