"""BEP 19 web seed: a libtorrent leecher alone in the swarm completes from a local
Range-capable HTTP server standing in for S3 (the download never depends on peers)."""
import filecmp
import os
import tempfile
import unittest

from otaswarm_harness import http, wait_until
from lt_peer import LtPeer
from range_server import RangeServer
from tracker_harness import Tracker, create_torrent, make_payload

PAYLOAD_SIZE = 3 * 1024 * 1024 + 4321
DOWNLOAD_TIMEOUT = 90  # seconds to fetch a few MB from a loopback web seed
STATS_TIMEOUT = 15


class WebSeed(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-webseed-")
        self.dir = self.tmp.name
        os.mkdir(os.path.join(self.dir, "s3"))
        os.mkdir(os.path.join(self.dir, "phone"))
        self.payload = make_payload(os.path.join(self.dir, "s3", "ota 2.0.zip"), PAYLOAD_SIZE, seed=5)
        self.s3 = RangeServer(os.path.join(self.dir, "s3"))
        self.tracker = Tracker()
        self.peer = None

    def tearDown(self):
        if self.peer:
            self.peer.close()
        self.tracker.close()
        self.s3.close()
        self.tmp.cleanup()

    def test_range_server_stand_in(self):
        url = self.s3.url("ota 2.0.zip")
        with open(self.payload, "rb") as f:
            data = f.read()
        status, headers, body = http("GET", url, headers={"Range": "bytes=100-199"})
        self.assertEqual((status, body), (206, data[100:200]))
        self.assertEqual(headers["Content-Range"], "bytes 100-199/%d" % PAYLOAD_SIZE)
        status, _, body = http("GET", url, headers={"Range": "bytes=-10"})
        self.assertEqual((status, body), (206, data[-10:]))
        status, _, _ = http("GET", url, headers={"Range": "bytes=%d-" % PAYLOAD_SIZE})
        self.assertEqual(status, 416)
        status, _, _ = http("GET", self.s3.url("../etc/passwd"))
        self.assertEqual(status, 404)

    def test_leecher_completes_from_webseed_alone(self):
        torrent = os.path.join(self.dir, "ota.torrent")
        token = self.tracker.mint("device-webseed-only")
        ih = create_torrent(self.payload, torrent, [self.s3.url("ota 2.0.zip")],
                            [self.tracker.http_announce_url(token)])
        self.tracker.register(torrent)

        self.peer = LtPeer("phone", os.path.join(self.dir, "phone"))
        self.peer.add(torrent)
        st = self.peer.wait(lambda s: s.is_seeding, DOWNLOAD_TIMEOUT)
        self.assertTrue(st.is_seeding, "at %.1f%%\n%s" % (st.progress * 100, self.peer.log()))
        self.assertTrue(filecmp.cmp(self.payload, os.path.join(self.dir, "phone", "ota 2.0.zip"), shallow=False))
        self.assertGreaterEqual(self.s3.bytes_sent, PAYLOAD_SIZE, "bytes came from the web seed")
        self.assertTrue(self.peer.tracker_ok(), self.peer.tracker_messages())

        self.peer.reannounce()
        done = wait_until(lambda: (self.tracker.release(ih) or {}).get("completed", 0) >= 1, STATS_TIMEOUT)
        self.assertTrue(done, "admin API: %r" % self.tracker.release(ih))


if __name__ == "__main__":
    unittest.main()
