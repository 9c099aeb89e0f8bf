/* frame.c - the len, line and raw framings as pure functions over bytes. */
#include "parley/frame.h"

#include <errno.h>
#include <string.h>

static const char *const names[] = { "len", "line", "raw" };

int pl_proto_parse(const char *name, enum pl_proto *p)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0) {
			*p = (enum pl_proto)i;
			return 0;
		}
	return -EINVAL;
}

const char *pl_proto_name(enum pl_proto p)
{
	return (unsigned)p < 3 ? names[p] : "?";
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int parse_len(const uint8_t *p, size_t n, uint32_t max, struct pl_frame *f)
{
	uint32_t len;

	if (n < PL_LEN_HEADER)
		return 0;
	len = get_le32(p);
	if (len > max) {
		f->declared = len;
		return -EMSGSIZE;
	}
	if (n - PL_LEN_HEADER < len) {
		f->used = PL_LEN_HEADER + (size_t)len; /* lets a reader size its buffer */
		return 0;
	}
	f->msg = p + PL_LEN_HEADER;
	f->len = len;
	f->used = PL_LEN_HEADER + (size_t)len;
	return 1;
}

static int parse_line(const uint8_t *p, size_t n, uint32_t max, size_t scanned,
		      struct pl_frame *f)
{
	/* search no further than a legal line can reach, so garbage costs O(max),
	 * and not again through bytes an earlier call already searched */
	size_t span = n < (size_t)max + 2 ? n : (size_t)max + 2;
	const uint8_t *nl = scanned < span ? memchr(p + scanned, '\n', span - scanned) : NULL;
	size_t len;

	if (!nl) {
		if (n > (size_t)max + 1 || (n == (size_t)max + 1 && p[max] != '\r')) {
			f->declared = n;
			return -EMSGSIZE;
		}
		return 0;
	}
	len = (size_t)(nl - p);
	f->used = len + 1;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	if (len > max) {
		f->declared = len;
		return -EMSGSIZE;
	}
	f->msg = p;
	f->len = len;
	return 1;
}

int pl_frame_parse(enum pl_proto proto, const uint8_t *p, size_t n, uint32_t max,
		   struct pl_frame *f)
{
	return pl_frame_parse_from(proto, p, n, max, 0, f);
}

int pl_frame_parse_from(enum pl_proto proto, const uint8_t *p, size_t n, uint32_t max,
			size_t scanned, struct pl_frame *f)
{
	f->used = 0;
	if (n == 0)
		return 0; /* also keeps a NULL p away from memchr */
	switch (proto) {
	case PL_PROTO_LEN:
		return parse_len(p, n, max, f);
	case PL_PROTO_LINE:
		return parse_line(p, n, max, scanned, f);
	default:
		f->msg = p;
		f->len = f->used = n < max || max == 0 ? n : max;
		return 1;
	}
}

size_t pl_frame_eof_tail(enum pl_proto proto, const uint8_t *p, size_t n)
{
	/* only a partial last line needs one: whole lines already waiting
	 * (a server holding them back under backpressure) must not gain an
	 * empty line after them */
	return proto == PL_PROTO_LINE && n > 0 && p[n - 1] != '\n';
}

size_t pl_frame_head_len(enum pl_proto proto) { return proto == PL_PROTO_LEN ? PL_LEN_HEADER : 0; }
size_t pl_frame_tail_len(enum pl_proto proto) { return proto == PL_PROTO_LINE ? 1 : 0; }

size_t pl_frame_encode_head(enum pl_proto proto, uint8_t *out, size_t len)
{
	if (proto != PL_PROTO_LEN)
		return 0;
	out[0] = (uint8_t)len;
	out[1] = (uint8_t)(len >> 8);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 24);
	return PL_LEN_HEADER;
}

size_t pl_frame_encode_tail(enum pl_proto proto, uint8_t *out)
{
	if (proto != PL_PROTO_LINE)
		return 0;
	out[0] = '\n';
	return 1;
}

int pl_frame_append(enum pl_proto proto, struct pl_buf *b, const void *msg, size_t len)
{
	size_t head = pl_frame_head_len(proto), tail = pl_frame_tail_len(proto);
	int r;

	if (proto == PL_PROTO_LEN && len > UINT32_MAX)
		return -EMSGSIZE;
	if ((r = pl_buf_reserve(b, head + len + tail)) < 0)
		return r;
	pl_frame_encode_head(proto, pl_buf_tail(b), len);
	if (len)
		memcpy(pl_buf_tail(b) + head, msg, len);
	pl_frame_encode_tail(proto, pl_buf_tail(b) + head + len);
	pl_buf_commit(b, head + len + tail);
	return 0;
}

void pl_decoder_init(struct pl_decoder *d, enum pl_proto proto, uint32_t max)
{
	memset(d, 0, sizeof(*d));
	d->proto = proto;
	d->max = max ? max : PL_FRAME_MAX_DEFAULT;
}

int pl_decoder_feed(struct pl_decoder *d, const void *p, size_t n)
{
	pl_buf_consume(&d->in, d->pending);
	d->pending = 0;
	return pl_buf_append(&d->in, p, n);
}

int pl_decoder_next(struct pl_decoder *d, struct pl_frame *f)
{
	int r;

	pl_buf_consume(&d->in, d->pending);
	d->pending = 0;
	r = pl_frame_parse_from(d->proto, pl_buf_head(&d->in), pl_buf_len(&d->in), d->max,
				d->scanned, f);
	if (r == 1)
		d->pending = f->used;
	/* the bytes searched hold no line end: the next call starts past them */
	d->scanned = r == 0 && d->proto == PL_PROTO_LINE ? pl_buf_len(&d->in) : 0;
	return r;
}

int pl_decoder_eof(struct pl_decoder *d)
{
	pl_buf_consume(&d->in, d->pending);
	d->pending = 0;
	if (!pl_frame_eof_tail(d->proto, pl_buf_head(&d->in), pl_buf_len(&d->in)))
		return 0;
	return pl_buf_append(&d->in, "\n", 1);
}

size_t pl_decoder_buffered(const struct pl_decoder *d)
{
	return pl_buf_len(&d->in) - d->pending;
}

void pl_decoder_free(struct pl_decoder *d)
{
	pl_buf_free(&d->in);
	d->pending = d->scanned = 0;
}
