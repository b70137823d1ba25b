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


class Layering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as f:
            cls.rules = read_rules(f.read())

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
