/* util: status detail, files, atomic writes, JSON helpers. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "joule/status.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/json.h"

static void test_status_strings(void)
{
    CHECK_EQ_STR(joule_status_str(JOULE_OK), "ok");
    CHECK_EQ_STR(joule_status_str(JOULE_ERR_FORMAT), "malformed input");
    CHECK_EQ_INT(joule_errorf(JOULE_ERR_IO, "disk %d", 7), JOULE_ERR_IO);
    CHECK_EQ_STR(joule_last_error(), "disk 7");
    joule_clear_error();
    CHECK_EQ_STR(joule_last_error(), "");
}

static void test_files(void)
{
    char path[512];
    CHECK_OK(joule_path_join(path, sizeof path, test_tmpdir(), "a/b/c"));
    CHECK_OK(joule_mkdirs(path));
    CHECK(joule_is_dir(path));
    CHECK_OK(joule_path_join(path, sizeof path, test_tmpdir(), "f.json"));
    const char *text = "{\"n\": 3, \"s\": \"x\", \"b\": true}";
    CHECK_OK(joule_write_file_atomic(path, text, strlen(text)));
    CHECK(joule_is_file(path));
    char *buf = NULL;
    size_t len = 0;
    CHECK_OK(joule_read_file(path, 1 << 20, &buf, &len));
    CHECK_EQ_INT(len, strlen(text));
    CHECK_EQ_STR(buf, text);
    free(buf);
    CHECK_EQ_INT(joule_read_file(path, 4, &buf, &len), JOULE_ERR_LIMIT);
    CHECK(buf == NULL);
    struct joule_mmap m;
    CHECK_OK(joule_mmap_open(&m, path));
    CHECK_EQ_INT(m.size, strlen(text));
    joule_mmap_close(&m);
    CHECK_EQ_INT(joule_mmap_open(&m, "/nonexistent/x"), JOULE_ERR_NOT_FOUND);

    cJSON *j = NULL;
    CHECK_OK(joule_json_load_file(path, 1 << 20, &j));
    CHECK_EQ_INT(joule_json_int(j, "n", -1), 3);
    CHECK_EQ_STR(joule_json_str(j, "s", NULL), "x");
    CHECK_EQ_INT(joule_json_bool(j, "b", 0), 1);
    CHECK_EQ_INT(joule_json_int(j, "missing", 42), 42);
    cJSON_Delete(j);
    CHECK_OK(joule_write_file_atomic(path, "{bad", 4));
    CHECK_EQ_INT(joule_json_load_file(path, 1 << 20, &j), JOULE_ERR_FORMAT);
}

/* \u0000 escapes are found exactly: an odd run of backslashes escapes the 'u' */
static void test_json_nul_escape(void)
{
    static const struct {
        const char *text;
        int want;
    } cases[] = {
        {"{\"p\":\"a\\u0000b\"}", 1},   /* "a\u0000b" */
        {"{\"p\":\"a\\\\u0000b\"}", 0}, /* "a\\u0000b": an escaped backslash, then text */
        {"{\"p\":\"\\\\\\u0000\"}", 1}, /* "\\\u0000" */
        {"{\"p\":\"\\u0001\\u00000\"}", 1},
        {"{\"p\":\"u0000\"}", 0},
        {"{\"p\":\"\\u000\"}", 0},
        {"\\", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *t = cases[i].text;
        CHECK_EQ_INT(joule_json_has_nul_escape(t, strlen(t)), cases[i].want);
        /* and cJSON agrees: the string really is cut short exactly when found */
        cJSON *j = cJSON_Parse(t);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "p");
        if (cJSON_IsString(p)) {
            const char *open = strchr(t + 5, '"') + 1, *close = strrchr(t, '"');
            size_t raw = (size_t)(close - open), unesc = 0;
            for (size_t k = 0; k < raw; k++, unesc++)
                if (open[k] == '\\') k += open[k + 1] == 'u' ? 5 : 1;
            CHECK_EQ_INT(strlen(p->valuestring) < unesc, cases[i].want);
        }
        cJSON_Delete(j);
    }
    CHECK_EQ_INT(joule_json_has_nul_escape("\\u0000", 5), 0); /* the length bounds the scan */
}

static void test_clock(void)
{
    int64_t a = joule_now_ns();
    joule_sleep_ns(2000000);
    int64_t b = joule_now_ns();
    CHECK(b - a >= 2000000);
    char iso[32];
    joule_format_iso8601(0, iso, sizeof iso);
    CHECK_EQ_STR(iso, "1970-01-01T00:00:00.000Z");
}

int main(void)
{
    RUN(test_status_strings);
    RUN(test_files);
    RUN(test_json_nul_escape);
    RUN(test_clock);
    return test_summary();
}
