"""Function Compute glue: typed trigger events and the per-instance step context.

Handlers in ``functions/<step>/index.py`` are two lines: they take ``initialize`` and ``handler``
from ``handler_for(step)``. The initializer builds the adapters once per instance (cold start);
each invocation refreshes the rotating STS credentials from ``context`` and runs one batch.

Trigger shapes accepted (FC 3.0):
- EventBridge MNS queue source, event mode: one CloudEvent ``{"data": {"messageBody": ...}, ...}``;
- the same in stream mode: a JSON list of CloudEvents;
- a raw message body (an envelope), e.g. from ``s invoke`` or a test;
- a timer trigger ``{"triggerTime", "triggerName", "payload"}`` (the sweep step).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from podnet.steps.messages import STEP_NAMES, StepName

log = logging.getLogger("podnet.fc")


class TriggerEventError(ValueError):
    """The invocation payload is not a trigger event we understand."""


def message_bodies(event: bytes | str | dict | list) -> list[str]:
    """The queue message bodies carried by an FC invocation payload (see the module docstring)."""
    if isinstance(event, (bytes, bytearray)):
        try:
            event = event.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TriggerEventError(f"event is not UTF-8: {e}") from None
    data: Any = event
    if isinstance(event, str):
        try:
            data = json.loads(event)
        except ValueError:
            return [event]  # a raw body that is not JSON: let the dispatcher dead-letter it with a reason
    items = data if isinstance(data, list) else [data]
    bodies: list[str] = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("data"), dict) and "messageBody" in item["data"]:
            body = item["data"]["messageBody"]
            if isinstance(body, str) and item["data"].get("isBase64Encoded"):
                body = base64.b64decode(body).decode("utf-8", "replace")
            bodies.append(body if isinstance(body, str) else json.dumps(body))
        elif isinstance(item, dict) and "triggerTime" in item and "triggerName" in item:
            bodies.append(json.dumps({"step": "sweep", "kind": "Timer", "key": item.get("triggerName") or "sweep",
                                      "eventType": "TIMER"}))
        else:
            bodies.append(item if isinstance(item, str) else json.dumps(item))
    return bodies


_lock = threading.Lock()
_ctx: Any = None


def build_context(context: Any = None) -> Any:
    """Build the StepContext from the environment (and the FC context's credentials)."""
    from podnet.adapters.cloud import CloudCredentials, OpenApiCloud
    from podnet.adapters.config import Settings
    from podnet.adapters.kube_http import HttpKube
    from podnet.adapters.mns_queue import MnsQueue
    from podnet.clock import SystemClock
    from podnet.steps.context import QueueOutbox, StepContext, dead_letter_queue_name, queue_name

    settings = Settings.from_env()
    clock = SystemClock()
    creds = CloudCredentials.from_fc_context(context) if getattr(context, "credentials", None) else None
    # transport="signed": our own ACS3 signer over urllib3 instead of the Tea client, whose import
    # (~160 ms, aiohttp and apscheduler included) alone put the handlers' cold start over 300 ms.
    cloud = OpenApiCloud.from_env(clock, credentials=creds, transport="signed")
    queues = {s: MnsQueue.from_env(queue_name(settings.queue_prefix, s)) for s in STEP_NAMES}
    dlq = MnsQueue.from_env(dead_letter_queue_name(settings.queue_prefix))
    return StepContext(HttpKube.from_env(), cloud, QueueOutbox(queues, dlq), clock, settings)


def _refresh_credentials(ctx: Any, context: Any) -> None:
    """FC hands out rotating STS credentials per invocation; use the current ones."""
    creds = getattr(context, "credentials", None)
    if creds is None:
        return
    from podnet.adapters.cloud import CloudCredentials

    fresh = CloudCredentials.from_fc_context(context)
    ctx.cloud.set_credentials(fresh)
    outbox = ctx.outbox
    for q in [*outbox.queues.values(), outbox.dlq]:
        q.set_credentials(fresh.access_key_id, fresh.access_key_secret, fresh.security_token)


def get_context(context: Any = None) -> Any:
    """The instance's StepContext (built on first use: the initializer, or the first invocation)."""
    global _ctx
    with _lock:
        if _ctx is None:
            _ctx = build_context(context)
        return _ctx


def handler_for(step: StepName) -> tuple[Callable[[Any], None], Callable[[bytes, Any], dict[str, Any]]]:
    """The (initialize, handler) pair of one step's function."""
    if step not in STEP_NAMES:
        raise ValueError(f"unknown step {step!r}")
    from podnet.log import configure

    def initialize(context: Any) -> None:
        configure()
        get_context(context)

    def handler(event: bytes, context: Any) -> dict[str, Any]:
        from podnet.log import bind
        from podnet.metrics import get_metrics
        from podnet.steps.dispatch import process_batch

        ctx = get_context(context)
        _refresh_credentials(ctx, context)
        try:
            bodies = message_bodies(event)
        except TriggerEventError as e:
            ctx.outbox.dead_letter(repr(event)[:2000], str(e))
            return {"ok": 0, "retried": 0, "deadLettered": 1, "failures": [{"reason": str(e)}]}
        request_id = getattr(context, "request_id", "")
        with bind(requestId=request_id):
            result = process_batch(ctx, step, bodies)
        summary = result.as_dict()
        log.info(json.dumps({"step": step, "requestId": request_id, **summary}))
        get_metrics().emit(reset=True, step=step, requestId=request_id)  # one JSON line per invocation, to SLS
        return summary

    return initialize, handler
