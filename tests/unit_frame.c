/* unit_frame.c - the len framing: encoder, parser, incremental decoder. */
#include <errno.h>

#include "parley/frame.h"
#include "unit.h"

/* Builds a stream of framed messages of the given lengths (bytes 'a'+i). */
static size_t build(struct pl_buf *b, const size_t *lens, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t body[300];
		memset(body, 'a' + (int)i, lens[i]);
		CHECK(pl_frame_append(PL_PROTO_LEN, b, body, lens[i]) == 0);
	}
	return pl_buf_len(b);
}

/* Feeds the stream in pieces of `step` bytes (cycling through steps) and checks the messages. */
static void feed_split(const uint8_t *s, size_t n, size_t cut1, size_t cut2, const size_t *lens,
		       size_t nmsg)
{
	struct pl_decoder d;
	struct pl_frame f;
	size_t got = 0, cuts[4] = { 0, cut1, cut2, n };

	pl_decoder_init(&d, PL_PROTO_LEN, 256);
	for (int k = 0; k < 3; k++) {
		CHECK(pl_decoder_feed(&d, s + cuts[k], cuts[k + 1] - cuts[k]) == 0);
		int r;
		while ((r = pl_decoder_next(&d, &f)) == 1) {
			CHECK(got < nmsg);
			if (got < nmsg) {
				CHECK_EQ_INT(f.len, lens[got]);
				for (size_t j = 0; j < f.len; j++)
					CHECK(f.msg[j] == 'a' + got);
			}
			got++;
		}
		CHECK_EQ_INT(r, 0);
	}
	CHECK_EQ_INT(got, nmsg);
	CHECK_EQ_INT(pl_decoder_buffered(&d), 0);
	pl_decoder_free(&d);
}

static void test_frame_split_every_byte(void)
{
	static const size_t lens[] = { 5, 0, 1, 0, 17, 256, 3 };
	struct pl_buf b = { 0 };
	size_t n = build(&b, lens, 7);

	/* every pair of cut points: each message split at every boundary */
	for (size_t c1 = 0; c1 <= n; c1++)
		for (size_t c2 = c1; c2 <= n; c2 += 7)
			feed_split(pl_buf_head(&b), n, c1, c2, lens, 7);
	pl_buf_free(&b);
}

static void test_frame_one_byte_at_a_time(void)
{
	static const size_t lens[] = { 0, 9, 0, 200 };
	struct pl_buf b = { 0 };
	size_t n = build(&b, lens, 4), got = 0;
	struct pl_decoder d;
	struct pl_frame f;

	pl_decoder_init(&d, PL_PROTO_LEN, 256);
	for (size_t i = 0; i < n; i++) {
		CHECK(pl_decoder_feed(&d, pl_buf_head(&b) + i, 1) == 0);
		while (pl_decoder_next(&d, &f) == 1)
			CHECK_EQ_INT(f.len, lens[got++]);
	}
	CHECK_EQ_INT(got, 4);
	pl_decoder_free(&d);
	pl_buf_free(&b);
}

static void test_frame_zero_length(void)
{
	const uint8_t z[4] = { 0, 0, 0, 0 };
	struct pl_frame f;

	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LEN, z, 4, 16, &f), 1);
	CHECK_EQ_INT(f.len, 0);
	CHECK_EQ_INT(f.used, 4);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LEN, z, 3, 16, &f), 0);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LEN, z, 0, 16, &f), 0);
}

static void test_frame_maximum_and_one_over(void)
{
	uint8_t hdr[4];
	struct pl_frame f;
	static uint8_t body[4 + 1000];

	pl_frame_encode_head(PL_PROTO_LEN, body, 1000);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LEN, body, sizeof(body), 1000, &f), 1);
	CHECK_EQ_INT(f.len, 1000);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LEN, body, sizeof(body) - 1, 1000, &f), 0);
	/* one over: refused from the header alone, before the body exists */
	pl_frame_encode_head(PL_PROTO_LEN, hdr, 1001);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LEN, hdr, 4, 1000, &f), -EMSGSIZE);
	CHECK_EQ_INT(f.declared, 1001);
	pl_frame_encode_head(PL_PROTO_LEN, hdr, 0xffffffffu);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LEN, hdr, 4, PL_FRAME_MAX_DEFAULT, &f), -EMSGSIZE);
	CHECK_EQ_INT(f.declared, 0xffffffffu);
}

static void test_frame_little_endian_header(void)
{
	uint8_t h[4];

	pl_frame_encode_head(PL_PROTO_LEN, h, 0x01020304);
	CHECK(h[0] == 4 && h[1] == 3 && h[2] == 2 && h[3] == 1);
}

static void test_frame_decoder_oversize(void)
{
	struct pl_decoder d;
	struct pl_frame f;
	uint8_t h[4];

	pl_decoder_init(&d, PL_PROTO_LEN, 10);
	pl_frame_encode_head(PL_PROTO_LEN, h, 11);
	CHECK(pl_decoder_feed(&d, h, 2) == 0);
	CHECK_EQ_INT(pl_decoder_next(&d, &f), 0);
	CHECK(pl_decoder_feed(&d, h + 2, 2) == 0);
	CHECK_EQ_INT(pl_decoder_next(&d, &f), -EMSGSIZE);
	pl_decoder_free(&d);
}

static void test_proto_names(void)
{
	enum pl_proto p;

	CHECK(pl_proto_parse("len", &p) == 0 && p == PL_PROTO_LEN);
	CHECK(pl_proto_parse("line", &p) == 0 && p == PL_PROTO_LINE);
	CHECK(pl_proto_parse("raw", &p) == 0 && p == PL_PROTO_RAW);
	CHECK(pl_proto_parse("http", &p) == -EINVAL);
	CHECK_STR(pl_proto_name(PL_PROTO_LINE), "line");
}

/* Feeds a line stream split at c1 and c2; returns the messages joined by '|'. */
static void lines_split(const char *stream, size_t c1, size_t c2, uint32_t max, char *out)
{
	struct pl_decoder d;
	struct pl_frame f;
	size_t n = strlen(stream), cuts[4] = { 0, c1, c2, n };
	int r = 0;

	out[0] = '\0';
	pl_decoder_init(&d, PL_PROTO_LINE, max);
	for (int k = 0; k < 3 && r >= 0; k++) {
		CHECK(pl_decoder_feed(&d, stream + cuts[k], cuts[k + 1] - cuts[k]) == 0);
		while ((r = pl_decoder_next(&d, &f)) == 1)
			sprintf(out + strlen(out), "%.*s|", (int)f.len, (const char *)f.msg);
	}
	if (r < 0)
		strcat(out, "TOOLONG");
	else if (pl_decoder_eof(&d) == 0 && pl_decoder_next(&d, &f) == 1)
		sprintf(out + strlen(out), "%.*s|EOF", (int)f.len, (const char *)f.msg);
	pl_decoder_free(&d);
}

static void test_line_split_every_byte(void)
{
	const char *s = "hello\r\n\nworld\nx\r\r\nlast";
	char out[128];

	for (size_t c1 = 0; c1 <= strlen(s); c1++)
		for (size_t c2 = c1; c2 <= strlen(s); c2++) {
			lines_split(s, c1, c2, 100, out);
			CHECK_STR(out, "hello||world|x\r|last|EOF");
		}
}

static void test_line_crlf_and_final_line(void)
{
	char out[128];

	lines_split("a\r\nb\n", 1, 3, 100, out);
	CHECK_STR(out, "a|b|");
	lines_split("no newline", 3, 5, 100, out);
	CHECK_STR(out, "no newline|EOF");
	lines_split("", 0, 0, 100, out);
	CHECK_STR(out, "");
}

static void test_line_over_long(void)
{
	char out[128];
	struct pl_frame f;

	lines_split("12345\n", 2, 4, 5, out);
	CHECK_STR(out, "12345|");
	lines_split("12345\r\n", 2, 4, 5, out); /* the \r does not count */
	CHECK_STR(out, "12345|");
	lines_split("123456\n", 2, 4, 5, out);
	CHECK_STR(out, "TOOLONG");
	/* refused before the newline arrives, once more than max bytes wait */
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LINE, (const uint8_t *)"1234567", 7, 5, &f), -EMSGSIZE);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LINE, (const uint8_t *)"12345", 5, 5, &f), 0);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LINE, (const uint8_t *)"12345\r", 6, 5, &f), 0);
}

static void test_line_encode(void)
{
	struct pl_buf b = { 0 };

	CHECK(pl_frame_append(PL_PROTO_LINE, &b, "hi", 2) == 0);
	CHECK(pl_buf_len(&b) == 3 && memcmp(pl_buf_head(&b), "hi\n", 3) == 0);
	pl_buf_free(&b);
	CHECK(pl_frame_append(PL_PROTO_RAW, &b, "hi", 2) == 0);
	CHECK(pl_buf_len(&b) == 2 && memcmp(pl_buf_head(&b), "hi", 2) == 0);
	pl_buf_free(&b);
}

static void test_raw_takes_what_arrived(void)
{
	struct pl_frame f;

	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_RAW, (const uint8_t *)"abc", 3, 100, &f), 1);
	CHECK_EQ_INT(f.len, 3);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_RAW, (const uint8_t *)"abc", 3, 2, &f), 1);
	CHECK_EQ_INT(f.len, 2);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_RAW, (const uint8_t *)"", 0, 2, &f), 0);
}

/* Whole lines still buffered at EOF (nobody asked for them yet) gain no
 * empty line after them; a partial last line is still terminated. */
static void test_decoder_eof_keeps_whole_lines(void)
{
	struct pl_decoder d;
	struct pl_frame f;
	int n = 0;

	pl_decoder_init(&d, PL_PROTO_LINE, 100);
	CHECK(pl_decoder_feed(&d, "a\nb\n", 4) == 0);
	CHECK(pl_decoder_eof(&d) == 0);
	while (pl_decoder_next(&d, &f) == 1)
		n++;
	CHECK_EQ_INT(n, 2);
	CHECK(pl_decoder_feed(&d, "c\nd", 3) == 0);
	CHECK(pl_decoder_eof(&d) == 0);
	CHECK_EQ_INT(pl_decoder_next(&d, &f), 1);
	CHECK_EQ_INT(pl_decoder_next(&d, &f), 1);
	CHECK(f.len == 1 && f.msg[0] == 'd');
	CHECK_EQ_INT(pl_decoder_next(&d, &f), 0);
	pl_decoder_free(&d);
	CHECK_EQ_INT(pl_frame_eof_tail(PL_PROTO_LINE, (const uint8_t *)"x\n", 2), 0);
	CHECK_EQ_INT(pl_frame_eof_tail(PL_PROTO_LINE, (const uint8_t *)"x\ny", 3), 1);
	CHECK_EQ_INT(pl_frame_eof_tail(PL_PROTO_LINE, NULL, 0), 0);
	CHECK_EQ_INT(pl_frame_eof_tail(PL_PROTO_LEN, (const uint8_t *)"x", 1), 0);
}

/* Resuming a search past bytes already searched finds the same lines and
 * the same oversize verdicts as a search from the start. */
static void test_line_parse_from_resumes(void)
{
	struct pl_frame f;
	const uint8_t *p = (const uint8_t *)"abcdef\r\nxy";

	for (size_t k = 0; k <= 6; k++) {
		CHECK_EQ_INT(pl_frame_parse_from(PL_PROTO_LINE, p, 6, 100, k, &f), 0);
		CHECK_EQ_INT(pl_frame_parse_from(PL_PROTO_LINE, p, 10, 100, k, &f), 1);
		CHECK(f.len == 6 && f.used == 8);
		CHECK_EQ_INT(pl_frame_parse_from(PL_PROTO_LINE, p, 6, 5, k, &f), -EMSGSIZE);
	}
}

/* An incomplete len message tells how many bytes it will take in all. */
static void test_frame_incomplete_tells_size(void)
{
	struct pl_frame f;
	const uint8_t head[] = { 0x10, 0x27, 0, 0, 'a', 'b' }; /* 10,000 declared */

	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LEN, head, sizeof(head), 100000, &f), 0);
	CHECK_EQ_INT(f.used, 10004);
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LEN, head, 3, 100000, &f), 0);
	CHECK_EQ_INT(f.used, 0); /* the header itself is not complete */
	CHECK_EQ_INT(pl_frame_parse(PL_PROTO_LINE, head, sizeof(head), 100000, &f), 0);
	CHECK_EQ_INT(f.used, 0); /* a line's length is known only at its end */
}

static const struct unit_test tests[] = {
	T(test_line_split_every_byte), T(test_line_crlf_and_final_line), T(test_line_over_long),
	T(test_line_encode), T(test_raw_takes_what_arrived),
	T(test_frame_split_every_byte), T(test_frame_one_byte_at_a_time), T(test_frame_zero_length),
	T(test_frame_maximum_and_one_over), T(test_frame_little_endian_header),
	T(test_frame_decoder_oversize), T(test_proto_names), T(test_frame_incomplete_tells_size),
	T(test_decoder_eof_keeps_whole_lines), T(test_line_parse_from_resumes),
};
UNIT_MAIN(tests)
