/* error.c - one negative int for errno and resolver errors alike. */
#include "parley/error.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>

int pl_err_from_eai(int eai, int saved_errno)
{
	if (eai == EAI_SYSTEM)
		return saved_errno ? -saved_errno : -EIO;
	/* glibc's codes are negative, other libcs' positive: one sign here */
	return -PL_EAI_BASE - (eai < 0 ? -eai : eai);
}

const char *pl_strerror(int err)
{
	if (pl_err_is_eai(err)) {
		int code = -err - PL_EAI_BASE;
		/* back to the sign this libc uses: EAI_NONAME tells which */
		return gai_strerror(EAI_NONAME < 0 ? -code : code);
	}
	return strerror(err < 0 ? -err : err);
}
