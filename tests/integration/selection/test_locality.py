"""Locality- and NAT-aware peer selection against the real tracker: a test MaxMind ASN
database and an ALTO network map, announces from many loopback source addresses standing in
for ISPs and NATs. Asserts tier order, the k outside-ISP peers, LAN addresses only on a
LAN-hint match, reachability pairing, icode, SIGHUP reload and bad-input handling."""
import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

from otaswarm_harness import Proc, bin_path, wait_until  # noqa: E402
from tracker_harness import Tracker, bdecode, peer_id, torrent_bytes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Loopback prefixes stand in for ISPs: all of 127/8 is local on Linux.
MMDB_NETS = {"127.1.0.0/16": 64501, "127.2.0.0/16": 64502, "127.3.0.0/16": 64503}
ALTO_MAP = {
    "meta": {"vtag": {"resource-id": "otaswarm-test", "tag": "v1"}},
    "network-map": {
        "ispx.region-a": {"ipv4": ["127.4.0.0/16"]},
        "ispy.region-a": {"ipv4": ["127.5.0.0/16"]},
        "ispz.region-b": {"ipv4": ["127.6.0.0/16"]},
        "home": {"ipv4": ["127.7.0.0/16"]},
    },
}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint_icode(key, isp, region, ttl=3600):
    exp = str(int(time.time()) + ttl)
    msg = ("otaswarm-icode-v1\n%s\n%s\n%s" % (isp, region, exp)).encode()
    mac = hmac.new(key.encode(), msg, hashlib.sha256).digest()[:16]
    return "i1.%s.%s.%s.%s" % (b64u(isp.encode()), b64u(region.encode()), exp, b64u(mac))


def mint_nat_ticket(key, device, mapping, filtering, public=False, reflexive=("127.0.0.1", 6881), ttl=3600):
    """docs/nat.md format: n1.<b64u device>.<m><f><p>.<b64u ip+port>.<expiry>.<b64u mac16>."""
    ep = ipaddress.ip_address(reflexive[0]).packed + reflexive[1].to_bytes(2, "big")
    body = "n1.%s.%d%d%d.%s.%d" % (b64u(device.encode()), mapping, filtering, 1 if public else 0, b64u(ep),
                                    int(time.time()) + ttl)
    mac = hmac.new(key.encode(), b"otaswarm-nat-ticket-v1\n" + body.encode(), hashlib.sha256).digest()[:16]
    return body + "." + b64u(mac)


EIM, APDM = 1, 3  # nat::Mapping / nat::Filtering numbering
PORT_RESTRICTED = (EIM, 3)
SYMMETRIC = (APDM, 3)


class LocalityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-locality-")
        d = cls.tmp.name
        cls.mmdb = os.path.join(d, "asn.mmdb")
        args = ["perl", os.path.join(HERE, "make_mmdb.pl"), cls.mmdb]
        args += ["%s=%d,DE" % (net, asn) for net, asn in MMDB_NETS.items()]
        subprocess.run(args, check=True)
        cls.map_path = os.path.join(d, "alto.json")
        with open(cls.map_path, "w") as f:
            json.dump(ALTO_MAP, f)
        cls.icode_key = "icode-key-" + "9" * 40
        cls.icode_file = os.path.join(d, "icode.key")
        with open(cls.icode_file, "w") as f:
            f.write(cls.icode_key + "\n")
        cls.tracker = Tracker(extra=["--locality-mmdb", cls.mmdb, "--locality-map", cls.map_path,
                                     "--icode-key-file", cls.icode_file, "--outside-isp-peers", "2",
                                     "--interval-jitter", "0"])
        cls.next_device = 0

    @classmethod
    def tearDownClass(cls):
        cls.tracker.close()
        cls.tmp.cleanup()

    def new_release(self, name):
        body = torrent_bytes(name, os.urandom(40000))
        status, _, resp = self.tracker.admin("POST", "/api/v1/releases", body=body,
                                             content_type="application/x-bittorrent")
        self.assertEqual(status, 201, resp)
        return json.loads(resp)["info_hash"]

    def announce(self, ih, source_ip, port, left=1000, numwant=0, **params):
        """HTTP announce from `source_ip` with a fresh device token; returns (device, decoded reply)."""
        LocalityTest.next_device += 1
        device = params.pop("device", "dev-%d" % LocalityTest.next_device)
        token = self.tracker.mint(device)
        q = {"info_hash": bytes.fromhex(ih), "peer_id": peer_id(), "port": port, "uploaded": 0, "downloaded": 0,
             "left": left, "numwant": numwant, "compact": 1}
        q.update(params)
        query = urllib.parse.urlencode(q)
        host, p = self.tracker.http_addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(p), timeout=10, source_address=(source_ip, 0))
        try:
            conn.request("GET", "/announce/%s?%s" % (token, query))
            r = conn.getresponse()
            body = r.read()
        finally:
            conn.close()
        self.assertEqual(r.status, 200)
        reply = bdecode(body)
        self.assertNotIn(b"failure reason", reply, reply)
        return device, reply

    @staticmethod
    def peers(reply):
        blob = reply[b"peers"]
        return [("%d.%d.%d.%d" % tuple(blob[i:i + 4]), int.from_bytes(blob[i + 4:i + 6], "big"))
                for i in range(0, len(blob), 6)]

    @staticmethod
    def prefix(ip):
        return ".".join(ip.split(".")[:2])

    def test_isp_tier_first_with_k_outside(self):
        ih = self.new_release("isp-tier")
        for i in range(10):
            self.announce(ih, "127.1.0.%d" % (10 + i), 7000 + i)   # AS64501
            self.announce(ih, "127.2.0.%d" % (10 + i), 7100 + i)   # AS64502
            self.announce(ih, "127.3.0.%d" % (10 + i), 7200 + i)   # AS64503
        _, reply = self.announce(ih, "127.1.0.200", 7999, numwant=8)
        got = [self.prefix(ip) for ip, _ in self.peers(reply)]
        self.assertEqual(len(got), 8)
        self.assertEqual(got.count("127.1"), 6, got)   # numwant − k from the requester's ISP
        self.assertEqual(len(got) - got.count("127.1"), 2, got)  # exactly k from outside

    def test_isp_then_region_then_rest(self):
        ih = self.new_release("region-tier")
        for i in range(3):
            self.announce(ih, "127.4.0.%d" % (10 + i), 7300 + i)   # ispx.region-a (requester's ISP)
        for i in range(10):
            self.announce(ih, "127.5.0.%d" % (10 + i), 7400 + i)   # ispy.region-a
            self.announce(ih, "127.6.0.%d" % (10 + i), 7500 + i)   # ispz.region-b
        _, reply = self.announce(ih, "127.4.0.200", 7999, numwant=10)
        got = [self.prefix(ip) for ip, _ in self.peers(reply)]
        self.assertEqual(len(got), 10)
        self.assertEqual(got.count("127.4"), 3, got)    # the whole ISP tier
        self.assertLessEqual(got.count("127.6"), 2, got)  # other regions only through the k outside slots
        self.assertGreaterEqual(got.count("127.5"), 5, got)

    def test_seeders_first_for_leechers_and_seeders_get_leechers(self):
        ih = self.new_release("seed-order")
        for i in range(5):
            self.announce(ih, "127.1.1.%d" % (10 + i), 7600 + i, left=0)      # seeders
            self.announce(ih, "127.1.1.%d" % (50 + i), 7700 + i, left=500)    # leechers
        _, reply = self.announce(ih, "127.1.1.200", 7998, numwant=5)
        self.assertTrue(all(port < 7700 for _, port in self.peers(reply)), self.peers(reply))
        _, reply = self.announce(ih, "127.1.1.201", 7997, left=0, numwant=20)
        ports = [port for _, port in self.peers(reply)]
        self.assertTrue(ports and all(7700 <= p < 7800 or p == 7998 for p in ports), ports)

    def test_lan_addresses_only_on_hint_match(self):
        ih = self.new_release("lan")
        home = "127.7.0.1"  # one public address: a home router, or a carrier-grade NAT
        self.announce(ih, home, 8001, localip="192.168.1.11", lan="gw-hash-A")
        self.announce(ih, home, 8002, localip="192.168.1.12", lan="gw-hash-A")
        self.announce(ih, home, 8003, localip="192.168.1.13", lan="gw-hash-B")   # another home behind CGN
        self.announce(ih, home, 8004, localip="192.168.1.14")                     # no hint
        _, reply = self.announce(ih, home, 8005, localip="192.168.1.15", lan="gw-hash-A", numwant=10)
        peers = self.peers(reply)
        lan = {(ip, p) for ip, p in peers if ip.startswith("192.168.")}
        self.assertEqual(lan, {("192.168.1.11", 8001), ("192.168.1.12", 8002)}, peers)
        public = {p for ip, p in peers if ip == home}
        self.assertEqual(public, {8003, 8004}, peers)  # other homes: public address, never their LAN one

    def test_bogus_localip_ignored(self):
        ih = self.new_release("bogus-localip")
        self.announce(ih, "127.7.1.1", 8101, localip="8.8.8.8", lan="h")
        self.announce(ih, "127.7.1.1", 8102, localip="not-an-ip", lan="h")
        _, reply = self.announce(ih, "127.7.1.1", 8103, localip="192.168.5.5", lan="h", numwant=10)
        self.assertEqual(sorted(self.peers(reply)), [("127.7.1.1", 8101), ("127.7.1.1", 8102)])

    def test_unreachable_peers_never_paired(self):
        ih = self.new_release("reach")
        key = self.tracker.token_key
        for i in range(6):
            dev = "hard-%d" % i
            self.announce(ih, "127.1.2.%d" % (10 + i), 8200 + i, device=dev,
                          nat=mint_nat_ticket(key, dev, *SYMMETRIC))
        for i in range(3):
            dev = "pr-%d" % i
            self.announce(ih, "127.1.2.%d" % (50 + i), 8300 + i, device=dev,
                          nat=mint_nat_ticket(key, dev, *PORT_RESTRICTED))
        dev = "pub-0"
        self.announce(ih, "127.1.2.90", 8400, device=dev, nat=mint_nat_ticket(key, dev, 1, 1, public=True))
        dev = "hard-req"
        _, reply = self.announce(ih, "127.1.2.99", 8999, device=dev, numwant=20,
                                 nat=mint_nat_ticket(key, dev, *SYMMETRIC))
        ports = sorted(p for _, p in self.peers(reply))
        self.assertEqual(ports, [8400], "a symmetric-NAT phone must only get connectable peers")
        dev = "pr-req"
        _, reply = self.announce(ih, "127.1.2.98", 8998, device=dev, numwant=20,
                                 nat=mint_nat_ticket(key, dev, *PORT_RESTRICTED))
        ports = sorted(p for _, p in self.peers(reply))
        self.assertEqual(ports, [8300, 8301, 8302, 8400], "EIM phones get punchable + connectable peers")
        # A ticket minted for another device is ignored: the peer counts as unknown, gets everyone.
        _, reply = self.announce(ih, "127.1.2.97", 8997, device="thief", numwant=20,
                                 nat=mint_nat_ticket(key, "hard-0", *SYMMETRIC))
        self.assertEqual(len(self.peers(reply)), 12)

    def test_same_lan_pairs_whatever_the_nat_class(self):
        ih = self.new_release("lan-symmetric")
        key = self.tracker.token_key
        home = "127.7.2.1"
        self.announce(ih, home, 9001, device="sym-a", localip="192.168.7.11", lan="home-7",
                      nat=mint_nat_ticket(key, "sym-a", *SYMMETRIC))
        _, reply = self.announce(ih, home, 9002, device="sym-b", localip="192.168.7.12", lan="home-7", numwant=5,
                                 nat=mint_nat_ticket(key, "sym-b", *SYMMETRIC))
        self.assertEqual(self.peers(reply), [("192.168.7.11", 9001)],
                         "two symmetric-NAT phones on one LAN reach each other over LAN addresses")

    def test_icode_overrides_address_and_forgery_is_ignored(self):
        ih = self.new_release("icode")
        good = mint_icode(self.icode_key, "carrier-q", "region-q")
        for i in range(4):
            self.announce(ih, "127.2.3.%d" % (10 + i), 8500 + i, icode=good)    # AS64502 by address
        for i in range(4):
            self.announce(ih, "127.3.3.%d" % (10 + i), 8600 + i)                # AS64503
        _, reply = self.announce(ih, "127.3.3.200", 8999, numwant=4, icode=good)
        got = [p for _, p in self.peers(reply)]
        self.assertEqual(sum(1 for p in got if 8500 <= p < 8600), 2, got)  # 4 − k from the icode ISP
        forged = mint_icode("wrong-key-" + "1" * 30, "carrier-q", "region-q")
        _, reply = self.announce(ih, "127.3.3.201", 8998, numwant=4, icode=forged)
        got = [p for _, p in self.peers(reply)]
        self.assertEqual(sum(1 for p in got if 8600 <= p < 8700), 2, got)  # by address: AS64503

    def test_release_view_and_metrics_show_tiers(self):
        ih = self.new_release("observability")
        for i in range(4):
            self.announce(ih, "127.1.4.%d" % (10 + i), 8700 + i)
        self.announce(ih, "127.1.4.99", 8799, numwant=10)
        rel = self.tracker.release(ih)
        self.assertGreaterEqual(rel["tiers"]["isp"], 4)
        self.assertGreater(rel["same_isp_ratio"], 0.5)
        status, _, body = self.tracker.admin("GET", "/metrics")
        self.assertIn('otaswarm_tracker_peers_returned_total{tier="isp"}', body.decode())

    def test_sighup_reload_and_bad_map_keeps_old(self):
        ih = self.new_release("reload")
        moved = []
        for i in range(3):
            moved.append(self.announce(ih, "127.5.9.%d" % (10 + i), 8800 + i)[0])   # ispy.region-a
            self.announce(ih, "127.6.9.%d" % (10 + i), 8900 + i)                    # ispz.region-b

        def isp_handouts(source, port, numwant):
            before = self.tracker.release(ih)["tiers"]["isp"]
            _, reply = self.announce(ih, source, port, numwant=numwant)
            self.assertEqual(len(self.peers(reply)), numwant)  # every other peer is handed out
            return self.tracker.release(ih)["tiers"]["isp"] - before

        self.assertEqual(isp_handouts("127.6.9.200", 8999, 6), 3, "before: only the 127.6 peers share the ISP")
        new_map = json.loads(json.dumps(ALTO_MAP))
        new_map["network-map"]["ispz.region-b"]["ipv4"].append("127.5.0.0/16")
        del new_map["network-map"]["ispy.region-a"]
        with open(self.map_path, "w") as f:
            json.dump(new_map, f)
        self.tracker.proc.p.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "locality data reloaded" in self.tracker.stderr(), timeout=10))
        for i, device in enumerate(moved):  # a new session picks up the new locality
            self.announce(ih, "127.5.9.%d" % (10 + i), 8800 + i, device=device, event="started")
        self.assertEqual(isp_handouts("127.6.9.201", 8998, 7), 7, "after the reload 127.5 is the same ISP")
        with open(self.map_path, "w") as f:
            f.write("{not json")
        self.tracker.proc.p.send_signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "locality reload failed" in self.tracker.stderr(), timeout=10))
        self.assertIsNone(self.tracker.proc.p.poll(), "tracker must survive a bad map")
        self.assertEqual(isp_handouts("127.6.9.202", 8997, 8), 8, "a bad map keeps the previous data")
        with open(self.map_path, "w") as f:
            json.dump(ALTO_MAP, f)


class LocalityBadConfigTest(unittest.TestCase):
    def run_tracker(self, *extra):
        with tempfile.TemporaryDirectory() as d:
            key = os.path.join(d, "k")
            with open(key, "w") as f:
                f.write("k" * 64)
            r = subprocess.run([bin_path("otaswarm-tracker"), "--http-listen", "127.0.0.1:0", "--udp-listen",
                                "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--token-key-file", key,
                                "--data-dir", os.path.join(d, "data")] + list(extra),
                               capture_output=True, text=True, timeout=20)
            return r

    def test_missing_mmdb(self):
        r = self.run_tracker("--locality-mmdb", "/nonexistent/asn.mmdb")
        self.assertEqual(r.returncode, 2)
        self.assertIn("locality-mmdb", r.stderr)

    def test_corrupt_mmdb(self):
        with tempfile.NamedTemporaryFile(suffix=".mmdb") as f:
            f.write(os.urandom(4096))
            f.flush()
            r = self.run_tracker("--locality-mmdb", f.name)
        self.assertEqual(r.returncode, 2)
        self.assertIn("locality-mmdb", r.stderr)

    def test_corrupt_map(self):
        for text in ["{", '{"network-map": {"a": {"ipv4": ["300.1.1.1/8"]}}}', '{"network-map": []}',
                     '{"network-map": {"bad pid!": {"ipv4": []}}}']:
            with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
                f.write(text)
                f.flush()
                r = self.run_tracker("--locality-map", f.name)
            self.assertEqual(r.returncode, 2, text)
            self.assertIn("locality-map", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


if __name__ == "__main__":
    unittest.main()
