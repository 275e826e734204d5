// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "util.h"
#include "vfiomig.h"

static const char *const state_names[VFM_STATE_MAX] = {
	[VFM_STATE_ERROR] = "ERROR",
	[VFM_STATE_STOP] = "STOP",
	[VFM_STATE_RUNNING] = "RUNNING",
	[VFM_STATE_STOP_COPY] = "STOP_COPY",
	[VFM_STATE_RESUMING] = "RESUMING",
	[VFM_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFM_STATE_PRE_COPY] = "PRE_COPY",
	[VFM_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

static const struct {
	uint32_t flag;
	const char *name;
} flag_names[] = {
	{ VFM_MIG_STOP_COPY, "stop-copy" },
	{ VFM_MIG_P2P, "p2p" },
	{ VFM_MIG_PRE_COPY, "pre-copy" },
};

_public_ const char *vfm_state_name(enum vfm_state state)
{
	if ((unsigned)state >= VFM_STATE_MAX)
		return NULL;
	return state_names[state];
}

_public_ int vfm_state_from_name(const char *name, enum vfm_state *ret_state)
{
	if (!name)
		return -EINVAL;
	for (unsigned i = 0; i < VFM_STATE_MAX; i++)
		if (name_eq(name, state_names[i])) {
			*ret_state = (enum vfm_state)i;
			return 0;
		}
	return -EINVAL;
}

_public_ int vfm_flags_format(uint32_t flags, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return -ENOBUFS;
	buf[0] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(flag_names); i++) {
		int n;

		if (!(flags & flag_names[i].flag))
			continue;
		n = snprintf(buf + len, size - len, "%s%s", len ? "," : "", flag_names[i].name);
		if (n < 0 || (size_t)n >= size - len)
			return -ENOBUFS;
		len += (size_t)n;
	}
	if (flags & ~(uint32_t)VFM_MIG_ALL) {
		int n = snprintf(buf + len, size - len, "%s0x%x", len ? "," : "",
				 flags & ~(uint32_t)VFM_MIG_ALL);
		if (n < 0 || (size_t)n >= size - len)
			return -ENOBUFS;
		len += (size_t)n;
	}
	if (len == 0) {
		if (size < 5)
			return -ENOBUFS;
		strcpy(buf, "none");
		len = 4;
	}
	return (int)len;
}

_public_ int vfm_flags_parse(const char *s, uint32_t *ret_flags)
{
	uint32_t flags = 0;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		const char *end = strchrnul(s, ',');
		size_t n = (size_t)(end - s);
		char word[16];
		bool found = false;

		if (n == 0 || n >= sizeof(word))
			return -EINVAL;
		memcpy(word, s, n);
		word[n] = '\0';
		for (size_t i = 0; i < ELEMENTSOF(flag_names); i++)
			if (name_eq(word, flag_names[i].name)) {
				flags |= flag_names[i].flag;
				found = true;
			}
		if (!found)
			return -EINVAL;
		s = *end ? end + 1 : end;
		if (*end && !*s)
			return -EINVAL; /* trailing comma */
	}
	*ret_flags = flags;
	return 0;
}
