#!/usr/bin/env python3
"""End-to-end matching quality on Walmart-Amazon, scored with development labels only.

    python3 bench/match_dev.py [--split train,valid] [-- extra `match eval` arguments]

Runs `catsync match eval` (release build) over the full tables (`full-gt/walmart.csv` ×
`full-gt/amazon.csv`, the same records and ids as deepmatcher's tableA/tableB) and scores its
automatic links against the deepmatcher train and valid labels, never test.csv nor gt.csv, so
that matcher changes can be tuned without looking at the numbers the README reports:

- a link is a true positive when its pair is labelled a match;
- it is a false positive when its pair is labelled a non-match, or when its offer has a labelled
  match and the link goes elsewhere;
- links about which the labels say nothing are counted but not judged.

Recall is over the labelled matches (deepmatcher's truth is one-to-many, so a 1:1 matcher cannot
reach 1). Prints precision, recall and F1 per split and for both together. `match eval` is given
an empty truth file, so gt.csv is not even read.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "product-matching", "walmart-amazon")


def labels(splits):
    pairs = {}
    for split in splits:
        with open(os.path.join(DATA, "deepmatcher", f"{split}.csv"), encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                pairs[(row["ltable_id"], row["rtable_id"])] = row["label"] == "1"
    return pairs


def links(binary, extra):
    full = os.path.join(DATA, "full-gt")
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out, \
            tempfile.NamedTemporaryFile("w", suffix=".csv") as no_truth:
        no_truth.write("catalog,offer\n")
        no_truth.flush()
        subprocess.run(
            [binary, "match", "eval", "--catalog", os.path.join(full, "walmart.csv"), "--offers",
             os.path.join(full, "amazon.csv"), "--truth", no_truth.name, "--columns",
             "mpn=modelno,gtin=", "--links", out.name, "--json", *extra],
            check=True, stdout=subprocess.DEVNULL)
        with open(out.name) as f:
            return [json.loads(line) for line in f]


def judge(emitted, labelled):
    partners = {}
    for (catalog, offer), match in labelled.items():
        if match:
            partners.setdefault(offer, set()).add(catalog)
    positives = sum(labelled.values())
    auto = [l for l in emitted if l["status"] == "auto"]
    tp = fp = unjudged = 0
    for link in auto:
        pair = (link["catalog_id"], link["offer_id"])
        if labelled.get(pair) is True:
            tp += 1
        elif labelled.get(pair) is False or link["offer_id"] in partners:
            fp += 1
        else:
            unjudged += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return dict(links=len(auto), judged=tp + fp, unjudged=unjudged, tp=tp, fp=fp, positives=positives,
                precision=precision, recall=recall, f1=f1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train,valid", help="deepmatcher label files to score with")
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "catsync"))
    parser.add_argument("extra", nargs="*", help="more `match eval` arguments, after --")
    args = parser.parse_args()
    splits = args.split.split(",")
    if "test" in splits:
        sys.exit("test.csv is held out: tune on train and valid only")
    emitted = links(args.binary, args.extra)
    for split in splits:
        r = judge(emitted, labels([split]))
        print(f"{split:>6}: {r['links']} links, {r['judged']} judged ({r['tp']} right, {r['fp']} wrong), "
              f"{r['positives']} labelled matches: P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}")
    if len(splits) > 1:
        r = judge(emitted, labels(splits))
        print(f"{'both':>6}: P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}")


if __name__ == "__main__":
    main()
