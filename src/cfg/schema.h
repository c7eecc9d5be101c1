/* schema.h - the config schema, private to src/cfg: one entry per key.
 *
 * An entry records where its value lives in sk_config (offset and the size
 * of the field, or of one list element, taken with sizeof at the entry),
 * its default as YAML text, its range or its choices (a module's name
 * table), and its description. The parser, the printer, `--set`, sweeps
 * and the man page's key list all read this one table. */
#ifndef SK_CFG_SCHEMA_H
#define SK_CFG_SCHEMA_H

#include <stddef.h>

#include "cfg/cfg.h"

typedef enum {
    T_STR,
    T_INT,
    T_FLOAT,
    T_BOOL,
    T_ENUM,
    T_INTLIST,
    T_ENUMLIST,
    T_STRLIST,
    T_FLTLIST,
    T_PAIRLIST
} sk_cfg_type;

typedef struct {
    const char *key; /* full dotted name */
    sk_cfg_type type;
    size_t off;               /* value offset in sk_config */
    size_t size;              /* strings: buffer size; numbers, enums, bools: field size;
                                 lists: size of one element */
    size_t cnt_off;           /* lists: offset of the element count (an int) */
    const char *def;          /* default, as YAML text */
    double min, max;          /* numbers, list elements: the range, inclusive unless excl says */
    int excl;                 /* SK_CFG_EXCL_MIN: value must be > min; SK_CFG_EXCL_MAX: < max (bits) */
    const char *const *names; /* enums: the owning module's name table */
    int n_names;              /* string and number lists: their capacity */
    const char *aliases;      /* enums: extra spellings, "from=to,from=to" */
    const char *doc;
    /* Strings and string lists: NULL when s is a valid value, else what is
     * wrong with it ("KEY entries must be ..."); NULL = anything goes. */
    const char *(*check)(const char *s);
} sk_cfg_key;

#define SK_CFG_EXCL_MIN 1 /* sk_cfg_key.excl bits */
#define SK_CFG_EXCL_MAX 2

#define SK_CFG_MAX_KEYS 160 /* bound of the schema (checked where it is defined) */
extern const sk_cfg_key sk_cfg_schema[];
extern const int sk_cfg_n_schema;

/* The entry of a full key name, or NULL. */
const sk_cfg_key *sk_cfg_find(const char *key);
/* Choice i of an enum key (NULL when out of range); the index of a name or
 * alias (-1 when unknown). */
const char *sk_cfg_choice_at(const sk_cfg_key *k, int i);
int sk_cfg_choice_index(const sk_cfg_key *k, const char *s);
/* The choices as "a, b, c". */
void sk_cfg_choices_text(const sk_cfg_key *k, char *buf, size_t n);
/* "; did you mean \"x\"?" for the closest of names[0..n) within edit
 * distance 2 of s, else "". */
void sk_cfg_suggest(const char *const *names, int n, const char *s, char *buf, size_t len);
int sk_cfg_levenshtein(const char *a, const char *b);

/* Integer fields of any width (1, 2, 4 or 8 bytes), as recorded in `size`. */
void sk_cfg_store_int(void *field, size_t size, long long v);
long long sk_cfg_load_int(const void *field, size_t size);

/* Characters allowed in `name` and in sweep labels (folder names). */
int sk_cfg_name_char(char c);

#endif
