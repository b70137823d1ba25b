#!/usr/bin/env bash
# User-space instructions (callgrind) or native CPU time per token-checked UDP announce of
# otaswarm-tracker --threads 1, on loopback. Usage:
#   scripts/profile-udp.sh callgrind [BUILD_DIR]   # instructions / announce (repeatable)
#   scripts/profile-udp.sh native [BUILD_DIR]      # server CPU µs / announce (noisy on a shared machine)
# Tunables (environment): PROFILE_RATE, PROFILE_DURATION, PROFILE_PHONES, PROFILE_OPEN=1 (--open,
# no token), PROFILE_KEEP=DIR (keep the callgrind output there), PROFILE_TRACKER=BINARY,
# PROFILE_CALLGRIND_ARGS (extra valgrind options, e.g. --dump-instr=yes for per-instruction costs).
set -euo pipefail

MODE="${1:-callgrind}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${2:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
BIN="$BUILD_DIR/bin"
TRACKER="${PROFILE_TRACKER:-$BIN/otaswarm-tracker}"
if [ "$MODE" = callgrind ]; then
  RATE="${PROFILE_RATE:-500}" DURATION="${PROFILE_DURATION:-6}"
else
  RATE="${PROFILE_RATE:-20000}" DURATION="${PROFILE_DURATION:-5}"
fi
PHONES="${PROFILE_PHONES:-2000}"
TMP="$(mktemp -d /tmp/otaswarm-profile-XXXXXX)"
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

/usr/bin/python3 - "$TMP" <<'PY'
import hashlib, os, secrets, sys
tmp = sys.argv[1]
def bencode(v):
    if isinstance(v, int): return b"i%de" % v
    if isinstance(v, str): v = v.encode()
    if isinstance(v, bytes): return b"%d:%s" % (len(v), v)
    if isinstance(v, list): return b"l" + b"".join(bencode(x) for x in v) + b"e"
    items = sorted((k.encode(), x) for k, x in v.items())
    return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"
info = {"length": 1 << 30, "name": "ota-bench.img", "piece length": 1 << 20,
        "pieces": hashlib.sha1(b"bench").digest() * 1024, "private": 1}
open(os.path.join(tmp, "ota.torrent"), "wb").write(bencode({"announce": "udp://127.0.0.1:1/announce", "info": info}))
open(os.path.join(tmp, "token.key"), "w").write(secrets.token_hex(32) + "\n")
open(os.path.join(tmp, "admin.token"), "w").write(secrets.token_hex(32) + "\n")
PY

OPEN=()
LOAD_EXTRA=(--token-key-file "$TMP/token.key")
if [ "${PROFILE_OPEN:-0}" = 1 ]; then OPEN=(--open); LOAD_EXTRA=(); fi
WRAP=()
if [ "$MODE" = callgrind ]; then
  WRAP=(valgrind --tool=callgrind --collect-atstart=yes --callgrind-out-file="$TMP/cg.out" ${PROFILE_CALLGRIND_ARGS:-})
fi
"${WRAP[@]}" "$TRACKER" --threads 1 --http-listen 127.0.0.1:0 --udp-listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 --token-key-file "$TMP/token.key" --admin-token-file "$TMP/admin.token" \
  --data-dir "$TMP/data" --rate-device 0 --rate-address 0 --log-level warn "${OPEN[@]}" \
  >"$TMP/ready" 2>"$TMP/err" &
PID=$!
for _ in $(seq 1 300); do [ -s "$TMP/ready" ] && break; sleep 0.1; done
[ -s "$TMP/ready" ] || { echo "profile: tracker did not start" >&2; cat "$TMP/err" >&2; exit 1; }
read -r UDP ADMIN < <(/usr/bin/python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline());
u=r["udp"][0] if isinstance(r["udp"],list) else r["udp"]; print(u, r["admin"])' "$TMP/ready")
curl -sf -X POST -H "Authorization: Bearer $(cat "$TMP/admin.token")" -H 'Content-Type: application/x-bittorrent' \
  --data-binary @"$TMP/ota.torrent" "http://$ADMIN/api/v1/releases" >/dev/null

load() {  # $1 = rate, $2 = duration, $3 = device prefix
  "$BIN/otaswarm-loadtest" load --tracker "udp://$UDP/announce" --torrent "$TMP/ota.torrent" "${LOAD_EXTRA[@]}" \
    --rate "$1" --duration "$2" --phones "$PHONES" --periodic 0 --stopped --source-ips 127.1.0.0/16 \
    --sockets 256 --device-prefix "$3" --json
}
answered() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["answered"])'; }
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
usr() { awk '{print $14}' "/proc/$PID/stat"; }

load "$RATE" 2 warm- >/dev/null  # warm-up: swarm filled, allocator and caches warm
if [ "$MODE" = callgrind ]; then
  callgrind_control -z "$PID" >/dev/null
  N=$(load "$RATE" "$DURATION" run- | answered)
  callgrind_control -d "$PID" >/dev/null
  sleep 1
  TOTAL=$(callgrind_annotate "$(ls -t "$TMP"/cg.out* | head -1)" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "answered $N  instructions $TOTAL  per announce $((TOTAL / N))"
  if [ -n "${PROFILE_KEEP:-}" ]; then mkdir -p "$PROFILE_KEEP"; cp "$TMP"/cg.out* "$PROFILE_KEEP"/; fi
else
  TCK=$(getconf CLK_TCK)
  C0=$(cpu) U0=$(usr)
  N=$(load "$RATE" "$DURATION" run- | answered)
  C1=$(cpu) U1=$(usr)
  /usr/bin/python3 -c "import sys; n,c,u,t=int(sys.argv[1]),int(sys.argv[3])-int(sys.argv[2]),int(sys.argv[5])-int(sys.argv[4]),int(sys.argv[6]);
print('answered %d  server cpu %.2f s (user %.2f s)  %.2f us per announce (user %.2f us)  %.0f announces per CPU-s' % (n, c/t, u/t, 1e6*c/t/n, 1e6*u/t/n, n*t/c))" \
    "$N" "$C0" "$C1" "$U0" "$U1" "$TCK"
fi
