/* joule demo: the whole study in miniature on this machine — synthesize small
 * models, make the dataset from the bundled HumanEval, measure every serving
 * configuration this machine has, analyse, write the report, print a summary. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "study_cli.h"
#include "joule/bench.h"
#include "joule/dataset.h"
#include "joule/report.h"
#include "joule/study.h"
#include "joule/synth.h"
#include "joule/tokenizer.h"
#include "util/clock.h"
#include "util/fileio.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: joule demo [--quick] [--out DIR] [--threads N] [--reps N] [--prompts N]\n\n"
               "The study end to end in a few minutes: synthesizes two small models (a StarCoder\n"
               "and a Llama shape), makes the prompts from the bundled HumanEval (random 10-15\n"
               "token windows), runs a short campaign over every serving configuration this\n"
               "machine has (native and ggml engines, CPU and, where present, CUDA), analyses\n"
               "it with the study's statistical procedure, writes the report and prints a\n"
               "summary table.\n\n"
               "  --quick        tiny models, 3 prompts, 1 s idle phases (about a minute)\n"
               "  --out DIR      where models, prompts, results.db and report/ go (joule-demo)\n"
               "  --threads N    threads of each server (1)\n"
               "  --reps N       repetitions of each configuration (3; --quick 2)\n"
               "  --prompts N    prompts per run (4; --quick 3)\n"
               "  -h, --help     this help\n\n"
               "Energy on a machine without RAPL or NVML is the documented estimate and is\n"
               "labelled 'estimated' everywhere. The full protocol is 'joule reproduce'.\n");
}

struct demo_model {
    const char *like;
    int layers;
    enum joule_dtype dtype;
    const char *dir_name;
};

/* Full demo: real widths, few layers, so that a run takes seconds on 2 cores. Two families
 * (GPT-BigCode with multi-query attention, Llama with grouped-query attention) that both
 * engines run exactly: not codeparrot-small, whose GPT-2 scale_attn_by_inverse_layer_idx
 * llama.cpp's gpt2 graph lacks, so its ggml runs would fail (or, converted inexactly,
 * compute another function). */
static const struct demo_model k_full_models[] = {
    {"bigcode/tiny_starcoder_py", 2, JOULE_DTYPE_F32, "tiny-starcoder-py-2l"},
    {"TinyLlama/TinyLlama-1.1B-Chat-v1.0", 1, JOULE_DTYPE_BF16, "tinyllama-1l-bf16"},
};
static const struct demo_model k_quick_models[] = {
    {"tiny-gpt2", 0, JOULE_DTYPE_F32, "tiny-gpt2"},
    {"tiny-llama", 0, JOULE_DTYPE_F32, "tiny-llama"},
};

int joule_cmd_demo(int argc, char **argv)
{
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},
        {"out", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'},
        {"reps", required_argument, NULL, 'r'},
        {"prompts", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int quick = 0, threads = 0, reps = 0, n_prompts = 0;
    const char *out = "joule-demo";
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "qo:t:r:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quick = 1;
            break;
        case 'o':
            out = optarg;
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'r':
            reps = atoi(optarg);
            break;
        case 'p':
            n_prompts = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || threads < 0 || reps < 0 || n_prompts < 0) {
        usage(stderr);
        return 2;
    }
    if (!reps) reps = quick ? 2 : 3;
    if (!n_prompts) n_prompts = quick ? 3 : 4;
    /* One thread per server unless told otherwise: llama.cpp's spinning thread pool slows down
     * by orders of magnitude when it has more threads than idle cores (a 2-core machine with
     * anything else running), and both engines should get the same threads. */
    if (!threads) threads = 1;
    int64_t t0 = joule_now_ns();

    if (joule_mkdirs(out) != JOULE_OK) {
        fprintf(stderr, "joule demo: %s\n", joule_last_error());
        return 1;
    }
    /* 1. configurations */
    struct joule_study_config cfg[JOULE_STUDY_MAX_CONFIGS];
    size_t n_cfg = joule_study_configs(cfg, JOULE_STUDY_MAX_CONFIGS);
    if (n_cfg > JOULE_STUDY_MAX_CONFIGS) n_cfg = JOULE_STUDY_MAX_CONFIGS;
    printf("joule demo%s: serving configurations on this machine\n", quick ? " --quick" : "");
    int n_avail = 0;
    for (size_t i = 0; i < n_cfg; i++) {
        printf(
            "  %-8s %-5s %s%s\n", cfg[i].engine, cfg[i].provider,
            cfg[i].available ? "available" : "unavailable: ", cfg[i].available ? "" : cfg[i].why);
        n_avail += cfg[i].available;
    }
    if (!n_avail) {
        fprintf(stderr, "joule demo: no serving configuration can run here\n");
        return 1;
    }

    /* 2. models */
    const struct demo_model *models = quick ? k_quick_models : k_full_models;
    size_t n_models = 2;
    char model_dirs[2][1024];
    printf("[1/4] synthesizing %zu models\n", n_models);
    for (size_t i = 0; i < n_models; i++) {
        char sub[1024];
        snprintf(sub, sizeof sub, "models/%s", models[i].dir_name);
        joule_path_join(model_dirs[i], sizeof model_dirs[i], out, sub);
        struct joule_synth_params sp = joule_synth_default_params();
        sp.dtype = models[i].dtype;
        sp.n_layers = models[i].layers;
        sp.seed = 1 + i;
        char cfgpath[1100];
        joule_path_join(cfgpath, sizeof cfgpath, model_dirs[i], "config.json");
        if (joule_is_file(cfgpath)) {
            printf("  %s (kept from an earlier demo)\n", model_dirs[i]);
            continue;
        }
        if (joule_synth_write(models[i].like, model_dirs[i], &sp) != JOULE_OK) {
            fprintf(stderr, "joule demo: synth %s: %s\n", models[i].like, joule_last_error());
            return 1;
        }
        printf("  %s: %s shape, %s, %.1f M parameters\n", model_dirs[i], models[i].like,
               joule_dtype_name(sp.dtype),
               joule_synth_param_count(models[i].like, sp.n_layers) / 1e6);
    }

    /* 3. the dataset */
    char humaneval[4096], prompts[1100], tokpath[1100];
    if (joule_study_data_file("HumanEval.jsonl.gz", humaneval, sizeof humaneval) != JOULE_OK) {
        fprintf(stderr, "joule demo: %s\n", joule_last_error());
        return 1;
    }
    joule_path_join(prompts, sizeof prompts, out, "prompts.jsonl");
    joule_path_join(tokpath, sizeof tokpath, model_dirs[0], "tokenizer.json");
    struct joule_tokenizer *tok = NULL;
    if (joule_tokenizer_load(tokpath, &tok) != JOULE_OK) {
        fprintf(stderr, "joule demo: %s\n", joule_last_error());
        return 1;
    }
    struct joule_dataset_params dp = joule_dataset_default_params();
    dp.seed = 42;
    size_t n_written = 0;
    enum joule_status s = joule_dataset_build(humaneval, tok, &dp, prompts, &n_written);
    joule_tokenizer_free(tok);
    if (s != JOULE_OK) {
        fprintf(stderr, "joule demo: dataset: %s\n", joule_last_error());
        return 1;
    }
    printf("[2/4] dataset: %zu HumanEval prompts (10-15 token windows, seed 42) -> %s\n", n_written,
           prompts);

    /* 4. the campaign: one per available configuration, all in one database */
    char db[1100];
    joule_path_join(db, sizeof db, out, "results.db");
    printf("[3/4] campaign: %zu models x %d configurations x %d repetitions x %d prompts -> %s\n",
           n_models, n_avail, reps, n_prompts, db);
    struct joule_bench_settings bs;
    joule_bench_default_settings(&bs);
    for (size_t m = 0; m < n_models; m++)
        study_set_field(bs.models[m], sizeof bs.models[m], model_dirs[m]);
    bs.n_models = (int)n_models;
    bs.reps = reps;
    bs.warmup_s = quick ? 1 : 4;
    bs.cooldown_s = quick ? 1 : 2;
    study_set_field(bs.prompts, sizeof bs.prompts, prompts);
    bs.limit = n_prompts;
    /* The study generates greedily up to 128 tokens in total (its route, --api study); the demo
     * asks the OpenAI route for greedy completions up to 64 tokens in total (--quick 32) so that
     * 2 models x 2 configurations x 3 repetitions fit in 10 minutes on 2 cores with the build. */
    study_set_field(bs.api, sizeof bs.api, "openai");
    bs.max_length = quick ? 32 : 64;
    bs.threads = threads;
    study_set_field(bs.db, sizeof bs.db, db);
    int failed = study_run_campaigns(&bs, "demo", cfg, n_cfg);
    if (failed < 0) return 1;

    /* 5. analysis and report */
    char report_dir[1100];
    joule_path_join(report_dir, sizeof report_dir, out, "report");
    if (study_write_report(db, report_dir, "joule demo") != 0) return 1;
    printf("[4/4] analysis: the study's procedure per model across configurations\n");
    if (study_print_summary(db) < 0) return 1;
    printf("\nreport: %s/index.html  (tables in %s/tables, plots in %s/plots)\n", report_dir,
           report_dir, report_dir);
    printf("took %.0f s%s\n", (joule_now_ns() - t0) / 1e9,
           failed ? "; some runs failed (see results.db.logs/)" : "");
    return failed ? 1 : 0;
}
