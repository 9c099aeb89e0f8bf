/*
 * faultshim.so - LD_PRELOAD fault injection for tests, for faults the kernel
 * will not produce on demand.
 *
 *   FAULT_ACCEPT=ERRNO:N     the first N accept4 calls fail with ERRNO
 *                            (a name: ECONNABORTED, ENOBUFS, EMFILE, ...)
 *                            without taking a connection from the queue
 *   FAULT_EPOLL_CONN=ERRNO:N the first N epoll_ctl(EPOLL_CTL_ADD) calls for a
 *                            connected TCP socket fail with ERRNO (a
 *                            connection that cannot be set up)
 *   FAULT_NAME=NAME=A1,A2..  getaddrinfo(NAME) returns the numeric hosts
 *                            A1, A2, ... in that order (a name with several
 *                            addresses, without editing /etc/hosts)
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static const struct { const char *name; int err; } errs[] = {
	{ "ECONNABORTED", ECONNABORTED }, { "EPROTO", EPROTO }, { "EPERM", EPERM },
	{ "ENOBUFS", ENOBUFS },           { "ENOMEM", ENOMEM }, { "EMFILE", EMFILE },
	{ "ENFILE", ENFILE },             { "EINTR", EINTR },
};

/* "ERRNO:N" from the environment: *err and the count of faults left. */
static int fault_spec(const char *var, int *err)
{
	const char *spec = getenv(var), *colon = spec ? strchr(spec, ':') : NULL;
	int left = colon ? atoi(colon + 1) : 0;

	*err = 0;
	for (size_t i = 0; colon && i < sizeof(errs) / sizeof(errs[0]); i++)
		if (strncmp(spec, errs[i].name, (size_t)(colon - spec)) == 0 &&
		    strlen(errs[i].name) == (size_t)(colon - spec))
			*err = errs[i].err;
	return *err ? left : 0;
}

int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	static int (*real)(int, struct sockaddr *, socklen_t *, int);
	static int left = -1, err;

	if (!real)
		real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
	if (left < 0)
		left = fault_spec("FAULT_ACCEPT", &err);
	if (left > 0) {
		left--;
		errno = err;
		return -1;
	}
	return real(fd, sa, len, flags);
}

static int connected_tcp(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type = 0, listening = 1;
	socklen_t tl = sizeof(type), ll = sizeof(listening);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
	       getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) == 0 && !listening &&
	       getpeername(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family != AF_UNIX;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	static int (*real)(int, int, int, struct epoll_event *);
	static int left = -1, err;

	if (!real)
		real = (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
	if (left < 0)
		left = fault_spec("FAULT_EPOLL_CONN", &err);
	if (left > 0 && op == EPOLL_CTL_ADD && connected_tcp(fd)) {
		left--;
		errno = err;
		return -1;
	}
	return real(epfd, op, fd, ev);
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
