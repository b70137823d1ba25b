"""Status page in a real browser: a real otaswarm-tracker on loopback with a registered release
and real announces; Debian's chromium (driven by playwright-core) loads GET / on the admin
listener, sees the release and its numbers, sees them change after more announces, and fits a
375×812 phone screen. Screenshots go to the build dir (paths printed)."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

from otaswarm_harness import Proc, bin_path, http, write_secret
from tracker_harness import bencode

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = "/usr/bin/chromium"
RELEASE_NAME = "ota-2026.11-xperia-full.img"
# A release name is whatever the .torrent says: the page must show it as text, never as HTML.
HOSTILE_NAME = '<img src=x onerror="document.body.dataset.pwned=1">ota-evil.img'

LENGTH = 129241752
PIECE = 4 * 1024 * 1024


def make_torrent(announce, name=RELEASE_NAME):
    pieces = b"".join(hashlib.sha1(b"piece %d" % i).digest() for i in range((LENGTH + PIECE - 1) // PIECE))
    info = {"name": name, "length": LENGTH, "piece length": PIECE, "pieces": pieces, "private": 1}
    t = {"announce": announce, "info": info, "url-list": ["https://ota.example.com/ota-2026.11-xperia-full.img"]}
    return bencode(t), hashlib.sha1(bencode(info)).hexdigest()


def ensure_playwright():
    """npm ci into tests/browser/node_modules (skipped when it is there already)."""
    if os.path.isfile(os.path.join(HERE, "node_modules", "playwright-core", "package.json")):
        return
    if not shutil.which("npm"):
        raise RuntimeError("npm missing: scripts/install-deps.sh installs nodejs and npm")
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("npm ci failed:\n" + r.stdout + r.stderr)


def shot_dir():
    build = os.path.dirname(os.path.abspath(os.environ.get("OTASWARM_BIN", os.path.join(HERE, "../../build/bin"))))
    d = os.path.join(build, "test-artifacts")
    os.makedirs(d, exist_ok=True)
    return d


class StatusPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CHROMIUM, os.X_OK):
            raise RuntimeError("%s missing: scripts/install-deps.sh installs chromium" % CHROMIUM)
        if not shutil.which("node"):
            raise RuntimeError("node missing: scripts/install-deps.sh installs nodejs")
        ensure_playwright()
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-status-")
        d = cls.tmp.name
        key = write_secret(d, "token-key", "6b" * 32)
        cls.admin_token = "a1" * 32
        admin = write_secret(d, "admin-token", cls.admin_token)
        os.makedirs(os.path.join(d, "data"))
        cls.tracker = Proc([bin_path("otaswarm-tracker"), "--http-listen", "127.0.0.1:0", "--udp-listen", "127.0.0.1:0",
                            "--admin-listen", "127.0.0.1:0", "--token-key-file", key, "--admin-token-file", admin,
                            "--data-dir", os.path.join(d, "data"), "--open"])

    @classmethod
    def tearDownClass(cls):
        cls.tracker.stop()
        cls.tmp.cleanup()

    def announce(self, info_hash, i, left, uploaded, downloaded):
        q = urllib.parse.urlencode({"info_hash": bytes.fromhex(info_hash), "peer_id": hashlib.sha1(b"py-%d" % i).digest(),
                                    "port": 30000 + i, "uploaded": uploaded, "downloaded": downloaded, "left": left,
                                    "event": "started", "compact": 1})
        st, _, body = http("GET", self.tracker.url("http", "/announce?" + q))
        self.assertEqual(st, 200, body)
        self.assertNotIn(b"failure reason", body)

    def test_status_page_in_chromium(self):
        announce_url = self.tracker.url("http", "/announce")
        torrent, info_hash = make_torrent(announce_url)
        st, _, body = http("POST", self.tracker.url("admin", "/api/v1/releases"), torrent,
                           {"Content-Type": "application/x-bittorrent", "Authorization": "Bearer " + self.admin_token})
        self.assertIn(st, (200, 201), body)
        self.assertEqual(json.loads(body)["info_hash"], info_hash)
        hostile, hostile_hash = make_torrent(announce_url, HOSTILE_NAME)
        st, _, body = http("POST", self.tracker.url("admin", "/api/v1/releases"), hostile,
                           {"Content-Type": "application/x-bittorrent", "Authorization": "Bearer " + self.admin_token})
        self.assertIn(st, (200, 201), body)
        # A swarm: 2 seeders and 4 leechers that report uploads, so offload is non-zero.
        for i in range(2):
            self.announce(info_hash, i, 0, 40_000_000, 0)
        for i in range(2, 6):
            self.announce(info_hash, i, LENGTH // 2, 5_000_000, 60_000_000)
        st, _, body = http("GET", self.tracker.url("admin", "/status.json"))
        self.assertEqual(st, 200)
        rel = [r for r in json.loads(body)["releases"] if r["info_hash"] == info_hash][0]
        self.assertEqual((rel["seeders"], rel["leechers"]), (2, 4))

        shots = shot_dir()
        env = dict(os.environ, ADMIN_URL="http://" + self.tracker.addr("admin"), ANNOUNCE_URL=announce_url,
                   INFO_HASH=info_hash, RELEASE_NAME=RELEASE_NAME, SHOT_DIR=shots,
                   HOSTILE_HASH=hostile_hash, HOSTILE_NAME=HOSTILE_NAME)
        r = subprocess.run(["node", os.path.join(HERE, "status_page.mjs")], cwd=HERE, env=env,
                           capture_output=True, text=True, timeout=180)
        print(r.stdout)
        self.assertEqual(r.returncode, 0, "browser test failed:\n%s\n%s\ntracker stderr:\n%s"
                         % (r.stdout, r.stderr, self.tracker.stderr()[-3000:]))
        steps = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        self.assertEqual(steps[-1]["step"], "ok")
        for s in steps:
            if s["step"] == "screenshot":
                self.assertTrue(os.path.getsize(s["path"]) > 10_000, s["path"])
                print("screenshot:", s["path"])


if __name__ == "__main__":
    unittest.main()
