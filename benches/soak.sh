#!/usr/bin/env bash
# `make soak`: a steady request rate against a local `serve` for DURATION seconds
# (default 600), loopback only; samples the server's RSS and open file descriptors
# every SAMPLE seconds (default 30) and prints them, then the growth from the first
# sample at or after WARMUP seconds (default 210: sled's page cache and the
# in-process cache fill during the first minutes) to the last sample.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
RATE=${RATE:-500}
. benches/serve.sh
SAMPLE=${SAMPLE:-30}
WARMUP=${WARMUP:-210}
samples="$work/samples"
sample() {
    local at rss fds
    at=$(( $(date +%s) - start ))
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
    fds=$(ls "/proc/$server/fd" | wc -l)
    echo "$at $rss $fds" >> "$samples"
    echo "${at}s rss=${rss}kB fds=$fds"
}
start=$(date +%s)
# The load: RATE requests a second, a mix of warm reads, new small runs and events.
python3 - "$url" "$DURATION" "$RATE" <<'PY' &
import sys, time, urllib.request, random
url, duration, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
end, sent, errors, seed = time.time() + duration, 0, 0, 5_000_000
while time.time() < end:
    t0 = time.time()
    for _ in range(int(rate / 10)):
        sent += 1
        r = random.random()
        if r < 0.8:
            path = f"/api/propagate/{random.choice([20, 200, 2000])}?seed={random.randint(0, 9)}"
        elif r < 0.95:
            seed += 1
            path = f"/api/propagate/500?seed={seed}"
        else:
            path = f"/api/propagate/300/events?seed={random.randint(0, 9)}"
        try:
            with urllib.request.urlopen(url + path, timeout=10) as resp:
                resp.read()
        except Exception:
            errors += 1
    time.sleep(max(0.0, 0.1 - (time.time() - t0)))
print(f"load: {sent} requests, {errors} errors")
PY
load=$!
while kill -0 $load 2>/dev/null; do sample; sleep "$SAMPLE"; done
sample
wait $load
# The growth after warm-up: from the first sample at or after WARMUP s to the last.
awk -v warmup="$WARMUP" '
    $1 >= warmup && !first { first = 1; t0 = $1; rss0 = $2; fds0 = $3 }
    { t1 = $1; rss1 = $2; fds1 = $3 }
    END {
        if (!first || t1 == t0) { print "growth: no two samples after the warm-up of " warmup " s"; exit }
        printf "growth after warm-up (%d s to %d s): RSS %+.1f MB (%+.2f MB per minute), open fds %+d\n",
            t0, t1, (rss1 - rss0) / 1024, (rss1 - rss0) / 1024 / ((t1 - t0) / 60), fds1 - fds0
    }' "$samples"
