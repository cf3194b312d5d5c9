"""The dispatcher: per-message outcomes, retries with backoff, dead-lettering, never a crash."""

from __future__ import annotations

from podnet.adapters.config import Settings
from podnet.clock import SimClock
from podnet.errors import PermanentError, RetryableError
from podnet.steps import dispatch
from podnet.steps.context import RecordingOutbox, StepContext
from podnet.steps.messages import Envelope


def ctx(outbox: RecordingOutbox, max_attempts: int = 3) -> StepContext:
    return StepContext(kube=None, cloud=None, outbox=outbox, clock=SimClock(), settings=Settings(max_attempts=max_attempts))  # type: ignore[arg-type]


def body(attempt: int = 0) -> str:
    return Envelope(step="bind", kind="Pod", key="ns/p", attempt=attempt).to_body()


def test_outcomes(monkeypatch):
    calls = []

    def step(c, env):
        calls.append(env.attempt)
        if env.attempt == 0:
            raise RetryableError("throttled", delay_s=7)
        if env.attempt == 1:
            raise RuntimeError("bug")

    monkeypatch.setitem(dispatch.STEP_FUNCTIONS, "bind", step)
    out = RecordingOutbox()
    result = dispatch.process_batch(ctx(out), "bind", [body(0), body(1), body(2), "garbage"])
    assert (result.ok, result.retried, result.dead_lettered) == (1, 2, 1)
    assert [(e.attempt, d >= 7) for e, d in out.sent] == [(1, True), (2, False)]
    assert out.dead[0][1].startswith("not JSON")


def test_gives_up_after_max_attempts_and_dead_letters_permanent_errors(monkeypatch):
    def step(c, env):
        raise RetryableError("still throttled") if env.key == "ns/p" else PermanentError("invalid")

    monkeypatch.setitem(dispatch.STEP_FUNCTIONS, "bind", step)
    out = RecordingOutbox()
    dispatch.process_batch(ctx(out, max_attempts=3), "bind", [body(2), Envelope(step="bind", kind="Pod", key="ns/q").to_body()])
    assert not out.sent
    reasons = [r for _, r in out.dead]
    assert "gave up after 3 attempts" in reasons[0] and "invalid" in reasons[1]


def test_message_for_another_step_is_forwarded_not_dropped():
    out = RecordingOutbox()
    dispatch.process_message(ctx(out), "allocate", body())
    assert [e.step for e, _ in out.sent] == ["bind"]


def test_backoff_grows_and_is_capped():
    delays = [dispatch.backoff_delay(Envelope(step="bind", kind="Pod", key="k", attempt=a), 0) for a in range(12)]
    assert delays == sorted(delays) and delays[0] >= 2 and delays[-1] == dispatch.MAX_BACKOFF_S


def test_every_step_run_is_measured_with_its_error_code(monkeypatch):
    from podnet.metrics import get_metrics

    def step(c, env):
        if env.attempt:
            raise RetryableError("throttled", code="Throttling.User")

    monkeypatch.setitem(dispatch.STEP_FUNCTIONS, "bind", step)
    get_metrics().reset()
    dispatch.process_batch(ctx(RecordingOutbox()), "bind", [body(0), body(1)])
    snap = get_metrics().snapshot()["steps"]["bind"]
    assert snap["runs"] == 2 and snap["errors"] == {"Throttling.User": 1} and snap["latency"]["count"] == 2
