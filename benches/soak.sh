#!/usr/bin/env bash
# `make soak`: a steady request rate against a local `serve` for DURATION seconds
# (default 600), loopback only; samples the server's RSS and open file descriptors
# every 30 s and prints them, then the growth from the first sample after warm-up.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
RATE=${RATE:-500}
. benches/serve.sh
sample() { echo "$(( $(date +%s) - start ))s rss=$(awk '/VmRSS/ {print $2}' /proc/$server/status)kB fds=$(ls /proc/$server/fd | wc -l)"; }
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
while kill -0 $load 2>/dev/null; do sample; sleep 30; done
sample
wait $load
