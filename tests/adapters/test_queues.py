"""MnsQueue through the fake MNS over HTTP (the real aliyun-mns-sdk), and InMemoryQueue semantics.

Both implementations of the ``Queue`` port run the same contract tests (parametrised fixture), so
step tests written against InMemoryQueue see what production sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from podnet.adapters.memory_queue import InMemoryQueue
from podnet.adapters.mns_queue import MnsQueue
from podnet.adapters.retry import RetryPolicy
from podnet.clock import SimClock
from podnet.errors import PermanentError, RetryableError
from podnet.ports import Queue

QUEUE = "podnet-events"


class Harness:
    """A queue under test plus the clock that moves its time."""

    def __init__(self, queue: Queue, clock: SimClock, close: Callable[[], None] = lambda: None) -> None:
        self.queue, self.clock, self.close = queue, clock, close


@pytest.fixture
def mns_queue(mns_server: Any, mns_backend: Any) -> MnsQueue:
    mns_backend.create_queue(QUEUE, visibility_timeout=30)
    return MnsQueue(
        mns_server.url, QUEUE, access_key_id="ak", access_key_secret="sk", retry=RetryPolicy(attempts=3, sleep=lambda s: None)
    )


@pytest.fixture(params=["mns", "memory"])
def h(request: Any) -> Iterator[Harness]:
    if request.param == "mns":
        q = request.getfixturevalue("mns_queue")
        yield Harness(q, request.getfixturevalue("mns_clock"))
    else:
        clock = SimClock()
        yield Harness(InMemoryQueue(QUEUE, clock, visibility_timeout_s=30), clock)


# --- the Queue contract, on both -------------------------------------------------------------------
def test_send_receive_delete(h: Harness) -> None:
    bodies = [f'{{"n": {i}, "text": "<&>ü"}}' for i in range(3)]
    h.queue.send(bodies)
    got = h.queue.receive(16)
    assert [m.body for m in got] == bodies  # raw text in, raw text out, in order
    assert all(m.dequeue_count == 1 and m.receipt_handle and m.message_id for m in got)
    assert h.queue.receive(16) == []  # all hidden now
    for m in got:
        h.queue.delete(m.receipt_handle)
    h.clock.advance(31)
    assert h.queue.receive(16) == []  # deleted for good


def test_empty_receive_is_an_empty_list(h: Harness) -> None:
    assert h.queue.receive(16, wait_s=0) == []


def test_batches_of_more_than_16(h: Harness) -> None:
    bodies = [f"m{i}" for i in range(40)]
    h.queue.send(bodies)
    seen: list[str] = []
    while batch := h.queue.receive(16):
        assert len(batch) <= 16
        seen.extend(m.body for m in batch)
    assert sorted(seen) == sorted(bodies)


def test_delay(h: Harness) -> None:
    h.queue.send(["later"], delay_s=60)
    assert h.queue.receive() == []
    h.clock.advance(59)
    assert h.queue.receive() == []
    h.clock.advance(1)
    assert [m.body for m in h.queue.receive()] == ["later"]


def test_visibility_timeout_redelivers_with_a_higher_dequeue_count(h: Harness) -> None:
    h.queue.send(["x"])
    (first,) = h.queue.receive()
    h.clock.advance(30)
    (again,) = h.queue.receive()
    assert again.body == "x" and again.dequeue_count == 2
    assert again.receipt_handle != first.receipt_handle
    h.queue.delete(first.receipt_handle)  # stale: counts as done, deletes nothing
    h.clock.advance(30)
    (third,) = h.queue.receive()
    assert third.dequeue_count == 3
    h.queue.delete(third.receipt_handle)
    h.clock.advance(60)
    assert h.queue.receive() == []


def test_change_visibility_hides_and_rotates_the_handle(h: Harness) -> None:
    h.queue.send(["x"])
    (m,) = h.queue.receive()
    new = h.queue.change_visibility(m.receipt_handle, 120)
    assert new and new != m.receipt_handle
    h.clock.advance(60)
    assert h.queue.receive() == []  # still hidden past the 30 s default
    with pytest.raises(PermanentError) as ei:
        h.queue.change_visibility(m.receipt_handle, 10)  # the old handle is stale now
    assert ei.value.code == "ReceiptHandleError"
    h.queue.delete(new)
    h.clock.advance(120)
    assert h.queue.receive() == []


def test_change_visibility_to_zero_like_a_retry_now(h: Harness) -> None:
    h.queue.send(["x"])
    (m,) = h.queue.receive()
    h.queue.change_visibility(m.receipt_handle, 1)
    h.clock.advance(1)
    (again,) = h.queue.receive()
    assert again.dequeue_count == 2


# --- MNS specifics -----------------------------------------------------------------------------------
def test_mns_throttling_is_retried(mns_queue: MnsQueue, mns_backend: Any) -> None:
    mns_backend.faults.add(service="mns", kind="throttle", action="SendMessage", count=2)
    mns_queue.send(["x"])
    assert [m.body for m in mns_queue.receive()] == ["x"]


def test_mns_persistent_errors_become_retryable(mns_queue: MnsQueue, mns_backend: Any) -> None:
    mns_backend.faults.add(service="mns", kind="unavailable", action="BatchReceiveMessage")
    with pytest.raises(RetryableError) as ei:
        mns_queue.receive(16)
    assert ei.value.code == "ServiceUnavailable"


def test_mns_lost_response_is_a_network_error_then_retried(mns_queue: MnsQueue, mns_backend: Any) -> None:
    mns_backend.faults.add(service="mns", kind="lose_response", action="SendMessage", count=1)
    mns_queue.send(["x"])  # the first send happened but its answer was lost; the retry sends again
    got = [m.body for m in mns_queue.receive(16)]
    assert got == ["x", "x"]  # at-least-once: a duplicate, never a loss


def test_mns_missing_queue_is_permanent(mns_server: Any) -> None:
    q = MnsQueue(mns_server.url, "no-such-queue", access_key_id="ak", access_key_secret="sk")
    with pytest.raises(PermanentError) as ei:
        q.send(["x"])
    assert ei.value.code == "QueueNotExist"


def test_mns_rotated_credentials_reconnect(mns_queue: MnsQueue) -> None:
    mns_queue.send(["a"])
    mns_queue.set_credentials("ak2", "sk2", "sts")
    mns_queue.send(["b"])
    assert sorted(m.body for m in mns_queue.receive(16)) == ["a", "b"]


def test_mns_from_env() -> None:
    q = MnsQueue.from_env(
        QUEUE,
        {
            "PODNET_MNS_ENDPOINT": "http://1.mns.cn-hangzhou.aliyuncs.com",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "a",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s",
        },
    )
    assert q.name == QUEUE and q.endpoint == "http://1.mns.cn-hangzhou.aliyuncs.com"
    with pytest.raises(PermanentError):
        MnsQueue.from_env(QUEUE, {})
    with pytest.raises(PermanentError):
        MnsQueue("mns.example.com", QUEUE, access_key_id="a", access_key_secret="s")


# --- InMemoryQueue specifics ---------------------------------------------------------------------------
def test_memory_queue_inspection_and_order() -> None:
    clock = SimClock()
    q = InMemoryQueue("q", clock, visibility_timeout_s=10)
    q.send(["a", "b"])
    q.send(["c"], delay_s=5)
    assert len(q) == 3 and q.visible() == 2 and q.bodies() == ["a", "b", "c"]
    assert q.next_visible_at() == clock.timestamp() + 5
    (a,) = q.receive(1)
    assert a.body == "a"
    clock.advance(10)  # a is visible again (at t=10), after b (t=0) and c (t=5)
    assert [m.body for m in q.receive(16)] == ["b", "c", "a"]
    with pytest.raises(PermanentError) as ei:
        q.change_visibility("other:1:1", 5)
    assert ei.value.code == "ReceiptHandleError"
    with pytest.raises(TypeError):
        q.send([b"bytes"])  # type: ignore[list-item]
