#include "cmunge.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

// The few declarations of munge.h used here (MUNGE 0.5, an ABI stable since 2004).
typedef struct munge_ctx *munge_ctx_t;
enum { MUNGE_OPT_SOCKET = 8, EMUNGE_SOCKET = 6 };

static struct {
    int (*encode)(char **, munge_ctx_t, const void *, int);
    int (*decode)(const char *, munge_ctx_t, void **, int *, uid_t *, gid_t *);
    const char *(*strerror)(int);
    munge_ctx_t (*ctx_create)(void);
    void (*ctx_destroy)(munge_ctx_t);
    int (*ctx_set)(munge_ctx_t, int, ...);
    int (*ctx_get)(munge_ctx_t, int, ...);
    const char *(*ctx_strerror)(munge_ctx_t);
} lib;
static const char *load_error;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_message[512];

static void load(void) {
    void *handle = dlopen("libmunge.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(load_message, sizeof load_message, "libmunge.so.2 cannot be loaded (%s): install libmunge2 (apt)", dlerror());
        load_error = load_message;
        return;
    }
    lib.encode = dlsym(handle, "munge_encode");
    lib.decode = dlsym(handle, "munge_decode");
    lib.strerror = dlsym(handle, "munge_strerror");
    lib.ctx_create = dlsym(handle, "munge_ctx_create");
    lib.ctx_destroy = dlsym(handle, "munge_ctx_destroy");
    lib.ctx_set = dlsym(handle, "munge_ctx_set");
    lib.ctx_strerror = dlsym(handle, "munge_ctx_strerror");
    lib.ctx_get = dlsym(handle, "munge_ctx_get");
    if (!lib.encode || !lib.decode || !lib.strerror || !lib.ctx_create || !lib.ctx_destroy || !lib.ctx_set || !lib.ctx_get || !lib.ctx_strerror) {
        load_error = "libmunge.so.2 lacks a function autowu needs";
    }
}

int autowu_munge_load(const char **message) {
    pthread_once(&load_once, load);
    if (load_error) { *message = load_error; return -1; }
    *message = NULL;
    return 0;
}

// A context for `socket` (NULL: libmunge's default); always one, since only a context keeps the precise error.
static int context(const char *socket, munge_ctx_t *ctx, const char **message) {
    *ctx = NULL;
    if (autowu_munge_load(message) != 0) return -1;
    *ctx = lib.ctx_create();
    if (!*ctx) { *message = "out of memory"; return 1; }
    if (!socket) return 0;
    int err = lib.ctx_set(*ctx, MUNGE_OPT_SOCKET, socket);
    if (err != 0) { *message = lib.strerror(err); lib.ctx_destroy(*ctx); *ctx = NULL; }
    return err;
}

static __thread char error_message[512];

// The context's message is the precise one ("Failed to connect to ..."); it lives in the context, so copy it.
static const char *describe(int err, munge_ctx_t ctx) {
    const char *text = ctx ? lib.ctx_strerror(ctx) : NULL;
    snprintf(error_message, sizeof error_message, "%s", text ? text : lib.strerror(err));
    return error_message;
}

// libmunge retries a missing socket for about two seconds before it gives up; a client that only tries MUNGE
// where it answers (autowu jobs, top) would stall that long on every request where munged is not running.
// Whether the socket exists says so at once. (A connect of our own would also catch a stale socket, but
// munged logs every connection that sends nothing.)
static int socket_exists(munge_ctx_t ctx, const char **message) {
    char *path = NULL;
    if (lib.ctx_get(ctx, MUNGE_OPT_SOCKET, &path) != 0 || !path) return 0;
    struct stat status;
    if (stat(path, &status) == 0 && S_ISSOCK(status.st_mode)) return 0;
    int reason = errno;
    snprintf(error_message, sizeof error_message, "Failed to connect to \"%s\": %s", path,
             access(path, F_OK) == 0 ? "not a socket" : strerror(reason));
    *message = error_message;
    return EMUNGE_SOCKET;
}

int autowu_munge_encode(const char *payload, int length, const char *socket, char **credential, const char **message) {
    munge_ctx_t ctx;
    int err = context(socket, &ctx, message);
    if (err != 0) return err;
    err = socket_exists(ctx, message);
    if (err != 0) { lib.ctx_destroy(ctx); return err; }
    err = lib.encode(credential, ctx, payload, length);
    *message = err ? describe(err, ctx) : NULL;
    if (ctx) lib.ctx_destroy(ctx);
    return err;
}

int autowu_munge_decode(const char *credential, const char *socket, char **payload, int *length,
                        uint32_t *uid, uint32_t *gid, const char **message) {
    munge_ctx_t ctx;
    *payload = NULL;
    *length = 0;
    int err = context(socket, &ctx, message);
    if (err != 0) return err;
    err = socket_exists(ctx, message);
    if (err != 0) { lib.ctx_destroy(ctx); return err; }
    void *buffer = NULL;
    uid_t u = (uid_t)-1;
    gid_t g = (gid_t)-1;
    err = lib.decode(credential, ctx, &buffer, length, &u, &g);
    *payload = buffer;
    *uid = (uint32_t)u;
    *gid = (uint32_t)g;
    *message = err ? describe(err, ctx) : NULL;
    if (ctx) lib.ctx_destroy(ctx);
    return err;
}
