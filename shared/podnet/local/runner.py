"""The whole system in one process: fakes on loopback, the forwarder, every step, the timer.

Everything crosses the same boundaries as in production: the forwarder watches the fake API server
over HTTP, messages go through the fake MNS via the real MNS SDK, and steps call ECS/VPC through the
real Tea OpenAPI client. Time is simulated: delayed messages and visibility timeouts up to
``settle_s`` away are waited out by moving the clock; longer waits need a scenario ``advance``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from podnet.adapters.cloud import CloudCredentials, OpenApiCloud
from podnet.adapters.config import Settings
from podnet.adapters.kube_http import HttpKube
from podnet.adapters.mns_queue import MnsQueue
from podnet.clock import SimClock
from podnet.domain.duration import parse_go_duration
from podnet.errors import Conflict, KubeError, NotFound
from podnet.fakes.cloud.backend import CloudBackend
from podnet.fakes.cloud.server import FakeCloudServer
from podnet.fakes.kube.backend import KubeBackend
from podnet.fakes.kube.server import FakeKubeServer
from podnet.fakes.mns.backend import MNSBackend
from podnet.fakes.mns.server import FakeMNSServer
from podnet.forwarder import Forwarder
from podnet.local.cluster import Scheduler, node_object, pods_for_workload
from podnet.local.scenario import DeleteRef, Scenario
from podnet.ports import NODES, PODS, RESOURCES, Resource
from podnet.steps.context import QueueOutbox, StepContext, dead_letter_queue_name, queue_name
from podnet.steps.dispatch import process_message
from podnet.steps.messages import STEP_NAMES
from podnet.steps.sweep import sweep

SYSTEM_USER = "system:serviceaccount:kube-system:podnet"
ADMIN_USER = "kubernetes-admin"
SCHEDULER_USER = "system:kube-scheduler"
QUEUE_PREFIX = "podnet"
WORKLOAD_KINDS = {"StatefulSet", "Deployment"}


class FunctionCrashed(BaseException):
    """Raised (by tests' fault wrappers) to simulate a function instance dying mid-step."""


@dataclass
class Rejection:
    """An object the system refused, with its reasons."""

    kind: str
    namespace: str
    name: str
    reasons: list[dict[str, str]]


@dataclass
class RunStats:
    crashes: int = 0
    messages: int = 0
    retried: int = 0
    dead_lettered: int = 0
    sweeps: int = 0


class LocalSystem:
    """Fakes + forwarder + steps, driven step by step by a Scenario."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        settle_s: float = 120.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.settle = timedelta(seconds=settle_s)
        self.max_settle_real_s = 600.0
        self.progress = progress
        self.clock = SimClock()
        self.settings = Settings(cluster_id="c-podnet-local", region=scenario.cloud.region, platform=scenario.platform)
        self.stats = RunStats()
        self.rejected: list[Rejection] = []
        self.workloads: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._refused_pods: set[tuple[str, str]] = set()
        self.scheduler = Scheduler()
        self._last_sweep: datetime | None = None
        self._process: Callable[..., str] = process_message  # tests wrap it (e.g. to deliver twice)
        self._started = time.monotonic()
        self._last_progress = 0.0

    # --- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> LocalSystem:
        sc = self.scenario
        self.kube_backend = KubeBackend(clock=self.clock, history=1_000_000)
        self.cloud_backend = CloudBackend(clock=self.clock, region=sc.cloud.region)
        self.mns_backend = MNSBackend(clock=self.clock)
        self.kube_server = FakeKubeServer(self.kube_backend).start()
        self.cloud_server = FakeCloudServer(self.cloud_backend).start()
        self.mns_server = FakeMNSServer(self.mns_backend).start()

        self.kube = HttpKube(self.kube_server.url, token=SYSTEM_USER)
        self.admin = HttpKube(self.kube_server.url, token=ADMIN_USER)
        self.scheduler_api = HttpKube(self.kube_server.url, token=SCHEDULER_USER)
        self.cloud = OpenApiCloud(
            region=sc.cloud.region,
            ecs_endpoint=self.cloud_server.endpoint,
            vpc_endpoint=self.cloud_server.endpoint,
            credentials=CloudCredentials("local-ak", "local-sk"),
            protocol="http",
            clock=self.clock,
            transport="signed",  # what Function Compute runs (podnet.fc), so end-to-end runs exercise it
        )
        names = {step: queue_name(QUEUE_PREFIX, step) for step in STEP_NAMES}
        for qn in [*names.values(), dead_letter_queue_name(QUEUE_PREFIX)]:
            self.mns_backend.create_queue(qn)
        self.queues = {
            step: MnsQueue(self.mns_server.url, qn, access_key_id="local-ak", access_key_secret="local-sk")
            for step, qn in names.items()
        }
        self.dlq = MnsQueue(self.mns_server.url, dead_letter_queue_name(QUEUE_PREFIX), access_key_id="local-ak",
                            access_key_secret="local-sk")
        self.ctx = StepContext(self.kube, self.cloud, QueueOutbox(self.queues, self.dlq), self.clock, self.settings)

        from podnet.admission import local_admission_hook

        hook = local_admission_hook(self.kube, system_user=SYSTEM_USER, platform=sc.platform)

        def recording_hook(request: Any) -> Any:
            answer = hook(request)
            if answer is not None and not answer.allowed and request.operation in ("CREATE", "UPDATE"):
                reasons = list(getattr(answer, "reasons", None) or []) or [
                    {"field": "", "code": answer.reason or "Denied", "message": answer.message}
                ]
                self.rejected.append(Rejection(request.kind, request.namespace or "", request.name, reasons))
            return answer

        self.kube_backend.add_admission_hook(recording_hook, name="podnet.alibabacloud.com")
        self._seed_cluster()
        self._last_sweep = self.clock.now()  # the timer's period starts with the system
        self.forwarder = Forwarder(self.kube, self.queues, watch_timeout_s=30).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.forwarder.stop()
        for server in (self.kube_server, self.cloud_server, self.mns_server):
            server.stop()
        self.forwarder.join(timeout=2)

    def _seed_cluster(self) -> None:
        sc = self.scenario
        instances = self.cloud_backend.seed_from_scenario(
            sc.cloud.model_dump(by_alias=True, exclude_none=True), [n.model_dump() for n in sc.nodes]
        )
        for node in sc.nodes:
            inst = instances[node.name]
            self.admin.create(NODES, node_object(node.name, node.zone, sc.cloud.region, inst.instance_id, inst.trunk_eni_id))
        for ns in ("default", "kube-system"):
            try:
                self.admin.create(RESOURCES["Namespace"], {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            except Conflict:
                pass

    # --- scenario steps -----------------------------------------------------------------------------
    def apply(self, objects: list[dict[str, Any]]) -> None:
        """Apply objects as a user would; PodNetworkings first, and Ready before the rest is admitted."""
        networkings = [o for o in objects if o.get("kind") == "PodNetworking"]
        rest = [o for o in objects if o.get("kind") != "PodNetworking"]
        for obj in networkings:
            self._apply_one(obj)
        if networkings:
            self.run_until_quiescent()
        for obj in rest:
            self._apply_one(obj)
        self.run_until_quiescent()

    def _apply_one(self, obj: dict[str, Any]) -> None:
        kind = obj.get("kind", "")
        md = obj.get("metadata") or {}
        if kind in WORKLOAD_KINDS:
            key = (kind, md.get("namespace") or "default", md.get("name", ""))
            self._refused_pods = {k for k in self._refused_pods if k[0] != key[1]}  # re-applied: try again
            self.workloads[key] = {**obj, "metadata": {**md, "namespace": key[1], "uid": f"uid-{kind}-{key[1]}-{key[2]}"}}
            return
        res = RESOURCES.get(kind)
        if res is None:
            self.rejected.append(Rejection(kind, md.get("namespace", ""), md.get("name", ""),
                                           [{"field": "kind", "code": "UnsupportedKind",
                                             "message": f"podnet local does not simulate {kind or 'objects without a kind'}"}]))
            return
        obj = dict(obj)
        if res.namespaced:
            obj["metadata"] = {**md, "namespace": md.get("namespace") or "default"}
        try:
            self.admin.create(res, obj)
        except Conflict:
            # Already there: merge what was given, as `kubectl apply` would, keeping what the system wrote.
            patch = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
            patch["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in ("name", "namespace")}
            try:
                self.admin.patch(res, md.get("name", ""), patch, namespace=obj["metadata"].get("namespace") if res.namespaced else None)
            except KubeError as e:
                self._record_api_rejection(obj, e)
        except KubeError as e:
            self._record_api_rejection(obj, e)

    def delete(self, ref: DeleteRef) -> None:
        if ref.kind in WORKLOAD_KINDS:
            self.workloads.pop((ref.kind, ref.namespace or "default", ref.name), None)
            return
        res = RESOURCES.get(ref.kind)
        if res is None:
            raise ValueError(f"delete: unknown kind {ref.kind}")
        try:
            self.admin.delete(res, ref.name, (ref.namespace or "default") if res.namespaced else None)
        except NotFound:
            pass
        self.run_until_quiescent()

    def delete_pod(self, name: str, namespace: str = "default") -> None:
        """Delete a Pod as a user would, and let the system react."""
        self.delete(DeleteRef(kind="Pod", name=name, namespace=namespace))

    def advance(self, duration: str) -> None:
        """Move simulated time forward, running due messages and timer sweeps on the way."""
        target = self.clock.now() + parse_go_duration(duration)
        self.run_until_quiescent(horizon=target)
        while True:
            nxt = self._next_due()
            if nxt is None or nxt > target:
                break
            self.clock.set(nxt)
            self._maybe_sweep()
            self.run_until_quiescent(horizon=target)
        self.clock.set(target)
        self._maybe_sweep()
        self.run_until_quiescent(horizon=target)

    # --- the engine ---------------------------------------------------------------------------------
    def _maybe_sweep(self) -> None:
        period = timedelta(seconds=self.settings.sweep_period_s)
        now = self.clock.now()
        if self._last_sweep is None:
            self._last_sweep = now
        sweeps = 0
        if now - self._last_sweep >= period:
            # The timer fired at least once since the last sweep; the GC needs two sightings, so a
            # window of two or more periods runs two sweeps (coalesced: one per period would be slow).
            sweeps = 2 if now - self._last_sweep >= 2 * period else 1
        for _ in range(sweeps):
            try:
                sweep(self.ctx, None)
            except FunctionCrashed:
                self.stats.crashes += 1  # the timer fires again next period
            self.stats.sweeps += 1
            self.run_until_quiescent(horizon=now)
        if sweeps:
            self._last_sweep = now

    def _next_due(self) -> datetime | None:
        times = [t for t in (self.mns_backend.next_visible_at(q.name) for q in self.queues.values()) if t]
        return min(times) if times else None

    def _forwarder_caught_up(self) -> bool:
        """True when the forwarder has seen every change to the resources it watches."""
        for res in self.forwarder.resources:
            rv = self.forwarder.seen_rv.get(res.plural)
            if rv is None:
                return False
            try:
                if self.kube_backend.events_since(rv, res):
                    return False
            except Exception:  # compacted past the forwarder's position: it is relisting
                return False
        return True

    def _reconcile_cluster(self) -> bool:
        """Run the simulated controllers and scheduler; True when they changed something."""
        changed = False
        pods, _ = self.admin.list(PODS)
        names = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}
        for (_kind, ns, _name), wl in list(self.workloads.items()):
            for pod in pods_for_workload(wl, [n for (pns, n) in names if pns == ns]):
                key = (ns, pod["metadata"]["name"])
                if key in self._refused_pods:
                    continue  # a controller would retry with backoff; one refusal is the result here
                before = len(self.rejected)
                self._apply_one(pod)
                if len(self.rejected) > before:
                    self._refused_pods.add(key)
                else:
                    changed = True
        if changed:
            pods, _ = self.admin.list(PODS)
        nodes, _ = self.admin.list(NODES)
        for pod in pods:
            spec = pod.get("spec") or {}
            md = pod["metadata"]
            if spec.get("nodeName") or md.get("deletionTimestamp"):
                continue
            node = self.scheduler.choose(pod, nodes)
            if node is None:
                if not md.get("annotations", {}).get("podnet.local/unschedulable"):
                    self.ctx.event(pod, "Warning", "FailedScheduling", "0 nodes match the pod's node affinity (zone)")
                    self.scheduler_api.patch(PODS, md["name"], {"metadata": {"annotations": {"podnet.local/unschedulable": "true"}}},
                                             namespace=md["namespace"])
                continue
            # pods/binding, as kube-scheduler does (spec.nodeName is immutable through updates)
            self.kube_backend.bind_pod(md["name"], md["namespace"], node["metadata"]["name"], user=SCHEDULER_USER)
            self.scheduler_api.patch(PODS, md["name"], {"status": {"phase": "Running"}}, namespace=md["namespace"],
                                     subresource="status")
            changed = True
        return changed

    def run_until_quiescent(self, horizon: datetime | None = None) -> None:
        """Process messages until none is visible and none is due within the settle window (or ``horizon``)."""
        idle_rounds = 0
        started = time.monotonic()
        while True:
            if time.monotonic() - started > self.max_settle_real_s:
                raise RuntimeError(
                    f"the system did not settle within {self.max_settle_real_s:.0f}s of real time "
                    f"({self.stats.messages} messages handled); something keeps producing work"
                )
            self._report_progress()
            if self._reconcile_cluster():
                idle_rounds = 0
            self._wait_forwarder()
            handled = 0
            for step, queue in self.queues.items():
                for msg in queue.receive(max_messages=16, wait_s=0):
                    handled += 1
                    self._handle(step, queue, msg)
            if handled:
                idle_rounds = 0
                continue
            idle_rounds += 1
            if idle_rounds < 2:
                continue  # one more look: the forwarder may still be delivering the last writes
            nxt = self._next_due()
            limit = horizon if horizon is not None else self.clock.now() + self.settle
            if nxt is not None and nxt <= limit:
                self.clock.set(nxt)
                idle_rounds = 0
                continue
            return

    def _handle(self, step: str, queue: MnsQueue, msg: Any) -> None:
        self.stats.messages += 1
        try:
            outcome = self._process(self.ctx, step, msg.body)
        except FunctionCrashed:
            # The function died mid-step: the message is not deleted, so MNS delivers it again
            # after its visibility timeout, exactly as a crashed FC invocation would be retried.
            self.stats.crashes += 1
            return
        if outcome == "retried":
            self.stats.retried += 1
        elif outcome == "dead":
            self.stats.dead_lettered += 1
        queue.delete(msg.receipt_handle)

    def _wait_forwarder(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._forwarder_caught_up() and time.monotonic() < deadline:
            time.sleep(0.002)

    def _report_progress(self) -> None:
        if self.progress is None:
            return
        elapsed = time.monotonic() - self._started
        if elapsed > 2.0 and elapsed - self._last_progress >= 1.0:
            self._last_progress = elapsed
            self.progress(
                f"[podnet local] {elapsed:.0f}s · sim time {self.clock.now():%Y-%m-%d %H:%M:%S} · "
                f"{self.stats.messages} messages ({self.stats.retried} retried)"
            )

    # --- rejections ---------------------------------------------------------------------------------
    def _record_api_rejection(self, obj: dict[str, Any], e: KubeError) -> None:
        md = obj.get("metadata") or {}
        key = (obj.get("kind", ""), md.get("namespace", ""), md.get("name", ""))
        if any((r.kind, r.namespace, r.name) == key for r in self.rejected):
            return  # the admission hook already recorded it with structured reasons
        self.rejected.append(Rejection(*key, [{"field": "", "code": e.reason or str(e.status), "message": e.message}]))

    # --- results ------------------------------------------------------------------------------------
    def dead_letters(self) -> list[dict[str, Any]]:
        """Drain the dead-letter queue: [{reason, body}]."""
        out: list[dict[str, Any]] = []
        while True:
            msgs = self.dlq.receive(max_messages=16, wait_s=0)
            if not msgs:
                return out
            for m in msgs:
                try:
                    out.append(json.loads(m.body))
                except ValueError:
                    out.append({"reason": "unreadable dead letter", "body": m.body})
                self.dlq.delete(m.receipt_handle)

    def list(self, res: Resource) -> list[dict[str, Any]]:
        items, _ = self.admin.list(res)
        return sorted(items, key=lambda o: ((o["metadata"].get("namespace") or ""), o["metadata"]["name"]))

    def snapshot(self) -> dict[str, Any]:
        """The ``--output json`` document (spec §6)."""
        from podnet.local.report import build_report

        return build_report(self)


def run_steps(system: LocalSystem, steps: list[tuple[str, Any]]) -> None:
    """Run resolved scenario steps (("apply", objects) | ("delete", [refs]) | ("advance", "30m"))."""
    system.run_until_quiescent()
    for verb, arg in steps:
        if verb == "apply":
            system.apply(arg)
        elif verb == "advance":
            system.advance(arg)
        else:
            for ref in arg:
                system.delete(ref)
    system.run_until_quiescent()


def run_scenario(
    scenario: Scenario, steps: list[tuple[str, Any]], *, progress: Callable[[str], None] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run every step of a scenario; returns the final report and the dead letters."""
    with LocalSystem(scenario, progress=progress) as system:
        run_steps(system, steps)
        return system.snapshot(), system.dead_letters()

