#!/usr/bin/env bash
# `bash benches/cluster-screening.sh [BIN]`: the service's windowed screening in one
# process and on a local cluster (BENCHMARKS.md's "The whole cluster screens").
# Starlink shell 1 (benches/starlink.json at STEP_S, default 30 s) for STEPS (2,880:
# a day) posted to /api/runs and polled until complete, then `POST /screenings
# {"d": 5}` and its job polled every 100 ms until done. PROCESSES=1 (the default):
# `serve --workers 2`; PROCESSES=N: `local-cluster --processes N --workers 1`. At the
# default --memory-mb 512 (MEMORY_MB to change it) the run is screened in windows.
# Then one satellite's manoeuvre (+2 m/s along y at mid-run): the new version's
# screening job (started by the manoeuvre, from its parent's kept screening) polled
# until done. Prints the jobs' times, their documents, and each process's peak RSS
# (VmHWM).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/sedaro-nano}
STEPS=${STEPS:-2880}
STEP_S=${STEP_S:-30}
PROCESSES=${PROCESSES:-1}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export NANO_RATE_LIMIT=1000000 NANO_MEMORY_MB=${MEMORY_MB:-512}
if [ "$PROCESSES" = 1 ]; then
  "$BIN" serve --listen "127.0.0.1:$port" --data "$work/data" --workers 2 2>"$work/serve.log" &
else
  env -u REDIS_URL "$BIN" local-cluster --processes "$PROCESSES" --workers 1 \
    --listen "127.0.0.1:$port" --data "$work/data" 2>"$work/serve.log" &
fi
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; cat "$work/serve.log" | tail -5 >&2; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 300); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done

python3 - "$STEPS" "$STEP_S" >"$work/request.json" <<'PY'
import json, sys
scenario = json.load(open("benches/starlink.json"))
scenario["output_step_s"] = float(sys.argv[2])
print(json.dumps({"scenario": scenario, "steps": int(sys.argv[1])}))
PY
id=$(curl -sf -X POST -H 'content-type: application/json' --data @"$work/request.json" "$url/api/runs" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
until curl -sf "$url/api/runs/$id/status" | grep -q '"status":"complete"'; do sleep 0.1; done

asked=$(date +%s.%N)
job=$(curl -sf -X POST -H 'content-type: application/json' --data '{"d": 5}' "$url/api/runs/$id/screenings" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["status_url"])')
until curl -sf "$url$job" -o "$work/job.json" && ! grep -q '"state":"running"' "$work/job.json"; do sleep 0.1; done
took=$(python3 -c "print('%.2f' % ($(date +%s.%N) - $asked))")
echo "processes $PROCESSES: the screening took $took s: $(cat "$work/job.json")"
asked=$(date +%s.%N)
curl -sf -X POST -H 'content-type: application/json' \
  --data "{\"body\": 700, \"t\": $(python3 -c "print($STEPS * $STEP_S / 2)"), \"dv_kms\": [0, 0.002, 0]}" \
  "$url/api/runs/$id/manoeuvres" >/dev/null
until curl -sf "$url/api/runs/$id/screenings" | python3 -c '
import json, sys
jobs = [j for j in json.load(sys.stdin)["jobs"] if j["version"] == 1]
sys.exit(0 if jobs and jobs[0]["state"] != "running" else 1)'; do sleep 0.1; done
took=$(python3 -c "print('%.2f' % ($(date +%s.%N) - $asked))")
echo "the manoeuvre and its screening took $took s: $(curl -sf "$url/api/runs/$id/screenings" |
  python3 -c 'import json,sys; print([j for j in json.load(sys.stdin)["jobs"] if j["version"] == 1][0])')"
pids=$server
[ "$PROCESSES" = 1 ] || pids=$(pgrep -P "$server" -d ' ' sedaro-nano || true)
for pid in $pids; do
  echo "pid $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-60)): $(grep VmHWM /proc/"$pid"/status)"
done
