/* Summaries of the seed study's measurement logs, for comparison with joule's own figures.
 *
 * EnergiBridge CSV: a header row, then one row per sample. Used columns: Time (ms since the
 * epoch), CPU_ENERGY (J) or PACKAGE_ENERGY (J) (cumulative; DRAM_ENERGY (J) is added when
 * present), CPU_USAGE_<n> (% per core), USED_MEMORY and TOTAL_MEMORY (bytes). A counter
 * that decreases is taken as a reset and that step contributes nothing.
 * NETIO log: the study's wattmeter CSV ("Wattmetter Timestamp,True timestamp,ID,...,Energy,
 * ...,Load"): per output ID, Load (W) is integrated by the trapezoid rule over the
 * "True timestamp" column (local time, microseconds), and Energy (Wh, 1 Wh steps) is kept as
 * a coarse cross-check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "joule/sensor.h"

#define LOG_MAX_COLS 4096

/* Split one line (without its newline) into fields in place. Returns the field count. */
static int split(char *line, char **f, int cap)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == cap) return -1;
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    /* strip a trailing carriage return */
    size_t l = strlen(f[n - 1]);
    if (l && f[n - 1][l - 1] == '\r') f[n - 1][l - 1] = '\0';
    return n;
}

static int parse_num(const char *s, double *v)
{
    char *end;
    if (!*s) return 0;
    *v = strtod(s, &end);
    while (*end == ' ')
        end++;
    return *end == '\0' && isfinite(*v);
}

/* A copy of data with a final NUL, so the parsers may use string functions. */
static char *dup_text(const char *data, size_t len)
{
    char *t = malloc(len + 1);
    if (!t) return NULL;
    memcpy(t, data, len);
    t[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (t[i] == '\0') t[i] = ' '; /* no embedded NULs */
    return t;
}

static char *next_line(char **cursor)
{
    char *s = *cursor;
    if (!s || !*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    return s;
}

enum joule_status joule_log_parse_energibridge(const char *data, size_t len,
                                               struct joule_log_summary *out)
{
    if (!data || !out) return joule_errorf(JOULE_ERR_INVALID_ARG, "energibridge: NULL argument");
    memset(out, 0, sizeof *out);
    snprintf(out->source, sizeof out->source, "energibridge:cpu");
    char *text = dup_text(data, len);
    char **f = malloc(LOG_MAX_COLS * sizeof *f);
    int *usage = malloc(LOG_MAX_COLS * sizeof *usage);
    enum joule_status st = JOULE_OK;
    if (!text || !f || !usage) {
        st = joule_errorf(JOULE_ERR_NOMEM, "energibridge");
        goto done;
    }
    char *cur = text;
    char *line = next_line(&cur);
    if (!line) {
        st = joule_errorf(JOULE_ERR_FORMAT, "energibridge: empty file");
        goto done;
    }
    int ncol = split(line, f, LOG_MAX_COLS);
    if (ncol < 0) {
        st = joule_errorf(JOULE_ERR_FORMAT, "energibridge: more than %d columns", LOG_MAX_COLS);
        goto done;
    }
    int c_time = -1, c_energy = -1, c_dram = -1, c_used = -1, c_total = -1, nusage = 0;
    for (int i = 0; i < ncol; i++) {
        if (!strcmp(f[i], "Time"))
            c_time = i;
        else if (!strcmp(f[i], "CPU_ENERGY (J)") || !strcmp(f[i], "PACKAGE_ENERGY (J)"))
            c_energy = i;
        else if (!strcmp(f[i], "DRAM_ENERGY (J)"))
            c_dram = i;
        else if (!strcmp(f[i], "USED_MEMORY"))
            c_used = i;
        else if (!strcmp(f[i], "TOTAL_MEMORY"))
            c_total = i;
        else if (!strncmp(f[i], "CPU_USAGE_", 10))
            usage[nusage++] = i;
    }
    if (c_time < 0 || c_energy < 0) {
        st = joule_errorf(JOULE_ERR_FORMAT,
                          "energibridge: header lacks Time or CPU_ENERGY (J)/PACKAGE_ENERGY (J)");
        goto done;
    }
    double t_first = NAN, t_prev = NAN, e_prev = NAN, cs = 0, cm = NAN, rs = 0, rm = NAN;
    size_t cn = 0, rn = 0;
    out->power_max_w = NAN;
    int lineno = 1;
    while ((line = next_line(&cur))) {
        lineno++;
        if (!*line || !strcmp(line, "\r")) continue;
        int n = split(line, f, LOG_MAX_COLS);
        if (n != ncol) {
            st = joule_errorf(JOULE_ERR_FORMAT, "energibridge: line %d has %d fields, header %d",
                              lineno, n, ncol);
            goto done;
        }
        double t, e, d = 0;
        if (!parse_num(f[c_time], &t) || !parse_num(f[c_energy], &e) ||
            (c_dram >= 0 && !parse_num(f[c_dram], &d))) {
            st =
                joule_errorf(JOULE_ERR_FORMAT, "energibridge: line %d: bad Time or energy", lineno);
            goto done;
        }
        e += d;
        if (isnan(t_first)) t_first = t;
        if (!isnan(e_prev)) {
            double de = e - e_prev;
            if (de > 0) {
                out->energy_j += de;
                double dt = (t - t_prev) * 1e-3;
                if (dt > 0 && (isnan(out->power_max_w) || de / dt > out->power_max_w))
                    out->power_max_w = de / dt;
            }
        }
        e_prev = e;
        t_prev = t;
        out->duration_s = (t - t_first) * 1e-3;
        out->samples++;
        if (nusage) {
            double u = 0, v;
            int k = 0;
            for (int i = 0; i < nusage; i++)
                if (parse_num(f[usage[i]], &v)) {
                    u += v;
                    k++;
                }
            if (k) {
                u /= k;
                cs += u;
                if (!cn || u > cm) cm = u;
                cn++;
            }
        }
        double used, total;
        if (c_used >= 0 && c_total >= 0 && parse_num(f[c_used], &used) &&
            parse_num(f[c_total], &total) && total > 0) {
            double r = 100.0 * used / total;
            rs += r;
            if (!rn || r > rm) rm = r;
            rn++;
        }
    }
    if (out->samples == 0) {
        st = joule_errorf(JOULE_ERR_FORMAT, "energibridge: no data rows");
        goto done;
    }
    out->counter_energy_j = out->energy_j;
    out->power_mean_w = out->duration_s > 0 ? out->energy_j / out->duration_s : NAN;
    out->cpu_percent_mean = cn ? cs / (double)cn : NAN;
    out->cpu_percent_max = cn ? cm : NAN;
    out->ram_percent_mean = rn ? rs / (double)rn : NAN;
    out->ram_percent_max = rn ? rm : NAN;
done:
    free(text);
    free(f);
    free(usage);
    return st;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at s (no sign, no space) as a number; -1 if they are not all digits */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DD HH:MM:SS[.ffffff]" (or with 'T') as seconds; 0 on failure. Every field
 * has exactly its digits: no signs, spaces or short fields. */
static int parse_stamp(const char *s, double *sec)
{
    if (strlen(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
        s[13] != ':' || s[16] != ':')
        return 0;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2),
        mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60)
        return 0;
    double frac = 0.0, scale = 0.1;
    const char *p = s + 19;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9') return 0;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    if (*p != '\0') return 0;
    *sec = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + se + frac;
    return 1;
}

struct netio_acc {
    int id;
    double t_first, t_prev, load_prev, e_first, e_last, lsum;
};

enum joule_status joule_log_parse_netio(const char *data, size_t len, struct joule_log_summary *out,
                                        size_t cap, size_t *n)
{
    if (!data || !n || (!out && cap)) return joule_errorf(JOULE_ERR_INVALID_ARG, "netio log: NULL");
    *n = 0;
    char *text = dup_text(data, len);
    if (!text) return joule_errorf(JOULE_ERR_NOMEM, "netio log");
    struct netio_acc acc[64];
    size_t nacc = 0;
    enum joule_status st = JOULE_OK;
    char *f[64];
    char *cur = text;
    char *line = next_line(&cur);
    int ncol = line ? split(line, f, 64) : -1;
    int c_ts = -1, c_id = -1, c_energy = -1, c_load = -1;
    for (int i = 0; i < ncol; i++) {
        if (!strcmp(f[i], "True timestamp"))
            c_ts = i;
        else if (!strcmp(f[i], "ID"))
            c_id = i;
        else if (!strcmp(f[i], "Energy"))
            c_energy = i;
        else if (!strcmp(f[i], "Load"))
            c_load = i;
    }
    if (c_ts < 0 || c_id < 0 || c_load < 0) {
        st = joule_errorf(JOULE_ERR_FORMAT,
                          "netio log: header lacks 'True timestamp', 'ID' or 'Load'");
        goto done;
    }
    int lineno = 1;
    while ((line = next_line(&cur))) {
        lineno++;
        if (!*line || !strcmp(line, "\r")) continue;
        int k = split(line, f, 64);
        if (k != ncol) {
            st = joule_errorf(JOULE_ERR_FORMAT, "netio log: line %d has %d fields, header %d",
                              lineno, k, ncol);
            goto done;
        }
        double t, id, load, e = NAN;
        if (!parse_stamp(f[c_ts], &t) || !parse_num(f[c_id], &id) || !parse_num(f[c_load], &load) ||
            id < 0 || id > 1e6 || (c_energy >= 0 && !parse_num(f[c_energy], &e))) {
            st = joule_errorf(JOULE_ERR_FORMAT, "netio log: line %d: bad timestamp, ID or Load",
                              lineno);
            goto done;
        }
        size_t a;
        for (a = 0; a < nacc; a++)
            if (acc[a].id == (int)id) break;
        if (a == nacc) {
            if (nacc == 64) continue;
            nacc++;
            memset(&acc[a], 0, sizeof acc[a]);
            acc[a].id = (int)id;
            acc[a].t_first = acc[a].t_prev = t;
            acc[a].load_prev = load;
            acc[a].e_first = e;
            if (a < cap) {
                memset(&out[a], 0, sizeof out[a]);
                snprintf(out[a].source, sizeof out[a].source, "netio:%d", (int)id);
                out[a].power_max_w = load;
                out[a].cpu_percent_mean = out[a].cpu_percent_max = NAN;
                out[a].ram_percent_mean = out[a].ram_percent_max = NAN;
            }
        } else if (a < cap) {
            double dt = t - acc[a].t_prev;
            if (dt > 0) out[a].energy_j += 0.5 * (load + acc[a].load_prev) * dt;
            if (load > out[a].power_max_w) out[a].power_max_w = load;
        }
        acc[a].t_prev = t > acc[a].t_prev ? t : acc[a].t_prev;
        acc[a].load_prev = load;
        acc[a].e_last = e;
        if (a < cap) {
            out[a].samples++;
            out[a].duration_s = acc[a].t_prev - acc[a].t_first;
        }
    }
    if (nacc == 0) {
        st = joule_errorf(JOULE_ERR_FORMAT, "netio log: no data rows");
        goto done;
    }
    for (size_t a = 0; a < nacc && a < cap; a++) {
        out[a].counter_energy_j = (acc[a].e_last - acc[a].e_first) * 3600.0;
        out[a].power_mean_w =
            out[a].duration_s > 0 ? out[a].energy_j / out[a].duration_s : out[a].power_max_w;
    }
    *n = nacc < cap ? nacc : cap;
done:
    free(text);
    return st;
}
