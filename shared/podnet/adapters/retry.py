"""Bounded in-call retry with exponential backoff and jitter.

A 40-line loop instead of tenacity: tenacity costs ~25 ms to import, and every Function Compute
cold start pays for what the handlers import. The policy is small on purpose: a few attempts, a
hard budget on the total sleep, and after that the adapter raises ``RetryableError`` so the step
re-enqueues itself with a delay instead of burning function time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

__all__ = ["RetryPolicy", "RetriesExhausted", "NO_RETRY"]


class RetriesExhausted(Exception):
    """Internal: the last retryable failure after the policy gave up; adapters turn it into a port error."""

    def __init__(self, last: BaseException, delay_s: float, attempts: int) -> None:
        super().__init__(str(last))
        self.last = last
        self.delay_s = delay_s
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry inside one call.

    ``attempts`` counts every try (1 = no retry). The n-th sleep is
    ``min(max_delay_s, base_s * factor**n)`` spread by ``±jitter``; a server hint (Retry-After) raises
    it. The loop stops early when the next sleep would push the total past ``budget_s``.
    ``requeue_delay_s`` is the delay suggested to the caller once the loop gives up.
    ``sleep`` is injectable so tests do not wait (None: the adapter's clock/time.sleep).
    """

    attempts: int = 4
    base_s: float = 0.2
    factor: float = 2.0
    max_delay_s: float = 1.6
    jitter: float = 0.3
    budget_s: float = 3.0
    requeue_delay_s: float = 5.0
    sleep: Callable[[float], None] | None = None
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, retry_index: int) -> float:
        """The sleep before retry number ``retry_index`` (0-based), jitter included."""
        d = min(self.max_delay_s, self.base_s * (self.factor**retry_index))
        if self.jitter:
            d *= 1.0 + self.jitter * (2.0 * self.rand() - 1.0)
        return max(0.0, d)

    def run(
        self,
        fn: Callable[[], T],
        classify: Callable[[BaseException], float | None],
        *,
        sleep: Callable[[float], None] | None = None,
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> T:
        """Call ``fn`` until it returns, retrying exceptions ``classify`` accepts.

        ``classify(exc)`` returns None (not retryable: re-raised at once) or a server-suggested
        minimum wait in seconds (0.0 when there is none). When attempts or budget run out,
        raises ``RetriesExhausted`` carrying the last exception and a suggested requeue delay.
        """
        do_sleep = self.sleep if self.sleep is not None else (sleep if sleep is not None else time.sleep)
        slept = 0.0
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:  # classify decides what is retryable
                hint = classify(exc)
                if hint is None:
                    raise
                delay = max(hint, self.backoff(attempt))
                attempt += 1
                if attempt >= self.attempts or slept + delay > self.budget_s or hint > self.max_delay_s:
                    raise RetriesExhausted(exc, max(self.requeue_delay_s, hint), attempt) from exc
                if on_retry is not None:
                    on_retry(exc, delay)
                do_sleep(delay)
                slept += delay


NO_RETRY = RetryPolicy(attempts=1)
