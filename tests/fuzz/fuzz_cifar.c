/* fuzz_cifar.c - the CIFAR binary readers: the input is one batch file, read
 * as CIFAR-10's test batch and as CIFAR-100's training file (fine and coarse). */
#include <string.h>

#include "data/formats.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    sk_split sp;
    fuzz_write("test_batch.bin", data, size, path, sizeof path);
    fuzz_write("train.bin", data, size, path, sizeof path);
    memset(&sp, 0, sizeof sp);
    sk_err_clear();
    if (sk_cifar10_load_split(fuzz_dir(), 0, &sp) == SK_OK) sk_split_free(&sp);
    for (int coarse = 0; coarse < 2; coarse++) {
        memset(&sp, 0, sizeof sp);
        sk_err_clear();
        if (sk_cifar100_load_split(fuzz_dir(), 1, coarse, &sp) == SK_OK) sk_split_free(&sp);
    }
    return 0;
}
