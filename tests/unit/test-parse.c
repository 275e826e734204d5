// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The text parsers of src/shared/util.c and the state and flag names of
 * src/fsm/state.c: every edge a command line, a control socket or sysfs can throw
 * at them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "tap.h"
#include "util.h"
#include "vfiomig.h"

#define UNTOUCHED 0xdeadbeefu

/* @s printable on one TAP line: NULL shown as (null), control characters as \xNN. */
static const char *show(const char *s)
{
	static char ring[4][128];
	static unsigned next;
	char *buf = ring[next++ % ELEMENTSOF(ring)];
	size_t n = 0;

	if (!s)
		return "(null)";
	for (; *s && n + 5 < sizeof(ring[0]); s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			n += (size_t)snprintf(buf + n, sizeof(ring[0]) - n, "\\x%02x",
					      (unsigned char)*s);
		else
			buf[n++] = *s;
	}
	buf[n] = '\0';
	return buf;
}

static void test_parse_u64(void)
{
	static const struct {
		const char *s;
		int base;
		uint64_t max;
		int r;
		uint64_t v;
	} t[] = {
		{"0", 10, UINT64_MAX, 0, 0},
		{"42", 10, UINT64_MAX, 0, 42},
		{"18446744073709551615", 10, UINT64_MAX, 0, UINT64_MAX},
		{"18446744073709551616", 10, UINT64_MAX, -ERANGE, 0}, /* 2^64 */
		{"99999999999999999999999", 10, UINT64_MAX, -ERANGE, 0},
		{"0000000000000000000000000000000000000001", 10, UINT64_MAX, 0, 1},
		{"100", 10, 100, 0, 100},
		{"101", 10, 100, -ERANGE, 0},
		{"1", 10, 0, -ERANGE, 0},
		{"0", 10, 0, 0, 0},
		{"0x10", 0, UINT64_MAX, 0, 16},
		{"010", 0, UINT64_MAX, 0, 8},
		{"08", 0, UINT64_MAX, -EINVAL, 0},
		{"0x", 0, UINT64_MAX, -EINVAL, 0},
		{"0x15b3", 16, UINT64_MAX, 0, 0x15b3},
		{"15B3", 16, UINT64_MAX, 0, 0x15b3},
		{"0xffffffffffffffff", 16, UINT64_MAX, 0, UINT64_MAX},
		{"0x10000000000000000", 16, UINT64_MAX, -ERANGE, 0},
		{"0x10", 10, UINT64_MAX, -EINVAL, 0},
		{"", 10, UINT64_MAX, -EINVAL, 0},
		{NULL, 10, UINT64_MAX, -EINVAL, 0},
		{" 1", 10, UINT64_MAX, -EINVAL, 0},
		{"\t1", 10, UINT64_MAX, -EINVAL, 0},
		{"\n1", 10, UINT64_MAX, -EINVAL, 0},
		{"1 ", 10, UINT64_MAX, -EINVAL, 0},
		{"1\n", 10, UINT64_MAX, -EINVAL, 0},
		{"1 2", 10, UINT64_MAX, -EINVAL, 0},
		{"-1", 10, UINT64_MAX, -EINVAL, 0}, /* strtoull would wrap it */
		{"-0", 10, UINT64_MAX, -EINVAL, 0},
		{"+1", 10, UINT64_MAX, -EINVAL, 0},
		{"-", 10, UINT64_MAX, -EINVAL, 0},
		{"1x", 10, UINT64_MAX, -EINVAL, 0},
		{"abc", 10, UINT64_MAX, -EINVAL, 0},
		{"1.0", 10, UINT64_MAX, -EINVAL, 0},
		{"1e3", 10, UINT64_MAX, -EINVAL, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		uint64_t v = UNTOUCHED;
		int r = parse_u64(t[i].s, t[i].base, t[i].max, &v);

		tap_ok(r == t[i].r && v == (r == 0 ? t[i].v : UNTOUCHED),
		       "parse_u64(\"%s\", %d, %llu) = %d, %llu", show(t[i].s), t[i].base,
		       (unsigned long long)t[i].max, r, (unsigned long long)v);
	}
}

static void test_parse_u32(void)
{
	static const struct {
		const char *s;
		uint32_t max;
		int r;
		uint32_t v;
	} t[] = {
		{"4294967295", UINT32_MAX, 0, UINT32_MAX},
		{"4294967296", UINT32_MAX, -ERANGE, 0},
		{"18446744073709551615", UINT32_MAX, -ERANGE, 0},
		{"18446744073709551616", UINT32_MAX, -ERANGE, 0},
		{"0x80", 255, 0, 128},
		{"256", 255, -ERANGE, 0},
		{"-1", UINT32_MAX, -EINVAL, 0},
		{"", UINT32_MAX, -EINVAL, 0},
		{" 7", UINT32_MAX, -EINVAL, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		uint32_t v = UNTOUCHED;
		int r = parse_u32(t[i].s, 0, t[i].max, &v);

		tap_ok(r == t[i].r && v == (r == 0 ? t[i].v : UNTOUCHED),
		       "parse_u32(\"%s\", 0, %u) = %d, %u", show(t[i].s), t[i].max, r, v);
	}
}

static void test_parse_int(void)
{
	static const struct {
		const char *s;
		int min, max;
		int r;
		int v;
	} t[] = {
		{"0", INT_MIN, INT_MAX, 0, 0},
		{"-5", -10, 10, 0, -5},
		{"10", -10, 10, 0, 10},
		{"-10", -10, 10, 0, -10},
		{"11", -10, 10, -ERANGE, 0},
		{"-11", -10, 10, -ERANGE, 0},
		{"2147483647", INT_MIN, INT_MAX, 0, INT_MAX},
		{"-2147483648", INT_MIN, INT_MAX, 0, INT_MIN},
		{"2147483648", INT_MIN, INT_MAX, -ERANGE, 0},
		{"-2147483649", INT_MIN, INT_MAX, -ERANGE, 0},
		{"99999999999999999999", INT_MIN, INT_MAX, -ERANGE, 0},
		{"-99999999999999999999", INT_MIN, INT_MAX, -ERANGE, 0},
		{"18446744073709551616", INT_MIN, INT_MAX, -ERANGE, 0},
		{"", INT_MIN, INT_MAX, -EINVAL, 0},
		{NULL, INT_MIN, INT_MAX, -EINVAL, 0},
		{" 1", INT_MIN, INT_MAX, -EINVAL, 0},
		{" -1", INT_MIN, INT_MAX, -EINVAL, 0},
		{"1 ", INT_MIN, INT_MAX, -EINVAL, 0},
		{"-", INT_MIN, INT_MAX, -EINVAL, 0},
		{"- 1", INT_MIN, INT_MAX, -EINVAL, 0},
		{"--1", INT_MIN, INT_MAX, -EINVAL, 0},
		{"0x10", INT_MIN, INT_MAX, -EINVAL, 0}, /* base 10 only */
		{"1.5", INT_MIN, INT_MAX, -EINVAL, 0},
		{"seven", INT_MIN, INT_MAX, -EINVAL, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		int v = (int)UNTOUCHED;
		int r = parse_int(t[i].s, t[i].min, t[i].max, &v);

		tap_ok(r == t[i].r && v == (r == 0 ? t[i].v : (int)UNTOUCHED),
		       "parse_int(\"%s\", %d, %d) = %d, %d", show(t[i].s), t[i].min,
		       t[i].max, r, v);
	}
}

static void test_parse_size(void)
{
	static const struct {
		const char *s;
		uint64_t max;
		int r;
		uint64_t v;
	} t[] = {
		{"0", UINT64_MAX, 0, 0},
		{"0K", UINT64_MAX, 0, 0},
		{"4096", UINT64_MAX, 0, 4096},
		{"1K", UINT64_MAX, 0, 1024},
		{"1k", UINT64_MAX, 0, 1024},
		{"2M", UINT64_MAX, 0, 2u << 20},
		{"2m", UINT64_MAX, 0, 2u << 20},
		{"3G", UINT64_MAX, 0, 3ull << 30},
		{"3g", UINT64_MAX, 0, 3ull << 30},
		{"4T", UINT64_MAX, 0, 4ull << 40},
		{"4t", UINT64_MAX, 0, 4ull << 40},
		{"18446744073709551615", UINT64_MAX, 0, UINT64_MAX},
		{"18446744073709551616", UINT64_MAX, -ERANGE, 0},
		/* the largest that fit with a suffix, and one more */
		{"18014398509481983K", UINT64_MAX, 0, UINT64_MAX & ~1023ull},
		{"18014398509481984K", UINT64_MAX, -ERANGE, 0},
		{"17179869183G", UINT64_MAX, 0, 17179869183ull << 30},
		{"17179869184G", UINT64_MAX, -ERANGE, 0}, /* 2^34 G = 2^64 */
		{"16777215T", UINT64_MAX, 0, 16777215ull << 40},
		{"16777216T", UINT64_MAX, -ERANGE, 0},
		{"99999999999999999999T", UINT64_MAX, -ERANGE, 0},
		{"2K", 2048, 0, 2048},
		{"2K", 2047, -ERANGE, 0},
		{"2049", 2048, -ERANGE, 0},
		{"", UINT64_MAX, -EINVAL, 0},
		{NULL, UINT64_MAX, -EINVAL, 0},
		{"K", UINT64_MAX, -EINVAL, 0},
		{" 1K", UINT64_MAX, -EINVAL, 0},
		{"1 K", UINT64_MAX, -EINVAL, 0},
		{"1K ", UINT64_MAX, -EINVAL, 0},
		{"-1K", UINT64_MAX, -EINVAL, 0},
		{"+1K", UINT64_MAX, -EINVAL, 0},
		{"-1", UINT64_MAX, -EINVAL, 0},
		{"1KB", UINT64_MAX, -EINVAL, 0},
		{"1KK", UINT64_MAX, -EINVAL, 0},
		{"1P", UINT64_MAX, -EINVAL, 0},
		{"1.5G", UINT64_MAX, -EINVAL, 0},
		{"0x10", UINT64_MAX, -EINVAL, 0},
		{"0x10K", UINT64_MAX, -EINVAL, 0},
	};
	char longnum[64];
	uint64_t v = UNTOUCHED;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		v = UNTOUCHED;
		r = parse_size(t[i].s, t[i].max, &v);
		tap_ok(r == t[i].r && v == (r == 0 ? t[i].v : UNTOUCHED),
		       "parse_size(\"%s\", %llu) = %d, %llu", show(t[i].s),
		       (unsigned long long)t[i].max, r, (unsigned long long)v);
	}

	/* Input length is capped: a long string fails whatever it holds. */
	memset(longnum, '0', sizeof(longnum) - 2);
	longnum[sizeof(longnum) - 2] = '1';
	longnum[sizeof(longnum) - 1] = '\0';
	v = UNTOUCHED;
	r = parse_size(longnum, UINT64_MAX, &v);
	tap_ok(r < 0 && v == UNTOUCHED, "parse_size(63 characters) fails: %d", r);
}

static void test_strcopy(void)
{
	char buf[8];
	int r;

	memset(buf, 'x', sizeof(buf));
	r = strcopy(buf, sizeof(buf), "hello");
	tap_ok(r == 0 && streq(buf, "hello"), "strcopy fits: %d \"%s\"", r, buf);

	r = strcopy(buf, sizeof(buf), "1234567");
	tap_ok(r == 0 && streq(buf, "1234567"), "strcopy exactly fits: %d \"%s\"", r,
	       buf);

	r = strcopy(buf, sizeof(buf), "12345678");
	tap_ok(r == -E2BIG && streq(buf, "1234567"), "strcopy one too long: %d \"%s\"", r,
	       buf);

	r = strcopy(buf, sizeof(buf), "a much longer string");
	tap_ok(r == -E2BIG && streq(buf, "a much "), "strcopy truncates: %d \"%s\"", r,
	       buf);

	r = strcopy(buf, sizeof(buf), "");
	tap_ok(r == 0 && buf[0] == '\0', "strcopy empty: %d", r);

	r = strcopy(buf, 1, "abc");
	tap_ok(r == -E2BIG && buf[0] == '\0', "strcopy size 1: %d", r);

	memset(buf, 'x', sizeof(buf));
	r = strcopy(buf, 0, "abc");
	tap_ok(r == -E2BIG && buf[0] == 'x', "strcopy size 0 writes nothing: %d", r);
}

static void test_is_uuid(void)
{
	static const struct {
		const char *s;
		bool ok;
	} t[] = {
		{"123e4567-e89b-12d3-a456-426614174000", true},
		{"83B8F4F2-509F-382F-3C1E-E6BFE0FA1001", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"", false},
		{"123e4567", false},
		{"123e4567-e89b-12d3-a456-42661417400", false},	  /* short */
		{"123e4567-e89b-12d3-a456-4266141740000", false}, /* long */
		{"123e4567-e89b-12d3-a456-426614174000\n", false},
		{" 123e4567-e89b-12d3-a456-426614174000", false},
		{"123e4567e89b12d3a456426614174000", false},
		{"123e4567-e89b-12d3-a456_426614174000", false},
		{"123e456-7e89b-12d3-a456-426614174000", false},
		{"123e4567-e89b-12d3-a456-42661417400g", false},
		{"{123e4567-e89b-12d3-a456-426614174000}", false},
		{"0000:3b:00.1", false},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++)
		tap_ok(is_uuid(t[i].s) == t[i].ok, "is_uuid(\"%s\") is %s", show(t[i].s),
		       t[i].ok ? "true" : "false");
}

static void test_parse_uuid(void)
{
	static const uint8_t want[16] = {0x8a, 0x1f, 0x0a, 0x4e, 0x65, 0xf0, 0x4b, 0xd1,
					 0x9c, 0x2e, 0x3f, 0x6f, 0x0c, 0x1d, 0x2e, 0x01};
	static const char *const bad[] = {
		"", "8a1f0a4e", "8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e0",
		"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e011", "8a1f0a4e65f04bd19c2e3f6f0c1d2e01",
		"8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e0g", "8a1f0a4e-65f0-4bd1-9c2e 3f6f0c1d2e01",
		" 8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e0", "8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01 ",
	};
	uint8_t b[16];

	tap_ok(parse_uuid("8a1f0a4e-65f0-4bd1-9c2e-3f6f0c1d2e01", b) == 0 &&
		       !memcmp(b, want, 16),
	       "parse_uuid: 16 bytes in string order, as the kernel's uuid_parse()");
	tap_ok(parse_uuid("8A1F0A4E-65F0-4BD1-9C2E-3F6F0C1D2E01", b) == 0 &&
		       !memcmp(b, want, 16),
	       "parse_uuid: capitals are the same UUID");
	tap_ok(parse_uuid(NULL, b) == -EINVAL, "parse_uuid(NULL): -EINVAL");
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		memset(b, 0x5a, sizeof(b));
		tap_ok(parse_uuid(bad[i], b) == -EINVAL && b[0] == 0x5a && b[15] == 0x5a,
		       "parse_uuid(\"%s\"): -EINVAL, nothing written", bad[i]);
	}
}

static void test_name_eq(void)
{
	static const struct {
		const char *a, *b;
		bool eq;
	} t[] = {
		{"running-p2p", "RUNNING_P2P", true},
		{"Stop_Copy", "stop-copy", true},
		{"-", "_", true},
		{"", "", true},
		{"stop", "stop_copy", false},
		{"stop_copy", "stop", false},
		{"a", "", false},
		{"", "a", false},
		{"p2p", "p2q", false},
		{"p2p ", "p2p", false},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++)
		tap_ok(name_eq(t[i].a, t[i].b) == t[i].eq,
		       "name_eq(\"%s\", \"%s\") is %s", show(t[i].a), show(t[i].b),
		       t[i].eq ? "true" : "false");
}

static void test_files(void)
{
	char path[] = "/tmp/vfiomig-test-parse-XXXXXX";
	char buf[16];
	int32_t v = (int32_t)UNTOUCHED;
	ssize_t n;
	int fd, r;

	fd = mkstemp(path);
	if (fd < 0) {
		tap_skip("mkstemp failed");
		return;
	}
	if (write(fd, "0x15b3\n", 7) != 7) {
		close(fd);
		unlink(path);
		tap_skip("write failed");
		return;
	}
	close(fd);

	n = read_line_file(path, buf, sizeof(buf));
	tap_ok(n == 6 && streq(buf, "0x15b3"), "read_line_file strips the newline: %zd",
	       n);
	n = read_line_file(path, buf, 4);
	tap_ok(n == 3 && streq(buf, "0x1"), "read_line_file truncates to the buffer: %zd",
	       n);
	r = read_hex_file(path, &v);
	tap_ok(r == 0 && v == 0x15b3, "read_hex_file: %d 0x%x", r, (unsigned)v);
	unlink(path);

	v = (int32_t)UNTOUCHED;
	r = read_hex_file(path, &v);
	tap_ok(r == -ENOENT && v == (int32_t)UNTOUCHED, "read_hex_file missing: %d", r);
}

static void test_state_names(void)
{
	static const struct {
		enum vfm_state state;
		const char *name;
	} t[] = {
		{VFM_STATE_ERROR, "ERROR"},
		{VFM_STATE_STOP, "STOP"},
		{VFM_STATE_RUNNING, "RUNNING"},
		{VFM_STATE_STOP_COPY, "STOP_COPY"},
		{VFM_STATE_RESUMING, "RESUMING"},
		{VFM_STATE_RUNNING_P2P, "RUNNING_P2P"},
		{VFM_STATE_PRE_COPY, "PRE_COPY"},
		{VFM_STATE_PRE_COPY_P2P, "PRE_COPY_P2P"},
	};
	static const struct {
		const char *s;
		int r;
		enum vfm_state state;
	} p[] = {
		{"running-p2p", 0, VFM_STATE_RUNNING_P2P},
		{"Pre-Copy_P2P", 0, VFM_STATE_PRE_COPY_P2P},
		{"stop", 0, VFM_STATE_STOP},
		{"stop-copy", 0, VFM_STATE_STOP_COPY},
		{"error", 0, VFM_STATE_ERROR},
		{"", -EINVAL, 0},
		{NULL, -EINVAL, 0},
		{"runnin", -EINVAL, 0},
		{"running ", -EINVAL, 0},
		{" running", -EINVAL, 0},
		{"running_p2p_", -EINVAL, 0},
		{"runningp2p", -EINVAL, 0},
		{"2", -EINVAL, 0},
		{"p2p", -EINVAL, 0},
	};
	bool ok = true;

	assert_cc(ELEMENTSOF(t) == VFM_STATE_MAX);
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		const char *n = vfm_state_name(t[i].state);
		enum vfm_state s = VFM_STATE_MAX;

		if (!n || !streq(n, t[i].name) || vfm_state_from_name(n, &s) != 0 ||
		    s != t[i].state) {
			tap_diag("state %d: name %s", (int)t[i].state, show(n));
			ok = false;
		}
	}
	tap_ok(ok, "vfm_state_name and vfm_state_from_name round-trip every state");

	tap_ok(!vfm_state_name(VFM_STATE_MAX), "vfm_state_name(VFM_STATE_MAX) is NULL");
	tap_ok(!vfm_state_name((enum vfm_state) - 1), "vfm_state_name(-1) is NULL");

	for (size_t i = 0; i < ELEMENTSOF(p); i++) {
		enum vfm_state s = VFM_STATE_MAX;
		int r = vfm_state_from_name(p[i].s, &s);

		tap_ok(r == p[i].r && s == (r == 0 ? p[i].state : VFM_STATE_MAX),
		       "vfm_state_from_name(\"%s\") = %d, %d", show(p[i].s), r, (int)s);
	}
}

static void test_flags_format(void)
{
	static const struct {
		uint32_t flags;
		const char *s;
	} t[] = {
		{0, "none"},
		{VFM_MIG_STOP_COPY, "stop-copy"},
		{VFM_MIG_P2P, "p2p"},
		{VFM_MIG_PRE_COPY, "pre-copy"},
		{VFM_MIG_STOP_COPY | VFM_MIG_P2P, "stop-copy,p2p"},
		{VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY, "stop-copy,pre-copy"},
		{VFM_MIG_ALL, "stop-copy,p2p,pre-copy"},
		{1u << 3, "0x8"},
		{VFM_MIG_STOP_COPY | 1u << 3, "stop-copy,0x8"},
		{UINT32_MAX, "stop-copy,p2p,pre-copy,0xfffffff8"},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		size_t want = strlen(t[i].s);
		char buf[64];
		int r;

		r = vfm_flags_format(t[i].flags, buf, sizeof(buf));
		tap_ok(r == (int)want && streq(buf, t[i].s),
		       "vfm_flags_format(0x%x) = %d \"%s\"", t[i].flags, r,
		       r >= 0 ? buf : "");

		/* Exactly big enough, then one byte short. */
		r = vfm_flags_format(t[i].flags, buf, want + 1);
		tap_ok(r == (int)want && streq(buf, t[i].s),
		       "vfm_flags_format(0x%x) in %zu bytes = %d", t[i].flags, want + 1,
		       r);
		r = vfm_flags_format(t[i].flags, buf, want);
		tap_ok(r == -ENOBUFS, "vfm_flags_format(0x%x) in %zu bytes = %d",
		       t[i].flags, want, r);
	}
	tap_eq(vfm_flags_format(VFM_MIG_ALL, NULL, 0), -ENOBUFS,
	       "vfm_flags_format into 0 bytes");
}

static void test_flags_parse(void)
{
	static const struct {
		const char *s;
		int r;
		uint32_t flags;
	} t[] = {
		{"stop-copy", 0, VFM_MIG_STOP_COPY},
		{"stop-copy,p2p,pre-copy", 0, VFM_MIG_ALL},
		{"pre-copy,stop-copy", 0, VFM_MIG_STOP_COPY | VFM_MIG_PRE_COPY},
		{"P2P", 0, VFM_MIG_P2P},
		{"STOP_COPY", 0, VFM_MIG_STOP_COPY},
		{"p2p,p2p", 0, VFM_MIG_P2P},
		{"", -EINVAL, 0},
		{NULL, -EINVAL, 0},
		{"none", -EINVAL, 0}, /* the header: an empty list is invalid */
		{",", -EINVAL, 0},
		{"p2p,", -EINVAL, 0},
		{",p2p", -EINVAL, 0},
		{"p2p,,pre-copy", -EINVAL, 0},
		{" p2p", -EINVAL, 0},
		{"p2p ", -EINVAL, 0},
		{"p2p, pre-copy", -EINVAL, 0},
		{"bogus", -EINVAL, 0},
		{"stop-copy,bogus", -EINVAL, 0},
		{"stop", -EINVAL, 0},
		{"stop-copy-and-more-words", -EINVAL, 0},
		{"0x8", -EINVAL, 0},
		{"stop-copy,0x8", -EINVAL, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		uint32_t f = UNTOUCHED;
		int r = vfm_flags_parse(t[i].s, &f);

		tap_ok(r == t[i].r && f == (r == 0 ? t[i].flags : UNTOUCHED),
		       "vfm_flags_parse(\"%s\") = %d, 0x%x", show(t[i].s), r, f);
	}

	/* Every known combination survives format then parse. */
	for (uint32_t flags = 1; flags <= VFM_MIG_ALL; flags++) {
		char buf[64];
		uint32_t f = 0;
		int r = vfm_flags_format(flags, buf, sizeof(buf));

		tap_ok(r > 0 && vfm_flags_parse(buf, &f) == 0 && f == flags,
		       "flags 0x%x round-trip through \"%s\"", flags, r > 0 ? buf : "");
	}
}

int main(void)
{
	test_parse_u64();
	test_parse_u32();
	test_parse_int();
	test_parse_size();
	test_strcopy();
	test_is_uuid();
	test_parse_uuid();
	test_name_eq();
	test_files();
	test_state_names();
	test_flags_format();
	test_flags_parse();
	return tap_done();
}
