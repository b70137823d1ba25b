"""Origin pacing (docs/origin-pacing.md) against the real otaswarm-tracker: the per-release
policy through the admin API (set, read, refused, persisted across a restart), the advice in
HTTP replies (x-otaswarm-origin) and in the BEP 15 trailer only for announces with origin=1,
and the grant families on /metrics."""
import json
import os
import random
import signal
import struct
import tempfile
import unittest

from tracker_harness import (ACTION_ANNOUNCE, BEP15_MAGIC, EVENTS, Tracker, UdpTrackerClient, create_torrent,
                             http_announce, make_payload, metric_sum, peer_id)

PAYLOAD_SIZE = 300000
TRAILER = 18
MAGIC = b"OTSo"


class OriginPacing(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-origin-")
        self.tracker = Tracker()
        payload = make_payload(os.path.join(self.tmp.name, "ota.zip"), PAYLOAD_SIZE, seed=21)
        torrent = os.path.join(self.tmp.name, "ota.torrent")
        self.ih = create_torrent(payload, torrent, ["http://s3.example/ota.zip"], ["http://t.example/announce"])
        self.tracker.register(torrent)

    def tearDown(self):
        self.tracker.close()
        self.tmp.cleanup()

    def put(self, body):
        status, _, reply = self.tracker.admin("PUT", "/api/v1/releases/%s/origin-policy" % self.ih,
                                              body=body.encode(), content_type="application/json")
        return status, json.loads(reply)

    def udp_raw(self, token, url_query, port):
        """One BEP 15 announce; returns the raw reply body after action and transaction id."""
        with UdpTrackerClient(self.tracker.udp_addr) as c:
            c.connect()
            tid = random.getrandbits(32)
            pkt = struct.pack(">QII20s20sQQQIIIiH", c.connection_id, ACTION_ANNOUNCE, tid, bytes.fromhex(self.ih),
                              peer_id(), 0, PAYLOAD_SIZE, 0, EVENTS["started"], 0, random.getrandbits(32), 50, port)
            pkt += c.url_data_options("/announce/%s%s" % (token, url_query))
            action, body = c.exchange(pkt, tid)
            self.assertEqual(action, ACTION_ANNOUNCE, body)
            return body

    def test_policy_set_read_refused_and_persisted(self):
        rel = self.tracker.release(self.ih)
        self.assertEqual(rel["origin"]["policy"], "paced")  # the default
        status, doc = self.put(json.dumps({"policy": "greedy", "recheck_seconds": 30}))
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["policy"], "greedy")
        self.assertEqual(doc["recheck_seconds"], 30)
        for bad in ['{"policy":"fast"}', '{"grants":-1}', '{"bogus":1}', "[]", "{"]:
            status, doc = self.put(bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("error", doc)
        status, _, _ = self.tracker.admin("PUT", "/api/v1/releases/%s/origin-policy" % ("00" * 20), body=b"{}",
                                          content_type="application/json")
        self.assertEqual(status, 404)
        self.assertEqual(self.tracker.restart(signal.SIGTERM), 0)
        origin = self.tracker.release(self.ih)["origin"]
        self.assertEqual((origin["policy"], origin["recheck_seconds"]), ("greedy", 30), "policy lost across restart")

    def test_http_reply_carries_the_advice(self):
        status, reply = http_announce(self.tracker, self.tracker.mint("phone-http"), self.ih, peer_id(), 7001,
                                      left=PAYLOAD_SIZE, event="started")
        self.assertEqual(status, 200)
        advice = reply[b"x-otaswarm-origin"]
        self.assertEqual(advice[b"grant"], 1)  # alone in the swarm: starved, so granted
        self.assertEqual(advice[b"recheck"], 15)
        self.assertIn(b"interval", reply)  # the BEP 3 part is unchanged

    def test_udp_trailer_only_when_asked(self):
        plain = self.udp_raw(self.tracker.mint("phone-plain"), "", 7002)
        self.assertEqual((len(plain) - 12) % 6, 0)
        self.assertNotIn(MAGIC, plain[12:])
        asked = self.udp_raw(self.tracker.mint("phone-agent"), "?origin=1", 7003)
        trailer = asked[-TRAILER:]
        self.assertEqual(trailer[:4], MAGIC)
        version, flags, recheck, delay, rate, floor = struct.unpack(">BBHHII", trailer[4:])
        self.assertEqual((version, recheck, delay), (1, 15, 3))
        self.assertEqual(floor, 1250000)
        self.assertEqual((len(asked) - 12 - TRAILER) % 6, 0)
        self.assertGreaterEqual(metric_sum(self.tracker, "otaswarm_release_origin_grants_given_total"), 1)
        self.assertGreaterEqual(metric_sum(self.tracker, "otaswarm_release_origin_grants", info_hash=self.ih), 1)
        self.assertEqual(metric_sum(self.tracker, "otaswarm_release_origin_paced", info_hash=self.ih), 1)


if __name__ == "__main__":
    unittest.main()
