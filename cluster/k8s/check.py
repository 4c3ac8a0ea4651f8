#!/usr/bin/env python3
"""Checks rendered manifests (`kubectl kustomize cluster/k8s | python3 check.py`).

Every document is validated offline against the Kubernetes schemas
(kubernetes-validate, strict: unknown fields are errors). Then the house's rules are
checked on what was rendered: every workload runs as non-root with a read-only root
filesystem, no privilege escalation, all capabilities dropped, the runtime's seccomp
profile, resource requests and limits, and probes; the mesh and Redis are reachable
only from the service's pods; scale-out is one number. Exits 1, listing every
failure, if anything is off.
"""
import sys

import kubernetes_validate
import yaml

KUBERNETES = "1.32.0"
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def fail_unless_number(text):
    """A number from an env value, or None."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def mebibytes(quantity):
    """A Kubernetes quantity (Mi, Gi, M, G or bytes) in MiB, or None."""
    if not isinstance(quantity, str):
        return None
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024, "k": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for unit, factor in units.items():
        if quantity.endswith(unit):
            number = fail_unless_number(quantity[: -len(unit)])
            return None if number is None else number * factor
    number = fail_unless_number(quantity)
    return None if number is None else number / 2**20


def check(docs):
    failures = []
    fail = failures.append
    by_kind = {}
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as e:
            fail(f"{name}: invalid: {e.message} at {'.'.join(str(p) for p in e.path)}")
        except Exception as e:  # an unknown kind or version
            fail(f"{name}: cannot be validated: {e}")
        by_kind.setdefault(doc.get("kind"), []).append(doc)
        if doc.get("kind") != "Namespace" and doc.get("metadata", {}).get("namespace") != "sedaro":
            fail(f"{name}: not in namespace sedaro")

    for kind in WORKLOADS:
        for doc in by_kind.get(kind, []):
            name = f"{kind}/{doc['metadata']['name']}"
            pod = doc["spec"]["template"]["spec"]
            psc = pod.get("securityContext", {})
            if psc.get("runAsNonRoot") is not True:
                fail(f"{name}: pod securityContext.runAsNonRoot is not true")
            if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                fail(f"{name}: pod seccompProfile is not RuntimeDefault")
            if pod.get("automountServiceAccountToken") is not False:
                fail(f"{name}: mounts a service account token it does not need")
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                where = f"{name} container {c['name']}"
                sc = c.get("securityContext", {})
                if sc.get("allowPrivilegeEscalation") is not False:
                    fail(f"{where}: allowPrivilegeEscalation is not false")
                if sc.get("readOnlyRootFilesystem") is not True:
                    fail(f"{where}: readOnlyRootFilesystem is not true")
                if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                    fail(f"{where}: does not drop ALL capabilities")
                if sc.get("privileged"):
                    fail(f"{where}: is privileged")
                resources = c.get("resources", {})
                for part in ("requests", "limits"):
                    for what in ("cpu", "memory"):
                        if what not in resources.get(part, {}):
                            fail(f"{where}: no {part}.{what}")
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in c:
                        fail(f"{where}: no {probe}")

    sets = [d for d in by_kind.get("StatefulSet", []) if d["metadata"]["name"] == "nano"]
    if len(sets) != 1:
        fail("there is no StatefulSet nano")
    else:
        sts = sets[0]
        if sts["spec"].get("podManagementPolicy") != "Parallel":
            fail("StatefulSet/nano: podManagementPolicy is not Parallel (pods must start together)")
        env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0].get("env", [])}
        if env.get("NANO_REPLICAS", {}).get("value") != str(sts["spec"]["replicas"]):
            fail("StatefulSet/nano: NANO_REPLICAS does not follow spec.replicas")
        budget = fail_unless_number(env.get("NANO_MEMORY_MB", {}).get("value"))
        limit = mebibytes(sts["spec"]["template"]["spec"]["containers"][0].get("resources", {}).get("limits", {}).get("memory"))
        if budget is None or limit is None or not budget < limit:
            fail(f"StatefulSet/nano: NANO_MEMORY_MB ({budget}) is not below the container's memory limit ({limit} Mi)")
        quota = fail_unless_number(env.get("NANO_MAX_LOG_GB", {}).get("value"))
        claims = sts["spec"].get("volumeClaimTemplates") or [{}]
        storage = mebibytes(claims[0].get("spec", {}).get("resources", {}).get("requests", {}).get("storage"))
        if quota is None or storage is None or not quota * 1024 < storage:
            fail(f"StatefulSet/nano: NANO_MAX_LOG_GB ({quota}) is not below the log's volume claim ({storage} Mi)")
        service = sts["spec"]["serviceName"]
        headless = [s for s in by_kind.get("Service", []) if s["metadata"]["name"] == service]
        if not headless or headless[0]["spec"].get("clusterIP") != "None":
            fail(f"Service/{service}: the StatefulSet's Service is not headless")
        elif headless[0]["spec"].get("publishNotReadyAddresses") is not True:
            fail(f"Service/{service}: publishNotReadyAddresses is not true (the mesh would wait on readiness)")
        if not sts["spec"].get("volumeClaimTemplates"):
            fail("StatefulSet/nano: no PersistentVolumeClaim for the log")

    if not any(s["spec"].get("type") == "NodePort" for s in by_kind.get("Service", [])):
        fail("no NodePort Service for the web")

    policies = by_kind.get("NetworkPolicy", [])
    if not any(p["spec"].get("podSelector") == {} and p["spec"].get("policyTypes") == ["Ingress"] and not p["spec"].get("ingress") for p in policies):
        fail("no default-deny ingress NetworkPolicy")

    def only_from_nano(port, app):
        for p in policies:
            if p["spec"].get("podSelector", {}).get("matchLabels", {}).get("app") != app:
                continue
            for rule in p["spec"].get("ingress", []):
                ports = [x.get("port") for x in rule.get("ports", [])]
                if port in ports:
                    sources = rule.get("from", [])
                    if not sources or any(s.get("podSelector", {}).get("matchLabels") != {"app": "nano"} for s in sources):
                        return False
        return any(
            port in [x.get("port") for r in p["spec"].get("ingress", []) for x in r.get("ports", [])]
            for p in policies
            if p["spec"].get("podSelector", {}).get("matchLabels", {}).get("app") == app
        )

    if not only_from_nano(6379, "redis"):
        fail("Redis (6379) is not reachable only from the service's pods")
    if not only_from_nano(7000, "nano"):
        fail("the timely mesh (7000) is not reachable only from the cluster's pods")
    return failures


def main():
    try:
        docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
    except yaml.YAMLError as e:
        print(f"FAIL not YAML: {e}", file=sys.stderr)
        return 1
    if not docs:
        print("no manifests on stdin", file=sys.stderr)
        return 1
    failures = check(docs)
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print(f"{len(docs)} manifests, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
