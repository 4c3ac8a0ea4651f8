# Sourced by load.sh, soak.sh, manoeuvres.sh and catalog-manoeuvre.sh: starts a fresh `serve` on a loopback
# port (PORT, default a free one) with no rate limit and the extra flags in SERVE_FLAGS,
# stops it (and removes its log) on exit. Sets $server, $work, $url.
BIN=${BIN:-target/release/sedaro-nano}
work=$(mktemp -d)
port=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
"$BIN" serve --listen "127.0.0.1:$port" --data "$work/data" --rate-limit 1000000 --max-jobs 1000 ${SERVE_FLAGS:-} 2>"$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
url="http://127.0.0.1:$port"
