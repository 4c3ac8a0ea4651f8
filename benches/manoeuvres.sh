#!/usr/bin/env bash
# `bash benches/manoeuvres.sh [BIN]`: a screening kept current under manoeuvres, through
# HTTP (BENCHMARKS.md's "Starlink 6 h at 10 s through HTTP"). A fresh `serve --workers 2
# --memory-mb 18000` on a fresh log; Starlink shell 1 (benches/starlink.json) for 2,160
# steps posted to /api/runs and polled (/status, every 50 ms) until complete; the first
# screening (`POST /screenings {"d": 5}`, its job polled every 50 ms until done: kept
# alive and in the log); then eleven `POST
# /manoeuvres`, one satellite each, 2.3 m/s in a random direction at a random time
# (seeded), each timed whole by curl. Prints the times, the median manoeuvre, the first
# screening's multiple of it, and the server's peak RSS (VmHWM).
#
#   WALKER=500/20/1 (a smaller shell: total/planes/phasing), STEPS=2160, N=11,
#   MEMORY_MB=18000, PORT (default a free one). BIN defaults to
#   target/release/sedaro-nano.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/sedaro-nano}
STEPS=${STEPS:-2160}
N=${N:-11}
SERVE_FLAGS="--workers 2 --memory-mb ${MEMORY_MB:-18000}"
. benches/serve.sh

python3 - "${WALKER:-}" "$STEPS" >"$work/request.json" <<'PY'
import json, sys
scenario = json.load(open("benches/starlink.json"))
if sys.argv[1]:
    total, planes, phasing = (int(x) for x in sys.argv[1].split("/"))
    scenario["walker"].update(total=total, planes=planes, phasing=phasing)
print(json.dumps({"scenario": scenario, "steps": int(sys.argv[2])}))
PY
bodies=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scenario"]["walker"]["total"])' "$work/request.json")

started=$(date +%s.%N)
id=$(curl -sf -X POST -H 'content-type: application/json' --data @"$work/request.json" "$url/api/runs" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
until curl -sf "$url/api/runs/$id/status" | grep -q '"status":"complete"'; do sleep 0.05; done
complete=$(python3 -c "import sys; print('%.2f' % ($(date +%s.%N) - $started))")

asked=$(date +%s.%N)
job=$(curl -sf -X POST -H 'content-type: application/json' --data '{"d": 5}' "$url/api/runs/$id/screenings" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["status_url"])')
until curl -sf "$url$job" -o "$work/first.json" && ! grep -q '"state":"running"' "$work/first.json"; do sleep 0.05; done
first=$(python3 -c "import sys; print('%.3f' % ($(date +%s.%N) - $asked))")
count=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["count"])' "$work/first.json")

times=()
for m in $(python3 -c "
import math, random
random.seed(15)
for _ in range($N):
    body = random.randrange($bodies)
    t = random.uniform(0, $STEPS * 10.0)
    z = random.uniform(-1, 1); a = random.uniform(0, 2 * math.pi); s = math.sqrt(1 - z * z)
    dv = [0.0023 * s * math.cos(a), 0.0023 * s * math.sin(a), 0.0023 * z]
    print('{\"body\":%d,\"t\":%r,\"dv_kms\":[%r,%r,%r]}' % (body, t, *dv))
"); do
  out=$(curl -s -o "$work/made.json" -w '%{time_total} %{http_code}' -X POST \
    -H 'content-type: application/json' --data "$m" "$url/api/runs/$id/manoeuvres")
  [ "${out#* }" = 201 ] || { echo "manoeuvre $m: ${out#* }: $(cat "$work/made.json")" >&2; exit 1; }
  times+=("${out% *}")
done
rss=$(grep VmHWM "/proc/$server/status" | awk '{print $2}')

python3 - "$bodies" "$STEPS" "$complete" "$first" "$count" "$rss" "${times[@]}" <<'PY'
import statistics, sys
bodies, steps, complete, first, count, rss = sys.argv[1:7]
ms = [float(t) * 1000 for t in sys.argv[7:]]
first_ms = float(first) * 1000
median = statistics.median(ms)
print(f"Walker shell of {bodies} satellites, {steps} steps at 10 s through HTTP (serve --workers 2)")
print(f"POST /api/runs to complete: {complete} s")
print(f"first screening (POST /screenings to done): {first_ms / 1000:.2f} s ({count} conjunctions)")
print("manoeuvres (ms):", " ".join(f"{t:.1f}" for t in ms))
print(f"manoeuvre median of {len(ms)}: {median:.1f} ms ({min(ms):.1f} to {max(ms):.1f}): "
      f"{first_ms / median:.0f}x the first screening")
print(f"server peak RSS: {int(rss) / 1e6:.2f} GB")
PY
