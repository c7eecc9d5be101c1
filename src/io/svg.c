/* svg.c - line plots as standalone SVG (see svg.h).
 *
 * Layout, top to bottom: global title, panel titles, plot areas, x tick
 * labels, x axis labels, legend. Left to right: n equal slots, each with the
 * y axis label, y tick labels and the plot area; every plot area has the same
 * size so panels line up. Text widths are estimated from DejaVu Sans advance
 * widths (the widest common sans-serif), so labels never collide in the
 * usual fonts. */
#include "io/svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "io/atomic.h"

#define SVG_MAX_TICKS 48
#define SVG_PI 3.14159265358979323846

/* Font sizes (px). */
#define FS_TITLE 17.0
#define FS_PTITLE 14.5
#define FS_LABEL 13.5
#define FS_TICK 12.0
#define FS_LEGEND 13.0

/* Okabe & Ito (2008) colour-universal-design palette, yellow last (weakest
 * on white). */
static const char *const svg_colors[] = {
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442",
};
#define SVG_NCOLORS 8
#define SVG_NMARKERS 7
static const char *const svg_dashes[] = {NULL, "7,4", "2,3", "8,3,2,3"};

typedef struct {
    double lo, hi; /* axis limits (data coordinates) */
    double step;
    int n;
    double v[SVG_MAX_TICKS];     /* tick values */
    char lab[SVG_MAX_TICKS][48]; /* tick labels (UTF-8, unescaped) */
    int bold[SVG_MAX_TICKS];
} svg_axis;

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
static double svg_text_width(const char *s, double fs, int bold)
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
static void svg_esc(FILE *fp, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", fp);
            break;
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        case '\'':
            fputs("&apos;", fp);
            break;
        case '\n':
        case '\r':
        case '\t':
            fputc(' ', fp);
            break;
        default:
            if (*p >= 0x20) fputc(*p, fp);
        }
    }
}

static void svg_text(FILE *fp, double x, double y, double fs, const char *anchor, const char *extra, const char *s)
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
static void svg_axis_compute(svg_axis *a, double lo, double hi, int have, int from_zero, int integer, double target)
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

/* Put `label` on the tick at x = v (inserting one if needed); numeric ticks
 * whose labels would touch it lose their tick. */
static void svg_axis_special(svg_axis *a, double v, const char *label, double px_per_unit)
{
    int at = -1;
    for (int i = 0; i < a->n; i++)
        if (fabs(a->v[i] - v) < 1e-9 * a->step) at = i;
    if (at < 0) {
        if (a->n >= SVG_MAX_TICKS) return;
        at = 0;
        while (at < a->n && a->v[at] < v)
            at++;
        memmove(&a->v[at + 1], &a->v[at], (size_t)(a->n - at) * sizeof a->v[0]);
        memmove(&a->lab[at + 1], &a->lab[at], (size_t)(a->n - at) * sizeof a->lab[0]);
        memmove(&a->bold[at + 1], &a->bold[at], (size_t)(a->n - at) * sizeof a->bold[0]);
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
            memmove(&a->v[i], &a->v[i + 1], (size_t)(a->n - i - 1) * sizeof a->v[0]);
            memmove(&a->lab[i], &a->lab[i + 1], (size_t)(a->n - i - 1) * sizeof a->lab[0]);
            memmove(&a->bold[i], &a->bold[i + 1], (size_t)(a->n - i - 1) * sizeof a->bold[0]);
            a->n--;
            if (i < at) at--;
            i--;
        }
    }
}

static double svg_axis_max_label(const svg_axis *a)
{
    double w = 0;
    for (int i = 0; i < a->n; i++)
        w = fmax(w, svg_text_width(a->lab[i], FS_TICK, a->bold[i]));
    return w;
}

/* Finite data range of a panel. Returns 0 when it has no finite point. */
static int svg_panel_range(const sk_panel *p, double *xlo, double *xhi, double *ylo, double *yhi, int *x_integer)
{
    int have = 0;
    *x_integer = 1;
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    for (int s = 0; s < p->n_series; s++) {
        const sk_series *se = &p->series[s];
        for (int i = 0; i < se->n; i++) {
            double x = se->x[i], y = se->y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            have = 1;
            *xlo = fmin(*xlo, x);
            *xhi = fmax(*xhi, x);
            *ylo = fmin(*ylo, y);
            *yhi = fmax(*yhi, y);
            if (x != floor(x)) *x_integer = 0;
        }
    }
    if (!have) *x_integer = 0;
    return have;
}

/* ---- markers ------------------------------------------------------------- */

/* Append the outline of marker `kind` centred at (x, y) to a path. */
static void svg_marker(FILE *fp, int kind, double x, double y, double r)
{
    switch (kind % SVG_NMARKERS) {
    case 0: /* circle */
        fprintf(fp, "M%.2f,%.2fa%.2f,%.2f 0 1,0 %.2f,0a%.2f,%.2f 0 1,0 %.2f,0Z", x - r, y, r, r, 2 * r, r, r, -2 * r);
        break;
    case 1: { /* square */
        double h = r * 0.88;
        fprintf(fp, "M%.2f,%.2fh%.2fv%.2fh%.2fZ", x - h, y - h, 2 * h, 2 * h, -2 * h);
        break;
    }
    case 2: { /* triangle up */
        double h = r * 1.25;
        fprintf(fp, "M%.2f,%.2fL%.2f,%.2fL%.2f,%.2fZ", x, y - h, x + h * 0.95, y + h * 0.75, x - h * 0.95,
                y + h * 0.75);
        break;
    }
    case 3: { /* diamond */
        double h = r * 1.3;
        fprintf(fp, "M%.2f,%.2fL%.2f,%.2fL%.2f,%.2fL%.2f,%.2fZ", x, y - h, x + h * 0.8, y, x, y + h, x - h * 0.8, y);
        break;
    }
    case 4: { /* triangle down */
        double h = r * 1.25;
        fprintf(fp, "M%.2f,%.2fL%.2f,%.2fL%.2f,%.2fZ", x, y + h, x + h * 0.95, y - h * 0.75, x - h * 0.95,
                y - h * 0.75);
        break;
    }
    case 5: { /* pentagon */
        double h = r * 1.15;
        for (int k = 0; k < 5; k++) {
            double t = -SVG_PI / 2 + k * 2 * SVG_PI / 5;
            fprintf(fp, "%c%.2f,%.2f", k ? 'L' : 'M', x + h * cos(t), y + h * sin(t));
        }
        fputc('Z', fp);
        break;
    }
    default: { /* plus (filled cross) */
        double h = r * 1.25, t = r * 0.42;
        fprintf(fp, "M%.2f,%.2fh%.2fv%.2fh%.2fv%.2fh%.2fv%.2fh%.2fv%.2fh%.2fv%.2fh%.2fZ", x - t, y - h, 2 * t, h - t,
                h - t, 2 * t, -(h - t), h - t, -2 * t, -(h - t), -(h - t), -2 * t, h - t);
        break;
    }
    }
}

static void svg_series_style(FILE *fp, int s)
{
    const char *dash = svg_dashes[(s / SVG_NCOLORS) % 4];
    fprintf(fp, " stroke=\"%s\"", svg_colors[s % SVG_NCOLORS]);
    if (dash) fprintf(fp, " stroke-dasharray=\"%s\"", dash);
}

/* ---- the figure ---------------------------------------------------------- */

static sk_status svg_check_args(const char *path, int n_panels, const sk_panel *panels, int width, int height)
{
    if (!path) return sk_err(SK_EINVAL, "sk_svg_plot: no path");
    if (n_panels < 1 || n_panels > 64 || !panels)
        return sk_err(SK_EINVAL, "%s: plot needs 1..64 panels (got %d)", path, n_panels);
    for (int p = 0; p < n_panels; p++) {
        if (panels[p].n_series < 0 || (panels[p].n_series > 0 && !panels[p].series))
            return sk_err(SK_EINVAL, "%s: panel %d: bad series list", path, p);
        for (int s = 0; s < panels[p].n_series; s++) {
            const sk_series *se = &panels[p].series[s];
            if (se->n < 0 || (se->n > 0 && (!se->x || !se->y)))
                return sk_err(SK_EINVAL, "%s: panel %d series %d: bad data", path, p, s);
        }
        double xlo, xhi, ylo, yhi;
        int xi;
        if (svg_panel_range(&panels[p], &xlo, &xhi, &ylo, &yhi, &xi) &&
            (!isfinite(xhi - xlo) || !isfinite(yhi - ylo) || fabs(xlo) > 1e300 || fabs(xhi) > 1e300 ||
             fabs(ylo) > 1e300 || fabs(yhi) > 1e300))
            return sk_err(SK_EINVAL, "%s: panel %d: values too large to plot", path, p);
    }
    if (width < 160 * n_panels || height < 140 || width > 100000 || height > 100000)
        return sk_err(SK_EINVAL,
                      "%s: plot size %dx%d too small (or large) for %d panel%s\n"
                      "HINT: use at least %d x 140",
                      path, width, height, n_panels, n_panels == 1 ? "" : "s", 160 * n_panels);
    return SK_OK;
}

typedef struct {
    int n; /* legend entries (max series count) */
    const char *label[256];
    int ncol, nrow;
    double colw[256]; /* column widths */
    double total_w;
} svg_legend;

#define LEG_SAMPLE 30.0 /* line sample length */
#define LEG_GAP 6.0     /* sample to text */
#define LEG_SEP 26.0    /* between columns */
#define LEG_ROW 21.0

static void svg_legend_layout(svg_legend *lg, int n_panels, const sk_panel *panels, double avail)
{
    lg->n = 0;
    for (int p = 0; p < n_panels; p++)
        for (int s = 0; s < panels[p].n_series && s < 256; s++) {
            if (s >= lg->n) {
                lg->label[s] = NULL;
                lg->n = s + 1;
            }
            if (!lg->label[s]) lg->label[s] = panels[p].series[s].label;
        }
    int shown = 0;
    for (int i = 0; i < lg->n; i++)
        shown += lg->label[i] != NULL;
    lg->nrow = lg->ncol = 0;
    lg->total_w = 0;
    if (!shown) return;
    /* Most columns that fit (entries fill rows left to right). */
    for (int ncol = shown; ncol >= 1; ncol--) {
        double tw = 0;
        for (int c = 0; c < ncol; c++)
            lg->colw[c] = 0;
        for (int idx = 0, pos = 0; idx < lg->n; idx++) {
            if (!lg->label[idx]) continue;
            double w = LEG_SAMPLE + LEG_GAP + svg_text_width(lg->label[idx], FS_LEGEND, 0);
            int c = pos++ % ncol;
            lg->colw[c] = fmax(lg->colw[c], w);
        }
        for (int c = 0; c < ncol; c++)
            tw += lg->colw[c] + (c ? LEG_SEP : 0);
        lg->ncol = ncol;
        lg->total_w = tw;
        if (tw <= avail) break;
    }
    lg->nrow = (shown + lg->ncol - 1) / lg->ncol;
}

sk_status sk_svg_plot(const char *path, const char *title, int n_panels, const sk_panel *panels, int width, int height)
{
    sk_status st = svg_check_args(path, n_panels, panels, width, height);
    if (st != SK_OK) return st;
    sk_afile f = {0};
    svg_axis *ax = sk_alloc_n((size_t)n_panels, sizeof *ax); /* x axis per panel */
    svg_axis *ay = sk_alloc_n((size_t)n_panels, sizeof *ay); /* y axis per panel */
    if (!ax || !ay) {
        st = SK_ENOMEM;
        goto cleanup;
    }

    const double W = width, H = height, outer = 10;
    int any_ptitle = 0, any_xlabel = 0, any_ylabel = 0;
    for (int p = 0; p < n_panels; p++) {
        any_ptitle |= panels[p].title && panels[p].title[0];
        any_xlabel |= panels[p].xlabel && panels[p].xlabel[0];
        any_ylabel |= panels[p].ylabel && panels[p].ylabel[0];
    }
    svg_legend lg;
    svg_legend_layout(&lg, n_panels, panels, W - 2 * outer);

    /* Vertical layout. */
    double y = outer;
    double title_base = 0;
    if (title && title[0]) {
        title_base = y + FS_TITLE;
        y += FS_TITLE + 12;
    }
    double ptitle_base = y + FS_PTITLE;
    if (any_ptitle)
        y += FS_PTITLE + 9;
    else
        y += 6;
    double plot_top = y;
    double below = 5 + 4 + FS_TICK + 2; /* ticks and their labels */
    double xlabel_base = 0;
    if (any_xlabel) below += FS_LABEL + 8;
    double legend_h = lg.nrow ? 14 + lg.nrow * LEG_ROW : 0;
    double plot_h = H - outer - legend_h - below - plot_top;
    if (plot_h < 40) {
        st = sk_err(SK_EINVAL,
                    "%s: plot height %d leaves no room for the data (%d legend rows)"
                    "\nHINT: make the figure taller",
                    path, height, lg.nrow);
        goto cleanup;
    }
    double plot_bot = plot_top + plot_h;
    xlabel_base = plot_bot + 5 + 4 + FS_TICK + 2 + FS_LABEL + 4;
    double legend_top = H - outer - legend_h + 14;

    /* y axes first (they depend on the height only), then the shared left margin. */
    double xlo[64], xhi[64], ylo[64], yhi[64];
    int have[64], xint[64];
    double ytick_w = 0;
    for (int p = 0; p < n_panels; p++) {
        const sk_panel *pp = &panels[p];
        have[p] = svg_panel_range(pp, &xlo[p], &xhi[p], &ylo[p], &yhi[p], &xint[p]);
        double target = fmin(8, fmax(3, plot_h / 55));
        svg_axis_compute(&ay[p], ylo[p], yhi[p], have[p], pp->y_from_zero, 0, target);
        ytick_w = fmax(ytick_w, svg_axis_max_label(&ay[p]));
    }
    double left = (any_ylabel ? FS_LABEL + 10 : 0) + ytick_w + 5 + 5;
    double right = 20;
    double slot_w = (W - 2 * outer) / n_panels;
    double plot_w = slot_w - left - right;
    if (plot_w < 60) {
        st = sk_err(SK_EINVAL,
                    "%s: width %d leaves no room for %d panels\n"
                    "HINT: make the figure wider",
                    path, width, n_panels);
        goto cleanup;
    }

    for (int p = 0; p < n_panels; p++) {
        const sk_panel *pp = &panels[p];
        double lo = xlo[p], hi = xhi[p];
        int hv = have[p];
        if (pp->x0_label) {
            lo = hv ? fmin(lo, 0) : 0;
            hi = hv ? fmax(hi, 0) : 0;
            hv = 1;
        }
        if (pp->x1_label) {
            lo = hv ? fmin(lo, 1) : 1;
            hi = hv ? fmax(hi, 1) : 1;
            hv = 1;
        }
        /* Fewer ticks until their labels fit with a gap. */
        for (double target = fmin(10, plot_w / 60);; target -= 1) {
            svg_axis_compute(&ax[p], lo, hi, hv, 0, xint[p], target);
            double need = ax[p].n * (svg_axis_max_label(&ax[p]) + 14);
            if (need <= plot_w || target <= 2) break;
        }
        double ppu = plot_w / (ax[p].hi - ax[p].lo);
        if (pp->x0_label) svg_axis_special(&ax[p], 0.0, pp->x0_label, ppu);
        if (pp->x1_label) svg_axis_special(&ax[p], 1.0, pp->x1_label, ppu);
    }

    if ((st = sk_afile_open(&f, path)) != SK_OK) goto cleanup;
    FILE *fp = f.fp;

    fprintf(fp,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" fill=\"#222222\">\n",
            width, height, width, height);
    if (title && title[0]) {
        fputs("<title>", fp);
        svg_esc(fp, title);
        fputs("</title>\n", fp);
    }
    fprintf(fp, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height);
    fputs("<defs>\n", fp);
    for (int p = 0; p < n_panels; p++) {
        double px = outer + p * slot_w + left;
        fprintf(fp,
                "<clipPath id=\"sk-clip-%d\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                "height=\"%.2f\"/></clipPath>\n",
                p, px - 6, plot_top - 6, plot_w + 12, plot_h + 12);
    }
    fputs("</defs>\n", fp);
    if (title && title[0]) svg_text(fp, W / 2, title_base, FS_TITLE, "middle", "font-weight=\"bold\"", title);

    for (int p = 0; p < n_panels; p++) {
        const sk_panel *pp = &panels[p];
        const svg_axis *a = &ax[p], *b = &ay[p];
        double px = outer + p * slot_w + left;
        double sx = plot_w / (a->hi - a->lo), sy = plot_h / (b->hi - b->lo);
#define MAPX(v) (px + ((v)-a->lo) * sx)
#define MAPY(v) (plot_bot - ((v)-b->lo) * sy)
        fprintf(fp, "<g id=\"panel-%d\">\n", p);
        /* Grid. */
        fputs("<path fill=\"none\" stroke=\"#e3e3e3\" stroke-width=\"1\" d=\"", fp);
        for (int i = 0; i < a->n; i++)
            fprintf(fp, "M%.2f,%.2fV%.2f", MAPX(a->v[i]), plot_top, plot_bot);
        for (int i = 0; i < b->n; i++)
            fprintf(fp, "M%.2f,%.2fH%.2f", px, MAPY(b->v[i]), px + plot_w);
        fputs("\"/>\n", fp);
        /* Data: lines, then markers on top. */
        fprintf(fp, "<g clip-path=\"url(#sk-clip-%d)\">\n", p);
        for (int s = 0; s < pp->n_series; s++) {
            const sk_series *se = &pp->series[s];
            int pen = 0, drawn = 0;
            for (int i = 0; i < se->n; i++) {
                if (!isfinite(se->x[i]) || !isfinite(se->y[i])) {
                    pen = 0;
                    continue;
                }
                if (!drawn) {
                    fputs("<path fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\" "
                          "stroke-linecap=\"round\"",
                          fp);
                    svg_series_style(fp, s);
                    fputs(" d=\"", fp);
                    drawn = 1;
                }
                fprintf(fp, "%c%.2f,%.2f", pen ? 'L' : 'M', MAPX(se->x[i]), MAPY(se->y[i]));
                pen = 1;
            }
            if (drawn) fputs("\"/>\n", fp);
        }
        for (int s = 0; s < pp->n_series; s++) {
            const sk_series *se = &pp->series[s];
            int nf = 0;
            for (int i = 0; i < se->n; i++)
                nf += isfinite(se->x[i]) && isfinite(se->y[i]);
            if (!nf) continue;
            int every = nf <= 30 ? 1 : (nf + 19) / 20, k = 0;
            fprintf(fp, "<path fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"0.8\" d=\"", svg_colors[s % SVG_NCOLORS]);
            for (int i = 0; i < se->n; i++) {
                if (!isfinite(se->x[i]) || !isfinite(se->y[i])) continue;
                if (k++ % every == 0) svg_marker(fp, s, MAPX(se->x[i]), MAPY(se->y[i]), 3.6);
            }
            fputs("\"/>\n", fp);
        }
        fputs("</g>\n", fp);
        /* Frame and ticks. */
        fprintf(fp,
                "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
                "stroke=\"#555555\" stroke-width=\"1\"/>\n",
                px, plot_top, plot_w, plot_h);
        fputs("<path fill=\"none\" stroke=\"#555555\" stroke-width=\"1\" d=\"", fp);
        for (int i = 0; i < a->n; i++)
            fprintf(fp, "M%.2f,%.2fv5", MAPX(a->v[i]), plot_bot);
        for (int i = 0; i < b->n; i++)
            fprintf(fp, "M%.2f,%.2fh-5", px, MAPY(b->v[i]));
        fputs("\"/>\n", fp);
        for (int i = 0; i < a->n; i++)
            svg_text(fp, MAPX(a->v[i]), plot_bot + 5 + 3 + FS_TICK, FS_TICK, "middle",
                     a->bold[i] ? "font-weight=\"bold\"" : NULL, a->lab[i]);
        for (int i = 0; i < b->n; i++)
            svg_text(fp, px - 5 - 4, MAPY(b->v[i]) + 0.35 * FS_TICK, FS_TICK, "end", NULL, b->lab[i]);
#undef MAPX
#undef MAPY
        if (pp->title && pp->title[0])
            svg_text(fp, px + plot_w / 2, ptitle_base, FS_PTITLE, "middle", "font-weight=\"bold\"", pp->title);
        if (pp->xlabel && pp->xlabel[0])
            svg_text(fp, px + plot_w / 2, xlabel_base, FS_LABEL, "middle", NULL, pp->xlabel);
        if (pp->ylabel && pp->ylabel[0]) {
            double lx = px - left + FS_LABEL, ly = plot_top + plot_h / 2;
            char rot[96];
            snprintf(rot, sizeof rot, "transform=\"rotate(-90 %.2f %.2f)\"", lx, ly);
            svg_text(fp, lx, ly, FS_LABEL, "middle", rot, pp->ylabel);
        }
        fputs("</g>\n", fp);
    }

    /* Legend, centred below the panels. */
    if (lg.nrow) {
        fputs("<g id=\"legend\">\n", fp);
        double x0 = (W - lg.total_w) / 2;
        for (int idx = 0, k = 0; idx < lg.n; idx++) {
            if (!lg.label[idx]) continue;
            int row = k / lg.ncol, col = k % lg.ncol;
            k++;
            double lx = x0;
            for (int c = 0; c < col; c++)
                lx += lg.colw[c] + LEG_SEP;
            double ly = legend_top + row * LEG_ROW + LEG_ROW / 2;
            fputs("<path fill=\"none\" stroke-width=\"2\" stroke-linecap=\"round\"", fp);
            svg_series_style(fp, idx);
            fprintf(fp, " d=\"M%.2f,%.2fh%.2f\"/>\n", lx + 1, ly, LEG_SAMPLE - 2);
            fprintf(fp, "<path fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"0.8\" d=\"",
                    svg_colors[idx % SVG_NCOLORS]);
            svg_marker(fp, idx, lx + LEG_SAMPLE / 2, ly, 3.6);
            fputs("\"/>\n", fp);
            svg_text(fp, lx + LEG_SAMPLE + LEG_GAP, ly + 0.35 * FS_LEGEND, FS_LEGEND, "start", NULL, lg.label[idx]);
        }
        fputs("</g>\n", fp);
    }
    fputs("</svg>\n", fp);
    st = sk_afile_commit(&f);

cleanup:
    sk_free(ax);
    sk_free(ay);
    return st;
}
