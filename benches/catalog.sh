#!/usr/bin/env bash
# `bash benches/catalog.sh [BIN] [STEPS] [WORKERS]`: the public catalogue of crates.io's
# `satellite` 0.1.2 (tests/tle.txt, 25,975 TLEs; `bash .ci/deps` fetches it) read by
# `catalog check`, then propagated by SGP4 for STEPS (1440) output steps of 60 s from
# 2022-08-10 on WORKERS (2) workers and logged to a fresh log: prints the read's wall
# time, the run's time in the engine (computed and logged: the "job ended" line's
# duration), the whole command's wall time and peak RSS, and the log's size. The run
# is written as an OEM to /dev/null after it is logged, which the engine's figure
# leaves out. BIN defaults to target/release/sedaro-nano.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/sedaro-nano}
STEPS=${2:-1440}
WORKERS=${3:-2}
. benches/public-tle.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo '{"model": "orbit", "epoch": "2022-08-10T00:00:00Z", "output_step_s": 60}' > "$work/catalogue.json"
start=$(date +%s.%N)
"$BIN" catalog check "$tle" | sed -n '2,6p'
end=$(date +%s.%N)
python3 -c "print('catalog check: %.3f s' % ($end - $start))"
/usr/bin/time -f '%e %M' -o "$work/time" "$BIN" propagate --scenario "$work/catalogue.json" \
  --catalog "$tle" --steps "$STEPS" --workers "$WORKERS" --data "$work/log" --format oem \
  >/dev/null 2>"$work/stderr"
grep -v 'catalogue object' "$work/stderr" | grep -o 'catalogue [0-9a-f]*: .*' || true
ms=$(grep -o 'duration_ms=[0-9]*' "$work/stderr" | tail -1 | cut -d= -f2)
read -r wall rss < "$work/time"
states=$(python3 -c "print(int(open('$work/stderr').read().split('objects kept')[0].split(': ')[-1]) * ($STEPS + 1))" 2>/dev/null || echo '?')
echo "states: $states; computed and logged: $ms ms; the command (with the OEM): $wall s, peak RSS $((rss / 1024)) MB"
echo "log: $(du -sh "$work/log" | cut -f1)"
