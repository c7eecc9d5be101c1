/* repeat.c - repetitions of an experiment (`repeat`, `repeat_seeds`): the
 * seeds of repetition r and its config, run into <output>/rep<r>. */
#include "cfg/parse.h"

#include <stdio.h>
#include <string.h>

int sk_config_n_repetitions(const sk_config *cfg)
{
    return cfg->n_repeat_seeds > 0 ? cfg->n_repeat_seeds : cfg->repeat;
}

/* The stride of the rule: twice the gap between the two endpoint seeds, so
 * that a + k r = b + k s has no solution with r != s (|k (r - s)| >= 2 |b - a|
 * > |b - a|); 1 when they are equal. */
static unsigned long long stride(const sk_config *cfg)
{
    long long a = cfg->models[0].seed, b = cfg->models[1].seed;
    unsigned long long gap =
        a > b ? (unsigned long long)a - (unsigned long long)b : (unsigned long long)b - (unsigned long long)a;
    return gap ? 2 * gap : 1;
}

void sk_config_repetition_seeds(const sk_config *cfg, int r, long long *seed, long long *a, long long *b)
{
    *seed = cfg->seed + r;
    if (cfg->n_repeat_seeds > 0) {
        *a = cfg->repeat_seeds[r][0];
        *b = cfg->repeat_seeds[r][1];
        return;
    }
    unsigned long long k = stride(cfg);
    *a = (long long)((unsigned long long)cfg->models[0].seed + k * (unsigned long long)r);
    *b = (long long)((unsigned long long)cfg->models[1].seed + k * (unsigned long long)r);
}

sk_status sk_cfg_check_repeat(const sk_config *cfg, char *msg, size_t n)
{
    const double lim = 9.2e18;
    int N = sk_config_n_repetitions(cfg);
    if (cfg->n_repeat_seeds > 0 && cfg->repeat != 1 && cfg->repeat != cfg->n_repeat_seeds) {
        snprintf(msg, n, "repeat is %d but repeat_seeds has %d pairs (repeat_seeds sets the number of repetitions)",
                 cfg->repeat, cfg->n_repeat_seeds);
        return SK_ECONFIG;
    }
    double k = (double)stride(cfg), last = (double)(N - 1);
    if (cfg->n_repeat_seeds == 0 &&
        ((double)cfg->models[0].seed + k * last > lim || (double)cfg->models[1].seed + k * last > lim)) {
        snprintf(msg, n, "repeat %d takes the endpoint seeds past 9.2e18 (stride %.0f): choose smaller seeds", N, k);
        return SK_ECONFIG;
    }
    if ((double)cfg->seed + last > lim) {
        snprintf(msg, n, "repeat %d takes the run seed past 9.2e18", N);
        return SK_ECONFIG;
    }
    return SK_OK;
}

sk_status sk_config_repetition(const sk_config *cfg, int r, sk_config *out)
{
    char def[SK_CFG_PATH + 32], item[64];
    int N = sk_config_n_repetitions(cfg);
    if (cfg->sweep.n > 0 || r < 0 || r >= N)
        return sk_err(SK_EINVAL, "repetition %d of a config with %d (and %d sweep items)", r, N, cfg->sweep.n);
    *out = *cfg;
    sk_config_repetition_seeds(cfg, r, &out->seed, &out->models[0].seed, &out->models[1].seed);
    out->repeat = 1;
    out->n_repeat_seeds = 0;
    memset(out->repeat_seeds, 0, sizeof out->repeat_seeds);
    if (snprintf(out->output, sizeof out->output, "%s/rep%d", cfg->output, r) >= (int)sizeof out->output)
        return sk_err(SK_ECONFIG, "repetition %d: output path too long", r);
    for (int m = 0; m < 2; m++) { /* weights in the output folder follow the repetition */
        snprintf(def, sizeof def, "%s/model_%c.h5", cfg->output, 'a' + m);
        if (!strcmp(cfg->models[m].weights, def)) out->models[m].weights[0] = '\0';
    }
    snprintf(item, sizeof item, "repetition %d", r);
    return sk_cfg_finalize(out, "config", item, NULL);
}
