#!/usr/bin/env bash
# STUN Binding and RDV-REGISTER rates of otaswarm-rendezvous against coturn's Binding rate
# (--stun-only), side by side in one run, loopback, same load generator driven from many
# source addresses (127.x.y.z). Server and load generator are pinned to different CPUs
# (taskset) and each server runs one thread, so a server's rate is its rate on one core; the
# server's own CPU seconds (from /proc/PID/stat) give responses per CPU second as well.
# Rewrites docs/rendezvous-benchmarks.md.
# usage: rendezvous/tools/bench.sh [BUILD_DIR] [BASELINE_RENDEZVOUS_BINARY]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build}/bin
BASELINE=${2:-}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
RUNS=${RUNS:-3}
SOURCES=${SOURCES:-2000}
WINDOW=${WINDOW:-64}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
OUT=${OUT:-$ROOT/docs/rendezvous-benchmarks.md}
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/key"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# run ADDR METHOD PID → "responses/s responses-per-server-cpu-second"
run() {
  local before after json
  before=$(cpu_ticks "$3")
  json=$(taskset -c "$CLIENT_CPU" "$BIN/otaswarm-stun-bench" "$1" --threads 1 --sources "$SOURCES" --window "$WINDOW" \
    --seconds "$SECONDS_PER_RUN" --method "$2" --token-key-file "$TMP/key")
  after=$(cpu_ticks "$3")
  /usr/bin/python3 -c '
import json, os, sys
r = json.loads(sys.argv[1]); cpu = (int(sys.argv[3]) - int(sys.argv[2])) / os.sysconf("SC_CLK_TCK")
print(int(r["responses_per_second"]), int(r["responses"] / cpu) if cpu > 0 else 0)' "$json" "$before" "$after"
}
# measure ADDR METHOD PID → medians "rate per_cpu_second"
measure() {
  for _ in $(seq "$RUNS"); do run "$@"; done >"$TMP/runs"
  echo "$(cut -d' ' -f1 "$TMP/runs" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p") $(cut -d' ' -f2 "$TMP/runs" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")"
}

start_rdv() {  # BINARY; sets RDV_ADDR, RDV_PID
  taskset -c "$SERVER_CPU" "$1" --stun-listen 127.0.0.1:0 --alt-ip 127.0.0.2 --api-listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 --threads 1 --rate-per-address 0 --rate-per-device 0 \
    --token-key-file "$TMP/key" --max-registrations 1000000 >"$TMP/ready" 2>"$TMP/rdv.log" &
  RDV_PID=$!
  PIDS+=("$RDV_PID")
  for _ in $(seq 100); do [ -s "$TMP/ready" ] && break; sleep 0.05; done
  RDV_ADDR=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stun"])' "$TMP/ready")
}
stop_pid() {
  kill "$1"; wait "$1" 2>/dev/null || true
  local keep=(); for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done; PIDS=("${keep[@]}")
}

declare -A R
start_rdv "$BIN/otaswarm-rendezvous"
R[rdv,binding]=$(measure "$RDV_ADDR" binding "$RDV_PID")
R[rdv,register]=$(measure "$RDV_ADDR" register "$RDV_PID")
stop_pid "$RDV_PID"
if [ -n "$BASELINE" ]; then
  start_rdv "$BASELINE"
  R[base,binding]=$(measure "$RDV_ADDR" binding "$RDV_PID")
  R[base,register]=$(measure "$RDV_ADDR" register "$RDV_PID")
  stop_pid "$RDV_PID"
fi
CPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c "$SERVER_CPU" turnserver -n --listening-ip=127.0.0.1 --listening-port="$CPORT" --stun-only --no-tls \
  --no-dtls --no-cli --no-rfc5780 --relay-threads=1 --pidfile="$TMP/turn.pid" --userdb="$TMP/turndb" \
  --log-file="$TMP/turn.log" --simple-log >/dev/null 2>&1 &
TURN_PID=$!
PIDS+=("$TURN_PID")
for _ in $(seq 100); do ss -Hlun "sport = :$CPORT" | grep -q 127.0.0.1 && break; sleep 0.05; done
R[coturn,binding]=$(measure "127.0.0.1:$CPORT" binding "$TURN_PID")
stop_pid "$TURN_PID"

ratio() { /usr/bin/python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }
read -r cb_rate cb_cpu <<<"${R[coturn,binding]}"
CPU=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
COTURN_V=$(dpkg-query -W -f='${Version}' coturn 2>/dev/null || echo unknown)
row() {  # label "rate cpu"
  local rate cpu; read -r rate cpu <<<"$2"
  echo "| $1 | $rate | $(ratio "$rate" "$cb_rate") | $cpu | $(ratio "$cpu" "$cb_cpu") |"
}
{
  echo "# Rendezvous benchmarks"
  echo
  echo "STUN Binding and RDV-REGISTER answered per second by \`otaswarm-rendezvous --threads 1\`,"
  echo "against coturn $COTURN_V as a plain STUN server (\`--stun-only --relay-threads=1\`), side by"
  echo "side in one run of \`rendezvous/tools/bench.sh\`. Load: \`otaswarm-stun-bench\` with one"
  echo "thread keeping $WINDOW requests in flight, sent in turn from $SOURCES distinct loopback source"
  echo "addresses (127.0.0.1, 127.0.0.2, …, via IP_PKTINFO; as phones come from many addresses) and"
  echo "counting valid success responses; RDV-REGISTER: source k is device \`bench-k\` with its own"
  echo "token, registering again and again (the refresh path). Each server is pinned to CPU"
  echo "$SERVER_CPU and the load generator to CPU $CLIENT_CPU (\`taskset\`), so \"per second\" is per"
  echo "core; \"per CPU second\" divides the responses by the server's own user+system CPU time"
  echo "(\`/proc/PID/stat\`), which does not depend on how busy the load generator kept it."
  echo "Median of $RUNS runs of ${SECONDS_PER_RUN} s, 2-CPU shared machine ($CPU)."
  echo
  echo "The rendezvous runs with \`--rate-per-address 0 --rate-per-device 0\` (the limiters still"
  echo "run, unlimited: a benchmark device refreshes far faster than its limit), \`--alt-ip 127.0.0.2\`"
  echo "(four sockets, RFC 5780 replies: XOR-MAPPED-ADDRESS, OTHER-ADDRESS, RESPONSE-ORIGIN,"
  echo "FINGERPRINT) and the memory registration store; an RDV-REGISTER answer verifies the device"
  echo "token (HMAC), updates the registration and mints a NAT ticket (HMAC)."
  echo
  echo "| server, request | responses/s (one core) | × coturn Binding | responses per CPU second | × coturn Binding |"
  echo "|---|---|---|---|---|"
  row "otaswarm-rendezvous, Binding" "${R[rdv,binding]}"
  row "otaswarm-rendezvous, RDV-REGISTER" "${R[rdv,register]}"
  if [ -n "$BASELINE" ]; then
    row "before batching ($(basename "$(dirname "$(dirname "$BASELINE")")") build), Binding" "${R[base,binding]}"
    row "before batching, RDV-REGISTER" "${R[base,register]}"
  fi
  row "coturn, Binding" "${R[coturn,binding]}"
  echo
  echo "Reproduce: \`rendezvous/tools/bench.sh [BUILD_DIR] [BASELINE_BINARY]\` (rewrites this file;"
  echo "\`SOURCES\`, \`WINDOW\`, \`RUNS\`, \`SECONDS_PER_RUN\`, \`SERVER_CPU\`, \`CLIENT_CPU\` override"
  echo "the defaults). Every process it starts is stopped by its PID. Run-to-run spread on this"
  echo "shared machine is large (±20 %); differences smaller than that are noise."
  echo
  echo "Measured $(date -u +%Y-%m-%dT%H:%MZ)."
} >"$OUT"
cat "$OUT"
