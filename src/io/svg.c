/* svg.c - line plots as standalone SVG (see svg.h).
 *
 * Layout, top to bottom: global title, panel titles, plot areas, x tick
 * labels, x axis labels, legend. Left to right: n equal slots, each with the
 * y axis label, y tick labels and the plot area; every plot area has the same
 * size so panels line up. Text widths are estimated from DejaVu Sans advance
 * widths (the widest common sans-serif), so labels never collide in the
 * usual fonts. */
#include "io/svg_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "io/atomic.h"

/* Okabe & Ito (2008) colour-universal-design palette, yellow last (weakest
 * on white). */
static const char *const svg_colors[] = {
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442",
};
#define SVG_NCOLORS 8
#define SVG_NMARKERS 7
static const char *const svg_dashes[] = {NULL, "7,4", "2,3", "8,3,2,3"};

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

/* dup: the series coincides with an earlier one, which must show through:
 * long even dashes. */
static void svg_series_style(FILE *fp, int s, int dup)
{
    const char *dash = dup ? "6,6" : svg_dashes[(s / SVG_NCOLORS) % 4];
    fprintf(fp, " stroke=\"%s\"", svg_colors[s % SVG_NCOLORS]);
    if (dash) fprintf(fp, " stroke-dasharray=\"%s\"", dash);
}

/* Opens the filled path that holds series s's markers (close with "\"/>\n"). */
static void svg_marker_path(FILE *fp, int s)
{
    fprintf(fp, "<path fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"0.8\" d=\"", svg_colors[s % SVG_NCOLORS]);
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
    int dup[256];       /* the earlier series this one coincides with in every panel, or -1 */
    char text[256][96]; /* a duplicate's label with " (= <earlier>)" */
    int ncol, nrow;
    double colw[256]; /* column widths */
    double total_w;
} svg_legend;

#define LEG_SAMPLE 30.0 /* line sample length */
#define LEG_GAP 6.0     /* sample to text */
#define LEG_SEP 26.0    /* between columns */
#define LEG_ROW 21.0

/* Series s coincides with series t (same points, y within 1e-9 relative) in every panel that has both. */
static int svg_same_series(int n_panels, const sk_panel *panels, int s, int t)
{
    for (int p = 0; p < n_panels; p++) {
        if (s >= panels[p].n_series || t >= panels[p].n_series) continue;
        const sk_series *a = &panels[p].series[s], *b = &panels[p].series[t];
        if (a->n != b->n) return 0;
        for (int i = 0; i < a->n; i++) {
            double ya = a->y[i], yb = b->y[i];
            if (a->x[i] != b->x[i]) return 0;
            if (isnan(ya) != isnan(yb) || (!isnan(ya) && fabs(ya - yb) > 1e-9 * fmax(1.0, fabs(ya)))) return 0;
        }
    }
    return 1;
}

/* Curves that coincide would hide each other: each one that repeats an
 * earlier one is drawn dashed over it and says so in the legend. */
static void svg_find_duplicates(svg_legend *lg, int n_panels, const sk_panel *panels)
{
    for (int s = 0; s < lg->n; s++) {
        lg->dup[s] = -1;
        for (int t = 0; t < s && lg->dup[s] < 0; t++)
            if (lg->label[s] && lg->label[t] && lg->dup[t] < 0 && svg_same_series(n_panels, panels, s, t))
                lg->dup[s] = t;
        if (lg->dup[s] >= 0) {
            snprintf(lg->text[s], sizeof lg->text[s], "%s (= %s)", lg->label[s], lg->label[lg->dup[s]]);
            lg->label[s] = lg->text[s];
        }
    }
}

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
    svg_find_duplicates(lg, n_panels, panels);
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

/* The figure's geometry (px); every panel's plot area has the same size (panel p's starts at svg_panel_x). */
typedef struct {
    double W, H, outer;
    int any_ylabel;
    double title_base, ptitle_base, xlabel_base, legend_top;
    int n_title; /* the title wrapped to the figure's width */
    char title_line[4][256];
    double plot_top, plot_bot, plot_h;
    double left, slot_w, plot_w; /* left margin within a slot, slot width, plot width */
} svg_layout;

static double svg_panel_x(const svg_layout *L, int p)
{
    return L->outer + p * L->slot_w + L->left;
}

/* The title in at most 4 lines that fit the figure's width, broken at spaces
 * (a word longer than a line stays whole). */
static void svg_wrap_title(svg_layout *L, const char *title)
{
    double avail = L->W - 4 * L->outer; /* the width estimate is not exact: keep a margin */
    L->n_title = 0;
    if (!title || !title[0]) return;
    const char *p = title;
    while (*p && L->n_title < 4) {
        char *line = L->title_line[L->n_title++];
        size_t n = 0;
        line[0] = '\0';
        while (*p) {
            size_t w = strcspn(p, " "), sp = n ? 1 : 0;
            if (n + sp + w >= sizeof L->title_line[0]) break;
            char trial[256];
            snprintf(trial, sizeof trial, "%s%s%.*s", line, sp ? " " : "", (int)w, p);
            if (n && svg_text_width(trial, FS_TITLE, 1) > avail && L->n_title < 4) break;
            snprintf(line, sizeof L->title_line[0], "%s", trial);
            n = strlen(line);
            p += w;
            p += strspn(p, " ");
        }
        if (!n) break; /* nothing fits: give up wrapping */
    }
}

/* Vertical layout (top to bottom as in the file comment); fails when no room is left for the plot areas. */
static sk_status svg_vlayout(svg_layout *L, const svg_legend *lg, const char *path, const char *title, int n_panels,
                             const sk_panel *panels, int height)
{
    const double H = L->H, outer = L->outer;
    int any_ptitle = 0, any_xlabel = 0;
    for (int p = 0; p < n_panels; p++) {
        any_ptitle |= panels[p].title && panels[p].title[0];
        any_xlabel |= panels[p].xlabel && panels[p].xlabel[0];
        L->any_ylabel |= panels[p].ylabel && panels[p].ylabel[0];
    }
    double y = outer;
    L->title_base = 0;
    svg_wrap_title(L, title);
    if (L->n_title) {
        L->title_base = y + FS_TITLE;
        y += L->n_title * (FS_TITLE + 4) + 8;
    }
    L->ptitle_base = y + FS_PTITLE;
    if (any_ptitle)
        y += FS_PTITLE + 9;
    else
        y += 6;
    L->plot_top = y;
    double below = 5 + 4 + FS_TICK + 2; /* ticks and their labels */
    if (any_xlabel) below += FS_LABEL + 8;
    double legend_h = lg->nrow ? 14 + lg->nrow * LEG_ROW : 0;
    L->plot_h = H - outer - legend_h - below - L->plot_top;
    if (L->plot_h < 40)
        return sk_err(SK_EINVAL,
                      "%s: plot height %d leaves no room for the data (%d legend rows)"
                      "\nHINT: make the figure taller",
                      path, height, lg->nrow);
    L->plot_bot = L->plot_top + L->plot_h;
    L->xlabel_base = L->plot_bot + 5 + 4 + FS_TICK + 2 + FS_LABEL + 4;
    L->legend_top = H - outer - legend_h + 14;
    return SK_OK;
}

/* Widen [*lo, *hi] (no range yet when !*have) to include v. */
static void svg_include(double *lo, double *hi, int *have, double v)
{
    *lo = *have ? fmin(*lo, v) : v;
    *hi = *have ? fmax(*hi, v) : v;
    *have = 1;
}

/* Panel pp's x axis over its data range [lo, hi] (have: some finite data) widened to 0 and 1 where they
 * carry a label: fewer ticks until their labels fit with a gap, then the labelled ticks. */
static void svg_x_axis(svg_axis *a, const sk_panel *pp, double lo, double hi, int have, int integer, double plot_w)
{
    if (pp->x0_label) svg_include(&lo, &hi, &have, 0.0);
    if (pp->x1_label) svg_include(&lo, &hi, &have, 1.0);
    for (double target = fmin(10, plot_w / 60);; target -= 1) {
        svg_axis_compute(a, lo, hi, have, 0, integer, target);
        double need = a->n * (svg_axis_max_label(a) + 14);
        if (need <= plot_w || target <= 2) break;
    }
    double ppu = plot_w / (a->hi - a->lo);
    if (pp->x0_label) svg_axis_special(a, 0.0, pp->x0_label, ppu);
    if (pp->x1_label) svg_axis_special(a, 1.0, pp->x1_label, ppu);
}

/* Category labels at 1..n, with half a step of margin. */
static void svg_x_categories(svg_axis *a, const char *const *cats, int n)
{
    a->n = n < SVG_MAX_TICKS ? n : SVG_MAX_TICKS;
    a->lo = 0.5;
    a->hi = a->n + 0.5;
    a->step = 1;
    for (int i = 0; i < a->n; i++) {
        a->v[i] = i + 1;
        a->bold[i] = 0;
        snprintf(a->lab[i], sizeof a->lab[0], "%s", cats[i] ? cats[i] : "");
    }
}

/* Every panel's axes and the horizontal layout: y axes first (they depend on the height only), then the
 * left margin that fits the widest y tick label, then the x axes (they depend on the plot width). */
static sk_status svg_axes(svg_layout *L, svg_axis *ax, svg_axis *ay, const char *path, int n_panels,
                          const sk_panel *panels, int width, const char *const *cats, int n_cats)
{
    double xlo[64], xhi[64], ylo[64], yhi[64];
    int have[64], xint[64];
    double ytick_w = 0;
    for (int p = 0; p < n_panels; p++) {
        const sk_panel *pp = &panels[p];
        have[p] = svg_panel_range(pp, &xlo[p], &xhi[p], &ylo[p], &yhi[p], &xint[p]);
        double target = fmin(8, fmax(3, L->plot_h / 55));
        svg_axis_compute(&ay[p], ylo[p], yhi[p], have[p], pp->y_from_zero, 0, target);
        ytick_w = fmax(ytick_w, svg_axis_max_label(&ay[p]));
    }
    L->left = (L->any_ylabel ? FS_LABEL + 10 : 0) + ytick_w + 5 + 5;
    double right = 20;
    L->slot_w = (L->W - 2 * L->outer) / n_panels;
    L->plot_w = L->slot_w - L->left - right;
    if (L->plot_w < 60)
        return sk_err(SK_EINVAL,
                      "%s: width %d leaves no room for %d panels\n"
                      "HINT: make the figure wider",
                      path, width, n_panels);
    for (int p = 0; p < n_panels; p++)
        if (cats && n_cats > 0)
            svg_x_categories(&ax[p], cats, n_cats);
        else
            svg_x_axis(&ax[p], &panels[p], xlo[p], xhi[p], have[p], xint[p], L->plot_w);
    return SK_OK;
}

/* Prologue, document title, background, a clip rectangle per panel (markers on the edge stay whole), title. */
static void svg_write_head(FILE *fp, const svg_layout *L, const char *title, int n_panels, int width, int height)
{
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
        double px = svg_panel_x(L, p);
        fprintf(fp,
                "<clipPath id=\"sk-clip-%d\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
                "height=\"%.2f\"/></clipPath>\n",
                p, px - 6, L->plot_top - 6, L->plot_w + 12, L->plot_h + 12);
    }
    fputs("</defs>\n", fp);
    for (int i = 0; i < L->n_title; i++)
        svg_text(fp, L->W / 2, L->title_base + i * (FS_TITLE + 4), FS_TITLE, "middle", "font-weight=\"bold\"",
                 L->title_line[i]);
}

/* One panel's plot area and its maps from data to pixels. */
typedef struct {
    const svg_axis *a, *b; /* x and y axis */
    const svg_layout *L;
    double px;     /* the plot area's left edge */
    double sx, sy; /* pixels per unit */
} svg_frame;

static double svg_mapx(const svg_frame *f, double v)
{
    return f->px + (v - f->a->lo) * f->sx;
}

static double svg_mapy(const svg_frame *f, double v)
{
    return f->L->plot_bot - (v - f->b->lo) * f->sy;
}

static void svg_panel_grid(FILE *fp, const svg_frame *f)
{
    const svg_axis *a = f->a, *b = f->b;
    fputs("<path fill=\"none\" stroke=\"#e3e3e3\" stroke-width=\"1\" d=\"", fp);
    for (int i = 0; i < a->n; i++)
        fprintf(fp, "M%.2f,%.2fV%.2f", svg_mapx(f, a->v[i]), f->L->plot_top, f->L->plot_bot);
    for (int i = 0; i < b->n; i++)
        fprintf(fp, "M%.2f,%.2fH%.2f", f->px, svg_mapy(f, b->v[i]), f->px + f->L->plot_w);
    fputs("\"/>\n", fp);
}

/* The spreads of panel p's series: shaded bands (polygons over each run of
 * points with a finite spread), or error bars with caps. */
static void svg_panel_spreads(FILE *fp, const sk_panel *pp, const svg_frame *f)
{
    for (int s = 0; s < pp->n_series; s++) {
        const sk_series *se = &pp->series[s];
        if (!se->lo || !se->hi) continue;
        const char *col = svg_colors[s % SVG_NCOLORS];
        if (se->bars) {
            fprintf(fp, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" d=\"", col);
            for (int i = 0; i < se->n; i++) {
                if (!svg_finite(se, i) || !isfinite(se->lo[i]) || !isfinite(se->hi[i])) continue;
                double x = svg_mapx(f, se->x[i]), y0 = svg_mapy(f, se->lo[i]), y1 = svg_mapy(f, se->hi[i]);
                fprintf(fp, "M%.2f,%.2fV%.2fM%.2f,%.2fh10M%.2f,%.2fh10", x, y0, y1, x - 5, y0, x - 5, y1);
            }
            fputs("\"/>\n", fp);
            continue;
        }
        for (int i = 0; i < se->n;) { /* one polygon per run of points with a spread */
            int j = i;
            while (j < se->n && svg_finite(se, j) && isfinite(se->lo[j]) && isfinite(se->hi[j]))
                j++;
            if (j - i >= 2) {
                fprintf(fp, "<path fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"", col);
                for (int k = i; k < j; k++)
                    fprintf(fp, "%c%.2f,%.2f", k == i ? 'M' : 'L', svg_mapx(f, se->x[k]), svg_mapy(f, se->hi[k]));
                for (int k = j - 1; k >= i; k--)
                    fprintf(fp, "L%.2f,%.2f", svg_mapx(f, se->x[k]), svg_mapy(f, se->lo[k]));
                fputs("Z\"/>\n", fp);
            }
            i = j > i ? j : i + 1;
        }
    }
}

/* Panel p's data, clipped: every series' line (broken at points that are not finite), then the markers on
 * top (every point up to 30 of them, else about 20). */
static void svg_panel_series(FILE *fp, int p, const sk_panel *pp, const svg_frame *f, const svg_legend *lg)
{
    fprintf(fp, "<g clip-path=\"url(#sk-clip-%d)\">\n", p);
    svg_panel_spreads(fp, pp, f);
    for (int s = 0; s < pp->n_series; s++) {
        const sk_series *se = &pp->series[s];
        int pen = 0, drawn = 0;
        for (int i = 0; i < se->n; i++) {
            if (!svg_finite(se, i)) {
                pen = 0;
                continue;
            }
            if (!drawn) {
                fputs("<path fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\" "
                      "stroke-linecap=\"round\"",
                      fp);
                svg_series_style(fp, s, s < lg->n && lg->dup[s] >= 0);
                fputs(" d=\"", fp);
                drawn = 1;
            }
            fprintf(fp, "%c%.2f,%.2f", pen ? 'L' : 'M', svg_mapx(f, se->x[i]), svg_mapy(f, se->y[i]));
            pen = 1;
        }
        if (drawn) fputs("\"/>\n", fp);
    }
    for (int s = 0; s < pp->n_series; s++) {
        const sk_series *se = &pp->series[s];
        int nf = 0;
        for (int i = 0; i < se->n; i++)
            nf += svg_finite(se, i);
        if (!nf) continue;
        int every = nf <= 30 ? 1 : (nf + 19) / 20, k = 0;
        svg_marker_path(fp, s);
        for (int i = 0; i < se->n; i++) {
            if (!svg_finite(se, i)) continue;
            if (k++ % every == 0) svg_marker(fp, s, svg_mapx(f, se->x[i]), svg_mapy(f, se->y[i]), 3.6);
        }
        fputs("\"/>\n", fp);
    }
    fputs("</g>\n", fp);
}

/* Frame, tick marks and tick labels (the labelled x ticks in bold). */
static void svg_panel_ticks(FILE *fp, const svg_frame *f)
{
    const svg_axis *a = f->a, *b = f->b;
    fprintf(fp,
            "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
            "stroke=\"#555555\" stroke-width=\"1\"/>\n",
            f->px, f->L->plot_top, f->L->plot_w, f->L->plot_h);
    fputs("<path fill=\"none\" stroke=\"#555555\" stroke-width=\"1\" d=\"", fp);
    for (int i = 0; i < a->n; i++)
        fprintf(fp, "M%.2f,%.2fv5", svg_mapx(f, a->v[i]), f->L->plot_bot);
    for (int i = 0; i < b->n; i++)
        fprintf(fp, "M%.2f,%.2fh-5", f->px, svg_mapy(f, b->v[i]));
    fputs("\"/>\n", fp);
    for (int i = 0; i < a->n; i++)
        svg_text(fp, svg_mapx(f, a->v[i]), f->L->plot_bot + 5 + 3 + FS_TICK, FS_TICK, "middle",
                 a->bold[i] ? "font-weight=\"bold\"" : NULL, a->lab[i]);
    for (int i = 0; i < b->n; i++)
        svg_text(fp, f->px - 5 - 4, svg_mapy(f, b->v[i]) + 0.35 * FS_TICK, FS_TICK, "end", NULL, b->lab[i]);
}

/* Panel title, x axis label, y axis label (rotated, at the slot's left edge). */
static void svg_panel_labels(FILE *fp, const sk_panel *pp, const svg_frame *f)
{
    const svg_layout *L = f->L;
    const double px = f->px;
    if (pp->title && pp->title[0])
        svg_text(fp, px + L->plot_w / 2, L->ptitle_base, FS_PTITLE, "middle", "font-weight=\"bold\"", pp->title);
    if (pp->xlabel && pp->xlabel[0])
        svg_text(fp, px + L->plot_w / 2, L->xlabel_base, FS_LABEL, "middle", NULL, pp->xlabel);
    if (pp->ylabel && pp->ylabel[0]) {
        double lx = px - L->left + FS_LABEL, ly = L->plot_top + L->plot_h / 2;
        char rot[96];
        snprintf(rot, sizeof rot, "transform=\"rotate(-90 %.2f %.2f)\"", lx, ly);
        svg_text(fp, lx, ly, FS_LABEL, "middle", rot, pp->ylabel);
    }
}

/* Panel p: grid, data, frame and ticks, labels. */
static void svg_write_panel(FILE *fp, const svg_layout *L, int p, const sk_panel *pp, const svg_axis *a,
                            const svg_axis *b, const svg_legend *lg)
{
    svg_frame f = {a, b, L, svg_panel_x(L, p), L->plot_w / (a->hi - a->lo), L->plot_h / (b->hi - b->lo)};
    fprintf(fp, "<g id=\"panel-%d\">\n", p);
    svg_panel_grid(fp, &f);
    svg_panel_series(fp, p, pp, &f, lg);
    svg_panel_ticks(fp, &f);
    svg_panel_labels(fp, pp, &f);
    fputs("</g>\n", fp);
}

/* Legend, centred below the panels: per entry a line sample with its marker, and the label. */
static void svg_write_legend(FILE *fp, const svg_legend *lg, const svg_layout *L)
{
    if (!lg->nrow) return;
    fputs("<g id=\"legend\">\n", fp);
    double x0 = (L->W - lg->total_w) / 2;
    for (int idx = 0, k = 0; idx < lg->n; idx++) {
        if (!lg->label[idx]) continue;
        int row = k / lg->ncol, col = k % lg->ncol;
        k++;
        double lx = x0;
        for (int c = 0; c < col; c++)
            lx += lg->colw[c] + LEG_SEP;
        double ly = L->legend_top + row * LEG_ROW + LEG_ROW / 2;
        fputs("<path fill=\"none\" stroke-width=\"2\" stroke-linecap=\"round\"", fp);
        svg_series_style(fp, idx, lg->dup[idx] >= 0);
        fprintf(fp, " d=\"M%.2f,%.2fh%.2f\"/>\n", lx + 1, ly, LEG_SAMPLE - 2);
        svg_marker_path(fp, idx);
        svg_marker(fp, idx, lx + LEG_SAMPLE / 2, ly, 3.6);
        fputs("\"/>\n", fp);
        svg_text(fp, lx + LEG_SAMPLE + LEG_GAP, ly + 0.35 * FS_LEGEND, FS_LEGEND, "start", NULL, lg->label[idx]);
    }
    fputs("</g>\n", fp);
}

sk_status sk_svg_plot(const char *path, const char *title, int n_panels, const sk_panel *panels, int width, int height)
{
    return sk_svg_plot_categories(path, title, n_panels, panels, NULL, 0, width, height);
}

sk_status sk_svg_plot_categories(const char *path, const char *title, int n_panels, const sk_panel *panels,
                                 const char *const *cats, int n_cats, int width, int height)
{
    sk_status st = svg_check_args(path, n_panels, panels, width, height);
    if (st != SK_OK) return st;
    sk_afile f = {0};
    svg_layout L = {.W = width, .H = height, .outer = 10};
    svg_legend lg;
    svg_axis *ax = sk_alloc_n((size_t)n_panels, sizeof *ax); /* x axis per panel */
    svg_axis *ay = sk_alloc_n((size_t)n_panels, sizeof *ay); /* y axis per panel */
    if (!ax || !ay) {
        st = SK_ENOMEM;
        goto cleanup;
    }
    svg_legend_layout(&lg, n_panels, panels, L.W - 2 * L.outer);
    if ((st = svg_vlayout(&L, &lg, path, title, n_panels, panels, height)) != SK_OK) goto cleanup;
    if ((st = svg_axes(&L, ax, ay, path, n_panels, panels, width, cats, n_cats)) != SK_OK) goto cleanup;

    if ((st = sk_afile_open(&f, path)) != SK_OK) goto cleanup;
    svg_write_head(f.fp, &L, title, n_panels, width, height);
    for (int p = 0; p < n_panels; p++)
        svg_write_panel(f.fp, &L, p, &panels[p], &ax[p], &ay[p], &lg);
    svg_write_legend(f.fp, &lg, &L);
    fputs("</svg>\n", f.fp);
    st = sk_afile_commit(&f);

cleanup:
    sk_free(ax);
    sk_free(ay);
    return st;
}
