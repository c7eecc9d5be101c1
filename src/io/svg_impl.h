/* svg_impl.h - the parts of the SVG writer shared by svg.c (the figure) and
 * svg_layout.c (text metrics and axes), private to src/io. */
#ifndef SK_IO_SVG_IMPL_H
#define SK_IO_SVG_IMPL_H

#include <stdio.h>

#include "io/svg.h"

#define SVG_MAX_TICKS 48
#define SVG_PI 3.14159265358979323846

/* Font sizes (px). */
#define FS_TITLE 17.0
#define FS_PTITLE 14.5
#define FS_LABEL 13.5
#define FS_TICK 12.0
#define FS_LEGEND 13.0

typedef struct {
    double lo, hi; /* axis limits (data coordinates) */
    double step;
    int n;
    double v[SVG_MAX_TICKS];     /* tick values */
    char lab[SVG_MAX_TICKS][48]; /* tick labels (UTF-8, unescaped) */
    int bold[SVG_MAX_TICKS];
} svg_axis;

/* svg_layout.c: text */
double svg_text_width(const char *s, double fs, int bold);
void svg_esc(FILE *fp, const char *s);
void svg_text(FILE *fp, double x, double y, double fs, const char *anchor, const char *extra, const char *s);
/* svg_layout.c: axes (ticks at 1-2-5 steps, special labelled values) */
void svg_axis_compute(svg_axis *a, double lo, double hi, int have, int from_zero, int integer, double target);
void svg_axis_special(svg_axis *a, double v, const char *label, double px_per_unit);
double svg_axis_max_label(const svg_axis *a);
int svg_finite(const sk_series *se, int i);
int svg_panel_range(const sk_panel *p, double *xlo, double *xhi, double *ylo, double *yhi, int *x_integer);

#endif
