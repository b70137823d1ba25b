"""Real redis-server processes for the tracker's Redis integration tests: free loopback ports
(the cluster bus port, port + 10000, free too), one temp dir per node, bounded start-up, every
process stopped by its PID, and killed by the kernel if this test process dies (PDEATHSIG)."""
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from otaswarm_harness import Proc, bin_path, write_secret

START_TIMEOUT = 10  # seconds for a redis-server to answer PING
CLUSTER_TIMEOUT = 60  # seconds for redis-cli --cluster create and cluster_state:ok
STOP_TIMEOUT = 5
BUS_OFFSET = 10000
NODE_TIMEOUT_MS = "2000"  # failover in a few seconds instead of the default 15 s
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_redis_port(cluster=False):
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if not cluster or (port + BUS_OFFSET <= 65535 and _port_free(port + BUS_OFFSET)):
            return port
    raise RuntimeError("no free port for redis-server")


def resp(port, *args, timeout=2.0):
    """One command over a fresh connection; returns the decoded reply (errors as Exception values)."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(out)
        f = s.makefile("rb")
        return _read(f)


def _read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("closed")
    t, rest = line[:1], line[1:-2]
    if t == b"+":
        return rest.decode()
    if t == b"-":
        return Exception(rest.decode())
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise ValueError("bad reply %r" % line)


class RedisNode:
    def __init__(self, cluster=False, appendonly=False):
        self.cluster = cluster
        self.appendonly = appendonly
        self.port = free_redis_port(cluster)
        self.dir = tempfile.mkdtemp(prefix="otaswarm-redis-")
        self.p = None
        self.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
                "--protected-mode", "no", "--daemonize", "no", "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", "everysec"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", NODE_TIMEOUT_MS]
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            try:
                if resp(self.port, "PING") == "PONG":
                    return
            except OSError:
                pass
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server on %d did not start" % self.port)

    def running(self):
        return self.p is not None and self.p.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.p is None:
            return
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cmd(self, *args):
        return resp(self.port, *args)


class RedisCluster:
    """3 masters + 3 replicas."""

    def __init__(self):
        self.nodes = []
        try:
            for _ in range(6):
                self.nodes.append(RedisNode(cluster=True))
            r = subprocess.run(["redis-cli", "--cluster", "create"] + [n.address for n in self.nodes] +
                               ["--cluster-replicas", "1", "--cluster-yes"], capture_output=True,
                               timeout=CLUSTER_TIMEOUT, preexec_fn=_die_with_parent)
            if r.returncode != 0:
                raise RuntimeError("cluster create failed: %s" % r.stdout[-2000:])
            if not self.wait_ok(CLUSTER_TIMEOUT):
                raise RuntimeError("cluster did not reach cluster_state:ok")
        except BaseException:
            self.close()
            raise

    @property
    def url(self):
        return "redis-cluster://" + ",".join(n.address for n in self.nodes)

    def wait_ok(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                live = [n for n in self.nodes if n.running()]
                # Replicas must be linked too, or WAIT (release writes) and failover find nobody.
                if all(b"cluster_state:ok" in n.cmd("CLUSTER", "INFO") for n in live) and all(
                        r[0] != b"slave" or r[3] == b"connected" for r in (n.cmd("ROLE") for n in live)):
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def master_for(self, key):
        for n in self.nodes:
            if not n.running():
                continue
            try:
                r = n.cmd("EXISTS", key)
            except OSError:
                continue
            if isinstance(r, int):
                role = n.cmd("ROLE")
                if role and role[0] == b"master":
                    return n
        return None

    def close(self):
        for n in self.nodes:
            n.close()


def mint_token(key, device_id, ttl=3600):
    """The documented minting snippet (docs/tokens.md)."""
    import base64
    import hashlib
    import hmac

    def b64(d):
        return base64.urlsafe_b64encode(d).rstrip(b"=").decode("ascii")

    exp = str(int(time.time()) + ttl)
    msg = b"otaswarm-device-token-v1\n" + device_id.encode() + b"\n" + exp.encode("ascii")
    mac = hmac.new(key.encode("utf-8"), msg, hashlib.sha256).digest()[:16]
    return "v1." + b64(device_id.encode()) + "." + exp + "." + b64(mac)


class Replica:
    """An otaswarm-tracker replica on port 0 sharing keys with its siblings, on a Redis store."""

    def __init__(self, directory, token_key_file, admin_token_file, admin_token, store, extra=()):
        self.admin_token = admin_token
        self.proc = Proc([bin_path("otaswarm-tracker"), "--http-listen", "127.0.0.1:0", "--udp-listen", "127.0.0.1:0",
                          "--admin-listen", "127.0.0.1:0", "--token-key-file", token_key_file,
                          "--admin-token-file", admin_token_file, "--data-dir", os.path.join(directory, "data"),
                          "--store", store] + list(extra))

    @property
    def http_addr(self):
        return self.proc.addr("http")

    @property
    def admin_url(self):
        return self.proc.url("admin")

    def admin(self, method, path, body=None, content_type=None):
        from otaswarm_harness import http
        headers = {"Authorization": "Bearer " + self.admin_token}
        if content_type:
            headers["Content-Type"] = content_type
        return http(method, self.admin_url + path, body=body, headers=headers)

    def alive(self):
        return self.proc.p.poll() is None

    def close(self):
        self.proc.stop()
        self.proc.tmp.cleanup()


class Keys:
    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-keys-")
        self.token_key = secrets.token_hex(32)
        self.admin_token = secrets.token_hex(32)
        self.token_key_file = write_secret(self.tmp.name, "token.key", self.token_key)
        self.admin_token_file = write_secret(self.tmp.name, "admin.token", self.admin_token)

    def replica(self, store, extra=()):
        return Replica(self.tmp.name, self.token_key_file, self.admin_token_file, self.admin_token, store, extra)

    def close(self):
        self.tmp.cleanup()
