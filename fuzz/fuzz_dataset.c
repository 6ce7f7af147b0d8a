/* Fuzz target: `joule dataset` — the HumanEval-style JSONL reader (plain or gzip; one object per
 * line with "task_id" and "prompt"/"new_prompt"; lines of any length), the random token window
 * of each prompt and the prompts.jsonl it writes. The input file is the fuzz input, written to a
 * scratch file. The first byte picks the tokenizer (bit 0: byte-level BPE or SentencePiece-style,
 * see tokenizers.h), the field (bit 1: "new_prompt" forced) and the window (bits 2-4: max - min);
 * the rest is the file. A build that succeeds must write exactly n lines, each a JSON object with
 * the task id, a prompt and its token count inside the window. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "joule/dataset.h"
#include "joule/tokenizer.h"
#include "tokenizers.h"
#include "util/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct joule_tokenizer *g_tok[2];
static char g_in[96], g_out[96];

static void cleanup(void)
{
    unlink(g_in);
    unlink(g_out);
    for (int i = 0; i < 2; i++)
        joule_tokenizer_free(g_tok[i]);
}

static void setup(void)
{
    char *bl = bytelevel_json();
    if (!bl || joule_tokenizer_load_from_memory(bl, strlen(bl), &g_tok[0]) != JOULE_OK) abort();
    free(bl);
    if (joule_tokenizer_load_from_memory(SP_JSON, sizeof SP_JSON - 1, &g_tok[1]) != JOULE_OK)
        abort();
    const char *tmp = getenv("TMPDIR");
    if (!tmp || strlen(tmp) > 40) tmp = "/tmp";
    snprintf(g_in, sizeof g_in, "%s/joule-fuzz-dataset-%ld.jsonl", tmp, (long)getpid());
    snprintf(g_out, sizeof g_out, "%s/joule-fuzz-dataset-%ld.out", tmp, (long)getpid());
    atexit(cleanup);
}

static void check_output(const struct joule_dataset_params *p, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    if (joule_read_file(g_out, (size_t)1 << 30, &text, &len) != JOULE_OK) abort();
    size_t lines = 0;
    for (char *line = text, *nl; line < text + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(text + len - line));
        if (!nl) abort(); /* every line ends */
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(nl - line));
        const cJSON *nt = cJSON_GetObjectItemCaseSensitive(j, "n_tokens");
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "task_id")) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "prompt")) || !cJSON_IsNumber(nt) ||
            nt->valuedouble < 0 || nt->valuedouble > p->max_tokens)
            abort();
        cJSON_Delete(j);
        lines++;
    }
    if (lines != n) abort();
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_tok[0]) setup();
    if (size < 1) return 0;
    FILE *f = fopen(g_in, "wb");
    if (!f) abort();
    if (fwrite(data + 1, 1, size - 1, f) != size - 1) abort();
    fclose(f);
    unlink(g_out);
    struct joule_dataset_params p = joule_dataset_default_params();
    p.min_tokens = 1 + (data[0] >> 5);
    p.max_tokens = p.min_tokens + ((data[0] >> 2) & 7);
    p.seed = size;
    if (data[0] & 2) p.field = "new_prompt";
    size_t n = 0;
    if (joule_dataset_build(g_in, g_tok[data[0] & 1], &p, g_out, &n) == JOULE_OK) {
        if (n == 0) abort();
        check_output(&p, n);
    } else if (!joule_last_error()[0] || access(g_out, F_OK) == 0) {
        abort(); /* a failure says why and writes nothing */
    }
    return 0;
}
