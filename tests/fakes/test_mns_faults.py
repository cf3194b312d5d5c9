"""Fault injection in the fake MNS, as the real SDK experiences it."""

from __future__ import annotations

import time

import pytest
from mns.account import Account
from mns.mns_exception import MNSClientNetworkException, MNSServerException
from mns.queue import Message, Queue, QueueMeta

from podnet.clock import SimClock
from podnet.fakes.mns.backend import MNSBackend
from podnet.fakes.mns.errors import TooManyRequests


@pytest.fixture
def queue(mns_account: Account) -> Queue:
    q = mns_account.get_queue("events")
    q.create(QueueMeta())
    return q


def test_throttle_is_429_too_many_requests_for_that_action_only(
    queue: Queue, mns_backend: MNSBackend
) -> None:
    mns_backend.faults.add(service="mns", kind="throttle", action="SendMessage", count=1)
    with pytest.raises(MNSServerException) as e:
        queue.send_message(Message("x"))
    assert e.value.type == "TooManyRequests"
    assert mns_backend.stats("events").total == 0  # nothing happened
    queue.send_message(Message("x"))  # count=1: the next one passes
    queue.receive_message()  # other actions were never affected


def test_unavailable_is_503_service_unavailable(queue: Queue, mns_backend: MNSBackend) -> None:
    mns_backend.faults.add(service="mns", kind="unavailable", action="ReceiveMessage")
    queue.send_message(Message("x"))
    with pytest.raises(MNSServerException) as e:
        queue.receive_message()
    assert e.value.type == "ServiceUnavailable"
    assert mns_backend.stats("events").visible == 1


def test_error_answers_the_rule_code(queue: Queue, mns_backend: MNSBackend) -> None:
    mns_backend.faults.add(service="mns", kind="error", action="*", status=500, code="InternalError", count=1)
    with pytest.raises(MNSServerException) as e:
        queue.get_attributes()
    assert e.value.type == "InternalError"


def test_latency_delays_the_answer(queue: Queue, mns_backend: MNSBackend) -> None:
    mns_backend.faults.add(service="mns", kind="latency", action="SendMessage", latency_s=0.3)
    t0 = time.monotonic()
    queue.send_message(Message("x"))
    assert time.monotonic() - t0 >= 0.3


def test_lost_send_response_is_retried_by_the_sdk_and_duplicates(
    queue: Queue, mns_backend: MNSBackend
) -> None:
    # The SDK re-sends once when the connection drops before the answer (BadStatusLine), so one
    # lost response means the message went in twice: the at-least-once case consumers must handle.
    mns_backend.faults.add(service="mns", kind="lose_response", action="SendMessage", count=1)
    queue.send_message(Message("x"))
    assert mns_backend.stats("events").visible == 2


def test_two_lost_responses_surface_as_a_network_error(queue: Queue, mns_backend: MNSBackend) -> None:
    mns_backend.faults.add(service="mns", kind="lose_response", action="SendMessage", count=2)
    with pytest.raises(MNSClientNetworkException) as e:
        queue.send_message(Message("x"))
    assert e.value.type == "NetWorkException"
    assert mns_backend.stats("events").visible == 2  # both side effects happened
    queue.send_message(Message("y"))  # the client reconnects


def test_lost_delete_response_makes_the_retry_say_message_not_exist(
    queue: Queue, mns_backend: MNSBackend
) -> None:
    queue.send_message(Message("x"))
    got = queue.receive_message()
    mns_backend.faults.add(service="mns", kind="lose_response", action="DeleteMessage", count=1)
    with pytest.raises(MNSServerException) as e:
        queue.delete_message(got.receipt_handle)
    assert e.value.type == "MessageNotExist"  # the first attempt did delete it
    assert mns_backend.stats("events").total == 0


def test_duplicate_delivers_the_message_again(queue: Queue, mns_backend: MNSBackend) -> None:
    queue.send_message(Message("x"))
    mns_backend.faults.add(service="mns", kind="duplicate", action="ReceiveMessage", count=1)
    first = queue.receive_message()
    queue.delete_message(first.receipt_handle)  # even a prompt delete does not stop the copy
    second = queue.receive_message()
    assert second.message_id == first.message_id
    assert second.message_body == first.message_body == b"x"
    assert second.dequeue_count == 2
    assert second.receipt_handle != first.receipt_handle
    queue.delete_message(second.receipt_handle)
    assert mns_backend.stats("events").total == 0


def test_duplicate_on_batch_receive(queue: Queue, mns_backend: MNSBackend, mns_clock: SimClock) -> None:
    queue.batch_send_message([Message("a"), Message("b")])
    mns_backend.faults.add(service="mns", kind="duplicate", action="BatchReceiveMessage", count=1)
    first = queue.batch_receive_message(16)
    again = queue.batch_receive_message(16)
    assert sorted(m.message_id for m in again) == sorted(m.message_id for m in first)


def test_rate_is_deterministic_for_a_seed(mns_clock: SimClock) -> None:
    def pattern(seed: int) -> list[bool]:
        backend = MNSBackend(mns_clock, seed=seed)
        backend.faults.add(service="mns", kind="throttle", action="SendMessage", rate=0.5)
        backend.create_queue("q", faults=False)
        out = []
        for _ in range(20):
            try:
                backend.send("q", "x")
                out.append(True)
            except TooManyRequests:
                out.append(False)
        return out

    assert pattern(7) == pattern(7)
    assert True in pattern(7) and False in pattern(7)
