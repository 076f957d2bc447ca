#!/usr/bin/env python3
"""`catsync match` over the store: a full run, then an incremental run after 1,000 changed rows.

    python3 bench/match_store_bench.py [--catalog 200000] [--offers 1000000] [--matched 150000] [--changed 1000]

Uses the synthetic workload of match_bench.py (same generator, seed 7). The catalog table is
created by a real `catsync sync` of a one-record base from the Airtable simulator (so its schema is
catsync's own); the other catalog rows are then written straight into the SQLite table, because
syncing 200,000 records at Airtable's rate limit would take seven minutes and measure Airtable,
not matching. The feed goes through `catsync import`. Then, each timed with its peak RSS:

1. `catsync match` — the first run matches every distributor product (target ≤ 60 s, ≤ 2 GB);
2. `catsync match` again — nothing changed;
3. a delta file changing `--changed` distributor products is imported, and `catsync match`
   rematches them (target ≤ 2 s).

Precision, recall and F1 of the automatic links are read back from the store.
"""
import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid

import match_bench
from measure import measured


def quiet_measured(cmd):
    """`measured`, started with the previous step's dirty pages written out (the first run's
    commit leaves hundreds of MB in the kernel's write-back queue, which the next fsync would wait for)."""
    subprocess.run(["sync"], check=True)
    return measured(cmd)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", "work", "match-store")
CATSYNC = os.path.join(ROOT, "target", "release", "catsync")
BASE_ID = "appMATCHBENCH0001"
# catalog::AIRTABLE_NAMESPACE: catalog row ids are UUID v5 of the Airtable record id.
AIRTABLE_NAMESPACE = uuid.UUID("2c9e71d4-0a8b-5f36-9e14-b7c258d0a431")
FIELDS = [("Name", "singleLineText", {}), ("Brand", "singleLineText", {}), ("MPN", "singleLineText", {}),
          ("GTIN", "singleLineText", {}), ("Price", "currency", {"precision": 2, "symbol": "$"})]


def record_id(i):
    return f"rec{i:014d}"


def write_base(path, first):
    fields = [{"id": f"fld{n:014d}", "name": name, "type": ty, "options": opts}
              for n, (name, ty, opts) in enumerate(FIELDS)]
    record = {"id": record_id(0), "createdTime": "2025-02-01T00:00:00.000Z",
              "fields": {"Name": first["title"], "Brand": first["brand"], "MPN": first["mpn"],
                         "GTIN": first["gtin"], "Price": float(first["price"])}}
    base = {"id": BASE_ID, "name": "Match bench",
            "tables": [{"id": "tbl00000000000001", "name": "Products", "primaryFieldId": fields[0]["id"],
                        "fields": fields, "views": [], "records": [record]}]}
    with open(path, "w") as f:
        json.dump(base, f)


def write_config(path, store, api_url):
    with open(path, "w") as f:
        f.write(f"""[store]
url = "{store}"

[airtable]
token = "patDEV"
api_url = "{api_url}"

[[airtable.tables]]
base = "{BASE_ID}"
table = "Products"
into = "products"
columns = {{ name = "Name", brand = "Brand", mpn = "MPN", gtin = "GTIN", price = "Price" }}

[catalog]
table = "products"
title = "name"
brand = "brand"
mpn = "mpn"
gtin = "gtin"
price = "price"
""")


def create_catalog_table(conf, base_path):
    sim = subprocess.Popen([CATSYNC, "dev", "airtable-sim", "--base", base_path, "--listen", "127.0.0.1:18479",
                            "--token", "patDEV"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        subprocess.run([CATSYNC, "--config", conf, "sync", "--json"], check=True, stdout=subprocess.DEVNULL)
    finally:
        sim.terminate()
        sim.wait()


def fill_catalog(db, catalog):
    """The rest of the catalog, as the sync would have written it (same columns, ids and hashes)."""
    conn = sqlite3.connect(db)
    now = "2026-11-27T00:00:00.000000Z"
    rows = [(uuid.uuid5(AIRTABLE_NAMESPACE, record_id(i)).bytes, record_id(i), "2025-02-01T00:00:00.000000Z",
             p["title"], p["brand"], p["mpn"], p["gtin"], p["price"], f"bench{i:027d}", 1, now, now)
            for i, p in enumerate(catalog) if i > 0]
    conn.executemany("INSERT INTO products (id, airtable_id, airtable_created_time, name, brand, mpn, gtin, price, "
                     "content_hash, row_version, first_synced_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()


def write_feed(path, offers):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "title", "brand", "mpn", "gtin", "price", "qty"])
        for o in offers:
            w.writerow([o["id"], o["title"], o["brand"], o["mpn"], o["gtin"], o["price"], 5])


def quality(db, truth):
    conn = sqlite3.connect(db)
    linked = conn.execute("SELECT d.sku, p.airtable_id FROM product_matches m "
                          "JOIN distributor_products d ON d.id = m.distributor_product_id "
                          "JOIN products p ON p.id = m.product_id WHERE m.status = 'auto'").fetchall()
    conn.close()
    expected = {o: f"rec{int(c[1:]):014d}" for c, o in truth}
    good = sum(1 for sku, rec in linked if expected.get(sku) == rec)
    p = good / len(linked) if linked else 0.0
    r = good / len(expected) if expected else 0.0
    return len(linked), p, r, 2 * p * r / (p + r) if p + r else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", type=int, default=200_000)
    ap.add_argument("--offers", type=int, default=1_000_000)
    ap.add_argument("--matched", type=int, default=150_000)
    ap.add_argument("--changed", type=int, default=1_000)
    args = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    match_bench.WORK = WORK
    started = time.perf_counter()
    match_bench.generate(args.catalog, args.offers, args.matched)
    catalog = list(csv.DictReader(open(os.path.join(WORK, "catalog.csv"))))
    offers = list(csv.DictReader(open(os.path.join(WORK, "offers.csv"))))
    truth = list(csv.reader(open(os.path.join(WORK, "truth.csv"))))[1:]
    db = os.path.join(WORK, "catsync.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    conf, base = os.path.join(WORK, "catsync.toml"), os.path.join(WORK, "base.json")
    write_base(base, catalog[0])
    write_config(conf, f"sqlite://{db}", "http://127.0.0.1:18479")
    create_catalog_table(conf, base)
    fill_catalog(db, catalog)
    feed = os.path.join(WORK, "feed.csv")
    write_feed(feed, offers)
    subprocess.run([CATSYNC, "--config", conf, "-q", "import", feed, "--distributor", "bench", "--json"], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"prepared {args.catalog:,} catalog products and {args.offers:,} distributor products "
          f"in {time.perf_counter() - started:.0f} s")

    match = [CATSYNC, "--config", conf, "-q", "match", "--json"]
    first, first_rss, out = quiet_measured(match)
    report = json.loads(out)
    links, p, r, f1 = quality(db, truth)
    again, again_rss, _ = quiet_measured(match)
    changed = offers[:args.changed]
    for o in changed:
        o["title"] = o["title"] + " (new packaging)"
        o["price"] = f"{float(o['price']) * 1.05:.2f}"
    delta = os.path.join(WORK, "delta.csv")
    write_feed(delta, changed)
    subprocess.run([CATSYNC, "--config", conf, "-q", "import", delta, "--distributor", "bench", "--mode", "delta",
                    "--json"], check=True, stdout=subprocess.DEVNULL)
    incremental, incremental_rss, out = quiet_measured(match)
    rematched = json.loads(out)

    print(f"\n{'step':<44}{'wall':>9}{'peak RSS':>11}")
    print(f"{'first run (every distributor product)':<44}{first:>8.1f}s{first_rss:>8.0f} MB")
    print(f"{'second run (nothing changed)':<44}{again:>8.2f}s{again_rss:>8.0f} MB")
    print(f"{f'after {args.changed:,} changed rows':<44}{incremental:>8.2f}s{incremental_rss:>8.0f} MB"
          f"   ({rematched['offers_examined']:,} examined)")
    print(f"\nfirst run: {report['auto']:,} automatic links (GTIN {report['by_gtin']:,}, part number "
          f"{report['by_mpn']:,}, title {report['by_title']:,}), {report['review']:,} for review")
    print(f"automatic links in the store: {links:,}; precision {p:.3f}  recall {r:.3f}  F1 {f1:.3f}")
    print(f"targets: first run ≤ 60 s → {'met' if first <= 60 else 'NOT met'}; ≤ 2 GB → "
          f"{'met' if first_rss <= 2048 else 'NOT met'}; incremental ≤ 2 s → "
          f"{'met' if incremental <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
