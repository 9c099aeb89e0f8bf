/* client_out.c - what parley-client writes to stdout, whatever the socket. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "parley/escape.h"

/*
 * The reader of stdout went away (piped into head): end quietly, as cat or
 * seq do when SIGPIPE kills them.  SIGPIPE is ignored only so that a socket
 * never kills us; here it is let through.  Status 141 (what a shell shows
 * for that death) if it is blocked.
 */
static noreturn void stdout_gone(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(SIGPIPE);
	_exit(128 + SIGPIPE);
}

noreturn void client_stdout_failed(int err)
{
	if (err == EPIPE)
		stdout_gone();
	cli_die(1, "write to stdout: %s", strerror(err));
}

void client_flush_stdout(void)
{
	if (fflush(stdout) != 0)
		client_stdout_failed(errno);
}

void client_print_reply(const uint8_t *p, size_t n)
{
	char text[PL_ESCAPE_CAP(PL_ESCAPE_LIMIT)];

	pl_escape(p, n, PL_ESCAPE_LIMIT, text, sizeof(text));
	if (printf("server says: %s\n", text) < 0)
		client_stdout_failed(errno);
}

