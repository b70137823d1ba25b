"""The bundled Redis's redis.conf, as the chart renders it, run by a real redis-server on
loopback: Redis accepts it, the persistence settings are in force, writes go to the
append-only file, and a write in the AOF survives a crash (SIGKILL, no final save)."""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import helmlib as H


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class RedisWithRenderedConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("redis-server", "redis-cli"):
            if not shutil.which(tool):
                raise RuntimeError("%s missing: scripts/install-deps.sh installs redis-server" % tool)
        objs = H.render()
        cls.rendered = H.one(objs, "ConfigMap", "-redis")["data"]["redis.conf"]
        cls.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-redis-")
        cls.port = free_port()
        lines = []
        for line in cls.rendered.splitlines():
            key = line.split(" ", 1)[0]
            if key in ("port", "bind", "dir"):
                continue  # cluster-only: listen on loopback, data in a temp dir
            lines.append(line)
        lines += ["port %d" % cls.port, "bind 127.0.0.1", "dir %s" % cls.tmp.name, "daemonize no",
                  "logfile %s/redis.log" % cls.tmp.name]
        cls.conf = os.path.join(cls.tmp.name, "redis.conf")
        with open(cls.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def start(self):
        p = subprocess.Popen(["redis-server", self.conf], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if p.poll() is not None:
                self.fail("redis-server refused the rendered config:\n" + self.log())
            if self.cli("PING", check=False) == "PONG":
                return p
            time.sleep(0.1)
        p.kill()
        p.wait()
        self.fail("redis-server did not answer\n" + self.log())

    def wait_in_aof(self, needle, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for f in glob.glob(os.path.join(self.tmp.name, "appendonlydir", "*.aof")) + \
                     glob.glob(os.path.join(self.tmp.name, "*.aof")):
                with open(f, "rb") as fh:
                    if needle in fh.read():
                        return True
            time.sleep(0.1)
        return False

    def log(self):
        try:
            with open(os.path.join(self.tmp.name, "redis.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def cli(self, *args, check=True):
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                           capture_output=True, text=True, timeout=10)
        if check and r.returncode != 0:
            raise AssertionError(r.stderr)
        return r.stdout.strip()

    def test_persistence_settings_and_crash(self):
        p = self.start()
        try:
            self.assertEqual(self.cli("CONFIG", "GET", "appendonly").splitlines()[1], "yes")
            self.assertEqual(self.cli("CONFIG", "GET", "appendfsync").splitlines()[1], "everysec")
            self.assertEqual(self.cli("CONFIG", "GET", "maxmemory-policy").splitlines()[1], "noeviction")
            self.assertEqual(self.cli("SET", "{release}:test", "registered"), "OK")
            self.assertTrue(self.wait_in_aof(b"registered"), "the write never reached the append-only file")
        finally:
            p.kill()     # a crash, not a clean shutdown: no final save
            p.wait()
        p = self.start()
        try:
            self.assertEqual(self.cli("GET", "{release}:test"), "registered")
        finally:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def tearDownModule():
    H.cleanup()


if __name__ == "__main__":
    unittest.main()
