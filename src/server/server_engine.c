/* The server's backend over a joule_engine and its tokenizer. */
#include "joule/tokenizer.h"
#include "server/server_impl.h"

static enum joule_status be_encode(void *user, const char *text, size_t len, int32_t *ids,
                                   size_t cap, size_t *n_ids)
{
    const struct joule_tokenizer *t = joule_engine_tokenizer(user);
    return joule_tokenizer_encode(t, text, len, 1, ids, cap, n_ids);
}

static enum joule_status be_decode(void *user, const int32_t *ids, size_t n, char *out, size_t cap,
                                   size_t *n_bytes)
{
    const struct joule_tokenizer *t = joule_engine_tokenizer(user);
    return joule_tokenizer_decode(t, ids, n, 1, out, cap, n_bytes);
}

static enum joule_status be_generate(void *user, const int32_t *prompt, size_t n_prompt,
                                     const struct joule_gen_params *p, struct joule_gen_result *out)
{
    return joule_engine_generate(user, prompt, n_prompt, p, out);
}

enum joule_status joule_server_start(struct joule_engine *engine,
                                     const struct joule_server_params *params,
                                     struct joule_server **out)
{
    *out = NULL;
    if (!engine) return joule_errorf(JOULE_ERR_INVALID_ARG, "no engine to serve");
    const struct joule_engine_info *info = joule_engine_get_info(engine);
    int has_tok = joule_engine_tokenizer(engine) != NULL;
    struct joule_server_backend be = {
        .user = engine,
        .model_name = info->model_name,
        .engine = info->engine,
        .provider = info->provider,
        .arch = info->arch,
        .n_ctx = info->n_ctx,
        .n_vocab = info->n_vocab,
        .encode = has_tok ? be_encode : NULL,
        .decode = has_tok ? be_decode : NULL,
        .generate = be_generate,
    };
    return joule_server_start_backend(&be, params, out);
}
