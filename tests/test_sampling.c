/* Sampling: the empirical distribution of joule_sample against the analytic
 * one Hugging Face's warpers define (temperature, then top-k, then top-p). */
#include <stdlib.h>

#include "test.h"
#include "joule/engine.h"

#define V 8
#define DRAWS 40000

static const float k_logits[V] = {2.0f, 1.5f, 1.5f, 0.5f, 0.0f, -1.0f, -2.0f, -3.0f};

/* Expected probabilities: softmax(logits / T) over the kept set, renormalised. */
static void expected(float temp, int top_k, float top_p, double *p)
{
    int order[V];
    for (int i = 0; i < V; i++)
        order[i] = i; /* k_logits is already sorted, ties by id */
    double z = 0, w[V];
    for (int i = 0; i < V; i++)
        z += w[i] = exp(k_logits[i] / temp);
    int keep = V;
    if (top_k > 0 && top_k < keep) keep = top_k;
    double zk = 0;
    for (int i = 0; i < keep; i++)
        zk += w[order[i]];
    if (top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < keep; i++) {
            cum += w[order[i]] / zk;
            if (cum >= top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    double zz = 0;
    for (int i = 0; i < keep; i++)
        zz += w[order[i]];
    for (int i = 0; i < V; i++)
        p[i] = 0;
    for (int i = 0; i < keep; i++)
        p[order[i]] = w[order[i]] / zz;
    (void)z;
}

static void check_distribution(float temp, int top_k, float top_p)
{
    struct joule_sampling s = {
        .greedy = 0, .temperature = temp, .top_k = top_k, .top_p = top_p, .seed = 7};
    uint64_t rng = joule_rng_seed(s.seed);
    int count[V] = {0}, out_of_range = 0;
    for (int d = 0; d < DRAWS; d++) {
        float l[V];
        memcpy(l, k_logits, sizeof l);
        int32_t id = joule_sample(&s, l, V, &rng);
        if (id >= 0 && id < V)
            count[id]++;
        else
            out_of_range++;
    }
    CHECK_EQ_INT(out_of_range, 0);
    double p[V];
    expected(temp, top_k, top_p, p);
    for (int i = 0; i < V; i++) {
        double f = (double)count[i] / DRAWS;
        /* 5 binomial standard deviations (a false alarm about once in 3 million) */
        double sd = sqrt(p[i] * (1 - p[i]) / DRAWS);
        if (p[i] == 0)
            CHECK_EQ_INT(count[i], 0);
        else
            CHECK_NEAR(f, p[i], 5 * sd + 1e-12);
    }
}

static void test_temperature(void)
{
    check_distribution(1.0f, 0, 1.0f);
    check_distribution(0.7f, 0, 1.0f);
    check_distribution(2.0f, 0, 1.0f);
}

static void test_top_k(void)
{
    check_distribution(1.0f, 3, 1.0f);
    check_distribution(0.8f, 1, 1.0f);
    check_distribution(1.0f, 5, 1.0f);
}

static void test_top_p(void)
{
    check_distribution(1.0f, 0, 0.9f);
    check_distribution(1.0f, 0, 0.5f);
    check_distribution(1.3f, 4, 0.8f); /* top-k first, then top-p over the kept mass */
}

static void test_greedy_and_seed(void)
{
    struct joule_sampling g = joule_sampling_default();
    float l[V];
    memcpy(l, k_logits, sizeof l);
    uint64_t rng = joule_rng_seed(1);
    CHECK_EQ_INT(joule_sample(&g, l, V, &rng), 0);
    /* ties go to the lowest id */
    float t[4] = {1, 3, 3, 2};
    CHECK_EQ_INT(joule_sample(&g, t, 4, &rng), 1);
    /* the same seed gives the same draws */
    struct joule_sampling s = {.temperature = 1.0f, .top_p = 1.0f, .seed = 99};
    uint64_t a = joule_rng_seed(99), b = joule_rng_seed(99);
    for (int i = 0; i < 100; i++) {
        float x[V], y[V];
        memcpy(x, k_logits, sizeof x);
        memcpy(y, k_logits, sizeof y);
        CHECK_EQ_INT(joule_sample(&s, x, V, &a), joule_sample(&s, y, V, &b));
    }
}

int main(void)
{
    RUN(test_temperature);
    RUN(test_top_k);
    RUN(test_top_p);
    RUN(test_greedy_and_seed);
    return test_summary();
}
