/*
 * frame.h - message framing, as pure functions over bytes.
 *
 * The "len" protocol: a 4-byte little-endian unsigned length, then that many
 * bytes (0 allowed).  pl_frame_parse looks at the bytes a connection has
 * buffered and says whether a whole message is there; it never allocates and
 * never does I/O, so a header over the maximum is refused before a single
 * byte is reserved for its body.  struct pl_decoder adds a buffer on top for
 * callers that receive bytes in arbitrary pieces (one at a time works).
 */
#ifndef PARLEY_FRAME_H
#define PARLEY_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include "parley/buf.h"

enum pl_proto {
	PL_PROTO_LEN = 0, /* 4-byte little-endian length + body */
	PL_PROTO_LINE,    /* a line ending in \n, an optional \r before it dropped */
	PL_PROTO_RAW,     /* no framing: whatever arrives is one message */
};

#define PL_FRAME_MAX_DEFAULT (16u * 1024 * 1024)
#define PL_LEN_HEADER 4

/* Parses a protocol name ("len", "line", "raw").  0 or -EINVAL. */
int pl_proto_parse(const char *name, enum pl_proto *p);
const char *pl_proto_name(enum pl_proto p);

struct pl_frame {
	const uint8_t *msg; /* points into the parsed bytes */
	size_t len;         /* message length */
	size_t used;        /* bytes to consume, framing included */
	uint64_t declared;  /* with -EMSGSIZE: the size the peer asked for */
};

/*
 * Looks for one whole message at the start of p[0..n).  Returns 1 with *f
 * filled, 0 when more bytes are needed (f->used is then the bytes the whole
 * message will take when the framing tells, else 0), or -EMSGSIZE when the
 * message is or would be longer than max (f->declared says how long).
 */
int pl_frame_parse(enum pl_proto proto, const uint8_t *p, size_t n,
		   uint32_t max, struct pl_frame *f);

/*
 * pl_frame_parse for a caller that parses the same growing bytes again as
 * more arrive: the first `scanned` bytes of p are known to hold no line end
 * (what the last call that returned 0 searched), so line mode does not
 * search them again and a long line arriving in pieces costs O(1) per byte.
 * Other protocols ignore it.
 */
int pl_frame_parse_from(enum pl_proto proto, const uint8_t *p, size_t n,
			uint32_t max, size_t scanned, struct pl_frame *f);

/*
 * The end-of-stream rule: bytes p[0..n) were left when the peer closed.
 * Returns how many terminator bytes make them a whole message (1 in line
 * mode when the last line is unterminated, else 0): the caller appends
 * pl_frame_encode_tail's bytes.
 */
size_t pl_frame_eof_tail(enum pl_proto proto, const uint8_t *p, size_t n);

/* Bytes of framing pl_frame_encode_head / pl_frame_encode_tail write; the same
 * for every message of a protocol, whatever its length. */
size_t pl_frame_head_len(enum pl_proto proto);
size_t pl_frame_tail_len(enum pl_proto proto);

/* Writes framing before / after a message body; return the bytes written. */
size_t pl_frame_encode_head(enum pl_proto proto, uint8_t *out, size_t len);
size_t pl_frame_encode_tail(enum pl_proto proto, uint8_t *out);

/* Appends a whole framed message to b.  0, -ENOMEM, or -EMSGSIZE (over 4 GiB). */
int pl_frame_append(enum pl_proto proto, struct pl_buf *b, const void *msg, size_t len);

/* An incremental decoder: feed bytes in any split, take whole messages out. */
struct pl_decoder {
	enum pl_proto proto;
	uint32_t max;
	struct pl_buf in;
	size_t pending; /* bytes of the last message returned, consumed on next call */
	size_t scanned; /* leading bytes known to hold no line end */
};

/* max: the longest message accepted; 0: PL_FRAME_MAX_DEFAULT. */
void pl_decoder_init(struct pl_decoder *d, enum pl_proto proto, uint32_t max);
int pl_decoder_feed(struct pl_decoder *d, const void *p, size_t n); /* 0 or -ENOMEM */
/*
 * Returns 1 with *f set (valid until the next call), 0 when more bytes are
 * needed, -EMSGSIZE for an oversized message.  In raw mode every call returns
 * all buffered bytes as one message.
 */
int pl_decoder_next(struct pl_decoder *d, struct pl_frame *f);
/*
 * The peer has closed: in line mode an unterminated last line counts as a
 * message, so it is terminated here and the next pl_decoder_next returns it
 * (pl_frame_eof_tail: whole lines already buffered get nothing added).
 * Other protocols are left alone (a partial len message is just incomplete).
 * 0 or -ENOMEM.
 */
int pl_decoder_eof(struct pl_decoder *d);
/* Bytes buffered that do not yet form a message. */
size_t pl_decoder_buffered(const struct pl_decoder *d);
void pl_decoder_free(struct pl_decoder *d);

#endif
