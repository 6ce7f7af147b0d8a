/* joule export: write a results database's tables as CSV files. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "joule/bench.h"
#include "util/fileio.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: joule export --db FILE [--format csv] [--out DIR]\n\n"
               "Write every table of a `joule bench` results database (campaigns, runs,\n"
               "run_energy, requests, request_energy, samples, sample_energy, meta) as\n"
               "DIR/<table>.csv: a header row, RFC 4180 quoting, NULL as an empty field.\n"
               "The schema is documented in docs/results-schema.md.\n\n"
               "options:\n"
               "  --db FILE       the results database (required)\n"
               "  --format csv    the output format (only csv)\n"
               "  --out DIR       output directory (default: FILE without .db, plus -csv)\n"
               "  -h, --help      this help\n");
}

int joule_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *format = "csv", *out = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "d:f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!db || optind < argc) {
        usage(stderr);
        return 2;
    }
    if (strcmp(format, "csv")) {
        fprintf(stderr, "joule export: unknown format '%s' (only csv)\n", format);
        return 2;
    }
    if (!joule_is_file(db)) {
        fprintf(stderr, "joule export: %s: no such database\n", db);
        return 1;
    }
    char def[1100];
    if (!out) {
        size_t len = strlen(db);
        if (len > 3 && !strcmp(db + len - 3, ".db")) len -= 3;
        snprintf(def, sizeof def, "%.*s-csv", (int)len, db);
        out = def;
    }
    struct joule_bench_store *s = NULL;
    int n = 0;
    enum joule_status st = joule_bench_store_open(db, &s);
    if (st == JOULE_OK) st = joule_bench_store_export_csv(s, out, &n);
    joule_bench_store_close(s);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule export: %s\n", joule_last_error());
        return 1;
    }
    printf("%d tables written to %s/\n", n, out);
    return 0;
}
