/*
 * client.h - the parts of parley-client shared by its stream and datagram
 * sides: the messages to send, and how replies reach stdout.
 */
#ifndef PARLEY_CLIENT_PROG_H
#define PARLEY_CLIENT_PROG_H

#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "parley/addr.h"

struct msg {
	const char *p; /* NULL: "-", the lines of stdin go here */
	size_t len;
};

/* "server says: TEXT", the reply escaped for a terminal (escape.h). */
void client_print_reply(const uint8_t *p, size_t n);
/*
 * Replies leave before the client waits again, even into a pipe or a file
 * (stdio would hold them in its buffer), so a program that reads a reply
 * before it writes the next line (a coprocess) is answered.
 */
void client_flush_stdout(void);
/* A write to stdout failed with err: quietly killed by SIGPIPE when its
 * reader went away (like cat), else one line and exit 1. */
noreturn void client_stdout_failed(int err);

/* What parley-client was asked to do over udp:, unixgram: or seqpacket:. */
struct dgram_opts {
	const struct pl_addr *targets; /* ADDRESS resolved, tried in turn */
	size_t ntargets;
	const struct pl_addr *source;  /* -s, resolved; NULL: the OS picks (or autobind) */
	const struct msg *msgs;        /* the MESSAGE arguments */
	int nmsgs;
	int escapes, verbose;          /* -E, -v */
	long long timeout_ms;          /* -t: each try's wait for its reply; 0: none */
	unsigned retries;              /* --retries: tries after the first */
	uint32_t max_msg;              /* largest reply, and longest stdin line */
	int stream, no_shutdown;       /* -S, -N */
	long long idle_ms, quit_ms;    /* -w, --quit; < 0 when unset */
};

/* Sends the messages (or, with stream, stdin) and prints the replies;
 * returns when all went well, exits 1 with one line on any failure. */
void client_dgram(const struct dgram_opts *o);

#endif
