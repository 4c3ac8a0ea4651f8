#!/usr/bin/env bash
# Captures what a change that should not change behaviour must keep byte for byte:
# the help texts, the command's outputs in every format, and the service's answers
# (the OpenAPI document, runs, windows, tracks, versions, manoeuvres, conjunctions,
# errors, pages), with dates, ports and temporary paths masked. Compare two builds:
#   testing/outputs.sh OLD/sedaro-nano /tmp/before
#   testing/outputs.sh target/release/sedaro-nano /tmp/after
#   diff -r /tmp/before /tmp/after
# Usage: outputs.sh BIN OUTDIR (the binary must be named sedaro-nano: help texts name it)
set -euo pipefail
BIN=$(realpath "$1"); OUT=$2
rm -rf "$OUT"; mkdir -p "$OUT"; cd "$OUT"
TMP=$(mktemp -d); trap 'kill $SERVE 2>/dev/null || true; rm -rf "$TMP"' EXIT
SERVE=

cat > "$TMP/shell.json" <<'EOF'
{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass", "j2"],
 "integrator": {"method": "dop853", "tolerance": 1e-10}, "output_step_s": 60.0,
 "walker": {"i_deg": 53, "total": 12, "planes": 3, "phasing": 1, "altitude_km": 550},
 "bodies": [{"name": "close", "elements": {"a_km": 6930.0, "e": 0.0005, "i_deg": 53.3,
   "raan_deg": 0.2, "argp_deg": 0.0, "nu_deg": 0.3}},
   {"name": "debris", "elements": {"a_km": 6928.137, "e": 0.001, "i_deg": 127.0,
   "raan_deg": 10.0, "argp_deg": 0.0, "nu_deg": 3.0}}]}
EOF

# Help texts.
"$BIN" --help > help.txt
for sub in propagate replay runs verify worker serve pod local-cluster screen accuracy; do
  "$BIN" "$sub" --help > "help-$sub.txt"
done
"$BIN" --version > version.txt

# The command: nano and orbit runs in every format, screen reports, replay, errors.
for f in json csv; do "$BIN" propagate --steps 500 --seed 9 --format $f > "nano.$f"; done
for f in json csv oem; do
  "$BIN" propagate --scenario "$TMP/shell.json" --steps 120 --format $f > "shell.$f"
done
for f in json csv; do
  "$BIN" propagate --scenario "$TMP/shell.json" --steps 120 --format $f --workers 2 > "shell-w2.$f" 2> /dev/null
done
for f in json csv; do
  "$BIN" screen --scenario "$TMP/shell.json" --steps 240 --distance 60 --format $f > "screen.$f"
done
"$BIN" propagate --steps 300 --seed 7 --data "$TMP/cli" > /dev/null
"$BIN" propagate --scenario "$TMP/shell.json" --steps 60 --data "$TMP/cli" > /dev/null
"$BIN" replay --steps 300 --seed 7 --data "$TMP/cli" --format csv > replay-nano.csv
"$BIN" replay --scenario "$TMP/shell.json" --steps 60 --data "$TMP/cli" --format oem > replay-shell.oem
"$BIN" runs --data "$TMP/cli" > runs.txt 2>&1 || true
"$BIN" verify --data "$TMP/cli" > verify.txt 2>&1 || true
for args in "propagate --steps 0" "propagate --steps 10 --format oem" \
    "propagate --scenario /nonexistent --steps 3" "screen --scenario $TMP/shell.json --steps 3 --distance -1" \
    "replay --steps 5 --seed 1 --data $TMP/none"; do
  i=$((${i:-0} + 1)); name=$i
  set +e; "$BIN" $args > "err-$name.out" 2> "err-$name.err"; echo $? > "err-$name.code"; set -e
  sed -i "s#$TMP#TMP#g" "err-$name.err" "err-$name.out"
done

# The service.
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$BIN" serve --listen "127.0.0.1:$PORT" --data "$TMP/srv" > "$TMP/serve.log" 2>&1 &
SERVE=$!
U="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$U/healthz" > /dev/null && break; sleep 0.1; done
get() { curl -s -o "$1" -w '%{http_code} %{content_type}\n' "$U$2" >> codes.txt; }
get openapi.json /api/openapi.json
curl -s -o /dev/null "$U/api/propagate/400?seed=3"
for _ in $(seq 300); do
  curl -s "$U/api/propagate/400?seed=3" | grep -q '"complete"' && break; sleep 0.1
done
get nano-api.json "/api/propagate/400?seed=3"
get nano-api.csv "/api/propagate/400?seed=3&format=csv"
python3 -c "import json,sys;print(json.dumps({'scenario':json.load(open('$TMP/shell.json')),'steps':180}))" > "$TMP/req.json"
curl -s -o "$TMP/create.json" -H 'content-type: application/json' --data @"$TMP/req.json" "$U/api/runs" 
ID=$(python3 -c "import json;print(json.load(open('$TMP/create.json'))['id'])")
for _ in $(seq 300); do
  curl -s "$U/api/runs/$ID/status" | grep -q '"complete"' && break; sleep 0.1
done
get status.json "/api/runs/$ID/status"
for f in json csv oem; do get "run.$f" "/api/runs/$ID?format=$f"; done
get states.json "/api/runs/$ID/states?t=600"
get states-630.csv "/api/runs/$ID/states?t=630.5&format=csv"
get track-range.csv "/api/runs/$ID/bodies/12?from=500&to=2000&format=csv"
get track.json "/api/runs/$ID/bodies/3?points=50"
get conj-v0.json "/api/runs/$ID/conjunctions?d=60"
get conj-v0.csv "/api/runs/$ID/conjunctions?d=60&format=csv"
curl -s -o man1.json -w '%{http_code}\n' -H 'content-type: application/json' \
  --data '{"body": 12, "t": 1200, "dv_kms": [0.0, 0.004, 0.001]}' "$U/api/runs/$ID/manoeuvres" >> codes.txt
curl -s -o man2.json -w '%{http_code}\n' -H 'content-type: application/json' \
  --data '{"body": 2, "t": 3000, "dv_kms": [0, -0.02, 0.001]}' "$U/api/runs/$ID/manoeuvres" >> codes.txt
curl -s -o man3.json -w '%{http_code}\n' -H 'content-type: application/json' \
  --data '{"body": 5, "t": 600, "dv_kms": [0.001, 0, 0]}' "$U/api/runs/$ID/manoeuvres" >> codes.txt
get versions.json "/api/runs/$ID/versions"
for v in 1 2 3; do
  get "run-v$v.csv" "/api/runs/$ID?format=csv&version=$v"
  get "conj-v$v.json" "/api/runs/$ID/conjunctions?d=60&version=$v"
  get "track-v$v.json" "/api/runs/$ID/bodies/2?version=$v"
  get "states-v$v.json" "/api/runs/$ID/states?t=3600&version=$v"
done
get conj-d20.json "/api/runs/$ID/conjunctions?d=20"
# Errors.
get e1.json "/api/runs/$ID/conjunctions?d=0"
get e2.json "/api/runs/$ID?version=9"
get e3.json "/api/runs/nonesuch"
get e4.json "/api/runs/$ID/bodies/99"
get e5.json "/api/runs/$ID/states?t=1e9"
get e6.json "/api/propagate/0"
curl -s -o e7.json -w '%{http_code}\n' -H 'content-type: application/json' \
  --data '{"body": 2, "t": 1200, "dv_kms": [0, 0, 0]}' "$U/api/runs/$ID/manoeuvres" >> codes.txt
curl -s -o e8.json -w '%{http_code}\n' -H 'content-type: application/json' \
  --data '{"scenario": {"model": "orbit"}, "steps": 3}' "$U/api/runs" >> codes.txt
get page.html /
get run-page.html "/runs/$ID"
sed -i "s/127.0.0.1:$PORT/127.0.0.1:PORT/g" ./*.json ./*.html
sed -i -E "s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z?/DATE/g" ./*.html runs.txt
sed -i -E "s/^CREATION_DATE = .*/CREATION_DATE = DATE/" ./*.oem
sed -i "s#$TMP#TMP#g" verify.txt runs.txt
kill $SERVE; wait $SERVE 2>/dev/null || true
echo "captured $(ls | wc -l) files in $OUT"
