/* parse.c - read a config: YAML walk against the schema, typed and
 * range-checked values with FILE:LINE:COL errors, `--set` overrides,
 * defaults, derived paths and cross-key checks. */
#include "cfg/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"

sk_status sk_cfg_node_err(const sk_cfg_ctx *cx, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cx->is_set || !node) return sk_err(SK_ECONFIG, "%s: %s", cx->origin, msg);
    return sk_err(SK_ECONFIG, "%s:%zu:%zu: %s", cx->origin, node->start_mark.line + 1, node->start_mark.column + 1,
                  msg);
}

const char *sk_cfg_scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

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
    if (k->type == T_FLOAT || k->type == T_FLTLIST) {
        if (hi)
            snprintf(buf, n, "a number %s %g and <= %g", k->min_excl ? ">" : ">=", k->min, k->max);
        else
            snprintf(buf, n, "a number %s %g", k->min_excl ? ">" : ">=", k->min);
    } else {
        if (hi)
            snprintf(buf, n, "an integer in %lld..%lld", (long long)k->min, (long long)k->max);
        else
            snprintf(buf, n, "an integer >= %lld", (long long)k->min);
    }
}

static int in_range(const sk_cfg_key *k, double v)
{
    if (k->min_excl ? !(v > k->min) : !(v >= k->min)) return 0;
    return v <= k->max;
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

/* Is `prefix` (e.g. "models.a") a section that has keys under it? */
static int is_section(const char *prefix)
{
    size_t n = strlen(prefix);
    for (int i = 0; i < sk_cfg_n_schema; i++)
        if (strncmp(sk_cfg_schema[i].key, prefix, n) == 0 && sk_cfg_schema[i].key[n] == '.') return 1;
    return 0;
}

/* Keys directly under `prefix` ("" for the top level), as "a, b, c", and the
 * closest one to `name` (within edit distance 2) in `best`. */
static void keys_under(const char *prefix, const char *name, char *list, size_t n, char *best, size_t bn)
{
    char parts[SK_CFG_MAX_KEYS][64];
    int np = 0, bd = 3;
    size_t pl = strlen(prefix), k = 0;
    list[0] = best[0] = '\0';
    for (int i = 0; i < sk_cfg_n_schema; i++) {
        const char *key = sk_cfg_schema[i].key;
        if (pl && (strncmp(key, prefix, pl) != 0 || key[pl] != '.')) continue;
        const char *rest = pl ? key + pl + 1 : key;
        size_t len = strcspn(rest, ".");
        if (len >= sizeof parts[0]) continue;
        int dup = 0;
        for (int j = 0; j < np; j++)
            if (strlen(parts[j]) == len && !strncmp(parts[j], rest, len)) dup = 1;
        if (dup) continue;
        memcpy(parts[np], rest, len);
        parts[np][len] = '\0';
        if (k < n) k += (size_t)snprintf(list + k, n - k, "%s%s", np ? ", " : "", parts[np]);
        int d = sk_cfg_levenshtein(parts[np], name);
        if (d < bd && bn > len) {
            bd = d;
            memcpy(best, parts[np], len + 1);
        }
        np++;
    }
    if (!pl) {
        /* The sweep and reference sections are not in the schema table. */
        if (k < n) snprintf(list + k, n - k, ", sweep, reference");
        if (sk_cfg_levenshtein("sweep", name) < bd && bn > 5) snprintf(best, bn, "sweep");
        if (sk_cfg_levenshtein("reference", name) < bd && bn > 9) snprintf(best, bn, "reference");
    }
}

static sk_status walk_mapping(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc, yaml_node_t *map,
                              const char *prefix, unsigned char *seen)
{
    int sweep_seen = 0, ref_seen = 0;
    if (map->type != YAML_MAPPING_NODE) {
        if (*prefix) return sk_cfg_node_err(cx, map, "%s must be a mapping of keys (a section)", prefix);
        return sk_cfg_node_err(cx, map, "the config must be a mapping of keys (name: ..., mode: ..., ...)");
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        const char *name = sk_cfg_scalar(kn);
        char full[256], list[1024], best[64];
        if (!name) return sk_cfg_node_err(cx, kn, "keys must be plain names");
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", name);
        const sk_cfg_key *k = sk_cfg_find(full);
        if (!*prefix && !strcmp(name, "sweep")) {
            if (sweep_seen++) return sk_cfg_node_err(cx, kn, "duplicate key sweep");
            sk_status st = sk_cfg_parse_sweep(cfg, cx, doc, vn);
            if (st != SK_OK) return st;
        } else if (!*prefix && !strcmp(name, "reference")) {
            if (ref_seen++) return sk_cfg_node_err(cx, kn, "duplicate key reference");
            sk_status st = sk_cfg_parse_reference(cfg, cx, doc, vn);
            if (st != SK_OK) return st;
        } else if (k) {
            int idx = (int)(k - sk_cfg_schema);
            if (seen[idx]) return sk_cfg_node_err(cx, kn, "duplicate key %s", full);
            seen[idx] = 1;
            sk_status st = sk_cfg_set_key(cfg, cx, k, doc, vn);
            if (st != SK_OK) return st;
        } else if (is_section(full)) {
            sk_status st = walk_mapping(cfg, cx, doc, vn, full, seen);
            if (st != SK_OK) return st;
        } else {
            keys_under(prefix, name, list, sizeof list, best, sizeof best);
            if (best[0])
                return sk_cfg_node_err(cx, kn, "unknown key \"%s\"%s%s (did you mean \"%s\"?)", name,
                                       *prefix ? " in section " : "", prefix, best);
            return sk_cfg_node_err(cx, kn, "unknown key \"%s\"%s%s (expected one of: %s)", name,
                                   *prefix ? " in section " : "", prefix, list);
        }
    }
    return SK_OK;
}

sk_status sk_cfg_load_doc(const sk_cfg_ctx *cx, const unsigned char *text, size_t len, yaml_document_t *doc)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return sk_err(SK_ENOMEM, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, text, len);
    if (!yaml_parser_load(&parser, doc)) {
        sk_status st;
        if (cx->is_set)
            st = sk_err(SK_ECONFIG, "%s: YAML syntax error: %s", cx->origin,
                        parser.problem ? parser.problem : "invalid value");
        else
            st = sk_err(SK_ECONFIG, "%s:%zu:%zu: YAML syntax error: %s%s%s", cx->origin, parser.problem_mark.line + 1,
                        parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid document",
                        parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);
    return SK_OK;
}

static sk_status set_default(sk_config *cfg, const sk_cfg_key *k)
{
    yaml_document_t doc;
    sk_cfg_ctx cx = {"(built-in default)", 1};
    sk_status st = sk_cfg_load_doc(&cx, (const unsigned char *)k->def, strlen(k->def), &doc);
    if (st != SK_OK) return st;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    st = root ? sk_cfg_set_key(cfg, &cx, k, &doc, root) : sk_err(SK_ECONFIG, "empty default for %s", k->key);
    yaml_document_delete(&doc);
    return st;
}

void sk_config_defaults(sk_config *cfg, const char *name)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < sk_cfg_n_schema; i++)
        set_default(cfg, &sk_cfg_schema[i]);
    if (name) snprintf(cfg->name, sizeof cfg->name, "%s", name);
}

static void stem_of(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strcspn(b, ".");
    if (len == 0) len = strlen(b);
    if (len >= n) len = n - 1;
    memcpy(out, b, len);
    out[len] = '\0';
}

sk_status sk_cfg_apply_set(sk_config *cfg, const char *arg, unsigned char *seen)
{
    char origin[600];
    const char *eq = strchr(arg, '=');
    snprintf(origin, sizeof origin, "--set %s", arg);
    sk_cfg_ctx cx = {origin, 1};
    if (!eq || eq == arg)
        return sk_err(SK_ECONFIG, "%s: expected KEY=VALUE, e.g. --set model.hidden=[1024,1024]", origin);
    char key[256];
    size_t kl = (size_t)(eq - arg);
    if (kl >= sizeof key) return sk_err(SK_ECONFIG, "%s: key too long", origin);
    memcpy(key, arg, kl);
    key[kl] = '\0';
    if (!strncmp(key, "sweep.", 6)) {
        yaml_document_t sdoc;
        sk_status sst = sk_cfg_load_doc(&cx, (const unsigned char *)(eq + 1), strlen(eq + 1), &sdoc);
        if (sst != SK_OK) return sst;
        yaml_node_t *root = yaml_document_get_root_node(&sdoc);
        if (!root)
            sst = sk_err(SK_ECONFIG, "%s: missing value", origin);
        else
            sst = sk_cfg_sweep_set(cfg, &cx, &sdoc, key + 6, root);
        yaml_document_delete(&sdoc);
        return sst;
    }
    if (!strcmp(key, "reference") || !strncmp(key, "reference.", 10))
        return sk_err(SK_ECONFIG, "%s: the reference section cannot be set with --set; edit the config file", origin);
    const sk_cfg_key *k = sk_cfg_find(key);
    if (!k) {
        char list[1024], best[64], prefix[256];
        const char *dot = strrchr(key, '.');
        snprintf(prefix, sizeof prefix, "%.*s", dot ? (int)(dot - key) : 0, key);
        keys_under(prefix, dot ? dot + 1 : key, list, sizeof list, best, sizeof best);
        if (best[0])
            return sk_err(SK_ECONFIG, "%s: unknown key \"%s\" (did you mean \"%s%s%s\"?)", origin, key, prefix,
                          *prefix ? "." : "", best);
        return sk_err(SK_ECONFIG, "%s: unknown key \"%s\"", origin, key);
    }
    const char *val = eq + 1;
    yaml_document_t doc;
    sk_status st;
    if (k->type == T_STR && val[0] != '"' && val[0] != '\'') {
        /* Strings are taken literally (a path may contain " #"); quote to
         * use YAML escapes. */
        if (strlen(val) >= k->size) return sk_err(SK_ECONFIG, "%s: value too long", origin);
        if (k->check && k->check(val)) return sk_err(SK_ECONFIG, "%s: %s must be %s", origin, k->key, k->check(val));
        snprintf((char *)cfg + k->off, k->size, "%s", val);
        seen[k - sk_cfg_schema] = 1;
        return SK_OK;
    }
    st = sk_cfg_load_doc(&cx, (const unsigned char *)val, strlen(val), &doc);
    if (st != SK_OK) return st;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        st = sk_err(SK_ECONFIG, "%s: missing value", origin);
    else
        st = sk_cfg_set_key(cfg, &cx, k, &doc, root);
    yaml_document_delete(&doc);
    if (st == SK_OK) seen[k - sk_cfg_schema] = 1;
    return st;
}

sk_status sk_config_load(sk_config *cfg, const char *path, const char *const *sets, int n_sets)
{
    unsigned char seen[SK_CFG_MAX_KEYS];
    char *text = NULL;
    size_t len = 0;
    yaml_document_t doc;
    int have_doc = 0;
    sk_status st = SK_OK;
    sk_cfg_ctx cx = {path, 0};
    FILE *f;
    char stem[SK_CFG_NAME];

    sk_err_clear(); /* a config load is a chain of its own */
    memset(seen, 0, sizeof seen);
    stem_of(path, stem, sizeof stem);
    sk_config_defaults(cfg, stem);

    f = fopen(path, "rb");
    if (!f) return sk_err(SK_ECONFIG, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) == 0) {
        long l = ftell(f);
        if (l >= 0) len = (size_t)l;
        rewind(f);
    }
    text = sk_alloc(len + 1);
    if (!text) {
        fclose(f);
        return SK_ENOMEM;
    }
    if (len && fread(text, 1, len, f) != len) {
        fclose(f);
        st = sk_err(SK_ECONFIG, "%s: read error", path);
        goto cleanup;
    }
    fclose(f);

    st = sk_cfg_load_doc(&cx, (unsigned char *)text, len, &doc);
    if (st != SK_OK) goto cleanup;
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        st = walk_mapping(cfg, &cx, &doc, root, "", seen);
        if (st != SK_OK) goto cleanup;
    }
    for (int i = 0; i < n_sets; i++) {
        st = sk_cfg_apply_set(cfg, sets[i], seen);
        if (st != SK_OK) goto cleanup;
    }
    if (!cfg->name[0]) snprintf(cfg->name, sizeof cfg->name, "%s", stem);
    st = sk_config_finalize(cfg, path);
cleanup:
    if (have_doc) yaml_document_delete(&doc);
    sk_free(text);
    return st;
}

sk_status sk_config_finalize(sk_config *cfg, const char *origin)
{
    if (!cfg->name[0]) return sk_err(SK_ECONFIG, "%s: name must not be empty", origin);
    for (const char *p = cfg->name; *p; p++)
        if (!sk_cfg_name_char(*p))
            return sk_err(SK_ECONFIG, "%s: name \"%s\" may only contain letters, digits, '_', '-' and '.'", origin,
                          cfg->name);
    if (!cfg->output[0]) snprintf(cfg->output, sizeof cfg->output, "results/%s", cfg->name);
    if (!cfg->dataset.path[0])
        snprintf(cfg->dataset.path, sizeof cfg->dataset.path, "%s", sk_cfg_default_data_dir(cfg->dataset.name));
    for (int m = 0; m < 2; m++)
        if (!cfg->models[m].weights[0]) {
            int k =
                snprintf(cfg->models[m].weights, sizeof cfg->models[m].weights, "%s/model_%c.h5", cfg->output, 'a' + m);
            if (k >= (int)sizeof cfg->models[m].weights) return sk_err(SK_ECONFIG, "%s: output path too long", origin);
        }
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n > 0 ? (int)n : 1;
    }
    /* Cross-key checks. */
    int conv = cfg->model.arch != SK_ARCH_MLP;
    if (conv && (cfg->dataset.name == SK_DS_POLYNOMIAL))
        return sk_err(SK_ECONFIG, "%s: model.arch %s needs image data (dataset.name is polynomial)", origin,
                      sk_cfg_choice("model.arch", cfg->model.arch));
    if (conv && (cfg->dataset.name == SK_DS_MNIST || cfg->dataset.name == SK_DS_FASHION_MNIST) &&
        cfg->model.arch != SK_ARCH_RESNET20)
        return sk_err(SK_ECONFIG, "%s: model.arch %s needs 32x32 inputs (CIFAR); use mlp or resnet20 for %s", origin,
                      sk_cfg_choice("model.arch", cfg->model.arch), sk_cfg_choice("dataset.name", cfg->dataset.name));
    int custom = cfg->dataset.normalize == SK_NORMALIZE_CUSTOM;
    if (custom && (cfg->dataset.n_mean == 0 || cfg->dataset.n_mean != cfg->dataset.n_std))
        return sk_err(SK_ECONFIG,
                      "%s: dataset.normalize custom needs dataset.mean and dataset.std with one value per channel "
                      "each (got %d and %d)",
                      origin, cfg->dataset.n_mean, cfg->dataset.n_std);
    if (!custom && (cfg->dataset.n_mean || cfg->dataset.n_std))
        return sk_err(SK_ECONFIG,
                      "%s: dataset.mean and dataset.std are used only with dataset.normalize: custom (got %s)", origin,
                      sk_normalize_names[cfg->dataset.normalize]);
    if (cfg->dataset.train_limit > 0 && cfg->dataset.validation >= cfg->dataset.train_limit)
        return sk_err(SK_ECONFIG,
                      "%s: dataset.validation (%lld) must be smaller than dataset.train_limit (%lld): the validation "
                      "examples are drawn from the training examples kept",
                      origin, cfg->dataset.validation, cfg->dataset.train_limit);
    if (cfg->train.select == SK_TRAIN_SELECT_BEST_VALIDATION && cfg->dataset.validation == 0)
        return sk_err(SK_ECONFIG,
                      "%s: train.select best_validation needs a validation split: set dataset.validation to the "
                      "number of training examples to hold out",
                      origin);
    if (!(cfg->model.dropout < 1))
        return sk_err(SK_ECONFIG, "%s: model.dropout must be below 1 (got %g)", origin, cfg->model.dropout);
    for (int m = 0; m < 2; m++) {
        double p = cfg->models[m].dropout;
        if (!(p == -1 || (p >= 0 && p < 1)))
            return sk_err(SK_ECONFIG, "%s: models.%c.dropout must be in [0, 1), or -1 for model.dropout (got %g)",
                          origin, 'a' + m, p);
        if (p > 0 && cfg->model.arch != SK_ARCH_MLP)
            return sk_err(SK_ECONFIG, "%s: models.%c.dropout is an MLP option (model.arch is %s)", origin, 'a' + m,
                          sk_cfg_choice("model.arch", cfg->model.arch));
    }
    if (cfg->model.arch == SK_ARCH_RESNET20 && cfg->model.norm == SK_MNORM_NONE)
        return sk_err(SK_ECONFIG, "%s: model.arch resnet20 needs model.norm batchnorm or layernorm", origin);
    if (cfg->sweep.n > 0) {
        /* Every item must be a valid config on its own, before any work. */
        sk_config *tmp = sk_alloc(sizeof *tmp);
        sk_status st = SK_OK;
        if (!tmp) return SK_ENOMEM;
        for (int i = 0; i < cfg->sweep.n && st == SK_OK; i++)
            st = sk_cfg_sweep_item(cfg, i, tmp, origin);
        sk_free(tmp);
        return st;
    }
    return SK_OK;
}
