#!/usr/bin/env python3
"""Fits the scribe's salience weights (scribe/src/draft/select.rs, WEIGHTS) by logistic
regression: each unit's features against whether it cites a gold cue.

    cargo run -p evals --release -- scribe --corpus ../shared/corpus --corpus evals/corpus \
        --units /tmp/units.jsonl
    python3 evals/tools/fit_salience.py /tmp/units.jsonl

Needs numpy and scikit-learn (a developer tool; nothing at run time depends on it). Prints the
weights to paste, and the cross-validated AUC per session held out, so overfitting shows.
"""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
X = np.array([r["features"] for r in rows], dtype=float)
y = np.array([1 if r["gold"] else 0 for r in rows])
stems = np.array([r["stem"] for r in rows])

def fit(X, y):
    # The first feature is the bias column: let it be the intercept.
    m = LogisticRegression(C=1.0, max_iter=2000)
    m.fit(X[:, 1:], y)
    return m

aucs = []
for stem in sorted(set(stems)):
    test = stems == stem
    if len(set(y[test])) < 2:
        continue
    m = fit(X[~test], y[~test])
    aucs.append((stem, roc_auc_score(y[test], m.decision_function(X[test][:, 1:]))))
for stem, auc in aucs:
    print(f"held out {stem}: AUC {auc:.3f}")
print(f"mean held-out AUC {np.mean([a for _, a in aucs]):.3f}")
m = fit(X, y)
weights = [m.intercept_[0]] + list(m.coef_[0])
print("const WEIGHTS: [f32; %d] = [%s];" % (len(weights), ", ".join(f"{w:.2f}" for w in weights)))
