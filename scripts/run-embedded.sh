#!/usr/bin/env bash
# `make run`: the tracker and the rendezvous in embedded mode (in-memory store, data dir
# ./var), plus coturn as the relay when it is installed. Ctrl-C stops everything.
set -euo pipefail

BUILD_DIR="${1:-build}"
BIN="$BUILD_DIR/bin"
VAR="${OTASWARM_VAR:-./var}"
HOST="${OTASWARM_HOST:-127.0.0.1}"
HTTP_PORT="${OTASWARM_HTTP_PORT:-6969}"
UDP_PORT="${OTASWARM_UDP_PORT:-6969}"
ADMIN_PORT="${OTASWARM_ADMIN_PORT:-6970}"
STUN_PORT="${OTASWARM_STUN_PORT:-3478}"
ALT_IP="${OTASWARM_ALT_IP:-127.0.0.2}"
API_PORT="${OTASWARM_API_PORT:-8480}"
RDV_ADMIN_PORT="${OTASWARM_RDV_ADMIN_PORT:-9480}"
TURN_PORT="${OTASWARM_TURN_PORT:-3490}"

mkdir -p "$VAR/logs"
secret() {  # creates a random secret file once; keeps it across runs
  local f="$VAR/$1"
  if [ ! -s "$f" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$f" && echo >> "$f")
  fi
  echo "$f"
}
TOKEN_KEY=$(secret token.key)
ADMIN_TOKEN=$(secret admin.token)
TURN_SECRET=$(secret turn.secret)

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping…"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "stopped."
}
trap cleanup INT TERM EXIT

# Starts a server and waits for its one-line JSON ready message.
start() {
  local name="$1"; shift
  local ready="$VAR/logs/$name.ready"
  : > "$ready"
  "$@" > "$ready" 2> "$VAR/logs/$name.log" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 100); do
    if [ -s "$ready" ]; then cat "$ready"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name failed to start:" >&2; cat "$VAR/logs/$name.log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "$name did not become ready; see $VAR/logs/$name.log" >&2
  exit 1
}

TRACKER_READY=$(start tracker "$BIN/otaswarm-tracker" \
  --http-listen "$HOST:$HTTP_PORT" --udp-listen "$HOST:$UDP_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --token-key-file "$TOKEN_KEY" --admin-token-file "$ADMIN_TOKEN" --data-dir "$VAR")

TURN_URI=()
if command -v turnserver >/dev/null 2>&1; then
  start_coturn() {
    turnserver -n --listening-ip=127.0.0.1 --listening-port="$TURN_PORT" --use-auth-secret \
      --static-auth-secret="$(tr -d '\n' < "$TURN_SECRET")" --realm=otaswarm --no-tls --no-dtls --no-cli \
      --allow-loopback-peers --log-file=stdout --simple-log > "$VAR/logs/coturn.log" 2>&1 &
    PIDS+=("$!")
  }
  start_coturn
  TURN_URI=(--turn-uri "turn:127.0.0.1:$TURN_PORT?transport=udp")
fi

RDV_READY=""
if [ -x "$BIN/otaswarm-rendezvous" ]; then
  RDV_READY=$(start rendezvous "$BIN/otaswarm-rendezvous" \
    --stun-listen "127.0.0.1:$STUN_PORT" --alt-ip "$ALT_IP" --api-listen "$HOST:$API_PORT" \
    --admin-listen "127.0.0.1:$RDV_ADMIN_PORT" --token-key-file "$TOKEN_KEY" \
    --turn-secret-file "$TURN_SECRET" "${TURN_URI[@]}")
fi

cat <<MSG

otaswarm is running (embedded mode: in-memory store, data in $VAR)
  tracker     $TRACKER_READY
  rendezvous  ${RDV_READY:-not built}
  coturn      $( [ ${#TURN_URI[@]} -gt 0 ] && echo "127.0.0.1:$TURN_PORT (udp)" || echo "not installed" )
  logs        $VAR/logs/

Status page:   http://127.0.0.1:$ADMIN_PORT/
Metrics:       http://127.0.0.1:$ADMIN_PORT/metrics

Create a release (the S3 URL is the permanent web seed):
  $BIN/otaswarm torrent create ota.img --webseed https://s3.example.com/ota.img \\
      --announce http://$HOST:$HTTP_PORT/announce --announce udp://$HOST:$UDP_PORT/announce -o ota.torrent
  $BIN/otaswarm release add --admin http://127.0.0.1:$ADMIN_PORT --admin-token-file $ADMIN_TOKEN ota.torrent

Mint a device token and announce with it:
  TOKEN=\$($BIN/otaswarm token mint --key-file $TOKEN_KEY --device phone-1 --ttl 86400)
  announce URL: http://$HOST:$HTTP_PORT/announce/\$TOKEN   or   udp://$HOST:$UDP_PORT/announce/\$TOKEN

NAT class of this machine:  $BIN/otaswarm nat probe --stun 127.0.0.1:$STUN_PORT

Press Ctrl-C to stop.
MSG

# Returns when any server exits; cleanup stops the others.
wait -n "${PIDS[@]}" || true
