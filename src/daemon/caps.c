// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomigd's privileges (libcap-ng): the drop at start-up, and the one capability it
 * may raise again afterwards.  CAP_NET_ADMIN is needed only to write a VF's network
 * settings (rtnetlink RTM_SETLINK) during a restore; when the daemon starts with it,
 * it stays permitted but not effective, and the job thread that writes raises it into
 * its own effective set for the span of the write.  Capabilities are per thread, and
 * so is libcap-ng's state: the other threads never hold it.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cap-ng.h>

#include "daemon.h"
#include "util.h"

/* --user: a user name, or UID[:GID] (a user /etc/passwd need not know). */
static int resolve_user(const char *s, uid_t *ret_uid, gid_t *ret_gid)
{
	struct passwd *pw = getpwnam(s);
	const char *colon = strchr(s, ':');
	char num[16];
	uint32_t uid, gid;

	if (pw) {
		*ret_uid = pw->pw_uid;
		*ret_gid = pw->pw_gid;
		return 0;
	}
	if ((size_t)(colon ? colon - s : (long)strlen(s)) >= sizeof(num))
		return -ENOENT;
	snprintf(num, sizeof(num), "%.*s", (int)(colon ? colon - s : (long)strlen(s)), s);
	if (parse_u32(num, 10, INT32_MAX, &uid) < 0)
		return -ENOENT;
	gid = uid;
	if (colon && parse_u32(colon + 1, 10, INT32_MAX, &gid) < 0)
		return -ENOENT;
	*ret_uid = uid;
	*ret_gid = gid;
	return 0;
}

/*
 * Drop every capability but those asked to keep, in every set; the bounding set too
 * when we may (CAP_SETPCAP).  CAP_NET_ADMIN, when we have it and were not told
 * otherwise, stays permitted only.  Then no new privileges.  This runs before any
 * thread exists, so that every thread starts from the result.
 */
int daemon_drop_privileges(const struct daemon_privileges *o)
{
	bool setpcap, net_admin, become = o->user != NULL;
	uid_t uid = 0;
	gid_t gid = 0;
	int r;

	if (become && resolve_user(o->user, &uid, &gid) < 0) {
		daemon_log(3, "--user %s: no such user (a name, or UID[:GID])", o->user);
		return -ENOENT;
	}
	capng_get_caps_process();
	setpcap = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	net_admin = !o->no_net_admin &&
		    capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN);
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE && !become) {
		daemon_log(7, "no capabilities to drop");
	} else {
		capng_clear(setpcap ? CAPNG_SELECT_ALL : CAPNG_SELECT_CAPS);
		if (net_admin)
			capng_update(CAPNG_ADD, CAPNG_PERMITTED, CAP_NET_ADMIN);
		for (size_t i = 0; i < o->n_keep; i++)
			capng_update(CAPNG_ADD,
				     CAPNG_EFFECTIVE | CAPNG_PERMITTED |
					     (setpcap ? CAPNG_BOUNDING_SET : 0),
				     (unsigned)o->keep_caps[i]);
		if (become)
			r = capng_change_id((int)uid, (int)gid,
					    CAPNG_DROP_SUPP_GRP |
						    (setpcap ? CAPNG_CLEAR_BOUNDING : 0));
		else
			r = capng_apply(setpcap ? CAPNG_SELECT_ALL : CAPNG_SELECT_CAPS);
		if (r < 0) {
			daemon_log(3, "cannot drop capabilities%s%s (libcap-ng error %d)",
				   become ? " and become " : "", become ? o->user : "",
				   r);
			return -EPERM;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		daemon_log(3, "PR_SET_NO_NEW_PRIVS: %m");
		return -errno;
	}
	capng_get_caps_process();
	{
		char *txt = capng_print_caps_text(CAPNG_PRINT_BUFFER, CAPNG_EFFECTIVE);
		bool scoped = capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN) &&
			      !capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN);

		daemon_log(6, "running as uid %u with capabilities: %s%s",
			   (unsigned)geteuid(), txt && *txt ? txt : "none",
			   scoped ? "; net_admin permitted, raised only while a job "
				    "writes VF network settings"
				  : "");
		free(txt);
	}
	return 0;
}

static __thread bool net_admin_raised;

int daemon_net_privilege(void *userdata, bool raise, char *why, size_t why_size)
{
	(void)userdata;
	if (!raise) {
		if (!net_admin_raised)
			return 0;
		net_admin_raised = false;
		capng_get_caps_process();
		capng_update(CAPNG_DROP, CAPNG_EFFECTIVE, CAP_NET_ADMIN);
		if (capng_apply(CAPNG_SELECT_CAPS) < 0) {
			/* Lowering within the permitted set does not fail; if it did,
			 * this thread would keep the right: say so loudly. */
			daemon_log(2, "cannot lower CAP_NET_ADMIN in a job thread");
			return -EPERM;
		}
		daemon_log(7, "CAP_NET_ADMIN lowered");
		return 0;
	}
	if (capng_get_caps_process() < 0) {
		snprintf(why, why_size, "vfiomigd cannot read its capabilities");
		return -EPERM;
	}
	if (capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN))
		return 0; /* --keep-cap net_admin */
	if (!capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN)) {
		snprintf(why, why_size,
			 "vfiomigd holds no CAP_NET_ADMIN: it was started without it, or "
			 "with --no-net-admin");
		return -EPERM;
	}
	capng_update(CAPNG_ADD, CAPNG_EFFECTIVE, CAP_NET_ADMIN);
	if (capng_apply(CAPNG_SELECT_CAPS) < 0) {
		snprintf(why, why_size, "vfiomigd cannot raise CAP_NET_ADMIN");
		return -EPERM;
	}
	net_admin_raised = true;
	daemon_log(7, "CAP_NET_ADMIN raised to write VF network settings");
	return 0;
}
