"""The `otaswarm` CLI against real consumers: libtorrent loads what `torrent create` makes,
and the real tracker accepts what `token mint` (and the Python snippet in docs/tokens.md)
mints, and refuses forged and expired tokens."""
import glob
import hashlib
import os
import pty
import re
import signal
import subprocess
import tempfile
import time
import unittest

import libtorrent as lt

from otaswarm_harness import bin_path
from tracker_harness import (CLI_TIMEOUT, Tracker, UdpTrackerClient, bdecode, bencode, cli, create_torrent,
                             http_announce, make_payload, peer_id)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
PAYLOAD_SIZE = 3 * 1024 * 1024 + 12345  # a partial last piece
PIECE = 32768
DEFAULT_TTL = 7 * 24 * 3600
TTY_FILE_SIZE = 64 * 1024 * 1024  # several 4 MiB read blocks, so progress is drawn
HUGE_SPARSE_SIZE = 16 << 30  # sparse; hashing it would take ~10 s, the test interrupts it at once
AUTO_PIECE_CASES = [(40 * 1000 * 1000, 32768), (300 * 1000 * 1000, 262144)]  # (sparse file size, expected)


def docs_token_snippet():
    """The ```python block of docs/tokens.md, executed; returns its mint_token function."""
    with open(os.path.join(REPO, "docs/tokens.md")) as f:
        code = re.search(r"```python\n(.*?)```", f.read(), re.S).group(1)
    ns = {}
    exec(compile(code, "docs/tokens.md", "exec"), ns)
    return ns["mint_token"]


class TorrentCreate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-cli-")
        cls.dir = cls.tmp.name
        cls.payload = make_payload(os.path.join(cls.dir, "ota-1.2.3.zip"), PAYLOAD_SIZE)
        with open(cls.payload, "rb") as f:
            cls.data = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def out(self, name):
        return os.path.join(self.dir, name)

    def assert_no_output(self, path):
        self.assertFalse(os.path.exists(path), path)
        self.assertEqual(glob.glob(path + ".tmp.*"), [], "temporary file left behind")

    def test_libtorrent_loads_private_torrent_with_webseeds_and_tiers(self):
        out = self.out("full.torrent")
        webseeds = ["https://s3.example.com/ota/ota-1.2.3.zip", "http://mirror.example.net/ota-1.2.3.zip"]
        announces = ["http://127.0.0.1:6969/announce", "udp://127.0.0.1:6969/announce"]
        ih = create_torrent(self.payload, out, webseeds, announces, ["--piece-length", str(PIECE)])
        self.assertRegex(ih, r"^[0-9a-f]{40}$")

        ti = lt.torrent_info(out)
        self.assertTrue(ti.priv())
        self.assertEqual(str(ti.info_hashes().v1), ih)
        self.assertFalse(ti.info_hashes().has_v2())
        self.assertEqual(ti.name(), "ota-1.2.3.zip")
        self.assertEqual(ti.total_size(), PAYLOAD_SIZE)
        self.assertEqual(ti.piece_length(), PIECE)
        self.assertEqual(ti.num_pieces(), (PAYLOAD_SIZE + PIECE - 1) // PIECE)
        self.assertEqual([w["url"] for w in ti.web_seeds()], webseeds)
        self.assertEqual(sorted(t.url for t in ti.trackers()), sorted(announces))
        self.assertEqual(len({t.tier for t in ti.trackers()}), len(announces), "one tier per announce URL")
        for i in range(ti.num_pieces()):
            want = hashlib.sha1(self.data[i * PIECE : (i + 1) * PIECE]).digest()
            self.assertEqual(bytes(ti.hash_for_piece(i)), want, "piece %d" % i)

        with open(out, "rb") as f:
            raw = f.read()
        meta = bdecode(raw)
        self.assertEqual(bencode(meta), raw, "canonical bencode")
        self.assertEqual(meta[b"info"][b"private"], 1)
        self.assertEqual(meta[b"announce"], announces[0].encode())
        self.assertEqual(meta[b"announce-list"], [[a.encode()] for a in announces])
        self.assertEqual(meta[b"url-list"], [w.encode() for w in webseeds])
        self.assertEqual(hashlib.sha1(bencode(meta[b"info"])).hexdigest(), ih)

    def test_name_override_and_quiet_stderr(self):
        out = self.out("named.torrent")
        r = cli("torrent", "create", self.payload, "--webseed", "http://s3.example/x", "--announce",
                "http://t.example/announce", "--name", "system-update.zip", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "", "no progress output when stderr is not a terminal")
        self.assertEqual(len(r.stdout.splitlines()), 1)
        self.assertEqual(lt.torrent_info(out).name(), "system-update.zip")

    def test_progress_flag(self):
        out = self.out("progress.torrent")
        r = cli("torrent", "create", self.payload, "--webseed", "http://s3.example/x", "--announce",
                "http://t.example/announce", "--progress", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The file fits in one read block, so only the final summary line is due.
        self.assertIn("wrote " + out, r.stderr.splitlines()[-1])
        self.assertIn("pieces of", r.stderr)

    def run_on_pty(self, args, on_output=None):
        """Runs the CLI with stderr on a pseudo-terminal; returns (rc, stdout, terminal text)."""
        master, slave = pty.openpty()
        p = subprocess.Popen([bin_path("otaswarm")] + args, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        try:
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if on_output:
                    on_output(p, seen)
            out = p.stdout.read().decode()
            return p.wait(CLI_TIMEOUT), out, seen.decode(errors="replace")
        finally:
            os.close(master)
            p.stdout.close()
            if p.poll() is None:
                p.kill()
                p.wait()

    def sparse(self, name, size):
        path = self.out(name)
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def test_progress_on_a_terminal(self):
        path = self.sparse("tty.img", TTY_FILE_SIZE)
        out = self.out("tty.torrent")
        rc, stdout, tty = self.run_on_pty(["torrent", "create", path, "--webseed", "http://s3.example/x",
                                          "--announce", "http://t.example/announce", "-o", out])
        os.unlink(path)
        self.assertEqual(rc, 0, tty)
        self.assertRegex(stdout.strip(), r"^[0-9a-f]{40}$")
        self.assertIn("\rhashing", tty)
        self.assertIn("MB/s", tty)
        self.assertIn("wrote " + out, tty)

    def test_interrupt_leaves_nothing(self):
        path = self.sparse("huge.img", HUGE_SPARSE_SIZE)
        out = self.out("huge.torrent")

        def interrupt_once_hashing(p, seen):
            if b"hashing" in seen and p.poll() is None and not getattr(p, "interrupted", False):
                p.interrupted = True
                p.send_signal(signal.SIGINT)

        rc, stdout, tty = self.run_on_pty(["torrent", "create", path, "--webseed", "http://s3.example/x",
                                          "--announce", "http://t.example/announce", "-o", out],
                                         on_output=interrupt_once_hashing)
        os.unlink(path)
        self.assertEqual(rc, 130, tty)
        self.assertEqual(stdout, "")
        self.assertIn("interrupted", tty)
        self.assert_no_output(out)

    def test_default_piece_length_follows_file_size(self):
        for size, expected in AUTO_PIECE_CASES:
            path = self.out("sparse-%d.img" % size)
            with open(path, "wb") as f:
                f.truncate(size)
            out = path + ".torrent"
            create_torrent(path, out, ["http://s3.example/img"], ["udp://t.example:6969/announce"])
            ti = lt.torrent_info(out)
            self.assertEqual(ti.piece_length(), expected, "size %d" % size)
            self.assertLessEqual(ti.num_pieces(), 2048)
            os.unlink(path)

    def test_bad_inputs_exit_2_without_output(self):
        ok_ws, ok_an = ["--webseed", "http://s3.example/x"], ["--announce", "http://t.example/announce"]
        empty = self.out("empty.bin")
        open(empty, "wb").close()
        cases = {
            "missing file": [self.out("does-not-exist.bin")] + ok_ws + ok_an,
            "directory as file": [self.dir] + ok_ws + ok_an,
            "empty file": [empty] + ok_ws + ok_an,
            "no webseed": [self.payload] + ok_an,
            "no announce": [self.payload] + ok_ws,
            "webseed not http": [self.payload, "--webseed", "ftp://s3.example/x"] + ok_an,
            "webseed not a URL": [self.payload, "--webseed", "s3.example/x"] + ok_an,
            "udp announce without port": [self.payload] + ok_ws + ["--announce", "udp://t.example/announce"],
            "announce with spaces": [self.payload] + ok_ws + ["--announce", "http://t.example/ann ounce"],
            "piece length not power of two": [self.payload] + ok_ws + ok_an + ["--piece-length", "20000"],
            "piece length too small": [self.payload] + ok_ws + ok_an + ["--piece-length", "8192"],
            "piece length too big": [self.payload] + ok_ws + ok_an + ["--piece-length", str(1 << 27)],
            "piece length not a number": [self.payload] + ok_ws + ok_an + ["--piece-length", "1M"],
            "name with slash": [self.payload] + ok_ws + ok_an + ["--name", "../evil"],
            "unknown flag": [self.payload] + ok_ws + ok_an + ["--frobnicate", "1"],
            "two files": [self.payload, self.payload] + ok_ws + ok_an,
        }
        for what, args in cases.items():
            with self.subTest(what):
                out = self.out("bad.torrent")
                r = cli("torrent", "create", *args, "-o", out)
                self.assertEqual(r.returncode, 2, "%s: rc %d, stderr %r" % (what, r.returncode, r.stderr))
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertEqual(r.stdout, "")
                self.assert_no_output(out)

    def test_unwritable_output_leaves_nothing(self):
        missing_dir = self.out("no/such/dir/x.torrent")
        r = cli("torrent", "create", self.payload, "--webseed", "http://s3.example/x", "--announce",
                "http://t.example/announce", "-o", missing_dir)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--output", r.stderr)
        # A directory as output: hashing succeeds, the final rename fails; the temp file must go.
        as_dir = self.out("a-directory.torrent")
        os.mkdir(as_dir)
        r = cli("torrent", "create", self.payload, "--webseed", "http://s3.example/x", "--announce",
                "http://t.example/announce", "-o", as_dir)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(os.listdir(as_dir), [])
        self.assertEqual(glob.glob(as_dir + ".tmp.*"), [])

    def test_output_over_input_refused(self):
        victim = make_payload(self.out("victim.bin"), 50000, seed=2)
        r = cli("torrent", "create", victim, "--webseed", "http://s3.example/x", "--announce",
                "http://t.example/announce", "-o", victim)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(os.path.getsize(victim), 50000)

    def test_failed_run_keeps_previous_output(self):
        out = self.out("keep.torrent")
        create_torrent(self.payload, out, ["http://s3.example/x"], ["http://t.example/announce"])
        with open(out, "rb") as f:
            before = f.read()
        r = cli("torrent", "create", self.payload, "--webseed", "http://s3.example/x", "--announce",
                "http://t.example/announce", "--piece-length", "12345", "-o", out)
        self.assertEqual(r.returncode, 2)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), before)


class TokenMint(unittest.TestCase):
    """Tokens checked by the real tracker: announce accepted, or refused with a failure reason."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-tok-")
        cls.tracker = Tracker()
        payload = make_payload(os.path.join(cls.tmp.name, "img.bin"), 100000, seed=7)
        torrent = os.path.join(cls.tmp.name, "img.torrent")
        cls.ih = create_torrent(payload, torrent, ["http://s3.example/img.bin"], ["http://t.example/announce"])
        cls.tracker.register(torrent)
        cls.mint_token = staticmethod(docs_token_snippet())

    @classmethod
    def tearDownClass(cls):
        cls.tracker.close()
        cls.tmp.cleanup()

    def announce(self, token):
        status, reply = http_announce(self.tracker, token, self.ih, peer_id(), 6881, left=100000, event="started")
        self.assertEqual(status, 200, reply)
        self.assertIsInstance(reply, dict, reply)
        return reply

    def assert_refused(self, token, words):
        reply = self.announce(token)
        self.assertIn(b"failure reason", reply, reply)
        reason = reply[b"failure reason"].decode().lower()
        self.assertTrue(any(w in reason for w in words), "reason %r lacks any of %s" % (reason, words))

    def test_cli_token_accepted_over_http_and_udp(self):
        token = self.tracker.mint("phone-cli-1")
        reply = self.announce(token)
        self.assertNotIn(b"failure reason", reply, reply)
        self.assertIn(b"interval", reply)
        with UdpTrackerClient(self.tracker.udp_addr) as udp:
            res = udp.announce(token, self.ih, peer_id(), 6882, left=100000)
        self.assertEqual(res[0], "announce", res)

    def test_default_ttl_is_seven_days(self):
        r = cli("token", "mint", "--key-file", self.tracker.key_file, "--device", "phone-ttl")
        self.assertEqual(r.returncode, 0, r.stderr)
        expiry = int(r.stdout.strip().split(".")[2])
        self.assertAlmostEqual(expiry, time.time() + DEFAULT_TTL, delta=60)

    def test_docs_snippet_matches_cli_and_is_accepted(self):
        cli_token = self.tracker.mint("phone-doc-1", ttl=600)
        expiry = int(cli_token.split(".")[2])
        self.assertEqual(self.mint_token(self.tracker.token_key, "phone-doc-1", expiry), cli_token)
        token = self.mint_token(self.tracker.token_key, "phone-doc-2")
        self.assertNotIn(b"failure reason", self.announce(token))

    def test_forged_tokens_refused(self):
        other_key = "f" * 64
        self.assert_refused(self.mint_token(other_key, "phone-forged"), ["signature", "invalid"])
        good = self.tracker.mint("phone-honest")
        parts = good.split(".")
        parts[1] = self.mint_token(self.tracker.token_key, "phone-other").split(".")[1]
        self.assert_refused(".".join(parts), ["signature", "invalid"])
        self.assert_refused("v1.not-a-token", ["malformed", "token"])
        self.assert_refused("v2" + good[2:], ["version", "token"])

    def test_expired_token_refused(self):
        token = self.mint_token(self.tracker.token_key, "phone-old", expiry=int(time.time()) - 3600)
        self.assert_refused(token, ["expired"])
        with UdpTrackerClient(self.tracker.udp_addr) as udp:
            res = udp.announce(token, self.ih, peer_id(), 6883, left=100000)
        self.assertEqual(res[0], "error", res)
        self.assertIn("expired", res[1].lower())

    def test_mint_bad_arguments_exit_2(self):
        short_key = os.path.join(self.tmp.name, "short.key")
        with open(short_key, "w") as f:
            f.write("abc\n")
        kf = self.tracker.key_file
        cases = {
            "ttl zero": ["--key-file", kf, "--device", "d", "--ttl", "0"],
            "ttl too long": ["--key-file", kf, "--device", "d", "--ttl", str(400 * 86400)],
            "no device": ["--key-file", kf],
            "control character in device": ["--key-file", kf, "--device", "bad\x01id"],
            "device too long": ["--key-file", kf, "--device", "x" * 129],
            "missing key file": ["--key-file", os.path.join(self.tmp.name, "nope"), "--device", "d"],
            "short key": ["--key-file", short_key, "--device", "d"],
        }
        for what, args in cases.items():
            with self.subTest(what):
                r = cli("token", "mint", *args)
                self.assertEqual(r.returncode, 2, "%s: %r" % (what, r.stderr))
                self.assertEqual(r.stdout, "")
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class TokenKeyRotation(unittest.TestCase):
    """During a rotation the tracker accepts tokens of the current and the previous key."""

    def test_current_and_previous_keys_accepted_others_refused(self):
        with tempfile.TemporaryDirectory(prefix="otaswarm-rot-") as d:
            old_key = "0a" * 32
            old_file = os.path.join(d, "old.key")
            with open(old_file, "w") as f:
                f.write(old_key + "\n")
            with Tracker(["--token-key-previous-file", old_file]) as tracker:
                payload = make_payload(os.path.join(d, "img.bin"), 50000, seed=8)
                torrent = os.path.join(d, "img.torrent")
                ih = create_torrent(payload, torrent, ["http://s3.example/img.bin"], ["http://t.example/announce"])
                tracker.register(torrent)
                mint = docs_token_snippet()
                for name, key, accepted in (("current", tracker.token_key, True), ("previous", old_key, True),
                                            ("unknown", "0b" * 32, False)):
                    with self.subTest(name):
                        token = mint(key, "phone-rot-" + name)
                        _, reply = http_announce(tracker, token, ih, peer_id(), 6881, left=50000, event="started")
                        self.assertEqual(b"failure reason" not in reply, accepted, reply)


if __name__ == "__main__":
    unittest.main()
