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

/* Appends s as a JSON string (quotes included) to buf. */
static size_t json_str(char *buf, size_t cap, size_t o, const char *s)
{
	o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, "\"");
	for (; *s && o < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, cap - o, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", c);
		else
			buf[o++] = (char)c;
	}
	return o + (size_t)snprintf(buf + o, o < cap ? cap - o : 0, "\"");
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
	o = json_str(line, sizeof(line) - 4, o, event);
	o += (size_t)snprintf(line + o, sizeof(line) - o, ",\"msg\":");
	o = json_str(line, sizeof(line) - 4, o, msg);
	for (; fields && fields[0]; fields += 2) {
		int raw = fields[0][0] == '#';
		o += (size_t)snprintf(line + o, sizeof(line) - o, ",");
		o = json_str(line, sizeof(line) - 4, o, fields[0] + raw);
		o += (size_t)snprintf(line + o, sizeof(line) - o, ":");
		if (raw) /* a number or array the program made, not text from a peer */
			o += (size_t)snprintf(line + o, o < sizeof(line) - 4 ? sizeof(line) - 4 - o : 0,
					      "%s", fields[1]);
		else
			o = json_str(line, sizeof(line) - 4, o, fields[1] ? fields[1] : "");
	}
	snprintf(line + (o < sizeof(line) - 3 ? o : sizeof(line) - 3), 3, "}\n");
	fputs(line, stderr);
}
