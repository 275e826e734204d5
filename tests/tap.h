/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A tiny TAP producer for meson's `protocol: 'tap'`.  Each check prints one
 * "ok N - ..." or "not ok N - ..." line; tap_done() prints the plan and returns the
 * exit status (non-zero if anything failed).
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static unsigned tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused)) static bool tap_ok(bool cond, const char *fmt,
								  ...)
{
	va_list ap;

	printf("%sok %u - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 1, 2), unused)) static void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

__attribute__((unused)) static void tap_skip(const char *why)
{
	printf("ok %u # SKIP %s\n", ++tap_n, why);
}

/* Compare integers and show both on failure. */
#define tap_eq(a, b, ...)                                                              \
	({                                                                             \
		long long _a = (long long)(a), _b = (long long)(b);                    \
		bool _r = tap_ok(_a == _b, __VA_ARGS__);                               \
		if (!_r)                                                               \
			tap_diag("  got %lld, expected %lld (%s == %s)", _a, _b, #a,   \
				 #b);                                                  \
		_r;                                                                    \
	})

__attribute__((unused)) static int tap_done(void)
{
	printf("1..%u\n", tap_n);
	if (tap_n == 0) {
		printf("# no checks ran\n");
		return 1;
	}
	return tap_failed ? 1 : 0;
}
