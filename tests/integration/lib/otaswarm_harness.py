"""Shared helpers for integration tests: start real otaswarm binaries on port 0, read the
ready line, stop them by PID; free ports; temporary files. No mocks."""
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

BIN = os.environ.get("OTASWARM_BIN", os.path.join(os.path.dirname(__file__), "../../../build/bin"))
PY = "/usr/bin/python3"


def bin_path(name):
    return os.path.join(BIN, name)


def read_ready_line(p, timeout):
    """The parsed JSON ready line a server started with stdout=PIPE prints once it is bound, or
    None if it exits or stays silent for `timeout` seconds."""
    deadline, buf = time.time() + timeout, b""
    while time.time() < deadline:
        if select.select([p.stdout], [], [], 0.2)[0]:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                return None
            buf += chunk
            if b"\n" in buf:
                return json.loads(buf.split(b"\n", 1)[0])
        if p.poll() is not None:
            return None
    return None


class Proc:
    """A started server. `ready` is the parsed ready line; stderr goes to a file."""

    def __init__(self, args, ready_timeout=20, env=None, cwd=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-proc-")
        self.stderr_path = os.path.join(self.tmp.name, "stderr.log")
        self.stderr_file = open(self.stderr_path, "wb")
        self.args = args
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr_file, env=env, cwd=cwd)
        self.ready = read_ready_line(self.p, ready_timeout)
        if self.ready is None:
            self.stop()
            raise RuntimeError("server did not become ready: %s\nstderr:\n%s" % (args, self.stderr()))

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def addr(self, name):
        v = self.ready[name]
        return v[0] if isinstance(v, list) else v

    def url(self, name, path=""):
        return "http://%s%s" % (self.addr(name), path)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.stderr_file.close()
        if self.p.stdout:
            self.p.stdout.close()
        return self.p.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.tmp.cleanup()


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None, headers=None, timeout=10):
    """Returns (status, headers, body bytes) without raising on HTTP errors."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def register_release(admin, admin_token, torrent):
    """POSTs a .torrent to a tracker's admin listener ("ip:port"); raises unless it answers 201."""
    status, _, body = http("POST", "http://%s/api/v1/releases" % admin, torrent,
                           {"Content-Type": "application/x-bittorrent", "Authorization": "Bearer " + admin_token})
    if status != 201:
        raise RuntimeError("release add: HTTP %d %r" % (status, body[:200]))
    return json.loads(body)


def first(listener):
    """The first "ip:port" of a ready-line listener (a string, or a list when given several times)."""
    return listener[0] if isinstance(listener, list) else listener


def write_secret(directory, name, value):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(value + "\n")
    return path


def wait_until(pred, timeout=10, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()
