/* fuzz_idx.c - the IDX reader, raw and gzip (by content), as images and as labels. */
#include <stdlib.h>

#include "core/mem.h"
#include "data/formats.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    fuzz_write(gz ? "x-ubyte.gz" : "x-ubyte", data, size, path, sizeof path);
    for (int ndim = 1; ndim <= 3; ndim += 2) {
        sk_idx_header h;
        uint8_t *pix = NULL;
        int64_t n = 0;
        sk_err_clear();
        if (sk_idx_read(path, ndim, &h, &pix, &n) == SK_OK) sk_free(pix);
    }
    return 0;
}
