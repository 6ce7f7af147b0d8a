/* Tokenizer benchmark: tokenizer.json load time and encode throughput (MB/s) on
 * the HumanEval prompts and canonical solutions, for each fixture tokenizer.
 *
 *   build/bench_tokenizer [REPO_ROOT] [RUNS]
 *
 * Reads REPO_ROOT/data/HumanEval.jsonl.gz (zlib) and
 * REPO_ROOT/tests/fixtures/tokenizers/<name>/tokenizer.json. Prints the median of
 * RUNS (default 7) runs; one thread. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "joule/tokenizer.h"
#include "util/clock.h"

static const char *const NAMES[] = {"gpt2",   "gpt-neox-20b",     "phi-2",
                                    "llama2", "llama2-metaspace", "tiny_bytelevel_512"};

/* CPU time of this process: the machine is shared, so wall time alone would
 * measure the neighbours too. Both are reported. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : ".";
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (runs < 1 || runs > 100) runs = 7;
    char path[4096];
    snprintf(path, sizeof path, "%s/data/HumanEval.jsonl.gz", root);
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        fprintf(stderr, "bench_tokenizer: cannot open %s\n", path);
        return 1;
    }
    char **texts = NULL;
    size_t ntexts = 0, bytes = 0;
    static char line[1 << 20];
    while (gzgets(gz, line, sizeof line)) {
        cJSON *j = cJSON_Parse(line);
        const char *keys[] = {"prompt", "canonical_solution"};
        for (int k = 0; j && k < 2; k++) {
            const cJSON *v = cJSON_GetObjectItem(j, keys[k]);
            if (!cJSON_IsString(v)) continue;
            char **nt = realloc(texts, (ntexts + 1) * sizeof *texts);
            if (!nt) return 1;
            texts = nt;
            texts[ntexts++] = strdup(v->valuestring);
            bytes += strlen(v->valuestring);
        }
        cJSON_Delete(j);
    }
    gzclose(gz);
    printf("HumanEval: %zu texts, %zu bytes; median of %d runs, one thread\n", ntexts, bytes, runs);
    printf("%-20s %9s %9s %11s %11s %8s %8s\n", "tokenizer", "load ms", "(cpu)", "encode MB/s",
           "(cpu)", "tokens", "B/token");
    int32_t *ids = malloc(1 << 20);
    for (size_t k = 0; k < sizeof NAMES / sizeof *NAMES; k++) {
        snprintf(path, sizeof path, "%s/tests/fixtures/tokenizers/%s/tokenizer.json", root,
                 NAMES[k]);
        uint64_t load[100], enc[100], loadc[100], encc[100];
        struct joule_tokenizer *t = NULL;
        for (int r = 0; r < runs; r++) {
            joule_tokenizer_free(t);
            t = NULL;
            uint64_t t0 = (uint64_t)joule_now_ns(), c0 = cpu_ns();
            if (joule_tokenizer_load(path, &t) != JOULE_OK) {
                fprintf(stderr, "%s: %s\n", NAMES[k], joule_last_error());
                return 1;
            }
            load[r] = (uint64_t)joule_now_ns() - t0;
            loadc[r] = cpu_ns() - c0;
        }
        size_t tokens = 0;
        for (int r = 0; r < runs; r++) {
            tokens = 0;
            uint64_t t0 = (uint64_t)joule_now_ns(), c0 = cpu_ns();
            for (size_t i = 0; i < ntexts; i++) {
                size_t n = 0;
                if (joule_tokenizer_encode(t, texts[i], strlen(texts[i]), 0, ids,
                                           (1 << 20) / sizeof *ids, &n) != JOULE_OK) {
                    fprintf(stderr, "%s: %s\n", NAMES[k], joule_last_error());
                    return 1;
                }
                tokens += n;
            }
            enc[r] = (uint64_t)joule_now_ns() - t0;
            encc[r] = cpu_ns() - c0;
        }
        double ms = (double)median(load, runs) / 1e6, msc = (double)median(loadc, runs) / 1e6;
        double mbs = (double)bytes / 1e6 / ((double)median(enc, runs) / 1e9);
        double mbsc = (double)bytes / 1e6 / ((double)median(encc, runs) / 1e9);
        printf("%-20s %9.1f %9.1f %11.2f %11.2f %8zu %8.2f\n", NAMES[k], ms, msc, mbs, mbsc, tokens,
               (double)bytes / (double)tokens);
        joule_tokenizer_free(t);
    }
    free(ids);
    for (size_t i = 0; i < ntexts; i++)
        free(texts[i]);
    free(texts);
    return 0;
}
