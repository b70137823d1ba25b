"""Tracker replicas sharing state in Redis: real otaswarm-tracker processes, a real 6-node
Redis Cluster (3 masters + 3 replicas) and a real single redis-server, all on loopback.

- A peer announced to replica 1 is handed out by replica 2; a release registered on
  replica 1 is served by replica 2; a replica started later serves every release at once.
- A cluster master (the one holding the release registry) is killed mid-load: no crash,
  every request answered, errors and degraded answers only inside the failover window, no
  registered release lost.
- Redis stopped entirely and started again: the tracker keeps answering (degraded, from its
  local fallback), /readyz goes 503 then 200, and it recovers without a restart.
"""
import os
import threading
import time
import unittest

from otaswarm_harness import http, wait_until
from redis_harness import Keys, RedisCluster, RedisNode, mint_token
from tracker_harness import compact_peers, http_announce, info_hash_of, listed_releases, peer_id, torrent_bytes

DEGRADED_INTERVAL = 120  # the Redis store's re-announce hint while answering from its fallback
CONVERGENCE_LIMIT = 10  # seconds we allow for a peer to reach the other replica (measured: ms)
RELEASE_REFRESH = 10  # seconds we allow for a release to reach the other replica (refresh every 2 s)
FAILOVER_LIMIT = 40  # seconds for the cluster to promote a replica (node timeout 2 s)
RECOVERY_LIMIT = 30  # seconds for a tracker to report ready again once Redis is back
WINDOW_SLACK = 2.0  # seconds after recovery in which an answer may still have been in flight
AFTER_RECOVERY = 3  # seconds of load after the window that must be answered from Redis
LOAD_DEVICES = 12
# The load loop re-announces the same devices back to back: lift the per-device rate limit.
LOAD_FLAGS = ["--rate-device", "1000000", "--rate-device-burst", "1000000"]
LOAD_RELEASES = 6


def register(replica, name):
    body = torrent_bytes(name, os.urandom(40000))
    status, _, text = replica.admin("POST", "/api/v1/releases", body=body, content_type="application/x-bittorrent")
    return status, info_hash_of(body), text


def ready(replica, query=""):
    try:
        return http("GET", replica.admin_url + "/readyz" + query, timeout=5)[0]
    except OSError:
        return None


def visible(replica, ih):
    return replica.admin("GET", "/api/v1/releases/" + ih)[0] == 200


class ClusterReplicas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = RedisCluster()
        cls.keys = Keys()
        cls.r1 = cls.r2 = None
        try:
            cls.r1 = cls.keys.replica(cls.cluster.url, LOAD_FLAGS)
            cls.r2 = cls.keys.replica(cls.cluster.url, LOAD_FLAGS)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for r in (cls.r1, cls.r2):
            if r is not None:
                r.close()
        cls.keys.close()
        cls.cluster.close()

    def token(self, device):
        return mint_token(self.keys.token_key, device)

    def test_0_replica_started_later_sees_all_releases(self):
        early = []
        for i in range(3):
            status, ih, text = register(self.r1 if i % 2 else self.r2, "ota-early-%d" % i)
            self.assertEqual(status, 201, text)
            early.append(ih)
        r3 = self.keys.replica(self.cluster.url, LOAD_FLAGS)
        try:
            # Loaded from Redis before the ready line: no refresh period to wait for.
            listed = listed_releases(r3)
            for ih in early:
                self.assertIn(ih, listed)
                st, a = http_announce(r3, self.token("phone-late"), ih, peer_id(), 40003, left=10, event="started")
                self.assertEqual(st, 200)
                self.assertNotIn(b"failure reason", a)
        finally:
            r3.close()

    def test_1_peer_and_release_cross_replica(self):
        status, ih, text = register(self.r1, "ota-cross")
        self.assertEqual(status, 201, text)
        self.assertTrue(wait_until(lambda: visible(self.r2, ih), RELEASE_REFRESH), "release never reached replica 2")
        st, a = http_announce(self.r1, self.token("phone-a"), ih, peer_id(), 40001, left=0, event="started")
        self.assertEqual(st, 200)
        self.assertNotIn(b"failure reason", a)
        # Peers travel between replicas through the release's streams: eventually (milliseconds).
        pid_b = peer_id()
        seen = {}

        def b_hands_out_a():
            st, b = http_announce(self.r2, self.token("phone-b"), ih, pid_b, 40002, left=1000, event="started")
            self.assertEqual(st, 200)
            self.assertNotIn(b"failure reason", b)
            seen["b"] = b
            return ("127.0.0.1", 40001) in compact_peers(b[b"peers"])

        self.assertTrue(wait_until(b_hands_out_a, CONVERGENCE_LIMIT), "replica 2 never handed out replica 1's peer")
        b = seen["b"]
        self.assertGreater(b[b"interval"], DEGRADED_INTERVAL)
        self.assertEqual(b[b"complete"], 1)
        self.assertEqual(b[b"incomplete"], 1)

    def test_2_master_kill_mid_load(self):
        releases = []
        for i in range(LOAD_RELEASES):
            status, ih, text = register(self.r1 if i % 2 else self.r2, "ota-load-%d" % i)
            self.assertEqual(status, 201, text)
            releases.append(ih)
        for r in (self.r1, self.r2):
            for ih in releases:
                self.assertTrue(wait_until(lambda: visible(r, ih), RELEASE_REFRESH))
        before = set(listed_releases(self.r1))
        victim = self.cluster.master_for("os:releases")
        self.assertIsNotNone(victim)
        tokens = [self.token("load-%d" % d) for d in range(LOAD_DEVICES)]
        pids = [peer_id() for _ in range(LOAD_DEVICES)]
        results = []  # (start, end, ok, degraded)
        stop = threading.Event()

        def load(replica, offset):
            n = 0
            while not stop.is_set():
                d = (n + offset) % LOAD_DEVICES
                ih = releases[n % len(releases)]
                t = time.time()
                try:
                    st, r = http_announce(replica, tokens[d], ih, pids[d], 41000 + d, left=d * 10)
                    ok = st == 200 and isinstance(r, dict) and b"failure reason" not in r
                    degraded = ok and r[b"interval"] <= DEGRADED_INTERVAL
                except OSError:
                    ok, degraded = False, False
                results.append((t, time.time(), ok, degraded))
                n += 1

        threads = [threading.Thread(target=load, args=(r, i)) for i, r in enumerate((self.r1, self.r2))]
        for th in threads:
            th.start()
        try:
            time.sleep(2)
            t_kill = time.time()
            victim.kill()
            self.assertTrue(self.cluster.wait_ok(FAILOVER_LIMIT), "no failover")
            self.assertTrue(wait_until(lambda: ready(self.r1) == 200 and ready(self.r2) == 200, RECOVERY_LIMIT),
                            "replicas did not report ready after the failover")
            t_ready = time.time()
            time.sleep(WINDOW_SLACK + AFTER_RECOVERY)
        finally:
            stop.set()
            for th in threads:
                th.join(30)
        self.assertTrue(self.r1.alive() and self.r2.alive(), "a tracker replica died")
        bad = [(t0, t1) for t0, t1, ok, _ in results if not ok]
        degraded = [(t0, t1) for t0, t1, _, d in results if d]
        self.assertGreater(len([1 for t0, _, ok, d in results if t0 > t_ready + WINDOW_SLACK and ok and not d]), 0)
        for t0, t1 in bad + degraded:
            self.assertGreaterEqual(t1, t_kill, "error or degraded answer before the master was killed")
            self.assertLessEqual(t0, t_ready + WINDOW_SLACK, "error or degraded answer after the failover ended")
        print("load: %d answers, %d errors, %d degraded, failover window %.1f s" %
              (len(results), len(bad), len(degraded), t_ready - t_kill))
        # No registered release lost: every replica (refreshed from the new master) still has them all.
        for r in (self.r1, self.r2):
            self.assertTrue(wait_until(lambda: before <= set(listed_releases(r)), RELEASE_REFRESH),
                            "a release was lost in the failover")
        # The replicas converge again after the failover: a peer announced to replica 1 on every
        # release (so on shards of every master, the promoted one included) is handed out by replica 2.
        for n, ih in enumerate(releases):
            st, a = http_announce(self.r1, self.token("after-%d" % n), ih, peer_id(), 44000 + n, left=0,
                                  event="started")
            self.assertEqual(st, 200)
            pid = peer_id()
            self.assertTrue(wait_until(lambda: ("127.0.0.1", 44000 + n) in compact_peers(
                http_announce(self.r2, self.token("asker-%d" % n), ih, pid, 45000 + n, left=10,
                              event="started")[1][b"peers"]),  # started: never a cheap too-soon reply
                CONVERGENCE_LIMIT), "replica 2 never handed out a peer announced to replica 1 after the failover")
        # A write is acknowledged only once a replica has it: bring the killed node back (it
        # rejoins as the new master's replica, as a restarted pod would) and register again.
        victim.start()
        self.assertTrue(self.cluster.wait_ok(FAILOVER_LIMIT))
        status, ih, text = register(self.r2, "ota-after-failover")
        self.assertEqual(status, 201, text)
        self.assertTrue(wait_until(lambda: visible(self.r1, ih), RELEASE_REFRESH))


class ReleaseReadThrough(unittest.TestCase):
    """Two replicas on one real redis-server: a release registered through replica A is
    accepted by replica B at once (B reads an unknown info_hash through to Redis), not only
    after B's periodic registry refresh."""

    def setUp(self):
        self.node = RedisNode()
        self.keys = Keys()
        self.a = self.b = None
        try:
            self.a = self.keys.replica("redis://" + self.node.address)
            self.b = self.keys.replica("redis://" + self.node.address)
        except BaseException:
            self.tearDown()
            raise

    def tearDown(self):
        for r in (self.a, self.b):
            if r is not None:
                r.close()
        self.keys.close()
        self.node.close()

    def test_first_announce_to_b_right_after_the_201_from_a(self):
        tok = lambda d: mint_token(self.keys.token_key, d)
        for i in range(5):
            status, ih, text = register(self.a, "ota-readthrough-%d" % i)
            self.assertEqual(status, 201, text)
            st, r = http_announce(self.b, tok("phone-%d" % i), ih, peer_id(), 43000 + i, left=10, event="started")
            self.assertEqual(st, 200)
            self.assertNotIn(b"failure reason", r)
        # An info_hash nobody registered is still refused (and then answered from the negative cache).
        for _ in range(3):
            st, r = http_announce(self.b, tok("phone-x"), "ab" * 20, peer_id(), 43100, left=10, event="started")
            self.assertEqual(st, 200)
            self.assertIn(b"unregistered info_hash", r[b"failure reason"])


class SingleRedisOutage(unittest.TestCase):
    def setUp(self):
        self.node = RedisNode(appendonly=True)
        self.keys = Keys()
        self.r = None
        try:
            self.r = self.keys.replica("redis://" + self.node.address)
        except BaseException:
            self.tearDown()
            raise

    def tearDown(self):
        if self.r is not None:
            self.r.close()
        self.keys.close()
        self.node.close()

    def test_stop_and_start_redis(self):
        status, ih, text = register(self.r, "ota-outage")
        self.assertEqual(status, 201, text)
        self.assertTrue(wait_until(lambda: ready(self.r) == 200, RECOVERY_LIMIT))
        tok = lambda d: mint_token(self.keys.token_key, d)
        st, a = http_announce(self.r, tok("before"), ih, peer_id(), 42001, left=0, event="started")
        self.assertEqual(st, 200)
        self.assertGreater(a[b"interval"], DEGRADED_INTERVAL)

        self.node.stop()
        self.assertTrue(wait_until(lambda: ready(self.r) == 503, RECOVERY_LIMIT), "/readyz stayed 200 without redis")
        # The chart's probe form keeps the degraded replica in the Service: it still answers.
        self.assertEqual(ready(self.r, "?degraded=ok"), 200)
        for i in range(5):
            st, b = http_announce(self.r, tok("during-%d" % i), ih, peer_id(), 42010 + i, left=100, event="started")
            self.assertEqual(st, 200)
            self.assertNotIn(b"failure reason", b)
            self.assertLessEqual(b[b"interval"], DEGRADED_INTERVAL)
            # The peer this replica saw before the outage is still handed out from its fallback.
            self.assertIn(("127.0.0.1", 42001), compact_peers(b[b"peers"]))
        self.assertTrue(self.r.alive())

        self.node.start()
        self.assertTrue(wait_until(lambda: ready(self.r) == 200, RECOVERY_LIMIT), "/readyz did not recover")
        st, c = http_announce(self.r, tok("after"), ih, peer_id(), 42020, left=100, event="started")
        self.assertEqual(st, 200)
        self.assertNotIn(b"failure reason", c)
        self.assertGreater(c[b"interval"], DEGRADED_INTERVAL)
        self.assertIn(("127.0.0.1", 42001), compact_peers(c[b"peers"]))
        self.assertIn(ih, listed_releases(self.r))
        # SIGTERM with the Redis store: a clean exit, like the embedded mode.
        self.assertEqual(self.r.proc.stop(), 0)


if __name__ == "__main__":
    unittest.main()
