"""Client-side per-API rate limits that hold across all function instances together.

Terway keeps one token bucket per OpenAPI action (QPS = N/60, burst = N, N per minute). One Terway
controller is a single process; podnet runs as up to ``max_instances`` Function Compute instances
at once, each with its own memory. We keep the limit global by **static partitioning**: every
instance gets a bucket of ``N / max_instances`` per minute (and the same burst share), so even when
all instances run flat out their sum never exceeds N. ``max_instances`` must be the instance cap
that s.yaml gives the function (``PODNET_MAX_INSTANCES``; the deploy sets both from one value).
The price is that a lone busy instance cannot borrow the idle instances' share; at Terway's limits
(300-800/min) and FC's small instance caps that is the safe trade (no shared store, no extra
round trip per call). Override the per-minute limits with ``PODNET_RATE_LIMITS`` (JSON object
``{"CreateNetworkInterface": 250, "default": 400}``).

``acquire(action)`` returns how long the caller must wait before calling. The caller decides:
sleep briefly, or (long wait) raise ``RetryableError(delay)`` so the step re-enqueues itself rather
than burning FC time. The clock is injected; nothing here sleeps.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping

from podnet.clock import Clock
from podnet.errors import PermanentError

__all__ = ["DEFAULT_LIMITS_PER_MINUTE", "RateLimiter", "TokenBucket"]

# Terway pkg/aliyun/client/ratelimit.go defaults, calls per minute.
DEFAULT_LIMITS_PER_MINUTE: dict[str, float] = {
    "default": 500,
    "CreateNetworkInterface": 500,
    "AttachNetworkInterface": 500,
    "DeleteNetworkInterface": 500,
    "DetachNetworkInterface": 400,
    "DescribeNetworkInterfaces": 800,
    "DescribeNetworkInterfaceAttribute": 2000,
    "DescribeVSwitches": 300,
}


class TokenBucket:
    """A token bucket that hands out reservations: tokens may go negative (a queue of waiters)."""

    def __init__(self, rate_per_s: float, burst: float, now: float) -> None:
        if rate_per_s <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
            self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until one more token would be available (0 when one is there now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate_per_s

    def reserve(self, now: float) -> float:
        """Take one token (possibly borrowed from the future); return the seconds to wait for it."""
        wait = self.wait_time(now)
        self.tokens -= 1.0
        return wait


class RateLimiter:
    """Per-action token buckets; each instance owns ``limit / max_instances`` of every limit."""

    def __init__(
        self,
        clock: Clock,
        limits_per_minute: Mapping[str, float] | None = None,
        *,
        max_instances: int = 1,
    ) -> None:
        if max_instances < 1:
            raise ValueError("max_instances must be >= 1")
        self.clock = clock
        self.max_instances = max_instances
        self.limits_per_minute: dict[str, float] = dict(DEFAULT_LIMITS_PER_MINUTE)
        self.limits_per_minute.update(limits_per_minute or {})
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, clock: Clock, env: Mapping[str, str] | None = None) -> RateLimiter:
        """Build from ``PODNET_MAX_INSTANCES`` and ``PODNET_RATE_LIMITS`` (JSON)."""
        env = os.environ if env is None else env
        try:
            max_instances = int(env.get("PODNET_MAX_INSTANCES", "1") or "1")
            overrides = json.loads(env.get("PODNET_RATE_LIMITS", "") or "{}")
            if not isinstance(overrides, dict):
                raise ValueError("PODNET_RATE_LIMITS must be a JSON object")
            limits = {str(k): float(v) for k, v in overrides.items()}
        except (ValueError, TypeError) as e:
            raise PermanentError(f"bad rate-limit configuration: {e}", code="ConfigError") from e
        return cls(clock, limits, max_instances=max_instances)

    def limit_per_minute(self, action: str) -> float:
        """This instance's share of the per-minute limit for ``action``."""
        total = self.limits_per_minute.get(action, self.limits_per_minute["default"])
        return total / self.max_instances

    def _bucket(self, action: str, now: float) -> TokenBucket:
        b = self._buckets.get(action)
        if b is None:
            share = self.limit_per_minute(action)
            # burst = the per-minute share (as Terway's burst = N), but never below one call
            b = self._buckets[action] = TokenBucket(share / 60.0, max(1.0, math.floor(share)), now)
        return b

    def acquire(self, action: str, max_wait_s: float = math.inf) -> float:
        """Reserve one call of ``action``; return the seconds to wait before making it.

        When the wait would exceed ``max_wait_s`` nothing is reserved and the (larger) wait is
        returned, so the caller can re-enqueue with that delay without holding a token.
        """
        with self._lock:
            now = self.clock.timestamp()
            bucket = self._bucket(action, now)
            wait = bucket.wait_time(now)
            if wait > max_wait_s:
                return wait
            return bucket.reserve(now)

    def available(self, action: str) -> float:
        """Tokens available now for ``action`` (negative when reservations are queued)."""
        with self._lock:
            now = self.clock.timestamp()
            bucket = self._bucket(action, now)
            bucket._refill(now)
            return bucket.tokens
