"""Rate-limiter arithmetic on a SimClock, and the bounded retry loop."""

from __future__ import annotations

import pytest

from podnet.adapters.ratelimit import DEFAULT_LIMITS_PER_MINUTE, RateLimiter
from podnet.adapters.retry import RetriesExhausted, RetryPolicy
from podnet.clock import SimClock
from podnet.errors import PermanentError


def test_terway_defaults() -> None:
    lim = RateLimiter(SimClock())
    assert lim.limit_per_minute("CreateNetworkInterface") == 500
    assert lim.limit_per_minute("DetachNetworkInterface") == 400
    assert lim.limit_per_minute("DescribeNetworkInterfaces") == 800
    assert lim.limit_per_minute("DescribeVSwitches") == 300
    assert lim.limit_per_minute("SomethingElse") == DEFAULT_LIMITS_PER_MINUTE["default"] == 500


def test_burst_then_steady_rate() -> None:
    clock = SimClock()
    lim = RateLimiter(clock, {"DescribeVSwitches": 60})  # 1/s, burst 60
    waits = [lim.acquire("DescribeVSwitches") for _ in range(60)]
    assert waits == [0.0] * 60
    # the 61st call borrows a token that arrives in 1 s; the 62nd waits behind it
    assert lim.acquire("DescribeVSwitches") == pytest.approx(1.0)
    assert lim.acquire("DescribeVSwitches") == pytest.approx(2.0)
    clock.advance(2.0)
    assert lim.acquire("DescribeVSwitches") == pytest.approx(1.0)
    clock.advance(120)  # refill never exceeds the burst
    assert lim.available("DescribeVSwitches") == pytest.approx(60.0)


def test_buckets_are_per_action() -> None:
    clock = SimClock()
    lim = RateLimiter(clock, {"A": 1, "B": 1})
    assert lim.acquire("A") == 0.0
    assert lim.acquire("B") == 0.0
    assert lim.acquire("A") == pytest.approx(60.0)


def test_static_partitioning_keeps_the_sum_under_the_limit() -> None:
    """10 instances with limit/10 each, all flat out, never get more than one global bucket would."""

    def flat_out(limiters: list[RateLimiter], clock: SimClock, seconds: int) -> list[int]:
        per_second = []
        for _ in range(seconds):
            n = 0
            for lim in limiters:
                while lim.acquire("DescribeVSwitches", max_wait_s=0.0) == 0.0:
                    n += 1
            per_second.append(n)
            clock.advance(1.0)
        return per_second

    clock = SimClock()
    instances = [RateLimiter(clock, max_instances=10) for _ in range(10)]
    assert instances[0].limit_per_minute("DescribeVSwitches") == 30
    split = flat_out(instances, clock, 180)
    global_clock = SimClock()
    single = flat_out([RateLimiter(global_clock)], global_clock, 180)
    assert sum(split) <= sum(single)
    # after the initial burst, any 60 s window holds at most the per-minute limit (300), plus rounding
    for start in range(60, 120):
        assert sum(split[start : start + 60]) <= 300 + 10
    assert sum(split[120:180]) >= 290  # and the share is actually usable


def test_long_wait_reserves_nothing() -> None:
    clock = SimClock()
    lim = RateLimiter(clock, {"X": 2})  # burst 2, one token per 30 s
    assert lim.acquire("X") == 0.0 and lim.acquire("X") == 0.0
    wait = lim.acquire("X", max_wait_s=5.0)
    assert wait == pytest.approx(30.0)
    assert lim.acquire("X", max_wait_s=5.0) == pytest.approx(30.0)  # still 30: nothing was reserved
    clock.advance(30.0)
    assert lim.acquire("X", max_wait_s=5.0) == 0.0


def test_small_share_still_allows_one_call() -> None:
    lim = RateLimiter(SimClock(), {"X": 10}, max_instances=100)  # 0.1 per minute per instance
    assert lim.acquire("X") == 0.0
    assert lim.acquire("X") == pytest.approx(600.0)


def test_from_env() -> None:
    lim = RateLimiter.from_env(SimClock(), {"PODNET_MAX_INSTANCES": "4", "PODNET_RATE_LIMITS": '{"DescribeVSwitches": 200}'})
    assert lim.limit_per_minute("DescribeVSwitches") == 50
    assert lim.limit_per_minute("DetachNetworkInterface") == 100
    for bad in ({"PODNET_MAX_INSTANCES": "x"}, {"PODNET_RATE_LIMITS": "[1]"}, {"PODNET_RATE_LIMITS": "{"}):
        with pytest.raises(PermanentError):
            RateLimiter.from_env(SimClock(), bad)
    with pytest.raises(ValueError):
        RateLimiter(SimClock(), max_instances=0)


# --- retry ----------------------------------------------------------------------------------------
class Flaky:
    def __init__(self, failures: int, exc: Exception) -> None:
        self.failures, self.exc, self.calls = failures, exc, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return "ok"


def retry_all(exc: BaseException) -> float | None:
    return 0.0 if isinstance(exc, ConnectionError) else None


def test_backoff_is_exponential_capped_and_jittered() -> None:
    p = RetryPolicy(base_s=0.2, factor=2.0, max_delay_s=1.0, jitter=0.0)
    assert [p.backoff(i) for i in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    lo = RetryPolicy(jitter=0.3, rand=lambda: 0.0).backoff(0)
    hi = RetryPolicy(jitter=0.3, rand=lambda: 1.0).backoff(0)
    assert lo == pytest.approx(0.14) and hi == pytest.approx(0.26)


def test_retry_succeeds_after_failures() -> None:
    sleeps: list[float] = []
    fn = Flaky(2, ConnectionError("x"))
    assert RetryPolicy(jitter=0.0, sleep=sleeps.append).run(fn, retry_all) == "ok"
    assert fn.calls == 3 and sleeps == [0.2, 0.4]


def test_non_retryable_is_raised_at_once() -> None:
    fn = Flaky(5, KeyError("k"))
    with pytest.raises(KeyError):
        RetryPolicy(sleep=lambda s: None).run(fn, retry_all)
    assert fn.calls == 1


def test_attempts_and_budget_bound_the_loop() -> None:
    sleeps: list[float] = []
    fn = Flaky(100, ConnectionError("down"))
    with pytest.raises(RetriesExhausted) as ei:
        RetryPolicy(attempts=10, jitter=0.0, budget_s=1.0, sleep=sleeps.append).run(fn, retry_all)
    assert sum(sleeps) <= 1.0
    assert sleeps == [0.2, 0.4]  # the next (0.8) would pass the budget
    assert ei.value.attempts == 3 and isinstance(ei.value.last, ConnectionError)
    assert ei.value.delay_s == 5.0


def test_server_hint_raises_the_wait_or_stops() -> None:
    sleeps: list[float] = []
    fn = Flaky(1, ConnectionError("x"))
    RetryPolicy(jitter=0.0, sleep=sleeps.append).run(fn, lambda e: 1.0)
    assert sleeps == [1.0]
    fn = Flaky(1, ConnectionError("x"))
    with pytest.raises(RetriesExhausted) as ei:  # a hint longer than max_delay: give up, requeue later
        RetryPolicy(jitter=0.0, sleep=sleeps.append).run(fn, lambda e: 30.0)
    assert ei.value.delay_s == 30.0 and fn.calls == 1
