#!/usr/bin/env python3
"""Fits the scribe's content-kind weights (scribe/src/draft/select.rs, KIND_WEIGHTS) by
multinomial logistic regression on the kinds the gold annotations imply.

    cargo run -p evals -- scribe --corpus ../shared/corpus --corpus evals/corpus --units /tmp/units.jsonl
    python3 evals/tools/fit_kinds.py /tmp/units.jsonl ../shared/corpus evals/corpus

A unit's kind comes from the first key fact citing its cue, read across the four formats
(shared/corpus/README.md's table): GIRP G -> goal; SOAP P -> plan; SOAP A -> assessment;
SOAP S -> response if BIRP says R, else client_report; SOAP O -> intervention if BIRP says I,
response if BIRP says R, else observation. Units no fact cites are not used.
"""
import glob
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

KINDS = ["client_report", "observation", "intervention", "response", "assessment", "plan", "goal"]

def kind_of(sec):
    if sec.get("GIRP") == "G":
        return "goal"
    s, b = sec["SOAP"], sec["BIRP"]
    if s == "P":
        return "plan"
    if s == "A":
        return "assessment"
    if s == "S":
        return "response" if b == "R" else "client_report"
    return {"I": "intervention", "R": "response"}.get(b, "observation")

facts = {}
for d in sys.argv[2:]:
    for g in glob.glob(f"{d}/*.gold.json"):
        gold = json.load(open(g))
        cue_kind = {}
        for f in gold["key_facts"]:
            for c in f["evidence_cues"]:
                cue_kind.setdefault(c, kind_of(f["section"]))
        facts[gold["stem"]] = cue_kind

X, y, stems = [], [], []
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    r = json.loads(line)
    ck = facts[r["stem"]]
    kinds = [ck[c] for c in reversed(r["evidence"]) if c in ck]
    if not kinds or r["stem"].startswith("e04"):  # dictation headings decide there
        continue
    X.append(r["kind_features"]); y.append(KINDS.index(kinds[0])); stems.append(r["stem"])
X, y, stems = np.array(X), np.array(y), np.array(stems)
print("units", len(y), "by kind", {k: int((y == i).sum()) for i, k in enumerate(KINDS)})

def fit(X, y):
    m = LogisticRegression(C=0.5, max_iter=5000)
    m.fit(X[:, 1:], y)
    return m

acc = []
for stem in sorted(set(stems)):
    t = stems == stem
    m = fit(X[~t], y[~t])
    acc.append((m.predict(X[t][:, 1:]) == y[t]).mean())
print(f"leave-one-session-out accuracy {np.mean(acc):.3f}")
m = fit(X, y)
W = np.zeros((7, X.shape[1]))
for row, cls in enumerate(m.classes_):
    W[cls, 0] = m.intercept_[row]
    W[cls, 1:] = m.coef_[row]
for k in range(7):
    if k not in m.classes_:
        W[k, 0] = -5.0
print("const KIND_WEIGHTS: [[f32; %d]; 7] = [" % X.shape[1])
for k in range(7):
    print(f"    // {KINDS[k]}")
    print("    [" + ", ".join(f"{w:.2f}" for w in W[k]) + "],")
print("];")
