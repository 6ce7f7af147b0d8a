/* The machine description stored with each campaign. */
#include "joule/bench.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *procfs_root(void)
{
    const char *r = getenv("JOULE_PROCFS_ROOT");
    return r && *r ? r : "/proc";
}

/* Value after "key<spaces>:" in a "key : value" text file, trimmed; 1 if found. */
static int find_key_value(const char *path, const char *key, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[1024];
    size_t klen = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        const char *p = line + klen;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ':') continue;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        snprintf(out, cap, "%s", p);
        out[strcspn(out, "\r\n")] = 0;
        found = 1;
    }
    fclose(f);
    return found;
}

void joule_bench_machine_describe(struct joule_bench_machine *m)
{
    memset(m, 0, sizeof *m);
    char path[1024], val[512];
    const char *root = procfs_root();
    if (gethostname(m->hostname, sizeof m->hostname - 1) != 0) m->hostname[0] = 0;
    snprintf(path, sizeof path, "%s/cpuinfo", root);
    if (!find_key_value(path, "model name", m->cpu_model, sizeof m->cpu_model))
        find_key_value(path, "Model", m->cpu_model, sizeof m->cpu_model); /* arm */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    m->cpu_cores = n > 0 ? (int)n : 0;
    snprintf(path, sizeof path, "%s/meminfo", root);
    if (find_key_value(path, "MemTotal", val, sizeof val)) m->ram_mb = atof(val) / 1024.0;
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    /* NVIDIA's driver lists each GPU under /proc/driver/nvidia/gpus/<bus id>/information. */
    snprintf(path, sizeof path, "%s/driver/nvidia/gpus", root);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char info[1400];
            snprintf(info, sizeof info, "%s/%s/information", path, e->d_name);
            if (!find_key_value(info, "Model", val, sizeof val)) continue;
            size_t len = strlen(m->gpus);
            snprintf(m->gpus + len, sizeof m->gpus - len, "%s%s (%s)", len ? "; " : "", val,
                     e->d_name);
        }
        closedir(d);
    }
}
