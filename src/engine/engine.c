/* Engine registry, the generation loop and the sampler: everything that is
 * the same whichever engine computes the logits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_impl.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/log.h"

static const struct joule_engine_vtable *const g_engines[] = {
    &joule_engine_native,
#ifdef JOULE_HAVE_GGML
    &joule_engine_ggml,
#endif
};
#define N_ENGINES (sizeof g_engines / sizeof g_engines[0])

/* A sampling candidate. */
struct cand {
    float logit;
    int32_t id;
};

struct joule_engine {
    const struct joule_engine_vtable *vt;
    void *impl;
    struct joule_engine_info info;
    struct joule_tokenizer *tok;
    size_t n_past;
    float *scratch;    /* n_vocab logits for generation */
    struct cand *cand; /* sampling workspace, n_vocab each */
    double *prob;
};

const char *const *joule_engine_names(void)
{
    static const char *names[N_ENGINES + 1];
    for (size_t i = 0; i < N_ENGINES; i++)
        names[i] = g_engines[i]->name;
    names[N_ENGINES] = NULL;
    return names;
}

static const struct joule_engine_vtable *find_engine(const char *name)
{
    for (size_t i = 0; i < N_ENGINES; i++)
        if (!strcmp(g_engines[i]->name, name)) return g_engines[i];
    return NULL;
}

enum joule_status joule_engine_probe(const char *engine, const char *provider)
{
    const struct joule_engine_vtable *vt = find_engine(engine ? engine : "native");
    if (!vt)
        return joule_errorf(JOULE_ERR_UNAVAILABLE, "engine '%s' is not built into joule", engine);
    return vt->probe(provider ? provider : "cpu");
}

struct joule_engine_params joule_engine_default_params(void)
{
    struct joule_engine_params p = {.engine = "native", .provider = "cpu"};
    return p;
}

enum joule_status joule_engine_open(const char *model_path,
                                    const struct joule_engine_params *params,
                                    struct joule_engine **out)
{
    *out = NULL;
    struct joule_engine_params p = params ? *params : joule_engine_default_params();
    if (!p.engine) p.engine = "native";
    if (!p.provider) p.provider = "cpu";
    if (p.n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = n > 0 ? (int)n : 1;
    }
    const struct joule_engine_vtable *vt = find_engine(p.engine);
    if (!vt)
        return joule_errorf(JOULE_ERR_UNAVAILABLE, "engine '%s' is not built into joule", p.engine);
    if (vt->version != JOULE_ENGINE_VTABLE_VERSION)
        return joule_errorf(JOULE_ERR_INTERNAL, "engine '%s' has table version %d, expected %d",
                            vt->name, vt->version, JOULE_ENGINE_VTABLE_VERSION);
    enum joule_status s = vt->probe(p.provider);
    if (s != JOULE_OK) return s;

    struct joule_engine *e = calloc(1, sizeof *e);
    if (!e) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    e->vt = vt;
    s = vt->open(model_path, &p, &e->impl, &e->info);
    if (s != JOULE_OK) {
        free(e);
        return s;
    }
    if (e->info.n_vocab <= 0 || e->info.n_ctx <= 0) {
        vt->free(e->impl);
        free(e);
        return joule_errorf(JOULE_ERR_INTERNAL, "engine returned an empty vocabulary or context");
    }
    e->scratch = malloc((size_t)e->info.n_vocab * sizeof(float));
    e->cand = malloc((size_t)e->info.n_vocab * sizeof *e->cand);
    e->prob = malloc((size_t)e->info.n_vocab * sizeof *e->prob);
    if (!e->scratch || !e->cand || !e->prob) {
        joule_engine_free(e);
        return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    }
    /* The tokenizer sits beside the weights (a directory) or beside the file. */
    char tpath[4096];
    if (joule_is_dir(model_path)) {
        joule_path_join(tpath, sizeof tpath, model_path, "tokenizer.json");
    } else {
        snprintf(tpath, sizeof tpath, "%s", model_path);
        char *slash = strrchr(tpath, '/');
        if (slash)
            snprintf(slash + 1, sizeof tpath - (size_t)(slash + 1 - tpath), "tokenizer.json");
        else
            snprintf(tpath, sizeof tpath, "tokenizer.json");
    }
    if (joule_is_file(tpath)) {
        s = joule_tokenizer_load(tpath, &e->tok);
        if (s != JOULE_OK) {
            JOULE_WARN("%s: tokenizer not loaded (%s); token ids only", tpath, joule_last_error());
            e->tok = NULL;
        }
    }
    *out = e;
    return JOULE_OK;
}

void joule_engine_free(struct joule_engine *e)
{
    if (!e) return;
    if (e->impl) e->vt->free(e->impl);
    joule_tokenizer_free(e->tok);
    free(e->scratch);
    free(e->cand);
    free(e->prob);
    free(e);
}

const struct joule_engine_info *joule_engine_get_info(const struct joule_engine *e)
{
    return &e->info;
}

const struct joule_tokenizer *joule_engine_tokenizer(const struct joule_engine *e)
{
    return e->tok;
}

enum joule_status joule_engine_reset(struct joule_engine *e)
{
    e->n_past = 0;
    return e->vt->reset(e->impl);
}

size_t joule_engine_n_past(const struct joule_engine *e)
{
    return e->n_past;
}

enum joule_status joule_engine_eval(struct joule_engine *e, const int32_t *tokens, size_t n,
                                    float *logits, int all_logits)
{
    if (n == 0) return joule_errorf(JOULE_ERR_INVALID_ARG, "no tokens to evaluate");
    if (e->n_past + n > (size_t)e->info.n_ctx)
        return joule_errorf(JOULE_ERR_LIMIT,
                            "%zu tokens at position %zu pass the context length %d", n, e->n_past,
                            e->info.n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= e->info.n_vocab)
            return joule_errorf(JOULE_ERR_INVALID_ARG, "token id %d outside the vocabulary (%d)",
                                (int)tokens[i], e->info.n_vocab);
    enum joule_status s = e->vt->eval(e->impl, tokens, n, e->n_past, logits, all_logits);
    if (s == JOULE_OK) e->n_past += n;
    return s;
}

/* ---- sampling ------------------------------------------------------------ */

struct joule_sampling joule_sampling_default(void)
{
    struct joule_sampling s = {.greedy = 1, .temperature = 1.0f, .top_k = 0, .top_p = 1.0f};
    return s;
}

uint64_t joule_rng_seed(uint64_t seed)
{
    return seed ^ 0x9E3779B97F4A7C15ULL;
}

/* splitmix64: small, fast, and good enough to draw tokens. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Order: higher logit first, lower id first on ties (deterministic). */
static int cand_before(const struct cand *x, const struct cand *y)
{
    return x->logit > y->logit || (x->logit == y->logit && x->id < y->id);
}

static int cand_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return cand_before(x, y) ? -1 : cand_before(y, x) ? 1 : 0;
}

/* Keep the k best of c[0..n) in c[0..k), sorted best first: a min-heap of
 * size k over the stream (O(n log k)), then a sort of the k survivors. */
static void top_k_select(struct cand *c, int n, int k)
{
    /* heap root = the worst of the kept candidates */
    for (int i = 0; i < n; i++) {
        struct cand x = c[i];
        int pos;
        if (i < k) {
            pos = i;
            while (pos > 0) { /* sift up */
                int parent = (pos - 1) / 2;
                if (!cand_before(&c[parent], &x)) break;
                c[pos] = c[parent];
                pos = parent;
            }
            c[pos] = x;
        } else if (cand_before(&x, &c[0])) {
            pos = 0;
            for (;;) { /* sift down */
                int l = 2 * pos + 1, r = l + 1, w = pos;
                struct cand *wc = &x;
                if (l < k && cand_before(wc, &c[l])) w = l, wc = &c[l];
                if (r < k && cand_before(wc, &c[r])) w = r;
                if (w == pos) break;
                c[pos] = c[w];
                pos = w;
            }
            c[pos] = x;
        }
    }
    qsort(c, (size_t)k, sizeof *c, cand_desc);
}

/* Sampling with caller-provided workspace (n_vocab candidates and probabilities),
 * so the generation loop allocates nothing per token. */
static int32_t sample_with(const struct joule_sampling *s, float *logits, int n_vocab,
                           uint64_t *rng, struct cand *c, double *pr)
{
    if (s->greedy || s->temperature <= 0.0f) return argmax(logits, n_vocab);
    for (int i = 0; i < n_vocab; i++) {
        c[i].logit = logits[i] / s->temperature;
        c[i].id = i;
    }
    int n = n_vocab;
    int use_top_p = s->top_p > 0.0f && s->top_p < 1.0f;
    if (s->top_k > 0 && s->top_k < n) {
        top_k_select(c, n, s->top_k);
        n = s->top_k;
    } else if (use_top_p) {
        qsort(c, (size_t)n, sizeof *c, cand_desc); /* top-p needs the full order */
    }
    /* softmax over the kept candidates (in id order when nothing was sorted) */
    float maxl = c[0].logit;
    for (int i = 1; i < n; i++)
        if (c[i].logit > maxl) maxl = c[i].logit;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += pr[i] = exp((double)c[i].logit - maxl);
    for (int i = 0; i < n; i++)
        pr[i] /= sum;
    if (use_top_p) {
        /* keep the smallest prefix whose mass reaches top_p (at least one token) */
        double cum = 0.0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += pr[i];
            if (cum >= s->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
        double z = 0.0;
        for (int i = 0; i < n; i++)
            z += pr[i];
        for (int i = 0; i < n; i++)
            pr[i] /= z;
    }
    double u = rng_uniform(rng), cum = 0.0;
    int32_t pick = c[n - 1].id;
    for (int i = 0; i < n; i++) {
        cum += pr[i];
        if (u < cum) {
            pick = c[i].id;
            break;
        }
    }
    return pick;
}

int32_t joule_sample(const struct joule_sampling *s, float *logits, int n_vocab, uint64_t *rng)
{
    if (n_vocab <= 0) return -1;
    if (s->greedy || s->temperature <= 0.0f) return argmax(logits, n_vocab); /* no workspace */
    struct cand *c = malloc((size_t)n_vocab * sizeof *c);
    double *pr = malloc((size_t)n_vocab * sizeof *pr);
    int32_t id = c && pr ? sample_with(s, logits, n_vocab, rng, c, pr) : argmax(logits, n_vocab);
    free(c);
    free(pr);
    return id;
}

/* ---- generation ---------------------------------------------------------- */

const char *joule_stop_reason_str(enum joule_stop_reason r)
{
    switch (r) {
    case JOULE_STOP_LENGTH:
        return "length";
    case JOULE_STOP_EOS:
        return "eos";
    case JOULE_STOP_CALLBACK:
        return "stop";
    case JOULE_STOP_CONTEXT:
        return "context";
    }
    return "unknown";
}

struct joule_gen_params joule_gen_default_params(void)
{
    struct joule_gen_params p = {.max_new_tokens = 16, .sampling = joule_sampling_default()};
    return p;
}

void joule_gen_result_free(struct joule_gen_result *r)
{
    if (!r) return;
    free(r->ids);
    r->ids = NULL;
    r->n_ids = 0;
}

enum joule_status joule_engine_generate(struct joule_engine *e, const int32_t *prompt,
                                        size_t n_prompt, const struct joule_gen_params *params,
                                        struct joule_gen_result *out)
{
    memset(out, 0, sizeof *out);
    if (!prompt || n_prompt == 0) return joule_errorf(JOULE_ERR_INVALID_ARG, "empty prompt");
    struct joule_gen_params p = params ? *params : joule_gen_default_params();
    size_t ctx = (size_t)e->info.n_ctx;
    if (n_prompt > ctx)
        return joule_errorf(JOULE_ERR_LIMIT,
                            "prompt of %zu tokens is longer than the context (%zu)", n_prompt, ctx);
    /* How many new tokens we may make: the tightest of the three bounds. */
    size_t budget = ctx - n_prompt;
    enum joule_stop_reason bound_reason = JOULE_STOP_CONTEXT;
    if (p.max_new_tokens > 0 && (size_t)p.max_new_tokens <= budget) {
        budget = (size_t)p.max_new_tokens;
        bound_reason = JOULE_STOP_LENGTH;
    }
    if (p.max_length > 0) {
        size_t room = (size_t)p.max_length > n_prompt ? (size_t)p.max_length - n_prompt : 0;
        if (room <= budget) {
            budget = room;
            bound_reason = JOULE_STOP_LENGTH;
        }
    }
    out->n_prompt = n_prompt;
    out->ids = malloc((budget > 0 ? budget : 1) * sizeof(int32_t));
    if (!out->ids) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");

    enum joule_status s = joule_engine_reset(e);
    if (s != JOULE_OK) goto fail;
    uint64_t rng = joule_rng_seed(p.sampling.seed);
    int64_t t0 = joule_now_ns();
    if (p.prompt_logits) {
        s = joule_engine_eval(e, prompt, n_prompt, p.prompt_logits, 1);
        if (s == JOULE_OK)
            memcpy(e->scratch, p.prompt_logits + (n_prompt - 1) * (size_t)e->info.n_vocab,
                   (size_t)e->info.n_vocab * sizeof(float));
    } else {
        s = joule_engine_eval(e, prompt, n_prompt, e->scratch, 0);
    }
    if (s != JOULE_OK) goto fail;
    int64_t t1 = joule_now_ns();
    out->prompt_ns = t1 - t0;
    out->stop = bound_reason;
    while (out->n_ids < budget) {
        int32_t tok = sample_with(&p.sampling, e->scratch, e->info.n_vocab, &rng, e->cand, e->prob);
        out->ids[out->n_ids++] = tok;
        if (!p.ignore_eos && e->info.eos_id >= 0 && tok == e->info.eos_id) {
            out->stop = JOULE_STOP_EOS;
            break;
        }
        if (p.on_token && p.on_token(p.user, tok)) {
            out->stop = JOULE_STOP_CALLBACK;
            break;
        }
        if (out->n_ids == budget) break;
        s = joule_engine_eval(e, &tok, 1, e->scratch, 0);
        if (s != JOULE_OK) goto fail;
    }
    out->decode_ns = joule_now_ns() - t1;
    return JOULE_OK;
fail:
    joule_gen_result_free(out);
    return s;
}
