"""Helpers for the chart tests: a real helm 3 binary (installed by scripts/install-helm.sh),
isolated helm home directories, rendering to parsed objects."""
import os
import shutil
import subprocess
import tempfile
import tomllib

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CHART = os.path.join(ROOT, "helm", "otaswarm")
PRODUCTION = os.path.join(CHART, "examples", "production.yaml")
INSTALL_HELM = os.path.join(ROOT, "scripts", "install-helm.sh")

_helm = None
_home = None


def helm_binary():
    """Path of helm 3; installs it once. Raises (the test fails loudly) when that is impossible."""
    global _helm
    if _helm:
        return _helm
    r = subprocess.run(["bash", INSTALL_HELM], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("cannot install helm (scripts/install-helm.sh exited %d):\n%s" % (r.returncode, r.stderr))
    path = r.stdout.strip().splitlines()[-1]
    v = subprocess.run([path, "version", "--short"], capture_output=True, text=True, timeout=60)
    if v.returncode != 0 or not v.stdout.startswith("v3."):
        raise RuntimeError("installed helm at %s does not work: %s %s" % (path, v.stdout, v.stderr))
    _helm = path
    return _helm


def helm_env():
    global _home
    if _home is None:
        _home = tempfile.mkdtemp(prefix="otaswarm-helm-home-")
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = os.path.join(_home, var.lower())
    env.pop("KUBECONFIG", None)
    return env


def cleanup():
    global _home
    if _home:
        shutil.rmtree(_home, ignore_errors=True)
        _home = None


def helm(*args, check=True):
    r = subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=helm_env(), timeout=120)
    if check and r.returncode != 0:
        raise AssertionError("helm %s failed (%d):\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def set_args(sets):
    out = []
    for k, v in (sets or {}).items():
        out += ["--set-json", "%s=%s" % (k, __import__("json").dumps(v))]
    return out


def template(values_files=(), sets=None, release="rel", check=True):
    args = ["template", release, CHART, "--namespace", "ota"]
    for f in values_files:
        args += ["-f", f]
    return helm(*args, *set_args(sets), check=check)


def render(values_files=(), sets=None, release="rel"):
    """Renders the chart and returns the list of parsed objects (dicts)."""
    r = template(values_files, sets, release)
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def find(objs, kind, name_suffix=None):
    got = [o for o in objs if o["kind"] == kind and (name_suffix is None or o["metadata"]["name"].endswith(name_suffix))]
    return got


def one(objs, kind, name_suffix):
    got = find(objs, kind, name_suffix)
    if len(got) != 1:
        raise AssertionError("expected one %s named *%s, got %s" % (kind, name_suffix, [o["metadata"]["name"] for o in got]))
    return got[0]


def pod_specs(objs):
    """(object, pod spec) for every workload."""
    for o in objs:
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield o, o["spec"]["template"]["spec"]


def toml_of(configmap, key):
    return tomllib.loads(configmap["data"][key])
