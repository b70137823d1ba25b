#!/usr/bin/env bash
# Binding responses per second: otaswarm-rendezvous vs coturn (--stun-only) on loopback,
# side by side, same load generator. Rewrites docs/rendezvous-benchmarks.md.
# usage: rendezvous/tools/bench.sh [BUILD_DIR]   (default build/)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build}/bin
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
RUNS=${RUNS:-3}
WINDOW=32
OUT=$ROOT/docs/rendezvous-benchmarks.md
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {  # measure SERVER CLIENT_THREADS → median responses/s
  for _ in $(seq "$RUNS"); do
    "$BIN/otaswarm-stun-bench" "$1" --threads "$2" --window $WINDOW --seconds "$SECONDS_PER_RUN" |
      /usr/bin/python3 -c 'import json,sys; print(int(json.load(sys.stdin)["responses_per_second"]))'
  done | median
}

start_rdv() {  # threads; the STUN address lands in $TMP/addr
  "$BIN/otaswarm-rendezvous" --stun-listen 127.0.0.1:0 --alt-ip 127.0.0.2 --api-listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 --threads "$1" --rate-per-address 0 >"$TMP/ready.$1" 2>"$TMP/rdv.log.$1" &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$TMP/ready.$1" ] && break; sleep 0.05; done
  /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stun"])' "$TMP/ready.$1" >"$TMP/addr"
}

stop_last() { local p=${PIDS[-1]}; kill "$p"; wait "$p" 2>/dev/null || true; unset 'PIDS[-1]'; }

declare -A R
for t in 1 2; do
  start_rdv $t
  addr=$(cat "$TMP/addr")
  for c in 1 2; do R[rdv,$t,$c]=$(measure "$addr" $c); done
  stop_last
done
CPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for t in 1 2; do
  turnserver -n --listening-ip=127.0.0.1 --listening-port="$CPORT" --stun-only --no-tls --no-dtls --no-cli \
    --no-rfc5780 --relay-threads="$t" --pidfile="$TMP/turn.pid" --userdb="$TMP/turndb.$t" \
    --log-file="$TMP/turn.log" --simple-log >/dev/null 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do ss -Hlun "sport = :$CPORT" | grep -q 127.0.0.1 && break; sleep 0.05; done
  for c in 1 2; do R[coturn,$t,$c]=$(measure "127.0.0.1:$CPORT" $c); done
  stop_last
done

CPU=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
NCPU=$(nproc)
COTURN_V=$(dpkg-query -W -f='${Version}' coturn 2>/dev/null || echo unknown)
{
  echo "# Rendezvous benchmarks"
  echo
  echo "STUN Binding responses per second, otaswarm-rendezvous against coturn $COTURN_V as a"
  echo "plain STUN server (\`--stun-only\`), same load generator (\`otaswarm-stun-bench\`: each client"
  echo "thread keeps $WINDOW requests with FINGERPRINT in flight on its own socket and counts valid"
  echo "success responses). Median of $RUNS runs of ${SECONDS_PER_RUN} s, loopback, on $NCPU CPU(s)"
  echo "($CPU) shared by the load generator and the server, so the absolute figures are bounded by the"
  echo "machine, not by either server; the comparison is the point."
  echo
  echo "Reproduce: \`rendezvous/tools/bench.sh [BUILD_DIR]\` (rewrites this file). The rendezvous runs"
  echo "with \`--rate-per-address 0\`: with the default per-address limit (2000/s, sized for a"
  echo "carrier-grade NAT address) a single-address load generator would be measuring the limiter."
  echo
  echo "| server | server threads | client threads | responses/s |"
  echo "|---|---|---|---|"
  for s in rdv coturn; do for t in 1 2; do for c in 1 2; do
    name=$([ $s = rdv ] && echo "otaswarm-rendezvous (\`--threads $t\`)" || echo "coturn (\`--relay-threads $t\`)")
    echo "| $name | $t | $c | ${R[$s,$t,$c]} |"
  done; done; done
  echo
  echo "The rendezvous answers the 28-byte request with 64 bytes (XOR-MAPPED-ADDRESS, OTHER-ADDRESS,"
  echo "RESPONSE-ORIGIN, FINGERPRINT; SOFTWARE is left out because it would break the 3x amplification"
  echo "bound, docs/nat.md). Reply contents of coturn are its own; only the rate is compared."
  echo "Run-to-run spread on this shared machine is large (±20 %); differences smaller than that are noise."
  echo
  echo "Measured $(date -u +%Y-%m-%dT%H:%MZ)."
} >"$OUT"
cat "$OUT"
