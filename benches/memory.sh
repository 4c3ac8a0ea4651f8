#!/usr/bin/env bash
# `bash benches/memory.sh [BIN]`: peak RSS (the kernel's VmHWM) of `replay` and `verify`
# of a logged N-iteration run (N=5000000 by default), then of `serve` answering the
# acceptance workload of tests/memory.rs on it: three whole CSV downloads, three page
# series (points=5000) and a hundred cached requests at once. Loopback only; bounded.
# BIN defaults to target/release/sedaro-nano; give an older build to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/sedaro-nano}
N=${N:-5000000}
SEED=3
work=$(mktemp -d)
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
server=
peak() { /usr/bin/time -f "%M kB" "$@" 2>&1 >/dev/null | tail -1; }

"$BIN" propagate --steps "$N" --seed "$SEED" --data "$work/data" --format csv >/dev/null 2>&1
echo "log of $N iterations: $(du -sh "$work/data" | cut -f1)"
echo "replay (csv): $(peak "$BIN" replay --steps "$N" --seed "$SEED" --data "$work/data" --format csv)"
echo "verify:       $(peak "$BIN" verify --data "$work/data")"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
flags=()
"$BIN" serve --help | grep -q -- --memory-mb && flags=(--memory-mb 512)
"$BIN" serve --listen "127.0.0.1:$port" --data "$work/data" "${flags[@]}" 2>"$work/serve.log" &
server=$!
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.05; done
curl -sf -o /dev/null "$url/api/propagate/2000?seed=$SEED"
pids=()
for _ in 1 2 3; do curl -s -o /dev/null "$url/api/propagate/$N?seed=$SEED&format=csv" & pids+=($!); done
for _ in 1 2 3; do curl -s -o /dev/null "$url/api/propagate/$N?seed=$SEED&points=5000" & pids+=($!); done
for _ in $(seq 100); do curl -s -o /dev/null "$url/api/propagate/2000?seed=$SEED" & pids+=($!); done
wait "${pids[@]}"
echo "serve ${flags[*]:-(no budget)}, 3 CSV + 3 series + 100 cached: $(awk '/VmHWM/ {print $2 " kB"}' "/proc/$server/status")"
