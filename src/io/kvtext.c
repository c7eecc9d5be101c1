/* kvtext.c - "key: value" lines of checkpoint attributes. */
#include "io/kvtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sk_kv_value(const char *text, const char *key)
{
    size_t k = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, key, k) && l[k] == ':' && l[k + 1] == ' ') return l + k + 2;
    return NULL;
}

int sk_kv_ll(const char *text, const char *key, long long *v)
{
    const char *s = sk_kv_value(text, key);
    char end;
    return s && sscanf(s, "%lld%c", v, &end) == 2 && end == '\n';
}

int sk_kv_rng(const char *text, const char *key, sk_rng *g)
{
    const char *s = sk_kv_value(text, key);
    unsigned long long w[4];
    char end;
    if (!s || sscanf(s, "%16llx %16llx %16llx %16llx%c", &w[0], &w[1], &w[2], &w[3], &end) != 5 || end != '\n')
        return 0;
    if (!(w[0] | w[1] | w[2] | w[3])) return 0;
    for (int i = 0; i < 4; i++)
        g->s[i] = (uint64_t)w[i];
    return 1;
}

int sk_kv_doubles(const char *text, const char *key, double *v, int64_t n)
{
    const char *s = sk_kv_value(text, key);
    if (!s) return 0;
    for (int64_t i = 0; i < n; i++) {
        char *end;
        if (*s != ' ' && i > 0) return 0;
        while (*s == ' ')
            s++;
        if (!*s || *s == '\n') return 0;
        v[i] = strtod(s, &end);
        if (end == s) return 0;
        s = end;
    }
    return *s == '\n';
}

void sk_kv_put_rng(sk_strbuf *b, const char *key, const sk_rng *g)
{
    sk_strbuf_appendf(b, "%s: %016llx %016llx %016llx %016llx\n", key, (unsigned long long)g->s[0],
                      (unsigned long long)g->s[1], (unsigned long long)g->s[2], (unsigned long long)g->s[3]);
}

void sk_kv_put_doubles(sk_strbuf *b, const char *key, const double *v, int64_t n)
{
    sk_strbuf_appendf(b, "%s:%s", key, n ? "" : " ");
    for (int64_t i = 0; i < n; i++)
        sk_strbuf_appendf(b, " %.17g", v[i]);
    sk_strbuf_append(b, "\n");
}

void sk_kv_fingerprint(const char *text, char *hex, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    snprintf(hex, n, "%016llx", (unsigned long long)h);
}
