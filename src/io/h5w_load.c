/* h5w_load.c - loading a weights file into a model (sk_h5w_load_into_ex;
 * format in h5w.h): rename pairs, pairing the file's tensors with the
 * model's by name and shape, the mismatch report, and the transfer. */
#include "io/h5w.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/strbuf.h"
#include "io/h5util.h"
#include "io/h5w_impl.h"

#define H5W_LIST_CAP 8 /* lines per category in mismatch reports */

/* Map a file name through the rename pairs (exact first, then the longest
 * matching '*' prefix). used[k] is set for the pair applied. */
static sk_status rename_one(const char *const *rn, int n, const char *name, char *out, size_t cap, char *used)
{
    int best = -1;
    size_t best_len = 0;
    for (int k = 0; k < n; k++) {
        if (!ends_with(rn[2 * k], "*") && strcmp(rn[2 * k], name) == 0) {
            best = k;
            break;
        }
    }
    if (best < 0) {
        for (int k = 0; k < n; k++) {
            size_t len = strlen(rn[2 * k]);
            if (len > 0 && rn[2 * k][len - 1] == '*' && strncmp(rn[2 * k], name, len - 1) == 0 &&
                (best < 0 || len - 1 > best_len)) {
                best = k;
                best_len = len - 1;
            }
        }
    }
    if (best < 0) {
        snprintf(out, cap, "%s", name);
        return SK_OK;
    }
    used[best] = 1;
    const char *to = rn[2 * best + 1];
    int k;
    if (ends_with(rn[2 * best], "*"))
        k = snprintf(out, cap, "%.*s%s", (int)(strlen(to) - 1), to, name + best_len);
    else
        k = snprintf(out, cap, "%s", to);
    if (k < 0 || (size_t)k >= cap)
        return sk_err(SK_EINVAL, "rename of %s gives a name longer than %zu characters", name, cap - 1);
    return SK_OK;
}

/* Append "  <label> line" entries, capped, to a report. */
typedef struct {
    sk_strbuf *sb;
    int shown, total;
    const char *label;
} h5w_cat;

static void cat_line(h5w_cat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cat_line(h5w_cat *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    c->total++;
    if (c->shown >= H5W_LIST_CAP) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sk_strbuf_appendf(c->sb, "\n  %-9s %s", c->label, line);
    c->shown++;
}

static void cat_done(h5w_cat *c)
{
    if (c->total > c->shown) sk_strbuf_appendf(c->sb, "\n  %-9s ... and %d more", c->label, c->total - c->shown);
}

/* One sk_h5w_load_into_ex (in the reading child): the file's tensors (their
 * names and shapes, no data), how they pair with the model's, and the
 * report of what does not match. */
typedef struct {
    const char *path;
    h5w_scan *sc; /* the scan of the file */
    hid_t fid;
    sk_tset *f;                  /* the file's tensors, unallocated: names and shapes */
    int *f_ds;                   /* per f tensor: its index in sc->L.ds */
    char *arch;                  /* the file's arch attribute (read for a report), or NULL */
    char (*mapped)[SK_NAME_MAX]; /* f's names after renaming */
    char *used;                  /* per rename pair: applied to some name */
    char *scratch;               /* as used, for links (which do not count as uses) */
    char *matched;               /* per file tensor: a model tensor has its name */
    int *where;                  /* per model tensor: the file tensor with its name, -1 when none */
    int n_match;                 /* model tensors found with the right shape */
    sk_strbuf sb;                /* the mismatch report */
    const char *const *rename;
    int n_rename;
} h5w_load;

/* Pairs of non-NULL names, '*' ending both sides or neither. */
static sk_status check_renames(const char *path, const char *const *rename, int n_rename)
{
    if (n_rename < 0 || (n_rename > 0 && !rename)) return sk_err(SK_EINVAL, "%s: bad rename list", path);
    for (int k = 0; k < n_rename; k++) {
        if (!rename[2 * k] || !rename[2 * k + 1])
            return sk_err(SK_EINVAL, "%s: rename pair %d has a NULL name", path, k);
        if (ends_with(rename[2 * k], "*") != ends_with(rename[2 * k + 1], "*"))
            return sk_err(SK_EINVAL,
                          "%s: rename %s -> %s: both sides or neither must end in "
                          "'*'",
                          path, rename[2 * k], rename[2 * k + 1]);
    }
    return SK_OK;
}

/* ld->mapped and ld->used; two file tensors must not end up with one name. */
static sk_status rename_all(h5w_load *ld, const char *const *rename, int n_rename)
{
    const sk_tset *f = ld->f;
    sk_status st;
    for (int i = 0; i < f->n; i++) {
        if ((st = rename_one(rename, n_rename, f->t[i].name, ld->mapped[i], SK_NAME_MAX, ld->used)) != SK_OK)
            return sk_err_prefix(st, "%s: ", ld->path);
        for (int j = 0; j < i; j++)
            if (strcmp(ld->mapped[i], ld->mapped[j]) == 0)
                return sk_err(SK_EFORMAT, "%s: after renaming, both %s and %s are named %s", ld->path, f->t[j].name,
                              f->t[i].name, ld->mapped[i]);
    }
    return SK_OK;
}

/* Is the model's tensor `name` a soft or external link in the file (after
 * renaming)? Then what it is, in what. */
static int link_for(h5w_load *ld, const char *name, char *what, size_t n)
{
    const sk_h5u_links *L = &ld->sc->L;
    for (int k = 0; k < L->n_lk; k++) {
        char mapped[SK_NAME_MAX];
        if (L->lk[k].kind == 2) continue;
        if (rename_one(ld->rename, ld->n_rename, L->lk[k].name, mapped, sizeof mapped, ld->scratch) != SK_OK) {
            sk_err_clear(); /* a name too long to rename: not this one */
            continue;
        }
        if (strcmp(mapped, name) == 0) {
            sk_h5u_link_what(&L->lk[k], what, n);
            return 1;
        }
    }
    return 0;
}

/* Pair every model tensor with the file's tensor of the same (mapped) name,
 * listing the missing, wrongly shaped and extra ones in ld->sb. Returns how
 * many there are (0: the file fits the model). */
static int match_tensors(h5w_load *ld, const sk_tset *model)
{
    const sk_tset *f = ld->f;
    h5w_cat miss = {&ld->sb, 0, 0, "missing:"}, shp = {&ld->sb, 0, 0, "shape:"}, extra = {&ld->sb, 0, 0, "extra:"};
    for (int m = 0; m < model->n; m++) {
        const sk_tensor *t = &model->t[m];
        char ms[160], fs[160];
        int i = 0, bad;
        while (i < f->n && strcmp(ld->mapped[i], t->name) != 0)
            i++;
        ld->where[m] = i < f->n ? i : -1;
        sk_h5u_shape_str(t->ndim, t->shape, ms, sizeof ms);
        if (i == f->n) {
            char what[1024];
            if (link_for(ld, t->name, what, sizeof what))
                cat_line(&miss, "%s %s: %s", t->name, ms, what);
            else
                cat_line(&miss, "%s %s", t->name, ms);
            continue;
        }
        ld->matched[i] = 1;
        bad = t->ndim != f->t[i].ndim;
        for (int d = 0; !bad && d < t->ndim; d++)
            bad = t->shape[d] != f->t[i].shape[d];
        if (bad) {
            sk_h5u_shape_str(f->t[i].ndim, f->t[i].shape, fs, sizeof fs);
            if (strcmp(f->t[i].name, t->name) != 0)
                cat_line(&shp, "%s expected %s, file has %s (as %s)", t->name, ms, fs, f->t[i].name);
            else
                cat_line(&shp, "%s expected %s, file has %s", t->name, ms, fs);
        } else {
            ld->n_match++;
        }
    }
    cat_done(&miss);
    cat_done(&shp);
    for (int i = 0; i < f->n; i++) {
        char fs[160];
        if (ld->matched[i] || is_nbt(ld->mapped[i])) continue;
        sk_h5u_shape_str(f->t[i].ndim, f->t[i].shape, fs, sizeof fs);
        if (strcmp(f->t[i].name, ld->mapped[i]) != 0)
            cat_line(&extra, "%s %s (renamed from %s)", ld->mapped[i], fs, f->t[i].name);
        else
            cat_line(&extra, "%s %s", ld->mapped[i], fs);
    }
    cat_done(&extra);
    return miss.total + shp.total + extra.total;
}

/* The end of a mismatch report: unused renames, counts, and what the file
 * says about itself (datasets kept in groups, the arch it was written for). */
static void explain_mismatch(h5w_load *ld, const sk_tset *model, const char *const *rename, int n_rename)
{
    sk_strbuf *sb = &ld->sb;
    h5w_cat unused = {sb, 0, 0, "rename:"};
    for (int k = 0; k < n_rename; k++)
        if (!ld->used[k])
            cat_line(&unused, "%s -> %s is unused (no such name in the file)", rename[2 * k], rename[2 * k + 1]);
    cat_done(&unused);
    sk_strbuf_appendf(sb, "\n  the model has %d tensors, the file %d; %d match", model->n, ld->f->n, ld->n_match);
    if (ld->sc->L.n_groups > 0 && ld->f->n == 0)
        sk_strbuf_appendf(sb,
                          "\n  the file keeps its datasets in groups (%s/...); sinkrb reads datasets "
                          "at the root, named like the PyTorch state_dict keys",
                          ld->sc->L.first_group);
    /* The arch the file was written for, when it can be read. */
    if (h5w_read_text_attr(ld->fid, ld->path, "arch", &ld->arch) != SK_OK) sk_err_clear();
    if (ld->arch && ld->arch[0]) {
        char *line = ld->arch;
        int k = 0;
        sk_strbuf_appendf(sb, "\n  the file was written for:");
        while (line && *line && k < 8) {
            char *nl = strchr(line, '\n');
            sk_strbuf_appendf(sb, "\n    %.*s", nl ? (int)(nl - line) : (int)strlen(line), line);
            line = nl ? nl + 1 : NULL;
            k++;
        }
        if (line && *line) sk_strbuf_appendf(sb, "\n    ...");
    }
    sk_strbuf_appendf(sb,
                      "\nHINT: check the model section of the config against the file "
                      "(sinkrb info %s), or map the file's names onto the model's with models.a.rename / "
                      "models.b.rename (e.g. [\"module.*=*\"])",
                      ld->path);
}

typedef struct {
    sk_tset *model;
    const char *const *rename;
    int n_rename;
    const char *model_desc;
    float *buf; /* the parent's scratch copy of the values, in model order */
} h5w_load_arg;

/* The child: scan the file, pair its tensors with the model's by name and
 * shape (no data read yet), report a mismatch, else send the model's
 * tensors' values in model order, checked to be finite. */
static sk_status load_child(sk_h5u_chan *ch, void *arg)
{
    h5w_load_arg *a = arg;
    const sk_tset *model = a->model;
    const char *path = sk_h5u_chan_path(ch);
    sk_status st;
    h5w_scan sc;
    h5w_load ld;
    int n_f;
    memset(&sc, 0, sizeof sc);
    memset(&ld, 0, sizeof ld);
    ld.path = path;
    ld.sc = &sc;
    ld.fid = H5I_INVALID_HID;
    ld.rename = a->rename;
    ld.n_rename = a->n_rename;
    if ((st = sk_h5u_open_read(path, &ld.fid)) != SK_OK) return st;
    if ((st = sk_h5u_check_format(ld.fid, path, SK_H5W_FORMAT)) != SK_OK ||
        (st = h5w_scan_file(ld.fid, path, sk_h5u_chan_size(ch), &sc)) != SK_OK)
        goto cleanup;
    n_f = sc.n_order;
    ld.f = sk_tset_new();
    ld.f_ds = sk_alloc_n((size_t)(n_f ? n_f : 1), sizeof *ld.f_ds);
    ld.mapped = sk_alloc_n((size_t)(n_f ? n_f : 1), sizeof *ld.mapped);
    ld.matched = sk_alloc((size_t)(n_f ? n_f : 1));
    ld.used = sk_alloc((size_t)(a->n_rename ? a->n_rename : 1));
    ld.scratch = sk_alloc((size_t)(a->n_rename ? a->n_rename : 1));
    ld.where = sk_alloc_n((size_t)(model->n ? model->n : 1), sizeof *ld.where);
    if (!ld.f || !ld.f_ds || !ld.mapped || !ld.matched || !ld.used || !ld.scratch || !ld.where) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    for (int k = 0; k < n_f; k++) {
        int i = sc.order[k];
        if (sk_tset_add(ld.f, sc.L.ds[i], sc.d[i].ndim, sc.d[i].shape) < 0) {
            st = sk_err_prefix(SK_EFORMAT, "%s: ", path);
            goto cleanup;
        }
        ld.f_ds[k] = i;
    }
    if ((st = rename_all(&ld, a->rename, a->n_rename)) != SK_OK) goto cleanup;
    sk_strbuf_appendf(&ld.sb, "%s: weights do not match the configured model%s%s%s:", path, a->model_desc ? " (" : "",
                      a->model_desc ? a->model_desc : "", a->model_desc ? ")" : "");
    if (match_tensors(&ld, model) != 0) {
        explain_mismatch(&ld, model, a->rename, a->n_rename);
        st = sk_err(SK_EFORMAT, "%s",
                    ld.sb.err != SK_OK ? "weights do not match the model (out of memory describing how)"
                                       : sk_strbuf_str(&ld.sb));
        goto cleanup;
    }
    for (int m = 0; m < model->n; m++) {
        int i = ld.f_ds[ld.where[m]];
        const char *fname = sc.L.ds[i];
        if (model->t[m].numel == 0) continue;
        st = h5w_send_tensor(ch, ld.fid, path, fname, &sc.d[i],
                             strcmp(fname, model->t[m].name) ? model->t[m].name : NULL, 1);
        if (st != SK_OK) goto cleanup;
    }
cleanup:
    CLOSE_ID(H5Fclose, ld.fid);
    h5w_scan_free(&sc);
    sk_strbuf_free(&ld.sb);
    sk_tset_free(ld.f);
    sk_free(ld.f_ds);
    sk_free(ld.arch);
    sk_free(ld.mapped);
    sk_free(ld.matched);
    sk_free(ld.used);
    sk_free(ld.scratch);
    sk_free(ld.where);
    return st;
}

/* The parent: the values into a scratch copy, copied into the model by
 * sk_h5w_load_into_ex once all of them arrived and the child is gone (its
 * pages are no longer shared, so writing the model costs no copy-on-write). */
static sk_status load_parent(sk_h5u_chan *ch, void *arg)
{
    h5w_load_arg *a = arg;
    if (a->model->numel == 0) return SK_OK;
    /* malloc: no need to zero what is overwritten next */
    if (!(a->buf = malloc((size_t)a->model->numel * sizeof *a->buf)))
        return sk_err(SK_ENOMEM, "%s: out of memory", sk_h5u_chan_path(ch));
    return sk_h5u_get(ch, a->buf, (size_t)a->model->numel * sizeof *a->buf);
}

sk_status sk_h5w_load_into_ex(const char *path, sk_tset *model, const char *const *rename, int n_rename,
                              const char *model_desc)
{
    sk_status st;
    h5w_load_arg a = {model, rename, n_rename, model_desc, NULL};
    int64_t off = 0;
    sk_h5u_quiet();
    if (!path || !model) return sk_err(SK_EINVAL, "sk_h5w_load_into: NULL argument");
    if (model->n > 0 && !model->block) return sk_err(SK_EINVAL, "%s: the model's tensor set is not allocated", path);
    if ((st = check_renames(path, rename, n_rename)) != SK_OK) return st;
    st = sk_h5u_isolated(path, load_child, load_parent, &a);
    for (int m = 0; st == SK_OK && m < model->n; m++) {
        if (model->t[m].numel) memcpy(model->t[m].data, a.buf + off, (size_t)model->t[m].numel * sizeof *a.buf);
        off += model->t[m].numel;
    }
    free(a.buf);
    return st;
}

sk_status sk_h5w_load_into(const char *path, sk_tset *model, const char *const *rename, int n_rename)
{
    return sk_h5w_load_into_ex(path, model, rename, n_rename, NULL);
}
