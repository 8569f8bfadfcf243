#!/usr/bin/python3
"""Validates the responses the API tests received against the OpenAPI document (docs/openapi.md).

    tests/openapi_check.py OPENAPI.json RESPONSES.jsonl

RESPONSES.jsonl is what test-api writes with APF_RESPONSE_LOG set: one line per response,
{method, path, status, content_type, json | body_len}. Each response below /v1 is matched to its
operation like the server matches routes (the path with the most literal segments wins); the
status must be described for that operation, a JSON body must validate against the described
schema (JSON Schema Draft 2020-12, Debian's python3-jsonschema), and a body that is not JSON
must be described with its media type. A path below /v1 that names no route must be a 404 or 405
error envelope. Exit 1 with the list of mismatches (grouped, with counts), 0 otherwise.
"""
import collections
import json
import re
import sys

from jsonschema import Draft202012Validator, RefResolver

MAX_SHOWN = 40


def load_lines(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise SystemExit(f"{path}:{n}: not JSON: {e}")


class Doc:
    def __init__(self, doc):
        self.doc = doc
        self.resolver = RefResolver(base_uri="", referrer=doc)
        self.routes = []  # (literal segments, regex, path item)
        for tpl, item in doc["paths"].items():
            segs = tpl.strip("/").split("/")
            rx = "".join("/[^/]+" if s.startswith("{") else "/" + re.escape(s) for s in segs)
            lits = sum(1 for s in segs if not s.startswith("{"))
            self.routes.append((lits, re.compile("^/v1" + rx + "/?$"), tpl, item))
        self.routes.sort(key=lambda r: -r[0])
        self.validators = {}
        self.error = self.validator(doc["components"]["schemas"]["Error"], "Error")

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def validator(self, schema, key):
        v = self.validators.get(key)
        if v is None:
            v = self.validators[key] = Draft202012Validator(schema, resolver=self.resolver)
        return v

    def route(self, path):
        for _, rx, tpl, item in self.routes:
            if rx.match(path):
                return tpl, item
        return None, None


def first_error(v, body):
    """None, or (where the body fails, with list indices as *; the keyword; an example)."""
    err = next(iter(sorted(v.iter_errors(body), key=lambda e: len(list(e.absolute_path)))), None)
    if err is None:
        return None
    where = "/".join("*" if isinstance(p, int) else str(p) for p in err.absolute_path)
    msg = err.message if len(err.message) < 160 else err.message[:160] + "..."
    return (f"at {where or '(body)'}: {err.validator}", msg)


def media_matches(described, actual):
    if described == actual:
        return True
    if described.endswith("/*"):
        return actual.split("/")[0] == described.split("/")[0]
    return False


def check(doc, r):
    """None when r matches, else (problem kind, detail)."""
    method, path, status = r["method"].upper(), r["path"], r["status"]
    body = r.get("json")
    tpl, item = doc.route(path)
    if item is None:
        if status not in (404, 405) or body is None:
            return ("unrouted path answered other than a 404/405 envelope", f"{method} {path} {status}")
        e = first_error(doc.error, body)
        return ("unrouted error envelope", f"{method} {path} {status}: {e[0]}", e[1]) if e else None
    op = item.get(method.lower())
    if op is None:
        if status == 405 and body is not None and not first_error(doc.error, body):
            return None
        return ("method not in the document", f"{method} {tpl} -> {status}")
    resp = op["responses"].get(str(status))
    if resp is None:
        return ("status not described", f"{method} {tpl} -> {status} {(body or {}).get('code', '')}")
    resp = doc.deref(resp)
    content = resp.get("content", {})
    ctype = (r.get("content_type") or "").split(";")[0].strip().lower()
    if body is not None and "application/json" in content:
        schema = content["application/json"].get("schema", {})
        key = f"{method} {tpl} {status}"
        e = first_error(doc.validator(schema, key), body)
        return ("body does not match its schema", f"{key}: {e[0]}", e[1]) if e else None
    if body is None and r.get("body_len", 0) == 0 and not content:
        return None
    if any(media_matches(m, ctype) for m in content):
        return None
    return ("media type not described", f"{method} {tpl} -> {status} {ctype or '(none)'}")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = Doc(json.load(f))
    problems = collections.defaultdict(collections.Counter)
    examples = {}
    checked = outside = 0
    ops = collections.Counter()
    for r in load_lines(sys.argv[2]):
        if not r["path"].startswith("/v1/") and r["path"] != "/v1":
            outside += 1  # nginx's own pages (/docs, /v2 ...): not the API
            continue
        checked += 1
        bad = check(doc, r)
        if bad:
            problems[bad[0]][bad[1]] += 1
            if len(bad) > 2:
                examples.setdefault(bad[1], bad[2])
        else:
            tpl, item = doc.route(r["path"])
            if item is not None and r["method"].lower() in item:
                ops[(r["method"].upper(), tpl, r["status"])] += 1
    nops = sum(1 for item in doc.doc["paths"].values() for m in item if m in
               ("get", "post", "put", "patch", "delete"))
    seen = len({(m, t) for (m, t, _) in ops})
    print(f"openapi-check: {checked} responses below /v1 checked against {nops} operations "
          f"({seen} operations and {len(ops)} operation/status pairs seen); "
          f"{outside} outside /v1 skipped")
    if not problems:
        print("openapi-check: every response matches the document")
        return 0
    total = sum(sum(c.values()) for c in problems.values())
    print(f"openapi-check: FAILED, {total} responses do not match the document:")
    for kind, cases in sorted(problems.items()):
        print(f"  {kind} ({sum(cases.values())}):")
        for i, (detail, n) in enumerate(cases.most_common()):
            if i == MAX_SHOWN:
                print(f"    ... {len(cases) - MAX_SHOWN} more")
                break
            print(f"    {n:5d} x {detail}" + (f" (e.g. {examples[detail]})" if detail in examples else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main())
