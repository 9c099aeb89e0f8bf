/* log.c - one line per event, text for people or JSON for machines. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static enum log_format format = LOG_TEXT;

/* Warnings and fatal errors from cli.c, as events when the log is JSON. */
static void warn_json(const char *msg)
{
	log_event(1, "error", NULL, "%s", msg);
}

void log_set_format(enum log_format f)
{
	format = f;
	cli_warn_hook = f == LOG_JSON ? warn_json : NULL;
}

/* Length of s as a JSON string, quotes included. */
static size_t json_len(const char *s)
{
	size_t n = 2;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		n += c == '"' || c == '\\' ? 2 : c < 0x20 || c >= 0x7f ? 6 : 1;
	}
	return n;
}

/*
 * Appends s as a JSON string (quotes included) at buf + o, ending by cap.
 * What does not fit is cut before the first escape that would not, and the
 * string is still closed: a cut line must stay JSON.  Needs o + 2 <= cap.
 */
static size_t json_str(char *buf, size_t cap, size_t o, const char *s)
{
	buf[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		size_t n = 1;

		if (c == '"' || c == '\\')
			n = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
		else
			esc[0] = (char)c;
		if (o + n + 1 > cap)
			break;
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	return o;
}

static void rfc3339_now(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%.19s.%03dZ", base, (int)(ts.tv_nsec / 1000000) % 1000);
}

void log_event(int warn, const char *event, const char *const *fields, const char *fmt, ...)
{
	char msg[1024], line[4096], ts[40];
	size_t o = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (format == LOG_TEXT) {
		/* one fputs per line, so lines never interleave */
		snprintf(line, sizeof(line), "%s%s%s\n", warn ? cli_prog : "", warn ? ": " : "", msg);
		fputs(line, stderr);
		return;
	}
	rfc3339_now(ts, sizeof(ts));
	o += (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts,
			      warn ? "warn" : "info");
	o = json_str(line, sizeof(line), o, event);
	o += (size_t)snprintf(line + o, sizeof(line) - o, ",\"msg\":");
	/* the message (1023 bytes, up to 6 each escaped) is what may be cut;
	 * half the line stays for the fields */
	o = json_str(line, sizeof(line) / 2, o, msg);
	for (; fields && fields[0]; fields += 2) {
		int raw = fields[0][0] == '#';
		const char *v = fields[1] ? fields[1] : "";
		size_t vlen = raw ? strlen(v) : json_len(v);

		/* a field is written whole or not at all (room for "}\n" kept) */
		if (o + 2 + json_len(fields[0] + raw) + vlen + 3 > sizeof(line))
			continue;
		line[o++] = ',';
		o = json_str(line, sizeof(line), o, fields[0] + raw);
		line[o++] = ':';
		if (raw) { /* a number or array the program made, not text from a peer */
			o += (size_t)snprintf(line + o, sizeof(line) - o, "%s", v); /* fits: checked */
		} else {
			o = json_str(line, sizeof(line), o, v);
		}
	}
	memcpy(line + o, "}\n", 3);
	fputs(line, stderr);
}
