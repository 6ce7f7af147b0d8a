/* joule sensors: which energy and resource sources this machine has, and why not. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "joule/sensor.h"
#include "sensor_cli.h"
#include "util/clock.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: joule sensors [--json] [--sensors LIST] [--probe-ms N] [options]\n\n"
        "List every energy/resource source (RAPL, perf power PMU, NVML GPUs, /proc,\n"
        "NETIO wattmeter, estimate), whether it is available and, if not, why. The\n"
        "sources are sampled for --probe-ms (default 300) to show their power now.\n\n"
        "  --json                 one JSON object: {\"sources\": [...], \"cpu_counter\": bool}\n"
        "  --sensors LIST         all (default) or a comma list of rapl,perf,nvml,procfs,\n"
        "                         netio,estimate\n"
        "  --probe-ms N           sampling time for the power column (0 = none)\n" SENSOR_CLI_HELP);
}

int joule_cmd_sensors(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"sensors", required_argument, NULL, 's'},
                                         {"probe-ms", required_argument, NULL, 'p'},
                                         SENSOR_CLI_LONG_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    struct joule_sensor_params sp = joule_sensor_default_params();
    const char *list = "all";
    int json = 0;
    long probe_ms = 300;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
        case 'p': {
            char *end;
            probe_ms = strtol(optarg, &end, 10);
            if (end == optarg || *end || probe_ms < 0 || probe_ms > 60000) {
                fprintf(stderr, "joule sensors: --probe-ms must be 0..60000\n");
                return 2;
            }
            break;
        }
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "joule sensors: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct joule_sensor_set *set;
    if (joule_sensor_set_open(list, &sp, &set) != JOULE_OK) {
        fprintf(stderr, "joule sensors: %s\n", joule_last_error());
        return 2;
    }
    size_t n = joule_sensor_set_count(set);
    struct joule_sensor_energy *e = calloc(n ? n : 1, sizeof *e);
    struct joule_sampler *smp = NULL;
    if (e && probe_ms > 0) {
        struct joule_sampler_params pp = joule_sampler_default_params();
        pp.interval_ns = 50000000LL;
        if (joule_sampler_start(set, &pp, &smp) == JOULE_OK) {
            int64_t t0 = joule_now_ns();
            joule_sleep_ns(probe_ms * 1000000LL);
            int64_t t1 = joule_sampler_sample_now(smp);
            joule_sampler_stop(smp);
            joule_sampler_energy(smp, t0, t1, e, NULL, NULL);
        }
    }
    int rc = 0;
    if (json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(doc, "sources");
        for (size_t i = 0; i < n; i++) {
            const struct joule_sensor_info *in = joule_sensor_set_info(set, i);
            char reason[1024];
            enum joule_sensor_state st =
                smp ? joule_sampler_source_state(smp, i, reason, sizeof reason) : in->state;
            if (!smp) snprintf(reason, sizeof reason, "%s", in->reason);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", in->name);
            cJSON_AddStringToObject(o, "state", joule_sensor_state_str(st));
            cJSON_AddBoolToObject(o, "available", st == JOULE_SENSOR_OK);
            cJSON_AddStringToObject(o, "reason", reason);
            cJSON_AddStringToObject(o, "detail", in->detail);
            cJSON_AddBoolToObject(o, "energy", in->has_energy);
            cJSON_AddBoolToObject(o, "estimated", in->estimated);
            cJSON_AddBoolToObject(o, "in_total", in->in_total);
            sensor_cli_json_num(o, "max_power_w", in->max_power_w > 0 ? in->max_power_w : NAN);
            sensor_cli_json_num(o, "power_w",
                                e && smp && in->has_energy && st == JOULE_SENSOR_OK ? e[i].power_w
                                                                                    : NAN);
            cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddBoolToObject(doc, "cpu_counter", joule_sensor_set_has_cpu_counter(set));
        sensor_cli_json_print(doc);
    } else {
        printf("%-22s %-18s %-5s %-4s %9s  %s\n", "source", "state", "total", "est", "power_w",
               "detail / reason");
        for (size_t i = 0; i < n; i++) {
            const struct joule_sensor_info *in = joule_sensor_set_info(set, i);
            char reason[1024];
            enum joule_sensor_state st =
                smp ? joule_sampler_source_state(smp, i, reason, sizeof reason) : in->state;
            if (!smp) snprintf(reason, sizeof reason, "%s", in->reason);
            char pw[32] = "-";
            if (e && smp && in->has_energy && st == JOULE_SENSOR_OK && isfinite(e[i].power_w))
                snprintf(pw, sizeof pw, "%.2f", e[i].power_w);
            printf("%-22s %-18s %-5s %-4s %9s  %s\n", in->name, joule_sensor_state_str(st),
                   in->in_total ? "yes" : "-", in->estimated ? "yes" : "-", pw,
                   st == JOULE_SENSOR_OK ? in->detail : reason);
        }
        if (!joule_sensor_set_has_cpu_counter(set))
            printf("\nno CPU energy counter here: CPU energy will be estimated (estimate:cpu).\n");
    }
    joule_sampler_free(smp);
    joule_sensor_set_free(set);
    free(e);
    return rc;
}
