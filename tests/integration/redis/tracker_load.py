"""Announces/s of one otaswarm-tracker replica (--open --threads 1) with the memory store and
the Redis (streams) store on a real 3-master cluster (plus 3 replicas), side by side in one run: otaswarm-loadtest over UDP against replica A, one release, numwant 50, phones spread
over many loopback source addresses; a second replica B on the same cluster serves the same
release (so its stream reads are in the Redis figures). Prints one line per store: answered/s,
p50/p99, tracker CPU, Redis CPU per announce summed over the masters and the busiest master's
share, Redis memory per peer. Bounded: --rate × --duration announces; every process is
stopped by its PID. Not a ctest test (figures, not assertions): see docs/benchmarks.md.

  PYTHONPATH=tests/integration/lib:tests/integration/redis OTASWARM_BIN=build/bin \
    python3 tests/integration/redis/tracker_load.py --rate 20000 --duration 10 --phones 100000
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

from otaswarm_harness import Proc, bin_path
from redis_harness import RedisCluster, resp
from tracker_harness import peer_id

INFO_HASH = "5a" * 20


def info(node, section, field):
    text = node.cmd("INFO", section).decode()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return float(line.split(":", 1)[1])
    return 0.0


def masters(cluster):
    out = []
    for n in cluster.nodes:
        if n.running() and b"role:master" in n.cmd("INFO", "replication"):
            out.append(n)
    return out


def cpu(nodes):
    return [info(n, "cpu", "used_cpu_user") + info(n, "cpu", "used_cpu_sys") for n in nodes]


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tracker(store, tmp, name):
    return Proc([bin_path("otaswarm-tracker"), "--open", "--threads", "1", "--http-listen", "127.0.0.1:0",
                 "--udp-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir",
                 os.path.join(tmp, name), "--store", store, "--rate-device", "1000000", "--rate-device-burst",
                 "1000000"])


def http_open_announce(t, port):
    import urllib.parse
    import urllib.request
    q = "info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0&left=10&compact=1&event=started" % (
        urllib.parse.quote(bytes.fromhex(INFO_HASH)), urllib.parse.quote(peer_id()), port)
    urllib.request.urlopen("http://%s/announce?%s" % (t.addr("http"), q), timeout=5).read()


def run(args, cluster, store, tmp):
    a = tracker(store, tmp, "a")
    b = tracker(store, tmp, "b") if store != "memory" else None
    try:
        if b:
            http_open_announce(b, 50000)  # B serves the release from the start
        ms = masters(cluster)
        mem0 = sum(info(n, "memory", "used_memory") for n in ms)
        cpu0 = cpu(ms)
        t0 = proc_cpu_seconds(a.p.pid)
        r = subprocess.run([bin_path("otaswarm-loadtest"), "load", "--tracker", "udp://" + a.addr("udp"),
                            "--rate", str(args.rate), "--duration", str(args.duration), "--phones", str(args.phones),
                            "--numwant", "50", "--info-hash", INFO_HASH, "--source-ips", "127.1.0.0/16",
                            "--sockets", "256", "--json"], capture_output=True, timeout=args.duration + 60)
        rep = json.loads(r.stdout)
        time.sleep(0.5)  # readers drain
        tracker_cpu = proc_cpu_seconds(a.p.pid) - t0
        cpu1 = cpu(ms)
        mem1 = sum(info(n, "memory", "used_memory") for n in ms)
        d = [y - x for x, y in zip(cpu0, cpu1)]
        answered = rep["answered_per_s"] * args.duration
        line = "%-34s answered/s %7.0f of %7.0f offered, errors %d, timeouts %d, p50 %.2f ms, p99 %.2f ms, tracker cpu %.1f s" % (
            store if store == "memory" else "streams (cluster)",
            rep["answered_per_s"], rep["offered_per_s"], rep["errors"], rep["timeouts"], rep["latency_ms"]["p50"],
            rep["latency_ms"]["p99"], tracker_cpu)
        if store != "memory":
            line += ", redis cpu %.1f us/announce (masters %s), redis +%.0f B/peer" % (
                sum(d) * 1e6 / max(answered, 1), "/".join("%.0f%%" % (100 * x / max(sum(d), 1e-9)) for x in d),
                (mem1 - mem0) / args.phones)
        print(line, flush=True)
        return rep
    finally:
        for t in (a, b):
            if t:
                t.stop()
                t.tmp.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--phones", type=int, default=100000)
    args = ap.parse_args()
    cluster = RedisCluster()
    try:
        url = cluster.url
        with tempfile.TemporaryDirectory(prefix="otaswarm-load-") as tmp:
            for store in ("memory", url):
                run(args, cluster, store, tmp)
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
