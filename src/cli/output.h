/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

/*
 * One call prints a field as text or adds it to the JSON document, whichever mode
 * the output is in (iproute2's print_* idea, behind an ops table).  A NULL text
 * format means "JSON only".  Keys are ignored inside arrays.
 */
struct out;

struct out *out_new(bool json, bool pretty);
/* Free; in JSON mode the document is kept as the process's (out_document_set()). */
void out_finish(struct out *o);
/* Free without printing the JSON document (a command that failed half-way: main()
 * prints its error object instead).  Text already printed stays printed. */
void out_discard(struct out *o);
bool out_is_json(const struct out *o);

struct json_object;
/* The one JSON document a command prints (takes @doc), printed by main() on its way
 * out with "version" and, when the command failed, "error" (out_document_take()). */
void out_document_set(struct json_object *doc, bool pretty);
/* The document set, or NULL; the caller owns it. */
struct json_object *out_document_take(bool *ret_pretty);

void out_object_begin(struct out *o, const char *key);
void out_object_end(struct out *o);
void out_array_begin(struct out *o, const char *key);
void out_array_end(struct out *o);

void out_str(struct out *o, const char *key, const char *text_fmt, const char *val);
void out_u64(struct out *o, const char *key, const char *text_fmt, uint64_t val);
void out_i64(struct out *o, const char *key, const char *text_fmt, int64_t val);
void out_bool(struct out *o, const char *key, const char *text_fmt, bool val);
/* @list ("a,b,c", or "none") as text, or as a JSON array of strings ("none": []). */
void out_str_list(struct out *o, const char *key, const char *text_fmt, const char *list);
void out_null(struct out *o, const char *key);
/* JSON only: an error object {errno, errno_name, message} (@err: an errno, either
 * sign; 0: unknown, both null). */
void out_error(struct out *o, const char *key, int err, const char *message);
/* Text only. */
void out_text(struct out *o, const char *fmt, ...) _printf_(2, 3);

/*
 * Text for the formats CI systems read (check --format tap|junit): device names and
 * kernel messages are untrusted bytes, and each of these readers chokes on some.
 */

/* @s as XML 1.0 character data or attribute value: & < > " ' as entities, tab, LF
 * and CR as character references; what XML 1.0 cannot carry at all (other C0
 * controls, U+FFFE, U+FFFF, bytes that are not UTF-8) as the visible text "\xNN". */
void out_xml_escaped(FILE *f, const char *s);
/* @s as a YAML double-quoted scalar, the quotes included: \\ \" \t \n \r, and
 * \xNN (\uNNNN above U+00FF) for what YAML does not print (C0, DEL, C1, U+2028,
 * U+2029, U+FFFE, U+FFFF); a byte that is not UTF-8 as \xNN. */
void out_yaml_quoted(FILE *f, const char *s);
/* @s as a TAP test point's description: '#' and '\\' escaped with a backslash (a
 * bare '#' would start a directive), controls and bytes that are not UTF-8 as '?'. */
void out_tap_description(FILE *f, const char *s);

/* "EIO", "ENOMSG"... for a positive errno; "errno 1234" when the C library has no
 * name for it.  Points into @buf or to a constant. */
const char *out_errno_name(int err, char buf[static 24]);
