/*
 * faultshim.so - LD_PRELOAD fault injection for tests, for faults the kernel
 * will not produce on demand.
 *
 *   FAULT_ACCEPT=ERRNO:N     the first N accept4 calls fail with ERRNO
 *                            (a name: ECONNABORTED, ENOBUFS, EMFILE, ...)
 *                            without taking a connection from the queue
 *   FAULT_NAME=NAME=A1,A2..  getaddrinfo(NAME) returns the numeric hosts
 *                            A1, A2, ... in that order (a name with several
 *                            addresses, without editing /etc/hosts)
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const struct { const char *name; int err; } errs[] = {
	{ "ECONNABORTED", ECONNABORTED }, { "EPROTO", EPROTO }, { "EPERM", EPERM },
	{ "ENOBUFS", ENOBUFS },           { "ENOMEM", ENOMEM }, { "EMFILE", EMFILE },
	{ "ENFILE", ENFILE },             { "EINTR", EINTR },
};

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	static int (*real)(int, struct sockaddr *, socklen_t *, int);
	static int left = -1, err;
	const char *spec = getenv("FAULT_ACCEPT");

	if (!real)
		real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
	if (left < 0) {
		const char *colon = spec ? strchr(spec, ':') : NULL;
		left = colon ? atoi(colon + 1) : 0;
		for (size_t i = 0; colon && i < sizeof(errs) / sizeof(errs[0]); i++)
			if (strncmp(spec, errs[i].name, (size_t)(colon - spec)) == 0 &&
			    strlen(errs[i].name) == (size_t)(colon - spec))
				err = errs[i].err;
		if (!err)
			left = 0;
	}
	if (left > 0) {
		left--;
		errno = err;
		return -1;
	}
	return real(fd, sa, len, flags);
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	const char *spec = getenv("FAULT_NAME"), *eq = spec ? strchr(spec, '=') : NULL;
	struct addrinfo h = hints ? *hints : (struct addrinfo){ 0 }, *head = NULL, **tail = &head;
	char list[1024], *save, *a;

	if (!real)
		real = (int (*)(const char *, const char *, const struct addrinfo *,
				struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
	if (!node || !eq || strlen(eq + 1) >= sizeof(list) ||
	    strncmp(node, spec, (size_t)(eq - spec)) != 0 || node[eq - spec])
		return real(node, service, hints, res);
	strcpy(list, eq + 1);
	h.ai_flags |= AI_NUMERICHOST;
	for (a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		/* glibc's freeaddrinfo frees node by node, so chained lists free cleanly */
		int r = real(a, service, &h, tail);
		if (r != 0)
			continue;
		while (*tail)
			tail = &(*tail)->ai_next;
	}
	*res = head;
	return head ? 0 : EAI_NONAME;
}
