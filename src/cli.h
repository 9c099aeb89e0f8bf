/* cli.h - what the three programs share: messages, options, numbers, addresses. */
#ifndef PARLEY_CLI_H
#define PARLEY_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#include "parley/addr.h"

#ifndef PARLEY_GIT_REV
#define PARLEY_GIT_REV "unknown"
#endif

#define EXIT_USAGE 2

/* The port of all three programs when an address names none. */
#define CLI_DEFAULT_PORT 1234

extern const char *cli_prog; /* the program's name, for messages */
/* When set, cli_warn, cli_die and usage errors hand it the message instead
 * of printing "PROG: message" (parley-server --log-format json). */
extern void (*cli_warn_hook)(const char *msg);

/* "PROG: text" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cli_warn, then exit(code). */
noreturn void cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A usage error: the message, a hint to --help, exit 2. */
noreturn void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A program's options, one table from which cli_getopt_init builds both
 * arguments of getopt_long, so a letter cannot drift from its long name.
 * An option with a letter is returned as the letter (id is 0); one with
 * only a long name is returned as id (1, 2, ...); name is NULL for a
 * letter alone (parley-client -4).  The table ends with { 0 }.
 */
struct cli_opt {
	const char *name;
	char letter;
	int has_arg;      /* no_argument or required_argument */
	int id;
};

/* getopt_long's option string and long options, built from a table. */
#define CLI_OPTS_MAX 64
struct cli_getopt {
	char shorts[2 + 2 * CLI_OPTS_MAX];     /* ":" then "r:e..." */
	struct option longs[CLI_OPTS_MAX + 1]; /* ends with { 0 } */
};
/* more (may be NULL) is a second table, e.g. the TLS options of cli_tls.h */
void cli_getopt_init(struct cli_getopt *g, const struct cli_opt *opts, const struct cli_opt *more);

/*
 * What a getopt_long whose option string starts with ':' returned for a
 * mistake (':' a missing value, '?' an unknown, ambiguous or value-given
 * option), with its long options: one message, exit 2.
 */
noreturn void cli_bad_option(int ch, char *const *argv, const struct option *longs);

/* Numbers from options; usage error naming the option when bad. */
unsigned long long cli_uint(const char *opt, const char *s, unsigned long long max);
unsigned long long cli_uint_range(const char *opt, const char *s, unsigned long long min,
				  unsigned long long max);
/* A size with an optional K, M or G suffix (powers of 1024). */
unsigned long long cli_size(const char *opt, const char *s, unsigned long long max);
unsigned long long cli_size_range(const char *opt, const char *s, unsigned long long min,
				  unsigned long long max);
/*
 * Seconds, fractions down to 1 ms allowed, at most CLI_SECONDS_MAX (about
 * 115 days); returns milliseconds.  Anything else is a usage error.
 */
#define CLI_SECONDS_MAX 10000000
long long cli_seconds_ms(const char *opt, const char *s);

/* An address from the command line, or a usage error. */
void cli_addr(struct pl_addr *a, const char *text, uint16_t default_port, unsigned flags);

/* A formatted address in a static buffer (one of a few rotating slots). */
const char *cli_addr_str(const struct pl_addr *a);

/*
 * Decodes C escapes (\n \r \t \0 \\ \xHH) of s into out, which needs
 * strlen(s) bytes at most.  Returns the length, or -1 on any other escape
 * (\q, \x without two hex digits, a lone \ at the end).
 */
ssize_t cli_unescape(const char *s, uint8_t *out);
/* cli_unescape, or a usage error naming opt. */
size_t cli_unescape_opt(const char *opt, const char *s, uint8_t *out);

/*
 * cli_unescape for bytes that may hold raw NULs (a stdin line with -E):
 * out needs n bytes, tmp n + 1.  Returns the decoded length, or -1 on a
 * bad escape.
 */
ssize_t cli_unescape_bytes(const uint8_t *p, size_t n, uint8_t *out, char *tmp);

/* Opens /dev/null on whichever of fds 0, 1 and 2 are closed; call first. */
void cli_std_fds(void);

/* Prints "version (git REV)" and exits 0. */
noreturn void cli_version(void);

#endif
