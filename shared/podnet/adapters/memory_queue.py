"""``InMemoryQueue``: the ``Queue`` port in process memory, on an injected ``Clock``.

For pure unit tests of steps (no HTTP). It keeps MNS's semantics that steps can observe:
- ``send(..., delay_s)`` hides a message until ``now + delay_s``;
- ``receive`` hides each message for ``visibility_timeout_s``, bumps its dequeue count and issues a
  new receipt handle; delivery order is by when a message became visible, then by send order;
- a handle is valid only while its message is hidden and only until the message is received again
  or its visibility is changed (then ``ReceiptHandleError``); a deleted message's handle gives
  ``MessageNotExist``. ``delete`` with a stale handle counts as done (as ``MnsQueue`` does);
  ``change_visibility`` with one raises ``PermanentError`` with that code.
A long poll (``wait_s``) waits in real time for a send only on a real clock; on a simulated clock it
returns at once (nothing would advance the clock while it waited).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from podnet.clock import Clock
from podnet.errors import PermanentError
from podnet.ports import QueueMessage

__all__ = ["InMemoryQueue"]

MAX_BATCH = 16


@dataclass
class _Stored:
    seq: int
    message_id: str
    body: str
    visible_at: float
    dequeue_count: int = 0
    handle: str | None = None
    visible_since: float = 0.0


class InMemoryQueue:
    """An at-least-once queue with delays, visibility timeouts, receipt handles and dequeue counts."""

    def __init__(self, name: str, clock: Clock, *, visibility_timeout_s: int = 30) -> None:
        self.name = name
        self.clock = clock
        self.visibility_timeout_s = visibility_timeout_s
        self._messages: dict[int, _Stored] = {}
        self._seq = itertools.count(1)
        self._handles = itertools.count(1)
        self._cond = threading.Condition()
        self.sent = 0
        self.deleted = 0

    # --- Queue ---------------------------------------------------------------------------------
    def send(self, bodies: list[str], delay_s: int = 0) -> None:
        """Send; each message becomes visible after ``delay_s`` seconds."""
        with self._cond:
            now = self.clock.timestamp()
            for body in bodies:
                if not isinstance(body, str):
                    raise TypeError("a message body is a str")
                seq = next(self._seq)
                at = now + max(0, delay_s)
                self._messages[seq] = _Stored(seq, f"msg-{seq}", body, at, visible_since=at)
                self.sent += 1
            self._cond.notify_all()

    def receive(self, max_messages: int = 16, wait_s: int = 0) -> list[QueueMessage]:
        """Up to ``max_messages`` (≤16) visible messages; empty when none."""
        n = max(1, min(MAX_BATCH, max_messages))
        deadline = time.monotonic() + max(0, wait_s)
        with self._cond:
            while True:
                got = self._take(n)
                if got or getattr(self.clock, "simulated", False):
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return got
                self._cond.wait(min(remaining, 0.05))

    def delete(self, receipt_handle: str) -> None:
        """Delete the message; a stale handle counts as done."""
        with self._cond:
            m = self._owned(receipt_handle, strict=False)
            if m is not None:
                del self._messages[m.seq]
                self.deleted += 1

    def change_visibility(self, receipt_handle: str, seconds: int) -> str:
        """Hide the message for ``seconds`` from now; returns the new receipt handle."""
        with self._cond:
            m = self._owned(receipt_handle, strict=True)
            assert m is not None
            m.visible_at = self.clock.timestamp() + max(0, seconds)
            m.visible_since = m.visible_at
            m.handle = self._new_handle(m)
            self._cond.notify_all()
            return m.handle

    # --- inspection for tests ------------------------------------------------------------------
    def __len__(self) -> int:
        with self._cond:
            return len(self._messages)

    def visible(self) -> int:
        """Messages a receive would get now."""
        with self._cond:
            now = self.clock.timestamp()
            return sum(1 for m in self._messages.values() if m.visible_at <= now)

    def bodies(self) -> list[str]:
        """Every stored body (visible, delayed or in flight), in send order."""
        with self._cond:
            return [m.body for m in sorted(self._messages.values(), key=lambda m: m.seq)]

    def next_visible_at(self) -> float | None:
        """When the next hidden message becomes visible (a clock timestamp), or None."""
        with self._cond:
            now = self.clock.timestamp()
            hidden = [m.visible_at for m in self._messages.values() if m.visible_at > now]
            return min(hidden) if hidden else None

    # --- internals -----------------------------------------------------------------------------
    def _new_handle(self, m: _Stored) -> str:
        return f"{self.name}:{m.seq}:{next(self._handles)}"

    def _take(self, n: int) -> list[QueueMessage]:
        now = self.clock.timestamp()
        ready = sorted(
            (m for m in self._messages.values() if m.visible_at <= now), key=lambda m: (m.visible_since, m.seq)
        )[:n]
        out = []
        for m in ready:
            m.dequeue_count += 1
            m.visible_at = now + self.visibility_timeout_s
            m.visible_since = m.visible_at
            m.handle = self._new_handle(m)
            out.append(QueueMessage(m.body, m.handle, m.dequeue_count, m.message_id))
        return out

    def _owned(self, handle: str, *, strict: bool) -> _Stored | None:
        try:
            name, seq_text, _ = handle.rsplit(":", 2)
            seq = int(seq_text)
        except ValueError:
            seq, name = -1, ""
        m = self._messages.get(seq) if name == self.name else None
        code = ""
        if m is None:
            code = "MessageNotExist" if name == self.name else "ReceiptHandleError"
        elif m.handle != handle or m.visible_at <= self.clock.timestamp():
            code = "ReceiptHandleError"
        if not code:
            return m
        if strict:
            raise PermanentError(f"{self.name}: stale receipt handle {handle!r}", code=code)
        return None
