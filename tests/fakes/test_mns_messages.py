"""Fake MNS messages (send, receive, visibility, handles, delete, peek, long poll), through the real SDK."""

from __future__ import annotations

import base64
import hashlib
import threading
import time

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, Queue, QueueMeta

from podnet.clock import SimClock
from podnet.fakes.mns.backend import MNSBackend

START_MS = 1735689600000  # SimClock's default start, in ms


@pytest.fixture
def queue(mns_account: Account) -> Queue:
    q = mns_account.get_queue("events")
    q.create(QueueMeta())
    return q


def server_error(call, *args, **kwargs) -> MNSServerException:  # type: ignore[no-untyped-def]
    with pytest.raises(MNSServerException) as e:
        call(*args, **kwargs)
    return e.value


def test_send_answers_id_and_upper_hex_md5_of_the_wire_body(queue: Queue) -> None:
    sent = queue.send_message(Message("hello"))
    wire_body = base64.b64encode(b"hello")  # the SDK base64-encodes by default
    assert sent.message_body_md5 == hashlib.md5(wire_body).hexdigest().upper()
    assert sent.message_id
    got = queue.receive_message()
    assert got.message_body == b"hello"
    assert got.message_id == sent.message_id
    assert got.message_body_md5 == sent.message_body_md5


def test_receive_has_every_field_from_the_clock(queue: Queue, mns_clock: SimClock) -> None:
    queue.send_message(Message("x", priority=3))
    mns_clock.advance(2)
    got = queue.receive_message()
    assert got.enqueue_time == START_MS
    assert got.first_dequeue_time == START_MS + 2000
    assert got.next_visible_time == START_MS + 2000 + 30000  # the queue's VisibilityTimeout
    assert got.dequeue_count == 1
    assert got.priority == 3
    assert got.receipt_handle


def test_raw_encoding_round_trips_xml_special_characters(queue: Queue) -> None:
    queue.set_encoding(False)
    body = '{"a": "<b> & \'c\'"} 中文'
    sent = queue.send_message(Message(body))
    assert sent.message_body_md5 == hashlib.md5(body.encode()).hexdigest().upper()
    assert queue.receive_message().message_body == body


def test_batch_send_and_batch_receive(queue: Queue) -> None:
    sent = queue.batch_send_message([Message(f"m{i}") for i in range(3)])
    assert len({m.message_id for m in sent}) == 3
    got = queue.batch_receive_message(16)
    assert sorted(m.message_body for m in got) == [b"m0", b"m1", b"m2"]
    assert {m.message_id for m in got} == {m.message_id for m in sent}
    assert len({m.receipt_handle for m in got}) == 3
    assert all(m.dequeue_count == 1 for m in got)


def test_batch_send_over_16_is_rejected_whole(queue: Queue, mns_backend: MNSBackend) -> None:
    e = server_error(queue.batch_send_message, [Message(f"m{i}") for i in range(17)])
    assert e.type == "InvalidArgument"
    assert mns_backend.stats("events").total == 0


def test_batch_receive_over_16_is_invalid(queue: Queue) -> None:
    queue.send_message(Message("x"))
    assert server_error(queue.batch_receive_message, 17).type == "InvalidArgument"


def test_oversized_message_is_invalid_argument(mns_account: Account) -> None:
    q = mns_account.get_queue("small")
    q.create(QueueMeta(max_msg_size=1024))
    q.set_encoding(False)
    q.send_message(Message("a" * 1024))
    assert server_error(q.send_message, Message("a" * 1025)).type == "InvalidArgument"


def test_higher_priority_is_received_first(queue: Queue) -> None:
    queue.send_message(Message("low", priority=8))
    queue.send_message(Message("high", priority=1))
    assert queue.receive_message().message_body == b"high"
    assert queue.receive_message().message_body == b"low"


def test_empty_receive_is_message_not_exist(queue: Queue) -> None:
    e = server_error(queue.receive_message)
    assert e.type == "MessageNotExist"
    assert e.req_id and e.host_id
    assert server_error(queue.batch_receive_message, 4).type == "MessageNotExist"


def test_visibility_timeout_then_redelivery_with_dequeue_count_2(queue: Queue, mns_clock: SimClock) -> None:
    queue.send_message(Message("x"))
    first = queue.receive_message()
    assert server_error(queue.receive_message).type == "MessageNotExist"  # hidden
    mns_clock.advance(29.999)
    assert server_error(queue.receive_message).type == "MessageNotExist"
    mns_clock.advance(0.001)
    second = queue.receive_message()
    assert second.message_id == first.message_id
    assert second.dequeue_count == 2
    assert second.first_dequeue_time == first.first_dequeue_time
    assert second.enqueue_time == first.enqueue_time
    assert second.receipt_handle != first.receipt_handle
    # the first handle was replaced by the second receive
    assert server_error(queue.delete_message, first.receipt_handle).type == "ReceiptHandleError"
    queue.delete_message(second.receipt_handle)


def test_handles_rotate_on_every_receive(queue: Queue, mns_clock: SimClock) -> None:
    queue.send_message(Message("x"))
    handles = []
    for _ in range(4):
        handles.append(queue.receive_message().receipt_handle)
        mns_clock.advance(30)
    assert len(set(handles)) == 4


def test_handle_expires_at_next_visible_time(queue: Queue, mns_clock: SimClock) -> None:
    queue.send_message(Message("x"))
    got = queue.receive_message()
    mns_clock.advance(30)  # visible again, nobody received it
    assert server_error(queue.delete_message, got.receipt_handle).type == "ReceiptHandleError"
    assert server_error(queue.change_message_visibility, got.receipt_handle, 10).type == "ReceiptHandleError"


def test_garbage_handle_is_receipt_handle_error(queue: Queue) -> None:
    assert server_error(queue.delete_message, "not-a-handle").type == "ReceiptHandleError"
    assert server_error(queue.delete_message, "1-bm9wZQ").type == "ReceiptHandleError"


def test_delete_then_delete_again(queue: Queue, mns_backend: MNSBackend, mns_clock: SimClock) -> None:
    queue.send_message(Message("x"))
    got = queue.receive_message()
    queue.delete_message(got.receipt_handle)
    assert mns_backend.stats("events").total == 0
    assert server_error(queue.delete_message, got.receipt_handle).type == "MessageNotExist"
    mns_clock.advance(60)
    assert server_error(queue.receive_message).type == "MessageNotExist"  # gone for good


def test_change_visibility_returns_a_new_handle_and_time(queue: Queue, mns_clock: SimClock) -> None:
    queue.send_message(Message("x"))
    got = queue.receive_message()
    mns_clock.advance(5)
    changed = queue.change_message_visibility(got.receipt_handle, 60)
    assert changed.receipt_handle != got.receipt_handle
    assert int(changed.next_visible_time) == START_MS + 5000 + 60000  # the SDK leaves it a str
    assert server_error(queue.delete_message, got.receipt_handle).type == "ReceiptHandleError"
    mns_clock.advance(59)
    assert server_error(queue.receive_message).type == "MessageNotExist"
    mns_clock.advance(1)
    again = queue.receive_message()
    assert again.dequeue_count == 2
    queue.delete_message(again.receipt_handle)


def test_change_visibility_then_delete_with_new_handle(queue: Queue, mns_backend: MNSBackend) -> None:
    queue.send_message(Message("x"))
    got = queue.receive_message()
    changed = queue.change_message_visibility(got.receipt_handle, 120)
    queue.delete_message(changed.receipt_handle)
    assert mns_backend.stats("events").total == 0


def test_batch_delete_reports_each_bad_handle(
    queue: Queue, mns_backend: MNSBackend, mns_clock: SimClock
) -> None:
    queue.batch_send_message([Message(f"m{i}") for i in range(3)])
    got = queue.batch_receive_message(3)
    stale = got[2].receipt_handle
    queue.change_message_visibility(stale, 10)  # rotates its handle
    e = server_error(queue.batch_delete_message, [got[0].receipt_handle, got[1].receipt_handle, stale])
    assert e.type == "ReceiptHandleError"
    assert e.sub_errors == [
        {
            "ErrorCode": "ReceiptHandleError",
            "ErrorMessage": e.sub_errors[0]["ErrorMessage"],
            "ReceiptHandle": stale,
        }
    ]
    assert mns_backend.stats("events").total == 1  # the two good ones went


def test_batch_delete_all_good_is_silent(queue: Queue, mns_backend: MNSBackend) -> None:
    queue.batch_send_message([Message(f"m{i}") for i in range(2)])
    got = queue.batch_receive_message(2)
    queue.batch_delete_message([m.receipt_handle for m in got])
    assert mns_backend.stats("events").total == 0


def test_delay_runs_on_the_injected_clock(queue: Queue, mns_clock: SimClock) -> None:
    queue.send_message(Message("later", delay_seconds=60))
    assert server_error(queue.receive_message).type == "MessageNotExist"
    assert server_error(queue.peek_message).type == "MessageNotExist"
    mns_clock.advance(59)
    assert server_error(queue.receive_message).type == "MessageNotExist"
    mns_clock.advance(1)
    got = queue.receive_message()
    assert got.message_body == b"later"
    assert got.enqueue_time == START_MS


def test_queue_delay_seconds_is_the_default(mns_account: Account, mns_clock: SimClock) -> None:
    q = mns_account.get_queue("slow")
    q.create(QueueMeta(delay_sec=10))
    q.send_message(Message("queue-delay"))
    q.send_message(Message("no-delay", delay_seconds=0))
    assert q.receive_message().message_body == b"no-delay"
    assert server_error(q.receive_message).type == "MessageNotExist"
    mns_clock.advance(10)
    assert q.receive_message().message_body == b"queue-delay"


def test_peek_does_not_change_state(queue: Queue) -> None:
    queue.batch_send_message([Message("a"), Message("b")])
    peeked = queue.peek_message()
    assert peeked.message_body == b"a" and peeked.dequeue_count == 0 and peeked.first_dequeue_time == 0
    assert len(queue.batch_peek_message(16)) == 2
    got = queue.receive_message()
    assert got.message_id == peeked.message_id and got.dequeue_count == 1
    assert [m.message_body for m in queue.batch_peek_message(16)] == [b"b"]  # only visible ones


def test_retention_period_drops_old_messages(mns_account: Account, mns_clock: SimClock) -> None:
    q = mns_account.get_queue("short")
    q.create(QueueMeta(msg_ttl=60))
    q.send_message(Message("x"))
    mns_clock.advance(60)
    assert server_error(q.receive_message).type == "MessageNotExist"


def test_long_poll_returns_when_another_thread_sends(queue: Queue, mns_backend: MNSBackend) -> None:
    timer = threading.Timer(0.2, lambda: mns_backend.send("events", base64.b64encode(b"late").decode()))
    timer.start()
    t0 = time.monotonic()
    got = queue.receive_message(wait_seconds=10)
    assert got.message_body == b"late"
    assert 0.15 < time.monotonic() - t0 < 3


def test_long_poll_wakes_when_the_sim_clock_advances(queue: Queue, mns_clock: SimClock) -> None:
    queue.send_message(Message("delayed", delay_seconds=300))
    timer = threading.Timer(0.2, lambda: mns_clock.advance(300))
    timer.start()
    t0 = time.monotonic()
    got = queue.batch_receive_message(16, wait_seconds=10)
    assert [m.message_body for m in got] == [b"delayed"]
    assert time.monotonic() - t0 < 3


def test_long_poll_ends_empty_after_wait_seconds(queue: Queue) -> None:
    t0 = time.monotonic()
    assert server_error(queue.receive_message, wait_seconds=1).type == "MessageNotExist"
    assert 0.9 < time.monotonic() - t0 < 3


def test_polling_wait_seconds_is_the_default_wait(mns_account: Account, mns_backend: MNSBackend) -> None:
    q = mns_account.get_queue("polling")
    q.create(QueueMeta(polling_wait_sec=5))
    threading.Timer(0.2, lambda: mns_backend.send("polling", base64.b64encode(b"p").decode())).start()
    assert q.receive_message().message_body == b"p"  # no wait_seconds: the queue's 5 s apply


def test_wait_seconds_over_30_is_invalid(queue: Queue) -> None:
    assert server_error(queue.receive_message, wait_seconds=31).type == "InvalidArgument"
