"""Bounded soak: steady UDP announce load with peer churn (started → periodic → completed →
stopped, over and over) from many loopback source addresses against the real tracker. The
tracker's RSS is sampled over time (written to a CSV and printed) and must stay flat once
the swarm reached its steady size. Short by default; OTASWARM_SOAK_SECONDS sets the length."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration", "lib"))
from otaswarm_harness import bin_path  # noqa: E402
from tracker_harness import Tracker, metric_sum, torrent_bytes  # noqa: E402

SOAK_SECONDS = float(os.environ.get("OTASWARM_SOAK_SECONDS", "24"))
RATE = int(os.environ.get("OTASWARM_SOAK_RATE", "3000"))
PHONES = 20000
RSS_GROWTH_LIMIT = 1.25      # end RSS vs RSS once the swarm is at steady size
RSS_SLACK_BYTES = 16 << 20   # allocator noise on a small process


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Soak(unittest.TestCase):
    def test_memory_stays_flat_under_churn(self):
        with Tracker(extra=["--rate-device", "0", "--rate-address", "0", "--min-interval", "1",
                            "--announce-interval", "60", "--peer-timeout", "30", "--threads", "1"]) as tracker:
            body = torrent_bytes("soak", os.urandom(30000))
            status, _, resp = tracker.admin("POST", "/api/v1/releases", body=body,
                                            content_type="application/x-bittorrent")
            self.assertEqual(status, 201)
            info_hash = json.loads(resp)["info_hash"]
            pid = tracker.proc.p.pid
            samples = []
            stop = threading.Event()

            def sample():
                t0 = time.time()
                while not stop.is_set():
                    samples.append((time.time() - t0, rss_bytes(pid)))
                    stop.wait(0.5)

            sampler = threading.Thread(target=sample)
            sampler.start()
            host, port = tracker.udp_addr
            try:
                r = subprocess.run([bin_path("otaswarm-loadtest"), "load", "--tracker", "udp://%s:%d/announce" % (host, port),
                                    "--token-key-file", tracker.key_file, "--info-hash", info_hash,
                                    "--rate", str(RATE), "--duration", str(SOAK_SECONDS), "--ramp", "2",
                                    "--phones", str(PHONES), "--stopped", "--periodic", "2",
                                    "--source-ips", "127.40.0.0/16", "--sockets", "64", "--json"],
                                   capture_output=True, text=True, timeout=SOAK_SECONDS + 120)
            finally:
                stop.set()
                sampler.join()
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            report = json.loads(r.stdout)
            out_dir = os.environ.get("OTASWARM_SOAK_OUT", tempfile.gettempdir())
            csv = os.path.join(out_dir, "otaswarm-soak-rss.csv")
            with open(csv, "w") as f:
                f.write("seconds,rss_bytes\n")
                for t, rss in samples:
                    f.write("%.1f,%d\n" % (t, rss))
            print("\nsoak: %d s at %d announces/s, %d phones; RSS samples in %s" % (SOAK_SECONDS, RATE, PHONES, csv))
            for t, rss in samples[:: max(1, len(samples) // 12)]:
                print("  t=%5.1fs  RSS %6.1f MiB" % (t, rss / 2**20))
            print("  loadtest: %s" % json.dumps({k: report.get(k) for k in ("sent", "answered", "errors", "timeouts")}))

            self.assertGreater(report.get("answered", 0), 0.9 * RATE * (SOAK_SECONDS - 2))
            warm = [rss for t, rss in samples if t >= SOAK_SECONDS * 0.3]
            self.assertTrue(warm, "no RSS samples after warm-up")
            steady, end = warm[0], max(warm[-3:])
            self.assertLessEqual(end, steady * RSS_GROWTH_LIMIT + RSS_SLACK_BYTES,
                                 "RSS grew from %.1f to %.1f MiB" % (steady / 2**20, end / 2**20))
            peers = metric_sum(tracker, "otaswarm_release_seeders") + metric_sum(tracker, "otaswarm_release_leechers")
            self.assertLessEqual(peers, PHONES, "the swarm never holds more peers than phones")


if __name__ == "__main__":
    unittest.main()
