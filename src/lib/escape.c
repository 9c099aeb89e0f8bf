/* escape.c - terminal-safe rendering of network bytes. */
#include "parley/escape.h"

#include <stdio.h>

static const char hex[] = "0123456789abcdef";

size_t pl_escape(const void *p, size_t n, size_t limit, char *out, size_t cap)
{
	const unsigned char *s = p;
	size_t shown = n < limit ? n : limit, o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = s[i];
		char tmp[4];
		size_t k = 0;

		if (c == '\\') {
			tmp[k++] = '\\';
			tmp[k++] = '\\';
		} else if (c >= 0x20 && c < 0x7f) {
			tmp[k++] = (char)c;
		} else {
			tmp[k++] = '\\';
			tmp[k++] = 'x';
			tmp[k++] = hex[c >> 4];
			tmp[k++] = hex[c & 15];
		}
		if (o + k >= cap)
			break;
		for (size_t j = 0; j < k; j++)
			out[o++] = tmp[j];
	}
	if (n > limit) {
		int m = snprintf(out + o, cap - o, "... (%zu bytes)", n);
		if (m > 0)
			o += (size_t)m < cap - o ? (size_t)m : cap - o - 1;
	}
	out[o] = '\0';
	return o;
}
