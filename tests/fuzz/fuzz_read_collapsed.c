/* fuzz_read_collapsed.c — libFuzzer target: the collapsed reader of
 * agent/profile_read.c on any bytes, then every writer on what it
 * accepted (fuzz_read.h says what is checked).
 * Built only by scripts/fuzz.sh (clang, -Dfuzz=true). */
#include "fuzz_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_read(data, size, 0);
    return 0;
}
