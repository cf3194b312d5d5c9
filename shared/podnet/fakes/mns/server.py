"""The MNS XML-over-HTTP wire layer of the fake: parse, call the backend, serialise. No state here.

It serves what ``aliyun-mns-sdk`` (``mns.account.Account``) sends: queue CRUD under ``/queues/{q}``
and messages under ``/queues/{q}/messages``, with the namespace, status codes and elements its
decoders require (see ``mns/mns_xml_handler.py``). Every error, including a malformed request, is
the MNS ``<Error>`` XML with Code/Message/RequestId/HostId and an ``x-mns-request-id`` header.
Faults from ``backend.faults`` are applied here, per action, on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from email.message import Message as Headers
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from podnet.fakes.http import FakeHTTPServer, QuietHandler
from podnet.fakes.mns.backend import (
    MAX_WAIT_S,
    QUEUE_ATTRIBUTES,
    FaultPlan,
    MNSBackend,
    OutgoingMessage,
    QueueInfo,
    ReceivedMessage,
)
from podnet.fakes.mns.errors import (
    BatchDeleteFailed,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidAuthorizationHeader,
    InvalidDegist,
    InvalidQueryString,
    InvalidRequestURL,
    MalformedXML,
    MessageNotExist,
    MissingAuthorizationHeader,
    MissingReceiptHandle,
    MissingVisibilityTimeout,
    MNSError,
    SignatureDoesNotMatch,
)

XMLNS = "http://mns.aliyuncs.com/doc/v1/"
API_VERSION = "2015-06-06"
_AUTH = re.compile(r"^MNS ([^:\s]+):(\S+)$")

# status, body, extra headers
Reply = tuple[int, bytes, dict[str, str]]


# --- XML helpers -------------------------------------------------------------------------------------
def _el(tag: str, value: object) -> str:
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _doc(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{XMLNS}">{inner}</{root}>'.encode()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xml(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise MalformedXML(f"The XML you provided was not well-formed: {e}.") from None


def _schema_error(element: str) -> InvalidArgument:
    return InvalidArgument(
        f"The XML you provided did not validate against our published schema, cause by {element} element."
    )


def _int(name: str, text: str | None) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        raise InvalidArgument(f"The value of {name} should be an integer.") from None


def _message_xml(m: ReceivedMessage, receipt: bool) -> str:
    parts = [_el("MessageId", m.message_id)]
    if receipt:
        parts.append(_el("ReceiptHandle", m.receipt_handle))
    parts += [
        _el("MessageBodyMD5", m.body_md5),
        _el("MessageBody", m.body),
        _el("EnqueueTime", m.enqueue_time_ms),
        _el("FirstDequeueTime", m.first_dequeue_time_ms),
    ]
    if receipt:
        parts.append(_el("NextVisibleTime", m.next_visible_time_ms))
    parts += [_el("DequeueCount", m.dequeue_count), _el("Priority", m.priority)]
    return "".join(parts)


def _queue_meta_xml(info: QueueInfo) -> str:
    a, s = info.attributes, info.stats
    return "".join(
        [
            _el("QueueName", info.name),
            _el("CreateTime", info.create_time_s),
            _el("LastModifyTime", info.last_modify_time_s),
            _el("DelaySeconds", a.delay_seconds),
            _el("MaximumMessageSize", a.maximum_message_size),
            _el("MessageRetentionPeriod", a.message_retention_period),
            _el("VisibilityTimeout", a.visibility_timeout),
            _el("PollingWaitSeconds", a.polling_wait_seconds),
            _el("ActiveMessages", s.visible),
            _el("InactiveMessages", s.in_flight),
            _el("DelayMessages", s.delayed),
            _el("LoggingEnabled", "True" if a.logging_enabled else "False"),
        ]
    )


def _queue_attrs_from_xml(body: bytes) -> dict[str, object]:
    if not body.strip():
        return {}
    root = _parse_xml(body)
    if _local(root.tag) != "Queue":
        raise _schema_error(_local(root.tag))
    attrs: dict[str, object] = {}
    for child in root:
        name = _local(child.tag)
        if name in QUEUE_ATTRIBUTES:
            attrs[QUEUE_ATTRIBUTES[name][0]] = _int(name, child.text)
        elif name == "LoggingEnabled":
            text = (child.text or "").strip().lower()
            if text not in ("true", "false"):
                raise InvalidArgument("The value of LoggingEnabled should be True or False.")
            attrs["logging_enabled"] = text == "true"
        else:
            raise _schema_error(name)
    return attrs


def _outgoing_from_xml(el: ET.Element) -> OutgoingMessage:
    values: dict[str, str] = {}
    for child in el:
        name = _local(child.tag)
        if name in ("MessageBody", "DelaySeconds", "Priority"):
            values[name] = child.text or ""
        elif name not in ("MessageGroupId", "UserProperties", "SystemProperties"):
            raise _schema_error(name)  # the three above are accepted and ignored
    if not values.get("MessageBody"):
        raise _schema_error("MessageBody")
    delay = _int("DelaySeconds", values["DelaySeconds"]) if "DelaySeconds" in values else None
    priority = _int("Priority", values["Priority"]) if "Priority" in values else 8
    return OutgoingMessage(values["MessageBody"], delay, priority)


def _parse_query(query: str) -> dict[str, str]:
    # Not parse_qs: it would turn "+" into a space, and the SDK puts handles in unencoded.
    # Keys compare case-insensitively (the SDK writes ReceiptHandle, the docs receiptHandle).
    out: dict[str, str] = {}
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            out[unquote(key).lower()] = unquote(value)
    return out


def string_to_sign(method: str, resource: str, headers: Headers) -> str:
    """The MNS StringToSign of a request (see the SDK's ``MNSClient.get_signature``)."""
    mns_headers = sorted((k.lower(), v.strip()) for k, v in headers.items() if k.lower().startswith("x-mns-"))
    canonical = "".join(f"{k}:{v}\n" for k, v in mns_headers)
    return (
        "\n".join(
            [method, headers.get("content-md5", ""), headers.get("content-type", ""), headers.get("date", "")]
        )
        + "\n"
        + canonical
        + resource
    )


# --- the handler -------------------------------------------------------------------------------------------
class MNSHandler(QuietHandler):
    """Turns one MNS request into backend calls and one XML answer."""

    server_version = "podnet-fake-mns"

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    @property
    def fake(self) -> FakeMNSServer:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def _host(self) -> str:
        return self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"

    def _handle(self) -> None:
        backend = self.fake.backend
        request_id = backend.new_request_id()
        try:
            body = self.read_body()
        except ValueError:  # a Content-Length that is not a number: we cannot find the next request
            self.close_connection = True
            body = b""
            reply = self._error(InvalidArgument("The Content-Length header is not valid."), request_id)
            self._send(reply, request_id)
            return
        plan = FaultPlan()
        try:
            self.fake.check_request(self.command, self.path, self.headers, body)
            action, run = self._route(body)
            plan = backend.plan_faults(action)
            if plan.latency_s:
                time.sleep(plan.latency_s)
            if plan.error is not None:
                raise plan.error
            reply = run(plan)
        except MNSError as e:
            reply = self._error(e, request_id)
        except Exception as e:  # never a traceback on the wire: an MNS InternalError instead
            reply = self._error(MNSError(f"Internal error: {type(e).__name__}: {e}"), request_id)
        if plan.lose_response:
            self.drop_connection()
            return
        self._send(reply, request_id)

    def _send(self, reply: Reply, request_id: str) -> None:
        status, payload, extra = reply
        headers = {"x-mns-request-id": request_id, "x-mns-version": API_VERSION, **extra}
        try:
            self.send_bytes(status, payload, "text/xml;charset=utf-8", headers)
        except OSError:
            self.close_connection = True  # the client went away (e.g. after a long poll)

    def _error(self, e: MNSError, request_id: str) -> Reply:
        if isinstance(e, BatchDeleteFailed):
            inner = "".join(
                "<Error>"
                + _el("ErrorCode", code)
                + _el("ErrorMessage", msg)
                + _el("ReceiptHandle", h)
                + "</Error>"
                for h, code, msg in e.errors
            )
            return e.status, _doc("Errors", inner), {}
        inner = (
            _el("Code", e.code)
            + _el("Message", e.message)
            + _el("RequestId", request_id)
            + _el("HostId", f"http://{self._host()}")
        )
        return e.status, _doc("Error", inner), {}

    # --- routing -------------------------------------------------------------------------------------
    def _route(self, body: bytes) -> tuple[str, Callable[[FaultPlan], Reply]]:
        split = urlsplit(self.path)
        parts = [unquote(p) for p in split.path.split("/") if p]
        query = _parse_query(split.query)
        method = self.command

        def allow(*keys: str) -> None:
            for key in query:
                if key not in keys:
                    raise InvalidQueryString(f'Http request URL contains invalid querystring item "{key}".')

        if parts == ["queues"] and method == "GET":
            allow()
            return "ListQueue", self._list_queues
        if len(parts) == 2 and parts[0] == "queues":
            q = parts[1]
            if method == "PUT" and query.get("metaoverride", "").lower() == "true":
                allow("metaoverride")
                attrs = _queue_attrs_from_xml(body)
                return "SetQueueAttributes", lambda plan: self._set_queue(q, attrs)
            if method == "PUT":
                allow()
                attrs = _queue_attrs_from_xml(body)
                return "CreateQueue", lambda plan: self._create_queue(q, attrs)
            if method == "GET":
                allow()
                return "GetQueueAttributes", lambda plan: self._get_queue(q)
            if method == "DELETE":
                allow()
                return "DeleteQueue", lambda plan: self._delete_queue(q)
        if len(parts) == 3 and parts[0] == "queues" and parts[2] == "messages":
            return self._route_messages(parts[1], method, query, body, allow)
        raise InvalidRequestURL(f"Http request URL format invalid: {method} {split.path}.")

    def _route_messages(
        self,
        q: str,
        method: str,
        query: dict[str, str],
        body: bytes,
        allow: Callable[..., None],
    ) -> tuple[str, Callable[[FaultPlan], Reply]]:
        if method == "POST":
            allow()
            root = _parse_xml(body)
            tag = _local(root.tag)
            if tag == "Message":
                msg = _outgoing_from_xml(root)
                return "SendMessage", lambda plan: self._send_messages(q, [msg], "SendMessage", batch=False)
            if tag == "Messages":
                msgs = [_outgoing_from_xml(el) for el in root if _local(el.tag) == "Message"]
                return "BatchSendMessage", lambda plan: self._send_messages(
                    q, msgs, "BatchSendMessage", batch=True
                )
            raise _schema_error(tag)
        if method == "GET":
            batch = "numofmessages" in query
            n = _int("numOfMessages", query["numofmessages"]) if batch else 1
            if "peekonly" in query:
                allow("peekonly", "numofmessages")
                if query["peekonly"].lower() != "true":
                    raise InvalidArgument("The value of peekonly should be true.")
                action = "BatchPeekMessage" if batch else "PeekMessage"
                return action, lambda plan: self._peek(q, n, action, batch)
            allow("waitseconds", "numofmessages")
            wait = _int("waitseconds", query["waitseconds"]) if "waitseconds" in query else None
            if wait is not None and not 0 <= wait <= MAX_WAIT_S:
                raise InvalidArgument(f"The value of waitseconds should between 0 and {MAX_WAIT_S}.")
            action = "BatchReceiveMessage" if batch else "ReceiveMessage"
            return action, lambda plan: self._receive(q, n, wait, action, batch, plan)
        if method == "DELETE":
            if "receipthandle" in query:
                allow("receipthandle")
                handle = query["receipthandle"]
                if not handle:
                    raise MissingReceiptHandle()
                return "DeleteMessage", lambda plan: self._delete(q, handle)
            allow()
            handles = self._handles_from_xml(body)
            return "BatchDeleteMessage", lambda plan: self._delete_batch(q, handles)
        if method == "PUT":
            allow("receipthandle", "visibilitytimeout")
            if not query.get("receipthandle"):
                raise MissingReceiptHandle()
            if not query.get("visibilitytimeout"):
                raise MissingVisibilityTimeout()
            handle, seconds = query["receipthandle"], _int("VisibilityTimeout", query["visibilitytimeout"])
            return "ChangeMessageVisibility", lambda plan: self._change_visibility(q, handle, seconds)
        raise InvalidRequestURL(f"Http request URL format invalid: {method} /queues/{q}/messages.")

    @staticmethod
    def _handles_from_xml(body: bytes) -> list[str]:
        root = _parse_xml(body)
        if _local(root.tag) != "ReceiptHandles":
            raise _schema_error(_local(root.tag))
        handles = []
        for child in root:
            if _local(child.tag) != "ReceiptHandle":
                raise _schema_error(_local(child.tag))
            handles.append((child.text or "").strip())
        return handles

    # --- actions -------------------------------------------------------------------------------------
    def _list_queues(self, plan: FaultPlan) -> Reply:
        h = self.headers
        with_meta = (h.get("x-mns-with-meta") or "").lower() == "true"
        limit = _int("x-mns-ret-number", h.get("x-mns-ret-number")) if h.get("x-mns-ret-number") else 1000
        infos, next_marker = self.fake.backend.list_queues(
            h.get("x-mns-prefix") or "", h.get("x-mns-marker") or "", limit, faults=False
        )
        items = []
        for info in infos:
            meta = _queue_meta_xml(info) if with_meta else ""
            items.append(
                f"<Queue>{_el('QueueURL', f'http://{self._host()}/queues/{info.name}')}{meta}</Queue>"
            )
        marker = _el("NextMarker", next_marker) if next_marker else ""
        return 200, _doc("Queues", "".join(items) + marker), {}

    def _create_queue(self, q: str, attrs: dict[str, object]) -> Reply:
        created = self.fake.backend.create_queue(q, faults=False, **attrs)
        # the SDK reads Location on every success, 204 included
        return (201 if created else 204), b"", {"Location": f"http://{self._host()}/queues/{q}"}

    def _set_queue(self, q: str, attrs: dict[str, object]) -> Reply:
        self.fake.backend.set_queue_attributes(q, faults=False, **attrs)
        return 204, b"", {}

    def _get_queue(self, q: str) -> Reply:
        info = self.fake.backend.get_queue_attributes(q, faults=False)
        return 200, _doc("Queue", _queue_meta_xml(info)), {}

    def _delete_queue(self, q: str) -> Reply:
        self.fake.backend.delete_queue(q, faults=False)
        return 204, b"", {}

    def _send_messages(self, q: str, msgs: list[OutgoingMessage], action: str, batch: bool) -> Reply:
        sent = self.fake.backend.send_messages(q, msgs, faults=False, action=action)
        items = [_el("MessageId", s.message_id) + _el("MessageBodyMD5", s.body_md5) for s in sent]
        if batch:
            return 201, _doc("Messages", "".join(f"<Message>{i}</Message>" for i in items)), {}
        return 201, _doc("Message", items[0]), {}

    def _receive(self, q: str, n: int, wait: int | None, action: str, batch: bool, plan: FaultPlan) -> Reply:
        backend = self.fake.backend
        if wait is None:  # no waitseconds: the queue's PollingWaitSeconds
            wait = backend.get_queue_attributes(q, faults=False).attributes.polling_wait_seconds
        got = backend.receive(q, n, wait, faults=False, duplicate=plan.duplicate, action=action)
        if not got:
            raise MessageNotExist("Message not exist.")
        if batch:
            return (
                200,
                _doc("Messages", "".join(f"<Message>{_message_xml(m, True)}</Message>" for m in got)),
                {},
            )
        return 200, _doc("Message", _message_xml(got[0], True)), {}

    def _peek(self, q: str, n: int, action: str, batch: bool) -> Reply:
        got = self.fake.backend.peek(q, n, faults=False, action=action)
        if not got:
            raise MessageNotExist("Message not exist.")
        if batch:
            return (
                200,
                _doc("Messages", "".join(f"<Message>{_message_xml(m, False)}</Message>" for m in got)),
                {},
            )
        return 200, _doc("Message", _message_xml(got[0], False)), {}

    def _delete(self, q: str, handle: str) -> Reply:
        self.fake.backend.delete(q, handle, faults=False)
        return 204, b"", {}

    def _delete_batch(self, q: str, handles: list[str]) -> Reply:
        errors = self.fake.backend.delete_batch(q, handles, faults=False)
        if errors:
            raise BatchDeleteFailed(errors)
        return 204, b"", {}

    def _change_visibility(self, q: str, handle: str, seconds: int) -> Reply:
        new_handle, visible_ms = self.fake.backend.change_message_visibility(q, handle, seconds, faults=False)
        inner = _el("ReceiptHandle", new_handle) + _el("NextVisibleTime", visible_ms)
        return 200, _doc("ChangeVisibility", inner), {}


class FakeMNSServer(FakeHTTPServer):
    """A fake MNS endpoint on loopback; ``url`` is the SDK host ("http://127.0.0.1:PORT").

    ``credentials`` ({AccessKeyId: AccessKeySecret}) turns on signature checks; without it any
    ``MNS ak:sig`` Authorization header is accepted.
    """

    handler_class = MNSHandler

    def __init__(
        self,
        backend: MNSBackend | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: dict[str, str] | None = None,
    ) -> None:
        super().__init__(host, port)
        self.backend = backend or MNSBackend()
        self.credentials = credentials

    def check_request(self, method: str, resource: str, headers: Headers, body: bytes) -> None:
        """Authorization shape (and signature, with ``credentials``) and Content-MD5."""
        auth = headers.get("Authorization")
        if not auth:
            raise MissingAuthorizationHeader()
        match = _AUTH.match(auth.strip())
        if not match:
            raise InvalidAuthorizationHeader()
        md5 = headers.get("content-md5")
        if md5 and body:
            # the SDK sends base64 of the hex digest; the standard is base64 of the raw digest
            digest = hashlib.md5(body)
            accepted = {
                base64.b64encode(digest.hexdigest().encode()).decode(),
                base64.b64encode(digest.digest()).decode(),
            }
            if md5.strip() not in accepted:
                raise InvalidDegist()
        if self.credentials is not None:
            access_key_id, signature = match.groups()
            secret = self.credentials.get(access_key_id)
            if secret is None:
                raise InvalidAccessKeyId()
            mac = hmac.new(secret.encode(), string_to_sign(method, resource, headers).encode(), hashlib.sha1)
            if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), signature):
                raise SignatureDoesNotMatch()

    def stop(self) -> None:
        # let handler threads blocked in long polls answer now instead of up to 30 s later
        self.backend.interrupt_waiters()
        super().stop()


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Run a real-time fake MNS (SystemClock) until interrupted: ``podnet fake mns --port N``."""
    server = FakeMNSServer(MNSBackend(), host=host, port=port)
    server.start()
    print(f"fake MNS listening on {server.url}", flush=True)
    server.serve_forever()
