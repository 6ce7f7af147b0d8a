#include "model_fixtures.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "util/fileio.h"
#include "util/json.h"

const char *const test_model_fixtures[] = {
    "gpt2",
    "gpt2_codeparrot_flags",
    "gpt_bigcode",
    "gpt_neox",
    "bloom",
    "llama",
    "llama_float16",
    "llama_bfloat16",
    "gemma",
    "phi",
    /* variants made for the native engine (see PROVENANCE.md) */
    "gpt_neox_sequential",
    "bloom_6heads_postln",
    "gpt_bigcode_mha",
    "llama_bias_mqa",
    NULL,
};

int test_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static size_t read_ints(const cJSON *arr, int32_t *out, size_t cap)
{
    size_t n = 0;
    for (const cJSON *v = arr ? arr->child : NULL; v && n < cap; v = v->next)
        out[n++] = (int32_t)v->valuedouble;
    return n;
}

int test_reference_load(const char *name, struct test_reference *r)
{
    memset(r, 0, sizeof *r);
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s/reference.json", JOULE_TEST_FIXTURES, name);
    cJSON *root = NULL;
    if (joule_json_load_file(path, (size_t)64 << 20, &root) != 0) return -1;
    r->n_prompt = read_ints(cJSON_GetObjectItem(root, "prompt_ids"), r->prompt, 64);
    r->n_greedy = read_ints(cJSON_GetObjectItem(root, "greedy_ids"), r->greedy, 64);
    const cJSON *lg = cJSON_GetObjectItem(root, "logits");
    r->n_logits = (size_t)cJSON_GetArraySize(lg);
    r->logits = malloc((r->n_logits ? r->n_logits : 1) * sizeof *r->logits);
    size_t i = 0;
    for (const cJSON *v = lg ? lg->child : NULL; v && r->logits; v = v->next)
        r->logits[i++] = (float)v->valuedouble;
    snprintf(r->dtype, sizeof r->dtype, "%s", joule_json_str(root, "dtype", "float32"));
    cJSON_Delete(root);
    return r->logits && r->n_prompt && r->n_greedy ? 0 : -1;
}

void test_reference_free(struct test_reference *r)
{
    free(r->logits);
    r->logits = NULL;
}

const char *test_model_copy(const char *name, const char *config_file)
{
    static char dir[4096];
    static int counter;
    char src[4096], from[4096 + 256], to[4096 + 256];
    snprintf(src, sizeof src, "%s/models/%s", JOULE_TEST_FIXTURES, name);
    snprintf(dir, sizeof dir, "%s/copy%d-%s", test_tmpdir(), counter++, name);
    if (mkdir(dir, 0755) != 0) return NULL;
    DIR *d = opendir(src);
    if (!d) return NULL;
    struct dirent *de;
    int ok = 1;
    while ((de = readdir(d)) && ok) {
        const char *n = de->d_name;
        snprintf(from, sizeof from, "%s/%s", src, n);
        if (strstr(n, ".safetensors")) {
            snprintf(to, sizeof to, "%s/%s", dir, n);
            ok = symlink(from, to) == 0;
        }
    }
    closedir(d);
    snprintf(from, sizeof from, "%s/%s", src, config_file);
    snprintf(to, sizeof to, "%s/config.json", dir);
    char *text = NULL;
    size_t len = 0;
    if (!ok || joule_read_file(from, 1 << 20, &text, &len) != 0) return NULL;
    ok = joule_write_file_atomic(to, text, len) == 0;
    free(text);
    return ok ? dir : NULL;
}
