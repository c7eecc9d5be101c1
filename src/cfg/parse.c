/* parse.c - read a config: bounded YAML loading (size, depth, one document),
 * the walk against the schema with FILE:LINE:COL errors, key positions,
 * `--set` overrides and defaults. Values are set by values.c; the whole
 * config is checked by validate.c. */
#include "cfg/parse.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"

/* Bounds of what a config may be: its size, and how deeply its YAML nests
 * (a config needs 4 levels: sections, models.a, a list of lists in a sweep). */
#define SK_CFG_MAX_BYTES (1 << 20)
#define SK_CFG_MAX_DEPTH 64

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

void sk_cfg_record(const sk_cfg_ctx *cx, sk_cfg_pos *p, const yaml_node_t *n)
{
    if (!cx->where) return;
    p->set = cx->is_set ? cx->set_arg : NULL;
    p->line = n && !cx->is_set ? n->start_mark.line + 1 : 0;
    p->col = n && !cx->is_set ? n->start_mark.column + 1 : 0;
    p->seq = ++cx->where->seq;
}

/* s with control characters as \n, \t, \xNN, cut after `max` characters
 * with "... (N characters)"; appended at buf + j. Returns the new length. */
static size_t escape_text(const char *s, size_t max, char *buf, size_t j, size_t n)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len && j + 8 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == max) {
            j += (size_t)snprintf(buf + j, n - j, "... (%zu characters)", len);
            break;
        }
        if (c == '\n')
            j += (size_t)snprintf(buf + j, n - j, "\\n");
        else if (c == '\t')
            j += (size_t)snprintf(buf + j, n - j, "\\t");
        else if (c < 0x20 || c == 0x7f)
            j += (size_t)snprintf(buf + j, n - j, "\\x%02x", c);
        else
            buf[j++] = (char)c;
    }
    if (j >= n) j = n - 1;
    buf[j] = '\0';
    return j;
}

/* "--set ARG", escaped, an argument longer than 160 characters cut. */
static void set_text(const char *arg, char *buf, size_t n)
{
    escape_text(arg, 160, buf, (size_t)snprintf(buf, n, "--set "), n);
}

/* A config error never holds a raw control character: a value with a
 * newline (a quoted key or value, a --set argument) would break the
 * message's line. */
sk_status sk_cfg_clean_msg(sk_status st)
{
    char buf[4096];
    const char *m = sk_err_msg();
    for (const char *p = m; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            escape_text(m, sizeof buf, buf, 0, sizeof buf);
            sk_err_clear();
            return sk_err(st, "%s", buf);
        }
    return st;
}

void sk_cfg_pos_text(const sk_cfg_where *w, const sk_cfg_pos *p, const char *fallback, char *buf, size_t n)
{
    if (!w || !p || !p->seq)
        snprintf(buf, n, "%s", fallback);
    else if (p->set)
        set_text(p->set, buf, n);
    else
        snprintf(buf, n, "%s:%zu:%zu", w->file, p->line, p->col);
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
            if (cx->where) sk_cfg_record(cx, &cx->where->key[idx], vn);
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

/* A YAML problem at a mark: "ORIGIN:LINE:COL: what" (no position for --set). */
static sk_status mark_err(const sk_cfg_ctx *cx, yaml_mark_t mark, const char *what, const char *detail)
{
    if (cx->is_set) return sk_err(SK_ECONFIG, "%s: %s%s%s", cx->origin, what, detail ? " " : "", detail ? detail : "");
    return sk_err(SK_ECONFIG, "%s:%zu:%zu: %s%s%s", cx->origin, mark.line + 1, mark.column + 1, what, detail ? " " : "",
                  detail ? detail : "");
}

static sk_status syntax_err(const sk_cfg_ctx *cx, const yaml_parser_t *parser)
{
    char what[512];
    if (parser->error == YAML_MEMORY_ERROR) return sk_err(SK_ENOMEM, "%s: out of memory parsing YAML", cx->origin);
    snprintf(what, sizeof what, "YAML syntax error: %s",
             parser->problem ? parser->problem
             : cx->is_set    ? "invalid value"
                             : "invalid document");
    return mark_err(cx, parser->problem_mark, what, cx->is_set ? NULL : parser->context);
}

/* A pass over the parser's events before the document is built: syntax
 * errors, nesting deeper than SK_CFG_MAX_DEPTH (libyaml's scanner costs time
 * quadratic in the nesting depth, so it must stop early) and a second
 * document. */
static sk_status check_events(const sk_cfg_ctx *cx, const unsigned char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    sk_status st = SK_OK;
    int depth = 0, docs = 0, done = 0;
    if (!yaml_parser_initialize(&parser)) return sk_err(SK_ENOMEM, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, text, len);
    while (!done && st == SK_OK) {
        if (!yaml_parser_parse(&parser, &ev)) {
            st = syntax_err(cx, &parser);
            break;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                st = mark_err(cx, ev.start_mark,
                              "a second YAML document (a config is one document: remove the '---' line and what "
                              "follows, or merge it into the first)",
                              NULL);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > SK_CFG_MAX_DEPTH) {
                char what[128];
                snprintf(what, sizeof what, "YAML nesting deeper than %d levels", SK_CFG_MAX_DEPTH);
                st = mark_err(cx, ev.start_mark, what, NULL);
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return st;
}

sk_status sk_cfg_load_doc(const sk_cfg_ctx *cx, const unsigned char *text, size_t len, yaml_document_t *doc)
{
    yaml_parser_t parser;
    sk_status st = check_events(cx, text, len);
    if (st != SK_OK) return st;
    if (!yaml_parser_initialize(&parser)) return sk_err(SK_ENOMEM, "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, text, len);
    if (!yaml_parser_load(&parser, doc)) {
        st = syntax_err(cx, &parser);
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);
    return SK_OK;
}

static sk_status set_default(sk_config *cfg, const sk_cfg_key *k)
{
    yaml_document_t doc;
    sk_cfg_ctx cx = {"(built-in default)", 1, NULL, NULL};
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

sk_status sk_cfg_apply_set(sk_config *cfg, const char *arg, unsigned char *seen, sk_cfg_where *where)
{
    char origin[400];
    const char *eq = strchr(arg, '=');
    set_text(arg, origin, sizeof origin);
    sk_cfg_ctx cx = {origin, 1, where, arg};
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
        if (!strcmp(key, "sweep"))
            return sk_err(SK_ECONFIG,
                          "%s: sweep is a section, not a key: set one of its keys sweep.key, "
                          "sweep.values, sweep.labels",
                          origin);
        if (is_section(key)) {
            keys_under(key, "", list, sizeof list, best, sizeof best);
            return sk_err(SK_ECONFIG, "%s: %s is a section, not a key: set one of its keys %s.KEY (%s)", origin, key,
                          key, list);
        }
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
    int idx = (int)(k - sk_cfg_schema);
    if (k->type == T_STR && val[0] != '"' && val[0] != '\'') {
        /* Strings are taken literally (a path may contain " #"); quote to
         * use YAML escapes. */
        if (strlen(val) >= k->size) return sk_err(SK_ECONFIG, "%s: value too long", origin);
        if (k->check && k->check(val)) return sk_err(SK_ECONFIG, "%s: %s must be %s", origin, k->key, k->check(val));
        snprintf((char *)cfg + k->off, k->size, "%s", val);
        seen[idx] = 1;
        if (where) sk_cfg_record(&cx, &where->key[idx], NULL);
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
    if (st == SK_OK) {
        seen[idx] = 1;
        if (where) sk_cfg_record(&cx, &where->key[idx], NULL);
    }
    return st;
}

/* The whole config file into *text (sk_alloc'd, NUL-terminated). Only a
 * regular file of at most SK_CFG_MAX_BYTES is read: a FIFO would block, a
 * device never end, a directory is no config. */
static sk_status read_config(const char *path, char **text, size_t *len)
{
    struct stat sb;
    char *buf;
    size_t got = 0;
    int flags, fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    *text = NULL;
    *len = 0;
    if (fd < 0) return sk_err(SK_ECONFIG, "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0) {
        sk_status st = sk_err(SK_ECONFIG, "%s: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return sk_err(SK_ECONFIG, "%s: not a regular file (%s); a config is a YAML file", path,
                      S_ISDIR(sb.st_mode)    ? "a directory"
                      : S_ISFIFO(sb.st_mode) ? "a FIFO"
                      : S_ISCHR(sb.st_mode)  ? "a character device"
                      : S_ISBLK(sb.st_mode)  ? "a block device"
                                             : "a special file");
    }
    if (sb.st_size > SK_CFG_MAX_BYTES) {
        close(fd);
        return sk_err(SK_ECONFIG, "%s: %lld bytes is too large for a config (at most 1 MiB)", path,
                      (long long)sb.st_size);
    }
    if ((flags = fcntl(fd, F_GETFL)) != -1) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    buf = sk_alloc((size_t)sb.st_size + 1);
    if (!buf) {
        close(fd);
        return SK_ENOMEM;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            sk_status st = sk_err(SK_ECONFIG, "%s: read error (%s)", path, r < 0 ? strerror(errno) : "file shrank");
            close(fd);
            sk_free(buf);
            return st;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return SK_OK;
}

sk_status sk_config_load(sk_config *cfg, const char *path, const char *const *sets, int n_sets)
{
    unsigned char seen[SK_CFG_MAX_KEYS];
    char *text = NULL;
    size_t len = 0;
    yaml_document_t doc;
    int have_doc = 0;
    sk_status st = SK_OK;
    sk_cfg_where *where = sk_alloc(sizeof *where);
    sk_cfg_ctx cx = {path, 0, where, NULL};
    char stem[SK_CFG_NAME];

    sk_err_clear(); /* a config load is a chain of its own */
    memset(seen, 0, sizeof seen);
    stem_of(path, stem, sizeof stem);
    sk_config_defaults(cfg, stem);
    if (!where) return SK_ENOMEM;
    where->file = path;

    st = read_config(path, &text, &len);
    if (st != SK_OK) goto cleanup;

    st = sk_cfg_load_doc(&cx, (unsigned char *)text, len, &doc);
    if (st != SK_OK) goto cleanup;
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        st = walk_mapping(cfg, &cx, &doc, root, "", seen);
        if (st != SK_OK) goto cleanup;
    }
    for (int i = 0; i < n_sets; i++) {
        st = sk_cfg_apply_set(cfg, sets[i], seen, where);
        if (st != SK_OK) goto cleanup;
    }
    if (!cfg->name[0]) {
        snprintf(cfg->name, sizeof cfg->name, "%s", stem);
        memset(&where->key[sk_cfg_find("name") - sk_cfg_schema], 0, sizeof where->key[0]);
    }
    st = sk_cfg_finalize(cfg, path, NULL, where);
cleanup:
    if (have_doc) yaml_document_delete(&doc);
    sk_free(text);
    sk_free(where);
    return st == SK_OK ? st : sk_cfg_clean_msg(st);
}
