# Sourced by load.sh and soak.sh: starts a fresh `serve` on a free loopback port with
# no rate limit, stops it (and removes its log) on exit. Sets $server, $work, $url.
BIN=target/release/sedaro-nano
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" serve --listen "127.0.0.1:$port" --data "$work/data" --rate-limit 1000000 --max-jobs 1000 2>"$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
url="http://127.0.0.1:$port"
