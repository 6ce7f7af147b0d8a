/* joule serve: serve one model over HTTP until SIGTERM or SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "joule/engine.h"
#include "joule/sensor.h"
#include "joule/server.h"
#include "sensor_cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: joule serve --model DIR [options]\n\n"
            "Serve one model over HTTP until SIGTERM or SIGINT (which finish the requests in\n"
            "flight). Routes: POST /v1/completions (OpenAI-compatible, \"stream\": true for\n"
            "server-sent events), POST /huggingface_models/{model}/{engine} and\n"
            "POST /load_model/{engine}/{model} (the seed study's API), GET /health,\n"
            "GET /v1/models, GET /metrics (Prometheus).\n\n"
            "options:\n"
            "  --model DIR          Hugging Face model directory (tokenizer.json beside it)\n"
            "  --model-name NAME    name to serve the model under (default: the directory's\n"
            "                       base name); the study's routes must use it\n"
            "  --engine NAME        runtime engine (default native)\n"
            "  --provider NAME      execution provider: cpu (default) or cuda\n"
            "  --threads N          engine worker threads (default: all online cores)\n"
            "  --n-ctx N            context length (default: the model's maximum)\n"
            "  --host ADDR          address to listen on (default 127.0.0.1)\n"
            "  --port N             TCP port (default 8000; 0 = any free port, printed)\n"
            "  --api-key KEY        require 'Authorization: Bearer KEY' (all routes but\n"
            "                       /health); default $JOULE_API_KEY, else none\n"
            "  --max-queue N        requests that may wait for the engine (default 256);\n"
            "                       beyond, 503 with Retry-After\n"
            "  --timeout-s N        per-request limit from arrival (default 300; 0 = none):\n"
            "                       503 while queued, finish_reason \"timeout\" while generating\n"
            "  --max-body BYTES     largest request body (default 1048576); beyond, 413\n"
            "  --sensors LIST       attribute energy to each request from these sensors\n"
            "                       (\"all\" or e.g. \"rapl,nvml,estimate\"; default: none)\n"
            "  --interval-ms N      sensor sampling interval (default 100)\n" SENSOR_CLI_HELP
            "  -h, --help           show this help\n");
}

/* ---- energy from a sensor sampler ------------------------------------------------ */

struct sampler_energy {
    struct joule_sampler *sampler;
    size_t n_set;   /* sources in the set */
    size_t n;       /* sources reported (those with energy, then "total") */
    size_t idx[64]; /* set index of each reported source but the total */
    const char *names[65];
    struct joule_sensor_energy *scratch; /* [n_set]; used on the engine worker only */
};

static enum joule_status sampler_energy_between(void *user, int64_t t0, int64_t t1, double *out)
{
    struct sampler_energy *se = user;
    /* a short request may fall between two samples: take one now */
    joule_sampler_sample_now(se->sampler);
    double total = NAN;
    enum joule_status s = joule_sampler_energy(se->sampler, t0, t1, se->scratch, &total, NULL);
    if (s != JOULE_OK) return s;
    for (size_t i = 0; i + 1 < se->n; i++)
        out[i] = se->scratch[se->idx[i]].energy_j;
    out[se->n - 1] = total;
    return JOULE_OK;
}

static int sensors_open(const char *list, const struct joule_sensor_params *sp, int interval_ms,
                        struct joule_sensor_set **set, struct sampler_energy *se)
{
    enum joule_status s = joule_sensor_set_open(list, sp, set);
    if (s != JOULE_OK) {
        fprintf(stderr, "joule serve: --sensors: %s\n", joule_last_error());
        return -1;
    }
    se->n_set = joule_sensor_set_count(*set);
    se->n = 0;
    for (size_t i = 0; i < se->n_set && se->n < 15; i++) {
        const struct joule_sensor_info *in = joule_sensor_set_info(*set, i);
        if (in->state == JOULE_SENSOR_OK && in->has_energy) {
            se->idx[se->n] = i;
            se->names[se->n++] = in->name;
        } else if (in->state != JOULE_SENSOR_OK && in->state != JOULE_SENSOR_NOT_NEEDED) {
            fprintf(stderr, "joule serve: sensor %s unavailable: %s\n", in->name, in->reason);
        }
    }
    se->names[se->n++] = "total";
    se->scratch = calloc(se->n_set ? se->n_set : 1, sizeof *se->scratch);
    struct joule_sampler_params pp = joule_sampler_default_params();
    pp.interval_ns = (int64_t)interval_ms * 1000000;
    pp.max_samples = 100000; /* a long-running server must not grow without bound */
    if (!se->scratch || joule_sampler_start(*set, &pp, &se->sampler) != JOULE_OK) {
        fprintf(stderr, "joule serve: cannot start the sensor sampler: %s\n", joule_last_error());
        return -1;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------------ */

static int parse_int(const char *name, const char *arg, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < lo || v > hi) {
        fprintf(stderr, "joule serve: bad %s '%s' (expected %ld..%ld)\n", name, arg, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int joule_cmd_serve(int argc, char **argv)
{
    enum {
        O_MODEL = 256,
        O_NAME,
        O_ENGINE,
        O_PROVIDER,
        O_THREADS,
        O_NCTX,
        O_HOST,
        O_PORT,
        O_KEY,
        O_QUEUE,
        O_TIMEOUT,
        O_BODY,
        O_SENSORS,
        O_INTERVAL,
    };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},
        {"model-name", required_argument, 0, O_NAME},
        {"engine", required_argument, 0, O_ENGINE},
        {"provider", required_argument, 0, O_PROVIDER},
        {"threads", required_argument, 0, O_THREADS},
        {"n-ctx", required_argument, 0, O_NCTX},
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"api-key", required_argument, 0, O_KEY},
        {"max-queue", required_argument, 0, O_QUEUE},
        {"timeout-s", required_argument, 0, O_TIMEOUT},
        {"max-body", required_argument, 0, O_BODY},
        {"sensors", required_argument, 0, O_SENSORS},
        {"interval-ms", required_argument, 0, O_INTERVAL},
        {"help", no_argument, 0, 'h'},
        SENSOR_CLI_LONG_OPTIONS,
        {0, 0, 0, 0},
    };
    const char *model = NULL, *sensors = NULL;
    struct joule_engine_params ep = joule_engine_default_params();
    struct joule_server_params sp = joule_server_default_params();
    struct joule_sensor_params snp = joule_sensor_default_params();
    sp.api_key = getenv("JOULE_API_KEY");
    long v = 0, interval_ms = 100;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_MODEL:
            model = optarg;
            break;
        case O_NAME:
            sp.model_name = optarg;
            break;
        case O_ENGINE:
            ep.engine = optarg;
            break;
        case O_PROVIDER:
            ep.provider = optarg;
            break;
        case O_THREADS:
            bad = parse_int("--threads", optarg, 0, 4096, &v);
            ep.n_threads = (int)v;
            break;
        case O_NCTX:
            bad = parse_int("--n-ctx", optarg, 0, 1 << 24, &v);
            ep.n_ctx = (int)v;
            break;
        case O_HOST:
            sp.host = optarg;
            break;
        case O_PORT:
            bad = parse_int("--port", optarg, 0, 65535, &v);
            sp.port = (int)v;
            break;
        case O_KEY:
            sp.api_key = optarg;
            break;
        case O_QUEUE:
            bad = parse_int("--max-queue", optarg, 1, 1 << 20, &v);
            sp.max_queue = (int)v;
            break;
        case O_TIMEOUT:
            bad = parse_int("--timeout-s", optarg, 0, 86400 * 7, &v);
            sp.timeout_s = (int)v;
            break;
        case O_BODY:
            bad = parse_int("--max-body", optarg, 1, 1L << 30, &v);
            sp.max_body_bytes = (size_t)v;
            break;
        case O_SENSORS:
            sensors = optarg;
            break;
        case O_INTERVAL:
            bad = parse_int("--interval-ms", optarg, 1, 60000, &interval_ms);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default: {
            int r = sensor_cli_option(c, optarg, &snp);
            if (r == 1) break;
            if (r == 0) usage(stderr);
            return 2;
        }
        }
        if (bad) return 2;
    }
    if (optind < argc || !model) {
        fprintf(stderr, "joule serve: need --model DIR\n");
        usage(stderr);
        return 2;
    }

    /* SIGTERM/SIGINT are taken by sigwait below: block them before any thread starts
     * so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct joule_engine *e = NULL;
    enum joule_status s = joule_engine_open(model, &ep, &e);
    if (s != JOULE_OK) {
        fprintf(stderr, "joule serve: %s: %s\n", joule_status_str(s), joule_last_error());
        return 1;
    }
    int rc = 1;
    struct joule_sensor_set *set = NULL;
    struct sampler_energy se = {0};
    struct joule_server_energy hook = {0};
    struct joule_server *srv = NULL;
    if (sensors) {
        if (sensors_open(sensors, &snp, (int)interval_ms, &set, &se) != 0) goto out;
        hook.n_sources = se.n;
        hook.source_names = se.names;
        hook.energy_between = sampler_energy_between;
        hook.user = &se;
        sp.energy = &hook;
    }
    s = joule_server_start(e, &sp, &srv);
    if (s != JOULE_OK) {
        fprintf(stderr, "joule serve: %s: %s\n", joule_status_str(s), joule_last_error());
        goto out;
    }
    const struct joule_engine_info *info = joule_engine_get_info(e);
    fprintf(stderr, "joule serve: %s (%s, %s/%s, %d threads) on http://%s:%d\n",
            sp.model_name ? sp.model_name : info->model_name, info->arch, info->engine,
            info->provider, info->n_threads, sp.host, joule_server_port(srv));
    if (!joule_engine_tokenizer(e))
        fprintf(stderr, "joule serve: no tokenizer.json: prompts must be token ids\n");
    fflush(stderr);
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {
    }
    fprintf(stderr, "joule serve: %s: finishing the requests in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    joule_server_stop(srv);
    fprintf(stderr, "joule serve: stopped\n");
    rc = 0;
out:
    joule_server_free(srv);
    joule_sampler_free(se.sampler);
    joule_sensor_set_free(set);
    free(se.scratch);
    joule_engine_free(e);
    return rc;
}
