"""otaswarm-rendezvous end to end on 127.0.0.1 + 127.0.0.2: real STUN clients (coturn's
turnutils_stunclient / turnutils_natdiscovery), otaswarm nat probe, bad input, floods,
amplification, STUN over TCP, the TURN-credentials API, config errors and shutdown."""
import base64
import hashlib
import hmac
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lab"))
import rdvlib  # noqa: E402
from otaswarm_harness import Proc, bin_path, http, write_secret  # noqa: E402

KEY = "0123456789abcdef" * 4
TURN_SECRET = "turn-secret-0123456789"
CLIENT_TIMEOUT = 30
FLOOD_COUNT = 3000


def hostport(text):
    h, p = text.rsplit(":", 1)
    return h, int(p)


def start(tmp, *extra):
    return Proc([bin_path("otaswarm-rendezvous"), "--stun-listen", "127.0.0.1:0", "--alt-ip", "127.0.0.2",
                 "--api-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--threads", "2",
                 "--token-key-file", write_secret(tmp, "key", KEY),
                 "--turn-secret-file", write_secret(tmp, "turn", TURN_SECRET),
                 "--turn-uri", "turn:127.0.0.1:3478?transport=udp", *extra])


def mint(device, ttl=600):
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([bin_path("otaswarm"), "token", "mint", "--key-file", write_secret(d, "k", KEY),
                              "--device", device, "--ttl", str(ttl)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def udp_exchange(to, data, timeout=1.0, sock=None):
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(data, to)
        r, _, _ = select.select([s], [], [], timeout)
        return s.recvfrom(4096)[0] if r else None
    finally:
        if sock is None:
            s.close()


def metric(proc, name, **labels):
    _, _, body = http("GET", proc.url("admin", "/metrics"))
    total = 0.0
    for line in body.decode().splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % kv in line for kv in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


class RendezvousTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.rdv = start(cls.tmp.name)
        cls.stun = hostport(cls.rdv.ready["stun"])
        cls.alt = hostport(cls.rdv.ready["stun_alt"])

    @classmethod
    def tearDownClass(cls):
        cls.rdv.__exit__(None, None, None)
        cls.tmp.cleanup()

    def test_ready_line_reports_four_sockets(self):
        r = self.rdv.ready
        self.assertTrue(r["ready"])
        self.assertEqual(self.alt[0], "127.0.0.2")
        self.assertNotEqual(self.alt[1], self.stun[1])
        self.assertEqual(sorted(r["stun_sockets"]), sorted([
            "127.0.0.1:%d" % self.stun[1], "127.0.0.1:%d" % self.alt[1],
            "127.0.0.2:%d" % self.stun[1], "127.0.0.2:%d" % self.alt[1]]))

    def test_turnutils_stunclient(self):
        def stunclient(*args):
            # turnutils_stunclient binds its reflexive port + 1 for the RFC 5780 part: under
            # parallel tests that port may be taken (errno 98); another run gets another port.
            for _ in range(3):
                out = subprocess.run(["turnutils_stunclient", *args, "-p", str(self.stun[1]), "127.0.0.1"],
                                     capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
                if "errno=98" not in out.stdout + out.stderr:
                    break
            return out

        out = stunclient()
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"UDP reflexive addr: 127\.0\.0\.1:\d+")
        out = stunclient("-f")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("Other addr: : 127.0.0.2:%d" % self.alt[1], out.stdout)
        # Response 2 answers the CHANGE-REQUEST from the other IP and port.
        self.assertIn("Response origin: : 127.0.0.2:%d" % self.alt[1], out.stdout)

    def test_turnutils_natdiscovery(self):
        out = subprocess.run(["turnutils_natdiscovery", "-m", "-f", "-H", "-p", str(self.stun[1]), "127.0.0.1"],
                             capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("NAT with Endpoint Independent Mapping!", out.stdout)
        self.assertIn("NAT with Endpoint Independent Filtering!", out.stdout)
        self.assertIn("Received a request (maybe a successful hairpinning)", out.stdout)

    def test_nat_probe_on_loopback_is_public(self):
        out = subprocess.run([bin_path("otaswarm"), "nat", "probe", "--stun", self.rdv.ready["stun"]],
                             capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        self.assertEqual(out.returncode, 0, out.stderr)
        j = json.loads(out.stdout)
        self.assertEqual(j["mapping"], "endpoint-independent")
        self.assertEqual(j["filtering"], "endpoint-independent")
        self.assertIs(j["public"], True)
        self.assertRegex(j["reflexive"], r"^127\.0\.0\.1:\d+$")
        self.assertIn("hairpinning", j)

    def test_nat_probe_without_rfc5780_says_why(self):
        with tempfile.TemporaryDirectory() as d:
            with Proc([bin_path("otaswarm-rendezvous"), "--stun-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                       "--admin-listen", "127.0.0.1:0", "--threads", "1"]) as single:
                self.assertRegex(single.ready["stun_alt"], r"^127\.0\.0\.1:\d+$")
                self.assertNotEqual(single.ready["stun_alt"], single.ready["stun"])
                out = subprocess.run([bin_path("otaswarm"), "nat", "probe", "--stun", single.ready["stun"],
                                      "--timeout-ms", "300"], capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        j = json.loads(out.stdout)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(j["mapping"], "unknown")
        self.assertIn("OTHER-ADDRESS", j["error"])

    def test_malformed_dropped_and_server_survives(self):
        before = metric(self.rdv, "otaswarm_rendezvous_stun_dropped_total")
        good = rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST).encode()
        bad_fp = bytearray(good)
        bad_fp[-1] ^= 0xFF
        garbage = [b"", b"\x00", b"hello, this is not STUN", b"\xff" * 200, good[:-4], bytes(bad_fp),
                   good[:2] + b"\x00\x7c" + good[4:], b"\x00\x01\x00\x00" + b"\x00" * 16, os.urandom(1400)]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for g in garbage:
            s.sendto(g, self.stun)
        r, _, _ = select.select([s], [], [], 0.5)
        self.assertFalse(r, "malformed input must not be answered")
        s.close()
        self.assertIsNotNone(udp_exchange(self.stun, good))
        self.assertGreaterEqual(metric(self.rdv, "otaswarm_rendezvous_stun_dropped_total") - before, len(garbage) - 1)
        self.assertGreaterEqual(metric(self.rdv, "otaswarm_rendezvous_stun_dropped_total", reason="bad_fingerprint"), 1)

    def test_unknown_comprehension_required_gets_420(self):
        m = rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST).add(0x0031, b"what").add(0xC123, b"fine")
        reply = rdvlib.decode(udp_exchange(self.stun, m.encode()))
        self.assertEqual(reply[1], rdvlib.ERROR)
        self.assertEqual(rdvlib.error_code(reply[3]), 420)
        self.assertEqual(reply[3][rdvlib.A_UNKNOWN], b"\x00\x31")

    def test_amplification_bounded(self):
        """Response/request size ratio of every unauthenticated reply (figures in docs/nat.md)."""
        cases = {
            "binding, bare 20 bytes": rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST).encode(fingerprint=False),
            "binding + FINGERPRINT": rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST).encode(),
            "binding + CHANGE-REQUEST": rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST).add(
                rdvlib.A_CHANGE_REQUEST, b"\0\0\0\6").encode(),
            "binding + PADDING 1000": rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST).add(rdvlib.A_PADDING, b"\0" * 1000).encode(),
            "binding + unknown attribute (420)": rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST).add(0x0031, b"").encode(False),
            "register, no token (401)": rdvlib.Msg(rdvlib.RDV_REGISTER, rdvlib.REQUEST).encode(fingerprint=False),
            "register, forged token (401)": rdvlib.Msg(rdvlib.RDV_REGISTER, rdvlib.REQUEST).add(
                rdvlib.A_TOKEN, b"v1.eA.1.AAAAAAAAAAAAAAAAAAAAAA").encode(fingerprint=False),
            "connect, no token (401)": rdvlib.Msg(rdvlib.RDV_CONNECT, rdvlib.REQUEST).encode(fingerprint=False),
            "unknown method (400)": rdvlib.Msg(0x0FF, rdvlib.REQUEST).encode(fingerprint=False),
        }
        worst = 0.0
        lines = []
        for name, req in cases.items():
            rep = udp_exchange(self.stun, req)
            self.assertIsNotNone(rep, name)
            ratio = len(rep) / len(req)
            worst = max(worst, ratio)
            lines.append("%-36s %5d -> %5d bytes  ratio %.2f" % (name, len(req), len(rep), ratio))
            self.assertLessEqual(ratio, 3.0, name)
        sys.stderr.write("\namplification (request -> response):\n  " + "\n  ".join(lines) +
                         "\n  worst %.2f\n" % worst)

    def test_stun_over_tcp(self):
        host, port = hostport(self.rdv.ready["stun_tcp"])
        m = rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST)
        with socket.create_connection((host, port), timeout=5) as c:
            for _ in range(2):  # two transactions on one connection
                m = rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST)
                c.sendall(m.encode())
                hdr = c.recv(20, socket.MSG_WAITALL)
                length = struct.unpack("!H", hdr[2:4])[0]
                body = c.recv(length, socket.MSG_WAITALL)
                d = rdvlib.decode(hdr + body)
                self.assertEqual(d[1], rdvlib.SUCCESS)
                self.assertEqual(rdvlib.decode_xor(d[3][rdvlib.A_XOR_MAPPED], d[2]), c.getsockname())
            c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not STUN: the server closes the connection
            try:
                self.assertEqual(c.recv(100), b"")
            except ConnectionResetError:
                pass  # closed with our unread bytes pending: an RST instead of a FIN

    def test_register_and_ticket(self):
        dev = rdvlib.Device("127.0.0.1", 0, self.stun, mint("phone-int-1"), b"h" * 20, "phone-int-1")
        self.addCleanup(dev.sock.close)
        got = dev.register({"mapping": "endpoint-independent", "filtering": "address-and-port-dependent", "public": False})
        self.assertEqual(got["reflexive"], "127.0.0.1:%d" % dev.lan[1])
        self.assertTrue(got["ticket"].startswith("n1."))
        self.assertLessEqual(len(got["ticket"]), 200)
        self.assertRegex(got["ticket"], r"^[A-Za-z0-9_.-]+$")
        self.assertGreaterEqual(metric(self.rdv, "otaswarm_rendezvous_registrations"), 1)

    def test_relay_release_frees_the_budget_slot(self):
        """--relay-max-allocations 1: a second relayed pair gets 486 until the first sends
        RDV-RELEASE (the real binary, real UDP devices)."""
        sym = {"mapping": "address-and-port-dependent", "filtering": "address-and-port-dependent", "public": False}
        with start(self.tmp.name, "--relay-max-allocations", "1") as p:
            stun = hostport(p.ready["stun"])
            devs = []
            for i in range(4):
                d = rdvlib.Device("127.0.0.1", 0, stun, mint("phone-relay-%d" % i), b"r" * 20, "phone-relay-%d" % i)
                self.addCleanup(d.sock.close)
                d.register(sym)
                devs.append(d)
            first = devs[0].connect(devs[1].device_id)
            self.assertNotIn("error", first, first)
            self.assertEqual(first["decision"], "relay")
            self.assertEqual(devs[2].connect(devs[3].device_id), {"error": 486})

            def release(dev, peer, token=None):
                m = rdvlib.Msg(rdvlib.RDV_RELEASE, rdvlib.REQUEST)
                m.add(rdvlib.A_TOKEN, (token or dev.token).encode()).add(rdvlib.A_INFO_HASH, dev.info_hash)
                m.add(rdvlib.A_PEER_ID, peer.encode())
                r = rdvlib.transact(dev.sock, stun, m.encode(), m.tid)
                self.assertIsNotNone(r)
                self.assertEqual(r[0], rdvlib.RDV_RELEASE)
                return r[1] if r[1] == rdvlib.SUCCESS else rdvlib.error_code(r[3])

            self.assertEqual(release(devs[0], devs[1].device_id, token="forged.token"), 401)
            self.assertEqual(devs[2].connect(devs[3].device_id), {"error": 486})
            self.assertEqual(release(devs[0], devs[1].device_id), rdvlib.SUCCESS)
            self.assertNotIn("error", devs[2].connect(devs[3].device_id))
            self.assertEqual(metric(p, "otaswarm_rendezvous_relay_releases_total", result="released"), 1)

    def test_turn_credentials_api(self):
        url = self.rdv.url("api", "/v1/turn-credentials")
        st, _, _ = http("POST", url)
        self.assertEqual(st, 401)
        forged = mint("phone-9")[:-4] + "AAAA"
        st, _, _ = http("POST", url, headers={"Authorization": "Bearer " + forged})
        self.assertEqual(st, 401)
        with tempfile.TemporaryDirectory() as d:
            other = subprocess.run([bin_path("otaswarm"), "token", "mint", "--key-file",
                                    write_secret(d, "k", "another-key-0123456789"), "--device", "phone-9"],
                                   capture_output=True, text=True, check=True).stdout.strip()
        st, _, _ = http("POST", url, headers={"Authorization": "Bearer " + other})
        self.assertEqual(st, 401)
        st, _, body = http("GET", url, headers={"Authorization": "Bearer " + mint("phone-9")})
        self.assertEqual(st, 405)
        st, _, body = http("POST", url, headers={"Authorization": "Bearer " + mint("phone-9")})
        self.assertEqual(st, 200, body)
        j = json.loads(body)
        expiry, device = j["username"].split(":", 1)
        self.assertEqual(device, "phone-9")
        self.assertAlmostEqual(int(expiry), int(time.time()) + j["ttl"], delta=5)
        want = base64.b64encode(hmac.new(TURN_SECRET.encode(), j["username"].encode(), hashlib.sha1).digest()).decode()
        self.assertEqual(j["password"], want)
        self.assertEqual(j["uris"], ["turn:127.0.0.1:3478?transport=udp"])
        cli = subprocess.run([bin_path("otaswarm"), "turn", "credentials", "--rendezvous", self.rdv.url("api"),
                              "--token", mint("phone-9")], capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertEqual(set(json.loads(cli.stdout)) >= {"username", "password", "ttl", "uris"}, True)
        cli = subprocess.run([bin_path("otaswarm"), "turn", "credentials", "--rendezvous", self.rdv.url("api"),
                              "--token", forged], capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
        self.assertEqual(cli.returncode, 1)
        self.assertGreaterEqual(metric(self.rdv, "otaswarm_rendezvous_turn_credentials_total", result="refused"), 3)

    def test_metrics_and_health(self):
        for path in ("/healthz", "/readyz"):
            self.assertEqual(http("GET", self.rdv.url("admin", path))[0], 200)
        _, _, body = http("GET", self.rdv.url("admin", "/metrics"))
        text = body.decode()
        for name in ("otaswarm_rendezvous_stun_requests_total", "otaswarm_rendezvous_registrations"):
            self.assertIn(name, text)


class FloodTest(unittest.TestCase):
    def test_flood_from_one_address_is_bounded(self):
        with tempfile.TemporaryDirectory() as tmp, start(tmp, "--rate-per-address", "100",
                                                         "--rate-per-address-burst", "200") as rdv:
            stun = hostport(rdv.ready["stun"])
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            req = rdvlib.Msg(rdvlib.BINDING, rdvlib.REQUEST).encode()
            for _ in range(FLOOD_COUNT):
                s.sendto(req, stun)
            replies = 0
            while select.select([s], [], [], 0.5)[0]:
                s.recv(2048)
                replies += 1
            s.close()
            self.assertGreater(replies, 0)
            self.assertLess(replies, FLOOD_COUNT // 2)
            limited = metric(rdv, "otaswarm_rendezvous_stun_requests_total", result="rate_limited")
            ok = metric(rdv, "otaswarm_rendezvous_stun_requests_total", result="ok")
            self.assertEqual(ok, replies)
            self.assertGreater(limited, 0)
            # Another address (another subscriber) is not affected by the flood.
            other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            other.bind(("127.0.0.3", 0))
            self.assertIsNotNone(udp_exchange(stun, req, sock=other))
            other.close()


class ConfigAndLifecycleTest(unittest.TestCase):
    def run_bad(self, *args):
        return subprocess.run([bin_path("otaswarm-rendezvous"), *args], capture_output=True, text=True, timeout=20)

    def test_bad_config_exits_2_naming_the_key(self):
        for args, key in [(["--stun-listen", "nonsense"], "stun-listen"),
                          (["--stun-listen", "127.0.0.1:0", "--alt-ip", "127.0.0.1"], "alt-ip"),
                          (["--stun-listen", "127.0.0.1:0", "--alt-ip", "banana"], "alt-ip"),
                          (["--stun-listen", "127.0.0.1:0", "--threads", "-1"], "threads"),
                          (["--stun-listen", "127.0.0.1:0", "--token-key-file", "/nonexistent"], "token-key-file"),
                          (["--no-such-flag", "1"], "no-such-flag"),
                          (["--store", "mongodb://127.0.0.1:1"], "store")]:
            out = self.run_bad(*args)
            self.assertEqual(out.returncode, 2, (args, out.stderr))
            self.assertIn(key, out.stderr)
            self.assertEqual(len(out.stderr.strip().splitlines()), 1, out.stderr)

    def test_toml_config_and_help(self):
        out = self.run_bad("--help")
        self.assertEqual(out.returncode, 0)
        for key in ("--stun-listen", "--alt-ip", "--alt-port", "--turn-uri", "--relay-max-allocations"):
            self.assertIn(key, out.stdout)
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "r.toml")
            with open(cfg, "w") as f:
                f.write('stun-listen = "127.0.0.1:0"\nalt_ip = "127.0.0.2"\napi-listen = "127.0.0.1:0"\n'
                        'admin-listen = "127.0.0.1:0"\nthreads = 1\nturn-uri = ["turn:a:3478", "turn:b:3478"]\n')
            with Proc([bin_path("otaswarm-rendezvous"), "--config", cfg]) as p:
                self.assertTrue(p.ready["stun_alt"].startswith("127.0.0.2:"))
                self.assertEqual(p.stop(), 0)

    def test_sigterm_with_open_tcp_connection_exits_0(self):
        with Proc([bin_path("otaswarm-rendezvous"), "--stun-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                   "--admin-listen", "127.0.0.1:0"]) as p:
            host, port = hostport(p.ready["stun_tcp"])
            with socket.create_connection((host, port), timeout=10) as c:
                p.p.send_signal(signal.SIGTERM)
                try:  # the server closes idle STUN/TCP sessions on shutdown (RST if not yet accepted)
                    self.assertEqual(c.recv(10), b"")
                except ConnectionResetError:
                    pass
                self.assertEqual(p.stop(), 0)

    def test_sigterm_and_sigint_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with Proc([bin_path("otaswarm-rendezvous"), "--stun-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                       "--admin-listen", "127.0.0.1:0"]) as p:
                self.assertEqual(p.stop(sig), 0)


if __name__ == "__main__":
    unittest.main()
