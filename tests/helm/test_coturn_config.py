"""The turnserver.conf the chart renders, run by a real coturn on loopback: coturn accepts
every line, and a relay to a denied peer (127.0.0.1) is refused with 403 Forbidden IP,
while the same set-up without the chart's deny list relays (so the 403 comes from the list)."""
import base64
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import helmlib as H

SECRET = "chart-test-secret-0123456789abcdef"


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class CoturnWithRenderedConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("turnserver", "turnutils_uclient"):
            if not shutil.which(tool):
                raise RuntimeError("%s missing: scripts/install-deps.sh installs coturn" % tool)
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-coturn-")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def rendered_conf(self, sets):
        objs = H.render(sets=sets)
        return H.one(objs, "ConfigMap", "-coturn")["data"]["turnserver.conf"]

    def run_relay(self, conf, name):
        """Starts coturn with conf (plus loopback listening and the secret, as the init container
        adds it), relays one message to a peer on 127.0.0.1, returns the client's output."""
        port = free_tcp_port()
        conf = conf.replace("pidfile=/tmp/turnserver.pid", "pidfile=%s/%s.pid" % (self.tmp.name, name))
        conf = "\n".join(l for l in conf.splitlines() if not l.startswith("listening-port="))
        conf += "\nlistening-port=%d\nlistening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nstatic-auth-secret=%s\n" % (port, SECRET)
        path = os.path.join(self.tmp.name, name + ".conf")
        with open(path, "w") as f:
            f.write(conf)
        log = open(os.path.join(self.tmp.name, name + ".log"), "wb")
        p = subprocess.Popen(["turnserver", "-c", path], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                if p.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            if p.poll() is not None:
                with open(log.name) as f:
                    self.fail("coturn refused the rendered config:\n" + f.read())
            user = "%d:chart-test" % (int(time.time()) + 600)
            pw = base64.b64encode(hmac.new(SECRET.encode(), user.encode(), hashlib.sha1).digest()).decode()
            peer_port = free_udp_port()
            try:
                r = subprocess.run(["turnutils_uclient", "-p", str(port), "-u", user, "-w", pw, "-e", "127.0.0.1",
                                    "-r", str(peer_port), "-n", "1", "-m", "1", "-y", "127.0.0.1"],
                                   capture_output=True, text=True, timeout=15)
                out = r.stdout + r.stderr
            except subprocess.TimeoutExpired as e:
                out = ((e.stdout or b"") + (e.stderr or b"")).decode(errors="replace")
            return out
        finally:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()

    def test_chart_config_denies_loopback_peer(self):
        # allow-loopback-peers lifts coturn's own loopback ban: only the chart's list remains.
        conf = self.rendered_conf({"coturn.extraConfig": ["allow-loopback-peers"]})
        out = self.run_relay(conf, "denied")
        self.assertIn("403", out)
        self.assertIn("Forbidden IP", out)

    def test_without_deny_list_the_same_peer_is_relayed(self):
        conf = self.rendered_conf({"coturn.extraConfig": ["allow-loopback-peers"], "coturn.denyPrivatePeers": False})
        self.assertNotIn("denied-peer-ip", conf)
        out = self.run_relay(conf, "allowed")
        self.assertNotIn("Forbidden IP", out)
        self.assertRegex(out, r"tot_recv_msgs=[1-9]")


def tearDownModule():
    H.cleanup()


if __name__ == "__main__":
    unittest.main()
