"""Run steps for queue messages: parse, dispatch, and turn each outcome into queue actions.

Per message: success → done; RetryableError (or any unexpected exception, kopf-style) → the same
envelope re-enqueued with backoff, until ``max_attempts``; then, and for malformed messages, the
dead-letter queue with the reason. A message is never silently dropped and never crashes the batch.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from podnet.errors import PermanentError, RetryableError
from podnet.log import bind
from podnet.metrics import get_metrics
from podnet.steps.context import StepContext
from podnet.steps.messages import BadMessage, Envelope, StepName, parse_envelope

log = logging.getLogger("podnet.dispatch")

StepFunction = Callable[[StepContext, Envelope], object]
# "module:function", imported on first use: a function instance runs one step, and loading the
# others would only add to its cold start. Tests may put a callable here instead.
STEP_FUNCTIONS: dict[str, StepFunction | str] = {
    "reconcile": "podnet.steps.reconcile:reconcile_status",
    "allocate": "podnet.steps.allocate:allocate",
    "bind": "podnet.steps.bind:bind",
    "release": "podnet.steps.release:release",
    "sweep": "podnet.steps.sweep:sweep",
}


def step_function(step: str) -> StepFunction:
    """The function that runs ``step`` (imported on first use)."""
    fn = STEP_FUNCTIONS[step]
    if isinstance(fn, str):
        module, name = fn.split(":")
        fn = STEP_FUNCTIONS[step] = getattr(importlib.import_module(module), name)
    return fn
MAX_BACKOFF_S = 300.0


def backoff_delay(env: Envelope, hint_s: float) -> float:
    """Exponential backoff with deterministic jitter (from the message), at least the error's hint."""
    base = min(MAX_BACKOFF_S, 2.0 * (2**env.attempt))
    jitter = int(hashlib.sha256(env.key.encode()).hexdigest()[:4], 16) / 0xFFFF * 0.3
    return round(min(MAX_BACKOFF_S, max(hint_s, base * (1 + jitter))), 1)


@dataclass
class BatchResult:
    """What happened to each message of a batch."""

    ok: int = 0
    retried: int = 0
    dead_lettered: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    durations_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "retried": self.retried, "deadLettered": self.dead_lettered, "failures": self.failures}


def process_message(ctx: StepContext, step: StepName, body: str, result: BatchResult | None = None) -> str:
    """Run one message through ``step``; returns "ok", "retried" or "dead"."""
    result = result if result is not None else BatchResult()
    started = time.perf_counter()
    try:
        env = parse_envelope(body)
    except BadMessage as e:
        ctx.outbox.dead_letter(body, e.reason)
        result.dead_lettered += 1
        result.failures.append({"reason": e.reason})
        return "dead"
    if env.step != step:
        ctx.outbox.send(env)  # delivered to the wrong queue: forward, do not drop
        result.ok += 1
        return "ok"
    code = ""
    try:
        with bind(step=step, key=env.key, attempt=env.attempt):
            step_function(step)(ctx, env)
    except PermanentError as e:
        code = e.code or type(e).__name__
        log.warning("step %s %s failed permanently: %s", step, env.key, e)
        ctx.outbox.dead_letter(body, f"{type(e).__name__}: {e}")
        result.dead_lettered += 1
        result.failures.append({"key": env.key, "reason": str(e)})
        return "dead"
    except Exception as e:  # RetryableError, adapter errors, bugs: retry with backoff, then dead-letter
        code = getattr(e, "code", "") or type(e).__name__
        hint = e.delay_s if isinstance(e, RetryableError) else 5.0
        if env.attempt + 1 >= ctx.settings.max_attempts:
            ctx.outbox.dead_letter(body, f"gave up after {env.attempt + 1} attempts: {type(e).__name__}: {e}")
            result.dead_lettered += 1
            result.failures.append({"key": env.key, "reason": str(e)})
            return "dead"
        if not isinstance(e, RetryableError):
            log.exception("step %s %s raised; retrying", step, env.key)
        ctx.outbox.send(env.retry(), delay_s=backoff_delay(env, hint))
        result.retried += 1
        return "retried"
    finally:
        elapsed = time.perf_counter() - started
        result.durations_ms.append(elapsed * 1000)
        get_metrics().record_step(step, elapsed, code or None)
    result.ok += 1
    return "ok"


def process_batch(ctx: StepContext, step: StepName, bodies: Iterable[str]) -> BatchResult:
    """Run every message of a batch; one message's failure never affects the others."""
    result = BatchResult()
    for body in bodies:
        process_message(ctx, step, body, result)
    return result
