// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pure parts of tls.c: the keys.psk parser (bounds, malformed lines named by
 * number) and the DN pattern matcher.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "transport.h"

#define K32 "00112233445566778899aabbccddeeff"

/* parse @text: the count or -errno; @msg gets the error message */
static int parse(const char *text, size_t len, struct vfm_tls_psk **keys, char *msg,
		 size_t size)
{
	struct vfm_transport_err err = {""};
	int r = vfm_tls_psk_parse(text, len, keys, &err);

	snprintf(msg, size, "%s", err.msg);
	return r;
}

static void bad(const char *text, const char *want)
{
	struct vfm_tls_psk *keys = NULL;
	char msg[VFM_TRANSPORT_ERR_MAX];
	int r = parse(text, strlen(text), &keys, msg, sizeof(msg));

	tap_ok(r < 0 && strstr(msg, want), "refused: %s (%d, want \"%s\")", msg, r, want);
	free(keys);
}

static void test_psk(void)
{
	struct vfm_tls_psk *keys = NULL;
	static char big[VFM_TLS_PSK_FILE_MAX + 2];
	char msg[VFM_TRANSPORT_ERR_MAX];
	const char *good = "# lab keys\r\n\nlab:" K32 "\r\nother:" K32 K32 "\n";
	int r;

	r = parse(good, strlen(good), &keys, msg, sizeof(msg));
	tap_ok(r == 2, "two keys, comments, blank lines and CRLF skipped (%d %s)", r,
	       msg);
	if (r == 2) {
		tap_ok(strcmp(keys[0].identity, "lab") == 0 && keys[0].key_len == 16 &&
			       keys[0].key[0] == 0x00 && keys[0].key[15] == 0xff,
		       "first identity and key decoded");
		tap_ok(strcmp(keys[1].identity, "other") == 0 && keys[1].key_len == 32,
		       "second: a 32-byte key");
	}
	free(keys);
	keys = NULL;
	r = parse("x:" K32, strlen("x:" K32), &keys, msg, sizeof(msg));
	tap_ok(r == 1, "a last line without newline");
	free(keys);

	bad("", "no key");
	bad("# only a comment\n\n", "no key");
	bad("lab" K32 "\n", "line 1: expected identity:hexkey");
	bad("\n:" K32 "\n", "line 2: empty identity");
	bad("lab:\n", "line 1: empty key");
	bad("lab:" K32 "0\n", "line 1: key has an odd number");
	bad("lab:0011\n", "line 1: key of 2 bytes");
	bad("lab:" K32 K32 K32 K32 "00\n", "line 1: key of 65 bytes");
	bad("a:" K32 "\nlab:" K32 "zz\n", "line 2: key is not hexadecimal");
	bad("la b:" K32 "\n", "line 1: identity has a character");
	bad("lab:" K32 "\nlab:" K32 "\n", "line 2: identity 'lab' given twice");

	/* an identity of 129 bytes, a line of 513 */
	memset(big, 'i', VFM_TLS_PSK_ID_MAX + 1);
	strcpy(big + VFM_TLS_PSK_ID_MAX + 1, ":" K32 "\n");
	bad(big, "line 1: identity longer than 128 bytes");
	memset(big, 'i', VFM_TLS_PSK_LINE_MAX + 1);
	big[VFM_TLS_PSK_LINE_MAX + 1] = '\0';
	bad(big, "line 1: longer than 512 bytes");
	/* 257 lines, each blank */
	memset(big, '\n', VFM_TLS_PSK_LINES_MAX + 1);
	big[VFM_TLS_PSK_LINES_MAX + 1] = '\0';
	bad(big, "more than 256 lines");
	/* more than the file limit */
	memset(big, '\n', VFM_TLS_PSK_FILE_MAX + 1);
	r = parse(big, VFM_TLS_PSK_FILE_MAX + 1, &keys, msg, sizeof(msg));
	tap_ok(r == -E2BIG, "a text over %d bytes: -E2BIG (%d)", VFM_TLS_PSK_FILE_MAX, r);
	/* a NUL inside */
	r = parse("lab:" K32 "\0x", strlen("lab:" K32) + 2, &keys, msg, sizeof(msg));
	tap_ok(r == -EINVAL && strstr(msg, "NUL"), "a NUL byte is refused");
}

static void test_dn(void)
{
	const char *const pats[] = {"*CN=src.example", "O=lab,CN=*.lab.example"};
	const char *const star[] = {"*"};

	tap_ok(vfm_tls_dn_allowed("O=vfiomig test,CN=src.example", pats, 2),
	       "DN matches a suffix pattern");
	tap_ok(vfm_tls_dn_allowed("O=lab,CN=a.lab.example", pats, 2),
	       "DN matches a glob");
	tap_ok(!vfm_tls_dn_allowed("O=lab,CN=a.lab.example.evil", pats, 2),
	       "a longer DN does not match (no implicit prefix/suffix)");
	tap_ok(!vfm_tls_dn_allowed("CN=stranger.example", pats, 2),
	       "a stranger does not");
	tap_ok(!vfm_tls_dn_allowed("", pats, 2), "an empty DN does not");
	tap_ok(vfm_tls_dn_allowed("CN=anything", NULL, 0), "no pattern: any DN");
	tap_ok(vfm_tls_dn_allowed("CN=x", star, 1), "'*' matches all");
}

int main(void)
{
	test_psk();
	test_dn();
	return tap_done();
}
