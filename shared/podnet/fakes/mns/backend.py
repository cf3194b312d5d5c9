"""State model of the fake MNS queue service: queues, messages, visibility and receipt handles.

No HTTP here (``server.py`` is the wire layer), after moto's split of ``models.py`` and
``responses.py``. Every time comes from the injected clock, so advancing a ``SimClock`` makes
delayed and hidden messages visible without waiting; only a long poll's wait is in real seconds.

Message states follow MNS: *Delayed* (sent with a delay, never received), *Active* (visible) and
*Inactive* (received, hidden until its NextVisibleTime). A receipt handle is valid only while the
message is Inactive and only until the next receive or visibility change of that message issues a
new one; after that it answers ``ReceiptHandleError``. A handle of a deleted message answers
``MessageNotExist``.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import TypeVar

from podnet.clock import Clock, SystemClock
from podnet.fakes.faults import FaultInjector, FaultRule
from podnet.fakes.mns.errors import (
    InvalidArgument,
    InvalidQueueName,
    MessageNotExist,
    MNSError,
    QueueAlreadyExist,
    QueueNameLengthError,
    QueueNotExist,
    ReceiptHandleError,
    ResponseLost,
    ServiceUnavailable,
    TooManyRequests,
)

T = TypeVar("T")

SERVICE = "mns"
MAX_BATCH = 16  # messages per batch send / receive / delete
MAX_WAIT_S = 30  # longest long poll
MAX_BATCH_BYTES = 64 * 1024  # total body size of one batch send
MAX_DELAY_S = 604800
DEFAULT_PRIORITY = 8  # 1 is the highest priority, 16 the lowest
MAX_QUEUE_NAME = 120
_QUEUE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")

# wire name -> (attribute, lowest, highest), the ranges of the MNS queue attributes
QUEUE_ATTRIBUTES: dict[str, tuple[str, int, int]] = {
    "DelaySeconds": ("delay_seconds", 0, MAX_DELAY_S),
    "MaximumMessageSize": ("maximum_message_size", 1024, 65536),
    "MessageRetentionPeriod": ("message_retention_period", 60, 604800),
    "VisibilityTimeout": ("visibility_timeout", 1, 43200),
    "PollingWaitSeconds": ("polling_wait_seconds", 0, MAX_WAIT_S),
}


@dataclass(frozen=True)
class QueueAttributes:
    """The settable attributes of a queue, with the service's defaults."""

    delay_seconds: int = 0
    maximum_message_size: int = 65536
    message_retention_period: int = 345600  # 4 days
    visibility_timeout: int = 30
    polling_wait_seconds: int = 0
    logging_enabled: bool = False


@dataclass(frozen=True)
class QueueStats:
    """How many messages a queue holds, by state."""

    visible: int  # Active: can be received now
    delayed: int  # sent with a delay, not yet due
    in_flight: int  # received, hidden until the visibility timeout ends

    @property
    def total(self) -> int:
        return self.visible + self.delayed + self.in_flight


@dataclass(frozen=True)
class QueueInfo:
    """What GetQueueAttributes tells about a queue."""

    name: str
    attributes: QueueAttributes
    create_time_s: int
    last_modify_time_s: int
    stats: QueueStats


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send; ``delay_s=None`` takes the queue's DelaySeconds."""

    body: str
    delay_s: int | None = None
    priority: int = DEFAULT_PRIORITY


@dataclass(frozen=True)
class SentMessage:
    """What SendMessage answers."""

    message_id: str
    body_md5: str


@dataclass(frozen=True)
class ReceivedMessage:
    """A received (or peeked) message with all the fields MNS returns; times are ms since the epoch."""

    message_id: str
    body: str
    body_md5: str
    receipt_handle: str  # "" for a peek
    dequeue_count: int
    enqueue_time_ms: int
    first_dequeue_time_ms: int  # 0 until first received
    next_visible_time_ms: int
    priority: int


@dataclass
class FaultPlan:
    """What the fault injector decided for one call."""

    latency_s: float = 0.0
    error: MNSError | None = None  # answer this instead of doing anything
    lose_response: bool = False  # do it, then drop the answer
    duplicate: bool = False  # receives leave a visible copy behind (delivered again next time)


@dataclass
class _Message:
    seq: int  # unique per stored copy; receipt handles point at it
    order: int  # delivery order within a priority (a duplicate keeps its original's)
    message_id: str
    body: str
    body_md5: str
    priority: int
    enqueue_ms: int
    visible_at_ms: int
    first_dequeue_ms: int = 0
    dequeue_count: int = 0
    handle: str | None = None  # the one valid receipt handle while Inactive

    def view(self, with_handle: bool) -> ReceivedMessage:
        return ReceivedMessage(
            message_id=self.message_id,
            body=self.body,
            body_md5=self.body_md5,
            receipt_handle=(self.handle or "") if with_handle else "",
            dequeue_count=self.dequeue_count,
            enqueue_time_ms=self.enqueue_ms,
            first_dequeue_time_ms=self.first_dequeue_ms,
            next_visible_time_ms=self.visible_at_ms,
            priority=self.priority,
        )


@dataclass
class _Queue:
    name: str
    attrs: QueueAttributes
    incarnation: int  # a recreated queue does not accept the old queue's handles
    created_s: int
    modified_s: int
    messages: dict[int, _Message] = field(default_factory=dict)


def body_md5(body: str) -> str:
    """MD5 of a message body as MNS reports it: upper-case hex of the body's UTF-8 bytes."""
    return hashlib.md5(body.encode("utf-8")).hexdigest().upper()


def check_range(name: str, value: int, low: int, high: int) -> int:
    """``value`` if ``low <= value <= high``, else the service's InvalidArgument."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgument(f"The value of {name} should between {low} and {high}.")
    return value


def _fault_error(rule: FaultRule) -> MNSError:
    if rule.kind == "throttle":
        return TooManyRequests(rule.message or None, code=rule.code or None)
    if rule.kind == "unavailable":
        return ServiceUnavailable(rule.message or None, code=rule.code or None)
    return MNSError(rule.message or "Injected error.", code=rule.code or "InternalError", status=rule.status)


class MNSBackend:
    """Queues and messages of one fake MNS account; thread-safe.

    The in-process methods (``send``, ``receive``, ...) take and return plain Python values and
    apply the fault rules of ``faults`` themselves (``faults=False`` skips them; the HTTP layer does
    that and applies the rules on the wire instead). They raise ``MNSError`` subclasses, and
    ``ResponseLost`` for a "lose_response" fault (after the side effect).
    """

    def __init__(self, clock: Clock | None = None, seed: int = 0) -> None:
        self.clock: Clock = clock or SystemClock()
        self.faults = FaultInjector(seed)
        self._rng = random.Random(seed)
        self._cond = threading.Condition(threading.RLock())
        self._queues: dict[str, _Queue] = {}
        self._seq = 0
        self._incarnations = 0
        self._waiters = 0  # long polls currently blocked
        self._interrupts = 0  # bumped to release every blocked long poll
        self._closed = False
        self._watcher: threading.Thread | None = None

    # --- ids, time, faults -----------------------------------------------------------------------
    def now_ms(self) -> int:
        """The injected clock's time in milliseconds since the epoch."""
        return int(round(self.clock.timestamp() * 1000))

    def new_request_id(self) -> str:
        """A request id in the service's style (24 upper-case hex digits)."""
        with self._cond:
            return f"{self._rng.getrandbits(96):024X}"

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_message_id(self, now_ms: int, seq: int) -> str:
        return f"{self._rng.getrandbits(64):016X}-1-{now_ms:X}-{seq:09d}"

    def _new_handle(self, q: _Queue, m: _Message) -> str:
        # url-safe base64 without padding: the SDK puts handles into query strings unencoded
        raw = f"{q.incarnation}.{m.seq}.{self._rng.getrandbits(48):x}".encode()
        return "1-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _parse_handle(handle: str) -> tuple[int, int] | None:
        if not handle.startswith("1-"):
            return None
        text = handle[2:]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            incarnation, seq, _nonce = raw.split(".")
            return int(incarnation), int(seq)
        except (ValueError, UnicodeDecodeError):
            return None

    def plan_faults(self, action: str) -> FaultPlan:
        """Ask the fault injector about one call of ``action`` (e.g. "SendMessage")."""
        plan = FaultPlan()
        for rule in self.faults.decide(SERVICE, action):
            if rule.kind == "latency":
                plan.latency_s += rule.latency_s
            elif rule.kind == "lose_response":
                plan.lose_response = True
            elif rule.kind == "duplicate":
                plan.duplicate = True
            elif plan.error is None:
                plan.error = _fault_error(rule)
        return plan

    def _call(self, action: str, faults: bool, fn: Callable[[FaultPlan], T]) -> T:
        if not faults:
            return fn(FaultPlan())
        plan = self.plan_faults(action)
        if plan.latency_s:
            time.sleep(plan.latency_s)
        if plan.error is not None:
            raise plan.error
        result = fn(plan)
        if plan.lose_response:
            raise ResponseLost(action)
        return result

    # --- queues ------------------------------------------------------------------------------------
    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            raise QueueNotExist(f"The queue name you provided is not exist: {name}.")
        self._expire(q, self.now_ms())
        return q

    @staticmethod
    def _expire(q: _Queue, now_ms: int) -> None:
        # messages older than the retention period vanish, whatever their state
        limit = now_ms - q.attrs.message_retention_period * 1000
        for seq in [s for s, m in q.messages.items() if m.enqueue_ms <= limit]:
            del q.messages[seq]

    @staticmethod
    def _attributes(base: QueueAttributes, attrs: dict[str, object]) -> QueueAttributes:
        known = {f.name for f in fields(QueueAttributes)}
        ranges = {attr: (wire, low, high) for wire, (attr, low, high) in QUEUE_ATTRIBUTES.items()}
        for key, value in attrs.items():
            if key not in known:
                raise InvalidArgument(f"Unknown queue attribute {key}.")
            if key in ranges:
                wire, low, high = ranges[key]
                check_range(wire, value, low, high)  # type: ignore[arg-type]
            elif not isinstance(value, bool):
                raise InvalidArgument("The value of LoggingEnabled should be True or False.")
        return replace(base, **attrs)  # type: ignore[arg-type]

    def create_queue(self, name: str, *, faults: bool = True, **attrs: object) -> bool:
        """Create a queue (attributes as ``QueueAttributes`` field names); False when it already
        existed with the same attributes; ``QueueAlreadyExist`` when it exists with others."""

        def run(_: FaultPlan) -> bool:
            if not 1 <= len(name) <= MAX_QUEUE_NAME:
                raise QueueNameLengthError()
            if not _QUEUE_NAME.match(name):
                raise InvalidQueueName(f"The queue name you provided is not valid: {name}.")
            wanted = self._attributes(QueueAttributes(), attrs)
            with self._cond:
                existing = self._queues.get(name)
                if existing is not None:
                    if existing.attrs == wanted:
                        return False
                    raise QueueAlreadyExist(f"The queue you want to create is already exist: {name}.")
                self._incarnations += 1
                now_s = self.now_ms() // 1000
                self._queues[name] = _Queue(name, wanted, self._incarnations, now_s, now_s)
                return True

        return self._call("CreateQueue", faults, run)

    def set_queue_attributes(self, name: str, *, faults: bool = True, **attrs: object) -> None:
        """Change some attributes of a queue (the others keep their values)."""

        def run(_: FaultPlan) -> None:
            with self._cond:
                q = self._queue(name)
                q.attrs = self._attributes(q.attrs, attrs)
                q.modified_s = self.now_ms() // 1000

        self._call("SetQueueAttributes", faults, run)

    def get_queue_attributes(self, name: str, *, faults: bool = True) -> QueueInfo:
        """Attributes, times and message counts of a queue."""

        def run(_: FaultPlan) -> QueueInfo:
            with self._cond:
                q = self._queue(name)
                return QueueInfo(q.name, q.attrs, q.created_s, q.modified_s, self._stats(q))

        return self._call("GetQueueAttributes", faults, run)

    def delete_queue(self, name: str, *, faults: bool = True) -> None:
        """Delete a queue and its messages (``QueueNotExist`` when there is none)."""

        def run(_: FaultPlan) -> None:
            with self._cond:
                self._queue(name)
                del self._queues[name]
                self._cond.notify_all()  # long polls on it answer QueueNotExist

        self._call("DeleteQueue", faults, run)

    def list_queues(
        self, prefix: str = "", marker: str = "", limit: int = 1000, *, faults: bool = True
    ) -> tuple[list[QueueInfo], str]:
        """Queues whose name starts with ``prefix``, from ``marker`` on, at most ``limit``; and the next marker."""

        def run(_: FaultPlan) -> tuple[list[QueueInfo], str]:
            check_range("x-mns-ret-number", limit, 1, 1000)
            with self._cond:
                names = sorted(n for n in self._queues if n.startswith(prefix) and n >= marker)
                page, rest = names[:limit], names[limit:]
                infos = []
                for n in page:
                    q = self._queue(n)
                    infos.append(QueueInfo(q.name, q.attrs, q.created_s, q.modified_s, self._stats(q)))
                return infos, (rest[0] if rest else "")

        return self._call("ListQueue", faults, run)

    def queue_names(self) -> list[str]:
        """Every queue's name, sorted."""
        with self._cond:
            return sorted(self._queues)

    # --- send ----------------------------------------------------------------------------------------
    def send_messages(
        self, queue: str, messages: list[OutgoingMessage], *, faults: bool = True, action: str | None = None
    ) -> list[SentMessage]:
        """Send one message or a batch (at most 16, at most 64 KiB together) atomically."""

        def run(_: FaultPlan) -> list[SentMessage]:
            check_range("the number of messages", len(messages), 1, MAX_BATCH)
            if len(messages) > 1 and sum(len(m.body.encode()) for m in messages) > MAX_BATCH_BYTES:
                raise InvalidArgument(
                    f"The total size of the messages should not exceed {MAX_BATCH_BYTES} bytes."
                )
            with self._cond:
                q = self._queue(queue)
                now = self.now_ms()
                for m in messages:  # validate all before storing any
                    if not isinstance(m.body, str):
                        raise InvalidArgument("The MessageBody should be a string.")
                    check_range("MessageBody", len(m.body.encode()), 1, q.attrs.maximum_message_size)
                    if m.delay_s is not None:
                        check_range("DelaySeconds", m.delay_s, 0, MAX_DELAY_S)
                    check_range("Priority", m.priority, 1, 16)
                out = []
                for m in messages:
                    seq = self._next_seq()
                    delay = q.attrs.delay_seconds if m.delay_s is None else m.delay_s
                    stored = _Message(
                        seq=seq,
                        order=seq,
                        message_id=self._new_message_id(now, seq),
                        body=m.body,
                        body_md5=body_md5(m.body),
                        priority=m.priority,
                        enqueue_ms=now,
                        visible_at_ms=now + delay * 1000,
                    )
                    q.messages[seq] = stored
                    out.append(SentMessage(stored.message_id, stored.body_md5))
                self._cond.notify_all()
                return out

        name = action or ("SendMessage" if len(messages) == 1 else "BatchSendMessage")
        return self._call(name, faults, run)

    def send(
        self,
        queue: str,
        body: str,
        delay_s: int | None = None,
        priority: int = DEFAULT_PRIORITY,
        *,
        faults: bool = True,
    ) -> str:
        """Send one message; returns its MessageId."""
        return self.send_messages(queue, [OutgoingMessage(body, delay_s, priority)], faults=faults)[
            0
        ].message_id

    # --- receive -------------------------------------------------------------------------------------
    def _take(self, q: _Queue, n: int, now: int, duplicate: bool) -> list[ReceivedMessage]:
        ready = sorted(
            (m for m in q.messages.values() if m.visible_at_ms <= now), key=lambda m: (m.priority, m.order)
        )
        out = []
        for m in ready[:n]:
            m.dequeue_count += 1
            if not m.first_dequeue_ms:
                m.first_dequeue_ms = now
            m.visible_at_ms = now + q.attrs.visibility_timeout * 1000
            m.handle = self._new_handle(q, m)
            out.append(m.view(with_handle=True))
            if duplicate:
                # at-least-once: a copy stays Active and comes back on the next receive (same
                # MessageId, its own handle), as if this receive's visibility never applied
                copy = replace(m, seq=self._next_seq(), visible_at_ms=now, handle=None)
                q.messages[copy.seq] = copy
        return out

    def _ensure_clock_watcher(self) -> bool:
        """Start the thread that turns SimClock advances into wake-ups; False if the clock has none."""
        changed = getattr(self.clock, "changed", None)
        if not isinstance(changed, threading.Condition):
            return False
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch_clock, args=(changed,), name="fake-mns-clock", daemon=True
            )
            self._watcher.start()
        return True

    def _watch_clock(self, changed: threading.Condition) -> None:
        # Never holds the clock's lock while taking ours (the receive path takes ours, then the
        # clock's), so the two cannot deadlock. The first pass always notifies, which covers an
        # advance between a waiter's check and this thread's first look.
        last: datetime | None = None
        while True:
            with changed:
                if last is not None and self.clock.now() == last:
                    changed.wait(0.25)
                current = self.clock.now()
            if current != last:
                last = current
                with self._cond:
                    self._cond.notify_all()
            with self._cond:
                if self._waiters == 0 or self._closed:
                    self._watcher = None
                    return

    def _receive_blocking(self, queue: str, n: int, wait_s: float, duplicate: bool) -> list[ReceivedMessage]:
        deadline = time.monotonic() + wait_s
        with self._cond:
            interrupts = self._interrupts
            self._waiters += 1
            try:
                while True:
                    q = self._queue(queue)
                    now = self.now_ms()
                    got = self._take(q, n, now, duplicate)
                    remaining = deadline - time.monotonic()
                    if got or remaining <= 0 or self._closed or self._interrupts != interrupts:
                        return got
                    timeout = remaining
                    if not self._ensure_clock_watcher():
                        if getattr(self.clock, "simulated", False):
                            timeout = min(timeout, 0.05)  # a simulated clock we cannot listen to: poll it
                        else:
                            hidden = [m.visible_at_ms for m in q.messages.values() if m.visible_at_ms > now]
                            if hidden:
                                timeout = min(timeout, (min(hidden) - now) / 1000 + 0.001)
                    self._cond.wait(timeout)
            finally:
                self._waiters -= 1

    def receive(
        self,
        queue: str,
        n: int = 1,
        wait_s: float = 0,
        *,
        faults: bool = True,
        duplicate: bool = False,
        action: str | None = None,
    ) -> list[ReceivedMessage]:
        """Receive up to ``n`` (1..16) visible messages, waiting up to ``wait_s`` (0..30) real seconds
        for one; each is hidden for the queue's VisibilityTimeout and gets a new receipt handle.
        Empty when none came (the wire layer turns that into MessageNotExist)."""

        def run(plan: FaultPlan) -> list[ReceivedMessage]:
            check_range("numOfMessages", n, 1, MAX_BATCH)
            if not 0 <= wait_s <= MAX_WAIT_S:
                raise InvalidArgument(f"The value of waitseconds should between 0 and {MAX_WAIT_S}.")
            return self._receive_blocking(queue, n, wait_s, duplicate or plan.duplicate)

        return self._call(action or ("ReceiveMessage" if n == 1 else "BatchReceiveMessage"), faults, run)

    def peek(
        self, queue: str, n: int = 1, *, faults: bool = True, action: str | None = None
    ) -> list[ReceivedMessage]:
        """Up to ``n`` visible messages without receiving them (no handle, no state change)."""

        def run(_: FaultPlan) -> list[ReceivedMessage]:
            check_range("numOfMessages", n, 1, MAX_BATCH)
            with self._cond:
                q = self._queue(queue)
                now = self.now_ms()
                ready = sorted(
                    (m for m in q.messages.values() if m.visible_at_ms <= now),
                    key=lambda m: (m.priority, m.order),
                )
                return [m.view(with_handle=False) for m in ready[:n]]

        return self._call(action or ("PeekMessage" if n == 1 else "BatchPeekMessage"), faults, run)

    # --- delete / visibility ---------------------------------------------------------------------------
    def _owned(self, q: _Queue, handle: str, now: int) -> _Message:
        parsed = self._parse_handle(handle)
        if parsed is None or parsed[0] != q.incarnation:
            raise ReceiptHandleError(f"The receipt handle you provide is not valid: {handle}.")
        m = q.messages.get(parsed[1])
        if m is None:
            raise MessageNotExist("Message not exist or has been deleted.")
        if m.handle != handle:
            raise ReceiptHandleError(
                "The receipt handle you provide is not valid: the message was received again."
            )
        if m.visible_at_ms <= now:
            raise ReceiptHandleError(
                "The receipt handle you provide is not valid: it expired at NextVisibleTime."
            )
        return m

    def delete(self, queue: str, handle: str, *, faults: bool = True) -> None:
        """Delete the message the receipt handle was issued for."""

        def run(_: FaultPlan) -> None:
            with self._cond:
                q = self._queue(queue)
                m = self._owned(q, handle, self.now_ms())
                del q.messages[m.seq]

        self._call("DeleteMessage", faults, run)

    def delete_batch(
        self, queue: str, handles: list[str], *, faults: bool = True
    ) -> list[tuple[str, str, str]]:
        """Delete up to 16 messages; returns (handle, error code, error message) for each that failed."""

        def run(_: FaultPlan) -> list[tuple[str, str, str]]:
            check_range("the number of receipt handles", len(handles), 1, MAX_BATCH)
            errors = []
            with self._cond:
                q = self._queue(queue)
                now = self.now_ms()
                for h in handles:
                    try:
                        m = self._owned(q, h, now)
                    except MNSError as e:
                        errors.append((h, e.code, e.message))
                    else:
                        del q.messages[m.seq]
            return errors

        return self._call("BatchDeleteMessage", faults, run)

    def change_message_visibility(
        self, queue: str, handle: str, seconds: int, *, faults: bool = True
    ) -> tuple[str, int]:
        """Hide the message for ``seconds`` (1..43200) from now; returns (new handle, NextVisibleTime ms)."""

        def run(_: FaultPlan) -> tuple[str, int]:
            check_range("VisibilityTimeout", seconds, 1, 43200)
            with self._cond:
                q = self._queue(queue)
                now = self.now_ms()
                m = self._owned(q, handle, now)
                m.visible_at_ms = now + seconds * 1000
                m.handle = self._new_handle(q, m)
                return m.handle, m.visible_at_ms

        return self._call("ChangeMessageVisibility", faults, run)

    def change_visibility(self, queue: str, handle: str, seconds: int, *, faults: bool = True) -> str:
        """Hide the message for ``seconds`` from now; returns the new receipt handle."""
        return self.change_message_visibility(queue, handle, seconds, faults=faults)[0]

    # --- inspection for the local runner ---------------------------------------------------------------
    def _stats(self, q: _Queue) -> QueueStats:
        now = self.now_ms()
        visible = delayed = in_flight = 0
        for m in q.messages.values():
            if m.visible_at_ms <= now:
                visible += 1
            elif m.dequeue_count == 0:
                delayed += 1
            else:
                in_flight += 1
        return QueueStats(visible, delayed, in_flight)

    def stats(self, queue: str) -> QueueStats:
        """Counts of visible, delayed and in-flight messages of a queue."""
        with self._cond:
            return self._stats(self._queue(queue))

    def next_visible_at(self, queue: str | None = None) -> datetime | None:
        """When the next hidden (delayed or in-flight) message of ``queue`` (or of any queue) turns
        visible; None when no message is hidden. Lets a runner advance a SimClock to it."""
        with self._cond:
            names = [queue] if queue is not None else list(self._queues)
            now = self.now_ms()
            due = [
                m.visible_at_ms
                for name in names
                for m in self._queue(name).messages.values()
                if m.visible_at_ms > now
            ]
        if not due:
            return None
        return datetime.fromtimestamp(min(due) / 1000, tz=timezone.utc)

    def is_idle(self) -> bool:
        """True when no queue has a visible or in-flight message (delayed ones may remain: see
        ``next_visible_at``)."""
        with self._cond:
            for name in list(self._queues):
                s = self._stats(self._queue(name))
                if s.visible or s.in_flight:
                    return False
            return True

    # --- lifecycle -----------------------------------------------------------------------------------
    def interrupt_waiters(self) -> None:
        """Release every blocked long poll now (they answer as if their wait ended)."""
        with self._cond:
            self._interrupts += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Release blocked long polls and stop the clock-watching thread."""
        with self._cond:
            self._closed = True
            self._interrupts += 1
            self._cond.notify_all()
