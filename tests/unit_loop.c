/* unit_loop.c - timers, I/O handles and signals of the event loop. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "parley/loop.h"
#include "parley/server.h"
#include "unit.h"

static char order[256];
static size_t norder;

static void record(struct pl_loop *l, struct pl_timer *t)
{
	(void)l;
	order[norder++] = *(const char *)t->data;
}

static void test_timer_equal_deadlines_fire_in_start_order(void)
{
	struct pl_loop *l;
	struct pl_timer t[5];
	const char *names = "abcde";

	norder = 0;
	CHECK(pl_loop_new(&l) == 0);
	for (int i = 0; i < 5; i++) {
		pl_timer_init(&t[i], record, (void *)(names + i));
		CHECK(pl_timer_start(l, &t[i], i == 2 ? 0 : 20) == 0);
	}
	CHECK(pl_loop_run(l) == 0); /* returns when no timer is left */
	order[norder] = '\0';
	CHECK_STR(order, "cabde");
	pl_loop_free(l);
}

static int rearms;

static void rearm_self(struct pl_loop *l, struct pl_timer *t)
{
	if (++rearms < 3)
		pl_timer_start(l, t, 0); /* re-arm inside its own callback */
}

static void stop_other(struct pl_loop *l, struct pl_timer *t)
{
	pl_timer_stop(l, t->data); /* delete another timer from a callback */
	pl_timer_stop(l, t);       /* and itself, already stopped: harmless */
}

static void never(struct pl_loop *l, struct pl_timer *t)
{
	(void)l;
	(void)t;
	CHECK(!"a stopped timer fired");
}

static void test_timer_rearm_and_delete_in_callback(void)
{
	struct pl_loop *l;
	struct pl_timer a, b, c;

	CHECK(pl_loop_new(&l) == 0);
	pl_timer_init(&a, rearm_self, NULL);
	pl_timer_init(&c, never, NULL);
	pl_timer_init(&b, stop_other, &c);
	pl_timer_start(l, &a, 0);
	pl_timer_start(l, &b, 1);
	pl_timer_start(l, &c, 30);
	CHECK(pl_loop_run(l) == 0);
	CHECK_EQ_INT(rearms, 3);
	CHECK(!pl_timer_active(&a) && !pl_timer_active(&c));
	pl_loop_free(l);
}

static void test_timer_many_random_order(void)
{
	struct pl_loop *l;
	static struct pl_timer t[200];
	static char tags[200];

	norder = 0;
	CHECK(pl_loop_new(&l) == 0);
	for (int i = 0; i < 200; i++) {
		tags[i] = (char)i;
		pl_timer_init(&t[i], record, &tags[i]);
	}
	for (int i = 0; i < 200; i++) /* deadlines 0..9 ms, some stopped again */
		pl_timer_start(l, &t[i], (i * 7) % 10);
	for (int i = 0; i < 200; i += 4)
		pl_timer_stop(l, &t[i]);
	norder = 0;
	CHECK(pl_loop_run(l) == 0);
	CHECK_EQ_INT(norder, 150);
	/* they fired in (deadline, start) order */
	for (size_t i = 1; i < norder; i++) {
		int p = (unsigned char)order[i - 1], q = (unsigned char)order[i];
		int dp = (p * 7) % 10, dq = (q * 7) % 10;
		CHECK(dp < dq || (dp == dq && p < q));
	}
	pl_loop_free(l);
}

static void test_loop_returns_with_nothing_registered(void)
{
	struct pl_loop *l;

	CHECK(pl_loop_new(&l) == 0);
	CHECK(pl_loop_run(l) == 0);
	pl_loop_free(l);
}

static char hook_log[16];

static void hook_a(struct pl_loop *l, void *arg) { (void)l; strcat(hook_log, arg); }

static void on_once(struct pl_loop *l, struct pl_timer *t) { (void)l; (void)t; }

static void no_request(struct pl_conn *c, const uint8_t *m, size_t n, void *arg)
{
	(void)c, (void)m, (void)n, (void)arg;
}

/* Post hooks are a list: a server's beside a program's, each run once per
 * iteration in the order added; removing one leaves the others. */
static void test_post_hooks_are_a_list(void)
{
	struct pl_loop *l;
	struct pl_timer t;
	struct pl_server *s;
	struct pl_server_config cfg = { .on_request = no_request };

	CHECK(pl_loop_new(&l) == 0);
	CHECK(pl_loop_add_post(l, hook_a, "a") == 0);
	CHECK(pl_server_new(l, &cfg, &s) == 0);
	CHECK(pl_loop_add_post(l, hook_a, "b") == 0);
	pl_timer_init(&t, on_once, NULL);
	pl_timer_start(l, &t, 0);
	CHECK(pl_loop_run(l) == 0);
	CHECK_STR(hook_log, "ab");
	pl_loop_del_post(l, hook_a, "a");
	pl_timer_start(l, &t, 0);
	CHECK(pl_loop_run(l) == 0);
	CHECK_STR(hook_log, "abb");
	pl_server_free(s); /* takes its own hook away, not ours */
	for (int i = 0; i < 7; i++)
		CHECK(pl_loop_add_post(l, hook_a, "") == 0);
	CHECK(pl_loop_add_post(l, hook_a, "") == -ENOSPC);
	pl_loop_free(l);
}

static int reads;

static void on_pipe(struct pl_loop *l, struct pl_io *io, unsigned ev)
{
	char c;

	CHECK(ev & PL_READ);
	CHECK(read(io->fd, &c, 1) == 1);
	reads++;
	pl_io_stop(l, io); /* stop from inside its own callback */
}

static void test_io_stop_inside_callback(void)
{
	struct pl_loop *l;
	struct pl_io io;
	int p[2];

	CHECK(pipe(p) == 0);
	CHECK(write(p[1], "xy", 2) == 2);
	CHECK(pl_loop_new(&l) == 0);
	pl_io_init(&io, p[0], on_pipe, NULL);
	CHECK(pl_io_start(l, &io, PL_READ) == 0);
	CHECK(pl_loop_run(l) == 0);
	CHECK_EQ_INT(reads, 1);
	pl_loop_free(l);
	close(p[0]);
	close(p[1]);
}

static int got_signal;

static void on_sig(struct pl_loop *l, int signo, void *arg)
{
	(void)arg;
	got_signal = signo;
	pl_loop_stop(l);
}

static void kick(struct pl_loop *l, struct pl_timer *t)
{
	(void)l;
	(void)t;
	kill(getpid(), SIGUSR1);
}

static void test_signal_delivered_in_loop(void)
{
	struct pl_loop *l;
	struct pl_timer t, guard;

	CHECK(pl_loop_new(&l) == 0);
	CHECK(pl_loop_signal(l, SIGUSR1, on_sig, NULL) == 0);
	pl_timer_init(&t, kick, NULL);
	pl_timer_init(&guard, never, NULL);
	pl_timer_start(l, &t, 0);
	pl_timer_start(l, &guard, 5000);
	CHECK(pl_loop_run(l) == 0);
	CHECK_EQ_INT(got_signal, SIGUSR1);
	pl_loop_free(l);
}

static int spun_reads;

static void on_pipe_twice(struct pl_loop *l, struct pl_io *io, unsigned ev)
{
	char c;

	(void)ev;
	if (read(io->fd, &c, 1) == 1 && ++spun_reads == 2) {
		pl_io_stop(l, io);
		pl_timer_start(l, io->data, 200); /* then 200 ms of nothing to do */
	}
}

static void end_quiet(struct pl_loop *l, struct pl_timer *t)
{
	(void)t;
	pl_loop_stop(l);
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Busy polling delivers events as before, and a loop with nothing to do
 * still sleeps: 1 ms of polling per quiet spell, not 300 ms of spinning. */
static void test_busy_poll_delivers_and_still_sleeps(void)
{
	struct pl_loop *l;
	struct pl_io io;
	struct pl_timer quiet;
	int p[2];
	pid_t pid;
	double c0;

	CHECK(pipe(p) == 0);
	pid = fork();
	if (pid == 0) {
		usleep(50000);
		(void)!write(p[1], "a", 1);
		usleep(50000);
		(void)!write(p[1], "b", 1);
		_exit(0);
	}
	CHECK(pl_loop_new(&l) == 0);
	pl_loop_set_busy_poll(l, 1000);
	pl_timer_init(&quiet, end_quiet, NULL);
	pl_io_init(&io, p[0], on_pipe_twice, &quiet);
	CHECK(pl_io_start(l, &io, PL_READ) == 0);
	c0 = cpu_ms();
	CHECK(pl_loop_run(l) == 0);
	CHECK_EQ_INT(spun_reads, 2);
	CHECK(cpu_ms() - c0 < 60); /* spinning all along would take ~300 */
	waitpid(pid, NULL, 0);
	pl_loop_free(l);
	close(p[0]);
	close(p[1]);
}

static const struct unit_test tests[] = {
	T(test_timer_equal_deadlines_fire_in_start_order), T(test_timer_rearm_and_delete_in_callback),
	T(test_timer_many_random_order), T(test_loop_returns_with_nothing_registered),
	T(test_io_stop_inside_callback), T(test_signal_delivered_in_loop),
	T(test_busy_poll_delivers_and_still_sleeps), T(test_post_hooks_are_a_list),
};
UNIT_MAIN(tests)
