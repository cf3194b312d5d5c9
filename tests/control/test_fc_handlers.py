"""The FC handlers (functions/<step>/index.py + podnet.fc) with the sample events, against the fakes;
and the same steps run from one process by podnet.runloop / ``podnet run --once``."""

from __future__ import annotations

import base64
import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

import podnet.fc as fc
from podnet.adapters.cloud import CloudCredentials
from podnet.adapters.config import Settings
from podnet.adapters.kube_http import HttpKube
from podnet.adapters.memory_queue import InMemoryQueue
from podnet.clock import SimClock, SystemClock
from podnet.domain.models import NETWORK_STATUS
from podnet.errors import RetryableError
from podnet.fakes.cloud.backend import CloudBackend
from podnet.fakes.cloud.server import FakeCloudServer
from podnet.fakes.kube.backend import KubeBackend
from podnet.fakes.kube.server import FakeKubeServer
from podnet.fakes.mns.backend import MNSBackend
from podnet.fakes.mns.server import FakeMNSServer
from podnet.local.cluster import node_object
from podnet.ports import NAMESPACES, NODES, PODENIS, PODNETWORKINGS, PODS, Resource
from podnet.runloop import Consumer, build_step_context
from podnet.steps.context import StepContext, dead_letter_queue_name, queue_name
from podnet.steps.messages import STEP_NAMES, Envelope, parse_envelope

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
QUEUE_EVENTS = sorted(p.name for p in EVENTS.glob("*.json") if not p.name.startswith("validate-"))
VALIDATE_EVENTS = sorted(p.name for p in EVENTS.glob("validate-*.json"))
SYSTEM_USER = "system:serviceaccount:kube-system:podnet"
REGION, ZONE = "cn-hangzhou", "cn-hangzhou-g"
REQUEST = json.dumps([{"interfaceName": "eth0", "network": "primary-network", "defaultRoute": True},
                      {"interfaceName": "eth1", "network": "secondary-network"}])
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", True)
RESULT_KEYS = {"ok", "retried", "deadLettered", "failures"}


def raw(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def fc_context(ak: str = "fc-ak") -> SimpleNamespace:
    """What FC passes as ``context``: a request id and the function role's rotating STS triple."""
    return SimpleNamespace(request_id="req-1", credentials=SimpleNamespace(
        access_key_id=ak, access_key_secret=f"{ak}-secret", security_token=f"{ak}-token"))


# --- trigger events ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", QUEUE_EVENTS)
def test_sample_event_parses_into_envelopes_for_its_step(name: str) -> None:
    bodies = fc.message_bodies(raw(name))
    assert bodies
    envs = [parse_envelope(b) for b in bodies]
    step = name.split("-", 1)[0]
    assert {e.step for e in envs} == {step}
    if name.startswith("sweep"):
        assert [(e.kind, e.eventType) for e in envs] == [("Timer", "TIMER")]
    if "batch" in name:
        assert len(envs) == len(json.loads(raw(name))) > 1


def test_message_bodies_accepts_every_shape() -> None:
    body = Envelope(step="bind", kind="Pod", key="default/a").to_body()
    cloud_event = {"specversion": "1.0", "data": {"messageBody": body}}
    assert fc.message_bodies(json.dumps(cloud_event)) == [body]
    assert fc.message_bodies([cloud_event, cloud_event]) == [body, body]
    b64 = {"data": {"messageBody": base64.b64encode(body.encode()).decode(), "isBase64Encoded": True}}
    assert fc.message_bodies(json.dumps(b64).encode()) == [body]
    assert [parse_envelope(b) for b in fc.message_bodies(body.encode())] == [parse_envelope(body)]  # s invoke
    as_object = {"data": {"messageBody": json.loads(body)}}
    assert parse_envelope(fc.message_bodies(as_object)[0]) == parse_envelope(body)
    assert fc.message_bodies(b"not json at all") == ["not json at all"]  # the dispatcher dead-letters it
    with pytest.raises(fc.TriggerEventError):
        fc.message_bodies(b"\xff\xfe\x00")


# --- the fakes, seeded ---------------------------------------------------------------------------
class World:
    """kube-apiserver, ECS/VPC and MNS fakes on loopback (real time), with a trunk node, the two
    PodNetworkings and the two Pods the sample events name; Pods pass the admission hook."""

    def __init__(self) -> None:
        from podnet.admission import local_admission_hook

        clock = SystemClock()
        self.kube_backend = KubeBackend(clock=clock)
        self.cloud_backend = CloudBackend(clock, region=REGION, attach_delay=0)
        self.mns_backend = MNSBackend(clock=clock)
        self.kube_server = FakeKubeServer(self.kube_backend, bookmark_interval_s=0.2).start()
        self.cloud_server = FakeCloudServer(self.cloud_backend).start()
        self.mns_server = FakeMNSServer(self.mns_backend).start()
        for s in STEP_NAMES:
            self.mns_backend.create_queue(queue_name("podnet", s))
        self.mns_backend.create_queue(dead_letter_queue_name("podnet"))
        self.env = {
            "PODNET_KUBE_URL": self.kube_server.url, "PODNET_KUBE_TOKEN": SYSTEM_USER,
            "PODNET_ECS_ENDPOINT": self.cloud_server.endpoint, "PODNET_VPC_ENDPOINT": self.cloud_server.endpoint,
            "PODNET_CLOUD_PROTOCOL": "http", "PODNET_MNS_ENDPOINT": self.mns_server.url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "env-ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-sk",
            "PODNET_CLUSTER_ID": "c-test", "PODNET_REGION": REGION, "PODNET_QUEUE_PREFIX": "podnet",
        }
        self.admin = HttpKube(self.kube_server.url, token="kubernetes-admin")
        self.kube = HttpKube(self.kube_server.url, token=SYSTEM_USER)
        self.kube_backend.add_admission_hook(local_admission_hook(self.kube, system_user=SYSTEM_USER), name="podnet")
        self.cloud_backend.add_vswitch("vsw-g1", ZONE, "10.0.0.0/24")
        self.cloud_backend.add_vswitch("vsw-g2", ZONE, "10.0.1.0/24")
        inst = self.cloud_backend.add_instance("node-g1", ZONE, trunk=True)
        for ns in ("default", "kube-system"):
            self.admin.create(NAMESPACES, {"metadata": {"name": ns}})
        self.admin.create(NODES, node_object("node-g1", ZONE, REGION, inst.instance_id, inst.trunk_eni_id))
        for name, vsw in (("primary-network", "vsw-g1"), ("secondary-network", "vsw-g2")):
            self.admin.create(PODNETWORKINGS, {"metadata": {"name": name}, "spec": {
                "eniOptions": {"eniType": "Default"}, "securityGroupIDs": ["sg-test0001"], "vSwitchOptions": [vsw]}})

    def stop(self) -> None:
        for server in (self.kube_server, self.cloud_server, self.mns_server):
            server.stop()
        self.mns_backend.close()

    def pod(self, name: str) -> dict[str, Any]:
        return self.admin.create(PODS, {
            "metadata": {"name": name, "namespace": "default",
                         "annotations": {"k8s.aliyun.com/pod-networks-request": REQUEST}},
            "spec": {"nodeName": "node-g1", "containers": [{"name": "app", "image": "nginx"}]}})

    def visible(self, step: str) -> list[str]:
        """Bodies waiting in a queue (peeked, not consumed)."""
        name = dead_letter_queue_name("podnet") if step == "dead-letter" else queue_name("podnet", step)  # type: ignore[arg-type]
        return [m.body for m in self.mns_backend.peek(name, 16)]

    def ready(self, name: str) -> bool:
        obj = self.kube.get(PODNETWORKINGS, name)
        return bool(obj and (obj.get("status") or {}).get("status") == "Ready")


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    w.stop()


@pytest.fixture
def handlers(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """functions/<step>/index.py, imported fresh, with the environment pointing at the fakes and the
    instance initialized (podnet.fc caches the instance's context in ``_ctx``: reset for every test)."""
    for k, v in world.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(fc, "_ctx", None)
    modules = {}
    for step in [*STEP_NAMES, "validate"]:
        spec = importlib.util.spec_from_file_location(f"_fc_index_{step}", ROOT / "functions" / step / "index.py")
        assert spec is not None and spec.loader is not None
        modules[step] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[step])
    modules["allocate"].initialize(fc_context())  # one instance context serves every queue step here
    assert fc._ctx is not None
    yield modules


def invoke(handlers: dict[str, ModuleType], step: str, event: bytes | dict | list) -> dict[str, Any]:
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    out = handlers[step].handler(payload, fc_context())
    assert set(out) == RESULT_KEYS
    return out


def test_initializer_builds_the_context_from_the_environment(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**world.env, "PODNET_QUEUE_PREFIX": "custom"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(fc, "_ctx", None)
    initialize, _ = fc.handler_for("allocate")
    initialize(fc_context())
    ctx = fc._ctx
    assert ctx is not None
    assert {s: q.name for s, q in ctx.outbox.queues.items()} == {s: f"custom-{s}" for s in STEP_NAMES}
    assert ctx.outbox.dlq.name == "custom-dead-letter"
    assert ctx.settings.max_attempts >= 1 and ctx.settings.system_namespace == "kube-system"


# --- each sample event through its handler ------------------------------------------------------
@pytest.mark.parametrize("name", ["reconcile-eventbridge-mns-single.json", "reconcile-raw-envelope.json"])
def test_reconcile_events(handlers: dict[str, ModuleType], world: World, name: str) -> None:
    [env] = [parse_envelope(b) for b in fc.message_bodies(raw(name))]
    assert not world.ready(env.key)
    assert invoke(handlers, "reconcile", raw(name)) == {"ok": 1, "retried": 0, "deadLettered": 0, "failures": []}
    assert world.ready(env.key)
    assert world.cloud_backend.calls["DescribeVSwitches"] >= 1


def _ready_networks(handlers: dict[str, ModuleType]) -> None:
    for name in ("primary-network", "secondary-network"):
        body = Envelope(step="reconcile", kind="PodNetworking", key=name).to_body()
        assert invoke(handlers, "reconcile", body.encode())["ok"] == 1


@pytest.mark.parametrize("name", ["allocate-eventbridge-mns-single.json", "allocate-eventbridge-mns-batch.json"])
def test_allocate_events(handlers: dict[str, ModuleType], world: World, name: str) -> None:
    _ready_networks(handlers)
    keys = [parse_envelope(b).key for b in fc.message_bodies(raw(name))]
    for key in keys:
        world.pod(key.split("/")[1])
    out = invoke(handlers, "allocate", raw(name))
    assert (out["ok"], out["deadLettered"]) == (len(keys), 0), out
    for key in keys:
        ns, pod = key.split("/")
        podeni = world.kube.get(PODENIS, pod, ns)
        assert podeni is not None
        assert all(a["eni"].get("id", "").startswith("eni-") for a in podeni["spec"]["allocations"])
    bind = {parse_envelope(b).key for b in world.visible("bind")}
    assert bind == set(keys)  # handed to the next step through its MNS queue


def test_bind_event(handlers: dict[str, ModuleType], world: World) -> None:
    _ready_networks(handlers)
    [key] = [parse_envelope(b).key for b in fc.message_bodies(raw("bind-eventbridge-mns-single.json"))]
    ns, name = key.split("/")
    world.pod(name)
    invoke(handlers, "allocate", Envelope(step="allocate", kind="Pod", key=key).to_body().encode())
    out = invoke(handlers, "bind", raw("bind-eventbridge-mns-single.json"))
    assert out == {"ok": 1, "retried": 0, "deadLettered": 0, "failures": []}
    # attached, not yet confirmed: the step never sleeps, it looks again through a delayed message
    assert world.mns_backend.stats(queue_name("podnet", "bind")).delayed >= 1
    assert (world.kube.get(PODENIS, name, ns) or {}).get("status", {}).get("phase", "") == ""
    assert invoke(handlers, "bind", raw("bind-eventbridge-mns-single.json"))["ok"] == 1  # the redelivery
    podeni = world.kube.get(PODENIS, name, ns)
    assert podeni is not None and podeni["status"]["phase"] == "Bind"
    pod = world.kube.get(PODS, name, ns)
    assert pod is not None and NETWORK_STATUS in pod["metadata"]["annotations"]


def test_release_event(handlers: dict[str, ModuleType], world: World) -> None:
    _ready_networks(handlers)
    [key] = [parse_envelope(b).key for b in fc.message_bodies(raw("release-eventbridge-mns-single.json"))]
    ns, name = key.split("/")
    world.pod(name)
    for step in ("allocate", "bind", "bind"):
        assert invoke(handlers, step, Envelope(step=step, kind="Pod", key=key).to_body().encode())["ok"] == 1
    podeni = world.kube.get(PODENIS, name, ns)
    assert podeni is not None and podeni["status"]["phase"] == "Bind"
    enis = {a["eni"]["id"] for a in podeni["spec"]["allocations"]}
    world.admin.delete(PODS, name, ns)
    for _ in range(4):  # detach, then (delayed redelivery) delete: each invocation one step further
        out = invoke(handlers, "release", raw("release-eventbridge-mns-single.json"))
        assert (out["ok"], out["deadLettered"]) == (1, 0), out
        if world.kube.get(PODENIS, name, ns) is None:
            break
    assert world.kube.get(PODENIS, name, ns) is None  # Elastic: ENIs deleted, PodENI removed
    assert not enis & set(world.cloud_backend.enis)


def test_sweep_timer_event(handlers: dict[str, ModuleType], world: World) -> None:
    out = invoke(handlers, "sweep", raw("sweep-timer.json"))
    assert out == {"ok": 1, "retried": 0, "deadLettered": 0, "failures": []}
    # the sweep found the PodNetworkings that are not Ready and queued their reconcile
    assert {parse_envelope(b).key for b in world.visible("reconcile")} == {"primary-network", "secondary-network"}


@pytest.mark.parametrize("name", VALIDATE_EVENTS)
def test_validate_events(handlers: dict[str, ModuleType], world: World, monkeypatch: pytest.MonkeyPatch,
                         name: str) -> None:
    _ready_networks(handlers)
    module = handlers["validate"]
    monkeypatch.setattr(module, "_state", {})
    monkeypatch.delenv("PODNET_WEBHOOK_PATH_TOKEN", raising=False)
    module.initialize(fc_context())
    out = module.handler(raw(name), fc_context())
    answer = json.loads(out["body"])
    if "malformed" in name:
        assert out["statusCode"] == 400
        return
    assert out["statusCode"] == 200
    expected = "podnetworking" not in name  # the sample PodNetworking has no vSwitchOptions: rejected
    assert answer["response"]["allowed"] is expected


# --- failures never raise --------------------------------------------------------------------------
def test_malformed_events_are_dead_lettered_not_raised(handlers: dict[str, ModuleType], world: World) -> None:
    out = invoke(handlers, "allocate", b"\xff\xfe\x00")
    assert (out["ok"], out["deadLettered"]) == (0, 1) and out["failures"][0]["reason"]
    out = invoke(handlers, "allocate", {"data": {"messageBody": "{not json"}})
    assert (out["ok"], out["deadLettered"]) == (0, 1)
    good = Envelope(step="allocate", kind="Pod", key="default/nobody").to_body()
    out = invoke(handlers, "allocate", [{"data": {"messageBody": good}}, {"data": {"messageBody": '{"v": 9}'}}])
    assert (out["ok"], out["deadLettered"]) == (1, 1)  # one bad message does not sink the batch
    dead = [json.loads(b) for b in world.visible("dead-letter")]
    assert len(dead) == 3 and all(d["reason"] for d in dead)
    assert any("unknown message version" in d["reason"] for d in dead)


def test_a_message_for_another_step_is_forwarded(handlers: dict[str, ModuleType], world: World) -> None:
    body = Envelope(step="bind", kind="Pod", key="default/elsewhere").to_body()
    assert invoke(handlers, "reconcile", body.encode())["ok"] == 1
    assert [parse_envelope(b).key for b in world.visible("bind")] == ["default/elsewhere"]


def test_each_invocation_uses_the_context_credentials(handlers: dict[str, ModuleType]) -> None:
    handlers["sweep"].handler(raw("sweep-timer.json"), fc_context("rotated"))
    assert fc._ctx.cloud.credentials == CloudCredentials("rotated", "rotated-secret", "rotated-token")


# --- the same steps from one process ---------------------------------------------------------------
class _FailingOutbox:
    """An outbox whose sends fail (MNS down): a step's retry cannot be enqueued."""

    def send(self, envelope: Envelope, delay_s: float = 0) -> None:
        raise RetryableError("MNS unavailable")

    def dead_letter(self, body: str, reason: str) -> None:
        raise RetryableError("MNS unavailable")


def test_consumer_keeps_a_message_it_could_not_finish() -> None:
    clock = SimClock()
    q = InMemoryQueue("podnet-allocate", clock, visibility_timeout_s=30)
    q.send([Envelope(step="allocate", kind="Pod", key="default/a").to_body()])

    class BrokenKube:
        def get(self, *a: Any, **kw: Any) -> Any:
            raise RetryableError("apiserver down")

    ctx = StepContext(BrokenKube(), None, _FailingOutbox(), clock, Settings())  # type: ignore[arg-type]
    consumer = Consumer(ctx, {"allocate": q}, sweep_period_s=None)
    assert consumer.drain() == 1
    assert consumer.stats.crashed == 1 and len(q) == 1  # not deleted
    assert consumer.drain() == 0  # hidden by the visibility timeout...
    clock.advance(31)
    [again] = q.receive()  # ...then delivered again
    assert again.dequeue_count == 2


def test_consumer_deletes_handled_messages_and_follows_them_through_the_steps(world: World) -> None:
    clock = SystemClock()
    queues = {s: InMemoryQueue(queue_name("podnet", s), clock) for s in STEP_NAMES}
    dlq = InMemoryQueue("podnet-dead-letter", clock)
    ctx = build_step_context(world.kube, settings=Settings.from_env(world.env), queues=queues, dead_letter=dlq,
                             env=world.env)
    consumer = Consumer(ctx, queues, sweep_period_s=None)
    for name in ("primary-network", "secondary-network"):
        queues["reconcile"].send([Envelope(step="reconcile", kind="PodNetworking", key=name).to_body()])
    assert consumer.drain() == 2
    assert world.ready("primary-network") and world.ready("secondary-network")
    world.pod("web-0")
    queues["allocate"].send([Envelope(step="allocate", kind="Pod", key="default/web-0").to_body()])
    assert consumer.drain() == 2  # allocate, then the bind it enqueued (which attaches)
    # what is left is the bind's delayed look at the attachment: drain() leaves it for later
    assert [len(q) for q in queues.values()] == [0, 0, 1, 0, 0] and queues["bind"].visible() == 0
    assert len(dlq) == 0
    podeni = world.kube.get(PODENIS, "web-0", "default")
    assert podeni is not None and all(a["eni"]["id"] for a in podeni["spec"]["allocations"])
    assert consumer.stats.as_dict() == {"received": 4, "ok": 4, "retried": 0, "dead_lettered": 0, "crashed": 0,
                                        "sweeps": 0}


def test_consumer_threads_and_sweep_timer(world: World) -> None:
    clock = SystemClock()
    queues = {s: InMemoryQueue(queue_name("podnet", s), clock) for s in STEP_NAMES}
    dlq = InMemoryQueue("podnet-dead-letter", clock)
    ctx = build_step_context(world.kube, settings=Settings.from_env(world.env), queues=queues, dead_letter=dlq,
                             env=world.env)
    consumer = Consumer(ctx, queues, wait_s=1, sweep_period_s=0.2).start()
    try:
        # nothing is sent by hand: the timer's sweep finds the PodNetworkings that are not Ready, and the
        # reconcile consumer thread makes them Ready
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (world.ready("primary-network") and world.ready("secondary-network")):
            time.sleep(0.02)
        assert world.ready("primary-network") and world.ready("secondary-network")
        assert consumer.alive() and consumer.stats.sweeps >= 1
    finally:
        consumer.stop()
        consumer.join(timeout=3)
    assert not consumer.alive()
    assert all(len(q) == 0 for q in queues.values())


def test_podnet_run_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from podnet.commands.run import run

    for k, v in world.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    # first pass: the PodNetworkings become Ready (pods need Ready networks to be admitted)
    first = CliRunner().invoke(run, ["--once", "--log-level", "warning"])
    assert first.exit_code == 0, first.output
    assert world.ready("primary-network") and world.ready("secondary-network")
    world.pod("web-0")
    world.pod("web-1")
    second = CliRunner().invoke(run, ["--once", "--log-level", "warning"])
    assert second.exit_code == 0, second.output
    summary = json.loads(second.output.strip().splitlines()[-1])
    assert summary["crashed"] == 0 and summary["dead_lettered"] == 0 and summary["sweeps"] == 1
    for name in ("web-0", "web-1"):
        podeni = world.kube.get(PODENIS, name, "default")
        assert podeni is not None and podeni["status"]["phase"] == "Bind"
    state = world.kube.get(CONFIGMAPS, "podnet-forwarder-state", "kube-system")
    assert state is not None and set(state["data"]) == {"pods", "podnetworkings", "podenis"}
