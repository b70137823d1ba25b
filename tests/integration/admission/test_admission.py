"""Admission control against the real tracker: per-device and per-address token buckets
answer with BEP 31 `retry in` (HTTP) or an error with a retry hint (UDP), early periodic
re-announces get a cheap reply, and the announce interval grows under load and falls back."""
import json
import os
import sys
import time
import unittest

from otaswarm_harness import wait_until  # noqa: E402
from tracker_harness import (Tracker, UdpTrackerClient, http_announce, metric_sum, peer_id,  # noqa: E402
                             torrent_bytes)


def register(tracker, name):
    status, _, body = tracker.admin("POST", "/api/v1/releases", body=torrent_bytes(name, os.urandom(20000)),
                                    content_type="application/x-bittorrent")
    assert status == 201, body
    return json.loads(body)["info_hash"]


class DeviceAndAddressLimits(unittest.TestCase):
    def setUp(self):
        self.tracker = Tracker(extra=["--rate-device", "0.1", "--rate-device-burst", "5",
                                      "--rate-address", "1", "--rate-address-burst", "30"])
        self.ih = register(self.tracker, "limits")

    def tearDown(self):
        self.tracker.close()

    def test_device_limit_http_retry_in(self):
        token = self.tracker.mint("chatty-phone")
        pid = peer_id()
        replies = [http_announce(self.tracker, token, self.ih, pid, 6881, 100)[1] for _ in range(8)]
        ok = [r for r in replies if b"failure reason" not in r]
        limited = [r for r in replies if b"failure reason" in r]
        self.assertEqual(len(ok), 5, "the burst is admitted")
        self.assertEqual(len(limited), 3)
        for r in limited:
            self.assertIn(b"rate limited", r[b"failure reason"])
            self.assertGreaterEqual(r[b"retry in"], 1)  # BEP 31, minutes
        self.assertEqual(metric_sum(self.tracker, "otaswarm_tracker_admission_total", decision="device_limited"), 3)
        self.assertEqual(metric_sum(self.tracker, "otaswarm_tracker_announces_total", result="rate_limited"), 3)
        # Another device is not affected.
        _, r = http_announce(self.tracker, self.tracker.mint("quiet-phone"), self.ih, peer_id(), 6882, 100)
        self.assertNotIn(b"failure reason", r)

    def test_device_limit_udp_error_with_retry_hint(self):
        token = self.tracker.mint("chatty-udp-phone")
        c = UdpTrackerClient(self.tracker.udp_addr)
        try:
            results = [c.announce(token, self.ih, peer_id(), 6883, 100) for _ in range(7)]
        finally:
            c.close()
        errors = [r for r in results if r[0] == "error"]
        self.assertEqual(len(errors), 2, results)
        for _, msg in errors:
            self.assertRegex(msg, r"rate limited: retry in \d+ s")

    def test_address_limit_is_per_address(self):
        pid = peer_id()
        limited = 0
        for i in range(40):  # 40 different devices from one address (a carrier-grade NAT)
            _, r = http_announce(self.tracker, self.tracker.mint("cgn-%d" % i), self.ih, peer_id(), 7000 + i, 100)
            limited += b"failure reason" in r
        self.assertGreaterEqual(limited, 9)
        self.assertLessEqual(limited, 10)
        self.assertGreaterEqual(metric_sum(self.tracker, "otaswarm_tracker_admission_total",
                                           decision="address_limited"), 9)
        del pid


class EarlyReannounce(unittest.TestCase):
    def test_periodic_before_min_interval_gets_cheap_reply(self):
        with Tracker(extra=["--min-interval", "600", "--announce-interval", "1200"]) as tracker:
            ih = register(tracker, "too-soon")
            seeder = tracker.mint("seeder")
            http_announce(tracker, seeder, ih, peer_id(), 6001, 0, event="started")
            token = tracker.mint("eager")
            pid = peer_id()
            _, first = http_announce(tracker, token, ih, pid, 6002, 100, event="started")
            self.assertEqual(len(first[b"peers"]), 6)
            _, again = http_announce(tracker, token, ih, pid, 6002, 100)
            self.assertNotIn(b"failure reason", again)
            self.assertEqual(again[b"peers"], b"", "early periodic announce: counts only, no peer selection")
            self.assertEqual(again[b"complete"], 1)
            self.assertEqual(metric_sum(tracker, "otaswarm_tracker_announces_total", result="too_soon"), 1)
            _, done = http_announce(tracker, token, ih, pid, 6002, 0, event="completed")
            self.assertEqual(done[b"complete"], 2, "events are never deferred")


class AdaptiveInterval(unittest.TestCase):
    def test_interval_grows_under_load_and_falls_back(self):
        with Tracker(extra=["--adaptive-target-rate", "20", "--adaptive-max-factor", "4",
                            "--announce-interval", "600", "--min-interval", "60", "--interval-jitter", "0",
                            "--rate-device", "0", "--rate-address", "0"]) as tracker:
            ih = register(tracker, "adaptive")
            token = tracker.mint("load-phone")
            base = metric_sum(tracker, "otaswarm_tracker_interval_seconds")
            self.assertEqual(base, 600)
            c = UdpTrackerClient(tracker.udp_addr)
            try:
                def load_until(pred, limit=40.0):
                    deadline = time.time() + limit
                    while time.time() < deadline:
                        for _ in range(50):
                            c.announce(token, ih, peer_id(), 6100, 100)
                        if pred():
                            return True
                    return False
                grew = load_until(lambda: metric_sum(tracker, "otaswarm_tracker_interval_seconds") > 1200)
                self.assertTrue(grew, "interval must grow while the load is above target")
                reply = c.announce(token, ih, peer_id(), 6100, 100)
                self.assertEqual(reply[0], "announce")
                self.assertGreater(reply[1], 1200, "the interval handed to clients follows the gauge")
            finally:
                c.close()
            fell = wait_until(lambda: metric_sum(tracker, "otaswarm_tracker_interval_seconds") < 700, timeout=40,
                              interval=0.5)
            self.assertTrue(fell, "interval must come back down once the load is gone")


if __name__ == "__main__":
    unittest.main()
