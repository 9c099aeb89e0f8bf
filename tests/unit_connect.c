/* unit_connect.c - pl_connect: ordering, timeouts and the Happy Eyeballs race;
 * pl_client's connections. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "parley/parley.h"
#include "unit.h"

/* A listener that completes no more handshakes: its accept queue is full. */
static int black_hole(struct pl_addr *at, int fill[4])
{
	struct pl_addr a;
	int lfd;

	CHECK(pl_addr_parse(&a, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) == 0);
	lfd = pl_listen(&a, NULL);
	CHECK(lfd >= 0 && listen(lfd, 0) == 0);
	CHECK(pl_addr_local(lfd, at) == 0);
	for (int i = 0; i < 4; i++) {
		struct pl_connect_opts o = { .timeout_ms = 200 };
		fill[i] = pl_connect(at, 1, &o, NULL);
	}
	return lfd;
}

static int live(struct pl_addr *at)
{
	struct pl_addr a;
	int lfd;

	CHECK(pl_addr_parse(&a, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) == 0);
	lfd = pl_listen(&a, NULL);
	CHECK(lfd >= 0);
	CHECK(pl_addr_local(lfd, at) == 0);
	return lfd;
}

static char log_[256];

static void on_attempt(const struct pl_addr *t, int result, void *arg)
{
	const struct pl_addr *addrs = arg;
	char *e = log_ + strlen(log_);
	int which = pl_addr_equal(t, &addrs[0]) ? 0 : 1;

	snprintf(e, sizeof(log_) - (size_t)(e - log_), "%d:%s ", which,
		 result == -EINPROGRESS ? "start" : result == 0 ? "won"
		 : result == -ECANCELED ? "cancelled" : result == -ETIMEDOUT ? "timeout" : "failed");
}

static void close_all(int a, int b, int fill[4])
{
	close(a);
	close(b);
	for (int i = 0; i < 4; i++)
		if (fill[i] >= 0)
			close(fill[i]);
}

static void test_connect_race_skips_unanswering_first_address(void)
{
	struct pl_addr addrs[2];
	int fill[4], hole = black_hole(&addrs[0], fill), ok = live(&addrs[1]);
	struct pl_connect_opts o = { .timeout_ms = 5000, .stagger_ms = PL_CONNECT_STAGGER_MS,
				     .on_attempt = on_attempt, .arg = addrs };
	long long t0 = pl_clock_ms();
	int fd;

	log_[0] = '\0';
	fd = pl_connect(addrs, 2, &o, NULL);
	long long ms = pl_clock_ms() - t0;
	CHECK(fd >= 0);
	/* the second attempt starts after the stagger, far before the 5 s timeout */
	CHECK(ms >= 200 && ms < 2000);
	CHECK_STR(log_, "0:start 1:start 1:won 0:cancelled ");
	if (fd >= 0) {
		struct pl_addr peer;
		CHECK(pl_addr_peer(fd, &peer) == 0 && pl_addr_equal(&peer, &addrs[1]));
		close(fd);
	}
	close_all(hole, ok, fill);
}

static void test_connect_sequential_waits_for_timeout(void)
{
	struct pl_addr addrs[2];
	int fill[4], hole = black_hole(&addrs[0], fill), ok = live(&addrs[1]);
	struct pl_connect_opts o = { .timeout_ms = 400, .on_attempt = on_attempt, .arg = addrs };
	long long t0 = pl_clock_ms();
	int fd;

	log_[0] = '\0';
	fd = pl_connect(addrs, 2, &o, NULL);
	CHECK(fd >= 0);
	CHECK(pl_clock_ms() - t0 >= 390);
	CHECK_STR(log_, "0:start 0:timeout 1:start 1:won ");
	close(fd);
	close_all(hole, ok, fill);
}

static void test_connect_failure_starts_next_at_once(void)
{
	struct pl_addr addrs[2];
	int fill[4] = { -1, -1, -1, -1 }, ok = live(&addrs[1]), dead = live(&addrs[0]);
	struct pl_connect_opts o = { .timeout_ms = 5000, .stagger_ms = 2000,
				     .on_attempt = on_attempt, .arg = addrs };
	long long t0 = pl_clock_ms();
	int fd;

	close(dead); /* refused: no need to wait the 2 s stagger */
	log_[0] = '\0';
	fd = pl_connect(addrs, 2, &o, NULL);
	CHECK(fd >= 0);
	CHECK(pl_clock_ms() - t0 < 1000);
	CHECK_STR(log_, "0:start 0:failed 1:start 1:won ");
	close(fd);
	close_all(ok, open("/dev/null", O_RDONLY), fill);
}

static void test_connect_all_fail_reports_last(void)
{
	struct pl_addr addrs[2];
	int a = live(&addrs[0]), b = live(&addrs[1]);
	size_t failed = 99;

	close(a);
	close(b);
	CHECK_EQ_INT(pl_connect(addrs, 2, NULL, &failed), -ECONNREFUSED);
	CHECK_EQ_INT(failed, 1);
}

/* A source address that is not ours fails the bind, and the caller is told
 * it was the bind (its message names the source, not the target). */
static void test_connect_reports_bind_failure(void)
{
	struct pl_addr target, src;
	const char *why;
	int fd = live(&target), bind_failed = -1;
	struct pl_connect_opts o = { .timeout_ms = 2000, .source = &src, .bind_failed = &bind_failed };

	CHECK(pl_addr_parse(&src, "192.0.2.1:0", 0, PL_ADDR_PASSIVE, &why) == 0);
	CHECK_EQ_INT(pl_connect(&target, 1, &o, NULL), -EADDRNOTAVAIL);
	CHECK_EQ_INT(bind_failed, 1);
	CHECK(pl_addr_parse(&src, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, &why) == 0);
	int c = pl_connect(&target, 1, &o, NULL);
	CHECK(c >= 0);
	CHECK_EQ_INT(bind_failed, 0);
	close(c);
	close(fd);
}

struct eof_ctx {
	int lfd, told, requests;
	enum pl_close_reason why;
};

static void count_request(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)c, (void)msg, (void)len;
	((struct eof_ctx *)arg)->requests++;
}

static void told_eof(struct pl_conn *c, void *arg)
{
	((struct eof_ctx *)arg)->told = 1;
	pl_loop_stop(pl_conn_loop(c));
}

static void closed_early(struct pl_conn *c, enum pl_close_reason why, int err, void *arg)
{
	(void)err;
	((struct eof_ctx *)arg)->why = why;
	pl_loop_stop(pl_conn_loop(c));
}

static void stop_loop(struct pl_loop *loop, struct pl_timer *t)
{
	(void)t;
	pl_loop_stop(loop);
}

/* The peer sends part of a message, then ends its direction. */
static void stop_mid_message(struct pl_conn *c, const struct pl_connect_report *r, void *arg)
{
	static const uint8_t part[] = { 5, 0, 0, 0, 'a', 'b' }; /* 2 bytes of 5 */
	struct eof_ctx *x = arg;
	int fd = accept(x->lfd, NULL, NULL);

	(void)r;
	CHECK(c != NULL && fd >= 0);
	CHECK(write(fd, part, sizeof(part)) == sizeof(part));
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void test_client_eof_told_with_partial_message_left(void)
{
	struct eof_ctx x = { .why = PL_CLOSE_REASONS };
	struct pl_conn_config cfg = { .on_request = count_request, .on_eof = told_eof,
				      .on_close = closed_early, .arg = &x };
	struct pl_addr target;
	struct pl_loop *loop;
	struct pl_client *cl;
	struct pl_connect_opts o = { .timeout_ms = 2000 };
	struct pl_timer guard;

	x.lfd = live(&target);
	CHECK(pl_loop_new(&loop) == 0);
	CHECK(pl_client_new(loop, &cfg, &cl) == 0);
	CHECK(pl_client_connect(cl, &target, 1, &o, stop_mid_message, &x, NULL) == 0);
	/* in case on_eof never comes: the loop would wait for ever */
	pl_timer_init(&guard, stop_loop, NULL);
	CHECK(pl_timer_start(loop, &guard, 2000) == 0);
	CHECK(pl_loop_run(loop) == 0);
	CHECK_EQ_INT(x.told, 1);
	CHECK_EQ_INT(x.requests, 0);
	CHECK_EQ_INT(x.why, PL_CLOSE_REASONS); /* not closed: the app decides */
	pl_timer_stop(loop, &guard);
	pl_client_free(cl);
	pl_loop_free(loop);
	close(x.lfd);
}

struct size_ctx {
	int lfd;
	uint64_t size;
	enum pl_close_reason why;
};

static void note_size(struct pl_conn *c, enum pl_close_reason why, int err, void *arg)
{
	struct size_ctx *x = arg;

	(void)err;
	x->why = why;
	x->size = pl_conn_close_size(c);
	pl_loop_stop(pl_conn_loop(c));
}

/* The peer declares a message of 100 bytes. */
static void declare_100(struct pl_conn *c, const struct pl_connect_report *r, void *arg)
{
	static const uint8_t head[] = { 100, 0, 0, 0 };
	struct size_ctx *x = arg;
	int fd = accept(x->lfd, NULL, NULL);

	(void)r;
	CHECK(c != NULL && fd >= 0);
	CHECK(write(fd, head, sizeof(head)) == sizeof(head));
	close(fd);
}

static void test_client_close_tells_oversize_size(void)
{
	struct size_ctx x = { .why = PL_CLOSE_REASONS };
	struct pl_conn_config cfg = { .max_msg = 10, .on_request = count_request,
				      .on_close = note_size, .arg = &x };
	struct pl_addr target;
	struct pl_loop *loop;
	struct pl_client *cl;

	x.lfd = live(&target);
	CHECK(pl_loop_new(&loop) == 0);
	CHECK(pl_client_new(loop, &cfg, &cl) == 0);
	CHECK(pl_client_connect(cl, &target, 1, NULL, declare_100, &x, NULL) == 0);
	CHECK(pl_loop_run(loop) == 0);
	CHECK_EQ_INT(x.why, PL_CLOSE_OVERSIZE);
	CHECK_EQ_INT(x.size, 100);
	pl_client_free(cl);
	pl_loop_free(loop);
	close(x.lfd);
}

struct at_once {
	int won, won_first; /* the race's callback ran; before after_start's */
};

static void race_done(int fd, const struct pl_connect_report *r, void *arg)
{
	struct at_once *a = arg;

	(void)r;
	a->won = fd >= 0;
	if (fd >= 0)
		close(fd);
}

static void after_start(struct pl_loop *loop, struct pl_timer *t)
{
	struct at_once *a = t->data;

	(void)loop;
	a->won_first = a->won;
}

/* A loopback TCP connect, whose handshake is done when connect returns, is
 * won in the turn of the loop that starts it, without waiting on epoll for
 * writability (what a churning client pays per connection).  That is
 * usual, not certain (a busy machine defers the handshake to ksoftirqd):
 * one of a few tries must do it. */
static void test_connect_loopback_is_won_at_once(void)
{
	struct pl_addr target;
	int lfd = live(&target), at_once = 0;

	for (int i = 0; i < 10 && !at_once; i++) {
		struct pl_loop *loop;
		struct pl_timer t;
		struct at_once a = { 0, 0 };
		CHECK(pl_loop_new(&loop) == 0);
		CHECK(pl_connect_start(loop, &target, 1, NULL, race_done, &a, NULL) == 0);
		/* due with the race's own start, so it runs right after it */
		pl_timer_init(&t, after_start, &a);
		CHECK(pl_timer_start(loop, &t, 0) == 0);
		CHECK(pl_loop_run(loop) == 0);
		CHECK(a.won);
		at_once += a.won_first;
		pl_loop_free(loop);
	}
	CHECK(at_once);
	close(lfd);
}

struct sent {
	struct pl_addr target;
	struct pl_conn *c;
	struct pl_timer later;
	size_t in_callback, after_batch, at_once;
	int peer_ok;
};

static void no_reply(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)c;
	(void)msg;
	(void)len;
	(void)arg;
}

/* Outside any batch (a timer): a send is written at once. */
static void send_later(struct pl_loop *loop, struct pl_timer *t)
{
	struct sent *s = t->data;

	(void)loop;
	s->after_batch = pl_conn_unsent(s->c);
	CHECK_EQ_INT(pl_conn_send(s->c, "yo", 2), 0);
	s->at_once = pl_conn_unsent(s->c);
	pl_conn_close(s->c); /* drops unsent output: none is left */
}

static void send_two(struct pl_conn *c, const struct pl_connect_report *r, void *arg)
{
	struct sent *s = arg;

	(void)r;
	CHECK(c != NULL);
	if (!c)
		return;
	s->c = c;
	s->peer_ok = pl_addr_equal(pl_conn_peer(c), &s->target);
	CHECK_EQ_INT(pl_conn_send(c, "hi", 2), 0);
	CHECK_EQ_INT(pl_conn_send(c, "hi", 2), 0);
	s->in_callback = pl_conn_unsent(c);
	CHECK(pl_timer_start(pl_conn_loop(c), &s->later, 0) == 0);
}

/* What a client's connect callback sends leaves in one write when it
 * returns, and a send outside any batch (a timer) at once, neither waiting
 * a turn of the loop for PL_WRITE; the peer is the address connected to. */
static void test_client_sends_leave_without_waiting(void)
{
	struct pl_conn_config cfg = { .on_request = no_reply };
	struct pl_loop *loop;
	struct pl_client *cl;
	struct sent s = { 0 };
	int lfd = live(&s.target), afd;
	char buf[32];

	pl_timer_init(&s.later, send_later, &s);
	CHECK(pl_loop_new(&loop) == 0);
	CHECK(pl_client_new(loop, &cfg, &cl) == 0);
	CHECK(pl_client_connect(cl, &s.target, 1, NULL, send_two, &s, NULL) == 0);
	CHECK(pl_loop_run(loop) == 0);
	CHECK(s.peer_ok);
	CHECK_EQ_INT(s.in_callback, 12); /* batched */
	CHECK_EQ_INT(s.after_batch, 0);
	CHECK_EQ_INT(s.at_once, 0);
	afd = accept(lfd, NULL, NULL);
	CHECK(afd >= 0);
	CHECK_EQ_INT(pl_fd_read_full(afd, buf, sizeof(buf), 1000), 18);
	CHECK(memcmp(buf, "\2\0\0\0hi\2\0\0\0hi\2\0\0\0yo", 18) == 0);
	close(afd);
	close(lfd);
	pl_client_free(cl);
	pl_loop_free(loop);
}

static const struct unit_test tests[] = {
	T(test_connect_race_skips_unanswering_first_address),
	T(test_connect_sequential_waits_for_timeout), T(test_connect_failure_starts_next_at_once),
	T(test_connect_all_fail_reports_last), T(test_connect_reports_bind_failure),
	T(test_client_eof_told_with_partial_message_left), T(test_client_close_tells_oversize_size),
	T(test_connect_loopback_is_won_at_once), T(test_client_sends_leave_without_waiting),
};
UNIT_MAIN(tests)
