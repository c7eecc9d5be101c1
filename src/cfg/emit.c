/* emit.c - print a config as YAML that sk_config_load accepts unchanged. */
#include "cfg/parse.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sk_cfg_quote(const char *s, char *buf, size_t n)
{
    size_t j = 0;
    buf[j++] = '"';
    for (; *s && j + 8 < n; s++) {
        if (*s == '"' || *s == '\\') {
            buf[j++] = '\\';
            buf[j++] = *s;
        } else if ((unsigned char)*s < 0x20)
            j += (size_t)snprintf(buf + j, n - j, "\\x%02x", (unsigned char)*s);
        else
            buf[j++] = *s;
    }
    buf[j++] = '"';
    buf[j] = '\0';
}

static int plain_safe(const char *s)
{
    static const char *reserved[] = {"true", "false", "yes", "no",  "on",   "off",  "null", "~",     "True", "False",
                                     "Yes",  "No",    "On",  "Off", "Null", "NULL", "TRUE", "FALSE", NULL};
    if (!*s) return 0;
    for (int i = 0; reserved[i]; i++)
        if (!strcmp(s, reserved[i])) return 0;
    char *end;
    strtod(s, &end);
    if (*end == '\0') return 0; /* looks like a number */
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) || isspace((unsigned char)s[0])) return 0;
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == '#' || *p == '"' || *p == '\\') return 0;
        if (*p == ':' && (p[1] == ' ' || p[1] == '\0')) return 0;
    }
    return !isspace((unsigned char)s[strlen(s) - 1]);
}

void sk_cfg_fmt_double(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* Keep it a YAML float-looking token when integral: fine either way for us. */
}

static const char *choice_text(const sk_cfg_key *k, long long v)
{
    const char *c = v >= 0 && v < k->n_names ? sk_cfg_choice_at(k, (int)v) : NULL;
    return c ? c : "?";
}

static void value_text(const sk_config *cfg, const sk_cfg_key *k, char *buf, size_t n)
{
    const char *base = (const char *)cfg;
    switch (k->type) {
    case T_STR: {
        const char *s = base + k->off;
        if (plain_safe(s))
            snprintf(buf, n, "%s", s);
        else
            sk_cfg_quote(s, buf, n);
        break;
    }
    case T_INT:
        snprintf(buf, n, "%lld", sk_cfg_load_int(base + k->off, k->size));
        break;
    case T_FLOAT:
        sk_cfg_fmt_double(*(const double *)(base + k->off), buf, n);
        break;
    case T_BOOL:
        snprintf(buf, n, "%s", sk_cfg_load_int(base + k->off, k->size) ? "true" : "false");
        break;
    case T_ENUM:
        snprintf(buf, n, "%s", choice_text(k, sk_cfg_load_int(base + k->off, k->size)));
        break;
    case T_FLTLIST: {
        int cnt = (int)sk_cfg_load_int(base + k->cnt_off, sizeof(int));
        size_t j = (size_t)snprintf(buf, n, "[");
        for (int i = 0; i < cnt && j < n; i++) {
            char c[40];
            sk_cfg_fmt_double(((const double *)(base + k->off))[i], c, sizeof c);
            j += (size_t)snprintf(buf + j, n - j, "%s%s", i ? ", " : "", c);
        }
        if (j < n) snprintf(buf + j, n - j, "]");
        break;
    }
    case T_STRLIST: {
        int cnt = (int)sk_cfg_load_int(base + k->cnt_off, sizeof(int));
        size_t j = (size_t)snprintf(buf, n, "[");
        for (int i = 0; i < cnt && j < n; i++) {
            char q[2 * SK_CFG_RENAME_TEXT + 8];
            sk_cfg_quote(base + k->off + (size_t)i * k->size, q, sizeof q);
            j += (size_t)snprintf(buf + j, n - j, "%s%s", i ? ", " : "", q);
        }
        if (j < n) snprintf(buf + j, n - j, "]");
        break;
    }
    case T_PAIRLIST: {
        int cnt = (int)sk_cfg_load_int(base + k->cnt_off, sizeof(int));
        const long long(*v)[2] = (const long long(*)[2])(const void *)(base + k->off);
        size_t j = (size_t)snprintf(buf, n, "[");
        for (int i = 0; i < cnt && j < n; i++)
            j += (size_t)snprintf(buf + j, n - j, "%s[%lld, %lld]", i ? ", " : "", v[i][0], v[i][1]);
        if (j < n) snprintf(buf + j, n - j, "]");
        break;
    }
    case T_INTLIST:
    case T_ENUMLIST: {
        int cnt = (int)sk_cfg_load_int(base + k->cnt_off, sizeof(int));
        size_t j = (size_t)snprintf(buf, n, "[");
        for (int i = 0; i < cnt && j < n; i++) {
            long long v = sk_cfg_load_int(base + k->off + (size_t)i * k->size, k->size);
            char c[32];
            if (k->type == T_INTLIST) snprintf(c, sizeof c, "%lld", v);
            j += (size_t)snprintf(buf + j, n - j, "%s%s", i ? ", " : "", k->type == T_ENUMLIST ? choice_text(k, v) : c);
        }
        if (j < n) snprintf(buf + j, n - j, "]");
        break;
    }
    }
}

/* Emit keys whose name starts with `only` ("" = all) as nested YAML. */
static sk_status emit(const sk_config *cfg, FILE *out, const char *only)
{
    char prev[256] = "";
    size_t ol = strlen(only);
    for (int i = 0; i < sk_cfg_n_schema; i++) {
        const sk_cfg_key *k = &sk_cfg_schema[i];
        char val[SK_CFG_PATH + 48 * SK_CFG_REPEAT_SEEDS]; /* the longest: a path, or repeat_seeds */
        if (ol && strncmp(k->key, only, ol) != 0) continue;
        const char *key = k->key + ol;
        /* Print the section headers that differ from the previous key's. */
        const char *p = key, *q = prev;
        int depth = 0;
        while (1) {
            const char *dp = strchr(p, '.');
            if (!dp) break;
            size_t len = (size_t)(dp - p);
            const char *dq = strchr(q, '.');
            int same = dq && (size_t)(dq - q) == len && !strncmp(p, q, len);
            if (!same) {
                fprintf(out, "%*s%.*s:\n", 2 * depth, "", (int)len, p);
                q = "";
            } else {
                q = dq + 1;
            }
            p = dp + 1;
            depth++;
        }
        value_text(cfg, k, val, sizeof val);
        fprintf(out, "%*s%s: %s\n", 2 * depth, "", p, val);
        snprintf(prev, sizeof prev, "%s", key);
    }
    if (!ol && cfg->sweep.n > 0) {
        fprintf(out, "sweep:\n  key: %s\n  values:\n", cfg->sweep.key);
        for (int i = 0; i < cfg->sweep.n; i++)
            fprintf(out, "    - %s\n", cfg->sweep.values[i]);
        fprintf(out, "  labels: [");
        for (int i = 0; i < cfg->sweep.n; i++)
            fprintf(out, "%s%s", i ? ", " : "", cfg->sweep.labels[i]);
        fprintf(out, "]\n");
    }
    if (!ol) sk_cfg_emit_reference(cfg, out);
    return ferror(out) ? sk_err(SK_EIO, "write error") : SK_OK;
}

sk_status sk_config_write_yaml(const sk_config *cfg, FILE *out)
{
    return emit(cfg, out, "");
}

static char *emit_string(const sk_config *cfg, const char *only)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        sk_err(SK_ENOMEM, "open_memstream failed");
        return NULL;
    }
    emit(cfg, f, only);
    fclose(f);
    return buf;
}

sk_status sk_config_value_text(const sk_config *cfg, const char *key, char *buf, size_t n)
{
    const sk_cfg_key *k = sk_cfg_find(key);
    if (!k) return sk_err(SK_EINVAL, "no config key %s", key);
    value_text(cfg, k, buf, n);
    return SK_OK;
}

char *sk_config_to_yaml(const sk_config *cfg)
{
    return emit_string(cfg, "");
}
char *sk_config_model_yaml(const sk_config *cfg)
{
    return emit_string(cfg, "model.");
}
