/* sweep.c - the `sweep:` section (key, values, labels) and its items: each
 * value runs the config once with the key set to it, into <output>/<label>. */
#include "cfg/parse.h"

#include <string.h>

#include "core/mem.h"

/* A value node already accepted by set_key as YAML flow text: a scalar, or a
 * flat sequence of scalars (the only shapes the schema's types take). */
static int flow_text(const sk_cfg_key *k, yaml_document_t *doc, yaml_node_t *n, char *buf, size_t len)
{
    size_t j = 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (k->type == T_STR)
            sk_cfg_quote(sk_cfg_scalar(n), buf, len);
        else
            snprintf(buf, len, "%s", sk_cfg_scalar(n));
        return strlen(buf) + 1 < len;
    }
    j += (size_t)snprintf(buf, len, "[");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top && j < len; it++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        char q[2 * SK_CFG_SWEEP_TEXT];
        if (k->type == T_STRLIST) sk_cfg_quote(sk_cfg_scalar(e), q, sizeof q);
        j += (size_t)snprintf(buf + j, len - j, "%s%s", it > n->data.sequence.items.start ? ", " : "",
                              k->type == T_STRLIST ? q : sk_cfg_scalar(e));
    }
    if (j < len) j += (size_t)snprintf(buf + j, len - j, "]");
    return j + 1 < len;
}

/* A folder name inside the output folder: not ".", ".." or hidden. */
static int label_ok(const char *s)
{
    if (!*s || *s == '.') return 0;
    for (; *s; s++)
        if (!sk_cfg_name_char(*s)) return 0;
    return 1;
}

/* Default labels: the value text with brackets and blanks dropped, commas as
 * '-', anything else unsafe in a folder name as '_'; made unique by a suffix. */
static void default_labels(sk_config *cfg)
{
    for (int i = 0; i < cfg->sweep.n; i++) {
        char *l = cfg->sweep.labels[i];
        size_t j = 0;
        for (const char *p = cfg->sweep.values[i]; *p && j + 1 < sizeof cfg->sweep.labels[0] - 4; p++) {
            if (*p == '[' || *p == ']' || *p == ' ' || *p == '"') continue;
            l[j++] = *p == ',' ? '-' : sk_cfg_name_char(*p) ? *p : '_';
        }
        l[j] = '\0';
        if (!label_ok(l)) snprintf(l, sizeof cfg->sweep.labels[0], "item%d", i + 1);
        for (int k = 0; k < i; k++)
            if (!strcmp(cfg->sweep.labels[k], l)) {
                snprintf(l + j, sizeof cfg->sweep.labels[0] - j, "-%d", i + 1);
                break;
            }
    }
}

/* One of sweep.key / sweep.values / sweep.labels (`sub`) from a node. */
sk_status sk_cfg_sweep_set(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc, const char *sub, yaml_node_t *n)
{
    if (!strcmp(sub, "key")) {
        const char *s = sk_cfg_scalar(n);
        const sk_cfg_key *k = s ? sk_cfg_find(s) : NULL;
        if (!k) {
            const char *best = NULL;
            int bd = 4;
            for (int i = 0; s && i < sk_cfg_n_schema; i++) {
                int d = sk_cfg_levenshtein(sk_cfg_schema[i].key, s);
                if (d < bd) {
                    bd = d;
                    best = sk_cfg_schema[i].key;
                }
            }
            return sk_cfg_node_err(cx, n, "sweep.key must name a config key such as model.arch (got %s%s%s)%s%s%s",
                                   s ? "\"" : "", s ? s : "a collection", s ? "\"" : "",
                                   best ? "; did you mean \"" : "", best ? best : "", best ? "\"?" : "");
        }
        if (!strcmp(s, "name") || !strcmp(s, "output"))
            return sk_cfg_node_err(cx, n, "sweep.key cannot be %s: every sweep item writes into <output>/<label>", s);
        if (!strcmp(s, "repeat") || !strcmp(s, "repeat_seeds"))
            return sk_cfg_node_err(cx, n, "sweep.key cannot be %s: every sweep item runs the config's repetitions", s);
        if (!strcmp(s, "mode"))
            return sk_cfg_node_err(cx, n, "sweep.key cannot be mode: the items of a sweep share one summary table");
        snprintf(cfg->sweep.key, sizeof cfg->sweep.key, "%s", s);
        return SK_OK;
    }
    if (!strcmp(sub, "values")) {
        const sk_cfg_key *k = sk_cfg_find(cfg->sweep.key);
        if (!k) return sk_cfg_node_err(cx, n, "sweep.values needs sweep.key (the config key the values are for)");
        if (n->type != YAML_SEQUENCE_NODE)
            return sk_cfg_node_err(cx, n, "sweep.values must be a list of values of %s", k->key);
        sk_config *tmp = sk_alloc(sizeof *tmp);
        sk_status st = SK_OK;
        int m = 0;
        if (!tmp) return SK_ENOMEM;
        /* Cleared first, so a config's bytes depend only on its values. */
        memset(cfg->sweep.values, 0, sizeof cfg->sweep.values);
        memset(cfg->sweep.labels, 0, sizeof cfg->sweep.labels);
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            if (m == SK_CFG_SWEEP) {
                st = sk_cfg_node_err(cx, e, "sweep.values has more than %d entries", SK_CFG_SWEEP);
                break;
            }
            *tmp = *cfg;
            if ((st = sk_cfg_set_key(tmp, cx, k, doc, e)) != SK_OK) break;
            if (!flow_text(k, doc, e, cfg->sweep.values[m], sizeof cfg->sweep.values[0])) {
                st = sk_cfg_node_err(cx, e, "sweep value is too long");
                break;
            }
            if (cx->where) sk_cfg_record(cx, &cx->where->sweep_value[m], e);
            m++;
        }
        sk_free(tmp);
        if (st != SK_OK) return st;
        cfg->sweep.n = m; /* an empty list turns the sweep off */
        default_labels(cfg);
        return SK_OK;
    }
    if (!strcmp(sub, "labels")) {
        int m = 0;
        if (n->type != YAML_SEQUENCE_NODE) return sk_cfg_node_err(cx, n, "sweep.labels must be a list of folder names");
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, m++) {
            yaml_node_t *e = yaml_document_get_node(doc, *it);
            const char *s = sk_cfg_scalar(e);
            if (m == SK_CFG_SWEEP) return sk_cfg_node_err(cx, e, "sweep.labels has more than %d entries", SK_CFG_SWEEP);
            if (!s || !label_ok(s) || strlen(s) >= sizeof cfg->sweep.labels[0])
                return sk_cfg_node_err(cx, e,
                                       "sweep.labels entries must be folder names of letters, digits, '_', '-' "
                                       "and '.', not starting with '.' (at most %zu characters)",
                                       sizeof cfg->sweep.labels[0] - 1);
            for (yaml_node_item_t *jt = n->data.sequence.items.start; jt < it; jt++)
                if (!strcmp(sk_cfg_scalar(yaml_document_get_node(doc, *jt)), s))
                    return sk_cfg_node_err(cx, e, "sweep.labels lists \"%s\" twice", s);
        }
        if (m != cfg->sweep.n)
            return sk_cfg_node_err(cx, n, "sweep.labels has %d entries but sweep.values has %d", m, cfg->sweep.n);
        memset(cfg->sweep.labels, 0, sizeof cfg->sweep.labels);
        m = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, m++) {
            const char *s = sk_cfg_scalar(yaml_document_get_node(doc, *it));
            snprintf(cfg->sweep.labels[m], sizeof cfg->sweep.labels[0], "%s", s);
        }
        return SK_OK;
    }
    if (cx->is_set)
        return sk_err(SK_ECONFIG,
                      "%s: unknown key \"sweep.%s\" (expected one of: sweep.key, sweep.values, sweep.labels)",
                      cx->origin, sub);
    return sk_cfg_node_err(cx, n, "unknown key \"%s\" in section sweep (expected one of: key, values, labels)", sub);
}

/* The `sweep:` section: key first, then values, then labels, whatever their
 * order in the file. */
sk_status sk_cfg_parse_sweep(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc, yaml_node_t *map)
{
    static const char *const names[] = {"key", "values", "labels"};
    yaml_node_t *val[3] = {NULL, NULL, NULL};
    if (map->type != YAML_MAPPING_NODE)
        return sk_cfg_node_err(cx, map, "sweep must be a section with key, values and (optionally) labels");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        const char *name = sk_cfg_scalar(kn);
        int i = 0;
        while (i < 3 && !(name && !strcmp(name, names[i])))
            i++;
        if (i == 3) {
            char sug[96];
            sk_cfg_suggest(names, 3, name ? name : "", sug, sizeof sug);
            return sk_cfg_node_err(cx, kn,
                                   "unknown key \"%s\" in section sweep (expected one of: key, values, labels)%s",
                                   name ? name : "?", sug);
        }
        if (val[i]) return sk_cfg_node_err(cx, kn, "duplicate key sweep.%s", names[i]);
        val[i] = yaml_document_get_node(doc, p->value);
    }
    if (!val[0]) return sk_cfg_node_err(cx, map, "sweep needs key: the config key to vary, e.g. key: model.arch");
    if (!val[1]) return sk_cfg_node_err(cx, map, "sweep needs values: the list of values of sweep.key to run");
    for (int i = 0; i < 3; i++) {
        if (!val[i]) continue;
        sk_status st = sk_cfg_sweep_set(cfg, cx, doc, names[i], val[i]);
        if (st != SK_OK) return st;
    }
    return SK_OK;
}

sk_status sk_cfg_sweep_item(const sk_config *cfg, int i, sk_config *out, const char *origin, const sk_cfg_where *where)
{
    char item[SK_CFG_SWEEP_TEXT + 160], at[SK_CFG_PATH + 400], def[SK_CFG_PATH + 32], arg[SK_CFG_SWEEP_TEXT + 80];
    unsigned char seen[SK_CFG_MAX_KEYS];
    sk_cfg_where *w = NULL;
    sk_status st;
    if (i < 0 || i >= cfg->sweep.n) return sk_err(SK_EINVAL, "sweep item %d out of range", i);
    snprintf(item, sizeof item, "sweep item %s (%s = %s)", cfg->sweep.labels[i], cfg->sweep.key, cfg->sweep.values[i]);
    if (where) {
        /* The item's positions: the config's, the swept key's at its value
         * in sweep.values, which counts as given last. */
        const sk_cfg_key *k = sk_cfg_find(cfg->sweep.key);
        if (!(w = sk_alloc(sizeof *w))) return SK_ENOMEM;
        *w = *where;
        if (k && where->sweep_value[i].seq) {
            w->key[k - sk_cfg_schema] = where->sweep_value[i];
            w->key[k - sk_cfg_schema].seq = ++w->seq;
        }
    }
    sk_cfg_pos_text(w, w ? &w->sweep_value[i] : NULL, origin, at, sizeof at);
    *out = *cfg;
    memset(&out->sweep, 0, sizeof out->sweep);
    if (snprintf(out->output, sizeof out->output, "%s/%s", cfg->output, cfg->sweep.labels[i]) >=
        (int)sizeof out->output) {
        st = sk_err(SK_ECONFIG, "%s: %s: output path too long", at, item);
        goto done;
    }
    /* Paths derived from the output or the data set follow the item. */
    for (int m = 0; m < 2; m++) {
        snprintf(def, sizeof def, "%s/model_%c.h5", cfg->output, 'a' + m);
        if (!strcmp(cfg->models[m].weights, def)) out->models[m].weights[0] = '\0';
    }
    if (!strcmp(cfg->dataset.path, sk_cfg_default_data_dir(cfg->dataset.name))) out->dataset.path[0] = '\0';
    snprintf(arg, sizeof arg, "%s=%s", cfg->sweep.key, cfg->sweep.values[i]);
    st = sk_cfg_apply_set(out, arg, seen, NULL);
    if (st != SK_OK) {
        st = sk_err_prefix(st, "%s: %s: ", at, item);
        goto done;
    }
    st = sk_cfg_finalize(out, origin, item, w);
done:
    sk_free(w);
    return st;
}

sk_status sk_config_sweep_item(const sk_config *cfg, int i, sk_config *out)
{
    return sk_cfg_sweep_item(cfg, i, out, "config", NULL);
}
