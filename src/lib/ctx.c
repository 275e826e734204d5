// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>
#include <ctype.h>
#include <string.h>

#include "ctx-internal.h"
#include "util.h"

_public_ int vfm_ctx_new(struct vfm_ctx **ret_ctx)
{
	struct vfm_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return -ENOMEM;
	ctx->refcount = 1;
	ctx->log_max = VFM_LOG_ERR;
	ctx->container_fd = -1;
	ctx->root = strdup("");
	if (!ctx->root) {
		free(ctx);
		return -ENOMEM;
	}
	*ret_ctx = ctx;
	return 0;
}

_public_ struct vfm_ctx *vfm_ctx_ref(struct vfm_ctx *ctx)
{
	if (ctx)
		ctx->refcount++;
	return ctx;
}

_public_ struct vfm_ctx *vfm_ctx_unref(struct vfm_ctx *ctx)
{
	if (!ctx || --ctx->refcount > 0)
		return NULL;
	for (unsigned i = 0; i < ctx->n_groups; i++)
		safe_close(ctx->groups[i].fd);
	safe_close(ctx->container_fd);
	free(ctx->root);
	free(ctx);
	return NULL;
}

_public_ void vfm_ctx_set_log(struct vfm_ctx *ctx, enum vfm_log_level max_level,
			      vfm_log_fn fn, void *userdata)
{
	ctx->log_max = max_level;
	ctx->log_fn = fn;
	ctx->log_userdata = userdata;
}

_public_ int vfm_ctx_set_sysfs_root(struct vfm_ctx *ctx, const char *root)
{
	char *copy;
	size_t n;

	if (!root || root[0] != '/')
		return -EINVAL;
	copy = strdup(root);
	if (!copy)
		return -ENOMEM;
	/* "/" and "/x/" become "" and "/x": paths are appended as "/sys/..." */
	n = strlen(copy);
	while (n > 0 && copy[n - 1] == '/')
		copy[--n] = '\0';
	free(ctx->root);
	ctx->root = copy;
	return 0;
}

_public_ int vfm_ctx_set_vf_token(struct vfm_ctx *ctx, const char *uuid)
{
	uint8_t b[16];

	if (!ctx)
		return -EINVAL;
	if (!uuid) {
		ctx->has_vf_token = false;
		memset(ctx->vf_token, 0, sizeof(ctx->vf_token));
		ctx->vf_token_str[0] = '\0';
		return 0;
	}
	if (parse_uuid(uuid, b) < 0)
		return -EINVAL;
	memcpy(ctx->vf_token, b, sizeof(b));
	for (size_t i = 0; i < sizeof(ctx->vf_token_str); i++)
		ctx->vf_token_str[i] = (char)tolower((unsigned char)uuid[i]);
	ctx->has_vf_token = true;
	return 0;
}

const char *vfm_ctx_vf_token_for(struct vfm_ctx *ctx, const char *name,
				 const char *vf_of_pf, bool token_pf)
{
	if (!ctx->has_vf_token)
		return NULL;
	if (!vf_of_pf[0] && !token_pf) {
		vfm_dbg(ctx, "%s: no VF token presented (not a VF of a PF bound to a vfio "
			     "driver, nor such a PF)",
			name);
		return NULL;
	}
	return ctx->vf_token_str;
}

int vfm_ctx_vf_token_refused(struct vfm_ctx *ctx, const char *name, const char *vf_of_pf,
			     bool given)
{
	if (vf_of_pf[0] && given)
		return vfm_ctx_fail(ctx, -EACCES,
				    "%s: wrong VF token: its PF %s, bound to a vfio driver, "
				    "holds another one",
				    name, vf_of_pf);
	if (vf_of_pf[0])
		return vfm_ctx_fail(ctx, -EACCES,
				    "%s: VF token required: its PF %s is bound to a vfio "
				    "driver, which guards its VFs with a token (a UUID the "
				    "PF's owner sets)",
				    name, vf_of_pf);
	if (given)
		return vfm_ctx_fail(ctx, -EACCES,
				    "%s: wrong VF token: VFs of this PF are in use with "
				    "another one",
				    name);
	return vfm_ctx_fail(ctx, -EACCES,
			    "%s: VF token required: VFs of this PF are in use, and only "
			    "their token opens it",
			    name);
}

void vfm_log(struct vfm_ctx *ctx, enum vfm_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!ctx || !ctx->log_fn || level > ctx->log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log_fn(ctx->log_userdata, level, msg);
}

int vfm_ctx_fail(struct vfm_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->last_error, sizeof(ctx->last_error), fmt, ap);
	va_end(ap);
	vfm_dbg(ctx, "%s", ctx->last_error);
	return err;
}

void vfm_ctx_clear_error(struct vfm_ctx *ctx)
{
	ctx->last_error[0] = '\0';
}

_public_ const char *vfm_ctx_last_error(struct vfm_ctx *ctx)
{
	return ctx->last_error;
}

int vfm_ctx_path(const struct vfm_ctx *ctx, char *buf, size_t size, const char *path)
{
	int n = snprintf(buf, size, "%s%s", ctx->root, path);

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}
