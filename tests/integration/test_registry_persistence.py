"""The release registry survives restarts of otaswarm-tracker on the same --data-dir:
a clean SIGTERM, a SIGKILL right after several 201s, and a SIGKILL while POSTs are in
flight. A 201 means the release is on disk; nothing half-written may appear."""
import json
import os
import signal
import tempfile
import threading
import unittest

from tracker_harness import (Tracker, create_torrent, http_announce, listed_releases, make_payload, peer_id,
                             torrent_bytes)

RELEASES_BEFORE_KILL = 8
CONCURRENT_POSTERS = 3
CONCURRENT_RELEASES = 60  # bounded: the posters stop when these run out
KILL_AFTER_CREATED = 15  # SIGKILL once this many POSTs have returned 201
TORRENT = "application/x-bittorrent"
POST_PHASE_TIMEOUT = 60  # seconds for the posters to reach KILL_AFTER_CREATED, and to notice the kill


class RegistryPersistence(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-registry-")
        self.tracker = Tracker()

    def tearDown(self):
        self.tracker.close()
        self.tmp.cleanup()

    def post(self, body):
        status, _, reply = self.tracker.admin("POST", "/api/v1/releases", body=body, content_type=TORRENT)
        return status, reply

    def make_release(self, i, size=40000):
        data = os.urandom(size)
        return torrent_bytes("release-%03d.zip" % i, data, webseed="http://s3.example/release-%03d.zip" % i)

    def test_sigterm_restart_keeps_releases_and_swarm_access(self):
        payload = make_payload(os.path.join(self.tmp.name, "ota.zip"), 300000, seed=9)
        torrent = os.path.join(self.tmp.name, "ota.torrent")
        ih = create_torrent(payload, torrent, ["http://s3.example/ota.zip"], ["http://t.example/announce"])
        reg = self.tracker.register(torrent)
        self.assertEqual(reg["info_hash"], ih)
        before = self.tracker.release(ih)

        self.assertEqual(self.tracker.restart(signal.SIGTERM), 0, "SIGTERM must exit 0")
        after = self.tracker.release(ih)
        self.assertIsNotNone(after, "release lost across restart")
        for k in ("info_hash", "name", "length", "webseeds"):
            self.assertEqual(after[k], before[k], k)
        self.assertIn(ih, listed_releases(self.tracker))
        status, reply = http_announce(self.tracker, self.tracker.mint("device-after-restart"), ih, peer_id(), 7000,
                                      left=0, event="started")
        self.assertNotIn(b"failure reason", reply, reply)

        rm = self.tracker.release_cli("rm", ih)
        self.assertEqual(rm.returncode, 0, rm.stderr)
        self.tracker.restart(signal.SIGTERM)
        self.assertNotIn(ih, listed_releases(self.tracker), "deleted release came back after restart")
        shown = self.tracker.release_cli("show", ih)
        self.assertEqual(shown.returncode, 1)
        self.assertIn("404", shown.stderr)

    def test_sigkill_right_after_201s(self):
        created = {}
        for i in range(RELEASES_BEFORE_KILL):
            status, reply = self.post(self.make_release(i))
            self.assertEqual(status, 201, reply)
            doc = json.loads(reply)
            created[doc["info_hash"]] = doc
        self.tracker.restart(signal.SIGKILL)
        listed = listed_releases(self.tracker)
        for ih, doc in created.items():
            self.assertIn(ih, listed, "release acknowledged with 201 lost by SIGKILL")
            self.assertEqual((listed[ih]["name"], listed[ih]["length"]), (doc["name"], doc["length"]))

    def test_sigkill_with_posts_in_flight(self):
        bodies = [self.make_release(100 + i, size=20000 + i) for i in range(CONCURRENT_RELEASES)]
        lock = threading.Lock()
        created = {}
        enough = threading.Event()

        def poster(mine):
            for body in mine:
                if enough.is_set():
                    return
                try:
                    status, reply = self.post(body)
                except OSError:
                    return  # the tracker died under us: the reply never came
                with lock:
                    if status == 201:
                        doc = json.loads(reply)
                        created[doc["info_hash"]] = doc
                        if len(created) >= KILL_AFTER_CREATED:
                            enough.set()

        threads = [threading.Thread(target=poster, args=(bodies[i::CONCURRENT_POSTERS],))
                   for i in range(CONCURRENT_POSTERS)]
        for t in threads:
            t.start()
        enough.wait(POST_PHASE_TIMEOUT)
        self.tracker.proc.p.send_signal(signal.SIGKILL)
        for t in threads:
            t.join(POST_PHASE_TIMEOUT)
        with lock:
            acknowledged = dict(created)
        self.assertGreaterEqual(len(acknowledged), KILL_AFTER_CREATED)

        self.tracker.restart(signal.SIGKILL)
        listed = listed_releases(self.tracker)
        for ih, doc in acknowledged.items():
            self.assertIn(ih, listed, "release acknowledged with 201 lost by SIGKILL")
        for ih, rel in listed.items():
            full = self.tracker.release(ih)
            self.assertIsNotNone(full, "listed release %s cannot be read back" % ih)
            self.assertTrue(full["name"].startswith("release-"), full)
            self.assertGreater(full["length"], 0, full)


if __name__ == "__main__":
    unittest.main()
