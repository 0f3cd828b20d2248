#!/usr/bin/env python3
"""Checks a corpus folder in the format of ../shared/corpus/README.md (WebVTT + .gold.json).

Checks: WebVTT shape and voice tags; timings increase and never overlap; duration_minutes is
the last cue's end in whole minutes; expected_cpt follows the kind and length rules; 8-20 key
facts with unique ids, a section for SOAP/DAP/BIRP/GIRP, evidence cues in range; each risk quote
appears verbatim in every cue it cites; forbidden_patterns compile and match none of the gold
key facts. Exits non-zero with every problem listed.

CPT rules (CPT psychotherapy time bands): individual 16-37 min 90832, 38-52 90834, 53+ 90837,
under 16 none; couples/family with the patient present 90847, without 90846 (26+ min);
group 90853; dictation none.

Usage: validate.py [DIR ...]   (default: this folder)
"""
import json, pathlib, re, sys

VOICES = {"Clinician", "Client", "Parent", "Partner A", "Partner B",
          "Member A", "Member B", "Member C", "Member D"}
KINDS = {"individual", "couples", "family", "group", "dictation"}
SECTIONS = {"SOAP": set("SOAP"), "DAP": set("DAP"), "BIRP": set("BIRP"), "GIRP": set("GIRP")}
RISK = {"suicidal_ideation", "homicidal_ideation", "self_harm", "child_abuse", "elder_abuse",
        "substance_relapse"}
TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})$")


def seconds(h, m, s, ms):
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_vtt(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != "WEBVTT":
        raise ValueError("first line must be WEBVTT")
    cues, i = [], 1
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        m = TIME.match(lines[i].strip())
        if not m:
            raise ValueError(f"line {i + 1}: expected a timing line")
        start, end = seconds(*m.groups()[:4]), seconds(*m.groups()[4:])
        text = lines[i + 1] if i + 1 < len(lines) else ""
        v = re.match(r"^<v ([^>]+)>(.+)$", text)
        if not v or v.group(1) not in VOICES:
            raise ValueError(f"line {i + 2}: expected `<v Voice>text` with a known voice")
        cues.append((start, end, v.group(1), v.group(2)))
        i += 2
    return cues


def expected_cpt(kind, minutes, client_present):
    if kind == "dictation":
        return None
    if kind == "group":
        return "90853"
    if kind in ("couples", "family"):
        if minutes < 26:
            return None
        return "90847" if client_present else "90846"
    if minutes < 16:
        return None
    if minutes <= 37:
        return "90832"
    if minutes <= 52:
        return "90834"
    return "90837"


def check(vtt):
    problems = []
    gold_path = vtt.with_name(vtt.stem + ".gold.json")
    try:
        cues = parse_vtt(vtt)
    except ValueError as e:
        return [f"{vtt.name}: {e}"]
    for n in range(1, len(cues)):
        if cues[n][0] < cues[n - 1][1] or cues[n][1] <= cues[n][0]:
            problems.append(f"{vtt.name}: cue {n + 1} overlaps or goes backwards")
    if not gold_path.exists():
        return problems + [f"{gold_path.name}: missing"]
    g = json.loads(gold_path.read_text(encoding="utf-8"))
    p = lambda msg: problems.append(f"{gold_path.name}: {msg}")
    if g.get("stem") != vtt.stem:
        p("stem does not match the file name")
    kind = g.get("kind")
    if kind not in KINDS:
        p(f"kind must be one of {sorted(KINDS)}")
    minutes = int(cues[-1][1] // 60)
    if g.get("duration_minutes") != minutes:
        p(f"duration_minutes is {g.get('duration_minutes')}, the transcript says {minutes}")
    want = expected_cpt(kind, minutes, g.get("client_present", True))
    if g.get("expected_cpt") != want:
        p(f"expected_cpt is {g.get('expected_cpt')}, the rules give {want}")
    facts = g.get("key_facts", [])
    if not 8 <= len(facts) <= 20 and kind != "dictation" and minutes >= 16:
        p(f"{len(facts)} key facts; want 8-20")
    ids = [f.get("id") for f in facts]
    if len(ids) != len(set(ids)):
        p("key fact ids repeat")
    for f in facts:
        sec = f.get("section", {})
        for fmt, keys in SECTIONS.items():
            if sec.get(fmt) not in keys:
                p(f"{f.get('id')}: section.{fmt} must be one of {sorted(keys)}")
        ev = f.get("evidence_cues") or []
        if not ev or any(not isinstance(c, int) or not 1 <= c <= len(cues) for c in ev):
            p(f"{f.get('id')}: evidence_cues must be 1..{len(cues)}")
        if not isinstance(f.get("must_include"), bool):
            p(f"{f.get('id')}: must_include must be true or false")
    for r in g.get("risk", []):
        if r.get("category") not in RISK:
            p(f"risk category {r.get('category')!r} unknown")
        for c in r.get("evidence_cues", []):
            if not 1 <= c <= len(cues) or r.get("quote", "") not in cues[c - 1][3]:
                p(f"risk quote {r.get('quote')!r} is not verbatim in cue {c}")
        if not r.get("evidence_cues"):
            p("a risk needs evidence_cues")
    if not g.get("must_not_claim"):
        p("must_not_claim is empty")
    joined = "\n".join(f["fact"] for f in facts)
    for pat in g.get("forbidden_patterns", []):
        try:
            rx = re.compile(pat, re.IGNORECASE)
        except re.error as e:
            p(f"forbidden pattern does not compile ({e}): {pat[:60]}")
            continue
        for f in facts:
            if rx.search(f["fact"]):
                p(f"forbidden pattern matches true fact {f['id']}: {pat[:60]}")
    return problems


def main():
    dirs = [pathlib.Path(d) for d in sys.argv[1:]] or [pathlib.Path(__file__).resolve().parent]
    problems, n = [], 0
    for d in dirs:
        for vtt in sorted(d.glob("*.vtt")):
            n += 1
            problems += check(vtt)
    for line in problems:
        print(line)
    print(f"{n} sessions checked, {len(problems)} problems")
    sys.exit(1 if problems or n == 0 else 0)


if __name__ == "__main__":
    main()
