/* cli.c - shared edge code for the programs: the text humans read. */
#include "cli.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "parley/version.h"

const char *cli_prog = "parley";
void (*cli_warn_hook)(const char *msg);

static void vwarn(const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (cli_warn_hook) {
		cli_warn_hook(line);
		return;
	}
	/* one write, so lines from several processes do not interleave */
	fprintf(stderr, "%s: %s\n", cli_prog, line);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void cli_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(code);
}

void cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	if (!cli_warn_hook)
		fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
	exit(EXIT_USAGE);
}

/* strtoull and strtod skip leading blanks and take a sign: a number here
 * starts with a digit (or, for seconds, the point of ".5"). */
static int digit(char c) { return c >= '0' && c <= '9'; }

unsigned long long cli_uint_range(const char *opt, const char *s, unsigned long long min,
				  unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!digit(*s) || *end || errno || v < min || v > max)
		cli_usage_error("%s: '%s' is not a number from %llu to %llu", opt, s, min, max);
	return v;
}

unsigned long long cli_uint(const char *opt, const char *s, unsigned long long max)
{
	return cli_uint_range(opt, s, 0, max);
}

unsigned long long cli_size(const char *opt, const char *s, unsigned long long max)
{
	return cli_size_range(opt, s, 0, max);
}

unsigned long long cli_size_range(const char *opt, const char *s, unsigned long long min,
				  unsigned long long max)
{
	char *end;
	unsigned long long v, mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end == 'K' || *end == 'k')
		mul = 1024;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024;
	else if (*end == 'G' || *end == 'g')
		mul = 1024ULL * 1024 * 1024;
	if (mul > 1)
		end++;
	if (!digit(*s) || *end || errno || v > max / mul || v * mul < min)
		cli_usage_error("%s: '%s' is not a size from %llu to %llu (K, M, G allowed)", opt, s,
				min, max);
	return v * mul;
}

long long cli_seconds_ms(const char *opt, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* "nan", "inf", hex floats and "1e" are strtod's, not ours */
	if (!(digit(*s) || (*s == '.' && digit(s[1]))) || *end || errno || strpbrk(s, "nNiIxXpP") ||
	    !(v >= 0) || v > CLI_SECONDS_MAX)
		cli_usage_error("%s: '%s' is not a number of seconds from 0 to %d",
				opt, s, CLI_SECONDS_MAX);
	if (v > 0 && v < 0.001)
		cli_usage_error("%s: '%s' is below the resolution of 1 ms "
				"(0 has its own meaning)", opt, s);
	return (long long)llround(v * 1000);
}

void cli_addr(struct pl_addr *a, const char *text, uint16_t default_port, unsigned flags)
{
	const char *why = NULL;

	if (pl_addr_parse(a, text, default_port, flags, &why) < 0)
		cli_usage_error("bad address '%s': %s", text, why);
}

const char *cli_addr_str(const struct pl_addr *a)
{
	/* per thread: parley-server --threads logs from every event loop */
	static _Thread_local char slots[4][PL_ADDR_TEXT_MAX];
	static _Thread_local unsigned next;
	char *s = slots[next++ % 4];

	pl_addr_format(a, s, PL_ADDR_TEXT_MAX);
	return s;
}

void cli_version(void)
{
	printf("%s %s (git %s)\n", cli_prog, PARLEY_VERSION, PARLEY_GIT_REV);
	exit(0);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

ssize_t cli_unescape(const char *s, uint8_t *out)
{
	size_t n = 0;

	while (*s) {
		if (*s != '\\') {
			out[n++] = (uint8_t)*s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case '0': out[n++] = 0; break;
		case '\\': out[n++] = '\\'; break;
		case 'x':
			if (hexval(s[1]) < 0 || hexval(s[2]) < 0)
				return -1;
			out[n++] = (uint8_t)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
			break;
		default: return -1; /* unknown escape or a lone \ at the end */
		}
		s++;
	}
	return (ssize_t)n;
}

size_t cli_unescape_opt(const char *opt, const char *s, uint8_t *out)
{
	ssize_t n = cli_unescape(s, out);

	if (n < 0)
		cli_usage_error("%s: '%s' has a bad escape (\\n \\r \\t \\0 \\\\ \\xHH allowed)",
				opt, s);
	return (size_t)n;
}

/* Each NUL-free piece is decoded on its own (cli_unescape wants a C
 * string) and the NULs between them kept. */
ssize_t cli_unescape_bytes(const uint8_t *p, size_t n, uint8_t *out, char *tmp)
{
	size_t i = 0, len = 0;

	memcpy(tmp, p, n);
	tmp[n] = '\0';
	for (;;) {
		ssize_t r = cli_unescape(tmp + i, out + len);
		if (r < 0)
			return -1;
		len += (size_t)r;
		i += strlen(tmp + i);
		if (i >= n)
			return (ssize_t)len;
		out[len++] = 0;
		i++;
	}
}

void cli_std_fds(void)
{
	/*
	 * Started with 0, 1 or 2 closed (`prog <&-`), the first socket would
	 * take that number and be read as stdin or written as stdout.
	 */
	for (;;) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (fd < 0)
			exit(1); /* nowhere to say it */
		if (fd > 2) {
			close(fd);
			return;
		}
		/* the standard fds are inherited, not close-on-exec */
		fcntl(fd, F_SETFD, 0);
	}
}

void cli_getopt_init(struct cli_getopt *g, const struct cli_opt *opts, const struct cli_opt *more)
{
	char *s = g->shorts;
	int n = 0;

	*s++ = ':'; /* getopt's own messages off: cli_bad_option says it once */
	for (int t = 0; t < 2; t++) {
		for (const struct cli_opt *o = t ? more : opts; o && (o->name || o->letter); o++) {
			assert(n < CLI_OPTS_MAX && (o->letter != 0) != (o->id != 0) &&
			       o->has_arg != optional_argument);
			if (o->letter) {
				*s++ = o->letter;
				if (o->has_arg == required_argument)
					*s++ = ':';
			}
			if (o->name)
				g->longs[n++] = (struct option){ o->name, o->has_arg, NULL,
								 o->letter ? o->letter : o->id };
		}
	}
	*s = '\0';
	g->longs[n] = (struct option){ 0 };
}

/*
 * getopt's own messages are off (the ':' in front of the option string):
 * one line says which option is wrong and how, then the --help hint.
 * A long option that failed is the argument getopt just stepped over; a
 * short one is optopt (the argument may hold several).
 */
void cli_bad_option(int ch, char *const *argv, const struct option *longs)
{
	const char *arg = argv[optind - 1], *name = arg + 2;
	int len = (int)strcspn(name, "="), matches = 0, is_long = strncmp(arg, "--", 2) == 0;

	for (const struct option *o = longs; is_long && o->name; o++)
		if (strncmp(o->name, name, (size_t)len) == 0 && (!optopt || o->val == optopt))
			matches++;
	if (!is_long || (optopt && !matches)) {
		if (ch == ':')
			cli_usage_error("option '-%c' needs a value", optopt);
		cli_usage_error("unknown option '-%c'", optopt);
	}
	if (ch == ':')
		cli_usage_error("option '--%.*s' needs a value", len, name);
	if (optopt)
		cli_usage_error("option '--%.*s' takes no value", len, name);
	if (matches > 1)
		cli_usage_error("option '--%.*s' is ambiguous", len, name);
	cli_usage_error("unknown option '%s'", arg); /* as typed, any =VALUE too */
}
