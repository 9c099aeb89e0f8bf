/*
 * error.h - parley's error space: a negative errno, or a resolver error.
 *
 * Every library function returns 0 (or a count or fd) on success and a
 * negative number on failure.  Most are -errno.  getaddrinfo's EAI_* codes
 * are small negatives too (glibc's EAI_NONAME is -2, the same as -ENOENT),
 * so pl_addr_resolve maps them below -PL_EAI_BASE, past every errno
 * (Linux keeps those under 4096), and pl_strerror tells them apart.
 */
#ifndef PARLEY_ERROR_H
#define PARLEY_ERROR_H

#define PL_EAI_BASE 5000

/* The parley error for getaddrinfo's result eai (non-zero); EAI_SYSTEM
 * becomes -errno (pass the errno it left). */
int pl_err_from_eai(int eai, int saved_errno);

/* True for an error that came from the resolver. */
static inline int pl_err_is_eai(int err) { return err <= -PL_EAI_BASE; }

/* Text for any parley error (-errno or a resolver error): a static string. */
const char *pl_strerror(int err);

#endif
