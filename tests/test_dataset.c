/* joule dataset: window bounds, reproducibility, short prompts, bad input lines,
 * gzip input, and windows that are contiguous slices of the reference
 * (Hugging Face) tokenization of each HumanEval prompt. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zlib.h>

#include "joule/dataset.h"
#include "joule/tokenizer.h"
#include "test.h"
#include "util/fileio.h"
#include "util/json.h"

static struct joule_tokenizer *load_tok(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer.json", name);
    struct joule_tokenizer *t = NULL;
    if (joule_tokenizer_load(test_fixture(rel), &t) != JOULE_OK) {
        test_fail(__FILE__, __LINE__, "load %s: %s", name, joule_last_error());
        return NULL;
    }
    return t;
}

static const char *humaneval(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/data/HumanEval.jsonl.gz", JOULE_SOURCE_DIR);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    char *s = NULL;
    if (joule_read_file(path, (size_t)64 << 20, &s, len) != JOULE_OK) return NULL;
    return s;
}

static void test_bounds_and_slices(void)
{
    static const char *const names[] = {"gpt2", "llama2"};
    for (size_t k = 0; k < 2; k++) {
        struct joule_tokenizer *t = load_tok(names[k]);
        char rel[256];
        snprintf(rel, sizeof rel, "tokenizers/%s/golden.json", names[k]);
        cJSON *g = NULL;
        if (!t || joule_json_load_file(test_fixture(rel), (size_t)64 << 20, &g) != JOULE_OK) {
            joule_tokenizer_free(t);
            continue;
        }
        const cJSON *gids = cJSON_GetObjectItem(g, "ids");
        char out[512];
        snprintf(out, sizeof out, "%s/prompts_%s.jsonl", test_tmpdir(), names[k]);
        struct joule_dataset_params p = joule_dataset_default_params();
        p.seed = 1234;
        size_t n = 0;
        CHECK_OK(joule_dataset_build(humaneval(), t, &p, out, &n));
        CHECK_EQ_INT(n, 164);
        size_t len = 0, lines = 0, in_bounds = 0, slices = 0;
        int seen[16] = {0};
        char *text = slurp(out, &len), *save = NULL;
        for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
            cJSON *j = cJSON_Parse(l);
            int nt = (int)cJSON_GetObjectItem(j, "n_tokens")->valuedouble;
            const char *prompt = cJSON_GetObjectItem(j, "prompt")->valuestring;
            in_bounds += nt >= 10 && nt <= 15;
            if (nt >= 10 && nt <= 15) seen[nt] = 1;
            CHECK(cJSON_IsRaw(cJSON_GetObjectItem(j, "seed")) ||
                  cJSON_IsNumber(cJSON_GetObjectItem(j, "seed")));
            /* prompt i of HumanEval is golden text 2i: the window must be the decoding
             * of nt consecutive reference ids */
            const cJSON *ref = cJSON_GetArrayItem(gids, (int)(2 * lines));
            size_t m = (size_t)cJSON_GetArraySize(ref);
            int32_t *ids = malloc((m ? m : 1) * sizeof *ids);
            size_t q = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, ref) ids[q++] = (int32_t)x->valuedouble;
            int found = 0;
            char buf[4096];
            for (size_t s = 0; !found && s + (size_t)nt <= m; s++) {
                size_t bl = 0;
                if (joule_tokenizer_decode(t, ids + s, (size_t)nt, 1, buf, sizeof buf, &bl) ==
                        JOULE_OK &&
                    bl < sizeof buf && !strcmp(buf, prompt))
                    found = 1;
            }
            slices += found;
            free(ids);
            cJSON_Delete(j);
            lines++;
        }
        printf("%s: %zu lines, %zu with 10..15 tokens, %zu slices of the reference ids\n", names[k],
               lines, in_bounds, slices);
        CHECK_EQ_INT(lines, 164);
        CHECK_EQ_INT(in_bounds, 164);
        CHECK_EQ_INT(slices, 164);
        for (int L = 10; L <= 15; L++)
            CHECK(seen[L]); /* every length occurs */
        free(text);
        cJSON_Delete(g);
        joule_tokenizer_free(t);
    }
}

static void test_reproducible(void)
{
    struct joule_tokenizer *t = load_tok("gpt2");
    if (!t) return;
    char a[512], b[512], c[512];
    snprintf(a, sizeof a, "%s/a.jsonl", test_tmpdir());
    snprintf(b, sizeof b, "%s/b.jsonl", test_tmpdir());
    snprintf(c, sizeof c, "%s/c.jsonl", test_tmpdir());
    struct joule_dataset_params p = joule_dataset_default_params();
    p.seed = 42;
    CHECK_OK(joule_dataset_build(humaneval(), t, &p, a, NULL));
    CHECK_OK(joule_dataset_build(humaneval(), t, &p, b, NULL));
    p.seed = 43;
    CHECK_OK(joule_dataset_build(humaneval(), t, &p, c, NULL));
    size_t la = 0, lb = 0, lc = 0;
    char *sa = slurp(a, &la), *sb = slurp(b, &lb), *sc = slurp(c, &lc);
    CHECK(sa && sb && sc);
    CHECK(la == lb && sa && sb && !memcmp(sa, sb, la));
    CHECK(sa && sc && (la != lc || memcmp(sa, sc, la))); /* another seed, another file */
    CHECK(sa && strstr(sa, "\"seed\":42") != NULL);
    free(sa);
    free(sb);
    free(sc);
    /* the generator is splitmix64: its first outputs for seed 0 are well known */
    uint64_t st = 0;
    CHECK(joule_splitmix64(&st) == 0xE220A8397B1DCDAFull);
    CHECK(joule_splitmix64(&st) == 0x6E789E6AA1B965F4ull);
    joule_tokenizer_free(t);
}

static void write_file(const char *path, const char *s)
{
    CHECK_OK(joule_write_file_atomic(path, s, strlen(s)));
}

static void test_short_and_fields(void)
{
    struct joule_tokenizer *t = load_tok("gpt2");
    if (!t) return;
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/short.jsonl", test_tmpdir());
    snprintf(out, sizeof out, "%s/short_out.jsonl", test_tmpdir());
    write_file(in, "{\"task_id\":\"t/0\",\"prompt\":\"def f(x): return x\"}\n"
                   "\n"
                   "{\"task_id\":\"t/1\",\"prompt\":\"\"}\n"
                   "{\"task_id\":\"t/2\",\"new_prompt\":\"hello world\",\"x\":1}\n");
    struct joule_dataset_params p = joule_dataset_default_params();
    size_t n = 0;
    CHECK_OK(joule_dataset_build(in, t, &p, out, &n));
    CHECK_EQ_INT(n, 3);
    size_t len = 0;
    char *s = slurp(out, &len);
    CHECK_EQ_STR(s, "{\"task_id\":\"t/0\",\"prompt\":\"def f(x): return x\",\"n_tokens\":7,"
                    "\"seed\":0}\n"
                    "{\"task_id\":\"t/1\",\"prompt\":\"\",\"n_tokens\":0,\"seed\":0}\n"
                    "{\"task_id\":\"t/2\",\"prompt\":\"hello world\",\"n_tokens\":2,\"seed\":0}\n");
    free(s);
    /* an explicit field, and windows of exactly one length */
    write_file(in, "{\"task_id\":\"a\",\"text\":\"one two three four five six seven\"}\n");
    p.field = "text";
    p.min_tokens = p.max_tokens = 3;
    CHECK_OK(joule_dataset_build(in, t, &p, out, &n));
    s = slurp(out, &len);
    CHECK(s && strstr(s, "\"n_tokens\":3") != NULL);
    free(s);
    p.min_tokens = 5;
    p.max_tokens = 4;
    CHECK_EQ_INT(joule_dataset_build(in, t, &p, out, &n), JOULE_ERR_INVALID_ARG);
    joule_tokenizer_free(t);
}

static void check_bad(const char *content, const char *needle)
{
    struct joule_tokenizer *t = load_tok("gpt2");
    if (!t) return;
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/bad.jsonl", test_tmpdir());
    snprintf(out, sizeof out, "%s/bad_out.jsonl", test_tmpdir());
    write_file(in, content);
    remove(out);
    struct joule_dataset_params p = joule_dataset_default_params();
    CHECK_EQ_INT(joule_dataset_build(in, t, &p, out, NULL), JOULE_ERR_FORMAT);
    if (!strstr(joule_last_error(), needle))
        test_fail(__FILE__, __LINE__, "error \"%s\" lacks \"%s\"", joule_last_error(), needle);
    CHECK(!joule_is_file(out)); /* nothing written on failure */
    joule_tokenizer_free(t);
}

static void test_bad_lines(void)
{
    check_bad("{\"task_id\":\"a\",\"prompt\":\"x\"}\n\nnot json\n", "bad.jsonl:3:");
    check_bad("{\"task_id\":\"a\",\"prompt\":\"x\"}\n{\"task_id\":\"b\"}\n", "bad.jsonl:2:");
    check_bad("{\"task_id\":7,\"prompt\":\"x\"}\n", "bad.jsonl:1:");
    check_bad("[1,2]\n", "bad.jsonl:1:");
    check_bad("\n\n", "no problems");
    /* a NUL would cut the prompt short silently (found by fuzzing the request parsers) */
    check_bad("{\"task_id\":\"a\",\"prompt\":\"x\\u0000y\"}\n", "bad.jsonl:1: a string holds NUL");
    struct joule_tokenizer *t = load_tok("gpt2");
    CHECK_EQ_INT(joule_dataset_build("/nonexistent.jsonl", t, NULL, "/tmp/x", NULL), JOULE_ERR_IO);
    joule_tokenizer_free(t);
}

static void test_gzip_and_cli(void)
{
    char gzp[512], out[512], cmd[2048];
    snprintf(gzp, sizeof gzp, "%s/small.jsonl.gz", test_tmpdir());
    snprintf(out, sizeof out, "%s/cli.jsonl", test_tmpdir());
    gzFile gz = gzopen(gzp, "wb");
    CHECK(gz != NULL);
    if (!gz) return;
    gzputs(gz, "{\"task_id\":\"g/0\",\"prompt\":\"def add(a, b):\\n    \\\"\\\"\\\"Add two numbers "
               "and return the sum of both of them.\\\"\\\"\\\"\\n\"}\n");
    gzclose(gz);
    snprintf(cmd, sizeof cmd,
             "'%s' dataset --humaneval '%s' --tokenizer '%s' --seed 5 -o '%s' "
             "2>/dev/null",
             test_joule_bin(), gzp, test_fixture("tokenizers/gpt2"), out);
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t len = 0;
    char *s = slurp(out, &len);
    CHECK(s && strstr(s, "\"task_id\":\"g/0\"") && strstr(s, "\"seed\":5"));
    free(s);
    snprintf(cmd, sizeof cmd,
             "'%s' dataset --humaneval '%s' --tokenizer '%s' --min-tokens 9 "
             "--max-tokens 3 -o '%s' 2>/dev/null",
             test_joule_bin(), gzp, test_fixture("tokenizers/gpt2"), out);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    snprintf(cmd, sizeof cmd, "'%s' dataset --tokenizer x -o y 2>/dev/null", test_joule_bin());
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    snprintf(cmd, sizeof cmd, "'%s' dataset --help >/dev/null", test_joule_bin());
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    RUN(test_bounds_and_slices);
    RUN(test_reproducible);
    RUN(test_short_and_fields);
    RUN(test_bad_lines);
    RUN(test_gzip_and_cli);
    return test_summary();
}
