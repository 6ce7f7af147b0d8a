#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static enum joule_status errno_status(int e)
{
    if (e == EACCES || e == EPERM) return JOULE_ERR_PERMISSION;
    if (e == ENOENT || e == ENOTDIR) return JOULE_ERR_NOT_FOUND;
    if (e == ENOMEM) return JOULE_ERR_NOMEM;
    return JOULE_ERR_IO;
}

enum joule_status joule_mmap_open(struct joule_mmap *m, const char *path)
{
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return joule_errorf(errno_status(errno), "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return joule_errorf(errno_status(e), "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return joule_errorf(JOULE_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return JOULE_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return joule_errorf(errno_status(e), "%s: mmap: %s", path, strerror(e));
    m->data = p;
    m->size = (size_t)st.st_size;
    return JOULE_OK;
}

void joule_mmap_close(struct joule_mmap *m)
{
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

void joule_drop_pages(const void *p, size_t n)
{
#ifdef MADV_PAGEOUT
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), e = ((uintptr_t)p + n) & ~(pg - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_PAGEOUT);
#else
    (void)p;
    (void)n;
#endif
}

enum joule_status joule_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return joule_errorf(errno_status(errno), "%s: %s", path, strerror(errno));
    size_t cap = max_bytes < (1 << 16) ? max_bytes : (1 << 16), len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return joule_errorf(JOULE_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (len == cap) {
            if (cap >= max_bytes) {
                if (fgetc(f) == EOF) break; /* exactly at the limit is fine */
                free(buf);
                fclose(f);
                return joule_errorf(JOULE_ERR_LIMIT, "%s: larger than %zu bytes", path, max_bytes);
            }
            size_t ncap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return joule_errorf(JOULE_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return joule_errorf(JOULE_ERR_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    *out = buf;
    if (out_len) *out_len = len;
    return JOULE_OK;
}

enum joule_status joule_write_file_atomic(const char *path, const void *data, size_t len)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    if (!tmp) return joule_errorf(JOULE_ERR_NOMEM, "out of memory");
    snprintf(tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        enum joule_status s = joule_errorf(errno_status(errno), "%s: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    int bad = w != len;
    if (fflush(f) != 0) bad = 1;
    if (fsync(fileno(f)) != 0) bad = 1;
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        enum joule_status s =
            joule_errorf(JOULE_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return s;
    }
    free(tmp);
    return JOULE_OK;
}

int joule_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int joule_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

enum joule_status joule_path_join(char *out, size_t cap, const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] != '/';
    int n = snprintf(out, cap, "%s%s%s", dir, slash ? "/" : "", name);
    if (n < 0 || (size_t)n >= cap)
        return joule_errorf(JOULE_ERR_LIMIT, "path too long: %s/%s", dir, name);
    return JOULE_OK;
}

enum joule_status joule_mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return joule_errorf(JOULE_ERR_INVALID_ARG, "bad directory path");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return joule_errorf(errno_status(errno), "mkdir %s: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    if (!joule_is_dir(path)) return joule_errorf(JOULE_ERR_IO, "%s: not a directory", path);
    return JOULE_OK;
}

static int data_in(char *out, size_t cap, const char *dir, const char *name)
{
    if (!dir || !*dir) return 0;
    if (joule_path_join(out, cap, dir, name) != JOULE_OK) return 0;
    return joule_is_file(out);
}

enum joule_status joule_find_data_file(const char *name, char *out, size_t cap)
{
    if (data_in(out, cap, getenv("JOULE_DATA_DIR"), name)) return JOULE_OK;
    if (data_in(out, cap, "data", name)) return JOULE_OK;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        static const char *const rel[] = {"data", "../data", "../../data", "../share/joule/data"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            char dir[4200];
            snprintf(dir, sizeof dir, "%s/%s", exe, rel[i]);
            if (data_in(out, cap, dir, name)) return JOULE_OK;
        }
    }
    return joule_errorf(JOULE_ERR_NOT_FOUND,
                        "data file %s not found (set JOULE_DATA_DIR to the repository's data/)",
                        name);
}
