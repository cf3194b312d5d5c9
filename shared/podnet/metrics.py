"""A tiny in-process metrics registry, emitted as one JSON log line.

Function Compute has no scrape endpoint, so instead of prometheus_client we count in memory and
write a JSON line to stdout (FC ships stdout to SLS, where queries aggregate across instances).
Per API: calls, errors by code, throttles, latency (count/sum/max and p50/p95 from the most recent
``sample_size`` calls), client-side rate-limiter waits. Per step: runs, errors by code, latency.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any, TextIO

__all__ = ["Metrics", "LatencyStats", "get_metrics"]


class LatencyStats:
    """Count, sum, max and a bounded sample of recent values (seconds) for percentiles."""

    def __init__(self, sample_size: int = 256) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.sample: deque[float] = deque(maxlen=sample_size)

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)
        self.sample.append(seconds)

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the sample (0 when empty)."""
        if not self.sample:
            return 0.0
        ordered = sorted(self.sample)
        rank = max(1, math.ceil(q * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]

    def snapshot(self) -> dict[str, float]:
        ms = 1000.0
        return {
            "count": self.count,
            "sum_ms": round(self.total * ms, 3),
            "max_ms": round(self.max * ms, 3),
            "p50_ms": round(self.percentile(0.50) * ms, 3),
            "p95_ms": round(self.percentile(0.95) * ms, 3),
        }


class _Series:
    def __init__(self, sample_size: int) -> None:
        self.calls = 0
        self.errors: dict[str, int] = {}
        self.throttles = 0
        self.latency = LatencyStats(sample_size)
        self.waits = LatencyStats(sample_size)


class Metrics:
    """Thread-safe counters for API calls and steps."""

    def __init__(self, sample_size: int = 256) -> None:
        self.sample_size = sample_size
        self._lock = threading.Lock()
        self._apis: dict[str, _Series] = {}
        self._steps: dict[str, _Series] = {}

    def _series(self, table: dict[str, _Series], name: str) -> _Series:
        s = table.get(name)
        if s is None:
            s = table[name] = _Series(self.sample_size)
        return s

    def record_call(self, api: str, latency_s: float, error_code: str | None = None, throttled: bool = False) -> None:
        """One API call attempt: its latency and, when it failed, the vendor error code."""
        with self._lock:
            s = self._series(self._apis, api)
            s.calls += 1
            s.latency.observe(latency_s)
            if error_code:
                s.errors[error_code] = s.errors.get(error_code, 0) + 1
            if throttled:
                s.throttles += 1

    def record_wait(self, api: str, wait_s: float) -> None:
        """Time spent waiting on the client-side rate limiter before a call."""
        with self._lock:
            self._series(self._apis, api).waits.observe(wait_s)

    def record_step(self, step: str, latency_s: float, error_code: str | None = None) -> None:
        """One run of a control-loop step."""
        with self._lock:
            s = self._series(self._steps, step)
            s.calls += 1
            s.latency.observe(latency_s)
            if error_code:
                s.errors[error_code] = s.errors.get(error_code, 0) + 1

    @contextmanager
    def time_step(self, step: str) -> Iterator[None]:
        """Time a step; an exception is counted under its ``code`` attribute or class name."""
        t0 = perf_counter()
        try:
            yield
        except BaseException as e:
            self.record_step(step, perf_counter() - t0, getattr(e, "code", "") or type(e).__name__)
            raise
        self.record_step(step, perf_counter() - t0)

    def calls(self, api: str) -> int:
        with self._lock:
            s = self._apis.get(api)
            return s.calls if s else 0

    def snapshot(self) -> dict[str, Any]:
        """Everything counted so far, as plain JSON-able data."""
        with self._lock:
            apis = {
                name: {
                    "calls": s.calls,
                    "errors": dict(sorted(s.errors.items())),
                    "throttles": s.throttles,
                    "latency": s.latency.snapshot(),
                    "rate_limit_wait": s.waits.snapshot(),
                }
                for name, s in sorted(self._apis.items())
            }
            steps = {
                name: {"runs": s.calls, "errors": dict(sorted(s.errors.items())), "latency": s.latency.snapshot()}
                for name, s in sorted(self._steps.items())
            }
        return {"apis": apis, "steps": steps}

    def reset(self) -> None:
        with self._lock:
            self._apis.clear()
            self._steps.clear()

    def emit(self, stream: TextIO | None = None, *, reset: bool = False, **fields: Any) -> dict[str, Any]:
        """Write one JSON line ``{"metric": "podnet", ...snapshot, **fields}`` to stdout (or ``stream``)."""
        snap = self.snapshot()
        if reset:
            self.reset()
        line = {"metric": "podnet", **fields, **snap}
        out = stream or sys.stdout
        out.write(json.dumps(line, separators=(",", ":"), sort_keys=False) + "\n")
        out.flush()
        return line


_DEFAULT = Metrics()


def get_metrics() -> Metrics:
    """The process-wide registry (one per FC instance)."""
    return _DEFAULT
