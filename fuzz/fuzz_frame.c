/*
 * fuzz_frame - libFuzzer harness for the len and line decoders.
 * The first byte picks the protocol and a split point; the rest is the stream.
 * Invariants, not only crashes:
 *   - feeding the stream whole or split at any point yields the same messages;
 *   - the messages re-encode to exactly the bytes they were decoded from.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/frame.h"

#define MAX 300

/* Decodes p in two pieces cut at `cut`; appends each message re-encoded to out. */
static int decode(enum pl_proto proto, const uint8_t *p, size_t n, size_t cut, struct pl_buf *out,
		  size_t *consumed)
{
	struct pl_decoder d;
	struct pl_frame f;
	int r = 0;

	pl_decoder_init(&d, proto, MAX);
	*consumed = 0;
	for (int k = 0; k < 2 && r >= 0; k++) {
		pl_decoder_feed(&d, k ? p + cut : p, k ? n - cut : cut);
		while ((r = pl_decoder_next(&d, &f)) == 1) {
			pl_frame_append(proto, out, f.msg, f.len);
			*consumed += f.used;
		}
	}
	pl_decoder_free(&d);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl_buf a = { 0 }, b = { 0 };
	enum pl_proto proto;
	size_t n, cut, ca, cb;
	int ra, rb;

	if (size < 2)
		return 0;
	proto = data[0] & 1 ? PL_PROTO_LINE : PL_PROTO_LEN;
	n = size - 1;
	cut = data[0] % (n + 1);
	ra = decode(proto, data + 1, n, n, &a, &ca);
	rb = decode(proto, data + 1, n, cut, &b, &cb);
	/* any split gives the same messages and the same verdict */
	if (ra != rb || ca != cb || pl_buf_len(&a) != pl_buf_len(&b) ||
	    (pl_buf_len(&a) && memcmp(pl_buf_head(&a), pl_buf_head(&b), pl_buf_len(&a)) != 0))
		abort();
	/* len: re-encoding reproduces the consumed input byte for byte */
	if (proto == PL_PROTO_LEN &&
	    (pl_buf_len(&a) != ca || (ca && memcmp(pl_buf_head(&a), data + 1, ca) != 0)))
		abort();
	/* line: the same, once CRLF is normalised to LF */
	if (proto == PL_PROTO_LINE) {
		size_t j = 0;
		for (size_t i = 0; i < ca; i++) {
			if (data[1 + i] == '\r' && i + 1 < ca && data[2 + i] == '\n')
				continue;
			if (j >= pl_buf_len(&a) || pl_buf_head(&a)[j++] != data[1 + i])
				abort();
		}
		if (j != pl_buf_len(&a))
			abort();
	}
	pl_buf_free(&a);
	pl_buf_free(&b);
	return 0;
}
