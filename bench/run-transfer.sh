#!/usr/bin/env bash
# run-transfer.sh BUILDDIR: file transfer on loopback, in one run — foctet
# send/receive over quic and over tls, foctet-shell perf on the same
# transports (the ceiling a transfer could reach), scp against a private
# sshd, and magic-wormhole with a local mailbox server and transit relay.
# Two cases: one large file (BENCH_BYTES, default 1G) and many small ones
# (BENCH_FILES files of BENCH_FILE_SIZE, default 5000 × 4K).  Prints a
# Markdown table: seconds, Gbit/s (bytes × 8 / seconds / 10⁹), the ratio to
# perf over the same transport, and how many times faster than scp and
# magic-wormhole each row is; for foctet (and perf), the CPU seconds per
# GiB of file bytes of the sending and the receiving process.
#
# What is timed: the receiving command, from its start to its exit, with
# the sender already up — foctet's send has hashed its files before it
# prints the ticket, magic-wormhole's send has built its offer (a zip file
# for a directory) before it prints its code; scp is one command.  perf is
# its download time (handshake apart), 1 × BENCH_BYTES.  So that foctet's
# ratio to perf compares like with like, it is taken from the receiver's
# own fetch time (receive -v: from its first GET to its last file
# verified; start-up, dial, handshake, manifest and DONE apart), shown
# beside the command's.  CPU (user +
# system): the receiving command's whole run; the sender's from the
# moment it printed its ticket (its hashing before is left out) to its
# exit; for perf, client and server during the run.
#
# scp needs /usr/sbin/sshd (Debian openssh-server), magic-wormhole the
# Debian packages magic-wormhole python3-magic-wormhole-mailbox-server
# magic-wormhole-transit-relay: not in scripts/deps.sh (the test suite does
# not need them); install them with apt-get.  Nothing of the system's is
# configured: sshd runs from a config, host key and authorized key made in
# a temporary directory, on a loopback port; the wormhole servers listen
# on loopback.  (sshd insists on /run/sshd existing; it is made if missing.)
# A tool that is missing, or fails, shows as "n/a", with why on stderr.
#
# Environment: BENCH_BYTES, BENCH_TIMEOUT as bench/lib.sh reads them (the
# runs are single: BENCH_RUNS is not used); BENCH_FILES, BENCH_FILE_SIZE.

set -u

. "$(dirname "$0")/lib.sh"
bench_init "$@"

n_files=${BENCH_FILES:-5000}
file_size=$(to_bytes "${BENCH_FILE_SIZE:-4K}") || { note "BENCH_FILE_SIZE: not a byte count"; exit 2; }
shell="$builddir/foctet-shell/foctet-shell"
plugin_args=()
for dir in transport-quic transport-tls mux-yamux; do
  [ -d "$builddir/plugins/$dir" ] || continue
  plugin_args+=(--plugin-path "$builddir/plugins/$dir")
done
if [ ! -x "$shell" ]; then
  note "$shell is not built"
  exit 1
fi

now () {
  date +%s.%N
}

free_port () {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something listens on 127.0.0.1:PORT (at most 30 s).
wait_port () {
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# The data: one large file, and a directory of small ones.
note "making the data"
mkdir -p "$tmp/data/large" "$tmp/data/small"
head -c "$per_stream" /dev/urandom >"$tmp/data/large/large.bin"
/usr/bin/python3 - "$tmp/data/small" "$n_files" "$file_size" <<'EOF'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(size))
EOF
large_bytes=$per_stream
small_bytes=$((n_files * file_size))

# timed NAME DATA OUT CMD...: runs CMD (bounded by BENCH_TIMEOUT) in OUT's
# parent, checks that OUT matches DATA; sets $seconds, or "n/a".
timed () {
  local name=$1 data=$2 out=$3 t0 t1 status
  shift 3
  t0=$(now)
  timeout -k 5 "$limit" "$@" >"$tmp/result.out" 2>"$tmp/result.err" &
  measuring_pid=$!
  wait "$measuring_pid"
  status=$?
  measuring_pid=
  t1=$(now)
  seconds=n/a
  if [ $status -ne 0 ]; then
    note "$name: failed (exit $status): $(tail -n 1 "$tmp/result.err")"
    return 1
  fi
  if ! diff -r -q "$data" "$out" >/dev/null; then
    note "$name: what arrived differs from what was sent"
    return 1
  fi
  seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# A new, empty output directory for every run, $out; nothing is deleted
# until the end.  Deleting the last run's 5 000 files just before the next
# made that one slower: ext4 without a journal (like this machine's /tmp)
# will not reuse an inode deleted less than a minute ago and searches past
# every one of them (recently_deleted () in perf), so whichever tool ran
# second paid for the first.
out_serial=0
fresh_out () {
  out_serial=$((out_serial + 1))
  out="$tmp/out.$out_serial"
  mkdir -p "$out"
}

# cpu_per_gib TICKS BYTES: CPU seconds per GiB.
cpu_per_gib () {
  awk -v t="$1" -v hz="$clock_ticks" -v b="$2" 'BEGIN { printf "%.2f", t / hz / (b / 1073741824) }'
}

# foctet_case TRANSPORT DATA: send over TRANSPORT, receive; sets $seconds,
# $send_ticks and $receive_ticks (or "n/a").
foctet_case () {
  local transport=$1 data=$2 name sender before total
  name="foctet $transport $(basename "$data")"
  fresh_out
  seconds=n/a
  send_ticks=n/a
  receive_ticks=n/a
  fetch_seconds=n/a
  # /usr/bin/time tells the sender's CPU at its exit, /proc before the receive.
  start_server "send-$transport" env FOCTET_PLUGIN_SYSTEM_PATH= /usr/bin/time -f "%U %S" -o "$tmp/send.time" \
    "$shell" -q --identity "$tmp/send-identity" "${plugin_args[@]}" send "$data" \
    --listen "$transport/127.0.0.1:0" || return
  sender=$(cat "/proc/$server_pid/task/$server_pid/children" 2>/dev/null)
  sender=${sender%% *}
  before=$(process_ticks "${sender:-0}")
  timed "$name" "$data" "$out/$(basename "$data")" \
    env FOCTET_PLUGIN_SYSTEM_PATH= /usr/bin/time -f "%U %S" -o "$tmp/receive.time" \
    "$shell" -q -v --identity "$tmp/receive-identity" "${plugin_args[@]}" receive "$ticket" --output "$out"
  if [ "$seconds" != n/a ]; then
    # Not from the shell's children: the sender, exiting meanwhile, is one.
    receive_ticks=$(awk -v hz="$clock_ticks" '{ printf "%d", ($1 + $2) * hz + 0.5 }' "$tmp/receive.time")
    fetch_seconds=$(sed -n 's/.*bytes fetched in \([0-9.]*\) s.*/\1/p' "$tmp/result.err" | tail -n 1)
    [ -n "$fetch_seconds" ] || fetch_seconds=n/a
  fi
  # The sender exits by itself once the receiver confirmed.
  for _ in $(seq 100); do
    [ -s "$tmp/send.time" ] && break
    sleep 0.1
  done
  if [ "$seconds" != n/a ] && [ -s "$tmp/send.time" ]; then
    total=$(awk -v hz="$clock_ticks" '{ printf "%d", ($1 + $2) * hz + 0.5 }' "$tmp/send.time")
    send_ticks=$((total - before))
  fi
  rm -f "$tmp/send.time" "$tmp/receive.time"
  stop_servers
}

# perf_case TRANSPORT: perf download of BENCH_BYTES; sets $perf_gbits,
# $perf_cpu ("server s/GiB, client s/GiB").
perf_case () {
  local transport=$1 before
  perf_gbits=n/a
  perf_cpu="n/a"
  start_server "serve-$transport" env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" --identity "$tmp/serve-identity" \
    "${plugin_args[@]}" serve --listen "$transport/127.0.0.1:0" || return
  before=$(process_ticks "$server_pid")
  if run_once "perf $transport" "$server_pid" env FOCTET_PLUGIN_SYSTEM_PATH= "$shell" -q \
       --identity "$tmp/perf-identity" "${plugin_args[@]}" perf "$ticket" --transport "$transport" \
       --download "$per_stream" --upload 0 --json; then
    perf_gbits=$(perf_gbits download "$per_stream") || perf_gbits=n/a
    before=$(( $(process_ticks "$server_pid") - before ))
    perf_cpu="CPU $(cpu_per_gib "$before" "$per_stream") s/GiB sending, $(cpu_per_gib $((ticks - before)) "$per_stream") receiving"
  fi
  stop_servers
}

# scp against a private sshd.
sshd_port=
start_sshd () {
  if [ ! -x /usr/sbin/sshd ] || ! command -v scp >/dev/null; then
    note "scp: /usr/sbin/sshd or scp missing (apt-get install openssh-server openssh-client)"
    return 1
  fi
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key" || return 1
  ssh-keygen -q -t ed25519 -N '' -f "$tmp/client_key" || return 1
  cp "$tmp/client_key.pub" "$tmp/authorized_keys"
  sshd_port=$(free_port)
  cat >"$tmp/sshd_config" <<EOF
Port $sshd_port
ListenAddress 127.0.0.1
HostKey $tmp/host_key
AuthorizedKeysFile $tmp/authorized_keys
PidFile $tmp/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
EOF
  /usr/sbin/sshd -D -e -f "$tmp/sshd_config" 2>"$tmp/sshd.err" &
  sshd_pid=$!
  on_cleanup kill "$sshd_pid"
  wait_port "$sshd_port" || { note "scp: sshd did not start: $(tail -n 1 "$tmp/sshd.err")"; return 1; }
}

scp_case () {
  local data=$1
  fresh_out
  seconds=n/a
  [ -n "$sshd_port" ] || return
  timed "scp $(basename "$data")" "$data" "$out/$(basename "$data")" \
    scp -q -r -P "$sshd_port" -i "$tmp/client_key" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$data" "$(id -un)@127.0.0.1:$out/"
}

# magic-wormhole with a local mailbox server and transit relay.
wormhole_args=()
start_wormhole_servers () {
  local mailbox_port transit_port
  if ! command -v wormhole >/dev/null || ! command -v twist3 >/dev/null; then
    note "magic-wormhole: not installed (apt-get install magic-wormhole python3-magic-wormhole-mailbox-server" \
      "magic-wormhole-transit-relay)"
    return 1
  fi
  mailbox_port=$(free_port)
  transit_port=$(free_port)
  (cd "$tmp" && exec twist3 wormhole-mailbox --port "tcp:$mailbox_port:interface=127.0.0.1" \
     --channel-db "$tmp/mailbox.sqlite") >"$tmp/mailbox.log" 2>&1 &
  on_cleanup kill $!
  (cd "$tmp" && exec twist3 transitrelay --port "tcp:$transit_port:interface=127.0.0.1") >"$tmp/transit.log" 2>&1 &
  on_cleanup kill $!
  wait_port "$mailbox_port" && wait_port "$transit_port" ||
    { note "magic-wormhole: the local servers did not start"; return 1; }
  wormhole_args=(--relay-url "ws://127.0.0.1:$mailbox_port/v1" --transit-helper "tcp:127.0.0.1:$transit_port")
}

wormhole_case () {
  local data=$1 code="7-foctet-bench$RANDOM" sender
  fresh_out
  seconds=n/a
  [ ${#wormhole_args[@]} -gt 0 ] || return
  (cd "$(dirname "$data")" && exec timeout -k 5 "$limit" wormhole "${wormhole_args[@]}" send --hide-progress \
     --code "$code" "$(basename "$data")") >"$tmp/wormhole-send.log" 2>&1 &
  sender=$!
  # Ready once it tells what to run on the other side.
  for _ in $(seq 1200); do
    grep -q "wormhole receive" "$tmp/wormhole-send.log" && break
    kill -0 "$sender" 2>/dev/null || break
    sleep 0.1
  done
  (cd "$out" && timed "wormhole $(basename "$data")" "$data" "$out/$(basename "$data")" \
     wormhole "${wormhole_args[@]}" receive --hide-progress --accept-file "$code"; echo "$seconds" >"$tmp/seconds")
  seconds=$(cat "$tmp/seconds")
  wait "$sender" 2>/dev/null
}

start_sshd
start_wormhole_servers

note "measuring perf"
perf_case quic; perf_quic=$perf_gbits; perf_cpu_quic=$perf_cpu
perf_case tls; perf_tls=$perf_gbits; perf_cpu_tls=$perf_cpu

gbits () {
  case "$2" in n/a) echo n/a ;; *) awk -v b="$1" -v s="$2" 'BEGIN { printf "%.2f", b * 8 / s / 1e9 }' ;; esac
}

# faster OTHER_SECONDS SECONDS: how many times faster than the other tool.
faster () {
  ratio "$1" "$2"
}

echo "File transfer on loopback, one run per cell $(machine_line)"
echo "perf download, $bytes: quic $(printf %.2f "$perf_quic" 2>/dev/null || echo n/a) Gbit/s ($perf_cpu_quic)," \
  "tls $(printf %.2f "$perf_tls" 2>/dev/null || echo n/a) Gbit/s ($perf_cpu_tls)."
echo
echo "| case | tool | seconds | Gbit/s | fetch seconds | fetch of perf | × scp | × magic-wormhole | CPU send s/GiB | CPU receive s/GiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for case in large small; do
  data="$tmp/data/$case"
  if [ "$case" = large ]; then
    # The file itself: magic-wormhole would deflate a directory into a zip.
    data="$tmp/data/large/large.bin"
    label="1 file of $bytes"; case_bytes=$large_bytes
  else
    label="$n_files files of ${BENCH_FILE_SIZE:-4K}"; case_bytes=$small_bytes
  fi
  note "measuring $label"
  foctet_case quic "$data"; fq=$seconds; cq="$send_ticks:$receive_ticks"; feq=$fetch_seconds
  foctet_case tls "$data"; ft=$seconds; ct="$send_ticks:$receive_ticks"; fet=$fetch_seconds
  scp_case "$data"; sc=$seconds
  wormhole_case "$data"; wh=$seconds
  for row in "foctet quic:$fq:$perf_quic:$cq:$feq" "foctet tls:$ft:$perf_tls:$ct:$fet" "scp:$sc::::" \
             "magic-wormhole:$wh::::"; do
    IFS=: read -r tool s perf cs cr fs <<<"$row"
    g=$(gbits "$case_bytes" "$s")
    of_perf=
    [ -n "$perf" ] && of_perf=$(ratio "$(gbits "$case_bytes" "$fs")" "$perf")
    for v in cs cr; do
      case ${!v} in ''|n/a) ;; *) printf -v "$v" %s "$(cpu_per_gib "${!v}" "$case_bytes")" ;; esac
    done
    echo "| $label | $tool | $s | $g | $fs | $of_perf | $(faster "$sc" "$s") | $(faster "$wh" "$s") | $cs | $cr |"
  done
done
