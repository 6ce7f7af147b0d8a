/* joule synth: a Hugging Face-layout checkpoint with random weights and the
 * exact shape of one of the study's models. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "joule/synth.h"

static void synth_usage(FILE *f)
{
    fprintf(
        f, "usage: joule synth --like NAME --out DIR [--dtype f32|f16|bf16] [--seed N]\n"
           "                   [--layers N] [--merges N] [--no-tokenizer]\n\n"
           "Write a Hugging Face-layout checkpoint (config.json, model.safetensors,\n"
           "tokenizer.json) with random weights and the exact shape of NAME, so that the\n"
           "study runs without downloading weights. The same options give byte-identical files.\n\n"
           "  --like NAME     a shape below (the part after the slash alone works too)\n"
           "  --out DIR       output directory (created if missing)\n"
           "  --dtype T       f32 (default), f16 or bf16\n"
           "  --seed N        random seed (default 0)\n"
           "  --layers N      override the number of layers (e.g. 1 for a small real-width model)\n"
           "  --merges N      BPE merges learned from data/HumanEval.jsonl.gz at most (default "
           "4096)\n"
           "  --no-tokenizer  write no tokenizer.json\n"
           "  --list          print the shapes with their parameter counts and exit\n\n"
           "shapes:\n");
    for (size_t i = 0; i < joule_synth_n_shapes(); i++)
        fprintf(f, "  %s\n", joule_synth_shape_name(i));
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-') return -1;
    *out = v;
    return 0;
}

int joule_cmd_synth(int argc, char **argv)
{
    static const struct option opts[] = {
        {"like", required_argument, NULL, 'l'},   {"out", required_argument, NULL, 'o'},
        {"dtype", required_argument, NULL, 'd'},  {"seed", required_argument, NULL, 's'},
        {"layers", required_argument, NULL, 'L'}, {"merges", required_argument, NULL, 'm'},
        {"no-tokenizer", no_argument, NULL, 'T'}, {"list", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    struct joule_synth_params p = joule_synth_default_params();
    const char *like = NULL, *out = NULL;
    int c, list = 0;
    uint64_t v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            like = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'd':
            if (!strcmp(optarg, "f32"))
                p.dtype = JOULE_DTYPE_F32;
            else if (!strcmp(optarg, "f16"))
                p.dtype = JOULE_DTYPE_F16;
            else if (!strcmp(optarg, "bf16"))
                p.dtype = JOULE_DTYPE_BF16;
            else {
                fprintf(stderr, "joule synth: --dtype must be f32, f16 or bf16\n");
                return 2;
            }
            break;
        case 's':
            if (parse_u64(optarg, &p.seed)) {
                fprintf(stderr, "joule synth: bad --seed '%s'\n", optarg);
                return 2;
            }
            break;
        case 'L':
        case 'm':
            if (parse_u64(optarg, &v) || v > 100000 || (c == 'L' && v == 0)) {
                fprintf(stderr, "joule synth: bad --%s '%s'\n", c == 'L' ? "layers" : "merges",
                        optarg);
                return 2;
            }
            if (c == 'L')
                p.n_layers = (int)v;
            else
                p.max_merges = (int)v;
            break;
        case 'T':
            p.write_tokenizer = 0;
            break;
        case 'P':
            list = 1;
            break;
        case 'h':
            synth_usage(stdout);
            return 0;
        default:
            synth_usage(stderr);
            return 2;
        }
    }
    if (list) {
        for (size_t i = 0; i < joule_synth_n_shapes(); i++) {
            const char *n = joule_synth_shape_name(i);
            printf("%-46s %14" PRId64 " parameters\n", n, joule_synth_param_count(n, 0));
        }
        return 0;
    }
    if (!like || !out || optind != argc) {
        synth_usage(stderr);
        return 2;
    }
    if (joule_synth_find_shape(like) < 0) {
        fprintf(stderr, "joule synth: unknown shape '%s'; known shapes:\n", like);
        for (size_t i = 0; i < joule_synth_n_shapes(); i++)
            fprintf(stderr, "  %s\n", joule_synth_shape_name(i));
        return 2;
    }
    enum joule_status st = joule_synth_write(like, out, &p);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule synth: %s: %s\n", joule_status_str(st), joule_last_error());
        return 1;
    }
    printf("%s: %" PRId64 " parameters written to %s\n", like,
           joule_synth_param_count(like, p.n_layers), out);
    return 0;
}
