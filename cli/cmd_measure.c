/* joule measure: run a command and report the energy and resources it used; or summarise a
 * study-style EnergiBridge / NETIO log the same way. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "joule/sensor.h"
#include "sensor_cli.h"
#include "util/clock.h"
#include "util/fileio.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: joule measure [--sensors LIST] [--interval-ms N] [--csv FILE] [--json]\n"
            "                     [options] -- CMD ARGS...\n"
            "       joule measure [--json] --read-energibridge FILE | --read-netio FILE\n\n"
            "Run CMD while sampling every energy/resource source, then report energy per source\n"
            "and in total, duration, CPU %% (system and CMD's process tree), peak RSS, RAM %%,\n"
            "GPU utilisation and memory, the number of samples and their coverage. Exits with\n"
            "CMD's exit code (128+N when a signal N ended it). ^C and SIGTERM/SIGHUP reach CMD;\n"
            "joule measure stays to report.\n\n"
            "  --sensors LIST         all (default) or a comma list of rapl,perf,nvml,procfs,\n"
            "                         netio,estimate\n"
            "  --interval-ms N        sampling interval, 1..60000 (default 100 = 10 Hz)\n"
            "  --csv FILE             write the time series, one row per sample (columns in\n"
            "                         README.md)\n"
            "  --json                 one JSON object instead of the table\n"
            "  --read-energibridge F  summarise an EnergiBridge CSV instead of running a command\n"
            "  --read-netio F         summarise a NETIO wattmeter log (the study's "
            "CSV)\n" SENSOR_CLI_HELP);
}

/* SIGTERM/SIGHUP to joule measure go on to CMD, so the report still comes when CMD ends. */
static volatile sig_atomic_t g_child_pid;
static void forward_signal(int sig)
{
    if (g_child_pid > 0) kill((pid_t)g_child_pid, sig);
}

/* ---- logs ------------------------------------------------------------------------------ */

static int report_logs(const char *path, int netio, int json)
{
    char *text = NULL;
    size_t len = 0;
    if (joule_read_file(path, (size_t)1 << 30, &text, &len) != JOULE_OK) {
        fprintf(stderr, "joule measure: %s\n", joule_last_error());
        return 2;
    }
    struct joule_log_summary sum[64];
    size_t n = 0;
    enum joule_status st;
    if (netio) {
        st = joule_log_parse_netio(text, len, sum, 64, &n);
    } else {
        st = joule_log_parse_energibridge(text, len, &sum[0]);
        n = 1;
    }
    free(text);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule measure: %s: %s\n", path, joule_last_error());
        return 2;
    }
    double dur = 0, total = 0;
    size_t samples = 0;
    for (size_t i = 0; i < n; i++) {
        if (sum[i].duration_s > dur) dur = sum[i].duration_s;
        total += sum[i].energy_j;
        samples += sum[i].samples;
    }
    if (json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "log", path);
        cJSON_AddStringToObject(doc, "format", netio ? "netio" : "energibridge");
        sensor_cli_json_num(doc, "duration_s", dur);
        cJSON *e = cJSON_AddObjectToObject(doc, "energy_j");
        for (size_t i = 0; i < n; i++)
            sensor_cli_json_num(e, sum[i].source, sum[i].energy_j);
        sensor_cli_json_num(e, "total", total);
        cJSON_AddBoolToObject(doc, "estimated", 0);
        if (netio) {
            cJSON *c = cJSON_AddObjectToObject(doc, "counter_energy_j");
            for (size_t i = 0; i < n; i++)
                sensor_cli_json_num(c, sum[i].source, sum[i].counter_energy_j);
        }
        cJSON *pw = cJSON_AddObjectToObject(doc, "power_w");
        for (size_t i = 0; i < n; i++)
            sensor_cli_json_meanmax(pw, sum[i].source, sum[i].power_mean_w, sum[i].power_max_w);
        sensor_cli_json_meanmax(doc, "cpu_percent", sum[0].cpu_percent_mean,
                                sum[0].cpu_percent_max);
        sensor_cli_json_meanmax(doc, "ram_percent", sum[0].ram_percent_mean,
                                sum[0].ram_percent_max);
        cJSON_AddNumberToObject(doc, "samples", (double)samples);
        cJSON_AddNumberToObject(doc, "coverage", 1.0);
        sensor_cli_json_print(doc);
        return 0;
    }
    printf("log         %s (%s)\n", path, netio ? "NETIO wattmeter" : "EnergiBridge");
    printf("duration    %.3f s\n", dur);
    for (size_t i = 0; i < n; i++) {
        printf("%-18s %12.3f J  mean %.2f W  max %.2f W  %zu samples", sum[i].source,
               sum[i].energy_j, sum[i].power_mean_w, sum[i].power_max_w, sum[i].samples);
        if (netio) printf("  (Energy counter: %.0f J)", sum[i].counter_energy_j);
        printf("\n");
    }
    if (n > 1) printf("%-18s %12.3f J\n", "total", total);
    if (!netio)
        printf("cpu         mean %.1f %%  max %.1f %%\nram         mean %.1f %%  max %.1f %%\n",
               sum[0].cpu_percent_mean, sum[0].cpu_percent_max, sum[0].ram_percent_mean,
               sum[0].ram_percent_max);
    return 0;
}

/* ---- CSV -------------------------------------------------------------------------------- */

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.9g", v);
    else
        fputs(",", f);
}

static int write_csv(const char *path, struct joule_sampler *smp, struct joule_sensor_set *set,
                     int64_t t0)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "joule measure: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = joule_sensor_set_count(set);
    fputs("t_s,phase,cpu_percent,proc_cpu_percent,proc_rss_bytes,ram_percent,ram_used_bytes", f);
    for (size_t i = 0; i < n; i++) {
        const struct joule_sensor_info *in = joule_sensor_set_info(set, i);
        if (!in->has_energy) continue;
        fprintf(f, ",%s_energy_j,%s_power_w", in->name, in->name);
        if (in->kind == JOULE_SENSOR_KIND_NVML)
            fprintf(f, ",%s_util_percent,%s_mem_util_percent,%s_mem_used_bytes", in->name, in->name,
                    in->name);
        if (in->kind == JOULE_SENSOR_KIND_NETIO)
            fprintf(f, ",%s_current_ma,%s_power_factor", in->name, in->name);
    }
    fputc('\n', f);
    size_t ns = joule_sampler_count(smp), nm = joule_sampler_mark_count(smp), m = 0;
    const char *phase = "";
    for (size_t k = 0; k < ns; k++) {
        struct joule_sample s;
        if (joule_sampler_get(smp, k, &s) != JOULE_OK) break;
        int64_t mt;
        const char *label;
        while (m < nm && joule_sampler_mark_get(smp, m, &mt, &label) == JOULE_OK && mt <= s.t_ns) {
            phase = label;
            m++;
        }
        fprintf(f, "%.6f,%s", (double)(s.t_ns - t0) * 1e-9, phase);
        csv_num(f, s.cpu_percent);
        csv_num(f, s.proc_cpu_percent);
        fprintf(f, ",%lld", (long long)s.proc_rss_bytes);
        csv_num(f, s.ram_percent);
        fprintf(f, ",%lld", (long long)s.ram_used_bytes);
        for (size_t i = 0; i < n; i++) {
            const struct joule_sensor_info *in = joule_sensor_set_info(set, i);
            if (!in->has_energy) continue;
            const struct joule_sensor_reading *r = &s.src[i];
            csv_num(f, r->energy_j);
            csv_num(f, r->ok ? r->power_w : NAN);
            if (in->kind == JOULE_SENSOR_KIND_NVML) {
                csv_num(f, r->util_percent);
                csv_num(f, r->mem_util_percent);
                csv_num(f, r->mem_used_bytes);
            }
            if (in->kind == JOULE_SENSOR_KIND_NETIO) {
                csv_num(f, r->current_ma);
                csv_num(f, r->power_factor);
            }
        }
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "joule measure: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- report ----------------------------------------------------------------------------- */

static void report(struct joule_sampler *smp, struct joule_sensor_set *set,
                   const struct joule_measure_summary *sum, const struct joule_sensor_energy *e,
                   int exit_code, int json, int64_t interval_ms)
{
    size_t n = joule_sensor_set_count(set);
    if (json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "exit_code", exit_code);
        sensor_cli_json_num(doc, "duration_s", sum->duration_s);
        cJSON *ej = cJSON_AddObjectToObject(doc, "energy_j");
        for (size_t i = 0; i < n; i++) {
            const struct joule_sensor_info *in = joule_sensor_set_info(set, i);
            if (!in->has_energy || in->state != JOULE_SENSOR_OK) continue;
            sensor_cli_json_num(ej, in->name, e[i].energy_j);
        }
        sensor_cli_json_num(ej, "total", sum->total_j);
        cJSON_AddBoolToObject(doc, "estimated", sum->estimated);
        sensor_cli_json_meanmax(doc, "cpu_percent", sum->cpu_percent_mean, sum->cpu_percent_max);
        sensor_cli_json_meanmax(doc, "process_cpu_percent", sum->proc_cpu_percent_mean,
                                sum->proc_cpu_percent_max);
        cJSON_AddNumberToObject(doc, "rss_max_bytes", (double)sum->rss_max_bytes);
        sensor_cli_json_meanmax(doc, "ram_percent", sum->ram_percent_mean, sum->ram_percent_max);
        cJSON *g = cJSON_AddObjectToObject(doc, "gpu");
        sensor_cli_json_meanmax(g, "util_percent", sum->gpu_util_mean, sum->gpu_util_max);
        sensor_cli_json_meanmax(g, "mem_util_percent", sum->gpu_mem_util_mean,
                                sum->gpu_mem_util_max);
        sensor_cli_json_num(g, "mem_used_max_bytes", sum->gpu_mem_used_max_bytes);
        cJSON_AddNumberToObject(doc, "samples", (double)sum->samples);
        sensor_cli_json_num(doc, "coverage", sum->coverage);
        cJSON_AddNumberToObject(doc, "interval_ms", (double)interval_ms);
        cJSON *arr = cJSON_AddArrayToObject(doc, "sources");
        for (size_t i = 0; i < n; i++) {
            const struct joule_sensor_info *in = joule_sensor_set_info(set, i);
            char reason[1024];
            enum joule_sensor_state st = joule_sampler_source_state(smp, i, reason, sizeof reason);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", in->name);
            cJSON_AddStringToObject(o, "state", joule_sensor_state_str(st));
            cJSON_AddStringToObject(o, "reason", reason);
            cJSON_AddBoolToObject(o, "estimated", in->estimated);
            cJSON_AddBoolToObject(o, "in_total", in->in_total);
            if (in->has_energy && in->state == JOULE_SENSOR_OK) {
                sensor_cli_json_num(o, "energy_j", e[i].energy_j);
                sensor_cli_json_num(o, "power_w_mean", e[i].power_w);
                sensor_cli_json_num(o, "coverage", e[i].coverage);
            }
            cJSON_AddItemToArray(arr, o);
        }
        sensor_cli_json_print(doc);
        return;
    }
    fprintf(stderr, "\n-- joule measure --------------------------------------------\n");
    fprintf(stderr, "exit code   %d\nduration    %.3f s\n", exit_code, sum->duration_s);
    for (size_t i = 0; i < n; i++) {
        const struct joule_sensor_info *in = joule_sensor_set_info(set, i);
        if (!in->has_energy || in->state != JOULE_SENSOR_OK) continue;
        char reason[1024];
        enum joule_sensor_state st = joule_sampler_source_state(smp, i, reason, sizeof reason);
        fprintf(stderr, "%-22s %12.3f J  %8.2f W  coverage %.3f%s%s%s%s\n", in->name, e[i].energy_j,
                e[i].power_w, e[i].coverage, in->in_total ? "  [total]" : "",
                in->estimated ? "  (estimated)" : "", st != JOULE_SENSOR_OK ? "  " : "",
                st != JOULE_SENSOR_OK ? reason : "");
    }
    fprintf(stderr, "%-22s %12.3f J%s\n", "total", sum->total_j,
            sum->estimated ? "  (estimated)" : "");
    fprintf(stderr, "cpu         mean %.1f %%  max %.1f %%  (system)\n", sum->cpu_percent_mean,
            sum->cpu_percent_max);
    fprintf(stderr, "process     mean %.1f %%  max %.1f %% of one core, peak RSS %.1f MiB\n",
            sum->proc_cpu_percent_mean, sum->proc_cpu_percent_max,
            (double)sum->rss_max_bytes / 1048576.0);
    fprintf(stderr, "ram         mean %.1f %%  max %.1f %%\n", sum->ram_percent_mean,
            sum->ram_percent_max);
    if (isfinite(sum->gpu_util_mean))
        fprintf(stderr, "gpu         util mean %.1f %% max %.1f %%, memory used max %.1f MiB\n",
                sum->gpu_util_mean, sum->gpu_util_max, sum->gpu_mem_used_max_bytes / 1048576.0);
    fprintf(stderr, "samples     %zu every %lld ms, coverage %.3f\n", sum->samples,
            (long long)interval_ms, sum->coverage);
}

int joule_cmd_measure(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"sensors", required_argument, NULL, 's'},
                                         {"interval-ms", required_argument, NULL, 'i'},
                                         {"csv", required_argument, NULL, 'c'},
                                         {"read-energibridge", required_argument, NULL, 'E'},
                                         {"read-netio", required_argument, NULL, 'N'},
                                         SENSOR_CLI_LONG_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    struct joule_sensor_params sp = joule_sensor_default_params();
    const char *list = "all", *csv = NULL, *eb = NULL, *nl = NULL;
    int json = 0;
    long interval_ms = 100;
    optind = 1;
    int c;
    /* "+": stop at the first non-option so CMD's own options are left alone */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        int r = sensor_cli_option(c, optarg, &sp);
        if (r < 0) return 2;
        if (r > 0) continue;
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'j':
            json = 1;
            break;
        case 's':
            list = optarg;
            break;
        case 'c':
            csv = optarg;
            break;
        case 'E':
            eb = optarg;
            break;
        case 'N':
            nl = optarg;
            break;
        case 'i': {
            char *end;
            interval_ms = strtol(optarg, &end, 10);
            if (end == optarg || *end || interval_ms < 1 || interval_ms > 60000) {
                fprintf(stderr, "joule measure: --interval-ms must be 1..60000\n");
                return 2;
            }
            break;
        }
        default:
            usage(stderr);
            return 2;
        }
    }
    if (eb || nl) {
        if (eb && nl) {
            fprintf(stderr, "joule measure: give one of --read-energibridge, --read-netio\n");
            return 2;
        }
        if (optind < argc) {
            fprintf(stderr, "joule measure: no command with --read-*\n");
            return 2;
        }
        return report_logs(eb ? eb : nl, nl != NULL, json);
    }
    if (optind >= argc) {
        fprintf(stderr, "joule measure: no command given (joule measure [options] -- CMD ...)\n");
        return 2;
    }
    char **cmd = argv + optind;

    struct joule_sensor_set *set;
    if (joule_sensor_set_open(list, &sp, &set) != JOULE_OK) {
        fprintf(stderr, "joule measure: %s\n", joule_last_error());
        return 2;
    }
    struct joule_sampler_params pp = joule_sampler_default_params();
    pp.interval_ns = interval_ms * 1000000LL;
    struct joule_sampler *smp;
    if (joule_sampler_start(set, &pp, &smp) != JOULE_OK) {
        fprintf(stderr, "joule measure: %s\n", joule_last_error());
        joule_sensor_set_free(set);
        return 2;
    }
    /* like system(): the command gets ^C, we stay to report */
    struct sigaction ign = {0}, fwd = {0}, old_int, old_quit, old_term, old_hup;
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    fwd.sa_handler = forward_signal;
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    sigaction(SIGTERM, &fwd, &old_term);
    sigaction(SIGHUP, &fwd, &old_hup);
    fflush(NULL);
    joule_sampler_mark(smp, "run");
    int64_t t0 = joule_sampler_sample_now(smp);
    pid_t pid = fork();
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
        execvp(cmd[0], cmd);
        fprintf(stderr, "joule measure: %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    int exit_code;
    if (pid < 0) {
        fprintf(stderr, "joule measure: fork: %s\n", strerror(errno));
        exit_code = 126;
    } else {
        g_child_pid = pid;
        joule_sampler_watch_pid(smp, (int)pid);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
                    : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                          : 1;
    }
    int64_t t1 = joule_sampler_sample_now(smp);
    joule_sampler_mark(smp, "done");
    joule_sampler_stop(smp);
    g_child_pid = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);

    size_t n = joule_sensor_set_count(set);
    struct joule_sensor_energy *e = calloc(n ? n : 1, sizeof *e);
    struct joule_measure_summary sum;
    if (!e || joule_sampler_summarize(smp, t0, t1, &sum, e) != JOULE_OK) {
        fprintf(stderr, "joule measure: %s\n", joule_last_error());
    } else {
        report(smp, set, &sum, e, exit_code, json, interval_ms);
        if (csv && write_csv(csv, smp, set, t0) != 0 && exit_code == 0) exit_code = 2;
    }
    free(e);
    joule_sampler_free(smp);
    joule_sensor_set_free(set);
    return exit_code;
}
