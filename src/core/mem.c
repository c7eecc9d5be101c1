#include "core/mem.h"
#include "core/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *sk_alloc(size_t bytes)
{
    void *p = NULL;
    size_t rounded;
    if (bytes == 0) bytes = 1;
    if (bytes > SIZE_MAX - 63) {
        sk_err(SK_ENOMEM, "allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    rounded = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded) != 0) {
        sk_err(SK_ENOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

void *sk_alloc_n(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        sk_err(SK_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    return sk_alloc(n * size);
}

void sk_free(void *p)
{
    free(p);
}

char *sk_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sk_alloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
