/* Result writers: JSON builder, CSV writer, SVG plots.
 *
 * Set SK_PLOT_SAMPLE=/tmp/plot_sample.svg to also keep the sample LMC figure
 * (for looking at it: rsvg-convert -o x.png x.svg). */
#include "testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "io/atomic.h"
#include "io/csv.h"
#include "io/json.h"
#include "io/svg.h"

/* ---- a minimal JSON validator (RFC 8259 grammar) ------------------------- */

static const char *jv_value(const char *p, int depth);

static const char *jv_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *jv_string(const char *p)
{
    if (*p != '"') return NULL;
    for (p++; *p != '"'; p++) {
        if ((unsigned char)*p < 0x20) return NULL; /* raw control char or end of text */
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i]) return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *jv_number(const char *p)
{
    if (*p == '-') p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9')) return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *jv_value(const char *p, int depth)
{
    if (depth > 100) return NULL;
    p = jv_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = jv_ws(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                p = jv_string(jv_ws(p));
                if (!p) return NULL;
                p = jv_ws(p);
                if (*p++ != ':') return NULL;
            }
            p = jv_value(p, depth + 1);
            if (!p) return NULL;
            p = jv_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == close) return p + 1;
            return NULL;
        }
    }
    if (*p == '"') return jv_string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    return jv_number(p);
}

static int json_valid(const char *text)
{
    const char *p = jv_value(text, 0);
    return p && *jv_ws(p) == '\0';
}

/* ---- JSON ---------------------------------------------------------------- */

START_TEST(test_json_validator_sanity)
{
    ck_assert(json_valid("{\"a\": [1, -2.5e+3, true, null, \"x\\u00e9\"]}"));
    ck_assert(!json_valid("{\"a\": [1, 2,]}"));
    ck_assert(!json_valid("{\"a\" 1}"));
    ck_assert(!json_valid("[01]"));
    ck_assert(!json_valid("[nan]"));
    ck_assert(!json_valid("[1] [2]"));
    ck_assert(!json_valid("[\"a\nb\"]"));
}
END_TEST

START_TEST(test_json_exact_text)
{
    sk_json *j = sk_json_new();
    ck_assert_ptr_nonnull(j);
    sk_json_obj_begin(j, NULL);
    sk_json_str(j, "format", "sinkrb-metrics");
    sk_json_int(j, "seed", -42);
    sk_json_num(j, "tau", 0.1);
    sk_json_bool(j, "ok", 1);
    sk_json_bool(j, "bad", 0);
    sk_json_null(j, "none");
    sk_json_arr_begin(j, "lambda");
    sk_json_num(j, NULL, 0);
    sk_json_num(j, NULL, 0.5);
    sk_json_num(j, NULL, 1);
    sk_json_arr_end(j);
    sk_json_arr_begin(j, "empty");
    sk_json_arr_end(j);
    sk_json_obj_begin(j, "nested");
    sk_json_obj_end(j);
    sk_json_arr_begin(j, "methods");
    sk_json_obj_begin(j, NULL);
    sk_json_str(j, "name", "wm");
    sk_json_num(j, "barrier", NAN);
    sk_json_obj_end(j);
    sk_json_arr_end(j);
    sk_json_obj_end(j);
    ck_assert_int_eq(sk_json_status(j), SK_OK);
    const char *want = "{\n"
                       "  \"format\": \"sinkrb-metrics\",\n"
                       "  \"seed\": -42,\n"
                       "  \"tau\": 0.1,\n"
                       "  \"ok\": true,\n"
                       "  \"bad\": false,\n"
                       "  \"none\": null,\n"
                       "  \"lambda\": [0, 0.5, 1],\n"
                       "  \"empty\": [],\n"
                       "  \"nested\": {},\n"
                       "  \"methods\": [\n"
                       "    {\n"
                       "      \"name\": \"wm\",\n"
                       "      \"barrier\": null\n"
                       "    }\n"
                       "  ]\n"
                       "}\n";
    ck_assert_str_eq(sk_json_text(j), want);
    ck_assert(json_valid(sk_json_text(j)));

    const char *path = tu_path("metrics.json");
    ck_assert_int_eq(sk_json_write_file(j, path), SK_OK);
    char *back = tu_read(path, NULL);
    ck_assert_str_eq(back, want);
    free(back);
    sk_json_free(j);
    sk_json_free(NULL);

    /* A scalar at the top level. */
    j = sk_json_new();
    sk_json_num(j, NULL, -0.0);
    ck_assert_str_eq(sk_json_text(j), "-0\n");
    ck_assert(json_valid(sk_json_text(j)));
    sk_json_free(j);
}
END_TEST

START_TEST(test_json_escaping)
{
    sk_json *j = sk_json_new();
    sk_json_obj_begin(j, NULL);
    sk_json_str(j, "k\"ey", "q\" b\\ n\n t\t r\r c\x01 \x1f del\x7f caf\xc3\xa9 \xe2\x88\x92");
    sk_json_str(j, "nul", NULL);
    sk_json_obj_end(j);
    ck_assert_str_eq(sk_json_text(j), "{\n  \"k\\\"ey\": \"q\\\" b\\\\ n\\n t\\t r\\r c\\u0001 \\u001f del\x7f"
                                      " caf\xc3\xa9 \xe2\x88\x92\",\n  \"nul\": null\n}\n");
    ck_assert(json_valid(sk_json_text(j)));
    sk_json_free(j);
}
END_TEST

START_TEST(test_json_number_roundtrip)
{
    const double vals[] = {0.1,
                           1e-300,
                           -0.0,
                           0.0,
                           1.0 / 3.0,
                           2.0 / 3.0,
                           5e-324,
                           DBL_MAX,
                           -DBL_MIN,
                           123456789012345678.0,
                           0.30000000000000004,
                           1e21,
                           1e22,
                           -7.25,
                           100,
                           3.14159265358979,
                           0.1f};
    char buf[40];
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        sk_json_fmt_num(buf, sizeof buf, vals[i]);
        double back = strtod(buf, NULL);
        ck_assert_msg(memcmp(&back, &vals[i], sizeof back) == 0, "%s does not round-trip", buf);
        ck_assert_msg(json_valid(buf), "%s is not a JSON number", buf);
        ck_assert(strlen(buf) <= 24);
    }
    ck_assert_str_eq(sk_json_fmt_num(buf, sizeof buf, 0.1), "0.1");
    ck_assert_str_eq(sk_json_fmt_num(buf, sizeof buf, 1e-300), "1e-300");
    ck_assert_str_eq(sk_json_fmt_num(buf, sizeof buf, -0.0), "-0");
    ck_assert_str_eq(sk_json_fmt_num(buf, sizeof buf, 1.0 / 3.0), "0.3333333333333333");
    ck_assert_str_eq(sk_json_fmt_num(buf, sizeof buf, 100), "100");
    ck_assert_str_eq(sk_json_fmt_num(buf, sizeof buf, 0.30000000000000004), "0.30000000000000004");
    ck_assert_str_eq(sk_json_fmt_num(buf, sizeof buf, INFINITY), "null");
    ck_assert_str_eq(sk_json_fmt_num(buf, sizeof buf, -INFINITY), "null");
    ck_assert_str_eq(sk_json_fmt_num(buf, sizeof buf, NAN), "null");
    /* In a document. */
    sk_json *j = sk_json_new();
    sk_json_arr_begin(j, NULL);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        sk_json_num(j, NULL, vals[i]);
    sk_json_num(j, NULL, INFINITY);
    sk_json_arr_end(j);
    ck_assert(json_valid(sk_json_text(j)));
    ck_assert_ptr_nonnull(strstr(sk_json_text(j), ", null]"));
    sk_json_free(j);
}
END_TEST

START_TEST(test_json_misuse)
{
    const char *path = tu_path("bad.json");
    sk_json *j = sk_json_new();
    sk_json_obj_begin(j, NULL);
    sk_json_num(j, NULL, 1); /* member without a key */
    sk_err_clear();
    ck_assert_int_eq(sk_json_status(j), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "without a key"));
    sk_err_clear();
    ck_assert_int_eq(sk_json_write_file(j, path), SK_EINVAL);
    ck_assert(!sk_file_exists(path));
    sk_json_free(j);

    j = sk_json_new();
    sk_json_arr_begin(j, NULL);
    sk_json_int(j, "k", 1); /* key inside an array */
    sk_err_clear();
    ck_assert_int_eq(sk_json_status(j), SK_EINVAL);
    sk_json_free(j);

    j = sk_json_new();
    sk_json_arr_begin(j, NULL);
    sk_json_obj_end(j); /* wrong closer */
    sk_err_clear();
    ck_assert_int_eq(sk_json_status(j), SK_EINVAL);
    sk_json_free(j);

    j = sk_json_new();
    sk_json_obj_begin(j, NULL);
    sk_json_obj_begin(j, "open");
    ck_assert_int_eq(sk_json_status(j), SK_OK);
    sk_err_clear();
    ck_assert_int_eq(sk_json_write_file(j, path), SK_EINVAL); /* incomplete */
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "2 unclosed containers"));
    ck_assert(!sk_file_exists(path));
    sk_json_free(j);

    j = sk_json_new();
    sk_json_int(j, NULL, 1);
    sk_json_int(j, NULL, 2); /* second top-level value */
    sk_err_clear();
    ck_assert_int_eq(sk_json_status(j), SK_EINVAL);
    sk_json_free(j);
}
END_TEST

START_TEST(test_json_deep_and_large)
{
    sk_json *j = sk_json_new();
    sk_json_obj_begin(j, NULL);
    sk_json_arr_begin(j, "curve");
    for (int i = 0; i < 5000; i++)
        sk_json_num(j, NULL, i / 7.0);
    sk_json_arr_end(j);
    sk_json_arr_begin(j, "deep");
    for (int d = 0; d < 20; d++)
        sk_json_arr_begin(j, NULL);
    sk_json_str(j, NULL, "x");
    for (int d = 0; d < 20; d++)
        sk_json_arr_end(j);
    sk_json_arr_end(j);
    sk_json_obj_end(j);
    ck_assert_int_eq(sk_json_status(j), SK_OK);
    ck_assert(json_valid(sk_json_text(j)));
    /* Numbers parse back from the document text. */
    const char *p = strstr(sk_json_text(j), "[0, ") + 1;
    for (int i = 0; i < 5000; i++) {
        char *end;
        double v = strtod(p, &end);
        ck_assert(end != p);
        ck_assert(v == i / 7.0);
        p = end + 2;
    }
    sk_json_free(j);
}
END_TEST

/* ---- CSV ----------------------------------------------------------------- */

static int dir_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

START_TEST(test_csv_quote)
{
    char buf[64];
    ck_assert_uint_eq(sk_csv_quote(buf, sizeof buf, "plain"), 5);
    ck_assert_str_eq(buf, "plain");
    sk_csv_quote(buf, sizeof buf, "a,b");
    ck_assert_str_eq(buf, "\"a,b\"");
    sk_csv_quote(buf, sizeof buf, "say \"hi\"");
    ck_assert_str_eq(buf, "\"say \"\"hi\"\"\"");
    sk_csv_quote(buf, sizeof buf, "two\nlines");
    ck_assert_str_eq(buf, "\"two\nlines\"");
    sk_csv_quote(buf, sizeof buf, " pad");
    ck_assert_str_eq(buf, "\" pad\"");
    sk_csv_quote(buf, sizeof buf, "");
    ck_assert_str_eq(buf, "");
    /* Truncation is snprintf-like. */
    ck_assert_uint_eq(sk_csv_quote(buf, 4, "a,bcdef"), 9);
    ck_assert_str_eq(buf, "\"a,");
    ck_assert_uint_eq(sk_csv_quote(NULL, 0, "x\"y"), 6);
}
END_TEST

START_TEST(test_csv_atomic_write)
{
    const char *path = tu_path("interp.csv");
    int before = dir_entries(tu_tmpdir());
    sk_csv *c = sk_csv_open(path, "method,split,lambda,loss,accuracy");
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(sk_csv_row(c, "%s,%s," SK_CSV_F32 "," SK_CSV_F32 "," SK_CSV_F64, sk_csv_q(c, "naive"),
                                sk_csv_q(c, "test"), 0.5, (double)0.1f, 0.1),
                     SK_OK);
    sk_csv_row(c, "%s,%s,%d,%s,%s", sk_csv_q(c, "sinkhorn, l2"), sk_csv_q(c, "a\"b"), 1, "nan", "1");
    ck_assert(!sk_file_exists(path)); /* nothing under the final name yet */
    ck_assert_int_eq(sk_csv_close(c), SK_OK);
    char *text = tu_read(path, NULL);
    ck_assert_str_eq(text, "method,split,lambda,loss,accuracy\n"
                           "naive,test,0.5,0.100000001,0.10000000000000001\n"
                           "\"sinkhorn, l2\",\"a\"\"b\",1,nan,1\n");
    free(text);
    /* float32 values round-trip through %.9g. */
    float f = 0.987654321f;
    char buf[32];
    snprintf(buf, sizeof buf, SK_CSV_F32, (double)f);
    ck_assert(strtof(buf, NULL) == f);
    ck_assert_int_eq(dir_entries(tu_tmpdir()), before + 1); /* no temp left */

    /* Abort leaves nothing. */
    const char *p2 = tu_path("aborted.csv");
    c = sk_csv_open(p2, "a,b");
    ck_assert_ptr_nonnull(c);
    sk_csv_row(c, "%d,%d", 1, 2);
    sk_csv_abort(c);
    sk_csv_abort(NULL);
    ck_assert(!sk_file_exists(p2));
    ck_assert_int_eq(dir_entries(tu_tmpdir()), before + 1);

    /* Unwritable place: NULL and a message naming the file. */
    c = sk_csv_open(tu_path("no/such/dir/x.csv"), "a");
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "x.csv"));
}
END_TEST

/* ---- SVG ----------------------------------------------------------------- */

/* Well-formedness: balanced tags, quoted attributes, escaped text. Returns
 * NULL when fine, else a description of the first problem. */
static const char *xml_check(const char *s)
{
    static char msg[160];
    char stack[64][32];
    int depth = 0, seen_root = 0;
    const char *p = s;
    if (strncmp(p, "<?xml ", 6) == 0) {
        p = strstr(p, "?>");
        if (!p) return "unterminated xml declaration";
        p += 2;
    }
    while (*p) {
        if (*p == '<') {
            if (!strncmp(p, "<!--", 4)) {
                p = strstr(p, "-->");
                if (!p) return "unterminated comment";
                p += 3;
                continue;
            }
            int closing = p[1] == '/';
            const char *n0 = p + 1 + closing, *n1 = n0;
            while (*n1 && (isalnum((unsigned char)*n1) || *n1 == '-' || *n1 == ':'))
                n1++;
            if (n1 == n0 || n1 - n0 >= 32) return "bad tag name";
            const char *q = n1;
            /* attributes: name="value" pairs */
            for (;;) {
                while (*q == ' ' || *q == '\n')
                    q++;
                if (*q == '>' || (*q == '/' && q[1] == '>')) break;
                if (closing) return "attribute in a closing tag";
                const char *a = q;
                while (*q && (isalnum((unsigned char)*q) || *q == '-' || *q == ':'))
                    q++;
                if (q == a || *q != '=' || q[1] != '"') return "unquoted or malformed attribute";
                q += 2;
                while (*q && *q != '"') {
                    if (*q == '<') return "'<' in attribute value";
                    q++;
                }
                if (!*q) return "unterminated attribute";
                q++;
            }
            int selfclose = *q == '/';
            if (closing) {
                if (depth == 0) return "closing tag without opening";
                depth--;
                if ((size_t)(n1 - n0) != strlen(stack[depth]) || strncmp(stack[depth], n0, (size_t)(n1 - n0))) {
                    snprintf(msg, sizeof msg, "</%.*s> closes <%.31s>", (int)(n1 - n0) & 31, n0, stack[depth]);
                    return msg;
                }
            } else {
                if (depth == 0 && seen_root) return "second root element";
                seen_root = 1;
                if (!selfclose) {
                    if (depth == 64) return "too deep";
                    memcpy(stack[depth], n0, (size_t)(n1 - n0));
                    stack[depth][n1 - n0] = '\0';
                    depth++;
                }
            }
            p = q + (selfclose ? 2 : 1);
        } else {
            if (*p == '&') {
                const char *ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
                int ok = 0;
                for (int i = 0; i < 5; i++)
                    ok |= !strncmp(p, ents[i], strlen(ents[i]));
                if (!ok) return "bare '&'";
            }
            if (*p == '>') return "bare '>' in text";
            if (depth == 0 && !isspace((unsigned char)*p)) return "text outside the root";
            p++;
        }
    }
    if (depth) return "unclosed element";
    if (!seen_root) return "no root element";
    return NULL;
}

static int ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (!strncasecmp(p, needle, n)) return 1;
    return 0;
}

/* The attributes that end an x tick label (centred, tick font size). */
#define XTICK "font-size=\"12.0\" text-anchor=\"middle\""

#define NPTS 25
#define NSER 6

/* Plausible LMC loss curves: a barrier that shrinks with better alignment. */
static void lmc_curves(double x[NPTS], double y[2][NSER][NPTS])
{
    const double barrier[NSER] = {1.9, 0.32, 0.12, 0.2, 0.26, 0.55};
    const double base[2] = {0.28, 1.05}, gap[2] = {0.0, 0.06};
    for (int i = 0; i < NPTS; i++) {
        double l = i / (double)(NPTS - 1);
        x[i] = l;
        for (int sp = 0; sp < 2; sp++)
            for (int s = 0; s < NSER; s++) {
                double bump = 4 * l * (1 - l);
                y[sp][s][i] =
                    base[sp] + 0.03 * l + barrier[s] * (1 + sp * 0.25) * pow(bump, 1.4 - 0.1 * s) + gap[sp] * bump;
            }
    }
}

START_TEST(test_svg_lmc_plot)
{
    static const char *names[NSER] = {"Naive", "Weight matching", "STE", "Sinkhorn l2", "Sinkhorn mid", "Sinkhorn rnd"};
    static double x[NPTS], y[2][NSER][NPTS];
    lmc_curves(x, y);
    sk_series ser[2][NSER];
    for (int sp = 0; sp < 2; sp++)
        for (int s = 0; s < NSER; s++)
            ser[sp][s] = (sk_series){.label = names[s], .n = NPTS, .x = x, .y = y[sp][s]};
    sk_panel pan[2] = {
        {.title = "train",
         .xlabel = "\xce\xbb (interpolation weight)",
         .ylabel = "loss",
         .n_series = NSER,
         .series = ser[0],
         .x0_label = "A",
         .x1_label = "B",
         .y_from_zero = 0},
        {.title = "test",
         .xlabel = "\xce\xbb (interpolation weight)",
         .ylabel = "loss",
         .n_series = NSER,
         .series = ser[1],
         .x0_label = "A",
         .x1_label = "B"},
    };
    const char *path = tu_path("lmc_loss.svg");
    ck_assert_int_eq(sk_svg_plot(path, "MLP on CIFAR-10: loss along the linear path", 2, pan, 1000, 440), SK_OK);
    char *svg = tu_read(path, NULL);
    const char *bad = xml_check(svg);
    ck_assert_msg(bad == NULL, "not well-formed: %s", bad ? bad : "");
    ck_assert_ptr_nonnull(strstr(svg, "viewBox=\"0 0 1000 440\""));
    ck_assert_ptr_nonnull(strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\""));
    ck_assert_ptr_nonnull(strstr(svg, "font-family=\"sans-serif\""));
    ck_assert_ptr_nonnull(strstr(svg, "fill=\"#ffffff\""));
    for (int s = 0; s < NSER; s++) {
        char want[64];
        snprintf(want, sizeof want, ">%s</text>", names[s]);
        ck_assert_msg(strstr(svg, want), "legend entry %s missing", names[s]);
    }
    ck_assert_ptr_nonnull(strstr(svg, ">train</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">test</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">loss</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">\xce\xbb (interpolation weight)</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "font-weight=\"bold\">A</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "font-weight=\"bold\">B</text>"));
    ck_assert_ptr_null(strstr(svg, ">0.0</text>")); /* replaced by "A" */
    ck_assert_ptr_nonnull(strstr(svg, ">0.5</text>"));
    /* 2 panels x 6 series lines, each with its own colour. */
    ck_assert_ptr_nonnull(strstr(svg, "stroke=\"#E69F00\""));
    ck_assert_ptr_nonnull(strstr(svg, "stroke=\"#0072B2\""));
    ck_assert(!ci_contains(svg, "nan") && !ci_contains(svg, "inf"));
    const char *keep = getenv("SK_PLOT_SAMPLE");
    if (keep && *keep) tu_write_str(keep, svg);
    free(svg);
}
END_TEST

/* Count path elements with a given stroke colour and the 'M' commands in the first. */
static int path_moves(const char *svg, const char *stroke_attr, int *n_paths)
{
    int moves = -1;
    *n_paths = 0;
    for (const char *p = strstr(svg, stroke_attr); p; p = strstr(p + 1, stroke_attr)) {
        const char *d = strstr(p, " d=\"");
        const char *end = d ? strchr(d + 4, '"') : NULL;
        ck_assert_ptr_nonnull(end);
        if (moves < 0) {
            moves = 0;
            for (const char *q = d + 4; q < end; q++)
                moves += *q == 'M';
        }
        (*n_paths)++;
    }
    return moves;
}

/* A title too long for one panel wraps (nothing outside the figure), and a
 * curve that coincides with an earlier one is dashed and named in the legend. */
START_TEST(test_svg_long_title_and_coinciding_curves)
{
    static double x[5] = {0, 0.25, 0.5, 0.75, 1}, y0[5] = {1, 2, 3, 2, 1}, y1[5] = {1, 1.5, 2, 1.5, 1};
    sk_series ser[3] = {{.label = "Naive", .n = 5, .x = x, .y = y0},
                        {.label = "Weight matching", .n = 5, .x = x, .y = y1},
                        {.label = "Sinkhorn C_Mid", .n = 5, .x = x, .y = y0}};
    sk_panel pan = {.title = "test", .n_series = 3, .series = ser};
    const char *path = tu_path("long.svg");
    const char *title = "vgg11 (layernorm, width 0.25, head gitrebasin, 3 epochs): loss along the linear path";
    ck_assert_int_eq(sk_svg_plot(path, title, 1, &pan, 520, 440), SK_OK);
    char *svg = tu_read(path, NULL);
    ck_assert_ptr_nonnull(strstr(svg, ">vgg11 (layernorm, width 0.25, head")); /* the first line */
    ck_assert_ptr_nonnull(strstr(svg, "the linear path</text>"));              /* the last one */
    ck_assert_ptr_null(strstr(svg, "bold\">vgg11 (layernorm, width 0.25, head gitrebasin, 3 epochs)")); /* wrapped */
    ck_assert_ptr_nonnull(strstr(svg, "Sinkhorn C_Mid (= Naive)"));
    ck_assert_ptr_null(strstr(svg, "Weight matching (="));
    ck_assert_ptr_nonnull(strstr(svg, "stroke-dasharray=\"6,6\""));
    const char *bad = xml_check(svg);
    ck_assert_msg(bad == NULL, "not well-formed: %s", bad ? bad : "");
    free(svg);
}
END_TEST

START_TEST(test_svg_nonfinite_and_degenerate)
{
    const double x1[6] = {0, 1, 2, 3, 4, 5};
    const double y1[6] = {0.5, 0.7, NAN, 0.9, INFINITY, 0.4}; /* breaks twice */
    const double xs[1] = {2.0}, ys[1] = {3.0};                /* a single point */
    const double yc[6] = {2, 2, 2, 2, 2, 2};                  /* constant */
    const double yn[3] = {NAN, NAN, NAN};
    sk_series a[2] = {{.label = "broken", .n = 6, .x = x1, .y = y1},
                      {.label = "single <one> & \"q\"", .n = 1, .x = xs, .y = ys}};
    sk_series b[1] = {{.label = "constant", .n = 6, .x = x1, .y = yc}};
    sk_series c[1] = {{.label = "all-nan", .n = 3, .x = x1, .y = yn}};
    sk_series d[1] = {{.label = "lonely", .n = 1, .x = xs, .y = ys}};
    sk_panel pan[4] = {
        {.title = "mixed", .xlabel = "task", .ylabel = "accuracy", .n_series = 2, .series = a, .y_from_zero = 1},
        {.title = "flat", .n_series = 1, .series = b},
        {.title = "empty", .n_series = 1, .series = c, .x0_label = "A", .x1_label = "B"},
        {.title = "one point", .n_series = 1, .series = d},
    };
    const char *path = tu_path("degenerate.svg");
    ck_assert_int_eq(sk_svg_plot(path, "Edge cases", 4, pan, 1200, 400), SK_OK);
    char *svg = tu_read(path, NULL);
    const char *bad = xml_check(svg);
    ck_assert_msg(bad == NULL, "not well-formed: %s", bad ? bad : "");
    ck_assert(!ci_contains(svg, "nan") && !ci_contains(svg, "inf"));
    ck_assert_ptr_nonnull(strstr(svg, ">single &lt;one&gt; &amp; &quot;q&quot;</text>"));
    /* Series 0 (black): the line restarts after each non-finite point:
     * path in panel 0 has 3 'M's; the legend sample has 1. */
    int np;
    ck_assert_int_eq(path_moves(svg, "stroke=\"#000000\"", &np), 3);
    ck_assert_int_eq(np, 4); /* panels 0, 1 (constant), 3 (single point) + legend */
    /* y_from_zero: a tick labelled 0 in the accuracy panel; integer x: no 0.5 steps. */
    ck_assert_ptr_nonnull(strstr(svg, ">0.0</text>"));
    ck_assert_ptr_null(strstr(svg, XTICK ">2.5</text>"));
    ck_assert_ptr_null(strstr(svg, XTICK ">1.5</text>"));
    ck_assert_ptr_nonnull(strstr(svg, XTICK ">3</text>"));
    free(svg);

    /* Tiny and huge ranges still get distinct tick labels. */
    const double yt[3] = {1.0, 1.0 + 3e-9, 1.0 + 6e-9}, yb[3] = {1e7, 2e7, 3.5e7};
    sk_series st[1] = {{.label = "tiny", .n = 3, .x = x1, .y = yt}},
              sb[1] = {{.label = "big", .n = 3, .x = x1, .y = yb}};
    sk_panel pr[2] = {{.n_series = 1, .series = st}, {.n_series = 1, .series = sb}};
    const char *p3 = tu_path("ranges.svg");
    ck_assert_int_eq(sk_svg_plot(p3, NULL, 2, pr, 700, 300), SK_OK);
    svg = tu_read(p3, NULL);
    ck_assert_ptr_null(xml_check(svg));
    ck_assert_ptr_nonnull(strstr(svg, ">1.000000002</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">2e+07</text>"));
    free(svg);

    /* Too small: an error and no file. */
    const char *p2 = tu_path("tiny.svg");
    sk_err_clear();
    ck_assert_int_eq(sk_svg_plot(p2, "t", 4, pan, 300, 100), SK_EINVAL);
    ck_assert_ptr_nonnull(strstr(sk_err_msg(), "HINT"));
    ck_assert(!sk_file_exists(p2));
    sk_err_clear();
    ck_assert_int_eq(sk_svg_plot(p2, "t", 0, pan, 600, 400), SK_EINVAL);
    const double huge[2] = {-1e308, 1e308};
    sk_series h[1] = {{.label = "huge", .n = 2, .x = x1, .y = huge}};
    sk_panel ph = {.n_series = 1, .series = h};
    sk_err_clear();
    ck_assert_int_eq(sk_svg_plot(p2, NULL, 1, &ph, 600, 400), SK_EINVAL);
    ck_assert(!sk_file_exists(p2));
}
END_TEST

START_TEST(test_svg_continual_and_many_series)
{
    /* 10 series over tasks 1..10 (colours repeat with dashes past 8). */
    enum { T = 10, S = 10 };
    static double x[T], y[S][T];
    static char names[S][32];
    sk_series ser[S];
    for (int t = 0; t < T; t++)
        x[t] = t + 1;
    for (int s = 0; s < S; s++) {
        for (int t = 0; t < T; t++)
            y[s][t] = 95.0 - t * (1.0 + s) * 0.8;
        snprintf(names[s], sizeof names[s], "method %d", s);
        ser[s] = (sk_series){.label = names[s], .n = T, .x = x, .y = y[s]};
    }
    sk_panel p = {.title = "Split CIFAR-100",
                  .xlabel = "tasks seen",
                  .ylabel = "average accuracy (%)",
                  .n_series = S,
                  .series = ser,
                  .y_from_zero = 1};
    const char *path = tu_path("cl.svg");
    ck_assert_int_eq(sk_svg_plot(path, NULL, 1, &p, 640, 480), SK_OK);
    char *svg = tu_read(path, NULL);
    ck_assert_ptr_null(xml_check(svg));
    ck_assert_ptr_nonnull(strstr(svg, ">method 9</text>"));
    ck_assert_ptr_nonnull(strstr(svg, "stroke-dasharray"));
    ck_assert_ptr_nonnull(strstr(svg, XTICK ">10</text>"));
    ck_assert_ptr_null(strstr(svg, XTICK ">1.5</text>"));
    ck_assert_ptr_null(strstr(svg, "<title>")); /* no global title given */
    free(svg);
}
END_TEST

/* Spreads: a shaded band under a mean curve (split at a point without a
 * spread), error bars with caps, the y range covering them; category labels
 * on the x axis. */
START_TEST(test_svg_bands_bars_categories)
{
    static double x[4] = {0, 0.5, 1, 1.5}, y[4] = {1, 2, 1.5, 1}, lo[4] = {0.5, 1.5, NAN, 0.8},
                  hi[4] = {1.5, 2.5, NAN, 9};
    sk_series band = {.label = "mean ± std", .n = 4, .x = x, .y = y, .lo = lo, .hi = hi};
    sk_panel p = {.title = "band", .n_series = 1, .series = &band};
    const char *path = tu_path("band.svg");
    ck_assert_int_eq(sk_svg_plot(path, "bands", 1, &p, 400, 300), SK_OK);
    char *svg = tu_read(path, NULL);
    ck_assert_ptr_nonnull(strstr(svg, "fill-opacity=\"0.18\""));
    ck_assert_ptr_null(strstr(strstr(svg, "fill-opacity") + 1, "fill-opacity")); /* one run of 2+ points */
    ck_assert_ptr_nonnull(strstr(svg, ">8<"));                                   /* the y axis reaches hi = 9 */
    free(svg);

    static double cx[3] = {1, 2, 3}, cy[3] = {0.2, 0.1, 0.3}, clo[3] = {0.1, 0.05, 0.2}, chi[3] = {0.3, 0.15, 0.4};
    sk_series bars = {.label = "barrier ± std", .n = 3, .x = cx, .y = cy, .lo = clo, .hi = chi, .bars = 1};
    sk_panel q = {.n_series = 1, .series = &bars, .xlabel = "model.arch"};
    const char *const cats[3] = {"mlp", "vgg11", "resnet20"};
    path = tu_path("bars.svg");
    ck_assert_int_eq(sk_svg_plot_categories(path, "bars", 1, &q, cats, 3, 400, 300), SK_OK);
    svg = tu_read(path, NULL);
    ck_assert_ptr_nonnull(strstr(svg, ">resnet20<"));
    ck_assert_ptr_nonnull(strstr(svg, "h10M")); /* caps */
    ck_assert_ptr_null(strstr(svg, "fill-opacity"));
    free(svg);
}
END_TEST

static Suite *plot_suite(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_add_test(tc, test_json_validator_sanity);
    tcase_add_test(tc, test_json_exact_text);
    tcase_add_test(tc, test_json_escaping);
    tcase_add_test(tc, test_json_number_roundtrip);
    tcase_add_test(tc, test_json_misuse);
    tcase_add_test(tc, test_json_deep_and_large);
    tcase_add_test(tc, test_csv_quote);
    tcase_add_test(tc, test_csv_atomic_write);
    tcase_add_test(tc, test_svg_lmc_plot);
    tcase_add_test(tc, test_svg_nonfinite_and_degenerate);
    tcase_add_test(tc, test_svg_long_title_and_coinciding_curves);
    tcase_add_test(tc, test_svg_continual_and_many_series);
    tcase_add_test(tc, test_svg_bands_bars_categories);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(plot_suite());
}
