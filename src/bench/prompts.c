/* The prompts a campaign sends: JSONL with "prompt" (joule dataset) or
 * "new_prompt" (the study's RandomHumanEval file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_impl.h"
#include "util/fileio.h"
#include "util/json.h"

void bench_prompts_free(struct bench_prompt *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i].text);
    free(p);
}

enum joule_status bench_prompts_load(const char *path, int limit, struct bench_prompt **out,
                                     size_t *n_out)
{
    char *text = NULL;
    size_t len = 0;
    enum joule_status st = joule_read_file(path, (size_t)1 << 30, &text, &len);
    if (st != JOULE_OK) return st;
    st = bench_prompts_parse(text, path, limit, out, n_out);
    free(text);
    return st;
}

enum joule_status bench_prompts_parse(char *text, const char *path, int limit,
                                      struct bench_prompt **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    enum joule_status st = JOULE_OK;
    struct bench_prompt *v = NULL;
    size_t n = 0, cap = 0;
    int line_no = 0;
    char *line = text;
    while (st == JOULE_OK && line && *line && (limit <= 0 || n < (size_t)limit)) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        line_no++;
        char *p = line;
        line = nl ? nl + 1 : NULL;
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (!*p) continue;
        cJSON *j = cJSON_Parse(p);
        const char *prompt = NULL;
        if (!cJSON_IsObject(j)) {
            st = joule_errorf(JOULE_ERR_FORMAT, "%s:%d: not a JSON object", path, line_no);
        } else if (joule_json_has_nul_escape(p, strlen(p))) { /* cJSON cuts strings at a NUL */
            st = joule_errorf(JOULE_ERR_FORMAT, "%s:%d: a string holds NUL (\\u0000)", path,
                              line_no);
        } else {
            prompt = joule_json_str(j, "prompt", NULL);
            if (!prompt) prompt = joule_json_str(j, "new_prompt", NULL);
            if (!prompt || !*prompt)
                st = joule_errorf(JOULE_ERR_FORMAT,
                                  "%s:%d: no non-empty \"prompt\" or \"new_prompt\" string", path,
                                  line_no);
        }
        if (st == JOULE_OK && n == cap) {
            cap = cap ? 2 * cap : 64;
            struct bench_prompt *nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                st = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
            else
                v = nv;
        }
        if (st == JOULE_OK) {
            struct bench_prompt *q = &v[n];
            memset(q, 0, sizeof *q);
            const char *tid = joule_json_str(j, "task_id", NULL);
            if (tid)
                snprintf(q->task_id, sizeof q->task_id, "%s", tid);
            else
                snprintf(q->task_id, sizeof q->task_id, "line/%d", line_no);
            q->n_tokens = (int)joule_json_int(j, "n_tokens", -1);
            q->text = strdup(prompt);
            if (!q->text)
                st = joule_errorf(JOULE_ERR_NOMEM, "out of memory");
            else
                n++;
        }
        cJSON_Delete(j);
    }
    if (st == JOULE_OK && n == 0) st = joule_errorf(JOULE_ERR_FORMAT, "%s: no prompts", path);
    if (st != JOULE_OK) {
        bench_prompts_free(v, n);
        return st;
    }
    *out = v;
    *n_out = n;
    return JOULE_OK;
}
