#!/usr/bin/env bash
# `bash benches/states.sh DATA [BIN]`: the latency of `GET /api/runs/{id}/states?t=`
# on the first run of the log in DATA (the Starlink day of benches/starlink.json, as
# BENCHMARKS.md logs it): a fresh `serve --workers 2`, then 13 loopback `curl`s at
# t = 8.3 + 6600 k seconds (between output steps), each request whole; prints the
# times, the status codes and sizes, and the median. BIN defaults to
# target/release/sedaro-nano; give an older build to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1
BIN=${2:-target/release/sedaro-nano}
id=$("$BIN" runs --json --data "$DATA" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
work=$(mktemp -d)
"$BIN" serve --listen 127.0.0.1:0 --workers 2 --data "$DATA" 2>"$work/serve.log" >/dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
address=
for _ in $(seq 100); do
  address=$(grep -o 'serving on http://[0-9.:]*' "$work/serve.log" | sed 's#serving on http://##' || true)
  [ -n "$address" ] && break
  sleep 0.1
done
rows=()
for k in $(seq 0 12); do
  t=$(python3 -c "print(8.3 + 6600.0 * $k)")
  rows+=($(curl -s -o /dev/null -w '%{time_total} %{http_code} %{size_download}' "http://$address/api/runs/$id/states?t=$t"))
done
python3 - "${rows[@]}" <<'PY'
import statistics, sys
a = sys.argv[1:]
rows = [(float(a[i]) * 1000, a[i + 1], int(a[i + 2])) for i in range(0, len(a), 3)]
print("ms:", " ".join("%.1f" % r[0] for r in rows))
print("status:", sorted({r[1] for r in rows}), "bytes:", min(r[2] for r in rows), "to", max(r[2] for r in rows))
print("median: %.1f ms" % statistics.median(r[0] for r in rows))
PY
