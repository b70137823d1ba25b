"""The Grafana dashboard: valid JSON with the panels SREs need, every expression parsed by
promtool's PromQL parser, every metric it uses documented in docs/metrics.md."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

import metricnames

DASH = os.path.join(metricnames.ROOT, "helm", "otaswarm", "dashboards", "otaswarm.json")

REQUIRED_PANELS = [
    "Announce rate by protocol", "Announce latency by protocol", "Announce results (not ok)",
    "Rejected requests by reason", "Swarm size per release", "Peer offload per release (S3 saved)",
    "Peers handed out by locality tier", "NAT-class mix", "Punch vs relay decisions", "TURN credentials",
    "Store round trip by op", "Store up / degraded mode per replica", "Replicas in degraded store mode",
]


def concrete(expr):
    """The expression with Grafana variables replaced, as Prometheus would receive it."""
    e = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    return re.sub(r"\$\{?[a-zA-Z_]+\}?", ".*", e)


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DASH) as f:
            cls.dash = json.load(f)
        cls.panels = [p for p in cls.dash["panels"] if p["type"] != "row"]
        cls.exprs = [(p["title"], t["expr"]) for p in cls.panels for t in p["targets"]]

    def test_identity_and_variables(self):
        self.assertEqual(self.dash["uid"], "otaswarm-overview")
        names = [v["name"] for v in self.dash["templating"]["list"]]
        self.assertEqual(names, ["datasource", "namespace", "release"])

    def test_required_panels(self):
        titles = {p["title"] for p in self.panels}
        for t in REQUIRED_PANELS:
            self.assertIn(t, titles)

    def test_datasource_is_the_variable(self):
        for p in self.panels:
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${datasource}", p["title"])
            self.assertTrue(p["targets"], p["title"])

    def test_layout_has_no_overlaps(self):
        cells = set()
        for p in self.dash["panels"]:
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
            for dx in range(g["w"]):
                for dy in range(g["h"]):
                    c = (g["x"] + dx, g["y"] + dy)
                    self.assertNotIn(c, cells, "%s overlaps another panel" % p["title"])
                    cells.add(c)

    def test_metrics_are_documented(self):
        doc = metricnames.documented()
        used = set()
        for title, e in self.exprs:
            for m in metricnames.used_in(e):
                self.assertIn(metricnames.base_name(m), doc, "panel %r uses %s, not in docs/metrics.md" % (title, m))
                used.add(metricnames.base_name(m))
        # the dashboard shows nearly every documented metric
        self.assertGreaterEqual(len(used), len(doc) - 3, sorted(doc - used))

    def test_promql_parses(self):
        promtool = shutil.which("promtool")
        if not promtool:
            raise RuntimeError("promtool missing: scripts/install-deps.sh installs the prometheus package")
        rules = [{"record": "otaswarm:dashboard_panel_%d" % i, "expr": concrete(e)} for i, (_, e) in enumerate(self.exprs)]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        try:
            r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("%d rules found" % len(rules), r.stdout)


if __name__ == "__main__":
    unittest.main()
