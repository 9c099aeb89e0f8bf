/*
 * escape.h - make bytes from the network safe to show on a terminal.
 *
 * Printable ASCII is kept, a backslash becomes "\\", every other byte
 * becomes "\xHH".  Messages longer than a limit are cut and end with
 * "... (N bytes)".  Pure function, no allocation.
 */
#ifndef PARLEY_ESCAPE_H
#define PARLEY_ESCAPE_H

#include <stddef.h>

/* The limit the programs use for printed messages. */
#define PL_ESCAPE_LIMIT 200

/* Room escape needs for any message cut at limit: 4 bytes a byte, the suffix, NUL. */
#define PL_ESCAPE_CAP(limit) ((limit) * 4 + 40)

/*
 * Escapes p[0..n) into out (cap bytes, NUL-terminated).  When n > limit only
 * the first limit bytes are shown and " ... (n bytes)" is appended.  Returns
 * the length written.  cap must be at least PL_ESCAPE_CAP(limit) for the text
 * never to be truncated.
 */
size_t pl_escape(const void *p, size_t n, size_t limit, char *out, size_t cap);

#endif
