/* Native engine on the CPU against the memory-bandwidth roofline.
 *
 *   bench_native [--threads 1,2] [--decode N] [--prefill N] [--rounds R] [--busy]
 *                [--quantize q8] [--engine NAME] [ENGINE:]MODEL...
 *
 * Measures the machine's memory read bandwidth the way issue 3 defines it (a
 * streaming read of 1 GiB with 8 independent accumulators, split evenly over
 * the threads, best of 5), then for each model and thread count: prefill
 * tokens/s for an N-token prompt, decode ms/token (median over N steps), and
 * the fraction of the roofline = bytes of weights read per token / bandwidth
 * / time per token.
 *
 * --kernels also measures the decode kernels alone (dot products over rows of
 * 768 weights, F32/F16/BF16/q8_0, each thread its own share), against the same
 * bandwidth: how much of the roofline the kernels leave before the rest of a
 * decode step (attention, norms, synchronisation) takes its part.
 *
 * A model argument may name its engine ("ggml:/tmp/m.gguf", "native:/tmp/m"),
 * so that several engines are measured in one run; --engine sets the default.
 * With --rounds R the whole set (bandwidth, then every model and thread count)
 * is measured R times, interleaved, and the table reports medians over the
 * rounds (the roofline as the median of each round's own fraction), which is
 * what a shared, noisy machine needs. --busy forks a process that keeps one
 * core busy for the whole run (to see how the thread pool copes with a
 * competitor). A .gguf model counts its file size as the bytes read. */
#include <pthread.h>
#include <signal.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "engine/native/cpu/kernels.h"
#include "joule/engine.h"
#include "joule/model.h"
#include "model/arch.h"
#include "util/clock.h"

#define BW_BYTES ((size_t)1 << 30)
#define MAX_ROUNDS 64
#define MAX_THREADS 8
#define MAX_MODELS 16

/* Sum of n 64-byte lines with 8 independent accumulators (SIMD where the CPU has it, so
 * that the loop is never the bottleneck: only the memory is). */
#define ADD8(ADD, LOAD, W)                                                                         \
    do {                                                                                           \
        a0 = ADD(a0, LOAD(p + i));                                                                 \
        a1 = ADD(a1, LOAD(p + i + (W)));                                                           \
        a2 = ADD(a2, LOAD(p + i + 2 * (W)));                                                       \
        a3 = ADD(a3, LOAD(p + i + 3 * (W)));                                                       \
        a4 = ADD(a4, LOAD(p + i + 4 * (W)));                                                       \
        a5 = ADD(a5, LOAD(p + i + 5 * (W)));                                                       \
        a6 = ADD(a6, LOAD(p + i + 6 * (W)));                                                       \
        a7 = ADD(a7, LOAD(p + i + 7 * (W)));                                                       \
    } while (0)

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double sum_avx512(const float *p, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128)
        ADD8(_mm512_add_ps, _mm512_load_ps, 16);
    a0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                       _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    return _mm512_reduce_add_ps(a0);
}

__attribute__((target("avx"))) static double sum_avx(const float *p, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i + 64 <= n; i += 64)
        ADD8(_mm256_add_ps, _mm256_load_ps, 8);
    a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                       _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    float t[8];
    _mm256_storeu_ps(t, a0);
    return (double)t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#endif

static inline float add_f(float a, float b)
{
    return a + b;
}
static inline float load_f(const float *p)
{
    return *p;
}

static double sum_plain(const float *p, size_t n)
{
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (size_t i = 0; i + 8 <= n; i += 8)
        ADD8(add_f, load_f, 1);
    return (double)a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

static double (*pick_sum(void))(const float *, size_t)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return sum_avx512;
    if (__builtin_cpu_supports("avx")) return sum_avx;
#endif
    return sum_plain;
}

/* Run fn(ctx, ith, n) on n threads started together; seconds from the start to the
 * last one's end (thread creation is not timed). */
struct par {
    void (*fn)(void *ctx, int ith, int nth);
    void *ctx;
    int ith, nth;
    pthread_barrier_t *go;
};

static void *par_main(void *arg)
{
    struct par *a = arg;
    pthread_barrier_wait(a->go);
    a->fn(a->ctx, a->ith, a->nth);
    return NULL;
}

static double run_parallel(int n, void (*fn)(void *, int, int), void *ctx)
{
    pthread_t th[MAX_THREADS];
    struct par a[MAX_THREADS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)n + 1);
    for (int k = 0; k < n; k++) {
        a[k] = (struct par){fn, ctx, k, n, &go};
        if (pthread_create(&th[k], NULL, par_main, &a[k]) != 0) {
            fprintf(stderr, "cannot start %d threads\n", n);
            exit(1);
        }
    }
    pthread_barrier_wait(&go);
    int64_t t0 = joule_now_ns();
    for (int k = 0; k < n; k++)
        pthread_join(th[k], NULL);
    double s = (double)(joule_now_ns() - t0) / 1e9;
    pthread_barrier_destroy(&go);
    return s;
}

struct bw_task {
    const float *big;
    size_t n;
    double (*sum)(const float *, size_t);
    double sink[MAX_THREADS];
};

/* Thread ith reads the ith of nth equal, contiguous parts (as STREAM does). */
static void bw_worker(void *ctx, int ith, int nth)
{
    struct bw_task *t = ctx;
    size_t per = t->n / (size_t)nth / 128 * 128;
    t->sink[ith] = t->sum(t->big + (size_t)ith * per, per);
}

/* The 1 GiB buffer both probes read, written once (so that its pages exist). */
static float *probe_buffer(void)
{
    static float *big;
    if (!big) {
        big = aligned_alloc(64, BW_BYTES);
        if (!big) {
            fprintf(stderr, "out of memory for the 1 GiB probe buffer\n");
            exit(1);
        }
        for (size_t i = 0; i < BW_BYTES / 4; i++)
            big[i] = (float)(i & 7);
    }
    return big;
}

static double read_bandwidth(int threads)
{
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        struct bw_task t = {.big = probe_buffer(), .n = BW_BYTES / 4, .sum = pick_sum()};
        double gbs = (double)BW_BYTES / 1e9 / run_parallel(threads, bw_worker, &t);
        if (gbs > best) best = gbs;
    }
    return best;
}

/* The engine's decode kernel alone: dot products over rows of KROW weights of one dtype,
 * each thread its own contiguous share of the rows, as a matrix product of one token
 * reads them. Its rate against read_bandwidth says how much of the roofline the kernel
 * itself leaves (the rest of a decode step being attention, norms and synchronisation). */
#define KROW 768
struct kernel_task {
    const struct jn_kernels *k;
    enum joule_dtype dtype;
    const unsigned char *w;
    size_t rows, row_bytes;
    float x[KROW];
    double sink[MAX_THREADS];
};

static void kernel_worker(void *ctx, int ith, int nth)
{
    struct kernel_task *t = ctx;
    size_t per = t->rows / (size_t)nth, r0 = (size_t)ith * per;
    double s = 0;
    for (size_t r = r0; r < r0 + per; r++) {
        const void *row = t->w + r * t->row_bytes;
        switch (t->dtype) {
        case JOULE_DTYPE_F16:
            s += t->k->dot_f16(t->x, row, KROW);
            break;
        case JOULE_DTYPE_BF16:
            s += t->k->dot_bf16(t->x, row, KROW);
            break;
        case JOULE_DTYPE_Q8_0:
            s += t->k->dot_q8(t->x, row, KROW);
            break;
        default:
            s += t->k->dot_f32(t->x, row, KROW);
        }
    }
    t->sink[ith] = s;
}

static double kernel_stream(int threads, enum joule_dtype dtype)
{
    static struct kernel_task t;
    size_t row_bytes = dtype == JOULE_DTYPE_F32    ? KROW * 4
                       : dtype == JOULE_DTYPE_Q8_0 ? KROW / JN_Q8_BLOCK * sizeof(struct jn_q8_block)
                                                   : KROW * 2;
    t.k = jn_kernels_select();
    t.dtype = dtype;
    t.w = (const unsigned char *)probe_buffer(); /* small floats: valid f16/bf16/q8 bits too */
    t.row_bytes = row_bytes;
    t.rows = BW_BYTES / row_bytes;
    for (int i = 0; i < KROW; i++)
        t.x[i] = 1.0f / (float)(i + 1);
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double gbs = (double)(t.rows * row_bytes) / 1e9 / run_parallel(threads, kernel_worker, &t);
        if (gbs > best) best = gbs;
    }
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

/* One model at one thread count, over the rounds. */
struct row {
    const char *engine, *path;
    char dtype[16];
    int threads;
    double bytes;
    double prefill[MAX_ROUNDS], ms[MAX_ROUNDS], min_ms[MAX_ROUNDS], roof[MAX_ROUNDS];
    int n; /* rounds measured */
};

/* Prefill and decode of one model at one thread count; 0 on success. */
static int measure(struct row *r, const char *quantize, int n_prefill, int n_decode, double bw)
{
    struct joule_engine_params ep = joule_engine_default_params();
    ep.n_threads = r->threads;
    ep.quantize = quantize;
    ep.engine = r->engine;
    struct joule_engine *e = NULL;
    if (joule_engine_open(r->path, &ep, &e) != JOULE_OK) {
        fprintf(stderr, "%s:%s: %s\n", r->engine, r->path, joule_last_error());
        return -1;
    }
    const struct joule_engine_info *info = joule_engine_get_info(e);
    snprintf(r->dtype, sizeof r->dtype, "%s", info->dtype ? info->dtype : "?");
    int32_t *prompt = malloc((size_t)n_prefill * sizeof *prompt);
    float *logits = malloc((size_t)info->n_vocab * sizeof *logits);
    int64_t *dt = malloc((size_t)n_decode * sizeof *dt);
    int rc = -1;
    if (prompt && logits && dt) {
        for (int j = 0; j < n_prefill; j++)
            prompt[j] = (int32_t)((j * 7919) % info->n_vocab);
        int64_t t0 = joule_now_ns();
        joule_engine_eval(e, prompt, (size_t)n_prefill, logits, 0);
        double prefill_s = (double)(joule_now_ns() - t0) / 1e9;
        joule_engine_reset(e);
        joule_engine_eval(e, prompt, 1, logits, 0);
        int32_t tok = 1;
        for (int j = 0; j < n_decode; j++) {
            int64_t s0 = joule_now_ns();
            joule_engine_eval(e, &tok, 1, logits, 0);
            dt[j] = joule_now_ns() - s0;
            tok = (int32_t)((tok * 31 + 7) % info->n_vocab);
        }
        qsort(dt, (size_t)n_decode, sizeof *dt, cmp_i64);
        double ms = (double)dt[n_decode / 2] / 1e6;
        r->prefill[r->n] = n_prefill / prefill_s;
        r->ms[r->n] = ms;
        r->min_ms[r->n] = (double)dt[0] / 1e6;
        r->roof[r->n] = r->bytes / (bw * 1e9) / (ms / 1e3);
        r->n++;
        rc = 0;
    }
    free(dt);
    free(prompt);
    free(logits);
    joule_engine_free(e);
    return rc;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--threads 1,2] [--decode N] [--prefill N] [--rounds R] [--busy] "
            "[--kernels] [--quantize q8] [--engine NAME] [ENGINE:]MODEL...\n",
            argv0);
}

int main(int argc, char **argv)
{
    int threads[MAX_THREADS] = {1, 2}, n_threads = 2, n_decode = 32, n_prefill = 64, rounds = 1;
    int i = 1, kernels = 0;
    pid_t busy = -1;
    const char *quantize = NULL, *engine = "native";
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_threads = 0;
            for (char *p = argv[++i]; *p && n_threads < MAX_THREADS;) {
                threads[n_threads++] = (int)strtol(p, &p, 10);
                if (*p == ',') p++;
            }
        } else if (!strcmp(argv[i], "--decode") && i + 1 < argc) {
            n_decode = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--prefill") && i + 1 < argc) {
            n_prefill = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--quantize") && i + 1 < argc) {
            quantize = argv[++i];
        } else if (!strcmp(argv[i], "--engine") && i + 1 < argc) {
            engine = argv[++i];
        } else if (!strcmp(argv[i], "--kernels")) {
            kernels = 1;
        } else if (!strcmp(argv[i], "--busy")) {
            busy = fork();
            if (busy == 0)
                for (volatile unsigned long spin = 0;; spin++)
                    continue;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    int n_models = argc - i;
    if (n_threads < 1 || threads[0] < 1) {
        usage(argv[0]);
        return 2;
    }
    for (int t = 0; t < n_threads; t++)
        if (threads[t] < 1 || threads[t] > MAX_THREADS) {
            usage(argv[0]);
            return 2;
        }
    if (n_models < (kernels ? 0 : 1) || n_models > MAX_MODELS || rounds < 1 ||
        rounds > MAX_ROUNDS || n_decode < 1 || n_prefill < 1) {
        usage(argv[0]);
        return 2;
    }
    static struct row rows[MAX_MODELS * MAX_THREADS];
    int n_rows = 0;
    for (int m = 0; m < n_models; m++) {
        const char *arg = argv[i + m], *colon = strchr(arg, ':');
        static char engines[MAX_MODELS][32];
        const char *eng = engine, *path = arg;
        if (colon && colon - arg < 32 && colon > arg) {
            memcpy(engines[m], arg, (size_t)(colon - arg));
            engines[m][colon - arg] = 0;
            eng = engines[m];
            path = colon + 1;
        }
        double bytes = bytes_per_token(path, quantize != NULL);
        for (int t = 0; t < n_threads; t++)
            rows[n_rows++] =
                (struct row){.engine = eng, .path = path, .threads = threads[t], .bytes = bytes};
    }
    const struct jn_kernels *k = jn_kernels_select();
    printf("native kernels: %s; %d round(s)%s\n", k ? k->name : "(none)", rounds,
           busy > 0 ? "; a competing process keeps one core busy" : "");
    static const enum joule_dtype kd[] = {JOULE_DTYPE_F32, JOULE_DTYPE_F16, JOULE_DTYPE_BF16,
                                          JOULE_DTYPE_Q8_0};
    enum { N_KD = sizeof kd / sizeof kd[0] };
    double bw[MAX_THREADS][MAX_ROUNDS], kgbs[MAX_THREADS][N_KD][MAX_ROUNDS];
    for (int round = 0; round < rounds; round++) {
        for (int t = 0; t < n_threads; t++) {
            bw[t][round] = read_bandwidth(threads[t]);
            for (int d = 0; kernels && d < N_KD; d++)
                kgbs[t][d][round] = kernel_stream(threads[t], kd[d]) / bw[t][round];
        }
        for (int r = 0; r < n_rows; r++) {
            int t = 0;
            while (threads[t] != rows[r].threads)
                t++;
            fprintf(stderr, "\rround %d/%d: %s:%s, %d thread(s)   ", round + 1, rounds,
                    rows[r].engine, rows[r].path, rows[r].threads);
            measure(&rows[r], quantize, n_prefill, n_decode, bw[t][round]);
        }
    }
    fprintf(stderr, "\r%*s\r", 78, "");
    for (int t = 0; t < n_threads; t++)
        printf("read bandwidth, %d thread(s): %.1f GB/s\n", threads[t],
               bench_median(bw[t], rounds));
    if (kernels) {
        printf("decode kernel alone (rows of %d weights), %% of the same round's read bandwidth:\n",
               KROW);
        for (int t = 0; t < n_threads; t++) {
            printf("  %d thread(s):", threads[t]);
            for (int d = 0; d < N_KD; d++)
                printf("  %s %.0f%%", joule_dtype_name(kd[d]),
                       100 * bench_median(kgbs[t][d], rounds));
            printf("\n");
        }
    }
    if (n_rows == 0) return 0;
    printf("%-7s %-24s %-5s %3s %9s %11s %10s %9s %9s\n", "engine", "model", "dtype", "thr",
           "MB/token", "prefill t/s", "decode ms", "(min ms)", "roofline");
    for (int r = 0; r < n_rows; r++) {
        struct row *w = &rows[r];
        const char *name = strrchr(w->path, '/') ? strrchr(w->path, '/') + 1 : w->path;
        if (w->n == 0) {
            printf("%-7s %-24s (failed)\n", w->engine, name);
            continue;
        }
        double mn = w->min_ms[0];
        for (int j = 1; j < w->n; j++)
            mn = w->min_ms[j] < mn ? w->min_ms[j] : mn;
        printf("%-7s %-24s %-5s %3d %9.1f %11.1f %10.2f %9.2f %8.0f%%\n", w->engine, name, w->dtype,
               w->threads, w->bytes / 1e6, bench_median(w->prefill, w->n),
               bench_median(w->ms, w->n), mn, 100 * bench_median(w->roof, w->n));
    }
    if (busy > 0) {
        kill(busy, SIGKILL);
        waitpid(busy, NULL, 0);
    }
    return 0;
}
