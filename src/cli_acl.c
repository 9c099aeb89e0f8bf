/* cli_acl.c - parley-server's access options and their log line. */
#include "cli_acl.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *const names[] = { "--allow", "--deny", "--allow-uid", "--allow-gid" };

/* A number, or a name looked up once, now: the rules hold numbers. */
static unsigned id_of(const char *opt, const char *arg, int user)
{
	struct passwd *pw;
	struct group *gr;

	if (arg[0] >= '0' && arg[0] <= '9')
		return (unsigned)cli_uint(opt, arg, (unsigned)-2); /* (unsigned)-1: no one */
	if (user && (pw = getpwnam(arg)))
		return pw->pw_uid;
	if (!user && (gr = getgrnam(arg)))
		return gr->gr_gid;
	cli_usage_error("%s: no %s named '%s'", opt, user ? "user" : "group", arg);
}

int cli_acl_option(struct cli_acl *a, int id, const char *arg)
{
	const char *opt, *why = "";
	struct cli_acl_rule *p;
	int r;

	if (id < CLI_ACL_ALLOW || id > CLI_ACL_GID)
		return 0;
	opt = names[id - CLI_ACL_ALLOW];
	p = realloc(a->rule, (a->n + 1) * sizeof(*p));
	if (!p || (!a->acl && pl_acl_new(&a->acl) < 0))
		cli_die(1, "%s: %s", opt, strerror(ENOMEM));
	a->rule = p;
	if (id == CLI_ACL_UID)
		r = pl_acl_add_uid(a->acl, PL_ACL_ALLOW, id_of(opt, arg, 1));
	else if (id == CLI_ACL_GID)
		r = pl_acl_add_gid(a->acl, PL_ACL_ALLOW, id_of(opt, arg, 0));
	else
		r = pl_acl_add(a->acl, id == CLI_ACL_ALLOW ? PL_ACL_ALLOW : PL_ACL_DENY, arg, &why);
	if (r == -EINVAL)
		cli_usage_error("%s: bad address '%s': %s", opt, arg, why);
	if (r < 0)
		cli_die(1, "%s: %s", opt, strerror(-r));
	a->rule[a->n++] = (struct cli_acl_rule){ opt, arg };
	return 1;
}

void cli_acl_log_denied(const struct cli_acl *a, const struct pl_server_event *ev)
{
	struct sockaddr_storage ss = { .ss_family = AF_UNIX };
	socklen_t len = sizeof(sa_family_t);
	const char *peer = cli_addr_str(ev->peer), *fields[9] = { "peer", peer };
	char who[64] = "", uid[16], gid[16], rule[PL_ADDR_TEXT_MAX + 16], why[PL_ADDR_TEXT_MAX + 64];
	int k = 2;
	long i;

	if (ev->peer->kind == PL_ADDR_IP4 || ev->peer->kind == PL_ADDR_IP6)
		pl_addr_to_sockaddr(ev->peer, &ss, &len);
	/* the rules are pure: asked again, they say which one refused */
	i = pl_acl_match(a->acl, (const struct sockaddr *)&ss, len, ev->cred);
	if (ev->cred) {
		snprintf(uid, sizeof(uid), "%u", (unsigned)ev->cred->uid);
		snprintf(gid, sizeof(gid), "%u", (unsigned)ev->cred->gid);
		snprintf(who, sizeof(who), " uid %s gid %s", uid, gid);
		fields[k++] = "#uid", fields[k++] = uid, fields[k++] = "#gid", fields[k++] = gid;
	}
	if (i >= 0) {
		snprintf(rule, sizeof(rule), "%s %s", a->rule[i].opt, a->rule[i].arg);
		snprintf(why, sizeof(why), "by %s", rule);
		fields[k++] = "rule", fields[k++] = rule;
	} else {
		snprintf(why, sizeof(why), ", %s", ss.ss_family != AF_UNIX ? "no --allow matches"
				 : ev->cred ? "no --allow-uid or --allow-gid matches"
				 : "its credentials could not be read");
	}
	fields[k] = NULL;
	log_event(0, "denied", fields, "%s%s: denied%s%s; closing", peer, who, i >= 0 ? " " : "", why);
}

void cli_acl_free(struct cli_acl *a)
{
	pl_acl_free(a->acl);
	free(a->rule);
}
