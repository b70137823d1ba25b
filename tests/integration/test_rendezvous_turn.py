"""TURN credentials from the rendezvous (POST /v1/turn-credentials) used by coturn's
turnutils_uclient to allocate on a real coturn (--use-auth-secret) started here; expired and
forged credentials are refused by coturn."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time
import unittest

from otaswarm_harness import Proc, bin_path, free_port, http, wait_until, write_secret

KEY = "0123456789abcdef" * 4
TURN_SECRET = "coturn-static-secret-0123"
REALM = "otaswarm.test"
UCLIENT_TIMEOUT = 60


def start_coturn(tmp, port):
    args = ["turnserver", "-n", "--listening-ip=127.0.0.1", "--listening-port=%d" % port,
            "--use-auth-secret", "--static-auth-secret=" + TURN_SECRET, "--realm=" + REALM,
            "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers", "--no-rfc5780",
            "--min-port=49152", "--max-port=65535", "--pidfile=" + os.path.join(tmp, "turn.pid"),
            "--userdb=" + os.path.join(tmp, "turndb"), "--log-file=" + os.path.join(tmp, "turn.log"),
            "--simple-log"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def listening():
        out = subprocess.run(["ss", "-Hlun", "sport = :%d" % port], capture_output=True, text=True).stdout
        return "127.0.0.1:%d" % port in out
    if not wait_until(listening, timeout=15):
        p.kill()
        p.wait()
        raise RuntimeError("coturn did not start")
    return p


def uclient(port, user, password):
    return subprocess.run(["turnutils_uclient", "-p", str(port), "-u", user, "-w", password, "-n", "3", "-m", "1",
                           "-y", "-e", "127.0.0.1", "127.0.0.1"], capture_output=True, text=True,
                          timeout=UCLIENT_TIMEOUT)


class TurnCredentialsWithCoturn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.turn_port = free_port(host="127.0.0.1")
        cls.coturn = start_coturn(cls.tmp.name, cls.turn_port)
        try:
            cls.rdv = Proc([bin_path("otaswarm-rendezvous"), "--stun-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                            "--admin-listen", "127.0.0.1:0", "--threads", "1",
                            "--token-key-file", write_secret(cls.tmp.name, "key", KEY),
                            "--turn-secret-file", write_secret(cls.tmp.name, "turn", TURN_SECRET),
                            "--turn-ttl", "120", "--turn-uri", "turn:127.0.0.1:%d?transport=udp" % cls.turn_port])
        except Exception:
            cls.coturn.terminate()
            cls.coturn.wait()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.rdv.__exit__(None, None, None)
        cls.coturn.terminate()
        try:
            cls.coturn.wait(10)
        except subprocess.TimeoutExpired:
            cls.coturn.kill()
            cls.coturn.wait()
        cls.tmp.cleanup()

    def credentials(self, device):
        tok = subprocess.run([bin_path("otaswarm"), "token", "mint", "--key-file", os.path.join(self.tmp.name, "key"),
                              "--device", device, "--ttl", "600"], capture_output=True, text=True, check=True).stdout.strip()
        st, _, body = http("POST", self.rdv.url("api", "/v1/turn-credentials"), headers={"Authorization": "Bearer " + tok})
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def test_issued_credentials_allocate_on_coturn(self):
        c = self.credentials("phone-turn-1")
        self.assertEqual(c["ttl"], 120)
        self.assertEqual(c["uris"], ["turn:127.0.0.1:%d?transport=udp" % self.turn_port])
        out = uclient(self.turn_port, c["username"], c["password"])
        self.assertEqual(out.returncode, 0, out.stdout[-2000:] + out.stderr[-2000:])
        self.assertRegex(out.stdout, r"tot_recv_msgs=[1-9]")
        self.assertNotIn("Cannot complete Allocation", out.stdout + out.stderr)

    def test_expired_credentials_refused(self):
        # Same secret and format as the rendezvous, but an expiry in the past.
        user = "%d:phone-turn-1" % (int(time.time()) - 60)
        password = base64.b64encode(hmac.new(TURN_SECRET.encode(), user.encode(), hashlib.sha1).digest()).decode()
        out = uclient(self.turn_port, user, password)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("Cannot complete Allocation", out.stdout + out.stderr)

    def test_forged_credentials_refused(self):
        c = self.credentials("phone-turn-2")
        for user, password in [(c["username"], base64.b64encode(b"x" * 20).decode()),   # wrong password
                               (c["username"].split(":")[0] + ":phone-other", c["password"])]:  # other device
            out = uclient(self.turn_port, user, password)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("Cannot complete Allocation", out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main()
