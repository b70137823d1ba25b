"""Bad input against the real tracker over real sockets: garbage and truncated UDP datagrams,
malformed BEP 41 options, oversized and malformed HTTP requests, slow clients, connection
floods from one address, bad tokens. Every case gets a clear error or a counted drop; the
tracker keeps serving well-formed requests and exits 0 on SIGTERM."""
import os
import random
import socket
import struct
import sys
import time
import unittest

from otaswarm_harness import wait_until  # noqa: E402
from tracker_harness import Tracker, UdpTrackerClient, http_announce, metric_sum, peer_id, torrent_bytes  # noqa: E402

BEP15_MAGIC = 0x41727101980


def register(tracker, name):
    status, _, body = tracker.admin("POST", "/api/v1/releases", body=torrent_bytes(name, os.urandom(20000)),
                                    content_type="application/x-bittorrent")
    assert status == 201, body
    import json
    return json.loads(body)["info_hash"]


def raw_http(addr, data, read_timeout=5.0):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=read_timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tracker = Tracker(extra=["--http-read-timeout-ms", "1500", "--http-idle-timeout-ms", "1500",
                                     "--http-max-connections-per-address", "20", "--rate-address", "0"])
        cls.ih = register(cls.tracker, "bad-input")

    @classmethod
    def tearDownClass(cls):
        rc = cls.tracker.stop()
        cls.tracker.close()
        assert rc == 0, "tracker must exit 0 on SIGTERM, got %r" % rc

    def assert_alive(self):
        _, r = http_announce(self.tracker, self.tracker.mint("alive-%d" % random.getrandbits(32)), self.ih,
                             peer_id(), 6881, 100)
        self.assertIn(b"interval", r)
        self.assertIsNone(self.tracker.proc.p.poll())

    def udp_send(self, datagrams, expect_reply=False):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        replies = []
        try:
            for d in datagrams:
                s.sendto(d, self.tracker.udp_addr)
                if expect_reply:
                    try:
                        replies.append(s.recv(65536))
                    except socket.timeout:
                        replies.append(None)
        finally:
            s.close()
        return replies

    def test_udp_garbage_is_dropped_and_counted(self):
        rng = random.Random(7)
        before = metric_sum(self.tracker, "otaswarm_tracker_udp_dropped_total")
        garbage = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))) for _ in range(300)]
        garbage += [b"", b"\x00", b"x" * 15]
        self.udp_send(garbage)
        self.assertTrue(wait_until(lambda: metric_sum(self.tracker, "otaswarm_tracker_udp_dropped_total")
                                   >= before + 250, timeout=10))
        self.assert_alive()

    def test_udp_garbage_gets_no_reply(self):
        # Unparsable datagrams are never answered: no reflection towards spoofed sources.
        replies = self.udp_send([os.urandom(40) for _ in range(20)], expect_reply=True)
        self.assertTrue(all(r is None for r in replies), replies)

    def test_udp_truncated_announce_and_bad_options_get_errors(self):
        c = UdpTrackerClient(self.tracker.udp_addr)
        try:
            cid = c.connect()
            tid = 77
            short = struct.pack(">QII", cid, 1, tid) + b"\x00" * 30
            action, body = c.exchange(short, tid)
            self.assertEqual(action, 3)
            self.assertIn(b"truncated", body)
            full = struct.pack(">QII20s20sQQQIIIiH", cid, 1, tid + 1, bytes.fromhex(self.ih), peer_id(), 0, 10, 0,
                               2, 0, 0, 50, 6881)
            action, body = c.exchange(full + b"\x02\xff/announce/x", tid + 1)  # URL data claims 255 bytes
            self.assertEqual(action, 3)
            self.assertIn(b"BEP 41", body)
            action, body = c.exchange(full, tid + 1)  # no token at all
            self.assertEqual(action, 3)
            self.assertIn(b"token", body)
            bad_cid = struct.pack(">QII20s20sQQQIIIiH", cid ^ 1, 1, tid + 2, bytes.fromhex(self.ih), peer_id(), 0, 10,
                                  0, 2, 0, 0, 50, 6881)
            action, body = c.exchange(bad_cid, tid + 2)
            self.assertEqual(action, 3)
            self.assertIn(b"connection id", body)
        finally:
            c.close()
        self.assertGreaterEqual(metric_sum(self.tracker, "otaswarm_tracker_rejects_total", reason="bad_connection_id"), 1)
        self.assert_alive()

    def test_bad_tokens_refused_with_reasons(self):
        cases = {"garbage": b"malformed device token",
                 "v1.ZGV2.9999999999.AAAAAAAAAAAAAAAAAAAAAA": b"signature invalid",
                 "v9.ZGV2.1.AAAA": b"unsupported device token version"}
        for token, reason in cases.items():
            _, r = http_announce(self.tracker, token, self.ih, peer_id(), 6881, 100)
            self.assertIn(b"failure reason", r, token)
            self.assertIn(reason, r[b"failure reason"], token)
        _, r = http_announce(self.tracker, "", self.ih, peer_id(), 6881, 100)  # "/announce/" without a token
        self.assertIn(b"missing device token", r[b"failure reason"])
        self.assertGreaterEqual(metric_sum(self.tracker, "otaswarm_tracker_rejects_total", reason="bad_signature"), 1)
        self.assertGreaterEqual(metric_sum(self.tracker, "otaswarm_tracker_rejects_total", reason="malformed_token"), 1)

    def test_unknown_info_hash_refused(self):
        _, r = http_announce(self.tracker, self.tracker.mint("unknown-ih"), "ab" * 20, peer_id(), 6881, 100)
        self.assertIn(b"unregistered info_hash", r[b"failure reason"])

    def test_oversized_header_gets_431_or_413(self):
        req = b"GET /announce/x?" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        resp = raw_http(self.tracker.http_addr, req)
        self.assertRegex(resp.split(b"\r\n", 1)[0], rb"HTTP/1.1 (413|431|400)")
        self.assert_alive()

    def test_malformed_http_gets_400(self):
        for junk in [b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(60),  # a TLS hello
                     b"GET / HTTP/9.9\r\n\r\n", b"BLAH\r\n\r\n", b"GET /announce/x HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: -5\r\n\r\n"]:
            resp = raw_http(self.tracker.http_addr, junk)
            self.assertTrue(resp == b"" or resp.startswith(b"HTTP/1.1 400"), (junk[:20], resp[:80]))
        self.assertGreaterEqual(metric_sum(self.tracker, "otaswarm_tracker_http_bad_requests_total"), 2)
        self.assert_alive()

    def test_malformed_query_gets_failure_reason(self):
        token = self.tracker.mint("malformed-query")
        for q in ["info_hash=%zz", "info_hash=short&peer_id=x&port=1&left=1", "port=99999"]:
            resp = raw_http(self.tracker.http_addr,
                            ("GET /announce/%s?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (token, q)).encode())
            self.assertIn(b"200 OK", resp.split(b"\r\n", 1)[0])
            self.assertIn(b"failure reason", resp)

    def test_slow_client_is_cut_off(self):
        before = metric_sum(self.tracker, "otaswarm_tracker_http_timeouts_total")
        host, port = self.tracker.http_addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=10)
        try:
            s.sendall(b"GET /announce/x?info_hash=")  # and never finish (slowloris)
            start = time.time()
            data = s.recv(1024)  # the server closes the connection
            self.assertEqual(data, b"")
            self.assertLess(time.time() - start, 9)
        finally:
            s.close()
        self.assertTrue(wait_until(lambda: metric_sum(self.tracker, "otaswarm_tracker_http_timeouts_total") > before))

    def test_connection_cap_per_address(self):
        host, port = self.tracker.http_addr.rsplit(":", 1)
        socks = []
        try:
            for _ in range(30):
                socks.append(socket.create_connection((host, int(port)), timeout=5))
            time.sleep(0.3)
            closed = 0
            for s in socks:
                s.settimeout(0.2)
                try:
                    if s.recv(1) == b"":
                        closed += 1
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    closed += 1
            self.assertGreaterEqual(closed, 10, "connections beyond the per-address cap are refused")
            self.assertGreaterEqual(metric_sum(self.tracker, "otaswarm_tracker_http_connections_total",
                                               result="rejected"), 10)
        finally:
            for s in socks:
                s.close()
        time.sleep(0.2)
        self.assert_alive()

    def test_metrics_pass_promtool(self):
        import shutil
        import subprocess
        if not shutil.which("promtool"):
            self.skipTest("promtool not installed")
        _, _, body = self.tracker.admin("GET", "/metrics")
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
