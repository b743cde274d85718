/*
 * corq.h — the C API of corq, an embeddable persistent message-queue engine.
 *
 * This header is the manual: every declaration states its contract — ownership of each pointer,
 * thread-safety of each handle, and the error codes it returns.
 *
 * Conventions (the whole API follows them):
 *   - Plain C99, usable from any FFI: opaque handles, fixed-width integers, no varargs, no inline
 *     functions, no bitfields, no enum-typed return values.
 *   - Every function returns int: 0 (CORQ_OK) on success, a negative CORQ_E* code on failure, unless
 *     its comment says otherwise.
 *   - On failure, corq_last_error() returns a human-readable detail message for the calling thread.
 */
#ifndef CORQ_CORQ_H
#define CORQ_CORQ_H

#include <stddef.h>
#include <stdint.h>

#if defined(CORQ_BUILDING_LIBRARY) && defined(__GNUC__)
#define CORQ_API __attribute__((visibility("default")))
#else
#define CORQ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ----------------------------------------------------------------------------------
 * CORQ_VERSION is MAJOR*10000 + MINOR*100 + PATCH of the headers you compiled against;
 * corq_version() is the same number for the library you linked. The shared library's SONAME carries
 * the major version: a change of major version is a change of ABI. */
#define CORQ_VERSION_MAJOR 0
#define CORQ_VERSION_MINOR 1
#define CORQ_VERSION_PATCH 0
#define CORQ_VERSION (CORQ_VERSION_MAJOR * 10000 + CORQ_VERSION_MINOR * 100 + CORQ_VERSION_PATCH)
#define CORQ_VERSION_STRING "0.1.0"

/* Returns CORQ_VERSION of the linked library. Thread-safe, never fails. */
CORQ_API uint32_t corq_version(void);
/* Returns "MAJOR.MINOR.PATCH" of the linked library: static storage, never NULL. Thread-safe. */
CORQ_API const char *corq_version_string(void);

/* ---- Errors -----------------------------------------------------------------------------------
 * Values are part of the ABI and never change meaning. */
#define CORQ_OK 0
#define CORQ_EINVAL (-1)        /* invalid argument: NULL handle, bad name, unknown key, bad value */
#define CORQ_ENOMEM (-2)        /* out of memory */
#define CORQ_EIO (-3)           /* an I/O operation failed */
#define CORQ_ENOSPC (-4)        /* the disk is full; publishing resumes when space frees */
#define CORQ_ENOENT (-5)        /* no such queue (or directory) */
#define CORQ_EEXIST (-6)        /* queue exists with different options */
#define CORQ_EFULL (-7)         /* queue full (overflow=reject, or overflow=block timed out) */
#define CORQ_ETIMEDOUT (-8)     /* the wait's timeout passed */
#define CORQ_ESTATE (-9)        /* wrong state: unknown or already-settled tag, ... */
#define CORQ_ECLOSED (-10)      /* the handle was closed or woken up for shutdown */
#define CORQ_EBUSY (-11)        /* the data directory is locked by another process */
#define CORQ_ECORRUPT (-12)     /* the log is corrupt before its tail */
#define CORQ_EFAILED (-13)      /* the engine failed (a log write or flush failed): fail-stop */
#define CORQ_ETOOBIG (-14)      /* message larger than max_message_bytes */
#define CORQ_EUNSUPPORTED (-15) /* not supported by this build or configuration */

/* Returns the name and meaning of any code, e.g. "CORQ_EFULL: queue full". Static storage, never
 * NULL; an unknown code gives "CORQ_E?: unknown error code". Thread-safe. */
CORQ_API const char *corq_strerror(int code);

/* Returns the detail message of the calling thread's last failed corq call (empty string if none).
 * Thread-local storage, never NULL; valid until the calling thread's next corq call. */
CORQ_API const char *corq_last_error(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CORQ_CORQ_H */
