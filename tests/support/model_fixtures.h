/* Helpers shared by the model and engine tests: the fixture checkpoints,
 * their reference.json, and copies of a checkpoint with another config. */
#ifndef JOULE_TEST_MODEL_FIXTURES_H
#define JOULE_TEST_MODEL_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* The fixture checkpoints under tests/fixtures/models (NULL-terminated). */
extern const char *const test_model_fixtures[];

struct test_reference {
    int32_t prompt[64];
    size_t n_prompt;
    int32_t greedy[64];
    size_t n_greedy;
    float *logits; /* [n_prompt × vocab] */
    size_t n_logits;
    char dtype[16]; /* "float32" unless the reference says otherwise */
};

/* Load tests/fixtures/models/<name>/reference.json; 0 on success. */
int test_reference_load(const char *name, struct test_reference *r);
void test_reference_free(struct test_reference *r);

/* A copy of fixture <name> in a fresh temporary directory whose config.json
 * is the fixture's `config_file` (weights and index symlinked). Returns the
 * directory (static buffer, valid until the next call) or NULL. */
const char *test_model_copy(const char *name, const char *config_file);

/* Whether a file exists. */
int test_file_exists(const char *path);

#endif
