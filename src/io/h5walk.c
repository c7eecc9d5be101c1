/* h5walk.c - walking a file's links: the datasets reachable through hard
 * links, each group once, soft and external links listed and not followed;
 * and the order of the datasets an order attribute gives. */
#include "io/h5util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* ---- walking links ------------------------------------------------------ */

sk_status sk_h5u_obj_key(hid_t obj, sk_h5u_key *key)
{
    memset(key, 0, sizeof *key);
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t oi;
    if (H5Oget_info3(obj, &oi, H5O_INFO_BASIC) < 0) return SK_EFORMAT;
    memcpy(key->b, &oi.fileno, sizeof oi.fileno < 8 ? sizeof oi.fileno : 8);
    memcpy(key->b + 8, &oi.token, sizeof oi.token < 24 ? sizeof oi.token : 24);
#else
    H5O_info_t oi;
    if (H5Oget_info2(obj, &oi, H5O_INFO_BASIC) < 0) return SK_EFORMAT;
    memcpy(key->b, &oi.fileno, sizeof oi.fileno < 8 ? sizeof oi.fileno : 8);
    memcpy(key->b + 8, &oi.addr, sizeof oi.addr);
#endif
    return SK_OK;
}

typedef struct {
    sk_h5u_links *L;
    const char *prefix;
    int depth, recurse;
} h5w_walk;

static sk_status h5_walk_group(hid_t g, const char *prefix, int depth, int recurse, sk_h5u_links *L);

sk_status sk_h5u_links_add(sk_h5u_links *L, char *name)
{
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 32;
        char **nd = realloc(L->ds, (size_t)cap * sizeof *nd);
        if (!nd) return sk_err(SK_ENOMEM, "%s: out of memory", L->path);
        L->ds = nd;
        L->cap = cap;
    }
    L->ds[L->n++] = name;
    return SK_OK;
}

/* A link not followed; L takes name and target (malloc'd) in every case. */
static sk_status links_add_lk(sk_h5u_links *L, char *name, char *target, int kind)
{
    if (L->n_lk == L->cap_lk) {
        int cap = L->cap_lk ? 2 * L->cap_lk : 8;
        sk_h5u_link *nl = realloc(L->lk, (size_t)cap * sizeof *nl);
        if (!nl) {
            free(name);
            free(target);
            return sk_err(SK_ENOMEM, "%s: out of memory", L->path);
        }
        L->lk = nl;
        L->cap_lk = cap;
    }
    L->lk[L->n_lk++] = (sk_h5u_link){name, target, kind};
    return SK_OK;
}

/* A group walked now: a new key (1), or the path it was walked under (0). */
static int seen_group(sk_h5u_links *L, const sk_h5u_key *k, const char *full, const char **first)
{
    for (int i = 0; i < L->n_seen; i++)
        if (memcmp(&L->seen[i], k, sizeof *k) == 0) {
            *first = L->seen_name[i];
            return 0;
        }
    if (L->n_seen == L->cap_seen) {
        int cap = L->cap_seen ? 2 * L->cap_seen : 16;
        sk_h5u_key *nk = realloc(L->seen, (size_t)cap * sizeof *nk);
        if (nk) L->seen = nk;
        char **nn = realloc(L->seen_name, (size_t)cap * sizeof *nn);
        if (nn) L->seen_name = nn;
        if (!nk || !nn) return -1;
        L->cap_seen = cap;
    }
    if (!(L->seen_name[L->n_seen] = strdup(full))) return -1;
    L->seen[L->n_seen++] = *k;
    return 1;
}

/* "/x" for a soft link, "file:/x" for an external one (malloc'd). */
static char *link_target(hid_t g, const char *name, const H5L_info_t *info)
{
    size_t n = info->u.val_size;
    char *val, *out = NULL;
    if (n == 0 || n > 65536 || !(val = malloc(n + 1))) return strdup("?");
    if (H5Lget_val(g, name, val, n, H5P_DEFAULT) >= 0) {
        val[n] = '\0';
        if (info->type == H5L_TYPE_SOFT) {
            out = strdup(val);
        } else {
            const char *file = NULL, *obj = NULL;
            unsigned flags;
            if (H5Lunpack_elink_val(val, n, &flags, &file, &obj) >= 0 && file && obj) {
                size_t k = strlen(file) + strlen(obj) + 2;
                if ((out = malloc(k))) snprintf(out, k, "%s:%s", file, obj);
            }
        }
    }
    free(val);
    H5Eclear2(H5E_DEFAULT);
    return out ? out : strdup("?");
}

static herr_t h5_links_cb(hid_t g, const char *name, const H5L_info_t *info, void *ud)
{
    h5w_walk *w = ud;
    sk_h5u_links *L = w->L;
    hid_t o;
    H5I_type_t t;
    char *full = NULL;
    sk_strbuf sb = SK_STRBUF_INIT;
    sk_strbuf_appendf(&sb, "%s%s%s", w->prefix, w->prefix[0] ? "/" : "", name);
    if (sb.err != SK_OK) {
        L->st = sk_err(SK_ENOMEM, "%s: out of memory", L->path);
        sk_strbuf_free(&sb);
        return -1;
    }
    full = sk_strbuf_detach(&sb);
    if (info->type != H5L_TYPE_HARD) { /* soft/external links are listed, not followed */
        if (info->type != H5L_TYPE_SOFT && info->type != H5L_TYPE_EXTERNAL) {
            free(full);
            return 0;
        }
        L->st = links_add_lk(L, full, link_target(g, name, info), info->type == H5L_TYPE_EXTERNAL);
        return L->st == SK_OK ? 0 : -1;
    }
    o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) {
        L->st = sk_h5u_corrupt(L->path, full);
        free(full);
        return -1;
    }
    t = H5Iget_type(o);
    if (t == H5I_DATASET) {
        if ((L->st = sk_h5u_links_add(L, full)) != SK_OK) goto fail;
        full = NULL;
    } else if (t == H5I_GROUP) {
        if (L->n_groups++ == 0) snprintf(L->first_group, sizeof L->first_group, "%s", full);
        if (w->recurse) {
            sk_h5u_key k;
            const char *first = NULL;
            int fresh;
            if (sk_h5u_obj_key(o, &k) != SK_OK) {
                L->st = sk_h5u_corrupt(L->path, full);
                goto fail;
            }
            fresh = seen_group(L, &k, full, &first);
            if (fresh < 0) {
                L->st = sk_err(SK_ENOMEM, "%s: out of memory", L->path);
                goto fail;
            }
            if (!fresh) { /* a second name of a group (or a cycle): listed once */
                char *target = strdup(first);
                L->st = links_add_lk(L, full, target, 2);
                full = NULL;
                if (L->st != SK_OK) goto fail;
            } else if (w->depth >= H5W_MAX_DEPTH) {
                if (L->n_deep++ == 0) snprintf(L->deep, sizeof L->deep, "%s", full);
            } else if (h5_walk_group(o, full, w->depth + 1, 1, L) != SK_OK) {
                goto fail;
            }
        }
    }
    H5Oclose(o);
    free(full);
    return 0;
fail:
    H5Oclose(o);
    free(full);
    return -1;
}

static sk_status h5_walk_group(hid_t g, const char *prefix, int depth, int recurse, sk_h5u_links *L)
{
    hsize_t idx = 0;
    h5w_walk w = {L, prefix, depth, recurse};
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, h5_links_cb, &w) < 0) {
        if (L->st == SK_OK) L->st = sk_h5u_corrupt(L->path, prefix[0] ? prefix : "root group");
    }
    return L->st;
}

sk_status sk_h5u_walk(hid_t fid, const char *path, int recurse, sk_h5u_links *L)
{
    L->path = path;
    if (recurse) { /* the root itself, so a link back to it is seen as such */
        sk_h5u_key k;
        const char *first;
        if (sk_h5u_obj_key(fid, &k) == SK_OK && seen_group(L, &k, "/", &first) < 0)
            return sk_err(SK_ENOMEM, "%s: out of memory", path);
    }
    return h5_walk_group(fid, "", 0, recurse, L);
}

void sk_h5u_links_free(sk_h5u_links *L)
{
    for (int i = 0; i < L->n; i++)
        free(L->ds[i]);
    free(L->ds);
    for (int i = 0; i < L->n_lk; i++) {
        free(L->lk[i].name);
        free(L->lk[i].target);
    }
    free(L->lk);
    for (int i = 0; i < L->n_seen; i++)
        free(L->seen_name[i]);
    free(L->seen_name);
    free(L->seen);
    memset(L, 0, sizeof *L);
}

const sk_h5u_link *sk_h5u_link_find(const sk_h5u_links *L, const char *name)
{
    for (int i = 0; i < L->n_lk; i++)
        if (L->lk[i].kind != 2 && strcmp(L->lk[i].name, name) == 0) return &L->lk[i];
    return NULL;
}

void sk_h5u_link_what(const sk_h5u_link *lk, char *buf, size_t n)
{
    snprintf(buf, n, "is %s link (to %s); sinkrb reads datasets stored in the file",
             lk->kind == 1 ? "an external" : "a soft", lk->target);
}

/* Split text on '\n' in place into a new array of pointers into it. */
static sk_status split_lines(char *text, char ***out, int *n)
{
    int cnt = 0, k = 0;
    *out = NULL;
    *n = 0;
    if (!text[0]) return SK_OK;
    for (char *p = text; *p; p++)
        cnt += *p == '\n';
    cnt++;
    if (!(*out = sk_alloc_n((size_t)cnt, sizeof **out))) return SK_ENOMEM;
    for (char *p = text;;) {
        char *nl = strchr(p, '\n');
        (*out)[k++] = p;
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    *n = k;
    return SK_OK;
}

sk_status sk_h5u_order(hid_t fid, const char *path, const char *order_attr, const sk_h5u_links *L, const char *skip,
                       int **perm, int *np)
{
    sk_status st;
    char *text = NULL, **lines = NULL;
    char *used = NULL;
    int nl = 0, k = 0, n = L->n;
    *perm = NULL;
    *np = 0;
    if ((st = sk_h5u_attr_read_text(fid, path, order_attr, &text)) != SK_OK) return st;
    if (!(*perm = sk_alloc_n((size_t)(n ? n : 1), sizeof **perm)) || !(used = sk_alloc((size_t)(n ? n : 1)))) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    if (text && (st = split_lines(text, &lines, &nl)) != SK_OK) goto cleanup;
    for (int j = 0; j < nl; j++) {
        int i = 0;
        while (i < n && strcmp(L->ds[i], lines[j]) != 0)
            i++;
        if (i == n) {
            const sk_h5u_link *lk = sk_h5u_link_find(L, lines[j]);
            char what[1024];
            if (lk) {
                sk_h5u_link_what(lk, what, sizeof what);
                st = sk_err(SK_EFORMAT, "%s: attribute %s lists %s, but %s %s", path, order_attr, lines[j], lines[j],
                            what);
            } else {
                st = sk_err(SK_EFORMAT, "%s: attribute %s lists '%s', but the file has no such dataset", path,
                            order_attr, lines[j]);
            }
            goto cleanup;
        }
        if (used[i]) {
            st = sk_err(SK_EFORMAT, "%s: attribute %s lists '%s' twice", path, order_attr, lines[j]);
            goto cleanup;
        }
        used[i] = 1;
        if (!skip || !skip[i]) (*perm)[k++] = i;
    }
    for (int i = 0; i < n; i++)
        if (!used[i] && (!skip || !skip[i])) (*perm)[k++] = i;
    *np = k;
cleanup:
    if (st != SK_OK) {
        sk_free(*perm);
        *perm = NULL;
    }
    sk_free(lines);
    sk_free(used);
    sk_free(text);
    return st;
}
