/* names.h - name tables of enums.
 *
 * Every enum that a config key chooses from ends in a _COUNT member and has
 * a table of names indexed by value, declared in its module's header with
 * the count as its size:
 *
 *     typedef enum { SK_ACT_RELU, SK_ACT_TANH, SK_ACT_COUNT } sk_act;
 *     extern const char *const sk_act_names[SK_ACT_COUNT];
 *
 * and defined with designated initialisers and no size, so that the table
 * follows the enum when it is reordered and a value added without a name
 * makes the two array types conflict (a build error):
 *
 *     const char *const sk_act_names[] = {[SK_ACT_RELU] = "relu", [SK_ACT_TANH] = "tanh"};
 *
 * The config schema (src/cfg) takes its choices from these tables. */
#ifndef SK_CORE_NAMES_H
#define SK_CORE_NAMES_H

#include <string.h>

#define SK_COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* names[v], or "?" when v is out of range or has no name. */
static inline const char *sk_name_of(const char *const *names, int n, int v)
{
    return v >= 0 && v < n && names[v] ? names[v] : "?";
}
#define SK_NAME(table, v) sk_name_of((table), SK_COUNT_OF(table), (int)(v))

/* The value whose name is s, or -1. */
static inline int sk_name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0) return i;
    return -1;
}

#endif
