"""otaswarm-loadtest load against a real otaswarm-tracker (and Debian's opentracker when it is
installed): short, low-rate, bounded runs whose JSON report must be self-consistent. No timing
thresholds: speed figures belong in docs/benchmarks.md, not in assertions."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from otaswarm_harness import Proc, bin_path, free_port, http, wait_until, write_secret
from tracker_harness import bencode

RATE = 200          # announces/s: far below what either tracker can do, so no errors are expected
DURATION = 3        # seconds of sending
REQUEST_TIMEOUT_MS = 5000  # generous, so a busy CI machine shows latency, not timeouts
RUN_TIMEOUT = 60    # the generator's own bound is DURATION + its request timeout; this is the backstop
KEY = "6b" * 32
ADMIN = "ad" * 32


def make_torrent(name, length):
    info = {"length": length, "name": name, "piece length": 262144,
            "pieces": hashlib.sha1(name.encode()).digest() * ((length + 262143) // 262144), "private": 1}
    meta = {"announce": "udp://127.0.0.1:1/announce", "info": info, "url-list": ["http://127.0.0.1:1/" + name]}
    return bencode(meta), hashlib.sha1(bencode(info)).hexdigest()


def run_load(args, timeout=RUN_TIMEOUT):
    p = subprocess.run([bin_path("otaswarm-loadtest"), "load"] + args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class ReportChecks:
    def check_consistent(self, rep, expect_errors=False):
        self.assertEqual(rep["offered"], rep["sent"] + rep["not_sent"], rep)
        self.assertEqual(rep["answered"], rep["sent"] - rep["errors"] - rep["timeouts"], rep)
        self.assertEqual(rep["errors"], sum(rep["errors_by_kind"].values()))
        for phase in ("ramp", "steady"):
            p = rep["phases"][phase]
            self.assertEqual(p["answered"], p["sent"] - p["errors"] - p["timeouts"], (phase, p))
        self.assertEqual(sum(rep["phases"][p]["sent"] for p in ("ramp", "steady")), rep["sent"])
        self.assertEqual(sum(rep["events"].values()), rep["sent"])
        self.assertEqual(rep["latency_ms"]["count"], rep["answered"])
        lat = rep["latency_ms"]
        if rep["answered"]:
            self.assertLessEqual(lat["p50"], lat["p90"])
            self.assertLessEqual(lat["p90"], lat["p99"])
            self.assertLessEqual(lat["p99"], lat["p99_9"])
            self.assertLessEqual(lat["p99_9"], lat["max"])
        self.assertAlmostEqual(rep["throughput"], rep["answered"] / DURATION, places=6)
        self.assertEqual(sum(t["offered"] for t in rep["timeline"]), rep["offered"])
        self.assertEqual(sum(t["answered"] for t in rep["timeline"]), rep["answered"])
        # Open loop at a fixed schedule: the count offered is exact whatever the tracker does.
        expected = int(RATE * (DURATION - rep["ramp_s"] / 2) + 1e-6)
        self.assertEqual(rep["offered"], expected)
        if not expect_errors:
            self.assertEqual(rep["errors"], 0, rep["errors_by_kind"])
            self.assertEqual(rep["timeouts"], 0)
            self.assertEqual(rep["not_sent"], 0)
            self.assertEqual(rep["answered"], rep["offered"])


class LoadAgainstOtaswarm(unittest.TestCase, ReportChecks):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-load-")
        d = cls.tmp.name
        cls.key_file = write_secret(d, "token.key", KEY)
        admin_file = write_secret(d, "admin.token", ADMIN)
        cls.tracker = Proc([bin_path("otaswarm-tracker"), "--http-listen", "127.0.0.1:0", "--udp-listen",
                            "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--token-key-file", cls.key_file,
                            "--admin-token-file", admin_file, "--data-dir", os.path.join(d, "data"),
                            "--threads", "1", "--log-level", "warn"])
        torrent, cls.info_hash = make_torrent("ota-load.img", 129241752)
        cls.torrent = os.path.join(d, "ota.torrent")
        with open(cls.torrent, "wb") as f:
            f.write(torrent)
        status, _, body = http("POST", cls.tracker.url("admin", "/api/v1/releases"), torrent,
                               {"Content-Type": "application/x-bittorrent", "Authorization": "Bearer " + ADMIN})
        assert status == 201, (status, body)
        assert json.loads(body)["info_hash"] == cls.info_hash

    @classmethod
    def tearDownClass(cls):
        cls.tracker.stop()
        cls.tmp.cleanup()

    def load(self, url, *extra):
        rc, out, err = run_load(["--tracker", url, "--rate", str(RATE), "--duration", str(DURATION),
                                 "--phones", "300", "--timeout-ms", str(REQUEST_TIMEOUT_MS), "--json"] + list(extra))
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def test_udp_with_a_token_per_phone_from_many_addresses(self):
        chart = os.path.join(self.tmp.name, "udp.png")
        rep = self.load("udp://%s/announce" % self.tracker.addr("udp"), "--token-key-file", self.key_file,
                        "--torrent", self.torrent, "--source-ips", "127.7.0.0/16", "--sockets", "50",
                        "--ramp", "1", "--periodic", "0", "--chart", chart)
        self.check_consistent(rep)
        self.assertEqual(rep["protocol"], "udp")
        self.assertEqual(rep["source_addresses"], 50)
        # 500 announces over 300 phones: every phone starts before any repeats, 200 then complete.
        self.assertEqual(rep["events"]["started"], 300)
        self.assertEqual(rep["events"]["completed"], 200)
        self.assertGreater(rep["peers_received"], 0)
        self.assertEqual(rep["connects"]["sent"], rep["connects"]["answered"])
        with open(chart, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        status, _, body = http("GET", self.tracker.url("admin", "/api/v1/releases/" + self.info_hash),
                               headers={"Authorization": "Bearer " + ADMIN})
        self.assertEqual(status, 200)
        release = json.loads(body)
        self.assertEqual((release["seeders"], release["leechers"]), (200, 100))  # all 300 phones distinct peers

    def test_http_keep_alive_with_stopped_events(self):
        rep = self.load("http://%s/announce" % self.tracker.addr("http"), "--token-key-file", self.key_file,
                        "--info-hash", self.info_hash, "--stopped", "--periodic", "0", "--phones", "100",
                        "--source-ips", "127.8.0.0/24", "--sockets", "10")
        self.check_consistent(rep)
        self.assertEqual(rep["protocol"], "http")
        # 600 announces over 100 phones: two cycles of started → completed → stopped each.
        self.assertEqual(rep["events"], {"none": 0, "completed": 200, "started": 200, "stopped": 200})
        self.assertLess(rep["connects"]["sent"], rep["sent"] / 5)  # connections are reused

    def test_forged_tokens_are_refused_and_counted(self):
        wrong = write_secret(self.tmp.name, "wrong.key", "77" * 32)
        rep = self.load("udp://%s/announce" % self.tracker.addr("udp"), "--token-key-file", wrong,
                        "--info-hash", self.info_hash)
        self.check_consistent(rep, expect_errors=True)
        self.assertEqual(rep["answered"], 0)
        self.assertEqual(rep["timeouts"], 0)
        self.assertEqual(rep["errors_by_kind"]["tracker_failure"], rep["sent"])
        self.assertEqual(sum(rep["failure_reasons"].values()), rep["sent"])
        self.assertTrue(all("token" in reason for reason in rep["failure_reasons"]), rep["failure_reasons"])


NAT_MIX = "public=0.05,full-cone=0.1,restricted=0.15,port-restricted=0.5,symmetric=0.2"


def metric_samples(text, name):
    """{label-string: value} of one Prometheus metric family."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(" ", 1)
            out[key[len(name):]] = float(value)
    return out


class LoadWithHouseholdsAndNatTickets(unittest.TestCase, ReportChecks):
    """Phones in households (shared source address, LAN hint) with signed NAT tickets, spread
    over two ISPs of the tracker's --locality-map: the tracker must take every ticket and hint."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-load-nat-")
        d = cls.tmp.name
        cls.key_file = write_secret(d, "token.key", KEY)
        admin_file = write_secret(d, "admin.token", ADMIN)
        alto = {"meta": {"vtag": {"resource-id": "load-map", "tag": "1"}},
                "network-map": {"isp-a.north": {"ipv4": ["127.9.0.0/25", "127.10.0.0/25"]},
                                "isp-b.south": {"ipv4": ["127.9.0.128/25", "127.10.0.128/25"]}}}
        alto_file = os.path.join(d, "alto.json")
        with open(alto_file, "w") as f:
            json.dump(alto, f)
        cls.tracker = Proc([bin_path("otaswarm-tracker"), "--http-listen", "127.0.0.1:0", "--udp-listen",
                            "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--token-key-file", cls.key_file,
                            "--admin-token-file", admin_file, "--data-dir", os.path.join(d, "data"),
                            "--locality-map", alto_file, "--threads", "1", "--log-level", "warn"])
        torrent, cls.info_hash = make_torrent("ota-households.img", 129241752)
        status, _, body = http("POST", cls.tracker.url("admin", "/api/v1/releases"), torrent,
                               {"Content-Type": "application/x-bittorrent", "Authorization": "Bearer " + ADMIN})
        assert status == 201, (status, body)

    @classmethod
    def tearDownClass(cls):
        cls.tracker.stop()
        cls.tmp.cleanup()

    def metrics(self):
        status, _, body = http("GET", self.tracker.url("admin", "/metrics"))
        self.assertEqual(status, 200)
        text = body.decode() if isinstance(body, bytes) else body
        return (metric_samples(text, "otaswarm_tracker_peers_returned_total"),
                metric_samples(text, "otaswarm_tracker_reachability_pairs_total"))

    def release(self):
        status, _, body = http("GET", self.tracker.url("admin", "/api/v1/releases/" + self.info_hash),
                               headers={"Authorization": "Bearer " + ADMIN})
        self.assertEqual(status, 200)
        return json.loads(body)

    def run_households(self, url, sources, prefix):
        tiers0, pairs0 = self.metrics()
        before = self.release()["nat"]
        # 600 phones, one announce each (started), in households of 3 behind 200 addresses.
        rc, out, err = run_load(["--tracker", url, "--rate", str(RATE), "--duration", str(DURATION),
                                 "--phones", "600", "--timeout-ms", str(REQUEST_TIMEOUT_MS), "--json",
                                 "--token-key-file", self.key_file, "--device-prefix", prefix,
                                 "--info-hash", self.info_hash, "--source-ips", sources, "--sockets", "200",
                                 "--household-phones", "3", "--lan-hints", "--nat-mix", NAT_MIX])
        self.assertEqual(rc, 0, err)
        rep = json.loads(out)
        self.check_consistent(rep)
        self.assertEqual(rep["events"]["started"], 600)
        self.assertEqual(rep["household_phones"], 3)
        self.assertTrue(rep["lan_hints"])
        self.assertAlmostEqual(sum(rep["nat_mix"].values()), 1.0)
        tiers1, pairs1 = self.metrics()
        tier = {k: tiers1.get(k, 0) - tiers0.get(k, 0) for k in tiers1}
        pair = {k: pairs1.get(k, 0) - pairs0.get(k, 0) for k in pairs1}
        # Siblings are handed out on their LAN; two ISPs: ISP-tier hand-outs too.
        self.assertGreater(tier['{tier="lan"}'], 0, tier)
        self.assertGreater(tier['{tier="isp"}'], 0, tier)
        # Every phone's ticket was accepted: all pairs have a known reachability.
        self.assertGreater(pair['{pairing="direct"}'], 0, pair)
        self.assertGreater(pair['{pairing="punch"}'], 0, pair)
        self.assertEqual(pair['{pairing="unknown"}'], 0, pair)
        after = self.release()["nat"]
        added = {k: after[k] - before.get(k, 0) for k in after}
        self.assertEqual(added["unknown"], 0, added)
        self.assertEqual(sum(added.values()), 600, added)
        # 200 households × 3 phones: about 20 % symmetric (apdm), 5 % public.
        self.assertGreater(added["apdm"], 60, added)
        self.assertGreater(added["eim"], 300, added)

    def test_udp_phones_in_households_with_nat_tickets(self):
        self.run_households("udp://%s/announce" % self.tracker.addr("udp"), "127.9.0.0/24", "udp-home-")

    def test_http_phones_in_households_with_nat_tickets(self):
        self.run_households("http://%s/announce" % self.tracker.addr("http"), "127.10.0.0/24", "http-home-")

    def test_nat_mix_needs_a_token_key(self):
        rc, _, err = run_load(["--tracker", "udp://%s/announce" % self.tracker.addr("udp"), "--rate", "1",
                               "--duration", "1", "--info-hash", self.info_hash, "--nat-mix", NAT_MIX])
        self.assertEqual(rc, 2, err)
        self.assertIn("nat-mix", err)
        rc, _, err = run_load(["--tracker", "udp://%s/announce" % self.tracker.addr("udp"), "--rate", "1",
                               "--duration", "1", "--info-hash", self.info_hash, "--token-key-file", self.key_file,
                               "--nat-mix", "cone=1"])
        self.assertEqual(rc, 2, err)
        self.assertIn("nat-mix", err)


@unittest.skipUnless(shutil.which("opentracker") and os.geteuid() == 0,
                     "opentracker missing, or not root (it chroots and drops to nobody)")
class LoadAgainstOpentracker(unittest.TestCase, ReportChecks):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-ot-")
        root = cls.tmp.name
        os.chmod(root, 0o755)
        cls.info_hash = hashlib.sha1(b"opentracker-load").hexdigest()
        with open(os.path.join(root, "access.whitelist"), "w") as f:
            f.write(cls.info_hash + "\n")
        cls.port = free_port()
        conf = os.path.join(root, "opentracker.conf")
        with open(conf, "w") as f:
            f.write("listen.tcp_udp 127.0.0.1:%d\naccess.whitelist /access.whitelist\n"
                    "tracker.rootdir %s\ntracker.user nobody\n" % (cls.port, root))
        cls.log = open(os.path.join(root, "opentracker.log"), "wb")
        cls.proc = subprocess.Popen(["opentracker", "-f", conf], stdout=cls.log, stderr=cls.log)
        # opentracker prints no ready line: wait until its HTTP side answers anything.
        if not wait_until(cls._answers, timeout=10):
            cls.tearDownClass()
            raise RuntimeError("opentracker did not start")

    @classmethod
    def _answers(cls):
        try:
            return http("GET", "http://127.0.0.1:%d/stats" % cls.port, timeout=1)[0] > 0
        except OSError:
            return False

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.send_signal(signal.SIGTERM)
            try:
                cls.proc.wait(10)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
        cls.log.close()
        cls.tmp.cleanup()

    def test_udp_and_http_plain_announces(self):
        for url in ("udp://127.0.0.1:%d/announce" % self.port, "http://127.0.0.1:%d/announce" % self.port):
            rc, out, err = run_load(["--tracker", url, "--rate", str(RATE), "--duration", str(DURATION),
                                     "--phones", "300", "--info-hash", self.info_hash,
                                     "--timeout-ms", str(REQUEST_TIMEOUT_MS), "--json"])
            self.assertEqual(rc, 0, err)
            self.check_consistent(json.loads(out))


class CommandLine(unittest.TestCase):
    def test_refuses_non_loopback_targets_and_bad_flags(self):
        for args, key in ((["--tracker", "udp://192.0.2.1:6969", "--rate", "1", "--duration", "1",
                            "--info-hash", "00" * 20], "tracker"),
                          (["--tracker", "udp://127.0.0.1:6969", "--rate", "1", "--duration", "1"], "info-hash"),
                          (["--tracker", "udp://127.0.0.1:6969", "--rate", "0", "--duration", "1",
                            "--info-hash", "00" * 20], "rate"),
                          (["--tracker", "udp://127.0.0.1:6969", "--rate", "1", "--duration", "1",
                            "--info-hash", "00" * 20, "--source-ips", "10.0.0.0/8"], "source-ips"),
                          (["--tracker", "udp://127.0.0.1:6969/announce/v1.x.1.y", "--rate", "1", "--duration", "1",
                            "--info-hash", "00" * 20, "--token-key-file", "/nonexistent"], "token-key-file"),
                          (["--tracker", "udp://127.0.0.1:6969/announce", "--rate", "1", "--duration", "1",
                            "--info-hash", "00" * 20, "--token-key-file", "/nonexistent"], "token-key-file")):
            rc, out, err = run_load(args)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn("'%s'" % key, err)
            self.assertEqual(err.count("\n"), 1, err)


if __name__ == "__main__":
    unittest.main()
