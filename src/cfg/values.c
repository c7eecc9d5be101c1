/* values.c - typed, range-checked values of schema keys from YAML nodes
 * (scalars, lists of integers, choices, strings and numbers). */
#include "cfg/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) {
        /* Accept integral floats written like 1e3 or 1000.0. */
        double d = strtod(s, &end);
        if (*end || !isfinite(d) || d != floor(d) || fabs(d) > 9.2e18) return -1;
        v = (long long)d;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    double d = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

static void range_text(const sk_cfg_key *k, char *buf, size_t n)
{
    int hi = k->max < 1e17;
    const char *lo_op = k->excl & SK_CFG_EXCL_MIN ? ">" : ">=", *hi_op = k->excl & SK_CFG_EXCL_MAX ? "<" : "<=";
    if (k->type == T_FLOAT || k->type == T_FLTLIST) {
        if (hi)
            snprintf(buf, n, "a number %s %g and %s %g", lo_op, k->min, hi_op, k->max);
        else
            snprintf(buf, n, "a number %s %g", lo_op, k->min);
    } else {
        if (hi)
            snprintf(buf, n, "an integer in %lld..%lld", (long long)k->min, (long long)k->max);
        else
            snprintf(buf, n, "an integer >= %lld", (long long)k->min);
    }
}

static int in_range(const sk_cfg_key *k, double v)
{
    if (k->excl & SK_CFG_EXCL_MIN ? !(v > k->min) : !(v >= k->min)) return 0;
    return k->excl & SK_CFG_EXCL_MAX ? v < k->max : v <= k->max;
}

/* Set one enum/int element from a scalar node; `what` names it in errors. */
static sk_status set_elem(const sk_cfg_ctx *cx, const sk_cfg_key *k, const yaml_node_t *n, long long *out)
{
    const char *s = sk_cfg_scalar(n);
    char want[512], sug[96];
    if (k->type == T_ENUMLIST || k->type == T_ENUM) {
        sk_cfg_choices_text(k, want, sizeof want);
        if (!s) return sk_cfg_node_err(cx, n, "%s entries must be one of %s", k->key, want);
        int i = sk_cfg_choice_index(k, s);
        if (i < 0) {
            sk_cfg_suggest(k->names, k->n_names, s, sug, sizeof sug);
            return sk_cfg_node_err(cx, n, "%s must be one of %s (got \"%s\")%s", k->key, want, s, sug);
        }
        *out = i;
        return SK_OK;
    }
    long long v;
    range_text(k, want, sizeof want);
    if (!s || parse_ll(s, &v) != 0 || !in_range(k, (double)v))
        return sk_cfg_node_err(cx, n, "%s entries must be %s (got %s%s%s)", k->key, want, s ? "\"" : "",
                               s ? s : "a collection", s ? "\"" : "");
    *out = v;
    return SK_OK;
}

/* A list of strings (a single string is a one-element list; [] empties it). */
static sk_status set_strlist(const sk_cfg_ctx *cx, const sk_cfg_key *k, yaml_document_t *doc, yaml_node_t *n,
                             char *base)
{
    int cap = k->n_names, m = 0;
    yaml_node_t *items[SK_CFG_LIST];
    if (n->type == YAML_SCALAR_NODE) {
        items[m++] = n;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            if (m == cap || m == SK_CFG_LIST) return sk_cfg_node_err(cx, e, "%s has more than %d entries", k->key, m);
            items[m++] = e;
        }
    } else {
        return sk_cfg_node_err(cx, n, "%s must be a list of strings", k->key);
    }
    for (int i = 0; i < m; i++) {
        const char *s = sk_cfg_scalar(items[i]);
        if (!s) return sk_cfg_node_err(cx, items[i], "%s entries must be strings", k->key);
        if (strlen(s) >= k->size)
            return sk_cfg_node_err(cx, items[i], "%s entries are at most %zu characters", k->key, k->size - 1);
        if (k->check && k->check(s))
            return sk_cfg_node_err(cx, items[i], "%s entries must be %s (got \"%s\")", k->key, k->check(s), s);
    }
    memset(base + k->off, 0, (size_t)cap * k->size);
    for (int i = 0; i < m; i++)
        snprintf(base + k->off + (size_t)i * k->size, k->size, "%s", sk_cfg_scalar(items[i]));
    sk_cfg_store_int(base + k->cnt_off, sizeof(int), m);
    return SK_OK;
}

/* A list of numbers (a single number is a one-element list; [] empties it);
 * the capacity is the field's. */
static sk_status set_fltlist(const sk_cfg_ctx *cx, const sk_cfg_key *k, yaml_document_t *doc, yaml_node_t *n,
                             char *base)
{
    double v[SK_CFG_LIST];
    int m = 0, cap = k->n_names < SK_CFG_LIST ? k->n_names : SK_CFG_LIST;
    char want[256];
    yaml_node_t *items[SK_CFG_LIST];
    if (n->type == YAML_SCALAR_NODE) {
        items[m++] = n;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            if (m == cap) return sk_cfg_node_err(cx, e, "%s has more than %d entries", k->key, cap);
            items[m++] = e;
        }
    } else {
        return sk_cfg_node_err(cx, n, "%s must be a list of numbers", k->key);
    }
    range_text(k, want, sizeof want);
    for (int i = 0; i < m; i++) {
        const char *s = sk_cfg_scalar(items[i]);
        if (!s || parse_double(s, &v[i]) != 0 || !in_range(k, v[i]))
            return sk_cfg_node_err(cx, items[i], "%s entries must be %s (got %s%s%s)", k->key, want, s ? "\"" : "",
                                   s ? s : "a collection", s ? "\"" : "");
    }
    for (int i = 0; i < cap; i++)
        ((double *)(base + k->off))[i] = i < m ? v[i] : 0.0;
    sk_cfg_store_int(base + k->cnt_off, sizeof(int), m);
    return SK_OK;
}

/* A list of [A, B] integer pairs ([] empties it); the capacity is the field's. */
static sk_status set_pairlist(const sk_cfg_ctx *cx, const sk_cfg_key *k, yaml_document_t *doc, yaml_node_t *n,
                              char *base)
{
    long long(*out)[2] = (long long(*)[2])(void *)(base + k->off);
    long long tmp[2];
    int m = 0;
    if (n->type != YAML_SEQUENCE_NODE) return sk_cfg_node_err(cx, n, "%s must be a list of [A, B] pairs", k->key);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        if (m == k->n_names) return sk_cfg_node_err(cx, e, "%s has more than %d pairs", k->key, k->n_names);
        if (e->type != YAML_SEQUENCE_NODE || e->data.sequence.items.top - e->data.sequence.items.start != 2)
            return sk_cfg_node_err(cx, e, "%s entries must be pairs [A, B] of seeds", k->key);
        m++;
    }
    m = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, m++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        for (int j = 0; j < 2; j++) {
            sk_status st = set_elem(cx, k, yaml_document_get_node(doc, e->data.sequence.items.start[j]), &tmp[j]);
            if (st != SK_OK) return st;
        }
        out[m][0] = tmp[0];
        out[m][1] = tmp[1];
    }
    for (int i = m; i < k->n_names; i++)
        out[i][0] = out[i][1] = 0;
    sk_cfg_store_int(base + k->cnt_off, sizeof(int), m);
    return SK_OK;
}

sk_status sk_cfg_set_key(sk_config *cfg, const sk_cfg_ctx *cx, const sk_cfg_key *k, yaml_document_t *doc,
                         yaml_node_t *n)
{
    char *base = (char *)cfg;
    const char *s = sk_cfg_scalar(n);
    char want[512];
    switch (k->type) {
    case T_STR:
        if (!s) return sk_cfg_node_err(cx, n, "%s must be a string", k->key);
        if (strlen(s) >= k->size)
            return sk_cfg_node_err(cx, n, "%s is too long (at most %zu characters)", k->key, k->size - 1);
        if (k->check && k->check(s)) return sk_cfg_node_err(cx, n, "%s must be %s", k->key, k->check(s));
        snprintf(base + k->off, k->size, "%s", s);
        return SK_OK;
    case T_STRLIST:
        return set_strlist(cx, k, doc, n, base);
    case T_FLTLIST:
        return set_fltlist(cx, k, doc, n, base);
    case T_PAIRLIST:
        return set_pairlist(cx, k, doc, n, base);
    case T_INT: {
        long long v;
        range_text(k, want, sizeof want);
        if (!s || parse_ll(s, &v) != 0)
            return sk_cfg_node_err(cx, n, "%s must be %s (got %s%s%s)", k->key, want, s ? "\"" : "",
                                   s ? s : "a collection", s ? "\"" : "");
        if (!in_range(k, (double)v)) return sk_cfg_node_err(cx, n, "%s must be %s (got %lld)", k->key, want, v);
        sk_cfg_store_int(base + k->off, k->size, v);
        return SK_OK;
    }
    case T_FLOAT: {
        double v;
        range_text(k, want, sizeof want);
        if (!s || parse_double(s, &v) != 0)
            return sk_cfg_node_err(cx, n, "%s must be %s (got %s%s%s)", k->key, want, s ? "\"" : "",
                                   s ? s : "a collection", s ? "\"" : "");
        if (!in_range(k, v)) return sk_cfg_node_err(cx, n, "%s must be %s (got %s)", k->key, want, s);
        *(double *)(base + k->off) = v;
        return SK_OK;
    }
    case T_BOOL: {
        static const char *yes[] = {"true", "True", "TRUE", "yes", "on", NULL};
        static const char *no[] = {"false", "False", "FALSE", "no", "off", NULL};
        for (int i = 0; s && yes[i]; i++)
            if (!strcmp(s, yes[i])) {
                sk_cfg_store_int(base + k->off, k->size, 1);
                return SK_OK;
            }
        for (int i = 0; s && no[i]; i++)
            if (!strcmp(s, no[i])) {
                sk_cfg_store_int(base + k->off, k->size, 0);
                return SK_OK;
            }
        return sk_cfg_node_err(cx, n, "%s must be true or false (got %s%s%s)", k->key, s ? "\"" : "",
                               s ? s : "a collection", s ? "\"" : "");
    }
    case T_ENUM: {
        long long v;
        sk_status st = set_elem(cx, k, n, &v);
        if (st == SK_OK) sk_cfg_store_int(base + k->off, k->size, v);
        return st;
    }
    case T_INTLIST:
    case T_ENUMLIST: {
        long long tmp[SK_CFG_LIST];
        int m = 0;
        if (n->type == YAML_SCALAR_NODE) {
            /* A single value is a one-element list. */
            sk_status st = set_elem(cx, k, n, &tmp[0]);
            if (st != SK_OK) return st;
            m = 1;
        } else if (n->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
                yaml_node_t *e = yaml_document_get_node(doc, *it);
                if (m == SK_CFG_LIST) return sk_cfg_node_err(cx, e, "%s has more than %d entries", k->key, SK_CFG_LIST);
                sk_status st = set_elem(cx, k, e, &tmp[m]);
                if (st != SK_OK) return st;
                for (int j = 0; k->type == T_ENUMLIST && j < m; j++)
                    if (tmp[j] == tmp[m])
                        return sk_cfg_node_err(cx, e, "%s lists \"%s\" twice", k->key, sk_cfg_scalar(e));
                m++;
            }
        } else {
            return sk_cfg_node_err(cx, n, "%s must be a list such as %s", k->key, k->def);
        }
        if (m == 0) return sk_cfg_node_err(cx, n, "%s must not be empty", k->key);
        for (int i = 0; i < m; i++)
            sk_cfg_store_int(base + k->off + (size_t)i * k->size, k->size, tmp[i]);
        sk_cfg_store_int(base + k->cnt_off, sizeof(int), m);
        return SK_OK;
    }
    }
    return SK_OK;
}
