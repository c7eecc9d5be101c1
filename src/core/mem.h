/* mem.h - allocation that reports failure through sk_err instead of exiting. */
#ifndef SK_CORE_MEM_H
#define SK_CORE_MEM_H
#include <stddef.h>

/* 64-byte aligned, zero-filled; NULL (and sk_err set) on failure or size 0
 * overflow. Free with sk_free (safe on NULL). */
void *sk_alloc(size_t bytes);
/* n * size with overflow check. */
void *sk_alloc_n(size_t n, size_t size);
void sk_free(void *p);
/* strdup that sets sk_err on failure. */
char *sk_strdup(const char *s);

#endif
