/* joule dataset: random token windows of HumanEval prompts -> prompts.jsonl. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "joule/dataset.h"
#include "joule/tokenizer.h"
#include "util/fileio.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: joule dataset --humaneval FILE --tokenizer FILE [--min-tokens 10]\n"
            "                     [--max-tokens 15] [--seed N] [--field NAME] -o prompts.jsonl\n\n"
            "For each problem, tokenizes the whole prompt, takes a random window of\n"
            "min..max tokens (length and start uniform; a shorter prompt is used whole),\n"
            "decodes it and writes {\"task_id\",\"prompt\",\"n_tokens\",\"seed\"} per line.\n"
            "The same input, tokenizer and seed give the same file (splitmix64).\n\n"
            "  -i, --humaneval FILE   JSONL or JSONL.gz with \"task_id\" and a prompt field\n"
            "  -t, --tokenizer FILE   tokenizer.json (or a model directory holding one)\n"
            "  -m, --min-tokens N     shortest window (default 10)\n"
            "  -M, --max-tokens N     longest window (default 15)\n"
            "  -s, --seed N           random seed (default 0)\n"
            "  -f, --field NAME       prompt field (default: \"prompt\", else \"new_prompt\")\n"
            "  -o, --output FILE      where to write the prompts (required)\n"
            "  -h, --help             this help\n");
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int joule_cmd_dataset(int argc, char **argv)
{
    static const struct option opts[] = {
        {"humaneval", required_argument, NULL, 'i'},
        {"input", required_argument, NULL, 'i'},
        {"tokenizer", required_argument, NULL, 't'},
        {"min-tokens", required_argument, NULL, 'm'},
        {"max-tokens", required_argument, NULL, 'M'},
        {"seed", required_argument, NULL, 's'},
        {"field", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct joule_dataset_params p = joule_dataset_default_params();
    const char *in = NULL, *tok = NULL, *out = NULL;
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:t:m:M:s:f:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            in = optarg;
            break;
        case 't':
            tok = optarg;
            break;
        case 'm':
        case 'M':
            if (parse_int(optarg, 1, 1000000, &v)) {
                fprintf(stderr, "joule dataset: bad token count '%s'\n", optarg);
                return 2;
            }
            if (c == 'm')
                p.min_tokens = (int)v;
            else
                p.max_tokens = (int)v;
            break;
        case 's': {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "joule dataset: bad seed '%s'\n", optarg);
                return 2;
            }
            p.seed = (uint64_t)s;
            break;
        }
        case 'f':
            p.field = optarg;
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
    if (!in || !tok || !out || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (p.max_tokens < p.min_tokens) {
        fprintf(stderr, "joule dataset: --max-tokens (%d) is below --min-tokens (%d)\n",
                p.max_tokens, p.min_tokens);
        return 2;
    }
    char file[4096];
    if (joule_is_dir(tok)) {
        if (joule_path_join(file, sizeof file, tok, "tokenizer.json") != JOULE_OK) {
            fprintf(stderr, "joule dataset: path too long\n");
            return 1;
        }
        tok = file;
    }
    struct joule_tokenizer *t = NULL;
    if (joule_tokenizer_load(tok, &t) != JOULE_OK) {
        fprintf(stderr, "joule dataset: %s\n", joule_last_error());
        return 1;
    }
    size_t n = 0;
    enum joule_status s = joule_dataset_build(in, t, &p, out, &n);
    joule_tokenizer_free(t);
    if (s != JOULE_OK) {
        fprintf(stderr, "joule dataset: %s\n", joule_last_error());
        return 1;
    }
    fprintf(stderr, "joule dataset: wrote %zu prompts to %s\n", n, out);
    return 0;
}
