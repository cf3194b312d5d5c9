"""The fake MNS backend used in-process (the local runner's view): plain values, clock, threads."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from podnet.clock import EPOCH, SimClock, SystemClock
from podnet.fakes.mns.backend import MNSBackend, OutgoingMessage
from podnet.fakes.mns.errors import (
    MessageNotExist,
    QueueNotExist,
    ReceiptHandleError,
    ResponseLost,
    ServiceUnavailable,
    TooManyRequests,
)


@pytest.fixture
def backend(mns_backend: MNSBackend) -> MNSBackend:
    mns_backend.create_queue("q")
    return mns_backend


def test_send_receive_delete_with_plain_values(backend: MNSBackend) -> None:
    message_id = backend.send("q", "hello", priority=2)
    [got] = backend.receive("q")
    assert (got.message_id, got.body, got.priority, got.dequeue_count) == (message_id, "hello", 2, 1)
    backend.delete("q", got.receipt_handle)
    assert backend.receive("q") == []
    assert backend.is_idle()


def test_stats_next_visible_and_idle(backend: MNSBackend, mns_clock: SimClock) -> None:
    assert backend.is_idle() and backend.next_visible_at() is None
    backend.send("q", "later", delay_s=120)
    s = backend.stats("q")
    assert (s.visible, s.delayed, s.in_flight) == (0, 1, 0)
    assert backend.is_idle()  # delayed messages do not count as work now
    assert backend.next_visible_at("q") == EPOCH + timedelta(seconds=120)
    backend.send("q", "now")
    assert not backend.is_idle()
    [got] = backend.receive("q")
    s = backend.stats("q")
    assert (s.visible, s.delayed, s.in_flight, s.total) == (0, 1, 1, 2)
    assert not backend.is_idle()
    assert backend.next_visible_at() == EPOCH + timedelta(seconds=30)  # the in-flight one is due first
    mns_clock.set(backend.next_visible_at())  # a runner jumping to the next due time
    assert backend.stats("q").visible == 1


def test_change_visibility_in_process(backend: MNSBackend, mns_clock: SimClock) -> None:
    backend.send("q", "x")
    [got] = backend.receive("q")
    new = backend.change_visibility("q", got.receipt_handle, 600)
    assert new != got.receipt_handle
    assert backend.next_visible_at("q") == EPOCH + timedelta(seconds=600)
    with pytest.raises(ReceiptHandleError):
        backend.delete("q", got.receipt_handle)
    backend.delete("q", new)
    with pytest.raises(MessageNotExist):
        backend.delete("q", new)


def test_send_messages_batch_and_delete_batch(backend: MNSBackend) -> None:
    sent = backend.send_messages("q", [OutgoingMessage(f"m{i}") for i in range(4)])
    got = backend.receive("q", n=16)
    assert {m.message_id for m in got} == {s.message_id for s in sent}
    errors = backend.delete_batch("q", [m.receipt_handle for m in got] + ["1-bad"])
    assert [(h, code) for h, code, _ in errors] == [("1-bad", "ReceiptHandleError")]
    assert backend.stats("q").total == 0


def test_recreated_queue_rejects_old_handles(backend: MNSBackend) -> None:
    backend.send("q", "x")
    [got] = backend.receive("q")
    backend.delete_queue("q")
    with pytest.raises(QueueNotExist):
        backend.delete("q", got.receipt_handle)
    backend.create_queue("q")
    with pytest.raises(ReceiptHandleError):
        backend.delete("q", got.receipt_handle)


def test_in_process_faults(backend: MNSBackend) -> None:
    backend.faults.add(service="mns", kind="throttle", action="SendMessage", count=1)
    with pytest.raises(TooManyRequests):
        backend.send("q", "x")
    backend.faults.add(service="mns", kind="unavailable", action="ReceiveMessage", count=1)
    with pytest.raises(ServiceUnavailable):
        backend.receive("q")
    backend.faults.add(service="mns", kind="lose_response", action="SendMessage", count=1)
    with pytest.raises(ResponseLost):
        backend.send("q", "x")
    assert backend.stats("q").visible == 1  # the side effect happened
    assert backend.send("q", "y", faults=False)  # faults=False skips the rules
    backend.faults.add(service="mns", kind="duplicate", action="ReceiveMessage", count=1)
    [first] = backend.receive("q")
    [again] = backend.receive("q")
    assert again.message_id == first.message_id and again.dequeue_count == 2


def test_long_poll_wakes_on_send_and_on_clock_without_deadlock(
    backend: MNSBackend, mns_clock: SimClock
) -> None:
    backend.create_queue("delayed")
    backend.send("delayed", "d", delay_s=3600)
    results: dict[str, list[str]] = {}

    def poll(queue: str) -> None:
        results[queue] = [m.body for m in backend.receive(queue, n=16, wait_s=10)]

    threads = [threading.Thread(target=poll, args=(q,)) for q in ("q", "delayed")]
    for t in threads:
        t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    backend.send("q", "s")
    for _ in range(50):  # many small advances while the other waiter is blocked
        mns_clock.advance(72)
    for t in threads:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in threads)
    assert results == {"q": ["s"], "delayed": ["d"]}
    assert time.monotonic() - t0 < 3


def test_close_releases_waiters(backend: MNSBackend) -> None:
    done = threading.Event()

    def poll() -> None:
        backend.receive("q", wait_s=30)
        done.set()

    threading.Thread(target=poll, daemon=True).start()
    time.sleep(0.1)
    backend.close()
    assert done.wait(2)


def test_deleting_the_queue_ends_a_long_poll(backend: MNSBackend) -> None:
    errors: list[Exception] = []

    def poll() -> None:
        try:
            backend.receive("q", wait_s=30)
        except QueueNotExist as e:
            errors.append(e)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.1)
    backend.delete_queue("q")
    t.join(timeout=2)
    assert len(errors) == 1


def test_concurrent_producers_and_consumers_see_each_message_once(backend: MNSBackend) -> None:
    n_producers, per_producer = 4, 50
    received: list[str] = []
    lock = threading.Lock()

    def produce(p: int) -> None:
        for i in range(per_producer):
            backend.send("q", f"{p}-{i}")

    def consume() -> None:
        while True:
            got = backend.receive("q", n=16, wait_s=0.3)
            if not got:
                return
            for m in got:
                backend.delete("q", m.receipt_handle)
            with lock:
                received.extend(m.body for m in got)

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(n_producers)]
    threads += [threading.Thread(target=consume) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(received) == sorted(f"{p}-{i}" for p in range(n_producers) for i in range(per_producer))


def test_system_clock_long_poll_wakes_when_a_delay_ends() -> None:
    backend = MNSBackend(SystemClock())
    try:
        backend.create_queue("q")
        backend.send("q", "soon", delay_s=1)
        t0 = time.monotonic()
        [got] = backend.receive("q", wait_s=5)
        assert got.body == "soon"
        assert 0.8 < time.monotonic() - t0 < 2.5
    finally:
        backend.close()


def test_ids_are_deterministic_for_a_seed() -> None:
    def ids(seed: int) -> list[str]:
        b = MNSBackend(SimClock(), seed=seed)
        b.create_queue("q")
        out = [b.send("q", "x") for _ in range(3)]
        out += [m.receipt_handle for m in b.receive("q", n=3)]
        b.close()
        return out

    assert ids(1) == ids(1)
    assert ids(1) != ids(2)
