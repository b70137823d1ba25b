"""The newcomer's path: README.md's walkthrough, run as written against what `make run` starts
(scripts/run-embedded.sh, on free ports), the script's lifecycle (SIGINT stops every process it
started; coturn's secret never on a command line), and every relative link of the docs.

The walkthrough is the ```sh block(s) between `<!-- walkthrough:begin -->` and
`<!-- walkthrough:end -->` in README.md; it runs under `bash` with `set -euo pipefail`, so a
wrong flag, a renamed command or a step that fails makes this test fail."""
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import unittest

from otaswarm_harness import BIN, free_port, http, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
README = os.path.join(ROOT, "README.md")
RUN_EMBEDDED = os.path.join(ROOT, "scripts", "run-embedded.sh")
BUILD_DIR = os.path.dirname(os.path.abspath(BIN))
BEGIN, END = "<!-- walkthrough:begin -->", "<!-- walkthrough:end -->"

START_TIMEOUT = 60        # run-embedded.sh until var/env exists (the servers are ready)
WALKTHROUGH_TIMEOUT = 300  # the whole walkthrough, a 64 MiB download over loopback included
STOP_TIMEOUT = 30
COTURN_TIMEOUT = 20


def walkthrough(text):
    """The shell text of the ```sh blocks between the markers (fails loudly if there are none)."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise AssertionError("README.md needs exactly one %s ... %s pair" % (BEGIN, END))
    section = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    blocks = re.findall(r"^```(?:sh|bash)\n(.*?)^```$", section, re.S | re.M)
    if not blocks:
        raise AssertionError("no ```sh block between the walkthrough markers in README.md")
    return "\n".join(blocks)


def proc_stat(pid):
    """(ppid, state, starttime) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], int(fields[19])


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def descendants(root):
    """{pid: starttime} of every live descendant of root."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                children.setdefault(st[0], []).append((int(name), st[2]))
    found, todo = {}, [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            found[pid] = start
            todo.append(pid)
    return found


def alive(pid, start):
    st = proc_stat(pid)
    return st is not None and st[2] == start and st[1] != "Z"


def group_members(pgid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getpgid(int(name)) == pgid and proc_stat(int(name))[1] != "Z":
                    out.append(int(name))
            except (OSError, TypeError):
                pass
    return out


def stop_group(p):
    """Stops a process started with start_new_session=True and everything left in its group."""
    if p.poll() is None or group_members(p.pid):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if not wait_until(lambda: p.poll() is not None and not group_members(p.pid), STOP_TIMEOUT):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if p.poll() is None:
        p.wait()


def udp_and_tcp_free_port():
    while True:
        port = free_port(socket.SOCK_DGRAM)
        try:
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            s.close()
            return port
        except OSError:
            continue


def stun_binding_answered(port):
    """True if a STUN Binding request to 127.0.0.1:port gets a Binding success response."""
    txid = os.urandom(12)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        s.sendto(struct.pack("!HHI", 0x0001, 0, 0x2112A442) + txid, ("127.0.0.1", port))
        data = s.recv(2048)
        return len(data) >= 20 and struct.unpack("!H", data[:2])[0] == 0x0101 and data[8:20] == txid
    except OSError:
        return False
    finally:
        s.close()


class EmbeddedRun(unittest.TestCase):
    """Each test starts scripts/run-embedded.sh in a fresh directory (its ./var in there) with the
    tracker and rendezvous on port 0 and coturn on a free port."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="otaswarm-readme-")
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name
        self.var = os.path.join(self.dir, "var")
        self.turn_port = udp_and_tcp_free_port()
        env = dict(os.environ)
        for key in ("HTTP", "UDP", "ADMIN", "STUN", "API", "RDV_ADMIN"):
            env["OTASWARM_%s_PORT" % key] = "0"
        env["OTASWARM_TURN_PORT"] = str(self.turn_port)
        env.pop("OTASWARM_VAR", None)  # the default, ./var, as with `make run`
        self.out_path = os.path.join(self.dir, "run-embedded.out")
        with open(self.out_path, "wb") as out:
            # SIGINT at its default disposition, as when Ctrl-C reaches `make run` in a terminal
            # (an inherited "ignored" would make the script's trap impossible).
            self.run = subprocess.Popen(["bash", RUN_EMBEDDED, BUILD_DIR], cwd=self.dir, env=env,
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.addCleanup(stop_group, self.run)  # cleanups also run when setUp fails; tearDown would not
        env_file = os.path.join(self.var, "env")
        ok = wait_until(lambda: os.path.exists(env_file) or self.run.poll() is not None, START_TIMEOUT)
        self.assertTrue(ok and self.run.poll() is None and os.path.exists(env_file),
                        "run-embedded.sh did not start:\n" + self.output())
        self.env = {}
        with open(env_file) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.rstrip("\n").split("=", 1)
                    self.env[k] = v

    def output(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def test_walkthrough_runs_as_written(self):
        with open(README) as f:
            script = walkthrough(f.read())
        path = os.path.join(self.dir, "walkthrough.sh")
        with open(path, "w") as f:
            f.write("set -euo pipefail\n" + script + "\n")
        # The desktop's URL opener is the one stand-in: it records what it was asked to open.
        stub_dir = os.path.join(self.dir, "stub-bin")
        opened = os.path.join(self.dir, "opened.txt")
        os.mkdir(stub_dir)
        with open(os.path.join(stub_dir, "xdg-open"), "w") as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\n' % opened)
        os.chmod(os.path.join(stub_dir, "xdg-open"), 0o755)
        env = dict(os.environ, PATH=stub_dir + os.pathsep + os.environ["PATH"])

        log_path = os.path.join(self.dir, "walkthrough.log")
        with open(log_path, "wb") as log:
            p = subprocess.Popen(["bash", path], cwd=self.dir, env=env, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = p.wait(WALKTHROUGH_TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                stop_group(p)  # e.g. the background seeder of a walkthrough that failed half-way
        with open(log_path, errors="replace") as f:
            log_text = f.read()
        self.assertEqual(rc, 0, "the README walkthrough failed (rc %r):\n%s\n--- make run:\n%s"
                         % (rc, log_text[-6000:], self.output()[-3000:]))

        # What the steps claim: phone-2 downloaded the release, the status page was opened
        # and is the status page, the NAT probe printed its JSON.
        work = os.path.join(self.var, "walkthrough")
        with open(os.path.join(work, "ota.img"), "rb") as a, open(os.path.join(work, "phone2", "ota.img"), "rb") as b:
            self.assertTrue(a.read() == b.read(), "phone2/ota.img differs from ota.img")
        with open(opened) as f:
            url = f.read().strip()
        self.assertEqual(url, "http://%s/" % self.env["ADMIN"])
        status, _, body = http("GET", url)
        self.assertEqual(status, 200)
        self.assertIn(b"<title>otaswarm status</title>", body)
        self.assertIn('"mapping":', log_text)

    def test_sigint_stops_every_process_and_coturn_secret_is_not_on_a_command_line(self):
        self.assertTrue(self.output().rstrip().endswith("Press Ctrl-C to stop."),
                        "the summary is not the last thing run-embedded.sh prints:\n" + self.output())
        self.assertIn(". %s/env" % self.var, self.output())
        started = descendants(self.run.pid)
        commands = {pid: cmdline(pid) for pid in started}
        names = sorted(os.path.basename(c[0]) for c in commands.values() if c)
        self.assertIn("otaswarm-tracker", names)
        self.assertIn("otaswarm-rendezvous", names)

        if shutil.which("turnserver"):
            self.assertIn("turnserver", names)
            with open(os.path.join(self.var, "turn.secret")) as f:
                secret = f.read().strip()
            conf = os.path.join(self.var, "turnserver.conf")
            self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o600)
            with open(conf) as f:
                self.assertIn("static-auth-secret=" + secret, f.read().splitlines())
            turn = [c for c in commands.values() if c and os.path.basename(c[0]) == "turnserver"][0]
            self.assertEqual(turn[1:], ["-c", conf])
            for c in commands.values():
                self.assertFalse(any(secret in a or "static-auth-secret" in a for a in c), c)
            # coturn runs from that file: it answers STUN on the port the file names.
            self.assertTrue(wait_until(lambda: stun_binding_answered(self.turn_port), COTURN_TIMEOUT),
                            "coturn does not answer on %d" % self.turn_port)

        self.run.send_signal(signal.SIGINT)
        try:
            rc = self.run.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = None
        self.assertEqual(rc, 0, self.output())
        left = {pid: commands[pid] for pid, start in started.items() if alive(pid, start)}
        self.assertEqual(left, {}, "still running after run-embedded.sh stopped")
        self.assertIn("stopped.", self.output())
        self.assertFalse(os.path.exists(os.path.join(self.var, "env")))


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(path):
    with open(path) as f:
        text = f.read()
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)  # fenced code
    text = re.sub(r"`[^`\n]*`", "", text)                              # inline code
    for target in LINK.findall(text):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            continue
        yield target


class Links(unittest.TestCase):
    def test_every_relative_link_points_to_a_file(self):
        docs = [README, os.path.join(ROOT, "helm", "otaswarm", "README.md")]
        docs += sorted(os.path.join(ROOT, "docs", n) for n in os.listdir(os.path.join(ROOT, "docs"))
                       if n.endswith(".md"))
        checked, broken = 0, []
        for doc in docs:
            if not os.path.exists(doc):
                continue
            for target in relative_links(doc):
                checked += 1
                local = os.path.normpath(os.path.join(os.path.dirname(doc), target.split("#")[0]))
                if not os.path.exists(local):
                    broken.append("%s: %s" % (os.path.relpath(doc, ROOT), target))
        self.assertGreater(checked, 10)
        self.assertEqual(broken, [])

    def test_walkthrough_is_found(self):
        with open(README) as f:
            script = walkthrough(f.read())
        self.assertIn("aria2c", script)
        self.assertIn("release add", script)


if __name__ == "__main__":
    unittest.main()
