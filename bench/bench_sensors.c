/* Sampler CPU cost: getrusage(RUSAGE_SELF) of this process over N seconds while the sampler
 * runs and the main thread sleeps, at 10 Hz and 100 Hz. Baseline: the same process sleeping
 * with no sampler, measured in the same run. Medians of R runs.
 *
 *   bench_sensors [seconds per run (default 5)] [runs (default 3)]
 *
 * Two sensor sets: "all" on this machine's real /sys and /proc (watching this process's
 * tree), and a fixture sysfs tree with four RAPL zones (as on a RAPL machine) plus /proc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "joule/sensor.h"
#include "util/clock.h"
#include "util/fileio.h"

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Percent of one core used over `secs`, with a sampler at `interval_ns` (0 = none). */
static double run_once(const char *list, const struct joule_sensor_params *p, int64_t interval_ns,
                       double secs, size_t *nsamples)
{
    struct joule_sensor_set *set = NULL;
    struct joule_sampler *s = NULL;
    if (interval_ns) {
        if (joule_sensor_set_open(list, p, &set) != JOULE_OK) return -1;
        struct joule_sampler_params sp = joule_sampler_default_params();
        sp.interval_ns = interval_ns;
        if (joule_sampler_start(set, &sp, &s) != JOULE_OK) return -1;
        joule_sampler_watch_pid(s, (int)getpid());
    }
    double c0 = cpu_s();
    int64_t t0 = joule_now_ns();
    joule_sleep_ns((int64_t)(secs * 1e9));
    double c1 = cpu_s();
    int64_t t1 = joule_now_ns();
    if (s) {
        *nsamples = joule_sampler_count(s);
        joule_sampler_free(s);
    }
    joule_sensor_set_free(set);
    return 100.0 * (c1 - c0) / ((double)(t1 - t0) * 1e-9);
}

static void make_rapl_fixture(const char *root)
{
    const char *zones[][2] = {{"intel-rapl:0", "package-0"},
                              {"intel-rapl:0:0", "core"},
                              {"intel-rapl:0:1", "uncore"},
                              {"intel-rapl:0:2", "dram"}};
    for (int i = 0; i < 4; i++) {
        char d[600], f[700];
        snprintf(d, sizeof d, "%s/class/powercap/%s", root, zones[i][0]);
        joule_mkdirs(d);
        snprintf(f, sizeof f, "%s/name", d);
        joule_write_file_atomic(f, zones[i][1], strlen(zones[i][1]));
        snprintf(f, sizeof f, "%s/energy_uj", d);
        joule_write_file_atomic(f, "123456789", 9);
        snprintf(f, sizeof f, "%s/max_energy_range_uj", d);
        joule_write_file_atomic(f, "262143328850", 12);
    }
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 5.0;
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    if (secs <= 0) secs = 5.0;
    if (runs < 1 || runs > 15) runs = 3;
    char root[] = "/tmp/joule-bench-sysfs-XXXXXX";
    if (!mkdtemp(root)) return 1;
    make_rapl_fixture(root);

    struct joule_sensor_params real = joule_sensor_default_params();
    struct joule_sensor_params fix = joule_sensor_default_params();
    fix.sysfs_root = root;
    fix.nvml_lib = "/nonexistent";
    struct {
        const char *what, *list;
        const struct joule_sensor_params *p;
    } sets[] = {{"all (this machine)", "all", &real}, {"rapl x4 + procfs (fixture)", "rapl", &fix}};
    const int64_t intervals[] = {0, 100000000LL, 10000000LL};

    printf("%-28s %-9s %10s %12s %10s\n", "sensors", "rate", "samples", "cpu % core", "us/sample");
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < 3; i++) {
            double v[15];
            size_t n = 0;
            for (int r = 0; r < runs; r++)
                v[r] = run_once(sets[k].list, sets[k].p, intervals[i], secs, &n);
            qsort(v, (size_t)runs, sizeof *v, cmp_d);
            double med = v[runs / 2];
            const char *rate = intervals[i] == 0             ? "none"
                               : intervals[i] == 100000000LL ? "10 Hz"
                                                             : "100 Hz";
            double hz = intervals[i] ? 1e9 / (double)intervals[i] : 0;
            char us[32] = "-";
            if (hz > 0) snprintf(us, sizeof us, "%.1f", med / 100.0 / hz * 1e6);
            printf("%-28s %-9s %10zu %12.4f %10s\n", sets[k].what, rate, intervals[i] ? n : 0, med,
                   us);
            fflush(stdout);
        }
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return 0;
}
