/* barrier.h - loss/accuracy barriers of a curve along lambda (doc/algorithms.md §9). */
#ifndef SK_LMC_BARRIER_H
#define SK_LMC_BARRIER_H

typedef struct {
    double barrier;     /* max_l [ f(l) - ((1-l) f(0) + l f(1)) ]  (Entezari / Frankle) */
    double barrier_mid; /* max_l f(l) - (f(0) + f(1)) / 2          (Git Re-Basin's plots) */
    double auc;         /* int_0^1 [ f(l) - ((1-l) f(0) + l f(1)) ] dl, trapezoid rule */
} sk_barrier;

/* lambda (n) ascending from 0 to 1, f (n) values. sign = +1 for a loss;
 * sign = -1 for an accuracy (the same three with the sign reversed: a drop of
 * accuracy below the line counts positive). n >= 2. */
void sk_barrier_compute(const double *lambda, const double *f, int n, int sign, sk_barrier *out);
/* n evenly spaced values in [0,1], both ends included. */
void sk_lambda_grid(double *lambda, int n);

#endif
