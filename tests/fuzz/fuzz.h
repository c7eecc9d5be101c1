/* fuzz.h - shared by the libFuzzer targets: each writes its input to a file
 * (the loaders read files, as sinkrb does) in a private folder and calls the
 * loader; an error status is fine, a crash, hang or leak is a finding. */
#ifndef SK_FUZZ_H
#define SK_FUZZ_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* A private scratch folder for this process (created once). */
const char *fuzz_dir(void);
/* Write data to fuzz_dir()/name; returns the path (static buffer per call site). */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size, char *path, size_t n);

#endif
