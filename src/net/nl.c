// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Netlink plumbing on libnl-3: sockets for one operation, request/reply transactions
 * with the kernel's extended ack kept, strict attribute parsing, and the one mapping
 * of libnl's NLE_* codes to errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/handlers.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "net-internal.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* Receive timeout: a devlink eswitch change on a NIC with many VFs takes seconds. */
#define NL_RECV_TIMEOUT_SEC 60

/* libnl's NLE_* to errno.  Codes that name a fault in a reply become EBADMSG; codes
 * this table lacks (a newer libnl) become EIO. */
static const int nle_errno[] = {
	[NLE_SUCCESS] = 0,
	[NLE_FAILURE] = EIO,
	[NLE_INTR] = EINTR,
	[NLE_BAD_SOCK] = EBADF,
	[NLE_AGAIN] = EAGAIN,
	[NLE_NOMEM] = ENOMEM,
	[NLE_EXIST] = EEXIST,
	[NLE_INVAL] = EINVAL,
	[NLE_RANGE] = ERANGE,
	[NLE_MSGSIZE] = EMSGSIZE,
	[NLE_OPNOTSUPP] = EOPNOTSUPP,
	[NLE_AF_NOSUPPORT] = EAFNOSUPPORT,
	[NLE_OBJ_NOTFOUND] = ENOENT,
	[NLE_NOATTR] = ENODATA,
	[NLE_MISSING_ATTR] = EBADMSG,
	[NLE_AF_MISMATCH] = EAFNOSUPPORT,
	[NLE_SEQ_MISMATCH] = EPROTO,
	[NLE_MSG_OVERFLOW] = ENOBUFS,
	[NLE_MSG_TRUNC] = EBADMSG,
	[NLE_NOADDR] = EADDRNOTAVAIL,
	[NLE_SRCRT_NOSUPPORT] = EOPNOTSUPP,
	[NLE_MSG_TOOSHORT] = EBADMSG,
	[NLE_MSGTYPE_NOSUPPORT] = EBADMSG,
	[NLE_OBJ_MISMATCH] = EINVAL,
	[NLE_NOCACHE] = ENOENT,
	[NLE_BUSY] = EBUSY,
	[NLE_PROTO_MISMATCH] = EPROTONOSUPPORT,
	[NLE_NOACCESS] = EACCES,
	[NLE_PERM] = EPERM,
	[NLE_PKTLOC_FILE] = ENOENT,
	[NLE_PARSE_ERR] = EBADMSG,
	[NLE_NODEV] = ENODEV,
	[NLE_IMMUTABLE] = EROFS,
	[NLE_DUMP_INTR] = EAGAIN,
	[NLE_ATTRSIZE] = EBADMSG,
};

int vfm_nl_errno(int nle)
{
	unsigned code;

	if (nle >= 0)
		return nle;
	code = (unsigned)-(long)nle;
	if (code < ELEMENTSOF(nle_errno) && nle_errno[code] != 0)
		return -nle_errno[code];
	return -EIO;
}

int vfm_net_fail(char *why, size_t why_size, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && why_size) {
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return err;
}

void vfm_nl_why_extack(char *why, size_t why_size, const struct vfm_nl_extack *ext)
{
	size_t n;

	if (!why || !why_size || !ext || !ext->msg[0])
		return;
	n = strnlen(why, why_size);
	if (n < why_size)
		snprintf(why + n, why_size - n, "; kernel says: %s", ext->msg);
}

int vfm_nla_parse_strict(struct nlattr **tb, int maxtype, struct nlattr *head, int len,
			 const struct nla_policy *policy)
{
	struct nlattr *nla;
	int rem;

	if (len < 0 || nla_parse(tb, maxtype, head, len, policy) < 0)
		return -EBADMSG;
	/* libnl stops quietly at a truncated attribute: we do not. */
	nla_for_each_attr(nla, head, len, rem)
	{
	}
	if (rem > 0)
		return -EBADMSG;
	return 0;
}

int vfm_nla_parse_nested_strict(struct nlattr **tb, int maxtype, const struct nlattr *nla,
				const struct nla_policy *policy)
{
	return vfm_nla_parse_strict(tb, maxtype, nla_data(nla), nla_len(nla), policy);
}

static const struct nla_policy extack_policy[NLMSGERR_ATTR_MAX + 1] = {
	[NLMSGERR_ATTR_MSG] = {.type = NLA_STRING},
	[NLMSGERR_ATTR_OFFS] = {.type = NLA_U32},
	[NLMSGERR_ATTR_MISS_TYPE] = {.type = NLA_U32},
};

int vfm_nl_parse_ack(const struct nlmsghdr *hdr, size_t len, int *ret_error,
		     struct vfm_nl_extack *ret_ext)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	struct vfm_nl_extack ext = {};
	const uint8_t *p = (const uint8_t *)hdr;
	size_t off;
	int32_t code;

	if (len < NLMSG_HDRLEN || hdr->nlmsg_len < NLMSG_HDRLEN || hdr->nlmsg_len > len)
		return -EBADMSG;
	len = hdr->nlmsg_len;
	if (hdr->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr e;

		if (len < NLMSG_HDRLEN + sizeof(e))
			return -EBADMSG;
		memcpy(&e, p + NLMSG_HDRLEN, sizeof(e));
		code = e.error;
		off = NLMSG_HDRLEN + sizeof(e);
		/* Uncapped, the whole request follows the error code, then the TLVs. */
		if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) {
			if (e.msg.nlmsg_len < NLMSG_HDRLEN)
				return -EBADMSG;
			off += e.msg.nlmsg_len - NLMSG_HDRLEN;
		}
	} else if (hdr->nlmsg_type == NLMSG_DONE) {
		if (len < NLMSG_HDRLEN + sizeof(code))
			return -EBADMSG;
		memcpy(&code, p + NLMSG_HDRLEN, sizeof(code));
		off = NLMSG_HDRLEN + sizeof(code);
	} else {
		return -EBADMSG;
	}
	off = NLMSG_ALIGN(off);
	if (hdr->nlmsg_flags & NLM_F_ACK_TLVS) {
		if (off > len ||
		    vfm_nla_parse_strict(tb, NLMSGERR_ATTR_MAX,
					 (struct nlattr *)(p + off), (int)(len - off),
					 extack_policy) < 0)
			return -EBADMSG;
		if (tb[NLMSGERR_ATTR_MSG]) {
			const char *s = nla_data(tb[NLMSGERR_ATTR_MSG]);
			size_t i;

			/* Verbatim, but one printable line: it ends up on a terminal. */
			for (i = 0; i < sizeof(ext.msg) - 1 && s[i]; i++)
				ext.msg[i] = ((unsigned char)s[i] < 0x20 ||
					      (unsigned char)s[i] >= 0x7f)
						     ? '?'
						     : s[i];
			ext.msg[i] = '\0';
		}
		if (tb[NLMSGERR_ATTR_OFFS]) {
			ext.has_offset = true;
			ext.offset = nla_get_u32(tb[NLMSGERR_ATTR_OFFS]);
		}
		if (tb[NLMSGERR_ATTR_MISS_TYPE]) {
			ext.has_miss_type = true;
			ext.miss_type = nla_get_u32(tb[NLMSGERR_ATTR_MISS_TYPE]);
		}
	}
	if (code > 0 || code < -4095)
		code = -EPROTO;
	*ret_error = code;
	if (ret_ext)
		*ret_ext = ext;
	return 0;
}

static int nl_setup(struct vfm_nl *nl, struct vfm_ctx *ctx, int protocol)
{
	static const int one = 1;
	struct timeval tv = {.tv_sec = NL_RECV_TIMEOUT_SEC};
	int fd, r;

	*nl = (struct vfm_nl){.ctx = ctx};
	nl->sk = nl_socket_alloc();
	if (!nl->sk)
		return -ENOMEM;
	r = nl_connect(nl->sk, protocol);
	if (r < 0) {
		r = vfm_nl_errno(r);
		goto fail;
	}
	fd = nl_socket_get_fd(nl->sk);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	/* Extended acks carry the kernel's reason; capped acks keep them small.  Kernels
	 * before 4.12 lack both: not fatal, the errno still comes back. */
	if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) < 0)
		vfm_dbg(ctx, "netlink: NETLINK_EXT_ACK: %s", strerror(errno));
	if (setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
		vfm_dbg(ctx, "netlink: NETLINK_CAP_ACK: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		r = -errno;
		goto fail;
	}
	/* Peek at each datagram's size so that a reply of any size is read whole. */
	nl_socket_enable_msg_peek(nl->sk);
	return 0;
fail:
	nl_socket_free(nl->sk);
	nl->sk = NULL;
	return r;
}

int vfm_nl_open_route(struct vfm_nl *nl, struct vfm_ctx *ctx)
{
	return nl_setup(nl, ctx, NETLINK_ROUTE);
}

int vfm_nl_open_genl(struct vfm_nl *nl, struct vfm_ctx *ctx, const char *family)
{
	int r = nl_setup(nl, ctx, NETLINK_GENERIC);

	if (r < 0)
		return r;
	r = genl_ctrl_resolve(nl->sk, family);
	if (r < 0) {
		r = vfm_nl_errno(r);
		vfm_dbg(ctx, "generic netlink family %s: %s", family, strerror(-r));
		vfm_nl_close(nl);
		return r == -ENOENT ? -EOPNOTSUPP : r;
	}
	if (r == 0 || r > UINT16_MAX) {
		vfm_nl_close(nl);
		return -EPROTO;
	}
	nl->family = r;
	return 0;
}

void vfm_nl_close(struct vfm_nl *nl)
{
	if (nl && nl->sk) {
		nl_socket_free(nl->sk);
		nl->sk = NULL;
	}
}

struct txn {
	vfm_nl_reply_fn fn;
	void *userdata;
	unsigned max, count;
	bool done, terminal, intr, progress;
	int err;
	struct vfm_nl_extack ext;
};

static int on_msg_in(struct nl_msg *msg, void *arg)
{
	struct txn *t = arg;

	t->progress = true;
	return NL_OK;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct txn *t = arg;
	struct nlmsghdr *hdr = nlmsg_hdr(msg);
	int r;

	if (hdr->nlmsg_flags & NLM_F_DUMP_INTR)
		t->intr = true;
	if (++t->count > t->max) {
		t->err = -E2BIG;
		t->done = true;
		return NL_STOP;
	}
	r = t->fn ? t->fn(hdr, t->userdata) : 0;
	if (r < 0) {
		t->err = r;
		t->done = true;
		return NL_STOP;
	}
	return NL_OK;
}

static int on_terminal(struct nl_msg *msg, void *arg)
{
	struct txn *t = arg;
	struct nlmsghdr *hdr = nlmsg_hdr(msg);
	int code = 0, r;

	/* An ACK (error 0) or the DONE of a dump, which carries the dump's error. */
	r = vfm_nl_parse_ack(hdr, hdr->nlmsg_len, &code, &t->ext);
	t->err = r < 0 ? r : code;
	t->done = t->terminal = true;
	return NL_STOP;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct txn *t = arg;
	/* libnl hands us the error inside the received message, whose length it checked
	 * against the datagram (nlmsg_ok()). */
	const struct nlmsghdr *hdr =
		(const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
	int code = 0, r;

	r = vfm_nl_parse_ack(hdr, hdr->nlmsg_len, &code, &t->ext);
	t->err = r < 0 ? r : code;
	if (t->err == 0)
		t->err = -EPROTO;
	t->done = t->terminal = true;
	return NL_STOP;
}

int vfm_nl_transact(struct vfm_nl *nl, struct nl_msg *req, vfm_nl_reply_fn fn,
		    void *userdata, unsigned max_replies, struct vfm_nl_extack *ret_ext)
{
	struct txn t = {.fn = fn, .userdata = userdata, .max = max_replies};
	struct nl_cb *cb;
	int r;

	if (ret_ext)
		*ret_ext = (struct vfm_nl_extack){};
	if (!nl->sk || nl->broken)
		return -EBADF;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_CUSTOM, on_msg_in, &t);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &t);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_terminal, &t);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_terminal, &t);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &t);

	nlmsg_hdr(req)->nlmsg_seq = 0; /* a fresh sequence number from the socket */
	r = nl_send_auto(nl->sk, req);
	if (r < 0) {
		r = vfm_nl_errno(r);
		goto out;
	}
	while (!t.done) {
		t.progress = false;
		r = nl_recvmsgs(nl->sk, cb);
		if (t.done)
			break;
		if (r < 0) {
			r = vfm_nl_errno(r);
			nl->broken = true;
			goto out;
		}
		if (!t.progress) {
			/* libnl returns 0 when the receive timeout expires. */
			r = -ETIMEDOUT;
			nl->broken = true;
			goto out;
		}
	}
	r = t.err;
	/* Stopped by us before the kernel's last word: the rest is still queued. */
	if (!t.terminal)
		nl->broken = true;
	if (r == 0 && t.intr)
		r = -EAGAIN;
	if (ret_ext)
		*ret_ext = t.ext;
out:
	nl_cb_put(cb);
	return r;
}
