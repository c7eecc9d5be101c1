/* fuzz_config.c - the YAML config parser and --set: the input is a config
 * file, optionally followed by a line "#--set" and one KEY=VALUE per line. */
#include <stdlib.h>
#include <string.h>

#include "cfg/cfg.h"
#include "core/mem.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *sets[16];
    int n_sets = 0;
    char *mark = strstr(text, "\n#--set\n");
    size_t cfg_len = mark ? (size_t)(mark - text) + 1 : size;
    if (mark) {
        for (char *save = NULL, *line = strtok_r(mark + 8, "\n", &save); line && n_sets < 16;
             line = strtok_r(NULL, "\n", &save))
            sets[n_sets++] = line;
    }
    fuzz_write("f.yaml", data, cfg_len, path, sizeof path);
    sk_config *cfg = sk_alloc(sizeof *cfg);
    if (cfg) {
        sk_err_clear();
        if (sk_config_load(cfg, path, sets, n_sets) == SK_OK) {
            char *yaml = sk_config_to_yaml(cfg); /* the printer must accept what the parser took */
            free(yaml);
            for (int i = 0; i < cfg->sweep.n && i < 4; i++) {
                sk_config *item = sk_alloc(sizeof *item);
                if (item && sk_config_sweep_item(cfg, i, item) == SK_OK) {
                }
                sk_free(item);
            }
        }
    }
    sk_free(cfg);
    free(text);
    return 0;
}
