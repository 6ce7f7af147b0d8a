#include "sensor_cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int parse_int(const char *arg, const char *what, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || v < lo || v > hi) {
        fprintf(stderr, "joule: %s must be an integer in %d..%d (got '%s')\n", what, lo, hi, arg);
        return -1;
    }
    *out = (int)v;
    return 1;
}

static int parse_pos(const char *arg, const char *what, double *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !(v > 0) || !isfinite(v)) {
        fprintf(stderr, "joule: %s must be a positive number (got '%s')\n", what, arg);
        return -1;
    }
    *out = v;
    return 1;
}

int sensor_cli_option(int opt, const char *arg, struct joule_sensor_params *p)
{
    switch (opt) {
    case 1000:
        p->netio_url = arg;
        return 1;
    case 1001:
        return parse_int(arg, "--netio-output", 1, 1000000, &p->netio_output);
    case 1002:
        p->netio_user = arg;
        return 1;
    case 1003:
        return parse_int(arg, "--netio-timeout-ms", 1, 600000, &p->netio_timeout_ms);
    case 1004:
        return parse_int(arg, "--netio-interval-ms", 10, 3600000, &p->netio_interval_ms);
    case 1005:
        return parse_pos(arg, "--tdp-w", &p->cpu_tdp_w);
    case 1006:
        return parse_pos(arg, "--ram-w-per-gb", &p->ram_w_per_gb);
    }
    return 0;
}

void sensor_cli_json_num(cJSON *obj, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(obj, key, v);
    else
        cJSON_AddNullToObject(obj, key);
}

void sensor_cli_json_meanmax(cJSON *obj, const char *key, double mean, double max)
{
    cJSON *o = cJSON_AddObjectToObject(obj, key);
    if (!o) return;
    sensor_cli_json_num(o, "mean", mean);
    sensor_cli_json_num(o, "max", max);
}

void sensor_cli_json_print(cJSON *doc)
{
    char *s = cJSON_Print(doc);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        cJSON_free(s);
    }
    cJSON_Delete(doc);
}
