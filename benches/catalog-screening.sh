#!/usr/bin/env bash
# `bash benches/catalog-screening.sh [BIN] [STEPS] [DISTANCE] [WORKERS]`: the public
# catalogue of crates.io's `satellite` 0.1.2 (tests/tle.txt, 25,975 TLEs; `bash
# .ci/deps` fetches it), all against all, from the element sets to the conjunction
# list: `screen --catalog` for STEPS (1440) output steps of 60 s from 2022-08-10 at
# DISTANCE (5) km on WORKERS (2) workers, no log. Prints the whole command's wall time
# and peak RSS, the conjunctions found, and the closest five. BIN defaults to
# target/release/sedaro-nano.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/sedaro-nano}
STEPS=${2:-1440}
DISTANCE=${3:-5}
WORKERS=${4:-2}
. benches/public-tle.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo '{"model": "orbit", "epoch": "2022-08-10T00:00:00Z", "output_step_s": 60}' > "$work/catalogue.json"
/usr/bin/time -f '%e %M' -o "$work/time" "$BIN" screen --scenario "$work/catalogue.json" \
  --catalog "$tle" --steps "$STEPS" --distance "$DISTANCE" --workers "$WORKERS" \
  --format csv >"$work/found.csv" 2>"$work/stderr"
read -r wall rss < "$work/time"
echo "screen: $wall s, peak RSS $((rss / 1024)) MB, $(($(wc -l < "$work/found.csv") - 1)) conjunctions"
head -6 "$work/found.csv"
