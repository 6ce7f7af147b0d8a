/* Native engine on the CPU against the memory-bandwidth roofline.
 *
 *   bench_native [--threads 1,2] [--decode N] [--prefill N] [--busy] [--quantize q8] MODEL_DIR...
 *
 * --engine ggml measures llama.cpp through joule's ggml engine on the same
 * footing (MODEL may then be a .gguf file; its size counts as the bytes read).
 * --busy forks a process that keeps one core busy for the whole run (to see
 * how the thread pool copes with a competitor).
 *
 * Measures the machine's memory read bandwidth (a streaming read of 1 GiB
 * with the engine's own dot kernel, per thread count), then for each model:
 * prefill tokens/s for an N-token prompt, decode ms/token (median over N
 * steps), and the fraction of the roofline = bytes of weights read per token
 * / bandwidth / time per token. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/native/cpu/kernels.h"
#include "engine/native/cpu/pool.h"
#include "joule/engine.h"
#include "joule/model.h"
#include "model/arch.h"
#include "util/clock.h"

#define BW_BYTES ((size_t)1 << 30)
#define BW_CHUNK 4096 /* floats per task */

struct bw_task {
    const struct jn_kernels *k;
    const float *big, *x;
    size_t n_chunks;
    atomic_size_t next;
    float sink[64];
};

static void bw_worker(void *ctx, int ith, int nth)
{
    (void)nth;
    struct bw_task *t = ctx;
    float s = 0;
    for (;;) {
        size_t c = atomic_fetch_add(&t->next, 1);
        if (c >= t->n_chunks) break;
        s += t->k->dot_f32(t->x, t->big + c * BW_CHUNK, BW_CHUNK);
    }
    t->sink[ith % 64] += s;
}

static double read_bandwidth(int threads)
{
    const struct jn_kernels *k = jn_kernels_select();
    float *big = malloc(BW_BYTES), *x = malloc(BW_CHUNK * sizeof *x);
    struct jn_pool *pool = NULL;
    if (!big || !x || !k || jn_pool_create(threads, &pool) != JOULE_OK) return 0;
    for (size_t i = 0; i < BW_BYTES / 4; i++)
        big[i] = (float)(i & 7);
    for (int i = 0; i < BW_CHUNK; i++)
        x[i] = 1.0f;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        struct bw_task t = {.k = k, .big = big, .x = x, .n_chunks = BW_BYTES / 4 / BW_CHUNK};
        atomic_init(&t.next, 0);
        int64_t t0 = joule_now_ns();
        jn_pool_run(pool, bw_worker, &t);
        double gbs = (double)BW_BYTES / (double)(joule_now_ns() - t0);
        if (gbs > best) best = gbs;
    }
    jn_pool_free(pool);
    free(big);
    free(x);
    return best;
}

/* Bytes of weights one decode step reads: every bound tensor once, but only
 * one row of the position embedding (and the tied head counted once). */
static int is_matrix_role(int r)
{
    return r == JOULE_ROLE_QKV_W || r == JOULE_ROLE_Q_W || r == JOULE_ROLE_K_W ||
           r == JOULE_ROLE_V_W || r == JOULE_ROLE_O_W || r == JOULE_ROLE_UP_W ||
           r == JOULE_ROLE_GATE_W || r == JOULE_ROLE_DOWN_W || r == JOULE_ROLE_LM_HEAD_W;
}

/* q8: the layer matrices and the output head are read as q8_0 blocks (34
 * bytes per 32 weights); a tied head is a q8 copy of the embedding. */
static double bytes_per_token(const char *dir, int q8)
{
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) return (double)st.st_size; /* a .gguf */
    struct joule_model *m = NULL;
    if (joule_model_load(dir, NULL, &m) != JOULE_OK) return 0;
    const struct joule_model_config *c = joule_model_get_config(m);
    double total = 0;
    for (int layer = -1; layer < c->n_layers; layer++)
        for (int r = 0; r < JOULE_ROLE_COUNT; r++) {
            if ((layer < 0) != (r < JOULE_ROLE_FIRST_LAYER)) continue;
            const struct joule_tensor *t = joule_model_role(m, (enum joule_role)r, layer);
            if (!t) continue;
            double nelem = (double)t->shape[0] * (double)(t->n_dims > 1 ? t->shape[1] : 1);
            int tied_head = r == JOULE_ROLE_TOK_EMB && c->tie_word_embeddings;
            if (r == JOULE_ROLE_POS_EMB)
                total += (double)t->nbytes / (double)t->shape[0];
            else if (q8 && (is_matrix_role(r) || tied_head))
                total += nelem * 34.0 / 32.0;
            else
                total += (double)t->nbytes;
        }
    joule_model_free(m);
    return total;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int threads[8] = {1, 2}, n_threads = 2, n_decode = 32, n_prefill = 64;
    int i = 1;
    pid_t busy = -1;
    const char *quantize = NULL, *engine = "native";
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_threads = 0;
            for (char *p = argv[++i]; *p && n_threads < 8;) {
                threads[n_threads++] = (int)strtol(p, &p, 10);
                if (*p == ',') p++;
            }
        } else if (!strcmp(argv[i], "--decode") && i + 1 < argc) {
            n_decode = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--prefill") && i + 1 < argc) {
            n_prefill = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--quantize") && i + 1 < argc) {
            quantize = argv[++i];
        } else if (!strcmp(argv[i], "--engine") && i + 1 < argc) {
            engine = argv[++i];
        } else if (!strcmp(argv[i], "--busy")) {
            busy = fork();
            if (busy == 0)
                for (volatile unsigned long spin = 0;; spin++)
                    continue;
        } else {
            fprintf(stderr,
                    "usage: %s [--threads 1,2] [--decode N] [--prefill N] [--busy] [--quantize q8] "
                    "MODEL_DIR...\n",
                    argv[0]);
            return 2;
        }
    }
    const struct jn_kernels *k = jn_kernels_select();
    printf("engine: %s; native kernels: %s\n", engine, k ? k->name : "(none)");
    double bw[8];
    for (int t = 0; t < n_threads; t++) {
        bw[t] = read_bandwidth(threads[t]);
        printf("read bandwidth, %d thread(s): %.1f GB/s\n", threads[t], bw[t]);
    }
    if (busy > 0) printf("a competing process keeps one core busy\n");
    printf("%-24s %-5s %3s %9s %11s %10s %9s %9s\n", "model", "dtype", "thr", "MB/token",
           "prefill t/s", "decode ms", "(min ms)", "roofline");
    for (; i < argc; i++) {
        double bytes = bytes_per_token(argv[i], quantize != NULL);
        for (int t = 0; t < n_threads; t++) {
            struct joule_engine_params ep = joule_engine_default_params();
            ep.n_threads = threads[t];
            ep.quantize = quantize;
            ep.engine = engine;
            struct joule_engine *e = NULL;
            if (joule_engine_open(argv[i], &ep, &e) != JOULE_OK) {
                fprintf(stderr, "%s: %s\n", argv[i], joule_last_error());
                break;
            }
            const struct joule_engine_info *info = joule_engine_get_info(e);
            int32_t *prompt = malloc((size_t)n_prefill * sizeof *prompt);
            float *logits = malloc((size_t)info->n_vocab * sizeof *logits);
            for (int j = 0; j < n_prefill; j++)
                prompt[j] = (int32_t)((j * 7919) % info->n_vocab);
            int64_t t0 = joule_now_ns();
            joule_engine_eval(e, prompt, (size_t)n_prefill, logits, 0);
            double prefill_s = (double)(joule_now_ns() - t0) / 1e9;
            joule_engine_reset(e);
            joule_engine_eval(e, prompt, 1, logits, 0);
            int64_t *dt = malloc((size_t)n_decode * sizeof *dt);
            int32_t tok = 1;
            for (int j = 0; j < n_decode; j++) {
                int64_t s0 = joule_now_ns();
                joule_engine_eval(e, &tok, 1, logits, 0);
                dt[j] = joule_now_ns() - s0;
                tok = (int32_t)((tok * 31 + 7) % info->n_vocab);
            }
            qsort(dt, (size_t)n_decode, sizeof *dt, cmp_i64);
            double ms = (double)dt[n_decode / 2] / 1e6, min_ms = (double)dt[0] / 1e6;
            double roof = bytes / (bw[t] * 1e9) / (ms / 1e3);
            const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
            printf("%-24s %-5s %3d %9.1f %11.1f %10.2f %9.2f %8.0f%%\n", name, info->dtype,
                   threads[t], bytes / 1e6, n_prefill / prefill_s, ms, min_ms, 100 * roof);
            fflush(stdout);
            free(dt);
            free(prompt);
            free(logits);
            joule_engine_free(e);
        }
    }
    if (busy > 0) {
        kill(busy, SIGKILL);
        waitpid(busy, NULL, 0);
    }
    return 0;
}
