#!/usr/bin/env bash
# `bash benches/catalog-manoeuvre.sh [BIN]`: an own satellite among the public catalogue
# (crates.io's `satellite` 0.1.2 tests/tle.txt, uploaded to /api/catalogs), through the
# service: the run (the satellite and the 25,300 objects, STEPS (1440) steps of 60 s
# from 2022-08-10) posted and polled until complete, `POST /screenings {"d": 5}` and its
# job polled every 100 ms until done, then the satellite's manoeuvre (+2 m/s along y at
# mid-run) and the new version's screening job polled until done. `serve --workers 2`
# at MEMORY_MB (default 512: screened in windows). Prints the times, the jobs'
# documents and the peak RSS (VmHWM). BIN defaults to target/release/sedaro-nano.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/sedaro-nano}
STEPS=${STEPS:-1440}
. benches/public-tle.sh
SERVE_FLAGS="--workers 2 --memory-mb ${MEMORY_MB:-512}"
. benches/serve.sh

catalog=$(curl -sf -X POST -H 'content-type: text/plain' --data-binary @"$tle" "$url/api/catalogs" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
python3 - "$STEPS" "$catalog" >"$work/request.json" <<'PY'
import json, sys
scenario = {
    "model": "orbit", "epoch": "2022-08-10T00:00:00Z", "output_step_s": 60,
    "bodies": [{"name": "own", "elements": {"a_km": 6928.0, "e": 0.001, "i_deg": 53.0,
                "raan_deg": 40.0, "argp_deg": 0.0, "nu_deg": 0.0}}],
    "catalog": {"id": sys.argv[2]},
}
print(json.dumps({"scenario": scenario, "steps": int(sys.argv[1])}))
PY
started=$(date +%s.%N)
id=$(curl -sf -X POST -H 'content-type: application/json' --data @"$work/request.json" "$url/api/runs" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
until curl -sf "$url/api/runs/$id/status" | grep -q '"status":"complete"'; do sleep 0.1; done
echo "the run: $(python3 -c "print('%.2f' % ($(date +%s.%N) - $started))") s"

asked=$(date +%s.%N)
job=$(curl -sf -X POST -H 'content-type: application/json' --data '{"d": 5}' "$url/api/runs/$id/screenings" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["status_url"])')
until curl -sf "$url$job" -o "$work/job.json" && ! grep -q '"state":"running"' "$work/job.json"; do sleep 0.1; done
echo "the screening took $(python3 -c "print('%.2f' % ($(date +%s.%N) - $asked))") s: $(cat "$work/job.json")"
asked=$(date +%s.%N)
curl -sf -X POST -H 'content-type: application/json' \
  --data "{\"body\": 0, \"t\": $(python3 -c "print($STEPS * 60 / 2)"), \"dv_kms\": [0, 0.002, 0]}" \
  "$url/api/runs/$id/manoeuvres" >/dev/null
until curl -sf "$url/api/runs/$id/screenings" | python3 -c '
import json, sys
jobs = [j for j in json.load(sys.stdin)["jobs"] if j["version"] == 1]
sys.exit(0 if jobs and jobs[0]["state"] != "running" else 1)'; do sleep 0.1; done
echo "the manoeuvre and its screening took $(python3 -c "print('%.2f' % ($(date +%s.%N) - $asked))") s: $(curl -sf "$url/api/runs/$id/screenings" |
  python3 -c 'import json,sys; print([j for j in json.load(sys.stdin)["jobs"] if j["version"] == 1][0])')"
echo "serve: $(grep VmHWM /proc/"$server"/status)"
