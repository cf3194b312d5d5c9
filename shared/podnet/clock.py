"""Clocks: the only place the control plane learns what time it is.

Domain code never reads a clock; it is handed ``now``. Adapters and steps get a ``Clock``.
``SimClock`` is shared by the local runner and all fakes so a scenario's ``advance: 2h`` moves
TTLs, visibility timeouts and delayed messages without waiting.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol

EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)


class Clock(Protocol):
    """Source of the current time (timezone-aware UTC)."""

    def now(self) -> datetime: ...

    def timestamp(self) -> float: ...


class SystemClock:
    """Wall-clock time."""

    simulated = False

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def timestamp(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class SimClock:
    """A clock that only moves when told to (``advance``), safe to share across threads.

    Waiters (e.g. an MNS long poll) can block on ``changed`` to wake up when time moves.
    """

    simulated = True

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or EPOCH).astimezone(timezone.utc)
        self.changed = threading.Condition()

    def now(self) -> datetime:
        with self.changed:
            return self._now

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, delta: timedelta | float) -> datetime:
        """Move time forward by ``delta`` (seconds or timedelta) and wake waiters."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        if delta < timedelta(0):
            raise ValueError("a clock cannot move backwards")
        with self.changed:
            self._now += delta
            self.changed.notify_all()
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (never backwards)."""
        when = when.astimezone(timezone.utc)
        with self.changed:
            if when > self._now:
                self._now = when
                self.changed.notify_all()

    def sleep(self, seconds: float) -> None:
        """Simulated sleep: advances the clock instead of waiting."""
        self.advance(max(0.0, seconds))
