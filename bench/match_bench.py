#!/usr/bin/env python3
"""Matching benchmark on a synthetic workload with known answers.

    python3 bench/match_bench.py [--catalog 200000] [--offers 1000000] [--matched 150000]

Generates a catalog and one distributor feed with realistic noise, deterministically (seed 7):
`--matched` offers are catalog products as a distributor lists them — GTIN missing on 40%,
part numbers reformatted (dashes, case, a brand prefix) or left to the title, titles reworded and
shouted, brand aliases (HP / Hewlett-Packard), prices ±15%, some pack sizes — and the rest are
products the catalog does not carry, drawn from the same vocabulary (near misses included: the
same model family with another suffix). Then runs `catsync match eval` (release build) and prints
precision, recall, F1, wall time and peak RSS. Targets (issue 4): 1,000,000 offers against
200,000 catalog products in ≤ 60 s and ≤ 2 GB on 2 cores.
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
WORK = os.path.join(ROOT, "bench", "work", "match")

BRANDS = [("Bosch", ["BOSCH", "Robert Bosch"]), ("Makita", ["MAKITA"]), ("DeWalt", ["DEWALT", "De Walt"]),
          ("Hewlett-Packard", ["HP", "HP Inc."]), ("Logitech", ["LOGITECH", "Logitech Inc"]), ("Samsung", ["SAMSUNG"]),
          ("Western Digital", ["WD"]), ("Canon", ["CANON"]), ("Epson", ["EPSON"]), ("Brother", ["BROTHER"]),
          ("Sony", ["SONY"]), ("Milwaukee", ["MILWAUKEE"]), ("Netgear", ["NETGEAR"]), ("TP-Link", ["TPLINK"]),
          ("Belkin", ["BELKIN"]), ("Kingston", ["Kingston Technology"]), ("SanDisk", ["SANDISK"]), ("Avery", ["AVERY"]),
          ("3M", ["3M Company"]), ("Lexmark", ["LEXMARK"])]
KINDS = {"tools": ["Cordless Drill", "Impact Driver", "Circular Saw", "Angle Grinder", "Jigsaw", "Rotary Hammer"],
         "office": ["Ink Cartridge", "Toner Cartridge", "Laser Printer", "Label Maker", "Paper Shredder"],
         "it": ["Wireless Mouse", "Keyboard", "USB Flash Drive", "External Hard Drive", "Router", "Switch", "SD Card"]}
SPECS = ["12V", "18V", "20V Max", "Brushless", "2.0Ah", "500GB", "1TB", "64GB", "Black", "Silver", "Compact",
         "Pro", "High Yield", "Dual Band", "USB 3.0", "8-Port", "Gigabit", "Wi-Fi 6", "Ergonomic", "Kit"]
MARKETING = ["NEW", "Genuine", "Retail Box", "Free Shipping", "OEM", "Best Seller", "2-Year Warranty"]


def gtin13(rng):
    body = [rng.randrange(10) for _ in range(12)]
    s = sum(d * (3 if i % 2 else 1) for i, d in enumerate(body))
    return "".join(map(str, body)) + str((10 - s % 10) % 10)


def model(rng):
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXZ") for _ in range(rng.randint(2, 4)))
    return f"{letters}-{rng.randint(100, 9999)}{rng.choice(['', '', 'B', 'Z', 'K2'])}"


def product(rng, i):
    brand, _ = rng.choice(BRANDS)
    kind = rng.choice(rng.choice(list(KINDS.values())))
    mpn = model(rng)
    specs = rng.sample(SPECS, rng.randint(1, 3))
    return {"id": f"P{i}", "title": f"{brand} {kind} {mpn} {' '.join(specs)}", "brand": brand, "mpn": mpn,
            "gtin": gtin13(rng), "price": f"{rng.uniform(5, 900):.2f}", "_kind": kind, "_specs": specs}


def as_offer(rng, p, i):
    """The catalog product as a distributor lists it."""
    brand = p["brand"] if rng.random() < 0.8 else rng.choice(dict(BRANDS)[p["brand"]])
    mpn = p["mpn"]
    r = rng.random()
    if r < 0.25:
        mpn = mpn.replace("-", "")
    elif r < 0.4:
        mpn = mpn.lower()
    elif r < 0.5:
        mpn = brand[:3].upper() + mpn.replace("-", "")
    words = [p["_kind"]] + p["_specs"]
    rng.shuffle(words)
    in_title = rng.random() < 0.6
    title = f"{brand} {' '.join(words)}" + (f" {p['mpn']}" if in_title else "")
    if rng.random() < 0.3:
        title = f"{rng.choice(MARKETING)} {title}".upper()
    if rng.random() < 0.2:
        title += f" - {rng.choice(MARKETING)}"
    mpn_field = mpn if rng.random() < 0.8 or not in_title else ""
    price = float(p["price"]) * rng.uniform(0.85, 1.15)
    return {"id": f"O{i}", "title": title, "brand": brand, "mpn": mpn_field,
            "gtin": p["gtin"] if rng.random() < 0.6 else "", "price": f"{price:.2f}"}


def write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "brand", "mpn", "gtin", "price"])
        for r in rows:
            w.writerow([r["id"], r["title"], r["brand"], r["mpn"], r["gtin"], r["price"]])


def generate(n_catalog, n_offers, n_matched):
    rng = random.Random(7)
    catalog = [product(rng, i) for i in range(n_catalog)]
    matched = rng.sample(range(n_catalog), n_matched)
    offers, truth = [], []
    for i, c in enumerate(matched):
        offers.append(as_offer(rng, catalog[c], i))
        truth.append((catalog[c]["id"], f"O{i}"))
    for i in range(n_matched, n_offers):
        other = product(rng, n_catalog + i)
        offers.append(as_offer(rng, other, i))
    rng.shuffle(offers)
    write(os.path.join(WORK, "catalog.csv"), catalog)
    write(os.path.join(WORK, "offers.csv"), offers)
    with open(os.path.join(WORK, "truth.csv"), "w") as f:
        f.write("catalog,offer\n" + "".join(f"{c},{o}\n" for c, o in truth))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", type=int, default=200_000)
    ap.add_argument("--offers", type=int, default=1_000_000)
    ap.add_argument("--matched", type=int, default=150_000)
    args = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    started = time.perf_counter()
    generate(args.catalog, args.offers, args.matched)
    print(f"generated in {time.perf_counter() - started:.1f} s")
    catsync = os.path.join(ROOT, "target", "release", "catsync")
    cmd = [catsync, "match", "eval", "--json", "--catalog", os.path.join(WORK, "catalog.csv"),
           "--offers", os.path.join(WORK, "offers.csv"), "--truth", os.path.join(WORK, "truth.csv")]
    elapsed, peak, out = measured(cmd)
    r = json.loads(out)
    print(f"\n{args.offers:,} offers ({args.matched:,} of catalog products) against {args.catalog:,} catalog products")
    print(f"wall {elapsed:.1f} s (matching {r['seconds']:.1f} s), peak RSS {peak:.0f} MB")
    print(f"links {r['links']:,} (GTIN {r['links_by_gtin']:,}, part number {r['links_by_mpn']:,}, title "
          f"{r['links_by_title']:,}), review {r['review']:,}")
    print(f"precision {r['precision']:.3f}  recall {r['recall']:.3f}  F1 {r['f1']:.3f}")
    print(f"targets: ≤ 60 s → {'met' if elapsed <= 60 else 'NOT met'}; ≤ 2 GB → "
          f"{'met' if peak <= 2048 else 'NOT met'}")


if __name__ == "__main__":
    main()
