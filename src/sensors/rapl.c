/* RAPL through the powercap sysfs interface.
 *
 * <sysfs>/class/powercap/intel-rapl:N[:M] and intel-rapl-mmio:N[:M] are zones; each has a
 * `name` (package-N, core, uncore, dram, psys), `energy_uj` (a counter in µJ) and
 * `max_energy_range_uj`: the counter runs from 0 to that value and starts again at 0, so a
 * decrease between two reads is one wrap (the sampler undoes it; sampling more often than
 * range / peak power keeps it to at most one wrap per interval). Since Linux 5.10
 * (CVE-2020-8694, "Platypus") energy_uj is readable by root only, which is reported as
 * "permission denied" with the path. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/sensors_internal.h"
#include "util/clock.h"

#define RAPL_ZERO_WAIT_NS 50000000LL

static enum joule_sensor_state rapl_read(struct sensor_source *src, const struct sensor_ctx *ctx,
                                         struct sensor_raw *raw, char *reason, size_t cap)
{
    (void)ctx;
    uint64_t v;
    int rc = sensor_read_u64(src->path, &v);
    if (rc < 0) {
        enum joule_sensor_state st = sensor_errno_state(rc, 1);
        sensor_fmt(reason, cap, "%s: %s", src->path, strerror(-rc));
        return st;
    }
    raw->form = SENSOR_E_COUNTER;
    raw->count = v;
    raw->scale_j = 1e-6;
    raw->range = (uint64_t)(uintptr_t)src->priv; /* modulus stored at probe time */
    return JOULE_SENSOR_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

static enum sensor_role role_of(const char *zname, int mmio)
{
    if (mmio) return ROLE_DUP;
    if (!strncmp(zname, "package", 7)) return ROLE_CPU_PKG;
    if (!strcmp(zname, "dram")) return ROLE_CPU_DRAM;
    if (!strcmp(zname, "psys")) return ROLE_CPU_PSYS;
    return ROLE_CPU_SUB;
}

static void add_zone(struct joule_sensor_set *set, const char *dir, const char *entry)
{
    int mmio = !strncmp(entry, "intel-rapl-mmio:", 16);
    const char *idx = entry + (mmio ? 16 : 11);
    char path[512], zname[64] = "", parent_name[64] = "";
    sensor_fmt(path, sizeof path, "%s/%s/name", dir, entry);
    if (sensor_read_text(path, zname, sizeof zname) <= 0)
        sensor_fmt(zname, sizeof zname, "%s", idx);
    trim(zname);
    /* a sub-zone (N:M) of a package other than package-0 gets the package number */
    const char *colon = strchr(idx, ':');
    char name[64];
    if (colon) {
        sensor_fmt(path, sizeof path, "%s/%.*s/name", dir, (int)(colon - entry), entry);
        if (sensor_read_text(path, parent_name, sizeof parent_name) > 0) trim(parent_name);
        const char *pn = !strncmp(parent_name, "package-", 8) ? parent_name + 8 : "0";
        if (strcmp(pn, "0"))
            sensor_fmt(name, sizeof name, "rapl:%s%s-%s", mmio ? "mmio-" : "", zname, pn);
        else
            sensor_fmt(name, sizeof name, "rapl:%s%s", mmio ? "mmio-" : "", zname);
    } else {
        sensor_fmt(name, sizeof name, "rapl:%s%s", mmio ? "mmio-" : "", zname);
    }
    if (joule_sensor_set_find(set, name) >= 0) {
        size_t l = strlen(name);
        sensor_fmt(name + l, sizeof name - l, "#%s", idx);
    }
    struct sensor_source *s =
        sensor_set_add(set, JOULE_SENSOR_KIND_RAPL, name, role_of(zname, mmio));
    if (!s) return;
    s->info.has_energy = 1;
    s->read = rapl_read;
    sensor_fmt(s->detail, sizeof s->detail, "%s/%s", dir, entry);
    sensor_fmt(s->path, sizeof s->path, "%s/%s/energy_uj", dir, entry);
    uint64_t range = 0, v;
    sensor_fmt(path, sizeof path, "%s/%s/max_energy_range_uj", dir, entry);
    int rc = sensor_read_u64(path, &range);
    if (rc < 0 && rc != -EACCES && rc != -EPERM) range = 0;
    s->priv = (void *)(uintptr_t)(range ? range + 1 : 0);
    sensor_fmt(path, sizeof path, "%s/%s/constraint_0_max_power_uw", dir, entry);
    if (sensor_read_u64(path, &v) == 0) s->info.max_power_w = (double)v * 1e-6;
    rc = sensor_read_u64(s->path, &v);
    if (rc == 0 && v == 0) {
        /* a real counter has counted since boot: 0 twice means nothing behind it */
        joule_sleep_ns(RAPL_ZERO_WAIT_NS);
        rc = sensor_read_u64(s->path, &v);
        if (rc == 0 && v == 0) {
            sensor_source_fail(s, JOULE_SENSOR_NO_ENERGY,
                               "%s stays at 0 (over %d ms): no counter behind this zone", s->path,
                               (int)(RAPL_ZERO_WAIT_NS / 1000000));
            return;
        }
    }
    if (rc == -EACCES || rc == -EPERM)
        sensor_source_fail(s, JOULE_SENSOR_NO_PERMISSION,
                           "permission denied reading %s (root only since Linux 5.10, "
                           "CVE-2020-8694: run as root or grant read access)",
                           s->path);
    else if (rc < 0)
        sensor_source_fail(s, sensor_errno_state(rc, 0), "%s: %s", s->path, strerror(-rc));
    else if (!range)
        sensor_source_fail(s, JOULE_SENSOR_ERROR,
                           "%s/%s has no readable max_energy_range_uj: wraparound could not "
                           "be undone",
                           dir, entry);
}

void sensor_rapl_probe(struct joule_sensor_set *set)
{
    char dir[512];
    sensor_fmt(dir, sizeof dir, "%s/class/powercap", set->sysfs_root);
    DIR *d = opendir(dir);
    char *names[256];
    size_t n = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < 256) {
            if (strncmp(e->d_name, "intel-rapl:", 11) && strncmp(e->d_name, "intel-rapl-mmio:", 16))
                continue;
            names[n] = strdup(e->d_name);
            if (names[n]) n++;
        }
        closedir(d);
    }
    if (n == 0) {
        struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_RAPL, "rapl", ROLE_NONE);
        if (s)
            sensor_source_fail(s, JOULE_SENSOR_ABSENT,
                               "no intel-rapl zones in %s (no RAPL driver: a virtual machine, "
                               "or a CPU without RAPL)",
                               dir);
        return;
    }
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        add_zone(set, dir, names[i]);
        free(names[i]);
    }
}
