/* JSON form of a stats analysis (internal: report embeds it in stats.json). */
#ifndef JOULE_STATS_JSON_H
#define JOULE_STATS_JSON_H

#include <cjson/cJSON.h>

#include "joule/stats.h"

/* A number, or JSON null when v is not finite. */
cJSON *joule_stats_json_num(double v);
/* The analysis as a cJSON tree (caller frees with cJSON_Delete); NULL on allocation failure. */
cJSON *joule_stats_analysis_to_cjson(const struct joule_stats_analysis *a);

#endif
