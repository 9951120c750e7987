#!/usr/bin/env python3
"""Checks the Helm chart helm/miroir without a helm binary or a cluster.

No helm binary can be installed on the project's machines, but PyPI's `helm-python-sdk` ships
Helm's own Go SDK (v4) as a shared library: the chart is linted, its values validated against
values.schema.json and its templates rendered by Helm itself, not by an imitation. On top:

- every example values file helm/miroir/ci/*-values.yaml is validated and rendered (with and
  without the Prometheus operator's API); files named bad-*-values.yaml must be refused, by the
  schema or by a template's `fail`, as their `# expect-refused:` / `# expect-message:` header says;
- every rendered manifest parses as YAML and is validated against Kubernetes' OpenAPI schemas
  (PyPI's `kubernetes-validate`, strict: unknown fields are errors) for the oldest and newest
  Kubernetes the chart supports; the Prometheus operator's kinds, which it has no schema for, are
  checked by hand;
- structural asserts: probes, resources and security contexts on every container, selectors that
  match pod labels, Service ports that exist on the pods, Secrets, ConfigMaps and accounts that
  exist, HPAs on Deployments without a fixed replica count, every MIROIR_* variable a real config
  key of its service, the bootstrap Job creating every bucket and stream of
  libs/proto/src/subjects.rs, the dashboard and alert files carried over unchanged.

Prints one line per failure and ends with `chart checks: N passed, M failed`; exits 1 on any
failure. Run from anywhere: `python3 helm/check/check_chart.py` (-v lists every check).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

try:
    import helm_python as helm
    from helm_python import _native
    import kubernetes_validate
except ImportError as e:  # pragma: no cover - a missing dependency is a failed run, said plainly
    print(f"chart checks: cannot import {e.name}: run `bash .ci/bootstrap` (pip: helm-python-sdk, "
          "kubernetes-validate)")
    print("chart checks: 0 passed, 1 failed")
    sys.exit(1)

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "miroir"
# The chart's kubeVersion is >=1.29: the oldest and the newest schemas kubernetes-validate has.
KUBE_VERSIONS = ("1.29.0", "1.37.0")
OPERATOR_API = "monitoring.coreos.com/v1"
SHARED_FILES = ("files/grafana-dashboard.json", "files/alerts.yaml")
# Containers that serve nothing and so have no probe (the node's registration, which sleeps).
NO_PROBE_CONTAINERS = {"register"}
# Values of the `service` a MIROIR_<PREFIX> variable configures -> its config.example.toml.
CONFIG_FILES = {
    "MIROIR_GATEWAY_": "services/gateway/config.example.toml",
    "MIROIR_ROUTER_": "services/router/config.example.toml",
    "MIROIR_MERGER_": "services/merger/config.example.toml",
    "MIROIR_REBALANCER_": "services/rebalancer/config.example.toml",
    "MIROIR_HEALTH_CHECKER_": "services/health-checker/config.example.toml",
}


class Checks:
    """Counts checks; a failed one is printed with where it happened. Checks are grouped into
    cases by what their name says before the first ": " (the chart as a whole, one values file
    rendered with or without the operator's API, one breakage of the self-test): the summary
    counts cases, as a test runner counts tests, and says how many asserts they made."""

    def __init__(self, verbose: bool) -> None:
        self.passed = 0
        self.failed = 0
        self.verbose = verbose
        self.cases: dict[str, bool] = {}

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        case = what.split(": ", 1)[0]
        self.cases[case] = self.cases.get(case, True) and ok
        if ok:
            self.passed += 1
            if self.verbose:
                print(f"ok    {what}")
        else:
            self.failed += 1
            print(f"FAIL  {what}" + (f": {detail}" if detail else ""))
        return ok


# --- rendering ------------------------------------------------------------------------------


def render(chart: Any, values: dict, operator: bool, name: str = "demo", namespace: str = "search") -> dict[str, str]:
    """Helm's own render (the C ABI's helm_render), offline: lookup returns nothing. The
    Python wrapper does not expose the API versions Helm reports in .Capabilities, so the
    options are passed to the library directly."""
    opts: dict[str, Any] = {"name": name, "namespace": namespace, "kube_version": "v" + KUBE_VERSIONS[-1]}
    if operator:
        opts["api_versions"] = [OPERATOR_API, OPERATOR_API + "/ServiceMonitor", OPERATOR_API + "/PrometheusRule"]
    out = _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(opts))
    return json.loads(out)


def header(path: Path, key: str) -> str | None:
    """`# key: value` from the comment lines at the top of a values file."""
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        m = re.match(rf"#\s*{re.escape(key)}:\s*(.*)$", line)
        if m:
            return m.group(1).strip()
    return None


def manifests(rendered: dict[str, str], c: Checks, where: str) -> list[dict]:
    """Every object of every rendered template (NOTES.txt aside), each one checked to parse."""
    objects = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            c.check(bool(text.strip()), f"{where}: NOTES.txt renders text")
            continue
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            c.check(False, f"{where}: {template} parses as YAML", str(e))
            continue
        c.check(True, f"{where}: {template} parses as YAML ({len(docs)} objects)")
        for d in docs:
            ok = isinstance(d, dict) and all(k in d for k in ("apiVersion", "kind", "metadata"))
            if c.check(ok, f"{where}: {template}: an object with apiVersion, kind, metadata", repr(d)[:200]):
                d["__template"] = template
                objects.append(d)
    return objects


# --- Kubernetes schemas -----------------------------------------------------------------------


_VALIDATORS: dict[tuple[str, str, str], Any] = {}


def kubernetes_validator(body: dict, version: str) -> Any:
    """kubernetes-validate's own strict schema for (version, apiVersion, kind), as its
    `validate` builds it, kept for the next object of the same kind (building it is most of the
    time a validation takes)."""
    key = (version, body["apiVersion"], body["kind"])
    if key not in _VALIDATORS:
        from kubernetes_validate import utils
        from referencing import Registry, Resource
        import jsonschema

        schema_version = [v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(version)][-1]
        api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", body["apiVersion"])
        folder = f"kubernetes-json-schema/v{schema_version}-local-strict"
        try:
            schema = utils.schema_contents(f"{folder}/{body['kind'].lower()}-{api}.json", version)
        except FileNotFoundError:
            _VALIDATORS[key] = None
            return None
        defs = utils.schema_contents(f"{folder}/_definitions.json", version)
        registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
        _VALIDATORS[key] = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return _VALIDATORS[key]


def validate_kubernetes(objects: list[dict], c: Checks, where: str) -> int:
    """Each built-in object against Kubernetes' schemas, strict; returns how many were."""
    count = 0
    for o in objects:
        if o["apiVersion"].startswith("monitoring.coreos.com/"):
            check_operator_object(o, c, where)
            continue
        body = {k: v for k, v in o.items() if k != "__template"}
        for version in KUBE_VERSIONS:
            what = f"{where}: {o['kind']}/{name_of(o)} valid for Kubernetes {version}"
            validator = kubernetes_validator(body, version)
            if not c.check(validator is not None, f"{what} (a schema exists)"):
                continue
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
            c.check(not errors, what, "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:3]))
        count += 1
    return count


def check_operator_object(o: dict, c: Checks, where: str) -> None:
    """The Prometheus operator's ServiceMonitor and PrometheusRule, by hand (no schema)."""
    spec = o.get("spec") or {}
    if o["kind"] == "ServiceMonitor":
        eps = spec.get("endpoints") or []
        c.check(bool(spec.get("selector", {}).get("matchLabels")) and bool(eps)
                and all(e.get("port") and re.fullmatch(r"[0-9]+(ms|s|m|h)", str(e.get("interval", "30s"))) for e in eps),
                f"{where}: ServiceMonitor has a selector and endpoints with a port and an interval")
    elif o["kind"] == "PrometheusRule":
        groups = spec.get("groups") or []
        ok = bool(groups) and all(
            isinstance(g, dict) and g.get("name") and isinstance(g.get("rules"), list) and g["rules"]
            and all(isinstance(r, dict) and r.get("expr") and (r.get("alert") or r.get("record")) for r in g["rules"])
            for g in groups)
        c.check(ok, f"{where}: PrometheusRule groups each have a name and rules with expr and alert/record")
    else:
        c.check(False, f"{where}: {o['kind']} is a known Prometheus operator kind")


# --- structure ----------------------------------------------------------------------------------


def name_of(o: dict) -> str:
    return o["metadata"].get("name", "?")


def pod_spec(o: dict) -> dict | None:
    if o["kind"] in ("Deployment", "StatefulSet"):
        return o["spec"]["template"]["spec"]
    if o["kind"] == "Job":
        return o["spec"]["template"]["spec"]
    if o["kind"] == "Pod":
        return o["spec"]
    return None


def pod_labels(o: dict) -> dict:
    if o["kind"] == "Pod":
        return o["metadata"].get("labels") or {}
    return o["spec"]["template"]["metadata"].get("labels") or {}


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def config_keys() -> dict[str, set[str]]:
    """Every key of each service's config.example.toml (commented examples included)."""
    keys = {}
    for prefix, path in CONFIG_FILES.items():
        text = (ROOT / path).read_text()
        keys[prefix] = set(re.findall(r"^#?\s*([a-z][a-z0-9_]*)\s*=", text, re.M))
    return keys


def check_structure(objects: list[dict], values: dict, c: Checks, where: str) -> None:
    by_kind: dict[str, dict[str, dict]] = {}
    for o in objects:
        key = (o["kind"], name_of(o))
        c.check(name_of(o) not in by_kind.get(o["kind"], {}), f"{where}: {key[0]}/{key[1]} is unique")
        by_kind.setdefault(o["kind"], {})[name_of(o)] = o
    workloads = [o for o in objects if pod_spec(o) is not None]
    secrets = by_kind.get("Secret", {})
    existing_secret = values["auth"].get("existingSecret") or ""
    keys = config_keys()

    for o in workloads:
        w = f"{where}: {o['kind']}/{name_of(o)}"
        spec = pod_spec(o)
        hook = (o["metadata"].get("annotations") or {}).get("helm.sh/hook")
        if o["kind"] in ("Deployment", "StatefulSet"):
            sel = o["spec"]["selector"].get("matchLabels") or {}
            c.check(selects(sel, pod_labels(o)), f"{w}: selector matches its pod labels", f"{sel} vs {pod_labels(o)}")
        psc = spec.get("securityContext") or {}
        c.check(psc.get("runAsNonRoot") is True and (psc.get("runAsUser") or 0) > 0,
                f"{w}: pod runs as a non-root user")
        c.check(spec.get("automountServiceAccountToken") is False, f"{w}: no service account token mounted")
        sa = spec.get("serviceAccountName")
        c.check(sa in by_kind.get("ServiceAccount", {}), f"{w}: service account {sa} exists")
        for ctr in spec.get("initContainers", []) + spec["containers"]:
            cw = f"{w} container {ctr['name']}"
            sc = ctr.get("securityContext") or {}
            c.check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
                    and "ALL" in ((sc.get("capabilities") or {}).get("drop") or [])
                    and (sc.get("runAsNonRoot") is True or psc.get("runAsNonRoot") is True),
                    f"{cw}: non-root, read-only root, no privilege escalation, capabilities dropped", str(sc))
            res = ctr.get("resources") or {}
            c.check(bool((res.get("requests") or {}).get("cpu")) and bool((res.get("requests") or {}).get("memory"))
                    and bool((res.get("limits") or {}).get("memory")),
                    f"{cw}: cpu and memory requests, a memory limit", str(res))
            c.check(":" in ctr["image"] and not ctr["image"].endswith((":", ":latest")),
                    f"{cw}: image {ctr['image']} has a pinned tag")
            ports = {p.get("name"): p["containerPort"] for p in ctr.get("ports", [])}
            if o["kind"] in ("Deployment", "StatefulSet") and ctr["name"] not in NO_PROBE_CONTAINERS:
                for probe in ("livenessProbe", "readinessProbe"):
                    p = ctr.get(probe)
                    if not c.check(bool(p), f"{cw}: has a {probe}"):
                        continue
                    target = (p.get("httpGet") or p.get("tcpSocket") or {}).get("port")
                    if target is not None:
                        c.check(target in ports or target in ports.values(),
                                f"{cw}: {probe} port {target} is one of its ports {sorted(ports)}")
            # Secrets and keys referenced by env.
            for env in ctr.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    if existing_secret and ref["name"] == existing_secret:
                        c.check(True, f"{cw}: {env['name']} from the existing Secret {existing_secret}")
                    else:
                        s = secrets.get(ref["name"])
                        c.check(s is not None and ref["key"] in (s.get("data") or {}),
                                f"{cw}: {env['name']} from Secret {ref['name']} key {ref['key']}, which exists")
                name = env["name"]
                for prefix, known in keys.items():
                    if name.startswith(prefix) and ctr["name"] != "register":
                        key = name[len(prefix):].lower()
                        c.check(key in known, f"{cw}: {name} is a key of {CONFIG_FILES[prefix]}", f"{key} not in it")
                if name.endswith("_METRICS_ADDR"):
                    port = int(env["value"].rsplit(":", 1)[1])
                    c.check(ports.get("metrics") == port, f"{cw}: metrics_addr port {port} is its `metrics` port")
                if name.endswith("_NATS_URL") or name == "MIROIR_NATS_URL" or name == "NATS_URL":
                    host = re.sub(r"^nats://([^.:]+).*$", r"\1", env["value"])
                    c.check(host in by_kind.get("Service", {}), f"{cw}: {name} points at Service {host}")
        for vol in spec.get("volumes", []):
            if "configMap" in vol:
                c.check(vol["configMap"]["name"] in by_kind.get("ConfigMap", {}),
                        f"{w}: ConfigMap {vol['configMap']['name']} exists")
        if hook == "test":
            c.check(o["kind"] == "Pod" and spec.get("restartPolicy") == "Never", f"{w}: the test is a Pod that does not restart")

    # Services: select pods, and their target ports exist on those pods.
    for s in by_kind.get("Service", {}).values():
        w = f"{where}: Service/{name_of(s)}"
        sel = s["spec"].get("selector") or {}
        pods = [o for o in workloads if selects(sel, pod_labels(o))]
        if not c.check(bool(pods), f"{w}: selects the pods of a workload", str(sel)):
            continue
        for port in s["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            found = any(target == p.get("name") or target == p["containerPort"]
                        for o in pods for ctr in pod_spec(o)["containers"] for p in ctr.get("ports", []))
            c.check(found, f"{w}: port {port.get('name')} -> {target} is a container port of its pods")
    for sts in by_kind.get("StatefulSet", {}).values():
        c.check(sts["spec"]["serviceName"] in by_kind.get("Service", {}),
                f"{where}: StatefulSet/{name_of(sts)}: its serviceName exists")
        c.check(bool(sts["spec"].get("volumeClaimTemplates")), f"{where}: StatefulSet/{name_of(sts)}: a PVC per pod")

    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        sel = pdb["spec"]["selector"]["matchLabels"]
        c.check(any(selects(sel, pod_labels(o)) for o in workloads if o["kind"] in ("Deployment", "StatefulSet")),
                f"{where}: PodDisruptionBudget/{name_of(pdb)} selects a workload")
    for d in by_kind.get("Deployment", {}).values():
        comp = d["metadata"]["labels"].get("app.kubernetes.io/component")
        c.check(any(selects(p["spec"]["selector"]["matchLabels"], pod_labels(d))
                    for p in by_kind.get("PodDisruptionBudget", {}).values()),
                f"{where}: Deployment/{name_of(d)} has a PodDisruptionBudget")
        c.check(any(selects(s["spec"].get("selector") or {}, pod_labels(d))
                    and (s["metadata"].get("labels") or {}).get("miroir.io/metrics") == "true"
                    for s in by_kind.get("Service", {}).values()),
                f"{where}: Deployment/{name_of(d)} ({comp}) has a metrics Service")

    # HPAs: on the gateway and the merger when enabled, on a Deployment with no fixed replicas.
    hpas = by_kind.get("HorizontalPodAutoscaler", {})
    for key, comp in (("gateway", "gateway"), ("merger", "merger")):
        enabled = values[key]["autoscaling"]["enabled"]
        targets = [h for h in hpas.values() if h["metadata"]["labels"].get("app.kubernetes.io/component") == comp]
        c.check(bool(targets) == bool(enabled), f"{where}: {comp} has an HPA exactly when autoscaling is enabled")
    for h in hpas.values():
        ref = h["spec"]["scaleTargetRef"]
        d = by_kind.get("Deployment", {}).get(ref["name"])
        c.check(ref["kind"] == "Deployment" and d is not None, f"{where}: HPA/{name_of(h)} scales an existing Deployment")
        if d is not None:
            c.check("replicas" not in d["spec"], f"{where}: HPA/{name_of(h)}: its Deployment leaves replicas to it")

    # Ingress backends.
    for ing in by_kind.get("Ingress", {}).values():
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                svc = by_kind.get("Service", {}).get(p["backend"]["service"]["name"])
                port = p["backend"]["service"]["port"].get("name")
                c.check(svc is not None and any(sp.get("name") == port for sp in svc["spec"]["ports"]),
                        f"{where}: Ingress/{name_of(ing)} {rule.get('host')}{p['path']} -> an existing Service port")

    # ServiceMonitor: selects a metrics Service of every Miroir service (and NATS's exporter).
    for sm in by_kind.get("ServiceMonitor", {}).values():
        sel = sm["spec"]["selector"]["matchLabels"]
        port = sm["spec"]["endpoints"][0]["port"]
        scraped = {s["metadata"]["labels"].get("app.kubernetes.io/component")
                   for s in by_kind.get("Service", {}).values()
                   if selects(sel, s["metadata"].get("labels") or {})
                   and any(p.get("name") == port for p in s["spec"]["ports"])}
        want = {"gateway", "router", "merger", "rebalancer", "health-checker"}
        c.check(want <= scraped, f"{where}: ServiceMonitor scrapes every service", f"scrapes {sorted(scraped)}")

    # NATS's GOMAXPROCS: set on every server when asked, else left to Go.
    gomaxprocs = values["nats"]["gomaxprocs"]
    nats_sets = [o for o in by_kind.get("StatefulSet", {}).values()
                 if o["metadata"]["labels"].get("app.kubernetes.io/component") == "nats"]
    if c.check(len(nats_sets) == 1, f"{where}: one NATS StatefulSet"):
        ctr = next(x for x in nats_sets[0]["spec"]["template"]["spec"]["containers"] if x["name"] == "nats")
        got = next((e.get("value") for e in ctr.get("env", []) if e["name"] == "GOMAXPROCS"), None)
        c.check(got == (str(gomaxprocs) if gomaxprocs else None),
                f"{where}: NATS GOMAXPROCS is {gomaxprocs or 'unset'}", f"got {got!r}")

    # Topology: replication factor within the node count, as the router is told.
    rf = values["cluster"]["replicationFactor"]
    meili = [o for o in by_kind.get("StatefulSet", {}).values()
             if o["metadata"]["labels"].get("app.kubernetes.io/component") == "meilisearch"]
    if c.check(len(meili) == 1, f"{where}: one Meilisearch StatefulSet"):
        m = meili[0]
        c.check(m["spec"]["replicas"] >= rf, f"{where}: RF {rf} within {m['spec']['replicas']} nodes")
        img = next(ctr["image"] for ctr in m["spec"]["template"]["spec"]["containers"] if ctr["name"] == "meilisearch")
        c.check(re.search(r":v?1\.50\.[0-9]+$", img) is not None, f"{where}: Meilisearch image is 1.50.x ({img})")
        spec = m["spec"]["template"]["spec"]
        c.check(any(t["topologyKey"] == "topology.kubernetes.io/zone" for t in spec.get("topologySpreadConstraints", [])),
                f"{where}: Meilisearch pods spread over zones")
        c.check(bool((spec.get("affinity") or {}).get("podAntiAffinity")), f"{where}: Meilisearch pods have anti-affinity")
        reg = [ctr for ctr in spec["containers"] if ctr["name"] == "register"]
        c.check(bool(reg) and "miroirctl node add" in " ".join(reg[0].get("args", [])),
                f"{where}: each Meilisearch pod registers its node with miroirctl node add")


def check_bootstrap(objects: list[dict], values: dict, c: Checks, where: str) -> None:
    """The bootstrap Job creates every bucket and stream the code names, with the replicas."""
    jobs = [o for o in objects if o["kind"] == "Job" and "bootstrap" in name_of(o)]
    if not c.check(len(jobs) == 1, f"{where}: one NATS bootstrap Job"):
        return
    job = jobs[0]
    ctr = job["spec"]["template"]["spec"]["containers"][0]
    script = "\n".join(ctr.get("args", []))
    env = {e["name"]: e.get("value") for e in ctr.get("env", [])}
    c.check(env.get("REPLICAS") == str(values["nats"]["jetstream"]["replicas"]),
            f"{where}: bootstrap Job uses nats.jetstream.replicas")
    hooks = (job["metadata"].get("annotations") or {}).get("helm.sh/hook", "")
    c.check("post-install" in hooks and "post-upgrade" in hooks, f"{where}: bootstrap Job runs after install and upgrade")
    subjects = (ROOT / "libs/proto/src/subjects.rs").read_text()
    buckets = re.findall(r'pub const [A-Z_]+_BUCKET: &str = "([^"]+)"', subjects)
    streams = re.findall(r'pub const [A-Z_]+_STREAM: &str = "([^"]+)"', subjects)
    c.check(len(buckets) >= 5 and len(streams) >= 2, f"{where}: subjects.rs names the buckets and streams",
            f"{buckets} {streams}")
    for b in buckets:
        c.check(re.search(rf"^\s*kv {re.escape(b)}\b", script, re.M) is not None, f"{where}: bootstrap creates bucket {b}")
    for s in streams:
        c.check(re.search(rf"^\s*stream {re.escape(s)}\b", script, re.M) is not None, f"{where}: bootstrap creates stream {s}")
    for fn, sub in (("wal_subjects", "wal"), ("handoff_subjects", "handoff")):
        c.check(f"'miroir.v1.{sub}.>'" in script and f"fn {fn}()" in subjects,
                f"{where}: bootstrap stream subjects miroir.v1.{sub}.>")


def check_shared_files(objects: list[dict], chart_dir: Path, values: dict, operator: bool, c: Checks, where: str) -> None:
    """The dashboard and the alert rules reach their objects unchanged."""
    dash = [o for o in objects if o["kind"] == "ConfigMap" and name_of(o).endswith("-dashboard")]
    if values["metrics"]["grafanaDashboard"]["enabled"]:
        if c.check(len(dash) == 1, f"{where}: the Grafana dashboard ConfigMap"):
            d = dash[0]
            label = values["metrics"]["grafanaDashboard"]["label"]
            c.check(d["metadata"]["labels"].get(label) == values["metrics"]["grafanaDashboard"]["labelValue"],
                    f"{where}: dashboard ConfigMap has the sidecar label {label}")
            try:
                same = json.loads(next(iter(d["data"].values()))) == json.loads((chart_dir / SHARED_FILES[0]).read_text())
                c.check(same, f"{where}: dashboard ConfigMap holds files/grafana-dashboard.json unchanged")
            except ValueError as e:
                c.check(False, f"{where}: dashboard JSON parses", str(e))
    else:
        c.check(not dash, f"{where}: no dashboard ConfigMap when disabled")
    rules = [o for o in objects if o["kind"] == "PrometheusRule"]
    if operator and values["metrics"]["prometheusRule"]["enabled"]:
        if c.check(len(rules) == 1, f"{where}: a PrometheusRule with the operator"):
            want = yaml.safe_load((chart_dir / SHARED_FILES[1]).read_text())["groups"]
            c.check(rules[0]["spec"]["groups"] == want, f"{where}: PrometheusRule holds files/alerts.yaml's groups unchanged")
    else:
        c.check(not rules, f"{where}: no PrometheusRule without the operator's API or when disabled")
    mons = [o for o in objects if o["kind"] == "ServiceMonitor"]
    c.check(bool(mons) == (operator and values["metrics"]["serviceMonitor"]["enabled"]),
            f"{where}: a ServiceMonitor exactly when the operator's API is there and it is enabled")


# --- the real programs: nats-server, the services, the node registration ----------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_nats_config(objects: list[dict], c: Checks, where: str) -> None:
    """The rendered nats.conf, as the real nats-server reads it (`-t`: check and exit)."""
    server = shutil.which("nats-server")
    if not c.check(server is not None, f"{where}: nats-server is installed (bash .ci/bootstrap)"):
        return
    conf = [o for o in objects if o["kind"] == "ConfigMap" and "nats.conf" in (o.get("data") or {})]
    if not c.check(len(conf) == 1, f"{where}: one ConfigMap with nats.conf"):
        return
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(conf[0]["data"]["nats.conf"])
        f.flush()
        run = subprocess.run([server, "-c", f.name, "-t"], capture_output=True, text=True, timeout=20,
                             env={"SERVER_NAME": "miroir-nats-0", "PATH": os.environ.get("PATH", ""),
                                  # The users' passwords come from the Secret in the pod.
                                  **{f"MIROIR_NATS_{u}_PASSWORD": "p" * 32 for u in
                                     ("GATEWAY", "ROUTER", "MERGER", "HEALTH_CHECKER", "REBALANCER", "ADMIN")}})
    c.check(run.returncode == 0, f"{where}: nats-server -t accepts the rendered nats.conf",
            (run.stderr or run.stdout).strip()[-400:])


def check_grace_defaults(chart_dir: Path, bindir: Path, c: Checks) -> None:
    """The shutdown_grace_ms defaults miroir.validate compares with the pods' termination grace
    are the services' own (their --help)."""
    helpers = (chart_dir / "templates" / "_helpers.tpl").read_text()
    m = re.search(r'\$graces := dict ((?:"\w+" \d+ ?)+)', helpers)
    if not c.check(m is not None, "chart: miroir.validate lists the shutdown grace defaults"):
        return
    pairs = re.findall(r'"(\w+)" (\d+)', m.group(1))
    binaries = {"gateway": "miroir-gateway", "router": "miroir-router", "merger": "miroir-merger",
                "rebalancer": "miroir-rebalancer", "healthChecker": "miroir-health-checker"}
    for key, ms in pairs:
        binary = bindir / binaries.get(key, "?")
        if not c.check(binary.is_file(), f"chart: {binary} is built"):
            continue
        out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30).stdout
        found = re.search(r"--shutdown-grace-ms <MS>\s+.*?\[default: (\d+)\]", out, re.S)
        c.check(found is not None and found.group(1) == ms,
                f"chart: {key}'s shutdown_grace_ms default {ms} is the one its --help gives",
                found.group(1) if found else "not in --help")


def check_services_start(objects: list[dict], bindir: Path, c: Checks, where: str) -> None:
    """Each Deployment's container, run from its real binary with the environment the chart
    gives it: a variable the service does not know, or a value it cannot parse, makes it exit at
    once; accepted, it keeps trying to reach NATS. Addresses are moved to loopback (NATS to a
    closed port), secrets get a dummy value; nothing else is changed."""
    procs = []
    for d in (o for o in objects if o["kind"] == "Deployment"):
        ctr = d["spec"]["template"]["spec"]["containers"][0]
        binary = bindir / ctr["command"][0]
        if not c.check(binary.is_file(), f"{where}: {binary} is built"):
            continue
        env = {"PATH": os.environ.get("PATH", ""), "RUST_BACKTRACE": "0"}
        for e in ctr.get("env", []):
            value = e.get("value")
            if "valueFrom" in e:
                value = "k" * 32
            if e["name"].endswith("_NATS_URL"):
                value = "nats://127.0.0.1:1"
            elif e["name"].endswith("_ADDR"):
                value = "127.0.0.1:0"
            env[e["name"]] = value
        env["RUST_LOG"] = "error"
        procs.append((d, subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True)))
    time.sleep(1.5)
    for d, p in procs:
        alive = p.poll() is None
        if alive:
            p.kill()
        err = p.communicate(timeout=10)[1]
        c.check(alive, f"{where}: {name_of(d)} starts with the chart's environment", err.strip()[-500:])


class Health(http.server.BaseHTTPRequestHandler):
    """A node's /health, for the registration script."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{"status":"available"}')

    def log_message(self, *args: Any) -> None:
        pass


def check_registration(objects: list[dict], bindir: Path, c: Checks, where: str) -> None:
    """The Meilisearch pods' `register` script, run by sh with the real miroirctl against a real
    nats-server with JetStream: the node is added with its URL and zone, and a second run (a pod
    restart) leaves the record alone. Changed for the run: the node's port (a local /health
    server) and the final `exec sleep infinity` (so the script ends)."""
    sts = [o for o in objects if o["kind"] == "StatefulSet"
           and o["metadata"]["labels"].get("app.kubernetes.io/component") == "meilisearch"]
    ctl = bindir / "miroirctl"
    server = shutil.which("nats-server")
    if not (c.check(len(sts) == 1, f"{where}: the Meilisearch StatefulSet") and c.check(ctl.is_file(), f"{where}: {ctl} is built")
            and c.check(server is not None, f"{where}: nats-server is installed")):
        return
    reg = next(x for x in sts[0]["spec"]["template"]["spec"]["containers"] if x["name"] == "register")
    script = reg["args"][0]
    c.check(reg["command"] == ["/bin/sh", "-c"] and "exec sleep infinity" in script and "127.0.0.1:7700" in script,
            f"{where}: register runs a sh script that waits on 127.0.0.1:7700 and then sleeps")
    health = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    script = script.replace("127.0.0.1:7700", f"127.0.0.1:{health.server_address[1]}").replace("exec sleep infinity", "exit 0")
    port = free_port()
    with tempfile.TemporaryDirectory() as store:
        nats = subprocess.Popen([server, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.05)
            env = {"PATH": f"{bindir}:{os.environ.get('PATH', '')}", "POD_NAME": "miroir-meilisearch-0",
                   "POD_NAMESPACE": "search", "ZONE": "eu-west-1a", "MIROIR_NATS_URL": f"nats://127.0.0.1:{port}"}
            for e in reg.get("env", []):  # NODE_URL, with Kubernetes' $(VAR) expansion
                if e["name"] == "NODE_URL":
                    env["NODE_URL"] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), ""), e["value"])
            c.check("NODE_URL" in env and env["NODE_URL"].startswith("http://miroir-meilisearch-0."),
                    f"{where}: NODE_URL is the pod's stable DNS name", env.get("NODE_URL", "unset"))
            runs = [subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
                    for _ in range(2)]
            status = subprocess.run([str(ctl), "status", "--json"], env=env, capture_output=True, text=True, timeout=30)
        finally:
            nats.kill()
            nats.wait(timeout=10)
            health.shutdown()
    c.check(runs[0].returncode == 0, f"{where}: register adds the node", (runs[0].stderr + runs[0].stdout).strip()[-400:])
    c.check(runs[1].returncode == 0 and "already in the topology" in runs[1].stdout,
            f"{where}: register run again (a restart) leaves the registered node alone", (runs[1].stderr + runs[1].stdout).strip()[-400:])
    try:
        nodes = json.loads(status.stdout)["nodes"]
    except (ValueError, KeyError, TypeError):
        nodes = []
    node = next((n for n in nodes if n.get("id") == "miroir-meilisearch-0"), None)
    c.check(node is not None and node.get("url") == env.get("NODE_URL") and node.get("zone") == "eu-west-1a",
            f"{where}: the topology holds the node with its URL and zone", (status.stdout or status.stderr)[:400])


def wait_http(url: str, deadline_s: float, headers: dict | None = None) -> int:
    """GET url until it answers (its status), or 0 at the deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            time.sleep(0.1)
    return 0


def check_smoke(objects: list[dict], bindir: Path, c: Checks, where: str) -> None:
    """The chart's cluster on loopback, from the real binaries with the chart's environment: NATS,
    one node per Meilisearch pod (stand-ins, or Meilisearch under MEILI_BIN) each registered by
    its pod's `register` script, the five services; then every liveness and readiness probe's
    endpoint must answer 200, and the `helm test` Pod's script must pass against the gateway.
    Changed for the run: addresses (loopback, free ports; NATS's URL), the keys (test values),
    the register script's final sleep."""
    server = shutil.which("nats-server")
    node_bin = Path(os.environ["MEILI_BIN"]) if os.environ.get("MEILI_BIN") else bindir / "miroir-standin"
    if not (c.check(server is not None, f"{where}: nats-server is installed")
            and c.check(node_bin.is_file(), f"{where}: the node binary {node_bin} is there")):
        return
    sts = next(o for o in objects if o["kind"] == "StatefulSet"
               and o["metadata"]["labels"].get("app.kubernetes.io/component") == "meilisearch")
    reg = next(x for x in sts["spec"]["template"]["spec"]["containers"] if x["name"] == "register")
    meili = next(x for x in sts["spec"]["template"]["spec"]["containers"] if x["name"] == "meilisearch")
    test_pod = next(o for o in objects if o["kind"] == "Pod"
                    and (o["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test")
    keys = {"master-key": "chart-smoke-master-key-0123456789", "node-key": "chart-smoke-node-key-0123456789"}
    users = ("gateway", "router", "merger", "health-checker", "rebalancer", "admin")
    keys.update({f"nats-{u}-password": f"chart-smoke-nats-{u}-password" for u in users})
    # NATS as the chart configures it: with its users and permissions when the rendered nats.conf
    # has them (each password from the Secret, through the server's environment).
    nats_conf = next((o["data"]["nats.conf"] for o in objects if o["kind"] == "ConfigMap"
                      and "nats.conf" in (o.get("data") or {})), "")
    auth_at = nats_conf.find("authorization {")
    nats_env = {f"MIROIR_NATS_{u.upper().replace('-', '_')}_PASSWORD": keys[f"nats-{u}-password"] for u in users}
    procs: list[subprocess.Popen] = []
    logs = tempfile.TemporaryDirectory()

    def start(name: str, argv: list[str], env: dict) -> subprocess.Popen:
        log = open(Path(logs.name) / f"{name}.log", "w")
        p = subprocess.Popen(argv, env={"PATH": os.environ.get("PATH", ""), **env}, stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    def tail(name: str) -> str:
        path = Path(logs.name) / f"{name}.log"
        return path.read_text()[-600:] if path.exists() else ""

    try:
        store = Path(logs.name) / "nats"
        nats_port = free_port()
        argv = [server, "-js", "-a", "127.0.0.1", "-p", str(nats_port), "-sd", str(store)]
        if auth_at >= 0:
            conf = Path(logs.name) / "nats-auth.conf"
            conf.write_text(nats_conf[auth_at:])
            argv += ["-c", str(conf)]
        start("nats", argv, nats_env)
        nats_url = f"nats://127.0.0.1:{nats_port}"
        if not c.check(wait_tcp(nats_port, 10), f"{where}: NATS starts", tail("nats")):
            return
        # The nodes, each registered by the register script of its pod.
        for i in range(sts["spec"]["replicas"]):
            pod = f"{name_of(sts)}-{i}"
            port = free_port()
            # The node container's own environment: its key from the Secret, its address on
            # loopback, its paths (database, dumps, snapshots, TMPDIR) under a directory of its own.
            meili_env = {}
            for e in meili["env"]:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                value = keys[ref["key"]] if ref else e.get("value", "")
                if e["name"] == "MEILI_HTTP_ADDR":
                    value = f"127.0.0.1:{port}"
                elif value.startswith("/"):
                    value = str(Path(logs.name) / pod / value.lstrip("/"))
                    Path(value).parent.mkdir(parents=True, exist_ok=True)
                    if e["name"] == "TMPDIR":
                        Path(value).mkdir(parents=True, exist_ok=True)
                meili_env[e["name"]] = value
            c.check(meili_env.get("MEILI_MASTER_KEY") == keys["node-key"], f"{where}: node {pod} gets the node key")
            start(pod, [str(node_bin)], meili_env)
            reg_env = {}
            for e in reg.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref or e["name"].startswith("MIROIR_NATS_USER"):
                    reg_env[e["name"]] = keys[ref["key"]] if ref else e.get("value", "")
            c.check((auth_at >= 0) == ("MIROIR_NATS_PASSWORD" in reg_env),
                    f"{where}: node {pod}'s register script has NATS credentials exactly when NATS asks for them")
            script = reg["args"][0].replace("127.0.0.1:7700", f"127.0.0.1:{port}").replace("exec sleep infinity", "exit 0")
            run = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60,
                                 env={"PATH": f"{bindir}:{os.environ.get('PATH', '')}", "POD_NAME": pod,
                                      "ZONE": f"zone-{i % 2}", "NODE_URL": f"http://127.0.0.1:{port}",
                                      "MIROIR_NATS_URL": nats_url, **reg_env})
            c.check(run.returncode == 0, f"{where}: node {pod} registered by its pod's script",
                    (run.stdout + run.stderr)[-400:] + tail(pod))
        # The services, as their Deployments run them.
        probes = []
        for d in (o for o in objects if o["kind"] == "Deployment"):
            ctr = d["spec"]["template"]["spec"]["containers"][0]
            ports = {}
            env = {"RUST_LOG": "warn"}
            for e in ctr.get("env", []):
                value = e.get("value")
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    value = keys[ref["key"]]
                if e["name"].endswith("_NATS_URL"):
                    value = nats_url
                elif e["name"].endswith("_METRICS_ADDR") or e["name"].endswith("_HTTP_ADDR"):
                    port = free_port()
                    ports["metrics" if e["name"].endswith("_METRICS_ADDR") else "http"] = port
                    value = f"127.0.0.1:{port}"
                env[e["name"]] = value
            start(name_of(d), [str(bindir / ctr["command"][0])], env)
            for kind in ("livenessProbe", "readinessProbe"):
                get = ctr[kind]["httpGet"]
                probes.append((name_of(d), kind, f"http://127.0.0.1:{ports[get['port']]}{get['path']}"))
        for name, kind, url in probes:
            c.check(wait_http(url, 20) == 200, f"{where}: {name}'s {kind} ({url.rsplit('/', 1)[1]}) answers 200", tail(name))
        # The helm test Pod's script, against the gateway.
        tctr = test_pod["spec"]["containers"][0]
        gw = next(p for n, k, p in probes if "gateway" in n and k == "readinessProbe").rsplit("/", 1)[0]
        env = {"PATH": os.environ.get("PATH", ""), "MASTER_KEY": keys["master-key"], "GATEWAY": gw,
               "INDEX": next(e["value"] for e in tctr["env"] if e["name"] == "INDEX")}
        run = subprocess.run(tctr["command"] + tctr["args"], env=env, capture_output=True, text=True, timeout=120)
        c.check(run.returncode == 0 and "ok: searched through" in run.stdout,
                f"{where}: the helm test Pod's script passes against the gateway",
                (run.stdout + run.stderr)[-800:] + "".join(tail(n) for n in ("demo-miroir-router", "demo-miroir-gateway")))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        logs.cleanup()


def wait_tcp(port: int, deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


# --- the run ----------------------------------------------------------------------------------


def prepare_chart(c: Checks, source: Path, tmp: Path) -> Path:
    """The chart as it is, or a copy with placeholders for the shared files another change owns
    (their absence is a failed check, the rest is still checked)."""
    missing = [f for f in SHARED_FILES if not (source / f).is_file()]
    for f in SHARED_FILES:
        c.check(f not in missing, f"chart: {f} is present")
    if not missing:
        return source
    copy = tmp / "placeholders" / "miroir"
    shutil.copytree(source, copy)
    for f in missing:
        path = copy / f
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"title": "placeholder", "panels": []}\n' if f.endswith(".json") else
                        "groups:\n  - name: placeholder\n    rules:\n      - alert: Placeholder\n        expr: vector(1)\n")
    return copy


class Counts:
    files = good = bad = objects = validated = 0


def check_chart(source: Path, files: list[Path], c: Checks, n: Counts, bindir: Path | None = None) -> None:
    """Every check, on the chart at `source` with the values files `files`; with `bindir` (the
    built binaries), the services and the node registration are also run."""
    with tempfile.TemporaryDirectory() as tmp:
        chart_dir = prepare_chart(c, source, Path(tmp))
        chart = helm.Chart.load(str(chart_dir))
        meta = chart.metadata
        c.check(meta.get("apiVersion") == "v2" and meta.get("name") == "miroir", "chart: Chart.yaml is apiVersion v2, name miroir")
        report = helm.lint(str(chart_dir), strict=True, kube_version="v" + KUBE_VERSIONS[0])
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2] + report.get("errors", [])
        c.check(not problems, "chart: helm lint --strict finds nothing", json.dumps(problems)[:2000])
        n.files += len(files)
        for path in files:
            where = f"ci/{path.name}"
            user = yaml.safe_load(path.read_text()) or {}
            expect = header(path, "expect-refused")
            message = header(path, "expect-message") or ""
            merged = chart.merge_values(user)
            schema_error = ""
            try:
                # Like helm install: the user's values over the chart's defaults, then the schema.
                chart.validate_schema(user)
            except helm.HelmError as e:
                schema_error = str(e)
            render_error = ""
            outputs = {}
            if not schema_error:
                for operator in (False, True):
                    try:
                        outputs[operator] = render(chart, user, operator)
                    except helm.HelmError as e:
                        render_error = str(e)
                        break
            if path.name.startswith("bad-"):
                n.bad += 1
                c.check(expect in ("schema", "template"), f"{where}: says how it must be refused (# expect-refused:)")
                if expect == "schema":
                    c.check(bool(schema_error) and message in schema_error,
                            f"{where}: refused by values.schema.json, naming {message!r}", schema_error or "accepted")
                else:
                    c.check(not schema_error, f"{where}: passes the schema (only a template can judge it)", schema_error)
                    c.check(bool(render_error) and message in render_error,
                            f"{where}: refused by the templates with {message!r}", render_error or "rendered")
                continue
            n.good += 1
            c.check(expect is None, f"{where}: a good values file expects no refusal")
            lint = helm.lint(str(chart_dir), user, strict=True, kube_version="v" + KUBE_VERSIONS[0])
            problems = [m for m in lint.get("messages", []) if m.get("severity", 0) >= 2] + lint.get("errors", [])
            c.check(not problems, f"{where}: helm lint --strict with these values finds nothing", json.dumps(problems)[:1000])
            if not c.check(not schema_error, f"{where}: passes values.schema.json", schema_error):
                continue
            if not c.check(not render_error, f"{where}: renders", render_error):
                continue
            for operator, rendered in outputs.items():
                w = f"{where} ({'with' if operator else 'without'} the Prometheus operator)"
                objects = manifests(rendered, c, w)
                n.objects += len(objects)
                n.validated += validate_kubernetes(objects, c, w)
                check_structure(objects, merged, c, w)
                check_bootstrap(objects, merged, c, w)
                check_shared_files(objects, chart_dir, merged, operator, c, w)
                if not operator:
                    check_nats_config(objects, c, w)
                    if bindir is not None:
                        check_services_start(objects, bindir, c, w)
                        if path.name == "default-values.yaml":
                            check_registration(objects, bindir, c, w)
                            check_smoke(objects, bindir, c, w)
        if bindir is not None:
            check_grace_defaults(chart_dir, bindir, c)
        chart.close()


# Breakages the checks must catch (the checks' own test, `--self-test`): each is applied to a copy
# of the chart, which is then checked with the default values and must fail with that message.
MUTATIONS = [
    ("templates/components.yaml", "          livenessProbe:\n", "          livenessProbeX:\n", "has a livenessProbe"),
    ("templates/components.yaml", "command: [{{ $c.binary | quote }}]", "command: {{ $c.binary | quote }}", "valid for Kubernetes"),
    ("templates/_helpers.tpl", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "read-only root"),
    ("templates/components.yaml", "      targetPort: metrics", "      targetPort: metricz", "is a container port of its pods"),
    ("templates/gateway-service.yaml", "      targetPort: http", "      targetPort: 7701", "is a container port of its pods"),
    ("templates/components.yaml", "            - name: {{ $c.prefix }}NATS_URL", "            - name: {{ $c.prefix }}NATS_URI", "is a key of"),
    ("templates/_helpers.tpl", "- {name: miroir-leases", "- {name: miroir-lease", "creates bucket miroir-leases"),
    ("templates/meilisearch.yaml", "                  key: node-key", "                  key: nodekey", "which exists"),
    ("templates/components.yaml", '{{- include "miroir.selectorLabels" $sel | nindent 6 }}',
     '{{- include "miroir.selectorLabels" (dict "root" $ "component" "other") | nindent 6 }}', "selector matches its pod labels"),
    ("templates/components.yaml", "  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}\n  replicas",
     "  {{- if true }}\n  replicas", "leaves replicas to it"),
    ("templates/nats.yaml", "publishNotReadyAddresses: true", "publishNotReadyAddresses: yes-please", "valid for Kubernetes"),
    ("values.schema.json", '"pattern": "^[1-9][0-9]*(\\\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)$"', '"pattern": ".*"',
     "ci/bad-pvc-size-values.yaml: refused by values.schema.json"),
    ("templates/_helpers.tpl", "{{- if gt (int $v.cluster.replicationFactor) (int $v.meilisearch.replicas) -}}",
     "{{- if false -}}", "ci/bad-rf-above-nodes-values.yaml: refused by the templates"),
    ("Chart.yaml", "name: miroir", "name: miroir", None),  # no change: must pass
]


def self_test(c: Checks) -> None:
    global KUBE_VERSIONS
    default = [CHART / "ci" / "default-values.yaml"]
    KUBE_VERSIONS = KUBE_VERSIONS[-1:]  # one schema version is enough to see a breakage
    with tempfile.TemporaryDirectory() as tmp:
        for i, (file, old, new, expect) in enumerate(MUTATIONS):
            copy = Path(tmp) / str(i) / "miroir"
            shutil.copytree(CHART, copy)
            path = copy / file
            text = path.read_text()
            if not c.check(old in text, f"self-test {i}: {file} contains {old.strip()!r}"):
                continue
            path.write_text(text.replace(old, new))
            inner = Checks(False)
            failures: list[str] = []
            real_check = inner.check

            def record(ok: bool, what: str, detail: str = "", _real=real_check) -> bool:
                if not ok:
                    failures.append(what)
                    inner.failed += 1
                    return False
                inner.passed += 1
                return True

            inner.check = record  # type: ignore[method-assign]
            refused = re.match(r"(ci/bad-[a-z-]+\.yaml)", expect or "")
            files = [copy / refused.group(1)] if refused else default
            try:
                check_chart(copy, files, inner, Counts())
            except helm.HelmError as e:
                failures.append(f"render: {e}")
            failures = [f for f in failures if "is present" not in f]  # shared files may be absent
            if expect is None:
                c.check(not failures, f"self-test {i}: an unchanged chart passes", "; ".join(failures[:3]))
            else:
                c.check(any(expect in f for f in failures),
                        f"self-test {i}: {file}: {old.strip()!r} -> {new.strip()!r} fails {expect!r}",
                        "; ".join(failures[:3]) or "nothing failed")


def main() -> int:
    args = sys.argv[1:]
    c = Checks("-v" in args)
    versions = " and ".join(KUBE_VERSIONS)
    started = time.monotonic()
    n = Counts()
    files = sorted((CHART / "ci").glob("*-values.yaml"))
    c.check(len(files) >= 3, f"chart: example values files ({len(files)})")
    bindir = None
    if "--binaries" in args:
        bindir = Path(args[args.index("--binaries") + 1]).resolve()
    check_chart(CHART, files, c, n, bindir)
    if "--self-test" in args:
        self_test(c)
    took = time.monotonic() - started
    print(f"chart checks: {n.files} values files ({n.good} rendered, {n.bad} refused), {n.objects} manifests "
          f"rendered, {n.validated} validated against Kubernetes {versions} schemas"
          + (f", {sum(1 for m in MUTATIONS if m[3])} breakages of the chart tried on a copy" if "--self-test" in args else "")
          + f", in {took:.1f} s")
    cases_ok = sum(1 for ok in c.cases.values() if ok)
    print(f"chart checks: {len(c.cases)} cases, {c.passed + c.failed} asserts ({c.failed} failed)")
    print(f"chart checks: {cases_ok} passed, {len(c.cases) - cases_ok} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
