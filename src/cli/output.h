/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

/*
 * One call prints a field as text or adds it to the JSON document, whichever mode
 * the output is in (iproute2's print_* idea, behind an ops table).  A NULL text
 * format means "JSON only".  Keys are ignored inside arrays.
 */
struct out;

struct out *out_new(bool json, bool pretty);
/* Print the JSON document (JSON mode) and free. */
void out_finish(struct out *o);
bool out_is_json(const struct out *o);

void out_object_begin(struct out *o, const char *key);
void out_object_end(struct out *o);
void out_array_begin(struct out *o, const char *key);
void out_array_end(struct out *o);

void out_str(struct out *o, const char *key, const char *text_fmt, const char *val);
void out_u64(struct out *o, const char *key, const char *text_fmt, uint64_t val);
void out_i64(struct out *o, const char *key, const char *text_fmt, int64_t val);
void out_bool(struct out *o, const char *key, const char *text_fmt, bool val);
void out_null(struct out *o, const char *key);
/* Text only. */
void out_text(struct out *o, const char *fmt, ...) _printf_(2, 3);
