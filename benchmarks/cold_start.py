"""Cold-start benchmark of the FC handlers (reconcile, allocate, bind, release, sweep, validate).

The parent process starts the three fakes on loopback (kube-apiserver, ECS/VPC, MNS; real time) and
seeds a realistic world: a trunk node, two Ready PodNetworkings, and per handler fresh objects for each
message (PodNetworkings to reconcile, scheduled Pods to allocate, allocated Pods to bind, deleted bound
Pods to release), so every message does its real API calls. Pods are admitted by the admission hook and
carry the resolved snapshot, as in a cluster.

Each run is a FRESH interpreter that, for one handler, times (a) importing functions/<step>/index.py,
(b) ``initialize(context)`` with the environment pointing at the fakes, (c) the first event handled end
to end, then the warm per-event time (median of ``--warm`` events in the same process). The table
reports the median of ``--runs`` runs. Interpreter start-up is not included (FC pays it before the code
loads, and it is not ours to shrink).

    python benchmarks/cold_start.py                      # table
    python benchmarks/cold_start.py --json               # machine-readable
    python benchmarks/cold_start.py --steps allocate,bind --runs 3
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("reconcile", "allocate", "bind", "release", "sweep", "validate")
QUEUE_STEPS = ("reconcile", "allocate", "bind", "release", "sweep")
TARGET_MS = 300.0
SYSTEM_USER = "system:serviceaccount:kube-system:podnet"
ADMIN_USER = "kubernetes-admin"
REGION = "cn-hangzhou"
ZONE = "cn-hangzhou-g"
NETWORKS = {"primary-network": "vsw-g1", "secondary-network": "vsw-g2"}
POD_REQUEST = json.dumps([
    {"interfaceName": "eth0", "network": "primary-network", "defaultRoute": True},
    {"interfaceName": "eth1", "network": "secondary-network"},
])


# --- the child: one fresh interpreter, one handler ---------------------------------------------------
def child(step: str, events_file: str) -> dict[str, Any]:
    """Time import, initializer, first event and warm events of one handler (runs in a fresh process)."""
    import importlib.util
    from types import SimpleNamespace

    events = json.loads(Path(events_file).read_text())
    context = SimpleNamespace(
        request_id="bench-0",
        credentials=SimpleNamespace(access_key_id="bench-ak", access_key_secret="bench-sk", security_token="bench-sts"),
        function=SimpleNamespace(name=f"podnet-{step}", handler="index.handler", memory=512, timeout=60),
        region=REGION,
        account_id="123456789012",
    )
    t0 = time.perf_counter()
    spec = importlib.util.spec_from_file_location("index", ROOT / "functions" / step / "index.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["index"] = module
    spec.loader.exec_module(module)
    t1 = time.perf_counter()
    module.initialize(context)
    t2 = time.perf_counter()
    first = module.handler(json.dumps(events[0]).encode(), context)
    t3 = time.perf_counter()
    warm: list[float] = []
    outcomes = [_outcome(step, first)]
    for i, ev in enumerate(events[1:], start=1):
        context.request_id = f"bench-{i}"
        s = time.perf_counter()
        out = module.handler(json.dumps(ev).encode(), context)
        warm.append((time.perf_counter() - s) * 1000)
        outcomes.append(_outcome(step, out))
    return {
        "step": step,
        "import_ms": (t1 - t0) * 1000,
        "init_ms": (t2 - t1) * 1000,
        "first_ms": (t3 - t2) * 1000,
        "warm_ms": statistics.median(warm) if warm else None,
        "outcomes": outcomes,
    }


def _outcome(step: str, result: Any) -> str:
    if step == "validate":
        return f"http{result.get('statusCode')}" if isinstance(result, dict) else "?"
    if not isinstance(result, dict):
        return "?"
    for key in ("ok", "retried", "deadLettered"):
        if result.get(key):
            return key
    return "none"


# --- the parent: fakes, world, runs ------------------------------------------------------------------
class World:
    """The fakes on loopback and the objects the handlers work on."""

    def __enter__(self) -> World:
        from podnet.adapters.kube_http import HttpKube
        from podnet.admission import local_admission_hook
        from podnet.clock import SystemClock
        from podnet.fakes.cloud.backend import CloudBackend
        from podnet.fakes.cloud.server import FakeCloudServer
        from podnet.fakes.kube.backend import KubeBackend
        from podnet.fakes.kube.server import FakeKubeServer
        from podnet.fakes.mns.backend import MNSBackend
        from podnet.fakes.mns.server import FakeMNSServer
        from podnet.local.cluster import node_object
        from podnet.ports import NODES, PODNETWORKINGS, RESOURCES
        from podnet.steps.context import dead_letter_queue_name, queue_name

        clock = SystemClock()
        self.kube_backend = KubeBackend(clock=clock, history=100_000)
        self.cloud_backend = CloudBackend(clock, region=REGION, attach_delay=0)  # bind completes in one event
        self.mns_backend = MNSBackend(clock=clock)
        self.kube_server = FakeKubeServer(self.kube_backend).start()
        self.cloud_server = FakeCloudServer(self.cloud_backend).start()
        self.mns_server = FakeMNSServer(self.mns_backend).start()
        for step in QUEUE_STEPS:
            self.mns_backend.create_queue(queue_name("podnet", step))  # type: ignore[arg-type]
        self.mns_backend.create_queue(dead_letter_queue_name("podnet"))
        self.env = {
            "PODNET_KUBE_URL": self.kube_server.url,
            "PODNET_KUBE_TOKEN": SYSTEM_USER,
            "PODNET_ECS_ENDPOINT": self.cloud_server.endpoint,
            "PODNET_VPC_ENDPOINT": self.cloud_server.endpoint,
            "PODNET_CLOUD_PROTOCOL": "http",
            "PODNET_MNS_ENDPOINT": self.mns_server.url,
            "PODNET_QUEUE_PREFIX": "podnet",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "bench-ak",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "bench-sk",
            "PODNET_CLUSTER_ID": "c-bench",
            "PODNET_REGION": REGION,
            "PODNET_LOG_LEVEL": "WARNING",
        }
        self.admin = HttpKube(self.kube_server.url, token=ADMIN_USER)
        self.kube = HttpKube(self.kube_server.url, token=SYSTEM_USER)
        self.kube_backend.add_admission_hook(local_admission_hook(self.kube, system_user=SYSTEM_USER), name="podnet")
        for cidr, vsw in (("10.0.0.0/16", "vsw-g1"), ("10.1.0.0/16", "vsw-g2")):
            self.cloud_backend.add_vswitch(vsw, ZONE, cidr)
        inst = self.cloud_backend.add_instance("node-g1", ZONE, trunk=True)
        for ns in ("default", "kube-system"):
            self.admin.create(RESOURCES["Namespace"], {"metadata": {"name": ns}})
        self.admin.create(NODES, node_object("node-g1", ZONE, REGION, inst.instance_id, inst.trunk_eni_id))
        self.ctx = self._parent_context()
        for name, vsw in NETWORKS.items():
            self.admin.create(PODNETWORKINGS, podnetworking(name, vsw))
            self.run("reconcile", envelope("reconcile", "PodNetworking", name))
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.kube_server, self.cloud_server, self.mns_server):
            server.stop()

    def _parent_context(self) -> Any:
        from podnet.adapters.cloud import OpenApiCloud
        from podnet.adapters.config import Settings
        from podnet.clock import SystemClock
        from podnet.steps.context import RecordingOutbox, StepContext

        clock = SystemClock()
        cloud = OpenApiCloud.from_env(clock, env=self.env)
        return StepContext(self.kube, cloud, RecordingOutbox(), clock, Settings.from_env(self.env))

    def run(self, step: str, body: str) -> None:
        from podnet.steps.dispatch import process_message

        outcome = process_message(self.ctx, step, body)  # type: ignore[arg-type]
        if outcome != "ok":
            raise RuntimeError(f"seeding: {step} {body} -> {outcome}: {self.ctx.outbox.dead[-1:]}")

    def pod(self, name: str) -> None:
        from podnet.ports import PODS

        self.admin.create(PODS, {
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "bench"},
                         "annotations": {"k8s.aliyun.com/pod-networks-request": POD_REQUEST}},
            "spec": {"nodeName": "node-g1", "containers": [{"name": "app", "image": "nginx"}]},
        })

    def bodies(self, step: str, run: int, n: int) -> list[str]:
        """``n`` message bodies for ``step``, each on objects of its own, prepared up to the step."""
        from podnet.ports import PODNETWORKINGS, PODS

        out: list[str] = []
        for i in range(n):
            name = f"bench-{step}-{run}-{i}"
            if step == "reconcile":
                self.admin.create(PODNETWORKINGS, podnetworking(name, "vsw-g1"))
                out.append(envelope("reconcile", "PodNetworking", name, "ADDED"))
            elif step == "sweep":
                out.append("")  # a timer event, see events_for
            else:
                self.pod(name)
                key = f"default/{name}"
                if step in ("bind", "release"):
                    self.run("allocate", envelope("allocate", "Pod", key))
                if step == "release":
                    self.run("bind", envelope("bind", "Pod", key))
                    self.admin.delete(PODS, name, "default")
                out.append(envelope(step, "Pod", key, "DELETED" if step == "release" else "ADDED"))
        return out


def podnetworking(name: str, vswitch: str) -> dict[str, Any]:
    return {
        "apiVersion": "network.alibabacloud.com/v1beta1",
        "kind": "PodNetworking",
        "metadata": {"name": name},
        "spec": {"eniOptions": {"eniType": "Default"}, "securityGroupIDs": ["sg-bench0001"], "vSwitchOptions": [vswitch]},
    }


def envelope(step: str, kind: str, key: str, event_type: str = "SYNC") -> str:
    from podnet.steps.messages import Envelope

    return Envelope(step=step, kind=kind, key=key, eventType=event_type).to_body()  # type: ignore[arg-type]


def events_for(step: str, bodies: list[str]) -> list[Any]:
    """FC invocation payloads: EventBridge MNS CloudEvents, the timer event, or the admission HTTP event."""
    if step == "sweep":
        timer = json.loads((ROOT / "events" / "sweep-timer.json").read_text())
        return [timer for _ in bodies]
    if step == "validate":
        review = json.loads((ROOT / "events" / "validate-http-pod-create.json").read_text())
        return [review for _ in bodies]
    sample = json.loads((ROOT / "events" / "allocate-eventbridge-mns-single.json").read_text())
    out = []
    for i, body in enumerate(bodies):
        ev = copy.deepcopy(sample)
        ev["subject"] = f"acs:mns:{REGION}:123456789012:queues/podnet-{step}"
        ev["data"]["messageId"] = f"BENCH-{step}-{i}"
        ev["data"]["messageBody"] = body
        out.append(ev)
    return out


def run_child(step: str, events: list[Any], env: dict[str, str], tmp: Path) -> dict[str, Any]:
    path = tmp / f"{step}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(events))
    child_env = {**os.environ, **env}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", step, "--events-file", str(path)],
        env=child_env, capture_output=True, text=True, timeout=300, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{step} child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(steps: list[str], runs: int, warm: int) -> list[dict[str, Any]]:
    from podnet.ports import PODENIS, PODNETWORKINGS, PODS

    rows = []
    with World() as world, tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for step in steps:
            results = []
            # the sweep's cost grows with the cluster: say how big it was
            size = {"pods": len(world.kube_backend.items(PODS)), "podENIs": len(world.kube_backend.items(PODENIS)),
                    "podNetworkings": len(world.kube_backend.items(PODNETWORKINGS)),
                    "enis": len(world.cloud_backend.enis)}
            for r in range(runs):
                bodies = world.bodies(step, r, 1 + warm) if step != "validate" else [""] * (1 + warm)
                results.append(run_child(step, events_for(step, bodies), world.env, tmp))

            def med(key: str, results: list[dict[str, Any]] = results) -> float:
                return statistics.median(x[key] for x in results)

            outcomes: dict[str, int] = {}
            for x in results:
                for o in x["outcomes"]:
                    outcomes[o] = outcomes.get(o, 0) + 1
            cold = statistics.median(x["import_ms"] + x["init_ms"] + x["first_ms"] for x in results)
            rows.append({
                "step": step, "import_ms": med("import_ms"), "init_ms": med("init_ms"), "first_ms": med("first_ms"),
                "cold_ms": cold, "warm_ms": med("warm_ms"), "runs": runs, "warm_events": warm,
                "outcomes": outcomes, "world": size,
            })
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'handler':<10} {'import':>8} {'init':>8} {'first msg':>10} {'cold total':>11} {'warm/msg':>9}  "
             f"{'verdict':<8} outcomes",
             "-" * 96]
    for r in rows:
        verdict = "ok" if r["cold_ms"] <= TARGET_MS else "OVER"
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(r["outcomes"].items()))
        lines.append(f"{r['step']:<10} {r['import_ms']:>8.1f} {r['init_ms']:>8.1f} {r['first_ms']:>10.1f} "
                     f"{r['cold_ms']:>11.1f} {r['warm_ms']:>9.1f}  {verdict:<8} {outcomes}")
    over = [r["step"] for r in rows if r["cold_ms"] > TARGET_MS]
    lines.append("-" * 96)
    lines.append(f"times in ms; median of {rows[0]['runs']} fresh processes (warm: median of {rows[0]['warm_events']} "
                 f"events); target: cold total <= {TARGET_MS:.0f} ms")
    sweep = next((r for r in rows if r["step"] == "sweep"), None)
    if sweep is not None:
        w = sweep["world"]
        lines.append(f"sweep world: {w['pods']} pods, {w['podENIs']} PodENIs, {w['podNetworkings']} PodNetworkings, "
                     f"{w['enis']} ENIs (each sweep lists them all)")
    lines.append("verdict: " + ("all handlers within target" if not over else f"over target: {', '.join(over)}"))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated handlers")
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per handler (median)")
    ap.add_argument("--warm", type=int, default=20, help="warm events per process (median)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--events-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.events_file)))
        return
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        ap.error(f"unknown handlers: {', '.join(unknown)}")
    rows = measure(steps, args.runs, args.warm)
    print(json.dumps(rows, indent=2) if args.json else render(rows))


if __name__ == "__main__":
    main()
