/* rng.h - seeded, explicit random number generation (xoshiro256** seeded by
 * splitmix64). Every consumer gets an sk_rng passed in; never rand(). */
#ifndef SK_CORE_RNG_H
#define SK_CORE_RNG_H
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} sk_rng;

void sk_rng_seed(sk_rng *r, uint64_t seed);
/* An independent stream derived from (seed, stream id), e.g. one per model. */
void sk_rng_seed_stream(sk_rng *r, uint64_t seed, uint64_t stream);
uint64_t sk_rng_u64(sk_rng *r);
uint32_t sk_rng_below(sk_rng *r, uint32_t n);              /* uniform in [0, n), unbiased */
double sk_rng_uniform(sk_rng *r);                          /* uniform in [0, 1), 53 bits */
double sk_rng_normal(sk_rng *r);                           /* standard normal (polar method) */
void sk_rng_permutation(sk_rng *r, int64_t *p, int64_t n); /* random perm of 0..n-1 */
void sk_rng_shuffle_i32(sk_rng *r, int32_t *a, int64_t n);

#endif
