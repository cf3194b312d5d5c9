"""Fake MNS queue CRUD, driven through the real aliyun-mns-sdk."""

from __future__ import annotations

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.mns_request import ListQueueRequest, ListQueueResponse
from mns.queue import Message, QueueMeta

from podnet.fakes.mns.backend import MNSBackend

# the SDK marks the message-count attributes deprecated; MNS still returns them
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")


def meta(**kw: int) -> QueueMeta:
    m = QueueMeta()
    for key, value in kw.items():
        getattr(m, f"set_{key}")(value)
    return m


def test_create_returns_url_and_defaults(mns_account: Account, mns_server) -> None:
    url = mns_account.get_queue("events").create(QueueMeta())
    assert url == f"{mns_server.url}/queues/events"
    attrs = mns_account.get_queue("events").get_attributes()
    assert attrs.queue_name == "events"
    assert attrs.visibility_timeout == 30
    assert attrs.maximum_message_size == 65536
    assert attrs.message_retention_period == 345600
    assert attrs.delay_seconds == 0
    assert attrs.polling_wait_seconds == 0
    assert attrs.logging_enabled is False
    assert attrs.create_time == 1735689600  # the SimClock's start, in seconds


def test_create_again_same_attributes_is_fine_different_is_409(
    mns_account: Account, mns_backend: MNSBackend
) -> None:
    q = mns_account.get_queue("events")
    q.create(meta(visibilitytimeout=10))
    q.create(meta(visibilitytimeout=10))  # 204: same attributes
    assert mns_backend.create_queue("events", visibility_timeout=10) is False
    with pytest.raises(MNSServerException) as e:
        q.create(meta(visibilitytimeout=11))
    assert e.value.type == "QueueAlreadyExist"
    assert e.value.req_id


def test_set_attributes_changes_only_the_given_ones(mns_account: Account) -> None:
    q = mns_account.get_queue("events")
    q.create(meta(visibilitytimeout=10, delay_seconds=5))
    q.set_attributes(meta(visibilitytimeout=99))
    attrs = q.get_attributes()
    assert attrs.visibility_timeout == 99
    assert attrs.delay_seconds == 5


def test_unknown_and_deleted_queues_are_404(mns_account: Account) -> None:
    q = mns_account.get_queue("events")
    for call in (q.get_attributes, lambda: q.send_message(Message("x")), q.receive_message, q.delete):
        with pytest.raises(MNSServerException) as e:
            call()
        assert e.value.type == "QueueNotExist"
    q.create(QueueMeta())
    q.delete()
    with pytest.raises(MNSServerException) as e:
        q.get_attributes()
    assert e.value.type == "QueueNotExist"


@pytest.mark.parametrize(
    ("name", "code"),
    [("1abc", "InvalidQueueName"), ("a_b", "InvalidQueueName"), ("a" * 121, "QueueNameLengthError")],
)
def test_invalid_queue_names(mns_account: Account, name: str, code: str) -> None:
    with pytest.raises(MNSServerException) as e:
        mns_account.get_queue(name).create(QueueMeta())
    assert e.value.type == code


@pytest.mark.parametrize(
    "attrs",
    [
        {"maximum_message_size": 100},
        {"visibilitytimeout": 43201},
        {"message_retention_period": 59},
        {"polling_wait_seconds": 31},
        {"delay_seconds": 604801},
    ],
)
def test_out_of_range_attributes_are_invalid_argument(mns_account: Account, attrs: dict[str, int]) -> None:
    with pytest.raises(MNSServerException) as e:
        mns_account.get_queue("events").create(meta(**attrs))
    assert e.value.type == "InvalidArgument"


def test_list_queues_with_prefix_paging_and_meta(mns_account: Account, mns_server) -> None:
    for name in ("a-1", "a-2", "a-3", "b-1"):
        mns_account.get_queue(name).create(QueueMeta())
    urls, marker = mns_account.list_queue(prefix="a-", ret_number=2)
    assert urls == [f"{mns_server.url}/queues/a-1", f"{mns_server.url}/queues/a-2"]
    assert marker == "a-3"
    urls, marker = mns_account.list_queue(prefix="a-", ret_number=2, marker=marker)
    assert urls == [f"{mns_server.url}/queues/a-3"] and marker == ""
    # with meta: only through the SDK's lower-level client
    req, resp = ListQueueRequest(prefix="b", with_meta=True), ListQueueResponse()
    mns_account.mns_client.list_queue(req, resp)
    assert len(resp.queueurl_list) == 1
    assert resp.queuemeta_list[0]["QueueName"] == "b-1"
    assert resp.queuemeta_list[0]["VisibilityTimeout"] == "30"


def test_attributes_count_messages_by_state(mns_account: Account, mns_clock) -> None:
    q = mns_account.get_queue("events")
    q.create(QueueMeta())
    q.send_message(Message("visible"))
    q.send_message(Message("delayed", delay_seconds=60))
    q.send_message(Message("taken"))
    q.receive_message()
    attrs = q.get_attributes()
    assert (attrs.active_messages, attrs.inactive_messages, attrs.delay_messages) == (1, 1, 1)
    mns_clock.advance(60)
    attrs = q.get_attributes()
    assert (attrs.active_messages, attrs.inactive_messages, attrs.delay_messages) == (3, 0, 0)
