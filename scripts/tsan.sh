#!/usr/bin/env bash
# ThreadSanitizer run of the threaded parts, called from .ci/run after scripts/sanitize.sh:
#  1. builds (in build-tsan, -O1 -g1) the unit-test executables marked THREADED in tests/ (target
#     otaswarm_threaded_tests: memory store, UDP server with two I/O threads, admission and token
#     buckets, IoPool + metrics, rendezvous rate limiters and handlers) and otaswarm-tracker;
#  2. runs those executables (every test in them, listed in <build>/threaded_tests.txt);
#  3. runs the TSAN otaswarm-tracker with --threads 2 under a short bounded UDP and HTTP load from
#     otaswarm-loadtest (the Release one in build/, built by `make test`) and fails on any report.
# Env: OTASWARM_TSAN_BUILD (build dir), TSAN_JOBS (default: nproc), OTASWARM_LOADTEST (the load
# generator, default build/bin/otaswarm-loadtest), TSAN_LOAD_SECONDS (per protocol, default 5).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${OTASWARM_TSAN_BUILD:-$root/build-tsan}
jobs=${TSAN_JOBS:-$(nproc)}
loadtest=${OTASWARM_LOADTEST:-$root/build/bin/otaswarm-loadtest}
t0=$(date +%s)

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DOTASWARM_TSAN=ON \
  "${launcher[@]}" >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  exit 2
}
cmake --build "$build" -j "$jobs" --target otaswarm_threaded_tests otaswarm-tracker >"$build/build.log" 2>&1 || {
  grep -E 'error|Error' "$build/build.log" | head -40 >&2
  exit 2
}
echo "tsan.sh: built the threaded unit tests and otaswarm-tracker with ThreadSanitizer in $(($(date +%s) - t0)) s"

# TSAN maps its shadow memory at fixed addresses; with a high mmap_rnd_bits some kernels place
# libraries there ("FATAL: ThreadSanitizer: unexpected memory mapping"). Then run without ASLR.
run=()
probe="$build/bin/$(head -1 "$build/threaded_tests.txt")"
if ! "$probe" --gtest_list_tests >/dev/null 2>"$build/probe.err"; then
  if grep -q 'unexpected memory mapping' "$build/probe.err" && command -v setarch >/dev/null; then
    run=(setarch "$(uname -m)" -R)
    echo "tsan.sh: TSAN needs ASLR off on this kernel: running under setarch -R"
  else
    cat "$build/probe.err" >&2
    exit 2
  fi
fi

export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4}
mapfile -t threaded < <(grep -v '^$' "$build/threaded_tests.txt")
if ((${#threaded[@]} == 0)); then
  echo "tsan.sh: no THREADED test executables in $build/threaded_tests.txt" >&2
  exit 2
fi
passed=0
for t in "${threaded[@]}"; do
  if ! "${run[@]}" "$build/bin/$t" --gtest_brief=1 >"$build/$t.log" 2>&1; then
    cat "$build/$t.log" >&2
    echo "tsan.sh: $t failed under ThreadSanitizer" >&2
    exit 1
  fi
  n=$(grep -o '\[  PASSED  \] [0-9]*' "$build/$t.log" | grep -o '[0-9]*$')
  echo "tsan.sh: $t: ${n:-?} tests passed, no ThreadSanitizer report"
  passed=$((passed + ${n:-0}))
done
echo "tsan.sh: ${#threaded[@]} threaded test executables, $passed tests clean under ThreadSanitizer"

if [[ ! -x "$loadtest" ]]; then
  echo "tsan.sh: $loadtest is missing (make build), skipping the tracker-under-load run" >&2
  exit 1
fi
export TSAN_TRACKER="$build/bin/otaswarm-tracker" TSAN_LOADTEST="$loadtest" TSAN_ROOT="$root" \
  TSAN_RUN="${run[*]}" TSAN_LOAD_SECONDS=${TSAN_LOAD_SECONDS:-5}
/usr/bin/python3 - <<'PY'
import glob
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.environ["TSAN_ROOT"], "tests/integration/lib"))
from otaswarm_harness import read_ready_line  # noqa: E402
from tracker_harness import bencode  # noqa: E402

secs = int(os.environ["TSAN_LOAD_SECONDS"])
tmp = tempfile.mkdtemp(prefix="otaswarm-tsan-")
key, admin = secrets.token_hex(32), secrets.token_hex(32)
for name, value in (("token.key", key), ("admin.token", admin)):
    with open(os.path.join(tmp, name), "w") as f:
        f.write(value + "\n")
info = {"length": 1 << 30, "name": "ota-tsan.img", "piece length": 1 << 20,
        "pieces": hashlib.sha1(b"tsan").digest() * 1024, "private": 1}
torrent = bencode({"announce": "udp://127.0.0.1:1/announce", "info": info})
with open(os.path.join(tmp, "ota.torrent"), "wb") as f:
    f.write(torrent)
env = dict(os.environ, TSAN_OPTIONS=os.environ["TSAN_OPTIONS"] + ":log_path=" + os.path.join(tmp, "tsan"))
cmd = os.environ["TSAN_RUN"].split() + [
    os.environ["TSAN_TRACKER"], "--http-listen", "127.0.0.1:0", "--udp-listen", "127.0.0.1:0",
    "--admin-listen", "127.0.0.1:0", "--token-key-file", os.path.join(tmp, "token.key"),
    "--admin-token-file", os.path.join(tmp, "admin.token"), "--data-dir", os.path.join(tmp, "data"),
    "--threads", "2", "--log-level", "warn"]
err = open(os.path.join(tmp, "tracker.err"), "wb")
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
failed = []
try:
    ready = read_ready_line(p, 60)
    if ready is None:
        raise SystemExit("tsan.sh: the TSAN tracker did not start:\n" + open(os.path.join(tmp, "tracker.err")).read())
    req = urllib.request.Request("http://%s/api/v1/releases" % ready["admin"], data=torrent, method="POST",
                                 headers={"Content-Type": "application/x-bittorrent", "Authorization": "Bearer " + admin})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201, r.status
    udp = ready["udp"][0] if isinstance(ready["udp"], list) else ready["udp"]
    http = ready["http"][0] if isinstance(ready["http"], list) else ready["http"]
    # Meanwhile the admin side adds and removes a second release, lists releases and scrapes
    # /metrics, so the registry and the metric merge are read and written while announces run.
    import threading
    stop = threading.Event()
    other = bencode({"announce": "udp://127.0.0.1:1/announce", "info": dict(info, name="ota-tsan-2.img")})
    other_hash = hashlib.sha1(bencode(dict(info, name="ota-tsan-2.img"))).hexdigest()

    churned = []

    def admin_churn():
        base = "http://%s" % ready["admin"]
        auth = {"Authorization": "Bearer " + admin}
        while not stop.is_set():
            for method, path, body, extra in (("POST", "/api/v1/releases", other, {"Content-Type": "application/x-bittorrent"}),
                                              ("GET", "/api/v1/releases", None, {}),
                                              ("GET", "/metrics", None, {}),
                                              ("DELETE", "/api/v1/releases/" + other_hash, None, {})):
                try:
                    urllib.request.urlopen(urllib.request.Request(base + path, data=body, method=method,
                                                                  headers=dict(auth, **extra)), timeout=30).read()
                    churned.append(method)
                except Exception:
                    pass
            time.sleep(0.05)

    churn = threading.Thread(target=admin_churn)
    churn.start()
    # Bounded: a few thousand announces per protocol, from 64 source addresses so both I/O
    # threads get datagrams (SO_REUSEPORT hashes by source) and connections.
    for proto, addr, rate in (("udp", udp, 1000), ("http", http, 300)):
        lt = subprocess.run([os.environ["TSAN_LOADTEST"], "load", "--tracker", "%s://%s/announce" % (proto, addr),
                             "--rate", str(rate), "--duration", str(secs), "--ramp", "1", "--phones", "2000",
                             "--source-ips", "127.21.0.0/16", "--sockets", "64", "--timeout-ms", "5000",
                             "--token-key-file", os.path.join(tmp, "token.key"),
                             "--torrent", os.path.join(tmp, "ota.torrent"), "--json"],
                            capture_output=True, timeout=secs + 120)
        rep = json.loads(lt.stdout) if lt.returncode == 0 else {}
        print("tsan.sh: %s load on the TSAN tracker: %s sent, %s answered, %s timeouts, failures %s"
              % (proto, rep.get("sent"), rep.get("answered"), rep.get("timeouts"), json.dumps(rep.get("failure_reasons"))))
        if not rep.get("answered"):
            failed.append("%s load got no answers: %s" % (proto, lt.stderr.decode()[-2000:]))
    stop.set()
    churn.join()
    print("tsan.sh: meanwhile %d admin requests answered (%d release adds, %d removals)"
          % (len(churned), churned.count("POST"), churned.count("DELETE")))
finally:
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
reports = glob.glob(os.path.join(tmp, "tsan*"))
for path in reports:
    with open(path) as f:
        sys.stderr.write(f.read())
if rc != 0:
    failed.append("the TSAN tracker exited with %d" % rc)
if reports:
    failed.append("ThreadSanitizer reports from otaswarm-tracker: %s" % " ".join(reports))
if failed:
    sys.stderr.write("tsan.sh: " + "\ntsan.sh: ".join(failed) + "\n")
    sys.stderr.write(open(os.path.join(tmp, "tracker.err")).read()[-3000:])
    sys.exit(1)
print("tsan.sh: otaswarm-tracker --threads 2 under UDP and HTTP load: no ThreadSanitizer report")
PY
echo "tsan.sh: done in $(($(date +%s) - t0)) s"
