/* Fuzz the inputs of `joule bench`: campaign files (JSON settings) and prompt files (JSONL),
 * which must be accepted or refused with an error, never crash or leak. The first byte
 * picks the parser: even = campaign file, odd = prompts. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_impl.h"
#include "joule/bench.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    if (data[0] % 2 == 0) {
        struct joule_bench_settings *s = malloc(sizeof *s);
        if (s) {
            joule_bench_default_settings(s);
            if (joule_bench_settings_parse(text, size - 1, "fuzz/campaign.json", s) == JOULE_OK) {
                /* the canonical JSON stored with the results is valid JSON */
                char *j = joule_bench_settings_json(s);
                cJSON *back = j ? cJSON_Parse(j) : NULL;
                if (j && !cJSON_IsObject(back)) abort();
                cJSON_Delete(back);
                free(j);
            } else if (!joule_last_error()[0]) {
                abort(); /* a refusal says why */
            }
            free(s);
        }
    } else {
        struct bench_prompt *p = NULL;
        size_t n = 0;
        if (bench_prompts_parse(text, "fuzz.jsonl", 0, &p, &n) == JOULE_OK) {
            if (n == 0) abort();
            for (size_t i = 0; i < n; i++)
                if (!p[i].text || !p[i].text[0] || !memchr(p[i].task_id, 0, sizeof p[i].task_id))
                    abort(); /* every prompt has text and a terminated task id */
            bench_prompts_free(p, n);
        }
    }
    free(text);
    return 0;
}
