#!/usr/bin/env bash
# Overload ladder with and without queue-delay shedding: two otaswarm-tracker --threads 1
# (--shed-queue-delay-ms 50, the default, and 0 = off) under open-loop UDP announces from
# otaswarm-loadtest at 1×, 2×, 3×, 5× a base rate, alternating servers at each rung. Prints a
# Markdown table (docs/benchmarks.md, "Overload and shedding") and draws docs/img/overload-shedding.png.
# Usage: scripts/overload.sh [BUILD_DIR]   (default: build)
#
# Tunables (environment): OVERLOAD_BASE (sustainable announces/s of the tracker as confined,
# default 5000), OVERLOAD_FACTORS ("1 2 3 5"), OVERLOAD_DURATION (s per run, ≤ 20, default 10),
# OVERLOAD_CPU (share of one core each tracker may use, via a cgroup-v1 CFS quota with a 10 ms
# period, default 0.25; "" = unconfined), OVERLOAD_SHED_MS (target of the shedding tracker, 50),
# OVERLOAD_SHED_ARGS (more flags for the shedding tracker, e.g. "--shed-busy-per-answer 0"),
# OVERLOAD_PROTO ("udp" or "http": which announces the generator sends), OVERLOAD_IMG (chart path; "" = none).
#
# Why a CPU quota: the generator needs about as much CPU per announce as the tracker, so on a
# 2-core machine it cannot offer 5× what an unconfined tracker sustains. Confining each tracker
# to a quarter of a core makes its sustainable rate small enough for the generator to overload
# it five times over; the queueing and shedding behave as on a saturated full core.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
export OVERLOAD_BINDIR="$BUILD_DIR/bin" OVERLOAD_ROOT="$ROOT"
for tool in "$OVERLOAD_BINDIR/otaswarm-tracker" "$OVERLOAD_BINDIR/otaswarm-loadtest"; do
  [ -x "$tool" ] || { echo "overload: $tool is missing (build first: make build)" >&2; exit 2; }
done

exec /usr/bin/python3 - "$@" <<'PY'
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.environ["OVERLOAD_BINDIR"]
ROOT = os.environ["OVERLOAD_ROOT"]
sys.path.insert(0, os.path.join(ROOT, "tests/integration/lib"))
from otaswarm_harness import first, read_ready_line, register_release, write_secret  # noqa: E402
from tracker_harness import fake_torrent  # noqa: E402

BASE = int(os.environ.get("OVERLOAD_BASE", "5000"))
FACTORS = [float(f) for f in os.environ.get("OVERLOAD_FACTORS", "1 2 3 5").split()]
DURATION = min(float(os.environ.get("OVERLOAD_DURATION", "10")), 20.0)
RAMP = 1.0
CPU = os.environ.get("OVERLOAD_CPU", "0.25")
SHED_MS = os.environ.get("OVERLOAD_SHED_MS", "50")
SHED_ARGS = os.environ.get("OVERLOAD_SHED_ARGS", "").split()
PROTO = os.environ.get("OVERLOAD_PROTO", "udp")
IMG = os.environ.get("OVERLOAD_IMG", os.path.join(ROOT, "docs/img/overload-shedding.png"))
CGROUP_ROOT = "/sys/fs/cgroup/cpu"
CFS_PERIOD_US = 10000

tmp = tempfile.TemporaryDirectory(prefix="otaswarm-overload-")
started, cgroups = [], []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def confine(pid, name):
    """Puts the process in its own cgroup with a CFS quota of CPU × one core."""
    if not CPU:
        return
    path = os.path.join(CGROUP_ROOT, "otaswarm-overload-%d-%s" % (os.getpid(), name))
    os.mkdir(path)
    cgroups.append(path)
    with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
        f.write(str(CFS_PERIOD_US))
    with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
        f.write(str(int(float(CPU) * CFS_PERIOD_US)))
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(pid))


def start_tracker(name, shed_ms, key_file, admin_file):
    err = open(os.path.join(tmp.name, name + ".err"), "wb")
    p = subprocess.Popen([os.path.join(BIN, "otaswarm-tracker"), "--http-listen", "127.0.0.1:0",
                          "--udp-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                          "--token-key-file", key_file, "--admin-token-file", admin_file,
                          "--data-dir", os.path.join(tmp.name, "data-" + name), "--threads", "1",
                          "--shed-queue-delay-ms", shed_ms, "--log-level", "warn"]
                         + (SHED_ARGS if shed_ms != "0" else []),
                         stdout=subprocess.PIPE, stderr=err)
    started.append(p)
    ready = read_ready_line(p, 20)
    if ready is None:
        raise SystemExit("overload: otaswarm-tracker did not print its ready line")
    confine(p.pid, name)
    return p, ready


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, all threads


def metric(admin, name):
    with urllib.request.urlopen("http://%s/metrics" % admin, timeout=5) as r:
        total = 0.0
        for line in r.read().decode().splitlines():
            if line.startswith(name):
                total += float(line.rsplit(" ", 1)[1])
        return total


def run(server, rate, key_file, torrent_file):
    url = "http://%s/announce" % server["http"] if PROTO == "http" else "udp://%s/announce" % server["udp"]
    cmd = [os.path.join(BIN, "otaswarm-loadtest"), "load", "--tracker", url,
           "--rate", str(rate), "--duration", str(DURATION), "--ramp", str(RAMP),
           "--phones", str(max(10000, int(rate * DURATION / 6))), "--threads", "1",
           "--source-ips", "127.20.0.0/16", "--sockets", "256", "--concurrency", "65536", "--timeout-ms", "2000",
           "--periodic", "0", "--stopped", "--json", "--token-key-file", key_file, "--torrent", torrent_file,
           "--device-prefix", "ovl-%s-%d-" % (server["name"], rate)]
    shed_before = metric(server["admin"], "otaswarm_tracker_announces_shed_total")
    cpu_before = cpu_seconds(server["proc"].pid)
    p = subprocess.run(cmd, capture_output=True, timeout=DURATION + 60)
    cpu = cpu_seconds(server["proc"].pid) - cpu_before
    if p.returncode != 0:
        raise SystemExit("overload: loadtest failed: %s\n%s" % (" ".join(cmd), p.stderr.decode()))
    rep = json.loads(p.stdout)
    busy = sum(n for why, n in rep["failure_reasons"].items() if why.startswith("tracker busy"))
    row = {"server": server["name"], "factor": rate / BASE, "rate": rate, "offered": rep["offered"],
           "sent": rep["sent"], "answered": rep["answered"], "shed": busy,
           "other_errors": rep["errors"] - busy, "timeouts": rep["timeouts"], "not_sent": rep["not_sent"],
           "p50": rep["latency_ms"]["p50"], "p99": rep["latency_ms"]["p99"], "p999": rep["latency_ms"]["p99_9"],
           "late": rep["generator"]["late_requests"], "reasons": rep["failure_reasons"],
           "server_shed": metric(server["admin"], "otaswarm_tracker_announces_shed_total") - shed_before,
           "server_cpu_s": cpu}
    row["offered_per_s"] = row["offered"] / DURATION
    row["answered_per_s"] = row["answered"] / DURATION
    log("%-7s %5.1fx %6d/s: answered %6.1f%%  shed %6.1f%%  timeouts %6.1f%%  p50 %8.2f ms  p99 %8.2f ms  late %d  cpu %.2f s"
        % (row["server"], row["factor"], rate, 100 * row["answered"] / max(1, row["offered"]),
           100 * busy / max(1, row["offered"]), 100 * row["timeouts"] / max(1, row["offered"]),
           row["p50"], row["p99"], row["late"], cpu))
    return row


def chart(rows, path):
    data = os.path.join(tmp.name, "overload.dat")
    names = ["shed", "no-shed"]
    with open(data, "w") as f:
        for n in names:
            f.write("# %s\n" % n)
            for r in rows:
                if r["server"] == n:
                    f.write("%.1f %.1f %.1f %.3f\n" % (r["offered_per_s"], r["answered_per_s"],
                                                       r["shed"] / DURATION, r["p99"]))
            f.write("\n\n")
    plots = ["x title 'offered' lc rgb 'gray' dt 3"]
    for i, n in enumerate(names):
        plots.append("'%s' index %d using 1:2 with linespoints lw 2 lc %d title '%s: answered/s'" % (data, i, i + 1, n))
        plots.append("'%s' index %d using 1:4 axes x1y2 with linespoints dt 2 lc %d title '%s: p99 ms (answered)'"
                     % (data, i, i + 1, n))
    plots.append("'%s' index 0 using 1:3 with linespoints dt 3 lc 1 title 'shed: busy replies/s'" % data)
    script = ("set terminal pngcairo size 960,540 noenhanced\nset output '%s'\n"
              "set title '%s announces under overload, otaswarm-tracker --threads 1 (%s core): with and without "
              "shedding'\nset logscale y2 10\nset xlabel 'offered announces/s'\nset ylabel 'announces/s'\n"
              "set y2label 'p99 latency of answers (ms)'\nset ytics nomirror\nset y2tics\nset key top left\n"
              "set grid\nset yrange [0:*]\nplot %s\n" % (path, PROTO.upper(), CPU or "1", ", ".join(plots)))
    subprocess.run(["gnuplot"], input=script.encode(), check=True)


def table(rows):
    out = ["| offered | server | offered/s | answered | busy reply (shed) | other errors | timeouts | p50 ms | p99 ms "
           "| p99.9 ms |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        o = max(1, r["offered"])
        out.append("| %.0f× | %s | %.0f | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.2f | %.2f | %.2f |" % (
            r["factor"], r["server"], r["offered_per_s"], 100 * r["answered"] / o, 100 * r["shed"] / o,
            100 * r["other_errors"] / o, 100 * r["timeouts"] / o, r["p50"], r["p99"], r["p999"]))
    return "\n".join(out)


def main():
    key, admin = secrets.token_hex(32), secrets.token_hex(32)
    key_file, admin_file = write_secret(tmp.name, "token.key", key), write_secret(tmp.name, "admin.token", admin)
    torrent, _ = fake_torrent("ota-overload.img")
    torrent_file = os.path.join(tmp.name, "ota.torrent")
    with open(torrent_file, "wb") as f:
        f.write(torrent)
    servers = []
    for name, shed_ms in (("shed", SHED_MS), ("no-shed", "0")):
        proc, ready = start_tracker(name, shed_ms, key_file, admin_file)
        register_release(ready["admin"], admin, torrent)
        udp = first(ready["udp"])
        http = first(ready["http"])
        servers.append({"name": name, "proc": proc, "udp": udp, "http": http, "admin": ready["admin"]})
    rows = []
    for factor in FACTORS:
        for s in servers:
            rows.append(run(s, int(BASE * factor), key_file, torrent_file))
            time.sleep(2)  # let the previous run's stragglers drain
    with open(os.path.join(tmp.name, "rows.json"), "w") as f:
        json.dump(rows, f)
    if IMG:
        os.makedirs(os.path.dirname(IMG), exist_ok=True)
        chart(rows, IMG)
    print(table(rows))
    print()
    print("```json")
    print(json.dumps(rows))
    print("```")


try:
    main()
finally:
    for p in started:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    for path in cgroups:
        try:
            os.rmdir(path)
        except OSError as e:
            log("overload: could not remove cgroup %s: %s" % (path, e))
PY
