/* /proc: system CPU % (/proc/stat), RAM used (/proc/meminfo: MemTotal − MemAvailable), and
 * the CPU time and RSS of a process tree (/proc/<pid>/stat; children from
 * /proc/<pid>/task/<tid>/children, or a scan of every /proc/<pid>/stat when the kernel lacks
 * that file). The tree's CPU time counts utime+stime+cutime+cstime of each live process, so
 * children that exited and were reaped inside the tree still count. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sensors/sensors_internal.h"

struct procfs_state {
    char root[256];
    int have_prev;
    uint64_t prev_busy, prev_total;
    long page_size;
    int no_children_file;
};

long procfs_ticks_per_second(void)
{
    static long t;
    if (!t) {
        t = sysconf(_SC_CLK_TCK);
        if (t <= 0) t = 100;
    }
    return t;
}

struct procfs_state *procfs_open(const char *root)
{
    struct procfs_state *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    sensor_fmt(p->root, sizeof p->root, "%s", root);
    p->page_size = sysconf(_SC_PAGESIZE);
    if (p->page_size <= 0) p->page_size = 4096;
    return p;
}

void procfs_close(struct procfs_state *p)
{
    free(p);
}

static int64_t meminfo_kb(const char *buf, const char *key)
{
    const char *p = strstr(buf, key);
    if (!p) return -1;
    p += strlen(key);
    while (*p == ' ' || *p == '\t')
        p++;
    return strtoll(p, NULL, 10);
}

int procfs_read_system(struct procfs_state *p, struct procfs_system *out)
{
    char path[300], buf[4096];
    out->cpu_percent = NAN;
    out->ram_used_bytes = out->ram_total_bytes = 0;
    out->ram_percent = NAN;
    sensor_fmt(path, sizeof path, "%s/stat", p->root);
    long n = sensor_read_text(path, buf, sizeof buf);
    if (n < 0) return (int)n;
    if (strncmp(buf, "cpu ", 4)) return -EINVAL;
    uint64_t v[10] = {0};
    char *s = buf + 4;
    int k;
    for (k = 0; k < 10; k++) {
        char *end;
        v[k] = strtoull(s, &end, 10);
        if (end == s) break;
        s = end;
    }
    if (k < 4) return -EINVAL;
    /* user nice system idle iowait irq softirq steal guest guest_nice; guest time is
     * already inside user/nice */
    uint64_t idle = v[3] + v[4];
    uint64_t total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    uint64_t busy = total - idle;
    if (p->have_prev && total > p->prev_total && busy >= p->prev_busy)
        out->cpu_percent = 100.0 * (double)(busy - p->prev_busy) / (double)(total - p->prev_total);
    else if (p->have_prev && total == p->prev_total)
        out->cpu_percent = 0.0;
    p->have_prev = 1;
    p->prev_busy = busy;
    p->prev_total = total;

    sensor_fmt(path, sizeof path, "%s/meminfo", p->root);
    n = sensor_read_text(path, buf, sizeof buf);
    if (n < 0) return (int)n;
    int64_t total_kb = meminfo_kb(buf, "MemTotal:"), avail_kb = meminfo_kb(buf, "MemAvailable:");
    if (total_kb <= 0 || avail_kb < 0) return -EINVAL;
    out->ram_total_bytes = total_kb * 1024;
    out->ram_used_bytes = (total_kb - avail_kb) * 1024;
    out->ram_percent = 100.0 * (double)(total_kb - avail_kb) / (double)total_kb;
    return 0;
}

/* utime stime cutime cstime rss(pages) and ppid from /proc/<pid>/stat; 0 or -errno. */
static int read_pid_stat(struct procfs_state *p, int pid, uint64_t *ticks, int64_t *rss_pages,
                         int *ppid)
{
    char path[300], buf[1024];
    sensor_fmt(path, sizeof path, "%s/%d/stat", p->root, pid);
    long n = sensor_read_text(path, buf, sizeof buf);
    if (n < 0) return (int)n;
    /* the command name may hold spaces and parentheses: fields start after the last ')' */
    char *s = strrchr(buf, ')');
    if (!s) return -EINVAL;
    s++;
    /* field 3 is state; we want 4 (ppid), 14..17 (utime stime cutime cstime), 24 (rss) */
    uint64_t f[25] = {0};
    int field = 3;
    while (*s && field <= 24) {
        while (*s == ' ')
            s++;
        if (!*s) break;
        if (field == 3) {
            while (*s && *s != ' ')
                s++;
        } else {
            char *end;
            long long v = strtoll(s, &end, 10);
            if (end == s) return -EINVAL;
            f[field] = v < 0 ? 0 : (uint64_t)v;
            s = end;
        }
        field++;
    }
    if (field <= 24) return -EINVAL;
    *ticks = f[14] + f[15] + f[16] + f[17];
    *rss_pages = (int64_t)f[24];
    if (ppid) *ppid = (int)f[4];
    return 0;
}

#define TREE_MAX 4096

/* Children of pid via /proc/<pid>/task/<tid>/children; -1 when there is no such file. */
static int children_of(struct procfs_state *p, int pid, int *kids, int cap)
{
    char path[300], buf[8192];
    sensor_fmt(path, sizeof path, "%s/%d/task", p->root, pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0, any_file = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char cp[400];
        sensor_fmt(cp, sizeof cp, "%s/%d/task/%s/children", p->root, pid, e->d_name);
        long l = sensor_read_text(cp, buf, sizeof buf);
        if (l < 0) continue;
        any_file = 1;
        char *s = buf;
        while (*s && n < cap) {
            char *end;
            long v = strtol(s, &end, 10);
            if (end == s) break;
            kids[n++] = (int)v;
            s = end;
        }
    }
    closedir(d);
    return any_file ? n : -1;
}

/* Fallback: every process whose ppid is in the tree (one pass per tree depth). */
static int scan_tree(struct procfs_state *p, int *tree, int n, int cap)
{
    DIR *d = opendir(p->root);
    if (!d) return n;
    int pids[TREE_MAX], ppids[TREE_MAX], m = 0;
    struct dirent *e;
    while ((e = readdir(d)) && m < TREE_MAX) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        int pid = atoi(e->d_name);
        uint64_t t;
        int64_t r;
        if (read_pid_stat(p, pid, &t, &r, &ppids[m]) == 0) pids[m++] = pid;
    }
    closedir(d);
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < m; i++) {
            int in = 0, parent_in = 0;
            for (int k = 0; k < n; k++) {
                if (tree[k] == pids[i]) in = 1;
                if (tree[k] == ppids[i]) parent_in = 1;
            }
            if (!in && parent_in && n < cap) {
                tree[n++] = pids[i];
                changed = 1;
            }
        }
    }
    return n;
}

int procfs_read_tree(struct procfs_state *p, int pid, uint64_t *ticks, int64_t *rss_bytes)
{
    *ticks = 0;
    *rss_bytes = 0;
    if (pid <= 0) return 0;
    static _Thread_local int tree[TREE_MAX];
    int n = 0;
    tree[n++] = pid;
    if (p->no_children_file) {
        n = scan_tree(p, tree, n, TREE_MAX);
    } else {
        for (int i = 0; i < n && n < TREE_MAX; i++) {
            int c = children_of(p, tree[i], tree + n, TREE_MAX - n);
            if (c < 0) {
                uint64_t t;
                int64_t r;
                if (i == 0 && read_pid_stat(p, pid, &t, &r, NULL) == 0) {
                    p->no_children_file = 1;
                    n = scan_tree(p, tree, 1, TREE_MAX);
                    break;
                }
                continue;
            }
            n += c;
        }
    }
    int found = 0;
    for (int i = 0; i < n; i++) {
        uint64_t t;
        int64_t rp;
        if (read_pid_stat(p, tree[i], &t, &rp, NULL) != 0) continue;
        *ticks += t;
        *rss_bytes += rp * p->page_size;
        found++;
    }
    return found;
}

/* The "procfs" source: listed so its availability shows; the sampler reads /proc itself. */
static enum joule_sensor_state procfs_read(struct sensor_source *src, const struct sensor_ctx *ctx,
                                           struct sensor_raw *raw, char *reason, size_t cap)
{
    (void)raw;
    if (isnan(ctx->cpu_percent) && ctx->ram_total_bytes == 0) {
        sensor_fmt(reason, cap, "%s/stat or meminfo unreadable", src->detail);
        return JOULE_SENSOR_ERROR;
    }
    return JOULE_SENSOR_OK;
}

void sensor_procfs_probe(struct joule_sensor_set *set)
{
    set->proc = procfs_open(set->procfs_root);
    struct sensor_source *s = sensor_set_add(set, JOULE_SENSOR_KIND_PROCFS, "procfs", ROLE_NONE);
    if (!s) return;
    sensor_fmt(s->detail, sizeof s->detail, "%s", set->procfs_root);
    s->read = procfs_read;
    if (!set->proc) {
        sensor_source_fail(s, JOULE_SENSOR_ERROR, "out of memory");
        return;
    }
    struct procfs_system sys;
    int rc = procfs_read_system(set->proc, &sys);
    if (rc < 0)
        sensor_source_fail(s, sensor_errno_state(rc, 0), "%s/stat or %s/meminfo: %s",
                           set->procfs_root, set->procfs_root, strerror(-rc));
}
