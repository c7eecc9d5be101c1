/* reference.c - the `reference:` section: published numbers at lambda = 1/2
 * on one split (the endpoints' and each method's loss and accuracy) that the
 * summary and metrics.json show beside the run's own. They are read, checked
 * and printed, never computed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cfg/parse.h"
#include "core/names.h"

/* The names an entry may have: endpoints, naive, every alignment method but
 * sinkhorn, and sinkhorn_<cost> for every cost (the results' names). */
#define N_REF_NAMES (2 + SK_ALIGN_COUNT - 1 + SK_SRB_COST_COUNT)
static int ref_names(char names[N_REF_NAMES][48], const char *ptrs[N_REF_NAMES])
{
    int n = 0;
    snprintf(names[n++], 48, "endpoints");
    snprintf(names[n++], 48, "naive");
    for (int m = 0; m < SK_ALIGN_COUNT; m++)
        if (m != SK_ALIGN_SINKHORN) snprintf(names[n++], 48, "%s", sk_align_method_names[m]);
    for (int c = 0; c < SK_SRB_COST_COUNT; c++)
        snprintf(names[n++], 48, "sinkhorn_%s", sk_srb_cost_names[c]);
    for (int i = 0; i < n; i++)
        ptrs[i] = names[i];
    return n;
}

int sk_config_reference_find(const sk_config *cfg, const char *name)
{
    for (int i = 0; cfg->reference.present && i < cfg->reference.n; i++)
        if (!strcmp(cfg->reference.entries[i].name, name)) return i;
    return -1;
}

/* A number of an entry: loss >= 0, accuracy a fraction in [0, 1]. */
static sk_status ref_number(const sk_cfg_ctx *cx, yaml_node_t *n, const char *what, int fraction, double *out)
{
    const char *s = sk_cfg_scalar(n);
    char *end = NULL;
    double v = s && *s ? strtod(s, &end) : NAN;
    if (!s || !end || *end || !isfinite(v) || v < 0 || (fraction && v > 1))
        return sk_cfg_node_err(cx, n, "%s must be %s (got %s%s%s)", what,
                               fraction ? "a fraction in [0, 1] (53% is 0.53)" : "a number >= 0", s ? "\"" : "",
                               s ? s : "a collection", s ? "\"" : "");
    *out = v;
    return SK_OK;
}

/* One entry, {loss: L, accuracy: A} (either or both), named `name`. */
static sk_status ref_entry(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc, yaml_node_t *kn, yaml_node_t *vn,
                           const char *name, const char *path)
{
    char what[128];
    if (cfg->reference.n == SK_CFG_REF + 1)
        return sk_cfg_node_err(cx, kn, "reference has more than %d entries", SK_CFG_REF + 1);
    if (sk_config_reference_find(cfg, name) >= 0) return sk_cfg_node_err(cx, kn, "duplicate key %s", path);
    if (vn->type != YAML_MAPPING_NODE)
        return sk_cfg_node_err(cx, vn, "%s must be a mapping such as {loss: 1.37, accuracy: 0.50}", path);
    typeof(cfg->reference.entries[0]) *e = &cfg->reference.entries[cfg->reference.n];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    for (yaml_node_pair_t *p = vn->data.mapping.pairs.start; p < vn->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        const char *key = sk_cfg_scalar(k);
        int acc = key && !strcmp(key, "accuracy");
        if (!key || (!acc && strcmp(key, "loss"))) {
            static const char *const keys[] = {"loss", "accuracy"};
            char sug[96];
            sk_cfg_suggest(keys, 2, key ? key : "", sug, sizeof sug);
            return sk_cfg_node_err(cx, k, "unknown key \"%s\" in %s (expected loss, accuracy)%s", key ? key : "?", path,
                                   sug);
        }
        if (acc ? e->has_acc : e->has_loss) return sk_cfg_node_err(cx, k, "duplicate key %s.%s", path, key);
        snprintf(what, sizeof what, "%s.%s", path, key);
        sk_status st = ref_number(cx, v, what, acc, acc ? &e->acc : &e->loss);
        if (st != SK_OK) return st;
        *(acc ? &e->has_acc : &e->has_loss) = 1;
    }
    if (!e->has_loss && !e->has_acc)
        return sk_cfg_node_err(cx, vn, "%s needs loss, accuracy or both, e.g. {loss: 1.37, accuracy: 0.50}", path);
    cfg->reference.n++;
    return SK_OK;
}

static sk_status ref_methods(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc, yaml_node_t *map)
{
    char names[N_REF_NAMES][48], list[1024], sug[96], path[128];
    const char *ptrs[N_REF_NAMES];
    int n = ref_names(names, ptrs);
    if (map->type != YAML_MAPPING_NODE)
        return sk_cfg_node_err(cx, map,
                               "reference.methods must be a mapping of result names to values, e.g. "
                               "sinkhorn_mid: {loss: 1.37, accuracy: 0.50}");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
        const char *name = sk_cfg_scalar(kn);
        int known = 0;
        for (int i = 1; name && i < n; i++) /* names[0] is "endpoints", which is not a method */
            known |= !strcmp(name, names[i]);
        if (!known) {
            size_t k = 0;
            for (int i = 1; i < n; i++)
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i > 1 ? ", " : "", names[i]);
            sk_cfg_suggest(ptrs + 1, n - 1, name ? name : "", sug, sizeof sug);
            return sk_cfg_node_err(cx, kn, "unknown method \"%s\" in reference.methods (expected one of: %s)%s",
                                   name ? name : "?", list, sug);
        }
        snprintf(path, sizeof path, "reference.methods.%s", name);
        sk_status st = ref_entry(cfg, cx, doc, kn, vn, name, path);
        if (st != SK_OK) return st;
    }
    return SK_OK;
}

sk_status sk_cfg_parse_reference(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc, yaml_node_t *map)
{
    static const char *const keys[] = {"source", "split", "endpoints", "methods"};
    int seen[4] = {0, 0, 0, 0};
    if (map->type != YAML_MAPPING_NODE)
        return sk_cfg_node_err(cx, map,
                               "reference must be a section with source, split, endpoints and methods (published "
                               "values at lambda = 1/2)");
    memset(&cfg->reference, 0, sizeof cfg->reference);
    cfg->reference.present = 1;
    cfg->reference.split = SK_SPLIT_TEST;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
        const char *name = sk_cfg_scalar(kn);
        int i = 0;
        while (i < 4 && !(name && !strcmp(name, keys[i])))
            i++;
        if (i == 4) {
            char sug[96];
            sk_cfg_suggest(keys, 4, name ? name : "", sug, sizeof sug);
            return sk_cfg_node_err(cx, kn,
                                   "unknown key \"%s\" in section reference (expected one of: source, split, "
                                   "endpoints, methods)%s",
                                   name ? name : "?", sug);
        }
        if (seen[i]++) return sk_cfg_node_err(cx, kn, "duplicate key reference.%s", keys[i]);
        sk_status st = SK_OK;
        const char *s = sk_cfg_scalar(vn);
        if (i == 0) {
            if (!s) return sk_cfg_node_err(cx, vn, "reference.source must be a string");
            if (strlen(s) >= sizeof cfg->reference.source)
                return sk_cfg_node_err(cx, vn, "reference.source is too long (at most %zu characters)",
                                       sizeof cfg->reference.source - 1);
            snprintf(cfg->reference.source, sizeof cfg->reference.source, "%s", s);
        } else if (i == 1) {
            int v = s ? sk_name_index(sk_split_names, SK_SPLIT_COUNT, s) : -1;
            if (v < 0)
                return sk_cfg_node_err(cx, vn, "reference.split must be one of train, test (got %s%s%s)", s ? "\"" : "",
                                       s ? s : "a collection", s ? "\"" : "");
            cfg->reference.split = (sk_split_id)v;
        } else if (i == 2) {
            st = ref_entry(cfg, cx, doc, kn, vn, "endpoints", "reference.endpoints");
        } else {
            st = ref_methods(cfg, cx, doc, vn);
        }
        if (st != SK_OK) return st;
    }
    if (cfg->reference.n == 0)
        return sk_cfg_node_err(cx, map, "reference needs endpoints or methods (the values to show beside the run's)");
    return SK_OK;
}

/* The section as YAML that sk_cfg_parse_reference reads back unchanged. */
void sk_cfg_emit_reference(const sk_config *cfg, FILE *out)
{
    char q[2 * sizeof cfg->reference.source + 8], a[40], b[40];
    if (!cfg->reference.present) return;
    sk_cfg_quote(cfg->reference.source, q, sizeof q);
    fprintf(out, "reference:\n  source: %s\n  split: %s\n", q, sk_split_names[cfg->reference.split]);
    for (int pass = 0; pass < 2; pass++) {
        int first = 1;
        for (int i = 0; i < cfg->reference.n; i++) {
            const typeof(cfg->reference.entries[0]) *e = &cfg->reference.entries[i];
            int ep = !strcmp(e->name, "endpoints");
            if (ep != (pass == 0)) continue;
            if (pass == 1 && first) fprintf(out, "  methods:\n");
            first = 0;
            sk_cfg_fmt_double(e->loss, a, sizeof a);
            sk_cfg_fmt_double(e->acc, b, sizeof b);
            fprintf(out, "%s%s: {", ep ? "  " : "    ", e->name);
            if (e->has_loss) fprintf(out, "loss: %s", a);
            if (e->has_acc) fprintf(out, "%saccuracy: %s", e->has_loss ? ", " : "", b);
            fprintf(out, "}\n");
        }
    }
}
