/* verify.c - `check --verify-spec`: prove the configured model's permutation
 * spec by functional equivalence on real test inputs. */
#include <stdio.h>
#include <string.h>

#include "app/options.h"
#include "app/state.h"
#include "core/mem.h"
#include "core/rng.h"

sk_status sk_run_verify_spec(const sk_config *cfg, FILE *out)
{
    sk_run r;
    sk_app_opts o;
    sk_status st;
    sk_rng rng;
    float *x = NULL;
    int32_t *y = NULL;
    float *yr = NULL;
    memset(&r, 0, sizeof r);
    memset(&o, 0, sizeof o);
    o.config_path = "(config)";
    r.opts = &o;
    r.cfg = *cfg;
    st = sk_run_validate_inputs(&r);
    sk_pipe_state *ps = r.state;
    if (st != SK_OK) goto cleanup;
    int N = sk_model_max_batch(ps->m) < 64 ? sk_model_max_batch(ps->m) : 64;
    if (N > ps->ds.test.n) N = (int)ps->ds.test.n;
    int64_t dim = (int64_t)ps->ms.in_c * ps->ms.in_h * ps->ms.in_w;
    x = sk_alloc_n((size_t)(N * dim), sizeof(float));
    y = sk_alloc_n((size_t)N, sizeof(int32_t));
    yr = sk_alloc_n((size_t)N * (size_t)ps->ms.n_out, sizeof(float));
    if (!x || !y || !yr) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    int32_t idx[64];
    for (int i = 0; i < N; i++)
        idx[i] = i;
    sk_dataset_batch(&ps->ds, &ps->ds.test, idx, N, 0, NULL, x, y, yr);
    sk_rng_seed(&rng, (uint64_t)cfg->seed);
    /* The endpoint A weights when they exist, else a seeded initialisation. */
    if (ps->ep[0].action == SK_EP_LOAD)
        st = sk_tset_copy(sk_model_params(ps->m), ps->ep[0].theta);
    else
        sk_model_init(ps->m, &rng);
    if (st != SK_OK) goto cleanup;
    st = sk_perm_spec_build(&ps->ms, sk_model_params(ps->m), ps->m, &ps->spec);
    if (st != SK_OK) goto cleanup;
    int64_t units = 0;
    for (int g = 0; g < ps->spec->n_groups; g++)
        units += ps->spec->groups[g].size;
    fprintf(out, "permutation spec of %s: %d groups, %lld units\n", ps->model_desc, ps->spec->n_groups,
            (long long)units);
    for (int g = 0; g < ps->spec->n_groups; g++) {
        const sk_perm_group *grp = &ps->spec->groups[g];
        fprintf(out, "  %-24s %6lld units, %2d tensors:", grp->name, (long long)grp->size, grp->n_refs);
        for (int k = 0; k < grp->n_refs; k++) {
            const sk_perm_ref *ref = &grp->refs[k];
            fprintf(out, " %s[%d]", sk_model_params(ps->m)->t[ref->param].name, ref->axis);
            if (ref->block > 1) fprintf(out, "x%lld", (long long)ref->block);
        }
        fputc('\n', out);
    }
    double worst = 0;
    for (int trial = 0; trial < 3 && st == SK_OK; trial++) {
        double rel;
        st = sk_perm_spec_verify(ps->m, ps->spec, x, N, &rng, &rel);
        if (!(rel <= worst)) worst = rel;
    }
    if (st != SK_OK) goto cleanup;
    if (worst <= 1e-4) {
        fprintf(out,
                "spec verified: outputs unchanged under 3 random permutations of every group, "
                "every parameter and buffer randomised (max |diff| / max |logit| = %.2e <= 1e-4, "
                "%d %s test inputs)\n",
                worst, N, sk_cfg_choice("dataset.name", cfg->dataset.name));
    } else {
        st = sk_err(SK_ENUMERIC, "permutation spec of %s FAILED: permuted outputs differ (max rel %.3e > 1e-4)",
                    ps->model_desc, worst);
    }
cleanup:
    sk_free(x);
    sk_free(y);
    sk_free(yr);
    sk_run_free_state(&r);
    return st;
}
