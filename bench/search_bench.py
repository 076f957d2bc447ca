#!/usr/bin/env python3
"""The search index fed from the PostgreSQL store: full build, incremental run, query latency.

    python3 bench/search_bench.py [--rows 1000000] [--changed 1000] [--pg postgres://postgres@127.0.0.1:5432/test]

A feed of `--rows` distributor products (bench/make_feed.py, the import benchmark's generator) is
imported into a fresh PostgreSQL schema; with no catalog, each is one (unmatched) search document.
Then, each timed with its peak RSS, in one run:

1. PostgreSQL alone: `COPY (SELECT <the columns documents are built from>) TO STDOUT` through psql,
   the floor for reading the same rows;
2. `catsync index --full`: every document into a new Tantivy index (target ≥ 50,000 documents/s,
   ≤ 1 GB RSS);
3. a delta file changing `--changed` rows is imported, and `catsync index` sends just those
   (target ≤ 2 s);
4. 1,000 mixed queries (words, exact SKUs, GTINs, part numbers, misspelt words, filters) through
   `catsync dev query-latency`: p50 and p99.
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time

from measure import measured

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", "work", "search")
CATSYNC = os.path.join(ROOT, "target", "release", "catsync")
SCHEMA = "catsync_search_bench"


def psql(pg, sql, out=subprocess.DEVNULL):
    subprocess.run(["psql", pg, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, stdout=out)


def queries(feed_path, n=1000):
    """Mixed queries drawn from the feed itself: words, exact identifiers, typos."""
    rng = random.Random(3)
    rows = []
    with open(feed_path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i % 997 == 0:
                rows.append(row)
    out = []
    for i in range(n):
        row = rng.choice(rows)
        title_words = [w for w in row.get("title", "").split() if w.isalpha()]
        kind = i % 5
        if kind == 0 and title_words:
            out.append(" ".join(rng.sample(title_words, min(2, len(title_words)))))
        elif kind == 1:
            out.append(row["sku"])
        elif kind == 2 and row.get("gtin"):
            out.append(row["gtin"])
        elif kind == 3 and row.get("mpn"):
            out.append(row["mpn"])
        elif title_words:
            word = max(title_words, key=len)
            out.append(word[:-1] if len(word) > 5 else word)
        else:
            out.append(row["sku"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--changed", type=int, default=1_000)
    ap.add_argument("--pg", default=os.environ.get("CATSYNC_TEST_PG", "postgres://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    feed = os.path.join(WORK, "feed.csv")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_feed.py"), str(args.rows), feed], check=True)
    psql(args.pg, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
    store = f"{args.pg}{'&' if '?' in args.pg else '?'}options=-c%20search_path%3D{SCHEMA}"
    index_dir = os.path.join(WORK, "index")
    subprocess.run(["rm", "-rf", index_dir], check=True)
    base = [CATSYNC, "-q", "--store", store, "--search", f"tantivy://{index_dir}"]
    subprocess.run(base + ["import", feed, "--distributor", "bench", "--json"], check=True, stdout=subprocess.DEVNULL)

    select = ("SELECT d.id, d.distributor, d.sku, d.gtin, d.mpn, d.brand, d.title, d.description, d.price, "
              "d.quantity, d.active, l.product_id FROM distributor_products d LEFT JOIN product_matches l "
              "ON l.distributor_product_id = d.id AND l.status IN ('auto', 'confirmed') WHERE d.active")
    start = time.perf_counter()
    psql(f"{args.pg}{'&' if '?' in args.pg else '?'}options=-c%20search_path%3D{SCHEMA}",
         f"COPY ({select}) TO STDOUT")
    pg_alone = time.perf_counter() - start

    full, full_rss, out = measured(base + ["index", "--full", "--json"])
    report = json.loads(out)
    docs = report["documents"]

    with open(feed, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        changed = [next(reader) for _ in range(args.changed)]
    price = header.index("price") if "price" in header else None
    delta = os.path.join(WORK, "delta.csv")
    with open(delta, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in changed:
            if price is not None and row[price]:
                row[price] = f"{float(row[price].replace(',', '.')) + 1:.2f}"
            w.writerow(row)
    subprocess.run(base + ["import", delta, "--distributor", "bench", "--mode", "delta", "--json"], check=True,
                   stdout=subprocess.DEVNULL)
    incremental, incremental_rss, out = measured(base + ["index", "--json"])
    sent = json.loads(out)

    qfile = os.path.join(WORK, "queries.txt")
    with open(qfile, "w") as f:
        f.write("\n".join(queries(feed)) + "\n")
    _, _, out = measured(base + ["dev", "query-latency", "--queries", qfile])
    latency = json.loads(out)

    print(f"\n{docs:,} documents from PostgreSQL into Tantivy")
    print(f"{'step':<48}{'wall':>9}{'peak RSS':>11}")
    print(f"{'PostgreSQL alone: COPY the same rows to psql':<48}{pg_alone:>8.1f}s")
    print(f"{'catsync index --full':<48}{full:>8.1f}s{full_rss:>8.0f} MB   "
          f"{docs / full:,.0f} documents/s, {full / pg_alone:.1f}× PostgreSQL alone")
    print(f"{f'catsync index after {args.changed:,} changed rows':<48}{incremental:>8.2f}s{incremental_rss:>8.0f} MB"
          f"   ({sent['upserted']:,} documents sent)")
    print(f"queries: {latency['queries']:,} mixed, {latency['with_hits']:,} with hits; p50 {latency['p50_ms']:.1f} ms, "
          f"p99 {latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms")
    print(f"targets: ≥ 50,000 documents/s → {'met' if docs / full >= 50_000 else 'NOT met'}; ≤ 1 GB → "
          f"{'met' if full_rss <= 1024 else 'NOT met'}; incremental ≤ 2 s → "
          f"{'met' if incremental <= 2 else 'NOT met'}")
    psql(args.pg, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
