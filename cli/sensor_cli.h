/* Options and output shared by `joule sensors` and `joule measure`. */
#ifndef JOULE_CLI_SENSOR_CLI_H
#define JOULE_CLI_SENSOR_CLI_H

#include <getopt.h>

#include <cjson/cJSON.h>

#include "joule/sensor.h"

/* Long options common to both commands (values 1000..1099), spliced into their tables. */
#define SENSOR_CLI_LONG_OPTIONS                                                                    \
    {"netio-url", required_argument, NULL, 1000}, {"netio-output", required_argument, NULL, 1001}, \
        {"netio-user", required_argument, NULL, 1002},                                             \
        {"netio-timeout-ms", required_argument, NULL, 1003},                                       \
        {"netio-interval-ms", required_argument, NULL, 1004},                                      \
        {"tdp-w", required_argument, NULL, 1005},                                                  \
    {                                                                                              \
        "ram-w-per-gb", required_argument, NULL, 1006                                              \
    }

#define SENSOR_CLI_HELP                                                                            \
    "  --netio-url URL        NETIO PowerBOX base URL (or $JOULE_NETIO_URL); password from\n"      \
    "                         $JOULE_NETIO_PASSWORD\n"                                             \
    "  --netio-output N       record only output N (default: every output)\n"                      \
    "  --netio-user USER      basic-auth user (or $JOULE_NETIO_USER)\n"                            \
    "  --netio-timeout-ms N   per request (default 1000)\n"                                        \
    "  --netio-interval-ms N  poll period of the box (default 1000)\n"                             \
    "  --tdp-w W              CPU TDP for the estimate (default $JOULE_CPU_TDP_W or 85)\n"         \
    "  --ram-w-per-gb W       RAM power for the estimate (default 0.3725)\n"                       \
    "environment: JOULE_SYSFS_ROOT, JOULE_PROCFS_ROOT, JOULE_NVML_LIB point the readers\n"         \
    "at other trees or another NVML library (tests use them).\n"

/* Apply one of the common options; returns 1 if `opt` was one, 0 if not, -1 on a bad value
 * (message printed). */
int sensor_cli_option(int opt, const char *arg, struct joule_sensor_params *p);

/* Add a number or null (NaN) to a JSON object. */
void sensor_cli_json_num(cJSON *obj, const char *key, double v);
/* {"mean": a, "max": b} */
void sensor_cli_json_meanmax(cJSON *obj, const char *key, double mean, double max);
/* Print a JSON document to stdout, then free it. */
void sensor_cli_json_print(cJSON *doc);

#endif
