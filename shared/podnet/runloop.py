"""The real-time engine behind ``podnet run`` and ``podnet forwarder`` (``podnet.local`` is the simulated one).

- ``kube_client`` / ``step_queues`` / ``build_step_context``: the adapters, built as ``podnet.fc`` builds
  them (settings from ``podnet.adapters.config.Settings``), but with Kubernetes from a kubeconfig or the
  in-cluster service account. Credentials: the static ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``
  (/``_SECURITY_TOKEN``) variables when both are set (as before), else the standard Alibaba Cloud
  credential chain (``podnet.adapters.cloud.default_credentials_provider``: RRSA/OIDC, profiles, the
  ECS RAM role...), asked before every request so expiring STS triples are refreshed.
- ``Consumer``: one long-polling thread per step queue; each received message runs through
  ``process_message`` and is deleted only afterwards, so a crash (or a failed send of the follow-up)
  leaves it in the queue and MNS delivers it again after its visibility timeout. A timer thread runs
  the sweep. ``drain()`` handles what is visible now and returns (``podnet run --once``).
- ``install_stop_signals``: SIGTERM/SIGINT set an Event the commands wait on.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from podnet.adapters.config import Settings
from podnet.clock import Clock, SystemClock
from podnet.ports import KubeApi, Queue, QueueMessage
from podnet.steps.context import QueueOutbox, StepContext, dead_letter_queue_name, queue_name
from podnet.steps.messages import STEP_NAMES, Envelope, StepName

if TYPE_CHECKING:
    from podnet.adapters.cloud import CredentialsProvider

log = logging.getLogger("podnet.run")

TIMER_BODY = Envelope(step="sweep", kind="Timer", key="podnet-run-timer", eventType="TIMER").to_body()


# --- adapters --------------------------------------------------------------------------------------
def kube_client(
    kubeconfig: str | None = None, context: str | None = None, env: Mapping[str, str] | None = None, **kw: Any
) -> Any:
    """An ``HttpKube``: the kubeconfig (and context) when given, else ``PODNET_KUBE_URL``, else the
    in-cluster service account, else ``KUBECONFIG`` / ``~/.kube/config``."""
    from podnet.adapters.kube_http import HttpKube

    e = os.environ if env is None else env
    if kubeconfig or context:
        return HttpKube.from_kubeconfig(kubeconfig, context, **kw)
    if e.get("PODNET_KUBE_URL"):
        return HttpKube.from_env(e, **kw)
    if e.get("KUBERNETES_SERVICE_HOST"):
        return HttpKube.in_cluster(env=e, **kw)
    return HttpKube.from_kubeconfig(None, None, **kw)


def has_static_credentials(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``ALIBABA_CLOUD_ACCESS_KEY_ID`` and ``_SECRET`` are both set (then they are used as they are)."""
    e = os.environ if env is None else env
    return bool(e.get("ALIBABA_CLOUD_ACCESS_KEY_ID") and e.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"))


def chain_credentials_provider(env: Mapping[str, str] | None = None) -> CredentialsProvider | None:
    """None when the static variables are set; else the default credential chain (not asked yet)."""
    if has_static_credentials(env):
        return None
    from podnet.adapters import cloud

    # looked up on the module at call time, so tests can replace the factory
    return cloud.default_credentials_provider()


def step_queues(
    prefix: str, env: Mapping[str, str] | None = None, *, credentials_provider: CredentialsProvider | None = None
) -> tuple[dict[str, Any], Any]:
    """One ``MnsQueue`` per step (``<prefix>-<step>``) and the dead-letter queue, from the environment.

    Credentials: ``credentials_provider`` when given, else the static variables, else the default
    chain (checked once here: ``PermanentError(code="ConfigError")`` when it finds nothing)."""
    from podnet.adapters.mns_queue import MnsQueue

    provider = credentials_provider
    probe = False
    if provider is None:
        provider = chain_credentials_provider(env)
        probe = provider is not None
    queues = {s: MnsQueue.from_env(queue_name(prefix, s), env, credentials_provider=provider) for s in STEP_NAMES}
    dlq = MnsQueue.from_env(dead_letter_queue_name(prefix), env, credentials_provider=provider)
    if probe and provider is not None:
        provider()  # fail at startup, not on the first receive
    return queues, dlq


def build_step_context(
    kube: KubeApi,
    *,
    settings: Settings | None = None,
    queues: Mapping[str, Queue] | None = None,
    dead_letter: Queue | None = None,
    credentials: Any = None,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> StepContext:
    """The StepContext of a deployed system: ECS/VPC and MNS from the environment (or the given queues).

    Credentials: ``credentials`` when given, else the static ``ALIBABA_CLOUD_*`` variables, else the
    default credential chain shared by the cloud adapter and the queues (checked once here: a
    ``PermanentError(code="ConfigError")`` naming what was tried when it finds nothing)."""
    from podnet.adapters.cloud import OpenApiCloud

    clock = clock or SystemClock()
    settings = settings or Settings.from_env(env)
    provider = None if credentials is not None else chain_credentials_provider(env)
    cloud = OpenApiCloud.from_env(clock, credentials=credentials, credentials_provider=provider, env=env)
    if queues is None or dead_letter is None:
        queues, dead_letter = step_queues(settings.queue_prefix, env, credentials_provider=provider)
    if provider is not None:
        cloud.refresh_credentials()  # after the settings checks: fail at startup, not on the first call
    return StepContext(kube, cloud, QueueOutbox(queues, dead_letter), clock, settings)


def install_stop_signals(stop: threading.Event) -> bool:
    """SIGTERM and SIGINT set ``stop``; False when not on the main thread (signals cannot be caught there)."""

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    try:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    except ValueError:
        return False
    return True


# --- the consumer ----------------------------------------------------------------------------------
@dataclass
class ConsumerStats:
    """Counts since start (read by tests and the final log line)."""

    received: int = 0
    ok: int = 0
    retried: int = 0
    dead_lettered: int = 0
    crashed: int = 0  # processing raised: the message stays and comes back after its visibility timeout
    sweeps: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("received", "ok", "retried", "dead_lettered", "crashed", "sweeps")}


class Consumer:
    """Receives from each step queue, runs the step, deletes the message; plus the sweep timer."""

    def __init__(
        self,
        ctx: StepContext,
        queues: Mapping[str, Queue],
        *,
        wait_s: int = 10,
        batch: int = 16,
        sweep_period_s: float | None = 60.0,
        workers_per_queue: int = 1,
        stop: threading.Event | None = None,
    ) -> None:
        self.ctx = ctx
        self.queues = dict(queues)
        self.wait_s = wait_s
        self.batch = batch
        self.sweep_period_s = sweep_period_s
        self.workers_per_queue = max(1, workers_per_queue)
        self.stop_event = stop or threading.Event()
        self.stats = ConsumerStats()
        self._threads: list[threading.Thread] = []

    # --- one message / one poll ----------------------------------------------------------------
    def handle(self, step: StepName, queue: Queue, msg: QueueMessage) -> str:
        """Run one received message and delete it; "crashed" (not deleted) when processing raised."""
        from podnet.log import bind
        from podnet.steps.dispatch import process_message

        self.stats.add("received")
        try:
            with bind(step=step, message_id=msg.message_id):
                outcome = process_message(self.ctx, step, msg.body)
        except Exception:
            # e.g. the retry could not be enqueued (MNS down): keep the message; MNS redelivers it
            log.exception("step %s: message %s not processed; it will be delivered again", step, msg.message_id)
            self.stats.add("crashed")
            return "crashed"
        self.stats.add({"ok": "ok", "retried": "retried", "dead": "dead_lettered"}.get(outcome, "ok"))
        queue.delete(msg.receipt_handle)
        return outcome

    def poll(self, step: StepName, wait_s: int | None = None) -> int:
        """One receive on ``step``'s queue (long poll up to ``wait_s``) and its messages; returns how many."""
        queue = self.queues[step]
        msgs = queue.receive(max_messages=self.batch, wait_s=self.wait_s if wait_s is None else wait_s)
        for msg in msgs:
            self.handle(step, queue, msg)
        return len(msgs)

    def sweep_once(self) -> str:
        """Run the sweep now (through the dispatcher: a failure is retried through the sweep queue)."""
        from podnet.steps.dispatch import process_message

        self.stats.add("sweeps")
        try:
            return process_message(self.ctx, "sweep", TIMER_BODY)
        except Exception:
            log.exception("sweep failed")
            return "crashed"

    def drain(self, max_rounds: int = 10_000) -> int:
        """Handle what is visible in every queue, including what that enqueues, until a round finds
        nothing; delayed messages are left for later. Returns the number of messages handled."""
        total = 0
        for _ in range(max_rounds):
            handled = sum(self.poll(step, 0) for step in self.queues)  # type: ignore[arg-type]
            total += handled
            if not handled:
                break
        return total

    # --- threads -----------------------------------------------------------------------------------
    def _poll_loop(self, step: StepName) -> None:
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                self.poll(step)
                backoff = 0.5
            except Exception as e:  # MNS unreachable, bad credentials: keep trying, loudly
                log.warning("receive from %s failed: %s; retrying in %.1fs", step, e, backoff)
                self.stop_event.wait(backoff)
                backoff = min(30.0, backoff * 2)

    def _sweep_loop(self) -> None:
        assert self.sweep_period_s
        while not self.stop_event.wait(self.sweep_period_s):
            self.sweep_once()

    def start(self) -> Consumer:
        """Start the poll threads (``workers_per_queue`` per step queue) and the sweep timer."""
        for step in self.queues:
            for i in range(self.workers_per_queue):
                t = threading.Thread(target=self._poll_loop, args=(step,), name=f"consume-{step}-{i}", daemon=True)
                t.start()
                self._threads.append(t)
        if self.sweep_period_s:
            t = threading.Thread(target=self._sweep_loop, name="sweep-timer", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def alive(self) -> bool:
        """True while every started thread runs (a dead one means the process should restart)."""
        return all(t.is_alive() for t in self._threads)
