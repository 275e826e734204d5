/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(x) __attribute__((cleanup(x)))
#define _must_check_ __attribute__((warn_unused_result))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)
/* On the definition of each function of include/vfiomig.h: the library is built
 * with hidden visibility, so only these are exported (and src/libvfiomig.sym lists
 * them under their version node). */
#define _public_ __attribute__((visibility("default")))

#define assert_cc(expr) _Static_assert(expr, #expr)

#define ELEMENTSOF(x)                                                                  \
	(__builtin_choose_expr(                                                        \
		!__builtin_types_compatible_p(__typeof__(x), __typeof__(&*(x))),      \
		sizeof(x) / sizeof((x)[0]), (void)0))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Take ownership of a pointer or fd: return it and reset the variable. */
#define TAKE_PTR(p)                                                                    \
	({                                                                             \
		__typeof__(p) _tp = (p);                                               \
		(p) = NULL;                                                            \
		_tp;                                                                   \
	})
#define TAKE_FD(fd)                                                                    \
	({                                                                             \
		int _tf = (fd);                                                        \
		(fd) = -1;                                                             \
		_tf;                                                                   \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Close an fd, keeping errno; accepts -1. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}
static inline void closep(int *fd)
{
	safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void closedirp_(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* Run a *_unref function from a cleanup attribute. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                        \
	static inline void func##p(type *p)                                            \
	{                                                                              \
		if (*p)                                                                \
			func(*p);                                                      \
	}

/* errno as a negative return, never 0 (guards against a stale errno of 0). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#define streq(a, b) (strcmp((a), (b)) == 0)
