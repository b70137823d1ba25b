"""The Helm chart, rendered by a real helm 3 for the default values and the production
example, checked object by object; plus values that must be refused."""
import ipaddress
import json
import os
import unittest

import yaml

import helmlib as H


def tearDownModule():
    H.cleanup()


def covered(ranges, net):
    """True when the union of (first, last) address ranges covers the whole network."""
    lo, hi = int(net.network_address), int(net.broadcast_address)
    spans = sorted((int(a), int(b)) for a, b in ranges if a.version == net.version)
    for a, b in spans:
        if a <= lo <= b:
            lo = b + 1
            if lo > hi:
                return True
    return False


def parse_denied(conf):
    out = []
    for line in conf.splitlines():
        if not line.startswith("denied-peer-ip="):
            continue
        v = line.split("=", 1)[1]
        if "-" in v:
            a, b = v.split("-", 1)
            out.append((ipaddress.ip_address(a), ipaddress.ip_address(b)))
        elif "/" in v:
            n = ipaddress.ip_network(v)
            out.append((n.network_address, n.broadcast_address))
        else:
            out.append((ipaddress.ip_address(v), ipaddress.ip_address(v)))
    return out


class Lint(unittest.TestCase):
    def test_lint_strict_default(self):
        r = H.helm("lint", "--strict", H.CHART)
        self.assertIn("0 chart(s) failed", r.stdout)

    def test_lint_strict_production(self):
        r = H.helm("lint", "--strict", H.CHART, "-f", H.PRODUCTION)
        self.assertIn("0 chart(s) failed", r.stdout)


class RenderedCommon:
    """Assertions that hold for every supported set of values."""
    objs = None

    def test_no_secret_objects_or_secret_data(self):
        self.assertEqual(H.find(self.objs, "Secret"), [], "the chart must never render a Secret")
        for o, spec in H.pod_specs(self.objs):
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                for e in c.get("env", []):
                    if any(w in e["name"].upper() for w in ("KEY", "TOKEN", "SECRET", "PASSWORD", "STORE")):
                        self.assertNotIn("value", e, "%s: %s has a literal value" % (o["metadata"]["name"], e["name"]))
        for cm in H.find(self.objs, "ConfigMap"):
            for k, v in cm["data"].items():
                self.assertNotIn("static-auth-secret", v, cm["metadata"]["name"])

    def test_security_context_everywhere(self):
        for o, spec in H.pod_specs(self.objs):
            name = o["metadata"]["name"]
            self.assertTrue(spec["securityContext"]["runAsNonRoot"], name)
            self.assertFalse(spec.get("automountServiceAccountToken", True), name)
            for c in spec["containers"] + spec.get("initContainers", []):
                sc = c["securityContext"]
                self.assertTrue(sc["readOnlyRootFilesystem"], (name, c["name"]))
                self.assertFalse(sc["allowPrivilegeEscalation"], (name, c["name"]))
                self.assertTrue(sc["runAsNonRoot"], (name, c["name"]))
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"], (name, c["name"]))
                self.assertNotIn("add", sc["capabilities"])
                self.assertIn("limits", c["resources"], (name, c["name"]))
                self.assertIn("requests", c["resources"], (name, c["name"]))

    def test_probes_on_admin_listener(self):
        for d in H.find(self.objs, "Deployment"):
            comp = d["metadata"]["labels"]["app.kubernetes.io/component"]
            if comp not in ("tracker", "rendezvous"):
                continue
            c = d["spec"]["template"]["spec"]["containers"][0]
            ports = {p["name"]: p for p in c["ports"]}
            self.assertIn("admin", ports)
            self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "admin"})
            self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz?degraded=ok", "port": "admin"})

    def test_tracker_udp_service_keeps_client_address(self):
        svc = H.one(self.objs, "Service", "-tracker-udp")
        self.assertEqual(svc["spec"]["type"], "LoadBalancer")
        self.assertEqual(svc["spec"]["externalTrafficPolicy"], "Local")
        self.assertEqual([(p["protocol"], p["targetPort"]) for p in svc["spec"]["ports"]], [("UDP", "udp")])
        http = H.one(self.objs, "Service", "-tracker-http")
        self.assertEqual(http["spec"]["ports"][0]["protocol"], "TCP")

    def test_hpa_and_pdb(self):
        hpa = H.one(self.objs, "HorizontalPodAutoscaler", "-tracker")
        self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], H.one(self.objs, "Deployment", "-tracker")["metadata"]["name"])
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 2)
        self.assertNotIn("replicas", H.one(self.objs, "Deployment", "-tracker")["spec"], "HPA owns replicas")
        pdb = H.one(self.objs, "PodDisruptionBudget", "-tracker")
        self.assertEqual(pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"], "tracker")

    def test_coturn_denies_private_ranges(self):
        cm = H.one(self.objs, "ConfigMap", "-coturn")
        conf = cm["data"]["turnserver.conf"]
        self.assertIn("use-auth-secret", conf.splitlines())
        denied = parse_denied(conf)
        for cidr in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
                     "169.254.0.0/16", "169.254.169.254/32", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4",
                     "::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8", "::ffff:0:0/96", "64:ff9b::/96"]:
            self.assertTrue(covered(denied, ipaddress.ip_network(cidr)), "%s not denied" % cidr)
        for public in ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"]:
            a = ipaddress.ip_address(public)
            self.assertFalse(any(lo <= a <= hi for lo, hi in denied if lo.version == a.version), public)

    def test_coturn_secret_from_secret_volume(self):
        d = H.one(self.objs, "Deployment", "-coturn")
        spec = d["spec"]["template"]["spec"]
        vols = {v["name"]: v for v in spec["volumes"]}
        self.assertIn("secret", vols["secret"])
        init = spec["initContainers"][0]
        self.assertIn("/var/run/secrets/otaswarm/turn-secret", init["command"][-1])
        self.assertNotIn("static-auth-secret", " ".join(spec["containers"][0]["args"]))

    def test_tracker_config_is_toml_with_flag_keys(self):
        cfg = H.toml_of(H.one(self.objs, "ConfigMap", "-tracker"), "tracker.toml")
        self.assertEqual(cfg["token-key-file"], "/var/run/secrets/otaswarm/token-key")
        self.assertEqual(cfg["admin-token-file"], "/var/run/secrets/otaswarm/admin-token")
        self.assertTrue(cfg["admin-listen"].startswith("0.0.0.0:"))
        self.assertIsInstance(cfg["udp-listen"], list)
        d = H.one(self.objs, "Deployment", "-tracker")
        c = d["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["args"][:2], ["--config", "/etc/otaswarm/tracker.toml"])
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        self.assertTrue(mounts["/var/run/secrets/otaswarm"]["readOnly"])

    def test_rendezvous_two_public_addresses(self):
        cfg = H.toml_of(H.one(self.objs, "ConfigMap", "-rendezvous"), "rendezvous.toml")
        self.assertEqual(cfg["turn-secret-file"], "/var/run/secrets/otaswarm/turn-secret")
        self.assertIn("alt-port", cfg)


class DefaultValues(RenderedCommon, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objs = H.render()

    def test_bundled_redis_is_persistent(self):
        sts = H.one(self.objs, "StatefulSet", "-redis")
        conf = H.one(self.objs, "ConfigMap", "-redis")["data"]["redis.conf"].splitlines()
        self.assertIn("appendonly yes", conf)
        self.assertIn("appendfsync everysec", conf)
        self.assertIn("maxmemory-policy noeviction", conf)
        vct = sts["spec"]["volumeClaimTemplates"][0]
        self.assertEqual(vct["metadata"]["name"], "data")
        self.assertEqual(vct["spec"]["resources"]["requests"]["storage"], "8Gi")
        cfg = H.toml_of(H.one(self.objs, "ConfigMap", "-tracker"), "tracker.toml")
        self.assertEqual(cfg["store"], "redis://rel-otaswarm-redis:6379")
        # the rendezvous keeps its registrations in memory until rendezvous.sharedStore is on
        rcfg = H.toml_of(H.one(self.objs, "ConfigMap", "-rendezvous"), "rendezvous.toml")
        self.assertEqual(rcfg["store"], "memory")
        self.assertEqual(H.one(self.objs, "Deployment", "-rendezvous")["spec"]["replicas"], 1)

    def test_redis_reachable_only_from_otaswarm(self):
        np = H.one(self.objs, "NetworkPolicy", "-redis")
        froms = np["spec"]["ingress"][0]["from"]
        comps = sorted(f["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for f in froms)
        self.assertEqual(comps, ["rendezvous", "tracker"])

    def test_admin_listener_not_open_to_all(self):
        for comp in ("tracker", "rendezvous"):
            np = H.one(self.objs, "NetworkPolicy", "-" + comp)
            admin_rules = [r for r in np["spec"]["ingress"] if any(p["port"] == "admin" for p in r["ports"])]
            self.assertEqual(len(admin_rules), 1)
            froms = admin_rules[0]["from"]
            self.assertTrue(froms, "admin port must have a from list")
            self.assertIn({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}, froms)
            self.assertTrue(all("ipBlock" not in f for f in froms))
            public = [r for r in np["spec"]["ingress"] if "from" not in r]
            self.assertTrue(all(p["port"] != "admin" for r in public for p in r["ports"]))
        for ing in H.find(self.objs, "Ingress"):
            for rule in ing["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    self.assertNotIn("admin", path["backend"]["service"]["name"])

    def test_rendezvous_replica_id_is_pod_name(self):
        c = H.one(self.objs, "Deployment", "-rendezvous")["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["args"][c["args"].index("--replica-id") + 1], "$(POD_NAME)")
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name")

    def test_coturn_egress_blocks_cluster_network(self):
        np = H.one(self.objs, "NetworkPolicy", "-coturn")
        self.assertIn("Egress", np["spec"]["policyTypes"])
        excepts = [e for to in np["spec"]["egress"][0]["to"] for e in to["ipBlock"]["except"]]
        for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7"):
            self.assertIn(cidr, excepts)

    def test_two_stun_load_balancers(self):
        prim = H.one(self.objs, "Service", "-stun")
        alt = H.one(self.objs, "Service", "-stun-alt")
        for s in (prim, alt):
            self.assertEqual(s["spec"]["type"], "LoadBalancer")
            self.assertEqual(s["spec"]["externalTrafficPolicy"], "Local")
            self.assertEqual({p["protocol"] for p in s["spec"]["ports"]}, {"UDP"})

    def test_monitoring_objects_off_by_default(self):
        for kind in ("ServiceMonitor", "PrometheusRule", "Ingress"):
            self.assertEqual(H.find(self.objs, kind), [], kind)

    def test_secret_names_default(self):
        d = H.one(self.objs, "Deployment", "-tracker")
        vol = [v for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets"][0]
        names = {s["secret"]["name"] for s in vol["projected"]["sources"]}
        self.assertEqual(names, {"rel-otaswarm-secrets"})


class ProductionExample(RenderedCommon, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objs = H.render([H.PRODUCTION], release="ota")
        with open(H.PRODUCTION) as f:
            cls.values = yaml.safe_load(f)

    def test_external_redis_cluster_and_no_bundled_redis(self):
        self.assertEqual(H.find(self.objs, "StatefulSet"), [])
        cfg = H.toml_of(H.one(self.objs, "ConfigMap", "-tracker"), "tracker.toml")
        self.assertTrue(cfg["store"].startswith("redis-cluster://"))
        self.assertEqual(cfg["store"], self.values["redis"]["external"]["url"])
        rcfg = H.toml_of(H.one(self.objs, "ConfigMap", "-rendezvous"), "rendezvous.toml")
        self.assertEqual(rcfg["store"], cfg["store"])

    def test_trusted_proxies_and_ipv6(self):
        cfg = H.toml_of(H.one(self.objs, "ConfigMap", "-tracker"), "tracker.toml")
        self.assertEqual(cfg["trusted-proxy"], self.values["tracker"]["trustedProxies"])
        self.assertEqual(cfg["udp-listen"], ["0.0.0.0:6969", "[::]:6969"])

    def test_existing_secrets_referenced(self):
        d = H.one(self.objs, "Deployment", "-tracker")
        vol = [v for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets"][0]
        names = {s["secret"]["name"] for s in vol["projected"]["sources"]}
        self.assertEqual(names, {"otaswarm-keys"})
        c = H.one(self.objs, "Deployment", "-coturn")["spec"]["template"]["spec"]
        self.assertEqual([v for v in c["volumes"] if v["name"] == "secret"][0]["secret"]["secretName"], "otaswarm-turn")

    def test_rendezvous_host_network_per_node(self):
        nodes = self.values["rendezvous"]["publicAddresses"]["hostNetwork"]["nodes"]
        deps = [d for d in H.find(self.objs, "Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "rendezvous"]
        self.assertEqual(len(deps), len(nodes))
        for n in nodes:
            d = H.one(self.objs, "Deployment", "-rendezvous-" + n["name"])
            spec = d["spec"]["template"]["spec"]
            self.assertTrue(spec["hostNetwork"])
            self.assertEqual(spec["nodeSelector"]["kubernetes.io/hostname"], n["name"])
            args = spec["containers"][0]["args"]
            self.assertEqual(args[args.index("--stun-listen") + 1], n["primaryIP"] + ":3478")
            self.assertEqual(args[args.index("--alt-ip") + 1], n["altIP"])
            self.assertEqual(d["spec"]["replicas"], 1)
        self.assertEqual(H.find(self.objs, "Service", "-stun-alt"), [])

    def test_ingress_for_http_announce(self):
        ing = H.one(self.objs, "Ingress", "-tracker")
        paths = ing["spec"]["rules"][0]["http"]["paths"]
        self.assertEqual(sorted(p["path"] for p in paths), ["/announce", "/scrape"])
        self.assertEqual(paths[0]["backend"]["service"]["name"], "ota-otaswarm-tracker-http")

    def test_service_monitor(self):
        sm = H.one(self.objs, "ServiceMonitor", "ota-otaswarm")
        self.assertEqual(sm["spec"]["endpoints"][0]["path"], "/metrics")
        self.assertEqual(sm["spec"]["endpoints"][0]["port"], "admin")
        admins = [s for s in H.find(self.objs, "Service") if s["metadata"]["labels"].get("otaswarm.io/metrics") == "true"]
        self.assertEqual(sorted(s["metadata"]["name"] for s in admins), ["ota-otaswarm-rendezvous-admin", "ota-otaswarm-tracker-admin"])

    def test_prometheus_rule_is_the_promtool_tested_file(self):
        pr = H.one(self.objs, "PrometheusRule", "ota-otaswarm")
        with open(os.path.join(H.CHART, "files", "alerts.yaml")) as f:
            self.assertEqual(pr["spec"], yaml.safe_load(f))
        self.assertEqual(pr["metadata"]["labels"]["release"], "kube-prometheus-stack")

    def test_dashboard_configmap_for_grafana_sidecar(self):
        cm = H.one(self.objs, "ConfigMap", "-dashboards")
        self.assertEqual(cm["metadata"]["labels"]["grafana_dashboard"], "1")
        self.assertEqual(cm["metadata"]["namespace"], "monitoring")
        dash = json.loads(cm["data"]["otaswarm.json"])
        self.assertGreater(len(dash["panels"]), 5)

    def test_coturn_host_network_wide_relay_range(self):
        self.assertEqual(H.find(self.objs, "Service", "-coturn"), [])
        conf = H.one(self.objs, "ConfigMap", "-coturn")["data"]["turnserver.conf"].splitlines()
        self.assertIn("min-port=49152", conf)
        self.assertIn("denied-peer-ip=198.51.100.0-198.51.100.255", conf)


class KeyRotation(unittest.TestCase):
    """docs/operations.md: during a rotation the previous key is mounted and accepted too."""

    def test_previous_keys_mounted_and_configured(self):
        objs = H.render(sets={"secrets.tokenKey.previousKey": "token-key-old",
                              "secrets.adminToken.previousKey": "admin-token-old",
                              "secrets.connectionIdKey.key": "connection-id-key",
                              "secrets.connectionIdKey.previousKey": "connection-id-key-old",
                              "secrets.natTicketKey.key": "nat-ticket-key"})
        cfg = H.toml_of(H.one(objs, "ConfigMap", "-tracker"), "tracker.toml")
        for flag in ("token-key", "token-key-previous", "admin-token", "admin-token-previous",
                     "connection-id-key", "connection-id-key-previous", "nat-ticket-key"):
            self.assertEqual(cfg[flag + "-file"], "/var/run/secrets/otaswarm/" + flag)
        self.assertNotIn("nat-ticket-key-previous-file", cfg)
        rcfg = H.toml_of(H.one(objs, "ConfigMap", "-rendezvous"), "rendezvous.toml")
        self.assertEqual(rcfg["token-key-previous-file"], "/var/run/secrets/otaswarm/token-key-previous")
        self.assertNotIn("connection-id-key-file", rcfg)
        d = H.one(objs, "Deployment", "-tracker")
        vol = [v for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == "secrets"][0]
        items = {i["path"]: i["key"] for s in vol["projected"]["sources"] for i in s["secret"]["items"]}
        self.assertEqual(items["token-key-previous"], "token-key-old")
        self.assertEqual(items["connection-id-key-previous"], "connection-id-key-old")
        self.assertNotIn("turn-secret", items, "the tracker does not need the TURN secret")

    def test_defaults_have_no_previous_keys(self):
        cfg = H.toml_of(H.one(H.render(), "ConfigMap", "-tracker"), "tracker.toml")
        self.assertEqual(sorted(k for k in cfg if k.endswith("-file")), ["admin-token-file", "token-key-file"])


class Refused(unittest.TestCase):
    """Values that must make rendering fail, with a message that says why."""

    def assertRefused(self, sets, needle, values_files=()):
        r = H.template(values_files, sets, check=False)
        self.assertNotEqual(r.returncode, 0, "rendering should fail for %s" % sets)
        self.assertIn(needle, r.stderr, r.stderr)
        return r

    def test_schema_rejects_garbage(self):
        cases = [
            ({"tracker.replicas": "many"}, "tracker.replicas"),
            ({"tracker.ports.udp": 70000}, "tracker.ports.udp"),
            ({"tracker.trustedProxies": ["not-a-cidr"]}, "tracker.trustedProxies"),
            ({"tracker.service.udp.externalTrafficPolicy": "Sometimes"}, "externalTrafficPolicy"),
            ({"rendezvous.publicAddresses.mode": "magic"}, "rendezvous.publicAddresses.mode"),
            ({"redis.external.url": "http://redis:6379"}, "redis.external.url"),
            ({"redis.appendfsync": "no"}, "redis.appendfsync"),
            ({"securityContext.readOnlyRootFilesystem": False}, "readOnlyRootFilesystem"),
            ({"securityContext.capabilities": {"drop": ["NET_RAW"]}}, "capabilities"),
            ({"podSecurityContext.runAsNonRoot": False}, "runAsNonRoot"),
            ({"tracker.resources": {"limits": {"cpu": "lots"}}}, "tracker.resources"),
            ({"image.pullPolicy": "Sometimes"}, "image.pullPolicy"),
            ({"typoAtTheTop": 1}, "typoAtTheTop"),
            ({"tracker.autoscalling": {"enabled": True}}, "autoscalling"),
            ({"coturn.extraConfig": ["static-auth-secret=abc"]}, "coturn.extraConfig"),
        ]
        for sets, needle in cases:
            with self.subTest(sets=sets):
                r = self.assertRefused(sets, needle)
                self.assertIn("values don't meet the specifications", r.stderr)

    def test_secret_values_fail_rendering(self):
        value = "0123456789abcdef0123456789abcdef"
        cases = [
            ({"secrets.tokenKey.value": value}, "secrets.tokenKey.value"),
            ({"secrets.adminToken.value": value}, "secrets.adminToken.value"),
            ({"secrets.turnSecret.stringData": value}, "secrets.turnSecret.stringData"),
            ({"coturn.staticAuthSecret": value}, "coturn.staticAuthSecret"),
            ({"redis.enabled": False, "redis.external.url": "redis://:%s@redis:6379" % value}, "redis.external.url"),
            ({"tracker.extraConfig": {"token-key": value}}, "tracker.extraConfig.token-key"),
        ]
        for sets, needle in cases:
            with self.subTest(sets=sets):
                r = self.assertRefused(sets, needle)
                self.assertIn("must not be put in Helm values", r.stderr)
                self.assertNotIn("kind: Secret", r.stdout)

    def test_memory_store_needs_single_replica(self):
        self.assertRefused({"redis.enabled": False}, "shared store")
        objs = H.render(sets={"redis.enabled": False, "tracker.autoscaling.enabled": False, "tracker.replicas": 1,
                              "rendezvous.replicas": 1})
        cfg = H.toml_of(H.one(objs, "ConfigMap", "-tracker"), "tracker.toml")
        self.assertEqual(cfg["store"], "memory")

    def test_rendezvous_replicas_need_shared_store(self):
        self.assertRefused({"rendezvous.replicas": 2}, "rendezvous.sharedStore")
        objs = H.render(sets={"rendezvous.replicas": 3, "rendezvous.sharedStore": True})
        rcfg = H.toml_of(H.one(objs, "ConfigMap", "-rendezvous"), "rendezvous.toml")
        self.assertEqual(rcfg["store"], "redis://rel-otaswarm-redis:6379")
        self.assertEqual(H.one(objs, "Deployment", "-rendezvous")["spec"]["replicas"], 3)

    def test_host_network_needs_nodes(self):
        self.assertRefused({"rendezvous.publicAddresses.mode": "hostNetwork"}, "hostNetwork.nodes")

    def test_store_url_from_secret(self):
        objs = H.render(sets={"redis.enabled": False, "redis.external.urlSecret": {"name": "redis-url", "key": "url"}})
        cfg = H.toml_of(H.one(objs, "ConfigMap", "-tracker"), "tracker.toml")
        self.assertNotIn("store", cfg)
        c = H.one(objs, "Deployment", "-tracker")["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(c["args"][c["args"].index("--store") + 1], "$(OTASWARM_STORE)")
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["OTASWARM_STORE"]["valueFrom"]["secretKeyRef"], {"name": "redis-url", "key": "url"})


if __name__ == "__main__":
    unittest.main()
