/* unit_misc.c - buffers and escaping. */
#include "parley/buf.h"
#include "parley/escape.h"
#include "parley/fd.h"
#include "unit.h"

static void test_buf_lazy_and_released(void)
{
	struct pl_buf b = { 0 };

	CHECK(b.data == NULL);
	CHECK(pl_buf_append(&b, "abc", 3) == 0);
	CHECK(b.data != NULL && pl_buf_len(&b) == 3);
	pl_buf_consume(&b, 2);
	CHECK(pl_buf_len(&b) == 1 && *pl_buf_head(&b) == 'c');
	pl_buf_release(&b);
	CHECK(b.data != NULL); /* not empty: kept */
	pl_buf_consume(&b, 1);
	pl_buf_release(&b);
	CHECK(b.data == NULL && b.cap == 0);
}

static void test_buf_grows_and_keeps_order(void)
{
	struct pl_buf b = { 0 };
	size_t total = 0, eaten = 0;

	for (int i = 0; i < 5000; i++) {
		uint8_t chunk[37];
		for (size_t j = 0; j < sizeof(chunk); j++)
			chunk[j] = (uint8_t)(total + j);
		CHECK(pl_buf_append(&b, chunk, sizeof(chunk)) == 0);
		total += sizeof(chunk);
		if (i % 3 == 0) {
			size_t n = pl_buf_len(&b) / 2;
			for (size_t j = 0; j < n; j++)
				if (pl_buf_head(&b)[j] != (uint8_t)(eaten + j)) {
					CHECK(!"byte out of order");
					break;
				}
			pl_buf_consume(&b, n);
			eaten += n;
		}
	}
	CHECK_EQ_INT(pl_buf_len(&b), total - eaten);
	CHECK(pl_buf_head(&b)[0] == (uint8_t)eaten);
	pl_buf_free(&b);
}

static void test_escape_hostile_bytes(void)
{
	char out[PL_ESCAPE_CAP(PL_ESCAPE_LIMIT)];

	pl_escape("hi", 2, 200, out, sizeof(out));
	CHECK_STR(out, "hi");
	pl_escape("\x1b[2J\\\n\x7f\xff ok", 11, 200, out, sizeof(out));
	CHECK_STR(out, "\\x1b[2J\\\\\\x0a\\x7f\\xff ok");
	pl_escape("a\0b", 3, 200, out, sizeof(out));
	CHECK_STR(out, "a\\x00b");
}

static void test_escape_cuts_long_messages(void)
{
	char in[300], out[PL_ESCAPE_CAP(PL_ESCAPE_LIMIT)], want[300];

	memset(in, 'x', sizeof(in));
	pl_escape(in, 300, 200, out, sizeof(out));
	memset(want, 'x', 200);
	strcpy(want + 200, "... (300 bytes)");
	CHECK_STR(out, want);
	pl_escape(in, 200, 200, out, sizeof(out));
	CHECK_EQ_INT(strlen(out), 200);
	/* worst case: every byte escaped, still fits the documented capacity */
	memset(in, 0x01, sizeof(in));
	CHECK_EQ_INT(pl_escape(in, 300, 200, out, sizeof(out)), 800 + strlen("... (300 bytes)"));
}

/* Not a socket: send says ENOTSOCK once, then write takes over (it spun). */
static void test_fd_write_full_to_a_pipe(void)
{
	int p[2];
	char back[8] = { 0 };

	alarm(5);
	CHECK(pipe(p) == 0);
	CHECK_EQ_INT(pl_fd_write_full(p[1], "pipe", 4, -1), 4);
	CHECK_EQ_INT(pl_fd_write_full(p[1], "!", 1, 1000), 1);
	CHECK_EQ_INT(pl_fd_read_full(p[0], back, 5, 1000), 5);
	CHECK_STR(back, "pipe!");
	close(p[0]);
	close(p[1]);
}

static const struct unit_test tests[] = {
	T(test_fd_write_full_to_a_pipe),
	T(test_buf_lazy_and_released), T(test_buf_grows_and_keeps_order),
	T(test_escape_hostile_bytes), T(test_escape_cuts_long_messages),
};
UNIT_MAIN(tests)
