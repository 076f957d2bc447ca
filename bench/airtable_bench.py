#!/usr/bin/env python3
"""Airtable sync benchmark: catsync's throughput against the ceiling Airtable's rate limit sets.

    python3 bench/airtable_bench.py [--records 10000] [--pg postgres://postgres@127.0.0.1:5432/test]

Airtable serves at most 5 requests per second per base and 100 records per page, so no client can
list more than 500 records/s from one base; the target is 90% of that (450 records/s) with no 429.
Builds catsync in release mode, generates two bases of --records products each, serves them from
`catsync dev airtable-sim` at Airtable's real limits (5 req/s per base, 50 per token, 30 s penalty),
and measures side by side in one run:
  1. a full sync of one base into SQLite;
  2. the same into PostgreSQL (when --pg answers);
  3. both bases at once into SQLite (the limit is per base, so the rate should double);
  4. an incremental sync with nothing changed (one filtered listing per table).
Prints wall time, records/s, the ratio to the ceiling, requests and 429s of each step.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", "work", "airtable")
TOKEN = "patBENCHMARK00001." + "0" * 64
CEILING = 500.0  # records/s: 5 requests/s × 100 records per page


def airtable_id(prefix, n):
    return f"{prefix}{n:014d}"


def make_base(base_id, records, seed):
    """A product base: Brands (50) and Products linked to them, with a lookup, selects and money."""
    rng = random.Random(seed)
    words = ["Cordless", "Drill", "Driver", "Impact", "Saw", "Printer", "Laser", "Mouse", "Keyboard", "Monitor",
             "Compact", "Pro", "Max", "Brushless", "Wireless", "Ergonomic", "Kit", "Battery", "Charger", "Hub"]
    brands = [{"id": f"rec{base_id[3:9]}Z{b:07d}", "createdTime": "2025-01-01T00:00:00.000Z",
               "fields": {"Name": f"Brand {b}"}} for b in range(50)]
    products = []
    for i in range(records):
        upc_body = f"{40000000000 + i:011d}"
        check = (10 - sum(int(d) * (3 if k % 2 == 0 else 1) for k, d in enumerate(upc_body)) % 10) % 10
        fields = {
            "Name": " ".join(rng.choice(words) for _ in range(5)),
            "SKU": f"SKU-{i:07d}",
            "UPC": upc_body + str(check),
            "Price": round(rng.uniform(5, 900), 2),
            "Qty": rng.randrange(0, 500),
            "Brand": [brands[i % 50]["id"]],
            "Tags": rng.sample(["Power tools", "Office", "Outdoor", "Cordless", "Sale"], 2),
            "Description": " ".join(rng.choice(words) for _ in range(30)),
        }
        if i % 3:
            fields["In stock"] = True
        products.append({"id": f"rec{base_id[3:9]}{i:08d}", "createdTime": "2025-02-01T00:00:00.000Z", "fields": fields})
    f = lambda tag: "fld" + tag.ljust(14, "0")
    return {
        "id": base_id, "name": f"Bench {base_id}",
        "tables": [
            {"id": "tblBRANDS00000000", "name": "Brands", "primaryFieldId": f("BNAME"),
             "fields": [{"id": f("BNAME"), "name": "Name", "type": "singleLineText"}],
             "views": [], "records": brands},
            {"id": "tblPRODUCTS000000", "name": "Products", "primaryFieldId": f("NAME"),
             "fields": [
                 {"id": f("NAME"), "name": "Name", "type": "singleLineText"},
                 {"id": f("SKU"), "name": "SKU", "type": "singleLineText"},
                 {"id": f("UPC"), "name": "UPC", "type": "singleLineText"},
                 {"id": f("PRICE"), "name": "Price", "type": "currency", "options": {"precision": 2, "symbol": "$"}},
                 {"id": f("QTY"), "name": "Qty", "type": "number", "options": {"precision": 0}},
                 {"id": f("STOCK"), "name": "In stock", "type": "checkbox", "options": {}},
                 {"id": f("BRAND"), "name": "Brand", "type": "multipleRecordLinks",
                  "options": {"linkedTableId": "tblBRANDS00000000", "isReversed": False,
                              "prefersSingleRecordLink": True}},
                 {"id": f("BRANDNAME"), "name": "Brand name", "type": "multipleLookupValues",
                  "options": {"isValid": True, "recordLinkFieldId": f("BRAND"), "fieldIdInLinkedTable": f("BNAME"),
                              "result": {"type": "singleLineText"}}},
                 {"id": f("TAGS"), "name": "Tags", "type": "multipleSelects",
                  "options": {"choices": [{"id": "sel" + str(k).rjust(14, "0"), "name": n} for k, n in
                                          enumerate(["Power tools", "Office", "Outdoor", "Cordless", "Sale"])]}},
                 {"id": f("DESC"), "name": "Description", "type": "multilineText"},
             ],
             "views": [], "records": products},
        ],
    }


def config(api_url, store, bases):
    text = f'[store]\nurl = "{store}"\n\n[airtable]\ntoken = "{TOKEN}"\napi_url = "{api_url}"\n'
    for base in bases:
        text += f'''
[[airtable.tables]]
base = "{base}"
table = "Products"
into = "products_{base[3:9].lower()}"
  [airtable.tables.columns]
  name = "Name"
  sku = "SKU"
  gtin = {{ field = "UPC", type = "gtin" }}
  price = "Price"
  qty = "Qty"
  in_stock = "In stock"
  brand_ids = "Brand"
  brand_name = "Brand name"
  tags = "Tags"
  description = "Description"
'''
    return text


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sync(catsync, conf, store, extra=()):
    path = os.path.join(WORK, "catsync.toml")
    with open(path, "w") as f:
        f.write(conf)
    start = time.perf_counter()
    out = subprocess.run([catsync, "--config", path, "--store", store, "-q", "sync", "--json", *extra],
                         check=True, stdout=subprocess.PIPE).stdout
    elapsed = time.perf_counter() - start
    doc = json.loads(out)
    for t in doc["tables"]:
        if t["status"] != "succeeded":
            sys.exit(f"sync failed: {t}")
    records = sum(t["counts"]["read"] for t in doc["tables"])
    return elapsed, records, doc["airtable"]


def pg_answers(url):
    return subprocess.run(["psql", url, "-qc", "select 1"], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    catsync = os.path.join(ROOT, "target", "release", "catsync")
    bases = ["appBENCHA00000001", "appBENCHB00000001"]
    files = []
    for n, base in enumerate(bases):
        path = os.path.join(WORK, f"{base}.json")
        with open(path, "w") as f:
            json.dump(make_base(base, args.records, n), f)
        files += ["--base", path]
    port = free_port()
    sim = subprocess.Popen([catsync, "dev", "airtable-sim", *files, "--listen", f"127.0.0.1:{port}", "--token", TOKEN],
                           stdout=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        api = f"http://127.0.0.1:{port}"
        rows = []
        db = os.path.join(WORK, "bench.db")

        def step(name, conf, store, extra=(), bases_in_step=1):
            elapsed, records, counts = sync(catsync, conf, store, extra)
            rate = records / elapsed
            ratio = rate / (CEILING * bases_in_step) if records else None
            rows.append((name, elapsed, records, rate, ratio, counts["requests"], counts["rate_limited"]))

        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        step("full sync, one base, SQLite", config(api, "sqlite://" + db, bases[:1]), "sqlite://" + db)
        if pg_answers(args.pg):
            subprocess.run(["psql", args.pg, "-qc", "DROP SCHEMA IF EXISTS catsync_airtable_bench CASCADE; "
                            "CREATE SCHEMA catsync_airtable_bench"], check=True, capture_output=True)
            pg = args.pg + "?options=-c%20search_path%3Dcatsync_airtable_bench"
            step("full sync, one base, PostgreSQL", config(api, pg, bases[:1]), pg)
        step("full sync, two bases at once, SQLite", config(api, "sqlite://" + db, bases), "sqlite://" + db,
             ("--full",), bases_in_step=2)
        step("incremental sync, nothing changed, two bases", config(api, "sqlite://" + db, bases), "sqlite://" + db,
             bases_in_step=2)
    finally:
        sim.terminate()
        sim.wait()
    print(f"\nAirtable sync, {args.records:,} products per base; ceiling {CEILING:.0f} records/s per base "
          f"(5 requests/s × 100 records); target ≥ 90% with no 429\n")
    print(f"{'step':48} {'seconds':>8} {'records':>9} {'records/s':>10} {'of ceiling':>10} {'requests':>9} {'429s':>5}")
    for name, elapsed, records, rate, ratio, requests, limited in rows:
        shown = f"{ratio:10.1%}" if ratio is not None else f"{'n/a':>10}"
        print(f"{name:48} {elapsed:8.2f} {records:9,} {rate:10.1f} {shown} {requests:9} {limited:5}")


if __name__ == "__main__":
    main()
