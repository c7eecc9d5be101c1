/* parse.h - the parser's pieces shared by parse.c and sweep.c (private to
 * src/cfg). */
#ifndef SK_CFG_PARSE_H
#define SK_CFG_PARSE_H

#include <yaml.h>

#include "cfg/schema.h"

/* Where a value comes from, for error messages. */
typedef struct {
    const char *origin; /* file name, or "--set key=value" */
    int is_set;         /* origin is a --set argument (no line:col) */
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
/* One `--set KEY=VALUE`; marks the key in seen[] (SK_CFG_MAX_KEYS entries). */
SK_MUST_CHECK sk_status sk_cfg_apply_set(sk_config *cfg, const char *arg, unsigned char *seen);

/* sweep.c: the `sweep:` section of a file; one of sweep.key / sweep.values /
 * sweep.labels (`sub`) from a --set; sweep item i of a finalized config with
 * `origin` naming it in errors. */
SK_MUST_CHECK sk_status sk_cfg_parse_sweep(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc,
                                           yaml_node_t *map);
SK_MUST_CHECK sk_status sk_cfg_sweep_set(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc, const char *sub,
                                         yaml_node_t *n);
SK_MUST_CHECK sk_status sk_cfg_sweep_item(const sk_config *cfg, int i, sk_config *out, const char *origin);

/* reference.c: the `reference:` section of a file; printing it back. */
SK_MUST_CHECK sk_status sk_cfg_parse_reference(sk_config *cfg, const sk_cfg_ctx *cx, yaml_document_t *doc,
                                               yaml_node_t *map);
void sk_cfg_emit_reference(const sk_config *cfg, FILE *out);

/* emit.c: s as a YAML double-quoted scalar; v as the shortest text that
 * reads back as v. */
void sk_cfg_quote(const char *s, char *buf, size_t n);
void sk_cfg_fmt_double(double v, char *buf, size_t n);

#endif
