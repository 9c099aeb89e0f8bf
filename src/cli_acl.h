/* cli_acl.h - parley-server's access options (--allow, --deny, --allow-uid,
 * --allow-gid) and the line that logs a refused client. */
#ifndef PARLEY_CLI_ACL_H
#define PARLEY_CLI_ACL_H

#include "cli.h"
#include "parley/acl.h"
#include "parley/server.h"

/* Option ids for the program's table (past every letter and TLS's). */
enum { CLI_ACL_ALLOW = 400, CLI_ACL_DENY, CLI_ACL_UID, CLI_ACL_GID };

struct cli_acl {
	struct pl_acl *acl;        /* NULL until a rule is given: everyone is let in */
	struct cli_acl_rule { const char *opt, *arg; } *rule; /* as typed, in the acl's order */
	size_t n;
};

/* Takes option id with its value; 0 when id is not an access option.  A
 * bad address, user or group is a usage error naming the option. */
int cli_acl_option(struct cli_acl *a, int id, const char *arg);

/* Logs a PL_EV_REJECT for PL_CLOSE_DENIED: the peer (and a Unix peer's uid
 * and gid), and the rule that refused it or that none let it in. */
void cli_acl_log_denied(const struct cli_acl *a, const struct pl_server_event *ev);

void cli_acl_free(struct cli_acl *a);

#endif
