"""Native TLS on the announce and admin listeners (for deployments without an ingress):
a real HTTPS announce and admin call, plain HTTP on a TLS port fails cleanly, and a missing
certificate is a configuration error (exit 2, one line naming the key)."""
import http.client
import os
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

from otaswarm_harness import bin_path  # noqa: E402
from tracker_harness import Tracker, bdecode, peer_id, torrent_bytes  # noqa: E402


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-tls-")
        cls.cert = os.path.join(cls.tmp.name, "tls.crt")
        cls.key = os.path.join(cls.tmp.name, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cls.key, "-out",
                        cls.cert, "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
        cls.tracker = Tracker(extra=["--https-listen", "127.0.0.1:0", "--admin-tls", "--tls-cert-file", cls.cert,
                                     "--tls-key-file", cls.key])
        cls.ctx = ssl.create_default_context(cafile=cls.cert)
        cls.ctx.check_hostname = False

    @classmethod
    def tearDownClass(cls):
        cls.tracker.close()
        cls.tmp.cleanup()

    def https(self, addr, method, path, body=None, headers=None):
        host, port = addr.rsplit(":", 1)
        conn = http.client.HTTPSConnection(host, int(port), context=self.ctx, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def test_announce_and_admin_over_tls(self):
        admin = self.tracker.proc.addr("admin")
        auth = {"Authorization": "Bearer " + self.tracker.admin_token, "Content-Type": "application/x-bittorrent"}
        status, body = self.https(admin, "POST", "/api/v1/releases", torrent_bytes("tls", os.urandom(20000)), auth)
        self.assertEqual(status, 201, body)
        import json
        ih = json.loads(body)["info_hash"]
        q = urllib.parse.urlencode({"info_hash": bytes.fromhex(ih), "peer_id": peer_id(), "port": 6881, "left": 5,
                                    "uploaded": 0, "downloaded": 0})
        status, body = self.https(self.tracker.proc.addr("https"), "GET",
                                  "/announce/%s?%s" % (self.tracker.mint("tls-phone"), q))
        self.assertEqual(status, 200)
        reply = bdecode(body)
        self.assertIn(b"interval", reply, reply)
        self.assertEqual(reply[b"incomplete"], 1)

    def test_plain_http_on_tls_port_fails_cleanly(self):
        host, port = self.tracker.proc.addr("https").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", "/announce")
            conn.getresponse().read()
        conn.close()
        status, _ = self.https(self.tracker.proc.addr("admin"), "GET", "/healthz")
        self.assertEqual(status, 200)

    def test_missing_certificate_is_config_error(self):
        r = subprocess.run([bin_path("otaswarm-tracker"), "--https-listen", "127.0.0.1:0", "--tls-cert-file",
                            "/nonexistent.crt", "--tls-key-file", self.key, "--open", "--data-dir",
                            os.path.join(self.tmp.name, "d")], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn("tls-cert-file", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
