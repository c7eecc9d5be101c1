/* cl_ckpt.c - the checkpoint of mode continual as the run sees it: where it
 * lives (<output>/continual.ckpt), the fingerprint of the settings it
 * belongs to, and what --restart does with it (the file and the resuming
 * are src/continual's: continual.h, sk_cl_ckpt_opts). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/state.h"
#include "core/strbuf.h"
#include "io/atomic.h"
#include "io/kvtext.h"

/* Every key of the resolved config but those a continual run's results do
 * not depend on: the name and output folder, the thread count (as for
 * endpoint recipes), and models.* (the endpoints, which the mode does not
 * have and --restart rewrites); plus the sinkrb version. Its FNV-1a 64-bit
 * hash is the fingerprint. */
static sk_status cl_fingerprint(const sk_config *c, char *hex, size_t n)
{
    static const char *const skip[] = {"name", "output", "threads"};
    char val[SK_CFG_PATH + 64];
    sk_strbuf text = SK_STRBUF_INIT;
    sk_status st = SK_OK;
    sk_strbuf_appendf(&text, "recipe: sinkrb-continual 1\nsinkrb: %s\n", PACKAGE_VERSION);
    for (int i = 0; i < sk_config_n_keys() && st == SK_OK; i++) {
        const char *key;
        int use = 1;
        sk_config_key_info(i, &key, NULL, NULL, NULL);
        for (size_t k = 0; k < sizeof skip / sizeof *skip; k++)
            use &= strcmp(key, skip[k]) != 0;
        if (use && strncmp(key, "models.", 7) && (st = sk_config_value_text(c, key, val, sizeof val)) == SK_OK)
            sk_strbuf_appendf(&text, "%s: %s\n", key, val);
    }
    if (st == SK_OK) st = text.err;
    sk_kv_fingerprint(sk_strbuf_str(&text), hex, n);
    sk_strbuf_free(&text);
    return st;
}

sk_status sk_cl_ckpt_begin(sk_run *r, sk_cl_opts *o, char *path, size_t path_n, char *fp, size_t fp_n)
{
    sk_status st = cl_fingerprint(&r->cfg, fp, fp_n);
    if (st != SK_OK) return st;
    snprintf(path, path_n, "%s/continual.ckpt", r->cfg.output);
    o->ckpt.path = path;
    o->ckpt.fingerprint = fp;
    if (r->opts->restart) {
        if (unlink(path) == 0)
            sk_log_err(r->log, "continual: --restart: removed the checkpoint %s", path);
        else if (errno != ENOENT)
            return sk_err(SK_EIO, "%s: --restart cannot remove the checkpoint: %s", path, strerror(errno));
    }
    return SK_OK;
}
