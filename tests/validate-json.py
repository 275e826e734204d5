#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Validate vfiomig's and vfiomigd's JSON against the schemas in schema/.

  validate-json.py SCHEMA_DIR KIND [--lines] [FILE...]
      Each FILE (standard input without one) is one JSON document of KIND (a schema's
      name without .schema.json, e.g. vfiomig-list, optionally with a fragment:
      vfiomigd-response#/$defs/result_jobs); with --lines, each non-empty line is.
      Exit 0 when every document is valid, 1 otherwise (the errors on stdout).
  validate-json.py --spool SCHEMA_DIR DIR
      Every file DIR/N.KIND (N a number: the order) or DIR/N.KIND.lines, as above,
      one report line per invalid document; exit 1 if any.  The shell tests copy what
      they produce there (tests/tap.sh) and check it all in one python run.
  validate-json.py --lint SCHEMA_DIR [VFIOMIG]
      TAP: every schema is a valid draft 2020-12 schema with an SPDX $comment,
      whose references resolve,
      describes every property, chooses additionalProperties (or
      unevaluatedProperties) for every object with properties; with VFIOMIG, every
      command its --help lists has schema/vfiomig-COMMAND.schema.json (the ones
      without are named).

Works with Debian 12's python3-jsonschema (4.10, RefResolver) and later releases
(the referencing library).  Standard library besides jsonschema.
"""
import json
import os
import re
import subprocess
import sys

try:
    import jsonschema
except ImportError:  # the caller skips (TAP for --lint)
    if sys.argv[1:2] == ["--lint"]:
        print("1..0 # SKIP python3-jsonschema is not installed")
        sys.exit(0)
    sys.stderr.write("validate-json: python3-jsonschema is not installed\n")
    sys.exit(77)

SUFFIX = ".schema.json"


def load_dir(schema_dir):
    schemas = {}
    for name in sorted(os.listdir(schema_dir)):
        if name.endswith(SUFFIX):
            with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
                schemas[name] = json.load(f)
    return schemas


def validator_for(schemas, kind, closed=False):
    """A Draft 2020-12 validator for KIND (stem, or stem#fragment); @closed: no
    member beyond those KIND describes (for its open definitions, result_*)."""
    stem, _, frag = kind.partition("#")
    target = stem + SUFFIX + ("#" + frag if frag else "")
    if stem + SUFFIX not in schemas:
        raise KeyError("no schema %s%s" % (stem, SUFFIX))
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "validate-json-root" + SUFFIX, "$ref": target}
    if closed:
        root["unevaluatedProperties"] = False
    cls = jsonschema.Draft202012Validator
    try:
        import referencing
        import referencing.jsonschema

        registry = referencing.Registry().with_resources(
            (name, referencing.Resource.from_contents(
                s, default_specification=referencing.jsonschema.DRAFT202012))
            for name, s in schemas.items())
        return cls(root, registry=registry)
    except ImportError:
        resolver = jsonschema.RefResolver.from_schema(root, store=dict(schemas))
        return cls(root, resolver=resolver)


def errors_of(validator, doc):
    out = []
    for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        out.append("%s: %s" % (where, e.message[:400]))
        # anyOf/oneOf: say what each branch objected to (the deepest first)
        for sub in sorted(e.context or [], key=lambda s: -len(s.absolute_path))[:6]:
            w = "/".join(str(p) for p in sub.absolute_path) or "(top)"
            out.append("    %s: %s" % (w, sub.message[:300]))
    return out


def documents(text, lines):
    if not lines:
        yield json.loads(text)
        return
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def check_text(validator, text, lines, label):
    bad = []
    try:
        docs = list(documents(text, lines))
    except ValueError as e:
        return ["%s: not JSON: %s: %r" % (label, e, text[:200])]
    if not docs:
        return ["%s: no JSON document" % label]
    for i, doc in enumerate(docs):
        errs = errors_of(validator, doc)
        if errs:
            bad.append("%s%s: %s" % (label, " line %d" % (i + 1) if lines else "",
                                     json.dumps(doc)[:600]))
            bad.extend("  " + e for e in errs)
    return bad


def cmd_validate(argv):
    lines = "--lines" in argv
    argv = [a for a in argv if a != "--lines"]
    if len(argv) < 2:
        sys.exit(__doc__)
    schemas = load_dir(argv[0])
    validator = validator_for(schemas, argv[1])
    bad = []
    for path in argv[2:] or ["-"]:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        bad += check_text(validator, text, lines, path)
    print("\n".join(bad))
    return 1 if bad else 0


def cmd_spool(argv):
    schemas = load_dir(argv[0])
    validators = {}
    bad = []
    n = 0
    names = [f for f in os.listdir(argv[1])
             if re.match(r"^\d+\.", f) and not f.endswith(".desc")]
    for name in sorted(names, key=lambda f: int(f.split(".")[0])):
        parts = name.split(".", 1)[1]
        lines = parts.endswith(".lines")
        kind = parts[:-len(".lines")] if lines else parts
        kind = kind.replace("%23", "#").replace("%24", "$").replace("%2F", "/")
        try:
            if kind not in validators:
                validators[kind] = validator_for(schemas, kind)
        except KeyError as e:
            bad.append("%s: %s" % (name, e))
            continue
        with open(os.path.join(argv[1], name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        label = name
        desc = os.path.join(argv[1], name.split(".")[0] + ".desc")
        if os.path.exists(desc):
            label += " (" + open(desc, encoding="utf-8").read().strip()[:200] + ")"
        bad += check_text(validators[kind], text, lines, label)
        n += 1
    print("\n".join(bad) if bad else "%d documents valid" % n)
    return 1 if bad else 0


def walk(node, path, found):
    """Every subschema: (path, schema)."""
    if isinstance(node, dict):
        found.append((path, node))
        for k, v in node.items():
            if k in ("const", "enum", "default", "examples"):
                continue
            walk(v, path + "/" + k, found)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, "%s/%d" % (path, i), found)


def cmd_lint(argv):
    schema_dir = argv[0]
    schemas = load_dir(schema_dir)
    n = 0
    failed = 0

    def point(good, desc, diag=()):
        nonlocal n, failed
        n += 1
        if not good:
            failed += 1
        print("%s %d - %s" % ("ok" if good else "not ok", n, desc))
        for d in diag:
            print("# " + d)

    for name, s in schemas.items():
        problems = []
        try:
            jsonschema.Draft202012Validator.check_schema(s)
        except jsonschema.SchemaError as e:
            problems.append("not a draft 2020-12 schema: %s" % e.message)
        if s.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
            problems.append("$schema is not draft 2020-12")
        if s.get("$id") != name:
            problems.append("$id is not %s" % name)
        if not str(s.get("$comment", "")).startswith("SPDX-License-Identifier: "):
            problems.append("no \"$comment\": \"SPDX-License-Identifier: ...\"")
        found = []
        walk(s, "", found)
        for path, sub in found:
            ref = sub.get("$ref")
            if isinstance(ref, str) and not path.endswith("/properties"):
                file_, _, frag = ref.partition("#")
                node = schemas.get(file_ or name)
                try:
                    for part in [p for p in frag.split("/") if p]:
                        node = node[part]
                except (KeyError, TypeError):
                    node = None
                if node is None:
                    problems.append("%s: $ref %s does not resolve" % (path or "/", ref))
            props = sub.get("properties")
            # conditions (if) name fields, they do not define them
            if (isinstance(props, dict) and not path.endswith("/properties")
                    and "/if" not in path):
                for k, v in props.items():
                    if not isinstance(v, dict) or not v.get("description"):
                        problems.append("%s/properties/%s: no description" % (path, k))
            if (sub.get("type") == "object" and isinstance(props, dict) and props
                    and "additionalProperties" not in sub
                    and "unevaluatedProperties" not in sub
                    and name != "common.schema.json"
                    and "/$defs/result_" not in "/" + path):
                problems.append("%s: an object with properties that chooses neither "
                                "additionalProperties nor unevaluatedProperties" % (path or "/"))
        point(not problems, "schema %s is valid, resolves, describes its fields" % name,
              problems)

    if len(argv) > 1:
        helptext = subprocess.run([argv[1], "--help"], capture_output=True, text=True).stdout
        # "Commands:" up to the first empty line (as tests/lint-docs.sh reads it)
        section = helptext.split("Commands:\n", 1)[-1].split("\n\n", 1)[0]
        commands = re.findall(r"^  ([a-z][a-z0-9-]*)\s", section, re.M)
        missing = [c for c in commands if "vfiomig-%s%s" % (c, SUFFIX) not in schemas]
        point(bool(commands), "vfiomig --help lists commands (%d)" % len(commands))
        point(not missing, "every command vfiomig --help lists has a schema",
              ["no schema/vfiomig-%s%s" % (c, SUFFIX) for c in missing])
    print("1..%d" % n)
    return 1 if failed else 0


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--spool"]:
        return cmd_spool(argv[1:])
    if argv[:1] == ["--lint"]:
        return cmd_lint(argv[1:])
    return cmd_validate(argv)


if __name__ == "__main__":
    sys.exit(main())
