#ifndef AUTOWU_CMUNGE_H
#define AUTOWU_CMUNGE_H
#include <stdint.h>

/// MUNGE through libmunge.so.2 loaded at run time (dlopen): neither the build nor a binary that never meets a
/// credential needs libmunge. Every function returns a MUNGE error number (0: success), or -1 when libmunge
/// cannot be loaded; `message` then points at a static or thread-local text (never to be freed).

/// Whether libmunge loads; `message` says why not.
int autowu_munge_load(const char **message);

/// A credential for `payload` (NUL-terminated, free() it). `socket`: munged's socket, NULL for the default.
int autowu_munge_encode(const char *payload, int length, const char *socket, char **credential,
                        const char **message);

/// Decodes and verifies `credential`. `payload` is malloc'ed (free() it, even on some errors); NUL-terminated.
int autowu_munge_decode(const char *credential, const char *socket, char **payload, int *length,
                        uint32_t *uid, uint32_t *gid, const char **message);

#endif
