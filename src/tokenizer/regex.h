/* A small backtracking regex engine for pre-tokenizer patterns.
 *
 * It implements the subset of Oniguruma / fancy-regex syntax that
 * tokenizer.json files use, with Unicode semantics on valid UTF-8:
 * alternation, capturing and non-capturing groups, (?i) and (?i:...),
 * lookahead (?=...) (?!...), classes with ranges, nesting, negation,
 * \p{..}/\P{..} general categories, \s \S \d \D \w \W \h \H, '.', escapes
 * (\t \n \r \f \v \e \a \xHH \x{..} \uHHHH), quantifiers * + ? {n} {n,} {n,m} {,m}
 * with lazy (?) and possessive (+) forms. Search is leftmost, alternatives are
 * tried in order and quantifiers are greedy, as in Oniguruma.
 * Anything else (anchors, lookbehind, backreferences, scripts, atomic groups,
 * (?i) together with \p{..}) is rejected at compile time with JOULE_ERR_UNSUPPORTED. */
#ifndef JOULE_TOKENIZER_REGEX_H
#define JOULE_TOKENIZER_REGEX_H

#include <stddef.h>

#include "joule/status.h"

struct tk_regex;

/* Compile `pattern` (UTF-8, `len` bytes). *out is freed with tk_regex_free. */
enum joule_status tk_regex_compile(const char *pattern, size_t len, struct tk_regex **out);
void tk_regex_free(struct tk_regex *re);

/* Leftmost match in valid UTF-8 text[0..n) starting at or after byte `from`
 * (a character boundary). Returns 1 with [*ms, *me) set, 0 when there is none,
 * or a negative joule_status when the backtracking limit was reached. Thread-safe. */
int tk_regex_find(const struct tk_regex *re, const char *text, size_t n, size_t from, size_t *ms,
                  size_t *me);

#endif
