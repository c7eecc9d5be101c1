/* main.c - sinkrb command line: parse, dispatch, turn statuses into exit codes. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/blas.h"

int main(int argc, char **argv)
{
    sk_blas_init(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("sinkrb %s\nBLAS: %s, kernel %s (%s)\n", PACKAGE_VERSION, sk_blas_name(),
               sk_blas_kernel(), sk_blas_kernel_how());
        return 0;
    }
    return 0;
}
