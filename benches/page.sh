#!/usr/bin/env bash
# The run page of a large logged run in Chromium: milliseconds from the start of the
# navigation to the plot drawn (web/e2e/plot-time.mjs). Each view is made on a `serve`
# started afresh on the log, so nothing is in its cache: what a view costs after a
# restart. Prints every view's time and the median.
#
# Usage: bash benches/page.sh [BIN]
#   N=5000000 SEED=1 VIEWS=5 DATA=target/page-bench-data (kept between runs: computing
#   the run takes about a minute; a log written by another build of the same format
#   serves as well)
set -euo pipefail
BIN=${1:-target/release/sedaro-nano}
N=${N:-5000000}
SEED=${SEED:-1}
VIEWS=${VIEWS:-5}
DATA=${DATA:-target/page-bench-data}

if ! "$BIN" replay --steps "$N" --seed "$SEED" --data "$DATA" --format csv 2>/dev/null | head -c 1 >/dev/null; then
    echo "computing the run of $N iterations into $DATA" >&2
    "$BIN" propagate --steps "$N" --seed "$SEED" --data "$DATA" --format csv >/dev/null
fi

times=()
for view in $(seq "$VIEWS"); do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$BIN" serve --listen "127.0.0.1:$port" --data "$DATA" 2>"$DATA.serve.log" &
    server=$!
    trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
    for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
    ms=$(node web/e2e/plot-time.mjs "http://127.0.0.1:$port/propagate/$N?seed=$SEED" 1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["median"])')
    echo "view $view (a fresh serve): $ms ms" >&2
    times+=("$ms")
    kill "$server"
    wait "$server" 2>/dev/null || true
done
printf '%s\n' "${times[@]}" | sort -n | python3 -c '
import sys
t = [int(l) for l in sys.stdin]
print(f"page of a {sys.argv[1]}-iteration run, to the plot: views {t} ms, median {t[len(t)//2]} ms")' "$N"
