"""The include rules of docs/architecture.md hold for every source file, and every quoted
include names a file that exists. The table is read from the doc, so the doc and the code
cannot drift apart silently."""
import os
import re
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOURCE_DIRS = ("common", "tracker", "rendezvous", "agent", "cli", "loadtest")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_rules(text):
    """{row key: [allowed entries]} from the '## Include rules' table."""
    section = text.split("## Include rules", 1)[1].split("\n## ", 1)[0]
    rules = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        key = cells[0].strip("`")
        rules[key] = re.findall(r"`([^`]+)`", cells[1])
    return rules


def stem(path):
    return os.path.splitext(path)[0]


def rule_for(path, rules):
    """The most specific row whose key is the file's stem, its folder or an ancestor folder."""
    parts = stem(path).split("/")
    for n in range(len(parts), 0, -1):
        key = "/".join(parts[:n])
        if key in rules:
            return key
    return None


def allowed(target, entries):
    for e in entries:
        if e.endswith("/**"):
            if target.startswith(e[:-3] + "/"):
                return True
        elif os.path.dirname(target) == e or stem(target) == e:
            return True
    return False


def sources():
    for top in SOURCE_DIRS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".h", ".cpp", ".cpp.in")):
                    yield os.path.relpath(os.path.join(dirpath, f), ROOT)


LINK = re.compile(r"target_link_libraries\(\s*([\w-]+)\s+(?:PUBLIC|PRIVATE|INTERFACE)?([^)]*)\)", re.S)


def cmake_links():
    """{target: sorted otaswarm_* / otaswarm-* targets it links} from the sources' CMake files."""
    links = {}
    for top in SOURCE_DIRS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            if "CMakeLists.txt" not in files:
                continue
            with open(os.path.join(dirpath, "CMakeLists.txt"), encoding="utf-8") as f:
                text = re.sub(r"#.*", "", f.read())
            for target, deps in LINK.findall(text):
                if not target.startswith("otaswarm"):
                    continue
                names = [d for d in re.split(r"\s+", deps) if d.startswith("otaswarm")]
                links.setdefault(target, set()).update(names)
    return {t: sorted(d) for t, d in links.items()}


def read_targets(text):
    """{target: [links]} from the table under '## Components and their dependencies'."""
    section = text.split("## Components and their dependencies", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            table[cells[0].strip("`")] = sorted(re.findall(r"`([^`]+)`", cells[1]))
    return table


# Headers with logic that have no unit test of their own name, each with where it is tested
# instead. Process glue and socket drivers are tested by starting the real binaries.
NO_UNIT_TEST = {
    "agent/nat_probe_socket.h": "socket driver of agent/nat_probe: tests/integration/test_rendezvous.py, tests/lab",
    "agent/fetch.h": "the libtorrent download loop: tests/integration/test_agent.py",
    "agent/bt_accounting.h": "libtorrent peer plugin feeding agent/byte_accounting (unit-tested): test_agent.py",
    "loadtest/load/worker.h": "base of the UDP/HTTP workers: tests/loadtest/load/udp_worker_test.cpp, test_load.py",
    "loadtest/load/report.h": "the run's JSON/text report and chart: tests/loadtest/load/test_load.py",
    "loadtest/swarm/tracker_client.h": "a started tracker and BEP 15 announcer for the simulator: tests/loadtest/swarm/test_swarm.py",
    "common/server.h": "start-up of both servers: every integration test starts them",
    "loadtest/load/load_command.h": "flag parsing + run glue: tests/loadtest/load/test_load.py",
    "loadtest/load/runner.h": "thread and worker glue: tests/loadtest/load/test_load.py",
    "loadtest/load/http_worker.h": "Beast connections under load: tests/loadtest/load/test_load.py",
    "loadtest/swarm/tracker_directory.h": "the simulator against a real tracker: tests/loadtest/swarm/test_swarm.py",
    "rendezvous/api.h": "device HTTP API: tests/integration/test_rendezvous_turn.py",
    "rendezvous/metrics.h": "metric families: tests/integration/test_rendezvous.py, tests/helm (names)",
    "rendezvous/stun_server.h": "UDP/TCP sockets of the STUN handler: tests/integration/test_rendezvous.py",
    "tracker/admin_api.h": "admin routes: tests/integration/test_admin_scrape.py, test_cli.py, tests/browser",
    "tracker/redis_release_persistence.h": "releases in Redis: tests/integration/redis (redis_tracker_replicas)",
    "tracker/tracker_app.h": "the tracker process: every tracker integration test",
    "rendezvous/rendezvous_app.h": "the rendezvous process: tests/integration/test_rendezvous*.py, tests/lab",
}


def headers_with_logic():
    for src in sources():
        if src.endswith(".h") and os.path.exists(os.path.join(ROOT, stem(src) + ".cpp")):
            yield src


def unit_tests_of(header):
    """tests/<dir>/<name>_test.cpp or tests/<dir>/<name>_<aspect>_test.cpp."""
    folder = os.path.join(ROOT, "tests", os.path.dirname(header))
    name = os.path.basename(stem(header))
    if not os.path.isdir(folder):
        return []
    return [f for f in os.listdir(folder)
            if f == name + "_test.cpp" or (f.startswith(name + "_") and f.endswith("_test.cpp"))]


class Layering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as f:
            cls.rules = read_rules(f.read())

    def test_component_table_is_the_cmake_graph(self):
        with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as f:
            documented = read_targets(f.read())
        actual = cmake_links()
        self.assertIn("otaswarm_common", documented)
        diff = ["%s: docs say %s, CMake links %s" % (t, documented.get(t), actual.get(t))
                for t in sorted(set(documented) | set(actual)) if documented.get(t) != actual.get(t)]
        self.assertEqual(diff, [], "\n".join(diff))

    def test_tests_mirror_the_sources(self):
        missing = [h for h in headers_with_logic() if not unit_tests_of(h) and h not in NO_UNIT_TEST]
        self.assertEqual(missing, [], "headers with logic and no tests/<dir>/<name>_test.cpp:\n" + "\n".join(missing))
        stale = [h for h in NO_UNIT_TEST if not os.path.exists(os.path.join(ROOT, h)) or unit_tests_of(h)]
        self.assertEqual(stale, [], "NO_UNIT_TEST entries that are gone or now have a test: " + ", ".join(stale))

    def test_table_is_read(self):
        for key in ("common", "common/proto", "tracker", "rendezvous", "cli", "loadtest"):
            self.assertIn(key, self.rules)

    def test_rule_lookup_picks_the_most_specific_row(self):
        self.assertEqual(rule_for("tracker/store/memory_store.cpp", self.rules), "tracker/store")
        self.assertEqual(rule_for("tracker/frontend/udp_server.cpp", self.rules), "tracker")
        self.assertEqual(rule_for("common/server.cpp", self.rules), "common/server")
        self.assertTrue(allowed("common/proto/nat.h", ["common/**"]))
        self.assertFalse(allowed("common/proto/nat.h", ["common"]))
        self.assertFalse(allowed("tracker/announce.h", ["tracker/store"]))

    def test_every_include_follows_the_rules(self):
        broken = []
        for src in sources():
            key = rule_for(src, self.rules)
            if key is None:
                broken.append("%s: no row in docs/architecture.md's include rules" % src)
                continue
            with open(os.path.join(ROOT, src), encoding="utf-8") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                if not os.path.exists(os.path.join(ROOT, inc)):
                    # Generated or same-folder includes must still resolve from the root.
                    broken.append("%s includes \"%s\", which does not exist" % (src, inc))
                elif not allowed(inc, self.rules[key] + [key]):
                    broken.append("%s (%s) includes %s" % (src, key, inc))
        self.assertEqual(broken, [], "\n".join(broken))


if __name__ == "__main__":
    unittest.main()
