#!/usr/bin/env bash
# `make load`: warm and cold request mixes against a fresh local `serve`, on loopback,
# bounded in time (DURATION seconds per mix, default 10). Prints requests per second,
# latency percentiles, errors and the server's peak RSS. Needs wrk (installed if
# missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
. benches/serve.sh

# Warm: two runs, computed once, then served from the cache.
for path in "/api/propagate/2000?seed=42" "/api/propagate/20?seed=42"; do
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url$path")" = 200 ]; do sleep 0.05; done
done
cat > "$work/cold.lua" <<'LUA'
-- Every request asks for a new run (a new seed): a 202 starts a job.
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/api/propagate/2000?seed=" .. (1000000 + counter * 7 + math.random(0, 6)))
end
LUA
peak() { awk '/VmHWM/ {print $2 " kB"}' "/proc/$server/status"; }
echo "== warm, n=20 (cache hits), ${DURATION}s"
wrk -t2 -c32 -d"${DURATION}s" --latency "$url/api/propagate/20?seed=42" | grep -E "Requests/sec|Transfer/sec|Latency  |50%|99%|Non-2xx|errors"
echo "== warm, n=2000 (cache hits, 408 KB each), ${DURATION}s"
wrk -t2 -c32 -d"${DURATION}s" --latency "$url/api/propagate/2000?seed=42" | grep -E "Requests/sec|Transfer/sec|Latency  |50%|99%|Non-2xx|errors"
echo "== cold, n=2000 (a new run per request: 202 and a job), ${DURATION}s"
wrk -t2 -c8 -d"${DURATION}s" --latency -s "$work/cold.lua" "$url" | grep -E "Requests/sec|Transfer/sec|Latency  |50%|99%|Non-2xx|errors"
echo "server peak RSS: $(peak)"
echo "jobs started: $(curl -s "$url/metrics" | awk '/^nano_jobs_started_total/ {print $2}')"
