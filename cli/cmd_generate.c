/* joule generate: run a model on one prompt and print what it generates. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "joule/engine.h"
#include "util/fileio.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: joule generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [options]\n\n"
            "Run a model on one prompt and print the generated text (or ids).\n\n"
            "options:\n"
            "  --model DIR            Hugging Face model directory (config.json + safetensors)\n"
            "  --prompt TEXT          prompt text (needs tokenizer.json in the model directory)\n"
            "  --prompt-ids LIST      prompt as comma-separated token ids\n"
            "  --max-new-tokens N     tokens to generate (default 16)\n"
            "  --greedy               argmax decoding (the default)\n"
            "  --temperature T        sample with temperature T (turns sampling on)\n"
            "  --top-k K              keep the K most likely tokens when sampling (0 = off)\n"
            "  --top-p P              nucleus sampling mass (1 = off)\n"
            "  --seed S               random seed for sampling (default 0)\n"
            "  --ignore-eos           do not stop at the end-of-sequence token\n"
            "  --threads N            worker threads (default: all online cores)\n"
            "  --n-ctx N              context length (default: the model's maximum)\n"
            "  --engine NAME          runtime engine (default native)\n"
            "  --provider NAME        execution provider: cpu (default) or cuda\n"
            "  --quantize q8          int8 weights (blocks of 32 with an f16 scale) made at load\n"
            "  --json                 print one JSON object (ids, text, counts, timings, stop)\n"
            "  --dump-logits FILE     write the prompt pass's logits as little-endian float32\n"
            "                         [prompt tokens x vocab]\n"
            "  -h, --help             show this help\n");
}

static int parse_ids(const char *s, int32_t **out, size_t *n)
{
    size_t cap = 16, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 0x7fffffff) {
            free(ids);
            return -1;
        }
        if (k == cap) {
            int32_t *t = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!t) {
                free(ids);
                return -1;
            }
            ids = t;
        }
        ids[k++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    if (k == 0) {
        free(ids);
        return -1;
    }
    *out = ids;
    *n = k;
    return 0;
}

static char *decode_text(const struct joule_tokenizer *tok, const int32_t *ids, size_t n)
{
    size_t need = 0;
    if (joule_tokenizer_decode(tok, ids, n, 1, NULL, 0, &need) != JOULE_OK) return NULL;
    char *buf = malloc(need + 1);
    if (buf && joule_tokenizer_decode(tok, ids, n, 1, buf, need + 1, &need) != JOULE_OK) {
        free(buf);
        return NULL;
    }
    if (buf) buf[need] = '\0';
    return buf;
}

int joule_cmd_generate(int argc, char **argv)
{
    enum {
        O_MODEL = 256,
        O_PROMPT,
        O_IDS,
        O_MAXNEW,
        O_GREEDY,
        O_TEMP,
        O_TOPK,
        O_TOPP,
        O_SEED,
        O_NOEOS,
        O_THREADS,
        O_JSON,
        O_DUMP,
        O_ENGINE,
        O_PROVIDER,
        O_NCTX,
        O_QUANT
    };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"prompt", required_argument, 0, O_PROMPT},
        {"prompt-ids", required_argument, 0, O_IDS},
        {"max-new-tokens", required_argument, 0, O_MAXNEW},
        {"greedy", no_argument, 0, O_GREEDY},
        {"temperature", required_argument, 0, O_TEMP},
        {"top-k", required_argument, 0, O_TOPK},
        {"top-p", required_argument, 0, O_TOPP},
        {"seed", required_argument, 0, O_SEED},
        {"ignore-eos", no_argument, 0, O_NOEOS},
        {"threads", required_argument, 0, O_THREADS},
        {"n-ctx", required_argument, 0, O_NCTX},
        {"json", no_argument, 0, O_JSON},
        {"dump-logits", required_argument, 0, O_DUMP},
        {"engine", required_argument, 0, O_ENGINE},
        {"provider", required_argument, 0, O_PROVIDER},
        {"quantize", required_argument, 0, O_QUANT},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *model = NULL, *prompt = NULL, *ids_arg = NULL, *dump = NULL;
    struct joule_engine_params ep = joule_engine_default_params();
    struct joule_gen_params gp = joule_gen_default_params();
    int json = 0, greedy_flag = 0, sampling_flag = 0;
    struct joule_sampling smp = joule_sampling_default();
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_MODEL:
            model = optarg;
            break;
        case O_PROMPT:
            prompt = optarg;
            break;
        case O_IDS:
            ids_arg = optarg;
            break;
        case O_MAXNEW:
            gp.max_new_tokens = atoi(optarg);
            break;
        case O_GREEDY:
            greedy_flag = 1;
            break;
        case O_TEMP:
            smp.temperature = strtof(optarg, NULL);
            sampling_flag = 1;
            break;
        case O_TOPK:
            smp.top_k = atoi(optarg);
            sampling_flag = 1;
            break;
        case O_TOPP:
            smp.top_p = strtof(optarg, NULL);
            sampling_flag = 1;
            break;
        case O_SEED:
            smp.seed = strtoull(optarg, NULL, 10);
            break;
        case O_NOEOS:
            gp.ignore_eos = 1;
            break;
        case O_THREADS:
            ep.n_threads = atoi(optarg);
            break;
        case O_NCTX:
            ep.n_ctx = atoi(optarg);
            break;
        case O_JSON:
            json = 1;
            break;
        case O_DUMP:
            dump = optarg;
            break;
        case O_ENGINE:
            ep.engine = optarg;
            break;
        case O_PROVIDER:
            ep.provider = optarg;
            break;
        case O_QUANT:
            ep.quantize = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !model || (!prompt == !ids_arg)) {
        fprintf(stderr, "joule generate: need --model and exactly one of --prompt, --prompt-ids\n");
        usage(stderr);
        return 2;
    }
    if (sampling_flag && !(smp.temperature > 0.0f)) {
        fprintf(stderr, "joule generate: --temperature must be > 0\n");
        return 2;
    }
    smp.greedy = greedy_flag || !sampling_flag;
    gp.sampling = smp;

    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (ids_arg && parse_ids(ids_arg, &ids, &n_ids) != 0) {
        fprintf(stderr, "joule generate: bad --prompt-ids '%s'\n", ids_arg);
        return 2;
    }
    struct joule_engine *e = NULL;
    enum joule_status s = joule_engine_open(model, &ep, &e);
    if (s != JOULE_OK) {
        fprintf(stderr, "joule generate: %s: %s\n", joule_status_str(s), joule_last_error());
        free(ids);
        return 1;
    }
    const struct joule_engine_info *info = joule_engine_get_info(e);
    const struct joule_tokenizer *tok = joule_engine_tokenizer(e);
    int rc = 1;
    float *plog = NULL;
    char *text = NULL;
    struct joule_gen_result res = {0};
    if (prompt) {
        if (!tok) {
            fprintf(stderr, "joule generate: --prompt needs a tokenizer.json in %s\n", model);
            goto out;
        }
        size_t need = 0;
        s = joule_tokenizer_encode(tok, prompt, strlen(prompt), 1, NULL, 0, &need);
        if (s == JOULE_OK && need > 0) {
            ids = malloc(need * sizeof *ids);
            if (!ids) goto out;
            s = joule_tokenizer_encode(tok, prompt, strlen(prompt), 1, ids, need, &n_ids);
        }
        if (s != JOULE_OK || n_ids == 0) {
            fprintf(stderr, "joule generate: cannot tokenize the prompt: %s\n",
                    s != JOULE_OK ? joule_last_error() : "no tokens");
            goto out;
        }
    }
    if (dump) {
        plog = malloc(n_ids * (size_t)info->n_vocab * sizeof *plog);
        if (!plog) {
            fprintf(stderr, "joule generate: out of memory for the logits\n");
            goto out;
        }
        gp.prompt_logits = plog;
    }
    s = joule_engine_generate(e, ids, n_ids, &gp, &res);
    if (s != JOULE_OK) {
        fprintf(stderr, "joule generate: %s: %s\n", joule_status_str(s), joule_last_error());
        goto out;
    }
    if (dump) {
        /* x86-64 and aarch64 Linux are little-endian: the floats go out as they are */
        s = joule_write_file_atomic(dump, plog, n_ids * (size_t)info->n_vocab * sizeof *plog);
        if (s != JOULE_OK) {
            fprintf(stderr, "joule generate: %s\n", joule_last_error());
            goto out;
        }
    }
    if (tok) text = decode_text(tok, res.ids, res.n_ids);
    double prompt_ms = (double)res.prompt_ns / 1e6, decode_ms = (double)res.decode_ns / 1e6;
    /* decode rate: the tokens after the first (which comes from the prompt pass) */
    double tps =
        res.n_ids > 1 && res.decode_ns > 0 ? (double)(res.n_ids - 1) / (decode_ms / 1e3) : 0.0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(o, "ids");
        for (size_t i = 0; i < res.n_ids; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(res.ids[i]));
        cJSON_AddNumberToObject(o, "prompt_tokens", (double)res.n_prompt);
        cJSON_AddNumberToObject(o, "completion_tokens", (double)res.n_ids);
        if (text) cJSON_AddStringToObject(o, "text", text);
        cJSON_AddStringToObject(o, "stop", joule_stop_reason_str(res.stop));
        cJSON_AddNumberToObject(o, "prompt_ms", prompt_ms);
        cJSON_AddNumberToObject(o, "decode_ms", decode_ms);
        cJSON_AddNumberToObject(o, "tokens_per_s", tps);
        cJSON_AddStringToObject(o, "engine", info->engine);
        cJSON_AddStringToObject(o, "provider", info->provider);
        cJSON_AddStringToObject(o, "model", info->model_name);
        cJSON_AddStringToObject(o, "dtype", info->dtype);
        cJSON_AddNumberToObject(o, "threads", info->n_threads);
        char *js = cJSON_PrintUnformatted(o);
        if (js) printf("%s\n", js);
        free(js);
        cJSON_Delete(o);
    } else {
        if (text) {
            printf("%s\n", text);
        } else {
            for (size_t i = 0; i < res.n_ids; i++)
                printf("%s%d", i ? " " : "", (int)res.ids[i]);
            printf("\n");
        }
        fprintf(
            stderr,
            "%zu prompt tokens in %.1f ms, %zu new tokens in %.1f ms (%.1f tokens/s), stop: %s\n",
            res.n_prompt, prompt_ms, res.n_ids, decode_ms, tps, joule_stop_reason_str(res.stop));
    }
    rc = 0;
out:
    free(text);
    joule_gen_result_free(&res);
    free(plog);
    free(ids);
    joule_engine_free(e);
    return rc;
}
