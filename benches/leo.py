#!/usr/bin/env python3
"""`python3 benches/leo.py [BIN]`: one LEO body through the command line, into the log
and without it (BENCHMARKS.md's "one LEO body, 300,000 steps, CLI into the log / without
it", the log's cost against the bare integrator, target at most 2x).

The body is benches/orbit.rs' orbit (a = 7,000 km, e = 0.1, i = 53 degrees, point mass,
`dop853` at 1e-12, an output every 10 s). `propagate --scenario leo.json --steps STEPS
--format csv > /dev/null`, with `--data D` (a fresh log each time) and without,
alternated RUNS times. Prints the wall and CPU (user + sys, from the kernel's rusage of
the child) medians of each, and their ratios.

  STEPS=300000 RUNS=11. BIN defaults to target/release/sedaro-nano.
"""

import os
import shutil
import statistics
import sys
import tempfile

from process import run_child

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "sedaro-nano")
STEPS = int(os.environ.get("STEPS", "300000"))
RUNS = int(os.environ.get("RUNS", "11"))
LEO = """{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass"],
  "integrator": {"method": "dop853", "tolerance": 1e-12}, "output_step_s": 10.0,
  "bodies": [{"name": "sat-1", "elements": {"a_km": 7200.0, "e": 0.1, "i_deg": 53.0}}]}"""


def run_once(args):
    """Runs BIN with args, stdout to /dev/null; returns (wall ms, CPU ms)."""
    wall, usage = run_child(args, BIN)
    return wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def main():
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} is missing: build it first (cargo build --release)")
    work = tempfile.mkdtemp(prefix="nano-leo-")
    try:
        scenario = os.path.join(work, "leo.json")
        with open(scenario, "w") as f:
            f.write(LEO)
        base = ["propagate", "--scenario", scenario, "--steps", str(STEPS), "--format", "csv"]
        data = os.path.join(work, "data")
        logged, bare = [], []
        print(f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
        for _ in range(RUNS):
            shutil.rmtree(data, ignore_errors=True)
            logged.append(run_once(base + ["--data", data]))
            bare.append(run_once(base))
        for label, runs in (("into the log", logged), ("without it", bare)):
            print(f"{label:<13} wall ms: " + " ".join(f"{w:.0f}" for w, _ in runs), flush=True)
        wall = [statistics.median(w for w, _ in r) for r in (logged, bare)]
        cpu = [statistics.median(c for _, c in r) for r in (logged, bare)]
        print(f"one LEO body, {STEPS:,} steps, CLI into the log / without it, median of {RUNS}: "
              f"{wall[0]:.0f} / {wall[1]:.0f} ms wall ({wall[0] / wall[1]:.2f}x), "
              f"{cpu[0]:.0f} / {cpu[1]:.0f} ms CPU ({cpu[0] / cpu[1]:.2f}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
