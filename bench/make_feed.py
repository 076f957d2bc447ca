#!/usr/bin/env python3
"""Writes a deterministic distributor feed for benchmarks: N rows, 11 columns, ~175 bytes a row.

    python3 bench/make_feed.py 1000000 bench/work/feed-1m.csv
"""
import random
import sys

BRANDS = ["Bosch", "Makita", "DeWalt", "HP", "Brother", "Logitech", "Samsung", "Epson", "Canon", "Philips",
          "Anker", "Seagate", "Kingston", "TP-Link", "Netgear", "Sony", "JBL", "Dell", "Lenovo", "Western Digital"]
NOUNS = ["Drill", "Driver", "Toner", "Mouse", "SSD", "Printer", "Bulb", "Battery", "Router", "Switch",
         "Headphones", "Speaker", "Monitor", "Keyboard", "Cable", "Adapter", "Charger", "Hub", "Camera", "Lamp"]
ADJS = ["Cordless", "Wireless", "Compact", "Pro", "Max", "Ultra", "Portable", "Smart", "Heavy-Duty", "Slim"]
CATS = ["Power Tools > Drills", "Printing > Toner", "Computers > Mice", "Computers > Storage",
        "Networking > Routers", "Audio > Headphones", "Lighting > Bulbs", "Mobile > Power Banks"]


def gtin(n):
    data = f"{400000000000 + n * 7:012d}"[:12]
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(data)))
    return data + str((10 - total % 10) % 10)


def main():
    rows, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(42)
    with open(out, "w", newline="") as f:
        f.write("sku,gtin,mpn,brand,title,description,price,cost,qty,category,updated\n")
        for i in range(rows):
            brand = BRANDS[i % len(BRANDS)]
            noun, adj = NOUNS[rnd.randrange(len(NOUNS))], ADJS[rnd.randrange(len(ADJS))]
            price = rnd.randrange(199, 99999) / 100
            f.write(
                f"SKU-{i:08d},{gtin(i)},{brand[:3].upper()}-{rnd.randrange(10**6):06d},{brand},"
                f"{brand} {adj} {noun} {rnd.randrange(100, 999)},"
                f"\"{adj} {noun.lower()} by {brand}, model {i % 977}, with accessories\","
                f"{price:.2f},{price * 0.8:.2f},{rnd.randrange(0, 500)},{CATS[i % len(CATS)]},"
                f"2026-11-{1 + i % 27:02d}T{i % 24:02d}:00:00Z\n"
            )


if __name__ == "__main__":
    main()
