#!/usr/bin/env bash
# Installs what foctet needs, builds it, and runs two foctet-shell nodes on
# this machine talking to each other: one serves, the other pings it and
# measures throughput with the perf protocol.
#
# Node A listens on both transports, "quic" (QUIC v1) and "tls" (TCP, TLS
# 1.3, yamux streams inside), both with mutual Ed25519 certificates; node B
# dials its ticket, which races the two (QUIC wins), then forces each one.
# Then a relay: foctet-relay on loopback, node C reachable only through it
# (a reservation there, no direct address in its ticket), node B pings and
# measures through it; the relay forwards only ciphertext (both ends run
# TLS and yamux inside the circuit).  Last, node A sends a directory tree
# to node B (foctet-shell send / receive), which verifies every file.
# The plugins are loaded at run time from the build tree exactly as from the
# installed plugin directory.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

./scripts/deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build

shell=$top/build/foctet-shell/foctet-shell
relay=$top/build/plugins/relay/foctet-relay
export FOCTET_PLUGIN_PATH=$top/build/plugins/transport-quic:$top/build/plugins/transport-tls:$top/build/plugins/mux-yamux:$top/build/plugins/relay
export FOCTET_PLUGIN_SYSTEM_PATH=

work=$(mktemp -d)
server_pid=
relay_pid=
relayed_pid=
cleanup() {
  for pid in "$server_pid" "$relay_pid" "$relayed_pid"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Plugins this build found"
"$shell" plugins

step "Node A: identity"
"$shell" --identity "$work/a.key" id

step "Node A: serve on loopback"
"$shell" --identity "$work/a.key" serve --listen quic/127.0.0.1:0 --listen tls/127.0.0.1:0 \
  >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
uri=
for _ in $(seq 100); do
  uri=$(grep -oE 'tls/127\.0\.0\.1:[0-9]+' "$work/serve.err" | head -n 1 || true)
  [ -n "$uri" ] && [ -s "$work/serve.out" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$uri" ] || { echo "demo: the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }
ticket=$(head -n 1 "$work/serve.out")
echo "ticket:    $ticket"
echo "listening: $uri"

step "Node B: ping node A (the dial races QUIC and TLS)"
"$shell" --identity "$work/b.key" ping "$ticket" --count 3

for transport in quic tls; do
  step "Node B: perf over $transport, 1 GiB each way"
  "$shell" --identity "$work/b.key" perf "$ticket" --transport $transport --upload 1G --download 1G

  step "Node B: perf over $transport, 8 streams at once, as JSON"
  "$shell" --identity "$work/b.key" perf "$ticket" --transport $transport --upload 128M --download 128M \
    --streams 8 --json
done


step "Node A: shut down"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=

# wait_line FILE PID: waits (at most 10 s) for FILE's first line.
wait_line() {
  for _ in $(seq 100); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: no output from process $2" >&2
  return 1
}

step "A relay on loopback"
"$relay" --listen 127.0.0.1:0 >"$work/relay.out" 2>"$work/relay.err" &
relay_pid=$!
wait_line "$work/relay.out" "$relay_pid"
head -n 1 "$work/relay.out"
relay_address=$(head -n 1 "$work/relay.out" | cut -d' ' -f3)

step "Node C: reachable only through the relay (like a node behind a NAT)"
"$shell" --identity "$work/c.key" serve --listen "relay/$relay_address" >"$work/c.out" 2>"$work/c.err" &
relayed_pid=$!
wait_line "$work/c.out" "$relayed_pid"
sleep 0.2
cat "$work/c.err"
relayed_ticket=$(head -n 1 "$work/c.out")
echo "ticket: $relayed_ticket"

step "Node B: ping node C"
"$shell" --identity "$work/b.key" ping "$relayed_ticket" --count 3

step "Node B: ping node C knowing only its NodeId and the relay (the relay's directory)"
"$shell" --identity "$work/b.key" ping "$("$shell" --identity "$work/c.key" id)" --relay "$relay_address" --count 2

step "Node B: perf through the relay, 1 GiB each way"
"$shell" --identity "$work/b.key" perf "$relayed_ticket" --upload 1G --download 1G

step "Relay: its log and counters"
kill -USR1 "$relay_pid"
sleep 0.2
cat "$work/relay.err"

step "Node C and the relay: shut down"
kill -TERM "$relayed_pid" "$relay_pid"
wait "$relayed_pid" "$relay_pid" || true
relayed_pid=
relay_pid=

step "File transfer: node A sends a directory tree, node B receives and verifies it"
mkdir -p "$work/outbox/photos/2026" "$work/inbox"
head -c 64M /dev/urandom >"$work/outbox/photos/2026/big.raw"
for i in $(seq 200); do head -c 4096 /dev/urandom >"$work/outbox/photos/small-$i.jpg"; done
echo "hello from node A" >"$work/outbox/README.txt"
"$shell" --identity "$work/a.key" send "$work/outbox" >"$work/send.out" 2>"$work/send.err" &
server_pid=$!
wait_line "$work/send.out" "$server_pid"
echo "ticket: $(head -n 1 "$work/send.out")"
"$shell" --identity "$work/b.key" receive "$(head -n 1 "$work/send.out")" --output "$work/inbox"
wait "$server_pid"
server_pid=
diff -r "$work/outbox" "$work/inbox/outbox" && echo "the received tree is identical"
echo "done"
