/* h5vals FILE.h5: every dataset of a weights file with its shape and the
 * bits of each value in hex, one tensor a line, for comparing two files
 * value by value (HDF5 files with the same values differ in their object
 * timestamps, so cmp cannot). Used by cli.sh. */
#include <stdio.h>
#include <string.h>

#include "core/tensor.h"
#include "io/h5w.h"

int main(int argc, char **argv)
{
    sk_tset *s = NULL;
    if (argc != 2) {
        fprintf(stderr, "usage: h5vals FILE.h5\n");
        return 2;
    }
    if (sk_h5w_read(argv[1], &s, NULL) != SK_OK) {
        fprintf(stderr, "h5vals: %s\n", sk_err_msg());
        return 1;
    }
    for (int i = 0; i < s->n; i++) {
        const sk_tensor *t = &s->t[i];
        printf("%s (", t->name);
        for (int d = 0; d < t->ndim; d++)
            printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
        printf(")");
        for (int64_t k = 0; k < t->numel; k++) {
            unsigned u;
            memcpy(&u, &t->data[k], sizeof u);
            printf(" %08x", u);
        }
        printf("\n");
    }
    sk_tset_free(s);
    return 0;
}
