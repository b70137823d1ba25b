"""A small threaded HTTP/1.1 file server with single-range GETs (RFC 9110 §14), standing in
for S3 as a BEP 19 web seed. Python's SimpleHTTPRequestHandler ignores Range, which web-seed
clients need. Runs in the test process; counts the payload bytes it sends. Knobs for fault
tests: `rate` (bytes/s per connection, None = unthrottled) and `status` (answer every GET with
that HTTP status, e.g. 403 like an expired presigned S3 URL)."""
import http.server
import os
import re
import threading
import time
import urllib.parse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024  # bytes per socket write
STOP_TIMEOUT = 10  # seconds for the serving thread to end after shutdown()
RATE_SLICES = 10  # a throttled connection writes rate/RATE_SLICES bytes, then sleeps


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve(send_body=False)

    def do_GET(self):
        self._serve(send_body=True)

    def _serve(self, send_body):
        srv = self.server
        if srv.status is not None:
            return self._simple(srv.status, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        path = os.path.realpath(os.path.join(srv.root, name))
        if not path.startswith(srv.root + os.sep) or not os.path.isfile(path):
            return self._simple(404, b"not found")
        size = os.path.getsize(path)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = _RANGE.match(rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                return self._unsatisfiable(size)
            if m.group(1) == "":
                start = max(0, size - int(m.group(2)))
            else:
                start = int(m.group(1))
                if m.group(2) != "":
                    end = min(int(m.group(2)), size - 1)
            if start >= size or start > end:
                return self._unsatisfiable(size)
            status = 206
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        with srv.lock:
            srv.requests += 1
        if not send_body:
            return
        with open(path, "rb") as f:
            f.seek(start)
            left = length
            while left > 0:
                rate = srv.rate
                data = f.read(min(CHUNK if rate is None else max(1, rate // RATE_SLICES), left))
                if not data:
                    break
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client went away (a stopped download): nothing to report
                if rate is not None:
                    time.sleep(len(data) / rate)
                left -= len(data)
                with srv.lock:
                    srv.bytes_sent += len(data)

    def _unsatisfiable(self, size):
        self.send_response(416)
        self.send_header("Content-Range", "bytes */%d" % size)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _simple(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class RangeServer:
    """Serves files under `root` on 127.0.0.1:<ephemeral>; use as a context manager."""

    def __init__(self, root, host="127.0.0.1", rate=None, status=None):
        self.httpd = http.server.ThreadingHTTPServer((host, 0), _Handler)
        self.httpd.rate = rate
        self.httpd.status = status
        self.httpd.daemon_threads = True
        self.httpd.root = os.path.realpath(root)
        self.httpd.lock = threading.Lock()
        self.httpd.bytes_sent = 0
        self.httpd.requests = 0
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.start()

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.port, urllib.parse.quote(name))

    def set_rate(self, rate):
        """Bytes/s per connection from now on (None = unthrottled)."""
        self.httpd.rate = rate

    @property
    def bytes_sent(self):
        with self.httpd.lock:
            return self.httpd.bytes_sent

    @property
    def requests(self):
        with self.httpd.lock:
            return self.httpd.requests

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(STOP_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
