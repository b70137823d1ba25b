#!/bin/bash
# Announces/s of one otaswarm-tracker replica (--threads 1, --open) with the memory store and
# with a local redis-server, driven by otaswarm-loadtest over UDP. Short runs: shared machine.
set -u
LOADTEST=${LOADTEST:-build/bin/otaswarm-loadtest}
TRACKER=${TRACKER:-build/bin/otaswarm-tracker}
RATE=${RATE:-2000}
DURATION=${DURATION:-10}
tmp=$(mktemp -d /tmp/otaswarm-redis-load-XXXXXX)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port $port --bind 127.0.0.1 --save "" --appendonly no --dir $tmp --daemonize no >$tmp/redis.log 2>&1 &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; rm -rf $tmp' EXIT
sleep 0.5
for store in memory "redis://127.0.0.1:$port"; do
  $TRACKER --open --threads 1 --http-listen 127.0.0.1:0 --udp-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --data-dir $tmp/data --store $store --rate-device 1000000 --rate-device-burst 1000000 \
    >$tmp/ready 2>$tmp/tracker.log &
  tpid=$!
  for i in $(seq 50); do grep -q ready $tmp/ready 2>/dev/null && break; sleep 0.1; done
  udp=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["udp"])' $tmp/ready)
  echo "== store=$store rate=$RATE duration=$DURATION"
  $LOADTEST load --tracker udp://$udp --rate $RATE --duration $DURATION --phones 10000 --numwant 50 \
    --info-hash 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a --json | python3 -c '
import json,sys; r=json.load(sys.stdin); l=r["latency_ms"]
print("answered/s %.0f of %.0f offered, errors %d, timeouts %d, p50 %.2f ms, p99 %.2f ms" % (r["answered_per_s"], r["offered_per_s"], r["errors"], r["timeouts"], l["p50"], l["p99"]))'
  admin=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["admin"])' $tmp/ready)
  python3 -c 'import urllib.request,sys
for l in urllib.request.urlopen("http://%s/metrics" % sys.argv[1]).read().decode().splitlines():
    if l.startswith(("otaswarm_store_errors_total{op=\"announce","otaswarm_store_shed_total")): print("  ", l)' $admin
  ps -o cputime= -p $tpid | sed 's/^/   tracker cpu /'
  kill $tpid; wait $tpid 2>/dev/null
  rm -f $tmp/ready
done
