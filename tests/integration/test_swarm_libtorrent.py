"""A libtorrent seeder and a libtorrent leecher on a private torrent made by `otaswarm
torrent create`, finding each other only through otaswarm-tracker: once over the http://
announce URL, once over the udp:// one, on IPv4 and on IPv6 (BEP 7). The web seed points at
a closed port, so every byte the leecher gets comes from the seeder."""
import filecmp
import os
import tempfile
import time
import unittest

from otaswarm_harness import free_port, wait_until
from lt_peer import LtPeer
from tracker_harness import Tracker, create_torrent, make_payload

PAYLOAD_SIZE = 4 * 1024 * 1024 + 777  # a partial last piece
SEED_TIMEOUT = 30  # seconds for the seeder's check + first announce
DOWNLOAD_TIMEOUT = 90  # seconds for the leecher to finish from one local peer
STATS_TIMEOUT = 15  # seconds for the final announces to reach the admin API
MIN_INTERVAL = 1  # seconds
MIN_OFFLOAD = 0.9  # Σuploaded/Σdownloaded when every byte came from the peer
REANNOUNCE_EVERY = 5  # seconds; the leecher re-asks if its first reply had no peer yet
SEED_REANNOUNCE_EVERY = 2 * MIN_INTERVAL  # seconds between the seeder's forced re-announces


class LibtorrentSwarm(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-swarm-")
        self.dir = self.tmp.name
        self.tracker = None
        self.host = None
        self.peers = []
        for sub in ("seed", "leech", "src"):
            os.mkdir(os.path.join(self.dir, sub))
        self.payload = make_payload(os.path.join(self.dir, "seed", "ota.zip"), PAYLOAD_SIZE, seed=3)
        # Nothing listens here: the web seed is dead, so the download must come from the peer.
        self.dead_webseed = "http://127.0.0.1:%d/ota.zip" % free_port()

    def tearDown(self):
        for p in self.peers:
            p.close()
        if self.tracker:
            self.tracker.close()
        self.tmp.cleanup()

    def start_tracker(self, host):
        self.host = host
        # A 1 s minimum interval lets the forced re-announces below report byte counters
        # instead of getting the tracker's cheap "too soon" reply.
        self.tracker = Tracker(["--min-interval", str(MIN_INTERVAL)], host=host)
        return self.tracker

    def peer(self, name, ssrf_mitigation=True):
        p = LtPeer(name, os.path.join(self.dir, name), host=self.host, ssrf_mitigation=ssrf_mitigation)
        self.peers.append(p)
        return p

    def diagnostics(self, *peers):
        return "\n".join([p.log() + "\n  trackers: %r" % (p.tracker_messages(),) for p in peers] +
                         ["tracker stderr:\n" + self.tracker.stderr()[-4000:]])

    def run_swarm(self, host, kind):
        """kind: "http" or "udp" announce URLs; host: loopback address of tracker and peers."""
        tracker = self.start_tracker(host)
        announce_for = tracker.http_announce_url if kind == "http" else tracker.udp_announce_url
        seed_tok, leech_tok = self.tracker.mint("device-seeder"), self.tracker.mint("device-leecher")
        seed_torrent = os.path.join(self.dir, "src", "seed.torrent")
        leech_torrent = os.path.join(self.dir, "src", "leech.torrent")
        ih = create_torrent(self.payload, seed_torrent, [self.dead_webseed], [announce_for(seed_tok)])
        self.assertEqual(create_torrent(self.payload, leech_torrent, [self.dead_webseed], [announce_for(leech_tok)]),
                         ih, "trackers live outside the info dict")
        reg = self.tracker.register(seed_torrent)
        self.assertEqual(reg["info_hash"], ih)

        seeder = self.peer("seed")
        seeder.add(seed_torrent)
        st = seeder.wait(lambda s: s.is_seeding and seeder.tracker_ok(), SEED_TIMEOUT)
        self.assertTrue(st.is_seeding, self.diagnostics(seeder))
        self.assertTrue(seeder.tracker_ok(), self.diagnostics(seeder))
        self.assertTrue(wait_until(lambda: (self.tracker.release(ih) or {}).get("seeders") == 1, STATS_TIMEOUT),
                        "seeder not in the swarm: %r" % self.tracker.release(ih))

        # libtorrent's SSRF mitigation refuses loopback HTTP scrapes (/scrape/<token> does not
        # start with /announce); real devices talk to a public tracker, so turn it off here.
        leecher = self.peer("leech", ssrf_mitigation=False)
        leecher.add(leech_torrent)
        last = [time.time()]

        def finished(s):
            if s.num_peers == 0 and time.time() - last[0] >= REANNOUNCE_EVERY:
                last[0] = time.time()
                leecher.reannounce()
            return s.is_seeding

        st = leecher.wait(finished, DOWNLOAD_TIMEOUT)
        self.assertTrue(st.is_seeding, "leecher at %.1f%%\n%s" % (st.progress * 100, self.diagnostics(seeder, leecher)))
        self.assertTrue(filecmp.cmp(self.payload, os.path.join(self.dir, "leech", "ota.zip"), shallow=False))
        self.assertGreaterEqual(st.total_payload_download, PAYLOAD_SIZE)
        self.assertGreaterEqual(seeder.status().total_payload_upload, PAYLOAD_SIZE, "bytes came from the seeder")

        leecher.reannounce()  # make sure the completed event has been sent
        def swarm_done():
            r = self.tracker.release(ih) or {}
            return r if r.get("completed", 0) >= 1 and r.get("seeders") == 2 and r.get("leechers") == 0 else None
        self.assertTrue(wait_until(swarm_done, STATS_TIMEOUT),
                        "admin API after the download: %r\n%s" % (self.tracker.release(ih), self.diagnostics(leecher)))
        # Both report their byte counters: the seeder's upload covers the leecher's download.
        # A re-announce within --min-interval of the previous one gets the cheap "too soon"
        # reply without accounting, so the seeder retries until one is counted.
        next_reannounce = [0.0]

        def offload_counted():
            if (self.tracker.release(ih) or {}).get("offload", 0) >= MIN_OFFLOAD:
                return True
            if time.time() >= next_reannounce[0]:
                next_reannounce[0] = time.time() + SEED_REANNOUNCE_EVERY
                seeder.reannounce()
            return False

        offload = wait_until(offload_counted, STATS_TIMEOUT)
        self.assertTrue(offload, "offload estimate: %r" % self.tracker.release(ih))
        # libtorrent's own scrape (BEP 48 over HTTP: /announce → /scrape; BEP 15 over UDP).
        leecher.handle.scrape_tracker()
        scraped = wait_until(lambda: leecher.scrape_counts() == (2, 0, 1) and leecher.saw("scrape_reply_alert"),
                             STATS_TIMEOUT)
        self.assertTrue(scraped, "libtorrent scrape: %r\n%s" % (leecher.scrape_counts(), self.diagnostics(leecher)))
        listed = self.tracker.release_cli("list")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn(ih, listed.stdout)
        return ih

    def test_http_announce(self):
        self.run_swarm("127.0.0.1", "http")

    def test_udp_announce(self):
        self.run_swarm("127.0.0.1", "udp")

    def test_http_announce_ipv6(self):
        self.run_swarm("::1", "http")

    def test_udp_announce_ipv6(self):
        self.run_swarm("::1", "udp")


if __name__ == "__main__":
    unittest.main()
