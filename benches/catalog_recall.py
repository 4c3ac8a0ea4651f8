#!/usr/bin/env python3
"""`python3 benches/catalog_recall.py [BIN] [HOURS] [DISTANCE]`: the public catalogue's
screening against a brute force on SGP4 itself.

The catalogue of crates.io's `satellite` 0.1.2 (tests/tle.txt; `bash .ci/deps`
fetches it and python's `sgp4`) from 2022-08-10, HOURS (2) hours, DISTANCE (5) km:

- ours: `BIN screen --catalog` at a 60 s output step (BIN defaults to
  target/release/sedaro-nano), its pairs as body indices (the catalogue's order, less
  the objects it reports dropped);
- the brute force: python's `sgp4` (another implementation of Vallado's code) at
  every second (positions within 1e7 km, as the screening keeps), every pair within
  DISTANCE + 8 km at some second (every approach below
  DISTANCE has such a second at under 16 km/s), found on eight shifted grids of cells
  twice that wide (a pair that close shares a cell of one of them); then each second
  where such a pair turns from closing to opening (`dr . dv` from below zero to above),
  bisected to its root on SGP4, kept when the miss there is below DISTANCE.

Prints the recall (the brute force's minima the screening has: same pair, TCA within
1 s), the screening's minima the brute force has not, and the TCA and miss errors'
median, p95 and largest. Minima within 2 s of the window's ends, or within 10 m of
DISTANCE, are counted apart (either side may place them outside).
"""

import csv
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
from sgp4.api import Satrec, SatrecArray, jday

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/sedaro-nano"
HOURS = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
D = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
STEP = 60
SPAN = int(HOURS * 3600)
NEAR = D + 8.0
EDGE_S, EDGE_KM = 2.0, 0.01

home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
found = glob.glob(f"{home}/registry/src/*/satellite-0.1.2/tests/tle.txt")
if not found:
    sys.exit("benches/catalog_recall.py: satellite 0.1.2 is not fetched: run bash .ci/deps")
tle = found[0]

# Ours.
work = tempfile.mkdtemp()
scenario = os.path.join(work, "catalogue.json")
with open(scenario, "w") as f:
    f.write('{"model": "orbit", "epoch": "2022-08-10T00:00:00Z", "output_step_s": 60}')
start = time.time()
run = subprocess.run(
    [BIN, "screen", "--scenario", scenario, "--catalog", tle, "--steps", str(SPAN // STEP),
     "--distance", str(D), "--format", "csv"],
    capture_output=True, text=True, check=True,
)
ours_s = time.time() - start
ours = [(int(r["a"]), int(r["b"]), float(r["tca_s"]), float(r["miss_km"]))
        for r in csv.DictReader(run.stdout.splitlines())]
dropped = {int(m) for m in re.findall(r"catalogue object (\d+) \(", run.stderr)}

# The same objects, in the same order.
lines = [l.strip().lstrip("\ufeff") for l in open(tle, encoding="utf-8")]
lines = [l for l in lines if l.startswith(("1 ", "2 "))]
ALPHA = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # Alpha-5: A is 10, I and O are skipped


def number(field):
    if field[0].isalpha():
        return (10 + ALPHA.index(field[0])) * 10000 + int(field[1:])
    return int(field)


jd0, fr0 = jday(2022, 8, 10, 0, 0, 0)
copies = {}
for l1 in lines[0::2]:
    copies[number(l1[2:7])] = copies.get(number(l1[2:7]), 0) + 1
sats = []
for l1, l2 in zip(lines[0::2], lines[1::2]):
    sat = Satrec.twoline2rv(l1, l2)
    # A number dropped and held twice (two epochs): the copy SGP4 fails at the epoch.
    if number(l1[2:7]) not in dropped or sat.sgp4(jd0, fr0)[0] == 0 and copies[number(l1[2:7])] > 1:
        sats.append(sat)
print(f"ours: {len(ours)} minima in {ours_s:.1f} s; {len(sats)} objects "
      f"({len(dropped)} dropped)", flush=True)

# The brute force: every pair within NEAR at some second.
array = SatrecArray(sats)
n = len(sats)
cell = 2.0 * NEAR
near = set()
start = time.time()
CHUNK = 120
for first in range(0, SPAN + 1, CHUNK):
    t = np.arange(first, min(first + CHUNK, SPAN + 1), dtype=float)
    e, r, _ = array.sgp4(np.full_like(t, jd0), fr0 + t / 86400.0)
    for s in range(len(t)):
        pos = r[:, s, :]
        ok = (e[:, s] == 0) & np.isfinite(pos).all(axis=1) & (np.abs(pos) < 1e7).all(axis=1)
        index = np.nonzero(ok)[0]
        p = pos[ok]
        for shift in range(8):
            offset = np.array([(shift >> i) & 1 for i in range(3)]) * (cell / 2)
            c = np.floor((p + offset) / cell).astype(np.int64) + (1 << 20)
            key = (c[:, 0] << 42) | (c[:, 1] << 21) | c[:, 2]
            order = np.argsort(key, kind="stable")
            k = key[order]
            same = np.nonzero(k[1:] == k[:-1])[0]
            if len(same) == 0:
                continue
            # Runs of equal keys: every pair within each.
            runs = np.split(same, np.nonzero(np.diff(same) != 1)[0] + 1)
            for run_ in runs:
                members = order[run_[0]:run_[-1] + 2]
                for x in range(len(members)):
                    for y in range(x + 1, len(members)):
                        a, b = index[members[x]], index[members[y]]
                        if np.linalg.norm(pos[a] - pos[b]) < NEAR:
                            near.add((min(a, b), max(a, b), int(t[s])))
print(f"brute force: {len(near)} (pair, second)s within {NEAR} km, "
      f"{time.time() - start:.0f} s", flush=True)


def states(i, j, s):
    _, ri, vi = sats[i].sgp4(jd0, fr0 + s / 86400.0)
    _, rj, vj = sats[j].sgp4(jd0, fr0 + s / 86400.0)
    return np.array(rj) - np.array(ri), np.array(vj) - np.array(vi)


def closing(i, j, s):
    dr, dv = states(i, j, s)
    return float(dr @ dv)


by_pair = {}
for a, b, s in near:
    by_pair.setdefault((a, b), set()).add(s)
brute = []
for (a, b), seconds in by_pair.items():
    # Every second near one of those, and its sign change of dr . dv.
    around = sorted({x for s in seconds for x in range(max(0, s - 2), min(SPAN, s + 2))})
    for s in around:
        if not (closing(a, b, s) < 0 <= closing(a, b, s + 1)):
            continue
        lo, hi = float(s), float(s + 1)
        while hi - lo > 1e-7:
            mid = (lo + hi) / 2
            if closing(a, b, mid) < 0:
                lo = mid
            else:
                hi = mid
        tca = (lo + hi) / 2
        miss = float(np.linalg.norm(states(a, b, tca)[0]))
        if miss < D:
            brute.append((a, b, tca, miss))


def inside(m):
    return EDGE_S < m[2] < SPAN - EDGE_S and m[3] < D - EDGE_KM


def match(m, others):
    for o in others.get((m[0], m[1]), []):
        if abs(o[2] - m[2]) < 1.0:
            return o
    return None


ours_by = {}
for m in ours:
    ours_by.setdefault((m[0], m[1]), []).append(m)
brute_by = {}
for m in brute:
    brute_by.setdefault((m[0], m[1]), []).append(m)
compared = [m for m in brute if inside(m)]
matched = [(m, match(m, ours_by)) for m in compared]
missed = [m for m, o in matched if o is None]
extra = [m for m in ours if inside(m) and match(m, brute_by) is None]
tca = np.array([abs(o[2] - m[2]) for m, o in matched if o is not None])
miss = np.array([abs(o[3] - m[3]) for m, o in matched if o is not None])
print(f"brute force: {len(brute)} minima below {D} km, {len(compared)} compared "
      f"(away from the ends and from {D} km)")
print(f"recall: {len(compared) - len(missed)} / {len(compared)} = "
      f"{(len(compared) - len(missed)) / max(1, len(compared)):.5f}; missed: {missed[:10]}")
print(f"screened, not in the brute force: {len(extra)}: {extra[:10]}")
if len(tca):
    print(f"TCA error: median {np.median(tca) * 1e3:.4f} ms, p95 "
          f"{np.percentile(tca, 95) * 1e3:.4f} ms, max {tca.max() * 1e3:.4f} ms")
    print(f"miss error: median {np.median(miss) * 1e3:.6f} m, p95 "
          f"{np.percentile(miss, 95) * 1e3:.6f} m, max {miss.max() * 1e3:.6f} m")
