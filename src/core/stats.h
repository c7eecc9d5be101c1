/* stats.h - summaries of repeated measurements: mean, sample standard
 * deviation, extremes and the 95% t-interval of the mean; paired
 * differences with their sign agreement.
 *
 *   mean = sum v / n
 *   std  = sqrt(sum (v - mean)^2 / (n - 1))      (sample; NAN when n < 2)
 *   ci95 = mean -+ t(0.975, n - 1) std / sqrt(n)  (only when n >= 3, else NAN)
 *
 * t(0.975, df) is the two-sided 95% quantile of Student's t: tabulated for
 * df 1..30, 40, 60, 120 and infinity (1.959964), linear in 1/df between
 * (within 1e-4). */
#ifndef SK_CORE_STATS_H
#define SK_CORE_STATS_H

typedef struct {
    int n;               /* finite values */
    double mean, std;    /* NAN when n = 0 (std: n < 2) */
    double min, max;     /* NAN when n = 0 */
    double ci_lo, ci_hi; /* the 95% t-interval of the mean; NAN when n < 3 */
} sk_stats;

/* The summary of v[0..n) (NaN entries are skipped: an absent value). */
void sk_stats_of(const double *v, int n, sk_stats *s);
/* t(0.975, df) for df >= 1 (NAN for df < 1). */
double sk_t975(int df);

/* Paired differences d_i = a_i - b_i over the i where both are finite: their
 * summary, and how many are positive, negative and zero; `agree` counts
 * those with the sign of the mean difference (all of them when it is 0 and
 * they are 0). */
typedef struct {
    sk_stats d;
    int pos, neg, zero, agree;
} sk_paired;
void sk_paired_of(const double *a, const double *b, int n, sk_paired *p);

#endif
