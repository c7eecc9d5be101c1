/* main.c - sinkrb command line: parse, dispatch, map statuses to exit codes.
 * Everything else lives in libsinkrb (src/app for the commands). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "core/blas.h"
#include "core/err.h"

#define MAX_SETS 256

static void usage(FILE *f)
{
    fputs("Usage: sinkrb COMMAND [OPTIONS]\n"
          "Permutation re-basin experiment runner: weight matching, activation matching,\n"
          "Sinkhorn re-basin and continual learning, with linear-mode-connectivity curves.\n"
          "\n"
          "Commands:\n"
          "  run CONFIG.yaml        run the experiment; results go to results/<name>/\n"
          "  check CONFIG.yaml      validate CONFIG and print the resolved config (runs nothing)\n"
          "  plan CONFIG.yaml       list the work units (sweep items x repetitions), the endpoint\n"
          "                         trainings they share, and which are complete\n"
          "  collect DIR            write a sweep's or repetitions' results in DIR from the finished\n"
          "                         units; lists the missing ones (exit 1 when any)\n"
          "  info FILE.h5           list the tensors (shape, dtype, min/max/mean/L2 norm) and attributes\n"
          "\n"
          "Options:\n"
          "  -s, --set KEY=VALUE    override a config key (repeatable; nested keys, YAML flow values,\n"
          "                         e.g. --set model.hidden=[1024,1024])\n"
          "  -o, --output DIR       results folder (default results/<name>)\n"
          "      --seed N           override the config's seed\n"
          "  -j, --threads N        threads for BLAS and OpenMP (0 = one per core)\n"
          "      --progress WHEN    auto, always or never: progress on stderr (default auto = when a terminal)\n"
          "  -q, --quiet            no summary table on stdout\n"
          "      --restart          run: redo everything (retrain endpoints in their default location\n"
          "                         or the endpoint cache, rerun finished units) instead of resuming\n"
          "      --unit K           run: only unit K of the plan (0-based; sinkrb plan lists them), e.g.\n"
          "                         as one task of a job array; then sinkrb collect\n"
          "      --verify-spec      check: prove the model's permutation spec (outputs unchanged under\n"
          "                         random permutations of every group, on a batch of real inputs)\n"
          "  -h, --help             show this help and exit\n"
          "  -V, --version          show version, BLAS library, its CPU kernel, threads and MPI, and exit\n"
          "\n"
          "Under mpirun (a build with MPI), run distributes the units of a sweep or of repetitions\n"
          "over the ranks: mpirun -np K sinkrb run CONFIG.yaml -j THREADS_PER_RANK.\n"
          "Exit status: 0 success, 1 runtime failure, 2 usage or config error.\n"
          "See man sinkrb for the config keys (in a build tree: man ./man/sinkrb.1).\n",
          f);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "sinkrb: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'sinkrb --help'.\n");
    return 2;
}

static void version(int threads)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    printf("sinkrb %s\n", PACKAGE_VERSION);
    printf("BLAS: %s, kernel %s (%s)\n", sk_blas_name(), sk_blas_kernel(), sk_blas_kernel_how());
#ifdef _OPENMP
    printf("threads: %d (OpenMP enabled)\n", threads);
#else
    printf("threads: %d (OpenMP disabled)\n", threads);
#endif
    if (sk_mpi_library())
        printf("MPI: %s (mpirun -np K sinkrb run distributes the units over K ranks)\n", sk_mpi_library());
    else
        printf("MPI: no (built without; ./configure --with-mpi)\n");
}

static int finish(sk_status st)
{
    if (st != SK_OK) {
        const char *msg = sk_err_msg();
        fprintf(stderr, "sinkrb: %s\n", *msg ? msg : sk_status_name(st));
    }
    return sk_status_exit_code(st);
}

/* COMMAND ARG: run, check, plan, collect or info with its one argument. */
static int command(sk_app_opts *o, const char *cmd, int argc, char **argv)
{
    static const char *const known[] = {"run", "check", "plan", "collect", "info"};
    int k = 0;
    while (k < 5 && strcmp(cmd, known[k]))
        k++;
    if (k == 5) return usage_error("unknown command '%s' (expected run, check, plan, collect or info)", cmd);
    if (argc > 1) return usage_error("unexpected argument '%s'", argv[1]);
    if (!strcmp(cmd, "run") || !strcmp(cmd, "check")) {
        if (argc < 1) return usage_error("%s needs a CONFIG.yaml argument", cmd);
        o->config_path = argv[0];
        if (o->verify_spec && strcmp(cmd, "check")) return usage_error("--verify-spec is an option of %s", "check");
        if (o->restart && strcmp(cmd, "run")) return usage_error("--restart is an option of %s", "run");
        if (o->unit >= 0 && strcmp(cmd, "run")) return usage_error("--unit is an option of %s", "run");
        return finish(!strcmp(cmd, "run") ? sk_app_run(o) : sk_app_check(o));
    }
    if (!strcmp(cmd, "plan") || !strcmp(cmd, "collect")) {
        int plan = !strcmp(cmd, "plan");
        if (argc < 1) return usage_error(plan ? "%s needs a CONFIG.yaml argument" : "%s needs a DIR argument", cmd);
        if (o->restart || o->unit >= 0 || o->verify_spec)
            return usage_error("%s takes no --restart, --unit or --verify-spec", cmd);
        if (!plan && o->n_sets)
            return usage_error("%s takes no --set, -o, --seed or -j: it reads DIR/config.yaml", cmd);
        o->config_path = argv[0];
        return finish(plan ? sk_app_plan(o) : sk_app_collect(o, argv[0]));
    }
    if (argc < 1) return usage_error("%s needs a FILE.h5 argument", cmd); /* info */
    return finish(sk_app_info(argv[0]));
}

int main(int argc, char **argv)
{
    enum { OPT_SEED = 1000, OPT_PROGRESS, OPT_VERIFY, OPT_RESTART, OPT_UNIT };
    static const struct option longopts[] = {
        {"set", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, 'j'},
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"quiet", no_argument, NULL, 'q'},
        {"verify-spec", no_argument, NULL, OPT_VERIFY},
        {"restart", no_argument, NULL, OPT_RESTART},
        {"unit", required_argument, NULL, OPT_UNIT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static char setbuf[MAX_SETS][4200];
    const char *sets[MAX_SETS];
    int n_sets = 0, c, threads = -1;
    sk_app_opts o;
    memset(&o, 0, sizeof o);
    o.unit = -1;

    sk_blas_init(argc, argv);
    sk_threads_set(1);

    while ((c = getopt_long(argc, argv, "s:o:j:qhV", longopts, NULL)) != -1) {
        const char *key = NULL;
        char *end;
        switch (c) {
        case 's':
            key = "";
            break;
        case 'o':
            key = "output=";
            break;
        case OPT_SEED: {
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || *end || !*optarg || optarg[0] == '-')
                return usage_error("--seed needs a non-negative integer (got '%s')", optarg);
            (void)v;
            key = "seed=";
            break;
        }
        case 'j': {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || !*optarg || v < 0 || v > 1024)
                return usage_error("--threads needs an integer in 0..1024 (got '%s')", optarg);
            threads = (int)v;
            key = "threads=";
            break;
        }
        case OPT_PROGRESS:
            if (!strcmp(optarg, "auto"))
                o.progress = SK_PROGRESS_AUTO;
            else if (!strcmp(optarg, "always"))
                o.progress = SK_PROGRESS_ALWAYS;
            else if (!strcmp(optarg, "never"))
                o.progress = SK_PROGRESS_NEVER;
            else
                return usage_error("--progress must be auto, always or never (got '%s')", optarg);
            break;
        case 'q':
            o.quiet = 1;
            break;
        case OPT_VERIFY:
            o.verify_spec = 1;
            break;
        case OPT_RESTART:
            o.restart = 1;
            break;
        case OPT_UNIT: {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || !*optarg || v < 0 || v > 100000000)
                return usage_error("--unit needs a unit number >= 0 (got '%s')", optarg);
            o.unit = (int)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            version(threads);
            return 0;
        default:
            fprintf(stderr, "Try 'sinkrb --help'.\n");
            return 2;
        }
        if (key) {
            if (n_sets == MAX_SETS) return usage_error("too many overrides (at most %s)", "256");
            snprintf(setbuf[n_sets], sizeof setbuf[0], "%s%s", key, optarg);
            sets[n_sets] = setbuf[n_sets];
            n_sets++;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    o.sets = sets;
    o.n_sets = n_sets;
    return command(&o, argv[optind], argc - optind - 1, argv + optind + 1);
}
