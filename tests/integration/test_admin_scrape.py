"""Admin API authentication, release validation, unknown info_hash refusal, and scrape
(BEP 48 over HTTP, BEP 15 over UDP) against the real otaswarm-tracker."""
import json
import os
import socket
import tempfile
import unittest

from otaswarm_harness import http, write_secret
from tracker_harness import (Tracker, UdpTrackerClient, cli, compact_peers, create_torrent, http_announce,
                             http_scrape, make_payload, metric_sum, peer_id, torrent_bytes)

PAYLOAD_SIZE = 200000
UNKNOWN_HASH = "00" * 19 + "01"
SILENT_SERVER_TIMEOUT_MS = 500
CONTRACT_FIELDS = ("info_hash", "name", "length", "webseeds", "seeders", "leechers", "completed", "offload")


class AdminAndScrape(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-admin-")
        cls.tracker = Tracker()
        payload = make_payload(os.path.join(cls.tmp.name, "ota.zip"), PAYLOAD_SIZE, seed=13)
        cls.torrent = os.path.join(cls.tmp.name, "ota.torrent")
        cls.ih = create_torrent(payload, cls.torrent, ["http://s3.example/ota.zip"], ["http://t.example/announce"])
        cls.reg = cls.tracker.register(cls.torrent)
        cls.token = cls.tracker.mint("device-admin-test")

    @classmethod
    def tearDownClass(cls):
        cls.tracker.close()
        cls.tmp.cleanup()

    def test_registration_reply_and_show_fields(self):
        self.assertEqual(self.reg["info_hash"], self.ih)
        r = self.tracker.release_cli("show", self.ih.upper())
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        for k in CONTRACT_FIELDS:
            self.assertIn(k, doc)
        self.assertEqual(doc["name"], "ota.zip")
        self.assertEqual(doc["length"], PAYLOAD_SIZE)
        self.assertEqual(doc["webseeds"], ["http://s3.example/ota.zip"])

    def test_admin_api_needs_the_bearer_token(self):
        body = torrent_bytes("sneaky.zip", b"x" * 30000)
        for token in ("", "wrong-" + "0" * 58, self.tracker.admin_token + "x"):
            with self.subTest(token=token[:8]):
                for method, path, data in (("GET", "/api/v1/releases", None),
                                           ("GET", "/api/v1/releases/" + self.ih, None),
                                           ("DELETE", "/api/v1/releases/" + self.ih, None),
                                           ("POST", "/api/v1/releases", body)):
                    status, _, _ = self.tracker.admin(method, path, body=data, token=token,
                                                      content_type="application/x-bittorrent" if data else None)
                    self.assertEqual(status, 401, "%s %s with token %r" % (method, path, token[:8]))
        status, _, _ = http("GET", self.tracker.admin_url + "/api/v1/releases",
                            headers={"Authorization": "Basic " + self.tracker.admin_token})
        self.assertEqual(status, 401)
        self.assertIsNotNone(self.tracker.release(self.ih), "unauthorised DELETE removed the release")

        wrong = write_secret(self.tmp.name, "wrong.token", "f" * 64)
        r = cli("release", "list", "--admin", self.tracker.admin_url, "--admin-token-file", wrong)
        self.assertEqual(r.returncode, 1)
        self.assertIn("401", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_admin_minted_token_accepted(self):
        body = json.dumps({"device_id": "device-from-api", "ttl_seconds": 600}).encode()
        status, _, reply = self.tracker.admin("POST", "/api/v1/tokens", body=body, content_type="application/json")
        self.assertEqual(status, 201, reply)
        token = json.loads(reply)["token"]
        status, r = http_announce(self.tracker, token, self.ih, peer_id(), 6999, left=0, event="stopped")
        self.assertNotIn(b"failure reason", r, r)
        status, _, _ = self.tracker.admin("POST", "/api/v1/tokens", body=body, token="",
                                          content_type="application/json")
        self.assertEqual(status, 401)

    def test_health_and_metrics_need_no_token(self):
        for path in ("/healthz", "/readyz", "/metrics"):
            status, _, _ = http("GET", self.tracker.admin_url + path)
            self.assertEqual(status, 200, path)

    def test_bad_releases_refused(self):
        cases = {
            "garbage": b"this is not bencode",
            "not private": torrent_bytes("public.zip", b"y" * 30000, private=False),
            "truncated": torrent_bytes("cut.zip", b"z" * 30000)[:-10],
        }
        for what, body in cases.items():
            with self.subTest(what):
                status, _, reply = self.tracker.admin("POST", "/api/v1/releases", body=body,
                                                      content_type="application/x-bittorrent")
                self.assertGreaterEqual(status, 400, "%s: %d %r" % (what, status, reply[:200]))
                self.assertLess(status, 500, "%s: %d %r" % (what, status, reply[:200]))

    def test_cli_add_refuses_non_torrent_locally(self):
        junk = os.path.join(self.tmp.name, "junk.torrent")
        with open(junk, "wb") as f:
            f.write(b"<html>not a torrent</html>")
        r = self.tracker.release_cli("add", junk)
        self.assertEqual(r.returncode, 2)
        r = self.tracker.release_cli("show", "not-a-hash")
        self.assertEqual(r.returncode, 2)
        r = cli("release", "list", "--admin", "http://127.0.0.1:1", "--admin-token-file", self.tracker.admin_token_file)
        self.assertEqual(r.returncode, 1, "unreachable admin API")

    def test_cli_reports_server_refusal_and_silence(self):
        public = os.path.join(self.tmp.name, "public.torrent")
        with open(public, "wb") as f:
            f.write(torrent_bytes("public.zip", b"p" * 30000, private=False))
        r = self.tracker.release_cli("add", public)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"POST /api/v1/releases: HTTP 4\d\d")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

        # A server that accepts the connection and never answers: the deadline must end it.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)
            url = "http://127.0.0.1:%d" % silent.getsockname()[1]
            r = cli("release", "list", "--admin", url, "--admin-token-file", self.tracker.admin_token_file,
                    "--timeout-ms", str(SILENT_SERVER_TIMEOUT_MS))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no reply within", r.stderr)

    def test_unknown_info_hash_refused_and_counted(self):
        before = metric_sum(self.tracker, "otaswarm_tracker_rejects_total", reason="unknown_info_hash")
        status, reply = http_announce(self.tracker, self.token, UNKNOWN_HASH, peer_id(), 6881, left=1000,
                                      event="started")
        self.assertEqual(status, 200)
        self.assertIn(b"failure reason", reply, reply)
        with UdpTrackerClient(self.tracker.udp_addr) as udp:
            res = udp.announce(self.token, UNKNOWN_HASH, peer_id(), 6881, left=1000)
        self.assertEqual(res[0], "error", res)
        after = metric_sum(self.tracker, "otaswarm_tracker_rejects_total", reason="unknown_info_hash")
        self.assertGreaterEqual(after - before, 2)

    def test_announce_without_token_refused(self):
        status, _, body = http("GET", "http://%s/announce?info_hash=%s&peer_id=%s&port=1&left=0" % (
            self.tracker.http_addr, "%00" * 20, "A" * 20))
        self.assertTrue(status >= 400 or b"failure reason" in body, (status, body[:200]))
        with UdpTrackerClient(self.tracker.udp_addr) as udp:
            res = udp.announce(None, self.ih, peer_id(), 6881, left=0, url_data="")
        self.assertEqual(res[0], "error", res)

    def test_scrape_http_and_udp(self):
        seed_pid, l1, l2 = peer_id(), peer_id(), peer_id()
        tok = lambda n: self.tracker.mint("device-scrape-%d" % n)
        status, r = http_announce(self.tracker, tok(1), self.ih, seed_pid, 7001, left=0, event="started")
        self.assertNotIn(b"failure reason", r, r)
        status, r = http_announce(self.tracker, tok(2), self.ih, l1, 7002, left=PAYLOAD_SIZE, event="started",
                                  path_style="suffix")
        self.assertNotIn(b"failure reason", r, r)
        self.assertIn(("127.0.0.1", 7001), compact_peers(r[b"peers"]), "leecher should be given the seeder")
        with UdpTrackerClient(self.tracker.udp_addr) as udp:
            res = udp.announce(tok(3), self.ih, l2, 7003, left=PAYLOAD_SIZE)
            self.assertEqual(res[0], "announce", res)
            self.assertIn(("127.0.0.1", 7001), res[4])

            status, s = http_scrape(self.tracker, tok(4), [self.ih, UNKNOWN_HASH])
            self.assertEqual(status, 200, s)
            f = s[b"files"][bytes.fromhex(self.ih)]
            self.assertEqual((f[b"complete"], f[b"incomplete"], f[b"downloaded"]), (1, 2, 0))

            kind, entries = udp.scrape([self.ih])
            self.assertEqual(kind, "scrape", entries)
            self.assertEqual(entries[0], (1, 0, 2))

            status, r = http_announce(self.tracker, tok(2), self.ih, l1, 7002, left=0, event="completed",
                                      downloaded=PAYLOAD_SIZE)
            self.assertNotIn(b"failure reason", r, r)
            kind, entries = udp.scrape([self.ih])
            self.assertEqual(entries[0], (2, 1, 1))
        status, s = http_scrape(self.tracker, tok(4), [self.ih])
        f = s[b"files"][bytes.fromhex(self.ih)]
        self.assertEqual((f[b"complete"], f[b"incomplete"], f[b"downloaded"]), (2, 1, 1))
        doc = self.tracker.release(self.ih)
        self.assertEqual((doc["seeders"], doc["leechers"], doc["completed"]), (2, 1, 1), doc)


if __name__ == "__main__":
    unittest.main()
