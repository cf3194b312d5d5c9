"""The fake MNS on the wire: status codes, error XML, malformed requests, Authorization checks."""

from __future__ import annotations

import base64
import hashlib
import http.client
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.mns_xml_handler import ErrorDecoder
from mns.queue import Message, QueueMeta

from podnet.fakes.mns.backend import MNSBackend
from podnet.fakes.mns.server import XMLNS, FakeMNSServer, _parse_query

AUTH = {"Authorization": "MNS ak:c2lnbmF0dXJl", "x-mns-version": "2015-06-06"}


@pytest.fixture
def conn(mns_server: FakeMNSServer, mns_backend: MNSBackend) -> Iterator[http.client.HTTPConnection]:
    mns_backend.create_queue("events", faults=False)
    c = http.client.HTTPConnection("127.0.0.1", mns_server.port, timeout=10)
    yield c
    c.close()


def call(
    c: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    c.request(method, path, body=body or None, headers=AUTH if headers is None else headers)
    r = c.getresponse()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


def error_of(status: int, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """Check the error shape the SDK requires, return (status, code)."""
    assert headers["x-mns-request-id"]
    root = ET.fromstring(body)
    assert root.tag == f"{{{XMLNS}}}Error"
    code, message, request_id, host_id, _ = ErrorDecoder.decodeError(body.decode())
    assert message and host_id and request_id == headers["x-mns-request-id"]
    return status, code


def test_success_codes(conn: http.client.HTTPConnection) -> None:
    status, headers, _ = call(conn, "PUT", "/queues/other", b"")
    assert status == 201 and headers["location"].endswith("/queues/other")
    assert call(conn, "PUT", "/queues/other", b"")[0] == 204
    msg = f'<?xml version="1.0"?><Message xmlns="{XMLNS}"><MessageBody>aGk=</MessageBody></Message>'.encode()
    status, headers, body = call(conn, "POST", "/queues/events/messages", msg)
    assert status == 201 and headers["x-mns-request-id"]
    assert (
        ET.fromstring(body).find(f"{{{XMLNS}}}MessageBodyMD5").text
        == hashlib.md5(b"aGk=").hexdigest().upper()
    )
    status, _, body = call(conn, "GET", "/queues/events/messages?waitseconds=0")
    assert status == 200
    fields = [el.tag.split("}")[1] for el in ET.fromstring(body)]
    assert sorted(fields) == sorted(
        [
            "MessageId",
            "ReceiptHandle",
            "MessageBodyMD5",
            "MessageBody",
            "EnqueueTime",
            "NextVisibleTime",
            "FirstDequeueTime",
            "DequeueCount",
            "Priority",
        ]
    )
    handle = ET.fromstring(body).find(f"{{{XMLNS}}}ReceiptHandle").text
    assert call(conn, "DELETE", f"/queues/events/messages?ReceiptHandle={handle}")[0] == 204
    assert call(conn, "DELETE", "/queues/other")[0] == 204


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", "/queues/events/messages", b"<Message><MessageBody>x", (400, "MalformedXML")),
        ("POST", "/queues/events/messages", b"<Nope/>", (400, "InvalidArgument")),
        ("POST", "/queues/events/messages", b"<Message><Bogus>1</Bogus></Message>", (400, "InvalidArgument")),
        (
            "POST",
            "/queues/events/messages",
            b"<Message><DelaySeconds>1</DelaySeconds></Message>",
            (400, "InvalidArgument"),
        ),
        (
            "POST",
            "/queues/events/messages",
            b"<Message><MessageBody>x</MessageBody><Priority>0</Priority></Message>",
            (400, "InvalidArgument"),
        ),
        (
            "POST",
            "/queues/events/messages",
            b"<Message><MessageBody>x</MessageBody><DelaySeconds>a</DelaySeconds></Message>",
            (400, "InvalidArgument"),
        ),
        (
            "PUT",
            "/queues/new",
            b"<Queue><VisibilityTimeout>x</VisibilityTimeout></Queue>",
            (400, "InvalidArgument"),
        ),
        ("PUT", "/queues/new", b"<Queue", (400, "MalformedXML")),
        ("GET", "/nowhere", b"", (400, "InvalidRequestURL")),
        ("GET", "/queues/events/messages/extra", b"", (400, "InvalidRequestURL")),
        ("POST", "/queues/events", b"", (400, "InvalidRequestURL")),
        ("GET", "/queues/events/messages?bogus=1", b"", (400, "InvalidQueryString")),
        ("GET", "/queues/events/messages?waitseconds=31", b"", (400, "InvalidArgument")),
        ("GET", "/queues/events/messages?waitseconds=abc", b"", (400, "InvalidArgument")),
        ("GET", "/queues/events/messages?numOfMessages=17", b"", (400, "InvalidArgument")),
        ("GET", "/queues/events/messages?numOfMessages=0", b"", (400, "InvalidArgument")),
        ("GET", "/queues/events/messages?peekonly=maybe", b"", (400, "InvalidArgument")),
        ("GET", "/queues/events/messages", b"", (404, "MessageNotExist")),
        ("GET", "/queues/missing/messages", b"", (404, "QueueNotExist")),
        ("DELETE", "/queues/events/messages?ReceiptHandle=", b"", (400, "MissingReceiptHandle")),
        (
            "DELETE",
            "/queues/events/messages",
            b"<ReceiptHandles><Other/></ReceiptHandles>",
            (400, "InvalidArgument"),
        ),
        ("PUT", "/queues/events/messages?ReceiptHandle=1-x", b"", (400, "MissingVisibilityTimeout")),
        ("PUT", "/queues/events/messages?VisibilityTimeout=5", b"", (400, "MissingReceiptHandle")),
        (
            "PUT",
            "/queues/events/messages?ReceiptHandle=1-x&VisibilityTimeout=0",
            b"",
            (400, "InvalidArgument"),
        ),
        (
            "PUT",
            "/queues/events/messages?ReceiptHandle=1-x&VisibilityTimeout=5",
            b"",
            (400, "ReceiptHandleError"),
        ),
    ],
)
def test_malformed_requests_get_mns_errors(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes, expected: tuple[int, str]
) -> None:
    assert error_of(*call(conn, method, path, body)) == expected
    # the connection stays usable after an error
    assert call(conn, "GET", "/queues/events")[0] == 200


def test_fault_statuses_on_the_wire(conn: http.client.HTTPConnection, mns_backend: MNSBackend) -> None:
    mns_backend.faults.add(service="mns", kind="throttle", action="GetQueueAttributes", count=1)
    mns_backend.faults.add(service="mns", kind="unavailable", action="ListQueue", count=1)
    assert error_of(*call(conn, "GET", "/queues/events")) == (429, "TooManyRequests")
    assert error_of(*call(conn, "GET", "/queues")) == (503, "ServiceUnavailable")
    assert call(conn, "GET", "/queues/events")[0] == 200


def test_batch_delete_error_shape(conn: http.client.HTTPConnection) -> None:
    body = f'<ReceiptHandles xmlns="{XMLNS}"><ReceiptHandle>1-bad</ReceiptHandle></ReceiptHandles>'.encode()
    status, headers, payload = call(conn, "DELETE", "/queues/events/messages", body)
    assert status == 404 and headers["x-mns-request-id"]
    errors = ET.fromstring(payload)
    assert errors.tag == f"{{{XMLNS}}}Errors"
    error = errors.find(f"{{{XMLNS}}}Error")
    assert error.find(f"{{{XMLNS}}}ErrorCode").text == "ReceiptHandleError"
    assert error.find(f"{{{XMLNS}}}ReceiptHandle").text == "1-bad"


def test_authorization_header_is_required_and_shaped(conn: http.client.HTTPConnection) -> None:
    assert error_of(*call(conn, "GET", "/queues/events", headers={})) == (400, "MissingAuthorizationHeader")
    bad = {"Authorization": "Bearer x"}
    assert error_of(*call(conn, "GET", "/queues/events", headers=bad)) == (400, "InvalidAuthorizationHeader")


def test_content_md5_is_checked(conn: http.client.HTTPConnection) -> None:
    body = f'<Message xmlns="{XMLNS}"><MessageBody>aGk=</MessageBody></Message>'.encode()
    right = base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()  # the SDK's quirk
    assert call(conn, "POST", "/queues/events/messages", body, {**AUTH, "Content-MD5": right})[0] == 201
    wrong = {**AUTH, "Content-MD5": base64.b64encode(b"0" * 32).decode()}
    assert error_of(*call(conn, "POST", "/queues/events/messages", body, wrong)) == (400, "InvalidDegist")


def test_signature_check_with_credentials(mns_server: FakeMNSServer) -> None:
    mns_server.credentials = {"ak": "sk"}
    good = Account(mns_server.url, "ak", "sk").get_queue("signed")
    good.create(QueueMeta())
    good.send_message(Message("x"))  # a body: Content-MD5 and Content-Type are signed too
    assert good.receive_message(wait_seconds=0).message_body == b"x"
    with pytest.raises(MNSServerException) as e:
        Account(mns_server.url, "ak", "wrong").get_queue("signed").get_attributes()
    assert e.value.type == "SignatureDoesNotMatch"
    with pytest.raises(MNSServerException) as e:
        Account(mns_server.url, "nobody", "sk").get_queue("signed").get_attributes()
    assert e.value.type == "InvalidAccessKeyId"


def test_query_keeps_plus_and_ignores_key_case() -> None:
    assert _parse_query("ReceiptHandle=a+b/c==&visibilityTimeout=5") == {
        "receipthandle": "a+b/c==",
        "visibilitytimeout": "5",
    }


def test_unexpected_backend_failure_is_internal_error(
    conn: http.client.HTTPConnection, mns_backend: MNSBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(mns_backend, "get_queue_attributes", boom)
    assert error_of(*call(conn, "GET", "/queues/events")) == (500, "InternalError")
