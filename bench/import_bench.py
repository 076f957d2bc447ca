#!/usr/bin/env python3
"""Feed import benchmark: catsync against `psql \\copy` on the same PostgreSQL, and on SQLite.

    python3 bench/import_bench.py [--rows 1000000] [--pg postgres://postgres@127.0.0.1:5432/test]

Builds catsync in release mode, generates a deterministic feed (bench/make_feed.py), then
measures side by side in one run:
  1. psql \\copy of the file into an empty table with the same primary key;
  2. catsync's first import into PostgreSQL;
  3. catsync's re-import of the unchanged file;
  3b. psql \\copy of the rows catsync wrote into an empty clone of its table (same columns, both
      unique indexes): the server's own floor for this schema;
  4. COPY into a staging table plus the change-guarded merge, in psql (the floor for step 3);
  5. catsync's first import and re-import into SQLite.
Runs every step --repeat times (default 3), each from a fresh state, and prints the median wall
time with its range, the worst peak RSS of catsync, rows/s and the ratios the targets are stated in.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from measure import measured

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "bench", "work")
SCHEMA = "catsync_bench"
PG_URL = None
COPY_STEP = "psql \\copy, empty table"
FLOOR_STEP = "psql \\copy of the same rows, catsync's table"
COLUMNS = "sku TEXT PRIMARY KEY, gtin TEXT, mpn TEXT, brand TEXT, title TEXT, description TEXT, price NUMERIC(20,4), " \
          "cost NUMERIC(20,4), qty INT8, category TEXT, updated TIMESTAMPTZ"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def psql(pg, sql):
    run(["psql", pg, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], stdout=subprocess.DEVNULL)


def timed(cmd, env=None):
    """Wall seconds and peak RSS (MB) of a command, started from a quiet machine: dirty pages
    written out and PostgreSQL checkpointed, so no step pays for the previous one's writes."""
    subprocess.run(["sync"], check=True)
    psql(PG_URL, "CHECKPOINT")
    elapsed, peak, _ = measured(cmd, env=env, stdout=subprocess.DEVNULL)
    return elapsed, peak


def one_round(args, feed, catsync):
    """Every step once, each from a fresh state; returns {step: (seconds, peak RSS MB)}."""
    results = {}
    # 1. psql \copy into an empty table with the same primary key.
    psql(args.pg, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}; "
                  f"CREATE TABLE {SCHEMA}.copy_target ({COLUMNS})")
    results[COPY_STEP] = timed(
        ["psql", args.pg, "-q", "-c", f"\\copy {SCHEMA}.copy_target FROM '{feed}' WITH (FORMAT csv, HEADER true)"])

    # 2-3. catsync into PostgreSQL, first import then unchanged re-import.
    store = f"{args.pg}{'&' if '?' in args.pg else '?'}options=-c%20search_path%3D{SCHEMA}"
    cmd = [catsync, "-q", "--store", store, "import", feed, "--distributor", "bench"]
    results["catsync first import, PostgreSQL"] = timed(cmd)
    results["catsync unchanged re-import, PostgreSQL"] = timed(cmd)

    # The server's own floor for this schema: the rows catsync wrote, COPYed by psql into an empty
    # clone of distributor_products with both unique indexes (id, and distributor + sku).
    dump = os.path.join(WORK, "distributor_products.copy")
    psql(args.pg, f"\\copy (SELECT * FROM {SCHEMA}.distributor_products) TO '{dump}'")
    psql(args.pg, f"CREATE TABLE {SCHEMA}.floor (LIKE {SCHEMA}.distributor_products INCLUDING ALL)")
    results["psql \\copy of the same rows, catsync's table"] = timed(
        ["psql", args.pg, "-q", "-c", f"\\copy {SCHEMA}.floor FROM '{dump}'"])
    os.unlink(dump)

    # 4. The floor for a re-import: COPY into staging plus the change-guarded merge, in psql.
    merge_sql = f"""
BEGIN;
CREATE TEMP TABLE stage ({COLUMNS.replace(' PRIMARY KEY', '')}) ON COMMIT DROP;
\\copy stage FROM '{feed}' WITH (FORMAT csv, HEADER true)
INSERT INTO {SCHEMA}.copy_target AS t SELECT * FROM stage
ON CONFLICT (sku) DO UPDATE SET price = excluded.price, qty = excluded.qty, title = excluded.title
WHERE (t.price, t.qty, t.title) IS DISTINCT FROM (excluded.price, excluded.qty, excluded.title);
COMMIT;
"""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(merge_sql)
    results["psql COPY into staging + merge (unchanged)"] = timed(["psql", args.pg, "-q", "-v", "ON_ERROR_STOP=1", "-f", f.name])
    os.unlink(f.name)

    # 5. SQLite.
    db = os.path.join(WORK, "bench.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    cmd = [catsync, "-q", "--store", f"sqlite://{db}", "import", feed, "--distributor", "bench"]
    results["catsync first import, SQLite"] = timed(cmd)
    results["catsync unchanged re-import, SQLite"] = timed(cmd)
    psql(args.pg, f"DROP SCHEMA {SCHEMA} CASCADE")

    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    ap.add_argument("--pg", default=os.environ.get("CATSYNC_TEST_PG", "postgres://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    global PG_URL
    PG_URL = args.pg
    os.makedirs(WORK, exist_ok=True)
    feed = os.path.join(WORK, f"feed-{args.rows}.csv")
    if not os.path.exists(feed):
        print(f"generating {feed} ...", flush=True)
        run([sys.executable, os.path.join(ROOT, "bench", "make_feed.py"), str(args.rows), feed])
    size_mb = os.path.getsize(feed) / 1e6
    print("building catsync (release) ...", flush=True)
    run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    catsync = os.path.join(ROOT, "target", "release", "catsync")

    rounds = [one_round(args, feed, catsync) for _ in range(args.repeat)]
    results = {name: (statistics.median(r[name][0] for r in rounds), max(r[name][1] for r in rounds),
                      min(r[name][0] for r in rounds), max(r[name][0] for r in rounds))
               for name in rounds[0]}

    print(f"\nfeed: {args.rows:,} rows, {size_mb:.0f} MB, 11 columns; {os.cpu_count()} cores")
    print(f"median of {args.repeat} rounds (min-max seconds in brackets)")
    print(f"{'step':<46} {'seconds':>8} {'range':>13} {'rows/s':>10} {'peak RSS':>9}")
    for name, (secs, rss, low, high) in results.items():
        rss_text = f"{rss:.0f} MB" if name.startswith("catsync") else "-"
        print(f"{name:<46} {secs:>8.2f} {f'[{low:.2f}-{high:.2f}]':>13} {args.rows / secs:>10,.0f} {rss_text:>9}")
    r = {k: v[0] for k, v in results.items()}
    print("\nratios (target in brackets):")
    print(f"  first import / psql \\copy:              {r['catsync first import, PostgreSQL'] / r[COPY_STEP]:.2f}  [<= 1.5]")
    print(f"  first import / psql \\copy into catsync's table: {r['catsync first import, PostgreSQL'] / r[FLOOR_STEP]:.2f}")
    print(f"  re-import / COPY staging + merge:        {r['catsync unchanged re-import, PostgreSQL'] / r['psql COPY into staging + merge (unchanged)']:.2f}  [<= 1.5]")
    print(f"  SQLite first import rows/s:              {args.rows / r['catsync first import, SQLite']:,.0f}  [>= 150,000]")
    print(f"  peak RSS, worst catsync run:             {max(v[1] for k, v in results.items() if k.startswith('catsync')):.0f} MB  [<= 300]")


if __name__ == "__main__":
    main()
