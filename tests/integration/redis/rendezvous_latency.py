"""Connect and punch-notice latency across rendezvous replicas (the figures in docs/redis.md):
two real otaswarm-rendezvous replicas on a real redis-server, then on a real 3-master cluster;
devices on loopback; p50 / p99 of the connect answer and of the notice at the peer, for a peer
on the same replica and on the other one. Not a ctest test (it measures, it asserts little):

    OTASWARM_BIN=build/bin PYTHONPATH=tests/integration/lib:tests/integration/redis /usr/bin/python3 tests/integration/redis/rendezvous_latency.py
"""
import time

import test_rendezvous_replicas as T
from redis_harness import RedisCluster, RedisNode

CONNECTS = 400
PACE = 0.004  # seconds between connects: stays under the per-device rate limit


def measure(store, label):
    url = store.url if isinstance(store, RedisCluster) else "redis://" + store.address
    reps = T.Replicas(url)
    try:
        r1, r2 = reps.start("m1"), reps.start("m2")
        a, b, c = reps.device("pa", r1), reps.device("pb", r2), reps.device("pc", r2)
        for d in (a, b, c):
            d.register(T.OPEN)
        for where, peer in (("same replica", c), ("other replica", a)):
            answer, notice = [], []
            for _ in range(CONNECTS):
                time.sleep(PACE)
                t0 = time.perf_counter()
                got = b.connect(peer.device_id)
                t1 = time.perf_counter()
                assert "error" not in got, got
                assert T.wait_notice(peer)[0] is not None
                answer.append((t1 - t0) * 1000)
                notice.append((time.perf_counter() - t0) * 1000)
            answer.sort()
            notice.sort()
            p = lambda xs, q: xs[min(len(xs) - 1, int(len(xs) * q))]  # noqa: E731
            print("%-17s %-13s answer p50 %.2f p99 %.2f ms   notice p50 %.2f p99 %.2f ms" %
                  (label, where, p(answer, .5), p(answer, .99), p(notice, .5), p(notice, .99)))
    finally:
        reps.close()
        store.close()


if __name__ == "__main__":
    measure(RedisNode(), "redis-server")
    measure(RedisCluster(), "3-master cluster")
