/* svg.h - dependency-free line plots as standalone SVG 1.1 files
 * (lmc_loss.svg, lmc_accuracy.svg, cl_accuracy.svg).
 *
 * One figure = a global title, several panels side by side (e.g. one per
 * split: train, test) and one legend below the panels, shared by all of
 * them: series i has the same colour, marker and legend entry in every
 * panel (its label is taken from the first panel that has a series i).
 *
 * Each panel gets its own axes: "nice" ticks (1-2-5 steps) over the data
 * range plus 5% padding (when every x is an integer, e.g. a task index
 * 1..T, x ticks stay on integers), a light grid, tick labels, axis labels and a title.
 * Colours follow the Okabe-Ito colour-blind-safe palette; every series also
 * has its own marker shape (and, past 8 series, a dash pattern), so curves
 * stay distinguishable in greyscale. Non-finite points are skipped and break
 * the line; a single point or constant data get a sensible range. Text is
 * XML-escaped; the file is UTF-8, has a viewBox and a white background, and
 * is written atomically. Series may carry a spread (a shaded band or error
 * bars) and panels category labels on the x axis. */
#ifndef SK_IO_SVG_H
#define SK_IO_SVG_H

#include "core/err.h"

typedef struct {
    const char *label; /* legend text (UTF-8); NULL: not in the legend */
    int n;             /* number of points */
    const double *x;   /* (n,) */
    const double *y;   /* (n,) */
    /* Optional spread around y (both or neither; NULL: none), e.g. mean -+
     * std or min..max of repetitions: a band shaded in the series' colour
     * under the line, or with `bars` an error bar at each point. Say in the
     * title or legend which spread it is. A point whose lo or hi is not
     * finite has none. */
    const double *lo, *hi; /* (n,) */
    int bars;
} sk_series;

typedef struct {
    const char *title;           /* panel title, e.g. "test"; NULL for none */
    const char *xlabel, *ylabel; /* NULL for none */
    int n_series;
    const sk_series *series; /* (n_series,) */
    /* Optional tick labels replacing the numbers at x=0 and x=1, e.g. "A" and
     * "B" for LMC curves (lambda=0 is model A, lambda=1 is model B); the x
     * range then always includes that point. NULL for none. */
    const char *x0_label, *x1_label;
    int y_from_zero; /* make the y range include 0 */
} sk_panel;

/* Write `n_panels` panels side by side into one SVG of width x height user
 * units (pixels), with `title` on top (NULL for none). SK_EINVAL when the
 * arguments are inconsistent or the size is too small for the layout
 * (at least about 160 x 140 per panel), SK_EIO on write errors; nothing is
 * left under `path` on failure. */
SK_MUST_CHECK sk_status sk_svg_plot(const char *path, const char *title, int n_panels, const sk_panel *panels,
                                    int width, int height);
/* The same with category labels on every panel's x axis: cats[i] at
 * x = i + 1 (i < n_cats, at most 48), in place of numeric ticks (e.g. a
 * sweep over architectures). */
SK_MUST_CHECK sk_status sk_svg_plot_categories(const char *path, const char *title, int n_panels,
                                               const sk_panel *panels, const char *const *cats, int n_cats, int width,
                                               int height);

#endif
