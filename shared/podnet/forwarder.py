"""The watch-forwarder: list+watch Pods, PodNetworkings and PodENIs, and send small messages to MNS.

It resumes from its last resourceVersion (checkpointed in a ConfigMap only *after* the messages
were sent, so a restart may duplicate events but never loses one), relists on 410 Gone, and
batch-sends (the MNS adapter packs at most 16 messages per call). It forwards only what a step
needs (see ``podnet.steps.routing``); the steps re-read objects, so duplicates are harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping

from podnet.errors import Conflict, Gone, KubeError, NotFound, PodnetError
from podnet.ports import CONFIGMAPS, PODENIS, PODNETWORKINGS, PODS, KubeApi, Queue, Resource
from podnet.steps.routing import route_event

log = logging.getLogger("podnet.forwarder")

WATCHED: tuple[Resource, ...] = (PODNETWORKINGS, PODS, PODENIS)
CHECKPOINT_NAME = "podnet-forwarder-state"


class ConfigMapCheckpoint:
    """Last forwarded resourceVersion per resource, kept in a ConfigMap (state in Kubernetes, not memory)."""

    def __init__(self, kube: KubeApi, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self._lock = threading.Lock()

    def load(self) -> dict[str, str]:
        cm = self.kube.get(CONFIGMAPS, CHECKPOINT_NAME, self.namespace)
        return dict((cm or {}).get("data") or {})

    def save(self, plural: str, resource_version: str) -> None:
        with self._lock:
            for _ in range(3):
                cm = self.kube.get(CONFIGMAPS, CHECKPOINT_NAME, self.namespace)
                try:
                    if cm is None:
                        self.kube.create(
                            CONFIGMAPS,
                            {
                                "apiVersion": "v1",
                                "kind": "ConfigMap",
                                "metadata": {"name": CHECKPOINT_NAME, "namespace": self.namespace},
                                "data": {plural: resource_version},
                            },
                        )
                    else:
                        cm.setdefault("data", {})[plural] = resource_version
                        self.kube.replace(CONFIGMAPS, cm)
                    return
                except (Conflict, NotFound):
                    continue


class Forwarder:
    """Turns watch events into step messages."""

    def __init__(
        self,
        kube: KubeApi,
        queues: Mapping[str, Queue],
        *,
        checkpoint: ConfigMapCheckpoint | None = None,
        resources: tuple[Resource, ...] = WATCHED,
        watch_timeout_s: int = 300,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.kube = kube
        self.queues = queues
        self.checkpoint = checkpoint
        self.resources = resources
        self.watch_timeout_s = watch_timeout_s
        self.on_error = on_error
        self.seen_rv: dict[str, str] = {}
        self.sent = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pending: list[tuple[Resource, str, dict, str]] = []
        self._pending_cv = threading.Condition()
        self._sender: threading.Thread | None = None

    # --- one resource --------------------------------------------------------------------------------
    def forward(self, res: Resource, events: list[tuple[str, dict]]) -> None:
        """Route and send a batch of (event type, object) for one resource."""
        by_step: dict[str, list[str]] = defaultdict(list)
        for event_type, obj in events:
            for env in route_event(res.kind, event_type, obj):
                by_step[env.step].append(env.to_body())
        for step, bodies in by_step.items():
            self.queues[step].send(bodies)
            self.sent += len(bodies)

    def relist(self, res: Resource) -> str:
        """List everything (as SYNC events) and return the list's resourceVersion to watch from."""
        items, rv = self.kube.list(res)
        self.forward(res, [("SYNC", obj) for obj in items])
        self._mark(res, rv)
        return rv

    def watch_once(self, res: Resource, resource_version: str, timeout_s: int) -> str:
        """One watch request from ``resource_version``; returns the last resourceVersion seen.

        Events go to a pending list; the sender thread (or, without one, this loop every 16 events
        and at the end) routes and sends them and only then records their resourceVersion.
        """
        rv = resource_version
        watch = getattr(self.kube, "watch")  # noqa: B009 - only the HTTP adapter can watch
        for event in watch(res, resource_version=rv, timeout_s=timeout_s):
            etype = event.get("type", "")
            obj = event.get("object") or {}
            rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
            with self._pending_cv:
                self._pending.append((res, etype, obj, rv))
                self._pending_cv.notify()
                backlog = len(self._pending)
            if self._sender is None and backlog >= 16:
                self.flush()
        if self._sender is None:
            self.flush()
        return rv

    def flush(self) -> int:
        """Send what is pending (in batches), then record the resourceVersions; returns events handled."""
        with self._pending_cv:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        by_res: dict[str, tuple[Resource, list[tuple[str, dict]], str]] = {}
        for res, etype, obj, rv in batch:
            _, events, _ = by_res.get(res.plural, (res, [], rv))
            if etype != "BOOKMARK":
                events.append((etype, obj))
            by_res[res.plural] = (res, events, rv)
        try:
            for res, events, rv in by_res.values():
                self.forward(res, events)
                self._mark(res, rv)
        except BaseException:
            # Keep the events (in order, ahead of newer ones) so a later flush sends them; resending the
            # part that did go out only duplicates messages, which the steps absorb.
            with self._pending_cv:
                self._pending[:0] = batch
            raise
        return len(batch)

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            with self._pending_cv:
                if not self._pending:
                    self._pending_cv.wait(0.2)
            try:
                self.flush()
            except (KubeError, PodnetError, OSError) as e:  # MNS down: keep the events, try again
                log.warning("forwarding failed: %s; retrying", e)
                self._stop.wait(0.5)

    def _mark(self, res: Resource, rv: str) -> None:
        self.seen_rv[res.plural] = rv
        if self.checkpoint is not None:
            self.checkpoint.save(res.plural, rv)

    def run_resource(self, res: Resource) -> None:
        """List+watch one resource until stopped, resuming and relisting as needed."""
        rv = (self.checkpoint.load().get(res.plural) if self.checkpoint else None) or ""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if not rv:
                    rv = self.relist(res)
                rv = self.watch_once(res, rv, self.watch_timeout_s)
                backoff = 0.5
            except Gone:
                log.info("watch %s: resourceVersion %s expired; relisting", res.plural, rv)
                rv = ""
            except (KubeError, PodnetError, OSError) as e:
                if self.on_error:
                    self.on_error(e)
                log.warning("watch %s failed: %s; retrying in %.1fs", res.plural, e, backoff)
                self._stop.wait(backoff)
                backoff = min(30.0, backoff * 2)

    # --- all resources -----------------------------------------------------------------------------
    def start(self) -> Forwarder:
        """Start one watch thread per resource and the sender thread."""
        self._sender = threading.Thread(target=self._send_loop, name="forward-send", daemon=True)
        self._sender.start()
        self._threads.append(self._sender)
        for res in self.resources:
            t = threading.Thread(target=self.run_resource, args=(res,), name=f"forward-{res.plural}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def alive(self) -> bool:
        """True while every watch thread (and the sender) is running."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

