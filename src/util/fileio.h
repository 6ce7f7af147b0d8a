/* Files: whole-file reads, read-only memory maps, atomic writes, paths. */
#ifndef JOULE_UTIL_FILEIO_H
#define JOULE_UTIL_FILEIO_H

#include <stddef.h>
#include "joule/status.h"

/* A read-only mapping of a whole file. `data` is NULL for an empty file. */
struct joule_mmap {
    const unsigned char *data;
    size_t size;
};

/* Map `path` read-only. On success the caller releases it with joule_mmap_close(). */
enum joule_status joule_mmap_open(struct joule_mmap *m, const char *path);
void joule_mmap_close(struct joule_mmap *m);

/* Ask the kernel to reclaim the whole pages of [p, p + n) once they have been read
 * (MADV_PAGEOUT): clean file pages are re-read if touched again, anonymous ones go to
 * swap or stay. A hint only, never a change of data. */
void joule_drop_pages(const void *p, size_t n);

/* Read a whole file into a NUL-terminated malloc'd buffer (caller frees).
 * Fails with JOULE_ERR_LIMIT when the file is larger than `max_bytes`. */
enum joule_status joule_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len);

/* Write `len` bytes to `path` via a temporary file and rename(), so readers
 * never see a half-written file. */
enum joule_status joule_write_file_atomic(const char *path, const void *data, size_t len);

/* True if `path` names an existing regular file / directory. */
int joule_is_file(const char *path);
int joule_is_dir(const char *path);

/* Join `dir` and `name` into `out` (size `cap`). Returns JOULE_ERR_LIMIT if it does not fit. */
enum joule_status joule_path_join(char *out, size_t cap, const char *dir, const char *name);

/* Find a bundled data file (the repository's data/NAME) in $JOULE_DATA_DIR, ./data, or a
 * data/ folder beside or above the executable (data, ../data, ../../data,
 * ../share/joule/data). Writes the path to `out`; JOULE_ERR_NOT_FOUND if none has it. */
enum joule_status joule_find_data_file(const char *name, char *out, size_t cap);

/* mkdir -p. */
enum joule_status joule_mkdirs(const char *path);

#endif
