"""otaswarm-agent fetch against the real otaswarm-tracker and a Range-capable web seed (the S3
stand-in), with a python3-libtorrent seeder as the peer: completes from the web seed alone,
takes bytes from a peer when the web seed is slow, survives a refused token, fails cleanly on
bad torrents, bad flags, a 403 web seed, a file error and a full disk, and resumes after being
killed."""
import filecmp
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from otaswarm_harness import bin_path, free_port, wait_until
from lt_peer import LtPeer
from range_server import RangeServer
from tracker_harness import Tracker, bdecode, bencode, create_torrent, make_payload, torrent_bytes

PAYLOAD_SIZE = 4 * 1024 * 1024 + 777
NAME = "ota-3.1.img"
RUN_TIMEOUT = 90  # seconds for one agent run (a few MB on loopback take well under a second)
SLOW_RATE = 64 * 1024  # bytes/s of a throttled web seed: the whole file would take ~65 s
STALL = 4  # --stall-timeout for the tests that must give up
SEEDER_TIMEOUT = 20  # seconds for the seeder's first announce to be answered
PARTIAL_TIMEOUT = 40  # seconds to reach a partial download before killing the agent
STOP_TIMEOUT = 15


class Agent:
    """One otaswarm-agent process; stdout lines are collected as they come (parsed JSON)."""

    def __init__(self, args, argv=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-agent-")
        self.stderr_path = os.path.join(self.tmp.name, "stderr.log")
        self.stderr_file = open(self.stderr_path, "wb")
        argv = argv or [bin_path("otaswarm-agent")] + [str(a) for a in args]
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                  stderr=self.stderr_file, text=True)
        self.raw = []
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.raw.append(line.rstrip("\n"))

    def lines(self):
        return [json.loads(x) for x in list(self.raw)]

    def wait(self, timeout=RUN_TIMEOUT):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("agent still running after %d s\nstdout: %s\nstderr: %s" %
                                 (timeout, self.raw[-5:], self.stderr()[-3000:]))
        self.reader.join(STOP_TIMEOUT)
        self.p.stdout.close()
        self.stderr_file.close()
        return self.p.returncode

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.wait(STOP_TIMEOUT)

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def logs(self):
        out = []
        for line in self.stderr().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.reader.join(STOP_TIMEOUT)
        self.p.stdout.close()
        if not self.stderr_file.closed:
            self.stderr_file.close()
        self.tmp.cleanup()


def run_agent(args, timeout=RUN_TIMEOUT, argv=None):
    a = Agent(args, argv)
    try:
        rc = a.wait(timeout)
        return rc, a.lines(), a.logs(), a.stderr()
    finally:
        a.close()


def run_agent_argv(argv, timeout=RUN_TIMEOUT):
    """An agent started through a wrapper (e.g. unshare), argv in full."""
    return run_agent(None, timeout, argv=[str(a) for a in argv])


class AgentFetch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-agent-test-")
        cls.dir = cls.tmp.name
        cls.s3_dir = os.path.join(cls.dir, "s3")
        os.mkdir(cls.s3_dir)
        cls.payload = make_payload(os.path.join(cls.s3_dir, NAME), PAYLOAD_SIZE, seed=13)
        cls.s3 = RangeServer(cls.s3_dir)
        cls.slow = RangeServer(cls.s3_dir, rate=SLOW_RATE)
        cls.refusing = RangeServer(cls.s3_dir, status=403)
        cls.tracker = Tracker()
        # Token-less announce URLs in the torrent, as the update backend publishes it; the agent
        # adds the device token. Both HTTP and UDP (BEP 41 URL data).
        cls.torrent = os.path.join(cls.dir, "ota.torrent")
        cls.info_hash = create_torrent(cls.payload, cls.torrent, [cls.s3.url(NAME)],
                                       ["http://%s/announce" % cls.tracker.http_addr,
                                        "udp://%s/announce" % cls.tracker.proc.addr("udp")])
        cls.tracker.register(cls.torrent)

    @classmethod
    def tearDownClass(cls):
        cls.tracker.close()
        for s in (cls.s3, cls.slow, cls.refusing):
            s.close()
        cls.tmp.cleanup()

    def setUp(self):
        self.work = tempfile.TemporaryDirectory(prefix="otaswarm-agent-case-", dir=self.dir)
        self.out = os.path.join(self.work.name, "out")
        self.final = os.path.join(self.out, NAME)

    def tearDown(self):
        self.work.cleanup()

    def fetch_args(self, device, *extra, torrent=None):
        return ["fetch", torrent or self.torrent, "--token", self.tracker.mint(device), "--out", self.out] + list(extra)

    def assert_done(self, rc, lines, stderr):
        self.assertEqual(rc, 0, "stdout: %s\nstderr: %s" % (lines[-3:], stderr[-3000:]))
        self.assertTrue(lines, "no output")
        last = lines[-1]
        self.assertEqual((last.get("done"), last.get("verified")), (True, True), last)
        self.assertTrue(filecmp.cmp(self.payload, self.final, shallow=False), "file differs")
        return last

    def assert_failed(self, rc, lines, stderr, code=1):
        self.assertEqual(rc, code, "stdout: %s\nstderr: %s" % (lines[-3:], stderr[-3000:]))
        self.assertTrue(lines, "no error line")
        self.assertEqual(lines[-1].get("done"), False, lines[-1])
        self.assertTrue(lines[-1].get("error"), lines[-1])
        self.assertFalse(os.path.exists(self.final), "a file at the final path after a failure")
        return lines[-1]["error"]

    def test_a_webseed_alone(self):
        rc, lines, logs, stderr = run_agent(self.fetch_args("dev-a", "--log-level", "debug", "--lan-hint", "h0me"))
        last = self.assert_done(rc, lines, stderr)
        # Both trackers (HTTP query, UDP BEP 41 URL data) took the token URL with the LAN hint.
        replied = {m["tracker"].split(":", 1)[0] for m in logs
                   if m.get("msg") == "tracker reply" and "/announce/v1." in m["tracker"] and "lan=h0me" in m["tracker"]}
        self.assertEqual(replied, {"http", "udp"}, stderr[-3000:])
        self.assertEqual(last["bytes"], {"webseed": PAYLOAD_SIZE, "lan": 0, "direct": 0, "punched": 0, "relayed": 0})
        self.assertGreaterEqual(last["seconds"], 0)
        for line in lines[:-1]:
            self.assertTrue(0.0 <= line["progress"] <= 1.0, line)
            self.assertEqual(set(line["bytes"]), {"webseed", "lan", "direct", "punched", "relayed"})
        self.assertFalse([m for m in logs if m.get("msg") == "tracker error"], "tracker errors: %s" % stderr[-2000:])
        self.assertFalse(os.path.exists(os.path.join(self.out, ".otaswarm-" + self.info_hash)), "state dir left")

    def test_b_bytes_from_a_seeding_peer(self):
        seeder_torrent = os.path.join(self.work.name, "seeder.torrent")
        ih = create_torrent(self.payload, seeder_torrent, [self.s3.url(NAME)],
                            [self.tracker.http_announce_url(self.tracker.mint("seeder"))])
        self.assertEqual(ih, self.info_hash)
        seeder = LtPeer("seeder", self.s3_dir)
        try:
            seeder.add(seeder_torrent, seed_mode=True)
            self.assertTrue(wait_until(seeder.tracker_ok, SEEDER_TIMEOUT), seeder.tracker_messages())
            rc, lines, _, stderr = run_agent(self.fetch_args("dev-b", "--webseed", self.slow.url(NAME)))
        finally:
            seeder.close()
        last = self.assert_done(rc, lines, stderr)
        b = last["bytes"]
        self.assertGreater(b["lan"] + b["direct"], 0, b)
        self.assertGreaterEqual(sum(b.values()), PAYLOAD_SIZE, b)
        self.assertEqual(b["punched"] + b["relayed"], 0, b)

    def test_c_refused_token_still_completes(self):
        args = ["fetch", self.torrent, "--token", "v1.bm9ib2R5.4102444800.AAAAAAAAAAAAAAAAAAAAAA", "--out", self.out]
        rc, lines, logs, stderr = run_agent(args)
        self.assert_done(rc, lines, stderr)
        refused = [m for m in logs if m.get("msg") == "tracker error"]
        self.assertTrue(refused, stderr[-3000:])
        self.assertTrue(all(m.get("error") for m in refused), refused)
        self.assertEqual(lines[-1]["bytes"]["webseed"], PAYLOAD_SIZE)

    def test_d_bad_torrents_and_flags(self):
        corrupt = os.path.join(self.work.name, "corrupt.torrent")
        with open(corrupt, "wb") as f:
            f.write(b"d8:announce3:abc4:infod6:lengthi-5eee garbage")
        rc, lines, _, stderr = run_agent(self.fetch_args("dev-d", torrent=corrupt))
        self.assertIn("cannot load torrent", self.assert_failed(rc, lines, stderr))

        public = os.path.join(self.work.name, "public.torrent")
        with open(public, "wb") as f:
            f.write(torrent_bytes(NAME, b"x" * 40000, private=False, webseed=self.s3.url(NAME)))
        rc, lines, _, stderr = run_agent(self.fetch_args("dev-d", torrent=public))
        self.assertIn("not private", self.assert_failed(rc, lines, stderr))

        no_seed = os.path.join(self.work.name, "noseed.torrent")
        meta = bdecode(torrent_bytes(NAME, b"x" * 40000))
        del meta[b"url-list"]
        with open(no_seed, "wb") as f:
            f.write(bencode(meta))
        rc, lines, _, stderr = run_agent(self.fetch_args("dev-d", torrent=no_seed))
        self.assertIn("no web seed", self.assert_failed(rc, lines, stderr))

        for bad in (["--no-such-flag", "1"], ["--stall-timeout", "soon"], ["--listen", "nowhere"]):
            rc, lines, _, stderr = run_agent(self.fetch_args("dev-d", *bad))
            self.assertEqual(rc, 2, (bad, stderr))
            self.assertTrue(stderr.strip(), bad)
        rc, _, _, stderr = run_agent(["fetch", self.torrent, "--out", self.out])
        self.assertEqual(rc, 2, stderr)
        self.assertIn("token", stderr)

    def test_e_refusing_webseed_and_no_peers_gives_up(self):
        t0 = time.monotonic()
        rc, lines, logs, stderr = run_agent(self.fetch_args("dev-e", "--webseed", self.refusing.url(NAME),
                                                            "--stall-timeout", STALL))
        error = self.assert_failed(rc, lines, stderr)
        self.assertIn("stalled", error)
        self.assertIn("web seed refused: HTTP 403 (expired presigned URL?)", error)
        self.assertTrue([m for m in logs if "HTTP 403" in m.get("msg", "")], stderr[-2000:])
        self.assertLess(time.monotonic() - t0, RUN_TIMEOUT)

    def test_h_unreachable_rendezvous_does_not_matter(self):
        dead = "127.0.0.1:%d" % free_port(socket.SOCK_DGRAM)
        rc, lines, logs, stderr = run_agent(self.fetch_args("dev-h", "--rendezvous", dead,
                                                            "--rendezvous-api", "http://" + dead))
        self.assert_done(rc, lines, stderr)
        probe = [m for m in logs if m.get("msg") == "nat probe"]
        self.assertEqual(len(probe), 1, stderr[-2000:])
        self.assertEqual(probe[0]["mapping"], "unknown")
        self.assertTrue(probe[0]["error"], probe)

    def test_f_resume_after_kill(self):
        state = os.path.join(self.work.name, "state")
        args = self.fetch_args("dev-f", "--state-dir", state, "--webseed", self.slow.url(NAME))
        a = Agent(args)
        try:
            reached = wait_until(lambda: any(x.get("progress", 0) >= 0.1 for x in a.lines()), PARTIAL_TIMEOUT, 0.2)
            self.assertTrue(reached, "no progress: %s\n%s" % (a.raw[-3:], a.stderr()[-2000:]))
            self.assertFalse(os.path.exists(self.final), "file at the final path before completion")
            rc = a.stop()
            lines = a.lines()
        finally:
            a.close()
        self.assertEqual(self.assert_failed(rc, lines, ""), "interrupted")
        self.assertTrue(os.path.exists(os.path.join(state, "resume.dat")), os.listdir(state))
        first = lines[-1]["bytes"]["webseed"]
        self.assertGreater(first, 0)

        rc, lines, logs, stderr = run_agent(self.fetch_args("dev-f", "--state-dir", state))
        last = self.assert_done(rc, lines, stderr)
        self.assertLess(last["bytes"]["webseed"], PAYLOAD_SIZE, "fetched everything again")
        self.assertGreaterEqual(last["bytes"]["webseed"] + first, PAYLOAD_SIZE)
        self.assertTrue([m for m in logs if "re-verifying" in m.get("msg", "")], stderr[-2000:])

    def test_g_file_error_fails_without_final_file(self):
        state = os.path.join(self.work.name, "state")
        os.makedirs(os.path.join(state, NAME))  # the partial file's path is a directory: writes fail
        rc, lines, logs, stderr = run_agent(self.fetch_args("dev-g", "--state-dir", state, "--stall-timeout", "30"))
        error = self.assert_failed(rc, lines, stderr)
        self.assertIn("file error", error)

    def test_i_disk_full(self):
        small = os.path.join(self.work.name, "small")
        os.mkdir(small)
        if os.geteuid() != 0 or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
            self.skipTest("needs root and unshare for a private tmpfs")
        # A 1 MiB tmpfs, mounted in a mount namespace of the agent's own, holds the state dir.
        token = self.tracker.mint("dev-i")
        cmd = 'mount -t tmpfs -o size=1m otaswarm-test "$1" && exec "$2" fetch "$3" --token "$4" --out "$5" ' \
              '--state-dir "$1/state" --stall-timeout 30'
        rc, lines, _, stderr = run_agent_argv(["unshare", "-m", "sh", "-c", cmd, "sh", small, bin_path("otaswarm-agent"),
                                               self.torrent, token, self.out])
        error = self.assert_failed(rc, lines, stderr)
        self.assertIn("No space left on device", error)
        self.assertEqual(os.listdir(small), [], "the tmpfs belonged to the agent's namespace")


if __name__ == "__main__":
    unittest.main()
