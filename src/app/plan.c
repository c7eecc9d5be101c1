/* plan.c - the work units of a config (plan.h). */
#include "app/plan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/state.h"
#include "core/mem.h"
#include "io/atomic.h"

sk_status sk_plan_new(const sk_config *top, sk_plan **out)
{
    sk_plan *p = sk_alloc(sizeof *p);
    *out = NULL;
    if (!p) return SK_ENOMEM;
    p->top = *top;
    p->n_items = top->sweep.n > 0 ? top->sweep.n : 1;
    p->n_reps = sk_config_n_repetitions(top);
    p->n_units = p->n_items * p->n_reps;
    *out = p;
    return SK_OK;
}

void sk_plan_free(sk_plan *p)
{
    sk_free(p);
}

int sk_plan_multi(const sk_plan *p)
{
    return p->top.sweep.n > 0 || p->n_reps > 1;
}

sk_status sk_plan_item(const sk_plan *p, int i, sk_config *out)
{
    if (i < 0 || i >= p->n_items) return sk_err(SK_EINVAL, "item %d of %d", i, p->n_items);
    if (p->top.sweep.n == 0) {
        *out = p->top;
        return SK_OK;
    }
    return sk_config_sweep_item(&p->top, i, out);
}

sk_status sk_plan_unit(const sk_plan *p, int k, sk_config *out)
{
    if (k < 0 || k >= p->n_units) return sk_err(SK_EINVAL, "unit %d of %d", k, p->n_units);
    int i = k / p->n_reps, r = k % p->n_reps;
    if (p->n_reps == 1) return sk_plan_item(p, i, out);
    sk_config *item = sk_alloc(sizeof *item);
    if (!item) return SK_ENOMEM;
    sk_status st = sk_plan_item(p, i, item);
    if (st == SK_OK) st = sk_config_repetition(item, r, out);
    if (st != SK_OK && p->top.sweep.n > 0) st = sk_err_prefix(st, "sweep item %s: ", p->top.sweep.labels[i]);
    sk_free(item);
    return st;
}

void sk_plan_unit_id(const sk_plan *p, int k, char *buf, size_t n)
{
    int i = k / p->n_reps, r = k % p->n_reps;
    if (p->top.sweep.n > 0 && p->n_reps > 1)
        snprintf(buf, n, "%s/rep%d", p->top.sweep.labels[i], r);
    else if (p->top.sweep.n > 0)
        snprintf(buf, n, "%s", p->top.sweep.labels[i]);
    else if (p->n_reps > 1)
        snprintf(buf, n, "rep%d", r);
    else
        snprintf(buf, n, ".");
}

void sk_plan_item_dir(const sk_plan *p, int i, char *buf, size_t n)
{
    if (p->top.sweep.n > 0)
        snprintf(buf, n, "%s/%s", p->top.output, p->top.sweep.labels[i]);
    else
        snprintf(buf, n, "%s", p->top.output);
}

const char *sk_plan_item_label(const sk_plan *p, int i)
{
    return p->top.sweep.n > 0 ? p->top.sweep.labels[i] : "";
}

const char *sk_plan_item_value(const sk_plan *p, int i)
{
    return p->top.sweep.n > 0 ? p->top.sweep.values[i] : "";
}

int sk_plan_unit_complete(const sk_config *unit, int multi)
{
    static const char *const need[] = {"metrics.json", "values.csv", "sweep_item.csv", "sweep_item.txt"};
    char path[SK_PATH_MAX + 32];
    for (int i = 0; i < (multi ? 4 : 2); i++) {
        snprintf(path, sizeof path, "%s/%s", unit->output, need[i]);
        if (!sk_file_exists(path)) return 0;
    }
    snprintf(path, sizeof path, "%s/config.yaml", unit->output);
    FILE *f = fopen(path, "rb");
    char *want = sk_config_to_yaml(unit), *have = NULL;
    size_t cap = 0;
    int same = 0;
    if (f && want) {
        ssize_t n = getdelim(&have, &cap, '\0', f);           /* the whole file */
        const char *body = n > 0 ? strchr(have, '\n') : NULL; /* after the "# resolved config" line */
        same = body && !strcmp(body + 1, want);
    }
    if (f) fclose(f);
    /* Not the same text: the unit may have been written by a sinkrb that
     * lacked a key added since (its default then applies). Read the file as
     * a config and compare what it resolves to now. */
    sk_config *old = same || !want ? NULL : sk_alloc(sizeof *old);
    if (old) {
        char *now = NULL;
        if (sk_config_load(old, path, NULL, 0) == SK_OK && (now = sk_config_to_yaml(old)) != NULL)
            same = !strcmp(now, want);
        sk_err_clear();
        free(now);
        sk_free(old);
    }
    free(have);
    free(want);
    return same;
}

/* FNV-1a of a path, for the table of distinct endpoints. */
static uint64_t path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The index of endpoint x in out (added when new); the open-addressing
 * table slot[] (size a power of two, entries index + 1) finds it in O(1). */
static int endpoint_index(sk_plan_eps *out, int *slot, size_t mask, const sk_plan_ep *x, const char *path)
{
    size_t i = (size_t)path_hash(path) & mask;
    for (; slot[i]; i = (i + 1) & mask)
        if (!strcmp(out->ep[slot[i] - 1].path, path)) return slot[i] - 1;
    out->ep[out->n] = *x;
    if (!(out->ep[out->n].path = strdup(path))) return -1;
    slot[i] = ++out->n;
    return out->n - 1;
}

sk_status sk_plan_endpoints(const sk_plan *p, sk_plan_eps *out)
{
    size_t size = 16;
    while (size < (size_t)p->n_units * 4)
        size *= 2;
    sk_config *u = sk_alloc(sizeof *u);
    int *slot = sk_alloc_n(size, sizeof *slot);
    memset(out, 0, sizeof *out);
    out->needs = sk_alloc_n((size_t)p->n_units, sizeof *out->needs);
    out->ep = sk_alloc_n((size_t)(2 * p->n_units), sizeof *out->ep);
    sk_status st = u && slot && out->needs && out->ep ? SK_OK : SK_ENOMEM;
    for (int k = 0; k < p->n_units && st == SK_OK; k++) {
        if ((st = sk_plan_unit(p, k, u)) != SK_OK) break;
        for (int e = 0; e < 2 && st == SK_OK; e++) {
            sk_plan_ep x = {.unit = k, .e = e, .seed = u->models[e].seed};
            char path[SK_CFG_PATH];
            out->needs[k][e] = -1;
            if (!sk_endpoint_cached(u, e, x.fp, sizeof x.fp, path, sizeof path)) continue;
            if ((out->needs[k][e] = endpoint_index(out, slot, size - 1, &x, path)) < 0) st = SK_ENOMEM;
        }
    }
    sk_free(u);
    sk_free(slot);
    if (st != SK_OK) sk_plan_endpoints_free(out);
    return st;
}

void sk_plan_endpoints_free(sk_plan_eps *eps)
{
    for (int j = 0; eps->ep && j < eps->n; j++)
        free(eps->ep[j].path);
    sk_free(eps->ep);
    sk_free(eps->needs);
    memset(eps, 0, sizeof *eps);
}
