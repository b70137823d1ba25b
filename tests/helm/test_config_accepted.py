"""The TOML config the chart renders is accepted by the real servers: every key is one the
binary knows, and the binary starts from it (addresses, secret paths, data dir and store
pointed at loopback / temp files, everything else as rendered), answers /readyz, and stops
cleanly on SIGTERM. The rendezvous's rendered redis:// store (rendezvous.sharedStore) is
pointed at a real redis-server on loopback."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest

import helmlib as H
from otaswarm_harness import Proc, bin_path, http, write_secret

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "redis"))
from redis_harness import RedisNode  # noqa: E402

_redis = None


def local_redis():
    global _redis
    if _redis is None:
        _redis = RedisNode()
    return _redis

# (values files, --set-json) the chart is rendered with: defaults, production, rotation keys on,
# rendezvous registrations in the bundled Redis.
VARIANTS = {
    "default": ([], {}),
    "shared-rendezvous": ([], {"rendezvous.sharedStore": True, "rendezvous.replicas": 2}),
    "production": ([H.PRODUCTION], {}),
    "rotation": ([], {"secrets.tokenKey.previousKey": "old", "secrets.adminToken.previousKey": "old-admin",
                      "secrets.connectionIdKey.key": "cid", "secrets.connectionIdKey.previousKey": "cid-old",
                      "secrets.natTicketKey.key": "nat", "secrets.natTicketKey.previousKey": "nat-old",
                      "tracker.trustedProxies": ["10.0.0.0/8"]}),
}


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def help_keys(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    return set(re.findall(r"--([a-z][a-z0-9-]+)", r.stdout + r.stderr))


def localize(cfg, tmp, real_redis):
    """The rendered config with what only exists in a cluster replaced by local equivalents."""
    out = dict(cfg)
    for k, v in cfg.items():
        if k.endswith("-listen"):
            out[k] = ["127.0.0.1:0"] if isinstance(v, list) else "127.0.0.1:0"
        elif k.endswith("-file") and isinstance(v, str) and v.startswith("/var/run/secrets/otaswarm/"):
            name = os.path.basename(v)
            out[k] = write_secret(tmp, name, (name.encode().hex() * 8)[:64])
    if "alt-port" in out:
        out["alt-port"] = 0          # with port 0: a free port
    out.pop("alt-ip", None)          # a cluster address; loopback has one address here
    if "data-dir" in out:
        out["data-dir"] = os.path.join(tmp, "data")
        os.makedirs(out["data-dir"], exist_ok=True)
    store = out.get("store", "memory")
    if store.startswith("redis://") and real_redis:
        out["store"] = "redis://" + local_redis().address
    elif store != "memory":
        out["store"] = "memory"      # no Redis (tracker: tests/integration/redis cover it) or a cluster URL
    return out


class RenderedConfigAccepted(unittest.TestCase):
    def check(self, component, binary_name, configmap_suffix, key, ready_keys):
        binary = bin_path(binary_name)
        if not os.path.exists(binary):
            self.skipTest("%s not built" % binary)
        known = help_keys(binary)
        self.assertIn("store", known, "--help of %s lists no options?" % binary_name)
        for variant, (files, sets) in VARIANTS.items():
            with self.subTest(variant=variant):
                objs = H.render(files, sets)
                cfg = H.toml_of(H.one(objs, "ConfigMap", configmap_suffix), key)
                unknown = sorted(set(cfg) - known)
                self.assertEqual(unknown, [], "%s does not know keys the chart renders" % binary_name)
                # flags the Deployment passes besides --config must be known too
                for d in H.find(objs, "Deployment"):
                    if d["metadata"]["labels"]["app.kubernetes.io/component"] != component:
                        continue
                    for a in d["spec"]["template"]["spec"]["containers"][0]["args"]:
                        if a.startswith("--") and a != "--config":
                            self.assertIn(a[2:], known, "%s: flag %s" % (d["metadata"]["name"], a))
                with tempfile.TemporaryDirectory(prefix="otaswarm-chartcfg-") as tmp:
                    local = localize(cfg, tmp, real_redis=component == "rendezvous")
                    path = os.path.join(tmp, key)
                    with open(path, "w") as f:
                        for k, v in local.items():
                            f.write("%s = %s\n" % (k, toml_value(v)))
                    p = Proc([binary, "--config", path] + (["--replica-id", "chart-test"] if component == "rendezvous" else []))
                    try:
                        for rk in ready_keys:
                            self.assertIn(rk, p.ready)
                        # A Redis store is ready once connected (and, for the rendezvous, subscribed).
                        st, body = None, b""
                        for _ in range(100):
                            st, _, body = http("GET", p.url("admin", "/readyz"))
                            if st == 200:
                                break
                            time.sleep(0.05)
                        self.assertEqual(st, 200, body)
                        st, _, _ = http("GET", p.url("admin", "/healthz"))
                        self.assertEqual(st, 200)
                    finally:
                        rc = p.stop()
                        log = p.stderr()
                        p.tmp.cleanup()
                    self.assertEqual(rc, 0, log)

    def test_tracker_accepts_rendered_config(self):
        self.check("tracker", "otaswarm-tracker", "-tracker", "tracker.toml", ["http", "udp", "admin"])

    def test_rendezvous_accepts_rendered_config(self):
        self.check("rendezvous", "otaswarm-rendezvous", "-rendezvous", "rendezvous.toml", ["stun", "api", "admin"])


def tearDownModule():
    H.cleanup()
    if _redis is not None:
        _redis.close()


if __name__ == "__main__":
    unittest.main()
