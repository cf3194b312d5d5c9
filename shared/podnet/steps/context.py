"""What a step runs with: the ports, the clock, the settings, and an outbox for the next steps."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from podnet.clock import Clock
from podnet.domain.models import NodeFacts, format_k8s_time
from podnet.errors import Conflict, KubeError, PermanentError, RetryableError
from podnet.ports import EVENTS, NODES, CloudApi, KubeApi, Queue
from podnet.steps.messages import Envelope, StepName

log = logging.getLogger("podnet.steps")

MAX_DELAY_S = 604800  # MNS DelaySeconds upper bound (7 days)
COMPONENT = "podnet"


class StepSettings(Protocol):
    """The settings steps read (``podnet.adapters.config.Settings`` provides them)."""

    cluster_id: str
    platform: str  # ack | acs
    default_eni_type: str  # what eniType Default means: Trunk | ENI
    max_attempts: int
    gc_grace_s: float
    sweep_period_s: float
    system_namespace: str


class Outbox(Protocol):
    """Where steps put the messages for the next steps."""

    def send(self, envelope: Envelope, delay_s: float = 0) -> None: ...

    def send_many(self, envelopes: list[Envelope]) -> None:
        """Send several (undelayed) envelopes; the queue adapter packs them into batch calls."""
        ...

    def dead_letter(self, body: str, reason: str) -> None: ...


def queue_name(prefix: str, step: StepName) -> str:
    """The MNS queue a step listens on: one queue per step, so each FC function has its own trigger."""
    return f"{prefix}-{step}"


def dead_letter_queue_name(prefix: str) -> str:
    return f"{prefix}-dead-letter"


class QueueOutbox:
    """Sends envelopes to the per-step queues and failures to the dead-letter queue."""

    def __init__(self, queues: Mapping[str, Queue], dead_letter: Queue) -> None:
        self.queues = dict(queues)
        self.dlq = dead_letter

    def send(self, envelope: Envelope, delay_s: float = 0) -> None:
        delay = int(min(MAX_DELAY_S, max(0, round(delay_s))))
        self.queues[envelope.step].send([envelope.to_body()], delay_s=delay)

    def send_many(self, envelopes: list[Envelope]) -> None:
        by_step: dict[str, list[str]] = {}
        for env in envelopes:
            by_step.setdefault(env.step, []).append(env.to_body())
        for step, bodies in by_step.items():
            self.queues[step].send(bodies)

    def dead_letter(self, body: str, reason: str) -> None:
        self.dlq.send([json.dumps({"reason": reason, "body": body[:60000]})])


@dataclass
class RecordingOutbox:
    """Keeps what steps sent, for unit tests and for counting."""

    sent: list[tuple[Envelope, float]] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)

    def send(self, envelope: Envelope, delay_s: float = 0) -> None:
        self.sent.append((envelope, delay_s))

    def send_many(self, envelopes: list[Envelope]) -> None:
        self.sent.extend((e, 0) for e in envelopes)

    def dead_letter(self, body: str, reason: str) -> None:
        self.dead.append((body, reason))


@dataclass
class StepContext:
    """Everything one step invocation needs. Built once per FC instance (initializer)."""

    kube: KubeApi
    cloud: CloudApi
    outbox: Outbox
    clock: Clock
    settings: StepSettings

    # --- node facts ---------------------------------------------------------------------------------
    def node_facts(self, pod: Mapping[str, Any], failure_reason: str) -> NodeFacts:
        """The facts of the pod's node; a missing node or fact is an Event on the pod and a retry later."""
        node_name = (pod.get("spec") or {}).get("nodeName", "")
        node = self.kube.get(NODES, node_name) if node_name else None
        try:
            if node is None:
                raise PermanentError(f"node {node_name!r} not found")
            return NodeFacts.from_node(node)
        except PermanentError as e:
            self.event(pod, "Warning", failure_reason, f"{e} (NodeFactsMissing)")
            raise RetryableError(str(e), delay_s=30, code="NodeFactsMissing") from e

    # --- Kubernetes Events --------------------------------------------------------------------------
    def event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Emit a Kubernetes Event on ``obj``. Named by content, so a replayed step does not duplicate it."""
        md = obj.get("metadata") or {}
        namespace = md.get("namespace") or "default"
        digest = hashlib.sha256(
            "\x1f".join((obj.get("kind", ""), namespace, md.get("name", ""), md.get("uid", ""), reason, message)).encode()
        ).hexdigest()[:16]
        now = format_k8s_time(self.clock.now())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{md.get('name', 'unknown')}.{digest}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", "v1"),
                "kind": obj.get("kind", ""),
                "name": md.get("name", ""),
                "namespace": md.get("namespace", ""),
                "uid": md.get("uid", ""),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.kube.create(EVENTS, event)
        except Conflict:
            pass  # the same event was already recorded by an earlier run of this step
        except KubeError as e:  # events are best effort; never fail a step for one
            log.warning("event not recorded: %s", e)
