#!/usr/bin/env python3
"""`make figures`: the whole-process figures that README.md, BENCHMARKS.md and
SECURITY.md quote, measured on this machine and printed as they are written there.

Runs the release binary (build it first: `make build`): the command line's time and
peak memory (max RSS, from the kernel's rusage of the child) for 1 and 10 million
iterations, writing a logged run of 5 million and replaying it, the log's bytes per
record, the size of a logged 10-million-iteration run, and the idle cluster's CPU
ticks and context switches (`tests/idle.rs`, which prints them). Each timed command
runs RUNS times (default 3); times are medians, memory the largest of the runs.
Everything goes to a temporary directory that is removed at the end.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "sedaro-nano")
RUNS = int(os.environ.get("RUNS", "3"))
# Bytes of one record's payload in a chunk (store/src/encoding.rs: RECORD_SIZE).
PAYLOAD = 52


def run_child(args, binary=BIN):
    """Runs binary with args, stdout to /dev/null; returns (seconds, the child's rusage).
    Exits with its stderr if it fails."""
    with open(os.devnull, "wb") as null:
        started = time.monotonic()
        child = subprocess.Popen([binary, *args], stdout=null, stderr=subprocess.PIPE)
        stderr = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
    if status != 0:
        sys.exit(f"{' '.join(args)} failed: {stderr.decode(errors='replace')}")
    return seconds, usage


def run_once(args, fresh=None):
    """Runs BIN with args, stdout to /dev/null; returns (seconds, max RSS in MB)."""
    if fresh:
        shutil.rmtree(fresh, ignore_errors=True)
    seconds, usage = run_child(args)
    return seconds, usage.ru_maxrss / 1024


def measure(label, args, fresh=None, runs=RUNS):
    """Prints the median time and the peak RSS of `runs` runs of BIN with args."""
    results = [run_once(args, fresh) for _ in range(runs)]
    seconds = statistics.median(r[0] for r in results)
    rss = max(r[1] for r in results)
    print(f"{label:<58} {seconds:6.2f} s  max RSS {rss:6.1f} MB  ({runs} runs)", flush=True)


def disk_bytes(path):
    """Bytes the files under path occupy (their lengths, as sled wrote them)."""
    return sum(
        os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files
    )


def records(data, seed=0):
    """The records the catalog in data holds for seed."""
    out = subprocess.run(
        [BIN, "runs", "--data", data, "--json"], check=True, capture_output=True
    ).stdout
    runs = json.loads(out)
    runs = runs["runs"] if isinstance(runs, dict) else runs
    return next(r for r in runs if r["seed"] == seed)["records"]


def main():
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} is missing: run `make build` first")
    work = tempfile.mkdtemp(prefix="nano-figures-")
    try:
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        measure("propagate --steps 10000000 --format csv", ["propagate", "--steps", "10000000", "--format", "csv"])
        measure("propagate --steps 1000000 --format csv", ["propagate", "--steps", "1000000", "--format", "csv"])
        data = os.path.join(work, "d5m")
        measure("propagate --steps 5000000 --data D (a fresh log)",
                ["propagate", "--steps", "5000000", "--data", data], fresh=data)
        measure("replay --steps 5000000 --data D",
                ["replay", "--steps", "5000000", "--data", data])
        size, count = disk_bytes(data), records(data)
        print(f"log of 5,000,000 iterations: {count:,} records, {size:,} bytes on disk, "
              f"{size / count:.1f} bytes per record ({PAYLOAD} payload)", flush=True)
        shutil.rmtree(data)
        data = os.path.join(work, "d10m")
        seconds, rss = run_once(["propagate", "--steps", "10000000", "--data", data])
        size, count = disk_bytes(data), records(data)
        print(f"log of 10,000,000 iterations: {size / 1e9:.2f} GB ({size / count:.1f} bytes per record), "
              f"written in {seconds:.1f} s, max RSS {rss:.1f} MB (1 run)", flush=True)
        shutil.rmtree(data)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # The idle cluster: the test measures and asserts; its line is the figure.
    idle = subprocess.run(
        ["cargo", "test", "--release", "--locked", "--test", "idle", "--", "--nocapture"],
        cwd=ROOT, capture_output=True, text=True,
    )
    line = next((l for l in idle.stderr.splitlines() if l.startswith("idle for")), None)
    print(f"idle 2-process cluster (tests/idle.rs): {line or 'the test failed: ' + idle.stderr[-2000:]}")


if __name__ == "__main__":
    main()
