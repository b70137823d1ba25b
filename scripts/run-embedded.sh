#!/usr/bin/env bash
# `make run`: the tracker and the rendezvous in embedded mode (in-memory store, data dir
# ./var), plus coturn as the relay when it is installed. Ctrl-C (or SIGTERM) stops every
# process this script started, by PID.
#
# Ports come from the environment (defaults below); 0 means "any free port" for the tracker and
# the rendezvous (the summary and $VAR/env then show the real ones). Once everything listens,
# the script writes $VAR/env, a shell file defining B (the bin dir), TRACKER_HTTP, TRACKER_UDP,
# ADMIN, STUN, RDV_API, RDV_ADMIN and VAR, which the README's walkthrough sources.
set -euo pipefail

BUILD_DIR="${1:-build}"
BIN="$(cd "$BUILD_DIR/bin" && pwd)"
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
READY_TIMEOUT_S="${OTASWARM_READY_TIMEOUT:-30}"

mkdir -p "$VAR/logs"
VAR="$(cd "$VAR" && pwd)"
rm -f "$VAR/env"  # written again once everything listens

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

# Every process started below, by PID. Filled only in this shell (never inside $(…), whose
# subshell's variables die with it).
PIDS=()
cleanup() {
  trap - EXIT
  # A second Ctrl-C while the servers shut down kills them instead of abandoning them.
  trap 'for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done' INT TERM
  echo
  echo "stopping…"
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -f "$VAR/env"
  echo "stopped."
}
trap cleanup EXIT
trap 'exit 0' INT TERM  # Ctrl-C / SIGTERM is how `make run` is meant to end

# Starts a server in the background and waits for its one-line JSON ready message, which it
# leaves in $VAR/logs/NAME.ready. Must not run in a subshell: it records the PID in PIDS.
start() {
  local name="$1"; shift
  local ready="$VAR/logs/$name.ready"
  : > "$ready"
  "$@" > "$ready" 2> "$VAR/logs/$name.log" &
  local pid=$!
  PIDS+=("$pid")
  local deadline=$((SECONDS + READY_TIMEOUT_S))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ "$(wc -l < "$ready")" -ge 1 ]; then return 0; fi  # the whole line, newline included
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name failed to start:" >&2; cat "$VAR/logs/$name.log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "$name did not become ready; see $VAR/logs/$name.log" >&2
  exit 1
}

# The first "ip:port" a ready line reports for LISTENER (a listener given several times is a list).
addr() {
  python3 -c 'import json, sys
v = json.loads(open(sys.argv[1]).readline())[sys.argv[2]]
print(v[0] if isinstance(v, list) else v)' "$VAR/logs/$1.ready" "$2"
}

start tracker "$BIN/otaswarm-tracker" \
  --http-listen "$HOST:$HTTP_PORT" --udp-listen "$HOST:$UDP_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
  --token-key-file "$TOKEN_KEY" --admin-token-file "$ADMIN_TOKEN" --data-dir "$VAR"
TRACKER_HTTP=$(addr tracker http)
TRACKER_UDP=$(addr tracker udp)
ADMIN=$(addr tracker admin)

# coturn reads its secret from a config file only its owner can read (as the Helm chart does):
# on the command line it would be visible to every local user in `ps`.
TURN_URI=()
TURN_CONF="$VAR/turnserver.conf"
if command -v turnserver >/dev/null 2>&1; then
  rm -f "$TURN_CONF"
  (umask 077 && cat > "$TURN_CONF" <<CONF
# written by scripts/run-embedded.sh on every start; holds the TURN secret: mode 0600
listening-ip=127.0.0.1
listening-port=$TURN_PORT
realm=otaswarm
use-auth-secret
static-auth-secret=$(tr -d '\n' < "$TURN_SECRET")
no-tls
no-dtls
no-cli
allow-loopback-peers
log-file=stdout
simple-log
pidfile=$VAR/turnserver.pid
userdb=$VAR/turndb
CONF
  )
  chmod 600 "$TURN_CONF"
  turnserver -c "$TURN_CONF" > "$VAR/logs/coturn.log" 2>&1 &
  PIDS+=("$!")
  TURN_URI=(--turn-uri "turn:127.0.0.1:$TURN_PORT?transport=udp")
fi

STUN="" RDV_API="" RDV_ADMIN=""
if [ -x "$BIN/otaswarm-rendezvous" ]; then
  start rendezvous "$BIN/otaswarm-rendezvous" \
    --stun-listen "127.0.0.1:$STUN_PORT" --alt-ip "$ALT_IP" --api-listen "$HOST:$API_PORT" \
    --admin-listen "127.0.0.1:$RDV_ADMIN_PORT" --token-key-file "$TOKEN_KEY" \
    --turn-secret-file "$TURN_SECRET" "${TURN_URI[@]}"
  STUN=$(addr rendezvous stun)
  RDV_API=$(addr rendezvous api)
  RDV_ADMIN=$(addr rendezvous admin)
fi

RDV_SUMMARY="not built"
if [ -n "$STUN" ]; then RDV_SUMMARY="STUN $STUN  API $RDV_API  admin $RDV_ADMIN"; fi

cat > "$VAR/env.tmp" <<ENV
# written by scripts/run-embedded.sh while it runs: where this \`make run\` listens
B=$BIN
VAR=$VAR
TRACKER_HTTP=$TRACKER_HTTP
TRACKER_UDP=$TRACKER_UDP
ADMIN=$ADMIN
STUN=$STUN
RDV_API=$RDV_API
RDV_ADMIN=$RDV_ADMIN
ENV
mv "$VAR/env.tmp" "$VAR/env"

cat <<MSG

otaswarm is running (embedded mode: in-memory store, data in $VAR)
  tracker     HTTP $TRACKER_HTTP  UDP $TRACKER_UDP  admin $ADMIN
  rendezvous  $RDV_SUMMARY
  coturn      $( [ ${#TURN_URI[@]} -gt 0 ] && echo "127.0.0.1:$TURN_PORT (udp, config $TURN_CONF)" || echo "not installed" )
  logs        $VAR/logs/

Status page:   http://$ADMIN/
Metrics:       http://$ADMIN/metrics

Next steps, in another terminal (README.md's "Five-minute walkthrough" runs them all, and downloads with aria2c):
  . $VAR/env       # B, TRACKER_HTTP, TRACKER_UDP, ADMIN, STUN, RDV_API, VAR

  Create a release (the S3 URL is the permanent web seed):
    \$B/otaswarm torrent create ota.img --webseed https://s3.example.com/releases/ota.img \\
        --announce http://\$TRACKER_HTTP/announce --announce udp://\$TRACKER_UDP/announce -o ota.torrent
    \$B/otaswarm release add --admin http://\$ADMIN --admin-token-file \$VAR/admin.token ota.torrent

  Mint a device token and announce with it:
    T1=\$(\$B/otaswarm token mint --key-file \$VAR/token.key --device phone-1 --ttl 86400)
    announce URL: http://\$TRACKER_HTTP/announce/\$T1   or   udp://\$TRACKER_UDP/announce/\$T1

  NAT class of this machine:  \$B/otaswarm nat probe --stun \$STUN

Press Ctrl-C to stop.
MSG

# Returns when any server exits (or a signal's trap runs); cleanup stops the others.
wait -n "${PIDS[@]}" || true
