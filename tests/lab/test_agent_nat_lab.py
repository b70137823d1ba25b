"""otaswarm-agent through real NATs (network namespaces, the routers of test_nat_lab.py): the
real otaswarm-tracker (UDP announces), otaswarm-rendezvous (two IPs, device API) and coturn on
the "public" segment, and a slow counting Range web seed. Two agents behind two different
port-restricted NATs (MASQUERADE), one seeding: the other completes with bytes.punched > 0,
i.e. a uTP connection through both NATs opened by the agents' own hole punch. Two behind
--random-fully NATs: relayed through coturn (bytes.relayed > 0). An agent with an
unreachable rendezvous completes from the web seed. Needs root; skips otherwise. Every
namespace is deleted and every process stopped by PID in teardown."""
import ctypes
import filecmp
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from otaswarm_harness import Proc, bin_path, write_secret
from range_server import RangeServer
from tracker_harness import Tracker, create_torrent, make_payload
from test_nat_lab import PUB_NET, RDV_ALT_IP, RDV_IP, STUN_PORT, TURN_IP, TURN_SECRET, Lab, netns_available, sh

SERVICES_IP = PUB_NET + "4"      # tracker and web seed
DEAD_RDV = PUB_NET + "99"        # nothing answers there
NAME = "ota-lab.img"
PAYLOAD_SIZE = 4 * 1024 * 1024 + 321
SLOW_RATE = 24 * 1024            # bytes/s per web-seed connection: the file alone would take minutes
AGENT_PORT = 6881
SEED_READY_TIMEOUT = 40          # seeder verified, seeding and registered
LEECH_TIMEOUT = 100              # whole download; the punched peer makes it a few seconds
FAST_TIMEOUT = 60
CLONE_NEWNET = 0x40000000


def in_netns(ns, fn):
    """Runs fn() on a thread moved into network namespace `ns` (setns is per thread), so the
    sockets fn creates live there while the test process stays in its own namespace."""
    out = {}

    def run():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                out["error"] = OSError(ctypes.get_errno(), "setns " + ns)
                return
        finally:
            os.close(fd)
        try:
            out["value"] = fn()
        except Exception as e:  # re-raised on the caller's thread
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


class NsTracker(Tracker):
    """The real tracker inside namespace `ns`; its admin CLI runs there too."""

    def __init__(self, ns, host):
        self.ns = ns
        super().__init__(host=host)

    def start(self):
        self.proc = Proc(["ip", "netns", "exec", self.ns, bin_path("otaswarm-tracker"), "--http-listen", self.listen,
                          "--udp-listen", self.listen, "--admin-listen", self.listen, "--token-key-file",
                          self.key_file, "--admin-token-file", self.admin_token_file, "--data-dir", self.data_dir]
                         + self.extra)
        return self

    def release_cli(self, verb, *args):
        return subprocess.run(["ip", "netns", "exec", self.ns, bin_path("otaswarm"), "release", verb, "--admin",
                               self.admin_url, "--admin-token-file", self.admin_token_file] + [str(a) for a in args],
                              capture_output=True, text=True, timeout=30)


class LabAgent:
    """otaswarm-agent fetch in a phone's namespace; stdout JSON lines and stderr log kept."""

    def __init__(self, ns, args, workdir):
        self.out_path = os.path.join(workdir, "stdout")
        self.err_path = os.path.join(workdir, "stderr")
        self.out_f, self.err_f = open(self.out_path, "wb"), open(self.err_path, "wb")
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, bin_path("otaswarm-agent")] + args,
                                  stdout=self.out_f, stderr=self.err_f)

    def _read(self, path):
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")

    def lines(self):
        out = []
        for line in self._read(self.out_path).splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def logs(self):
        out = []
        for line in self._read(self.err_path).splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def stderr(self):
        return self._read(self.err_path)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out_f.close()
        self.err_f.close()


def wait_for(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class AgentNatLab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = netns_available()
        if why:
            raise unittest.SkipTest(why)
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-agent-lab-")
        cls.lab = Lab()
        cls.servers = []
        try:
            cls.lab.build()
            sh("ip", "-n", cls.lab.pub, "addr", "add", SERVICES_IP + "/24", "dev", "br0")
            s3 = os.path.join(cls.tmp.name, "s3")
            os.mkdir(s3)
            cls.payload = make_payload(os.path.join(s3, NAME), PAYLOAD_SIZE, seed=77)
            cls.slow = in_netns(cls.lab.pub, lambda: RangeServer(s3, host=SERVICES_IP, rate=SLOW_RATE))
            cls.servers.append(cls.slow)
            cls.fast = in_netns(cls.lab.pub, lambda: RangeServer(s3, host=SERVICES_IP))
            cls.servers.append(cls.fast)
            cls.tracker = NsTracker(cls.lab.pub, SERVICES_IP)
            turn_secret = write_secret(cls.tmp.name, "turn", TURN_SECRET)
            cls.rdv = Proc(["ip", "netns", "exec", cls.lab.pub, bin_path("otaswarm-rendezvous"),
                            "--stun-listen", "%s:%d" % (RDV_IP, STUN_PORT), "--alt-ip", RDV_ALT_IP,
                            "--api-listen", RDV_IP + ":0", "--admin-listen", "127.0.0.1:0", "--threads", "1",
                            "--token-key-file", cls.tracker.key_file, "--turn-secret-file", turn_secret,
                            "--turn-uri", "turn:%s:%d?transport=udp" % (TURN_IP, STUN_PORT)])
            cls.api = "http://" + cls.rdv.addr("api")
            cls.coturn = subprocess.Popen(
                ["ip", "netns", "exec", cls.lab.pub, "turnserver", "-n", "--listening-ip=" + TURN_IP,
                 "--relay-ip=" + TURN_IP, "--listening-port=%d" % STUN_PORT, "--use-auth-secret",
                 "--static-auth-secret=" + TURN_SECRET, "--realm=lab.otaswarm", "--no-tls", "--no-dtls", "--no-cli",
                 "--no-rfc5780", "--pidfile=" + os.path.join(cls.tmp.name, "turn.pid"),
                 "--userdb=" + os.path.join(cls.tmp.name, "turndb"),
                 "--log-file=" + os.path.join(cls.tmp.name, "turn.log"), "--simple-log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for(lambda: "%s:%d" % (TURN_IP, STUN_PORT) in cls.lab.exec(cls.lab.pub, "ss", "-Hlun", check=False).stdout,
                     15, 0.1)
            cls.torrent = os.path.join(cls.tmp.name, "ota.torrent")
            web = "http://%s:%d/%s" % (SERVICES_IP, cls.slow.port, NAME)
            create_torrent(cls.payload, cls.torrent, [web], ["udp://%s/announce" % cls.tracker.proc.addr("udp")])
            cls.tracker.register(cls.torrent)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "coturn", None):
            cls.coturn.terminate()
            try:
                cls.coturn.wait(10)
            except subprocess.TimeoutExpired:
                cls.coturn.kill()
                cls.coturn.wait()
        if getattr(cls, "rdv", None):
            cls.rdv.stop()
        if getattr(cls, "tracker", None):
            cls.tracker.close()
        for s in getattr(cls, "servers", []):
            s.close()
        cls.lab.destroy()
        cls.tmp.cleanup()

    def agent(self, phone, device, *extra, state_dir=None):
        ns = self.lab.phones[phone][0]
        work = tempfile.mkdtemp(prefix=device + "-", dir=self.tmp.name)
        out = os.path.join(work, "out")
        args = ["fetch", self.torrent, "--token", self.tracker.mint(device), "--out", out, "--json",
                "--listen", "0.0.0.0:%d" % AGENT_PORT, "--log-level", "debug"] + list(extra)
        if state_dir:
            args += ["--state-dir", state_dir]
        a = LabAgent(ns, args, work)
        a.final = os.path.join(out, NAME)
        self.addCleanup(a.stop)
        return a

    def diagnostics(self, *agents):
        return "\n".join("--- %s\nstdout tail: %s\nstderr tail:\n%s" % (a.p.args[3], a.lines()[-2:], a.stderr()[-4000:])
                         for a in agents)

    def seed_and_leech(self, seed_phone, leech_phone, tag, *extra):
        """A seeding agent behind one router, then a leeching one behind another; returns the
        leecher's last line once it completed (asserted) and the web seed's bytes meanwhile."""
        rdv = "%s:%d" % (RDV_IP, STUN_PORT)
        # The seeder starts with the whole file in its state dir: it verifies it, then seeds.
        seed_state = os.path.join(self.tmp.name, tag + "-seed-state")
        os.makedirs(seed_state, exist_ok=True)
        shutil.copy(self.payload, os.path.join(seed_state, NAME))
        seeder = self.agent(seed_phone, tag + "-seeder", "--rendezvous", rdv, "--seed-time", "150", *extra,
                            state_dir=seed_state)

        def seeder_ready():
            seeding = any(x.get("state") == "seeding" for x in seeder.lines())
            registered = any(m.get("msg") == "rendezvous: registered" for m in seeder.logs())
            return seeding and registered
        self.assertTrue(wait_for(seeder_ready, SEED_READY_TIMEOUT), self.diagnostics(seeder))

        sent_before = self.slow.bytes_sent
        leecher = self.agent(leech_phone, tag + "-leecher", "--rendezvous", rdv, *extra)
        rc = leecher.wait(LEECH_TIMEOUT)
        self.assertEqual(rc, 0, self.diagnostics(leecher, seeder))
        last = leecher.lines()[-1]
        self.assertEqual((last.get("done"), last.get("verified")), (True, True), last)
        self.assertTrue(filecmp.cmp(leecher.final, self.payload, shallow=False))
        web = self.slow.bytes_sent - sent_before
        print("\n%s leecher bytes: %s, web seed sent %d of %d" % (tag, last["bytes"], web, PAYLOAD_SIZE))
        return leecher, seeder, last, web

    def test_punched_peer_behind_two_port_restricted_nats(self):
        leecher, seeder, last, web = self.seed_and_leech("a", "b", "punch")
        self.assertGreater(last["bytes"]["punched"], 0, self.diagnostics(leecher, seeder))
        # The punched path carried the download: the slow web seed sent less than the file.
        self.assertLess(web, PAYLOAD_SIZE, last)
        nat = [m for m in leecher.logs() if m.get("msg") == "nat"]
        self.assertTrue(nat and nat[-1]["registered"] == "true", nat)
        self.assertGreater(int(nat[-1]["announces_rewritten"]), 0, nat)

    def test_relayed_peer_behind_two_symmetric_nats(self):
        # --random-fully: address-and-port-dependent mapping on both sides → relay via coturn.
        leecher, seeder, last, web = self.seed_and_leech("c", "d", "relay", "--rendezvous-api", self.api)
        self.assertGreater(last["bytes"]["relayed"], 0, self.diagnostics(leecher, seeder))
        self.assertLess(web, PAYLOAD_SIZE, last)

    def test_unreachable_rendezvous_completes_from_the_web_seed(self):
        a = self.agent("c", "lab-alone", "--rendezvous", "%s:%d" % (DEAD_RDV, STUN_PORT),
                       "--webseed", "http://%s:%d/%s" % (SERVICES_IP, self.fast.port, NAME))
        rc = a.wait(FAST_TIMEOUT)
        self.assertEqual(rc, 0, self.diagnostics(a))
        last = a.lines()[-1]
        self.assertEqual((last.get("done"), last.get("verified")), (True, True), last)
        self.assertGreaterEqual(last["bytes"]["webseed"], PAYLOAD_SIZE)
        self.assertTrue(filecmp.cmp(a.final, self.payload, shallow=False))
        probe = [m for m in a.logs() if m.get("msg") == "nat probe"]
        self.assertEqual(len(probe), 1, a.stderr()[-2000:])
        self.assertEqual(probe[0]["mapping"], "unknown")


if __name__ == "__main__":
    unittest.main()
