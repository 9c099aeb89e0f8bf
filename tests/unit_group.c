/* unit_group.c - loops on threads (pl_group) and socket activation
 * (pl_listen_activated), without the programs. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parley/parley.h"
#include "unit.h"

#define CLIENTS 30

static void echo(struct pl_conn *c, const uint8_t *msg, size_t len, void *arg)
{
	(void)arg;
	pl_conn_reply(c, msg, len);
}

static struct pl_group *echo_group(unsigned n)
{
	struct pl_server_config cfg = { .on_request = echo, .drain_timeout_ms = 5000 };
	struct pl_group *g = NULL;

	CHECK(pl_group_new(n, &cfg, &g) == 0);
	return g;
}

/* What the client thread saw; checked on the test's thread after the join. */
struct clients {
	struct pl_addr addr;
	int go;               /* a pipe loop 0 watches: written to ask for shutdown */
	int connected, answered, drained;
};

static int ask(int fd, int timeout_ms)
{
	char got[6];

	return pl_fd_write_full(fd, "\2\0\0\0hi", 6, timeout_ms) == 6 &&
	       pl_fd_read_full(fd, got, 6, timeout_ms) == 6 && memcmp(got, "\2\0\0\0hi", 6) == 0;
}

/* CLIENTS connections each get an answer; then each sends one more request
 * and loop 0 is asked to shut down: the replies must still come, then EOF. */
static void *run_clients(void *arg)
{
	struct clients *k = arg;
	int fd[CLIENTS];
	char got[8];

	for (int i = 0; i < CLIENTS; i++) {
		fd[i] = pl_connect(&k->addr, 1, NULL, NULL);
		k->connected += fd[i] >= 0;
		k->answered += fd[i] >= 0 && ask(fd[i], 2000);
	}
	for (int i = 0; i < CLIENTS; i++)
		if (fd[i] >= 0)
			pl_fd_write_full(fd[i], "\2\0\0\0hi", 6, 2000);
	(void)!write(k->go, "x", 1);
	for (int i = 0; i < CLIENTS; i++) {
		if (fd[i] < 0)
			continue;
		k->drained += pl_fd_read_full(fd[i], got, sizeof(got), 5000) == 6;
		close(fd[i]);
	}
	return NULL;
}

static void on_go(struct pl_loop *loop, struct pl_io *io, unsigned events)
{
	(void)events;
	pl_io_stop(loop, io);
	pl_group_shutdown(io->data); /* from loop 0's callback */
}

/* Three loops on one port: the kernel spreads the clients over the threads,
 * a shutdown from loop 0 drains every loop, and the counters add up. */
static void test_group_three_loops_serve_one_port_and_drain(void)
{
	struct pl_group *g = echo_group(3);
	struct pl_server_stats sum, each[3];
	struct clients k = { 0 };
	struct pl_addr a;
	struct pl_io go;
	pthread_t t;
	unsigned failed = 99, busy = 0;
	int p[2];

	CHECK(pl_addr_parse(&a, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) == 0);
	CHECK(pl_group_listen(g, &a, NULL, &k.addr, &failed) == 0);
	CHECK_EQ_INT(failed, 0);
	CHECK(k.addr.port != 0);
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	k.go = p[1];
	pl_io_init(&go, p[0], on_go, g);
	CHECK(pl_io_start(pl_group_loop(g, 0), &go, PL_READ) == 0);
	CHECK(pl_group_start(g) == 0);
	CHECK(pthread_create(&t, NULL, run_clients, &k) == 0);
	CHECK(pl_loop_run(pl_group_loop(g, 0)) == 0);
	CHECK(pl_group_finish(g, &sum, each) == 0);
	pthread_join(t, NULL);
	CHECK_EQ_INT(k.connected, CLIENTS);
	CHECK_EQ_INT(k.answered, CLIENTS);
	CHECK_EQ_INT(k.drained, CLIENTS); /* the reply, then EOF: 6 bytes, not 8 */
	CHECK_EQ_INT(sum.accepted, CLIENTS);
	CHECK_EQ_INT(sum.requests, 2 * CLIENTS);
	CHECK_EQ_INT(sum.closed[PL_CLOSE_SHUTDOWN], CLIENTS);
	CHECK_EQ_INT(sum.open, 0);
	for (int i = 0; i < 3; i++)
		busy += each[i].accepted > 0;
	CHECK_EQ_INT(each[0].accepted + each[1].accepted + each[2].accepted, CLIENTS);
	CHECK(busy >= 2); /* all 30 on one of three: odds of 3^-29 */
	close(p[0]);
	close(p[1]);
}

/* A Unix listener is one socket watched by every loop; only loop 0's
 * server removes the file, once, and never another server's file. */
static void test_group_unix_listener_shared(void)
{
	char path[64], spec[80];
	struct pl_group *g = echo_group(2);
	struct pl_addr a, bound;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/tmp/parley-unit-group-%d.sock", (int)getpid());
	snprintf(spec, sizeof(spec), "unix:%s", path);
	CHECK(pl_addr_parse(&a, spec, 0, PL_ADDR_PASSIVE, NULL) == 0);
	CHECK(pl_group_listen(g, &a, NULL, &bound, NULL) == 0);
	CHECK_EQ_INT(bound.kind, PL_ADDR_UNIX);
	CHECK(pl_group_start(g) == 0);
	fd = pl_connect(&bound, 1, NULL, NULL);
	CHECK(fd >= 0);
	CHECK(ask(fd, 2000)); /* loop 0 is not run: thread 1 answered */
	close(fd);
	CHECK(pl_group_finish(g, NULL, NULL) == 0); /* shuts down what still runs */
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
}

/* An adopted listener is served by every loop and left in place: the group
 * closes its descriptors, not the socket file. */
static void test_group_adopt_fd(void)
{
	struct pl_group *g = echo_group(2);
	struct pl_server_stats sum;
	struct pl_addr a, bound;
	int lfd, fd;

	CHECK(pl_addr_parse(&a, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) == 0);
	lfd = pl_listen(&a, NULL);
	CHECK(lfd >= 0);
	CHECK(pl_addr_local(lfd, &bound) == 0);
	CHECK(pl_group_adopt_fd(g, lfd, NULL) == 0);
	CHECK(pl_group_start(g) == 0);
	fd = pl_connect(&bound, 1, NULL, NULL);
	CHECK(fd >= 0 && ask(fd, 2000));
	close(fd);
	CHECK(pl_group_finish(g, &sum, NULL) == 0);
	CHECK_EQ_INT(sum.requests, 1);
	CHECK(fcntl(lfd, F_GETFD) < 0 && errno == EBADF); /* loop 0's server closed it */
}

static void test_group_size_bounds(void)
{
	struct pl_server_config cfg = { .on_request = echo };
	struct pl_group *g = NULL;

	CHECK(pl_group_new(0, &cfg, &g) == -EINVAL);
	CHECK(pl_group_new(PL_GROUP_MAX + 1, &cfg, &g) == -EINVAL);
	CHECK(g == NULL);
	cfg.on_request = NULL;
	CHECK(pl_group_new(2, &cfg, &g) == -EINVAL); /* the server's own check */
	CHECK(pl_group_new(1, &(struct pl_server_config){ .on_request = echo }, &g) == 0);
	CHECK_EQ_INT(pl_group_size(g), 1);
	CHECK(pl_group_start(g) == 0); /* no thread to start */
	pl_group_free(g);
	pl_group_free(NULL);
}

/* Socket activation: each case in a child, since it edits the environment
 * and descriptors 3.. */

/* fd becomes descriptor at (which may be fd itself). */
static void put_at(int fd, int at)
{
	int hi = fcntl(fd, F_DUPFD, 64);

	close(fd);
	CHECK(dup2(hi, at) == at);
	close(hi);
}

static int listener(void)
{
	struct pl_addr a;

	CHECK(pl_addr_parse(&a, "127.0.0.1:0", 0, PL_ADDR_PASSIVE, NULL) == 0);
	return pl_listen(&a, NULL);
}

static void set_env(const char *pid, const char *fds)
{
	char me[24];

	snprintf(me, sizeof(me), "%d", (int)getpid());
	setenv("LISTEN_PID", pid ? pid : me, 1);
	setenv("LISTEN_FDS", fds, 1);
	setenv("LISTEN_FDNAMES", "x", 1);
}

static void in_child(void (*fn)(void))
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		fn();
		_exit(unit_failures ? 1 : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK_EQ_INT(status, 0);
}

static void two_listeners(void)
{
	put_at(listener(), 3);
	put_at(listener(), 4);
	set_env(NULL, "2");
	CHECK_EQ_INT(pl_listen_activated(NULL), 2);
	CHECK(fcntl(3, F_GETFD) == FD_CLOEXEC && fcntl(4, F_GETFD) == FD_CLOEXEC);
	CHECK(!getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES"));
}

static void test_activated_takes_listeners(void) { in_child(two_listeners); }

static void not_a_listener(void)
{
	int sv[2], bad = -1;

	put_at(listener(), 3); /* first: the pair may take 4 and 5 */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(sv[1] != 4);
	put_at(sv[0], 4);
	set_env(NULL, "2");
	CHECK_EQ_INT(pl_listen_activated(&bad), -ENOTSOCK); /* a socket, not listening */
	CHECK_EQ_INT(bad, 4);
	close(4);
	set_env(NULL, "2");
	CHECK_EQ_INT(pl_listen_activated(&bad), -ENOTSOCK); /* not even open */
	CHECK_EQ_INT(bad, 4);
	put_at(open("/dev/null", O_RDONLY), 3);
	set_env(NULL, "1");
	CHECK_EQ_INT(pl_listen_activated(&bad), -ENOTSOCK); /* not a socket */
	CHECK_EQ_INT(bad, 3);
	close(sv[1]);
}

static void test_activated_rejects_non_listeners(void) { in_child(not_a_listener); }

static void bad_counts(void)
{
	const char *bad[] = { "", "1x", " 1", "-1", "+1", "65537", "99999999999999999999" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_env(NULL, bad[i]);
		CHECK_EQ_INT(pl_listen_activated(NULL), -EINVAL);
		CHECK(getenv("LISTEN_FDS") && strcmp(getenv("LISTEN_FDS"), bad[i]) == 0); /* left */
	}
}

static void test_activated_rejects_bad_counts(void) { in_child(bad_counts); }

/* Descriptors meant for another process (or none) are left alone. */
static void not_ours(void)
{
	char other[24], plus[24];

	snprintf(other, sizeof(other), "%d", (int)getpid() + 1);
	snprintf(plus, sizeof(plus), "+%d", (int)getpid());
	put_at(listener(), 3);
	for (const char *pid[] = { other, plus, "", "1x", NULL }, **p = pid; *p; p++) {
		set_env(*p, "1");
		CHECK_EQ_INT(pl_listen_activated(NULL), 0);
		CHECK(getenv("LISTEN_FDS") != NULL); /* not ours to remove */
		CHECK(fcntl(3, F_GETFD) == 0);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	CHECK_EQ_INT(pl_listen_activated(NULL), 0);
	set_env(NULL, "0");
	CHECK_EQ_INT(pl_listen_activated(NULL), 0);
	CHECK(getenv("LISTEN_FDS") == NULL);
}

static void test_activated_ignores_other_pids(void) { in_child(not_ours); }

static const struct unit_test tests[] = {
	T(test_group_three_loops_serve_one_port_and_drain), T(test_group_unix_listener_shared),
	T(test_group_adopt_fd), T(test_group_size_bounds),
	T(test_activated_takes_listeners), T(test_activated_rejects_non_listeners),
	T(test_activated_rejects_bad_counts), T(test_activated_ignores_other_pids),
};
UNIT_MAIN(tests)
