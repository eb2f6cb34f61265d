/*
 * status.h - recording errors for kvlm_last_error().
 *
 * kvlm_fail(code, fmt, ...) formats a message into the calling thread's
 * error buffer and returns code, so failure paths read
 *     return kvlm_fail(KVLM_ERR_FORMAT, "%s: tensor '%s': offset %llu past end", ...);
 * Messages name the file, the field and the offset where they can.
 */
#ifndef KVLM_STATUS_H
#define KVLM_STATUS_H

#include "kvlm.h"

#if defined(__GNUC__)
#define KVLM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KVLM_PRINTF(a, b)
#endif

kvlm_status kvlm_fail(kvlm_status code, const char *fmt, ...) KVLM_PRINTF(2, 3);
/* Prefixes the current error message with "prefix: ". Returns code. */
kvlm_status kvlm_fail_prefix(kvlm_status code, const char *fmt, ...) KVLM_PRINTF(2, 3);
void kvlm_clear_error(void);

#endif /* KVLM_STATUS_H */
