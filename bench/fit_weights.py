#!/usr/bin/env python3
"""Fits the matcher's log-odds weights to labelled pairs, and compares them with the hand weights.

    python3 bench/fit_weights.py [--prior 1.0]

Reads the evidence of the Walmart-Amazon deepmatcher train and valid pairs (`catsync match
evidence`, release build, over the full tables), fits a logistic regression on train — the title
coverage and cosine and one weight per level of each discrete feature, each level's weight drawn
towards its hand weight by an L2 prior of `--prior` — and prints, for hand and fitted weights, the
pair-level log-loss and the best-threshold precision, recall and F1 on valid. test.csv is never
read. The fitted weights are printed in the order of `Weights` for `score.rs`; end-to-end quality
is then checked with `bench/match_dev.py`.
"""
import argparse
import json
import math
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "product-matching", "walmart-amazon")
# The discrete features and their levels, as `FEATURES` in src/matching/score.rs orders them.
FEATURES = [("gtin", 3), ("code", 6), ("brand", 3), ("pack", 3), ("measures", 3), ("kit", 3), ("condition", 3),
            ("colour", 3), ("device", 3), ("price", 5)]
# The level each feature's weights are relative to ("unknown", or an unremarkable price): weight 0.
REFERENCE = [2, 5, 2, 2, 2, 2, 2, 2, 2, 0]


def evidence(binary, split):
    full = os.path.join(DATA, "full-gt")
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        subprocess.run([binary, "match", "evidence", "--catalog", os.path.join(full, "walmart.csv"), "--offers",
                        os.path.join(full, "amazon.csv"), "--pairs", os.path.join(DATA, "deepmatcher", f"{split}.csv"),
                        "--columns", "mpn=modelno,gtin=", "--out", out.name], check=True)
        with open(out.name) as f:
            return [json.loads(line) for line in f]


def names():
    return ["intercept", "coverage", "cosine"] + [f"{f}[{l}]" for (f, n), ref in zip(FEATURES, REFERENCE)
                                                  for l in range(n) if l != ref]


def vector(pair):
    e = pair["evidence"]
    x = [1.0, e["title_coverage"], e["title_cosine"]]
    for (_, n), ref, level in zip(FEATURES, REFERENCE, pair["levels"]):
        x += [1.0 if l == level else 0.0 for l in range(n) if l != ref]
    return x


def solve(a, b):
    """Gaussian elimination with partial pivoting: a x = b."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[c][c]:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] if m[i][i] else 0.0 for i in range(n)]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def objective(w, rows, prior, strength):
    penalty = strength / 2 * sum((wi - pi) ** 2 for wi, pi in zip(w, prior))
    return penalty - sum(math.log(max(1e-300, sigmoid(sum(a * b for a, b in zip(w, x))) if y else
                                      1 - sigmoid(sum(a * b for a, b in zip(w, x))))) for x, y in rows)


def fit(rows, prior, strength):
    """Newton's method with step halving for L2-regularized logistic regression towards `prior`."""
    w = prior[:]
    k = len(w)
    for _ in range(50):
        grad = [strength * (wi - pi) for wi, pi in zip(w, prior)]
        hess = [[strength if i == j else 0.0 for j in range(k)] for i in range(k)]
        for x, y in rows:
            p = sigmoid(sum(a * b for a, b in zip(w, x)))
            g, h = p - y, p * (1 - p)
            nz = [i for i, v in enumerate(x) if v]
            for i in nz:
                grad[i] += g * x[i]
                for j in nz:
                    hess[i][j] += h * x[i] * x[j]
        step = solve(hess, grad)
        before, scale = objective(w, rows, prior, strength), 1.0
        while objective([wi - scale * si for wi, si in zip(w, step)], rows, prior, strength) > before and scale > 1e-4:
            scale /= 2
        w = [wi - scale * si for wi, si in zip(w, step)]
        if max(abs(scale * s) for s in step) < 1e-6:
            break
    return w


def judge(w, rows):
    scored = sorted(((sum(a * b for a, b in zip(w, x)), y) for x, y in rows), reverse=True)
    loss = -sum(math.log(max(1e-12, sigmoid(z) if y else 1 - sigmoid(z))) for z, y in scored) / len(scored)
    positives = sum(y for _, y in scored)
    best, tp = (0.0, 0.0, 0.0, 0.0), 0
    for n, (z, y) in enumerate(scored, 1):
        tp += y
        p, r = tp / n, tp / positives
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if f1 > best[0]:
            best = (f1, p, r, z)
    return loss, best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", type=float, default=1.0, help="L2 strength towards the hand weights")
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "catsync"))
    parser.add_argument("--hand", help="hand weights as JSON (default: as `match evidence` weighs them)")
    args = parser.parse_args()
    train, valid = (evidence(args.binary, s) for s in ("train", "valid"))
    rows = {name: [(vector(p), 1.0 if p["label"] else 0.0) for p in split]
            for name, split in (("train", train), ("valid", valid))}
    hand = json.loads(args.hand) if args.hand else recover_hand(train)
    fitted = fit(rows["train"], hand, args.prior)
    for label, w in (("hand", hand), ("fitted", fitted)):
        for split in ("train", "valid"):
            loss, (f1, p, r, z) = judge(w, rows[split])
            print(f"{label:>6} {split:>5}: log-loss {loss:.3f}  best F1 {f1:.3f} (P {p:.3f} R {r:.3f} at weight {z:.2f})")
    print(json.dumps({n: round(v, 2) for n, v in zip(names(), fitted)}))


def recover_hand(pairs):
    """The hand weights, read back from the weights `match evidence` reports (least squares)."""
    rows = [(vector(p), p["weight"]) for p in pairs]
    k = len(rows[0][0])
    a = [[sum(x[i] * x[j] for x, _ in rows) + (1e-6 if i == j else 0.0) for j in range(k)] for i in range(k)]
    b = [sum(x[i] * y for x, y in rows) for i in range(k)]
    return solve(a, b)


if __name__ == "__main__":
    main()
