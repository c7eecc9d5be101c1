#include "io/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/timer.h"

struct sk_progress {
    sk_progress_mode mode;
    int bars;
    char label[64];
    int64_t total;
    double t0, last_draw;
    int drawn;
};

int sk_progress_bars(sk_progress_mode mode)
{
    if (mode == SK_PROGRESS_NEVER) return 0;
    if (mode == SK_PROGRESS_ALWAYS) return 1;
    return isatty(STDERR_FILENO);
}

sk_progress *sk_progress_new(sk_progress_mode mode, const char *label, int64_t total)
{
    sk_progress *p = sk_alloc(sizeof *p);
    if (!p) return NULL;
    p->mode = mode;
    p->bars = sk_progress_bars(mode);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total > 0 ? total : 1;
    p->t0 = sk_now();
    p->last_draw = -1.0;
    return p;
}

void sk_progress_update(sk_progress *p, int64_t done, const char *status)
{
    if (!p || !p->bars) return;
    double now = sk_now();
    if (done < p->total && p->last_draw >= 0 && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    const int width = 30;
    int fill = (int)((double)width * (double)done / (double)p->total);
    if (fill > width) fill = width;
    if (fill < 0) fill = 0;
    char bar[64];
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(width - fill));
    bar[width] = '\0';
    double el = now - p->t0;
    double eta = done > 0 ? el * (double)(p->total - done) / (double)done : 0.0;
    fprintf(stderr, "\r\033[K%s [%s] %3d%% %.0fs eta %.0fs%s%s", p->label, bar,
            (int)(100.0 * (double)done / (double)p->total), el, eta, status ? "  " : "", status ? status : "");
    fflush(stderr);
    p->drawn = 1;
}

void sk_progress_done(sk_progress *p, const char *line)
{
    if (!p || p->mode == SK_PROGRESS_NEVER) return;
    if (p->drawn) fputs("\r\033[K", stderr);
    if (line) fprintf(stderr, "%s\n", line);
    fflush(stderr);
    p->drawn = 0;
}

void sk_progress_free(sk_progress *p)
{
    sk_free(p);
}
