/*
 * buf.h - a byte queue: append at the end, consume from the front.
 *
 * Storage is allocated on first use and released by pl_buf_release when the
 * queue is empty, so an idle connection holds no buffer memory.  Zeroed
 * memory is an empty buffer.  Pointers from pl_buf_head and pl_buf_tail are
 * valid until the next reserve, append, release or free (storage may move).
 */
#ifndef PARLEY_BUF_H
#define PARLEY_BUF_H

#include <stddef.h>
#include <stdint.h>

struct pl_buf {
	uint8_t *data;
	size_t start; /* first unread byte */
	size_t end;   /* one past the last byte */
	size_t cap;
};

static inline size_t pl_buf_len(const struct pl_buf *b) { return b->end - b->start; }
/* (an empty buffer may have no storage: no arithmetic on its NULL pointer) */
static inline uint8_t *pl_buf_head(const struct pl_buf *b) { return b->data ? b->data + b->start : b->data; }
static inline uint8_t *pl_buf_tail(const struct pl_buf *b) { return b->data ? b->data + b->end : b->data; }
static inline size_t pl_buf_room(const struct pl_buf *b) { return b->cap - b->end; }

/* Makes room for n more bytes at the tail.  0 or -ENOMEM. */
int pl_buf_reserve(struct pl_buf *b, size_t n);

/* Appends n bytes.  0 or -ENOMEM. */
int pl_buf_append(struct pl_buf *b, const void *p, size_t n);

/* Marks n bytes written at the tail (after writing into pl_buf_tail). */
void pl_buf_commit(struct pl_buf *b, size_t n);

/* Drops n bytes from the front; an emptied buffer rewinds to offset 0. */
void pl_buf_consume(struct pl_buf *b, size_t n);

/* Frees the storage if the buffer is empty. */
void pl_buf_release(struct pl_buf *b);

/* Frees the storage unconditionally. */
void pl_buf_free(struct pl_buf *b);

#endif
