/* joule convert: a Hugging Face snapshot to GGUF for llama.cpp. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "joule/gguf.h"

static void convert_usage(FILE *f)
{
    fprintf(f, "usage: joule convert --to gguf --model DIR --out FILE [--type f32|f16|bf16|q8_0]\n"
               "                     [--no-tokenizer] [--allow-inexact]\n\n"
               "Convert a Hugging Face snapshot (config.json + safetensors) of the study's\n"
               "families (gpt2, gpt_bigcode, gpt_neox, bloom, llama, gemma, phi) to GGUF v3 with\n"
               "the tensor names, layouts and metadata llama.cpp expects.\n\n"
               "  --to gguf        the target format (the only one)\n"
               "  --model DIR      the snapshot directory\n"
               "  --out FILE       the .gguf to write\n"
               "  --type T         2-D weights as f32 (default), f16, bf16 or q8_0; 1-D stay f32\n"
               "  --no-tokenizer   write no vocabulary (tokenizer.ggml.model = none)\n"
               "  --allow-inexact  convert GPT-2 with scale_attn_by_inverse_layer_idx\n"
               "                   (codeparrot-small) although llama.cpp ignores that scaling:\n"
               "                   the same work, other values (for cost measurements only)\n");
}

int joule_cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},     {"model", required_argument, NULL, 'm'},
        {"out", required_argument, NULL, 'o'},    {"type", required_argument, NULL, 'T'},
        {"no-tokenizer", no_argument, NULL, 'N'}, {"allow-inexact", no_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    struct joule_gguf_convert_params p = joule_gguf_convert_default_params();
    const char *to = NULL, *model = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            to = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'T':
            if (!strcmp(optarg, "f32"))
                p.type = JOULE_DTYPE_F32;
            else if (!strcmp(optarg, "f16"))
                p.type = JOULE_DTYPE_F16;
            else if (!strcmp(optarg, "bf16"))
                p.type = JOULE_DTYPE_BF16;
            else if (!strcmp(optarg, "q8_0"))
                p.type = JOULE_DTYPE_Q8_0;
            else {
                fprintf(stderr, "joule convert: --type must be f32, f16, bf16 or q8_0\n");
                return 2;
            }
            break;
        case 'N':
            p.with_tokenizer = 0;
            break;
        case 'A':
            p.allow_inexact = 1;
            break;
        case 'h':
            convert_usage(stdout);
            return 0;
        default:
            convert_usage(stderr);
            return 2;
        }
    }
    if (!to || strcmp(to, "gguf") || !model || !out || optind != argc) {
        convert_usage(stderr);
        return 2;
    }
    enum joule_status st = joule_gguf_convert(model, out, &p);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule convert: %s: %s\n", joule_status_str(st), joule_last_error());
        return 1;
    }
    printf("wrote %s\n", out);
    return 0;
}
