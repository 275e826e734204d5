/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Checked parsers for untrusted text: the whole string must be a number in range,
 * no sign for unsigned, no trailing garbage.  Return 0, -EINVAL or -ERANGE.
 * base 0 accepts 0x / 0 prefixes.
 */
int parse_u64(const char *s, int base, uint64_t max, uint64_t *ret);
int parse_u32(const char *s, int base, uint32_t max, uint32_t *ret);
int parse_int(const char *s, int min, int max, int *ret);

/* Parse a size with an optional K/M/G/T suffix (powers of 1024). */
int parse_size(const char *s, uint64_t max, uint64_t *ret);

/* Read a one-line text file into @buf without its newline.  Returns length or -errno. */
ssize_t read_line_file(const char *path, char *buf, size_t size);

/* Read a sysfs file holding a hex number like "0x15b3". */
int read_hex_file(const char *path, int32_t *ret);

/* strscpy-like: copy with truncation, always terminated; -E2BIG if truncated. */
int strcopy(char *dst, size_t size, const char *src);

/* Whether @s is a canonical-ish UUID (8-4-4-4-12 hex). */
bool is_uuid(const char *s);
/* The value of a hex digit (either case), or -1. */
int hexval(char c);

/* Parse a UUID (8-4-4-4-12 hex, either case) into its 16 bytes in string order, as
 * the kernel's uuid_parse() does.  -EINVAL (nothing written) for anything else. */
int parse_uuid(const char *s, uint8_t ret[16]);

/* Monotonic microseconds. */
uint64_t now_usec(void);

/* Case-insensitive compare treating '-' and '_' as equal. */
bool name_eq(const char *a, const char *b);
