/* poly.c - the polynomial regression toy (doc/algorithms.md section 11).
 *
 * n evenly spaced inputs x_i = a + (b - a) i / (n - 1) on the degree's
 * interval, targets y_i = f(x_i) + sigma z_i with z_i ~ N(0, 1):
 *   degree 1: f(x) = x + 3       on [-4, -2]
 *   degree 2: f(x) = 2 x^2 - 1   on [-1,  1]
 *   degree 3: f(x) = (x - 3)^3   on [ 2,  4]
 * Choice for the test split: the same inputs with an independent noise draw.
 * The train noise comes from RNG stream (seed, 0), the test noise from
 * (seed, 1), so both are reproducible from the seed alone and a change of the
 * number of points never shifts one split's noise into the other. */
#include "data/formats.h"

#include <string.h>

#include "core/mem.h"
#include "core/rng.h"

static double poly_f(int degree, double x)
{
    switch (degree) {
    case 1:
        return x + 3.0;
    case 2:
        return 2.0 * x * x - 1.0;
    default:
        return (x - 3.0) * (x - 3.0) * (x - 3.0);
    }
}

static sk_status poly_split(const sk_data_opts *o, int n_points, uint64_t stream, int64_t limit, sk_split *sp)
{
    static const double lo[4] = {0, -4.0, -1.0, 2.0}, hi[4] = {0, -2.0, 1.0, 4.0};
    const int d = o->poly_degree;
    int64_t n = limit > 0 && limit < n_points ? limit : n_points;
    sk_rng rng;

    memset(sp, 0, sizeof *sp);
    sp->xr = sk_alloc_n((size_t)n, sizeof *sp->xr);
    sp->yr = sk_alloc_n((size_t)n, sizeof *sp->yr);
    if (!sp->xr || !sp->yr) {
        sk_split_free(sp);
        return SK_ENOMEM;
    }
    sk_rng_seed_stream(&rng, o->seed, stream);
    for (int64_t i = 0; i < n; i++) {
        double x = lo[d] + (hi[d] - lo[d]) * (double)i / (double)(n_points - 1);
        sp->xr[i] = (float)x;
        sp->yr[i] = (float)(poly_f(d, x) + o->poly_noise * sk_rng_normal(&rng));
    }
    sp->n = n;
    sp->c = sp->h = sp->w = 1;
    sp->n_classes = 0;
    return SK_OK;
}

sk_status sk_poly_load(const sk_data_opts *o, sk_split *train, sk_split *test)
{
    sk_status st;
    int n_points = o->poly_points == 0 ? 100 : o->poly_points;

    if (o->poly_degree < 1 || o->poly_degree > 3)
        return sk_err(SK_EINVAL, "polynomial toy: degree must be 1, 2 or 3 (got %d)", o->poly_degree);
    if (n_points < 2) return sk_err(SK_EINVAL, "polynomial toy: needs at least 2 points (got %d)", n_points);
    if (!(o->poly_noise >= 0.0)) return sk_err(SK_EINVAL, "polynomial toy: noise must be >= 0 (got %g)", o->poly_noise);
    st = poly_split(o, n_points, 0, o->train_limit, train);
    if (st) return st;
    st = poly_split(o, n_points, 1, o->test_limit, test);
    if (st) sk_split_free(train);
    return st;
}
