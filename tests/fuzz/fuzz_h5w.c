/* fuzz_h5w.c - weights and permutation files: read, load into a small MLP's
 * layout, read as permutations, and `info`. */
#include <stdio.h>
#include <stdlib.h>

#include "core/tensor.h"
#include "fuzz.h"
#include "io/h5w.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fuzz_write("w.h5", data, size, path, sizeof path);
    sk_tset *t = NULL;
    char *arch = NULL;
    sk_err_clear();
    if (sk_h5w_read(path, &t, &arch) == SK_OK) {
        sk_tset_free(t);
        free(arch);
    }
    /* the layout of mlp 1-16-16-1 (the smoke config's endpoints) */
    sk_tset *m = sk_tset_new();
    int64_t s1[2] = {16, 1}, s2[1] = {16}, s3[2] = {16, 16}, s4[2] = {1, 16}, s5[1] = {1};
    sk_tset_add(m, "layers.0.weight", 2, s1);
    sk_tset_add(m, "layers.0.bias", 1, s2);
    sk_tset_add(m, "layers.1.weight", 2, s3);
    sk_tset_add(m, "layers.1.bias", 1, s2);
    sk_tset_add(m, "layers.2.weight", 2, s4);
    sk_tset_add(m, "layers.2.bias", 1, s5);
    if (sk_tset_alloc(m) == SK_OK) {
        sk_err_clear();
        if (sk_h5w_load_into(path, m, NULL, 0) != SK_OK) {
        }
    }
    sk_tset_free(m);
    int n = 0;
    char **names = NULL;
    int64_t **perms = NULL, *sizes = NULL;
    sk_err_clear();
    if (sk_h5w_read_perms(path, &n, &names, &perms, &sizes) == SK_OK) sk_h5w_perms_free(n, names, perms, sizes);
    FILE *out = fopen("/dev/null", "w");
    if (out) {
        sk_err_clear();
        if (sk_h5w_info(path, out) != SK_OK) {
        }
        fclose(out);
    }
    return 0;
}
