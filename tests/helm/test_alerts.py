"""Alert rules: promtool accepts them, `promtool test rules` passes, every alert has a firing
and a non-firing case, the required alerts exist, and they use only documented metrics."""
import os
import shutil
import subprocess
import unittest

import yaml

import metricnames

HERE = os.path.dirname(os.path.abspath(__file__))
ALERTS = os.path.join(metricnames.ROOT, "helm", "otaswarm", "files", "alerts.yaml")
TESTS = os.path.join(HERE, "alerts_test.yaml")
REQUIRED = {"OtaswarmTrackerErrorRate", "OtaswarmAnnounceLatencyHigh", "OtaswarmTrackerShedding",
            "OtaswarmStoreDegraded", "OtaswarmOffloadDropping", "OtaswarmRelayBudgetExhausted", "OtaswarmTargetDown"}


def promtool():
    p = shutil.which("promtool")
    if not p:
        raise RuntimeError("promtool missing: scripts/install-deps.sh installs the prometheus package")
    return p


class Alerts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(ALERTS) as f:
            cls.rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
        with open(TESTS) as f:
            cls.tests = yaml.safe_load(f)

    def test_promtool_check_rules(self):
        r = subprocess.run([promtool(), "check", "rules", ALERTS], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_promtool_unit_tests(self):
        r = subprocess.run([promtool(), "test", "rules", TESTS], capture_output=True, text=True, timeout=60, cwd=HERE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("FAILED", r.stdout + r.stderr)

    def test_required_alerts_present_with_severity_and_runbook(self):
        names = {r["alert"] for r in self.rules}
        self.assertLessEqual(REQUIRED, names)
        with open(os.path.join(metricnames.ROOT, "docs", "alerts.md")) as f:
            docs = f.read()
        for r in self.rules:
            self.assertIn(r["labels"]["severity"], ("critical", "warning"), r["alert"])
            self.assertIn("for", r, r["alert"])
            anchor = r["annotations"]["runbook"].split("#", 1)[1]
            self.assertIn("## " + r["alert"], docs, "docs/alerts.md has no section for " + r["alert"])
            self.assertEqual(anchor, r["alert"].lower())

    def test_every_alert_has_firing_and_quiet_case(self):
        firing, quiet = set(), set()
        for t in self.tests["tests"]:
            for a in t.get("alert_rule_test", []):
                (firing if a.get("exp_alerts") else quiet).add(a["alertname"])
        for r in self.rules:
            self.assertIn(r["alert"], firing, "no firing case for " + r["alert"])
            self.assertIn(r["alert"], quiet, "no non-firing case for " + r["alert"])

    def test_alerts_use_documented_metrics(self):
        doc = metricnames.documented()
        self.assertGreater(len(doc), 20)
        for r in self.rules:
            for m in metricnames.used_in(r["expr"]):
                if m in metricnames.BUILTIN:
                    continue
                self.assertIn(metricnames.base_name(m), doc, "%s uses %s, not in docs/metrics.md" % (r["alert"], m))


if __name__ == "__main__":
    unittest.main()
