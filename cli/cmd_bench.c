/* joule bench: run a measurement campaign. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "joule/bench.h"
#include "util/log.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: joule bench --model DIR[,DIR...] --prompts FILE [options]\n"
           "       joule bench --campaign FILE [options]\n\n"
           "Run a measurement campaign: every model x engine x provider x repetition, in an\n"
           "order shuffled with the seed. Each run starts `joule serve` as a child process,\n"
           "waits for /health, idles for the warm-up, sends every prompt over HTTP, idles for\n"
           "the cool-down and stops the server, while a sampler records energy and resources.\n"
           "Results go to an SQLite database (docs/results-schema.md). Running the same\n"
           "campaign again resumes it: finished runs are skipped, interrupted and failed ones\n"
           "are redone.\n\n"
           "options:\n"
           "  --model DIR[,DIR...]   model directories (required unless in --campaign)\n"
           "  --engine LIST          engines, comma-separated (default native)\n"
           "  --provider LIST        execution providers (default cpu)\n"
           "  --reps N               repetitions of each configuration (default 1)\n"
           "  --warmup SECONDS       idle time before the requests (default 300)\n"
           "  --cooldown SECONDS     idle time after the requests (default 300)\n"
           "  --prompts FILE         JSONL with \"prompt\" or \"new_prompt\" (joule dataset's\n"
           "                         output or data/paper-RandomHumanEval.jsonl)\n"
           "  --limit N              only the first N prompts (default all)\n"
           "  --api study|openai     study: POST /huggingface_models/{model}/{engine} (greedy,\n"
           "                         max_length 128, as the study); openai: /v1/completions\n"
           "                         with max_tokens = max-length - the prompt's n_tokens\n"
           "                         (default study)\n"
           "  --max-length N         prompt + generated tokens (default 128; needs --api openai\n"
           "                         for another value)\n"
           "  --concurrency N        requests in flight at once (default 1, as the study)\n"
           "  --db FILE              results database (default results.db); server logs go\n"
           "                         to FILE.logs/\n"
           "  --seed N               seed of the run order (default 1)\n"
           "  --sensors LIST         sensor kinds, as joule measure (default all)\n"
           "  --interval-ms N        sampler period (default 100)\n"
           "  --threads N            --threads of each server (default: the server's)\n"
           "  --port-base N          first port to try (default: a free ephemeral port)\n"
           "  --name NAME            campaign name (default campaign)\n"
           "  --startup-timeout S    wait this long for /health (default 600)\n"
           "  --request-timeout S    per request (default 600)\n"
           "  --campaign FILE        settings as JSON (members: models, engines, providers,\n"
           "                         reps, warmup, cooldown, prompts, limit, max_length, api,\n"
           "                         concurrency, seed, sensors, threads, interval_ms, db,\n"
           "                         port_base, name, startup_timeout, request_timeout; relative\n"
           "                         paths are relative to the file); flags given too override it\n"
           "  -q, --quiet            no progress bar\n"
           "  -h, --help             this help\n\n"
           "Exit status: 0 when every run is done, 1 when some run failed, 2 on bad usage.\n");
}

struct ui {
    int tty;
    int quiet;
    int bar_shown;
};

static void fmt_dur(double s, char *buf, size_t cap)
{
    if (!(s >= 0)) {
        snprintf(buf, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void on_progress(void *user, const struct joule_bench_progress *p)
{
    struct ui *u = user;
    if (!u->tty || u->quiet) return;
    int width = 20;
    double frac = p->n_runs ? (double)p->run_index / p->n_runs : 1;
    char bar[32], eta[32], phase[64];
    int fill = (int)(frac * width);
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fmt_dur(p->eta_s, eta, sizeof eta);
    if (p->phase == JOULE_BENCH_PHASE_WORK)
        snprintf(phase, sizeof phase, "requests %d/%d", p->requests_done, p->n_requests);
    else if (p->phase_total_s > 0)
        snprintf(phase, sizeof phase, "%s %.0f/%.0f s", joule_bench_phase_name(p->phase),
                 p->phase_elapsed_s, p->phase_total_s);
    else
        snprintf(phase, sizeof phase, "%s", joule_bench_phase_name(p->phase));
    fprintf(stderr, "\r\033[K[%s] run %d/%d %s %s/%s #%d  %s  time left %s", bar, p->run_index + 1,
            p->n_runs, p->run->model, p->run->engine, p->run->provider, p->run->repetition, phase,
            eta);
    fflush(stderr);
    u->bar_shown = 1;
}

static void clear_bar(struct ui *u)
{
    if (u->bar_shown) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        u->bar_shown = 0;
    }
}

static void on_run_end(void *user, const struct joule_bench_progress *p,
                       const struct joule_bench_run_result *r)
{
    struct ui *u = user;
    clear_bar(u);
    double gross = 0, net = 0;
    int n = 0, est = 0;
    for (size_t k = 0; k < r->n_sources; k++) {
        if (!r->sources[k].in_total) continue;
        gross += r->energy[k].gross_j;
        net += r->energy[k].net_j;
        est |= r->sources[k].estimated;
        n++;
    }
    printf("run %d/%d %s %s/%s #%d: ", p->run_index + 1, p->n_runs, p->run->model, p->run->engine,
           p->run->provider, p->run->repetition);
    if (r->failed) {
        printf("FAILED: %s\n", r->error);
    } else {
        printf("done, %d ok %d failed, %.2f s", r->requests_ok, r->requests_failed, r->execution_s);
        if (n && isfinite(gross)) {
            printf(", %.2f J", gross);
            if (isfinite(net)) printf(" (net of idle %.2f J)", net);
            if (est) printf(" estimated");
        }
        printf("\n");
    }
    fflush(stdout);
}

static void on_message(void *user, const char *text)
{
    clear_bar(user);
    fprintf(stderr, "joule bench: %s\n", text);
}

static int parse_num(const char *arg, const char *flag, double min, double *out)
{
    char *end = NULL;
    double v = strtod(arg, &end);
    if (!*arg || *end || !isfinite(v) || v < min) {
        fprintf(stderr, "joule bench: %s: expected a number >= %g, got '%s'\n", flag, min, arg);
        return 0;
    }
    *out = v;
    return 1;
}

static int parse_int(const char *arg, const char *flag, int min, int *out)
{
    double v;
    if (!parse_num(arg, flag, min, &v)) return 0;
    if (v != floor(v) || v > 2147483647.0) {
        fprintf(stderr, "joule bench: %s: expected an integer, got '%s'\n", flag, arg);
        return 0;
    }
    *out = (int)v;
    return 1;
}

enum {
    OPT_MODEL = 256,
    OPT_ENGINE,
    OPT_PROVIDER,
    OPT_REPS,
    OPT_WARMUP,
    OPT_COOLDOWN,
    OPT_PROMPTS,
    OPT_LIMIT,
    OPT_MAXLEN,
    OPT_API,
    OPT_CONC,
    OPT_DB,
    OPT_SEED,
    OPT_SENSORS,
    OPT_INTERVAL,
    OPT_THREADS,
    OPT_PORT,
    OPT_NAME,
    OPT_STARTUP,
    OPT_REQTIMEOUT,
    OPT_CAMPAIGN,
};

static int apply(struct joule_bench_settings *s, int opt, const char *arg)
{
    enum joule_status st = JOULE_OK;
    double d;
    switch (opt) {
    case OPT_MODEL:
        st = joule_bench_parse_list(arg, "--model", &s->models[0][0], sizeof s->models[0],
                                    &s->n_models);
        break;
    case OPT_ENGINE:
        st = joule_bench_parse_list(arg, "--engine", &s->engines[0][0], sizeof s->engines[0],
                                    &s->n_engines);
        break;
    case OPT_PROVIDER:
        st = joule_bench_parse_list(arg, "--provider", &s->providers[0][0], sizeof s->providers[0],
                                    &s->n_providers);
        break;
    case OPT_REPS:
        return parse_int(arg, "--reps", 1, &s->reps);
    case OPT_WARMUP:
        return parse_num(arg, "--warmup", 0, &s->warmup_s);
    case OPT_COOLDOWN:
        return parse_num(arg, "--cooldown", 0, &s->cooldown_s);
    case OPT_PROMPTS:
        snprintf(s->prompts, sizeof s->prompts, "%s", arg);
        break;
    case OPT_LIMIT:
        return parse_int(arg, "--limit", 0, &s->limit);
    case OPT_MAXLEN:
        return parse_int(arg, "--max-length", 1, &s->max_length);
    case OPT_API:
        snprintf(s->api, sizeof s->api, "%s", arg);
        break;
    case OPT_CONC:
        return parse_int(arg, "--concurrency", 1, &s->concurrency);
    case OPT_DB:
        snprintf(s->db, sizeof s->db, "%s", arg);
        break;
    case OPT_SEED:
        if (!parse_num(arg, "--seed", 0, &d)) return 0;
        s->seed = strtoull(arg, NULL, 10);
        break;
    case OPT_SENSORS:
        snprintf(s->sensors, sizeof s->sensors, "%s", arg);
        break;
    case OPT_INTERVAL:
        return parse_int(arg, "--interval-ms", 1, &s->interval_ms);
    case OPT_THREADS:
        return parse_int(arg, "--threads", 0, &s->threads);
    case OPT_PORT:
        return parse_int(arg, "--port-base", 0, &s->port_base);
    case OPT_NAME:
        snprintf(s->name, sizeof s->name, "%s", arg);
        break;
    case OPT_STARTUP:
        return parse_num(arg, "--startup-timeout", 0, &s->startup_timeout_s);
    case OPT_REQTIMEOUT:
        return parse_num(arg, "--request-timeout", 0, &s->request_timeout_s);
    default:
        return 1;
    }
    if (st != JOULE_OK) {
        fprintf(stderr, "joule bench: %s\n", joule_last_error());
        return 0;
    }
    return 1;
}

int joule_cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"engine", required_argument, NULL, OPT_ENGINE},
        {"provider", required_argument, NULL, OPT_PROVIDER},
        {"reps", required_argument, NULL, OPT_REPS},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"cooldown", required_argument, NULL, OPT_COOLDOWN},
        {"prompts", required_argument, NULL, OPT_PROMPTS},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"max-length", required_argument, NULL, OPT_MAXLEN},
        {"api", required_argument, NULL, OPT_API},
        {"concurrency", required_argument, NULL, OPT_CONC},
        {"db", required_argument, NULL, OPT_DB},
        {"seed", required_argument, NULL, OPT_SEED},
        {"sensors", required_argument, NULL, OPT_SENSORS},
        {"interval-ms", required_argument, NULL, OPT_INTERVAL},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"port-base", required_argument, NULL, OPT_PORT},
        {"name", required_argument, NULL, OPT_NAME},
        {"startup-timeout", required_argument, NULL, OPT_STARTUP},
        {"request-timeout", required_argument, NULL, OPT_REQTIMEOUT},
        {"campaign", required_argument, NULL, OPT_CAMPAIGN},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct joule_bench_settings *s = malloc(sizeof *s);
    if (!s) return 1;
    joule_bench_default_settings(s);
    struct ui u = {isatty(2), 0, 0};
    /* First pass: --campaign and --help, so that flags override the file. */
    const char *campaign = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        if (c == OPT_CAMPAIGN) campaign = optarg;
        if (c == 'h') {
            usage(stdout);
            free(s);
            return 0;
        }
    }
    if (campaign && joule_bench_settings_load(campaign, s) != JOULE_OK) {
        fprintf(stderr, "joule bench: %s\nnothing was run.\n", joule_last_error());
        free(s);
        return 2;
    }
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        if (c == '?') {
            usage(stderr);
            free(s);
            return 2;
        }
        if (c == 'q') u.quiet = 1;
        if (!apply(s, c, optarg)) {
            free(s);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "joule bench: unexpected argument '%s'\n", argv[optind]);
        free(s);
        return 2;
    }
    if (joule_bench_settings_check(s) != JOULE_OK) {
        fprintf(stderr, "joule bench: %s\nnothing was run.\n", joule_last_error());
        free(s);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct joule_bench_events ev = {&u, on_progress, on_run_end, on_message};
    struct joule_bench_summary sum;
    enum joule_status st = joule_bench_campaign_run(s, &ev, &sum);
    clear_bar(&u);
    if (st != JOULE_OK) {
        fprintf(stderr, "joule bench: %s\n%s", joule_last_error(),
                sum.campaign_id ? "" : "nothing was run.\n");
        free(s);
        return 1;
    }
    printf("campaign %lld (%s): %d runs; this time %d done, %d failed; %d skipped as done "
           "before -> %s\n",
           (long long)sum.campaign_id, s->name, sum.n_runs, sum.n_done, sum.n_failed, sum.n_skipped,
           s->db);
    free(s);
    return sum.n_failed ? 1 : 0;
}
