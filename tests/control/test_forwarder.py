"""The watch-forwarder against the fake API server (over HTTP) and the fake MNS / in-memory queues."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from podnet.adapters.kube_http import HttpKube
from podnet.adapters.memory_queue import InMemoryQueue
from podnet.adapters.mns_queue import MnsQueue
from podnet.clock import SimClock, SystemClock
from podnet.errors import RetryableError
from podnet.fakes.kube.backend import KubeBackend
from podnet.fakes.kube.server import FakeKubeServer
from podnet.fakes.mns.backend import MNSBackend
from podnet.fakes.mns.server import FakeMNSServer
from podnet.forwarder import CHECKPOINT_NAME, ConfigMapCheckpoint, Forwarder
from podnet.ports import NAMESPACES, PODNETWORKINGS, PODS, Resource
from podnet.steps.context import queue_name
from podnet.steps.messages import STEP_NAMES, Envelope, parse_envelope

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", True)
REQUEST = json.dumps([{"interfaceName": "eth1", "network": "net-a"}])


class Cluster:
    """A fake API server on loopback and a client for it."""

    def __init__(self, history: int = 1000) -> None:
        self.backend = KubeBackend(clock=SimClock(), history=history)
        self.server = FakeKubeServer(self.backend, bookmark_interval_s=0.2).start()
        self.kube = HttpKube(self.server.url, token="system:serviceaccount:kube-system:podnet-forwarder")
        for ns in ("default", "kube-system"):  # a real cluster's resourceVersion is never 0 ("any")
            self.kube.create(NAMESPACES, {"metadata": {"name": ns}})

    def pod(self, name: str, *, networks: bool = True, node: str | None = "node-1") -> dict[str, Any]:
        md: dict[str, Any] = {"name": name, "namespace": "default"}
        if networks:
            md["annotations"] = {"k8s.aliyun.com/pod-networks-request": REQUEST}
        spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
        if node:
            spec["nodeName"] = node
        return self.kube.create(PODS, {"metadata": md, "spec": spec})

    def network(self, name: str) -> dict[str, Any]:
        return self.kube.create(PODNETWORKINGS, {
            "metadata": {"name": name},
            "spec": {"securityGroupIDs": ["sg-aaaa"], "vSwitchOptions": ["vsw-a"]},
        })

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.stop()


@pytest.fixture
def queues() -> dict[str, InMemoryQueue]:
    return {s: InMemoryQueue(queue_name("podnet", s), SystemClock()) for s in STEP_NAMES}


def envelopes(q: InMemoryQueue) -> list[Envelope]:
    return [parse_envelope(b) for b in q.bodies()]


def keys(q: InMemoryQueue, event_type: str | None = None) -> set[str]:
    return {e.key for e in envelopes(q) if event_type is None or e.eventType == event_type}


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


# --- relist and watch ------------------------------------------------------------------------------
def test_relist_sends_sync_for_network_pods_and_podnetworkings(cluster: Cluster, queues: dict[str, InMemoryQueue]) -> None:
    cluster.pod("wants")
    cluster.pod("plain", networks=False)
    cluster.pod("unscheduled", node=None)
    cluster.network("net-a")
    fwd = Forwarder(cluster.kube, queues)

    rv_pods = fwd.relist(PODS)
    rv_nets = fwd.relist(PODNETWORKINGS)

    alloc = envelopes(queues["allocate"])
    assert [(e.key, e.kind, e.eventType) for e in alloc] == [("default/wants", "Pod", "SYNC")]
    assert alloc[0].uid and alloc[0].resourceVersion  # the steps compare these with what they read
    rec = envelopes(queues["reconcile"])
    assert [(e.key, e.kind, e.eventType) for e in rec] == [("net-a", "PodNetworking", "SYNC")]
    assert len(queues["release"]) == 0 and len(queues["bind"]) == 0
    assert fwd.seen_rv == {"pods": rv_pods, "podnetworkings": rv_nets}
    assert int(rv_nets) >= int(rv_pods) > 0


def test_watch_once_forwards_added_modified_deleted(cluster: Cluster, queues: dict[str, InMemoryQueue]) -> None:
    fwd = Forwarder(cluster.kube, queues)
    rv = fwd.relist(PODS)
    p = cluster.pod("web-0")
    cluster.kube.patch(PODS, "web-0", {"metadata": {"labels": {"x": "y"}}}, namespace="default")
    cluster.pod("plain", networks=False)
    cluster.kube.delete(PODS, "web-0", "default")

    last = fwd.watch_once(PODS, rv, timeout_s=1)

    assert [(e.key, e.eventType) for e in envelopes(queues["allocate"])] == [
        ("default/web-0", "ADDED"), ("default/web-0", "MODIFIED")]
    assert [(e.key, e.eventType, e.uid) for e in envelopes(queues["release"])] == [
        ("default/web-0", "DELETED", p["metadata"]["uid"])]
    assert last == cluster.backend.resource_version  # bookmarks carry it to the head
    assert fwd.seen_rv["pods"] == last


def test_too_old_resource_version_relists() -> None:
    cluster = Cluster(history=3)
    queues = {s: InMemoryQueue(queue_name("podnet", s), SystemClock()) for s in STEP_NAMES}
    try:
        checkpoint = ConfigMapCheckpoint(cluster.kube, "kube-system")
        checkpoint.save("pods", "1")  # far behind: the ring of 3 no longer has it after these writes
        for i in range(6):
            cluster.pod(f"p{i}")
        lists_before = cluster.backend.calls["list:pods"]
        fwd = Forwarder(cluster.kube, queues, checkpoint=checkpoint, resources=(PODS,), watch_timeout_s=1)
        t = threading.Thread(target=fwd.run_resource, args=(PODS,), daemon=True)
        t.start()
        assert wait_for(lambda: keys(queues["allocate"], "SYNC") == {f"default/p{i}" for i in range(6)})
        fwd.stop()
        t.join(5)
        assert not t.is_alive()
        assert cluster.backend.calls["list:pods"] > lists_before
        assert int(checkpoint.load()["pods"]) > 1  # moved on to the relist's version
    finally:
        cluster.stop()


# --- checkpoint and restart ----------------------------------------------------------------------
def test_restart_resumes_from_the_checkpoint_without_losing_events(
    cluster: Cluster, queues: dict[str, InMemoryQueue]
) -> None:
    checkpoint = ConfigMapCheckpoint(cluster.kube, "kube-system")
    first = Forwarder(cluster.kube, queues, checkpoint=checkpoint, resources=(PODS,), watch_timeout_s=1).start()
    cluster.pod("a")
    assert wait_for(lambda: "default/a" in keys(queues["allocate"]))
    first.stop()
    first.join(3)
    saved = checkpoint.load()["pods"]
    assert int(saved) > 0
    cm = cluster.kube.get(CONFIGMAPS, CHECKPOINT_NAME, "kube-system")
    assert cm is not None and cm["data"]["pods"] == saved

    # while the forwarder is down
    cluster.pod("b")
    cluster.pod("c")
    cluster.kube.delete(PODS, "a", "default")
    lists_before = cluster.backend.calls["list:pods"]

    second = Forwarder(cluster.kube, queues, checkpoint=checkpoint, resources=(PODS,), watch_timeout_s=1).start()
    try:
        assert wait_for(lambda: {"default/b", "default/c"} <= keys(queues["allocate"], "ADDED")
                        and "default/a" in keys(queues["release"], "DELETED"))
    finally:
        second.stop()
        second.join(3)
    assert cluster.backend.calls["list:pods"] == lists_before  # resumed by watching, no relist
    assert int(checkpoint.load()["pods"]) > int(saved)


def test_a_failed_send_is_retried_not_dropped(cluster: Cluster, queues: dict[str, InMemoryQueue]) -> None:
    real_send = queues["allocate"].send
    failures = {"left": 1}

    def flaky_send(bodies: list[str], delay_s: int = 0) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RetryableError("MNS unavailable")
        real_send(bodies, delay_s)

    queues["allocate"].send = flaky_send  # type: ignore[method-assign]
    checkpoint = ConfigMapCheckpoint(cluster.kube, "kube-system")
    checkpoint.save("pods", cluster.backend.resource_version)  # start by watching: the sender thread sends
    fwd = Forwarder(cluster.kube, queues, checkpoint=checkpoint, resources=(PODS,), watch_timeout_s=1)
    fwd.start()
    try:
        cluster.pod("lost")
        assert wait_for(lambda: failures["left"] == 0)
        cluster.pod("later")
        assert wait_for(lambda: "default/later" in keys(queues["allocate"]))
        assert wait_for(lambda: "default/lost" in keys(queues["allocate"]), timeout=1.0)
    finally:
        fwd.stop()
        fwd.join(3)


# --- batching -----------------------------------------------------------------------------------
def test_more_than_16_events_go_out_in_batches_of_16(cluster: Cluster) -> None:
    mns = MNSBackend(clock=SystemClock())
    calls: list[int] = []
    real = mns.send_messages

    def counting(queue: str, messages: list[Any], **kw: Any) -> Any:
        calls.append(len(messages))
        return real(queue, messages, **kw)

    mns.send_messages = counting  # type: ignore[method-assign]
    for s in STEP_NAMES:
        mns.create_queue(queue_name("podnet", s))
    with FakeMNSServer(mns) as server:
        queues = {s: MnsQueue(server.url, queue_name("podnet", s), access_key_id="ak", access_key_secret="sk")
                  for s in STEP_NAMES}
        for i in range(40):
            cluster.pod(f"p{i:02d}")
        fwd = Forwarder(cluster.kube, queues)
        fwd.relist(PODS)
        assert calls == [16, 16, 8]
        assert mns.stats(queue_name("podnet", "allocate")).visible == 40
        # a watch burst is split the same way
        rv = cluster.backend.resource_version
        calls.clear()
        for i in range(20):
            cluster.kube.patch(PODS, f"p{i:02d}", {"metadata": {"labels": {"n": str(i)}}}, namespace="default")
        fwd.watch_once(PODS, rv, timeout_s=1)
        assert sum(calls) == 20 and max(calls) <= 16
        assert mns.stats(queue_name("podnet", "allocate")).visible == 60
    mns.close()


# --- the command ---------------------------------------------------------------------------------
def test_podnet_forwarder_command_forwards_and_stops_on_sigterm(cluster: Cluster, tmp_path: Any) -> None:
    mns = MNSBackend(clock=SystemClock())
    for s in [*STEP_NAMES, "dead-letter"]:
        mns.create_queue(f"podnet-{s}")
    cluster.pod("before")
    heartbeat = tmp_path / "alive"
    with FakeMNSServer(mns) as server:
        env = {**os.environ, "PODNET_KUBE_URL": cluster.server.url, "PODNET_KUBE_TOKEN": "forwarder",
               "PODNET_MNS_ENDPOINT": server.url, "ALIBABA_CLOUD_ACCESS_KEY_ID": "ak",
               "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sk"}
        env.pop("KUBERNETES_SERVICE_HOST", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "podnet.cli", "forwarder", "--namespace", "kube-system", "--watch-timeout", "10",
             "--heartbeat-file", str(heartbeat)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            allocate_q = queue_name("podnet", "allocate")
            assert wait_for(lambda: mns.stats(allocate_q).visible >= 1, timeout=10)
            cluster.pod("after")
            assert wait_for(lambda: mns.stats(allocate_q).visible >= 2, timeout=5)
            assert heartbeat.exists()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    mns.close()
    assert proc.returncode == 0, err
    logs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert logs and all({"ts", "level", "logger", "msg"} <= set(rec) for rec in logs)
    assert any("stopped" in rec["msg"] for rec in logs)
    state = cluster.kube.get(CONFIGMAPS, CHECKPOINT_NAME, "kube-system")
    assert state is not None and int(state["data"]["pods"]) > 0
