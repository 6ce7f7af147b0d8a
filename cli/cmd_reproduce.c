/* joule reproduce: the seed study's full protocol on this machine. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "joule/synth.h"
#include "study_cli.h"
#include "util/fileio.h"

#define N_STUDY_MODELS 12

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: joule reproduce [--dry-run] [--out DIR] [--models-dir DIR] [options]\n\n"
        "The seed study's full protocol: its 12 code models (synthesized twins with the\n"
        "exact shapes, or real Hugging Face checkpoints where --models-dir has them),\n"
        "every serving configuration this machine has, its 164 prompts\n"
        "(data/paper-RandomHumanEval.jsonl), greedy generation up to 128 tokens in\n"
        "total, 300 s warm-up and cool-down, 10 repetitions; then the analysis and\n"
        "report (tables, box plots, savings, recommendations) in DIR/report.\n"
        "Interrupted? Run the same command again: finished runs are kept.\n\n"
        "  --dry-run          print the plan and the expected duration, run nothing\n"
        "  --out DIR          models/, results.db and report/ (default joule-reproduce)\n"
        "  --models-dir DIR   real checkpoints: DIR/<name> (e.g. DIR/codeparrot-small)\n"
        "                     is used instead of a synthesized twin when it has a config.json\n"
        "  --models LIST      only these of the 12 (names after the slash, comma-separated)\n"
        "  --dtype T          dtype of synthesized twins: f32 (default, as the study), f16, bf16\n"
        "  --reps N           repetitions (10)\n"
        "  --warmup S         warm-up seconds (300)\n"
        "  --cooldown S       cool-down seconds (300)\n"
        "  --limit N          only the first N prompts (all 164)\n"
        "  --threads N        threads of each server (default: all cores)\n"
        "  --sensors LIST     sensor kinds (default all; see joule sensors)\n"
        "  -h, --help         this help\n");
}

static const char *short_name(const char *hf)
{
    const char *s = strrchr(hf, '/');
    return s ? s + 1 : hf;
}

static int in_list(const char *list, const char *name)
{
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        if (!c) break;
        p = c + 1;
    }
    return 0;
}

static void fmt_hours(double s, char *buf, size_t cap)
{
    if (s < 3600)
        snprintf(buf, cap, "%.0f min", s / 60);
    else if (s < 86400 * 2)
        snprintf(buf, cap, "%.1f h", s / 3600);
    else
        snprintf(buf, cap, "%.1f days", s / 86400);
}

int joule_cmd_reproduce(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"out", required_argument, NULL, 'o'},
        {"models-dir", required_argument, NULL, 'm'},
        {"models", required_argument, NULL, 'M'},
        {"dtype", required_argument, NULL, 'd'},
        {"reps", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, 'w'},
        {"cooldown", required_argument, NULL, 'c'},
        {"limit", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'},
        {"sensors", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct joule_study_protocol proto = joule_study_default_protocol();
    int dry = 0, threads = 0, limit = 0;
    const char *out = "joule-reproduce", *models_dir = NULL, *only = NULL, *sensors = "";
    enum joule_dtype dtype = JOULE_DTYPE_F32;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "no:m:M:d:r:w:c:l:t:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            dry = 1;
            break;
        case 'o':
            out = optarg;
            break;
        case 'm':
            models_dir = optarg;
            break;
        case 'M':
            only = optarg;
            break;
        case 'd':
            if (!strcmp(optarg, "f32"))
                dtype = JOULE_DTYPE_F32;
            else if (!strcmp(optarg, "f16"))
                dtype = JOULE_DTYPE_F16;
            else if (!strcmp(optarg, "bf16"))
                dtype = JOULE_DTYPE_BF16;
            else {
                fprintf(stderr, "joule reproduce: --dtype must be f32, f16 or bf16\n");
                return 2;
            }
            break;
        case 'r':
            proto.reps = atoi(optarg);
            break;
        case 'w':
            proto.warmup_s = atof(optarg);
            break;
        case 'c':
            proto.cooldown_s = atof(optarg);
            break;
        case 'l':
            limit = atoi(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 's':
            sensors = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || proto.reps < 1 || proto.warmup_s < 0 || proto.cooldown_s < 0 ||
        limit < 0 || threads < 0) {
        usage(stderr);
        return 2;
    }
    if (limit > 0 && limit < proto.n_prompts) proto.n_prompts = limit;

    char prompts[4096];
    if (joule_study_data_file("paper-RandomHumanEval.jsonl", prompts, sizeof prompts) != JOULE_OK) {
        fprintf(stderr, "joule reproduce: %s\n", joule_last_error());
        return 1;
    }
    struct joule_study_config cfg[JOULE_STUDY_MAX_CONFIGS];
    size_t n_cfg = joule_study_configs(cfg, JOULE_STUDY_MAX_CONFIGS);
    if (n_cfg > JOULE_STUDY_MAX_CONFIGS) n_cfg = JOULE_STUDY_MAX_CONFIGS;

    /* The plan: the study's 12 shapes come first in synth's table. */
    struct plan_model {
        const char *hf;
        char dir[1100];
        int real;
        int64_t params;
    } models[N_STUDY_MODELS];
    int n_models = 0;
    double bpp = dtype == JOULE_DTYPE_F32 ? 4.0 : 2.0;
    for (size_t i = 0; i < joule_synth_n_shapes() && i < N_STUDY_MODELS; i++) {
        const char *hf = joule_synth_shape_name(i);
        if (!in_list(only, short_name(hf)) && !in_list(only, hf)) continue;
        struct plan_model *m = &models[n_models++];
        m->hf = hf;
        m->real = 0;
        m->params = joule_synth_param_count(hf, 0);
        if (models_dir) {
            char cand[1100], conf[1200];
            joule_path_join(cand, sizeof cand, models_dir, short_name(hf));
            joule_path_join(conf, sizeof conf, cand, "config.json");
            if (joule_is_file(conf)) {
                study_set_field(m->dir, sizeof m->dir, cand);
                m->real = 1;
            }
        }
        if (!m->real) {
            char sub[300];
            snprintf(sub, sizeof sub, "models/%s-%s", short_name(hf), joule_dtype_name(dtype));
            joule_path_join(m->dir, sizeof m->dir, out, sub);
        }
    }
    if (n_models == 0) {
        fprintf(stderr, "joule reproduce: --models matches none of the study's 12 models\n");
        return 2;
    }
    int n_avail = 0;
    for (size_t i = 0; i < n_cfg; i++)
        n_avail += cfg[i].available;

    printf("joule reproduce: the seed study's protocol on this machine\n");
    printf("  prompts: %s (%d of 164), greedy, max_length %d tokens in total\n", prompts,
           proto.n_prompts, proto.max_length);
    printf("  %d repetitions, %.0f s warm-up, %.0f s cool-down per run\n", proto.reps,
           proto.warmup_s, proto.cooldown_s);
    printf("  configurations:\n");
    for (size_t i = 0; i < n_cfg; i++)
        printf("    %-8s %-5s %s%s\n", cfg[i].engine, cfg[i].provider,
               cfg[i].available ? "will run" : "skipped: ", cfg[i].available ? "" : cfg[i].why);
    printf("  models:\n");
    double total_s = 0, disk = 0;
    int n_runs = 0;
    for (int i = 0; i < n_models; i++) {
        double per_model = 0;
        char skipped[512] = "";
        for (size_t k = 0; k < n_cfg; k++) {
            char why[256];
            int ok = models[i].real
                         ? joule_study_dir_supported(cfg[k].engine, models[i].dir, why, sizeof why)
                         : joule_study_model_supported(cfg[k].engine,
                                                       joule_synth_shape_config(models[i].hf), why,
                                                       sizeof why);
            if (cfg[k].available && !ok) {
                size_t used = strlen(skipped);
                snprintf(skipped + used, sizeof skipped - used,
                         "      not under %.31s/%.31s: %.300s\n", cfg[k].engine, cfg[k].provider,
                         why);
                continue;
            }
            if (cfg[k].available) {
                per_model += proto.reps * joule_study_run_seconds(&proto, models[i].params, bpp,
                                                                  cfg[k].provider);
                n_runs += proto.reps;
            }
        }
        total_s += per_model;
        if (!models[i].real) disk += (double)models[i].params * bpp;
        char dur[32];
        fmt_hours(per_model, dur, sizeof dur);
        printf("    %-46s %6.0f M params  %-10s %s\n", models[i].hf, models[i].params / 1e6,
               models[i].real ? "real" : "synthesized", dur);
        fputs(skipped, stdout);
    }
    char dur[32];
    fmt_hours(total_s, dur, sizeof dur);
    printf(
        "  runs: %d models x %d configurations x %d repetitions = %d; %d after unsupported pairs\n",
        n_models, n_avail, proto.reps, n_models * n_avail * proto.reps, n_runs);
    printf("  expected duration: about %s (idle phases plus decoding at an assumed memory\n"
           "  bandwidth of 20 GB/s on CPU and 1.5 TB/s on CUDA; a planning figure)\n",
           dur);
    printf("  disk for synthesized twins: %.1f GB in %s/models\n", disk / 1e9, out);
    if (dry) return 0;
    if (n_avail == 0) {
        fprintf(stderr, "joule reproduce: no serving configuration can run here\n");
        return 1;
    }

    for (int i = 0; i < n_models; i++) {
        if (models[i].real) continue;
        char conf[1200];
        joule_path_join(conf, sizeof conf, models[i].dir, "config.json");
        if (joule_is_file(conf)) continue; /* from an earlier, interrupted reproduce */
        struct joule_synth_params sp = joule_synth_default_params();
        sp.dtype = dtype;
        fprintf(stderr, "synthesizing %s into %s\n", models[i].hf, models[i].dir);
        if (joule_synth_write(models[i].hf, models[i].dir, &sp) != JOULE_OK) {
            fprintf(stderr, "joule reproduce: synth %s: %s\n", models[i].hf, joule_last_error());
            return 1;
        }
    }
    struct joule_bench_settings bs;
    joule_bench_default_settings(&bs);
    for (int i = 0; i < n_models; i++)
        study_set_field(bs.models[i], sizeof bs.models[i], models[i].dir);
    bs.n_models = n_models;
    bs.reps = proto.reps;
    bs.warmup_s = proto.warmup_s;
    bs.cooldown_s = proto.cooldown_s;
    study_set_field(bs.prompts, sizeof bs.prompts, prompts);
    bs.limit = limit;
    study_set_field(bs.api, sizeof bs.api, "study");
    bs.max_length = proto.max_length;
    bs.threads = threads;
    study_set_field(bs.sensors, sizeof bs.sensors, sensors);
    char db[1100], report_dir[1100];
    if (joule_mkdirs(out) != JOULE_OK) {
        fprintf(stderr, "joule reproduce: %s\n", joule_last_error());
        return 1;
    }
    joule_path_join(db, sizeof db, out, "results.db");
    joule_path_join(report_dir, sizeof report_dir, out, "report");
    study_set_field(bs.db, sizeof bs.db, db);
    int failed = study_run_campaigns(&bs, "reproduce", cfg, n_cfg);
    if (failed < 0) return 1;
    if (study_write_report(db, report_dir, "joule reproduce: the seed study") != 0) return 1;
    study_print_summary(db);
    printf("\nreport: %s/index.html\n", report_dir);
    return failed ? 1 : 0;
}
