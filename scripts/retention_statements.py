"""Times SQLite retention statements of roadsight before and after commit "store: retention
forgets a plate's past" on one synthetic store, to show why they changed.

The store is made by roadsight itself (`roadsight trace` creates and migrates it), filled with
N sightings of P plates over ten days (every second sighting with an evidence image shared by
four), then copied twice: the statements of each version run on their own copy, after the same
sightings delete, and the plates left are checked against the sightings left.

    .deps/venv/bin/python scripts/retention_statements.py [N] [P]     # 1000000 200000: ~2 min

Before, a forgotten plate and an old image were each checked against every sighting
(`NOT EXISTS` over a table with no index by plate or evidence): one scan of the sightings per
row. After, each statement is one pass.
"""

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

SLOT = 600_000_000_000
DAY = 86_400 * 10**9
DELETE_SIGHTINGS = f"DELETE FROM sightings WHERE at_ns / {SLOT} <= ?1 / {SLOT} AND at_ns < ?1"
BEFORE = [
    ("plates", "DELETE FROM plates WHERE last_ns < ?1 AND NOT EXISTS "
               "(SELECT 1 FROM sightings s WHERE s.plate = plates.plate)"),
    ("evidence", "DELETE FROM evidence WHERE stored_ns < ?1 AND NOT EXISTS "
                 "(SELECT 1 FROM sightings s WHERE s.evidence = evidence.address)"),
]
AFTER = [
    ("plates", "DELETE FROM plates WHERE last_ns < ?1"),
    ("plate summaries",
     "UPDATE plates SET first_ns = m.first_ns, sightings = m.sightings, best_confidence = m.best "
     "FROM (SELECT plate, MIN(at_ns) AS first_ns, COUNT(*) AS sightings, MAX(confidence) AS best "
     "FROM sightings WHERE plate IN (SELECT plate FROM plates WHERE first_ns < ?1) "
     "GROUP BY plate) AS m WHERE m.plate = plates.plate"),
    ("evidence", "DELETE FROM evidence WHERE stored_ns < ?1 AND address NOT IN "
                 "(SELECT evidence FROM sightings WHERE evidence IS NOT NULL)"),
]


def fill(path, sightings, plates):
    store = sqlite3.connect(path)
    rng = random.Random(1)
    rows, summary = [], {}
    for i in range(sightings):
        at = i * 10 * DAY // sightings
        plate = f"P{rng.randrange(plates):07d}"
        evidence = f"sha256:{i // 4}" if i % 2 == 0 else None
        rows.append((f"e{i}", plate, "cam", at, i, 0.9, evidence))
        first, _, count = summary.get(plate, (at, at, 0))
        summary[plate] = (first, at, count + 1)
    store.executemany("INSERT INTO sightings VALUES (?,?,?,?,?,?,?)", rows)
    store.executemany("INSERT INTO plates VALUES (?,?,?,?,0.9)",
                      [(p, f, l, n) for p, (f, l, n) in summary.items()])
    store.executemany("INSERT OR IGNORE INTO evidence VALUES (?,?,?,?)",
                      [(r[6], "image/jpeg", b"x", r[3]) for r in rows if r[6]])
    store.commit()
    store.close()


def main():
    sightings = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    plates = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    roadsight = os.environ.get("ROADSIGHT", "target/release/roadsight")
    work = tempfile.mkdtemp()
    base = os.path.join(work, "base.db")
    subprocess.run([roadsight, "trace", "X", "--store", f"sqlite:{base}"],
                   check=True, capture_output=True)
    fill(base, sightings, plates)
    cutoff = DAY + 1
    for version, statements in [("after", AFTER), ("before", BEFORE)]:
        path = os.path.join(work, f"{version}.db")
        shutil.copy(base, path)
        store = sqlite3.connect(path)
        deleted = store.execute(DELETE_SIGHTINGS, (cutoff,)).rowcount
        print(f"{version}: {deleted} of {sightings} sightings deleted")
        for name, sql in statements:
            started = time.perf_counter()
            rows = store.execute(sql, (cutoff,)).rowcount
            print(f"  {name}: {rows} rows in {time.perf_counter() - started:.3f} s", flush=True)
        left, counted, first = store.execute(
            "SELECT COUNT(*), SUM(sightings), MIN(first_ns) FROM plates").fetchone()
        kept, oldest = store.execute("SELECT COUNT(*), MIN(at_ns) FROM sightings").fetchone()
        print(f"  plates left {left}: their counts add up to {counted} of {kept} sightings left, "
              f"earliest first sighting {first} (oldest sighting left {oldest})")
        store.close()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
