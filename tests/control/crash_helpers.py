"""Port wrappers that count side effects and make the function 'die' right after the N-th one."""

from __future__ import annotations

from typing import Any

from podnet.local.runner import FunctionCrashed, LocalSystem
from podnet.steps.context import StepContext

KUBE_WRITES = {"create", "replace", "patch", "delete"}
CLOUD_WRITES = {
    "create_network_interface",
    "attach_network_interface",
    "detach_network_interface",
    "delete_network_interface",
}
OUTBOX_WRITES = {"send", "send_many", "dead_letter"}


class Counter:
    """Counts side effects across all ports; crashes after the ``crash_after``-th one (once)."""

    def __init__(self, crash_after: int | None = None) -> None:
        self.count = 0
        self.crash_after = crash_after
        self.crashed_at: str | None = None
        self.log: list[str] = []

    def done(self, what: str) -> None:
        self.count += 1
        self.log.append(what)
        if self.crash_after is not None and self.count == self.crash_after and self.crashed_at is None:
            self.crashed_at = what
            raise FunctionCrashed(f"crash after side effect #{self.count}: {what}")


class _Proxy:
    def __init__(self, inner: Any, writes: set[str], counter: Counter, label: str) -> None:
        self._inner, self._writes, self._counter, self._label = inner, writes, counter, label

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._writes or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)  # the side effect happens...
            self._counter.done(f"{self._label}.{name}")  # ...then the function may die
            return result

        return call


def instrument(s: LocalSystem, counter: Counter) -> None:
    """Route the steps' side effects through counting proxies."""
    c = s.ctx
    s.ctx = StepContext(
        kube=_Proxy(c.kube, KUBE_WRITES, counter, "kube"),
        cloud=_Proxy(c.cloud, CLOUD_WRITES, counter, "cloud"),
        outbox=_Proxy(c.outbox, OUTBOX_WRITES, counter, "outbox"),
        clock=c.clock,
        settings=c.settings,
    )


def replay_twice(s: LocalSystem) -> None:
    """Every message is handled twice (at-least-once delivery, duplicated)."""
    from podnet.local import runner

    original = runner.process_message

    def twice(ctx: StepContext, step: str, body: str, result: Any = None) -> str:
        original(ctx, step, body)  # type: ignore[arg-type]
        return original(ctx, step, body, result)  # type: ignore[arg-type]

    s._process = twice  # type: ignore[attr-defined]
