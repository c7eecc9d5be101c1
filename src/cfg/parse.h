/* parse.h - the parser's pieces shared by parse.c and sweep.c (private to
 * src/cfg). */
#ifndef SK_CFG_PARSE_H
#define SK_CFG_PARSE_H

#include <yaml.h>

#include "cfg/schema.h"

/* Where a key's value was given: a line and column of the config file, or
 * a --set argument. seq orders them (0: not given, the key has its default;
 * larger: given later), so that a cross-key error names the key given last. */
typedef struct {
    const char *set;  /* the --set argument (borrowed), NULL: the file */
    size_t line, col; /* 1-based, of the value in the file */
    int seq;
} sk_cfg_pos;

/* The positions of one config's keys (by schema index) and sweep values. */
typedef struct {
    const char *file;
    sk_cfg_pos key[SK_CFG_MAX_KEYS];
    sk_cfg_pos sweep_value[SK_CFG_SWEEP];
    int seq;
} sk_cfg_where;

/* Where a value comes from, for error messages. */
typedef struct {
    const char *origin;  /* file name, or "--set key=value" */
    int is_set;          /* origin is a --set argument (no line:col) */
    sk_cfg_where *where; /* positions are recorded here (NULL: not recorded) */
    const char *set_arg; /* --set: the argument as given (borrowed) */
} sk_cfg_ctx;

/* An SK_ECONFIG error "ORIGIN:LINE:COL: message" (no line:col for --set). */
SK_MUST_CHECK sk_status sk_cfg_node_err(const sk_cfg_ctx *cx, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The text of a scalar node, NULL for collections. */
const char *sk_cfg_scalar(const yaml_node_t *n);
/* Parse YAML text into a document; syntax errors name origin:line:col. */
SK_MUST_CHECK sk_status sk_cfg_load_doc(const sk_cfg_ctx *cx, const unsigned char *text, size_t len,
                                        yaml_document_t *doc);
/* Set key k of cfg from a node (type- and range-checked). */
SK_MUST_CHECK sk_status sk_cfg_set_key(sk_config *cfg, const sk_cfg_ctx *cx, const sk_cfg_key *k, yaml_document_t *doc,
                                       yaml_node_t *n);
/* One `--set KEY=VALUE`; marks the key in seen[] (SK_CFG_MAX_KEYS entries)
 * and records its position in `where` (may be NULL; arg must then outlive
 * it). */
SK_MUST_CHECK sk_status sk_cfg_apply_set(sk_config *cfg, const char *arg, unsigned char *seen, sk_cfg_where *where);
/* Record in *p that a value was given at node n (of cx's file or --set). */
void sk_cfg_record(const sk_cfg_ctx *cx, sk_cfg_pos *p, const yaml_node_t *n);
/* "FILE:LINE:COL" or "--set KEY=VALUE" (control characters escaped, a long
 * argument shortened) for p, or `fallback` when p is NULL or not given. */
/* The current message with control characters escaped (every config error
 * goes through it before it reaches the user); returns st. */
sk_status sk_cfg_clean_msg(sk_status st);
void sk_cfg_pos_text(const sk_cfg_where *w, const sk_cfg_pos *p, const char *fallback, char *buf, size_t n);
/* sk_config_finalize with the positions of the keys (NULL: none) and, for a
 * sweep item, its description ("sweep item L (key = value)") after the
 * position in errors. */
SK_MUST_CHECK sk_status sk_cfg_finalize(sk_config *cfg, const char *origin, const char *item,
                                        const sk_cfg_where *where);

/* sweep.c: the `sweep:` section of a file; one of sweep.key / sweep.values /
 * sweep.labels (`sub`) from a --set; sweep item i of a finalized config with
 * `origin` naming it in errors and the config's positions (may be NULL). */
SK_MUST_CHECK sk_status sk_cfg_parse_sweep(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc,
                                           yaml_node_t *map);
SK_MUST_CHECK sk_status sk_cfg_sweep_set(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc, const char *sub,
                                         yaml_node_t *n);
SK_MUST_CHECK sk_status sk_cfg_sweep_item(const sk_config *cfg, int i, sk_config *out, const char *origin,
                                          const sk_cfg_where *where);

/* repeat.c: the repetitions' rules (repeat against repeat_seeds, seeds in
 * range); SK_ECONFIG with the reason in msg. */
SK_MUST_CHECK sk_status sk_cfg_check_repeat(const sk_config *cfg, char *msg, size_t n);

/* reference.c: the `reference:` section of a file; printing it back. */
SK_MUST_CHECK sk_status sk_cfg_parse_reference(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc,
                                               yaml_node_t *map);
void sk_cfg_emit_reference(const sk_config *cfg, FILE *out);

/* emit.c: s as a YAML double-quoted scalar; v as the shortest text that
 * reads back as v. */
void sk_cfg_quote(const char *s, char *buf, size_t n);
void sk_cfg_fmt_double(double v, char *buf, size_t n);

#endif
