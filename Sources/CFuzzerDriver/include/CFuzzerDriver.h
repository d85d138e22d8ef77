#ifndef AUTOWU_CFUZZERDRIVER_H
#define AUTOWU_CFUZZERDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for a program with its own main (LLVM >= 11). Present only when the program is
/// linked with -sanitize=fuzzer; autowu-fuzz calls it only when built with -DFUZZING (scripts/fuzz).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
