// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "macro.h"
#include "output.h"

#define OUT_DEPTH 16

struct out_ops {
	void (*begin)(struct out *o, const char *key, bool array);
	void (*end)(struct out *o);
	void (*value)(struct out *o, const char *key, const char *text_fmt,
		      struct json_object *jv, const char *text);
};

struct out {
	const struct out_ops *ops;
	bool pretty;
	struct json_object *stack[OUT_DEPTH];
	unsigned depth;
	struct json_object *root;
};

/* ---- text ---- */

static void text_begin(struct out *o, const char *key, bool array) {}
static void text_end(struct out *o) {}
static void text_value(struct out *o, const char *key, const char *text_fmt,
		       struct json_object *jv, const char *text)
{
	const char *hole;

	json_object_put(jv);
	if (!text_fmt)
		return;
	/* Formats hold at most one "%s"; substitute by hand (no user format strings). */
	hole = strstr(text_fmt, "%s");
	if (!hole) {
		fputs(text_fmt, stdout);
		return;
	}
	fwrite(text_fmt, 1, (size_t)(hole - text_fmt), stdout);
	fputs(text, stdout);
	fputs(hole + 2, stdout);
}

static const struct out_ops text_ops = {
	.begin = text_begin,
	.end = text_end,
	.value = text_value,
};

/* ---- json ---- */

static void json_add(struct out *o, const char *key, struct json_object *jv)
{
	struct json_object *top;

	if (o->depth == 0) {
		/* A bare value at top level becomes the document. */
		json_object_put(o->root);
		o->root = jv;
		return;
	}
	top = o->stack[o->depth - 1];
	if (json_object_is_type(top, json_type_array))
		json_object_array_add(top, jv);
	else
		json_object_object_add(top, key ? key : "value", jv);
}

static void json_begin(struct out *o, const char *key, bool array)
{
	struct json_object *jv = array ? json_object_new_array() : json_object_new_object();

	if (!jv)
		abort();
	if (o->depth == OUT_DEPTH)
		abort(); /* a programming error, not input */
	if (o->depth == 0 && !o->root) {
		o->root = jv;
	} else {
		json_add(o, key, jv);
	}
	o->stack[o->depth++] = jv;
}

static void json_end(struct out *o)
{
	if (o->depth > 0)
		o->depth--;
}

static void json_value(struct out *o, const char *key, const char *text_fmt,
		       struct json_object *jv, const char *text)
{
	json_add(o, key, jv);
}

static const struct out_ops json_ops = {
	.begin = json_begin,
	.end = json_end,
	.value = json_value,
};

struct out *out_new(bool json, bool pretty)
{
	struct out *o = calloc(1, sizeof(*o));

	if (!o)
		abort();
	o->ops = json ? &json_ops : &text_ops;
	o->pretty = pretty;
	return o;
}

bool out_is_json(const struct out *o)
{
	return o->ops == &json_ops;
}

/* The JSON document of this process (a command prints one): main() prints it, with
 * "version" and, after a failure, "error" (see out_document_take()). */
static struct json_object *document;
static bool document_pretty;

void out_document_set(struct json_object *doc, bool pretty)
{
	json_object_put(document);
	document = doc;
	document_pretty = pretty;
}

struct json_object *out_document_take(bool *ret_pretty)
{
	struct json_object *doc = document;

	if (ret_pretty)
		*ret_pretty = document_pretty;
	document = NULL;
	return doc;
}

void out_finish(struct out *o)
{
	if (!o)
		return;
	if (out_is_json(o) && o->root) {
		out_document_set(o->root, o->pretty);
		o->root = NULL;
	}
	json_object_put(o->root);
	fflush(stdout);
	free(o);
}

void out_discard(struct out *o)
{
	if (!o)
		return;
	json_object_put(o->root);
	fflush(stdout);
	free(o);
}

void out_object_begin(struct out *o, const char *key)
{
	o->ops->begin(o, key, false);
}
void out_object_end(struct out *o)
{
	o->ops->end(o);
}
void out_array_begin(struct out *o, const char *key)
{
	o->ops->begin(o, key, true);
}
void out_array_end(struct out *o)
{
	o->ops->end(o);
}

void out_str(struct out *o, const char *key, const char *text_fmt, const char *val)
{
	o->ops->value(o, key, text_fmt, out_is_json(o) ? json_object_new_string(val) : NULL,
		      val);
}

/* Text formats take a %s: numbers are formatted here so that one format string per
 * field works for every type. */
void out_u64(struct out *o, const char *key, const char *text_fmt, uint64_t val)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, val);
	o->ops->value(o, key, text_fmt,
		      out_is_json(o) ? json_object_new_uint64(val) : NULL, buf);
}

void out_i64(struct out *o, const char *key, const char *text_fmt, int64_t val)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, val);
	o->ops->value(o, key, text_fmt, out_is_json(o) ? json_object_new_int64(val) : NULL,
		      buf);
}

void out_bool(struct out *o, const char *key, const char *text_fmt, bool val)
{
	o->ops->value(o, key, text_fmt, out_is_json(o) ? json_object_new_boolean(val) : NULL,
		      val ? "yes" : "no");
}

void out_str_list(struct out *o, const char *key, const char *text_fmt, const char *list)
{
	const char *p = list;

	if (!out_is_json(o)) {
		out_str(o, key, text_fmt, list);
		return;
	}
	out_array_begin(o, key);
	while (*p && strcmp(list, "none") != 0) {
		size_t len = strcspn(p, ",");
		char *item = strndup(p, len);

		if (!item)
			abort();
		out_str(o, NULL, NULL, item);
		free(item);
		p += len;
		if (*p == ',')
			p++;
	}
	out_array_end(o);
}

void out_error(struct out *o, const char *key, int err, const char *message)
{
	char nb[24];

	if (!out_is_json(o))
		return;
	err = err < 0 ? -err : err;
	out_object_begin(o, key);
	if (err) {
		out_i64(o, "errno", NULL, err);
		out_str(o, "errno_name", NULL, out_errno_name(err, nb));
	} else {
		out_null(o, "errno");
		out_null(o, "errno_name");
	}
	out_str(o, "message", NULL, message);
	out_object_end(o);
}

void out_null(struct out *o, const char *key)
{
	if (out_is_json(o))
		json_add(o, key, NULL);
}

void out_text(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (out_is_json(o))
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* ---- text for CI formats ---- */

/* The code point at @s and its length, or 0 when @s does not start with well-formed
 * UTF-8 (overlong forms, surrogates and values above U+10FFFF are not).  @s is
 * NUL-terminated, so a sequence cut short stops at the NUL. */
static size_t utf8_char(const unsigned char *s, uint32_t *ret)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80) {
		*ret = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret = cp;
	return n;
}

void out_xml_escaped(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		uint32_t cp = 0;
		size_t n = utf8_char(s, &cp);

		if (n == 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
		    cp == 0xfffe || cp == 0xffff) {
			/* not a character of XML 1.0, not even as a reference */
			for (size_t i = 0; i < MAX(n, (size_t)1); i++)
				fprintf(f, "\\x%02x", s[i]);
			s += MAX(n, (size_t)1);
			continue;
		}
		switch (cp) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		/* references: a parser turns literal ones into spaces in attributes */
		case '\t': fputs("&#9;", f); break;
		case '\n': fputs("&#10;", f); break;
		case '\r': fputs("&#13;", f); break;
		default: fwrite(s, 1, n, f); break;
		}
		s += n;
	}
}

void out_yaml_quoted(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		uint32_t cp = 0;
		size_t n = utf8_char(s, &cp);

		if (n == 0) {
			fprintf(f, "\\x%02x", *s++);
			continue;
		}
		switch (cp) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\t': fputs("\\t", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
				fprintf(f, "\\x%02x", (unsigned)cp);
			else if (cp == 0x2028 || cp == 0x2029 || cp == 0xfffe || cp == 0xffff)
				fprintf(f, "\\u%04x", (unsigned)cp);
			else
				fwrite(s, 1, n, f);
			break;
		}
		s += n;
	}
	fputc('"', f);
}

void out_tap_description(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		uint32_t cp = 0;
		size_t n = utf8_char(s, &cp);

		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029) {
			fputc('?', f);
			s += MAX(n, (size_t)1);
			continue;
		}
		if (cp == '#' || cp == '\\')
			fputc('\\', f);
		fwrite(s, 1, n, f);
		s += n;
	}
}

const char *out_errno_name(int err, char buf[static 24])
{
#if HAVE_STRERRORNAME_NP
	const char *name = strerrorname_np(err);

	if (name)
		return name;
#endif
	snprintf(buf, 24, "errno %d", err);
	return buf;
}
