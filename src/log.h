/* log.h - the server's event log on stderr: plain text or JSON lines. */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

enum log_format { LOG_TEXT, LOG_JSON };

void log_set_format(enum log_format f);

/*
 * Writes one event as one line.  Text: the formatted message (warnings get
 * the "PROG: " prefix).  JSON: {"ts": RFC 3339 UTC, "level", "event", "msg",
 * then each name/value of fields (a NULL-terminated list of pairs)}.  A
 * name starting with '#' (dropped from the output) marks a value that is
 * already JSON, a number or an array the program made.
 */
void log_event(int warn, const char *event, const char *const *fields, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
