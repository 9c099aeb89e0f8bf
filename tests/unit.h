/*
 * unit.h - a very small unit-test harness: one process runs one named test.
 * A failed check prints where and what, then ends its test at once.
 */
#ifndef PARLEY_UNIT_H
#define PARLEY_UNIT_H

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <unistd.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

static int unit_failures;
static jmp_buf unit_stop;   /* the runner, to end a test whose check failed */
static pid_t unit_runner;   /* a child the test forked has no runner to go back to */

/*
 * Ends the running test as failed.  Going on after a failed check only
 * piles up errors that follow from it, or crashes on the NULL or the
 * closed descriptor it let through, which hides the first message.
 */
static noreturn void unit_fail(void)
{
	unit_failures++;
	if (getpid() != unit_runner)
		_exit(1);
	longjmp(unit_stop, 1);
}

static void unit_run(const struct unit_test *t)
{
	unit_runner = getpid();
	if (setjmp(unit_stop) == 0)
		t->fn();
}

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			unit_fail();                                                 \
		}                                                                    \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                           \
	do {                                                                         \
		long long a_ = (long long)(a), b_ = (long long)(b);                  \
		if (a_ != b_) {                                                      \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, \
				__LINE__, #a, a_, b_);                               \
			unit_fail();                                                 \
		}                                                                    \
	} while (0)

#define CHECK_STR(a, b)                                                              \
	do {                                                                         \
		const char *a_ = (a), *b_ = (b);                                     \
		if (strcmp(a_, b_) != 0) {                                           \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n",     \
				__FILE__, __LINE__, #a, a_, b_);                     \
			unit_fail();                                                 \
		}                                                                    \
	} while (0)

#define UNIT_MAIN(tests)                                                             \
	int main(int argc, char **argv)                                              \
	{                                                                            \
		size_t n = sizeof(tests) / sizeof(tests[0]);                         \
		if (argc == 2 && strcmp(argv[1], "--list") == 0) {                   \
			for (size_t i = 0; i < n; i++)                               \
				printf("%s\n", tests[i].name);                       \
			return 0;                                                    \
		}                                                                    \
		for (size_t i = 0; i < n; i++)                                       \
			if (argc < 2 || strcmp(argv[1], tests[i].name) == 0) {       \
				unit_run(&tests[i]);                                 \
				if (argc == 2)                                       \
					return unit_failures ? 1 : 0;                \
			}                                                            \
		if (argc == 2) {                                                     \
			fprintf(stderr, "no test named %s\n", argv[1]);              \
			return 2;                                                    \
		}                                                                    \
		return unit_failures ? 1 : 0;                                        \
	}

#define T(fn) { #fn, fn }

#endif
