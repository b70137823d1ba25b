"""Helpers for the tracker's integration tests: start the real otaswarm-tracker, drive the
real `otaswarm` CLI, and speak HTTP (BEP 3/23/48) and UDP (BEP 15 + BEP 41) announce and
scrape as a minimal client. No mocks: every reply comes from the running tracker."""
import hashlib
import json
import os
import random
import re
import secrets
import signal
import socket
import struct
import subprocess
import tempfile
import urllib.parse

from otaswarm_harness import Proc, bin_path, http, write_secret

CLI_TIMEOUT = 120  # seconds for one CLI invocation (hashing a test file takes well under 1 s)
UDP_TIMEOUT = 3.0  # seconds to wait for one UDP tracker reply
UDP_TRIES = 3  # BEP 15 retransmits; loopback rarely drops, but a busy box can
BEP15_MAGIC = 0x41727101980
ACTION_CONNECT, ACTION_ANNOUNCE, ACTION_SCRAPE, ACTION_ERROR = 0, 1, 2, 3
EVENTS = {"none": 0, "completed": 1, "started": 2, "stopped": 3}


def bdecode(data):
    def item(i):
        c = data[i : i + 1]
        if c == b"i":
            j = data.index(b"e", i)
            return int(data[i + 1 : j]), j + 1
        if c == b"l":
            i, out = i + 1, []
            while data[i : i + 1] != b"e":
                v, i = item(i)
                out.append(v)
            return out, i + 1
        if c == b"d":
            i, out = i + 1, {}
            while data[i : i + 1] != b"e":
                k, i = item(i)
                v, i = item(i)
                out[k] = v
            return out, i + 1
        if c.isdigit():
            j = data.index(b":", i)
            n = int(data[i:j])
            return data[j + 1 : j + 1 + n], j + 1 + n
        raise ValueError("bad bencode at offset %d" % i)

    value, end = item(0)
    if end != len(data):
        raise ValueError("trailing bytes after bencode value")
    return value


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"
    raise TypeError(type(v))


def info_hash_of(torrent_bytes):
    info = bdecode(torrent_bytes)[b"info"]
    return hashlib.sha1(bencode(info)).hexdigest()


def cli(*args, timeout=CLI_TIMEOUT):
    """Runs `otaswarm ARGS`; returns the CompletedProcess (text mode)."""
    return subprocess.run([bin_path("otaswarm")] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


def make_payload(path, size, seed=1):
    """Writes `size` deterministic pseudo-random bytes (a stand-in OTA image)."""
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            f.write(rnd.randbytes(n))
            left -= n
    return path


def create_torrent(path, out, webseeds, announces, extra=()):
    """`otaswarm torrent create`; returns the info-hash hex it printed."""
    args = ["torrent", "create", path, "-o", out]
    for w in webseeds:
        args += ["--webseed", w]
    for a in announces:
        args += ["--announce", a]
    r = cli(*(args + list(extra)))
    if r.returncode != 0:
        raise AssertionError("torrent create failed (%d): %s" % (r.returncode, r.stderr))
    return r.stdout.strip()


class Tracker:
    """otaswarm-tracker on loopback port 0 with fresh keys; restartable on the same data dir.
    host: "127.0.0.1" or "::1" (every listener on that address)."""

    def __init__(self, extra=(), host="127.0.0.1"):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-tracker-")
        self.dir = self.tmp.name
        self.token_key = secrets.token_hex(32)
        self.admin_token = secrets.token_hex(32)
        self.key_file = write_secret(self.dir, "token.key", self.token_key)
        self.admin_token_file = write_secret(self.dir, "admin.token", self.admin_token)
        self.data_dir = os.path.join(self.dir, "data")
        self.extra = list(extra)
        self.listen = "[%s]:0" % host if ":" in host else "%s:0" % host
        self.proc = None
        self.start()

    def start(self):
        self.proc = Proc([bin_path("otaswarm-tracker"), "--http-listen", self.listen, "--udp-listen", self.listen,
                          "--admin-listen", self.listen, "--token-key-file", self.key_file,
                          "--admin-token-file", self.admin_token_file, "--data-dir", self.data_dir] + self.extra)
        return self

    def stop(self, sig=signal.SIGTERM):
        rc = self.proc.stop(sig)
        self.proc.tmp.cleanup()
        return rc

    def restart(self, sig=signal.SIGTERM):
        rc = self.stop(sig)
        self.start()
        return rc

    def close(self):
        if self.proc is not None and self.proc.p.poll() is None:
            self.stop()
        self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stderr(self):
        return self.proc.stderr()

    @property
    def http_addr(self):
        return self.proc.addr("http")

    @property
    def udp_addr(self):
        host, port = self.proc.addr("udp").rsplit(":", 1)
        return host.strip("[]"), int(port)

    @property
    def admin_url(self):
        return self.proc.url("admin")

    def http_announce_url(self, token):
        """The /announce/<token> form: libtorrent 2.0's SSRF mitigation only lets a loopback
        tracker URL through when its path *starts* with /announce (/<token>/announce is blocked)."""
        return "http://%s/announce/%s" % (self.http_addr, token)

    def udp_announce_url(self, token):
        return "udp://%s/announce/%s" % (self.proc.addr("udp"), token)

    def mint(self, device, ttl=3600):
        r = cli("token", "mint", "--key-file", self.key_file, "--device", device, "--ttl", ttl)
        if r.returncode != 0:
            raise AssertionError("token mint failed: %s" % r.stderr)
        return r.stdout.strip()

    def release_cli(self, verb, *args):
        return cli("release", verb, "--admin", self.admin_url, "--admin-token-file", self.admin_token_file, *args)

    def register(self, torrent_path):
        r = self.release_cli("add", torrent_path)
        if r.returncode != 0:
            raise AssertionError("release add failed (%d): %s\ntracker stderr:\n%s" % (r.returncode, r.stderr,
                                                                                        self.stderr()[-3000:]))
        return json.loads(r.stdout)

    def admin(self, method, path, body=None, token=None, content_type=None):
        """Admin API call with the right bearer unless `token` says otherwise ("" = none)."""
        headers = {}
        tok = self.admin_token if token is None else token
        if tok:
            headers["Authorization"] = "Bearer " + tok
        if content_type:
            headers["Content-Type"] = content_type
        return http(method, self.admin_url + path, body=body, headers=headers)

    def release(self, info_hash):
        status, _, body = self.admin("GET", "/api/v1/releases/" + info_hash)
        return json.loads(body) if status == 200 else None


def _q(b):
    return urllib.parse.quote_from_bytes(b, safe="")


def http_announce(tracker, token, info_hash_hex, peer_id, port, left, event=None, numwant=None, compact=1,
                  path_style="prefix", uploaded=0, downloaded=0):
    """One HTTP announce; returns (status, decoded bencode dict or raw body)."""
    path = "/announce/%s" % token if path_style == "prefix" else "/%s/announce" % token
    q = "info_hash=%s&peer_id=%s&port=%d&uploaded=%d&downloaded=%d&left=%d&compact=%d" % (
        _q(bytes.fromhex(info_hash_hex)), _q(peer_id), port, uploaded, downloaded, left, compact)
    if event:
        q += "&event=" + event
    if numwant is not None:
        q += "&numwant=%d" % numwant
    status, _, body = http("GET", "http://%s%s?%s" % (tracker.http_addr, path, q))
    try:
        return status, bdecode(body)
    except ValueError:
        return status, body


def http_scrape(tracker, token, info_hashes_hex):
    q = "&".join("info_hash=" + _q(bytes.fromhex(h)) for h in info_hashes_hex)
    status, _, body = http("GET", "http://%s/scrape/%s?%s" % (tracker.http_addr, token, q))
    try:
        return status, bdecode(body)
    except ValueError:
        return status, body


def compact_peers(blob):
    return [(socket.inet_ntoa(blob[i : i + 4]), struct.unpack(">H", blob[i + 4 : i + 6])[0])
            for i in range(0, len(blob) - 5, 6)]


def compact_peers6(blob):
    return [(socket.inet_ntop(socket.AF_INET6, blob[i : i + 16]), struct.unpack(">H", blob[i + 16 : i + 18])[0])
            for i in range(0, len(blob) - 17, 18)]


class UdpTrackerClient:
    """BEP 15 client with BEP 41 URL data (the device token travels in the URL path)."""

    def __init__(self, addr):
        self.addr = addr
        v6 = ":" in addr[0]
        self.sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("::1" if v6 else "127.0.0.1", 0))
        self.sock.settimeout(UDP_TIMEOUT)
        self.connection_id = None

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def exchange(self, packet, tid):
        """Sends `packet`, returns (action, body) of the reply with transaction id `tid`."""
        for _ in range(UDP_TRIES):
            self.sock.sendto(packet, self.addr)
            try:
                while True:
                    data, _ = self.sock.recvfrom(65536)
                    if len(data) >= 8 and struct.unpack(">I", data[4:8])[0] == tid:
                        return struct.unpack(">I", data[:4])[0], data[8:]
            except socket.timeout:
                continue
        raise TimeoutError("no UDP tracker reply from %s:%d" % self.addr)

    def connect(self):
        tid = random.getrandbits(32)
        action, body = self.exchange(struct.pack(">QII", BEP15_MAGIC, ACTION_CONNECT, tid), tid)
        if action != ACTION_CONNECT or len(body) < 8:
            raise AssertionError("bad connect reply: action %d %r" % (action, body))
        self.connection_id = struct.unpack(">Q", body[:8])[0]
        return self.connection_id

    @staticmethod
    def url_data_options(url_data):
        out = b""
        data = url_data.encode()
        for i in range(0, len(data), 255):
            chunk = data[i : i + 255]
            out += bytes([2, len(chunk)]) + chunk
        return out + b"\x00"

    def announce(self, token, info_hash_hex, peer_id, port, left, event="started", numwant=50, downloaded=0,
                 uploaded=0, url_data=None):
        """Returns ("announce", interval, leechers, seeders, peers) or ("error", message)."""
        if self.connection_id is None:
            self.connect()
        tid = random.getrandbits(32)
        pkt = struct.pack(">QII20s20sQQQIIIiH", self.connection_id, ACTION_ANNOUNCE, tid,
                          bytes.fromhex(info_hash_hex), peer_id, downloaded, left, uploaded, EVENTS[event], 0,
                          random.getrandbits(32), numwant, port)
        path = url_data if url_data is not None else ("/announce/%s" % token if token else "")
        if path:
            pkt += self.url_data_options(path)
        action, body = self.exchange(pkt, tid)
        if action == ACTION_ERROR:
            return ("error", body.decode(errors="replace"))
        if action != ACTION_ANNOUNCE or len(body) < 12:
            raise AssertionError("bad announce reply: action %d %r" % (action, body))
        interval, leechers, seeders = struct.unpack(">III", body[:12])
        peers = compact_peers6(body[12:]) if self.sock.family == socket.AF_INET6 else compact_peers(body[12:])
        return ("announce", interval, leechers, seeders, peers)

    def scrape(self, info_hashes_hex):
        """Returns ("scrape", [(seeders, completed, leechers), ...]) or ("error", message)."""
        if self.connection_id is None:
            self.connect()
        tid = random.getrandbits(32)
        pkt = struct.pack(">QII", self.connection_id, ACTION_SCRAPE, tid)
        pkt += b"".join(bytes.fromhex(h) for h in info_hashes_hex)
        action, body = self.exchange(pkt, tid)
        if action == ACTION_ERROR:
            return ("error", body.decode(errors="replace"))
        if action != ACTION_SCRAPE:
            raise AssertionError("bad scrape reply: action %d %r" % (action, body))
        return ("scrape", [struct.unpack(">III", body[i : i + 12]) for i in range(0, len(body) - 11, 12)])


def peer_id(prefix=b"-OT0001-"):
    return prefix + secrets.token_bytes(20 - len(prefix))


def torrent_bytes(name, data, piece_length=16384, private=True, webseed="http://s3.example/ota",
                  announce="http://tracker.example/announce"):
    """A v1 single-file .torrent built in Python, for tests that need many small releases fast."""
    pieces = b"".join(hashlib.sha1(data[i : i + piece_length]).digest() for i in range(0, len(data), piece_length))
    info = {"length": len(data), "name": name, "piece length": piece_length, "pieces": pieces}
    if private:
        info["private"] = 1
    return bencode({"announce": announce, "info": info, "url-list": [webseed]})


def fake_torrent(name, length=1 << 30, piece_length=1 << 20, announce="udp://127.0.0.1:1/announce", webseed=None):
    """(torrent bytes, info-hash hex) of a private release whose pieces nobody downloads: benchmarks
    and load runs announce it without the data existing."""
    pieces = hashlib.sha1(name.encode()).digest() * ((length + piece_length - 1) // piece_length)
    info = {"length": length, "name": name, "piece length": piece_length, "pieces": pieces, "private": 1}
    meta = {"announce": announce, "info": info}
    if webseed:
        meta["url-list"] = [webseed]
    return bencode(meta), hashlib.sha1(bencode(info)).hexdigest()


def listed_releases(tracker):
    """info-hash → release object from GET /api/v1/releases (a JSON list or {"releases": [...]})."""
    status, _, body = tracker.admin("GET", "/api/v1/releases")
    if status != 200:
        raise AssertionError("GET /api/v1/releases: %d %r" % (status, body[:500]))
    doc = json.loads(body)
    items = doc.get("releases", []) if isinstance(doc, dict) else doc
    return {r["info_hash"]: r for r in items}


def metric_sum(tracker, name, **labels):
    """Sum of the samples of metric `name` whose labels include `labels`, from /metrics."""
    status, _, body = http("GET", tracker.admin_url + "/metrics")
    if status != 200:
        raise AssertionError("/metrics: %d" % status)
    total = 0.0
    for line in body.decode().splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', label_text))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total
