# Sourced by catalog.sh, catalog-screening.sh and catalog-manoeuvre.sh: sets $tle to
# crates.io's `satellite` 0.1.2 tests/tle.txt (the public catalogue, 25,975 TLEs), or
# exits when `bash .ci/deps` has not fetched it.
tle=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/satellite-0.1.2/tests/tle.txt 2>/dev/null | head -1)
if [ -z "$tle" ]; then
  echo "$(basename "$0"): satellite 0.1.2 is not fetched: run bash .ci/deps" >&2
  exit 1
fi
