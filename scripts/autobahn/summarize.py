#!/usr/bin/env python3
"""Reads Autobahn|Testsuite fuzzingclient reports and writes summary.md / summary.json.

Called by scripts/autobahn/run.sh once all targets ran; usable by hand on kept reports:

    summarize.py --out results/autobahn --expected expected-cases.json \
        --target NAME REPORT_DIR WALL_SECONDS [--target …] [--meta KEY=VALUE …]

REPORT_DIR is a spec "outdir" (it holds index.json and one NAME_case_*.json per case).
The pass rule: a case passes when its `behavior` AND its `behaviorClose` are both one of
OK, NON-STRICT, INFORMATIONAL. A target passes when every expected case is in its report
and passes. Prints one summary line per target plus every non-passing case (id,
description, behavior, result); exits 1 when any target does not pass, 2 on bad input.
"""

import argparse
import collections
import html
import json
import os
import re
import sys

PASSING = ("OK", "NON-STRICT", "INFORMATIONAL")


def case_key(case_id):
    return tuple(int(p) for p in case_id.split("."))


def plain(text):
    """Autobahn descriptions are small HTML snippets; flatten them to one line of text."""
    text = re.sub(r"<br\s*/?>", " ", text or "")
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def load_target(name, report_dir, wall_s, expected):
    index_path = os.path.join(report_dir, "index.json")
    result = {
        "cases_expected": len(expected),
        "cases": 0,
        "passed": 0,
        "wall_seconds": wall_s,
        "case_duration_ms": 0,
        "behavior": {},
        "behaviorClose": {},
        "non_strict": [],
        "informational": [],
        "failing": [],
        "missing": [],
        "error": None,
    }
    try:
        with open(index_path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        result["error"] = f"no readable report at {index_path}: {e}"
        result["missing"] = sorted(expected, key=case_key)
        return result
    cases = index.get(name)
    if cases is None:
        result["error"] = f"{index_path} has no agent {name!r} (agents: {sorted(index)})"
        result["missing"] = sorted(expected, key=case_key)
        return result
    behavior = collections.Counter()
    behavior_close = collections.Counter()
    for case_id in sorted(cases, key=case_key):
        c = cases[case_id]
        b, bc = c.get("behavior", "?"), c.get("behaviorClose", "?")
        behavior[b] += 1
        behavior_close[bc] += 1
        result["cases"] += 1
        result["case_duration_ms"] += int(c.get("duration") or 0)
        if b == "NON-STRICT":
            result["non_strict"].append(case_id)
        if b == "INFORMATIONAL":
            result["informational"].append(case_id)
        if b in PASSING and bc in PASSING:
            result["passed"] += 1
            continue
        detail = {}
        try:
            with open(os.path.join(report_dir, c["reportfile"])) as f:
                detail = json.load(f)
        except (OSError, ValueError, KeyError):
            pass
        result["failing"].append(
            {
                "id": case_id,
                "behavior": b,
                "behaviorClose": bc,
                "remoteCloseCode": c.get("remoteCloseCode"),
                "description": plain(detail.get("description", "")),
                "expectation": plain(detail.get("expectation", "")),
                "result": plain(detail.get("result", "")),
                "resultClose": plain(detail.get("resultClose", "")),
            }
        )
    result["behavior"] = dict(sorted(behavior.items()))
    result["behaviorClose"] = dict(sorted(behavior_close.items()))
    result["missing"] = sorted(set(expected) - set(cases), key=case_key)
    return result


def ok(r):
    return r["error"] is None and not r["failing"] and not r["missing"]


def counts(r):
    return ", ".join(f"{k} {r['behavior'].get(k, 0)}" for k in PASSING)


def others(r):
    """Counts of non-passing behaviors, then non-passing closing behaviors ("close …")."""
    out = [f"{k} {v}" for k, v in r["behavior"].items() if k not in PASSING]
    out += [f"close {k} {v}" for k, v in r["behaviorClose"].items() if k not in PASSING]
    return ", ".join(out)


def line(name, r):
    s = f"{name}: {r['cases']} cases, {r['passed']} passed ({counts(r)})"
    if others(r):
        s += "; " + others(r)
    if r["missing"]:
        s += f"; {len(r['missing'])} of {r['cases_expected']} expected cases missing"
    if r["error"]:
        s += f"; error: {r['error']}"
    return s + ("" if ok(r) else " -- FAIL")


def write_md(path, summary):
    m = summary["meta"]
    out = [
        "# Autobahn|Testsuite results",
        "",
        "Written by `scripts/autobahn/run.sh` (see docs/autobahn.md). Do not edit by hand.",
        "",
        f"- cases: {', '.join(summary['cases'])} ({summary['cases_expected']} cases; "
        "12.* and 13.* permessage-deflate not run)",
        f"- pass rule: behavior and behaviorClose both in {', '.join(PASSING)}",
    ]
    out += [f"- {k}: {v}" for k, v in sorted(m.items())]
    out += [
        "",
        "| target | cases | passed | OK | NON-STRICT | INFORMATIONAL | other | wall s | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for name, r in summary["targets"].items():
        other = others(r)
        if r["missing"]:
            other = (other + "; " if other else "") + f"{len(r['missing'])} missing"
        b = r["behavior"]
        out.append(
            f"| {name} | {r['cases']} | {r['passed']} | {b.get('OK', 0)} | "
            f"{b.get('NON-STRICT', 0)} | {b.get('INFORMATIONAL', 0)} | {other or '-'} | "
            f"{r['wall_seconds']} | {'pass' if ok(r) else 'FAIL'} |"
        )
    for name, r in summary["targets"].items():
        out += ["", f"## {name}", ""]
        if r["error"]:
            out.append(f"Error: {r['error']}")
            continue
        out.append(f"- NON-STRICT: {', '.join(r['non_strict']) or 'none'}")
        out.append(f"- INFORMATIONAL: {', '.join(r['informational']) or 'none'}")
        close_other = {k: v for k, v in r["behaviorClose"].items() if k != "OK"}
        out.append(
            "- behaviorClose other than OK: "
            + (", ".join(f"{k} {v}" for k, v in close_other.items()) or "none")
        )
        if r["missing"]:
            out.append(f"- missing from the report: {', '.join(r['missing'])}")
        if r["failing"]:
            out += ["", "| case | behavior | close | description | result |", "| --- | --- | --- | --- | --- |"]
            for c in r["failing"]:
                cell = lambda s: s.replace("|", "\\|")
                out.append(
                    f"| {c['id']} | {c['behavior']} | {c['behaviorClose']} | "
                    f"{cell(c['description'])} | {cell(c['result'])} {cell(c['resultClose'])} |"
                )
        else:
            out.append("- failing: none")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for summary.md and summary.json")
    ap.add_argument("--expected", required=True, help="JSON: {cases: [patterns], ids: [case ids]}")
    ap.add_argument("--target", nargs=3, action="append", default=[],
                    metavar=("NAME", "REPORT_DIR", "WALL_SECONDS"))
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args()
    if not a.target:
        ap.error("at least one --target is needed")
    try:
        with open(a.expected) as f:
            exp = json.load(f)
        expected, patterns = exp["ids"], exp["cases"]
    except (OSError, ValueError, KeyError) as e:
        print(f"summarize: cannot read expected cases from {a.expected}: {e}", file=sys.stderr)
        return 2
    meta = dict(kv.split("=", 1) for kv in a.meta if "=" in kv)
    summary = {
        "cases": patterns,
        "cases_expected": len(expected),
        "pass_rule": {"behavior": list(PASSING), "behaviorClose": list(PASSING)},
        "meta": meta,
        "targets": {},
    }
    for name, report_dir, wall in a.target:
        wall_s = float(wall)
        wall_s = int(wall_s) if wall_s.is_integer() else wall_s
        summary["targets"][name] = load_target(name, report_dir, wall_s, expected)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    write_md(os.path.join(a.out, "summary.md"), summary)
    all_ok = True
    for name, r in summary["targets"].items():
        print(line(name, r))
        for c in r["failing"]:
            print(f"  {name} case {c['id']}: behavior {c['behavior']}, close {c['behaviorClose']}"
                  f" (remote close code {c['remoteCloseCode']}): {c['description']}")
            print(f"    result: {c['result']} {c['resultClose']}".rstrip())
        if r["missing"]:
            print(f"  {name}: missing cases: {', '.join(r['missing'][:20])}"
                  + (" …" if len(r["missing"]) > 20 else ""))
        all_ok = all_ok and ok(r)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
