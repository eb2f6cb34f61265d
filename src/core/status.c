/*
 * status.c - per-thread error messages behind kvlm_last_error().
 * The buffer is thread-local so concurrent sessions never see each other's
 * errors; messages longer than the buffer are truncated, never overflowed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"

#define KVLM_ERRBUF 1024
static _Thread_local char g_err[KVLM_ERRBUF];

const char *kvlm_last_error(void) { return g_err; }

void kvlm_clear_error(void) { g_err[0] = 0; }

kvlm_status kvlm_fail(kvlm_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return code;
}

kvlm_status kvlm_fail_prefix(kvlm_status code, const char *fmt, ...)
{
    char prefix[512], old[KVLM_ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_err, sizeof old);
    size_t np = strlen(prefix), no = strlen(old);
    if (np > sizeof g_err - 3) np = sizeof g_err - 3;
    memcpy(g_err, prefix, np);
    memcpy(g_err + np, ": ", 2);
    if (no > sizeof g_err - np - 3) no = sizeof g_err - np - 3;
    memcpy(g_err + np + 2, old, no);
    g_err[np + 2 + no] = 0;
    return code;
}

const char *kvlm_status_name(kvlm_status s)
{
    switch (s) {
    case KVLM_OK: return "KVLM_OK";
    case KVLM_ERR_INVALID_ARG: return "KVLM_ERR_INVALID_ARG";
    case KVLM_ERR_IO: return "KVLM_ERR_IO";
    case KVLM_ERR_FORMAT: return "KVLM_ERR_FORMAT";
    case KVLM_ERR_UNSUPPORTED: return "KVLM_ERR_UNSUPPORTED";
    case KVLM_ERR_NOMEM: return "KVLM_ERR_NOMEM";
    case KVLM_ERR_KV_FULL: return "KVLM_ERR_KV_FULL";
    case KVLM_ERR_CONTEXT_FULL: return "KVLM_ERR_CONTEXT_FULL";
    case KVLM_ERR_INTERNAL: return "KVLM_ERR_INTERNAL";
    }
    return "KVLM_ERR_UNKNOWN";
}

const char *kvlm_version(void) { return "0.1.0"; }
