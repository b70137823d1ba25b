"""A second client family: aria2c leeches from a libtorrent seeder, the two meeting only
through otaswarm-tracker's HTTP announce (aria2's UDP tracker client sends no BEP 41 URL
data, so it cannot carry a device token)."""
import filecmp
import os
import signal
import subprocess
import tempfile
import unittest

from otaswarm_harness import free_port, wait_until
from lt_peer import LtPeer
from tracker_harness import Tracker, create_torrent, make_payload

PAYLOAD_SIZE = 2 * 1024 * 1024 + 999
SEED_TIMEOUT = 30
DOWNLOAD_TIMEOUT = 120  # aria2c exits by itself once done and seeded ~1 s
STATS_TIMEOUT = 15
STOP_TIMEOUT = 10  # seconds aria2c gets to exit on SIGTERM before SIGKILL
ARIA2_FLAGS = ["--interface=127.0.0.1", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
               "--enable-peer-exchange=false", "--summary-interval=0",
               # With --seed-time=0 aria2c skips event=completed (started, then stopped with
               # left=0); seeding ~1 s makes it send completed like a phone would.
               "--seed-time=0.02",
               "--console-log-level=notice", "--follow-torrent=true", "--file-allocation=none",
               "--check-certificate=false", "--max-tries=1", "--bt-tracker-connect-timeout=5",
               "--bt-tracker-timeout=10"]


class Aria2Leecher(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-aria2-")
        self.dir = self.tmp.name
        for sub in ("seed", "aria2"):
            os.mkdir(os.path.join(self.dir, sub))
        self.payload = make_payload(os.path.join(self.dir, "seed", "ota.zip"), PAYLOAD_SIZE, seed=11)
        self.tracker = Tracker()
        self.seeder = None
        self.aria2 = None

    def tearDown(self):
        if self.aria2 is not None and self.aria2.poll() is None:
            self.aria2.send_signal(signal.SIGTERM)
            try:
                self.aria2.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.aria2.kill()
                self.aria2.wait()
        if self.seeder:
            self.seeder.close()
        self.tracker.close()
        self.tmp.cleanup()

    def test_aria2_leeches_from_libtorrent_seeder(self):
        dead_webseed = "http://127.0.0.1:%d/ota.zip" % free_port()
        seed_torrent = os.path.join(self.dir, "seed.torrent")
        aria_torrent = os.path.join(self.dir, "aria2.torrent")
        ih = create_torrent(self.payload, seed_torrent, [dead_webseed],
                            [self.tracker.http_announce_url(self.tracker.mint("device-lt-seed"))])
        create_torrent(self.payload, aria_torrent, [dead_webseed],
                       [self.tracker.http_announce_url(self.tracker.mint("device-aria2"))])
        self.tracker.register(seed_torrent)

        self.seeder = LtPeer("seed", os.path.join(self.dir, "seed"))
        self.seeder.add(seed_torrent)
        st = self.seeder.wait(lambda s: s.is_seeding and self.seeder.tracker_ok(), SEED_TIMEOUT)
        self.assertTrue(st.is_seeding and self.seeder.tracker_ok(), self.seeder.log())

        log_path = os.path.join(self.dir, "aria2.log")
        with open(log_path, "wb") as log:
            self.aria2 = subprocess.Popen(
                ["aria2c", "--dir=" + os.path.join(self.dir, "aria2"), "--listen-port=%d" % free_port()] +
                ARIA2_FLAGS + [aria_torrent], stdout=log, stderr=subprocess.STDOUT)
            try:
                rc = self.aria2.wait(DOWNLOAD_TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = None
        with open(log_path, errors="replace") as f:
            output = f.read()[-4000:]
        self.assertEqual(rc, 0, "aria2c rc %r:\n%s\n%s" % (rc, output, self.seeder.log()))
        self.assertTrue(filecmp.cmp(self.payload, os.path.join(self.dir, "aria2", "ota.zip"), shallow=False))
        self.assertGreaterEqual(self.seeder.status().total_payload_upload, PAYLOAD_SIZE, "bytes came from the seeder")
        done = wait_until(lambda: (self.tracker.release(ih) or {}).get("completed", 0) >= 1, STATS_TIMEOUT)
        self.assertTrue(done, "aria2's completed announce not counted: %r" % self.tracker.release(ih))


if __name__ == "__main__":
    unittest.main()
