/* buf.c - growable byte queue with lazy storage. */
#include "parley/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Small first allocation: most connections exchange short messages. */
#define BUF_MIN 512

int pl_buf_reserve(struct pl_buf *b, size_t n)
{
	size_t len = pl_buf_len(b), need, cap;
	uint8_t *p;

	if (b->cap - b->end >= n)
		return 0;
	if (b->start > 0 && b->cap - len >= n && len <= b->start) {
		/* sliding down is cheaper than growing while the live part is small */
		memcpy(b->data, b->data + b->start, len);
		b->start = 0;
		b->end = len;
		return 0;
	}
	if (n > SIZE_MAX / 2 - len)
		return -ENOMEM;
	need = len + n;
	for (cap = b->cap ? b->cap : BUF_MIN; cap < need; cap *= 2)
		;
	if (b->start > 0) {
		p = malloc(cap);
		if (!p)
			return -ENOMEM;
		memcpy(p, b->data + b->start, len);
		free(b->data);
	} else {
		p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	b->start = 0;
	b->end = len;
	return 0;
}

int pl_buf_append(struct pl_buf *b, const void *p, size_t n)
{
	int r = pl_buf_reserve(b, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->end, p, n);
	b->end += n;
	return 0;
}

void pl_buf_commit(struct pl_buf *b, size_t n) { b->end += n; }

void pl_buf_consume(struct pl_buf *b, size_t n)
{
	b->start += n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

void pl_buf_release(struct pl_buf *b)
{
	if (b->start == b->end)
		pl_buf_free(b);
}

void pl_buf_free(struct pl_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->start = b->end = b->cap = 0;
}
