"""The queue message: one small, versioned envelope every step passes to the next.

Handlers are level-triggered: the envelope only says *which* object to look at and *which* step
to run; the handler re-reads the object, so stale, duplicated and reordered messages are harmless.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from podnet.errors import PermanentError

MESSAGE_VERSION = 1
MAX_MESSAGE_BYTES = 4096  # envelopes are ~200 bytes; anything near MNS's 64 KiB is not ours

StepName = Literal["reconcile", "allocate", "bind", "release", "sweep"]
STEP_NAMES: tuple[StepName, ...] = ("reconcile", "allocate", "bind", "release", "sweep")
ObjectKind = Literal["Pod", "PodNetworking", "PodENI", "Timer"]
EventType = Literal["ADDED", "MODIFIED", "DELETED", "SYNC", "RETRY", "TIMER", "SCHEDULED"]


class BadMessage(PermanentError):
    """A message that is not a valid envelope: it goes to the dead-letter queue with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="BadMessage")
        self.reason = reason


class Envelope(BaseModel):
    """What one queue message asks for: run ``step`` for object ``kind`` ``key``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = MESSAGE_VERSION
    step: StepName
    kind: ObjectKind
    key: str = Field(min_length=1, max_length=320)  # "namespace/name" or "name"
    uid: str = Field(default="", max_length=64)
    resourceVersion: str = Field(default="", max_length=64)
    eventType: EventType = "SYNC"
    attempt: int = Field(default=0, ge=0, le=1000)

    @property
    def namespace(self) -> str | None:
        return self.key.split("/", 1)[0] if "/" in self.key else None

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def to_body(self) -> str:
        """Compact JSON body for the queue."""
        return self.model_dump_json(exclude_defaults=False)

    def next(self, step: StepName, event_type: EventType = "SYNC") -> Envelope:
        """The message that hands the same object to another step (attempts start again)."""
        return self.model_copy(update={"step": step, "eventType": event_type, "attempt": 0})

    def retry(self) -> Envelope:
        """The same request again, one attempt later."""
        return self.model_copy(update={"eventType": "RETRY", "attempt": self.attempt + 1})


def parse_envelope(body: str | bytes) -> Envelope:
    """Parse a queue body, raising BadMessage with a reason for anything that is not an envelope."""
    size = len(body.encode() if isinstance(body, str) else body)
    if size > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message too large: {size} bytes (limit {MAX_MESSAGE_BYTES})")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadMessage(f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadMessage(f"not a JSON object: {type(data).__name__}")
    if data.get("v") not in (None, MESSAGE_VERSION):
        raise BadMessage(f"unknown message version {data.get('v')!r}")
    try:
        return Envelope.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors())
        raise BadMessage(f"invalid envelope: {problems}") from None


def pod_envelope(step: StepName, pod: dict, event_type: EventType = "SYNC") -> Envelope:
    """Envelope for a Pod object."""
    md = pod.get("metadata") or {}
    return Envelope(
        step=step,
        kind="Pod",
        key=f"{md.get('namespace') or 'default'}/{md['name']}",
        uid=md.get("uid", ""),
        resourceVersion=md.get("resourceVersion", ""),
        eventType=event_type,
    )


def podnetworking_envelope(obj: dict, event_type: EventType = "SYNC") -> Envelope:
    """Envelope asking to reconcile a PodNetworking's status."""
    md = obj.get("metadata") or {}
    return Envelope(
        step="reconcile",
        kind="PodNetworking",
        key=md["name"],
        uid=md.get("uid", ""),
        resourceVersion=md.get("resourceVersion", ""),
        eventType=event_type,
    )
