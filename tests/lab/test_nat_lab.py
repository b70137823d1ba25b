"""NAT lab in network namespaces: a "public" segment with the rendezvous (two IPs) and coturn,
and phones behind Linux NAT routers. Plain MASQUERADE = endpoint-independent mapping with
address-and-port-dependent filtering; MASQUERADE --random-fully = address-and-port-dependent
mapping. Checks `otaswarm nat probe` classifies each, two phones behind MASQUERADE punch
through with the rendezvous's help, and two behind --random-fully fall back to relay through
coturn. Needs root (network namespaces); skips otherwise. Every namespace is deleted and every
process stopped by PID in teardown."""
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import unittest

from otaswarm_harness import Proc, bin_path, write_secret

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "lab-token-key-0123456789abcdef"
TURN_SECRET = "lab-turn-secret-0123456789"
PUB_NET = "10.200.0."
RDV_IP, RDV_ALT_IP, TURN_IP = PUB_NET + "1", PUB_NET + "2", PUB_NET + "3"
STUN_PORT = 3478
DEVICE_TIMEOUT = 45
# (name, random_fully); each phone sits behind its own router.
NATS = [("a", False), ("b", False), ("c", True), ("d", True)]


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def netns_available():
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    name = "rdvprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        return "cannot create a network namespace: " + r.stderr.strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    if subprocess.run(["iptables", "--version"], capture_output=True).returncode != 0:
        return "iptables not available"
    return None


class Lab:
    def __init__(self):
        self.tag = "rl%d" % (os.getpid() % 100000)
        self.namespaces = []
        self.links = []

    def ns(self, name):
        full = "%s%s" % (self.tag, name)
        sh("ip", "netns", "add", full)
        self.namespaces.append(full)
        sh("ip", "-n", full, "link", "set", "lo", "up")
        return full

    def exec(self, ns, *args, check=True):
        return sh("ip", "netns", "exec", ns, *args, check=check)

    def veth(self, a_ns, a_if, b_ns, b_if):
        tmp_a, tmp_b = "%s%sx" % (self.tag, len(self.links)), "%s%sy" % (self.tag, len(self.links))
        sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        self.links.append(tmp_a)
        sh("ip", "link", "set", tmp_a, "netns", a_ns)
        sh("ip", "link", "set", tmp_b, "netns", b_ns)
        sh("ip", "-n", a_ns, "link", "set", tmp_a, "name", a_if)
        sh("ip", "-n", b_ns, "link", "set", tmp_b, "name", b_if)
        sh("ip", "-n", a_ns, "link", "set", a_if, "up")
        sh("ip", "-n", b_ns, "link", "set", b_if, "up")

    def build(self):
        self.pub = self.ns("pub")
        sh("ip", "-n", self.pub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.pub, "link", "set", "br0", "up")
        for ip in (RDV_IP, RDV_ALT_IP, TURN_IP):
            sh("ip", "-n", self.pub, "addr", "add", ip + "/24", "dev", "br0")
        self.phones = {}
        for i, (name, random_fully) in enumerate(NATS, start=1):
            router, phone = self.ns("r" + name), self.ns("p" + name)
            self.veth(router, "wan", self.pub, "up" + name)
            sh("ip", "-n", self.pub, "link", "set", "up" + name, "master", "br0")
            wan_ip = PUB_NET + str(10 + i)
            sh("ip", "-n", router, "addr", "add", wan_ip + "/24", "dev", "wan")
            self.veth(phone, "eth0", router, "lan")
            lan_net = "192.168.%d." % i
            sh("ip", "-n", router, "addr", "add", lan_net + "1/24", "dev", "lan")
            sh("ip", "-n", phone, "addr", "add", lan_net + "2/24", "dev", "eth0")
            sh("ip", "-n", phone, "route", "add", "default", "via", lan_net + "1")
            self.exec(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            rule = ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"]
            self.exec(router, *(rule + (["--random-fully"] if random_fully else [])))
            # Like a home router's firewall: unsolicited inbound on the WAN is dropped before its
            # conntrack entry is confirmed, so a peer's early punch packet cannot claim the tuple
            # this router needs for its own outbound mapping (Linux would remap the port).
            self.exec(router, "iptables", "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP")
            self.phones[name] = (phone, lan_net + "2", wan_ip)
        self.public_phone = self.ns("ppub")
        self.veth(self.public_phone, "eth0", self.pub, "uppub")
        sh("ip", "-n", self.pub, "link", "set", "uppub", "master", "br0")
        sh("ip", "-n", self.public_phone, "addr", "add", PUB_NET + "50/24", "dev", "eth0")

    def destroy(self):
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for link in self.links:  # normally gone with their namespaces
            subprocess.run(["ip", "link", "del", link], capture_output=True)


class NatLabTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = netns_available()
        if why:
            raise unittest.SkipTest(why)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.lab = Lab()
        cls.procs = []
        try:
            cls.lab.build()
            key = write_secret(cls.tmp.name, "key", KEY)
            turn_secret = write_secret(cls.tmp.name, "turn", TURN_SECRET)
            cls.rdv = Proc(["ip", "netns", "exec", cls.lab.pub, bin_path("otaswarm-rendezvous"),
                            "--stun-listen", "%s:%d" % (RDV_IP, STUN_PORT), "--alt-ip", RDV_ALT_IP,
                            "--api-listen", RDV_IP + ":0", "--admin-listen", "127.0.0.1:0", "--threads", "1",
                            "--token-key-file", key, "--turn-secret-file", turn_secret, "--punch-lead-ms", "300",
                            "--turn-uri", "turn:%s:%d?transport=udp" % (TURN_IP, STUN_PORT)])
            cls.procs.append(cls.rdv)
            cls.coturn = subprocess.Popen(
                ["ip", "netns", "exec", cls.lab.pub, "turnserver", "-n", "--listening-ip=" + TURN_IP,
                 "--relay-ip=" + TURN_IP, "--listening-port=%d" % STUN_PORT, "--use-auth-secret",
                 "--static-auth-secret=" + TURN_SECRET, "--realm=lab.otaswarm", "--no-tls", "--no-dtls", "--no-cli",
                 "--no-rfc5780", "--pidfile=" + os.path.join(cls.tmp.name, "turn.pid"),
                 "--userdb=" + os.path.join(cls.tmp.name, "turndb"),
                 "--log-file=" + os.path.join(cls.tmp.name, "turn.log"), "--simple-log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 15
            while time.time() < deadline:
                out = cls.lab.exec(cls.lab.pub, "ss", "-Hlun", check=False).stdout
                if "%s:%d" % (TURN_IP, STUN_PORT) in out:
                    break
                time.sleep(0.1)
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
        for p in getattr(cls, "procs", []):
            p.__exit__(None, None, None)
        cls.lab.destroy()
        cls.tmp.cleanup()

    def token(self, device):
        return sh(bin_path("otaswarm"), "token", "mint", "--key-file", os.path.join(self.tmp.name, "key"),
                  "--device", device, "--ttl", "600").stdout.strip()

    def probe(self, ns):
        out = self.lab.exec(ns, bin_path("otaswarm"), "nat", "probe", "--stun", "%s:%d" % (RDV_IP, STUN_PORT),
                            "--timeout-ms", "400", check=False)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return json.loads(out.stdout)

    def test_probe_classifies_each_nat(self):
        for name, random_fully in NATS[::2]:
            ns, lan_ip, wan_ip = self.lab.phones[name]
            j = self.probe(ns)
            self.assertIs(j["public"], False)
            self.assertTrue(j["reflexive"].startswith(wan_ip + ":"), j)
            self.assertIn(j["hairpinning"], (True, False))
            self.assertEqual(j["filtering"], "address-and-port-dependent", j)
            self.assertEqual(j["mapping"], "address-and-port-dependent" if random_fully else "endpoint-independent", j)
        j = self.probe(self.lab.public_phone)
        self.assertEqual((j["public"], j["mapping"], j["filtering"]), (True, "endpoint-independent", "endpoint-independent"))

    def run_pair(self, a, b):
        """Starts phone b (waits for a peer), then phone a (connects to b); returns both results."""
        def start(name, peer):
            ns, lan_ip, _ = self.lab.phones[name]
            args = ["ip", "netns", "exec", ns, "/usr/bin/python3", os.path.join(HERE, "rdv_device.py"),
                    "--otaswarm", bin_path("otaswarm"), "--rdv", "%s:%d" % (RDV_IP, STUN_PORT),
                    "--turn", "%s:%d" % (TURN_IP, STUN_PORT), "--token", self.token("phone-" + name),
                    "--device", "phone-" + name, "--lan-ip", lan_ip]
            if peer:
                args += ["--peer", "phone-" + peer]
            p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=HERE)
            self.addCleanup(self.stop, p)
            return p

        def read_event(p, event):
            deadline = time.time() + DEVICE_TIMEOUT
            while time.time() < deadline:
                r, _, _ = select.select([p.stdout], [], [], 0.5)
                if r:
                    line = p.stdout.readline()
                    if not line:
                        break
                    j = json.loads(line)
                    if j["event"] == event:
                        return j
            self.fail("phone did not report %s; stderr: %s" % (event, p.stderr.read() if p.poll() is not None else ""))

        pb = start(b, None)
        read_event(pb, "registered")
        pa = start(a, b)
        ra, rb = read_event(pa, "result"), read_event(pb, "result")
        return ra, rb

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.stdout.close()
        p.stderr.close()

    def test_port_restricted_nats_punch_through(self):
        ra, rb = self.run_pair("a", "b")
        self.assertEqual(ra["decision"], "punch_simultaneous", ra)
        self.assertEqual(ra["result"], "punched", ra)
        self.assertEqual(rb["result"], "punched", rb)
        self.assertEqual(ra["got"], "hello from phone-b")
        self.assertEqual(rb["got"], "hello from phone-a")
        # Each saw the other at its NAT's public address, not through a relay.
        self.assertTrue(ra["peer"].startswith(self.lab.phones["b"][2] + ":"), ra)
        self.assertTrue(rb["peer"].startswith(self.lab.phones["a"][2] + ":"), rb)

    def test_random_fully_nats_fall_back_to_relay(self):
        ra, rb = self.run_pair("c", "d")
        self.assertEqual(ra["decision"], "relay", ra)
        self.assertEqual(rb["decision"], "relay", rb)
        self.assertEqual(ra["result"], "relayed", ra)
        self.assertEqual(rb["result"], "relayed", rb)
        self.assertEqual(ra["got"], "RELAY hello from phone-d")
        self.assertEqual(rb["got"], "RELAY hello from phone-c")
        self.assertTrue(rb["relayed"].startswith(TURN_IP + ":"), rb)


if __name__ == "__main__":
    unittest.main()
