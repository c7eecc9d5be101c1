/* svg_layout.c - text metrics (estimated from DejaVu Sans advance widths),
 * escaping, and axis ticks and limits for the SVG writer (svg.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/svg_impl.h"

/* ---- text ---------------------------------------------------------------- */

/* DejaVu Sans advance widths in 1/1000 em for printable ASCII 32..126. */
static const short svg_adv[95] = {
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361,  318, 337, 636, 636, 636,
    636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632,
    575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635,  611, 732, 684, 989, 685,
    611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352,  635, 634, 278, 278, 579,
    278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592,  525, 636, 337, 636, 838,
};

/* Estimated rendered width of UTF-8 text at font size fs. */
double svg_text_width(const char *s, double fs, int bold)
{
    double w = 0;
    if (!s) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 32 && *p < 127)
            w += svg_adv[*p - 32];
        else if (*p >= 0xC0)
            w += 700; /* start of a multi-byte character */
        /* continuation bytes and control characters add nothing */
    }
    return w / 1000.0 * fs * (bold ? 1.08 : 1.0);
}

/* Write XML-escaped text; drops the control characters XML 1.0 forbids. */
void svg_esc(FILE *fp, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *e = *p == '&'    ? "&amp;"
                        : *p == '<'  ? "&lt;"
                        : *p == '>'  ? "&gt;"
                        : *p == '"'  ? "&quot;"
                        : *p == '\'' ? "&apos;"
                                     : NULL;
        if (e)
            fputs(e, fp);
        else if (*p == '\n' || *p == '\r' || *p == '\t')
            fputc(' ', fp);
        else if (*p >= 0x20)
            fputc(*p, fp);
    }
}

void svg_text(FILE *fp, double x, double y, double fs, const char *anchor, const char *extra, const char *s)
{
    fprintf(fp, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, fs, anchor,
            extra ? " " : "", extra ? extra : "");
    svg_esc(fp, s);
    fputs("</text>\n", fp);
}

/* ---- axes ---------------------------------------------------------------- */

/* The 1-2-5 step nearest to raw (on a log scale). */
static double svg_nice_step(double raw)
{
    double e = pow(10.0, floor(log10(raw)));
    const double c[4] = {1, 2, 5, 10};
    double best = e, bd = INFINITY;
    for (int i = 0; i < 4; i++) {
        double d = fabs(log(c[i] * e / raw));
        if (d < bd) {
            bd = d;
            best = c[i] * e;
        }
    }
    return best;
}

/* The next coarser 1-2-5 step. */
static double svg_next_step(double step)
{
    double e = pow(10.0, floor(log10(step) + 1e-9));
    double f = step / e;
    return (f < 1.5 ? 2 : f < 3.5 ? 5 : 10) * e;
}

/* Tick label for value v with `dec` decimals; U+2212 minus, no "-0". */
static void svg_fmt_tick(char *buf, size_t n, double v, double step, int dec)
{
    char tmp[40];
    if (fabs(v) < step * 1e-6) v = 0.0;
    double mag = fmax(fabs(v), step);
    if (mag >= 1e6 || step < 1e-4) {
        /* Enough significant digits to tell neighbouring ticks apart. */
        int sig = (int)ceil(log10(mag / step)) + 1;
        sig = sig < 2 ? 2 : sig > 15 ? 15 : sig;
        snprintf(tmp, sizeof tmp, "%.*g", sig, v);
    } else
        snprintf(tmp, sizeof tmp, "%.*f", dec, v);
    if (tmp[0] == '-')
        snprintf(buf, n, "\xe2\x88\x92%s", tmp + 1);
    else
        snprintf(buf, n, "%s", tmp);
}

/* Limits and ticks for data in [lo, hi] (have = some finite data).
 * target: wanted number of tick intervals. */
void svg_axis_compute(svg_axis *a, double lo, double hi, int have, int from_zero, int integer, double target)
{
    if (!have) {
        lo = 0;
        hi = 1;
    }
    if (from_zero) {
        lo = fmin(lo, 0);
        hi = fmax(hi, 0);
    }
    int pin_lo = from_zero && lo == 0, pin_hi = from_zero && hi == 0;
    double r = hi - lo;
    if (!(r > 1e-12 * fmax(fabs(lo), fabs(hi))) || r <= 0) {
        /* Constant data: a range around the value. */
        double d = lo != 0 ? 0.1 * fabs(lo) : 0.5;
        if (integer && d < 1) d = 1;
        if (pin_lo)
            hi = lo + 2 * d;
        else if (pin_hi)
            lo = hi - 2 * d;
        else {
            lo -= d;
            hi += d;
        }
        r = hi - lo;
    }
    a->lo = pin_lo ? lo : lo - 0.05 * r;
    a->hi = pin_hi ? hi : hi + 0.05 * r;
    if (target < 2) target = 2;
    double step = svg_nice_step((a->hi - a->lo) / target);
    if (integer && step < 1) step = 1;
    double k0 = ceil(a->lo / step - 1e-9), k1 = floor(a->hi / step + 1e-9);
    while (k1 - k0 + 1 > SVG_MAX_TICKS) {
        step = svg_next_step(step);
        k0 = ceil(a->lo / step - 1e-9);
        k1 = floor(a->hi / step + 1e-9);
    }
    if (k1 - k0 < 1) {
        /* Fewer than two ticks inside: widen the limits to the neighbours. */
        k0 = floor(a->lo / step + 1e-9);
        k1 = ceil(a->hi / step - 1e-9);
        if (k1 <= k0) k1 = k0 + 1;
        a->lo = fmin(a->lo, k0 * step);
        a->hi = fmax(a->hi, k1 * step);
    }
    a->step = step;
    int dec = (int)fmax(0.0, -floor(log10(step) + 1e-9));
    a->n = 0;
    for (double k = k0; k <= k1 && a->n < SVG_MAX_TICKS; k++) {
        a->v[a->n] = k * step;
        a->bold[a->n] = 0;
        svg_fmt_tick(a->lab[a->n], sizeof a->lab[0], a->v[a->n], step, dec);
        a->n++;
    }
}

/* Move ticks [from, n) to start at `to`: to = from - 1 drops tick `to`, to = from + 1 makes room at `from`. */
static void svg_axis_move(svg_axis *a, int to, int from)
{
    const size_t k = (size_t)(a->n - from);
    memmove(&a->v[to], &a->v[from], k * sizeof a->v[0]);
    memmove(&a->lab[to], &a->lab[from], k * sizeof a->lab[0]);
    memmove(&a->bold[to], &a->bold[from], k * sizeof a->bold[0]);
}

/* Put `label` on the tick at x = v (inserting one if needed); numeric ticks
 * whose labels would touch it lose their tick. */
void svg_axis_special(svg_axis *a, double v, const char *label, double px_per_unit)
{
    int at = -1;
    for (int i = 0; i < a->n; i++)
        if (fabs(a->v[i] - v) < 1e-9 * a->step) at = i;
    if (at < 0) {
        if (a->n >= SVG_MAX_TICKS) return;
        at = 0;
        while (at < a->n && a->v[at] < v)
            at++;
        svg_axis_move(a, at + 1, at);
        a->n++;
        a->v[at] = v;
    }
    snprintf(a->lab[at], sizeof a->lab[0], "%s", label);
    a->bold[at] = 1;
    double half = svg_text_width(label, FS_TICK, 1) / 2;
    for (int i = 0; i < a->n; i++) {
        if (i == at || a->bold[i]) continue;
        double gap = fabs(a->v[i] - v) * px_per_unit;
        if (gap < half + svg_text_width(a->lab[i], FS_TICK, 0) / 2 + 8) {
            svg_axis_move(a, i, i + 1);
            a->n--;
            if (i < at) at--;
            i--;
        }
    }
}

double svg_axis_max_label(const svg_axis *a)
{
    double w = 0;
    for (int i = 0; i < a->n; i++)
        w = fmax(w, svg_text_width(a->lab[i], FS_TICK, a->bold[i]));
    return w;
}

/* Point i of a series is drawn (both coordinates finite). */
int svg_finite(const sk_series *se, int i)
{
    return isfinite(se->x[i]) && isfinite(se->y[i]);
}

/* Finite data range of a panel. Returns 0 when it has no finite point. */
int svg_panel_range(const sk_panel *p, double *xlo, double *xhi, double *ylo, double *yhi, int *x_integer)
{
    int have = 0;
    *x_integer = 1;
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    for (int s = 0; s < p->n_series; s++) {
        const sk_series *se = &p->series[s];
        for (int i = 0; i < se->n; i++) {
            if (!svg_finite(se, i)) continue;
            double x = se->x[i], y = se->y[i];
            have = 1;
            *xlo = fmin(*xlo, x);
            *xhi = fmax(*xhi, x);
            *ylo = fmin(*ylo, y);
            *yhi = fmax(*yhi, y);
            if (se->lo && se->hi && isfinite(se->lo[i]) && isfinite(se->hi[i])) {
                *ylo = fmin(*ylo, se->lo[i]);
                *yhi = fmax(*yhi, se->hi[i]);
            }
            if (x != floor(x)) *x_integer = 0;
        }
    }
    if (!have) *x_integer = 0;
    return have;
}
